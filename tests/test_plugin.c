/*
 * test_plugin.c: operator plugins.  The loader finds, checks and refuses
 * plugins (one deliberately broken plugin per refusal, built by make check
 * into tests/plugins/broken/) and jianmo goes on without them; the swish
 * layer passes the gradient check built-in layers pass, trains inside a
 * model and, with a GPU, matches its CUDA kernels; rolling_zscore fits
 * on the training rows and replays from the saved state; `jianmo plugins`
 * and `jianmo --batch` with plugins, end to end.
 */
#include <criterion/criterion.h>
#include <libgen.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "data/csv.h"
#include "engine/backend.h"
#include "engine/model.h"
#include "gradcheck.h"
#include "pipeline/features.h"
#include "plugin/plugin.h"
#include "testutil.h"
#include "util/rng.h"
#include "frametest.h"

static char *tmp;

/* The build tree's test plugins: beside the binary under test. */
static const char *plugins_dir(const char *sub)
{
	static char buf[4][4096];
	static int k;
	char *bin = strdup(jt_bin());
	k = (k + 1) % 4;
	snprintf(buf[k], sizeof buf[k], "%s/tests/plugins/%s", dirname(bin), sub);
	free(bin);
	return buf[k];
}

/* Load from exactly these directories: no user or installed ones. */
static void use_path(const char *path)
{
	jm_plugins_reset();
	if (path)
		setenv("JIANMO_PLUGIN_PATH", path, 1);
	else
		unsetenv("JIANMO_PLUGIN_PATH");
	setenv("XDG_DATA_HOME", tmp, 1);
	jm_plugins_load();
}

static const jm_plugin_rec *rec_named(const char *file)
{
	for (int i = 0; i < jm_plugins_count(); i++) {
		const jm_plugin_rec *r = jm_plugins_get(i);
		const char *base = strrchr(r->path, '/');
		if (!strcmp(base ? base + 1 : r->path, file))
			return r;
	}
	return NULL;
}

static void setup(void)
{
	tmp = jt_tmpdir();
}

static void teardown(void)
{
	jm_plugins_reset();
	jt_rm_rf(tmp);
	free(tmp);
}

TestSuite(plugin, .init = setup, .fini = teardown, .timeout = 120);

/* ---- loading ------------------------------------------------------------ */

Test(plugin, loads_the_example)
{
	use_path(plugins_dir("examples"));
	const jm_plugin_rec *r = rec_named("swish.so");
	cr_assert(r, "swish.so not found in %s", plugins_dir("examples"));
	cr_assert(r->loaded, "refused: %s", r->reason ? r->reason : "");
	cr_assert_str_eq(r->name, "swish");
	cr_assert_str_eq(r->version, "1.0.0");
	const jm_plugin_op *op = jm_plugins_find("swish", JM_PLUGIN_OP_LAYER);
	cr_assert(op);
	cr_assert_eq(op->n_args, 1);
	cr_assert_str_eq(op->args[0].name, "beta");
	cr_assert_eq(op->plugin, r);
	cr_assert_null(jm_plugins_find("swish", JM_PLUGIN_OP_FEATURE));
}

/* Each broken plugin is refused with its file and reason, and the good
 * one beside it still loads. */
static void expect_refused(const char *file, const char *reason)
{
	char path[8192];
	snprintf(path, sizeof path, "%s:%s", plugins_dir("examples"), plugins_dir("broken"));
	use_path(path);
	const jm_plugin_rec *r = rec_named(file);
	cr_assert(r, "%s was not tried", file);
	cr_assert_not(r->loaded, "%s loaded", file);
	cr_assert(strstr(r->reason, reason), "%s: reason \"%s\" lacks \"%s\"", file, r->reason, reason);
	cr_assert(strstr(r->path, plugins_dir("broken")));
	cr_assert(jm_plugins_find("swish", JM_PLUGIN_OP_LAYER), "the good plugin did not load");
	cr_assert_eq(jm_plugins_find("swish", JM_PLUGIN_OP_LAYER)->plugin, rec_named("swish.so"));
}

Test(plugin, refuses_wrong_abi_version)
{
	expect_refused("bad_abi.so", "wrong ABI version 99 (this jianmo speaks version 1)");
	cr_assert_null(jm_plugins_find("bad_abi", JM_PLUGIN_OP_LAYER));
}

Test(plugin, refuses_unknown_struct_size)
{
	expect_refused("bad_size.so", "layer operator: struct size");
	cr_assert(strstr(rec_named("bad_size.so")->reason, "unknown to this jianmo"));
	cr_assert_null(jm_plugins_find("bad_size", JM_PLUGIN_OP_LAYER));
}

Test(plugin, refuses_failing_init)
{
	expect_refused("bad_init.so", "init failed: cannot open /nonexistent/weights.bin");
}

Test(plugin, refuses_missing_init_symbol)
{
	expect_refused("no_init.so", "no jm_plugin_init function");
	cr_assert_null(jm_plugins_find("no_init", JM_PLUGIN_OP_LAYER));
}

Test(plugin, refuses_duplicate_operator)
{
	expect_refused("zz_dup.so", "operator \"swish\" is already registered by ");
	cr_assert(strstr(rec_named("zz_dup.so")->reason, "/examples/swish.so"));
}

