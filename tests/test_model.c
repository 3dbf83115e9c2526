/*
 * test_model.c: building models from specs, parameter counts against
 * PyTorch's, PyTorch tensor names, layer-string errors, whole-model
 * finite-difference gradient checks (mlp with batch/layer norm and dropout,
 * cnn with residual blocks, pooling, batch norm in training mode),
 * training vs eval behaviour and determinism.  All on the CPU backend,
 * where backend pointers are host pointers.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/backend.h"
#include "engine/model.h"
#include "engine/optim.h"
#include "gradcheck.h"
#include "util/rng.h"

static const jm_backend *be = &jm_backend_cpu;

static jm_model *build(const jm_model_spec *s, int c, int h, int w, int k,
		       int batch)
{
	jm_err err = {0};
	jm_model *m = NULL;
	int rc = jm_model_build(&m, be, s, c, h, w, k, batch, &err);
	cr_assert_eq(rc, 0, "build failed: %s", err.msg);
	cr_assert_not_null(m);
	return m;
}

static jm_model *build_cnn(const char *layers, int bn, int c, int h, int w,
			   int k, int batch)
{
	jm_model_spec s = {.type = "cnn", .layers = layers, .batchnorm = bn};
	return build(&s, c, h, w, k, batch);
}

/* Expect jm_model_build to fail with JM_EXIT_INPUT and exactly msg. */
static void expect_error(const jm_model_spec *s, int c, int h, int w, int k,
			 const char *msg)
{
	jm_err err = {0};
	jm_model *m = (jm_model *)1;
	int rc = jm_model_build(&m, be, s, c, h, w, k, 4, &err);
	cr_assert_eq(rc, -1, "expected failure for \"%s\"",
		     s->layers ? s->layers : s->type);
	cr_assert_null(m);
	cr_assert_eq(err.code, JM_EXIT_INPUT);
	cr_assert_str_eq(err.msg, msg);
}

static void expect_layers_error(const char *layers, int c, int h, int w,
				const char *msg)
{
	jm_model_spec s = {.type = "cnn", .layers = layers, .batchnorm = 1};
	expect_error(&s, c, h, w, 10, msg);
}

static const jm_tensor_info *tensor(const jm_model *m, const char *name)
{
	int i = jm_model_find_tensor(m, name);
	cr_assert_geq(i, 0, "no tensor \"%s\"", name);
	return jm_model_tensor(m, i);
}

static void expect_shape(const jm_model *m, const char *name, int ndim,
			 int64_t d0, int64_t d1, int64_t d2, int64_t d3)
{
	const jm_tensor_info *t = tensor(m, name);
	int64_t want[4] = {d0, d1, d2, d3};
	cr_assert_eq(t->ndim, ndim, "%s: ndim %d", name, t->ndim);
	for (int i = 0; i < ndim; i++)
		cr_assert_eq(t->shape[i], want[i], "%s: dim %d is %lld", name, i,
			     (long long)t->shape[i]);
}

static float *randv(jm_rng *r, size_t n, float lo, float hi)
{
	float *p = malloc((n ? n : 1) * sizeof *p);
	for (size_t i = 0; i < n; i++)
		p[i] = lo + (hi - lo) * jm_rng_uniformf(r);
	return p;
}

/* ------------------------------------------------------ parameter counts */

Test(model, mlp_param_count_matches_pytorch)
{
	int hidden[] = {256, 128};
	jm_model_spec s = {.type = "mlp", .hidden = hidden, .n_hidden = 2,
			   .act = JM_ACT_RELU};
	jm_model *m = build(&s, 1, 28, 28, 10, 8);
	/* nn.Linear(784,256), (256,128), (128,10): weights + biases */
	size_t want = 784 * 256 + 256 + 256 * 128 + 128 + 128 * 10 + 10;
	cr_assert_eq(want, 235146);
	cr_assert_eq(jm_model_n_params(m), want);
	cr_assert_eq(jm_model_n_buffers(m), 0);
	cr_assert_eq(jm_model_n_tensors(m), 6);
	expect_shape(m, "layers.0.weight", 2, 256, 784, 0, 0);
	expect_shape(m, "layers.0.bias", 1, 256, 0, 0, 0);
	expect_shape(m, "layers.2.weight", 2, 128, 256, 0, 0);
	expect_shape(m, "layers.4.weight", 2, 10, 128, 0, 0);
	cr_assert_eq(jm_model_input_size(m), 784);
	jm_model_free(m);
}

Test(model, mlp_batchnorm_dropout_names)
{
	int hidden[] = {32};
	jm_model_spec s = {.type = "mlp", .hidden = hidden, .n_hidden = 1,
			   .act = JM_ACT_GELU, .dropout = 0.1f, .norm = "batch"};
	jm_model *m = build(&s, 1, 4, 4, 3, 8);
	/* Linear, BatchNorm1d, GELU, Dropout, Linear */
	expect_shape(m, "layers.0.weight", 2, 32, 16, 0, 0);
	expect_shape(m, "layers.1.weight", 1, 32, 0, 0, 0);
	expect_shape(m, "layers.1.running_mean", 1, 32, 0, 0, 0);
	expect_shape(m, "layers.1.running_var", 1, 32, 0, 0, 0);
	expect_shape(m, "layers.4.weight", 2, 3, 32, 0, 0);
	cr_assert(tensor(m, "layers.1.running_mean")->buffer);
	cr_assert(!tensor(m, "layers.1.bias")->buffer);
	cr_assert_eq(jm_model_n_params(m), 16 * 32 + 32 + 2 * 32 + 32 * 3 + 3);
	cr_assert_eq(jm_model_n_buffers(m), 64);
	jm_model_free(m);
}

