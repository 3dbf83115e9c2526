/*
 * jianmo/plugin.h: the ABI between jianmo and its operator plugins.
 *
 * A plugin is a shared object that exports one function, jm_plugin_init.
 * jianmo loads every *.so of its plugin directories (JIANMO_PLUGIN_PATH,
 * then $XDG_DATA_HOME/jianmo/plugins, then the installed plugin directory),
 * calls jm_plugin_init with a table of host functions, and the plugin
 * registers its operators through it:
 *
 *   dlopen ──▶ jm_plugin_init(api, host)
 *                 api->plugin(host, &info)       name, version: first
 *                 api->layer(host, &layer_op)    layers for the cnn string
 *                 api->feature(host, &feature_op) [features] transforms
 *              return NULL, or an error message (the plugin is refused)
 *
 * Versioning.  Every struct starts with abi_version and size (use the
 * JM_PLUGIN_HEADER(type) initialiser).  JM_PLUGIN_ABI_VERSION changes only
 * when something breaks; jianmo refuses any other version.  Within one
 * version structs and the api table only ever grow at the end: a plugin
 * reads a newer field only when the size it was given covers it, and the
 * host refuses a struct whose size it does not know.
 *
 * Layers.  Arguments are numbers, written in the flow as
 * plugin:swish(beta=1.5); the host parses them, fills in defaults and
 * checks each against the declared [min, max] before any callback runs, so
 * callbacks get args[] in declaration order, always valid.  Shapes are per
 * sample, C x H x W (a flat vector is C x 1 x 1), batch B first, row-major
 * float32.  Parameters live in jianmo's flat parameter buffer: the plugin
 * declares their shapes in infer and fills them in init; checkpoints name
 * them layers.N.<name> as for built-in layers.  backward ADDS into the
 * parameter gradients and OVERWRITES dx (dx is NULL when the input needs
 * no gradient).  Pointers in a pass are the backend's: host memory for the
 * CPU callbacks, device memory for the CUDA ones, which live in a sibling
 * object NAME-cuda.so (beside NAME.so) exporting jm_plugin_cuda_init and
 * loaded only when a model on the CUDA backend uses the layer.
 *
 * Features.  A feature operator turns the listed columns (float64, NaN for
 * missing) into new ones, one output column per input column and suffix:
 * "<column>_<suffix>".  fit sees the training rows and may keep state as a
 * blob (allocated with api->alloc); apply gets that blob back for every
 * part (train, validation, test) and for replays: the blob is saved with
 * the run, like built-in features' fitted numbers.
 *
 * Callbacks must be thread-compatible (one model per thread) and must not
 * keep pointers they are given past the call.  Strings the plugin hands
 * over (names, help, error messages) must stay valid while it is loaded:
 * use string literals or static buffers.
 */
#ifndef JIANMO_PLUGIN_H
#define JIANMO_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define JM_PLUGIN_ABI_VERSION 1

#define JM_PLUGIN_MAX_ARGS 8    /* arguments per operator */
#define JM_PLUGIN_MAX_PARAMS 4  /* parameter tensors per layer */
#define JM_PLUGIN_NAME_MAX 32   /* operator, argument and tensor names */

/* The first two fields of every struct. */
#define JM_PLUGIN_HEADER(type) .abi_version = JM_PLUGIN_ABI_VERSION, .size = sizeof(type)

#if defined(__GNUC__)
#define JM_PLUGIN_EXPORT __attribute__((visibility("default")))
#else
#define JM_PLUGIN_EXPORT
#endif

typedef struct jm_plugin_host jm_plugin_host; /* opaque, the host's */

/* Who the plugin is (api->plugin, once, before any operator). */
typedef struct jm_plugin_info {
	uint32_t abi_version, size;
	const char *name;        /* "swish" */
	const char *version;     /* "1.0.0" */
	const char *description; /* one line, may be NULL */
} jm_plugin_info;

/* A number argument: name=value in the flow, default def, min <= value <=
 * max; integer != 0 also requires a whole number. */
typedef struct jm_plugin_arg {
	uint32_t abi_version, size;
	const char *name;
	double def, min, max;
	int integer;
	const char *help;
} jm_plugin_arg;

/* ---- layers ------------------------------------------------------------ */

typedef struct jm_plugin_shape {
	int c, h, w;
} jm_plugin_shape;

typedef struct jm_plugin_tensor {
	char name[JM_PLUGIN_NAME_MAX]; /* "weight": layers.N.weight */
	int ndim;                      /* 1 to 4 */
	int64_t shape[4];
} jm_plugin_tensor;

/* infer: the host fills args and in; the plugin fills out (preset to in),
 * its parameter tensors and the scratch it needs per sample (kept from a
 * forward to its backward). */
typedef struct jm_plugin_layout {
	uint32_t abi_version, size;
	const double *args;
	jm_plugin_shape in;
	jm_plugin_shape out;
	int n_params;
	jm_plugin_tensor params[JM_PLUGIN_MAX_PARAMS];
	size_t scratch_per_sample; /* floats */
} jm_plugin_layout;

/* init: fill the parameter tensors (host memory, in declaration order)
 * from seed; the same seed must give the same values. */
