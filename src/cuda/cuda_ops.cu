/*
 * cuda_ops.cu: the element-wise and small ops of the CUDA backend, each
 * the device twin of its CPU version in src/engine/cpu_ops.c (same
 * formulas, same constants; the tests compare them op by op):
 * fill, activations, dropout (the CPU's hash, so the same mask), add,
 * softmax cross-entropy, gathers, the optimizer passes, sumsq/scale, and
 * the linear layer's bias helpers.
 *
 * Kernels are grid-stride loops over flat buffers.  The optimizer kernels
 * use __fmul_rn/__fadd_rn so no multiply-add is contracted and a step
 * rounds as the CPU's does.
 */
#include <math.h>

#include "cuda/cuda_common.cuh"

__global__ void k_fill(float *x, float v, size_t n)
{
	JM_CUDA_FOR(i, n) x[i] = v;
}

extern "C" void jm_cuda_fill(float *x, float v, size_t n)
{
	if (!n)
		return;
	jm_cuda_launch(k_fill, jm_cuda_blocks(n), JM_CUDA_THREADS, 0, x, v, n);
	JM_CUDA_LAUNCHED("fill");
}

/* ---- activations ---- */

__device__ __forceinline__ float act_fwd(int act, float x)
{
	switch (act) {
	case JM_ACT_RELU: return x <= 0.0f ? 0.0f : x; /* NaN passes (the CPU's twin) */
	case JM_ACT_GELU: return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f));
	case JM_ACT_TANH: return tanhf(x);
	case JM_ACT_SIGMOID: return 1.0f / (1.0f + expf(-x));
	case JM_ACT_SILU: return x / (1.0f + expf(-x));
	default: return x;
	}
}

__device__ __forceinline__ float act_bwd(int act, float g, float x, float y)
{
	switch (act) {
	case JM_ACT_RELU: return x > 0.0f ? g : 0.0f;
	case JM_ACT_GELU: {
		float cdf = 0.5f * (1.0f + erff(x * 0.70710678118654752f));
		float pdf = 0.3989422804014327f * expf(-0.5f * x * x);
		return g * (cdf + x * pdf);
	}
	case JM_ACT_TANH: return g * (1.0f - y * y);
	case JM_ACT_SIGMOID: return g * y * (1.0f - y);
	case JM_ACT_SILU: {
		float s = 1.0f / (1.0f + expf(-x));
		return g * (s + x * s * (1.0f - s));
	}
	default: return g;
	}
}

__global__ void k_act_fwd(int act, float *out, const float *in, size_t n)
{
	JM_CUDA_FOR(i, n) out[i] = act_fwd(act, in[i]);
}

__global__ void k_act_bwd(int act, float *din, const float *dout, const float *in,
			  const float *out, size_t n)
{
	JM_CUDA_FOR(i, n)
	{
		float x = in ? in[i] : 0.0f, y = out ? out[i] : 0.0f;
		din[i] = act_bwd(act, dout[i], x, y);
	}
}

extern "C" void jm_cuda_act_forward(int act, float *out, const float *in, size_t n)
{
	if (!n)
		return;
	jm_cuda_launch(k_act_fwd, jm_cuda_blocks(n), JM_CUDA_THREADS, 0, act, out, in, n);
	JM_CUDA_LAUNCHED("activation forward");
}

extern "C" void jm_cuda_act_backward(int act, float *din, const float *dout, const float *in,
				     const float *out, size_t n)
{
	if (!n)
		return;
	/* only what act_bwd reads: a stream of n floats less to load */
	int by_out = act == JM_ACT_TANH || act == JM_ACT_SIGMOID;
	const float *x = by_out || act == JM_ACT_NONE ? nullptr : in, *y = by_out ? out : nullptr;
	jm_cuda_launch(k_act_bwd, jm_cuda_blocks(n), JM_CUDA_THREADS, 0, act, din, dout, x, y, n);
	JM_CUDA_LAUNCHED("activation backward");
}

/* ---- dropout: keep element i iff hash_uniformf(key, i) >= p ---- */

