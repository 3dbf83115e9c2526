/*
 * features.h: the [features] stage: new columns computed from a cleaned
 * frame, with every learned number fitted on the training rows only, and
 * the float matrix plus target a model trains on.
 *
 *   spec lines ──jm_features_parse──▶ jm_features (steps, not fitted)
 *   train ──jm_features_fit_apply──▶ fitted (means, categories, bin edges,
 *                                    the input columns, the classes)
 *   val / test ──jm_features_apply──▶ the same columns, same numbers
 *   frame ──jm_features_matrix──▶ jm_matrix: float x[rows][cols] + y
 *   fitted ──jm_features_save / jm_features_load──▶ text (replays)
 *
 * Steps run in this order whatever order the keys came in, so derived
 * columns see cleaned raw values and scalers run last:
 *
 *   key = value                           new columns / what changes
 *   dates = ts [parts=year,month,day,weekday,hour]
 *                                         ts_year ... (int; weekday: Monday 0)
 *   lag = amount k=1 [by=user] [order=ts] amount_lag1: the value k rows
 *                                         earlier in the group (pandas shift)
 *   rolling = amount window=7 [by=user] [order=ts] [stats=mean,std,min,max]
 *                                         amount_roll7_mean ...: pandas
 *                                         rolling(7) per group (min_periods =
 *                                         window, std ddof=1; rows in file
 *                                         order, or sorted by order, stable)
 *   products = f1, f2, f3                 f1*f2 f1*f3 f2*f3 (pairs, in order)
 *   ratios = a, b                         a/b (pairs; x/0 is missing)
 *   poly2 = a, b                          a^2 a*b b^2 (scikit-learn's
 *                                         PolynomialFeatures(2) order, after
 *                                         the degree-1 columns already there)
 *   log1p = x                             x := log1p(x) (x <= -1: missing)
 *   bins = x [n=4]                        x := quantile bin 0..n-1 (edges from
 *                                         train, scikit-learn KBinsDiscretizer
 *                                         'quantile': outside values clamp)
 *   onehot = city                         city_<value> (bool) per training
 *                                         category, sorted; city removed;
 *                                         unknown or missing: all zeros
 *   ordinal = size                        size := index of the sorted training
 *                                         category (unknown: -1)
 *   minmax = x                            x := (x - min) / (max - min)
 *   plugin = rolling_zscore(window=7): x  x_<suffix> per suffix the operator
 *                                         declares (a feature plugin,
 *                                         plugin/plugin.h): fit on the
 *                                         training rows (its state blob is
 *                                         saved), apply to every part; runs
 *                                         after rolling, before products
 *   standardize = x                       x := (x - mean) / std, std ddof=0
 *                                         (scikit-learn: a constant training
 *                                         column gives 0)
 *   target = label                        the column to predict
 *   task = auto | classification | regression
 *   drop = id, name                       not model inputs
 *   missing = error | zero | drop          missing inputs in the matrix (rolling
 *                                         windows start missing): refuse, use
 *                                         0, or drop those rows
 *
 * Lists may be "*": every numeric column at that point except the target.
 * Model inputs are every float, int and bool column after the steps,
 * minus the target and drop; text and datetime columns are left out
 * (noted).  Their names and order are fixed when fitting.
 */
#ifndef JM_FEATURES_H
#define JM_FEATURES_H

#include <stdint.h>
#include <stdio.h>

#include "data/frame.h"
#include "util/err.h"

typedef enum jm_feat_kind {
	JM_FEAT_DATES,
	JM_FEAT_LAG,
	JM_FEAT_ROLLING,
	JM_FEAT_PRODUCTS,
	JM_FEAT_RATIOS,
	JM_FEAT_POLY2,
	JM_FEAT_LOG1P,
	JM_FEAT_BINS,
	JM_FEAT_ONEHOT,
	JM_FEAT_ORDINAL,
	JM_FEAT_MINMAX,
	JM_FEAT_STANDARDIZE,
	JM_FEAT_PLUGIN,     /* last: kinds are numbers in saved states */
} jm_feat_kind;

enum { /* rolling stats and date parts, as bit masks */
	JM_ROLL_MEAN = 1, JM_ROLL_STD = 2, JM_ROLL_MIN = 4, JM_ROLL_MAX = 8,
	JM_PART_YEAR = 1, JM_PART_MONTH = 2, JM_PART_DAY = 4, JM_PART_WEEKDAY = 8,
	JM_PART_HOUR = 16,
};

