/*
 * test_checkpoint.c: safetensors checkpoints.
 *
 * A round trip of a trained model (batch-norm running stats, residual
 * block) and its optimizer state must be bit-exact, metadata included;
 * every malformed file (truncated, bad header length, bad JSON, wrong
 * dtype, wrong shape, offsets out of bounds / overlapping / leaving gaps,
 * missing or unexpected tensors) is refused with its message and leaves
 * the model unchanged.  Hand-made files go through write_st(), which lays
 * out the header exactly as given.  If python3 is installed, it reads our
 * file with json + struct (what safetensors does) and checks a value.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/backend.h"
#include "engine/checkpoint.h"
#include "testutil.h"
#include "util/rng.h"

static const jm_backend *be = &jm_backend_cpu;
static char *dir;

static void setup(void)
{
	dir = jt_tmpdir();
}

static void teardown(void)
{
	jt_rm_rf(dir);
	free(dir);
}

TestSuite(checkpoint, .init = setup, .fini = teardown);

static char *path_in(const char *name)
{
	return jm_xasprintf("%s/%s", dir, name);
}

static jm_model *cnn(void)
{
	jm_model_spec s = {.type = "cnn", .layers = "c4 r6 p fc5", .batchnorm = 1};
	jm_model *m = NULL;
	jm_err err = {0};
	cr_assert_eq(jm_model_build(&m, be, &s, 2, 6, 6, 5, 4, &err), 0, "%s", err.msg);
	return m;
}

/* A model 3 -> 2: layers.0.weight [2,3], layers.0.bias [2]. */
static jm_model *tiny(void)
{
	jm_model_spec s = {.type = "linear"};
	jm_model *m = NULL;
	cr_assert_eq(jm_model_build(&m, be, &s, 1, 1, 3, 2, 1, NULL), 0);
	return m;
}

static jm_optim *adam(size_t n)
{
	jm_optim_spec s = {.kind = JM_OPT_ADAMW, .beta1 = 0.9, .beta2 = 0.999,
			   .eps = 1e-8, .weight_decay = 0.01};
	jm_optim *o = NULL;
	cr_assert_eq(jm_optim_new(&o, be, &s, n, NULL), 0);
	return o;
}

/* A few training steps so params, running stats and moments are all
 * non-trivial. */
static void train(jm_model *m, jm_optim *o, int steps)
{
	jm_rng r;
	jm_rng_seed(&r, 5);
	float x[4 * 72], dl[4 * 5];
	for (int t = 0; t < steps; t++) {
		for (size_t i = 0; i < sizeof x / sizeof x[0]; i++)
			x[i] = 2.0f * jm_rng_uniformf(&r) - 1.0f;
		for (size_t i = 0; i < sizeof dl / sizeof dl[0]; i++)
			dl[i] = jm_rng_uniformf(&r) - 0.5f;
		jm_model_zero_grad(m);
		jm_model_forward(m, x, 4, 1, (uint64_t)t);
		jm_model_backward(m, dl, 4);
		jm_optim_step(o, jm_model_params(m), jm_model_grads(m), 0.01, -1.0);
	}
}

/* Write a safetensors file with this exact header text and `data` bytes of
 * float data (1.0, 2.0, ...). */
static char *write_st(const char *name, const char *header, size_t data)
{
	char *p = path_in(name);
	FILE *f = fopen(p, "wb");
	cr_assert_not_null(f);
	uint64_t n = strlen(header);
	unsigned char len[8];
	for (int i = 0; i < 8; i++)
		len[i] = (unsigned char)(n >> (8 * i));
	fwrite(len, 1, 8, f);
	fwrite(header, 1, n, f);
	for (size_t i = 0; i < data / 4; i++) {
		float v = (float)(i + 1);
		fwrite(&v, 4, 1, f);
	}
	fclose(f);
	return p;
}

/* Expect loading path into a tiny model to fail with `msg` after
 * "<path>: ", leaving the model as it was. */
