/*
 * screen_home.c: Home, what `jianmo` opens on: the saved flows (the .flow
 * files of the current directory) above the recent runs of the store,
 * newest first, with status, key metric, duration and age.
 *
 *   poll (a few Hz) ──rundata list (filter)──▶ rows (cursor stays on its run)
 *                  ──readdir *.flow (every 2 s)──▶ flows
 *   keys ──▶ wizard (n, Enter on a flow) | launch (r: the flow checked
 *            first, or a rerun) | resume (R) | monitor/detail (Enter on a
 *            run) | compare (c, the marked runs)
 */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "store/store.h"
#include "ui/app.h"
#include "ui/rundata.h"

#define HOME_RUN_LIMIT 1000

typedef struct flow_file {
	char *name;
	double mtime;
} flow_file;

typedef struct home {
	jm_screen base;
	jm_list flows, runs;
	int pane;             /* 0: runs, 1: flows */
	flow_file *ff;
	jm_run_row *rows;
	size_t nrows;
	int64_t *marks;
	size_t nmarks;
	double flows_scanned;
	int polled;
} home;

static int flow_cmp(const void *a, const void *b)
{
	const flow_file *x = a, *y = b;
	return x->mtime < y->mtime ? 1 : x->mtime > y->mtime ? -1 : strcmp(x->name, y->name);
}

static void flows_free(home *h)
{
	for (int i = 0; i < h->flows.n; i++)
		free(h->ff[i].name);
	free(h->ff);
	h->ff = NULL;
	h->flows.n = 0;
}

static void flows_scan(home *h)
{
	flows_free(h);
	DIR *d = opendir(".");
	if (!d)
		return;
	struct dirent *e;
	int cap = 0;
	while ((e = readdir(d))) {
		size_t n = strlen(e->d_name);
		struct stat st;
		if (n < 6 || strcmp(e->d_name + n - 5, ".flow") || stat(e->d_name, &st) < 0 ||
		    !S_ISREG(st.st_mode))
			continue;
		if (h->flows.n == cap)
			h->ff = jm_xrealloc(h->ff, (size_t)(cap = cap ? cap * 2 : 16) * sizeof *h->ff);
		h->ff[h->flows.n++] = (flow_file){jm_xstrdup(e->d_name),
						  (double)st.st_mtim.tv_sec + st.st_mtim.tv_nsec / 1e9};
	}
	closedir(d);
	if (h->flows.n)
		qsort(h->ff, (size_t)h->flows.n, sizeof *h->ff, flow_cmp);
	jm_list_clamp(&h->flows);
}

static int is_marked(const home *h, int64_t id)
{
	for (size_t i = 0; i < h->nmarks; i++)
		if (h->marks[i] == id)
			return 1;
	return 0;
}

static void home_poll(jm_screen *s, jm_app *app)
{
	home *h = (home *)s;
	double now = jm_app_now(app);
	if (now - h->flows_scanned > 2.0) {
		flows_scan(h);
		h->flows_scanned = now;
	}
	int64_t keep = h->runs.n > 0 && h->runs.cur < (int)h->nrows ? h->rows[h->runs.cur].id : 0;
	jm_run_row *rows = NULL;
	size_t n = 0;
	jm_err err = {0};
	if (jm_rundata_list(jm_app_db(app), s->filter, NULL, HOME_RUN_LIMIT, &rows, &n, &err) < 0) {
		jm_app_message(app, 1, "%s", err.msg);
		return;
	}
	jm_run_rows_free(h->rows, h->nrows);
	h->rows = rows;
	h->nrows = n;
	h->runs.n = (int)n;
	for (size_t i = 0; keep && i < n; i++)
		if (rows[i].id == keep)
			h->runs.cur = (int)i;
	jm_list_clamp(&h->runs);
	if (!h->polled && n == 0 && h->flows.n > 0)
		h->pane = 1;
	h->polled = 1;
}

