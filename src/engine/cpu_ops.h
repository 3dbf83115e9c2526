/*
 * cpu_ops.h: the pieces of the CPU backend, shared by its files only.
 *
 *   backend_cpu.c  the jm_backend_cpu table, memory, sgemm, linear, BLAS facts
 *   cpu_conv.c     conv2d (shifted copies or im2col, then sgemm)
 *   cpu_pool.c     max, average and global average pooling
 *   cpu_norm.c     batch norm, layer norm
 *   cpu_ops.c      activations, dropout, add, cross-entropy, gathers,
 *                  optimizer passes, sumsq/scale
 *   cpu_augment.c  crop/flip/erase, MixUp/CutMix, mixed soft targets
 *
 * Every function here has the signature of its jm_backend slot (see
 * backend.h for shapes and the accumulate/overwrite rules); nothing outside
 * the backend calls them directly: go through jm_backend_cpu.
 */
#ifndef JM_CPU_OPS_H
#define JM_CPU_OPS_H

#include <stddef.h>
#include <math.h>
#include <stdint.h>

#include "engine/backend.h"

/*
 * Element-wise loops must vectorize whatever -O level the build uses: GCC's
 * -O2 cost model leaves loops of unknown trip count scalar.  The attribute
 * affects only the kernel it marks; other compilers ignore it and still get
 * correct code.  (sqrtf needs -fno-math-errno too, which the attribute
 * cannot set: module.mk gives it to the engine library.)
 */
#if defined(__GNUC__) && !defined(__clang__)
#define JM_CPU_HOT __attribute__((optimize("O3", "no-math-errno")))
#else
#define JM_CPU_HOT
#endif

/*
 * Compute-bound loops (the optimizers' square roots and divisions) also
 * get an AVX2 clone that glibc's ifunc picks at load time on CPUs that
 * have it: AdamW over 235k parameters went from 0.19 to 0.09 ms on Zen 4.
 * ISO C mode contracts no FMAs, so both clones give the same bits.
 */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && \
	defined(__linux__)
#define JM_CPU_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define JM_CPU_CLONES
#endif

/*
 * Kernels whose best code differs per instruction set beyond what the
 * compiler can vectorize (FMA in place of a division) are written once as
 * a JM_CPU_INLINE body and stamped out per target, then picked with
 * __builtin_cpu_supports where JM_CPU_DISPATCH is 1.
 */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && \
	defined(__linux__)
#define JM_CPU_DISPATCH 1
#else
#define JM_CPU_DISPATCH 0
#endif
#if defined(__GNUC__)
#define JM_CPU_INLINE inline __attribute__((always_inline))
#else
#define JM_CPU_INLINE inline
#endif

/*
 * s / d rounded to nearest, for a d fixed over a loop, given r = RN(1/d).
 * With fma (the caller's target has FMA, so fmaf is one instruction) there
 * is no division: q = RN(s r) is within two ulps of s/d, one correction
 * q += (s - q d) r makes it faithful, and by Markstein's theorem (r within
 * half an ulp of 1/d and q faithful, so the remainder s - q d is exact) a
 * second gives RN(s/d) itself.  Valid while s d^-1 and the remainders stay
 * normal: the AdamW pass divides s = sqrt(v) (0 or >= 2^-75) by
 * sqrt(bc2) in (0, 1].  An infinite or NaN s comes back as it is, as the
 * division gives it.  bench/adam_order --check compares it with the
 * division for every non-negative float s and a range of d.
 */
JM_CPU_INLINE static float jm_cpu_div_by_const(float s, float d, float r, int fma)
{
	if (!fma)
		return s / d;
	float q = s * r;
	q = fmaf(fmaf(-q, d, s), r, q);
	q = fmaf(fmaf(-q, d, s), r, q);
	return s < INFINITY ? q : s; /* inf and NaN pass as the division passes them */
}

/* sgemm through cblas, row-major (the jm_backend.sgemm slot), and the same
 * with explicit leading dimensions for sub-matrices. */
void jm_cpu_sgemm(int ta, int tb, int M, int N, int K, float alpha,
		  const float *A, const float *B, float beta, float *C);
void jm_cpu_sgemm_ld(int ta, int tb, int M, int N, int K, float alpha,
		     const float *A, int lda, const float *B, int ldb,
		     float beta, float *C, int ldc);

/* cpu_conv.c */
size_t jm_cpu_conv2d_scratch_floats(int B, int C, int H, int W, int OC,
				    int K, int stride, int pad);
void jm_cpu_conv2d_forward(float *out, const float *in, const float *w,
			   const float *b, int B, int C, int H, int W, int OC,
			   int K, int stride, int pad, float *scratch);
void jm_cpu_conv2d_backward(float *din, float *dw, float *db,
			    const float *dout, const float *in, const float *w,
			    int B, int C, int H, int W, int OC, int K,
			    int stride, int pad, float *scratch);
/* cpu_pool.c */
void jm_cpu_maxpool_forward(float *out, int32_t *argmax, const float *in,
			    int B, int C, int H, int W, int K, int S);
void jm_cpu_maxpool_backward(float *din, const float *dout,
			     const int32_t *argmax, int B, int C, int H, int W,
			     int K, int S);
