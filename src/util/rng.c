/* rng.c: xoshiro256** stream and the distributions built on it. */
#include "util/rng.h"

#include <math.h>

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

void jm_rng_seed(jm_rng *r, uint64_t seed)
{
	for (int i = 0; i < 4; i++)
		r->s[i] = splitmix64(&seed);
}

static inline uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

uint64_t jm_rng_u64(jm_rng *r)
{
	uint64_t *s = r->s;
	uint64_t result = rotl(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;
	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return result;
}

double jm_rng_uniform(jm_rng *r)
{
	return (double)(jm_rng_u64(r) >> 11) * 0x1.0p-53;
}

float jm_rng_uniformf(jm_rng *r)
{
	return (float)(jm_rng_u64(r) >> 40) * 0x1.0p-24f;
}

uint64_t jm_rng_below(jm_rng *r, uint64_t n)
{
	/* Lemire's method would need 128-bit products; rejection is simple. */
	uint64_t limit = UINT64_MAX - UINT64_MAX % n;
	uint64_t x;
	do
		x = jm_rng_u64(r);
	while (x >= limit);
	return x % n;
}

double jm_rng_normal(jm_rng *r)
{
	/* Box-Muller; the second value is dropped so the stream stays simple
	 * to reason about (one call, a fixed number of draws). */
	double u1, u2;
	do
		u1 = jm_rng_uniform(r);
	while (u1 <= 0.0);
	u2 = jm_rng_uniform(r);
	return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

double jm_rng_gamma(jm_rng *r, double shape)
{
	/* Marsaglia and Tsang (2000); shape < 1 boosted by U^(1/shape). */
	if (shape < 1.0) {
		double u;
		do
			u = jm_rng_uniform(r);
		while (u <= 0.0);
		return jm_rng_gamma(r, shape + 1.0) * pow(u, 1.0 / shape);
	}
	double d = shape - 1.0 / 3.0, c = 1.0 / sqrt(9.0 * d);
	for (;;) {
		double x, v;
		do {
			x = jm_rng_normal(r);
			v = 1.0 + c * x;
		} while (v <= 0.0);
		v = v * v * v;
		double u = jm_rng_uniform(r);
		if (u < 1.0 - 0.0331 * x * x * x * x)
			return d * v;
		if (u > 0.0 && log(u) < 0.5 * x * x + d * (1.0 - v + log(v)))
			return d * v;
	}
}

double jm_rng_beta(jm_rng *r, double a, double b)
{
	double x = jm_rng_gamma(r, a), y = jm_rng_gamma(r, b);
	return x + y > 0.0 ? x / (x + y) : 0.5;
}

void jm_rng_shuffle(jm_rng *r, int32_t *idx, int64_t n)
{
	for (int64_t i = n - 1; i > 0; i--) {
		int64_t j = (int64_t)jm_rng_below(r, (uint64_t)i + 1);
		int32_t t = idx[i];
		idx[i] = idx[j];
		idx[j] = t;
	}
}
