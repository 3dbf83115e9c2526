/*
 * ckpt_fuzz.c: libFuzzer target for the safetensors checkpoint loader
 * (src/engine/checkpoint.c).
 *
 *   input ──written as a file──▶ jm_checkpoint_read_meta
 *                           └──▶ jm_checkpoint_load into 2 models (mlp with
 *                                batch norm, cnn), each with no optimizer,
 *                                adamw and sgd+momentum: 6 loads
 *   refused:  model, optimizer and meta exactly as before; the message
 *             starts "PATH: " and says something; the code is JM_EXIT_INPUT
 *             (no I/O can fail on a small file in a temporary directory);
 *             a file read_meta refuses is refused by every load with the
 *             same message (the structure is checked first)
 *   accepted: every tensor holds the file's bytes at its data_offsets,
 *             the step count is "jianmo.steps", meta is __metadata__ member
 *             for member; saving again and loading into a twin model gives
 *             the same bits and metadata
 *   layout:   an accepted file's tensors tile the data when sorted by
 *             (begin, end), as safetensors sorts them; a file refused for
 *             its layout (overlap, gap, bytes after) really does not
 *   order:    the header's members written again in reverse order: the
 *             same file to safetensors, so accepted or refused the same
 *
 * The header is parsed again here with util/json.c (fuzzed on its own by
 * json_fuzz) to know what the file says.
 *
 * Seeds: CKPT_FUZZ_SEEDS=DIR ./ckpt_fuzz writes checkpoints of the
 * fuzzer's own models (with and without optimizer state, with metadata)
 * into DIR and exits.  Build and run: see fuzz/README.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/backend.h"
#include "engine/checkpoint.h"
#include "util/json.h"
#include "util/strbuf.h"

#define N_MODELS 2
#define N_OPTIMS 3 /* none, adamw, sgd */

static const jm_backend *be = &jm_backend_cpu;

/* One architecture: the model the input is loaded into, and a twin that
 * receives the re-saved file (so a round trip cannot pass by leaving the
 * target untouched). */
typedef struct arch {
	jm_model *m, *twin;
	jm_optim *opt[N_OPTIMS], *twin_opt[N_OPTIMS]; /* opt[0] is NULL */
} arch;

static arch archs[N_MODELS];
static char *in_path, *out_path, *reversed_path;

static void die(const char *what)
{
	fprintf(stderr, "ckpt_fuzz: %s\n", what);
	abort();
}

static jm_model *build(int which)
{
	static const int hidden[] = {4};
	jm_model_spec mlp = {.type = "mlp", .hidden = hidden, .n_hidden = 1, .act = JM_ACT_RELU,
			    .norm = "batch"};
	jm_model_spec cnn = {.type = "cnn", .layers = "c2 fc2", .batchnorm = 1};
	jm_model *m = NULL;
	jm_err err = {0};
	int rc = which == 0 ? jm_model_build(&m, be, &mlp, 1, 1, 3, 2, 2, &err)
			    : jm_model_build(&m, be, &cnn, 1, 2, 2, 2, 2, &err);
	if (rc < 0)
		die(err.msg);
	return m;
}

static jm_optim *optim(int kind, size_t n)
{
	jm_optim_spec adamw = {.kind = JM_OPT_ADAMW, .beta1 = 0.9, .beta2 = 0.999,
			       .eps = 1e-8, .weight_decay = 0.01};
	jm_optim_spec sgd = {.kind = JM_OPT_SGD, .momentum = 0.9};
	jm_optim *o = NULL;
	if (jm_optim_new(&o, be, kind == 1 ? &adamw : &sgd, n, NULL) < 0)
		die("cannot build an optimizer");
	return o;
}

/* ---- model and optimizer state ------------------------------------------ */

/* Every byte a load may change, on the host. */
typedef struct state {
	float *params, *buffers, *opt[2];
	int64_t steps;
} state;

