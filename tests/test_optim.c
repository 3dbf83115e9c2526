/*
 * test_optim.c: optimizers, learning-rate schedules and gradient clipping.
 *
 * Optimizers run a few steps on a tiny quadratic, loss = sum_i a_i p_i^2 / 2
 * (so g = a * p), and are compared with the same steps written out in
 * double from torch.optim's formulas (SGD with momentum / Nesterov / L2
 * decay; Adam with L2 decay; AdamW with decoupled decay).  One-cycle
 * values come from PyTorch's OneCycleLR.get_lr transcribed to Python (see
 * the table).  CPU backend: backend pointers are host pointers.
 *
 * Tolerances: the float32 steps track the double reference to ~1e-6 (the
 * backend forms Adam's constants in double, as PyTorch does).
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/backend.h"
#include "engine/cpu_ops.h"
#include "engine/optim.h"

static const jm_backend *be = &jm_backend_cpu;

#define N 5
static const double A[N] = {1.0, 0.5, 2.0, 0.1, 3.0};
static const double P0[N] = {1.0, -2.0, 0.5, 3.0, -0.25};

static void quad_grad(const float *p, float *g)
{
	for (int i = 0; i < N; i++)
		g[i] = (float)(A[i] * p[i]);
}

static jm_optim *make(const jm_optim_spec *s)
{
	jm_optim *o = NULL;
	jm_err err = {0};
	cr_assert_eq(jm_optim_new(&o, be, s, N, &err), 0, "%s", err.msg);
	return o;
}

/* Run `steps` steps of o with lrs[t] and compare with ref[t][i]. */
static void run_and_compare(jm_optim *o, int steps, const double *lrs,
			    double mom, double ref[][N], const char *what)
{
	float p[N], g[N];
	for (int i = 0; i < N; i++)
		p[i] = (float)P0[i];
	for (int t = 0; t < steps; t++) {
		quad_grad(p, g);
		jm_optim_step(o, p, g, lrs[t], mom);
		for (int i = 0; i < N; i++)
			cr_assert(fabs(p[i] - ref[t][i]) <= 2e-6 + 2e-6 * fabs(ref[t][i]),
				  "%s step %d p[%d]: got %.9g, expected %.9g", what,
				  t + 1, i, (double)p[i], ref[t][i]);
	}
	cr_assert_eq(jm_optim_steps(o), steps);
}

/* torch.optim.SGD, in double */
static void ref_sgd(int steps, const double *lrs, double mu, double wd,
		    int nesterov, double out[][N])
{
	double p[N], buf[N];
	memcpy(p, P0, sizeof p);
	for (int t = 0; t < steps; t++)
		for (int i = 0; i < N; i++) {
			double g = A[i] * p[i] + wd * p[i];
			if (mu != 0.0) {
				buf[i] = t == 0 ? g : mu * buf[i] + g;
				g = nesterov ? g + mu * buf[i] : buf[i];
			}
			p[i] -= lrs[t] * g;
			out[t][i] = p[i];
		}
}

/* torch.optim.Adam / AdamW, in double */
static void ref_adam(int steps, const double *lrs, double b1, double b2,
		     double eps, double wd, int decoupled, double out[][N])
{
	double p[N], m[N] = {0}, v[N] = {0};
	memcpy(p, P0, sizeof p);
	for (int t = 0; t < steps; t++) {
		double bc1 = 1.0 - pow(b1, t + 1), bc2 = 1.0 - pow(b2, t + 1);
		for (int i = 0; i < N; i++) {
			double g = A[i] * p[i];
			if (decoupled)
				p[i] *= 1.0 - lrs[t] * wd;
			else
				g += wd * p[i];
			m[i] = b1 * m[i] + (1.0 - b1) * g;
			v[i] = b2 * v[i] + (1.0 - b2) * g * g;
			double denom = sqrt(v[i]) / sqrt(bc2) + eps;
			p[i] -= lrs[t] / bc1 * m[i] / denom;
			out[t][i] = p[i];
		}
	}
}

static const double LRS[4] = {0.1, 0.05, 0.08, 0.02};

