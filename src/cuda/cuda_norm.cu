/*
 * cuda_norm.cu: batch norm and layer norm on the device, twins of
 * src/engine/cpu_norm.c (the same formulas; statistics in double).
 *
 *   batch norm   training: each channel's B*HW values split over S blocks
 *                (norm_index.h walks them without dividing), two passes
 *                (the sum, then squared deviations from the mean the S
 *                sums give), then a thread per channel adds the S parts
 *                in order -> mean, rstd, running update, scale and shift;
 *                then the affine pass.  Eval: the running statistics.
 *                backward: the same split sums dy and dy*(x-mean), a
 *                thread per channel the coefficients, then
 *                din = a*dy + b*x + k per element
 *   layer norm   a warp per row for the statistics and din; dgamma/dbeta
 *                are column sums (a thread per column, rows in order)
 */
#include <math.h>

#include "cuda/cuda_common.cuh"
#include "cuda/norm_index.h"

#define BN_PART_THREADS 256

/* Channel c's statistics out: mean, rstd (when wanted) and the affine
 * pass's scale and shift. */
__device__ __forceinline__ void bn_store(int c, double mu, double var, float eps,
					 const float *gamma, const float *beta, float *mean,
					 float *rstd, float *scale, float *shift)
{
	double rs = 1.0 / sqrt(var + eps);
	if (mean)
		mean[c] = (float)mu;
	if (rstd)
		rstd[c] = (float)rs;
	double ga = gamma ? gamma[c] : 1.0, bt = beta ? beta[c] : 0.0;
	scale[c] = (float)(ga * rs);
	shift[c] = (float)(bt - mu * ga * rs);
}

/* Eval: a thread per channel, the running statistics -> mean, rstd and
 * the affine pass's scale and shift. */
__global__ void k_bn_eval(float *mean, float *rstd, float *scale, float *shift,
			  const float *gamma, const float *beta, const float *running_mean,
			  const float *running_var, int C, float eps)
{
	int c = blockIdx.x * blockDim.x + threadIdx.x;
	if (c >= C)
		return;
	double mu = running_mean ? running_mean[c] : 0.0, var = running_var ? running_var[c] : 1.0;
	bn_store(c, mu, var, eps, gamma, beta, mean, rstd, scale, shift);
}

/* Block (c, s) of channel c's split: its chunk of the B*HW values.  pass
 * 0: their sum into sums[c*S + s]; pass 1: their squared deviations from
 * the mean of the S sums (added in order) into sqs[c*S + s]. */
__global__ void k_bn_part(double *sums, double *sqs, const float *in, int B, int C, int HW,
			  int pass)
{
	int c = blockIdx.x, s = blockIdx.y, S = gridDim.y;
	size_t N = (size_t)B * HW, lo, hi;
	bn_chunk(N, S, s, &lo, &hi);
	double mu = 0.0, acc = 0.0;
	if (pass) {
		for (int i = 0; i < S; i++)
			mu += sums[(size_t)c * S + i];
		mu /= (double)N;
	}
	size_t k = lo + threadIdx.x;
	if (k < hi) {
		bn_walk w = bn_walk_at(k, c, C, HW, blockDim.x);
		for (; k < hi; k += blockDim.x, bn_walk_next(&w)) {
			double v = in[w.off];
			acc += pass ? (v - mu) * (v - mu) : v;
		}
	}
	acc = jm_cuda_block_sum(acc);
	if (threadIdx.x == 0)
		(pass ? sqs : sums)[(size_t)c * S + s] = acc;
}

/* A thread per channel: the S parts in order -> the statistics, the
 * running update, and the affine pass's scale and shift. */
__global__ void k_bn_finish(float *mean, float *rstd, float *scale, float *shift,
			    const double *sums, const double *sqs, int S, const float *gamma,
			    const float *beta, float *running_mean, float *running_var, int C,
			    double N, float momentum, float eps)
{
	int c = blockIdx.x * blockDim.x + threadIdx.x;
	if (c >= C)
		return;
	double sm = 0.0, q = 0.0;
	for (int i = 0; i < S; i++) {
		sm += sums[(size_t)c * S + i];
		q += sqs[(size_t)c * S + i];
	}
	double mu = N > 0 ? sm / N : 0.0, var = N > 0 ? q / N : 0.0;
	if (running_mean)
		running_mean[c] = (float)((1.0 - momentum) * running_mean[c] + momentum * mu);
	if (running_var) {
		double unbiased = N > 1 ? q / (N - 1) : var;
		running_var[c] = (float)((1.0 - momentum) * running_var[c] + momentum * unbiased);
	}
	bn_store(c, mu, var, eps, gamma, beta, mean, rstd, scale, shift);
}

