/*
 * backend_cuda.cu: the CUDA backend module (jianmo-cuda.so): the
 * jm_backend table over device memory, cuBLAS sgemm and the linear layer,
 * the module's entry points, and its state (one device, one stream, one
 * cuBLAS handle).  The jianmo binary never links this: it dlopens the
 * module (src/engine/backend_load.c) and calls the entry points below.
 *
 *   jm_cuda_module_abi()        JM_CUDA_ABI: the table layout it was built
 *                               against; the loader refuses a mismatch
 *   jm_cuda_probe(buf, n)       driver, devices, memory, compute
 *                               capability, as text for `jianmo doctor`;
 *                               the number of usable devices, or -1
 *   jm_cuda_open(dev, why, n)   select device dev, create the stream and
 *                               handle; the table, or NULL and why
 *
 * Row-major sgemm on column-major cuBLAS: C = op(A) op(B) is computed as
 * C^T = op(B)^T op(A)^T, which is the same memory.  Math mode is plain
 * fp32 (no TF32) so results track the CPU's within float rounding, unless
 * [train] precision says otherwise (set_precision): tf32 turns on the
 * tensor cores' TF32 mode; bf16 and fp16 round both inputs into a 16-bit
 * scratch (one kernel each) and call cublasGemmEx summing in fp32 into the
 * fp32 result, so the CPU twin of a 16-bit GEMM is sgemm on inputs rounded
 * the same way (tests/test_cuda.c).
 */
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cuda/cuda_common.cuh"

#define JM_CUDA_ABI JM_BACKEND_ABI /* engine/backend.h */

jm_cuda_state jm_cuda = {-1};

void jm_cuda_fail(const char *fmt, ...)
{
	if (jm_cuda.error[0])
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(jm_cuda.error, sizeof jm_cuda.error, fmt, ap);
	va_end(ap);
}

int jm_cuda_check(cudaError_t e, const char *what)
{
	if (e == cudaSuccess)
		return 0;
	jm_cuda_fail("cuda: %s: %s", what, cudaGetErrorString(e));
	return -1;
}

int jm_cuda_check_blas(cublasStatus_t s, const char *what)
{
	if (s == CUBLAS_STATUS_SUCCESS)
		return 0;
	/* its words, so batch = auto knows a batch too large by them */
	jm_cuda_fail("cublas: %s: %s", what,
		     s == CUBLAS_STATUS_ALLOC_FAILED ? "out of memory" : cublasGetStatusString(s));
	return -1;
}

double *jm_cuda_dscratch(size_t n)
{
	if (n <= jm_cuda.dscratch_n)
		return jm_cuda.dscratch;
	jm_cuda_graph_barrier("a reduction scratch that grows", 0);
	size_t want = n < 4096 ? 4096 : n * 2;
	double *p = NULL;
	if (jm_cuda.dscratch) {
		/* the work that used it first (cudaFree only "may" wait) */
		jm_cuda_check(cudaStreamSynchronize(jm_cuda.stream), "scratch release");
		cudaFree(jm_cuda.dscratch);
	}
	jm_cuda.dscratch = NULL;
	jm_cuda.dscratch_n = 0;
	if (jm_cuda_check(cudaMalloc((void **)&p, want * sizeof *p), "scratch") < 0)
		return NULL;
	jm_cuda.dscratch = p;
	jm_cuda.dscratch_n = want;
	return p;
}

/* ---- memory ---- */

static void *cuda_alloc(size_t bytes)
{
	void *p = NULL;
	jm_cuda_graph_barrier("an allocation", 0);
	size_t n = bytes ? bytes : 1;
	if (cudaMalloc(&p, n) != cudaSuccess) {
		cudaGetLastError(); /* an allocation failure is not sticky */
		return NULL;
	}
	if (cudaMemsetAsync(p, 0, n, jm_cuda.stream) != cudaSuccess ||
	    cudaStreamSynchronize(jm_cuda.stream) != cudaSuccess) {
		cudaFree(p);
		return NULL;
	}
	return p;
}

