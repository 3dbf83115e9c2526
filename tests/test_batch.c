/*
 * test_batch.c: `jianmo --batch` end to end through the real binary, on
 * Fashion-MNIST from Debian's package (skipped, loudly, without it):
 * training lowers the loss and lands metrics in the store; a stopped or
 * killed run resumes to the same final metrics as an uninterrupted one;
 * reruns are identical; bad input is refused with its message and exit 2;
 * divergence fails the run; notifications are posted.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "testutil.h"

static char *dir;

static void setup(void)
{
	dir = jt_tmpdir();
}

static void teardown(void)
{
	jt_rm_rf(dir);
	free(dir);
}

TestSuite(batch, .init = setup, .fini = teardown, .timeout = 120);

#define NEED_FMNIST()                                                              \
	do {                                                                       \
		if (!jt_fmnist_dir())                                              \
			cr_skip_test("SKIPPED: Fashion-MNIST not installed "       \
				     "(apt-get install dataset-fashion-mnist)");   \
	} while (0)

/* A small, fast MLP flow: 4096 training images, 3 epochs of batch 64. */
static const char *small_flow =
	"[data]\n"
	"source = fashion-mnist\n"
	"limit = 4096\n"
	"test_limit = 1000\n"
	"\n"
	"[model]\n"
	"type = mlp\n"
	"hidden = 64\n"
	"dropout = 0.1\n"
	"\n"
	"[train]\n"
	"epochs = 3\n"
	"batch = 64\n"
	"lr = 2e-3\n"
	"schedule = cosine\n"
	"log_every = 10\n";

static sqlite3 *open_db(void)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/.jianmo/jianmo.db", dir);
	sqlite3 *db = NULL;
	cr_assert_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK,
		     "cannot open %s", path);
	return db;
}

/* One value from the store: a metric summary column, or NAN. */
static double summary(sqlite3 *db, long long run, const char *key, const char *col)
{
	char sql[256];
	snprintf(sql, sizeof sql, "SELECT %s FROM metric_summary WHERE run = ? AND key = ?", col);
	sqlite3_stmt *st;
	cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	sqlite3_bind_int64(st, 1, run);
	sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
	double v = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_double(st, 0) : NAN;
	sqlite3_finalize(st);
	return v;
}

static char *run_status(sqlite3 *db, long long run)
{
	sqlite3_stmt *st;
	cr_assert_eq(sqlite3_prepare_v2(db, "SELECT status FROM runs WHERE id = ?", -1, &st, NULL),
		     SQLITE_OK);
	sqlite3_bind_int64(st, 1, run);
	char *s = sqlite3_step(st) == SQLITE_ROW ? strdup((const char *)sqlite3_column_text(st, 0))
						 : strdup("(none)");
	sqlite3_finalize(st);
	return s;
}

/* All points of a metric as text, to compare runs bit for bit. */
static char *series(sqlite3 *db, long long run, const char *key)
{
	sqlite3_stmt *st;
	cr_assert_eq(sqlite3_prepare_v2(db,
					"SELECT group_concat(step || ':' || printf('%.17g', value), ' ') "
					"FROM (SELECT step, value FROM metrics WHERE run = ? AND key = ? "
					"ORDER BY step)",
					-1, &st, NULL),
		     SQLITE_OK);
	sqlite3_bind_int64(st, 1, run);
	sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
	char *s = NULL;
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
		s = strdup((const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	return s ? s : strdup("");
}

Test(batch, trains_and_stores_metrics)
{
	NEED_FMNIST();
	free(jt_write(dir, "small.flow", small_flow));
	char *out, *err;
	int rc = jt_jianmo(dir, &out, &err, "--batch small.flow");
	cr_assert_eq(rc, 0, "exit %d\nstdout:\n%s\nstderr:\n%s", rc, out, err);
	cr_expect(strstr(out, "epoch 3/3"), "no epoch line in:\n%s", out);
	cr_expect(strstr(out, "test loss"), "no test line in:\n%s", out);

	sqlite3 *db = open_db();
	char *status = run_status(db, 1);
	cr_expect_str_eq(status, "done");
	/* per-step loss: logged every 10 steps over 3 * 57 steps, and falling */
	double count = summary(db, 1, "loss", "count");
	cr_expect(count >= 15, "only %g loss points", count);
	char *pts = series(db, 1, "loss");
	cr_expect(strlen(pts) > 0);
	double first = NAN;
	sqlite3_stmt *st;
	sqlite3_prepare_v2(db, "SELECT value FROM metrics WHERE run = 1 AND key = 'loss' ORDER BY step LIMIT 1",
			   -1, &st, NULL);
	if (sqlite3_step(st) == SQLITE_ROW)
		first = sqlite3_column_double(st, 0);
	sqlite3_finalize(st);
	double last = summary(db, 1, "loss", "last");
	cr_expect(last < first * 0.6, "loss did not fall: first %g, last %g", first, last);
	cr_expect_eq(summary(db, 1, "epoch", "last"), 3.0);
	cr_expect(summary(db, 1, "val_acc", "count") == 3);
	double acc = summary(db, 1, "test_acc", "last");
	cr_expect(acc > 0.7 && acc <= 1.0, "test_acc %g", acc);
	cr_expect(summary(db, 1, "test_acc_class_9", "count") == 1);
	cr_expect(summary(db, 1, "samples_per_s", "last") > 0);
	/* params, artifacts, the flow */
	sqlite3_prepare_v2(db, "SELECT value FROM params WHERE run = 1 AND key = 'train.lr'", -1, &st, NULL);
	cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
	cr_expect_eq(strtod((const char *)sqlite3_column_text(st, 0), NULL), 2e-3);
	sqlite3_finalize(st);
	sqlite3_prepare_v2(db, "SELECT count(*) FROM artifacts WHERE run = 1 AND name IN "
			       "('model.safetensors', 'confusion.csv') AND bytes > 0", -1, &st, NULL);
	sqlite3_step(st);
	cr_expect_eq(sqlite3_column_int(st, 0), 2);
	sqlite3_finalize(st);
	sqlite3_close(db);

	char path[4096];
	snprintf(path, sizeof path, "%s/.jianmo/runs/1/confusion.csv", dir);
	char *conf = jt_read(path, NULL);
	cr_assert(conf, "no confusion.csv");
	cr_expect(strstr(conf, "Ankle boot"));
	snprintf(path, sizeof path, "%s/.jianmo/runs/1/log.txt", dir);
	char *log = jt_read(path, NULL);
	cr_assert(log, "no log.txt");
	cr_expect(strstr(log, "layers.0"), "no layer table in the log:\n%s", log);
	free(conf), free(log), free(status), free(pts), free(out), free(err);
}

Test(batch, json_lines)
{
	NEED_FMNIST();
	free(jt_write(dir, "small.flow", small_flow));
	char *out, *err;
	int rc = jt_jianmo(dir, &out, &err, "--batch small.flow --json --set train.epochs=1");
	cr_assert_eq(rc, 0, "exit %d: %s", rc, err);
	/* every line is one JSON object with an event */
	int lines = 0, ends = 0;
	for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
		cr_expect(line[0] == '{' && line[strlen(line) - 1] == '}', "not JSON: %s", line);
		cr_expect(strstr(line, "\"event\":"), "no event: %s", line);
		ends += strstr(line, "\"event\":\"end\"") != NULL;
		lines++;
	}
	cr_expect(lines >= 3);
	cr_expect_eq(ends, 1);
	free(out), free(err);
}

Test(batch, rerun_is_identical)
{
	NEED_FMNIST();
	free(jt_write(dir, "small.flow", small_flow));
	cr_assert_eq(jt_jianmo(dir, NULL, NULL, "--batch small.flow --set train.epochs=2 --seed 5"), 0);
	char *out, *err;
	int rc = jt_jianmo(dir, &out, &err, "--batch --rerun 1");
	cr_assert_eq(rc, 0, "exit %d: %s", rc, err);
	sqlite3 *db = open_db();
	const char *keys[] = {"loss", "val_loss", "val_acc", "test_loss", "test_acc"};
	for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
		char *a = series(db, 1, keys[i]), *b = series(db, 2, keys[i]);
		cr_expect(strlen(a) > 0, "no %s points", keys[i]);
		cr_expect_str_eq(a, b, "%s differs between a run and its rerun", keys[i]);
		free(a), free(b);
	}
	/* the seed given on the command line is part of the stored flow */
	sqlite3_stmt *st;
	sqlite3_prepare_v2(db, "SELECT value FROM params WHERE run = 2 AND key = 'train.seed'", -1, &st, NULL);
	cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
	cr_expect_str_eq((const char *)sqlite3_column_text(st, 0), "5");
	sqlite3_finalize(st);
	sqlite3_close(db);
	free(out), free(err);
}

/* Run the flow with the fault injection that makes the process send
 * itself `sig` right after optimizer step `step` (a real signal through
 * the real handlers); returns the exit status. */
static int run_and_signal(const char *flow, int step, const char *sig)
{
	char *out, *err;
	int rc = jt_sh(dir, &out, &err, "JIANMO_FAULT_SIGNAL=%d:%s '%s' --batch %s; echo \"exit=$?\"",
		       step, sig, jt_bin(), flow);
	cr_assert_eq(rc, 0, "shell failed: %s", err);
	char *e = strstr(out, "exit=");
	cr_assert(e, "no exit status in: %s", out);
	int status = atoi(e + 5);
	free(out), free(err);
	return status;
}

/* A small CNN with every kind of state a resume must restore: batch-norm
 * statistics, dropout, an adaptive clipping history, a one-cycle schedule.
 * 5758 training images in batches of 64: 89 steps an epoch. */
static const char *cnn_flow =
	"[data]\n"
	"limit = 6400\n"
	"test_limit = 1000\n"
	"[model]\n"
	"type = cnn\n"
	"layers = c8 p c16 gap d0.1 fc10\n"
	"[train]\n"
	"epochs = 3\n"
	"batch = 64\n"
	"lr = 3e-3\n"
	"schedule = onecycle\n"
	"clip = 1.0\n"
	"clip_mode = adaptive\n"
	"clip_window = 50\n"
	"log_every = 5\n";

