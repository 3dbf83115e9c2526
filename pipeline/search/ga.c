/*
 * ga.c: genetic maximisation of the acquisition, then local refinement.
 *
 *   first generation: random points + points near the seeds
 *     -> each generation: elites kept; parents by 3-way tournaments;
 *        uniform crossover (continuous genes may blend); mutation
 *        (Gaussian, shrinking; integer steps; other options); one batch
 *        evaluation of the acquisition
 *     -> the best few, refined: L-BFGS on continuous genes, then the best
 *        discrete neighbour, while that improves
 *     -> distinct candidates, best first
 */
#include "pipeline/search/ga.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/search/opt.h"

void jm_ga_opts_default(jm_ga_opts *o, int n)
{
	o->pop = 48 + 4 * n < 128 ? 48 + 4 * n : 128;
	o->gens = 25;
	o->refine = 3;
	o->refine_iters = 40;
}

typedef struct ga {
	const jm_space *sp;
	int n;
	jm_acq_fn f;
	jm_acq_grad_fn fg;
	void *ctx;
	jm_rng *rng;
	double *tmp;     /* n scratch */
} ga;

static int is_cont(const jm_space *sp, int i)
{
	return sp->p[i].kind == JM_PARAM_UNIFORM || sp->p[i].kind == JM_PARAM_LOGUNIFORM;
}

static double reflect(double v)
{
	if (v < 0)
		v = -v;
	if (v > 1)
		v = 2 - v;
	return v < 0 ? 0 : v > 1 ? 1 : v;
}

static void random_point(ga *g, double *u)
{
	for (int i = 0; i < g->n; i++)
		g->tmp[i] = jm_rng_uniform(g->rng);
	double *x = u;
	jm_space_sample(g->sp, g->tmp, x);
	memcpy(g->tmp, x, (size_t)g->n * sizeof *x);
	jm_space_to_unit(g->sp, g->tmp, u);
}

/* Mutate each gene with probability pm; sigma for continuous genes. */
static void mutate(ga *g, double *u, double pm, double sigma)
{
	for (int i = 0; i < g->n; i++) {
		if (jm_rng_uniform(g->rng) >= pm)
			continue;
		const jm_param *p = &g->sp->p[i];
		if (p->kind == JM_PARAM_CHOICE) {
			if (p->nchoices > 1) {
				int k = (int)jm_rng_below(g->rng, (uint64_t)p->nchoices - 1);
				u[i] = k >= (int)u[i] ? k + 1 : k;
			}
		} else if (p->kind == JM_PARAM_INT) {
			if (jm_rng_uniform(g->rng) < 0.8)
				u[i] = jm_space_step(g->sp, i, u[i], jm_rng_uniform(g->rng) < 0.5 ? -1 : 1);
			else
				u[i] = jm_space_snap(g->sp, i, jm_rng_uniform(g->rng));
		} else {
			u[i] = reflect(u[i] + sigma * jm_rng_normal(g->rng));
		}
	}
}

static void crossover(ga *g, const double *a, const double *b, double *c)
{
	for (int i = 0; i < g->n; i++) {
		int pick = jm_rng_uniform(g->rng) < 0.5;
		c[i] = pick ? a[i] : b[i];
		if (is_cont(g->sp, i) && a[i] != b[i] && jm_rng_uniform(g->rng) < 0.5) {
			double beta = -0.25 + 1.5 * jm_rng_uniform(g->rng);
			c[i] = reflect(a[i] + beta * (b[i] - a[i]));
		}
	}
}

static int tournament(ga *g, const double *val, int m)
{
	int best = (int)jm_rng_below(g->rng, (uint64_t)m);
	for (int t = 0; t < 2; t++) {
		int c = (int)jm_rng_below(g->rng, (uint64_t)m);
		if (val[c] > val[best])
			best = c;
	}
	return best;
}

static void evaluate(ga *g, int m, const double *U, double *val)
{
	g->f(g->ctx, m, U, val);
	for (int i = 0; i < m; i++)
		if (!isfinite(val[i]) && !(val[i] == HUGE_VAL))
			val[i] = -HUGE_VAL;
}

/* ---- refinement ---- */

typedef struct refine_ctx {
	ga *g;
	const int *idx;   /* the continuous genes */
	int nc;
	double *full, *gfull;
} refine_ctx;