static void expect_load_error(const char *path, int code, const char *msg)
{
	jm_model *m = tiny();
	jm_model_init(m, 1, NULL);
	float before[8];
	memcpy(before, jm_model_params(m), 8 * sizeof(float));
	jm_err err = {0};
	cr_assert_eq(jm_checkpoint_load(path, m, NULL, NULL, &err), -1,
		     "loaded %s", path);
	char *want = jm_xasprintf("%s: %s", path, msg);
	cr_assert_str_eq(err.msg, want);
	cr_assert_eq(err.code, code);
	cr_assert_arr_eq(jm_model_params(m), before, 8 * sizeof(float));
	free(want);
	jm_model_free(m);
}

#define WEIGHT "\"layers.0.weight\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]}"
#define BIAS "\"layers.0.bias\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[24,32]}"

/* ----------------------------------------------------------- round trip */

Test(checkpoint, round_trip_is_bit_exact)
{
	jm_model *a = cnn(), *b = cnn();
	jm_model_init(a, 1, NULL);
	jm_model_init(b, 2, NULL);
	jm_optim *oa = adam(jm_model_n_params(a)), *ob = adam(jm_model_n_params(b));
	train(a, oa, 3);
	char *p = path_in("ckpt.safetensors");
	const char *meta[] = {"epoch", "3", "rng", "0123456789abcdef",
			      "note", "quote \" backslash \\ newline \n tab \t ctrl \x01 utf8 \xe5\xbb\xba\xe6\xa8\xa1"};
	jm_err err = {0};
	cr_assert_eq(jm_checkpoint_save(p, a, oa, meta, 3, &err), 0, "%s", err.msg);

	jm_ckpt_meta got = {0};
	cr_assert_eq(jm_checkpoint_load(p, b, ob, &got, &err), 0, "%s", err.msg);
	size_t np = jm_model_n_params(a), nb = jm_model_n_buffers(a);
	cr_assert_gt(nb, 0);
	cr_assert_arr_eq(jm_model_params(a), jm_model_params(b), np * sizeof(float));
	cr_assert_arr_eq(jm_model_buffers(a), jm_model_buffers(b), nb * sizeof(float));
	for (int i = 0; i < 2; i++)
		cr_assert_arr_eq(jm_optim_state(oa, i, NULL), jm_optim_state(ob, i, NULL),
				 np * sizeof(float));
	cr_assert_eq(jm_optim_steps(ob), 3);
	cr_assert_str_eq(jm_ckpt_meta_get(&got, "epoch"), "3");
	cr_assert_str_eq(jm_ckpt_meta_get(&got, "rng"), "0123456789abcdef");
	cr_assert_str_eq(jm_ckpt_meta_get(&got, "note"), meta[5]);
	cr_assert_str_eq(jm_ckpt_meta_get(&got, "format"), "pt");
	cr_assert_str_eq(jm_ckpt_meta_get(&got, "jianmo.optimizer"), "adamw");
	cr_assert_str_eq(jm_ckpt_meta_get(&got, "jianmo.steps"), "3");
	cr_assert_null(jm_ckpt_meta_get(&got, "missing"));

	/* training continues identically from the restored state */
	train(a, oa, 2);
	train(b, ob, 2);
	cr_assert_arr_eq(jm_model_params(a), jm_model_params(b), np * sizeof(float));

	/* metadata alone */
	jm_ckpt_meta only = {0};
	cr_assert_eq(jm_checkpoint_read_meta(p, &only, &err), 0, "%s", err.msg);
	cr_assert_str_eq(jm_ckpt_meta_get(&only, "epoch"), "3");
	jm_ckpt_meta_free(&only);
	jm_ckpt_meta_free(&got);
	jm_ckpt_meta_free(NULL);
	free(p);
	jm_optim_free(oa);
	jm_optim_free(ob);
	jm_model_free(a);
	jm_model_free(b);
}

