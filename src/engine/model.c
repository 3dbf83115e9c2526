/*
 * model.c: build a layer list from a spec, carve its flat buffers, and run
 * forward and backward through the backend table.
 *
 * Building walks the spec once with a builder that tracks the current
 * activation (id and shape) and appends primitive layers:
 *
 *   spec ──parse──▶ groups (PyTorch modules, "layers.N")
 *                      └─▶ layers (primitive ops: conv, bn, act, add, ...)
 *                             ├─▶ tensors (params / buffers, with offsets)
 *                             └─▶ activations (offsets into the arena)
 *
 * Each layer reads activation `in` (and `in2` for the residual add) and
 * writes activation `out`; activation 0 is the model input, owned by the
 * caller.  Flatten writes nothing: its output IS its input activation.
 * Backward walks the layers in reverse.  An activation read by two layers
 * (the residual block's input) gets its gradient from both: the first
 * consumer processed writes it, later ones write to scratch and
 * be->accumulate it in.
 */
#include "engine/model.h"

#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugin/plugin.h"
#include "util/rng.h"

enum {
	L_LINEAR, L_CONV, L_BN, L_LN, L_ACT, L_DROPOUT, L_MAXPOOL, L_AVGPOOL,
	L_GAP, L_FLATTEN, L_ADD, L_PLUGIN,
};

/* INIT_PLUGIN: the plugin's init fills the tensor (jm_model_init). */
enum { INIT_UNIFORM, INIT_ONE, INIT_ZERO, INIT_PLUGIN };

#define MAX_UNITS 65536    /* channels or units of one layer */
#define MAX_TOKENS 256     /* tokens of a layer string */
#define MAX_KERNEL 11
#define BN_MOMENTUM 0.1f
#define NORM_EPS 1e-5f

typedef struct layer {
	int kind;
	int group;          /* top-level module it belongs to */
	char name[48];      /* tensor name prefix, e.g. "layers.4.conv1" */
	int in, in2, out;   /* activation ids (in2: second add input) */
	int c, h, w;        /* input shape per sample */
	int oc, oh, ow;     /* output shape per sample */
	int k, pad;         /* conv kernel or pool window (pool stride = k) */
	int act;            /* JM_ACT_* */
	float p;            /* dropout probability */
	int wt, bt;         /* weight/gamma and bias/beta tensors, or -1 */
	int rmt, rvt;       /* running mean/var tensors, or -1 */
	size_t stat_off;    /* floats into the stats region: mean, then rstd */
	size_t argmax_off;  /* int32 elements into the argmax region */
	uint64_t key;       /* dropout key of the last training forward */
	int plug;           /* L_PLUGIN: index into plugs; its scratch is at
			       stat_off, its tensors pt[0..npt) */
	int relu;           /* L_BN: the ReLU after it is done in its pass */
	int fused;          /* L_ACT: done by the batch norm before it */
	int pt[JM_PLUGIN_MAX_PARAMS], npt;
} layer;

typedef struct activation {
	size_t off;         /* floats into acts / dacts */
	size_t size;        /* floats per sample */
} activation;

typedef struct group {
	char desc[48];      /* "Conv2d(1, 32, 3x3, no bias)" */
	int c, h, w, flat;  /* output shape */
	size_t n_params;
} group;

typedef struct tensor_init {
	int rule;           /* INIT_* */
	double bound;       /* INIT_UNIFORM: U(-bound, bound) */
} tensor_init;

struct jm_model {
	const jm_backend *be;
	int in_c, in_h, in_w, n_classes, max_batch;

	layer *layers;
	int n_layers;
	activation *acts_tab;
	int n_acts;
	group *groups;
	int n_groups;
	jm_tensor_info *tensors;
	tensor_init *tinit;
	int n_tensors;

	size_t n_params, n_buffers;
	size_t act_floats;      /* activation region, for max_batch */
	size_t stat_floats;     /* saved norm statistics */
	size_t argmax_ints;
	size_t conv_scratch;    /* floats of im2col scratch */
	size_t fanin_scratch;   /* floats for a second consumer's gradient */

	float *params, *grads, *buffers;
	float *acts;            /* activations, then stats */
	int32_t *argmax;
	float *dacts;
	float *scratch;         /* conv scratch, then fan-in scratch */

	/* per-forward state */
	float **aptr;           /* activation pointers of the last forward */
	const float **gptr;     /* gradient pointers during backward */
	unsigned char *written; /* gradient of activation written this pass */
	int fwd_B, fwd_training;
	size_t bytes;           /* backend memory held, all of it */
	size_t batch_bytes;     /* ... of which grows with the batch */

	/* plugin layers: the operator and its arguments, one per L_PLUGIN
	 * layer, and their CUDA kernels on a device backend */
	jm_plugin_call *plugs;
	const jm_plugin_layer_cuda **plug_cuda;
	int n_plugs;
};

/* ---- names ---------------------------------------------------------- */

static const struct {
	const char *name;
	int act;
	const char *module; /* PyTorch module name */
} act_names[] = {
	{"relu", JM_ACT_RELU, "ReLU"},
	{"gelu", JM_ACT_GELU, "GELU"},
	{"tanh", JM_ACT_TANH, "Tanh"},
	{"sigmoid", JM_ACT_SIGMOID, "Sigmoid"},
	{"silu", JM_ACT_SILU, "SiLU"},
};

int jm_model_act_from_name(const char *name)
{
	for (size_t i = 0; name && i < sizeof act_names / sizeof act_names[0]; i++)
		if (!strcmp(name, act_names[i].name))
			return act_names[i].act;
	return -1;
}

static const char *act_module(int act)
{
	for (size_t i = 0; i < sizeof act_names / sizeof act_names[0]; i++)
		if (act_names[i].act == act)
			return act_names[i].module;
	return "?";
}

/* ---- the builder ---------------------------------------------------- */

typedef struct builder {
	jm_model *m;
	jm_err *err;
	char where[160];    /* "[model] layers: token 3 \"c64\"" */
	int cur;            /* current activation */
	int c, h, w, flat;  /* its shape */
	int flat_tok;       /* token that flattened (0: none / implicit) */
	char flat_text[32];
	int cap_layers, cap_acts, cap_groups, cap_tensors;
	int has_fanin;
	int act;            /* cnn: the activation after convs and hidden fcs */
	int act_is_plugin;  /* ... or this plugin layer ([model] act = plugin:) */
	jm_plugin_call act_call;
} builder;

#define GROW(arr, n, cap)                                                   \
	do {                                                                \
		if ((n) == (cap)) {                                         \
			(cap) = (cap) ? 2 * (cap) : 16;                     \
			(arr) = jm_xrealloc((arr), (size_t)(cap) * sizeof *(arr)); \
		}                                                           \
	} while (0)

static int new_act(builder *b, int c, int h, int w)
{
	jm_model *m = b->m;
	size_t size = (size_t)c * h * w;
	if (size * (size_t)m->max_batch > (size_t)INT_MAX) {
		jm_err_set(b->err, JM_EXIT_INPUT,
			   "%s: an output of %dx%dx%d for a batch of %d exceeds 2^31 values",
			   b->where, c, h, w, m->max_batch);
		if (b->err)
			b->err->batch_too_big = size <= (size_t)INT_MAX; /* batch 1 would do */
		return -1;
	}
	GROW(m->acts_tab, m->n_acts, b->cap_acts);
	m->acts_tab[m->n_acts] = (activation){.off = m->act_floats, .size = size};
	m->act_floats += size * (size_t)m->max_batch;
	return m->n_acts++;
}

