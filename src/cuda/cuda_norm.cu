/*
 * cuda_norm.cu: batch norm and layer norm on the device, twins of
 * src/engine/cpu_norm.c (the same formulas; statistics in double).
 *
 *   batch norm   a block per channel: two passes over its B*HW values
 *                (mean, then squared deviations) -> mean, rstd, running
 *                update, then the affine pass as its own kernel
 *                backward: a block per channel sums dy and dy*(x-mean),
 *                then din = a*dy + b*x + k per element
 *   layer norm   a warp per row for the statistics and din; dgamma/dbeta
 *                are column sums (a thread per column, rows in order)
 */
#include <math.h>

#include "cuda/cuda_common.cuh"

#define BN_THREADS 512

/* Channel c's values: b*C*HW + c*HW + i for b < B, i < HW. */
__global__ void k_bn_stats(float *mean, float *rstd, float *scale, float *shift,
			   const float *in, const float *gamma, const float *beta,
			   float *running_mean, float *running_var, int B, int C, int HW,
			   int training, float momentum, float eps)
{
	int c = blockIdx.x;
	double N = (double)B * HW, mu, var;
	if (training) {
		double s = 0.0;
		for (size_t i = threadIdx.x; i < (size_t)B * HW; i += blockDim.x) {
			size_t b = i / HW, j = i % HW;
			s += in[(b * C + c) * HW + j];
		}
		s = jm_cuda_block_sum(s);
		mu = N > 0 ? s / N : 0.0;
		double q = 0.0;
		for (size_t i = threadIdx.x; i < (size_t)B * HW; i += blockDim.x) {
			size_t b = i / HW, j = i % HW;
			double d = in[(b * C + c) * HW + j] - mu;
			q += d * d;
		}
		q = jm_cuda_block_sum(q);
		var = N > 0 ? q / N : 0.0;
		if (threadIdx.x == 0) {
			if (running_mean)
				running_mean[c] =
					(float)((1.0 - momentum) * running_mean[c] + momentum * mu);
			if (running_var) {
				double unbiased = N > 1 ? q / (N - 1) : var;
				running_var[c] =
					(float)((1.0 - momentum) * running_var[c] + momentum * unbiased);
			}
		}
	} else {
		mu = running_mean ? running_mean[c] : 0.0;
		var = running_var ? running_var[c] : 1.0;
	}
	if (threadIdx.x == 0) {
		double rs = 1.0 / sqrt(var + eps);
		if (mean)
			mean[c] = (float)mu;
		if (rstd)
			rstd[c] = (float)rs;
		double ga = gamma ? gamma[c] : 1.0, bt = beta ? beta[c] : 0.0;
		scale[c] = (float)(ga * rs);
		shift[c] = (float)(bt - mu * ga * rs);
	}
}

__global__ void k_bn_affine(float *out, const float *in, const float *scale,
			    const float *shift, size_t n, int C, int HW)
{
	JM_CUDA_FOR(i, n)
	{
		int c = (int)((i / HW) % C);
		out[i] = in[i] * scale[c] + shift[c];
	}
}

extern "C" void jm_cuda_batchnorm_forward(float *out, float *mean, float *rstd, const float *in,
					  const float *gamma, const float *beta,
					  float *running_mean, float *running_var, int B, int C,
					  int HW, int training, float momentum, float eps)
{
	if (C <= 0)
		return;
	double *d = jm_cuda_dscratch((size_t)C); /* C doubles = 2C floats */
	if (!d)
		return;
	float *scale = (float *)d, *shift = scale + C;
	jm_cuda_launch(k_bn_stats, C, BN_THREADS, 0, mean, rstd, scale, shift, in, gamma, beta,
		       running_mean, running_var, B, C, HW, training, momentum, eps);
	size_t n = (size_t)B * C * HW;
	if (n)
		jm_cuda_launch(k_bn_affine, jm_cuda_blocks(n), JM_CUDA_THREADS, 0, out, in, scale,
			       shift, n, C, HW);
	JM_CUDA_LAUNCHED("batch norm");
}

__global__ void k_bn_dsums(float *dgamma, float *dbeta, float *coef, const float *dout,
			   const float *in, const float *mean, const float *rstd,
			   const float *gamma, int B, int C, int HW)
{
	int c = blockIdx.x;
	float m = mean[c];
	double sdy = 0.0, sdyx = 0.0;
	for (size_t i = threadIdx.x; i < (size_t)B * HW; i += blockDim.x) {
		size_t b = i / HW, j = i % HW, off = (b * C + c) * HW + j;
		float dy = dout[off];
		sdy += dy;
		sdyx += (double)dy * (in[off] - m);
	}
	sdy = jm_cuda_block_sum(sdy);
	sdyx = jm_cuda_block_sum(sdyx);
	if (threadIdx.x == 0) {
		double N = (double)B * HW, rs = rstd[c], ga = gamma ? gamma[c] : 1.0;
		if (dbeta)
			dbeta[c] += (float)sdy;
		if (dgamma)
			dgamma[c] += (float)(sdyx * rs);
		double bx = -ga * rs * rs * rs * sdyx / N;
		coef[3 * c] = (float)(ga * rs);
		coef[3 * c + 1] = (float)bx;
		coef[3 * c + 2] = (float)(-ga * rs * sdy / N - bx * m);
	}
}

__global__ void k_bn_dx(float *din, const float *dout, const float *in, const float *coef,
			size_t n, int C, int HW)
{
	JM_CUDA_FOR(i, n)
	{
		int c = (int)((i / HW) % C);
		din[i] = coef[3 * c] * dout[i] + coef[3 * c + 1] * in[i] + coef[3 * c + 2];
	}
}

extern "C" void jm_cuda_batchnorm_backward(float *din, float *dgamma, float *dbeta,
					   const float *dout, const float *in, const float *mean,
					   const float *rstd, const float *gamma, int B, int C,
					   int HW)
{
	if (C <= 0)
		return;
	double *d = jm_cuda_dscratch((size_t)C * 2); /* 3C floats */
	if (!d)
		return;
	float *coef = (float *)d;
	jm_cuda_launch(k_bn_dsums, C, BN_THREADS, 0, dgamma, dbeta, coef, dout, in, mean, rstd,
		       gamma, B, C, HW);
	size_t n = (size_t)B * C * HW;
	if (din && n)
		jm_cuda_launch(k_bn_dx, jm_cuda_blocks(n), JM_CUDA_THREADS, 0, din, dout, in, coef,
			       n, C, HW);
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
