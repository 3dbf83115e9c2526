/*
 * cpu_norm.c: batch norm and layer norm on the CPU.
 *
 * Batch norm statistics come from each (sample, channel) plane's exact
 * two-pass mean and squared deviations (the plane sits in L1), merged
 * across the batch in double with Chan's formula.  Both passes sweep memory
 * in order, sample by sample, for a group of up to 64 channels at a time:
 *
 *   for each channel group:
 *     sweep 1: stats(planes) -> mean, rstd, running update
 *     sweep 2: out = in * scale + shift           scale = gamma*rstd
 *
 * Backward does the same: per-channel sums of dy and dy*xhat, then
 * din = a*dy + b*x + k with the three coefficients folded per channel.
 * With a ReLU after the norm (relu, out), the forward's sweep 2 applies it
 * and backward's dy is dout where out > 0, else 0: each value as the
 * separate act_forward and act_backward give it.
 * Layer norm is the same per row of C contiguous values.
 */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "engine/backend.h"
#include "engine/cpu_ops.h"

/* Sum of x[0..n) with eight float lanes (vectorizes; error ~ n/8 ulps). */
JM_CPU_HOT static float norm_sum(const float *restrict x, size_t n)
{
	float acc[8] = {0}, t = 0.0f;
	size_t i = 0;
	for (; i + 8 <= n; i += 8)
		for (int k = 0; k < 8; k++)
			acc[k] += x[i + k];
	for (; i < n; i++)
		t += x[i];
	return t + ((acc[0] + acc[4]) + (acc[1] + acc[5])) +
	       ((acc[2] + acc[6]) + (acc[3] + acc[7]));
}

/* Sum of (x - m)^2 over x[0..n). */
JM_CPU_HOT static float norm_sqdev(const float *restrict x, size_t n, float m)
{
	float acc[8] = {0}, t = 0.0f;
	size_t i = 0;
	for (; i + 8 <= n; i += 8)
		for (int k = 0; k < 8; k++) {
			float d = x[i + k] - m;
			acc[k] += d * d;
		}
	for (; i < n; i++)
		t += (x[i] - m) * (x[i] - m);
	return t + ((acc[0] + acc[4]) + (acc[1] + acc[5])) +
	       ((acc[2] + acc[6]) + (acc[3] + acc[7]));
}

/* *sdy += sum dy, *sdyx += sum dy*(x - m), over n values. */
JM_CPU_HOT static void norm_dsums(const float *restrict dy,
				  const float *restrict x, size_t n, float m,
				  float *sdy, float *sdyx)
{
	float a[8] = {0}, b[8] = {0}, ta = 0.0f, tb = 0.0f;
	size_t i = 0;
	for (; i + 8 <= n; i += 8)
		for (int k = 0; k < 8; k++) {
			a[k] += dy[i + k];
			b[k] += dy[i + k] * (x[i + k] - m);
		}
	for (; i < n; i++) {
		ta += dy[i];
		tb += dy[i] * (x[i] - m);
	}
	*sdy = ta + ((a[0] + a[4]) + (a[1] + a[5])) + ((a[2] + a[6]) + (a[3] + a[7]));
	*sdyx = tb + ((b[0] + b[4]) + (b[1] + b[5])) + ((b[2] + b[6]) + (b[3] + b[7]));
}

/* g where y > 0, else +0: act_backward's ReLU, bit for bit, by masking
 * the bits (a conditional the compiler turns into a branch around a load
 * does not vectorize). */
static inline float relu_gate(float g, float y)
{
	uint32_t u;
	memcpy(&u, &g, sizeof u);
	u &= (uint32_t)0 - (uint32_t)(y > 0.0f);
	memcpy(&g, &u, sizeof g);
	return g;
}

/* norm_dsums of dy where y > 0, 0 elsewhere (a ReLU's y). */
JM_CPU_HOT static void norm_dsums_relu(const float *restrict dy, const float *restrict y,
				       const float *restrict x, size_t n, float m, float *sdy,
				       float *sdyx)
{
	float a[8] = {0}, b[8] = {0}, ta = 0.0f, tb = 0.0f;
	size_t i = 0;
	for (; i + 8 <= n; i += 8)
		for (int k = 0; k < 8; k++) {
			float d = relu_gate(dy[i + k], y[i + k]);
			a[k] += d;
			b[k] += d * (x[i + k] - m);
		}
	for (; i < n; i++) {
		float d = relu_gate(dy[i], y[i]);
		ta += d;
		tb += d * (x[i] - m);
	}
	*sdy = ta + ((a[0] + a[4]) + (a[1] + a[5])) + ((a[2] + a[6]) + (a[3] + a[7]));
	*sdyx = tb + ((b[0] + b[4]) + (b[1] + b[5])) + ((b[2] + b[6]) + (b[3] + b[7]));
}

