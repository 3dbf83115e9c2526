/*
 * frame.c: columns, string dictionaries, row selection, dates, and the
 * conversion of a frame to the float matrix a model trains on.
 *
 *   jm_dict_intern(text) ──hash──▶ slot ──▶ code (first-seen order)
 *   jm_frame_take(idx)   ──per column gather──▶ new frame (dicts shared)
 *   jm_frame_matrix      ──per column, per row──▶ float[rows x cols]
 *
 * Columns are plain malloc'd arrays so the CSV reader, the cleaning rules
 * and the feature steps can loop over them directly.
 */
#include "data/frame.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

static const char *const type_names[] = {
	[JM_COL_F64] = "float64",
	[JM_COL_I64] = "int64",
	[JM_COL_BOOL] = "bool",
	[JM_COL_TIME] = "datetime",
	[JM_COL_STR] = "string",
};

static const size_t type_size[] = {
	[JM_COL_F64] = sizeof(double),
	[JM_COL_I64] = sizeof(int64_t),
	[JM_COL_BOOL] = 1,
	[JM_COL_TIME] = sizeof(int64_t),
	[JM_COL_STR] = sizeof(int32_t),
};

const char *jm_coltype_name(jm_coltype t)
{
	return (unsigned)t <= JM_COL_STR ? type_names[t] : "unknown";
}

/* ---- dictionaries ---------------------------------------------------- */

static uint32_t str_hash(const char *s, size_t n)
{
	uint64_t h = 0x9e3779b97f4a7c15ull ^ n;
	while (n >= 8) {
		uint64_t w;
		memcpy(&w, s, 8);
		h = (h ^ w) * 0xff51afd7ed558ccdull;
		h ^= h >> 32;
		s += 8;
		n -= 8;
	}
	uint64_t w = 0;
	memcpy(&w, s, n);
	h = (h ^ w) * 0xc4ceb9fe1a85ec53ull;
	h ^= h >> 29;
	h *= 0x94d049bb133111ebull;
	return (uint32_t)(h >> 32);
}

jm_dict *jm_dict_new(void)
{
	jm_dict *d = jm_xcalloc(1, sizeof *d);
	d->nslots = 64;
	d->slots = jm_xcalloc(d->nslots, sizeof *d->slots);
	d->refs = 1;
	return d;
}

static void dict_grow_slots(jm_dict *d)
{
	uint32_t ns = d->nslots * 2;
	uint32_t *slots = jm_xcalloc(ns, sizeof *slots);
	for (int32_t k = 0; k < d->n; k++) {
		uint32_t i = d->hash[k] & (ns - 1);
		while (slots[i])
			i = (i + 1) & (ns - 1);
		slots[i] = (uint32_t)k + 1;
	}
	free(d->slots);
	d->slots = slots;
	d->nslots = ns;
}

static char *dict_store(jm_dict *d, const char *s, size_t len)
{
	if (d->nblocks == 0 || d->block_used + len + 1 > d->block_cap) {
		size_t cap = len + 1 > 65536 ? len + 1 : 65536;
		d->blocks = jm_xrealloc(d->blocks, (size_t)(d->nblocks + 1) * sizeof *d->blocks);
		d->blocks[d->nblocks++] = jm_xmalloc(cap);
		d->block_used = 0;
		d->block_cap = cap;
	}
	char *p = d->blocks[d->nblocks - 1] + d->block_used;
	memcpy(p, s, len);
	p[len] = '\0';
	d->block_used += len + 1;
	return p;
}

static int32_t dict_lookup(const jm_dict *d, const char *s, size_t len, uint32_t h,
			   uint32_t *slot)
{
	uint32_t mask = d->nslots - 1, i = h & mask;
	for (;;) {
		uint32_t v = d->slots[i];
		if (!v)
			break;
		int32_t k = (int32_t)v - 1;
		if (d->hash[k] == h && d->len[k] == len && memcmp(d->s[k], s, len) == 0)
			return k;
		i = (i + 1) & mask;
	}
	*slot = i;
	return -1;
}

int32_t jm_dict_find(const jm_dict *d, const char *s, size_t len)
{
	uint32_t slot;
	return dict_lookup(d, s, len, str_hash(s, len), &slot);
}