/* What a step learned about one column. */
typedef struct jm_feat_fit {
	char *col;
	int nnum;
	double *num;     /* standardize: mean, std; minmax: min, max; bins: edges */
	int ntext;
	char **text;     /* onehot / ordinal: the sorted categories */
} jm_feat_fit;

typedef struct jm_feat_step {
	jm_feat_kind kind;
	char **cols;     /* as given; "*" expands when fitting */
	int ncols;
	int window;      /* rolling window, lag k, bins n */
	unsigned parts;  /* rolling stats or date parts */
	char *by, *order;
	int nfit;
	jm_feat_fit *fit;
	/* JM_FEAT_PLUGIN: the operator call, canonical ("rolling_zscore(window=7)"),
	 * and the state its fit returned (blob_size bytes, may be NULL) */
	char *plugin;
	unsigned char *blob;
	size_t blob_size;
} jm_feat_step;

typedef struct jm_features {
	jm_feat_step *steps;
	int n, cap;
	char *target;
	char *task;          /* "auto" (default), "classification", "regression" */
	char **drop;
	int ndrop;
	char *missing;       /* "error" (default), "zero", "drop" */
	/* fitted */
	int fitted;
	char **inputs;       /* model inputs, in matrix column order */
	int ninputs;
	int classification;  /* the task after "auto" */
	char **classes;      /* classification: sorted class labels as text */
	int nclasses;
	char **notes;        /* e.g. text columns left out of the inputs */
	int nnotes;
	/* Optional, set by a caller that knows where the spec lines were
	 * written (tabular.c: the flow's file and lines): called on an error
	 * of a step with its spec key ("onehot"; "drop", "target" or "task"
	 * for those), it puts that place in front of err's message.  Errors
	 * of the data itself (jm_features_matrix) are not a key's.  Not
	 * saved; NULL: no locating. */
	void (*locate)(void *ctx, const char *key, jm_err *err);
	void *locate_ctx;
} jm_features;

void jm_features_init(jm_features *fs);
void jm_features_free(jm_features *fs); /* accepts NULL */

/* Add one spec line; errors name the key (JM_EXIT_INPUT). */
int jm_features_parse(jm_features *fs, const char *key, const char *value, jm_err *err);

typedef struct jm_features_key {
	const char *name, *help;
} jm_features_key;
extern const jm_features_key jm_features_keys[];

/* Fit every step on f (the training rows) and apply it to f; then fix the
 * input columns and the target's classes. */
int jm_features_fit_apply(jm_features *fs, jm_frame *f, jm_err *err);
/* Apply the fitted steps to another frame. */
int jm_features_apply(const jm_features *fs, jm_frame *f, jm_err *err);

/* The model's view of a frame after the steps. */
typedef struct jm_matrix {
	int64_t rows;
	int cols;
	float *x;              /* rows * cols, row-major, malloc'd */
	int has_target;
	int classification;
	int32_t *y_class;      /* classification: 0 .. nclasses-1 */
	float *y_value;        /* regression */
	int nclasses;
	int64_t dropped;       /* rows left out (missing target, or missing = drop) */
	int64_t zeroed;        /* missing inputs set to 0 (missing = zero) */
	int64_t bad_row;       /* after an error about a value: its row of f (the
				  first such row); else -1 */
	int bad_missing;       /* 1 when that value is a missing input */
} jm_matrix;

/* Build the matrix of fs's inputs (and target, when set and present in
 * f).  rows_name says what f's rows are in messages ("validation":
 * "... in 1 of the 20 validation rows"); NULL says nothing.  Errors: an input
 * column absent from f; a missing input with missing = error (names the
 * column and count); an infinite input (whatever missing says: a model
 * cannot use one, and [data] na_values can read them as missing); a class
 * label unseen when fitting; the last three set m->bad_row. */
int jm_features_matrix(const jm_features *fs, const jm_frame *f, const char *rows_name,
		       jm_matrix *m, jm_err *err);
void jm_matrix_free(jm_matrix *m); /* accepts NULL */

/* The class of each row of f's target column, before any fitting (for a
 * stratified split): *labels[nrows] (-1 where missing), *classes the
 * sorted labels as text (nclasses of them); the caller frees both (each
 * class string, then the arrays).  Float targets must hold whole numbers. */
int jm_target_classes(const jm_frame *f, const char *target, int32_t **labels, int *nclasses,
		      char ***classes, jm_err *err);

int jm_features_save(const jm_features *fs, FILE *out, jm_err *err);
int jm_features_load(jm_features *fs, FILE *in, jm_err *err);

#endif
