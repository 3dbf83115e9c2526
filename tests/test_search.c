/*
 * test_search.c: the search core: space specs and their errors, the Sobol
 * design, the quasi-Newton minimiser, the GP (posterior on a hand-checked
 * case, gradients, Cholesky fallback), log EI in all three regions, the
 * proposer (validity, no repeats, pending points, exhaustion, fallbacks,
 * determinism) and the pruning rules on hand-made histories.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/search/acq.h"
#include "pipeline/search/gp.h"
#include "pipeline/search/opt.h"
#include "pipeline/search/prune.h"
#include "pipeline/search/sampler.h"
#include "pipeline/search/sobol.h"
#include "pipeline/search/space.h"

/* ---- space ---- */

static jm_space *space_of(const char *const *names, const char *const *specs, int n)
{
	jm_space *s = jm_space_new();
	for (int i = 0; i < n; i++) {
		jm_err err = {0};
		int col = 0;
		cr_assert_eq(jm_space_add(s, names[i], specs[i], &col, &err), 0, "%s: %s", specs[i],
		             err.msg);
	}
	return s;
}

Test(space, parses_every_form)
{
	const char *names[] = {"lr", "drop", "layers", "units", "batch", "act", "wd", "opt"};
	const char *specs[] = {"loguniform(1e-5, 1e-2)", "uniform(0.1, 0.5)", "int(1, 4)",
	                       "int(16, 1024, log)", "choice(32, 64, 128)", "choice(relu, \"leaky relu\")",
	                       " ( 0 , 0.1 ) ", "[sgd, adam]"};
	jm_space *s = space_of(names, specs, 8);
	cr_assert_eq(s->n, 8);
	cr_assert_eq(s->p[0].kind, JM_PARAM_LOGUNIFORM);
	cr_assert(s->p[0].log);
	cr_assert_float_eq(s->p[0].lo, 1e-5, 1e-20);
	cr_assert_float_eq(s->p[0].hi, 1e-2, 1e-20);
	cr_assert_eq(s->p[1].kind, JM_PARAM_UNIFORM);
	cr_assert_eq(s->p[2].kind, JM_PARAM_INT);
	cr_assert_eq(s->p[2].lo, 1);
	cr_assert_eq(s->p[2].hi, 4);
	cr_assert(!s->p[2].log);
	cr_assert(s->p[3].log);
	cr_assert_eq(s->p[4].kind, JM_PARAM_CHOICE);
	cr_assert_eq(s->p[4].nchoices, 3);
	cr_assert_not_null(s->p[4].numbers);
	cr_assert_eq(s->p[4].numbers[2], 128);
	cr_assert_str_eq(s->p[5].choices[1], "leaky relu");
	cr_assert_null(s->p[5].numbers);
	cr_assert_eq(s->p[6].kind, JM_PARAM_UNIFORM);
	cr_assert_eq(s->p[6].hi, 0.1);
	cr_assert_eq(s->p[7].kind, JM_PARAM_CHOICE);
	cr_assert_str_eq(s->p[7].choices[0], "sgd");
	cr_assert_eq(jm_space_size(s), 0);
	jm_space_free(s);
}

typedef struct bad_spec {
	const char *spec;
	int col;
	const char *msg;
} bad_spec;

Test(space, errors_point_at_the_column)
{
	static const bad_spec cases[] = {
		{"loguniform(1e-5, abc)", 18, "expected a number, got \"abc\""},
		{"logunifrom(1, 2)", 1, "unknown distribution \"logunifrom\""},
		{"uniform 0.1, 0.5)", 9, "expected \"(\" after \"uniform\", got \"0.1\""},
		{"uniform(0.1, 0.5", 17, "expected \",\" or \")\", got the end"},
		{"uniform(0.5, 0.1)", 14, "expected a high bound above the low bound 0.5"},
		{"loguniform(0, 1)", 12, "a log scale needs a low bound > 0"},
		{"int(1.5, 4)", 5, "expected an integer, got \"1.5\""},
		{"int(1, 4, lin)", 11, "expected \"log\" or nothing, got \"lin\""},
		{"uniform(1, 2, 3)", 15, "uniform takes a low and a high bound, got 3 values"},
		{"uniform(1)", 10, "uniform takes a low and a high bound, got 1 value"},
		{"choice(relu, gelu, relu)", 20, "\"relu\" is listed twice"},
		{"choice()", 8, "expected a value before \")\""},
		{"choice(a,,b)", 10, "expected a value, got \",\""},
		{"choice(a, \"b)", 11, "an unterminated quoted string"},
		{"uniform(0, 1) x", 15, "unexpected \"x\" after the closing bracket"},
		{"", 1, "expected a distribution"},
		{"   ", 4, "expected a distribution"},
		{"(1e-3, nan)", 8, "expected a number, got \"nan\""},
		{"uniform(0, 1e999)", 12, "expected a number, got \"1e999\""},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		jm_space *s = jm_space_new();
		jm_err err = {0};
		int col = -1;
		cr_assert_eq(jm_space_add(s, "train.lr", cases[i].spec, &col, &err), -1, "%s",
		             cases[i].spec);
		cr_assert_eq(err.code, JM_EXIT_INPUT);
		cr_assert_eq(col, cases[i].col, "%s: column %d, expected %d (%s)", cases[i].spec, col,
		             cases[i].col, err.msg);
		char prefix[64];
		snprintf(prefix, sizeof prefix, "train.lr: column %d: ", cases[i].col);
		cr_assert(!strncmp(err.msg, prefix, strlen(prefix)), "%s", err.msg);
		cr_assert(strstr(err.msg, cases[i].msg), "%s: got \"%s\"", cases[i].spec, err.msg);
		cr_assert_eq(s->n, 0);
		jm_space_free(s);
	}
}

