/*
 * cpu_ops.c: the element-wise and small ops of the CPU backend:
 * activations, dropout, add/accumulate, softmax cross-entropy, batch
 * gathers, the optimizer passes and sumsq/scale for gradient clipping.
 *
 * Each is one loop over flat buffers (JM_CPU_HOT: vectorized at any -O
 * level).  Activations dispatch through a table indexed by JM_ACT_*;
 * element-wise ops allow their output to alias an input.
 */
#include <math.h>
#include <string.h>

#include "engine/backend.h"
#include "engine/cpu_ops.h"
#include "util/rng.h"

JM_CPU_HOT void jm_cpu_fill(float *restrict x, float v, size_t n)
{
	/* zeroing (the gradients, each step) is libc's: wider stores than
	 * this loop gets: 17 to 10 us for the MLP's 235k (bench_ops) */
	if (v == 0.0f && !signbit(v)) {
		memset(x, 0, n * sizeof *x);
		return;
	}
	for (size_t i = 0; i < n; i++)
		x[i] = v;
}

/* ---- activations ---- */

static void act_none_fwd(float *out, const float *in, size_t n)
{
	if (out != in)
		memmove(out, in, n * sizeof *out);
}

static void act_none_bwd(float *din, const float *dout, const float *in,
			 const float *out, size_t n)
{
	if (din != dout)
		memmove(din, dout, n * sizeof *din);
}

/* A NaN passes through, as in PyTorch, so a network that produces one
 * fails as diverged at its loss instead of training on zeros. */
JM_CPU_HOT static void act_relu_fwd(float *out, const float *in, size_t n)
{
	for (size_t i = 0; i < n; i++)
		out[i] = in[i] <= 0.0f ? 0.0f : in[i];
}

JM_CPU_HOT static void act_relu_bwd(float *din, const float *dout,
				    const float *in, const float *out, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		float g = dout[i]; /* loaded unconditionally: vectorizes */
		din[i] = in[i] > 0.0f ? g : 0.0f;
	}
}

/* GELU, exact: x * Phi(x) = 0.5 x (1 + erf(x / sqrt 2)) */
static void act_gelu_fwd(float *out, const float *in, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		float x = in[i];
		out[i] = 0.5f * x * (1.0f + erff(x * (float)M_SQRT1_2));
	}
}

/* d/dx x Phi(x) = Phi(x) + x phi(x) */
static void act_gelu_bwd(float *din, const float *dout, const float *in,
			 const float *out, size_t n)
{
	const float inv_sqrt_2pi = 0.3989422804014327f;
	for (size_t i = 0; i < n; i++) {
		float x = in[i];
		float cdf = 0.5f * (1.0f + erff(x * (float)M_SQRT1_2));
		float pdf = inv_sqrt_2pi * expf(-0.5f * x * x);
		din[i] = dout[i] * (cdf + x * pdf);
	}
}

static void act_tanh_fwd(float *out, const float *in, size_t n)
{
	for (size_t i = 0; i < n; i++)
		out[i] = tanhf(in[i]);
}

JM_CPU_HOT static void act_tanh_bwd(float *din, const float *dout,
				    const float *in, const float *out, size_t n)
{
	for (size_t i = 0; i < n; i++)
		din[i] = dout[i] * (1.0f - out[i] * out[i]);
}

static void act_sigmoid_fwd(float *out, const float *in, size_t n)
{
	for (size_t i = 0; i < n; i++)
		out[i] = 1.0f / (1.0f + expf(-in[i]));
}

JM_CPU_HOT static void act_sigmoid_bwd(float *din, const float *dout,
				       const float *in, const float *out,
				       size_t n)
{
	for (size_t i = 0; i < n; i++)
		din[i] = dout[i] * out[i] * (1.0f - out[i]);
}

/* SiLU: x s, s = sigmoid(x); d/dx = s (1 + x (1 - s)) */
static void act_silu_fwd(float *out, const float *in, size_t n)
{
	for (size_t i = 0; i < n; i++)
		out[i] = in[i] / (1.0f + expf(-in[i]));
}

static void act_silu_bwd(float *din, const float *dout, const float *in,
			 const float *out, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		float s = 1.0f / (1.0f + expf(-in[i]));
		din[i] = dout[i] * (s + in[i] * s * (1.0f - s));
	}
}

