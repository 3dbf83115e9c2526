/*
 * cuda_graph.cu: the training step as one CUDA graph.  A small model's
 * step is dozens of short kernels; launched one at a time, the host's cost
 * per launch (microseconds) is the step's cost.  A graph launches them all
 * with one call.
 *
 * The trainer brackets each optimizer step (its batches and the update)
 * with the table's step_begin and step_end.  Inside, every kernel launch,
 * cuBLAS GEMM and device-to-device copy of the module is a primitive
 * (jm_cuda_launch, jm_cuda_gemm, jm_cuda_copy_d2d), and:
 *
 *   first step    RECORD: each primitive runs and is kept on the tape; at
 *                 step_end the tape is captured into a graph (the capture
 *                 runs nothing)
 *   later steps   REPLAY: each primitive is compared with the tape's next
 *                 and only its kernel arguments are kept; at step_end the
 *                 arguments that changed (the batch's rows, a dropout key,
 *                 the lr and Adam's bias corrections) are set on their
 *                 nodes and the graph is launched
 *
 * Uploads (to_device: a batch's augmentation plan) are not primitives:
 * they are queued when called, so in a replayed step they run before the
 * graph.  That is the same as long as a step reads an uploaded buffer only
 * after uploading it and uploads each buffer once; the second holds the
 * tape to it (a second upload of one buffer ends the replay).
 *
 * A primitive that is not the tape's next, a step that ends early, a read
 * to the host, an allocation or a plugin's own kernels
 * (jm_cuda_graph_barrier) make the step fall back: the primitives kept so
 * far run at once with this step's arguments, and the rest of the step
 * runs as it comes, so a step's results never depend on the path.  Three
 * fallbacks in a row drop the graph and the next step records anew; four
 * records without a replay between them, or a plugin's kernels, and the
 * run goes on without graphs.  jm_cuda_graph_info says which, for the log.
 */
#include <cxxabi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cuda/cuda_common.cuh"

enum { PRIM_KERNEL, PRIM_GEMM, PRIM_COPY };

typedef struct prim {
	int kind;
	const void *f; /* PRIM_KERNEL */
	dim3 grid, block;
	size_t smem;
	jm_cuda_kargs args;     /* as the graph's node holds them */
	cudaGraphNode_t node;
	jm_cuda_gemm_call gemm; /* PRIM_GEMM */
	void *dst;              /* PRIM_COPY */
	const void *src;
	size_t bytes;
} prim;

enum { MISSES_TO_DROP = 3, RECORDS_TO_GIVE_UP = 4 };

static struct {
	prim *tape;
	jm_cuda_kargs *cur; /* REPLAY: this step's arguments, one per tape entry */
	int n, cap, cursor;
	int in_step, began; /* began: the mode at step_begin */
	int valid;          /* RECORD: the step can become a graph */
	const void **uploads;
	int n_up, cap_up;
	cudaGraph_t graph;
	cudaGraphExec_t exec;
	int misses, records, off, used;
	long long replayed, fell_back;
	char why[200]; /* why graphs are off, or why a step last fell back */
} G;

/* ---- running a primitive ---- */

static void point_args(void **argv, const jm_cuda_kargs *a)
{
	for (int i = 0; i < a->n; i++)
		argv[i] = (void *)(a->buf + a->off[i]);
}

static cudaError_t run_kernel(const prim *p, const jm_cuda_kargs *a)
{
	void *argv[JM_KARGS_MAX];
	point_args(argv, a);
	return cudaLaunchKernel(p->f, p->grid, p->block, argv, p->smem, jm_cuda.stream);
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

static cudaError_t run_copy(const prim *p)
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
	if (!path || !*path || strlen(path) >= sizeof P.path)
		return;
	if (cudaEventCreate(&P.a) != cudaSuccess || cudaEventCreate(&P.b) != cudaSuccess) {
		cudaGetLastError();
		return;
	}
	snprintf(P.path, sizeof P.path, "%s", path);
	jm_cuda.profile = 1;
}