/* out = x*scale + shift over n values (in == out allowed); then the ReLU
 * when relu. */
JM_CPU_HOT static void norm_affine(float *out, const float *x, size_t n,
				   float scale, float shift, int relu)
{
	if (!relu) {
		for (size_t i = 0; i < n; i++)
			out[i] = x[i] * scale + shift;
		return;
	}
	for (size_t i = 0; i < n; i++) {
		float v = x[i] * scale + shift;
		out[i] = v <= 0.0f ? 0.0f : v; /* NaN passes, as act_relu_fwd */
	}
}

/* din = a*dy + b*x + k over n values; dy where y > 0, 0 elsewhere, when y
 * (a ReLU's output) is given. */
JM_CPU_HOT static void norm_dx(float *din, const float *dy, const float *y, const float *x,
			       size_t n, float a, float b, float k)
{
	if (!y) {
		for (size_t i = 0; i < n; i++)
			din[i] = a * dy[i] + b * x[i] + k;
		return;
	}
	for (size_t i = 0; i < n; i++)
		din[i] = a * relu_gate(dy[i], y[i]) + b * x[i] + k;
}

/* Channels handled together: each pass sweeps memory in order (sample by
 * sample, the group's planes contiguous) with per-channel state on the
 * stack. */
#define BN_GROUP 64

/* Batch means and M2 (sums of squared deviations) of channels
 * [c0, c0+G), in double: each plane's exact two-pass mean and M2, merged
 * in sample order with Chan et al.'s formula. */
static void bn_group_stats(const float *in, int B, int C, int HW, int c0,
			   int G, double *mu, double *m2)
{
	for (int g = 0; g < G; g++)
		mu[g] = m2[g] = 0.0;
	for (int b = 0; b < B; b++) {
		double n = (double)b * HW, nn = n + HW;
		for (int g = 0; g < G; g++) {
			const float *x = in + ((size_t)b * C + c0 + g) * HW;
			float pm = norm_sum(x, (size_t)HW) / (float)HW;
			double pm2 = norm_sqdev(x, (size_t)HW, pm);
			double delta = (double)pm - mu[g];
			mu[g] += delta * HW / nn;
			m2[g] += pm2 + delta * delta * n * HW / nn;
		}
	}
}

/* Every channel's result depends on that channel alone, so the channels
 * are split across the worker threads (cpu_workers.c): the same bits
 * whatever the split. */
typedef struct bn_args {
	float *out, *din, *dgamma, *dbeta, *mean, *rstd, *running_mean, *running_var;
	const float *in, *dout, *gamma, *beta, *cmean, *crstd, *y;
	int B, C, HW, training, relu;
	float momentum, eps;
} bn_args;

static void bn_channel_range(int C, int part, int nparts, int *lo, int *hi)
{
	*lo = (int)((long)C * part / nparts);
	*hi = (int)((long)C * (part + 1) / nparts);
}

