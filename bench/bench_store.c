/*
 * bench_store.c: throughput of the metric writer, and reader latency while
 * it writes.
 *
 *   1. writer: POINTS points over 8 keys x 4 runs through jm_metric_log
 *      (default flush settings), timed up to jm_metric_writer_close;
 *   2. raw:    the same rows through one prepared single-row INSERT in one
 *      transaction into a bare table on an identically set-up connection
 *      (no summaries, no buffering, no clock read): what SQLite alone does
 *      on this machine; then the same into a table with a (run, key, step)
 *      index, the layout the store avoids (store/schema.sql);
 *   3. reader: a child process logs continuously for SECONDS while this one
 *      polls at 10 Hz through a read-only store, as `jianmo runs` would
 *      (runs + metric_summary in one short read transaction), counting
 *      busy/locked errors and the slowest poll.
 *
 * usage: bench_store [POINTS [SECONDS]]     (defaults 2000000 and 5)
 * Prints plain lines, then one JSON line.  Stores live under $TMPDIR (or
 * /tmp) and are removed at the end.
 */
#include <errno.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "store/metric_writer.h"
#include "store/store.h"

enum { RUNS = 4, KEYS = 8 };
static const char *const keys[KEYS] = {"train.loss", "train.acc", "train.lr", "train.grad_norm",
				       "val.loss",   "val.acc",   "val.f1",   "epoch.time"};

static double mono(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* CPU seconds of this process (user + system): unlike wall time, barely
 * moved by other work on a shared machine. */
static double cpu_time(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6;
}

typedef struct timing {
	double wall, cpu;
} timing;

static void die(const char *what, const jm_err *err)
{
	fprintf(stderr, "bench_store: %s: %s\n", what, err ? err->msg : strerror(errno));
	exit(1);
}

static char *make_home(const char *tag)
{
	const char *base = getenv("TMPDIR");
	char *dir = jm_xasprintf("%s/jianmo-bench-%s-XXXXXX", base && *base ? base : "/tmp", tag);
	if (!mkdtemp(dir))
		die("mkdtemp", NULL);
	return dir;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static void remove_home(char *dir)
{
	nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(dir);
}

static jm_store *open_store(const char *home, int64_t *runs, int nruns)
{
	jm_store *s;
	jm_err err = {0};
	if (jm_store_open(&s, home, 0, &err) < 0)
		die("open", &err);
	for (int r = 0; r < nruns; r++) {
		jm_run_spec spec = {.kind = "run", .seed = (uint64_t)r, .device = "cpu"};
		if (jm_store_run_create(s, &spec, &runs[r], &err) < 0)
			die("run create", &err);
	}
	return s;
}

/* Point i of the benchmark stream: runs and keys interleaved, as a search
 * running several trials would log them. */
#define POINT_RUN(i) ((i) % RUNS)
#define POINT_KEY(i) (((i) / RUNS) % KEYS)
#define POINT_STEP(i) ((i) / (RUNS * KEYS))
#define POINT_VALUE(i) (1.0 / (double)((i) + 1))

static timing bench_writer(long points)
{
	char *home = make_home("writer");
	int64_t runs[RUNS];
	jm_store *s = open_store(home, runs, RUNS);
	jm_metric_writer *w;
	jm_err err = {0};
	if (jm_metric_writer_open(&w, s, 0, 0, &err) < 0)
		die("writer open", &err);
	double t0 = mono(), c0 = cpu_time();
	for (long i = 0; i < points; i++)
		if (jm_metric_log(w, runs[POINT_RUN(i)], keys[POINT_KEY(i)], POINT_STEP(i),
				  POINT_VALUE(i)) < 0)
			die("log", NULL);
	if (jm_metric_writer_close(w, &err) < 0)
		die("writer close", &err);
	timing t = {mono() - t0, cpu_time() - c0};
	sqlite3_stmt *st;
	sqlite3_prepare_v2(jm_store_db(s), "SELECT count(*) FROM metrics", -1, &st, NULL);
	sqlite3_step(st);
	long stored = (long)sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	if (stored != points) {
		fprintf(stderr, "bench_store: %ld points logged, %ld stored\n", points, stored);
		exit(1);
	}
	jm_store_close(s);
	remove_home(home);
	return t;
}

/* The baseline: the same rows (run, key, step, value, wall) through one
 * prepared single-row INSERT in one transaction, into a bare table, or into
 * one with a (run, key, step) index (the layout the store does not use). */
static timing bench_raw(long points, int indexed)
{
	char *home = make_home("raw");
	int64_t runs[RUNS];
	jm_store *s = open_store(home, runs, RUNS);
	sqlite3 *db;
	jm_err err = {0};
	if (jm_store_connect(s, &db, &err) < 0)
		die("connect", &err);
	if (sqlite3_exec(db, "CREATE TABLE bench_rows(run INTEGER NOT NULL, key TEXT NOT NULL, "
			     "step INTEGER NOT NULL, value REAL, wall REAL NOT NULL)",
			 NULL, NULL, NULL) != SQLITE_OK ||
	    (indexed && sqlite3_exec(db, "CREATE INDEX bench_rows_run_key ON bench_rows(run, key, step)",
				     NULL, NULL, NULL) != SQLITE_OK))
		die(sqlite3_errmsg(db), NULL);
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db, "INSERT INTO bench_rows VALUES (?,?,?,?,?)", -1, &st, NULL) !=
	    SQLITE_OK)
		die(sqlite3_errmsg(db), NULL);
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	double wall = (double)now.tv_sec;
	double t0 = mono(), c0 = cpu_time();
	sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
	for (long i = 0; i < points; i++) {
		sqlite3_bind_int64(st, 1, runs[POINT_RUN(i)]);
		sqlite3_bind_text(st, 2, keys[POINT_KEY(i)], -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 3, POINT_STEP(i));
		sqlite3_bind_double(st, 4, POINT_VALUE(i));
		sqlite3_bind_double(st, 5, wall);
		if (sqlite3_step(st) != SQLITE_DONE)
			die(sqlite3_errmsg(db), NULL);
		sqlite3_reset(st);
	}
	if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
		die(sqlite3_errmsg(db), NULL);
	timing t = {mono() - t0, cpu_time() - c0};
	sqlite3_finalize(st);
	sqlite3_close(db);
	jm_store_close(s);
	remove_home(home);
	return t;
}

