/*
 * predict.c: jm_predict(), a run's model on new rows (see predict.h for
 * the picture).
 *
 * The run decides everything: its stored flow gives the model spec (the
 * runner's jm_runner_model_spec), the device and the CSV reading options;
 * its folder gives the weights and, for a CSV, the fitted cleaning and
 * features (clean.state, features.state, target.state), applied to every
 * row of DATA with no split and no fitting.  Output rows follow the input
 * rows one for one: a row the run's rules leave out (a [clean] drop, a
 * missing input the run would refuse) keeps its line with empty cells,
 * and a note on o->msg says how many and why.
 *
 * Batches are the run's evaluation batches (its [train] batch, at least
 * 256, as runner.c's try_batch builds them), so the run's own test rows,
 * in their order, go through the same forward passes as its test did.
 */
#include "pipeline/predict.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "data/csv.h"
#include "data/dataset.h"
#include "data/frame.h"
#include "data/idx.h"
#include "data/source.h"
#include "data/split.h"
#include "engine/backend.h"
#include "engine/checkpoint.h"
#include "engine/model.h"
#include "flow.h"
#include "pipeline/clean.h"
#include "pipeline/features.h"
#include "pipeline/runner.h"
#include "pipeline/tabular.h"
#include "store/store.h"
#include "util/json.h"
#include "util/outpath.h"
#include "util/rng.h"
#include "util/strbuf.h"
#include "util/suggest.h"

#define EXAMPLE_ROWS 5 /* rows named in a note about rows without a prediction */

/* Rows without a prediction for one reason: how many, and the first few
 * (input rows, from 0). */
typedef struct skipped {
	int64_t n;
	int64_t first[EXAMPLE_ROWS];
} skipped;

typedef struct predictor {
	const jm_predict_opts *o;
	FILE *msg;
	jm_store *store;
	jm_outpath out;           /* --out, resolved (out.real NULL: stdout) */
	int64_t run;
	char kind[16], status[16];
	char *run_dir;
	jm_flow *flow;
	char weights[4096];       /* the file the weights come from */
	jm_ckpt_meta meta;        /* its metadata */

	int tabular, regression;
	int c, h, w, K;           /* the model's input shape and outputs */
	char **classes;           /* K names (classification), malloc'd */

	/* a CSV run: the fitted state, the data after it */
	jm_clean clean;
	jm_features features;
	double y_mean, y_std;
	jm_source src;
	jm_frame *frame;
	jm_matrix x;              /* the rows that get a prediction */
	int64_t *row;             /* x's row i is input row row[i] */

	/* an image run: the images, their normalisation, the labels */
	jm_idx images, labels;
	float scale, shift;

	int64_t n;                /* input rows */
	int64_t m;                /* rows given to the model */
	skipped nonfinite;        /* of those, rows whose outputs were not finite */
	int32_t *label;           /* [m] known class of row i, or -1 */
	float *y;                 /* [m] known target of row i, or NaN */

	/* per input row: the prediction */
	int32_t *pred;            /* [n] class, -1: none */
	double *value;            /* [n] regression value, NaN: none */
	float *proba;             /* [n * K] with --proba */

	const jm_backend *be;
	jm_model *model;
	int maxb;
	int shown_pct;            /* the progress line's last percentage */
} predictor;

/* ---- small helpers ------------------------------------------------------ */

static void skipped_add(skipped *s, int64_t row)
{
	if (s->n < EXAMPLE_ROWS)
		s->first[s->n] = row;
	s->n++;
}

/* "note: 2 of 344 rows have no prediction (rows 4, 272): WHY" */
static void note_skipped(FILE *msg, const skipped *s, int64_t total, const char *why)
{
	if (!s->n)
		return;
	fprintf(msg, "jianmo: note: %lld of %lld row%s %s no prediction (row%s ", (long long)s->n,
		(long long)total, total == 1 ? "" : "s", s->n == 1 ? "has" : "have",
		s->n == 1 ? "" : "s");
	for (int64_t i = 0; i < s->n && i < EXAMPLE_ROWS; i++)
		fprintf(msg, "%s%lld", i ? ", " : "", (long long)s->first[i] + 1);
	fprintf(msg, "%s): %s\n", s->n > EXAMPLE_ROWS ? ", ..." : "", why);
}

