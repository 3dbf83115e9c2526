/*
 * store.h: the run store, an SQLite database at HOME/jianmo.db beside
 * HOME/runs/<id>/ (logs, checkpoints, artifacts).  HOME is `.jianmo` under
 * the current directory unless --home or JIANMO_HOME says otherwise.
 *
 * Schema: store/schema.sql (v1), versioned with PRAGMA user_version and
 * upgraded by forward migrations; a store newer than this jianmo is refused,
 * never touched.  Connections use WAL, foreign keys and a busy timeout.
 * Run-status changes commit durably at once (synchronous=FULL for that
 * transaction); metric points go through jm_metric_writer (metric_writer.h),
 * which batches them.
 *
 * Opening a writable store marks as `crashed` every `running` run whose
 * process is gone (same host, and the pid is dead or belongs to a process
 * started at another time).
 *
 * Ownership: jm_store owns its sqlite3 connection; jm_store_db() lends it.
 * Strings returned as char * are malloc'd and owned by the caller.
 */
#ifndef JM_STORE_H
#define JM_STORE_H

#include <sqlite3.h>
#include <stdint.h>

#include "util/err.h"

#define JM_STORE_SCHEMA_VERSION 1

typedef struct jm_store jm_store;

enum {
	JM_STORE_READONLY = 1 << 0, /* open read-only (the TUI's poller) */
	JM_STORE_NOCREATE = 1 << 1, /* fail if the store does not exist */
};

/* Resolve the store home: explicit (if not NULL), else $JIANMO_HOME, else
 * "./.jianmo".  Returns a malloc'd path. */
char *jm_store_home_resolve(const char *explicit_home);

/* Open (creating HOME and the schema unless READONLY/NOCREATE) and run
 * migrations and the crash check.  *out is NULL on failure. */
int jm_store_open(jm_store **out, const char *home, int flags, jm_err *err);
void jm_store_close(jm_store *s); /* accepts NULL */

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
 * time recorded), and its folder HOME/runs/<id>/.  Durable on return. */
int jm_store_run_create(jm_store *s, const jm_run_spec *spec, int64_t *run_id,
			jm_err *err);
/* Set status (and ended time for terminal states, error text if not NULL). */
int jm_store_run_set_status(jm_store *s, int64_t run, const char *status,
			    const char *error, jm_err *err);
/* Take over an existing run for --resume (or a queued trial): status
 * running, this pid; device, when not NULL, is where it now runs. */
int jm_store_run_reopen(jm_store *s, int64_t run, const char *device, jm_err *err);
/* HOME/runs/<id>, malloc'd; created if missing. */
char *jm_store_run_dir(jm_store *s, int64_t run, jm_err *err);

int jm_store_param_set(jm_store *s, int64_t run, const char *key,
		       const char *value, jm_err *err);
/* One param's value on any connection to the store (malloc'd), or NULL
 * when the run has no such param. */
char *jm_store_param_read(sqlite3 *db, int64_t run, const char *key);
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