Test(model, linear_and_logistic_are_one_layer)
{
	const char *types[] = {"linear", "logistic"};
	for (int i = 0; i < 2; i++) {
		jm_model_spec s = {.type = types[i]};
		jm_model *m = build(&s, 3, 5, 5, 2, 4);
		cr_assert_eq(jm_model_n_params(m), 75 * 2 + 2);
		expect_shape(m, "layers.0.weight", 2, 2, 75, 0, 0);
		jm_model_free(m);
	}
}

Test(model, cnn_param_count_by_hand)
{
	jm_model *m = build_cnn("c32 c32 p c64 c64 p c128 gap d0.2 fc10", 1, 1,
				28, 28, 10, 4);
	/* bias-free 3x3 convs (C*OC*9) + BatchNorm2d (2*OC) each, then
	 * Linear(128, 10) */
	size_t want = (1 * 32 * 9 + 64) + (32 * 32 * 9 + 64) +
		      (32 * 64 * 9 + 128) + (64 * 64 * 9 + 128) +
		      (64 * 128 * 9 + 256) + (128 * 10 + 10);
	cr_assert_eq(want, 140458);
	cr_assert_eq(jm_model_n_params(m), want);
	/* running mean + var per BN channel */
	cr_assert_eq(jm_model_n_buffers(m), 2 * (32 + 32 + 64 + 64 + 128));
	/* conv, bn, relu per cN; layers.6 is the first pool */
	expect_shape(m, "layers.0.weight", 4, 32, 1, 3, 3);
	cr_assert_eq(jm_model_find_tensor(m, "layers.0.bias"), -1);
	expect_shape(m, "layers.1.running_var", 1, 32, 0, 0, 0);
	expect_shape(m, "layers.7.weight", 4, 64, 32, 3, 3);
	/* 5 convs x 3 modules + 2 pools = 17; gap 17, flatten 18, dropout 19 */
	expect_shape(m, "layers.20.weight", 2, 10, 128, 0, 0);
	jm_model_free(m);
}

Test(model, cnn_without_batchnorm_has_conv_bias)
{
	jm_model *m = build_cnn("c8/5 a c4 fc16 d0.5", 0, 3, 8, 8, 5, 2);
	/* conv 5x5 3->8 with bias, ReLU, avgpool, conv 3x3 8->4, ReLU,
	 * Flatten, Linear(4*4*4, 16), ReLU, Dropout, Linear(16, 5) */
	size_t want = (3 * 8 * 25 + 8) + (8 * 4 * 9 + 4) + (64 * 16 + 16) +
		      (16 * 5 + 5);
	cr_assert_eq(jm_model_n_params(m), want);
	expect_shape(m, "layers.0.weight", 4, 8, 3, 5, 5);
	expect_shape(m, "layers.0.bias", 1, 8, 0, 0, 0);
	expect_shape(m, "layers.3.bias", 1, 4, 0, 0, 0);
	expect_shape(m, "layers.6.weight", 2, 16, 64, 0, 0);
	expect_shape(m, "layers.9.weight", 2, 5, 16, 0, 0);
	cr_assert_eq(jm_model_n_buffers(m), 0);
	jm_model_free(m);
}

Test(model, residual_names_and_count)
{
	jm_model *m = build_cnn("c4 r4 r6 gap", 1, 2, 6, 6, 3, 2);
	/* c4: 2*4*9 + 8; r4 (identity skip): 2 x (4*4*9 + 8); r6: 4*6*9 + 12
	 * + 6*6*9 + 12 + shortcut 1x1 4*6 + 12; fc 6*3+3 */
	size_t want = (72 + 8) + 2 * (144 + 8) +
		      (216 + 12 + 324 + 12 + 24 + 12) + (18 + 3);
	cr_assert_eq(jm_model_n_params(m), want);
	expect_shape(m, "layers.3.conv1.weight", 4, 4, 4, 3, 3);
	expect_shape(m, "layers.3.bn2.running_mean", 1, 4, 0, 0, 0);
	cr_assert_eq(jm_model_find_tensor(m, "layers.3.shortcut.0.weight"), -1);
	expect_shape(m, "layers.4.conv1.weight", 4, 6, 4, 3, 3);
	expect_shape(m, "layers.4.shortcut.0.weight", 4, 6, 4, 1, 1);
	expect_shape(m, "layers.4.shortcut.1.running_var", 1, 6, 0, 0, 0);
	/* gap 5, flatten 6, classifier 7 */
	expect_shape(m, "layers.7.weight", 2, 3, 6, 0, 0);
	jm_model_free(m);
}

