/*
 * adam_order.c: what bounds the AdamW pass over the MLP's 235,146
 * parameters on this CPU, and a check of the division it leaves out.
 *
 * Timing (no arguments): the same loop four ways, fastest of 2000 passes
 * taken in turn, thread CPU time:
 *
 *   torch order    p = p*decay + (-step * m) / (sqrt(v) / bc2s + eps):
 *                  two divisions and a square root per element, rounded
 *                  as PyTorch's CPU kernels round them (FMAs in m and v)
 *   jianmo         the same bits with sqrt(v) / bc2s done by
 *                  jm_cpu_div_by_const (multiplications and FMAs), as
 *                  src/engine/cpu_ops.c does where the CPU has FMA
 *   no division    sqrt(v) * (1/bc2s): other bits, the bound for the above
 *   memory only    no division or square root: the loads and stores alone
 *
 * --check: jm_cpu_div_by_const(s, d) against s / d for s = sqrt(v), every
 * non-negative float v (2^31 of them, infinity and NaNs included; what
 * the pass divides), and each d =
 * sqrt(1 - beta2^t) that AdamW divides by, for beta2 in {0.9, 0.99,
 * 0.999, 0.9999} and t = 1..16, plus d = 1 and 16 random d in (0, 1]
 * (81 divisors, 1.7e11 quotients: a few minutes).
 * Prints the first mismatch and exits 1, or the count checked.
 *
 * Built with the engine's flags (O3, no-math-errno); the timed loops and
 * the check use the AVX-512 or AVX2 target the engine would pick.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/cpu_ops.h"

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
	return t.tv_sec + t.tv_nsec * 1e-9;
}

enum { TORCH, JIANMO, NO_DIV, MEMORY, NMODES };

JM_CPU_INLINE static float madd(float a, float b, float c, int fma)
{
	return fma ? fmaf(a, b, c) : a * b + c;
}

JM_CPU_INLINE static void adam_loop(float *restrict p, float *restrict m, float *restrict v,
				    const float *restrict g, size_t n, float nstep, float bc2s,
				    float b1, float b2, float c1, float c2, float eps,
				    float decay, int mode, int fma)
{
	float r = 1.0f / bc2s;
	for (size_t i = 0; i < n; i++) {
		float gi = g[i], pi = p[i] * decay;
		float mi = madd(c1, gi, m[i] * b1, fma), vi = madd(c2 * gi, gi, v[i] * b2, fma);
		m[i] = mi, v[i] = vi;
		if (mode == TORCH)
			p[i] = pi + nstep * mi / (sqrtf(vi) / bc2s + eps);
		else if (mode == JIANMO)
			p[i] = pi + nstep * mi / (jm_cpu_div_by_const(sqrtf(vi), bc2s, r, fma) + eps);
		else if (mode == NO_DIV)
			p[i] = pi + nstep * mi / (sqrtf(vi) * r + eps);
		else
			p[i] = pi + nstep * (mi + vi + eps);
	}
}

/* One loop per mode, each with its mode a constant (a branch inside the
 * loop would keep it from vectorizing). */
JM_CPU_INLINE static void adam_body(float *restrict p, float *restrict m, float *restrict v,
				    const float *restrict g, size_t n, float nstep, float bc2s,
				    float b1, float b2, float c1, float c2, float eps,
				    float decay, int mode, int fma)
{
#define LOOP(M) adam_loop(p, m, v, g, n, nstep, bc2s, b1, b2, c1, c2, eps, decay, M, fma)
	switch (mode) {
	case TORCH: LOOP(TORCH); break;
	case JIANMO: LOOP(JIANMO); break;
	case NO_DIV: LOOP(NO_DIV); break;
	default: LOOP(MEMORY);
	}
#undef LOOP
}

/* s / d against jm_cpu_div_by_const for s = sqrt(v), the 2^23 v of
 * exponent field e (all 256 fields: zero and subnormals to infinity and
 * NaN).  Returns the first mismatching v bits, or -1. */
JM_CPU_INLINE static int64_t check_body(uint32_t e, float d, int fma)
{
	enum { CHUNK = 4096 };
	float s[CHUNK], q[CHUNK], ref[CHUNK], r = 1.0f / d;
	uint32_t qb[CHUNK], rb[CHUNK], base = e << 23;
	for (uint32_t lo = 0; lo < (1u << 23); lo += CHUNK) {
		for (uint32_t i = 0; i < CHUNK; i++) {
			uint32_t b = base | (lo + i);
			memcpy(&s[i], &b, sizeof b);
		}
		for (uint32_t i = 0; i < CHUNK; i++) {
			float si = sqrtf(s[i]);
			q[i] = jm_cpu_div_by_const(si, d, r, fma);
			ref[i] = si / d;
		}
		memcpy(qb, q, sizeof qb);
		memcpy(rb, ref, sizeof rb);
		uint32_t bad = 0;
		for (uint32_t i = 0; i < CHUNK; i++)
			bad |= qb[i] ^ rb[i];
		if (bad)
			for (uint32_t i = 0; i < CHUNK; i++)
				if (qb[i] != rb[i])
					return (int64_t)(base | (lo + i));
	}
	return -1;
}

