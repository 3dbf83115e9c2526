/*
 * test_graph_tape.c: the CUDA-graph state machine (src/cuda/graph_tape.c)
 * over a fake executor, so it is tested where there is no GPU.  The fake
 * "device" is an array of integers; its kernels and GEMMs are small
 * affine updates of one cell, so a primitive run out of order, twice, not
 * at all or with stale arguments changes the final cells.  Each case runs
 * a program of steps twice from the same cells: op by op (no brackets),
 * and bracketed by step_begin/step_end, where the tape records, captures,
 * replays with changed arguments and falls back; the cells must agree.
 */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cuda/graph_tape.h"

enum { CELLS = 16 };
static uint64_t mem[CELLS]; /* unsigned: the updates wrap, defined */

/* the fake device's kernels: (i, v) packed as two int64 */
static void k_muladd(const int64_t *a) /* mem[i] = 3 mem[i] + v */
{
	mem[a[0]] = 3 * mem[a[0]] + (uint64_t)a[1];
}

static void k_addfrom(const int64_t *a) /* mem[i] += mem[j] */
{
	mem[a[0]] += mem[a[1]];
}

typedef void (*fake_kernel)(const int64_t *);

/* a plugin layer's pass: launches its own "kernels" (here: changes a cell) */
typedef struct call_ctx {
	int64_t i, v;
} call_ctx;

static void plugin_pass(const void *ctx)
{
	const call_ctx *c = ctx;
	mem[c->i] = 7 * mem[c->i] + (uint64_t)c->v;
}

/* a captured piece: its primitives as they will run */
typedef struct fake_graph {
	jm_prim node[64];
	int n;
} fake_graph;

static struct {
	int captures, live, drops, sets, launches;
	int fail_capture, fail_set, fail_launch;
} dev;

static void exec_prim(const jm_prim *p, const jm_tape_args *a)
{
	if (p->kind == JM_PRIM_KERNEL) {
		int64_t v[2];
		memcpy(&v[0], a->buf + a->off[0], 8);
		memcpy(&v[1], a->buf + a->off[1], 8);
		((fake_kernel)(uintptr_t)p->f)(v);
	} else if (p->kind == JM_PRIM_GEMM) { /* call: (i, v): mem[i] = 5 mem[i] + v */
		int64_t c[2];
		memcpy(c, p->call, sizeof c);
		mem[c[0]] = 5 * mem[c[0]] + (uint64_t)c[1];
	} else if (p->kind == JM_PRIM_CALL) {
		p->fn(p->ctx);
	} else {
		*(uint64_t *)p->dst = *(const uint64_t *)p->src;
	}
}

static void x_run(const jm_prim *p, const jm_tape_args *a)
{
	exec_prim(p, a);
}

static int x_capture(jm_prim *tape, int from, int to, void **graph, char *why, size_t wn)
{
	dev.captures++;
	if (dev.fail_capture) {
		snprintf(why, wn, "capture failed (fake)");
		return -1;
	}
	cr_assert(from < to && to - from <= 64, "a piece of %d..%d", from, to);
	fake_graph *g = calloc(1, sizeof *g);
	for (int i = from; i < to; i++) {
		g->node[i - from] = tape[i];
		tape[i].node = (void *)(intptr_t)(i - from + 1);
	}
	g->n = to - from;
	dev.live++;
	*graph = g;
	return 0;
}

static int x_set_args(void *graph, const jm_prim *p, const jm_tape_args *a, char *why,
		      size_t wn)
{
	if (dev.fail_set) {
		snprintf(why, wn, "setting failed (fake)");
		return -1;
	}
	fake_graph *g = graph;
	intptr_t i = (intptr_t)p->node - 1;
	cr_assert(i >= 0 && i < g->n, "a node the capture did not give");
	cr_assert_eq(g->node[i].f, p->f, "a node of another piece");
	g->node[i].args = *a;
	dev.sets++;
	return 0;
}

