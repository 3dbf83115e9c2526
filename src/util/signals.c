/* signals.c: a flag set by SIGINT/SIGTERM/SIGHUP, polled by long
 * operations. */
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
	/* the terminal went away (a dropped SSH connection): stop in order
	 * too, unless the process was started to outlive it (nohup) */
	struct sigaction old;
	if (sigaction(SIGHUP, NULL, &old) == 0 && old.sa_handler != SIG_IGN)
		sigaction(SIGHUP, &sa, NULL);
	/* output piped into a reader that has gone (`| head`): the writes
	 * fail and the run goes on, rather than dying where it stands */
	signal(SIGPIPE, SIG_IGN);
}

int jm_signals_stop_requested(void)
{
	return stop_signal;
}

void jm_signals_reset(void)
{
	stop_signal = 0;
}
