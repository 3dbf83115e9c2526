/*
 * cuda_graph.cu: the CUDA side of the step-as-one-graph state machine
 * (graph_tape.c, which has the picture): the module's primitives (kernel
 * launches, cuBLAS GEMMs, device copies) handed to it, and the executor it
 * drives: run a primitive now, capture a piece of the tape into a graph
 * (cudaStreamBeginCapture, the node of each kernel from the capture's
 * dependencies), set a captured kernel's arguments
 * (cudaGraphExecKernelNodeSetParams), launch a graph.  A capture that
 * fails only means no graph: the error is not the run's.
 *
 * Also JIANMO_CUDA_PROFILE=FILE: every primitive timed alone.
 */
#include <cxxabi.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cuda/cuda_common.cuh"

/* ---- running a primitive ---- */

static_assert(sizeof(jm_cuda_gemm_call) <= JM_TAPE_CALL_BYTES, "a GEMM call fits a primitive");

static const jm_cuda_gemm_call *gemm_of(const jm_prim *p)
{
	return (const jm_cuda_gemm_call *)(const void *)p->call;
}

static void point_args(void **argv, const jm_tape_args *a)
{
	for (int i = 0; i < a->n; i++)
		argv[i] = (void *)(a->buf + a->off[i]);
}

static cudaError_t run_kernel(const jm_prim *p, const jm_tape_args *a)
{
	void *argv[JM_TAPE_ARGS_MAX];
	point_args(argv, a);
	dim3 grid(p->grid[0], p->grid[1], p->grid[2]), block(p->block[0], p->block[1], p->block[2]);
	return cudaLaunchKernel(p->f, grid, block, argv, p->smem, jm_cuda.stream);
}