/* The channel of element i (jm_cuda_divrem's 32-bit arithmetic). */
__device__ __forceinline__ int bn_channel(size_t i, int C, int HW)
{
	size_t r, plane = jm_cuda_divrem(i, (size_t)HW, &r);
	jm_cuda_divrem(plane, (size_t)C, &r);
	return (int)r;
}

/* out = in * scale + shift, then the ReLU when relu (backend.h) */
__global__ void k_bn_affine(float *out, const float *in, const float *scale,
			    const float *shift, size_t n, int C, int HW, int relu)
{
	JM_CUDA_FOR(i, n)
	{
		int c = bn_channel(i, C, HW);
		float v = in[i] * scale[c] + shift[c];
		out[i] = relu && v <= 0.0f ? 0.0f : v; /* NaN passes (the CPU's twin) */
	}
}

/* dout where the ReLU's output y is > 0, else 0; dout without one */
__device__ __forceinline__ float bn_dy(const float *dout, const float *y, size_t i)
{
	float g = dout[i];
	return y && !(y[i] > 0.0f) ? 0.0f : g;
}

extern "C" void jm_cuda_batchnorm_forward(float *out, float *mean, float *rstd, const float *in,
					  const float *gamma, const float *beta,
					  float *running_mean, float *running_var, int B, int C,
					  int HW, int training, float momentum, float eps, int relu)
{
	if (C <= 0)
		return;
	size_t N = (size_t)B * HW;
	int S = training ? bn_splits(C, N) : 0;
	/* scale and shift (C doubles = 2C floats), then the parts */
	double *d = jm_cuda_dscratch((size_t)C + 2 * (size_t)C * S);
	if (!d)
		return;
	float *scale = (float *)d, *shift = scale + C;
	if (training) {
		double *sums = d + C, *sqs = sums + (size_t)C * S;
		dim3 grid((unsigned)C, (unsigned)S);
		jm_cuda_launch(k_bn_part, grid, BN_PART_THREADS, 0, sums, sqs, in, B, C, HW, 0);
		jm_cuda_launch(k_bn_part, grid, BN_PART_THREADS, 0, sums, sqs, in, B, C, HW, 1);
		jm_cuda_launch(k_bn_finish, (unsigned)((C + 255) / 256), 256, 0, mean, rstd, scale,
			       shift, (const double *)sums, (const double *)sqs, S, gamma, beta,
			       running_mean, running_var, C, (double)N, momentum, eps);
	} else {
		jm_cuda_launch(k_bn_eval, (unsigned)((C + 255) / 256), 256, 0, mean, rstd, scale,
			       shift, gamma, beta, (const float *)running_mean,
			       (const float *)running_var, C, eps);
	}
	size_t n = (size_t)B * C * HW;
	if (n)
		jm_cuda_launch(k_bn_affine, jm_cuda_blocks(n), JM_CUDA_THREADS, 0, out, in, scale,
			       shift, n, C, HW, relu != 0);
	JM_CUDA_LAUNCHED("batch norm");
}

/* Block (c, s): its chunk of channel c's sums of dy and dy*(x - mean),
 * into parts[2*(c*S + s)] and [+1]. */
