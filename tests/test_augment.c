/*
 * test_augment.c: augmentation against timm's and torchvision's semantics.
 *
 * Conformance with injected draws (lambda, box centre) through
 * jm_mix_from_draw / jm_cutmix_box and the CPU backend's ops; statistics
 * of the real draws over 100,000 steps (lambda's mean and variance against
 * Beta(alpha, alpha), the mixed fraction against prob, the CutMix share
 * against switch); per-image crop, flip and erasing; determinism in
 * (seed, step); the parallel split against one thread.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/backend.h"
#include "flow.h"
#include "pipeline/augment.h"

static const jm_backend *be = &jm_backend_cpu;

/* A config with MixUp and/or CutMix as timm's defaults otherwise. */
static jm_augment_config mix_config(double mixup, double cutmix)
{
	jm_augment_config c = {0};
	c.mixup = mixup;
	c.cutmix = cutmix;
	c.prob = 1.0;
	c.switch_prob = 0.5;
	c.mode = JM_MIXMODE_BATCH;
	c.correct_lam = 1;
	return c;
}

static jm_aug_mix mix_of(const jm_augment_config *c, int H, int W, jm_mix_draw d, int f32)
{
	jm_aug_mix m;
	jm_mix_from_draw(c, H, W, &d, f32, &m);
	return m;
}

/* x[b][c][y][x] = 1000 b + 100 c + W y + x: every element tells where it
 * came from. */
static float *numbered(int B, int C, int H, int W)
{
	float *x = malloc((size_t)B * C * H * W * sizeof *x);
	for (int b = 0; b < B; b++)
		for (int c = 0; c < C; c++)
			for (int y = 0; y < H; y++)
				for (int xx = 0; xx < W; xx++)
					x[(((size_t)b * C + c) * H + y) * W + xx] =
						(float)(1000 * b + 100 * c + W * y + xx);
	return x;
}

#define AT(x, b, c, y, xx) (x)[((((size_t)(b) * C + (c)) * H + (y)) * W + (xx))]

/* ---- MixUp ---------------------------------------------------------------- */

Test(mixup, lam_0_3_on_two_samples)
{
	jm_augment_config c = mix_config(1.0, 0.0);
	jm_aug_mix m = mix_of(&c, 1, 3, (jm_mix_draw){.mixed = 1, .lam = 0.3}, 0);
	cr_assert_eq(m.kind, JM_MIX_BLEND);
	cr_assert_eq(m.a, 0.3f);
	cr_assert_eq(m.b, (float)(1.0 - 0.3), "1 - lam in double, then float, as torch's scalar");
	float x[6] = {1, 2, 3, 10, 20, 30}, orig[6];
	memcpy(orig, x, sizeof x);
	jm_aug_mix plan[2] = {m, m};
	be->augment_mix(x, plan, 2, 1, 1, 3);
	for (int k = 0; k < 3; k++) {
		cr_assert_float_eq(x[k], 0.3 * orig[k] + 0.7 * orig[3 + k], 1e-5, "x0[%d] = %g", k, x[k]);
		cr_assert_float_eq(x[3 + k], 0.3 * orig[3 + k] + 0.7 * orig[k], 1e-5);
		/* to the bit: fl(fl(a x_i) + fl(b x_j)), no fused multiply-add */
		float want = m.a * orig[k];
		want += m.b * orig[3 + k];
		cr_assert_eq(x[k], want);
	}
	/* targets: 0.3 onehot(2) + 0.7 onehot(5) */
	int32_t y[2] = {2, 5};
	float t[20];
	be->mix_targets(t, y, plan, 2, 10, 0.0f);
	for (int k = 0; k < 10; k++) {
		cr_assert_float_eq(t[k], k == 2 ? 0.3 : k == 5 ? 0.7 : 0.0, 1e-7, "t0[%d]", k);
		cr_assert_float_eq(t[10 + k], k == 5 ? 0.3 : k == 2 ? 0.7 : 0.0, 1e-7, "t1[%d]", k);
	}
}

Test(mixup, label_smoothing_0_1_over_10_classes)
{
	jm_augment_config c = mix_config(1.0, 0.0);
	jm_aug_mix m = mix_of(&c, 1, 1, (jm_mix_draw){.mixed = 1, .lam = 0.3}, 0);
	jm_aug_mix plan[2] = {m, m};
	int32_t y[2] = {7, 1};
	float t[20];
	be->mix_targets(t, y, plan, 2, 10, 0.1f);
	for (int r = 0; r < 2; r++) {
		double sum = 0;
		for (int k = 0; k < 10; k++) {
			float v = t[r * 10 + k];
			int own = k == y[r], other = k == y[1 - r];
			/* 0.3 * 0.91 + 0.7 * 0.01 = 0.28; 0.3 * 0.01 + 0.7 * 0.91 = 0.64 */
			cr_assert_float_eq(v, own ? 0.28 : other ? 0.64 : 0.01, 1e-6, "row %d [%d] = %g",
					   r, k, v);
			sum += v;
		}
		cr_assert_float_eq(sum, 1.0, 1e-6, "row %d sums to %g", r, sum);
	}
	/* the same label twice is one smoothed one-hot */
	int32_t same[2] = {4, 4};
	be->mix_targets(t, same, plan, 2, 10, 0.1f);
	cr_assert_float_eq(t[4], 0.91, 1e-6);
	cr_assert_float_eq(t[0], 0.01, 1e-7);
	/* a label outside [0, K) gives a zero row, as xent ignores it */
	int32_t bad[2] = {3, 10};
	be->mix_targets(t, bad, plan, 2, 10, 0.1f);
	for (int k = 0; k < 20; k++)
		cr_assert_eq(t[k], 0.0f);
}