static int new_group(builder *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int new_group(builder *b, const char *fmt, ...)
{
	jm_model *m = b->m;
	GROW(m->groups, m->n_groups, b->cap_groups);
	group *g = &m->groups[m->n_groups];
	memset(g, 0, sizeof *g);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(g->desc, sizeof g->desc, fmt, ap);
	va_end(ap);
	return m->n_groups++;
}

/* A tensor of the current layer: name = prefix "." suffix. */
static int new_tensor(builder *b, const char *prefix, const char *suffix,
		      int buffer, int rule, double bound, int ndim,
		      const int64_t *shape)
{
	jm_model *m = b->m;
	if (m->n_tensors == b->cap_tensors) { /* grows with tensors below */
		size_t cap = b->cap_tensors ? 2 * (size_t)b->cap_tensors : 16;
		m->tinit = jm_xrealloc(m->tinit, cap * sizeof *m->tinit);
	}
	GROW(m->tensors, m->n_tensors, b->cap_tensors);
	jm_tensor_info *t = &m->tensors[m->n_tensors];
	memset(t, 0, sizeof *t);
	snprintf(t->name, sizeof t->name, "%s.%s", prefix, suffix);
	t->ndim = ndim;
	t->numel = 1;
	for (int i = 0; i < ndim; i++) {
		t->shape[i] = shape[i];
		t->numel *= (size_t)shape[i];
	}
	t->buffer = buffer;
	size_t *count = buffer ? &m->n_buffers : &m->n_params;
	t->offset = *count;
	*count += t->numel;
	m->tinit[m->n_tensors] = (tensor_init){.rule = rule, .bound = bound};
	if (!buffer && m->n_groups > 0)
		m->groups[m->n_groups - 1].n_params += t->numel;
	return m->n_tensors++;
}

/* Append a layer reading the current activation; the caller fills the
 * kind-specific fields and calls finish_layer with the output shape. */
static layer *new_layer(builder *b, int kind, const char *name)
{
	jm_model *m = b->m;
	GROW(m->layers, m->n_layers, b->cap_layers);
	layer *L = &m->layers[m->n_layers++];
	memset(L, 0, sizeof *L);
	L->kind = kind;
	L->group = m->n_groups - 1;
	snprintf(L->name, sizeof L->name, "%s", name);
	L->in = b->cur;
	L->in2 = -1;
	L->c = b->c;
	L->h = b->h;
	L->w = b->w;
	L->wt = L->bt = L->rmt = L->rvt = -1;
	return L;
}

static int finish_layer(builder *b, layer *L, int oc, int oh, int ow)
{
	L->oc = oc;
	L->oh = oh;
	L->ow = ow;
	if (L->kind == L_FLATTEN) {
		L->out = L->in;
	} else {
		int id = new_act(b, oc, oh, ow); /* moves acts_tab, not L */
		if (id < 0)
			return -1;
		L->out = id;
	}
	b->cur = L->out;
	b->c = oc;
	b->h = oh;
	b->w = ow;
	group *g = &b->m->groups[L->group];
	g->c = oc;
	g->h = oh;
	g->w = ow;
	g->flat = b->flat;
	return 0;
}

static int add_linear(builder *b, const char *name, int out)
{
	int in = b->c * b->h * b->w;
	layer *L = new_layer(b, L_LINEAR, name);
	double bound = 1.0 / sqrt((double)in);
	L->wt = new_tensor(b, name, "weight", 0, INIT_UNIFORM, bound, 2,
			   (int64_t[]){out, in});
	L->bt = new_tensor(b, name, "bias", 0, INIT_UNIFORM, bound, 1,
			   (int64_t[]){out});
	L->c = in;
	L->h = L->w = 1;
	return finish_layer(b, L, out, 1, 1);
}

static int add_conv(builder *b, const char *name, int oc, int k, int bias)
{
	int fan_in = b->c * k * k;
	layer *L = new_layer(b, L_CONV, name);
	L->k = k;
	L->pad = k / 2;
	double bound = 1.0 / sqrt((double)fan_in);
	L->wt = new_tensor(b, name, "weight", 0, INIT_UNIFORM, bound, 4,
			   (int64_t[]){oc, b->c, k, k});
	if (bias)
		L->bt = new_tensor(b, name, "bias", 0, INIT_UNIFORM, bound, 1,
				   (int64_t[]){oc});
	size_t s = b->m->be->conv2d_scratch_floats(b->m->max_batch, b->c, b->h,
						   b->w, oc, k, 1, L->pad);
	if (s > b->m->conv_scratch)
		b->m->conv_scratch = s;
	int oh = b->h + 2 * L->pad - k + 1, ow = b->w + 2 * L->pad - k + 1;
	return finish_layer(b, L, oc, oh, ow);
}

/* Batch norm over the channels of an image or the features of a vector. */
static int add_batchnorm(builder *b, const char *name)
{
	int c = b->c;
	layer *L = new_layer(b, L_BN, name);
	L->wt = new_tensor(b, name, "weight", 0, INIT_ONE, 0, 1, (int64_t[]){c});
	L->bt = new_tensor(b, name, "bias", 0, INIT_ZERO, 0, 1, (int64_t[]){c});
	L->rmt = new_tensor(b, name, "running_mean", 1, INIT_ZERO, 0, 1,
			    (int64_t[]){c});
	L->rvt = new_tensor(b, name, "running_var", 1, INIT_ONE, 0, 1,
			    (int64_t[]){c});
	L->stat_off = b->m->stat_floats;
	b->m->stat_floats += 2 * (size_t)c;
	return finish_layer(b, L, b->c, b->h, b->w);
}

static int add_layernorm(builder *b, const char *name)
{
	int c = b->c;
	layer *L = new_layer(b, L_LN, name);
	L->wt = new_tensor(b, name, "weight", 0, INIT_ONE, 0, 1, (int64_t[]){c});
	L->bt = new_tensor(b, name, "bias", 0, INIT_ZERO, 0, 1, (int64_t[]){c});
	L->stat_off = b->m->stat_floats;
	b->m->stat_floats += 2 * (size_t)b->m->max_batch;
	return finish_layer(b, L, b->c, b->h, b->w);
}

static int add_plugin(builder *b, const char *name, const jm_plugin_call *call);

static int add_act(builder *b, const char *name, int act)
{
	if (b->act_is_plugin)
		return add_plugin(b, name, &b->act_call);
	layer *L = new_layer(b, L_ACT, name);
	L->act = act;
	return finish_layer(b, L, b->c, b->h, b->w);
}

static int add_dropout(builder *b, const char *name, float p)
{
	layer *L = new_layer(b, L_DROPOUT, name);
	L->p = p;
	return finish_layer(b, L, b->c, b->h, b->w);
}

static int add_pool(builder *b, int kind, const char *name)
{
	layer *L = new_layer(b, kind, name);
	L->k = 2;
	if (kind == L_MAXPOOL) {
		L->argmax_off = b->m->argmax_ints;
		b->m->argmax_ints += (size_t)b->c * (b->h / 2) * (b->w / 2) *
				     (size_t)b->m->max_batch;
	}
	return finish_layer(b, L, b->c, b->h / 2, b->w / 2);
}

static int add_flatten(builder *b, const char *name)
{
	layer *L = new_layer(b, L_FLATTEN, name);
	b->flat = 1;
	return finish_layer(b, L, b->c * b->h * b->w, 1, 1);
}

/* A plugin layer: the operator infers its output shape and parameter
 * tensors; parameters join the flat buffers like built-in ones; its scratch
 * sits in the stats region (kept from a forward to its backward).  On a
 * device backend the operator's CUDA kernels must be there. */
static int add_plugin(builder *b, const char *name, const jm_plugin_call *call)
{
	jm_model *m = b->m;
	const jm_plugin_op *op = call->op;
	jm_plugin_layout lay = {JM_PLUGIN_HEADER(jm_plugin_layout), .args = call->args,
				.in = {b->c, b->h, b->w}, .out = {b->c, b->h, b->w}};
	const char *msg = op->layer.infer(&lay);
	if (msg)
		return jm_err_set(b->err, JM_EXIT_INPUT, "%s: plugin:%s: %s", b->where, op->name, msg);
	/* what the operator's infer gave, checked: the layer is refused at
	 * its line, as an operator that says no itself is */
	if (lay.out.c < 1 || lay.out.h < 1 || lay.out.w < 1)
		return jm_err_set(b->err, JM_EXIT_INPUT,
				  "%s: plugin:%s: its infer gave an output of %dx%dx%d for an input of "
				  "%dx%dx%d; channels, height and width must each be at least 1",
				  b->where, op->name, lay.out.c, lay.out.h, lay.out.w, b->c, b->h, b->w);
	if ((int64_t)lay.out.c * lay.out.h * lay.out.w > (int64_t)MAX_UNITS * 64)
		return jm_err_set(b->err, JM_EXIT_INPUT,
				  "%s: plugin:%s: its infer gave an output of %dx%dx%d, over %d values "
				  "a sample",
				  b->where, op->name, lay.out.c, lay.out.h, lay.out.w, MAX_UNITS * 64);
	if (lay.n_params < 0 || lay.n_params > JM_PLUGIN_MAX_PARAMS)
		return jm_err_set(b->err, JM_EXIT_INPUT,
				  "%s: plugin:%s: its infer declared %d parameter tensors; a layer has "
				  "0 to %d",
				  b->where, op->name, lay.n_params, JM_PLUGIN_MAX_PARAMS);
	const jm_plugin_layer_cuda *cuda = NULL;
	if (strcmp(m->be->name, "cpu")) {
		char why[1024];
		cuda = jm_plugin_cuda_layer(op, why, sizeof why);
		if (!cuda)
			return jm_err_set(b->err, JM_EXIT_INPUT, "%s: %s, so it cannot run on %s "
					  "(use --device cpu)", b->where, why, m->be->name);
	}
	m->plugs = jm_xrealloc(m->plugs, (size_t)(m->n_plugs + 1) * sizeof *m->plugs);
	m->plug_cuda = jm_xrealloc(m->plug_cuda, (size_t)(m->n_plugs + 1) * sizeof *m->plug_cuda);
	m->plugs[m->n_plugs] = *call;
	m->plug_cuda[m->n_plugs] = cuda;
	layer *L = new_layer(b, L_PLUGIN, name);
	L->plug = m->n_plugs++;
	for (int i = 0; i < lay.n_params; i++) {
		jm_plugin_tensor *t = &lay.params[i];
		t->name[sizeof t->name - 1] = 0;
		int ok = t->name[0] && t->ndim >= 1 && t->ndim <= 4;
		for (int d = 0; ok && d < t->ndim; d++)
			ok = t->shape[d] >= 1 && t->shape[d] <= MAX_UNITS * 64;
		if (!ok)
			return jm_err_set(b->err, JM_EXIT_INPUT,
					  "%s: plugin:%s: its infer declared parameter tensor %d \"%s\" "
					  "with %d dimensions; a tensor needs a name and 1 to 4 "
					  "dimensions of 1 to %d each",
					  b->where, op->name, i + 1, t->name, t->ndim, MAX_UNITS * 64);
		L->pt[L->npt++] = new_tensor(b, name, t->name, 0, INIT_PLUGIN, 0, t->ndim, t->shape);
	}
	L->stat_off = m->stat_floats;
	m->stat_floats += lay.scratch_per_sample * (size_t)m->max_batch;
	return finish_layer(b, L, lay.out.c, lay.out.h, lay.out.w);
}

/* ---- top-level modules ---------------------------------------------- */

static char *group_name(builder *b, char *buf, size_t n)
{
	snprintf(buf, n, "layers.%d", b->m->n_groups - 1);
	return buf;
}

static int module_linear(builder *b, int out)
{
	char name[48];
	int in = b->c * b->h * b->w;
	new_group(b, "Linear(%d, %d)", in, out);
	b->flat = 1;
	return add_linear(b, group_name(b, name, sizeof name), out);
}

static int module_conv(builder *b, int oc, int k, int bias)
{
	char name[48];
	new_group(b, "Conv2d(%d, %d, %dx%d%s)", b->c, oc, k, k,
		  bias ? "" : ", no bias");
	return add_conv(b, group_name(b, name, sizeof name), oc, k, bias);
}

static int module_batchnorm(builder *b)
{
	char name[48];
	new_group(b, "BatchNorm%dd(%d)", b->flat ? 1 : 2, b->c);
	return add_batchnorm(b, group_name(b, name, sizeof name));
}

static int module_layernorm(builder *b)
{
	char name[48];
	new_group(b, "LayerNorm(%d)", b->c);
	return add_layernorm(b, group_name(b, name, sizeof name));
}

static int module_act(builder *b, int act)
{
	char name[48];
	if (b->act_is_plugin)
		new_group(b, "plugin:%.40s", b->act_call.text);
	else
		new_group(b, "%s()", act_module(act));
	return add_act(b, group_name(b, name, sizeof name), act);
}

static int module_dropout(builder *b, float p)
{
	char name[48];
	new_group(b, "Dropout(%g)", p);
	return add_dropout(b, group_name(b, name, sizeof name), p);
}

static int module_pool(builder *b, int kind)
{
	char name[48];
	new_group(b, kind == L_MAXPOOL ? "MaxPool2d(2)" : "AvgPool2d(2)");
	return add_pool(b, kind, group_name(b, name, sizeof name));
}

static int module_flatten(builder *b)
{
	char name[48];
	new_group(b, "Flatten()");
	return add_flatten(b, group_name(b, name, sizeof name));
}

static int module_gap(builder *b)
{
	char name[48];
	new_group(b, "AdaptiveAvgPool2d(1)");
	layer *L = new_layer(b, L_GAP, group_name(b, name, sizeof name));
	if (finish_layer(b, L, b->c, 1, 1) < 0)
		return -1;
	return module_flatten(b);
}

static int module_plugin(builder *b, const jm_plugin_call *call)
{
	char name[48];
	new_group(b, "plugin:%.40s", call->text);
	return add_plugin(b, group_name(b, name, sizeof name), call);
}

/* relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)) */
static int module_residual(builder *b, int oc, int k, int bn)
{
	char base[48], name[64];
	new_group(b, "Residual(%d, %d, %dx%d)", b->c, oc, k, k);
	group_name(b, base, sizeof base);
	int x = b->cur, xc = b->c;
#define SUB(s) (snprintf(name, sizeof name, "%s.%s", base, s), name)
	if (add_conv(b, SUB("conv1"), oc, k, !bn) < 0 ||
	    (bn && add_batchnorm(b, SUB("bn1")) < 0) ||
	    add_act(b, SUB("relu1"), b->act) < 0 ||
	    add_conv(b, SUB("conv2"), oc, k, !bn) < 0 ||
	    (bn && add_batchnorm(b, SUB("bn2")) < 0))
		return -1;
	int main_out = b->cur, skip = x;
	if (xc != oc) {
		b->cur = x;
		b->c = xc;
		if (add_conv(b, SUB("shortcut.0"), oc, 1, !bn) < 0 ||
		    (bn && add_batchnorm(b, SUB("shortcut.1")) < 0))
			return -1;
		skip = b->cur;
	}
	b->cur = main_out;
	layer *L = new_layer(b, L_ADD, SUB("add"));
	L->in2 = skip;
	b->has_fanin = 1;
	if (finish_layer(b, L, b->c, b->h, b->w) < 0)
		return -1;
	return add_act(b, SUB("relu2"), b->act);
#undef SUB
}

/* ---- the cnn layer string -------------------------------------------- */

/* Parse an integer in [lo, hi] that is all of s; -1 otherwise. */
static int parse_int(const char *s, int lo, int hi)
{
	if (*s < '0' || *s > '9')
		return -1;
	char *end;
	long v = strtol(s, &end, 10);
	if (*end || v < lo || v > hi)
		return -1;
	return (int)v;
}

typedef struct token {
	const char *text;   /* NUL-terminated copy */
	const char *arg;    /* after the prefix */
	int index;          /* 1-based */
	int last;           /* the last token */
} token;

static int need_image(builder *b)
{
	if (!b->flat)
		return 0;
	if (b->flat_tok)
		return jm_err_set(b->err, JM_EXIT_INPUT,
				  "%s: needs an image input, but token %d \"%s\" flattened it",
				  b->where, b->flat_tok, b->flat_text);
	return jm_err_set(b->err, JM_EXIT_INPUT,
			  "%s: needs an image input, but the input is flat",
			  b->where);
}

static void mark_flat(builder *b, const token *t)
{
	b->flat_tok = t->index;
	snprintf(b->flat_text, sizeof b->flat_text, "%s", t->text);
}

static int tok_conv(builder *b, const token *t, int bn, int residual)
{
	char num[32];
	int k = 3;
	snprintf(num, sizeof num, "%s", t->arg);
	char *slash = strchr(num, '/');
	if (slash) {
		*slash = 0;
		k = parse_int(slash + 1, 1, MAX_KERNEL);
		if (k < 0 || k % 2 == 0)
			return jm_err_set(b->err, JM_EXIT_INPUT,
					  "%s: expected an odd kernel size from 1 to %d after \"/\"",
					  b->where, MAX_KERNEL);
	}
	int oc = parse_int(num, 1, MAX_UNITS);
	if (oc < 0)
		return jm_err_set(b->err, JM_EXIT_INPUT,
				  "%s: expected a channel count from 1 to %d",
				  b->where, MAX_UNITS);
	if (need_image(b) < 0)
		return -1;
	if (residual)
		return module_residual(b, oc, k, bn);
	if (module_conv(b, oc, k, !bn) < 0 || (bn && module_batchnorm(b) < 0))
		return -1;
	return module_act(b, b->act);
}

static int tok_pool(builder *b, const token *t, int kind)
{
	if (need_image(b) < 0)
		return -1;
	if (b->h < 2 || b->w < 2)
		return jm_err_set(b->err, JM_EXIT_INPUT,
				  "%s: 2x2 pooling needs an input of at least 2x2, got %dx%d",
				  b->where, b->h, b->w);
	return module_pool(b, kind);
}

static int tok_gap(builder *b, const token *t)
{
	if (need_image(b) < 0)
		return -1;
	mark_flat(b, t);
	return module_gap(b);
}

static int tok_flatten(builder *b, const token *t)
{
	if (need_image(b) < 0)
		return -1;
	mark_flat(b, t);
	return module_flatten(b);
}

static int tok_dropout(builder *b, const token *t)
{
	char *end;
	double p = strtod(t->arg, &end);
	if (!*t->arg || *end || !(p >= 0.0 && p < 1.0))
		return jm_err_set(b->err, JM_EXIT_INPUT,
				  "%s: expected a dropout probability in [0, 1)",
				  b->where);
	return module_dropout(b, (float)p);
}

static int tok_fc(builder *b, const token *t, int n_classes)
{
	int n = parse_int(t->arg, 1, MAX_UNITS);
	if (n < 0)
		return jm_err_set(b->err, JM_EXIT_INPUT,
				  "%s: expected a unit count from 1 to %d",
				  b->where, MAX_UNITS);
	if (t->last && n != n_classes)
		return jm_err_set(b->err, JM_EXIT_INPUT,
				  "%s: the last fc has %d units, but the data has %d classes",
				  b->where, n, n_classes);
	if (!b->flat) {
		mark_flat(b, t);
		if (module_flatten(b) < 0)
			return -1;
	}
	if (module_linear(b, n) < 0)
		return -1;
	return t->last ? 0 : module_act(b, b->act);
}

/* plugin:NAME(k=v, ...): a layer from a plugin (plugin/plugin.h). */
static int tok_plugin(builder *b, const token *t)
{
	jm_plugin_call call;
	char why[1024];
	if (jm_plugin_parse_call(t->arg, JM_PLUGIN_OP_LAYER, &call, why, sizeof why) < 0)
		return jm_err_set(b->err, JM_EXIT_INPUT, "%s: %s", b->where, why);
	return module_plugin(b, &call);
}

enum { T_CONV, T_RES, T_POOL, T_AVG, T_GAP, T_FLAT, T_DROP, T_FC, T_PLUGIN };

/* Exact tokens first, then prefixes; "fc" before "f" is not an issue since
 * "f" is matched exactly. */
static const struct {
	const char *text;
	int exact;
	int kind;
} token_table[] = {
	{"gap", 1, T_GAP}, {"p", 1, T_POOL}, {"a", 1, T_AVG}, {"f", 1, T_FLAT},
	{"fc", 0, T_FC},   {"c", 0, T_CONV}, {"r", 0, T_RES}, {"d", 0, T_DROP},
	{"plugin:", 0, T_PLUGIN},
};

static int build_cnn(builder *b, const char *layers, int bn, int n_classes)
{
	char *copy = jm_xstrdup(layers ? layers : "");
	char *toks[MAX_TOKENS + 1];
	int rc = -1;
	/* blanks and commas separate tokens, except inside plugin:x(a=1, b=2) */
	int n = jm_plugin_split_layers(copy, toks, MAX_TOKENS);
	if (n < 0) {
		jm_err_set(b->err, JM_EXIT_INPUT,
			   "[model] layers: too many tokens (at most %d)", MAX_TOKENS);
		goto out;
	}
	if (n == 0) {
		jm_err_set(b->err, JM_EXIT_INPUT,
			   "[model] layers: empty (expected tokens such as \"c32 p fc%d\")",
			   n_classes);
		goto out;
	}
	for (int i = 0; i < n; i++) {
		token t = {.text = toks[i], .index = i + 1, .last = i == n - 1};
		snprintf(b->where, sizeof b->where,
			 "[model] layers: token %d \"%.40s\"", t.index, t.text);
		int kind = -1;
		for (size_t j = 0; j < sizeof token_table / sizeof token_table[0]; j++) {
			size_t len = strlen(token_table[j].text);
			if (token_table[j].exact ? !strcmp(t.text, token_table[j].text)
						 : !strncmp(t.text, token_table[j].text, len)) {
				kind = token_table[j].kind;
				t.arg = t.text + len;
				break;
			}
		}
		int r;
		switch (kind) {
		case T_CONV: r = tok_conv(b, &t, bn, 0); break;
		case T_RES: r = tok_conv(b, &t, bn, 1); break;
		case T_POOL: r = tok_pool(b, &t, L_MAXPOOL); break;
		case T_AVG: r = tok_pool(b, &t, L_AVGPOOL); break;
		case T_GAP: r = tok_gap(b, &t); break;
		case T_FLAT: r = tok_flatten(b, &t); break;
		case T_DROP: r = tok_dropout(b, &t); break;
		case T_FC: r = tok_fc(b, &t, n_classes); break;
		case T_PLUGIN: r = tok_plugin(b, &t); break;
		default:
			r = jm_err_set(b->err, JM_EXIT_INPUT,
				       "%s: unknown layer (expected cN, p, a, gap, dX, fcN, rN, plugin:NAME)",
				       b->where);
		}
		if (r < 0)
			goto out;
		if (t.last && kind != T_FC) {
			snprintf(b->where, sizeof b->where,
				 "[model] layers: the classifier");
			if (!b->flat && module_flatten(b) < 0)
				goto out;
			if (module_linear(b, n_classes) < 0)
				goto out;
		}
	}
	rc = 0;
out:
	free(copy);
	return rc;
}

/* ---- mlp, linear ----------------------------------------------------- */

static const struct {
	const char *name;
	int norm;           /* 0 none, L_BN, L_LN */
} norm_names[] = {{"none", 0}, {"batch", L_BN}, {"layer", L_LN}};

static int build_mlp(builder *b, const jm_model_spec *s, int n_classes)
{
	int norm = -1;
	const char *nn = s->norm && *s->norm ? s->norm : "none";
	for (size_t i = 0; i < sizeof norm_names / sizeof norm_names[0]; i++)
		if (!strcmp(nn, norm_names[i].name))
			norm = norm_names[i].norm;
	if (norm < 0)
		return jm_err_set(b->err, JM_EXIT_INPUT,
				  "[model] norm: unknown norm \"%s\" (expected none, batch, layer)",
				  nn);
	if (s->n_hidden > 0 && !b->act_is_plugin && (s->act < JM_ACT_RELU || s->act > JM_ACT_LAST))
		return jm_err_set(b->err, JM_EXIT_INPUT,
				  "[model] act: unknown activation %d", s->act);
	if (!(s->dropout >= 0.0f && s->dropout < 1.0f))
		return jm_err_set(b->err, JM_EXIT_INPUT,
				  "[model] dropout: expected a probability in [0, 1), got %g",
				  s->dropout);
	if (s->n_hidden < 0 || (s->n_hidden > 0 && !s->hidden))
		return jm_err_set(b->err, JM_EXIT_INPUT,
				  "[model] hidden: no sizes given");
	for (int i = 0; i < s->n_hidden; i++) {
		snprintf(b->where, sizeof b->where, "[model] hidden: size %d",
			 i + 1);
		if (s->hidden[i] < 1 || s->hidden[i] > MAX_UNITS)
			return jm_err_set(b->err, JM_EXIT_INPUT,
					  "[model] hidden: expected sizes from 1 to %d, got %d",
					  MAX_UNITS, s->hidden[i]);
		if (module_linear(b, s->hidden[i]) < 0 ||
		    (norm == L_BN && module_batchnorm(b) < 0) ||
		    (norm == L_LN && module_layernorm(b) < 0) ||
		    module_act(b, s->act) < 0 ||
		    (s->dropout > 0.0f && module_dropout(b, s->dropout) < 0))
			return -1;
	}
	snprintf(b->where, sizeof b->where, "[model] the classifier");
	return module_linear(b, n_classes);
}

/* ---- build ----------------------------------------------------------- */

static const char *const model_types[] = {"linear", "logistic", "mlp", "cnn"};

static int alloc_buffers(jm_model *m, jm_err *err)
{
	const jm_backend *be = m->be;
	char left[64];
	struct {
		void **p;
		size_t bytes;
		const char *what;
		int per_batch; /* grows with the batch */
	} tab[] = {
		{(void **)&m->params, m->n_params * sizeof(float), "parameters", 0},
		{(void **)&m->grads, m->n_params * sizeof(float), "gradients", 0},
		{(void **)&m->buffers, m->n_buffers * sizeof(float), "buffers", 0},
		{(void **)&m->acts, (m->act_floats + m->stat_floats) * sizeof(float),
		 "activations", 1},
		{(void **)&m->argmax, m->argmax_ints * sizeof(int32_t), "pooling indices", 1},
		{(void **)&m->dacts, m->act_floats * sizeof(float), "activation gradients", 1},
		{(void **)&m->scratch, (m->conv_scratch + m->fanin_scratch) * sizeof(float),
		 "scratch", 1},
	};
	/* On the CPU the whole is weighed against the machine first: each
	 * block is zeroed as it is taken, so a model that cannot fit would
	 * otherwise fill the memory block by block before it is refused */
	size_t fixed = 0, per_batch = 0;
	for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++)
		*(tab[i].per_batch ? &per_batch : &fixed) += tab[i].bytes;
	size_t have = jm_backend_memory_left(be);
	if (have != SIZE_MAX && fixed + per_batch > have) {
		jm_backend_memory_note(have, left, sizeof left);
		if (fixed > have)
			return jm_err_set(err, JM_EXIT_FAIL,
					  "[model] needs %.1f MiB for its parameters, gradients and "
					  "buffers on %s%s: the model is too large for it",
					  (double)fixed / (1 << 20), be->name, left);
		return jm_err_batch(err, "[model] needs %.1f MiB for batches of %d on %s%s",
				    (double)(fixed + per_batch) / (1 << 20), m->max_batch, be->name,
				    left);
	}
	for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++) {
		if (tab[i].bytes == 0)
			continue;
		*tab[i].p = be->alloc(tab[i].bytes);
		if (!*tab[i].p)
			jm_backend_memory_note(jm_backend_memory_left(be), left, sizeof left);
		if (!*tab[i].p && tab[i].per_batch)
			return jm_err_batch(err,
					    "[model] cannot allocate %.1f MiB of %s for batches of %d "
					    "on %s%s",
					    (double)tab[i].bytes / (1 << 20), tab[i].what, m->max_batch,
					    be->name, left);
		if (!*tab[i].p)
			return jm_err_set(err, JM_EXIT_FAIL,
					  "[model] cannot allocate %.1f MiB of %s on %s%s: the model is "
					  "too large for it",
					  (double)tab[i].bytes / (1 << 20), tab[i].what, be->name, left);
		m->bytes += tab[i].bytes;
		if (tab[i].per_batch)
			m->batch_bytes += tab[i].bytes;
	}
	return 0;
}

