/*
 * backend_cpu.c: the CPU backend table, its memory ops, sgemm and the
 * linear layer, and the OpenBLAS facts for `jianmo doctor`.
 *
 * Host memory is the "device": alloc is a zeroed, 64-byte aligned block
 * (2 MiB aligned, on transparent huge pages, from 2 MiB up) and the copies
 * are memcpy.  Every GEMM goes through one cblas_sgemm call, so
 * the thread count is whatever OpenBLAS was given (OPENBLAS_NUM_THREADS or
 * jm_blas_set_threads); nothing here changes it.
 *
 *   linear forward:   out = in w^T          sgemm, bias pre-filled (beta 1)
 *   linear backward:  din = dout w          sgemm (skipped when din NULL)
 *                     dw += dout^T in       sgemm (beta 1: accumulate)
 *                     db += column sums of dout
 *   (each cut into one block per worker thread when there are several)
 *
 * The other ops live in cpu_conv.c, cpu_norm.c, cpu_ops.c and cpu_augment.c
 * (cpu_ops.h).
 */
#include "engine/backend.h"

#include <cblas.h>
#include <inttypes.h>
#include <malloc.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include "engine/cpu_ops.h"

#define HUGE_PAGE ((size_t)2 << 20)

/* Bytes held by cpu_alloc's blocks, for JIANMO_MEMORY_AVAILABLE. */
static atomic_size_t held;

/* One "Key:   N kB" line of /proc/meminfo, in bytes; -1 if absent. */
static int64_t meminfo(const char *text, const char *key)
{
	const char *p = strstr(text, key);
	long long kb;
	if (!p || sscanf(p + strlen(key), ": %lld kB", &kb) != 1)
		return -1;
	return (int64_t)kb * 1024;
}

/* A cgroup v2 file holding a byte count; -1 if absent or "max". */
static int64_t cgroup_bytes(const char *path)
{
	FILE *f = fopen(path, "r");
	long long v = -1;
	if (f) {
		if (fscanf(f, "%lld", &v) != 1)
			v = -1;
		fclose(f);
	}
	return v;
}

size_t jm_cpu_memory_available(void)
{
	const char *env = getenv("JIANMO_MEMORY_AVAILABLE");
	if (env && *env) {
		unsigned long long v = strtoull(env, NULL, 10);
		size_t h = atomic_load(&held);
		return v > h ? (size_t)(v - h) : 0;
	}
	char text[8192];
	FILE *f = fopen("/proc/meminfo", "r");
	if (!f)
		return SIZE_MAX;
	size_t n = fread(text, 1, sizeof text - 1, f);
	fclose(f);
	text[n] = '\0';
	int64_t avail = meminfo(text, "MemAvailable"), swap = meminfo(text, "SwapFree");
	if (avail < 0)
		return SIZE_MAX;
	avail += swap > 0 ? swap : 0;
	/* a container's limit, which /proc/meminfo does not show */
	int64_t max = cgroup_bytes("/sys/fs/cgroup/memory.max");
	int64_t cur = cgroup_bytes("/sys/fs/cgroup/memory.current");
	if (max > 0 && cur >= 0)
		avail = max - cur < avail ? max - cur : avail;
	/* an address-space limit (ulimit -v): what is left of it */
	struct rlimit rl;
	unsigned long long pages;
	FILE *statm;
	if (getrlimit(RLIMIT_AS, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
	    (statm = fopen("/proc/self/statm", "r"))) {
		if (fscanf(statm, "%llu", &pages) == 1) {
			int64_t left = (int64_t)rl.rlim_cur -
				       (int64_t)(pages * (unsigned long long)sysconf(_SC_PAGESIZE));
			avail = left < avail ? left : avail;
		}
		fclose(statm);
	}
	return avail > 0 ? (size_t)avail : 0;
}

size_t jm_backend_memory_left(const jm_backend *be)
{
	return strcmp(be->name, "cpu") ? SIZE_MAX : jm_cpu_memory_available();
}

void jm_backend_memory_note(size_t left, char *buf, size_t n)
{
	if (left == SIZE_MAX)
		snprintf(buf, n, "%s", "");
	else
		snprintf(buf, n, " (%.1f MiB of memory left)", (double)left / (1 << 20));
}

/* Sizes are rounded up to whole cache lines so aligned_alloc accepts them
 * and vector loops may read a full line at the end. */
static void *cpu_alloc(size_t bytes)
{
	size_t n = (bytes + 63) & ~(size_t)63;
	if (n < bytes)
		return NULL;
	if (n == 0)
		n = 64;
	if (n < HUGE_PAGE) {
		void *p = aligned_alloc(64, n);
		if (p) {
			memset(p, 0, n);
			atomic_fetch_add(&held, malloc_usable_size(p));
		}
		return p;
	}
	/* The block is written now (zeroed), so a block the machine does
	 * not have would bring in the kernel's OOM killer rather than a
	 * failed allocation: such a block is refused here (a model too large
	 * for the machine, a batch that batch = auto will halve). */
	if (n > jm_cpu_memory_available())
		return NULL;
	/* Blocks of 2 MiB and more (the data set; a large model's parameters
	 * and optimizer state) on huge pages where the kernel gives them: a
	 * shuffled batch touches a row per 4 KiB page, and each TLB miss adds
	 * to the row's cache misses (gather of 128 Fashion-MNIST rows, 4 MB
	 * touched between batches: 29.7 to 25.1 us).  Advice only: where THP
	 * is off nothing changes. */
	n = (n + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1);
	void *p = aligned_alloc(HUGE_PAGE, n);
	if (!p)
		return NULL;
#ifdef MADV_HUGEPAGE
	madvise(p, n, MADV_HUGEPAGE);
#endif
	memset(p, 0, n);
	atomic_fetch_add(&held, malloc_usable_size(p));
	return p;
}

static void cpu_free(void *p)
{
	if (p)
		atomic_fetch_sub(&held, malloc_usable_size(p));
	free(p);
}

static void cpu_copy(void *dst, const void *src, size_t bytes)
{
	if (dst != src && bytes)
		memmove(dst, src, bytes);
}

void jm_cpu_sgemm_ld(int ta, int tb, int M, int N, int K, float alpha,
		     const float *A, int lda, const float *B, int ldb,
		     float beta, float *C, int ldc)
{
	if (M <= 0 || N <= 0)
		return;
	if (K <= 0) {
		/* C = beta*C: cblas would do it too, but some builds reject
		 * K = 0 with an xerbla message. */
		for (int i = 0; i < M; i++) {
			float *c = C + (size_t)i * ldc;
			for (int j = 0; j < N; j++)
				c[j] = beta == 0.0f ? 0.0f : beta * c[j];
		}
		return;
	}
	cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans,
		    tb ? CblasTrans : CblasNoTrans, M, N, K, alpha, A, lda, B,
		    ldb, beta, C, ldc);
}

