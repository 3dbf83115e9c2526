/*
 * screen_run.c: Run detail: one run in tabs.
 *
 *   Summary    fields (status, flow, device, times, error) and params
 *   Metrics    every metric: last, min, max, best, points
 *   Confusion  the test confusion matrix (artifact confusion.csv)
 *   Artifacts  files recorded with the run
 *   Log        runs/<id>/log.txt
 *   Flow       the flow text as run
 *
 * poll (1 Hz) ──rundata──▶ one jm_doc per tab; draw shows the current tab.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store/query.h"
#include "store/store.h"
#include "ui/app.h"
#include "ui/doc.h"
#include "ui/rundata.h"

enum { TAB_SUMMARY, TAB_METRICS, TAB_CONFUSION, TAB_ARTIFACTS, TAB_LOG, TAB_FLOW, NTABS };
static const char *const tab_names[NTABS] = {"Summary", "Metrics", "Confusion", "Artifacts",
					     "Log", "Flow"};

typedef struct runview {
	jm_screen base;
	int64_t id;
	int tab;
	jm_doc doc[NTABS];
	jm_list scroll[NTABS];
	jm_run_row row;
	int loaded;
	double polled;
} runview;

static void fmt_time(char *out, size_t n, double t)
{
	time_t tt = (time_t)t;
	struct tm tm;
	localtime_r(&tt, &tm);
	strftime(out, n, "%Y-%m-%d %H:%M:%S", &tm);
}

static void build_summary(runview *v, jm_app *app, jm_doc *d)
{
	const jm_run_row *r = &v->row;
	char b[64], t[64];
	jm_doc_add(d, JM_A_BOLD, jm_status_colour(r->status), "run %lld  %s  %s", (long long)r->id,
		   r->kind, r->status);
	jm_doc_add(d, 0, 0, "name      %s", r->name);
	if (r->flow_name)
		jm_doc_add(d, 0, 0, "flow      %s", r->flow_name);
	if (r->parent)
		jm_doc_add(d, 0, 0, "parent    run %lld", (long long)r->parent);
	if (r->children)
		jm_doc_add(d, 0, 0, "trials    %lld", (long long)r->children);
	jm_doc_add(d, 0, 0, "device    %s", r->device ? r->device : "-");
	jm_doc_add(d, 0, 0, "host      %s (pid %lld)", r->host ? r->host : "-", (long long)r->pid);
	fmt_time(t, sizeof t, r->created);
	jm_doc_add(d, 0, 0, "created   %s", t);
	double dur;
	if (jm_run_duration(r, jm_app_now(app), &dur)) {
		jm_fmt_duration(b, sizeof b, dur);
		jm_doc_add(d, 0, 0, "duration  %s%s", b, r->has_ended ? "" : " so far");
	}
	if (r->metric_key[0]) {
		jm_fmt_metric(b, sizeof b, r->metric);
		jm_doc_add(d, JM_A_BOLD, 0, "%-9s %s", r->metric_key, b);
	}
	if (r->error)
		jm_doc_add(d, JM_A_BOLD, JM_COL_BAD, "error     %s", r->error);
	jm_kv kv;
	if (jm_rundata_params(jm_app_db(app), r->id, &kv, NULL) == 0) {
		jm_doc_add(d, 0, 0, "%s", "");
		jm_doc_add(d, JM_A_BOLD, JM_COL_ACCENT, "Params (%zu)", kv.n);
		for (size_t i = 0; i < kv.n; i++)
			jm_doc_add(d, 0, 0, "  %-24s %s", kv.k[i], kv.v[i]);
		jm_kv_free(&kv);
	}
}

static void build_metrics(runview *v, jm_app *app, jm_doc *d)
{
	jm_summary_row *rows = NULL;
	size_t n = 0;
	jm_rundata_summaries(jm_app_db(app), v->id, &rows, &n, NULL);
	jm_doc_add(d, JM_A_BOLD, 0, "%-22s %11s %11s %11s %11s %7s %7s", "METRIC", "LAST", "MIN",
		   "MAX", "BEST", "STEP", "POINTS");
	for (size_t i = 0; i < n; i++) {
		char l[32], lo[32], hi[32], best[32];
		const jm_summary_row *s = &rows[i];
		jm_fmt_metric(l, sizeof l, s->last);
		jm_fmt_metric(lo, sizeof lo, s->min);
		jm_fmt_metric(hi, sizeof hi, s->max);
		jm_fmt_metric(best, sizeof best, jm_query_metric_maximize(s->key) ? s->max : s->min);
		jm_doc_add(d, 0, 0, "%-22s %11s %11s %11s %11s %7lld %7lld", s->key, l, lo, hi, best,
			   (long long)s->last_step, (long long)s->count);
	}
	if (!n)
		jm_doc_add(d, JM_A_DIM, 0, "no metrics yet");
	free(rows);
}

/* One CSV line split on commas, quotes removed (the runner writes names
 * quoted and counts bare). */