Test(plugin, refuses_what_is_not_a_shared_object)
{
	char *junk = jt_write(tmp, "junk.so", "this is not an ELF file, just text\n");
	char path[8192];
	snprintf(path, sizeof path, "%s:%s", plugins_dir("examples"), tmp);
	use_path(path);
	const jm_plugin_rec *r = rec_named("junk.so");
	cr_assert(r);
	cr_assert_not(r->loaded);
	cr_assert(strstr(r->reason, "cannot load: "), "%s", r->reason);
	cr_assert(strstr(r->reason, "ELF") || strstr(r->reason, "too short"), "%s", r->reason);
	cr_assert_str_eq(r->path, junk);
	cr_assert(jm_plugins_find("swish", JM_PLUGIN_OP_LAYER));
	free(junk);
}

Test(plugin, refused_operator_says_why)
{
	char path[8192], why[1024];
	snprintf(path, sizeof path, "%s:%s", plugins_dir("examples"), plugins_dir("broken"));
	use_path(path);
	jm_plugin_call c;
	cr_assert_eq(jm_plugin_parse_call("bad_abi(x=1)", JM_PLUGIN_OP_LAYER, &c, why, sizeof why), -1);
	cr_assert(strstr(why, "plugin operator \"bad_abi\" is unavailable: "), "%s", why);
	cr_assert(strstr(why, "bad_abi.so was refused: plugin info: wrong ABI version 99 (this jianmo speaks version 1)"), "%s", why);
	cr_assert_eq(jm_plugin_parse_call("nosuch", JM_PLUGIN_OP_LAYER, &c, why, sizeof why), -1);
	cr_assert(strstr(why, "unknown plugin operator \"nosuch\" (loaded: swish"), "%s", why);
}

Test(plugin, never_searches_the_current_directory_implicitly)
{
	char cwd[4096], cmd[8192];
	cr_assert(getcwd(cwd, sizeof cwd));
	snprintf(cmd, sizeof cmd, "cp '%s/swish.so' '%s/'", plugins_dir("examples"), tmp);
	cr_assert_eq(jt_sh(NULL, NULL, NULL, "%s", cmd), 0);
	cr_assert_eq(chdir(tmp), 0);
	use_path(NULL);
	cr_assert_null(jm_plugins_find("swish", JM_PLUGIN_OP_LAYER));
	use_path("");
	cr_assert_null(jm_plugins_find("swish", JM_PLUGIN_OP_LAYER));
	use_path("/nonexistent::/also-not");
	cr_assert_null(jm_plugins_find("swish", JM_PLUGIN_OP_LAYER));
	/* written explicitly, a relative entry is searched */
	use_path(".");
	cr_assert(jm_plugins_find("swish", JM_PLUGIN_OP_LAYER));
	cr_assert_eq(chdir(cwd), 0);
}

Test(plugin, user_directory)
{
	char cmd[8192];
	snprintf(cmd, sizeof cmd, "mkdir -p '%s/jianmo/plugins' && cp '%s/swish.so' '%s/jianmo/plugins/'",
		 tmp, plugins_dir("examples"), tmp);
	cr_assert_eq(jt_sh(NULL, NULL, NULL, "%s", cmd), 0);
	use_path(NULL); /* XDG_DATA_HOME = tmp */
	const jm_plugin_op *op = jm_plugins_find("swish", JM_PLUGIN_OP_LAYER);
	cr_assert(op);
	cr_assert(strstr(op->plugin->path, "/jianmo/plugins/swish.so"));
	int user = 0;
	for (int i = 0; i < jm_plugins_dir_count(); i++)
		user |= !strcmp(jm_plugins_dir(i)->origin, "user") && jm_plugins_dir(i)->exists;
	cr_assert(user);
}

