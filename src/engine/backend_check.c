/*
 * backend_check.c: JIANMO_BACKEND_CHECK=1 (tests): the CPU backend dressed
 * as a device backend with CUDA graphs, so the trainer's side of the graph
 * contract is checked where there is no GPU.  The table is the CPU's, plus:
 *
 *   step_begin/step_end  pair up, never nested
 *   inside a step        no allocation or release (a graph would hold
 *                        stale pointers); no buffer uploaded twice
 *                        (to_device: the uploads run before the step's
 *                        graph, so the first would be lost); reads to the host (to_host,
 *                        xent, mse, sumsq) and waits (sync) are counted:
 *                        each cuts the step's graph in two
 *   clip_norm            the device clip, on the CPU (the norm into stat,
 *                        as the CUDA module computes it)
 *   metrics_every        32, as on a GPU
 *   sync                 JIANMO_BACKEND_CHECK_FAIL=N: from the Nth call
 *                        on, fails as a device's does after an error in
 *                        its queued work (a sticky error), so the
 *                        callers' error paths run without a GPU
 *
 * graph_info says how many steps were bracketed and how many broke the
 * contract (the first, by name); the run prints it at its end.  The
 * results are the CPU's to the bit.
 */
#include "engine/backend.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

enum { CHK_UPLOADS = 64 };

static struct {
	int in_step;
	long long steps, broken, reads;
	char first[160];
	const void *up[CHK_UPLOADS]; /* this step's upload targets */
	int n_up;
	long long syncs, fail_at; /* JIANMO_BACKEND_CHECK_FAIL */
} chk;

static void broke(const char *what)
{
	if (!chk.broken++)
		snprintf(chk.first, sizeof chk.first, "%s", what);
}

static void inside(const char *what)
{
	if (chk.in_step) {
		char w[160];
		snprintf(w, sizeof w, "%s inside a step", what);
		broke(w);
	}
}

static void read_inside(void)
{
	chk.reads += chk.in_step;
}

static void *chk_alloc(size_t bytes)
{
	inside("an allocation");
	return jm_backend_cpu.alloc(bytes);
}

static void chk_free(void *p)
{
	inside("a release");
	jm_backend_cpu.free(p);
}

static void chk_to_device(void *dst, const void *src, size_t bytes)
{
	for (int i = 0; chk.in_step && i < chk.n_up; i++)
		if (chk.up[i] == dst) {
			broke("an upload to one buffer twice inside a step");
			break;
		}
	if (chk.in_step && chk.n_up < CHK_UPLOADS)
		chk.up[chk.n_up++] = dst;
	jm_backend_cpu.to_device(dst, src, bytes);
}

static void chk_to_host(void *dst, const void *src, size_t bytes)
{
	read_inside();
	jm_backend_cpu.to_host(dst, src, bytes);
}

static double chk_xent(float *dlogits, float *sample_loss, int32_t *correct, const float *logits,
		       const int32_t *labels, const float *soft, int B, int K, float smoothing)
{
	read_inside();
	return jm_backend_cpu.xent(dlogits, sample_loss, correct, logits, labels, soft, B, K,
				   smoothing);
}

static double chk_mse(float *dpred, float *sample_loss, const float *pred, const float *target,
		      int B, int K)
{
	read_inside();
	return jm_backend_cpu.mse(dpred, sample_loss, pred, target, B, K);
}

static double chk_sumsq(const float *x, size_t n)
{
	read_inside();
	return jm_backend_cpu.sumsq(x, n);
}

static int chk_sync(char *why, size_t n)
{
	read_inside();
	if (chk.fail_at > 0 && ++chk.syncs >= chk.fail_at) {
		snprintf(why, n, "an injected device error (JIANMO_BACKEND_CHECK_FAIL=%lld)",
			 chk.fail_at);
		return -1;
	}
	return jm_backend_cpu.sync(why, n);
}

/* As jm_clip_apply's fixed mode and the CUDA module's k_clip_factor. */
static void chk_clip_norm(float *x, size_t n, double max_norm, double *stat)
{
	double norm = n ? sqrt(jm_backend_cpu.sumsq(x, n)) : 0.0, coef = max_norm / (norm + 1e-6);
	stat[0] = norm;
	if (!isfinite(norm))
		stat[1] += 1.0;
	else if (max_norm > 0.0 && coef < 1.0)
		jm_backend_cpu.scale(x, (float)coef, n);
}

static void chk_step_begin(void)
{
	if (chk.in_step)
		broke("step_begin inside a step");
	chk.in_step = 1;
	chk.n_up = 0;
}

static void chk_step_end(void)
{
	if (!chk.in_step)
		broke("step_end outside a step");
	chk.in_step = 0;
	chk.steps++;
}

static int chk_graph_info(char *buf, size_t n)
{
	snprintf(buf, n, "backend check: %lld steps bracketed, %lld broke the graph contract%s%s; "
		 "%lld reads inside a step", chk.steps, chk.broken, chk.broken ? "; the first: " : "",
		 chk.first, chk.reads);
	return chk.steps > 0x7fffffff ? 0x7fffffff : (int)chk.steps;
}

const jm_backend *jm_backend_checked(void)
{
	static jm_backend t;
	if (!t.name) {
		t = jm_backend_cpu;
		t.alloc = chk_alloc;
		t.free = chk_free;
		t.to_device = chk_to_device;
		t.to_host = chk_to_host;
		t.xent = chk_xent;
		t.mse = chk_mse;
		t.sumsq = chk_sumsq;
		t.sync = chk_sync;
		t.clip_norm = chk_clip_norm;
		t.step_begin = chk_step_begin;
		t.step_end = chk_step_end;
		t.graph_info = chk_graph_info;
		t.metrics_every = 32;
		const char *fail = getenv("JIANMO_BACKEND_CHECK_FAIL");
		chk.fail_at = fail ? atoll(fail) : 0;
	}
	return &t;
}
