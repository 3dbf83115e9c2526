/*
 * bench_augment.c: CutMix/MixUp per batch on the CPU backend, the work that
 * bench/peer_augment.py times for PyTorch (the peer's cutmix_mixup of
 * ../shared/peers/torch_fmnist.py): one batch-mode decision, the image op
 * and the soft targets of 10 classes.
 *
 *   bench/bench_augment [THREADS [DEVICE]]
 *
 * DEVICE is cpu (the default) or cuda: on a GPU the rounds are timed whole,
 * up to the device's end of the last batch (a batch's own time would only
 * be the host's queueing).
 *
 * Per shape (256x1x28x28 and 64x3x224x224) and per mix (the peer's:
 * CutMix alpha 1 / MixUp alpha 0.2, switch 0.5; CutMix only; MixUp only):
 * 3 warm-up batches, then 5 rounds of 50 batches; the fastest round's mean
 * is the figure (the machine is shared; the peer script does the same).
 * One JSON line each.  Each timed batch is the whole step as training does
 * it: draw the plan on the host, copy it to the backend, then augment_mix
 * in place and mix_targets (the CPU) or augment_batch (one launch on a
 * GPU).
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "engine/backend.h"
#include "pipeline/augment.h"
#include "util/rng.h"

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

enum { K = 10, WARMUP = 3, ROUNDS = 5, REPS = 50 };

typedef struct shape {
	int B, C, H, W;
} shape;

static const shape shapes[] = {{256, 1, 28, 28}, {64, 3, 224, 224}};

static const struct mix {
	const char *name;
	double switch_prob;
} mixes[] = {{"cutmix-mixup", 0.5}, {"cutmix", 1.0}, {"mixup", 0.0}};

/* As the trainer does it: on a GPU the mix and the targets are one launch
 * (augment_batch, out of place into out), on the CPU two passes in place. */
static void one_batch(const jm_backend *be, const jm_augment_config *c, const shape *s, float *x,
		      float *out, const int32_t *labels, float *soft, jm_aug_mix *plan_host,
		      jm_aug_mix *plan, int64_t step)
{
	jm_augment_plan(c, 0, step, s->B, s->H, s->W, plan_host, NULL);
	be->to_device(plan, plan_host, (size_t)s->B * sizeof *plan);
	if (be->augment_batch) {
		be->augment_batch(out, x, NULL, plan, soft, labels, s->B, s->C, s->H, s->W, K, 0,
				  0.0f, 0, 0, 0.0f);
		return;
	}
	be->augment_mix(x, plan, s->B, s->C, s->H, s->W);
	be->mix_targets(soft, labels, plan, s->B, K, 0.0f);
}

static void synced(const jm_backend *be)
{
	char why[512];
	if (be->sync(why, sizeof why) < 0) {
		fprintf(stderr, "bench_augment: %s\n", why);
		exit(1);
	}
}

int main(int argc, char **argv)
{
	const jm_backend *be = &jm_backend_cpu;
	int threads = argc > 1 ? atoi(argv[1]) : 1;
	const char *device = argc > 2 ? argv[2] : "cpu";
	char why[512];
	if (jm_backend_for_device(device, &be, NULL, 0, why, sizeof why) < 0) {
		fprintf(stderr, "bench_augment: %s\n", why);
		return 2;
	}
	jm_cpu_set_workers(threads);
	for (size_t si = 0; si < sizeof shapes / sizeof *shapes; si++) {
		const shape *s = &shapes[si];
		size_t n = (size_t)s->B * s->C * s->H * s->W;
		float *x = be->alloc(n * sizeof *x), *soft = be->alloc((size_t)s->B * K * sizeof *soft);
		float *out = be->augment_batch ? be->alloc(n * sizeof *out) : NULL;
		int32_t *labels = be->alloc((size_t)s->B * sizeof *labels);
		jm_aug_mix *plan = be->alloc((size_t)s->B * sizeof *plan);
		jm_aug_mix *plan_host = malloc((size_t)s->B * sizeof *plan_host);
		float *xh = malloc(n * sizeof *xh);
		int32_t *lh = malloc((size_t)s->B * sizeof *lh);
		if (!x || !soft || !labels || !plan || !plan_host || !xh || !lh ||
		    (be->augment_batch && !out)) {
			fprintf(stderr, "bench_augment: out of memory\n");
			return 1;
		}
		jm_rng r;
		jm_rng_seed(&r, 1);
		for (size_t i = 0; i < n; i++)
			xh[i] = (float)jm_rng_normal(&r);
		for (int i = 0; i < s->B; i++)
			lh[i] = (int32_t)jm_rng_below(&r, K);
		be->to_device(x, xh, n * sizeof *xh);
		be->to_device(labels, lh, (size_t)s->B * sizeof *lh);
		for (size_t mi = 0; mi < sizeof mixes / sizeof *mixes; mi++) {
			/* the peer's cutmix_mixup(x, y, alpha_mix=0.2, alpha_cut=1.0) */
			jm_augment_config c = {.mixup = 0.2, .cutmix = 1.0, .prob = 1.0,
					       .switch_prob = mixes[mi].switch_prob,
					       .mode = JM_MIXMODE_BATCH, .correct_lam = 1};
			int64_t step = 0;
			for (int i = 0; i < WARMUP; i++)
				one_batch(be, &c, s, x, out, labels, soft, plan_host, plan, step++);
			synced(be);
			double best = 1e30;
			for (int round = 0; round < ROUNDS; round++) {
				double t0 = now();
				for (int i = 0; i < REPS; i++)
					one_batch(be, &c, s, x, out, labels, soft, plan_host, plan, step++);
				synced(be);
				double t = now() - t0;
				if (t / REPS < best)
					best = t / REPS;
			}
			printf("{\"bench\":\"augment\",\"impl\":\"jianmo\",\"device\":\"%s\",\"mix\":\"%s\","
			       "\"shape\":[%d,%d,%d,%d],\"threads\":%d,\"ms_per_batch\":%.4f,"
			       "\"images_per_s\":%.0f}\n",
			       be->name, mixes[mi].name, s->B, s->C, s->H, s->W, threads, best * 1e3,
			       s->B / best);
			fflush(stdout);
		}
		be->free(x), be->free(out), be->free(soft), be->free(labels), be->free(plan);
		free(plan_host), free(xh), free(lh);
	}
	return 0;
}
