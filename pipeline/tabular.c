/*
 * tabular.c: a CSV source to training matrices (see tabular.h for the
 * picture).  The stages themselves live in csv.c, split.c, clean.c and
 * features.c; this file sequences them with the flow's keys, decides the
 * task before the split (a stratified split needs the classes), and turns
 * their messages into ones located in the flow or the CSV.
 */
#include "pipeline/tabular.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/split.h"

const char *const jm_tabular_files[] = {
	"clean.state", "features.state", "target.state", "quality.txt", "quality.json", NULL,
};

/* ---- the rules of [clean] and [features] from the flow ------------------ */

typedef int (*rule_parse_fn)(void *stage, const char *key, const char *value, jm_err *err);

static int clean_parse(void *stage, const char *key, const char *value, jm_err *err)
{
	return jm_clean_parse(stage, key, value, err);
}

static int features_parse(void *stage, const char *key, const char *value, jm_err *err)
{
	return jm_features_parse(stage, key, value, err);
}

/* Every key of section, clause by clause (';'), into stage.  The flow has
 * checked them already; a message here still names the key's line. */
static int rules_from_flow(const jm_flow *f, const char *section, void *stage, rule_parse_fn parse,
			   jm_err *err)
{
	for (int i = 0; i < jm_flow_key_count(); i++) {
		jm_flow_keyinfo ki;
		jm_flow_key_info(i, &ki);
		if (strcmp(ki.section, section))
			continue;
		char dotted[64], *save = NULL;
		snprintf(dotted, sizeof dotted, "%s.%s", section, ki.key);
		char *v = jm_flow_get(f, dotted);
		int rc = 0;
		for (char *cl = strtok_r(v, ";", &save); cl && rc == 0; cl = strtok_r(NULL, ";", &save))
			if (cl[strspn(cl, " \t")])
				rc = parse(stage, ki.key, cl, err);
		free(v);
		if (rc < 0) {
			char loc[300];
			jm_flow_locate(f, dotted, loc, sizeof loc);
			return jm_err_prefix(err, "%s: [%s]", loc, section);
		}
	}
	return 0;
}

/* Where the stages' errors about one key go: at that key's line (or its
 * --set), the way rules_from_flow locates a spec that does not parse.  A
 * message no key is to blame for gets the flow's name from the caller
 * (see stage_failed). */
typedef struct flow_locator {
	const jm_flow *f;
	const char *section;  /* "clean" or "features" */
	int located;          /* 1 once a message was given its key's place */
} flow_locator;

static void locate_key(void *ctx, const char *key, jm_err *err)
{
	flow_locator *l = ctx;
	char dotted[64], loc[300];
	/* the runner sets these two from [data], not from [features] */
	if (!strcmp(l->section, "features") && (!strcmp(key, "target") || !strcmp(key, "task")))
		snprintf(dotted, sizeof dotted, "data.%s", key);
	else
		snprintf(dotted, sizeof dotted, "%s.%s", l->section, key);
	jm_flow_locate(l->f, dotted, loc, sizeof loc);
	jm_err_prefix(err, "%s", loc);
	l->located = 1;
}

/* Hand the stages their locators (NULL: take them back, as the stages
 * outlive the locators on the caller's stack). */
static void stages_locate(jm_tabular *tb, flow_locator *clean, flow_locator *features)
{
	tb->clean.locate = clean ? locate_key : NULL;
	tb->clean.locate_ctx = clean;
	tb->features.locate = features ? locate_key : NULL;
	tb->features.locate_ctx = features;
}

/* ---- reading ------------------------------------------------------------- */

/* [data] na_values: "?, -, n.a." → tokens (the array and each malloc'd). */
static char **na_tokens(const char *list, int *n)
{
	char *copy = jm_xstrdup(list), *save = NULL;
	char **out = NULL;
	*n = 0;
	for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		t += strspn(t, " \t");
		size_t len = strlen(t);
		while (len && (t[len - 1] == ' ' || t[len - 1] == '\t'))
			t[--len] = '\0';
		if (!len)
			continue;
		out = jm_xrealloc(out, (size_t)(*n + 1) * sizeof *out);
		out[(*n)++] = jm_xstrdup(t);
	}
	free(copy);
	return out;
}

