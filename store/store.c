/*
 * store.c: the run store core: opening HOME/jianmo.db, schema migrations,
 * the crash check, and the small writes a run makes (flows, runs, params,
 * tags, artifacts).  Metric points go through metric_writer.c instead.
 *
 *   jm_store_open ──▶ sqlite3_open ──▶ version check (refuse newer, no write;
 *                       an empty file is no store to a reader)
 *                       ──▶ WAL, foreign keys ──▶ migrations[] up to
 *                       JM_STORE_SCHEMA_VERSION ──▶ crash check ──▶ jm_store
 *                   (read-only: an older store gets readonly_views[] instead)
 *
 * Durability: connections run synchronous=NORMAL (in WAL mode a commit
 * survives the process dying; only an OS crash or power cut can lose the
 * last commits).  A run-status change must survive those too (a run must
 * not come back as `running` after a reboot, nor a `done` as `running`), so
 * those transactions are bracketed by synchronous=FULL, which fsyncs the WAL
 * at COMMIT; that sync also covers every earlier NORMAL commit in the WAL.
 *
 * Statements are prepared once per connection (stmt_sql[] below) and reset
 * after each use, so no read transaction outlives a call.
 */
#include "store/store.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "store/schema.h" /* jm_store_schema_v1, generated from schema.sql */
#include "util/hash.h"
#include "util/json.h"
#include "util/strbuf.h"

#define STORE_DB_NAME "jianmo.db"
#define STORE_BUSY_MS 5000

/*
 * Version 2.  runs.number: a trial's number in its search, given when the
 * trial is created (by the trigger, whoever inserts it: jm_store_run_create
 * or a bundle import without numbers) and kept, so deleting trial 1 leaves
 * trial 3 trial 3, and a new trial gets the number after the highest its
 * search has given (trial_numbers.last: the highest a deleted trial had);
 * version 1 numbered trials by their place among the search's, oldest
 * first, which is what the existing ones get.
 * runs.resumed and runs.prior: when the latest --resume segment began
 * (NULL: the run ran in one, from `started`) and the seconds run before it,
 * so `started` stays the first start and JM_RUN_DURATION_SQL is the time
 * the run ran.  run_ids.last: the highest id a deleted run had (ids were
 * max + 1, so deleting the newest run gave its id to the next one; see
 * JM_RUN_NEXT_ID_SQL).
 */
static const char store_schema_v2[] =
	"ALTER TABLE runs ADD COLUMN number INTEGER;\n"
	"ALTER TABLE runs ADD COLUMN resumed REAL;\n"
	"ALTER TABLE runs ADD COLUMN prior REAL NOT NULL DEFAULT 0;\n"
	"UPDATE runs SET number = (SELECT count(*) FROM runs t WHERE t.parent = runs.parent "
	"  AND t.kind = 'trial' AND t.id <= runs.id) WHERE kind = 'trial' AND parent IS NOT NULL;\n"
	"CREATE UNIQUE INDEX runs_trial_number ON runs(parent, number);\n"
	"CREATE TABLE trial_numbers (search INTEGER PRIMARY KEY, last INTEGER NOT NULL);\n"
	"CREATE TRIGGER runs_trial_number AFTER INSERT ON runs\n"
	"  WHEN NEW.kind = 'trial' AND NEW.parent IS NOT NULL AND NEW.number IS NULL BEGIN\n"
	"  UPDATE runs SET number = max((SELECT IFNULL(max(number), 0) FROM runs\n"
	"    WHERE parent = NEW.parent AND kind = 'trial'), IFNULL((SELECT last FROM\n"
	"    trial_numbers WHERE search = NEW.parent), 0)) + 1 WHERE id = NEW.id;\n"
	"END;\n"
	"CREATE TRIGGER runs_trial_gone AFTER DELETE ON runs WHEN OLD.kind = 'trial'\n"
	"  AND OLD.number IS NOT NULL AND EXISTS (SELECT 1 FROM runs WHERE id = OLD.parent) BEGIN\n"
	"  INSERT INTO trial_numbers VALUES (OLD.parent, OLD.number)\n"
	"    ON CONFLICT(search) DO UPDATE SET last = max(last, excluded.last);\n"
	"END;\n"
	"CREATE TRIGGER runs_search_gone AFTER DELETE ON runs WHEN OLD.kind = 'search' BEGIN\n"
	"  DELETE FROM trial_numbers WHERE search = OLD.id;\n"
	"END;\n"
	"CREATE TABLE run_ids (last INTEGER NOT NULL);\n"
	"INSERT INTO run_ids VALUES ((SELECT IFNULL(max(id), 0) FROM runs));\n"
	"CREATE TRIGGER runs_last_id AFTER DELETE ON runs BEGIN\n"
	"  UPDATE run_ids SET last = max(last, OLD.id);\n"
	"END;\n";

/* Forward migrations: entry i takes user_version from i to i + 1.  A new
 * schema version is one more entry here (and JM_STORE_SCHEMA_VERSION + 1),
 * and one more in readonly_views[]. */
static const char *const migrations[] = {
	jm_store_schema_v1, /* 0 -> 1: the whole v1 schema */
	store_schema_v2,    /* 1 -> 2: trial numbers, time run across segments */
};
_Static_assert(sizeof migrations / sizeof migrations[0] == JM_STORE_SCHEMA_VERSION,
	       "one migration per schema version");

/* A read-only connection cannot upgrade a store (nor can anyone, on a
 * read-only file system), so entry v makes a version-v store read as the
 * current one: temporary views, which shadow the tables of the same name,
 * computing what version v lacks as the later versions would have stored
 * it.  NULL: not readable without an upgrade. */
static const char *const readonly_views[] = {
	NULL, /* 0: no store */
	"CREATE TEMP VIEW runs AS SELECT r.*, "
	"CASE WHEN r.kind = 'trial' AND r.parent IS NOT NULL THEN (SELECT count(*) FROM "
	"main.runs t WHERE t.parent = r.parent AND t.kind = 'trial' AND t.id <= r.id) END "
	"AS number, NULL AS resumed, 0.0 AS prior FROM main.runs r",
};
_Static_assert(sizeof readonly_views / sizeof readonly_views[0] == JM_STORE_SCHEMA_VERSION,
	       "a way to read each older version, or NULL");

/* When a crashed run stopped, as SQL in an UPDATE of runs: its last metric
 * point in its latest segment (the last point of each of its spans is the
 * latest of that span).  No heartbeat is recorded, so a segment that logged
 * nothing gets now, the time the crash was seen, which can be long after. */
#define RUN_CRASH_END_SQL(now)                                                        \
	"IFNULL((SELECT max(p.wall) FROM metric_spans s JOIN metric_points p "       \
	"ON p.id = s.last WHERE s.run = runs.id AND p.wall BETWEEN "                 \
	"IFNULL(runs.resumed, runs.started) AND " now "), " now ")"

/* A queued run (or one never started) starts afresh when it is taken; any
 * other goes on: the segment it ran is added to prior. */
#define RUN_FRESH_SQL "(status = 'queued' OR started IS NULL)"