static int x_launch(void *graph, char *why, size_t wn)
{
	if (dev.fail_launch) {
		snprintf(why, wn, "launch failed (fake)");
		return -1;
	}
	fake_graph *g = graph;
	for (int i = 0; i < g->n; i++)
		exec_prim(&g->node[i], &g->node[i].args);
	dev.launches++;
	return 0;
}

static void x_drop(void *graph)
{
	free(graph);
	dev.live--;
	dev.drops++;
}

static const jm_tape_exec fake = {x_run, x_capture, x_set_args, x_launch, x_drop};

/* ---- the module's side: primitives go to the tape or run ---- */

static void primitive(const jm_prim *p, const jm_tape_args *a)
{
	if (jm_tape_mode == JM_TAPE_OFF)
		x_run(p, a);
	else
		jm_tape_primitive(p, a);
}

static void kernel(fake_kernel f, int64_t i, int64_t v)
{
	jm_prim p;
	memset(&p, 0, sizeof p);
	p.kind = JM_PRIM_KERNEL;
	p.f = (const void *)(uintptr_t)f;
	p.grid[0] = p.grid[1] = p.grid[2] = 1;
	p.block[0] = 32, p.block[1] = p.block[2] = 1;
	jm_tape_args a;
	memset(&a, 0, sizeof a);
	a.n = 2;
	a.off[0] = 0, a.off[1] = 8;
	a.used = 16;
	memcpy(a.buf, &i, 8);
	memcpy(a.buf + 8, &v, 8);
	primitive(&p, &a);
}

static void gemm(int64_t i, int64_t v)
{
	jm_prim p;
	memset(&p, 0, sizeof p);
	p.kind = JM_PRIM_GEMM;
	int64_t c[2] = {i, v};
	memcpy(p.call, c, sizeof c);
	primitive(&p, NULL);
}

static void copy(int dst, int src)
{
	jm_prim p;
	memset(&p, 0, sizeof p);
	p.kind = JM_PRIM_COPY;
	p.dst = &mem[dst];
	p.src = &mem[src];
	p.bytes = 8;
	primitive(&p, NULL);
}

static void call(int64_t i, int64_t v)
{
	call_ctx c = {i, v}; /* on the stack: the tape keeps its own copy */
	jm_prim p;
	memset(&p, 0, sizeof p);
	p.kind = JM_PRIM_CALL;
	p.fn = plugin_pass;
	p.ctx = &c;
	p.ctx_bytes = sizeof c;
	primitive(&p, NULL);
}

/* to_device: queued at once (before the step's graph, when replayed) */
static void upload(int i, uint64_t v)
{
	jm_tape_upload(&mem[i]);
	mem[i] = v;
}

/* ---- the programs ---- */

enum { PLAIN, EXTRA_KERNEL, READ_MIDWAY, UPLOAD_TWICE, PLUGIN, SHORTER, ALLOCATES, CALL_OTHER };

/* One step; what: one of the above, for this step. */
static void step(int k, int what)
{
	upload(10, k + 1);               /* a batch's plan */
	kernel(k_muladd, 0, k);          /* an argument that changes: the lr */
	kernel(k_muladd, 1, 7);
	if (what == READ_MIDWAY)
		jm_tape_sync("a read to the host");
	if (what == ALLOCATES)
		jm_tape_barrier("an allocation", 0);
	gemm(2, 1);
	call(8, what == CALL_OTHER ? 4 : 3); /* a plugin layer's own kernels */
	kernel(k_addfrom, 3, 10);        /* reads the upload */
	if (what == UPLOAD_TWICE) {
		upload(10, 2 * k + 5);
		kernel(k_addfrom, 5, 10);
	}
	if (what == EXTRA_KERNEL)
		kernel(k_muladd, 6, 1);
	if (what == PLUGIN)
		jm_tape_barrier("a plugin layer's own kernels", 1);
	copy(4, 0);
	if (what != SHORTER)
		kernel(k_addfrom, 7, 3);
}

typedef int (*program)(int k);

static int plain(int k)
{
	(void)k;
	return PLAIN;
}