Test(model, describe_lists_layers_and_total)
{
	int hidden[] = {256, 128};
	jm_model_spec s = {.type = "mlp", .hidden = hidden, .n_hidden = 2,
			   .act = JM_ACT_RELU};
	jm_model *m = build(&s, 1, 28, 28, 10, 8);
	char *buf = NULL;
	size_t len = 0;
	FILE *fp = open_memstream(&buf, &len);
	jm_model_describe(m, fp);
	fclose(fp);
	cr_assert(strstr(buf, "Linear(784, 256)"), "%s", buf);
	cr_assert(strstr(buf, "200,960"), "%s", buf);
	cr_assert(strstr(buf, "ReLU()"), "%s", buf);
	cr_assert(strstr(buf, "total 235,146 parameters"), "%s", buf);
	for (char *line = buf; *line;) {
		char *nl = strchr(line, '\n');
		cr_assert_not_null(nl);
		cr_assert_leq(nl - line, 80, "line wider than 80: %.*s",
			      (int)(nl - line), line);
		line = nl + 1;
	}
	free(buf);
	jm_model_free(m);
}

/* [model] act applies to a cnn's convolutions, hidden fcs and residual
 * blocks too; ReLU when unset. */
Test(model, cnn_uses_the_flow_activation)
{
	jm_model_spec s = {.type = "cnn", .layers = "c8 r8 gap fc16 fc10", .batchnorm = 1,
			   .act = JM_ACT_GELU};
	jm_model *m = build(&s, 1, 8, 8, 10, 4);
	char *buf = NULL;
	size_t len = 0;
	FILE *fp = open_memstream(&buf, &len);
	jm_model_describe(m, fp);
	fclose(fp);
	cr_expect(strstr(buf, "GELU"), "%s", buf);
	cr_expect(!strstr(buf, "ReLU"), "%s", buf);
	free(buf);
	jm_model_free(m);
	s.act = 0;
	m = build(&s, 1, 8, 8, 10, 4);
	fp = open_memstream(&buf, &len);
	jm_model_describe(m, fp);
	fclose(fp);
	cr_expect(strstr(buf, "ReLU"), "%s", buf);
	free(buf);
	jm_model_free(m);
}

/* ------------------------------------------------------------ errors */

Test(model, layer_string_errors)
{
	expect_layers_error("c32 p c64 x64 fc10", 1, 28, 28,
			    "[model] layers: token 4 \"x64\": unknown layer "
			    "(expected cN, p, a, gap, dX, fcN, rN, plugin:NAME)");
	expect_layers_error("c0", 1, 28, 28,
			    "[model] layers: token 1 \"c0\": expected a channel "
			    "count from 1 to 65536");
	expect_layers_error("c32 cat", 1, 28, 28,
			    "[model] layers: token 2 \"cat\": expected a channel "
			    "count from 1 to 65536");
	expect_layers_error("c32/4", 1, 28, 28,
			    "[model] layers: token 1 \"c32/4\": expected an odd "
			    "kernel size from 1 to 11 after \"/\"");
	expect_layers_error("r-3", 1, 28, 28,
			    "[model] layers: token 1 \"r-3\": expected a channel "
			    "count from 1 to 65536");
	expect_layers_error("c8 d1.5", 1, 28, 28,
			    "[model] layers: token 2 \"d1.5\": expected a dropout "
			    "probability in [0, 1)");
	expect_layers_error("c8 d", 1, 28, 28,
			    "[model] layers: token 2 \"d\": expected a dropout "
			    "probability in [0, 1)");
	expect_layers_error("c8 fc0 fc10", 1, 28, 28,
			    "[model] layers: token 2 \"fc0\": expected a unit "
			    "count from 1 to 65536");
	expect_layers_error("c8 p fc5", 1, 28, 28,
			    "[model] layers: token 3 \"fc5\": the last fc has 5 "
			    "units, but the data has 10 classes");
	expect_layers_error("c8 p p p", 1, 4, 4,
			    "[model] layers: token 4 \"p\": 2x2 pooling needs an "
			    "input of at least 2x2, got 1x1");
	expect_layers_error("c8 a a", 1, 3, 3,
			    "[model] layers: token 3 \"a\": 2x2 pooling needs an "
			    "input of at least 2x2, got 1x1");
	expect_layers_error("c8 gap c16", 1, 8, 8,
			    "[model] layers: token 3 \"c16\": needs an image "
			    "input, but token 2 \"gap\" flattened it");
	expect_layers_error("c8 fc32 p", 1, 8, 8,
			    "[model] layers: token 3 \"p\": needs an image "
			    "input, but token 2 \"fc32\" flattened it");
	expect_layers_error("c8 f f", 1, 8, 8,
			    "[model] layers: token 3 \"f\": needs an image "
			    "input, but token 2 \"f\" flattened it");
	expect_layers_error("  ,, ", 1, 8, 8,
			    "[model] layers: empty (expected tokens such as "
			    "\"c32 p fc10\")");
	expect_layers_error(NULL, 1, 8, 8,
			    "[model] layers: empty (expected tokens such as "
			    "\"c32 p fc10\")");
	expect_layers_error("c65537", 1, 8, 8,
			    "[model] layers: token 1 \"c65537\": expected a "
			    "channel count from 1 to 65536");
	expect_layers_error("c4096 c4096", 1, 512, 512,
			    "[model] layers: token 1 \"c4096\": an output of "
			    "4096x512x512 for a batch of 4 exceeds 2^31 values");
	char many[1200] = "";
	for (int i = 0; i < 257; i++)
		strcat(many, "d0 ");
	expect_layers_error(many, 1, 8, 8,
			    "[model] layers: too many tokens (at most 256)");
}

