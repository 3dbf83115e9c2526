/*
 * metric_writer.c: buffered, batched metric logging.
 *
 *   jm_metric_log(run, key, step, value)
 *     │ key ──▶ interned id (hash table; no strcmp/alloc after first sight)
 *     │ run ──▶ checked once per writer against the runs table
 *     ├──▶ sums[(run, key id)]  last, last_step, min, max, count of the
 *     │                         points buffered since the last commit; the
 *     │                         first point of a (run, key) gives it a group
 *     └──▶ points[]             (group, step, value, wall)
 *     ▼ n >= flush_points, or the oldest point is flush_ms old
 *   flush: BEGIN IMMEDIATE
 *          for each group (one per (run, key) touched), in logging order:
 *            INSERT metric_points   ids next..next+count-1, ROWS_PER_INSERT
 *                                   rows per statement, then single rows
 *            INSERT metric_spans    (run, key, first id, last id)
 *            UPSERT metric_summary  one per group
 *          COMMIT
 *
 * Points are grouped with a counting sort on the group number, so each
 * (run, key) lands as one contiguous id range and one span (see
 * store/schema.sql: there is no per-point index to maintain).  SQLite gives
 * a new row max(id) + 1 and the transaction is the only writer, so a
 * group's ids follow from max(id) + 1 read under the write lock; that is
 * checked after each group, and a mismatch (ids run out at 2^63) fails the
 * commit rather than store a wrong span.
 *
 * Everything runs in the caller's thread: the age is checked on each log.
 * The connection is the writer's own (synchronous=NORMAL, WAL): a commit is
 * durable against the process being killed, and readers never block it.
 * A failed commit is rolled back and its points stay buffered (they and
 * their aggregates are cleared only after COMMIT succeeds).
 */
#include "store/metric_writer.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DEFAULT_FLUSH_POINTS 4096
#define DEFAULT_FLUSH_MS 100
#define ROWS_PER_INSERT 32 /* rows bound into one multi-row INSERT */
#define RETRY_S 1.0         /* pause automatic commits after a failure */

typedef struct mw_point {
	int64_t step;
	double value, wall;
	uint32_t group; /* index into dirty[]: its (run, key) */
} mw_point;

typedef struct mw_key {
	char *name;
	int len;
	uint32_t hash;
} mw_key;

/* Per (run, key): the aggregate of the points buffered since the last
 * commit.  Slots live for the writer's lifetime; count == 0 means clean. */
typedef struct mw_sum {
	int64_t run;
	uint32_t key;
	uint32_t group; /* its index in dirty[] while count > 0 */
	int used;
	int has_range;  /* min/max hold a number (not all points were NaN) */
	int64_t last_step, count;
	double last, min, max;
} mw_sum;

typedef struct mw_run_set {
	int64_t *ids;
	size_t n, cap;
} mw_run_set;

enum { MW_BEGIN, MW_COMMIT, MW_ROLLBACK, MW_NEXT_ID, MW_INSERT_1, MW_INSERT_N, MW_SPAN,
       MW_UPSERT, MW_RUN_EXISTS, MW_STMT_COUNT };

struct jm_metric_writer {
	sqlite3 *db;
	char *home;
	sqlite3_stmt *stmt[MW_STMT_COUNT];
	size_t flush_points;
	double flush_s;

	mw_point *points;
	size_t n, cap;
	double first_wall; /* wall time of points[0] */
	double retry_at;   /* after a failed commit, no automatic retry before */
	uint32_t *order;   /* flush scratch: point indices grouped */
	size_t order_cap;

	mw_key *keys;
	uint32_t nkeys, keys_cap;
	uint32_t *key_slots; /* open addressing: key id + 1, 0 empty */
	uint32_t key_slots_cap;

	mw_sum *sums; /* open addressing by (run, key) */
	uint32_t sums_cap, nsums;
	uint32_t *dirty; /* groups: indices into sums with count > 0 */
	uint32_t *group_end; /* flush scratch, per group */
	uint32_t ndirty, dirty_cap;

	mw_run_set runs; /* runs known to exist */
	int64_t last_run;

	jm_err pending; /* why a point was refused */
	int has_pending;
};

