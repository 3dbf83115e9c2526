/*
 * idx.c: IDX images and labels, raw or gzip, parsed from memory.
 *
 *   bytes ──is it gzip (1f 8b)?──▶ inflate ─┐
 *         └────────── raw ──────────────────┴▶ header ─▶ checks ─▶ values
 *
 * The parser pulls bytes through one small source (src_read) that either
 * copies from the buffer or inflates from it, so the header, the values
 * and the "nothing after the values" check read the same way for both.
 * The file reader only loads the file and calls the parser, so fuzzing
 * jm_idx_parse covers everything but the read itself.
 */
#include "data/idx.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

typedef struct src {
	const uint8_t *buf; /* the input */
	size_t n, pos;      /* its length and the raw read position */
	int gz;             /* 1: inflating */
	int gz_end;         /* the last gzip member ended cleanly */
	z_stream zs;
	const char *name;
	jm_err *err;
} src;

static const char *kind_noun(int kind)
{
	return kind == JM_IDX_IMAGES ? "images" : "labels";
}

/* Inflate up to want bytes; on Z_STREAM_END start the next member if
 * another gzip header follows (gzip -c a >> b), else stop.  Returns the
 * count read, or -1 with err set on corrupt or truncated data. */
static int64_t gz_read(src *s, uint8_t *dst, size_t want)
{
	size_t got = 0;
	while (got < want && !s->gz_end) {
		size_t chunk = want - got;
		if (chunk > (1u << 30))
			chunk = 1u << 30;
		s->zs.next_out = dst + got;
		s->zs.avail_out = (uInt)chunk;
		int rc = inflate(&s->zs, Z_NO_FLUSH);
		got += chunk - s->zs.avail_out;
		if (rc == Z_STREAM_END) {
			if (s->zs.avail_in >= 2 && s->zs.next_in[0] == 0x1f &&
			    s->zs.next_in[1] == 0x8b) {
				inflateReset(&s->zs);
				continue;
			}
			s->gz_end = 1;
			if (s->zs.avail_in > 0)
				return jm_err_set(s->err, JM_EXIT_INPUT,
						  "%s: %u bytes of trailing garbage after the gzip data",
						  s->name, s->zs.avail_in);
		} else if (rc == Z_BUF_ERROR && s->zs.avail_in == 0) {
			return jm_err_set(s->err, JM_EXIT_INPUT,
					  "%s: truncated gzip data (unexpected end of file)", s->name);
		} else if (rc == Z_MEM_ERROR) {
			return jm_err_set(s->err, JM_EXIT_FAIL, "%s: out of memory inflating", s->name);
		} else if (rc != Z_OK && rc != Z_BUF_ERROR) {
			return jm_err_set(s->err, JM_EXIT_INPUT, "%s: corrupt gzip data (%s)",
					  s->name, s->zs.msg ? s->zs.msg : zError(rc));
		}
	}
	return (int64_t)got;
}

/* Read up to want bytes; fewer only at the end of the data. */
static int64_t src_read(src *s, uint8_t *dst, size_t want)
{
	if (s->gz)
		return gz_read(s, dst, want);
	size_t left = s->n - s->pos;
	size_t k = want < left ? want : left;
	memcpy(dst, s->buf + s->pos, k);
	s->pos += k;
	return (int64_t)k;
}