Test(mixup, per_sample_lambdas_are_float32)
{
	jm_augment_config c = mix_config(1.0, 0.0);
	jm_aug_mix m = mix_of(&c, 1, 1, (jm_mix_draw){.mixed = 1, .lam = 0.123456789}, 1);
	cr_assert_eq(m.a, 0.123456789f);
	cr_assert_eq(m.b, 1.0f - 0.123456789f, "1 - lam in float32, as timm's lam_batch");
	/* unmixed: a = 1, b = 0, nothing moves */
	jm_aug_mix n = mix_of(&c, 1, 1, (jm_mix_draw){.mixed = 0, .lam = 0.5}, 1);
	cr_assert_eq(n.kind, JM_MIX_NONE);
	cr_assert_eq(n.a, 1.0f);
	cr_assert_eq(n.b, 0.0f);
}

/* ---- CutMix boxes ------------------------------------------------------------- */

static void expect_box(double lam, int cy, int cx, int y0, int y1, int x0, int x1, double want)
{
	jm_aug_mix m = {0};
	double got = jm_cutmix_box(28, 28, lam, cy, cx, 1, &m);
	cr_assert(m.y0 == y0 && m.y1 == y1 && m.x0 == x0 && m.x1 == x1,
		  "lam %g at (%d,%d): box y [%d,%d) x [%d,%d), want y [%d,%d) x [%d,%d)", lam, cy, cx,
		  m.y0, m.y1, m.x0, m.x1, y0, y1, x0, x1);
	cr_assert_float_eq(got, want, 5e-6, "lam %g at (%d,%d): lam' %.6f, want %.5f", lam, cy, cx,
			   got, want);
	cr_assert_eq(got, 1.0 - (double)((y1 - y0) * (x1 - x0)) / 784.0);
}

Test(cutmix, boxes_and_corrected_lambda_on_28x28)
{
	expect_box(0.5, 14, 14, 5, 23, 5, 23, 0.58673);
	expect_box(0.5, 0, 0, 0, 9, 0, 9, 0.89668);
	expect_box(0.3, 10, 20, 0, 21, 9, 28, 0.49107);
	jm_aug_mix m = {0};
	cr_assert_eq(jm_cutmix_box(28, 28, 0.75, 14, 14, 1, &m), 0.75, "exactly");
	cr_assert(m.y0 == 7 && m.y1 == 21 && m.x0 == 7 && m.x1 == 21);
}

Test(cutmix, lambda_0_and_1)
{
	/* lam 0: a full-size box; centred it covers the whole image */
	expect_box(0.0, 14, 14, 0, 28, 0, 28, 0.0);
	expect_box(0.0, 0, 0, 0, 14, 0, 14, 0.75);
	/* lam 1: no box at all */
	expect_box(1.0, 14, 14, 14, 14, 14, 14, 1.0);
	/* lam 1 from the draw is "not mixed": nothing moves, target one-hot */
	jm_augment_config c = mix_config(0.0, 1.0);
	jm_aug_mix n = mix_of(&c, 28, 28, (jm_mix_draw){.mixed = 1, .cutmix = 1, .lam = 1.0}, 0);
	cr_assert_eq(n.kind, JM_MIX_NONE);
	/* lam 0 at the centre: each sample becomes the other, targets swap */
	jm_aug_mix z = mix_of(&c, 28, 28,
			      (jm_mix_draw){.mixed = 1, .cutmix = 1, .lam = 0.0, .cy = 14, .cx = 14}, 0);
	cr_assert_eq(z.kind, JM_MIX_BOX);
	cr_assert_eq(z.a, 0.0f);
	cr_assert_eq(z.b, 1.0f);
	int C = 1, H = 28, W = 28;
	float *x = numbered(2, C, H, W);
	jm_aug_mix plan[2] = {z, z};
	be->augment_mix(x, plan, 2, C, H, W);
	cr_assert_eq(AT(x, 0, 0, 3, 4), 1000.0f + 28 * 3 + 4);
	cr_assert_eq(AT(x, 1, 0, 27, 27), 27.0f * 28 + 27);
	free(x);
}