void jm_cpu_sgemm(int ta, int tb, int M, int N, int K, float alpha,
		  const float *A, const float *B, float beta, float *C)
{
	jm_cpu_sgemm_ld(ta, tb, M, N, K, alpha, A, ta ? M : K, B, tb ? K : N,
			beta, C, N);
}

/*
 * With worker threads ([train] threads) a linear layer's GEMMs are cut
 * into independent blocks, one per worker, each a one-thread sgemm:
 *
 *   forward   out[:, cols] = in w[cols]^T + b[cols]    (columns of OUT:
 *             each worker reads half of w, the larger operand)
 *   backward  din[rows, :] = dout[rows, :] w           (rows of B)
 *             dw[cols, :] += dout[:, cols]^T in       (rows of dw)
 *             db[cols]    += column sums of dout[:, cols]
 *
 * No block sums another's result, so a run is reproducible for a given
 * worker count.  GEMMs under LINEAR_PAR_MIN multiply-adds a part stay on
 * one thread.
 */
#define LINEAR_PAR_MIN ((size_t)1 << 20)

typedef struct linear_job {
	float *out, *din, *dw, *db;
	const float *in, *w, *b, *dout;
	int B, IN, OUT;
} linear_job;

static int linear_parts(int B, int IN, int OUT, int split)
{
	size_t macs = (size_t)B * IN * OUT;
	int n = jm_cpu_workers();
	while (n > 1 && (macs / (size_t)n < LINEAR_PAR_MIN || split / n < 16))
		n--;
	return n;
}

/* db[OUT] += sum over rows of dout[B,OUT], columns [lo, hi) */
JM_CPU_HOT static void cpu_colsum_acc(float *restrict db,
				      const float *restrict dout, int B,
				      int OUT, int lo, int hi)
{
	for (int i = 0; i < B; i++) {
		const float *row = dout + (size_t)i * OUT;
		for (int j = lo; j < hi; j++)
			db[j] += row[j];
	}
}