static const char *const mw_sql[MW_STMT_COUNT] = {
	[MW_BEGIN] = "BEGIN IMMEDIATE",
	[MW_COMMIT] = "COMMIT",
	[MW_ROLLBACK] = "ROLLBACK",
	[MW_NEXT_ID] = "SELECT coalesce(max(id), 0) + 1 FROM metric_points",
	[MW_INSERT_1] = "INSERT INTO metric_points(step, value, wall) VALUES (?,?,?)",
	[MW_INSERT_N] = NULL, /* built in mw_insert_n_sql() */
	[MW_SPAN] = "INSERT INTO metric_spans(run, key, first, last) VALUES (?1, ?2, ?3, ?4)",
	[MW_UPSERT] =
		"INSERT INTO metric_summary(run, key, last, last_step, min, max, count) "
		"VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT(run, key) DO UPDATE SET "
		"last = excluded.last, last_step = excluded.last_step, "
		"min = min(coalesce(metric_summary.min, excluded.min), "
		"coalesce(excluded.min, metric_summary.min)), "
		"max = max(coalesce(metric_summary.max, excluded.max), "
		"coalesce(excluded.max, metric_summary.max)), "
		"count = metric_summary.count + excluded.count",
	[MW_RUN_EXISTS] = "SELECT 1 FROM runs WHERE id = ?1",
};

static double mw_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int mw_fail(jm_metric_writer *w, jm_err *err)
{
	return jm_err_set(err, JM_EXIT_FAIL, "%s/jianmo.db: metric writer: %s", w->home,
			  sqlite3_errmsg(w->db));
}

static char *mw_insert_n_sql(void)
{
	static const char head[] = "INSERT INTO metric_points(step, value, wall) VALUES ";
	static const char row[] = "(?,?,?),";
	char *sql = jm_xmalloc(sizeof head + ROWS_PER_INSERT * (sizeof row - 1));
	char *p = memcpy(sql, head, sizeof head - 1);
	p += sizeof head - 1;
	for (int i = 0; i < ROWS_PER_INSERT; i++, p += sizeof row - 1)
		memcpy(p, row, sizeof row - 1);
	p[-1] = '\0'; /* drop the last comma */
	return sql;
}

/* ---- interning and aggregation ----------------------------------------- */