Test(plugin, parses_arguments)
{
	use_path(plugins_dir("examples"));
	jm_plugin_call c;
	char why[1024];
	cr_assert_eq(jm_plugin_parse_call("swish", JM_PLUGIN_OP_LAYER, &c, why, sizeof why), 0, "%s", why);
	cr_assert_eq(c.args[0], 1.0);
	cr_assert_str_eq(c.text, "swish(beta=1)");
	cr_assert_eq(jm_plugin_parse_call("swish( beta = 1.5 )", JM_PLUGIN_OP_LAYER, &c, why, sizeof why), 0);
	cr_assert_eq(c.args[0], 1.5);
	static const struct {
		const char *text, *msg;
	} bad[] = {
		{"swish(beta=51)", "plugin:swish: beta: expected a number in [0, 50], got \"51\""},
		{"swish(beta=fast)", "beta: expected a number in [0, 50], got \"fast\""},
		{"swish(gamma=1)", "plugin:swish: unknown argument \"gamma\" (expected beta)"},
		{"swish(beta=1, beta=2)", "plugin:swish: beta given twice"},
		{"swish(beta)", "plugin:swish: expected name=value, got \"beta\""},
		{"swish(beta=1", "expected NAME(arg=value, ...) with a closing \")\""},
		{"Swish", "expected a plugin operator name"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		cr_assert_eq(jm_plugin_parse_call(bad[i].text, JM_PLUGIN_OP_LAYER, &c, why, sizeof why), -1,
			     "%s accepted", bad[i].text);
		cr_assert(strstr(why, bad[i].msg), "%s: \"%s\" lacks \"%s\"", bad[i].text, why, bad[i].msg);
	}
}

Test(plugin, splits_layer_strings_outside_parentheses)
{
	char buf[] = "c32, plugin:swish(beta=1, x=2)  p\tfc10";
	char *toks[8];
	cr_assert_eq(jm_plugin_split_layers(buf, toks, 8), 4);
	cr_assert_str_eq(toks[1], "plugin:swish(beta=1, x=2)");
	cr_assert_str_eq(toks[3], "fc10");
	char buf2[] = "a b c";
	cr_assert_eq(jm_plugin_split_layers(buf2, toks, 2), -1);
}

/* ---- layers ---------------------------------------------------------------- */

static float *randv(jm_rng *r, size_t n, float lo, float hi)
{
	float *v = malloc(n * sizeof *v);
	for (size_t i = 0; i < n; i++)
		v[i] = lo + (hi - lo) * (float)jm_rng_uniform(r);
	return v;
}

static const char *examples_and_extra(void)
{
	static char path[8192];
	snprintf(path, sizeof path, "%s:%s", plugins_dir("examples"), plugins_dir("extra"));
	return path;
}

static jm_model *build(const jm_backend *be, const jm_model_spec *s, int c, int h, int w, int k,
		       int batch)
{
	jm_err err = {0};
	jm_model *m = NULL;
	cr_assert_eq(jm_model_build(&m, be, s, c, h, w, k, batch, &err), 0, "build: %s", err.msg);
	return m;
}

/* The op alone: loss = sum(y * r); dx against central differences, with
 * the tolerances test_ops uses for the built-in activations. */
typedef struct op_ctx {
	const jm_plugin_call *call;
	jm_plugin_pass pass;
	float *x, *y, *r;
	size_t n;
} op_ctx;

static double op_loss(void *p)
{
	op_ctx *c = p;
	c->pass.x = c->x;
	c->pass.y = c->y;
	c->call->op->layer.forward(&c->pass);
	double s = 0;
	for (size_t i = 0; i < c->n; i++)
		s += (double)c->y[i] * c->r[i];
	return s;
}

Test(plugin, swish_gradcheck_like_builtin_activations)
{
	use_path(plugins_dir("examples"));
	static const char *const calls[] = {"swish", "swish(beta=1.5)", "swish(beta=0.3)", "swish(beta=7)"};
	for (size_t t = 0; t < sizeof calls / sizeof *calls; t++) {
		jm_plugin_call call;
		char why[512];
		cr_assert_eq(jm_plugin_parse_call(calls[t], JM_PLUGIN_OP_LAYER, &call, why, sizeof why), 0);
		jm_rng r;
		jm_rng_seed(&r, 3 + t);
		op_ctx c = {.call = &call, .n = 37};
		c.x = randv(&r, c.n, -3, 3);
		c.r = randv(&r, c.n, -1, 1);
		c.y = malloc(c.n * sizeof *c.y);
		c.pass = (jm_plugin_pass){JM_PLUGIN_HEADER(jm_plugin_pass), .args = call.args, .B = 1,
					  .in = {37, 1, 1}, .out = {37, 1, 1}, .training = 1};
		op_loss(&c);
		float *dx = malloc(c.n * sizeof *dx);
		jm_plugin_pass b = c.pass;
		b.dy = c.r;
		b.dx = dx;
		call.op->layer.backward(&b);
		cr_assert_eq(jt_gradcheck("swish dx", op_loss, &c, c.x, c.n, dx, 1e-3, 5e-3, 5e-4), 0,
			     "%s", calls[t]);
		free(c.x), free(c.r), free(c.y), free(dx);
	}
}

typedef struct gc {
	jm_model *m;
	const float *x, *r;
	int B;
} gc;

static double gc_loss(void *ctx)
{
	gc *g = ctx;
	float *logits = jm_model_forward(g->m, g->x, g->B, 1, 5);
	double s = 0;
	for (size_t i = 0; i < (size_t)g->B * jm_model_n_classes(g->m); i++)
		s += (double)logits[i] * g->r[i];
	return s;
}

/* Every parameter's gradient against central differences, through the
 * plugin layers' backward. */
static void check_model_grads(jm_model *m, int B, uint64_t seed)
{
	jm_rng r;
	jm_rng_seed(&r, seed);
	cr_assert_eq(jm_model_init(m, seed, NULL), 0);
	gc g = {.m = m, .B = B, .x = randv(&r, (size_t)B * jm_model_input_size(m), -1, 1),
		.r = randv(&r, (size_t)B * jm_model_n_classes(m), -1, 1)};
	jm_model_zero_grad(m);
	cr_assert(jm_model_forward(m, g.x, B, 1, 5));
	cr_assert_eq(jm_model_backward(m, g.r, B), 0);
	size_t n = jm_model_n_params(m);
	float *an = malloc(n * sizeof *an);
	memcpy(an, jm_model_grads(m), n * sizeof *an);
	size_t bad = jt_gradcheck("params", gc_loss, &g, jm_model_params(m), n, an, 1e-3, 1e-2, 1e-3);
	cr_assert_eq(bad, 0, "%zu of %zu parameter gradients differ", bad, n);
	free(an);
	free((void *)g.x);
	free((void *)g.r);
}

Test(plugin, model_gradcheck_with_plugin_layers)
{
	use_path(examples_and_extra());
	/* an image model: plugin layers between convs and pools (no relu:
	 * tanh convs keep it smooth), one with parameters */
	jm_model_spec s = {.type = "cnn", .batchnorm = 0, .act = JM_ACT_TANH,
			   .layers = "c3 plugin:swish(beta=1.5) plugin:chscale(spread=0.3), a, c4 f "
				     "plugin:chscale fc5 plugin:swish fc3"};
	jm_model *m = build(&jm_backend_cpu, &s, 2, 6, 6, 3, 4);
	/* layers.0 Conv2d, .1 Tanh, .2 swish, .3 chscale */
	cr_assert_geq(jm_model_find_tensor(m, "layers.3.weight"), 0);
	cr_assert_geq(jm_model_find_tensor(m, "layers.3.bias"), 0);
	cr_assert_eq(jm_model_tensor(m, jm_model_find_tensor(m, "layers.3.weight"))->shape[0], 3);
	check_model_grads(m, 4, 21);
	jm_model_free(m);
	/* an mlp whose activation is the plugin */
	int hidden[] = {7, 5};
	jm_model_spec ms = {.type = "mlp", .hidden = hidden, .n_hidden = 2,
			    .act_plugin = "plugin:swish(beta=2)"};
	m = build(&jm_backend_cpu, &ms, 1, 3, 3, 4, 6);
	check_model_grads(m, 5, 22);
	jm_model_free(m);
}

Test(plugin, plugin_init_uses_the_seed_and_spares_the_rest)
{
	use_path(examples_and_extra());
	jm_model_spec a = {.type = "cnn", .batchnorm = 0, .layers = "c4 plugin:chscale fc3"};
	jm_model_spec b = {.type = "cnn", .batchnorm = 0, .layers = "c4 fc3"};
	jm_model *ma = build(&jm_backend_cpu, &a, 1, 4, 4, 3, 2);
	jm_model *mb = build(&jm_backend_cpu, &b, 1, 4, 4, 3, 2);
	jm_model *mc = build(&jm_backend_cpu, &a, 1, 4, 4, 3, 2);
	cr_assert_eq(jm_model_init(ma, 9, NULL), 0);
	cr_assert_eq(jm_model_init(mb, 9, NULL), 0);
	cr_assert_eq(jm_model_init(mc, 9, NULL), 0);
	/* the conv draws the same numbers with or without the plugin layer */
	const jm_tensor_info *wa = jm_model_tensor(ma, jm_model_find_tensor(ma, "layers.0.weight"));
	cr_assert_eq(memcmp(jm_model_params(ma) + wa->offset, jm_model_params(mb) + wa->offset,
			    wa->numel * sizeof(float)), 0);
	cr_assert_eq(memcmp(jm_model_params(ma), jm_model_params(mc),
			    jm_model_n_params(ma) * sizeof(float)), 0);
	const jm_tensor_info *w = jm_model_tensor(ma, jm_model_find_tensor(ma, "layers.2.weight"));
	const float *pw = jm_model_params(ma) + w->offset;
	int differs = 0;
	for (size_t i = 0; i < w->numel; i++) {
		cr_assert(pw[i] >= 0.5f && pw[i] <= 1.5f, "weight %zu = %g", i, (double)pw[i]);
		differs |= pw[i] != 1.0f;
	}
	cr_assert(differs, "the plugin's init did not run");
	jm_model_free(ma);
	jm_model_free(mb);
	jm_model_free(mc);
}

Test(plugin, swish_beta_1_equals_builtin_silu)
{
	use_path(plugins_dir("examples"));
	jm_model_spec p = {.type = "cnn", .batchnorm = 1, .act_plugin = "plugin:swish(beta=1)",
			   .layers = "c4 p c6 fc8 fc3"};
	jm_model_spec q = {.type = "cnn", .batchnorm = 1, .act = JM_ACT_SILU,
			   .layers = "c4 p c6 fc8 fc3"};
	jm_model *mp = build(&jm_backend_cpu, &p, 1, 6, 6, 3, 4);
	jm_model *mq = build(&jm_backend_cpu, &q, 1, 6, 6, 3, 4);
	cr_assert_eq(jm_model_n_params(mp), jm_model_n_params(mq));
	cr_assert_eq(jm_model_n_tensors(mp), jm_model_n_tensors(mq));
	for (int i = 0; i < jm_model_n_tensors(mp); i++)
		cr_assert_str_eq(jm_model_tensor(mp, i)->name, jm_model_tensor(mq, i)->name);
	jm_model_init(mp, 4, NULL);
	jm_model_init(mq, 4, NULL);
	jm_rng r;
	jm_rng_seed(&r, 8);
	float *x = randv(&r, 4 * 36, -1, 1), *d = randv(&r, 4 * 3, -1, 1);
	float *lp = jm_model_forward(mp, x, 4, 1, 1), *lq = jm_model_forward(mq, x, 4, 1, 1);
	for (int i = 0; i < 12; i++)
		cr_assert_float_eq(lp[i], lq[i], 1e-5, "logit %d", i);
	jm_model_zero_grad(mp);
	jm_model_zero_grad(mq);
	jm_model_backward(mp, d, 4);
	jm_model_backward(mq, d, 4);
	for (size_t i = 0; i < jm_model_n_params(mp); i++)
		cr_assert_float_eq(jm_model_grads(mp)[i], jm_model_grads(mq)[i],
				   1e-5 + 1e-4 * fabsf(jm_model_grads(mq)[i]), "grad %zu", i);
	free(x);
	free(d);
	jm_model_free(mp);
	jm_model_free(mq);
}

Test(plugin, model_errors_name_the_token)
{
	char path[8192];
	snprintf(path, sizeof path, "%s:%s", plugins_dir("examples"), plugins_dir("broken"));
	use_path(path);
	static const struct {
		const char *layers, *msg;
	} bad[] = {
		{"c4 plugin:nosuch fc3",
		 "[model] layers: token 2 \"plugin:nosuch\": unknown plugin operator \"nosuch\""},
		{"c4 plugin:swish(beta=-1) fc3",
		 "[model] layers: token 2 \"plugin:swish(beta=-1)\": plugin:swish: beta: expected a "
		 "number in [0, 50], got \"-1\""},
		{"c4 plugin:bad_init fc3", "was refused: init failed: cannot open /nonexistent"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		jm_model_spec s = {.type = "cnn", .layers = bad[i].layers};
		jm_err err = {0};
		jm_model *m = NULL;
		cr_assert_eq(jm_model_build(&m, &jm_backend_cpu, &s, 1, 6, 6, 3, 4, &err), -1);
		cr_assert_eq(err.code, JM_EXIT_INPUT);
		cr_assert(strstr(err.msg, bad[i].msg), "\"%s\" lacks \"%s\"", err.msg, bad[i].msg);
	}
}

/* A device backend needs the layer's CUDA kernels from NAME-cuda.so. */
Test(plugin, device_backend_needs_the_cuda_object)
{
	use_path(examples_and_extra());
	jm_backend fake = jm_backend_cpu;
	fake.name = "cuda-test";
	jm_model_spec s = {.type = "cnn", .layers = "c4 plugin:chscale fc3"};
	jm_err err = {0};
	jm_model *m = NULL;
	cr_assert_eq(jm_model_build(&m, &fake, &s, 1, 6, 6, 3, 4, &err), -1);
	cr_assert(strstr(err.msg, "plugin:chscale: no CUDA kernels: "), "%s", err.msg);
	cr_assert(strstr(err.msg, "/extra/chscale-cuda.so not found, so it cannot run on cuda-test "
			 "(use --device cpu)"), "%s", err.msg);
}

/* An operator whose infer gives a shape the host cannot use is refused as
 * one that says no itself: an input error (the flow's line is added by
 * the runner), saying what is wrong. */
Test(plugin, infer_that_gives_an_unusable_shape_is_refused)
{
	use_path(examples_and_extra());
	static const struct {
		const char *layers, *says;
	} cases[] = {
		{"c4 plugin:chscale(bad=1) fc3", "its infer gave an output of 0x6x6 for an input of "
						 "4x6x6; channels, height and width must each be"},
		{"c4 plugin:chscale(bad=2) fc3", "its infer gave an output of 1048576x64x64, over"},
		{"c4 plugin:chscale(bad=3) fc3", "its infer declared 5 parameter tensors; a layer has "
						 "0 to 4"},
		{"c4 plugin:chscale(bad=4) fc3", "its infer declared parameter tensor 2 \"bias\" with 0 "
						 "dimensions"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		jm_model_spec s = {.type = "cnn", .layers = cases[i].layers};
		jm_err err = {0};
		jm_model *m = NULL;
		cr_assert_eq(jm_model_build(&m, &jm_backend_cpu, &s, 1, 6, 6, 3, 4, &err), -1);
		cr_expect_eq(err.code, JM_EXIT_INPUT, "%s", err.msg);
		cr_expect(strstr(err.msg, "plugin:chscale: ") && strstr(err.msg, cases[i].says),
			  "%s", err.msg);
	}
}

/* swish's CUDA kernels against its CPU code (needs a GPU). */
Test(plugin, swish_cuda_parity)
{
	const jm_backend *gpu = NULL;
	char note[256], why[1024], module[4096];
	/* the module as jianmo finds it: beside the binary under test */
	snprintf(module, sizeof module, "%s", jt_bin());
	char *slash = strrchr(module, '/');
	if (slash && !getenv("JIANMO_CUDA_MODULE")) {
		snprintf(slash + 1, sizeof module - (size_t)(slash + 1 - module), "jianmo-cuda.so");
		setenv("JIANMO_CUDA_MODULE", module, 1);
	}
	if (jm_backend_for_device("cuda", &gpu, note, sizeof note, why, sizeof why) < 0) {
		if (getenv("JIANMO_REQUIRE_GPU")) /* the device machine: no silent skips */
			cr_assert_fail("no CUDA device, and JIANMO_REQUIRE_GPU is set: %s", why);
		cr_skip_test("SKIPPED: no CUDA device (%s)", why);
	}
	use_path(plugins_dir("examples"));
	jm_plugin_call call;
	cr_assert_eq(jm_plugin_parse_call("swish(beta=1.7)", JM_PLUGIN_OP_LAYER, &call, why, sizeof why), 0);
	const jm_plugin_layer_cuda *k = jm_plugin_cuda_layer(call.op, why, sizeof why);
	cr_assert(k, "%s", why);
	size_t n = 3 * 1002;
	jm_rng r;
	jm_rng_seed(&r, 2);
	float *x = randv(&r, n, -6, 6), *dy = randv(&r, n, -1, 1);
	float *y = malloc(n * sizeof *y), *dx = malloc(n * sizeof *dx);
	float *gy = malloc(n * sizeof *gy), *gdx = malloc(n * sizeof *gdx);
	float *dx_ = gpu->alloc(n * 4), *dy_ = gpu->alloc(n * 4), *dxx = gpu->alloc(n * 4),
	      *dyy = gpu->alloc(n * 4);
	gpu->to_device(dx_, x, n * 4);
	gpu->to_device(dy_, dy, n * 4);
	jm_plugin_pass p = {JM_PLUGIN_HEADER(jm_plugin_pass), .args = call.args, .B = 3,
			    .in = {1002, 1, 1}, .out = {1002, 1, 1}, .training = 1};
	jm_plugin_pass c = p, g = p;
	c.x = x, c.y = y, c.dy = dy, c.dx = dx;
	call.op->layer.forward(&c);
	call.op->layer.backward(&c);
	g.x = dx_, g.y = dyy, g.dy = dy_, g.dx = dxx;
	g.stream = gpu->native_stream ? gpu->native_stream() : NULL;
	k->forward(&g);
	k->backward(&g);
	cr_assert_eq(gpu->sync(why, sizeof why), 0, "%s", why);
	gpu->to_host(gy, dyy, n * 4);
	gpu->to_host(gdx, dxx, n * 4);
	for (size_t i = 0; i < n; i++) {
		cr_assert_float_eq(gy[i], y[i], 1e-5 + 1e-5 * fabsf(y[i]), "y %zu", i);
		cr_assert_float_eq(gdx[i], dx[i], 1e-5 + 1e-5 * fabsf(dx[i]), "dx %zu", i);
	}
	gpu->free(dx_), gpu->free(dy_), gpu->free(dxx), gpu->free(dyy);
	free(x), free(dy), free(y), free(dx), free(gy), free(gdx);
}

/* ---- features ------------------------------------------------------------------ */

Test(plugin, rolling_zscore_fits_on_train_and_replays)
{
	use_path(plugins_dir("examples"));
	jm_features fs;
	jm_err err = {0};
	jm_features_init(&fs);
	cr_assert_eq(jm_features_parse(&fs, "plugin", "rolling_zscore(window=2): a, b", &err), 0, "%s",
		     err.msg);
	cr_assert_eq(jm_features_parse(&fs, "standardize", "a_rzscore", &err), 0, "%s", err.msg);
	/* train: a = 1 2 3 4 (mean 2.5, std sqrt(1.25)); b has a gap */
	jm_frame *tr = table("a,b,y\n1,10,0\n2,,1\n3,30,0\n4,40,1\n");
	cr_assert_eq(jm_features_fit_apply(&fs, tr, &err), 0, "%s", err.msg);
	double sd = sqrt(1.25);
	/* row 0: no history, the training mean; row 3: mean of 2 and 3 */
	cr_assert_float_eq(num(tr, "b_rzscore", 0), (10 - 26.666666666666668) / sqrt(155.55555555555554),
			   1e-9);
	cr_assert(isnan(num(tr, "b_rzscore", 1)));
	cr_assert_float_eq(num(tr, "b_rzscore", 3), (40 - 30) / sqrt(155.55555555555554), 1e-9);
	jm_frame *te = table("a,b,y\n10,5,0\n12,5,1\n");
	cr_assert_eq(jm_features_apply(&fs, te, &err), 0, "%s", err.msg);
	/* the test part uses the training mean and std, not its own */
	double z0 = (10 - 2.5) / sd, z1 = (12 - 10) / sd;
	double m_tr = 0, v_tr = 0, ztr[4] = {(1 - 2.5) / sd, (2 - 1) / sd, (3 - 1.5) / sd, (4 - 2.5) / sd};
	for (int i = 0; i < 4; i++)
		m_tr += ztr[i] / 4;
	for (int i = 0; i < 4; i++)
		v_tr += (ztr[i] - m_tr) * (ztr[i] - m_tr) / 4;
	cr_assert_float_eq(num(te, "a_rzscore", 0), (z0 - m_tr) / sqrt(v_tr), 1e-9);
	cr_assert_float_eq(num(te, "a_rzscore", 1), (z1 - m_tr) / sqrt(v_tr), 1e-9);
	/* saved and loaded, the state gives the same numbers */
	char *buf = NULL;
	size_t len = 0;
	FILE *mem = open_memstream(&buf, &len);
	cr_assert_eq(jm_features_save(&fs, mem, &err), 0, "%s", err.msg);
	fclose(mem);
	cr_assert(strstr(buf, "plugin \"rolling_zscore(window=2)\" \""), "%s", buf);
	jm_features back;
	mem = fmemopen(buf, len, "r");
	cr_assert_eq(jm_features_load(&back, mem, &err), 0, "%s", err.msg);
	fclose(mem);
	jm_frame *te2 = table("a,b,y\n10,5,0\n12,5,1\n");
	cr_assert_eq(jm_features_apply(&back, te2, &err), 0, "%s", err.msg);
	for (int i = 0; i < 2; i++)
		cr_assert_eq(num(te2, "a_rzscore", i), num(te, "a_rzscore", i));
	jm_features_free(&back);
	jm_features_free(&fs);
	jm_frame_free(tr);
	jm_frame_free(te);
	jm_frame_free(te2);
	free(buf);
}

Test(plugin, feature_rule_errors)
{
	use_path(plugins_dir("examples"));
	static const struct {
		const char *value, *msg;
	} bad[] = {
		{"rolling_zscore(window=0): a", "plugin: plugin:rolling_zscore: window: expected an integer "
						"in [1, 100000], got \"0\""},
		{"rolling_zscore(window=2.5): a", "window: expected an integer in [1, 100000]"},
		{"rolling_zscore", "plugin: expected NAME(arg=value, ...): columns, got \"rolling_zscore\""},
		{"swish: a", "plugin: plugin operator \"swish\" is a layer, not a feature"},
		{"nosuch(x=1): a", "plugin: unknown plugin operator \"nosuch\" (loaded: rolling_zscore"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		jm_features fs;
		jm_err err = {0};
		jm_features_init(&fs);
		cr_assert_eq(jm_features_parse(&fs, "plugin", bad[i].value, &err), -1, "%s", bad[i].value);
		cr_assert(strstr(err.msg, bad[i].msg), "\"%s\" lacks \"%s\"", err.msg, bad[i].msg);
		jm_features_free(&fs);
	}
}

Test(plugin, penguins_zscore_flow_trains)
{
	char *out = NULL, *err = NULL, args[8192];
	snprintf(args, sizeof args, "--batch examples/penguins-zscore.flow --set train.epochs=2");
	int rc = jt_sh(jt_srcdir(), &out, &err,
		       "JIANMO_PLUGIN_PATH='%s' XDG_DATA_HOME='%s' '%s' --home '%s/home' %s",
		       plugins_dir("examples"), tmp, jt_bin(), tmp, args);
	cr_assert_eq(rc, 0, "exit %d\n%s\n%s", rc, out, err);
	free(out), free(err);
	rc = jt_sh(NULL, &out, &err, "cat '%s'/home/runs/*/features.state", tmp);
	cr_assert_eq(rc, 0, "%s", err);
	cr_assert(strstr(out, "plugin \"rolling_zscore(window=5)\" \""), "%s", out);
	free(out), free(err);
	/* --rerun replays with the saved state */
	rc = jt_sh(jt_srcdir(), &out, &err,
		   "JIANMO_PLUGIN_PATH='%s' XDG_DATA_HOME='%s' '%s' --home '%s/home' --batch --rerun 1",
		   plugins_dir("examples"), tmp, jt_bin(), tmp);
	cr_assert_eq(rc, 0, "exit %d\n%s\n%s", rc, out, err);
	free(out), free(err);
}

/* ---- the command line ----------------------------------------------------- */

Test(plugin, cli_lists_loaded_and_refused)
{
	char *out = NULL, *err = NULL;
	int rc = jt_sh(tmp, &out, &err, "JIANMO_PLUGIN_PATH='%s:%s' XDG_DATA_HOME='%s' '%s' plugins",
		   plugins_dir("examples"), plugins_dir("broken"), tmp, jt_bin());
	cr_assert_eq(rc, 0, "%s", err);
	cr_assert(strstr(out, "directories searched:\n"), "%s", out);
	cr_assert(strstr(out, "(JIANMO_PLUGIN_PATH)"), "%s", out);
	cr_assert(strstr(out, "(user, absent)"), "%s", out);
	cr_assert(strstr(out, "loaded: 2\n"), "%s", out);
	cr_assert(strstr(out, "\n  swish 1.0.0  "), "%s", out);
	cr_assert(strstr(out, "    feature rolling_zscore(window=7 [1, 100000] integer)\n"), "%s", out);
	cr_assert(strstr(out, "    layer   plugin:swish(beta=1 [0, 50])\n"), "%s", out);
	cr_assert(strstr(out, "refused: 5\n"), "%s", out);
	cr_assert(strstr(out, "/broken/bad_abi.so: plugin info: wrong ABI version 99"), "%s", out);
	cr_assert_str_eq(err, "", "plugins warned: %s", err);
	free(out);
	free(err);
	rc = jt_sh(tmp, &out, &err, "JIANMO_PLUGIN_PATH='%s' XDG_DATA_HOME='%s' '%s' plugins --json",
		   plugins_dir("examples"), tmp, jt_bin());
	cr_assert_eq(rc, 0);
	cr_assert(strstr(out, "\"name\":\"swish\",\"version\":\"1.0.0\""), "%s", out);
	cr_assert(strstr(out, "\"args\":[{\"name\":\"beta\",\"default\":1,\"min\":0,\"max\":50"), "%s", out);
	free(out);
	free(err);
}

/* ---- flows, end to end ------------------------------------------------------- */

#define NEED_FMNIST()                                                                    \
	do {                                                                             \
		if (!jt_fmnist_dir())                                                    \
			cr_skip_test("SKIPPED: Fashion-MNIST not installed "             \
				     "(apt-get install dataset-fashion-mnist)");         \
	} while (0)

/* jianmo with the example plugins and the broken ones on the path. */
static int jianmo_with_plugins(char **out, char **err, const char *args)
{
	return jt_sh(tmp, out, err,
		     "JIANMO_PLUGIN_PATH='%s:%s:%s' XDG_DATA_HOME='%s' '%s' --home '%s/home' %s",
		     plugins_dir("examples"), plugins_dir("extra"), plugins_dir("broken"), tmp,
		     jt_bin(), tmp, args);
}

Test(plugin, swish_flow_trains_beside_refused_plugins)
{
	NEED_FMNIST();
	char *out = NULL, *err = NULL, args[8192];
	snprintf(args, sizeof args,
		 "--batch '%s/examples/swish.flow' --device cpu --set data.limit=512 "
		 "--set data.test_limit=256 --set train.epochs=1 --set train.batch=64",
		 jt_srcdir());
	int rc = jianmo_with_plugins(&out, &err, args);
	cr_assert_eq(rc, 0, "exit %d\n%s\n%s", rc, out, err);
	/* each refusal once, as a warning; the run went on */
	cr_assert(strstr(err, "jianmo: plugin "), "%s", err);
	cr_assert(strstr(err, "/broken/bad_abi.so: plugin info: wrong ABI version 99"), "%s", err);
	cr_assert(strstr(err, "/broken/zz_dup.so: operator \"swish\" is already registered by "),
		  "%s", err);
	free(out), free(err);
	rc = jianmo_with_plugins(&out, &err, "runs");
	cr_assert_eq(rc, 0, "%s", err);
	cr_assert(strstr(out, "done"), "%s", out);
	free(out), free(err);
}

Test(plugin, flow_errors_name_the_line_and_the_operator)
{
	static const struct {
		const char *model, *msg;
	} bad[] = {
		{"type = cnn\nlayers = c8 p plugin:nosuch fc10\n",
		 "bad.flow:5: [model] layers: token 3 \"plugin:nosuch\": unknown plugin operator "
		 "\"nosuch\" (loaded: swish, chscale; see jianmo plugins)"},
		{"type = cnn\nlayers = c8 plugin:swish(beta=99) fc10\n",
		 "bad.flow:5: [model] layers: token 2 \"plugin:swish(beta=99)\": plugin:swish: beta: "
		 "expected a number in [0, 50], got \"99\""},
		{"type = mlp\nact = plugin:swish(gamma=2)\n",
		 "bad.flow:5: [model] act: plugin:swish: unknown argument \"gamma\" (expected beta)"},
		{"type = cnn\nlayers = c8 plugin:bad_abi fc10\n",
		 "[model] layers: token 2 \"plugin:bad_abi\": plugin operator \"bad_abi\" is "
		 "unavailable: "},
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		char text[512];
		snprintf(text, sizeof text, "[data]\nlimit = 64\n[model]\n%s", bad[i].model);
		/* [model] is line 3 of the flow: the key at fault is on line 5 */
		free(jt_write(tmp, "bad.flow", text));
		char *out = NULL, *err = NULL;
		int rc = jianmo_with_plugins(&out, &err, "--batch bad.flow");
		cr_assert_eq(rc, 2, "case %zu: exit %d: %s", i, rc, err);
		cr_assert(strstr(err, bad[i].msg), "case %zu: \"%s\" lacks \"%s\"", i, err, bad[i].msg);
		free(out), free(err);
	}
}

Test(plugin, a_run_without_plugins_never_loads_them)
{
	NEED_FMNIST();
	free(jt_write(tmp, "plain.flow",
		      "[data]\nlimit = 256\ntest_limit = 128\n[model]\nhidden = 16\n"
		      "[train]\nepochs = 1\nbatch = 64\ndevice = cpu\n"));
	char *out = NULL, *err = NULL;
	int rc = jianmo_with_plugins(&out, &err, "--batch plain.flow");
	cr_assert_eq(rc, 0, "%s", err);
	cr_assert_null(strstr(err, "plugin"), "%s", err);
	free(out), free(err);
}

/* swish's CUDA passes go through the backend's native_call, so a step with
 * them is still replayed as CUDA graphs, and trains as without them. */
Test(plugin, swish_trains_the_same_with_cuda_graphs, .timeout = 600)
{
	char why[1024], module[4096];
	snprintf(module, sizeof module, "%s", jt_bin());
	char *slash = strrchr(module, '/');
	if (slash && !getenv("JIANMO_CUDA_MODULE")) {
		snprintf(slash + 1, sizeof module - (size_t)(slash + 1 - module), "jianmo-cuda.so");
		setenv("JIANMO_CUDA_MODULE", module, 1);
	}
	if (jm_backend_check_device("cuda", why, sizeof why) < 0) {
		if (getenv("JIANMO_REQUIRE_GPU"))
			cr_assert_fail("no CUDA device, and JIANMO_REQUIRE_GPU is set: %s", why);
		cr_skip_test("SKIPPED: no CUDA device (%s)", why);
	}
	if (!jt_fmnist_dir())
		cr_skip_test("SKIPPED: Fashion-MNIST not installed");
	char *runs[2];
	for (int graphs = 0; graphs < 2; graphs++) {
		char *err = NULL;
		int rc = jt_sh(tmp, &runs[graphs], &err,
			       "JIANMO_CUDA_GRAPHS=%d JIANMO_PLUGIN_PATH='%s' XDG_DATA_HOME='%s' '%s' "
			       "--home '%s/home%d' --batch '%s/examples/swish.flow' --device cuda "
			       "--set data.limit=4096 --set train.epochs=2 --json > run.json; s=$?; "
			       "grep -h 'CUDA graph' run.json; grep '\"event\":\"epoch\"' run.json | "
			       "sed 's/,\"samples_per_s\".*//'; exit $s",
			       graphs, plugins_dir("examples"), tmp, jt_bin(), tmp, graphs,
			       jt_srcdir()); /* a store each: both run 1 */
		cr_assert_eq(rc, 0, "the run failed (%d): %s", rc, err);
		free(err);
	}
	cr_expect(strstr(runs[1], "steps replayed as"), "%s", runs[1]);
	/* the epochs, after the notes (which differ) */
	const char *a = strstr(runs[0], "{\"event\":\"epoch\""),
		   *b = strstr(runs[1], "{\"event\":\"epoch\"");
	cr_assert(a && b, "no epochs:\n%s\n%s", runs[0], runs[1]);
	cr_expect_str_eq(b, a, "swish with graphs and without");
	free(runs[0]), free(runs[1]);
}
