/*
 * test_conv_igemm.c: the implicit-GEMM convolutions' index maps
 * (src/cuda/conv_igemm_index.h) on the CPU.  The loops of the kernels in
 * cuda_conv_igemm.cu (columns decoded once, rows once a step of 32 into a
 * table, the weight gradient's sum split and its parts added in order) are
 * run here over the same functions, in double, and held to the CPU
 * backend's convolution: forward, input gradient and weight gradient, for
 * strides, paddings, kernel sizes and channel counts that cut the tiles
 * anywhere.  What the GPU adds (WMMA, 16-bit inputs) is tested against
 * the same CPU twin in test_cuda.c where there is a GPU.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cuda/conv_igemm_index.h"
#include "engine/backend.h"
#include "util/rng.h"

static const jm_backend *cpu = &jm_backend_cpu;

/* The kernel's loops for one mode: out (fwd, dgrad: =; wgrad: += through
 * the splits' parts).  scratch_floats as the GPU's conv scratch. */
static void emulate(int mode, ig_shape s, const float *w, const float *in, const float *dout,
		    const float *bias, float *out, size_t scratch_floats)
{
	int splits = 1;
	if (mode == IG_WGRAD) {
		splits = ig_splits(&s, scratch_floats);
		cr_assert_gt(splits, 0, "the scratch holds the parts");
	}
	size_t mn = (size_t)s.M * s.N;
	float *part = mode == IG_WGRAD ? calloc((size_t)splits * mn, sizeof *part) : NULL;
	for (int z = 0; z < splits; z++) {
		int k_lo = mode == IG_WGRAD ? z * s.k_per_split : 0;
		int k_hi = mode == IG_WGRAD && k_lo + s.k_per_split < s.Kdim ? k_lo + s.k_per_split
									    : s.Kdim;
		for (int n = 0; n < s.N; n++) {
			ig_col col = ig_column(&s, mode, n);
			for (int m = 0; m < s.M; m++) {
				double acc = 0.0;
				for (int k0 = k_lo; k0 < k_hi; k0 += IG_BK)
					for (int r = 0; r < IG_BK; r++) {
						ig_row row = ig_rowpart(&s, mode, k0 + r, k_hi);
						float a = row.off >= 0 ? ig_a(&s, mode, w, dout, m, &row)
								       : 0.0f;
						acc += (double)a * ig_b(&s, mode, in, dout, &col, &row);
					}
				size_t i = ig_out_index(&s, mode, m, n, z);
				float v = (float)acc + (mode == IG_FWD && bias ? bias[m] : 0.0f);
				if (mode == IG_WGRAD)
					part[i] = v;
				else
					out[i] = v;
			}
		}
	}
	for (size_t i = 0; mode == IG_WGRAD && i < mn; i++) {
		float g[IG_SPLIT_GROUPS] = {0};
		for (int k = 0; k < IG_SPLIT_GROUPS; k++)
			for (int z = k; z < splits; z += IG_SPLIT_GROUPS)
				g[k] += part[(size_t)z * mn + i];
		float t = g[0];
		for (int k = 1; k < IG_SPLIT_GROUPS; k++)
			t += g[k];
		out[i] += t;
	}
	free(part);
}

static float *randv(jm_rng *r, size_t n)
{
	float *v = malloc((n ? n : 1) * sizeof *v);
	for (size_t i = 0; i < n; i++)
		v[i] = 2.0f * jm_rng_uniformf(r) - 1.0f;
	return v;
}

static void expect_close(const char *what, const float *got, const float *want, size_t n,
			 double tol)
{
	size_t bad = 0, first = 0;
	for (size_t i = 0; i < n; i++)
		if (!(fabs((double)got[i] - want[i]) <= tol * (1.0 + fabs(want[i])))) {
			if (!bad)
				first = i;
			bad++;
		}
	cr_expect_eq(bad, 0, "%s: %zu of %zu differ; first at %zu: %g, cpu %g", what, bad, n,
		     first, bad ? got[first] : 0.0, bad ? want[first] : 0.0);
}