Test(model, spec_errors)
{
	jm_model_spec s = {.type = "transformer"};
	expect_error(&s, 1, 8, 8, 10,
		     "[model] type: unknown model type \"transformer\" "
		     "(expected linear, logistic, mlp, cnn)");
	int hidden[] = {16, 0};
	s = (jm_model_spec){.type = "mlp", .hidden = hidden, .n_hidden = 2,
			    .act = JM_ACT_RELU};
	expect_error(&s, 1, 8, 8, 10,
		     "[model] hidden: expected sizes from 1 to 65536, got 0");
	s = (jm_model_spec){.type = "mlp", .hidden = hidden, .n_hidden = 1,
			    .act = JM_ACT_RELU, .norm = "group"};
	expect_error(&s, 1, 8, 8, 10,
		     "[model] norm: unknown norm \"group\" (expected none, "
		     "batch, layer)");
	s = (jm_model_spec){.type = "mlp", .hidden = hidden, .n_hidden = 1,
			    .act = 42};
	expect_error(&s, 1, 8, 8, 10, "[model] act: unknown activation 42");
	s = (jm_model_spec){.type = "mlp", .hidden = hidden, .n_hidden = 1,
			    .act = JM_ACT_RELU, .dropout = 1.0f};
	expect_error(&s, 1, 8, 8, 10,
		     "[model] dropout: expected a probability in [0, 1), got 1");
	s = (jm_model_spec){.type = "linear"};
	expect_error(&s, 1, 8, 8, 0,
		     "[model] needs from 1 to 65536 outputs (classes, or 1 for a "
		     "regression), got 0");
	expect_error(&s, 0, 8, 8, 10,
		     "[model] input shape 0x8x8 is empty or too large");
	jm_err err = {0};
	jm_model *m = NULL;
	cr_assert_eq(jm_model_build(&m, be, &s, 1, 8, 8, 10, 0, &err), -1);
	cr_assert_str_eq(err.msg, "[model] batch size must be at least 1, got 0");
	cr_assert_eq(err.code, JM_EXIT_INPUT);
}

Test(model, act_names)
{
	cr_assert_eq(jm_model_act_from_name("relu"), JM_ACT_RELU);
	cr_assert_eq(jm_model_act_from_name("gelu"), JM_ACT_GELU);
	cr_assert_eq(jm_model_act_from_name("tanh"), JM_ACT_TANH);
	cr_assert_eq(jm_model_act_from_name("sigmoid"), JM_ACT_SIGMOID);
	cr_assert_eq(jm_model_act_from_name("silu"), JM_ACT_SILU);
	cr_assert_eq(jm_model_act_from_name("swish"), -1);
	cr_assert_eq(jm_model_act_from_name(NULL), -1);
}

/* ---------------------------------------------------- gradient checks */

typedef struct gc {
	jm_model *m;
	const float *x;
	const float *r;     /* loss = sum(logits * r) */
	int B;
	uint64_t key;
} gc;

static double gc_loss(void *ctx)
{
	gc *g = ctx;
	float *logits = jm_model_forward(g->m, g->x, g->B, 1, g->key);
	size_t n = (size_t)g->B * jm_model_n_classes(g->m);
	double s = 0.0;
	for (size_t i = 0; i < n; i++)
		s += (double)logits[i] * g->r[i];
	return s;
}

static void setup_check(jm_model *m, int B, uint64_t seed, gc *g)
{
	jm_rng r;
	jm_rng_seed(&r, seed);
	cr_assert_eq(jm_model_init(m, seed, NULL), 0);
	*g = (gc){.m = m, .B = B, .key = 5,
		  .x = randv(&r, (size_t)B * jm_model_input_size(m), -1, 1),
		  .r = randv(&r, (size_t)B * jm_model_n_classes(m), -1, 1)};
	jm_model_zero_grad(m);
	cr_assert_not_null(jm_model_forward(m, g->x, B, 1, g->key));
	cr_assert_eq(jm_model_backward(m, g->r, B), 0);
}

/* Smooth models (tanh, gelu, sigmoid; norms; dropout with a fixed key):
 * every parameter gradient against central differences. */
