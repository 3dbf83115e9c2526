/*
 * features.c: the [features] steps, their fitted numbers, the model
 * matrix, and the saved state (see features.h for what each step does).
 *
 *   parse: "amount window=7 by=user_id" ──options out──▶ columns, options
 *   fit_apply: steps in stage order; each step resolves its columns
 *              ("*"), learns (fit) and writes its columns (apply)
 *   apply: the same writers with the learned numbers
 *   matrix: inputs ──per column──▶ float x[rows][cols]; target ──▶ y
 *
 * Grouped steps (lag, rolling) first turn the "by" column into dense group
 * ids, then list each group's rows in order (a stable counting sort, or a
 * stable sort on the order column) and compute along that list.
 */
#include "pipeline/features.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pipeline/clean.h"
#include "plugin/plugin.h"

/* ---- spec ------------------------------------------------------------ */

static const struct step_info {
	const char *key;
	int takes_window; /* which option sets step->window: "k", "window", "n" */
	const char *window_opt;
	int window_default;
} steps_info[] = {
	[JM_FEAT_DATES] = {"dates", 0, NULL, 0},
	[JM_FEAT_LAG] = {"lag", 1, "k", 1},
	[JM_FEAT_ROLLING] = {"rolling", 1, "window", 0},
	[JM_FEAT_PRODUCTS] = {"products", 0, NULL, 0},
	[JM_FEAT_RATIOS] = {"ratios", 0, NULL, 0},
	[JM_FEAT_POLY2] = {"poly2", 0, NULL, 0},
	[JM_FEAT_LOG1P] = {"log1p", 0, NULL, 0},
	[JM_FEAT_BINS] = {"bins", 1, "n", 4},
	[JM_FEAT_ONEHOT] = {"onehot", 0, NULL, 0},
	[JM_FEAT_ORDINAL] = {"ordinal", 0, NULL, 0},
	[JM_FEAT_MINMAX] = {"minmax", 0, NULL, 0},
	[JM_FEAT_STANDARDIZE] = {"standardize", 0, NULL, 0},
	[JM_FEAT_PLUGIN] = {"plugin", 0, NULL, 0},
};
#define NSTEPKINDS ((int)(sizeof steps_info / sizeof *steps_info))

const jm_features_key jm_features_keys[] = {
	{"dates", "datetime columns to split: ts [parts=year,month,day,weekday,hour]"},
	{"lag", "value k rows earlier in the group: amount k=1 [by=user] [order=ts]"},
	{"rolling", "rolling window per group: amount window=7 [by=user] [order=ts] [stats=mean,std,min,max]"},
	{"products", "pairwise products of these columns: f1, f2, f3"},
	{"ratios", "pairwise ratios a/b of these columns"},
	{"poly2", "degree-2 polynomial terms (scikit-learn order)"},
	{"log1p", "replace by log(1 + x)"},
	{"bins", "replace by quantile bin: x [n=4]"},
	{"onehot", "one bool column per training category"},
	{"ordinal", "replace by the index of the sorted training category"},
	{"minmax", "scale to [0, 1] with the training min and max"},
	{"standardize", "scale to mean 0, std 1 (training mean and std, ddof=0)"},
	{"plugin", "a feature plugin's operator: NAME(k=v, ...): columns"},
	{"target", "the column to predict"},
	{"task", "auto | classification | regression"},
	{"drop", "columns that are not model inputs"},
	{"missing", "missing inputs: error | zero | drop"},
	{NULL, NULL},
};

static const char *const roll_names[] = {"mean", "std", "min", "max"};
static const char *const part_names[] = {"year", "month", "day", "weekday", "hour"};

void jm_features_init(jm_features *fs)
{
	memset(fs, 0, sizeof *fs);
}

static void step_clear_fit(jm_feat_step *s)
{
	for (int i = 0; i < s->nfit; i++) {
		free(s->fit[i].col);
		free(s->fit[i].num);
		jm_strv_free(s->fit[i].text, s->fit[i].ntext);
	}
	free(s->fit);
	s->fit = NULL;
	s->nfit = 0;
}

static void clear_fitted(jm_features *fs)
{
	jm_strv_free(fs->inputs, fs->ninputs);
	jm_strv_free(fs->classes, fs->nclasses);
	jm_strv_free(fs->notes, fs->nnotes);
	fs->inputs = fs->classes = fs->notes = NULL;
	fs->ninputs = fs->nclasses = fs->nnotes = 0;
	fs->fitted = 0;
}

void jm_features_free(jm_features *fs)
{
	if (!fs)
		return;
	for (int i = 0; i < fs->n; i++) {
		jm_feat_step *s = &fs->steps[i];
		jm_strv_free(s->cols, s->ncols);
		free(s->by);
		free(s->order);
		free(s->plugin);
		free(s->blob);
		step_clear_fit(s);
	}
	free(fs->steps);
	free(fs->target);
	free(fs->task);
	free(fs->missing);
	jm_strv_free(fs->drop, fs->ndrop);
	clear_fitted(fs);
	memset(fs, 0, sizeof *fs);
}

static char *trim(char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	size_t n = strlen(s);
	while (n && isspace((unsigned char)s[n - 1]))
		s[--n] = '\0';
	return s;
}

/* Take "name=value" out of s (whole word); malloc'd value or NULL. */
static char *take_opt(char *s, const char *name)
{
	size_t nl = strlen(name);
	for (char *p = s; (p = strstr(p, name)); p += nl) {
		if ((p != s && !isspace((unsigned char)p[-1]) && p[-1] != ',') || p[nl] != '=')
			continue;
		char *v = p + nl + 1, *e = v;
		while (*e && !isspace((unsigned char)*e))
			e++;
		char *out = jm_xasprintf("%.*s", (int)(e - v), v);
		memmove(p, e, strlen(e) + 1);
		return out;
	}
	return NULL;
}

static int split_list(const char *key, char *list, char ***out, int *n, jm_err *err)
{
	*out = NULL;
	*n = 0;
	if (!*trim(list))
		return jm_err_set(err, JM_EXIT_INPUT, "%s: expected column names", key);
	for (char *t = list, *next; t; t = next) {
		next = strchr(t, ',');
		if (next)
			*next++ = '\0';
		t = trim(t);
		if (!*t) {
			jm_strv_free(*out, *n);
			*out = NULL;
			*n = 0;
			return jm_err_set(err, JM_EXIT_INPUT, "%s: empty column name in the list", key);
		}
		*out = jm_xrealloc(*out, (size_t)(*n + 1) * sizeof **out);
		(*out)[(*n)++] = jm_xstrdup(t);
	}
	return 0;
}

/* "mean,std" → mask over names[0..n). */
static int parse_mask(const char *key, const char *opt, const char *v, const char *const *names,
		      int n, unsigned *mask, jm_err *err)
{
	*mask = 0;
	char *copy = jm_xstrdup(v);
	int rc = 0;
	for (char *t = copy, *next; t; t = next) {
		next = strchr(t, ',');
		if (next)
			*next++ = '\0';
		int k;
		for (k = 0; k < n && strcmp(trim(t), names[k]); k++)
			;
		if (k == n) {
			rc = jm_err_set(err, JM_EXIT_INPUT, "%s: %s: unknown \"%s\"", key, opt, trim(t));
			break;
		}
		*mask |= 1u << k;
	}
	free(copy);
	return rc;
}

static int parse_step(jm_features *fs, jm_feat_kind kind, const char *key, char *v, jm_err *err)
{
	const struct step_info *si = &steps_info[kind];
	char *win = si->takes_window ? take_opt(v, si->window_opt) : NULL;
	char *by = take_opt(v, "by"), *order = take_opt(v, "order");
	char *stats = take_opt(v, "stats"), *parts = take_opt(v, "parts");
	int rc = -1;
	jm_feat_step st = {.kind = kind, .window = si->window_default};
	if (win) {
		char *end;
		long w = strtol(win, &end, 10);
		long lo = kind == JM_FEAT_BINS ? 2 : 1;
		if (end == win || *end || w < lo || w > 1000000) {
			jm_err_set(err, JM_EXIT_INPUT, "%s: %s: expected an integer >= %ld, got \"%s\"", key,
				   si->window_opt, lo, win);
			goto out;
		}
		st.window = (int)w;
	}
	if (kind == JM_FEAT_ROLLING && !st.window) {
		jm_err_set(err, JM_EXIT_INPUT, "rolling: expected window=N");
		goto out;
	}
	if ((by || order) && kind != JM_FEAT_ROLLING && kind != JM_FEAT_LAG) {
		jm_err_set(err, JM_EXIT_INPUT, "%s: unexpected %s=", key, by ? "by" : "order");
		goto out;
	}
	if (stats && kind != JM_FEAT_ROLLING) {
		jm_err_set(err, JM_EXIT_INPUT, "%s: unexpected stats=", key);
		goto out;
	}
	if (parts && kind != JM_FEAT_DATES) {
		jm_err_set(err, JM_EXIT_INPUT, "%s: unexpected parts=", key);
		goto out;
	}
	st.parts = kind == JM_FEAT_ROLLING ? JM_ROLL_MEAN : kind == JM_FEAT_DATES ? 31u : 0;
	if (stats && parse_mask(key, "stats", stats, roll_names, 4, &st.parts, err) < 0)
		goto out;
	if (parts && parse_mask(key, "parts", parts, part_names, 5, &st.parts, err) < 0)
		goto out;
	char *eq = strchr(v, '=');
	if (eq) {
		char *w = eq;
		while (w > v && !isspace((unsigned char)w[-1]) && w[-1] != ',')
			w--;
		jm_err_set(err, JM_EXIT_INPUT, "%s: unknown option \"%.*s\"", key, (int)(eq - w), w);
		goto out;
	}
	if (split_list(key, v, &st.cols, &st.ncols, err) < 0)
		goto out;
	if ((kind == JM_FEAT_PRODUCTS || kind == JM_FEAT_RATIOS) && st.ncols < 2 &&
	    strcmp(st.cols[0], "*")) {
		jm_err_set(err, JM_EXIT_INPUT, "%s: expected at least two columns", key);
		jm_strv_free(st.cols, st.ncols);
		goto out;
	}
	st.by = by;
	st.order = order;
	by = order = NULL;
	if (fs->n == fs->cap) {
		fs->cap = fs->cap ? fs->cap * 2 : 8;
		fs->steps = jm_xrealloc(fs->steps, (size_t)fs->cap * sizeof *fs->steps);
	}
	fs->steps[fs->n++] = st;
	rc = 0;
out:
	free(win);
	free(by);
	free(order);
	free(stats);
	free(parts);
	return rc;
}

/* "rolling_zscore(window=7): a, b": the operator must be loaded (plugins
 * load on first use) and its arguments valid. */