static int file_exists(const char *path)
{
	struct stat sb;
	return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

/* A whole small file into memory (NUL-terminated), or NULL. */
static char *read_small_file(const char *path, size_t *len)
{
	FILE *fp = fopen(path, "rb");
	if (!fp)
		return NULL;
	jm_buf b = JM_BUF_INIT;
	char chunk[8192];
	size_t k;
	while ((k = fread(chunk, 1, sizeof chunk, fp)) > 0)
		jm_buf_add(&b, chunk, k);
	fclose(fp);
	return jm_buf_detach(&b, len);
}

/* ---- the run -------------------------------------------------------------- */

/* A search has no model of its own: name its best trial (by the search's
 * metric, over trials that finished), or say there is none yet. */
static int refuse_search(predictor *p, const char *flow_text, jm_err *err)
{
	jm_flow *f = NULL;
	jm_err ferr = {0};
	int64_t best = 0;
	double value = NAN;
	if (flow_text && jm_flow_parse(&f, flow_text, "search flow", &ferr) == 0) {
		char sql[512];
		snprintf(sql, sizeof sql,
			 "SELECT r.id, (SELECT %s FROM metric_summary WHERE run = r.id AND key = ?2) v "
			 "FROM runs r WHERE r.parent = ?1 AND r.status = 'done' AND v IS NOT NULL "
			 "ORDER BY v %s, r.id LIMIT 1",
			 jm_flow_search_maximize(f) ? "max" : "min",
			 jm_flow_search_maximize(f) ? "DESC" : "ASC");
		sqlite3_stmt *st = NULL;
		if (sqlite3_prepare_v2(jm_store_db(p->store), sql, -1, &st, NULL) == SQLITE_OK) {
			sqlite3_bind_int64(st, 1, p->run);
			sqlite3_bind_text(st, 2, f->search.metric, -1, SQLITE_TRANSIENT);
			if (sqlite3_step(st) == SQLITE_ROW) {
				best = sqlite3_column_int64(st, 0);
				value = sqlite3_column_double(st, 1);
			}
		}
		sqlite3_finalize(st);
	}
	if (best)
		jm_err_set(err, JM_EXIT_INPUT, "run %lld is a search and has no model of its own; its "
			   "best trial is run %lld (%s %.4f): jianmo predict %lld ...", (long long)p->run,
			   (long long)best, f->search.metric, value, (long long)best);
	else
		jm_err_set(err, JM_EXIT_INPUT, "run %lld is a search and has no model of its own, and "
			   "none of its trials is done yet (see jianmo show %lld)", (long long)p->run,
			   (long long)p->run);
	jm_flow_free(f);
	return -1;
}

/* The weights: model.safetensors (the model at the end), else, for a run
 * that stopped before its end, its last checkpoint. */
static int find_weights(predictor *p, const char *error, jm_err *err)
{
	snprintf(p->weights, sizeof p->weights, "%s/model.safetensors", p->run_dir);
	if (file_exists(p->weights))
		return 0;
	char ckpt[4096];
	snprintf(ckpt, sizeof ckpt, "%s/checkpoint.safetensors", p->run_dir);
	if (strcmp(p->status, JM_RUN_DONE) && file_exists(ckpt)) {
		fprintf(p->msg, "jianmo: note: run %lld is %s and has no final model: predicting with "
			"its last checkpoint (%s)\n", (long long)p->run, p->status, ckpt);
		snprintf(p->weights, sizeof p->weights, "%s", ckpt);
		return 0;
	}
	return jm_err_set(err, JM_EXIT_INPUT, "run %lld has no weights: %s does not exist (run %s%s%s)",
			  (long long)p->run, p->weights, p->status, error && *error ? ": " : "",
			  error ? error : "");
}

static int load_run(predictor *p, jm_err *err)
{
	const jm_predict_opts *o = p->o;
	if (jm_store_open(&p->store, o->home, JM_STORE_NOCREATE, err) < 0 ||
	    jm_store_run_lookup(p->store, o->run, &p->run, err) < 0)
		return -1;
	sqlite3_stmt *st = NULL;
	sqlite3_prepare_v2(jm_store_db(p->store),
			   "SELECT r.kind, r.status, IFNULL(r.pid, 0), IFNULL(r.error, ''), "
			   "(SELECT text FROM flows WHERE id = r.flow_id) FROM runs r WHERE r.id = ?",
			   -1, &st, NULL);
	sqlite3_bind_int64(st, 1, p->run);
	if (sqlite3_step(st) != SQLITE_ROW) {
		sqlite3_finalize(st);
		return jm_err_set(err, JM_EXIT_FAIL, "store: %s", sqlite3_errmsg(jm_store_db(p->store)));
	}
	snprintf(p->kind, sizeof p->kind, "%s", (const char *)sqlite3_column_text(st, 0));
	snprintf(p->status, sizeof p->status, "%s", (const char *)sqlite3_column_text(st, 1));
	long long pid = sqlite3_column_int64(st, 2);
	char *error = jm_xstrdup((const char *)sqlite3_column_text(st, 3));
	const char *t = (const char *)sqlite3_column_text(st, 4);
	char *text = t ? jm_xstrdup(t) : NULL;
	sqlite3_finalize(st);

	int rc = -1;
	if (!strcmp(p->kind, "search")) {
		refuse_search(p, text, err);
		goto out;
	}
	if (!strcmp(p->status, JM_RUN_RUNNING)) {
		jm_err_set(err, JM_EXIT_INPUT, "run %lld is still running (pid %lld): predict once it "
			   "is done, or stop it", (long long)p->run, pid);
		goto out;
	}
	if (!strcmp(p->status, JM_RUN_QUEUED)) {
		jm_err_set(err, JM_EXIT_INPUT, "run %lld is queued and has not trained yet",
			   (long long)p->run);
		goto out;
	}
	if (!text) {
		jm_err_set(err, JM_EXIT_INPUT, "run %lld has no stored flow to build its model from",
			   (long long)p->run);
		goto out;
	}
	char name[64];
	snprintf(name, sizeof name, "run %lld flow", (long long)p->run);
	p->run_dir = jm_xasprintf("%s/runs/%lld", jm_store_home(p->store), (long long)p->run);
	if (jm_flow_parse(&p->flow, text, name, err) < 0 || find_weights(p, error, err) < 0 ||
	    jm_checkpoint_read_meta(p->weights, &p->meta, err) < 0)
		goto out;
	if (strcmp(p->status, JM_RUN_DONE) && strcmp(p->status, JM_RUN_STOPPED))
		fprintf(p->msg, "jianmo: note: run %lld is %s%s%s\n", (long long)p->run, p->status,
			*error ? ": " : "", error);
	rc = 0;
out:
	free(error);
	free(text);
	return rc;
}

/* ---- the device and the model ------------------------------------------------ */

/* The runner's choice (pick_device, pick_precision, pick_threads): the
 * device the run's flow names unless --device says otherwise, the
 * precision it ran at where the device has it. */
static int pick_backend(predictor *p, jm_err *err)
{
	const jm_flow *f = p->flow;
	const char *device = p->o->device ? p->o->device : f->train.device;
	char note[1024], why[1024];
	if (jm_backend_for_device(device, &p->be, note, sizeof note, why, sizeof why) < 0)
		return jm_err_set(err, JM_EXIT_INPUT, "%s (use --device cpu or auto)", why);
	if (p->be->set_precision) {
		int prec = JM_PREC_FP32;
		while (jm_prec_name(prec) && strcmp(f->train.precision, jm_prec_name(prec)))
			prec++;
		if (!jm_prec_name(prec) || p->be->set_precision(prec, why, sizeof why) < 0)
			p->be->set_precision(JM_PREC_FP32, why, sizeof why);
	}
	if (jm_flow_line(f, "train.threads") != 0) {
		jm_cpu_set_workers((int)f->train.threads);
		jm_blas_set_threads(1);
	} else {
		jm_blas_set_threads(jm_blas_run_threads());
	}
	if (!strcmp(p->be->name, "cpu") && jm_blas_reserve(why, sizeof why) < 0)
		return jm_err_set(err, JM_EXIT_FAIL, "%s", why);
	return 0;
}

/* The runner's evaluation batch: [train] batch (the chosen one for batch
 * = auto, kept in the run's params), at least 256. */
static int eval_batch(predictor *p)
{
	int64_t b = p->flow->train.batch;
	if (b <= 0) {
		char *v = jm_store_param_read(jm_store_db(p->store), p->run, "train.batch");
		b = v ? strtoll(v, NULL, 10) : 0;
		free(v);
	}
	if (b <= 0 || b > JM_FLOW_BATCH_AUTO_MAX * 64)
		b = JM_FLOW_BATCH_AUTO_MAX;
	return b < 256 ? 256 : (int)b;
}

static int build_model(predictor *p, jm_err *err)
{
	jm_model_spec spec = jm_runner_model_spec(p->flow);
	p->maxb = eval_batch(p);
	if (jm_model_build(&p->model, p->be, &spec, p->c, p->h, p->w, p->K, p->maxb, err) < 0)
		return jm_err_prefix(err, "run %lld's model", (long long)p->run);
	/* what a checkpoint leaves out is set as the run set it (runner.c) */
	if (jm_model_init(p->model, (uint64_t)jm_hash64((uint64_t)p->flow->train.seed, 0x696e6974),
			  err) < 0 ||
	    jm_checkpoint_load(p->weights, p->model, NULL, NULL, err) < 0)
		return -1;
	return 0;
}

/* The run's fitted state (jm_tabular_load_state), and what it says of the
 * model: its inputs, classes or target scale. */
static int load_state(predictor *p, jm_err *err)
{
	if (jm_tabular_load_state(&p->clean, &p->features, &p->y_mean, &p->y_std, p->run_dir,
				  err) < 0)
		return jm_err_prefix(err, "run %lld: its fitted cleaning and features are needed to "
				     "predict", (long long)p->run);
	const jm_features *fs = &p->features;
	p->regression = !fs->classification;
	p->c = p->h = 1;
	p->w = fs->ninputs;
	p->K = p->regression ? 1 : fs->nclasses;
	if (!p->regression) {
		p->classes = jm_xcalloc((size_t)p->K + 1, sizeof *p->classes);
		for (int k = 0; k < p->K; k++)
			p->classes[k] = jm_xstrdup(fs->classes[k]);
	}
	return 0;
}

/* The run's [clean] rules as they apply to DATA.  Left out: a rule's part
 * on a column DATA lacks (the target, when DATA has none; a column only
 * [clean] reads, such as one [features] drops: it cannot change an input;
 * check_columns has refused DATA already when a column the features or
 * the model read is missing), and a drop of the rows whose target is
 * missing.  The view shares the rules' names and numbers; only its arrays
 * are its own (clean_view_free).  The absent columns left out, but the
 * target, are added to *absent. */
static void clean_view(jm_clean *view, const jm_clean *c, const jm_frame *f, const char *target,
		       jm_buf *absent)
{
	*view = *c;
	view->locate = NULL;
	view->locate_ctx = NULL;
	view->skip_quality = 1;
	view->rules = jm_xcalloc((size_t)c->n + 1, sizeof *view->rules);
	view->cap = c->n;
	for (int i = 0; i < c->n; i++) {
		const jm_clean_rule *r = &c->rules[i];
		jm_clean_rule *v = &view->rules[i];
		size_t n = (size_t)r->nfit + 1;
		*v = *r;
		v->fit_col = jm_xcalloc(n, sizeof *v->fit_col);
		v->fit_a = jm_xcalloc(n, sizeof *v->fit_a);
		v->fit_b = jm_xcalloc(n, sizeof *v->fit_b);
		v->fit_text = jm_xcalloc(n, sizeof *v->fit_text);
		v->nfit = 0;
		for (int j = 0; j < r->nfit; j++) {
			/* rows without a target are predicted, not dropped: the
			 * run dropped them only for want of a target */
			if (r->kind == JM_CLEAN_DROP_MISSING && !strcmp(r->fit_col[j], target))
				continue;
			if (!jm_frame_col(f, r->fit_col[j])) {
				char quoted[256];
				snprintf(quoted, sizeof quoted, "\"%s\"", r->fit_col[j]);
				if (r->kind != JM_CLEAN_DROP_COLS && strcmp(r->fit_col[j], target) &&
				    !strstr(jm_buf_str(absent), quoted))
					jm_buf_printf(absent, "%s%s", absent->len ? ", " : "", quoted);
				continue;
			}
			v->fit_col[v->nfit] = r->fit_col[j];
			v->fit_a[v->nfit] = r->fit_a ? r->fit_a[j] : 0;
			v->fit_b[v->nfit] = r->fit_b ? r->fit_b[j] : 0;
			v->fit_text[v->nfit] = r->fit_text ? r->fit_text[j] : NULL;
			v->nfit++;
		}
	}
}

static void clean_view_free(jm_clean *view)
{
	for (int i = 0; i < view->n; i++) {
		free(view->rules[i].fit_col);
		free(view->rules[i].fit_a);
		free(view->rules[i].fit_b);
		free(view->rules[i].fit_text);
	}
	free(view->rules);
	memset(view, 0, sizeof *view);
}

/* ---- a CSV run: the columns DATA must have ----------------------------------- */

/* The columns of the run's training CSV as it read them (name, type):
 * quality.json's "before" table.  0 columns when the run has none. */
typedef struct train_cols {
	int n;
	char **name, **type;
} train_cols;

static void train_cols_load(train_cols *tc, const char *run_dir)
{
	char path[4096];
	size_t len = 0;
	memset(tc, 0, sizeof *tc);
	snprintf(path, sizeof path, "%s/quality.json", run_dir);
	char *text = read_small_file(path, &len);
	jm_json doc = {0};
	if (!text || jm_json_parse(text, len, NULL, &doc, NULL) < 0) {
		free(text);
		return;
	}
	const jm_json *cols = jm_json_get(jm_json_get(&doc, "before"), "columns");
	for (size_t i = 0; jm_json_at(cols, i); i++) {
		const jm_json *name = jm_json_get(jm_json_at(cols, i), "name");
		const jm_json *type = jm_json_get(jm_json_at(cols, i), "type");
		if (!jm_json_is(name, JM_JSON_STRING) || !jm_json_is(type, JM_JSON_STRING))
			continue;
		tc->name = jm_xrealloc(tc->name, (size_t)(tc->n + 1) * sizeof *tc->name);
		tc->type = jm_xrealloc(tc->type, (size_t)(tc->n + 1) * sizeof *tc->type);
		tc->name[tc->n] = jm_xstrdup(name->str);
		tc->type[tc->n++] = jm_xstrdup(type->str);
	}
	jm_json_free(&doc);
	free(text);
}

static void train_cols_free(train_cols *tc)
{
	jm_strv_free(tc->name, tc->n);
	jm_strv_free(tc->type, tc->n);
	memset(tc, 0, sizeof *tc);
}

static int train_cols_find(const train_cols *tc, const char *name)
{
	for (int i = 0; i < tc->n; i++)
		if (!strcmp(tc->name[i], name))
			return i;
	return -1;
}

/* Add name to the list if it is a column of the training CSV (not one the
 * features derive) and not there yet. */
static void need(const train_cols *tc, const char ***list, int *n, const char *name)
{
	if (!name || !strcmp(name, "*") || train_cols_find(tc, name) < 0)
		return;
	for (int i = 0; i < *n; i++)
		if (!strcmp((*list)[i], name))
			return;
	*list = jm_xrealloc(*list, (size_t)(*n + 1) * sizeof **list);
	(*list)[(*n)++] = name;
}

/* The training CSV's columns the model's inputs come from: every column
 * a [features] step reads, and the inputs taken straight from the CSV.
 * With clean_too, also every column a [clean] rule was fitted on (not the
 * ones it dropped). */
static const char **needed_columns(const predictor *p, const train_cols *tc, int clean_too,
				   int *n)
{
	const char **list = NULL;
	*n = 0;
	const jm_features *fs = &p->features;
	for (int i = 0; i < fs->n; i++) {
		const jm_feat_step *s = &fs->steps[i];
		for (int j = 0; j < s->ncols; j++)
			need(tc, &list, n, s->cols[j]);
		for (int j = 0; j < s->nfit; j++)
			need(tc, &list, n, s->fit[j].col);
		need(tc, &list, n, s->by);
		need(tc, &list, n, s->order);
	}
	for (int j = 0; j < fs->ninputs; j++)
		need(tc, &list, n, fs->inputs[j]);
	for (int i = 0; clean_too && i < p->clean.n; i++) {
		const jm_clean_rule *r = &p->clean.rules[i];
		if (r->kind == JM_CLEAN_DROP_COLS)
			continue;
		for (int j = 0; j < r->nfit; j++)
			need(tc, &list, n, r->fit_col[j]);
	}
	return list;
}

static int is_number_type(const char *t)
{
	return !strcmp(t, "float64") || !strcmp(t, "int64") || !strcmp(t, "bool");
}

/* Column j of the frame as text, as the training CSV held it (a column of
 * numbers there: codes like 01, 02, or every value missing here). */
static int column_to_text(jm_frame *f, int j, jm_err *err)
{
	jm_col *old = f->cols[j];
	jm_col *c = jm_col_new(old->name, JM_COL_STR, f->nrows, err);
	if (!c || jm_col_ensure_na(c, f->nrows, err) < 0) {
		jm_col_free(c);
		return -1;
	}
	char buf[64];
	for (int64_t i = 0; i < f->nrows; i++) {
		if (jm_col_isna(old, i)) {
			c->na[i] = 1;
			c->v.code[i] = -1;
			continue;
		}
		const char *s = jm_col_text(old, i, buf, sizeof buf);
		c->v.code[i] = jm_dict_intern(c->dict, s, strlen(s));
	}
	jm_col_sync_na(c, f->nrows);
	f->cols[j] = c;
	jm_col_free(old);
	return 0;
}

/* Every column the model's inputs come from is in DATA (all missing ones
 * named at once), and every column the run reads that DATA has is of a
 * type the run can use: numbers where it read numbers; where it read
 * text, numbers are taken as their text.  A run without quality.json
 * (its table of the training CSV's columns) is not checked here: the
 * stages then name the first column they miss. */
static int check_columns(predictor *p, const char *target, jm_err *err)
{
	train_cols tc;
	int n = 0, rc = -1;
	train_cols_load(&tc, p->run_dir);
	const char **need_list = needed_columns(p, &tc, 0, &n);
	jm_buf missing = JM_BUF_INIT, all = JM_BUF_INIT;
	int nmissing = 0;
	char esc[200], esc2[200], buf[64];
	for (int i = 0; i < n; i++) {
		if (!strcmp(need_list[i], target))
			continue;
		jm_escape_text(esc, sizeof esc, need_list[i]);
		if (all.len < 600)
			jm_buf_printf(&all, "%s%s", all.len ? ", " : "", esc);
		if (jm_frame_index(p->frame, need_list[i]) < 0) {
			/* a column renamed in DATA: the closest name it has */
			const char *best = NULL;
			int best_d = 99;
			for (int k = 0; k < p->frame->ncols; k++)
				jm_suggest_consider(need_list[i], p->frame->cols[k]->name, &best, &best_d);
			jm_buf_printf(&missing, "%s\"%s\"", nmissing++ ? ", " : "", esc);
			if (best)
				jm_buf_printf(&missing, " (DATA has \"%s\")",
					      jm_escape_text(esc, sizeof esc, best));
		}
	}
	if (nmissing) {
		jm_err_set(err, JM_EXIT_INPUT, "%s: no column%s %s, which run %lld's model needs (it "
			   "reads %s%s)", p->src.name, nmissing == 1 ? "" : "s", jm_buf_str(&missing),
			   (long long)p->run, jm_buf_str(&all), all.len >= 600 ? ", ..." : "");
		jm_buf_release(&all);
		goto out;
	}
	jm_buf_release(&all);
	free(need_list);
	need_list = needed_columns(p, &tc, 1, &n);
	for (int i = 0; i < n; i++) {
		int j = jm_frame_index(p->frame, need_list[i]);
		if (j < 0)
			continue;
		const jm_col *c = p->frame->cols[j];
		const char *was = tc.type[train_cols_find(&tc, need_list[i])];
		const char *is = jm_coltype_name(c->type);
		int all_missing = c->n_na == p->frame->nrows;
		if (!strcmp(was, "string") && (is_number_type(is) || all_missing)) {
			if (column_to_text(p->frame, j, err) < 0)
				goto out;
		} else if (is_number_type(was) && !all_missing &&
			   (c->type == JM_COL_STR || c->type == JM_COL_TIME)) {
			/* the first value that is not a number (the column may
			 * hold numbers and text: quote the text) */
			int64_t r = 0, first = -1;
			for (; r < p->frame->nrows; r++) {
				if (jm_col_isna(c, r))
					continue;
				if (first < 0)
					first = r;
				const char *v = jm_col_text(c, r, buf, sizeof buf);
				char *end = NULL;
				strtod(v, &end);
				if (c->type != JM_COL_STR || end == v || *end)
					break;
			}
			if (r == p->frame->nrows)
				r = first;
			jm_err_set(err, JM_EXIT_INPUT, "%s: column \"%s\" holds %s (row %lld: \"%s\"), "
				   "and run %lld's model takes numbers there (%s)", p->src.name,
				   jm_escape_text(esc, sizeof esc, c->name),
				   c->type == JM_COL_STR ? "text" : "dates",
				   (long long)jm_frame_origin(p->frame, r) + 1,
				   jm_escape_text(esc2, sizeof esc2, jm_col_text(c, r, buf, sizeof buf)),
				   (long long)p->run, was);
			goto out;
		}
	}
	rc = 0;
out:
	jm_buf_release(&missing);
	free(need_list);
	train_cols_free(&tc);
	return rc;
}

/* ---- a CSV run: the rows -------------------------------------------------- */

static int looks_like_idx(const jm_source *s)
{
	const unsigned char *b = (const unsigned char *)s->data;
	return s->n >= 4 && b[0] == 0 && b[1] == 0 && b[2] == 0x08 && (b[3] == 1 || b[3] == 3);
}

/* DATA read as the run read its CSV ([data] delimiter, comment,
 * na_values), rows numbered from 0 in input order. */
static int read_csv(predictor *p, jm_err *err)
{
	const jm_flow *f = p->flow;
	jm_source_opts so;
	jm_source_opts_init(&so);
	if (jm_source_open(&p->src, p->o->data, &so, err) < 0)
		return -1;
	if (looks_like_idx(&p->src))
		return jm_err_set(err, JM_EXIT_INPUT, "%s: an IDX file of %s, and run %lld was trained "
				  "on a CSV (%s): give it rows of the same columns", p->src.name,
				  p->src.data[3] == 3 ? "images" : "labels", (long long)p->run,
				  f->data.source);
	jm_csv_info info = {0};
	int rc = jm_tabular_parse_csv(f, &p->src, p->o->limit, &p->frame, &info, err);
	/* what the reader saw (short rows, a file cut off, mixed columns), as
	 * a run says it: predictions from filled-in values need saying */
	for (int i = 0; rc == 0 && i < info.n_notes; i++)
		fprintf(p->msg, "jianmo: note: %s: %s\n", p->src.name, info.notes[i]);
	jm_csv_info_clear(&info);
	if (rc < 0)
		return -1;
	p->n = p->frame->nrows;
	return 0;
}

/* Rows [clean] dropped: the input rows the frame no longer holds. */
static void note_clean_drops(predictor *p, const jm_clean_report *rep)
{
	uint8_t *kept = jm_xcalloc((size_t)p->n + 1, 1);
	for (int64_t i = 0; i < p->frame->nrows; i++)
		kept[jm_frame_origin(p->frame, i)] = 1;
	skipped s = {0};
	for (int64_t i = 0; i < p->n; i++)
		if (!kept[i])
			skipped_add(&s, i);
	free(kept);
	if (!s.n)
		return;
	jm_buf why = JM_BUF_INIT;
	jm_buf_addstr(&why, "the run's [clean] rules drop them (");
	int k = 0;
	for (int i = 0; i < rep->nsteps; i++)
		if (rep->steps[i].rows_dropped)
			jm_buf_printf(&why, "%s%s: %lld", k++ ? "; " : "", rep->steps[i].rule,
				      (long long)rep->steps[i].rows_dropped);
	jm_buf_addch(&why, ')');
	note_skipped(p->msg, &s, p->n, jm_buf_str(&why));
	jm_buf_release(&why);
}

/* The model's inputs after the features: present and numbers; rows whose
 * inputs the run could not use (missing, unless [features] missing =
 * zero; infinite) are taken out here, with a note, so the matrix holds
 * exactly the rows that get a prediction. */
static int usable_rows(predictor *p, jm_err *err)
{
	const jm_features *fs = &p->features;
	jm_frame *fr = p->frame;
	int zero = fs->missing && !strcmp(fs->missing, "zero");
	jm_buf absent = JM_BUF_INIT;
	int nabsent = 0;
	char esc[200];
	for (int j = 0; j < fs->ninputs; j++)
		if (!jm_frame_col(fr, fs->inputs[j]))
			jm_buf_printf(&absent, "%s\"%s\"", nabsent++ ? ", " : "",
				      jm_escape_text(esc, sizeof esc, fs->inputs[j]));
	if (nabsent) {
		jm_err_set(err, JM_EXIT_INPUT, "%s: no input%s %s after the run's [features] (the "
			   "model's inputs: %d columns, see %s/features.state)", p->src.name,
			   nabsent == 1 ? "" : "s", jm_buf_str(&absent), fs->ninputs, p->run_dir);
		jm_buf_release(&absent);
		return -1;
	}
	jm_buf_release(&absent);
	uint8_t *keep = jm_xmalloc((size_t)fr->nrows + 1);
	memset(keep, 1, (size_t)fr->nrows + 1);
	skipped miss = {0}, inf = {0};
	const char *miss_col = NULL, *inf_col = NULL;
	for (int j = 0; j < fs->ninputs; j++) {
		const jm_col *c = jm_frame_col(fr, fs->inputs[j]);
		if (c->type != JM_COL_F64 && c->type != JM_COL_I64 && c->type != JM_COL_BOOL) {
			free(keep);
			return jm_err_set(err, JM_EXIT_INPUT, "%s: input \"%s\" is %s after the run's "
					  "[features], and the model takes numbers", p->src.name,
					  jm_escape_text(esc, sizeof esc, c->name),
					  jm_coltype_name(c->type));
		}
		for (int64_t i = 0; i < fr->nrows; i++) {
			if (!keep[i])
				continue;
			if (jm_col_isna(c, i) && !zero) {
				keep[i] = 0;
				skipped_add(&miss, jm_frame_origin(fr, i));
				miss_col = miss_col ? miss_col : c->name;
			} else if (c->type == JM_COL_F64 && !(fabs(c->v.f64[i]) <= FLT_MAX)) {
				keep[i] = 0;
				skipped_add(&inf, jm_frame_origin(fr, i));
				inf_col = inf_col ? inf_col : c->name;
			}
		}
	}
	char why[512];
	if (miss.n) {
		snprintf(why, sizeof why, "an input is missing (first: \"%s\") and the run's [features] "
			 "missing = %s", jm_escape_text(esc, sizeof esc, miss_col),
			 fs->missing ? fs->missing : "error");
		note_skipped(p->msg, &miss, p->n, why);
	}
	if (inf.n) {
		snprintf(why, sizeof why, "an input is infinite or beyond a float's range "
			 "(first: \"%s\")",
			 jm_escape_text(esc, sizeof esc, inf_col));
		note_skipped(p->msg, &inf, p->n, why);
	}
	int rc = miss.n || inf.n ? jm_frame_filter(fr, keep, err) : 0;
	free(keep);
	return rc;
}

/* The known targets of the matrix's rows, when DATA has the target
 * column: labels (a class the run never saw: no accuracy, with a note)
 * or values.  Rows whose target is missing are not scored. */
static void known_targets(predictor *p)
{
	const jm_features *fs = &p->features;
	const jm_col *t = jm_frame_col(p->frame, fs->target);
	if (!t)
		return;
	jm_err terr = {0};
	jm_matrix ym;
	if (jm_features_matrix(fs, p->frame, NULL, &ym, &terr) < 0) {
		fprintf(p->msg, "jianmo: note: %s: no %s: %s\n", p->src.name,
			p->regression ? "rmse, mae or r2" : "accuracy", terr.msg);
		return;
	}
	if (p->regression) {
		p->y = jm_xmalloc((size_t)p->m * sizeof *p->y + 1);
		for (int64_t i = 0, r = 0; i < p->m; i++)
			p->y[i] = jm_col_isna(t, i) ? NAN : ym.y_value[r++];
	} else {
		p->label = jm_xmalloc((size_t)p->m * sizeof *p->label + 1);
		for (int64_t i = 0, r = 0; i < p->m; i++)
			p->label[i] = jm_col_isna(t, i) ? -1 : ym.y_class[r++];
	}
	jm_matrix_free(&ym);
}

static int prepare_csv(predictor *p, jm_err *err)
{
	jm_features *fs = &p->features;
	jm_clean view = {0};
	jm_clean_report rep = {0};
	jm_buf absent = JM_BUF_INIT;
	int rc = -1;
	if (read_csv(p, err) < 0)
		goto out;
	int has_target = jm_frame_col(p->frame, fs->target) != NULL;
	if (check_columns(p, fs->target, err) < 0)
		goto out;
	clean_view(&view, &p->clean, p->frame, fs->target, &absent);
	if (absent.len)
		fprintf(p->msg, "jianmo: note: %s has no %s: the run's [clean] rules on %s are left "
			"out (the model's inputs do not come from %s)\n", p->src.name,
			jm_buf_str(&absent), strchr(jm_buf_str(&absent), ',') ? "them" : "it",
			strchr(jm_buf_str(&absent), ',') ? "them" : "it");
	if (jm_clean_apply(&view, p->frame, &rep, err) < 0 ||
	    jm_features_apply(fs, p->frame, err) < 0) {
		jm_err_prefix(err, "%s", p->src.name);
		goto out;
	}
	note_clean_drops(p, &rep);
	if (usable_rows(p, err) < 0)
		goto out;
	/* the inputs alone: the target (when there) is read apart, so a row
	 * without one still gets its prediction */
	jm_features inputs_only = *fs;
	inputs_only.target = NULL;
	inputs_only.missing = "zero"; /* the rows left are the ones to use */
	if (jm_features_matrix(&inputs_only, p->frame, NULL, &p->x, err) < 0) {
		jm_err_prefix(err, "%s", p->src.name);
		goto out;
	}
	p->m = p->x.rows;
	p->row = jm_xmalloc((size_t)p->m * sizeof *p->row + 1);
	for (int64_t i = 0; i < p->m; i++)
		p->row[i] = jm_frame_origin(p->frame, i);
	if (has_target)
		known_targets(p);
	rc = 0;
out:
	jm_buf_release(&absent);
	jm_clean_report_clear(&rep);
	clean_view_free(&view);
	return rc;
}

/* ---- an image run ------------------------------------------------------------- */

static int meta_int3(const jm_ckpt_meta *meta, const char *key, int *a, int *b, int *c)
{
	const char *v = jm_ckpt_meta_get(meta, key);
	return v && sscanf(v, "%d,%d,%d", a, b, c) == 3 && *a > 0 && *b > 0 && *c > 0 ? 0 : -1;
}

static int meta_float(const jm_ckpt_meta *meta, const char *key, float *out)
{
	const char *v = jm_ckpt_meta_get(meta, key);
	char *end;
	if (!v)
		return -1;
	*out = strtof(v, &end);
	return end != v && !*end ? 0 : -1;
}

/* The model's classes from its metadata ("classes": names in label
 * order, comma-separated). */
static int meta_classes(predictor *p)
{
	const char *v = jm_ckpt_meta_get(&p->meta, "classes");
	if (!v || !*v)
		return -1;
	char *copy = jm_xstrdup(v), *save = NULL;
	for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		p->classes = jm_xrealloc(p->classes, (size_t)(p->K + 2) * sizeof *p->classes);
		p->classes[p->K++] = jm_xstrdup(t);
	}
	free(copy);
	return p->K > 0 ? 0 : -1;
}