Test(cutmix, two_samples_each_holds_the_others_patch)
{
	jm_augment_config c = mix_config(0.0, 1.0);
	jm_aug_mix m = mix_of(&c, 28, 28,
			      (jm_mix_draw){.mixed = 1, .cutmix = 1, .lam = 0.5, .cy = 14, .cx = 14}, 0);
	cr_assert_eq(m.kind, JM_MIX_BOX);
	cr_assert(m.y0 == 5 && m.y1 == 23 && m.x0 == 5 && m.x1 == 23);
	cr_assert_eq(m.a, (float)(1.0 - 324.0 / 784.0));
	int C = 3, H = 28, W = 28;
	float *x = numbered(2, C, H, W), *orig = numbered(2, C, H, W);
	jm_aug_mix plan[2] = {m, m};
	be->augment_mix(x, plan, 2, C, H, W);
	for (int b = 0; b < 2; b++)
		for (int ch = 0; ch < C; ch++)
			for (int y = 0; y < H; y++)
				for (int xx = 0; xx < W; xx++) {
					int in = y >= 5 && y < 23 && xx >= 5 && xx < 23;
					cr_assert_eq(AT(x, b, ch, y, xx), AT(orig, in ? 1 - b : b, ch, y, xx),
						     "sample %d (%d,%d,%d)", b, ch, y, xx);
				}
	/* targets: the corrected lam of itself, the rest of the other */
	int32_t y[2] = {0, 1};
	float t[4];
	be->mix_targets(t, y, plan, 2, 2, 0.0f);
	cr_assert_float_eq(t[0], 460.0 / 784.0, 1e-6);
	cr_assert_float_eq(t[1], 324.0 / 784.0, 1e-6);
	cr_assert_float_eq(t[2], 324.0 / 784.0, 1e-6);
	free(x);
	free(orig);
}

Test(cutmix, uncorrected_lambda_and_minmax)
{
	jm_augment_config c = mix_config(0.0, 1.0);
	c.correct_lam = 0;
	jm_aug_mix m = mix_of(&c, 28, 28,
			      (jm_mix_draw){.mixed = 1, .cutmix = 1, .lam = 0.5, .cy = 0, .cx = 0}, 0);
	cr_assert(m.y0 == 0 && m.y1 == 9 && m.x0 == 0 && m.x1 == 9);
	cr_assert_eq(m.a, 0.5f, "correct_lam off keeps the drawn lam");
	/* minmax: sides and corner drawn directly, lam always from the area */
	c.has_minmax = 1;
	c.minmax[0] = 0.2, c.minmax[1] = 0.8;
	jm_aug_mix b = mix_of(&c, 28, 28,
			      (jm_mix_draw){.mixed = 1, .cutmix = 1, .lam = 0.9, .cut_h = 10,
					    .cut_w = 12, .y0 = 3, .x0 = 4}, 0);
	cr_assert(b.y0 == 3 && b.y1 == 13 && b.x0 == 4 && b.x1 == 16);
	cr_assert_eq(b.a, (float)(1.0 - 120.0 / 784.0));
	/* the real draws stay inside [int(28*0.2), int(28*0.8)) = [5, 22) */
	jm_rng r;
	jm_rng_seed(&r, 9);
	for (int i = 0; i < 2000; i++) {
		jm_mix_draw d;
		jm_mix_draw_one(&c, 28, 28, &r, &d);
		cr_assert(d.cutmix);
		cr_assert(d.cut_h >= 5 && d.cut_h < 22 && d.cut_w >= 5 && d.cut_w < 22);
		cr_assert(d.y0 >= 0 && d.y0 + d.cut_h < 28 + 1 && d.x0 >= 0 && d.x0 + d.cut_w <= 28);
	}
}

/* Pair and elem modes: every output comes from the batch as it came in,
 * even when i and B-1-i mix differently. */
Test(cutmix, elem_mode_reads_an_unmodified_source)
{
	jm_augment_config c = mix_config(1.0, 1.0);
	int C = 2, H = 6, W = 6, B = 4;
	float *x = numbered(B, C, H, W), *orig = numbered(B, C, H, W);
	jm_aug_mix plan[4];
	plan[0] = mix_of(&c, H, W, (jm_mix_draw){.mixed = 1, .lam = 0.25f}, 1);    /* MixUp */
	plan[3] = mix_of(&c, H, W, (jm_mix_draw){.mixed = 1, .cutmix = 1, .lam = 0.5f, .cy = 2,
						  .cx = 3}, 1);                 /* CutMix */
	plan[1] = mix_of(&c, H, W, (jm_mix_draw){.mixed = 0}, 1);                  /* none */
	plan[2] = mix_of(&c, H, W, (jm_mix_draw){.mixed = 1, .lam = 0.5f}, 1);
	be->augment_mix(x, plan, B, C, H, W);
	jm_aug_mix *m3 = &plan[3];
	for (int ch = 0; ch < C; ch++)
		for (int y = 0; y < H; y++)
			for (int xx = 0; xx < W; xx++) {
				float o0 = AT(orig, 0, ch, y, xx), o1 = AT(orig, 1, ch, y, xx);
				float o2 = AT(orig, 2, ch, y, xx), o3 = AT(orig, 3, ch, y, xx);
				float want0 = 0.25f * o0;
				want0 += 0.75f * o3;
				cr_assert_eq(AT(x, 0, ch, y, xx), want0);
				int in = y >= m3->y0 && y < m3->y1 && xx >= m3->x0 && xx < m3->x1;
				cr_assert_eq(AT(x, 3, ch, y, xx), in ? o0 : o3,
					     "sample 3 must hold sample 0 as it came in");
				cr_assert_eq(AT(x, 1, ch, y, xx), o1);
				float want2 = 0.5f * o2;
				want2 += 0.5f * o1;
				cr_assert_eq(AT(x, 2, ch, y, xx), want2, "sample 2 mixes the original 1");
			}
	free(x);
	free(orig);
}