static void state_take(state *s, jm_model *m, jm_optim *o)
{
	size_t np = jm_model_n_params(m), nb = jm_model_n_buffers(m);
	memset(s, 0, sizeof *s);
	s->params = jm_xmalloc((np ? np : 1) * sizeof(float));
	s->buffers = jm_xmalloc((nb ? nb : 1) * sizeof(float));
	be->to_host(s->params, jm_model_params(m), np * sizeof(float));
	be->to_host(s->buffers, jm_model_buffers(m), nb * sizeof(float));
	for (int i = 0; o && i < jm_optim_n_state(o); i++) {
		s->opt[i] = jm_xmalloc(jm_optim_size(o) * sizeof(float));
		be->to_host(s->opt[i], jm_optim_state(o, i, NULL),
			    jm_optim_size(o) * sizeof(float));
	}
	s->steps = o ? jm_optim_steps(o) : 0;
}

static void state_free(state *s)
{
	free(s->params);
	free(s->buffers);
	free(s->opt[0]);
	free(s->opt[1]);
}

/* memcmp, not ==: a load must not even turn one NaN into another. */
static int state_same(const state *a, const state *b, jm_model *m, jm_optim *o)
{
	size_t np = jm_model_n_params(m), nb = jm_model_n_buffers(m);
	if (memcmp(a->params, b->params, np * sizeof(float)) ||
	    memcmp(a->buffers, b->buffers, nb * sizeof(float)) || a->steps != b->steps)
		return 0;
	for (int i = 0; o && i < jm_optim_n_state(o); i++)
		if (memcmp(a->opt[i], b->opt[i], jm_optim_size(o) * sizeof(float)))
			return 0;
	return 1;
}

/* A known state that no file is likely to hold, so a partial write shows. */
static void state_reset(jm_model *m, jm_optim *o, uint64_t seed)
{
	jm_model_init(m, seed, NULL);
	for (int i = 0; o && i < jm_optim_n_state(o); i++) {
		size_t n = jm_optim_size(o);
		float *x = jm_xmalloc(n * sizeof *x);
		for (size_t j = 0; j < n; j++)
			x[j] = (float)(seed + j) * (i ? -0.25f : 0.5f);
		be->to_device(jm_optim_state(o, i, NULL), x, n * sizeof *x);
		free(x);
	}
	if (o)
		jm_optim_set_steps(o, (int64_t)seed);
}

/* ---- metadata ------------------------------------------------------------ */

/* An earlier result in the caller's meta: a refused load must leave it
 * (pointers and strings) alone, an accepted one must free and replace it. */
static void sentinel_make(jm_ckpt_meta *meta)
{
	meta->n = 1;
	meta->keys = jm_xmalloc(sizeof *meta->keys);
	meta->values = jm_xmalloc(sizeof *meta->values);
	meta->keys[0] = jm_xstrdup("sentinel");
	meta->values[0] = jm_xstrdup("untouched");
}

static void sentinel_check(const jm_ckpt_meta *meta, const jm_ckpt_meta *was)
{
	if (meta->n != 1 || meta->keys != was->keys || meta->values != was->values ||
	    meta->keys[0] != was->keys[0] || meta->values[0] != was->values[0] ||
	    strcmp(meta->keys[0], "sentinel") || strcmp(meta->values[0], "untouched"))
		die("a refused file changed the caller's meta");
}

/* meta holds exactly the members of the header's __metadata__, in order. */
static void meta_check(const jm_ckpt_meta *meta, const jm_json *root)
{
	const jm_json *obj = jm_json_get(root, "__metadata__");
	size_t n = obj ? obj->n : 0;
	if ((size_t)meta->n != n)
		die("meta does not hold every __metadata__ member");
	for (size_t i = 0; i < n; i++)
		if (strcmp(meta->keys[i], obj->keys[i]) ||
		    strcmp(meta->values[i], obj->items[i].str))
			die("meta differs from __metadata__");
}

static int meta_same(const jm_ckpt_meta *a, const jm_ckpt_meta *b)
{
	if (a->n != b->n)
		return 0;
	for (int i = 0; i < a->n; i++)
		if (strcmp(a->keys[i], b->keys[i]) || strcmp(a->values[i], b->values[i]))
			return 0;
	return 1;
}

/* ---- what the file says, read independently ------------------------------ */

typedef struct header {
	jm_json root;
	uint64_t hlen;
	const uint8_t *data; /* the data section */
	uint64_t data_size;
} header;

