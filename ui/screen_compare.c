/*
 * screen_compare.c: Compare: runs as rows, their params and metrics as
 * columns, built for thousands of runs.
 *
 *   load (once) ── runs (id, status, name) ── params (run, key, value)
 *               ── metric_summary (run, key, last, min, max)
 *               ──▶ a matrix: values interned (equal strings share one
 *                   pointer, so "differs" is a pointer compare), metrics
 *                   as doubles (best = max or min by the metric's name)
 *   view ── params that differ first (`=` shows the equal ones too) ──
 *           sort by any column (`s`, again: reverse) ── `/` filter through
 *           store/query.h ──▶ the visible rows, in order
 *   `v` overlays the marked runs' curves of the metric under the column
 *   cursor; `D` diffs two runs' flows; `e` writes the table as CSV.
 *
 *   poll (every second) ── PRAGMA data_version: nothing committed, nothing
 *        read ── else a fingerprint of the compared runs (status, params,
 *        metric counts) ── changed: load again, keeping the cursor's run,
 *        the sort, the marks, the column cursor, the filter and the chart.
 *        Ctrl-L loads again at once.
 *
 * With a few runs (marked on Home) params and summaries are read per run;
 * with many, by one scan of each table.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store/query.h"
#include "ui/app.h"
#include "ui/chart.h"
#include "ui/rundata.h"
#include "util/strbuf.h"

#define JM_COMPARE_POLL_S 1.0

/* ---- interned strings ------------------------------------------------------- */

typedef struct istr {
	char *s;
	double num;   /* the value as a number, when is_num */
	int is_num;
} istr;

typedef struct intern {
	istr *v;
	int n, cap;
	int *slot;    /* open addressing: index + 1, 0 empty */
	int nslot;
} intern;