int jm_tabular_parse_csv(const jm_flow *f, const jm_source *src, int64_t limit, jm_frame **out,
			 jm_csv_info *info, jm_err *err)
{
	jm_csv_opts co;
	jm_csv_opts_init(&co);
	int nna = 0;
	char **na = na_tokens(f->data.na_values, &nna);
	co.delim = jm_flow_char(f->data.delimiter);
	co.comment = jm_flow_char(f->data.comment);
	co.na_values = (const char *const *)na;
	co.n_na_values = nna;
	co.name = src->name;
	*out = NULL;
	int rc = jm_csv_parse(src->data, src->n, &co, out, info, err);
	jm_strv_free(na, nna);
	if (rc < 0)
		return -1;
	if (limit > 0 && limit < (*out)->nrows) {
		int64_t *idx = jm_xmalloc((size_t)limit * sizeof *idx);
		for (int64_t i = 0; i < limit; i++)
			idx[i] = i;
		jm_frame *head = jm_frame_take(*out, idx, limit, err);
		free(idx);
		jm_frame_free(*out);
		*out = head;
		if (!head)
			return -1;
	}
	jm_frame_number_rows(*out); /* row i is the CSV's data row i */
	return 0;
}

/* Where data row `row` of the CSV in buf starts: its offset, and in *line
 * its physical line (from 1), counting as csv.c does: blank and comment
 * lines skipped, the first record the header, newlines inside quotes
 * counted.  n (and the line after the last) when there is no such row. */
static size_t row_at(const char *buf, size_t n, char comment, int64_t row, int64_t *line)
{
	size_t i = 0;
	int64_t record = -1; /* -1: the header */
	*line = 1;
	if (n >= 3 && !memcmp(buf, "\xEF\xBB\xBF", 3))
		i = 3;
	while (i < n) {
		/* at the start of a line: blank or a comment? */
		size_t j = i;
		while (j < n && (buf[j] == ' ' || buf[j] == '\t'))
			j++;
		int skip = j == n || buf[j] == '\n' || buf[j] == '\r' || (comment && buf[i] == comment);
		if (!skip && record++ == row)
			return i;
		/* to the end of this record (or line, when skipped) */
		int quoted = 0;
		for (; i < n; i++) {
			char c = buf[i];
			if (c == '"' && !skip)
				quoted = !quoted;
			else if (c == '\n' || c == '\r') {
				if (c == '\r' && i + 1 < n && buf[i + 1] == '\n')
					i++;
				(*line)++;
				if (!quoted) {
					i++;
					break;
				}
			}
		}
	}
	return n;
}

static int64_t row_line(const char *buf, size_t n, char comment, int64_t row)
{
	int64_t line;
	row_at(buf, n, comment, row, &line);
	return line;
}

/* The fields of data row `row` (-1: the header) as csv.c splits them,
 * and whether a newline ends it. */
static int row_fields(const jm_source *src, char comment, char delim, int64_t row, int *newline)
{
	int64_t line;
	size_t i = row_at(src->data, src->n, comment, row, &line);
	int fields = 1, quoted = 0;
	for (; i < src->n; i++) {
		char c = src->data[i];
		if (c == '"')
			quoted = !quoted;
		else if (!quoted && c == delim)
			fields++;
		else if (!quoted && (c == '\n' || c == '\r'))
			break;
	}
	*newline = i < src->n;
	return fields;
}

/* For a message about a value missing in data row `row`: when that row
 * is short (csv.c reads the fields it lacks as missing), "; that line has
 * 2 of the 3 fields", and for a last line without a newline that the file
 * looks cut off; else "". */
static void short_row_hint(char *buf, size_t size, const jm_source *src, char comment, char delim,
			   int64_t row)
{
	int newline;
	int ncols = row_fields(src, comment, delim, -1, &newline); /* the header */
	int fields = row_fields(src, comment, delim, row, &newline);
	buf[0] = '\0';
	if (fields < ncols)
		snprintf(buf, size, "; that line has %d of the %d fields%s", fields, ncols,
			 newline ? "" : " and no newline: the file looks cut off");
}

