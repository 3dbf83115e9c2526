/* gradcheck.c: central-difference gradient checks (see gradcheck.h). */
#include "gradcheck.h"

#include <math.h>
#include <stdio.h>

/* Compare one entry; prints the first few mismatches. */
static int gradcheck_one(const char *what, jt_scalar_fn fn, void *ctx,
			 float *x, size_t i, float analytic, double eps,
			 double rtol, double atol, size_t nbad)
{
	float x0 = x[i];
	float xp = (float)(x0 + eps), xm = (float)(x0 - eps);
	x[i] = xp;
	double fp = fn(ctx);
	x[i] = xm;
	double fm = fn(ctx);
	x[i] = x0;
	double num = (fp - fm) / ((double)xp - (double)xm);
	double err = fabs((double)analytic - num);
	if (err <= atol + rtol * fabs(num) && !isnan(analytic))
		return 0;
	if (nbad < 5)
		fprintf(stderr, "gradcheck %s[%zu]: analytic %.7g, numeric %.7g (err %.3g)\n",
			what, i, (double)analytic, num, err);
	return 1;
}

size_t jt_gradcheck(const char *what, jt_scalar_fn fn, void *ctx, float *x,
		    size_t n, const float *analytic, double eps, double rtol,
		    double atol)
{
	size_t bad = 0;
	for (size_t i = 0; i < n; i++)
		bad += gradcheck_one(what, fn, ctx, x, i, analytic[i], eps, rtol,
				     atol, bad);
	fn(ctx); /* leave ctx's outputs as at the unperturbed x */
	return bad;
}

size_t jt_gradcheck_at(const char *what, jt_scalar_fn fn, void *ctx,
		       float *x, const size_t *idx, size_t nidx,
		       const float *analytic, double eps, double rtol,
		       double atol)
{
	size_t bad = 0;
	for (size_t k = 0; k < nidx; k++)
		bad += gradcheck_one(what, fn, ctx, x, idx[k], analytic[idx[k]],
				     eps, rtol, atol, bad);
	fn(ctx);
	return bad;
}