static int csv_split(const char *line, char cells[][48], int max)
{
	int n = 0;
	const char *p = line;
	while (*p && n < max) {
		int q = *p == '"';
		if (q)
			p++;
		size_t k = 0;
		while (*p && (q ? *p != '"' : *p != ',')) {
			if (k < 47)
				cells[n][k++] = *p;
			p++;
		}
		cells[n++][k] = '\0';
		if (q && *p == '"')
			p++;
		if (*p == ',')
			p++;
	}
	return n;
}

static void build_confusion(runview *v, jm_app *app, jm_doc *d)
{
	char *text = jm_rundata_run_file(jm_app_home(app), v->id, "confusion.csv");
	if (!text) {
		jm_doc_add(d, JM_A_DIM, 0, "no confusion matrix (it is written when a run is tested)");
		return;
	}
	enum { MAXK = 64 };
	char cells[MAXK + 1][48];
	char *save = NULL;
	int K = 0, row = 0;
	char names[MAXK][48];
	for (char *line = strtok_r(text, "\r\n", &save); line; line = strtok_r(NULL, "\r\n", &save)) {
		int n = csv_split(line, cells, MAXK + 1);
		if (row == 0) {
			K = n - 1;
			for (int k = 0; k < K; k++)
				snprintf(names[k], sizeof names[k], "%s", cells[k + 1]);
			jm_doc_add(d, JM_A_BOLD, JM_COL_ACCENT,
				   "Test confusion matrix: rows true class, columns predicted");
			char head[1024] = "";
			size_t hl = (size_t)snprintf(head, sizeof head, "%-14s", "");
			for (int k = 0; k < K && hl < sizeof head - 8; k++)
				hl += (size_t)snprintf(head + hl, sizeof head - hl, "%6d", k);
			snprintf(head + hl, sizeof head - hl, "  %7s", "recall");
			jm_doc_add(d, JM_A_BOLD, 0, "%s", head);
		} else {
			char out[1024];
			long long total = 0, hit = 0;
			size_t ol = (size_t)snprintf(out, sizeof out, "%d %-12.12s", row - 1, cells[0]);
			for (int k = 1; k < n && ol < sizeof out - 8; k++) {
				long long c = atoll(cells[k]);
				total += c;
				if (k == row)
					hit = c;
				ol += (size_t)snprintf(out + ol, sizeof out - ol, "%6lld", c);
			}
			snprintf(out + ol, sizeof out - ol, "  %6.1f%%",
				 total ? 100.0 * (double)hit / (double)total : 0.0);
			jm_doc_add(d, 0, 0, "%s", out);
		}
		row++;
	}
	free(text);
	if (K > 0) {
		jm_doc_add(d, 0, 0, "%s", "");
		for (int k = 0; k < K; k++)
			jm_doc_add(d, JM_A_DIM, 0, "%d = %s", k, names[k]);
	}
}

static void build_artifacts(runview *v, jm_app *app, jm_doc *d)
{
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(jm_app_db(app), "SELECT name, bytes, path FROM artifacts WHERE run = ? "
						"ORDER BY name", -1, &st, NULL) != SQLITE_OK)
		return;
	sqlite3_bind_int64(st, 1, v->id);
	jm_doc_add(d, JM_A_BOLD, 0, "%-28s %12s  %s", "NAME", "BYTES", "PATH");
	int n = 0;
	while (sqlite3_step(st) == SQLITE_ROW) {
		jm_doc_add(d, 0, 0, "%-28s %12lld  %s/%s", sqlite3_column_text(st, 0),
			   (long long)sqlite3_column_int64(st, 1), jm_app_home(app),
			   sqlite3_column_text(st, 2));
		n++;
	}
	sqlite3_finalize(st);
	if (!n)
		jm_doc_add(d, JM_A_DIM, 0, "no artifacts");
}

static void build_flow(runview *v, jm_app *app, jm_doc *d)
{
	if (!v->row.flow_id) {
		jm_doc_add(d, JM_A_DIM, 0, "no flow recorded");
		return;
	}
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(jm_app_db(app), "SELECT text FROM flows WHERE id = ?", -1, &st,
			       NULL) != SQLITE_OK)
		return;
	sqlite3_bind_int64(st, 1, v->row.flow_id);
	if (sqlite3_step(st) == SQLITE_ROW)
		jm_doc_text(d, (const char *)sqlite3_column_text(st, 0), 0, 0);
	sqlite3_finalize(st);
}