/* A batch norm whose output only a ReLU reads does the ReLU in its own
 * pass (backend.h: batchnorm_forward's relu): the batch is read and
 * written once, not twice, forward and backward.  The ReLU's output is
 * then the norm's buffer, and the results are the same to the bit.
 * JIANMO_FUSE=0 leaves the two apart (to compare). */
static void fuse_bn_relu(jm_model *m)
{
	const char *env = getenv("JIANMO_FUSE");
	if (env && !strcmp(env, "0"))
		return;
	for (int i = 0; i + 1 < m->n_layers; i++) {
		layer *L = &m->layers[i], *N = &m->layers[i + 1];
		if (L->kind != L_BN || N->kind != L_ACT || N->act != JM_ACT_RELU || N->in != L->out)
			continue;
		int others = 0;
		for (int j = 0; j < m->n_layers; j++)
			others += j != i + 1 && (m->layers[j].in == L->out || m->layers[j].in2 == L->out);
		if (!others)
			L->relu = N->fused = 1;
	}
	/* a fused ReLU's output is its norm's buffer (and its gradient the
	 * norm's gradient buffer): the activations laid out again without
	 * room of their own for those */
	size_t off = 0;
	for (int a = 1; a < m->n_acts; a++) {
		const layer *by = NULL;
		for (int i = 0; i < m->n_layers && !by; i++)
			if (m->layers[i].fused && m->layers[i].out == a)
				by = &m->layers[i];
		if (by) {
			m->acts_tab[a].off = m->acts_tab[by->in].off;
			continue;
		}
		m->acts_tab[a].off = off;
		off += m->acts_tab[a].size * (size_t)m->max_batch;
	}
	m->act_floats = off;
}

