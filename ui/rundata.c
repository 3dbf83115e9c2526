/*
 * rundata.c: the store reads of the TUI (see rundata.h).  Every statement
 * is prepared per call: the TUI polls a few times a second, and a prepare
 * costs microseconds against the milliseconds a person can see.
 */
#include "ui/rundata.h"

#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/query.h"
#include "store/store.h"
#include "ui/canvas.h"

static int sql_fail(sqlite3 *db, jm_err *err)
{
	return jm_err_set(err, JM_EXIT_FAIL, "store: %s", sqlite3_errmsg(db));
}

static char *col_dup(sqlite3_stmt *st, int i)
{
	const unsigned char *t = sqlite3_column_text(st, i);
	return t ? jm_xstrdup((const char *)t) : NULL;
}

static double col_real(sqlite3_stmt *st, int i)
{
	return sqlite3_column_type(st, i) == SQLITE_NULL ? NAN : sqlite3_column_double(st, i);
}

void jm_rundata_begin(sqlite3 *db)
{
	sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
}

void jm_rundata_end(sqlite3 *db)
{
	sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
}

void jm_run_row_clear(jm_run_row *r)
{
	if (!r)
		return;
	free(r->name), free(r->flow_name), free(r->device), free(r->host), free(r->error);
	memset(r, 0, sizeof *r);
}

void jm_run_rows_free(jm_run_row *rows, size_t n)
{
	for (size_t i = 0; i < n; i++)
		jm_run_row_clear(&rows[i]);
	free(rows);
}

/* The key metric of lists, first present in this order. */
#define KEY_METRIC_SQL                                                                    \
	"(SELECT key || char(9) || IFNULL(last, 'nan') FROM metric_summary m WHERE m.run = r.id " \
	"AND key IN ('test_acc', 'val_acc', 'best_val_acc', 'val_loss', 'train_loss', 'loss') " \
	"ORDER BY CASE key WHEN 'test_acc' THEN 0 WHEN 'val_acc' THEN 1 WHEN 'best_val_acc' " \
	"THEN 2 WHEN 'val_loss' THEN 3 WHEN 'train_loss' THEN 4 ELSE 5 END LIMIT 1)"

/* `started` as a row holds it: the run's start moved on by the time it
 * spent stopped between --resume segments, so that ended (or now) minus
 * started is the time it ran, as `jianmo runs` shows it
 * (JM_RUN_DURATION_SQL), and a step rate over it is the rate it ran at. */
static const char row_sql[] =
	"SELECT r.id, r.kind, IFNULL(r.parent, 0), r.status, r.name, " JM_RUN_FLOW_NAME_SQL ", "
	"IFNULL(r.flow_id, 0), "
	"r.device, r.host, r.error, r.created, IFNULL(r.resumed, r.started) - r.prior, r.ended, "
	"IFNULL(r.pid, 0), "
	KEY_METRIC_SQL ", (SELECT count(*) FROM runs c WHERE c.parent = r.id) "
	"FROM runs r LEFT JOIN flows f ON f.id = r.flow_id WHERE r.id = ?";

static void row_fill(sqlite3_stmt *st, jm_run_row *r)
{
	memset(r, 0, sizeof *r);
	r->id = sqlite3_column_int64(st, 0);
	snprintf(r->kind, sizeof r->kind, "%s", (const char *)sqlite3_column_text(st, 1));
	r->parent = sqlite3_column_int64(st, 2);
	snprintf(r->status, sizeof r->status, "%s", (const char *)sqlite3_column_text(st, 3));
	char *name = col_dup(st, 4);
	r->flow_name = col_dup(st, 5);
	r->flow_id = sqlite3_column_int64(st, 6);
	r->device = col_dup(st, 7);
	r->host = col_dup(st, 8);
	r->error = col_dup(st, 9);
	r->created = sqlite3_column_double(st, 10);
	r->has_started = sqlite3_column_type(st, 11) != SQLITE_NULL;
	r->started = sqlite3_column_double(st, 11);
	r->has_ended = sqlite3_column_type(st, 12) != SQLITE_NULL;
	r->ended = sqlite3_column_double(st, 12);
	r->pid = sqlite3_column_int64(st, 13);
	const char *km = (const char *)sqlite3_column_text(st, 14);
	r->metric = NAN;
	if (km) {
		const char *tab = strchr(km, '\t');
		size_t n = tab ? (size_t)(tab - km) : strlen(km);
		if (n >= sizeof r->metric_key)
			n = sizeof r->metric_key - 1;
		memcpy(r->metric_key, km, n);
		r->metric_key[n] = '\0';
		r->metric = tab && strcmp(tab + 1, "nan") ? strtod(tab + 1, NULL) : NAN;
	}
	r->children = sqlite3_column_int64(st, 15);
	if (name)
		r->name = name;
	else if (r->parent)
		r->name = jm_xasprintf("(trial of %lld)", (long long)r->parent);
	else
		r->name = jm_xstrdup(r->flow_name ? r->flow_name : "-");
}