static int header_parse(header *h, const uint8_t *buf, size_t size)
{
	memset(h, 0, sizeof *h);
	if (size < 8)
		return -1;
	for (int i = 7; i >= 0; i--)
		h->hlen = h->hlen << 8 | buf[i];
	if (h->hlen > size - 8)
		return -1;
	jm_json_opts o = {.max_depth = 33};
	if (jm_json_parse((const char *)buf + 8, h->hlen, &o, &h->root, NULL) < 0)
		return -1;
	if (h->root.type != JM_JSON_OBJECT) {
		jm_json_free(&h->root);
		return -1;
	}
	h->data = buf + 8 + h->hlen;
	h->data_size = size - 8 - h->hlen;
	return 0;
}

typedef struct span {
	uint64_t begin, end;
} span;

static int span_cmp(const void *a, const void *b)
{
	const span *x = a, *y = b;
	if (x->begin != y->begin)
		return x->begin < y->begin ? -1 : 1;
	return (x->end > y->end) - (x->end < y->end);
}

/* safetensors' rule: sorted by (begin, end), each tensor starts where the
 * last one ended and the last ends at the end of the data.  1: holds, 0:
 * does not, -1: some entry has no [u64, u64] data_offsets to judge by. */
static int layout_ok(const header *h)
{
	const jm_json *root = &h->root;
	span *s = jm_xcalloc(root->n ? root->n : 1, sizeof *s);
	size_t n = 0;
	int rc = -1;
	for (size_t i = 0; i < root->n; i++) {
		if (!strcmp(root->keys[i], "__metadata__"))
			continue;
		const jm_json *offs = jm_json_get(&root->items[i], "data_offsets");
		if (!offs || !jm_json_as_u64(jm_json_at(offs, 0), &s[n].begin) ||
		    !jm_json_as_u64(jm_json_at(offs, 1), &s[n].end) || offs->n != 2)
			goto out;
		n++;
	}
	qsort(s, n, sizeof *s, span_cmp);
	uint64_t at = 0;
	rc = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i].begin != at || s[i].end < s[i].begin)
			goto out;
		at = s[i].end;
	}
	rc = at == h->data_size;
out:
	free(s);
	return rc;
}

/* Is msg (after "PATH: ") one of the layout refusals?  Matched on its
 * whole shape: tensor names may hold any of these words. */
static int layout_message(const char *msg)
{
	size_t n = strlen(msg);
	if (!strncmp(msg, "the tensors end at byte ", 24))
		return 1;
	if (!strncmp(msg, "tensors \"", 9) && n > 18 && !strcmp(msg + n - 9, "\" overlap"))
		return 1;
	const char *last = NULL;
	for (const char *p = msg; (p = strstr(p, "\" starts at byte ")); p++)
		last = p;
	if (strncmp(msg, "tensor \"", 8) || !last)
		return 0;
	unsigned long long a, b;
	int end = -1;
	sscanf(last, "\" starts at byte %llu of the data, leaving a gap after byte %llu%n",
	       &a, &b, &end);
	return end > 0 && !last[end];
}

/* The n floats at the offsets the header gives for name equal dev. */
static int holds_file_bytes(const header *h, const char *name, const float *dev, size_t n)
{
	const jm_json *offs = jm_json_get(jm_json_get(&h->root, name), "data_offsets");
	uint64_t begin, end;
	if (!jm_json_as_u64(jm_json_at(offs, 0), &begin) ||
	    !jm_json_as_u64(jm_json_at(offs, 1), &end) || end - begin != n * sizeof(float) ||
	    end > h->data_size)
		return 0;
	float *x = jm_xmalloc((n ? n : 1) * sizeof *x);
	be->to_host(x, dev, n * sizeof *x);
	int same = !memcmp(x, h->data + begin, n * sizeof *x);
	free(x);
	return same;
}

/* ---- the checks ---------------------------------------------------------- */