Test(optim, sgd_plain_momentum_nesterov)
{
	struct {
		double mu, wd;
		int nesterov;
	} cases[] = {{0.0, 0.0, 0}, {0.0, 0.01, 0}, {0.9, 0.0, 0}, {0.9, 0.05, 1}};
	for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
		jm_optim_spec s = {.kind = JM_OPT_SGD, .momentum = cases[c].mu,
				   .nesterov = cases[c].nesterov,
				   .weight_decay = cases[c].wd};
		jm_optim *o = make(&s);
		double ref[4][N];
		ref_sgd(4, LRS, cases[c].mu, cases[c].wd, cases[c].nesterov, ref);
		run_and_compare(o, 4, LRS, -1.0, ref, "sgd");
		cr_assert_eq(jm_optim_n_state(o), cases[c].mu > 0 ? 1 : 0);
		jm_optim_free(o);
	}
}

Test(optim, sgd_first_step_by_hand)
{
	/* p = 1, a = 1: g = 1, buf = g, nesterov g + 0.9 buf = 1.9,
	 * p = 1 - 0.1 * 1.9 = 0.81 */
	jm_optim_spec s = {.kind = JM_OPT_SGD, .momentum = 0.9, .nesterov = 1};
	jm_optim *o = make(&s);
	float p[N], g[N];
	for (int i = 0; i < N; i++)
		p[i] = (float)P0[i];
	quad_grad(p, g);
	jm_optim_step(o, p, g, 0.1, -1.0);
	cr_assert_float_eq(p[0], 0.81f, 1e-7f);
	jm_optim_free(o);
}

Test(optim, adam_and_adamw)
{
	for (int decoupled = 0; decoupled < 2; decoupled++)
		for (int w = 0; w < 2; w++) {
			double wd = w ? 0.1 : 0.0;
			jm_optim_spec s = {.kind = decoupled ? JM_OPT_ADAMW : JM_OPT_ADAM,
					   .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8,
					   .weight_decay = wd};
			jm_optim *o = make(&s);
			double ref[4][N];
			ref_adam(4, LRS, 0.9, 0.999, 1e-8, wd, decoupled, ref);
			run_and_compare(o, 4, LRS, -1.0, ref,
					decoupled ? "adamw" : "adam");
			const char *n0, *n1;
			cr_assert_eq(jm_optim_n_state(o), 2);
			cr_assert_not_null(jm_optim_state(o, 0, &n0));
			cr_assert_not_null(jm_optim_state(o, 1, &n1));
			cr_assert_str_eq(n0, "optim.m");
			cr_assert_str_eq(n1, "optim.v");
			cr_assert_null(jm_optim_state(o, 2, NULL));
			jm_optim_free(o);
		}
}

/* a*b + c rounded as the backend's optimizer kernels round it */
static float madd(float a, float b, float c)
{
	return jm_cpu_fma() ? fmaf(a, b, c) : a * b + c;
}

/* Gradients spanning zero, subnormals and 1e-30 to 1e18. */
static void wild_grads(float *g, int n, uint64_t *x)
{
	for (int i = 0; i < n; i++) {
		*x ^= *x << 13, *x ^= *x >> 7, *x ^= *x << 17;
		int e = (int)(*x % 160) - 100; /* 2^-100 .. 2^59 */
		float mag = ldexpf(1.0f + (float)(*x >> 40) * 0x1p-24f, e);
		g[i] = i % 97 == 0 ? 0.0f : i % 101 == 0 ? 0x1p-140f : (*x >> 20) & 1 ? -mag : mag;
	}
}

/*
 * The backend's Adam and AdamW in float, bit for bit against the same
 * steps written out as PyTorch's CPU kernels round them (torch.optim's
 * single-tensor path, with FMA where the CPU has it; bench/optim_parity.sh
 * checks against torch itself).  The backend also replaces the division by
 * sqrt(bc2) with FMAs: the bits must not move.  Enough elements for the
 * vector loops and their tails.
 */