int32_t jm_dict_intern(jm_dict *d, const char *s, size_t len)
{
	uint32_t h = str_hash(s, len), slot;
	int32_t k = dict_lookup(d, s, len, h, &slot);
	if (k >= 0)
		return k;
	if (d->n == INT32_MAX || len > UINT32_MAX)
		return -1;
	if (d->n == d->cap) {
		d->cap = d->cap ? d->cap * 2 : 16;
		d->s = jm_xrealloc(d->s, (size_t)d->cap * sizeof *d->s);
		d->len = jm_xrealloc(d->len, (size_t)d->cap * sizeof *d->len);
		d->hash = jm_xrealloc(d->hash, (size_t)d->cap * sizeof *d->hash);
	}
	k = d->n++;
	d->s[k] = dict_store(d, s, len);
	d->len[k] = (uint32_t)len;
	d->hash[k] = h;
	d->slots[slot] = (uint32_t)k + 1;
	if ((uint64_t)d->n * 2 > d->nslots)
		dict_grow_slots(d);
	return k;
}

jm_dict *jm_dict_ref(jm_dict *d)
{
	if (d)
		d->refs++;
	return d;
}

void jm_dict_unref(jm_dict *d)
{
	if (!d || --d->refs > 0)
		return;
	for (int i = 0; i < d->nblocks; i++)
		free(d->blocks[i]);
	free(d->blocks);
	free(d->s);
	free(d->len);
	free(d->hash);
	free(d->slots);
	free(d);
}

/* ---- columns --------------------------------------------------------- */

/* A big new array is faulted in with one call instead of one page fault
 * per 4 KB as it is first written: on virtual machines those faults cost
 * more than the work.  (Huge pages were tried: with the kernel's default
 * defrag setting they stall now and then on compaction.) */
static void prefault(void *p, size_t n)
{
#ifdef MADV_POPULATE_WRITE
	const uintptr_t pg = 4096;
	uintptr_t a = ((uintptr_t)p + pg - 1) & ~(pg - 1), b = ((uintptr_t)p + n) & ~(pg - 1);
	if (n < (4u << 20) || b <= a)
		return;
	madvise((void *)a, b - a, MADV_POPULATE_WRITE);
#else
	(void)p, (void)n;
#endif
}

jm_col *jm_col_new(const char *name, jm_coltype t, int64_t nrows, jm_err *err)
{
	jm_col *c = jm_xcalloc(1, sizeof *c);
	c->name = jm_xstrdup(name);
	c->type = t;
	c->v.p = calloc(nrows > 0 ? (size_t)nrows : 1, type_size[t]);
	if (c->v.p)
		prefault(c->v.p, (size_t)nrows * type_size[t]);
	if (!c->v.p) {
		jm_col_free(c);
		jm_err_set(err, JM_EXIT_FAIL, "out of memory for column \"%s\" (%" PRId64 " rows)",
			   name, nrows);
		return NULL;
	}
	if (t == JM_COL_STR)
		c->dict = jm_dict_new();
	return c;
}

void jm_col_free(jm_col *c)
{
	if (!c)
		return;
	free(c->name);
	free(c->v.p);
	free(c->na);
	jm_dict_unref(c->dict);
	free(c);
}

void jm_col_own_dict(jm_col *c)
{
	if (!c->dict || c->dict->refs == 1)
		return;
	jm_dict *d = jm_dict_new();
	for (int32_t k = 0; k < c->dict->n; k++)
		jm_dict_intern(d, c->dict->s[k], c->dict->len[k]);
	jm_dict_unref(c->dict);
	c->dict = d;
}

int jm_col_ensure_na(jm_col *c, int64_t nrows, jm_err *err)
{
	if (c->na)
		return 0;
	c->na = calloc(nrows > 0 ? (size_t)nrows : 1, 1);
	if (!c->na)
		return jm_err_set(err, JM_EXIT_FAIL, "out of memory for the missing mask of \"%s\"",
				  c->name);
	return 0;
}

