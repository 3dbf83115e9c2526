/*
 * test_store.c: the run store core (store/store.c) and the metric writer
 * (store/metric_writer.c).  Each test works in its own temporary directory;
 * tests that need other processes (a crashed run, a concurrent writer)
 * fork them and talk over a pipe.
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "store/metric_writer.h"
#include "store/store.h"
#include "util/hash.h"
#include "util/rng.h"
#include "testutil.h"

static int exists(const char *path);
static char *tmp;  /* this test's directory */
static char *home; /* tmp/.jianmo */

static void setup(void)
{
	tmp = jt_tmpdir();
	home = jm_xasprintf("%s/.jianmo", tmp);
	unsetenv("JIANMO_HOME");
}

static void teardown(void)
{
	/* a_read_only_or_full_file_system's tmpfs, should it have stopped
	 * before its umount */
	char *fs = jm_xasprintf("%s/fs", tmp);
	if (exists(fs))
		jt_sh(tmp, NULL, NULL, "umount fs 2>/dev/null; true");
	free(fs);
	jt_rm_rf(tmp);
	free(tmp);
	free(home);
}

TestSuite(store, .init = setup, .fini = teardown, .timeout = 60);

/* ---- helpers ------------------------------------------------------------ */

static jm_store *open_ok(const char *h, int flags)
{
	jm_store *s = NULL;
	jm_err err = {0};
	int rc = jm_store_open(&s, h, flags, &err);
	cr_assert_eq(rc, 0, "jm_store_open(%s): %s", h, err.msg);
	cr_assert_not_null(s);
	return s;
}

static void open_fails(const char *h, int flags, int code, const char *msg)
{
	jm_store *s = (jm_store *)1;
	jm_err err = {0};
	cr_assert_eq(jm_store_open(&s, h, flags, &err), -1);
	cr_assert_null(s);
	cr_assert_eq(err.code, code, "code %d for \"%s\"", err.code, err.msg);
	cr_assert_str_eq(err.msg, msg);
}

/* The first column of the first row of a query, as int64 (0 if none). */
static int64_t q_int(sqlite3 *db, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *sql = sqlite3_vmprintf(fmt, ap);
	va_end(ap);
	sqlite3_stmt *st;
	cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK, "%s: %s", sql,
		     sqlite3_errmsg(db));
	int rc = sqlite3_step(st);
	cr_assert(rc == SQLITE_ROW || rc == SQLITE_DONE, "%s: %s", sql, sqlite3_errmsg(db));
	int64_t v = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	sqlite3_finalize(st);
	sqlite3_free(sql);
	return v;
}

