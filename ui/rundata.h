/*
 * rundata.h: what the screens read from the store, through the app's
 * read-only connection, each call one short read transaction:
 *
 *   runs list   (jm_rundata_list: filter + sort through store/query.h)
 *   one run     (jm_rundata_run: fields, the key metric)
 *   params, metric summaries, a metric's history (chart), the log's tail,
 *   the confusion matrix artifact
 *
 * and the formatting every screen shares (durations, ages, metric values,
 * status colours).  Ownership: rows and strings returned are the caller's;
 * free rows with jm_run_row_clear / jm_run_rows_free.
 */
#ifndef JM_UI_RUNDATA_H
#define JM_UI_RUNDATA_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

#include "util/err.h"
#include "util/fmt.h" /* jm_fmt_duration, jm_fmt_age */

typedef struct jm_run_row {
	int64_t id, parent, pid;
	char kind[8], status[12];
	char *name;            /* run name, else the flow's name, else "-" */
	char *flow_name;       /* NULL when none */
	int64_t flow_id;
	char *device, *host, *error;  /* NULL when not recorded */
	double created, started, ended;
	int has_started, has_ended;
	char metric_key[32];   /* the key metric shown in lists ("" none) */
	double metric;
	int64_t children;
} jm_run_row;

void jm_run_row_clear(jm_run_row *r);
void jm_run_rows_free(jm_run_row *rows, size_t n);

/* Runs matching the filter expression (NULL or "": all), sorted by sort
 * keys (NULL: newest first), at most limit.  Errors of the expression come
 * back as "column N: ..." with JM_EXIT_INPUT. */
int jm_rundata_list(sqlite3 *db, const char *filter, const char *sort, long limit,
		    jm_run_row **rows, size_t *n, jm_err *err);
int jm_rundata_run(sqlite3 *db, int64_t id, jm_run_row *out, jm_err *err);
/* The children (trials) of a run, oldest first. */
int jm_rundata_children(sqlite3 *db, int64_t id, jm_run_row **rows, size_t *n, jm_err *err);

/* Key/value pairs (params of a run): parallel arrays, malloc'd. */
typedef struct jm_kv {
	char **k, **v;
	size_t n;
} jm_kv;
void jm_kv_free(jm_kv *kv);
int jm_rundata_params(sqlite3 *db, int64_t run, jm_kv *out, jm_err *err);
/* One param's value: jm_store_param_read (store/store.h). */

typedef struct jm_summary_row {
	char key[64];
	double last, min, max; /* NaN where NULL */
	int64_t last_step, count;
} jm_summary_row;
int jm_rundata_summaries(sqlite3 *db, int64_t run, jm_summary_row **rows, size_t *n,
			 jm_err *err);
/* One summary; 0 if the run has no such metric. */
int jm_rundata_summary(sqlite3 *db, int64_t run, const char *key, jm_summary_row *out);

/* A metric's history: steps and values in step order. */
typedef struct jm_history {
	double *x, *y;
	int n;
} jm_history;
void jm_history_free(jm_history *h);
int jm_rundata_history(sqlite3 *db, int64_t run, const char *key, jm_history *out, jm_err *err);

/* The last max_lines lines of HOME/runs/<id>/log.txt (at most 64 KiB read),
 * malloc'd; "" when there is no log yet. */
char *jm_rundata_log_tail(const char *home, int64_t run, int max_lines);
/* The whole of a file under the run folder, malloc'd, or NULL. */
char *jm_rundata_run_file(const char *home, int64_t run, const char *name);

/* Begin/commit a read transaction (so a poll sees one snapshot). */
void jm_rundata_begin(sqlite3 *db);
void jm_rundata_end(sqlite3 *db);

/* Formatting. */
void jm_fmt_metric(char *out, size_t cap, double v);      /* 0.8712 1234.5 1.2e-05 nan */
/* Duration of a run so far (ended or now - started); 0 if not started. */
int jm_run_duration(const jm_run_row *r, double now, double *secs);
int jm_status_colour(const char *status);
int jm_status_terminal(const char *status); /* done, failed, stopped, ... */

#endif
