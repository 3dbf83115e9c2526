/*
 * checkpoint.c: safetensors writer and strict reader.
 *
 *   save: tensors (backend) ──to_host──▶ staging ──▶ tmp file ──fsync,
 *         rename──▶ path
 *   load: path ──header──▶ JSON tree (util/json.c, strict) ──▶ tensor table
 *         ──validate (format, then against the model)──▶ staging
 *         ──to_device──▶ model / optimizer, only once all of it is read
 *
 * The header is read as exactly RFC 8259 (no comments, no trailing
 * commas, no duplicate keys, valid UTF-8); messages give byte offsets.
 * Data is little-endian F32; a big-endian host swaps bytes.
 */
#include "engine/checkpoint.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/json.h"
#include "util/strbuf.h"

#define MAX_HEADER 100000000ULL /* safetensors' own limit */
#define MAX_JSON_DEPTH 33 /* the header object and 32 levels inside it */
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

/* ---- the header's JSON ---------------------------------------------------- */

/* "PATH: header: bad JSON at byte N: what", N counted from 0. */
static int bad_json(const char *path, size_t at, uint64_t hlen, const char *what, jm_err *err)
{
	return jm_err_set(err, JM_EXIT_INPUT, "%s: header: bad JSON at byte %zu%s: %s", path, at,
			  at >= hlen ? " (end of header)" : "", what);
}

static const char *const header_words[JM_JSON_E_COUNT] = {
	[JM_JSON_E_TRAILING] = "unexpected text after the header object",
};

/* RFC 8259 exactly: valid UTF-8, no duplicate keys (the defaults). */
static const jm_json_opts header_opts = {
	.max_depth = MAX_JSON_DEPTH,
	.max_size = MAX_HEADER,
	.words = header_words,
};

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
	jm_json root;
	ctensor *t;
	int nt;
	jm_ckpt_meta meta;
} ckfile;