static void cuda_free(void *p)
{
	if (!p)
		return;
	jm_cuda_graph_barrier("a release of memory", 0);
	/* the work queued on it first (cudaFree only "may" wait) */
	jm_cuda_check(cudaStreamSynchronize(jm_cuda.stream), "release of memory");
	cudaFree(p);
}

/* Small copies to the device (a batch's augmentation plan, the trainer's
 * loss sums) queue without waiting for the stream: the bytes go into a
 * slot of a pinned ring at once, so the caller's buffer is free on
 * return, and a slot is reused only once the event recorded behind its
 * copy has fired (RING_SLOTS copies later: in practice long done).  A copy
 * from pageable memory would wait for the stream to drain first. */
enum { RING_SLOTS = 64, RING_SLOT_BYTES = 65536 }; /* a batch of 2048 plans */
static struct {
	char *buf; /* pinned, RING_SLOTS * RING_SLOT_BYTES; NULL: not to be had */
	cudaEvent_t done[RING_SLOTS];
	int next, tried;
} ring;

static int ring_ready(void)
{
	if (ring.tried)
		return ring.buf != NULL;
	ring.tried = 1;
	if (cudaHostAlloc((void **)&ring.buf, (size_t)RING_SLOTS * RING_SLOT_BYTES,
			  cudaHostAllocDefault) != cudaSuccess) {
		cudaGetLastError(); /* then every copy takes the waiting path */
		ring.buf = NULL;
		return 0;
	}
	for (int i = 0; i < RING_SLOTS; i++)
		if (cudaEventCreateWithFlags(&ring.done[i], cudaEventDisableTiming) != cudaSuccess) {
			cudaGetLastError();
			while (i-- > 0)
				cudaEventDestroy(ring.done[i]);
			cudaFreeHost(ring.buf);
			ring.buf = NULL;
			return 0;
		}
	return 1;
}

static void cuda_to_device(void *dst, const void *src, size_t bytes)
{
	if (!bytes)
		return;
	jm_cuda_graph_upload(dst);
	if (bytes <= RING_SLOT_BYTES && ring_ready()) {
		int k = ring.next;
		ring.next = (k + 1) % RING_SLOTS;
		char *slot = ring.buf + (size_t)k * RING_SLOT_BYTES;
		/* an event never recorded counts as fired */
		jm_cuda_check(cudaEventSynchronize(ring.done[k]), "copy to device");
		memcpy(slot, src, bytes);
		jm_cuda_check(cudaMemcpyAsync(dst, slot, bytes, cudaMemcpyHostToDevice,
					      jm_cuda.stream), "copy to device");
		jm_cuda_check(cudaEventRecord(ring.done[k], jm_cuda.stream), "copy to device");
		return;
	}
	jm_cuda_check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, jm_cuda.stream),
		      "copy to device");
	/* the host buffer may be reused as soon as this returns */
	jm_cuda_check(cudaStreamSynchronize(jm_cuda.stream), "copy to device");
}

static void cuda_to_host(void *dst, const void *src, size_t bytes)
{
	jm_cuda_graph_sync("a read to the host");
	if (bytes)
		jm_cuda_check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost,
					      jm_cuda.stream), "copy to host");
	jm_cuda_check(cudaStreamSynchronize(jm_cuda.stream), "copy to host");
}

/* ---- GEMM and the linear layer ---- */

/* Up to three tensors rounded (RNE) to T in one launch: x[k]'s n[k]
 * values into y[k] (an n of 0 is none). */
template <typename T>
__global__ void k_to16(T *y0, const float *x0, size_t n0, T *y1, const float *x1, size_t n1,
		       T *y2, const float *x2, size_t n2)
{
	JM_CUDA_FOR(i, n0 + n1 + n2)
	{
		if (i < n0)
			y0[i] = jm_cuda_store_as<T>(x0[i]);
		else if (i < n0 + n1)
			y1[i - n0] = jm_cuda_store_as<T>(x1[i - n0]);
		else
			y2[i - n0 - n1] = jm_cuda_store_as<T>(x2[i - n0 - n1]);
	}
}