static const struct {
	void (*fwd)(float *out, const float *in, size_t n);
	void (*bwd)(float *din, const float *dout, const float *in,
		    const float *out, size_t n);
} act_table[] = {
	[JM_ACT_NONE] = { act_none_fwd, act_none_bwd },
	[JM_ACT_RELU] = { act_relu_fwd, act_relu_bwd },
	[JM_ACT_GELU] = { act_gelu_fwd, act_gelu_bwd },
	[JM_ACT_TANH] = { act_tanh_fwd, act_tanh_bwd },
	[JM_ACT_SIGMOID] = { act_sigmoid_fwd, act_sigmoid_bwd },
	[JM_ACT_SILU] = { act_silu_fwd, act_silu_bwd },
};

/* An unknown act is the identity (the callers validate names). */
static int act_index(int act)
{
	int n = (int)(sizeof act_table / sizeof act_table[0]);
	return act >= 0 && act < n ? act : JM_ACT_NONE;
}

/* Activations and dropout split their elements across the workers; each
 * element's result does not depend on the split. */
typedef struct stream_job {
	int act;
	float *out;
	const float *in, *dout, *fwd_out;
	size_t n;
	float p;
	uint64_t key;
} stream_job;

static void act_forward_part(void *ctx, int part, int nparts)
{
	const stream_job *j = ctx;
	size_t lo, hi;
	jm_cpu_part_range(j->n, part, nparts, 16, &lo, &hi);
	act_table[act_index(j->act)].fwd(j->out + lo, j->in + lo, hi - lo);
}

static void act_backward_part(void *ctx, int part, int nparts)
{
	const stream_job *j = ctx;
	size_t lo, hi;
	jm_cpu_part_range(j->n, part, nparts, 16, &lo, &hi);
	act_table[act_index(j->act)].bwd(j->out + lo, j->dout + lo, j->in ? j->in + lo : NULL,
					 j->fwd_out ? j->fwd_out + lo : NULL, hi - lo);
}

void jm_cpu_act_forward(int act, float *out, const float *in, size_t n)
{
	stream_job j = {.act = act, .out = out, .in = in, .n = n};
	jm_cpu_parallel(jm_cpu_parts_for(n), act_forward_part, &j);
}

void jm_cpu_act_backward(int act, float *din, const float *dout,
			 const float *in, const float *out, size_t n)
{
	stream_job j = {.act = act, .out = din, .dout = dout, .in = in, .fwd_out = out, .n = n};
	jm_cpu_parallel(jm_cpu_parts_for(n), act_backward_part, &j);
}

/* ---- dropout: keep element i iff jm_hash_uniformf(key, i) >= p ---- */

/* Elements [base, base + n) of the whole buffer. */
JM_CPU_HOT static void dropout_apply(float *out, const float *in, size_t n,
				     size_t base, float p, uint64_t key)
{
	if (p <= 0.0f) {
		if (out != in)
			memmove(out, in, n * sizeof *out);
		return;
	}
	if (p >= 1.0f) {
		memset(out, 0, n * sizeof *out);
		return;
	}
	float scale = 1.0f / (1.0f - p);
	for (size_t i = 0; i < n; i++) {
		float v = in[i] * scale; /* loaded unconditionally: no branch */
		out[i] = jm_hash_uniformf(key, base + i) >= p ? v : 0.0f;
	}
}

static void dropout_part(void *ctx, int part, int nparts)
{
	const stream_job *j = ctx;
	size_t lo, hi;
	jm_cpu_part_range(j->n, part, nparts, 16, &lo, &hi);
	dropout_apply(j->out + lo, j->in + lo, hi - lo, lo, j->p, j->key);
}

void jm_cpu_dropout_forward(float *out, const float *in, size_t n, float p,
			    uint64_t key)
{
	stream_job j = {.out = out, .in = in, .n = n, .p = p, .key = key};
	jm_cpu_parallel(jm_cpu_parts_for(n), dropout_part, &j);
}

void jm_cpu_dropout_backward(float *din, const float *dout, size_t n, float p,
			     uint64_t key)
{
	stream_job j = {.out = din, .in = dout, .n = n, .p = p, .key = key};
	jm_cpu_parallel(jm_cpu_parts_for(n), dropout_part, &j);
}

JM_CPU_HOT void jm_cpu_add(float *out, const float *a, const float *b,
			   size_t n)
{
	for (size_t i = 0; i < n; i++)
		out[i] = a[i] + b[i];
}

JM_CPU_HOT void jm_cpu_accumulate(float *y, const float *x, size_t n)
{
	for (size_t i = 0; i < n; i++)
		y[i] += x[i];
}