Test(optim, adam_bits_as_torch_rounds)
{
	enum { M = 4099, STEPS = 40 };
	static float p[M], m[M], v[M], g[M], rp[M], rm[M], rv[M];
	uint64_t x = 0x243f6a8885a308d3u;
	for (int decoupled = 0; decoupled < 2; decoupled++) {
		double b1 = 0.9, b2 = decoupled ? 0.999 : 0.95, eps = 1e-8, wd = 0.01;
		for (int i = 0; i < M; i++) {
			p[i] = rp[i] = (float)(i % 17) * 0.125f - 1.0f;
			m[i] = v[i] = rm[i] = rv[i] = 0.0f;
		}
		for (int t = 0; t < STEPS; t++) {
			wild_grads(g, M, &x);
			double lr = 1e-3 * (1 + t % 5), bc1 = 1.0 - pow(b1, t + 1);
			double bc2 = 1.0 - pow(b2, t + 1);
			be->adam_step(p, m, v, g, M, lr, b1, b2, eps, wd, bc1, bc2, decoupled);
			float nstep = -(float)(lr / bc1), bc2s = (float)sqrt(bc2);
			float fb1 = (float)b1, fb2 = (float)b2, c1 = (float)(1.0 - b1);
			float c2 = (float)(1.0 - b2), feps = (float)eps, fwd = (float)wd;
			float decay = (float)(1.0 - lr * wd);
			for (int i = 0; i < M; i++) {
				float gi = decoupled ? g[i] : madd(fwd, rp[i], g[i]);
				float pi = decoupled ? rp[i] * decay : rp[i];
				rm[i] = madd(c1, gi, rm[i] * fb1);
				rv[i] = madd(c2 * gi, gi, rv[i] * fb2);
				rp[i] = pi + nstep * rm[i] / (sqrtf(rv[i]) / bc2s + feps);
			}
			const char *what = decoupled ? "adamw" : "adam";
			cr_assert_arr_eq(m, rm, sizeof m, "%s step %d: m", what, t + 1);
			cr_assert_arr_eq(v, rv, sizeof v, "%s step %d: v", what, t + 1);
			cr_assert_arr_eq(p, rp, sizeof p, "%s step %d: p", what, t + 1);
		}
	}
}

/* SGD the same way: plain, momentum, Nesterov, each with L2 decay. */
Test(optim, sgd_bits_as_torch_rounds)
{
	enum { M = 1031, STEPS = 12 };
	static float p[M], buf[M], g[M], rp[M], rbuf[M];
	uint64_t x = 0x13198a2e03707344u;
	for (int c = 0; c < 3; c++) {
		float mu = c ? 0.9f : 0.0f, wd = 1e-3f, lr = 0.01f;
		int nesterov = c == 2;
		for (int i = 0; i < M; i++) {
			p[i] = rp[i] = (float)(i % 11) * 0.25f - 1.0f;
			buf[i] = rbuf[i] = 0.0f;
		}
		for (int t = 0; t < STEPS; t++) {
			wild_grads(g, M, &x);
			be->sgd_step(p, mu > 0 ? buf : NULL, g, M, lr, mu, wd, nesterov, t == 0);
			for (int i = 0; i < M; i++) {
				float d = madd(wd, rp[i], g[i]);
				if (mu > 0) {
					rbuf[i] = t == 0 ? d : rbuf[i] * mu + d;
					d = nesterov ? madd(mu, rbuf[i], d) : rbuf[i];
				}
				rp[i] = madd(-lr, d, rp[i]);
			}
			cr_assert_arr_eq(p, rp, sizeof p, "sgd case %d step %d: p", c, t + 1);
			if (mu > 0)
				cr_assert_arr_eq(buf, rbuf, sizeof buf, "sgd case %d step %d: buf",
						 c, t + 1);
		}
	}
}

Test(optim, adam_first_step_by_hand)
{
	/* step 1: m = 0.1 g, v = 0.001 g^2, bias-corrected m/sqrt(v) = sign(g)
	 * so p moves by lr (up to eps): 1 - 0.1 = 0.9 */
	jm_optim_spec s = {.kind = JM_OPT_ADAM, .beta1 = 0.9, .beta2 = 0.999,
			   .eps = 1e-8};
	jm_optim *o = make(&s);
	float p[N], g[N];
	for (int i = 0; i < N; i++)
		p[i] = (float)P0[i];
	quad_grad(p, g);
	jm_optim_step(o, p, g, 0.1, -1.0);
	cr_assert_float_eq(p[0], 0.9f, 1e-6f);
	cr_assert_float_eq(p[1], -1.9f, 1e-6f);
	jm_optim_free(o);
}

