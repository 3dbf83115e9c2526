/*
 * test_ops.c: every op of the CPU backend against a reference.
 *
 * Backward passes are checked by central differences (gradcheck.h) of
 * loss = sum(out * r) for a fixed random r, so dout = r; forward passes
 * against naive double-precision loops written here; optimizers against a
 * few steps of torch.optim's formulas evaluated in double.  Shapes are
 * small and odd so edge handling is exercised.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "engine/backend.h"
#include "engine/cpu_ops.h"
#include "gradcheck.h"
#include "util/rng.h"

static const jm_backend *be = &jm_backend_cpu;

static float *vec(size_t n)
{
	float *p = calloc(n ? n : 1, sizeof *p);
	cr_assert_not_null(p);
	return p;
}

static float *randv(jm_rng *r, size_t n, float lo, float hi)
{
	float *p = vec(n);
	for (size_t i = 0; i < n; i++)
		p[i] = lo + (hi - lo) * jm_rng_uniformf(r);
	return p;
}

static double dotd(const float *a, const float *b, size_t n)
{
	double s = 0.0;
	for (size_t i = 0; i < n; i++)
		s += (double)a[i] * b[i];
	return s;
}

/* max |a - ref| / (atol + rtol |ref|) <= 1 over n values */
static void expect_close(const char *what, const float *a, const double *ref,
			 size_t n, double rtol, double atol)
{
	for (size_t i = 0; i < n; i++) {
		double e = fabs((double)a[i] - ref[i]);
		cr_assert(e <= atol + rtol * fabs(ref[i]),
			  "%s[%zu]: got %.8g, expected %.8g", what, i,
			  (double)a[i], ref[i]);
	}
}

/* ---------------------------------------------------------------- sgemm */

Test(ops, sgemm_transposes)
{
	jm_rng r;
	jm_rng_seed(&r, 1);
	int M = 5, N = 7, K = 3;
	for (int ta = 0; ta < 2; ta++)
		for (int tb = 0; tb < 2; tb++) {
			float *A = randv(&r, (size_t)M * K, -1, 1);
			float *B = randv(&r, (size_t)K * N, -1, 1);
			float *C = randv(&r, (size_t)M * N, -1, 1);
			double *ref = calloc((size_t)M * N, sizeof *ref);
			for (int i = 0; i < M; i++)
				for (int j = 0; j < N; j++) {
					double s = 0;
					for (int k = 0; k < K; k++) {
						double a = ta ? A[k * M + i] : A[i * K + k];
						double b = tb ? B[j * K + k] : B[k * N + j];
						s += a * b;
					}
					ref[i * N + j] = 0.7 * s + 0.3 * C[i * N + j];
				}
			be->sgemm(ta, tb, M, N, K, 0.7f, A, B, 0.3f, C);
			expect_close("sgemm", C, ref, (size_t)M * N, 1e-5, 1e-6);
			free(A), free(B), free(C), free(ref);
		}
}

/* --------------------------------------------------------------- linear */

typedef struct {
	int B, IN, OUT;
	float *in, *w, *b, *out, *r;
} lin_ctx;

static double lin_loss(void *p)
{
	lin_ctx *c = p;
	be->linear_forward(c->out, c->in, c->w, c->b, c->B, c->IN, c->OUT);
	return dotd(c->out, c->r, (size_t)c->B * c->OUT);
}

Test(ops, linear_forward_matches_naive)
{
	jm_rng r;
	jm_rng_seed(&r, 2);
	int B = 5, IN = 11, OUT = 7;
	float *in = randv(&r, (size_t)B * IN, -1, 1);
	float *w = randv(&r, (size_t)OUT * IN, -1, 1);
	float *b = randv(&r, OUT, -1, 1);
	float *out = vec((size_t)B * OUT);
	double ref[5 * 7];
	for (int pass = 0; pass < 2; pass++) {
		const float *bias = pass ? NULL : b;
		for (int i = 0; i < B; i++)
			for (int o = 0; o < OUT; o++) {
				double s = bias ? bias[o] : 0.0;
				for (int k = 0; k < IN; k++)
					s += (double)in[i * IN + k] * w[o * IN + k];
				ref[i * OUT + o] = s;
			}
		be->linear_forward(out, in, w, bias, B, IN, OUT);
		expect_close("linear out", out, ref, (size_t)B * OUT, 1e-5, 1e-6);
	}
	free(in), free(w), free(b), free(out);
}

Test(ops, linear_backward_gradcheck)
{
	jm_rng r;
	jm_rng_seed(&r, 3);
	lin_ctx c = { .B = 3, .IN = 5, .OUT = 4 };
	size_t nin = (size_t)c.B * c.IN, nw = (size_t)c.OUT * c.IN;
	c.in = randv(&r, nin, -1, 1);
	c.w = randv(&r, nw, -1, 1);
	c.b = randv(&r, c.OUT, -1, 1);
	c.out = vec((size_t)c.B * c.OUT);
	c.r = randv(&r, (size_t)c.B * c.OUT, -1, 1);
	float *din = randv(&r, nin, 5, 6); /* garbage: must be overwritten */
	float *dw = vec(nw), *db = vec(c.OUT);
	be->linear_backward(din, dw, db, c.r, c.in, c.w, c.B, c.IN, c.OUT);
	cr_assert_eq(jt_gradcheck("linear din", lin_loss, &c, c.in, nin, din, 1e-2, 1e-3, 1e-4), 0);
	cr_assert_eq(jt_gradcheck("linear dw", lin_loss, &c, c.w, nw, dw, 1e-2, 1e-3, 1e-4), 0);
	cr_assert_eq(jt_gradcheck("linear db", lin_loss, &c, c.b, c.OUT, db, 1e-2, 1e-3, 1e-4), 0);

	/* parameter gradients accumulate; din NULL is allowed */
	float *dw1 = vec(nw), *db1 = vec(c.OUT);
	memcpy(dw1, dw, nw * sizeof *dw);
	memcpy(db1, db, c.OUT * sizeof *db);
	be->linear_backward(NULL, dw, db, c.r, c.in, c.w, c.B, c.IN, c.OUT);
	for (size_t i = 0; i < nw; i++)
		cr_assert_float_eq(dw[i], 2 * dw1[i], 1e-5);
	for (int i = 0; i < c.OUT; i++)
		cr_assert_float_eq(db[i], 2 * db1[i], 1e-5);
	free(c.in), free(c.w), free(c.b), free(c.out), free(c.r);
	free(din), free(dw), free(db), free(dw1), free(db1);
}

/* --------------------------------------------------------------- conv2d */

typedef struct {
	int B, C, H, W, OC, K, S, P;
} conv_shape;

typedef struct {
	conv_shape s;
	float *in, *w, *b, *out, *r, *scratch;
} conv_ctx;

static int conv_oh(const conv_shape *s, int n)
{
	return (n + 2 * s->P - s->K) / s->S + 1;
}

static double conv_loss(void *p)
{
	conv_ctx *c = p;
	const conv_shape *s = &c->s;
	be->conv2d_forward(c->out, c->in, c->w, c->b, s->B, s->C, s->H, s->W,
			   s->OC, s->K, s->S, s->P, c->scratch);
	return dotd(c->out, c->r,
		    (size_t)s->B * s->OC * conv_oh(s, s->H) * conv_oh(s, s->W));
}

static void conv_alloc(conv_ctx *c, jm_rng *r)
{
	const conv_shape *s = &c->s;
	size_t nin = (size_t)s->B * s->C * s->H * s->W;
	size_t nout = (size_t)s->B * s->OC * conv_oh(s, s->H) * conv_oh(s, s->W);
	c->in = randv(r, nin, -1, 1);
	c->w = randv(r, (size_t)s->OC * s->C * s->K * s->K, -1, 1);
	c->b = randv(r, s->OC, -1, 1);
	c->out = vec(nout);
	c->r = randv(r, nout, -1, 1);
	c->scratch = vec(be->conv2d_scratch_floats(s->B, s->C, s->H, s->W,
						   s->OC, s->K, s->S, s->P));
}

static void conv_free(conv_ctx *c)
{
	free(c->in), free(c->w), free(c->b), free(c->out), free(c->r);
	free(c->scratch);
}

/* Direct convolution and its gradients in double (the reference). */
static void conv_naive(const conv_ctx *c, double *out, double *din,
		       double *dw, double *db)
{
	const conv_shape *s = &c->s;
	int OH = conv_oh(s, s->H), OW = conv_oh(s, s->W), K = s->K;
	size_t nin = (size_t)s->B * s->C * s->H * s->W;
	memset(din, 0, nin * sizeof *din);
	memset(dw, 0, (size_t)s->OC * s->C * K * K * sizeof *dw);
	memset(db, 0, (size_t)s->OC * sizeof *db);
	for (int n = 0; n < s->B; n++)
		for (int oc = 0; oc < s->OC; oc++)
			for (int oh = 0; oh < OH; oh++)
				for (int ow = 0; ow < OW; ow++) {
					size_t o = (((size_t)n * s->OC + oc) * OH + oh) * OW + ow;
					double acc = c->b[oc], g = c->r[o];
					for (int ci = 0; ci < s->C; ci++)
						for (int kh = 0; kh < K; kh++)
							for (int kw = 0; kw < K; kw++) {
								int ih = oh * s->S - s->P + kh;
								int iw = ow * s->S - s->P + kw;
								if (ih < 0 || ih >= s->H || iw < 0 || iw >= s->W)
									continue;
								size_t i = (((size_t)n * s->C + ci) * s->H + ih) * s->W + iw;
								size_t wi = (((size_t)oc * s->C + ci) * K + kh) * K + kw;
								acc += (double)c->in[i] * c->w[wi];
								din[i] += g * c->w[wi];
								dw[wi] += g * c->in[i];
							}
					out[o] = acc;
					db[oc] += g;
				}
}