static void ckfile_close(ckfile *f)
{
	if (f->fd >= 0)
		close(f->fd);
	jm_json_free(&f->root);
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
static int read_entry(ckfile *f, const char *name, const jm_json *v, ctensor *t,
		      jm_err *err)
{
	memset(t, 0, sizeof *t);
	t->name = name;
	if (v->type != JM_JSON_OBJECT)
		return jm_err_set(err, JM_EXIT_INPUT,
				  "%s: tensor \"%s\": expected an object, got %s",
				  f->path, name, jm_json_type_name(v->type));
	const jm_json *dtype = NULL, *shape = NULL, *offs = NULL;
	for (size_t i = 0; i < v->n; i++) {
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
	if (dtype->type != JM_JSON_STRING)
		return jm_err_set(err, JM_EXIT_INPUT,
				  "%s: tensor \"%s\": dtype: expected a string", f->path,
				  name);
	t->dtype = dtype->str;
	if (strcmp(dtype->str, "F32"))
		return jm_err_set(err, JM_EXIT_INPUT,
				  "%s: tensor \"%s\": dtype \"%.32s\" is not supported (expected \"F32\")",
				  f->path, name, dtype->str);
	if (shape->type != JM_JSON_ARRAY || shape->n > MAX_NDIM)
		return jm_err_set(err, JM_EXIT_INPUT,
				  "%s: tensor \"%s\": shape: expected an array of at most %d sizes",
				  f->path, name, MAX_NDIM);
	uint64_t numel = 1;
	t->ndim = (int)shape->n;
	for (size_t i = 0; i < shape->n; i++) {
		uint64_t d;
		if (!jm_json_as_u64(&shape->items[i], &d))
			return jm_err_set(err, JM_EXIT_INPUT,
					  "%s: tensor \"%s\": shape: expected sizes >= 0",
					  f->path, name);
		if (d > (1ULL << 40) || (d && numel > (1ULL << 60) / d))
			return jm_err_set(err, JM_EXIT_INPUT,
					  "%s: tensor \"%s\": shape: too large", f->path, name);
		t->shape[i] = (int64_t)d;
		numel *= d;
	}
	if (offs->type != JM_JSON_ARRAY || offs->n != 2 ||
	    !jm_json_as_u64(&offs->items[0], &t->begin) ||
	    !jm_json_as_u64(&offs->items[1], &t->end) || t->begin > t->end)
		return jm_err_set(err, JM_EXIT_INPUT,
				  "%s: tensor \"%s\": data_offsets: expected [begin, end] with begin <= end",
				  f->path, name);
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

static int read_metadata(ckfile *f, const jm_json *v, jm_err *err)
{
	if (v->type != JM_JSON_OBJECT)
		return jm_err_set(err, JM_EXIT_INPUT,
				  "%s: __metadata__: expected an object, got %s", f->path,
				  jm_json_type_name(v->type));
	for (size_t i = 0; i < v->n; i++) {
		if (v->items[i].type != JM_JSON_STRING)
			return jm_err_set(err, JM_EXIT_INPUT,
					  "%s: __metadata__: \"%s\": expected a string, got %s",
					  f->path, v->keys[i], jm_json_type_name(v->items[i].type));
		meta_add(&f->meta, v->keys[i], v->items[i].str);
	}
	return 0;
}

/* By (begin, end), as safetensors sorts: an empty tensor at the offset
 * where another begins comes first, and so tiles wherever it is listed. */
static int cmp_offsets(const void *a, const void *b)
{
	const ctensor *x = *(const ctensor *const *)a, *y = *(const ctensor *const *)b;
	if (x->begin != y->begin)
		return x->begin < y->begin ? -1 : 1;
	return (x->end > y->end) - (x->end < y->end);
}

/* Tensors must tile the data section: no overlap, no gap, nothing after. */
static int check_layout(ckfile *f, jm_err *err)
{
	int rc = -1;
	const ctensor **order = jm_xcalloc((size_t)(f->nt ? f->nt : 1), sizeof *order);
	for (int i = 0; i < f->nt; i++)
		order[i] = &f->t[i];
	qsort(order, (size_t)f->nt, sizeof *order, cmp_offsets);
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
	int rc = -1;
	jm_json_error je;
	if (text[0] != '{') {
		bad_json(path, 0, f->hlen, "expected '{'", err);
		goto out;
	}
	if (jm_json_parse(text, f->hlen, &header_opts, &f->root, &je) < 0) {
		bad_json(path, je.offset, f->hlen, je.what, err);
		goto out;
	}
	f->t = jm_xcalloc(f->root.n ? f->root.n : 1, sizeof *f->t);
	for (size_t i = 0; i < f->root.n; i++) {
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
		if (!jm_json_utf8_valid(k, strlen(k)) || !jm_json_utf8_valid(v, strlen(v)))
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
	jm_buf b = JM_BUF_INIT;
	jm_buf_addstr(&b, "{\"__metadata__\":{\"format\":\"pt\"");
	if (opt) {
		jm_buf_addstr(&b, ",\"jianmo.optimizer\":");
		jm_json_add_str(&b, jm_optim_kind_name(jm_optim_kind(opt)), 0);
		jm_buf_printf(&b, ",\"jianmo.steps\":\"%" PRId64 "\"", jm_optim_steps(opt));
	}
	for (int i = 0; i < n_meta; i++) {
		jm_buf_addch(&b, ',');
		jm_json_add_str(&b, kv[2 * i], 0);
		jm_buf_addch(&b, ':');
		jm_json_add_str(&b, kv[2 * i + 1], 0);
	}
	jm_buf_addch(&b, '}');
	uint64_t off = 0;
	for (int i = 0; i < nt; i++) {
		jm_buf_addch(&b, ',');
		jm_json_add_str(&b, t[i].name, 0);
		jm_buf_addstr(&b, ":{\"dtype\":\"F32\",\"shape\":[");
		for (int d = 0; d < t[i].ndim; d++)
			jm_buf_printf(&b, d ? ",%" PRId64 : "%" PRId64, t[i].shape[d]);
		uint64_t end = off + (uint64_t)t[i].numel * 4;
		jm_buf_printf(&b, "],\"data_offsets\":[%" PRIu64 ",%" PRIu64 "]}", off, end);
		off = end;
	}
	jm_buf_addch(&b, '}');
	while (b.len % 8)
		jm_buf_addch(&b, ' ');
	return jm_buf_detach(&b, len);
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
	/* a device error since the last wait: the tensors read back are not
	 * the model's, and must not replace the last good checkpoint */
	char why[512];
	if (be->sync(why, sizeof why) < 0) {
		jm_err_set(err, JM_EXIT_FAIL, "%s: not saved: %s: %s", path, be->name, why);
		goto out;
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