typedef struct reader_result {
	long polls, busy, points;
	double max_ms, mean_ms, seconds;
} reader_result;

/* The child: log as fast as it can until the deadline, then report the
 * number of points on fd. */
static void writer_child(const char *home, int64_t run, double seconds, int fd)
{
	jm_store *s;
	jm_metric_writer *w;
	jm_err err = {0};
	if (jm_store_open(&s, home, 0, &err) < 0 || jm_metric_writer_open(&w, s, 0, 0, &err) < 0)
		_exit(10);
	double end = mono() + seconds;
	long i = 0;
	while (mono() < end)
		for (int k = 0; k < 1000; k++, i++)
			if (jm_metric_log(w, run, keys[i % KEYS], i / KEYS, POINT_VALUE(i)) < 0)
				_exit(11);
	if (jm_metric_writer_close(w, &err) < 0)
		_exit(12);
	jm_store_close(s);
	if (write(fd, &i, sizeof i) != sizeof i)
		_exit(13);
	_exit(0);
}

static int poll_once(sqlite3 *db, sqlite3_stmt *runs, sqlite3_stmt *sums)
{
	int bad = 0, rc;
	bad += sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK;
	while ((rc = sqlite3_step(runs)) == SQLITE_ROW)
		;
	bad += rc != SQLITE_DONE;
	sqlite3_reset(runs);
	while ((rc = sqlite3_step(sums)) == SQLITE_ROW)
		;
	bad += rc != SQLITE_DONE;
	sqlite3_reset(sums);
	bad += sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK;
	return bad;
}

static reader_result bench_reader(double seconds)
{
	reader_result res = {0};
	char *home = make_home("reader");
	int64_t run;
	jm_store_close(open_store(home, &run, 1));
	int fds[2];
	if (pipe(fds) < 0)
		die("pipe", NULL);
	double t0 = mono();
	pid_t pid = fork();
	if (pid < 0)
		die("fork", NULL);
	if (pid == 0) {
		close(fds[0]);
		writer_child(home, run, seconds, fds[1]);
	}
	close(fds[1]);
	jm_store *r;
	jm_err err = {0};
	if (jm_store_open(&r, home, JM_STORE_READONLY, &err) < 0)
		die("read-only open", &err);
	sqlite3 *db = jm_store_db(r);
	sqlite3_stmt *runs, *sums;
	sqlite3_prepare_v2(db, "SELECT id, kind, status, name, started, ended FROM runs ORDER BY id DESC",
			   -1, &runs, NULL);
	sqlite3_prepare_v2(db, "SELECT run, key, last, last_step, min, max, count FROM metric_summary",
			   -1, &sums, NULL);
	double total_ms = 0;
	int status;
	while (waitpid(pid, &status, WNOHANG) == 0) {
		double p0 = mono();
		res.busy += poll_once(db, runs, sums);
		double ms = (mono() - p0) * 1e3;
		total_ms += ms;
		if (ms > res.max_ms)
			res.max_ms = ms;
		res.polls++;
		double next = p0 + 0.1 - mono();
		if (next > 0) {
			struct timespec ts = {0, (long)(next * 1e9)};
			nanosleep(&ts, NULL);
		}
	}
	res.seconds = mono() - t0;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "bench_store: writer child failed (%d)\n", status);
		exit(1);
	}
	if (read(fds[0], &res.points, sizeof res.points) != sizeof res.points)
		die("read", NULL);
	close(fds[0]);
	res.mean_ms = res.polls ? total_ms / (double)res.polls : 0;
	sqlite3_finalize(runs);
	sqlite3_finalize(sums);
	jm_store_close(r);
	remove_home(home);
	return res;
}

