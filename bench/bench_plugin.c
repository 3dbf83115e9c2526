/*
 * bench_plugin.c: what a plugin layer costs against the same built-in
 * layer, per training step.  Two models identical but for the activation
 * after every convolution and hidden fc: the built-in SiLU (JM_ACT_SILU)
 * and the swish plugin at beta = 1 (plugin:swish(beta=1), the same
 * function), both on the CPU backend:
 *
 *   cnn: c32 p c64 p fc128 fc10 with batch norm, 28x28x1, batch 64, AdamW
 *
 * A training step is zero_grad, forward, softmax cross-entropy, backward
 * and an AdamW step.  The two models alternate, round after round (so a
 * busy neighbour slows both alike); each round times `steps` steps of one
 * model, and the figure is the median round per model.  Prints both step
 * times, the ratio plugin / built-in, and a JSON line.
 *
 * Usage: bench_plugin [ROUNDS [STEPS]]   (defaults 15, 10)
 * The swish plugin must be on JIANMO_PLUGIN_PATH (bench/bench_plugin.sh
 * sets it to the build tree's tests/plugins/examples).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/backend.h"
#include "engine/model.h"
#include "engine/optim.h"
#include "plugin/plugin.h"
#include "util/rng.h"

#define B 64
#define K 10

typedef struct side {
	const char *name;
	jm_model *m;
	jm_optim *opt;
	double *rounds;
} side;

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static void setup(side *s, const char *act_plugin, int act)
{
	jm_model_spec spec = {.type = "cnn", .layers = "c32 p c64 p fc128 fc10", .batchnorm = 1,
			      .act = act, .act_plugin = act_plugin};
	jm_optim_spec os = {.kind = jm_optim_kind_from_name("adamw"), .beta1 = 0.9, .beta2 = 0.999,
			    .eps = 1e-8, .weight_decay = 1e-4};
	jm_err err = {0};
	if (jm_model_build(&s->m, &jm_backend_cpu, &spec, 1, 28, 28, K, B, &err) < 0 ||
	    jm_model_init(s->m, 1, &err) < 0 ||
	    jm_optim_new(&s->opt, &jm_backend_cpu, &os, jm_model_n_params(s->m), &err) < 0) {
		fprintf(stderr, "bench_plugin: %s: %s\n", s->name, err.msg);
		exit(1);
	}
}

static void steps(side *s, const float *x, const int32_t *y, float *dlogits, int n)
{
	for (int i = 0; i < n; i++) {
		jm_model_zero_grad(s->m);
		float *logits = jm_model_forward(s->m, x, B, 1, (uint64_t)i);
		jm_backend_cpu.xent(dlogits, NULL, NULL, logits, y, NULL, B, K, 0.0f);
		jm_model_backward(s->m, dlogits, B);
		jm_optim_step(s->opt, jm_model_params(s->m), jm_model_grads(s->m), 1e-3, -1);
	}
}

int main(int argc, char **argv)
{
	int rounds = argc > 1 ? atoi(argv[1]) : 15, nsteps = argc > 2 ? atoi(argv[2]) : 10;
	if (rounds < 1 || nsteps < 1) {
		fprintf(stderr, "usage: bench_plugin [ROUNDS [STEPS]]\n");
		return 2;
	}
	jm_blas_set_threads(1);
	jm_plugins_warn_to(stderr);
	side sides[2] = {{.name = "built-in silu"}, {.name = "plugin:swish(beta=1)"}};
	setup(&sides[0], NULL, JM_ACT_SILU);
	setup(&sides[1], "plugin:swish(beta=1)", JM_ACT_RELU);
	jm_rng r;
	jm_rng_seed(&r, 7);
	float *x = malloc((size_t)B * 784 * sizeof *x), *dl = malloc((size_t)B * K * sizeof *dl);
	int32_t *y = malloc(B * sizeof *y);
	for (int i = 0; i < B * 784; i++)
		x[i] = jm_rng_uniformf(&r) * 2 - 1;
	for (int i = 0; i < B; i++)
		y[i] = i % K;
	for (int k = 0; k < 2; k++) { /* warm up: caches, page faults */
		steps(&sides[k], x, y, dl, 3);
		sides[k].rounds = malloc((size_t)rounds * sizeof(double));
	}
	for (int i = 0; i < rounds; i++)
		for (int j = 0; j < 2; j++) {
			side *s = &sides[(i + j) % 2]; /* alternate which goes first */
			double t0 = now();
			steps(s, x, y, dl, nsteps);
			s->rounds[i] = (now() - t0) / nsteps;
		}
	double med[2];
	for (int k = 0; k < 2; k++) {
		qsort(sides[k].rounds, (size_t)rounds, sizeof(double), cmp_double);
		med[k] = sides[k].rounds[rounds / 2];
		printf("%-22s %8.3f ms per step (median of %d rounds of %d steps; fastest %.3f)\n",
		       sides[k].name, med[k] * 1e3, rounds, nsteps, sides[k].rounds[0] * 1e3);
	}
	printf("plugin / built-in: %.4f (%+.2f%%)\n", med[1] / med[0], (med[1] / med[0] - 1) * 100);
	printf("{\"bench\":\"plugin\",\"model\":\"cnn c32 p c64 p fc128 fc10, batch %d\","
	       "\"builtin_ms\":%.4f,\"plugin_ms\":%.4f,\"ratio\":%.4f}\n",
	       B, med[0] * 1e3, med[1] * 1e3, med[1] / med[0]);
	for (int k = 0; k < 2; k++) {
		jm_model_free(sides[k].m);
		jm_optim_free(sides[k].opt);
		free(sides[k].rounds);
	}
	free(x), free(dl), free(y);
	return 0;
}