static int home_filter(jm_screen *s, jm_app *app, const char *text, jm_err *err)
{
	jm_run_row *rows = NULL;
	size_t n = 0;
	/* compile and run once to report errors; poll then keeps it fresh */
	if (jm_rundata_list(jm_app_db(app), text, NULL, 1, &rows, &n, err) < 0)
		return -1;
	jm_run_rows_free(rows, n);
	free(s->filter);
	s->filter = *text ? jm_xstrdup(text) : NULL;
	((home *)s)->runs.cur = 0;
	home_poll(s, app);
	return 0;
}

static jm_list *home_list(jm_screen *s)
{
	home *h = (home *)s;
	return h->pane ? &h->flows : &h->runs;
}

static const jm_run_row *cur_run(home *h)
{
	return h->pane == 0 && h->runs.n > 0 ? &h->rows[h->runs.cur] : NULL;
}

static const char *cur_flow(home *h)
{
	return h->pane == 1 && h->flows.n > 0 ? h->ff[h->flows.cur].name : NULL;
}

/* ---- actions ------------------------------------------------------------------ */

static void act_new(jm_screen *s, jm_app *app)
{
	(void)s;
	jm_app_command(app, "new");
}

static void act_open(jm_screen *s, jm_app *app)
{
	home *h = (home *)s;
	const char *f = cur_flow(h);
	const jm_run_row *r = cur_run(h);
	if (f) {
		char cmd[1100];
		snprintf(cmd, sizeof cmd, "open %s", f);
		jm_app_command(app, cmd);
	} else if (r && (!strcmp(r->status, JM_RUN_RUNNING) || r->children)) {
		jm_app_push(app, jm_monitor_new(app, r->id));
	} else if (r) {
		jm_app_push(app, jm_run_new(app, r->id));
	}
}

static void act_detail(jm_screen *s, jm_app *app)
{
	const jm_run_row *r = cur_run((home *)s);
	if (r)
		jm_app_push(app, jm_run_new(app, r->id));
}

static void act_run(jm_screen *s, jm_app *app)
{
	home *h = (home *)s;
	const char *f = cur_flow(h);
	const jm_run_row *r = cur_run(h);
	if (f)
		jm_app_run_flow(app, f);
	else if (r)
		jm_app_rerun(app, r);
}

static void act_resume(jm_screen *s, jm_app *app)
{
	home *h = (home *)s;
	if (h->pane == 1)
		jm_app_message(app, 1, "resume: R resumes a run (Tab goes to the runs)");
	else
		jm_app_resume(app, cur_run(h));
}

static void act_mark(jm_screen *s, jm_app *app)
{
	(void)app;
	home *h = (home *)s;
	const jm_run_row *r = cur_run(h);
	if (!r)
		return;
	size_t i = 0;
	while (i < h->nmarks && h->marks[i] != r->id)
		i++;
	if (i < h->nmarks) {
		h->marks[i] = h->marks[--h->nmarks];
	} else {
		h->marks = jm_xrealloc(h->marks, (h->nmarks + 1) * sizeof *h->marks);
		h->marks[h->nmarks++] = r->id;
	}
	jm_list_move(&h->runs, 1);
}

static void act_compare(jm_screen *s, jm_app *app)
{
	home *h = (home *)s;
	if (h->nmarks) {
		jm_app_push(app, jm_compare_new(app, h->marks, h->nmarks));
		return;
	}
	/* nothing marked: every run shown here */
	int64_t *ids = jm_xcalloc(h->nrows ? h->nrows : 1, sizeof *ids);
	for (size_t i = 0; i < h->nrows; i++)
		ids[i] = h->rows[i].id;
	if (h->nrows)
		jm_app_push(app, jm_compare_new(app, ids, h->nrows));
	else
		jm_app_message(app, 1, "no runs to compare");
	free(ids);
}

static void act_stop(jm_screen *s, jm_app *app)
{
	jm_app_stop(app, cur_run((home *)s));
}

static void act_pane(jm_screen *s, jm_app *app)
{
	(void)app;
	home *h = (home *)s;
	h->pane = !h->pane;
}

