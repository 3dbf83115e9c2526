/*
 * launch.h: start a run as a detached process and stop it.
 *
 *   TUI ──fork──▶ child ──setsid, fork──▶ grandchild ──exec──▶
 *                   │ (exits at once,            jianmo --home HOME --batch ARGS
 *                   │  reaped by the TUI)        stdin /dev/null, stdout+stderr
 *                   └──pipe: grandchild pid──▶ TUI    to log_path
 *
 * The grandchild belongs to init, in its own session, so neither closing
 * the TUI nor a hang-up of its terminal reaches it.  The run then records
 * itself in the store (pid, host); the TUI finds it there by pid.
 */
#ifndef JM_UI_LAUNCH_H
#define JM_UI_LAUNCH_H

#include <sys/types.h>

#include "util/err.h"

int jm_launch(const char *exe, const char *home, const char *const *args, int nargs,
	      const char *log_path, pid_t *pid, jm_err *err);
/* 1 while the process exists. */
int jm_launch_alive(pid_t pid);
/* Ask a run to stop (SIGTERM: it finishes the step and checkpoints). */
int jm_launch_stop(pid_t pid, jm_err *err);

#endif