/* cells after `steps` steps, bracketed or not, from the same start */
static void run(int bracketed, int steps, program what, uint64_t out[CELLS])
{
	for (int i = 0; i < CELLS; i++)
		mem[i] = i + 1;
	for (int k = 0; k < steps; k++) {
		if (bracketed)
			jm_tape_step_begin();
		step(k, what(k));
		if (bracketed)
			jm_tape_step_end();
	}
	memcpy(out, mem, sizeof mem);
}

static char info[400];
static int replayed;

static void expect_same(int steps, program what)
{
	uint64_t want[CELLS], got[CELLS];
	run(0, steps, what, want);
	run(1, steps, what, got);
	for (int i = 0; i < CELLS; i++)
		cr_expect_eq(got[i], want[i], "cell %d: %llu bracketed, %llu op by op", i,
			     (unsigned long long)got[i], (unsigned long long)want[i]);
	replayed = jm_tape_info(info, sizeof info);
	cr_expect_eq(jm_tape_mode, JM_TAPE_OFF, "the mode is off between steps");
}

static void setup(void)
{
	memset(&dev, 0, sizeof dev);
	jm_tape_init(&fake);
	jm_tape_reset();
}

static void teardown(void)
{
	jm_tape_reset(); /* drops what it holds */
	cr_expect_eq(dev.live, 0, "%d graphs not dropped", dev.live);
}

TestSuite(graph_tape, .init = setup, .fini = teardown);

Test(graph_tape, replays_with_changed_arguments)
{
	expect_same(20, plain);
	cr_expect_eq(dev.captures, 1);
	cr_expect_eq(replayed, 19, "%s", info);
	cr_expect_eq(dev.launches, 19);
	/* only the lr-like argument changes: one node set a replayed step */
	cr_expect_eq(dev.sets, 19, "%d sets", dev.sets);
	cr_expect_str_eq(info, "19 steps replayed as one CUDA graph of 7 launches");
}

static int read_at_5(int k)
{
	return k == 5 ? READ_MIDWAY : PLAIN;
}

Test(graph_tape, a_read_the_recorded_step_did_not_have_falls_back)
{
	expect_same(12, read_at_5);
	cr_expect_eq(replayed, 10, "%s", info);
	cr_expect(strstr(info, "1 ran launch by launch (the last because the step has a read to "
			       "the host where the recorded one had none)"), "%s", info);
	cr_expect_eq(dev.captures, 1);
}

static int read_always(int k)
{
	(void)k;
	return READ_MIDWAY;
}

Test(graph_tape, reads_every_step_cut_it_into_graphs)
{
	/* fp16's check, adaptive clipping: a read in every step */
	expect_same(10, read_always);
	cr_expect_eq(dev.captures, 2, "one graph each side of the read");
	cr_expect_eq(replayed, 9, "%s", info);
	cr_expect_eq(dev.launches, 18);
	cr_expect_str_eq(info, "9 steps replayed as 2 CUDA graphs (cut at its reads to the host) "
			       "of 7 launches");
}

static int read_first(int k)
{
	return k == 0 ? READ_MIDWAY : PLAIN;
}

Test(graph_tape, a_recorded_read_the_replay_skips_launches_its_piece_early)
{
	expect_same(10, read_first);
	cr_expect_eq(dev.captures, 2);
	cr_expect_eq(replayed, 9, "%s", info);
	cr_expect_eq(dev.launches, 18);
}

static int allocates_at_0(int k)
{
	return k == 0 ? ALLOCATES : PLAIN;
}

Test(graph_tape, a_first_step_that_cannot_be_a_graph_records_again)
{
	expect_same(10, allocates_at_0);
	cr_expect_eq(dev.captures, 1, "captured from the second step");
	cr_expect_eq(replayed, 8, "%s", info);
}

static int allocates_at_4(int k)
{
	return k == 4 ? ALLOCATES : PLAIN;
}

Test(graph_tape, an_allocation_falls_back)
{
	expect_same(8, allocates_at_4);
	cr_expect_eq(replayed, 6, "%s", info);
	cr_expect(strstr(info, "the step has an allocation"), "%s", info);
}

