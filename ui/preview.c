/*
 * preview.c: the wizard's previews (see preview.h).
 *
 *   data:   [data] dir changes ──▶ worker thread: the first samples of the
 *           training set (jm_dataset_load_idx) ──mutex──▶ ctx->samples
 *           draw: a grid of braille images with class names under them
 *           a CSV source instead: [data], [clean] or [features] text
 *           changes ──▶ worker thread: jm_tabular_peek_load (the frame's
 *           quality report, [clean] then [features] fitted on it)
 *           ──mutex──▶ ctx->table
 *           draw: a column table (type, missing, mean, min, max)
 *   clean:  the same ctx->table: the rules' steps, then each column's
 *           statistics before ──▶ after
 *   features: the same ctx->table: the task, the model's inputs with
 *           their statistics after the steps (new columns marked), notes
 *   augment: two samples of ctx->samples ──jm_mix_draw_one (seeded from
 *           [train] seed) ──jm_mix_from_draw──▶ jm_aug_mix plans ──CPU
 *           backend augment_mix, mix_targets──▶ the CutMix and MixUp pairs,
 *           their lambda and soft labels; [augment]'s per-image settings,
 *           and when the flow has any, the same two samples through them
 *           (jm_augment_plan, CPU backend augment_geometry)
 *   model:  [model] text or input shape changes ──▶ jm_model_build on the
 *           CPU backend (batch 1) ──jm_model_describe──▶ cached lines
 *   review: the file as Save writes it (jm_flow_edit of the text set by
 *           jm_preview_base), and jm_flow_validate's verdict
 */
#include "ui/preview.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "data/dataset.h"
#include "engine/backend.h"
#include "engine/model.h"
#include "pipeline/augment.h"
#include "pipeline/runner.h"
#include "pipeline/tabular.h"
#include "ui/chart.h"
#include "ui/doc.h"
#include "util/strbuf.h"

#define PREVIEW_SAMPLES 48

struct jm_preview_ctx {
	pthread_mutex_t mu;
	pthread_t thread;
	int thread_live;       /* joinable */
	int loading;           /* the worker is running */
	char *want_dir;        /* the dir the current samples are (being) loaded for */
	jm_dataset *samples;   /* under mu */
	char *error;           /* under mu */

	/* a CSV source: its own loader, as the images' */
	pthread_t tthread;
	int tthread_live;
	int tloading;          /* under mu */
	char *table_key;       /* the [data] and [clean] text it is (being) loaded for */
	jm_tabular_peek *table; /* under mu */
	char *table_error;     /* under mu */

	char *model_key;       /* what the cached description was built from */
	char *model_text;      /* describe output, or the error */
	int model_failed;

	char *base;            /* the text Save edits (jm_preview_base); NULL: new */
};

jm_preview_ctx *jm_preview_new(void)
{
	jm_preview_ctx *p = jm_xcalloc(1, sizeof *p);
	pthread_mutex_init(&p->mu, NULL);
	return p;
}

static void join_loader(jm_preview_ctx *p)
{
	if (p->thread_live) {
		pthread_join(p->thread, NULL);
		p->thread_live = 0;
	}
}

static void join_table(jm_preview_ctx *p)
{
	if (p->tthread_live) {
		pthread_join(p->tthread, NULL);
		p->tthread_live = 0;
	}
}

void jm_preview_free(jm_preview_ctx *p)
{
	if (!p)
		return;
	join_loader(p);
	join_table(p);
	jm_tabular_peek_free(p->table);
	free(p->table);
	free(p->table_error);
	free(p->table_key);
	jm_dataset_free(p->samples);
	free(p->error);
	free(p->want_dir);
	free(p->model_key);
	free(p->model_text);
	free(p->base);
	pthread_mutex_destroy(&p->mu);
	free(p);
}

void jm_preview_base(jm_preview_ctx *p, const char *text)
{
	char *copy = text ? jm_xstrdup(text) : NULL;
	free(p->base);
	p->base = copy;
}

int jm_preview_busy(jm_preview_ctx *p)
{
	pthread_mutex_lock(&p->mu);
	int busy = p->loading || p->tloading;
	pthread_mutex_unlock(&p->mu);
	return busy;
}

/* ---- data ------------------------------------------------------------------ */

typedef struct load_job {
	jm_preview_ctx *p;
	char *dir;
} load_job;

static void *loader(void *arg)
{
	load_job *job = arg;
	jm_preview_ctx *p = job->p;
	jm_err err = {0};
	char *paths[JM_IDX_NFILES] = {0};
	jm_dataset *d = NULL;
	if (jm_dataset_find(job->dir, paths, &err) == 0)
		jm_dataset_load_idx(&d, paths[JM_IDX_TRAIN_IMAGES], paths[JM_IDX_TRAIN_LABELS],
				    PREVIEW_SAMPLES, &err);
	for (int i = 0; i < JM_IDX_NFILES; i++)
		free(paths[i]);
	if (d && !strcmp(job->dir, JM_FMNIST_DIR) && d->n_classes <= 10)
		d->class_names = jm_fmnist_classes;
	pthread_mutex_lock(&p->mu);
	jm_dataset_free(p->samples);
	free(p->error);
	p->samples = d;
	p->error = d ? NULL : jm_xstrdup(err.msg);
	p->loading = 0;
	pthread_mutex_unlock(&p->mu);
	free(job->dir);
	free(job);
	return NULL;
}