/* Without the final model's metadata (a stopped run's checkpoint): shape,
 * classes and normalisation from the run's training data, the way the
 * runner computes them (its split's training part, [data] normalize). */
static int image_setup_from_data(predictor *p, jm_err *err)
{
	const jm_flow *f = p->flow;
	jm_dataset *train = NULL, *test = NULL;
	jm_split sp = {0};
	jm_norm norm;
	int rc = -1;
	fprintf(p->msg, "jianmo: note: reading run %lld's training data for its normalisation\n",
		(long long)p->run);
	if (jm_dataset_load(f, &train, &test, err) < 0 ||
	    jm_split_make(&sp, train->labels, train->n, train->n_classes, f->split.val, 0.0,
			  f->split.stratify, (uint64_t)f->train.seed, err) < 0 ||
	    jm_dataset_norm(&norm, train, sp.train, sp.n_train, f->data.normalize, err) < 0)
		goto out;
	p->scale = norm.scale;
	p->shift = norm.shift;
	p->c = train->c;
	p->h = train->h;
	p->w = train->w;
	p->K = train->n_classes;
	p->classes = jm_xcalloc((size_t)p->K + 1, sizeof *p->classes);
	for (int k = 0; k < p->K; k++) {
		char buf[16];
		p->classes[k] = jm_xstrdup(jm_dataset_class_name(train, k, buf));
	}
	rc = 0;
out:
	jm_split_clear(&sp);
	jm_dataset_free(train);
	jm_dataset_free(test);
	return rc;
}

