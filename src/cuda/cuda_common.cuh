/*
 * cuda_common.cuh: what every file of the CUDA backend module shares: the
 * module's stream and cuBLAS handle, the sticky first error, launch shapes
 * and the device twins of the host helpers (the dropout hash).
 *
 * The module (jianmo-cuda.so) fills the jm_backend table of
 * src/engine/backend.h with device pointers and these kernels.  The table's
 * ops return void, so an error inside one is kept (the first one wins) and
 * reported by the table's sync op, which the runner calls at every epoch's
 * end and before reading results.  Everything runs on one stream, so ops
 * are ordered as the calls are; only to_host, xent and sumsq wait for it.
 */
#ifndef JM_CUDA_COMMON_CUH
#define JM_CUDA_COMMON_CUH

#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

extern "C" {
#include "engine/backend.h"
}
#include "cuda/graph_tape.h"

/* The module's state: one device per process (a search runs one trial per
 * process, one GPU each). */
typedef struct jm_cuda_state {
	int device;
	cudaStream_t stream;
	cublasHandle_t blas;
	char error[256];   /* first error since the last sync, "" if none */
	double *dscratch;  /* device: reductions in double (xent, sumsq) */
	size_t dscratch_n;
	int precision;     /* JM_PREC_*: the GEMMs' inputs */
	int cc_major;      /* the device's compute capability */
	void *half;        /* device: 16-bit copies of a GEMM's inputs */
	size_t half_n;     /* its size in 16-bit values */
	int profile;       /* JIANMO_CUDA_PROFILE: every primitive timed */
	int conv_im2col;   /* JIANMO_CUDA_CONV=im2col: no implicit GEMMs */
	int conv_ci;       /* JIANMO_CUDA_CONV=ci: channels inner where it can */
} jm_cuda_state;

extern jm_cuda_state jm_cuda;

/* Record the first error (printf-style); later ones are dropped. */
void jm_cuda_fail(const char *fmt, ...);
/* Check a runtime call or the last launch; records and returns -1 on
 * error. */
int jm_cuda_check(cudaError_t e, const char *what);
int jm_cuda_check_blas(cublasStatus_t s, const char *what);
#define JM_CUDA_LAUNCHED(what) jm_cuda_check(cudaGetLastError(), what)

/* Device scratch for reductions: at least n doubles (grown on demand). */
double *jm_cuda_dscratch(size_t n);

/* Launch shape for n independent elements: 256 threads a block, enough
 * blocks to cover n up to a grid-stride cap. */
static inline unsigned jm_cuda_blocks(size_t n)
{
	size_t b = (n + 255) / 256;
	if (b > 65535u * 8u)
		b = 65535u * 8u;
	return b ? (unsigned)b : 1u;
}
#define JM_CUDA_THREADS 256

/* i / d with the remainder in *rem: in 32-bit arithmetic when both fit,
 * as they do for any batch below 4 Gi elements (a 64-bit division is
 * dozens of instructions, in kernels that do little else). */
__device__ __forceinline__ size_t jm_cuda_divrem(size_t i, size_t d, size_t *rem)
{
	if (((i | d) >> 32) == 0) {
		unsigned q = (unsigned)i / (unsigned)d;
		*rem = (unsigned)i - q * (unsigned)d;
		return q;
	}
	size_t q = i / d;
	*rem = i - q * d;
	return q;
}

#define JM_CUDA_FOR(i, n) \
	for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < (n); \
	     i += (size_t)blockDim.x * gridDim.x)

/* jm_hash64 / jm_hash_uniformf of src/util/rng.h, on the device: the same
 * bits, so a dropout mask is the CPU's. */