Test(space, name_searched_twice)
{
	jm_space *s = jm_space_new();
	jm_err err = {0};
	cr_assert_eq(jm_space_add(s, "model.act", "choice(relu, gelu)", NULL, &err), 0);
	cr_assert_eq(jm_space_add(s, "model.act", "choice(tanh)", NULL, &err), -1);
	cr_assert_str_eq(err.msg, "model.act: column 1: searched twice");
	cr_assert_eq(s->n, 1);
	jm_space_free(s);
}

Test(space, unit_maps_round_trip)
{
	const char *names[] = {"lr", "layers", "units", "act", "d"};
	const char *specs[] = {"loguniform(1e-5, 1e-1)", "int(1, 4)", "int(16, 1024, log)",
	                       "choice(relu, gelu, tanh)", "uniform(-1, 1)"};
	jm_space *s = space_of(names, specs, 5);
	double x[5] = {1e-3, 3, 64, 2, 0.25}, u[5], back[5];
	jm_space_to_unit(s, x, u);
	cr_assert_float_eq(u[0], 0.5, 1e-12);               /* middle of the log scale */
	cr_assert_float_eq(u[1], 2.0 / 3.0, 1e-12);
	cr_assert_float_eq(u[2], log(4.0) / log(64.0), 1e-12);
	cr_assert_eq(u[3], 2);
	cr_assert_float_eq(u[4], 0.625, 1e-12);
	jm_space_from_unit(s, u, back);
	for (int i = 0; i < 5; i++)
		cr_assert_float_eq(back[i], x[i], 1e-12 * fabs(x[i]) + 1e-300);
	/* snapping lands on integer positions; steps move one integer */
	cr_assert_float_eq(jm_space_snap(s, 1, 0.4), 1.0 / 3.0, 1e-12);
	cr_assert_float_eq(jm_space_step(s, 1, 1.0 / 3.0, 1), 2.0 / 3.0, 1e-12);
	cr_assert_float_eq(jm_space_step(s, 1, 1.0, 1), 1.0, 1e-12);
	/* cells: every integer equally likely under uniform u */
	int counts[4] = {0};
	for (int k = 0; k < 400; k++) {
		double t[5] = {0.5, (k + 0.5) / 400.0, 0.5, 0.5, 0.5}, y[5];
		jm_space_sample(s, t, y);
		cr_assert(y[1] >= 1 && y[1] <= 4 && y[1] == floor(y[1]));
		counts[(int)y[1] - 1]++;
	}
	for (int k = 0; k < 4; k++)
		cr_assert_eq(counts[k], 100);
	jm_space_free(s);
}

Test(space, format_and_parse_values)
{
	const char *names[] = {"lr", "batch", "act", "layers"};
	const char *specs[] = {"loguniform(1e-5, 1e-2)", "choice(32, 64, 128)", "choice(relu, gelu)",
	                       "int(1, 4)"};
	jm_space *s = space_of(names, specs, 4);
	char buf[64];
	double v, lr = 0.0031622776601683794;
	jm_space_format(s, 0, lr, buf, sizeof buf);
	cr_assert_eq(strtod(buf, NULL), lr);
	jm_space_format(s, 0, 1e-3, buf, sizeof buf);
	cr_assert_str_eq(buf, "0.001");
	jm_space_format(s, 1, 1, buf, sizeof buf);
	cr_assert_str_eq(buf, "64");
	jm_space_format(s, 2, 1, buf, sizeof buf);
	cr_assert_str_eq(buf, "gelu");
	jm_space_format(s, 3, 3, buf, sizeof buf);
	cr_assert_str_eq(buf, "3");
	jm_err err = {0};
	cr_assert_eq(jm_space_parse_value(s, 1, "128.0", &v, &err), 0);
	cr_assert_eq(v, 2);
	cr_assert_eq(jm_space_parse_value(s, 2, "relu", &v, &err), 0);
	cr_assert_eq(v, 0);
	cr_assert_eq(jm_space_parse_value(s, 2, "swish", &v, &err), -1);
	cr_assert_str_eq(err.msg, "act: \"swish\" is not one of the options");
	cr_assert_eq(jm_space_parse_value(s, 0, "0.5", &v, &err), -1);
	cr_assert(strstr(err.msg, "lr: 0.5 is outside"), "%s", err.msg);
	cr_assert_eq(jm_space_parse_value(s, 3, "2.5", &v, &err), -1);
	cr_assert_str_eq(err.msg, "layers: expected an integer, got 2.5");
	cr_assert_eq(err.code, JM_EXIT_INPUT);
	jm_space_free(s);
}

/* ---- Sobol ---- */

Test(sobol, plain_sequence_matches_the_published_points)
{
	static const double want[8][3] = {
		{0, 0, 0}, {0.5, 0.5, 0.5}, {0.75, 0.25, 0.25}, {0.25, 0.75, 0.75},
		{0.375, 0.375, 0.625}, {0.875, 0.875, 0.125}, {0.625, 0.125, 0.875},
		{0.125, 0.625, 0.375},
	};
	for (int k = 0; k < 8; k++) {
		double u[3];
		jm_sobol_point(3, 0, 8, (uint64_t)k, u);
		for (int d = 0; d < 3; d++)
			cr_assert_float_eq(u[d], want[k][d], 1e-9, "point %d dim %d: %g", k, d, u[d]);
	}
}

Test(sobol, shifted_design_is_stratified)
{
	/* the first 16 points of a digitally shifted 2-D Sobol sequence put
	 * one point in each cell of a 4 x 4 grid (a (0,4,2)-net) */
	for (uint64_t seed = 1; seed < 6; seed++) {
		int cells[16] = {0};
		for (int k = 0; k < 16; k++) {
			double u[2];
			jm_sobol_point(2, seed, 16, (uint64_t)k, u);
			cr_assert(u[0] > 0 && u[0] < 1 && u[1] > 0 && u[1] < 1);
			cells[(int)(u[0] * 4) * 4 + (int)(u[1] * 4)]++;
		}
		for (int c = 0; c < 16; c++)
			cr_assert_eq(cells[c], 1, "seed %d cell %d", (int)seed, c);
	}
}

