/*
 * cli_search.c: what `jianmo show SEARCH` adds for a run of kind search:
 * the best trial and the table of trials (number, run, status, epochs, the
 * metric, the searched values), or the same as a "search" JSON member.
 * A trial's number is the one the store gave it (runs.number), so it stays
 * when other trials are deleted.
 *
 *   search's flow text ──jm_flow_parse──▶ metric, direction, searched keys
 *   runs WHERE parent = SEARCH ──▶ one row per trial (params, summaries)
 */
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "flow.h"
#include "util/json.h"

typedef struct trial_row {
	int64_t run, epochs;
	int number;              /* its number in the search */
	char status[16];
	char *error;
	double value;            /* NaN: none */
	char *values[JM_FLOW_MAX_SEARCHED];
} trial_row;

static char *col_text(sqlite3_stmt *st, int i)
{
	const char *t = (const char *)sqlite3_column_text(st, i);
	return jm_xstrdup(t ? t : "");
}

/* The trials of search run `search`, oldest first; *n rows, malloc'd. */
static trial_row *load_trials(sqlite3 *db, int64_t search, const jm_flow *f, int *n, jm_err *err)
{
	int maximize = jm_flow_search_maximize(f);
	sqlite3_stmt *st = NULL, *pst = NULL;
	trial_row *rows = NULL;
	int cap = 0;
	*n = 0;
	char sql[512];
	snprintf(sql, sizeof sql,
		 "SELECT r.id, r.status, r.error, "
		 "(SELECT %s FROM metric_summary WHERE run = r.id AND key = ?2), "
		 "(SELECT last FROM metric_summary WHERE run = r.id AND key = ?2), "
		 "(SELECT last FROM metric_summary WHERE run = r.id AND key = 'epoch'), "
		 "IFNULL(r.number, 0) FROM runs r WHERE r.parent = ?1 ORDER BY r.id",
		 maximize ? "max" : "min");
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db, "SELECT value FROM params WHERE run = ? AND key = ?", -1, &pst,
			       NULL) != SQLITE_OK) {
		jm_err_set(err, JM_EXIT_FAIL, "store: %s", sqlite3_errmsg(db));
		goto out;
	}
	sqlite3_bind_int64(st, 1, search);
	sqlite3_bind_text(st, 2, f->search.metric, -1, SQLITE_STATIC);
	while (sqlite3_step(st) == SQLITE_ROW) {
		if (*n == cap)
			rows = jm_xrealloc(rows, (size_t)(cap = cap ? 2 * cap : 16) * sizeof *rows);
		trial_row *t = &rows[(*n)++];
		memset(t, 0, sizeof *t);
		t->run = sqlite3_column_int64(st, 0);
		snprintf(t->status, sizeof t->status, "%s", sqlite3_column_text(st, 1));
		t->error = col_text(st, 2);
		/* a pruned trial is shown with the last value it reported */
		int c = !strcmp(t->status, "pruned") ? 4 : 3;
		t->value = sqlite3_column_type(st, c) == SQLITE_NULL ? NAN : sqlite3_column_double(st, c);
		if (!strcmp(t->status, "failed"))
			t->value = NAN;
		t->epochs = sqlite3_column_int64(st, 5);
		t->number = sqlite3_column_int(st, 6);
		for (int i = 0; i < f->search.n_params; i++) {
			sqlite3_reset(pst);
			sqlite3_bind_int64(pst, 1, t->run);
			sqlite3_bind_text(pst, 2, f->search.params[i].key, -1, SQLITE_STATIC);
			t->values[i] = sqlite3_step(pst) == SQLITE_ROW ? col_text(pst, 0) : jm_xstrdup("-");
		}
	}
out:
	sqlite3_finalize(st);
	sqlite3_finalize(pst);
	return rows;
}

static void free_trials(trial_row *rows, int n, int nparams)
{
	for (int i = 0; i < n; i++) {
		free(rows[i].error);
		for (int k = 0; k < nparams; k++)
			free(rows[i].values[k]);
	}
	free(rows);
}

/* The best complete trial, or -1. */
static int best_trial(const trial_row *rows, int n, int maximize)
{
	int best = -1;
	for (int i = 0; i < n; i++)
		if (!strcmp(rows[i].status, "done") && !isnan(rows[i].value) &&
		    (best < 0 || (maximize ? rows[i].value > rows[best].value
					   : rows[i].value < rows[best].value)))
			best = i;
	return best;
}