Test(cutmix, plans_by_mode)
{
	jm_augment_config c = mix_config(1.0, 1.0);
	enum { B = 8 };
	jm_aug_mix m[B];
	int distinct;
	/* batch: one lam and box for all */
	for (int64_t step = 0; step < 50; step++) {
		jm_augment_plan(&c, 7, step, B, 28, 28, m, NULL);
		for (int i = 1; i < B; i++)
			cr_assert(!memcmp(&m[i], &m[0], sizeof m[0]));
	}
	/* pair: i and B-1-i share theirs; pairs differ */
	c.mode = JM_MIXMODE_PAIR;
	distinct = 0;
	for (int64_t step = 0; step < 50; step++) {
		jm_augment_plan(&c, 7, step, B, 28, 28, m, NULL);
		for (int i = 0; i < B; i++)
			cr_assert(!memcmp(&m[i], &m[B - 1 - i], sizeof m[0]));
		distinct += memcmp(&m[0], &m[1], sizeof m[0]) != 0;
	}
	cr_assert(distinct > 40, "pairs draw their own lambdas");
	/* elem: every sample its own */
	c.mode = JM_MIXMODE_ELEM;
	distinct = 0;
	for (int64_t step = 0; step < 50; step++) {
		jm_augment_plan(&c, 7, step, B, 28, 28, m, NULL);
		distinct += memcmp(&m[0], &m[B - 1], sizeof m[0]) != 0;
	}
	cr_assert(distinct > 40);
}

Test(cutmix, odd_batches)
{
	jm_augment_config c = mix_config(1.0, 0.0);
	jm_err err = {0};
	const char *key = NULL;
	c.mode = JM_MIXMODE_PAIR;
	cr_assert_eq(jm_augment_check(&c, 63, 28, 28, &key, &err), -1);
	cr_assert_str_eq(err.msg, "[augment] mode = pair mixes samples in pairs: it needs an even "
				  "[train] batch, got 63");
	cr_assert_str_eq(key, "augment.mode");
	cr_assert_eq(err.code, JM_EXIT_INPUT);
	c.mode = JM_MIXMODE_ELEM;
	cr_assert_eq(jm_augment_check(&c, 5, 28, 28, NULL, &err), -1);
	cr_assert(strstr(err.msg, "mode = elem"), "%s", err.msg);
	/* batch mode: the middle sample is its own partner */
	c.mode = JM_MIXMODE_BATCH;
	cr_assert_eq(jm_augment_check(&c, 3, 28, 28, NULL, &err), 0);
	int C = 1, H = 4, W = 4;
	float *x = numbered(3, C, H, W), *orig = numbered(3, C, H, W);
	jm_aug_mix box = mix_of(&c, H, W, (jm_mix_draw){.mixed = 1, .cutmix = 1, .lam = 0.2,
							.cy = 2, .cx = 2}, 0);
	jm_aug_mix plan[3] = {box, box, box};
	be->augment_mix(x, plan, 3, C, H, W);
	for (int k = 0; k < 16; k++)
		cr_assert_eq(x[16 + k], orig[16 + k], "the middle sample stays as it is");
	cr_assert_eq(AT(x, 0, 0, 2, 2), AT(orig, 2, 0, 2, 2));
	free(x);
	free(orig);
}

/* ---- statistics of the draws -------------------------------------------------- */

#define NDRAWS 100000

/* Mean and variance of 100,000 lambdas against Beta(alpha, alpha): mean
 * 1/2, variance 1/(4(2 alpha + 1)); each within 5 standard errors (of the
 * variance estimated from the sample's fourth moment). */