/* Same, as a malloc'd string (NULL for SQL NULL or no row). */
static char *q_text(sqlite3 *db, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *sql = sqlite3_vmprintf(fmt, ap);
	va_end(ap);
	sqlite3_stmt *st;
	cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK, "%s: %s", sql,
		     sqlite3_errmsg(db));
	char *v = NULL;
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
		v = strdup((const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	sqlite3_free(sql);
	return v;
}

static void exec_ok(sqlite3 *db, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *sql = sqlite3_vmprintf(fmt, ap);
	va_end(ap);
	char *msg = NULL;
	cr_assert_eq(sqlite3_exec(db, sql, NULL, NULL, &msg), SQLITE_OK, "%s: %s", sql, msg);
	sqlite3_free(sql);
}

static sqlite3 *raw_open(const char *path)
{
	sqlite3 *db;
	cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	return db;
}

static int64_t new_run(jm_store *s)
{
	jm_run_spec spec = {.kind = "run", .seed = 1, .device = "cpu"};
	jm_err err = {0};
	int64_t id = 0;
	cr_assert_eq(jm_store_run_create(s, &spec, &id, &err), 0, "%s", err.msg);
	cr_assert_gt(id, 0);
	return id;
}

static int is_dir(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static int exists(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0;
}

static void host_name(char *buf, size_t n)
{
	memset(buf, 0, n);
	if (gethostname(buf, n - 1) < 0 || !buf[0])
		snprintf(buf, n, "localhost");
}

/* ---- home, create, reopen, migrate, version ------------------------------ */

Test(store, home_resolution)
{
	char *h = jm_store_home_resolve(NULL);
	cr_assert_str_eq(h, ".jianmo");
	free(h);
	setenv("JIANMO_HOME", "/data/js/", 1);
	h = jm_store_home_resolve(NULL);
	cr_assert_str_eq(h, "/data/js");
	free(h);
	h = jm_store_home_resolve("elsewhere");
	cr_assert_str_eq(h, "elsewhere");
	free(h);
}

Test(store, create_in_current_directory)
{
	cr_assert_eq(chdir(tmp), 0);
	jm_store *s = open_ok(NULL, 0);
	cr_assert_str_eq(jm_store_home(s), ".jianmo");
	cr_assert(exists(".jianmo/jianmo.db"));
	cr_assert(is_dir(".jianmo/runs"));
	sqlite3 *db = jm_store_db(s);
	cr_assert_eq(q_int(db, "PRAGMA user_version"), JM_STORE_SCHEMA_VERSION);
	char *mode = q_text(db, "PRAGMA journal_mode");
	cr_assert_str_eq(mode, "wal");
	free(mode);
	cr_assert_eq(q_int(db, "PRAGMA foreign_keys"), 1);
	cr_assert_eq(q_int(db, "PRAGMA synchronous"), 1); /* NORMAL */
	cr_assert_eq(q_int(db, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN "
			       "('flows','runs','params','metric_points','metric_spans',"
			       "'metric_summary','artifacts','tags')"),
		     8);
	cr_assert_eq(q_int(db, "SELECT count(*) FROM sqlite_master WHERE type = 'view' AND "
			       "name = 'metrics'"),
		     1);
	jm_store_close(s);
	jm_store_close(NULL);
}

Test(store, create_with_nested_home)
{
	char *deep = jm_xasprintf("%s/a/b/c", tmp);
	jm_store *s = open_ok(deep, 0);
	char *db = jm_xasprintf("%s/jianmo.db", deep);
	cr_assert(exists(db));
	jm_store_close(s);
	free(db);
	free(deep);
}

Test(store, create_fails_when_home_is_a_file)
{
	char *file = jt_write(tmp, "plain", "x");
	char *want = jm_xasprintf("%s/jianmo.db: %s", file, strerror(ENOTDIR));
	open_fails(file, 0, JM_EXIT_FAIL, want);
	free(want);
	free(file);
}

Test(store, reopen_keeps_data)
{
	jm_store *s = open_ok(home, 0);
	int64_t flow, run = new_run(s);
	jm_err err = {0};
	cr_assert_eq(jm_store_flow_put(s, "a.flow", "[data]\nx = 1\n", &flow, &err), 0);
	jm_store_close(s);

	s = open_ok(home, JM_STORE_NOCREATE);
	cr_assert_eq(q_int(jm_store_db(s), "PRAGMA user_version"), JM_STORE_SCHEMA_VERSION);
	char *text = jm_store_flow_text(s, flow, &err);
	cr_assert_str_eq(text, "[data]\nx = 1\n");
	free(text);
	int64_t found;
	char ref[32];
	snprintf(ref, sizeof ref, "%lld", (long long)run);
	cr_assert_eq(jm_store_run_lookup(s, ref, &found, &err), 0);
	cr_assert_eq(found, run);
	jm_store_close(s);
}

Test(store, migrate_from_empty_file)
{
	cr_assert_eq(mkdir(home, 0777), 0);
	char *path = jt_write(home, "jianmo.db", ""); /* 0 bytes: version 0 */
	jm_store *s = open_ok(home, 0);
	sqlite3 *db = jm_store_db(s);
	cr_assert_eq(q_int(db, "PRAGMA user_version"), JM_STORE_SCHEMA_VERSION);
	cr_assert_eq(q_int(db, "SELECT count(*) FROM sqlite_master WHERE name = 'metric_summary'"), 1);
	new_run(s);
	jm_store_close(s);
	free(path);
}

Test(store, migrate_from_v0_database)
{
	cr_assert_eq(mkdir(home, 0777), 0);
	char *path = jm_xasprintf("%s/jianmo.db", home);
	sqlite3 *db = raw_open(path);
	exec_ok(db, "CREATE TABLE t(a); DROP TABLE t"); /* a real database file, no tables */
	sqlite3_close(db);
	jm_store *s = open_ok(home, 0);
	cr_assert_eq(q_int(jm_store_db(s), "PRAGMA user_version"), JM_STORE_SCHEMA_VERSION);
	cr_assert_eq(q_int(jm_store_db(s), "SELECT count(*) FROM runs"), 0);
	jm_store_close(s);
	free(path);
}

Test(store, refuses_v0_database_with_foreign_tables)
{
	cr_assert_eq(mkdir(home, 0777), 0);
	char *path = jm_xasprintf("%s/jianmo.db", home);
	sqlite3 *db = raw_open(path);
	exec_ok(db, "CREATE TABLE runs(x); INSERT INTO runs VALUES (42)");
	sqlite3_close(db);
	size_t n0, n1;
	char *before = jt_read(path, &n0);
	char *want = jm_xasprintf("%s: not a jianmo store (it has tables but no store version)", path);
	open_fails(home, 0, JM_EXIT_INPUT, want);
	char *after = jt_read(path, &n1);
	cr_assert_eq(n0, n1);
	cr_assert_eq(memcmp(before, after, n0), 0);
	free(before);
	free(after);
	free(want);
	free(path);
}

Test(store, refuses_a_file_that_is_not_a_database)
{
	cr_assert_eq(mkdir(home, 0777), 0);
	char *path = jt_write(home, "jianmo.db", "this is not sqlite, just some text that is long enough "
						 "to look like a header................................"
						 "................................................");
	char *want = jm_xasprintf("%s: not a jianmo store (file is not a database)", path);
	open_fails(home, 0, JM_EXIT_INPUT, want);
	free(want);
	free(path);
}

/* A store written by a future jianmo (version 7): refused for reading and
 * writing, and its files are left byte for byte as they were, even with
 * un-checkpointed WAL content that closing a connection would normally
 * copy into the database file. */
Test(store, refuses_newer_version_untouched)
{
	cr_assert_eq(mkdir(home, 0777), 0);
	char *path = jm_xasprintf("%s/jianmo.db", home);
	char *wal = jm_xasprintf("%s-wal", path);
	sqlite3 *db = raw_open(path);
	exec_ok(db, "PRAGMA journal_mode=WAL; CREATE TABLE future(x); PRAGMA user_version=7");
	exec_ok(db, "PRAGMA wal_checkpoint(TRUNCATE)");
	sqlite3_db_config(db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, NULL);
	exec_ok(db, "INSERT INTO future VALUES ('only in the WAL')");
	sqlite3_close(db);
	cr_assert(exists(wal), "the WAL should still hold a commit");

	size_t n0, w0, n1, w1;
	char *before = jt_read(path, &n0), *wal_before = jt_read(wal, &w0);
	char *want = jm_xasprintf("%s: store version 7 is newer than this jianmo supports (%d): "
				  "upgrade jianmo",
				  path, JM_STORE_SCHEMA_VERSION);
	open_fails(home, 0, JM_EXIT_INPUT, want);
	open_fails(home, JM_STORE_READONLY, JM_EXIT_INPUT, want);
	open_fails(home, JM_STORE_NOCREATE, JM_EXIT_INPUT, want);

	char *after = jt_read(path, &n1), *wal_after = jt_read(wal, &w1);
	cr_assert_eq(n0, n1);
	cr_assert_eq(memcmp(before, after, n0), 0, "the database file changed");
	cr_assert_eq(w0, w1);
	cr_assert_eq(memcmp(wal_before, wal_after, w0), 0, "the WAL changed");
	char *runs = jm_xasprintf("%s/runs", home);
	cr_assert(!exists(runs), "nothing is created in a refused store");
	free(runs);
	free(before);
	free(after);
	free(wal_before);
	free(wal_after);
	free(want);
	free(wal);
	free(path);
}

Test(store, readonly_missing_store_fails_clearly)
{
	char *want = jm_xasprintf("%s/jianmo.db: no store here (use --home DIR or JIANMO_HOME to "
				  "name one)",
				  home);
	open_fails(home, JM_STORE_READONLY, JM_EXIT_INPUT, want);
	open_fails(home, JM_STORE_NOCREATE, JM_EXIT_INPUT, want);
	cr_assert(!exists(home), "a failed open creates nothing");
	free(want);
}

/* An empty database file is no store to a reader: it is refused as a
 * missing one is, and left as it was (0 bytes, nothing made beside it). */
Test(store, an_empty_file_is_no_store_to_readers)
{
	cr_assert_eq(mkdir(home, 0777), 0);
	char *path = jt_write(home, "jianmo.db", "");
	char *want = jm_xasprintf("%s: no store here (use --home DIR or JIANMO_HOME to name one)",
				  path);
	open_fails(home, JM_STORE_READONLY, JM_EXIT_INPUT, want);
	open_fails(home, JM_STORE_NOCREATE, JM_EXIT_INPUT, want);
	char *files = NULL;
	cr_assert_eq(jt_sh(home, &files, NULL, "find . | LC_ALL=C sort; wc -c < jianmo.db"), 0);
	cr_expect_str_eq(files, ".\n./jianmo.db\n0\n");
	free(files);
	free(want);
	free(path);
}

Test(store, readonly_store_refuses_writes)
{
	jm_store_close(open_ok(home, 0));
	jm_store *s = open_ok(home, JM_STORE_READONLY);
	jm_run_spec spec = {.kind = "run"};
	int64_t id;
	jm_err err = {0};
	char *want = jm_xasprintf("%s/jianmo.db: store is open read-only", home);
	cr_assert_eq(jm_store_run_create(s, &spec, &id, &err), -1);
	cr_assert_str_eq(err.msg, want);
	jm_metric_writer *w = (jm_metric_writer *)1;
	cr_assert_eq(jm_metric_writer_open(&w, s, 0, 0, &err), -1);
	cr_assert_null(w);
	cr_assert_str_eq(err.msg, want);
	cr_assert_eq(q_int(jm_store_db(s), "SELECT count(*) FROM runs"), 0);
	jm_store_close(s);
	free(want);
}

/* ---- flows ---------------------------------------------------------------- */

Test(store, flows_dedup_by_sha)
{
	jm_store *s = open_ok(home, 0);
	jm_err err = {0};
	int64_t a, a2, b;
	const char *ta = "[data]\nsource = fmnist\n", *tb = "[data]\nsource = cifar\n";
	cr_assert_eq(jm_store_flow_put(s, "a.flow", ta, &a, &err), 0, "%s", err.msg);
	cr_assert_eq(jm_store_flow_put(s, "copy.flow", ta, &a2, &err), 0);
	cr_assert_eq(jm_store_flow_put(s, "b.flow", tb, &b, &err), 0);
	cr_assert_eq(a, a2);
	cr_assert_neq(a, b);
	sqlite3 *db = jm_store_db(s);
	cr_assert_eq(q_int(db, "SELECT count(*) FROM flows"), 2);
	char hex[65], *stored = q_text(db, "SELECT sha256 FROM flows WHERE id = %lld", (long long)a);
	jm_sha256_hex(ta, strlen(ta), hex);
	cr_assert_str_eq(stored, hex);
	free(stored);
	char *name = q_text(db, "SELECT name FROM flows WHERE id = %lld", (long long)a);
	cr_assert_str_eq(name, "a.flow", "the first name is kept");
	free(name);
	char *text = jm_store_flow_text(s, b, &err);
	cr_assert_str_eq(text, tb);
	free(text);

	char *want = jm_xasprintf("no flow \"99\" in %s", home);
	cr_assert_null(jm_store_flow_text(s, 99, &err));
	cr_assert_str_eq(err.msg, want);
	cr_assert_eq(err.code, JM_EXIT_INPUT);
	free(want);
	jm_store_close(s);
}

/* ---- runs ------------------------------------------------------------------ */

/* A run's id is never given again, not even the newest's after it is
 * deleted (a note or a bundle that says "run 4" keeps meaning that run),
 * nor those of trials deleted with their search. */
Test(store, run_ids_are_never_given_twice)
{
	jm_store *s = open_ok(home, 0);
	sqlite3 *db = jm_store_db(s);
	jm_err err = {0};
	int64_t flow, search, trial, run;
	cr_assert_eq(jm_store_flow_put(s, "f", "[train]\nepochs = 1\n", &flow, &err), 0);
	jm_run_spec sp = {.kind = "search", .flow_id = flow}, tr = {.kind = "trial"},
		    plain = {.kind = "run", .flow_id = flow};
	cr_assert_eq(jm_store_run_create(s, &sp, &search, &err), 0, "%s", err.msg);
	tr.parent = search;
	for (int i = 0; i < 2; i++)
		cr_assert_eq(jm_store_run_create(s, &tr, &trial, &err), 0, "%s", err.msg);
	cr_assert_eq(jm_store_run_create(s, &plain, &run, &err), 0, "%s", err.msg);
	cr_assert_eq(run, 4);
	cr_assert_eq(sqlite3_exec(db, "DELETE FROM runs WHERE id = 4", NULL, NULL, NULL), SQLITE_OK);
	cr_assert_eq(jm_store_run_create(s, &plain, &run, &err), 0, "%s", err.msg);
	cr_expect_eq(run, 5, "the deleted newest run's id was given again: %lld", (long long)run);
	/* the search and, by cascade, its trials 2 and 3; then run 5 */
	cr_assert_eq(sqlite3_exec(db, "DELETE FROM runs WHERE id = 1; DELETE FROM runs WHERE id = 5",
				  NULL, NULL, NULL),
		     SQLITE_OK);
	cr_assert_eq(q_int(db, "SELECT count(*) FROM runs"), 0);
	cr_assert_eq(jm_store_run_create(s, &plain, &run, &err), 0, "%s", err.msg);
	cr_expect_eq(run, 6);
	jm_store_close(s);
}

Test(store, run_create_status_reopen)
{
	jm_store *s = open_ok(home, 0);
	sqlite3 *db = jm_store_db(s);
	jm_err err = {0};
	int64_t flow, run, trial;
	cr_assert_eq(jm_store_flow_put(s, "f", "[train]\nepochs = 1\n", &flow, &err), 0);
	jm_run_spec spec = {.kind = "search", .flow_id = flow, .name = "first",
			    .seed = 0xfedcba9876543210ULL, .device = "cuda:0"};
	cr_assert_eq(jm_store_run_create(s, &spec, &run, &err), 0, "%s", err.msg);
	jm_run_spec child = {.kind = "trial", .parent = run, .seed = 7};
	cr_assert_eq(jm_store_run_create(s, &child, &trial, &err), 0, "%s", err.msg);

	char host[256], *v;
	host_name(host, sizeof host);
	cr_assert_eq(q_int(db, "SELECT pid FROM runs WHERE id = %lld", (long long)run), getpid());
	cr_assert_str_eq((v = q_text(db, "SELECT host FROM runs WHERE id = %lld", (long long)run)), host);
	free(v);
	cr_assert_str_eq((v = q_text(db, "SELECT status FROM runs WHERE id = %lld", (long long)run)),
			 "running");
	free(v);
	cr_assert_str_eq((v = q_text(db, "SELECT device FROM runs WHERE id = %lld", (long long)run)),
			 "cuda:0");
	free(v);
	cr_assert_eq((uint64_t)q_int(db, "SELECT seed FROM runs WHERE id = %lld", (long long)run),
		     0xfedcba9876543210ULL);
	cr_assert_eq(q_int(db, "SELECT flow_id FROM runs WHERE id = %lld", (long long)run), flow);
	cr_assert_eq(q_int(db, "SELECT parent FROM runs WHERE id = %lld", (long long)trial), run);
	cr_assert_eq(q_int(db, "SELECT parent IS NULL AND flow_id IS NULL FROM runs WHERE id = %lld",
			   (long long)run),
		     0);
	cr_assert_eq(q_int(db, "SELECT parent IS NULL FROM runs WHERE id = %lld", (long long)run), 1);
	cr_assert_eq(q_int(db, "SELECT proc_start IS NOT NULL AND ended IS NULL FROM runs WHERE id = "
			       "%lld",
			   (long long)run),
		     1);
	char *dir = jm_store_run_dir(s, run, &err), *want_dir;
	want_dir = jm_xasprintf("%s/runs/%lld", home, (long long)run);
	cr_assert_str_eq(dir, want_dir);
	cr_assert(is_dir(dir), "the run folder exists from creation");
	free(dir);
	free(want_dir);

	cr_assert_eq(jm_store_run_set_status(s, run, JM_RUN_FAILED, "loss is NaN", &err), 0);
	cr_assert_str_eq((v = q_text(db, "SELECT error FROM runs WHERE id = %lld", (long long)run)),
			 "loss is NaN");
	free(v);
	cr_assert_eq(q_int(db, "SELECT ended IS NOT NULL FROM runs WHERE id = %lld", (long long)run), 1);

	cr_assert_eq(jm_store_run_reopen(s, run, NULL, &err), 0, "%s", err.msg);
	cr_assert_str_eq((v = q_text(db, "SELECT status FROM runs WHERE id = %lld", (long long)run)),
			 "running");
	free(v);
	cr_assert_eq(q_int(db, "SELECT ended IS NULL AND error IS NULL FROM runs WHERE id = %lld",
			   (long long)run),
		     1);
	char *dev0 = q_text(db, "SELECT device FROM runs WHERE id = %lld", (long long)run);
	/* a trial started on another device records where it runs */
	cr_assert_eq(jm_store_run_reopen(s, run, "cuda:1", &err), 0, "%s", err.msg);
	cr_assert_str_eq((v = q_text(db, "SELECT device FROM runs WHERE id = %lld", (long long)run)),
			 "cuda:1");
	free(v);
	cr_assert(strcmp(dev0, "cuda:1"), "the device changed from %s", dev0);
	free(dev0);
	cr_assert_eq(jm_store_run_set_status(s, run, JM_RUN_DONE, NULL, &err), 0);
	cr_assert_str_eq((v = q_text(db, "SELECT status FROM runs WHERE id = %lld", (long long)run)),
			 "done");
	free(v);
	cr_assert_eq(jm_store_run_set_status(s, trial, JM_RUN_QUEUED, NULL, &err), 0);
	cr_assert_eq(q_int(db, "SELECT ended IS NULL FROM runs WHERE id = %lld", (long long)trial), 1);
	jm_store_close(s);
}

Test(store, run_bad_inputs)
{
	jm_store *s = open_ok(home, 0);
	jm_err err = {0};
	int64_t id, run = new_run(s);
	char *want;

	jm_run_spec bad_kind = {.kind = "experiment"};
	cr_assert_eq(jm_store_run_create(s, &bad_kind, &id, &err), -1);
	cr_assert_str_eq(err.msg, "run kind \"experiment\": expected run, search or trial");
	cr_assert_eq(err.code, JM_EXIT_INPUT);

	jm_run_spec orphan = {.kind = "trial", .parent = 999};
	cr_assert_eq(jm_store_run_create(s, &orphan, &id, &err), -1);
	cr_assert(strstr(err.msg, "FOREIGN KEY constraint failed"), "got \"%s\"", err.msg);
	cr_assert_eq(q_int(jm_store_db(s), "SELECT count(*) FROM runs"), 1, "rolled back");

	cr_assert_eq(jm_store_run_set_status(s, run, "finished", NULL, &err), -1);
	cr_assert_str_eq(err.msg, "run status \"finished\": expected queued, running, done, failed, "
				  "stopped, pruned or crashed");
	cr_assert_eq(err.code, JM_EXIT_INPUT);

	want = jm_xasprintf("no run \"99\" in %s", home);
	cr_assert_eq(jm_store_run_set_status(s, 99, JM_RUN_DONE, NULL, &err), -1);
	cr_assert_str_eq(err.msg, want);
	cr_assert_eq(jm_store_run_reopen(s, 99, NULL, &err), -1);
	cr_assert_str_eq(err.msg, want);
	cr_assert_null(jm_store_run_dir(s, 99, &err));
	cr_assert_str_eq(err.msg, want);
	cr_assert_eq(jm_store_param_set(s, 99, "train.lr", "0.1", &err), -1);
	cr_assert_str_eq(err.msg, want);
	cr_assert_eq(jm_store_tag_add(s, 99, "best", &err), -1);
	cr_assert_str_eq(err.msg, want);
	cr_assert_eq(err.code, JM_EXIT_INPUT);
	free(want);
	jm_store_close(s);
}

Test(store, run_lookup)
{
	jm_store *s = open_ok(home, 0);
	jm_err err = {0};
	int64_t run = new_run(s), got = 0;
	char ref[32];
	snprintf(ref, sizeof ref, "%lld", (long long)run);
	cr_assert_eq(jm_store_run_lookup(s, ref, &got, &err), 0);
	cr_assert_eq(got, run);

	char *want = jm_xasprintf("no run \"12\" in %s", home);
	cr_assert_eq(jm_store_run_lookup(s, "12", &got, &err), -1);
	cr_assert_str_eq(err.msg, want);
	cr_assert_eq(err.code, JM_EXIT_INPUT);
	free(want);

	static const char *const bad[] = {"abc", "", "-1", "0", "1x", " 1", "+1",
					  "99999999999999999999999"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char msg[128];
		snprintf(msg, sizeof msg, "\"%s\" is not a run id", bad[i]);
		cr_assert_eq(jm_store_run_lookup(s, bad[i], &got, &err), -1, "%s", bad[i]);
		cr_assert_str_eq(err.msg, msg);
		cr_assert_eq(err.code, JM_EXIT_INPUT);
	}
	jm_store_close(s);
}

/* ---- params, tags, artifacts ------------------------------------------------ */

Test(store, params_tags_artifacts)
{
	jm_store *s = open_ok(home, 0);
	sqlite3 *db = jm_store_db(s);
	jm_err err = {0};
	int64_t run = new_run(s);
	char *v;

	cr_assert_eq(jm_store_param_set(s, run, "train.lr", "0.1", &err), 0);
	cr_assert_eq(jm_store_param_set(s, run, "train.lr", "0.05", &err), 0);
	cr_assert_eq(jm_store_param_set(s, run, "train.epochs", "3", &err), 0);
	cr_assert_eq(q_int(db, "SELECT count(*) FROM params WHERE run = %lld", (long long)run), 2);
	cr_assert_str_eq((v = q_text(db, "SELECT value FROM params WHERE key = 'train.lr'")), "0.05");
	free(v);
	cr_assert_eq(jm_store_param_set(s, run, "", "x", &err), -1);
	cr_assert_eq(err.code, JM_EXIT_INPUT);

	cr_assert_eq(jm_store_tag_add(s, run, "best", &err), 0);
	cr_assert_eq(jm_store_tag_add(s, run, "best", &err), 0);
	cr_assert_eq(jm_store_tag_add(s, run, "baseline", &err), 0);
	cr_assert_eq(q_int(db, "SELECT count(*) FROM tags WHERE run = %lld", (long long)run), 2);

	/* An artifact written into the run folder, named relative and absolute. */
	char *dir = jm_store_run_dir(s, run, &err);
	size_t n = 100000;
	char *content = malloc(n + 1);
	for (size_t i = 0; i < n; i++)
		content[i] = (char)('a' + (i * 7) % 26);
	content[n] = '\0';
	char *file = jt_write(dir, "model.bin", content), hex[65];
	jm_sha256_hex(content, n, hex);
	char *rel = jm_xasprintf("runs/%lld/model.bin", (long long)run);
	cr_assert_eq(jm_store_artifact_add(s, run, "model", rel, &err), 0, "%s", err.msg);
	cr_assert_str_eq((v = q_text(db, "SELECT sha256 FROM artifacts WHERE name = 'model'")), hex);
	free(v);
	cr_assert_eq(q_int(db, "SELECT bytes FROM artifacts WHERE name = 'model'"), (int64_t)n);
	cr_assert_str_eq((v = q_text(db, "SELECT path FROM artifacts WHERE name = 'model'")), rel);
	free(v);

	char *abs_home = realpath(home, NULL);
	char *abs_file = jm_xasprintf("%s/%s", abs_home, rel);
	cr_assert_eq(jm_store_artifact_add(s, run, "again", abs_file, &err), 0, "%s", err.msg);
	cr_assert_str_eq((v = q_text(db, "SELECT path FROM artifacts WHERE name = 'again'")), rel);
	free(v);

	/* Replacing an artifact updates it in place. */
	free(file);
	file = jt_write(dir, "model.bin", "tiny");
	free(file);
	cr_assert_eq(jm_store_artifact_add(s, run, "model", rel, &err), 0);
	cr_assert_eq(q_int(db, "SELECT bytes FROM artifacts WHERE name = 'model'"), 4);
	cr_assert_eq(q_int(db, "SELECT count(*) FROM artifacts"), 2);

	char *outside = jt_write(tmp, "outside.bin", "x"), *want;
	cr_assert_eq(jm_store_artifact_add(s, run, "out", outside, &err), -1);
	want = jm_xasprintf("artifact \"%s\": not inside the store home %s", outside, home);
	cr_assert_str_eq(err.msg, want);
	cr_assert_eq(err.code, JM_EXIT_INPUT);
	free(want);
	cr_assert_eq(jm_store_artifact_add(s, run, "up", "../outside.bin", &err), -1);
	cr_assert(strstr(err.msg, "not inside the store home"), "%s", err.msg);

	cr_assert_eq(jm_store_artifact_add(s, run, "gone", "runs/1/missing.bin", &err), -1);
	want = jm_xasprintf("%s/runs/1/missing.bin: %s", home, strerror(ENOENT));
	cr_assert_str_eq(err.msg, want);
	free(want);
	cr_assert_eq(q_int(db, "SELECT count(*) FROM artifacts"), 2);

	free(outside);
	free(abs_home);
	free(abs_file);
	free(rel);
	free(content);
	free(dir);
	jm_store_close(s);
}

/* ---- metric writer ---------------------------------------------------------- */

typedef struct expect {
	int64_t count, last_step;
	double last, min, max;
	int has_range;
} expect;

static void check_summary(sqlite3 *db, int64_t run, const char *key, const expect *e)
{
	sqlite3_stmt *st;
	cr_assert_eq(sqlite3_prepare_v2(db,
					"SELECT last, last_step, min, max, count FROM metric_summary "
					"WHERE run = ?1 AND key = ?2",
					-1, &st, NULL),
		     SQLITE_OK);
	sqlite3_bind_int64(st, 1, run);
	sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
	cr_assert_eq(sqlite3_step(st), SQLITE_ROW, "no summary for %lld/%s", (long long)run, key);
	if (isnan(e->last))
		cr_assert_eq(sqlite3_column_type(st, 0), SQLITE_NULL);
	else
		cr_assert_eq(sqlite3_column_double(st, 0), e->last, "%lld/%s last", (long long)run, key);
	cr_assert_eq(sqlite3_column_int64(st, 1), e->last_step);
	if (e->has_range) {
		cr_assert_eq(sqlite3_column_double(st, 2), e->min, "%lld/%s min", (long long)run, key);
		cr_assert_eq(sqlite3_column_double(st, 3), e->max, "%lld/%s max", (long long)run, key);
	} else {
		cr_assert_eq(sqlite3_column_type(st, 2), SQLITE_NULL);
		cr_assert_eq(sqlite3_column_type(st, 3), SQLITE_NULL);
	}
	cr_assert_eq(sqlite3_column_int64(st, 4), e->count, "%lld/%s count", (long long)run, key);
	sqlite3_finalize(st);
}

Test(store, metric_writer_round_trip)
{
	enum { RUNS = 3, KEYS = 5, POINTS = 6000 };
	static const char *const keys[KEYS] = {"train.loss", "train.acc", "val.loss", "val.acc", "lr"};
	jm_store *s = open_ok(home, 0);
	sqlite3 *db = jm_store_db(s);
	int64_t runs[RUNS];
	for (int r = 0; r < RUNS; r++)
		runs[r] = new_run(s);
	jm_metric_writer *w;
	jm_err err = {0};
	cr_assert_eq(jm_metric_writer_open(&w, s, 257, 60000, &err), 0, "%s", err.msg);

	expect e[RUNS][KEYS] = {{{0}}};
	int64_t steps[RUNS][KEYS] = {{0}};
	double *logged = malloc(POINTS * sizeof *logged);
	int *lr = malloc(POINTS * sizeof *lr), *lk = malloc(POINTS * sizeof *lk);
	jm_rng rng;
	jm_rng_seed(&rng, 42);
	for (int i = 0; i < POINTS; i++) {
		int r = (int)jm_rng_below(&rng, RUNS), k = (int)jm_rng_below(&rng, KEYS);
		double v = jm_rng_normal(&rng) * 10.0;
		if (jm_rng_below(&rng, 97) == 0)
			v = NAN;
		/* key copied: log it from a scratch buffer that is then clobbered */
		char buf[32];
		snprintf(buf, sizeof buf, "%s", keys[k]);
		int64_t step = steps[r][k]++;
		cr_assert_eq(jm_metric_log(w, runs[r], buf, step, v), 0);
		memset(buf, 'x', sizeof buf - 1);
		logged[i] = v;
		lr[i] = r;
		lk[i] = k;
		expect *x = &e[r][k];
		x->count++;
		x->last = v;
		x->last_step = step;
		if (!isnan(v)) {
			if (!x->has_range || v < x->min)
				x->min = v;
			if (!x->has_range || v > x->max)
				x->max = v;
			x->has_range = 1;
		}
	}
	/* 6000 / 257: 23 commits done, 89 points still buffered. */
	cr_assert_eq(q_int(db, "SELECT count(*) FROM metrics"), (POINTS / 257) * 257);
	cr_assert_eq(jm_metric_writer_close(w, &err), 0, "%s", err.msg);
	cr_assert_eq(q_int(db, "SELECT count(*) FROM metrics"), POINTS);

	for (int r = 0; r < RUNS; r++)
		for (int k = 0; k < KEYS; k++)
			check_summary(db, runs[r], keys[k], &e[r][k]);
	cr_assert_eq(q_int(db, "SELECT count(*) FROM metric_summary"), RUNS * KEYS);

	/* Every point, per (run, key) in logging order (steps increase). */
	sqlite3_stmt *st;
	cr_assert_eq(sqlite3_prepare_v2(db, "SELECT step, value, wall FROM metrics "
					    "WHERE run = ?1 AND key = ?2 ORDER BY step",
					-1, &st, NULL),
		     SQLITE_OK);
	double now = (double)time(NULL);
	int seen = 0;
	for (int r = 0; r < RUNS; r++) {
		for (int k = 0; k < KEYS; k++) {
			sqlite3_bind_int64(st, 1, runs[r]);
			sqlite3_bind_text(st, 2, keys[k], -1, SQLITE_STATIC);
			int64_t step = 0;
			for (int i = 0; i < POINTS; i++) {
				if (lr[i] != r || lk[i] != k)
					continue;
				cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
				cr_assert_eq(sqlite3_column_int64(st, 0), step++);
				if (isnan(logged[i]))
					cr_assert_eq(sqlite3_column_type(st, 1), SQLITE_NULL);
				else
					cr_assert_eq(sqlite3_column_double(st, 1), logged[i]);
				cr_assert(fabs(sqlite3_column_double(st, 2) - now) < 60.0,
					  "wall is the logging time");
				seen++;
			}
			cr_assert_eq(sqlite3_step(st), SQLITE_DONE);
			sqlite3_reset(st);
		}
	}
	cr_assert_eq(seen, POINTS);
	sqlite3_finalize(st);
	/* One span per (run, key) per commit, 24 commits; spans are disjoint. */
	cr_assert_leq(q_int(db, "SELECT count(*) FROM metric_spans"), 24 * RUNS * KEYS);
	cr_assert_eq(q_int(db, "SELECT sum(last - first + 1) FROM metric_spans"), POINTS);
	cr_assert_eq(q_int(db, "SELECT count(*) FROM metric_points"), POINTS);
	cr_assert_eq(q_int(db, "SELECT count(*) FROM metric_spans a JOIN metric_spans b "
			       "ON a.first <= b.last AND b.first <= a.last "
			       "AND (a.run, a.key, a.first) != (b.run, b.key, b.first)"),
		     0);
	free(logged);
	free(lr);
	free(lk);
	jm_store_close(s);
}

Test(store, metric_summary_merges_across_flushes_and_writers)
{
	jm_store *s = open_ok(home, 0);
	int64_t run = new_run(s);
	jm_err err = {0};
	jm_metric_writer *w;
	cr_assert_eq(jm_metric_writer_open(&w, s, 0, 0, &err), 0);
	cr_assert_eq(jm_metric_log(w, run, "loss", 0, NAN), 0);
	cr_assert_eq(jm_metric_writer_flush(w, &err), 0);
	expect e = {.count = 1, .last = NAN, .last_step = 0};
	check_summary(jm_store_db(s), run, "loss", &e);
	cr_assert_eq(jm_metric_log(w, run, "loss", 1, 5.0), 0);
	cr_assert_eq(jm_metric_log(w, run, "loss", 2, 3.0), 0);
	cr_assert_eq(jm_metric_writer_close(w, &err), 0);
	e = (expect){.count = 3, .last = 3.0, .last_step = 2, .min = 3.0, .max = 5.0, .has_range = 1};
	check_summary(jm_store_db(s), run, "loss", &e);
	/* A second writer (a resumed run) extends the same summary. */
	cr_assert_eq(jm_metric_writer_open(&w, s, 0, 0, &err), 0);
	cr_assert_eq(jm_metric_log(w, run, "loss", 3, 9.5), 0);
	cr_assert_eq(jm_metric_log(w, run, "loss", 4, -INFINITY), 0);
	cr_assert_eq(jm_metric_log(w, run, "loss", 5, 4.0), 0);
	cr_assert_eq(jm_metric_writer_close(w, &err), 0);
	e = (expect){.count = 6, .last = 4.0, .last_step = 5, .min = -INFINITY, .max = 9.5,
		     .has_range = 1};
	check_summary(jm_store_db(s), run, "loss", &e);
	jm_store_close(s);
}

Test(store, metric_writer_flushes_by_count)
{
	jm_store *s = open_ok(home, 0);
	int64_t run = new_run(s);
	jm_err err = {0};
	jm_metric_writer *w;
	cr_assert_eq(jm_metric_writer_open(&w, s, 100, 60000, &err), 0);
	/* A separate reader sees only committed points. */
	char *path = jm_xasprintf("%s/jianmo.db", home);
	sqlite3 *reader = raw_open(path);
	for (int i = 0; i < 99; i++)
		cr_assert_eq(jm_metric_log(w, run, "loss", i, i * 0.5), 0);
	cr_assert_eq(q_int(reader, "SELECT count(*) FROM metrics"), 0);
	cr_assert_eq(jm_metric_log(w, run, "loss", 99, 1.0), 0);
	cr_assert_eq(q_int(reader, "SELECT count(*) FROM metrics"), 100);
	for (int i = 100; i < 250; i++)
		cr_assert_eq(jm_metric_log(w, run, "loss", i, 1.0), 0);
	cr_assert_eq(q_int(reader, "SELECT count(*) FROM metrics"), 200);
	cr_assert_eq(q_int(reader, "SELECT count FROM metric_summary"), 200);
	cr_assert_eq(jm_metric_writer_flush(w, &err), 0);
	cr_assert_eq(q_int(reader, "SELECT count(*) FROM metrics"), 250);
	cr_assert_eq(jm_metric_writer_flush(w, &err), 0, "an empty flush is fine");
	cr_assert_eq(jm_metric_writer_close(w, &err), 0);
	cr_assert_eq(q_int(reader, "SELECT count FROM metric_summary"), 250);
	sqlite3_close(reader);
	free(path);
	jm_store_close(s);
}

Test(store, metric_writer_flushes_by_time)
{
	jm_store *s = open_ok(home, 0);
	int64_t run = new_run(s);
	jm_err err = {0};
	jm_metric_writer *w;
	cr_assert_eq(jm_metric_writer_open(&w, s, 1000000, 50, &err), 0);
	sqlite3 *db = jm_store_db(s);
	cr_assert_eq(jm_metric_log(w, run, "loss", 0, 1.0), 0);
	cr_assert_eq(jm_metric_log(w, run, "loss", 1, 2.0), 0);
	cr_assert_eq(q_int(db, "SELECT count(*) FROM metrics"), 0);
	struct timespec ts = {0, 80 * 1000 * 1000};
	nanosleep(&ts, NULL);
	/* The age is checked when a point is logged: this one commits all three. */
	cr_assert_eq(jm_metric_log(w, run, "loss", 2, 3.0), 0);
	cr_assert_eq(q_int(db, "SELECT count(*) FROM metrics"), 3);
	cr_assert_eq(jm_metric_log(w, run, "loss", 3, 4.0), 0);
	cr_assert_eq(q_int(db, "SELECT count(*) FROM metrics"), 3);
	cr_assert_eq(jm_metric_writer_close(w, &err), 0);
	cr_assert_eq(q_int(db, "SELECT count(*) FROM metrics"), 4);
	jm_store_close(s);
}

Test(store, metric_writer_refuses_bad_points)
{
	jm_store *s = open_ok(home, 0);
	int64_t run = new_run(s);
	jm_err err = {0};
	jm_metric_writer *w;
	cr_assert_eq(jm_metric_writer_open(&w, s, 0, 0, &err), 0);
	cr_assert_eq(jm_metric_log(w, run, "loss", 0, 1.0), 0);
	cr_assert_eq(jm_metric_log(w, 999, "loss", 0, 1.0), -1);
	cr_assert_eq(jm_metric_log(w, run, "", 1, 1.0), -1);
	cr_assert_eq(jm_metric_log(w, run, "loss", 1, 2.0), 0);
	/* The good points commit; the flush reports the first refusal once. */
	char *want = jm_xasprintf("no run \"999\" in %s", home);
	cr_assert_eq(jm_metric_writer_flush(w, &err), -1);
	cr_assert_str_eq(err.msg, want);
	cr_assert_eq(err.code, JM_EXIT_INPUT);
	cr_assert_eq(q_int(jm_store_db(s), "SELECT count(*) FROM metrics"), 2);
	cr_assert_eq(jm_metric_writer_flush(w, &err), 0);
	cr_assert_eq(jm_metric_writer_close(w, &err), 0);
	cr_assert_eq(jm_metric_writer_close(NULL, &err), 0);
	free(want);
	jm_store_close(s);
}

/* A commit that fails keeps every point and aggregate buffered; automatic
 * retries pause, an explicit flush retries at once. */
Test(store, metric_writer_keeps_points_when_a_commit_fails)
{
	jm_store *s = open_ok(home, 0);
	sqlite3 *db = jm_store_db(s);
	int64_t run = new_run(s);
	jm_err err = {0};
	jm_metric_writer *w;
	cr_assert_eq(jm_metric_writer_open(&w, s, 10, 60000, &err), 0);
	for (int i = 0; i < 10; i++)
		cr_assert_eq(jm_metric_log(w, run, "loss", i, (double)i), 0);
	exec_ok(db, "CREATE TRIGGER broken BEFORE INSERT ON metric_spans "
		    "BEGIN SELECT RAISE(ABORT, 'disk on fire'); END");
	for (int i = 10; i < 19; i++)
		cr_assert_eq(jm_metric_log(w, run, "loss", i, (double)i), 0);
	cr_assert_eq(jm_metric_log(w, run, "loss", 19, -5.0), -1, "the commit fails");
	cr_assert_eq(jm_metric_log(w, run, "loss", 20, 50.0), 0, "no retry right away");
	cr_assert_eq(jm_metric_writer_flush(w, &err), -1);
	cr_assert(strstr(err.msg, "disk on fire"), "got \"%s\"", err.msg);
	cr_assert_eq(err.code, JM_EXIT_FAIL);
	cr_assert_eq(q_int(db, "SELECT count(*) FROM metrics"), 10);
	exec_ok(db, "DROP TRIGGER broken");
	cr_assert_eq(jm_metric_writer_flush(w, &err), 0, "%s", err.msg);
	cr_assert_eq(jm_metric_writer_close(w, &err), 0);
	cr_assert_eq(q_int(db, "SELECT count(*) FROM metrics"), 21);
	expect e = {.count = 21, .last = 50.0, .last_step = 20, .min = -5.0, .max = 50.0,
		    .has_range = 1};
	check_summary(db, run, "loss", &e);
	jm_store_close(s);
}

/* The metrics view: inserts through it open or extend spans; deleting a
 * run removes its spans and their points, and nothing else. */
Test(store, metrics_view_insert_and_cascade)
{
	jm_store *s = open_ok(home, 0);
	sqlite3 *db = jm_store_db(s);
	int64_t a = new_run(s), b = new_run(s);
	jm_err err = {0};
	jm_metric_writer *w;
	cr_assert_eq(jm_metric_writer_open(&w, s, 0, 0, &err), 0);
	for (int i = 0; i < 100; i++) {
		cr_assert_eq(jm_metric_log(w, a, "loss", i, 1.0 / (i + 1)), 0);
		cr_assert_eq(jm_metric_log(w, b, "loss", i, 2.0), 0);
	}
	cr_assert_eq(jm_metric_writer_close(w, &err), 0);

	/* An import appending to a's history in order extends one span. */
	exec_ok(db, "INSERT INTO metrics(run, key, step, value, wall) VALUES "
		    "(%lld, 'acc', 0, 0.5, 1), (%lld, 'acc', 1, 0.6, 2), (%lld, 'acc', 2, NULL, 3)",
		(long long)a, (long long)a, (long long)a);
	cr_assert_eq(q_int(db, "SELECT count(*) FROM metric_spans WHERE run = %lld AND key = 'acc'",
			   (long long)a),
		     1);
	cr_assert_eq(q_int(db, "SELECT count(*) FROM metrics WHERE run = %lld AND key = 'acc' AND "
			       "value IS NULL",
			   (long long)a),
		     1);
	cr_assert_eq(q_int(db, "SELECT sum(step) FROM metrics WHERE run = %lld AND key = 'acc'",
			   (long long)a),
		     3);
	cr_assert_eq(q_int(db, "SELECT count(*) FROM metrics"), 203);

	exec_ok(db, "DELETE FROM runs WHERE id = %lld", (long long)a);
	cr_assert_eq(q_int(db, "SELECT count(*) FROM metric_spans WHERE run = %lld", (long long)a), 0);
	cr_assert_eq(q_int(db, "SELECT count(*) FROM metric_summary WHERE run = %lld", (long long)a), 0);
	cr_assert_eq(q_int(db, "SELECT count(*) FROM metric_points"), 100, "only b's points remain");
	cr_assert_eq(q_int(db, "SELECT count(*) FROM metrics WHERE run = %lld AND value = 2.0",
			   (long long)b),
		     100);

	/* Points logged after the deletion get fresh, contiguous ids again. */
	cr_assert_eq(jm_metric_writer_open(&w, s, 0, 0, &err), 0);
	for (int i = 100; i < 110; i++)
		cr_assert_eq(jm_metric_log(w, b, "loss", i, 3.0), 0);
	cr_assert_eq(jm_metric_writer_close(w, &err), 0);
	cr_assert_eq(q_int(db, "SELECT count(*) FROM metrics WHERE run = %lld", (long long)b), 110);
	cr_assert_eq(q_int(db, "SELECT max(step) FROM metrics WHERE run = %lld", (long long)b), 109);
	jm_store_close(s);
}

/* Two processes logging at once (two runs of a search): their commits
 * interleave, and each run's history still comes back whole and in order. */
Test(store, concurrent_writers_keep_histories_apart)
{
	enum { WRITERS = 2, N = 6000 };
	jm_store *s = open_ok(home, 0);
	int64_t runs[WRITERS];
	for (int i = 0; i < WRITERS; i++)
		runs[i] = new_run(s);
	pid_t pids[WRITERS];
	for (int c = 0; c < WRITERS; c++) {
		pids[c] = fork();
		cr_assert_neq(pids[c], -1);
		if (pids[c] == 0) {
			jm_store *cs;
			jm_metric_writer *w;
			jm_err err = {0};
			if (jm_store_open(&cs, home, 0, &err) < 0 ||
			    jm_metric_writer_open(&w, cs, 97, 5, &err) < 0)
				_exit(10);
			for (int i = 0; i < N; i++)
				if (jm_metric_log(w, runs[c], i % 2 ? "loss" : "acc", i / 2,
						  (double)(c * N + i)) < 0)
					_exit(11);
			_exit(jm_metric_writer_close(w, &err) < 0 ? 12 : 0);
		}
	}
	for (int c = 0; c < WRITERS; c++) {
		int status;
		cr_assert_eq(waitpid(pids[c], &status, 0), pids[c]);
		cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "writer %d: %d", c, status);
	}
	sqlite3 *db = jm_store_db(s);
	cr_assert_gt(q_int(db, "SELECT count(*) FROM metric_spans"), 2 * 2 * (N / 97),
		     "one span per key per commit");
	for (int c = 0; c < WRITERS; c++) {
		for (int k = 0; k < 2; k++) {
			sqlite3_stmt *st;
			cr_assert_eq(sqlite3_prepare_v2(db, "SELECT step, value FROM metrics "
							    "WHERE run = ?1 AND key = ?2 ORDER BY step",
							-1, &st, NULL),
				     SQLITE_OK);
			sqlite3_bind_int64(st, 1, runs[c]);
			sqlite3_bind_text(st, 2, k ? "loss" : "acc", -1, SQLITE_STATIC);
			int i = k;
			while (sqlite3_step(st) == SQLITE_ROW) {
				cr_assert_eq(sqlite3_column_int64(st, 0), i / 2);
				cr_assert_eq(sqlite3_column_double(st, 1), (double)(c * N + i));
				i += 2;
			}
			cr_assert_eq(i, N + k, "writer %d key %d: all points in logging order", c, k);
			sqlite3_finalize(st);
		}
	}
	jm_store_close(s);
}

/* ---- crash detection ---------------------------------------------------------- */

/* The child: open the store, create a run, log FLUSHED points and flush
 * them, log a few more that stay buffered, report the run id, and wait to
 * be killed.  Uses _exit so Criterion's state is never touched. */
enum { FLUSHED = 2500, BUFFERED = 10 };

static void crash_child(int fd)
{
	jm_store *s;
	jm_metric_writer *w;
	jm_err err = {0};
	int64_t run = -1;
	jm_run_spec spec = {.kind = "run", .seed = 3, .device = "cpu"};
	if (jm_store_open(&s, home, 0, &err) < 0 || jm_store_run_create(s, &spec, &run, &err) < 0 ||
	    jm_metric_writer_open(&w, s, 1000, 60000, &err) < 0)
		_exit(10);
	for (int i = 0; i < FLUSHED; i++)
		if (jm_metric_log(w, run, i % 2 ? "loss" : "acc", i / 2, (double)i) < 0)
			_exit(11);
	if (jm_metric_writer_flush(w, &err) < 0)
		_exit(12);
	for (int i = 0; i < BUFFERED; i++)
		jm_metric_log(w, run, "loss", 100000 + i, 0.0);
	if (write(fd, &run, sizeof run) != sizeof run)
		_exit(13);
	for (;;)
		pause();
}

Test(store, crashed_run_is_marked_and_points_kept)
{
	jm_store_close(open_ok(home, 0));
	int fds[2];
	cr_assert_eq(pipe(fds), 0);
	pid_t pid = fork();
	cr_assert_neq(pid, -1);
	if (pid == 0) {
		close(fds[0]);
		crash_child(fds[1]);
	}
	close(fds[1]);
	int64_t run = 0;
	cr_assert_eq(read(fds[0], &run, sizeof run), (ssize_t)sizeof run, "the child failed");
	close(fds[0]);

	/* While the child lives, opening the store leaves its run alone. */
	jm_store *s = open_ok(home, 0);
	char *v = q_text(jm_store_db(s), "SELECT status FROM runs WHERE id = %lld", (long long)run);
	cr_assert_str_eq(v, "running");
	free(v);
	jm_store_close(s);

	cr_assert_eq(kill(pid, SIGKILL), 0);
	int status;
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

	/* A read-only open does not change anything. */
	s = open_ok(home, JM_STORE_READONLY);
	cr_assert_str_eq((v = q_text(jm_store_db(s), "SELECT status FROM runs WHERE id = %lld",
				     (long long)run)),
			 "running");
	free(v);
	jm_store_close(s);

	s = open_ok(home, 0);
	sqlite3 *db = jm_store_db(s);
	char host[256], *want;
	host_name(host, sizeof host);
	want = jm_xasprintf("process %d on %s is gone", (int)pid, host);
	cr_assert_str_eq((v = q_text(db, "SELECT status FROM runs WHERE id = %lld", (long long)run)),
			 "crashed");
	free(v);
	cr_assert_str_eq((v = q_text(db, "SELECT error FROM runs WHERE id = %lld", (long long)run)),
			 want);
	free(v);
	cr_assert_eq(q_int(db, "SELECT ended IS NOT NULL FROM runs WHERE id = %lld", (long long)run), 1);
	/* it ended when it last logged, not when the crash was seen */
	cr_assert_eq(q_int(db, "SELECT ended = (SELECT max(wall) FROM metrics WHERE run = %lld) "
			       "FROM runs WHERE id = %lld", (long long)run, (long long)run), 1);
	cr_assert_eq(q_int(db, "SELECT count(*) FROM metrics WHERE run = %lld", (long long)run), FLUSHED);
	cr_assert_eq(q_int(db, "SELECT sum(count) FROM metric_summary WHERE run = %lld", (long long)run),
		     FLUSHED);
	cr_assert_eq(q_int(db, "SELECT max(step) FROM metrics WHERE key = 'loss'"), (FLUSHED - 1) / 2);
	char *ok = q_text(db, "PRAGMA integrity_check");
	cr_assert_str_eq(ok, "ok");
	free(ok);
	free(want);
	jm_store_close(s);
}

/* Start time of a live process, from /proc (the test fakes owners with it). */
static int64_t start_ticks(pid_t pid)
{
	char path[64], buf[1024];
	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "r");
	cr_assert_not_null(f);
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	char *p = strrchr(buf, ')') + 2;
	for (int field = 3; field < 22; field++)
		p = strchr(p, ' ') + 1;
	return strtoll(p, NULL, 10);
}

