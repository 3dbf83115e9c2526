/*
 * test_cuda.c: every op of the CUDA backend against the CPU backend on the
 * same random inputs, with tolerances for float32 work done in another
 * order (reductions, cuBLAS).  Without a GPU (or without the module) each
 * test is skipped with the reason, which the test summary prints.
 *
 * The module is found as jianmo finds it: JIANMO_CUDA_MODULE, else beside
 * the jianmo binary ($JIANMO_BIN's directory: the build tree).
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/backend.h"
#include "testutil.h"
#include "util/rng.h"

static const jm_backend *cpu = &jm_backend_cpu;
static const jm_backend *gpu;
static char gpu_why[2048];

static void need_gpu(void)
{
	static int tried;
	if (!tried) {
		tried = 1;
		const char *bin = getenv("JIANMO_BIN");
		if (!getenv("JIANMO_CUDA_MODULE") && bin) {
			char path[4096];
			snprintf(path, sizeof path, "%s", bin);
			char *slash = strrchr(path, '/');
			if (slash) {
				snprintf(slash + 1, sizeof path - (size_t)(slash + 1 - path),
					 "jianmo-cuda.so");
				setenv("JIANMO_CUDA_MODULE", path, 1);
			}
		}
		if (jm_backend_for_device("cuda", &gpu, NULL, 0, gpu_why, sizeof gpu_why) < 0)
			gpu = NULL;
	}
	if (!gpu && getenv("JIANMO_REQUIRE_GPU")) /* the device machine: no silent skips */
		cr_assert_fail("no GPU, and JIANMO_REQUIRE_GPU is set: %s", gpu_why);
	if (!gpu)
		cr_skip_test("no GPU: %s", gpu_why);
}

/* ---- host/device helpers ---- */

static float *randv(jm_rng *r, size_t n, float lo, float hi)
{
	float *v = malloc((n ? n : 1) * sizeof *v);
	for (size_t i = 0; i < n; i++)
		v[i] = lo + (hi - lo) * jm_rng_uniformf(r);
	return v;
}

/* A device copy of host floats. */
static float *up(const float *h, size_t n)
{
	float *d = gpu->alloc((n ? n : 1) * sizeof *d);
	cr_assert_not_null(d, "device allocation of %zu floats", n);
	gpu->to_device(d, h, n * sizeof *h);
	return d;
}

static float *down(const float *d, size_t n)
{
	float *h = malloc((n ? n : 1) * sizeof *h);
	gpu->to_host(h, d, n * sizeof *h);
	return h;
}

static void synced(void)
{
	char why[512];
	cr_assert_eq(gpu->sync(why, sizeof why), 0, "device error: %s", why);
}

/* |got - want| <= atol + rtol*|want| everywhere */
static void expect_close(const char *what, const float *got_dev, const float *want, size_t n,
			 double atol, double rtol)
{
	synced();
	float *got = down(got_dev, n);
	size_t bad = 0, first = 0;
	for (size_t i = 0; i < n; i++) {
		double d = fabs((double)got[i] - want[i]);
		if (!(d <= atol + rtol * fabs(want[i]))) {
			if (!bad)
				first = i;
			bad++;
		}
	}
	cr_expect_eq(bad, 0, "%s: %zu of %zu differ; first at %zu: gpu %g, cpu %g", what, bad, n,
		     first, bad ? got[first] : 0.0, bad ? want[first] : 0.0);
	free(got);
}

Test(cuda, memory_fill_copies)
{
	need_gpu();
	float *d = gpu->alloc(1000 * sizeof(float));
	cr_assert_not_null(d);
	float *h = down(d, 1000);
	for (int i = 0; i < 1000; i++)
		cr_assert_eq(h[i], 0.0f, "alloc is zeroed");
	free(h);
	gpu->fill(d, 2.5f, 999);
	h = down(d, 1000);
	cr_expect_eq(h[998], 2.5f);
	cr_expect_eq(h[999], 0.0f);
	free(h);
	gpu->free(d);
	gpu->free(NULL);
	cr_expect_str_eq(gpu->name, "cuda");
	synced();
}

static void sgemm_case(int ta, int tb, int M, int N, int K, float beta)
{
	jm_rng r;
	jm_rng_seed(&r, (uint64_t)(M * 7 + N * 3 + K + ta * 2 + tb));
	float *A = randv(&r, (size_t)M * K, -1, 1), *B = randv(&r, (size_t)K * N, -1, 1);
	float *C = randv(&r, (size_t)M * N, -1, 1);
	float *dA = up(A, (size_t)M * K), *dB = up(B, (size_t)K * N), *dC = up(C, (size_t)M * N);
	cpu->sgemm(ta, tb, M, N, K, 0.75f, A, B, beta, C);
	gpu->sgemm(ta, tb, M, N, K, 0.75f, dA, dB, beta, dC);
	char what[64];
	snprintf(what, sizeof what, "sgemm %c%c %dx%dx%d", ta ? 'T' : 'N', tb ? 'T' : 'N', M, N, K);
	expect_close(what, dC, C, (size_t)M * N, 1e-4, 1e-4);
	gpu->free(dA), gpu->free(dB), gpu->free(dC);
	free(A), free(B), free(C);
}

Test(cuda, sgemm_all_transposes)
{
	need_gpu();
	for (int ta = 0; ta < 2; ta++)
		for (int tb = 0; tb < 2; tb++) {
			sgemm_case(ta, tb, 37, 53, 29, 0.0f);
			sgemm_case(ta, tb, 128, 256, 784, 1.0f);
		}
}

/* The CPU twins of the 16-bit GEMM inputs: round to nearest even. */
static float round_bf16(float x)
{
	uint32_t u;
	memcpy(&u, &x, 4);
	u += 0x7fffu + ((u >> 16) & 1u);
	u &= 0xffff0000u;
	memcpy(&x, &u, 4);
	return x;
}

static float round_fp16(float x)
{
	return (float)(_Float16)x;
}

/* [train] precision's GEMMs against their CPU twins: bf16 and fp16 are
 * sgemm on the inputs rounded as the GPU rounds them (the products are
 * exact in fp32, so only the summation order differs); tf32 is within
 * its 10-bit mantissa of fp32. */
static void gemm_precision_case(int prec, int ta, int tb, int M, int N, int K)
{
	jm_rng r;
	jm_rng_seed(&r, (uint64_t)(prec * 1000 + M + N + K + ta * 2 + tb));
	size_t na = (size_t)M * K, nb = (size_t)K * N, nc = (size_t)M * N;
	float *A = randv(&r, na, -1, 1), *B = randv(&r, nb, -1, 1), *C = randv(&r, nc, -1, 1);
	float *dA = up(A, na), *dB = up(B, nb), *dC = up(C, nc);
	if (prec != JM_PREC_TF32) {
		for (size_t i = 0; i < na; i++)
			A[i] = prec == JM_PREC_BF16 ? round_bf16(A[i]) : round_fp16(A[i]);
		for (size_t i = 0; i < nb; i++)
			B[i] = prec == JM_PREC_BF16 ? round_bf16(B[i]) : round_fp16(B[i]);
	}
	cpu->sgemm(ta, tb, M, N, K, 0.75f, A, B, 1.0f, C);
	gpu->sgemm(ta, tb, M, N, K, 0.75f, dA, dB, 1.0f, dC);
	char what[64];
	snprintf(what, sizeof what, "%s gemm %c%c %dx%dx%d",
		 prec == JM_PREC_TF32 ? "tf32" : prec == JM_PREC_BF16 ? "bf16" : "fp16",
		 ta ? 'T' : 'N', tb ? 'T' : 'N', M, N, K);
	if (prec == JM_PREC_TF32)
		expect_close(what, dC, C, nc, 3e-3 * sqrt((double)K), 1e-3);
	else
		expect_close(what, dC, C, nc, 1e-4 * sqrt((double)K), 1e-4);
	gpu->free(dA), gpu->free(dB), gpu->free(dC);
	free(A), free(B), free(C);
}

/* The CPU twin's inputs to a GEMM at precision prec: rounded as the GPU
 * rounds them (a copy; plain for fp32 and tf32). */