enum stmt_id {
	ST_FLOW_INSERT,
	ST_FLOW_BY_SHA,
	ST_FLOW_TEXT,
	ST_RUN_INSERT,
	ST_RUN_STATUS,
	ST_RUN_OWNER,
	ST_RUN_REOPEN,
	ST_RUN_EXISTS,
	ST_TRIAL_NUMBER,
	ST_PARAM_SET,
	ST_TAG_ADD,
	ST_TAG_REMOVE,
	ST_ARTIFACT_ADD,
	ST_RUNNING_HERE,
	ST_MARK_CRASHED,
	ST_COUNT
};

static const char *const stmt_sql[ST_COUNT] = {
	[ST_FLOW_INSERT] = "INSERT INTO flows(name, text, sha256, created) "
			   "VALUES (?1, ?2, ?3, ?4) ON CONFLICT(sha256) DO NOTHING",
	[ST_FLOW_BY_SHA] = "SELECT id FROM flows WHERE sha256 = ?1",
	[ST_FLOW_TEXT] = "SELECT text FROM flows WHERE id = ?1",
	[ST_RUN_INSERT] = "INSERT INTO runs(id, kind, parent, flow_id, name, status, pid, "
			  "host, proc_start, boot_id, started, seed, device, created) "
			  "VALUES (" JM_RUN_NEXT_ID_SQL ", ?1, ?2, ?3, ?4, 'running', ?5, ?6, ?7, "
			  "?8, ?9, ?10, ?11, ?9)",
	/* ?3: now for a terminal state, else NULL; a crash is seen after the
	 * fact, so a crashed run ends at its last point */
	[ST_RUN_STATUS] = "UPDATE runs SET status = ?2, ended = CASE WHEN ?2 = 'crashed' THEN "
			  RUN_CRASH_END_SQL("?3") " ELSE ?3 END, error = ?4 WHERE id = ?1",
	[ST_RUN_OWNER] = "SELECT status, pid, host, proc_start, boot_id FROM runs WHERE id = ?1",
	/* SET expressions all read the row as it was; a segment whose end is
	 * unknown (ended NULL: a bundle's) counts nothing */
	[ST_RUN_REOPEN] = "UPDATE runs SET status = 'running', pid = ?2, host = ?3, "
			  "proc_start = ?4, boot_id = ?5, "
			  "prior = CASE WHEN " RUN_FRESH_SQL " THEN 0 ELSE prior + max(0, "
			  "IFNULL(ended, IFNULL(resumed, started)) - IFNULL(resumed, started)) END, "
			  "resumed = CASE WHEN " RUN_FRESH_SQL " THEN NULL ELSE ?6 END, "
			  "started = CASE WHEN " RUN_FRESH_SQL " THEN ?6 ELSE started END, "
			  "ended = NULL, error = NULL, device = IFNULL(?7, device) WHERE id = ?1",
	[ST_RUN_EXISTS] = "SELECT 1 FROM runs WHERE id = ?1",
	[ST_TRIAL_NUMBER] = "SELECT IFNULL(number, 0) FROM runs WHERE id = ?1",
	[ST_PARAM_SET] = "INSERT INTO params(run, key, value) VALUES (?1, ?2, ?3) "
			 "ON CONFLICT(run, key) DO UPDATE SET value = excluded.value",
	[ST_TAG_ADD] = "INSERT INTO tags(run, tag) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
	[ST_TAG_REMOVE] = "DELETE FROM tags WHERE run = ?1 AND tag = ?2",
	[ST_ARTIFACT_ADD] = "INSERT INTO artifacts(run, name, path, bytes, sha256, created) "
			    "VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT(run, name) DO UPDATE "
			    "SET path = excluded.path, bytes = excluded.bytes, "
			    "sha256 = excluded.sha256, created = excluded.created",
	[ST_RUNNING_HERE] = "SELECT id, pid, proc_start, boot_id FROM runs "
			    "WHERE status = 'running' AND host = ?1",
	[ST_MARK_CRASHED] = "UPDATE runs SET status = 'crashed', ended = " RUN_CRASH_END_SQL("?2")
			    ", error = ?3 WHERE id = ?1 AND status = 'running' AND pid IS ?4 "
			    "AND proc_start IS ?5",
};

/* Run states as stored; terminal ones get an `ended` time. */
static const struct run_state {
	const char *name;
	int terminal;
} run_states[] = {
	{JM_RUN_QUEUED, 0},  {JM_RUN_RUNNING, 0}, {JM_RUN_DONE, 1},
	{JM_RUN_FAILED, 1},  {JM_RUN_STOPPED, 1}, {JM_RUN_PRUNED, 1},
	{JM_RUN_CRASHED, 1},
};

static const char *const run_kinds[] = {"run", "search", "trial"};

/* Who a process is, precisely enough to tell a reused pid apart. */
typedef struct proc_ident {
	int64_t pid;
	int64_t start;  /* /proc/PID/stat starttime; -1 when unknown */
	char boot[64];  /* boot id, "" when unknown */
	char host[256];
} proc_ident;

struct jm_store {
	sqlite3 *db;
	char *home;
	char *db_path;
	int flags;
	int ro_fs; /* on a read-only file system: opened read-only */
	int created;    /* jm_store_open made the store: 1 the database file,
	                 * 2 the schema in an empty file that was there */
	char *made_dir; /* the outermost folder it made for home, or NULL */
	proc_ident self;
	sqlite3_stmt *stmt[ST_COUNT];
};

/* ---- small helpers ---------------------------------------------------- */

static double store_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* The free bytes of the file system holding path's folder, or -1. */
static long long fs_free(const char *path)
{
	char *dir = jm_xstrdup(path), *slash = strrchr(dir, '/');
	if (slash)
		*slash = '\0';
	struct statvfs v;
	long long n = statvfs(slash ? dir : ".", &v) == 0 ? (long long)v.f_bavail * (long long)v.f_frsize
							  : -1;
	free(dir);
	return n;
}

static int db_fail(const char *db_path, sqlite3 *db, jm_err *err)
{
	/* SQLite says "disk I/O error" when its -shm or -wal cannot grow on
	 * a full disk: say that the disk is full */
	int code = db ? sqlite3_extended_errcode(db) & 0xff : 0;
	int full = (code == SQLITE_IOERR || code == SQLITE_FULL) && fs_free(db_path) == 0;
	return jm_err_set(err, JM_EXIT_FAIL, "%s: %s%s", db_path,
			  db ? sqlite3_errmsg(db) : "out of memory",
			  full ? " (no space left on its file system: free some, then try again)"
			       : "");
}

static int store_fail(jm_store *s, jm_err *err)
{
	return db_fail(s->db_path, s->db, err);
}