/* An IDX file of kind from a source spec (a path, .gz, archive member). */
static int read_idx(predictor *p, const char *spec, int kind, jm_idx *out, jm_err *err)
{
	jm_source src = {0};
	jm_source_opts so;
	jm_source_opts_init(&so);
	if (jm_source_open(&src, spec, &so, err) < 0)
		return -1;
	const unsigned char *b = (const unsigned char *)src.data;
	int rc;
	if (src.n >= 4 && !(b[0] == 0 && b[1] == 0) && !(b[0] == 0x1f && b[1] == 0x8b)) {
		/* text, most likely: its first line, or the start of it */
		char head[16], esc[64];
		size_t k = 0;
		while (k < src.n && k < sizeof head - 1 && b[k] != '\n' && b[k] != '\r')
			head[k] = (char)b[k], k++;
		head[k] = '\0';
		rc = jm_err_set(err, JM_EXIT_INPUT, "%s: not an IDX file (it starts with \"%s\": a "
				"CSV?), and run %lld was trained on images (%s): give %s file, "
				"idx%d-ubyte, optionally .gz", src.name, jm_escape_text(esc, sizeof esc, head),
				(long long)p->run, p->flow->data.source,
				kind == JM_IDX_IMAGES ? "an image" : "a labels", kind);
	} else {
		rc = jm_idx_parse(out, src.data, src.n, kind, src.name, err);
	}
	jm_source_close(&src);
	return rc;
}