static void check_smooth_grads(jm_model *m, int B, uint64_t seed, double eps,
			       double rtol, double atol)
{
	gc g;
	setup_check(m, B, seed, &g);
	size_t n = jm_model_n_params(m);
	float *grads = malloc(n * sizeof *grads);
	memcpy(grads, jm_model_grads(m), n * sizeof *grads);
	size_t bad = jt_gradcheck("params", gc_loss, &g, jm_model_params(m), n,
				  grads, eps, rtol, atol);
	cr_assert_eq(bad, 0, "%zu of %zu parameter gradients differ", bad, n);
	free(grads);
	free((void *)g.x);
	free((void *)g.r);
}

/*
 * ReLU and max-pool models are piecewise smooth: a central difference that
 * straddles a kink (a unit whose input crosses 0 within +-eps, which batch
 * norm makes common since every weight moves every unit of a channel) is
 * wrong, not the gradient.  So for each parameter, at eps and at eps/3.3:
 * when the forward and backward one-sided differences disagree by more
 * than the tolerance, a kink lies within eps and that level says nothing;
 * otherwise the central difference must match the analytic gradient (a
 * single kink shifts it by half the one-sided disagreement, within
 * tolerance).  A parameter passes at the first level that matches; it
 * fails if a kink-free level disagrees and none matches; it is skipped if
 * every level sees a kink.  At most a quarter may be skipped.
 */
static void check_relu_grads(jm_model *m, int B, uint64_t seed, double eps,
			     double rtol, double atol)
{
	gc g;
	setup_check(m, B, seed, &g);
	size_t n = jm_model_n_params(m), bad = 0, kinks = 0;
	float *an = malloc(n * sizeof *an), *p = jm_model_params(m);
	memcpy(an, jm_model_grads(m), n * sizeof *an);
	double f0 = gc_loss(&g);
	for (size_t i = 0; i < n; i++) {
		int state = 2; /* 2 kink, 1 mismatch, 0 ok */
		for (double e = eps; e > eps / 4 && state; e /= 3.3333) {
			float x0 = p[i], xp = (float)(x0 + e), xm = (float)(x0 - e);
			p[i] = xp;
			double fp = gc_loss(&g);
			p[i] = xm;
			double fm = gc_loss(&g);
			p[i] = x0;
			double fw = (fp - f0) / ((double)xp - x0);
			double bw = (f0 - fm) / ((double)x0 - xm);
			double c = (fp - fm) / ((double)xp - xm);
			double tol = atol + rtol * fabs(c);
			if (fabs(fw - bw) > tol)
				continue;
			state = fabs(c - an[i]) <= tol ? 0 : 1;
			if (state && bad < 5)
				fprintf(stderr, "param %zu: analytic %g, numeric %g (eps %g)\n",
					i, (double)an[i], c, e);
		}
		bad += state == 1;
		kinks += state == 2;
	}
	cr_assert_eq(bad, 0, "%zu of %zu parameter gradients differ", bad, n);
	cr_assert_leq(kinks * 4, n, "%zu of %zu parameters skipped at kinks",
		      kinks, n);
	free(an);
	free((void *)g.x);
	free((void *)g.r);
}

Test(model, gradcheck_mlp_layernorm_tanh)
{
	int hidden[] = {7, 5};
	jm_model_spec s = {.type = "mlp", .hidden = hidden, .n_hidden = 2,
			   .act = JM_ACT_TANH, .norm = "layer"};
	jm_model *m = build(&s, 1, 3, 3, 4, 6);
	check_smooth_grads(m, 5, 11, 1e-3, 1e-2, 1e-3);
	jm_model_free(m);
}

Test(model, gradcheck_mlp_batchnorm_dropout_gelu)
{
	int hidden[] = {8, 6};
	jm_model_spec s = {.type = "mlp", .hidden = hidden, .n_hidden = 2,
			   .act = JM_ACT_GELU, .norm = "batch", .dropout = 0.3f};
	jm_model *m = build(&s, 1, 2, 5, 3, 8);
	check_smooth_grads(m, 7, 12, 1e-3, 1e-2, 1e-3);
	jm_model_free(m);
}

Test(model, gradcheck_mlp_sigmoid)
{
	int hidden[] = {9};
	jm_model_spec s = {.type = "mlp", .hidden = hidden, .n_hidden = 1,
			   .act = JM_ACT_SIGMOID};
	jm_model *m = build(&s, 2, 2, 2, 3, 4);
	check_smooth_grads(m, 4, 13, 1e-3, 1e-2, 1e-3);
	jm_model_free(m);
}

Test(model, gradcheck_cnn_residual_batchnorm)
{
	/* r3 after c3 has an identity skip whose input also feeds conv1
	 * (gradient fan-in); r5 a projection shortcut; batch norm in
	 * training mode; dropout with a fixed key */
	jm_model *m = build_cnn("c3 r3 p r5 gap d0.2 fc3", 1, 2, 6, 6, 3, 4);
	check_relu_grads(m, 4, 1, 1e-3, 2e-2, 2e-3);
	jm_model_free(m);
}

Test(model, gradcheck_cnn_no_batchnorm_pools)
{
	/* conv biases, a 5x5 kernel, average and max pooling, explicit
	 * flatten, a hidden fc with dropout */
	jm_model *m = build_cnn("c4/5 a r4 p r3 f fc6 d0.1", 0, 2, 8, 8, 3, 4);
	check_relu_grads(m, 4, 1, 1e-3, 2e-2, 2e-3);
	jm_model_free(m);
}