static void prim_name(const prim *p, char *buf, size_t n)
{
	if (p->kind == PRIM_GEMM) {
		const jm_cuda_gemm_call *c = &p->gemm;
		/* row-major as the caller saw it: C[M,N] = op(A)[M,K] op(B)[K,N] */
		snprintf(buf, n, "%s%s M=%d N=%d K=%d%s%s", gemm_name(c),
			 c->precision == JM_PREC_TF32 ? " (tf32)" : "", c->n, c->m, c->k,
			 c->opb == CUBLAS_OP_T ? " A^T" : "", c->opa == CUBLAS_OP_T ? " B^T" : "");
		return;
	}
	if (p->kind == PRIM_COPY) {
		snprintf(buf, n, "device copy %zu bytes", p->bytes);
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
	snprintf(buf, n, "%.*s <<<%u, %u>>>", len, nm, p->grid.x * p->grid.y * p->grid.z,
		 p->block.x * p->block.y * p->block.z);
	free(plain);
}

static void profile_add(const prim *p, float ms)
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

static void run_untimed(const prim *p, const jm_cuda_kargs *a)
{
	switch (p->kind) {
	case PRIM_KERNEL:
		jm_cuda_check(run_kernel(p, a), "kernel launch");
		break;
	case PRIM_GEMM:
		jm_cuda_check_blas(run_gemm(&p->gemm), gemm_name(&p->gemm));
		break;
	default:
		jm_cuda_check(run_copy(p), "device copy");
	}
}

/* Run p now (a: its arguments when a kernel); an error is the run's. */
static void run_now(const prim *p, const jm_cuda_kargs *a)
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

/* ---- the graph's life ---- */

static void drop_graph(void)
{
	if (G.exec || G.graph)
		cudaStreamSynchronize(jm_cuda.stream); /* no launch of it in flight */
	if (G.exec)
		cudaGraphExecDestroy(G.exec);
	if (G.graph)
		cudaGraphDestroy(G.graph);
	G.exec = NULL;
	G.graph = NULL;
	G.n = 0;
	G.misses = 0;
}

static void give_up(const char *why)
{
	G.off = 1;
	snprintf(G.why, sizeof G.why, "%s", why);
	drop_graph();
}

/* REPLAY: run the primitives kept so far with this step's arguments; the
 * rest of the step runs as it comes. */
static void fall_back(const char *why)
{
	for (int i = 0; i < G.cursor; i++)
		run_now(&G.tape[i], &G.cur[i]);
	G.cursor = 0;
	jm_cuda.graph_mode = JM_GRAPH_OFF;
	snprintf(G.why, sizeof G.why, "%s", why);
}

static prim *tape_push(void)
{
	if (G.n == G.cap) {
		int cap = G.cap ? G.cap * 2 : 64;
		prim *t = (prim *)realloc(G.tape, (size_t)cap * sizeof *t);
		if (!t)
			return NULL;
		G.tape = t;
		jm_cuda_kargs *c = (jm_cuda_kargs *)realloc(G.cur, (size_t)cap * sizeof *c);
		if (!c)
			return NULL;
		G.cur = c;
		G.cap = cap;
	}
	return &G.tape[G.n++];
}

static int same(const prim *t, const prim *p, const jm_cuda_kargs *a)
{
	if (t->kind != p->kind)
		return 0;
	switch (p->kind) {
	case PRIM_KERNEL:
		return t->f == p->f && t->grid.x == p->grid.x && t->grid.y == p->grid.y &&
		       t->grid.z == p->grid.z && t->block.x == p->block.x &&
		       t->block.y == p->block.y && t->block.z == p->block.z && t->smem == p->smem &&
		       t->args.n == a->n && t->args.used == a->used;
	case PRIM_GEMM:
		return !memcmp(&t->gemm, &p->gemm, sizeof p->gemm);
	default:
		return t->dst == p->dst && t->src == p->src && t->bytes == p->bytes;
	}
}

/* One primitive, as the step's mode says (a: a kernel's arguments). */
static void primitive(const prim *p, const jm_cuda_kargs *a)
{
	if (jm_cuda.graph_mode == JM_GRAPH_RECORD) {
		run_now(p, a);
		prim *q = tape_push();
		if (!q) {
			G.valid = 0;
			snprintf(G.why, sizeof G.why, "no memory for the step's tape");
			jm_cuda.graph_mode = JM_GRAPH_OFF;
			return;
		}
		memcpy(q, p, sizeof *q); /* padding too: GEMMs compare with memcmp */
		if (a)
			q->args = *a;
		return;
	}
	if (jm_cuda.graph_mode == JM_GRAPH_REPLAY) {
		if (G.cursor < G.n && same(&G.tape[G.cursor], p, a)) {
			if (a)
				G.cur[G.cursor] = *a;
			G.cursor++;
			return;
		}
		fall_back(G.cursor < G.n ? "a launch differs from the recorded step's"
					 : "the step launches more than the recorded one");
	}
	run_now(p, a);
}

void jm_cuda_graph_kernel(const void *f, dim3 grid, dim3 block, size_t smem,
			  const jm_cuda_kargs *a)
{
	prim p;
	memset((void *)&p, 0, sizeof p); /* padding too */
	p.kind = PRIM_KERNEL;
	p.f = f;
	p.grid = grid;
	p.block = block;
	p.smem = smem;
	primitive(&p, a);
}

void jm_cuda_gemm(const jm_cuda_gemm_call *c)
{
	if (jm_cuda.graph_mode == JM_GRAPH_OFF && !jm_cuda.profile) {
		jm_cuda_check_blas(run_gemm(c), gemm_name(c));
		return;
	}
	prim p;
	memset((void *)&p, 0, sizeof p); /* padding too */
	p.kind = PRIM_GEMM;
	memcpy(&p.gemm, c, sizeof *c);
	primitive(&p, NULL);
}

void jm_cuda_copy_d2d(void *dst, const void *src, size_t bytes)
{
	prim p;
	memset((void *)&p, 0, sizeof p); /* padding too */
	p.kind = PRIM_COPY;
	p.dst = dst;
	p.src = src;
	p.bytes = bytes;
	if (jm_cuda.graph_mode == JM_GRAPH_OFF)
		run_now(&p, NULL);
	else
		primitive(&p, NULL);
}

/* The step cannot be (or go on as) a graph. */
static void not_a_graph(const char *why)
{
	if (jm_cuda.graph_mode == JM_GRAPH_RECORD) {
		G.valid = 0;
		snprintf(G.why, sizeof G.why, "%s", why);
		jm_cuda.graph_mode = JM_GRAPH_OFF;
	} else if (jm_cuda.graph_mode == JM_GRAPH_REPLAY) {
		fall_back(why);
	}
}

void jm_cuda_graph_upload(const void *dst)
{
	if (jm_cuda.graph_mode == JM_GRAPH_OFF)
		return;
	for (int i = 0; i < G.n_up; i++)
		if (G.uploads[i] == dst) {
			not_a_graph("the step uploads to one buffer twice");
			return;
		}
	if (G.n_up == G.cap_up) {
		int cap = G.cap_up ? G.cap_up * 2 : 16;
		const void **u = (const void **)realloc(G.uploads, (size_t)cap * sizeof *u);
		if (!u) {
			not_a_graph("no memory for the step's uploads");
			return;
		}
		G.uploads = u;
		G.cap_up = cap;
	}
	G.uploads[G.n_up++] = dst;
}

void jm_cuda_graph_barrier(const char *why, int for_good)
{
	if (jm_cuda.graph_mode != JM_GRAPH_OFF) {
		char w[160];
		snprintf(w, sizeof w, "the step has %s", why);
		not_a_graph(w);
	}
	if (for_good && G.in_step && !G.off) {
		char w[160];
		snprintf(w, sizeof w, "the step has %s", why);
		give_up(w);
	}
}

/* The node the capture just added (its one dependency now). */
static cudaError_t last_node(cudaGraphNode_t *node)
{
	cudaStreamCaptureStatus st;
	const cudaGraphNode_t *deps = NULL;
	size_t nd = 0;
	cudaError_t e = cudaStreamGetCaptureInfo(jm_cuda.stream, &st, NULL, NULL, &deps, NULL, &nd);
	if (e != cudaSuccess)
		return e;
	if (st != cudaStreamCaptureStatusActive || nd != 1 || !deps)
		return cudaErrorStreamCaptureInvalidated; /* not one node behind the launch */
	*node = deps[0];
	return cudaSuccess;
}

/* The tape into a graph, instantiated; 0, or -1 with why (the run's error
 * untouched: a capture that fails only means no graph). */
static int capture(void)
{
	cudaGraph_t g = NULL;
	cudaGraphExec_t x = NULL;
	int i = 0;
	const char *what = "begin capture";
	cudaError_t e = cudaStreamBeginCapture(jm_cuda.stream, cudaStreamCaptureModeThreadLocal);
	if (e == cudaSuccess) {
		for (; e == cudaSuccess && i < G.n; i++) {
			prim *p = &G.tape[i];
			if (p->kind == PRIM_KERNEL) {
				what = "kernel";
				e = run_kernel(p, &p->args);
				if (e == cudaSuccess)
					e = last_node(&p->node);
			} else if (p->kind == PRIM_GEMM) {
				what = gemm_name(&p->gemm);
				if (run_gemm(&p->gemm) != CUBLAS_STATUS_SUCCESS)
					e = cudaErrorUnknown;
			} else {
				what = "device copy";
				e = run_copy(p);
			}
		}
		cudaError_t end = cudaStreamEndCapture(jm_cuda.stream, &g);
		if (e == cudaSuccess && end != cudaSuccess) {
			e = end;
			what = "end capture";
		}
	}
	if (e == cudaSuccess) {
		what = "instantiate";
		e = cudaGraphInstantiate(&x, g, 0);
	}
	if (e != cudaSuccess) {
		snprintf(G.why, sizeof G.why, "capture failed (%s, primitive %d of %d): %s", what, i,
			 G.n, cudaGetErrorString(e));
		cudaGetLastError(); /* not the run's error */
		if (g)
			cudaGraphDestroy(g);
		G.n = 0;
		return -1;
	}
	G.graph = g;
	G.exec = x;
	G.misses = 0;
	return 0;
}

/* This step's changed kernel arguments onto the graph, then launch it;
 * 0, or -1 (the step has run as it comes, and graphs are off). */
static int launch(void)
{
	for (int i = 0; i < G.n; i++) {
		prim *p = &G.tape[i];
		if (p->kind != PRIM_KERNEL || !memcmp(p->args.buf, G.cur[i].buf, p->args.used))
			continue;
		void *argv[JM_KARGS_MAX];
		point_args(argv, &G.cur[i]);
		cudaKernelNodeParams kp{};
		kp.func = (void *)p->f;
		kp.gridDim = p->grid;
		kp.blockDim = p->block;
		kp.sharedMemBytes = (unsigned)p->smem;
		kp.kernelParams = argv;
		cudaError_t e = cudaGraphExecKernelNodeSetParams(G.exec, p->node, &kp);
		if (e != cudaSuccess) {
			char w[200];
			snprintf(w, sizeof w, "setting a kernel's arguments in the graph failed: %s",
				 cudaGetErrorString(e));
			cudaGetLastError();
			fall_back(w);
			give_up(w);
			return -1;
		}
		p->args = G.cur[i];
	}
	cudaError_t e = cudaGraphLaunch(G.exec, jm_cuda.stream);
	if (e != cudaSuccess) {
		char w[200];
		snprintf(w, sizeof w, "the graph's launch failed: %s", cudaGetErrorString(e));
		cudaGetLastError();
		fall_back(w);
		give_up(w);
		return -1;
	}
	return 0;
}

void jm_cuda_step_begin(void)
{
	G.in_step = 1;
	G.used = 1;
	G.n_up = 0;
	G.cursor = 0;
	if (jm_cuda.profile && !G.off) {
		G.off = 1;
		snprintf(G.why, sizeof G.why, "JIANMO_CUDA_PROFILE times each launch alone");
	}
	if (G.off) {
		G.began = jm_cuda.graph_mode = JM_GRAPH_OFF;
	} else if (G.exec) {
		G.began = jm_cuda.graph_mode = JM_GRAPH_REPLAY;
	} else {
		G.n = 0;
		G.valid = 1;
		G.began = jm_cuda.graph_mode = JM_GRAPH_RECORD;
	}
}

void jm_cuda_step_end(void)
{
	if (!G.in_step)
		return;
	int mode = jm_cuda.graph_mode;
	G.in_step = 0;
	jm_cuda.graph_mode = JM_GRAPH_OFF;
	if (G.off || G.began == JM_GRAPH_OFF)
		return;
	if (G.began == JM_GRAPH_RECORD) {
		/* records since the last replay: a few that fail, or twice as
		 * many graphs that never replay, and graphs are not for this run */
		int ok = G.valid && G.n > 0 && capture() == 0;
		if (++G.records >= (ok ? 2 : 1) * RECORDS_TO_GIVE_UP) {
			char w[200];
			snprintf(w, sizeof w, "%s", ok ? "no recorded step could be replayed" : G.why);
			give_up(w);
		}
		return;
	}
	if (mode == JM_GRAPH_REPLAY) {
		if (G.cursor == G.n) {
			jm_cuda.graph_mode = JM_GRAPH_REPLAY; /* fall_back, if launch does */
			int ok = launch() == 0;
			jm_cuda.graph_mode = JM_GRAPH_OFF;
			if (ok) {
				G.replayed++;
				G.misses = 0;
				G.records = 0;
			}
			return;
		}
		fall_back("the step launches less than the recorded one");
		jm_cuda.graph_mode = JM_GRAPH_OFF;
	}
	G.fell_back++;
	if (++G.misses >= MISSES_TO_DROP)
		drop_graph();
}

int jm_cuda_graph_info(char *buf, size_t n)
{
	if (!G.used)
		snprintf(buf, n, "CUDA graphs not used");
	else if (G.off)
		snprintf(buf, n, "CUDA graphs off: %s", G.why);
	else if (!G.replayed)
		snprintf(buf, n, "CUDA graphs: no step replayed yet%s%s", G.why[0] ? "; the last "
			 "recorded could not be because " : "", G.why);
	else if (G.fell_back)
		snprintf(buf, n, "%lld steps replayed as one CUDA graph of %d launches, %lld ran "
			 "launch by launch (the last because %s)", G.replayed, G.n, G.fell_back, G.why);
	else
		snprintf(buf, n, "%lld steps replayed as one CUDA graph of %d launches", G.replayed,
			 G.n);
	return G.replayed > INT32_MAX ? INT32_MAX : (int)G.replayed;
}