Test(checkpoint, weights_only_and_sgd)
{
	jm_model *a = cnn(), *b = cnn();
	jm_model_init(a, 1, NULL);
	jm_optim_spec s = {.kind = JM_OPT_SGD, .momentum = 0.9};
	jm_optim *o = NULL, *o2 = NULL, *o3 = NULL;
	cr_assert_eq(jm_optim_new(&o, be, &s, jm_model_n_params(a), NULL), 0);
	train(a, o, 2);
	char *p = path_in("sgd.safetensors");
	cr_assert_eq(jm_checkpoint_save(p, a, o, NULL, 0, NULL), 0);

	/* a training checkpoint serves for evaluation: optim.* ignored */
	jm_err err = {0};
	cr_assert_eq(jm_checkpoint_load(p, b, NULL, NULL, &err), 0, "%s", err.msg);
	cr_assert_arr_eq(jm_model_params(a), jm_model_params(b),
			 jm_model_n_params(a) * sizeof(float));
	cr_assert_eq(jm_optim_new(&o2, be, &s, jm_model_n_params(a), NULL), 0);
	cr_assert_eq(jm_checkpoint_load(p, b, o2, NULL, &err), 0, "%s", err.msg);
	cr_assert_arr_eq(jm_optim_state(o, 0, NULL), jm_optim_state(o2, 0, NULL),
			 jm_model_n_params(a) * sizeof(float));
	cr_assert_eq(jm_optim_steps(o2), 2);

	/* the optimizer must match */
	jm_optim *ad = adam(jm_model_n_params(a));
	cr_assert_eq(jm_checkpoint_load(p, b, ad, NULL, &err), -1);
	char *want = jm_xasprintf("%s: holds sgd state, but the optimizer is adamw", p);
	cr_assert_str_eq(err.msg, want);
	cr_assert_eq(err.code, JM_EXIT_INPUT);
	free(want);

	/* saved without optimizer: resuming with one is refused */
	char *q = path_in("weights.safetensors");
	cr_assert_eq(jm_checkpoint_save(q, a, NULL, NULL, 0, NULL), 0);
	cr_assert_eq(jm_optim_new(&o3, be, &s, jm_model_n_params(a), NULL), 0);
	cr_assert_eq(jm_checkpoint_load(q, b, o3, NULL, &err), -1);
	want = jm_xasprintf("%s: holds no optimizer state (saved for evaluation only?)", q);
	cr_assert_str_eq(err.msg, want);
	free(want);
	free(p);
	free(q);
	jm_optim_free(o);
	jm_optim_free(o2);
	jm_optim_free(o3);
	jm_optim_free(ad);
	jm_model_free(a);
	jm_model_free(b);
}

Test(checkpoint, file_layout)
{
	jm_model *m = tiny();
	jm_model_init(m, 3, NULL);
	char *p = path_in("tiny.safetensors");
	const char *meta[] = {"k", "v"};
	cr_assert_eq(jm_checkpoint_save(p, m, NULL, meta, 1, NULL), 0);
	size_t n;
	char *text = jt_read(p, &n);
	cr_assert_not_null(text);
	uint64_t hlen = 0;
	for (int i = 7; i >= 0; i--)
		hlen = hlen << 8 | (unsigned char)text[i];
	cr_assert_eq(hlen % 8, 0, "header padded to 8 bytes");
	cr_assert_eq(n, 8 + hlen + 8 * 4, "file is header + 8 floats");
	cr_assert_eq(text[8], '{');
	char *header = strndup(text + 8, hlen);
	cr_assert(strstr(header, "\"__metadata__\":{\"format\":\"pt\",\"k\":\"v\"}"), "%s", header);
	cr_assert(strstr(header, WEIGHT), "%s", header);
	cr_assert(strstr(header, BIAS), "%s", header);
	/* the data: the weight's 6 floats then the bias, little-endian */
	float w0;
	memcpy(&w0, text + 8 + hlen, 4);
	cr_assert_eq(w0, jm_model_params(m)[0]);
	/* no temporary left behind; a second save replaces the file */
	char *tmp = jm_xasprintf("%s.tmp.%ld", p, (long)getpid());
	struct stat st;
	cr_assert_eq(stat(tmp, &st), -1);
	cr_assert_eq(jm_checkpoint_save(p, m, NULL, NULL, 0, NULL), 0);
	cr_assert_eq(stat(tmp, &st), -1);
	free(tmp);
	free(header);
	free(text);
	free(p);
	jm_model_free(m);
}