int jm_model_build(jm_model **out, const jm_backend *be,
		   const jm_model_spec *spec, int in_c, int in_h, int in_w,
		   int n_classes, int max_batch, jm_err *err)
{
	*out = NULL;
	jm_model *m = jm_xcalloc(1, sizeof *m);
	builder b = {.m = m, .err = err, .c = in_c, .h = in_h, .w = in_w};
	m->be = be;
	m->in_c = in_c;
	m->in_h = in_h;
	m->in_w = in_w;
	m->n_classes = n_classes;
	m->max_batch = max_batch;
	const char *type = spec->type ? spec->type : "mlp";
	size_t ti = 0;
	while (ti < sizeof model_types / sizeof model_types[0] &&
	       strcmp(type, model_types[ti]))
		ti++;

	if (ti == sizeof model_types / sizeof model_types[0]) {
		jm_err_set(err, JM_EXIT_INPUT,
			   "[model] type: unknown model type \"%s\" (expected linear, logistic, mlp, cnn)",
			   type);
		goto fail;
	}
	if (in_c < 1 || in_h < 1 || in_w < 1 ||
	    (int64_t)in_c * in_h * in_w > MAX_UNITS * 64) {
		jm_err_set(err, JM_EXIT_INPUT,
			   "[model] input shape %dx%dx%d is empty or too large",
			   in_c, in_h, in_w);
		goto fail;
	}
	if (n_classes < 1 || n_classes > MAX_UNITS) {
		jm_err_set(err, JM_EXIT_INPUT,
			   "[model] needs from 1 to %d outputs (classes, or 1 for a "
			   "regression), got %d", MAX_UNITS, n_classes);
		goto fail;
	}
	if (max_batch < 1) {
		jm_err_set(err, JM_EXIT_INPUT,
			   "[model] batch size must be at least 1, got %d", max_batch);
		goto fail;
	}
	if (spec->act_plugin && spec->act_plugin[0]) {
		char why[1024];
		const char *text = spec->act_plugin;
		if (!strncmp(text, "plugin:", 7))
			text += 7;
		if (jm_plugin_parse_call(text, JM_PLUGIN_OP_LAYER, &b.act_call, why, sizeof why) < 0) {
			jm_err_set(err, JM_EXIT_INPUT, "[model] act: %s", why);
			goto fail;
		}
		b.act_is_plugin = 1;
	}
	/* activation 0: the caller's input */
	snprintf(b.where, sizeof b.where, "[model] input");
	if (new_act(&b, in_c, in_h, in_w) < 0)
		goto fail;
	m->act_floats = 0;

	if (!strcmp(type, "cnn")) {
		b.act = spec->act >= JM_ACT_RELU && spec->act <= JM_ACT_LAST ? spec->act
									     : JM_ACT_RELU;
		if (build_cnn(&b, spec->layers, spec->batchnorm, n_classes) < 0)
			goto fail;
	} else if (!strcmp(type, "mlp")) {
		b.flat = 1;
		b.c = in_c * in_h * in_w;
		b.h = b.w = 1;
		if (build_mlp(&b, spec, n_classes) < 0)
			goto fail;
	} else {
		b.flat = 1;
		b.c = in_c * in_h * in_w;
		b.h = b.w = 1;
		snprintf(b.where, sizeof b.where, "[model] the classifier");
		if (module_linear(&b, n_classes) < 0)
			goto fail;
	}

	fuse_bn_relu(m);
	if (b.has_fanin)
		for (int i = 1; i < m->n_acts; i++)
			if (m->acts_tab[i].size * (size_t)max_batch > m->fanin_scratch)
				m->fanin_scratch = m->acts_tab[i].size * (size_t)max_batch;
	m->aptr = jm_xcalloc((size_t)m->n_acts, sizeof *m->aptr);
	m->gptr = jm_xcalloc((size_t)m->n_acts, sizeof *m->gptr);
	m->written = jm_xcalloc((size_t)m->n_acts, 1);
	if (alloc_buffers(m, err) < 0)
		goto fail;
	*out = m;
	return 0;
fail:
	jm_model_free(m);
	return -1;
}

