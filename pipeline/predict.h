/*
 * predict.h: a finished run's model applied to new data (`jianmo predict`).
 *
 *   RUN ──store──▶ kind, status, stored flow ──jm_flow_parse──▶ flow
 *       ──runs/N/model.safetensors (or a stopped run's checkpoint)──▶ weights
 *   a CSV run:   DATA ──jm_source_open, jm_csv_parse──▶ frame, rows numbered
 *       ──clean.state: jm_clean_apply──▶ ──features.state: jm_features_apply
 *       ──jm_features_matrix──▶ float rows (rows left without a prediction
 *       are counted, with why)
 *   an image run: DATA (IDX images) ──x * input_scale + input_shift (the
 *       run's normalisation)──▶ float rows
 *   ──jm_model_build (the runner's spec), weights loaded──▶ forward in
 *   batches ──▶ CSV `row,prediction[,p_CLASS...]`, one line per input row
 *   (empty cells where there is no prediction), and metrics where the
 *   targets are known (a CSV's target column; --labels for images).
 *
 * Nothing is fitted: every number comes from the run (its saved state, its
 * model's metadata), so predicting a run's own test rows gives its
 * test_acc.  Nothing is written to the store.
 */
#ifndef JM_PREDICT_H
#define JM_PREDICT_H

#include <stdint.h>
#include <stdio.h>

#include "util/err.h"

typedef struct jm_predict_opts {
	const char *home;     /* store home, or NULL (JIANMO_HOME, ./.jianmo) */
	const char *run;      /* RUN as given on the command line */
	const char *data;     /* DATA: a CSV source (path, .gz, archive:member,
			       * URL) for a CSV run; an IDX image file for an
			       * image run */
	const char *out;      /* FILE (written to FILE.XXXXXX, then renamed),
			       * or NULL for stdout */
	const char *labels;   /* an IDX labels file (image runs), or NULL */
	const char *device;   /* cpu | cuda[:N] | auto, or NULL: the run's
			       * [train] device */
	int proba;            /* one p_CLASS column per class (classification) */
	int64_t limit;        /* only the first N rows (images); 0: all */
	FILE *msg;            /* notes, metrics, progress (stderr) */
	int progress;         /* 1: a progress line on msg for long inputs */
} jm_predict_opts;

/* What was predicted; figures that do not apply are NaN. */
typedef struct jm_predict_result {
	int64_t rows;         /* input rows (after limit) */
	int64_t predicted;    /* rows with a prediction */
	int64_t scored;       /* predicted rows with a known target */
	int64_t correct;      /* classification */
	int regression;
	double acc, loss;     /* classification: accuracy, mean log loss */
	double rmse, mae, r2; /* regression, in the target's units */
} jm_predict_result;

/* Predict o->data with run o->run; write the CSV, and the notes and the
 * summary line on o->msg.  res (may be NULL) receives the figures.
 * Errors: JM_EXIT_INPUT for anything about the run or the data (unknown
 * run, a run with no weights, a search, DATA of the wrong kind, missing
 * columns, wrong column types, an empty file), JM_EXIT_FAIL for I/O and
 * memory; the message is in err and nothing has been written to o->out. */
int jm_predict(const jm_predict_opts *o, jm_predict_result *res, jm_err *err);

#endif
