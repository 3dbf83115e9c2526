/*
 * runner.h: the only place that sequences the stages of a run.
 *
 *   flow ──▶ validate ──▶ store: flow, run, params ──▶ load ──▶ split
 *        ──▶ model ──▶ train (epochs: steps, val, checkpoint) ──▶ test
 *        ──▶ artifacts (model, confusion matrix) ──▶ status ──▶ notify
 *
 * Both `jianmo --batch` and the TUI (which launches `jianmo --batch` as a
 * detached process) go through jm_runner_batch().
 */
#ifndef JM_RUNNER_H
#define JM_RUNNER_H

#include <stdint.h>

#include "engine/model.h"
#include "flow.h"
#include "util/err.h"

typedef struct jm_batch_opts {
	const char *flow_path;    /* FLOW, or NULL with rerun/resume */
	const char **sets;        /* "section.key=value" overrides */
	int n_sets;
	int has_seed;
	int64_t seed;             /* --seed (overrides [train] seed) */
	const char *device;       /* --device, or NULL */
	const char *rerun;        /* --rerun RUN */
	const char *resume;       /* --resume RUN */
	const char *trial;        /* --trial RUN: start a search's queued trial */
	const char *home;         /* store home or NULL */
	int json;                 /* JSON lines on stdout */
	int is_tty;               /* progress bar on stdout */
} jm_batch_opts;

/* Run it; returns the exit status: 0 done, 1 failed, 2 bad input, 128+sig
 * when stopped by a signal (the run is then `stopped` and resumable).
 * Messages for failures have been printed ("jianmo: ..."). */
int jm_runner_batch(const jm_batch_opts *o);

/* The model spec a flow's [model] section describes (pointers into f),
 * for the runner and for anything that previews the model (the TUI). */
jm_model_spec jm_runner_model_spec(const jm_flow *f);

#endif