static void conv_case(int B, int C, int H, int W, int OC, int K, int S, int pad)
{
	ig_shape s;
	cr_assert_eq(ig_shape_make(&s, IG_FWD, B, C, H, W, OC, K, S, pad), 0);
	jm_rng r;
	jm_rng_seed(&r, (uint64_t)(B * 7 + C * 11 + OC * 13 + K * 17 + S * 19 + pad));
	size_t nin = (size_t)B * C * H * W, nout = (size_t)B * OC * s.OH * s.OW,
	       nw = (size_t)OC * C * K * K;
	float *in = randv(&r, nin), *w = randv(&r, nw), *bias = randv(&r, OC),
	      *dout = randv(&r, nout), *dw0 = randv(&r, nw);
	float *want_out = calloc(nout, 4), *want_din = calloc(nin, 4), *want_dw = malloc(nw * 4);
	float *out = calloc(nout, 4), *din = calloc(nin, 4), *dw = malloc(nw * 4);
	memcpy(want_dw, dw0, nw * 4);
	memcpy(dw, dw0, nw * 4);
	size_t sn = cpu->conv2d_scratch_floats(B, C, H, W, OC, K, S, pad);
	float *scratch = calloc(sn + 1, 4);
	cpu->conv2d_forward(want_out, in, w, bias, B, C, H, W, OC, K, S, pad, scratch);
	cpu->conv2d_backward(want_din, want_dw, NULL, dout, in, w, B, C, H, W, OC, K, S, pad,
			     scratch);
	char what[128];
	snprintf(what, sizeof what, "%dx%dx%dx%d -> %d, k%d s%d p%d", B, C, H, W, OC, K, S, pad);

	emulate(IG_FWD, s, w, in, NULL, bias, out, 0);
	expect_close(what, out, want_out, nout, 1e-5);

	cr_assert_eq(ig_shape_make(&s, IG_DGRAD, B, C, H, W, OC, K, S, pad), 0);
	emulate(IG_DGRAD, s, w, NULL, dout, NULL, din, 0);
	expect_close("input gradient", din, want_din, nin, 1e-5);

	cr_assert_eq(ig_shape_make(&s, IG_WGRAD, B, C, H, W, OC, K, S, pad), 0);
	/* the GPU's conv scratch is im2col's columns and Y: at least this */
	emulate(IG_WGRAD, s, NULL, in, dout, NULL, dw, (size_t)8 * nw);
	expect_close("weight gradient", dw, want_dw, nw, 1e-4);

	free(in), free(w), free(bias), free(dout), free(dw0), free(want_out), free(want_din);
	free(want_dw), free(out), free(din), free(dw), free(scratch);
}

Test(conv_igemm, index_maps_match_the_cpu_convolution)
{
	conv_case(3, 2, 9, 7, 5, 3, 1, 1);
	conv_case(4, 3, 8, 8, 4, 3, 2, 1);   /* stride 2 */
	conv_case(2, 1, 28, 28, 8, 5, 1, 2); /* one channel in, 5x5 */
	conv_case(2, 4, 6, 6, 3, 1, 1, 0);   /* 1x1 */
	conv_case(3, 5, 11, 9, 6, 5, 2, 2);  /* 5x5, stride 2 */
	conv_case(2, 48, 7, 7, 70, 3, 1, 1); /* the sum (432) and channels past tiles */
	conv_case(6, 16, 14, 14, 24, 3, 1, 1); /* wgrad: a sum of 1176, split */
	conv_case(1, 3, 4, 4, 2, 3, 1, 0);   /* 2x2 out */
}

/* The channels-inner order (ig_ci_*, JIANMO_CUDA_CONV=ci) as its kernel
 * walks it: A re-laid by ig_ci_w, and each step of IG_BK rows of B read
 * from one column's start, a plane apart, or zeros for the whole step. */
