/*
 * store.h: the run store, an SQLite database at HOME/jianmo.db beside
 * HOME/runs/<id>/ (logs, checkpoints, artifacts).  HOME is `.jianmo` under
 * the current directory unless --home or JIANMO_HOME says otherwise.
 *
 * Schema: store/schema.sql (v1), versioned with PRAGMA user_version and
 * upgraded by forward migrations (v2, in store.c: a trial's number, the time
 * a run ran across --resume segments); a store newer than this jianmo is
 * refused, never touched.  A read-only open never upgrades: an older store
 * is read through temporary views that compute what it lacks.  Connections
 * use WAL, foreign keys and a busy timeout.
 * Run-status changes commit durably at once (synchronous=FULL for that
 * transaction); metric points go through jm_metric_writer (metric_writer.h),
 * which batches them.
 *
 * Opening a writable store marks as `crashed` every `running` run whose
 * process is gone (same host, and the pid is dead or belongs to a process
 * started at another time).
 *
 * Run times: `started` is when the run first started, `ended` when it last
 * stopped; a run resumed after a stop or crash also has `resumed` (when its
 * latest segment began) and `prior` (seconds run before that), so the time
 * it ran is JM_RUN_DURATION_SQL.
 *
 * Ownership: jm_store owns its sqlite3 connection; jm_store_db() lends it.
 * Strings returned as char * are malloc'd and owned by the caller.
 */
#ifndef JM_STORE_H
#define JM_STORE_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

#define JM_STORE_SCHEMA_VERSION 2

/* The seconds a run has run, as SQL over the runs table under alias r
 * (NULL when it never started); now: SQL for the present time. */
#define JM_RUN_DURATION_SQL(now) \
	"(r.prior + IFNULL(r.ended, " now ") - IFNULL(r.resumed, r.started))"

/* The id of the next run, as SQL: past every id the store has given,
 * those of deleted runs included (run_ids.last, kept by a trigger on
 * delete), so "run 3" never comes to name another run.  Every INSERT INTO
 * runs gives its id so. */
#define JM_RUN_NEXT_ID_SQL \
	"(SELECT max(IFNULL((SELECT max(id) FROM runs), 0), (SELECT last FROM run_ids)) + 1)"

/* The file a run was started from, as SQL over the runs table under
 * alias r: its own name (a trial's is its search's), then flows.name,
 * which cannot say alone: identical flow texts are stored once, under
 * the first file's name.  show, the CSV, --filter 'flow = X' and the
 * workbench all use it. */
#define JM_RUN_FLOW_NAME_SQL                                                        \
	"COALESCE(CASE WHEN r.kind = 'trial' THEN (SELECT p.name FROM runs p "       \
	"WHERE p.id = r.parent) ELSE r.name END, "                                  \
	"(SELECT f.name FROM flows f WHERE f.id = r.flow_id))"

typedef struct jm_store jm_store;

enum {
	JM_STORE_READONLY = 1 << 0, /* open read-only (the TUI's poller) */
	JM_STORE_NOCREATE = 1 << 1, /* fail if the store does not exist (an
	                             * empty database file is none either) */
};

/* Resolve the store home: explicit (if not NULL), else $JIANMO_HOME, else
 * "./.jianmo".  Returns a malloc'd path. */
char *jm_store_home_resolve(const char *explicit_home);

/* Open (creating HOME and the schema unless READONLY/NOCREATE) and run
 * migrations and the crash check.  *out is NULL on failure.  A store that
 * is not there (no database file, or an empty one) is refused under
 * READONLY/NOCREATE with `HOME/jianmo.db: no store here (...)`, code
 * JM_EXIT_INPUT, and nothing is written. */
int jm_store_open(jm_store **out, const char *home, int flags, jm_err *err);
void jm_store_close(jm_store *s); /* accepts NULL */
/* Nonzero when jm_store_open made this store: there was no database file,
 * or an empty one it put the schema in. */
int jm_store_created(const jm_store *s);
/* Close s; if jm_store_open made the store and it holds no run or flow,
 * undo that: the database goes (an empty file that was there is emptied
 * again) with its -wal/-shm, and runs/ and the folders made for HOME, each
 * folder only when empty.  For a command that made a store and then failed
 * before keeping anything in it (import).  Accepts NULL. */
void jm_store_close_discard(jm_store *s);

sqlite3 *jm_store_db(jm_store *s);
/* 0 when s can be changed, else -1 with why: opened read-only, or on a
 * read-only file system (which jm_store_open opens read-only). */
int jm_store_check_writable(jm_store *s, jm_err *err);
const char *jm_store_home(const jm_store *s);