static const jm_binding home_bindings[] = {
	{{'n'}, "n", "new flow: the guided workflow", act_new, "new"},
	{{JM_KEY_ENTER, '\n'}, "Enter", "open: a flow in the wizard, a run live or in detail", act_open, "open"},
	{{'r'}, "r", "run the flow (or rerun the run) detached, and watch it", act_run, "run"},
	{{'R'}, "R", "resume the stopped or crashed run from its checkpoint", act_resume, "resume"},
	{{'c'}, "c", "compare the marked runs (none marked: all shown)", act_compare, "compare"},
	{{' '}, "Space", "mark or unmark the run", act_mark, NULL},
	{{'d'}, "d", "details of the run", act_detail, NULL},
	{{'s'}, "s", "stop the run, after y (graceful: it checkpoints)", act_stop, NULL},
	{{JM_KEY_TAB, JM_KEY_BTAB}, "Tab", "switch between flows and runs", act_pane, NULL},
	JM_NAV_BINDINGS,
	{{0}, NULL, NULL, NULL, NULL},
};

/* ---- drawing ----------------------------------------------------------------- */

static void draw_flows(home *h, jm_app *app, jm_canvas *c, int y, int rows)
{
	int focus = h->pane == 1;
	jm_canvas_textf(c, 0, y, c->w, JM_A_BOLD | (focus ? JM_A_UNDERLINE : 0), JM_COL_ACCENT,
			"Flows (%d)", h->flows.n);
	h->flows.page = rows - 1;
	jm_list_clamp(&h->flows);
	if (h->flows.n == 0) {
		jm_canvas_text(c, 2, y + 1, c->w - 2, "no .flow files here: n makes one", JM_A_DIM,
			       JM_COL_NONE);
		return;
	}
	double now = jm_app_now(app);
	for (int i = 0; i < rows - 1 && h->flows.top + i < h->flows.n; i++) {
		int k = h->flows.top + i;
		char age[16];
		jm_fmt_age(age, sizeof age, now - h->ff[k].mtime);
		jm_canvas_text(c, 3, y + 1 + i, c->w - 12, h->ff[k].name, 0, JM_COL_NONE);
		jm_canvas_text_right(c, c->w - 8, y + 1 + i, 7, age, JM_A_DIM, JM_COL_NONE);
		if (k == h->flows.cur)
			jm_canvas_attr(c, 0, y + 1 + i, c->w, focus ? JM_A_REVERSE : JM_A_BOLD,
				       JM_COL_NONE);
	}
}

