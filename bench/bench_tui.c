/*
 * bench_tui.c: how fast the workbench draws, without a terminal.
 *
 *   1. a store with 10,000 runs x 20 metrics (and 12 params each), written
 *      in one transaction with plain SQL into the schema's tables (the
 *      store API commits each run durably, which would take minutes)
 *   2. first Compare frame: load every run's params and metric summaries,
 *      lay out, render into a 200x50 canvas (and 80x24); best and median
 *      of several
 *   3. sort by a metric column of those 10,000 runs
 *   4. live monitor at 200x50: a running run with 20,000 loss points and
 *      epoch curves; the time of one store poll, and of one frame (draw)
 *
 *   bench/bench_tui [RUNS] [METRICS]     (default 10000 20)
 *
 * Goals (issue 7): first Compare frame < 200 ms; a frame < 2 ms.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "store/store.h"
#include "ui/app.h"
#include "ui/canvas.h"
#include "util/err.h"

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void must(int ok, sqlite3 *db, const char *what)
{
	if (!ok) {
		fprintf(stderr, "bench_tui: %s: %s\n", what, db ? sqlite3_errmsg(db) : "");
		exit(1);
	}
}

static void exec(sqlite3 *db, const char *sql)
{
	must(sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK, db, sql);
}

static sqlite3_stmt *prep(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st = NULL;
	must(sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK, db, sql);
	return st;
}

static void step(sqlite3 *db, sqlite3_stmt *st)
{
	must(sqlite3_step(st) == SQLITE_DONE, db, "insert");
	sqlite3_reset(st);
}

static void generate(const char *home, int nruns, int nmetrics)
{
	jm_store *s = NULL;
	jm_err err = {0};
	if (jm_store_open(&s, home, 0, &err) < 0) {
		jm_err_print(&err);
		exit(1);
	}
	sqlite3 *db = jm_store_db(s);
	exec(db, "BEGIN");
	exec(db, "INSERT INTO flows(id, name, text, sha256, created) VALUES "
		 "(1, 'sweep.flow', '[train]\nlr = 0.001\n', 'x', 0)");
	sqlite3_stmt *run = prep(db, "INSERT INTO runs(id, kind, flow_id, status, started, ended, "
				     "seed, device, created) VALUES (?, 'run', 1, ?, ?, ?, 1, 'cpu', ?)");
	sqlite3_stmt *par = prep(db, "INSERT INTO params(run, key, value) VALUES (?, ?, ?)");
	sqlite3_stmt *sum = prep(db, "INSERT INTO metric_summary(run, key, last, last_step, min, max, "
				     "count) VALUES (?, ?, ?, 1000, ?, ?, 20)");
	static const char *const statuses[] = {"done", "done", "done", "failed", "stopped"};
	static const char *const pkeys[] = {"train.lr", "train.batch", "train.epochs",
					    "model.type", "model.hidden", "model.dropout",
					    "train.optimizer", "train.weight_decay", "data.limit",
					    "train.seed", "train.schedule", "split.val"};
	char key[64], val[64];
	unsigned r = 12345;
	for (int i = 1; i <= nruns; i++) {
		sqlite3_bind_int(run, 1, i);
		sqlite3_bind_text(run, 2, statuses[i % 5], -1, SQLITE_STATIC);
		sqlite3_bind_double(run, 3, 1.7e9 + i * 60.0);
		sqlite3_bind_double(run, 4, 1.7e9 + i * 60.0 + 55);
		sqlite3_bind_double(run, 5, 1.7e9 + i * 60.0);
		step(db, run);
		for (size_t k = 0; k < sizeof pkeys / sizeof pkeys[0]; k++) {
			r = r * 1103515245u + 12345u;
			if (k == 0)
				snprintf(val, sizeof val, "%.3g", 1e-4 * (1 + (r >> 16) % 100));
			else if (k == 9)
				snprintf(val, sizeof val, "%d", i);
			else
				snprintf(val, sizeof val, "%u", (r >> 16) % 4);
			sqlite3_bind_int(par, 1, i);
			sqlite3_bind_text(par, 2, pkeys[k], -1, SQLITE_STATIC);
			sqlite3_bind_text(par, 3, val, -1, SQLITE_TRANSIENT);
			step(db, par);
		}
		for (int m = 0; m < nmetrics; m++) {
			r = r * 1103515245u + 12345u;
			double v = ((r >> 8) % 10000) / 10000.0;
			if (m == 0)
				snprintf(key, sizeof key, "val_acc");
			else if (m == 1)
				snprintf(key, sizeof key, "val_loss");
			else
				snprintf(key, sizeof key, "metric_%02d", m);
			sqlite3_bind_int(sum, 1, i);
			sqlite3_bind_text(sum, 2, key, -1, SQLITE_TRANSIENT);
			sqlite3_bind_double(sum, 3, v);
			sqlite3_bind_double(sum, 4, v * 0.9);
			sqlite3_bind_double(sum, 5, v * 1.1);
			step(db, sum);
		}
	}
	sqlite3_finalize(run);
	sqlite3_finalize(par);
	sqlite3_finalize(sum);
	exec(db, "COMMIT");
	jm_store_close(s);
}

/* A running run (owned by this process) with long curves and a log. */
static int64_t live_run(const char *home)
{
	jm_store *s = NULL;
	jm_err err = {0};
	int64_t id = 0;
	if (jm_store_open(&s, home, 0, &err) < 0 || jm_store_flow_put(s, "live.flow", "[train]\n",
								       &id, &err) < 0) {
		jm_err_print(&err);
		exit(1);
	}
	jm_run_spec spec = {.kind = "run", .flow_id = id, .seed = 1, .device = "cpu"};
	if (jm_store_run_create(s, &spec, &id, &err) < 0 ||
	    jm_store_param_set(s, id, "train.epochs", "20", &err) < 0) {
		jm_err_print(&err);
		exit(1);
	}
	sqlite3 *db = jm_store_db(s);
	exec(db, "BEGIN");
	sqlite3_stmt *pt = prep(db, "INSERT INTO metrics(run, key, step, value, wall) "
				    "VALUES (?, ?, ?, ?, 0)");
	for (int i = 1; i <= 20000; i++) {
		sqlite3_bind_int64(pt, 1, id);
		sqlite3_bind_text(pt, 2, "loss", -1, SQLITE_STATIC);
		sqlite3_bind_int(pt, 3, i * 10);
		sqlite3_bind_double(pt, 4, 2.0 / sqrt(i) + 0.01 * (i % 7));
		step(db, pt);
	}
	static const char *const ek[] = {"train_loss", "val_loss", "train_acc", "val_acc", "epoch"};
	for (int e = 1; e <= 10; e++)
		for (int k = 0; k < 5; k++) {
			sqlite3_bind_int64(pt, 1, id);
			sqlite3_bind_text(pt, 2, ek[k], -1, SQLITE_STATIC);
			sqlite3_bind_int(pt, 3, e * 20000);
			sqlite3_bind_double(pt, 4, k == 4 ? e : k < 2 ? 1.0 / e : 1 - 0.5 / e);
			step(db, pt);
		}
	sqlite3_finalize(pt);
	/* summaries as the metric writer keeps them (last point of each curve) */
	sqlite3_stmt *sum = prep(db, "INSERT INTO metric_summary(run, key, last, last_step, min, "
				     "max, count) VALUES (?, ?, ?, ?, ?, ?, ?)");
	for (int k = -1; k < 5; k++) {
		int loss = k < 0;
		double v = loss ? 2.0 / sqrt(20000) : k == 4 ? 10 : k < 2 ? 0.1 : 0.95;
		sqlite3_bind_int64(sum, 1, id);
		sqlite3_bind_text(sum, 2, loss ? "loss" : ek[k], -1, SQLITE_STATIC);
		sqlite3_bind_double(sum, 3, v);
		sqlite3_bind_int(sum, 4, loss ? 200000 : 200000);
		sqlite3_bind_double(sum, 5, v);
		sqlite3_bind_double(sum, 6, v);
		sqlite3_bind_int(sum, 7, loss ? 20000 : 10);
		step(db, sum);
	}
	sqlite3_finalize(sum);
	exec(db, "COMMIT");
	char *dir = jm_store_run_dir(s, id, &err);
	char *log = jm_xasprintf("%s/log.txt", dir);
	FILE *fp = fopen(log, "w");
	fprintf(fp, "data: 54000 train, 6000 validation, 10000 test; 400000 steps of 27\n");
	for (int e = 1; e <= 10; e++)
		fprintf(fp, "epoch %d/20  train loss 0.3 acc 0.9  val loss 0.35 acc 0.88\n", e);
	fclose(fp);
	free(log);
	free(dir);
	jm_store_close(s);
	return id;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
	int nruns = argc > 1 ? atoi(argv[1]) : 10000, nmetrics = argc > 2 ? atoi(argv[2]) : 20;
	char tmpl[] = "/tmp/bench-tui-XXXXXX";
	if (!mkdtemp(tmpl)) {
		perror("mkdtemp");
		return 1;
	}
	char *home = jm_xasprintf("%s/.jianmo", tmpl);
	double t0 = now_ms();
	generate(home, nruns, nmetrics);
	printf("store: %d runs x %d metrics, 12 params each, written in %.0f ms\n", nruns, nmetrics,
	       now_ms() - t0);

	jm_err err = {0};
	jm_app_opts o = {.home = home, .exe = "/bin/false", .utf8 = 1};
	jm_app *app = jm_app_new(&o, &err);
	if (!app) {
		jm_err_print(&err);
		return 1;
	}
	const int reps = 5;
	double t[8];
	static const int sizes[2][2] = {{200, 50}, {80, 24}};
	for (int z = 0; z < 2; z++) {
		jm_canvas *c = jm_canvas_new(sizes[z][0], sizes[z][1], 1);
		for (int i = 0; i < reps; i++) {
			double a = now_ms();
			jm_app_command(app, "compare");
			jm_app_draw(app, c);
			t[i] = now_ms() - a;
			if (strcmp(jm_app_screen_name(app), "Compare")) {
				fprintf(stderr, "bench_tui: Compare did not open\n");
				return 1;
			}
			if (i == reps - 1 && z == 0) { /* sort by the first metric column */
				double s0 = now_ms();
				for (int k = 0; k < 12; k++) /* past the 12 params */
					jm_app_key(app, 'l');
				jm_app_key(app, 's');
				jm_app_draw(app, c);
				double ts = now_ms() - s0;
				printf("sort %d runs by a metric (%s) + frame: %.1f ms\n", nruns,
				       jm_canvas_find(c, "last▲", NULL, NULL) ||
						       jm_canvas_find(c, "last▼", NULL, NULL)
					       ? "val_acc last" : "?", ts);
			}
			jm_app_pop(app);
		}
		qsort(t, reps, sizeof *t, cmp_d);
		printf("first Compare frame (%d runs, %dx%d): best %.1f ms, median %.1f ms (goal < 200)\n",
		       nruns, sizes[z][0], sizes[z][1], t[0], t[reps / 2]);
		jm_canvas_free(c);
	}

	/* live monitor */
	int64_t id = live_run(home);
	char cmd[64];
	snprintf(cmd, sizeof cmd, "monitor %lld", (long long)id);
	jm_app_command(app, cmd);
	jm_canvas *c = jm_canvas_new(200, 50, 1);
	jm_app_draw(app, c);
	if (!jm_canvas_find(c, "step 200000/400000", NULL, NULL)) {
		jm_canvas_dump(c, stderr);
		fprintf(stderr, "bench_tui: the monitor did not load the run\n");
		return 1;
	}
	const int frames = 2000;
	double a = now_ms();
	for (int i = 0; i < frames; i++)
		jm_app_draw(app, c);
	double per_frame = (now_ms() - a) / frames;
	const int polls = 20;
	a = now_ms();
	for (int i = 0; i < polls; i++) { /* a fresh monitor polls at once */
		jm_app_key(app, 'q');
		jm_app_command(app, cmd);
	}
	double per_poll = (now_ms() - a) / polls;
	printf("live monitor at 200x50 (20,000 loss points): %.3f ms per frame (goal < 2); "
	       "%.1f ms per store poll (it polls twice a second)\n", per_frame, per_poll);
	jm_canvas_free(c);
	jm_app_free(app);
	char *rm = jm_xasprintf("rm -rf '%s'", tmpl);
	if (system(rm) != 0)
		fprintf(stderr, "bench_tui: could not remove %s\n", tmpl);
	free(rm);
	free(home);
	return 0;
}
