/*
 * gp.c: Matern-5/2 ARD Gaussian process, its MAP fit and its posterior.
 *
 *   X, y --set_data--> gp --fit: L-BFGS on -log p(y|theta) - log p(theta)
 *                             |    each evaluation: K (from cached per-dim
 *                             |    squared distances) -> Cholesky -> alpha,
 *                             |    K^-1 -> gradient by the trace identity
 *                             v
 *                        factor: L, alpha --predict--> mean, var (+ grads)
 *
 * Dense linear algebra is written out here (n is at most a few hundred
 * trials): loops are arranged so the innermost one runs along a row
 * (contiguous) and is a dot product or an axpy, which compilers vectorise.
 */
#include "pipeline/search/gp.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/search/opt.h"

#define SQRT5 2.23606797749978969641

void jm_gp_prior_default(jm_gp_prior *p, int d)
{
	(void)d;
	/* lengthscales on the unit cube: log-normal around 1, so that every
	 * dimension starts out relevant; long ones (an irrelevant parameter)
	 * stay within reach (l = 20 is 3 sd away) */
	p->ls_mu = 0;
	p->ls_sd = 1;
	p->ls_lo = 1e-2;
	p->ls_hi = 1e2;
	/* standardised targets: signal variance about 1 */
	p->s2_mu = 0;
	p->s2_sd = 1.5;
	p->s2_lo = 1e-2;
	p->s2_hi = 1e2;
	/* noise: small a priori (1e-4 of the variance), so that a handful of
	 * points is not explained away as noise; real noise wins with data */
	p->noise_mu = log(1e-4);
	p->noise_sd = 2;
	p->noise_lo = 1e-8;
	p->noise_hi = 1;
}

jm_gp *jm_gp_new(int d, const unsigned char *cat, const jm_gp_prior *prior)
{
	jm_gp *gp = jm_xcalloc(1, sizeof *gp);
	gp->d = d;
	gp->cat = jm_xcalloc((size_t)(d > 0 ? d : 1), 1);
	if (cat)
		memcpy(gp->cat, cat, (size_t)d);
	gp->ls = jm_xmalloc((size_t)(d > 0 ? d : 1) * sizeof *gp->ls);
	for (int k = 0; k < d; k++)
		gp->ls[k] = exp(prior->ls_mu);
	gp->s2 = exp(prior->s2_mu);
	gp->noise = exp(prior->noise_mu);
	return gp;
}

void jm_gp_free(jm_gp *gp)
{
	if (!gp)
		return;
	free(gp->cat);
	free(gp->X);
	free(gp->XT);
	free(gp->y);
	free(gp->ls);
	free(gp->L);
	free(gp->alpha);
	free(gp->work);
	free(gp->dist);
	free(gp);
}

void jm_gp_set_data(jm_gp *gp, int n, const double *X, const double *y)
{
	if (n > gp->cap) {
		size_t nn = (size_t)n;
		size_t pairs = nn * (nn - 1) / 2;
		free(gp->X);
		free(gp->XT);
		free(gp->y);
		free(gp->L);
		free(gp->alpha);
		free(gp->work);
		free(gp->dist);
		gp->X = jm_xmalloc(nn * (size_t)(gp->d > 0 ? gp->d : 1) * sizeof *gp->X);
		gp->XT = jm_xmalloc(nn * (size_t)(gp->d > 0 ? gp->d : 1) * sizeof *gp->XT);
		gp->y = jm_xmalloc(nn * sizeof *gp->y);
		gp->L = jm_xmalloc(nn * nn * sizeof *gp->L);
		gp->alpha = jm_xmalloc(nn * sizeof *gp->alpha);
		/* Kinv (n x n) and two per-pair arrays (kernel value, its
		 * derivative factor) */
		gp->work = jm_xmalloc((nn * nn + 2 * pairs + 1) * sizeof *gp->work);
		gp->dist = jm_xmalloc((pairs * (size_t)gp->d + 1) * sizeof *gp->dist);
		gp->cap = n;
	}
	gp->n = n;
	memcpy(gp->X, X, (size_t)n * (size_t)gp->d * sizeof *X);
	memcpy(gp->y, y, (size_t)n * sizeof *y);
	for (int i = 0; i < n; i++)
		for (int k = 0; k < gp->d; k++)
			gp->XT[(size_t)k * n + i] = X[(size_t)i * gp->d + k];
	/* per-pair, per-dimension squared distances, i > j, row by row */
	double *q = gp->dist;
	for (int i = 1; i < n; i++)
		for (int j = 0; j < i; j++)
			for (int k = 0; k < gp->d; k++) {
				double a = X[i * gp->d + k], b = X[j * gp->d + k];
				*q++ = gp->cat[k] ? (a != b) : (a - b) * (a - b);
			}
	gp->factored = 0;
}