void jm_col_sync_na(jm_col *c, int64_t nrows)
{
	int64_t n = 0;
	if (c->type == JM_COL_F64) {
		const double *v = c->v.f64;
		if (!c->na) {
			for (int64_t i = 0; i < nrows; i++)
				n += isnan(v[i]);
			if (!n) {
				c->n_na = 0;
				return;
			}
			c->na = jm_xcalloc((size_t)nrows, 1);
		}
		n = 0;
		double *w = c->v.f64;
		for (int64_t i = 0; i < nrows; i++) {
			uint8_t m = (uint8_t)(c->na[i] | isnan(w[i]));
			c->na[i] = m;
			w[i] = m ? NAN : w[i];
			n += m;
		}
	} else if (c->na) {
		for (int64_t i = 0; i < nrows; i++)
			n += c->na[i] != 0;
	}
	c->n_na = n;
	if (!n) {
		free(c->na);
		c->na = NULL;
	}
}

double jm_col_num(const jm_col *c, int64_t i)
{
	if (jm_col_isna(c, i))
		return NAN;
	switch (c->type) {
	case JM_COL_F64: return c->v.f64[i];
	case JM_COL_I64: return (double)c->v.i64[i];
	case JM_COL_BOOL: return c->v.b[i];
	case JM_COL_TIME: return (double)c->v.ns[i] / 1e9;
	case JM_COL_STR: break;
	}
	return NAN;
}

const char *jm_col_text(const jm_col *c, int64_t i, char *buf, size_t n)
{
	if (n)
		buf[0] = '\0';
	if (jm_col_isna(c, i))
		return buf;
	switch (c->type) {
	case JM_COL_F64: {
		double v = c->v.f64[i];
		for (int p = 15; p <= 17; p++) {
			snprintf(buf, n, "%.*g", p, v);
			if (strtod(buf, NULL) == v)
				break;
		}
		break;
	}
	case JM_COL_I64: snprintf(buf, n, "%" PRId64, c->v.i64[i]); break;
	case JM_COL_BOOL: snprintf(buf, n, "%s", c->v.b[i] ? "True" : "False"); break;
	case JM_COL_TIME: jm_format_datetime(c->v.ns[i], buf, n); break;
	case JM_COL_STR: return c->dict->s[c->v.code[i]];
	}
	return buf;
}

int jm_col_to_f64(jm_col *c, int64_t nrows, jm_err *err)
{
	if (c->type == JM_COL_F64)
		return 0;
	if (c->type == JM_COL_STR)
		return jm_err_set(err, JM_EXIT_INPUT, "column \"%s\": string values are not numbers",
				  c->name);
	double *v = malloc((nrows > 0 ? (size_t)nrows : 1) * sizeof *v);
	if (!v)
		return jm_err_set(err, JM_EXIT_FAIL, "out of memory converting \"%s\"", c->name);
	for (int64_t i = 0; i < nrows; i++)
		v[i] = jm_col_num(c, i);
	free(c->v.p);
	c->v.f64 = v;
	c->type = JM_COL_F64;
	return 0;
}

/* ---- frames ---------------------------------------------------------- */

jm_frame *jm_frame_new(int64_t nrows)
{
	jm_frame *f = jm_xcalloc(1, sizeof *f);
	f->nrows = nrows;
	return f;
}

void jm_frame_free(jm_frame *f)
{
	if (!f)
		return;
	for (int i = 0; i < f->ncols; i++)
		jm_col_free(f->cols[i]);
	free(f->cols);
	free(f->origin);
	free(f);
}

void jm_frame_number_rows(jm_frame *f)
{
	free(f->origin);
	f->origin = jm_xmalloc((f->nrows > 0 ? (size_t)f->nrows : 1) * sizeof *f->origin);
	for (int64_t i = 0; i < f->nrows; i++)
		f->origin[i] = i;
}

int jm_frame_index(const jm_frame *f, const char *name)
{
	for (int i = 0; i < f->ncols; i++)
		if (strcmp(f->cols[i]->name, name) == 0)
			return i;
	return -1;
}

jm_col *jm_frame_col(const jm_frame *f, const char *name)
{
	int i = jm_frame_index(f, name);
	return i < 0 ? NULL : f->cols[i];
}