static void expect_same_final(sqlite3 *db, long long a, long long b)
{
	const char *keys[] = {"loss", "grad_norm", "train_loss", "val_loss", "val_acc",
			      "test_loss", "test_acc", "epoch"};
	for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
		char *sa = series(db, a, keys[i]), *sb = series(db, b, keys[i]);
		cr_expect(strlen(sa) > 0, "run %lld has no %s", a, keys[i]);
		cr_expect_str_eq(sa, sb, "%s: run %lld and resumed run %lld differ", keys[i], a, b);
		free(sa), free(sb);
	}
}

Test(batch, sigterm_then_resume_matches_uninterrupted, .timeout = 300)
{
	NEED_FMNIST();
	free(jt_write(dir, "cnn.flow", cnn_flow));
	char *out, *err;
	int rc = jt_jianmo(dir, &out, &err, "--batch cnn.flow");
	cr_assert_eq(rc, 0, "uninterrupted run failed (%d): %s", rc, err);
	free(out), free(err);

	int st = run_and_signal("cnn.flow", 120, "TERM"); /* inside epoch 2 */
	cr_assert_eq(st, 143, "a stopped run exits 143, got %d", st);
	sqlite3 *db = open_db();
	char *status = run_status(db, 2);
	cr_expect_str_eq(status, "stopped");
	free(status);
	sqlite3_close(db);

	rc = jt_jianmo(dir, &out, &err, "--batch --resume 2");
	cr_assert_eq(rc, 0, "resume failed (%d): %s\n%s", rc, err, out);
	cr_expect(strstr(out, "resuming in epoch 2 at step 120"), "not resumed mid-run:\n%s", out);
	free(out), free(err);
	db = open_db();
	status = run_status(db, 2);
	cr_expect_str_eq(status, "done");
	expect_same_final(db, 1, 2);
	free(status);
	sqlite3_close(db);

	/* a done run has nothing to resume */
	rc = jt_jianmo(dir, &out, &err, "--batch --resume 2");
	cr_expect_eq(rc, 2);
	cr_expect(strstr(err, "run 2 is done: nothing to resume"), "%s", err);
	free(out), free(err);
}

/* flow_file run plain (run 1), under env (run 2), and under env stopped
 * at step `stop` by a SIGTERM and resumed (run 3): runs 2 and 3 end as
 * run 1 to the bit.  The outputs of the three in out[0..2]. */
static void expect_env_changes_no_metric(const char *flow_file, const char *env, int stop,
					 char *out[3])
{
	char *err;
	int rc = jt_jianmo(dir, &out[0], &err, "--batch %s", flow_file);
	cr_assert_eq(rc, 0, "plain run failed (%d): %s", rc, err);
	free(err);
	rc = jt_sh(dir, &out[1], &err, "%s '%s' --batch %s", env, jt_bin(), flow_file);
	cr_assert_eq(rc, 0, "run with %s failed (%d): %s", env, rc, err);
	free(err);
	rc = jt_sh(dir, &out[2], &err,
		   "%s JIANMO_FAULT_SIGNAL=%d:TERM '%s' --batch %s; %s '%s' --batch --resume 3", env,
		   stop, jt_bin(), flow_file, env, jt_bin());
	cr_assert_eq(rc, 0, "stop and resume with %s failed: %s\n%s", env, err, out[2]);
	free(err);
	sqlite3 *db = open_db();
	expect_same_final(db, 1, 2);
	expect_same_final(db, 1, 3);
	sqlite3_close(db);
}

/* SGD at lr 1e30 under env (the CPU's stand-in for a device's way of
 * running) diverges: exit 1, msg on stderr. */
static void expect_divergence_under(const char *env, const char *flow_file, const char *msg)
{
	char *out, *err;
	int rc = jt_sh(dir, &out, &err,
		       "%s '%s' --batch %s --set train.optimizer=sgd --set train.lr=1e30 "
		       "--set train.momentum=0.9; echo \"exit=$?\"",
		       env, jt_bin(), flow_file);
	cr_assert_eq(rc, 0);
	cr_expect(strstr(out, "exit=1"), "exit: %s", out);
	cr_expect(strstr(err, msg), "stderr: %s", err);
	free(out), free(err);
}

/* Training metrics read from the backend every 7 batches (as a GPU reads
 * them: JIANMO_METRICS_EVERY stands in for its metrics_every) add in the
 * same order as read every batch: the same bits, and a run stopped
 * between two reads resumes to them too (89 batches an epoch: the stop
 * at step 120 falls inside a read window). */
Test(batch, metrics_read_every_few_batches_match, .timeout = 300)
{
	NEED_FMNIST();
	free(jt_write(dir, "cnn.flow", cnn_flow));
	char *out[3];
	expect_env_changes_no_metric("cnn.flow", "JIANMO_METRICS_EVERY=7", 120, out);
	cr_expect(strstr(out[2], "resuming in epoch 2 at step 120"), "not resumed mid-run:\n%s",
		  out[2]);
	free(out[0]), free(out[1]), free(out[2]);

	/* a divergence is still caught, somewhere in the window */
	free(jt_write(dir, "small.flow", small_flow));
	expect_divergence_under("JIANMO_METRICS_EVERY=7", "small.flow", "diverged: loss is");
}

/* The trainer's side of the CUDA graph contract, checked on the CPU
 * (JIANMO_BACKEND_CHECK: src/engine/backend_check.c): every step
 * bracketed, nothing read back or allocated inside one, the fixed clip on
 * the "device"; and the metrics are the plain CPU run's to the bit, also
 * across a stop and resume. */
Test(batch, graph_contract_holds_and_changes_nothing, .timeout = 300)
{
	NEED_FMNIST();
	free(jt_write(dir, "contract.flow", jt_full_step_flow));
	char *runs[3];
	expect_env_changes_no_metric("contract.flow", "JIANMO_BACKEND_CHECK=1", 50, runs);
	cr_expect_null(strstr(runs[0], "backend check"), "%s", runs[0]);
	cr_expect(strstr(runs[1], "backend check: 90 steps bracketed, 0 broke the graph contract; "
				  "0 reads inside a step"),
		  "%s", runs[1]);
	cr_expect(strstr(runs[2], "resuming in epoch 2 at step 50"), "%s", runs[2]);
	cr_expect(strstr(runs[2], "0 broke the graph contract"), "%s", runs[2]);
	free(runs[0]), free(runs[1]), free(runs[2]);

	/* adaptive clipping reads the norm back: once a step, which cuts its
	 * graph in two; still nothing allocated inside one */
	char *out, *err;
	int rc = jt_sh(dir, &out, &err,
		       "JIANMO_BACKEND_CHECK=1 '%s' --batch contract.flow --set train.epochs=1 "
		       "--set train.clip_mode=adaptive",
		       jt_bin());
	cr_expect_eq(rc, 0, "%s", err);
	cr_expect(strstr(out, "backend check: 45 steps bracketed, 0 broke the graph contract; "
			      "45 reads inside a step"),
		  "%s", out);
	free(out), free(err);

	/* a norm that is not finite, clipped on the device, fails the run */
	expect_divergence_under("JIANMO_BACKEND_CHECK=1", "contract.flow",
				"diverged: gradient norm is nan within the");
}

/* A device error (JIANMO_BACKEND_CHECK_FAIL: the checked backend's sync
 * fails from its Nth call on, as a GPU's does after a fault in its queued
 * work) is the run's error wherever it is found, named as such, not read
 * as divergence or garbage figures: in training, in the evaluation, and
 * before the best epoch's weights or a checkpoint replace the last good
 * ones; and a run failed so resumes from that checkpoint to the
 * uninterrupted result. */
Test(batch, device_errors_fail_the_run_and_keep_the_checkpoint, .timeout = 300)
{
	NEED_FMNIST();
	free(jt_write(dir, "fault.flow", jt_full_step_flow));
	cr_assert_eq(jt_jianmo(dir, NULL, NULL, "--batch fault.flow"), 0); /* run 1 */
	static const struct {
		int n;
		const char *msg;
	} at[] = {
		{3, "run 2 failed: training (step 15, epoch 1) on cpu: an injected device error"},
		{11, "run 3 failed: evaluation on cpu: an injected device error"},
		{12, "run 4 failed: .jianmo/runs/4/best.safetensors: not saved: cpu: an "
		     "injected device error"},
		{13, "run 5 failed: .jianmo/runs/5/checkpoint.safetensors: not saved: cpu: an "
		     "injected device error"},
		{14, "run 6 failed: training (step 50, epoch 2) on cpu: an injected device error"},
	};
	for (size_t i = 0; i < sizeof at / sizeof *at; i++) {
		char *out, *err;
		int rc = jt_sh(dir, &out, &err,
			       "JIANMO_BACKEND_CHECK=1 JIANMO_BACKEND_CHECK_FAIL=%d '%s' --batch "
			       "fault.flow; echo \"exit=$?\"; echo \"files: $(ls .jianmo/runs/%zu | "
			       "tr '\\n' ' ')\"",
			       at[i].n, jt_bin(), i + 2);
		cr_assert_eq(rc, 0);
		cr_expect(strstr(out, "exit=1"), "fault at sync %d: %s", at[i].n, out);
		cr_expect(strstr(err, at[i].msg), "fault at sync %d: %s", at[i].n, err);
		cr_expect_null(strstr(err, "diverged"), "%s", err);
		const char *files = strstr(out, "files: ");
		cr_assert(files, "%s", out);
		cr_expect_null(strstr(files, ".tmp."), "a checkpoint's temporary file stayed: %s",
			       files);
		/* before epoch 1's checkpoint, none; after it, it stays */
		cr_expect_eq(strstr(files, "checkpoint.safetensors") != NULL, at[i].n > 13, "%s",
			     files);
		cr_expect_eq(strstr(files, "best.safetensors") != NULL, at[i].n > 12, "%s", files);
		free(out), free(err);
	}
	char *out, *err;
	int rc = jt_sh(dir, &out, &err, "JIANMO_BACKEND_CHECK=1 '%s' --batch --resume 6", jt_bin());
	cr_assert_eq(rc, 0, "resume failed: %s\n%s", err, out);
	free(out), free(err);
	sqlite3 *db = open_db();
	expect_same_final(db, 1, 6);
	sqlite3_close(db);
}

