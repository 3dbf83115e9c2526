/*
 * acq.c: numerically stable log expected improvement (see acq.h for the
 * three regions), and its derivative in z for gradient refinement:
 *
 *   d log h / dz = Phi(z) / h(z) = exp(log Phi(z) - log h(z))
 *
 * with log Phi(z) from erfc where that does not underflow and from the
 * same asymptotic series below z = -30.
 */
#include "pipeline/search/acq.h"

#include <math.h>

#define LOG_SQRT_2PI 0.91893853320467274178   /* log sqrt(2 pi) */
#define LOG_SQRT_PI_2 0.22579135264472743236  /* log sqrt(pi / 2) */
#define ASYMPTOTIC_Z (-30.0)

double jm_erfcx(double x)
{
	if (x < 26)
		return exp(x * x) * erfc(x);
	/* continued fraction erfcx(x) = 1/sqrt(pi) * 1/(x + (1/2)/(x + 1/(x +
	 * (3/2)/(x + ...)))), evaluated from the tail; at x >= 26 forty
	 * terms are exact to the last bit */
	double f = x;
	for (int k = 40; k >= 1; k--)
		f = x + (k * 0.5) / f;
	return 1 / (sqrt(M_PI) * f);
}

/* log(1 - exp(x)) for x < 0 (Maechler's split). */
static double log1mexp(double x)
{
	return x > -M_LN2 ? log(-expm1(x)) : log1p(-exp(x));
}

/* The series 1 - 3t + 15t^2 - ... (h) and 1 - t + 3t^2 - ... (Phi), t = 1/z^2. */
static double series_h(double t)
{
	return 1 + t * (-3 + t * (15 + t * (-105 + t * (945 + t * -10395))));
}

static double series_phi(double t)
{
	return 1 + t * (-1 + t * (3 + t * (-15 + t * (105 + t * -945))));
}

double jm_log_h(double z)
{
	if (z > -1) {
		double Phi = 0.5 * erfc(-z * M_SQRT1_2);
		double phi = exp(-0.5 * z * z - LOG_SQRT_2PI);
		return log(phi + z * Phi);
	}
	if (z >= ASYMPTOTIC_Z) {
		double w = log(jm_erfcx(-z * M_SQRT1_2) * -z) + LOG_SQRT_PI_2;
		return -0.5 * z * z - LOG_SQRT_2PI + log1mexp(w);
	}
	double t = 1 / (z * z);
	return -0.5 * z * z - LOG_SQRT_2PI + log(t) + log(series_h(t));
}

static double log_Phi(double z)
{
	if (z >= ASYMPTOTIC_Z)
		return log(0.5 * erfc(-z * M_SQRT1_2));
	double t = 1 / (z * z);
	return -0.5 * z * z - LOG_SQRT_2PI - log(-z) + log(series_phi(t));
}

double jm_log_h_dz(double z)
{
	if (z > -1) {
		double Phi = 0.5 * erfc(-z * M_SQRT1_2);
		double phi = exp(-0.5 * z * z - LOG_SQRT_2PI);
		return Phi / (phi + z * Phi);
	}
	if (z < ASYMPTOTIC_Z) {
		/* the -z^2/2 terms cancel exactly */
		double t = 1 / (z * z);
		return -z * series_phi(t) / series_h(t);
	}
	return exp(log_Phi(z) - jm_log_h(z));
}

double jm_log_ei(double mean, double sd, double best)
{
	return log(sd) + jm_log_h((best - mean) / sd);
}