static const conv_shape conv_small[] = {
	{ 2, 1, 7, 6, 3, 3, 1, 1 },  /* C = 1 */
	{ 2, 3, 7, 5, 4, 3, 2, 1 },  /* stride 2 */
	{ 1, 2, 6, 7, 3, 3, 1, 0 },  /* pad 0 */
	{ 2, 2, 9, 8, 2, 5, 2, 2 },  /* 5x5, pad 2 */
	{ 3, 3, 5, 5, 2, 1, 1, 0 },  /* 1x1 */
	{ 2, 2, 8, 7, 3, 2, 2, 0 },  /* even kernel */
	{ 1, 2, 9, 9, 2, 3, 3, 1 },  /* stride 3 */
	{ 2, 1, 3, 3, 2, 5, 1, 2 },  /* kernel wider than the image */
	{ 2, 2, 4, 5, 3, 1, 1, 1 },  /* pad > K-1: din through col2im */
	{ 2, 3, 6, 5, 2, 2, 1, 1 },  /* even kernel, stride 1 */
	{ 3, 2, 5, 6, 2, 3, 1, 2 },  /* pad 2 with a 3x3 kernel */
};

Test(ops, conv2d_backward_gradcheck)
{
	jm_rng r;
	jm_rng_seed(&r, 4);
	for (size_t t = 0; t < sizeof conv_small / sizeof conv_small[0]; t++) {
		conv_ctx c = { .s = conv_small[t] };
		const conv_shape *s = &c.s;
		conv_alloc(&c, &r);
		size_t nin = (size_t)s->B * s->C * s->H * s->W;
		size_t nw = (size_t)s->OC * s->C * s->K * s->K;
		float *din = randv(&r, nin, 5, 6), *dw = vec(nw), *db = vec(s->OC);
		be->conv2d_backward(din, dw, db, c.r, c.in, c.w, s->B, s->C, s->H,
				    s->W, s->OC, s->K, s->S, s->P, c.scratch);
		cr_assert_eq(jt_gradcheck("conv din", conv_loss, &c, c.in, nin, din, 1e-2, 1e-3, 2e-4), 0,
			     "shape %zu", t);
		cr_assert_eq(jt_gradcheck("conv dw", conv_loss, &c, c.w, nw, dw, 1e-2, 1e-3, 2e-4), 0,
			     "shape %zu", t);
		cr_assert_eq(jt_gradcheck("conv db", conv_loss, &c, c.b, s->OC, db, 1e-2, 1e-3, 2e-4), 0,
			     "shape %zu", t);
		free(din), free(dw), free(db);
		conv_free(&c);
	}
}

/* Larger shapes against the direct loops, including batches that split
 * into several scratch chunks with a remainder (of one sample, or more),
 * and one sample per chunk. */
static const conv_shape conv_large[] = {
	{ 131, 1, 28, 28, 2, 3, 1, 1 },
	{ 20, 2, 20, 20, 3, 3, 1, 1 },
	{ 40, 3, 16, 16, 4, 3, 2, 1 },
	{ 2, 100, 34, 34, 8, 3, 1, 1 },
	{ 5, 3, 11, 10, 6, 3, 2, 2 },
	{ 9, 32, 14, 14, 16, 3, 1, 1 },
};

Test(ops, conv2d_matches_naive)
{
	jm_rng r;
	jm_rng_seed(&r, 5);
	for (size_t t = 0; t < sizeof conv_large / sizeof conv_large[0]; t++) {
		conv_ctx c = { .s = conv_large[t] };
		const conv_shape *s = &c.s;
		conv_alloc(&c, &r);
		size_t nin = (size_t)s->B * s->C * s->H * s->W;
		size_t nw = (size_t)s->OC * s->C * s->K * s->K;
		size_t nout = (size_t)s->B * s->OC * conv_oh(s, s->H) * conv_oh(s, s->W);
		double *rout = calloc(nout, sizeof *rout), *rdin = calloc(nin, sizeof *rdin);
		double *rdw = calloc(nw, sizeof *rdw), *rdb = calloc(s->OC, sizeof *rdb);
		conv_naive(&c, rout, rdin, rdw, rdb);
		conv_loss(&c);
		expect_close("conv out", c.out, rout, nout, 1e-4, 1e-4);
		float *din = vec(nin), *dw = vec(nw), *db = vec(s->OC);
		be->conv2d_backward(din, dw, db, c.r, c.in, c.w, s->B, s->C, s->H,
				    s->W, s->OC, s->K, s->S, s->P, c.scratch);
		expect_close("conv din", din, rdin, nin, 1e-4, 1e-4);
		expect_close("conv dw", dw, rdw, nw, 1e-4, 1e-3);
		expect_close("conv db", db, rdb, s->OC, 1e-4, 1e-3);
		/* without din, and with no bias */
		memset(dw, 0, nw * sizeof *dw);
		be->conv2d_backward(NULL, dw, NULL, c.r, c.in, c.w, s->B, s->C,
				    s->H, s->W, s->OC, s->K, s->S, s->P, c.scratch);
		expect_close("conv dw (no din)", dw, rdw, nw, 1e-4, 1e-3);
		be->conv2d_forward(c.out, c.in, c.w, NULL, s->B, s->C, s->H, s->W,
				   s->OC, s->K, s->S, s->P, c.scratch);
		int P = conv_oh(s, s->H) * conv_oh(s, s->W);
		for (size_t i = 0; i < nout; i++)
			rout[i] -= c.b[(i / P) % s->OC];
		expect_close("conv out (no bias)", c.out, rout, nout, 1e-4, 1e-4);
		free(rout), free(rdin), free(rdw), free(rdb);
		free(din), free(dw), free(db);
		conv_free(&c);
	}
}

/* Empty batches and images smaller than the kernel: nothing is read out
 * of bounds, parameter gradients are unchanged, din is all zeros. */
Test(ops, degenerate_shapes)
{
	float w[2 * 1 * 5 * 5], dw[50], in[2 * 1 * 2 * 2], din[8], db[2];
	for (int i = 0; i < 50; i++)
		w[i] = 0.1f * i, dw[i] = 1.0f;
	for (int i = 0; i < 8; i++)
		in[i] = 1.0f, din[i] = 7.0f;
	db[0] = db[1] = 1.0f;
	cr_assert_eq(be->conv2d_scratch_floats(0, 1, 2, 2, 2, 5, 1, 0), 0);
	be->conv2d_forward(NULL, in, w, NULL, 0, 1, 2, 2, 2, 5, 1, 0, NULL);
	be->conv2d_backward(din, dw, db, NULL, in, w, 0, 1, 2, 2, 2, 5, 1, 0, NULL);
	cr_assert_eq(din[0], 7.0f);
	/* 2x2 image, 5x5 kernel, no padding: no output at all */
	size_t sc = be->conv2d_scratch_floats(2, 1, 2, 2, 2, 5, 1, 0);
	float *scratch = vec(sc);
	be->conv2d_backward(din, dw, db, NULL, in, w, 2, 1, 2, 2, 2, 5, 1, 0, scratch);
	for (int i = 0; i < 8; i++)
		cr_assert_eq(din[i], 0.0f);
	for (int i = 0; i < 50; i++)
		cr_assert_eq(dw[i], 1.0f);
	cr_assert_eq(db[0], 1.0f);
	free(scratch);
	/* pooling window larger than the plane: din zeroed */
	for (int i = 0; i < 8; i++)
		din[i] = 7.0f;
	be->maxpool_backward(din, NULL, NULL, 2, 1, 2, 2, 3, 3);
	be->avgpool_backward(din + 4, NULL, 1, 1, 2, 2, 3, 3);
	for (int i = 0; i < 8; i++)
		cr_assert_eq(din[i], 0.0f);
	/* empty batch: linear leaves dw alone, xent returns 0 */
	be->linear_backward(NULL, dw, db, NULL, NULL, w, 0, 5, 2);
	cr_assert_eq(dw[3], 1.0f);
	cr_assert_eq(db[1], 1.0f);
	cr_assert_eq(be->xent(NULL, NULL, NULL, NULL, NULL, NULL, 0, 10, 0), 0.0);
}

/* -------------------------------------------------------------- pooling */

typedef struct {
	int B, C, H, W, K, S, max;
	float *in, *out, *r;
	int32_t *argmax;
} pool_ctx;

static int pool_o(int n, int K, int S)
{
	return (n - K) / S + 1;
}

static double pool_loss(void *p)
{
	pool_ctx *c = p;
	if (c->max)
		be->maxpool_forward(c->out, c->argmax, c->in, c->B, c->C, c->H,
				    c->W, c->K, c->S);
	else
		be->avgpool_forward(c->out, c->in, c->B, c->C, c->H, c->W, c->K,
				    c->S);
	return dotd(c->out, c->r,
		    (size_t)c->B * c->C * pool_o(c->H, c->K, c->S) * pool_o(c->W, c->K, c->S));
}