/* The 16-bit scratch for n values (grown on demand, never shrunk); NULL
 * with the error recorded when it cannot grow. */
extern "C" void *jm_cuda_half_scratch(size_t n)
{
	if (n <= jm_cuda.half_n)
		return jm_cuda.half;
	size_t want = n + n / 4;
	void *p = NULL;
	jm_cuda_graph_barrier("a 16-bit GEMM scratch that grows", 0);
	if (jm_cuda_check(cudaStreamSynchronize(jm_cuda.stream), "16-bit scratch") < 0 ||
	    jm_cuda_check(cudaMalloc(&p, want * 2), "16-bit GEMM scratch") < 0)
		return NULL;
	cudaFree(jm_cuda.half);
	jm_cuda.half = p;
	jm_cuda.half_n = want;
	return p;
}

/* x[0..3) (n[k] values each; 0: none) rounded to the precision's 16-bit
 * type in one launch, into the 16-bit scratch, each copy 256-byte aligned
 * as the tensor-core kernels like; their places in y.  0, or -1 with the
 * error recorded. */
static int round16_into_scratch(const float *const x[3], const size_t n[3], void *y[3])
{
	size_t off[3], total = 0;
	for (int k = 0; k < 3; k++) {
		off[k] = total;
		total += (n[k] + 127) / 128 * 128;
	}
	char *h = (char *)jm_cuda_half_scratch(total);
	if (!h)
		return -1;
	for (int k = 0; k < 3; k++)
		y[k] = h + off[k] * 2;
	size_t all = n[0] + n[1] + n[2];
	if (jm_cuda.precision == JM_PREC_BF16) {
		typedef __nv_bfloat16 T;
		jm_cuda_launch(k_to16<T>, jm_cuda_blocks(all), JM_CUDA_THREADS, 0, (T *)y[0], x[0],
			       n[0], (T *)y[1], x[1], n[1], (T *)y[2], x[2], n[2]);
	} else {
		typedef __half T;
		jm_cuda_launch(k_to16<T>, jm_cuda_blocks(all), JM_CUDA_THREADS, 0, (T *)y[0], x[0],
			       n[0], (T *)y[1], x[1], n[1], (T *)y[2], x[2], n[2]);
	}
	return JM_CUDA_LAUNCHED("16-bit rounding");
}

extern "C" const void *jm_cuda_round16(const float *x, size_t n)
{
	const float *xs[3] = {x, NULL, NULL};
	const size_t ns[3] = {n, 0, 0};
	void *y[3];
	return round16_into_scratch(xs, ns, y) < 0 ? NULL : y[0];
}

/* Row-major C = alpha op(A) op(B) + beta C as cuBLAS's column-major
 * C^T = op(B)^T op(A)^T, the same memory; A and B fp32 (sgemm) or, with
 * ex, the precision's 16-bit type (GemmEx). */
static void gemm_call(int ex, int ta, int tb, int M, int N, int K, float alpha, const void *A,
		      const void *B, float beta, float *C)
{
	jm_cuda_gemm_call c;
	memset(&c, 0, sizeof c); /* padding compares equal (graph_tape.c) */
	c.ex = ex;
	c.precision = jm_cuda.precision; /* tf32 or not: the math mode */
	c.type = !ex ? CUDA_R_32F : jm_cuda.precision == JM_PREC_BF16 ? CUDA_R_16BF : CUDA_R_16F;
	c.opa = tb ? CUBLAS_OP_T : CUBLAS_OP_N;
	c.opb = ta ? CUBLAS_OP_T : CUBLAS_OP_N;
	c.m = N, c.n = M, c.k = K;
	c.alpha = alpha, c.beta = beta;
	c.a = B, c.lda = tb ? K : N;
	c.b = A, c.ldb = ta ? M : K;
	c.c = C, c.ldc = N;
	jm_cuda_gemm(&c);
}

