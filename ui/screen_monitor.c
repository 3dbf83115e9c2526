/*
 * screen_monitor.c: Run monitor: one run live, from the store.
 *
 *   progress bar (steps done / steps in the run, from the log's "N steps
 *   of B" line; epochs when unknown), ETA, samples/s, device, pid
 *   curves: loss (step loss, train and val loss) and accuracy (train, val)
 *   the log's tail
 *   for a search (a run with trials): the trials table (params that vary,
 *   objective value, status) and the best-so-far curve instead
 *
 * poll (every 0.5 s) ── one read transaction: run row, summaries, curves,
 * trials ── and the log file's tail.  A run launched from the TUI starts as
 * "pending" (a pid, no run id): poll looks for the run that pid created
 * (or, resumed, took over), and shows the launch log when the process
 * ended without one.  `s` asks, then y sends SIGTERM (the run finishes its
 * step, checkpoints, and is `stopped`); `R` resumes a stopped or crashed run,
 * `r` reruns it (asking first when R could resume it).
 */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/query.h"
#include "store/store.h"
#include "ui/app.h"
#include "ui/chart.h"
#include "ui/doc.h"
#include "ui/launch.h"
#include "ui/rundata.h"

enum { C_LOSS, C_TRAIN_LOSS, C_VAL_LOSS, C_TRAIN_ACC, C_VAL_ACC, NCURVES };
static const char *const curve_keys[NCURVES] = {"loss", "train_loss", "val_loss", "train_acc",
						"val_acc"};

#define JM_ENDED_POLL_S 3.0

typedef struct monitor {
	jm_screen base;
	int64_t id;             /* 0 while pending */
	pid_t pid;              /* launched process (pending) */
	char *launch_log;
	double launched;
	char *failure;          /* the launch log when the process ended without a run */
	int64_t resuming;       /* pending: the run the process resumes, or 0 */

	int loaded;
	jm_run_row row;
	jm_history curve[NCURVES];
	char *log;
	int64_t total_steps, step, epochs;
	int64_t epoch_step;       /* the step the last epoch ended at */
	double epoch, sps;        /* epoch: how many have ended (the metric) */
	double obs_t, obs_step;   /* first observation while running (rate) */
	double crash_checked;

	/* search */
	jm_run_row *trials;
	size_t ntrials;
	double *tvalue;           /* objective of each trial (NaN: none yet) */
	char **tparams;           /* "k=v k=v" of params that vary */
	char objective[64];
	int maximize;
	jm_list tl;
	double polled;
} monitor;

/* ---- polling ----------------------------------------------------------------- */

static void trials_free(monitor *m)
{
	for (size_t i = 0; i < m->ntrials; i++)
		free(m->tparams[i]);
	free(m->tparams);
	free(m->tvalue);
	jm_run_rows_free(m->trials, m->ntrials);
	m->trials = NULL;
	m->tparams = NULL;
	m->tvalue = NULL;
	m->ntrials = 0;
}

/* The objective of a search: its [search] metric param when the search
 * module records one, else what [train] monitor names. */
static void pick_objective(monitor *m, sqlite3 *db)
{
	static const char *const keys[] = {"search.metric", "search.objective", "train.monitor"};
	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
		char *v = jm_store_param_read(db, m->id, keys[i]);
		if (v && *v) {
			snprintf(m->objective, sizeof m->objective, "%s", v);
			free(v);
			break;
		}
		free(v);
	}
	if (!m->objective[0])
		snprintf(m->objective, sizeof m->objective, "val_acc");
	m->maximize = jm_query_metric_maximize(m->objective);
}

