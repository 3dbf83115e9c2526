/*
 * clean.c: the [clean] rules, the data-quality report, the statistics
 * both tabular stages share, and the token format of fitted states.
 *
 *   jm_clean_parse(key, value) ──clauses──▶ rules
 *   jm_clean_fit_apply(frame): stage order ──▶ for each rule
 *        fit (resolve columns, compute fills / bounds) ──▶ apply ──▶ step
 *   jm_clean_apply(frame): apply with the fitted numbers only
 *
 * A rule's fitted state is a list of (column, a, b, text) entries: the
 * fill value (a, or text for string columns), or the bounds [a, b], or
 * just the column (dropped columns, dates, booleans).  That list is what
 * jm_clean_save writes and jm_clean_load reads back.
 */
#include "pipeline/clean.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "util/json.h"
#include "util/strbuf.h"
#include "util/suggest.h"

/* ---- statistics ------------------------------------------------------ */

/* numpy's pairwise summation (the algorithm behind pandas' sum, mean
 * and var): blocks of up to 128 values summed in 8 lanes, halves added
 * recursively.  NaN values count as 0, as pandas' nanops put them. */
static double pairwise(const double *a, int64_t n)
{
	if (n < 8) {
		double r = 0;
		for (int64_t i = 0; i < n; i++)
			r += isnan(a[i]) ? 0 : a[i];
		return r;
	}
	if (n <= 128) {
		double r[8];
		for (int j = 0; j < 8; j++)
			r[j] = isnan(a[j]) ? 0 : a[j];
		int64_t i;
		for (i = 8; i < n - n % 8; i += 8)
			for (int j = 0; j < 8; j++)
				r[j] += isnan(a[i + j]) ? 0 : a[i + j];
		double res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
		for (; i < n; i++)
			res += isnan(a[i]) ? 0 : a[i];
		return res;
	}
	int64_t n2 = n / 2;
	n2 -= n2 % 8;
	return pairwise(a, n2) + pairwise(a + n2, n - n2);
}

static int64_t count_nonnan(const double *x, int64_t n)
{
	int64_t k = 0;
	for (int64_t i = 0; i < n; i++)
		k += !isnan(x[i]);
	return k;
}

double jm_stat_mean(const double *x, int64_t n, int64_t *count)
{
	int64_t k = count_nonnan(x, n);
	if (count)
		*count = k;
	return k ? pairwise(x, n) / (double)k : NAN;
}

/* Squared deviations from m (NaN stays NaN), in blocks, summed pairwise. */
double jm_stat_var(const double *x, int64_t n, int ddof)
{
	int64_t k;
	double m = jm_stat_mean(x, n, &k);
	if (k <= ddof)
		return NAN;
	enum { BLOCK = 4096 };
	double buf[BLOCK], s = 0;
	/* pandas sums all squares in one pairwise pass; blocks of 4096 give
	 * the same tree for each block, and the blocks are summed pairwise too */
	int64_t nb = (n + BLOCK - 1) / BLOCK;
	double *parts = nb > 64 ? malloc((size_t)nb * sizeof *parts) : NULL;
	double small[64];
	double *ps = parts ? parts : small;
	for (int64_t b = 0; b < nb; b++) {
		int64_t lo = b * BLOCK, len = n - lo < BLOCK ? n - lo : BLOCK;
		for (int64_t i = 0; i < len; i++) {
			double d = m - x[lo + i];
			buf[i] = d * d;
		}
		double v = pairwise(buf, len);
		if (nb <= 64 || parts)
			ps[b] = v;
		else
			s += v; /* no memory for the partial sums: plain sum */
	}
	if (nb <= 64 || parts)
		s = pairwise(ps, nb);
	free(parts);
	return s / (double)(k - ddof);
}

static inline void swap_d(double *a, double *b)
{
	double t = *a;
	*a = *b;
	*b = t;
}

/* Rearrange a[0..n) so that a[k] is the k-th smallest, everything before
 * it <= a[k] and everything after >= a[k] (as std::nth_element). */
static int cmp_double(const void *a, const void *b);

static void nth_element(double *a, int64_t n, int64_t k)
{
	int64_t lo = 0, hi = n - 1;
	int depth = 0;
	while (hi > lo) {
		if (hi - lo < 16) {
			for (int64_t i = lo + 1; i <= hi; i++)
				for (int64_t j = i; j > lo && a[j - 1] > a[j]; j--)
					swap_d(&a[j - 1], &a[j]);
			return;
		}
		if (++depth > 64) { /* unlucky pivots: sort what is left */
			qsort(a + lo, (size_t)(hi - lo + 1), sizeof *a, cmp_double);
			return;
		}
		int64_t mid = lo + (hi - lo) / 2;
		if (a[mid] < a[lo])
			swap_d(&a[mid], &a[lo]);
		if (a[hi] < a[lo])
			swap_d(&a[hi], &a[lo]);
		if (a[hi] < a[mid])
			swap_d(&a[hi], &a[mid]);
		double pivot = a[mid];
		int64_t i = lo, j = hi;
		while (i <= j) {
			while (a[i] < pivot)
				i++;
			while (a[j] > pivot)
				j--;
			if (i <= j) {
				swap_d(&a[i], &a[j]);
				i++;
				j--;
			}
		}
		if (k <= j)
			hi = j;
		else if (k >= i)
			lo = i;
		else
			return; /* j < k < i: a[k] == pivot */
	}
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* Copy the non-NaN values of x into a new array. */
static double *nonnan_copy(const double *x, int64_t n, int64_t *m)
{
	double *a = malloc((n > 0 ? (size_t)n : 1) * sizeof *a);
	if (!a)
		return NULL;
	int64_t k = 0;
	for (int64_t i = 0; i < n; i++) {
		a[k] = x[i];
		k += !isnan(x[i]);
	}
	*m = k;
	return a;
}

/* numpy's lerp: exact at both ends, monotonic; a itself at t = 0 also
 * when b - a is infinite (the minimum of a column holding -inf). */
static double lerp(double a, double b, double t)
{
	if (t == 0)
		return a;
	double d = b - a;
	return t >= 0.5 ? b - d * (1 - t) : a + d * t;
}

/* Order-preserving integer key of a double (NaN excluded). */
static inline uint64_t order_key(double v)
{
	uint64_t b;
	memcpy(&b, &v, sizeof b);
	return b >> 63 ? ~b : b | (1ull << 63);
}

/* The values of rank r (and r + 1 when want_next) among the non-NaN x,
 * given the histogram of their keys' top 16 bits: one pass gathers the
 * bucket holding rank r (and the smallest value of the next bucket),
 * nth_element finishes inside the bucket. */
static int ranks_from_hist(const double *x, int64_t n, const int64_t *hist, int64_t r,
			   int want_next, double *vr, double *vnext)
{
	int64_t cum = 0;
	int b = 0;
	for (; b < 65536; b++) {
		if (cum + hist[b] > r)
			break;
		cum += hist[b];
	}
	int64_t rr = r - cum, cb = hist[b];
	int b2 = -1;
	if (want_next && rr + 1 >= cb)
		for (b2 = b + 1; b2 < 65536 && !hist[b2]; b2++)
			;
	double *buf = malloc((size_t)cb * sizeof *buf), min2 = INFINITY;
	if (!buf)
		return -1;
	int64_t k = 0;
	for (int64_t i = 0; i < n; i++) {
		double v = x[i];
		if (isnan(v))
			continue;
		int kb = (int)(order_key(v) >> 48);
		if (kb == b)
			buf[k++] = v;
		else if (kb == b2 && v < min2)
			min2 = v;
	}
	nth_element(buf, cb, rr);
	*vr = buf[rr];
	if (want_next) {
		if (rr + 1 < cb) {
			double next = buf[rr + 1];
			for (int64_t i = rr + 2; i < cb; i++)
				if (buf[i] < next)
					next = buf[i];
			*vnext = next;
		} else {
			*vnext = min2;
		}
	}
	free(buf);
	return 0;
}

int jm_stat_quantiles(const double *x, int64_t n, const double *qs, int nq, double *out,
		      jm_err *err)
{
	int64_t m = count_nonnan(x, n);
	if (m > 4096) { /* radix selection: two passes per quantile, no full copy */
		int64_t *hist = calloc(65536, sizeof *hist);
		if (!hist)
			return jm_err_set(err, JM_EXIT_FAIL, "out of memory for quantiles");
		for (int64_t i = 0; i < n; i++)
			if (!isnan(x[i]))
				hist[order_key(x[i]) >> 48]++;
		for (int i = 0; i < nq; i++) {
			double pos = qs[i] * (double)(m - 1), a, b = 0;
			int64_t lo = (int64_t)floor(pos);
			if (lo >= m - 1)
				lo = m - 1;
			int next = lo < m - 1 && pos > (double)lo;
			if (ranks_from_hist(x, n, hist, lo, next, &a, &b) < 0) {
				free(hist);
				return jm_err_set(err, JM_EXIT_FAIL, "out of memory for quantiles");
			}
			out[i] = next ? lerp(a, b, pos - (double)lo) : a;
		}
		free(hist);
		return 0;
	}
	double *a = nonnan_copy(x, n, &m);
	if (!a)
		return jm_err_set(err, JM_EXIT_FAIL, "out of memory for quantiles");
	if (m == 0) {
		for (int i = 0; i < nq; i++)
			out[i] = NAN;
		free(a);
		return 0;
	}
	qsort(a, (size_t)m, sizeof *a, cmp_double);
	for (int i = 0; i < nq; i++) {
		double pos = qs[i] * (double)(m - 1);
		int64_t lo = (int64_t)floor(pos);
		if (lo >= m - 1)
			out[i] = a[m - 1];
		else
			out[i] = lerp(a[lo], a[lo + 1], pos - (double)lo);
	}
	free(a);
	return 0;
}

static double median_of(const double *x, int64_t n, jm_err *err, int *rc)
{
	double q = 0.5, out;
	*rc = jm_stat_quantiles(x, n, &q, 1, &out, err);
	return out;
}

/* ---- running columns in parallel ------------------------------------- */

typedef struct pfor {
	void (*fn)(void *arg, int i);
	void *arg;
	int n;
	atomic_int next;
} pfor;

static void *pfor_worker(void *arg)
{
	pfor *p = arg;
	for (int i; (i = atomic_fetch_add(&p->next, 1)) < p->n;)
		p->fn(p->arg, i);
	return NULL;
}

void jm_parallel_for(int n, void (*fn)(void *arg, int i), void *arg, int64_t rows)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	int threads = cpus < 1 ? 1 : cpus > 8 ? 8 : (int)cpus;
	if (threads > n)
		threads = n;
	if (rows < 200000) /* too little work to pay for a thread */
		threads = 1;
	pfor p = {.fn = fn, .arg = arg, .n = n};
	atomic_init(&p.next, 0);
	pthread_t th[8];
	int started = 0;
	for (int t = 1; t < threads; t++)
		if (pthread_create(&th[started], NULL, pfor_worker, &p) == 0)
			started++;
	pfor_worker(&p);
	for (int t = 0; t < started; t++)
		pthread_join(th[t], NULL);
}

