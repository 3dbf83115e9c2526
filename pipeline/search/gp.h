/*
 * gp.h: the Gaussian process that models the objective of a search.
 *
 * Inputs are points of the unit cube with d dimensions; a dimension marked
 * categorical holds an option index and its distance is 0 (same option) or
 * 1 (different), so choices are modelled natively.  The kernel is Matern
 * 5/2 with one lengthscale per dimension (ARD) and a signal variance, plus
 * a noise variance on the diagonal:
 *
 *   k(a, b) = s2 (1 + sqrt5 r + 5/3 r^2) exp(-sqrt5 r),
 *   r^2 = sum_d delta_d(a, b)^2 / l_d^2
 *
 * The targets are whatever the caller gives (the sampler standardises and
 * warps them first; the mean is a constant 0).  Hyperparameters are fitted
 * by maximum a posteriori under weak log-normal priors, by projected L-BFGS
 * on the log posterior with its analytic gradient, from several starts.
 * Everything is double precision.  The Cholesky factor is computed with
 * escalating jitter when the kernel matrix is not numerically positive
 * definite (duplicate points with no noise); gp->jitter says what was added.
 *
 * Ownership: a jm_gp owns copies of its data and all its buffers.
 */
#ifndef JM_SEARCH_GP_H
#define JM_SEARCH_GP_H

#include "util/err.h"
#include "util/rng.h"

/* Weak priors: log l ~ N(ls_mu, ls_sd), log s2 ~ N(s2_mu, s2_sd),
 * log noise ~ N(noise_mu, noise_sd), each within its bounds (not logs). */
typedef struct jm_gp_prior {
	double ls_mu, ls_sd, ls_lo, ls_hi;
	double s2_mu, s2_sd, s2_lo, s2_hi;
	double noise_mu, noise_sd, noise_lo, noise_hi;
} jm_gp_prior;

typedef struct jm_gp {
	int d;                /* input dimensions */
	unsigned char *cat;   /* cat[k]: dimension k is categorical */
	int n, cap;           /* observations, allocated rows */
	double *X;            /* n x d inputs, row-major */
	double *XT;           /* the same, transposed (d x n) */
	double *y;            /* n targets */
	double *ls;           /* d lengthscales */
	double s2, noise;     /* signal and noise variances */
	double jitter;        /* extra diagonal the last factorisation needed */
	/* after jm_gp_factor(): */
	double *L;            /* n x n lower Cholesky factor of K, row-major */
	double *alpha;        /* K^-1 y */
	int factored;
	/* scratch for the fit: K^-1 and per-pair values; per-pair squared
	 * distances per dimension */
	double *work, *dist;
	long evals;           /* log-posterior evaluations so far (statistics) */
} jm_gp;

/* Priors and bounds suited to standardised targets on the unit cube. */
void jm_gp_prior_default(jm_gp_prior *p, int d);

/* A GP over d dimensions; cat (may be NULL: none) is copied.  Starts with
 * the prior's central hyperparameters and no data. */
jm_gp *jm_gp_new(int d, const unsigned char *cat, const jm_gp_prior *prior);
void jm_gp_free(jm_gp *gp);

/* Replace the data with n points X (n x d) and targets y (copied). */
void jm_gp_set_data(jm_gp *gp, int n, const double *X, const double *y);

/* Hyperparameters (d lengthscales, signal and noise variance). */
void jm_gp_set_hyper(jm_gp *gp, const double *ls, double s2, double noise);

/* Cholesky of K + noise I with the current hyperparameters, adding jitter
 * (1e-10 s2, then x10 each try up to 1e-2 s2) when it fails.  -1 with err
 * when even the largest jitter fails or the data are not finite. */
int jm_gp_factor(jm_gp *gp, jm_err *err);

/* How hard jm_gp_fit() tries. */
typedef struct jm_gp_fit_opts {
	int draws;     /* hyperparameter vectors drawn from the prior to screen */
	int starts;    /* L-BFGS runs, from the best screened vectors */
	int maxiter;   /* iterations per run */
} jm_gp_fit_opts;

/* MAP fit of the hyperparameters.  Candidates are the current ones (a warm
 * start), the prior's centre and o->draws draws from the prior; the log
 * posterior is evaluated at each (one Cholesky each) and L-BFGS runs from
 * the o->starts best.  Leaves the best hyperparameters set and the GP
 * factored.  -1 with err when no candidate could be evaluated (then the
 * hyperparameters are unchanged). */
int jm_gp_fit(jm_gp *gp, const jm_gp_prior *prior, const jm_gp_fit_opts *o, jm_rng *rng,
              jm_err *err);

/* The negative log posterior (negative log marginal likelihood plus the
 * prior's negative log density, up to a constant) at theta = (log l_0..,
 * log s2, log noise), with its gradient into grad (may be NULL).  +HUGE_VAL
 * where K cannot be factored. */
double jm_gp_neg_log_posterior(jm_gp *gp, const jm_gp_prior *prior, const double *theta,
                               double *grad);

/* Posterior mean and variance of the latent function at m points Xs
 * (m x d), after jm_gp_factor(). */
void jm_gp_predict(const jm_gp *gp, int m, const double *Xs, double *mean, double *var);

/* The same at one point with the gradients of the mean and the variance
 * with respect to each input dimension (zero for categorical ones) into
 * dmean and dvar (d each). */
void jm_gp_predict_grad(const jm_gp *gp, const double *x, double *mean, double *var,
                        double *dmean, double *dvar);

/* Output warping: the Yeo-Johnson transform, with lambda fitted by
 * maximum likelihood to the standardised values.  Monotone increasing. */
double jm_yeo_johnson(double v, double lambda);
double jm_yeo_johnson_fit(const double *z, int n);

#endif