static int rows_by_id(sqlite3 *db, const int64_t *ids, size_t n, jm_run_row **rows,
		      jm_err *err)
{
	sqlite3_stmt *st = NULL;
	*rows = NULL;
	if (sqlite3_prepare_v2(db, row_sql, -1, &st, NULL) != SQLITE_OK)
		return sql_fail(db, err);
	jm_run_row *out = jm_xcalloc(n ? n : 1, sizeof *out);
	size_t got = 0;
	for (size_t i = 0; i < n; i++) {
		sqlite3_reset(st);
		sqlite3_bind_int64(st, 1, ids[i]);
		if (sqlite3_step(st) == SQLITE_ROW)
			row_fill(st, &out[got++]);
	}
	sqlite3_finalize(st);
	*rows = out;
	return (int)got;
}

int jm_rundata_list(sqlite3 *db, const char *filter, const char *sort, long limit,
		    jm_run_row **rows, size_t *n, jm_err *err)
{
	jm_query *qf = NULL, *qs = NULL;
	int64_t *ids = NULL;
	size_t nids = 0;
	int rc = -1;
	*rows = NULL;
	*n = 0;
	if (filter && *filter && jm_query_compile(filter, &qf, err) < 0)
		goto out;
	if (sort && *sort && jm_query_compile_sort(sort, &qs, err) < 0)
		goto out;
	jm_rundata_begin(db);
	if (jm_query_run_ids(db, qf, qs, limit, &ids, &nids, err) == 0) {
		int got = rows_by_id(db, ids, nids, rows, err);
		if (got >= 0)
			*n = (size_t)got, rc = 0;
	}
	jm_rundata_end(db);
out:
	free(ids);
	jm_query_free(qf);
	jm_query_free(qs);
	return rc;
}

int jm_rundata_run(sqlite3 *db, int64_t id, jm_run_row *out, jm_err *err)
{
	jm_run_row *rows = NULL;
	int got = rows_by_id(db, &id, 1, &rows, err);
	if (got <= 0) {
		free(rows);
		memset(out, 0, sizeof *out);
		return got < 0 ? -1 : jm_err_set(err, JM_EXIT_INPUT, "no run \"%lld\"", (long long)id);
	}
	*out = rows[0];
	free(rows);
	return 0;
}

int jm_rundata_children(sqlite3 *db, int64_t id, jm_run_row **rows, size_t *n, jm_err *err)
{
	sqlite3_stmt *st = NULL;
	int64_t *ids = NULL;
	size_t cnt = 0, cap = 0;
	*rows = NULL;
	*n = 0;
	if (sqlite3_prepare_v2(db, "SELECT id FROM runs WHERE parent = ? ORDER BY id", -1, &st,
			       NULL) != SQLITE_OK)
		return sql_fail(db, err);
	sqlite3_bind_int64(st, 1, id);
	while (sqlite3_step(st) == SQLITE_ROW) {
		if (cnt == cap)
			ids = jm_xrealloc(ids, (cap = cap ? cap * 2 : 16) * sizeof *ids);
		ids[cnt++] = sqlite3_column_int64(st, 0);
	}
	sqlite3_finalize(st);
	int got = rows_by_id(db, ids, cnt, rows, err);
	free(ids);
	if (got < 0)
		return -1;
	*n = (size_t)got;
	return 0;
}