static float *gemm_input(int prec, const float *x, size_t n)
{
	float *y = malloc((n ? n : 1) * sizeof *y);
	for (size_t i = 0; i < n; i++)
		y[i] = prec == JM_PREC_BF16 ? round_bf16(x[i])
		       : prec == JM_PREC_FP16 ? round_fp16(x[i]) : x[i];
	return y;
}

/* db += the column sums of dout [rows, cols]: the bias gradient, which no
 * GEMM touches (so never rounded). */
static void colsum_acc(float *db, const float *dout, int rows, int cols)
{
	for (int c = 0; c < cols; c++) {
		double sum = db[c];
		for (int r = 0; r < rows; r++)
			sum += dout[(size_t)r * cols + c];
		db[c] = (float)sum;
	}
}

/* The linear layer on the GPU at the precision set, against the CPU on
 * inputs rounded the same way (the bias and its gradient in fp32). */
static void linear_case(int prec)
{
	enum { B = 33, IN = 70, OUT = 45 };
	jm_rng r;
	jm_rng_seed(&r, 3);
	float *in = randv(&r, B * IN, -1, 1), *w = randv(&r, OUT * IN, -1, 1);
	float *b = randv(&r, OUT, -1, 1), *dout = randv(&r, B * OUT, -1, 1);
	float *out = calloc(B * OUT, 4), *din = calloc(B * IN, 4), *dw = calloc(OUT * IN, 4),
	      *db = calloc(OUT, 4);
	float *gin = up(in, B * IN), *gw = up(w, OUT * IN), *gb = up(b, OUT),
	      *gdout = up(dout, B * OUT);
	float *gout = up(out, B * OUT), *gdin = up(din, B * IN), *gdw = up(dw, OUT * IN),
	      *gdb = up(db, OUT);
	float *rin = gemm_input(prec, in, B * IN), *rw = gemm_input(prec, w, OUT * IN),
	      *rdout = gemm_input(prec, dout, B * OUT);
	cpu->linear_forward(out, rin, rw, b, B, IN, OUT);
	gpu->linear_forward(gout, gin, gw, gb, B, IN, OUT);
	cpu->linear_backward(din, dw, NULL, rdout, rin, rw, B, IN, OUT);
	colsum_acc(db, dout, B, OUT);
	gpu->linear_backward(gdin, gdw, gdb, gdout, gin, gw, B, IN, OUT);
	double tol = prec == JM_PREC_TF32 ? 3e-2 : 1e-4;
	expect_close("linear forward", gout, out, B * OUT, tol, tol);
	expect_close("linear din", gdin, din, B * IN, tol, tol);
	expect_close("linear dw", gdw, dw, OUT * IN, tol, tol);
	expect_close("linear db", gdb, db, OUT, 1e-4, 1e-4);
	/* the first layer's backward: no input gradient; dw adds again */
	cpu->linear_backward(NULL, dw, NULL, rdout, rin, rw, B, IN, OUT);
	gpu->linear_backward(NULL, gdw, NULL, gdout, gin, gw, B, IN, OUT);
	expect_close("linear dw, no din", gdw, dw, OUT * IN, tol, tol);
	float *ptrs[] = {gin, gw, gb, gdout, gout, gdin, gdw, gdb};
	for (int i = 0; i < 8; i++)
		gpu->free(ptrs[i]);
	free(in), free(w), free(b), free(dout), free(out), free(din), free(dw), free(db);
	free(rin), free(rw), free(rdout);
}

Test(cuda, linear)
{
	need_gpu();
	linear_case(JM_PREC_FP32);
}

static void conv_case_at(int prec, int B, int C, int H, int W, int OC, int K, int S, int pad,
			 int bias)
{
	jm_rng r;
	jm_rng_seed(&r, (uint64_t)(B + C * 10 + OC * 100 + K * 1000 + S + pad));
	int OH = (H + 2 * pad - K) / S + 1, OW = (W + 2 * pad - K) / S + 1;
	size_t nin = (size_t)B * C * H * W, nout = (size_t)B * OC * OH * OW,
	       nw = (size_t)OC * C * K * K;
	float *in = randv(&r, nin, -1, 1), *w = randv(&r, nw, -1, 1), *b = randv(&r, OC, -1, 1);
	float *dout = randv(&r, nout, -1, 1);
	float *out = calloc(nout, 4), *din = calloc(nin, 4), *dw = randv(&r, nw, -1, 1),
	      *db = randv(&r, OC, -1, 1);
	float *gin = up(in, nin), *gw = up(w, nw), *gb = up(b, OC), *gdout = up(dout, nout);
	float *gout = up(out, nout), *gdin = up(din, nin), *gdw = up(dw, nw), *gdb = up(db, OC);
	float *cs = calloc(cpu->conv2d_scratch_floats(B, C, H, W, OC, K, S, pad) + 1, 4);
	size_t gsn = gpu->conv2d_scratch_floats(B, C, H, W, OC, K, S, pad);
	float *gs = gpu->alloc((gsn + 1) * sizeof(float));
	/* the CPU twin on the GEMMs' inputs rounded as the GPU rounds them;
	 * the bias gradient sums dout itself, unrounded */
	float *rin = gemm_input(prec, in, nin), *rw = gemm_input(prec, w, nw),
	      *rdout = gemm_input(prec, dout, nout);
	cpu->conv2d_forward(out, rin, rw, bias ? b : NULL, B, C, H, W, OC, K, S, pad, cs);
	gpu->conv2d_forward(gout, gin, gw, bias ? gb : NULL, B, C, H, W, OC, K, S, pad, gs);
	cpu->conv2d_backward(din, dw, NULL, rdout, rin, rw, B, C, H, W, OC, K, S, pad, cs);
	for (int oc = 0; bias && oc < OC; oc++) {
		double sum = db[oc];
		for (int n = 0; n < B; n++)
			for (int p = 0; p < OH * OW; p++)
				sum += dout[((size_t)n * OC + oc) * OH * OW + p];
		db[oc] = (float)sum;
	}
	gpu->conv2d_backward(gdin, gdw, bias ? gdb : NULL, gdout, gin, gw, B, C, H, W, OC, K, S,
			     pad, gs);
	char what[96];
	double tol = prec == JM_PREC_TF32 ? 3e-2 : 1e-4;
	snprintf(what, sizeof what, "conv %dx%dx%dx%d->%d k%d s%d p%d (precision %d)", B, C, H, W,
		 OC, K, S, pad, prec);
	expect_close(what, gout, out, nout, tol, tol);
	expect_close("conv din", gdin, din, nin, tol, tol);
	/* dw sums B*OH*OW products: at 16 bits cuBLAS's tensor-core sums
	 * (im2col path) may run long, and round toward zero */
	int h16 = prec == JM_PREC_BF16 || prec == JM_PREC_FP16;
	expect_close("conv dw", gdw, dw, nw, 10 * tol + (h16 ? 6e-7 * B * OH * OW : 0.0), tol);
	expect_close("conv db", gdb, db, OC, 1e-3, 1e-4);
	float *ptrs[] = {gin, gw, gb, gdout, gout, gdin, gdw, gdb, gs};
	for (int i = 0; i < 9; i++)
		gpu->free(ptrs[i]);
	free(in), free(w), free(b), free(dout), free(out), free(din), free(dw), free(db), free(cs);
	free(rin), free(rw), free(rdout);
}

static void conv_case(int B, int C, int H, int W, int OC, int K, int S, int pad, int bias)
{
	conv_case_at(JM_PREC_FP32, B, C, H, W, OC, K, S, pad, bias);
}

Test(cuda, conv2d)
{
	need_gpu();
	conv_case(3, 2, 9, 7, 5, 3, 1, 1, 1);
	conv_case(4, 3, 8, 8, 4, 3, 2, 1, 0);
	conv_case(2, 4, 6, 6, 3, 1, 1, 0, 1);
	conv_case(16, 32, 14, 14, 64, 3, 1, 1, 0);
	conv_case(2, 1, 28, 28, 8, 5, 1, 2, 1);
	conv_case(80, 32, 28, 28, 32, 3, 1, 1, 1); /* two chunks */
}

/* Convolutions at a GEMM precision: at bf16 and fp16 these are the
 * implicit GEMMs (cuda_conv_igemm.cu) unless JIANMO_CUDA_CONV=im2col. */