void jm_gp_set_hyper(jm_gp *gp, const double *ls, double s2, double noise)
{
	memcpy(gp->ls, ls, (size_t)gp->d * sizeof *ls);
	gp->s2 = s2;
	gp->noise = noise;
	gp->factored = 0;
}

static double dot(const double *a, const double *b, int n)
{
	double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
	int i = 0;
	for (; i + 4 <= n; i += 4) {
		s0 += a[i] * b[i];
		s1 += a[i + 1] * b[i + 1];
		s2 += a[i + 2] * b[i + 2];
		s3 += a[i + 3] * b[i + 3];
	}
	for (; i < n; i++)
		s0 += a[i] * b[i];
	return (s0 + s1) + (s2 + s3);
}

/* In-place lower Cholesky of the n x n row-major matrix A (lower triangle
 * read and written).  -1 if a pivot is not positive. */
static int cholesky(double *A, int n)
{
	for (int i = 0; i < n; i++) {
		double *Li = A + (size_t)i * n;
		for (int j = 0; j < i; j++) {
			const double *Lj = A + (size_t)j * n;
			Li[j] = (Li[j] - dot(Li, Lj, j)) / Lj[j];
		}
		double s = Li[i] - dot(Li, Li, i);
		if (!(s > 0) || !isfinite(s))
			return -1;
		Li[i] = sqrt(s);
	}
	return 0;
}

/* Solve L v = b in place (forward substitution). */
static void solve_lower(const double *L, int n, double *v)
{
	for (int i = 0; i < n; i++) {
		const double *Li = L + (size_t)i * n;
		v[i] = (v[i] - dot(Li, v, i)) / Li[i];
	}
}

/* Solve L^T w = v in place (back substitution by columns of L^T, i.e. rows
 * of L, as axpys). */
static void solve_upper_t(const double *L, int n, double *v)
{
	for (int j = n - 1; j >= 0; j--) {
		const double *Lj = L + (size_t)j * n;
		v[j] /= Lj[j];
		double w = v[j];
		for (int i = 0; i < j; i++)
			v[i] -= Lj[i] * w;
	}
}

/* exp(x) for x <= 0, branch-free so that loops over it vectorise:
 * x = n ln2 + r, |r| <= ln2/2, e^r by its Taylor polynomial to r^13
 * (relative error < 1e-16 before rounding), 2^n put in the exponent bits.
 * Below -708 it returns about 2^-1022 instead of 0: kernel values that
 * small are noise either way. */