static void want_samples(jm_preview_ctx *p, const char *dir)
{
	if (p->want_dir && !strcmp(p->want_dir, dir))
		return;
	if (jm_preview_busy(p))
		return; /* the next draw asks again */
	join_loader(p);
	free(p->want_dir);
	p->want_dir = jm_xstrdup(dir);
	load_job *job = jm_xcalloc(1, sizeof *job);
	job->p = p;
	job->dir = jm_xstrdup(dir);
	pthread_mutex_lock(&p->mu);
	p->loading = 1;
	pthread_mutex_unlock(&p->mu);
	if (pthread_create(&p->thread, NULL, loader, job) != 0) {
		p->loading = 0;
		free(job->dir);
		free(job);
		return;
	}
	p->thread_live = 1;
}

/* msg wrapped into rows y .. y+h-1; returns the rows used. */
static int draw_wrapped(jm_canvas *c, int x, int y, int w, int h, const char *msg, int attr,
			int col)
{
	jm_doc doc = {0};
	int row = 0;
	jm_doc_text(&doc, msg ? msg : "", 0, 0);
	for (int i = 0; i < doc.n && row < h; i++)
		for (const char *s = doc.line[i]; *s && row < h; row++) {
			int len = (int)strlen(s), cut = len > w ? w : len;
			if (len > w) { /* at a blank when there is one */
				while (cut > 0 && s[cut] != ' ')
					cut--;
				if (cut == 0)
					cut = w;
			}
			jm_canvas_textf(c, x, y + row, w, attr, col, "%.*s", cut, s);
			s += cut;
			while (*s == ' ')
				s++;
		}
	jm_doc_clear(&doc);
	return row;
}

/* A failure: its title in bold red, then why, wrapped (in msg_color). */
static void draw_failure(jm_canvas *c, int x, int y, int w, int h, const char *title,
			 const char *msg, int msg_color)
{
	jm_canvas_text(c, x, y, w, title, JM_A_BOLD, JM_COL_BAD);
	draw_wrapped(c, x, y + 1, w, h - 1, msg, 0, msg_color);
}

static void no_data(jm_canvas *c, int x, int y, int w, int h, const char *msg)
{
	draw_failure(c, x, y, w, h, "No data", msg, 0);
}

/* ---- a CSV source: the table loader ------------------------------------------- */

typedef struct table_job {
	jm_preview_ctx *p;
	jm_flow *f;
} table_job;

static void *table_loader(void *arg)
{
	table_job *job = arg;
	jm_preview_ctx *p = job->p;
	jm_err err = {0};
	jm_tabular_peek *pk = jm_xcalloc(1, sizeof *pk);
	if (jm_tabular_peek_load(pk, job->f, &err) < 0) {
		jm_tabular_peek_free(pk);
		free(pk);
		pk = NULL;
	}
	pthread_mutex_lock(&p->mu);
	jm_tabular_peek_free(p->table);
	free(p->table);
	free(p->table_error);
	p->table = pk;
	p->table_error = pk ? NULL : jm_xstrdup(err.msg);
	p->tloading = 0;
	pthread_mutex_unlock(&p->mu);
	jm_flow_free(job->f);
	free(job);
	return NULL;
}

/* The lines of one "[name]" section of a flow's text (malloc'd). */
static char *section_of(const char *text, const char *name)
{
	const char *s = strstr(text, name);
	if (!s)
		return jm_xstrdup("");
	const char *e = strstr(s + 1, "\n[");
	return jm_xasprintf("%.*s", e ? (int)(e - s) : (int)strlen(s), s);
}

/* Load the table of f's CSV source unless it is (being) loaded for the
 * same [data], [clean] and [features]. */
static void want_table(jm_preview_ctx *p, const jm_flow *f)
{
	char *text = jm_flow_format(f);
	char *data = section_of(text, "[data]"), *clean = section_of(text, "[clean]");
	char *feat = section_of(text, "[features]");
	char *key = jm_xasprintf("%s\n%s\n%s", data, clean, feat);
	free(text), free(data), free(clean), free(feat);
	pthread_mutex_lock(&p->mu);
	int busy = p->tloading;
	pthread_mutex_unlock(&p->mu);
	if ((p->table_key && !strcmp(p->table_key, key)) || busy) { /* busy: the next draw asks */
		free(key);
		return;
	}
	join_table(p);
	free(p->table_key);
	p->table_key = key;
	table_job *job = jm_xcalloc(1, sizeof *job);
	job->p = p;
	job->f = jm_flow_dup(f);
	pthread_mutex_lock(&p->mu);
	p->tloading = 1;
	pthread_mutex_unlock(&p->mu);
	if (pthread_create(&p->tthread, NULL, table_loader, job) != 0) {
		pthread_mutex_lock(&p->mu);
		p->tloading = 0;
		pthread_mutex_unlock(&p->mu);
		jm_flow_free(job->f);
		free(job);
		free(p->table_key);
		p->table_key = NULL;
		return;
	}
	p->tthread_live = 1;
}

/* The file name of a path or URL ("data.zip:member.csv" stays). */
static const char *base_name(const char *path)
{
	const char *s = strrchr(path, '/');
	return s && s[1] ? s + 1 : path;
}

/* A statistic as the tables show it: datetimes as dates, else %.4g. */
static void fmt_stat(char *buf, size_t n, double v, jm_coltype t)
{
	if (isnan(v)) {
		snprintf(buf, n, "-");
	} else if (t == JM_COL_TIME) {
		time_t sec = (time_t)v;
		struct tm tm;
		gmtime_r(&sec, &tm);
		strftime(buf, n, "%Y-%m-%d", &tm);
	} else {
		snprintf(buf, n, "%.4g", v);
	}
}

/* Draw cells left to right, each in its width and a blank after it, while
 * they fit in w; right-aligned from the second on.  Returns how many. */