Test(optim, momentum_override_is_beta1)
{
	/* a cycled beta1 (onecycle) changes both m and the bias correction */
	jm_optim_spec s = {.kind = JM_OPT_ADAM, .beta1 = 0.9, .beta2 = 0.999,
			   .eps = 1e-8};
	jm_optim *o = make(&s);
	double ref[4][N];
	ref_adam(4, LRS, 0.95, 0.999, 1e-8, 0.0, 0, ref);
	run_and_compare(o, 4, LRS, 0.95, ref, "adam beta1 0.95");
	jm_optim_free(o);

	jm_optim_spec q = {.kind = JM_OPT_SGD, .momentum = 0.9};
	o = make(&q);
	ref_sgd(4, LRS, 0.5, 0.0, 0, ref);
	run_and_compare(o, 4, LRS, 0.5, ref, "sgd momentum 0.5");
	jm_optim_free(o);
}

Test(optim, steps_are_restorable)
{
	/* resuming: a fresh optimizer told it took 2 steps continues the bias
	 * correction where the first left off (state copied in between) */
	jm_optim_spec s = {.kind = JM_OPT_ADAMW, .beta1 = 0.9, .beta2 = 0.99,
			   .eps = 1e-8, .weight_decay = 0.01};
	jm_optim *a = make(&s), *b = make(&s);
	float pa[N], pb[N], g[N];
	for (int i = 0; i < N; i++)
		pa[i] = (float)P0[i];
	for (int t = 0; t < 2; t++) {
		quad_grad(pa, g);
		jm_optim_step(a, pa, g, 0.01, -1.0);
	}
	memcpy(pb, pa, sizeof pb);
	for (int k = 0; k < 2; k++)
		memcpy(jm_optim_state(b, k, NULL), jm_optim_state(a, k, NULL),
		       N * sizeof(float));
	jm_optim_set_steps(b, jm_optim_steps(a));
	cr_assert_eq(jm_optim_steps(b), 2);
	quad_grad(pa, g);
	jm_optim_step(a, pa, g, 0.01, -1.0);
	quad_grad(pb, g);
	jm_optim_step(b, pb, g, 0.01, -1.0);
	cr_assert_arr_eq(pa, pb, sizeof pa);
	jm_optim_free(a);
	jm_optim_free(b);
}

static void expect_spec_error(const jm_optim_spec *s, const char *msg)
{
	jm_optim *o = (jm_optim *)1;
	jm_err err = {0};
	cr_assert_eq(jm_optim_new(&o, be, s, N, &err), -1);
	cr_assert_null(o);
	cr_assert_eq(err.code, JM_EXIT_INPUT);
	cr_assert_str_eq(err.msg, msg);
}

Test(optim, spec_errors)
{
	expect_spec_error(&(jm_optim_spec){.kind = 7},
			  "[train] optimizer: unknown optimizer 7");
	expect_spec_error(&(jm_optim_spec){.kind = JM_OPT_SGD, .momentum = 1.0},
			  "[train] momentum: expected a number in [0, 1), got 1");
	expect_spec_error(&(jm_optim_spec){.kind = JM_OPT_SGD, .nesterov = 1},
			  "[train] nesterov: needs momentum > 0");
	expect_spec_error(&(jm_optim_spec){.kind = JM_OPT_SGD, .weight_decay = -1},
			  "[train] weight_decay: expected a number >= 0, got -1");
	expect_spec_error(&(jm_optim_spec){.kind = JM_OPT_ADAM, .beta1 = 1.5,
					   .beta2 = 0.9, .eps = 1e-8},
			  "[train] beta1: expected a number in [0, 1), got 1.5");
	expect_spec_error(&(jm_optim_spec){.kind = JM_OPT_ADAMW, .beta1 = 0.9,
					   .beta2 = -0.1, .eps = 1e-8},
			  "[train] beta2: expected a number in [0, 1), got -0.1");
	expect_spec_error(&(jm_optim_spec){.kind = JM_OPT_ADAM, .beta1 = 0.9,
					   .beta2 = 0.99, .eps = 0},
			  "[train] eps: expected a number > 0, got 0");
}