__global__ void k_dropout(float *out, const float *in, size_t n, float p, float scale,
			  uint64_t key)
{
	JM_CUDA_FOR(i, n)
	{
		float v = in[i] * scale;
		out[i] = jm_cuda_hash_uniformf(key, i) >= p ? v : 0.0f;
	}
}

static void dropout(float *out, const float *in, size_t n, float p, uint64_t key)
{
	if (!n)
		return;
	if (p <= 0.0f) {
		if (out != in)
			jm_cuda_copy_d2d(out, in, n * sizeof *out);
		return;
	}
	if (p >= 1.0f) {
		jm_cuda_fill(out, 0.0f, n);
		return;
	}
	jm_cuda_launch(k_dropout, jm_cuda_blocks(n), JM_CUDA_THREADS, 0, out, in, n, p,
		       1.0f / (1.0f - p), key);
	JM_CUDA_LAUNCHED("dropout");
}

extern "C" void jm_cuda_dropout_forward(float *out, const float *in, size_t n, float p,
					uint64_t key)
{
	dropout(out, in, n, p, key);
}

extern "C" void jm_cuda_dropout_backward(float *din, const float *dout, size_t n, float p,
					 uint64_t key)
{
	dropout(din, dout, n, p, key);
}

__global__ void k_add(float *out, const float *a, const float *b, size_t n)
{
	JM_CUDA_FOR(i, n) out[i] = a[i] + b[i];
}

extern "C" void jm_cuda_add(float *out, const float *a, const float *b, size_t n)
{
	if (!n)
		return;
	jm_cuda_launch(k_add, jm_cuda_blocks(n), JM_CUDA_THREADS, 0, out, a, b, n);
	JM_CUDA_LAUNCHED("add");
}

extern "C" void jm_cuda_accumulate(float *y, const float *x, size_t n)
{
	jm_cuda_add(y, y, x, n);
}

/* ---- softmax cross-entropy: one warp per row ---- */

/* loss and dlogits of row r as jm_cpu_xent computes them; the row's loss
 * goes to rowloss[r] (double) and its hit (argmax == target) to hit[r]. */
__global__ void k_xent(float *dlogits, float *sample_loss, double *rowloss, int32_t *hit,
		       const float *logits, const int32_t *labels, const float *soft, int B,
		       int K, float smoothing)
{
	int warp = (int)((blockIdx.x * (size_t)blockDim.x + threadIdx.x) >> 5);
	int lane = threadIdx.x & 31;
	if (warp >= B)
		return;
	int r = warp;
	const float *z = logits + (size_t)r * K;
	float *dz = dlogits ? dlogits + (size_t)r * K : NULL;
	float invB = 1.0f / (float)B;
	/* argmax, first index of the largest value */
	float best = -INFINITY;
	int am = K;
	for (int k = lane; k < K; k += 32)
		if (z[k] > best || am == K) { /* k rises: the first maximum stays */
			best = z[k];
			am = k;
		}
	for (int o = 16; o > 0; o >>= 1) {
		float ob = __shfl_down_sync(0xffffffffu, best, o);
		int oa = __shfl_down_sync(0xffffffffu, am, o);
		if (ob > best || (ob == best && oa < am)) {
			best = ob;
			am = oa;
		}
	}
	am = __shfl_sync(0xffffffffu, am, 0);
	if (am >= K)
		am = 0; /* a row of NaNs: as the CPU, index 0 */
	float mx = z[am];
	double se = 0.0;
	for (int k = lane; k < K; k += 32)
		se += (double)expf(z[k] - mx);
	for (int o = 16; o > 0; o >>= 1)
		se += __shfl_down_sync(0xffffffffu, se, o);
	se = __shfl_sync(0xffffffffu, se, 0);
	double lse = (double)mx + log(se);
	double loss = 0.0;
	int h = 0;
	if (labels) {
		int y = labels[r];
		if (y < 0 || y >= K) {
			for (int k = lane; k < K && dz; k += 32)
				dz[k] = 0.0f;
			if (lane == 0) {
				if (sample_loss)
					sample_loss[r] = 0.0f;
				rowloss[r] = 0.0;
				hit[r] = 0;
			}
			return;
		}
		double s = smoothing, zsum = 0.0;
		for (int k = lane; k < K; k += 32)
			zsum += z[k];
		for (int o = 16; o > 0; o >>= 1)
			zsum += __shfl_down_sync(0xffffffffu, zsum, o);
		zsum = __shfl_sync(0xffffffffu, zsum, 0);
		loss = (1.0 - s) * (lse - z[y]) + s * (lse - zsum / K);
		h = am == y;
		if (dz) {
			float on = 1.0f - smoothing + smoothing / (float)K;
			float off = smoothing / (float)K;
			for (int k = lane; k < K; k += 32) {
				float sm = (float)exp(z[k] - lse);
				dz[k] = (sm - (k == y ? on : off)) * invB;
			}
		}
	} else {
		const float *t = soft + (size_t)r * K;
		double tsum = 0.0, l = 0.0;
		float tb = -INFINITY;
		int ta = K;
		for (int k = lane; k < K; k += 32) {
			l += t[k] * (lse - z[k]);
			tsum += t[k];
			if (t[k] > tb || ta == K) {
				tb = t[k];
				ta = k;
			}
		}
		for (int o = 16; o > 0; o >>= 1) {
			l += __shfl_down_sync(0xffffffffu, l, o);
			tsum += __shfl_down_sync(0xffffffffu, tsum, o);
			float ob = __shfl_down_sync(0xffffffffu, tb, o);
			int oa = __shfl_down_sync(0xffffffffu, ta, o);
			if (ob > tb || (ob == tb && oa < ta)) {
				tb = ob;
				ta = oa;
			}
		}
		loss = __shfl_sync(0xffffffffu, l, 0);
		tsum = __shfl_sync(0xffffffffu, tsum, 0);
		ta = __shfl_sync(0xffffffffu, ta, 0);
		h = am == (ta >= K ? 0 : ta);
		if (dz)
			for (int k = lane; k < K; k += 32) {
				double sm = exp(z[k] - lse);
				dz[k] = (float)((tsum * sm - t[k]) * invB);
			}
	}
	if (lane == 0) {
		if (sample_loss)
			sample_loss[r] = (float)loss;
		rowloss[r] = loss;
		hit[r] = h;
	}
}