Test(sobol, latin_hypercube_above_the_table)
{
	enum { D = 40, N = 10 };
	int strata[D][N] = {{0}};
	for (int k = 0; k < N; k++) {
		double u[D];
		jm_sobol_point(D, 7, N, (uint64_t)k, u);
		for (int d = 0; d < D; d++) {
			cr_assert(u[d] > 0 && u[d] < 1);
			strata[d][(int)(u[d] * N)]++;
		}
	}
	for (int d = 0; d < D; d++)
		for (int s = 0; s < N; s++)
			cr_assert_eq(strata[d][s], 1);
}

/* ---- minimiser ---- */

static double rosen2(void *ctx, const double *x, double *g)
{
	(void)ctx;
	double a = 1 - x[0], b = x[1] - x[0] * x[0];
	g[0] = -2 * a - 400 * x[0] * b;
	g[1] = 200 * b;
	return a * a + 100 * b * b;
}

Test(opt, minimises_inside_and_on_the_bounds)
{
	double lo[2] = {-2, -2}, hi[2] = {2, 2}, x[2] = {-1.2, 1};
	jm_opt_result r;
	cr_assert_eq(jm_opt_minimize(rosen2, NULL, 2, x, lo, hi, 500, 1e-10, 0, &r), 0);
	cr_assert_float_eq(x[0], 1, 1e-4);
	cr_assert_float_eq(x[1], 1, 1e-4);
	/* the box cuts the valley: optimum on x1 = 0.5 at x0 = sqrt(0.5)-ish */
	double hi2[2] = {2, 0.5};
	x[0] = -1.2;
	x[1] = 0;
	cr_assert_eq(jm_opt_minimize(rosen2, NULL, 2, x, lo, hi2, 500, 1e-10, 0, &r), 0);
	cr_assert_eq(x[1], 0.5);
	double g[2];
	rosen2(NULL, x, g);
	cr_assert_float_eq(g[0], 0, 1e-5);
	cr_assert(g[1] < 0); /* held by the bound */
}

/* ---- GP ---- */

static double matern52(double s2, double r)
{
	return s2 * (1 + sqrt(5) * r + 5.0 / 3.0 * r * r) * exp(-sqrt(5) * r);
}

Test(gp, posterior_on_two_points_matches_the_closed_form)
{
	jm_gp_prior pr;
	jm_gp_prior_default(&pr, 1);
	jm_gp *gp = jm_gp_new(1, NULL, &pr);
	double X[2] = {0.2, 0.7}, y[2] = {1.0, -0.5}, ls = 0.5, s2 = 1.3, noise = 0.01;
	jm_gp_set_data(gp, 2, X, y);
	jm_gp_set_hyper(gp, &ls, s2, noise);
	cr_assert_eq(jm_gp_factor(gp, NULL), 0);
	cr_assert_eq(gp->jitter, 0);
	/* K = [a b; b a], K^-1 = [a -b; -b a] / (a^2 - b^2) */
	double a = s2 + noise, b = matern52(s2, 0.5 / ls), det = a * a - b * b;
	for (double xs = 0; xs <= 1.0; xs += 0.125) {
		double k1 = matern52(s2, fabs(xs - 0.2) / ls), k2 = matern52(s2, fabs(xs - 0.7) / ls);
		double w1 = (a * k1 - b * k2) / det, w2 = (-b * k1 + a * k2) / det;
		double mean_want = w1 * y[0] + w2 * y[1];
		double var_want = s2 - (k1 * w1 + k2 * w2);
		double mean, var;
		jm_gp_predict(gp, 1, &xs, &mean, &var);
		cr_assert_float_eq(mean, mean_want, 1e-12, "x %g: mean %.15g want %.15g", xs, mean, mean_want);
		cr_assert_float_eq(var, var_want, 1e-12, "x %g: var %.15g want %.15g", xs, var, var_want);
	}
	jm_gp_free(gp);
}

/* A fixed little data set in 3-D with one categorical dimension. */
static jm_gp *toy_gp(jm_gp_prior *pr)
{
	static const unsigned char cat[3] = {0, 0, 1};
	jm_gp_prior_default(pr, 3);
	jm_gp *gp = jm_gp_new(3, cat, pr);
	double X[8 * 3], y[8];
	for (int i = 0; i < 8; i++) {
		X[i * 3] = fmod(0.37 * i + 0.1, 1);
		X[i * 3 + 1] = fmod(0.61 * i + 0.3, 1);
		X[i * 3 + 2] = i % 3;
		y[i] = sin(3 * X[i * 3]) + X[i * 3 + 1] * X[i * 3 + 1] + 0.3 * X[i * 3 + 2];
	}
	jm_gp_set_data(gp, 8, X, y);
	return gp;
}

Test(gp, log_posterior_gradient_matches_finite_differences)
{
	jm_gp_prior pr;
	jm_gp *gp = toy_gp(&pr);
	double theta[5] = {log(0.4), log(0.9), log(1.5), log(0.8), log(0.05)}, g[5], t2[5];
	jm_gp_neg_log_posterior(gp, &pr, theta, g);
	for (int k = 0; k < 5; k++) {
		double h = 1e-6;
		memcpy(t2, theta, sizeof t2);
		t2[k] += h;
		double fp = jm_gp_neg_log_posterior(gp, &pr, t2, NULL);
		t2[k] -= 2 * h;
		double fm = jm_gp_neg_log_posterior(gp, &pr, t2, NULL);
		double fd = (fp - fm) / (2 * h);
		cr_assert_float_eq(g[k], fd, 1e-6 * (1 + fabs(fd)), "theta %d: %g vs %g", k, g[k], fd);
	}
	jm_gp_free(gp);
}