int jm_frame_adopt(jm_frame *f, jm_col *c, jm_err *err)
{
	if (jm_frame_index(f, c->name) >= 0) {
		jm_err_set(err, JM_EXIT_INPUT, "column \"%s\" already exists", c->name);
		jm_col_free(c);
		return -1;
	}
	if (f->ncols == f->cap) {
		f->cap = f->cap ? f->cap * 2 : 16;
		f->cols = jm_xrealloc(f->cols, (size_t)f->cap * sizeof *f->cols);
	}
	f->cols[f->ncols++] = c;
	return 0;
}

jm_col *jm_frame_add(jm_frame *f, const char *name, jm_coltype t, jm_err *err)
{
	if (jm_frame_index(f, name) >= 0) {
		jm_err_set(err, JM_EXIT_INPUT, "column \"%s\" already exists", name);
		return NULL;
	}
	jm_col *c = jm_col_new(name, t, f->nrows, err);
	if (!c || jm_frame_adopt(f, c, err) < 0)
		return NULL;
	return c;
}

jm_col *jm_frame_detach(jm_frame *f, int i)
{
	if (i < 0 || i >= f->ncols)
		return NULL;
	jm_col *c = f->cols[i];
	memmove(f->cols + i, f->cols + i + 1, (size_t)(f->ncols - i - 1) * sizeof *f->cols);
	f->ncols--;
	return c;
}

int jm_frame_drop(jm_frame *f, const char *name)
{
	jm_col *c = jm_frame_detach(f, jm_frame_index(f, name));
	if (!c)
		return -1;
	jm_col_free(c);
	return 0;
}

/* Gather rows idx[0..n) of c into a new column. */
static jm_col *col_take(const jm_col *c, const int64_t *idx, int64_t n, jm_err *err)
{
	jm_col *o = jm_xcalloc(1, sizeof *o);
	o->name = jm_xstrdup(c->name);
	o->type = c->type;
	size_t sz = type_size[c->type];
	o->v.p = malloc((n > 0 ? (size_t)n : 1) * sz);
	if (!o->v.p)
		goto oom;
	switch (sz) {
	case 8:
		for (int64_t i = 0; i < n; i++)
			o->v.i64[i] = c->v.i64[idx[i]];
		break;
	case 4:
		for (int64_t i = 0; i < n; i++)
			o->v.code[i] = c->v.code[idx[i]];
		break;
	default:
		for (int64_t i = 0; i < n; i++)
			o->v.b[i] = c->v.b[idx[i]];
	}
	if (c->na) {
		o->na = malloc(n > 0 ? (size_t)n : 1);
		if (!o->na)
			goto oom;
		for (int64_t i = 0; i < n; i++)
			o->na[i] = c->na[idx[i]];
		jm_col_sync_na(o, n);
	}
	o->dict = jm_dict_ref(c->dict);
	return o;
oom:
	jm_col_free(o);
	jm_err_set(err, JM_EXIT_FAIL, "out of memory selecting rows of \"%s\"", c->name);
	return NULL;
}

jm_frame *jm_frame_take(const jm_frame *f, const int64_t *idx, int64_t n, jm_err *err)
{
	jm_frame *o = jm_frame_new(n);
	for (int j = 0; j < f->ncols; j++) {
		jm_col *c = col_take(f->cols[j], idx, n, err);
		if (!c || jm_frame_adopt(o, c, err) < 0) {
			jm_frame_free(o);
			return NULL;
		}
	}
	if (f->origin) {
		o->origin = jm_xmalloc((n > 0 ? (size_t)n : 1) * sizeof *o->origin);
		for (int64_t i = 0; i < n; i++)
			o->origin[i] = f->origin[idx[i]];
	}
	return o;
}