int main(int argc, char **argv)
{
	long points = argc > 1 ? atol(argv[1]) : 2000000;
	double seconds = argc > 2 ? atof(argv[2]) : 5.0;
	if (points <= 0 || seconds <= 0) {
		fprintf(stderr, "usage: bench_store [POINTS [SECONDS]]\n");
		return 2;
	}
	printf("sqlite %s; %ld points over %d keys x %d runs\n", sqlite3_libversion(), points, KEYS,
	       RUNS);
	fflush(stdout);
	double load[3] = {0, 0, 0};
	getloadavg(load, 3);
	timing tw = bench_writer(points);
	printf("writer:    %.3f s wall, %.3f s cpu: %.0f points/s wall, %.0f points/s cpu "
	       "(jm_metric_log, default flush: 4096 points or 100 ms)\n",
	       tw.wall, tw.cpu, points / tw.wall, points / tw.cpu);
	fflush(stdout);
	timing tr = bench_raw(points, 0);
	printf("raw:       %.3f s wall, %.3f s cpu: %.0f rows/s wall, %.0f rows/s cpu "
	       "(one prepared INSERT, one transaction, bare table)\n",
	       tr.wall, tr.cpu, points / tr.wall, points / tr.cpu);
	printf("ratio:     %.2f wall, %.2f cpu (writer / raw)\n", tr.wall / tw.wall, tr.cpu / tw.cpu);
	fflush(stdout);
	timing ti = bench_raw(points, 1);
	printf("raw+index: %.3f s wall, %.3f s cpu: %.0f rows/s wall, %.0f rows/s cpu "
	       "(same, with a (run, key, step) index)\n",
	       ti.wall, ti.cpu, points / ti.wall, points / ti.cpu);
	fflush(stdout);
	reader_result rr = bench_reader(seconds);
	printf("reader:    %ld polls at 10 Hz over %.1f s while a writer logged %ld points "
	       "(%.0f points/s); busy/locked: %ld; poll latency mean %.3f ms, max %.3f ms\n",
	       rr.polls, rr.seconds, rr.points, (double)rr.points / seconds, rr.busy, rr.mean_ms,
	       rr.max_ms);
	printf("load average at start: %.2f\n", load[0]);
	printf("{\"bench\":\"store\",\"sqlite\":\"%s\",\"points\":%ld,\"load1\":%.2f,"
	       "\"writer_points_per_s\":%.0f,\"writer_points_per_cpu_s\":%.0f,"
	       "\"raw_rows_per_s\":%.0f,\"raw_rows_per_cpu_s\":%.0f,"
	       "\"ratio\":%.3f,\"ratio_cpu\":%.3f,"
	       "\"raw_indexed_rows_per_s\":%.0f,\"raw_indexed_rows_per_cpu_s\":%.0f,"
	       "\"reader_seconds\":%.2f,\"concurrent_points\":%ld,\"reader_polls\":%ld,"
	       "\"reader_busy\":%ld,\"reader_mean_ms\":%.3f,\"reader_max_ms\":%.3f}\n",
	       sqlite3_libversion(), points, load[0], points / tw.wall, points / tw.cpu,
	       points / tr.wall, points / tr.cpu, tr.wall / tw.wall, tr.cpu / tw.cpu,
	       points / ti.wall, points / ti.cpu, rr.seconds, rr.points, rr.polls, rr.busy,
	       rr.mean_ms, rr.max_ms);
	return rr.busy == 0 ? 0 : 1;
}
