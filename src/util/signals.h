/*
 * signals.h: orderly stop on SIGINT, SIGTERM and SIGHUP (a SIGHUP ignored
 * at start, as under nohup, stays ignored); SIGPIPE is ignored.
 *
 * A long operation (a training run) installs the handlers, polls
 * jm_signals_stop_requested() at safe points (between steps), and winds
 * down: finish the step, checkpoint, flush metrics, mark the run stopped.
 * A second SIGINT while stopping restores the default action and re-raises,
 * so an impatient Ctrl-C twice always ends the process.
 */
#ifndef JM_SIGNALS_H
#define JM_SIGNALS_H

void jm_signals_install(void);
/* 0 if no stop was requested, else the signal number. */
int jm_signals_stop_requested(void);
/* For tests: forget a received signal. */
void jm_signals_reset(void);

#endif