/* The batch's mean loss into the trainer's sums (backend.h, xent_acc). */
__device__ static void acc_add(double *acc, double loss, const int32_t *hits)
{
	acc[0] += loss;
	if (hits)
		acc[1] += *hits;
	acc[2] += 1.0;
	acc[3] += loss;
	acc[4] += 1.0;
}

/* The batch's row values summed by one warp (the caller's, launched
 * <<<1, 32>>>) in a fixed order, so every run gives the same bits: lane l
 * adds rows l, l + 32, ... in turn, then the lanes pair off as a tree.
 * Lane 0 holds the total.  (One thread in row order waited on a load for
 * each 8 rows: a latency in every step.) */
template <typename V>
__device__ static V warp_rows_sum(const V *v, int B)
{
	V t = 0;
	for (int r = (int)threadIdx.x; r < B; r += 32)
		t += v[r];
	for (int o = 16; o > 0; o >>= 1)
		t += __shfl_down_sync(0xffffffffu, t, o);
	return t;
}

/* Sum the rows' losses and hits (warp_rows_sum); with acc, the mean into
 * the trainer's sums too (xent_acc, one launch fewer a step). */
__global__ void k_xent_total(double *rowloss, const int32_t *hit, int B, int32_t *hits,
			     double *acc)
{
	double t = warp_rows_sum(rowloss, B);
	int32_t c = warp_rows_sum(hit, B);
	if (threadIdx.x != 0)
		return;
	rowloss[B] = t;
	*hits = c;
	if (acc)
		acc_add(acc, t / B, hits);
}

/* The batch's row losses into rl[0..B) and their total into rl[B], hits
 * per row and their count into *hits: queued, nothing read.  0, or -1 when
 * a launch failed. */