Test(optim, names)
{
	cr_assert_eq(jm_optim_kind_from_name("sgd"), JM_OPT_SGD);
	cr_assert_eq(jm_optim_kind_from_name("adam"), JM_OPT_ADAM);
	cr_assert_eq(jm_optim_kind_from_name("adamw"), JM_OPT_ADAMW);
	cr_assert_eq(jm_optim_kind_from_name("lamb"), -1);
	cr_assert_str_eq(jm_optim_kind_name(JM_OPT_ADAMW), "adamw");
	cr_assert_eq(jm_schedule_kind_from_name("onecycle"), JM_SCHED_ONECYCLE);
	cr_assert_eq(jm_schedule_kind_from_name("cosine"), JM_SCHED_COSINE);
	cr_assert_eq(jm_schedule_kind_from_name("poly"), -1);
	cr_assert_eq(jm_clip_mode_from_name("adaptive"), JM_CLIP_ADAPTIVE);
	cr_assert_eq(jm_clip_mode_from_name("fixed"), JM_CLIP_FIXED);
	cr_assert_eq(jm_clip_mode_from_name("auto"), -1);
	jm_optim_free(NULL);
	jm_clip_free(NULL);
}

/* ------------------------------------------------------------ schedules */

Test(schedule, constant_and_step)
{
	jm_schedule c = {.kind = JM_SCHED_CONSTANT, .lr = 0.3};
	cr_assert_eq(jm_lr_at(&c, 0, 10), 0.3);
	cr_assert_eq(jm_lr_at(&c, 9, 10), 0.3);
	/* decay by 0.5 every 2 epochs of 3 steps: StepLR(step_size=2) stepped
	 * once per epoch */
	jm_schedule s = {.kind = JM_SCHED_STEP, .lr = 0.1, .gamma = 0.5,
			 .step_epochs = 2, .steps_per_epoch = 3};
	int64_t steps[] = {0, 5, 6, 11, 12, 29};
	double want[] = {0.1, 0.1, 0.05, 0.05, 0.025, 0.1 * pow(0.5, 4)};
	for (size_t i = 0; i < 6; i++)
		cr_assert_float_eq(jm_lr_at(&s, steps[i], 30), want[i], 1e-15,
				   "step %lld", (long long)steps[i]);
}

Test(schedule, warmup_cosine)
{
	jm_schedule s = {.kind = JM_SCHED_COSINE, .lr = 1.0, .min_lr = 0.1,
			 .warmup = 0.1};
	/* 10 warmup steps of 100: lr * step / 10, then half a cosine over the
	 * remaining 90 steps from 1.0 to 0.1 */
	cr_assert_eq(jm_lr_at(&s, 0, 100), 0.0);
	cr_assert_float_eq(jm_lr_at(&s, 5, 100), 0.5, 1e-15);
	cr_assert_float_eq(jm_lr_at(&s, 10, 100), 1.0, 1e-15);
	cr_assert_float_eq(jm_lr_at(&s, 55, 100), 0.55, 1e-12);
	cr_assert_float_eq(jm_lr_at(&s, 99, 100),
			   0.1 + 0.9 * 0.5 * (1.0 + cos(M_PI * 89.0 / 90.0)), 1e-15);
	cr_assert_float_eq(jm_lr_at(&s, 500, 100), jm_lr_at(&s, 99, 100), 0.0);
	jm_schedule nw = {.kind = JM_SCHED_COSINE, .lr = 0.2};
	cr_assert_float_eq(jm_lr_at(&nw, 0, 50), 0.2, 1e-15);
	cr_assert_float_eq(jm_lr_at(&nw, 25, 50), 0.1, 1e-15);
}

/* Generated by /tmp/onecycle_ref.py (PyTorch's OneCycleLR.get_lr, two
 * phases, anneal "cos", div_factor 25, final_div_factor 1e4, momentum
 * 0.95 -> 0.85 -> 0.95, transcribed from torch/optim/lr_scheduler.py):
 * {max_lr, total_steps, pct_start, step, lr, momentum}. */