Test(gp, fit_improves_the_posterior_and_predicts_gradients)
{
	jm_gp_prior pr;
	jm_gp *gp = toy_gp(&pr);
	double theta0[5] = {pr.ls_mu, pr.ls_mu, pr.ls_mu, pr.s2_mu, pr.noise_mu};
	double f0 = jm_gp_neg_log_posterior(gp, &pr, theta0, NULL);
	jm_rng rng;
	jm_rng_seed(&rng, 3);
	jm_err err = {0};
	jm_gp_fit_opts fo = {.draws = 4, .starts = 2, .maxiter = 100};
	cr_assert_eq(jm_gp_fit(gp, &pr, &fo, &rng, &err), 0, "%s", err.msg);
	double theta[5] = {log(gp->ls[0]), log(gp->ls[1]), log(gp->ls[2]), log(gp->s2), log(gp->noise)};
	double f1 = jm_gp_neg_log_posterior(gp, &pr, theta, NULL);
	cr_assert_lt(f1, f0);
	cr_assert_eq(jm_gp_factor(gp, NULL), 0);
	/* the gradient of the posterior mean and variance at a point */
	double x[3] = {0.42, 0.33, 1}, m, v, dm[3], dv[3];
	jm_gp_predict_grad(gp, x, &m, &v, dm, dv);
	double m1, v1;
	jm_gp_predict(gp, 1, x, &m1, &v1);
	cr_assert_float_eq(m, m1, 1e-12);
	cr_assert_float_eq(v, v1, 1e-12);
	cr_assert_eq(dm[2], 0);
	for (int k = 0; k < 2; k++) {
		double h = 1e-6, xp[3], xm[3], mp, vp, mm, vm;
		memcpy(xp, x, sizeof xp);
		memcpy(xm, x, sizeof xm);
		xp[k] += h;
		xm[k] -= h;
		jm_gp_predict(gp, 1, xp, &mp, &vp);
		jm_gp_predict(gp, 1, xm, &mm, &vm);
		cr_assert_float_eq(dm[k], (mp - mm) / (2 * h), 1e-6);
		cr_assert_float_eq(dv[k], (vp - vm) / (2 * h), 1e-6);
	}
	jm_gp_free(gp);
}

Test(gp, cholesky_falls_back_on_duplicate_points)
{
	jm_gp_prior pr;
	jm_gp_prior_default(&pr, 1);
	jm_gp *gp = jm_gp_new(1, NULL, &pr);
	double X[3] = {0.3, 0.3, 0.8}, y[3] = {1, 2, 0}, ls = 0.3;
	jm_gp_set_data(gp, 3, X, y);
	jm_gp_set_hyper(gp, &ls, 1.0, 0.0); /* no noise: K is singular */
	jm_err err = {0};
	cr_assert_eq(jm_gp_factor(gp, &err), 0, "%s", err.msg);
	cr_assert_gt(gp->jitter, 0);
	cr_assert_leq(gp->jitter, 1e-2);
	double xs = 0.3, m, v;
	jm_gp_predict(gp, 1, &xs, &m, &v);
	cr_assert(isfinite(m) && isfinite(v) && v >= 0);
	cr_assert_float_eq(m, 1.5, 1e-3); /* the two observations averaged */
	/* the MAP fit copes too (its noise floor makes K definite) */
	jm_rng rng;
	jm_rng_seed(&rng, 1);
	jm_gp_fit_opts fo = {.draws = 2, .starts = 2, .maxiter = 50};
	cr_assert_eq(jm_gp_fit(gp, &pr, &fo, &rng, &err), 0, "%s", err.msg);
	/* non-finite data: a clean failure, not a crash */
	double ybad[3] = {1, NAN, 0};
	jm_gp_set_data(gp, 3, X, ybad);
	cr_assert_eq(jm_gp_factor(gp, &err), -1);
	cr_assert_str_eq(err.msg, "gp: target 1 is not finite");
	cr_assert_eq(jm_gp_fit(gp, &pr, &fo, &rng, &err), -1);
	jm_gp_free(gp);
}

Test(gp, yeo_johnson_is_monotone_and_fits_skew)
{
	for (double l = -2; l <= 3; l += 0.5) {
		double prev = -HUGE_VAL;
		for (double v = -5; v <= 5; v += 0.25) {
			double t = jm_yeo_johnson(v, l);
			cr_assert(t > prev);
			prev = t;
		}
	}
	cr_assert_float_eq(jm_yeo_johnson(2.5, 1), 2.5, 1e-12);
	/* right-skewed data (lognormal-like) wants lambda < 1 */
	double z[50];
	for (int i = 0; i < 50; i++)
		z[i] = exp(2.0 * (i - 25) / 25.0);
	cr_assert_lt(jm_yeo_johnson_fit(z, 50), 0.8);
}

/* ---- log EI ---- */

static double h_direct(double z)
{
	return exp(-0.5 * z * z) / sqrt(2 * M_PI) + z * 0.5 * erfc(-z / sqrt(2));
}

static long double h_long(long double z)
{
	return expl(-0.5L * z * z) / sqrtl(2 * 3.14159265358979323846264338327950288L) +
	       z * 0.5L * erfcl(-z / sqrtl(2.0L));
}