static int parse_plugin(jm_features *fs, char *v, jm_err *err)
{
	char *close = strchr(v, ')'), *colon = strchr(close ? close : v, ':');
	if (!colon)
		return jm_err_set(err, JM_EXIT_INPUT,
				  "plugin: expected NAME(arg=value, ...): columns, got \"%s\"", v);
	*colon = '\0';
	jm_plugin_call call;
	char why[1024];
	if (jm_plugin_parse_call(v, JM_PLUGIN_OP_FEATURE, &call, why, sizeof why) < 0)
		return jm_err_set(err, JM_EXIT_INPUT, "plugin: %s", why);
	jm_feat_step st = {.kind = JM_FEAT_PLUGIN};
	if (split_list("plugin", colon + 1, &st.cols, &st.ncols, err) < 0)
		return -1;
	st.plugin = jm_xstrdup(call.text);
	if (fs->n == fs->cap) {
		fs->cap = fs->cap ? fs->cap * 2 : 8;
		fs->steps = jm_xrealloc(fs->steps, (size_t)fs->cap * sizeof *fs->steps);
	}
	fs->steps[fs->n++] = st;
	return 0;
}

int jm_features_parse(jm_features *fs, const char *key, const char *value, jm_err *err)
{
	char *v = jm_xstrdup(value ? value : ""), *t = trim(v);
	int rc = -1;
	if (strcmp(key, "plugin") == 0) {
		rc = parse_plugin(fs, t, err);
		goto out;
	}
	for (int k = 0; k < NSTEPKINDS; k++)
		if (strcmp(key, steps_info[k].key) == 0) {
			rc = parse_step(fs, (jm_feat_kind)k, key, t, err);
			goto out;
		}
	if (strcmp(key, "target") == 0) {
		if (!*t) {
			jm_err_set(err, JM_EXIT_INPUT, "target: expected a column name");
			goto out;
		}
		free(fs->target);
		fs->target = jm_xstrdup(t);
	} else if (strcmp(key, "task") == 0) {
		if (strcmp(t, "auto") && strcmp(t, "classification") && strcmp(t, "regression")) {
			jm_err_set(err, JM_EXIT_INPUT,
				   "task: expected auto, classification or regression, got \"%s\"", t);
			goto out;
		}
		free(fs->task);
		fs->task = jm_xstrdup(t);
	} else if (strcmp(key, "missing") == 0) {
		if (strcmp(t, "error") && strcmp(t, "zero") && strcmp(t, "drop")) {
			jm_err_set(err, JM_EXIT_INPUT, "missing: expected error, zero or drop, got \"%s\"", t);
			goto out;
		}
		free(fs->missing);
		fs->missing = jm_xstrdup(t);
	} else if (strcmp(key, "drop") == 0) {
		char **cols;
		int n;
		if (split_list(key, t, &cols, &n, err) < 0)
			goto out;
		fs->drop = jm_xrealloc(fs->drop, (size_t)(fs->ndrop + n) * sizeof *fs->drop);
		memcpy(fs->drop + fs->ndrop, cols, (size_t)n * sizeof *cols);
		fs->ndrop += n;
		free(cols);
	} else {
		jm_err_set(err, JM_EXIT_INPUT, "[features] unknown key \"%s\"", key);
		goto out;
	}
	rc = 0;
out:
	free(v);
	return rc;
}

/* ---- helpers ----------------------------------------------------------- */

static int is_numeric(const jm_col *c)
{
	return c->type == JM_COL_F64 || c->type == JM_COL_I64 || c->type == JM_COL_BOOL;
}

/* A new F64 column; NULL with err set. */
static jm_col *add_f64(jm_frame *f, const char *name, jm_err *err)
{
	jm_col *c = jm_frame_add(f, name, JM_COL_F64, err);
	if (!c)
		jm_err_prefix(err, "[features]");
	return c;
}

/* "[features] step: no column ..." with the columns there are. */
static int no_column(jm_err *err, const jm_frame *f, const char *step, const char *name)
{
	char what[64];
	snprintf(what, sizeof what, "[features] %s", step);
	return jm_no_column(err, f, what, name);
}

/* Column k of a step, or NULL with a message. */
static jm_col *need(const jm_frame *f, const char *step, const char *name, jm_err *err)
{
	jm_col *c = jm_frame_col(f, name);
	if (!c)
		no_column(err, f, step, name);
	return c;
}

static jm_col *need_numeric(const jm_frame *f, const char *step, const char *name, jm_err *err)
{
	jm_col *c = need(f, step, name, err);
	if (c && !is_numeric(c)) {
		jm_err_set(err, JM_EXIT_INPUT, "[features] %s: column \"%s\" is %s, not numeric", step,
			   name, jm_coltype_name(c->type));
		return NULL;
	}
	return c;
}

/* The column as float64 (converting int and bool columns in place). */
static jm_col *need_f64(jm_frame *f, const char *step, const char *name, jm_err *err)
{
	jm_col *c = need_numeric(f, step, name, err);
	if (c && c->type != JM_COL_F64 && jm_col_to_f64(c, f->nrows, err) < 0)
		return NULL;
	return c;
}

/* Values of a numeric column as doubles in a new array (NaN = missing). */
static double *doubles(const jm_col *c, int64_t n)
{
	double *d = malloc((n > 0 ? (size_t)n : 1) * sizeof *d);
	if (!d)
		return NULL;
	if (c->type == JM_COL_F64)
		memcpy(d, c->v.f64, (size_t)n * sizeof *d);
	else
		for (int64_t i = 0; i < n; i++)
			d[i] = jm_col_num(c, i);
	return d;
}

static jm_feat_fit *fit_add(jm_feat_step *s, const char *col)
{
	s->fit = jm_xrealloc(s->fit, (size_t)(s->nfit + 1) * sizeof *s->fit);
	jm_feat_fit *ft = &s->fit[s->nfit++];
	memset(ft, 0, sizeof *ft);
	ft->col = jm_xstrdup(col);
	return ft;
}

/* The step's columns with "*" expanded to every numeric column but the
 * target.  Fills names (malloc'd array of borrowed strings). */
static int step_cols(const jm_features *fs, const jm_feat_step *s, const jm_frame *f,
		     const char ***names, int *n, jm_err *err)
{
	*names = NULL;
	*n = 0;
	if (s->ncols == 1 && strcmp(s->cols[0], "*") == 0) {
		*names = jm_xmalloc(((size_t)f->ncols + 1) * sizeof **names);
		for (int j = 0; j < f->ncols; j++) {
			const jm_col *c = f->cols[j];
			if (is_numeric(c) && !(fs->target && strcmp(c->name, fs->target) == 0))
				(*names)[(*n)++] = c->name;
		}
		return 0;
	}
	*names = jm_xmalloc(((size_t)s->ncols + 1) * sizeof **names);
	char esc[200];
	for (int k = 0; k < s->ncols; k++) {
		for (int q = 0; q < k; q++)
			if (strcmp(s->cols[q], s->cols[k]) == 0) {
				free(*names);
				*names = NULL;
				return jm_err_set(err, JM_EXIT_INPUT, "[features] %s: \"%s\" is listed twice",
						  steps_info[s->kind].key,
						  jm_escape_text(esc, sizeof esc, s->cols[k]));
			}
		if (fs->target && strcmp(s->cols[k], fs->target) == 0) {
			free(*names);
			*names = NULL;
			return jm_err_set(err, JM_EXIT_INPUT, "[features] %s: \"%s\" is the target",
					  steps_info[s->kind].key,
					  jm_escape_text(esc, sizeof esc, s->cols[k]));
		}
		(*names)[(*n)++] = s->cols[k];
	}
	return 0;
}

/* ---- scalers: standardize, minmax, log1p ------------------------------ */

/* One column of a scaler step, fitted or applied on its own thread. */
typedef struct scale_task {
	const jm_feat_step *s;
	jm_feat_fit *ft;
	const jm_col *c;   /* fitting: the training column */
	jm_frame *f;
	int rc;
	jm_err err;
} scale_task;

/* standardize: mean, std (ddof=0); minmax: min, max (NaN skipped). */
static void scaler_stats(void *arg, int k)
{
	scale_task *t = (scale_task *)arg + k;
	const jm_col *c = t->c;
	int64_t n = t->f->nrows;
	int infinite = 0;
	for (int64_t i = 0; c->type == JM_COL_F64 && i < n && !infinite; i++)
		infinite = isinf(c->v.f64[i]);
	double *own = c->type == JM_COL_F64 && !infinite ? NULL : doubles(c, n);
	const double *x = own ? own : c->v.f64;
	double *num = t->ft->num;
	if (!x) {
		t->rc = jm_err_set(&t->err, JM_EXIT_FAIL, "out of memory");
		return;
	}
	/* fitted on the finite values: an infinite one stays infinite (and
	 * is refused by name at the model's inputs) instead of making every
	 * value of the column NaN, that is missing */
	for (int64_t i = 0; infinite && i < n; i++)
		if (isinf(own[i]))
			own[i] = NAN;
	if (t->s->kind == JM_FEAT_STANDARDIZE) {
		num[0] = jm_stat_mean(x, n, NULL);
		num[1] = sqrt(jm_stat_var(x, n, 0));
	} else {
		double lo = INFINITY, hi = -INFINITY;
		for (int64_t i = 0; i < n; i++) {
			if (x[i] < lo)
				lo = x[i];
			if (x[i] > hi)
				hi = x[i];
		}
		num[0] = lo <= hi ? lo : NAN;
		num[1] = lo <= hi ? hi : NAN;
	}
	free(own);
}

/* Fit a scaler on every column (columns in parallel). */
static int fit_scalers(jm_feat_step *s, const jm_frame *f, char **names, int n, jm_err *err)
{
	scale_task *t = jm_xcalloc((size_t)n + 1, sizeof *t);
	int rc = -1;
	for (int k = 0; k < n; k++) {
		const jm_col *c = need_numeric(f, steps_info[s->kind].key, names[k], err);
		if (!c)
			goto out;
		jm_feat_fit *ft = fit_add(s, names[k]);
		ft->nnum = 2;
		ft->num = jm_xcalloc(2, sizeof *ft->num);
		t[k] = (scale_task){.s = s, .c = c, .f = (jm_frame *)f};
	}
	for (int k = 0; k < n; k++) /* fit_add may have moved the array */
		t[k].ft = &s->fit[k];
	jm_parallel_for(n, scaler_stats, t, f->nrows);
	for (int k = 0; k < n; k++)
		if (t[k].rc < 0) {
			if (err)
				*err = t[k].err;
			goto out;
		}
	rc = 0;
out:
	free(t);
	return rc;
}

static int apply_scaler(const jm_feat_step *s, const jm_feat_fit *ft, jm_frame *f, jm_err *err);