static void print_text(const jm_flow *f, const trial_row *rows, int n)
{
	int np = f->search.n_params, maximize = jm_flow_search_maximize(f);
	static const char *const kinds[] = {"done", "pruned", "failed"};
	int best = best_trial(rows, n, maximize), counts[4] = {0, 0, 0, 0};
	for (int i = 0; i < n; i++) {
		int k = 0;
		while (k < 3 && strcmp(rows[i].status, kinds[k]))
			k++;
		counts[k]++;
	}
	if (best >= 0) {
		printf("  %-9s run %lld (trial %d), %s %.4f\n", "best", (long long)rows[best].run,
		       rows[best].number, f->search.metric, rows[best].value);
		for (int k = 0; k < np; k++)
			printf("  %-9s %s = %s\n", "", f->search.params[k].key, rows[best].values[k]);
	}
	printf("\ntrials    %d of %lld: %d done, %d pruned, %d failed, %d unfinished; %s, %s\n", n,
	       (long long)f->search.trials, counts[0], counts[1], counts[2], counts[3],
	       f->search.metric, maximize ? "higher is better" : "lower is better");
	int w[JM_FLOW_MAX_SEARCHED];
	for (int k = 0; k < np; k++) {
		w[k] = (int)strlen(f->search.params[k].key);
		for (int i = 0; i < n; i++)
			if ((int)strlen(rows[i].values[k]) > w[k])
				w[k] = (int)strlen(rows[i].values[k]);
		if (w[k] > 24)
			w[k] = 24;
	}
	printf("  %5s %5s  %-8s %6s %10s", "TRIAL", "RUN", "STATUS", "EPOCHS", f->search.metric);
	for (int k = 0; k < np; k++)
		printf("  %-*.*s", k + 1 < np ? w[k] : 0, w[k], f->search.params[k].key);
	printf("\n");
	for (int i = 0; i < n; i++) {
		const trial_row *t = &rows[i];
		char v[32] = "-";
		if (!isnan(t->value))
			snprintf(v, sizeof v, "%.4f", t->value);
		printf("%c %5d %5lld  %-8s %6lld %10s", i == best ? '*' : ' ', t->number, (long long)t->run,
		       t->status, (long long)t->epochs, v);
		for (int k = 0; k < np; k++)
			printf("  %-*.*s", k + 1 < np ? w[k] : 0, w[k], t->values[k]);
		printf("\n");
	}
	for (int i = 0; i < n; i++)
		if (rows[i].error[0])
			printf("  run %lld %s: %s\n", (long long)rows[i].run, rows[i].status,
			       rows[i].error);
}

static void print_json(const jm_flow *f, const trial_row *rows, int n)
{
	int np = f->search.n_params, maximize = jm_flow_search_maximize(f);
	int best = best_trial(rows, n, maximize);
	fputs(",\n  \"search\": {\"metric\": ", stdout);
	jm_json_str(stdout, f->search.metric);
	printf(", \"direction\": \"%s\", \"trials_planned\": %lld, \"best_run\": ",
	       maximize ? "max" : "min", (long long)f->search.trials);
	if (best >= 0)
		printf("%lld", (long long)rows[best].run);
	else
		fputs("null", stdout);
	fputs(", \"trials\": [", stdout);
	for (int i = 0; i < n; i++) {
		const trial_row *t = &rows[i];
		printf("%s\n    {\"trial\": %d, \"run\": %lld, \"status\": \"%s\", \"epochs\": %lld, "
		       "\"value\": ", i ? "," : "", t->number, (long long)t->run, t->status,
		       (long long)t->epochs);
		jm_json_write_num(stdout, t->value, 0);
		fputs(", \"error\": ", stdout);
		if (t->error[0])
			jm_json_str(stdout, t->error);
		else
			fputs("null", stdout);
		fputs(", \"params\": {", stdout);
		for (int k = 0; k < np; k++) {
			fputs(k ? ", " : "", stdout);
			jm_json_str(stdout, f->search.params[k].key);
			fputs(": ", stdout);
			jm_json_str(stdout, t->values[k]);
		}
		fputs("}}", stdout);
	}
	fputs(n ? "\n  ]}" : "]}", stdout);
}

int jm_show_search(sqlite3 *db, int64_t search, const char *flow_text, int json, jm_err *err)
{
	jm_flow *f = NULL;
	jm_err perr = {0};
	if (!flow_text || jm_flow_parse(&f, flow_text, "search flow", &perr) < 0)
		return 0; /* nothing to add without its flow */
	int n = 0;
	jm_err lerr = {0};
	trial_row *rows = load_trials(db, search, f, &n, &lerr);
	int rc = 0;
	if (lerr.msg[0])
		rc = jm_err_set(err, JM_EXIT_FAIL, "%s", lerr.msg);
	else if (json)
		print_json(f, rows, n);
	else
		print_text(f, rows, n);
	free_trials(rows, n, f->search.n_params);
	jm_flow_free(f);
	return rc;
}