Test(acq, log_ei_matches_the_direct_form_where_ei_is_large)
{
	for (double z = -1; z <= 6; z += 0.125) {
		double direct = log(h_direct(z));
		cr_assert_float_eq(jm_log_h(z), direct, 1e-12 * (1 + fabs(direct)), "z %g", z);
	}
	/* EI = sd h(z) */
	double mean = 0.3, sd = 0.7, best = 1.1, z = (best - mean) / sd;
	cr_assert_float_eq(jm_log_ei(mean, sd, best), log(sd * h_direct(z)), 1e-12);
	/* where cancellation starts, against long double */
	for (double z2 = -25; z2 < -1; z2 += 0.5) {
		double ref = (double)logl(h_long(z2));
		cr_assert_float_eq(jm_log_h(z2), ref, 1e-7 * fabs(ref), "z %g: %.15g vs %.15g", z2,
		                   jm_log_h(z2), ref);
	}
}

Test(acq, log_ei_follows_the_asymptote_where_ei_underflows)
{
	for (double z = -40; z >= -1e6; z *= 1.7) {
		cr_assert_eq(h_direct(z), 0, "z %g: EI does not underflow here", z);
		double asym = -0.5 * z * z - 0.5 * log(2 * M_PI) - 2 * log(-z);
		double lh = jm_log_h(z);
		cr_assert(isfinite(lh));
		/* the next term of the series is -3/z^2 */
		cr_assert_float_eq(lh, asym, 4 / (z * z) + 1e-15 * fabs(asym), "z %g", z);
	}
	/* finite, increasing and continuous across the regions */
	double prev = -HUGE_VAL;
	for (double z = -2000; z <= 8; z += 0.01) {
		double lh = jm_log_h(z);
		cr_assert(isfinite(lh), "z %g", z);
		cr_assert_gt(lh, prev, "z %g", z);
		prev = lh;
	}
	for (int side = 0; side < 2; side++) {
		double b = side ? -30.0 : -1.0;
		cr_assert_float_eq(jm_log_h(nextafter(b, -HUGE_VAL)), jm_log_h(b), 1e-9 * fabs(jm_log_h(b)));
		cr_assert_float_eq(jm_log_h(nextafter(b, HUGE_VAL)), jm_log_h(b), 1e-9 * fabs(jm_log_h(b)));
	}
	/* its derivative */
	static const double zs[] = {3, 0.5, -0.9, -1.1, -5, -29.9, -30.1, -100, -1e4};
	for (size_t i = 0; i < sizeof zs / sizeof zs[0]; i++) {
		double z = zs[i], h = 1e-6 * fmax(1, fabs(z));
		double fd = (jm_log_h(z + h) - jm_log_h(z - h)) / (2 * h);
		cr_assert_float_eq(jm_log_h_dz(z), fd, 1e-5 * fabs(fd), "z %g: %g vs %g", z,
		                   jm_log_h_dz(z), fd);
	}
	/* erfcx far out */
	double x = 30, x2 = x * x;
	double series = 1 - 1 / (2 * x2) + 3 / (4 * x2 * x2) - 15 / (8 * pow(x2, 3)) + 105 / (16 * pow(x2, 4));
	cr_assert_float_eq(jm_erfcx(x), series / (x * sqrt(M_PI)), 1e-15);
	cr_assert_float_eq(jm_erfcx(1), exp(1.0) * erfc(1.0), 1e-15);
}

/* ---- proposer ---- */

static jm_space *mixed_space(void)
{
	const char *names[] = {"lr", "batch", "dropout", "layers", "act"};
	const char *specs[] = {"loguniform(1e-5, 1e-1)", "choice(32, 64, 128, 256)",
	                       "uniform(0, 0.5)", "int(1, 4)", "choice(relu, gelu, tanh)"};
	return space_of(names, specs, 5);
}

static double mixed_objective(const jm_space *s, const double *x)
{
	static const double act[3] = {0.01, 0, 0.04};
	double batch = s->p[1].numbers[(int)x[1]];
	double e = 0.05 + 0.08 * pow(log10(x[0]) - log10(3e-3), 2);
	e += 0.02 * fabs(log2(batch / 128)) + 0.3 * pow(x[2] - 0.2, 2);
	return e + 0.015 * fabs(x[3] - 3) + act[(int)x[4]];
}

static int same_point(const double *a, const double *b, int n)
{
	return memcmp(a, b, (size_t)n * sizeof *a) == 0;
}

Test(sampler, proposals_are_valid_and_new, .timeout = 60)
{
	jm_space *s = mixed_space();
	jm_search *se = jm_search_new(s, JM_SEARCH_BAYES, 5, NULL);
	double xs[30][5];
	for (int t = 0; t < 30; t++) {
		jm_err err = {0};
		cr_assert_eq(jm_search_propose(se, NULL, 0, xs[t], &err), 0, "%s", err.msg);
		cr_assert_eq(jm_space_check(s, xs[t], &err), 0, "trial %d: %s", t, err.msg);
		cr_assert_eq(xs[t][3], floor(xs[t][3]));
		cr_assert(xs[t][1] == 0 || xs[t][1] == 1 || xs[t][1] == 2 || xs[t][1] == 3);
		cr_assert(xs[t][4] == 0 || xs[t][4] == 1 || xs[t][4] == 2);
		for (int j = 0; j < t; j++)
			cr_assert_not(same_point(xs[t], xs[j], 5), "trial %d repeats trial %d", t, j);
		cr_assert_eq(jm_search_tell(se, xs[t], mixed_objective(s, xs[t]), JM_TRIAL_COMPLETE, &err), 0);
	}
	/* it learns: the best of 30 is well below the best of its design */
	double best;
	cr_assert_eq(jm_search_best(se, NULL, &best), 0);
	double design_best = HUGE_VAL;
	for (int t = 0; t < 10; t++)
		design_best = fmin(design_best, mixed_objective(s, xs[t]));
	cr_assert_lt(best, design_best);
	cr_assert_lt(best, 0.07);
	jm_search_free(se);
	jm_space_free(s);
}