static void scaler_apply(void *arg, int k)
{
	scale_task *t = (scale_task *)arg + k;
	t->rc = apply_scaler(t->s, t->ft, t->f, &t->err);
}

/* Apply a fitted scaler step to every column (columns in parallel: each
 * task changes its own column only). */
static int apply_scalers(const jm_feat_step *s, jm_frame *f, jm_err *err)
{
	scale_task *t = jm_xcalloc((size_t)s->nfit + 1, sizeof *t);
	int rc = 0;
	for (int k = 0; k < s->nfit; k++)
		t[k] = (scale_task){.s = s, .ft = &s->fit[k], .f = f};
	jm_parallel_for(s->nfit, scaler_apply, t, f->nrows);
	for (int k = 0; k < s->nfit && rc == 0; k++)
		if (t[k].rc < 0) {
			if (err)
				*err = t[k].err;
			rc = -1;
		}
	free(t);
	return rc;
}

static int apply_scaler(const jm_feat_step *s, const jm_feat_fit *ft, jm_frame *f, jm_err *err)
{
	jm_col *c = need_f64(f, steps_info[s->kind].key, ft->col, err);
	if (!c)
		return -1;
	double *v = c->v.f64;
	int64_t n = f->nrows, nan = 0;
	if (s->kind == JM_FEAT_LOG1P) {
		for (int64_t i = 0; i < n; i++) {
			v[i] = v[i] > -1 ? log1p(v[i]) : v[i] == v[i] ? NAN : v[i];
			nan += isnan(v[i]);
		}
	} else {
		double shift = ft->num[0], scale;
		if (s->kind == JM_FEAT_STANDARDIZE)
			scale = ft->num[1];
		else
			scale = ft->num[1] - ft->num[0];
		if (!(scale > 0) || !isfinite(scale))
			scale = 1; /* scikit-learn's handling of a constant column */
		for (int64_t i = 0; i < n; i++) {
			v[i] = (v[i] - shift) / scale;
			nan += isnan(v[i]);
		}
	}
	if (nan != c->n_na) /* new missing values (log1p of x <= -1, inf - inf) */
		jm_col_sync_na(c, n);
	return 0;
}

/* ---- categories: onehot, ordinal --------------------------------------- */

