/*
 * cuda_pool.cu: max, average and global average pooling on the device,
 * twins of src/engine/cpu_pool.c.  Forward: a thread per output.
 * Backward gathers instead of scattering: a thread per input element sums
 * the gradients of the windows that contain it (no atomics, so the sums
 * are in a fixed order and a run repeats to the bit).
 */
#include "cuda/cuda_common.cuh"

static __host__ __device__ int pool_out(int n, int K, int S)
{
	return n < K ? 0 : (n - K) / S + 1;
}

/* first maximum wins; NaN propagates (PyTorch), as the CPU's scan */
__global__ void k_maxpool_fwd(float *out, int32_t *argmax, const float *in, size_t n, int H,
			      int W, int K, int S, int OH, int OW)
{
	JM_CUDA_FOR(i, n)
	{
		size_t r, pl = jm_cuda_divrem(i, (size_t)OH * OW, &r);
		int o = (int)r, oh = o / OW, ow = o % OW;
		const float *x = in + pl * H * W;
		int h0 = oh * S, w0 = ow * S, best = h0 * W + w0;
		float bv = x[best];
		for (int kh = 0; kh < K; kh++)
			for (int kw = 0; kw < K; kw++) {
				int j = (h0 + kh) * W + w0 + kw;
				float v = x[j];
				if (v > bv || v != v) {
					bv = v;
					best = j;
				}
			}
		out[i] = bv;
		argmax[i] = best;
	}
}

/* the windows containing (h, w): oh in [lo, hi] */
__device__ __forceinline__ void windows(int h, int K, int S, int OH, int *lo, int *hi)
{
	int a = h - K + 1;
	*lo = a <= 0 ? 0 : (a + S - 1) / S;
	*hi = h / S;
	if (*hi > OH - 1)
		*hi = OH - 1;
}

__global__ void k_maxpool_bwd(float *din, const float *dout, const int32_t *argmax, size_t n,
			      int H, int W, int K, int S, int OH, int OW)
{
	JM_CUDA_FOR(i, n)
	{
		size_t r, pl = jm_cuda_divrem(i, (size_t)H * W, &r);
		int j = (int)r, h = j / W, w = j % W;
		int hl, hh, wl, wh;
		windows(h, K, S, OH, &hl, &hh);
		windows(w, K, S, OW, &wl, &wh);
		const float *g = dout + pl * OH * OW;
		const int32_t *am = argmax + pl * OH * OW;
		float s = 0.0f;
		for (int oh = hl; oh <= hh; oh++)
			for (int ow = wl; ow <= wh; ow++)
				if (am[oh * OW + ow] == j)
					s += g[oh * OW + ow];
		din[i] = s;
	}
}

extern "C" void jm_cuda_maxpool_forward(float *out, int32_t *argmax, const float *in, int B,
					int C, int H, int W, int K, int S)
{
	int OH = pool_out(H, K, S), OW = pool_out(W, K, S);
	size_t n = (size_t)B * C * OH * OW;
	if (!n)
		return;
	jm_cuda_launch(k_maxpool_fwd, jm_cuda_blocks(n), JM_CUDA_THREADS, 0, out, argmax, in, n, H,
		       W, K, S, OH, OW);
	JM_CUDA_LAUNCHED("max pool");
}

extern "C" void jm_cuda_maxpool_backward(float *din, const float *dout, const int32_t *argmax,
					 int B, int C, int H, int W, int K, int S)
{
	int OH = pool_out(H, K, S), OW = pool_out(W, K, S);
	size_t n = (size_t)B * C * H * W;
	if (!n)
		return;
	jm_cuda_launch(k_maxpool_bwd, jm_cuda_blocks(n), JM_CUDA_THREADS, 0, din, dout, argmax, n,
		       H, W, K, S, OH, OW);
	JM_CUDA_LAUNCHED("max pool backward");
}