Test(checkpoint, python_reads_it)
{
	if (access("/usr/bin/python3", X_OK) != 0) {
		fprintf(stderr, "SKIPPED checkpoint::python_reads_it: no /usr/bin/python3\n");
		cr_skip_test("no /usr/bin/python3");
	}
	jm_model *m = cnn();
	jm_model_init(m, 4, NULL);
	jm_optim *o = adam(jm_model_n_params(m));
	train(m, o, 1);
	char *p = path_in("py.safetensors");
	const char *meta[] = {"epoch", "1"};
	cr_assert_eq(jm_checkpoint_save(p, m, o, meta, 1, NULL), 0);
	/* What safetensors.torch.load_file does, with json + struct. */
	char *out = NULL, *err = NULL;
	int rc = jt_sh(NULL, &out, &err,
		       "/usr/bin/python3 -c '"
		       "import json, struct, sys\n"
		       "b = open(sys.argv[1], \"rb\").read()\n"
		       "n, = struct.unpack(\"<Q\", b[:8])\n"
		       "h = json.loads(b[8:8 + n])\n"
		       "assert all(isinstance(v, str) for v in h[\"__metadata__\"].values())\n"
		       "t = h[\"layers.3.conv1.weight\"]\n"
		       "s, e = t[\"data_offsets\"]\n"
		       "x = struct.unpack(\"<f\", b[8 + n + s + 4 * 5:8 + n + s + 4 * 6])[0]\n"
		       "print(t[\"dtype\"], t[\"shape\"], repr(x), h[\"__metadata__\"][\"epoch\"],"
		       " len(h) - 1)\n"
		       "' %s", p);
	cr_assert_eq(rc, 0, "python failed: %s", err ? err : "");
	int i = jm_model_find_tensor(m, "layers.3.conv1.weight");
	const jm_tensor_info *t = jm_model_tensor(m, i);
	char want[256];
	snprintf(want, sizeof want, "F32 [6, 4, 3, 3] %.9g 1 %d\n",
		 (double)jm_model_params(m)[t->offset + 5], jm_model_n_tensors(m) + 2);
	/* python's repr is the shortest round-trip form; compare as numbers */
	char dtype[8], shape[64];
	double x;
	int epoch, ntensors;
	cr_assert_eq(sscanf(out, "%7s [%63[^]]] %lf %d %d", dtype, shape, &x, &epoch,
			    &ntensors), 5, "python said: %s", out);
	cr_assert_str_eq(dtype, "F32");
	cr_assert_str_eq(shape, "6, 4, 3, 3");
	cr_assert_eq((float)x, jm_model_params(m)[t->offset + 5], "%s vs %s", out, want);
	cr_assert_eq(epoch, 1);
	cr_assert_eq(ntensors, jm_model_n_tensors(m) + 2); /* + optim.m, optim.v */
	free(out);
	free(err);
	free(p);
	jm_optim_free(o);
	jm_model_free(m);
}

/* ------------------------------------------------------------ bad files */

Test(checkpoint, accepts_hand_made_file)
{
	/* the layout write_st produces is valid: the error tests below each
	 * change one thing */
	char *p = write_st("ok.st", "{" WEIGHT "," BIAS "}", 32);
	jm_model *m = tiny();
	jm_err err = {0};
	cr_assert_eq(jm_checkpoint_load(p, m, NULL, NULL, &err), 0, "%s", err.msg);
	for (int i = 0; i < 8; i++)
		cr_assert_eq(jm_model_params(m)[i], (float)(i + 1));
	free(p);
	jm_model_free(m);
}

Test(checkpoint, truncated)
{
	char *p = write_st("t1.st", "{" WEIGHT "," BIAS "}", 20);
	expect_load_error(p, JM_EXIT_INPUT,
			  "tensor \"layers.0.weight\": data_offsets [0,24] are out of "
			  "bounds (the file holds 20 bytes of data; truncated?)");
	free(p);
	p = path_in("t2.st");
	FILE *f = fopen(p, "wb");
	fwrite("\x10\0\0\0\0", 1, 5, f);
	fclose(f);
	expect_load_error(p, JM_EXIT_INPUT, "truncated: 5 bytes, not even a header length");
	free(p);
}