void jm_kv_free(jm_kv *kv)
{
	for (size_t i = 0; i < kv->n; i++)
		free(kv->k[i]), free(kv->v[i]);
	free(kv->k);
	free(kv->v);
	memset(kv, 0, sizeof *kv);
}

int jm_rundata_params(sqlite3 *db, int64_t run, jm_kv *out, jm_err *err)
{
	sqlite3_stmt *st = NULL;
	size_t cap = 0;
	memset(out, 0, sizeof *out);
	if (sqlite3_prepare_v2(db, "SELECT key, value FROM params WHERE run = ?", -1, &st,
			       NULL) != SQLITE_OK)
		return sql_fail(db, err);
	sqlite3_bind_int64(st, 1, run);
	while (sqlite3_step(st) == SQLITE_ROW) {
		if (out->n == cap) {
			cap = cap ? cap * 2 : 64;
			out->k = jm_xrealloc(out->k, cap * sizeof *out->k);
			out->v = jm_xrealloc(out->v, cap * sizeof *out->v);
		}
		out->k[out->n] = col_dup(st, 0);
		out->v[out->n++] = col_dup(st, 1);
	}
	sqlite3_finalize(st);
	return 0;
}


static void summary_fill(sqlite3_stmt *st, jm_summary_row *s)
{
	snprintf(s->key, sizeof s->key, "%s", (const char *)sqlite3_column_text(st, 0));
	s->last = col_real(st, 1);
	s->min = col_real(st, 2);
	s->max = col_real(st, 3);
	s->last_step = sqlite3_column_int64(st, 4);
	s->count = sqlite3_column_int64(st, 5);
}

int jm_rundata_summaries(sqlite3 *db, int64_t run, jm_summary_row **rows, size_t *n,
			 jm_err *err)
{
	sqlite3_stmt *st = NULL;
	size_t cap = 0;
	*rows = NULL;
	*n = 0;
	if (sqlite3_prepare_v2(db, "SELECT key, last, min, max, last_step, count FROM "
				   "metric_summary WHERE run = ? ORDER BY key", -1, &st,
			       NULL) != SQLITE_OK)
		return sql_fail(db, err);
	sqlite3_bind_int64(st, 1, run);
	while (sqlite3_step(st) == SQLITE_ROW) {
		if (*n == cap)
			*rows = jm_xrealloc(*rows, (cap = cap ? cap * 2 : 32) * sizeof **rows);
		summary_fill(st, &(*rows)[(*n)++]);
	}
	sqlite3_finalize(st);
	return 0;
}

int jm_rundata_summary(sqlite3 *db, int64_t run, const char *key, jm_summary_row *out)
{
	sqlite3_stmt *st = NULL;
	int found = 0;
	if (sqlite3_prepare_v2(db, "SELECT key, last, min, max, last_step, count FROM "
				   "metric_summary WHERE run = ? AND key = ?", -1, &st,
			       NULL) != SQLITE_OK)
		return 0;
	sqlite3_bind_int64(st, 1, run);
	sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW)
		summary_fill(st, out), found = 1;
	sqlite3_finalize(st);
	return found;
}

void jm_history_free(jm_history *h)
{
	free(h->x);
	free(h->y);
	memset(h, 0, sizeof *h);
}

int jm_rundata_history(sqlite3 *db, int64_t run, const char *key, jm_history *out, jm_err *err)
{
	sqlite3_stmt *st = NULL;
	int cap = 0;
	memset(out, 0, sizeof *out);
	if (sqlite3_prepare_v2(db, "SELECT p.step, p.value FROM metric_spans s JOIN metric_points p "
				   "ON p.id BETWEEN s.first AND s.last WHERE s.run = ? AND s.key = ? "
				   "ORDER BY p.id", -1, &st, NULL) != SQLITE_OK)
		return sql_fail(db, err);
	sqlite3_bind_int64(st, 1, run);
	sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
	while (sqlite3_step(st) == SQLITE_ROW) {
		if (out->n == cap) {
			cap = cap ? cap * 2 : 256;
			out->x = jm_xrealloc(out->x, (size_t)cap * sizeof *out->x);
			out->y = jm_xrealloc(out->y, (size_t)cap * sizeof *out->y);
		}
		out->x[out->n] = (double)sqlite3_column_int64(st, 0);
		out->y[out->n++] = col_real(st, 1);
	}
	sqlite3_finalize(st);
	return 0;
}

