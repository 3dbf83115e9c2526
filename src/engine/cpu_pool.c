/*
 * cpu_pool.c: max, average and global average pooling on the CPU.
 *
 * Plain loops over (sample, channel) planes, split across the CPU
 * workers.  Max pooling records the flat
 * in-plane index of each maximum (h*W + w) so backward scatters the
 * gradient there; 2x2/stride 2, the common case, has its own branch-free
 * kernel.
 */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "engine/cpu_ops.h"

/* Output size in floor mode; a plane smaller than the window has none. */
static int pool_out(int n, int K, int S)
{
	return n < K ? 0 : (n - K) / S + 1;
}

/* One step of the window scan, as PyTorch's: a larger value or any NaN
 * takes over (so the first maximum wins, and NaN propagates).  Written
 * as bit selects: on real data the comparison is a coin flip, a branch
 * would mispredict half the time, and GCC keeps `?:` a branch outside
 * vectorized loops (the 14x14 rows' remainders ran 3x slower). */
static inline void pool_max_step(float *bv, int *bi, float v, int i)
{
	uint32_t m = -(uint32_t)((v > *bv) | (v != v)), a, b;
	memcpy(&a, &v, sizeof a);
	memcpy(&b, bv, sizeof b);
	b = (a & m) | (b & ~m);
	memcpy(bv, &b, sizeof b);
	*bi = (int)(((uint32_t)i & m) | ((uint32_t)*bi & ~m));
}

/* 2x2 windows, stride 2: the layer every small CNN uses, unrolled. */
JM_CPU_HOT static void maxpool_2x2(float *restrict o, int32_t *restrict am,
				   const float *restrict x, int W, int OH,
				   int OW)
{
	for (int oh = 0; oh < OH; oh++) {
		const float *r0 = x + (size_t)2 * oh * W, *r1 = r0 + W;
		int base = 2 * oh * W;
		for (int ow = 0; ow < OW; ow++) {
			int i = base + 2 * ow;
			float bv = r0[2 * ow];
			int bi = i;
			pool_max_step(&bv, &bi, r0[2 * ow + 1], i + 1);
			pool_max_step(&bv, &bi, r1[2 * ow], i + W);
			pool_max_step(&bv, &bi, r1[2 * ow + 1], i + W + 1);
			o[oh * OW + ow] = bv;
			am[oh * OW + ow] = bi;
		}
	}
}

/* The pooling ops split their (sample, channel) planes across the
 * workers. */
typedef struct pool_job {
	float *out;
	int32_t *argmax;
	const float *in;
	const int32_t *cargmax;
	int H, W, K, S, HW;
	size_t planes;
} pool_job;

static void plane_range(const pool_job *j, int part, int nparts, size_t *lo, size_t *hi)
{
	jm_cpu_part_range(j->planes, part, nparts, 1, lo, hi);
}

static int pool_parts(size_t planes, size_t floats_per_plane)
{
	int n = jm_cpu_parts_for(planes * floats_per_plane);
	return (size_t)n > planes ? (int)(planes ? planes : 1) : n;
}

static void maxpool_forward_part(void *ctx, int part, int nparts)
{
	const pool_job *j = ctx;
	float *out = j->out;
	int32_t *argmax = j->argmax;
	const float *in = j->in;
	int H = j->H, W = j->W, K = j->K, S = j->S;
	int OH = pool_out(H, K, S), OW = pool_out(W, K, S);
	size_t lo, hi;
	plane_range(j, part, nparts, &lo, &hi);
	for (size_t pl = lo; pl < hi; pl++) {
		const float *x = in + pl * H * W;
		float *o = out + pl * OH * OW;
		int32_t *am = argmax + pl * OH * OW;
		if (K == 2 && S == 2) {
			maxpool_2x2(o, am, x, W, OH, OW);
			continue;
		}
		for (int oh = 0; oh < OH; oh++)
			for (int ow = 0; ow < OW; ow++) {
				int h0 = oh * S, w0 = ow * S;
				int best = h0 * W + w0;
				float bv = x[best];
				for (int kh = 0; kh < K; kh++)
					for (int kw = 0; kw < K; kw++) {
						int i = (h0 + kh) * W + w0 + kw;
						float v = x[i];
						/* first maximum wins; NaN propagates (PyTorch) */
						pool_max_step(&bv, &best, v, i);
					}
				o[oh * OW + ow] = bv;
				am[oh * OW + ow] = best;
			}
	}
}

void jm_cpu_maxpool_forward(float *out, int32_t *argmax, const float *in,
			    int B, int C, int H, int W, int K, int S)
{
	pool_job j = {.out = out, .argmax = argmax, .in = in, .H = H, .W = W, .K = K, .S = S,
		      .planes = (size_t)B * C};
	jm_cpu_parallel(pool_parts(j.planes, (size_t)H * W), maxpool_forward_part, &j);
}

/* 2x2 windows, stride 2, backward: windows do not overlap, so each input
 * element is written once (the gradient where the window's maximum was,
 * else 0) and no zeroing pass is needed; rows and columns no window
 * covers (odd sizes) are zeroed. */
