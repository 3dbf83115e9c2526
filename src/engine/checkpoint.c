/*
 * checkpoint.c: safetensors writer and strict reader.
 *
 *   save: tensors (backend) ──to_host──▶ staging ──▶ tmp file ──fsync,
 *         rename──▶ path
 *   load: path ──header──▶ JSON tree (own strict parser) ──▶ tensor table
 *         ──validate (format, then against the model)──▶ staging
 *         ──to_device──▶ model / optimizer, only once all of it is read
 *
 * The JSON parser accepts exactly RFC 8259 (no comments, no trailing
 * commas, no duplicate keys, valid UTF-8) and records byte offsets for
 * messages.  Data is little-endian F32; a big-endian host swaps bytes.
 */
#include "engine/checkpoint.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_HEADER 100000000ULL /* safetensors' own limit */
#define MAX_DEPTH 32
#define MAX_NDIM 8

/* ---- little-endian data ---------------------------------------------- */

static void floats_le(float *x, size_t n)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	uint32_t *u = (uint32_t *)x;
	for (size_t i = 0; i < n; i++)
		u[i] = __builtin_bswap32(u[i]);
#else
	(void)x;
	(void)n;
#endif
}

/* ---- metadata ----------------------------------------------------------- */

const char *jm_ckpt_meta_get(const jm_ckpt_meta *meta, const char *key)
{
	for (int i = 0; meta && i < meta->n; i++)
		if (!strcmp(meta->keys[i], key))
			return meta->values[i];
	return NULL;
}

void jm_ckpt_meta_free(jm_ckpt_meta *meta)
{
	if (!meta)
		return;
	for (int i = 0; i < meta->n; i++) {
		free(meta->keys[i]);
		free(meta->values[i]);
	}
	free(meta->keys);
	free(meta->values);
	memset(meta, 0, sizeof *meta);
}

static void meta_add(jm_ckpt_meta *meta, const char *k, const char *v)
{
	meta->keys = jm_xrealloc(meta->keys, (size_t)(meta->n + 1) * sizeof *meta->keys);
	meta->values = jm_xrealloc(meta->values, (size_t)(meta->n + 1) * sizeof *meta->values);
	meta->keys[meta->n] = jm_xstrdup(k);
	meta->values[meta->n] = jm_xstrdup(v);
	meta->n++;
}

/* ---- a growing string ---------------------------------------------------- */

typedef struct sbuf {
	char *s;
	size_t len, cap;
} sbuf;

static void sb_add(sbuf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		b->cap = (b->len + n + 1) * 2;
		b->s = jm_xrealloc(b->s, b->cap);
	}
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = 0;
}

static void sb_str(sbuf *b, const char *s)
{
	sb_add(b, s, strlen(s));
}