/* Count what remains after the values (0 for a well-formed file). */
static int64_t src_rest(src *s)
{
	if (!s->gz)
		return (int64_t)(s->n - s->pos);
	uint8_t scratch[4096];
	int64_t total = 0, k;
	while ((k = gz_read(s, scratch, sizeof scratch)) > 0)
		total += k;
	return k < 0 ? -1 : total;
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static const struct dtype_name {
	uint8_t code;
	const char *name;
} dtype_names[] = {
	{0x08, "unsigned byte"}, {0x09, "signed byte"}, {0x0B, "short"},
	{0x0C, "int"},           {0x0D, "float"},       {0x0E, "double"},
};

static int check_magic(src *s, const uint8_t m[4], int kind)
{
	if (m[0] != 0 || m[1] != 0)
		return jm_err_set(s->err, JM_EXIT_INPUT, "%s: not an IDX file (magic 0x%08x)",
				  s->name, be32(m));
	if (m[2] != 0x08) {
		const char *dn = NULL;
		for (size_t i = 0; i < sizeof dtype_names / sizeof *dtype_names; i++)
			if (dtype_names[i].code == m[2])
				dn = dtype_names[i].name;
		if (!dn)
			return jm_err_set(s->err, JM_EXIT_INPUT,
					  "%s: not an IDX file (unknown data type 0x%02x)", s->name, m[2]);
		return jm_err_set(s->err, JM_EXIT_INPUT,
				  "%s: unsupported data type 0x%02x (%s); only unsigned bytes (0x08) are read",
				  s->name, m[2], dn);
	}
	if (m[3] != kind)
		return jm_err_set(s->err, JM_EXIT_INPUT,
				  "%s: expected %s (%d dimension%s), found %d dimension%s%s",
				  s->name, kind_noun(kind), kind, kind == 1 ? "" : "s", m[3],
				  m[3] == 1 ? "" : "s",
				  m[3] == JM_IDX_IMAGES ? " (an images file?)" :
				  m[3] == JM_IDX_LABELS ? " (a labels file?)" : "");
	return 0;
}

/* The dimension sizes: n items, and h x w for images, each within caps. */
static int read_dims(src *s, int kind, int64_t *n, int *h, int *w)
{
	uint8_t b[12];
	size_t want = 4 * (size_t)kind;
	int64_t got = src_read(s, b, want);
	if (got < 0)
		return -1;
	if ((size_t)got < want)
		return jm_err_set(s->err, JM_EXIT_INPUT, "%s: truncated header", s->name);
	uint32_t d[3] = {be32(b), kind == 3 ? be32(b + 4) : 1, kind == 3 ? be32(b + 8) : 1};
	if (d[0] < 1 || d[0] > JM_IDX_MAX_ITEMS)
		return jm_err_set(s->err, JM_EXIT_INPUT,
				  "%s: header declares %u %s (expected 1 to %lld)", s->name,
				  d[0], kind_noun(kind), (long long)JM_IDX_MAX_ITEMS);
	for (int i = 1; i < 3; i++)
		if (d[i] < 1 || d[i] > JM_IDX_MAX_SIDE)
			return jm_err_set(s->err, JM_EXIT_INPUT,
					  "%s: header declares images of %ux%u (each side must be 1 to %d)",
					  s->name, d[1], d[2], JM_IDX_MAX_SIDE);
	*n = d[0];
	*h = (int)d[1];
	*w = (int)d[2];
	return 0;
}

/* Read exactly need bytes of values into a buffer grown as data arrives
 * (so a small gzip file declaring a huge size cannot make us allocate it). */
static int read_values(src *s, const jm_idx *x, int64_t need, uint8_t **out)
{
	size_t cap = s->gz ? (need < (1 << 20) ? (size_t)need : 1u << 20) : (size_t)need;
	size_t len = 0;
	uint8_t *buf = malloc(cap ? cap : 1);
	if (!buf)
		goto oom;
	while ((int64_t)len < need) {
		if (len == cap) {
			size_t ncap = cap * 2 > (size_t)need ? (size_t)need : cap * 2;
			uint8_t *nb = realloc(buf, ncap);
			if (!nb)
				goto oom;
			buf = nb;
			cap = ncap;
		}
		int64_t k = src_read(s, buf + len, cap - len);
		if (k < 0)
			goto fail;
		if (k == 0)
			break;
		len += (size_t)k;
	}
	if ((int64_t)len < need) {
		jm_err_set(s->err, JM_EXIT_INPUT,
			   "%s: truncated: the header declares %lld %s (%lld bytes), the data holds %zu",
			   s->name, (long long)x->n, kind_noun(x->kind), (long long)need, len);
		goto fail;
	}
	*out = buf;
	return 0;
oom:
	jm_err_set(s->err, JM_EXIT_FAIL, "%s: out of memory for %lld bytes", s->name,
		   (long long)need);
fail:
	free(buf);
	return -1;
}

int jm_idx_parse(jm_idx *out, const void *buf, size_t n, int kind,
		 const char *name, jm_err *err)
{
	src s = {.buf = buf, .n = n, .name = name, .err = err};
	jm_idx x = {.kind = kind};
	uint8_t magic[4];
	int rc = -1;

	memset(out, 0, sizeof *out);
	if (kind != JM_IDX_IMAGES && kind != JM_IDX_LABELS)
		return jm_err_set(err, JM_EXIT_FAIL, "%s: bad IDX kind %d", name, kind);
	if (n == 0)
		return jm_err_set(err, JM_EXIT_INPUT, "%s: empty file", name);
	if (n >= 2 && s.buf[0] == 0x1f && s.buf[1] == 0x8b) {
		if (n > UINT32_MAX)
			return jm_err_set(err, JM_EXIT_INPUT, "%s: too large", name);
		if (inflateInit2(&s.zs, 16 + MAX_WBITS) != Z_OK)
			return jm_err_set(err, JM_EXIT_FAIL, "%s: cannot start inflating", name);
		s.gz = 1;
		s.zs.next_in = (Bytef *)(uintptr_t)s.buf;
		s.zs.avail_in = (uInt)n;
	}

	int64_t got = src_read(&s, magic, 4);
	if (got < 0)
		goto done;
	if (got < 4) {
		jm_err_set(err, JM_EXIT_INPUT, "%s: truncated header (%lld bytes)", name,
			   (long long)got);
		goto done;
	}
	if (check_magic(&s, magic, kind) < 0 || read_dims(&s, kind, &x.n, &x.h, &x.w) < 0)
		goto done;

	int64_t need = x.n * x.h * x.w;
	if (need > JM_IDX_MAX_VALUES) {
		jm_err_set(err, JM_EXIT_INPUT,
			   "%s: header declares %lld %s of %dx%d, %lld bytes (at most %lld)", name,
			   (long long)x.n, kind_noun(kind), x.h, x.w, (long long)need,
			   (long long)JM_IDX_MAX_VALUES);
		goto done;
	}
	if (!s.gz && (int64_t)(s.n - s.pos) < need) {
		jm_err_set(err, JM_EXIT_INPUT,
			   "%s: truncated: the header declares %lld %s (%lld bytes), the file holds %zu",
			   name, (long long)x.n, kind_noun(kind), (long long)need, s.n - s.pos);
		goto done;
	}
	if (read_values(&s, &x, need, &x.data) < 0)
		goto done;
	int64_t rest = src_rest(&s);
	if (rest < 0)
		goto done;
	if (rest > 0) {
		jm_err_set(err, JM_EXIT_INPUT,
			   "%s: %lld bytes of trailing data after the %lld %s the header declares",
			   name, (long long)rest, (long long)x.n, kind_noun(kind));
		goto done;
	}
	*out = x;
	x.data = NULL;
	rc = 0;
done:
	if (s.gz)
		inflateEnd(&s.zs);
	free(x.data);
	return rc;
}

int jm_idx_read(jm_idx *out, const char *path, int kind, jm_err *err)
{
	FILE *fp = NULL;
	uint8_t *buf = NULL;
	int rc = -1;

	memset(out, 0, sizeof *out);
	fp = fopen(path, "rb");
	if (!fp) {
		jm_err_set(err, errno == ENOMEM ? JM_EXIT_FAIL : JM_EXIT_INPUT,
			   "cannot open \"%s\": %s", path, strerror(errno));
		goto done;
	}
	if (fseek(fp, 0, SEEK_END) != 0) {
		jm_err_set(err, JM_EXIT_INPUT, "cannot read \"%s\": %s", path, strerror(errno));
		goto done;
	}
	long size = ftell(fp);
	if (size < 0 || fseek(fp, 0, SEEK_SET) != 0) {
		jm_err_set(err, JM_EXIT_INPUT, "cannot read \"%s\": %s", path, strerror(errno));
		goto done;
	}
	if (size > JM_IDX_MAX_FILE) {
		jm_err_set(err, JM_EXIT_INPUT, "%s: too large for an IDX file (%ld bytes)", path, size);
		goto done;
	}
	buf = malloc(size ? (size_t)size : 1);
	if (!buf) {
		jm_err_set(err, JM_EXIT_FAIL, "%s: out of memory for %ld bytes", path, size);
		goto done;
	}
	if (fread(buf, 1, (size_t)size, fp) != (size_t)size) {
		jm_err_set(err, JM_EXIT_INPUT, "cannot read \"%s\": %s", path,
			   ferror(fp) ? strerror(errno) : "file shrank while reading");
		goto done;
	}
	rc = jm_idx_parse(out, buf, (size_t)size, kind, path, err);
done:
	free(buf);
	if (fp)
		fclose(fp);
	return rc;
}

void jm_idx_clear(jm_idx *x)
{
	if (!x)
		return;
	free(x->data);
	memset(x, 0, sizeof *x);
}