Test(batch, sigkill_then_resume_matches_uninterrupted, .timeout = 300)
{
	NEED_FMNIST();
	free(jt_write(dir, "cnn.flow", cnn_flow));
	cr_assert_eq(jt_jianmo(dir, NULL, NULL, "--batch cnn.flow"), 0);
	/* after the epoch-1 checkpoint (step 89) and some metrics past it */
	int st = run_and_signal("cnn.flow", 150, "KILL");
	cr_assert_eq(st, 137, "killed run exit %d", st);
	/* opening the store marks the dead run crashed */
	char *out, *err;
	cr_assert_eq(jt_jianmo(dir, &out, &err, "runs --json"), 0, "%s", err);
	free(out), free(err);
	sqlite3 *db = open_db();
	char *status = run_status(db, 2);
	cr_expect_str_eq(status, "crashed");
	free(status);
	sqlite3_close(db);

	int rc = jt_jianmo(dir, &out, &err, "--batch --resume 2");
	cr_assert_eq(rc, 0, "resume failed (%d): %s\n%s", rc, err, out);
	cr_expect(strstr(out, "resuming in epoch 2 at step 89"), "not resumed from epoch 1:\n%s", out);
	free(out), free(err);
	db = open_db();
	expect_same_final(db, 1, 2);
	sqlite3_close(db);
}

/* A GPU precision on the CPU is bad input, located at its key (or the
 * --set that gave it); auto runs fp32 there and the run records that. */
Test(batch, gpu_precisions_are_refused_on_the_cpu)
{
	NEED_FMNIST();
	char *flow = NULL;
	cr_assert(asprintf(&flow, "%sprecision = fp16\n", small_flow) > 0);
	free(jt_write(dir, "half.flow", flow));
	free(flow);
	free(jt_write(dir, "small.flow", small_flow));
	char *out, *err;
	int rc = jt_jianmo(dir, &out, &err, "--batch half.flow");
	cr_expect_eq(rc, 2, "exit %d\n%s", rc, err);
	/* device auto fell back to the CPU: its reason is named */
	cr_expect(strstr(err, "jianmo: half.flow:17: [train] precision = fp16 runs on a GPU, and "
			      "this run is on the cpu (device auto: "), "%s", err);
	cr_expect(strstr(err, ") (use auto or fp32)\n"), "%s", err);
	free(out), free(err);
	rc = jt_jianmo(dir, &out, &err, "--batch small.flow --set train.precision=bf16");
	cr_expect_eq(rc, 2, "exit %d\n%s", rc, err);
	cr_expect(strstr(err, "jianmo: --set train.precision: [train] precision = bf16 runs on a "
			      "GPU, and this run is on the cpu (device auto: "), "%s", err);
	free(out), free(err);
	/* the CPU asked for: nothing to explain */
	rc = jt_jianmo(dir, &out, &err, "--batch small.flow --device cpu --set train.precision=tf32");
	cr_expect_eq(rc, 2, "exit %d\n%s", rc, err);
	cr_expect(strstr(err, "jianmo: --set train.precision: [train] precision = tf32 runs on a "
			      "GPU, and this run is on the cpu (use auto or fp32)\n"), "%s", err);
	free(out), free(err);
	char path[4096]; /* input errors store nothing: not even a store */
	snprintf(path, sizeof path, "%s/.jianmo/jianmo.db", dir);
	cr_expect_neq(access(path, F_OK), 0, "%s exists", path);
}

Test(batch, auto_precision_runs_fp32_on_the_cpu)
{
	NEED_FMNIST();
	free(jt_write(dir, "small.flow", small_flow));
	cr_assert_eq(jt_jianmo(dir, NULL, NULL, "--batch small.flow --set train.epochs=1"), 0);
	sqlite3 *db = open_db();
	sqlite3_stmt *st;
	sqlite3_prepare_v2(db, "SELECT value FROM params WHERE run = 1 AND key = 'train.precision'",
			   -1, &st, NULL);
	cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
	cr_expect_str_eq((const char *)sqlite3_column_text(st, 0), "fp32");
	sqlite3_finalize(st);
	sqlite3_close(db);
}

/* So little address space that OpenBLAS's threads cannot map their GEMM
 * buffers (OpenBLAS would retry forever): a run says so and fails, and
 * no command hangs at exit. */
Test(batch, a_tiny_memory_cap_fails_instead_of_hanging, .timeout = 120)
{
	NEED_FMNIST();
#if defined(__SANITIZE_ADDRESS__)
	cr_skip_test("SKIPPED: ulimit -v cannot cap an AddressSanitizer build");
#endif
	free(jt_write(dir, "small.flow", small_flow));
	char *out, *err;
	int rc = jt_sh(dir, &out, &err, "ulimit -v 170000; timeout 60 '%s' --batch small.flow",
		       jt_bin());
	cr_expect_eq(rc, 1, "exit %d (124: it hung)\n%s", rc, err);
	cr_expect(strstr(err, "jianmo: no memory left for OpenBLAS's GEMM buffers"), "%s", err);
	free(out), free(err);
	rc = jt_sh(dir, &out, &err, "ulimit -v 170000; timeout 60 '%s' --help", jt_bin());
	cr_expect_eq(rc, 0, "exit %d (124: it hung)\n%s", rc, err);
	cr_expect(strstr(out, "Exit status:"), "%s", out);
	free(out), free(err);
}

/* Dynamic loss scaling (what fp16 trains with on a GPU), run on the CPU
 * through JIANMO_LOSS_SCALE: a power-of-two scale is undone exactly, so
 * the run is the unscaled one to the bit; a scale that overflows skips
 * the step and halves, and a stop and resume keep the scale's state. */
Test(batch, loss_scaling_is_exact_and_backs_off, .timeout = 300)
{
	NEED_FMNIST();
	free(jt_write(dir, "small.flow", small_flow));
	const char *flow = "--batch small.flow --set train.clip=1"; /* grad_norm logged too */
	char *out, *err;
	cr_assert_eq(jt_jianmo(dir, NULL, NULL, "%s", flow), 0);
	int rc = jt_sh(dir, &out, &err, "JIANMO_LOSS_SCALE=65536 '%s' %s", jt_bin(), flow);
	cr_assert_eq(rc, 0, "scaled run failed (%d): %s", rc, err);
	cr_expect(strstr(out, "loss scale 65536 at the end; 0 steps skipped"), "%s", out);
	free(out), free(err);
	sqlite3 *db = open_db();
	expect_same_final(db, 1, 2);
	sqlite3_close(db);

	/* 3e38 overflows the first gradients: that step is skipped, 1.5e38 is not */
	rc = jt_sh(dir, &out, &err, "JIANMO_LOSS_SCALE=3e38 '%s' %s", jt_bin(), flow);
	cr_assert_eq(rc, 0, "overflowing run failed (%d): %s", rc, err);
	cr_expect(strstr(out, "loss scale 1.5e+38 at the end; 1 step skipped"), "%s", out);
	free(out), free(err);
	rc = jt_sh(dir, &out, &err, "JIANMO_LOSS_SCALE=3e38 JIANMO_FAULT_SIGNAL=80:TERM '%s' %s; "
		   "echo \"exit=$?\"", jt_bin(), flow);
	cr_assert(strstr(out, "exit=143"), "%s\n%s", out, err);
	free(out), free(err);
	rc = jt_sh(dir, &out, &err, "JIANMO_LOSS_SCALE=3e38 '%s' --batch --resume 4", jt_bin());
	cr_assert_eq(rc, 0, "resume failed (%d): %s", rc, err);
	cr_expect(strstr(out, "loss scale 1.5e+38 at the end; 1 step skipped"), "%s", out);
	free(out), free(err);
	db = open_db();
	expect_same_final(db, 3, 4);
	char *a = series(db, 3, "loss_scale"), *b = series(db, 4, "loss_scale");
	cr_expect(strlen(a) > 0);
	cr_expect_str_eq(a, b);
	free(a), free(b);
	sqlite3_close(db);
}

/* The GPU's first-use step (one forward and backward of the largest batch
 * before the run starts, runner.c) leaves nothing behind: forced on the
 * CPU, a CNN with batch norm and dropout stores the same bits. */
Test(batch, first_use_step_leaves_the_run_unchanged, .timeout = 300)
{
	NEED_FMNIST();
	free(jt_write(dir, "cnn.flow", cnn_flow));
	cr_assert_eq(jt_jianmo(dir, NULL, NULL, "--batch cnn.flow --set train.epochs=1"), 0);
	char *out, *err;
	int rc = jt_sh(dir, &out, &err, "JIANMO_FIRST_USE=1 '%s' --batch cnn.flow --set "
		       "train.epochs=1", jt_bin());
	cr_assert_eq(rc, 0, "exit %d: %s", rc, err);
	free(out), free(err);
	sqlite3 *db = open_db();
	expect_same_final(db, 1, 2);
	sqlite3_close(db);
}

Test(batch, divergence_fails_the_run)
{
	NEED_FMNIST();
	free(jt_write(dir, "small.flow", small_flow));
	char *out, *err;
	int rc = jt_jianmo(dir, &out, &err,
			   "--batch small.flow --set train.optimizer=sgd --set train.lr=1e30 "
			   "--set train.momentum=0.9");
	cr_expect_eq(rc, 1, "exit %d\n%s\n%s", rc, out, err);
	cr_expect(strstr(err, "diverged: loss is"), "stderr: %s", err);
	sqlite3 *db = open_db();
	char *status = run_status(db, 1);
	cr_expect_str_eq(status, "failed");
	sqlite3_stmt *st;
	sqlite3_prepare_v2(db, "SELECT error FROM runs WHERE id = 1", -1, &st, NULL);
	cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
	cr_expect(strstr((const char *)sqlite3_column_text(st, 0), "diverged"));
	sqlite3_finalize(st);
	sqlite3_close(db);
	free(status), free(out), free(err);
}