int jm_frame_filter(jm_frame *f, const uint8_t *keep, jm_err *err)
{
	(void)err;
	for (int j = 0; j < f->ncols; j++) {
		jm_col *c = f->cols[j];
		size_t sz = type_size[c->type];
		int64_t o = 0;
		for (int64_t i = 0; i < f->nrows; i++) {
			if (!keep[i])
				continue;
			if (i != o) {
				memcpy((char *)c->v.p + (size_t)o * sz, (char *)c->v.p + (size_t)i * sz, sz);
				if (c->na)
					c->na[o] = c->na[i];
			}
			o++;
		}
		jm_col_sync_na(c, o);
	}
	int64_t o = 0;
	for (int64_t i = 0; i < f->nrows; i++) {
		if (!keep[i])
			continue;
		if (f->origin)
			f->origin[o] = f->origin[i];
		o++;
	}
	f->nrows = o;
	return 0;
}

int jm_frame_matrix(const jm_frame *f, const char *const *names, int n, float *out,
		    jm_err *err)
{
	int64_t rows = f->nrows;
	for (int j = 0; j < n; j++) {
		const jm_col *c = jm_frame_col(f, names[j]);
		if (!c)
			return jm_err_set(err, JM_EXIT_INPUT, "no column \"%s\"", names[j]);
		if (c->type == JM_COL_STR)
			return jm_err_set(err, JM_EXIT_INPUT,
					  "column \"%s\" holds text; encode it first (one-hot or ordinal)",
					  c->name);
		if (c->n_na)
			return jm_err_set(err, JM_EXIT_INPUT,
					  "column \"%s\": %" PRId64 " missing values of %" PRId64
					  "; fill or drop them before training",
					  c->name, c->n_na, rows);
		float *o = out + j;
		switch (c->type) {
		case JM_COL_F64:
			for (int64_t i = 0; i < rows; i++)
				o[i * n] = (float)c->v.f64[i];
			break;
		case JM_COL_I64:
			for (int64_t i = 0; i < rows; i++)
				o[i * n] = (float)c->v.i64[i];
			break;
		case JM_COL_BOOL:
			for (int64_t i = 0; i < rows; i++)
				o[i * n] = c->v.b[i];
			break;
		case JM_COL_TIME:
			for (int64_t i = 0; i < rows; i++)
				o[i * n] = (float)((double)c->v.ns[i] / 1e9);
			break;
		case JM_COL_STR:
			break;
		}
	}
	return 0;
}

/* ---- text in messages ------------------------------------------------ */

const char *jm_escape_text(char *buf, size_t n, const char *s)
{
	size_t k = 0, len = strlen(s);
	for (size_t i = 0; i < len;) {
		unsigned char c = (unsigned char)s[i];
		int l = jm_utf8_seq((const unsigned char *)s + i, len - i);
		int raw = l > 1 || (l == 1 && c >= 0x20 && c != 0x7f);
		size_t need = raw ? (size_t)l : 4;
		if (k + need + 4 > n) { /* room left for "..." and the NUL */
			memcpy(buf + k, "...", 3);
			k += 3;
			break;
		}
		if (raw) {
			memcpy(buf + k, s + i, (size_t)l);
			k += (size_t)l;
			i += (size_t)l;
		} else {
			k += (size_t)snprintf(buf + k, n - k, "\\x%02x", c);
			i++;
		}
	}
	buf[k] = '\0';
	return buf;
}

/* ---- dates ----------------------------------------------------------- */

/* Howard Hinnant's days_from_civil / civil_from_days. */
int64_t jm_days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

void jm_civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
	z += 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	unsigned doe = (unsigned)(z - era * 146097);
	unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t yy = (int64_t)yoe + era * 400;
	unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	unsigned mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = yy + (*m <= 2);
}