__global__ void k_avgpool_fwd(float *out, const float *in, size_t n, int H, int W, int K,
			      int S, int OH, int OW, float inv)
{
	JM_CUDA_FOR(i, n)
	{
		size_t r, pl = jm_cuda_divrem(i, (size_t)OH * OW, &r);
		int o = (int)r, oh = o / OW, ow = o % OW;
		const float *x = in + pl * H * W;
		float s = 0.0f;
		for (int kh = 0; kh < K; kh++)
			for (int kw = 0; kw < K; kw++)
				s += x[(oh * S + kh) * W + ow * S + kw];
		out[i] = s * inv;
	}
}

__global__ void k_avgpool_bwd(float *din, const float *dout, size_t n, int H, int W, int K,
			      int S, int OH, int OW, float inv)
{
	JM_CUDA_FOR(i, n)
	{
		size_t r, pl = jm_cuda_divrem(i, (size_t)H * W, &r);
		int j = (int)r, h = j / W, w = j % W;
		int hl, hh, wl, wh;
		windows(h, K, S, OH, &hl, &hh);
		windows(w, K, S, OW, &wl, &wh);
		const float *g = dout + pl * OH * OW;
		float s = 0.0f;
		for (int oh = hl; oh <= hh; oh++)
			for (int ow = wl; ow <= wh; ow++)
				s += g[oh * OW + ow] * inv;
		din[i] = s;
	}
}

extern "C" void jm_cuda_avgpool_forward(float *out, const float *in, int B, int C, int H, int W,
					int K, int S)
{
	int OH = pool_out(H, K, S), OW = pool_out(W, K, S);
	size_t n = (size_t)B * C * OH * OW;
	if (!n)
		return;
	jm_cuda_launch(k_avgpool_fwd, jm_cuda_blocks(n), JM_CUDA_THREADS, 0, out, in, n, H, W, K, S,
		       OH, OW, 1.0f / (float)(K * K));
	JM_CUDA_LAUNCHED("average pool");
}

extern "C" void jm_cuda_avgpool_backward(float *din, const float *dout, int B, int C, int H,
					 int W, int K, int S)
{
	int OH = pool_out(H, K, S), OW = pool_out(W, K, S);
	size_t n = (size_t)B * C * H * W;
	if (!n)
		return;
	jm_cuda_launch(k_avgpool_bwd, jm_cuda_blocks(n), JM_CUDA_THREADS, 0, din, dout, n, H, W, K,
		       S, OH, OW, 1.0f / (float)(K * K));
	JM_CUDA_LAUNCHED("average pool backward");
}

/* a warp per plane */
__global__ void k_gap_fwd(float *out, const float *in, size_t planes, int HW, float inv)
{
	size_t pl = ((size_t)blockIdx.x * blockDim.x + threadIdx.x) >> 5;
	int lane = threadIdx.x & 31;
	if (pl >= planes)
		return;
	const float *x = in + pl * HW;
	float s = 0.0f;
	for (int i = lane; i < HW; i += 32)
		s += x[i];
	for (int o = 16; o > 0; o >>= 1)
		s += __shfl_down_sync(0xffffffffu, s, o);
	if (lane == 0)
		out[pl] = s * inv;
}

__global__ void k_gap_bwd(float *din, const float *dout, size_t n, int HW, float inv)
{
	JM_CUDA_FOR(i, n)
	{
		size_t r;
		din[i] = dout[jm_cuda_divrem(i, (size_t)HW, &r)] * inv;
	}
}

extern "C" void jm_cuda_gap_forward(float *out, const float *in, int B, int C, int HW)
{
	size_t planes = (size_t)B * C;
	if (!planes)
		return;
	jm_cuda_launch(k_gap_fwd, (unsigned)((planes * 32 + 255) / 256), 256, 0, out, in, planes,
		       HW, 1.0f / (float)HW);
	JM_CUDA_LAUNCHED("global average pool");
}

extern "C" void jm_cuda_gap_backward(float *din, const float *dout, int B, int C, int HW)
{
	size_t n = (size_t)B * C * HW;
	if (!n)
		return;
	jm_cuda_launch(k_gap_bwd, jm_cuda_blocks(n), JM_CUDA_THREADS, 0, din, dout, n, HW,
		       1.0f / (float)HW);
	JM_CUDA_LAUNCHED("global average pool backward");
}