void jm_model_free(jm_model *m)
{
	if (!m)
		return;
	const jm_backend *be = m->be;
	be->free(m->params);
	be->free(m->grads);
	be->free(m->buffers);
	be->free(m->acts);
	be->free(m->argmax);
	be->free(m->dacts);
	be->free(m->scratch);
	free(m->layers);
	free(m->acts_tab);
	free(m->groups);
	free(m->tensors);
	free(m->tinit);
	free(m->aptr);
	free(m->gptr);
	free(m->written);
	free(m->plugs);
	free(m->plug_cuda);
	free(m);
}

int jm_model_init(jm_model *m, uint64_t seed, jm_err *err)
{
	size_t n = m->n_params + m->n_buffers;
	float *host = malloc((n ? n : 1) * sizeof *host);
	if (!host)
		return jm_err_set(err, JM_EXIT_FAIL,
				  "[model] cannot allocate %zu bytes to initialise the parameters",
				  n * sizeof *host);
	jm_rng rng;
	jm_rng_seed(&rng, seed);
	for (int i = 0; i < m->n_tensors; i++) {
		const jm_tensor_info *t = &m->tensors[i];
		const tensor_init *ti = &m->tinit[i];
		float *dst = host + (t->buffer ? m->n_params : 0) + t->offset;
		for (size_t j = 0; j < t->numel; j++) {
			switch (ti->rule) {
			case INIT_UNIFORM:
				dst[j] = (float)((2.0 * jm_rng_uniform(&rng) - 1.0) *
						 ti->bound);
				break;
			case INIT_ONE: dst[j] = 1.0f; break;
			default: dst[j] = 0.0f; break;
			}
		}
	}
	/* plugin tensors (zero above) from their own seed, so they draw
	 * nothing from the stream the built-in tensors use */
	for (int i = 0; i < m->n_layers; i++) {
		const layer *L = &m->layers[i];
		if (L->kind != L_PLUGIN || L->npt == 0 || !m->plugs[L->plug].op->layer.init)
			continue;
		const jm_plugin_call *c = &m->plugs[L->plug];
		jm_plugin_tensor tens[JM_PLUGIN_MAX_PARAMS];
		float *ptrs[JM_PLUGIN_MAX_PARAMS];
		for (int k = 0; k < L->npt; k++) {
			const jm_tensor_info *t = &m->tensors[L->pt[k]];
			memset(&tens[k], 0, sizeof tens[k]);
			snprintf(tens[k].name, sizeof tens[k].name, "%s", strrchr(t->name, '.') + 1);
			tens[k].ndim = t->ndim;
			memcpy(tens[k].shape, t->shape, sizeof t->shape);
			ptrs[k] = host + t->offset;
		}
		jm_plugin_init_call ic = {JM_PLUGIN_HEADER(jm_plugin_init_call), .args = c->args,
					  .in = {L->c, L->h, L->w}, .out = {L->oc, L->oh, L->ow},
					  .n_params = L->npt, .tensors = tens, .params = ptrs,
					  .seed = jm_hash64(seed, (uint64_t)i)};
		c->op->layer.init(&ic);
	}
	if (m->n_params)
		m->be->to_device(m->params, host, m->n_params * sizeof *host);
	if (m->n_buffers)
		m->be->to_device(m->buffers, host + m->n_params,
				 m->n_buffers * sizeof *host);
	free(host);
	return 0;
}