static void conv_cases_at(int prec)
{
	conv_case_at(prec, 3, 2, 9, 7, 5, 3, 1, 1, 1);
	conv_case_at(prec, 4, 3, 8, 8, 4, 3, 2, 1, 0);   /* stride 2 */
	conv_case_at(prec, 2, 1, 28, 28, 8, 5, 1, 2, 1); /* one channel in, 5x5 */
	conv_case_at(prec, 16, 32, 14, 14, 64, 3, 1, 1, 1);
	conv_case_at(prec, 5, 48, 7, 7, 130, 3, 1, 1, 1); /* tiles cut at both edges */
	/* two chunks of columns (im2col), a long split sum (implicit GEMM);
	 * left out under compute-sanitizer (JIANMO_TEST_QUICK), where its
	 * 200,000 columns would take minutes */
	if (!getenv("JIANMO_TEST_QUICK"))
		conv_case_at(prec, 80, 32, 28, 28, 32, 3, 1, 1, 1);
}

/* The convolution cases at bf16 and fp16 on the path JIANMO_CUDA_CONV
 * names (read when the module opens), with more where extra is given. */
static void conv_path_at_16_bits(const char *path, void (*extra)(int prec))
{
	setenv("JIANMO_CUDA_CONV", path, 1);
	need_gpu();
	const int precs[] = {JM_PREC_BF16, JM_PREC_FP16};
	char why[512];
	for (size_t i = 0; i < 2; i++) {
		if (gpu->set_precision(precs[i], why, sizeof why) < 0) {
			cr_log_warn("SKIPPED precision %d: %s", precs[i], why);
			continue;
		}
		conv_cases_at(precs[i]);
		if (extra)
			extra(precs[i]);
	}
}

/* The 16-bit convolutions' im2col path, kept for shapes beyond the
 * implicit GEMMs and for comparison. */
Test(cuda, conv_im2col_path_at_16_bits)
{
	conv_path_at_16_bits("im2col", NULL);
}

static void channels_inner_cases(int prec)
{
	conv_case_at(prec, 6, 64, 7, 7, 96, 3, 1, 1, 0);  /* 64-row tiles of A */
	conv_case_at(prec, 4, 32, 9, 9, 32, 3, 2, 1, 1);  /* stride 2: forward only */
	conv_case_at(prec, 4, 32, 11, 9, 32, 5, 1, 2, 0); /* 5x5 */
	conv_case_at(prec, 8, 64, 6, 6, 32, 1, 1, 0, 1);  /* 1x1 */
}

/* JIANMO_CUDA_CONV=ci: the forward and input gradient with the channels
 * innermost where the channel counts allow (the 32- and 64-channel
 * cases; the rest take the default path), against the same CPU twin. */
Test(cuda, conv_channels_inner_path_at_16_bits)
{
	conv_path_at_16_bits("ci", channels_inner_cases);
}

Test(cuda, gemm_precisions_match_their_cpu_twins)
{
	need_gpu();
	cr_assert_not_null(gpu->set_precision);
	const int precs[] = {JM_PREC_TF32, JM_PREC_BF16, JM_PREC_FP16};
	char why[512];
	for (size_t i = 0; i < 3; i++) {
		if (gpu->set_precision(precs[i], why, sizeof why) < 0) {
			cr_log_warn("SKIPPED precision %d: %s", precs[i], why);
			continue;
		}
		for (int ta = 0; ta < 2; ta++)
			for (int tb = 0; tb < 2; tb++) {
				gemm_precision_case(precs[i], ta, tb, 37, 53, 29);
				gemm_precision_case(precs[i], ta, tb, 128, 256, 784);
			}
		/* the layers built on the GEMMs: their twins round the same
		 * tensors, and the bias terms stay fp32 */
		linear_case(precs[i]);
		conv_cases_at(precs[i]);
		/* the scratch those took, released (batch = auto's tries) and
		 * taken again by the next op, smaller first */
		cr_assert_not_null(gpu->release_scratch);
		gpu->release_scratch();
		synced();
		gemm_precision_case(precs[i], 0, 1, 37, 53, 29);
		linear_case(precs[i]);
		jm_rng r;
		jm_rng_seed(&r, 11);
		float *x = randv(&r, 5000, -1, 1), *dx = up(x, 5000);
		double want = cpu->sumsq(x, 5000), got = gpu->sumsq(dx, 5000);
		cr_expect(fabs(got - want) <= 1e-9 * want, "sumsq after a release: %.17g, not %.17g",
			  got, want);
		gpu->free(dx);
		free(x);
	}
	cr_assert_eq(gpu->set_precision(JM_PREC_FP32, why, sizeof why), 0, "%s", why);
	cr_expect_eq(gpu->set_precision(7, why, sizeof why), -1);
	sgemm_case(0, 1, 128, 256, 784, 1.0f); /* fp32 again */
}

Test(cuda, pooling)
{
	need_gpu();
	enum { B = 3, C = 4, H = 9, W = 7 };
	size_t n = (size_t)B * C * H * W;
	jm_rng r;
	jm_rng_seed(&r, 11);
	float *in = randv(&r, n, -2, 2), *dout = randv(&r, n, -1, 1);
	float *gin = up(in, n), *gdout = up(dout, n);
	static const int ks[][2] = {{2, 2}, {3, 2}, {3, 3}};
	for (int t = 0; t < 3; t++) {
		int K = ks[t][0], S = ks[t][1], OH = (H - K) / S + 1, OW = (W - K) / S + 1;
		size_t no = (size_t)B * C * OH * OW;
		float *out = calloc(no, 4), *din = calloc(n, 4);
		int32_t *am = calloc(no, 4);
		float *gout = gpu->alloc(no * 4), *gdin = gpu->alloc(n * 4);
		int32_t *gam = gpu->alloc(no * 4);
		cpu->maxpool_forward(out, am, in, B, C, H, W, K, S);
		gpu->maxpool_forward(gout, gam, gin, B, C, H, W, K, S);
		expect_close("maxpool", gout, out, no, 0, 0);
		int32_t *gam_h = malloc(no * 4);
		gpu->to_host(gam_h, gam, no * 4);
		cr_expect_eq(memcmp(gam_h, am, no * 4), 0, "maxpool argmax k%d s%d", K, S);
		cpu->maxpool_backward(din, dout, am, B, C, H, W, K, S);
		gpu->maxpool_backward(gdin, gdout, gam, B, C, H, W, K, S);
		expect_close("maxpool backward", gdin, din, n, 1e-6, 1e-6);
		cpu->avgpool_forward(out, in, B, C, H, W, K, S);
		gpu->avgpool_forward(gout, gin, B, C, H, W, K, S);
		expect_close("avgpool", gout, out, no, 1e-6, 1e-5);
		cpu->avgpool_backward(din, dout, B, C, H, W, K, S);
		gpu->avgpool_backward(gdin, gdout, B, C, H, W, K, S);
		expect_close("avgpool backward", gdin, din, n, 1e-6, 1e-5);
		gpu->free(gout), gpu->free(gdin), gpu->free(gam);
		free(out), free(din), free(am), free(gam_h);
	}
	float *g = calloc(B * C, 4), *gg = gpu->alloc(B * C * 4), *d = calloc(n, 4),
	      *gd = gpu->alloc(n * 4);
	cpu->gap_forward(g, in, B, C, H * W);
	gpu->gap_forward(gg, gin, B, C, H * W);
	expect_close("gap", gg, g, B * C, 1e-6, 1e-5);
	cpu->gap_backward(d, dout, B, C, H * W);
	gpu->gap_backward(gd, gdout, B, C, H * W);
	expect_close("gap backward", gd, d, n, 1e-7, 1e-6);
	gpu->free(gg), gpu->free(gd), gpu->free(gin), gpu->free(gdout);
	free(g), free(d), free(in), free(dout);
}

/* Batch norm, training then eval, against the CPU's, alone and with its
 * ReLU; at the larger sizes each channel is split over blocks
 * (cuda_norm.cu) and walked across planes (norm_index.h). */