/* Distinct values 0.01 apart in shuffled order: no ties, no kinks
 * within the finite-difference step. */
static float *distinct(jm_rng *r, size_t n)
{
	int32_t *perm = malloc(n * sizeof *perm);
	for (size_t i = 0; i < n; i++)
		perm[i] = (int32_t)i;
	jm_rng_shuffle(r, perm, (int64_t)n);
	float *x = vec(n);
	for (size_t i = 0; i < n; i++)
		x[i] = (float)perm[i] * 0.01f - (float)n * 0.005f;
	free(perm);
	return x;
}

static const int pool_shapes[][6] = {
	/* B C H W K S */
	{ 2, 3, 7, 5, 2, 2 }, /* floor mode drops the last row/column */
	{ 1, 2, 7, 7, 3, 2 }, /* overlapping windows */
	{ 2, 1, 5, 6, 3, 1 },
	{ 1, 2, 6, 6, 3, 3 },
};

static void pool_check(int max)
{
	jm_rng r;
	jm_rng_seed(&r, 6 + max);
	for (size_t t = 0; t < sizeof pool_shapes / sizeof pool_shapes[0]; t++) {
		const int *d = pool_shapes[t];
		pool_ctx c = { .B = d[0], .C = d[1], .H = d[2], .W = d[3], .K = d[4],
				.S = d[5], .max = max };
		int OH = pool_o(c.H, c.K, c.S), OW = pool_o(c.W, c.K, c.S);
		size_t nin = (size_t)c.B * c.C * c.H * c.W;
		size_t nout = (size_t)c.B * c.C * OH * OW;
		c.in = distinct(&r, nin);
		c.out = vec(nout);
		c.r = randv(&r, nout, -1, 1);
		c.argmax = calloc(nout, sizeof *c.argmax);
		pool_loss(&c);
		/* forward against the direct definition */
		for (int pl = 0; pl < c.B * c.C; pl++)
			for (int oh = 0; oh < OH; oh++)
				for (int ow = 0; ow < OW; ow++) {
					const float *x = c.in + (size_t)pl * c.H * c.W;
					double best = -INFINITY, sum = 0;
					int bi = -1;
					for (int kh = 0; kh < c.K; kh++)
						for (int kw = 0; kw < c.K; kw++) {
							int i = (oh * c.S + kh) * c.W + ow * c.S + kw;
							sum += x[i];
							if (x[i] > best)
								best = x[i], bi = i;
						}
					size_t o = ((size_t)pl * OH + oh) * OW + ow;
					if (max) {
						cr_assert_eq(c.out[o], (float)best);
						cr_assert_eq(c.argmax[o], bi);
					} else {
						cr_assert_float_eq(c.out[o], sum / (c.K * c.K), 1e-5);
					}
				}
		float *din = randv(&r, nin, 5, 6);
		if (max)
			be->maxpool_backward(din, c.r, c.argmax, c.B, c.C, c.H, c.W,
					     c.K, c.S);
		else
			be->avgpool_backward(din, c.r, c.B, c.C, c.H, c.W, c.K, c.S);
		cr_assert_eq(jt_gradcheck(max ? "maxpool din" : "avgpool din", pool_loss,
					  &c, c.in, nin, din, 1e-3, 1e-3, 1e-4),
			     0, "shape %zu", t);
		free(c.in), free(c.out), free(c.r), free(c.argmax), free(din);
	}
}

Test(ops, maxpool)
{
	pool_check(1);
}

Test(ops, avgpool)
{
	pool_check(0);
}

Test(ops, maxpool_nan_propagates)
{
	float in[4] = { 1.0f, NAN, 3.0f, 2.0f }, out[1];
	int32_t am[1];
	be->maxpool_forward(out, am, in, 1, 1, 2, 2, 2, 2);
	cr_assert(isnan(out[0]));
	cr_assert_eq(am[0], 1);
}

typedef struct {
	int B, C, HW;
	float *in, *out, *r;
} gap_ctx;

static double gap_loss(void *p)
{
	gap_ctx *c = p;
	be->gap_forward(c->out, c->in, c->B, c->C, c->HW);
	return dotd(c->out, c->r, (size_t)c->B * c->C);
}

Test(ops, global_average_pool)
{
	jm_rng r;
	jm_rng_seed(&r, 8);
	gap_ctx c = { .B = 3, .C = 4, .HW = 13 };
	size_t nin = (size_t)c.B * c.C * c.HW;
	c.in = randv(&r, nin, -1, 1);
	c.out = vec((size_t)c.B * c.C);
	c.r = randv(&r, (size_t)c.B * c.C, -1, 1);
	gap_loss(&c);
	for (int pl = 0; pl < c.B * c.C; pl++) {
		double s = 0;
		for (int i = 0; i < c.HW; i++)
			s += c.in[pl * c.HW + i];
		cr_assert_float_eq(c.out[pl], s / c.HW, 1e-6);
	}
	float *din = randv(&r, nin, 5, 6);
	be->gap_backward(din, c.r, c.B, c.C, c.HW);
	cr_assert_eq(jt_gradcheck("gap din", gap_loss, &c, c.in, nin, din, 1e-2, 1e-3, 1e-4), 0);
	free(c.in), free(c.out), free(c.r), free(din);
}

/* ----------------------------------------------------------- batch norm */

typedef struct {
	int B, C, HW, relu;
	float *in, *gamma, *beta, *out, *mean, *rstd, *r;
} bn_ctx;

static double bn_loss(void *p)
{
	bn_ctx *c = p;
	be->batchnorm_forward(c->out, c->mean, c->rstd, c->in, c->gamma,
			      c->beta, NULL, NULL, c->B, c->C, c->HW, 1, 0.1f,
			      1e-5f, c->relu);
	return dotd(c->out, c->r, (size_t)c->B * c->C * c->HW);
}

static void bn_gradcheck(int B, int C, int HW, uint64_t seed, int relu)
{
	jm_rng r;
	jm_rng_seed(&r, seed);
	bn_ctx c = { .B = B, .C = C, .HW = HW, .relu = relu };
	size_t n = (size_t)B * C * HW;
	c.in = randv(&r, n, -2, 3);
	c.gamma = randv(&r, C, 0.5f, 1.5f);
	c.beta = randv(&r, C, -1, 1);
	c.out = vec(n);
	c.mean = vec(C);
	c.rstd = vec(C);
	c.r = randv(&r, n, -1, 1);
	bn_loss(&c);
	float *din = randv(&r, n, 5, 6), *dg = vec(C), *dbt = vec(C);
	be->batchnorm_backward(din, dg, dbt, c.r, c.in, c.mean, c.rstd, c.gamma,
			       relu ? c.out : NULL, B, C, HW);
	cr_assert_eq(jt_gradcheck("bn din", bn_loss, &c, c.in, n, din, 1e-2, 1e-2, 1e-3), 0);
	cr_assert_eq(jt_gradcheck("bn dgamma", bn_loss, &c, c.gamma, C, dg, 1e-2, 1e-3, 1e-4), 0);
	cr_assert_eq(jt_gradcheck("bn dbeta", bn_loss, &c, c.beta, C, dbt, 1e-2, 1e-3, 1e-4), 0);
	/* dgamma/dbeta accumulate, din is overwritten */
	float g0 = dg[0], b0 = dbt[0], d0 = din[0];
	be->batchnorm_backward(din, dg, dbt, c.r, c.in, c.mean, c.rstd, c.gamma,
			       relu ? c.out : NULL, B, C, HW);
	cr_assert_float_eq(dg[0], 2 * g0, 1e-5);
	cr_assert_float_eq(dbt[0], 2 * b0, 1e-5);
	cr_assert_eq(din[0], d0);
	free(c.in), free(c.gamma), free(c.beta), free(c.out), free(c.mean);
	free(c.rstd), free(c.r), free(din), free(dg), free(dbt);
}

Test(ops, batchnorm_backward_gradcheck)
{
	bn_gradcheck(3, 4, 5, 9, 0);
	bn_gradcheck(7, 3, 1, 10, 0); /* BatchNorm1d: HW = 1 */
}

