/*
 * swish_cuda.cu: the CUDA kernels of the swish plugin (swish-cuda.so, loaded
 * beside swish.so only when a model on the CUDA backend uses the layer).
 * Same formulas as swish.c; tests/test_plugin.c checks them against it.
 *
 * Build: nvcc -O3 -shared -Xcompiler -fPIC $(pkg-config --cflags jianmo-plugin) \
 *        -o swish-cuda.so swish_cuda.cu
 */
#include <cuda_runtime.h>
#include <jianmo/plugin.h>

__global__ static void k_forward(float *y, const float *x, size_t n, float beta)
{
	for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
	     i += (size_t)gridDim.x * blockDim.x)
		y[i] = x[i] / (1.0f + expf(-beta * x[i]));
}

__global__ static void k_backward(float *dx, const float *dy, const float *x, size_t n, float beta)
{
	for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
	     i += (size_t)gridDim.x * blockDim.x) {
		float s = 1.0f / (1.0f + expf(-beta * x[i]));
		dx[i] = dy[i] * (s + beta * x[i] * s * (1.0f - s));
	}
}

static size_t numel(const jm_plugin_pass *p)
{
	return (size_t)p->B * p->in.c * p->in.h * p->in.w;
}

static unsigned blocks(size_t n)
{
	size_t b = (n + 255) / 256;
	return (unsigned)(b < 65535 ? (b ? b : 1) : 65535);
}

static void forward(const jm_plugin_pass *p)
{
	size_t n = numel(p);
	k_forward<<<blocks(n), 256, 0, (cudaStream_t)p->stream>>>(p->y, p->x, n, (float)p->args[0]);
}

static void backward(const jm_plugin_pass *p)
{
	size_t n = numel(p);
	if (p->dx)
		k_backward<<<blocks(n), 256, 0, (cudaStream_t)p->stream>>>(p->dx, p->dy, p->x, n,
									     (float)p->args[0]);
}

extern "C" JM_PLUGIN_EXPORT const char *jm_plugin_cuda_init(const jm_plugin_api *api,
							      jm_plugin_host *host)
{
	static jm_plugin_layer_cuda k;
	k.abi_version = JM_PLUGIN_ABI_VERSION;
	k.size = sizeof k;
	k.name = "swish";
	k.forward = forward;
	k.backward = backward;
	return api->layer_cuda(host, &k) < 0 ? api->error(host) : NULL;
}