static int days_in_month(int64_t y, unsigned m)
{
	static const unsigned char dm[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	return dm[m - 1] + (m == 2 && leap);
}

/* ns since the epoch, or -1 when out of range (pandas' datetime64[ns]
 * limits, 1677-09-21 .. 2262-04-11) or invalid. */
static int make_time(int64_t y, unsigned mo, unsigned d, unsigned h, unsigned mi, unsigned s,
		     int64_t frac_ns, int64_t *ns)
{
	if (mo < 1 || mo > 12 || d < 1 || (int)d > days_in_month(y, mo) || h > 23 || mi > 59 ||
	    s > 59 || y < 1678 || y > 2261)
		return -1;
	int64_t days = jm_days_from_civil(y, mo, d);
	*ns = ((days * 86400 + h * 3600 + mi * 60 + s) * 1000000000) + frac_ns;
	return 0;
}

static int digits(const char *s, int n, unsigned *v)
{
	unsigned x = 0;
	for (int i = 0; i < n; i++) {
		unsigned c = (unsigned char)s[i] - '0';
		if (c > 9)
			return -1;
		x = x * 10 + c;
	}
	*v = x;
	return 0;
}

/* ".123456789" → ns; returns bytes consumed (0 when no fraction). */
static size_t parse_frac(const char *s, size_t n, int64_t *ns)
{
	*ns = 0;
	if (n < 2 || s[0] != '.' || (unsigned)(s[1] - '0') > 9)
		return 0;
	size_t i = 1;
	int64_t v = 0, scale = 100000000;
	for (; i < n && (unsigned)(s[i] - '0') <= 9; i++) {
		v += (s[i] - '0') * scale;
		scale /= 10;
	}
	*ns = v;
	return i;
}

int jm_parse_datetime(const char *s, size_t n, int64_t *ns)
{
	unsigned y, mo, d, h = 0, mi = 0, sec = 0;
	int64_t frac = 0;
	if (n < 10 || s[4] != '-' || s[7] != '-' || digits(s, 4, &y) || digits(s + 5, 2, &mo) ||
	    digits(s + 8, 2, &d))
		return -1;
	size_t i = 10;
	if (i < n && (s[i] == 'T' || s[i] == ' ')) {
		if (n < i + 6 || s[i + 3] != ':' || digits(s + i + 1, 2, &h) ||
		    digits(s + i + 4, 2, &mi))
			return -1;
		i += 6;
		if (i < n && s[i] == ':') {
			if (n < i + 3 || digits(s + i + 1, 2, &sec))
				return -1;
			i += 3;
			i += parse_frac(s + i, n - i, &frac);
		}
	}
	if (i < n && s[i] == 'Z')
		i++;
	if (i != n)
		return -1;
	return make_time(y, mo, d, h, mi, sec, frac, ns);
}

static const char *const month_abbr[12] = {"jan", "feb", "mar", "apr", "may", "jun",
					   "jul", "aug", "sep", "oct", "nov", "dec"};

/* Read 1..max digits at s[*i]. */
static int num_field(const char *s, size_t n, size_t *i, int max, unsigned *v)
{
	size_t j = *i;
	unsigned x = 0;
	while (j < n && j - *i < (size_t)max && (unsigned)(s[j] - '0') <= 9)
		x = x * 10 + (unsigned)(s[j++] - '0');
	if (j == *i)
		return -1;
	*i = j;
	*v = x;
	return 0;
}

int jm_parse_datetime_fmt(const char *s, size_t n, const char *fmt, int64_t *ns)
{
	unsigned y = 1970, mo = 1, d = 1, h = 0, mi = 0, sec = 0, v;
	int64_t frac = 0;
	size_t i = 0;
	for (const char *f = fmt; *f; f++) {
		if (*f != '%') {
			if (i >= n || s[i] != *f)
				return -1;
			i++;
			continue;
		}
		f++;
		switch (*f) {
		case 'Y': if (num_field(s, n, &i, 4, &y)) return -1; break;
		case 'y':
			if (num_field(s, n, &i, 2, &v))
				return -1;
			y = v < 69 ? 2000 + v : 1900 + v; /* as POSIX strptime */
			break;
		case 'm': if (num_field(s, n, &i, 2, &mo)) return -1; break;
		case 'd': if (num_field(s, n, &i, 2, &d)) return -1; break;
		case 'H': if (num_field(s, n, &i, 2, &h)) return -1; break;
		case 'M': if (num_field(s, n, &i, 2, &mi)) return -1; break;
		case 'S': if (num_field(s, n, &i, 2, &sec)) return -1; break;
		case 'f': {
			if (i >= n || (unsigned)(s[i] - '0') > 9)
				return -1;
			int64_t scale = 100000000;
			for (; i < n && (unsigned)(s[i] - '0') <= 9; i++) {
				frac += (s[i] - '0') * scale;
				scale /= 10;
			}
			break;
		}
		case 'b': {
			if (i + 3 > n)
				return -1;
			int k;
			for (k = 0; k < 12; k++)
				if (strncasecmp(s + i, month_abbr[k], 3) == 0)
					break;
			if (k == 12)
				return -1;
			mo = (unsigned)k + 1;
			i += 3;
			break;
		}
		case '%':
			if (i >= n || s[i] != '%')
				return -1;
			i++;
			break;
		default:
			return -1;
		}
	}
	if (i != n)
		return -1;
	return make_time(y, mo, d, h, mi, sec, frac, ns);
}

void jm_format_datetime(int64_t ns, char *buf, size_t n)
{
	int64_t secs = ns / 1000000000, frac = ns % 1000000000;
	if (frac < 0) {
		frac += 1000000000;
		secs--;
	}
	int64_t days = secs / 86400, rem = secs % 86400;
	if (rem < 0) {
		rem += 86400;
		days--;
	}
	int64_t y;
	unsigned m, d;
	jm_civil_from_days(days, &y, &m, &d);
	int w = snprintf(buf, n, "%04" PRId64 "-%02u-%02uT%02d:%02d:%02d", y, m, d,
			 (int)(rem / 3600), (int)(rem / 60 % 60), (int)(rem % 60));
	if (frac && w > 0 && (size_t)w < n)
		snprintf(buf + w, n - (size_t)w, ".%09" PRId64, frac);
}

/* ---- printing -------------------------------------------------------- */

void jm_frame_print(FILE *out, const jm_frame *f, int64_t max_rows)
{
	if (max_rows <= 0)
		max_rows = 10;
	int64_t rows = f->nrows < max_rows ? f->nrows : max_rows;
	char buf[64];
	int *w = jm_xcalloc((size_t)f->ncols + 1, sizeof *w);
	for (int j = 0; j < f->ncols; j++) {
		w[j] = (int)strlen(f->cols[j]->name);
		for (int64_t i = 0; i < rows; i++) {
			const char *t = jm_col_isna(f->cols[j], i) ? "NA" :
					jm_col_text(f->cols[j], i, buf, sizeof buf);
			int l = (int)strlen(t);
			if (l > w[j])
				w[j] = l > 24 ? 24 : l;
		}
	}
	for (int j = 0; j < f->ncols; j++)
		fprintf(out, "%s%*.*s", j ? "  " : "", w[j], w[j], f->cols[j]->name);
	fputc('\n', out);
	for (int64_t i = 0; i < rows; i++) {
		for (int j = 0; j < f->ncols; j++) {
			const char *t = jm_col_isna(f->cols[j], i) ? "NA" :
					jm_col_text(f->cols[j], i, buf, sizeof buf);
			fprintf(out, "%s%*.*s", j ? "  " : "", w[j], w[j], t);
		}
		fputc('\n', out);
	}
	if (rows < f->nrows)
		fprintf(out, "(%" PRId64 " rows, %d columns)\n", f->nrows, f->ncols);
	free(w);
}

void jm_csv_write_field(FILE *out, const char *s)
{
	if (!s[strcspn(s, ",\"\r\n")]) {
		fputs(s, out);
		return;
	}
	fputc('"', out);
	for (; *s; s++) {
		if (*s == '"')
			fputc('"', out);
		fputc(*s, out);
	}
	fputc('"', out);
}

int jm_frame_write_csv(const jm_frame *f, FILE *out, jm_err *err)
{
	char buf[64];
	for (int j = 0; j < f->ncols; j++) {
		if (j)
			fputc(',', out);
		jm_csv_write_field(out, f->cols[j]->name);
	}
	fputc('\n', out);
	for (int64_t i = 0; i < f->nrows; i++) {
		for (int j = 0; j < f->ncols; j++) {
			if (j)
				fputc(',', out);
			jm_csv_write_field(out, jm_col_text(f->cols[j], i, buf, sizeof buf));
		}
		fputc('\n', out);
	}
	if (ferror(out))
		return jm_err_set(err, JM_EXIT_FAIL, "writing CSV: %s", strerror(errno));
	return 0;
}