Test(ops, batchnorm_forward_and_running_stats)
{
	jm_rng r;
	jm_rng_seed(&r, 11);
	int B = 4, C = 3, HW = 9;
	size_t n = (size_t)B * C * HW;
	float *in = randv(&r, n, -1, 4), *out = vec(n);
	float *gamma = randv(&r, C, 0.5f, 1.5f), *beta = randv(&r, C, -1, 1);
	float mean[3], rstd[3], rm[3] = { 0.5f, -0.2f, 1.0f }, rv[3] = { 2.0f, 0.7f, 1.0f };
	float rm0[3], rv0[3];
	memcpy(rm0, rm, sizeof rm);
	memcpy(rv0, rv, sizeof rv);
	be->batchnorm_forward(out, mean, rstd, in, gamma, beta, rm, rv, B, C, HW,
			      1, 0.1f, 1e-5f, 0);
	double *ref = calloc(n, sizeof *ref);
	for (int c = 0; c < C; c++) {
		double s = 0, ss = 0, N = (double)B * HW;
		for (int b = 0; b < B; b++)
			for (int i = 0; i < HW; i++)
				s += in[(b * C + c) * HW + i];
		double mu = s / N;
		for (int b = 0; b < B; b++)
			for (int i = 0; i < HW; i++) {
				double d = in[(b * C + c) * HW + i] - mu;
				ss += d * d;
			}
		double var = ss / N, rs = 1 / sqrt(var + 1e-5);
		cr_assert_float_eq(mean[c], mu, 1e-5);
		cr_assert_float_eq(rstd[c], rs, 1e-5 * rs);
		/* PyTorch: running = (1 - m) running + m stat, unbiased var */
		cr_assert_float_eq(rm[c], 0.9 * rm0[c] + 0.1 * mu, 1e-6);
		cr_assert_float_eq(rv[c], 0.9 * rv0[c] + 0.1 * ss / (N - 1), 1e-6);
		for (int b = 0; b < B; b++)
			for (int i = 0; i < HW; i++) {
				size_t k = (size_t)(b * C + c) * HW + i;
				ref[k] = (in[k] - mu) * rs * gamma[c] + beta[c];
			}
	}
	expect_close("bn train out", out, ref, n, 1e-5, 1e-5);

	/* eval: running statistics, which stay unchanged */
	memcpy(rm0, rm, sizeof rm);
	memcpy(rv0, rv, sizeof rv);
	be->batchnorm_forward(out, NULL, NULL, in, gamma, beta, rm, rv, B, C, HW,
			      0, 0.1f, 1e-5f, 0);
	for (size_t k = 0; k < n; k++) {
		int c = (int)(k / HW) % C;
		ref[k] = (in[k] - rm[c]) / sqrt(rv[c] + 1e-5) * gamma[c] + beta[c];
	}
	expect_close("bn eval out", out, ref, n, 1e-5, 1e-5);
	cr_assert_eq(memcmp(rm, rm0, sizeof rm), 0);
	cr_assert_eq(memcmp(rv, rv0, sizeof rv), 0);
	free(in), free(out), free(gamma), free(beta), free(ref);
}

/* Reference values from PyTorch 1.13 (torch.nn.BatchNorm2d(2), train mode,
 * one forward of x = arange(12).reshape(2,2,3) ** 1.5 as [2,2,1,3]):
 * running_mean, running_var afterwards. */
Test(ops, batchnorm_running_stats_match_pytorch)
{
	float in[12], out[12], rm[2] = { 0, 0 }, rv[2] = { 1, 1 };
	for (int i = 0; i < 12; i++)
		in[i] = powf((float)i, 1.5f);
	be->batchnorm_forward(out, NULL, NULL, in, NULL, NULL, rm, rv, 2, 2, 3, 1,
			      0.1f, 1e-5f, 0);
	cr_assert_float_eq(rm[0], 0.99455070f, 1e-6);
	cr_assert_float_eq(rm[1], 1.99136913f, 1e-6);
	cr_assert_float_eq(rv[0], 10.63042736f, 1e-5);
	cr_assert_float_eq(rv[1], 18.83339310f, 1e-5);
}

/* ----------------------------------------------------------- layer norm */

typedef struct {
	int N, C;
	float *in, *gamma, *beta, *out, *mean, *rstd, *r;
} ln_ctx;

static double ln_loss(void *p)
{
	ln_ctx *c = p;
	be->layernorm_forward(c->out, c->mean, c->rstd, c->in, c->gamma,
			      c->beta, c->N, c->C, 1e-5f);
	return dotd(c->out, c->r, (size_t)c->N * c->C);
}

Test(ops, layernorm)
{
	jm_rng r;
	jm_rng_seed(&r, 12);
	ln_ctx c = { .N = 4, .C = 7 };
	size_t n = (size_t)c.N * c.C;
	c.in = randv(&r, n, -2, 3);
	c.gamma = randv(&r, c.C, 0.5f, 1.5f);
	c.beta = randv(&r, c.C, -1, 1);
	c.out = vec(n);
	c.mean = vec(c.N);
	c.rstd = vec(c.N);
	c.r = randv(&r, n, -1, 1);
	ln_loss(&c);
	for (int i = 0; i < c.N; i++) {
		double s = 0, ss = 0;
		for (int j = 0; j < c.C; j++)
			s += c.in[i * c.C + j];
		double mu = s / c.C;
		for (int j = 0; j < c.C; j++)
			ss += (c.in[i * c.C + j] - mu) * (c.in[i * c.C + j] - mu);
		double rs = 1 / sqrt(ss / c.C + 1e-5);
		cr_assert_float_eq(c.mean[i], mu, 1e-5);
		cr_assert_float_eq(c.rstd[i], rs, 1e-5 * rs);
		for (int j = 0; j < c.C; j++)
			cr_assert_float_eq(c.out[i * c.C + j],
					   (c.in[i * c.C + j] - mu) * rs * c.gamma[j] + c.beta[j], 1e-5);
	}
	float *din = randv(&r, n, 5, 6), *dg = vec(c.C), *dbt = vec(c.C);
	be->layernorm_backward(din, dg, dbt, c.r, c.in, c.mean, c.rstd, c.gamma,
			       c.N, c.C);
	cr_assert_eq(jt_gradcheck("ln din", ln_loss, &c, c.in, n, din, 1e-2, 1e-2, 1e-3), 0);
	cr_assert_eq(jt_gradcheck("ln dgamma", ln_loss, &c, c.gamma, c.C, dg, 1e-2, 1e-3, 1e-4), 0);
	cr_assert_eq(jt_gradcheck("ln dbeta", ln_loss, &c, c.beta, c.C, dbt, 1e-2, 1e-3, 1e-4), 0);
	free(c.in), free(c.gamma), free(c.beta), free(c.out), free(c.mean);
	free(c.rstd), free(c.r), free(din), free(dg), free(dbt);
}

/* ---------------------------------------------------------- activations */

typedef struct {
	int act;
	size_t n;
	float *in, *out, *r;
} act_ctx;

static double act_loss(void *p)
{
	act_ctx *c = p;
	be->act_forward(c->act, c->out, c->in, c->n);
	return dotd(c->out, c->r, c->n);
}

static double act_ref(int act, double x)
{
	switch (act) {
	case JM_ACT_RELU: return x > 0 ? x : 0;
	case JM_ACT_GELU: return 0.5 * x * (1 + erf(x / sqrt(2.0)));
	case JM_ACT_TANH: return tanh(x);
	case JM_ACT_SIGMOID: return 1 / (1 + exp(-x));
	case JM_ACT_SILU: return x / (1 + exp(-x));
	default: return x;
	}
}

Test(ops, activations)
{
	static const int acts[] = { JM_ACT_NONE, JM_ACT_RELU, JM_ACT_GELU,
				    JM_ACT_TANH, JM_ACT_SIGMOID, JM_ACT_SILU };
	jm_rng r;
	jm_rng_seed(&r, 13);
	for (size_t a = 0; a < sizeof acts / sizeof acts[0]; a++) {
		act_ctx c = { .act = acts[a], .n = 37 };
		c.in = randv(&r, c.n, -4, 4);
		for (size_t i = 0; i < c.n; i++) /* keep away from relu's kink */
			if (fabsf(c.in[i]) < 0.05f)
				c.in[i] = 0.3f;
		c.out = vec(c.n);
		c.r = randv(&r, c.n, -1, 1);
		act_loss(&c);
		for (size_t i = 0; i < c.n; i++)
			cr_assert_float_eq(c.out[i], act_ref(c.act, c.in[i]), 2e-6,
					   "act %d x=%g", c.act, (double)c.in[i]);
		float *din = randv(&r, c.n, 5, 6);
		be->act_backward(c.act, din, c.r, c.in, c.out, c.n);
		cr_assert_eq(jt_gradcheck("act din", act_loss, &c, c.in, c.n, din, 1e-3, 5e-3, 5e-4),
			     0, "act %d", c.act);
		/* in place: out == in, din == dout */
		float *x = vec(c.n), *g = vec(c.n);
		memcpy(x, c.in, c.n * sizeof *x);
		memcpy(g, c.r, c.n * sizeof *g);
		be->act_forward(c.act, x, x, c.n);
		cr_assert_eq(memcmp(x, c.out, c.n * sizeof *x), 0, "act %d in place", c.act);
		be->act_backward(c.act, g, g, c.in, c.out, c.n);
		cr_assert_eq(memcmp(g, din, c.n * sizeof *g), 0, "act %d backward in place", c.act);
		free(c.in), free(c.out), free(c.r), free(din), free(x), free(g);
	}
}

/* -------------------------------------------------------------- dropout */

Test(ops, dropout)
{
	jm_rng r;
	jm_rng_seed(&r, 14);
	size_t n = 20001;
	float p = 0.3f;
	uint64_t key = 0x1234abcdULL;
	float *in = randv(&r, n, 0.5f, 1.5f), *out = vec(n);
	float *dout = randv(&r, n, 0.5f, 1.5f), *din = vec(n);
	be->dropout_forward(out, in, n, p, key);
	be->dropout_backward(din, dout, n, p, key);
	size_t kept = 0;
	for (size_t i = 0; i < n; i++) {
		int keep = jm_hash_uniformf(key, i) >= p;
		kept += keep;
		cr_assert_eq(out[i] != 0.0f, keep, "mask at %zu", i);
		cr_assert_eq(din[i] != 0.0f, keep, "backward mask at %zu", i);
		if (keep) {
			cr_assert_float_eq(out[i], in[i] / (1 - p), 1e-6);
			cr_assert_float_eq(din[i], dout[i] / (1 - p), 1e-6);
		}
	}
	double rate = (double)kept / n; /* sd 0.0032: 6 sigma */
	cr_assert(fabs(rate - 0.7) < 0.02, "keep rate %g", rate);

	/* same key, same mask; in place allowed; other key, other mask */
	float *again = vec(n), *other = vec(n);
	memcpy(again, in, n * sizeof *in);
	be->dropout_forward(again, again, n, p, key);
	cr_assert_eq(memcmp(again, out, n * sizeof *out), 0);
	be->dropout_forward(other, in, n, p, key + 1);
	cr_assert_neq(memcmp(other, out, n * sizeof *out), 0);

	/* p = 0 is the identity; p = 1 drops everything */
	be->dropout_forward(out, in, n, 0.0f, key);
	cr_assert_eq(memcmp(out, in, n * sizeof *in), 0);
	be->dropout_forward(out, in, n, 1.0f, key);
	for (size_t i = 0; i < n; i++)
		cr_assert_eq(out[i], 0.0f);
	free(in), free(out), free(dout), free(din), free(again), free(other);
}

