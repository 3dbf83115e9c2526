/*
 * rng.h: deterministic random numbers.
 *
 * Two kinds, both reproducible to the bit on every platform:
 *   - jm_rng, a sequential stream (xoshiro256**), seeded from one integer,
 *     for shuffles, initialisation and augmentation draws;
 *   - jm_hash_*, counter-based (a splitmix64 finaliser over (key, counter)),
 *     for values that must be computable independently in any order, such as
 *     dropout masks that a GPU kernel must reproduce element by element.
 */
#ifndef JM_RNG_H
#define JM_RNG_H

#include <math.h>
#include <stdint.h>

typedef struct jm_rng {
	uint64_t s[4];
} jm_rng;

void jm_rng_seed(jm_rng *r, uint64_t seed);
uint64_t jm_rng_u64(jm_rng *r);
double jm_rng_uniform(jm_rng *r);           /* [0, 1), 53 bits */
float jm_rng_uniformf(jm_rng *r);           /* [0, 1), 24 bits */
uint64_t jm_rng_below(jm_rng *r, uint64_t n); /* [0, n), unbiased; n > 0 */
double jm_rng_normal(jm_rng *r);            /* standard normal */
double jm_rng_gamma(jm_rng *r, double shape);  /* shape > 0, scale 1 */
double jm_rng_beta(jm_rng *r, double a, double b); /* a, b > 0 */
/* Fisher-Yates shuffle of idx[0..n). */
void jm_rng_shuffle(jm_rng *r, int32_t *idx, int64_t n);

/* Counter-based: the same (key, counter) always gives the same value. */
static inline uint64_t jm_hash64(uint64_t key, uint64_t counter)
{
	uint64_t z = key ^ (counter + 0x9e3779b97f4a7c15ULL) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* [0, 1) with 24 bits, for float comparisons (dropout keep masks). */
static inline float jm_hash_uniformf(uint64_t key, uint64_t counter)
{
	return (float)(jm_hash64(key, counter) >> 40) * (1.0f / 16777216.0f);
}

/* Standard normal by Box-Muller over two counter-based uniforms, the
 * first in (0, 1]: u1 from (key, 2*counter), u2 from (key, 2*counter+1);
 * every backend computes it this way (augmentation noise). */
static inline float jm_hash_normalf(uint64_t key, uint64_t counter)
{
	double u1 = (double)((jm_hash64(key, 2 * counter) >> 11) + 1) * 0x1p-53;
	double u2 = (double)(jm_hash64(key, 2 * counter + 1) >> 11) * 0x1p-53;
	return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

#endif