static uint32_t mw_hash_str(const char *s, int *len)
{
	uint32_t h = 2166136261u;
	const char *p = s;
	for (; *p; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	*len = (int)(p - s);
	return h;
}

static uint32_t mw_hash_pair(int64_t run, uint32_t key)
{
	uint64_t z = (uint64_t)run * 0x9e3779b97f4a7c15ULL ^ ((uint64_t)key * 0xbf58476d1ce4e5b9ULL);
	return (uint32_t)(z ^ (z >> 32));
}

static void mw_key_slots_grow(jm_metric_writer *w)
{
	uint32_t cap = w->key_slots_cap ? 2 * w->key_slots_cap : 64;
	uint32_t *slots = jm_xcalloc(cap, sizeof *slots);
	for (uint32_t k = 0; k < w->nkeys; k++) {
		uint32_t i = w->keys[k].hash & (cap - 1);
		while (slots[i])
			i = (i + 1) & (cap - 1);
		slots[i] = k + 1;
	}
	free(w->key_slots);
	w->key_slots = slots;
	w->key_slots_cap = cap;
}

static uint32_t mw_key_intern(jm_metric_writer *w, const char *key)
{
	int len;
	uint32_t h = mw_hash_str(key, &len);
	uint32_t mask = w->key_slots_cap - 1, i = h & mask;
	for (; w->key_slots[i]; i = (i + 1) & mask) {
		const mw_key *k = &w->keys[w->key_slots[i] - 1];
		if (k->hash == h && k->len == len && !memcmp(k->name, key, (size_t)len))
			return w->key_slots[i] - 1;
	}
	if (w->nkeys == w->keys_cap)
		w->keys = jm_xrealloc(w->keys, (w->keys_cap = w->keys_cap ? 2 * w->keys_cap : 16) *
						       sizeof *w->keys);
	uint32_t id = w->nkeys++;
	w->keys[id] = (mw_key){jm_xstrdup(key), len, h};
	w->key_slots[i] = id + 1;
	if (2 * w->nkeys > w->key_slots_cap)
		mw_key_slots_grow(w);
	return id;
}

static void mw_sums_grow(jm_metric_writer *w)
{
	uint32_t cap = w->sums_cap ? 2 * w->sums_cap : 64;
	mw_sum *sums = jm_xcalloc(cap, sizeof *sums);
	uint32_t *remap = jm_xcalloc(w->sums_cap ? w->sums_cap : 1, sizeof *remap);
	for (uint32_t j = 0; j < w->sums_cap; j++) {
		if (!w->sums[j].used)
			continue;
		uint32_t i = mw_hash_pair(w->sums[j].run, w->sums[j].key) & (cap - 1);
		while (sums[i].used)
			i = (i + 1) & (cap - 1);
		sums[i] = w->sums[j];
		remap[j] = i;
	}
	for (uint32_t d = 0; d < w->ndirty; d++)
		w->dirty[d] = remap[w->dirty[d]];
	free(remap);
	free(w->sums);
	w->sums = sums;
	w->sums_cap = cap;
}

/* Fold a point into its (run, key) aggregate; returns the point's group. */
static uint32_t mw_sum_add(jm_metric_writer *w, int64_t run, uint32_t key, int64_t step,
			   double value)
{
	uint32_t mask = w->sums_cap - 1, i = mw_hash_pair(run, key) & mask;
	mw_sum *s;
	for (;; i = (i + 1) & mask) {
		s = &w->sums[i];
		if (!s->used || (s->run == run && s->key == key))
			break;
	}
	if (!s->used) {
		*s = (mw_sum){.run = run, .key = key, .used = 1};
		w->nsums++;
	}
	if (s->count == 0) {
		if (w->ndirty == w->dirty_cap) {
			w->dirty_cap = w->dirty_cap ? 2 * w->dirty_cap : 64;
			w->dirty = jm_xrealloc(w->dirty, w->dirty_cap * sizeof *w->dirty);
			w->group_end = jm_xrealloc(w->group_end, w->dirty_cap * sizeof *w->group_end);
		}
		s->group = w->ndirty;
		w->dirty[w->ndirty++] = i;
		s->has_range = 0;
	}
	s->count++;
	s->last = value;
	s->last_step = step;
	if (!isnan(value)) {
		if (!s->has_range) {
			s->min = s->max = value;
			s->has_range = 1;
		} else {
			if (value < s->min)
				s->min = value;
			if (value > s->max)
				s->max = value;
		}
	}
	uint32_t group = s->group;
	if (2 * w->nsums > w->sums_cap)
		mw_sums_grow(w);
	return group;
}

/* ---- committing ---------------------------------------------------------- */

static int mw_step_reset(sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : -1;
}

static inline void mw_bind_point(sqlite3_stmt *st, int base, const mw_point *p)
{
	sqlite3_bind_int64(st, base + 1, p->step);
	if (isnan(p->value))
		sqlite3_bind_null(st, base + 2);
	else
		sqlite3_bind_double(st, base + 2, p->value);
	sqlite3_bind_double(st, base + 3, p->wall);
}

/* Counting sort of the buffered points by group, keeping logging order
 * within a group: order[group_end[g-1] .. group_end[g]) are group g's. */
static void mw_group_points(jm_metric_writer *w)
{
	if (w->order_cap < w->n) {
		free(w->order);
		w->order_cap = w->cap;
		w->order = jm_xmalloc(w->order_cap * sizeof *w->order);
	}
	uint32_t start = 0;
	for (uint32_t g = 0; g < w->ndirty; g++) {
		w->group_end[g] = start; /* the group's next free position */
		start += (uint32_t)w->sums[w->dirty[g]].count;
	}
	for (size_t i = 0; i < w->n; i++)
		w->order[w->group_end[w->points[i].group]++] = (uint32_t)i;
}

/* Insert one group's points, which get ids *next.. (SQLite gives a new row
 * max(id) + 1, and this transaction is the only writer), then its span
 * and summary. */
static int mw_write_group(jm_metric_writer *w, uint32_t g, uint32_t begin, int64_t *next)
{
	const mw_sum *s = &w->sums[w->dirty[g]];
	const mw_key *k = &w->keys[s->key];
	sqlite3_stmt *many = w->stmt[MW_INSERT_N], *one = w->stmt[MW_INSERT_1];
	uint32_t i = begin, end = w->group_end[g];
	int64_t first = *next;
	for (; i + ROWS_PER_INSERT <= end; i += ROWS_PER_INSERT) {
		for (int r = 0; r < ROWS_PER_INSERT; r++)
			mw_bind_point(many, 3 * r, &w->points[w->order[i + (uint32_t)r]]);
		if (mw_step_reset(many) < 0)
			return -1;
	}
	for (; i < end; i++) {
		mw_bind_point(one, 0, &w->points[w->order[i]]);
		if (mw_step_reset(one) < 0)
			return -1;
	}
	*next += end - begin;
	if (sqlite3_last_insert_rowid(w->db) != *next - 1) {
		/* Only if ids ran out (2^63): never store a wrong span. */
		return -2;
	}

	sqlite3_stmt *span = w->stmt[MW_SPAN];
	sqlite3_bind_int64(span, 1, s->run);
	sqlite3_bind_text(span, 2, k->name, k->len, SQLITE_STATIC);
	sqlite3_bind_int64(span, 3, first);
	sqlite3_bind_int64(span, 4, *next - 1);
	if (mw_step_reset(span) < 0)
		return -1;

	sqlite3_stmt *up = w->stmt[MW_UPSERT];
	sqlite3_bind_int64(up, 1, s->run);
	sqlite3_bind_text(up, 2, k->name, k->len, SQLITE_STATIC);
	if (isnan(s->last))
		sqlite3_bind_null(up, 3);
	else
		sqlite3_bind_double(up, 3, s->last);
	sqlite3_bind_int64(up, 4, s->last_step);
	if (s->has_range) {
		sqlite3_bind_double(up, 5, s->min);
		sqlite3_bind_double(up, 6, s->max);
	} else {
		sqlite3_bind_null(up, 5);
		sqlite3_bind_null(up, 6);
	}
	sqlite3_bind_int64(up, 7, s->count);
	return mw_step_reset(up);
}

/* Commit the buffer in one transaction.  On failure nothing is cleared. */
static int mw_commit(jm_metric_writer *w, jm_err *err)
{
	if (w->n == 0)
		return 0;
	mw_group_points(w);
	if (mw_step_reset(w->stmt[MW_BEGIN]) < 0)
		return mw_fail(w, err);
	/* The first id this commit will get: max(id) + 1 under the write lock. */
	sqlite3_stmt *st = w->stmt[MW_NEXT_ID];
	int rc = sqlite3_step(st) == SQLITE_ROW ? 0 : -1;
	int64_t next = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	for (uint32_t g = 0, begin = 0; rc == 0 && g < w->ndirty; begin = w->group_end[g++])
		rc = mw_write_group(w, g, begin, &next);
	if (rc == 0 && mw_step_reset(w->stmt[MW_COMMIT]) < 0)
		rc = -1;
	if (rc < 0) {
		if (rc == -2)
			jm_err_set(err, JM_EXIT_FAIL,
				   "%s/jianmo.db: metric writer: metric point ids are not contiguous",
				   w->home);
		else
			mw_fail(w, err);
		if (!sqlite3_get_autocommit(w->db))
			mw_step_reset(w->stmt[MW_ROLLBACK]);
		return -1;
	}
	w->n = 0;
	for (uint32_t g = 0; g < w->ndirty; g++)
		w->sums[w->dirty[g]].count = 0;
	w->ndirty = 0;
	return 0;
}

/* ---- runs ---------------------------------------------------------------- */

/* 1 if run exists (cached after the first check), 0 if not, -1 on error. */
static int mw_run_known(jm_metric_writer *w, int64_t run)
{
	if (run == w->last_run)
		return 1;
	for (size_t i = 0; i < w->runs.n; i++)
		if (w->runs.ids[i] == run) {
			w->last_run = run;
			return 1;
		}
	sqlite3_stmt *st = w->stmt[MW_RUN_EXISTS];
	sqlite3_bind_int64(st, 1, run);
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc == SQLITE_DONE)
		return 0;
	if (rc != SQLITE_ROW)
		return -1;
	if (w->runs.n == w->runs.cap)
		w->runs.ids = jm_xrealloc(w->runs.ids,
					  (w->runs.cap = w->runs.cap ? 2 * w->runs.cap : 8) *
						  sizeof *w->runs.ids);
	w->runs.ids[w->runs.n++] = run;
	w->last_run = run;
	return 1;
}

