/*
 * clean.h: the [clean] stage: rules that repair a frame, fitted on the
 * training rows and applied unchanged to validation and test rows, with a
 * data-quality report.
 *
 *   spec lines ──jm_clean_parse──▶ jm_clean (rules, not fitted)
 *   train frame ──jm_clean_fit_apply──▶ fitted jm_clean + report
 *   val / test  ──jm_clean_apply────▶ same fills, bounds, dropped columns
 *   fitted jm_clean ──jm_clean_save / jm_clean_load──▶ text (replays)
 *
 * Rules run in a fixed stage order whatever order they were given in
 * (rules of one stage keep their order):
 *
 *   stage  spec key and value                 what it does
 *   1      drop_columns = 0.5                 drop columns missing in more than
 *                                             that fraction of training rows
 *   2      duplicates = drop                  drop repeated rows (all columns
 *                                             equal, missing equal to missing;
 *                                             the first one stays)
 *   3      dates = ts [, ...] [format=%d/%m/%Y]  text -> datetime (ISO 8601 when
 *                                             no format); unparsable -> missing,
 *                                             counted in the report
 *   4      booleans = flag [, ...]            text or 0/1 -> bool (true/t/yes/
 *                                             y/on/1, false/f/no/n/off/0, any
 *                                             case); others -> missing, counted
 *   5      missing = median [: f1, f2]        fill missing values (scikit-learn's
 *             mean | median | most_frequent   SimpleImputer; NaN skipped; an even
 *             | constant=VALUE | drop         count averages the middle two; ties
 *                                             of most_frequent -> the smallest;
 *                                             drop: rows with a missing value)
 *   6      outliers = sigma [3] clip [: amount]   mean +/- k std (pandas, ddof=1)
 *             | iqr [1.5] clip|drop           or Q1 - k IQR .. Q3 + k IQR (linear
 *                                             quartiles); clip values or drop rows
 *
 * Without ": columns" a rule covers: missing mean/median every numeric
 * column; most_frequent/constant/drop every column; outliers every numeric
 * column (an int column becomes float only when a value is clipped).  Several clauses may share a key, separated by ';':
 *   missing = median: f1, f2; most_frequent: city
 *
 * Numbers follow pandas to the last bit where pandas is exact: means and
 * standard deviations are two-pass, compensated sums; medians and
 * quartiles are exact order statistics (numpy's 'linear' interpolation).
 */
#ifndef JM_CLEAN_H
#define JM_CLEAN_H

#include <stdint.h>
#include <stdio.h>

#include "data/frame.h"
#include "util/err.h"

typedef enum jm_clean_kind {
	JM_CLEAN_DROP_COLS,
	JM_CLEAN_DEDUP,
	JM_CLEAN_DATES,
	JM_CLEAN_BOOLS,
	JM_CLEAN_FILL_MEAN,
	JM_CLEAN_FILL_MEDIAN,
	JM_CLEAN_FILL_MOST_FREQUENT,
	JM_CLEAN_FILL_CONSTANT,
	JM_CLEAN_DROP_MISSING,
	JM_CLEAN_SIGMA,
	JM_CLEAN_IQR,
} jm_clean_kind;

/* One rule; the fit_* arrays are filled by fitting (nfit entries). */
typedef struct jm_clean_rule {
	jm_clean_kind kind;
	char **cols;       /* the columns named in the spec; NULL: the default set */
	int ncols;
	double param;      /* drop_columns: fraction; sigma: k (3); iqr: k (1.5) */
	int drop;          /* outliers: 1 drop rows, 0 clip */
	char *value;       /* constant: its text; dates: the format (NULL: ISO) */
	/* fitted */
	int nfit;
	char **fit_col;    /* column names the rule acts on */
	double *fit_a;     /* fill value, or lower bound */
	double *fit_b;     /* upper bound */
	char **fit_text;   /* fill text for string columns (else NULL) */
} jm_clean_rule;

typedef struct jm_clean {
	jm_clean_rule *rules;
	int n, cap;
	int fitted;
	int skip_quality;  /* 1: reports get the rule steps only, no quality
			    * tables (they cost a pass per column) */
	/* Optional, set by a caller that knows where the rules were written
	 * (tabular.c: the flow's file and lines): called on an error of a
	 * rule with the rule's spec key ("missing"), it puts that place in
	 * front of err's message.  Messages not about a rule (the quality
	 * tables) are left alone.  Not saved; NULL: no locating. */
	void (*locate)(void *ctx, const char *key, jm_err *err);
	void *locate_ctx;
} jm_clean;

void jm_clean_init(jm_clean *c);
void jm_clean_free(jm_clean *c); /* frees the rules; accepts NULL */

/* Add the rules of one spec line (key and value as in the table above).
 * Errors (JM_EXIT_INPUT) name the key: "missing: unknown method "avg"
 * (expected mean, median, most_frequent, constant=VALUE or drop)". */
int jm_clean_parse(jm_clean *c, const char *key, const char *value, jm_err *err);

/* The spec keys, for documentation and flow validation (NULL-terminated). */
typedef struct jm_clean_key {
	const char *name, *help;
} jm_clean_key;
extern const jm_clean_key jm_clean_keys[];

/* ---- the data-quality report ----------------------------------------- */

/* Per column: count of values present, missing, distinct; for numeric and
 * datetime columns mean, std (ddof=1), min, quartiles, max (datetimes in
 * seconds since the epoch); for text the most frequent value. */