static void batchnorm_case_relu(int B, int C, int HW, int relu)
{
	size_t n = (size_t)B * C * HW;
	jm_rng r;
	jm_rng_seed(&r, (uint64_t)(B * 31 + C * 7 + HW));
	float *in = randv(&r, n, -3, 5), *dout = randv(&r, n, -1, 1);
	float *ga = randv(&r, C, 0.5f, 1.5f), *be = randv(&r, C, -1, 1);
	float *rm = randv(&r, C, -1, 1), *rv = randv(&r, C, 0.5f, 2);
	float *gin = up(in, n), *gdout = up(dout, n), *gga = up(ga, C), *gbe = up(be, C);
	float *grm = up(rm, C), *grv = up(rv, C);
	float *out = calloc(n, 4), *mean = calloc(C, 4), *rstd = calloc(C, 4);
	float *gout = gpu->alloc(n * 4), *gmean = gpu->alloc(C * 4), *grstd = gpu->alloc(C * 4);
	cpu->batchnorm_forward(out, mean, rstd, in, ga, be, rm, rv, B, C, HW, 1, 0.1f, 1e-5f,
			       relu);
	gpu->batchnorm_forward(gout, gmean, grstd, gin, gga, gbe, grm, grv, B, C, HW, 1, 0.1f,
			       1e-5f, relu);
	char what[64];
	snprintf(what, sizeof what, "batchnorm %dx%dx%d%s", B, C, HW, relu ? " relu" : "");
	expect_close(what, gout, out, n, 1e-5, 1e-4);
	expect_close("batchnorm mean", gmean, mean, C, 1e-6, 1e-5);
	expect_close("batchnorm rstd", grstd, rstd, C, 1e-6, 1e-5);
	expect_close("batchnorm running mean", grm, rm, C, 1e-6, 1e-5);
	expect_close("batchnorm running var", grv, rv, C, 1e-6, 1e-5);
	float *din = calloc(n, 4), *dga = calloc(C, 4), *dbe = calloc(C, 4);
	float *gdin = gpu->alloc(n * 4), *gdga = gpu->alloc(C * 4), *gdbe = gpu->alloc(C * 4);
	/* the mask: the GPU's output on both sides (an element within an ulp
	 * of 0 may be cut on one side only, the GPU rounding once in an fma) */
	float *gmask = relu ? down(gout, n) : NULL;
	cpu->batchnorm_backward(din, dga, dbe, dout, in, mean, rstd, ga, gmask, B, C, HW);
	free(gmask);
	gpu->batchnorm_backward(gdin, gdga, gdbe, gdout, gin, gmean, grstd, gga,
				relu ? gout : NULL, B, C, HW);
	expect_close("batchnorm din", gdin, din, n, 1e-5, 1e-4);
	expect_close("batchnorm dgamma", gdga, dga, C, 1e-4, 1e-4);
	expect_close("batchnorm dbeta", gdbe, dbe, C, 1e-4, 1e-4);
	cpu->batchnorm_forward(out, NULL, NULL, in, ga, be, rm, rv, B, C, HW, 0, 0.1f, 1e-5f,
			       relu);
	gpu->batchnorm_forward(gout, NULL, NULL, gin, gga, gbe, grm, grv, B, C, HW, 0, 0.1f, 1e-5f,
			       relu);
	expect_close("batchnorm eval", gout, out, n, 1e-5, 1e-4);
	float *gp[] = {gin, gdout, gga, gbe, grm, grv, gout, gmean, grstd, gdin, gdga, gdbe};
	for (size_t i = 0; i < sizeof gp / sizeof *gp; i++)
		gpu->free(gp[i]);
	float *hp[] = {in, dout, ga, be, rm, rv, out, mean, rstd, din, dga, dbe};
	for (size_t i = 0; i < sizeof hp / sizeof *hp; i++)
		free(hp[i]);
}

static void batchnorm_case(int B, int C, int HW)
{
	batchnorm_case_relu(B, C, HW, 0);
	batchnorm_case_relu(B, C, HW, 1);
}

Test(cuda, norms)
{
	need_gpu();
	batchnorm_case(6, 5, 37);
	/* layer norm: N = B*C rows of HW */
	enum { B = 6, C = 5, HW = 37 };
	size_t n = (size_t)B * C * HW;
	jm_rng r;
	jm_rng_seed(&r, 12);
	float *in = randv(&r, n, -3, 5), *dout = randv(&r, n, -1, 1);
	float *gin = up(in, n), *gdout = up(dout, n);
	float *out = calloc(n, 4), *din = calloc(n, 4);
	float *gout = gpu->alloc(n * 4), *gdin = gpu->alloc(n * 4);
	int N = B * C, L = HW;
	float *lg = randv(&r, L, 0.5f, 1.5f), *lb = randv(&r, L, -1, 1);
	float *glg = up(lg, L), *glb = up(lb, L);
	float *lm = calloc(N, 4), *lr = calloc(N, 4), *gl_m = gpu->alloc(N * 4),
	      *gl_r = gpu->alloc(N * 4);
	cpu->layernorm_forward(out, lm, lr, in, lg, lb, N, L, 1e-5f);
	gpu->layernorm_forward(gout, gl_m, gl_r, gin, glg, glb, N, L, 1e-5f);
	expect_close("layernorm", gout, out, n, 1e-5, 1e-4);
	float *dlg = calloc(L, 4), *dlb = calloc(L, 4), *gdlg = gpu->alloc(L * 4),
	      *gdlb = gpu->alloc(L * 4);
	cpu->layernorm_backward(din, dlg, dlb, dout, in, lm, lr, lg, N, L);
	gpu->layernorm_backward(gdin, gdlg, gdlb, gdout, gin, gl_m, gl_r, glg, N, L);
	expect_close("layernorm din", gdin, din, n, 1e-5, 1e-4);
	expect_close("layernorm dgamma", gdlg, dlg, L, 1e-4, 1e-4);
	expect_close("layernorm dbeta", gdlb, dlb, L, 1e-4, 1e-4);
	float *gp[] = {gin, gdout, gout, gdin, glg, glb, gl_m, gl_r, gdlg, gdlb};
	for (size_t i = 0; i < sizeof gp / sizeof *gp; i++)
		gpu->free(gp[i]);
	float *hp[] = {in, dout, out, din, lg, lb, lm, lr, dlg, dlb};
	for (size_t i = 0; i < sizeof hp / sizeof *hp; i++)
		free(hp[i]);
}

Test(cuda, batchnorm_split_over_blocks)
{
	need_gpu();
	batchnorm_case(64, 8, 196);  /* 12,544 values a channel: split */
	batchnorm_case(256, 32, 49); /* 7x7 planes, many to a block's step */
	batchnorm_case(3, 130, 1);   /* 1x1 planes */
}

Test(cuda, elementwise_dropout_add)
{
	need_gpu();
	size_t n = 10007;
	jm_rng r;
	jm_rng_seed(&r, 13);
	float *in = randv(&r, n, -3, 3), *dout = randv(&r, n, -1, 1);
	float *gin = up(in, n), *gdout = up(dout, n);
	float *o = calloc(n, 4), *d = calloc(n, 4), *go = gpu->alloc(n * 4), *gd = gpu->alloc(n * 4);
	static const char *names[] = {"none", "relu", "gelu", "tanh", "sigmoid", "silu"};
	for (int act = JM_ACT_NONE; act <= JM_ACT_LAST; act++) {
		cpu->act_forward(act, o, in, n);
		gpu->act_forward(act, go, gin, n);
		char what[64];
		snprintf(what, sizeof what, "%s forward", names[act]);
		expect_close(what, go, o, n, 1e-6, 1e-5);
		cpu->act_backward(act, d, dout, in, o, n);
		gpu->act_backward(act, gd, gdout, gin, go, n);
		snprintf(what, sizeof what, "%s backward", names[act]);
		expect_close(what, gd, d, n, 1e-6, 1e-5);
	}
	/* the dropout mask is the CPU's, bit for bit */
	cpu->dropout_forward(o, in, n, 0.3f, 777);
	gpu->dropout_forward(go, gin, n, 0.3f, 777);
	expect_close("dropout", go, o, n, 0, 0);
	cpu->dropout_backward(d, dout, n, 0.3f, 777);
	gpu->dropout_backward(gd, gdout, n, 0.3f, 777);
	expect_close("dropout backward", gd, d, n, 0, 0);
	cpu->add(o, in, dout, n);
	gpu->add(go, gin, gdout, n);
	expect_close("add", go, o, n, 0, 0);
	cpu->accumulate(o, in, n);
	gpu->accumulate(go, gin, n);
	expect_close("accumulate", go, o, n, 0, 0);
	cpu->scale(o, 0.5f, n);
	gpu->scale(go, 0.5f, n);
	expect_close("scale", go, o, n, 0, 0);
	double s1 = cpu->sumsq(o, n), s2 = gpu->sumsq(go, n);
	cr_expect(fabs(s1 - s2) <= 1e-9 * s1, "sumsq: gpu %.17g, cpu %.17g", s2, s1);
	gpu->free(gin), gpu->free(gdout), gpu->free(go), gpu->free(gd);
	free(in), free(dout), free(o), free(d);
}

