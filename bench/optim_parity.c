/*
 * optim_parity.c: jianmo's Adam and AdamW steps over data PyTorch can read,
 * for bench/optim_parity.sh to run torch.optim on the same data and compare
 * the bits.
 *
 *   optim_parity DIR N STEPS
 *
 * Writes to DIR, as raw little-endian float32: p0 (N), g (STEPS x N, one
 * gradient per step), and for each of adamw, adam and sgd the parameters
 * and the state after STEPS steps (adamw.p, adamw.m, adamw.v, adam.p, ...,
 * sgd.p, sgd.m: the momentum buffer).  The gradients span 1e-6 to 10 in
 * magnitude; the hyperparameters are the script's: Adam and AdamW at lr
 * 1e-3, betas (0.9, 0.999), eps 1e-8, weight decay 1e-4 (Adam, L2) and
 * 5e-4 (AdamW); SGD at lr 0.01, Nesterov momentum 0.9, weight decay 1e-4.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "engine/backend.h"

static const jm_backend *be = &jm_backend_cpu;

static int save(const char *dir, const char *name, const float *x, size_t n)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	FILE *f = fopen(path, "wb");
	if (!f || fwrite(x, sizeof *x, n, f) != n || fclose(f)) {
		perror(path);
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: optim_parity DIR N STEPS\n");
		return 2;
	}
	const char *dir = argv[1];
	size_t n = strtoul(argv[2], NULL, 10);
	int steps = atoi(argv[3]);
	if (n == 0 || steps < 1) {
		fprintf(stderr, "optim_parity: N and STEPS must be positive\n");
		return 2;
	}
	float *p0 = malloc(n * sizeof *p0), *g = malloc((size_t)steps * n * sizeof *g);
	float *p = malloc(n * sizeof *p), *m = malloc(n * sizeof *m), *v = malloc(n * sizeof *v);
	if (!p0 || !g || !p || !m || !v)
		return 1;
	uint64_t x = 0x9e3779b97f4a7c15u;
	for (size_t i = 0; i < n + (size_t)steps * n; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		double u = (double)(x >> 11) / 9007199254740992.0; /* [0, 1) */
		if (i < n)
			p0[i] = (float)((u - 0.5) * 0.2);
		else /* sign from one bit, magnitude log-uniform over 1e-6 .. 10 */
			g[i - n] = (float)((x & 1 ? -1.0 : 1.0) * pow(10.0, -6.0 + 7.0 * u));
	}
	if (save(dir, "p0", p0, n) || save(dir, "g", g, (size_t)steps * n))
		return 1;
	const double lr = 1e-3, b1 = 0.9, b2 = 0.999, eps = 1e-8;
	static const struct {
		const char *name;
		int kind; /* 0 AdamW, 1 Adam, 2 SGD */
		double wd;
	} kinds[3] = {{"adamw", 0, 5e-4}, {"adam", 1, 1e-4}, {"sgd", 2, 1e-4}};
	for (int k = 0; k < 3; k++) {
		for (size_t i = 0; i < n; i++)
			p[i] = p0[i], m[i] = 0.0f, v[i] = 0.0f;
		for (int t = 1; t <= steps; t++) {
			const float *gt = g + (size_t)(t - 1) * n;
			if (kinds[k].kind == 2)
				be->sgd_step(p, m, gt, n, 0.01f, 0.9f, (float)kinds[k].wd, 1, t == 1);
			else
				be->adam_step(p, m, v, gt, n, lr, b1, b2, eps, kinds[k].wd,
					      1.0 - pow(b1, t), 1.0 - pow(b2, t), kinds[k].kind == 0);
		}
		static const char parts[3] = {'p', 'm', 'v'};
		const float *bufs[3] = {p, m, v};
		for (int b = 0; b < (kinds[k].kind == 2 ? 2 : 3); b++) {
			char name[32];
			snprintf(name, sizeof name, "%s.%c", kinds[k].name, parts[b]);
			if (save(dir, name, bufs[b], n))
				return 1;
		}
	}
	free(p0), free(g), free(p), free(m), free(v);
	return 0;
}