static int prepare_images(predictor *p, jm_err *err)
{
	const jm_predict_opts *o = p->o;
	if (meta_int3(&p->meta, "input_shape", &p->c, &p->h, &p->w) == 0 &&
	    meta_float(&p->meta, "input_scale", &p->scale) == 0 &&
	    meta_float(&p->meta, "input_shift", &p->shift) == 0 && meta_classes(p) == 0) {
		/* the final model says how to feed it */
	} else if (image_setup_from_data(p, err) < 0) {
		return -1;
	}
	if (read_idx(p, o->data, JM_IDX_IMAGES, &p->images, err) < 0)
		return -1;
	if (p->c != 1 || p->images.h != p->h || p->images.w != p->w)
		return jm_err_set(err, JM_EXIT_INPUT, "%s: images of %dx%d, and run %lld's model takes "
				  "%dx%d (%d channel%s)", o->data, p->images.h, p->images.w,
				  (long long)p->run, p->h, p->w, p->c, p->c == 1 ? "" : "s");
	p->n = p->images.n;
	if (o->labels) {
		if (read_idx(p, o->labels, JM_IDX_LABELS, &p->labels, err) < 0)
			return -1;
		if (p->labels.n != p->images.n)
			return jm_err_set(err, JM_EXIT_INPUT, "%s: %lld labels for the %lld images of %s",
					  o->labels, (long long)p->labels.n, (long long)p->images.n,
					  o->data);
		for (int64_t i = 0; i < p->labels.n; i++)
			if (p->labels.data[i] >= p->K)
				return jm_err_set(err, JM_EXIT_INPUT, "%s: label %d (item %lld) is not one "
						  "of run %lld's %d classes", o->labels,
						  p->labels.data[i], (long long)i + 1, (long long)p->run,
						  p->K);
	}
	if (o->limit > 0 && o->limit < p->n)
		p->n = o->limit;
	p->m = p->n;
	if (o->labels) {
		p->label = jm_xmalloc((size_t)p->m * sizeof *p->label + 1);
		for (int64_t i = 0; i < p->m; i++)
			p->label[i] = p->labels.data[i];
	}
	return 0;
}