static const double onecycle_ref[][6] = {
	{0.1, 100, 0.3, 0, 0.0040000000000000036, 0.94999999999999996},
	{0.1, 100, 0.3, 1, 0.0042813780565907483, 0.94970689785771789},
	{0.1, 100, 0.3, 15, 0.054598667612100041, 0.89729305457072905},
	{0.1, 100, 0.3, 28, 0.099718621943409261, 0.85029310214228204},
	{0.1, 100, 0.3, 29, 0.10000000000000001, 0.84999999999999998},
	{0.1, 100, 0.3, 30, 0.099949653528452434, 0.85005034667293422},
	{0.1, 100, 0.3, 31, 0.099798715504903171, 0.85020128530023797},
	{0.1, 100, 0.3, 64, 0.050000200000000002, 0.89999999999999991},
	{0.1, 100, 0.3, 98, 5.0746471547578801e-05, 0.94994965332706571},
	{0.1, 100, 0.3, 99, 3.9999999999999998e-07, 0.94999999999999996},
	{0.002, 10, 0.25, 0, 7.9999999999999993e-05, 0.94999999999999996},
	{0.002, 10, 0.25, 1, 0.0015199999999999999, 0.875},
	{0.002, 10, 0.25, 2, 0.0019781476881434029, 0.85109261996330965},
	{0.002, 10, 0.25, 5, 0.0011045320451538003, 0.89477357683661729},
	{0.002, 10, 0.25, 9, 8.0000000000000005e-09, 0.94999999999999996},
};

Test(schedule, onecycle_matches_pytorch)
{
	jm_optim_spec os = {.kind = JM_OPT_ADAM, .beta1 = 0.9, .beta2 = 0.999,
			    .eps = 1e-8};
	jm_optim *o = make(&os);
	for (size_t i = 0; i < sizeof onecycle_ref / sizeof onecycle_ref[0]; i++) {
		const double *r = onecycle_ref[i];
		jm_schedule s = {.kind = JM_SCHED_ONECYCLE, .lr = r[0],
				 .pct_start = r[2]};
		int64_t step = (int64_t)r[3], total = (int64_t)r[1];
		double lr = jm_lr_at(&s, step, total);
		double mom = jm_momentum_at(&s, step, total, o);
		cr_assert(fabs(lr - r[4]) <= 1e-15 * fabs(r[4]) + 1e-18,
			  "lr at %lld/%lld: %.17g, expected %.17g", (long long)step,
			  (long long)total, lr, r[4]);
		cr_assert(fabs(mom - r[5]) <= 1e-14,
			  "momentum at %lld: %.17g, expected %.17g", (long long)step,
			  mom, r[5]);
	}
	/* not cycled when switched off or for other schedules */
	jm_schedule off = {.kind = JM_SCHED_ONECYCLE, .lr = 0.1, .pct_start = 0.3,
			   .no_cycle_momentum = 1};
	cr_assert_eq(jm_momentum_at(&off, 10, 100, o), 0.9);
	jm_schedule cst = {.kind = JM_SCHED_CONSTANT, .lr = 0.1};
	cr_assert_eq(jm_momentum_at(&cst, 10, 100, o), 0.9);
	jm_optim_free(o);
	/* plain SGD keeps no momentum */
	jm_optim_spec ps = {.kind = JM_OPT_SGD};
	o = make(&ps);
	jm_schedule oc = {.kind = JM_SCHED_ONECYCLE, .lr = 0.1, .pct_start = 0.3};
	cr_assert_eq(jm_momentum_at(&oc, 10, 100, o), 0.0);
	jm_optim_free(o);
}

Test(schedule, onecycle_zero_length_phase)
{
	/* pct_start * total = 1: phase one is the single step 0, where torch
	 * would divide by zero; we take its end value, max_lr */
	jm_schedule s = {.kind = JM_SCHED_ONECYCLE, .lr = 0.1, .pct_start = 0.1};
	cr_assert_float_eq(jm_lr_at(&s, 0, 10), 0.1, 1e-15);
	cr_assert(jm_lr_at(&s, 9, 10) < 1e-6);
	cr_assert(isfinite(jm_lr_at(&s, 3, 10)));
}

/* ------------------------------------------------------------- clipping */