static void load_trials(monitor *m, sqlite3 *db)
{
	trials_free(m);
	if (jm_rundata_children(db, m->id, &m->trials, &m->ntrials, NULL) < 0 || !m->ntrials)
		return;
	if (!m->objective[0])
		pick_objective(m, db);
	m->tvalue = jm_xcalloc(m->ntrials, sizeof *m->tvalue);
	m->tparams = jm_xcalloc(m->ntrials, sizeof *m->tparams);
	jm_kv *kv = jm_xcalloc(m->ntrials, sizeof *kv);
	for (size_t i = 0; i < m->ntrials; i++) {
		jm_summary_row s;
		m->tvalue[i] = jm_rundata_summary(db, m->trials[i].id, m->objective, &s)
				       ? (m->maximize ? s.max : s.min)
				       : NAN;
		jm_rundata_params(db, m->trials[i].id, &kv[i], NULL);
	}
	/* params that differ between trials (or from the first) */
	for (size_t i = 0; i < m->ntrials; i++) {
		char buf[512] = "";
		size_t bl = 0;
		for (size_t k = 0; k < kv[i].n; k++) {
			int varies = 0;
			for (size_t j = 0; j < m->ntrials && !varies; j++) {
				const char *other = NULL;
				for (size_t q = 0; q < kv[j].n; q++)
					if (!strcmp(kv[j].k[q], kv[i].k[k]))
						other = kv[j].v[q];
				varies = !other || strcmp(other, kv[i].v[k]);
			}
			if (varies && bl < sizeof buf - 1) {
				const char *key = strchr(kv[i].k[k], '.');
				bl += (size_t)snprintf(buf + bl, sizeof buf - bl, "%s%s=%s", bl ? " " : "",
						       key ? key + 1 : kv[i].k[k], kv[i].v[k]);
			}
		}
		m->tparams[i] = jm_xstrdup(buf);
	}
	for (size_t i = 0; i < m->ntrials; i++)
		jm_kv_free(&kv[i]);
	free(kv);
	m->tl.n = (int)m->ntrials;
	jm_list_clamp(&m->tl);
}

/* "data: 54000 train, 6000 validation, 10000 test; 2110 steps of 128" */
static void parse_steps(monitor *m)
{
	const char *p = m->log;
	while (p && (p = strstr(p, " steps of ")) != NULL) {
		const char *q = p;
		while (q > m->log && q[-1] >= '0' && q[-1] <= '9')
			q--;
		if (q < p)
			m->total_steps = atoll(q);
		p++;
	}
}

static void find_pending(monitor *m, jm_app *app)
{
	sqlite3_stmt *st = NULL;
	/* A new run is created by the pid; a search stores its queued trials
	 * with its own pid too, so the run that is no trial comes first.  A
	 * resumed one is taken over by the pid (jm_store_run_reopen), which
	 * keeps its first start and sets resumed (or, queued, started). */
	if (sqlite3_prepare_v2(jm_app_db(app),
			       "SELECT id FROM runs WHERE pid = ?1 AND "
			       "CASE WHEN ?3 THEN id = ?3 AND IFNULL(resumed, started) >= ?2 "
			       "ELSE created >= ?2 OR started >= ?2 END "
			       "ORDER BY parent IS NOT NULL, id DESC LIMIT 1", -1, &st,
			       NULL) != SQLITE_OK)
		return;
	sqlite3_bind_int64(st, 1, m->pid);
	sqlite3_bind_double(st, 2, m->launched - 5);
	sqlite3_bind_int64(st, 3, m->resuming);
	if (sqlite3_step(st) == SQLITE_ROW)
		m->id = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	if (m->id || jm_launch_alive(m->pid))
		return;
	/* ended without a run: its output says why */
	FILE *fp = fopen(m->launch_log, "r");
	char buf[4096] = "";
	size_t n = fp ? fread(buf, 1, sizeof buf - 1, fp) : 0;
	if (fp)
		fclose(fp);
	buf[n] = '\0';
	free(m->failure);
	m->failure = jm_xstrdup(n ? buf : "the run ended without output");
	char first[256];
	snprintf(first, sizeof first, "%.*s", (int)strcspn(m->failure, "\n"), m->failure);
	if (m->resuming)
		jm_app_message(app, 1, "run %lld did not resume: %s", (long long)m->resuming, first);
	else
		jm_app_message(app, 1, "run did not start: %s", first);
}