static unsigned str_hash(const char *s)
{
	unsigned h = 2166136261u;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

static void intern_grow(intern *t)
{
	int ns = t->nslot ? t->nslot * 2 : 256;
	int *slot = jm_xcalloc((size_t)ns, sizeof *slot);
	for (int i = 0; i < t->n; i++) {
		unsigned h = str_hash(t->v[i].s) & (unsigned)(ns - 1);
		while (slot[h])
			h = (h + 1) & (unsigned)(ns - 1);
		slot[h] = i + 1;
	}
	free(t->slot);
	t->slot = slot;
	t->nslot = ns;
}

static int intern_get(intern *t, const char *s)
{
	if (t->n * 2 >= t->nslot)
		intern_grow(t);
	unsigned h = str_hash(s) & (unsigned)(t->nslot - 1);
	while (t->slot[h]) {
		if (!strcmp(t->v[t->slot[h] - 1].s, s))
			return t->slot[h] - 1;
		h = (h + 1) & (unsigned)(t->nslot - 1);
	}
	if (t->n == t->cap)
		t->v = jm_xrealloc(t->v, (size_t)(t->cap = t->cap ? t->cap * 2 : 256) * sizeof *t->v);
	char *end;
	istr *e = &t->v[t->n];
	e->s = jm_xstrdup(s);
	e->num = strtod(s, &end);
	e->is_num = *s && !*end;
	t->slot[h] = ++t->n;
	return t->n - 1;
}

static void intern_free(intern *t)
{
	for (int i = 0; i < t->n; i++)
		free(t->v[i].s);
	free(t->v);
	free(t->slot);
	memset(t, 0, sizeof *t);
}

/* ---- the matrix ------------------------------------------------------------- */

enum col_kind { COL_PARAM, COL_LAST, COL_BEST };

/* The fixed columns, left of cols[0], as the cursor reaches them. */
enum { SORT_ID = -3, SORT_STATUS = -2, SORT_NAME = -1 };

typedef struct column {
	enum col_kind kind;
	int index;      /* param key or metric key */
	int width;
} column;

typedef struct compare {
	jm_screen base;
	int64_t *req;             /* the runs asked for (nreq 0: every run) */
	size_t nreq;
	double polled;
	int64_t data_version;     /* PRAGMA data_version at the last look */
	uint64_t print;           /* the compared runs' fingerprint at load */

	size_t n;                 /* runs */
	int64_t *ids;             /* ascending, for lookups */
	int *status, *name;       /* interned (vals) */
	intern keys, vals;        /* param and metric keys; values */
	int np, nm;
	int *pkey, *mkey;         /* key ids of param / metric columns, sorted */
	int *pval;                /* n x np: value id or -1 */
	double *mlast, *mbest;    /* n x nm, NaN when absent */
	int *pdiffer;             /* per param column */
	int *pwidth;
	int ndiffer;

	int *order, nvis;         /* visible rows in display order */
	uint8_t *marked;
	size_t nmarked;
	column *cols;
	int ncols;
	jm_list rows;
	int ccol, cleft;          /* column cursor (a SORT_* fixed column, or an
				   * index into cols) and first scrolled column shown */
	int show_equal;
	int sort_col;             /* as ccol */
	int sort_desc;
	char sort_name[96];       /* the sorted column, kept across re-layouts and loads */

	int chart;                /* chart view */
	int chart_metric;
	jm_history *hist;
	int64_t *hist_ids;
	int nhist;
	double load_ms;
} compare;

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int row_of(const compare *c, int64_t id)
{
	size_t lo = 0, hi = c->n;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (c->ids[mid] < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < c->n && c->ids[lo] == id ? (int)lo : -1;
}

typedef struct triple {
	int row, key;
	int val;          /* params */
	double last, best; /* metrics */
} triple;

typedef struct tvec {
	triple *v;
	size_t n, cap;
} tvec;

static void tvec_push(tvec *t, triple x)
{
	if (t->n == t->cap)
		t->v = jm_xrealloc(t->v, (t->cap = t->cap ? t->cap * 2 : 4096) * sizeof *t->v);
	t->v[t->n++] = x;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

static intern *sort_keys_ctx;

static int cmp_keyid(const void *a, const void *b)
{
	return strcmp(sort_keys_ctx->v[*(const int *)a].s, sort_keys_ctx->v[*(const int *)b].s);
}

/* Preferred metrics first (as lists show them), then by name; per-class
 * test accuracies last. */
static int metric_rank(const char *k)
{
	static const char *const pref[] = {"test_acc", "val_acc", "best_val_acc", "val_loss",
					   "test_loss", "train_acc", "train_loss", "loss"};
	for (size_t i = 0; i < sizeof pref / sizeof pref[0]; i++)
		if (!strcmp(k, pref[i]))
			return (int)i;
	return strncmp(k, "test_acc_class_", 15) ? 100 : 200;
}

static int cmp_metric(const void *a, const void *b)
{
	const char *x = sort_keys_ctx->v[*(const int *)a].s, *y = sort_keys_ctx->v[*(const int *)b].s;
	int rx = metric_rank(x), ry = metric_rank(y);
	return rx != ry ? rx - ry : strcmp(x, y);
}

static int load_runs(compare *c, sqlite3 *db, const int64_t *ids, size_t n, jm_err *err)
{
	sqlite3_stmt *st = NULL;
	const char *sql = "SELECT r.id, r.status, COALESCE(r.name, f.name, "
			  "CASE WHEN r.parent THEN '(trial of ' || r.parent || ')' END, '-') "
			  "FROM runs r LEFT JOIN flows f ON f.id = r.flow_id";
	char *q = n ? jm_xasprintf("%s WHERE r.id = ?", sql) : jm_xasprintf("%s ORDER BY r.id", sql);
	int rc = sqlite3_prepare_v2(db, q, -1, &st, NULL);
	free(q);
	if (rc != SQLITE_OK)
		return jm_err_set(err, JM_EXIT_FAIL, "store: %s", sqlite3_errmsg(db));
	size_t cap = n ? n : 1024;
	c->ids = jm_xmalloc(cap * sizeof *c->ids);
	int64_t *sorted = NULL;
	if (n) {
		sorted = jm_xmalloc(n * sizeof *sorted);
		memcpy(sorted, ids, n * sizeof *sorted);
		qsort(sorted, n, sizeof *sorted, cmp_i64);
	}
	/* ids ascending; status and name follow */
	int *status = jm_xmalloc(cap * sizeof *status), *name = jm_xmalloc(cap * sizeof *name);
	size_t got = 0;
	for (size_t i = 0; n == 0 || i < n; i++) {
		if (n) {
			if (i > 0 && sorted[i] == sorted[i - 1])
				continue;
			sqlite3_reset(st);
			sqlite3_bind_int64(st, 1, sorted[i]);
		}
		if (sqlite3_step(st) != SQLITE_ROW) {
			if (n)
				continue;
			break;
		}
		if (got == cap) {
			cap *= 2;
			c->ids = jm_xrealloc(c->ids, cap * sizeof *c->ids);
			status = jm_xrealloc(status, cap * sizeof *status);
			name = jm_xrealloc(name, cap * sizeof *name);
		}
		c->ids[got] = sqlite3_column_int64(st, 0);
		status[got] = intern_get(&c->vals, (const char *)sqlite3_column_text(st, 1));
		name[got++] = intern_get(&c->vals, (const char *)sqlite3_column_text(st, 2));
	}
	sqlite3_finalize(st);
	free(sorted);
	c->n = got;
	c->status = status;
	c->name = name;
	return 0;
}

/* Scan params and metric_summary, whole tables or run by run. */
static int load_values(compare *c, sqlite3 *db, int all, tvec *pt, tvec *mt, jm_err *err)
{
	static const char *const sql[2][2] = {
		{"SELECT run, key, value FROM params WHERE run = ?",
		 "SELECT run, key, value FROM params"},
		{"SELECT run, key, last, min, max FROM metric_summary WHERE run = ?",
		 "SELECT run, key, last, min, max FROM metric_summary"},
	};
	for (int t = 0; t < 2; t++) {
		sqlite3_stmt *st = NULL;
		if (sqlite3_prepare_v2(db, sql[t][all], -1, &st, NULL) != SQLITE_OK)
			return jm_err_set(err, JM_EXIT_FAIL, "store: %s", sqlite3_errmsg(db));
		int64_t last_id = -1;
		int row = -1;
		for (size_t i = 0; all ? i == 0 : i < c->n; i++) {
			if (!all) {
				sqlite3_reset(st);
				sqlite3_bind_int64(st, 1, c->ids[i]);
			}
			while (sqlite3_step(st) == SQLITE_ROW) {
				int64_t id = sqlite3_column_int64(st, 0);
				if (id != last_id)
					row = row_of(c, id), last_id = id;
				if (row < 0)
					continue;
				int key = intern_get(&c->keys, (const char *)sqlite3_column_text(st, 1));
				if (t == 0) {
					/* an empty value is no value (see param_differs) */
					const char *v = (const char *)sqlite3_column_text(st, 2);
					if (v && *v)
						tvec_push(pt, (triple){row, key, intern_get(&c->vals, v), 0, 0});
				} else {
					double last = sqlite3_column_type(st, 2) == SQLITE_NULL
							      ? NAN : sqlite3_column_double(st, 2);
					int maxi = jm_query_metric_maximize(c->keys.v[key].s);
					int bc = maxi ? 4 : 3;
					double best = sqlite3_column_type(st, bc) == SQLITE_NULL
							      ? NAN : sqlite3_column_double(st, bc);
					tvec_push(mt, (triple){row, key, 0, last, best});
				}
			}
		}
		sqlite3_finalize(st);
	}
	return 0;
}

/* Key ids used in t, sorted by cmp; *map gets key id -> column. */
static int *columns_of(compare *c, const tvec *t, int *count, int **map,
		       int (*cmp)(const void *, const void *))
{
	int *seen = jm_xcalloc((size_t)c->keys.n + 1, sizeof *seen);
	int n = 0;
	for (size_t i = 0; i < t->n; i++)
		if (!seen[t->v[i].key]++)
			n++;
	int *cols = jm_xmalloc(((size_t)n + 1) * sizeof *cols);
	n = 0;
	for (int k = 0; k < c->keys.n; k++)
		if (seen[k])
			cols[n++] = k;
	sort_keys_ctx = &c->keys;
	qsort(cols, (size_t)n, sizeof *cols, cmp);
	*map = seen; /* reused: key -> column */
	for (int k = 0; k < c->keys.n; k++)
		seen[k] = -1;
	for (int i = 0; i < n; i++)
		seen[cols[i]] = i;
	*count = n;
	return cols;
}

static int is_search_key(const char *key)
{
	return !strncmp(key, "search.", 7);
}

/*
 * Whether param column k differs between the runs.  A plain run keeps only
 * the keys that have a value; a search and its trials keep every key, the
 * empty ones and the [search] block included.  So an empty value was
 * dropped as no value at load, and search.* keys are compared only between
 * runs that have [search] settings (has_search): that a plain run has none
 * says what kind of run it is, not how it trained.  `jianmo compare`
 * (src/cli_runs.c) marks differences by the same rule.
 */
static int param_differs(const compare *c, size_t k, const unsigned char *has_search)
{
	size_t np = (size_t)c->np;
	int skip_plain = is_search_key(c->keys.v[c->pkey[k]].s), have_first = 0, first = -1;
	for (size_t r = 0; r < c->n; r++) {
		if (skip_plain && !has_search[r])
			continue;
		int v = c->pval[r * np + k];
		if (!have_first)
			first = v, have_first = 1;
		else if (v != first)
			return 1;
	}
	return 0;
}

static int compare_load(compare *c, sqlite3 *db, const int64_t *ids, size_t n, jm_err *err)
{
	tvec pt = {0}, mt = {0};
	int rc = -1, *pmap = NULL, *mmap = NULL;
	unsigned char *has_search = NULL;
	jm_rundata_begin(db);
	if (load_runs(c, db, ids, n, err) < 0 ||
	    load_values(c, db, n == 0 || n > 200, &pt, &mt, err) < 0)
		goto out;
	c->pkey = columns_of(c, &pt, &c->np, &pmap, cmp_keyid);
	c->mkey = columns_of(c, &mt, &c->nm, &mmap, cmp_metric);
	size_t np = (size_t)c->np, nm = (size_t)c->nm;
	c->pval = jm_xmalloc((c->n * np + 1) * sizeof *c->pval);
	for (size_t i = 0; i < c->n * np; i++)
		c->pval[i] = -1;
	c->mlast = jm_xmalloc((c->n * nm + 1) * sizeof *c->mlast);
	c->mbest = jm_xmalloc((c->n * nm + 1) * sizeof *c->mbest);
	for (size_t i = 0; i < c->n * nm; i++)
		c->mlast[i] = c->mbest[i] = NAN;
	for (size_t i = 0; i < pt.n; i++)
		c->pval[(size_t)pt.v[i].row * np + (size_t)pmap[pt.v[i].key]] = pt.v[i].val;
	for (size_t i = 0; i < mt.n; i++) {
		size_t at = (size_t)mt.v[i].row * nm + (size_t)mmap[mt.v[i].key];
		c->mlast[at] = mt.v[i].last;
		c->mbest[at] = mt.v[i].best;
	}
	/* which params differ, and how wide their columns are */
	has_search = jm_xcalloc(c->n + 1, 1);
	for (size_t k = 0; k < np; k++)
		if (is_search_key(c->keys.v[c->pkey[k]].s))
			for (size_t r = 0; r < c->n; r++)
				if (c->pval[r * np + k] >= 0)
					has_search[r] = 1;
	c->pdiffer = jm_xcalloc(np + 1, sizeof *c->pdiffer);
	c->pwidth = jm_xcalloc(np + 1, sizeof *c->pwidth);
	for (size_t k = 0; k < np; k++) {
		const char *key = c->keys.v[c->pkey[k]].s, *dot = strchr(key, '.');
		int w = jm_text_width(dot ? dot + 1 : key);
		c->pdiffer[k] = param_differs(c, k, has_search);
		for (size_t r = 0; r < c->n; r++) {
			int v = c->pval[r * np + k];
			int vw = v >= 0 ? jm_text_width(c->vals.v[v].s) : 1;
			if (vw > w)
				w = vw;
		}
		c->pwidth[k] = w > 16 ? 16 : w < 4 ? 4 : w;
		c->ndiffer += c->pdiffer[k];
	}
	c->marked = jm_xcalloc(c->n + 1, 1);
	c->order = jm_xmalloc((c->n + 1) * sizeof *c->order);
	rc = 0;
out:
	jm_rundata_end(db);
	free(pt.v);
	free(mt.v);
	free(pmap);
	free(mmap);
	free(has_search);
	return rc;
}

/* ---- view: columns, sort, filter ------------------------------------------ */

static void layout_columns(compare *c)
{
	free(c->cols);
	c->cols = jm_xmalloc(((size_t)c->np + 2 * (size_t)c->nm + 1) * sizeof *c->cols);
	c->ncols = 0;
	for (int pass = 0; pass < 2; pass++) /* differing params, then equal ones */
		for (int k = 0; k < c->np; k++)
			if (c->pdiffer[k] == !pass && (pass == 0 || c->show_equal))
				c->cols[c->ncols++] = (column){COL_PARAM, k, c->pwidth[k]};
	for (int k = 0; k < c->nm; k++) {
		c->cols[c->ncols++] = (column){COL_LAST, k, 9};
		c->cols[c->ncols++] = (column){COL_BEST, k, 9};
	}
	if (c->ccol >= c->ncols)
		c->ccol = c->ncols - 1;
	if (c->ccol < SORT_ID)
		c->ccol = SORT_ID;
}

static const char *col_title(const compare *c, const column *col, int line)
{
	if (col->kind == COL_PARAM) {
		const char *key = c->keys.v[c->pkey[col->index]].s, *dot = strchr(key, '.');
		static char sec[64];
		if (line == 1)
			return dot ? dot + 1 : key;
		snprintf(sec, sizeof sec, "%.*s", dot ? (int)(dot - key) : 0, key);
		return sec;
	}
	if (line == 1)
		return col->kind == COL_LAST ? "last" : "best";
	return col->kind == COL_LAST ? c->keys.v[c->mkey[col->index]].s : "";
}

static void col_name(const compare *c, int sc, char *out, size_t n)
{
	if (sc == SORT_ID) snprintf(out, n, "id");
	else if (sc == SORT_STATUS) snprintf(out, n, "status");
	else if (sc == SORT_NAME) snprintf(out, n, "name");
	else if (c->cols[sc].kind == COL_PARAM)
		snprintf(out, n, "%s", c->keys.v[c->pkey[c->cols[sc].index]].s);
	else
		snprintf(out, n, "%s %s", c->keys.v[c->mkey[c->cols[sc].index]].s,
			 c->cols[sc].kind == COL_LAST ? "last" : "best");
}

/* The column named name (col_name), or -1. */
static int col_find(const compare *c, const char *name)
{
	for (int i = 0; i < c->ncols; i++) {
		char nm[96];
		col_name(c, i, nm, sizeof nm);
		if (!strcmp(nm, name))
			return i;
	}
	return -1;
}

static const compare *sort_ctx;

static int cmp_rows(const void *a, const void *b)
{
	const compare *c = sort_ctx;
	int x = *(const int *)a, y = *(const int *)b, r = 0;
	int sc = c->sort_col;
	if (sc == SORT_ID) {
		r = c->ids[x] < c->ids[y] ? -1 : c->ids[x] > c->ids[y];
	} else if (sc == SORT_STATUS || sc == SORT_NAME) {
		const int *f = sc == SORT_STATUS ? c->status : c->name;
		r = strcmp(c->vals.v[f[x]].s, c->vals.v[f[y]].s);
	} else if (c->cols[sc].kind == COL_PARAM) {
		size_t k = (size_t)c->cols[sc].index, np = (size_t)c->np;
		int vx = c->pval[(size_t)x * np + k], vy = c->pval[(size_t)y * np + k];
		if (vx < 0 || vy < 0)
			return (vx < 0) - (vy < 0); /* missing last, either way */
		const istr *sx = &c->vals.v[vx], *sy = &c->vals.v[vy];
		r = sx->is_num && sy->is_num ? (sx->num > sy->num) - (sx->num < sy->num)
					     : strcmp(sx->s, sy->s);
	} else {
		size_t k = (size_t)c->cols[sc].index, nm = (size_t)c->nm;
		const double *m = c->cols[sc].kind == COL_LAST ? c->mlast : c->mbest;
		double vx = m[(size_t)x * nm + k], vy = m[(size_t)y * nm + k];
		if (isnan(vx) || isnan(vy))
			return isnan(vx) - isnan(vy); /* missing last, either way */
		r = (vx > vy) - (vx < vy);
	}
	if (c->sort_desc)
		r = -r;
	if (!r) /* ties: newest first */
		r = c->ids[x] < c->ids[y] ? 1 : c->ids[x] > c->ids[y] ? -1 : 0;
	return r;
}

static void apply_sort(compare *c)
{
	int64_t keep = c->nvis ? c->ids[c->order[c->rows.cur]] : -1;
	sort_ctx = c;
	qsort(c->order, (size_t)c->nvis, sizeof *c->order, cmp_rows);
	for (int i = 0; i < c->nvis; i++)
		if (c->ids[c->order[i]] == keep)
			c->rows.cur = i;
	jm_list_clamp(&c->rows);
}

/* Keep the rows whose ids are in keep (NULL: all). */
static void apply_rows(compare *c, const int64_t *keep, size_t nkeep)
{
	c->nvis = 0;
	if (!keep) {
		for (size_t i = 0; i < c->n; i++)
			c->order[c->nvis++] = (int)i;
	} else {
		for (size_t i = 0; i < nkeep; i++) {
			int r = row_of(c, keep[i]);
			if (r >= 0)
				c->order[c->nvis++] = r;
		}
	}
	c->rows.n = c->nvis;
	c->rows.cur = 0;
	sort_ctx = c;
	qsort(c->order, (size_t)c->nvis, sizeof *c->order, cmp_rows);
	jm_list_clamp(&c->rows);
}

/* The rows the filter text lets through ("": all). */
static int filter_rows(compare *c, jm_app *app, const char *text, jm_err *err)
{
	if (!*text) {
		apply_rows(c, NULL, 0);
		return 0;
	}
	jm_query *q = NULL;
	int64_t *ids = NULL;
	size_t n = 0;
	if (jm_query_compile(text, &q, err) < 0)
		return -1;
	sqlite3 *db = jm_app_db(app);
	jm_rundata_begin(db);
	int rc = jm_query_run_ids(db, q, NULL, 0, &ids, &n, err);
	jm_rundata_end(db);
	jm_query_free(q);
	if (rc < 0)
		return -1;
	apply_rows(c, ids, n);
	free(ids);
	return 0;
}

static int compare_filter(jm_screen *s, jm_app *app, const char *text, jm_err *err)
{
	compare *c = (compare *)s;
	if (filter_rows(c, app, text, err) < 0)
		return -1;
	if (*text)
		jm_app_message(app, 0, "%d of %zu runs match", c->nvis, c->n);
	return 0;
}

/* ---- actions ------------------------------------------------------------------- */

static jm_list *compare_list(jm_screen *s)
{
	return &((compare *)s)->rows;
}

static void act_col_right(jm_screen *s, jm_app *app)
{
	(void)app;
	compare *c = (compare *)s;
	if (c->ccol < c->ncols - 1)
		c->ccol++;
}

static void act_col_left(jm_screen *s, jm_app *app)
{
	(void)app;
	compare *c = (compare *)s;
	if (c->ccol > SORT_ID)
		c->ccol--;
}

static void act_sort(jm_screen *s, jm_app *app)
{
	compare *c = (compare *)s;
	int sc = c->ccol;
	if (sc >= c->ncols)
		return;
	if (c->sort_col == sc)
		c->sort_desc = !c->sort_desc;
	else if (sc < 0) /* id: newest first; status and name: A to Z */
		c->sort_col = sc, c->sort_desc = sc == SORT_ID;
	else
		c->sort_col = sc, c->sort_desc = c->cols[sc].kind != COL_PARAM &&
						 jm_query_metric_maximize(
							 c->keys.v[c->mkey[c->cols[sc].index]].s);
	col_name(c, c->sort_col, c->sort_name, sizeof c->sort_name);
	apply_sort(c);
	jm_app_message(app, 0, "sorted by %s, %s", c->sort_name,
		       c->sort_desc ? "descending" : "ascending");
}

static void act_sort_id(jm_screen *s, jm_app *app)
{
	(void)app;
	compare *c = (compare *)s;
	c->sort_desc = c->sort_col == SORT_ID ? !c->sort_desc : 1;
	c->sort_col = SORT_ID;
	apply_sort(c);
}

static void act_equal(jm_screen *s, jm_app *app)
{
	compare *c = (compare *)s;
	/* keep the sorted column across the re-layout */
	char keepname[96] = "";
	if (c->sort_col >= 0)
		col_name(c, c->sort_col, keepname, sizeof keepname);
	c->show_equal = !c->show_equal;
	layout_columns(c);
	if (c->sort_col >= 0) {
		int at = col_find(c, keepname);
		if (at >= 0)
			c->sort_col = at;
	}
	jm_app_message(app, 0, c->show_equal ? "showing every param" : "params equal in all runs hidden");
}

static void act_mark(jm_screen *s, jm_app *app)
{
	(void)app;
	compare *c = (compare *)s;
	if (!c->nvis)
		return;
	int r = c->order[c->rows.cur];
	c->marked[r] = !c->marked[r];
	c->nmarked += c->marked[r] ? 1 : (size_t)-1;
	jm_list_move(&c->rows, 1);
}

/* The runs an action works on: the marked ones, else max from the cursor. */
static int pick_runs(compare *c, int *out, int max)
{
	int n = 0;
	for (int i = 0; i < c->nvis && n < max; i++)
		if (c->marked[c->order[i]])
			out[n++] = c->order[i];
	if (n > 0)
		return n;
	for (int i = c->rows.cur; i < c->nvis && n < max; i++)
		out[n++] = c->order[i];
	return n;
}

static void hist_free(compare *c)
{
	for (int i = 0; i < c->nhist; i++)
		jm_history_free(&c->hist[i]);
	free(c->hist);
	free(c->hist_ids);
	c->hist = NULL;
	c->hist_ids = NULL;
	c->nhist = 0;
}

static void chart_load(compare *c, jm_app *app)
{
	hist_free(c);
	int pick[6];
	int n = pick_runs(c, pick, 6);
	c->hist = jm_xcalloc((size_t)n + 1, sizeof *c->hist);
	c->hist_ids = jm_xcalloc((size_t)n + 1, sizeof *c->hist_ids);
	sqlite3 *db = jm_app_db(app);
	jm_rundata_begin(db);
	for (int i = 0; i < n; i++) {
		c->hist_ids[i] = c->ids[pick[i]];
		jm_rundata_history(db, c->hist_ids[i], c->keys.v[c->mkey[c->chart_metric]].s,
				   &c->hist[i], NULL);
	}
	jm_rundata_end(db);
	c->nhist = n;
}

static void act_chart(jm_screen *s, jm_app *app)
{
	compare *c = (compare *)s;
	if (c->chart) {
		c->chart = 0;
		hist_free(c);
		return;
	}
	if (!c->nm) {
		jm_app_message(app, 1, "no metrics to chart");
		return;
	}
	if (c->ncols && c->ccol >= 0 && c->cols[c->ccol].kind != COL_PARAM) {
		c->chart_metric = c->cols[c->ccol].index;
	} else { /* a curve people follow: val_acc, else loss, else the first */
		static const char *const pref[] = {"val_acc", "loss", "val_loss"};
		c->chart_metric = 0;
		for (int p = 2; p >= 0; p--)
			for (int k = 0; k < c->nm; k++)
				if (!strcmp(c->keys.v[c->mkey[k]].s, pref[p]))
					c->chart_metric = k;
	}
	c->chart = 1;
	chart_load(c, app);
}

static void act_chart_metric(jm_screen *s, jm_app *app)
{
	compare *c = (compare *)s;
	if (!c->chart || !c->nm)
		return;
	c->chart_metric = (c->chart_metric + 1) % c->nm;
	chart_load(c, app);
}

static char *flow_text(sqlite3 *db, int64_t run)
{
	sqlite3_stmt *st = NULL;
	char *t = NULL;
	if (sqlite3_prepare_v2(db, "SELECT f.text FROM runs r JOIN flows f ON f.id = r.flow_id "
				   "WHERE r.id = ?", -1, &st, NULL) != SQLITE_OK)
		return NULL;
	sqlite3_bind_int64(st, 1, run);
	if (sqlite3_step(st) == SQLITE_ROW)
		t = jm_xstrdup((const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	return t;
}

static int split_lines(char *text, char ***out)
{
	int n = 0, cap = 0;
	*out = NULL;
	for (char *p = text; p && *p;) {
		char *nl = strchr(p, '\n');
		if (nl)
			*nl = '\0';
		if (n == cap)
			*out = jm_xrealloc(*out, (size_t)(cap = cap ? cap * 2 : 64) * sizeof **out);
		(*out)[n++] = p;
		p = nl ? nl + 1 : NULL;
	}
	return n;
}

/* A line diff by longest common subsequence (flows are a few dozen lines). */
static void diff_lines(char **a, int na, char **b, int nb, jm_buf *out)
{
	int *L = jm_xcalloc((size_t)(na + 1) * (size_t)(nb + 1), sizeof *L);
#define AT(i, j) L[(size_t)(i) * (size_t)(nb + 1) + (size_t)(j)]
	for (int i = na - 1; i >= 0; i--)
		for (int j = nb - 1; j >= 0; j--)
			AT(i, j) = !strcmp(a[i], b[j]) ? AT(i + 1, j + 1) + 1
			   : AT(i + 1, j) > AT(i, j + 1) ? AT(i + 1, j) : AT(i, j + 1);
	int i = 0, j = 0;
	while (i < na || j < nb) {
		if (i < na && j < nb && !strcmp(a[i], b[j]))
			jm_buf_printf(out, "  %s\n", a[i]), i++, j++;
		else if (j < nb && (i == na || AT(i, j + 1) > AT(i + 1, j)))
			jm_buf_printf(out, "+ %s\n", b[j++]);
		else
			jm_buf_printf(out, "- %s\n", a[i++]);
	}
#undef AT
	free(L);
}

static void act_diff(jm_screen *s, jm_app *app)
{
	compare *c = (compare *)s;
	int pick[2];
	if (pick_runs(c, pick, 2) < 2) {
		jm_app_message(app, 1, "diff: mark two runs (Space), or put the cursor on the first");
		return;
	}
	int64_t a = c->ids[pick[0]], b = c->ids[pick[1]];
	sqlite3 *db = jm_app_db(app);
	char *ta = flow_text(db, a), *tb = flow_text(db, b);
	if (!ta || !tb) {
		jm_app_message(app, 1, "diff: run %lld has no flow", (long long)(ta ? b : a));
		free(ta), free(tb);
		return;
	}
	char **la, **lb;
	int na = split_lines(ta, &la), nb = split_lines(tb, &lb);
	jm_buf full = JM_BUF_INIT, out = JM_BUF_INIT;
	diff_lines(la, na, lb, nb, &full);
	/* what changed first, then the whole diff */
	jm_buf_printf(&out, "@Changed lines (- run %lld, + run %lld)\n", (long long)a, (long long)b);
	int changes = 0;
	for (const char *p = jm_buf_str(&full); *p;) {
		size_t len = strcspn(p, "\n");
		if (*p == '-' || *p == '+')
			jm_buf_printf(&out, "%.*s\n", (int)len, p), changes++;
		p += len + (p[len] == '\n');
	}
	if (!changes)
		jm_buf_addstr(&out, "  (none: the flows are the same)\n");
	jm_buf_printf(&out, "\n@The flows side by side (- run %lld, + run %lld)\n%s", (long long)a,
		      (long long)b, jm_buf_str(&full));
	jm_buf_release(&full);
	free(la), free(lb), free(ta), free(tb);
	jm_app_push(app, jm_text_new(app, jm_xasprintf("Diff %lld %lld", (long long)a, (long long)b),
				     jm_buf_detach(&out, NULL)));
}

static void csv_field(FILE *fp, const char *s, int first)
{
	if (!first)
		fputc(',', fp);
	if (!strpbrk(s, ",\"\r\n")) {
		fputs(s, fp);
		return;
	}
	fputc('"', fp);
	for (; *s; s++) {
		if (*s == '"')
			fputc('"', fp);
		fputc(*s, fp);
	}
	fputc('"', fp);
}

static void act_export(jm_screen *s, jm_app *app)
{
	compare *c = (compare *)s;
	char path[64];
	time_t t = time(NULL);
	struct tm tm;
	localtime_r(&t, &tm);
	strftime(path, sizeof path, "compare-%Y%m%d-%H%M%S.csv", &tm);
	FILE *fp = fopen(path, "w");
	if (!fp) {
		jm_app_message(app, 1, "export: cannot write %s", path);
		return;
	}
	csv_field(fp, "id", 1), csv_field(fp, "status", 0), csv_field(fp, "name", 0);
	for (int k = 0; k < c->np; k++)
		csv_field(fp, c->keys.v[c->pkey[k]].s, 0);
	for (int k = 0; k < c->nm; k++) {
		char h[128];
		snprintf(h, sizeof h, "%s", c->keys.v[c->mkey[k]].s);
		csv_field(fp, h, 0);
		snprintf(h, sizeof h, "best_%s", c->keys.v[c->mkey[k]].s);
		csv_field(fp, h, 0);
	}
	fputs("\r\n", fp);
	for (int i = 0; i < c->nvis; i++) {
		int r = c->order[i];
		fprintf(fp, "%lld", (long long)c->ids[r]);
		csv_field(fp, c->vals.v[c->status[r]].s, 0);
		csv_field(fp, c->vals.v[c->name[r]].s, 0);
		for (int k = 0; k < c->np; k++) {
			int v = c->pval[(size_t)r * (size_t)c->np + (size_t)k];
			csv_field(fp, v >= 0 ? c->vals.v[v].s : "", 0);
		}
		for (int k = 0; k < c->nm; k++)
			for (int b = 0; b < 2; b++) {
				double v = (b ? c->mbest : c->mlast)[(size_t)r * (size_t)c->nm + (size_t)k];
				if (isnan(v))
					fputc(',', fp);
				else
					fprintf(fp, ",%.17g", v);
			}
		fputs("\r\n", fp);
	}
	int bad = ferror(fp);
	bad |= fclose(fp) != 0;
	if (bad)
		jm_app_message(app, 1, "export: error writing %s", path);
	else
		jm_app_message(app, 0, "wrote %s (%d runs)", path, c->nvis);
}

static void act_open(jm_screen *s, jm_app *app)
{
	compare *c = (compare *)s;
	if (c->nvis)
		jm_app_push(app, jm_run_new(app, c->ids[c->order[c->rows.cur]]));
}

/* ---- refreshing ------------------------------------------------------------------ */

/* What the table shows of the compared runs, hashed: each run's id and
 * status, how many params it has, how many metric points it logged and
 * its last step.  A run that ends, logs, starts or goes changes it. */
static int fingerprint(const compare *c, sqlite3 *db, uint64_t *out)
{
	static const char sql[] =
		"SELECT r.id, r.status, (SELECT count(*) FROM params p WHERE p.run = r.id), "
		"(SELECT total(count) || '/' || IFNULL(max(last_step), 0) FROM metric_summary m "
		"WHERE m.run = r.id) FROM runs r";
	sqlite3_stmt *st = NULL;
	char *q = c->nreq ? jm_xasprintf("%s WHERE r.id = ?", sql) : jm_xstrdup(sql);
	int rc = sqlite3_prepare_v2(db, q, -1, &st, NULL);
	free(q);
	if (rc != SQLITE_OK)
		return -1;
	uint64_t h = 14695981039346656037ull;
	jm_rundata_begin(db);
	for (size_t i = 0; c->nreq == 0 ? i == 0 : i < c->nreq; i++) {
		if (c->nreq) {
			sqlite3_reset(st);
			sqlite3_bind_int64(st, 1, c->req[i]);
		}
		while (sqlite3_step(st) == SQLITE_ROW)
			for (int k = 0; k < 4; k++) {
				const unsigned char *t = sqlite3_column_text(st, k);
				for (; t && *t; t++)
					h = (h ^ *t) * 1099511628211ull;
				h = (h ^ 0xff) * 1099511628211ull; /* field end */
			}
	}
	jm_rundata_end(db);
	sqlite3_finalize(st);
	*out = h;
	return 0;
}

/* 1 when another connection committed to the store since the last look. */
static int store_changed(compare *c, sqlite3 *db)
{
	sqlite3_stmt *st = NULL;
	int64_t v = -1;
	if (sqlite3_prepare_v2(db, "PRAGMA data_version", -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	int changed = v != c->data_version || v < 0;
	c->data_version = v;
	return changed;
}

static void compare_data_free(compare *c)
{
	hist_free(c);
	intern_free(&c->keys);
	intern_free(&c->vals);
	free(c->ids), free(c->status), free(c->name), free(c->pkey), free(c->mkey);
	free(c->pval), free(c->mlast), free(c->mbest), free(c->pdiffer), free(c->pwidth);
	free(c->order), free(c->marked), free(c->cols);
	c->ids = NULL, c->status = c->name = c->pkey = c->mkey = c->pval = NULL;
	c->mlast = c->mbest = NULL, c->pdiffer = c->pwidth = NULL;
	c->order = NULL, c->marked = NULL, c->cols = NULL;
	c->n = 0, c->np = c->nm = c->ndiffer = c->nvis = c->ncols = 0, c->nmarked = 0;
}

/* Read the runs (again): the rows the filter lets through, sorted; the
 * cursor's run, the marks, the sorted column, the column cursor and the
 * chart's metric stay where they were, by name, when they are still there. */
static void compare_reload(compare *c, jm_app *app)
{
	sqlite3 *db = jm_app_db(app);
	int64_t cur_id = c->nvis ? c->ids[c->order[c->rows.cur]] : 0;
	int cur_row = c->rows.cur - c->rows.top;
	char ccol_name[96] = "", chart_key[128] = "";
	if (c->ccol >= 0 && c->ccol < c->ncols)
		col_name(c, c->ccol, ccol_name, sizeof ccol_name);
	if (c->chart && c->nm)
		snprintf(chart_key, sizeof chart_key, "%s", c->keys.v[c->mkey[c->chart_metric]].s);
	int64_t *marks = jm_xcalloc(c->nmarked + 1, sizeof *marks);
	size_t nmarks = 0;
	for (size_t i = 0; i < c->n && nmarks < c->nmarked; i++)
		if (c->marked[i])
			marks[nmarks++] = c->ids[i];

	compare_data_free(c);
	jm_err err = {0};
	double t0 = now_ms();
	fingerprint(c, db, &c->print);
	if (compare_load(c, db, c->req, c->nreq, &err) < 0)
		jm_app_message(app, 1, "%s", err.msg);
	layout_columns(c);
	if (c->sort_col >= 0 && (c->sort_col = col_find(c, c->sort_name)) < 0)
		c->sort_col = SORT_ID, c->sort_desc = 1; /* the column is gone */
	if (c->ccol >= 0) {
		int at = col_find(c, ccol_name);
		c->ccol = at >= 0 ? at : c->ccol < c->ncols ? c->ccol : c->ncols - 1;
	}
	if (c->cleft >= c->ncols)
		c->cleft = c->ncols > 0 ? c->ncols - 1 : 0;
	for (size_t i = 0; i < nmarks; i++) {
		int r = row_of(c, marks[i]);
		if (r >= 0 && !c->marked[r])
			c->marked[r] = 1, c->nmarked++;
	}
	free(marks);
	if (filter_rows(c, app, c->base.filter ? c->base.filter : "", &err) < 0)
		apply_rows(c, NULL, 0);
	for (int i = 0; i < c->nvis; i++)
		if (c->ids[c->order[i]] == cur_id) {
			c->rows.cur = i;
			c->rows.top = i - cur_row; /* the row stays where it was on the screen */
		}
	jm_list_clamp(&c->rows);
	if (c->chart) {
		c->chart = 0;
		for (int k = 0; k < c->nm; k++)
			if (!strcmp(c->keys.v[c->mkey[k]].s, chart_key))
				c->chart = 1, c->chart_metric = k;
		if (c->chart)
			chart_load(c, app);
	}
	c->load_ms = now_ms() - t0;
}

static void compare_poll(jm_screen *s, jm_app *app)
{
	compare *c = (compare *)s;
	double now = jm_app_now(app);
	if (now - c->polled < JM_COMPARE_POLL_S)
		return;
	c->polled = now;
	sqlite3 *db = jm_app_db(app);
	uint64_t print;
	if (!store_changed(c, db) || fingerprint(c, db, &print) < 0 || print == c->print)
		return;
	compare_reload(c, app);
}

static void act_reload(jm_screen *s, jm_app *app)
{
	compare *c = (compare *)s;
	compare_reload(c, app);
	c->polled = jm_app_now(app);
	jm_app_message(app, 0, "read %zu runs again", c->n);
}

static const jm_binding compare_bindings[] = {
	{{'s'}, "s", "sort by the column under the cursor: id, status, name, a param or a metric (again: reverse)", act_sort, "sort"},
	{{'S'}, "S", "sort by run id", act_sort_id, NULL},
	{{'h', JM_KEY_LEFT}, "h/Left", "column cursor left", act_col_left, NULL},
	{{'l', JM_KEY_RIGHT}, "l/Right", "column cursor right", act_col_right, NULL},
	{{'='}, "=", "show or hide params equal in all runs", act_equal, "equal params"},
	{{' '}, "Space", "mark or unmark the run (for v and D)", act_mark, NULL},
	{{'v'}, "v", "curves of the column's metric, marked runs overlaid (v again: the table)", act_chart, "curves"},
	{{'m'}, "m", "chart: next metric", act_chart_metric, "next metric"},
	{{'D'}, "D", "diff the flows of two runs (marked, or cursor and next)", act_diff, "diff"},
	{{'e'}, "e", "export the table as CSV (compare-DATE.csv here)", act_export, "export"},
	{{JM_KEY_ENTER, '\n'}, "Enter", "details of the run", act_open, NULL},
	{{JM_CTRL('l')}, "Ctrl-L", "read the runs again now (they refresh by themselves as they change)", act_reload, NULL},
	JM_NAV_BINDINGS,
	{{0}, NULL, NULL, NULL, NULL},
};

/* ---- drawing -------------------------------------------------------------------- */

#define FIX_ID 2 /* mark, then ID (6), STATUS (8), NAME, then the scrolled columns */

static void draw_table(compare *c, jm_canvas *cv, int y0, int h)
{
	const jm_glyphs *g = jm_canvas_glyphs(cv);
	int name_w = cv->w >= 160 ? 28 : cv->w >= 100 ? 20 : 12;
	int x_scroll = FIX_ID + 16 + name_w + 1;
	/* keep the column cursor visible */
	if (c->ccol >= 0 && c->ccol < c->cleft)
		c->cleft = c->ccol;
	for (;;) {
		int x = x_scroll;
		for (int i = c->cleft; i <= c->ccol && i < c->ncols; i++)
			x += c->cols[i].width + 1;
		if (x <= cv->w || c->cleft >= c->ccol)
			break;
		c->cleft++;
	}
	/* header: two rows */
	int hy = y0 + 1;
	jm_canvas_textf(cv, 0, y0, cv->w, JM_A_DIM, 0, "%d of %zu runs  %d params differ%s", c->nvis,
			c->n, c->ndiffer, c->show_equal ? "" : " (= shows the equal ones)");
	const char *arrow = c->sort_desc ? g->down : g->up;
	static const struct {
		int col, x, w, arrow_x;
		const char *title;
	} fixed[] = {
		{SORT_ID, FIX_ID, 6, 2, "ID"},
		{SORT_STATUS, FIX_ID + 7, 8, 6, "STATUS"},
		{SORT_NAME, FIX_ID + 16, 0, 4, "NAME"},
	};
	for (int i = 0; i < 3; i++) {
		int fw = fixed[i].w ? fixed[i].w : name_w;
		int cur = c->ccol == fixed[i].col;
		jm_canvas_text(cv, fixed[i].x, hy + 1, fw, fixed[i].title,
			       JM_A_BOLD | (cur ? JM_A_REVERSE : 0), 0);
		if (c->sort_col == fixed[i].col)
			jm_canvas_put(cv, fixed[i].x + fixed[i].arrow_x, hy + 1, arrow,
				      JM_A_BOLD | (cur ? JM_A_REVERSE : 0), 0);
	}
	int x = x_scroll, last_col = c->cleft;
	for (int i = c->cleft; i < c->ncols && x < cv->w; i++) {
		const column *col = &c->cols[i];
		int attr = JM_A_BOLD | (i == c->ccol ? JM_A_REVERSE : 0);
		int pcol = col->kind == COL_PARAM && c->pdiffer[col->index] ? JM_COL_ACCENT : 0;
		if (col->kind != COL_BEST)
			jm_canvas_text(cv, x, hy, col->kind == COL_LAST ? 19 : col->width,
				       col_title(c, col, 0), JM_A_DIM, 0);
		char t[80];
		snprintf(t, sizeof t, "%s%s", col_title(c, col, 1), i == c->sort_col ? arrow : "");
		if (col->kind == COL_PARAM)
			jm_canvas_text(cv, x, hy + 1, col->width, t, attr, pcol);
		else
			jm_canvas_text_right(cv, x, hy + 1, col->width, t, attr, 0);
		x += col->width + 1;
		last_col = i;
	}
	jm_canvas_hline(cv, 0, hy + 2, cv->w, JM_A_DIM);
	int rows = h - 4;
	c->rows.page = rows;
	jm_list_clamp(&c->rows);
	size_t np = (size_t)c->np, nm = (size_t)c->nm;
	for (int i = 0; i < rows && c->rows.top + i < c->nvis; i++) {
		int r = c->order[c->rows.top + i], yy = hy + 3 + i;
		if (c->marked[r])
			jm_canvas_put(cv, 0, yy, g->mark, JM_A_BOLD, JM_COL_WARN);
		jm_canvas_textf(cv, FIX_ID, yy, 6, 0, 0, "%lld", (long long)c->ids[r]);
		const char *st = c->vals.v[c->status[r]].s;
		jm_canvas_text(cv, FIX_ID + 7, yy, 8, st, 0, jm_status_colour(st));
		jm_canvas_text(cv, FIX_ID + 16, yy, name_w, c->vals.v[c->name[r]].s, 0, 0);
		x = x_scroll;
		for (int k = c->cleft; k <= last_col; k++) {
			const column *col = &c->cols[k];
			char b[32];
			if (col->kind == COL_PARAM) {
				int v = c->pval[(size_t)r * np + (size_t)col->index];
				jm_canvas_text(cv, x, yy, col->width, v >= 0 ? c->vals.v[v].s : "-", 0, 0);
			} else {
				const double *m = col->kind == COL_LAST ? c->mlast : c->mbest;
				double v = m[(size_t)r * nm + (size_t)col->index];
				if (isnan(v))
					snprintf(b, sizeof b, "-");
				else
					jm_fmt_metric(b, sizeof b, v);
				jm_canvas_text_right(cv, x, yy, col->width, b, 0, 0);
			}
			x += col->width + 1;
		}
		if (c->rows.top + i == c->rows.cur)
			jm_canvas_attr(cv, 0, yy, cv->w, JM_A_REVERSE, JM_COL_NONE);
	}
	if (!c->nvis)
		jm_canvas_text(cv, 2, hy + 3, cv->w - 4,
			       c->base.filter ? "no run matches the filter (Esc clears it)" : "no runs",
			       JM_A_DIM, 0);
}

static void draw_chart(compare *c, jm_canvas *cv, int y0, int h)
{
	jm_series s[6];
	char names[6][32];
	for (int i = 0; i < c->nhist; i++) {
		snprintf(names[i], sizeof names[i], "run %lld", (long long)c->hist_ids[i]);
		s[i] = (jm_series){names[i], c->hist[i].x, c->hist[i].y, c->hist[i].n};
	}
	jm_chart_draw(cv, 1, y0, cv->w - 2, h, c->keys.v[c->mkey[c->chart_metric]].s, s, c->nhist);
}

static void compare_draw(jm_screen *s, jm_app *app, jm_canvas *cv, int y0, int h)
{
	(void)app;
	compare *c = (compare *)s;
	if (c->chart)
		draw_chart(c, cv, y0, h);
	else
		draw_table(c, cv, y0, h);
}

static void compare_free(jm_screen *s)
{
	compare *c = (compare *)s;
	compare_data_free(c);
	free(c->req);
	free(c);
}

static const jm_screen_class compare_class = {
	.name = "Compare",
	.list = compare_list,
	.bindings = compare_bindings,
	.draw = compare_draw,
	.poll = compare_poll,
	.filter = compare_filter,
	.free = compare_free,
};

jm_screen *jm_compare_new(jm_app *app, const int64_t *ids, size_t n)
{
	compare *c = jm_xcalloc(1, sizeof *c);
	c->base.cls = &compare_class;
	c->sort_col = SORT_ID;
	c->sort_desc = 1;
	c->nreq = n;
	c->req = jm_xmalloc((n + 1) * sizeof *c->req);
	if (n)
		memcpy(c->req, ids, n * sizeof *c->req);
	c->data_version = -1;
	store_changed(c, jm_app_db(app));
	compare_reload(c, app);
	c->polled = jm_app_now(app);
	return &c->base;
}