static int read_frame(jm_tabular *tb, const jm_flow *f, jm_source *src, jm_frame **all,
		      jm_progress_fn progress, void *progress_ctx, jm_err *err)
{
	jm_source_opts so;
	jm_source_opts_init(&so);
	so.sha256 = f->data.sha256[0] ? f->data.sha256 : NULL;
	so.progress = progress;
	so.progress_ctx = progress_ctx;
	if (jm_source_open(src, f->data.source, &so, err) < 0) {
		/* a file that is not the pinned one: blame the pin */
		int pin = so.sha256 && err && strstr(err->msg, "sha256 mismatch");
		char loc[300];
		jm_flow_locate(f, pin ? "data.sha256" : "data.source", loc, sizeof loc);
		return jm_err_prefix(err, "%s: [data] %s", loc, pin ? "sha256" : "source");
	}
	tb->source = jm_xstrdup(src->name);
	if (jm_tabular_parse_csv(f, src, f->data.limit, all, &tb->info, err) < 0)
		return -1;
	tb->rows = (*all)->nrows;
	return 0;
}

/* ---- the target and the task ------------------------------------------------ */

/* A [clean] rule "missing = drop" that covers the target column. */
static int drops_missing_target(const jm_clean *c, const char *target)
{
	for (int i = 0; i < c->n; i++) {
		const jm_clean_rule *r = &c->rules[i];
		if (r->kind != JM_CLEAN_DROP_MISSING)
			continue;
		if (!r->cols)
			return 1;
		for (int k = 0; k < r->ncols; k++)
			if (!strcmp(r->cols[k], target))
				return 1;
	}
	return 0;
}

/* The target column exists and is never missing, unless [clean] drops the
 * rows where it is: that happens here, before the split, since such rows
 * can neither train nor be scored. */
static int check_target(jm_tabular *tb, const jm_flow *f, jm_frame *all, const jm_source *src,
			jm_err *err)
{
	const char *name = f->data.target;
	int j = jm_frame_index(all, name);
	if (j < 0) {
		char loc[300], esc[200], hint[800];
		jm_flow_locate(f, "data.target", loc, sizeof loc);
		jm_columns_hint(hint, sizeof hint, all, name);
		return jm_err_set(err, JM_EXIT_INPUT, "%s: [data] target: no column \"%s\" in %s%s", loc,
				  jm_escape_text(esc, sizeof esc, name), src->name, hint);
	}
	const jm_col *t = all->cols[j];
	if (!t->n_na)
		return 0;
	if (drops_missing_target(&tb->clean, name)) {
		uint8_t *keep = jm_xmalloc((size_t)all->nrows);
		for (int64_t i = 0; i < all->nrows; i++)
			keep[i] = !jm_col_isna(t, i);
		tb->target_dropped = t->n_na;
		int rc = jm_frame_filter(all, keep, err);
		free(keep);
		return rc;
	}
	int64_t first = -1;
	for (int64_t i = 0; i < all->nrows && first < 0; i++)
		if (jm_col_isna(t, i))
			first = i;
	char more[64] = "", why[160];
	if (t->n_na > 1)
		snprintf(more, sizeof more, " (and in %lld more rows)", (long long)t->n_na - 1);
	char comment = jm_flow_char(f->data.comment);
	first = jm_frame_origin(all, first);
	short_row_hint(why, sizeof why, src, comment, tb->info.delim, first);
	return jm_err_set(err, JM_EXIT_INPUT, "%s:%lld: field %d (\"%s\"): the target is missing%s; "
			  "drop such rows with [clean] missing = drop: %s%s", src->name,
			  (long long)row_line(src->data, src->n, comment, first), j + 1, name, more, name,
			  why);
}

/* [data] task, with auto decided over every row as features.c decides it
 * over the training rows (text and true/false: classes; whole numbers
 * with at most 20 values: classes; other numbers: regression), so the
 * split and the features agree whatever rows land in training. */