/* A running run whose process is gone: a writable open marks it crashed. */
static void check_crash(monitor *m, jm_app *app, double now)
{
	char host[256] = "";
	if (strcmp(m->row.status, JM_RUN_RUNNING) || now - m->crash_checked < 5.0 ||
	    gethostname(host, sizeof host - 1) < 0 || !m->row.host || strcmp(host, m->row.host) ||
	    jm_launch_alive((pid_t)m->row.pid))
		return;
	m->crash_checked = now;
	jm_store *w = NULL;
	if (jm_store_open(&w, jm_app_home(app), JM_STORE_NOCREATE, NULL) == 0)
		jm_store_close(w);
}

static void monitor_poll(jm_screen *s, jm_app *app)
{
	monitor *m = (monitor *)s;
	double now = jm_app_now(app);
	if (m->loaded && now - m->polled < 0.5)
		return;
	/* an ended run changes only when it is resumed (R, here or anywhere):
	 * look every few seconds */
	if (m->loaded && m->id && jm_status_terminal(m->row.status) && !m->row.children &&
	    now - m->polled < JM_ENDED_POLL_S)
		return;
	m->polled = now;
	sqlite3 *db = jm_app_db(app);
	if (!m->id) {
		if (!m->failure)
			find_pending(m, app);
		if (!m->id)
			return;
	}
	jm_err err = {0};
	jm_rundata_begin(db);
	jm_run_row_clear(&m->row);
	if (jm_rundata_run(db, m->id, &m->row, &err) < 0) {
		jm_rundata_end(db);
		jm_app_message(app, 1, "%s", err.msg);
		return;
	}
	for (int k = 0; k < NCURVES; k++) {
		jm_history_free(&m->curve[k]);
		jm_rundata_history(db, m->id, curve_keys[k], &m->curve[k], NULL);
	}
	jm_summary_row *sum = NULL;
	size_t ns = 0;
	m->step = m->epoch_step = 0;
	m->epoch = 0;
	jm_rundata_summaries(db, m->id, &sum, &ns, NULL);
	for (size_t i = 0; i < ns; i++) {
		if (sum[i].last_step > m->step)
			m->step = sum[i].last_step;
		if (!strcmp(sum[i].key, "epoch"))
			m->epoch = sum[i].last, m->epoch_step = sum[i].last_step;
		if (!strcmp(sum[i].key, "samples_per_s"))
			m->sps = sum[i].last;
	}
	free(sum);
	if (!m->epochs) {
		char *e = jm_store_param_read(db, m->id, "train.epochs");
		m->epochs = e ? atoll(e) : 0;
		free(e);
	}
	if (m->row.children || !strcmp(m->row.kind, "search"))
		load_trials(m, db);
	jm_rundata_end(db);

	free(m->log);
	m->log = jm_rundata_log_tail(jm_app_home(app), m->id, 400);
	if (!m->total_steps)
		parse_steps(m);
	if (!strcmp(m->row.status, JM_RUN_RUNNING) && m->obs_t == 0 && m->step > 0)
		m->obs_t = now, m->obs_step = (double)m->step;
	check_crash(m, app, now);
	m->loaded = 1;
}

/* ---- actions ------------------------------------------------------------------ */

static void act_stop(jm_screen *s, jm_app *app)
{
	monitor *m = (monitor *)s;
	jm_app_stop(app, m->id && m->loaded ? &m->row : NULL);
}

static void act_open_trial(jm_screen *s, jm_app *app)
{
	monitor *m = (monitor *)s;
	if (m->ntrials && m->tl.cur < (int)m->ntrials)
		jm_app_push(app, jm_monitor_new(app, m->trials[m->tl.cur].id));
}

static void act_detail(jm_screen *s, jm_app *app)
{
	monitor *m = (monitor *)s;
	if (m->id)
		jm_app_push(app, jm_run_new(app, m->id));
}

