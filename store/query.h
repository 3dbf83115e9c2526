/*
 * query.h: the filter language of `jianmo runs --filter` and the TUI, and
 * the sort keys of `--sort`, compiled to SQL over the runs table.
 *
 *   "status = done and val_acc > 0.9"
 *        ──jm_query_compile──▶  jm_query { sql: "(IFNULL(r.status = ?, 0) AND
 *                                           EXISTS (SELECT 1 FROM metric_summary
 *                                           m WHERE ...))", binds: "done", ... }
 *        ──caller: "SELECT ... FROM runs r WHERE " + sql──▶ prepare
 *        ──jm_query_bind(q, stmt, first)──▶ step
 *
 * The SQL never contains a value from the expression: every literal and
 * every param/metric key travels as a bound parameter.  The clause refers
 * to the runs table under the alias `r` and uses anonymous `?` parameters,
 * jm_query_nparams() of them, in text order; bind them with first_index =
 * the position of the clause's first `?` in the caller's statement.
 *
 * Grammar (keywords case-insensitive; full reference in jianmo(1)):
 *
 *   filter  := [or]                      empty: every run
 *   or      := and {("or" | "||") and}
 *   and     := not {("and" | "&&") not}
 *   not     := ("not" | "!") not | "(" or ")" | cmp
 *   cmp     := operand op value
 *   operand := FIELD | SECTION.KEY | METRIC | "tag"
 *            | ("last"|"min"|"max"|"count") "(" NAME ")" | "param" "(" NAME ")"
 *   op      := "=" | "==" | "!=" | "<>" | "<" | "<=" | ">" | ">=" | "~" | "!~"
 *   value   := NUMBER | 'string' | "string" | bare-word
 *   sort    := key {"," key}      key := ["-" | "+"] operand
 *
 * FIELD is one of id kind parent status name flow seed device host pid
 * started ended created duration age error; a name with a dot is a param; any
 * other name is a metric (its last value).  `~` is SQLite GLOB.
 *
 * Errors: "column N: what" (N counts characters from 1); the column is also
 * returned through jm_query_parse()'s *column for a caret display.
 *
 * Ownership: a jm_query owns its SQL text and bound values; jm_query_sql()
 * lends the text until jm_query_free().  jm_query_free accepts NULL.
 */
#ifndef JM_QUERY_H
#define JM_QUERY_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

typedef struct jm_query jm_query;

enum jm_query_kind {
	JM_QUERY_FILTER, /* a boolean expression: WHERE clause */
	JM_QUERY_SORT,   /* comma-separated sort keys: ORDER BY terms */
};

/* Limits that keep compiled SQL and parser recursion bounded. */
#define JM_QUERY_MAX_LEN 16384      /* bytes of expression */
#define JM_QUERY_MAX_DEPTH 24       /* nested parentheses / not; SQLite's own
                                      * parser stack takes about 30 levels */
#define JM_QUERY_MAX_TERMS 256      /* comparisons or sort keys */

/* Compile text of the given kind.  On failure *out is NULL, err holds
 * "column N: ..." (code JM_EXIT_INPUT) and *column (if not NULL) receives N,
 * the 1-based character column the message points at; 0 on success. */
int jm_query_parse(const char *text, enum jm_query_kind kind, jm_query **out,
		   int *column, jm_err *err);

/* Shorthands for a filter expression and for sort keys. */
int jm_query_compile(const char *expr, jm_query **out, jm_err *err);
int jm_query_compile_sort(const char *keys, jm_query **out, jm_err *err);

/* For a filter, a parenthesized boolean SQL expression ("1" when the
 * expression was empty); for sort keys, ORDER BY terms without the words
 * ORDER BY ("r.id DESC" when empty). */
const char *jm_query_sql(const jm_query *q);
int jm_query_nparams(const jm_query *q);
/* Bind the values to `?` number first_index .. first_index + nparams - 1. */
int jm_query_bind(const jm_query *q, sqlite3_stmt *st, int first_index, jm_err *err);
void jm_query_free(jm_query *q);

/* The ids of the runs matching filter, in sort order (ties and a NULL sort:
 * newest first), at most limit of them (limit <= 0: all).  filter and sort
 * may be NULL.  *ids is malloc'd (owned by the caller; NULL when *n is 0). */
int jm_query_run_ids(sqlite3 *db, const jm_query *filter, const jm_query *sort,
		     long limit, int64_t **ids, size_t *n, jm_err *err);

/* 1 when a larger value of the metric is better (its name contains "acc",
 * "auc", "f1", "precision", "recall", "iou" or "samples_per_s", or ends in
 * "_r2", case-insensitive), 0 when a smaller one is (loss, error,
 * everything else).  Used to pick "best". */
int jm_query_metric_maximize(const char *key);

/* The metric and param names q refers to that no run in db has (a typo
 * reads as "matches nothing"), as "no run has a metric \"val_ac\"; ..."
 * in buf; how many. */
int jm_query_unknown(const jm_query *q, sqlite3 *db, char *buf, size_t n);

#endif
