/*
 * opt.h: a small box-constrained quasi-Newton minimiser (projected
 * L-BFGS), shared by the GP's hyperparameter fit and the refinement of the
 * acquisition.  Problems here have 2 to ~40 variables, a smooth objective
 * with an analytic gradient, and simple bounds.
 */
#ifndef JM_SEARCH_OPT_H
#define JM_SEARCH_OPT_H

/* f(ctx, x, grad): the objective at x, its gradient into grad; may return
 * +HUGE_VAL (or a NaN) where it cannot be computed, which the line search
 * backs away from. */
typedef double (*jm_opt_fn)(void *ctx, const double *x, double *grad);

typedef struct jm_opt_result {
	double f;        /* the objective at the returned x */
	int iters;       /* quasi-Newton iterations done */
	int evals;       /* objective evaluations */
} jm_opt_result;

/* Minimise f over the box [lo, hi] (n variables) from x (clamped into the
 * box first), for at most maxiter iterations or until the projected
 * gradient falls under pgtol (infinity norm) or the relative decrease per
 * iteration under ftol.  x gets the best point found.  Returns 0, or -1
 * when f cannot be computed even at the start (x is left as clamped). */
int jm_opt_minimize(jm_opt_fn f, void *ctx, int n, double *x, const double *lo,
                    const double *hi, int maxiter, double pgtol, double ftol,
                    jm_opt_result *res);

#endif