Test(store, crash_check_compares_host_pid_start_and_boot)
{
	jm_store *s = open_ok(home, 0);
	int64_t mine = new_run(s), reused = new_run(s), alive = new_run(s), remote = new_run(s),
		rebooted = new_run(s);
	pid_t parent = getppid();
	sqlite3 *db = jm_store_db(s);
	/* A live pid whose start time differs from the recorded one: reused. */
	exec_ok(db, "UPDATE runs SET pid = %d, proc_start = %lld WHERE id = %lld", (int)parent,
		(long long)start_ticks(parent) + 1, (long long)reused);
	/* The same live pid with its real start time: still running. */
	exec_ok(db, "UPDATE runs SET pid = %d, proc_start = %lld WHERE id = %lld", (int)parent,
		(long long)start_ticks(parent), (long long)alive);
	/* Another host: cannot be checked from here, left alone. */
	exec_ok(db, "UPDATE runs SET host = 'gpu-box-7', pid = 1 WHERE id = %lld", (long long)remote);
	/* Recorded under another boot: gone even though the pid is ours. */
	exec_ok(db, "UPDATE runs SET boot_id = 'not-this-boot' WHERE id = %lld", (long long)rebooted);
	/* Running here with no process at all (a bundle imported as running). */
	int64_t ownerless = new_run(s);
	exec_ok(db, "UPDATE runs SET pid = NULL, proc_start = NULL WHERE id = %lld",
		(long long)ownerless);

	jm_store *again = open_ok(home, 0);
	char *v;
	static const struct {
		const char *what;
		const char *status;
	} want[] = {{"mine", "running"}, {"reused", "crashed"}, {"alive", "running"},
		    {"remote", "running"}, {"rebooted", "crashed"}};
	int64_t ids[] = {mine, reused, alive, remote, rebooted};
	for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
		v = q_text(db, "SELECT status FROM runs WHERE id = %lld", (long long)ids[i]);
		cr_assert_str_eq(v, want[i].status, "%s", want[i].what);
		free(v);
	}
	char host[256];
	host_name(host, sizeof host);
	char *msg = jm_xasprintf("process %d on %s is gone", (int)parent, host);
	cr_assert_str_eq((v = q_text(db, "SELECT error FROM runs WHERE id = %lld", (long long)reused)),
			 msg);
	free(v);
	free(msg);
	msg = jm_xasprintf("crashed: no process on %s owns it", host);
	cr_assert_str_eq((v = q_text(db, "SELECT status || ': ' || error FROM runs WHERE id = %lld",
				     (long long)ownerless)),
			 msg);
	free(v);
	free(msg);

	/* Taking over a run whose owner is alive is refused. */
	jm_err err = {0};
	char *refusal = jm_xasprintf("run %lld is still running (process %d on %s)", (long long)alive,
				     (int)parent, host);
	cr_assert_eq(jm_store_run_reopen(s, alive, NULL, &err), -1);
	cr_assert_str_eq(err.msg, refusal);
	cr_assert_eq(err.code, JM_EXIT_INPUT);
	free(refusal);
	/* A crashed one is taken over. */
	cr_assert_eq(jm_store_run_reopen(s, reused, NULL, &err), 0, "%s", err.msg);
	cr_assert_eq(q_int(db, "SELECT pid FROM runs WHERE id = %lld", (long long)reused), getpid());
	jm_store_close(again);
	jm_store_close(s);
}