/* ---- softmax cross-entropy ---- */

/* First index of the largest value (as torch.argmax). */
static int xent_argmax(const float *z, int K)
{
	int best = 0;
	for (int k = 1; k < K; k++)
		if (z[k] > z[best])
			best = k;
	return best;
}

/*
 * Per row: loss = sum_k t_k (lse - z_k) with lse = log sum exp z;
 * dlogits = (sum(t) softmax - t) / B, the exact gradient of that sum even
 * for soft rows that do not quite sum to 1.  Hard labels with smoothing s
 * use t = (1-s) onehot + s/K.  A label outside [0, K) contributes no loss
 * and no gradient (still counted in B).
 */
double jm_cpu_xent(float *dlogits, float *sample_loss, int32_t *correct,
		   const float *logits, const int32_t *labels,
		   const float *soft, int B, int K, float smoothing)
{
	double total = 0.0;
	int32_t ncorrect = 0;
	float invB = B > 0 ? 1.0f / (float)B : 0.0f;
	for (int r = 0; r < B; r++) {
		const float *z = logits + (size_t)r * K;
		float *dz = dlogits ? dlogits + (size_t)r * K : NULL;
		int am = xent_argmax(z, K);
		float mx = z[am];
		double se = 0.0;
		/* exp(z - max) once: into dz, where the softmax e / se ends up */
		if (dz)
			for (int k = 0; k < K; k++)
				se += dz[k] = expf(z[k] - mx);
		else
			for (int k = 0; k < K; k++)
				se += expf(z[k] - mx);
		double lse = mx + log(se);
		float inv_se = (float)(1.0 / se);
		double loss = 0.0;
		if (labels) {
			int y = labels[r];
			if (y < 0 || y >= K) {
				if (dz)
					memset(dz, 0, (size_t)K * sizeof *dz);
				if (sample_loss)
					sample_loss[r] = 0.0f;
				continue;
			}
			double s = smoothing, zsum = 0.0;
			for (int k = 0; k < K; k++)
				zsum += z[k];
			loss = (1.0 - s) * (lse - z[y]) + s * (lse - zsum / K);
			ncorrect += am == y;
			if (dz) {
				float on = 1.0f - smoothing + smoothing / (float)K;
				float off = smoothing / (float)K;
				for (int k = 0; k < K; k++)
					dz[k] = (dz[k] * inv_se - (k == y ? on : off)) * invB;
			}
		} else {
			const float *t = soft + (size_t)r * K;
			double tsum = 0.0;
			for (int k = 0; k < K; k++) {
				loss += t[k] * (lse - z[k]);
				tsum += t[k];
			}
			ncorrect += am == xent_argmax(t, K);
			if (dz)
				for (int k = 0; k < K; k++) {
					double sm = dz[k] * inv_se;
					dz[k] = (float)((tsum * sm - t[k]) * invB);
				}
		}
		if (sample_loss)
			sample_loss[r] = (float)loss;
		total += loss;
	}
	if (correct)
		*correct = ncorrect;
	return B > 0 ? total / B : 0.0;
}

/* ---- mean squared error ---- */

/* loss = sum (pred - target)^2 / (B*K); dpred = 2 (pred - target) / (B*K). */
double jm_cpu_mse(float *dpred, float *sample_loss, const float *pred,
		  const float *target, int B, int K)
{
	double total = 0.0;
	size_t n = (size_t)B * (size_t)K;
	float g = n ? 2.0f / (float)n : 0.0f;
	for (int r = 0; r < B; r++) {
		double row = 0.0;
		for (int k = 0; k < K; k++) {
			size_t i = (size_t)r * K + k;
			float e = pred[i] - target[i];
			row += (double)e * e;
			if (dpred)
				dpred[i] = g * e;
		}
		if (sample_loss)
			sample_loss[r] = (float)(row / K);
		total += row;
	}
	return n ? total / (double)n : 0.0;
}

/* ---- gathers ---- */

JM_CPU_CLONES JM_CPU_HOT static void gather_u8_row(float *restrict o,
				     const uint8_t *restrict s, int D,
				     float scale, float shift)
{
	/* two statements: rounded twice under any compiler's contraction
	 * rules, as the CUDA gather rounds it */
	for (int j = 0; j < D; j++) {
		float v = (float)s[j] * scale;
		o[j] = v + shift;
	}
}