static double refine_objective(void *c, const double *v, double *grad)
{
	refine_ctx *r = c;
	for (int j = 0; j < r->nc; j++)
		r->full[r->idx[j]] = v[j];
	double a = r->g->fg(r->g->ctx, r->full, r->gfull);
	if (!isfinite(a))
		return HUGE_VAL;
	for (int j = 0; j < r->nc; j++)
		grad[j] = -r->gfull[r->idx[j]];
	return -a;
}

/* The best point among u's discrete neighbours into best (n), its value
 * returned; -HUGE_VAL when u has no discrete genes. */
static double best_neighbour(ga *g, const double *u, double *best)
{
	int n = g->n, m = 0, cap = 0;
	for (int i = 0; i < n; i++)
		cap += g->sp->p[i].kind == JM_PARAM_CHOICE ? g->sp->p[i].nchoices : 2;
	double *U = jm_xmalloc((size_t)(cap ? cap : 1) * (size_t)n * sizeof *U);
	double *val = jm_xmalloc((size_t)(cap ? cap : 1) * sizeof *val);
	for (int i = 0; i < n; i++) {
		const jm_param *p = &g->sp->p[i];
		if (p->kind == JM_PARAM_CHOICE) {
			for (int k = 0; k < p->nchoices; k++) {
				if (k == (int)u[i])
					continue;
				memcpy(U + (size_t)m * n, u, (size_t)n * sizeof *u);
				U[(size_t)m++ * n + i] = k;
			}
		} else if (p->kind == JM_PARAM_INT) {
			for (int s = -1; s <= 1; s += 2) {
				double v = jm_space_step(g->sp, i, u[i], s);
				if (v == u[i])
					continue;
				memcpy(U + (size_t)m * n, u, (size_t)n * sizeof *u);
				U[(size_t)m++ * n + i] = v;
			}
		}
	}
	double bv = -HUGE_VAL;
	if (m) {
		evaluate(g, m, U, val);
		int b = 0;
		for (int j = 1; j < m; j++)
			if (val[j] > val[b])
				b = j;
		bv = val[b];
		memcpy(best, U + (size_t)b * n, (size_t)n * sizeof *best);
	}
	free(val);
	free(U);
	return bv;
}

/* Refine u (value *val) in place. */
static void refine(ga *g, double *u, double *val, int iters)
{
	int n = g->n, nc = 0;
	int *idx = jm_xmalloc((size_t)n * sizeof *idx);
	double *buf = jm_xmalloc((size_t)(6 * n) * sizeof *buf);
	double *v = buf, *lo = v + n, *hi = lo + n, *full = hi + n, *gfull = full + n, *nb = gfull + n;
	for (int i = 0; i < n; i++)
		if (is_cont(g->sp, i)) {
			idx[nc] = i;
			lo[nc] = 0;
			hi[nc] = 1;
			nc++;
		}
	refine_ctx rc = {g, idx, nc, full, gfull};
	for (int round = 0; round < 4; round++) {
		if (nc && g->fg) {
			memcpy(full, u, (size_t)n * sizeof *u);
			for (int j = 0; j < nc; j++)
				v[j] = u[idx[j]];
			jm_opt_result res;
			if (jm_opt_minimize(refine_objective, &rc, nc, v, lo, hi, iters, 1e-9, 1e-12,
			                    &res) == 0 && -res.f > *val) {
				for (int j = 0; j < nc; j++)
					u[idx[j]] = v[j];
				*val = -res.f;
			}
		}
		double nv = best_neighbour(g, u, nb);
		if (!(nv > *val))
			break;
		memcpy(u, nb, (size_t)n * sizeof *u);
		*val = nv;
	}
	free(buf);
	free(idx);
}

static int same_point(const double *a, const double *b, int n)
{
	for (int i = 0; i < n; i++)
		if (fabs(a[i] - b[i]) > 1e-9)
			return 0;
	return 1;
}

typedef struct ranked {
	double val;
	int idx;
} ranked;

static int by_value_desc(const void *a, const void *b)
{
	const ranked *x = a, *y = b;
	if (x->val != y->val)
		return x->val > y->val ? -1 : 1;
	return x->idx - y->idx; /* stable, so the result is deterministic */
}