static int xent_queue(double **rl_out, int32_t **hits_out, double *acc, float *dlogits,
		      float *sample_loss, const float *logits, const int32_t *labels,
		      const float *soft, int B, int K, float smoothing)
{
	double *rl = jm_cuda_dscratch((size_t)B + 1 + ((size_t)B + 1) / 2 + 1);
	if (!rl)
		return -1;
	int32_t *hit = (int32_t *)(rl + B + 1);
	int32_t *hits = hit + B;
	unsigned blocks = (unsigned)(((size_t)B * 32 + 255) / 256);
	jm_cuda_launch(k_xent, blocks, 256, 0, dlogits, sample_loss, rl, hit, logits, labels, soft,
		       B, K, smoothing);
	if (JM_CUDA_LAUNCHED("cross-entropy") < 0)
		return -1;
	jm_cuda_launch(k_xent_total, 1, 32, 0, rl, (const int32_t *)hit, B, hits, acc);
	if (JM_CUDA_LAUNCHED("cross-entropy total") < 0)
		return -1;
	*rl_out = rl;
	*hits_out = hits;
	return 0;
}

extern "C" double jm_cuda_xent(float *dlogits, float *sample_loss, int32_t *correct,
			       const float *logits, const int32_t *labels, const float *soft,
			       int B, int K, float smoothing)
{
	if (correct)
		*correct = 0; /* as the CPU, also when nothing can be read */
	if (B <= 0)
		return 0.0;
	double *rl, total = NAN;
	int32_t *hits, c = 0;
	if (xent_queue(&rl, &hits, nullptr, dlogits, sample_loss, logits, labels, soft, B, K,
		       smoothing) < 0)
		return NAN;
	jm_cuda_graph_sync("cross-entropy's read");
	if (jm_cuda_check(cudaMemcpyAsync(&total, rl + B, sizeof total, cudaMemcpyDeviceToHost,
					  jm_cuda.stream), "cross-entropy read") < 0 ||
	    jm_cuda_check(cudaMemcpyAsync(&c, hits, sizeof c, cudaMemcpyDeviceToHost,
					  jm_cuda.stream), "cross-entropy read") < 0 ||
	    jm_cuda_check(cudaStreamSynchronize(jm_cuda.stream), "cross-entropy") < 0)
		return NAN;
	if (correct)
		*correct = c;
	return total / B;
}


extern "C" void jm_cuda_xent_acc(float *dlogits, double *acc, const float *logits,
				 const int32_t *labels, const float *soft, int B, int K,
				 float smoothing)
{
	double *rl;
	int32_t *hits;
	if (B > 0)
		xent_queue(&rl, &hits, acc, dlogits, nullptr, logits, labels, soft, B, K, smoothing);
}

/* ---- gathers ---- */

__global__ void k_gather_u8(float *out, const uint8_t *src, const int32_t *idx, int D,
			    size_t n, float scale, float shift)
{
	JM_CUDA_FOR(i, n)
	{
		size_t j, r = jm_cuda_divrem(i, (size_t)D, &j);
		/* rounded twice, as the CPU (nvcc would fuse them into one fma) */
		out[i] = __fadd_rn(__fmul_rn((float)src[(size_t)idx[r] * D + j], scale), shift);
	}
}

__global__ void k_gather_f32(float *out, const float *src, const int32_t *idx, int D, size_t n)
{
	JM_CUDA_FOR(i, n)
	{
		size_t j, r = jm_cuda_divrem(i, (size_t)D, &j);
		out[i] = src[(size_t)idx[r] * D + j];
	}
}

extern "C" void jm_cuda_gather_u8(float *out, const uint8_t *src, const int32_t *idx, int B,
				  int D, float scale, float shift)
{
	size_t n = (size_t)B * D;
	if (!n)
		return;
	jm_cuda_launch(k_gather_u8, jm_cuda_blocks(n), JM_CUDA_THREADS, 0, out, src, idx, D, n,
		       scale, shift);
	JM_CUDA_LAUNCHED("gather");
}

extern "C" void jm_cuda_gather_f32(float *out, const float *src, const int32_t *idx, int B,
				   int D)
{
	size_t n = (size_t)B * D;
	if (!n)
		return;
	jm_cuda_launch(k_gather_f32, jm_cuda_blocks(n), JM_CUDA_THREADS, 0, out, src, idx, D, n);
	JM_CUDA_LAUNCHED("gather");
}