/* Rows of a shuffled batch are scattered over the whole data set, so each
 * one is a run of cache misses: ask for the row a few ahead while this one
 * is converted (perf, MLP training: the gather went from 4.9% of the
 * samples to 3.2%). */
#define GATHER_AHEAD 4

typedef struct gather_job {
	float *out;
	const uint8_t *src;
	const int32_t *idx;
	int B, D;
	float scale, shift;
} gather_job;

static void gather_u8_part(void *ctx, int part, int nparts)
{
	const gather_job *j = ctx;
	size_t lo, hi;
	jm_cpu_part_range((size_t)j->B, part, nparts, 1, &lo, &hi);
	int D = j->D;
	for (size_t i = lo; i < hi; i++) {
		if (i + GATHER_AHEAD < hi) {
			const uint8_t *next = j->src + (size_t)j->idx[i + GATHER_AHEAD] * D;
			for (int k = 0; k < D; k += 64)
				__builtin_prefetch(next + k);
		}
		gather_u8_row(j->out + i * D, j->src + (size_t)j->idx[i] * D, D, j->scale,
			      j->shift);
	}
}

void jm_cpu_gather_u8(float *out, const uint8_t *src, const int32_t *idx,
		      int B, int D, float scale, float shift)
{
	gather_job j = {.out = out, .src = src, .idx = idx, .B = B, .D = D, .scale = scale,
			.shift = shift};
	int parts = jm_cpu_parts_for((size_t)B * D);
	jm_cpu_parallel(parts > B ? (B > 0 ? B : 1) : parts, gather_u8_part, &j);
}

/* The next batch's rows, asked for a step ahead: shuffled rows come from
 * all over the data set (42 MB for Fashion-MNIST), and each is a run of
 * cache misses when the gather meets it cold.  Prefetched into the outer
 * caches (a step's GEMMs and optimizer pass through L2 before the rows are
 * read): in a micro-benchmark with 4 MB touched in between, the gather of
 * 128 rows of 784 bytes went from 25 to 15-19 us, prefetches included. */
void jm_cpu_prefetch_rows(const void *src, const int32_t *idx, int B, size_t row_bytes)
{
	const char *base = src;
	for (int i = 0; i < B; i++) {
		const char *row = base + (size_t)idx[i] * row_bytes;
		for (size_t k = 0; k < row_bytes; k += 64)
			__builtin_prefetch(row + k, 0, 1);
	}
}

void jm_cpu_gather_f32(float *out, const float *src, const int32_t *idx,
		       int B, int D)
{
	for (int i = 0; i < B; i++)
		memcpy(out + (size_t)i * D, src + (size_t)idx[i] * D,
		       (size_t)D * sizeof *out);
}

/* The instruction set the dispatched kernels run: 2 AVX-512, 1 AVX2 and
 * FMA, 0 generic code. */
static int cpu_isa(void)
{
#if JM_CPU_DISPATCH
	if (__builtin_cpu_supports("x86-64-v4"))
		return 2;
	if (__builtin_cpu_supports("x86-64-v3"))
		return 1;
#endif
	return 0;
}

int jm_cpu_fma(void)
{
	return cpu_isa() > 0;
}

/* ---- optimizers, as torch.optim (single-tensor path) ---- */

/*
 * AdamW: p *= 1 - lr*wd; m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
 *        p += -(lr/bc1) * m / (sqrt(v)/sqrt(bc2) + eps)
 * Adam:  the same with g += wd*p first and no decay of p.
 *
 * Rounded as PyTorch's CPU kernels round them (torch.optim's single-tensor
 * path: mul_ then add_ with alpha, addcmul_, addcdiv_), which contract
 * a*b + c to one FMA where the CPU has it: m = fma(1-b1, g, m*b1),
 * v = fma((1-b2)*g, g, v*b2), p += (-step*m) / denom.  On such a CPU the
 * state matches PyTorch's to the last bit (bench/optim_parity.sh); the
 * generic code (no FMA) rounds each product.
 *
 * The pass is bound by its division and square root, not by memory
 * (bench/adam_order).  With FMA the division by the constant sqrt(bc2)
 * is jm_cpu_div_by_const (cpu_ops.h): the same bits, no division.  The
 * division by the per-element denominator stays a division: replacing it
 * would need a reciprocal rounded to nearest, which costs as much.
 */
typedef struct adam_consts {
	float nstep, bc2s, rbc2s, b1, b2, c1, c2, eps, wd, decay;
	int decoupled;
} adam_consts;