static int exec_sql(sqlite3 *db, const char *db_path, const char *sql, jm_err *err)
{
	char *msg = NULL;
	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		jm_err_set(err, JM_EXIT_FAIL, "%s: %s", db_path,
			   msg ? msg : sqlite3_errmsg(db));
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

/* mkdir -p; 0 when path is a directory afterwards. */
static int make_dirs(const char *path, jm_err *err)
{
	char *p = jm_xstrdup(path);
	int rc = 0;
	for (char *c = p + 1;; c++) {
		if (*c != '/' && *c != '\0')
			continue;
		char saved = *c;
		*c = '\0';
		if (mkdir(p, 0777) < 0 && errno != EEXIST) {
			rc = jm_err_set(err, JM_EXIT_FAIL, "%s: %s", p, strerror(errno));
			goto out;
		}
		*c = saved;
		if (saved == '\0')
			break;
	}
	struct stat st;
	if (stat(path, &st) < 0 || !S_ISDIR(st.st_mode))
		rc = jm_err_set(err, JM_EXIT_FAIL, "%s: not a directory", path);
out:
	free(p);
	return rc;
}

/* The outermost folder of path that does not exist (what make_dirs would
 * make first), malloc'd, or NULL when path exists. */
static char *first_missing_dir(const char *path)
{
	char *p = jm_xstrdup(path);
	for (char *c = p + 1;; c++) {
		if (*c != '/' && *c != '\0')
			continue;
		char saved = *c;
		struct stat st;
		*c = '\0';
		if (stat(p, &st) < 0 && errno == ENOENT)
			return p;
		*c = saved;
		if (saved == '\0')
			break;
	}
	free(p);
	return NULL;
}

/* Read a process's state letter and start time (clock ticks since boot)
 * from /proc/PID/stat.  The command name (field 2) is in parentheses and
 * may itself hold spaces and parentheses, so fields count from the last
 * ')'.  Returns -1 when the process does not exist or /proc is missing. */
static int proc_stat(int64_t pid, char *state, int64_t *start)
{
	char path[64], buf[1024];
	snprintf(path, sizeof path, "/proc/%lld/stat", (long long)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	char *p = strrchr(buf, ')');
	if (!p || p[1] != ' ')
		return -1;
	p += 2;
	*state = *p;
	/* p is at field 3; starttime is field 22. */
	for (int field = 3; field < 22; field++) {
		p = strchr(p, ' ');
		if (!p)
			return -1;
		p++;
	}
	char *end;
	errno = 0;
	long long v = strtoll(p, &end, 10);
	if (errno || end == p)
		return -1;
	*start = v;
	return 0;
}

static void proc_self(proc_ident *id)
{
	memset(id, 0, sizeof *id);
	id->pid = (int64_t)getpid();
	char state;
	if (proc_stat(id->pid, &state, &id->start) < 0)
		id->start = -1;
	FILE *f = fopen("/proc/sys/kernel/random/boot_id", "r");
	if (f) {
		if (fgets(id->boot, sizeof id->boot, f))
			id->boot[strcspn(id->boot, "\n")] = '\0';
		fclose(f);
	}
	if (gethostname(id->host, sizeof id->host - 1) < 0 || !id->host[0])
		snprintf(id->host, sizeof id->host, "localhost");
}

/* Is the process that owns a run (on this host) still the one that started
 * it?  A different boot, a missing pid, a zombie, or a pid whose start time
 * differs from the recorded one all mean the owner is gone. */
static int proc_alive(const proc_ident *self, int64_t pid, int64_t start,
		      const char *boot)
{
	if (pid <= 0 || pid > INT_MAX)
		return 0;
	if (boot && *boot && self->boot[0] && strcmp(boot, self->boot) != 0)
		return 0;
	char state;
	int64_t now_start;
	if (proc_stat(pid, &state, &now_start) == 0)
		return state != 'Z' && state != 'X' && (start < 0 || now_start == start);
	/* No /proc: fall back to whether the pid exists at all. */
	return kill((pid_t)pid, 0) == 0 || errno == EPERM;
}

static int valid_name(const char *name, const char *const *table, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(name, table[i]))
			return 1;
	return 0;
}

static const struct run_state *run_state_find(const char *name)
{
	for (size_t i = 0; i < sizeof run_states / sizeof run_states[0]; i++)
		if (!strcmp(name, run_states[i].name))
			return &run_states[i];
	return NULL;
}

/* The prepared statement for id, reset and with no bindings. */
static sqlite3_stmt *stmt_get(jm_store *s, enum stmt_id id, jm_err *err)
{
	if (!s->stmt[id]) {
		if (sqlite3_prepare_v3(s->db, stmt_sql[id], -1, SQLITE_PREPARE_PERSISTENT,
				       &s->stmt[id], NULL) != SQLITE_OK) {
			store_fail(s, err);
			return NULL;
		}
	}
	return s->stmt[id];
}

/* Step a statement that returns no rows, then reset it. */
static int stmt_done(jm_store *s, sqlite3_stmt *st, jm_err *err)
{
	int rc = sqlite3_step(st);
	if (rc != SQLITE_DONE)
		store_fail(s, err);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

static void stmt_end(sqlite3_stmt *st)
{
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
}

static int bind_text_or_null(sqlite3_stmt *st, int i, const char *v)
{
	return v ? sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC) : sqlite3_bind_null(st, i);
}

static int bind_id_or_null(sqlite3_stmt *st, int i, int64_t v)
{
	return v > 0 ? sqlite3_bind_int64(st, i, v) : sqlite3_bind_null(st, i);
}

static int store_writable(jm_store *s, jm_err *err)
{
	if (s->ro_fs)
		return jm_err_set(err, JM_EXIT_FAIL, "%s: on a read-only file system: it can be "
				  "read, not changed", s->db_path);
	if (s->flags & JM_STORE_READONLY)
		return jm_err_set(err, JM_EXIT_FAIL, "%s: store is open read-only", s->db_path);
	return 0;
}

/* A durable write transaction (see the file comment). */
static int store_begin_durable(jm_store *s, jm_err *err)
{
	if (exec_sql(s->db, s->db_path, "PRAGMA synchronous=FULL", err) < 0)
		return -1;
	if (exec_sql(s->db, s->db_path, "BEGIN IMMEDIATE", err) < 0) {
		exec_sql(s->db, s->db_path, "PRAGMA synchronous=NORMAL", NULL);
		return -1;
	}
	return 0;
}

/* Commit when ok, else roll back; back to synchronous=NORMAL either way. */
static int store_end_durable(jm_store *s, int ok, jm_err *err)
{
	int rc = 0;
	if (ok) {
		rc = exec_sql(s->db, s->db_path, "COMMIT", err);
		if (rc < 0)
			exec_sql(s->db, s->db_path, "ROLLBACK", NULL);
	} else {
		exec_sql(s->db, s->db_path, "ROLLBACK", NULL);
		rc = -1;
	}
	exec_sql(s->db, s->db_path, "PRAGMA synchronous=NORMAL", NULL);
	return rc;
}

/* Does run exist?  1 yes, 0 no (err says so), -1 on a database error. */
static int run_exists(jm_store *s, int64_t run, jm_err *err)
{
	sqlite3_stmt *st = stmt_get(s, ST_RUN_EXISTS, err);
	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, run);
	int rc = sqlite3_step(st);
	stmt_end(st);
	if (rc == SQLITE_ROW)
		return 1;
	if (rc != SQLITE_DONE)
		return store_fail(s, err);
	jm_err_set(err, JM_EXIT_INPUT, "no run \"%lld\" in %s", (long long)run, s->home);
	return 0;
}

/* ---- opening ------------------------------------------------------------ */

