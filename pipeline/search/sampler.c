/*
 * sampler.c: jm_search, the proposer (see sampler.h for the contract).
 *
 *   tell(x, value, state) --> trials: x (space units), u (unit encoding)
 *
 *   propose(pending) --bayes--> design point while the design is not done
 *                       |      else: values -> minimise -> standardise
 *                       |        -> Yeo-Johnson when skewed -> GP MAP fit
 *                       |        (warm start; on failure the previous
 *                       |        hyperparameters, else the design, logged)
 *                       |        -> pending as fantasies -> GA on log EI
 *                       |        -> best candidate not told nor pending
 *                   --random--> uniform draws until one is new
 *                   --grid--> the seeded order of the grid, first new one
 *
 * Each proposal reseeds its random stream from (seed, trials told, points
 * pending), so a search fed the same calls proposes the same points.
 */
#include "pipeline/search/sampler.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/search/acq.h"
#include "pipeline/search/ga.h"
#include "pipeline/search/gp.h"
#include "pipeline/search/sobol.h"
#include "util/rng.h"

#define SAME_TOL 1e-9        /* unit-scale distance under which points are one */
#define GRID_MAX 1000000     /* grid points at most */
#define CANDIDATES 16        /* acquisition candidates kept per proposal */

struct jm_search {
	const jm_space *sp;
	int n;                   /* parameters */
	jm_search_method method;
	uint64_t seed;
	int maximize;
	jm_pending_mode pending_mode;
	int n_init;
	int grid_points;
	jm_search_log_fn log;
	void *log_ctx;

	int count, cap;          /* trials told */
	double *x, *u, *val;     /* count x n, count x n, count */
	unsigned char *state;

	jm_gp_prior prior;
	jm_gp *gp;
	int have_good;           /* good_* hold a fit that worked */
	double *good_ls, good_s2, good_noise;
	int proposals;

	/* grid: per parameter, its levels as unit coordinates */
	int *grid_nlev;
	double **grid_lev;
	size_t grid_size;
};