static void linear_forward_part(void *ctx, int part, int nparts)
{
	const linear_job *j = ctx;
	size_t lo, hi;
	jm_cpu_part_range((size_t)j->OUT, part, nparts, 16, &lo, &hi);
	int n = (int)(hi - lo);
	if (n <= 0)
		return;
	if (j->b)
		for (int i = 0; i < j->B; i++)
			memcpy(j->out + (size_t)i * j->OUT + lo, j->b + lo, (size_t)n * sizeof *j->b);
	jm_cpu_sgemm_ld(0, 1, j->B, n, j->IN, 1.0f, j->in, j->IN, j->w + lo * j->IN, j->IN,
			j->b ? 1.0f : 0.0f, j->out + lo, j->OUT);
}

/* out[B,OUT] = in[B,IN] w[OUT,IN]^T + b[OUT] */
static void cpu_linear_forward(float *out, const float *in, const float *w,
			       const float *b, int B, int IN, int OUT)
{
	linear_job j = {.out = out, .in = in, .w = w, .b = b, .B = B, .IN = IN, .OUT = OUT};
	jm_cpu_parallel(linear_parts(B, IN, OUT, OUT), linear_forward_part, &j);
}

static void linear_din_part(void *ctx, int part, int nparts)
{
	const linear_job *j = ctx;
	size_t lo, hi;
	jm_cpu_part_range((size_t)j->B, part, nparts, 16, &lo, &hi);
	jm_cpu_sgemm(0, 0, (int)(hi - lo), j->IN, j->OUT, 1.0f, j->dout + lo * j->OUT, j->w,
		     0.0f, j->din + lo * j->IN);
}

static void linear_dw_part(void *ctx, int part, int nparts)
{
	const linear_job *j = ctx;
	size_t lo, hi;
	jm_cpu_part_range((size_t)j->OUT, part, nparts, 16, &lo, &hi);
	if (hi <= lo)
		return;
	if (j->dw)
		jm_cpu_sgemm_ld(1, 0, (int)(hi - lo), j->IN, j->B, 1.0f, j->dout + lo, j->OUT,
				j->in, j->IN, 1.0f, j->dw + lo * j->IN, j->IN);
	if (j->db)
		cpu_colsum_acc(j->db, j->dout, j->B, j->OUT, (int)lo, (int)hi);
}

/* din[B,IN] = dout[B,OUT] w[OUT,IN];  dw[OUT,IN] += dout^T in;
 * db[OUT] += sum_b dout.  din, dw, db may each be NULL. */
static void cpu_linear_backward(float *din, float *dw, float *db,
				const float *dout, const float *in,
				const float *w, int B, int IN, int OUT)
{
	linear_job j = {.din = din, .dw = dw, .db = db, .dout = dout, .in = in, .w = w,
			.B = B, .IN = IN, .OUT = OUT};
	if (din)
		jm_cpu_parallel(linear_parts(B, IN, OUT, B), linear_din_part, &j);
	if (dw || db)
		jm_cpu_parallel(linear_parts(B, IN, OUT, OUT), linear_dw_part, &j);
}

static void cpu_xent_acc(float *dlogits, double *acc, const float *logits,
			 const int32_t *labels, const float *soft, int B, int K, float smoothing)
{
	int32_t correct = 0;
	double loss = jm_cpu_xent(dlogits, NULL, &correct, logits, labels, soft, B, K, smoothing);
	acc[0] += loss;
	acc[1] += correct;
	acc[2] += 1;
	acc[3] += loss;
	acc[4] += 1;
}

static void cpu_mse_acc(float *dpred, double *acc, const float *pred, const float *target,
			int B, int K)
{
	double loss = jm_cpu_mse(dpred, NULL, pred, target, B, K);
	acc[0] += loss;
	acc[2] += 1;
	acc[3] += loss;
	acc[4] += 1;
}

static int cpu_sync(char *why, size_t n)
{
	(void)why, (void)n;
	return 0;
}

