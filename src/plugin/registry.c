/*
 * registry.c: finding, loading, checking and looking up operator plugins
 * (see plugin/plugin.h for the picture, plugins/jianmo/plugin.h for the
 * ABI).
 *
 * A plugin's init registers into a staging record through the api table;
 * every struct it hands over is checked (ABI version, a size this host
 * knows, names) and copied.  Only when init returns NULL with nothing
 * refused, and none of its names is taken, do its operators become
 * visible; otherwise the record keeps the first reason and the object is
 * closed.  Nothing here prints except through the warning stream main
 * sets (jm_plugins_warn_to).
 */
#include "plugin/plugin.h"

#include <ctype.h>
#include <dirent.h>
#include <dlfcn.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "config.h"
#include "util/err.h"

#ifndef JM_PLUGINDIR
#define JM_PLUGINDIR "/usr/local/lib/jianmo/plugins"
#endif

static struct {
	pthread_mutex_t lock;
	int loaded;
	FILE *warn;
	jm_plugin_rec *recs;
	int n_recs;
	jm_plugin_dir *dirs;
	int n_dirs;
} reg = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* What init's calls register into. */
struct jm_plugin_host {
	jm_plugin_rec *rec;
	int cuda;               /* the sibling's init: only layer_cuda */
	char error[512];        /* the first refusal */
	char last[512];         /* the last call's failure (api->error) */
	int declared;
};

void jm_plugins_warn_to(FILE *fp)
{
	reg.warn = fp;
}

/* ---- the api table ------------------------------------------------------ */

