/*
 * adam_order.c: what bounds the AdamW pass over the MLP's 235,146
 * parameters on this CPU.  The same loop three ways, fastest of 200 passes,
 * thread CPU time:
 *
 *   torch order    p = p*decay - step * (m / (sqrt(v) / bc2s + eps)):
 *                  two divisions and a square root per element (what
 *                  src/engine/cpu_ops.c does, to match torch.optim's bits)
 *   no division    sqrt(v) * (1/bc2s): one division fewer
 *   memory only    no division or square root: the loads and stores alone
 *
 * Usage: bench/adam_order (no arguments).  Built with the engine's flags:
 * O3, no-math-errno, an AVX2 clone.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
	return t.tv_sec + t.tv_nsec * 1e-9;
}

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define HOT __attribute__((target_clones("arch=x86-64-v3", "default"), optimize("O3", "no-math-errno")))
#else
#define HOT
#endif

enum { TORCH, NO_DIV, MEMORY };

HOT static void adam(float *restrict p, float *restrict m, float *restrict v,
		     const float *restrict g, size_t n, float step, float bc2s, float b1, float b2,
		     float c1, float c2, float eps, float decay, int mode)
{
	if (mode == TORCH) {
		for (size_t i = 0; i < n; i++) {
			float gi = g[i], pi = p[i] * decay;
			float mi = b1 * m[i] + c1 * gi, vi = b2 * v[i] + c2 * gi * gi;
			m[i] = mi, v[i] = vi;
			p[i] = pi - step * (mi / (sqrtf(vi) / bc2s + eps));
		}
	} else if (mode == NO_DIV) {
		float r = 1.0f / bc2s;
		for (size_t i = 0; i < n; i++) {
			float gi = g[i], pi = p[i] * decay;
			float mi = b1 * m[i] + c1 * gi, vi = b2 * v[i] + c2 * gi * gi;
			m[i] = mi, v[i] = vi;
			p[i] = pi - step * (mi / (sqrtf(vi) * r + eps));
		}
	} else {
		for (size_t i = 0; i < n; i++) {
			float gi = g[i], pi = p[i] * decay;
			float mi = b1 * m[i] + c1 * gi, vi = b2 * v[i] + c2 * gi * gi;
			m[i] = mi, v[i] = vi;
			p[i] = pi - step * (mi + vi + eps);
		}
	}
}

int main(void)
{
	size_t n = 235146;
	float *p = aligned_alloc(64, n * 4 + 64), *m = aligned_alloc(64, n * 4 + 64);
	float *v = aligned_alloc(64, n * 4 + 64), *g = aligned_alloc(64, n * 4 + 64);
	if (!p || !m || !v || !g)
		return 1;
	for (size_t i = 0; i < n; i++)
		p[i] = 0.1f, m[i] = 0, v[i] = 0, g[i] = 0.01f * (float)(i % 13);
	static const char *names[] = {"torch order (2 divisions, sqrt)", "one division, sqrt",
				      "memory only"};
	for (int mode = TORCH; mode <= MEMORY; mode++) {
		double best = 1;
		for (int r = 0; r < 200; r++) {
			double t0 = now();
			adam(p, m, v, g, n, 1e-3f, 0.9995f, 0.9f, 0.999f, 0.1f, 0.001f, 1e-8f,
			     0.99999f, mode);
			double t = now() - t0;
			if (t < best)
				best = t;
		}
		printf("%-34s %.1f us\n", names[mode], best * 1e6);
	}
	free(p), free(m), free(v), free(g);
	return 0;
}
