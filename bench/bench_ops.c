/*
 * bench_ops.c: times every CPU backend op at the shapes of the two models
 * jianmo is measured on, beside the bare sgemm calls those ops reduce to.
 *
 *   MLP  784-256-128-10, batch 128, AdamW
 *   CNN  conv3x3(1->32) bn relu, conv(32->32) bn relu, maxpool 2,
 *        conv(32->64) bn relu, conv(64->64) bn relu, maxpool 2,
 *        conv(64->128) bn relu, global average pool, linear 128->10,
 *        batch 256 (convs without bias), AdamW
 *
 * Each op is run at least 5 times and for a minimum time, taking the
 * fastest call (the machines are shared and noisy).  At
 * the end the per-op times are summed to a whole training step and set
 * against the step's GEMM time alone.
 *
 * Usage: bench_ops [mlp|cnn|mlp-gemm|all]   (OpenBLAS threads as the
 * environment sets them: OPENBLAS_NUM_THREADS).  mlp-gemm times only the
 * MLP step's GEMMs back to back (for bench/bench_train.sh; with
 * JIANMO_WORKERS=N split as N worker threads split them); each model
 * also ends with a JSON line of its step totals.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/backend.h"
#include "util/rng.h"

static const jm_backend *be = &jm_backend_cpu;

/* With one OpenBLAS thread every op runs on this thread, and its CPU
 * time leaves out the time the scheduler gave to other processes (the
 * machines are shared); with more threads, wall-clock time. */
static clockid_t bench_clock = CLOCK_MONOTONIC;