static void emulate_ci(int mode, ig_shape s, const float *w, const float *src, const float *bias,
		       float *out)
{
	cr_assert(ig_ci_ok(&s, mode));
	cr_assert_eq(s.Kdim % IG_BK, 0);
	size_t na = (size_t)s.M * s.Kdim;
	float *a = malloc(na * sizeof *a);
	for (size_t i = 0; i < na; i++)
		a[i] = w[ig_ci_w(&s, mode, i)];
	for (int n = 0; n < s.N; n++) {
		ig_col col = ig_column(&s, mode, n);
		for (int m = 0; m < s.M; m++) {
			double acc = 0.0;
			for (int k0 = 0; k0 < s.Kdim; k0 += IG_BK) {
				size_t off = 0;
				int plane = 0, ok = ig_ci_step(&s, mode, &col, k0, &off, &plane);
				for (int r = 0; ok && r < IG_BK; r++)
					acc += (double)a[(size_t)m * s.Kdim + k0 + r] *
					       src[off + (size_t)r * plane];
			}
			out[ig_out_index(&s, mode, m, n, 0)] =
				(float)acc + (mode == IG_FWD && bias ? bias[m] : 0.0f);
		}
	}
	free(a);
}

static void conv_case_ci(int B, int C, int H, int W, int OC, int K, int S, int pad)
{
	ig_shape s;
	cr_assert_eq(ig_shape_make(&s, IG_FWD, B, C, H, W, OC, K, S, pad), 0);
	jm_rng r;
	jm_rng_seed(&r, (uint64_t)(B * 5 + C * 3 + OC * 7 + K + S + pad));
	size_t nin = (size_t)B * C * H * W, nout = (size_t)B * OC * s.OH * s.OW,
	       nw = (size_t)OC * C * K * K;
	float *in = randv(&r, nin), *w = randv(&r, nw), *bias = randv(&r, OC),
	      *dout = randv(&r, nout), *dw = calloc(nw, 4);
	float *want_out = calloc(nout, 4), *want_din = calloc(nin, 4);
	float *out = calloc(nout, 4), *din = calloc(nin, 4);
	float *scratch = calloc(cpu->conv2d_scratch_floats(B, C, H, W, OC, K, S, pad) + 1, 4);
	cpu->conv2d_forward(want_out, in, w, bias, B, C, H, W, OC, K, S, pad, scratch);
	cpu->conv2d_backward(want_din, dw, NULL, dout, in, w, B, C, H, W, OC, K, S, pad, scratch);
	char what[128];
	snprintf(what, sizeof what, "channels inner %dx%dx%dx%d -> %d, k%d s%d p%d", B, C, H, W,
		 OC, K, S, pad);
	emulate_ci(IG_FWD, s, w, in, bias, out);
	expect_close(what, out, want_out, nout, 1e-5);
	cr_assert_eq(ig_shape_make(&s, IG_DGRAD, B, C, H, W, OC, K, S, pad), 0);
	if (ig_ci_ok(&s, IG_DGRAD)) {
		emulate_ci(IG_DGRAD, s, w, dout, NULL, din);
		expect_close("channels inner: input gradient", din, want_din, nin, 1e-5);
	}
	free(in), free(w), free(bias), free(dout), free(dw), free(want_out), free(want_din);
	free(out), free(din), free(scratch);
}