Test(cuda, losses_and_gathers)
{
	need_gpu();
	enum { B = 50, K = 10, D = 33, ROWS = 70 };
	jm_rng r;
	jm_rng_seed(&r, 14);
	float *z = randv(&r, B * K, -4, 4), *soft = randv(&r, B * K, 0, 1);
	int32_t lab[B];
	for (int i = 0; i < B; i++)
		lab[i] = (int32_t)jm_rng_below(&r, K);
	lab[7] = -1; /* ignored */
	float *gz = up(z, B * K), *gsoft = up(soft, B * K);
	int32_t *glab = gpu->alloc(sizeof lab);
	gpu->to_device(glab, lab, sizeof lab);
	float *dz = calloc(B * K, 4), *sl = calloc(B, 4), *gdz = gpu->alloc(B * K * 4),
	      *gsl = gpu->alloc(B * 4);
	for (int t = 0; t < 3; t++) {
		float s = t == 1 ? 0.1f : 0.0f;
		int32_t c1 = -1, c2 = -2;
		double l1 = cpu->xent(dz, sl, &c1, z, t < 2 ? lab : NULL, soft, B, K, s);
		double l2 = gpu->xent(gdz, gsl, &c2, gz, t < 2 ? glab : NULL, gsoft, B, K, s);
		cr_expect(fabs(l1 - l2) <= 1e-6 * fabs(l1) + 1e-9, "xent %d: gpu %.10g, cpu %.10g", t,
			  l2, l1);
		cr_expect_eq(c1, c2, "xent %d correct: gpu %d, cpu %d", t, c2, c1);
		expect_close("xent dlogits", gdz, dz, B * K, 1e-7, 1e-5);
		expect_close("xent sample loss", gsl, sl, B, 1e-6, 1e-5);
	}
	float *tgt = randv(&r, B * K, -2, 2), *gtgt = up(tgt, B * K);
	double m1 = cpu->mse(dz, sl, z, tgt, B, K), m2 = gpu->mse(gdz, gsl, gz, gtgt, B, K);
	cr_expect(fabs(m1 - m2) <= 1e-9 * fabs(m1), "mse: gpu %.12g, cpu %.12g", m2, m1);
	expect_close("mse dpred", gdz, dz, B * K, 0, 0);
	expect_close("mse sample loss", gsl, sl, B, 1e-7, 1e-6);
	/* the training forms: the same sums, nothing read until asked */
	double acc[5] = {0}, gacc_host[5];
	double *gacc = gpu->alloc(sizeof acc);
	gpu->to_device(gacc, acc, sizeof acc);
	cpu->xent_acc(dz, acc, z, lab, NULL, B, K, 0.1f);
	gpu->xent_acc(gdz, gacc, gz, glab, NULL, B, K, 0.1f);
	expect_close("xent_acc dlogits", gdz, dz, B * K, 1e-7, 1e-5);
	cpu->xent_acc(dz, acc, z, NULL, soft, B, K, 0.0f);
	gpu->xent_acc(gdz, gacc, gz, NULL, gsoft, B, K, 0.0f);
	cpu->mse_acc(dz, acc, z, tgt, B, K);
	gpu->mse_acc(gdz, gacc, gz, gtgt, B, K);
	expect_close("mse_acc dpred", gdz, dz, B * K, 0, 0);
	gpu->to_host(gacc_host, gacc, sizeof gacc_host);
	synced();
	for (int i = 0; i < 5; i++)
		cr_expect(fabs(gacc_host[i] - acc[i]) <= 1e-6 * fabs(acc[i]) + 1e-9,
			  "loss sums [%d]: gpu %.12g, cpu %.12g", i, gacc_host[i], acc[i]);
	gpu->free(gacc);
	gpu->free(gtgt), free(tgt);
	uint8_t *src = malloc(ROWS * D);
	for (int i = 0; i < ROWS * D; i++)
		src[i] = (uint8_t)jm_rng_below(&r, 256);
	float *srcf = randv(&r, ROWS * D, -1, 1);
	int32_t idx[B];
	for (int i = 0; i < B; i++)
		idx[i] = (int32_t)jm_rng_below(&r, ROWS);
	uint8_t *gsrc = gpu->alloc(ROWS * D);
	gpu->to_device(gsrc, src, ROWS * D);
	float *gsrcf = up(srcf, ROWS * D);
	int32_t *gidx = gpu->alloc(sizeof idx);
	gpu->to_device(gidx, idx, sizeof idx);
	float *x = calloc(B * D, 4), *gx = gpu->alloc(B * D * 4);
	cpu->gather_u8(x, src, idx, B, D, 1.0f / 255, -0.25f);
	gpu->gather_u8(gx, gsrc, gidx, B, D, 1.0f / 255, -0.25f);
	expect_close("gather u8", gx, x, B * D, 0, 0);
	cpu->gather_f32(x, srcf, idx, B, D);
	gpu->gather_f32(gx, gsrcf, gidx, B, D);
	expect_close("gather f32", gx, x, B * D, 0, 0);
	void *gp[] = {gz, gsoft, glab, gdz, gsl, gsrc, gsrcf, gidx, gx};
	for (size_t i = 0; i < sizeof gp / sizeof *gp; i++)
		gpu->free(gp[i]);
	free(z), free(soft), free(dz), free(sl), free(src), free(srcf), free(x);
}

Test(cuda, optimizers_match_to_the_bit)
{
	need_gpu();
	size_t n = 5003;
	jm_rng r;
	jm_rng_seed(&r, 15);
	float *p = randv(&r, n, -1, 1), *g = randv(&r, n, -0.1f, 0.1f);
	float *m = calloc(n, 4), *v = calloc(n, 4);
	float *gp_ = up(p, n), *gg = up(g, n), *gm = gpu->alloc(n * 4), *gv = gpu->alloc(n * 4);
	for (int dec = 0; dec < 2; dec++)
		for (int s = 1; s <= 3; s++) {
			double bc1 = 1 - pow(0.9, s), bc2 = 1 - pow(0.999, s);
			cpu->adam_step(p, m, v, g, n, 1e-3, 0.9, 0.999, 1e-8, 0.01, bc1, bc2, dec);
			gpu->adam_step(gp_, gm, gv, gg, n, 1e-3, 0.9, 0.999, 1e-8, 0.01, bc1, bc2, dec);
		}
	expect_close("adam p", gp_, p, n, 0, 0);
	expect_close("adam m", gm, m, n, 0, 0);
	expect_close("adam v", gv, v, n, 0, 0);
	for (int nest = 0; nest < 2; nest++)
		for (int s = 0; s < 3; s++) {
			cpu->sgd_step(p, m, g, n, 0.01f, 0.9f, 1e-4f, nest, s == 0);
			gpu->sgd_step(gp_, gm, gg, n, 0.01f, 0.9f, 1e-4f, nest, s == 0);
		}
	expect_close("sgd p", gp_, p, n, 0, 0);
	cpu->sgd_step(p, NULL, g, n, 0.01f, 0.0f, 0.0f, 0, 1);
	gpu->sgd_step(gp_, NULL, gg, n, 0.01f, 0.0f, 0.0f, 0, 1);
	expect_close("plain sgd p", gp_, p, n, 0, 0);
	gpu->free(gp_), gpu->free(gg), gpu->free(gm), gpu->free(gv);
	free(p), free(g), free(m), free(v);
}