static void expect_beta(double alpha, int cutmix)
{
	jm_augment_config c = cutmix ? mix_config(0.0, alpha) : mix_config(alpha, 0.0);
	double *lam = malloc(NDRAWS * sizeof *lam), mean = 0, var = 0, m4 = 0;
	jm_rng r;
	jm_rng_seed(&r, 1234);
	for (int i = 0; i < NDRAWS; i++) {
		jm_mix_draw d;
		jm_mix_draw_one(&c, 28, 28, &r, &d);
		cr_assert(d.mixed && d.cutmix == cutmix);
		lam[i] = d.lam;
		mean += d.lam;
	}
	mean /= NDRAWS;
	for (int i = 0; i < NDRAWS; i++) {
		double e = lam[i] - mean;
		var += e * e;
		m4 += e * e * e * e;
	}
	var /= NDRAWS - 1;
	m4 /= NDRAWS;
	double want_var = 1.0 / (4.0 * (2.0 * alpha + 1.0));
	double se_mean = sqrt(want_var / NDRAWS), se_var = sqrt((m4 - var * var) / NDRAWS);
	cr_expect(fabs(mean - 0.5) < 5 * se_mean, "alpha %g: mean %.5f, want 0.5 +- %.5f", alpha,
		  mean, 5 * se_mean);
	cr_expect(fabs(var - want_var) < 5 * se_var, "alpha %g: variance %.5f, want %.5f +- %.5f",
		  alpha, var, want_var, 5 * se_var);
	free(lam);
}

Test(draws, lambda_is_beta_alpha_alpha)
{
	expect_beta(0.2, 0);
	expect_beta(1.0, 0);
	expect_beta(1.0, 1);
	expect_beta(2.5, 1);
}

static double binomial_tolerance(double p, int n)
{
	return 5 * sqrt(p * (1 - p) / n) + 1e-12;
}

/* The mixed fraction matches prob and the CutMix share matches switch,
 * through the whole plan (batch mode: one decision per step). */
Test(draws, prob_and_switch)
{
	jm_augment_config c = mix_config(1.0, 1.0);
	c.prob = 0.7;
	c.switch_prob = 0.6;
	int mixed = 0, cut = 0;
	jm_aug_mix m[2];
	for (int64_t step = 0; step < NDRAWS; step++) {
		jm_augment_plan(&c, 42, step, 2, 28, 28, m, NULL);
		mixed += m[0].kind != JM_MIX_NONE;
		cut += m[0].kind == JM_MIX_BOX;
	}
	double f = (double)mixed / NDRAWS, s = (double)cut / mixed;
	cr_expect(fabs(f - 0.7) < binomial_tolerance(0.7, NDRAWS), "mixed fraction %.4f", f);
	cr_expect(fabs(s - 0.6) < binomial_tolerance(0.6, mixed), "CutMix share %.4f", s);

	/* elem mode decides per sample: 1000 steps of 100 */
	c.mode = JM_MIXMODE_ELEM;
	c.prob = 0.4;
	c.switch_prob = 0.25;
	jm_aug_mix e[100];
	mixed = cut = 0;
	for (int64_t step = 0; step < NDRAWS / 100; step++) {
		mixed += jm_augment_plan(&c, 42, step, 100, 28, 28, e, NULL);
		for (int i = 0; i < 100; i++)
			cut += e[i].kind == JM_MIX_BOX;
	}
	f = (double)mixed / NDRAWS, s = (double)cut / mixed;
	cr_expect(fabs(f - 0.4) < binomial_tolerance(0.4, NDRAWS), "elem mixed fraction %.4f", f);
	cr_expect(fabs(s - 0.25) < binomial_tolerance(0.25, mixed), "elem CutMix share %.4f", s);

	/* only one of them on: switch does not matter */
	c = mix_config(0.0, 1.0);
	jm_augment_plan(&c, 1, 1, 2, 28, 28, m, NULL);
	cr_assert_eq(m[0].kind, JM_MIX_BOX);
	c = mix_config(1.0, 0.0);
	jm_augment_plan(&c, 1, 1, 2, 28, 28, m, NULL);
	cr_assert_eq(m[0].kind, JM_MIX_BLEND);
}

Test(draws, deterministic_in_seed_and_step)
{
	jm_augment_config c = mix_config(1.0, 1.0);
	c.mode = JM_MIXMODE_ELEM;
	c.hflip = 0.5;
	c.crop_padding = 2;
	c.erasing = 0.5;
	c.erase_area[0] = 0.02, c.erase_area[1] = 1.0 / 3;
	c.erase_log_aspect[0] = log(0.3), c.erase_log_aspect[1] = -log(0.3);
	enum { B = 16 };
	jm_aug_mix m1[B], m2[B], m3[B];
	jm_aug_geom g1[B], g2[B], g3[B];
	jm_augment_plan(&c, 5, 77, B, 28, 28, m1, g1);
	jm_augment_plan(&c, 5, 77, B, 28, 28, m2, g2);
	cr_assert(!memcmp(m1, m2, sizeof m1) && !memcmp(g1, g2, sizeof g1));
	jm_augment_plan(&c, 5, 78, B, 28, 28, m3, g3);
	cr_assert(memcmp(m1, m3, sizeof m1) && memcmp(g1, g3, sizeof g1), "another step");
	jm_augment_plan(&c, 6, 77, B, 28, 28, m3, g3);
	cr_assert(memcmp(m1, m3, sizeof m1) && memcmp(g1, g3, sizeof g1), "another seed");
	/* the per-image draws do not move the mixing ones */
	jm_augment_config plain = c;
	plain.hflip = 0, plain.crop_padding = 0, plain.erasing = 0;
	jm_augment_plan(&plain, 5, 77, B, 28, 28, m3, NULL);
	cr_assert(!memcmp(m1, m3, sizeof m1));
}