/* ---------------------------------------------------------- add, fill */

Test(ops, add_accumulate_fill)
{
	jm_rng r;
	jm_rng_seed(&r, 15);
	size_t n = 41;
	float *a = randv(&r, n, -1, 1), *b = randv(&r, n, -1, 1), *o = vec(n);
	be->add(o, a, b, n);
	for (size_t i = 0; i < n; i++)
		cr_assert_eq(o[i], a[i] + b[i]);
	be->accumulate(o, a, n);
	for (size_t i = 0; i < n; i++)
		cr_assert_eq(o[i], (a[i] + b[i]) + a[i]);
	memcpy(o, a, n * sizeof *a);
	be->add(a, a, b, n); /* out aliases a */
	for (size_t i = 0; i < n; i++)
		cr_assert_eq(a[i], o[i] + b[i]);
	be->fill(o, 2.5f, n);
	for (size_t i = 0; i < n; i++)
		cr_assert_eq(o[i], 2.5f);
	free(a), free(b), free(o);
}

/* ---------------------------------------------------------------- xent */

typedef struct {
	int B, K;
	float *logits, *soft, smoothing;
	int32_t *labels;
} xent_ctx;

static double xent_loss(void *p)
{
	xent_ctx *c = p;
	return be->xent(NULL, NULL, NULL, c->logits, c->labels, c->soft, c->B,
			c->K, c->smoothing);
}

static double lse3(const float *z)
{
	return log(exp(z[0]) + exp(z[1]) + exp(z[2]));
}

Test(ops, xent_hand_values)
{
	float logits[6] = { 1, 2, 3, 0.5f, -1, 0.25f };
	int32_t labels[2] = { 2, 0 }, correct = -1;
	float sl[2], dz[6];
	double l0 = lse3(logits) - 3, l1 = lse3(logits + 3) - 0.5;
	double loss = be->xent(dz, sl, &correct, logits, labels, NULL, 2, 3, 0);
	cr_assert_float_eq(loss, (l0 + l1) / 2, 1e-6);
	cr_assert_float_eq(sl[0], l0, 1e-6);
	cr_assert_float_eq(sl[1], l1, 1e-6);
	cr_assert_eq(correct, 2);
	/* dlogits = (softmax - onehot) / B */
	for (int k = 0; k < 3; k++)
		cr_assert_float_eq(dz[k], (exp(logits[k] - lse3(logits)) - (k == 2)) / 2, 1e-6);

	/* label smoothing s: target (1-s) onehot + s/K, as PyTorch */
	double s = 0.1, t0 = 0, t1 = 0;
	for (int k = 0; k < 3; k++) {
		double w0 = (1 - s) * (k == 2) + s / 3, w1 = (1 - s) * (k == 0) + s / 3;
		t0 += w0 * (lse3(logits) - logits[k]);
		t1 += w1 * (lse3(logits + 3) - logits[3 + k]);
	}
	labels[1] = 1; /* now row 1 is wrong */
	loss = be->xent(NULL, sl, &correct, logits, labels, NULL, 2, 3, 0.1f);
	t1 = 0;
	for (int k = 0; k < 3; k++)
		t1 += ((1 - s) * (k == 1) + s / 3) * (lse3(logits + 3) - logits[3 + k]);
	cr_assert_float_eq(loss, (t0 + t1) / 2, 1e-6);
	cr_assert_eq(correct, 1);

	/* soft targets: correct compares with the target's argmax */
	float soft[6] = { 0.2f, 0.3f, 0.5f, 0.1f, 0.6f, 0.3f };
	loss = be->xent(NULL, NULL, &correct, logits, NULL, soft, 2, 3, 0);
	double e = 0;
	for (int rr = 0; rr < 2; rr++)
		for (int k = 0; k < 3; k++)
			e += soft[rr * 3 + k] * (lse3(logits + rr * 3) - logits[rr * 3 + k]);
	cr_assert_float_eq(loss, e / 2, 1e-6);
	cr_assert_eq(correct, 1);
}

/* The training forms add to running sums what xent and mse return, and
 * write the same gradients. */
Test(ops, loss_acc_adds_what_the_loss_returns)
{
	float logits[6] = { 1, 2, 3, 0.5f, -1, 0.25f }, soft[6] = { 0.2f, 0.3f, 0.5f, 0.1f, 0.6f, 0.3f };
	float target[6] = { 0.5f, 2, -1, 0, 0.25f, 4 };
	int32_t labels[2] = { 2, 1 }, correct = -1;
	float dz[6], dz_acc[6];
	double acc[5] = { 10, 3, 4, 0.5, 1 };
	double l1 = be->xent(dz, NULL, &correct, logits, labels, NULL, 2, 3, 0.1f);
	be->xent_acc(dz_acc, acc, logits, labels, NULL, 2, 3, 0.1f);
	cr_assert_arr_eq(dz, dz_acc, sizeof dz);
	double want[5] = { 10 + l1, 3 + correct, 5, 0.5 + l1, 2 };
	cr_assert_arr_eq(acc, want, sizeof acc);
	double l2 = be->xent(dz, NULL, &correct, logits, NULL, soft, 2, 3, 0);
	be->xent_acc(dz_acc, acc, logits, NULL, soft, 2, 3, 0);
	cr_assert_arr_eq(dz, dz_acc, sizeof dz);
	want[0] += l2, want[1] += correct, want[2] += 1, want[3] += l2, want[4] += 1;
	cr_assert_arr_eq(acc, want, sizeof acc);
	double l3 = be->mse(dz, NULL, logits, target, 2, 3);
	be->mse_acc(dz_acc, acc, logits, target, 2, 3);
	cr_assert_arr_eq(dz, dz_acc, sizeof dz);
	want[0] += l3, want[2] += 1, want[3] += l3, want[4] += 1;
	cr_assert_arr_eq(acc, want, sizeof acc);
}

/* F.cross_entropy(torch.tensor([[1.,2.,3.],[.5,-1.,.25]]),
 *                 torch.tensor([2,0]), label_smoothing=0.1) in PyTorch 1.13 */
Test(ops, xent_matches_pytorch)
{
	float logits[6] = { 1, 2, 3, 0.5f, -1, 0.25f };
	int32_t labels[2] = { 2, 0 };
	double loss = be->xent(NULL, NULL, NULL, logits, labels, NULL, 2, 3, 0.1f);
	cr_assert_float_eq(loss, 0.63002574, 1e-6);
}

Test(ops, xent_gradcheck)
{
	jm_rng r;
	jm_rng_seed(&r, 16);
	int B = 5, K = 7;
	int32_t labels[5] = { 0, 6, 3, 3, 1 };
	xent_ctx c = { B, K, randv(&r, (size_t)B * K, -3, 3), NULL, 0, labels };
	float *dz = vec((size_t)B * K);
	static const float smooth[] = { 0.0f, 0.2f };
	for (int i = 0; i < 2; i++) {
		c.smoothing = smooth[i];
		be->xent(dz, NULL, NULL, c.logits, c.labels, NULL, B, K, c.smoothing);
		cr_assert_eq(jt_gradcheck("xent dlogits", xent_loss, &c, c.logits,
					  (size_t)B * K, dz, 1e-2, 1e-2, 1e-5), 0);
	}
	/* soft targets (rows of a softmax) */
	c.labels = NULL;
	c.soft = randv(&r, (size_t)B * K, 0, 1);
	for (int i = 0; i < B; i++) {
		double s = 0;
		for (int k = 0; k < K; k++)
			s += c.soft[i * K + k];
		for (int k = 0; k < K; k++)
			c.soft[i * K + k] /= (float)s;
	}
	be->xent(dz, NULL, NULL, c.logits, NULL, c.soft, B, K, 0);
	cr_assert_eq(jt_gradcheck("xent soft dlogits", xent_loss, &c, c.logits,
				  (size_t)B * K, dz, 1e-2, 1e-2, 1e-5), 0);
	free(c.logits), free(c.soft), free(dz);
}

/* ----------------------------------------------------------------- mse */

typedef struct {
	int B, K;
	float *pred, *target;
} mse_ctx;

static double mse_loss(void *p)
{
	mse_ctx *c = p;
	return be->mse(NULL, NULL, c->pred, c->target, c->B, c->K);
}

/* F.mse_loss(torch.tensor([[1.,2.],[3.,-1.]]), torch.tensor([[0.,2.5],[1.,1.]])):
 * (1 + 0.25 + 4 + 4) / 4 = 2.3125 */
