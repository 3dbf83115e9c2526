/*
 * plugin/plugin.h: the host side of operator plugins (the ABI itself is
 * plugins/jianmo/plugin.h).
 *
 *   directories ──jm_plugins_load (once, lazily)──▶ registry
 *       each *.so, sorted: dlopen ─▶ jm_plugin_init(api) ─▶ staged ops
 *       ─▶ checked (ABI version, struct sizes, names, duplicates)
 *       ─▶ loaded (ops visible) or refused (reason kept, dlclose'd)
 *   "swish(beta=1.5)" ──jm_plugin_parse_call──▶ jm_plugin_call (op + args)
 *
 * Directories, in order: every entry of JIANMO_PLUGIN_PATH (colon
 * separated; empty entries are skipped, so the current directory is searched
 * only when written, e.g. "."), the user's directory
 * ($XDG_DATA_HOME/jianmo/plugins, default ~/.local/share/jianmo/plugins) and
 * the installed one (JM_PLUGINDIR).  A refusal never stops jianmo: it is
 * kept (jm_plugins_get) and, when a warning stream is set, printed once as
 * "jianmo: plugin PATH: REASON".
 *
 * The registry lives in libjm_util (the bottom library): the flow
 * (libjm_data), the features (libjm_data) and the model (libjm_engine) all
 * use it.  Loaded plugins stay loaded for the life of the process (until
 * jm_plugins_reset); the op pointers it hands out stay valid until then.
 * Loading is thread-safe; the registry is read-only afterwards.
 */
#ifndef JM_PLUGIN_HOST_H
#define JM_PLUGIN_HOST_H

#include <stdio.h>

#include "plugins/jianmo/plugin.h"

enum { JM_PLUGIN_OP_LAYER = 1, JM_PLUGIN_OP_FEATURE = 2 };

/* One operator, as the host keeps it (copied out of the plugin). */
typedef struct jm_plugin_op {
	int kind;                   /* JM_PLUGIN_OP_* */
	char name[JM_PLUGIN_NAME_MAX];
	const char *help;           /* the plugin's, "" when none */
	int n_args;
	jm_plugin_arg args[JM_PLUGIN_MAX_ARGS];
	jm_plugin_layer layer;      /* kind LAYER */
	jm_plugin_feature feature;  /* kind FEATURE */
	int n_suffixes;             /* feature outputs per input column */
	const struct jm_plugin_rec *plugin;
	/* the CUDA kernels, once looked for (jm_plugin_cuda_layer) */
	int cuda_tried;
	jm_plugin_layer_cuda cuda;
} jm_plugin_op;

/* A plugin file: loaded, or refused with a reason. */
typedef struct jm_plugin_rec {
	char *path;
	int loaded;
	char *reason;               /* refused: why */
	char name[64], version[32];
	char *description;
	int n_ops;
	jm_plugin_op *ops;
	void *so;                   /* dlopen handle (loaded) */
	void *cuda_so;              /* NAME-cuda.so, once loaded */
	char *cuda_reason;          /* why it could not be, once tried */
	/* op names it registered before being refused (for messages) */
	char staged[256];
} jm_plugin_rec;

/* One directory searched, and where it came from. */
typedef struct jm_plugin_dir {
	char *path;
	const char *origin;         /* "JIANMO_PLUGIN_PATH", "user", "installed" */
	int exists;
} jm_plugin_dir;

/* Where refusals are printed as they happen (NULL: nowhere, the default;
 * main sets stderr). */
void jm_plugins_warn_to(FILE *fp);

/* Load every plugin once (later calls do nothing). */
void jm_plugins_load(void);

/* Forget everything and unload (tests, to load again with another
 * JIANMO_PLUGIN_PATH).  Pointers handed out before are invalid after. */
void jm_plugins_reset(void);

/* The records (after jm_plugins_load), in load order, and the dirs. */
int jm_plugins_count(void);
const jm_plugin_rec *jm_plugins_get(int i);
int jm_plugins_dir_count(void);
const jm_plugin_dir *jm_plugins_dir(int i);

/* The operator of that name and kind, loading plugins first; NULL if none. */
const jm_plugin_op *jm_plugins_find(const char *name, int kind);

/* An operator with its argument values, parsed from "swish(beta=1.5)" or
 * "swish" (every argument at its default). */
typedef struct jm_plugin_call {
	const jm_plugin_op *op;
	double args[JM_PLUGIN_MAX_ARGS];
	char text[160];             /* canonical "swish(beta=1.5)" */
} jm_plugin_call;

/* Parse text (after "plugin:" for a layer) into call: the operator must be
 * loaded and of this kind, each argument declared, a number in its range.
 * On failure fills why with "unknown plugin operator \"x\" ..." or
 * "plugin:swish: beta: expected a number in [0, 10], got 11" and returns
 * -1.  When the operator's plugin was refused, why says so. */
int jm_plugin_parse_call(const char *text, int kind, jm_plugin_call *call, char *why, size_t n);

/* For a layer token: is "plugin:..." well formed and known?  0, or -1
 * with why.  Tokens without the prefix are not checked (0). */
int jm_plugin_check_layer_token(const char *tok, char *why, size_t n);

/* The CUDA kernels of a layer operator: loads NAME-cuda.so beside the
 * plugin on first use.  NULL with why when there are none. */
const jm_plugin_layer_cuda *jm_plugin_cuda_layer(const jm_plugin_op *op, char *why, size_t n);

/* Split a layer string into tokens at blanks and commas outside
 * parentheses, so "c32 plugin:swish(beta=1, a=2) p" has three.  Returns
 * the count (at most max) or -1 when there are more; tokens point into
 * buf, which is modified. */
int jm_plugin_split_layers(char *buf, char **toks, int max);

#endif
