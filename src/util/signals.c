/* signals.c: a flag set by SIGINT/SIGTERM, polled by long operations. */
#include "util/signals.h"

#include <signal.h>
#include <string.h>

static volatile sig_atomic_t stop_signal;

static void on_signal(int sig)
{
	if (stop_signal == SIGINT && sig == SIGINT) {
		/* second Ctrl-C: give up on the orderly stop */
		signal(SIGINT, SIG_DFL);
		raise(SIGINT);
		return;
	}
	stop_signal = sig;
}

void jm_signals_install(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

int jm_signals_stop_requested(void)
{
	return stop_signal;
}

void jm_signals_reset(void)
{
	stop_signal = 0;
}