/* ---- forward ------------------------------------------------------------------- */

/* "predicting:  45% (...)" redrawn when the percentage moves, on a
 * terminal, for inputs long enough to wait for. */
static void progress(predictor *p, int64_t done)
{
	int pct = p->m ? (int)(100 * done / p->m) : 100;
	if (!p->o->progress || p->m < 100000 || pct == p->shown_pct)
		return;
	p->shown_pct = pct;
	fprintf(p->msg, "\rpredicting: %3d%% (%lld of %lld rows)", pct, (long long)done,
		(long long)p->m);
	if (done == p->m)
		fputs("\r\033[K", p->msg);
	fflush(p->msg);
}

/* Row i of the batch's logits into the per-row results, and the metrics. */
static void take_row(predictor *p, const float *z, int64_t i, jm_predict_result *res,
		     double sums[4])
{
	int64_t row = p->row ? p->row[i] : i;
	int K = p->K;
	for (int k = 0; k < K; k++)
		if (!isfinite(z[k])) {
			/* an input beyond what the model's scale holds: no
			 * prediction, rather than NaN probabilities */
			skipped_add(&p->nonfinite, row);
			if (p->y)
				p->y[i] = NAN;
			return;
		}
	if (p->regression) {
		double v = (double)z[0] * p->y_std + p->y_mean;
		p->value[row] = v;
		if (p->y && !isnan(p->y[i])) {
			double e = v - p->y[i];
			sums[0] += e * e;
			sums[1] += fabs(e);
			sums[2] += p->y[i];
			res->scored++;
		}
		return;
	}
	int best = 0;
	for (int k = 1; k < K; k++)
		if (z[k] > z[best])
			best = k;
	p->pred[row] = best;
	double mx = z[best], sum = 0;
	for (int k = 0; k < K; k++)
		sum += exp((double)z[k] - mx);
	if (p->proba)
		for (int k = 0; k < K; k++)
			p->proba[(size_t)row * (size_t)K + (size_t)k] = (float)(exp((double)z[k] - mx) / sum);
	if (p->label && p->label[i] >= 0) {
		res->scored++;
		res->correct += best == p->label[i];
		sums[0] += log(sum) - ((double)z[p->label[i]] - mx);
	}
}