static void check_refusal(const char *path, const jm_err *err)
{
	size_t n = strlen(path);
	if (strncmp(err->msg, path, n) || err->msg[n] != ':' || err->msg[n + 1] != ' ' ||
	    !err->msg[n + 2]) {
		fprintf(stderr, "message: %s\n", err->msg);
		die("a refusal does not name the file and say what is wrong");
	}
	if (err->code != JM_EXIT_INPUT) {
		fprintf(stderr, "message: %s (code %d)\n", err->msg, err->code);
		die("a format error is not JM_EXIT_INPUT");
	}
}

/* After an accepted load: the model (and optimizer) hold the file. */
static void check_loaded(const header *h, jm_model *m, jm_optim *o,
			 const jm_ckpt_meta *meta)
{
	for (int i = 0; i < jm_model_n_tensors(m); i++) {
		const jm_tensor_info *ti = jm_model_tensor(m, i);
		float *base = ti->buffer ? jm_model_buffers(m) : jm_model_params(m);
		if (!holds_file_bytes(h, ti->name, base + ti->offset, ti->numel)) {
			fprintf(stderr, "tensor %s\n", ti->name);
			die("a loaded tensor does not hold the file's bytes");
		}
	}
	meta_check(meta, &h->root);
	if (!o)
		return;
	for (int i = 0; i < jm_optim_n_state(o); i++) {
		const char *name;
		float *s = jm_optim_state(o, i, &name);
		if (!holds_file_bytes(h, name, s, jm_optim_size(o)))
			die("loaded optimizer state does not hold the file's bytes");
	}
	const char *steps = jm_ckpt_meta_get(meta, "jianmo.steps");
	if (!steps || strtoll(steps, NULL, 10) != jm_optim_steps(o))
		die("the step count is not jianmo.steps");
}

/* Save what was loaded and load it into the twin: the same bits. */
static void check_round_trip(jm_model *m, jm_optim *o, jm_model *twin, jm_optim *twin_o,
			     const jm_ckpt_meta *meta)
{
	const char **kv = jm_xcalloc((size_t)(2 * meta->n + 1), sizeof *kv);
	int n = 0;
	for (int i = 0; i < meta->n; i++) {
		const char *k = meta->keys[i];
		if (!strcmp(k, "format") || !strncmp(k, "jianmo.", 7))
			continue; /* reserved: the saver writes its own */
		kv[2 * n] = k;
		kv[2 * n + 1] = meta->values[i];
		n++;
	}
	jm_err err = {0};
	if (jm_checkpoint_save(out_path, m, o, kv, n, &err) < 0) {
		fprintf(stderr, "%s\n", err.msg);
		die("cannot save a model just loaded");
	}
	state_reset(twin, twin_o, 99);
	jm_ckpt_meta again = {0};
	if (jm_checkpoint_load(out_path, twin, twin_o, &again, &err) < 0) {
		fprintf(stderr, "%s\n", err.msg);
		die("a re-saved checkpoint does not load");
	}
	state a, b;
	state_take(&a, m, o);
	state_take(&b, twin, twin_o);
	if (!state_same(&a, &b, m, o))
		die("save and load again changed the tensors");
	/* the caller's pairs come back in order after the reserved ones */
	jm_ckpt_meta mine = {.n = n}, back = {.n = n};
	mine.keys = jm_xcalloc((size_t)n + 1, sizeof(char *));
	mine.values = jm_xcalloc((size_t)n + 1, sizeof(char *));
	back.keys = jm_xcalloc((size_t)n + 1, sizeof(char *));
	back.values = jm_xcalloc((size_t)n + 1, sizeof(char *));
	for (int i = 0; i < n; i++) {
		mine.keys[i] = (char *)kv[2 * i];
		mine.values[i] = (char *)kv[2 * i + 1];
	}
	int j = 0;
	for (int i = 0; i < again.n && j <= n; i++)
		if (strcmp(again.keys[i], "format") && strncmp(again.keys[i], "jianmo.", 7)) {
			if (j == n)
				die("a re-saved checkpoint has extra metadata");
			back.keys[j] = again.keys[i];
			back.values[j++] = again.values[i];
		}
	if (j != n || !meta_same(&mine, &back))
		die("save and load again changed the metadata");
	free(mine.keys);
	free(mine.values);
	free(back.keys);
	free(back.values);
	jm_ckpt_meta_free(&again);
	state_free(&a);
	state_free(&b);
	free(kv);
}