static int extra_from_8(int k)
{
	return k >= 8 && k < 14 ? EXTRA_KERNEL : PLAIN;
}

Test(graph_tape, a_changed_step_is_recorded_anew)
{
	/* 8..10 miss, the graph is dropped; 11 records the new shape, 12 and
	 * 13 replay it; 14..16 miss, 17 records the first shape again */
	expect_same(30, extra_from_8);
	cr_expect_eq(dev.captures, 3);
	cr_expect_eq(dev.drops, 2);
	cr_expect_eq(replayed, 7 + 2 + 12, "%s", info);
}

static int fewer_at_3(int k)
{
	return k == 3 ? SHORTER : PLAIN;
}

Test(graph_tape, a_shorter_step_falls_back)
{
	expect_same(8, fewer_at_3);
	cr_expect_eq(replayed, 6, "%s", info);
	cr_expect(strstr(info, "launches less than the recorded one"), "%s", info);
}

static int upload_twice_at_4(int k)
{
	return k == 4 ? UPLOAD_TWICE : PLAIN;
}

Test(graph_tape, a_buffer_uploaded_twice_falls_back)
{
	expect_same(8, upload_twice_at_4);
	cr_expect(strstr(info, "uploads to one buffer twice"), "%s", info);
}

static int plugin_at_2(int k)
{
	return k == 2 ? PLUGIN : PLAIN;
}

Test(graph_tape, a_plugins_kernels_turn_graphs_off)
{
	expect_same(8, plugin_at_2);
	cr_expect_str_eq(info, "CUDA graphs off: the step has a plugin layer's own kernels");
	cr_expect_eq(replayed, 1);
	cr_expect_eq(dev.drops, 1);
}

Test(graph_tape, failed_captures_give_up)
{
	dev.fail_capture = 1;
	expect_same(8, plain);
	cr_expect_eq(dev.captures, 4);
	cr_expect_str_eq(info, "CUDA graphs off: capture failed (fake)");
}

Test(graph_tape, a_failed_argument_update_runs_the_step_and_gives_up)
{
	dev.fail_set = 1;
	expect_same(6, plain);
	cr_expect_eq(replayed, 0);
	cr_expect_str_eq(info, "CUDA graphs off: setting failed (fake)");
}

Test(graph_tape, a_failed_launch_runs_the_step_and_gives_up)
{
	dev.fail_launch = 1;
	expect_same(6, plain);
	cr_expect_eq(replayed, 0);
	cr_expect_str_eq(info, "CUDA graphs off: launch failed (fake)");
}

static int extra_every_fourth(int k)
{
	return k % 4 ? PLAIN : EXTRA_KERNEL;
}

Test(graph_tape, a_graph_that_never_replays_gives_up)
{
	/* each graph is recorded from the odd step out and missed by the three
	 * after it, then dropped: after eight such records, no more graphs */
	expect_same(60, extra_every_fourth);
	cr_expect_eq(dev.captures, 8);
	cr_expect_eq(replayed, 0);
	cr_expect_str_eq(info, "CUDA graphs off: no recorded step could be replayed");
}

Test(graph_tape, outside_a_step_nothing_is_taped)
{
	for (int i = 0; i < CELLS; i++)
		mem[i] = 1;
	kernel(k_muladd, 0, 2);
	jm_tape_upload(&mem[1]);
	jm_tape_barrier("a read to the host", 1);
	cr_expect_eq(mem[0], 5);
	jm_tape_info(info, sizeof info);
	cr_expect_str_eq(info, "CUDA graphs not used");
}

static int other_call_at_3(int k)
{
	return k == 3 ? CALL_OTHER : PLAIN;
}

Test(graph_tape, a_call_with_other_bytes_falls_back)
{
	/* a plugin pass is kept by its bytes: other bytes, other kernels */
	expect_same(8, other_call_at_3);
	cr_expect_eq(replayed, 6, "%s", info);
	cr_expect(strstr(info, "a launch differs from the recorded step's"), "%s", info);
}