/* Remember the first reason a point was refused (lost), for the next flush
 * to report. */
static int mw_refuse(jm_metric_writer *w, const jm_err *why)
{
	if (!w->has_pending) {
		w->pending = *why;
		w->has_pending = 1;
	}
	return -1;
}

/* ---- API ----------------------------------------------------------------- */

int jm_metric_writer_open(jm_metric_writer **out, jm_store *s, int flush_points,
			  int flush_ms, jm_err *err)
{
	jm_metric_writer *w = jm_xcalloc(1, sizeof *w);
	char *many_sql = mw_insert_n_sql();
	*out = NULL;
	w->home = jm_xstrdup(jm_store_home(s));
	w->flush_points = flush_points > 0 ? (size_t)flush_points : DEFAULT_FLUSH_POINTS;
	w->flush_s = (flush_ms > 0 ? flush_ms : DEFAULT_FLUSH_MS) / 1000.0;
	w->cap = w->flush_points;
	w->points = jm_xmalloc(w->cap * sizeof *w->points);
	w->last_run = -1;
	mw_key_slots_grow(w);
	mw_sums_grow(w);
	if (jm_store_connect(s, &w->db, err) < 0)
		goto fail;
	for (int i = 0; i < MW_STMT_COUNT; i++) {
		const char *sql = i == MW_INSERT_N ? many_sql : mw_sql[i];
		if (sqlite3_prepare_v3(w->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &w->stmt[i],
				       NULL) != SQLITE_OK) {
			mw_fail(w, err);
			goto fail;
		}
	}
	free(many_sql);
	*out = w;
	return 0;
fail:
	free(many_sql);
	jm_metric_writer_close(w, NULL);
	return -1;
}