/* ---- optimizers: one fused pass each, rounded as the CPU backend's FMA
 * kernels (and PyTorch's CPU kernels) round them: explicit _rn intrinsics,
 * so nvcc contracts nothing else ---- */

__device__ static void adam_update(float *p, float *m, float *v, size_t i, float gi, float pi,
				   float nstep, float bc2s, float b1, float b2, float c1, float c2,
				   float eps)
{
	float mi = __fmaf_rn(c1, gi, __fmul_rn(m[i], b1));
	float vi = __fmaf_rn(__fmul_rn(c2, gi), gi, __fmul_rn(v[i], b2));
	m[i] = mi;
	v[i] = vi;
	float den = __fadd_rn(__fdiv_rn(__fsqrt_rn(vi), bc2s), eps);
	p[i] = __fadd_rn(pi, __fdiv_rn(__fmul_rn(nstep, mi), den));
}

__global__ void k_adamw(float *p, float *m, float *v, const float *g, size_t n, float nstep,
			float bc2s, float b1, float b2, float c1, float c2, float eps, float decay)
{
	JM_CUDA_FOR(i, n)
	adam_update(p, m, v, i, g[i], __fmul_rn(p[i], decay), nstep, bc2s, b1, b2, c1, c2, eps);
}

__global__ void k_adam(float *p, float *m, float *v, const float *g, size_t n, float nstep,
		       float bc2s, float b1, float b2, float c1, float c2, float eps, float wd)
{
	JM_CUDA_FOR(i, n)
	adam_update(p, m, v, i, __fmaf_rn(wd, p[i], g[i]), p[i], nstep, bc2s, b1, b2, c1, c2,
		    eps);
}

extern "C" void jm_cuda_adam_step(float *p, float *m, float *v, const float *g, size_t n,
				  double lr, double b1d, double b2d, double epsd, double wdd,
				  double bc1, double bc2, int decoupled)
{
	if (!n)
		return;
	/* the constants as torch.optim forms them: in double, then rounded */
	const float nstep = -(float)(lr / bc1), bc2s = (float)sqrt(bc2);
	const float b1 = (float)b1d, b2 = (float)b2d, eps = (float)epsd, wd = (float)wdd;
	const float c1 = (float)(1.0 - b1d), c2 = (float)(1.0 - b2d);
	if (decoupled)
		jm_cuda_launch(k_adamw, jm_cuda_blocks(n), JM_CUDA_THREADS, 0, p, m, v, g, n, nstep,
			       bc2s, b1, b2, c1, c2, eps, (float)(1.0 - lr * wdd));
	else
		jm_cuda_launch(k_adam, jm_cuda_blocks(n), JM_CUDA_THREADS, 0, p, m, v, g, n, nstep,
			       bc2s, b1, b2, c1, c2, eps, wd);
	JM_CUDA_LAUNCHED("adam step");
}

__global__ void k_sgd(float *p, float *buf, const float *g, size_t n, float lr, float mu,
		      float wd, int nesterov, float keep)
{
	JM_CUDA_FOR(i, n)
	{
		float d = __fmaf_rn(wd, p[i], g[i]);
		if (!buf) {
			p[i] = __fmaf_rn(-lr, d, p[i]);
			continue;
		}
		float b = keep != 0.0f ? __fadd_rn(__fmul_rn(buf[i], mu), d) : d;
		buf[i] = b;
		float u = nesterov ? __fmaf_rn(mu, b, d) : b;
		p[i] = __fmaf_rn(-lr, u, p[i]);
	}
}

extern "C" void jm_cuda_sgd_step(float *p, float *buf, const float *g, size_t n, float lr,
				 float momentum, float wd, int nesterov, int first)
{
	if (!n)
		return;
	if (momentum == 0.0f)
		buf = NULL;
	jm_cuda_launch(k_sgd, jm_cuda_blocks(n), JM_CUDA_THREADS, 0, p, buf, g, n, lr, momentum, wd,
		       nesterov, first ? 0.0f : 1.0f);
	JM_CUDA_LAUNCHED("sgd step");
}

/* ---- sumsq (double) and scale, for clipping ---- */