static void bn_forward_part(void *ctx, int part, int nparts)
{
	const bn_args *a = ctx;
	float *out = a->out, *mean = a->mean, *rstd = a->rstd;
	float *running_mean = a->running_mean, *running_var = a->running_var;
	const float *in = a->in, *gamma = a->gamma, *beta = a->beta;
	int B = a->B, C = a->C, HW = a->HW, training = a->training;
	float momentum = a->momentum, eps = a->eps;
	int lo, hi;
	bn_channel_range(C, part, nparts, &lo, &hi);
	double N = (double)B * HW;
	for (int c0 = lo; c0 < hi; c0 += BN_GROUP) {
		int G = hi - c0 < BN_GROUP ? hi - c0 : BN_GROUP;
		double mu[BN_GROUP], m2[BN_GROUP];
		float scale[BN_GROUP], shift[BN_GROUP];
		if (training)
			bn_group_stats(in, B, C, HW, c0, G, mu, m2);
		for (int g = 0; g < G; g++) {
			int c = c0 + g;
			double var;
			if (training) {
				var = N > 0 ? m2[g] / N : 0.0;
				if (running_mean)
					running_mean[c] = (float)((1.0 - momentum) * running_mean[c] + momentum * mu[g]);
				if (running_var) {
					/* unbiased, as PyTorch; one value has no spread */
					double unbiased = N > 1 ? m2[g] / (N - 1) : var;
					running_var[c] = (float)((1.0 - momentum) * running_var[c] + momentum * unbiased);
				}
			} else {
				mu[g] = running_mean ? running_mean[c] : 0.0;
				var = running_var ? running_var[c] : 1.0;
			}
			double rs = 1.0 / sqrt(var + eps);
			if (mean)
				mean[c] = (float)mu[g];
			if (rstd)
				rstd[c] = (float)rs;
			double ga = gamma ? gamma[c] : 1.0, bt = beta ? beta[c] : 0.0;
			scale[g] = (float)(ga * rs);
			shift[g] = (float)(bt - mu[g] * ga * rs);
		}
		for (int b = 0; b < B; b++)
			for (int g = 0; g < G; g++) {
				size_t off = ((size_t)b * C + c0 + g) * HW;
				norm_affine(out + off, in + off, (size_t)HW, scale[g],
					    shift[g], a->relu);
			}
	}
}

/* Parts of fewer than this many values are not worth a thread. */
#define BN_MIN_PART ((size_t)1 << 16)

static int bn_parts(int B, int C, int HW)
{
	size_t total = (size_t)B * C * HW;
	int n = jm_cpu_workers();
	while (n > 1 && (total / (size_t)n < BN_MIN_PART || n > C))
		n--;
	return n;
}

void jm_cpu_batchnorm_forward(float *out, float *mean, float *rstd,
			      const float *in, const float *gamma,
			      const float *beta, float *running_mean,
			      float *running_var, int B, int C, int HW,
			      int training, float momentum, float eps, int relu)
{
	bn_args a = {.out = out, .mean = mean, .rstd = rstd, .running_mean = running_mean,
		     .running_var = running_var, .in = in, .gamma = gamma, .beta = beta,
		     .B = B, .C = C, .HW = HW, .training = training, .momentum = momentum,
		     .eps = eps, .relu = relu != 0};
	jm_cpu_parallel(bn_parts(B, C, HW), bn_forward_part, &a);
}

static void bn_backward_part(void *ctx, int part, int nparts)
{
	const bn_args *args = ctx;
	float *din = args->din, *dgamma = args->dgamma, *dbeta = args->dbeta;
	const float *dout = args->dout, *in = args->in, *mean = args->cmean;
	const float *rstd = args->crstd, *gamma = args->gamma, *y = args->y;
	int B = args->B, C = args->C, HW = args->HW;
	int lo, hi;
	bn_channel_range(C, part, nparts, &lo, &hi);
	double N = (double)B * HW;
	for (int c0 = lo; c0 < hi; c0 += BN_GROUP) {
		int G = hi - c0 < BN_GROUP ? hi - c0 : BN_GROUP;
		/* sum dy and sum dy*(x - mean) per channel */
		double sdy[BN_GROUP] = { 0 }, sdyx[BN_GROUP] = { 0 };
		float ca[BN_GROUP], cb[BN_GROUP], ck[BN_GROUP];
		for (int b = 0; b < B; b++)
			for (int g = 0; g < G; g++) {
				size_t off = ((size_t)b * C + c0 + g) * HW;
				float a, d;
				if (y)
					norm_dsums_relu(dout + off, y + off, in + off, (size_t)HW,
							mean[c0 + g], &a, &d);
				else
					norm_dsums(dout + off, in + off, (size_t)HW,
						   mean[c0 + g], &a, &d);
				sdy[g] += a;
				sdyx[g] += d;
			}
		for (int g = 0; g < G; g++) {
			int c = c0 + g;
			double rs = rstd[c], ga = gamma ? gamma[c] : 1.0;
			if (dbeta)
				dbeta[c] += (float)sdy[g];
			if (dgamma)
				dgamma[c] += (float)(sdyx[g] * rs);
			/* din = ga*rs/N * (N*dy - sdy - xhat * sum(dy*xhat))
			 *     = a*dy + bx*x + k */
			double bx = -ga * rs * rs * rs * sdyx[g] / N;
			ca[g] = (float)(ga * rs);
			cb[g] = (float)bx;
			ck[g] = (float)(-ga * rs * sdy[g] / N - bx * mean[c]);
		}
		if (!din)
			continue;
		for (int b = 0; b < B; b++)
			for (int g = 0; g < G; g++) {
				size_t off = ((size_t)b * C + c0 + g) * HW;
				norm_dx(din + off, dout + off, y ? y + off : NULL, in + off,
					(size_t)HW, ca[g], cb[g], ck[g]);
			}
	}
}