typedef struct jm_colstats {
	char *name;
	jm_coltype type;
	int64_t count, missing, unique;
	double mean, std, min, q25, q50, q75, max; /* NaN when not numeric */
	char *top;        /* text: most frequent value (ties: smallest); else NULL */
	int64_t top_freq;
	int64_t infinite; /* float values that are inf or -inf (counted in count;
			   * mean inf, -inf or NaN, std NaN, as pandas) */
	int64_t first_inf; /* the first one's row: jm_frame_origin of it; -1: none */
	int64_t inf_line; /* its line in the file, when the caller knows and
			   * fills it in (tabular.c); 0: not known */
} jm_colstats;

typedef struct jm_quality {
	int64_t rows;
	int ncols;
	jm_colstats *cols;
} jm_quality;

int jm_quality_compute(const jm_frame *f, jm_quality *q, jm_err *err);
void jm_quality_clear(jm_quality *q);

typedef struct jm_clean_step {
	char *rule;              /* "missing median: f1, f2" */
	int64_t rows_dropped;
	int64_t values_changed;  /* filled, clipped, coerced to missing */
	int64_t cols_dropped;
	char *detail;            /* e.g. the columns dropped, the bounds; or NULL */
} jm_clean_step;

typedef struct jm_clean_report {
	jm_quality before, after;
	int nsteps;
	jm_clean_step *steps;
} jm_clean_report;

void jm_clean_report_clear(jm_clean_report *r); /* accepts NULL */
/* "data quality before cleaning: ..." tables and one line per rule. */
void jm_clean_report_text(FILE *out, const jm_clean_report *r);
/* {"before": {...}, "rules": [...], "after": {...}} */
void jm_clean_report_json(FILE *out, const jm_clean_report *r);
void jm_quality_text(FILE *out, const jm_quality *q, const char *title);

/* ---- running --------------------------------------------------------- */

/* Fit every rule on f (in stage order, each on the result of the ones
 * before it) and apply it.  report (may be NULL) receives the quality
 * tables before and after (unless c->skip_quality) and one step per rule;
 * clear it with jm_clean_report_clear. */
int jm_clean_fit_apply(jm_clean *c, jm_frame *f, jm_clean_report *report, jm_err *err);

/* Apply fitted rules to another frame (validation, test, new data). */
int jm_clean_apply(const jm_clean *c, jm_frame *f, jm_clean_report *report, jm_err *err);

/* Fitted state as text, and back (a loaded state is fitted). */
int jm_clean_save(const jm_clean *c, FILE *out, jm_err *err);
int jm_clean_load(jm_clean *c, FILE *in, jm_err *err);

/* ---- statistics shared with the feature stage ------------------------ */

/* NaN-skipping mean and variance (two-pass, compensated); count gets
 * the number of values used.  Variance with ddof (NaN below ddof+1). */
double jm_stat_mean(const double *x, int64_t n, int64_t *count);
double jm_stat_var(const double *x, int64_t n, int ddof);
/* Order statistics of the non-NaN values: q in [0, 1], numpy 'linear'.
 * qs[0..nq) in, out[0..nq) out; NaN when there are no values. */
int jm_stat_quantiles(const double *x, int64_t n, const double *qs, int nq, double *out,
		      jm_err *err);
/* Free n strings and the array holding them (NULL is fine). */
void jm_strv_free(char **v, int n);

/* "<what>: no column "name" (did you mean "nme"?) (columns: a, b, ...)"
 * into err: the closest column when one is close (jm_suggest's rule),
 * then the columns f has at this point (a wide frame's list is cut short:
 * "... and 40 more"); names escaped as jm_escape_text does.  JM_EXIT_INPUT,
 * returns -1. */
int jm_no_column(jm_err *err, const jm_frame *f, const char *what, const char *name);
/* Just the part after the quoted name, with its leading blank, into
 * buf[0..n): " (did you mean ...?) (columns: ...)". */
void jm_columns_hint(char *buf, size_t n, const jm_frame *f, const char *name);

/* Call fn(arg, i) for i in 0..n-1 on up to one thread per CPU (at most
 * 8) when rows, the work of one call, is large enough to pay for a
 * thread; else in order on this thread.  Each fn(arg, i) must touch only
 * its own data. */
void jm_parallel_for(int n, void (*fn)(void *arg, int i), void *arg, int64_t rows);

/* ---- the text format of fitted states -------------------------------- */

/* Fitted states (clean and features) are lines of tokens: bare words,
 * numbers (%.17g, nan, inf) and JSON-quoted strings. */
void jm_state_str(FILE *out, const char *s);
void jm_state_num(FILE *out, double v);
typedef struct jm_state_reader {
	FILE *in;
	char *line;
	size_t cap;
	const char *p;
	int lineno;
} jm_state_reader;
/* Next non-empty line: 1, or 0 at end of file. */
int jm_state_next(jm_state_reader *r);
/* Next token of the line: 1 with *s malloc'd (NULL for the bare word
 * null), 0 at the end of the line, -1 on a malformed string. */
int jm_state_tok(jm_state_reader *r, char **s);
/* Next token as a number (strtod: nan, inf accepted): 0 or -1. */
int jm_state_double(jm_state_reader *r, double *v);
/* Next token as an integer in [lo, hi]: 0 or -1. */
int jm_state_int(jm_state_reader *r, int *v, int lo, int hi);
/* Next token must be the word w: 0 or -1. */
int jm_state_word(jm_state_reader *r, const char *w);
void jm_state_reader_free(jm_state_reader *r);

#endif