static inline double exp_neg(double x)
{
	x = x < -708.0 ? -708.0 : x;
	const double shift = 0x1.8p52;
	double t = x * 1.4426950408889634074 + shift; /* round(x / ln2) in the low bits */
	double n = t - shift;
	double r = x - n * 6.93147180369123816490e-01; /* ln2, high part */
	r = r - n * 1.90821492927058770002e-10;        /* ln2, low part */
	double p = 1.0 / 6227020800.0;
	p = p * r + 1.0 / 479001600.0;
	p = p * r + 1.0 / 39916800.0;
	p = p * r + 1.0 / 3628800.0;
	p = p * r + 1.0 / 362880.0;
	p = p * r + 1.0 / 40320.0;
	p = p * r + 1.0 / 5040.0;
	p = p * r + 1.0 / 720.0;
	p = p * r + 1.0 / 120.0;
	p = p * r + 1.0 / 24.0;
	p = p * r + 1.0 / 6.0;
	p = p * r + 0.5;
	p = p * r + 1.0;
	p = p * r + 1.0;
	uint64_t bits;
	memcpy(&bits, &t, sizeof bits);
	bits = (bits + 1023) << 52; /* the low bits of t hold n (two's complement) */
	double scale;
	memcpy(&scale, &bits, sizeof scale);
	return p * scale;
}

/* The Matern-5/2 value and the factor g with dk/dlog l_k = g q_k / l_k^2
 * and dk/dx_k = -g (x_k - x'_k) / l_k^2, at squared scaled distance r2. */
static inline double matern(double s2, double r2, double *g)
{
	double r = sqrt(r2);
	double e = exp_neg(-SQRT5 * r);
	*g = (5.0 / 3.0) * s2 * (1 + SQRT5 * r) * e;
	return s2 * (1 + SQRT5 * r + (5.0 / 3.0) * r2) * e;
}

/* K + (noise + extra) I into gp->L (lower), the per-pair kernel values and
 * g factors into pk and pg when not NULL.  Row i: squared scaled distances
 * into the row first, then one vectorisable pass of the kernel. */
static void build_kernel(jm_gp *gp, double extra, double *pk, double *pg)
{
	int n = gp->n, d = gp->d;
	double inv[64], *il = d <= 64 ? inv : jm_xmalloc((size_t)d * sizeof *il);
	for (int k = 0; k < d; k++)
		il[k] = 1 / (gp->ls[k] * gp->ls[k]);
	const double *q = gp->dist;
	size_t p = 0;
	double s2 = gp->s2;
	for (int i = 0; i < n; i++) {
		double *Ki = gp->L + (size_t)i * n;
		for (int j = 0; j < i; j++, q += d) {
			double r2 = 0;
			for (int k = 0; k < d; k++)
				r2 += q[k] * il[k];
			Ki[j] = r2;
		}
		if (pk) {
			double *pki = pk + p, *pgi = pg + p;
			for (int j = 0; j < i; j++) {
				double g;
				Ki[j] = matern(s2, Ki[j], &g);
				pki[j] = Ki[j];
				pgi[j] = g;
			}
		} else {
			for (int j = 0; j < i; j++) {
				double g;
				Ki[j] = matern(s2, Ki[j], &g);
			}
		}
		p += (size_t)i;
		Ki[i] = s2 + gp->noise + extra;
	}
	if (il != inv)
		free(il);
}

static int factor_with(jm_gp *gp, double extra)
{
	build_kernel(gp, extra, NULL, NULL);
	if (cholesky(gp->L, gp->n) < 0)
		return -1;
	memcpy(gp->alpha, gp->y, (size_t)gp->n * sizeof *gp->y);
	solve_lower(gp->L, gp->n, gp->alpha);
	solve_upper_t(gp->L, gp->n, gp->alpha);
	return 0;
}

int jm_gp_factor(jm_gp *gp, jm_err *err)
{
	gp->factored = 0;
	for (int i = 0; i < gp->n; i++)
		if (!isfinite(gp->y[i]))
			return jm_err_set(err, JM_EXIT_FAIL, "gp: target %d is not finite", i);
	for (size_t i = 0; i < (size_t)gp->n * (size_t)gp->d; i++)
		if (!isfinite(gp->X[i]))
			return jm_err_set(err, JM_EXIT_FAIL, "gp: input %zu is not finite", i);
	gp->jitter = 0;
	if (factor_with(gp, 0) == 0) {
		gp->factored = 1;
		return 0;
	}
	for (double j = 1e-10; j <= 1.001e-2; j *= 10) {
		if (factor_with(gp, j * gp->s2) == 0) {
			gp->jitter = j * gp->s2;
			gp->factored = 1;
			return 0;
		}
	}
	return jm_err_set(err, JM_EXIT_FAIL,
	                  "gp: the kernel matrix of %d points is not positive definite even "
	                  "with a jitter of 1e-2 of the signal variance",
	                  gp->n);
}