/* ---- forward and backward, one pair per layer kind ------------------- */

static float *P(jm_model *m, int t)
{
	return t < 0 ? NULL : m->params + m->tensors[t].offset;
}

static float *G(jm_model *m, int t)
{
	return t < 0 ? NULL : m->grads + m->tensors[t].offset;
}

static float *BUF(jm_model *m, int t)
{
	return m->buffers + m->tensors[t].offset;
}

static float *STAT(jm_model *m, const layer *L)
{
	return m->acts + m->act_floats + L->stat_off;
}

static size_t numel_out(const layer *L, int B)
{
	return (size_t)B * L->oc * L->oh * L->ow;
}

typedef struct pass {
	jm_model *m;
	layer *L;
	int B, training;
	const float *in, *in2;  /* forward inputs */
	float *out;             /* forward output */
	const float *dout;      /* backward: gradient of the output */
	float *din;             /* backward: gradient of `in` (may be NULL) */
} pass;

static void fwd_linear(pass *p)
{
	layer *L = p->L;
	p->m->be->linear_forward(p->out, p->in, P(p->m, L->wt), P(p->m, L->bt),
				 p->B, L->c, L->oc);
}

static void bwd_linear(pass *p)
{
	layer *L = p->L;
	p->m->be->linear_backward(p->din, G(p->m, L->wt), G(p->m, L->bt), p->dout,
				  p->in, P(p->m, L->wt), p->B, L->c, L->oc);
}

static void fwd_conv(pass *p)
{
	layer *L = p->L;
	p->m->be->conv2d_forward(p->out, p->in, P(p->m, L->wt), P(p->m, L->bt),
				 p->B, L->c, L->h, L->w, L->oc, L->k, 1, L->pad,
				 p->m->scratch);
}

static void bwd_conv(pass *p)
{
	layer *L = p->L;
	p->m->be->conv2d_backward(p->din, G(p->m, L->wt), G(p->m, L->bt),
				  p->dout, p->in, P(p->m, L->wt), p->B, L->c,
				  L->h, L->w, L->oc, L->k, 1, L->pad,
				  p->m->scratch);
}