char *jm_rundata_run_file(const char *home, int64_t run, const char *name)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/runs/%lld/%s", home, (long long)run, name);
	FILE *fp = fopen(path, "rb");
	if (!fp)
		return NULL;
	char *text = NULL;
	size_t len = 0;
	FILE *mem = open_memstream(&text, &len);
	char buf[8192];
	size_t got;
	while ((got = fread(buf, 1, sizeof buf, fp)) > 0 && len < (16u << 20))
		fwrite(buf, 1, got, mem);
	fclose(mem);
	fclose(fp);
	return text;
}

char *jm_rundata_log_tail(const char *home, int64_t run, int max_lines)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/runs/%lld/log.txt", home, (long long)run);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return jm_xstrdup("");
	struct stat sb;
	off_t start = 0;
	const off_t window = 64 * 1024;
	if (fstat(fd, &sb) == 0 && sb.st_size > window)
		start = sb.st_size - window;
	char *buf = jm_xmalloc((size_t)window + 1);
	ssize_t got = pread(fd, buf, (size_t)window, start);
	close(fd);
	if (got < 0)
		got = 0;
	buf[got] = '\0';
	/* walk back max_lines line ends (a final newline does not count) */
	ssize_t i = got;
	if (i > 0 && buf[i - 1] == '\n')
		buf[--i] = '\0';
	int lines = 0;
	while (i > 0) {
		if (buf[i - 1] == '\n' && ++lines == max_lines)
			break;
		i--;
	}
	char *out = jm_xstrdup(buf + i);
	free(buf);
	return out;
}

/* ---- formatting ------------------------------------------------------------ */

void jm_fmt_metric(char *out, size_t cap, double v)
{
	if (isnan(v))
		snprintf(out, cap, "nan");
	else if (isinf(v))
		snprintf(out, cap, v > 0 ? "inf" : "-inf");
	else if (v == 0 || (fabs(v) >= 1e-3 && fabs(v) < 1e3))
		snprintf(out, cap, "%.4f", v);
	else if (fabs(v) >= 1e3 && fabs(v) < 1e7)
		snprintf(out, cap, "%.1f", v);
	else
		snprintf(out, cap, "%.3e", v);
}

int jm_run_duration(const jm_run_row *r, double now, double *secs)
{
	if (!r->has_started)
		return 0;
	*secs = (r->has_ended ? r->ended : now) - r->started;
	return 1;
}

static const struct {
	const char *status;
	int colour, terminal;
} statuses[] = {
	{JM_RUN_DONE, JM_COL_OK, 1},      {JM_RUN_FAILED, JM_COL_BAD, 1},
	{JM_RUN_CRASHED, JM_COL_BAD, 1},  {JM_RUN_RUNNING, JM_COL_LIVE, 0},
	{JM_RUN_STOPPED, JM_COL_WARN, 1}, {JM_RUN_PRUNED, JM_COL_OTHER, 1},
	{JM_RUN_QUEUED, JM_COL_ACCENT, 0},
};

int jm_status_colour(const char *status)
{
	for (size_t i = 0; i < sizeof statuses / sizeof statuses[0]; i++)
		if (!strcmp(statuses[i].status, status))
			return statuses[i].colour;
	return JM_COL_NONE;
}

int jm_status_terminal(const char *status)
{
	for (size_t i = 0; i < sizeof statuses / sizeof statuses[0]; i++)
		if (!strcmp(statuses[i].status, status))
			return statuses[i].terminal;
	return 0;
}