extern "C" void jm_cuda_gemm16(int ta, int tb, int M, int N, int K, float alpha, const void *A16,
			       const void *B16, float beta, float *C)
{
	gemm_call(1, ta, tb, M, N, K, alpha, A16, B16, beta, C);
}

/* C = alpha op(A) op(B) + beta C with both inputs rounded to bf16 or fp16
 * (RNE) and fp32 sums (cuBLAS on column-major, as jm_cuda_sgemm). */
static void gemm_16bit(int ta, int tb, int M, int N, int K, float alpha, const float *A,
		       const float *B, float beta, float *C)
{
	const float *xs[3] = {A, B, NULL};
	const size_t ns[3] = {(size_t)M * K, (size_t)K * N, 0};
	void *h[3];
	if (round16_into_scratch(xs, ns, h) == 0)
		jm_cuda_gemm16(ta, tb, M, N, K, alpha, h[0], h[1], beta, C);
}

static int cuda_set_precision(int precision, char *why, size_t n)
{
	if (!jm_prec_name(precision)) {
		snprintf(why, n, "unknown precision %d", precision);
		return -1;
	}
	if ((precision == JM_PREC_TF32 || precision == JM_PREC_BF16) && jm_cuda.cc_major < 8) {
		snprintf(why, n, "%s needs compute capability 8.0 or later; cuda:%d has %d.x",
			 jm_prec_name(precision), jm_cuda.device, jm_cuda.cc_major);
		return -1;
	}
	cublasStatus_t s = cublasSetMathMode(jm_cuda.blas, precision == JM_PREC_TF32
							       ? CUBLAS_TF32_TENSOR_OP_MATH
							       : CUBLAS_DEFAULT_MATH);
	if (s != CUBLAS_STATUS_SUCCESS) {
		snprintf(why, n, "cuBLAS refused the %s math mode (status %d)", jm_prec_name(precision),
			 (int)s);
		return -1;
	}
	jm_cuda.precision = precision;
	return 0;
}

extern "C" void jm_cuda_sgemm(int ta, int tb, int M, int N, int K, float alpha, const float *A,
			      const float *B, float beta, float *C)
{
	if (M <= 0 || N <= 0)
		return;
	if (K <= 0) {
		if (beta == 0.0f)
			jm_cuda_fill(C, 0.0f, (size_t)M * N);
		else if (beta != 1.0f)
			jm_cuda_scale(C, beta, (size_t)M * N);
		return;
	}
	if (jm_cuda.precision == JM_PREC_BF16 || jm_cuda.precision == JM_PREC_FP16) {
		gemm_16bit(ta, tb, M, N, K, alpha, A, B, beta, C);
		return;
	}
	gemm_call(0, ta, tb, M, N, K, alpha, A, B, beta, C);
}

static void cuda_linear_forward(float *out, const float *in, const float *w, const float *b,
				int B, int IN, int OUT)
{
	if (b)
		jm_cuda_bias_rows(out, b, B, OUT);
	jm_cuda_sgemm(0, 1, B, OUT, IN, 1.0f, in, w, b ? 1.0f : 0.0f, out);
}

/* The linear backward at 16 bits: dout, in and (for din) w rounded in
 * one launch, dout once for both GEMMs; the same inputs as two
 * gemm_16bit calls, so the same results. */
static void linear_backward16(float *din, float *dw, const float *dout, const float *in,
			      const float *w, int B, int IN, int OUT)
{
	const float *xs[3] = {dout, in, w};
	const size_t ns[3] = {(size_t)B * OUT, dw ? (size_t)B * IN : 0, din ? (size_t)OUT * IN : 0};
	void *h[3];
	if (round16_into_scratch(xs, ns, h) < 0)
		return;
	if (din)
		jm_cuda_gemm16(0, 0, B, IN, OUT, 1.0f, h[0], h[2], 0.0f, din);
	if (dw)
		jm_cuda_gemm16(1, 0, OUT, IN, B, 1.0f, h[0], h[1], 1.0f, dw);
}