const jm_backend jm_backend_cpu = {
	.name = "cpu",
	.alloc = cpu_alloc,
	.free = cpu_free,
	.to_device = cpu_copy,
	.to_host = cpu_copy,
	.fill = jm_cpu_fill,
	.sgemm = jm_cpu_sgemm,
	.linear_forward = cpu_linear_forward,
	.linear_backward = cpu_linear_backward,
	.conv2d_scratch_floats = jm_cpu_conv2d_scratch_floats,
	.conv2d_forward = jm_cpu_conv2d_forward,
	.conv2d_backward = jm_cpu_conv2d_backward,
	.maxpool_forward = jm_cpu_maxpool_forward,
	.maxpool_backward = jm_cpu_maxpool_backward,
	.avgpool_forward = jm_cpu_avgpool_forward,
	.avgpool_backward = jm_cpu_avgpool_backward,
	.gap_forward = jm_cpu_gap_forward,
	.gap_backward = jm_cpu_gap_backward,
	.batchnorm_forward = jm_cpu_batchnorm_forward,
	.batchnorm_backward = jm_cpu_batchnorm_backward,
	.layernorm_forward = jm_cpu_layernorm_forward,
	.layernorm_backward = jm_cpu_layernorm_backward,
	.act_forward = jm_cpu_act_forward,
	.act_backward = jm_cpu_act_backward,
	.dropout_forward = jm_cpu_dropout_forward,
	.dropout_backward = jm_cpu_dropout_backward,
	.add = jm_cpu_add,
	.accumulate = jm_cpu_accumulate,
	.xent = jm_cpu_xent,
	.mse = jm_cpu_mse,
	.xent_acc = cpu_xent_acc,
	.mse_acc = cpu_mse_acc,
	.metrics_every = 1,
	.gather_u8 = jm_cpu_gather_u8,
	.gather_f32 = jm_cpu_gather_f32,
	.prefetch_rows = jm_cpu_prefetch_rows,
	.adam_step = jm_cpu_adam_step,
	.sgd_step = jm_cpu_sgd_step,
	.sumsq = jm_cpu_sumsq,
	.scale = jm_cpu_scale,
	.sync = cpu_sync,
	.augment_geometry = jm_cpu_augment_geometry,
	.augment_mix = jm_cpu_augment_mix,
	.mix_targets = jm_cpu_mix_targets,
};

const char *jm_blas_corename(void)
{
	const char *name = openblas_get_corename();
	return name ? name : "unknown";
}

int jm_blas_threads(void)
{
	return openblas_get_num_threads();
}

int jm_blas_run_threads(void)
{
	return getenv("OPENBLAS_NUM_THREADS") ? jm_blas_threads() : 1;
}

void jm_blas_set_threads(int n)
{
	if (n >= 1)
		openblas_set_num_threads(n);
}

/* OpenBLAS (0.3.21, Debian 12's) keeps a pool of GEMM work buffers (128
 * MiB each on AVX-512 cores): a GEMM takes a free one or maps a new one,
 * and when that mapping fails it retries forever (OpenBLAS issue 5289,
 * fixed in 2025), so a run that sized its buffers to the memory there is
 * would hang in its first step instead of failing.  Worse, each of
 * OpenBLAS's own threads takes a buffer for good when it first runs, which
 * may be long after the library loaded: a free buffer we reserved would be
 * taken from under us.  So, at the start, while memory is there:
 *   1. make sure there is room (an mmap of a little more, given back);
 *   2. run one GEMM on all the threads OpenBLAS started with, so every one
 *      of its threads has run and holds its own buffer;
 *   3. one GEMM on each of our workers, all started together, so each
 *      thread of ours that calls BLAS finds a buffer free.
 * GEMMs below OpenBLAS's small-matrix bound (100^3) take no buffer. */
#define BLAS_BUFFER_ROOM ((size_t)136 << 20)

static int blas_threads_at_load; /* OpenBLAS's threads before we set them */

__attribute__((constructor)) static void note_blas_threads(void)
{
	blas_threads_at_load = openblas_get_num_threads();
}

static void blas_gemm_zeros(int M, int N, int K)
{
	float *a = calloc((size_t)M * K + (size_t)K * N + (size_t)M * N, sizeof *a);
	if (a)
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1.0f, a, K,
			    a + (size_t)M * K, N, 0.0f, a + (size_t)M * K + (size_t)K * N, N);
	free(a);
}

static void reserve_part(void *ctx, int part, int nparts)
{
	(void)ctx, (void)part, (void)nparts;
	blas_gemm_zeros(128, 128, 128);
}

int jm_blas_reserve(char *why, size_t n)
{
	int w = jm_cpu_workers();
	size_t room = BLAS_BUFFER_ROOM * (size_t)w;
	void *p = mmap(NULL, room, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		snprintf(why, n, "no memory left for OpenBLAS's GEMM buffers (%zu MiB for %d thread%s)",
			 room >> 20, w, w == 1 ? "" : "s");
		return -1;
	}
	munmap(p, room);
	int now = openblas_get_num_threads(), all = blas_threads_at_load;
	if (all > 1) {
		/* M split across every thread: each one runs a part */
		openblas_set_num_threads(all);
		blas_gemm_zeros(256 * all, 256, 256);
		openblas_set_num_threads(now);
	}
	jm_cpu_parallel(w, reserve_part, NULL);
	return 0;
}