Test(clip, fixed_threshold)
{
	jm_clip c;
	cr_assert_eq(jm_clip_init(&c, JM_CLIP_FIXED, 1.0, 0, 0, NULL), 0);
	float g[2] = {3.0f, 4.0f};
	double norm = jm_clip_apply(&c, be, g, 2);
	cr_assert_float_eq(norm, 5.0, 1e-12);
	double k = 1.0 / (5.0 + 1e-6);
	cr_assert_float_eq(g[0], (float)(3.0 * k), 1e-7);
	cr_assert_float_eq(g[1], (float)(4.0 * k), 1e-7);
	cr_assert(c.last_clipped);
	/* below the threshold: unchanged */
	float h[2] = {0.3f, 0.4f};
	double hn = jm_clip_apply(&c, be, h, 2);
	cr_assert_float_eq(hn, 0.5, 1e-7);
	cr_assert_eq(h[0], 0.3f);
	cr_assert_eq(h[1], 0.4f);
	cr_assert(!c.last_clipped);
	/* not finite: reported, nothing scaled */
	float bad[2] = {NAN, 1.0f};
	cr_assert(isnan(jm_clip_apply(&c, be, bad, 2)));
	cr_assert_eq(bad[1], 1.0f);
	jm_clip_free(&c);
}

Test(clip, off_reports_norm)
{
	jm_clip c;
	cr_assert_eq(jm_clip_init(&c, JM_CLIP_OFF, 0, 0, 0, NULL), 0);
	float g[3] = {2.0f, 3.0f, 6.0f};
	double norm = jm_clip_apply(&c, be, g, 3);
	cr_assert_float_eq(norm, 7.0, 1e-12);
	cr_assert_eq(g[2], 6.0f);
	cr_assert_float_eq(jm_grad_norm(be, g, 3), 7.0, 1e-12);
	jm_clip_free(&c);
}

Test(clip, adaptive_percentile)
{
	jm_clip c;
	/* window 8: clipping starts once 2 norms are in the ring; before
	 * that max_norm (0: none) applies */
	cr_assert_eq(jm_clip_init(&c, JM_CLIP_ADAPTIVE, 0.0, 50.0, 8, NULL), 0);
	float g[1];
	double norms[] = {4.0, 2.0, 10.0, 1.0};
	/* thresholds: (none), median{4,2} = 3, median{4,2,10} = 4,
	 * median{4,2,10,1} = 3 (numpy linear interpolation) */
	double thr[] = {0.0, 3.0, 4.0, 3.0};
	for (int i = 0; i < 4; i++) {
		g[0] = (float)norms[i];
		/* outside the assertion: cr_assert_float_eq evaluates its
		 * arguments twice */
		double norm = jm_clip_apply(&c, be, g, 1);
		cr_assert_float_eq(norm, norms[i], 1e-12);
		cr_assert_float_eq(c.last_threshold, thr[i], 1e-12, "call %d: threshold %g",
				   i, c.last_threshold);
		double want = thr[i] > 0 && norms[i] > thr[i]
				      ? norms[i] * thr[i] / (norms[i] + 1e-6)
				      : norms[i];
		cr_assert_float_eq(g[0], (float)want, 1e-6, "call %d: %g", i, g[0]);
	}
	jm_clip_free(&c);

	/* 90th percentile over a ring of the last 4 norms: 1, 2, 3, 4, then
	 * 100 replaces the oldest */
	cr_assert_eq(jm_clip_init(&c, JM_CLIP_ADAPTIVE, 0.5, 90.0, 4, NULL), 0);
	g[0] = 1.0f;
	jm_clip_apply(&c, be, g, 1);
	/* window/4 = 1 norm is enough: the first norm is its own threshold */
	cr_assert_float_eq(c.last_threshold, 1.0, 1e-12);
	for (int i = 2; i <= 5; i++) {
		g[0] = i == 5 ? 100.0f : (float)i;
		jm_clip_apply(&c, be, g, 1);
	}
	/* sorted {2, 3, 4, 100}: pos 0.9 * 3 = 2.7 -> 4 + 0.7 * 96 = 71.2 */
	cr_assert_float_eq(c.last_threshold, 71.2, 1e-9);
	cr_assert_float_eq(g[0], (float)(100.0 * 71.2 / (100.0 + 1e-6)), 1e-4);
	jm_clip_free(&c);
	cr_assert_null(c.ring);
}

