/*
 * acq.h: the acquisition function, log expected improvement.
 *
 * For a minimisation with incumbent `best`, a posterior N(mean, sd^2) at a
 * point gives EI = sd h(z), z = (best - mean) / sd, h(z) = phi(z) + z Phi(z).
 * EI underflows to 0 (and its log to -inf) as soon as z < about -38, which
 * flattens the acquisition everywhere far from the incumbent and leaves the
 * optimiser nothing to climb.  log h is therefore computed in three pieces
 * (Ament et al. 2023, "Unexpected improvements to expected improvement"):
 *
 *   z > -1         log(phi(z) + z Phi(z)) directly
 *   -30 <= z <= -1 -z^2/2 - log sqrt(2 pi) + log1mexp(log(|z| erfcx(-z/sqrt2))
 *                  + log sqrt(pi/2)), erfcx the scaled complementary error
 *                  function
 *   z < -30        -z^2/2 - log sqrt(2 pi) - 2 log|z| + log(1 - 3/z^2 + ...),
 *                  the asymptotic series of Mills' ratio
 *
 * so it is finite and increasing for every finite z.
 */
#ifndef JM_SEARCH_ACQ_H
#define JM_SEARCH_ACQ_H

/* exp(x^2) erfc(x) for x >= 0, without overflow. */
double jm_erfcx(double x);

/* log h(z) and its derivative Phi(z) / h(z). */
double jm_log_h(double z);
double jm_log_h_dz(double z);

/* log EI for minimisation; sd > 0. */
double jm_log_ei(double mean, double sd, double best);

#endif