/* a*b + c, rounded once where the CPU has FMA */
JM_CPU_INLINE static float madd(float a, float b, float c, int fma)
{
	return fma ? fmaf(a, b, c) : a * b + c;
}

JM_CPU_INLINE static void adam_body(float *restrict p, float *restrict m, float *restrict v,
				    const float *restrict g, size_t n, const adam_consts *k,
				    int fma)
{
	const float nstep = k->nstep, bc2s = k->bc2s, r = k->rbc2s, b1 = k->b1, b2 = k->b2;
	const float c1 = k->c1, c2 = k->c2, eps = k->eps, wd = k->wd, decay = k->decay;
#define ADAM_UPDATE(gi, pi)                                                                \
	do {                                                                               \
		float mi = madd(c1, gi, m[i] * b1, fma);                                   \
		float vi = madd(c2 * gi, gi, v[i] * b2, fma);                              \
		m[i] = mi;                                                                 \
		v[i] = vi;                                                                 \
		float den = jm_cpu_div_by_const(sqrtf(vi), bc2s, r, fma) + eps;            \
		p[i] = pi + nstep * mi / den;                                              \
	} while (0)
	if (k->decoupled)
		for (size_t i = 0; i < n; i++) {
			float gi = g[i], pi = p[i] * decay;
			ADAM_UPDATE(gi, pi);
		}
	else
		for (size_t i = 0; i < n; i++) {
			float gi = madd(wd, p[i], g[i], fma), pi = p[i];
			ADAM_UPDATE(gi, pi);
		}
#undef ADAM_UPDATE
}

#if JM_CPU_DISPATCH
JM_CPU_HOT __attribute__((target("arch=x86-64-v4"))) static void
adam_avx512(float *restrict p, float *restrict m, float *restrict v, const float *restrict g,
	    size_t n, const adam_consts *k)
{
	adam_body(p, m, v, g, n, k, 1);
}

JM_CPU_HOT __attribute__((target("arch=x86-64-v3"))) static void
adam_avx2(float *restrict p, float *restrict m, float *restrict v, const float *restrict g,
	  size_t n, const adam_consts *k)
{
	adam_body(p, m, v, g, n, k, 1);
}
#endif

JM_CPU_HOT static void adam_generic(float *restrict p, float *restrict m, float *restrict v,
				    const float *restrict g, size_t n, const adam_consts *k)
{
	adam_body(p, m, v, g, n, k, 0);
}

static void adam_kernel(float *p, float *m, float *v, const float *g, size_t n,
			const adam_consts *k)
{
#if JM_CPU_DISPATCH
	int isa = cpu_isa();
	if (isa == 2)
		adam_avx512(p, m, v, g, n, k);
	else if (isa == 1)
		adam_avx2(p, m, v, g, n, k);
	else
#endif
		adam_generic(p, m, v, g, n, k);
}

/*
 * SGD: d = g + wd*p; with momentum mu: buf = first ? d : mu*buf + d, and
 * d = nesterov ? d + mu*buf : buf; p -= lr*d.  buf may be NULL when
 * momentum is 0.  Rounded as PyTorch's kernels round them (add with alpha
 * is one FMA where the CPU has it): d = fma(wd, p, g), buf = RN(buf*mu) +
 * d, d = fma(mu, buf, d), p = fma(-lr, d, p).
 */
JM_CPU_INLINE static void sgd_body(float *restrict p, float *restrict buf,
				   const float *restrict g, size_t n, float lr, float momentum,
				   float wd, int nesterov, int first, int fma)
{
	if (momentum == 0.0f || !buf) {
		for (size_t i = 0; i < n; i++)
			p[i] = madd(-lr, madd(wd, p[i], g[i], fma), p[i], fma);
		return;
	}
	/* the first step copies d into buf, whatever buf held */
	float keep = first ? 0.0f : 1.0f;
	float nest = nesterov ? momentum : 0.0f, mu = momentum;
	for (size_t i = 0; i < n; i++) {
		float d = madd(wd, p[i], g[i], fma);
		float b = keep != 0.0f ? buf[i] * mu + d : d;
		buf[i] = b;
		p[i] = madd(-lr, nesterov ? madd(nest, b, d, fma) : b, p[i], fma);
	}
}

#if JM_CPU_DISPATCH
JM_CPU_HOT __attribute__((target("arch=x86-64-v4"))) static void
sgd_avx512(float *restrict p, float *restrict buf, const float *restrict g, size_t n, float lr,
	   float momentum, float wd, int nesterov, int first)
{
	sgd_body(p, buf, g, n, lr, momentum, wd, nesterov, first, 1);
}

