/*
 * chscale.c: a test plugin layer with parameters: y = x * weight[c] + bias[c]
 * per channel (c of C x H x W).  It exercises what swish does not: tensors
 * declared in infer and named layers.N.weight, initialised from the host's
 * seed, gradients accumulated; scratch kept from forward to backward (the
 * input, copied, to check the host keeps it); and an "init" argument.
 */
#include <jianmo/plugin.h>
#include <string.h>

static const jm_plugin_arg args[] = {
	{JM_PLUGIN_HEADER(jm_plugin_arg), .name = "spread", .def = 0.5, .min = 0, .max = 1,
	 .help = "weights start in [1 - spread, 1 + spread]"},
	{JM_PLUGIN_HEADER(jm_plugin_arg), .name = "bad", .def = 0, .min = 0, .max = 4,
	 .help = "for the refusal tests, infer gives: 1 an output of 0 channels, 2 an output "
		 "too large, 3 five tensors, 4 a tensor of no dimensions"},
};

static const char *infer(jm_plugin_layout *l)
{
	l->n_params = 2;
	strcpy(l->params[0].name, "weight");
	l->params[0].ndim = 1;
	l->params[0].shape[0] = l->in.c;
	strcpy(l->params[1].name, "bias");
	l->params[1].ndim = 1;
	l->params[1].shape[0] = l->in.c;
	l->scratch_per_sample = (size_t)l->in.c * l->in.h * l->in.w;
	switch ((int)l->args[1]) {
	case 1: l->out.c = 0; break;
	case 2: l->out.c = 1 << 20; l->out.h = l->out.w = 64; break;
	case 3: l->n_params = 5; break;
	case 4: l->params[1].ndim = 0; break;
	}
	return NULL;
}

static void init(const jm_plugin_init_call *c)
{
	uint64_t s = c->seed | 1;
	for (int i = 0; i < c->in.c; i++) {
		s ^= s << 13, s ^= s >> 7, s ^= s << 17;
		double u = (double)(s >> 11) / 9007199254740992.0;
		c->params[0][i] = (float)(1.0 + c->args[0] * (2 * u - 1));
		c->params[1][i] = 0.1f * (float)i;
	}
}

static void forward(const jm_plugin_pass *p)
{
	int C = p->in.c, HW = p->in.h * p->in.w;
	const float *w = p->params[0], *b = p->params[1];
	for (int n = 0; n < p->B; n++)
		for (int c = 0; c < C; c++)
			for (int i = 0; i < HW; i++) {
				size_t k = ((size_t)n * C + c) * HW + i;
				p->y[k] = p->x[k] * w[c] + b[c];
				p->scratch[k] = p->x[k];
			}
}

static void backward(const jm_plugin_pass *p)
{
	int C = p->in.c, HW = p->in.h * p->in.w;
	const float *w = p->params[0];
	for (int n = 0; n < p->B; n++)
		for (int c = 0; c < C; c++)
			for (int i = 0; i < HW; i++) {
				size_t k = ((size_t)n * C + c) * HW + i;
				p->grads[0][c] += p->scratch[k] * p->dy[k];
				p->grads[1][c] += p->dy[k];
				if (p->dx)
					p->dx[k] = p->dy[k] * w[c];
			}
}

JM_PLUGIN_EXPORT const char *jm_plugin_init(const jm_plugin_api *api, jm_plugin_host *host)
{
	static const jm_plugin_info info = {JM_PLUGIN_HEADER(jm_plugin_info), .name = "chscale",
					    .version = "0.1"};
	static const jm_plugin_layer op = {
		JM_PLUGIN_HEADER(jm_plugin_layer),
		.name = "chscale",
		.help = "per-channel scale and shift",
		.n_args = 2,
		.args = args,
		.infer = infer,
		.init = init,
		.forward = forward,
		.backward = backward,
	};
	if (api->plugin(host, &info) < 0 || api->layer(host, &op) < 0)
		return api->error(host);
	return NULL;
}
