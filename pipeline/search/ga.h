/*
 * ga.h: maximise an acquisition function over a mixed search space with a
 * genetic algorithm, then refine the best candidates locally.
 *
 * Points are in the space's unit encoding (see space.h): continuous and
 * integer parameters in [0,1] (integers always at an integer's position),
 * choices as option indices.  Every parameter is a gene; choices mutate to
 * other options and cross over whole, integers step to neighbouring
 * integers, continuous genes blend and take Gaussian steps that shrink
 * over the generations.  The refinement runs projected L-BFGS on the
 * continuous genes with the acquisition's gradient, then tries each
 * neighbouring integer and each other option, and repeats while that
 * improves.  This is the product brief's hybrid of Bayesian and genetic
 * search.
 */
#ifndef JM_SEARCH_GA_H
#define JM_SEARCH_GA_H

#include "pipeline/search/space.h"
#include "util/rng.h"

/* The acquisition at m points (m x n, unit encoding) into val. */
typedef void (*jm_acq_fn)(void *ctx, int m, const double *U, double *val);
/* The acquisition at one point and its gradient in each continuous
 * parameter (the others' entries are ignored). */
typedef double (*jm_acq_grad_fn)(void *ctx, const double *u, double *grad);

typedef struct jm_ga_opts {
	int pop;          /* population (default 64) */
	int gens;         /* generations (default 25) */
	int refine;       /* candidates refined locally (default 3) */
	int refine_iters; /* L-BFGS iterations per refinement (default 40) */
} jm_ga_opts;

/* Default options for an n-parameter space. */
void jm_ga_opts_default(jm_ga_opts *o, int n);

/* Maximise f over the space.  seeds (nseeds x n, may be NULL) are points
 * worth searching around (the best observations); part of the first
 * generation is drawn near them and they are refined too.  Writes up to k
 * distinct candidates, best first, into out (k x n) and their values into
 * vals; returns how many. */
int jm_ga_maximize(const jm_space *space, jm_acq_fn f, jm_acq_grad_fn fg, void *ctx,
                   const double *seeds, int nseeds, jm_rng *rng, const jm_ga_opts *o,
                   int k, double *out, double *vals);

#endif