static void draw_runs(home *h, jm_app *app, jm_canvas *c, int y, int rows)
{
	int focus = h->pane == 0;
	const jm_glyphs *g = jm_canvas_glyphs(c);
	jm_canvas_textf(c, 0, y, c->w, JM_A_BOLD | (focus ? JM_A_UNDERLINE : 0), JM_COL_ACCENT,
			"Runs (%d%s)%s", h->runs.n, h->runs.n >= HOME_RUN_LIMIT ? "+" : "",
			h->nmarks ? "" : "");
	if (h->nmarks)
		jm_canvas_textf(c, 20, y, c->w - 20, 0, JM_COL_NONE, "%zu marked", h->nmarks);
	/* columns: mark id status name metric duration age */
	int wid = 6, wst = 9, wmet = c->w >= 120 ? 24 : 18, wdur = 9, wage = 5;
	int wname = c->w - 2 - wid - wst - wmet - wdur - wage - 5;
	if (wname < 8)
		wname = 8;
	int x_id = 2, x_st = x_id + wid + 1, x_name = x_st + wst + 1, x_met = x_name + wname + 1,
	    x_dur = x_met + wmet + 1, x_age = x_dur + wdur + 1;
	jm_canvas_text(c, x_id, y + 1, wid, "ID", JM_A_BOLD, JM_COL_NONE);
	jm_canvas_text(c, x_st, y + 1, wst, "STATUS", JM_A_BOLD, JM_COL_NONE);
	jm_canvas_text(c, x_name, y + 1, wname, "NAME", JM_A_BOLD, JM_COL_NONE);
	jm_canvas_text(c, x_met, y + 1, wmet, "METRIC", JM_A_BOLD, JM_COL_NONE);
	jm_canvas_text_right(c, x_dur, y + 1, wdur, "DURATION", JM_A_BOLD, JM_COL_NONE);
	jm_canvas_text_right(c, x_age, y + 1, wage, "AGE", JM_A_BOLD, JM_COL_NONE);
	h->runs.page = rows - 2;
	jm_list_clamp(&h->runs);
	if (h->runs.n == 0) {
		jm_canvas_text(c, 2, y + 2, c->w - 2,
			       h->base.filter ? "no run matches the filter (Esc clears it)"
					      : "no runs yet: r runs the selected flow",
			       JM_A_DIM, JM_COL_NONE);
		return;
	}
	double now = jm_app_now(app);
	for (int i = 0; i < rows - 2 && h->runs.top + i < h->runs.n; i++) {
		const jm_run_row *r = &h->rows[h->runs.top + i];
		int yy = y + 2 + i;
		char b[64];
		if (is_marked(h, r->id))
			jm_canvas_put(c, 0, yy, g->mark, JM_A_BOLD, JM_COL_WARN);
		jm_canvas_textf(c, x_id, yy, wid, 0, JM_COL_NONE, "%lld", (long long)r->id);
		int running = !strcmp(r->status, JM_RUN_RUNNING);
		jm_canvas_text(c, x_st, yy, wst, r->status, running ? JM_A_BOLD : 0,
			       jm_status_colour(r->status));
		char name[256];
		if (r->parent)
			snprintf(name, sizeof name, "%s%s", c->utf8 ? "└ " : "` ", r->name);
		else if (r->children)
			snprintf(name, sizeof name, "%s [%lld trials]", r->name, (long long)r->children);
		else
			snprintf(name, sizeof name, "%s", r->name);
		jm_canvas_text(c, x_name, yy, wname, name, 0, JM_COL_NONE);
		if (r->metric_key[0]) {
			char v[32];
			jm_fmt_metric(v, sizeof v, r->metric);
			snprintf(b, sizeof b, "%s %s", r->metric_key, v);
			jm_canvas_text(c, x_met, yy, wmet, b, 0, JM_COL_NONE);
		}
		double d;
		if (jm_run_duration(r, now, &d)) {
			jm_fmt_duration(b, sizeof b, d);
			jm_canvas_text_right(c, x_dur, yy, wdur, b, 0, JM_COL_NONE);
		}
		jm_fmt_age(b, sizeof b, now - r->created);
		jm_canvas_text_right(c, x_age, yy, wage, b, JM_A_DIM, JM_COL_NONE);
		if (h->runs.top + i == h->runs.cur)
			jm_canvas_attr(c, 0, yy, c->w, focus ? JM_A_REVERSE : JM_A_BOLD, JM_COL_NONE);
	}
}

static void home_draw(jm_screen *s, jm_app *app, jm_canvas *c, int y0, int h)
{
	home *hm = (home *)s;
	/* flows take up to a third of the body (at least 3 rows) */
	int frows = hm->flows.n + 1;
	int fmax = h / 3 > 3 ? h / 3 : 3;
	if (frows < 2)
		frows = 2;
	if (frows > fmax)
		frows = fmax;
	draw_flows(hm, app, c, y0, frows);
	draw_runs(hm, app, c, y0 + frows + 1, h - frows - 1);
}

static void home_free(jm_screen *s)
{
	home *h = (home *)s;
	flows_free(h);
	jm_run_rows_free(h->rows, h->nrows);
	free(h->marks);
	free(h);
}

static const jm_screen_class home_class = {
	.name = "Home",
	.list = home_list,
	.bindings = home_bindings,
	.draw = home_draw,
	.poll = home_poll,
	.filter = home_filter,
	.free = home_free,
};

jm_screen *jm_home_new(jm_app *app)
{
	(void)app;
	home *h = jm_xcalloc(1, sizeof *h);
	h->base.cls = &home_class;
	h->flows_scanned = -1e9;
	return &h->base;
}
