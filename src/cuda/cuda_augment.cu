/*
 * cuda_augment.cu: the augmentation ops on the device, twins of
 * src/engine/cpu_augment.c (backend.h has their contracts).
 *
 *   augment_geometry  a thread per output element: the crop/flip source
 *                     (or the padding), then the erase rectangle
 *   augment_mix       in place, a thread per element of a pair (i, B-1-i):
 *                     it reads both samples' values first and writes both,
 *                     so every sample is mixed from the batch as it came in
 *   mix_targets       a thread per (sample, class)
 *   augment_batch     all three in one launch: each output element
 *                     computes its sample's geometry value and its
 *                     partner's and mixes them; then the targets
 *
 * Blends use __fmul_rn/__fadd_rn: no contracted multiply-add, the CPU's
 * bits.  The erase values are the host hash's normal draws computed in
 * double on the device.
 */
#include <math.h>

#include "cuda/cuda_common.cuh"

__device__ __forceinline__ int reflect_i(int i, int n)
{
	if (i < 0)
		return -i;
	if (i >= n)
		return 2 * (n - 1) - i;
	return i;
}

__device__ __forceinline__ float hash_normalf(uint64_t key, uint64_t counter)
{
	double u1 = (double)((jm_cuda_hash64(key, 2 * counter) >> 11) + 1) * 0x1p-53;
	double u2 = (double)(jm_cuda_hash64(key, 2 * counter + 1) >> 11) * 0x1p-53;
	return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

/* Element (plane, y, x) of the geometry's output, i its flat index
 * (plane = b*C + c, g the sample's plan). */
__device__ __forceinline__ float geom_value(const float *in, const jm_aug_geom *g, size_t plane,
					    int y, int x, size_t i, int H, int W, int reflect_pad,
					    float fill, int erase_mode, uint64_t key)
{
	if (g->ey0 < g->ey1 && g->ex0 < g->ex1 && y >= g->ey0 && y < g->ey1 && x >= g->ex0 &&
	    x < g->ex1)
		return erase_mode == JM_ERASE_RAND    ? hash_normalf(key, plane)
		       : erase_mode == JM_ERASE_PIXEL ? hash_normalf(key, i)
						      : 0.0f;
	int sy = y + g->dy, sx = (g->flip ? W - 1 - x : x) + g->dx;
	int in_y = sy >= 0 && sy < H, in_x = sx >= 0 && sx < W;
	if (in_y && in_x)
		return in[(plane * H + sy) * W + sx];
	if (reflect_pad)
		return in[(plane * H + reflect_i(sy, H)) * W + reflect_i(sx, W)];
	return fill;
}

__global__ void k_geometry(float *out, const float *in, const jm_aug_geom *plan, int B, int C,
			   int H, int W, int reflect_pad, float fill, int erase_mode, uint64_t key)
{
	size_t n = (size_t)B * C * H * W;
	JM_CUDA_FOR(i, n)
	{
		int x = (int)(i % W), y = (int)((i / W) % H);
		size_t plane = i / ((size_t)H * W);
		jm_aug_geom g = plan[plane / C];
		out[i] = geom_value(in, &g, plane, y, x, i, H, W, reflect_pad, fill, erase_mode, key);
	}
}

extern "C" void jm_cuda_augment_geometry(float *out, const float *in, const jm_aug_geom *g,
					 int B, int C, int H, int W, int pad_mode, float fill,
					 int erase_mode, uint64_t key)
{
	size_t n = (size_t)B * C * H * W;
	if (!n)
		return;
	jm_cuda_launch(k_geometry, jm_cuda_blocks(n), JM_CUDA_THREADS, 0, out, in, g, B, C, H, W,
		       pad_mode == JM_PAD_REFLECT, fill, erase_mode, key);
	JM_CUDA_LAUNCHED("augment geometry");
}

/* The value sample s gets at (c, y, x) under mix m: own, blended or the
 * partner's inside the box. */
__device__ __forceinline__ float mixed(const jm_aug_mix *m, float own, float other, int y, int x)
{
	if (m->kind == JM_MIX_BLEND)
		return __fadd_rn(__fmul_rn(m->a, own), __fmul_rn(m->b, other));
	if (m->kind == JM_MIX_BOX && y >= m->y0 && y < m->y1 && x >= m->x0 && x < m->x1)
		return other;
	return own;
}

__global__ void k_mix(float *xb, const jm_aug_mix *plan, int B, int C, int H, int W)
{
	size_t D = (size_t)C * H * W, pairs = (size_t)(B + 1) / 2, n = pairs * D;
	JM_CUDA_FOR(t, n)
	{
		int i = (int)(t / D), j = B - 1 - i;
		size_t k = t % D;
		int x = (int)(k % W), y = (int)((k / W) % H);
		jm_aug_mix mi = plan[i], mj = plan[j];
		float u = xb[(size_t)i * D + k], v = xb[(size_t)j * D + k];
		if (i == j) {
			if (mi.kind == JM_MIX_BLEND)
				xb[(size_t)i * D + k] = __fadd_rn(__fmul_rn(mi.a, u), __fmul_rn(mi.b, u));
			continue;
		}
		xb[(size_t)i * D + k] = mixed(&mi, u, v, y, x);
		xb[(size_t)j * D + k] = mixed(&mj, v, u, y, x);
	}
}

extern "C" void jm_cuda_augment_mix(float *x, const jm_aug_mix *m, int B, int C, int H, int W)
{
	size_t n = (size_t)(B + 1) / 2 * C * H * W;
	if (!n)
		return;
	jm_cuda_launch(k_mix, jm_cuda_blocks(n), JM_CUDA_THREADS, 0, x, m, B, C, H, W);
	JM_CUDA_LAUNCHED("augment mix");
}

__global__ void k_mix_targets(float *soft, const int32_t *labels, const jm_aug_mix *m, int B,
			      int K, float on, float off)
{
	size_t n = (size_t)B * K;
	JM_CUDA_FOR(t, n)
	{
		int i = (int)(t / K), k = (int)(t % K);
		int yi = labels[i], yj = labels[B - 1 - i];
		if (yi < 0 || yi >= K || yj < 0 || yj >= K) {
			soft[t] = 0.0f;
			continue;
		}
		soft[t] = __fadd_rn(__fmul_rn(k == yi ? on : off, m[i].a),
				    __fmul_rn(k == yj ? on : off, m[i].b));
	}
}

/* augment_batch: a thread per output element (its sample's geometry
 * value and its partner's, mixed), then a thread per (sample, class) of
 * the targets, all in one launch. */
__global__ void k_augment_batch(float *out, const float *in, const jm_aug_geom *geom,
				const jm_aug_mix *mix, float *soft, const int32_t *labels, int B,
				int C, int H, int W, int K, int reflect_pad, float fill,
				int erase_mode, uint64_t key, float on, float off)
{
	size_t D = (size_t)C * H * W, n = (size_t)B * D, nt = (size_t)B * K;
	JM_CUDA_FOR(t, n + nt)
	{
		if (t >= n) { /* the targets, as k_mix_targets */
			size_t u = t - n;
			int i = (int)(u / K), k = (int)(u % K);
			int yi = labels[i], yj = labels[B - 1 - i];
			soft[u] = yi < 0 || yi >= K || yj < 0 || yj >= K
					  ? 0.0f
					  : __fadd_rn(__fmul_rn(k == yi ? on : off, mix[i].a),
						      __fmul_rn(k == yj ? on : off, mix[i].b));
			continue;
		}
		int x = (int)(t % W), y = (int)((t / W) % H), b = (int)(t / D), j = B - 1 - b;
		size_t plane = t / ((size_t)H * W), k = t % D, tj = (size_t)j * D + k;
		size_t plane_j = tj / ((size_t)H * W);
		float own, other;
		if (geom) {
			jm_aug_geom gb = geom[b], gj = geom[j];
			own = geom_value(in, &gb, plane, y, x, t, H, W, reflect_pad, fill, erase_mode,
					 key);
			other = geom_value(in, &gj, plane_j, y, x, tj, H, W, reflect_pad, fill,
					   erase_mode, key);
		} else {
			own = in[t];
			other = in[tj];
		}
		jm_aug_mix m = mix[b];
		out[t] = mixed(&m, own, other, y, x);
	}
}

extern "C" void jm_cuda_augment_batch(float *out, const float *in, const jm_aug_geom *g,
				      const jm_aug_mix *m, float *soft, const int32_t *labels,
				      int B, int C, int H, int W, int K, int pad_mode, float fill,
				      int erase_mode, uint64_t key, float smoothing)
{
	size_t n = (size_t)B * C * H * W + (size_t)B * K;
	if (!n)
		return;
	float off = smoothing / (float)K, on = 1.0f - smoothing + off;
	jm_cuda_launch(k_augment_batch, jm_cuda_blocks(n), JM_CUDA_THREADS, 0, out, in, g, m, soft,
		       labels, B, C, H, W, K, pad_mode == JM_PAD_REFLECT, fill, erase_mode, key,
		       on, off);
	JM_CUDA_LAUNCHED("augment batch");
}

extern "C" void jm_cuda_mix_targets(float *soft, const int32_t *labels, const jm_aug_mix *m,
				    int B, int K, float smoothing)
{
	size_t n = (size_t)B * K;
	if (!n)
		return;
	float off = smoothing / (float)K, on = 1.0f - smoothing + off;
	jm_cuda_launch(k_mix_targets, jm_cuda_blocks(n), JM_CUDA_THREADS, 0, soft, labels, m, B, K,
		       on, off);
	JM_CUDA_LAUNCHED("mix targets");
}