static void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void sb_printf(sbuf *b, const char *fmt, ...)
{
	char tmp[256];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
	va_end(ap);
	sb_add(b, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

/* A JSON string literal. */
static void sb_json(sbuf *b, const char *s)
{
	sb_add(b, "\"", 1);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		switch (*p) {
		case '"': sb_str(b, "\\\""); break;
		case '\\': sb_str(b, "\\\\"); break;
		case '\n': sb_str(b, "\\n"); break;
		case '\r': sb_str(b, "\\r"); break;
		case '\t': sb_str(b, "\\t"); break;
		default:
			if (*p < 0x20)
				sb_printf(b, "\\u%04x", *p);
			else
				sb_add(b, (const char *)p, 1);
		}
	}
	sb_add(b, "\"", 1);
}

/* ---- JSON ------------------------------------------------------------------ */

enum { JV_NULL, JV_FALSE, JV_TRUE, JV_NUM, JV_STR, JV_ARR, JV_OBJ };

static const char *const jv_names[] = {
	"null", "false", "true", "a number", "a string", "an array", "an object",
};

typedef struct jv {
	int type;
	size_t pos;          /* byte offset in the header */
	char *s;             /* JV_STR, NUL-terminated (no NUL inside) */
	int is_uint;         /* JV_NUM: a non-negative integer < 2^64 */
	uint64_t u;
	struct jv *items;    /* JV_ARR, JV_OBJ */
	char **keys;         /* JV_OBJ */
	int n;
} jv;

typedef struct jparse {
	const char *start, *p, *end;
	const char *path;
	jm_err *err;
} jparse;

static void jv_free(jv *v)
{
	if (!v)
		return;
	free(v->s);
	for (int i = 0; i < v->n; i++) {
		jv_free(&v->items[i]);
		if (v->keys)
			free(v->keys[i]);
	}
	free(v->items);
	free(v->keys);
	memset(v, 0, sizeof *v);
}

static int jerr(jparse *j, const char *what)
{
	if (j->p >= j->end)
		return jm_err_set(j->err, JM_EXIT_INPUT,
				  "%s: header: bad JSON at byte %zu (end of header): %s",
				  j->path, (size_t)(j->p - j->start), what);
	return jm_err_set(j->err, JM_EXIT_INPUT,
			  "%s: header: bad JSON at byte %zu: %s", j->path,
			  (size_t)(j->p - j->start), what);
}

static void skip_ws(jparse *j)
{
	while (j->p < j->end &&
	       (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
		j->p++;
}

static int hex4(jparse *j, unsigned *out)
{
	unsigned v = 0;
	for (int i = 0; i < 4; i++, j->p++) {
		if (j->p >= j->end)
			return jerr(j, "unterminated \\u escape");
		char c = *j->p;
		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v |= (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v |= (unsigned)(c - 'A' + 10);
		else
			return jerr(j, "expected 4 hex digits after \\u");
	}
	*out = v;
	return 0;
}

static void put_utf8(sbuf *b, unsigned cp)
{
	char u[4];
	size_t n;
	if (cp < 0x80) {
		u[0] = (char)cp;
		n = 1;
	} else if (cp < 0x800) {
		u[0] = (char)(0xc0 | cp >> 6);
		u[1] = (char)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		u[0] = (char)(0xe0 | cp >> 12);
		u[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		u[2] = (char)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		u[0] = (char)(0xf0 | cp >> 18);
		u[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
		u[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
		u[3] = (char)(0x80 | (cp & 0x3f));
		n = 4;
	}
	sb_add(b, u, n);
}

/* Length of the valid UTF-8 sequence at p (0 if invalid). */
static size_t utf8_len(const unsigned char *p, const unsigned char *end)
{
	unsigned c = p[0];
	size_t n;
	unsigned cp, min;
	if (c < 0x80)
		return 1;
	if ((c & 0xe0) == 0xc0) {
		n = 2; cp = c & 0x1f; min = 0x80;
	} else if ((c & 0xf0) == 0xe0) {
		n = 3; cp = c & 0x0f; min = 0x800;
	} else if ((c & 0xf8) == 0xf0) {
		n = 4; cp = c & 0x07; min = 0x10000;
	} else {
		return 0;
	}
	if ((size_t)(end - p) < n)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

static int parse_string(jparse *j, char **out)
{
	sbuf b = {0};
	j->p++; /* opening quote */
	sb_add(&b, "", 0);
	for (;;) {
		if (j->p >= j->end) {
			free(b.s);
			return jerr(j, "unterminated string");
		}
		unsigned char c = (unsigned char)*j->p;
		if (c == '"') {
			j->p++;
			break;
		}
		if (c < 0x20) {
			free(b.s);
			return jerr(j, "control character in string");
		}
		if (c != '\\') {
			size_t n = utf8_len((const unsigned char *)j->p,
					    (const unsigned char *)j->end);
			if (!n) {
				free(b.s);
				return jerr(j, "invalid UTF-8 in string");
			}
			sb_add(&b, j->p, n);
			j->p += n;
			continue;
		}
		j->p++;
		if (j->p >= j->end) {
			free(b.s);
			return jerr(j, "unterminated string");
		}
		static const char esc_in[] = "\"\\/bfnrt", esc_out[] = "\"\\/\b\f\n\r\t";
		const char *e = *j->p ? strchr(esc_in, *j->p) : NULL;
		if (e) {
			sb_add(&b, &esc_out[e - esc_in], 1);
			j->p++;
			continue;
		}
		if (*j->p != 'u') {
			free(b.s);
			return jerr(j, "invalid escape in string");
		}
		j->p++;
		unsigned cp, lo;
		if (hex4(j, &cp) < 0)
			goto fail;
		if (cp >= 0xdc00 && cp <= 0xdfff) {
			jerr(j, "unpaired surrogate in string");
			goto fail;
		}
		if (cp >= 0xd800 && cp <= 0xdbff) {
			if (j->end - j->p < 2 || j->p[0] != '\\' || j->p[1] != 'u') {
				jerr(j, "unpaired surrogate in string");
				goto fail;
			}
			j->p += 2;
			if (hex4(j, &lo) < 0)
				goto fail;
			if (lo < 0xdc00 || lo > 0xdfff) {
				jerr(j, "unpaired surrogate in string");
				goto fail;
			}
			cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
		}
		if (cp == 0) {
			jerr(j, "NUL character in string");
			goto fail;
		}
		put_utf8(&b, cp);
	}
	*out = b.s;
	return 0;
fail:
	free(b.s);
	return -1;
}

static int parse_number(jparse *j, jv *v)
{
	const char *s = j->p;
	int neg = 0, integral = 1;
	if (*j->p == '-') {
		neg = 1;
		j->p++;
	}
	if (j->p >= j->end || *j->p < '0' || *j->p > '9')
		return jerr(j, "expected a digit");
	if (*j->p == '0' && j->p + 1 < j->end && j->p[1] >= '0' && j->p[1] <= '9')
		return jerr(j, "leading zero in number");
	uint64_t u = 0;
	int overflow = 0;
	while (j->p < j->end && *j->p >= '0' && *j->p <= '9') {
		unsigned d = (unsigned)(*j->p - '0');
		if (u > (UINT64_MAX - d) / 10)
			overflow = 1;
		u = u * 10 + d;
		j->p++;
	}
	if (j->p < j->end && *j->p == '.') {
		integral = 0;
		j->p++;
		if (j->p >= j->end || *j->p < '0' || *j->p > '9')
			return jerr(j, "expected a digit after '.'");
		while (j->p < j->end && *j->p >= '0' && *j->p <= '9')
			j->p++;
	}
	if (j->p < j->end && (*j->p == 'e' || *j->p == 'E')) {
		integral = 0;
		j->p++;
		if (j->p < j->end && (*j->p == '+' || *j->p == '-'))
			j->p++;
		if (j->p >= j->end || *j->p < '0' || *j->p > '9')
			return jerr(j, "expected a digit in the exponent");
		while (j->p < j->end && *j->p >= '0' && *j->p <= '9')
			j->p++;
	}
	(void)s;
	v->type = JV_NUM;
	v->is_uint = integral && !neg && !overflow;
	v->u = u;
	return 0;
}

static int parse_value(jparse *j, jv *v, int depth);

static int parse_container(jparse *j, jv *v, int depth, int obj)
{
	char close = obj ? '}' : ']';
	int cap = 0;
	v->type = obj ? JV_OBJ : JV_ARR;
	j->p++;
	skip_ws(j);
	if (j->p < j->end && *j->p == close) {
		j->p++;
		return 0;
	}
	for (;;) {
		char *key = NULL;
		skip_ws(j);
		if (obj) {
			if (j->p >= j->end || *j->p != '"')
				return jerr(j, "expected a string key");
			size_t kpos = (size_t)(j->p - j->start);
			if (parse_string(j, &key) < 0)
				return -1;
			for (int i = 0; i < v->n; i++)
				if (!strcmp(v->keys[i], key)) {
					jm_err_set(j->err, JM_EXIT_INPUT,
						   "%s: header: bad JSON at byte %zu: duplicate key \"%s\"",
						   j->path, kpos, key);
					free(key);
					return -1;
				}
			skip_ws(j);
			if (j->p >= j->end || *j->p != ':') {
				free(key);
				return jerr(j, "expected ':'");
			}
			j->p++;
		}
		if (v->n == cap) {
			cap = cap ? 2 * cap : 8;
			v->items = jm_xrealloc(v->items, (size_t)cap * sizeof *v->items);
			if (obj)
				v->keys = jm_xrealloc(v->keys, (size_t)cap * sizeof *v->keys);
		}
		memset(&v->items[v->n], 0, sizeof v->items[0]);
		if (obj)
			v->keys[v->n] = key;
		v->n++;
		if (parse_value(j, &v->items[v->n - 1], depth + 1) < 0)
			return -1;
		skip_ws(j);
		if (j->p < j->end && *j->p == ',') {
			j->p++;
			continue;
		}
		if (j->p < j->end && *j->p == close) {
			j->p++;
			return 0;
		}
		return jerr(j, obj ? "expected ',' or '}'" : "expected ',' or ']'");
	}
}

static int parse_value(jparse *j, jv *v, int depth)
{
	static const struct {
		const char *word;
		int type;
	} words[] = {{"null", JV_NULL}, {"false", JV_FALSE}, {"true", JV_TRUE}};
	if (depth > MAX_DEPTH)
		return jerr(j, "nested too deeply");
	skip_ws(j);
	v->pos = (size_t)(j->p - j->start);
	if (j->p >= j->end)
		return jerr(j, "expected a value");
	char c = *j->p;
	if (c == '{' || c == '[')
		return parse_container(j, v, depth, c == '{');
	if (c == '"') {
		v->type = JV_STR;
		return parse_string(j, &v->s);
	}
	if (c == '-' || (c >= '0' && c <= '9'))
		return parse_number(j, v);
	for (size_t i = 0; i < sizeof words / sizeof words[0]; i++) {
		size_t n = strlen(words[i].word);
		if ((size_t)(j->end - j->p) >= n && !memcmp(j->p, words[i].word, n)) {
			v->type = words[i].type;
			j->p += n;
			return 0;
		}
	}
	return jerr(j, "expected a value");
}

/* ---- the file's tensor table ------------------------------------------------ */

typedef struct ctensor {
	const char *name;    /* points into the JSON tree */
	const char *dtype;
	int ndim;
	int64_t shape[MAX_NDIM];
	uint64_t begin, end; /* into the data section */
} ctensor;

typedef struct ckfile {
	const char *path;
	int fd;
	uint64_t file_size, hlen, data_size;
	jv root;
	ctensor *t;
	int nt;
	jm_ckpt_meta meta;
} ckfile;

static void ckfile_close(ckfile *f)
{
	if (f->fd >= 0)
		close(f->fd);
	jv_free(&f->root);
	free(f->t);
	jm_ckpt_meta_free(&f->meta);
}

static int read_full(int fd, void *buf, size_t n, uint64_t off)
{
	char *p = buf;
	while (n > 0) {
		ssize_t r = pread(fd, p, n, (off_t)off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		p += r;
		n -= (size_t)r;
		off += (uint64_t)r;
	}
	return 0;
}

static void format_shape(char *buf, size_t n, const int64_t *shape, int ndim)
{
	size_t o = 0;
	o += (size_t)snprintf(buf + o, n - o, "[");
	for (int i = 0; i < ndim && o < n; i++)
		o += (size_t)snprintf(buf + o, n - o, i ? ",%" PRId64 : "%" PRId64,
				      shape[i]);
	if (o < n)
		snprintf(buf + o, n - o, "]");
}

/* One tensor entry: {"dtype": ..., "shape": [...], "data_offsets": [b, e]} */
static int read_entry(ckfile *f, const char *name, const jv *v, ctensor *t,
		      jm_err *err)
{
	memset(t, 0, sizeof *t);
	t->name = name;
	if (v->type != JV_OBJ)
		return jm_err_set(err, JM_EXIT_INPUT,
				  "%s: tensor \"%s\": expected an object, got %s",
				  f->path, name, jv_names[v->type]);
	const jv *dtype = NULL, *shape = NULL, *offs = NULL;
	for (int i = 0; i < v->n; i++) {
		const char *k = v->keys[i];
		if (!strcmp(k, "dtype"))
			dtype = &v->items[i];
		else if (!strcmp(k, "shape"))
			shape = &v->items[i];
		else if (!strcmp(k, "data_offsets"))
			offs = &v->items[i];
		else
			return jm_err_set(err, JM_EXIT_INPUT,
					  "%s: tensor \"%s\": unknown field \"%s\"",
					  f->path, name, k);
	}
	if (!dtype || !shape || !offs)
		return jm_err_set(err, JM_EXIT_INPUT,
				  "%s: tensor \"%s\": missing \"%s\"", f->path, name,
				  !dtype ? "dtype" : !shape ? "shape" : "data_offsets");
	if (dtype->type != JV_STR)
		return jm_err_set(err, JM_EXIT_INPUT,
				  "%s: tensor \"%s\": dtype: expected a string", f->path,
				  name);
	t->dtype = dtype->s;
	if (strcmp(dtype->s, "F32"))
		return jm_err_set(err, JM_EXIT_INPUT,
				  "%s: tensor \"%s\": dtype \"%.32s\" is not supported (expected \"F32\")",
				  f->path, name, dtype->s);
	if (shape->type != JV_ARR || shape->n > MAX_NDIM)
		return jm_err_set(err, JM_EXIT_INPUT,
				  "%s: tensor \"%s\": shape: expected an array of at most %d sizes",
				  f->path, name, MAX_NDIM);
	uint64_t numel = 1;
	t->ndim = shape->n;
	for (int i = 0; i < shape->n; i++) {
		const jv *d = &shape->items[i];
		if (d->type != JV_NUM || !d->is_uint || d->u > (1ULL << 40))
			return jm_err_set(err, JM_EXIT_INPUT,
					  "%s: tensor \"%s\": shape: expected sizes >= 0",
					  f->path, name);
		t->shape[i] = (int64_t)d->u;
		if (d->u && numel > (1ULL << 60) / d->u)
			return jm_err_set(err, JM_EXIT_INPUT,
					  "%s: tensor \"%s\": shape: too large", f->path, name);
		numel *= d->u;
	}
	if (offs->type != JV_ARR || offs->n != 2 || offs->items[0].type != JV_NUM ||
	    offs->items[1].type != JV_NUM || !offs->items[0].is_uint ||
	    !offs->items[1].is_uint || offs->items[0].u > offs->items[1].u)
		return jm_err_set(err, JM_EXIT_INPUT,
				  "%s: tensor \"%s\": data_offsets: expected [begin, end] with begin <= end",
				  f->path, name);
	t->begin = offs->items[0].u;
	t->end = offs->items[1].u;
	if (t->end > f->data_size)
		return jm_err_set(err, JM_EXIT_INPUT,
				  "%s: tensor \"%s\": data_offsets [%" PRIu64 ",%" PRIu64
				  "] are out of bounds (the file holds %" PRIu64
				  " bytes of data; truncated?)",
				  f->path, name, t->begin, t->end, f->data_size);
	if (t->end - t->begin != numel * 4) {
		char sh[160];
		format_shape(sh, sizeof sh, t->shape, t->ndim);
		return jm_err_set(err, JM_EXIT_INPUT,
				  "%s: tensor \"%s\": data_offsets [%" PRIu64 ",%" PRIu64
				  "] hold %" PRIu64 " bytes, but shape %s needs %" PRIu64,
				  f->path, name, t->begin, t->end, t->end - t->begin, sh,
				  numel * 4);
	}
	return 0;
}

static int read_metadata(ckfile *f, const jv *v, jm_err *err)
{
	if (v->type != JV_OBJ)
		return jm_err_set(err, JM_EXIT_INPUT,
				  "%s: __metadata__: expected an object, got %s", f->path,
				  jv_names[v->type]);
	for (int i = 0; i < v->n; i++) {
		if (v->items[i].type != JV_STR)
			return jm_err_set(err, JM_EXIT_INPUT,
					  "%s: __metadata__: \"%s\": expected a string, got %s",
					  f->path, v->keys[i], jv_names[v->items[i].type]);
		meta_add(&f->meta, v->keys[i], v->items[i].s);
	}
	return 0;
}

static int cmp_begin(const void *a, const void *b)
{
	const ctensor *x = *(const ctensor *const *)a, *y = *(const ctensor *const *)b;
	return (x->begin > y->begin) - (x->begin < y->begin);
}

/* Tensors must tile the data section: no overlap, no gap, nothing after. */
static int check_layout(ckfile *f, jm_err *err)
{
	int rc = -1;
	const ctensor **order = jm_xcalloc((size_t)(f->nt ? f->nt : 1), sizeof *order);
	for (int i = 0; i < f->nt; i++)
		order[i] = &f->t[i];
	qsort(order, (size_t)f->nt, sizeof *order, cmp_begin);
	uint64_t at = 0;
	for (int i = 0; i < f->nt; i++) {
		const ctensor *t = order[i];
		if (t->begin < at) {
			jm_err_set(err, JM_EXIT_INPUT,
				   "%s: tensors \"%s\" and \"%s\" overlap", f->path,
				   order[i - 1]->name, t->name);
			goto out;
		}
		if (t->begin > at) {
			jm_err_set(err, JM_EXIT_INPUT,
				   "%s: tensor \"%s\" starts at byte %" PRIu64
				   " of the data, leaving a gap after byte %" PRIu64,
				   f->path, t->name, t->begin, at);
			goto out;
		}
		at = t->end;
	}
	if (at != f->data_size) {
		jm_err_set(err, JM_EXIT_INPUT,
			   "%s: the tensors end at byte %" PRIu64
			   " of the data, but the file holds %" PRIu64 " bytes of data",
			   f->path, at, f->data_size);
		goto out;
	}
	rc = 0;
out:
	free(order);
	return rc;
}

/* Open path and validate its structure (not against a model). */
static int ckfile_open(ckfile *f, const char *path, jm_err *err)
{
	memset(f, 0, sizeof *f);
	f->path = path;
	f->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (f->fd < 0)
		return jm_err_set(err, errno == ENOENT ? JM_EXIT_INPUT : JM_EXIT_FAIL,
				  "%s: cannot open: %s", path, strerror(errno));
	struct stat st;
	if (fstat(f->fd, &st) < 0)
		return jm_err_set(err, JM_EXIT_FAIL, "%s: cannot stat: %s", path,
				  strerror(errno));
	f->file_size = (uint64_t)st.st_size;
	unsigned char len[8];
	if (f->file_size < 8 || read_full(f->fd, len, 8, 0) < 0)
		return jm_err_set(err, JM_EXIT_INPUT,
				  "%s: truncated: %" PRIu64 " bytes, not even a header length",
				  path, f->file_size);
	for (int i = 7; i >= 0; i--)
		f->hlen = f->hlen << 8 | len[i];
	if (f->hlen < 2 || f->hlen > MAX_HEADER || f->hlen > f->file_size - 8)
		return jm_err_set(err, JM_EXIT_INPUT,
				  "%s: header length %" PRIu64 " is out of bounds (the file has %"
				  PRIu64 " bytes; not a safetensors file?)",
				  path, f->hlen, f->file_size);
	f->data_size = f->file_size - 8 - f->hlen;
	char *text = malloc(f->hlen);
	if (!text)
		return jm_err_set(err, JM_EXIT_FAIL, "%s: cannot allocate the header",
				  path);
	if (read_full(f->fd, text, f->hlen, 8) < 0) {
		free(text);
		return jm_err_set(err, JM_EXIT_FAIL, "%s: cannot read the header: %s",
				  path, strerror(errno));
	}
	jparse j = {.start = text, .p = text, .end = text + f->hlen, .path = path,
		    .err = err};
	int rc = -1;
	if (text[0] != '{') {
		jerr(&j, "expected '{'");
		goto out;
	}
	if (parse_value(&j, &f->root, 0) < 0)
		goto out;
	skip_ws(&j);
	if (j.p != j.end) {
		jerr(&j, "unexpected text after the header object");
		goto out;
	}
	f->t = jm_xcalloc((size_t)(f->root.n ? f->root.n : 1), sizeof *f->t);
	for (int i = 0; i < f->root.n; i++) {
		const char *k = f->root.keys[i];
		if (!strcmp(k, "__metadata__")) {
			if (read_metadata(f, &f->root.items[i], err) < 0)
				goto out;
		} else if (read_entry(f, k, &f->root.items[i], &f->t[f->nt++], err) < 0) {
			goto out;
		}
	}
	rc = check_layout(f, err);
out:
	free(text);
	return rc;
}

static const ctensor *ckfile_find(const ckfile *f, const char *name)
{
	for (int i = 0; i < f->nt; i++)
		if (!strcmp(f->t[i].name, name))
			return &f->t[i];
	return NULL;
}

/* ---- load ------------------------------------------------------------------ */

static int check_tensor(const ckfile *f, const char *name, int ndim,
			const int64_t *shape, const ctensor **out, jm_err *err)
{
	const ctensor *t = ckfile_find(f, name);
	if (!t)
		return jm_err_set(err, JM_EXIT_INPUT,
				  "%s: tensor \"%s\" is missing", f->path, name);
	int same = t->ndim == ndim;
	for (int i = 0; same && i < ndim; i++)
		same = t->shape[i] == shape[i];
	if (!same) {
		char have[160], want[160];
		format_shape(have, sizeof have, t->shape, t->ndim);
		format_shape(want, sizeof want, shape, ndim);
		return jm_err_set(err, JM_EXIT_INPUT,
				  "%s: tensor \"%s\": shape %s does not match the model's %s",
				  f->path, name, have, want);
	}
	*out = t;
	return 0;
}

static int read_tensor(const ckfile *f, const ctensor *t, float *dst, jm_err *err)
{
	size_t bytes = (size_t)(t->end - t->begin);
	if (bytes && read_full(f->fd, dst, bytes, 8 + f->hlen + t->begin) < 0)
		return jm_err_set(err, JM_EXIT_FAIL,
				  "%s: tensor \"%s\": cannot read its data", f->path,
				  t->name);
	floats_le(dst, bytes / 4);
	return 0;
}

/* Parse a non-negative decimal integer that is all of s. */
static int parse_steps(const char *s, int64_t *out)
{
	if (!s || *s < '0' || *s > '9')
		return -1;
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (*end || errno)
		return -1;
	*out = v;
	return 0;
}

/* Everything the optimizer needs from f, checked; state into host[i]. */
static int load_optim(const ckfile *f, jm_optim *opt, float **host,
		      int64_t *steps, jm_err *err)
{
	const char *kind = jm_ckpt_meta_get(&f->meta, "jianmo.optimizer");
	const char *want = jm_optim_kind_name(jm_optim_kind(opt));
	if (!kind)
		return jm_err_set(err, JM_EXIT_INPUT,
				  "%s: holds no optimizer state (saved for evaluation only?)",
				  f->path);
	if (strcmp(kind, want))
		return jm_err_set(err, JM_EXIT_INPUT,
				  "%s: holds %s state, but the optimizer is %s", f->path,
				  kind, want);
	if (parse_steps(jm_ckpt_meta_get(&f->meta, "jianmo.steps"), steps) < 0)
		return jm_err_set(err, JM_EXIT_INPUT,
				  "%s: __metadata__: \"jianmo.steps\": expected a step count",
				  f->path);
	int64_t shape[1] = {(int64_t)jm_optim_size(opt)};
	for (int i = 0; i < jm_optim_n_state(opt); i++) {
		const char *name;
		const ctensor *t;
		jm_optim_state(opt, i, &name);
		if (check_tensor(f, name, 1, shape, &t, err) < 0 ||
		    read_tensor(f, t, host[i], err) < 0)
			return -1;
	}
	return 0;
}

static int is_optim_name(const char *name)
{
	return !strncmp(name, "optim.", 6);
}

int jm_checkpoint_load(const char *path, jm_model *m, jm_optim *opt,
		       jm_ckpt_meta *meta, jm_err *err)
{
	ckfile f;
	const jm_backend *be = jm_model_backend(m);
	size_t np = jm_model_n_params(m), nb = jm_model_n_buffers(m);
	size_t no = opt ? jm_optim_size(opt) : 0;
	float *host = NULL, *ohost[2] = {NULL, NULL};
	int64_t steps = 0;
	int rc = -1;

	if (ckfile_open(&f, path, err) < 0)
		goto out;
	if (opt && no != np) {
		jm_err_set(err, JM_EXIT_FAIL,
			   "%s: the optimizer has %zu values, the model %zu", path, no, np);
		goto out;
	}
	for (int i = 0; i < f.nt; i++)
		if (jm_model_find_tensor(m, f.t[i].name) < 0 &&
		    !is_optim_name(f.t[i].name)) {
			jm_err_set(err, JM_EXIT_INPUT,
				   "%s: tensor \"%s\" is not in the model", path,
				   f.t[i].name);
			goto out;
		}
	host = malloc((np + nb ? np + nb : 1) * sizeof *host);
	int staged = host != NULL;
	for (int i = 0; opt && i < jm_optim_n_state(opt); i++)
		if (!(ohost[i] = malloc((no ? no : 1) * sizeof(float))))
			staged = 0;
	if (!staged) {
		jm_err_set(err, JM_EXIT_FAIL, "%s: cannot allocate staging memory", path);
		goto out;
	}
	for (int i = 0; i < jm_model_n_tensors(m); i++) {
		const jm_tensor_info *ti = jm_model_tensor(m, i);
		const ctensor *t;
		if (check_tensor(&f, ti->name, ti->ndim, ti->shape, &t, err) < 0 ||
		    read_tensor(&f, t, host + (ti->buffer ? np : 0) + ti->offset, err) < 0)
			goto out;
	}
	if (opt && load_optim(&f, opt, ohost, &steps, err) < 0)
		goto out;

	/* all read and checked: now change the model */
	if (np)
		be->to_device(jm_model_params(m), host, np * sizeof *host);
	if (nb)
		be->to_device(jm_model_buffers(m), host + np, nb * sizeof *host);
	for (int i = 0; opt && i < jm_optim_n_state(opt); i++)
		if (no)
			be->to_device(jm_optim_state(opt, i, NULL), ohost[i],
				      no * sizeof(float));
	if (opt)
		jm_optim_set_steps(opt, steps);
	if (meta) {
		jm_ckpt_meta_free(meta);
		*meta = f.meta;
		memset(&f.meta, 0, sizeof f.meta);
	}
	rc = 0;
out:
	free(host);
	free(ohost[0]);
	free(ohost[1]);
	ckfile_close(&f);
	return rc;
}

int jm_checkpoint_read_meta(const char *path, jm_ckpt_meta *meta, jm_err *err)
{
	ckfile f;
	int rc = ckfile_open(&f, path, err);
	if (rc == 0 && meta) {
		jm_ckpt_meta_free(meta);
		*meta = f.meta;
		memset(&f.meta, 0, sizeof f.meta);
	}
	ckfile_close(&f);
	return rc;
}

/* ---- save ------------------------------------------------------------------ */

typedef struct wtensor {
	const char *name;
	int ndim;
	const int64_t *shape;
	const float *src;    /* backend memory */
	size_t numel;
} wtensor;

static int reserved_key(const char *k)
{
	return !strcmp(k, "format") || !strncmp(k, "jianmo.", 7);
}

static int valid_utf8(const char *s)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + strlen(s);
	while (p < end) {
		size_t n = utf8_len(p, end);
		if (!n)
			return 0;
		p += n;
	}
	return 1;
}

/* Caller metadata must be unique, unreserved, valid UTF-8 (or the file
 * would not load again). */
static int check_meta(const char *path, const char *const *kv, int n,
		      jm_err *err)
{
	for (int i = 0; i < n; i++) {
		const char *k = kv[2 * i], *v = kv[2 * i + 1];
		if (!k || !v || reserved_key(k))
			return jm_err_set(err, JM_EXIT_FAIL,
					  "%s: metadata key \"%s\" is reserved or missing a value",
					  path, k ? k : "(null)");
		if (!valid_utf8(k) || !valid_utf8(v))
			return jm_err_set(err, JM_EXIT_FAIL,
					  "%s: metadata \"%s\": not valid UTF-8", path, k);
		for (int j = 0; j < i; j++)
			if (!strcmp(kv[2 * j], k))
				return jm_err_set(err, JM_EXIT_FAIL,
						  "%s: metadata key \"%s\" given twice",
						  path, k);
	}
	return 0;
}

static char *build_header(const wtensor *t, int nt, const jm_optim *opt,
			  const char *const *kv, int n_meta, size_t *len)
{
	sbuf b = {0};
	sb_str(&b, "{\"__metadata__\":{\"format\":\"pt\"");
	if (opt) {
		sb_str(&b, ",\"jianmo.optimizer\":");
		sb_json(&b, jm_optim_kind_name(jm_optim_kind(opt)));
		sb_printf(&b, ",\"jianmo.steps\":\"%" PRId64 "\"", jm_optim_steps(opt));
	}
	for (int i = 0; i < n_meta; i++) {
		sb_add(&b, ",", 1);
		sb_json(&b, kv[2 * i]);
		sb_add(&b, ":", 1);
		sb_json(&b, kv[2 * i + 1]);
	}
	sb_add(&b, "}", 1);
	uint64_t off = 0;
	for (int i = 0; i < nt; i++) {
		sb_add(&b, ",", 1);
		sb_json(&b, t[i].name);
		sb_str(&b, ":{\"dtype\":\"F32\",\"shape\":[");
		for (int d = 0; d < t[i].ndim; d++)
			sb_printf(&b, d ? ",%" PRId64 : "%" PRId64, t[i].shape[d]);
		uint64_t end = off + (uint64_t)t[i].numel * 4;
		sb_printf(&b, "],\"data_offsets\":[%" PRIu64 ",%" PRIu64 "]}", off, end);
		off = end;
	}
	sb_add(&b, "}", 1);
	while (b.len % 8)
		sb_add(&b, " ", 1);
	*len = b.len;
	return b.s;
}

static int write_all(int fd, const void *buf, size_t n)
{
	const char *p = buf;
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static void fsync_dir(const char *path)
{
	char *copy = jm_xstrdup(path);
	int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		fsync(fd); /* best effort: some file systems refuse */
		close(fd);
	}
	free(copy);
}

int jm_checkpoint_save(const char *path, jm_model *m, jm_optim *opt,
		       const char *const *meta_kv, int n_meta, jm_err *err)
{
	const jm_backend *be = jm_model_backend(m);
	int nmt = jm_model_n_tensors(m);
	int nt = nmt + (opt ? jm_optim_n_state(opt) : 0);
	wtensor *t = jm_xcalloc((size_t)nt, sizeof *t);
	int64_t oshape[1] = {opt ? (int64_t)jm_optim_size(opt) : 0};
	size_t maxn = 0, hlen = 0;
	char *header = NULL, *tmp = NULL;
	float *stage = NULL;
	int fd = -1, rc = -1;

	if (check_meta(path, meta_kv, n_meta, err) < 0)
		goto out;
	for (int i = 0; i < nmt; i++) {
		const jm_tensor_info *ti = jm_model_tensor(m, i);
		t[i] = (wtensor){ti->name, ti->ndim, ti->shape,
				 (ti->buffer ? jm_model_buffers(m) : jm_model_params(m)) +
					 ti->offset,
				 ti->numel};
	}
	for (int i = nmt; i < nt; i++) {
		const char *name;
		float *s = jm_optim_state(opt, i - nmt, &name);
		t[i] = (wtensor){name, 1, oshape, s, jm_optim_size(opt)};
	}
	for (int i = 0; i < nt; i++)
		if (t[i].numel > maxn)
			maxn = t[i].numel;
	stage = malloc((maxn ? maxn : 1) * sizeof *stage);
	if (!stage) {
		jm_err_set(err, JM_EXIT_FAIL, "%s: cannot allocate staging memory", path);
		goto out;
	}
	header = build_header(t, nt, opt, meta_kv, n_meta, &hlen);

	tmp = jm_xasprintf("%s.tmp.%ld", path, (long)getpid());
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		jm_err_set(err, JM_EXIT_FAIL, "%s: cannot create: %s", tmp,
			   strerror(errno));
		goto out;
	}
	unsigned char len[8];
	for (int i = 0; i < 8; i++)
		len[i] = (unsigned char)((uint64_t)hlen >> (8 * i));
	if (write_all(fd, len, 8) < 0 || write_all(fd, header, hlen) < 0)
		goto io_error;
	for (int i = 0; i < nt; i++) {
		if (!t[i].numel)
			continue;
		be->to_host(stage, t[i].src, t[i].numel * sizeof *stage);
		floats_le(stage, t[i].numel);
		if (write_all(fd, stage, t[i].numel * sizeof *stage) < 0)
			goto io_error;
	}
	if (fsync(fd) < 0)
		goto io_error;
	if (close(fd) < 0) {
		fd = -1;
		goto io_error;
	}
	fd = -1;
	if (rename(tmp, path) < 0)
		goto io_error;
	fsync_dir(path);
	rc = 0;
	goto out;
io_error:
	jm_err_set(err, JM_EXIT_FAIL, "%s: cannot write: %s", path, strerror(errno));
out:
	if (fd >= 0)
		close(fd);
	if (rc < 0 && tmp)
		unlink(tmp);
	free(tmp);
	free(header);
	free(stage);
	free(t);
	return rc;
}