JM_CPU_HOT __attribute__((target("arch=x86-64-v3"))) static void
sgd_avx2(float *restrict p, float *restrict buf, const float *restrict g, size_t n, float lr,
	 float momentum, float wd, int nesterov, int first)
{
	sgd_body(p, buf, g, n, lr, momentum, wd, nesterov, first, 1);
}
#endif

JM_CPU_HOT static void sgd_generic(float *restrict p, float *restrict buf,
				   const float *restrict g, size_t n, float lr, float momentum,
				   float wd, int nesterov, int first)
{
	sgd_body(p, buf, g, n, lr, momentum, wd, nesterov, first, 0);
}

static void sgd_kernel(float *p, float *buf, const float *g, size_t n, float lr,
		       float momentum, float wd, int nesterov, int first)
{
#if JM_CPU_DISPATCH
	int isa = cpu_isa();
	if (isa == 2)
		sgd_avx512(p, buf, g, n, lr, momentum, wd, nesterov, first);
	else if (isa == 1)
		sgd_avx2(p, buf, g, n, lr, momentum, wd, nesterov, first);
	else
#endif
		sgd_generic(p, buf, g, n, lr, momentum, wd, nesterov, first);
}

/* The optimizer passes split the parameters across the workers (each
 * element's update is its own: the bits do not depend on the split). */
typedef struct optim_job {
	float *p, *m, *v;
	const float *g;
	size_t n;
	adam_consts adam;
	double lr, b1, wd;
	int nesterov, first;
} optim_job;

static void adam_part(void *ctx, int part, int nparts)
{
	const optim_job *j = ctx;
	size_t lo, hi;
	jm_cpu_part_range(j->n, part, nparts, 16, &lo, &hi);
	adam_kernel(j->p + lo, j->m + lo, j->v + lo, j->g + lo, hi - lo, &j->adam);
}

void jm_cpu_adam_step(float *p, float *m, float *v, const float *g, size_t n, double lr,
		      double b1, double b2, double eps, double wd, double bc1, double bc2,
		      int decoupled)
{
	/* the constants as torch.optim forms them: in double, then rounded */
	float bc2s = (float)sqrt(bc2);
	optim_job j = {.p = p, .m = m, .v = v, .g = g, .n = n,
		       .adam = {.nstep = -(float)(lr / bc1), .bc2s = bc2s, .rbc2s = 1.0f / bc2s,
				.b1 = (float)b1, .b2 = (float)b2, .c1 = (float)(1.0 - b1),
				.c2 = (float)(1.0 - b2), .eps = (float)eps, .wd = (float)wd,
				.decay = (float)(1.0 - lr * wd), .decoupled = decoupled}};
	jm_cpu_parallel(jm_cpu_parts_for(4 * n), adam_part, &j);
}

static void sgd_part(void *ctx, int part, int nparts)
{
	const optim_job *j = ctx;
	size_t lo, hi;
	jm_cpu_part_range(j->n, part, nparts, 16, &lo, &hi);
	sgd_kernel(j->p + lo, j->m ? j->m + lo : NULL, j->g + lo, hi - lo, (float)j->lr,
		   (float)j->b1, (float)j->wd, j->nesterov, j->first);
}

void jm_cpu_sgd_step(float *p, float *buf, const float *g, size_t n, float lr, float momentum,
		     float wd, int nesterov, int first)
{
	optim_job j = {.p = p, .m = buf, .g = g, .n = n, .lr = lr, .b1 = momentum, .wd = wd,
		       .nesterov = nesterov, .first = first};
	jm_cpu_parallel(jm_cpu_parts_for(3 * n), sgd_part, &j);
}

JM_CPU_HOT double jm_cpu_sumsq(const float *restrict x, size_t n)
{
	double acc[8] = {0}, t = 0.0;
	size_t i = 0;
	for (; i + 8 <= n; i += 8)
		for (int k = 0; k < 8; k++)
			acc[k] += (double)x[i + k] * x[i + k];
	for (; i < n; i++)
		t += (double)x[i] * x[i];
	return t + ((acc[0] + acc[4]) + (acc[1] + acc[5])) +
	       ((acc[2] + acc[6]) + (acc[3] + acc[7]));
}

JM_CPU_HOT void jm_cpu_scale(float *restrict x, float a, size_t n)
{
	for (size_t i = 0; i < n; i++)
		x[i] *= a;
}