static void act_resume(jm_screen *s, jm_app *app)
{
	monitor *m = (monitor *)s;
	jm_app_resume(app, m->id && m->loaded ? &m->row : NULL);
}

static void act_rerun(jm_screen *s, jm_app *app)
{
	monitor *m = (monitor *)s;
	if (m->id && m->loaded)
		jm_app_rerun(app, &m->row);
}

static jm_list *monitor_list(jm_screen *s)
{
	return &((monitor *)s)->tl;
}

static const jm_binding monitor_bindings[] = {
	{{'s'}, "s", "stop the run, after y (graceful: finishes the step, checkpoints)", act_stop, "stop"},
	{{'R'}, "R", "resume the stopped or crashed run from its checkpoint", act_resume, "resume"},
	{{'r'}, "r", "rerun this run's flow from the start, detached", act_rerun, NULL},
	{{JM_KEY_ENTER, '\n'}, "Enter", "open the selected trial (a search)", act_open_trial, NULL},
	{{'d'}, "d", "details: params, metrics, confusion, artifacts, log", act_detail, "details"},
	JM_NAV_BINDINGS,
	{{0}, NULL, NULL, NULL, NULL},
};

/* ---- drawing -------------------------------------------------------------------- */

/* The epoch the progress line names, counted from 1 as --batch's lines
 * and the log count it: the one in progress once a step past the last
 * epoch's end is logged, else the one that ended last ("epoch 2/5" right
 * after epoch 2, and when the run ended or stopped after it). */
static int64_t epoch_shown(const monitor *m)
{
	int64_t e = (int64_t)m->epoch + (m->step > m->epoch_step ? 1 : 0);
	if (m->epochs > 0 && e > m->epochs)
		e = m->epochs;
	return e < 1 ? 1 : e;
}

static void draw_progress(monitor *m, jm_app *app, jm_canvas *c, int y)
{
	const jm_glyphs *g = jm_canvas_glyphs(c);
	double frac = NAN;
	if (m->total_steps > 0)
		frac = (double)m->step / (double)m->total_steps;
	else if (m->epochs > 0)
		frac = m->epoch / (double)m->epochs;
	if (!strcmp(m->row.status, JM_RUN_DONE))
		frac = 1;
	if (frac > 1)
		frac = 1;
	char right[160], eta[32] = "-", sps[32] = "-";
	double now = jm_app_now(app);
	int running = !strcmp(m->row.status, JM_RUN_RUNNING);
	if (running && isfinite(frac) && frac > 0 && m->total_steps > 0) {
		double rate = 0; /* steps per second */
		if (m->obs_t > 0 && now - m->obs_t > 2 && m->step > m->obs_step)
			rate = ((double)m->step - m->obs_step) / (now - m->obs_t);
		else if (m->row.has_started && now > m->row.started)
			rate = (double)m->step / (now - m->row.started);
		if (rate > 0)
			jm_fmt_duration(eta, sizeof eta, (double)(m->total_steps - m->step) / rate);
	}
	if (m->sps > 0)
		snprintf(sps, sizeof sps, "%.0f", m->sps);
	snprintf(right, sizeof right, " %3.0f%%  epoch %lld/%lld  step %lld/%lld  ETA %s  %s samples/s",
		 isfinite(frac) ? frac * 100 : 0.0, (long long)epoch_shown(m), (long long)m->epochs,
		 (long long)m->step, (long long)m->total_steps, eta, sps);
	int rw = jm_text_width(right);
	int bw = c->w - 2 - rw;
	if (bw < 10) { /* narrow: the bar on its own and the numbers cut */
		bw = c->w / 3;
	}
	int full = isfinite(frac) ? (int)lround(frac * bw) : 0;
	for (int i = 0; i < bw; i++)
		jm_canvas_put(c, 1 + i, y, i < full ? g->bar_full : g->bar_empty,
			      i < full ? JM_A_BOLD : JM_A_DIM, i < full ? jm_status_colour(m->row.status) : 0);
	jm_canvas_text(c, 1 + bw, y, c->w - 1 - bw, right, 0, JM_COL_NONE);
}