static int decide_task(const jm_flow *f, const jm_frame *all, int *regression, jm_err *err)
{
	const jm_col *t = jm_frame_col(all, f->data.target);
	const char *task = f->data.task;
	char loc[300];
	jm_flow_locate(f, "data.task", loc, sizeof loc);
	*regression = 0;
	if (t->type == JM_COL_TIME)
		return jm_err_set(err, JM_EXIT_INPUT, "%s: [data] target: \"%s\" holds dates", loc,
				  t->name);
	if (!strcmp(task, "regression")) {
		if (t->type != JM_COL_F64 && t->type != JM_COL_I64)
			return jm_err_set(err, JM_EXIT_INPUT, "%s: [data] task: regression needs a numeric "
					  "target, and \"%s\" is %s", loc, t->name,
					  jm_coltype_name(t->type));
		*regression = 1;
		return 0;
	}
	if (!strcmp(task, "classification") || (t->type != JM_COL_F64 && t->type != JM_COL_I64))
		return 0;
	jm_dict *d = jm_dict_new();
	char buf[64];
	int integral = 1;
	for (int64_t i = 0; i < all->nrows && integral && d->n <= 20; i++) {
		double v = jm_col_num(t, i);
		integral = v == floor(v);
		const char *s = jm_col_text(t, i, buf, sizeof buf);
		jm_dict_intern(d, s, strlen(s));
	}
	*regression = !(integral && d->n <= 20);
	jm_dict_unref(d);
	return 0;
}

/* ---- split, clean, features -------------------------------------------------- */

/* Train / val / test row numbers of all: stratified by class for
 * classification (when [split] stratify), at random for regression.  A CSV
 * has no test set of its own ([split] val follows the source to 0.15). */
static int split_rows(const jm_flow *f, const jm_frame *all, int regression, jm_split *sp,
		      jm_err *err)
{
	int32_t *labels = NULL;
	char **classes = NULL;
	int ncls = 0, rc;
	int stratify = !regression && f->split.stratify;
	if (stratify && jm_target_classes(all, f->data.target, &labels, &ncls, &classes, err) < 0)
		return -1;
	rc = jm_split_make(sp, labels, all->nrows, ncls, f->split.val, f->split.test, stratify,
			   (uint64_t)f->train.seed, err);
	if (rc < 0 && sp->empty_key) {
		char loc[300];
		jm_flow_locate(f, sp->empty_key, loc, sizeof loc);
		jm_err_prefix(err, "%s", loc);
	}
	for (int k = 0; k < ncls; k++)
		free(classes[k]);
	free(classes);
	free(labels);
	return rc;
}

static jm_frame *take_rows(const jm_frame *all, const int32_t *rows, int64_t n, jm_err *err)
{
	int64_t *idx = jm_xmalloc((size_t)(n ? n : 1) * sizeof *idx);
	for (int64_t i = 0; i < n; i++)
		idx[i] = rows[i];
	jm_frame *out = jm_frame_take(all, idx, n, err);
	free(idx);
	return out;
}

static FILE *state_open(const char *dir, const char *name, const char *mode, jm_err *err)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	FILE *fp = fopen(path, mode);
	if (!fp)
		jm_err_set(err, *mode == 'r' ? JM_EXIT_INPUT : JM_EXIT_FAIL, "%s: %s", path,
			   strerror(errno));
	return fp;
}

int jm_tabular_load_state(jm_clean *clean, jm_features *features, double *y_mean,
			  double *y_std, const char *dir, jm_err *err)
{
	FILE *fp = state_open(dir, "clean.state", "r", err);
	int rc = fp ? jm_clean_load(clean, fp, err) : -1;
	if (fp)
		fclose(fp);
	if (rc < 0 || !(fp = state_open(dir, "features.state", "r", err)))
		return -1;
	rc = jm_features_load(features, fp, err);
	fclose(fp);
	if (rc < 0 || !(fp = state_open(dir, "target.state", "r", err)))
		return -1;
	jm_state_reader r = {.in = fp};
	rc = jm_state_next(&r) == 1 && jm_state_word(&r, "target") == 0 &&
	     jm_state_double(&r, y_mean) == 0 && jm_state_double(&r, y_std) == 0 && *y_std > 0
		     ? 0
		     : -1;
	jm_state_reader_free(&r);
	fclose(fp);
	if (rc < 0)
		return jm_err_set(err, JM_EXIT_INPUT, "%s/target.state: expected \"target MEAN STD\"",
				  dir);
	return 0;
}