#if JM_CPU_DISPATCH
#define TARGET(name, arch, fma)                                                              \
	JM_CPU_HOT __attribute__((target(arch))) static void adam_##name(                    \
		float *restrict p, float *restrict m, float *restrict v,                     \
		const float *restrict g, size_t n, float nstep, float bc2s, float b1,         \
		float b2, float c1, float c2, float eps, float decay, int mode)              \
	{                                                                                    \
		adam_body(p, m, v, g, n, nstep, bc2s, b1, b2, c1, c2, eps, decay, mode, fma); \
	}                                                                                    \
	JM_CPU_HOT __attribute__((target(arch))) static int64_t check_##name(uint32_t e,     \
									     float d)        \
	{                                                                                    \
		return check_body(e, d, fma);                                                \
	}
TARGET(avx512, "arch=x86-64-v4", 1)
TARGET(avx2, "arch=x86-64-v3", 1)
#endif

JM_CPU_HOT static void adam_generic(float *restrict p, float *restrict m, float *restrict v,
				    const float *restrict g, size_t n, float nstep, float bc2s,
				    float b1, float b2, float c1, float c2, float eps,
				    float decay, int mode)
{
	adam_body(p, m, v, g, n, nstep, bc2s, b1, b2, c1, c2, eps, decay, mode, 0);
}

JM_CPU_HOT static int64_t check_generic(uint32_t e, float d)
{
	return check_body(e, d, 0);
}

typedef void adam_fn(float *, float *, float *, const float *, size_t, float, float, float,
		     float, float, float, float, float, int);
typedef int64_t check_fn(uint32_t, float);

static const char *target = "generic (no FMA: a real division)";

static void pick(adam_fn **a, check_fn **c)
{
	*a = adam_generic, *c = check_generic;
#if JM_CPU_DISPATCH
	if (__builtin_cpu_supports("x86-64-v4"))
		*a = adam_avx512, *c = check_avx512, target = "AVX-512";
	else if (__builtin_cpu_supports("x86-64-v3"))
		*a = adam_avx2, *c = check_avx2, target = "AVX2";
#endif
}

static int check(check_fn *fn)
{
	float ds[4 * 16 + 1 + 16];
	int nd = 0;
	static const double beta2[4] = {0.9, 0.99, 0.999, 0.9999};
	for (int b = 0; b < 4; b++)
		for (int t = 1; t <= 16; t++)
			ds[nd++] = (float)sqrt(1.0 - pow(beta2[b], t));
	ds[nd++] = 1.0f;
	uint64_t x = 0x9e3779b97f4a7c15u;
	for (int k = 0; k < 16; k++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		float d = (float)((double)(x >> 11) / 9007199254740992.0);
		ds[nd++] = d > 0 ? d : 1.0f;
	}
	uint64_t checked = 0;
	for (int k = 0; k < nd; k++) {
		for (uint32_t e = 0; e < 256; e++) {
			int64_t bad = fn(e, ds[k]);
			if (bad >= 0) {
				uint32_t b = (uint32_t)bad;
				float v, r = 1.0f / ds[k];
				memcpy(&v, &b, sizeof v);
				float s = sqrtf(v);
				printf("mismatch: v = %a (0x%08x), s = sqrt(v) = %a, d = %a: "
				       "s / d = %a, jm_cpu_div_by_const = %a\n",
				       (double)v, b, (double)s, (double)ds[k], (double)(s / ds[k]),
				       (double)jm_cpu_div_by_const(s, ds[k], r, 1));
				return 1;
			}
		}
		checked += 1u << 31;
	}
	printf("jm_cpu_div_by_const (%s): %llu quotients, %d divisors, all equal to the "
	       "division\n",
	       target, (unsigned long long)checked, nd);
	return 0;
}

int main(int argc, char **argv)
{
	adam_fn *adam;
	check_fn *chk;
	pick(&adam, &chk);
	if (argc > 1 && !strcmp(argv[1], "--check"))
		return check(chk);
	if (argc > 1) {
		fprintf(stderr, "usage: adam_order [--check]\n");
		return 2;
	}
	size_t n = 235146;
	float *p = aligned_alloc(64, n * 4 + 64), *m = aligned_alloc(64, n * 4 + 64);
	float *v = aligned_alloc(64, n * 4 + 64), *g = aligned_alloc(64, n * 4 + 64);
	if (!p || !m || !v || !g)
		return 1;
	for (size_t i = 0; i < n; i++)
		p[i] = 0.1f, m[i] = 0, v[i] = 0, g[i] = 0.01f * (float)(i % 13);
	static const char *names[NMODES] = {"torch order (2 divisions, sqrt)",
					    "jianmo (same bits, 1 division)",
					    "one division, other bits", "memory only"};
	double best[NMODES];
	for (int k = 0; k < NMODES; k++)
		best[k] = 1;
	for (int r = 0; r < 2000; r++)
		for (int mode = 0; mode < NMODES; mode++) {
			double t0 = now();
			adam(p, m, v, g, n, -1e-3f, 0.9995f, 0.9f, 0.999f, 0.1f, 0.001f, 1e-8f,
			     0.99999f, mode);
			double t = now() - t0;
			if (t < best[mode])
				best[mode] = t;
		}
	printf("AdamW over %zu parameters, %s code, fastest of 2000:\n", n, target);
	for (int mode = 0; mode < NMODES; mode++)
		printf("  %-34s %.1f us\n", names[mode], best[mode] * 1e6);
	free(p), free(m), free(v), free(g);
	return 0;
}