static void fwd_bn(pass *p)
{
	layer *L = p->L;
	float *stat = STAT(p->m, L);
	p->m->be->batchnorm_forward(p->out, stat, stat + L->c, p->in,
				    P(p->m, L->wt), P(p->m, L->bt),
				    BUF(p->m, L->rmt), BUF(p->m, L->rvt), p->B,
				    L->c, L->h * L->w, p->training, BN_MOMENTUM,
				    NORM_EPS, L->relu);
}

static void bwd_bn(pass *p)
{
	layer *L = p->L;
	float *stat = STAT(p->m, L);
	p->m->be->batchnorm_backward(p->din, G(p->m, L->wt), G(p->m, L->bt),
				     p->dout, p->in, stat, stat + L->c,
				     P(p->m, L->wt), L->relu ? p->m->aptr[L->out] : NULL, p->B,
				     L->c, L->h * L->w);
}

static void fwd_ln(pass *p)
{
	layer *L = p->L;
	float *stat = STAT(p->m, L);
	p->m->be->layernorm_forward(p->out, stat, stat + p->m->max_batch, p->in,
				    P(p->m, L->wt), P(p->m, L->bt), p->B, L->c,
				    NORM_EPS);
}

static void bwd_ln(pass *p)
{
	layer *L = p->L;
	float *stat = STAT(p->m, L);
	p->m->be->layernorm_backward(p->din, G(p->m, L->wt), G(p->m, L->bt),
				     p->dout, p->in, stat, stat + p->m->max_batch,
				     P(p->m, L->wt), p->B, L->c);
}

static void fwd_act(pass *p)
{
	p->m->be->act_forward(p->L->act, p->out, p->in, numel_out(p->L, p->B));
}

static void bwd_act(pass *p)
{
	if (p->din)
		p->m->be->act_backward(p->L->act, p->din, p->dout, p->in,
				       p->m->aptr[p->L->out], numel_out(p->L, p->B));
}

static void fwd_dropout(pass *p)
{
	p->m->be->dropout_forward(p->out, p->in, numel_out(p->L, p->B), p->L->p,
				  p->L->key);
}

static void bwd_dropout(pass *p)
{
	if (p->din)
		p->m->be->dropout_backward(p->din, p->dout, numel_out(p->L, p->B),
					   p->L->p, p->L->key);
}

static void fwd_maxpool(pass *p)
{
	layer *L = p->L;
	p->m->be->maxpool_forward(p->out, p->m->argmax + L->argmax_off, p->in,
				  p->B, L->c, L->h, L->w, L->k, L->k);
}

static void bwd_maxpool(pass *p)
{
	layer *L = p->L;
	if (p->din)
		p->m->be->maxpool_backward(p->din, p->dout,
					   p->m->argmax + L->argmax_off, p->B,
					   L->c, L->h, L->w, L->k, L->k);
}

static void fwd_avgpool(pass *p)
{
	layer *L = p->L;
	p->m->be->avgpool_forward(p->out, p->in, p->B, L->c, L->h, L->w, L->k,
				  L->k);
}

static void bwd_avgpool(pass *p)
{
	layer *L = p->L;
	if (p->din)
		p->m->be->avgpool_backward(p->din, p->dout, p->B, L->c, L->h,
					   L->w, L->k, L->k);
}

static void fwd_gap(pass *p)
{
	layer *L = p->L;
	p->m->be->gap_forward(p->out, p->in, p->B, L->c, L->h * L->w);
}

static void bwd_gap(pass *p)
{
	layer *L = p->L;
	if (p->din)
		p->m->be->gap_backward(p->din, p->dout, p->B, L->c, L->h * L->w);
}

static void fwd_add(pass *p)
{
	p->m->be->add(p->out, p->in, p->in2, numel_out(p->L, p->B));
}

/* The plugin's view of this pass: plain pointers and shapes (zeroed first,
 * padding too: a GPU compares passes byte for byte, plugin_run). */
static void plugin_pass(pass *p, jm_plugin_pass *pp, const float *params[], float *grads[])
{
	jm_model *m = p->m;
	layer *L = p->L;
	const jm_plugin_call *c = &m->plugs[L->plug];
	for (int k = 0; k < L->npt; k++) {
		params[k] = P(m, L->pt[k]);
		grads[k] = G(m, L->pt[k]);
	}
	memset(pp, 0, sizeof *pp);
	pp->abi_version = JM_PLUGIN_ABI_VERSION;
	pp->size = sizeof *pp;
	pp->args = c->args;
	pp->B = p->B;
	pp->in = (jm_plugin_shape){L->c, L->h, L->w};
	pp->out = (jm_plugin_shape){L->oc, L->oh, L->ow};
	pp->training = p->training;
	pp->x = p->in;
	pp->n_params = L->npt;
	pp->params = params;
	pp->grads = grads;
	pp->scratch = STAT(m, L);
}

/* A plugin layer's CUDA pass as the backend may keep it for a CUDA graph:
 * the pass with its parameter lists inside, by value (plugin_call_run puts
 * the pointers back, and the stream, at the call). */
typedef struct plugin_call {
	const jm_backend *be;
	const jm_plugin_layer_cuda *cu;
	int backward;
	jm_plugin_pass pp;
	const float *params[JM_PLUGIN_MAX_PARAMS];
	float *grads[JM_PLUGIN_MAX_PARAMS];
} plugin_call;

static void plugin_call_run(const void *ctx)
{
	const plugin_call *c = ctx;
	jm_plugin_pass pp = c->pp;
	pp.params = c->params;
	pp.grads = c->grads;
	pp.stream = c->be->native_stream ? c->be->native_stream() : NULL;
	(c->backward ? c->cu->backward : c->cu->forward)(&pp);
}

/* The pass through the plugin: its CPU function, or its CUDA one (through
 * the backend's native_call where it has one). */
static void plugin_run(pass *p, jm_plugin_pass *pp, int backward)
{
	jm_model *m = p->m;
	const jm_plugin_layer_cuda *cu = m->plug_cuda[p->L->plug];
	if (!cu) {
		const jm_plugin_layer *op = &m->plugs[p->L->plug].op->layer;
		(backward ? op->backward : op->forward)(pp);
		return;
	}
	if (m->be->native_call) {
		plugin_call c;
		memset(&c, 0, sizeof c);
		c.be = m->be;
		c.cu = cu;
		c.backward = backward;
		memcpy(&c.pp, pp, sizeof *pp); /* zeroed padding and all */
		c.pp.params = NULL;
		c.pp.grads = NULL;
		memcpy(c.params, pp->params, (size_t)pp->n_params * sizeof *c.params);
		memcpy(c.grads, pp->grads, (size_t)pp->n_params * sizeof *c.grads);
		m->be->native_call(plugin_call_run, &c, sizeof c);
		return;
	}
	pp->stream = m->be->native_stream ? m->be->native_stream() : NULL;
	(backward ? cu->backward : cu->forward)(pp);
}

static void fwd_plugin(pass *p)
{
	const float *params[JM_PLUGIN_MAX_PARAMS];
	float *grads[JM_PLUGIN_MAX_PARAMS];
	jm_plugin_pass pp;
	plugin_pass(p, &pp, params, grads);
	pp.y = p->out;
	plugin_run(p, &pp, 0);
}

static void bwd_plugin(pass *p)
{
	const float *params[JM_PLUGIN_MAX_PARAMS];
	float *grads[JM_PLUGIN_MAX_PARAMS];
	jm_plugin_pass pp;
	plugin_pass(p, &pp, params, grads);
	pp.y = p->m->aptr[p->L->out];
	pp.dy = p->dout;
	pp.dx = p->din;
	plugin_run(p, &pp, 1);
}