static int forward_all(predictor *p, jm_predict_result *res, jm_err *err)
{
	const jm_backend *be = p->be;
	int D = p->c * p->h * p->w, K = p->K, rc = -1;
	float *x = be->alloc((size_t)p->maxb * (size_t)D * sizeof *x);
	float *logits = malloc((size_t)p->maxb * (size_t)K * sizeof *logits);
	uint8_t *pix = NULL;
	int32_t *idx = NULL, *idx_host = NULL;
	double sums[4] = {0, 0, 0, 0};
	if (p->images.data) {
		pix = be->alloc((size_t)p->maxb * (size_t)D);
		idx = be->alloc((size_t)p->maxb * sizeof *idx);
		idx_host = malloc((size_t)p->maxb * sizeof *idx_host);
	}
	if (!x || !logits || (p->images.data && (!pix || !idx || !idx_host))) {
		jm_err_set(err, JM_EXIT_FAIL, "out of %s memory for batches of %d rows", be->name,
			   p->maxb);
		goto out;
	}
	if (idx_host) {
		for (int i = 0; i < p->maxb; i++)
			idx_host[i] = i;
		be->to_device(idx, idx_host, (size_t)p->maxb * sizeof *idx);
	}
	for (int64_t pos = 0; pos < p->m; pos += p->maxb) {
		int B = (int)(p->m - pos < p->maxb ? p->m - pos : p->maxb);
		if (pix) {
			be->to_device(pix, p->images.data + (size_t)pos * (size_t)D, (size_t)B * (size_t)D);
			be->gather_u8(x, pix, idx, B, D, p->scale, p->shift);
		} else {
			be->to_device(x, p->x.x + (size_t)pos * (size_t)D,
				      (size_t)B * (size_t)D * sizeof *x);
		}
		float *z = jm_model_forward(p->model, x, B, 0, 0);
		if (!z) {
			jm_err_set(err, JM_EXIT_FAIL, "a batch of %d rows was refused by the model", B);
			goto out;
		}
		be->to_host(logits, z, (size_t)B * (size_t)K * sizeof *logits);
		for (int i = 0; i < B; i++)
			take_row(p, logits + (size_t)i * (size_t)K, pos + i, res, sums);
		progress(p, pos + B);
	}
	char why[512];
	if (be->sync(why, sizeof why) < 0) {
		jm_err_set(err, JM_EXIT_FAIL, "predicting on %s: %s", be->name, why);
		goto out;
	}
	res->predicted = p->m - p->nonfinite.n;
	if (p->nonfinite.n)
		note_skipped(p->msg, &p->nonfinite, p->n,
			     "the model's outputs were not finite (an input far beyond the values "
			     "the run trained on)");
	if (res->scored && p->regression) {
		/* r2 as scikit-learn: against the mean of the scored targets */
		double mean = sums[2] / (double)res->scored, ss_tot = 0;
		for (int64_t i = 0; i < p->m; i++)
			if (!isnan(p->y[i]))
				ss_tot += (p->y[i] - mean) * (p->y[i] - mean);
		res->rmse = sqrt(sums[0] / (double)res->scored);
		res->mae = sums[1] / (double)res->scored;
		res->r2 = ss_tot > 0 ? 1.0 - sums[0] / ss_tot : NAN;
	} else if (res->scored) {
		res->acc = (double)res->correct / (double)res->scored;
		res->loss = sums[0] / (double)res->scored;
	}
	rc = 0;
out:
	be->free(x);
	be->free(pix);
	be->free(idx);
	free(idx_host);
	free(logits);
	return rc;
}

/* ---- output ---------------------------------------------------------------------- */

static void write_rows(const predictor *p, FILE *out)
{
	int K = p->K;
	fputs("row,prediction", out);
	for (int k = 0; p->proba && k < K; k++) {
		char *h = jm_xasprintf("p_%s", p->classes[k]);
		fputc(',', out);
		jm_csv_write_field(out, h);
		free(h);
	}
	fputc('\n', out);
	for (int64_t r = 0; r < p->n; r++) {
		fprintf(out, "%lld,", (long long)r + 1);
		if (p->regression) {
			if (!isnan(p->value[r]))
				fprintf(out, "%.9g", p->value[r]);
		} else if (p->pred[r] >= 0) {
			jm_csv_write_field(out, p->classes[p->pred[r]]);
		}
		for (int k = 0; p->proba && k < K; k++) {
			fputc(',', out);
			if (p->pred[r] >= 0)
				fprintf(out, "%.6g", (double)p->proba[(size_t)r * (size_t)K + (size_t)k]);
		}
		fputc('\n', out);
	}
}

/* --out, checked before anything is read: as export --bundle's file
 * (util/outpath.h: nothing inside the store's home, links followed, its
 * directory there), no directory, and not DATA itself. */
