/*
 * opt.c: projected L-BFGS over a box.
 *
 *   x0 -> clamp -> f, g -> [free set: drop variables held at a bound by
 *   their gradient] -> two-loop direction over the free set -> projected
 *   backtracking (Armijo) -> s, y pairs (kept when s.y > 0) -> ...
 *
 * A variable at its bound whose gradient points out of the box is frozen
 * for that iteration; the direction is the L-BFGS one restricted to the
 * others, or steepest descent if that is not a descent direction.  Simpler
 * than L-BFGS-B's Cauchy point, and enough for the few, well-scaled
 * variables it is used on.
 */
#include "pipeline/search/opt.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util/err.h"

enum { MEMORY = 8 };
#define FIRST_STEP 1.0

static double clampd(double v, double lo, double hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

/* Is variable i free to move, given x, the gradient and the box? */
static int is_free(double x, double g, double lo, double hi)
{
	if (x <= lo && g > 0)
		return 0;
	if (x >= hi && g < 0)
		return 0;
	return 1;
}

static double proj_grad_norm(int n, const double *x, const double *g, const double *lo,
                             const double *hi)
{
	double m = 0;
	for (int i = 0; i < n; i++) {
		double step = clampd(x[i] - g[i], lo[i], hi[i]) - x[i];
		if (fabs(step) > m)
			m = fabs(step);
	}
	return m;
}

int jm_opt_minimize(jm_opt_fn f, void *ctx, int n, double *x, const double *lo,
                    const double *hi, int maxiter, double pgtol, double ftol,
                    jm_opt_result *res)
{
	/* one block: g, gnew, xnew, d, free mask, S and Y (MEMORY x n), rho, alpha */
	double *buf = jm_xmalloc((size_t)(4 * n + 2 * MEMORY * n + 2 * MEMORY) * sizeof *buf);
	double *g = buf, *gnew = g + n, *xnew = gnew + n, *d = xnew + n;
	double *S = d + n, *Y = S + MEMORY * n, *rho = Y + MEMORY * n, *al = rho + MEMORY;
	unsigned char *fr = jm_xmalloc((size_t)n);
	int mem = 0, head = 0, iters = 0, evals = 0, rc = -1;
	double fx;

	for (int i = 0; i < n; i++)
		x[i] = clampd(x[i], lo[i], hi[i]);
	fx = f(ctx, x, g);
	evals++;
	if (!isfinite(fx))
		goto out;
	rc = 0;
	for (; iters < maxiter; iters++) {
		if (proj_grad_norm(n, x, g, lo, hi) < pgtol)
			break;
		for (int i = 0; i < n; i++)
			fr[i] = (unsigned char)is_free(x[i], g[i], lo[i], hi[i]);
		/* two-loop recursion over the free variables */
		for (int i = 0; i < n; i++)
			d[i] = fr[i] ? -g[i] : 0;
		for (int k = 0; k < mem; k++) {
			int j = (head - 1 - k + MEMORY) % MEMORY;
			double s = 0;
			for (int i = 0; i < n; i++)
				if (fr[i])
					s += S[j * n + i] * d[i];
			al[j] = rho[j] * s;
			for (int i = 0; i < n; i++)
				if (fr[i])
					d[i] -= al[j] * Y[j * n + i];
		}
		if (mem) {
			int j = (head - 1 + MEMORY) % MEMORY;
			double sy = 0, yy = 0;
			for (int i = 0; i < n; i++) {
				sy += S[j * n + i] * Y[j * n + i];
				yy += Y[j * n + i] * Y[j * n + i];
			}
			double gamma = yy > 0 ? sy / yy : 1;
			for (int i = 0; i < n; i++)
				d[i] *= gamma;
		}
		for (int k = mem - 1; k >= 0; k--) {
			int j = (head - 1 - k + MEMORY) % MEMORY;
			double s = 0;
			for (int i = 0; i < n; i++)
				if (fr[i])
					s += Y[j * n + i] * d[i];
			double b = rho[j] * s;
			for (int i = 0; i < n; i++)
				if (fr[i])
					d[i] += (al[j] - b) * S[j * n + i];
		}
		double dg = 0, gg = 0;
		for (int i = 0; i < n; i++) {
			dg += d[i] * g[i];
			gg += fr[i] ? g[i] * g[i] : 0;
		}
		if (!(dg < 0)) {
			/* not a descent direction: forget the curvature, go downhill */
			mem = 0;
			for (int i = 0; i < n; i++)
				d[i] = fr[i] ? -g[i] : 0;
			dg = -gg;
			if (!(dg < 0))
				break;
		}
		/* the first step of a fresh memory is scaled to move at most
		 * FIRST_STEP: steepest descent knows nothing of the scale */
		double t = 1;
		if (!mem) {
			double dmax = 0;
			for (int i = 0; i < n; i++)
				if (fabs(d[i]) > dmax)
					dmax = fabs(d[i]);
			if (dmax > FIRST_STEP)
				t = FIRST_STEP / dmax;
		}
		double fnew = HUGE_VAL;
		int accepted = 0;
		for (int ls = 0; ls < 30; ls++, t *= 0.5) {
			double decrease = 0;
			for (int i = 0; i < n; i++) {
				xnew[i] = clampd(x[i] + t * d[i], lo[i], hi[i]);
				decrease += g[i] * (xnew[i] - x[i]);
			}
			fnew = f(ctx, xnew, gnew);
			evals++;
			if (isfinite(fnew) && fnew <= fx + 1e-4 * decrease) {
				accepted = 1;
				break;
			}
		}
		if (!accepted)
			break;
		/* curvature pair */
		double *s = S + head * n, *y = Y + head * n, sy = 0;
		for (int i = 0; i < n; i++) {
			s[i] = xnew[i] - x[i];
			y[i] = gnew[i] - g[i];
			sy += s[i] * y[i];
		}
		if (sy > 1e-12) {
			rho[head] = 1 / sy;
			head = (head + 1) % MEMORY;
			if (mem < MEMORY)
				mem++;
		}
		double drop = fx - fnew;
		memcpy(x, xnew, (size_t)n * sizeof *x);
		memcpy(g, gnew, (size_t)n * sizeof *g);
		fx = fnew;
		if (drop <= ftol * fmax(1.0, fabs(fx))) {
			iters++;
			break;
		}
	}
out:
	if (res) {
		res->f = fx;
		res->iters = iters;
		res->evals = evals;
	}
	free(fr);
	free(buf);
	return rc;
}