Test(sampler, log_integers_and_options_stay_valid, .timeout = 60)
{
	const char *names[] = {"units", "opt", "wd"};
	const char *specs[] = {"int(16, 1024, log)", "[sgd, adam, \"adam w\"]", "loguniform(1e-6, 1e-2)"};
	jm_space *s = space_of(names, specs, 3);
	for (int m = 0; m < 2; m++) {
		jm_search *se = jm_search_new(s, (jm_search_method)m, 8, NULL);
		jm_search_set_direction(se, 1);
		for (int t = 0; t < 20; t++) {
			double x[3];
			jm_err err = {0};
			cr_assert_eq(jm_search_propose(se, NULL, 0, x, &err), 0);
			cr_assert_eq(jm_space_check(s, x, &err), 0, "%s", err.msg);
			cr_assert(x[0] >= 16 && x[0] <= 1024 && x[0] == floor(x[0]), "units %g", x[0]);
			cr_assert(x[1] == 0 || x[1] == 1 || x[1] == 2);
			char buf[32];
			jm_space_format(s, 1, x[1], buf, sizeof buf);
			cr_assert(!strcmp(buf, "sgd") || !strcmp(buf, "adam") || !strcmp(buf, "adam w"));
			double acc = 0.9 - 0.1 * fabs(log2(x[0] / 128)) / 3 - (x[1] == 1 ? 0 : 0.05);
			jm_search_tell(se, x, acc, JM_TRIAL_COMPLETE, &err);
		}
		jm_search_free(se);
	}
	jm_space_free(s);
}

Test(sampler, never_proposes_a_pending_point, .timeout = 60)
{
	const char *names[] = {"a", "b"};
	const char *specs[] = {"uniform(0, 1)", "int(1, 3)"};
	jm_space *s = space_of(names, specs, 2);
	static const jm_pending_mode modes[] = {JM_PENDING_BELIEVER, JM_PENDING_LIAR_BEST,
	                                        JM_PENDING_LIAR_MEAN, JM_PENDING_LIAR_WORST};
	for (size_t m = 0; m < 4; m++) {
		jm_search *se = jm_search_new(s, JM_SEARCH_BAYES, 11, NULL);
		jm_search_set_pending_mode(se, modes[m]);
		double pend[4][2];
		int npend = 0;
		for (int t = 0; t < 16; t++) {
			double x[2];
			jm_err err = {0};
			cr_assert_eq(jm_search_propose(se, npend ? &pend[0][0] : NULL, npend, x, &err), 0);
			for (int j = 0; j < npend; j++)
				cr_assert_not(same_point(x, pend[j], 2), "mode %zu trial %d is pending", m, t);
			/* keep up to 3 running; the oldest finishes */
			if (npend == 3) {
				double v = pow(pend[0][0] - 0.3, 2) + pend[0][1];
				jm_search_tell(se, pend[0], v, JM_TRIAL_COMPLETE, &err);
				memmove(pend[0], pend[1], 2 * sizeof pend[0]);
				npend--;
			}
			memcpy(pend[npend++], x, sizeof x);
		}
		jm_search_free(se);
	}
	/* an invalid pending point is refused */
	jm_search *se = jm_search_new(s, JM_SEARCH_BAYES, 1, NULL);
	double bad[2] = {0.5, 7}, x[2];
	jm_err err = {0};
	cr_assert_eq(jm_search_propose(se, bad, 1, x, &err), -1);
	cr_assert_str_eq(err.msg, "pending point 1: b: 7 is outside [1, 3]");
	jm_search_free(se);
	jm_space_free(s);
}

Test(sampler, finite_space_is_exhausted_without_repeats, .timeout = 60)
{
	const char *names[] = {"n", "act"};
	const char *specs[] = {"int(1, 3)", "choice(relu, gelu)"};
	jm_space *s = space_of(names, specs, 2);
	cr_assert_eq(jm_space_size(s), 6);
	for (int m = 0; m < 3; m++) {
		jm_search *se = jm_search_new(s, (jm_search_method)m, 2, NULL);
		double xs[6][2], x[2];
		for (int t = 0; t < 6; t++) {
			jm_err err = {0};
			cr_assert_eq(jm_search_propose(se, NULL, 0, xs[t], &err), 0, "%s trial %d",
			             jm_search_method_name((jm_search_method)m), t);
			for (int j = 0; j < t; j++)
				cr_assert_not(same_point(xs[t], xs[j], 2));
			/* one fails: still taken */
			jm_search_tell(se, xs[t], xs[t][0] + xs[t][1], t == 2 ? JM_TRIAL_FAILED : JM_TRIAL_COMPLETE,
			               &err);
		}
		cr_assert_eq(jm_search_propose(se, NULL, 0, x, NULL), 1);
		jm_search_free(se);
	}
	jm_space_free(s);
}

Test(sampler, grid_walks_every_combination)
{
	const char *names[] = {"x", "k", "c"};
	const char *specs[] = {"uniform(0, 1)", "int(2, 4)", "choice(a, b)"};
	jm_space *s = space_of(names, specs, 3);
	jm_search *se = jm_search_new(s, JM_SEARCH_GRID, 9, NULL);
	jm_err err = {0};
	cr_assert_eq(jm_search_set_grid_points(se, 3, &err), 0);
	int seen[3][3][2] = {{{0}}};
	double x[3];
	for (int t = 0; t < 18; t++) {
		cr_assert_eq(jm_search_propose(se, NULL, 0, x, &err), 0);
		int xi = (int)lround(x[0] * 2);
		cr_assert_float_eq(x[0], xi / 2.0, 1e-12);
		seen[xi][(int)x[1] - 2][(int)x[2]]++;
		jm_search_tell(se, x, 1.0, JM_TRIAL_COMPLETE, &err);
	}
	for (int a = 0; a < 3; a++)
		for (int b = 0; b < 3; b++)
			for (int c = 0; c < 2; c++)
				cr_assert_eq(seen[a][b][c], 1);
	cr_assert_eq(jm_search_propose(se, NULL, 0, x, &err), 1);
	cr_assert_eq(jm_search_set_grid_points(se, 200000, &err), -1);
	cr_assert_str_eq(err.msg, "a grid of 1200000 points is too large (at most 1000000); use "
	                 "fewer grid points or method = bayes");
	jm_search_free(se);
	jm_space_free(s);
}

