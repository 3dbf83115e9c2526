/*
 * swish.c: an example jianmo layer plugin, swish(x) = x * sigmoid(beta x)
 * (SiLU when beta = 1), element-wise, no parameters.  In a flow:
 *
 *   [model]
 *   layers = c32 plugin:swish(beta=1.5) p fc10
 *
 * forward  y = x s,  s = 1 / (1 + exp(-beta x))
 * backward dx = dy (s + beta x s (1 - s))
 *
 * Build: cc -O2 -fPIC -shared $(pkg-config --cflags jianmo-plugin) \
 *        -o swish.so swish.c -lm
 * The CUDA kernels are in swish_cuda.cu (swish-cuda.so).
 */
#include <jianmo/plugin.h>
#include <math.h>

static const jm_plugin_arg args[] = {
	{JM_PLUGIN_HEADER(jm_plugin_arg), .name = "beta", .def = 1.0, .min = 0.0, .max = 50.0,
	 .help = "slope of the sigmoid gate (1: SiLU)"},
};

static const char *infer(jm_plugin_layout *l)
{
	(void)l; /* same shape as the input, no parameters, no scratch */
	return NULL;
}

static size_t numel(const jm_plugin_pass *p)
{
	return (size_t)p->B * (size_t)p->in.c * (size_t)p->in.h * (size_t)p->in.w;
}

static void forward(const jm_plugin_pass *p)
{
	const float beta = (float)p->args[0];
	const float *restrict x = p->x;
	float *restrict y = p->y;
	size_t n = numel(p);
	for (size_t i = 0; i < n; i++)
		y[i] = x[i] / (1.0f + expf(-beta * x[i]));
}

static void backward(const jm_plugin_pass *p)
{
	if (!p->dx)
		return; /* no parameters, and the input needs no gradient */
	const float beta = (float)p->args[0];
	const float *restrict x = p->x, *restrict dy = p->dy;
	float *restrict dx = p->dx;
	size_t n = numel(p);
	for (size_t i = 0; i < n; i++) {
		float s = 1.0f / (1.0f + expf(-beta * x[i]));
		dx[i] = dy[i] * (s + beta * x[i] * s * (1.0f - s));
	}
}

static const jm_plugin_layer swish = {
	JM_PLUGIN_HEADER(jm_plugin_layer),
	.name = "swish",
	.help = "x * sigmoid(beta * x), element-wise",
	.n_args = 1,
	.args = args,
	.infer = infer,
	.forward = forward,
	.backward = backward,
};

JM_PLUGIN_EXPORT const char *jm_plugin_init(const jm_plugin_api *api, jm_plugin_host *host)
{
	static const jm_plugin_info info = {
		JM_PLUGIN_HEADER(jm_plugin_info),
		.name = "swish",
		.version = "1.0.0",
		.description = "the swish activation as a layer",
	};
	if (api->abi_version != JM_PLUGIN_ABI_VERSION)
		return "built for another jianmo plugin ABI";
	if (api->plugin(host, &info) < 0 || api->layer(host, &swish) < 0)
		return api->error(host);
	return NULL;
}