static cublasStatus_t run_gemm(const jm_cuda_gemm_call *c)
{
	if (c->ex)
		return cublasGemmEx(jm_cuda.blas, c->opa, c->opb, c->m, c->n, c->k, &c->alpha, c->a,
				    c->type, c->lda, c->b, c->type, c->ldb, &c->beta, c->c,
				    CUDA_R_32F, c->ldc, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
	return cublasSgemm(jm_cuda.blas, c->opa, c->opb, c->m, c->n, c->k, &c->alpha,
			   (const float *)c->a, c->lda, (const float *)c->b, c->ldb, &c->beta, c->c,
			   c->ldc);
}

static const char *gemm_name(const jm_cuda_gemm_call *c)
{
	return !c->ex ? "sgemm" : c->type == CUDA_R_16BF ? "bf16 gemm" : "fp16 gemm";
}

static cudaError_t run_copy(const jm_prim *p)
{
	return cudaMemcpyAsync(p->dst, p->src, p->bytes, cudaMemcpyDeviceToDevice, jm_cuda.stream);
}

/* ---- JIANMO_CUDA_PROFILE=FILE: every primitive timed alone ----
 * Each one runs between two events and is waited for, so its time is the
 * device's for it alone (the run itself gets slower, and graphs are off).
 * The table, by primitive and launch shape, costliest first, is rewritten
 * into FILE at every sync (each epoch's end). */
typedef struct prof_row {
	char name[112];
	long long calls;
	double ms;
} prof_row;

static struct {
	char path[4096];
	prof_row *rows;
	int n, cap;
	cudaEvent_t a, b;
} P;

void jm_cuda_profile_init(void)
{
	const char *path = getenv("JIANMO_CUDA_PROFILE");
	if (!path || !*path)
		return;
	if (strlen(path) >= sizeof P.path) {
		fprintf(stderr, "jianmo: JIANMO_CUDA_PROFILE: the path is too long; not profiling\n");
		return;
	}
	FILE *f = fopen(path, "w"); /* now, so a path that cannot be written says so */
	if (!f) {
		fprintf(stderr, "jianmo: JIANMO_CUDA_PROFILE: cannot write %s: %s; not profiling\n",
			path, strerror(errno));
		return;
	}
	fprintf(f, "# jianmo CUDA profile: written at the end of each epoch\n");
	fclose(f);
	if (cudaEventCreate(&P.a) != cudaSuccess || cudaEventCreate(&P.b) != cudaSuccess) {
		fprintf(stderr, "jianmo: JIANMO_CUDA_PROFILE: %s; not profiling\n",
			cudaGetErrorString(cudaGetLastError()));
		return;
	}
	snprintf(P.path, sizeof P.path, "%s", path);
	jm_cuda.profile = 1;
}

static void prim_name(const jm_prim *p, char *buf, size_t n)
{
	if (p->kind == JM_PRIM_GEMM) {
		const jm_cuda_gemm_call *c = gemm_of(p);
		/* row-major as the caller saw it: C[M,N] = op(A)[M,K] op(B)[K,N] */
		snprintf(buf, n, "%s%s M=%d N=%d K=%d%s%s", gemm_name(c),
			 c->precision == JM_PREC_TF32 ? " (tf32)" : "", c->n, c->m, c->k,
			 c->opb == CUBLAS_OP_T ? " A^T" : "", c->opa == CUBLAS_OP_T ? " B^T" : "");
		return;
	}
	if (p->kind == JM_PRIM_COPY) {
		snprintf(buf, n, "device copy %zu bytes", p->bytes);
		return;
	}
	if (p->kind == JM_PRIM_CALL) {
		snprintf(buf, n, "a plugin layer's pass (its own kernels)");
		return;
	}
	const char *raw = NULL;
	char *plain = NULL;
	int st = -1;
	if (cudaFuncGetName(&raw, p->f) != cudaSuccess || !raw) {
		cudaGetLastError();
		raw = "kernel";
	} else {
		plain = abi::__cxa_demangle(raw, NULL, NULL, &st);
	}
	const char *nm = st == 0 && plain ? plain : raw;
	int len = (int)strcspn(nm, "("); /* the name without its parameters */
	snprintf(buf, n, "%.*s <<<%u, %u>>>", len, nm, p->grid[0] * p->grid[1] * p->grid[2],
		 p->block[0] * p->block[1] * p->block[2]);
	free(plain);
}

static void profile_add(const jm_prim *p, float ms)
{
	char name[sizeof P.rows->name];
	prim_name(p, name, sizeof name);
	for (int i = 0; i < P.n; i++)
		if (!strcmp(P.rows[i].name, name)) {
			P.rows[i].calls++;
			P.rows[i].ms += ms;
			return;
		}
	if (P.n == P.cap) {
		int cap = P.cap ? P.cap * 2 : 64;
		prof_row *r = (prof_row *)realloc(P.rows, (size_t)cap * sizeof *r);
		if (!r)
			return;
		P.rows = r;
		P.cap = cap;
	}
	prof_row *r = &P.rows[P.n++];
	snprintf(r->name, sizeof r->name, "%s", name);
	r->calls = 1;
	r->ms = ms;
}

static int by_time(const void *x, const void *y)
{
	double a = ((const prof_row *)x)->ms, b = ((const prof_row *)y)->ms;
	return a < b ? 1 : a > b ? -1 : 0;
}

void jm_cuda_profile_write(void)
{
	if (!jm_cuda.profile || !P.n)
		return;
	qsort(P.rows, (size_t)P.n, sizeof *P.rows, by_time);
	double total = 0;
	for (int i = 0; i < P.n; i++)
		total += P.rows[i].ms;
	FILE *f = fopen(P.path, "w");
	if (!f)
		return;
	fprintf(f, "# jianmo CUDA profile: device time of each primitive, timed alone\n"
		   "# %.3f ms in all\n# %10s %9s %9s %6s  primitive\n", total, "ms", "calls",
		"us/call", "share");
	for (int i = 0; i < P.n; i++) {
		const prof_row *r = &P.rows[i];
		fprintf(f, "%12.3f %9lld %9.2f %5.1f%%  %s\n", r->ms, r->calls,
			1000.0 * r->ms / (double)r->calls, total > 0 ? 100.0 * r->ms / total : 0.0,
			r->name);
	}
	fclose(f);
}

/* A call that launches its own kernels on the stream (a plugin's pass);
 * native_stream knows it is asked from inside one. */
static int in_call;

static void run_call(const jm_prim *p)
{
	in_call++;
	p->fn(p->ctx);
	in_call--;
}

int jm_cuda_in_native_call(void)
{
	return in_call > 0;
}

static void run_untimed(const jm_prim *p, const jm_tape_args *a)
{
	switch (p->kind) {
	case JM_PRIM_KERNEL:
		jm_cuda_check(run_kernel(p, a), "kernel launch");
		break;
	case JM_PRIM_GEMM:
		jm_cuda_check_blas(run_gemm(gemm_of(p)), gemm_name(gemm_of(p)));
		break;
	case JM_PRIM_CALL:
		run_call(p);
		break;
	default:
		jm_cuda_check(run_copy(p), "device copy");
	}
}

/* Run p now (a: its arguments when a kernel); an error is the run's. */
static void run_now(const jm_prim *p, const jm_tape_args *a)
{
	if (!jm_cuda.profile) {
		run_untimed(p, a);
		return;
	}
	float ms = 0;
	cudaEventRecord(P.a, jm_cuda.stream);
	run_untimed(p, a);
	cudaEventRecord(P.b, jm_cuda.stream);
	if (cudaEventSynchronize(P.b) == cudaSuccess &&
	    cudaEventElapsedTime(&ms, P.a, P.b) == cudaSuccess)
		profile_add(p, ms);
	else
		cudaGetLastError();
}

/* ---- the executor ---- */

typedef struct piece_graph {
	cudaGraph_t graph;
	cudaGraphExec_t exec;
} piece_graph;

static void x_drop(void *h)
{
	piece_graph *pg = (piece_graph *)h;
	/* a launch of it still in flight: the driver frees it when done */
	if (pg->exec)
		cudaGraphExecDestroy(pg->exec);
	if (pg->graph)
		cudaGraphDestroy(pg->graph);
	free(pg);
}

/* The node the capture just added (its one dependency now). */
static cudaError_t last_node(void **node)
{
	cudaStreamCaptureStatus st;
	const cudaGraphNode_t *deps = NULL;
	size_t nd = 0;
	cudaError_t e = cudaStreamGetCaptureInfo(jm_cuda.stream, &st, NULL, NULL, &deps, NULL, &nd);
	if (e != cudaSuccess)
		return e;
	if (st != cudaStreamCaptureStatusActive || nd != 1 || !deps)
		return cudaErrorStreamCaptureInvalidated; /* not one node behind the launch */
	*node = (void *)deps[0];
	return cudaSuccess;
}

static int x_capture(jm_prim *tape, int from, int to, void **out, char *why, size_t wn)
{
	cudaGraph_t g = NULL;
	cudaGraphExec_t x = NULL;
	int i = from, bad = to; /* to: not at a primitive */
	const char *what = "begin capture";
	piece_graph *pg = (piece_graph *)calloc(1, sizeof *pg);
	if (!pg) {
		snprintf(why, wn, "no memory for a graph");
		return -1;
	}
	cudaError_t e = cudaStreamBeginCapture(jm_cuda.stream, cudaStreamCaptureModeThreadLocal);
	if (e == cudaSuccess) {
		for (; e == cudaSuccess && i < to; i++) {
			jm_prim *p = &tape[bad = i];
			if (p->kind == JM_PRIM_KERNEL) {
				what = "kernel";
				e = run_kernel(p, &p->args);
				if (e == cudaSuccess)
					e = last_node(&p->node);
			} else if (p->kind == JM_PRIM_GEMM) {
				what = gemm_name(gemm_of(p));
				if (run_gemm(gemm_of(p)) != CUBLAS_STATUS_SUCCESS)
					e = cudaErrorUnknown;
			} else if (p->kind == JM_PRIM_CALL) {
				what = "a plugin layer's pass";
				/* its launches join the capture; their errors are its
				 * own runtime's (a plugin links its own cudart), so the
				 * capture's state says whether it went well */
				cudaStreamCaptureStatus st = cudaStreamCaptureStatusNone;
				run_call(p);
				e = cudaStreamIsCapturing(jm_cuda.stream, &st);
				if (e == cudaSuccess && st != cudaStreamCaptureStatusActive)
					e = cudaErrorStreamCaptureInvalidated;
			} else {
				what = "device copy";
				e = run_copy(p);
			}
		}
		cudaError_t end = cudaStreamEndCapture(jm_cuda.stream, &g);
		if (e == cudaSuccess && end != cudaSuccess) {
			e = end;
			what = "end capture";
			bad = to;
		}
	}
	if (e == cudaSuccess) {
		what = "instantiate";
		bad = to;
		e = cudaGraphInstantiate(&x, g, 0);
	}
	/* onto the device now, not in the first replayed step (a failure
	 * here only moves that cost back) */
	if (e == cudaSuccess && cudaGraphUpload(x, jm_cuda.stream) != cudaSuccess)
		cudaGetLastError();
	if (e != cudaSuccess) {
		if (bad < to) /* at a primitive */
			snprintf(why, wn, "capture failed (%s, primitive %d of %d..%d): %s", what,
				 bad, from, to - 1, cudaGetErrorString(e));
		else
			snprintf(why, wn, "capture failed (%s of primitives %d..%d): %s", what, from,
				 to - 1, cudaGetErrorString(e));
		cudaGetLastError(); /* not the run's error */
		if (g)
			cudaGraphDestroy(g);
		free(pg);
		return -1;
	}
	pg->graph = g;
	pg->exec = x;
	*out = pg;
	return 0;
}

static int x_set_args(void *h, const jm_prim *p, const jm_tape_args *a, char *why, size_t wn)
{
	void *argv[JM_TAPE_ARGS_MAX];
	point_args(argv, a);
	cudaKernelNodeParams kp{};
	kp.func = (void *)p->f;
	kp.gridDim = dim3(p->grid[0], p->grid[1], p->grid[2]);
	kp.blockDim = dim3(p->block[0], p->block[1], p->block[2]);
	kp.sharedMemBytes = (unsigned)p->smem;
	kp.kernelParams = argv;
	cudaError_t e = cudaGraphExecKernelNodeSetParams(((piece_graph *)h)->exec,
							 (cudaGraphNode_t)p->node, &kp);
	if (e == cudaSuccess)
		return 0;
	snprintf(why, wn, "setting a kernel's arguments in the graph failed: %s",
		 cudaGetErrorString(e));
	cudaGetLastError();
	return -1;
}

static int x_launch(void *h, char *why, size_t wn)
{
	cudaError_t e = cudaGraphLaunch(((piece_graph *)h)->exec, jm_cuda.stream);
	if (e == cudaSuccess)
		return 0;
	snprintf(why, wn, "the graph's launch failed: %s", cudaGetErrorString(e));
	cudaGetLastError();
	return -1;
}

static const jm_tape_exec executor = {
	.run = run_now,
	.capture = x_capture,
	.set_args = x_set_args,
	.launch = x_launch,
	.drop = x_drop,
};

/* ---- the module's primitives and the table's ops ---- */

static void prim_init(jm_prim *p, int kind)
{
	memset((void *)p, 0, sizeof *p); /* padding too: GEMMs compare with memcmp */
	p->kind = kind;
}

/* p now (outside a step, or a step running as it comes), or to the tape. */
static void submit(const jm_prim *p, const jm_tape_args *a)
{
	if (jm_tape_mode == JM_TAPE_OFF)
		run_now(p, a);
	else
		jm_tape_primitive(p, a);
}

void jm_cuda_graph_kernel(const void *f, dim3 grid, dim3 block, size_t smem,
			  const jm_tape_args *a)
{
	jm_prim p;
	prim_init(&p, JM_PRIM_KERNEL);
	p.f = f;
	p.grid[0] = grid.x, p.grid[1] = grid.y, p.grid[2] = grid.z;
	p.block[0] = block.x, p.block[1] = block.y, p.block[2] = block.z;
	p.smem = smem;
	submit(&p, a);
}

void jm_cuda_gemm(const jm_cuda_gemm_call *c)
{
	if (jm_tape_mode == JM_TAPE_OFF && !jm_cuda.profile) {
		jm_cuda_check_blas(run_gemm(c), gemm_name(c));
		return;
	}
	jm_prim p;
	prim_init(&p, JM_PRIM_GEMM);
	memcpy(p.call, c, sizeof *c);
	submit(&p, NULL);
}

void jm_cuda_copy_d2d(void *dst, const void *src, size_t bytes)
{
	jm_prim p;
	prim_init(&p, JM_PRIM_COPY);
	p.dst = dst;
	p.src = src;
	p.bytes = bytes;
	submit(&p, NULL);
}

void jm_cuda_native_call(void (*fn)(const void *ctx), const void *ctx, size_t bytes)
{
	jm_prim p;
	prim_init(&p, JM_PRIM_CALL);
	p.fn = fn;
	p.ctx = ctx;
	p.ctx_bytes = bytes;
	submit(&p, NULL);
}

void jm_cuda_graph_upload(const void *dst)
{
	jm_tape_upload(dst);
}

void jm_cuda_graph_barrier(const char *why, int for_good)
{
	jm_tape_barrier(why, for_good);
}

void jm_cuda_graph_sync(const char *why)
{
	jm_tape_sync(why);
}

void jm_cuda_step_begin(void)
{
	static int ready;
	if (!ready) {
		ready = 1;
		jm_tape_init(&executor);
		if (jm_cuda.profile)
			jm_tape_off("JIANMO_CUDA_PROFILE times each launch alone");
	}
	jm_tape_step_begin();
}

void jm_cuda_step_end(void)
{
	jm_tape_step_end();
}

int jm_cuda_graph_info(char *buf, size_t n)
{
	return jm_tape_info(buf, n);
}