static int draw_cells(jm_canvas *c, int x, int y, int w, const char *const *cell,
		      const int *width, int n, int attr)
{
	int at = 0, k = 0;
	for (; k < n && at + width[k] <= w; k++) {
		if (k == 0)
			jm_canvas_text(c, x + at, y, width[k], cell[k], attr, 0);
		else
			jm_canvas_text_right(c, x + at, y, width[k], cell[k], attr, 0);
		at += width[k] + 1;
	}
	return k;
}

/* Loading, a message, or NULL when the table is there (mu held). */
static int table_state(jm_preview_ctx *p, const jm_flow *f, jm_canvas *c, int x, int y, int w,
		       int h)
{
	if (p->tloading || (!p->table && !p->table_error)) {
		jm_canvas_textf(c, x, y, w, JM_A_BOLD, JM_COL_LIVE, "loading %s...", f->data.source);
		return 1;
	}
	if (!p->table) {
		no_data(c, x, y, w, h, p->table_error);
		return 1;
	}
	return 0;
}

/* The CSV source's table with p->mu held, or NULL with the mutex free
 * after drawing why not: an image source (title, and hint on what to do),
 * the table loading, or its error. */
static const jm_tabular_peek *csv_table(jm_preview_ctx *p, const jm_flow *f, jm_canvas *c, int x,
					int y, int w, int h, const char *title, const char *hint)
{
	if (!jm_flow_is_tabular(f)) {
		jm_canvas_text(c, x, y, w, title, JM_A_BOLD, 0);
		draw_wrapped(c, x, y + 2, w, h - 2, hint, JM_A_DIM, 0);
		return NULL;
	}
	want_table(p, f);
	pthread_mutex_lock(&p->mu);
	if (table_state(p, f, c, x, y, w, h)) {
		pthread_mutex_unlock(&p->mu);
		return NULL;
	}
	return p->table;
}

static void preview_table(jm_preview_ctx *p, const jm_flow *f, jm_canvas *c, int x, int y, int w,
			  int h)
{
	want_table(p, f);
	pthread_mutex_lock(&p->mu);
	if (table_state(p, f, c, x, y, w, h))
		goto out;
	const jm_tabular_peek *pk = p->table;
	const jm_quality *q = &pk->quality;
	jm_canvas_textf(c, x, y, w, JM_A_BOLD, 0, "%s: %lld rows, %d columns", base_name(pk->source),
			(long long)pk->rows, q->ncols);
	int row = 1;
	for (int i = 0; i < pk->info.n_notes && row < 3; i++, row++)
		jm_canvas_text(c, x, y + row, w, pk->info.notes[i], JM_A_DIM, 0);
	int nw = 6;
	for (int j = 0; j < q->ncols; j++) {
		int l = (int)strlen(q->cols[j].name);
		nw = l > nw ? l : nw;
	}
	nw = nw > 18 ? 18 : nw;
	const int width[] = {nw, 7, 7, 10, 10, 10};
	const char *head[] = {"column", "type", "missing", "mean", "min", "max"};
	draw_cells(c, x, y + row++, w, head, width, 6, JM_A_BOLD);
	for (int j = 0; j < q->ncols && row < h; j++, row++) {
		const jm_colstats *s = &q->cols[j];
		char miss[24], mean[24], mn[24], mx[24];
		snprintf(miss, sizeof miss, "%lld", (long long)s->missing);
		fmt_stat(mean, sizeof mean, s->mean, s->type);
		fmt_stat(mn, sizeof mn, s->min, s->type);
		fmt_stat(mx, sizeof mx, s->max, s->type);
		const char *cell[] = {s->name, jm_coltype_name(s->type), miss, mean, mn, mx};
		draw_cells(c, x, y + row, w, cell, width, 6, 0);
		if (s->missing)
			jm_canvas_attr(c, x + nw + 9, y + row, 7, JM_A_BOLD, JM_COL_WARN);
	}
out:
	pthread_mutex_unlock(&p->mu);
}

/* ---- clean ------------------------------------------------------------------------ */

static const jm_colstats *col_named(const jm_quality *q, const char *name)
{
	for (int j = 0; j < q->ncols; j++)
		if (!strcmp(q->cols[j].name, name))
			return &q->cols[j];
	return NULL;
}

/* "a→b", or just "a" when nothing changed. */
static void before_after(char *buf, size_t n, const char *a, const char *b, const char *arrow)
{
	if (!strcmp(a, b))
		snprintf(buf, n, "%s", a);
	else
		snprintf(buf, n, "%s%s%s", a, arrow, b);
}