Test(clip, adaptive_uses_max_norm_until_warm)
{
	jm_clip c;
	cr_assert_eq(jm_clip_init(&c, JM_CLIP_ADAPTIVE, 1.0, 50.0, 12, NULL), 0);
	float g[1] = {5.0f};
	jm_clip_apply(&c, be, g, 1); /* 1 of the 3 needed */
	cr_assert_float_eq(c.last_threshold, 1.0, 0.0);
	cr_assert_float_eq(g[0], (float)(5.0 / (5.0 + 1e-6)), 1e-6);
	jm_clip_free(&c);
}

static void expect_clip_error(int mode, double max_norm, double pct, int window,
			      const char *msg)
{
	jm_clip c;
	jm_err err = {0};
	cr_assert_eq(jm_clip_init(&c, mode, max_norm, pct, window, &err), -1);
	cr_assert_eq(err.code, JM_EXIT_INPUT);
	cr_assert_str_eq(err.msg, msg);
	jm_clip_free(&c);
}

Test(clip, init_errors)
{
	expect_clip_error(JM_CLIP_FIXED, 0.0, 0, 0,
			  "[train] clip: expected a number > 0, got 0");
	expect_clip_error(JM_CLIP_FIXED, -2.0, 0, 0,
			  "[train] clip: expected a number > 0, got -2");
	expect_clip_error(JM_CLIP_ADAPTIVE, 0.0, 0.0, 10,
			  "[train] clip_percentile: expected a number in (0, 100], got 0");
	expect_clip_error(JM_CLIP_ADAPTIVE, 0.0, 90.0, 0,
			  "[train] clip_window: expected a count >= 1, got 0");
	expect_clip_error(9, 1.0, 90.0, 10, "[train] clip_mode: unknown mode 9");
}

Test(clip, state_round_trip)
{
	jm_clip a, b;
	cr_assert_eq(jm_clip_init(&a, JM_CLIP_ADAPTIVE, 0.0, 75.0, 5, NULL), 0);
	cr_assert_eq(jm_clip_init(&b, JM_CLIP_ADAPTIVE, 0.0, 75.0, 5, NULL), 0);
	float g[1];
	for (int i = 0; i < 7; i++) { /* wraps the ring */
		g[0] = 0.1f + 0.37f * (float)i;
		jm_clip_apply(&a, be, g, 1);
	}
	char *text = jm_clip_state_format(&a);
	jm_err err = {0};
	cr_assert_eq(jm_clip_state_parse(&b, text, &err), 0, "%s", err.msg);
	cr_assert_eq(b.pos, a.pos);
	cr_assert_eq(b.count, 5);
	cr_assert_arr_eq(b.ring, a.ring, 5 * sizeof(double));
	/* both clip the next gradient identically */
	float ga[1] = {1.7f}, gb[1] = {1.7f};
	jm_clip_apply(&a, be, ga, 1);
	jm_clip_apply(&b, be, gb, 1);
	cr_assert_eq(ga[0], gb[0]);
	cr_assert_eq(a.last_threshold, b.last_threshold);
	free(text);

	const char *bad[] = {"", "1", "0 6", "7 1 1.0", "2 2 1.0", "1 1 x", "1 1 1 2",
			     "1 1 -3", "1 1 nan"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		cr_assert_eq(jm_clip_state_parse(&b, bad[i], &err), -1, "\"%s\"", bad[i]);
		char *want = jm_xasprintf("clip state \"%s\" does not fit clip_mode "
					  "adaptive, clip_window 5", bad[i]);
		cr_assert_str_eq(err.msg, want);
		cr_assert_eq(err.code, JM_EXIT_INPUT);
		free(want);
	}
	jm_clip_free(&a);
	jm_clip_free(&b);

	jm_clip f;
	cr_assert_eq(jm_clip_init(&f, JM_CLIP_FIXED, 1.0, 0, 0, NULL), 0);
	text = jm_clip_state_format(&f);
	cr_assert_str_eq(text, "0 0");
	cr_assert_eq(jm_clip_state_parse(&f, text, NULL), 0);
	free(text);
	jm_clip_free(&f);
}