/* The saved state of a run: the rules as fitted, and the target's scale. */
static int load_state(jm_tabular *tb, const char *dir, jm_err *err)
{
	if (jm_tabular_load_state(&tb->clean, &tb->features, &tb->y_mean, &tb->y_std, dir, err) < 0)
		return -1;
	tb->loaded = 1;
	return 0;
}

/* The rows of the three parts, and the CSV they came from. */
typedef struct part_rows {
	const jm_source *src;
	const int32_t *rows[3];  /* rows of the frame read, ascending */
	int64_t count[3];
} part_rows;

static const char *const part_names[3] = {"training", "validation", "test"};

/* A stage failed: the flow's name in front, unless a key took the blame. */
static int stage_failed(const jm_flow *f, const flow_locator *l, jm_err *err)
{
	return l->located ? -1 : jm_err_prefix(err, "%s", f->name);
}

/* The CSV line of row i of a part after the stages (the frames carry
 * their rows' origins through the split and [clean]'s drops), or 0. */
static int64_t part_line(const part_rows *pr, const jm_flow *f, const jm_frame *part, int64_t i)
{
	if (i < 0 || i >= part->nrows)
		return 0;
	return row_line(pr->src->data, pr->src->n, jm_flow_char(f->data.comment),
			jm_frame_origin(part, i));
}

/* The CSV lines of the first infinite values a quality report counts
 * (its rows' origins are the CSV's data rows). */
static void quality_lines(jm_quality *q, const jm_source *src, const jm_flow *f)
{
	for (int j = 0; j < q->ncols; j++)
		if (q->cols[j].infinite)
			q->cols[j].inf_line = row_line(src->data, src->n, jm_flow_char(f->data.comment),
						       q->cols[j].first_inf);
}

/* Clean and featurize the three parts: fitted on train (or loaded), then
 * the same numbers applied to val and test.  An error of a rule is put at
 * its key's line; one of a value in the data at its CSV line when known. */
static int prepare_parts(jm_tabular *tb, const jm_flow *f, const part_rows *pr,
			 jm_frame *part[3], jm_matrix m[3], jm_err *err)
{
	flow_locator lc = {f, "clean", 0}, lf = {f, "features", 0};
	int rc = -1;
	stages_locate(tb, &lc, &lf);
	if (tb->loaded) {
		if (jm_clean_apply(&tb->clean, part[0], &tb->report, err) < 0)
			goto clean_failed;
	} else if (jm_clean_fit_apply(&tb->clean, part[0], &tb->report, err) < 0) {
		goto clean_failed;
	}
	for (int p = 1; p < 3; p++)
		if (jm_clean_apply(&tb->clean, part[p], NULL, err) < 0)
			goto clean_failed;
	if (!tb->loaded && jm_features_fit_apply(&tb->features, part[0], err) < 0)
		goto features_failed;
	for (int p = tb->loaded ? 0 : 1; p < 3; p++)
		if (jm_features_apply(&tb->features, part[p], err) < 0)
			goto features_failed;
	for (int p = 0; p < 3; p++) {
		if (jm_features_matrix(&tb->features, part[p], part_names[p], &m[p], err) < 0) {
			int64_t bad = m[p].bad_row, line = part_line(pr, f, part[p], bad);
			if (line > 0 && m[p].bad_missing && err) { /* a short row, read as missing? */
				char why[160];
				short_row_hint(why, sizeof why, pr->src, jm_flow_char(f->data.comment),
					       tb->info.delim, jm_frame_origin(part[p], bad));
				if (why[0] && strlen(err->msg) + strlen(why) < sizeof err->msg)
					strcat(err->msg, why);
			}
			if (line > 0)
				jm_err_prefix(err, "%s:%lld", pr->src->name, (long long)line);
			else
				jm_err_prefix(err, "%s", f->name);
			goto out;
		}
	}
	rc = 0;
	goto out;
clean_failed:
	stage_failed(f, &lc, err);
	goto out;
features_failed:
	stage_failed(f, &lf, err);
out:
	stages_locate(tb, NULL, NULL);
	return rc;
}