/* ---- per-image ops -------------------------------------------------------------- */

Test(geometry, flip_crop_and_padding)
{
	int C = 2, H = 5, W = 6, B = 4;
	float *x = numbered(B, C, H, W), *out = calloc((size_t)B * C * H * W, sizeof *out);
	jm_aug_geom g[4] = {
		{0},                            /* identity */
		{.flip = 1},                    /* mirror */
		{.dy = -2, .dx = 1},            /* shifted, padding at the top and right */
		{.flip = 1, .dy = 1, .dx = -1}, /* crop, then mirror */
	};
	be->augment_geometry(out, x, g, B, C, H, W, JM_PAD_ZERO, -7.0f, JM_ERASE_CONST, 0);
	for (int ch = 0; ch < C; ch++)
		for (int y = 0; y < H; y++)
			for (int xx = 0; xx < W; xx++) {
				cr_assert_eq(AT(out, 0, ch, y, xx), AT(x, 0, ch, y, xx));
				cr_assert_eq(AT(out, 1, ch, y, xx), AT(x, 1, ch, y, W - 1 - xx));
				int sy = y - 2, sx = xx + 1;
				float want = sy < 0 || sx >= W ? -7.0f : AT(x, 2, ch, sy, sx);
				cr_assert_eq(AT(out, 2, ch, y, xx), want, "(%d,%d,%d)", ch, y, xx);
				sy = y + 1, sx = W - 1 - xx - 1;
				want = sy >= H || sx < 0 ? -7.0f : AT(x, 3, ch, sy, sx);
				cr_assert_eq(AT(out, 3, ch, y, xx), want);
			}
	/* reflect: -1 -> 1, H -> H-2, the edge not repeated */
	be->augment_geometry(out, x, g, B, C, H, W, JM_PAD_REFLECT, -7.0f, JM_ERASE_CONST, 0);
	static const int ry[5] = {2, 1, 0, 1, 2}; /* rows y-2 reflected */
	for (int xx = 0; xx < W; xx++) {
		int sx = xx + 1 >= W ? 2 * (W - 1) - (xx + 1) : xx + 1;
		for (int y = 0; y < H; y++)
			cr_assert_eq(AT(out, 2, 1, y, xx), AT(x, 2, 1, ry[y], sx), "(%d,%d)", y, xx);
	}
	free(x);
	free(out);
}

Test(geometry, erasing_fills)
{
	int C = 3, H = 8, W = 8, B = 2;
	float *x = numbered(B, C, H, W), *out = calloc((size_t)B * C * H * W, sizeof *out);
	jm_aug_geom g[2] = {{.ey0 = 1, .ey1 = 4, .ex0 = 2, .ex1 = 7}, {0}};
	for (int mode = JM_ERASE_CONST; mode <= JM_ERASE_PIXEL; mode++) {
		be->augment_geometry(out, x, g, B, C, H, W, JM_PAD_ZERO, 0, mode, 99);
		for (int ch = 0; ch < C; ch++)
			for (int y = 0; y < H; y++)
				for (int xx = 0; xx < W; xx++) {
					int in = y >= 1 && y < 4 && xx >= 2 && xx < 7;
					float v = AT(out, 0, ch, y, xx);
					if (!in) {
						cr_assert_eq(v, AT(x, 0, ch, y, xx));
						continue;
					}
					uint64_t plane = (uint64_t)ch;
					float want = mode == JM_ERASE_CONST ? 0.0f
						     : mode == JM_ERASE_RAND
							     ? jm_hash_normalf(99, plane)
							     : jm_hash_normalf(99, (plane * H + y) * W + xx);
					cr_assert_eq(v, want, "mode %d (%d,%d,%d)", mode, ch, y, xx);
				}
		for (int k = 0; k < C * H * W; k++)
			cr_assert_eq(out[C * H * W + k], x[C * H * W + k], "no rectangle, no change");
	}
	/* the noise is standard normal */
	double s = 0, s2 = 0;
	for (int i = 0; i < NDRAWS; i++) {
		double v = jm_hash_normalf(3, (uint64_t)i);
		s += v, s2 += v * v;
	}
	cr_expect(fabs(s / NDRAWS) < 0.02 && fabs(s2 / NDRAWS - 1) < 0.03, "mean %g, E[x^2] %g",
		  s / NDRAWS, s2 / NDRAWS);
	free(x);
	free(out);
}