static int cmp_text(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

typedef struct numtext {
	double v;
	char *t;
} numtext;

static int cmp_numtext(const void *a, const void *b)
{
	double x = ((const numtext *)a)->v, y = ((const numtext *)b)->v;
	return (x > y) - (x < y);
}

/* Per row, the code of the row's value in text form: STR codes directly,
 * other types through a dictionary of their text. *dict is a new dict
 * for non-text columns (unref it). */
static int32_t *value_codes(const jm_col *c, int64_t n, jm_dict **dict)
{
	int32_t *codes = malloc((n > 0 ? (size_t)n : 1) * sizeof *codes);
	if (!codes)
		return NULL;
	if (c->type == JM_COL_STR) {
		*dict = jm_dict_ref(c->dict);
		memcpy(codes, c->v.code, (size_t)n * sizeof *codes);
		return codes;
	}
	*dict = jm_dict_new();
	char buf[64];
	for (int64_t i = 0; i < n; i++) {
		if (jm_col_isna(c, i)) {
			codes[i] = -1;
			continue;
		}
		const char *t = jm_col_text(c, i, buf, sizeof buf);
		codes[i] = jm_dict_intern(*dict, t, strlen(t));
	}
	return codes;
}

static int fit_categories(jm_feat_step *s, const jm_frame *f, const char *name, jm_err *err)
{
	const jm_col *c = need(f, steps_info[s->kind].key, name, err);
	if (!c)
		return -1;
	if (c->type == JM_COL_F64 || c->type == JM_COL_TIME)
		return jm_err_set(err, JM_EXIT_INPUT, "[features] %s: column \"%s\" is %s; categories "
				  "come from text, int or bool columns", steps_info[s->kind].key, name,
				  jm_coltype_name(c->type));
	jm_dict *d;
	int32_t *codes = value_codes(c, f->nrows, &d);
	if (!codes)
		return jm_err_set(err, JM_EXIT_FAIL, "out of memory");
	uint8_t *seen = jm_xcalloc((size_t)d->n + 1, 1);
	for (int64_t i = 0; i < f->nrows; i++)
		if (codes[i] >= 0)
			seen[codes[i]] = 1;
	jm_feat_fit *ft = fit_add(s, name);
	ft->text = jm_xmalloc(((size_t)d->n + 1) * sizeof *ft->text);
	if (c->type == JM_COL_STR) {
		for (int32_t k = 0; k < d->n; k++)
			if (seen[k])
				ft->text[ft->ntext++] = jm_xstrdup(d->s[k]);
		qsort(ft->text, (size_t)ft->ntext, sizeof *ft->text, cmp_text);
	} else { /* numbers sort as numbers */
		numtext *nt = jm_xmalloc(((size_t)d->n + 1) * sizeof *nt);
		int m = 0;
		for (int32_t k = 0; k < d->n; k++)
			if (seen[k])
				nt[m++] = (numtext){strtod(d->s[k], NULL), d->s[k]};
		if (c->type == JM_COL_BOOL)
			for (int k = 0; k < m; k++)
				nt[k].v = strcmp(nt[k].t, "True") == 0;
		qsort(nt, (size_t)m, sizeof *nt, cmp_numtext);
		for (int k = 0; k < m; k++)
			ft->text[ft->ntext++] = jm_xstrdup(nt[k].t);
		free(nt);
	}
	free(seen);
	free(codes);
	jm_dict_unref(d);
	return 0;
}

/* Map each row to the index of its value among ft's categories (-1:
 * unknown or missing). */
static int32_t *category_index(const jm_col *c, int64_t n, const jm_feat_fit *ft)
{
	jm_dict *d;
	int32_t *codes = value_codes(c, n, &d);
	if (!codes)
		return NULL;
	int32_t *map = jm_xmalloc(((size_t)d->n + 1) * sizeof *map);
	for (int32_t k = 0; k < d->n; k++) {
		const char *key = d->s[k];
		const char *const *hit = bsearch(&key, ft->text, (size_t)ft->ntext, sizeof *ft->text,
						 cmp_text);
		map[k] = -1;
		if (hit)
			map[k] = (int32_t)(hit - (const char *const *)ft->text);
		else if (c->type != JM_COL_STR) /* numeric categories are not in strcmp order */
			for (int i = 0; i < ft->ntext; i++)
				if (strcmp(ft->text[i], key) == 0)
					map[k] = i;
	}
	for (int64_t i = 0; i < n; i++)
		codes[i] = codes[i] < 0 ? -1 : map[codes[i]];
	free(map);
	jm_dict_unref(d);
	return codes;
}

static int apply_onehot(const jm_feat_fit *ft, jm_frame *f, jm_err *err)
{
	int j = jm_frame_index(f, ft->col);
	if (j < 0)
		return no_column(err, f, "onehot", ft->col);
	jm_col *c = f->cols[j];
	int64_t n = f->nrows;
	int32_t *idx = category_index(c, n, ft);
	if (!idx)
		return jm_err_set(err, JM_EXIT_FAIL, "out of memory");
	int rc = -1;
	jm_col **out = jm_xcalloc((size_t)ft->ntext + 1, sizeof *out);
	for (int k = 0; k < ft->ntext; k++) {
		char *name = jm_xasprintf("%s_%s", ft->col, ft->text[k]);
		out[k] = jm_col_new(name, JM_COL_BOOL, n, err);
		free(name);
		if (!out[k])
			goto out;
	}
	for (int64_t i = 0; i < n; i++)
		if (idx[i] >= 0)
			out[idx[i]]->v.b[i] = 1;
	/* replace the column by its indicators, in place (get_dummies order) */
	jm_col_free(jm_frame_detach(f, j));
	for (int k = 0; k < ft->ntext; k++) {
		if (jm_frame_adopt(f, out[k], err) < 0) {
			out[k] = NULL;
			jm_err_prefix(err, "[features] onehot");
			for (int r = k + 1; r < ft->ntext; r++)
				jm_col_free(out[r]);
			free(out);
			free(idx);
			return -1;
		}
		/* move it from the end to where the source column was */
		jm_col *moved = f->cols[f->ncols - 1];
		memmove(f->cols + j + k + 1, f->cols + j + k, (size_t)(f->ncols - 1 - j - k) * sizeof *f->cols);
		f->cols[j + k] = moved;
		out[k] = NULL;
	}
	rc = 0;
out:
	for (int k = 0; k < ft->ntext; k++)
		jm_col_free(out[k]);
	free(out);
	free(idx);
	return rc;
}

static int apply_ordinal(const jm_feat_fit *ft, jm_frame *f, jm_err *err)
{
	int j = jm_frame_index(f, ft->col);
	if (j < 0)
		return no_column(err, f, "ordinal", ft->col);
	jm_col *c = f->cols[j];
	int32_t *idx = category_index(c, f->nrows, ft);
	jm_col *o = idx ? jm_col_new(c->name, JM_COL_I64, f->nrows, err) : NULL;
	if (!o) {
		free(idx);
		return idx ? -1 : jm_err_set(err, JM_EXIT_FAIL, "out of memory");
	}
	for (int64_t i = 0; i < f->nrows; i++) {
		if (jm_col_isna(c, i)) {
			jm_col_ensure_na(o, f->nrows, NULL);
			o->na[i] = 1;
		} else {
			o->v.i64[i] = idx[i];
		}
	}
	jm_col_sync_na(o, f->nrows);
	f->cols[j] = o;
	jm_col_free(c);
	free(idx);
	return 0;
}

/* ---- quantile bins ------------------------------------------------------ */

static int fit_bins(jm_feat_step *s, const jm_frame *f, const char *name, jm_err *err)
{
	const jm_col *c = need_numeric(f, "bins", name, err);
	if (!c)
		return -1;
	double *x = doubles(c, f->nrows);
	int nb = s->window;
	double *qs = jm_xmalloc(((size_t)nb + 1) * sizeof *qs), *edges = jm_xmalloc(((size_t)nb + 1) * sizeof *edges);
	for (int k = 0; k <= nb; k++) /* np.percentile(x, np.linspace(0, 100, nb + 1)) */
		qs[k] = k == nb ? 1.0 : (double)k * (100.0 / nb) / 100.0;
	int rc = x ? jm_stat_quantiles(x, f->nrows, qs, nb + 1, edges, err) : -1;
	free(x);
	free(qs);
	if (rc < 0) {
		free(edges);
		return -1;
	}
	/* bins narrower than 1e-8 go, as scikit-learn (each edge against the
	 * original edge before it) */
	int m = 0;
	double prev = -INFINITY;
	for (int k = 0; k <= nb; k++) {
		double e = edges[k];
		if (!isnan(e) && e - prev > 1e-8)
			edges[m++] = e;
		prev = e;
	}
	jm_feat_fit *ft = fit_add(s, name);
	ft->num = edges;
	ft->nnum = m;
	return 0;
}

static int apply_bins(const jm_feat_fit *ft, jm_frame *f, jm_err *err)
{
	int j = jm_frame_index(f, ft->col);
	if (j < 0)
		return no_column(err, f, "bins", ft->col);
	jm_col *c = f->cols[j];
	jm_col *o = jm_col_new(c->name, JM_COL_I64, f->nrows, err);
	if (!o)
		return -1;
	/* searchsorted(edges[1:-1], x, side="right") */
	int inner = ft->nnum > 2 ? ft->nnum - 2 : 0;
	const double *e = ft->num + 1;
	for (int64_t i = 0; i < f->nrows; i++) {
		double x = jm_col_num(c, i);
		if (isnan(x)) {
			jm_col_ensure_na(o, f->nrows, NULL);
			o->na[i] = 1;
			continue;
		}
		int lo = 0, hi = inner;
		while (lo < hi) {
			int mid = (lo + hi) / 2;
			if (e[mid] <= x)
				lo = mid + 1;
			else
				hi = mid;
		}
		o->v.i64[i] = lo;
	}
	jm_col_sync_na(o, f->nrows);
	f->cols[j] = o;
	jm_col_free(c);
	return 0;
}

/* ---- date parts --------------------------------------------------------- */

static int apply_dates(const jm_feat_step *s, const char *name, jm_frame *f, jm_err *err)
{
	const jm_col *c = need(f, "dates", name, err);
	if (!c)
		return -1;
	if (c->type != JM_COL_TIME)
		return jm_err_set(err, JM_EXIT_INPUT, "[features] dates: column \"%s\" is %s, not "
				  "datetime (parse it with [clean] dates)", name, jm_coltype_name(c->type));
	int64_t n = f->nrows;
	for (int p = 0; p < 5; p++) {
		if (!(s->parts & (1u << p)))
			continue;
		char *cname = jm_xasprintf("%s_%s", name, part_names[p]);
		jm_col *o = jm_frame_add(f, cname, JM_COL_I64, err);
		free(cname);
		if (!o)
			return jm_err_prefix(err, "[features] dates");
		c = jm_frame_col(f, name);
		for (int64_t i = 0; i < n; i++) {
			if (jm_col_isna(c, i)) {
				jm_col_ensure_na(o, n, NULL);
				o->na[i] = 1;
				continue;
			}
			int64_t ns = c->v.ns[i], secs = ns / 1000000000;
			if (ns % 1000000000 < 0)
				secs--;
			int64_t days = secs / 86400, rem = secs % 86400;
			if (rem < 0) {
				rem += 86400;
				days--;
			}
			int64_t y;
			unsigned m, d;
			jm_civil_from_days(days, &y, &m, &d);
			int64_t v = p == 0 ? y : p == 1 ? m : p == 2 ? d :
				    p == 3 ? ((days % 7) + 7 + 3) % 7 /* 1970-01-01 was a Thursday */ :
				    rem / 3600;
			o->v.i64[i] = v;
		}
		jm_col_sync_na(o, n);
	}
	return 0;
}

/* ---- pairs: products, ratios, poly2 --------------------------------------- */

static int pair_column(jm_frame *f, const char *step, const char *a, const char *b, char op,
		       jm_err *err)
{
	const jm_col *ca = need_numeric(f, step, a, err), *cb = ca ? need_numeric(f, step, b, err) : NULL;
	if (!cb)
		return -1;
	char *name = op == '^' ? jm_xasprintf("%s^2", a) : jm_xasprintf("%s%c%s", a, op, b);
	jm_col *o = add_f64(f, name, err);
	free(name);
	if (!o)
		return -1;
	ca = jm_frame_col(f, a);
	cb = jm_frame_col(f, b);
	int64_t n = f->nrows;
	double *v = o->v.f64;
	int64_t nan = 0;
	if (ca->type == JM_COL_F64 && cb->type == JM_COL_F64 && op != '/') {
		const double *x = ca->v.f64, *y = cb->v.f64;
		for (int64_t i = 0; i < n; i++) {
			v[i] = x[i] * y[i];
			nan += isnan(v[i]);
		}
	} else {
		for (int64_t i = 0; i < n; i++) {
			double x = jm_col_num(ca, i), y = jm_col_num(cb, i);
			v[i] = op == '/' ? (y != 0 ? x / y : NAN) : x * y;
			nan += isnan(v[i]);
		}
	}
	if (nan)
		jm_col_sync_na(o, n);
	return 0;
}

static int apply_pairs(const jm_feat_step *s, const char *const *cols, int n, jm_frame *f,
		       jm_err *err)
{
	const char *step = steps_info[s->kind].key;
	for (int a = 0; a < n; a++)
		for (int b = s->kind == JM_FEAT_POLY2 ? a : a + 1; b < n; b++) {
			char op = s->kind == JM_FEAT_RATIOS ? '/' : a == b ? '^' : '*';
			if (pair_column(f, step, cols[a], cols[b], op, err) < 0)
				return -1;
		}
	return 0;
}

/* ---- groups: lag, rolling ----------------------------------------------- */

/* Dense group ids 0..*ngroups-1 for the by column of step s (all 0
 * without one). */
static int32_t *group_ids(const jm_frame *f, const jm_feat_step *s, int32_t *ngroups, jm_err *err)
{
	const char *by = s->by;
	int64_t n = f->nrows;
	int32_t *g = calloc(n > 0 ? (size_t)n : 1, sizeof *g);
	if (!g) {
		jm_err_set(err, JM_EXIT_FAIL, "out of memory");
		return NULL;
	}
	*ngroups = 1;
	if (!by)
		return g;
	const jm_col *c = need(f, s->kind == JM_FEAT_LAG ? "lag by" : "rolling by", by, err);
	if (!c) {
		free(g);
		return NULL;
	}
	if (c->type == JM_COL_I64 || c->type == JM_COL_BOOL) {
		/* small non-negative integers index a table directly */
		int64_t lo = INT64_MAX, hi = INT64_MIN;
		for (int64_t i = 0; i < n; i++) {
			int64_t v = c->type == JM_COL_I64 ? c->v.i64[i] : c->v.b[i];
			lo = v < lo ? v : lo;
			hi = v > hi ? v : hi;
		}
		if (n && lo >= 0 && hi < 4 * n + 1024) {
			int32_t *map = malloc(((size_t)hi + 2) * sizeof *map);
			if (map) {
				memset(map, 0xff, ((size_t)hi + 2) * sizeof *map);
				int32_t next = 0, na_id = -1;
				for (int64_t i = 0; i < n; i++) {
					if (jm_col_isna(c, i)) { /* missing keys form one group */
						if (na_id < 0)
							na_id = next++;
						g[i] = na_id;
						continue;
					}
					int64_t v = c->type == JM_COL_I64 ? c->v.i64[i] : c->v.b[i];
					if (map[v] < 0)
						map[v] = next++;
					g[i] = map[v];
				}
				free(map);
				*ngroups = next ? next : 1;
				return g;
			}
		}
	}
	/* any type: through a dictionary of the value text */
	jm_dict *d;
	int32_t *codes = value_codes(c, n, &d);
	if (!codes) {
		free(g);
		jm_err_set(err, JM_EXIT_FAIL, "out of memory");
		return NULL;
	}
	int32_t *map = jm_xmalloc(((size_t)d->n + 2) * sizeof *map);
	memset(map, 0xff, ((size_t)d->n + 2) * sizeof *map);
	int32_t next = 0;
	for (int64_t i = 0; i < n; i++) {
		int32_t k = codes[i] < 0 ? d->n : codes[i];
		if (map[k] < 0)
			map[k] = next++;
		g[i] = map[k];
	}
	free(map);
	free(codes);
	jm_dict_unref(d);
	*ngroups = next ? next : 1;
	return g;
}

/* Sort keys for ordering rows by (group, order value, row number). */
typedef struct row_key {
	int32_t g;
	double t;
	int64_t row;
} row_key;

static int cmp_rows(const void *pa, const void *pb)
{
	const row_key *a = pa, *b = pb;
	if (a->g != b->g)
		return a->g < b->g ? -1 : 1;
	int xn = isnan(a->t), yn = isnan(b->t);
	if (xn != yn)
		return xn - yn; /* missing order values last */
	if (!xn && a->t != b->t)
		return a->t < b->t ? -1 : 1;
	return (a->row > b->row) - (a->row < b->row);
}

/* Rows grouped: perm lists group 0's rows, then group 1's ...; start[g]
 * is where group g begins (ngroups + 1 entries). */
static int group_rows(const jm_frame *f, const jm_feat_step *s, int64_t **perm, int64_t **start,
		      int32_t *ngroups, jm_err *err)
{
	int64_t n = f->nrows;
	*perm = *start = NULL;
	int32_t *g = group_ids(f, s, ngroups, err);
	if (!g)
		return -1;
	*perm = malloc((n > 0 ? (size_t)n : 1) * sizeof **perm);
	*start = calloc((size_t)*ngroups + 1, sizeof **start);
	if (!*perm || !*start) {
		jm_err_set(err, JM_EXIT_FAIL, "out of memory");
		goto fail;
	}
	for (int64_t i = 0; i < n; i++)
		(*start)[g[i] + 1]++;
	for (int32_t k = 0; k < *ngroups; k++)
		(*start)[k + 1] += (*start)[k];
	int64_t *fill = jm_xmalloc(((size_t)*ngroups + 1) * sizeof *fill);
	memcpy(fill, *start, ((size_t)*ngroups + 1) * sizeof *fill);
	for (int64_t i = 0; i < n; i++)
		(*perm)[fill[g[i]]++] = i;
	free(fill);
	if (s->order) {
		const char *step = s->kind == JM_FEAT_LAG ? "lag order" : "rolling order";
		const jm_col *t = need(f, step, s->order, err);
		if (!t)
			goto fail;
		if (!is_numeric(t) && t->type != JM_COL_TIME) {
			jm_err_set(err, JM_EXIT_INPUT, "[features] %s: column \"%s\" is %s, not numeric "
				   "or datetime", step, s->order, jm_coltype_name(t->type));
			goto fail;
		}
		row_key *keys = malloc((n > 0 ? (size_t)n : 1) * sizeof *keys);
		if (!keys) {
			jm_err_set(err, JM_EXIT_FAIL, "out of memory");
			goto fail;
		}
		for (int64_t i = 0; i < n; i++) /* TIME as ns is exact in a double to 2^53 */
			keys[i] = (row_key){g[i], t->type == JM_COL_TIME && !jm_col_isna(t, i) ?
						  (double)t->v.ns[i] : jm_col_num(t, i), i};
		qsort(keys, (size_t)n, sizeof *keys, cmp_rows);
		for (int64_t i = 0; i < n; i++)
			(*perm)[i] = keys[i].row;
		free(keys);
	}
	free(g);
	return 0;
fail:
	/* the caller frees *perm and *start on its own way out: leave none */
	free(g);
	free(*perm);
	free(*start);
	*perm = *start = NULL;
	return -1;
}

/* mean, std (ddof=1), min, max of w values, as the stats mask asks. */
static inline void window_stats(const double *win, int w, unsigned stats, double out[4])
{
	double sum = 0, lo = win[0], hi = win[0];
	for (int i = 0; i < w; i++) {
		sum += win[i];
		lo = win[i] < lo ? win[i] : lo;
		hi = win[i] > hi ? win[i] : hi;
	}
	double mean = sum / w;
	out[0] = mean;
	if (stats & JM_ROLL_STD) {
		double ss = 0;
		for (int i = 0; i < w; i++)
			ss += (win[i] - mean) * (win[i] - mean);
		out[1] = w > 1 ? sqrt(ss / (w - 1)) : NAN;
	}
	out[2] = lo;
	out[3] = hi;
}

/* One row of a group at position p (0-based) whose value is v: update the
 * group's ring of the last w values and write the row's outputs. */
typedef struct group_state {
	double *ring;     /* ngroups * w */
	int64_t *seen;    /* rows seen per group */
	int64_t *nan_at;  /* position of the last missing value per group (-1) */
	int32_t *slot;    /* seen % w per group, kept without a division */
} group_state;

/* The ring slot of a group's next value (its position modulo w), advanced. */
static inline int next_slot(group_state *gs, int32_t g, int w)
{
	int slot = gs->slot[g];
	gs->slot[g] = slot + 1 == w ? 0 : slot + 1;
	return slot;
}

static inline void group_row(const jm_feat_step *s, group_state *gs, int32_t g, double v,
			     double *const out[4], int64_t row)
{
	int w = s->window;
	double *ring = gs->ring + (size_t)g * (size_t)w;
	int64_t p = gs->seen[g]++;
	int slot = next_slot(gs, g, w);
	if (s->kind == JM_FEAT_LAG) { /* the slot holds the value w rows back */
		out[0][row] = p >= w ? ring[slot] : NAN;
		ring[slot] = v;
		return;
	}
	ring[slot] = v;
	if (isnan(v))
		gs->nan_at[g] = p;
	double st[4] = {NAN, NAN, NAN, NAN};
	if (p + 1 >= w && gs->nan_at[g] <= p - w) /* min_periods = window */
		window_stats(ring, w, s->parts, st);
	for (int k = 0; k < 4; k++)
		if (out[k])
			out[k][row] = st[k];
}

/* The state group_row leaves after a row, without its outputs: used to
 * bring a later range's state up to where that range starts. */
static inline void group_skip(const jm_feat_step *s, group_state *gs, int32_t g, double v)
{
	double *ring = gs->ring + (size_t)g * (size_t)s->window;
	int64_t p = gs->seen[g]++;
	ring[next_slot(gs, g, s->window)] = v;
	if (isnan(v))
		gs->nan_at[g] = p;
}

static void group_state_free(group_state *gs)
{
	free(gs->ring);
	free(gs->seen);
	free(gs->nan_at);
	free(gs->slot);
}

static int group_state_init(group_state *gs, int32_t ng, int w)
{
	gs->ring = malloc((size_t)ng * (size_t)w * sizeof *gs->ring);
	gs->seen = calloc((size_t)ng, sizeof *gs->seen);
	gs->nan_at = malloc((size_t)ng * sizeof *gs->nan_at);
	gs->slot = calloc((size_t)ng, sizeof *gs->slot);
	if (!gs->ring || !gs->seen || !gs->nan_at || !gs->slot)
		return -1;
	for (int32_t k = 0; k < ng; k++)
		gs->nan_at[k] = -1;
	return 0;
}

/* File-order windows split in row ranges, one per task: task k replays
 * rows [0, from) through group_skip (cheap: no statistics), then computes
 * [from, to) exactly as one pass would, so the outputs do not depend on
 * the split. */
typedef struct roll_task {
	const jm_feat_step *s;
	const int32_t *g;
	const double *x;
	double *out[4];
	int32_t ng;
	int64_t cut[3];
	int rc[2];        /* per task: -1 out of memory */
} roll_task;

static void roll_range(void *arg, int k)
{
	roll_task *t = arg;
	group_state gs = {0};
	if (group_state_init(&gs, t->ng, t->s->window) < 0) {
		t->rc[k] = -1;
		group_state_free(&gs);
		return;
	}
	for (int64_t i = 0; i < t->cut[k]; i++)
		group_skip(t->s, &gs, t->g[i], t->x[i]);
	for (int64_t i = t->cut[k]; i < t->cut[k + 1]; i++)
		group_row(t->s, &gs, t->g[i], t->x[i], t->out, i);
	group_state_free(&gs);
}

static int apply_grouped(const jm_feat_step *s, const char *name, jm_frame *f, jm_err *err)
{
	const char *step = steps_info[s->kind].key;
	const jm_col *c = need_numeric(f, step, name, err);
	if (!c)
		return -1;
	/* by and order checked before the output columns join the list a
	 * "no column" message shows */
	int lag = s->kind == JM_FEAT_LAG;
	if ((s->by && !need(f, lag ? "lag by" : "rolling by", s->by, err)) ||
	    (s->order && !need(f, lag ? "lag order" : "rolling order", s->order, err)))
		return -1;
	int64_t n = f->nrows;
	int w = s->window, rc = -1;
	double *own = NULL;
	const double *x = c->type == JM_COL_F64 ? c->v.f64 : (own = doubles(c, n));
	double *out[4] = {0};
	char *names[4] = {0};
	group_state gs = {0};
	int64_t *perm = NULL, *start = NULL;
	int32_t ng, *g = NULL;
	if (!x)
		return jm_err_set(err, JM_EXIT_FAIL, "out of memory");
	/* the output columns (adding columns never moves x) */
	for (int st = 0; st < 4; st++) {
		if (s->kind == JM_FEAT_LAG ? st > 0 : !(s->parts & (1u << st)))
			continue;
		names[st] = s->kind == JM_FEAT_LAG ? jm_xasprintf("%s_lag%d", name, w) :
			    jm_xasprintf("%s_roll%d_%s", name, w, roll_names[st]);
		jm_col *o = add_f64(f, names[st], err);
		if (!o)
			goto out;
		out[st] = o->v.f64;
	}
	if (s->order) { /* rows of each group sorted by the order column */
		if (group_rows(f, s, &perm, &start, &ng, err) < 0)
			goto out;
	} else if (!(g = group_ids(f, s, &ng, err))) {
		goto out;
	}
	if (g) { /* file order: each group's last values kept in a ring; two
		  * row ranges on two cores, the second a little shorter as it
		  * replays the first's rows before its own */
		roll_task t = {.s = s, .g = g, .x = x, .ng = ng, .cut = {0, n * 11 / 20, n}};
		memcpy(t.out, out, sizeof out);
		int parts = n >= 200000 && sysconf(_SC_NPROCESSORS_ONLN) > 1 ? 2 : 1;
		if (parts == 1)
			t.cut[1] = n;
		jm_parallel_for(parts, roll_range, &t, n); /* each task: its own rows of out */
		if (t.rc[0] < 0 || t.rc[1] < 0) {
			jm_err_set(err, JM_EXIT_FAIL, "out of memory");
			goto out;
		}
	} else {
		if (group_state_init(&gs, ng, w) < 0) {
			jm_err_set(err, JM_EXIT_FAIL, "out of memory");
			goto out;
		}
		for (int32_t k = 0; k < ng; k++)
			for (int64_t p = start[k]; p < start[k + 1]; p++)
				group_row(s, &gs, k, x[perm[p]], out, perm[p]);
	}
	for (int st = 0; st < 4; st++)
		if (names[st])
			jm_col_sync_na(jm_frame_col(f, names[st]), n);
	rc = 0;
out:
	for (int st = 0; st < 4; st++)
		free(names[st]);
	group_state_free(&gs);
	free(own);
	free(g);
	free(perm);
	free(start);
	return rc;
}

/* ---- running ------------------------------------------------------------ */

/* Stage order: plugin steps see raw and derived columns (after rolling)
 * and run before the pairwise products and the scalers. */
static const jm_feat_kind stage_order[] = {
	JM_FEAT_DATES, JM_FEAT_LAG, JM_FEAT_ROLLING, JM_FEAT_PLUGIN, JM_FEAT_PRODUCTS,
	JM_FEAT_RATIOS, JM_FEAT_POLY2, JM_FEAT_LOG1P, JM_FEAT_BINS, JM_FEAT_ONEHOT,
	JM_FEAT_ORDINAL, JM_FEAT_MINMAX, JM_FEAT_STANDARDIZE,
};

static int *step_order(const jm_features *fs)
{
	int *ord = jm_xmalloc(((size_t)fs->n + 1) * sizeof *ord), k = 0;
	for (size_t j = 0; j < sizeof stage_order / sizeof *stage_order; j++)
		for (int i = 0; i < fs->n; i++)
			if (fs->steps[i].kind == stage_order[j])
				ord[k++] = i;
	return ord;
}

/* A plugin step: columns in (float64, NaN missing), "<col>_<suffix>"
 * out; fit (training rows) keeps the operator's state blob. */
static int run_plugin(jm_feat_step *s, jm_frame *f, int fit, jm_err *err)
{
	jm_plugin_call call;
	char why[1024];
	if (jm_plugin_parse_call(s->plugin, JM_PLUGIN_OP_FEATURE, &call, why, sizeof why) < 0)
		return jm_err_set(err, JM_EXIT_INPUT, "[features] plugin: %s", why);
	const jm_plugin_feature *op = &call.op->feature;
	int nin = s->nfit, nsuf = call.op->n_suffixes, nout = nin * nsuf, rc = -1;
	const char **names = jm_xcalloc((size_t)nin + 1, sizeof *names);
	const double **in = jm_xcalloc((size_t)nin + 1, sizeof *in);
	double **out = jm_xcalloc((size_t)nout + 1, sizeof *out);
	jm_col **oc = jm_xcalloc((size_t)nout + 1, sizeof *oc);
	for (int k = 0; k < nin; k++)
		if (!need_f64(f, "plugin", s->fit[k].col, err))
			goto out;
	for (int k = 0; k < nin; k++)
		for (int q = 0; q < nsuf; q++) {
			char *name = jm_xasprintf("%s_%s", s->fit[k].col, op->suffixes[q]);
			oc[k * nsuf + q] = add_f64(f, name, err);
			free(name);
			if (!oc[k * nsuf + q])
				goto out;
		}
	for (int k = 0; k < nin; k++) { /* after adding: columns may have moved */
		names[k] = s->fit[k].col;
		in[k] = jm_frame_col(f, s->fit[k].col)->v.f64;
	}
	for (int k = 0; k < nout; k++)
		out[k] = oc[k]->v.f64;
	jm_plugin_columns cols = {JM_PLUGIN_HEADER(jm_plugin_columns), .args = call.args,
				  .rows = f->nrows, .n_in = nin, .names = names, .in = in,
				  .n_out = nout, .out = out};
	if (fit) {
		free(s->blob);
		s->blob = NULL;
		s->blob_size = 0;
		void *blob = NULL;
		size_t size = 0;
		const char *msg = op->fit ? op->fit(&cols, &blob, &size) : NULL;
		s->blob = blob;
		s->blob_size = blob ? size : 0;
		if (msg) {
			jm_err_set(err, JM_EXIT_INPUT, "[features] plugin: %s: fit: %s", call.op->name, msg);
			goto out;
		}
	}
	cols.state = s->blob;
	cols.state_size = s->blob_size;
	const char *msg = op->apply(&cols);
	if (msg) {
		jm_err_set(err, JM_EXIT_INPUT, "[features] plugin: %s: %s", call.op->name, msg);
		goto out;
	}
	for (int k = 0; k < nout; k++)
		jm_col_sync_na(oc[k], f->nrows);
	rc = 0;
out:
	free(names);
	free(in);
	free(out);
	free(oc);
	return rc;
}

static int run_step(const jm_features *fs, jm_feat_step *s, jm_frame *f, int fit, jm_err *err)
{
	const char **cols = NULL;
	int n = 0, rc = -1;
	if (fit) {
		step_clear_fit(s);
		if (step_cols(fs, s, f, &cols, &n, err) < 0)
			return -1;
		/* the resolved column list is what gets replayed */
		for (int k = 0; k < n; k++)
			fit_add(s, cols[k]);
		if (s->kind == JM_FEAT_STANDARDIZE || s->kind == JM_FEAT_MINMAX ||
		    s->kind == JM_FEAT_ONEHOT || s->kind == JM_FEAT_ORDINAL || s->kind == JM_FEAT_BINS) {
			/* these learn numbers: refit each entry */
			int nf = s->nfit, r = 0;
			jm_feat_fit *old = s->fit;
			char **names = jm_xcalloc((size_t)nf + 1, sizeof *names);
			for (int k = 0; k < nf; k++)
				names[k] = old[k].col;
			s->fit = NULL;
			s->nfit = 0;
			if (s->kind == JM_FEAT_STANDARDIZE || s->kind == JM_FEAT_MINMAX)
				r = fit_scalers(s, f, names, nf, err);
			for (int k = 0; k < nf && r == 0; k++)
				if (s->kind == JM_FEAT_ONEHOT || s->kind == JM_FEAT_ORDINAL)
					r = fit_categories(s, f, names[k], err);
				else if (s->kind == JM_FEAT_BINS)
					r = fit_bins(s, f, names[k], err);
			for (int i = 0; i < nf; i++)
				free(old[i].col);
			free(old);
			free(names);
			if (r < 0)
				goto out;
		}
	}
	free(cols);
	cols = jm_xmalloc(((size_t)s->nfit + 1) * sizeof *cols);
	n = s->nfit;
	for (int k = 0; k < n; k++)
		cols[k] = s->fit[k].col;
	switch (s->kind) {
	case JM_FEAT_PRODUCTS:
	case JM_FEAT_RATIOS:
	case JM_FEAT_POLY2:
		if (apply_pairs(s, cols, n, f, err) < 0)
			goto out;
		break;
	case JM_FEAT_STANDARDIZE:
	case JM_FEAT_MINMAX:
	case JM_FEAT_LOG1P:
		if (apply_scalers(s, f, err) < 0)
			goto out;
		break;
	case JM_FEAT_PLUGIN:
		if (run_plugin(s, f, fit, err) < 0)
			goto out;
		break;
	default:
		for (int k = 0; k < n; k++) {
			const jm_feat_fit *ft = &s->fit[k];
			int r;
			switch (s->kind) {
			case JM_FEAT_DATES: r = apply_dates(s, ft->col, f, err); break;
			case JM_FEAT_LAG:
			case JM_FEAT_ROLLING: r = apply_grouped(s, ft->col, f, err); break;
			case JM_FEAT_ONEHOT: r = apply_onehot(ft, f, err); break;
			case JM_FEAT_ORDINAL: r = apply_ordinal(ft, f, err); break;
			case JM_FEAT_BINS: r = apply_bins(ft, f, err); break;
			default: r = apply_scaler(s, ft, f, err);
			}
			if (r < 0)
				goto out;
		}
	}
	rc = 0;
out:
	free(cols);
	return rc;
}

static void add_note(jm_features *fs, char *note)
{
	fs->notes = jm_xrealloc(fs->notes, (size_t)(fs->nnotes + 1) * sizeof *fs->notes);
	fs->notes[fs->nnotes++] = note;
}

static int is_dropped(const jm_features *fs, const char *name)
{
	for (int i = 0; i < fs->ndrop; i++)
		if (strcmp(fs->drop[i], name) == 0)
			return 1;
	return 0;
}

/* A float target whose values are whole numbers, as an int column (the
 * classes of 0.0/1.0 labels are "0" and "1"); NULL with err set when a
 * value has a fraction. */
static jm_col *int_labels(const jm_col *t, int64_t n, jm_err *err)
{
	jm_col *copy = jm_col_new(t->name, JM_COL_I64, n, err);
	if (!copy)
		return NULL;
	for (int64_t i = 0; i < n; i++) {
		if (jm_col_isna(t, i)) {
			jm_col_ensure_na(copy, n, NULL);
			copy->na[i] = 1;
			continue;
		}
		double v = t->v.f64[i];
		if (v != floor(v) || fabs(v) > 9e15) {
			jm_col_free(copy);
			jm_err_set(err, JM_EXIT_INPUT, "[features] target \"%s\": %g is not a class label; "
				   "set task = regression", t->name, v);
			return NULL;
		}
		copy->v.i64[i] = (int64_t)v;
	}
	jm_col_sync_na(copy, n);
	return copy;
}

/* The sorted class labels (as text) of target column t. */
static int fit_classes(const jm_col *t, int64_t n, char ***classes, int *nclasses, jm_err *err)
{
	jm_feat_step tmp = {.kind = JM_FEAT_ORDINAL};
	jm_col *copy = t->type == JM_COL_F64 ? int_labels(t, n, err) : NULL;
	if (t->type == JM_COL_F64 && !copy)
		return -1;
	jm_col *col = copy ? copy : (jm_col *)t;
	jm_frame tf = {.nrows = n, .ncols = 1, .cap = 1, .cols = &col};
	int r = fit_categories(&tmp, &tf, t->name, err);
	jm_col_free(copy);
	if (r < 0)
		return -1;
	*classes = tmp.fit[0].text;
	*nclasses = tmp.fit[0].ntext;
	tmp.fit[0].text = NULL;
	tmp.fit[0].ntext = 0;
	step_clear_fit(&tmp);
	return 0;
}

/* Per row, the index of the row's label among classes (-1: missing or
 * not a class); NULL with err set. */
static int32_t *class_index(const jm_col *t, int64_t n, char *const *classes, int nclasses,
			    jm_err *err)
{
	jm_col *copy = t->type == JM_COL_F64 ? int_labels(t, n, err) : NULL;
	if (t->type == JM_COL_F64 && !copy)
		return NULL;
	jm_feat_fit ft = {.col = t->name, .ntext = nclasses, .text = (char **)classes};
	int32_t *label = category_index(copy ? copy : t, n, &ft);
	jm_col_free(copy);
	if (!label)
		jm_err_set(err, JM_EXIT_FAIL, "out of memory");
	return label;
}

int jm_target_classes(const jm_frame *f, const char *target, int32_t **labels, int *nclasses,
		      char ***classes, jm_err *err)
{
	*labels = NULL;
	*classes = NULL;
	*nclasses = 0;
	const jm_col *t = jm_frame_col(f, target);
	if (!t)
		return no_column(err, f, "target", target);
	if (t->type == JM_COL_TIME)
		return jm_err_set(err, JM_EXIT_INPUT, "[features] target \"%s\" holds dates", target);
	if (fit_classes(t, f->nrows, classes, nclasses, err) < 0)
		return -1;
	if (!(*labels = class_index(t, f->nrows, *classes, *nclasses, err))) {
		for (int k = 0; k < *nclasses; k++)
			free((*classes)[k]);
		free(*classes);
		*classes = NULL;
		*nclasses = 0;
		return -1;
	}
	return 0;
}

/* An error of the spec key (a step's, or drop, target, task), located
 * when the caller said where the spec was written. */
static void locate_key(const jm_features *fs, const char *key, jm_err *err)
{
	if (fs->locate && key && err)
		fs->locate(fs->locate_ctx, key, err);
}

/* The shape of a decimal number: [sign] digits [. digits] [e [sign]
 * digits], blanks around it, at least one digit before the exponent. */
static int looks_decimal(const char *s, size_t n)
{
	size_t i = 0, digits = 0;
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		n--;
	while (i < n && (s[i] == ' ' || s[i] == '\t'))
		i++;
	if (i < n && (s[i] == '+' || s[i] == '-'))
		i++;
	for (; i < n && isdigit((unsigned char)s[i]); i++)
		digits++;
	if (i < n && s[i] == '.')
		for (i++; i < n && isdigit((unsigned char)s[i]); i++)
			digits++;
	if (digits && i < n && (s[i] == 'e' || s[i] == 'E')) {
		if (++i < n && (s[i] == '+' || s[i] == '-'))
			i++;
		size_t e = i;
		while (i < n && isdigit((unsigned char)s[i]))
			i++;
		if (i == e)
			return 0;
	}
	return digits && i == n;
}

/* A text column whose every value has the shape of a number once its
 * decimal comma is a point ("39,1"; "1.234,5" with points between thousands):
 * the first such value, for a note that says so instead of advising an
 * encoding; NULL when some value is other text or none has a comma. */
static const char *decimal_comma_value(const jm_col *c)
{
	const jm_dict *d = c->dict;
	const char *example = NULL;
	char buf[64];
	for (int32_t k = 0; d && k < d->n; k++) {
		const char *v = d->s[k];
		size_t len = d->len[k], n = 0;
		const char *comma = memchr(v, ',', len);
		if (!comma) {
			if (!looks_decimal(v, len))
				return NULL;
			continue;
		}
		if (len >= sizeof buf || memchr(comma + 1, ',', len - (size_t)(comma + 1 - v)))
			return NULL;
		for (size_t i = 0; i < len; i++) /* drop thousands points, the comma -> '.' */
			if (v[i] != '.' || v + i > comma)
				buf[n++] = v[i] == ',' ? '.' : v[i];
		if (!looks_decimal(buf, n))
			return NULL;
		if (!example)
			example = v;
	}
	return example;
}

/* Inputs and the target's classes, from the transformed training frame;
 * on an error, *key is the spec key at fault (NULL: none is). */
static int fit_model_view(jm_features *fs, const jm_frame *f, const char **key, jm_err *err)
{
	*key = "drop";
	for (int i = 0; i < fs->ndrop; i++)
		if (!jm_frame_col(f, fs->drop[i]))
			return no_column(err, f, "drop", fs->drop[i]);
	*key = "target";
	const jm_col *t = NULL;
	if (fs->target && !(t = jm_frame_col(f, fs->target)))
		return no_column(err, f, "target", fs->target);
	*key = NULL;
	fs->inputs = jm_xmalloc(((size_t)f->ncols + 1) * sizeof *fs->inputs);
	for (int j = 0; j < f->ncols; j++) {
		const jm_col *c = f->cols[j];
		if (c == t || is_dropped(fs, c->name))
			continue;
		const char *comma = c->type == JM_COL_STR ? decimal_comma_value(c) : NULL;
		char shown[64];
		if (is_numeric(c))
			fs->inputs[fs->ninputs++] = jm_xstrdup(c->name);
		else if (comma)
			add_note(fs, jm_xasprintf("column \"%s\" (string) is not a model input: it looks "
						  "like numbers with decimal commas (\"%s\"), which are "
						  "read as text; write the file with \".\" as the decimal "
						  "mark", c->name, jm_escape_text(shown, sizeof shown,
										   comma)));
		else
			add_note(fs, jm_xasprintf("column \"%s\" (%s) is not a model input%s", c->name,
						  jm_coltype_name(c->type),
						  c->type == JM_COL_STR ? ": encode it with onehot or ordinal" :
						  ": split it with dates"));
	}
	if (!fs->ninputs)
		return jm_err_set(err, JM_EXIT_INPUT, "[features] no numeric input columns are left");
	if (!t)
		return 0;
	*key = "target";
	const char *task = fs->task ? fs->task : "auto";
	if (strcmp(task, "auto") == 0) {
		/* text and bool targets are classes; numbers with few distinct
		 * integer values too; other numbers are regression */
		if (t->type == JM_COL_STR || t->type == JM_COL_BOOL) {
			fs->classification = 1;
		} else if (t->type == JM_COL_TIME) {
			return jm_err_set(err, JM_EXIT_INPUT, "[features] target \"%s\" holds dates", t->name);
		} else {
			int integral = 1;
			jm_dict *d = jm_dict_new();
			char buf[64];
			for (int64_t i = 0; i < f->nrows && integral && d->n <= 20; i++) {
				double v = jm_col_num(t, i);
				if (isnan(v))
					continue;
				integral = v == floor(v);
				const char *s = jm_col_text(t, i, buf, sizeof buf);
				jm_dict_intern(d, s, strlen(s));
			}
			fs->classification = integral && d->n <= 20;
			jm_dict_unref(d);
		}
	} else {
		fs->classification = strcmp(task, "classification") == 0;
		*key = "task";
		if (!fs->classification && !is_numeric(t))
			return jm_err_set(err, JM_EXIT_INPUT, "[features] task regression: target \"%s\" is %s",
					  t->name, jm_coltype_name(t->type));
		*key = "target";
	}
	if (fs->classification) {
		if (fit_classes(t, f->nrows, &fs->classes, &fs->nclasses, err) < 0)
			return -1;
		if (fs->nclasses < 2)
			return jm_err_set(err, JM_EXIT_INPUT, "[features] target \"%s\": %d class%s in the "
					  "training data; classification needs at least 2",
					  t->name, fs->nclasses, fs->nclasses == 1 ? "" : "es");
	}
	return 0;
}

int jm_features_fit_apply(jm_features *fs, jm_frame *f, jm_err *err)
{
	clear_fitted(fs);
	int *ord = step_order(fs), rc = -1;
	const char *key;
	for (int k = 0; k < fs->n; k++) {
		jm_feat_step *s = &fs->steps[ord[k]];
		if (run_step(fs, s, f, 1, err) < 0) {
			locate_key(fs, steps_info[s->kind].key, err);
			goto out;
		}
	}
	if (fit_model_view(fs, f, &key, err) < 0) {
		locate_key(fs, key, err);
		clear_fitted(fs);
		goto out;
	}
	fs->fitted = 1;
	rc = 0;
out:
	free(ord);
	return rc;
}

int jm_features_apply(const jm_features *fs, jm_frame *f, jm_err *err)
{
	if (!fs->fitted)
		return jm_err_set(err, JM_EXIT_FAIL, "[features] applied before they were fitted");
	int *ord = step_order(fs), rc = 0;
	for (int k = 0; k < fs->n && rc == 0; k++) {
		jm_feat_step *s = &fs->steps[ord[k]];
		if ((rc = run_step(fs, s, f, 0, err)) < 0)
			locate_key(fs, steps_info[s->kind].key, err);
	}
	free(ord);
	return rc;
}

/* ---- the matrix ----------------------------------------------------------- */

void jm_matrix_free(jm_matrix *m)
{
	if (!m)
		return;
	free(m->x);
	free(m->y_class);
	free(m->y_value);
	memset(m, 0, sizeof *m);
}

/* "in 3 of the 40 validation rows", "in 3 of 40 rows", "in all 3 test
 * rows", "in the one row" */
static void rows_phrase(char *buf, size_t n, int64_t count, int64_t rows, const char *what)
{
	const char *w = what ? what : "", *sp = what ? " " : "";
	if (count == rows && rows == 1)
		snprintf(buf, n, "in the one %s%srow", w, sp);
	else if (count == rows)
		snprintf(buf, n, "in all %" PRId64 " %s%srows", rows, w, sp);
	else
		snprintf(buf, n, "in %" PRId64 " of %s%" PRId64 " %s%srows", count, what ? "the " : "",
			 rows, w, sp);
}

/* An input column (or a regression target) holding an infinite value in
 * a row kept for the model
 * (the CSV's "inf", or what a step made of one): an error naming how
 * many and, in *bad, the row of the first.  [clean] has no rule for them; [data] na_values reads them
 * as missing, so the message says that. */
static int infinite_values(const jm_col *c, const char *what, int64_t n, const uint8_t *keep,
			   const char *rows_name, int64_t *bad, jm_err *err)
{
	if (c->type != JM_COL_F64)
		return 0;
	int64_t count = 0, first = -1;
	for (int64_t i = 0; i < n; i++)
		if (keep[i] && isinf(c->v.f64[i]) && count++ == 0)
			first = i;
	if (!count)
		return 0;
	*bad = first;
	char rows[96], then[200];
	snprintf(rows, sizeof rows, "%s%" PRId64 " %s%srows", rows_name ? "the " : "", n,
		 rows_name ? rows_name : "", rows_name ? " " : "");
	if (strcmp(what, "target"))
		snprintf(then, sizeof then, "fill them in [clean]");
	else
		snprintf(then, sizeof then, "drop those rows with [clean] missing = drop: %s", c->name);
	return jm_err_set(err, JM_EXIT_INPUT,
			  "[features] %s \"%s\" has %" PRId64 " infinite value%s among %s; "
			  "a model needs finite numbers: read them as missing with [data] na_values "
			  "= inf, -inf (as the file spells them), then %s", what, c->name, count,
			  count == 1 ? "" : "s", rows, then);
}

int jm_features_matrix(const jm_features *fs, const jm_frame *f, const char *rows_name,
		       jm_matrix *m, jm_err *err)
{
	memset(m, 0, sizeof *m);
	m->bad_row = -1;
	if (!fs->fitted)
		return jm_err_set(err, JM_EXIT_FAIL, "[features] matrix before fitting");
	int nc = fs->ninputs, rc = -1;
	int64_t n = f->nrows;
	const char *policy = fs->missing ? fs->missing : "error";
	const jm_col **cols = jm_xmalloc(((size_t)nc + 1) * sizeof *cols);
	const jm_col *t = fs->target ? jm_frame_col(f, fs->target) : NULL;
	uint8_t *keep = jm_xmalloc(n > 0 ? (size_t)n : 1);
	int32_t *label = NULL;
	memset(keep, 1, (size_t)n);
	for (int j = 0; j < nc; j++) {
		cols[j] = jm_frame_col(f, fs->inputs[j]);
		if (!cols[j]) {
			char esc[200], hint[800];
			jm_columns_hint(hint, sizeof hint, f, fs->inputs[j]);
			jm_err_set(err, JM_EXIT_INPUT, "[features] input column \"%s\" is not in this "
				   "data%s", jm_escape_text(esc, sizeof esc, fs->inputs[j]), hint);
			goto out;
		}
		if (!is_numeric(cols[j])) {
			jm_err_set(err, JM_EXIT_INPUT, "[features] input column \"%s\" is %s here",
				   fs->inputs[j], jm_coltype_name(cols[j]->type));
			goto out;
		}
		if (cols[j]->n_na && strcmp(policy, "error") == 0) {
			char where[128];
			rows_phrase(where, sizeof where, cols[j]->n_na, n, rows_name);
			for (int64_t i = 0; i < n && m->bad_row < 0; i++)
				if (cols[j]->na[i])
					m->bad_row = i;
			m->bad_missing = 1;
			jm_err_set(err, JM_EXIT_INPUT,
				   "[features] input column \"%s\" is missing %s; fill %s in [clean] or "
				   "set [features] missing = zero or drop", cols[j]->name, where,
				   cols[j]->n_na == 1 ? "it" : "them");
			goto out;
		}
		if (cols[j]->n_na && strcmp(policy, "drop") == 0)
			for (int64_t i = 0; i < n; i++)
				if (cols[j]->na[i])
					keep[i] = 0;
	}
	if (t) {
		m->has_target = 1;
		m->classification = fs->classification;
		m->nclasses = fs->nclasses;
		if (fs->classification) {
			if (!(label = class_index(t, n, fs->classes, fs->nclasses, err)))
				goto out;
			for (int64_t i = 0; i < n; i++) {
				if (jm_col_isna(t, i)) {
					keep[i] = 0;
				} else if (label[i] < 0) {
					char buf[64];
					m->bad_row = i;
					jm_err_set(err, JM_EXIT_INPUT,
						   "[features] target \"%s\": class \"%s\"%s%s%s was not in the "
						   "training data", t->name, jm_col_text(t, i, buf, sizeof buf),
						   rows_name ? " (in the " : "", rows_name ? rows_name : "",
						   rows_name ? " rows)" : "");
					goto out;
				}
			}
		} else {
			if (!is_numeric(t)) {
				jm_err_set(err, JM_EXIT_INPUT, "[features] target \"%s\" is %s here", t->name,
					   jm_coltype_name(t->type));
				goto out;
			}
			for (int64_t i = 0; i < n; i++)
				if (jm_col_isna(t, i))
					keep[i] = 0;
			if (infinite_values(t, "target", n, keep, rows_name, &m->bad_row, err) < 0)
				goto out;
		}
	}
	for (int j = 0; j < nc; j++)
		if (infinite_values(cols[j], "input column", n, keep, rows_name, &m->bad_row, err) < 0)
			goto out;
	int64_t rows = 0;
	for (int64_t i = 0; i < n; i++)
		rows += keep[i];
	m->rows = rows;
	m->cols = nc;
	m->dropped = n - rows;
	m->x = malloc((rows > 0 ? (size_t)rows : 1) * (size_t)nc * sizeof *m->x);
	if (t && fs->classification)
		m->y_class = malloc((rows > 0 ? (size_t)rows : 1) * sizeof *m->y_class);
	else if (t)
		m->y_value = malloc((rows > 0 ? (size_t)rows : 1) * sizeof *m->y_value);
	if (!m->x || (t && !m->y_class && !m->y_value)) {
		jm_err_set(err, JM_EXIT_FAIL, "out of memory for a %" PRId64 " x %d matrix", rows, nc);
		goto out;
	}
	for (int j = 0; j < nc; j++) {
		const jm_col *c = cols[j];
		float *o = m->x + j;
		int64_t r = 0;
		for (int64_t i = 0; i < n; i++) {
			if (!keep[i])
				continue;
			double v;
			if (jm_col_isna(c, i)) {
				v = 0;
				m->zeroed++;
			} else {
				v = c->type == JM_COL_F64 ? c->v.f64[i] : c->type == JM_COL_I64 ?
				    (double)c->v.i64[i] : c->v.b[i];
			}
			o[r * nc] = (float)v;
			r++;
		}
	}
	if (t) {
		int64_t r = 0;
		for (int64_t i = 0; i < n; i++) {
			if (!keep[i])
				continue;
			if (m->y_class)
				m->y_class[r] = label[i];
			else
				m->y_value[r] = (float)jm_col_num(t, i);
			r++;
		}
	}
	rc = 0;
out:
	if (rc < 0) {
		int64_t bad = m->bad_row; /* what the caller is told, past the free */
		int bad_missing = m->bad_missing;
		jm_matrix_free(m);
		m->bad_row = bad;
		m->bad_missing = bad_missing;
	}
	free(cols);
	free(keep);
	free(label);
	return rc;
}

/* ---- saved state ------------------------------------------------------------ */

static void str_list(FILE *out, char *const *v, int n)
{
	fprintf(out, " %d", n);
	for (int i = 0; i < n; i++) {
		fputc(' ', out);
		jm_state_str(out, v[i]);
	}
}

/* Format:
 *   jianmo-features 1 NSTEPS
 *   step KIND WINDOW PARTS BY ORDER NCOLS COL... NFIT
 *   fit COL NNUM NUM... NTEXT TEXT...           (NFIT lines)
 *   plugin CALL HEX                             (plugin steps: the operator
 *                                                and its state, hex) 
 *   model TARGET TASK MISSING CLASSIFICATION NDROP DROP... NINPUTS INPUT...
 *   classes NCLASSES CLASS...
 *   notes NNOTES NOTE... */
int jm_features_save(const jm_features *fs, FILE *out, jm_err *err)
{
	fprintf(out, "jianmo-features 1 %d\n", fs->n);
	for (int i = 0; i < fs->n; i++) {
		const jm_feat_step *s = &fs->steps[i];
		fprintf(out, "step %d %d %u ", (int)s->kind, s->window, s->parts);
		jm_state_str(out, s->by);
		fputc(' ', out);
		jm_state_str(out, s->order);
		str_list(out, s->cols, s->ncols);
		fprintf(out, " %d\n", s->nfit);
		for (int k = 0; k < s->nfit; k++) {
			const jm_feat_fit *ft = &s->fit[k];
			fputs("fit ", out);
			jm_state_str(out, ft->col);
			fprintf(out, " %d", ft->nnum);
			for (int q = 0; q < ft->nnum; q++) {
				fputc(' ', out);
				jm_state_num(out, ft->num[q]);
			}
			str_list(out, ft->text, ft->ntext);
			fputc('\n', out);
		}
		if (s->kind == JM_FEAT_PLUGIN) {
			fputs("plugin ", out);
			jm_state_str(out, s->plugin);
			fputs(" \"", out);
			for (size_t b = 0; b < s->blob_size; b++)
				fprintf(out, "%02x", s->blob[b]);
			fputs("\"\n", out);
		}
	}
	fputs("model ", out);
	jm_state_str(out, fs->target);
	fputc(' ', out);
	jm_state_str(out, fs->task);
	fputc(' ', out);
	jm_state_str(out, fs->missing);
	fprintf(out, " %d", fs->classification);
	str_list(out, fs->drop, fs->ndrop);
	str_list(out, fs->inputs, fs->ninputs);
	fputs("\nclasses", out);
	str_list(out, fs->classes, fs->nclasses);
	fputs("\nnotes", out);
	str_list(out, fs->notes, fs->nnotes);
	fputc('\n', out);
	if (ferror(out))
		return jm_err_set(err, JM_EXIT_FAIL, "writing the [features] state: %s", strerror(errno));
	return 0;
}

static int load_list(jm_state_reader *r, char ***v, int *n)
{
	int k;
	if (jm_state_int(r, &k, 0, 1 << 24) < 0)
		return -1;
	*v = jm_xcalloc((size_t)k + 1, sizeof **v);
	for (*n = 0; *n < k; (*n)++)
		if (jm_state_tok(r, &(*v)[*n]) != 1 || !(*v)[*n])
			return -1;
	return 0;
}

static int load_plugin_state(jm_state_reader *rd, jm_feat_step *s)
{
	char *hex = NULL;
	int rc = -1;
	if (!jm_state_next(rd) || jm_state_word(rd, "plugin") < 0 || jm_state_tok(rd, &s->plugin) != 1 ||
	    !s->plugin || jm_state_tok(rd, &hex) != 1 || !hex)
		goto out;
	size_t len = strlen(hex);
	if (len % 2)
		goto out;
	s->blob_size = len / 2;
	s->blob = jm_xmalloc(s->blob_size + 1);
	for (size_t b = 0; b < s->blob_size; b++) {
		unsigned v;
		if (!isxdigit((unsigned char)hex[2 * b]) || !isxdigit((unsigned char)hex[2 * b + 1]) ||
		    sscanf(hex + 2 * b, "%2x", &v) != 1)
			goto out;
		s->blob[b] = (unsigned char)v;
	}
	rc = 0;
out:
	free(hex);
	return rc;
}

int jm_features_load(jm_features *fs, FILE *in, jm_err *err)
{
	jm_state_reader rd = {.in = in};
	int nsteps, rc = -1;
	jm_features_init(fs);
	if (!jm_state_next(&rd) || jm_state_word(&rd, "jianmo-features") < 0 || jm_state_word(&rd, "1") < 0 ||
	    jm_state_int(&rd, &nsteps, 0, 1 << 20) < 0)
		goto bad;
	fs->steps = jm_xcalloc((size_t)nsteps + 1, sizeof *fs->steps);
	fs->cap = nsteps + 1;
	for (int i = 0; i < nsteps; i++) {
		jm_feat_step *s = &fs->steps[fs->n++];
		int kind, parts, nfit;
		if (!jm_state_next(&rd) || jm_state_word(&rd, "step") < 0 ||
		    jm_state_int(&rd, &kind, 0, NSTEPKINDS - 1) < 0 || jm_state_int(&rd, &s->window, 0, 1000000) < 0 ||
		    jm_state_int(&rd, &parts, 0, 31) < 0 || jm_state_tok(&rd, &s->by) != 1 ||
		    jm_state_tok(&rd, &s->order) != 1 || load_list(&rd, &s->cols, &s->ncols) < 0 ||
		    jm_state_int(&rd, &nfit, 0, 1 << 20) < 0)
			goto bad;
		s->kind = (jm_feat_kind)kind;
		s->parts = (unsigned)parts;
		s->fit = jm_xcalloc((size_t)nfit + 1, sizeof *s->fit);
		for (int k = 0; k < nfit; k++) {
			jm_feat_fit *ft = &s->fit[s->nfit++];
			int nnum;
			if (!jm_state_next(&rd) || jm_state_word(&rd, "fit") < 0 || jm_state_tok(&rd, &ft->col) != 1 ||
			    !ft->col || jm_state_int(&rd, &nnum, 0, 1 << 20) < 0)
				goto bad;
			ft->num = jm_xcalloc((size_t)nnum + 1, sizeof *ft->num);
			for (; ft->nnum < nnum; ft->nnum++)
				if (jm_state_double(&rd, &ft->num[ft->nnum]) < 0)
					goto bad;
			if (load_list(&rd, &ft->text, &ft->ntext) < 0)
				goto bad;
		}
		if (s->kind == JM_FEAT_PLUGIN && load_plugin_state(&rd, s) < 0)
			goto bad;
	}
	if (!jm_state_next(&rd) || jm_state_word(&rd, "model") < 0 || jm_state_tok(&rd, &fs->target) != 1 ||
	    jm_state_tok(&rd, &fs->task) != 1 || jm_state_tok(&rd, &fs->missing) != 1 ||
	    jm_state_int(&rd, &fs->classification, 0, 1) < 0 || load_list(&rd, &fs->drop, &fs->ndrop) < 0 ||
	    load_list(&rd, &fs->inputs, &fs->ninputs) < 0)
		goto bad;
	if (!jm_state_next(&rd) || jm_state_word(&rd, "classes") < 0 ||
	    load_list(&rd, &fs->classes, &fs->nclasses) < 0)
		goto bad;
	if (!jm_state_next(&rd) || jm_state_word(&rd, "notes") < 0 || load_list(&rd, &fs->notes, &fs->nnotes) < 0)
		goto bad;
	fs->fitted = 1;
	rc = 0;
	goto out;
bad:
	jm_err_set(err, JM_EXIT_INPUT, "[features] state: line %d: malformed", rd.lineno);
	jm_features_free(fs);
out:
	jm_state_reader_free(&rd);
	return rc;
}