static void check_load(const header *h, int parsed, const jm_err *meta_err,
		       const jm_ckpt_meta *file_meta, arch *a, int k, uint64_t seed)
{
	jm_model *m = a->m;
	jm_optim *o = a->opt[k];
	state_reset(m, o, seed);
	state before, after;
	state_take(&before, m, o);
	jm_ckpt_meta meta, was;
	sentinel_make(&meta);
	was = meta;
	jm_err err = {0};
	int rc = jm_checkpoint_load(in_path, m, o, &meta, &err);
	state_take(&after, m, o);
	if (rc < 0) {
		check_refusal(in_path, &err);
		if (!state_same(&before, &after, m, o))
			die("a refused file changed the model or the optimizer");
		sentinel_check(&meta, &was);
		if (meta_err && strcmp(meta_err->msg, err.msg)) {
			fprintf(stderr, "read_meta: %s\nload:      %s\n", meta_err->msg, err.msg);
			die("load and read_meta refuse the file for different reasons");
		}
	} else {
		if (meta_err)
			die("load accepts a file that read_meta refuses");
		if (!parsed)
			die("load accepts a file whose header is not JSON");
		if (!meta_same(&meta, file_meta))
			die("load and read_meta return different metadata");
		check_loaded(h, m, o, &meta);
		check_round_trip(m, o, a->twin, a->twin_opt[k], &meta);
	}
	jm_ckpt_meta_free(&meta);
	state_free(&before);
	state_free(&after);
}

static void write_file(const char *path, const uint8_t *data, size_t size)
{
	FILE *f = fopen(path, "wb");
	if (!f || fwrite(data, 1, size, f) != size || fclose(f) != 0)
		die("cannot write the input file");
}

/* Every number in v is a plain integer, so writing v again gives the same
 * numbers (4e1 would come back as 40, which data_offsets accepts). */
static int whole_numbers_only(const jm_json *v)
{
	if (v->type == JM_JSON_NUMBER)
		return v->is_u64;
	if (v->type != JM_JSON_ARRAY && v->type != JM_JSON_OBJECT)
		return 1;
	for (size_t i = 0; i < v->n; i++)
		if (!whole_numbers_only(&v->items[i]))
			return 0;
	return 1;
}

/* The header's members listed in reverse order decide nothing: safetensors
 * is a map.  The same file with them reversed must be accepted or refused
 * as the input is, with the same metadata. */
static void check_member_order(const header *h, int rc, const jm_ckpt_meta *meta)
{
	jm_buf b = JM_BUF_INIT;
	jm_buf_add(&b, "\0\0\0\0\0\0\0\0{", 9);
	for (size_t i = h->root.n; i-- > 0;) {
		jm_json_add_str(&b, h->root.keys[i], 0);
		jm_buf_addch(&b, ':');
		jm_json_add_value(&b, &h->root.items[i], 0);
		if (i)
			jm_buf_addch(&b, ',');
	}
	jm_buf_addch(&b, '}');
	uint64_t hlen = b.len - 8;
	for (int i = 0; i < 8; i++)
		b.s[i] = (char)(hlen >> (8 * i));
	jm_buf_add(&b, h->data, h->data_size);
	write_file(reversed_path, (const uint8_t *)b.s, b.len);
	jm_buf_release(&b);

	jm_ckpt_meta again = {0};
	jm_err err = {0};
	int rc2 = jm_checkpoint_read_meta(reversed_path, &again, &err);
	if (rc2 != rc) {
		fprintf(stderr, "%s\n", rc2 < 0 ? err.msg : "reversed: accepted");
		die("reversing the header's members changes whether read_meta accepts");
	}
	if (rc == 0 && !meta_same(meta, &again))
		die("reversing the header's members changes the metadata");
	jm_ckpt_meta_free(&again);
	for (int w = 0; rc == 0 && w < N_MODELS; w++) {
		jm_err e1 = {0}, e2 = {0};
		int r1 = jm_checkpoint_load(in_path, archs[w].m, NULL, NULL, &e1);
		int r2 = jm_checkpoint_load(reversed_path, archs[w].m, NULL, NULL, &e2);
		if (r1 != r2) {
			fprintf(stderr, "%s\n", r1 < 0 ? e1.msg : e2.msg);
			die("reversing the header's members changes whether load accepts");
		}
	}
}