/* ------------------------------------------------ behaviour, determinism */


static float *copy_out(const float *p, size_t n)
{
	float *c = malloc(n * sizeof *c);
	memcpy(c, p, n * sizeof *c);
	return c;
}

/* A batch norm's ReLU done in its pass (model.c, fuse_bn_relu) gives the
 * same outputs and gradients, to the bit, as the two layers apart
 * (JIANMO_FUSE=0); for a CNN (conv, norm, ReLU; a residual block whose
 * second norm feeds the add, not a ReLU) and an MLP (BatchNorm1d). */
static void expect_fusion_changes_nothing(const jm_model_spec *s, int c, int h, int w, int k,
					  int fused)
{
	enum { B = 5 };
	float *out[2], *grad[2];
	size_t n = 0, bytes[2];
	for (int t = 0; t < 2; t++) {
		if (t == 0)
			setenv("JIANMO_FUSE", "0", 1);
		else
			unsetenv("JIANMO_FUSE");
		jm_model *m = build(s, c, h, w, k, B);
		cr_expect_eq(jm_model_n_fused(m), t ? fused : 0, "pairs fused (JIANMO_FUSE%s)",
			     t ? " unset" : "=0");
		bytes[t] = jm_model_memory_bytes(m);
		gc g;
		setup_check(m, B, 21, &g);
		n = jm_model_n_params(m);
		out[t] = copy_out(jm_model_forward(m, g.x, B, 0, 0), (size_t)B * k);
		grad[t] = copy_out(jm_model_grads(m), n);
		free((void *)g.x);
		free((void *)g.r);
		jm_model_free(m);
	}
	cr_expect_eq(memcmp(grad[0], grad[1], n * sizeof(float)), 0, "gradients differ");
	/* a fused ReLU keeps no buffers of its own */
	cr_expect_lt(bytes[1], bytes[0], "fused %zu bytes, apart %zu", bytes[1], bytes[0]);
	cr_expect_eq(memcmp(out[0], out[1], (size_t)B * k * sizeof(float)), 0,
		     "eval outputs differ");
	for (int t = 0; t < 2; t++)
		free(out[t]), free(grad[t]);
}

Test(model, batchnorm_relu_fused_changes_nothing)
{
	jm_model_spec cnn = {.type = "cnn", .layers = "c6 c6 p r8 gap fc5", .batchnorm = 1,
			     .act = JM_ACT_RELU};
	/* c6, c6 and the block's first norm: its second feeds the add */
	expect_fusion_changes_nothing(&cnn, 2, 8, 8, 5, 3);
	int hidden[] = {12, 7};
	jm_model_spec mlp = {.type = "mlp", .hidden = hidden, .n_hidden = 2,
			     .act = JM_ACT_RELU, .norm = "batch"};
	expect_fusion_changes_nothing(&mlp, 1, 4, 4, 3, 2);
}

Test(model, dropout_differs_between_training_and_eval)
{
	int hidden[] = {32};
	jm_model_spec s = {.type = "mlp", .hidden = hidden, .n_hidden = 1,
			   .act = JM_ACT_RELU, .dropout = 0.5f};
	jm_model *m = build(&s, 1, 4, 4, 3, 4);
	jm_model_init(m, 3, NULL);
	jm_rng r;
	jm_rng_seed(&r, 3);
	float *x = randv(&r, 4 * 16, -1, 1);
	size_t n = 4 * 3;
	float *e1 = copy_out(jm_model_forward(m, x, 4, 0, 0), n);
	float *e2 = copy_out(jm_model_forward(m, x, 4, 0, 99), n);
	float *t1 = copy_out(jm_model_forward(m, x, 4, 1, 5), n);
	float *t2 = copy_out(jm_model_forward(m, x, 4, 1, 5), n);
	float *t3 = copy_out(jm_model_forward(m, x, 4, 1, 6), n);
	cr_assert_arr_eq(e1, e2, n * sizeof *e1, "eval ignores the key");
	cr_assert_arr_eq(t1, t2, n * sizeof *t1, "same key, same mask");
	cr_assert(memcmp(t1, e1, n * sizeof *t1), "training applies dropout");
	cr_assert(memcmp(t1, t3, n * sizeof *t1), "another key, another mask");
	/* backward needs a training forward of the same batch */
	float *dl = randv(&r, n, -1, 1);
	jm_model_forward(m, x, 4, 0, 0);
	cr_assert_eq(jm_model_backward(m, dl, 4), -1);
	jm_model_forward(m, x, 4, 1, 0);
	cr_assert_eq(jm_model_backward(m, dl, 3), -1);
	cr_assert_eq(jm_model_backward(m, dl, 4), 0);
	cr_assert_null(jm_model_forward(m, x, 5, 1, 0));
	cr_assert_null(jm_model_forward(m, x, 0, 1, 0));
	free(e1), free(e2), free(t1), free(t2), free(t3), free(x), free(dl);
	jm_model_free(m);
}