Test(checkpoint, bad_header_length)
{
	char *p = write_st("h.st", "{" WEIGHT "," BIAS "}", 32);
	FILE *f = fopen(p, "r+b");
	fwrite("\xff\xff\xff\x7f\0\0\0\0", 1, 8, f);
	fclose(f);
	char *msg = jm_xasprintf("header length 2147483647 is out of bounds (the file "
				 "has %zu bytes; not a safetensors file?)",
				 8 + strlen("{" WEIGHT "," BIAS "}") + 32);
	expect_load_error(p, JM_EXIT_INPUT, msg);
	free(msg);
	free(p);
	p = write_st("h0.st", "", 0);
	expect_load_error(p, JM_EXIT_INPUT,
			  "header length 0 is out of bounds (the file has 8 bytes; "
			  "not a safetensors file?)");
	free(p);
}

Test(checkpoint, bad_json)
{
	struct {
		const char *header, *msg;
	} cases[] = {
		{"[1]  ", "header: bad JSON at byte 0: expected '{'"},
		{"{" WEIGHT "," BIAS "   x", "header: bad JSON at byte 140: expected ',' or '}'"},
		{"{" WEIGHT "," BIAS ",}", "header: bad JSON at byte 138: expected a string key"},
		{"{" WEIGHT "," BIAS "} {}", "header: bad JSON at byte 139: unexpected text after "
				       "the header object"},
		{"{\"a\":tru}", "header: bad JSON at byte 5: expected a value"},
		{"{\"a\":\"\x01\"}", "header: bad JSON at byte 6: control character in string"},
		{"{\"a\":\"\\q\"}", "header: bad JSON at byte 7: invalid escape in string"},
		{"{\"a\":\"\\ud800x\"}", "header: bad JSON at byte 12: unpaired surrogate "
				       "in string"},
		{"{\"a\":\"\xc3\x28\"}", "header: bad JSON at byte 6: invalid UTF-8 in string"},
		{"{\"a\":01}", "header: bad JSON at byte 5: leading zero in number"},
		{"{\"a\":1,\"a\":2}", "header: bad JSON at byte 7: duplicate key \"a\""},
		{"{\"a\":[1,2", "header: bad JSON at byte 9 (end of header): expected ',' "
			      "or ']'"},
		{"{\"a\" 1}", "header: bad JSON at byte 5: expected ':'"},
		{"{\"a\":\"abc", "header: bad JSON at byte 9 (end of header): unterminated "
			       "string"},
		{"{\"a\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}",
		 "header: bad JSON at byte 37: nested too deeply"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char name[32];
		snprintf(name, sizeof name, "j%zu.st", i);
		char *p = write_st(name, cases[i].header, 0);
		expect_load_error(p, JM_EXIT_INPUT, cases[i].msg);
		free(p);
	}
}

Test(checkpoint, bad_entries)
{
	struct {
		const char *header;
		size_t data;
		const char *msg;
	} cases[] = {
		{"{\"layers.0.weight\":{\"dtype\":\"F16\",\"shape\":[2,3],\"data_offsets\":[0,12]}}",
		 12, "tensor \"layers.0.weight\": dtype \"F16\" is not supported (expected \"F32\")"},
		{"{\"layers.0.weight\":{\"dtype\":\"F32\",\"shape\":[3,2],\"data_offsets\":[0,24]}," BIAS "}",
		 32, "tensor \"layers.0.weight\": shape [3,2] does not match the model's [2,3]"},
		{"{\"layers.0.weight\":{\"dtype\":\"F32\",\"shape\":[6],\"data_offsets\":[0,24]}," BIAS "}",
		 32, "tensor \"layers.0.weight\": shape [6] does not match the model's [2,3]"},
		{"{" WEIGHT "}", 24, "tensor \"layers.0.bias\" is missing"},
		{"{" WEIGHT "," BIAS ",\"layers.9.bias\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[32,36]}}",
		 36, "tensor \"layers.9.bias\" is not in the model"},
		{"{" WEIGHT ",\"layers.0.bias\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[24,40]}}",
		 40, "tensor \"layers.0.bias\": data_offsets [24,40] hold 16 bytes, but shape [2] needs 8"},
		{"{" WEIGHT ",\"layers.0.bias\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[16,24]}}",
		 24, "tensors \"layers.0.weight\" and \"layers.0.bias\" overlap"},
		{"{" WEIGHT ",\"layers.0.bias\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[28,36]}}",
		 36, "tensor \"layers.0.bias\" starts at byte 28 of the data, leaving a gap after byte 24"},
		{"{" WEIGHT "," BIAS "}", 40, "the tensors end at byte 32 of the data, but the file holds 40 bytes of data"},
		{"{" WEIGHT ",\"layers.0.bias\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[32,24]}}",
		 32, "tensor \"layers.0.bias\": data_offsets: expected [begin, end] with begin <= end"},
		{"{" WEIGHT ",\"layers.0.bias\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[24,4e1]}}",
		 40, "tensor \"layers.0.bias\": data_offsets: expected [begin, end] with begin <= end"},
		{"{" WEIGHT ",\"layers.0.bias\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[24,32]}}",
		 32, "tensor \"layers.0.bias\": shape: expected sizes >= 0"},
		/* a size that is a whole number is too large, not negative */
		{"{" WEIGHT ",\"layers.0.bias\":{\"dtype\":\"F32\",\"shape\":[2199023255552],\"data_offsets\":[24,32]}}",
		 32, "tensor \"layers.0.bias\": shape: too large"},
		{"{" WEIGHT ",\"layers.0.bias\":{\"dtype\":\"F32\",\"shape\":[2097152,1048576,1048576],\"data_offsets\":[24,32]}}",
		 32, "tensor \"layers.0.bias\": shape: too large"},
		{"{" WEIGHT ",\"layers.0.bias\":{\"dtype\":\"F32\",\"data_offsets\":[24,32]}}",
		 32, "tensor \"layers.0.bias\": missing \"shape\""},
		{"{" WEIGHT ",\"layers.0.bias\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[24,32],\"x\":1}}",
		 32, "tensor \"layers.0.bias\": unknown field \"x\""},
		{"{" WEIGHT ",\"layers.0.bias\":[]}", 32, "tensor \"layers.0.bias\": expected an object, got an array"},
		{"{\"__metadata__\":{\"epoch\":3}," WEIGHT "," BIAS "}", 32,
		 "__metadata__: \"epoch\": expected a string, got a number"},
		{"{\"__metadata__\":[]," WEIGHT "," BIAS "}", 32, "__metadata__: expected an object, got an array"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char name[32];
		snprintf(name, sizeof name, "e%zu.st", i);
		char *p = write_st(name, cases[i].header, cases[i].data);
		expect_load_error(p, JM_EXIT_INPUT, cases[i].msg);
		free(p);
	}
}

/* A tensor with no elements occupies no bytes, so it may sit at the offset
 * where a neighbour begins; safetensors sorts by (begin, end) and takes it
 * wherever the header lists it.  Sorting by begin alone could put it after
 * the neighbour and call the two overlapping, depending on the order of
 * the header's members (fuzz/ckpt_fuzz.c checks that order never matters). */
Test(checkpoint, empty_tensor_next_to_another)
{
	static const char *const empty[] = {
		"\"optim.empty\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]}",
		"\"optim.empty\":{\"dtype\":\"F32\",\"shape\":[2,0],\"data_offsets\":[24,24]}",
		"\"optim.empty\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[32,32]}",
	};
	for (size_t i = 0; i < sizeof empty / sizeof empty[0]; i++) {
		char *header[3] = {
			jm_xasprintf("{" WEIGHT ",%s," BIAS "}", empty[i]),
			jm_xasprintf("{%s," WEIGHT "," BIAS "}", empty[i]),
			jm_xasprintf("{" WEIGHT "," BIAS ",%s}", empty[i]),
		};
		for (int j = 0; j < 3; j++) {
			char name[32];
			snprintf(name, sizeof name, "z%zu-%d.st", i, j);
			char *p = write_st(name, header[j], 32);
			jm_model *m = tiny();
			jm_err err = {0};
			cr_assert_eq(jm_checkpoint_load(p, m, NULL, NULL, &err), 0,
				     "%s: %s", header[j], err.msg);
			for (int k = 0; k < 8; k++)
				cr_assert_eq(jm_model_params(m)[k], (float)(k + 1));
			jm_model_free(m);
			free(p);
			free(header[j]);
		}
	}
	/* inside another tensor it still overlaps, wherever it is listed */
	char *p = write_st("zin.st",
			   "{" WEIGHT ",\"optim.empty\":{\"dtype\":\"F32\",\"shape\":[0],"
			   "\"data_offsets\":[4,4]}," BIAS "}", 32);
	expect_load_error(p, JM_EXIT_INPUT,
			  "tensors \"layers.0.weight\" and \"optim.empty\" overlap");
	free(p);
	p = write_st("zin2.st",
		     "{\"optim.empty\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[4,4]},"
		     WEIGHT "," BIAS "}", 32);
	expect_load_error(p, JM_EXIT_INPUT,
			  "tensors \"layers.0.weight\" and \"optim.empty\" overlap");
	free(p);
}

Test(checkpoint, metadata_strings_are_decoded)
{
	char *p = write_st("m.st",
			   "{\"__metadata__\":{\"u\":\"\\u00e9\\ud83d\\ude00\\n\\/\"}," WEIGHT "," BIAS "}   ",
			   32);
	jm_model *m = tiny();
	jm_ckpt_meta meta = {0};
	jm_err err = {0};
	cr_assert_eq(jm_checkpoint_load(p, m, NULL, &meta, &err), 0, "%s", err.msg);
	cr_assert_str_eq(jm_ckpt_meta_get(&meta, "u"), "\xc3\xa9\xf0\x9f\x98\x80\n/");
	jm_ckpt_meta_free(&meta);
	cr_assert_eq(meta.n, 0);
	free(p);
	jm_model_free(m);
}

Test(checkpoint, io_errors)
{
	char *p = path_in("missing.safetensors");
	expect_load_error(p, JM_EXIT_INPUT, "cannot open: No such file or directory");
	free(p);

	jm_model *m = tiny();
	p = path_in("no/such/dir/ckpt.safetensors");
	jm_err err = {0};
	cr_assert_eq(jm_checkpoint_save(p, m, NULL, NULL, 0, &err), -1);
	char *want = jm_xasprintf("%s.tmp.%ld: cannot create: No such file or directory",
				  p, (long)getpid());
	cr_assert_str_eq(err.msg, want);
	cr_assert_eq(err.code, JM_EXIT_FAIL);
	free(want);
	free(p);

	p = path_in("r.safetensors");
	const char *meta[] = {"jianmo.steps", "9"};
	cr_assert_eq(jm_checkpoint_save(p, m, NULL, meta, 1, &err), -1);
	want = jm_xasprintf("%s: metadata key \"jianmo.steps\" is reserved or missing a value", p);
	cr_assert_str_eq(err.msg, want);
	free(want);
	const char *dup[] = {"epoch", "1", "epoch", "2"};
	cr_assert_eq(jm_checkpoint_save(p, m, NULL, dup, 2, &err), -1);
	want = jm_xasprintf("%s: metadata key \"epoch\" given twice", p);
	cr_assert_str_eq(err.msg, want);
	free(want);
	const char *latin1[] = {"note", "caf\xe9"};
	cr_assert_eq(jm_checkpoint_save(p, m, NULL, latin1, 1, &err), -1);
	want = jm_xasprintf("%s: metadata \"note\": not valid UTF-8", p);
	cr_assert_str_eq(err.msg, want);
	struct stat st;
	cr_assert_eq(stat(p, &st), -1, "nothing written");
	free(want);
	free(p);
	jm_model_free(m);
}
