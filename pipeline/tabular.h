/*
 * tabular.h: a CSV source made into the float rows a model trains on, for
 * the runner (the API sequence of tests/test_features.c, with the flow's
 * keys and file:line messages).
 *
 *   [data] source ──jm_source_open──▶ bytes ──jm_csv_parse──▶ frame
 *     ──target: present, never missing (file:line:field)──▶ task
 *     ──jm_split_make (by class, or at random)──▶ train / val / test frames
 *     ──[clean]: fit on train (quality report), apply to val, test
 *     ──[features]: fit on train, apply to val, test──▶ three matrices
 *     ──▶ jm_dataset train (train rows, then val rows) + jm_dataset test
 *
 * Nothing of the validation or test rows reaches a fitted number: every
 * mean, median, bound, category and scale comes from the training part.
 * Given a directory holding a saved state (jm_tabular_save: clean.state,
 * features.state, target.state), the rules are loaded from it instead of
 * fitted, so --rerun and --resume see exactly the numbers of the first run.
 */
#ifndef JM_TABULAR_H
#define JM_TABULAR_H

#include <stdint.h>

#include "data/csv.h"
#include "data/dataset.h"
#include "data/source.h"
#include "flow.h"
#include "pipeline/clean.h"
#include "pipeline/features.h"
#include "util/err.h"

typedef struct jm_tabular {
	jm_clean clean;            /* fitted */
	jm_features features;      /* fitted: inputs, classes */
	jm_clean_report report;    /* the training rows before and after cleaning */
	jm_csv_info info;          /* what the reader saw, its notes */
	char *source;              /* the source's display name */
	int64_t rows;              /* data rows read (after [data] limit) */
	int64_t n_train, n_val, n_test; /* rows in the matrices */
	int64_t dropped;           /* rows dropped by cleaning or features, all parts */
	int64_t target_dropped;    /* of those, rows without a target ([clean]
				    * missing = drop covering it: before the split) */
	int regression;
	double y_mean, y_std;      /* regression: of the training targets (std 1 otherwise) */
	int loaded;                /* the state came from a saved run */
} jm_tabular;

/* Read, split, clean and featurize what f's [data] names.  *train holds
 * the training rows then the validation rows (n_train + n_val), *test the
 * test rows; both are float sets (jm_dataset x, and labels or y) whose
 * class_names point into tb, so free them before jm_tabular_free.
 * state_dir: load the fitted state from there instead of fitting (NULL:
 * fit).  progress (may be NULL) follows a download.  Errors are
 * JM_EXIT_INPUT with a location: the CSV's file:line (and field), or the
 * flow key's file:line. */
int jm_tabular_load(jm_tabular *tb, const jm_flow *f, const char *state_dir,
		    jm_progress_fn progress, void *progress_ctx, jm_dataset **train,
		    jm_dataset **test, jm_err *err);

/* Write the fitted state (clean.state, features.state, target.state) and
 * the quality report (quality.txt, quality.json) into dir. */
int jm_tabular_save(const jm_tabular *tb, const char *dir, jm_err *err);

/* The names of the files jm_tabular_save writes, NULL-terminated. */
extern const char *const jm_tabular_files[];

void jm_tabular_free(jm_tabular *tb); /* accepts NULL or a zeroed one */

/* A run's fitted state from dir (clean.state, features.state,
 * target.state, as jm_tabular_save writes them) into clean, features and
 * the target's scale: what --rerun, --resume and predict use. */
int jm_tabular_load_state(jm_clean *clean, jm_features *features, double *y_mean,
			  double *y_std, const char *dir, jm_err *err);

/* src's bytes as f's [data] reads a CSV (delimiter, comment, na_values),
 * only its first limit rows when limit > 0, rows numbered from 0 in the
 * file's order (jm_frame_number_rows).  info (may be NULL) as
 * jm_csv_parse's.  A run and predict read their CSVs so. */
int jm_tabular_parse_csv(const jm_flow *f, const jm_source *src, int64_t limit, jm_frame **out,
			 jm_csv_info *info, jm_err *err);

/* ---- a look at a CSV source, for the workbench's previews --------------- */

/* What the wizard's Data, Clean and Features previews show: the frame as
 * read (after [data] limit) and its quality report, then [clean]'s rules
 * fitted and applied on every row read (a run fits them on the training
 * part only), with their report: the quality before and after, one step
 * per rule; then [features] fitted and applied the same way. */
typedef struct jm_tabular_peek {
	jm_csv_info info;
	char *source;              /* the source's display name */
	int64_t rows;              /* data rows read */
	jm_quality quality;        /* of the frame as read */
	int nrules;                /* [clean] rules (0: report is empty) */
	jm_clean_report report;    /* [clean] on every row read */
	char *clean_error;         /* a rule that does not parse or fit, located as
				    * jm_tabular_load locates it; NULL: none */
	/* [features] fitted and applied on those rows after [clean] (when it
	 * applied): the steps, what a model gets, the columns' quality after */
	int nsteps;                /* [features] steps (0: none, the columns as they are) */
	int ninputs;
	char **inputs;             /* the model's input columns, in order */
	int classification, nclasses;
	int nnotes;
	char **notes;              /* e.g. text columns left out */
	jm_quality features_quality;
	char *features_error;      /* a step, the target or the task that fails; NULL: none */
} jm_tabular_peek;

/* Read f's source and compute the above.  Fails (with err, located as
 * jm_tabular_load does) only when the source cannot be read; a bad
 * [clean] rule is returned in pk->clean_error. */
int jm_tabular_peek_load(jm_tabular_peek *pk, const jm_flow *f, jm_err *err);
void jm_tabular_peek_free(jm_tabular_peek *pk); /* accepts NULL or a zeroed one */

#endif