static void preview_clean(jm_preview_ctx *p, const jm_flow *f, jm_canvas *c, int x, int y, int w,
			  int h)
{
	const jm_tabular_peek *pk = csv_table(
		p, f, c, x, y, w, h, "Cleaning works on a CSV source",
		"[data] source is a set of images: set it to a CSV file (a path, "
		"archive.zip:member.csv, a .gz or a URL) to see these rules at work");
	if (!pk)
		return;
	if (pk->clean_error) {
		draw_failure(c, x, y, w, h, "The rules do not apply", pk->clean_error, JM_COL_BAD);
		goto out;
	}
	if (!pk->nrules) {
		jm_canvas_textf(c, x, y, w, JM_A_BOLD, 0, "%s: %lld rows, %d columns",
				base_name(pk->source), (long long)pk->rows, pk->quality.ncols);
		draw_wrapped(c, x, y + 1, w, h - 1, "no [clean] rules: the data goes on as read",
			     JM_A_DIM, 0);
		goto out;
	}
	const jm_clean_report *r = &pk->report;
	const char *arrow = c->utf8 ? "→" : "->";
	jm_canvas_textf(c, x, y, w, JM_A_BOLD, 0, "%lld rows %s %lld, %d columns %s %d", 
			(long long)r->before.rows, arrow, (long long)r->after.rows, r->before.ncols,
			arrow, r->after.ncols);
	int row = 1 + draw_wrapped(c, x, y + 1, w, 2, "all rows read; a run fits on its training part",
				   JM_A_DIM, 0);
	for (int i = 0; i < r->nsteps && row < h; i++) {
		const jm_clean_step *st = &r->steps[i];
		char t[320];
		snprintf(t, sizeof t, "%s: %lld changed, %lld rows dropped", st->rule,
			 (long long)st->values_changed, (long long)st->rows_dropped);
		if (st->cols_dropped) {
			size_t n = strlen(t);
			snprintf(t + n, sizeof t - n, ", %lld columns dropped", (long long)st->cols_dropped);
		}
		row += draw_wrapped(c, x, y + row, w, h - row, t, 0, JM_COL_ACCENT);
	}
	row++;
	int nw = 6;
	for (int j = 0; j < r->before.ncols; j++) {
		int l = (int)strlen(r->before.cols[j].name);
		nw = l > nw ? l : nw;
	}
	nw = nw > 16 ? 16 : nw;
	const int width[] = {nw, 11, 17, 17, 17};
	const char *head[] = {"column", "missing", "mean", "min", "max"};
	if (row < h)
		draw_cells(c, x, y + row++, w, head, width, 5, JM_A_BOLD);
	for (int j = 0; j < r->before.ncols && row < h; j++, row++) {
		const jm_colstats *b = &r->before.cols[j], *a = col_named(&r->after, b->name);
		if (!a) {
			jm_canvas_textf(c, x, y + row, w, JM_A_DIM, 0, "%-*s (dropped)", nw, b->name);
			continue;
		}
		char s[4][2][24], cell[4][200];
		snprintf(s[0][0], 24, "%lld", (long long)b->missing);
		snprintf(s[0][1], 24, "%lld", (long long)a->missing);
		fmt_stat(s[1][0], 24, b->mean, b->type), fmt_stat(s[1][1], 24, a->mean, a->type);
		fmt_stat(s[2][0], 24, b->min, b->type), fmt_stat(s[2][1], 24, a->min, a->type);
		fmt_stat(s[3][0], 24, b->max, b->type), fmt_stat(s[3][1], 24, a->max, a->type);
		int changed = 0;
		for (int k = 0; k < 4; k++) {
			before_after(cell[k], sizeof cell[k], s[k][0], s[k][1], arrow);
			changed |= strcmp(s[k][0], s[k][1]) != 0;
		}
		const char *cells[] = {b->name, cell[0], cell[1], cell[2], cell[3]};
		draw_cells(c, x, y + row, w, cells, width, 5, 0);
		if (changed)
			jm_canvas_attr(c, x, y + row, nw, JM_A_BOLD, JM_COL_WARN);
	}
out:
	pthread_mutex_unlock(&p->mu);
}

/* ---- data ------------------------------------------------------------------------ */

static void preview_data(jm_preview_ctx *p, const jm_flow *f, jm_canvas *c, int x, int y, int w,
			 int h)
{
	if (jm_flow_is_tabular(f)) {
		preview_table(p, f, c, x, y, w, h);
		return;
	}
	want_samples(p, f->data.dir);
	pthread_mutex_lock(&p->mu);
	const jm_dataset *d = p->samples;
	if (p->loading) {
		jm_canvas_textf(c, x, y, w, JM_A_BOLD, JM_COL_LIVE, "loading samples from %s...",
				f->data.dir);
	} else if (!d) {
		no_data(c, x, y, w, h, p->error);
	} else {
		jm_canvas_textf(c, x, y, w, JM_A_BOLD, 0, "%dx%d images, %d classes", d->h, d->w,
				d->n_classes);
		int cw, ch;
		jm_image_cells(d->w, d->h, &cw, &ch);
		int cell_w = cw + 1, cell_h = ch + 1;
		int cols = (w + 1) / cell_w, rows = (h - 2) / cell_h;
		int shown = 0;
		for (int r = 0; r < rows; r++)
			for (int k = 0; k < cols && shown < d->n; k++, shown++) {
				int ix = x + k * cell_w, iy = y + 2 + r * cell_h;
				jm_image_draw(c, ix, iy, d->pixels + (size_t)shown * d->h * d->w, d->w,
					      d->h);
				char buf[16];
				jm_canvas_text(c, ix, iy + ch, cw,
					       jm_dataset_class_name(d, d->labels[shown], buf), JM_A_DIM, 0);
			}
		jm_canvas_textf(c, x, y + 1, w, JM_A_DIM, 0, "the first %d training samples", shown);
	}
	pthread_mutex_unlock(&p->mu);
}

/* ---- model ------------------------------------------------------------------ */

static void model_describe(jm_preview_ctx *p, const jm_flow *f, int ic, int ih, int iw, int k)
{
	jm_model_spec spec = jm_runner_model_spec(f);
	jm_model *m = NULL;
	jm_err err = {0};
	free(p->model_text);
	p->model_text = NULL;
	if (jm_model_build(&m, &jm_backend_cpu, &spec, ic, ih, iw, k, 1, &err) < 0) {
		p->model_text = jm_xstrdup(err.msg);
		p->model_failed = 1;
		return;
	}
	size_t len = 0;
	FILE *fp = open_memstream(&p->model_text, &len);
	jm_model_describe(m, fp);
	fclose(fp);
	jm_model_free(m);
	p->model_failed = 0;
}