static const struct {
	const char *name;
	void (*forward)(pass *);
	void (*backward)(pass *);   /* NULL: handled by the walker */
} kinds[] = {
	[L_LINEAR] = {"linear", fwd_linear, bwd_linear},
	[L_CONV] = {"conv", fwd_conv, bwd_conv},
	[L_BN] = {"batchnorm", fwd_bn, bwd_bn},
	[L_LN] = {"layernorm", fwd_ln, bwd_ln},
	[L_ACT] = {"act", fwd_act, bwd_act},
	[L_DROPOUT] = {"dropout", fwd_dropout, bwd_dropout},
	[L_MAXPOOL] = {"maxpool", fwd_maxpool, bwd_maxpool},
	[L_AVGPOOL] = {"avgpool", fwd_avgpool, bwd_avgpool},
	[L_GAP] = {"gap", fwd_gap, bwd_gap},
	[L_FLATTEN] = {"flatten", NULL, NULL},
	[L_ADD] = {"add", fwd_add, NULL},
	[L_PLUGIN] = {"plugin", fwd_plugin, bwd_plugin},
};

float *jm_model_forward(jm_model *m, const float *x, int B, int training,
			uint64_t dropout_key)
{
	if (!x || B < 1 || B > m->max_batch)
		return NULL;
	m->fwd_training = 0;
	m->aptr[0] = (float *)x;
	for (int i = 0; i < m->n_layers; i++) {
		layer *L = &m->layers[i];
		if (L->kind == L_FLATTEN)
			continue;
		pass p = {.m = m, .L = L, .B = B, .training = training,
			  .in = m->aptr[L->in]};
		if ((L->kind == L_DROPOUT && !training) || L->fused) {
			/* nothing to do (a fused ReLU: its batch norm did it) */
			m->aptr[L->out] = m->aptr[L->in];
			continue;
		}
		if (L->kind == L_DROPOUT)
			L->key = jm_hash64(dropout_key, (uint64_t)i);
		if (L->in2 >= 0)
			p.in2 = m->aptr[L->in2];
		p.out = m->acts + m->acts_tab[L->out].off;
		m->aptr[L->out] = p.out;
		kinds[L->kind].forward(&p);
	}
	m->fwd_B = B;
	m->fwd_training = training;
	return m->aptr[m->layers[m->n_layers - 1].out];
}

/* Where the gradient of activation `a` goes: NULL for the model input,
 * its own buffer the first time, scratch (to be accumulated) after. */
static float *grad_target(jm_model *m, int a, int *via_scratch)
{
	*via_scratch = 0;
	if (a == 0)
		return NULL;
	if (m->written[a]) {
		*via_scratch = 1;
		return m->scratch + m->conv_scratch;
	}
	m->written[a] = 1;
	return m->dacts + m->acts_tab[a].off;
}

/* d out / d a = dout for both inputs of the add. */
static void backward_add(jm_model *m, const layer *L, const float *dout, int B)
{
	size_t n = numel_out(L, B);
	int ins[2] = {L->in, L->in2};
	for (int j = 0; j < 2; j++) {
		int a = ins[j];
		if (a == 0)
			continue;
		float *g = m->dacts + m->acts_tab[a].off;
		if (!m->written[a])
			m->be->fill(g, 0.0f, n);
		m->written[a] = 1;
		m->be->accumulate(g, dout, n);
	}
}

int jm_model_backward(jm_model *m, const float *dlogits, int B)
{
	if (!dlogits || !m->fwd_training || B != m->fwd_B)
		return -1;
	int last = m->layers[m->n_layers - 1].out;
	memset(m->written, 0, (size_t)m->n_acts);
	for (int a = 1; a < m->n_acts; a++)
		m->gptr[a] = m->dacts + m->acts_tab[a].off;
	m->gptr[last] = dlogits;
	m->written[last] = 1;
	for (int i = m->n_layers - 1; i >= 0; i--) {
		layer *L = &m->layers[i];
		if (L->kind == L_FLATTEN)
			continue;
		const float *dout = m->gptr[L->out];
		if (L->kind == L_ADD) {
			backward_add(m, L, dout, B);
			continue;
		}
		if (L->fused) { /* the batch norm before it takes its gradient */
			m->gptr[L->in] = dout;
			m->written[L->in] = 1;
			continue;
		}
		int via_scratch;
		pass p = {.m = m, .L = L, .B = B, .training = 1,
			  .in = m->aptr[L->in], .dout = dout,
			  .din = grad_target(m, L->in, &via_scratch)};
		kinds[L->kind].backward(&p);
		if (via_scratch)
			m->be->accumulate(m->dacts + m->acts_tab[L->in].off, p.din,
					  (size_t)B * m->acts_tab[L->in].size);
	}
	return 0;
}

void jm_model_zero_grad(jm_model *m)
{
	if (m->n_params)
		m->be->fill(m->grads, 0.0f, m->n_params);
}

void jm_model_scale_grads(jm_model *m, float a)
{
	if (m->n_params)
		m->be->scale(m->grads, a, m->n_params);
}

/* ---- description and accessors --------------------------------------- */

static void format_count(char *buf, size_t n, size_t v)
{
	char tmp[32];
	int len = snprintf(tmp, sizeof tmp, "%zu", v), o = 0;
	for (int i = 0; i < len && (size_t)o + 2 < n; i++) {
		if (i > 0 && (len - i) % 3 == 0)
			buf[o++] = ',';
		buf[o++] = tmp[i];
	}
	buf[o] = 0;
}

void jm_model_describe(const jm_model *m, FILE *fp)
{
	char count[32], shape[32];
	fprintf(fp, "%-11s %-34s %-14s %12s\n", "name", "layer", "output", "params");
	for (int i = 0; i < m->n_groups; i++) {
		const group *g = &m->groups[i];
		if (g->flat)
			snprintf(shape, sizeof shape, "%d", g->c * g->h * g->w);
		else
			snprintf(shape, sizeof shape, "%dx%dx%d", g->c, g->h, g->w);
		format_count(count, sizeof count, g->n_params);
		fprintf(fp, "layers.%-4d %-34s %-14s %12s\n", i, g->desc, shape,
			count);
	}
	format_count(count, sizeof count, m->n_params);
	fprintf(fp, "%.*s\n", 74, "----------------------------------------"
		"----------------------------------------");
	double kib = (double)m->n_params * sizeof(float) / 1024.0;
	fprintf(fp, "total %s parameters (%.1f %s), input %dx%dx%d, %d classes\n",
		count, kib < 1024.0 ? kib : kib / 1024.0,
		kib < 1024.0 ? "KiB" : "MiB", m->in_c, m->in_h, m->in_w,
		m->n_classes);
}

int jm_model_n_fused(const jm_model *m)
{
	int n = 0;
	for (int i = 0; i < m->n_layers; i++)
		n += m->layers[i].fused;
	return n;
}

size_t jm_model_n_params(const jm_model *m) { return m->n_params; }
size_t jm_model_n_buffers(const jm_model *m) { return m->n_buffers; }
float *jm_model_params(jm_model *m) { return m->params; }
float *jm_model_grads(jm_model *m) { return m->grads; }
float *jm_model_buffers(jm_model *m) { return m->buffers; }
const jm_backend *jm_model_backend(const jm_model *m) { return m->be; }
int jm_model_n_classes(const jm_model *m) { return m->n_classes; }
int jm_model_max_batch(const jm_model *m) { return m->max_batch; }
int jm_model_n_tensors(const jm_model *m) { return m->n_tensors; }
size_t jm_model_memory_bytes(const jm_model *m) { return m->bytes; }

size_t jm_model_batch_memory_bytes(const jm_model *m) { return m->batch_bytes; }

size_t jm_model_input_size(const jm_model *m)
{
	return (size_t)m->in_c * m->in_h * m->in_w;
}

const jm_tensor_info *jm_model_tensor(const jm_model *m, int i)
{
	return i >= 0 && i < m->n_tensors ? &m->tensors[i] : NULL;
}

int jm_model_find_tensor(const jm_model *m, const char *name)
{
	for (int i = 0; i < m->n_tensors; i++)
		if (!strcmp(m->tensors[i].name, name))
			return i;
	return -1;
}