int jm_ga_maximize(const jm_space *space, jm_acq_fn f, jm_acq_grad_fn fg, void *ctx,
                   const double *seeds, int nseeds, jm_rng *rng, const jm_ga_opts *o,
                   int k, double *out, double *vals)
{
	int n = space->n, P = o->pop < 4 ? 4 : o->pop, G = o->gens, R = o->refine;
	size_t row = (size_t)n;
	/* population, next generation, refined points */
	double *pop = jm_xmalloc((size_t)(2 * P + R) * row * sizeof *pop);
	double *next = pop + (size_t)P * row, *ref = next + (size_t)P * row;
	double *val = jm_xmalloc((size_t)(2 * P + R) * sizeof *val);
	double *nval = val + P, *rval = nval + P;
	ranked *rank = jm_xmalloc((size_t)(P + R) * sizeof *rank);
	ga g = {space, n, f, fg, ctx, rng, jm_xmalloc(row * sizeof(double))};
	double pm = n > 0 ? fmax(1.0 / n, 0.2) : 1;
	int got = 0;

	/* first generation: a quarter near the seeds, the rest at random */
	int near = nseeds > 0 ? P / 4 : 0;
	for (int c = 0; c < P; c++) {
		double *u = pop + (size_t)c * row;
		if (c < near) {
			memcpy(u, seeds + (size_t)(c % nseeds) * row, row * sizeof *u);
			mutate(&g, u, c < nseeds ? 0 : pm, c < near / 2 ? 0.02 : 0.1);
		} else {
			random_point(&g, u);
		}
	}
	evaluate(&g, P, pop, val);

	int elites = P / 8 > 2 ? P / 8 : 2;
	for (int gen = 1; gen < G; gen++) {
		double sigma = 0.2 * pow(0.05, (double)gen / (G > 1 ? G - 1 : 1));
		for (int c = 0; c < P; c++)
			rank[c] = (ranked){val[c], c};
		qsort(rank, (size_t)P, sizeof *rank, by_value_desc);
		for (int c = 0; c < elites; c++) {
			memcpy(next + (size_t)c * row, pop + (size_t)rank[c].idx * row, row * sizeof *pop);
			nval[c] = rank[c].val;
		}
		for (int c = elites; c < P; c++) {
			double *u = next + (size_t)c * row;
			int a = tournament(&g, val, P), b = tournament(&g, val, P);
			crossover(&g, pop + (size_t)a * row, pop + (size_t)b * row, u);
			mutate(&g, u, pm, sigma);
		}
		evaluate(&g, P - elites, next + (size_t)elites * row, nval + elites);
		double *t = pop;
		pop = next;
		next = t;
		t = val;
		val = nval;
		nval = t;
	}

	/* refine the best R distinct individuals */
	for (int c = 0; c < P; c++)
		rank[c] = (ranked){val[c], c};
	qsort(rank, (size_t)P, sizeof *rank, by_value_desc);
	int nr = 0;
	for (int c = 0; c < P && nr < R; c++) {
		const double *u = pop + (size_t)rank[c].idx * row;
		int dup = 0;
		for (int j = 0; j < nr && !dup; j++)
			dup = same_point(u, ref + (size_t)j * row, n);
		if (dup)
			continue;
		memcpy(ref + (size_t)nr * row, u, row * sizeof *u);
		rval[nr] = rank[c].val;
		refine(&g, ref + (size_t)nr * row, &rval[nr], o->refine_iters);
		nr++;
	}

	/* everything ranked together; distinct ones out */
	for (int c = 0; c < P; c++)
		rank[c] = (ranked){val[c], c};
	for (int j = 0; j < nr; j++)
		rank[P + j] = (ranked){rval[j], P + j};
	qsort(rank, (size_t)(P + nr), sizeof *rank, by_value_desc);
	for (int c = 0; c < P + nr && got < k; c++) {
		int i = rank[c].idx;
		const double *u = i < P ? pop + (size_t)i * row : ref + (size_t)(i - P) * row;
		int dup = 0;
		for (int j = 0; j < got && !dup; j++)
			dup = same_point(u, out + (size_t)j * row, n);
		if (dup)
			continue;
		memcpy(out + (size_t)got * row, u, row * sizeof *u);
		vals[got++] = rank[c].val;
	}
	free(g.tmp);
	free(rank);
	free(val < nval ? val : nval);
	free(pop < next ? pop : next);
	return got;
}