/* Narrow regions: drop the "layers.N" column and squeeze the blanks. */
static void squeeze(const char *line, char *out, size_t n)
{
	const char *s = line;
	if (!strncmp(s, "layers.", 7) || !strncmp(s, "name ", 5))
		s += strcspn(s, " ");
	while (*s == ' ')
		s++;
	size_t o = 0;
	for (; *s && o + 1 < n; s++) {
		if (*s == ' ' && s[1] == ' ') {
			while (s[1] == ' ')
				s++;
			if (o + 2 < n)
				out[o++] = ' ';
		}
		out[o++] = *s;
	}
	out[o] = '\0';
}

static void preview_model(jm_preview_ctx *p, const jm_flow *f, jm_canvas *c, int x, int y, int w,
			  int h)
{
	int ic = 1, ih = 28, iw = 28, k = 10;
	pthread_mutex_lock(&p->mu);
	if (p->samples)
		ic = p->samples->c, ih = p->samples->h, iw = p->samples->w, k = p->samples->n_classes;
	pthread_mutex_unlock(&p->mu);
	char *spec = jm_flow_format(f); /* cheap, and any [model] change shows in it */
	char *key = jm_xasprintf("%d %d %d %d\n%s", ic, ih, iw, k, strstr(spec, "[model]"));
	free(spec);
	if (!p->model_key || strcmp(p->model_key, key)) {
		model_describe(p, f, ic, ih, iw, k);
		free(p->model_key);
		p->model_key = key;
	} else {
		free(key);
	}
	jm_canvas_textf(c, x, y, w, JM_A_BOLD, p->model_failed ? JM_COL_BAD : 0,
			p->model_failed ? "Model does not build" : "Layers, input %dx%dx%d, %d classes",
			ic, ih, iw, k);
	jm_doc d = {0};
	jm_doc_text(&d, p->model_text, 0, 0);
	for (int i = 0; i < d.n && i + 1 < h; i++) {
		char line[256];
		if (w < 74)
			squeeze(d.line[i], line, sizeof line);
		else
			snprintf(line, sizeof line, "%s", d.line[i]);
		int head = i == 0 || !strncmp(d.line[i], "total", 5);
		jm_canvas_text(c, x, y + 1 + i, w, line, head ? JM_A_BOLD : 0, 0);
	}
	jm_doc_clear(&d);
}

/* ---- review ------------------------------------------------------------------- */

static void preview_review(jm_preview_ctx *p, const jm_flow *f, jm_canvas *c, int x, int y,
			   int w, int h)
{
	jm_err err = {0};
	if (jm_flow_validate(f, &err) < 0)
		jm_canvas_textf(c, x, y, w, JM_A_BOLD, JM_COL_BAD, "not valid: %s", err.msg);
	else
		jm_canvas_text(c, x, y, w, "valid: w saves it, r saves and runs it", JM_A_BOLD,
			       JM_COL_OK);
	/* what Save writes: the file edited (see jm_flow_edit) */
	char *text = NULL;
	if (jm_flow_edit(p->base, f, &text, &err) < 0)
		text = jm_xasprintf("(the file's layout cannot be kept: %s)\n", err.msg);
	jm_doc d = {0};
	jm_doc_text(&d, text, 0, 0);
	free(text);
	/* two columns of the flow when it is long and the region wide */
	int rows = h - 2, cols = d.n > rows && w >= 60 ? 2 : 1, cw = w / cols;
	for (int i = 0; i < d.n && i < rows * cols; i++) {
		const char *l = d.line[i];
		jm_canvas_text(c, x + (i / rows) * cw, y + 2 + i % rows, cw - 1, l,
			       l[0] == '[' ? JM_A_BOLD : 0, l[0] == '[' ? JM_COL_ACCENT : 0);
	}
	jm_doc_clear(&d);
}

/* ---- augment ----------------------------------------------------------------------- */

/* One mixing kind shown on the pair (a, b): its plan, and the pair after it. */
typedef struct mix_shown {
	const char *title;       /* "CutMix" */
	double alpha;
	jm_aug_mix m[2];
	uint8_t *img[2];
	float soft[2][64];
} mix_shown;

/* "0.62 T-shirt/top + 0.38 Sneaker": the two largest weights of a soft row. */
static void soft_label(const jm_dataset *d, const float *soft, int K, char *buf, size_t n)
{
	int k1 = -1, k2 = -1;
	float lo = soft[0];
	for (int k = 0; k < K; k++) {
		lo = soft[k] < lo ? soft[k] : lo;
		if (k1 < 0 || soft[k] > soft[k1])
			k2 = k1, k1 = k;
		else if (k2 < 0 || soft[k] > soft[k2])
			k2 = k;
	}
	char b1[16], b2[16];
	if (k2 < 0 || soft[k2] <= lo) /* one class (smoothing is the floor) */
		snprintf(buf, n, "%.2f %s", soft[k1], jm_dataset_class_name(d, k1, b1));
	else
		snprintf(buf, n, "%.2f %s + %.2f %s", soft[k1], jm_dataset_class_name(d, k1, b1),
			 soft[k2], jm_dataset_class_name(d, k2, b2));
}

/* Mix samples i and j of d with one kind (cutmix: 1 CutMix, 0 MixUp) as
 * training would: the draw from the flow's config forced to this kind and
 * prob 1, then the CPU backend's ops on the batch {i, j}. */