/* ---- columns as doubles ---------------------------------------------- */

static int is_numeric(const jm_col *c)
{
	return c->type == JM_COL_F64 || c->type == JM_COL_I64;
}

/* The values of a numeric/bool/time column as doubles (NaN = missing):
 * F64 columns are returned as they are (*owned = 0). */
static const double *as_doubles(const jm_col *c, int64_t n, int *owned, jm_err *err)
{
	*owned = 0;
	if (c->type == JM_COL_F64)
		return c->v.f64;
	double *d = malloc((n > 0 ? (size_t)n : 1) * sizeof *d);
	if (!d) {
		jm_err_set(err, JM_EXIT_FAIL, "out of memory reading \"%s\"", c->name);
		return NULL;
	}
	for (int64_t i = 0; i < n; i++)
		d[i] = jm_col_num(c, i);
	*owned = 1;
	return d;
}

/* ---- value hashing (duplicates, distinct counts, modes) -------------- */

static uint64_t mix64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ull;
	x ^= x >> 33;
	return x;
}

/* A value's identity: equal values (and -0/+0, every NaN) give equal keys. */
static uint64_t value_key(const jm_col *c, int64_t i)
{
	if (jm_col_isna(c, i))
		return 0x7ff8dead00000000ull;
	switch (c->type) {
	case JM_COL_F64: {
		double v = c->v.f64[i] == 0 ? 0.0 : c->v.f64[i];
		uint64_t k;
		memcpy(&k, &v, sizeof k);
		return k;
	}
	case JM_COL_I64:
	case JM_COL_TIME: return (uint64_t)c->v.i64[i];
	case JM_COL_BOOL: return c->v.b[i];
	case JM_COL_STR: return (uint64_t)(uint32_t)c->v.code[i];
	}
	return 0;
}

/* Open-addressing map from a 64-bit key to a count. */
typedef struct counter {
	uint64_t *key;
	int64_t *count;
	uint8_t *used;
	size_t cap, n;
} counter;

static int counter_init(counter *m, size_t expect)
{
	size_t cap = 16;
	while (cap < expect * 2)
		cap <<= 1;
	m->cap = cap;
	m->n = 0;
	m->key = malloc(cap * sizeof *m->key);
	m->count = calloc(cap, sizeof *m->count);
	m->used = calloc(cap, 1);
	return m->key && m->count && m->used ? 0 : -1;
}

static void counter_free(counter *m)
{
	free(m->key);
	free(m->count);
	free(m->used);
}

static int counter_add(counter *m, uint64_t k)
{
	if (m->n * 2 >= m->cap) {
		counter big;
		if (counter_init(&big, m->cap) < 0)
			return -1;
		for (size_t i = 0; i < m->cap; i++) {
			if (!m->used[i])
				continue;
			size_t j = mix64(m->key[i]) & (big.cap - 1);
			while (big.used[j])
				j = (j + 1) & (big.cap - 1);
			big.used[j] = 1;
			big.key[j] = m->key[i];
			big.count[j] = m->count[i];
		}
		big.n = m->n;
		counter_free(m);
		*m = big;
	}
	size_t j = mix64(k) & (m->cap - 1);
	while (m->used[j] && m->key[j] != k)
		j = (j + 1) & (m->cap - 1);
	if (!m->used[j]) {
		m->used[j] = 1;
		m->key[j] = k;
		m->n++;
	}
	m->count[j]++;
	return 0;
}

/* Is key a smaller than key b as values of column c (for ties)? */
static int key_less(const jm_col *c, uint64_t a, uint64_t b)
{
	switch (c->type) {
	case JM_COL_F64: {
		double x, y;
		memcpy(&x, &a, 8);
		memcpy(&y, &b, 8);
		return x < y;
	}
	case JM_COL_I64:
	case JM_COL_TIME: return (int64_t)a < (int64_t)b;
	case JM_COL_BOOL: return a < b;
	case JM_COL_STR: return strcmp(c->dict->s[(int32_t)a], c->dict->s[(int32_t)b]) < 0;
	}
	return 0;
}

/* The most frequent non-missing value (ties: the smallest), its count,
 * and the number of distinct values.  Returns -1 on out of memory; *freq
 * is 0 when every value is missing. */
static int mode_of(const jm_col *c, int64_t n, uint64_t *key, int64_t *freq, int64_t *distinct)
{
	*freq = 0;
	*distinct = 0;
	if (c->type == JM_COL_STR || c->type == JM_COL_BOOL) {
		int64_t k = c->type == JM_COL_STR ? c->dict->n : 2;
		int64_t *cnt = calloc((size_t)k + 1, sizeof *cnt);
		if (!cnt)
			return -1;
		for (int64_t i = 0; i < n; i++)
			if (!jm_col_isna(c, i))
				cnt[c->type == JM_COL_STR ? c->v.code[i] : c->v.b[i]]++;
		for (int64_t v = 0; v < k; v++) {
			if (!cnt[v])
				continue;
			(*distinct)++;
			if (cnt[v] > *freq || (cnt[v] == *freq && key_less(c, (uint64_t)v, *key))) {
				*freq = cnt[v];
				*key = (uint64_t)v;
			}
		}
		free(cnt);
		return 0;
	}
	counter m;
	if (counter_init(&m, 1024) < 0) {
		counter_free(&m);
		return -1;
	}
	for (int64_t i = 0; i < n; i++)
		if (!jm_col_isna(c, i) && counter_add(&m, value_key(c, i)) < 0) {
			counter_free(&m);
			return -1;
		}
	for (size_t j = 0; j < m.cap; j++) {
		if (!m.used[j])
			continue;
		if (m.count[j] > *freq || (m.count[j] == *freq && key_less(c, m.key[j], *key))) {
			*freq = m.count[j];
			*key = m.key[j];
		}
	}
	*distinct = (int64_t)m.n;
	counter_free(&m);
	return 0;
}

/* ---- rules: names and parsing ---------------------------------------- */

static const struct kind_info {
	const char *name;  /* in saved states and reports */
	int stage;
} kinds[] = {
	[JM_CLEAN_DROP_COLS] = {"drop_columns", 1},
	[JM_CLEAN_DEDUP] = {"duplicates", 2},
	[JM_CLEAN_DATES] = {"dates", 3},
	[JM_CLEAN_BOOLS] = {"booleans", 4},
	[JM_CLEAN_FILL_MEAN] = {"missing mean", 5},
	[JM_CLEAN_FILL_MEDIAN] = {"missing median", 5},
	[JM_CLEAN_FILL_MOST_FREQUENT] = {"missing most_frequent", 5},
	[JM_CLEAN_FILL_CONSTANT] = {"missing constant", 5},
	[JM_CLEAN_DROP_MISSING] = {"missing drop", 5},
	[JM_CLEAN_SIGMA] = {"outliers sigma", 6},
	[JM_CLEAN_IQR] = {"outliers iqr", 6},
};
#define NKINDS ((int)(sizeof kinds / sizeof *kinds))

