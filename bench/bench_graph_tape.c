/*
 * bench_graph_tape.c: the host's cost of replaying a training step as CUDA
 * graphs (src/cuda/graph_tape.c), without a GPU: what each primitive costs
 * the CPU when it is only compared with the tape and its arguments kept,
 * and what a step's bookkeeping costs, over an executor that does nothing.
 * On a GPU the step's launches then cost one graph launch and a few
 * argument updates instead of a launch each (microseconds apiece).
 *
 *   bench/bench_graph_tape [PRIMITIVES]   (default 40, about the CNN's)
 *
 * Each primitive is a kernel with 8 arguments, packed as
 * src/cuda/cuda_common.cuh packs them; one kernel in 8 has two that change
 * every step, as the gather's rows, a dropout key or the lr do.  Prints ns per primitive and per
 * step, the fastest of 5 rounds, and a JSON line.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cuda/graph_tape.h"

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static long long sets;

static void x_run(const jm_prim *p, const jm_tape_args *a)
{
	(void)p, (void)a;
}

static int x_capture(jm_prim *tape, int from, int to, void **graph, char *why, size_t wn)
{
	(void)why, (void)wn;
	for (int i = from; i < to; i++)
		tape[i].node = (void *)(intptr_t)(i + 1);
	*graph = tape;
	return 0;
}

static int x_set_args(void *g, const jm_prim *p, const jm_tape_args *a, char *why, size_t wn)
{
	(void)g, (void)p, (void)a, (void)why, (void)wn;
	sets++;
	return 0;
}

static int x_launch(void *g, char *why, size_t wn)
{
	(void)g, (void)why, (void)wn;
	return 0;
}

static void x_drop(void *g)
{
	(void)g;
}

static const jm_tape_exec nothing = {x_run, x_capture, x_set_args, x_launch, x_drop};

static int kernels[64]; /* their addresses stand for kernels */

/* One primitive as jm_cuda_launch hands it over: pack, then the tape. */
static void launch(int k, uint64_t step)
{
	jm_tape_args a;
	memset(&a, 0, sizeof a);
	uint64_t moving = k % 8 ? 0 : step;
	uint64_t v[8] = {(uint64_t)k, 1, 2, 3, 4, 5, moving * 256, moving ^ 0x9e37};
	for (int i = 0; i < 8; i++) {
		memcpy(a.buf + 8 * i, &v[i], 8);
		a.off[i] = (unsigned short)(8 * i);
	}
	a.n = 8;
	a.used = 64;
	jm_prim p;
	memset(&p, 0, sizeof p);
	p.kind = JM_PRIM_KERNEL;
	p.f = &kernels[k % 64];
	p.grid[0] = 64, p.grid[1] = p.grid[2] = 1;
	p.block[0] = 256, p.block[1] = p.block[2] = 1;
	if (jm_tape_mode == JM_TAPE_OFF)
		x_run(&p, &a);
	else
		jm_tape_primitive(&p, &a);
}

static double round_ns(int prims, int steps, int bracketed, uint64_t *step)
{
	double t0 = now();
	for (int s = 0; s < steps; s++, (*step)++) {
		if (bracketed)
			jm_tape_step_begin();
		for (int k = 0; k < prims; k++)
			launch(k, *step);
		if (bracketed)
			jm_tape_step_end();
	}
	return (now() - t0) * 1e9 / steps;
}

int main(int argc, char **argv)
{
	int prims = argc > 1 ? atoi(argv[1]) : 40;
	if (prims < 1 || prims > 10000) {
		fprintf(stderr, "bench_graph_tape: PRIMITIVES is 1..10000\n");
		return 2;
	}
	enum { STEPS = 20000, ROUNDS = 5 };
	jm_tape_init(&nothing);
	uint64_t step = 0;
	double off = 1e30, replay = 1e30;
	for (int r = 0; r < ROUNDS; r++) {
		double o = round_ns(prims, STEPS, 0, &step), g = round_ns(prims, STEPS, 1, &step);
		off = o < off ? o : off;
		replay = g < replay ? g : replay;
	}
	char info[400];
	int replayed = jm_tape_info(info, sizeof info);
	printf("%d primitives a step: %.0f ns a step packed and run (no GPU), %.0f ns packed and "
	       "replayed (%.1f ns a primitive more); %lld argument updates in %d replayed steps\n",
	       prims, off, replay, (replay - off) / prims, sets, replayed);
	printf("{\"bench\":\"graph_tape\",\"primitives\":%d,\"ns_per_step_off\":%.0f,"
	       "\"ns_per_step_replay\":%.0f,\"ns_per_primitive_added\":%.1f}\n",
	       prims, off, replay, (replay - off) / prims);
	jm_tape_reset();
	return 0;
}