static void mix_pair(const jm_dataset *d, const jm_augment_config *flow_cfg, int cutmix,
		     uint64_t seed, int i, int j, mix_shown *out)
{
	jm_augment_config cfg = *flow_cfg;
	int H = d->h, W = d->w, D = d->c * H * W, K = d->n_classes;
	cfg.prob = 1.0;
	if (cutmix) {
		cfg.mixup = 0.0;
		cfg.cutmix = cfg.cutmix > 0 ? cfg.cutmix : 1.0;
		out->alpha = cfg.cutmix;
	} else {
		cfg.cutmix = 0.0;
		cfg.has_minmax = 0;
		cfg.mixup = cfg.mixup > 0 ? cfg.mixup : 1.0;
		out->alpha = cfg.mixup;
	}
	out->title = cutmix ? "CutMix" : "MixUp";
	jm_rng r;
	jm_rng_seed(&r, seed * 2 + (uint64_t)cutmix);
	jm_mix_draw draw;
	jm_mix_draw_one(&cfg, H, W, &r, &draw);
	jm_mix_from_draw(&cfg, H, W, &draw, 0, &out->m[0]);
	out->m[1] = out->m[0]; /* batch mode: one draw for the batch */
	float *x = jm_xmalloc(2 * (size_t)D * sizeof *x);
	for (int k = 0; k < D; k++) {
		x[k] = d->pixels[(size_t)i * D + k] / 255.0f;
		x[D + k] = d->pixels[(size_t)j * D + k] / 255.0f;
	}
	jm_backend_cpu.augment_mix(x, out->m, 2, d->c, H, W);
	int32_t labels[2] = {d->labels[i], d->labels[j]};
	float *soft = jm_xcalloc(2 * (size_t)K, sizeof *soft);
	jm_backend_cpu.mix_targets(soft, labels, out->m, 2, K, (float)cfg.smoothing);
	for (int b = 0; b < 2; b++) {
		out->img[b] = jm_xmalloc((size_t)D);
		for (int k = 0; k < D; k++) {
			float v = x[(size_t)b * D + k] * 255.0f + 0.5f;
			out->img[b][k] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
		}
		memcpy(out->soft[b], soft + (size_t)b * K, (size_t)K * sizeof *soft);
	}
	free(soft);
	free(x);
}

/* What a sample's per-image plan does: "flipped, shifted 1,-2, erased
 * 3x5", or "unchanged". */
static void geom_line(const jm_aug_geom *g, char *buf, size_t n)
{
	size_t at = 0;
	buf[0] = '\0';
	if (g->flip)
		at += (size_t)snprintf(buf + at, n - at, "flipped");
	if ((g->dy || g->dx) && at < n)
		at += (size_t)snprintf(buf + at, n - at, "%sshifted %d,%d", at ? ", " : "", g->dy,
				       g->dx);
	if (g->ey1 > g->ey0 && at < n)
		at += (size_t)snprintf(buf + at, n - at, "%serased %dx%d", at ? ", " : "",
				       g->ey1 - g->ey0, g->ex1 - g->ex0);
	if (!at)
		snprintf(buf, n, "unchanged");
}

/* The two samples through the flow's per-image settings (crop, flip,
 * erasing) as training's plan for micro-batch *step would apply them: the
 * first step from 0 that changes either, so the panel shows something.
 * out[b] is malloc'd, lines[b] says what changed. */
static void geom_pair(const jm_dataset *d, const jm_augment_config *cfg, uint64_t seed, int i,
		      int j, uint8_t *out[2], char lines[2][96], int64_t *step)
{
	int H = d->h, W = d->w, D = d->c * H * W;
	jm_aug_geom g[2];
	for (*step = 0; *step < 64; ++*step) {
		jm_augment_plan(cfg, seed, *step, 2, H, W, NULL, g);
		if (g[0].flip || g[0].dy || g[0].dx || g[0].ey1 > g[0].ey0 || g[1].flip ||
		    g[1].dy || g[1].dx || g[1].ey1 > g[1].ey0)
			break;
	}
	if (*step == 64)
		*step = 0, jm_augment_plan(cfg, seed, 0, 2, H, W, NULL, g);
	float *x = jm_xmalloc(4 * (size_t)D * sizeof *x), *y = x + 2 * (size_t)D;
	for (int k = 0; k < D; k++) {
		x[k] = d->pixels[(size_t)i * D + k] / 255.0f;
		x[D + k] = d->pixels[(size_t)j * D + k] / 255.0f;
	}
	/* zero padding is black: 0 before normalising */
	jm_backend_cpu.augment_geometry(y, x, g, 2, d->c, H, W, cfg->pad_mode, 0.0f,
					cfg->erase_mode, jm_augment_noise_key(seed, *step));
	for (int b = 0; b < 2; b++) {
		out[b] = jm_xmalloc((size_t)D);
		for (int k = 0; k < D; k++) {
			float v = y[(size_t)b * D + k] * 255.0f + 0.5f;
			out[b][k] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
		}
		geom_line(&g[b], lines[b], sizeof lines[b]);
	}
	free(x);
}

/* A panel: title, the two images side by side, a label line under each
 * (stacked when the panel is narrow).  Returns its height, 0 when it did
 * not fit in h rows. */
static int draw_panel(jm_canvas *c, int x, int y, int w, int h, const jm_dataset *d,
		      const char *title, uint8_t *const img[2], char lines[2][96])
{
	int cw, ch;
	jm_image_cells(d->w, d->h, &cw, &ch);
	int need = 1 + ch + 2;
	if (need > h || 2 * cw + 1 > w)
		return 0;
	jm_canvas_text(c, x, y, w, title, JM_A_BOLD, JM_COL_ACCENT);
	for (int b = 0; b < 2; b++)
		jm_image_draw(c, x + b * (cw + 1), y + 1, img[b], d->w, d->h);
	for (int b = 0; b < 2; b++)
		jm_canvas_text(c, x, y + 1 + ch + b, w, lines[b], 0, 0);
	return need;
}