char *jm_store_home_resolve(const char *explicit_home)
{
	const char *home = explicit_home;
	if (!home || !*home)
		home = getenv("JIANMO_HOME");
	if (!home || !*home)
		home = ".jianmo";
	char *h = jm_xstrdup(home);
	size_t n = strlen(h);
	while (n > 1 && h[n - 1] == '/')
		h[--n] = '\0';
	return h;
}

static int read_user_version(sqlite3 *db, const char *db_path, int *version, jm_err *err)
{
	sqlite3_stmt *st = NULL;
	int rc = -1;
	if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK)
		goto fail;
	if (sqlite3_step(st) != SQLITE_ROW)
		goto fail;
	*version = sqlite3_column_int(st, 0);
	rc = 0;
	goto out;
fail:
	if (sqlite3_errcode(db) == SQLITE_NOTADB)
		jm_err_set(err, JM_EXIT_INPUT, "%s: not a jianmo store (%s)", db_path,
			   sqlite3_errmsg(db));
	else
		db_fail(db_path, db, err);
out:
	sqlite3_finalize(st);
	return rc;
}

/* Does the database hold any table (a v0 file that is not an empty one)? */
static int has_tables(sqlite3 *db, const char *db_path, int *yes, jm_err *err)
{
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(db, "SELECT count(*) FROM sqlite_master", -1, &st, NULL) !=
		    SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW) {
		sqlite3_finalize(st);
		return db_fail(db_path, db, err);
	}
	*yes = sqlite3_column_int(st, 0) > 0;
	sqlite3_finalize(st);
	return 0;
}

/* Bring the schema from its version up to JM_STORE_SCHEMA_VERSION in one
 * durable transaction.  The version is read again under the write lock,
 * since another process may have migrated meanwhile. */
static int store_migrate(jm_store *s, jm_err *err)
{
	if (store_begin_durable(s, err) < 0)
		return -1;
	int version, tables = 0, ok = 0;
	if (read_user_version(s->db, s->db_path, &version, err) < 0)
		goto out;
	if (version == 0) {
		if (has_tables(s->db, s->db_path, &tables, err) < 0)
			goto out;
		if (tables) {
			jm_err_set(err, JM_EXIT_INPUT,
				   "%s: not a jianmo store (it has tables but no store version)",
				   s->db_path);
			goto out;
		}
	}
	for (int v = version; v < JM_STORE_SCHEMA_VERSION; v++) {
		if (exec_sql(s->db, s->db_path, migrations[v], err) < 0) {
			jm_err_prefix(err, "upgrading the store from version %d to %d", v, v + 1);
			goto out;
		}
	}
	char sql[64];
	snprintf(sql, sizeof sql, "PRAGMA user_version=%d", JM_STORE_SCHEMA_VERSION);
	if (exec_sql(s->db, s->db_path, sql, err) < 0)
		goto out;
	ok = 1;
out:
	return store_end_durable(s, ok, err);
}

/* Mark `running` runs of this host whose process is gone as crashed.  The
 * liveness test runs outside any transaction; only when a dead owner is
 * found is the write lock taken, and the UPDATE re-checks pid and start so
 * a run reopened meanwhile by a live process is left alone. */
static int store_crash_check(jm_store *s, jm_err *err)
{
	struct dead {
		int64_t id, pid, start;
		int has_pid, has_start;
	} *dead = NULL;
	size_t ndead = 0, cap = 0;
	int rc = -1, step;

	sqlite3_stmt *st = stmt_get(s, ST_RUNNING_HERE, err);
	if (!st)
		return -1;
	sqlite3_bind_text(st, 1, s->self.host, -1, SQLITE_STATIC);
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		int has_pid = sqlite3_column_type(st, 1) != SQLITE_NULL;
		int64_t pid = has_pid ? sqlite3_column_int64(st, 1) : 0;
		int has_start = sqlite3_column_type(st, 2) != SQLITE_NULL;
		int64_t start = has_start ? sqlite3_column_int64(st, 2) : -1;
		const char *boot = (const char *)sqlite3_column_text(st, 3);
		if (proc_alive(&s->self, pid, start, boot))
			continue;
		if (ndead == cap)
			dead = jm_xrealloc(dead, (cap = cap ? 2 * cap : 8) * sizeof *dead);
		dead[ndead++] = (struct dead){sqlite3_column_int64(st, 0), pid, start, has_pid,
					      has_start};
	}
	stmt_end(st);
	if (step != SQLITE_DONE) {
		store_fail(s, err);
		goto out;
	}
	if (ndead == 0) {
		rc = 0;
		goto out;
	}
	if (store_begin_durable(s, err) < 0)
		goto out;
	int ok = 1;
	double now = store_now();
	for (size_t i = 0; i < ndead && ok; i++) {
		st = stmt_get(s, ST_MARK_CRASHED, err);
		if (!st) {
			ok = 0;
			break;
		}
		char msg[512];
		if (dead[i].has_pid)
			snprintf(msg, sizeof msg, "process %lld on %s is gone", (long long)dead[i].pid,
				 s->self.host);
		else
			snprintf(msg, sizeof msg, "no process on %s owns it", s->self.host);
		sqlite3_bind_int64(st, 1, dead[i].id);
		sqlite3_bind_double(st, 2, now);
		sqlite3_bind_text(st, 3, msg, -1, SQLITE_TRANSIENT);
		if (dead[i].has_pid)
			sqlite3_bind_int64(st, 4, dead[i].pid);
		else
			sqlite3_bind_null(st, 4);
		if (dead[i].has_start)
			sqlite3_bind_int64(st, 5, dead[i].start);
		else
			sqlite3_bind_null(st, 5);
		ok = stmt_done(s, st, err) == 0;
	}
	rc = store_end_durable(s, ok, err);
out:
	free(dead);
	return rc;
}

static int store_configure(sqlite3 *db, const char *db_path, int readonly, jm_err *err)
{
	static const char *const rw[] = {
		"PRAGMA journal_mode=WAL",
		"PRAGMA synchronous=NORMAL",
		"PRAGMA foreign_keys=ON",
		"PRAGMA temp_store=MEMORY", /* statement journals of multi-row inserts */
	};
	static const char *const ro[] = {
		"PRAGMA foreign_keys=ON",
		"PRAGMA query_only=ON",
	};
	const char *const *list = readonly ? ro : rw;
	size_t n = readonly ? sizeof ro / sizeof ro[0] : sizeof rw / sizeof rw[0];
	for (size_t i = 0; i < n; i++)
		if (exec_sql(db, db_path, list[i], err) < 0)
			return -1;
	return 0;
}

static int no_store_here(const char *db_path, jm_err *err)
{
	return jm_err_set(err, JM_EXIT_INPUT,
			  "%s: no store here (use --home DIR or JIANMO_HOME to name one)", db_path);
}

/* Open db_path, check its version and set the connection up.  *version
 * receives the schema version found.  nocreate (or readonly): an empty
 * database (version 0, no tables, as a 0-byte file is) is no store, and
 * is refused before anything is written to it. */