typedef struct jm_plugin_init_call {
	uint32_t abi_version, size;
	const double *args;
	jm_plugin_shape in, out;
	int n_params;
	const jm_plugin_tensor *tensors;
	float *const *params;
	uint64_t seed;
} jm_plugin_init_call;

/* One forward or backward over a batch:
 *   forward:  y [B, out] from x [B, in] (training: 1 in a training step)
 *   backward: dx [B, in] (=, may be NULL) and grads (+=) from dy [B, out],
 *             with x and y of the matching forward
 * scratch holds B * scratch_per_sample floats, the same for a forward and
 * its backward.  stream: the CUDA stream (cudaStream_t) for CUDA kernels,
 * NULL on the CPU.  A CUDA pass launches its kernels on that stream and
 * nowhere else, and neither waits for it, allocates nor copies to the
 * host: a training step may be captured into a CUDA graph and replayed,
 * and the pass's launches are kept in it, so the same pass (the same
 * bytes in *pass) must launch the same kernels every time.  A launch on
 * another stream would run once at capture and never in a replay. */
typedef struct jm_plugin_pass {
	uint32_t abi_version, size;
	const double *args;
	int B;
	jm_plugin_shape in, out;
	int training;
	const float *x;
	float *y;
	const float *dy;
	float *dx;
	int n_params;
	const float *const *params;
	float *const *grads;
	float *scratch;
	void *stream;
} jm_plugin_pass;

typedef struct jm_plugin_layer {
	uint32_t abi_version, size;
	const char *name;        /* plugin:NAME in a flow; [a-z0-9_], unique */
	const char *help;
	int n_args;
	const jm_plugin_arg *args;
	/* NULL, or a message ("needs an image input") */
	const char *(*infer)(jm_plugin_layout *layout);
	/* may be NULL when the layer has no parameters */
	void (*init)(const jm_plugin_init_call *call);
	void (*forward)(const jm_plugin_pass *pass);
	void (*backward)(const jm_plugin_pass *pass);
} jm_plugin_layer;

/* The CUDA kernels of a layer, registered from NAME-cuda.so. */
typedef struct jm_plugin_layer_cuda {
	uint32_t abi_version, size;
	const char *name;        /* the layer operator's name */
	void (*forward)(const jm_plugin_pass *pass);
	void (*backward)(const jm_plugin_pass *pass);
} jm_plugin_layer_cuda;

/* ---- features ---------------------------------------------------------- */

typedef struct jm_plugin_columns {
	uint32_t abi_version, size;
	const double *args;
	int64_t rows;
	int n_in;
	const char *const *names;    /* the input columns' names */
	const double *const *in;     /* n_in columns of rows values, NaN = missing */
	int n_out;                   /* n_in * the number of suffixes */
	double *const *out;          /* column k's outputs: out[k * nsuffix + s] */
	const void *state;           /* apply: fit's blob (NULL in fit) */
	size_t state_size;
} jm_plugin_columns;

typedef struct jm_plugin_feature {
	uint32_t abi_version, size;
	const char *name;
	const char *help;
	int n_args;
	const jm_plugin_arg *args;
	const char *const *suffixes; /* NULL-terminated, at least one */
	/* Learn from the training rows: *state = api->alloc'd blob (or NULL),
	 * *state_size its bytes; NULL or a message.  May be NULL. */
	const char *(*fit)(const jm_plugin_columns *cols, void **state, size_t *state_size);
	/* Fill out from in (and state); NULL or a message. */
	const char *(*apply)(const jm_plugin_columns *cols);
} jm_plugin_feature;

/* ---- the host API ------------------------------------------------------ */

typedef struct jm_plugin_api {
	uint32_t abi_version, size;
	const char *host_version;    /* jianmo's version, "0.1.0" */
	/* Each returns 0, or -1 (the plugin will be refused; init should
	 * return at once, e.g. with api->error(host)). */
	int (*plugin)(jm_plugin_host *host, const jm_plugin_info *info);
	int (*layer)(jm_plugin_host *host, const jm_plugin_layer *op);
	int (*feature)(jm_plugin_host *host, const jm_plugin_feature *op);
	int (*layer_cuda)(jm_plugin_host *host, const jm_plugin_layer_cuda *op);
	/* The reason the last call above failed. */
	const char *(*error)(jm_plugin_host *host);
	/* Memory the host frees (feature state blobs). */
	void *(*alloc)(size_t bytes);
} jm_plugin_api;

typedef const char *(*jm_plugin_init_fn)(const jm_plugin_api *api, jm_plugin_host *host);

/* What a plugin exports (the sibling CUDA object: jm_plugin_cuda_init). */
JM_PLUGIN_EXPORT const char *jm_plugin_init(const jm_plugin_api *api, jm_plugin_host *host);
JM_PLUGIN_EXPORT const char *jm_plugin_cuda_init(const jm_plugin_api *api, jm_plugin_host *host);

#define JM_PLUGIN_INIT_SYMBOL "jm_plugin_init"
#define JM_PLUGIN_CUDA_INIT_SYMBOL "jm_plugin_cuda_init"

#ifdef __cplusplus
}
#endif

#endif