static void preview_augment(jm_preview_ctx *p, const jm_flow *f, jm_canvas *c, int x, int y,
			    int w, int h)
{
	jm_augment_config cfg;
	jm_augment_config_from_flow(&cfg, f);
	/* the per-image settings, as text */
	char geo[256];
	const char *const pads[] = {"zero", "reflect"}, *const erases[] = {"const", "rand", "pixel"};
	if (jm_augment_geometry(&cfg))
		snprintf(geo, sizeof geo, "per image: hflip %g, crop padding %d (%s), erasing %g (%s)",
			 cfg.hflip, cfg.crop_padding, pads[cfg.pad_mode & 1], cfg.erasing,
			 erases[cfg.erase_mode % 3]);
	else
		snprintf(geo, sizeof geo, "per image: off (hflip, crop_padding, erasing are 0)");
	int row = 0;
	if (jm_augment_mixing(&cfg)) {
		char desc[256];
		jm_augment_describe(&cfg, desc, sizeof desc);
		char *cut = strstr(desc, ", hflip"); /* the mixing part; geo says the rest */
		if (!cut)
			cut = strstr(desc, ", crop");
		if (!cut)
			cut = strstr(desc, ", erasing");
		if (cut)
			*cut = '\0';
		row += draw_wrapped(c, x, y + row, w, 2, desc, JM_A_BOLD, 0);
	} else {
		row += draw_wrapped(c, x, y + row, w, 2,
				    "mixing is off in this flow: CutMix and MixUp with alpha 1 show "
				    "what they would do", JM_A_BOLD, 0);
	}
	row += draw_wrapped(c, x, y + row, w, 2, geo, 0, 0);
	if (jm_flow_is_tabular(f)) {
		draw_wrapped(c, x, y + row + 1, w, h - row - 1,
			     "a CSV source: MixUp blends rows and their targets; CutMix and the "
			     "per-image settings apply to images only", JM_A_DIM, 0);
		return;
	}
	want_samples(p, f->data.dir);
	pthread_mutex_lock(&p->mu);
	const jm_dataset *d = p->samples;
	if (p->loading) {
		jm_canvas_textf(c, x, y + row, w, JM_A_BOLD, JM_COL_LIVE, "loading samples from %s...",
				f->data.dir);
		goto out;
	}
	if (!d || d->n < 2 || !d->pixels || d->n_classes > 64) {
		no_data(c, x, y + row, w, h - row, d ? "fewer than two images to mix" : p->error);
		goto out;
	}
	/* two samples of different classes when there are */
	int i = 0, j = 1;
	for (int k = 1; k < d->n; k++)
		if (d->labels[k] != d->labels[0]) {
			j = k;
			break;
		}
	mix_shown mixes[2];
	memset(mixes, 0, sizeof mixes);
	uint64_t seed = (uint64_t)f->train.seed;
	mix_pair(d, &cfg, 1, seed, i, j, &mixes[0]);
	mix_pair(d, &cfg, 0, seed, i, j, &mixes[1]);
	jm_canvas_textf(c, x, y + row, w, JM_A_DIM, 0, "training samples %d and %d, seed %llu", i, j,
			(unsigned long long)seed);
	row++;
	/* the per-image settings on the same two, when the flow has any */
	uint8_t *geo_img[2] = {NULL, NULL};
	char geo_lines[2][96];
	int64_t geo_step = 0;
	int npanels = 3;
	if (jm_augment_geometry(&cfg)) {
		geom_pair(d, &cfg, seed, i, j, geo_img, geo_lines, &geo_step);
		npanels = 4;
	}
	/* panels: CutMix, MixUp, the per-image settings, then the sources, left
	 * to right while they fit */
	int cw, ch;
	jm_image_cells(d->w, d->h, &cw, &ch);
	int pw = 2 * cw + 1 < 36 ? 36 : 2 * cw + 1;
	if (pw > w)
		pw = w;
	int px = 0, band = 0, drawn = 0;
	for (int panel = 0; panel < npanels; panel++) {
		/* k: 0 CutMix, 1 MixUp, 2 per image, 3 the sources */
		int k = npanels == 4 || panel < 2 ? panel : 3;
		char title[96], lines[2][96];
		uint8_t *src[2] = {d->pixels + (size_t)i * d->c * d->h * d->w,
				   d->pixels + (size_t)j * d->c * d->h * d->w};
		uint8_t *const *img = k < 2 ? mixes[k].img : k == 2 ? geo_img : src;
		if (k == 2) {
			snprintf(title, sizeof title, "per image  step %lld", (long long)geo_step);
			memcpy(lines, geo_lines, sizeof lines);
		} else if (k < 2) {
			const mix_shown *m = &mixes[k];
			snprintf(title, sizeof title, "%s  lambda %.2f", m->title, m->m[0].a);
			if (m->m[0].kind == JM_MIX_BOX) {
				size_t n = strlen(title);
				snprintf(title + n, sizeof title - n, "  box %dx%d", m->m[0].y1 - m->m[0].y0,
					 m->m[0].x1 - m->m[0].x0);
			}
			for (int b = 0; b < 2; b++)
				soft_label(d, m->soft[b], d->n_classes, lines[b], sizeof lines[b]);
		} else {
			snprintf(title, sizeof title, "the two samples");
			for (int b = 0; b < 2; b++) {
				char nb[16];
				snprintf(lines[b], sizeof lines[b], "%s",
					 jm_dataset_class_name(d, d->labels[b ? j : i], nb));
			}
		}
		if (px > 0 && px + pw > w) { /* next band */
			row += band + 1;
			px = 0, band = 0;
		}
		int used = draw_panel(c, x + px, y + row, pw, h - row, d, title, img, lines);
		if (!used)
			break;
		drawn++;
		band = used > band ? used : band;
		px += pw + 2;
	}
	if (drawn < npanels && h - 1 > row)
		jm_canvas_text(c, x, y + h - 1, w, "z: all of it, full width", JM_A_DIM, 0);
	for (int k = 0; k < 2; k++)
		free(mixes[k].img[0]), free(mixes[k].img[1]);
	free(geo_img[0]), free(geo_img[1]);
out:
	pthread_mutex_unlock(&p->mu);
}

