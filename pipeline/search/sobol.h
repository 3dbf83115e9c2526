/*
 * sobol.h: the space-filling initial design of a search.
 *
 * A Sobol sequence (Joe and Kuo's direction numbers, up to 32 dimensions)
 * with a random digital shift drawn from the seed, so that each seed gets
 * its own design with the same equidistribution; above 32 dimensions, a
 * Latin hypercube from the seed.  Point k of a design is a pure function
 * of (seed, dimension, k): a resumed search finds the points it already
 * used again.
 */
#ifndef JM_SEARCH_SOBOL_H
#define JM_SEARCH_SOBOL_H

#include <stdint.h>

enum { JM_SOBOL_MAX_DIM = 32 };

/* Point k (0-based) of a design of n points (n > k) for dim dimensions and
 * seed, into u[0..dim), each in (0, 1).  seed == 0 gives the plain
 * (unshifted) Sobol sequence where dim <= JM_SOBOL_MAX_DIM; n only matters
 * above that, as the number of strata of the Latin hypercube. */
void jm_sobol_point(int dim, uint64_t seed, uint64_t n, uint64_t k, double *u);

/* Element k of a permutation of [0, n) keyed by key (a bijection for each
 * key; k < n): for visiting n things in a seeded order without storing
 * the order. */
uint64_t jm_sobol_permute(uint64_t key, uint64_t n, uint64_t k);

#endif