/* ---- seeds ----------------------------------------------------------------- */

static void write_seeds(const char *dir)
{
	const char *kv[] = {"epoch", "1", "note", "caf\xc3\xa9 \"q\" \\ \n"};
	int i = 0;
	for (int w = 0; w < N_MODELS; w++)
		for (int k = 0; k < N_OPTIMS; k++) {
			state_reset(archs[w].m, archs[w].opt[k], 3 + (uint64_t)k);
			char *p = jm_xasprintf("%s/seed-%d", dir, i++);
			jm_err err = {0};
			if (jm_checkpoint_save(p, archs[w].m, archs[w].opt[k], kv,
					       k ? 2 : 1, &err) < 0)
				die(err.msg);
			free(p);
		}
}

/* ---- libFuzzer ------------------------------------------------------------- */

static char *tmp_dir;

/* libFuzzer exits through exit() at the end of a run: leave no files in
 * /dev/shm behind (a crash does, with the input that caused it). */
static void remove_tmp_dir(void)
{
	unlink(in_path);
	unlink(out_path);
	unlink(reversed_path);
	rmdir(tmp_dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	for (int w = 0; w < N_MODELS; w++) {
		arch *a = &archs[w];
		a->m = build(w);
		a->twin = build(w);
		for (int k = 1; k < N_OPTIMS; k++) {
			a->opt[k] = optim(k, jm_model_n_params(a->m));
			a->twin_opt[k] = optim(k, jm_model_n_params(a->m));
		}
	}
	const char *seeds = getenv("CKPT_FUZZ_SEEDS");
	if (seeds) {
		write_seeds(seeds);
		exit(0);
	}
	/* a directory of our own for the input and the re-saved copy; the
	 * file names are short so that messages stay readable */
	char tmpl[] = "/dev/shm/ckpt_fuzz.XXXXXX";
	char tmpl2[] = "/tmp/ckpt_fuzz.XXXXXX";
	const char *dir = mkdtemp(tmpl);
	if (!dir)
		dir = mkdtemp(tmpl2);
	if (!dir)
		die("cannot make a temporary directory");
	tmp_dir = jm_xstrdup(dir);
	in_path = jm_xasprintf("%s/in", dir);
	out_path = jm_xasprintf("%s/out", dir);
	reversed_path = jm_xasprintf("%s/rev", dir);
	atexit(remove_tmp_dir);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	write_file(in_path, data, size);
	header h;
	int parsed = header_parse(&h, data, size) == 0;

	jm_ckpt_meta meta, was;
	sentinel_make(&meta);
	was = meta;
	jm_err err = {0};
	int rc = jm_checkpoint_read_meta(in_path, &meta, &err);
	int layout = parsed ? layout_ok(&h) : -1;
	if (rc < 0) {
		check_refusal(in_path, &err);
		sentinel_check(&meta, &was);
		if (layout_message(err.msg + strlen(in_path) + 2) && layout != 0) {
			fprintf(stderr, "message: %s\n", err.msg);
			die("refused for a layout that safetensors accepts");
		}
	} else {
		if (!parsed)
			die("read_meta accepts a file whose header is not JSON");
		if (layout != 1)
			die("read_meta accepts tensors that do not tile the data");
		meta_check(&meta, &h.root);
	}

	/* the loader wants '{' first; a rewritten header always has it */
	if (parsed && data[8] == '{' && whole_numbers_only(&h.root))
		check_member_order(&h, rc, &meta);

	uint64_t seed = size ? data[size - 1] : 0;
	for (int w = 0; w < N_MODELS; w++)
		for (int k = 0; k < N_OPTIMS; k++)
			check_load(&h, parsed, rc < 0 ? &err : NULL, &meta, &archs[w], k,
				   seed + (uint64_t)k);

	jm_ckpt_meta_free(&meta);
	if (parsed)
		jm_json_free(&h.root);
	return 0;
}
