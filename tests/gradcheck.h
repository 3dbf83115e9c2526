/*
 * gradcheck.h: finite-difference gradient checks for the tests.
 *
 * The caller wraps whatever it checks (one op, a whole model) as a scalar
 * function of a float buffer, evaluated in double, and passes the gradient
 * its backward pass computed.  Each checked entry x[i] is moved to the
 * nearest floats to x[i] +- eps, fn is evaluated at both, and x[i] is put
 * back bit for bit:
 *
 *     numeric = (fn(x + e_i) - fn(x - e_i)) / (x_i+ - x_i-)
 *     ok      = |analytic[i] - numeric| <= atol + rtol * |numeric|
 *
 * A typical op check: loss = sum_i out[i] * r[i] with fixed random r, so
 * the analytic gradient is the op's backward with dout = r.  After the
 * check fn is called once more at the restored x, so whatever it writes
 * (outputs, saved statistics) is as before the check.  Mismatches
 * (the first few) are printed to stderr with `what` and the index.
 */
#ifndef JT_GRADCHECK_H
#define JT_GRADCHECK_H

#include <stddef.h>

/* A scalar function of the buffer the check perturbs; ctx is the
 * caller's (it usually holds that same buffer among others). */
typedef double (*jt_scalar_fn)(void *ctx);

/* Check analytic[0..n) against central differences of fn in x[0..n).
 * Returns the number of mismatching entries (0: pass). */
size_t jt_gradcheck(const char *what, jt_scalar_fn fn, void *ctx, float *x,
		    size_t n, const float *analytic, double eps, double rtol,
		    double atol);

/* The same for the entries idx[0..nidx) only (large buffers: check a
 * sample); analytic is indexed like x. */
size_t jt_gradcheck_at(const char *what, jt_scalar_fn fn, void *ctx,
		       float *x, const size_t *idx, size_t nidx,
		       const float *analytic, double eps, double rtol,
		       double atol);

#endif