static int host_fail(jm_plugin_host *h, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int host_fail(jm_plugin_host *h, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(h->last, sizeof h->last, fmt, ap);
	va_end(ap);
	if (!h->error[0])
		snprintf(h->error, sizeof h->error, "%s", h->last);
	return -1;
}

/* ABI version and size of a struct the plugin gave; what names it. */
static int check_header(jm_plugin_host *h, const void *p, size_t known, const char *what)
{
	if (!p)
		return host_fail(h, "%s: NULL", what);
	const uint32_t *hd = p;
	if (hd[0] != JM_PLUGIN_ABI_VERSION)
		return host_fail(h, "%s: wrong ABI version %u (this jianmo speaks version %d)", what,
				 hd[0], JM_PLUGIN_ABI_VERSION);
	if (hd[1] != known)
		return host_fail(h, "%s: struct size %u unknown to this jianmo (it knows %zu; "
				 "built against another plugin.h?)", what, hd[1], known);
	return 0;
}

static int valid_name(const char *s)
{
	if (!s || !*s || strlen(s) >= JM_PLUGIN_NAME_MAX || !islower((unsigned char)*s))
		return 0;
	for (; *s; s++)
		if (!islower((unsigned char)*s) && !isdigit((unsigned char)*s) && *s != '_')
			return 0;
	return 1;
}

static int api_plugin(jm_plugin_host *h, const jm_plugin_info *info)
{
	if (h->cuda)
		return host_fail(h, "api->plugin: not allowed in a CUDA object's init");
	if (check_header(h, info, sizeof *info, "plugin info") < 0)
		return -1;
	if (h->declared)
		return host_fail(h, "api->plugin called twice");
	if (!info->name || !*info->name)
		return host_fail(h, "plugin info: no name");
	jm_plugin_rec *r = h->rec;
	snprintf(r->name, sizeof r->name, "%s", info->name);
	snprintf(r->version, sizeof r->version, "%s", info->version ? info->version : "");
	free(r->description);
	r->description = jm_xstrdup(info->description ? info->description : "");
	h->declared = 1;
	return 0;
}

static int copy_args(jm_plugin_host *h, jm_plugin_op *op, int n, const jm_plugin_arg *args)
{
	if (n < 0 || n > JM_PLUGIN_MAX_ARGS || (n > 0 && !args))
		return host_fail(h, "operator \"%s\": %d arguments (at most %d)", op->name, n,
				 JM_PLUGIN_MAX_ARGS);
	for (int i = 0; i < n; i++) {
		char what[96];
		snprintf(what, sizeof what, "operator \"%s\": argument %d", op->name, i + 1);
		if (check_header(h, &args[i], sizeof args[i], what) < 0)
			return -1;
		const jm_plugin_arg *a = &args[i];
		if (!valid_name(a->name))
			return host_fail(h, "%s: bad name (expected [a-z][a-z0-9_]*)", what);
		if (!(a->min <= a->def && a->def <= a->max))
			return host_fail(h, "%s \"%s\": default %g outside [%g, %g]", what, a->name, a->def,
					 a->min, a->max);
		for (int j = 0; j < i; j++)
			if (!strcmp(args[j].name, a->name))
				return host_fail(h, "%s: \"%s\" declared twice", what, a->name);
		op->args[i] = *a;
	}
	op->n_args = n;
	return 0;
}

/* A new op in the staging record after the common checks. */
static jm_plugin_op *stage_op(jm_plugin_host *h, int kind, const char *name, const char *help)
{
	jm_plugin_rec *r = h->rec;
	if (!h->declared) {
		host_fail(h, "operator registered before api->plugin");
		return NULL;
	}
	if (!valid_name(name)) {
		host_fail(h, "operator name \"%s\" is not [a-z][a-z0-9_]* (under %d characters)",
			  name ? name : "(null)", JM_PLUGIN_NAME_MAX);
		return NULL;
	}
	size_t len = strlen(r->staged);
	snprintf(r->staged + len, sizeof r->staged - len, "%s%s", len ? " " : "", name);
	for (int i = 0; i < r->n_ops; i++)
		if (!strcmp(r->ops[i].name, name)) {
			host_fail(h, "operator \"%s\" registered twice", name);
			return NULL;
		}
	r->ops = jm_xrealloc(r->ops, (size_t)(r->n_ops + 1) * sizeof *r->ops);
	jm_plugin_op *op = &r->ops[r->n_ops];
	memset(op, 0, sizeof *op);
	op->kind = kind;
	snprintf(op->name, sizeof op->name, "%s", name);
	op->help = help ? help : "";
	return op;
}

static int api_layer(jm_plugin_host *h, const jm_plugin_layer *l)
{
	if (h->cuda)
		return host_fail(h, "api->layer: not allowed in a CUDA object's init");
	if (check_header(h, l, sizeof *l, "layer operator") < 0)
		return -1;
	jm_plugin_op *op = stage_op(h, JM_PLUGIN_OP_LAYER, l->name, l->help);
	if (!op)
		return -1;
	if (!l->infer || !l->forward || !l->backward)
		return host_fail(h, "layer \"%s\": infer, forward and backward are required", l->name);
	if (copy_args(h, op, l->n_args, l->args) < 0)
		return -1;
	op->layer = *l;
	op->layer.args = NULL; /* the host's copy is op->args */
	h->rec->n_ops++;
	return 0;
}

static int api_feature(jm_plugin_host *h, const jm_plugin_feature *f)
{
	if (h->cuda)
		return host_fail(h, "api->feature: not allowed in a CUDA object's init");
	if (check_header(h, f, sizeof *f, "feature operator") < 0)
		return -1;
	jm_plugin_op *op = stage_op(h, JM_PLUGIN_OP_FEATURE, f->name, f->help);
	if (!op)
		return -1;
	if (!f->apply)
		return host_fail(h, "feature \"%s\": apply is required", f->name);
	int ns = 0;
	while (f->suffixes && f->suffixes[ns]) {
		if (!valid_name(f->suffixes[ns]))
			return host_fail(h, "feature \"%s\": suffix \"%s\" is not [a-z][a-z0-9_]*",
					 f->name, f->suffixes[ns]);
		ns++;
	}
	if (ns < 1 || ns > 16)
		return host_fail(h, "feature \"%s\": needs 1 to 16 output suffixes, got %d", f->name, ns);
	if (copy_args(h, op, f->n_args, f->args) < 0)
		return -1;
	op->feature = *f;
	op->feature.args = NULL;
	op->n_suffixes = ns;
	h->rec->n_ops++;
	return 0;
}

static int api_layer_cuda(jm_plugin_host *h, const jm_plugin_layer_cuda *c)
{
	if (!h->cuda)
		return host_fail(h, "api->layer_cuda: only in NAME-cuda.so's jm_plugin_cuda_init");
	if (check_header(h, c, sizeof *c, "CUDA layer") < 0)
		return -1;
	if (!c->forward || !c->backward)
		return host_fail(h, "CUDA layer \"%s\": forward and backward are required",
				 c->name ? c->name : "(null)");
	for (int i = 0; i < h->rec->n_ops; i++) {
		jm_plugin_op *op = &h->rec->ops[i];
		if (op->kind == JM_PLUGIN_OP_LAYER && c->name && !strcmp(op->name, c->name)) {
			op->cuda = *c;
			return 0;
		}
	}
	return host_fail(h, "CUDA layer \"%s\": %s registers no such layer",
			 c->name ? c->name : "(null)", h->rec->path);
}

static const char *api_error(jm_plugin_host *h)
{
	return h->last;
}

static void *api_alloc(size_t bytes)
{
	return malloc(bytes ? bytes : 1);
}

static const jm_plugin_api host_api = {
	JM_PLUGIN_HEADER(jm_plugin_api),
	.host_version = PACKAGE_VERSION,
	.plugin = api_plugin,
	.layer = api_layer,
	.feature = api_feature,
	.layer_cuda = api_layer_cuda,
	.error = api_error,
	.alloc = api_alloc,
};

/* ---- directories ---------------------------------------------------------- */

static void add_dir(const char *path, const char *origin)
{
	for (int i = 0; i < reg.n_dirs; i++)
		if (!strcmp(reg.dirs[i].path, path))
			return;
	struct stat st;
	reg.dirs = jm_xrealloc(reg.dirs, (size_t)(reg.n_dirs + 1) * sizeof *reg.dirs);
	reg.dirs[reg.n_dirs++] = (jm_plugin_dir){
		.path = jm_xstrdup(path),
		.origin = origin,
		.exists = stat(path, &st) == 0 && S_ISDIR(st.st_mode),
	};
}

static void find_dirs(void)
{
	const char *env = getenv("JIANMO_PLUGIN_PATH");
	if (env) {
		char *copy = jm_xstrdup(env), *save = NULL;
		/* strtok_r skips empty entries: "" and "a::b" never mean "." */
		for (char *d = strtok_r(copy, ":", &save); d; d = strtok_r(NULL, ":", &save))
			add_dir(d, "JIANMO_PLUGIN_PATH");
		free(copy);
	}
	const char *xdg = getenv("XDG_DATA_HOME"), *home = getenv("HOME");
	char buf[PATH_MAX];
	if (xdg && xdg[0] == '/') {
		snprintf(buf, sizeof buf, "%s/jianmo/plugins", xdg);
		add_dir(buf, "user");
	} else if (home && home[0] == '/') {
		snprintf(buf, sizeof buf, "%s/.local/share/jianmo/plugins", home);
		add_dir(buf, "user");
	}
	add_dir(JM_PLUGINDIR, "installed");
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The *.so files of dir (not *-cuda.so, the CUDA siblings), sorted. */
static char **list_objects(const char *dir, int *n)
{
	*n = 0;
	DIR *d = opendir(dir);
	if (!d)
		return NULL;
	char **v = NULL;
	for (struct dirent *e; (e = readdir(d));) {
		size_t len = strlen(e->d_name);
		if (e->d_name[0] == '.' || len < 4 || strcmp(e->d_name + len - 3, ".so") ||
		    (len > 8 && !strcmp(e->d_name + len - 8, "-cuda.so")))
			continue;
		v = jm_xrealloc(v, (size_t)(*n + 1) * sizeof *v);
		v[(*n)++] = jm_xasprintf("%s/%s", dir, e->d_name);
	}
	closedir(d);
	qsort(v, (size_t)*n, sizeof *v, cmp_str);
	return v;
}

/* ---- loading --------------------------------------------------------------- */

static const jm_plugin_op *find_loaded(const char *name, const jm_plugin_rec **owner)
{
	for (int i = 0; i < reg.n_recs; i++) {
		const jm_plugin_rec *r = &reg.recs[i];
		for (int k = 0; r->loaded && k < r->n_ops; k++)
			if (!strcmp(r->ops[k].name, name)) {
				if (owner)
					*owner = r;
				return &r->ops[k];
			}
	}
	return NULL;
}

static void refuse(jm_plugin_rec *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void refuse(jm_plugin_rec *r, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	r->reason = jm_xstrdup(msg);
	r->loaded = 0;
	free(r->ops);
	r->ops = NULL;
	r->n_ops = 0;
	if (r->so)
		dlclose(r->so);
	r->so = NULL;
	if (reg.warn)
		fprintf(reg.warn, "jianmo: plugin %s: %s\n", r->path, msg);
}

static void load_one(jm_plugin_rec *r)
{
	/* RTLD_LOCAL: two plugins' own symbols never clash */
	r->so = dlopen(r->path, RTLD_NOW | RTLD_LOCAL);
	if (!r->so) {
		const char *e = dlerror();
		size_t plen = strlen(r->path);
		/* dlerror repeats the path: "PATH: invalid ELF header" */
		if (e && !strncmp(e, r->path, plen) && !strncmp(e + plen, ": ", 2))
			e += plen + 2;
		refuse(r, "cannot load: %s", e ? e : "dlopen failed");
		return;
	}
	dlerror();
	jm_plugin_init_fn init = (jm_plugin_init_fn)(uintptr_t)dlsym(r->so, JM_PLUGIN_INIT_SYMBOL);
	if (!init) {
		refuse(r, "no %s function (not a jianmo plugin?)", JM_PLUGIN_INIT_SYMBOL);
		return;
	}
	jm_plugin_host h = {.rec = r};
	const char *msg = init(&host_api, &h);
	if (h.error[0]) { /* the host's reason first: init may echo it */
		refuse(r, "%s", h.error);
		return;
	}
	if (msg) {
		refuse(r, "init failed: %s", msg);
		return;
	}
	if (!h.declared) {
		refuse(r, "init did not call api->plugin (no name or version)");
		return;
	}
	for (int k = 0; k < r->n_ops; k++) {
		const jm_plugin_rec *owner = NULL;
		if (find_loaded(r->ops[k].name, &owner)) {
			refuse(r, "operator \"%s\" is already registered by %s", r->ops[k].name, owner->path);
			return;
		}
	}
	r->loaded = 1;
	for (int k = 0; k < r->n_ops; k++)
		r->ops[k].plugin = r; /* recs is allocated once: r never moves */
}

void jm_plugins_load(void)
{
	pthread_mutex_lock(&reg.lock);
	if (reg.loaded) {
		pthread_mutex_unlock(&reg.lock);
		return;
	}
	find_dirs();
	char **files = NULL;
	int nfiles = 0;
	for (int i = 0; i < reg.n_dirs; i++) {
		int n;
		char **v = list_objects(reg.dirs[i].path, &n);
		files = jm_xrealloc(files, (size_t)(nfiles + n + 1) * sizeof *files);
		for (int k = 0; k < n; k++)
			files[nfiles++] = v[k];
		free(v);
	}
	reg.recs = jm_xcalloc((size_t)nfiles + 1, sizeof *reg.recs);
	for (int i = 0; i < nfiles; i++) {
		char real[PATH_MAX];
		int dup = 0;
		if (realpath(files[i], real))
			for (int k = 0; k < reg.n_recs && !dup; k++) {
				char other[PATH_MAX];
				dup = realpath(reg.recs[k].path, other) && !strcmp(real, other);
			}
		if (dup) { /* the same file through two directories */
			free(files[i]);
			continue;
		}
		jm_plugin_rec *r = &reg.recs[reg.n_recs++];
		r->path = files[i];
		load_one(r);
	}
	free(files);
	reg.loaded = 1;
	pthread_mutex_unlock(&reg.lock);
}

static void rec_free(jm_plugin_rec *r)
{
	if (r->cuda_so)
		dlclose(r->cuda_so);
	if (r->so)
		dlclose(r->so);
	free(r->path);
	free(r->reason);
	free(r->description);
	free(r->cuda_reason);
	free(r->ops);
}

void jm_plugins_reset(void)
{
	pthread_mutex_lock(&reg.lock);
	for (int i = 0; i < reg.n_recs; i++)
		rec_free(&reg.recs[i]);
	free(reg.recs);
	for (int i = 0; i < reg.n_dirs; i++)
		free(reg.dirs[i].path);
	free(reg.dirs);
	reg.recs = NULL;
	reg.dirs = NULL;
	reg.n_recs = reg.n_dirs = 0;
	reg.loaded = 0;
	pthread_mutex_unlock(&reg.lock);
}

int jm_plugins_count(void)
{
	jm_plugins_load();
	return reg.n_recs;
}

const jm_plugin_rec *jm_plugins_get(int i)
{
	return i >= 0 && i < jm_plugins_count() ? &reg.recs[i] : NULL;
}

int jm_plugins_dir_count(void)
{
	jm_plugins_load();
	return reg.n_dirs;
}

const jm_plugin_dir *jm_plugins_dir(int i)
{
	return i >= 0 && i < jm_plugins_dir_count() ? &reg.dirs[i] : NULL;
}

const jm_plugin_op *jm_plugins_find(const char *name, int kind)
{
	jm_plugins_load();
	const jm_plugin_op *op = find_loaded(name, NULL);
	return op && op->kind == kind ? op : NULL;
}

/* ---- calls: "swish(beta=1.5)" ---------------------------------------------- */

static const char *kind_name(int kind)
{
	return kind == JM_PLUGIN_OP_LAYER ? "layer" : "feature";
}

/* Why name is not there: its plugin was refused, it is another kind, or
 * no plugin has it. */
static void explain_unknown(const char *name, int kind, char *why, size_t n)
{
	const jm_plugin_op *other = find_loaded(name, NULL);
	if (other) {
		snprintf(why, n, "plugin operator \"%s\" is a %s, not a %s", name, kind_name(other->kind),
			 kind_name(kind));
		return;
	}
	for (int i = 0; i < reg.n_recs; i++) {
		const jm_plugin_rec *r = &reg.recs[i];
		if (r->loaded)
			continue;
		const char *base = strrchr(r->path, '/');
		base = base ? base + 1 : r->path;
		size_t len = strlen(name);
		int staged = 0;
		for (const char *s = r->staged; (s = strstr(s, name)); s += len)
			if ((s == r->staged || s[-1] == ' ') && (!s[len] || s[len] == ' '))
				staged = 1;
		if (staged || (!strncmp(base, name, len) && !strcmp(base + len, ".so"))) {
			snprintf(why, n, "plugin operator \"%s\" is unavailable: %s was refused: %s", name,
				 r->path, r->reason);
			return;
		}
	}
	size_t o = (size_t)snprintf(why, n, "unknown plugin operator \"%s\" (", name);
	int any = 0;
	for (int i = 0; i < reg.n_recs && o < n; i++)
		for (int k = 0; reg.recs[i].loaded && k < reg.recs[i].n_ops && o < n; k++)
			if (reg.recs[i].ops[k].kind == kind)
				o += (size_t)snprintf(why + o, n - o, "%s%s", any++ ? ", " : "loaded: ",
						      reg.recs[i].ops[k].name);
	if (o < n)
		snprintf(why + o, n - o, "%s; see jianmo plugins)", any ? "" : "no plugin provides it");
}

static char *trim(char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	size_t len = strlen(s);
	while (len && isspace((unsigned char)s[len - 1]))
		s[--len] = 0;
	return s;
}

static int parse_arg(const jm_plugin_op *op, char *item, double *vals, int *set, char *why, size_t n)
{
	char *eq = strchr(item, '=');
	if (!eq) {
		snprintf(why, n, "plugin:%s: expected name=value, got \"%s\"", op->name, trim(item));
		return -1;
	}
	*eq = 0;
	char *name = trim(item), *val = trim(eq + 1);
	int k = 0;
	while (k < op->n_args && strcmp(op->args[k].name, name))
		k++;
	if (k == op->n_args) {
		size_t o = (size_t)snprintf(why, n, "plugin:%s: unknown argument \"%s\" (", op->name, name);
		for (int i = 0; i < op->n_args && o < n; i++)
			o += (size_t)snprintf(why + o, n - o, "%s%s", i ? ", " : "expected ", op->args[i].name);
		if (o < n)
			snprintf(why + o, n - o, "%s)", op->n_args ? "" : "it takes none");
		return -1;
	}
	const jm_plugin_arg *a = &op->args[k];
	if (set[k]) {
		snprintf(why, n, "plugin:%s: %s given twice", op->name, name);
		return -1;
	}
	char *end;
	double v = strtod(val, &end);
	if (!*val || *end || !isfinite(v) || v < a->min || v > a->max ||
	    (a->integer && v != floor(v))) {
		snprintf(why, n, "plugin:%s: %s: expected %s in [%g, %g], got \"%s\"", op->name, name,
			 a->integer ? "an integer" : "a number", a->min, a->max, val);
		return -1;
	}
	vals[k] = v;
	set[k] = 1;
	return 0;
}

int jm_plugin_parse_call(const char *text, int kind, jm_plugin_call *call, char *why, size_t n)
{
	memset(call, 0, sizeof *call);
	char *copy = jm_xstrdup(text), *open = strchr(copy, '('), *args = NULL;
	int rc = -1;
	if (open) {
		char *close = strrchr(open, ')');
		if (!close || trim(close + 1)[0]) {
			snprintf(why, n, "plugin:%s: expected NAME(arg=value, ...) with a closing \")\"",
				 trim(copy));
			goto out;
		}
		*open = *close = 0;
		args = open + 1;
	}
	char *name = trim(copy);
	if (!valid_name(name)) {
		snprintf(why, n, "expected a plugin operator name ([a-z][a-z0-9_]*), got \"%s\"", name);
		goto out;
	}
	const jm_plugin_op *op = jm_plugins_find(name, kind);
	if (!op) {
		explain_unknown(name, kind, why, n);
		goto out;
	}
	int set[JM_PLUGIN_MAX_ARGS] = {0};
	if (args && *trim(args)) {
		char *save = NULL;
		for (char *item = strtok_r(args, ",", &save); item; item = strtok_r(NULL, ",", &save))
			if (parse_arg(op, item, call->args, set, why, n) < 0)
				goto out;
	}
	size_t o = (size_t)snprintf(call->text, sizeof call->text, "%s", op->name);
	for (int k = 0; k < op->n_args; k++) {
		if (!set[k])
			call->args[k] = op->args[k].def;
		if (o < sizeof call->text)
			o += (size_t)snprintf(call->text + o, sizeof call->text - o, "%s%s=%.9g",
					      k ? ", " : "(", op->args[k].name, call->args[k]);
	}
	if (op->n_args && o < sizeof call->text)
		snprintf(call->text + o, sizeof call->text - o, ")");
	call->op = op;
	rc = 0;
out:
	free(copy);
	return rc;
}

int jm_plugin_check_layer_token(const char *tok, char *why, size_t n)
{
	if (strncmp(tok, "plugin:", 7))
		return 0;
	jm_plugin_call call;
	return jm_plugin_parse_call(tok + 7, JM_PLUGIN_OP_LAYER, &call, why, n);
}

int jm_plugin_split_layers(char *buf, char **toks, int max)
{
	int n = 0, depth = 0;
	char *start = NULL;
	for (char *p = buf;; p++) {
		int end = !*p;
		int sep = end || (depth == 0 && (isspace((unsigned char)*p) || *p == ','));
		if (*p == '(')
			depth++;
		else if (*p == ')' && depth > 0)
			depth--;
		if (!sep && !start)
			start = p;
		if (sep && start) {
			if (n == max)
				return -1;
			toks[n++] = start;
			start = NULL;
			*p = 0;
		}
		if (end)
			return n;
	}
}

/* ---- the CUDA sibling ------------------------------------------------------- */

const jm_plugin_layer_cuda *jm_plugin_cuda_layer(const jm_plugin_op *cop, char *why, size_t n)
{
	pthread_mutex_lock(&reg.lock);
	jm_plugin_op *op = (jm_plugin_op *)cop;
	jm_plugin_rec *r = (jm_plugin_rec *)op->plugin;
	if (!r->cuda_so && !r->cuda_reason) {
		size_t len = strlen(r->path);
		char *path = jm_xasprintf("%.*s-cuda.so", (int)(len - 3), r->path);
		struct stat st;
		if (stat(path, &st) != 0) {
			r->cuda_reason = jm_xasprintf("no CUDA kernels: %s not found", path);
		} else if (!(r->cuda_so = dlopen(path, RTLD_NOW | RTLD_LOCAL))) {
			const char *e = dlerror();
			r->cuda_reason = jm_xasprintf("cannot load %s: %s", path, e ? e : "dlopen failed");
		} else {
			jm_plugin_init_fn init = (jm_plugin_init_fn)(uintptr_t)dlsym(
				r->cuda_so, JM_PLUGIN_CUDA_INIT_SYMBOL);
			jm_plugin_host h = {.rec = r, .cuda = 1, .declared = 1};
			const char *msg = init ? init(&host_api, &h) : NULL;
			if (!init)
				r->cuda_reason = jm_xasprintf("%s: no %s function", path,
							      JM_PLUGIN_CUDA_INIT_SYMBOL);
			else if (msg || h.error[0])
				r->cuda_reason = jm_xasprintf("%s: %s", path, msg ? msg : h.error);
		}
		free(path);
	}
	const jm_plugin_layer_cuda *c = NULL;
	if (r->cuda_reason)
		snprintf(why, n, "plugin:%s: %s", op->name, r->cuda_reason);
	else if (!op->cuda.forward)
		snprintf(why, n, "plugin:%s: the plugin's CUDA object has no kernels for it", op->name);
	else
		c = &op->cuda;
	pthread_mutex_unlock(&reg.lock);
	return c;
}