static double now(void)
{
	struct timespec ts;
	clock_gettime(bench_clock, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static float *buf(size_t n, jm_rng *r)
{
	float *p = be->alloc((n ? n : 1) * sizeof *p);
	if (!p) {
		fprintf(stderr, "bench_ops: out of memory\n");
		exit(1);
	}
	for (size_t i = 0; i < n; i++)
		p[i] = jm_rng_uniformf(r) * 2 - 1;
	return p;
}

/* One timed op: a closure over the shapes in `a`. */
typedef struct bench_args bench_args;
typedef void (*bench_fn)(const bench_args *a);

struct bench_args {
	int B, IN, OUT, C, H, W, OC, K, S, P, act;
	size_t n;
	float *x, *y, *w, *b, *dx, *dy, *dw, *db, *scratch, *m, *v, *g1, *g2;
	int32_t *idx;
	const void *ctx; /* anything else an op needs */
};

static double step_ms[2], gemm_ms[2]; /* per model: sum of ops, of GEMMs */

/* Fastest of several calls, in ms. */
static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* The fastest call in ms; *median_ms (may be NULL) gets the median. */
static double bench_time_median(bench_fn fn, const bench_args *a, double min_s,
				double *median_ms)
{
	enum { MAX_REPS = 2000 };
	static double times[MAX_REPS];
	fn(a); /* warm up */
	double t0 = now();
	int reps = 0;
	while (reps < 5 || (now() - t0 < min_s && reps < MAX_REPS)) {
		double t = now();
		fn(a);
		times[reps++] = now() - t;
	}
	qsort(times, (size_t)reps, sizeof *times, cmp_double);
	if (median_ms)
		*median_ms = (reps % 2 ? times[reps / 2]
				       : 0.5 * (times[reps / 2 - 1] + times[reps / 2])) * 1e3;
	return times[0] * 1e3;
}

static double bench_time(bench_fn fn, const bench_args *a, double min_s)
{
	return bench_time_median(fn, a, min_s, NULL);
}

/* Print one row; count adds it `count` times to the model's step total
 * (0: shown only), gemm marks a bare-GEMM row. */
static void report(int model, const char *name, double ms, double flop,
		   int count, int gemm)
{
	if (flop > 0)
		printf("  %-34s %9.3f ms  %7.1f GFLOP/s\n", name, ms,
		       flop / (ms * 1e-3) / 1e9);
	else
		printf("  %-34s %9.3f ms\n", name, ms);
	if (gemm)
		gemm_ms[model] += ms * count;
	else
		step_ms[model] += ms * count;
}

/* ---- the ops ---- */

static void f_linear_fwd(const bench_args *a)
{
	be->linear_forward(a->y, a->x, a->w, a->b, a->B, a->IN, a->OUT);
}

static void f_linear_bwd(const bench_args *a)
{
	be->linear_backward(a->dx, a->dw, a->db, a->dy, a->x, a->w, a->B,
			    a->IN, a->OUT);
}

static void f_gemm_fwd(const bench_args *a)
{
	be->sgemm(0, 1, a->B, a->OUT, a->IN, 1.0f, a->x, a->w, 0.0f, a->y);
}

static void f_gemm_bwd(const bench_args *a)
{
	if (a->dx)
		be->sgemm(0, 0, a->B, a->IN, a->OUT, 1.0f, a->dy, a->w, 0.0f, a->dx);
	be->sgemm(1, 0, a->OUT, a->IN, a->B, 1.0f, a->dy, a->x, 1.0f, a->dw);
}

static void f_act_fwd(const bench_args *a)
{
	be->act_forward(a->act, a->y, a->x, a->n);
}

static void f_act_bwd(const bench_args *a)
{
	be->act_backward(a->act, a->dx, a->dy, a->x, a->y, a->n);
}

static void f_xent(const bench_args *a)
{
	be->xent(a->dx, NULL, NULL, a->x, a->idx, NULL, a->B, a->OUT, 0.0f);
}

static void f_adamw(const bench_args *a)
{
	be->adam_step(a->w, a->m, a->v, a->g1, a->n, 1e-3, 0.9, 0.999, 1e-8, 5e-4, 0.1,
		      0.001, 1);
}

static void f_zero(const bench_args *a)
{
	be->fill(a->g1, 0.0f, a->n);
}

static void f_gather(const bench_args *a)
{
	be->gather_f32(a->y, a->x, a->idx, a->B, a->IN);
}

static void f_conv_fwd(const bench_args *a)
{
	be->conv2d_forward(a->y, a->x, a->w, NULL, a->B, a->C, a->H, a->W,
			   a->OC, a->K, a->S, a->P, a->scratch);
}

static void f_conv_bwd(const bench_args *a)
{
	be->conv2d_backward(a->dx, a->dw, NULL, a->dy, a->x, a->w, a->B, a->C,
			    a->H, a->W, a->OC, a->K, a->S, a->P, a->scratch);
}

/* The GEMMs an im2col convolution cannot avoid, one sample at a time
 * (operands as hot in cache as the op's own): forward w x col, backward
 * col x dy^T for dw and the transposed convolution's wt x dcol for din
 * (stride 1, same padding, as here). */
static void f_convgemm_fwd(const bench_args *a)
{
	int CKK = a->C * a->K * a->K, P = a->H * a->W;
	for (int n = 0; n < a->B; n++)
		be->sgemm(0, 0, a->OC, P, CKK, 1.0f, a->w, a->scratch, 0.0f,
			  a->y + (size_t)n * a->OC * P);
}

static void f_convgemm_bwd(const bench_args *a)
{
	int CKK = a->C * a->K * a->K, OKK = a->OC * a->K * a->K;
	int P = a->H * a->W;
	for (int n = 0; n < a->B; n++) {
		const float *dy = a->dy + (size_t)n * a->OC * P;
		be->sgemm(0, 1, CKK, a->OC, P, 1.0f, a->scratch, dy, 1.0f, a->m);
		if (a->dx)
			be->sgemm(0, 0, a->C, P, OKK, 1.0f, a->w, a->scratch, 0.0f,
				  a->dx + (size_t)n * a->C * P);
	}
}

static void f_bn_fwd(const bench_args *a)
{
	be->batchnorm_forward(a->y, a->m, a->v, a->x, a->w, a->b, a->g1, a->g2,
			      a->B, a->C, a->H * a->W, 1, 0.1f, 1e-5f, 0);
}

static void f_bn_bwd(const bench_args *a)
{
	be->batchnorm_backward(a->dx, a->dw, a->db, a->dy, a->x, a->m, a->v,
			       a->w, NULL, a->B, a->C, a->H * a->W);
}

/* the same with its ReLU in the pass (what a model runs: model.c fuses
 * a batch norm read only by a ReLU) */
static void f_bn_relu_fwd(const bench_args *a)
{
	be->batchnorm_forward(a->y, a->m, a->v, a->x, a->w, a->b, a->g1, a->g2,
			      a->B, a->C, a->H * a->W, 1, 0.1f, 1e-5f, 1);
}

static void f_bn_relu_bwd(const bench_args *a)
{
	be->batchnorm_backward(a->dx, a->dw, a->db, a->dy, a->x, a->m, a->v,
			       a->w, a->y, a->B, a->C, a->H * a->W);
}

static void f_maxpool_fwd(const bench_args *a)
{
	be->maxpool_forward(a->y, (int32_t *)a->scratch, a->x, a->B, a->C, a->H,
			    a->W, 2, 2);
}

static void f_maxpool_bwd(const bench_args *a)
{
	be->maxpool_backward(a->dx, a->dy, (const int32_t *)a->scratch, a->B,
			     a->C, a->H, a->W, 2, 2);
}

static void f_gap_fwd(const bench_args *a)
{
	be->gap_forward(a->y, a->x, a->B, a->C, a->H * a->W);
}

static void f_gap_bwd(const bench_args *a)
{
	be->gap_backward(a->dx, a->dy, a->B, a->C, a->H * a->W);
}

/* The MLP step's GEMMs alone, back to back: forward out = in w^T per
 * layer, backward dw += dout^T in per layer and din = dout w above the
 * first.  Buffers: x[l] inputs, w[l], dw[l], d[l] gradients. */
typedef struct {
	int B;
	const int *dims;
	float *x[4], *w[3], *dw[3], *d[4];
} mlp_gemm_args;

/* With worker threads, the same GEMMs cut into blocks as the backend's
 * linear layer cuts them (linear ops with no bias: nothing but GEMMs). */
static void mlp_gemm_step_workers(const mlp_gemm_args *a)
{
	for (int l = 0; l < 3; l++)
		be->linear_forward(a->x[l + 1], a->x[l], a->w[l], NULL, a->B, a->dims[l],
				   a->dims[l + 1]);
	for (int l = 2; l >= 0; l--)
		be->linear_backward(l ? a->d[l] : NULL, a->dw[l], NULL, a->d[l + 1], a->x[l],
				    a->w[l], a->B, a->dims[l], a->dims[l + 1]);
}

static void mlp_gemm_step(const mlp_gemm_args *a)
{
	if (jm_cpu_workers() > 1) {
		mlp_gemm_step_workers(a);
		return;
	}
	for (int l = 0; l < 3; l++)
		be->sgemm(0, 1, a->B, a->dims[l + 1], a->dims[l], 1.0f, a->x[l],
			  a->w[l], 0.0f, a->x[l + 1]);
	for (int l = 2; l >= 0; l--) {
		int IN = a->dims[l], OUT = a->dims[l + 1];
		be->sgemm(1, 0, OUT, IN, a->B, 1.0f, a->d[l + 1], a->x[l], 1.0f,
			  a->dw[l]);
		if (l)
			be->sgemm(0, 0, a->B, IN, OUT, 1.0f, a->d[l + 1], a->w[l],
				  0.0f, a->d[l]);
	}
}

static void f_mlp_gemm(const bench_args *a)
{
	mlp_gemm_step(a->ctx);
}

static void bench_mlp_gemm(jm_rng *r)
{
	static const int dims[4] = { 784, 256, 128, 10 };
	mlp_gemm_args g = { .B = 128, .dims = dims };
	double flops = 0;
	for (int l = 0; l < 4; l++) {
		g.x[l] = buf((size_t)g.B * dims[l], r);
		g.d[l] = buf((size_t)g.B * dims[l], r);
	}
	for (int l = 0; l < 3; l++) {
		g.w[l] = buf((size_t)dims[l] * dims[l + 1], r);
		g.dw[l] = buf((size_t)dims[l] * dims[l + 1], r);
		flops += 2.0 * g.B * dims[l] * dims[l + 1] * (l ? 3 : 2);
	}
	bench_args a = { .ctx = &g };
	/* about 0.55 s: as many repetitions as an epoch has steps (421); the
	 * median is the typical step's GEMMs, the fastest their best case */
	double median, ms = bench_time_median(f_mlp_gemm, &a, 0.55, &median);
	printf("MLP step GEMMs alone (batch 128): fastest %.3f ms (%.1f GFLOP/s), median %.3f ms\n",
	       ms, flops / (ms * 1e-3) / 1e9, median);
	printf("{\"bench\":\"mlp-gemm\",\"step_ms\":%.4f,\"median_ms\":%.4f,\"gflops\":%.1f}\n",
	       ms, median, flops / (ms * 1e-3) / 1e9);
	for (int l = 0; l < 4; l++)
		be->free(g.x[l]), be->free(g.d[l]);
	for (int l = 0; l < 3; l++)
		be->free(g.w[l]), be->free(g.dw[l]);
}

/* ---- models ---- */

static void bench_mlp(jm_rng *r)
{
	enum { B = 128 };
	static const int dims[4] = { 784, 256, 128, 10 };
	printf("MLP 784-256-128-10, batch %d\n", B);
	size_t nparam = 0;
	for (int l = 0; l < 3; l++)
		nparam += (size_t)dims[l] * dims[l + 1] + dims[l + 1];
	char name[64];
	for (int l = 0; l < 3; l++) {
		int IN = dims[l], OUT = dims[l + 1];
		bench_args a = { .B = B, .IN = IN, .OUT = OUT };
		a.x = buf((size_t)B * IN, r);
		a.y = buf((size_t)B * OUT, r);
		a.w = buf((size_t)OUT * IN, r);
		a.b = buf(OUT, r);
		a.dx = l ? buf((size_t)B * IN, r) : NULL; /* no din for layer 0 */
		a.dy = buf((size_t)B * OUT, r);
		a.dw = buf((size_t)OUT * IN, r);
		a.db = buf(OUT, r);
		double ff = 2.0 * B * IN * OUT, fb = ff * (l ? 2 : 1);
		snprintf(name, sizeof name, "linear %d->%d forward", IN, OUT);
		report(0, name, bench_time(f_linear_fwd, &a, 0.2), ff, 1, 0);
		snprintf(name, sizeof name, "  sgemm only");
		report(0, name, bench_time(f_gemm_fwd, &a, 0.2), ff, 1, 1);
		snprintf(name, sizeof name, "linear %d->%d backward%s", IN, OUT,
			 l ? "" : " (no din)");
		report(0, name, bench_time(f_linear_bwd, &a, 0.2), fb, 1, 0);
		snprintf(name, sizeof name, "  sgemm only");
		report(0, name, bench_time(f_gemm_bwd, &a, 0.2), fb, 1, 1);
		if (l < 2) {
			bench_args e = { .act = JM_ACT_RELU, .n = (size_t)B * OUT,
					 .x = a.y, .y = a.dy, .dx = a.db, .dy = a.y };
			e.dx = buf(e.n, r);
			snprintf(name, sizeof name, "relu %dx%d forward", B, OUT);
			report(0, name, bench_time(f_act_fwd, &e, 0.1), 0, 1, 0);
			snprintf(name, sizeof name, "relu %dx%d backward", B, OUT);
			report(0, name, bench_time(f_act_bwd, &e, 0.1), 0, 1, 0);
			be->free(e.dx);
		}
		be->free(a.x), be->free(a.y), be->free(a.w), be->free(a.b);
		be->free(a.dx), be->free(a.dy), be->free(a.dw), be->free(a.db);
	}
	bench_args x = { .B = B, .OUT = 10, .IN = 784 };
	x.x = buf((size_t)B * 10, r);
	x.dx = buf((size_t)B * 10, r);
	x.idx = malloc(B * sizeof *x.idx);
	for (int i = 0; i < B; i++)
		x.idx[i] = (int32_t)jm_rng_below(r, 10);
	report(0, "xent 128x10", bench_time(f_xent, &x, 0.1), 0, 1, 0);
	/* the batch gather from a resident 60000x784 set */
	bench_args gth = { .B = B, .IN = 784 };
	gth.x = buf((size_t)60000 * 784, r);
	gth.y = buf((size_t)B * 784, r);
	gth.idx = malloc(B * sizeof *gth.idx);
	for (int i = 0; i < B; i++)
		gth.idx[i] = (int32_t)jm_rng_below(r, 60000);
	report(0, "gather_f32 128x784", bench_time(f_gather, &gth, 0.1), 0, 1, 0);
	bench_args o = { .n = nparam };
	o.w = buf(nparam, r), o.m = buf(nparam, r), o.v = buf(nparam, r);
	o.g1 = buf(nparam, r);
	for (size_t i = 0; i < nparam; i++)
		o.v[i] = o.v[i] * o.v[i];
	snprintf(name, sizeof name, "adamw %zu params", nparam);
	report(0, name, bench_time(f_adamw, &o, 0.2), 0, 1, 0);
	snprintf(name, sizeof name, "zero grads %zu", nparam);
	report(0, name, bench_time(f_zero, &o, 0.1), 0, 1, 0);
	double flops = 0;
	for (int l = 0; l < 3; l++)
		flops += 2.0 * B * dims[l] * dims[l + 1] * (l ? 3 : 2);
	printf("  step: ops %.3f ms (%.0f samples/s), GEMMs alone %.3f ms "
	       "(%.0f samples/s), %.1f GFLOP/s overall\n",
	       step_ms[0], B / (step_ms[0] * 1e-3), gemm_ms[0],
	       B / (gemm_ms[0] * 1e-3), flops / (step_ms[0] * 1e-3) / 1e9);
	printf("{\"bench\":\"mlp-ops\",\"step_ms\":%.4f,\"gemm_ms\":%.4f,"
	       "\"samples_per_s\":%.0f}\n", step_ms[0], gemm_ms[0],
	       B / (step_ms[0] * 1e-3));
	be->free(x.x), be->free(x.dx), free(x.idx);
	be->free(gth.x), be->free(gth.y), free(gth.idx);
	be->free(o.w), be->free(o.m), be->free(o.v), be->free(o.g1);
}

static void bench_cnn(jm_rng *r)
{
	enum { B = 256 };
	static const int layers[5][4] = {
		/* C OC H pool-after */
		{ 1, 32, 28, 0 }, { 32, 32, 28, 1 }, { 32, 64, 14, 0 },
		{ 64, 64, 14, 1 }, { 64, 128, 7, 0 },
	};
	printf("CNN, batch %d\n", B);
	char name[80];
	double flops = 0;
	for (int l = 0; l < 5; l++) {
		int C = layers[l][0], OC = layers[l][1], H = layers[l][2];
		size_t nin = (size_t)B * C * H * H, nout = (size_t)B * OC * H * H;
		size_t nw = (size_t)OC * C * 9;
		bench_args a = { .B = B, .C = C, .H = H, .W = H, .OC = OC, .K = 3,
				 .S = 1, .P = 1 };
		size_t sc = be->conv2d_scratch_floats(B, C, H, H, OC, 3, 1, 1);
		size_t gsc = (size_t)(C > OC ? C : OC) * 9 * H * H; /* one sample */
		a.x = buf(nin, r), a.y = buf(nout, r), a.w = buf(nw, r);
		a.m = buf(nw, r); /* dw^T for the GEMM-only backward */
		a.dx = l ? buf(nin, r) : NULL;
		a.dy = buf(nout, r), a.dw = buf(nw, r);
		a.scratch = buf(sc > gsc ? sc : gsc, r);
		double ff = 2.0 * nw * B * H * H, fb = ff * (l ? 2 : 1);
		flops += ff + fb;
		snprintf(name, sizeof name, "conv %d->%d %dx%d forward", C, OC, H, H);
		report(1, name, bench_time(f_conv_fwd, &a, 0.5), ff, 1, 0);
		report(1, "  sgemm only", bench_time(f_convgemm_fwd, &a, 0.5), ff, 1, 1);
		snprintf(name, sizeof name, "conv %d->%d backward%s", C, OC,
			 l ? "" : " (no din)");
		report(1, name, bench_time(f_conv_bwd, &a, 0.5), fb, 1, 0);
		report(1, "  sgemm only", bench_time(f_convgemm_bwd, &a, 0.5), fb, 1, 1);
		printf("  (scratch %.1f MB)\n", sc * 4.0 / 1e6);

		/* batch norm + relu on the conv output (in place, as a model
		 * would: relu's backward reads its output) */
		bench_args n = { .B = B, .C = OC, .H = H, .W = H, .act = JM_ACT_RELU,
				 .n = nout };
		n.x = a.y, n.y = buf(nout, r), n.dy = a.dy, n.dx = buf(nout, r);
		n.w = buf(OC, r), n.b = buf(OC, r), n.dw = buf(OC, r), n.db = buf(OC, r);
		n.m = buf(OC, r), n.v = buf(OC, r), n.g1 = buf(OC, r), n.g2 = buf(OC, r);
		snprintf(name, sizeof name, "batchnorm %dx%dx%d forward", OC, H, H);
		/* apart (not in the step's total: the model runs them fused) */
		report(1, name, bench_time(f_bn_fwd, &n, 0.3), 0, 0, 0);
		snprintf(name, sizeof name, "batchnorm backward");
		report(1, name, bench_time(f_bn_bwd, &n, 0.3), 0, 0, 0);
		bench_args e = { .act = JM_ACT_RELU, .n = nout, .x = n.y, .y = n.y,
				 .dy = n.dx, .dx = n.dx };
		report(1, "relu forward", bench_time(f_act_fwd, &e, 0.3), 0, 0, 0);
		report(1, "relu backward", bench_time(f_act_bwd, &e, 0.3), 0, 0, 0);
		report(1, "batchnorm+relu forward (fused)", bench_time(f_bn_relu_fwd, &n, 0.3), 0,
		       1, 0);
		report(1, "batchnorm+relu backward (fused)", bench_time(f_bn_relu_bwd, &n, 0.3), 0,
		       1, 0);
		if (layers[l][3]) {
			bench_args p = { .B = B, .C = OC, .H = H, .W = H };
			p.x = n.y, p.y = buf(nout / 4, r), p.dy = p.y, p.dx = n.dx;
			p.scratch = buf(nout / 4, r);
			snprintf(name, sizeof name, "maxpool 2 %dx%dx%d forward", OC, H, H);
			report(1, name, bench_time(f_maxpool_fwd, &p, 0.3), 0, 1, 0);
			report(1, "maxpool 2 backward", bench_time(f_maxpool_bwd, &p, 0.3), 0, 1, 0);
			be->free(p.y), be->free(p.scratch);
		}
		be->free(n.y), be->free(n.dx), be->free(n.w), be->free(n.b);
		be->free(n.dw), be->free(n.db), be->free(n.m), be->free(n.v);
		be->free(n.g1), be->free(n.g2);
		be->free(a.x), be->free(a.y), be->free(a.w), be->free(a.dx);
		be->free(a.dy), be->free(a.dw), be->free(a.scratch), be->free(a.m);
	}
	bench_args g = { .B = B, .C = 128, .H = 7, .W = 7 };
	g.x = buf((size_t)B * 128 * 49, r), g.y = buf((size_t)B * 128, r);
	g.dx = g.x, g.dy = g.y;
	report(1, "gap 128x7x7 forward", bench_time(f_gap_fwd, &g, 0.1), 0, 1, 0);
	report(1, "gap backward", bench_time(f_gap_bwd, &g, 0.1), 0, 1, 0);
	be->free(g.x), be->free(g.y);
	/* linear head, loss and the optimizer over ~240k parameters */
	bench_args h = { .B = B, .IN = 128, .OUT = 10 };
	h.x = buf((size_t)B * 128, r), h.y = buf((size_t)B * 10, r);
	h.w = buf(1280, r), h.b = buf(10, r), h.dx = buf((size_t)B * 128, r);
	h.dy = buf((size_t)B * 10, r), h.dw = buf(1280, r), h.db = buf(10, r);
	report(1, "linear 128->10 forward", bench_time(f_linear_fwd, &h, 0.1), 0, 1, 0);
	report(1, "linear 128->10 backward", bench_time(f_linear_bwd, &h, 0.1), 0, 1, 0);
	size_t nparam = 1290;
	for (int l = 0; l < 5; l++)
		nparam += (size_t)layers[l][0] * layers[l][1] * 9 + 2 * layers[l][1];
	bench_args o = { .n = nparam };
	o.w = buf(nparam, r), o.m = buf(nparam, r), o.v = buf(nparam, r);
	o.g1 = buf(nparam, r);
	for (size_t i = 0; i < nparam; i++)
		o.v[i] = o.v[i] * o.v[i];
	snprintf(name, sizeof name, "adamw %zu params", nparam);
	report(1, name, bench_time(f_adamw, &o, 0.1), 0, 1, 0);
	printf("  step: ops %.1f ms (%.0f samples/s), GEMMs alone %.1f ms "
	       "(%.0f samples/s), %.1f GFLOP/s overall\n",
	       step_ms[1], B / (step_ms[1] * 1e-3), gemm_ms[1],
	       B / (gemm_ms[1] * 1e-3), flops / (step_ms[1] * 1e-3) / 1e9);
	printf("{\"bench\":\"cnn-ops\",\"step_ms\":%.3f,\"gemm_ms\":%.3f,"
	       "\"samples_per_s\":%.0f}\n", step_ms[1], gemm_ms[1],
	       B / (step_ms[1] * 1e-3));
	be->free(h.x), be->free(h.y), be->free(h.w), be->free(h.b);
	be->free(h.dx), be->free(h.dy), be->free(h.dw), be->free(h.db);
	be->free(o.w), be->free(o.m), be->free(o.v), be->free(o.g1);
}

int main(int argc, char **argv)
{
	const char *which = argc > 1 ? argv[1] : "all";
	if (strcmp(which, "mlp") && strcmp(which, "cnn") && strcmp(which, "all") &&
	    strcmp(which, "mlp-gemm")) {
		fprintf(stderr, "usage: bench_ops [mlp|cnn|mlp-gemm|all]\n");
		return 2;
	}
	jm_rng r;
	jm_rng_seed(&r, 42);
	if (jm_blas_threads() == 1)
		bench_clock = CLOCK_THREAD_CPUTIME_ID;
	printf("OpenBLAS core %s, %d thread(s); fastest of >= 5 calls, %s time\n",
	       jm_blas_corename(), jm_blas_threads(),
	       bench_clock == CLOCK_MONOTONIC ? "wall-clock" : "thread CPU");
	if (!strcmp(which, "mlp-gemm")) {
		/* JIANMO_WORKERS=N: the GEMMs split across N workers, as a run
		 * with [train] threads = N splits them (wall-clock time) */
		const char *w = getenv("JIANMO_WORKERS");
		if (w && atoi(w) > 1) {
			jm_cpu_set_workers(atoi(w));
			jm_blas_set_threads(1);
			bench_clock = CLOCK_MONOTONIC;
			printf("%d worker threads, one BLAS thread each, wall-clock\n", jm_cpu_workers());
		}
		bench_mlp_gemm(&r);
		return 0;
	}
	if (strcmp(which, "cnn"))
		bench_mlp(&r);
	if (strcmp(which, "mlp"))
		bench_cnn(&r);
	return 0;
}