Test(geometry, draws_follow_the_config)
{
	jm_augment_config c = {0};
	c.hflip = 0.3;
	c.crop_padding = 3;
	c.erasing = 0.5;
	c.erase_area[0] = 0.02, c.erase_area[1] = 1.0 / 3;
	c.erase_log_aspect[0] = log(0.3), c.erase_log_aspect[1] = -log(0.3);
	enum { B = 100, STEPS = 1000 };
	jm_aug_geom g[B];
	int flips = 0, erased = 0, seen[7][7] = {{0}};
	for (int64_t step = 0; step < STEPS; step++) {
		jm_augment_plan(&c, 11, step, B, 28, 28, NULL, g);
		for (int i = 0; i < B; i++) {
			cr_assert(g[i].dy >= -3 && g[i].dy <= 3 && g[i].dx >= -3 && g[i].dx <= 3);
			seen[g[i].dy + 3][g[i].dx + 3]++;
			flips += g[i].flip;
			if (g[i].ey1 > g[i].ey0) {
				erased++;
				int h = g[i].ey1 - g[i].ey0, w = g[i].ex1 - g[i].ex0;
				cr_assert(g[i].ey0 >= 0 && g[i].ey1 <= 28 && g[i].ex0 >= 0 &&
					  g[i].ex1 <= 28 && h < 28 && w < 28);
				/* rounded sides: the area stays near [0.02, 1/3] of 784 */
				cr_assert(h * w >= 9 && h * w <= 0.34 * 784 + 2 * 28,
					  "erased %dx%d", h, w);
			}
		}
	}
	int n = B * STEPS;
	cr_expect(fabs((double)flips / n - 0.3) < binomial_tolerance(0.3, n), "flips %d", flips);
	/* a drawn box that never fits is possible but rare at 28x28 */
	cr_expect(fabs((double)erased / n - 0.5) < binomial_tolerance(0.5, n) + 0.01, "erased %d",
		  erased);
	for (int a = 0; a < 7; a++)
		for (int b = 0; b < 7; b++)
			cr_expect(fabs(seen[a][b] / (double)n - 1.0 / 49) <
					  binomial_tolerance(1.0 / 49, n),
				  "crop offset (%d,%d) drawn %d times", a - 3, b - 3, seen[a][b]);
}

Test(geometry, reflect_padding_and_minmax_checks)
{
	jm_augment_config c = {0};
	jm_err err = {0};
	const char *key;
	c.crop_padding = 28;
	c.pad_mode = JM_PAD_REFLECT;
	cr_assert_eq(jm_augment_check(&c, 64, 28, 28, &key, &err), -1);
	cr_assert_str_eq(err.msg, "[augment] crop_padding: reflect padding must be smaller than the "
				  "image (28x28), got 28");
	cr_assert_str_eq(key, "augment.crop_padding");
	c.pad_mode = JM_PAD_ZERO;
	cr_assert_eq(jm_augment_check(&c, 64, 28, 28, NULL, &err), 0, "zero padding of any size");
	c = mix_config(0.0, 1.0);
	c.has_minmax = 1;
	c.minmax[0] = 0.5, c.minmax[1] = 0.51;
	cr_assert_eq(jm_augment_check(&c, 64, 28, 28, &key, &err), -1);
	cr_assert_str_eq(err.msg, "[augment] cutmix_minmax: 0.5,0.51 leaves no box size on 28x28 "
				  "images (sides are drawn from [int(side*min), int(side*max)))");
	cr_assert_str_eq(key, "augment.cutmix_minmax");
}

/* ---- the flow, the augmenter, threads, tabular ------------------------------------ */

Test(augmenter, config_from_the_flow)
{
	jm_flow *f = NULL;
	jm_err err = {0};
	cr_assert_eq(jm_flow_parse(&f,
				   "[augment]\ncutmix = 1.0\nmixup = 1.0\nswitch = 0.6\nmode = elem\n"
				   "hflip = 0.5\ncrop_padding = 2\npadding_mode = reflect\n"
				   "erasing_mode = pixel\n[train]\nlabel_smoothing = 0.1\n",
				   "t.flow", &err), 0, "%s", err.msg);
	jm_augment_config c;
	jm_augment_config_from_flow(&c, f);
	cr_assert(c.cutmix == 1.0 && c.mixup == 1.0 && c.switch_prob == 0.6);
	cr_assert_eq(c.mode, JM_MIXMODE_ELEM);
	cr_assert_eq(c.pad_mode, JM_PAD_REFLECT);
	cr_assert_eq(c.erase_mode, JM_ERASE_PIXEL);
	cr_assert_eq(c.smoothing, 0.1, "inherited from [train]");
	cr_assert_eq(c.erase_area[1], 1.0 / 3);
	cr_assert_float_eq(c.erase_log_aspect[1], -log(0.3), 1e-12);
	cr_assert(jm_augment_mixing(&c) && jm_augment_geometry(&c));
	cr_assert_eq(jm_flow_set(f, "augment.label_smoothing=0.2", &err), 0);
	cr_assert_eq(jm_flow_set(f, "augment.cutmix_minmax=0.25,0.75", &err), 0);
	cr_assert_eq(jm_flow_set(f, "augment.cutmix=0", &err), 0);
	jm_augment_config_from_flow(&c, f);
	cr_assert_eq(c.smoothing, 0.2);
	cr_assert(c.has_minmax && c.cutmix == 1.0, "minmax turns CutMix on with alpha 1, as timm");
	jm_flow_free(f);

	/* nothing to do: no augmenter, training stays as it is */
	jm_augment_config none = {0};
	none.prob = 1;
	jm_augmenter *a = (jm_augmenter *)1;
	cr_assert_eq(jm_augmenter_new(&a, be, &none, 64, 1, 28, 28, 10, 1, &err), 0);
	cr_assert_null(a);
	jm_augmenter_free(NULL);
}