__global__ void k_bn_dpart(double *parts, const float *dout, const float *y, const float *in,
			   const float *mean, int B, int C, int HW)
{
	int c = blockIdx.x, s = blockIdx.y, S = gridDim.y;
	size_t N = (size_t)B * HW, lo, hi;
	bn_chunk(N, S, s, &lo, &hi);
	float m = mean[c];
	double sdy = 0.0, sdyx = 0.0;
	size_t k = lo + threadIdx.x;
	if (k < hi) {
		bn_walk w = bn_walk_at(k, c, C, HW, blockDim.x);
		for (; k < hi; k += blockDim.x, bn_walk_next(&w)) {
			float dy = bn_dy(dout, y, w.off);
			sdy += dy;
			sdyx += (double)dy * (in[w.off] - m);
		}
	}
	sdy = jm_cuda_block_sum(sdy);
	sdyx = jm_cuda_block_sum(sdyx);
	if (threadIdx.x == 0) {
		parts[2 * ((size_t)c * S + s)] = sdy;
		parts[2 * ((size_t)c * S + s) + 1] = sdyx;
	}
}

/* A thread per channel: the S parts in order -> dgamma, dbeta and din's
 * coefficients. */
__global__ void k_bn_dfinish(float *dgamma, float *dbeta, float *coef, const double *parts,
			     int S, const float *mean, const float *rstd, const float *gamma,
			     int C, double N)
{
	int c = blockIdx.x * blockDim.x + threadIdx.x;
	if (c >= C)
		return;
	double sdy = 0.0, sdyx = 0.0;
	for (int i = 0; i < S; i++) {
		sdy += parts[2 * ((size_t)c * S + i)];
		sdyx += parts[2 * ((size_t)c * S + i) + 1];
	}
	double rs = rstd[c], ga = gamma ? gamma[c] : 1.0, m = mean[c];
	if (dbeta)
		dbeta[c] += (float)sdy;
	if (dgamma)
		dgamma[c] += (float)(sdyx * rs);
	double bx = -ga * rs * rs * rs * sdyx / N;
	coef[3 * c] = (float)(ga * rs);
	coef[3 * c + 1] = (float)bx;
	coef[3 * c + 2] = (float)(-ga * rs * sdy / N - bx * m);
}

__global__ void k_bn_dx(float *din, const float *dout, const float *y, const float *in,
			const float *coef, size_t n, int C, int HW)
{
	JM_CUDA_FOR(i, n)
	{
		int c = bn_channel(i, C, HW);
		din[i] = coef[3 * c] * bn_dy(dout, y, i) + coef[3 * c + 1] * in[i] + coef[3 * c + 2];
	}
}

extern "C" void jm_cuda_batchnorm_backward(float *din, float *dgamma, float *dbeta,
					   const float *dout, const float *in, const float *mean,
					   const float *rstd, const float *gamma, const float *out,
					   int B, int C, int HW)
{
	if (C <= 0)
		return;
	size_t N = (size_t)B * HW;
	int S = bn_splits(C, N);
	/* the coefficients (3C floats in 2C doubles), then the parts */
	double *d = jm_cuda_dscratch((size_t)C * 2 + 2 * (size_t)C * S);
	if (!d)
		return;
	float *coef = (float *)d;
	double *parts = d + (size_t)C * 2;
	jm_cuda_launch(k_bn_dpart, dim3((unsigned)C, (unsigned)S), BN_PART_THREADS, 0, parts, dout,
		       out, in, mean, B, C, HW);
	jm_cuda_launch(k_bn_dfinish, (unsigned)((C + 255) / 256), 256, 0, dgamma, dbeta, coef,
		       (const double *)parts, S, mean, rstd, gamma, C, (double)N);
	size_t n = (size_t)B * C * HW;
	if (din && n)
		jm_cuda_launch(k_bn_dx, jm_cuda_blocks(n), JM_CUDA_THREADS, 0, din, dout, out, in,
			       coef, n, C, HW);
	JM_CUDA_LAUNCHED("batch norm backward");
}

/* ---- layer norm ---- */