static int store_connect_path(sqlite3 **out, const char *db_path, int readonly, int nocreate,
			      int *version, jm_err *err)
{
	sqlite3 *db = NULL;
	int oflags = (readonly ? SQLITE_OPEN_READONLY
			       : SQLITE_OPEN_READWRITE | (nocreate ? 0 : SQLITE_OPEN_CREATE)) |
		     SQLITE_OPEN_NOMUTEX;
	*out = NULL;
	/* readonly > 1: the file system is read-only, so no -shm can be made
	 * beside the database; with no write-ahead log to read, SQLite reads
	 * it as immutable (nothing can change it there) */
	char *uri = NULL;
	if (readonly > 1) {
		jm_buf b = JM_BUF_INIT;
		jm_buf_addstr(&b, "file:");
		for (const char *c = db_path; *c; c++)
			if (*c == '%' || *c == '?' || *c == '#')
				jm_buf_printf(&b, "%%%02X", (unsigned char)*c);
			else
				jm_buf_addch(&b, *c);
		jm_buf_addstr(&b, "?immutable=1");
		uri = jm_buf_detach(&b, NULL);
		oflags |= SQLITE_OPEN_URI;
	}
	int rc = sqlite3_open_v2(uri ? uri : db_path, &db, oflags, NULL);
	free(uri);
	if (rc != SQLITE_OK) {
		db_fail(db_path, db, err);
		goto fail;
	}
	/* Until the version is known to be ours, closing must not checkpoint a
	 * WAL left by a newer jianmo into the database file. */
	sqlite3_db_config(db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, NULL);
	sqlite3_busy_timeout(db, STORE_BUSY_MS);
	sqlite3_extended_result_codes(db, 1);
	if (read_user_version(db, db_path, version, err) < 0)
		goto fail;
	if (*version > JM_STORE_SCHEMA_VERSION) {
		jm_err_set(err, JM_EXIT_INPUT,
			   "%s: store version %d is newer than this jianmo supports (%d): "
			   "upgrade jianmo",
			   db_path, *version, JM_STORE_SCHEMA_VERSION);
		goto fail;
	}
	if (*version == 0) {
		int tables = 0;
		if (has_tables(db, db_path, &tables, err) < 0)
			goto fail;
		if (tables) {
			jm_err_set(err, JM_EXIT_INPUT,
				   "%s: not a jianmo store (it has tables but no store version)",
				   db_path);
			goto fail;
		}
		if (readonly || nocreate) {
			no_store_here(db_path, err);
			goto fail;
		}
	}
	if (readonly && *version < JM_STORE_SCHEMA_VERSION) {
		const char *views = readonly_views[*version];
		if (!views) {
			jm_err_set(err, JM_EXIT_INPUT,
				   "%s: store version %d is older than this jianmo's (%d): open it "
				   "once for writing (any run) to upgrade it",
				   db_path, *version, JM_STORE_SCHEMA_VERSION);
			goto fail;
		}
		/* before query_only, which refuses temporary objects too */
		if (exec_sql(db, db_path, views, err) < 0)
			goto fail;
	}
	if (store_configure(db, db_path, readonly, err) < 0)
		goto fail;
	sqlite3_db_config(db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 0, NULL);
	*out = db;
	return 0;
fail:
	sqlite3_close(db);
	return -1;
}

int jm_store_open(jm_store **out, const char *home, int flags, jm_err *err)
{
	jm_store *s = jm_xcalloc(1, sizeof *s);
	int readonly = (flags & JM_STORE_READONLY) != 0, version = 0;
	*out = NULL;
	s->home = jm_store_home_resolve(home);
	s->db_path = jm_xasprintf("%s/%s", s->home, STORE_DB_NAME);
	s->flags = flags;
	proc_self(&s->self);

	struct stat st;
	if (stat(s->db_path, &st) < 0) {
		if (errno != ENOENT) {
			jm_err_set(err, JM_EXIT_FAIL, "%s: %s", s->db_path, strerror(errno));
			goto fail;
		}
		if (flags & (JM_STORE_READONLY | JM_STORE_NOCREATE)) {
			no_store_here(s->db_path, err);
			goto fail;
		}
		s->made_dir = first_missing_dir(s->home);
		s->created = 1;
		if (make_dirs(s->home, err) < 0)
			goto fail;
	}
	/* a store on a read-only file system (a snapshot, a read-only
	 * export, someone else's results): read, never written */
	struct statvfs vfs;
	if (statvfs(s->home, &vfs) == 0 && (vfs.f_flag & ST_RDONLY)) {
		char *wal = jm_xasprintf("%s-wal", s->db_path);
		int has_wal = stat(wal, &st) == 0 && st.st_size > 0;
		free(wal);
		if (has_wal) {
			char *shm = jm_xasprintf("%s-shm", s->db_path);
			int has_shm = stat(shm, &st) == 0;
			free(shm);
			if (!has_shm) {
				jm_err_set(err, JM_EXIT_FAIL, "%s: on a read-only file system, with a "
					   "write-ahead log but no -shm file beside it: copy the store's "
					   "folder somewhere writable to read it", s->db_path);
				goto fail;
			}
		}
		s->ro_fs = 1;
		s->flags |= JM_STORE_READONLY;
		readonly = has_wal ? 1 : 2;
	}
	if (store_connect_path(&s->db, s->db_path, readonly, (flags & JM_STORE_NOCREATE) != 0,
			       &version, err) < 0)
		goto fail;
	if (!readonly) {
		char *runs = jm_xasprintf("%s/runs", s->home);
		int rc = make_dirs(runs, err);
		free(runs);
		if (rc < 0)
			goto fail;
		if (version == 0 && !s->created)
			s->created = 2;
		if (version < JM_STORE_SCHEMA_VERSION && store_migrate(s, err) < 0)
			goto fail;
		if (store_crash_check(s, err) < 0)
			goto fail;
	}
	*out = s;
	return 0;
fail:
	jm_store_close(s);
	return -1;
}

/* Remove what jm_store_open made for s (see jm_store_close_discard); the
 * connection is closed. */
static void store_unmake(jm_store *s)
{
	static const char *const beside[] = {"-wal", "-shm", "-journal"};
	for (size_t i = 0; i < sizeof beside / sizeof beside[0]; i++) {
		char *f = jm_xasprintf("%s%s", s->db_path, beside[i]);
		unlink(f);
		free(f);
	}
	/* an empty file that was there is left empty; a failure here is only
	 * untidy, with nothing to undo it with */
	int gone = s->created == 2 ? truncate(s->db_path, 0) : unlink(s->db_path);
	(void)gone;
	char *runs = jm_xasprintf("%s/runs", s->home);
	rmdir(runs);
	free(runs);
	if (!s->made_dir)
		return;
	/* home, then each folder above it up to the outermost one made */
	char *dir = jm_xstrdup(s->home);
	size_t stop = strlen(s->made_dir);
	while (strlen(dir) >= stop && rmdir(dir) == 0) {
		char *slash = strrchr(dir, '/');
		if (!slash)
			break;
		*slash = '\0';
	}
	free(dir);
}

/* Does the store hold nothing (no run, no flow)?  Another process may have
 * put something in a store this one made: then it stays. */