/* ---- readers never see a lock --------------------------------------------------- */

Test(store, reader_polling_while_writer_commits_sees_no_busy)
{
	jm_store *s = open_ok(home, 0);
	int64_t run = new_run(s);
	jm_store_close(s);
	int fds[2];
	cr_assert_eq(pipe(fds), 0);
	pid_t pid = fork();
	cr_assert_neq(pid, -1);
	if (pid == 0) {
		/* Writer: ~1 s of continuous logging with small, frequent commits. */
		jm_store *cs;
		jm_metric_writer *w;
		jm_err err = {0};
		close(fds[0]);
		if (jm_store_open(&cs, home, 0, &err) < 0 || jm_metric_writer_open(&w, cs, 500, 10, &err) < 0)
			_exit(10);
		char go = 1;
		if (write(fds[1], &go, 1) != 1)
			_exit(11);
		time_t end = time(NULL) + 2;
		for (int64_t i = 0; time(NULL) < end; i++)
			if (jm_metric_log(w, run, i % 3 ? "loss" : "acc", i, (double)i) < 0)
				_exit(12);
		if (jm_metric_writer_close(w, &err) < 0)
			_exit(13);
		if (jm_store_run_set_status(cs, run, JM_RUN_DONE, NULL, &err) < 0)
			_exit(14);
		jm_store_close(cs);
		_exit(0);
	}
	close(fds[1]);
	char go;
	cr_assert_eq(read(fds[0], &go, 1), 1);
	close(fds[0]);

	jm_store *r = open_ok(home, JM_STORE_READONLY);
	sqlite3 *db = jm_store_db(r);
	sqlite3_stmt *runs, *sums;
	cr_assert_eq(sqlite3_prepare_v2(db, "SELECT id, status FROM runs", -1, &runs, NULL), SQLITE_OK);
	cr_assert_eq(sqlite3_prepare_v2(db, "SELECT key, last, count FROM metric_summary", -1, &sums,
					NULL),
		     SQLITE_OK);
	int polls = 0, busy = 0, done = 0;
	int64_t last_count = 0, grew = 0;
	while (!done) {
		int rc = sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
		while ((rc = sqlite3_step(runs)) == SQLITE_ROW)
			done = !strcmp((const char *)sqlite3_column_text(runs, 1), "done");
		busy += rc != SQLITE_DONE;
		sqlite3_reset(runs);
		int64_t total = 0;
		while ((rc = sqlite3_step(sums)) == SQLITE_ROW)
			total += sqlite3_column_int64(sums, 2);
		busy += rc != SQLITE_DONE;
		sqlite3_reset(sums);
		busy += sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK;
		grew += total > last_count;
		last_count = total;
		polls++;
		struct timespec ts = {0, 2 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	sqlite3_finalize(runs);
	sqlite3_finalize(sums);
	int status;
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "writer exit %d", WEXITSTATUS(status));
	cr_assert_eq(busy, 0, "%d of %d polls hit a busy or locked database", busy, polls);
	cr_assert_gt(polls, 50);
	cr_assert_gt(grew, 10, "the reader saw the summary move while the writer ran");
	cr_assert_eq(q_int(db, "SELECT count(*) FROM metrics"),
		     q_int(db, "SELECT sum(count) FROM metric_summary"));
	jm_store_close(r);
}

/* --resume rolls a run's metrics back to its checkpoint: points past the
 * step go, summaries are rebuilt, other runs are untouched, and logging
 * afterwards never lands in another run's history. */
Test(store, metrics_truncate_for_resume)
{
	jm_store *s = open_ok(home, 0);
	int64_t a = new_run(s), b = new_run(s);
	jm_err err = {0};
	jm_metric_writer *w;
	cr_assert_eq(jm_metric_writer_open(&w, s, 0, 0, &err), 0, "%s", err.msg);
	for (int i = 1; i <= 100; i++) {
		cr_assert_eq(jm_metric_log(w, b, "loss", i, 1000.0 + i), 0);
		cr_assert_eq(jm_metric_log(w, a, "loss", i, (double)i), 0);
		if (i % 10 == 0)
			cr_assert_eq(jm_metric_log(w, a, "val_acc", i, i / 100.0), 0);
	}
	cr_assert_eq(jm_metric_writer_flush(w, &err), 0, "%s", err.msg);

	cr_assert_eq(jm_store_metrics_truncate(s, a, 40, &err), 0, "%s", err.msg);
	sqlite3 *db = jm_store_db(s);
	cr_expect_eq(q_int(db, "SELECT count(*) FROM metrics WHERE run = %lld AND key = 'loss'", a), 40);
	cr_expect_eq(q_int(db, "SELECT max(step) FROM metrics WHERE run = %lld", a), 40);
	cr_expect_eq(q_int(db, "SELECT count(*) FROM metrics WHERE run = %lld", b), 100);
	cr_expect_eq(q_int(db, "SELECT count FROM metric_summary WHERE run = %lld AND key = 'loss'", a), 40);
	cr_expect_eq(q_int(db, "SELECT last FROM metric_summary WHERE run = %lld AND key = 'loss'", a), 40);
	cr_expect_eq(q_int(db, "SELECT last_step FROM metric_summary WHERE run = %lld AND key = 'val_acc'", a), 40);
	cr_expect_eq(q_int(db, "SELECT max FROM metric_summary WHERE run = %lld AND key = 'loss'", b), 1100);

	/* logging resumes cleanly, into the right run */
	for (int i = 41; i <= 60; i++)
		cr_assert_eq(jm_metric_log(w, a, "loss", i, -(double)i), 0);
	cr_assert_eq(jm_metric_writer_close(w, &err), 0, "%s", err.msg);
	cr_expect_eq(q_int(db, "SELECT count(*) FROM metrics WHERE run = %lld AND key = 'loss'", a), 60);
	cr_expect_eq(q_int(db, "SELECT count(*) FROM metrics WHERE run = %lld", b), 100);
	cr_expect_eq(q_int(db, "SELECT min(value) FROM metrics WHERE run = %lld", b), 1001);
	cr_expect_eq(q_int(db, "SELECT last FROM metric_summary WHERE run = %lld AND key = 'loss'", a), -60);

	/* a run that does not exist */
	cr_expect_eq(jm_store_metrics_truncate(s, 999, 0, &err), -1);
	char *want = jm_xasprintf("no run \"999\" in %s", home);
	cr_expect_str_eq(err.msg, want);
	free(want);
	jm_store_close(s);
}

/* A store on a read-only file system (a snapshot, a read-only export) is
 * read as it is (no -shm can be made beside it), and a change is refused
 * saying why; a full disk is named as such.  Needs root for the mounts. */
Test(store, a_read_only_or_full_file_system)
{
	char *mnt = jm_xasprintf("%s/fs", tmp);
	cr_assert_eq(mkdir(mnt, 0777), 0);
	char *out, *err;
	if (geteuid() != 0 || jt_sh(tmp, &out, &err, "mount -t tmpfs -o size=1m tmpfs fs") != 0) {
		free(mnt);
		cr_skip_test("SKIPPED: mounting a tmpfs needs root");
	}
	free(out), free(err);
	char *h = jm_xasprintf("%s/.jianmo", mnt);
	jm_store *s = open_ok(h, 0);
	int64_t run = new_run(s);
	jm_err done = {0};
	cr_assert_eq(jm_store_run_set_status(s, run, JM_RUN_DONE, NULL, &done), 0, "%s", done.msg);
	jm_store_close(s);
	cr_assert_eq(jt_sh(tmp, NULL, NULL, "mount -o remount,ro fs"), 0);

	s = open_ok(h, JM_STORE_NOCREATE);
	cr_expect_eq(q_int(jm_store_db(s), "SELECT count(*) FROM runs WHERE id = %lld",
			   (long long)run), 1);
	jm_err e = {0};
	cr_expect_eq(jm_store_check_writable(s, &e), -1);
	cr_expect(strstr(e.msg, "jianmo.db: on a read-only file system: it can be read, not "
				"changed"), "%s", e.msg);
	jm_store_close(s);
	s = open_ok(h, 0); /* a command that would write opens it too, to say so */
	cr_expect_eq(jm_store_run_set_status(s, run, JM_RUN_DONE, NULL, &e), -1);
	cr_expect(strstr(e.msg, "on a read-only file system"), "%s", e.msg);
	jm_store_close(s);
	/* through the binary: runs reads it; rm says why it cannot */
	int rc = jt_sh(tmp, &out, &err, "'%s' --home fs/.jianmo runs", jt_bin());
	cr_expect_eq(rc, 0, "runs: exit %d\n%s", rc, err);
	cr_expect(strstr(out, "ID "), "%s", out);
	free(out), free(err);
	rc = jt_sh(tmp, &out, &err, "'%s' --home fs/.jianmo rm --yes %lld", jt_bin(), (long long)run);
	cr_expect_eq(rc, 1, "rm: exit %d\n%s", rc, err);
	cr_expect(strstr(err, "jianmo.db: on a read-only file system: it can be read, not changed"),
		  "%s", err);
	free(out), free(err);

	/* full: SQLite's "disk I/O error" gets the reason */
	cr_assert_eq(jt_sh(tmp, NULL, NULL, "mount -o remount,rw fs && rm -f fs/.jianmo/jianmo.db-shm "
					    "fs/.jianmo/jianmo.db-wal && { dd if=/dev/zero of=fs/fill "
					    "bs=4k 2>/dev/null; true; }"), 0);
	jm_store *t = NULL;
	memset(&e, 0, sizeof e);
	cr_expect_eq(jm_store_open(&t, h, JM_STORE_NOCREATE, &e), -1, "opened on a full disk");
	cr_expect(strstr(e.msg, "disk I/O error (no space left on its file system"), "%s", e.msg);
	jm_store_close(t);
	jt_sh(tmp, NULL, NULL, "umount fs");
	free(h);
	free(mnt);
}

/* ---- schema version 2: trial numbers, time run across segments ---------------- */

/* A store as schema version 1 left it, made from store/schema.sql alone: a
 * search (run 1) whose trials were 2, 3 and 4 until 2 was deleted, and a
 * plain run 5 that ran from 2000 to 2060. */
static void make_v1_store(const char *h)
{
	cr_assert_eq(jt_sh(NULL, NULL, NULL, "mkdir -p '%s'", h), 0);
	char *sql_path = jm_xasprintf("%s/store/schema.sql", jt_srcdir());
	char *schema = jt_read(sql_path, NULL);
	cr_assert_not_null(schema, "%s", sql_path);
	char *path = jm_xasprintf("%s/jianmo.db", h);
	sqlite3 *db = raw_open(path);
	exec_ok(db, "%s", schema);
	exec_ok(db, "PRAGMA user_version = 1");
	exec_ok(db, "INSERT INTO runs(id, kind, parent, status, started, ended, created) VALUES "
		    "(1, 'search', NULL, 'done', 1000, 1100, 1000), "
		    "(2, 'trial', 1, 'done', 1001, 1010, 1001), "
		    "(3, 'trial', 1, 'done', 1011, 1020, 1011), "
		    "(4, 'trial', 1, 'failed', 1021, 1030, 1021), "
		    "(5, 'run', NULL, 'stopped', 2000, 2060, 2000)");
	exec_ok(db, "DELETE FROM runs WHERE id = 2");
	sqlite3_close(db);
	free(path);
	free(schema);
	free(sql_path);
}

Test(store, a_v1_store_is_upgraded_with_its_trials_numbered)
{
	make_v1_store(home);
	jm_store *s = open_ok(home, JM_STORE_NOCREATE);
	sqlite3 *db = jm_store_db(s);
	cr_assert_eq(JM_STORE_SCHEMA_VERSION, 2);
	cr_assert_eq(q_int(db, "PRAGMA user_version"), 2);
	/* the numbers the trials had: their places, oldest first */
	char *v = q_text(db, "SELECT group_concat(id || ':' || IFNULL(number, '-'), ' ') FROM "
			     "(SELECT id, number FROM runs ORDER BY id)");
	cr_expect_str_eq(v, "1:- 3:1 4:2 5:-");
	free(v);
	cr_expect_eq(q_int(db, "SELECT count(*) FROM runs WHERE prior = 0 AND resumed IS NULL"), 4);
	/* a new trial goes on from the highest number; deleting one renumbers
	 * nothing */
	jm_run_spec spec = {.kind = "trial", .parent = 1};
	jm_err err = {0};
	int64_t id;
	cr_assert_eq(jm_store_run_create(s, &spec, &id, &err), 0, "%s", err.msg);
	cr_expect_eq(q_int(db, "SELECT number FROM runs WHERE id = %lld", (long long)id), 3);
	exec_ok(db, "DELETE FROM runs WHERE id = 3");
	cr_expect_eq(q_int(db, "SELECT number FROM runs WHERE id = 4"), 2);
	v = q_text(db, "PRAGMA integrity_check");
	cr_expect_str_eq(v, "ok");
	free(v);
	jm_store_close(s);
}

/* Opened read-only (the workbench's poller, a read-only file system) a v1
 * store is read as it is, never upgraded: the v2 columns are computed. */
Test(store, a_v1_store_opened_read_only_is_read_without_writing)
{
	make_v1_store(home);
	char *path = jm_xasprintf("%s/jianmo.db", home);
	size_t n0, n1;
	char *before = jt_read(path, &n0);
	jm_store *s = open_ok(home, JM_STORE_READONLY);
	sqlite3 *db = jm_store_db(s);
	char *v = q_text(db, "SELECT group_concat(id || ':' || IFNULL(number, '-') || ':' || prior || "
			     "':' || IFNULL(resumed, '-'), ' ') FROM (SELECT * FROM runs ORDER BY id)");
	cr_expect_str_eq(v, "1:-:0.0:- 3:1:0.0:- 4:2:0.0:- 5:-:0.0:-");
	free(v);
	cr_expect_eq(q_int(db, "PRAGMA main.user_version"), 1);
	jm_store_close(s);
	char *after = jt_read(path, &n1);
	cr_expect_eq(n0, n1);
	cr_expect_eq(memcmp(before, after, n0), 0, "the database file changed");
	free(before), free(after), free(path);
}

Test(store, trial_numbers_are_kept_when_trials_go)
{
	jm_store *s = open_ok(home, 0);
	sqlite3 *db = jm_store_db(s);
	jm_err err = {0};
	int64_t search, other, t[4], plain = new_run(s);
	jm_run_spec sp = {.kind = "search"};
	cr_assert_eq(jm_store_run_create(s, &sp, &search, &err), 0, "%s", err.msg);
	cr_assert_eq(jm_store_run_create(s, &sp, &other, &err), 0, "%s", err.msg);
	jm_run_spec tr = {.kind = "trial", .parent = search};
	for (int i = 0; i < 3; i++)
		cr_assert_eq(jm_store_run_create(s, &tr, &t[i], &err), 0, "%s", err.msg);
	for (int i = 0; i < 3; i++) {
		int number = 0;
		cr_assert_eq(jm_store_trial_number(s, t[i], &number, &err), 0, "%s", err.msg);
		cr_expect_eq(number, i + 1);
	}
	cr_expect_eq(q_int(db, "SELECT number IS NULL FROM runs WHERE id = %lld", (long long)plain), 1);
	exec_ok(db, "DELETE FROM runs WHERE id = %lld", (long long)t[0]);
	cr_assert_eq(jm_store_run_create(s, &tr, &t[3], &err), 0, "%s", err.msg);
	char *v = q_text(db, "SELECT group_concat(number, ',') FROM (SELECT number FROM runs WHERE "
			     "parent = %lld ORDER BY id)", (long long)search);
	cr_expect_str_eq(v, "2,3,4");
	free(v);
	/* the highest there has been goes too: the next is 5, not 4 again */
	exec_ok(db, "DELETE FROM runs WHERE id = %lld", (long long)t[3]);
	int64_t t5;
	cr_assert_eq(jm_store_run_create(s, &tr, &t5, &err), 0, "%s", err.msg);
	cr_expect_eq(q_int(db, "SELECT number FROM runs WHERE id = %lld", (long long)t5), 5);
	/* a search deleted takes its high-water mark with it */
	exec_ok(db, "DELETE FROM runs WHERE id = %lld", (long long)search);
	cr_expect_eq(q_int(db, "SELECT count(*) FROM trial_numbers WHERE search = %lld",
			   (long long)search),
		     0);
	/* another search's trials count from 1 */
	jm_run_spec tr2 = {.kind = "trial", .parent = other};
	int64_t o1;
	cr_assert_eq(jm_store_run_create(s, &tr2, &o1, &err), 0, "%s", err.msg);
	cr_expect_eq(q_int(db, "SELECT number FROM runs WHERE id = %lld", (long long)o1), 1);
	int number = 7;
	cr_expect_eq(jm_store_trial_number(s, plain, &number, &err), 0);
	cr_expect_eq(number, 0, "a run that is no trial has no number");
	jm_store_close(s);
}

/* --resume keeps the run's first start; its duration is the time it ran:
 * 60 s in its first segment, then from the resume on. */
Test(store, resume_keeps_the_first_start_and_counts_the_time_run)
{
	jm_store *s = open_ok(home, 0);
	sqlite3 *db = jm_store_db(s);
	jm_err err = {0};
	int64_t run = new_run(s);
	cr_assert_eq(jm_store_run_set_status(s, run, JM_RUN_STOPPED, NULL, &err), 0);
	double t0 = (double)time(NULL) - 100;
	exec_ok(db, "UPDATE runs SET started = %.1f, ended = %.1f WHERE id = %lld", t0, t0 + 60,
		(long long)run);
	cr_assert_eq(jm_store_run_reopen(s, run, NULL, &err), 0, "%s", err.msg);
	cr_expect_eq(q_int(db, "SELECT started = %.1f FROM runs WHERE id = %lld", t0, (long long)run), 1);
	cr_expect_eq(q_int(db, "SELECT prior = 60 FROM runs WHERE id = %lld", (long long)run), 1);
	cr_expect_eq(q_int(db, "SELECT resumed >= %.1f FROM runs WHERE id = %lld", t0 + 99,
			   (long long)run), 1);
	cr_assert_eq(jm_store_run_set_status(s, run, JM_RUN_DONE, NULL, &err), 0);
	cr_expect_eq(q_int(db, "SELECT prior + ended - resumed BETWEEN 60 AND 62 FROM runs WHERE "
			       "id = %lld", (long long)run), 1);
	/* a second resume adds the second segment */
	exec_ok(db, "UPDATE runs SET ended = resumed + 10 WHERE id = %lld", (long long)run);
	cr_assert_eq(jm_store_run_reopen(s, run, NULL, &err), 0, "%s", err.msg);
	cr_expect_eq(q_int(db, "SELECT prior = 70 AND started = %.1f FROM runs WHERE id = %lld", t0,
			   (long long)run), 1);
	/* a crash seen later ends the segment at its last point, or at the time
	 * it was seen when the segment logged none: a point logged before the
	 * resume does not count */
	exec_ok(db, "INSERT INTO metrics(run, key, step, value, wall) VALUES (%lld, 'loss', 1, 0.5, "
		    "%.1f)", (long long)run, t0 + 50);
	cr_assert_eq(jm_store_run_set_status(s, run, JM_RUN_CRASHED, NULL, &err), 0);
	cr_expect_eq(q_int(db, "SELECT ended >= resumed FROM runs WHERE id = %lld", (long long)run), 1);
	jm_store_close(s);
}

/* A queued trial starts afresh when its process takes it: its start is
 * then, not when it was queued. */
Test(store, a_queued_run_starts_when_it_is_taken)
{
	jm_store *s = open_ok(home, 0);
	sqlite3 *db = jm_store_db(s);
	jm_err err = {0};
	int64_t run = new_run(s);
	cr_assert_eq(jm_store_run_set_status(s, run, JM_RUN_QUEUED, NULL, &err), 0);
	double t0 = (double)time(NULL) - 1000;
	exec_ok(db, "UPDATE runs SET started = %.1f WHERE id = %lld", t0, (long long)run);
	cr_assert_eq(jm_store_run_reopen(s, run, NULL, &err), 0, "%s", err.msg);
	cr_expect_eq(q_int(db, "SELECT started > %.1f AND prior = 0 AND resumed IS NULL FROM runs "
			       "WHERE id = %lld", t0 + 990, (long long)run), 1);
	jm_store_close(s);
}

Test(store, tags_are_added_and_removed_all_or_nothing)
{
	jm_store *s = open_ok(home, 0);
	sqlite3 *db = jm_store_db(s);
	jm_err err = {0};
	int64_t run = new_run(s);
	const char *ok[] = {"paper", "best", "paper"};
	cr_assert_eq(jm_store_tags_add(s, run, ok, 3, &err), 0, "%s", err.msg);
	char *v = q_text(db, "SELECT group_concat(tag, ',') FROM (SELECT tag FROM tags ORDER BY tag)");
	cr_expect_str_eq(v, "best,paper");
	free(v);
	const char *bad[] = {"x", "two words"};
	cr_expect_eq(jm_store_tags_add(s, run, bad, 2, &err), -1);
	cr_expect_eq(err.code, JM_EXIT_INPUT);
	cr_expect_str_eq(err.msg, "tag \"two words\": no spaces or control characters in a tag");
	const char *gone[] = {"paper", "nope"};
	cr_expect_eq(jm_store_tags_remove(s, run, gone, 2, &err), -1);
	char *want = jm_xasprintf("run %lld has no tag \"nope\"", (long long)run);
	cr_expect_str_eq(err.msg, want);
	free(want);
	cr_expect_eq(q_int(db, "SELECT count(*) FROM tags"), 2, "nothing written on an error");
	cr_assert_eq(jm_store_tags_remove(s, run, gone, 1, &err), 0, "%s", err.msg);
	v = q_text(db, "SELECT group_concat(tag, ',') FROM tags");
	cr_expect_str_eq(v, "best");
	free(v);
	cr_expect_eq(jm_store_tags_add(s, 99, ok, 1, &err), -1);
	want = jm_xasprintf("no run \"99\" in %s", home);
	cr_expect_str_eq(err.msg, want);
	free(want);
	cr_expect_eq(jm_store_tag_add(s, run, "a\x01", &err), -1);
	cr_expect_str_eq(err.msg, "tag \"a\\x01\": no spaces or control characters in a tag");
	cr_expect_eq(jm_store_tag_check("", &err), -1);
	cr_expect_str_eq(err.msg, "tag \"\": empty");
	cr_expect_eq(jm_store_tag_check("ünïcode-ok_1.2", &err), 0);
	/* text only (JSON carries tags as they are), and no Unicode space */
	static const char *const not_tags[] = {"\xff\xfe", "a\xc3", "caf\xe9", "em\xe2\x80\x83space",
					  "ide\xe3\x80\x80graphic", "\xef\xbb\xbf" "bom"};
	for (size_t i = 0; i < sizeof not_tags / sizeof *not_tags; i++)
		cr_expect_eq(jm_store_tag_check(not_tags[i], &err), -1, "accepted %s", not_tags[i]);
	cr_expect_eq(jm_store_tag_check("a\xc3", &err), -1);
	cr_expect(strstr(err.msg, ": not UTF-8 text"), "%s", err.msg);
	cr_expect_eq(jm_store_tag_check("\xe5\xbb\xba\xe6\xa8\xa1", &err), 0, "%s", err.msg);
	jm_store_close(s);
	s = open_ok(home, JM_STORE_READONLY);
	cr_expect_eq(jm_store_tags_add(s, run, ok, 1, &err), -1);
	cr_expect(strstr(err.msg, "store is open read-only"), "%s", err.msg);
	jm_store_close(s);
}

Test(store, discarding_removes_only_what_the_open_made)
{
	char *nested = jm_xasprintf("%s/a/b/.jianmo", tmp), *a = jm_xasprintf("%s/a", tmp);
	jm_store *s = open_ok(nested, 0);
	cr_expect(jm_store_created(s));
	jm_store_close_discard(s);
	cr_expect(!exists(a), "every folder the open made is gone");
	/* a home that was there stays */
	cr_assert_eq(mkdir(home, 0777), 0);
	s = open_ok(home, 0);
	jm_store_close_discard(s);
	char *files = NULL;
	cr_assert_eq(jt_sh(home, &files, NULL, "find . | LC_ALL=C sort"), 0);
	cr_expect_str_eq(files, ".\n");
	free(files);
	/* a store that was there is only closed */
	jm_store_close(open_ok(home, 0));
	s = open_ok(home, 0);
	cr_expect(!jm_store_created(s));
	new_run(s);
	jm_store_close_discard(s);
	s = open_ok(home, JM_STORE_NOCREATE);
	cr_expect_eq(q_int(jm_store_db(s), "SELECT count(*) FROM runs"), 1);
	jm_store_close(s);
	jm_store_close_discard(NULL);
	free(nested), free(a);
}

/* A v1 store on a read-only file system: read (the v2 columns computed),
 * never upgraded, and a change refused saying why.  Needs root. */
Test(store, a_v1_store_on_a_read_only_file_system)
{
	char *mnt = jm_xasprintf("%s/fs", tmp);
	cr_assert_eq(mkdir(mnt, 0777), 0);
	char *out, *err;
	if (geteuid() != 0 || jt_sh(tmp, &out, &err, "mount -t tmpfs -o size=1m tmpfs fs") != 0) {
		free(mnt);
		cr_skip_test("SKIPPED: mounting a tmpfs needs root");
	}
	free(out), free(err);
	char *h = jm_xasprintf("%s/.jianmo", mnt);
	make_v1_store(h);
	cr_assert_eq(jt_sh(tmp, NULL, NULL, "mount -o remount,ro fs"), 0);
	int rc = jt_sh(tmp, &out, &err, "'%s' --home fs/.jianmo runs --sort id", jt_bin());
	cr_expect_eq(rc, 0, "runs: exit %d\n%s", rc, err);
	cr_expect(strstr(out, "ID "), "%s", out);
	free(out), free(err);
	rc = jt_sh(tmp, &out, &err, "'%s' --home fs/.jianmo show 4", jt_bin());
	cr_expect_eq(rc, 0, "show: exit %d\n%s", rc, err);
	cr_expect(strstr(out, "run 4  (trial 2 of run 1)\n"), "%s", out);
	free(out), free(err);
	rc = jt_sh(tmp, &out, &err, "'%s' --home fs/.jianmo runs --filter 'duration = 60' --csv",
		   jt_bin());
	cr_expect_eq(rc, 0, "runs: exit %d\n%s", rc, err);
	cr_expect(strstr(out, "\r\n5,run,"), "%s", out);
	free(out), free(err);
	rc = jt_sh(tmp, &out, &err, "'%s' --home fs/.jianmo tag 5 x", jt_bin());
	cr_expect_eq(rc, 1, "tag: exit %d\n%s", rc, err);
	cr_expect(strstr(err, "jianmo.db: on a read-only file system: it can be read, not changed"),
		  "%s", err);
	free(out), free(err);
	jt_sh(tmp, NULL, NULL, "umount fs");
	free(h);
	free(mnt);
}