int jm_metric_log(jm_metric_writer *w, int64_t run, const char *key, int64_t step,
		  double value)
{
	jm_err why = {0};
	if (!key || !*key) {
		jm_err_set(&why, JM_EXIT_INPUT, "run %lld: empty metric name", (long long)run);
		return mw_refuse(w, &why);
	}
	int known = mw_run_known(w, run);
	if (known <= 0) {
		if (known == 0)
			jm_err_set(&why, JM_EXIT_INPUT, "no run \"%lld\" in %s", (long long)run,
				   w->home);
		else
			mw_fail(w, &why);
		return mw_refuse(w, &why);
	}
	uint32_t k = mw_key_intern(w, key);
	double now = mw_now();
	if (w->n == w->cap)
		w->points = jm_xrealloc(w->points, (w->cap *= 2) * sizeof *w->points);
	if (w->n == 0)
		w->first_wall = now;
	uint32_t group = mw_sum_add(w, run, k, step, value);
	w->points[w->n++] = (mw_point){step, value, now, group};
	/* A clock stepped backwards also commits, so the buffer cannot stall.
	 * A failed commit keeps the points; automatic retries wait RETRY_S
	 * (a busy store already cost busy_timeout), flush retries at once. */
	if ((w->n >= w->flush_points || now - w->first_wall >= w->flush_s || now < w->first_wall) &&
	    now >= w->retry_at) {
		if (mw_commit(w, NULL) < 0) {
			w->retry_at = now + RETRY_S;
			return -1;
		}
	}
	return 0;
}

int jm_metric_writer_flush(jm_metric_writer *w, jm_err *err)
{
	if (mw_commit(w, err) < 0)
		return -1;
	if (w->has_pending) {
		/* Everything buffered is committed now; report what was lost. */
		if (err)
			*err = w->pending;
		w->has_pending = 0;
		return -1;
	}
	return 0;
}

int jm_metric_writer_close(jm_metric_writer *w, jm_err *err)
{
	if (!w)
		return 0;
	int rc = w->db ? jm_metric_writer_flush(w, err) : 0;
	for (int i = 0; i < MW_STMT_COUNT; i++)
		sqlite3_finalize(w->stmt[i]);
	sqlite3_close(w->db);
	for (uint32_t k = 0; k < w->nkeys; k++)
		free(w->keys[k].name);
	free(w->keys);
	free(w->key_slots);
	free(w->sums);
	free(w->dirty);
	free(w->group_end);
	free(w->order);
	free(w->runs.ids);
	free(w->points);
	free(w->home);
	free(w);
	return rc;
}