static int store_is_empty(jm_store *s)
{
	sqlite3_stmt *st = NULL;
	int empty = 0;
	if (s->db && sqlite3_prepare_v2(s->db, "SELECT (SELECT count(*) FROM runs) + "
					"(SELECT count(*) FROM flows)", -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		empty = sqlite3_column_int64(st, 0) == 0;
	sqlite3_finalize(st);
	return empty;
}

static void store_free(jm_store *s, int discard)
{
	if (!s)
		return;
	for (int i = 0; i < ST_COUNT; i++)
		sqlite3_finalize(s->stmt[i]);
	discard = discard && s->created && store_is_empty(s);
	sqlite3_close(s->db);
	if (discard)
		store_unmake(s);
	free(s->home);
	free(s->db_path);
	free(s->made_dir);
	free(s);
}

void jm_store_close(jm_store *s)
{
	store_free(s, 0);
}

void jm_store_close_discard(jm_store *s)
{
	store_free(s, 1);
}

int jm_store_created(const jm_store *s)
{
	return s->created;
}

sqlite3 *jm_store_db(jm_store *s)
{
	return s->db;
}

int jm_store_check_writable(jm_store *s, jm_err *err)
{
	return store_writable(s, err);
}

const char *jm_store_home(const jm_store *s)
{
	return s->home;
}

int jm_store_connect(jm_store *s, sqlite3 **db, jm_err *err)
{
	*db = NULL;
	if (store_writable(s, err) < 0)
		return -1;
	int version;
	return store_connect_path(db, s->db_path, 0, 0, &version, err);
}

/* ---- flows -------------------------------------------------------------- */

int jm_store_flow_put(jm_store *s, const char *name, const char *text,
		      int64_t *flow_id, jm_err *err)
{
	char sha[65];
	if (store_writable(s, err) < 0)
		return -1;
	jm_sha256_hex(text, strlen(text), sha);
	sqlite3_stmt *st = stmt_get(s, ST_FLOW_INSERT, err);
	if (!st)
		return -1;
	sqlite3_bind_text(st, 1, name ? name : "", -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, text, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, sha, 64, SQLITE_STATIC);
	sqlite3_bind_double(st, 4, store_now());
	if (stmt_done(s, st, err) < 0)
		return -1;
	if (!(st = stmt_get(s, ST_FLOW_BY_SHA, err)))
		return -1;
	sqlite3_bind_text(st, 1, sha, 64, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*flow_id = sqlite3_column_int64(st, 0);
	else
		store_fail(s, err);
	stmt_end(st);
	return rc == SQLITE_ROW ? 0 : -1;
}

char *jm_store_flow_text(jm_store *s, int64_t flow_id, jm_err *err)
{
	sqlite3_stmt *st = stmt_get(s, ST_FLOW_TEXT, err);
	if (!st)
		return NULL;
	char *text = NULL;
	sqlite3_bind_int64(st, 1, flow_id);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		text = jm_xstrdup((const char *)sqlite3_column_text(st, 0));
	else if (rc == SQLITE_DONE)
		jm_err_set(err, JM_EXIT_INPUT, "no flow \"%lld\" in %s", (long long)flow_id,
			   s->home);
	else
		store_fail(s, err);
	stmt_end(st);
	return text;
}

/* ---- runs --------------------------------------------------------------- */

static char *run_dir_path(jm_store *s, int64_t run)
{
	return jm_xasprintf("%s/runs/%lld", s->home, (long long)run);
}

static void bind_owner(sqlite3_stmt *st, int first, const proc_ident *self)
{
	sqlite3_bind_int64(st, first, self->pid);
	sqlite3_bind_text(st, first + 1, self->host, -1, SQLITE_STATIC);
	if (self->start >= 0)
		sqlite3_bind_int64(st, first + 2, self->start);
	else
		sqlite3_bind_null(st, first + 2);
	bind_text_or_null(st, first + 3, self->boot[0] ? self->boot : NULL);
}

int jm_store_run_create(jm_store *s, const jm_run_spec *spec, int64_t *run_id,
			jm_err *err)
{
	const char *kind = spec->kind ? spec->kind : "run";
	if (store_writable(s, err) < 0)
		return -1;
	if (!valid_name(kind, run_kinds, sizeof run_kinds / sizeof run_kinds[0]))
		return jm_err_set(err, JM_EXIT_INPUT,
				  "run kind \"%s\": expected run, search or trial", kind);
	if (store_begin_durable(s, err) < 0)
		return -1;
	int ok = 0;
	char *dir = NULL;
	sqlite3_stmt *st = stmt_get(s, ST_RUN_INSERT, err);
	if (!st)
		goto out;
	sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC);
	bind_id_or_null(st, 2, spec->parent);
	bind_id_or_null(st, 3, spec->flow_id);
	bind_text_or_null(st, 4, spec->name);
	bind_owner(st, 5, &s->self);
	sqlite3_bind_double(st, 9, store_now());
	sqlite3_bind_int64(st, 10, (int64_t)spec->seed);
	bind_text_or_null(st, 11, spec->device);
	if (stmt_done(s, st, err) < 0)
		goto out;
	*run_id = sqlite3_last_insert_rowid(s->db);
	/* The folder exists before the run is visible to anyone else. */
	dir = run_dir_path(s, *run_id);
	ok = make_dirs(dir, err) == 0;
out:
	free(dir);
	return store_end_durable(s, ok, err);
}

int jm_store_run_set_status(jm_store *s, int64_t run, const char *status,
			    const char *error, jm_err *err)
{
	const struct run_state *state = run_state_find(status ? status : "");
	if (store_writable(s, err) < 0)
		return -1;
	if (!state)
		return jm_err_set(err, JM_EXIT_INPUT,
				  "run status \"%s\": expected queued, running, done, failed, "
				  "stopped, pruned or crashed",
				  status ? status : "");
	if (store_begin_durable(s, err) < 0)
		return -1;
	int ok = 0;
	sqlite3_stmt *st = stmt_get(s, ST_RUN_STATUS, err);
	if (!st)
		goto out;
	sqlite3_bind_int64(st, 1, run);
	sqlite3_bind_text(st, 2, state->name, -1, SQLITE_STATIC);
	if (state->terminal)
		sqlite3_bind_double(st, 3, store_now());
	else
		sqlite3_bind_null(st, 3);
	bind_text_or_null(st, 4, error);
	if (stmt_done(s, st, err) < 0)
		goto out;
	if (sqlite3_changes(s->db) == 0) {
		jm_err_set(err, JM_EXIT_INPUT, "no run \"%lld\" in %s", (long long)run, s->home);
		goto out;
	}
	ok = 1;
out:
	return store_end_durable(s, ok, err);
}

/* Refuse to take over a run whose owner is alive (or on another host, where
 * that cannot be checked). */
static int run_check_owner(jm_store *s, int64_t run, jm_err *err)
{
	sqlite3_stmt *st = stmt_get(s, ST_RUN_OWNER, err);
	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, run);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		stmt_end(st);
		return jm_err_set(err, JM_EXIT_INPUT, "no run \"%lld\" in %s", (long long)run,
				  s->home);
	}
	if (rc != SQLITE_ROW) {
		stmt_end(st);
		return store_fail(s, err);
	}
	int ret = 0;
	const char *status = (const char *)sqlite3_column_text(st, 0);
	int64_t pid = sqlite3_column_int64(st, 1);
	const char *host = (const char *)sqlite3_column_text(st, 2);
	int64_t start = sqlite3_column_type(st, 3) == SQLITE_NULL ? -1 : sqlite3_column_int64(st, 3);
	const char *boot = (const char *)sqlite3_column_text(st, 4);
	if (status && !strcmp(status, JM_RUN_RUNNING) && pid != s->self.pid) {
		int here = host && !strcmp(host, s->self.host);
		if (!here || proc_alive(&s->self, pid, start, boot))
			ret = jm_err_set(err, JM_EXIT_INPUT,
					 "run %lld is still running (process %lld on %s)",
					 (long long)run, (long long)pid, host ? host : "?");
	}
	stmt_end(st);
	return ret;
}