static int check_out_path(predictor *p, jm_err *err)
{
	const char *path = p->o->out;
	if (!path)
		return 0;
	char label[4200];
	snprintf(label, sizeof label, "--out %s", path);
	if (jm_outpath_resolve(&p->out, path, label, jm_store_home(p->store), "predictions",
			       err) < 0)
		return -1;
	struct stat data;
	if (p->out.exists && S_ISDIR(p->out.st.st_mode))
		return jm_err_set(err, JM_EXIT_INPUT, "--out %s: is a directory; name a file", path);
	if (p->out.exists && S_ISREG(p->out.st.st_mode) && stat(p->o->data, &data) == 0 &&
	    data.st_dev == p->out.st.st_dev && data.st_ino == p->out.st.st_ino)
		return jm_err_set(err, JM_EXIT_INPUT, "--out %s: is DATA, the file predicted; write "
				  "the predictions elsewhere", path);
	return 0;
}

/* To o->out through a temporary file beside it, renamed into place when
 * complete; or to stdout. */
static int write_output(const predictor *p, jm_err *err)
{
	const char *path = p->o->out;
	if (!path) {
		write_rows(p, stdout);
		if (fflush(stdout) != 0 || ferror(stdout))
			return jm_err_set(err, JM_EXIT_FAIL, "stdout: %s", strerror(errno));
		return 0;
	}
	if (p->out.exists && !S_ISREG(p->out.st.st_mode)) {
		/* a device, a fifo, /dev/stdout: written in place, as > would */
		FILE *fp = fopen(path, "w");
		if (!fp)
			return jm_err_set(err, JM_EXIT_FAIL, "%s: %s", path, strerror(errno));
		write_rows(p, fp);
		int bad = ferror(fp) != 0;
		if (fclose(fp) != 0)
			bad = 1;
		return bad ? jm_err_set(err, JM_EXIT_FAIL, "%s: %s", path, strerror(errno)) : 0;
	}
	/* beside the file a link names, so the link stays */
	char *tmp = jm_xasprintf("%s.XXXXXX", p->out.real);
	int fd = jm_mkstemp_file(tmp);
	FILE *fp = fd >= 0 ? fdopen(fd, "w") : NULL;
	if (!fp) {
		jm_err_set(err, JM_EXIT_FAIL, "%s: %s", path, strerror(errno));
		if (fd >= 0) {
			close(fd);
			unlink(tmp);
		}
		free(tmp);
		return -1;
	}
	write_rows(p, fp);
	int bad = ferror(fp) || fflush(fp) != 0 || fsync(fileno(fp)) != 0;
	int saved = errno;
	if (fclose(fp) != 0 && !bad) {
		bad = 1;
		saved = errno;
	}
	if (!bad && rename(tmp, p->out.real) != 0) {
		bad = 1;
		saved = errno;
	}
	if (bad) {
		unlink(tmp);
		jm_err_set(err, JM_EXIT_FAIL, "%s: %s", path, strerror(saved));
	}
	free(tmp);
	return bad ? -1 : 0;
}

static void summary(const predictor *p, const jm_predict_result *res)
{
	FILE *msg = p->msg;
	fprintf(msg, "run %lld: predicted %lld of %lld %s of %s", (long long)p->run,
		(long long)res->predicted, (long long)res->rows, p->tabular ? "rows" : "images",
		p->tabular ? p->src.name : p->o->data);
	if (res->scored && p->regression)
		fprintf(msg, "; over the %lld with a target: rmse %.6g mae %.6g r2 %.6f",
			(long long)res->scored, res->rmse, res->mae, res->r2);
	else if (res->scored)
		fprintf(msg, "; accuracy %.6f (%lld of %lld %s) log loss %.6f", res->acc,
			(long long)res->correct, (long long)res->scored,
			p->tabular ? "with a target" : "labelled", res->loss);
	if (p->o->out)
		fprintf(msg, "; wrote %s", p->o->out);
	fputc('\n', msg);
}

/* ---- the whole ------------------------------------------------------------------- */

static void predictor_free(predictor *p)
{
	jm_model_free(p->model);
	jm_outpath_free(&p->out);
	jm_store_close(p->store);
	jm_flow_free(p->flow);
	free(p->run_dir);
	jm_ckpt_meta_free(&p->meta);
	jm_strv_free(p->classes, p->K);
	jm_clean_free(&p->clean);
	jm_features_free(&p->features);
	jm_frame_free(p->frame);
	jm_matrix_free(&p->x);
	jm_source_close(&p->src);
	jm_idx_clear(&p->images);
	jm_idx_clear(&p->labels);
	free(p->row);
	free(p->label);
	free(p->y);
	free(p->pred);
	free(p->value);
	free(p->proba);
}

int jm_predict(const jm_predict_opts *o, jm_predict_result *res, jm_err *err)
{
	predictor pp = {.o = o, .msg = o->msg ? o->msg : stderr, .shown_pct = -1}, *p = &pp;
	jm_predict_result r = {.acc = NAN, .loss = NAN, .rmse = NAN, .mae = NAN, .r2 = NAN};
	int rc = -1;
	jm_clean_init(&p->clean);
	jm_features_init(&p->features);
	if (load_run(p, err) < 0 || check_out_path(p, err) < 0)
		goto out;
	p->tabular = jm_flow_is_tabular(p->flow);
	if (o->labels && p->tabular) {
		jm_err_set(err, JM_EXIT_INPUT, "--labels is for a run on images; run %lld was trained "
			   "on a CSV, whose target column (\"%s\") gives the labels", (long long)p->run,
			   p->flow->data.target);
		goto out;
	}
	if (p->tabular && load_state(p, err) < 0)
		goto out;
	if (o->proba && p->regression) {
		jm_err_set(err, JM_EXIT_INPUT, "--proba: run %lld is a regression of \"%s\", with no "
			   "classes", (long long)p->run, p->flow->data.target);
		goto out;
	}
	if ((p->tabular ? prepare_csv(p, err) : prepare_images(p, err)) < 0)
		goto out;
	r.rows = p->n;
	r.regression = p->regression;
	if (pick_backend(p, err) < 0 || build_model(p, err) < 0)
		goto out;
	p->pred = malloc((size_t)p->n * sizeof *p->pred + 1);
	p->value = malloc((size_t)p->n * sizeof *p->value + 1);
	if (o->proba)
		p->proba = malloc((size_t)p->n * (size_t)p->K * sizeof *p->proba + 1);
	if (!p->pred || !p->value || (o->proba && !p->proba)) {
		jm_err_set(err, JM_EXIT_FAIL, "out of memory for %lld predictions", (long long)p->n);
		goto out;
	}
	for (int64_t i = 0; i < p->n; i++) {
		p->pred[i] = -1;
		p->value[i] = NAN;
	}
	if (forward_all(p, &r, err) < 0 || write_output(p, err) < 0)
		goto out;
	summary(p, &r);
	rc = 0;
out:
	if (res)
		*res = r;
	predictor_free(p);
	return rc;
}