__global__ void k_sumsq(const float *x, size_t n, double *partial)
{
	double t = 0.0;
	JM_CUDA_FOR(i, n) t += (double)x[i] * x[i];
	t = jm_cuda_block_sum(t);
	if (threadIdx.x == 0)
		partial[blockIdx.x] = t;
}

__global__ void k_sum_partials(double *partial, unsigned nb)
{
	double t = 0.0;
	for (unsigned i = threadIdx.x; i < nb; i += blockDim.x)
		t += partial[i];
	t = jm_cuda_block_sum(t);
	if (threadIdx.x == 0)
		partial[nb] = t;
}

extern "C" double jm_cuda_sumsq(const float *x, size_t n)
{
	if (!n)
		return 0.0;
	unsigned nb = jm_cuda_blocks(n);
	if (nb > 1024)
		nb = 1024;
	double *part = jm_cuda_dscratch(nb + 1), r = NAN;
	if (!part)
		return NAN;
	jm_cuda_launch(k_sumsq, nb, JM_CUDA_THREADS, 0, x, n, part);
	jm_cuda_launch(k_sum_partials, 1, 1024, 0, part, nb);
	jm_cuda_graph_sync("sumsq's read");
	if (JM_CUDA_LAUNCHED("sumsq") < 0 ||
	    jm_cuda_check(cudaMemcpyAsync(&r, part + nb, sizeof r, cudaMemcpyDeviceToHost,
					  jm_cuda.stream), "sumsq read") < 0 ||
	    jm_cuda_check(cudaStreamSynchronize(jm_cuda.stream), "sumsq") < 0)
		return NAN;
	return r;
}

/* The norm from sumsq's partials, and the clipping factor into
 * partial[nb] (1: nothing to scale); stat as backend.h's clip_norm. */
__global__ void k_clip_factor(double *partial, unsigned nb, double max_norm, double *stat)
{
	double t = 0.0;
	for (unsigned i = threadIdx.x; i < nb; i += blockDim.x)
		t += partial[i];
	t = jm_cuda_block_sum(t);
	if (threadIdx.x == 0) {
		double norm = sqrt(t), coef = max_norm / (norm + 1e-6);
		stat[0] = norm;
		if (!isfinite(norm))
			stat[1] += 1.0;
		partial[nb] = isfinite(norm) && max_norm > 0.0 && coef < 1.0 ? coef : 1.0;
	}
}

__global__ void k_scale_by(float *x, const double *factor, size_t n)
{
	float a = (float)*factor;
	if (a == 1.0f)
		return;
	JM_CUDA_FOR(i, n) x[i] *= a;
}

extern "C" void jm_cuda_clip_norm(float *x, size_t n, double max_norm, double *stat)
{
	unsigned nb = jm_cuda_blocks(n ? n : 1);
	if (nb > 1024)
		nb = 1024;
	double *part = jm_cuda_dscratch(nb + 1);
	if (!part)
		return;
	jm_cuda_launch(k_sumsq, nb, JM_CUDA_THREADS, 0, (const float *)x, n, part);
	jm_cuda_launch(k_clip_factor, 1, 1024, 0, part, nb, max_norm, stat);
	jm_cuda_launch(k_scale_by, jm_cuda_blocks(n ? n : 1), JM_CUDA_THREADS, 0, x,
		       (const double *)(part + nb), n);
	JM_CUDA_LAUNCHED("gradient clipping");
}

__global__ void k_scale(float *x, float a, size_t n)
{
	JM_CUDA_FOR(i, n) x[i] *= a;
}

extern "C" void jm_cuda_scale(float *x, float a, size_t n)
{
	if (!n)
		return;
	jm_cuda_launch(k_scale, jm_cuda_blocks(n), JM_CUDA_THREADS, 0, x, a, n);
	JM_CUDA_LAUNCHED("scale");
}

/* ---- linear layer helpers ---- */

/* db[j] += sum_i dout[i, j]: a block per 32 columns, a lane per column
 * (the warp reads along a row), its 8 warps taking every 8th row from
 * their own; then the 8 parts added in warp order, so every run gives the
 * same bits.  (A thread per column over all the rows waited on a load for
 * each 8 rows, in every linear layer's backward.) */
enum { COLSUM_WARPS = 8 };