/* A batch too large for the memory there is: the message names the batch
 * and what to change (address space capped with ulimit -v, so the
 * allocation fails rather than the machine). */
Test(batch, out_of_memory_names_the_batch)
{
	NEED_FMNIST();
#if defined(__SANITIZE_ADDRESS__)
	/* the sanitizer's shadow memory alone needs more address space */
	cr_skip_test("SKIPPED: ulimit -v cannot cap an AddressSanitizer build");
#endif
	free(jt_write(dir, "small.flow", small_flow));
	char *out, *err;
	/* activations for 3000 rows of 65536 hidden units: 2.2 GiB, in 1.5 GB */
	int rc = jt_sh(dir, &out, &err,
		       "ulimit -v 1500000; '%s' --batch small.flow --set train.batch=3000 "
		       "--set model.hidden=65536",
		       jt_bin());
	cr_expect_eq(rc, 1, "exit %d\n%s\n%s", rc, out, err);
	cr_expect(strstr(err, "[model] needs ") &&
		  strstr(err, " MiB for batches of 3000 on cpu (") &&
		  strstr(err, " MiB of memory left): lower [train] batch"), "stderr: %s", err);
	free(out), free(err);
	/* weights too large: the batch is not the cause */
	rc = jt_sh(dir, &out, &err,
		   "ulimit -v 1000000; '%s' --batch small.flow --set model.hidden=65536,65536",
		   jt_bin());
	cr_expect_eq(rc, 1, "exit %d\n%s\n%s", rc, out, err);
	cr_expect(strstr(err, "MiB for its parameters, gradients and buffers on cpu (") &&
		  strstr(err, "MiB of memory left): the model is too large for it"), "stderr: %s", err);
	free(out), free(err);
}

/* Memory the machine does not have is refused before any of it is taken
 * (the CPU zeroes each block as it takes it, so the kernel's overcommit
 * would otherwise let the model fill the machine and the OOM killer end
 * the run with no word); JIANMO_MEMORY_AVAILABLE stands in for the
 * machine, so this runs under AddressSanitizer too. */
Test(batch, memory_the_machine_lacks_is_refused_up_front)
{
	NEED_FMNIST();
	free(jt_write(dir, "small.flow", small_flow));
	char *out, *err;
	/* 65536 x 65536 weights: 16 GiB, and as much of gradients */
	int rc = jt_sh(dir, &out, &err, "JIANMO_MEMORY_AVAILABLE=400000000 '%s' --batch small.flow "
				    "--set model.hidden=65536,65536", jt_bin());
	cr_expect_eq(rc, 1, "exit %d\n%s\n%s", rc, out, err);
	cr_expect(strstr(err, "MiB for its parameters, gradients and buffers on cpu (") && strstr(err, " MiB of memory left): the model is too large "
							 "for it"), "%s", err);
	free(out), free(err);
	/* batch = auto takes the largest batch the memory holds */
	free(jt_write(dir, "wide.flow",
		      "[data]\nlimit = 600\ntest_limit = 200\n"
		      "[model]\ntype = cnn\nlayers = c64 c64 gap fc10\n"
		      "[train]\nepochs = 1\nbatch = auto\n"));
	rc = jt_sh(dir, &out, &err, "JIANMO_MEMORY_AVAILABLE=400000000 '%s' --batch wide.flow",
		   jt_bin());
	cr_expect_eq(rc, 0, "exit %d\n%s\n%s", rc, out, err);
	cr_expect(strstr(out, "batch auto: 128; too large: 512 ([model] needs ") &&
		  strstr(out, "for batches of 256 on cpu ("), "%s", out);
	free(out), free(err);
}

/* The data of a safetensors file, after its header (the metadata, which
 * differs between files holding the same tensors). */
static char *tensor_bytes(const char *path, size_t *n)
{
	size_t len = 0;
	char *b = jt_read(path, &len);
	cr_assert(b && len >= 8, "cannot read %s", path);
	uint64_t h = 0;
	for (int i = 7; i >= 0; i--)
		h = h << 8 | (unsigned char)b[i];
	cr_assert(h <= len - 8, "%s: header %llu", path, (unsigned long long)h);
	*n = len - 8 - (size_t)h;
	char *d = malloc(*n ? *n : 1);
	memcpy(d, b + 8 + h, *n);
	free(b);
	return d;
}

/* Early stopping ends with the best epoch's weights: they are tested and
 * saved as model.safetensors; every run with a validation set keeps them
 * in best.safetensors. */
Test(batch, early_stopping_keeps_the_best_epoch)
{
	NEED_FMNIST();
	free(jt_write(dir, "es.flow",
		      "[data]\nlimit = 3000\ntest_limit = 300\n[model]\nhidden = 16\n"
		      "[train]\nepochs = 8\nbatch = 32\nlr = 0.05\npatience = 1\n"));
	char *out, *err;
	int rc = jt_sh(dir, &out, &err, "'%s' --batch es.flow", jt_bin());
	cr_assert_eq(rc, 0, "exit %d\n%s\n%s", rc, out, err);
	long long best = 0, stopped = 0;
	const char *e = strstr(out, "has not improved for 1 epochs (best ");
	const char *k = strstr(out, "keeping epoch ");
	/* lr 0.05 makes a worse epoch early; if this machine's arithmetic
	 * never did, the run ends on its best epoch and keeps it as is */
	if (e) {
		cr_assert(sscanf(strstr(e, " at epoch ") + 10, "%lld", &best) == 1, "%s", out);
		for (const char *p = out; (p = strstr(p, "\nepoch ")); p++)
			sscanf(p + 7, "%lld", &stopped);
		cr_expect(best < stopped, "%s", out);
		cr_expect(k, "%s", out);
		char want[64];
		snprintf(want, sizeof want, "keeping epoch %lld's weights, the best by val_acc", best);
		cr_expect(strstr(out, want), "%s", out);
	} else {
		cr_expect(!k, "%s", out);
	}
	char path[4096], path2[4096];
	snprintf(path, sizeof path, "%s/.jianmo/runs/1/model.safetensors", dir);
	snprintf(path2, sizeof path2, "%s/.jianmo/runs/1/best.safetensors", dir);
	size_t n1, n2;
	char *m = tensor_bytes(path, &n1), *b = tensor_bytes(path2, &n2);
	cr_expect(n1 == n2 && !memcmp(m, b, n1), "model.safetensors is not the best epoch's");
	free(m), free(b);
	free(out), free(err);
	/* listed with the run's artifacts */
	rc = jt_sh(dir, &out, &err, "'%s' show 1", jt_bin());
	cr_expect(rc == 0 && strstr(out, "best.safetensors"), "%s", out);
	free(out), free(err);
}

/* --batch - reads the flow on standard input; it is called stdin, in its
 * messages and as the run's name. */
Test(batch, a_flow_on_standard_input)
{
	NEED_FMNIST();
	char *out, *err;
	int rc = jt_sh(dir, &out, &err, "printf '[data]\\nlimit = 300\\ntest_limit = 100\\n"
				    "[train]\\nepochs = 1\\n' | '%s' --batch - && '%s' runs --csv",
		       jt_bin(), jt_bin());
	cr_expect_eq(rc, 0, "exit %d\n%s\n%s", rc, out, err);
	cr_expect(strstr(out, "test loss ") && strstr(out, ",done,stdin,"), "%s", out);
	free(out), free(err);
	rc = jt_sh(dir, &out, &err, "'%s' --batch - </dev/null", jt_bin());
	cr_expect_eq(rc, 2, "exit %d\n%s\n%s", rc, out, err);
	cr_expect(strstr(err, "stdin: no flow on standard input"), "%s", err);
	free(out), free(err);
	rc = jt_sh(dir, &out, &err, "printf '[train]\\nepochz = 1\\n' | '%s' --batch -", jt_bin());
	cr_expect_eq(rc, 2, "exit %d\n%s\n%s", rc, out, err);
	cr_expect(strstr(err, "stdin:2: [train] unknown key \"epochz\" (did you mean \"epochs\"?)"),
		  "%s", err);
	free(out), free(err);
}

/* A run stopped by a jianmo that kept no best.safetensors, resumed by
 * this one: it ends done with the weights it has (it failed at the end,
 * after all its training, on the missing file). */
Test(batch, a_resumed_run_without_best_weights_ends_done)
{
	NEED_FMNIST();
	free(jt_write(dir, "small.flow", small_flow));
	char *out, *err;
	int rc = jt_sh(dir, &out, &err,
		       "JIANMO_FAULT_SIGNAL=80:TERM '%s' --batch small.flow --set train.patience=1 "
		       "--set train.lr=1e-12; rm .jianmo/runs/1/best.safetensors && "
		       "'%s' --batch --resume 1 && '%s' runs --csv && ls .jianmo/runs/1",
		       jt_bin(), jt_bin(), jt_bin());
	cr_expect_eq(rc, 0, "exit %d\n%s\n%s", rc, out, err);
	/* lr 1e-12: epoch 2 cannot beat epoch 1, whose weights are gone */
	cr_expect(strstr(out, "keeping the last epoch's weights: epoch 1 was the best, but its "
			      "weights were not kept"),
		  "%s\n%s", out, err);
	cr_expect(strstr(out, ",done,small.flow,") && strstr(out, "model.safetensors") &&
			  !strstr(out, "best.safetensors"),
		  "%s\n%s", out, err);
	free(out), free(err);
}

/* A run records as params only the keys that can change it: none of
 * the image keys for a CSV, sgd's momentum under adamw, the step
 * schedule's keys under cosine, CutMix's with CutMix off. */