int jm_store_run_reopen(jm_store *s, int64_t run, const char *device, jm_err *err)
{
	if (store_writable(s, err) < 0)
		return -1;
	if (store_begin_durable(s, err) < 0)
		return -1;
	int ok = 0;
	if (run_check_owner(s, run, err) < 0)
		goto out;
	sqlite3_stmt *st = stmt_get(s, ST_RUN_REOPEN, err);
	if (!st)
		goto out;
	sqlite3_bind_int64(st, 1, run);
	bind_owner(st, 2, &s->self);
	sqlite3_bind_double(st, 6, store_now());
	bind_text_or_null(st, 7, device);
	if (stmt_done(s, st, err) < 0)
		goto out;
	char *dir = run_dir_path(s, run);
	ok = make_dirs(dir, err) == 0;
	free(dir);
out:
	return store_end_durable(s, ok, err);
}

int jm_store_trial_number(jm_store *s, int64_t run, int *number, jm_err *err)
{
	sqlite3_stmt *st = stmt_get(s, ST_TRIAL_NUMBER, err);
	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, run);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*number = sqlite3_column_int(st, 0);
	stmt_end(st);
	if (rc == SQLITE_ROW)
		return 0;
	if (rc != SQLITE_DONE)
		return store_fail(s, err);
	return jm_err_set(err, JM_EXIT_INPUT, "no run \"%lld\" in %s", (long long)run, s->home);
}

char *jm_store_run_dir(jm_store *s, int64_t run, jm_err *err)
{
	if (run_exists(s, run, err) != 1)
		return NULL;
	char *dir = run_dir_path(s, run);
	if (make_dirs(dir, err) < 0) {
		free(dir);
		return NULL;
	}
	return dir;
}

int jm_store_run_lookup(jm_store *s, const char *ref, int64_t *run, jm_err *err)
{
	const char *p = ref ? ref : "";
	char *end;
	errno = 0;
	long long v = (*p >= '0' && *p <= '9') ? strtoll(p, &end, 10) : 0;
	if (*p < '0' || *p > '9' || *end || errno || v <= 0)
		return jm_err_set(err, JM_EXIT_INPUT, "\"%s\" is not a run id", p);
	sqlite3_stmt *st = stmt_get(s, ST_RUN_EXISTS, err);
	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, v);
	int rc = sqlite3_step(st);
	stmt_end(st);
	if (rc == SQLITE_ROW) {
		*run = v;
		return 0;
	}
	if (rc != SQLITE_DONE)
		return store_fail(s, err);
	return jm_err_set(err, JM_EXIT_INPUT, "no run \"%s\" in %s", p, s->home);
}

/* ---- params, tags, artifacts --------------------------------------------- */

char *jm_store_param_read(sqlite3 *db, int64_t run, const char *key)
{
	sqlite3_stmt *st = NULL;
	char *v = NULL;
	if (sqlite3_prepare_v2(db, "SELECT value FROM params WHERE run = ? AND key = ?", -1, &st,
			       NULL) != SQLITE_OK)
		return NULL;
	sqlite3_bind_int64(st, 1, run);
	sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
		v = jm_xstrdup((const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	return v;
}

int jm_store_param_set(jm_store *s, int64_t run, const char *key, const char *value,
		       jm_err *err)
{
	if (store_writable(s, err) < 0)
		return -1;
	if (!key || !*key)
		return jm_err_set(err, JM_EXIT_INPUT, "run %lld: empty param name",
				  (long long)run);
	if (run_exists(s, run, err) != 1)
		return -1;
	sqlite3_stmt *st = stmt_get(s, ST_PARAM_SET, err);
	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, run);
	sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, value ? value : "", -1, SQLITE_STATIC);
	return stmt_done(s, st, err);
}

/* tag as a message shows it: quoted, control characters escaped, cut. */
static void tag_quote(char *out, size_t cap, const char *tag)
{
	size_t n = 0;
	out[n++] = '"';
	for (const unsigned char *c = (const unsigned char *)tag; *c && n + 8 < cap; c++) {
		if (n > 100) {
			n += (size_t)snprintf(out + n, cap - n, "...");
			break;
		}
		if (*c == '\t')
			n += (size_t)snprintf(out + n, cap - n, "\\t");
		else if (*c == '\n')
			n += (size_t)snprintf(out + n, cap - n, "\\n");
		else if (*c < 0x20 || *c == 0x7f)
			n += (size_t)snprintf(out + n, cap - n, "\\x%02x", *c);
		else
			out[n++] = (char)*c;
	}
	snprintf(out + n, cap - n, "\"");
}

/* A Unicode space other than the no-break space, as UTF-8 at c: U+1680,
 * U+2000 to U+200B, U+2028, U+2029, U+202F, U+205F, U+3000, U+FEFF. */
static int unicode_space(const unsigned char *c)
{
	if (c[0] == 0xe1)
		return c[1] == 0x9a && c[2] == 0x80;
	if (c[0] == 0xe2 && c[1] == 0x80)
		return c[2] <= 0x8b || c[2] == 0xa8 || c[2] == 0xa9 || c[2] == 0xaf;
	if (c[0] == 0xe2 && c[1] == 0x81)
		return c[2] == 0x9f;
	if (c[0] == 0xe3)
		return c[1] == 0x80 && c[2] == 0x80;
	return c[0] == 0xef && c[1] == 0xbb && c[2] == 0xbf;
}

int jm_store_tag_check(const char *tag, jm_err *err)
{
	char q[160];
	tag_quote(q, sizeof q, tag ? tag : "");
	if (!tag || !*tag)
		return jm_err_set(err, JM_EXIT_INPUT, "tag %s: empty", q);
	/* JSON output carries tags as they are: text only */
	if (!jm_json_utf8_valid(tag, strlen(tag)))
		return jm_err_set(err, JM_EXIT_INPUT, "tag %s: not UTF-8 text", q);
	for (const unsigned char *c = (const unsigned char *)tag; *c; c++) {
		/* ASCII space and controls, DEL, and the C1 controls and
		 * no-break space as UTF-8 (C2 80 to C2 A0) */
		if (*c <= 0x20 || *c == 0x7f || (c[0] == 0xc2 && c[1] >= 0x80 && c[1] <= 0xa0) ||
		    unicode_space(c))
			return jm_err_set(err, JM_EXIT_INPUT,
					  "tag %s: no spaces or control characters in a tag", q);
	}
	if (strlen(tag) > JM_STORE_TAG_MAX)
		return jm_err_set(err, JM_EXIT_INPUT, "tag %s: longer than %d bytes", q,
				  JM_STORE_TAG_MAX);
	return 0;
}