static void cuda_linear_backward(float *din, float *dw, float *db, const float *dout,
				 const float *in, const float *w, int B, int IN, int OUT)
{
	if (jm_cuda_16bit() && B > 0 && IN > 0 && OUT > 0 && (din || dw)) {
		linear_backward16(din, dw, dout, in, w, B, IN, OUT);
		if (db)
			jm_cuda_colsum_acc(db, dout, B, OUT);
		return;
	}
	if (din)
		jm_cuda_sgemm(0, 0, B, IN, OUT, 1.0f, dout, w, 0.0f, din);
	if (dw)
		jm_cuda_sgemm(1, 0, OUT, IN, B, 1.0f, dout, in, 1.0f, dw);
	if (db)
		jm_cuda_colsum_acc(db, dout, B, OUT);
}

/* Wait for the queued work; 0, or -1 with the first error since the last
 * sync in why (and the error cleared). */
static int cuda_sync(char *why, size_t n)
{
	jm_cuda_graph_sync("a wait for the device");
	jm_cuda_check(cudaStreamSynchronize(jm_cuda.stream), "synchronize");
	jm_cuda_profile_write();
	if (!jm_cuda.error[0])
		return 0;
	if (why && n)
		snprintf(why, n, "%s", jm_cuda.error);
	jm_cuda.error[0] = '\0';
	return -1;
}

static void cuda_release_scratch(void)
{
	jm_cuda_graph_barrier("a release of scratch", 0);
	/* the work that used it first (cudaFree only "may" wait) */
	jm_cuda_check(cudaStreamSynchronize(jm_cuda.stream), "scratch release");
	cudaFree(jm_cuda.half);
	cudaFree(jm_cuda.dscratch);
	jm_cuda.half = NULL;
	jm_cuda.half_n = 0;
	jm_cuda.dscratch = NULL;
	jm_cuda.dscratch_n = 0;
}

static void *cuda_native_stream(void)
{
	/* kernels launched on the stream outside a native_call (a plugin pass
	 * the model did not hand over) cannot be in a graph */
	if (!jm_cuda_in_native_call())
		jm_cuda_graph_barrier("a plugin layer's own kernels", 1);
	return (void *)jm_cuda.stream;
}

static const jm_backend cuda_backend = {
	.name = "cuda",
	.alloc = cuda_alloc,
	.free = cuda_free,
	.to_device = cuda_to_device,
	.to_host = cuda_to_host,
	.fill = jm_cuda_fill,
	.sgemm = jm_cuda_sgemm,
	.linear_forward = cuda_linear_forward,
	.linear_backward = cuda_linear_backward,
	.conv2d_scratch_floats = jm_cuda_conv2d_scratch_floats,
	.conv2d_forward = jm_cuda_conv2d_forward,
	.conv2d_backward = jm_cuda_conv2d_backward,
	.maxpool_forward = jm_cuda_maxpool_forward,
	.maxpool_backward = jm_cuda_maxpool_backward,
	.avgpool_forward = jm_cuda_avgpool_forward,
	.avgpool_backward = jm_cuda_avgpool_backward,
	.gap_forward = jm_cuda_gap_forward,
	.gap_backward = jm_cuda_gap_backward,
	.batchnorm_forward = jm_cuda_batchnorm_forward,
	.batchnorm_backward = jm_cuda_batchnorm_backward,
	.layernorm_forward = jm_cuda_layernorm_forward,
	.layernorm_backward = jm_cuda_layernorm_backward,
	.act_forward = jm_cuda_act_forward,
	.act_backward = jm_cuda_act_backward,
	.dropout_forward = jm_cuda_dropout_forward,
	.dropout_backward = jm_cuda_dropout_backward,
	.add = jm_cuda_add,
	.accumulate = jm_cuda_accumulate,
	.xent = jm_cuda_xent,
	.mse = jm_cuda_mse,
	.xent_acc = jm_cuda_xent_acc,
	.mse_acc = jm_cuda_mse_acc,
	/* a read waits for the stream: every 32 batches, and at each log
	 * step, checkpoint and epoch end */
	.metrics_every = 32,
	.gather_u8 = jm_cuda_gather_u8,
	.gather_f32 = jm_cuda_gather_f32,
	.adam_step = jm_cuda_adam_step,
	.sgd_step = jm_cuda_sgd_step,
	.sumsq = jm_cuda_sumsq,
	.scale = jm_cuda_scale,
	.sync = cuda_sync,
	.release_scratch = cuda_release_scratch,
	.native_stream = cuda_native_stream,
	.native_call = jm_cuda_native_call,
	.clip_norm = jm_cuda_clip_norm,
	.set_precision = cuda_set_precision,
	.step_begin = jm_cuda_step_begin,
	.step_end = jm_cuda_step_end,
	.graph_info = jm_cuda_graph_info,
	.augment_geometry = jm_cuda_augment_geometry,
	.augment_mix = jm_cuda_augment_mix,
	.mix_targets = jm_cuda_mix_targets,
	.augment_batch = jm_cuda_augment_batch,
};

