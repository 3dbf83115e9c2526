/*
 * sobol.c: Sobol points by direct construction from the index's Gray code
 * (the usual order), so any index can be had on its own:
 *
 *   x_d(k) = XOR over the set bits j of gray(k) of V_d[j]   (32-bit fractions)
 *   u_d(k) = (x_d(k) XOR shift_d) / 2^32              shift_d from the seed
 *
 * V_d comes from the primitive polynomial (degree s, coefficients a) and
 * the initial numbers m_1..m_s of Joe and Kuo's table (new-joe-kuo-6), by
 * the usual recurrence.  Beyond the table, a Latin hypercube whose strata
 * are permuted by a hash of (seed, dimension) and jittered per point.
 */
#include "pipeline/search/sobol.h"

#include "util/rng.h"

/* s, a, m_1..m_s for dimensions 2..32 (dimension 1 is van der Corput). */
static const uint16_t joe_kuo[JM_SOBOL_MAX_DIM - 1][9] = {
	{1, 0, 1}, {2, 1, 1, 3}, {3, 1, 1, 3, 1}, {3, 2, 1, 1, 1},
	{4, 1, 1, 1, 3, 3}, {4, 4, 1, 3, 5, 13}, {5, 2, 1, 1, 5, 5, 17},
	{5, 4, 1, 1, 5, 5, 5}, {5, 7, 1, 1, 7, 11, 19}, {5, 11, 1, 1, 5, 1, 1},
	{5, 13, 1, 1, 1, 3, 11}, {5, 14, 1, 3, 5, 5, 31}, {6, 1, 1, 3, 3, 9, 7, 49},
	{6, 13, 1, 1, 1, 15, 21, 21}, {6, 16, 1, 3, 1, 13, 27, 49},
	{6, 19, 1, 1, 1, 15, 7, 5}, {6, 22, 1, 3, 1, 15, 13, 25},
	{6, 25, 1, 1, 5, 5, 19, 61}, {7, 1, 1, 3, 7, 11, 23, 15, 103},
	{7, 4, 1, 3, 7, 13, 13, 15, 69}, {7, 7, 1, 1, 3, 13, 7, 35, 63},
	{7, 8, 1, 3, 5, 9, 1, 25, 53}, {7, 14, 1, 3, 1, 13, 9, 35, 107},
	{7, 19, 1, 3, 1, 5, 27, 61, 31}, {7, 21, 1, 1, 5, 11, 19, 41, 61},
	{7, 28, 1, 3, 5, 3, 3, 13, 69}, {7, 31, 1, 1, 7, 13, 1, 19, 1},
	{7, 32, 1, 3, 7, 5, 13, 19, 59}, {7, 37, 1, 1, 3, 9, 25, 29, 41},
	{7, 41, 1, 3, 5, 13, 23, 1, 55}, {7, 42, 1, 3, 7, 3, 13, 59, 17},
};

/* Direction numbers V[0..32) of dimension d (0-based), as 32-bit
 * fractions: bit j of the index contributes V[j]. */
static void directions(int d, uint32_t V[32])
{
	if (d == 0) {
		for (int j = 0; j < 32; j++)
			V[j] = 1u << (31 - j);
		return;
	}
	const uint16_t *row = joe_kuo[d - 1];
	int s = row[0];
	unsigned a = row[1];
	for (int j = 0; j < s; j++)
		V[j] = (uint32_t)row[2 + j] << (31 - j);
	for (int j = s; j < 32; j++) {
		V[j] = V[j - s] ^ (V[j - s] >> s);
		for (int k = 1; k < s; k++)
			if ((a >> (s - 1 - k)) & 1)
				V[j] ^= V[j - k];
	}
}

/* Stratum of point k in a dimension: a permutation of [0, n) keyed by the
 * hash, by cycle-walking a bijection of the next power of two. */
uint64_t jm_sobol_permute(uint64_t key, uint64_t n, uint64_t k)
{
	uint64_t mask = 1;
	while (mask < n)
		mask <<= 1;
	mask -= 1;
	uint64_t idx = k;
	do {
		/* odd multipliers, xor-shifts and additions: bijections mod 2^b */
		for (uint64_t r = 0; r < 3; r++) {
			idx = (idx * (jm_hash64(key, r) | 1)) & mask;
			idx ^= (idx >> 3) & mask;
			idx = (idx + jm_hash64(key, 10 + r)) & mask;
		}
	} while (idx >= n);
	return idx;
}

static void latin_hypercube(int dim, uint64_t seed, uint64_t n, uint64_t k, double *u)
{
	for (int d = 0; d < dim; d++) {
		uint64_t key = jm_hash64(seed, (uint64_t)d);
		double jitter = ((double)(jm_hash64(key, 1000 + k) >> 11) + 0.5) * 0x1.0p-53;
		u[d] = ((double)jm_sobol_permute(key, n, k) + jitter) / (double)n;
	}
}

void jm_sobol_point(int dim, uint64_t seed, uint64_t n, uint64_t k, double *u)
{
	if (dim > JM_SOBOL_MAX_DIM) {
		latin_hypercube(dim, seed, n > k ? n : k + 1, k, u);
		return;
	}
	for (int d = 0; d < dim; d++) {
		uint32_t V[32], x = 0;
		uint64_t g = k ^ (k >> 1); /* Gray code: the published order */
		directions(d, V);
		for (int j = 0; j < 32 && (g >> j); j++)
			if ((g >> j) & 1)
				x ^= V[j];
		if (seed)
			x ^= (uint32_t)jm_hash64(seed, (uint64_t)d);
		/* the middle of the cell of 2^32, so no coordinate is exactly 0 */
		u[d] = ((double)x + 0.5) * 0x1.0p-32;
	}
}