/* Add (add) or remove tags[0..n) of run, all or none. */
static int tags_change(jm_store *s, int64_t run, const char *const *tags, size_t n, int add,
		       jm_err *err)
{
	if (store_writable(s, err) < 0)
		return -1;
	for (size_t i = 0; add && i < n; i++)
		if (jm_store_tag_check(tags[i], err) < 0)
			return -1;
	if (store_begin_durable(s, err) < 0)
		return -1;
	int ok = run_exists(s, run, err) == 1;
	for (size_t i = 0; ok && i < n; i++) {
		sqlite3_stmt *st = stmt_get(s, add ? ST_TAG_ADD : ST_TAG_REMOVE, err);
		if (!st) {
			ok = 0;
			break;
		}
		sqlite3_bind_int64(st, 1, run);
		sqlite3_bind_text(st, 2, tags[i], -1, SQLITE_STATIC);
		ok = stmt_done(s, st, err) == 0;
		/* a tag named twice is removed once */
		if (ok && !add && sqlite3_changes(s->db) == 0) {
			int twice = 0;
			for (size_t k = 0; k < i; k++)
				twice |= !strcmp(tags[k], tags[i]);
			if (!twice) {
				char q[160];
				tag_quote(q, sizeof q, tags[i]);
				jm_err_set(err, JM_EXIT_INPUT, "run %lld has no tag %s",
					   (long long)run, q);
				ok = 0;
			}
		}
	}
	return store_end_durable(s, ok, err);
}

int jm_store_tags_add(jm_store *s, int64_t run, const char *const *tags, size_t n,
		      jm_err *err)
{
	return tags_change(s, run, tags, n, 1, err);
}

int jm_store_tags_remove(jm_store *s, int64_t run, const char *const *tags, size_t n,
			 jm_err *err)
{
	return tags_change(s, run, tags, n, 0, err);
}

int jm_store_tag_add(jm_store *s, int64_t run, const char *tag, jm_err *err)
{
	return tags_change(s, run, &tag, 1, 1, err);
}

/* The path of file relative to home, when it lies inside home; malloc'd. */
static char *path_inside_home(const char *home, const char *path, jm_err *err)
{
	char *full = path[0] == '/' ? jm_xstrdup(path) : jm_xasprintf("%s/%s", home, path);
	char *real_home = realpath(home, NULL), *real_file = realpath(full, NULL);
	char *rel = NULL;
	if (!real_file) {
		jm_err_set(err, JM_EXIT_INPUT, "%s: %s", full, strerror(errno));
		goto out;
	}
	if (!real_home) {
		jm_err_set(err, JM_EXIT_FAIL, "%s: %s", home, strerror(errno));
		goto out;
	}
	size_t n = strlen(real_home);
	if (strncmp(real_file, real_home, n) != 0 || real_file[n] != '/' || !real_file[n + 1]) {
		jm_err_set(err, JM_EXIT_INPUT, "artifact \"%s\": not inside the store home %s",
			   path, home);
		goto out;
	}
	rel = jm_xstrdup(real_file + n + 1);
out:
	free(full);
	free(real_home);
	free(real_file);
	return rel;
}

int jm_store_artifact_add(jm_store *s, int64_t run, const char *name, const char *path,
			  jm_err *err)
{
	char sha[65], *rel = NULL, *full = NULL;
	int64_t bytes = 0;
	int rc = -1;
	if (store_writable(s, err) < 0)
		return -1;
	if (!name || !*name)
		return jm_err_set(err, JM_EXIT_INPUT, "run %lld: empty artifact name",
				  (long long)run);
	if (run_exists(s, run, err) != 1)
		return -1;
	if (!(rel = path_inside_home(s->home, path ? path : "", err)))
		goto out;
	full = jm_xasprintf("%s/%s", s->home, rel);
	struct stat st_file;
	if (stat(full, &st_file) < 0 || !S_ISREG(st_file.st_mode)) {
		jm_err_set(err, JM_EXIT_INPUT, "artifact \"%s\": not a regular file", path);
		goto out;
	}
	if (jm_sha256_file(full, sha, &bytes, err) < 0)
		goto out;
	sqlite3_stmt *st = stmt_get(s, ST_ARTIFACT_ADD, err);
	if (!st)
		goto out;
	sqlite3_bind_int64(st, 1, run);
	sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, rel, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, bytes);
	sqlite3_bind_text(st, 5, sha, 64, SQLITE_STATIC);
	sqlite3_bind_double(st, 6, store_now());
	rc = stmt_done(s, st, err);
out:
	free(rel);
	free(full);
	return rc;
}

/* ---- rolling a run's metrics back (for --resume) ------------------------ */

int jm_store_metrics_truncate(jm_store *s, int64_t run, int64_t after_step, jm_err *err)
{
	if (store_writable(s, err) < 0 || run_exists(s, run, err) != 1)
		return -1;
	char *sql = sqlite3_mprintf(
		"DELETE FROM metric_points WHERE step > %lld AND id IN"
		" (SELECT p.id FROM metric_spans s JOIN metric_points p"
		"  ON p.id BETWEEN s.first AND s.last WHERE s.run = %lld);"
		/* Shrink the run's spans to the points left, so every span ends
		 * on a point that exists and new ids (max + 1) fall in none. */
		"DELETE FROM metric_spans WHERE run = %lld AND NOT EXISTS"
		" (SELECT 1 FROM metric_points p WHERE p.id BETWEEN metric_spans.first"
		"  AND metric_spans.last);"
		"UPDATE metric_spans SET last = (SELECT max(p.id) FROM metric_points p"
		" WHERE p.id BETWEEN metric_spans.first AND metric_spans.last) WHERE run = %lld;"
		"DELETE FROM metric_summary WHERE run = %lld;"
		/* last: the point logged last, i.e. with the highest id */
		"INSERT INTO metric_summary (run, key, last, last_step, min, max, count)"
		" SELECT s.run, s.key,"
		"  (SELECT p2.value FROM metric_spans s2 JOIN metric_points p2"
		"   ON p2.id BETWEEN s2.first AND s2.last"
		"   WHERE s2.run = s.run AND s2.key = s.key ORDER BY p2.id DESC LIMIT 1),"
		"  (SELECT p2.step FROM metric_spans s2 JOIN metric_points p2"
		"   ON p2.id BETWEEN s2.first AND s2.last"
		"   WHERE s2.run = s.run AND s2.key = s.key ORDER BY p2.id DESC LIMIT 1),"
		"  min(p.value), max(p.value), count(*)"
		" FROM metric_spans s JOIN metric_points p ON p.id BETWEEN s.first AND s.last"
		" WHERE s.run = %lld GROUP BY s.run, s.key;",
		(long long)after_step, (long long)run, (long long)run, (long long)run,
		(long long)run, (long long)run);
	if (!sql)
		return jm_err_set(err, JM_EXIT_FAIL, "out of memory");
	if (store_begin_durable(s, err) < 0) {
		sqlite3_free(sql);
		return -1;
	}
	int ok = exec_sql(s->db, s->db_path, sql, err) == 0;
	sqlite3_free(sql);
	return store_end_durable(s, ok, err);
}