JM_CPU_HOT static void maxpool_2x2_backward(float *restrict d, const float *restrict g,
					    const int32_t *restrict am, int H, int W,
					    int OH, int OW)
{
	for (int oh = 0; oh < OH; oh++) {
		float *r0 = d + (size_t)2 * oh * W, *r1 = r0 + W;
		int base = 2 * oh * W;
		for (int ow = 0; ow < OW; ow++) {
			int i = base + 2 * ow, a = am[oh * OW + ow];
			float v = g[oh * OW + ow];
			r0[2 * ow] = a == i ? v : 0.0f;
			r0[2 * ow + 1] = a == i + 1 ? v : 0.0f;
			r1[2 * ow] = a == i + W ? v : 0.0f;
			r1[2 * ow + 1] = a == i + W + 1 ? v : 0.0f;
		}
		for (int w = 2 * OW; w < W; w++)
			r0[w] = r1[w] = 0.0f;
	}
	for (int h = 2 * OH; h < H; h++)
		memset(d + (size_t)h * W, 0, (size_t)W * sizeof *d);
}

static void maxpool_backward_part(void *ctx, int part, int nparts)
{
	const pool_job *j = ctx;
	int H = j->H, W = j->W, K = j->K, S = j->S;
	int OH = pool_out(H, K, S), OW = pool_out(W, K, S);
	size_t P = (size_t)OH * OW, HW = (size_t)H * W, lo, hi;
	plane_range(j, part, nparts, &lo, &hi);
	for (size_t pl = lo; pl < hi; pl++) {
		float *d = j->out + pl * HW;
		const float *g = j->in + pl * P;
		const int32_t *am = j->cargmax + pl * P;
		if (K == 2 && S == 2) {
			maxpool_2x2_backward(d, g, am, H, W, OH, OW);
			continue;
		}
		memset(d, 0, HW * sizeof *d);
		for (size_t i = 0; i < P; i++)
			d[am[i]] += g[i];
	}
}

void jm_cpu_maxpool_backward(float *din, const float *dout,
			     const int32_t *argmax, int B, int C, int H, int W,
			     int K, int S)
{
	pool_job j = {.out = din, .in = dout, .cargmax = argmax, .H = H, .W = W, .K = K,
		      .S = S, .planes = (size_t)B * C};
	jm_cpu_parallel(pool_parts(j.planes, (size_t)H * W), maxpool_backward_part, &j);
}

void jm_cpu_avgpool_forward(float *out, const float *in, int B, int C, int H,
			    int W, int K, int S)
{
	int OH = pool_out(H, K, S), OW = pool_out(W, K, S);
	size_t planes = (size_t)B * C;
	float inv = 1.0f / (float)(K * K);
	for (size_t pl = 0; pl < planes; pl++) {
		const float *x = in + pl * H * W;
		float *o = out + pl * OH * OW;
		for (int oh = 0; oh < OH; oh++)
			for (int ow = 0; ow < OW; ow++) {
				float s = 0.0f;
				for (int kh = 0; kh < K; kh++)
					for (int kw = 0; kw < K; kw++)
						s += x[(oh * S + kh) * W + ow * S + kw];
				o[oh * OW + ow] = s * inv;
			}
	}
}

void jm_cpu_avgpool_backward(float *din, const float *dout, int B, int C,
			     int H, int W, int K, int S)
{
	int OH = pool_out(H, K, S), OW = pool_out(W, K, S);
	size_t planes = (size_t)B * C;
	float inv = 1.0f / (float)(K * K);
	memset(din, 0, planes * H * W * sizeof *din);
	for (size_t pl = 0; pl < planes; pl++) {
		float *d = din + pl * H * W;
		const float *g = dout + pl * OH * OW;
		for (int oh = 0; oh < OH; oh++)
			for (int ow = 0; ow < OW; ow++) {
				float v = g[oh * OW + ow] * inv;
				for (int kh = 0; kh < K; kh++)
					for (int kw = 0; kw < K; kw++)
						d[(oh * S + kh) * W + ow * S + kw] += v;
			}
	}
}

/* in [B,C,HW] -> out [B,C] (mean over the plane) */
JM_CPU_HOT static void gap_forward_part(void *ctx, int part, int nparts)
{
	const pool_job *j = ctx;
	int HW = j->HW;
	float inv = 1.0f / (float)HW;
	size_t lo, hi;
	plane_range(j, part, nparts, &lo, &hi);
	for (size_t pl = lo; pl < hi; pl++) {
		const float *x = j->in + pl * HW;
		float acc[8] = {0}, t = 0.0f;
		int i = 0;
		for (; i + 8 <= HW; i += 8)
			for (int k = 0; k < 8; k++)
				acc[k] += x[i + k];
		for (; i < HW; i++)
			t += x[i];
		t += ((acc[0] + acc[4]) + (acc[1] + acc[5])) +
		     ((acc[2] + acc[6]) + (acc[3] + acc[7]));
		j->out[pl] = t * inv;
	}
}

void jm_cpu_gap_forward(float *out, const float *in, int B, int C, int HW)
{
	pool_job j = {.out = out, .in = in, .HW = HW, .planes = (size_t)B * C};
	jm_cpu_parallel(pool_parts(j.planes, (size_t)HW), gap_forward_part, &j);
}

JM_CPU_HOT static void gap_backward_part(void *ctx, int part, int nparts)
{
	const pool_job *j = ctx;
	int HW = j->HW;
	float inv = 1.0f / (float)HW;
	size_t lo, hi;
	plane_range(j, part, nparts, &lo, &hi);
	for (size_t pl = lo; pl < hi; pl++) {
		float v = j->in[pl] * inv;
		float *d = j->out + pl * HW;
		for (int i = 0; i < HW; i++)
			d[i] = v;
	}
}

void jm_cpu_gap_backward(float *din, const float *dout, int B, int C, int HW)
{
	pool_job j = {.out = din, .in = dout, .HW = HW, .planes = (size_t)B * C};
	jm_cpu_parallel(pool_parts(j.planes, (size_t)HW), gap_backward_part, &j);
}