/* Without a GPU the reason is clear and jianmo falls back or refuses. */
Test(cuda, device_names)
{
	const jm_backend *be = NULL;
	char note[512], why[512];
	cr_assert_eq(jm_backend_for_device("cpu", &be, note, sizeof note, why, sizeof why), 0);
	cr_expect_eq(be, &jm_backend_cpu);
	cr_assert_eq(jm_backend_for_device("auto", &be, note, sizeof note, why, sizeof why), 0);
	cr_expect(be == &jm_backend_cpu || !strcmp(be->name, "cuda"));
	if (be == &jm_backend_cpu)
		cr_expect_neq(note[0], '\0', "auto on the CPU says why");
	cr_expect_eq(jm_backend_for_device("tpu", &be, note, sizeof note, why, sizeof why), -1);
	cr_expect_str_eq(why, "unknown device \"tpu\" (expected cpu, cuda, cuda:N or auto)");
	cr_expect_eq(jm_backend_for_device("cuda:x", &be, note, sizeof note, why, sizeof why), -1);
	cr_expect_eq(jm_backend_for_device("cuda:99", &be, note, sizeof note, why, sizeof why), -1);
	cr_expect_neq(strstr(why, "cuda:99"), NULL, "%s", why);
}

/* Augmentation: the same plans give the CPU's bits (geometry is a copy;
 * blends are rounded as the CPU's; erase draws within float rounding). */
Test(cuda, augmentation)
{
	need_gpu();
	enum { B = 7, C = 3, H = 9, W = 8, K = 5 };
	size_t n = (size_t)B * C * H * W;
	jm_rng r;
	jm_rng_seed(&r, 16);
	float *in = randv(&r, n, -1, 1);
	jm_aug_geom g[B];
	jm_aug_mix m[B];
	for (int b = 0; b < B; b++) {
		g[b] = (jm_aug_geom){.flip = b & 1, .dy = (int)jm_rng_below(&r, 7) - 3,
				     .dx = (int)jm_rng_below(&r, 7) - 3};
		if (b % 3 == 0)
			g[b].ey0 = 2, g[b].ey1 = 5, g[b].ex0 = 1, g[b].ex1 = 6;
		int kind = b % 3; /* none, blend, box: elem-mode variety */
		m[b] = (jm_aug_mix){.kind = kind, .a = kind ? 0.3f + 0.05f * b : 1.0f,
				    .b = kind ? 0.7f - 0.05f * b : 0.0f, .y0 = 1, .y1 = 6, .x0 = 2,
				    .x1 = 7};
	}
	int32_t lab[B];
	for (int b = 0; b < B; b++)
		lab[b] = (int32_t)jm_rng_below(&r, K);
	jm_aug_geom *gg = gpu->alloc(sizeof g);
	jm_aug_mix *gm = gpu->alloc(sizeof m);
	int32_t *glab = gpu->alloc(sizeof lab);
	gpu->to_device(gg, g, sizeof g);
	gpu->to_device(gm, m, sizeof m);
	gpu->to_device(glab, lab, sizeof lab);
	float *gin = up(in, n), *out = calloc(n, 4), *gout = gpu->alloc(n * 4);
	for (int pad = 0; pad < 2; pad++)
		for (int er = 0; er < 3; er++) {
			cpu->augment_geometry(out, in, g, B, C, H, W, pad, -0.5f, er, 99);
			gpu->augment_geometry(gout, gin, gg, B, C, H, W, pad, -0.5f, er, 99);
			char what[64];
			snprintf(what, sizeof what, "geometry pad %d erase %d", pad, er);
			expect_close(what, gout, out, n, er ? 1e-6 : 0, er ? 1e-6 : 0);
		}
	cpu->augment_mix(out, m, B, C, H, W);
	gpu->augment_mix(gout, gm, B, C, H, W);
	expect_close("mix", gout, out, n, 0, 0);
	float *soft = calloc(B * K, 4), *gsoft = gpu->alloc(B * K * 4);
	cpu->mix_targets(soft, lab, m, B, K, 0.1f);
	gpu->mix_targets(gsoft, glab, gm, B, K, 0.1f);
	expect_close("mix targets", gsoft, soft, B * K, 0, 0);
	void *gp[] = {gg, gm, glab, gin, gout, gsoft};
	for (size_t i = 0; i < sizeof gp / sizeof *gp; i++)
		gpu->free(gp[i]);
	free(in), free(out), free(soft);
}

/* ---- the step as a CUDA graph (src/cuda/cuda_graph.cu) ----
 * A small training step built from the table's ops, run for a number of
 * steps op by op and then bracketed by step_begin/step_end, from the same
 * start: the graph must give the same bits.  What changes from step to
 * step is what a trainer changes: the batch's rows (a pointer into the
 * permutation), the labels' offset, an uploaded mixing plan, the dropout
 * key, the lr and Adam's bias corrections.  `odd` steps differ in shape or
 * read the host mid-step, so the fallback paths are taken too. */
enum { GS_N = 256, GS_B = 32, GS_D = 64, GS_H = 24, GS_K = 10 };

typedef struct graph_step {
	float *src, *x, *h, *hd, *z, *dz, *dhd, *dh, *dx;
	int32_t *perm, *labels;
	jm_aug_mix *mix;
	float *p, *g, *m, *v; /* w1 [H,D] b1 [H] w2 [K,H] b2 [K] */
	double *acc;
} graph_step;

enum { GS_W1 = 0, GS_B1 = GS_H * GS_D, GS_W2 = GS_B1 + GS_H, GS_B2 = GS_W2 + GS_K * GS_H,
       GS_P = GS_B2 + GS_K };

static void graph_step_init(graph_step *s)
{
	jm_rng r;
	jm_rng_seed(&r, 77);
	float *src = randv(&r, (size_t)GS_N * GS_D, -1, 1), *p = randv(&r, GS_P, -0.2f, 0.2f);
	int32_t perm[GS_N], labels[GS_N];
	for (int i = 0; i < GS_N; i++)
		perm[i] = i, labels[i] = (int32_t)jm_rng_below(&r, GS_K);
	jm_rng_shuffle(&r, perm, GS_N);
	s->src = up(src, (size_t)GS_N * GS_D);
	s->p = up(p, GS_P);
	float **bufs[] = {&s->x, &s->dx};
	for (int i = 0; i < 2; i++)
		*bufs[i] = gpu->alloc((size_t)GS_B * GS_D * 4);
	float **hid[] = {&s->h, &s->hd, &s->dhd, &s->dh};
	for (int i = 0; i < 4; i++)
		*hid[i] = gpu->alloc((size_t)GS_B * GS_H * 4);
	s->z = gpu->alloc((size_t)GS_B * GS_K * 4);
	s->dz = gpu->alloc((size_t)GS_B * GS_K * 4);
	s->g = gpu->alloc(GS_P * 4);
	s->m = gpu->alloc(GS_P * 4);
	s->v = gpu->alloc(GS_P * 4);
	s->acc = gpu->alloc(5 * sizeof(double));
	s->perm = gpu->alloc(sizeof perm);
	s->labels = gpu->alloc(sizeof labels);
	s->mix = gpu->alloc(GS_B * sizeof(jm_aug_mix));
	gpu->to_device(s->perm, perm, sizeof perm);
	gpu->to_device(s->labels, labels, sizeof labels);
	free(src), free(p);
}