static void draw_header(monitor *m, jm_app *app, jm_canvas *c, int y)
{
	char dur[32] = "";
	double d;
	if (jm_run_duration(&m->row, jm_app_now(app), &d))
		jm_fmt_duration(dur, sizeof dur, d);
	int x = 1;
	x += jm_canvas_textf(c, x, y, c->w - x, JM_A_BOLD, 0, "run %lld", (long long)m->id) + 2;
	x += jm_canvas_text(c, x, y, c->w - x, m->row.status, JM_A_BOLD | JM_A_REVERSE,
			    jm_status_colour(m->row.status)) + 2;
	jm_canvas_textf(c, x, y, c->w - x, 0, 0, "%s  on %s  %s  pid %lld", m->row.name,
			m->row.device ? m->row.device : "-", dur, (long long)m->row.pid);
	if (m->row.error)
		jm_canvas_textf(c, 1, y + 1, c->w - 2, JM_A_BOLD, JM_COL_BAD, "error: %s",
				m->row.error);
}

static void draw_log(monitor *m, jm_canvas *c, int y, int h)
{
	jm_canvas_text(c, 1, y, c->w - 2, "Log", JM_A_BOLD, JM_COL_ACCENT);
	jm_doc d = {0};
	jm_doc_text(&d, m->log, 0, 0);
	int rows = h - 1;
	jm_doc_draw(&d, c, 1, y + 1, c->w - 2, rows, d.n - rows);
	jm_doc_clear(&d);
}

static void draw_curves(monitor *m, jm_canvas *c, int y, int h)
{
	jm_series loss[3], acc[2];
	int nl = 0, na = 0;
	for (int k = C_LOSS; k <= C_VAL_LOSS; k++)
		if (m->curve[k].n)
			loss[nl++] = (jm_series){curve_keys[k], m->curve[k].x, m->curve[k].y,
						 m->curve[k].n};
	for (int k = C_TRAIN_ACC; k <= C_VAL_ACC; k++)
		if (m->curve[k].n)
			acc[na++] = (jm_series){curve_keys[k], m->curve[k].x, m->curve[k].y,
						m->curve[k].n};
	int half = (c->w - 2) / 2;
	jm_chart_draw(c, 1, y, half - 1, h, "loss", loss, nl);
	jm_chart_draw(c, 1 + half, y, c->w - 2 - half, h, "accuracy", acc, na);
}

static void draw_trials(monitor *m, jm_canvas *c, int y, int h)
{
	/* left: the table; right: best so far */
	int tw = c->w >= 120 ? c->w * 3 / 5 : c->w - 2;
	int ch = c->w >= 120 ? h : 0;
	jm_canvas_textf(c, 1, y, tw, JM_A_BOLD, JM_COL_ACCENT, "Trials (%zu)  objective %s (%s)",
			m->ntrials, m->objective, m->maximize ? "max" : "min");
	jm_canvas_textf(c, 1, y + 1, tw, JM_A_BOLD, 0, "%-6s %-8s %10s  %s", "ID", "STATUS",
			"VALUE", "PARAMS");
	int rows = h - 2;
	m->tl.page = rows;
	jm_list_clamp(&m->tl);
	for (int i = 0; i < rows && m->tl.top + i < (int)m->ntrials; i++) {
		int k = m->tl.top + i;
		char v[32] = "-";
		if (!isnan(m->tvalue[k]))
			jm_fmt_metric(v, sizeof v, m->tvalue[k]);
		int yy = y + 2 + i;
		jm_canvas_textf(c, 1, yy, 6, 0, 0, "%lld", (long long)m->trials[k].id);
		jm_canvas_text(c, 8, yy, 8, m->trials[k].status, 0,
			       jm_status_colour(m->trials[k].status));
		jm_canvas_text_right(c, 17, yy, 10, v, 0, 0);
		jm_canvas_text(c, 29, yy, tw - 29, m->tparams[k], 0, 0);
		if (k == m->tl.cur)
			jm_canvas_attr(c, 1, yy, tw, JM_A_REVERSE, JM_COL_NONE);
	}
	if (!ch)
		return;
	double *x = jm_xcalloc(m->ntrials + 1, sizeof *x), *b = jm_xcalloc(m->ntrials + 1, sizeof *b);
	int n = 0;
	double best = NAN;
	for (size_t i = 0; i < m->ntrials; i++) {
		double v = m->tvalue[i];
		if (!isnan(v) && (isnan(best) || (m->maximize ? v > best : v < best)))
			best = v;
		if (!isnan(best))
			x[n] = (double)(i + 1), b[n++] = best;
	}
	jm_series s = {"best so far", x, b, n};
	jm_chart_draw(c, tw + 2, y, c->w - tw - 3, ch, "search", &s, 1);
	free(x);
	free(b);
}