static void theta_unpack(jm_gp *gp, const double *theta)
{
	for (int k = 0; k < gp->d; k++)
		gp->ls[k] = exp(theta[k]);
	gp->s2 = exp(theta[gp->d]);
	gp->noise = exp(theta[gp->d + 1]);
}

static double prior_term(const jm_gp_prior *pr, int d, const double *theta, double *grad)
{
	double s = 0;
	for (int k = 0; k < d + 2; k++) {
		double mu = k < d ? pr->ls_mu : k == d ? pr->s2_mu : pr->noise_mu;
		double sd = k < d ? pr->ls_sd : k == d ? pr->s2_sd : pr->noise_sd;
		double z = (theta[k] - mu) / sd;
		s += 0.5 * z * z;
		if (grad)
			grad[k] += z / sd;
	}
	return s;
}

double jm_gp_neg_log_posterior(jm_gp *gp, const jm_gp_prior *prior, const double *theta,
                               double *grad)
{
	int n = gp->n, d = gp->d;
	size_t nn = (size_t)n * n, pairs = (size_t)n * (n - 1) / 2;
	double *Kinv = gp->work, *pk = Kinv + nn, *pg = pk + pairs;
	gp->factored = 0;
	gp->evals++;
	theta_unpack(gp, theta);
	build_kernel(gp, 0, pk, pg);
	double *L = gp->L;
	if (cholesky(L, n) < 0)
		return HUGE_VAL;
	double *alpha = gp->alpha;
	memcpy(alpha, gp->y, (size_t)n * sizeof *alpha);
	solve_lower(L, n, alpha);
	double nll = 0.5 * dot(alpha, alpha, n) + 0.5 * n * log(2 * M_PI);
	for (int i = 0; i < n; i++)
		nll += log(L[(size_t)i * n + i]);
	solve_upper_t(L, n, alpha);
	if (!grad)
		return nll + prior_term(prior, d, theta, NULL);

	/* L^-1 in place of L, row by row: row i of L^-1 needs row i of L and
	 * the rows of L^-1 above it */
	double *row = Kinv; /* borrowed as a scratch row before Kinv is built */
	for (int i = 0; i < n; i++) {
		double *Li = L + (size_t)i * n;
		memset(row, 0, (size_t)(i + 1) * sizeof *row);
		for (int k = 0; k < i; k++) {
			double a = Li[k];
			const double *Mk = L + (size_t)k * n;
			for (int c = 0; c <= k; c++)
				row[c] += a * Mk[c];
		}
		double inv = 1 / Li[i];
		for (int c = 0; c < i; c++)
			Li[c] = -row[c] * inv;
		Li[i] = inv;
	}
	/* K^-1 = L^-T L^-1, lower triangle: sum over rows k of outer products */
	memset(Kinv, 0, nn * sizeof *Kinv);
	for (int k = 0; k < n; k++) {
		const double *Mk = L + (size_t)k * n;
		for (int a = 0; a <= k; a++) {
			double m = Mk[a];
			double *Ka = Kinv + (size_t)a * n;
			for (int b = 0; b <= a; b++)
				Ka[b] += m * Mk[b];
		}
	}
	/* dNLL/dtheta = -1/2 sum_ij W_ij dK_ij/dtheta, W = alpha alpha^T - K^-1 */
	memset(grad, 0, (size_t)(d + 2) * sizeof *grad);
	double inv[64], *il = d <= 64 ? inv : jm_xmalloc((size_t)d * sizeof *il);
	for (int k = 0; k < d; k++)
		il[k] = 1 / (gp->ls[k] * gp->ls[k]);
	double gs2 = 0, gnoise = 0;
	const double *q = gp->dist;
	size_t p = 0;
	for (int i = 0; i < n; i++) {
		const double *Ki = Kinv + (size_t)i * n;
		for (int j = 0; j < i; j++, p++, q += d) {
			double w = alpha[i] * alpha[j] - Ki[j];
			gs2 += w * pk[p];
			double wg = w * pg[p];
			for (int k = 0; k < d; k++)
				grad[k] += wg * q[k];
		}
		double wii = alpha[i] * alpha[i] - Ki[i];
		gs2 += 0.5 * wii * gp->s2;
		gnoise += 0.5 * wii * gp->noise;
	}
	/* off-diagonal pairs count twice in the symmetric sum, halved by 1/2 */
	for (int k = 0; k < d; k++)
		grad[k] = -grad[k] * il[k];
	grad[d] = -gs2;
	grad[d + 1] = -gnoise;
	if (il != inv)
		free(il);
	return nll + prior_term(prior, d, theta, grad);
}

