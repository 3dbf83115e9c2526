/* launch.c: detached runs (see launch.h). */
#include "ui/launch.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* In the grandchild: plain signals, stdio to the log, exec.  Only
 * async-signal-safe calls from here on. */
static void exec_run(const char *exe, char **argv, const char *log_path)
{
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	static const int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGPIPE, SIGWINCH,
				   SIGSEGV, SIGABRT, SIGTSTP, SIGCHLD};
	for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
		signal(sigs[i], SIG_DFL);
	int in = open("/dev/null", O_RDONLY);
	int out = open(log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
	if (out < 0)
		out = open("/dev/null", O_WRONLY);
	dup2(in, 0);
	dup2(out, 1);
	dup2(out, 2);
	for (int fd = 3; fd < 1024; fd++)
		close(fd);
	execv(exe, argv);
	_exit(127);
}

int jm_launch(const char *exe, const char *home, const char *const *args, int nargs,
	      const char *log_path, pid_t *pid, jm_err *err)
{
	char **argv = jm_xcalloc((size_t)nargs + 5, sizeof *argv);
	int n = 0;
	argv[n++] = (char *)"jianmo";
	argv[n++] = (char *)"--home";
	argv[n++] = (char *)home;
	argv[n++] = (char *)"--batch";
	for (int i = 0; i < nargs; i++)
		argv[n++] = (char *)args[i];
	argv[n] = NULL;

	int fds[2];
	if (pipe2(fds, O_CLOEXEC) < 0) {
		free(argv);
		return jm_err_set(err, JM_EXIT_FAIL, "cannot start a run: %s", strerror(errno));
	}
	pid_t child = fork();
	if (child < 0) {
		close(fds[0]), close(fds[1]);
		free(argv);
		return jm_err_set(err, JM_EXIT_FAIL, "cannot start a run: %s", strerror(errno));
	}
	if (child == 0) {
		setsid();
		pid_t g = fork();
		if (g == 0)
			exec_run(exe, argv, log_path);
		ssize_t w = write(fds[1], &g, sizeof g);
		(void)w;
		_exit(g < 0 ? 1 : 0);
	}
	close(fds[1]);
	pid_t g = -1;
	ssize_t got = read(fds[0], &g, sizeof g);
	close(fds[0]);
	int status;
	while (waitpid(child, &status, 0) < 0 && errno == EINTR)
		;
	free(argv);
	if (got != (ssize_t)sizeof g || g <= 0)
		return jm_err_set(err, JM_EXIT_FAIL, "cannot start a run: fork failed");
	*pid = g;
	return 0;
}

int jm_launch_alive(pid_t pid)
{
	return pid > 0 && (kill(pid, 0) == 0 || errno == EPERM);
}

int jm_launch_stop(pid_t pid, jm_err *err)
{
	if (pid <= 0 || kill(pid, SIGTERM) < 0)
		return jm_err_set(err, JM_EXIT_FAIL, "cannot stop pid %d: %s", (int)pid,
				  pid <= 0 ? "no process" : strerror(errno));
	return 0;
}