static void monitor_draw(jm_screen *s, jm_app *app, jm_canvas *c, int y0, int h)
{
	monitor *m = (monitor *)s;
	if (!m->id) {
		if (m->failure) {
			jm_canvas_text(c, 1, y0, c->w - 2, m->resuming ? "The run did not resume:"
							       : "The run did not start:",
				       JM_A_BOLD, JM_COL_BAD);
			jm_doc d = {0};
			jm_doc_text(&d, m->failure, 0, 0);
			jm_doc_draw(&d, c, 3, y0 + 2, c->w - 4, h - 2, 0);
			jm_doc_clear(&d);
		} else if (m->resuming) {
			jm_canvas_textf(c, 1, y0, c->w - 2, JM_A_BOLD, JM_COL_LIVE,
					"resuming run %lld (pid %d): loading data, reading its "
					"checkpoint...", (long long)m->resuming, (int)m->pid);
		} else {
			jm_canvas_textf(c, 1, y0, c->w - 2, JM_A_BOLD, JM_COL_LIVE,
					"starting run (pid %d): loading data, building the model...",
					(int)m->pid);
		}
		return;
	}
	if (!m->loaded)
		return;
	draw_header(m, app, c, y0);
	draw_progress(m, app, c, y0 + 2);
	int rest = h - 4, top = y0 + 4;
	if (m->ntrials) {
		int th = rest;
		if (c->w < 120) { /* narrow: curves above, trials below */
			draw_curves(m, c, top, rest / 2);
			top += rest / 2 + 1;
			th = rest - rest / 2 - 1;
		}
		draw_trials(m, c, top, th);
		return;
	}
	int ch = rest * 55 / 100;
	if (ch < 6)
		ch = rest;
	draw_curves(m, c, top, ch);
	if (rest - ch > 2)
		draw_log(m, c, top + ch + 1, rest - ch - 1);
}

static void monitor_free(jm_screen *s)
{
	monitor *m = (monitor *)s;
	for (int k = 0; k < NCURVES; k++)
		jm_history_free(&m->curve[k]);
	trials_free(m);
	jm_run_row_clear(&m->row);
	free(m->log);
	free(m->launch_log);
	free(m->failure);
	free(m);
}

static const jm_screen_class monitor_class = {
	.name = "Monitor",
	.list = monitor_list,
	.bindings = monitor_bindings,
	.draw = monitor_draw,
	.poll = monitor_poll,
	.free = monitor_free,
};

jm_screen *jm_monitor_new(jm_app *app, int64_t run)
{
	(void)app;
	monitor *m = jm_xcalloc(1, sizeof *m);
	m->base.cls = &monitor_class;
	m->id = run;
	return &m->base;
}

jm_screen *jm_monitor_new_pending(jm_app *app, pid_t pid, const char *launch_log,
				  int64_t resuming)
{
	monitor *m = (monitor *)jm_monitor_new(app, 0);
	m->pid = pid;
	m->resuming = resuming;
	m->launch_log = jm_xstrdup(launch_log);
	m->launched = jm_app_now(app);
	return &m->base;
}