Test(batch, params_are_the_keys_that_matter)
{
	char csv[2048] = "a,b,y\n";
	for (int i = 0; i < 60; i++)
		snprintf(csv + strlen(csv), sizeof csv - strlen(csv), "%d,%d,%s\n", i % 7, i % 5,
			 i % 2 ? "x" : "z");
	free(jt_write(dir, "t.csv", csv));
	free(jt_write(dir, "a.flow",
		      "[data]\nsource = t.csv\ntarget = y\n[train]\nepochs = 1\nbatch = 8\n"));
	free(jt_write(dir, "s.flow",
		      "[data]\nsource = t.csv\ntarget = y\n[train]\nepochs = 1\nbatch = 8\n"
		      "optimizer = sgd\nschedule = step\nclip = 1\n[augment]\nmixup = 0.2\n"));
	char *out, *err;
	int rc = jt_sh(dir, &out, &err, "'%s' --batch a.flow >/dev/null && '%s' --batch s.flow "
				    ">/dev/null && '%s' show 1 && echo ==== && '%s' show 2",
		       jt_bin(), jt_bin(), jt_bin(), jt_bin());
	cr_assert_eq(rc, 0, "exit %d\n%s\n%s", rc, out, err);
	char *two = strstr(out, "====");
	cr_assert(two, "%s", out);
	*two = '\0';
	char *one = strstr(out, "\nparams\n");
	two = strstr(two + 4, "\nparams\n");
	cr_assert(one && two, "%s", out);
	/* the params block alone (show then prints metrics and the flow) */
	*strstr(one, "\nmetrics") = '\0';
	*strstr(two, "\nmetrics") = '\0';
	/* adamw, constant, no clipping, no mixing */
	cr_expect(strstr(one, "train.beta1") && strstr(one, "train.clip ") &&
			  strstr(one, "augment.mixup") && strstr(one, "model.hidden"),
		  "%s", one);
	const char *never[] = {"augment.cutmix", "augment.hflip", "augment.prob", "data.normalize",
			       "model.layers", "model.batchnorm", "train.momentum", "train.gamma",
			       "train.min_lr", "train.clip_mode", "notify.timeout"};
	for (size_t i = 0; i < sizeof never / sizeof *never; i++)
		cr_expect(!strstr(one, never[i]), "%s in\n%s", never[i], one);
	/* sgd, step, clipping, MixUp */
	const char *now[] = {"train.momentum", "train.nesterov", "train.gamma", "train.step_epochs",
			     "train.clip_mode", "augment.prob", "augment.mode"};
	for (size_t i = 0; i < sizeof now / sizeof *now; i++)
		cr_expect(strstr(two, now[i]), "%s not in\n%s", now[i], two);
	cr_expect(!strstr(two, "train.beta1") && !strstr(two, "train.clip_window") &&
			  !strstr(two, "augment.switch") && !strstr(two, "augment.cutmix"),
		  "%s", two);
	free(out), free(err);
}

/* A batch larger than the training set: the default (never chosen)
 * shrinks to the data with a note; one the user gave is refused where it
 * was given, the file's line or --set. */
Test(batch, a_batch_larger_than_the_data)
{
	NEED_FMNIST();
	free(jt_write(dir, "e.flow", "[train]\nepochs = 1\n"));
	free(jt_write(dir, "b.flow", "[train]\nepochs = 1\nbatch = 200\n"));
	const char *lim = "--set data.limit=100 --set data.test_limit=50";
	char *out, *err;
	int rc = jt_sh(dir, &out, &err, "'%s' --batch e.flow %s", jt_bin(), lim);
	cr_expect_eq(rc, 0, "exit %d\n%s\n%s", rc, out, err);
	cr_expect(strstr(out, "batch 90: the default 128 is more than the 90 training samples") &&
			  strstr(out, "1 steps of 90"),
		  "%s", out);
	free(out), free(err);
	rc = jt_sh(dir, &out, &err, "'%s' --batch b.flow %s", jt_bin(), lim);
	cr_expect_eq(rc, 2, "exit %d\n%s\n%s", rc, out, err);
	cr_expect(strstr(err, "b.flow:3: [train] batch: 200 is more than the 90 training samples"),
		  "%s", err);
	free(out), free(err);
	rc = jt_sh(dir, &out, &err, "'%s' --batch e.flow %s --set train.batch=300", jt_bin(), lim);
	cr_expect_eq(rc, 2, "exit %d\n%s\n%s", rc, out, err);
	cr_expect(strstr(err, "--set train.batch: [train] batch: 300 is more than the 90"), "%s",
		  err);
	free(out), free(err);
}

/* The optimizer's state does not grow with the batch: when it is what
 * does not fit, and giving back the batch's memory would not make room,
 * the advice is the model or the optimizer, not "lower [train] batch",
 * and batch = auto does not halve its way down to 1 first. */
Test(batch, optimizer_state_that_cannot_fit_is_not_blamed_on_the_batch)
{
	NEED_FMNIST();
	/* 73.6M parameters: 562 MiB of weights and gradients, as much of
	 * Adam's state; 900 MB holds the first, not both */
	free(jt_write(dir, "o.flow",
		      "[data]\nlimit = 600\ntest_limit = 200\n[model]\nhidden = 8192,8192\n"
		      "[train]\nepochs = 1\nbatch = 64\n"));
	const char *sets[] = {"", "--set train.batch=auto"};
	for (int i = 0; i < 2; i++) {
		char *out, *err;
		int rc = jt_sh(dir, &out, &err, "JIANMO_MEMORY_AVAILABLE=900000000 '%s' --batch o.flow %s",
			       jt_bin(), sets[i]);
		cr_expect_eq(rc, 1, "exit %d\n%s\n%s", rc, out, err);
		cr_expect(strstr(err, "cannot allocate 561.8 MiB of optimizer state on cpu (") &&
				  strstr(err, "a smaller batch would not make room; the model "
					      "(73629706 parameters) is too large for it with adamw"),
			  "%s", err);
		cr_expect(!strstr(err, "lower [train] batch") && !strstr(err, "not even a batch"),
			  "%s", err);
		free(out), free(err);
	}
}

/* batch = auto: 512 (the largest power of two in the 538 training images)
 * cannot fit in the capped address space; the run halves it until the
 * model's buffers fit, says what it tried, records the batch it chose
 * (flow and params), and a resume without the cap keeps that batch. */
/* A batch given under 256 is evaluated in batches of 256; where those do
 * not fit and the batch does, the run evaluates in batches of the batch
 * and says so (it failed, asking to lower a batch that was not the
 * problem). */
Test(batch, evaluation_batches_fall_back_to_the_batch)
{
	NEED_FMNIST();
#if defined(__SANITIZE_ADDRESS__)
	cr_skip_test("SKIPPED: ulimit -v cannot cap an AddressSanitizer build");
#endif
	free(jt_write(dir, "wide.flow",
		      "[data]\nlimit = 600\ntest_limit = 300\n"
		      "[model]\ntype = cnn\nlayers = c128 c128 gap fc10\n"
		      "[train]\nepochs = 1\nbatch = 64\n"));
	char *out, *err;
	/* 256 needs 392 MiB of activations and as much of gradients, 64 a
	 * quarter of that: here the window was 650,000 to 1,050,000 KiB */
	int rc = jt_sh(dir, &out, &err, "ulimit -v 850000; timeout 120 '%s' --batch wide.flow",
		       jt_bin());
	cr_expect_eq(rc, 0, "exit %d\n%s\n%s", rc, out, err);
	cr_expect(strstr(out, "evaluating in batches of 64: 256 did not fit ([model] needs "),
		  "%s", out);
	cr_expect_null(strstr(out, "lower [train] batch"), "%s", out);
	cr_expect(strstr(out, "steps of 64\n") && strstr(out, "test loss "), "%s", out);
	free(out), free(err);
}