/* Mean and standard deviation (ddof 0) of the training targets: the model
 * learns (y - mean) / std. */
static void target_scale(jm_tabular *tb, const jm_matrix *train)
{
	double sum = 0, ss = 0;
	for (int64_t i = 0; i < train->rows; i++)
		sum += train->y_value[i];
	double mean = train->rows ? sum / (double)train->rows : 0;
	for (int64_t i = 0; i < train->rows; i++)
		ss += (train->y_value[i] - mean) * (train->y_value[i] - mean);
	double sd = train->rows ? sqrt(ss / (double)train->rows) : 0;
	tb->y_mean = mean;
	tb->y_std = sd > 0 && isfinite(sd) ? sd : 1.0;
}

/* A float set of the rows of the given matrices, one after another. */
static jm_dataset *dataset_of(const jm_tabular *tb, const jm_matrix *m, int nm)
{
	jm_dataset *d = jm_xcalloc(1, sizeof *d);
	int64_t n = 0;
	for (int k = 0; k < nm; k++)
		n += m[k].rows;
	int D = m[0].cols;
	d->n = n;
	d->c = d->h = 1;
	d->w = D;
	d->x = jm_xmalloc((size_t)(n ? n : 1) * (size_t)D * sizeof *d->x);
	if (tb->regression) {
		d->n_classes = 1;
		d->y = jm_xmalloc((size_t)(n ? n : 1) * sizeof *d->y);
	} else {
		d->n_classes = tb->features.nclasses;
		d->labels = jm_xmalloc((size_t)(n ? n : 1) * sizeof *d->labels);
		d->class_names = (const char *const *)tb->features.classes;
	}
	int64_t at = 0;
	for (int k = 0; k < nm; k++) {
		memcpy(d->x + at * D, m[k].x, (size_t)m[k].rows * (size_t)D * sizeof *d->x);
		if (d->y)
			memcpy(d->y + at, m[k].y_value, (size_t)m[k].rows * sizeof *d->y);
		else
			memcpy(d->labels + at, m[k].y_class, (size_t)m[k].rows * sizeof *d->labels);
		at += m[k].rows;
	}
	return d;
}

int jm_tabular_load(jm_tabular *tb, const jm_flow *f, const char *state_dir,
		    jm_progress_fn progress, void *progress_ctx, jm_dataset **train,
		    jm_dataset **test, jm_err *err)
{
	jm_source src = {0};
	jm_frame *all = NULL, *part[3] = {NULL, NULL, NULL};
	jm_matrix m[3];
	jm_split sp = {0};
	int rc = -1;

	memset(tb, 0, sizeof *tb);
	memset(m, 0, sizeof m);
	jm_clean_init(&tb->clean);
	jm_features_init(&tb->features);
	*train = *test = NULL;
	if (state_dir) {
		if (load_state(tb, state_dir, err) < 0)
			goto out;
	} else if (rules_from_flow(f, "clean", &tb->clean, clean_parse, err) < 0 ||
		   rules_from_flow(f, "features", &tb->features, features_parse, err) < 0 ||
		   jm_features_parse(&tb->features, "target", f->data.target, err) < 0) {
		goto out;
	}
	if (read_frame(tb, f, &src, &all, progress, progress_ctx, err) < 0 ||
	    check_target(tb, f, all, &src, err) < 0 ||
	    decide_task(f, all, &tb->regression, err) < 0 ||
	    (tb->loaded && (tb->regression = !tb->features.classification, 0)) ||
	    (!state_dir && jm_features_parse(&tb->features, "task", tb->regression ? "regression"
						: "classification", err) < 0) ||
	    split_rows(f, all, tb->regression, &sp, err) < 0)
		goto out;
	const part_rows pr = {&src, {sp.train, sp.val, sp.test}, {sp.n_train, sp.n_val, sp.n_test}};
	for (int p = 0; p < 3; p++)
		if (!(part[p] = take_rows(all, pr.rows[p], pr.count[p], err)))
			goto out;
	if (prepare_parts(tb, f, &pr, part, m, err) < 0)
		goto out;
	quality_lines(&tb->report.before, &src, f);
	quality_lines(&tb->report.after, &src, f);
	if (m[0].rows == 0) {
		jm_err_set(err, JM_EXIT_INPUT, "%s: no training rows are left after cleaning", f->name);
		goto out;
	}
	/* a part the split gave rows and cleaning took them all from would
	 * be scored on nothing, NaN kept as a result: as split.c refuses */
	for (int p = 1; p < 3; p++) {
		int64_t given = p == 1 ? sp.n_val : sp.n_test;
		if (m[p].rows == 0 && given > 0) {
			jm_err_set(err, JM_EXIT_INPUT, "%s: no %s rows are left after cleaning "
				   "([clean] dropped all %lld); raise [split] %s or drop fewer rows",
				   f->name, p == 1 ? "validation" : "test", (long long)given,
				   p == 1 ? "val" : "test");
			goto out;
		}
	}
	if (tb->regression && !tb->loaded)
		target_scale(tb, &m[0]);
	else if (!tb->regression)
		tb->y_mean = 0, tb->y_std = 1;
	tb->n_train = m[0].rows;
	tb->n_val = m[1].rows;
	tb->n_test = m[2].rows;
	tb->dropped = tb->rows - tb->n_train - tb->n_val - tb->n_test; /* with target_dropped */
	*train = dataset_of(tb, m, 2);
	*test = dataset_of(tb, m + 2, 1);
	rc = 0;
out:
	for (int p = 0; p < 3; p++) {
		jm_frame_free(part[p]);
		jm_matrix_free(&m[p]);
	}
	jm_split_clear(&sp);
	jm_frame_free(all);
	jm_source_close(&src);
	return rc;
}