void jm_cpu_batchnorm_backward(float *din, float *dgamma, float *dbeta,
			       const float *dout, const float *in,
			       const float *mean, const float *rstd,
			       const float *gamma, const float *out, int B, int C, int HW)
{
	bn_args a = {.din = din, .dgamma = dgamma, .dbeta = dbeta, .dout = dout, .in = in,
		     .cmean = mean, .crstd = rstd, .gamma = gamma, .y = out, .B = B, .C = C,
		     .HW = HW};
	jm_cpu_parallel(bn_parts(B, C, HW), bn_backward_part, &a);
}

/* ---- layer norm: rows of C ---- */

JM_CPU_HOT static void ln_row_forward(float *restrict o,
				      const float *restrict x,
				      const float *restrict gamma,
				      const float *restrict beta, int C,
				      float mu, float rs)
{
	for (int j = 0; j < C; j++) {
		float v = (x[j] - mu) * rs;
		o[j] = v * (gamma ? gamma[j] : 1.0f) + (beta ? beta[j] : 0.0f);
	}
}

void jm_cpu_layernorm_forward(float *out, float *mean, float *rstd,
			      const float *in, const float *gamma,
			      const float *beta, int N, int C, float eps)
{
	for (int r = 0; r < N; r++) {
		const float *x = in + (size_t)r * C;
		float mu = (float)((double)norm_sum(x, (size_t)C) / C);
		double var = (double)norm_sqdev(x, (size_t)C, mu) / C;
		float rs = (float)(1.0 / sqrt(var + eps));
		if (mean)
			mean[r] = mu;
		if (rstd)
			rstd[r] = rs;
		ln_row_forward(out + (size_t)r * C, x, gamma, beta, C, mu, rs);
	}
}

/* Per row: dgamma += dy*xhat, dbeta += dy; returns sums of dxh = dy*gamma
 * and dxh*xhat through s1, s2. */
JM_CPU_HOT static void ln_row_sums(float *restrict dgamma,
				   float *restrict dbeta,
				   const float *restrict dy,
				   const float *restrict x,
				   const float *restrict gamma, int C,
				   float mu, float rs, double *s1, double *s2)
{
	float a = 0.0f, b = 0.0f;
	for (int j = 0; j < C; j++) {
		float xh = (x[j] - mu) * rs;
		float dxh = dy[j] * (gamma ? gamma[j] : 1.0f);
		a += dxh;
		b += dxh * xh;
		if (dgamma)
			dgamma[j] += dy[j] * xh;
		if (dbeta)
			dbeta[j] += dy[j];
	}
	*s1 = a;
	*s2 = b;
}

JM_CPU_HOT static void ln_row_dx(float *restrict din,
				 const float *restrict dy,
				 const float *restrict x,
				 const float *restrict gamma, int C, float mu,
				 float rs, float m1, float m2)
{
	for (int j = 0; j < C; j++) {
		float xh = (x[j] - mu) * rs;
		float dxh = dy[j] * (gamma ? gamma[j] : 1.0f);
		din[j] = rs * (dxh - m1 - xh * m2);
	}
}

void jm_cpu_layernorm_backward(float *din, float *dgamma, float *dbeta,
			       const float *dout, const float *in,
			       const float *mean, const float *rstd,
			       const float *gamma, int N, int C)
{
	for (int r = 0; r < N; r++) {
		size_t off = (size_t)r * C;
		double s1, s2;
		ln_row_sums(dgamma, dbeta, dout + off, in + off, gamma, C,
			    mean[r], rstd[r], &s1, &s2);
		if (din)
			ln_row_dx(din + off, dout + off, in + off, gamma, C,
				  mean[r], rstd[r], (float)(s1 / C),
				  (float)(s2 / C));
	}
}