Test(batch, auto_batch_halves_until_it_fits)
{
	NEED_FMNIST();
#if defined(__SANITIZE_ADDRESS__)
	cr_skip_test("SKIPPED: ulimit -v cannot cap an AddressSanitizer build");
#endif
	free(jt_write(dir, "wide.flow",
		      "[data]\nlimit = 600\ntest_limit = 200\n"
		      "[model]\ntype = cnn\nlayers = c64 c64 gap fc10\n"
		      "[train]\nepochs = 2\nbatch = auto\nlog_every = 1\n"));
	char *out, *err;
	/* 512 needs 588 MiB of activations and as much again of gradients */
	int rc = jt_sh(dir, &out, &err,
		       "ulimit -v 1000000; JIANMO_FAULT_SIGNAL=1:TERM '%s' --batch wide.flow; "
		       "echo \"exit=$?\"", jt_bin());
	cr_assert_eq(rc, 0, "shell failed: %s", err);
	cr_assert(strstr(out, "exit=143"), "not stopped by the fault:\n%s\n%s", out, err);
	const char *note = strstr(out, "batch auto: ");
	cr_assert(note, "no batch note:\n%s\n%s", out, err);
	int B = atoi(note + 12);
	cr_expect(B >= 2 && B <= 256 && (B & (B - 1)) == 0, "batch %d\n%s", B, out);
	cr_expect(strstr(note, "; too large: 512 ([model] needs "), "%s", out);
	char want[64];
	snprintf(want, sizeof want, "steps of %d\n", B);
	cr_expect(strstr(out, want), "no \"%s\" in:\n%s", want, out);
	free(out), free(err);

	sqlite3 *db = open_db();
	sqlite3_stmt *st;
	sqlite3_prepare_v2(db, "SELECT value FROM params WHERE run = 1 AND key = 'train.batch'",
			   -1, &st, NULL);
	cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
	cr_expect_eq(atoi((const char *)sqlite3_column_text(st, 0)), B);
	sqlite3_finalize(st);
	sqlite3_prepare_v2(db, "SELECT text FROM flows JOIN runs ON runs.flow_id = flows.id "
			   "WHERE runs.id = 1", -1, &st, NULL);
	cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
	snprintf(want, sizeof want, "\nbatch = %d\n", B);
	cr_expect(strstr((const char *)sqlite3_column_text(st, 0), want), "%s",
		  (const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	sqlite3_close(db);

	/* the resume has room for 512 and still trains in batches of B */
	rc = jt_jianmo(dir, &out, &err, "--batch --resume 1");
	cr_assert_eq(rc, 0, "resume failed (%d): %s\n%s", rc, err, out);
	snprintf(want, sizeof want, "steps of %d\n", B);
	cr_expect(strstr(out, want) && !strstr(out, "batch auto"), "%s", out);
	free(out), free(err);
}

/* PyTorch loads model.safetensors into the twin network and gets the
 * same test accuracy (needs Debian's python3-torch; skipped without). */
static void expect_torch_twin(const char *arch)
{
	char *out, *err;
	if (jt_sh(NULL, &out, &err, "/usr/bin/python3 -c 'import torch'") != 0) {
		free(out), free(err);
		cr_skip_test("SKIPPED: /usr/bin/python3 has no torch (apt-get install python3-torch)");
	}
	free(out), free(err);
	int rc = jt_sh(dir, &out, &err, "/usr/bin/python3 '%s/tests/torch_twin.py' "
			 ".jianmo/runs/1/model.safetensors %s '%s' 1000",
		       jt_srcdir(), arch, jt_fmnist_dir());
	cr_assert_eq(rc, 0, "torch_twin.py failed: %s\n%s", err, out);
	double theirs = -1, ours = -1;
	char *a = strstr(out, "\"test_acc\": "), *b = strstr(out, "\"jianmo_test_acc\": ");
	cr_assert(a && b, "%s", out);
	theirs = strtod(a + 12, NULL);
	ours = strtod(b + 19, NULL);
	cr_expect(fabs(theirs - ours) <= 0.002, "pytorch %g, jianmo %g", theirs, ours);
	cr_expect(strstr(out, "T-shirt/top"), "class names missing: %s", out);
	free(out), free(err);
}

Test(batch, pytorch_loads_the_mlp)
{
	NEED_FMNIST();
	free(jt_write(dir, "small.flow", small_flow));
	cr_assert_eq(jt_jianmo(dir, NULL, NULL, "--batch small.flow --set train.epochs=1"), 0);
	expect_torch_twin("mlp64");
}

Test(batch, pytorch_loads_the_cnn)
{
	NEED_FMNIST();
	free(jt_write(dir, "cnn.flow", cnn_flow));
	cr_assert_eq(jt_jianmo(dir, NULL, NULL, "--batch cnn.flow --set train.epochs=1"), 0);
	expect_torch_twin("cnn-small");
}

/* Two accumulated batches of 32 make the same optimizer steps as one batch
 * of 64 (an MLP without dropout or batch norm: the gradient of the mean
 * is the mean of the halves' gradients), up to float rounding. */
Test(batch, accumulation_matches_a_larger_batch)
{
	NEED_FMNIST();
	free(jt_write(dir, "small.flow", small_flow));
	/* no validation part: all 4096 images train, 64 x 64 = 128 x 32 */
	const char *common = "--set model.dropout=0 --set train.epochs=2 "
			     "--set train.schedule=constant --set split.val=0";
	cr_assert_eq(jt_jianmo(dir, NULL, NULL, "--batch small.flow %s --set train.batch=64", common), 0);
	char *out, *err;
	int rc = jt_jianmo(dir, &out, &err,
			   "--batch small.flow %s --set train.batch=32 --set train.accumulate=2", common);
	cr_assert_eq(rc, 0, "%s", err);
	sqlite3 *db = open_db();
	/* the same number of optimizer steps ... */
	cr_expect_eq(summary(db, 1, "epoch", "last_step"), summary(db, 2, "epoch", "last_step"));
	/* ... and nearly the same model */
	double a = summary(db, 1, "test_loss", "last"), b = summary(db, 2, "test_loss", "last");
	cr_expect(fabs(a - b) <= 1e-3 * fabs(a), "test_loss %.9g vs %.9g", a, b);
	double ta = summary(db, 1, "train_loss", "last"), tb = summary(db, 2, "train_loss", "last");
	cr_expect(fabs(ta - tb) <= 1e-3 * fabs(ta), "train_loss %.9g vs %.9g", ta, tb);
	sqlite3_close(db);
	free(out), free(err);
}

/* Early stopping: with a learning rate too small to change anything,
 * val_acc cannot improve after epoch 1, so patience 1 stops at epoch 2. */
Test(batch, early_stopping_on_patience)
{
	NEED_FMNIST();
	free(jt_write(dir, "small.flow", small_flow));
	char *out, *err;
	int rc = jt_jianmo(dir, &out, &err,
			   "--batch small.flow --set train.epochs=5 --set train.lr=1e-12 "
			   "--set train.patience=1 --set train.schedule=constant");
	cr_assert_eq(rc, 0, "%s", err);
	cr_expect(strstr(out, "early stop: val_acc has not improved for 1 epochs"), "%s", out);
	sqlite3 *db = open_db();
	cr_expect_eq(summary(db, 1, "epoch", "last"), 2.0);
	cr_expect_eq(summary(db, 1, "epoch", "count"), 2.0);
	char *status = run_status(db, 1);
	cr_expect_str_eq(status, "done");
	cr_expect(summary(db, 1, "test_acc", "count") == 1, "an early-stopped run is still tested");
	free(status);
	sqlite3_close(db);
	free(out), free(err);
}

/* ---- bad input: message and exit status 2, nothing stored ------------ */

struct bad_case {
	const char *flow;  /* written to bad.flow (NULL: small_flow) */
	const char *args;  /* after --batch */
	const char *msg;   /* expected on stderr */
};

static void expect_refused(const struct bad_case *c)
{
	free(jt_write(dir, "bad.flow", c->flow ? c->flow : small_flow));
	char *out, *err;
	int rc = jt_jianmo(dir, &out, &err, "--batch %s", c->args);
	cr_expect_eq(rc, 2, "%s: exit %d, stderr: %s", c->args, rc, err);
	cr_expect(strstr(err, c->msg), "%s: expected \"%s\" in stderr:\n%s", c->args, c->msg, err);
	cr_expect(!strncmp(err, "jianmo: ", 8), "message not prefixed: %s", err);
	free(out), free(err);
}

Test(batch, bad_input_is_refused)
{
	const struct bad_case cases[] = {
		{"[train]\nepoch = 3\n", "bad.flow", "bad.flow:2: [train] unknown key \"epoch\" (did you mean \"epochs\"?)"},
		{"[train]\nlr = fast\n", "bad.flow", "bad.flow:2: [train] lr: expected a number > 0, got \"fast\""},
		{"[trian]\n", "bad.flow", "bad.flow:1:"},
		{NULL, "missing.flow", "missing.flow"},
		{NULL, "bad.flow --set train.lr=-1", "--set train.lr=-1"},
		{NULL, "bad.flow --set trainlr", "--set needs SECTION.KEY=VALUE"},
		{NULL, "bad.flow --seed x", "--seed"},
		{NULL, "bad.flow --bogus", "unknown option"},
		{NULL, "", "no flow file given"},
		/* no machine here has a 64th GPU: refused with or without the module */
		{NULL, "bad.flow --device cuda:63", "device \"cuda:63\": "},
		{NULL, "bad.flow --set data.dir=/nonexistent-jianmo", "/nonexistent-jianmo"},
		{NULL, "bad.flow --set model.type=cnn --set model.layers=c8x", "c8x"},
		{NULL, "bad.flow --set train.batch=100000", "[train] batch"},
		{NULL, "--rerun 1", "no store"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		if (!jt_fmnist_dir() && (strstr(cases[i].args, "batch=") || strstr(cases[i].args, "layers=")))
			continue; /* these need the data to get that far */
		expect_refused(&cases[i]);
	}
	/* nothing was stored for any of them */
	char path[4096];
	snprintf(path, sizeof path, "%s/.jianmo/jianmo.db", dir);
	cr_expect(access(path, F_OK) != 0, "a store was created by refused input");
}

/* Every column of a run's row, as text, and how many metric points it
 * has: what a refused resume must leave as it was. */
static char *run_record(long long run)
{
	sqlite3 *db = open_db();
	sqlite3_stmt *st;
	cr_assert_eq(sqlite3_prepare_v2(db, "SELECT *, (SELECT count(*) FROM metrics WHERE run = "
					    "?1) FROM runs WHERE id = ?1", -1, &st, NULL), SQLITE_OK,
		     "%s", sqlite3_errmsg(db));
	sqlite3_bind_int64(st, 1, run);
	cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
	char *rec = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&rec, &n);
	for (int i = 0; i < sqlite3_column_count(st); i++)
		fprintf(f, "%s=%s|", sqlite3_column_name(st, i),
			sqlite3_column_text(st, i) ? (const char *)sqlite3_column_text(st, i) : "NULL");
	fclose(f);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return rec;
}

/* A resume whose checkpoint is missing or damaged is refused (exit 2)
 * before it takes the run over: the run stays stopped, with its times,
 * error and metrics, and resumes once the checkpoint is back. */
Test(batch, a_resume_that_cannot_read_its_checkpoint_changes_nothing, .timeout = 120)
{
	NEED_FMNIST();
	free(jt_write(dir, "small.flow", small_flow));
	int st = run_and_signal("small.flow", 70, "TERM"); /* in epoch 2, after a checkpoint */
	cr_assert_eq(st, 143, "a stopped run exits 143, got %d", st);
	char *before = run_record(1);
	cr_assert(strstr(before, "status=stopped|"), "%s", before);
	char *out, *err;
	cr_assert_eq(jt_sh(dir, NULL, NULL, "cp .jianmo/runs/1/checkpoint.safetensors good && "
					    "truncate -s 1000 .jianmo/runs/1/checkpoint.safetensors"), 0);
	int rc = jt_jianmo(dir, &out, &err, "--batch --resume 1");
	cr_expect_eq(rc, 2, "exit %d\n%s", rc, err);
	cr_expect(strstr(err, "run 1 cannot be resumed: .jianmo/runs/1/checkpoint.safetensors: "),
		  "%s", err);
	free(out), free(err);
	char *after = run_record(1);
	cr_expect_str_eq(after, before, "a damaged checkpoint changed the run");
	free(after);

	cr_assert_eq(jt_sh(dir, NULL, NULL, "rm .jianmo/runs/1/checkpoint.safetensors"), 0);
	rc = jt_jianmo(dir, &out, &err, "--batch --resume 1");
	cr_expect_eq(rc, 2, "exit %d\n%s", rc, err);
	cr_expect(strstr(err, "run 1 has no checkpoint to resume from"), "%s", err);
	free(out), free(err);
	after = run_record(1);
	cr_expect_str_eq(after, before, "a missing checkpoint changed the run");
	free(after);

	cr_assert_eq(jt_sh(dir, NULL, NULL, "mv good .jianmo/runs/1/checkpoint.safetensors"), 0);
	rc = jt_jianmo(dir, &out, &err, "--batch --resume 1");
	cr_expect_eq(rc, 0, "exit %d\n%s", rc, err);
	free(out), free(err);
	sqlite3 *db = open_db();
	char *status = run_status(db, 1);
	cr_expect_str_eq(status, "done");
	free(status);
	sqlite3_close(db);
	free(before);
}

/* A dropped SSH connection (SIGHUP) stops a run in order, as SIGTERM
 * does, unless it was started under nohup; a reader that goes away
 * (`| head`) costs the output, not the run. */
Test(batch, hangup_and_a_closed_pipe_keep_the_run, .timeout = 180)
{
	NEED_FMNIST();
	free(jt_write(dir, "small.flow", small_flow));
	int st = run_and_signal("small.flow", 70, "HUP");
	cr_expect_eq(st, 128 + SIGHUP, "a hung-up run exits 129, got %d", st);
	sqlite3 *db = open_db();
	char *status = run_status(db, 1);
	cr_expect_str_eq(status, "stopped");
	free(status);
	sqlite3_close(db);
	char *out, *err;
	int rc = jt_jianmo(dir, &out, &err, "--batch --resume 1");
	cr_expect_eq(rc, 0, "exit %d\n%s", rc, err);
	free(out), free(err);

	/* nohup: the hang-up is ignored and the run trains to its end */
	rc = jt_sh(dir, &out, &err, "JIANMO_FAULT_SIGNAL=70:HUP nohup '%s' --batch small.flow "
				    "> nohup.out 2>&1; echo \"exit=$?\"", jt_bin());
	cr_expect(strstr(out, "exit=0"), "%s\n%s", out, err);
	free(out), free(err);

	/* `| head -n 1`: jianmo's own status is 0 and the run is done */
	rc = jt_sh(dir, &out, &err, "{ '%s' --batch small.flow; echo \"exit=$?\" >&2; } | "
				    "head -n 1", jt_bin());
	cr_expect(strstr(err, "exit=0"), "%s\n%s", out, err);
	free(out), free(err);
	db = open_db();
	for (int run = 1; run <= 3; run++) {
		status = run_status(db, run);
		cr_expect_str_eq(status, "done", "run %d", run);
		free(status);
	}
	sqlite3_close(db);
}

Test(batch, resume_of_unknown_run)
{
	NEED_FMNIST();
	free(jt_write(dir, "small.flow", small_flow));
	cr_assert_eq(jt_jianmo(dir, NULL, NULL, "--batch small.flow --set train.epochs=1"), 0);
	char *out, *err;
	int rc = jt_jianmo(dir, &out, &err, "--batch --resume 42");
	cr_expect_eq(rc, 2);
	cr_expect(strstr(err, "42"), "%s", err);
	free(out), free(err);
}

/* ---- [notify] -------------------------------------------------------- */

struct server {
	int fd, port;
	char body[8192];
};

static void *serve_one(void *arg)
{
	struct server *s = arg;
	int c = accept(s->fd, NULL, NULL);
	if (c < 0)
		return NULL;
	char buf[16384];
	size_t len = 0;
	ssize_t n;
	/* read headers, then Content-Length bytes of body */
	while ((n = read(c, buf + len, sizeof buf - 1 - len)) > 0) {
		len += (size_t)n;
		buf[len] = '\0';
		char *hdr_end = strstr(buf, "\r\n\r\n");
		char *cl = strcasestr(buf, "Content-Length:");
		if (hdr_end && cl && len >= (size_t)(hdr_end + 4 - buf) + (size_t)atoi(cl + 15))
			break;
	}
	char *hdr_end = strstr(buf, "\r\n\r\n");
	if (hdr_end)
		snprintf(s->body, sizeof s->body, "%s", hdr_end + 4);
	const char *ok = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";
	if (write(c, ok, strlen(ok)) < 0)
		perror("write");
	close(c);
	return NULL;
}

Test(batch, notify_posts_a_summary)
{
	NEED_FMNIST();
	struct server s = {0};
	s.fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	cr_assert_eq(bind(s.fd, (struct sockaddr *)&a, sizeof a), 0);
	socklen_t al = sizeof a;
	getsockname(s.fd, (struct sockaddr *)&a, &al);
	s.port = ntohs(a.sin_port);
	cr_assert_eq(listen(s.fd, 1), 0);
	pthread_t th;
	pthread_create(&th, NULL, serve_one, &s);

	free(jt_write(dir, "small.flow", small_flow));
	char *out, *err;
	int rc = jt_jianmo(dir, &out, &err,
			   "--batch small.flow --set train.epochs=1 --set notify.url=http://127.0.0.1:%d/hook",
			   s.port);
	cr_assert_eq(rc, 0, "exit %d: %s", rc, err);
	pthread_join(th, NULL);
	close(s.fd);
	cr_expect(strstr(s.body, "\"run\":1"), "body: %s", s.body);
	cr_expect(strstr(s.body, "\"status\":\"done\""), "body: %s", s.body);
	cr_expect(strstr(s.body, "\"test_acc\":0."), "body: %s", s.body);
	free(out), free(err);
}

Test(batch, failed_notify_never_fails_the_run, .timeout = 60)
{
	NEED_FMNIST();
	/* a port nobody listens on: bind one, close it, use it */
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	bind(fd, (struct sockaddr *)&a, sizeof a);
	socklen_t al = sizeof a;
	getsockname(fd, (struct sockaddr *)&a, &al);
	close(fd);
	free(jt_write(dir, "small.flow", small_flow));
	char *out, *err;
	int rc = jt_jianmo(dir, &out, &err,
			   "--batch small.flow --set train.epochs=1 --set notify.url=http://127.0.0.1:%d/ "
			   "--set notify.timeout=2",
			   ntohs(a.sin_port));
	cr_expect_eq(rc, 0, "a failed notification failed the run: %d %s", rc, err);
	cr_expect(strstr(out, "notify: POST to"), "no warning in:\n%s", out);
	free(out), free(err);
}

/* ---- [augment] in training ---- */

/* flow followed by an [augment] section; malloc'd. */
static char *with_augment(const char *flow, const char *keys)
{
	size_t n = strlen(flow) + strlen(keys) + 16;
	char *s = malloc(n);
	snprintf(s, n, "%s[augment]\n%s", flow, keys);
	return s;
}

/* The line of `key` in text (1-based). */
static int line_of(const char *text, const char *key)
{
	const char *at = strstr(text, key);
	cr_assert(at, "no %s", key);
	int line = 1;
	for (const char *p = text; p < at; p++)
		line += *p == '\n';
	return line;
}

/* An [augment] section that neither mixes nor touches an image leaves
 * training exactly as it was, to the bit. */
Test(batch, augmentation_off_trains_exactly_as_before)
{
	NEED_FMNIST();
	free(jt_write(dir, "plain.flow", small_flow));
	char *aug = with_augment(small_flow, "mode = elem\nprob = 0.5\nlabel_smoothing = 0.2\n"
					     "correct_lam = false\nerasing_mode = pixel\n");
	free(jt_write(dir, "aug.flow", aug));
	free(aug);
	cr_assert_eq(jt_jianmo(dir, NULL, NULL, "--batch plain.flow --set train.epochs=1"), 0);
	cr_assert_eq(jt_jianmo(dir, NULL, NULL, "--batch aug.flow --set train.epochs=1"), 0);
	sqlite3 *db = open_db();
	const char *keys[] = {"loss", "train_loss", "train_acc", "val_loss", "test_loss", "test_acc"};
	for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
		char *a = series(db, 1, keys[i]), *b = series(db, 2, keys[i]);
		cr_expect(strlen(a) > 0, "no %s points", keys[i]);
		cr_expect_str_eq(a, b, "%s changed by an [augment] that does nothing", keys[i]);
		free(a), free(b);
	}
	sqlite3_close(db);
}

/* The recipe (CutMix 0.6 / MixUp 0.4) with crops, flips and erasing on
 * the small CNN: a run stopped mid-epoch and resumed ends bit for bit
 * where an uninterrupted one does, and the augmentation really changed
 * training. */
Test(batch, augmented_run_resumes_bit_for_bit, .timeout = 300)
{
	NEED_FMNIST();
	char *aug = with_augment(cnn_flow, "cutmix = 1.0\nmixup = 1.0\nswitch = 0.6\nhflip = 0.5\n"
					   "crop_padding = 2\nerasing = 0.25\nerasing_mode = pixel\n");
	free(jt_write(dir, "aug.flow", aug));
	free(aug);
	char *out, *err;
	int rc = jt_jianmo(dir, &out, &err, "--batch aug.flow");
	cr_assert_eq(rc, 0, "uninterrupted run failed (%d): %s", rc, err);
	cr_expect(strstr(out, "augment: cutmix 1 mixup 1 switch 0.6 (batch mode), hflip 0.5, "
			      "crop padding 2 (zero), erasing 0.25 (pixel)"),
		  "no augment line in:\n%s", out);
	free(out), free(err);

	int st = run_and_signal("aug.flow", 120, "TERM");
	cr_assert_eq(st, 143, "a stopped run exits 143, got %d", st);
	rc = jt_jianmo(dir, &out, &err, "--batch --resume 2");
	cr_assert_eq(rc, 0, "resume failed (%d): %s\n%s", rc, err, out);
	cr_expect(strstr(out, "resuming in epoch 2 at step 120"), "not resumed mid-run:\n%s", out);
	free(out), free(err);

	free(jt_write(dir, "plain.flow", cnn_flow));
	cr_assert_eq(jt_jianmo(dir, NULL, NULL, "--batch plain.flow"), 0);
	sqlite3 *db = open_db();
	expect_same_final(db, 1, 2);
	char *a = series(db, 1, "loss"), *p = series(db, 3, "loss");
	cr_expect(strcmp(a, p), "augmentation did not change the training loss");
	free(a), free(p);
	sqlite3_close(db);
}

Test(batch, augment_bad_input_is_refused)
{
	char *reflect = with_augment(small_flow, "crop_padding = 28\npadding_mode = reflect\n");
	char *pairs = with_augment(small_flow, "mixup = 1\nmode = pair\n");
	char *minmax = with_augment(small_flow, "cutmix_minmax = 0.5,0.51\n");
	char m1[256], m2[256], m3[256];
	snprintf(m1, sizeof m1, "bad.flow:%d: [augment] crop_padding: reflect padding must be "
		 "smaller than the image (28x28), got 28", line_of(reflect, "crop_padding"));
	snprintf(m2, sizeof m2, "bad.flow:%d: [augment] mode = pair mixes samples in pairs: it "
		 "needs an even [train] batch, got 63", line_of(pairs, "mode ="));
	snprintf(m3, sizeof m3, "bad.flow:%d: [augment] cutmix_minmax: 0.5,0.51 leaves no box size "
		 "on 28x28 images", line_of(minmax, "cutmix_minmax"));
	const struct bad_case cases[] = {
		{pairs, "bad.flow --set train.batch=63", m2},
		{small_flow, "bad.flow --set augment.cutmix=-1",
		 "--set augment.cutmix=-1: [augment] cutmix: expected a number >= 0, got -1"},
		/* these need the images' size: checked once the data is read */
		{reflect, "bad.flow", m1},
		{minmax, "bad.flow", m3},
		{small_flow, "bad.flow --set augment.padding_mode=reflect --set augment.crop_padding=40",
		 "--set augment.crop_padding: [augment] crop_padding: reflect padding must be smaller "
		 "than the image (28x28), got 40"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		if (!jt_fmnist_dir() && i >= 2)
			continue;
		expect_refused(&cases[i]);
	}
	char path[4096];
	snprintf(path, sizeof path, "%s/.jianmo/jianmo.db", dir);
	cr_expect(access(path, F_OK) != 0, "a store was created by refused input");
	free(reflect), free(pairs), free(minmax);
}

/* ---- QA B6: a part of the split asked for that gets no rows ----------- */

/* Exit 2 with want on stderr, and no store: nothing ran. */
static void expect_split_refused(const char *args, const char *want)
{
	char *out, *err, path[4096];
	int rc = jt_jianmo(dir, &out, &err, "--batch %s", args);
	cr_expect_eq(rc, 2, "%s: exit %d, stdout:\n%s\nstderr: %s", args, rc, out, err);
	cr_expect_str_eq(err, want, "%s", args);
	snprintf(path, sizeof path, "%s/.jianmo/jianmo.db", dir);
	cr_expect(access(path, F_OK) != 0, "%s: a store was created by refused input", args);
	free(out), free(err);
}

/*
 * 90 rows of 30 classes, 3 rows each: 0.15 of 3 rows rounds to 0 in every
 * class, so the default split used to give 0 validation and 0 test rows
 * and the run ended `done` with test_acc NaN.  Refused instead, at the
 * key's line; the fix the message offers works.
 */
Test(batch, a_split_part_with_no_rows_is_refused)
{
	FILE *fp;
	char *path = jt_write(dir, "manycls.csv", "a,b,y\n");
	cr_assert_not_null(fp = fopen(path, "a"));
	for (int i = 0; i < 90; i++)
		fprintf(fp, "%.4f,%.4f,%d\n", (i * 37 % 101) / 101.0, (i * 53 % 97) / 97.0, i % 30);
	fclose(fp);
	free(path);
	free(jt_write(dir, "t.flow", "[data]\nsource = manycls.csv\ntarget = y\n"
				     "task = classification\n[train]\nepochs = 1\nbatch = 4\n"));
	expect_split_refused("t.flow", "jianmo: t.flow: [split] val = 0.15 gives no rows, nor does "
		"test = 0.15: 30 classes of 3 rows each, split per class (0.15 of 3 rows rounds to "
		"0); raise val and test to 0.17 or more, set stratify = false, or use fewer classes\n");
	free(jt_write(dir, "t2.flow", "[data]\nsource = manycls.csv\ntarget = y\n"
				      "task = classification\n[train]\nepochs = 1\nbatch = 4\n"
				      "[split]\nval = 0.3\ntest = 0.15\n"));
	expect_split_refused("t2.flow", "jianmo: t2.flow:10: [split] test = 0.15 gives no rows: 30 "
		"classes of 3 rows each, split per class (0.15 of 3 rows rounds to 0); raise test "
		"to 0.17 or more, set stratify = false, or use fewer classes\n");
	expect_split_refused("t2.flow --set split.test=0.1", "jianmo: --set split.test: [split] test "
		"= 0.1 gives no rows: 30 classes of 3 rows each, split per class (0.1 of 3 rows "
		"rounds to 0); raise test to 0.17 or more, set stratify = false, or use fewer "
		"classes\n");

	char *out, *err;
	int rc = jt_jianmo(dir, &out, &err, "--batch t2.flow --set split.test=0.17");
	cr_assert_eq(rc, 0, "%s\n%s", out, err);
	cr_expect(strstr(out, "data: 30 train, 30 validation, 30 test"), "%s", out);
	free(out), free(err);
	rc = jt_jianmo(dir, &out, &err, "--batch t.flow --set split.stratify=false");
	cr_assert_eq(rc, 0, "%s\n%s", out, err);
	cr_expect(strstr(out, "data: 62 train, 14 validation, 14 test"), "%s", out);
	cr_expect(!strstr(out, "nan"), "%s", out);
	free(out), free(err);
}

/* Cleaning can take every row the split gave a part: refused the same way. */
Test(batch, a_split_part_that_cleaning_empties_is_refused)
{
	FILE *fp;
	char *path = jt_write(dir, "na.csv", "a,b,y\n");
	cr_assert_not_null(fp = fopen(path, "a"));
	for (int i = 0; i < 100; i++) {
		char a[16] = "NA";
		if (i % 9 == 0)
			snprintf(a, sizeof a, "%.2f", i / 100.0);
		fprintf(fp, "%s,%.4f,%d\n", a, (i * 37 % 101) / 101.0, i % 2);
	}
	fclose(fp);
	free(path);
	/* seed 7 puts none of the 12 rows with an "a" in the test part */
	free(jt_write(dir, "na.flow", "[data]\nsource = na.csv\ntarget = y\n[clean]\n"
				      "missing = drop: a\n[train]\nepochs = 1\nbatch = 2\nseed = 7\n"));
	expect_split_refused("na.flow", "jianmo: na.flow: no test rows are left after cleaning "
		"([clean] dropped all 16); raise [split] test or drop fewer rows\n");
	expect_split_refused("na.flow --set train.seed=3", "jianmo: na.flow: no validation rows are "
		"left after cleaning ([clean] dropped all 16); raise [split] val or drop fewer "
		"rows\n");
}

/* An IDX data set small enough that [split] val (0.1) rounds to nothing:
 * 10 classes of 2 training images of 4x4. */
static void write_tiny_idx(const char *name, int n, int images)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/d/%s", dir, name);
	FILE *fp = fopen(path, "wb");
	cr_assert_not_null(fp, "%s", path);
	unsigned char head[16] = {0, 0, 8, images ? 3 : 1, 0, 0, 0, (unsigned char)n};
	int hl = 8;
	if (images) {
		unsigned char dims[8] = {0, 0, 0, 4, 0, 0, 0, 4};
		memcpy(head + 8, dims, 8);
		hl = 16;
	}
	fwrite(head, 1, (size_t)hl, fp);
	for (int i = 0; i < (images ? n * 16 : n); i++)
		fputc(images ? i * 7 % 256 : i % 10, fp);
	fclose(fp);
}

Test(batch, an_image_split_part_with_no_rows_is_refused)
{
	cr_assert_eq(jt_sh(dir, NULL, NULL, "mkdir d"), 0);
	write_tiny_idx("train-images-idx3-ubyte", 20, 1);
	write_tiny_idx("train-labels-idx1-ubyte", 20, 0);
	write_tiny_idx("t10k-images-idx3-ubyte", 10, 1);
	write_tiny_idx("t10k-labels-idx1-ubyte", 10, 0);
	free(jt_write(dir, "i.flow", "[data]\nsource = idx:d\n[train]\nepochs = 1\nbatch = 4\n"));
	expect_split_refused("i.flow", "jianmo: i.flow: [split] val = 0.1 gives no rows: 10 classes "
		"of 2 rows each, split per class (0.1 of 2 rows rounds to 0); raise val to 0.25 or "
		"more, set stratify = false, or use fewer classes\n");
	char *out, *err;
	int rc = jt_jianmo(dir, &out, &err, "--batch i.flow --set split.val=0.25");
	cr_assert_eq(rc, 0, "%s\n%s", out, err);
	cr_expect(strstr(out, "data: 10 train, 10 validation, 10 test"), "%s", out);
	free(out), free(err);
}