static void run_search(jm_search_method m, uint64_t seed, int n, double out[][5])
{
	jm_space *s = mixed_space();
	jm_search *se = jm_search_new(s, m, seed, NULL);
	for (int t = 0; t < n; t++) {
		cr_assert_eq(jm_search_propose(se, NULL, 0, out[t], NULL), 0);
		jm_search_tell(se, out[t], mixed_objective(s, out[t]), JM_TRIAL_COMPLETE, NULL);
	}
	jm_search_free(se);
	jm_space_free(s);
}

Test(sampler, same_seed_same_proposals, .timeout = 60)
{
	for (int m = 0; m < 2; m++) {
		double a[16][5], b[16][5], c[16][5];
		run_search((jm_search_method)m, 42, 16, a);
		run_search((jm_search_method)m, 42, 16, b);
		run_search((jm_search_method)m, 43, 16, c);
		cr_assert_eq(memcmp(a, b, sizeof a), 0, "method %d differs between runs", m);
		cr_assert_neq(memcmp(a, c, sizeof a), 0);
	}
}

typedef struct log_lines {
	int n;
	char last[1024];
} log_lines;

static void collect(void *ctx, const char *msg)
{
	log_lines *l = ctx;
	l->n++;
	snprintf(l->last, sizeof l->last, "%s", msg);
}

Test(sampler, says_when_it_cannot_fit_the_model)
{
	const char *names[] = {"a", "b"};
	const char *specs[] = {"uniform(0, 1)", "uniform(0, 1)"};
	jm_space *s = space_of(names, specs, 2);
	jm_search *se = jm_search_new(s, JM_SEARCH_BAYES, 3, NULL);
	log_lines lines = {0};
	jm_search_set_log(se, collect, &lines);
	jm_search_set_initial(se, 3);
	double x[2];
	jm_err err = {0};
	/* values so extreme that standardising them overflows */
	for (int t = 0; t < 4; t++) {
		cr_assert_eq(jm_search_propose(se, NULL, 0, x, &err), 0);
		jm_search_tell(se, x, t % 2 ? 1e308 : -1e308, JM_TRIAL_COMPLETE, &err);
	}
	cr_assert_eq(lines.n, 1);
	cr_assert(strstr(lines.last, "search: cannot fit the model on 3 trials ("), "%s", lines.last);
	cr_assert(strstr(lines.last, "this proposal is the next point of the space-filling design"),
	          "%s", lines.last);
	cr_assert_eq(jm_space_check(s, x, &err), 0);
	jm_search_free(se);
	jm_space_free(s);
}

Test(sampler, failures_and_direction)
{
	const char *names[] = {"a"};
	const char *specs[] = {"uniform(0, 1)"};
	jm_space *s = space_of(names, specs, 1);
	jm_search *se = jm_search_new(s, JM_SEARCH_RANDOM, 3, NULL);
	jm_search_set_direction(se, 1);
	double x[1] = {0.25}, best[1], v;
	jm_err err = {0};
	cr_assert_eq(jm_search_best(se, best, &v), -1);
	jm_search_tell(se, x, 0.5, JM_TRIAL_COMPLETE, &err);
	x[0] = 0.5;
	jm_search_tell(se, x, NAN, JM_TRIAL_COMPLETE, &err); /* diverged: a failure */
	x[0] = 0.75;
	jm_search_tell(se, x, 0.9, JM_TRIAL_COMPLETE, &err);
	x[0] = 0.8;
	jm_search_tell(se, x, 0.95, JM_TRIAL_PRUNED, &err); /* not a complete trial */
	cr_assert_eq(jm_search_count(se), 4);
	cr_assert_eq(jm_search_best(se, best, &v), 0);
	cr_assert_eq(best[0], 0.75);
	cr_assert_eq(v, 0.9);
	x[0] = 2;
	cr_assert_eq(jm_search_tell(se, x, 1, JM_TRIAL_COMPLETE, &err), -1);
	cr_assert_str_eq(err.msg, "a: 2 is outside [0, 1]");
	cr_assert_eq(err.code, JM_EXIT_INPUT);
	jm_search_method m;
	cr_assert_eq(jm_search_method_parse("grid", &m), 0);
	cr_assert_eq(m, JM_SEARCH_GRID);
	cr_assert_eq(jm_search_method_parse("tpe", &m), -1);
	jm_search_free(se);
	jm_space_free(s);
	jm_space *empty = jm_space_new();
	cr_assert_null(jm_search_new(empty, JM_SEARCH_BAYES, 1, &err));
	cr_assert_str_eq(err.msg, "the search space is empty: name at least one parameter");
	jm_space_free(empty);
}

/* ---- pruning ---- */

#define TRIAL(st, ...) \
	{ .state = (st), .nvalues = sizeof((double[]){__VA_ARGS__}) / sizeof(double), \
	  .values = (const double[]){__VA_ARGS__} }