/* ---- features --------------------------------------------------------------------- */

static void preview_features(jm_preview_ctx *p, const jm_flow *f, jm_canvas *c, int x, int y,
			     int w, int h)
{
	const jm_tabular_peek *pk = csv_table(
		p, f, c, x, y, w, h, "Features work on a CSV source",
		"[data] source is a set of images: the model takes the pixels as they are "
		"(normalised by [data] normalize)");
	if (!pk)
		return;
	if (pk->clean_error) {
		draw_failure(c, x, y, w, h, "[clean] does not apply, so neither do these",
			     pk->clean_error, JM_COL_BAD);
		goto out;
	}
	if (pk->features_error) {
		draw_failure(c, x, y, w, h, "The features do not apply", pk->features_error,
			     JM_COL_BAD);
		goto out;
	}
	if (pk->classification)
		jm_canvas_textf(c, x, y, w, JM_A_BOLD, 0, "%d inputs, %s: %d classes", pk->ninputs,
				f->data.target, pk->nclasses);
	else
		jm_canvas_textf(c, x, y, w, JM_A_BOLD, 0, "%d inputs, %s: regression", pk->ninputs,
				f->data.target);
	int row = 1;
	row += draw_wrapped(c, x, y + row, w, 2,
			    pk->nsteps ? "fitted on all rows read; a run fits on its training part"
				       : "no [features] steps: the columns go in as they are",
			    JM_A_DIM, 0);
	for (int i = 0; i < pk->nnotes && row < h; i++)
		row += draw_wrapped(c, x, y + row, w, h - row, pk->notes[i], 0, JM_COL_WARN);
	const jm_quality *q = &pk->features_quality;
	int nw = 6;
	for (int i = 0; i < pk->ninputs; i++) {
		int l = (int)strlen(pk->inputs[i]);
		nw = l > nw ? l : nw;
	}
	nw = nw > 24 ? 24 : nw;
	const int width[] = {nw, 7, 10, 10, 10};
	const char *head[] = {"input", "missing", "mean", "min", "max"};
	if (row < h)
		draw_cells(c, x, y + row++, w, head, width, 5, JM_A_BOLD);
	/* the last line says how many there are when they do not all fit */
	int end = pk->ninputs > h - row ? h - 1 : h;
	for (int i = 0; i < pk->ninputs && row < end; i++, row++) {
		const jm_colstats *s = col_named(q, pk->inputs[i]);
		char miss[24] = "-", mean[24] = "-", mn[24] = "-", mx[24] = "-";
		if (s) {
			snprintf(miss, sizeof miss, "%lld", (long long)s->missing);
			fmt_stat(mean, sizeof mean, s->mean, s->type);
			fmt_stat(mn, sizeof mn, s->min, s->type);
			fmt_stat(mx, sizeof mx, s->max, s->type);
		}
		const char *cell[] = {pk->inputs[i], miss, mean, mn, mx};
		draw_cells(c, x, y + row, w, cell, width, 5, 0);
		/* a column the steps made, not one of the source's */
		if (!col_named(&pk->quality, pk->inputs[i]))
			jm_canvas_attr(c, x, y + row, nw, JM_A_BOLD, JM_COL_ACCENT);
		if (s && s->missing)
			jm_canvas_attr(c, x + nw + 1, y + row, 7, JM_A_BOLD, JM_COL_WARN);
	}
	if (end < h && row < h)
		jm_canvas_textf(c, x, y + row, w, JM_A_DIM, 0, "... %d inputs in all", pk->ninputs);
out:
	pthread_mutex_unlock(&p->mu);
}

/* ---- the table ------------------------------------------------------------------ */

typedef void (*preview_fn)(jm_preview_ctx *p, const jm_flow *f, jm_canvas *c, int x, int y,
			   int w, int h);

static const struct preview {
	const char *stage;
	preview_fn draw;
} previews[] = {
	{"data", preview_data},
	{"clean", preview_clean},
	{"features", preview_features},
	{"augment", preview_augment},
	{"model", preview_model},
	{"review", preview_review},
};

static preview_fn find_preview(const char *stage)
{
	for (size_t i = 0; i < sizeof previews / sizeof previews[0]; i++)
		if (!strcmp(previews[i].stage, stage))
			return previews[i].draw;
	return NULL;
}

int jm_preview_has(const char *stage)
{
	return find_preview(stage) != NULL;
}

int jm_preview_draw(jm_preview_ctx *p, const char *stage, const jm_flow *f, jm_canvas *c, int x,
		    int y, int w, int h)
{
	preview_fn fn = find_preview(stage);
	if (!fn || w < 10 || h < 3)
		return 0;
	fn(p, f, c, x, y, w, h);
	return 1;
}