Test(ops, mse_hand_values)
{
	float pred[4] = { 1, 2, 3, -1 }, target[4] = { 0, 2.5f, 1, 1 }, dp[4], sl[2];
	double loss = be->mse(dp, sl, pred, target, 2, 2);
	cr_assert_float_eq(loss, 2.3125, 1e-12);
	cr_assert_float_eq(sl[0], 0.625, 1e-7);
	cr_assert_float_eq(sl[1], 4.0, 1e-7);
	static const float want[4] = { 0.5f, -0.25f, 1.0f, -1.0f }; /* 2 e / 4 */
	for (int i = 0; i < 4; i++)
		cr_assert_float_eq(dp[i], want[i], 1e-7);
	cr_assert_eq(be->mse(NULL, NULL, NULL, NULL, 0, 1), 0.0);
}

Test(ops, mse_gradcheck)
{
	jm_rng r;
	jm_rng_seed(&r, 17);
	int B = 6, K = 3;
	mse_ctx c = { B, K, randv(&r, (size_t)B * K, -3, 3), randv(&r, (size_t)B * K, -2, 2) };
	float *dp = vec((size_t)B * K);
	be->mse(dp, NULL, c.pred, c.target, B, K);
	cr_assert_eq(jt_gradcheck("mse dpred", mse_loss, &c, c.pred, (size_t)B * K, dp, 1e-2,
				  1e-2, 1e-5), 0);
	free(c.pred), free(c.target), free(dp);
}

/* -------------------------------------------------------------- gathers */

Test(ops, gathers)
{
	enum { R = 5, D = 7, B = 4 };
	uint8_t src[R * D];
	float srcf[R * D], out[B * D];
	for (int i = 0; i < R * D; i++) {
		src[i] = (uint8_t)(i * 37 % 256);
		srcf[i] = (float)i * 0.5f - 3;
	}
	int32_t idx[B] = { 3, 0, 3, 4 };
	be->gather_u8(out, src, idx, B, D, 1.0f / 255, -0.5f);
	for (int i = 0; i < B; i++)
		for (int j = 0; j < D; j++)
			cr_assert_float_eq(out[i * D + j],
					   src[idx[i] * D + j] / 255.0 - 0.5, 1e-6);
	be->gather_f32(out, srcf, idx, B, D);
	for (int i = 0; i < B; i++)
		cr_assert_eq(memcmp(out + i * D, srcf + idx[i] * D, D * sizeof *out), 0);
}

/* ----------------------------------------------------------- optimizers */

Test(ops, adam_and_adamw_match_torch_formulas)
{
	jm_rng r;
	jm_rng_seed(&r, 17);
	enum { N = 37, STEPS = 4 };
	const double lr = 1e-2, b1 = 0.9, b2 = 0.999, eps = 1e-8;
	for (int decoupled = 0; decoupled < 2; decoupled++) {
		double wd = decoupled ? 0.05 : 0.1;
		float *p = randv(&r, N, -1, 1), *m = vec(N), *v = vec(N);
		double pd[N], md[N] = { 0 }, vd[N] = { 0 };
		for (int i = 0; i < N; i++)
			pd[i] = p[i];
		for (int t = 1; t <= STEPS; t++) {
			float *g = randv(&r, N, -1, 1);
			double bc1 = 1 - pow(b1, t), bc2 = 1 - pow(b2, t);
			for (int i = 0; i < N; i++) {
				double gi = g[i];
				if (decoupled)
					pd[i] *= 1 - lr * wd;
				else
					gi += wd * pd[i];
				md[i] = b1 * md[i] + (1 - b1) * gi;
				vd[i] = b2 * vd[i] + (1 - b2) * gi * gi;
				pd[i] -= lr * (md[i] / bc1) / (sqrt(vd[i] / bc2) + eps);
			}
			be->adam_step(p, m, v, g, N, lr, b1, b2, eps, wd, bc1, bc2,
				      decoupled);
			free(g);
		}
		expect_close(decoupled ? "adamw p" : "adam p", p, pd, N, 1e-5, 1e-6);
		expect_close("adam m", m, md, N, 1e-5, 1e-7);
		expect_close("adam v", v, vd, N, 1e-5, 1e-9);
		free(p), free(m), free(v);
	}
}

/* torch.optim.AdamW(lr=0.1, weight_decay=0.1) on p = [1, -2], two steps
 * with grads [0.5, 0.25] then [-1, 2], in PyTorch 1.13. */
Test(ops, adamw_matches_pytorch)
{
	float p[2] = { 1, -2 }, m[2] = { 0 }, v[2] = { 0 };
	float g1[2] = { 0.5f, 0.25f }, g2[2] = { -1, 2 };
	be->adam_step(p, m, v, g1, 2, 0.1, 0.9, 0.999, 1e-8, 0.1, 1 - 0.9, 1 - 0.999, 1);
	be->adam_step(p, m, v, g2, 2, 0.1, 0.9, 0.999, 1e-8, 0.1, 1 - 0.9 * 0.9,
		      1 - 0.999 * 0.999, 1);
	cr_assert_float_eq(p[0], 0.91771042f, 1e-6);
	cr_assert_float_eq(p[1], -2.14134669f, 1e-6);
}

Test(ops, sgd_matches_torch_formulas)
{
	jm_rng r;
	jm_rng_seed(&r, 18);
	enum { N = 29, STEPS = 4 };
	const double lr = 0.05f, mu = 0.9f, wd = 0.01f;
	for (int mode = 0; mode < 3; mode++) { /* plain, momentum, nesterov */
		double mom = mode ? mu : 0;
		float *p = randv(&r, N, -1, 1), *buf = mode ? randv(&r, N, 7, 8) : NULL;
		double pd[N], bd[N];
		for (int i = 0; i < N; i++)
			pd[i] = p[i];
		for (int t = 1; t <= STEPS; t++) {
			float *g = randv(&r, N, -1, 1);
			for (int i = 0; i < N; i++) {
				double d = g[i] + wd * pd[i];
				if (mom != 0) {
					bd[i] = t == 1 ? d : mom * bd[i] + d;
					d = mode == 2 ? d + mom * bd[i] : bd[i];
				}
				pd[i] -= lr * d;
			}
			be->sgd_step(p, buf, g, N, (float)lr, (float)mom, (float)wd,
				     mode == 2, t == 1);
			free(g);
		}
		expect_close("sgd p", p, pd, N, 1e-5, 1e-6);
		if (buf)
			expect_close("sgd buf", buf, bd, N, 1e-5, 1e-6);
		free(p), free(buf);
	}
}

Test(ops, sumsq_and_scale)
{
	jm_rng r;
	jm_rng_seed(&r, 19);
	size_t n = 1001;
	float *x = randv(&r, n, -2, 2), *y = vec(n);
	double s = 0;
	for (size_t i = 0; i < n; i++)
		s += (double)x[i] * x[i];
	cr_assert_float_eq(be->sumsq(x, n), s, 1e-9 * s);
	memcpy(y, x, n * sizeof *x);
	be->scale(y, -0.25f, n);
	for (size_t i = 0; i < n; i++)
		cr_assert_eq(y[i], x[i] * -0.25f);
	cr_assert_eq(be->sumsq(x, 0), 0.0);
	free(x), free(y);
}

Test(ops, memory)
{
	float *p = be->alloc(1000 * sizeof *p);
	cr_assert_not_null(p);
	cr_assert_eq((uintptr_t)p % 64, 0);
	for (int i = 0; i < 1000; i++)
		cr_assert_eq(p[i], 0.0f);
	float host[3] = { 1, 2, 3 }, back[3];
	be->to_device(p, host, sizeof host);
	be->to_host(back, p, sizeof back);
	cr_assert_eq(memcmp(host, back, sizeof host), 0);
	be->free(p);
	be->free(NULL);
	cr_assert_str_eq(be->name, "cpu");
	cr_assert_not_null(jm_blas_corename());
	cr_assert_geq(jm_blas_threads(), 1);
}

/* ------------------------------------------------------- worker threads */

/* A convolution split across worker threads gives what one thread gives
 * (up to the order of the gradient sums), for odd batch sizes too. */
static void conv_workers_case(int B, int C, int H, int W, int OC, int K, int S, int pad,
			      int workers)
{
	jm_rng r;
	jm_rng_seed(&r, (uint64_t)(B * 131 + C * 17 + workers));
	int OH = (H + 2 * pad - K) / S + 1, OW = (W + 2 * pad - K) / S + 1;
	size_t nin = (size_t)B * C * H * W, nout = (size_t)B * OC * OH * OW;
	size_t nw = (size_t)OC * C * K * K;
	float *in = randv(&r, nin, -1, 1), *w = randv(&r, nw, -1, 1), *b = randv(&r, OC, -1, 1);
	float *dout = randv(&r, nout, -1, 1);
	float *out[2], *din[2], *dw[2], *db[2];
	for (int t = 0; t < 2; t++) {
		jm_cpu_set_workers(t ? workers : 1);
		float *scratch = vec(be->conv2d_scratch_floats(B, C, H, W, OC, K, S, pad));
		out[t] = vec(nout), din[t] = vec(nin), dw[t] = vec(nw), db[t] = vec(OC);
		/* gradients accumulate onto what is there */
		for (size_t i = 0; i < nw; i++)
			dw[t][i] = 0.5f;
		be->conv2d_forward(out[t], in, w, b, B, C, H, W, OC, K, S, pad, scratch);
		be->conv2d_backward(din[t], dw[t], db[t], dout, in, w, B, C, H, W, OC, K, S, pad,
				    scratch);
		free(scratch);
	}
	jm_cpu_set_workers(1);
	double *ref = calloc(nin > nout ? (nin > nw ? nin : nw) : (nout > nw ? nout : nw),
			     sizeof *ref);
	for (size_t i = 0; i < nout; i++)
		ref[i] = out[0][i];
	expect_close("forward", out[1], ref, nout, 1e-5, 1e-5);
	for (size_t i = 0; i < nin; i++)
		ref[i] = din[0][i];
	expect_close("din", din[1], ref, nin, 1e-5, 1e-5);
	for (size_t i = 0; i < nw; i++)
		ref[i] = dw[0][i];
	expect_close("dw", dw[1], ref, nw, 1e-4, 1e-4);
	for (int i = 0; i < OC; i++)
		ref[i] = db[0][i];
	expect_close("db", db[1], ref, OC, 1e-4, 1e-4);
	for (int t = 0; t < 2; t++)
		free(out[t]), free(din[t]), free(dw[t]), free(db[t]);
	free(in), free(w), free(b), free(dout), free(ref);
}