Test(augmenter, apply_follows_its_plan)
{
	jm_augment_config c = mix_config(1.0, 1.0);
	c.hflip = 0.5;
	c.crop_padding = 2;
	enum { B = 8, C = 1, H = 10, W = 10, K = 3 };
	jm_augmenter *a = NULL;
	jm_err err = {0};
	cr_assert_eq(jm_augmenter_new(&a, be, &c, B, C, H, W, K, 1, &err), 0, "%s", err.msg);
	float *x = numbered(B, C, H, W), *want = calloc((size_t)B * C * H * W, sizeof *want);
	int32_t y[B] = {0, 1, 2, 0, 1, 2, 0, 1};
	const float *soft = NULL;
	float *out = jm_augmenter_apply(a, x, y, 3, 12, -1.0f, &soft);
	cr_assert_not_null(soft);
	/* the same by hand from the plan */
	jm_aug_mix m[B];
	jm_aug_geom g[B];
	jm_augment_plan(&c, 3, 12, B, H, W, m, g);
	float *x2 = numbered(B, C, H, W);
	be->augment_geometry(want, x2, g, B, C, H, W, JM_PAD_ZERO, -1.0f, JM_ERASE_CONST, 0);
	be->augment_mix(want, m, B, C, H, W);
	cr_assert(!memcmp(out, want, sizeof(float) * B * C * H * W));
	float t[B * K];
	be->mix_targets(t, y, m, B, K, 0.0f);
	cr_assert(!memcmp(soft, t, sizeof t));
	jm_augmenter_free(a);
	free(x), free(x2), free(want);
}

/* Large batches are split across worker threads: same bits as one. */
Test(augmenter, threads_give_the_same_bits)
{
	enum { B = 64, C = 3, H = 48, W = 48 };
	size_t n = (size_t)B * C * H * W;
	jm_augment_config c = mix_config(1.0, 1.0);
	c.mode = JM_MIXMODE_ELEM;
	jm_aug_mix m[B];
	jm_aug_geom g[B];
	c.hflip = 0.5, c.crop_padding = 4, c.erasing = 0.5, c.erase_mode = JM_ERASE_PIXEL;
	c.erase_area[0] = 0.02, c.erase_area[1] = 1.0 / 3;
	c.erase_log_aspect[0] = log(0.3), c.erase_log_aspect[1] = -log(0.3);
	jm_augment_plan(&c, 1, 2, B, H, W, m, g);
	float *x = numbered(B, C, H, W), *one = malloc(n * sizeof *one), *two = malloc(n * sizeof *two);
	jm_cpu_set_workers(1);
	be->augment_geometry(one, x, g, B, C, H, W, JM_PAD_REFLECT, 0, JM_ERASE_PIXEL, 5);
	be->augment_mix(one, m, B, C, H, W);
	jm_cpu_set_workers(3);
	be->augment_geometry(two, x, g, B, C, H, W, JM_PAD_REFLECT, 0, JM_ERASE_PIXEL, 5);
	be->augment_mix(two, m, B, C, H, W);
	jm_cpu_set_workers(1);
	cr_assert(!memcmp(one, two, n * sizeof *one));
	free(x), free(one), free(two);
}

/* Tabular MixUp: a [B, D] batch is C = H = 1, W = D; regression targets
 * [B] mix the same way (W = 1). */
Test(augmenter, tabular_mixup)
{
	jm_augment_config c = mix_config(0.4, 0.0);
	c.mode = JM_MIXMODE_ELEM;
	enum { B = 6, D = 5 };
	jm_aug_mix m[B];
	int mixed = jm_augment_plan(&c, 8, 3, B, 1, D, m, NULL);
	cr_assert_eq(mixed, B, "prob 1: every row mixed");
	float x[B * D], orig[B * D], y[B], y0[B];
	for (int i = 0; i < B * D; i++)
		x[i] = orig[i] = (float)(i * i % 17) - 3.5f;
	for (int i = 0; i < B; i++)
		y[i] = y0[i] = (float)i * 1.5f;
	be->augment_mix(x, m, B, 1, 1, D);
	be->augment_mix(y, m, B, 1, 1, 1);
	for (int i = 0; i < B; i++) {
		int j = B - 1 - i;
		cr_assert_eq(m[i].kind, JM_MIX_BLEND);
		for (int k = 0; k < D; k++) {
			float want = m[i].a * orig[i * D + k];
			want += m[i].b * orig[j * D + k];
			cr_assert_eq(x[i * D + k], want, "row %d col %d", i, k);
		}
		float wy = m[i].a * y0[i];
		wy += m[i].b * y0[j];
		cr_assert_eq(y[i], wy);
	}
}