Test(model, batchnorm_training_updates_running_stats)
{
	jm_model *m = build_cnn("c4 gap", 1, 1, 5, 5, 3, 6);
	jm_model_init(m, 4, NULL);
	jm_rng r;
	jm_rng_seed(&r, 4);
	float *x = randv(&r, 6 * 25, 0, 2);
	const jm_tensor_info *rm = tensor(m, "layers.1.running_mean");
	const jm_tensor_info *rv = tensor(m, "layers.1.running_var");
	float *buf = jm_model_buffers(m);
	size_t n = 6 * 3;
	float *e0 = copy_out(jm_model_forward(m, x, 6, 0, 0), n);
	for (size_t i = 0; i < 4; i++) {
		cr_assert_eq(buf[rm->offset + i], 0.0f, "eval leaves stats");
		cr_assert_eq(buf[rv->offset + i], 1.0f);
	}
	float *t = copy_out(jm_model_forward(m, x, 6, 1, 0), n);
	cr_assert(memcmp(t, e0, n * sizeof *t), "batch statistics differ");
	int moved = 0;
	for (size_t i = 0; i < 4; i++)
		moved += buf[rm->offset + i] != 0.0f && buf[rv->offset + i] != 1.0f;
	cr_assert_eq(moved, 4, "training updates running mean and var");
	float *e1 = copy_out(jm_model_forward(m, x, 6, 0, 0), n);
	cr_assert(memcmp(e1, e0, n * sizeof *e1), "eval uses the new stats");
	free(x), free(e0), free(t), free(e1);
	jm_model_free(m);
}

Test(model, init_is_deterministic_and_pytorch_like)
{
	jm_model *a = build_cnn("c8 r8 fc12 d0.1", 1, 3, 4, 4, 5, 2);
	jm_model *b = build_cnn("c8 r8 fc12 d0.1", 1, 3, 4, 4, 5, 2);
	size_t n = jm_model_n_params(a);
	jm_model_init(a, 42, NULL);
	jm_model_init(b, 42, NULL);
	cr_assert_arr_eq(jm_model_params(a), jm_model_params(b), n * sizeof(float));
	cr_assert_arr_eq(jm_model_buffers(a), jm_model_buffers(b),
			 jm_model_n_buffers(a) * sizeof(float));
	jm_model_init(b, 43, NULL);
	cr_assert(memcmp(jm_model_params(a), jm_model_params(b), n * sizeof(float)));

	/* bounds 1/sqrt(fan_in); the draws fill most of the range */
	const jm_tensor_info *w = tensor(a, "layers.0.weight");
	double bound = 1.0 / sqrt(3.0 * 9.0), maxabs = 0.0;
	for (size_t i = 0; i < w->numel; i++) {
		double v = fabs(jm_model_params(a)[w->offset + i]);
		cr_assert_leq(v, bound);
		if (v > maxabs)
			maxabs = v;
	}
	cr_assert_geq(maxabs, 0.8 * bound);
	/* layers.5 is Linear(8*4*4, 12), 6 ReLU, 7 Dropout, 8 the classifier */
	const jm_tensor_info *fc = tensor(a, "layers.5.bias");
	for (size_t i = 0; i < fc->numel; i++)
		cr_assert_leq(fabs(jm_model_params(a)[fc->offset + i]),
			      1.0 / sqrt(8.0 * 16.0));
	fc = tensor(a, "layers.8.weight");
	for (size_t i = 0; i < fc->numel; i++)
		cr_assert_leq(fabs(jm_model_params(a)[fc->offset + i]),
			      1.0 / sqrt(12.0));
	const jm_tensor_info *gam = tensor(a, "layers.3.bn1.weight");
	const jm_tensor_info *bet = tensor(a, "layers.3.bn1.bias");
	const jm_tensor_info *rv = tensor(a, "layers.3.bn2.running_var");
	for (int i = 0; i < 8; i++) {
		cr_assert_eq(jm_model_params(a)[gam->offset + i], 1.0f);
		cr_assert_eq(jm_model_params(a)[bet->offset + i], 0.0f);
		cr_assert_eq(jm_model_buffers(a)[rv->offset + i], 1.0f);
	}

	/* same inputs, bit-identical outputs and gradients */
	jm_model_init(b, 42, NULL);
	jm_rng r;
	jm_rng_seed(&r, 9);
	float *x = randv(&r, 2 * 48, -1, 1);
	float *dl = randv(&r, 2 * 5, -1, 1);
	jm_model *ms[2] = {a, b};
	for (int i = 0; i < 2; i++) {
		jm_model_zero_grad(ms[i]);
		jm_model_forward(ms[i], x, 2, 1, 77);
		jm_model_backward(ms[i], dl, 2);
	}
	float *ya = copy_out(jm_model_forward(a, x, 2, 0, 0), 10);
	float *yb = copy_out(jm_model_forward(b, x, 2, 0, 0), 10);
	cr_assert_arr_eq(ya, yb, 10 * sizeof(float));
	free(ya), free(yb);
	cr_assert_arr_eq(jm_model_grads(a), jm_model_grads(b), n * sizeof(float));
	free(x), free(dl);
	jm_model_free(a);
	jm_model_free(b);
}