Test(prune, median_stops_below_the_median_of_complete_trials)
{
	jm_prune_opts o;
	jm_prune_opts_default(&o, JM_PRUNE_MEDIAN, 1); /* accuracy: higher is better */
	jm_prune_trial tr[] = {
		TRIAL(JM_PRUNE_COMPLETE, 0.40, 0.50, 0.55),
		TRIAL(JM_PRUNE_COMPLETE, 0.45, 0.60, 0.62),
		TRIAL(JM_PRUNE_COMPLETE, 0.50, 0.70, 0.75),
		TRIAL(JM_PRUNE_COMPLETE, 0.55, 0.80, 0.85),
		TRIAL(JM_PRUNE_COMPLETE, 0.60, 0.90, 0.95),
		TRIAL(JM_PRUNE_PRUNED, 0.10, 0.10),        /* not complete: ignored */
		TRIAL(JM_PRUNE_RUNNING, 0.30, 0.65),       /* below 0.70 at epoch 2 */
		TRIAL(JM_PRUNE_RUNNING, 0.30, 0.70),       /* equal: survives */
		TRIAL(JM_PRUNE_RUNNING, 0.75, 0.60),       /* best so far 0.75 > 0.70 */
		TRIAL(JM_PRUNE_RUNNING, 0.49),             /* epoch 1 median 0.50 */
	};
	int n = sizeof tr / sizeof tr[0];
	cr_assert_eq(jm_prune_should_stop(&o, tr, n, 6, 2), 1);
	cr_assert_eq(jm_prune_should_stop(&o, tr, n, 7, 2), 0);
	cr_assert_eq(jm_prune_should_stop(&o, tr, n, 8, 2), 0);
	cr_assert_eq(jm_prune_should_stop(&o, tr, n, 9, 1), 1);
	/* warm-up: epochs 1..2 are safe */
	o.warmup_epochs = 2;
	cr_assert_eq(jm_prune_should_stop(&o, tr, n, 6, 2), 0);
	o.warmup_epochs = 0;
	/* too few complete trials yet */
	o.startup_trials = 6;
	cr_assert_eq(jm_prune_should_stop(&o, tr, n, 6, 2), 0);
	o.startup_trials = 5;
	/* minimising the same numbers flips the verdicts */
	o.maximize = 0;
	cr_assert_eq(jm_prune_should_stop(&o, tr, n, 6, 2), 0);
	cr_assert_eq(jm_prune_should_stop(&o, tr, n, 8, 2), 0); /* best so far 0.60 < 0.70 */
	jm_prune_trial late = TRIAL(JM_PRUNE_RUNNING, 0.9, 0.9, 0.9, 0.9);
	jm_prune_trial tr2[6];
	memcpy(tr2, tr, 5 * sizeof *tr);
	tr2[5] = late;
	cr_assert_eq(jm_prune_should_stop(&o, tr2, 6, 5, 3), 1);
	/* no complete trial reached epoch 4: nothing to compare with */
	cr_assert_eq(jm_prune_should_stop(&o, tr2, 6, 5, 4), 0);
	o.method = JM_PRUNE_NONE;
	cr_assert_eq(jm_prune_should_stop(&o, tr2, 6, 5, 3), 0);
}

Test(prune, asha_keeps_the_top_third_at_each_rung)
{
	jm_prune_opts o;
	jm_prune_opts_default(&o, JM_PRUNE_ASHA, 0); /* loss: lower is better */
	cr_assert_eq(o.reduction, 3);
	/* the first trial at a rung always goes on */
	jm_prune_trial one[] = {TRIAL(JM_PRUNE_RUNNING, 5.0)};
	cr_assert_eq(jm_prune_should_stop(&o, one, 1, 0, 1), 0);
	/* two at rung 1: keep max(1, 2/3) = 1, the better */
	jm_prune_trial two[] = {TRIAL(JM_PRUNE_RUNNING, 1.0), TRIAL(JM_PRUNE_RUNNING, 2.0)};
	cr_assert_eq(jm_prune_should_stop(&o, two, 2, 1, 1), 1);
	cr_assert_eq(jm_prune_should_stop(&o, two, 2, 0, 1), 0);
	/* six at rung 1 (any state): keep 2 */
	jm_prune_trial six[] = {
		TRIAL(JM_PRUNE_COMPLETE, 0.9, 0.5, 0.3, 0.2), TRIAL(JM_PRUNE_PRUNED, 1.5),
		TRIAL(JM_PRUNE_COMPLETE, 1.2, 0.9, 0.8),      TRIAL(JM_PRUNE_PRUNED, 2.0),
		TRIAL(JM_PRUNE_RUNNING, 1.0),                 TRIAL(JM_PRUNE_RUNNING, 1.1),
	};
	cr_assert_eq(jm_prune_should_stop(&o, six, 6, 4, 1), 0); /* 2nd of 6 */
	cr_assert_eq(jm_prune_should_stop(&o, six, 6, 5, 1), 1); /* 3rd of 6 */
	/* between rungs (1, 3, 9) never */
	jm_prune_trial mid[] = {
		TRIAL(JM_PRUNE_COMPLETE, 0.1, 0.1, 0.1, 0.1), TRIAL(JM_PRUNE_RUNNING, 9.0, 9.0),
	};
	cr_assert_eq(jm_prune_should_stop(&o, mid, 2, 1, 2), 0);
	/* rung 3 compares only trials that reached epoch 3 */
	cr_assert_eq(jm_prune_should_stop(&o, six, 6, 2, 3), 1);  /* 0.8 vs 0.3 */
	cr_assert_eq(jm_prune_should_stop(&o, six, 6, 0, 3), 0);
	/* a larger first rung and eta 2: rungs 2, 4, 8 */
	o.min_epochs = 2;
	o.reduction = 2;
	cr_assert_eq(jm_prune_should_stop(&o, six, 6, 2, 3), 0);
	cr_assert_eq(jm_prune_should_stop(&o, six, 6, 2, 2), 1);  /* 0.9 vs 0.5 */
	jm_prune_method m;
	cr_assert_eq(jm_prune_method_parse("asha", &m), 0);
	cr_assert_eq(m, JM_PRUNE_ASHA);
	cr_assert_eq(jm_prune_method_parse("hyperband", &m), -1);
	cr_assert_str_eq(jm_prune_method_name(JM_PRUNE_MEDIAN), "median");
}