Test(ops, conv2d_split_across_workers)
{
	conv_workers_case(7, 3, 9, 9, 5, 3, 1, 1, 2);  /* parts of 4 and 3 */
	conv_workers_case(5, 2, 8, 8, 4, 3, 2, 1, 3);  /* im2col path */
	conv_workers_case(2, 4, 6, 6, 3, 3, 1, 0, 4);  /* fewer samples than workers */
	conv_workers_case(16, 1, 28, 28, 8, 3, 1, 1, 2);
	cr_expect_eq(jm_cpu_workers(), 1);
	jm_cpu_set_workers(0);
	cr_expect_eq(jm_cpu_workers(), 1, "0 workers means 1");
	jm_cpu_set_workers(1000);
	cr_expect_eq(jm_cpu_workers(), JM_CPU_MAX_WORKERS);
	jm_cpu_set_workers(1);
}

/* A NaN passes through the ReLU, alone or after batch norm (as in
 * PyTorch), so a network that makes one fails as diverged at its loss
 * rather than training on the zeros the ReLU would have made of it. */
Test(ops, relu_passes_nan)
{
	float in[5] = {NAN, -1.0f, 0.0f, -0.0f, 2.0f}, out[5];
	be->act_forward(JM_ACT_RELU, out, in, 5);
	cr_expect(isnan(out[0]), "relu(NaN) = %g", out[0]);
	cr_expect(out[1] == 0.0f && out[2] == 0.0f && !signbit(out[3]) && out[3] == 0.0f &&
			  out[4] == 2.0f,
		  "%g %g %g %g", out[1], out[2], out[3], out[4]);
	float x[6] = {1.0f, NAN, -3.0f, 4.0f, -5.0f, 6.0f}, y[6], rm[2] = {0, 0}, rv[2] = {1, 1};
	be->batchnorm_forward(y, NULL, NULL, x, NULL, NULL, rm, rv, 1, 2, 3, 0, 0.1f, 1e-5f, 1);
	cr_expect(isnan(y[1]), "bn+relu(NaN) = %g", y[1]);
	cr_expect(y[0] > 0.0f && y[2] == 0.0f && y[4] == 0.0f, "%g %g %g", y[0], y[2], y[4]);
}

/* Batch norm with its ReLU (relu, out) gives each value as batch norm
 * then act_forward, and act_backward then batch norm backward, give it:
 * to the bit, on one worker and three, in training and in eval. */
Test(ops, batchnorm_relu_is_the_two_ops_to_the_bit)
{
	jm_rng r;
	jm_rng_seed(&r, 41);
	enum { B = 6, C = 70, HW = 9 * 9 };
	size_t n = (size_t)B * C * HW;
	float *in = randv(&r, n, -2, 2), *dout = randv(&r, n, -1, 1);
	float *gamma = randv(&r, C, 0.5f, 1.5f), *beta = randv(&r, C, -0.5f, 0.5f);
	float *bn = vec(n), *act = vec(n), *dact = vec(n), *fused = vec(n);
	float *din[2] = {vec(n), vec(n)}, *dg[2] = {vec(C), vec(C)}, *dbt[2] = {vec(C), vec(C)};
	float *mean = vec(C), *rstd = vec(C), *rm[2] = {vec(C), vec(C)}, *rv[2] = {vec(C), vec(C)};
	for (int workers = 1; workers <= 3; workers += 2) {
		jm_cpu_set_workers(workers);
		for (int training = 1; training >= 0; training--) {
			for (int t = 0; t < 2; t++) {
				memset(dg[t], 0, C * sizeof(float));
				memset(dbt[t], 0, C * sizeof(float));
				for (int c = 0; c < C; c++)
					rm[t][c] = 0.25f, rv[t][c] = 2.0f;
			}
			be->batchnorm_forward(bn, mean, rstd, in, gamma, beta, rm[0], rv[0], B, C, HW,
					      training, 0.1f, 1e-5f, 0);
			be->act_forward(JM_ACT_RELU, act, bn, n);
			be->batchnorm_forward(fused, mean, rstd, in, gamma, beta, rm[1], rv[1], B, C,
					      HW, training, 0.1f, 1e-5f, 1);
			cr_expect_eq(memcmp(fused, act, n * sizeof(float)), 0,
				     "forward (training %d, %d workers)", training, workers);
			cr_expect_eq(memcmp(rv[0], rv[1], C * sizeof(float)), 0, "running_var");
			if (!training)
				continue;
			be->act_backward(JM_ACT_RELU, dact, dout, bn, act, n);
			be->batchnorm_backward(din[0], dg[0], dbt[0], dact, in, mean, rstd, gamma,
					       NULL, B, C, HW);
			be->batchnorm_backward(din[1], dg[1], dbt[1], dout, in, mean, rstd, gamma,
					       fused, B, C, HW);
			cr_expect_eq(memcmp(din[0], din[1], n * sizeof(float)), 0, "din");
			cr_expect_eq(memcmp(dg[0], dg[1], C * sizeof(float)), 0, "dgamma");
			cr_expect_eq(memcmp(dbt[0], dbt[1], C * sizeof(float)), 0, "dbeta");
			/* no input gradient wanted: the parameters' still */
			memset(dg[1], 0, C * sizeof(float));
			be->batchnorm_backward(NULL, dg[1], dbt[1], dout, in, mean, rstd, gamma, fused,
					       B, C, HW);
			cr_expect_eq(memcmp(dg[0], dg[1], C * sizeof(float)), 0, "dgamma, no din");
		}
	}
	jm_cpu_set_workers(1);
	float *all[] = {in, dout, gamma, beta, bn, act, dact, fused, din[0], din[1], dg[0], dg[1],
			dbt[0], dbt[1], mean, rstd, rm[0], rm[1], rv[0], rv[1]};
	for (size_t i = 0; i < sizeof all / sizeof *all; i++)
		free(all[i]);
}

/* Batch norm splits its channels across the workers: every channel is
 * computed alone, so the bits are the same whatever the split. */
Test(ops, batchnorm_split_across_workers_is_bit_identical)
{
	jm_rng r;
	jm_rng_seed(&r, 99);
	enum { B = 8, C = 48, HW = 28 * 28 };
	size_t n = (size_t)B * C * HW;
	float *in = randv(&r, n, -2, 2), *dout = randv(&r, n, -1, 1);
	float *gamma = randv(&r, C, 0.5f, 1.5f), *beta = randv(&r, C, -0.5f, 0.5f);
	float *out[2], *din[2], *dg[2], *dbt[2], *mean[2], *rstd[2], *rm[2], *rv[2];
	for (int t = 0; t < 2; t++) {
		jm_cpu_set_workers(t ? 3 : 1);
		out[t] = vec(n), din[t] = vec(n), dg[t] = vec(C), dbt[t] = vec(C);
		mean[t] = vec(C), rstd[t] = vec(C), rm[t] = vec(C), rv[t] = vec(C);
		for (int c = 0; c < C; c++)
			rv[t][c] = 1.0f;
		be->batchnorm_forward(out[t], mean[t], rstd[t], in, gamma, beta, rm[t], rv[t], B, C,
				      HW, 1, 0.1f, 1e-5f, 0);
		be->batchnorm_backward(din[t], dg[t], dbt[t], dout, in, mean[t], rstd[t], gamma,
				       NULL, B, C, HW);
	}
	jm_cpu_set_workers(1);
	cr_expect_eq(memcmp(out[0], out[1], n * sizeof(float)), 0, "forward differs");
	cr_expect_eq(memcmp(din[0], din[1], n * sizeof(float)), 0, "din differs");
	cr_expect_eq(memcmp(dg[0], dg[1], C * sizeof(float)), 0, "dgamma differs");
	cr_expect_eq(memcmp(dbt[0], dbt[1], C * sizeof(float)), 0, "dbeta differs");
	cr_expect_eq(memcmp(rv[0], rv[1], C * sizeof(float)), 0, "running_var differs");
	for (int t = 0; t < 2; t++)
		free(out[t]), free(din[t]), free(dg[t]), free(dbt[t]), free(mean[t]), free(rstd[t]),
			free(rm[t]), free(rv[t]);
	free(in), free(dout), free(gamma), free(beta);
}