int jm_tabular_save(const jm_tabular *tb, const char *dir, jm_err *err)
{
	FILE *fp;
	int rc = 0;
	if (!(fp = state_open(dir, "clean.state", "w", err)))
		return -1;
	rc = jm_clean_save(&tb->clean, fp, err);
	if (fclose(fp) != 0 || rc < 0)
		return rc < 0 ? -1 : jm_err_set(err, JM_EXIT_FAIL, "%s/clean.state: %s", dir,
						 strerror(errno));
	if (!(fp = state_open(dir, "features.state", "w", err)))
		return -1;
	rc = jm_features_save(&tb->features, fp, err);
	if (fclose(fp) != 0 || rc < 0)
		return rc < 0 ? -1 : jm_err_set(err, JM_EXIT_FAIL, "%s/features.state: %s", dir,
						 strerror(errno));
	if (!(fp = state_open(dir, "target.state", "w", err)))
		return -1;
	fputs("target ", fp);
	jm_state_num(fp, tb->y_mean);
	fputc(' ', fp);
	jm_state_num(fp, tb->y_std);
	fputc('\n', fp);
	if (fclose(fp) != 0)
		return jm_err_set(err, JM_EXIT_FAIL, "%s/target.state: %s", dir, strerror(errno));
	if (!(fp = state_open(dir, "quality.txt", "w", err)))
		return -1;
	jm_clean_report_text(fp, &tb->report);
	if (fclose(fp) != 0)
		return jm_err_set(err, JM_EXIT_FAIL, "%s/quality.txt: %s", dir, strerror(errno));
	if (!(fp = state_open(dir, "quality.json", "w", err)))
		return -1;
	jm_clean_report_json(fp, &tb->report);
	if (fclose(fp) != 0)
		return jm_err_set(err, JM_EXIT_FAIL, "%s/quality.json: %s", dir, strerror(errno));
	return 0;
}

void jm_tabular_free(jm_tabular *tb)
{
	if (!tb)
		return;
	jm_clean_free(&tb->clean);
	jm_features_free(&tb->features);
	jm_clean_report_clear(&tb->report);
	jm_csv_info_clear(&tb->info);
	free(tb->source);
	memset(tb, 0, sizeof *tb);
}

/* ---- a look at a source (the workbench's previews) ------------------------- */

static char **strv_dup(char *const *v, int n)
{
	char **d = jm_xmalloc((size_t)(n > 0 ? n : 1) * sizeof *d);
	for (int i = 0; i < n; i++)
		d[i] = jm_xstrdup(v[i]);
	return d;
}