/* Open another read-write connection to s's database with the store's
 * settings (WAL, foreign keys, busy timeout, synchronous=NORMAL), for a
 * component that must not share s's transactions (jm_metric_writer).  The
 * caller owns *db and closes it with sqlite3_close().  Fails on a store
 * opened JM_STORE_READONLY. */
int jm_store_connect(jm_store *s, sqlite3 **db, jm_err *err);

/* Run status names as stored. */
#define JM_RUN_QUEUED "queued"
#define JM_RUN_RUNNING "running"
#define JM_RUN_DONE "done"
#define JM_RUN_FAILED "failed"
#define JM_RUN_STOPPED "stopped"
#define JM_RUN_PRUNED "pruned"
#define JM_RUN_CRASHED "crashed"

/* Store a flow text (deduplicated by SHA-256); *flow_id receives its id. */
int jm_store_flow_put(jm_store *s, const char *name, const char *text,
		      int64_t *flow_id, jm_err *err);
/* The text of a flow, malloc'd, or NULL with err set. */
char *jm_store_flow_text(jm_store *s, int64_t flow_id, jm_err *err);

typedef struct jm_run_spec {
	const char *kind;   /* "run", "search" or "trial" */
	int64_t parent;     /* 0 for none */
	int64_t flow_id;    /* 0 for none */
	const char *name;   /* may be NULL */
	uint64_t seed;
	const char *device; /* "cpu", "cuda:0", ... */
} jm_run_spec;

/* Create a run in state `running` owned by this process (pid, host, start
 * time recorded), and its folder HOME/runs/<id>/.  A trial with a parent is
 * given the next number among its search's (one more than the highest
 * there has been, so a deleted trial's number is not reused by the ones
 * left).  Durable on return. */
int jm_store_run_create(jm_store *s, const jm_run_spec *spec, int64_t *run_id,
			jm_err *err);
/* Set status (and ended time for terminal states, error text if not NULL). */
int jm_store_run_set_status(jm_store *s, int64_t run, const char *status,
			    const char *error, jm_err *err);
/* Take over an existing run for --resume (or a queued trial): status
 * running, this pid; device, when not NULL, is where it now runs.  A queued
 * run starts afresh (started = now); any other keeps its first start, adds
 * the segment it last ran to `prior` and begins a new one (`resumed`). */
int jm_store_run_reopen(jm_store *s, int64_t run, const char *device, jm_err *err);
/* A trial's number in its search (1, 2, ...), 0 for a run that has none. */
int jm_store_trial_number(jm_store *s, int64_t run, int *number, jm_err *err);
/* HOME/runs/<id>, malloc'd; created if missing. */
char *jm_store_run_dir(jm_store *s, int64_t run, jm_err *err);

int jm_store_param_set(jm_store *s, int64_t run, const char *key,
		       const char *value, jm_err *err);
/* One param's value on any connection to the store (malloc'd), or NULL
 * when the run has no such param. */
char *jm_store_param_read(sqlite3 *db, int64_t run, const char *key);

/* Tags: 1 to JM_STORE_TAG_MAX bytes, no spaces or control characters (so
 * `tag = NAME` in a filter and the table can show any of them). */
#define JM_STORE_TAG_MAX 64
/* 0 when tag is one, else -1 with err (JM_EXIT_INPUT) saying why. */
int jm_store_tag_check(const char *tag, jm_err *err);
/* Add tags[0..n) to run (those it has stay; repeats are fine), or remove
 * them (each must be there): one transaction, nothing changed on error. */
int jm_store_tags_add(jm_store *s, int64_t run, const char *const *tags, size_t n,
		      jm_err *err);
int jm_store_tags_remove(jm_store *s, int64_t run, const char *const *tags, size_t n,
			 jm_err *err);
int jm_store_tag_add(jm_store *s, int64_t run, const char *tag, jm_err *err);
/* Record a file under the run folder as an artifact (size and SHA-256 are
 * computed here); path is relative to HOME or absolute inside HOME. */
int jm_store_artifact_add(jm_store *s, int64_t run, const char *name,
			  const char *path, jm_err *err);

/* Delete the run's metric points with step > after_step and rebuild its
 * metric summaries from what is left (--resume from a checkpoint taken at
 * after_step).  One durable transaction. */
int jm_store_metrics_truncate(jm_store *s, int64_t run, int64_t after_step, jm_err *err);

/* Resolve a run reference given on the command line ("12") to an id that
 * exists; err says `no run "12" in HOME` (or `"abc" is not a run id`),
 * code JM_EXIT_INPUT, otherwise. */
int jm_store_run_lookup(jm_store *s, const char *ref, int64_t *run, jm_err *err);

#endif