static void graph_step_run(graph_step *s, int k, int odd)
{
	int pos = (k * GS_B) % GS_N;
	jm_aug_mix plan[GS_B];
	for (int b = 0; b < GS_B; b++) {
		float a = 0.5f + 0.01f * (float)((k + b) % 40);
		plan[b] = (jm_aug_mix){.kind = (b + k) % 2 ? JM_MIX_BLEND : JM_MIX_NONE,
				       .a = (b + k) % 2 ? a : 1.0f, .b = (b + k) % 2 ? 1 - a : 0.0f};
	}
	gpu->gather_f32(s->x, s->src, s->perm + pos, GS_B, GS_D);
	gpu->to_device(s->mix, plan, sizeof plan);
	gpu->augment_mix(s->x, s->mix, GS_B, 1, 8, 8);
	gpu->linear_forward(s->h, s->x, s->p + GS_W1, s->p + GS_B1, GS_B, GS_D, GS_H);
	gpu->act_forward(JM_ACT_RELU, s->h, s->h, (size_t)GS_B * GS_H);
	uint64_t key = jm_hash64(5, (uint64_t)k);
	float drop = odd == 1 ? 0.0f : 0.25f; /* odd 1: no dropout kernel at all */
	gpu->dropout_forward(s->hd, s->h, (size_t)GS_B * GS_H, drop, key);
	gpu->linear_forward(s->z, s->hd, s->p + GS_W2, s->p + GS_B2, GS_B, GS_H, GS_K);
	gpu->xent_acc(s->dz, s->acc, s->z, s->labels + pos, NULL, GS_B, GS_K, 0.1f);
	if (odd == 2) { /* a read to the host mid-step */
		double a[5];
		gpu->to_host(a, s->acc, sizeof a);
	}
	gpu->linear_backward(s->dhd, s->g + GS_W2, s->g + GS_B2, s->dz, s->hd, s->p + GS_W2, GS_B,
			     GS_H, GS_K);
	gpu->dropout_backward(s->dh, s->dhd, (size_t)GS_B * GS_H, drop, key);
	gpu->act_backward(JM_ACT_RELU, s->dh, s->dh, s->h, s->h, (size_t)GS_B * GS_H);
	gpu->linear_backward(NULL, s->g + GS_W1, s->g + GS_B1, s->dh, s->x, s->p + GS_W1, GS_B,
			     GS_D, GS_H);
	int t = k + 1;
	gpu->adam_step(s->p, s->m, s->v, s->g, GS_P, 1e-3 * (1.0 + 0.1 * (k % 5)), 0.9, 0.999,
		       1e-8, 0.01, 1 - pow(0.9, t), 1 - pow(0.999, t), 1);
	gpu->fill(s->g, 0.0f, GS_P);
}

/* The parameters and sums after `steps` steps, on the host. */
static float *graph_steps(int graphs, int steps, int (*odd)(int), double acc[5])
{
	graph_step s;
	graph_step_init(&s);
	for (int k = 0; k < steps; k++) {
		if (graphs)
			gpu->step_begin();
		graph_step_run(&s, k, odd ? odd(k) : 0);
		if (graphs)
			gpu->step_end();
	}
	synced();
	float *p = down(s.p, GS_P);
	gpu->to_host(acc, s.acc, 5 * sizeof(double));
	void *all[] = {s.src, s.x, s.h, s.hd, s.z, s.dz, s.dhd, s.dh, s.dx, s.perm,
		       s.labels, s.mix, s.p, s.g, s.m, s.v, s.acc};
	for (size_t i = 0; i < sizeof all / sizeof *all; i++)
		gpu->free(all[i]);
	return p;
}

static void expect_same_run(const char *what, int steps, int (*odd)(int))
{
	double acc0[5], acc1[5];
	float *want = graph_steps(0, steps, odd, acc0);
	float *got = graph_steps(1, steps, odd, acc1);
	size_t bad = 0;
	for (size_t i = 0; i < GS_P; i++)
		bad += memcmp(&want[i], &got[i], sizeof *got) != 0;
	cr_expect_eq(bad, 0, "%s: %zu of %d parameters differ from the op-by-op run", what, bad,
		     GS_P);
	cr_expect_eq(memcmp(acc0, acc1, sizeof acc0), 0, "%s: loss sums %.17g vs %.17g", what,
		     acc1[0], acc0[0]);
	free(want), free(got);
}

Test(cuda, graph_replays_the_step_bit_for_bit)
{
	need_gpu();
	cr_assert_not_null(gpu->step_begin, "the CUDA table has step_begin");
	expect_same_run("every step alike", 40, NULL);
	char info[320];
	int replayed = gpu->graph_info(info, sizeof info);
	/* the first step or two record (scratch grows in the first) */
	cr_expect_geq(replayed, 37, "%d steps replayed: %s", replayed, info);
	cr_expect(strstr(info, "replayed as one CUDA graph"), "%s", info);
}

static int odd_every_ninth(int k)
{
	return k % 9 == 8 ? 1 + (k / 9) % 2 : 0;
}

static int odd_from_ten(int k)
{
	return k >= 10 && k < 16 ? 1 : 0;
}

Test(cuda, graph_fallbacks_keep_the_results)
{
	need_gpu();
	/* a step without dropout, or with a read mid-step, runs op by op */
	expect_same_run("odd steps", 40, odd_every_ninth);
	char info[320];
	int replayed = gpu->graph_info(info, sizeof info);
	cr_expect(strstr(info, "ran launch by launch"), "%s", info);
	cr_expect_geq(replayed, 30, "%d steps replayed: %s", replayed, info);
}

Test(cuda, graph_rerecords_when_the_step_changes)
{
	need_gpu();
	/* six steps of another shape: the graph is dropped, the new shape is
	 * recorded and replayed, then the first shape's again */
	expect_same_run("a changed step", 40, odd_from_ten);
	char info[320];
	int replayed = gpu->graph_info(info, sizeof info);
	cr_expect_geq(replayed, 28, "%d steps replayed: %s", replayed, info);
}

/* A plugin's own kernels (the stream handed out mid-step) turn graphs off
 * for the run, and the step still runs. */
Test(cuda, graph_gives_way_to_a_plugins_kernels)
{
	need_gpu();
	gpu->step_begin();
	float *x = gpu->alloc(64 * 4);
	gpu->fill(x, 1.0f, 64);
	cr_expect_not_null(gpu->native_stream());
	gpu->scale(x, 2.0f, 64);
	gpu->step_end();
	gpu->step_begin();
	gpu->scale(x, 2.0f, 64);
	gpu->step_end();
	float h[64];
	synced();
	gpu->to_host(h, x, sizeof h);
	cr_expect_eq(h[0], 4.0f);
	cr_expect_eq(h[63], 4.0f);
	char info[320];
	gpu->graph_info(info, sizeof info);
	cr_expect(strstr(info, "CUDA graphs off: the step has a plugin layer's own kernels"), "%s",
		  info);
	gpu->free(x);
}

/* Clipping on the device (clip_norm) against the read-back path the CPU
 * takes (sumsq, then scale by the same doubles): the same bits. */
Test(cuda, clip_norm_matches_the_read_back_path)
{
	need_gpu();
	cr_assert_not_null(gpu->clip_norm);
	size_t n = 70001;
	jm_rng r;
	jm_rng_seed(&r, 31);
	float *g = randv(&r, n, -0.5f, 0.5f);
	float *a = up(g, n), *b = up(g, n);
	double *stat = gpu->alloc(2 * sizeof(double)), st[2];
	const double max_norms[] = {1.0, 1e6, 0.0};
	for (int i = 0; i < 3; i++) {
		double norm = sqrt(gpu->sumsq(a, n)), coef = max_norms[i] / (norm + 1e-6);
		if (max_norms[i] > 0 && coef < 1.0)
			gpu->scale(a, (float)coef, n);
		gpu->clip_norm(b, n, max_norms[i], stat);
		synced();
		gpu->to_host(st, stat, sizeof st);
		cr_expect_eq(st[0], norm, "max_norm %g: norm %.17g, read back %.17g", max_norms[i],
			     st[0], norm);
		cr_expect_eq(st[1], 0.0);
		float *want = down(a, n);
		expect_close("clipped", b, want, n, 0, 0);
		free(want);
	}
	/* a norm that is not finite: counted, nothing scaled */
	float nan = NAN;
	gpu->to_device(b + 5, &nan, sizeof nan);
	float *before = down(b, n);
	gpu->clip_norm(b, n, 1.0, stat);
	synced();
	gpu->to_host(st, stat, sizeof st);
	cr_expect(isnan(st[0]));
	cr_expect_eq(st[1], 1.0);
	float *after = down(b, n);
	cr_expect_eq(after[0], before[0]);
	cr_expect_eq(after[n - 1], before[n - 1]);
	gpu->free(a), gpu->free(b), gpu->free(stat);
	free(g), free(before), free(after);
}

/* augment_batch (one launch) against the three ops in turn on the GPU,
 * and so against the CPU's: the same bits, with and without geometry. */