Test(model, backward_accumulates_and_scales)
{
	jm_model *m = build_cnn("c3 r3 fc4", 1, 1, 4, 4, 4, 3);
	jm_model_init(m, 8, NULL);
	jm_rng r;
	jm_rng_seed(&r, 8);
	float *x = randv(&r, 3 * 16, -1, 1);
	float *dl = randv(&r, 3 * 4, -1, 1);
	size_t n = jm_model_n_params(m);
	jm_model_zero_grad(m);
	jm_model_forward(m, x, 3, 1, 1);
	jm_model_backward(m, dl, 3);
	float *once = copy_out(jm_model_grads(m), n);
	jm_model_forward(m, x, 3, 1, 1);
	jm_model_backward(m, dl, 3);
	jm_model_scale_grads(m, 0.5f);
	const float *g = jm_model_grads(m);
	for (size_t i = 0; i < n; i++)
		cr_assert_float_eq(g[i], once[i], 1e-6f + 1e-5f * fabsf(once[i]),
				   "grad %zu: %g vs %g", i, g[i], once[i]);
	jm_model_zero_grad(m);
	for (size_t i = 0; i < n; i++)
		cr_assert_eq(jm_model_grads(m)[i], 0.0f);
	free(once), free(x), free(dl);
	jm_model_free(m);
}

Test(model, micro_batches_sum_to_the_batch)
{
	/* gradient accumulation: backward over two halves of a batch adds up
	 * to backward over the whole batch (no batch norm: samples are
	 * independent) */
	jm_model *m = build_cnn("c4 r4 p fc3", 0, 1, 6, 6, 3, 4);
	jm_model_init(m, 21, NULL);
	jm_rng r;
	jm_rng_seed(&r, 21);
	float *x = randv(&r, 4 * 36, -1, 1), *dl = randv(&r, 4 * 3, -1, 1);
	size_t n = jm_model_n_params(m);
	jm_model_zero_grad(m);
	jm_model_forward(m, x, 4, 1, 0);
	jm_model_backward(m, dl, 4);
	float *whole = copy_out(jm_model_grads(m), n);
	jm_model_zero_grad(m);
	for (int h = 0; h < 2; h++) {
		jm_model_forward(m, x + h * 2 * 36, 2, 1, 0);
		jm_model_backward(m, dl + h * 2 * 3, 2);
	}
	const float *g = jm_model_grads(m);
	for (size_t i = 0; i < n; i++)
		cr_assert(fabsf(g[i] - whole[i]) <= 1e-5f + 1e-4f * fabsf(whole[i]),
			  "grad %zu: %g vs %g", i, g[i], whole[i]);
	free(whole), free(x), free(dl);
	jm_model_free(m);
}

Test(model, learns_a_tiny_problem)
{
	/* 32 random points, labels from a fixed random linear rule: an mlp
	 * with batch norm and Adam through the backend's cross-entropy must
	 * fit them (loss falls by 10x, accuracy 100% in eval mode) */
	int hidden[] = {16};
	jm_model_spec s = {.type = "mlp", .hidden = hidden, .n_hidden = 1,
			   .act = JM_ACT_RELU, .norm = "batch"};
	jm_model *m = build(&s, 1, 1, 4, 3, 32);
	jm_model_init(m, 2, NULL);
	jm_rng r;
	jm_rng_seed(&r, 2);
	float *x = randv(&r, 32 * 4, -1, 1), dl[32 * 3];
	int32_t y[32], correct = 0;
	for (int i = 0; i < 32; i++) {
		const float *xi = x + 4 * i;
		float s0 = xi[0] + xi[1], s1 = xi[2] - xi[3], s2 = -xi[0] + xi[3];
		y[i] = s0 > s1 ? (s0 > s2 ? 0 : 2) : (s1 > s2 ? 1 : 2);
	}
	jm_optim_spec os = {.kind = JM_OPT_ADAM, .beta1 = 0.9, .beta2 = 0.999,
			    .eps = 1e-8};
	jm_optim *o = NULL;
	cr_assert_eq(jm_optim_new(&o, be, &os, jm_model_n_params(m), NULL), 0);
	double first = 0.0, last = 0.0;
	for (int t = 0; t < 300; t++) {
		jm_model_zero_grad(m);
		float *logits = jm_model_forward(m, x, 32, 1, (uint64_t)t);
		last = be->xent(dl, NULL, NULL, logits, y, NULL, 32, 3, 0.0f);
		if (t == 0)
			first = last;
		jm_model_backward(m, dl, 32);
		jm_optim_step(o, jm_model_params(m), jm_model_grads(m), 0.02, -1.0);
	}
	cr_assert_lt(last, first / 10.0, "loss %g -> %g", first, last);
	float *logits = jm_model_forward(m, x, 32, 0, 0);
	be->xent(NULL, NULL, &correct, logits, y, NULL, 32, 3, 0.0f);
	cr_assert_eq(correct, 32);
	free(x);
	jm_optim_free(o);
	jm_model_free(m);
}

Test(model, free_accepts_null)
{
	jm_model_free(NULL);
}