/* [features] on every row after [clean], as a run does on its training
 * part: the steps, the target and the task; what fails, into
 * pk->features_error. */
static void peek_features(jm_tabular_peek *pk, jm_tabular *tb, const jm_flow *f,
			  const jm_source *src, jm_frame *all)
{
	jm_err e = {0};
	flow_locator lf = {f, "features", 0};
	int regression = 0, rc;
	if (rules_from_flow(f, "features", &tb->features, features_parse, &e) < 0 ||
	    jm_features_parse(&tb->features, "target", f->data.target, &e) < 0 ||
	    check_target(tb, f, all, src, &e) < 0 || decide_task(f, all, &regression, &e) < 0 ||
	    jm_features_parse(&tb->features, "task", regression ? "regression" : "classification",
			      &e) < 0)
		rc = -1;
	else {
		stages_locate(tb, NULL, &lf);
		rc = jm_features_fit_apply(&tb->features, all, &e);
		stages_locate(tb, NULL, NULL);
	}
	if (rc < 0 || jm_quality_compute(all, &pk->features_quality, &e) < 0) {
		jm_quality_clear(&pk->features_quality);
		memset(&pk->features_quality, 0, sizeof pk->features_quality);
		pk->features_error = jm_xstrdup(e.msg);
		return;
	}
	const jm_features *fs = &tb->features;
	pk->nsteps = fs->n;
	pk->ninputs = fs->ninputs;
	pk->inputs = strv_dup(fs->inputs, fs->ninputs);
	pk->classification = fs->classification;
	pk->nclasses = fs->nclasses;
	pk->nnotes = fs->nnotes;
	pk->notes = strv_dup(fs->notes, fs->nnotes);
}

int jm_tabular_peek_load(jm_tabular_peek *pk, const jm_flow *f, jm_err *err)
{
	jm_tabular tb;
	jm_source src = {0};
	jm_frame *all = NULL;
	jm_err cerr = {0};
	int rc = -1;

	memset(pk, 0, sizeof *pk);
	memset(&tb, 0, sizeof tb);
	jm_clean_init(&tb.clean);
	jm_features_init(&tb.features);
	if (read_frame(&tb, f, &src, &all, NULL, NULL, err) < 0 ||
	    jm_quality_compute(all, &pk->quality, err) < 0)
		goto out;
	pk->rows = tb.rows;
	flow_locator lc = {f, "clean", 0};
	int crc = rules_from_flow(f, "clean", &tb.clean, clean_parse, &cerr);
	if (crc == 0 && tb.clean.n) {
		stages_locate(&tb, &lc, NULL);
		crc = jm_clean_fit_apply(&tb.clean, all, &pk->report, &cerr);
		stages_locate(&tb, NULL, NULL);
	}
	if (crc < 0) {
		jm_clean_report_clear(&pk->report);
		memset(&pk->report, 0, sizeof pk->report);
		pk->clean_error = jm_xstrdup(cerr.msg);
	}
	pk->nrules = tb.clean.n;
	if (!pk->clean_error)
		peek_features(pk, &tb, f, &src, all);
	quality_lines(&pk->quality, &src, f);
	quality_lines(&pk->report.before, &src, f);
	quality_lines(&pk->report.after, &src, f);
	quality_lines(&pk->features_quality, &src, f);
	rc = 0;
out:
	pk->info = tb.info;
	pk->source = tb.source;
	memset(&tb.info, 0, sizeof tb.info);
	tb.source = NULL;
	jm_tabular_free(&tb);
	jm_frame_free(all);
	jm_source_close(&src);
	return rc;
}

void jm_tabular_peek_free(jm_tabular_peek *pk)
{
	if (!pk)
		return;
	jm_csv_info_clear(&pk->info);
	free(pk->source);
	jm_quality_clear(&pk->quality);
	jm_clean_report_clear(&pk->report);
	free(pk->clean_error);
	jm_strv_free(pk->inputs, pk->ninputs);
	jm_strv_free(pk->notes, pk->nnotes);
	jm_quality_clear(&pk->features_quality);
	free(pk->features_error);
	memset(pk, 0, sizeof *pk);
}