__global__ void __launch_bounds__(32 * COLSUM_WARPS)
	k_colsum_acc(float *db, const float *dout, int B, int OUT)
{
	__shared__ float part[COLSUM_WARPS][32];
	int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
	int j = blockIdx.x * 32 + lane;
	float s = 0.0f;
	if (j < OUT)
		for (int i = warp; i < B; i += COLSUM_WARPS)
			s += dout[(size_t)i * OUT + j];
	part[warp][lane] = s;
	__syncthreads();
	if (warp == 0 && j < OUT) {
		float t = part[0][lane];
		for (int w = 1; w < COLSUM_WARPS; w++)
			t += part[w][lane];
		db[j] += t;
	}
}

extern "C" void jm_cuda_colsum_acc(float *db, const float *dout, int B, int OUT)
{
	if (OUT <= 0)
		return;
	jm_cuda_launch(k_colsum_acc, (OUT + 31) / 32, 32 * COLSUM_WARPS, 0, db, dout, B, OUT);
	JM_CUDA_LAUNCHED("bias gradient");
}

__global__ void k_bias_rows(float *out, const float *b, size_t n, int OUT)
{
	JM_CUDA_FOR(i, n)
	{
		size_t j;
		jm_cuda_divrem(i, (size_t)OUT, &j);
		out[i] = b[j];
	}
}

extern "C" void jm_cuda_bias_rows(float *out, const float *b, int B, int OUT)
{
	size_t n = (size_t)B * OUT;
	if (!n)
		return;
	jm_cuda_launch(k_bias_rows, jm_cuda_blocks(n), JM_CUDA_THREADS, 0, out, b, n, OUT);
	JM_CUDA_LAUNCHED("bias");
}

/* ---- mean squared error: a thread per row, then the rows' total ---- */

__global__ void k_mse(float *dpred, float *sample_loss, double *rowloss, const float *pred,
		      const float *target, int B, int K, float g)
{
	int r = blockIdx.x * blockDim.x + threadIdx.x;
	if (r >= B)
		return;
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
	rowloss[r] = row;
}

/* The rows' total into rowloss[B] (warp_rows_sum); with acc, the mean
 * over count values into the trainer's sums too (mse_acc). */
__global__ void k_rows_total(double *rowloss, int B, double *acc, double count)
{
	double t = warp_rows_sum(rowloss, B);
	if (threadIdx.x != 0)
		return;
	rowloss[B] = t;
	if (acc)
		acc_add(acc, t / count, nullptr);
}

extern "C" double jm_cuda_mse(float *dpred, float *sample_loss, const float *pred,
			      const float *target, int B, int K)
{
	size_t n = (size_t)B * K;
	if (!n)
		return 0.0;
	double *rl = jm_cuda_dscratch((size_t)B + 1), total = NAN;
	if (!rl)
		return NAN;
	jm_cuda_launch(k_mse, (B + 255) / 256, 256, 0, dpred, sample_loss, rl, pred, target, B, K,
		       2.0f / (float)n);
	jm_cuda_launch(k_rows_total, 1, 32, 0, rl, B, nullptr, 0.0);
	jm_cuda_graph_sync("mse's read");
	if (JM_CUDA_LAUNCHED("mean squared error") < 0 ||
	    jm_cuda_check(cudaMemcpyAsync(&total, rl + B, sizeof total, cudaMemcpyDeviceToHost,
					  jm_cuda.stream), "mse read") < 0 ||
	    jm_cuda_check(cudaStreamSynchronize(jm_cuda.stream), "mse") < 0)
		return NAN;
	return total / (double)n;
}

extern "C" void jm_cuda_mse_acc(float *dpred, double *acc, const float *pred,
				const float *target, int B, int K)
{
	size_t n = (size_t)B * K;
	double *rl = n ? jm_cuda_dscratch((size_t)B + 1) : NULL;
	if (!rl)
		return;
	jm_cuda_launch(k_mse, (B + 255) / 256, 256, 0, dpred, nullptr, rl, pred, target, B, K,
		       2.0f / (float)n);
	jm_cuda_launch(k_rows_total, 1, 32, 0, rl, B, acc, (double)n);
	JM_CUDA_LAUNCHED("mean squared error");
}