__device__ __forceinline__ uint64_t jm_cuda_hash64(uint64_t key, uint64_t counter)
{
	uint64_t z = key ^ (counter + 0x9e3779b97f4a7c15ULL) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

__device__ __forceinline__ float jm_cuda_hash_uniformf(uint64_t key, uint64_t counter)
{
	return (float)(jm_cuda_hash64(key, counter) >> 40) * (1.0f / 16777216.0f);
}

/* A float stored as T: itself, or rounded to nearest even into bf16 or
 * fp16 (as k_to_bf16/k_to_fp16 round a GEMM's inputs). */
template <typename T> __device__ __forceinline__ T jm_cuda_store_as(float v);
template <> __device__ __forceinline__ float jm_cuda_store_as<float>(float v)
{
	return v;
}
template <> __device__ __forceinline__ __nv_bfloat16 jm_cuda_store_as<__nv_bfloat16>(float v)
{
	return __float2bfloat16_rn(v);
}
template <> __device__ __forceinline__ __half jm_cuda_store_as<__half>(float v)
{
	return __float2half_rn(v);
}

/* Block-wide sum of one value per thread (blockDim.x a multiple of 32, at
 * most 1024); every thread gets the total. */
template <typename T>
__device__ __forceinline__ T jm_cuda_block_sum(T v)
{
	__shared__ T warp_sums[32];
	for (int o = 16; o > 0; o >>= 1)
		v += __shfl_down_sync(0xffffffffu, v, o);
	int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
	__syncthreads(); /* warp_sums may still be read by a previous call */
	if (lane == 0)
		warp_sums[warp] = v;
	__syncthreads();
	int nw = (blockDim.x + 31) >> 5;
	T t = lane < nw ? warp_sums[lane] : (T)0;
	if (warp == 0)
		for (int o = 16; o > 0; o >>= 1)
			t += __shfl_down_sync(0xffffffffu, t, o);
	__shared__ T total;
	if (threadIdx.x == 0)
		total = t;
	__syncthreads();
	return total;
}

/* ---- the training step as a CUDA graph (graph_tape.c, cuda_graph.cu) ----
 * Between the table's step_begin and step_end, every launch, cuBLAS GEMM
 * and device-to-device copy of the module is a "primitive" handed to the
 * tape: the first step runs them and keeps them, and they are captured
 * into a graph; the following steps only compare their primitives with the
 * tape and launch the graph at step_end, after setting the kernel
 * arguments that changed (a batch's offset, a dropout key, the lr).
 * Anything else (a read to the host, an allocation, a plugin's own
 * kernels) runs the step's primitives so far at once and the rest of the
 * step as it comes. */
/* A kernel's arguments, packed as cudaLaunchKernel takes them. */
typedef jm_tape_args jm_cuda_kargs;

/* One cuBLAS GEMM, column-major as cuBLAS takes it (see jm_cuda_sgemm). */
typedef struct jm_cuda_gemm_call {
	int ex;                     /* 0: cublasSgemm; 1: cublasGemmEx, 16-bit a, b */
	int precision;              /* JM_PREC_* when called (the math mode) */
	cublasOperation_t opa, opb;
	int m, n, k, lda, ldb, ldc;
	float alpha, beta;
	const void *a, *b;
	float *c;
	cudaDataType type;          /* a's and b's (ex) */
} jm_cuda_gemm_call;

void jm_cuda_graph_kernel(const void *f, dim3 grid, dim3 block, size_t smem,
			  const jm_cuda_kargs *a);
void jm_cuda_gemm(const jm_cuda_gemm_call *c);
void jm_cuda_copy_d2d(void *dst, const void *src, size_t bytes);
/* An upload to dst (a host-to-device copy) is about to be queued. */
void jm_cuda_graph_upload(const void *dst);
/* Call fn(ctx) that launches its own kernels on the module's stream (a
 * plugin layer's pass): kept and captured like a primitive in a step. */
void jm_cuda_native_call(void (*fn)(const void *ctx), const void *ctx, size_t bytes);
/* Whether the caller is inside such a call (native_stream asks). */
int jm_cuda_in_native_call(void);
/* A read to the host or a wait: the step's graph is cut here. */
void jm_cuda_graph_sync(const char *why);
/* Something no graph can hold (an allocation; for_good: a plugin's own
 * kernels, and no graphs for the rest of the run). */
void jm_cuda_graph_barrier(const char *why, int for_good);
void jm_cuda_step_begin(void);
void jm_cuda_step_end(void);
int jm_cuda_graph_info(char *buf, size_t n);
/* JIANMO_CUDA_PROFILE=FILE (read at open): each primitive timed alone,
 * the table written to FILE at every sync. */
void jm_cuda_profile_init(void);
void jm_cuda_profile_write(void);

template <typename P>
static inline void jm_cuda_pack(jm_cuda_kargs *k, P v)
{
	unsigned a = (unsigned)alignof(P);
	k->used = (k->used + a - 1) / a * a;
	memcpy(k->buf + k->used, &v, sizeof v);
	k->off[k->n++] = (unsigned short)k->used;
	k->used += (unsigned)sizeof v;
}

/* kernel<<<grid, block, smem, the module's stream>>>(a...), through the
 * tape while a step is being recorded or replayed. */
template <typename... P, typename... A>
static inline void jm_cuda_launch(void (*f)(P...), dim3 grid, dim3 block, size_t smem, A... a)
{
	static_assert(sizeof...(P) == sizeof...(A), "kernel argument count");
	static_assert(sizeof...(P) <= JM_TAPE_ARGS_MAX, "too many kernel arguments");
	static_assert((0 + ... + (sizeof(P) + alignof(P))) <= JM_TAPE_ARGS_BYTES,
		      "kernel arguments too large");
	if (jm_tape_mode == JM_TAPE_OFF && !jm_cuda.profile) {
		f<<<grid, block, smem, jm_cuda.stream>>>(a...);
		return;
	}
	jm_cuda_kargs k;
	memset(&k, 0, sizeof k); /* padding compares equal */
	(jm_cuda_pack<P>(&k, a), ...);
	jm_cuda_graph_kernel((const void *)f, grid, block, smem, &k);
}

/* The table's ops, by file. */
extern "C" {
/* cuda_ops.cu */
void jm_cuda_fill(float *x, float v, size_t n);
void jm_cuda_act_forward(int act, float *out, const float *in, size_t n);
void jm_cuda_act_backward(int act, float *din, const float *dout, const float *in,
			  const float *out, size_t n);
void jm_cuda_dropout_forward(float *out, const float *in, size_t n, float p, uint64_t key);
void jm_cuda_dropout_backward(float *din, const float *dout, size_t n, float p,
			      uint64_t key);
void jm_cuda_add(float *out, const float *a, const float *b, size_t n);
void jm_cuda_accumulate(float *y, const float *x, size_t n);
double jm_cuda_xent(float *dlogits, float *sample_loss, int32_t *correct, const float *logits,
		    const int32_t *labels, const float *soft, int B, int K, float smoothing);
double jm_cuda_mse(float *dpred, float *sample_loss, const float *pred, const float *target,
		   int B, int K);
void jm_cuda_xent_acc(float *dlogits, double *acc, const float *logits, const int32_t *labels,
		      const float *soft, int B, int K, float smoothing);
void jm_cuda_mse_acc(float *dpred, double *acc, const float *pred, const float *target, int B,
		     int K);
void jm_cuda_gather_u8(float *out, const uint8_t *src, const int32_t *idx, int B, int D,
		       float scale, float shift);
void jm_cuda_gather_f32(float *out, const float *src, const int32_t *idx, int B, int D);
void jm_cuda_adam_step(float *p, float *m, float *v, const float *g, size_t n, double lr,
		       double b1, double b2, double eps, double wd, double bc1, double bc2,
		       int decoupled);
void jm_cuda_sgd_step(float *p, float *buf, const float *g, size_t n, float lr, float momentum,
		      float wd, int nesterov, int first);
double jm_cuda_sumsq(const float *x, size_t n);
void jm_cuda_clip_norm(float *x, size_t n, double max_norm, double *stat);
void jm_cuda_scale(float *x, float a, size_t n);
void jm_cuda_colsum_acc(float *db, const float *dout, int B, int OUT);
void jm_cuda_bias_rows(float *out, const float *b, int B, int OUT);

/* cuda_pool.cu */
void jm_cuda_maxpool_forward(float *out, int32_t *argmax, const float *in, int B, int C, int H,
			     int W, int K, int S);
void jm_cuda_maxpool_backward(float *din, const float *dout, const int32_t *argmax, int B,
			      int C, int H, int W, int K, int S);
void jm_cuda_avgpool_forward(float *out, const float *in, int B, int C, int H, int W, int K,
			     int S);
void jm_cuda_avgpool_backward(float *din, const float *dout, int B, int C, int H, int W,
			      int K, int S);
void jm_cuda_gap_forward(float *out, const float *in, int B, int C, int HW);
void jm_cuda_gap_backward(float *din, const float *dout, int B, int C, int HW);

/* cuda_norm.cu */
void jm_cuda_batchnorm_forward(float *out, float *mean, float *rstd, const float *in,
			       const float *gamma, const float *beta, float *running_mean,
			       float *running_var, int B, int C, int HW, int training,
			       float momentum, float eps, int relu);
void jm_cuda_batchnorm_backward(float *din, float *dgamma, float *dbeta, const float *dout,
				const float *in, const float *mean, const float *rstd,
				const float *gamma, const float *out, int B, int C, int HW);
void jm_cuda_layernorm_forward(float *out, float *mean, float *rstd, const float *in,
			       const float *gamma, const float *beta, int N, int C, float eps);
void jm_cuda_layernorm_backward(float *din, float *dgamma, float *dbeta, const float *dout,
				const float *in, const float *mean, const float *rstd,
				const float *gamma, int N, int C);

/* cuda_conv.cu */
size_t jm_cuda_conv2d_scratch_floats(int B, int C, int H, int W, int OC, int K, int stride,
				     int pad);
void jm_cuda_conv2d_forward(float *out, const float *in, const float *w, const float *b, int B,
			    int C, int H, int W, int OC, int K, int stride, int pad,
			    float *scratch);
void jm_cuda_conv2d_backward(float *din, float *dw, float *db, const float *dout,
			     const float *in, const float *w, int B, int C, int H, int W, int OC,
			     int K, int stride, int pad, float *scratch);

/* cuda_conv_igemm.cu: bf16/fp16 convolutions as implicit GEMMs; each 0,
 * or -1 with nothing queued for a shape beyond their int indices (wgrad:
 * or a scratch too small for one split's part). */
int jm_cuda_conv_igemm_forward(float *out, const float *in, const float *w, const float *b, int B,
			       int C, int H, int W, int OC, int K, int S, int pad);
int jm_cuda_conv_igemm_dgrad(float *din, const float *dout, const float *w, int B, int C, int H,
			     int W, int OC, int K, int S, int pad);
int jm_cuda_conv_igemm_wgrad(float *dw, const float *dout, const float *in, int B, int C, int H,
			     int W, int OC, int K, int S, int pad, float *scratch,
			     size_t scratch_floats);

/* cuda_augment.cu */
void jm_cuda_augment_geometry(float *out, const float *in, const jm_aug_geom *g, int B, int C,
			      int H, int W, int pad_mode, float fill, int erase_mode, uint64_t key);
void jm_cuda_augment_mix(float *x, const jm_aug_mix *m, int B, int C, int H, int W);
void jm_cuda_mix_targets(float *soft, const int32_t *labels, const jm_aug_mix *m, int B, int K,
			 float smoothing);
void jm_cuda_augment_batch(float *out, const float *in, const jm_aug_geom *g, const jm_aug_mix *m,
			   float *soft, const int32_t *labels, int B, int C, int H, int W, int K,
			   int pad_mode, float fill, int erase_mode, uint64_t key, float smoothing);

/* backend_cuda.cu */
/* [train] precision is bf16 or fp16: GEMMs take 16-bit inputs. */
static inline int jm_cuda_16bit(void)
{
	return jm_cuda.precision == JM_PREC_BF16 || jm_cuda.precision == JM_PREC_FP16;
}
/* x's n values rounded to the precision's 16-bit type in the module's
 * 16-bit scratch (valid until the next GEMM that rounds its own inputs);
 * NULL with the error recorded. */
const void *jm_cuda_round16(const float *x, size_t n);
/* That scratch itself, for n 16-bit values (same validity); NULL with the
 * error recorded when it cannot grow. */
void *jm_cuda_half_scratch(size_t n);
/* jm_cuda_sgemm on inputs already in the precision's 16-bit type. */
void jm_cuda_gemm16(int ta, int tb, int M, int N, int K, float alpha, const void *A16,
		    const void *B16, float beta, float *C);
void jm_cuda_sgemm(int ta, int tb, int M, int N, int K, float alpha, const float *A,
		   const float *B, float beta, float *C);
}

#endif