/* Activations, dropout and pooling split their elements or planes across
 * the workers: the bits must not depend on the split.  The sizes are large
 * enough that 2, 3 and 5 workers all split them, at odd boundaries. */
Test(ops, streaming_ops_split_across_workers)
{
	/* 202,797 floats: 6 parts of JM_CPU_PAR_MIN; odd sides: 2x2 pooling leaves edges */
	enum { B = 37, C = 7, H = 29, W = 27 };
	size_t n = (size_t)B * C * H * W, np = (size_t)B * C * (H / 2) * (W / 2);
	jm_rng r;
	jm_rng_seed(&r, 77);
	float *in = randv(&r, n, -2, 2), *dout = randv(&r, n, -1, 1), *dp = randv(&r, np, -1, 1);
	float *ref[7], *got[7];
	int32_t *am[2];
	for (int t = 0; t < 4; t++) {
		static const int workers[] = { 1, 2, 3, 5 };
		jm_cpu_set_workers(workers[t]);
		float **o = t ? got : ref;
		for (int k = 0; k < 7; k++)
			o[k] = vec(n);
		am[t ? 1 : 0] = calloc(np, sizeof(int32_t));
		be->act_forward(JM_ACT_GELU, o[0], in, n);
		be->act_backward(JM_ACT_RELU, o[1], dout, in, o[0], n);
		be->dropout_forward(o[2], in, n, 0.3f, 12345);
		be->maxpool_forward(o[3], am[t ? 1 : 0], in, B, C, H, W, 2, 2);
		be->maxpool_backward(o[4], dp, am[t ? 1 : 0], B, C, H, W, 2, 2);
		be->gap_forward(o[5], in, B * 3, C, H * W / 3);
		be->gap_backward(o[6], dout, B, C, H * W);
		if (t) {
			static const char *what[] = { "gelu", "relu backward", "dropout", "maxpool",
						      "maxpool backward", "gap", "gap backward" };
			for (int k = 0; k < 7; k++)
				cr_expect_eq(memcmp(ref[k], got[k], n * sizeof(float)), 0,
					     "%s differs with %d workers", what[k], workers[t]);
			cr_expect_eq(memcmp(am[0], am[1], np * sizeof(int32_t)), 0);
			for (int k = 0; k < 7; k++)
				free(got[k]);
			free(am[1]);
		}
	}
	jm_cpu_set_workers(1);
	/* the edges no 2x2 window covers get no gradient */
	for (int pl = 0; pl < B * C; pl++) {
		const float *d = ref[4] + (size_t)pl * H * W;
		for (int w = 0; w < W; w++)
			cr_assert_eq(d[(H - 1) * W + w], 0.0f);
		for (int h = 0; h < H; h++)
			cr_assert_eq(d[h * W + W - 1], 0.0f);
	}
	for (int k = 0; k < 7; k++)
		free(ref[k]);
	free(am[0]), free(in), free(dout), free(dp);
}

/* The pool: many calls in a row, a call from inside a part (runs inline),
 * a part count above the pool's size, and a forked child that uses it. */
static void count_part(void *ctx, int part, int nparts)
{
	int *hits = ctx;
	__atomic_fetch_add(&hits[part], 1, __ATOMIC_RELAXED);
	(void)nparts;
}

static void nested_part(void *ctx, int part, int nparts)
{
	int *hits = ctx;
	jm_cpu_parallel(3, count_part, hits + 16 * (part + 1));
	(void)nparts;
}

Test(ops, worker_pool)
{
	int hits[16 * 8] = { 0 };
	for (int i = 0; i < 20000; i++)
		jm_cpu_parallel(2 + i % 3, count_part, hits);
	int expect[4] = { 20000, 20000, 20000 * 2 / 3, 20000 / 3 };
	for (int p = 0; p < 4; p++)
		cr_expect(abs(hits[p] - expect[p]) <= 1, "part %d ran %d times", p, hits[p]);
	memset(hits, 0, sizeof hits);
	jm_cpu_parallel(4, nested_part, hits);
	for (int p = 1; p <= 4; p++)
		for (int q = 0; q < 3; q++)
			cr_expect_eq(hits[16 * p + q], 1, "nested call %d part %d", p, q);
	memset(hits, 0, sizeof hits);
	jm_cpu_parallel(JM_CPU_MAX_WORKERS + 5, count_part, hits);
	for (int p = 0; p < JM_CPU_MAX_WORKERS; p++)
		cr_expect_eq(hits[p], 1);
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		int h[16] = { 0 };
		for (int i = 0; i < 1000; i++)
			jm_cpu_parallel(3, count_part, h);
		_exit(h[0] == 1000 && h[1] == 1000 && h[2] == 1000 ? 0 : 1);
	}
	int status;
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the pool in a forked child");
}

/* The linear layer's GEMMs, the optimizer passes and the batch gather
 * split across the workers: the optimizers and the gather give the same
 * bits whatever the split; the GEMM blocks match one thread's to rounding
 * (OpenBLAS may pick other kernels for the edges of a block). */
Test(ops, linear_optim_gather_split_across_workers)
{
	enum { B = 96, IN = 300, OUT = 200 }; /* 5.8 M multiply-adds: 3 parts of 1 M */
	jm_rng r;
	jm_rng_seed(&r, 99);
	float *in = randv(&r, (size_t)B * IN, -1, 1), *w = randv(&r, (size_t)OUT * IN, -1, 1);
	float *b = randv(&r, OUT, -1, 1), *dout = randv(&r, (size_t)B * OUT, -1, 1);
	size_t np = (size_t)OUT * IN;
	enum { GD = 1024 }; /* gather: 96 rows of 1024 bytes, 3 parts of 32 K floats */
	uint8_t *pix = malloc((size_t)1000 * GD);
	for (size_t i = 0; i < (size_t)1000 * GD; i++)
		pix[i] = (uint8_t)jm_rng_below(&r, 256);
	int32_t idx[B];
	for (int i = 0; i < B; i++)
		idx[i] = (int32_t)jm_rng_below(&r, 1000);
	float *res[2][10];
	for (int t = 0; t < 2; t++) {
		jm_cpu_set_workers(t ? 3 : 1);
		float **o = res[t];
		o[0] = vec((size_t)B * OUT), o[1] = vec((size_t)B * IN), o[2] = vec(np);
		o[3] = vec(OUT);
		for (size_t i = 0; i < np; i++)
			o[2][i] = 0.25f; /* dw accumulates */
		be->linear_forward(o[0], in, w, b, B, IN, OUT);
		be->linear_backward(o[1], o[2], o[3], dout, in, w, B, IN, OUT);
		/* adamw and sgd with nesterov on copies of w, driven by dw */
		o[4] = vec(np), o[5] = vec(np), o[6] = vec(np), o[7] = vec(np), o[9] = vec(np);
		memcpy(o[4], w, np * sizeof *w);
		memcpy(o[7], w, np * sizeof *w);
		for (int s = 1; s <= 3; s++) {
			be->adam_step(o[4], o[5], o[6], o[2], np, 1e-3, 0.9, 0.999, 1e-8, 0.01,
				      1 - pow(0.9, s), 1 - pow(0.999, s), 1);
			be->sgd_step(o[7], o[9], o[2], np, 0.01f, 0.9f, 1e-4f, 1, s == 1);
		}
		o[8] = vec((size_t)B * GD);
		be->gather_u8(o[8], pix, idx, B, GD, 1.0f / 255, -0.5f);
	}
	jm_cpu_set_workers(1);
	double *ref = calloc(np, sizeof *ref);
	static const char *what[] = { "forward", "din", "dw", "db" };
	size_t sizes[] = { (size_t)B * OUT, (size_t)B * IN, np, OUT };
	for (int k = 0; k < 4; k++) {
		for (size_t i = 0; i < sizes[k]; i++)
			ref[i] = res[0][k][i];
		expect_close(what[k], res[1][k], ref, sizes[k], 1e-5, 1e-5);
	}
	/* the optimizers read dw, which may differ in the last bit: compare
	 * them on the single-thread dw instead */
	jm_cpu_set_workers(3);
	float *p3 = vec(np), *m3 = vec(np), *v3 = vec(np), *s3 = vec(np), *sb3 = vec(np);
	memcpy(p3, w, np * sizeof *w);
	memcpy(s3, w, np * sizeof *w);
	for (int s = 1; s <= 3; s++) {
		be->adam_step(p3, m3, v3, res[0][2], np, 1e-3, 0.9, 0.999, 1e-8, 0.01,
			      1 - pow(0.9, s), 1 - pow(0.999, s), 1);
		be->sgd_step(s3, sb3, res[0][2], np, 0.01f, 0.9f, 1e-4f, 1, s == 1);
	}
	jm_cpu_set_workers(1);
	cr_expect_eq(memcmp(p3, res[0][4], np * sizeof(float)), 0, "adamw differs across workers");
	cr_expect_eq(memcmp(s3, res[0][7], np * sizeof(float)), 0, "sgd differs across workers");
	cr_expect_eq(memcmp(res[0][8], res[1][8], (size_t)B * GD * sizeof(float)), 0,
		     "gather differs across workers");
	for (int t = 0; t < 2; t++)
		for (int k = 0; k < 10; k++)
			free(res[t][k]);
	free(p3), free(m3), free(v3), free(s3), free(sb3), free(ref);
	free(in), free(w), free(b), free(dout), free(pix);
}