const jm_clean_key jm_clean_keys[] = {
	{"drop_columns", "drop columns missing in more than this fraction of training rows (0..1)"},
	{"duplicates", "drop: remove repeated rows, keeping the first"},
	{"dates", "columns to parse as dates: ts, other [format=%d/%m/%Y] (ISO 8601 without a format)"},
	{"booleans", "columns to map to true/false (true/t/yes/y/on/1, false/f/no/n/off/0)"},
	{"missing", "mean | median | most_frequent | constant=VALUE | drop [: columns]; clauses joined by ;"},
	{"outliers", "sigma [K=3] | iqr [K=1.5], then clip | drop [: columns]; clauses joined by ;"},
	{NULL, NULL},
};

void jm_clean_init(jm_clean *c)
{
	memset(c, 0, sizeof *c);
}

void jm_strv_free(char **v, int n)
{
	if (!v)
		return;
	for (int i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

void jm_columns_hint(char *buf, size_t n, const jm_frame *f, const char *name)
{
	/* enough names to spot a typo in, not a screenful from a wide file */
	enum { MAX_NAMES = 30, MAX_LEN = 320 };
	char esc[MAX_LEN + 8];
	const char *best = NULL;
	int best_d = 99;
	for (int k = 0; k < f->ncols; k++)
		jm_suggest_consider(name, f->cols[k]->name, &best, &best_d);
	/* columns are often named x1, x2, y: "y" for "s" or "x1" for "x3" is
	 * noise, so at most half the letters typed may be wrong */
	if (best && (size_t)best_d * 2 >= strlen(name))
		best = NULL;
	jm_buf b = JM_BUF_INIT;
	if (best)
		jm_buf_printf(&b, " (did you mean \"%s\"?)", jm_escape_text(esc, sizeof esc, best));
	jm_buf_addstr(&b, " (columns: ");
	size_t len = 0;
	int k = 0;
	for (; k < f->ncols && k < MAX_NAMES; k++) {
		const char *c = jm_escape_text(esc, sizeof esc, f->cols[k]->name);
		if (k && len + strlen(c) + 2 > MAX_LEN)
			break;
		jm_buf_printf(&b, "%s%s", k ? ", " : "", c);
		len += strlen(c) + 2;
	}
	if (k < f->ncols)
		jm_buf_printf(&b, "%s... and %d more", k ? ", " : "", f->ncols - k);
	else if (!f->ncols)
		jm_buf_addstr(&b, "none");
	jm_buf_addch(&b, ')');
	snprintf(buf, n, "%s", jm_buf_str(&b));
	jm_buf_release(&b);
}

int jm_no_column(jm_err *err, const jm_frame *f, const char *what, const char *name)
{
	char esc[200], hint[800];
	jm_columns_hint(hint, sizeof hint, f, name);
	return jm_err_set(err, JM_EXIT_INPUT, "%s: no column \"%s\"%s", what,
			  jm_escape_text(esc, sizeof esc, name), hint);
}

static void rule_clear_fit(jm_clean_rule *r)
{
	jm_strv_free(r->fit_col, r->nfit);
	jm_strv_free(r->fit_text, r->nfit);
	free(r->fit_a);
	free(r->fit_b);
	r->fit_col = r->fit_text = NULL;
	r->fit_a = r->fit_b = NULL;
	r->nfit = 0;
}

void jm_clean_free(jm_clean *c)
{
	if (!c)
		return;
	for (int i = 0; i < c->n; i++) {
		jm_clean_rule *r = &c->rules[i];
		jm_strv_free(r->cols, r->ncols);
		free(r->value);
		rule_clear_fit(r);
	}
	free(c->rules);
	memset(c, 0, sizeof *c);
}

static jm_clean_rule *add_rule(jm_clean *c, jm_clean_kind kind)
{
	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 8;
		c->rules = jm_xrealloc(c->rules, (size_t)c->cap * sizeof *c->rules);
	}
	jm_clean_rule *r = &c->rules[c->n++];
	memset(r, 0, sizeof *r);
	r->kind = kind;
	return r;
}

static char *trim(char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	size_t n = strlen(s);
	while (n && isspace((unsigned char)s[n - 1]))
		s[--n] = '\0';
	return s;
}

/* "a, b,c" → names (trimmed, non-empty). */
static int split_cols(const char *key, char *list, char ***out, int *n, jm_err *err)
{
	*out = NULL;
	*n = 0;
	if (!*trim(list))
		return 0;
	for (char *t = list, *next; t; t = next) {
		next = strchr(t, ',');
		if (next)
			*next++ = '\0';
		t = trim(t);
		if (!*t) {
			jm_strv_free(*out, *n);
			*out = NULL;
			*n = 0;
			return jm_err_set(err, JM_EXIT_INPUT, "%s: empty column name in the list", key);
		}
		*out = jm_xrealloc(*out, (size_t)(*n + 1) * sizeof **out);
		(*out)[(*n)++] = jm_xstrdup(t);
	}
	return 0;
}

/* A finite number filling all of s (spaces around allowed); *v is only
 * written on success. */
static int parse_number(const char *s, double *v)
{
	char *end;
	errno = 0;
	double x = strtod(s, &end);
	if (end == s || *trim(end) || errno != 0 || !isfinite(x))
		return -1;
	*v = x;
	return 0;
}

/* One clause "METHOD[ ARGS][: COLUMNS]" of missing / outliers. */
static int parse_clause(jm_clean *c, const char *key, char *clause, jm_err *err)
{
	char *colon = strchr(clause, ':'), *cols = NULL;
	if (colon) {
		*colon = '\0';
		cols = colon + 1;
	}
	char *head = trim(clause), *save;
	char *words[4] = {0};
	int nw = 0;
	for (char *t = strtok_r(head, " \t", &save); t && nw < 4; t = strtok_r(NULL, " \t", &save))
		words[nw++] = t;
	if (!nw)
		return jm_err_set(err, JM_EXIT_INPUT, "%s: expected a method", key);
	jm_clean_rule *r = NULL;
	if (strcmp(key, "missing") == 0) {
		static const struct {
			const char *name;
			jm_clean_kind kind;
		} methods[] = {
			{"mean", JM_CLEAN_FILL_MEAN},       {"median", JM_CLEAN_FILL_MEDIAN},
			{"most_frequent", JM_CLEAN_FILL_MOST_FREQUENT}, {"drop", JM_CLEAN_DROP_MISSING},
		};
		if (nw > 1)
			return jm_err_set(err, JM_EXIT_INPUT, "missing: unexpected \"%s\" after \"%s\"",
					  words[1], words[0]);
		if (strncmp(words[0], "constant=", 9) == 0) {
			r = add_rule(c, JM_CLEAN_FILL_CONSTANT);
			r->value = jm_xstrdup(words[0] + 9);
		} else {
			for (size_t i = 0; i < sizeof methods / sizeof *methods && !r; i++)
				if (strcmp(words[0], methods[i].name) == 0)
					r = add_rule(c, methods[i].kind);
			if (!r)
				return jm_err_set(err, JM_EXIT_INPUT,
						  "missing: unknown method \"%s\" (expected mean, median, "
						  "most_frequent, constant=VALUE or drop)",
						  words[0]);
		}
	} else { /* outliers */
		int sigma = strcmp(words[0], "sigma") == 0, iqr = strcmp(words[0], "iqr") == 0;
		if (!sigma && !iqr)
			return jm_err_set(err, JM_EXIT_INPUT,
					  "outliers: unknown method \"%s\" (expected sigma or iqr)", words[0]);
		double k = sigma ? 3 : 1.5;
		int drop = 0, w = 1;
		if (w < nw && parse_number(words[w], &k) == 0) {
			if (!(k > 0))
				return jm_err_set(err, JM_EXIT_INPUT, "outliers: %s: expected k > 0, got \"%s\"",
						  words[0], words[w]);
			w++;
		}
		if (w < nw) {
			if (strcmp(words[w], "drop") == 0)
				drop = 1;
			else if (strcmp(words[w], "clip") != 0)
				return jm_err_set(err, JM_EXIT_INPUT,
						  "outliers: expected clip or drop, got \"%s\"", words[w]);
			w++;
		}
		if (w < nw)
			return jm_err_set(err, JM_EXIT_INPUT, "outliers: unexpected \"%s\"", words[w]);
		r = add_rule(c, sigma ? JM_CLEAN_SIGMA : JM_CLEAN_IQR);
		r->param = k;
		r->drop = drop;
	}
	if (cols && split_cols(key, cols, &r->cols, &r->ncols, err) < 0) {
		c->n--;
		free(r->value);
		return -1;
	}
	return 0;
}

int jm_clean_parse(jm_clean *c, const char *key, const char *value, jm_err *err)
{
	char *v = jm_xstrdup(value ? value : ""), *t = trim(v);
	int rc = -1;
	if (strcmp(key, "drop_columns") == 0) {
		double frac;
		if (parse_number(t, &frac) < 0 || frac < 0 || frac > 1) {
			jm_err_set(err, JM_EXIT_INPUT, "drop_columns: expected a fraction in 0..1, got \"%s\"", t);
			goto out;
		}
		add_rule(c, JM_CLEAN_DROP_COLS)->param = frac;
	} else if (strcmp(key, "duplicates") == 0) {
		if (strcmp(t, "drop") == 0)
			add_rule(c, JM_CLEAN_DEDUP);
		else if (strcmp(t, "keep") != 0) {
			jm_err_set(err, JM_EXIT_INPUT, "duplicates: expected drop or keep, got \"%s\"", t);
			goto out;
		}
	} else if (strcmp(key, "dates") == 0 || strcmp(key, "booleans") == 0) {
		int dates = key[0] == 'd';
		char *fmt = strstr(t, "format=");
		jm_clean_rule *r = add_rule(c, dates ? JM_CLEAN_DATES : JM_CLEAN_BOOLS);
		if (fmt) {
			if (!dates) {
				c->n--;
				jm_err_set(err, JM_EXIT_INPUT, "booleans: unexpected \"format=\"");
				goto out;
			}
			r->value = jm_xstrdup(trim(fmt + 7));
			*fmt = '\0';
		}
		int bad = split_cols(key, t, &r->cols, &r->ncols, err) < 0;
		if (bad || r->ncols == 0) {
			if (!bad)
				jm_err_set(err, JM_EXIT_INPUT, "%s: expected column names", key);
			jm_strv_free(r->cols, r->ncols);
			free(r->value);
			c->n--;
			goto out;
		}
	} else if (strcmp(key, "missing") == 0 || strcmp(key, "outliers") == 0) {
		char *save;
		int any = 0;
		for (char *cl = strtok_r(t, ";", &save); cl; cl = strtok_r(NULL, ";", &save)) {
			if (!*trim(cl))
				continue;
			if (parse_clause(c, key, cl, err) < 0)
				goto out;
			any = 1;
		}
		if (!any) {
			jm_err_set(err, JM_EXIT_INPUT, "%s: expected a method", key);
			goto out;
		}
	} else {
		jm_err_set(err, JM_EXIT_INPUT, "[clean] unknown key \"%s\"", key);
		goto out;
	}
	rc = 0;
out:
	free(v);
	return rc;
}

/* ---- fitting --------------------------------------------------------- */

static void fit_push(jm_clean_rule *r, const char *col, double a, double b, const char *text)
{
	r->fit_col = jm_xrealloc(r->fit_col, (size_t)(r->nfit + 1) * sizeof *r->fit_col);
	r->fit_a = jm_xrealloc(r->fit_a, (size_t)(r->nfit + 1) * sizeof *r->fit_a);
	r->fit_b = jm_xrealloc(r->fit_b, (size_t)(r->nfit + 1) * sizeof *r->fit_b);
	r->fit_text = jm_xrealloc(r->fit_text, (size_t)(r->nfit + 1) * sizeof *r->fit_text);
	r->fit_col[r->nfit] = jm_xstrdup(col);
	r->fit_a[r->nfit] = a;
	r->fit_b[r->nfit] = b;
	r->fit_text[r->nfit] = text ? jm_xstrdup(text) : NULL;
	r->nfit++;
}

static const char *rule_name(const jm_clean_rule *r)
{
	return kinds[r->kind].name;
}

/* Does the rule cover column c by default (no columns named)? */
static int default_scope(const jm_clean_rule *r, const jm_col *c)
{
	switch (r->kind) {
	case JM_CLEAN_FILL_MEAN:
	case JM_CLEAN_FILL_MEDIAN:
	case JM_CLEAN_SIGMA:
	case JM_CLEAN_IQR: return is_numeric(c);
	default: return 1;
	}
}

/* The columns a rule fits: the named ones (which must exist and suit the
 * rule) or the default set.  Fills *idx (malloc'd) and *n. */
static int resolve(const jm_clean_rule *r, const jm_frame *f, int **idx, int *n, jm_err *err)
{
	*idx = jm_xmalloc(((size_t)(r->ncols ? r->ncols : f->ncols) + 1) * sizeof **idx);
	*n = 0;
	if (!r->ncols) {
		for (int j = 0; j < f->ncols; j++)
			if (default_scope(r, f->cols[j]))
				(*idx)[(*n)++] = j;
		return 0;
	}
	for (int k = 0; k < r->ncols; k++) {
		int j = jm_frame_index(f, r->cols[k]);
		if (j < 0) {
			char what[64];
			free(*idx);
			*idx = NULL;
			snprintf(what, sizeof what, "[clean] %s", rule_name(r));
			return jm_no_column(err, f, what, r->cols[k]);
		}
		const jm_col *c = f->cols[j];
		int numeric_rule = r->kind == JM_CLEAN_FILL_MEAN || r->kind == JM_CLEAN_FILL_MEDIAN ||
				   r->kind == JM_CLEAN_SIGMA || r->kind == JM_CLEAN_IQR;
		if (numeric_rule && !is_numeric(c)) {
			free(*idx);
			*idx = NULL;
			return jm_err_set(err, JM_EXIT_INPUT, "[clean] %s: column \"%s\" is %s, not numeric",
					  rule_name(r), c->name, jm_coltype_name(c->type));
		}
		(*idx)[(*n)++] = j;
	}
	return 0;
}

/* Text of the value with key k in column c (most frequent fills). */
static double key_number(const jm_col *c, uint64_t k)
{
	switch (c->type) {
	case JM_COL_F64: {
		double v;
		memcpy(&v, &k, 8);
		return v;
	}
	case JM_COL_I64:
	case JM_COL_TIME: return (double)(int64_t)k;
	case JM_COL_BOOL: return (double)k;
	default: return NAN;
	}
}

/* The numbers one numeric rule learns from one column: the fill value
 * (a), or the bounds [a, b]. */
typedef struct numeric_fit {
	const jm_clean_rule *r;
	const jm_col *c;
	int64_t n;
	double a, b;
	int rc;
	jm_err err;
} numeric_fit;

static void fit_numbers(void *arg, int k)
{
	numeric_fit *t = (numeric_fit *)arg + k;
	const jm_clean_rule *r = t->r;
	int owned, qrc = 0;
	const double *x = as_doubles(t->c, t->n, &owned, &t->err);
	t->a = t->b = NAN;
	if (!x) {
		t->rc = -1;
		return;
	}
	if (r->kind == JM_CLEAN_FILL_MEAN) {
		t->a = jm_stat_mean(x, t->n, NULL);
	} else if (r->kind == JM_CLEAN_FILL_MEDIAN) {
		t->a = median_of(x, t->n, &t->err, &qrc);
	} else if (r->kind == JM_CLEAN_SIGMA) {
		double m = jm_stat_mean(x, t->n, NULL), sd = sqrt(jm_stat_var(x, t->n, 1));
		t->a = m - r->param * sd;
		t->b = m + r->param * sd;
	} else {
		double qs[2] = {0.25, 0.75}, q[2];
		qrc = jm_stat_quantiles(x, t->n, qs, 2, q, &t->err);
		t->a = q[0] - r->param * (q[1] - q[0]);
		t->b = q[1] + r->param * (q[1] - q[0]);
	}
	if (owned)
		free((void *)x);
	t->rc = qrc;
}

static int fit_rule(jm_clean_rule *r, const jm_frame *f, jm_err *err)
{
	rule_clear_fit(r);
	int *idx = NULL, n = 0, rc = -1;
	numeric_fit *nf = NULL;
	if (r->kind == JM_CLEAN_DEDUP) /* every column, nothing to learn */
		return 0;
	if (resolve(r, f, &idx, &n, err) < 0)
		return -1;
	if (r->kind == JM_CLEAN_FILL_MEAN || r->kind == JM_CLEAN_FILL_MEDIAN ||
	    r->kind == JM_CLEAN_SIGMA || r->kind == JM_CLEAN_IQR) {
		/* columns are independent: their statistics in parallel */
		nf = jm_xcalloc((size_t)n + 1, sizeof *nf);
		for (int k = 0; k < n; k++)
			nf[k] = (numeric_fit){.r = r, .c = f->cols[idx[k]], .n = f->nrows};
		jm_parallel_for(n, fit_numbers, nf, f->nrows);
	}
	for (int k = 0; k < n; k++) {
		const jm_col *c = f->cols[idx[k]];
		switch (r->kind) {
		case JM_CLEAN_DROP_COLS:
			if (f->nrows && (double)c->n_na / (double)f->nrows > r->param)
				fit_push(r, c->name, (double)c->n_na / (double)f->nrows, 0, NULL);
			break;
		case JM_CLEAN_FILL_MEAN:
		case JM_CLEAN_FILL_MEDIAN:
		case JM_CLEAN_SIGMA:
		case JM_CLEAN_IQR:
			if (nf[k].rc < 0) {
				if (err)
					*err = nf[k].err;
				goto out;
			}
			fit_push(r, c->name, nf[k].a, nf[k].b, NULL);
			break;
		case JM_CLEAN_FILL_MOST_FREQUENT: {
			uint64_t key = 0;
			int64_t freq, distinct;
			if (mode_of(c, f->nrows, &key, &freq, &distinct) < 0) {
				jm_err_set(err, JM_EXIT_FAIL, "out of memory");
				goto out;
			}
			if (!freq) /* nothing to learn from: leave the column alone */
				fit_push(r, c->name, NAN, 0, NULL);
			else if (c->type == JM_COL_STR)
				fit_push(r, c->name, NAN, 1, c->dict->s[(int32_t)key]);
			else
				fit_push(r, c->name, key_number(c, key), 1, NULL);
			break;
		}
		default: /* constant, drop rows, dates, booleans, duplicates: no numbers */
			fit_push(r, c->name, NAN, 0, r->value);
		}
	}
	rc = 0;
out:
	free(nf);
	free(idx);
	return rc;
}

/* ---- applying -------------------------------------------------------- */

static void step_init(jm_clean_step *s, const jm_clean_rule *r)
{
	memset(s, 0, sizeof *s);
	char *cols = NULL;
	size_t len = 0;
	for (int i = 0; i < r->ncols; i++) {
		size_t l = strlen(r->cols[i]);
		cols = jm_xrealloc(cols, len + l + 3);
		len += (size_t)sprintf(cols + len, "%s%s", i ? ", " : "", r->cols[i]);
	}
	char extra[96] = "";
	if (r->kind == JM_CLEAN_SIGMA || r->kind == JM_CLEAN_IQR)
		snprintf(extra, sizeof extra, " %g %s", r->param, r->drop ? "drop" : "clip");
	else if (r->kind == JM_CLEAN_DROP_COLS)
		snprintf(extra, sizeof extra, " > %g missing", r->param);
	else if (r->kind == JM_CLEAN_FILL_CONSTANT)
		snprintf(extra, sizeof extra, "=%.80s", r->value ? r->value : "");
	s->rule = jm_xasprintf("%s%s%s%s", rule_name(r), extra, cols ? ": " : "", cols ? cols : "");
	free(cols);
}

/* Column fit entry i of r in frame f, or NULL (after an error when the
 * column must exist). */
static jm_col *fit_col(const jm_clean_rule *r, int i, jm_frame *f, jm_err *err)
{
	jm_col *c = jm_frame_col(f, r->fit_col[i]);
	if (!c) {
		char what[64];
		snprintf(what, sizeof what, "[clean] %s", rule_name(r));
		jm_no_column(err, f, what, r->fit_col[i]);
	}
	return c;
}

static int fill_number(jm_col *c, int64_t n, double v, int64_t *changed, jm_err *err)
{
	if (!c->n_na || isnan(v))
		return 0;
	if (c->type == JM_COL_I64 && v != floor(v) && jm_col_to_f64(c, n, err) < 0)
		return -1;
	for (int64_t i = 0; i < n; i++) {
		if (!c->na[i])
			continue;
		switch (c->type) {
		case JM_COL_F64: c->v.f64[i] = v; break;
		case JM_COL_I64:
		case JM_COL_TIME: c->v.i64[i] = (int64_t)v; break;
		case JM_COL_BOOL: c->v.b[i] = v != 0; break;
		case JM_COL_STR: break;
		}
		c->na[i] = 0;
		(*changed)++;
	}
	jm_col_sync_na(c, n);
	return 0;
}

static int fill_text(jm_col *c, int64_t n, const char *text, int64_t *changed)
{
	if (!c->n_na)
		return 0;
	jm_col_own_dict(c);
	int32_t code = jm_dict_intern(c->dict, text, strlen(text));
	for (int64_t i = 0; i < n; i++)
		if (c->na[i]) {
			c->v.code[i] = code;
			c->na[i] = 0;
			(*changed)++;
		}
	jm_col_sync_na(c, n);
	return 0;
}

static int parse_bool_word(const char *s)
{
	static const char *const yes[] = {"true", "t", "yes", "y", "on", "1"};
	static const char *const no[] = {"false", "f", "no", "n", "off", "0"};
	for (size_t i = 0; i < 6; i++) {
		if (strcasecmp(s, yes[i]) == 0)
			return 1;
		if (strcasecmp(s, no[i]) == 0)
			return 0;
	}
	return -1;
}

static int fill_constant(const jm_clean_rule *r, jm_col *c, int64_t n, int64_t *changed,
			 jm_err *err)
{
	const char *t = r->value ? r->value : "";
	double v;
	int64_t ns;
	int b;
	switch (c->type) {
	case JM_COL_STR: return fill_text(c, n, t, changed);
	case JM_COL_F64:
	case JM_COL_I64:
		if (parse_number(t, &v) < 0)
			return jm_err_set(err, JM_EXIT_INPUT,
					  "[clean] missing constant=%s: column \"%s\" is numeric; expected a number",
					  t, c->name);
		return fill_number(c, n, v, changed, err);
	case JM_COL_BOOL:
		if ((b = parse_bool_word(t)) < 0)
			return jm_err_set(err, JM_EXIT_INPUT,
					  "[clean] missing constant=%s: column \"%s\" is bool; expected true or false",
					  t, c->name);
		return fill_number(c, n, b, changed, err);
	case JM_COL_TIME:
		if (jm_parse_datetime(t, strlen(t), &ns) < 0)
			return jm_err_set(err, JM_EXIT_INPUT,
					  "[clean] missing constant=%s: column \"%s\" holds dates; expected YYYY-MM-DD",
					  t, c->name);
		return fill_number(c, n, (double)ns, changed, err);
	}
	return 0;
}

/* Replace c (text) by a column of another type built from per-code
 * values; values that did not convert become missing and are counted. */
static int convert_text(jm_frame *f, int j, jm_coltype to, const int64_t *per_code,
			const uint8_t *ok, int64_t *changed, jm_err *err)
{
	jm_col *c = f->cols[j];
	jm_col *o = jm_col_new(c->name, to, f->nrows, err);
	if (!o || jm_col_ensure_na(o, f->nrows, err) < 0) {
		jm_col_free(o);
		return -1;
	}
	for (int64_t i = 0; i < f->nrows; i++) {
		if (jm_col_isna(c, i)) {
			o->na[i] = 1;
			continue;
		}
		int32_t k = c->v.code[i];
		if (!ok[k]) {
			o->na[i] = 1;
			(*changed)++;
			continue;
		}
		if (to == JM_COL_BOOL)
			o->v.b[i] = (uint8_t)per_code[k];
		else
			o->v.ns[i] = per_code[k];
	}
	jm_col_sync_na(o, f->nrows);
	f->cols[j] = o;
	jm_col_free(c);
	return 0;
}

static int apply_dates(const jm_clean_rule *r, jm_frame *f, jm_col *c, int64_t *changed,
		       jm_err *err)
{
	if (c->type == JM_COL_TIME)
		return 0;
	if (c->type != JM_COL_STR)
		return jm_err_set(err, JM_EXIT_INPUT, "[clean] dates: column \"%s\" is %s, not text",
				  c->name, jm_coltype_name(c->type));
	int32_t nd = c->dict->n;
	int64_t *ns = jm_xcalloc((size_t)nd + 1, sizeof *ns);
	uint8_t *ok = jm_xcalloc((size_t)nd + 1, 1);
	int any = 0;
	for (int32_t k = 0; k < nd; k++) {
		const char *s = c->dict->s[k];
		size_t len = c->dict->len[k];
		ok[k] = (r->value ? jm_parse_datetime_fmt(s, len, r->value, &ns[k])
				  : jm_parse_datetime(s, len, &ns[k])) == 0;
		any |= ok[k];
	}
	int rc;
	if (!any && nd)
		rc = jm_err_set(err, JM_EXIT_INPUT,
				"[clean] dates: no value of column \"%s\" is a date%s%s (first: \"%s\")",
				c->name, r->value ? " in the format " : " (YYYY-MM-DD[ HH:MM:SS])",
				r->value ? r->value : "", c->dict->s[0]);
	else
		rc = convert_text(f, jm_frame_index(f, c->name), JM_COL_TIME, ns, ok, changed, err);
	free(ns);
	free(ok);
	return rc;
}

static int apply_bools(jm_frame *f, jm_col *c, int64_t *changed, jm_err *err)
{
	int64_t n = f->nrows;
	if (c->type == JM_COL_BOOL)
		return 0;
	if (c->type == JM_COL_STR) {
		int32_t nd = c->dict->n;
		int64_t *val = jm_xcalloc((size_t)nd + 1, sizeof *val);
		uint8_t *ok = jm_xcalloc((size_t)nd + 1, 1);
		for (int32_t k = 0; k < nd; k++) {
			int b = parse_bool_word(c->dict->s[k]);
			ok[k] = b >= 0;
			val[k] = b > 0;
		}
		int rc = convert_text(f, jm_frame_index(f, c->name), JM_COL_BOOL, val, ok, changed, err);
		free(val);
		free(ok);
		return rc;
	}
	if (c->type == JM_COL_TIME)
		return jm_err_set(err, JM_EXIT_INPUT, "[clean] booleans: column \"%s\" holds dates",
				  c->name);
	/* numbers: 0 and 1 map, the rest become missing */
	jm_col *o = jm_col_new(c->name, JM_COL_BOOL, n, err);
	if (!o || jm_col_ensure_na(o, n, err) < 0) {
		jm_col_free(o);
		return -1;
	}
	for (int64_t i = 0; i < n; i++) {
		double v = jm_col_num(c, i);
		if (isnan(v)) {
			o->na[i] = 1;
		} else if (v == 0 || v == 1) {
			o->v.b[i] = v == 1;
		} else {
			o->na[i] = 1;
			(*changed)++;
		}
	}
	jm_col_sync_na(o, n);
	int j = jm_frame_index(f, c->name);
	f->cols[j] = o;
	jm_col_free(c);
	return 0;
}

/* Row hash for duplicates. */
static uint64_t row_hash(const jm_frame *f, int64_t i)
{
	uint64_t h = 0x9e3779b97f4a7c15ull;
	for (int j = 0; j < f->ncols; j++)
		h = mix64(h ^ value_key(f->cols[j], i)) + (uint64_t)j;
	return h;
}

static int rows_equal(const jm_frame *f, int64_t a, int64_t b)
{
	for (int j = 0; j < f->ncols; j++)
		if (value_key(f->cols[j], a) != value_key(f->cols[j], b))
			return 0;
	return 1;
}

static int apply_dedup(jm_frame *f, int64_t *dropped, jm_err *err)
{
	int64_t n = f->nrows;
	size_t cap = 16;
	while (cap < (size_t)n * 2)
		cap <<= 1;
	int64_t *slot = malloc(cap * sizeof *slot);
	uint64_t *hash = malloc((n > 0 ? (size_t)n : 1) * sizeof *hash);
	uint8_t *keep = malloc(n > 0 ? (size_t)n : 1);
	int rc = -1;
	if (!slot || !hash || !keep) {
		jm_err_set(err, JM_EXIT_FAIL, "out of memory finding duplicate rows");
		goto out;
	}
	memset(slot, 0xff, cap * sizeof *slot);
	for (int64_t i = 0; i < n; i++) {
		hash[i] = row_hash(f, i);
		size_t s = hash[i] & (cap - 1);
		keep[i] = 1;
		while (slot[s] >= 0) {
			int64_t o = slot[s];
			if (hash[o] == hash[i] && rows_equal(f, o, i)) {
				keep[i] = 0;
				break;
			}
			s = (s + 1) & (cap - 1);
		}
		if (keep[i])
			slot[s] = i;
		else
			(*dropped)++;
	}
	rc = *dropped ? jm_frame_filter(f, keep, err) : 0;
out:
	free(slot);
	free(hash);
	free(keep);
	return rc;
}

static int apply_bounds(const jm_clean_rule *r, jm_col *c, int64_t n, double lo, double hi,
			uint8_t *keep, int64_t *changed, jm_err *err)
{
	if (c->type == JM_COL_I64) { /* becomes float only when a value is clipped */
		int64_t out = 0;
		for (int64_t i = 0; i < n; i++)
			out += !jm_col_isna(c, i) && ((double)c->v.i64[i] < lo || (double)c->v.i64[i] > hi);
		if (!out)
			return 0;
		if (!r->drop && jm_col_to_f64(c, n, err) < 0)
			return -1;
	}
	if (c->type == JM_COL_I64) { /* drop rows, keep the integers */
		for (int64_t i = 0; i < n; i++) {
			double x = (double)c->v.i64[i];
			if (!jm_col_isna(c, i) && (x < lo || x > hi))
				keep[i] = 0;
		}
		return 0;
	}
	if (c->type != JM_COL_F64)
		return jm_err_set(err, JM_EXIT_INPUT, "[clean] %s: column \"%s\" is %s, not numeric",
				  rule_name(r), c->name, jm_coltype_name(c->type));
	double *v = c->v.f64;
	int64_t k = 0;
	if (r->drop) {
		for (int64_t i = 0; i < n; i++)
			if (v[i] < lo || v[i] > hi) { /* NaN compares false: kept */
				k += keep[i];
				keep[i] = 0;
			}
	} else {
		for (int64_t i = 0; i < n; i++) {
			double x = v[i];
			k += (x < lo) | (x > hi);
			v[i] = x < lo ? lo : x > hi ? hi : x;
		}
	}
	*changed += k;
	return 0;
}

static int apply_rule(const jm_clean_rule *r, jm_frame *f, jm_clean_step *st, jm_err *err)
{
	int64_t n = f->nrows;
	uint8_t *keep = NULL;
	int rc = -1;
	if (r->kind == JM_CLEAN_DEDUP)
		return apply_dedup(f, &st->rows_dropped, err);
	if (r->kind == JM_CLEAN_DROP_MISSING || ((r->kind == JM_CLEAN_SIGMA || r->kind == JM_CLEAN_IQR) && r->drop)) {
		keep = malloc(n > 0 ? (size_t)n : 1);
		if (!keep)
			return jm_err_set(err, JM_EXIT_FAIL, "out of memory");
		memset(keep, 1, (size_t)n);
	}
	for (int i = 0; i < r->nfit; i++) {
		jm_col *c;
		if (r->kind == JM_CLEAN_DROP_COLS) {
			if (jm_frame_drop(f, r->fit_col[i]) == 0)
				st->cols_dropped++;
			continue;
		}
		if (!(c = fit_col(r, i, f, err)))
			goto out;
		switch (r->kind) {
		case JM_CLEAN_FILL_MEAN:
		case JM_CLEAN_FILL_MEDIAN:
			if (fill_number(c, n, r->fit_a[i], &st->values_changed, err) < 0)
				goto out;
			break;
		case JM_CLEAN_FILL_MOST_FREQUENT:
			if (r->fit_text[i] && c->type == JM_COL_STR)
				fill_text(c, n, r->fit_text[i], &st->values_changed);
			else if (r->fit_b[i] != 0 && c->type != JM_COL_STR &&
				 fill_number(c, n, r->fit_a[i], &st->values_changed, err) < 0)
				goto out;
			break;
		case JM_CLEAN_FILL_CONSTANT:
			if (fill_constant(r, c, n, &st->values_changed, err) < 0)
				goto out;
			break;
		case JM_CLEAN_DROP_MISSING:
			for (int64_t k = 0; k < n; k++)
				if (jm_col_isna(c, k))
					keep[k] = 0;
			break;
		case JM_CLEAN_SIGMA:
		case JM_CLEAN_IQR:
			if (apply_bounds(r, c, n, r->fit_a[i], r->fit_b[i], keep, &st->values_changed, err) < 0)
				goto out;
			break;
		case JM_CLEAN_DATES:
			if (apply_dates(r, f, c, &st->values_changed, err) < 0)
				goto out;
			break;
		case JM_CLEAN_BOOLS:
			if (apply_bools(f, c, &st->values_changed, err) < 0)
				goto out;
			break;
		default:
			break;
		}
	}
	if (keep) {
		for (int64_t k = 0; k < n; k++)
			st->rows_dropped += !keep[k];
		if (st->rows_dropped && jm_frame_filter(f, keep, err) < 0)
			goto out;
	}
	/* details: the numbers a reader wants to check */
	if (r->nfit && r->kind != JM_CLEAN_DATES && r->kind != JM_CLEAN_BOOLS &&
	    r->kind != JM_CLEAN_DROP_MISSING && r->kind != JM_CLEAN_FILL_CONSTANT) {
		size_t len = 0;
		char *d = NULL;
		for (int i = 0; i < r->nfit && len < 2000; i++) {
			char item[200];
			if (r->kind == JM_CLEAN_DROP_COLS)
				snprintf(item, sizeof item, "%s (%.1f%% missing)", r->fit_col[i], 100 * r->fit_a[i]);
			else if (r->kind == JM_CLEAN_SIGMA || r->kind == JM_CLEAN_IQR)
				snprintf(item, sizeof item, "%s in [%.6g, %.6g]", r->fit_col[i], r->fit_a[i],
					 r->fit_b[i]);
			else if (r->fit_text[i])
				snprintf(item, sizeof item, "%s = \"%.80s\"", r->fit_col[i], r->fit_text[i]);
			else
				snprintf(item, sizeof item, "%s = %.6g", r->fit_col[i], r->fit_a[i]);
			size_t l = strlen(item);
			d = jm_xrealloc(d, len + l + 3);
			len += (size_t)sprintf(d + len, "%s%s", len ? ", " : "", item);
		}
		st->detail = d;
	}
	rc = 0;
out:
	free(keep);
	return rc;
}

/* ---- running --------------------------------------------------------- */

/* An error of rule r, located at its spec key ("missing" of "missing
 * median") when the caller said where the rules were written. */
static void locate_rule(const jm_clean *c, const jm_clean_rule *r, jm_err *err)
{
	char key[32];
	const char *name = rule_name(r);
	if (!c->locate || !err)
		return;
	snprintf(key, sizeof key, "%.*s", (int)strcspn(name, " "), name);
	c->locate(c->locate_ctx, key, err);
}

/* Rule indices in stage order (stable). */
static int *stage_order(const jm_clean *c)
{
	int *ord = jm_xmalloc(((size_t)c->n + 1) * sizeof *ord);
	int k = 0;
	for (int stage = 1; stage <= 6; stage++)
		for (int i = 0; i < c->n; i++)
			if (kinds[c->rules[i].kind].stage == stage)
				ord[k++] = i;
	return ord;
}

static int run(jm_clean *c, jm_frame *f, int fit, jm_clean_report *report, jm_err *err)
{
	if (!fit && !c->fitted)
		return jm_err_set(err, JM_EXIT_FAIL, "[clean] rules applied before they were fitted");
	int *ord = stage_order(c), rc = -1;
	if (report) {
		memset(report, 0, sizeof *report);
		if (!c->skip_quality && jm_quality_compute(f, &report->before, err) < 0)
			goto out;
		report->steps = jm_xcalloc((size_t)c->n + 1, sizeof *report->steps);
	}
	for (int k = 0; k < c->n; k++) {
		jm_clean_rule *r = &c->rules[ord[k]];
		jm_clean_step st;
		step_init(&st, r);
		if ((fit && fit_rule(r, f, err) < 0) || apply_rule(r, f, &st, err) < 0) {
			free(st.rule);
			free(st.detail);
			locate_rule(c, r, err);
			goto out;
		}
		if (report)
			report->steps[report->nsteps++] = st;
		else {
			free(st.rule);
			free(st.detail);
		}
	}
	if (fit)
		c->fitted = 1;
	if (report && !c->skip_quality && jm_quality_compute(f, &report->after, err) < 0)
		goto out;
	rc = 0;
out:
	free(ord);
	return rc;
}

int jm_clean_fit_apply(jm_clean *c, jm_frame *f, jm_clean_report *report, jm_err *err)
{
	return run(c, f, 1, report, err);
}

int jm_clean_apply(const jm_clean *c, jm_frame *f, jm_clean_report *report, jm_err *err)
{
	return run((jm_clean *)c, f, 0, report, err);
}

/* ---- the quality report ---------------------------------------------- */

int jm_quality_compute(const jm_frame *f, jm_quality *q, jm_err *err)
{
	memset(q, 0, sizeof *q);
	q->rows = f->nrows;
	q->ncols = f->ncols;
	q->cols = jm_xcalloc((size_t)f->ncols + 1, sizeof *q->cols);
	for (int j = 0; j < f->ncols; j++) {
		const jm_col *c = f->cols[j];
		jm_colstats *s = &q->cols[j];
		s->name = jm_xstrdup(c->name);
		s->type = c->type;
		s->missing = c->n_na;
		s->count = f->nrows - c->n_na;
		s->mean = s->std = s->min = s->q25 = s->q50 = s->q75 = s->max = NAN;
		s->first_inf = -1;
		uint64_t key = 0;
		int64_t freq, distinct;
		if (mode_of(c, f->nrows, &key, &freq, &distinct) < 0)
			return jm_err_set(err, JM_EXIT_FAIL, "out of memory computing the data quality");
		s->unique = distinct;
		if (c->type == JM_COL_STR) {
			if (freq) {
				s->top = jm_xstrdup(c->dict->s[(int32_t)key]);
				s->top_freq = freq;
			}
			continue;
		}
		int owned;
		const double *x = as_doubles(c, f->nrows, &owned, err);
		if (!x)
			return -1;
		for (int64_t i = 0; i < f->nrows; i++)
			if (isinf(x[i]) && s->infinite++ == 0)
				s->first_inf = jm_frame_origin(f, i);
		s->mean = jm_stat_mean(x, f->nrows, NULL);
		/* pandas: an infinite value makes the std NaN (not the 0 that
		 * inf - inf = NaN, summed as 0, would give) */
		s->std = s->infinite ? NAN : sqrt(jm_stat_var(x, f->nrows, 1));
		double qs[5] = {0, 0.25, 0.5, 0.75, 1}, out[5];
		int rc = jm_stat_quantiles(x, f->nrows, qs, 5, out, err);
		if (owned)
			free((void *)x);
		if (rc < 0)
			return -1;
		s->min = out[0];
		s->q25 = out[1];
		s->q50 = out[2];
		s->q75 = out[3];
		s->max = out[4];
	}
	return 0;
}

void jm_quality_clear(jm_quality *q)
{
	if (!q)
		return;
	for (int j = 0; j < q->ncols; j++) {
		free(q->cols[j].name);
		free(q->cols[j].top);
	}
	free(q->cols);
	memset(q, 0, sizeof *q);
}

void jm_clean_report_clear(jm_clean_report *r)
{
	if (!r)
		return;
	jm_quality_clear(&r->before);
	jm_quality_clear(&r->after);
	for (int i = 0; i < r->nsteps; i++) {
		free(r->steps[i].rule);
		free(r->steps[i].detail);
	}
	free(r->steps);
	memset(r, 0, sizeof *r);
}

static void num_cell(FILE *out, double v, jm_coltype t)
{
	char buf[40];
	if (isnan(v))
		snprintf(buf, sizeof buf, "-");
	else if (t == JM_COL_TIME)
		jm_format_datetime((int64_t)(v * 1e9), buf, sizeof buf);
	else
		snprintf(buf, sizeof buf, "%.6g", v);
	fprintf(out, " %12.19s", buf);
}

void jm_quality_text(FILE *out, const jm_quality *q, const char *title)
{
	fprintf(out, "%s: %" PRId64 " rows, %d columns\n", title, q->rows, q->ncols);
	fprintf(out, "  %-16s %-8s %9s %8s %8s %12s %12s %12s %12s %12s %12s %12s\n", "column", "type",
		"count", "missing", "unique", "mean", "std", "min", "25%", "50%", "75%", "max");
	for (int j = 0; j < q->ncols; j++) {
		const jm_colstats *s = &q->cols[j];
		fprintf(out, "  %-16.16s %-8s %9" PRId64 " %8" PRId64 " %8" PRId64, s->name,
			jm_coltype_name(s->type), s->count, s->missing, s->unique);
		if (s->type == JM_COL_STR) {
			if (s->top)
				fprintf(out, "  top \"%.40s\" (%" PRId64 ")", s->top, s->top_freq);
		} else {
			jm_coltype t = s->type;
			num_cell(out, s->mean, t);
			num_cell(out, s->std, t == JM_COL_TIME ? JM_COL_F64 : t);
			num_cell(out, s->min, t);
			num_cell(out, s->q25, t);
			num_cell(out, s->q50, t);
			num_cell(out, s->q75, t);
			num_cell(out, s->max, t);
		}
		fputc('\n', out);
	}
	for (int j = 0; j < q->ncols; j++) { /* what the mean and std above do not say */
		const jm_colstats *s = &q->cols[j];
		if (!s->infinite)
			continue;
		char first[64];
		if (s->inf_line > 0)
			snprintf(first, sizeof first, "line %" PRId64, s->inf_line);
		else
			snprintf(first, sizeof first, "row %" PRId64, s->first_inf + 1);
		fprintf(out, "  column \"%s\": %" PRId64 " infinite value%s (the first at %s); "
			"[data] na_values = inf, -inf reads them as missing\n", s->name, s->infinite,
			s->infinite == 1 ? "" : "s", first);
	}
}

void jm_clean_report_text(FILE *out, const jm_clean_report *r)
{
	jm_quality_text(out, &r->before, "data quality before cleaning");
	fprintf(out, "cleaning rules:\n");
	if (!r->nsteps)
		fprintf(out, "  (none)\n");
	for (int i = 0; i < r->nsteps; i++) {
		const jm_clean_step *s = &r->steps[i];
		fprintf(out, "  %s: %" PRId64 " rows dropped, %" PRId64 " values changed", s->rule,
			s->rows_dropped, s->values_changed);
		if (s->cols_dropped)
			fprintf(out, ", %" PRId64 " columns dropped", s->cols_dropped);
		fputc('\n', out);
		if (s->detail)
			fprintf(out, "    %s\n", s->detail);
	}
	jm_quality_text(out, &r->after, "data quality after cleaning");
}

static void quality_json(FILE *out, const jm_quality *q)
{
	fprintf(out, "{\"rows\": %" PRId64 ", \"columns\": [", q->rows);
	for (int j = 0; j < q->ncols; j++) {
		const jm_colstats *s = &q->cols[j];
		fprintf(out, "%s{\"name\": ", j ? ", " : "");
		jm_json_str(out, s->name);
		fprintf(out, ", \"type\": \"%s\", \"count\": %" PRId64 ", \"missing\": %" PRId64
			     ", \"unique\": %" PRId64,
			jm_coltype_name(s->type), s->count, s->missing, s->unique);
		const struct {
			const char *k;
			double v;
		} nums[] = {{"mean", s->mean}, {"std", s->std}, {"min", s->min}, {"25%", s->q25},
			    {"50%", s->q50},   {"75%", s->q75}, {"max", s->max}};
		if (s->type != JM_COL_STR)
			for (size_t k = 0; k < sizeof nums / sizeof *nums; k++) {
				fprintf(out, ", \"%s\": ", nums[k].k);
				jm_json_num(out, nums[k].v);
			}
		if (s->infinite)
			fprintf(out, ", \"infinite\": %" PRId64, s->infinite);
		if (s->inf_line > 0)
			fprintf(out, ", \"first_infinite_line\": %" PRId64, s->inf_line);
		if (s->top) {
			fprintf(out, ", \"top\": ");
			jm_json_str(out, s->top);
			fprintf(out, ", \"freq\": %" PRId64, s->top_freq);
		}
		fputc('}', out);
	}
	fprintf(out, "]}");
}

void jm_clean_report_json(FILE *out, const jm_clean_report *r)
{
	fprintf(out, "{\"before\": ");
	quality_json(out, &r->before);
	fprintf(out, ", \"rules\": [");
	for (int i = 0; i < r->nsteps; i++) {
		const jm_clean_step *s = &r->steps[i];
		fprintf(out, "%s{\"rule\": ", i ? ", " : "");
		jm_json_str(out, s->rule);
		fprintf(out, ", \"rows_dropped\": %" PRId64 ", \"values_changed\": %" PRId64
			     ", \"columns_dropped\": %" PRId64 ", \"detail\": ",
			s->rows_dropped, s->values_changed, s->cols_dropped);
		jm_json_str(out, s->detail);
		fputc('}', out);
	}
	fprintf(out, "], \"after\": ");
	quality_json(out, &r->after);
	fprintf(out, "}\n");
}

/* ---- fitted state as text -------------------------------------------- */

void jm_state_str(FILE *out, const char *s)
{
	jm_json_str(out, s);
}

void jm_state_num(FILE *out, double v)
{
	if (isnan(v))
		fputs("nan", out);
	else if (isinf(v))
		fputs(v > 0 ? "inf" : "-inf", out);
	else
		fprintf(out, "%.17g", v);
}

int jm_state_next(jm_state_reader *r)
{
	for (;;) {
		ssize_t n = getline(&r->line, &r->cap, r->in);
		if (n < 0)
			return 0;
		r->lineno++;
		r->p = r->line;
		while (*r->p == ' ' || *r->p == '\t')
			r->p++;
		if (*r->p && *r->p != '\n' && *r->p != '#')
			return 1;
	}
}

static int hexval(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 :
	       c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

int jm_state_tok(jm_state_reader *r, char **s)
{
	*s = NULL;
	const char *p = r->p;
	while (*p == ' ' || *p == '\t')
		p++;
	if (!*p || *p == '\n') {
		r->p = p;
		return 0;
	}
	if (*p != '"') {
		const char *e = p;
		while (*e && *e != ' ' && *e != '\t' && *e != '\n')
			e++;
		r->p = e;
		if (e - p == 4 && memcmp(p, "null", 4) == 0)
			return 1;
		*s = jm_xasprintf("%.*s", (int)(e - p), p);
		return 1;
	}
	size_t cap = strlen(p) + 1, k = 0;
	char *o = jm_xmalloc(cap);
	for (p++; *p && *p != '"'; p++) {
		if (*p != '\\') {
			o[k++] = *p;
			continue;
		}
		p++;
		switch (*p) {
		case 'n': o[k++] = '\n'; break;
		case 't': o[k++] = '\t'; break;
		case 'r': o[k++] = '\r'; break;
		case 'b': o[k++] = '\b'; break;
		case 'f': o[k++] = '\f'; break;
		case '"': case '\\': case '/': o[k++] = *p; break;
		case 'u': {
			unsigned u = 0;
			for (int i = 1; i <= 4; i++) {
				int h = hexval(p[i]);
				if (h < 0) {
					free(o);
					return -1;
				}
				u = u * 16 + (unsigned)h;
			}
			p += 4;
			if (u < 0x80) {
				o[k++] = (char)u;
			} else if (u < 0x800) {
				o[k++] = (char)(0xc0 | (u >> 6));
				o[k++] = (char)(0x80 | (u & 0x3f));
			} else {
				o[k++] = (char)(0xe0 | (u >> 12));
				o[k++] = (char)(0x80 | ((u >> 6) & 0x3f));
				o[k++] = (char)(0x80 | (u & 0x3f));
			}
			break;
		}
		default:
			free(o);
			return -1;
		}
	}
	if (*p != '"') {
		free(o);
		return -1;
	}
	o[k] = '\0';
	r->p = p + 1;
	*s = o;
	return 1;
}

int jm_state_double(jm_state_reader *r, double *v)
{
	char *t;
	if (jm_state_tok(r, &t) != 1 || !t) {
		free(t);
		return -1;
	}
	char *end;
	*v = strtod(t, &end);
	int ok = end != t && !*end;
	free(t);
	return ok ? 0 : -1;
}

int jm_state_int(jm_state_reader *r, int *v, int lo, int hi)
{
	double d;
	if (jm_state_double(r, &d) < 0 || d != floor(d) || d < lo || d > hi)
		return -1;
	*v = (int)d;
	return 0;
}

int jm_state_word(jm_state_reader *r, const char *w)
{
	char *t;
	int ok = jm_state_tok(r, &t) == 1 && t && strcmp(t, w) == 0;
	free(t);
	return ok ? 0 : -1;
}

void jm_state_reader_free(jm_state_reader *r)
{
	free(r->line);
	r->line = NULL;
}

/* Format:
 *   jianmo-clean 1
 *   rule KIND PARAM DROP VALUE NCOLS COL... NFIT
 *   fit COL A B TEXT           (NFIT lines)
 * KIND is the index into kinds[] by name (spaces as '_'); strings quoted. */
int jm_clean_save(const jm_clean *c, FILE *out, jm_err *err)
{
	fprintf(out, "jianmo-clean 1 %d\n", c->n);
	for (int i = 0; i < c->n; i++) {
		const jm_clean_rule *r = &c->rules[i];
		fprintf(out, "rule %d ", (int)r->kind);
		jm_state_num(out, r->param);
		fprintf(out, " %d ", r->drop);
		jm_state_str(out, r->value);
		fprintf(out, " %d", r->ncols);
		for (int k = 0; k < r->ncols; k++) {
			fputc(' ', out);
			jm_state_str(out, r->cols[k]);
		}
		fprintf(out, " %d\n", r->nfit);
		for (int k = 0; k < r->nfit; k++) {
			fputs("fit ", out);
			jm_state_str(out, r->fit_col[k]);
			fputc(' ', out);
			jm_state_num(out, r->fit_a[k]);
			fputc(' ', out);
			jm_state_num(out, r->fit_b[k]);
			fputc(' ', out);
			jm_state_str(out, r->fit_text[k]);
			fputc('\n', out);
		}
	}
	if (ferror(out))
		return jm_err_set(err, JM_EXIT_FAIL, "writing the [clean] state: %s", strerror(errno));
	return 0;
}

int jm_clean_load(jm_clean *c, FILE *in, jm_err *err)
{
	jm_state_reader rd = {.in = in};
	int nrules, rc = -1;
	jm_clean_init(c);
	if (!jm_state_next(&rd) || jm_state_word(&rd, "jianmo-clean") < 0 ||
	    jm_state_word(&rd, "1") < 0 || jm_state_int(&rd, &nrules, 0, 1 << 20) < 0)
		goto bad;
	for (int i = 0; i < nrules; i++) {
		int kind, ncols, nfit;
		if (!jm_state_next(&rd) || jm_state_word(&rd, "rule") < 0 ||
		    jm_state_int(&rd, &kind, 0, NKINDS - 1) < 0)
			goto bad;
		jm_clean_rule *r = add_rule(c, (jm_clean_kind)kind);
		if (jm_state_double(&rd, &r->param) < 0 || jm_state_int(&rd, &r->drop, 0, 1) < 0 ||
		    jm_state_tok(&rd, &r->value) != 1 || jm_state_int(&rd, &ncols, 0, 1 << 20) < 0)
			goto bad;
		r->cols = jm_xcalloc((size_t)ncols + 1, sizeof *r->cols);
		for (; r->ncols < ncols; r->ncols++)
			if (jm_state_tok(&rd, &r->cols[r->ncols]) != 1 || !r->cols[r->ncols])
				goto bad;
		if (jm_state_int(&rd, &nfit, 0, 1 << 20) < 0)
			goto bad;
		for (int k = 0; k < nfit; k++) {
			char *col = NULL, *text = NULL;
			double a, b;
			if (!jm_state_next(&rd) || jm_state_word(&rd, "fit") < 0 ||
			    jm_state_tok(&rd, &col) != 1 || !col || jm_state_double(&rd, &a) < 0 ||
			    jm_state_double(&rd, &b) < 0 || jm_state_tok(&rd, &text) != 1) {
				free(col);
				free(text);
				goto bad;
			}
			fit_push(r, col, a, b, text);
			free(col);
			free(text);
		}
	}
	c->fitted = 1;
	rc = 0;
	goto out;
bad:
	jm_err_set(err, JM_EXIT_INPUT, "[clean] state: line %d: malformed", rd.lineno);
	jm_clean_free(c);
out:
	jm_state_reader_free(&rd);
	return rc;
}