static void run_poll(jm_screen *s, jm_app *app)
{
	runview *v = (runview *)s;
	double now = jm_app_now(app);
	/* an ended run changes only when it is resumed: look every few seconds */
	if (v->loaded && now - v->polled < (jm_status_terminal(v->row.status) ? 3.0 : 1.0))
		return;
	v->polled = now;
	jm_err err = {0};
	sqlite3 *db = jm_app_db(app);
	jm_rundata_begin(db);
	jm_run_row_clear(&v->row);
	if (jm_rundata_run(db, v->id, &v->row, &err) < 0) {
		jm_rundata_end(db);
		jm_app_message(app, 1, "%s", err.msg);
		return;
	}
	for (int t = 0; t < NTABS; t++)
		jm_doc_clear(&v->doc[t]);
	build_summary(v, app, &v->doc[TAB_SUMMARY]);
	build_metrics(v, app, &v->doc[TAB_METRICS]);
	build_artifacts(v, app, &v->doc[TAB_ARTIFACTS]);
	build_flow(v, app, &v->doc[TAB_FLOW]);
	jm_rundata_end(db);
	build_confusion(v, app, &v->doc[TAB_CONFUSION]);
	char *log = jm_rundata_log_tail(jm_app_home(app), v->id, 2000);
	jm_doc_text(&v->doc[TAB_LOG], *log ? log : "(no log yet)", 0, 0);
	free(log);
	if (!v->loaded) /* the log opens at its end */
		v->scroll[TAB_LOG].cur = v->doc[TAB_LOG].n;
	v->loaded = 1;
}

static jm_list *run_list(jm_screen *s)
{
	runview *v = (runview *)s;
	return &v->scroll[v->tab];
}

static void act_next_tab(jm_screen *s, jm_app *app)
{
	(void)app;
	runview *v = (runview *)s;
	v->tab = (v->tab + 1) % NTABS;
}

static void act_prev_tab(jm_screen *s, jm_app *app)
{
	(void)app;
	runview *v = (runview *)s;
	v->tab = (v->tab + NTABS - 1) % NTABS;
}

static void act_monitor(jm_screen *s, jm_app *app)
{
	jm_app_push(app, jm_monitor_new(app, ((runview *)s)->id));
}

static void act_rerun(jm_screen *s, jm_app *app)
{
	runview *v = (runview *)s;
	if (v->loaded)
		jm_app_rerun(app, &v->row);
}

static void act_resume(jm_screen *s, jm_app *app)
{
	runview *v = (runview *)s;
	jm_app_resume(app, v->loaded ? &v->row : NULL);
}

#define TAB_ACTION(n)                                                \
	static void act_tab##n(jm_screen *s, jm_app *app)            \
	{                                                            \
		(void)app;                                           \
		((runview *)s)->tab = n;                             \
	}
TAB_ACTION(0)
TAB_ACTION(1)
TAB_ACTION(2)
TAB_ACTION(3)
TAB_ACTION(4)
TAB_ACTION(5)

static const jm_binding run_bindings[] = {
	{{JM_KEY_TAB, 'l', JM_KEY_RIGHT}, "Tab/l", "next tab", act_next_tab, "tab"},
	{{JM_KEY_BTAB, 'h', JM_KEY_LEFT}, "S-Tab/h", "previous tab", act_prev_tab, NULL},
	{{'1'}, "1", "Summary: fields and params", act_tab0, NULL},
	{{'2'}, "2", "Metrics: last, min, max, best", act_tab1, NULL},
	{{'3'}, "3", "Confusion matrix", act_tab2, NULL},
	{{'4'}, "4", "Artifacts", act_tab3, NULL},
	{{'5'}, "5", "Log", act_tab4, NULL},
	{{'6'}, "6", "Flow", act_tab5, NULL},
	{{'m'}, "m", "monitor: curves and progress", act_monitor, "monitor"},
	{{'r'}, "r", "rerun this run's flow, detached", act_rerun, "rerun"},
	{{'R'}, "R", "resume the stopped or crashed run from its checkpoint", act_resume, "resume"},
	JM_NAV_BINDINGS,
	{{0}, NULL, NULL, NULL, NULL},
};

static void run_draw(jm_screen *s, jm_app *app, jm_canvas *c, int y0, int h)
{
	(void)app;
	runview *v = (runview *)s;
	int x = 1;
	for (int t = 0; t < NTABS; t++) {
		char lab[32];
		snprintf(lab, sizeof lab, " %d %s ", t + 1, tab_names[t]);
		x += jm_canvas_text(c, x, y0, c->w - x, lab,
				    t == v->tab ? JM_A_REVERSE | JM_A_BOLD : JM_A_DIM, JM_COL_NONE) + 1;
	}
	jm_canvas_hline(c, 0, y0 + 1, c->w, JM_A_DIM);
	jm_list *l = &v->scroll[v->tab];
	const jm_doc *d = &v->doc[v->tab];
	int rows = h - 2;
	l->page = 1;
	l->n = d->n - rows + 1 > 1 ? d->n - rows + 1 : 1;
	jm_list_clamp(l);
	jm_doc_draw(d, c, 1, y0 + 2, c->w - 2, rows, l->cur);
}

static void run_free(jm_screen *s)
{
	runview *v = (runview *)s;
	for (int t = 0; t < NTABS; t++)
		jm_doc_clear(&v->doc[t]);
	jm_run_row_clear(&v->row);
	free(v);
}

static const jm_screen_class run_class = {
	.name = "Run",
	.list = run_list,
	.bindings = run_bindings,
	.draw = run_draw,
	.poll = run_poll,
	.free = run_free,
};

jm_screen *jm_run_new(jm_app *app, int64_t run)
{
	(void)app;
	runview *v = jm_xcalloc(1, sizeof *v);
	v->base.cls = &run_class;
	v->id = run;
	return &v->base;
}