/* ---- entry points ---- */

extern "C" __attribute__((visibility("default"))) int jm_cuda_module_abi(void)
{
	return JM_CUDA_ABI;
}

extern "C" __attribute__((visibility("default"))) int jm_cuda_probe(char *buf, size_t n)
{
	int drv = 0, rt = 0, count = 0;
	size_t off = 0;
	buf[0] = '\0';
	cudaError_t e = cudaDriverGetVersion(&drv);
	if (e != cudaSuccess || drv == 0) {
		snprintf(buf, n, "no NVIDIA driver on this machine%s%s",
			 e != cudaSuccess ? ": " : "", e != cudaSuccess ? cudaGetErrorString(e) : "");
		return -1;
	}
	cudaRuntimeGetVersion(&rt);
	e = cudaGetDeviceCount(&count);
	if (e != cudaSuccess || count == 0) {
		snprintf(buf, n, "driver %d.%d, no usable GPU (%s)", drv / 1000, drv % 1000 / 10,
			 e != cudaSuccess ? cudaGetErrorString(e) : "0 devices");
		cudaGetLastError();
		return -1;
	}
	off += snprintf(buf + off, n - off, "driver %d.%d, runtime %d.%d", drv / 1000,
			drv % 1000 / 10, rt / 1000, rt % 1000 / 10);
	for (int d = 0; d < count && off < n; d++) {
		cudaDeviceProp p;
		if (cudaGetDeviceProperties(&p, d) != cudaSuccess)
			continue;
		off += snprintf(buf + off, n - off, "; cuda:%d %s, %.1f GiB, compute %d.%d (%s)", d,
				p.name, (double)p.totalGlobalMem / (1 << 30), p.major, p.minor,
				p.major >= 8 ? "fp32, tf32, bf16, fp16; precision auto: bf16"
					     : "not usable: jianmo-cuda.so is built for compute 8.0 "
					       "and later");
	}
	return count;
}

/* Whether this build can run on device: 1, or 0 with why (a device of
 * compute 7.x: the module is built for sm_80, sm_90 and PTX for later
 * ones), or -1 with why when the device cannot be asked.  No context is
 * made, so a search's parent can ask about every GPU without holding one. */
extern "C" __attribute__((visibility("default"))) int jm_cuda_usable(int device, char *why,
								       size_t n)
{
	cudaDeviceProp p;
	cudaError_t e = cudaGetDeviceProperties(&p, device);
	if (e != cudaSuccess) {
		snprintf(why, n, "cuda:%d: %s", device, cudaGetErrorString(e));
		cudaGetLastError();
		return -1;
	}
	if (p.major >= 8)
		return 1;
	snprintf(why, n, "cuda:%d (%s, compute %d.%d): jianmo-cuda.so is built for compute 8.0 "
		 "and later", device, p.name, p.major, p.minor);
	return 0;
}

/* Launched never: whether this build has code for the device. */
__global__ void k_probe(void) {}