typedef struct fit_ctx {
	jm_gp *gp;
	const jm_gp_prior *prior;
} fit_ctx;

static double fit_objective(void *ctx, const double *theta, double *grad)
{
	fit_ctx *c = ctx;
	return jm_gp_neg_log_posterior(c->gp, c->prior, theta, grad);
}

static double clampd(double v, double lo, double hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

typedef struct candidate {
	double f;
	int i;
} candidate;

static int by_f(const void *a, const void *b)
{
	const candidate *x = a, *y = b;
	return x->f < y->f ? -1 : x->f > y->f ? 1 : x->i - y->i;
}

int jm_gp_fit(jm_gp *gp, const jm_gp_prior *prior, const jm_gp_fit_opts *o, jm_rng *rng,
              jm_err *err)
{
	int d = gp->d, m = d + 2, rc = -1;
	int ncand = 2 + (o->draws > 0 ? o->draws : 0);
	double *buf = jm_xmalloc((size_t)(3 + ncand) * m * sizeof *buf);
	double *lo = buf, *hi = lo + m, *best = hi + m, *cand = best + m;
	candidate *order = jm_xmalloc((size_t)ncand * sizeof *order);
	double best_f = HUGE_VAL;
	fit_ctx ctx = {gp, prior};

	for (int k = 0; k < m; k++) {
		lo[k] = log(k < d ? prior->ls_lo : k == d ? prior->s2_lo : prior->noise_lo);
		hi[k] = log(k < d ? prior->ls_hi : k == d ? prior->s2_hi : prior->noise_hi);
	}
	/* candidate 0: the current hyperparameters; 1: the prior's centre;
	 * then draws at half the prior's width */
	for (int k = 0; k < d; k++)
		cand[k] = log(gp->ls[k]);
	cand[d] = log(gp->s2);
	cand[d + 1] = log(gp->noise);
	for (int c = 1; c < ncand; c++)
		for (int k = 0; k < m; k++) {
			double mu = k < d ? prior->ls_mu : k == d ? prior->s2_mu : prior->noise_mu;
			double sd = k < d ? prior->ls_sd : k == d ? prior->s2_sd : prior->noise_sd;
			cand[c * m + k] = c == 1 ? mu : mu + 0.5 * sd * jm_rng_normal(rng);
		}
	for (int c = 0; c < ncand; c++) {
		double *t = cand + (size_t)c * m;
		for (int k = 0; k < m; k++)
			t[k] = clampd(t[k], lo[k], hi[k]);
		double f = jm_gp_neg_log_posterior(gp, prior, t, NULL);
		order[c] = (candidate){isfinite(f) ? f : HUGE_VAL, c};
	}
	qsort(order, (size_t)ncand, sizeof *order, by_f);
	int runs = o->starts < 1 ? 1 : o->starts;
	for (int r = 0; r < runs && r < ncand && order[r].f < HUGE_VAL; r++) {
		double *t = cand + (size_t)order[r].i * m;
		jm_opt_result res;
		if (jm_opt_minimize(fit_objective, &ctx, m, t, lo, hi, o->maxiter, 1e-5, 1e-9, &res) < 0)
			continue;
		if (res.f < best_f) {
			best_f = res.f;
			memcpy(best, t, (size_t)m * sizeof *best);
		}
	}
	if (!isfinite(best_f)) {
		theta_unpack(gp, cand);
		jm_err_set(err, JM_EXIT_FAIL, "gp: the likelihood cannot be evaluated at any of %d "
		           "candidate hyperparameters", ncand);
		jm_gp_factor(gp, NULL);
		goto out;
	}
	theta_unpack(gp, best);
	rc = jm_gp_factor(gp, err);
out:
	free(order);
	free(buf);
	return rc;
}

/* k(x, X_i) for all i into kv, and the g factors into gv (may be NULL).
 * Dimension by dimension over the transposed inputs, so each pass is a
 * vectorisable loop over the observations. */
static void kernel_row(const jm_gp *gp, const double *x, const double *il, double *kv,
                       double *gv)
{
	int d = gp->d, n = gp->n;
	memset(kv, 0, (size_t)n * sizeof *kv);
	for (int k = 0; k < d; k++) {
		const double *col = gp->XT + (size_t)k * n;
		double xk = x[k], w = il[k];
		if (gp->cat[k]) {
			for (int i = 0; i < n; i++)
				kv[i] += (col[i] != xk) ? w : 0.0;
		} else {
			for (int i = 0; i < n; i++) {
				double t = xk - col[i];
				kv[i] += t * t * w;
			}
		}
	}
	double s2 = gp->s2, g;
	if (gv) {
		for (int i = 0; i < n; i++)
			kv[i] = matern(s2, kv[i], &gv[i]);
	} else {
		for (int i = 0; i < n; i++)
			kv[i] = matern(s2, kv[i], &g);
	}
}

enum { CHUNK = 64 };

void jm_gp_predict(const jm_gp *gp, int m, const double *Xs, double *mean, double *var)
{
	int n = gp->n, d = gp->d;
	if (n == 0) {
		for (int c = 0; c < m; c++) {
			mean[c] = 0;
			var[c] = gp->s2;
		}
		return;
	}
	double inv[64], *il = d <= 64 ? inv : jm_xmalloc((size_t)d * sizeof *il);
	for (int k = 0; k < d; k++)
		il[k] = 1 / (gp->ls[k] * gp->ls[k]);
	/* V = L^-1 Ks^T for a chunk of points: n x CHUNK, column c = point c */
	double *V = jm_xmalloc((size_t)n * CHUNK * sizeof *V);
	double *kv = jm_xmalloc((size_t)n * sizeof *kv);
	for (int c0 = 0; c0 < m; c0 += CHUNK) {
		int w = m - c0 < CHUNK ? m - c0 : CHUNK;
		for (int c = 0; c < w; c++) {
			kernel_row(gp, Xs + (size_t)(c0 + c) * d, il, kv, NULL);
			mean[c0 + c] = dot(kv, gp->alpha, n);
			for (int i = 0; i < n; i++)
				V[(size_t)i * CHUNK + c] = kv[i];
		}
		for (int i = 0; i < n; i++) {
			const double *Li = gp->L + (size_t)i * n;
			double *Vi = V + (size_t)i * CHUNK;
			for (int j = 0; j < i; j++) {
				double a = Li[j];
				const double *Vj = V + (size_t)j * CHUNK;
				for (int c = 0; c < w; c++)
					Vi[c] -= a * Vj[c];
			}
			double invd = 1 / Li[i];
			for (int c = 0; c < w; c++)
				Vi[c] *= invd;
		}
		for (int c = 0; c < w; c++)
			var[c0 + c] = 0;
		for (int i = 0; i < n; i++) {
			const double *Vi = V + (size_t)i * CHUNK;
			for (int c = 0; c < w; c++)
				var[c0 + c] += Vi[c] * Vi[c];
		}
		for (int c = 0; c < w; c++) {
			double v = gp->s2 - var[c0 + c];
			var[c0 + c] = v > 1e-12 * gp->s2 ? v : 1e-12 * gp->s2;
		}
	}
	free(kv);
	free(V);
	if (il != inv)
		free(il);
}

void jm_gp_predict_grad(const jm_gp *gp, const double *x, double *mean, double *var,
                        double *dmean, double *dvar)
{
	int n = gp->n, d = gp->d;
	for (int k = 0; k < d; k++)
		dmean[k] = dvar[k] = 0;
	if (n == 0) {
		*mean = 0;
		*var = gp->s2;
		return;
	}
	double inv[64], *il = d <= 64 ? inv : jm_xmalloc((size_t)d * sizeof *il);
	for (int k = 0; k < d; k++)
		il[k] = 1 / (gp->ls[k] * gp->ls[k]);
	double *kv = jm_xmalloc((size_t)3 * n * sizeof *kv), *gv = kv + n, *v = gv + n;
	kernel_row(gp, x, il, kv, gv);
	*mean = dot(kv, gp->alpha, n);
	memcpy(v, kv, (size_t)n * sizeof *v);
	solve_lower(gp->L, n, v);
	double vv = gp->s2 - dot(v, v, n);
	int clamped = !(vv > 1e-12 * gp->s2);
	*var = clamped ? 1e-12 * gp->s2 : vv;
	solve_upper_t(gp->L, n, v); /* v = K^-1 k */
	for (int i = 0; i < n; i++) {
		const double *xi = gp->X + (size_t)i * d;
		for (int k = 0; k < d; k++) {
			if (gp->cat[k])
				continue;
			double dk = -gv[i] * (x[k] - xi[k]) * il[k];
			dmean[k] += gp->alpha[i] * dk;
			dvar[k] -= 2 * v[i] * dk;
		}
	}
	if (clamped)
		for (int k = 0; k < d; k++)
			dvar[k] = 0;
	free(kv);
	if (il != inv)
		free(il);
}

double jm_yeo_johnson(double v, double lambda)
{
	if (v >= 0)
		return fabs(lambda) < 1e-10 ? log1p(v) : expm1(lambda * log1p(v)) / lambda;
	double l2 = 2 - lambda;
	return fabs(l2) < 1e-10 ? -log1p(-v) : -expm1(l2 * log1p(-v)) / l2;
}

/* Profile log likelihood of lambda for normal transformed values. */
static double yj_loglik(const double *z, int n, double lambda)
{
	double mean = 0, m2 = 0, jac = 0;
	for (int i = 0; i < n; i++) {
		double t = jm_yeo_johnson(z[i], lambda);
		double delta = t - mean;
		mean += delta / (i + 1);
		m2 += delta * (t - mean);
		jac += copysign(log1p(fabs(z[i])), z[i]);
	}
	double var = m2 / n;
	if (!(var > 0) || !isfinite(var))
		return -HUGE_VAL;
	return -0.5 * n * log(var) + (lambda - 1) * jac;
}

double jm_yeo_johnson_fit(const double *z, int n)
{
	/* golden-section search on [-2, 3]; the profile is unimodal in
	 * practice */
	const double gr = 0.6180339887498949;
	double a = -2, b = 3;
	double c = b - gr * (b - a), e = a + gr * (b - a);
	double fc = yj_loglik(z, n, c), fe = yj_loglik(z, n, e);
	for (int it = 0; it < 50; it++) {
		if (fc > fe) {
			b = e;
			e = c;
			fe = fc;
			c = b - gr * (b - a);
			fc = yj_loglik(z, n, c);
		} else {
			a = c;
			c = e;
			fc = fe;
			e = a + gr * (b - a);
			fe = yj_loglik(z, n, e);
		}
	}
	return 0.5 * (a + b);
}