Test(conv_igemm, channels_inner_maps_match_the_cpu_convolution)
{
	conv_case_ci(3, 32, 9, 7, 32, 3, 1, 1);  /* the example CNN's blocks */
	conv_case_ci(2, 64, 7, 7, 96, 3, 1, 1);  /* A's tile past 64 rows */
	conv_case_ci(2, 32, 8, 8, 40, 3, 2, 1);  /* stride 2: forward only (OC % 32 too) */
	conv_case_ci(2, 32, 6, 6, 64, 1, 1, 0);  /* 1x1 */
	conv_case_ci(2, 32, 11, 9, 32, 5, 1, 2); /* 5x5 */
	conv_case_ci(1, 64, 3, 3, 32, 3, 1, 0);  /* a 1x1 output */
	/* where the order does not apply */
	ig_shape s;
	cr_assert_eq(ig_shape_make(&s, IG_FWD, 2, 1, 28, 28, 32, 3, 1, 1), 0);
	cr_expect_not(ig_ci_ok(&s, IG_FWD), "one input channel");
	cr_assert_eq(ig_shape_make(&s, IG_DGRAD, 2, 32, 8, 8, 32, 3, 2, 1), 0);
	cr_expect_not(ig_ci_ok(&s, IG_DGRAD), "dgrad at stride 2");
	cr_assert_eq(ig_shape_make(&s, IG_WGRAD, 2, 32, 8, 8, 32, 3, 1, 1), 0);
	cr_expect_not(ig_ci_ok(&s, IG_WGRAD), "wgrad keeps its order");
}

Test(conv_igemm, splits_cover_the_sum_once)
{
	ig_shape s;
	cr_assert_eq(ig_shape_make(&s, IG_WGRAD, 256, 32, 28, 28, 32, 3, 1, 1), 0);
	int z = ig_splits(&s, (size_t)1 << 24);
	cr_assert_gt(z, 1);
	cr_expect_eq(s.k_per_split % IG_BK, 0);
	cr_expect_geq((long long)z * s.k_per_split, s.Kdim);
	cr_expect_lt((long long)(z - 1) * s.k_per_split, s.Kdim, "no empty split");
	/* a scratch that holds no part: refused, so the im2col path runs */
	cr_expect_eq(ig_splits(&s, (size_t)s.M * s.N - 1), 0);
	/* past int indices: refused */
	cr_expect_eq(ig_shape_make(&s, IG_FWD, 1 << 16, 64, 256, 256, 64, 3, 1, 1), -1);
}

/* ---- batch norm's walk of a channel (src/cuda/norm_index.h) ---- */

#include "cuda/norm_index.h"

Test(conv_igemm, batch_norm_walks_every_value_of_a_channel_once)
{
	const int shapes[][3] = {{6, 5, 37}, {64, 8, 196}, {256, 32, 784}, {3, 130, 49},
				 {2, 3, 1}, {5, 2, 600}};
	const int widths[] = {1, 7, 256, 512};
	for (size_t si = 0; si < sizeof shapes / sizeof *shapes; si++) {
		int B = shapes[si][0], C = shapes[si][1], HW = shapes[si][2];
		size_t N = (size_t)B * HW;
		int S = bn_splits(C, N);
		cr_expect(S >= 1 && S <= 64);
		for (size_t wi = 0; wi < sizeof widths / sizeof *widths; wi++) {
			int width = widths[wi];
			int c = C - 1;
			size_t seen = 0, bad = 0;
			for (int s = 0; s < S; s++) {
				size_t lo, hi;
				bn_chunk(N, S, s, &lo, &hi);
				for (int t = 0; t < width && lo + (size_t)t < hi; t++) {
					bn_walk w = bn_walk_at(lo + (size_t)t, c, C, HW, width);
					for (size_t k = lo + (size_t)t; k < hi; k += (size_t)width) {
						size_t want = (k / (size_t)HW * (size_t)C + (size_t)c) *
								      (size_t)HW + k % (size_t)HW;
						bad += w.off != want;
						seen++;
						bn_walk_next(&w);
					}
				}
			}
			cr_expect_eq(bad, 0, "%dx%dx%d width %d: %zu misplaced", B, C, HW, width,
				     bad);
			cr_expect_eq(seen, N, "%dx%dx%d width %d: %zu of %zu values", B, C, HW,
				     width, seen, N);
		}
	}
}