Test(cuda, augment_batch_is_the_three_ops)
{
	need_gpu();
	cr_assert_not_null(gpu->augment_batch);
	enum { B = 9, C = 2, H = 7, W = 6, K = 4 };
	size_t n = (size_t)B * C * H * W;
	jm_rng r;
	jm_rng_seed(&r, 23);
	float *in = randv(&r, n, -1, 1);
	jm_aug_geom g[B];
	jm_aug_mix m[B];
	int32_t lab[B];
	for (int b = 0; b < B; b++) {
		g[b] = (jm_aug_geom){.flip = b % 2, .dy = (int)jm_rng_below(&r, 5) - 2,
				     .dx = (int)jm_rng_below(&r, 5) - 2};
		if (b % 3 == 1)
			g[b].ey0 = 1, g[b].ey1 = 4, g[b].ex0 = 2, g[b].ex1 = 5;
		int kind = b % 3;
		m[b] = (jm_aug_mix){.kind = kind, .a = kind ? 0.25f + 0.05f * b : 1.0f,
				    .b = kind ? 0.75f - 0.05f * b : 0.0f, .y0 = 2, .y1 = 6, .x0 = 1,
				    .x1 = 4};
		lab[b] = (int32_t)jm_rng_below(&r, K);
	}
	jm_aug_geom *gg = gpu->alloc(sizeof g);
	jm_aug_mix *gm = gpu->alloc(sizeof m);
	int32_t *glab = gpu->alloc(sizeof lab);
	gpu->to_device(gg, g, sizeof g);
	gpu->to_device(gm, m, sizeof m);
	gpu->to_device(glab, lab, sizeof lab);
	float *gin = up(in, n), *want = gpu->alloc(n * 4), *got = gpu->alloc(n * 4);
	float *wsoft = gpu->alloc(B * K * 4), *gsoft = gpu->alloc(B * K * 4);
	for (int geom = 0; geom < 2; geom++)
		for (int er = 0; er < 3; er++) {
			if (geom) {
				gpu->augment_geometry(want, gin, gg, B, C, H, W, er % 2, -0.5f, er, 7);
			} else {
				gpu->fill(want, 0.0f, n);
				gpu->accumulate(want, gin, n);
			}
			gpu->augment_mix(want, gm, B, C, H, W);
			gpu->mix_targets(wsoft, glab, gm, B, K, 0.1f);
			gpu->augment_batch(got, gin, geom ? gg : NULL, gm, gsoft, glab, B, C, H, W, K,
					   er % 2, -0.5f, er, 7, 0.1f);
			synced();
			float *w = down(want, n), *ws = down(wsoft, B * K);
			char what[64];
			snprintf(what, sizeof what, "augment_batch geometry %d erase %d", geom, er);
			expect_close(what, got, w, n, 0, 0);
			expect_close("augment_batch targets", gsoft, ws, B * K, 0, 0);
			free(w), free(ws);
		}
	void *gp[] = {gg, gm, glab, gin, want, got, wsoft, gsoft};
	for (size_t i = 0; i < sizeof gp / sizeof *gp; i++)
		gpu->free(gp[i]);
	free(in);
}

/* ---- the trainer on the GPU, with CUDA graphs and without ---- */

/* The epochs' losses and accuracies, in full, without the timings. */
static char *epochs(const char *dir, const char *env, const char *extra)
{
	char *out = NULL, *err = NULL;
	int rc = jt_sh(dir, &out, &err,
		       "%s '%s' --home '%s/home%d' --batch step.flow --device cuda --json %s > run.json; "
		       "s=$?; grep -h 'CUDA graph' run.json; grep '\"event\":\"epoch\"' run.json | "
		       "sed 's/,\"samples_per_s\".*//'; exit $s",
		       env, jt_bin(), dir, env[0] != '\0', extra); /* a store each: both run 1 */
	cr_assert_eq(rc, 0, "the run failed (%d): %s", rc, err);
	free(err);
	return out;
}

/* The full-step flow run twice, with env_a and with env_b (each its own
 * store), extra beside: the epochs to the last digit, after the notes
 * (which may differ).  The two outputs into *a_out and *b_out. */
static void expect_same_epochs(const char *env_a, const char *env_b, const char *extra,
			       char **a_out, char **b_out)
{
	char *dir = jt_tmpdir();
	free(jt_write(dir, "step.flow", jt_full_step_flow));
	char *ra = epochs(dir, env_a, extra), *rb = epochs(dir, env_b, extra);
	const char *a = strstr(ra, "{\"event\":\"epoch\""), *b = strstr(rb, "{\"event\":\"epoch\"");
	cr_assert(a && b, "no epochs:\n%s\n%s", ra, rb);
	cr_expect_str_eq(b, a, "%s and %s (%s)", env_a, env_b[0] ? env_b : "the default", extra);
	*a_out = ra, *b_out = rb;
	jt_rm_rf(dir);
	free(dir);
}

static void expect_graphs_change_nothing(const char *extra)
{
	char *off, *on;
	expect_same_epochs("JIANMO_CUDA_GRAPHS=0", "", extra, &off, &on);
	cr_expect(strstr(off, "CUDA graphs off: JIANMO_CUDA_GRAPHS=0"), "%s", off);
	cr_expect(strstr(on, "steps replayed as"), "%s", on);
	free(off), free(on);
}

Test(cuda, graphs_change_no_training_metric, .timeout = 600)
{
	need_gpu();
	if (!jt_fmnist_dir())
		cr_skip_test("SKIPPED: Fashion-MNIST not installed");
	expect_graphs_change_nothing("--set train.precision=fp32");
	expect_graphs_change_nothing("--set train.precision=bf16");
	/* adaptive clipping reads the norm back: graphs cut at the read */
	expect_graphs_change_nothing("--set train.precision=fp32 --set train.clip_mode=adaptive");
}

/* A batch norm with its ReLU in one pass (the default) trains as the two
 * layers apart (JIANMO_FUSE=0) do, to the last digit: the same kernels'
 * arithmetic, in fewer passes. */
Test(cuda, fusion_changes_no_training_metric, .timeout = 600)
{
	need_gpu();
	if (!jt_fmnist_dir())
		cr_skip_test("SKIPPED: Fashion-MNIST not installed");
	const char *precs[] = {"fp32", "bf16"};
	for (int i = 0; i < 2; i++) {
		char extra[64], *apart, *fused;
		snprintf(extra, sizeof extra, "--set train.precision=%s", precs[i]);
		expect_same_epochs("JIANMO_FUSE=0", "", extra, &apart, &fused);
		free(apart), free(fused);
	}
}

/* JIANMO_CUDA_PROFILE: a table of primitives at each epoch's end, or, for
 * a file it cannot write, a message naming it, and the run goes on. */
Test(cuda, profile_writes_its_table_or_says_why_not, .timeout = 300)
{
	need_gpu();
	if (!jt_fmnist_dir())
		cr_skip_test("SKIPPED: Fashion-MNIST not installed");
	char *dir = jt_tmpdir();
	free(jt_write(dir, "step.flow", jt_full_step_flow));
	char *out = NULL, *err = NULL;
	int rc = jt_sh(dir, &out, &err,
		       "JIANMO_CUDA_PROFILE=prof.txt '%s' --home home --batch step.flow --device cuda "
		       "--set train.epochs=1 && cat prof.txt", jt_bin());
	cr_assert_eq(rc, 0, "the profiled run failed (%d): %s", rc, err);
	cr_expect(strstr(out, "# jianmo CUDA profile: device time of each primitive"), "%s", out);
	cr_expect(strstr(out, "us/call"), "%s", out);
	cr_expect(strstr(out, " M=") && strstr(out, "<<<"), "no GEMM or kernel rows:\n%s", out);
	free(out), free(err);
	rc = jt_sh(dir, &out, &err,
		   "JIANMO_CUDA_PROFILE=no/such/dir/prof.txt '%s' --home home --batch step.flow "
		   "--device cuda --set train.epochs=1", jt_bin());
	cr_expect_eq(rc, 0, "a profile it cannot write stopped the run (%d): %s", rc, err);
	cr_expect(strstr(err, "JIANMO_CUDA_PROFILE: cannot write no/such/dir/prof.txt: "
			      "No such file or directory; not profiling"), "%s", err);
	free(out), free(err);
	jt_rm_rf(dir);
	free(dir);
}
