/*
 * broken.c: deliberately broken plugins for the refusal tests, one per
 * -D flag (make check builds each into tests/plugins/broken/):
 *
 *   BROKEN_ABI     declares ABI version 99          bad_abi.so
 *   BROKEN_SIZE    a jm_plugin_layer size the host does not know
 *                                                   bad_size.so
 *   BROKEN_INIT    init returns an error            bad_init.so
 *   BROKEN_NOINIT  exports no jm_plugin_init        no_init.so
 *   BROKEN_DUP     registers "swish" again          zz_dup.so
 *
 * Each otherwise registers a working layer, "broken_<what>", so a test
 * can tell a refused plugin's operators are not there.
 */
#include <jianmo/plugin.h>
#include <string.h>

static const char *infer(jm_plugin_layout *l)
{
	(void)l;
	return NULL;
}

static void copy(const jm_plugin_pass *p)
{
	size_t n = (size_t)p->B * p->in.c * p->in.h * p->in.w;
	if (p->y)
		memcpy(p->y, p->x, n * sizeof *p->y);
}

static void copy_back(const jm_plugin_pass *p)
{
	size_t n = (size_t)p->B * p->in.c * p->in.h * p->in.w;
	if (p->dx)
		memcpy(p->dx, p->dy, n * sizeof *p->dx);
}

#if defined(BROKEN_ABI)
#define NAME "bad_abi"
#elif defined(BROKEN_SIZE)
#define NAME "bad_size"
#elif defined(BROKEN_INIT)
#define NAME "bad_init"
#elif defined(BROKEN_DUP)
#define NAME "swish"
#else
#define NAME "no_init"
#endif

static const char *init(const jm_plugin_api *api, jm_plugin_host *host)
{
	jm_plugin_info info = {JM_PLUGIN_HEADER(jm_plugin_info), .name = "broken_" NAME,
			       .version = "0.0.1"};
	jm_plugin_layer op = {
		JM_PLUGIN_HEADER(jm_plugin_layer),
		.name = NAME,
		.infer = infer,
		.forward = copy,
		.backward = copy_back,
	};
#if defined(BROKEN_ABI)
	info.abi_version = 99;
#elif defined(BROKEN_SIZE)
	op.size = sizeof op + 16;
#elif defined(BROKEN_INIT)
	return "cannot open /nonexistent/weights.bin: No such file or directory";
#endif
	if (api->plugin(host, &info) < 0 || api->layer(host, &op) < 0)
		return api->error(host);
	return NULL;
}

#ifdef BROKEN_NOINIT
JM_PLUGIN_EXPORT const char *jm_plugin_setup(const jm_plugin_api *api, jm_plugin_host *host)
#else
JM_PLUGIN_EXPORT const char *jm_plugin_init(const jm_plugin_api *api, jm_plugin_host *host)
#endif
{
	return init(api, host);
}