static void say(jm_search *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void say(jm_search *s, const char *fmt, ...)
{
	if (!s->log)
		return;
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	s->log(s->log_ctx, msg);
}

static const char *const method_names[] = {
	[JM_SEARCH_BAYES] = "bayes",
	[JM_SEARCH_RANDOM] = "random",
	[JM_SEARCH_GRID] = "grid",
};

const char *jm_search_method_name(jm_search_method m)
{
	return (unsigned)m < sizeof method_names / sizeof method_names[0] ? method_names[m] : "?";
}

int jm_search_method_parse(const char *name, jm_search_method *m)
{
	for (size_t i = 0; i < sizeof method_names / sizeof method_names[0]; i++)
		if (name && !strcmp(name, method_names[i])) {
			*m = (jm_search_method)i;
			return 0;
		}
	return -1;
}

static void grid_clear(jm_search *s)
{
	if (s->grid_lev)
		for (int i = 0; i < s->n; i++)
			free(s->grid_lev[i]);
	free(s->grid_lev);
	free(s->grid_nlev);
	s->grid_lev = NULL;
	s->grid_nlev = NULL;
	s->grid_size = 0;
}

/* The levels of each parameter for a grid of k values per continuous one;
 * integers with at most 16 values take every value, wider ones k. */
static int grid_build(jm_search *s, int k, jm_err *err)
{
	grid_clear(s);
	s->grid_nlev = jm_xcalloc((size_t)s->n, sizeof *s->grid_nlev);
	s->grid_lev = jm_xcalloc((size_t)s->n, sizeof *s->grid_lev);
	double size = 1;
	for (int i = 0; i < s->n; i++) {
		const jm_param *p = &s->sp->p[i];
		int m = 0;
		double *lev;
		if (p->kind == JM_PARAM_CHOICE) {
			lev = jm_xmalloc((size_t)p->nchoices * sizeof *lev);
			for (m = 0; m < p->nchoices; m++)
				lev[m] = m;
		} else if (p->kind == JM_PARAM_INT && p->hi - p->lo + 1 <= 16) {
			int cnt = (int)(p->hi - p->lo + 1);
			lev = jm_xmalloc((size_t)cnt * sizeof *lev);
			for (m = 0; m < cnt; m++) {
				double x = p->lo + m;
				jm_space one = {1, (jm_param *)p};
				jm_space_to_unit(&one, &x, &lev[m]);
			}
		} else {
			lev = jm_xmalloc((size_t)k * sizeof *lev);
			for (int j = 0; j < k; j++) {
				double t = k == 1 ? 0.5 : (double)j / (k - 1);
				t = jm_space_snap(s->sp, i, t);
				if (!m || lev[m - 1] != t)
					lev[m++] = t;
			}
		}
		s->grid_nlev[i] = m;
		s->grid_lev[i] = lev;
		size *= m;
	}
	if (size > GRID_MAX) {
		grid_clear(s);
		return jm_err_set(err, JM_EXIT_INPUT, "a grid of %.0f points is too large (at most %d); "
		                  "use fewer grid points or method = bayes", size, GRID_MAX);
	}
	s->grid_size = (size_t)size;
	return 0;
}

jm_search *jm_search_new(const jm_space *space, jm_search_method method, uint64_t seed,
                         jm_err *err)
{
	if (!space || space->n == 0) {
		jm_err_set(err, JM_EXIT_INPUT, "the search space is empty: name at least one parameter");
		return NULL;
	}
	if ((unsigned)method > JM_SEARCH_GRID) {
		jm_err_set(err, JM_EXIT_INPUT, "unknown search method %d", (int)method);
		return NULL;
	}
	jm_search *s = jm_xcalloc(1, sizeof *s);
	s->sp = space;
	s->n = space->n;
	s->method = method;
	s->seed = seed;
	/* D + 1 design points, at least 4 and at most 10: the model takes over
	 * early, which matters at the 20-50 trials searches usually get */
	s->n_init = space->n + 1 < 4 ? 4 : space->n + 1 > 10 ? 10 : space->n + 1;
	s->grid_points = 5;
	jm_gp_prior_default(&s->prior, space->n);
	unsigned char *cat = jm_xmalloc((size_t)space->n);
	for (int i = 0; i < space->n; i++)
		cat[i] = space->p[i].kind == JM_PARAM_CHOICE;
	s->gp = jm_gp_new(space->n, cat, &s->prior);
	free(cat);
	s->good_ls = jm_xmalloc((size_t)space->n * sizeof *s->good_ls);
	if (method == JM_SEARCH_GRID && grid_build(s, s->grid_points, err) < 0) {
		jm_search_free(s);
		return NULL;
	}
	return s;
}

void jm_search_free(jm_search *s)
{
	if (!s)
		return;
	grid_clear(s);
	jm_gp_free(s->gp);
	free(s->good_ls);
	free(s->x);
	free(s->u);
	free(s->val);
	free(s->state);
	free(s);
}

void jm_search_set_direction(jm_search *s, int maximize)
{
	s->maximize = maximize != 0;
}

void jm_search_set_log(jm_search *s, jm_search_log_fn fn, void *ctx)
{
	s->log = fn;
	s->log_ctx = ctx;
}

void jm_search_set_pending_mode(jm_search *s, jm_pending_mode mode)
{
	s->pending_mode = mode;
}

void jm_search_set_initial(jm_search *s, int n)
{
	s->n_init = n < 2 ? 2 : n;
}

int jm_search_set_grid_points(jm_search *s, int k, jm_err *err)
{
	if (k < 1)
		return jm_err_set(err, JM_EXIT_INPUT, "grid points: expected a number >= 1, got %d", k);
	if (s->method == JM_SEARCH_GRID && grid_build(s, k, err) < 0) {
		grid_build(s, s->grid_points, NULL);
		return -1;
	}
	s->grid_points = k;
	return 0;
}

int jm_search_count(const jm_search *s)
{
	return s->count;
}

int jm_search_tell(jm_search *s, const double *x, double value, jm_trial_state state,
                   jm_err *err)
{
	if (jm_space_check(s->sp, x, err) < 0)
		return -1;
	if ((unsigned)state > JM_TRIAL_PRUNED)
		return jm_err_set(err, JM_EXIT_INPUT, "unknown trial state %d", (int)state);
	if (s->count == s->cap) {
		s->cap = s->cap ? 2 * s->cap : 32;
		s->x = jm_xrealloc(s->x, (size_t)s->cap * (size_t)s->n * sizeof *s->x);
		s->u = jm_xrealloc(s->u, (size_t)s->cap * (size_t)s->n * sizeof *s->u);
		s->val = jm_xrealloc(s->val, (size_t)s->cap * sizeof *s->val);
		s->state = jm_xrealloc(s->state, (size_t)s->cap);
	}
	memcpy(s->x + (size_t)s->count * s->n, x, (size_t)s->n * sizeof *x);
	jm_space_to_unit(s->sp, x, s->u + (size_t)s->count * s->n);
	if (state == JM_TRIAL_COMPLETE && !isfinite(value))
		state = JM_TRIAL_FAILED;
	s->val[s->count] = state == JM_TRIAL_FAILED ? NAN : value;
	s->state[s->count] = (unsigned char)state;
	s->count++;
	return 0;
}

int jm_search_best(const jm_search *s, double *x, double *value)
{
	int best = -1;
	for (int i = 0; i < s->count; i++) {
		if (s->state[i] != JM_TRIAL_COMPLETE)
			continue;
		if (best < 0 || (s->maximize ? s->val[i] > s->val[best] : s->val[i] < s->val[best]))
			best = i;
	}
	if (best < 0)
		return -1;
	if (x)
		memcpy(x, s->x + (size_t)best * s->n, (size_t)s->n * sizeof *x);
	if (value)
		*value = s->val[best];
	return 0;
}

/* ---- what is taken ---- */

static int same_unit(const double *a, const double *b, int n)
{
	for (int i = 0; i < n; i++)
		if (fabs(a[i] - b[i]) > SAME_TOL)
			return 0;
	return 1;
}

/* Is u (unit encoding) a told or pending point? */
static int taken(const jm_search *s, const double *u, const double *pend_u, int npend)
{
	for (int i = 0; i < s->count; i++)
		if (same_unit(u, s->u + (size_t)i * s->n, s->n))
			return 1;
	for (int i = 0; i < npend; i++)
		if (same_unit(u, pend_u + (size_t)i * s->n, s->n))
			return 1;
	return 0;
}

/* Unit encoding of the point that uniform u in [0,1)^n samples. */
static void sample_unit(const jm_search *s, const double *t, double *x, double *u)
{
	jm_space_sample(s->sp, t, x);
	jm_space_to_unit(s->sp, x, u);
}

/* Point number k of a finite space (mixed radix over the parameters). */
static void enumerate(const jm_search *s, size_t k, double *x)
{
	for (int i = s->n - 1; i >= 0; i--) {
		const jm_param *p = &s->sp->p[i];
		size_t m = p->kind == JM_PARAM_CHOICE ? (size_t)p->nchoices : (size_t)(p->hi - p->lo + 1);
		size_t j = k % m;
		k /= m;
		x[i] = p->kind == JM_PARAM_CHOICE ? (double)j : p->lo + (double)j;
	}
}

/* The first free point of a finite space from a seeded offset: 0, or 1 when
 * there is none (or the space is infinite or too large to walk). */
static int first_free(const jm_search *s, const double *pend_u, int npend, jm_rng *rng,
                      double *x, double *u)
{
	size_t size = jm_space_size(s->sp);
	if (size == 0 || size > GRID_MAX)
		return 1;
	size_t start = (size_t)jm_rng_below(rng, size);
	for (size_t i = 0; i < size; i++) {
		enumerate(s, (start + i) % size, x);
		jm_space_to_unit(s->sp, x, u);
		if (!taken(s, u, pend_u, npend))
			return 0;
	}
	return 1;
}

static int propose_random(jm_search *s, const double *pend_u, int npend, jm_rng *rng,
                          double *x, double *u)
{
	double *t = jm_xmalloc((size_t)s->n * sizeof *t);
	int rc = 1;
	for (int tries = 0; tries < 1000 && rc; tries++) {
		for (int i = 0; i < s->n; i++)
			t[i] = jm_rng_uniform(rng);
		sample_unit(s, t, x, u);
		rc = taken(s, u, pend_u, npend);
	}
	free(t);
	return rc ? first_free(s, pend_u, npend, rng, x, u) : 0;
}

/* The first design point not taken; falls back to random draws when the
 * design's points are all taken (small discrete spaces). */
static int propose_design(jm_search *s, const double *pend_u, int npend, jm_rng *rng,
                          double *x, double *u)
{
	double *t = jm_xmalloc((size_t)s->n * sizeof *t);
	int limit = s->n_init + s->count + npend + 64, rc = 1;
	for (int k = 0; k < limit && rc; k++) {
		jm_sobol_point(s->n, s->seed + 1, (uint64_t)s->n_init, (uint64_t)k, t);
		sample_unit(s, t, x, u);
		rc = taken(s, u, pend_u, npend);
	}
	free(t);
	return rc ? propose_random(s, pend_u, npend, rng, x, u) : 0;
}

static int propose_grid(jm_search *s, const double *pend_u, int npend, double *x, double *u)
{
	uint64_t key = jm_hash64(s->seed, 0x67726964); /* "grid" */
	for (size_t i = 0; i < s->grid_size; i++) {
		uint64_t k = s->grid_size > 1 ? jm_sobol_permute(key, s->grid_size, i) : 0;
		for (int p = s->n - 1; p >= 0; p--) {
			u[p] = s->grid_lev[p][k % (uint64_t)s->grid_nlev[p]];
			k /= (uint64_t)s->grid_nlev[p];
		}
		jm_space_from_unit(s->sp, u, x);
		jm_space_to_unit(s->sp, x, u);
		if (!taken(s, u, pend_u, npend))
			return 0;
	}
	return 1;
}

/* ---- bayes ---- */

typedef struct acq_ctx {
	jm_gp *gp;
	double best;
	double *mean, *var;
	int cap;
} acq_ctx;

static void acq_batch(void *c, int m, const double *U, double *val)
{
	acq_ctx *a = c;
	if (m > a->cap) {
		free(a->mean);
		a->cap = m;
		a->mean = jm_xmalloc((size_t)2 * m * sizeof *a->mean);
		a->var = a->mean + m;
	}
	jm_gp_predict(a->gp, m, U, a->mean, a->var);
	for (int i = 0; i < m; i++)
		val[i] = jm_log_ei(a->mean[i], sqrt(a->var[i]), a->best);
}

static double acq_grad(void *c, const double *u, double *grad)
{
	acq_ctx *a = c;
	int d = a->gp->d;
	double mean, var;
	double *dm = jm_xmalloc((size_t)2 * d * sizeof *dm), *dv = dm + d;
	jm_gp_predict_grad(a->gp, u, &mean, &var, dm, dv);
	double sd = sqrt(var), z = (a->best - mean) / sd;
	double dl = jm_log_h_dz(z);
	for (int k = 0; k < d; k++) {
		double dsd = dv[k] / (2 * sd);
		double dz = (-dm[k] - z * dsd) / sd;
		grad[k] = dsd / sd + dl * dz;
	}
	free(dm);
	return log(sd) + jm_log_h(z);
}

/* Targets of the model: minimised, standardised, warped when skewed. */
static void transform_values(const double *v, int n, double *z)
{
	double mean = 0, m2 = 0;
	for (int i = 0; i < n; i++) {
		double delta = v[i] - mean;
		mean += delta / (i + 1);
		m2 += delta * (v[i] - mean);
	}
	double sd = sqrt(m2 / n);
	if (!(sd > 0) || !isfinite(sd))
		sd = 1;
	double skew = 0;
	for (int i = 0; i < n; i++) {
		z[i] = (v[i] - mean) / sd;
		skew += z[i] * z[i] * z[i] / n;
	}
	if (fabs(skew) <= 0.5 || n < 4)
		return;
	double lambda = jm_yeo_johnson_fit(z, n);
	mean = m2 = 0;
	for (int i = 0; i < n; i++) {
		z[i] = jm_yeo_johnson(z[i], lambda);
		double delta = z[i] - mean;
		mean += delta / (i + 1);
		m2 += delta * (z[i] - mean);
	}
	sd = sqrt(m2 / n);
	if (!(sd > 0) || !isfinite(sd))
		sd = 1;
	for (int i = 0; i < n; i++)
		z[i] = (z[i] - mean) / sd;
}

/* Fit the model to X (nobs x n), y; on failure fall back to the previous
 * good hyperparameters.  Returns 0 when the GP is factored. */
static int fit_model(jm_search *s, int nobs, const double *X, const double *y, jm_rng *rng)
{
	jm_err err = {0};
	jm_gp_set_data(s->gp, nobs, X, y);
	/* the warm start converges in a few steps; fresh starts matter most
	 * while the data are few and the posterior has several modes */
	jm_gp_fit_opts fo = {.draws = 8, .starts = 2, .maxiter = 60};
	if (nobs > 30)
		fo = (jm_gp_fit_opts){.draws = 4, .starts = 1, .maxiter = 40};
	if (jm_gp_fit(s->gp, &s->prior, &fo, rng, &err) == 0) {
		memcpy(s->good_ls, s->gp->ls, (size_t)s->n * sizeof *s->good_ls);
		s->good_s2 = s->gp->s2;
		s->good_noise = s->gp->noise;
		s->have_good = 1;
		return 0;
	}
	if (s->have_good) {
		jm_err err2 = {0};
		jm_gp_set_hyper(s->gp, s->good_ls, s->good_s2, s->good_noise);
		if (jm_gp_factor(s->gp, &err2) == 0) {
			say(s, "search: cannot fit the model on %d trials (%s); this proposal uses the "
			    "previous fit's hyperparameters", nobs, err.msg);
			return 0;
		}
	}
	say(s, "search: cannot fit the model on %d trials (%s); this proposal is the next point "
	    "of the space-filling design", nobs, err.msg);
	return -1;
}

/* Add the pending points to the model as fantasies. */
static void add_fantasies(jm_search *s, int nobs, const double *X, const double *y,
                          const double *pend_u, int npend)
{
	int n = s->n, m = nobs + npend;
	double *X2 = jm_xmalloc((size_t)m * n * sizeof *X2), *y2 = jm_xmalloc((size_t)m * sizeof *y2);
	double *mean = jm_xmalloc((size_t)2 * npend * sizeof *mean), *var = mean + npend;
	memcpy(X2, X, (size_t)nobs * n * sizeof *X);
	memcpy(X2 + (size_t)nobs * n, pend_u, (size_t)npend * n * sizeof *pend_u);
	memcpy(y2, y, (size_t)nobs * sizeof *y);
	double lo = y[0], hi = y[0], avg = 0;
	for (int i = 0; i < nobs; i++) {
		lo = fmin(lo, y[i]);
		hi = fmax(hi, y[i]);
		avg += y[i] / nobs;
	}
	jm_gp_predict(s->gp, npend, pend_u, mean, var);
	for (int i = 0; i < npend; i++) {
		double v = s->pending_mode == JM_PENDING_LIAR_BEST ? lo :
		           s->pending_mode == JM_PENDING_LIAR_MEAN ? avg :
		           s->pending_mode == JM_PENDING_LIAR_WORST ? hi : mean[i];
		y2[nobs + i] = v;
	}
	jm_gp_set_data(s->gp, m, X2, y2);
	jm_err err = {0};
	if (jm_gp_factor(s->gp, &err) < 0) {
		/* cannot happen short of non-finite data; keep the plain model */
		say(s, "search: cannot add %d pending trials to the model (%s); this proposal "
		    "ignores them", npend, err.msg);
		jm_gp_set_data(s->gp, nobs, X, y);
		jm_gp_factor(s->gp, NULL);
	}
	free(mean);
	free(y2);
	free(X2);
}

typedef struct by_y {
	double y;
	int i;
} by_y;

static int cmp_y(const void *a, const void *b)
{
	const by_y *p = a, *q = b;
	return p->y < q->y ? -1 : p->y > q->y ? 1 : p->i - q->i;
}

static int propose_bayes(jm_search *s, const double *pend_u, int npend, jm_rng *rng,
                         double *x, double *u)
{
	int n = s->n, nobs = 0, rc;
	for (int i = 0; i < s->count; i++)
		nobs += s->state[i] != JM_TRIAL_FAILED && isfinite(s->val[i]);
	if (s->count + npend < s->n_init || nobs < 2)
		return propose_design(s, pend_u, npend, rng, x, u);

	double *X = jm_xmalloc((size_t)nobs * n * sizeof *X);
	double *v = jm_xmalloc((size_t)2 * nobs * sizeof *v), *y = v + nobs;
	by_y *order = jm_xmalloc((size_t)nobs * sizeof *order);
	double *cand = jm_xmalloc((size_t)CANDIDATES * n * sizeof *cand);
	double vals[CANDIDATES];
	acq_ctx ac = {0};
	int j = 0;
	for (int i = 0; i < s->count; i++) {
		if (s->state[i] == JM_TRIAL_FAILED || !isfinite(s->val[i]))
			continue;
		memcpy(X + (size_t)j * n, s->u + (size_t)i * n, (size_t)n * sizeof *X);
		v[j++] = s->maximize ? -s->val[i] : s->val[i];
	}
	transform_values(v, nobs, y);
	if (fit_model(s, nobs, X, y, rng) < 0) {
		rc = propose_design(s, pend_u, npend, rng, x, u);
		goto out;
	}
	if (npend > 0)
		add_fantasies(s, nobs, X, y, pend_u, npend);

	/* seeds: the best observations */
	for (int i = 0; i < nobs; i++)
		order[i] = (by_y){y[i], i};
	qsort(order, (size_t)nobs, sizeof *order, cmp_y);
	int nseeds = nobs < 5 ? nobs : 5;
	double *seeds = jm_xmalloc((size_t)nseeds * n * sizeof *seeds);
	for (int i = 0; i < nseeds; i++)
		memcpy(seeds + (size_t)i * n, X + (size_t)order[i].i * n, (size_t)n * sizeof *seeds);
	ac.gp = s->gp;
	ac.best = order[0].y;
	jm_ga_opts go;
	jm_ga_opts_default(&go, n);
	int got = jm_ga_maximize(s->sp, acq_batch, acq_grad, &ac, seeds, nseeds, rng, &go,
	                         CANDIDATES, cand, vals);
	free(seeds);
	rc = 1;
	for (int c = 0; c < got && rc; c++) {
		jm_space_from_unit(s->sp, cand + (size_t)c * n, x);
		jm_space_to_unit(s->sp, x, u);
		rc = taken(s, u, pend_u, npend);
	}
	if (rc) {
		rc = propose_random(s, pend_u, npend, rng, x, u);
		if (rc == 0)
			say(s, "search: every candidate of the acquisition repeats a trial; this "
			    "proposal is a uniform draw");
	}
out:
	free(ac.mean);
	free(cand);
	free(order);
	free(v);
	free(X);
	return rc;
}

int jm_search_propose(jm_search *s, const double *pending, int npending, double *x,
                      jm_err *err)
{
	int n = s->n, rc;
	if (npending < 0 || (npending > 0 && !pending))
		return jm_err_set(err, JM_EXIT_INPUT, "pending points: expected a list of %d", npending);
	double *pend_u = jm_xmalloc((size_t)(npending + 1) * n * sizeof *pend_u);
	double *u = jm_xmalloc((size_t)n * sizeof *u);
	for (int i = 0; i < npending; i++) {
		if (jm_space_check(s->sp, pending + (size_t)i * n, err) < 0) {
			jm_err_prefix(err, "pending point %d", i + 1);
			rc = -1;
			goto out;
		}
		jm_space_to_unit(s->sp, pending + (size_t)i * n, pend_u + (size_t)i * n);
	}
	jm_rng rng;
	jm_rng_seed(&rng, jm_hash64(s->seed, ((uint64_t)s->count << 24) ^ (uint64_t)npending));
	switch (s->method) {
	case JM_SEARCH_GRID:
		rc = propose_grid(s, pend_u, npending, x, u);
		break;
	case JM_SEARCH_RANDOM:
		rc = propose_random(s, pend_u, npending, &rng, x, u);
		break;
	default:
		rc = propose_bayes(s, pend_u, npending, &rng, x, u);
		break;
	}
	s->proposals++;
out:
	free(u);
	free(pend_u);
	return rc;
}
