/*
 * preview.c: the wizard's previews (see preview.h).
 *
 *   data:   [data] dir changes ──▶ worker thread: the first samples of the
 *           training set (jm_dataset_load_idx) ──mutex──▶ ctx->samples
 *           draw: a grid of braille images with class names under them
 *   model:  [model] text or input shape changes ──▶ jm_model_build on the
 *           CPU backend (batch 1) ──jm_model_describe──▶ cached lines
 *   review: jm_flow_format, and jm_flow_validate's verdict
 */
#include "ui/preview.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/dataset.h"
#include "engine/backend.h"
#include "engine/model.h"
#include "pipeline/runner.h"
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

	char *model_key;       /* what the cached description was built from */
	char *model_text;      /* describe output, or the error */
	int model_failed;
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

void jm_preview_free(jm_preview_ctx *p)
{
	if (!p)
		return;
	join_loader(p);
	jm_dataset_free(p->samples);
	free(p->error);
	free(p->want_dir);
	free(p->model_key);
	free(p->model_text);
	pthread_mutex_destroy(&p->mu);
	free(p);
}

int jm_preview_busy(jm_preview_ctx *p)
{
	pthread_mutex_lock(&p->mu);
	int busy = p->loading;
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

static void preview_data(jm_preview_ctx *p, const jm_flow *f, jm_canvas *c, int x, int y, int w,
			 int h)
{
	want_samples(p, f->data.dir);
	pthread_mutex_lock(&p->mu);
	const jm_dataset *d = p->samples;
	if (p->loading) {
		jm_canvas_textf(c, x, y, w, JM_A_BOLD, JM_COL_LIVE, "loading samples from %s...",
				f->data.dir);
	} else if (!d) {
		jm_canvas_text(c, x, y, w, "No data", JM_A_BOLD, JM_COL_BAD);
		jm_doc doc = {0};
		jm_doc_text(&doc, p->error ? p->error : "", 0, 0);
		for (int i = 0, row = 1; i < doc.n && row < h; i++) /* wrap the message */
			for (const char *s = doc.line[i]; *s && row < h; row++) {
				jm_canvas_textf(c, x, y + row, w, 0, 0, "%.*s", w, s);
				s += (int)strlen(s) > w ? w : (int)strlen(s);
			}
		jm_doc_clear(&doc);
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
	(void)p;
	jm_err err = {0};
	if (jm_flow_validate(f, &err) < 0)
		jm_canvas_textf(c, x, y, w, JM_A_BOLD, JM_COL_BAD, "not valid: %s", err.msg);
	else
		jm_canvas_text(c, x, y, w, "valid: w saves it, r saves and runs it", JM_A_BOLD,
			       JM_COL_OK);
	char *text = jm_flow_format(f);
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

/* ---- the table ------------------------------------------------------------------ */

typedef void (*preview_fn)(jm_preview_ctx *p, const jm_flow *f, jm_canvas *c, int x, int y,
			   int w, int h);

static const struct preview {
	const char *stage;
	preview_fn draw;
} previews[] = {
	{"data", preview_data},
	/* HOOK(clean): before/after column statistics of the chosen rules, once
	 * the tabular pipeline (pipeline/clean.h over src/data/frame.h) is
	 * reachable from a flow: a preview_clean here. */
	{"clean", NULL},
	{"features", NULL},
	/* HOOK(augment): a real CutMix and MixUp pair drawn with jm_image_draw,
	 * their lambda and mixed labels, once pipeline/augment lands: put
	 * preview_augment here (the samples are ctx->samples). */
	{"augment", NULL},
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