void jm_cpu_avgpool_forward(float *out, const float *in, int B, int C, int H,
			    int W, int K, int S);
void jm_cpu_avgpool_backward(float *din, const float *dout, int B, int C,
			     int H, int W, int K, int S);
void jm_cpu_gap_forward(float *out, const float *in, int B, int C, int HW);
void jm_cpu_gap_backward(float *din, const float *dout, int B, int C, int HW);

/* cpu_norm.c */
void jm_cpu_batchnorm_forward(float *out, float *mean, float *rstd,
			      const float *in, const float *gamma,
			      const float *beta, float *running_mean,
			      float *running_var, int B, int C, int HW,
			      int training, float momentum, float eps, int relu);
void jm_cpu_batchnorm_backward(float *din, float *dgamma, float *dbeta,
			       const float *dout, const float *in,
			       const float *mean, const float *rstd,
			       const float *gamma, const float *out, int B, int C,
			       int HW);
void jm_cpu_layernorm_forward(float *out, float *mean, float *rstd,
			      const float *in, const float *gamma,
			      const float *beta, int N, int C, float eps);
void jm_cpu_layernorm_backward(float *din, float *dgamma, float *dbeta,
			       const float *dout, const float *in,
			       const float *mean, const float *rstd,
			       const float *gamma, int N, int C);

/* cpu_ops.c */
void jm_cpu_fill(float *x, float v, size_t n);
void jm_cpu_act_forward(int act, float *out, const float *in, size_t n);
void jm_cpu_act_backward(int act, float *din, const float *dout,
			 const float *in, const float *out, size_t n);
void jm_cpu_dropout_forward(float *out, const float *in, size_t n, float p,
			    uint64_t key);
void jm_cpu_dropout_backward(float *din, const float *dout, size_t n, float p,
			     uint64_t key);
void jm_cpu_add(float *out, const float *a, const float *b, size_t n);
void jm_cpu_accumulate(float *y, const float *x, size_t n);
double jm_cpu_xent(float *dlogits, float *sample_loss, int32_t *correct,
		   const float *logits, const int32_t *labels,
		   const float *soft, int B, int K, float smoothing);
double jm_cpu_mse(float *dpred, float *sample_loss, const float *pred,
		  const float *target, int B, int K);
void jm_cpu_gather_u8(float *out, const uint8_t *src, const int32_t *idx,
		      int B, int D, float scale, float shift);
/* 1 where the optimizer kernels round a*b + c once (FMA: as PyTorch's CPU
 * kernels do on such a CPU), 0 where they round twice (generic code). */
int jm_cpu_fma(void);
void jm_cpu_prefetch_rows(const void *src, const int32_t *idx, int B, size_t row_bytes);
void jm_cpu_gather_f32(float *out, const float *src, const int32_t *idx,
		       int B, int D);
/* Run fn(ctx, part, nparts) for part = 0..n-1, part 0 on this thread
 * (cpu_workers.c). */
void jm_cpu_parallel(int n, void (*fn)(void *ctx, int part, int nparts), void *ctx);
int jm_cpu_workers(void);

/* Streaming ops (activations, dropout, pooling) take the workers only for
 * at least this many floats per part: a parallel call costs microseconds,
 * a float a fraction of a nanosecond. */
#define JM_CPU_PAR_MIN ((size_t)1 << 15)

/* How many parts `work` floats are worth, at most the workers. */
static inline int jm_cpu_parts_for(size_t work)
{
	size_t w = (size_t)jm_cpu_workers(), m = work / JM_CPU_PAR_MIN;
	return m < 1 ? 1 : m < w ? (int)m : (int)w;
}

/* Part `part` of nparts of [0, n): [*lo, *hi), boundaries on multiples of
 * `align` (16 floats: a cache line, so parts never share one). */
static inline void jm_cpu_part_range(size_t n, int part, int nparts, size_t align,
				     size_t *lo, size_t *hi)
{
	size_t units = (n + align - 1) / align;
	size_t a = units * (size_t)part / (size_t)nparts;
	size_t b = units * (size_t)(part + 1) / (size_t)nparts;
	*lo = a * align < n ? a * align : n;
	*hi = b * align < n ? b * align : n;
}

void jm_cpu_adam_step(float *p, float *m, float *v, const float *g, size_t n,
		      double lr, double b1, double b2, double eps, double wd,
		      double bc1, double bc2, int decoupled);
void jm_cpu_sgd_step(float *p, float *buf, const float *g, size_t n, float lr,
		     float momentum, float wd, int nesterov, int first);
double jm_cpu_sumsq(const float *x, size_t n);
void jm_cpu_scale(float *x, float a, size_t n);

/* cpu_augment.c */
void jm_cpu_augment_geometry(float *out, const float *in, const jm_aug_geom *g, int B, int C,
			     int H, int W, int pad_mode, float fill, int erase_mode, uint64_t key);
void jm_cpu_augment_mix(float *x, const jm_aug_mix *m, int B, int C, int H, int W);
void jm_cpu_mix_targets(float *soft, const int32_t *labels, const jm_aug_mix *m, int B, int K,
			float smoothing);

#endif