extern "C" __attribute__((visibility("default"))) const jm_backend *
jm_cuda_open(int device, char *why, size_t n)
{
	if (jm_cuda.device >= 0) {
		if (jm_cuda.device == device)
			return &cuda_backend;
		snprintf(why, n, "the CUDA backend is already open on cuda:%d", jm_cuda.device);
		return NULL;
	}
	int count = 0, drv = 0;
	if (cudaDriverGetVersion(&drv) != cudaSuccess || drv == 0) {
		snprintf(why, n, "no NVIDIA driver on this machine");
		return NULL;
	}
	cudaError_t e = cudaGetDeviceCount(&count);
	if (e != cudaSuccess || count == 0) {
		snprintf(why, n, "no usable GPU (%s)",
			 e != cudaSuccess ? cudaGetErrorString(e) : "0 devices");
		cudaGetLastError();
		return NULL;
	}
	if (device < 0 || device >= count) {
		snprintf(why, n, "cuda:%d does not exist (%d device%s: cuda:0..cuda:%d)", device, count,
			 count == 1 ? "" : "s", count - 1);
		return NULL;
	}
	if ((e = cudaSetDevice(device)) != cudaSuccess ||
	    (e = cudaStreamCreateWithFlags(&jm_cuda.stream, cudaStreamNonBlocking)) != cudaSuccess) {
		snprintf(why, n, "cuda:%d: %s", device, cudaGetErrorString(e));
		return NULL;
	}
	/* a device this build has no code for (compute 7.x: it is built for
	 * sm_80, sm_90 and PTX for later ones) is refused now, not at the
	 * first kernel */
	cudaFuncAttributes fa;
	if ((e = cudaFuncGetAttributes(&fa, (const void *)k_probe)) != cudaSuccess) {
		cudaDeviceProp p;
		int ok = cudaGetDeviceProperties(&p, device) == cudaSuccess;
		cudaGetLastError();
		snprintf(why, n, "cuda:%d (%s, compute %d.%d): jianmo-cuda.so has no code for it "
			 "(built for compute 8.0 and later): %s", device, ok ? p.name : "?",
			 ok ? p.major : 0, ok ? p.minor : 0, cudaGetErrorString(e));
		cudaStreamDestroy(jm_cuda.stream);
		return NULL;
	}
	cublasStatus_t s = cublasCreate(&jm_cuda.blas);
	if (s != CUBLAS_STATUS_SUCCESS) {
		snprintf(why, n, "cuda:%d: cuBLAS could not start (status %d)", device, (int)s);
		cudaStreamDestroy(jm_cuda.stream);
		return NULL;
	}
	cublasSetStream(jm_cuda.blas, jm_cuda.stream);
	/* cuBLAS's workspace of our own, so a captured GEMM (cuda_graph.cu)
	 * allocates nothing; 32 MiB is what cuBLAS asks for on Hopper.  Without
	 * it cuBLAS keeps its default pool. */
	void *ws = NULL;
	if (cudaMalloc(&ws, (size_t)32 << 20) == cudaSuccess) {
		if (cublasSetWorkspace(jm_cuda.blas, ws, (size_t)32 << 20) != CUBLAS_STATUS_SUCCESS)
			cudaFree(ws);
	} else {
		cudaGetLastError();
	}
	cublasSetMathMode(jm_cuda.blas, CUBLAS_DEFAULT_MATH); /* fp32, no TF32 */
	cudaDeviceGetAttribute(&jm_cuda.cc_major, cudaDevAttrComputeCapabilityMajor, device);
	jm_cuda.precision = JM_PREC_FP32;
	jm_cuda_profile_init();
	const char *conv = getenv("JIANMO_CUDA_CONV");
	jm_cuda.conv_im2col = conv && !strcmp(conv, "im2col");
	jm_cuda.conv_ci = conv && !strcmp(conv, "ci");
	jm_cuda.device = device;
	jm_cuda.error[0] = '\0';
	return &cuda_backend;
}