__global__ void k_ln_fwd(float *out, float *mean, float *rstd, const float *in,
			 const float *gamma, const float *beta, int N, int C, float eps)
{
	int r = (int)(((size_t)blockIdx.x * blockDim.x + threadIdx.x) >> 5);
	int lane = threadIdx.x & 31;
	if (r >= N)
		return;
	const float *x = in + (size_t)r * C;
	double s = 0.0;
	for (int j = lane; j < C; j += 32)
		s += x[j];
	for (int o = 16; o > 0; o >>= 1)
		s += __shfl_down_sync(0xffffffffu, s, o);
	float mu = (float)(__shfl_sync(0xffffffffu, s, 0) / C);
	double q = 0.0;
	for (int j = lane; j < C; j += 32) {
		float d = x[j] - mu;
		q += (double)d * d;
	}
	for (int o = 16; o > 0; o >>= 1)
		q += __shfl_down_sync(0xffffffffu, q, o);
	double var = __shfl_sync(0xffffffffu, q, 0) / C;
	float rs = (float)(1.0 / sqrt(var + eps));
	if (lane == 0) {
		if (mean)
			mean[r] = mu;
		if (rstd)
			rstd[r] = rs;
	}
	float *o = out + (size_t)r * C;
	for (int j = lane; j < C; j += 32) {
		float v = (x[j] - mu) * rs;
		o[j] = v * (gamma ? gamma[j] : 1.0f) + (beta ? beta[j] : 0.0f);
	}
}

extern "C" void jm_cuda_layernorm_forward(float *out, float *mean, float *rstd, const float *in,
					  const float *gamma, const float *beta, int N, int C,
					  float eps)
{
	if (N <= 0 || C <= 0)
		return;
	jm_cuda_launch(k_ln_fwd, (unsigned)(((size_t)N * 32 + 255) / 256), 256, 0, out, mean, rstd,
		       in, gamma, beta, N, C, eps);
	JM_CUDA_LAUNCHED("layer norm");
}

__global__ void k_ln_dx(float *din, const float *dout, const float *in, const float *mean,
			const float *rstd, const float *gamma, int N, int C)
{
	int r = (int)(((size_t)blockIdx.x * blockDim.x + threadIdx.x) >> 5);
	int lane = threadIdx.x & 31;
	if (r >= N)
		return;
	const float *x = in + (size_t)r * C, *dy = dout + (size_t)r * C;
	float mu = mean[r], rs = rstd[r];
	double a = 0.0, b = 0.0;
	for (int j = lane; j < C; j += 32) {
		float xh = (x[j] - mu) * rs;
		float dxh = dy[j] * (gamma ? gamma[j] : 1.0f);
		a += dxh;
		b += (double)dxh * xh;
	}
	for (int o = 16; o > 0; o >>= 1) {
		a += __shfl_down_sync(0xffffffffu, a, o);
		b += __shfl_down_sync(0xffffffffu, b, o);
	}
	float m1 = (float)(__shfl_sync(0xffffffffu, a, 0) / C);
	float m2 = (float)(__shfl_sync(0xffffffffu, b, 0) / C);
	float *d = din + (size_t)r * C;
	for (int j = lane; j < C; j += 32) {
		float xh = (x[j] - mu) * rs;
		float dxh = dy[j] * (gamma ? gamma[j] : 1.0f);
		d[j] = rs * (dxh - m1 - xh * m2);
	}
}

/* dgamma[j] += sum_r dy*xhat, dbeta[j] += sum_r dy: a thread per column */
__global__ void k_ln_dparams(float *dgamma, float *dbeta, const float *dout, const float *in,
			     const float *mean, const float *rstd, int N, int C)
{
	int j = blockIdx.x * blockDim.x + threadIdx.x;
	if (j >= C)
		return;
	float g = 0.0f, b = 0.0f;
	for (int r = 0; r < N; r++) {
		float dy = dout[(size_t)r * C + j];
		g += dy * ((in[(size_t)r * C + j] - mean[r]) * rstd[r]);
		b += dy;
	}
	if (dgamma)
		dgamma[j] += g;
	if (dbeta)
		dbeta[j] += b;
}

extern "C" void jm_cuda_layernorm_backward(float *din, float *dgamma, float *dbeta,
					   const float *dout, const float *in, const float *mean,
					   const float *rstd, const float *gamma, int N, int C)
{
	if (N <= 0 || C <= 0)
		return;
	if (din)
		jm_cuda_launch(k_ln_dx, (unsigned)(((size_t)N * 32 + 255) / 256), 256, 0, din, dout,
			       in, mean, rstd, gamma, N, C);
	if (dgamma || dbeta)
		jm_cuda_launch(k_ln_dparams, (C + 255) / 256, 256, 0, dgamma, dbeta, dout, in, mean,
			       rstd, N, C);
	JM_CUDA_LAUNCHED("layer norm backward");
}
