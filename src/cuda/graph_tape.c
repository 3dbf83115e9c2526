/*
 * graph_tape.c: a training step as one CUDA graph, the state machine.  A
 * small model's step is dozens of short kernels; launched one at a time,
 * the host's cost per launch (microseconds) is the step's cost.  A graph
 * launches them all with one call.
 *
 * The trainer brackets each optimizer step (its batches and the update)
 * with step_begin and step_end.  Inside, every primitive (graph_tape.h)
 * comes here, and:
 *
 *   first step    RECORD: each primitive runs and is kept on the tape; at
 *                 step_end the executor captures the tape into a graph
 *                 (the capture runs nothing)
 *   later steps   REPLAY: each primitive is compared with the tape's next
 *                 and only its kernel arguments are kept; at step_end the
 *                 arguments that changed (the batch's rows, a dropout key,
 *                 the lr and Adam's bias corrections) are set on their
 *                 nodes and the graph is launched
 *
 * A read to the host inside a step (fp16's check for finite gradients,
 * adaptive clipping's norm: jm_tape_sync) cuts the step into pieces: each
 * piece is a graph of its own, launched when the replayed step reaches the
 * read, so what the host reads is there.  A replayed step must read where
 * the recorded one did; a read elsewhere makes it fall back.
 *
 * Uploads (a batch's augmentation plan) are not primitives: they are
 * queued when called, so in a replayed step they run before the graph.
 * That is the same as long as a step reads an uploaded buffer only after
 * uploading it and uploads each buffer once; the second is held to it (a
 * second upload of one buffer ends the replay).
 *
 * A primitive that is not the tape's next, a step that ends early, a read
 * where the recorded step had none, an allocation or a plugin's own
 * kernels (jm_tape_barrier) make the step fall back: the primitives kept
 * since the last launched piece run at once with this step's arguments and
 * the rest of the step runs as it comes, so a
 * step's results never depend on the path.  Three fallbacks in a row drop
 * the graph and the next step records anew; four records that fail, or
 * eight graphs that never replay, or a plugin's kernels, and the run goes
 * on without graphs.  jm_tape_info says which, for the log.
 */
#include "cuda/graph_tape.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int jm_tape_mode = JM_TAPE_OFF;

enum { MISSES_TO_DROP = 3, RECORDS_TO_GIVE_UP = 4 };

enum { MAX_PIECES = 64 };

static struct {
	const jm_tape_exec *x;
	jm_prim *tape;
	jm_tape_args *cur; /* REPLAY: this step's arguments, one per tape entry */
	int n, cap, cursor;
	/* the recorded step's reads cut it into pieces: piece i is
	 * tape[cuts[i - 1], cuts[i]) (cuts[-1] = 0, cuts[n_cuts] = n), its
	 * graph graphs[i] (NULL when empty) */
	int cuts[MAX_PIECES - 1], n_cuts;
	void *graphs[MAX_PIECES];
	int piece, piece_start; /* REPLAY: the piece being matched */
	int graph;          /* the pieces are captured */
	int in_step, began; /* began: the mode at step_begin */
	int valid;          /* RECORD: the step can become graphs */
	const void **uploads;
	int n_up, cap_up;
	int misses, records, off, used;
	long long replayed, fell_back;
	char why[200]; /* why graphs are off, or why a step last fell back */
} T;

void jm_tape_init(const jm_tape_exec *x)
{
	T.x = x;
}

static void drop_graph(void);
static void tape_clear(void);

void jm_tape_reset(void)
{
	const jm_tape_exec *x = T.x;
	if (x)
		drop_graph();
	tape_clear();
	free(T.tape);
	free(T.cur);
	free(T.uploads);
	memset(&T, 0, sizeof T);
	T.x = x;
	jm_tape_mode = JM_TAPE_OFF;
}

/* The tape emptied (the copies of calls' contexts freed). */
static void tape_clear(void)
{
	for (int i = 0; i < T.n; i++)
		if (T.tape[i].kind == JM_PRIM_CALL)
			free((void *)T.tape[i].ctx);
	T.n = 0;
	T.n_cuts = 0;
}

static void drop_graph(void)
{
	for (int i = 0; T.graph && i <= T.n_cuts; i++)
		if (T.graphs[i])
			T.x->drop(T.graphs[i]);
	memset(T.graphs, 0, sizeof T.graphs);
	T.graph = 0;
	tape_clear();
	T.misses = 0;
}

void jm_tape_off(const char *why)
{
	T.off = 1;
	if (why != T.why)
		snprintf(T.why, sizeof T.why, "%s", why);
	drop_graph();
}

/* REPLAY: run the primitives kept since the last launched piece with this
 * step's arguments; the rest of the step runs as it comes. */
static void fall_back(const char *why)
{
	for (int i = T.piece_start; i < T.cursor; i++)
		T.x->run(&T.tape[i], &T.cur[i]);
	T.cursor = T.piece_start = 0;
	jm_tape_mode = JM_TAPE_OFF;
	if (why != T.why)
		snprintf(T.why, sizeof T.why, "%s", why);
}

static jm_prim *tape_push(void)
{
	if (T.n == T.cap) {
		int cap = T.cap ? T.cap * 2 : 64;
		jm_prim *t = realloc(T.tape, (size_t)cap * sizeof *t);
		if (!t)
			return NULL;
		T.tape = t;
		jm_tape_args *c = realloc(T.cur, (size_t)cap * sizeof *c);
		if (!c)
			return NULL;
		T.cur = c;
		T.cap = cap;
	}
	return &T.tape[T.n++];
}

static int same(const jm_prim *t, const jm_prim *p, const jm_tape_args *a)
{
	if (t->kind != p->kind)
		return 0;
	switch (p->kind) {
	case JM_PRIM_KERNEL:
		return t->f == p->f && !memcmp(t->grid, p->grid, sizeof p->grid) &&
		       !memcmp(t->block, p->block, sizeof p->block) && t->smem == p->smem &&
		       t->args.n == a->n && t->args.used == a->used;
	case JM_PRIM_GEMM:
		return !memcmp(t->call, p->call, sizeof p->call);
	case JM_PRIM_CALL:
		return t->fn == p->fn && t->ctx_bytes == p->ctx_bytes &&
		       !memcmp(t->ctx, p->ctx, p->ctx_bytes);
	default:
		return t->dst == p->dst && t->src == p->src && t->bytes == p->bytes;
	}
}

/* The step cannot be (or go on as) a graph. */
static void not_a_graph(const char *why)
{
	if (jm_tape_mode == JM_TAPE_RECORD) {
		T.valid = 0;
		snprintf(T.why, sizeof T.why, "%s", why);
		jm_tape_mode = JM_TAPE_OFF;
	} else if (jm_tape_mode == JM_TAPE_REPLAY) {
		fall_back(why);
	}
}

/* REPLAY: the piece that ends at the cursor, with this step's changed
 * arguments set on its graph, launched; 0, or -1 (the step has run as it
 * comes, and graphs are off). */
static int launch_piece(void)
{
	char why[200];
	void *g = T.graphs[T.piece];
	for (int i = T.piece_start; i < T.cursor; i++) {
		jm_prim *p = &T.tape[i];
		if (p->kind != JM_PRIM_KERNEL || !memcmp(p->args.buf, T.cur[i].buf, p->args.used))
			continue;
		if (T.x->set_args(g, p, &T.cur[i], why, sizeof why) < 0)
			goto failed;
		p->args = T.cur[i];
	}
	if (!g || T.x->launch(g, why, sizeof why) == 0) {
		T.piece++;
		T.piece_start = T.cursor;
		return 0;
	}
failed:
	fall_back(why);
	jm_tape_off(why);
	return -1;
}

/* REPLAY: launch the pieces that end at the cursor (the recorded step read
 * the host here); 0, or -1 when graphs went off doing it. */
static int launch_due(void)
{
	while (jm_tape_mode == JM_TAPE_REPLAY && T.piece < T.n_cuts && T.cuts[T.piece] == T.cursor) {
		if (T.cursor == T.piece_start)
			T.piece++; /* an empty piece */
		else if (launch_piece() < 0)
			return -1;
	}
	return 0;
}

void jm_tape_primitive(const jm_prim *p, const jm_tape_args *a)
{
	if (jm_tape_mode == JM_TAPE_RECORD) {
		T.x->run(p, a);
		jm_prim *q = tape_push();
		if (!q) {
			not_a_graph("no memory for the step's tape");
			return;
		}
		memcpy(q, p, sizeof *q);
		if (a)
			q->args = *a;
		if (p->kind == JM_PRIM_CALL) { /* the caller's context is its own */
			void *ctx = malloc(p->ctx_bytes ? p->ctx_bytes : 1);
			if (!ctx) {
				q->kind = JM_PRIM_COPY; /* nothing to free */
				not_a_graph("no memory for the step's tape");
				return;
			}
			memcpy(ctx, p->ctx, p->ctx_bytes);
			q->ctx = ctx;
		}
		return;
	}
	if (jm_tape_mode == JM_TAPE_REPLAY)
		launch_due(); /* the recorded step read here, this one does not */
	if (jm_tape_mode == JM_TAPE_REPLAY) {
		if (T.cursor < T.n && same(&T.tape[T.cursor], p, a)) {
			if (a)
				T.cur[T.cursor] = *a;
			T.cursor++;
			return;
		}
		fall_back(T.cursor < T.n ? "a launch differs from the recorded step's"
					 : "the step launches more than the recorded one");
	}
	T.x->run(p, a);
}

void jm_tape_upload(const void *dst)
{
	if (jm_tape_mode == JM_TAPE_OFF)
		return;
	for (int i = 0; i < T.n_up; i++)
		if (T.uploads[i] == dst) {
			not_a_graph("the step uploads to one buffer twice");
			return;
		}
	if (T.n_up == T.cap_up) {
		int cap = T.cap_up ? T.cap_up * 2 : 16;
		const void **u = realloc((void *)T.uploads, (size_t)cap * sizeof *u);
		if (!u) {
			not_a_graph("no memory for the step's uploads");
			return;
		}
		T.uploads = u;
		T.cap_up = cap;
	}
	T.uploads[T.n_up++] = dst;
}

void jm_tape_barrier(const char *why, int for_good)
{
	if (jm_tape_mode == JM_TAPE_OFF && !(for_good && T.in_step && !T.off))
		return;
	char w[180];
	snprintf(w, sizeof w, "the step has %s", why);
	not_a_graph(w);
	if (for_good && T.in_step && !T.off)
		jm_tape_off(w);
}

void jm_tape_step_begin(void)
{
	T.in_step = 1;
	T.used = 1;
	T.n_up = 0;
	T.cursor = T.piece = T.piece_start = 0;
	if (T.off) {
		T.began = jm_tape_mode = JM_TAPE_OFF;
	} else if (T.graph) {
		T.began = jm_tape_mode = JM_TAPE_REPLAY;
	} else {
		tape_clear();
		T.valid = 1;
		T.began = jm_tape_mode = JM_TAPE_RECORD;
	}
}

void jm_tape_sync(const char *why)
{
	if (jm_tape_mode == JM_TAPE_RECORD) {
		if (T.n_cuts && T.cuts[T.n_cuts - 1] == T.n)
			return; /* nothing between two reads */
		if (T.n_cuts == MAX_PIECES - 1) {
			not_a_graph("the step reads the host too often");
			return;
		}
		T.cuts[T.n_cuts++] = T.n;
	} else if (jm_tape_mode == JM_TAPE_REPLAY && launch_due() == 0 &&
		   T.cursor > T.piece_start) {
		char w[180];
		snprintf(w, sizeof w, "the step has %s where the recorded one had none", why);
		fall_back(w);
	}
}

/* The recorded step's pieces into graphs; 0, or -1 with why. */
static int capture_pieces(char *why, size_t wn)
{
	for (int i = 0, from = 0; i <= T.n_cuts; i++) {
		int to = i < T.n_cuts ? T.cuts[i] : T.n;
		T.graphs[i] = NULL;
		if (to > from && T.x->capture(T.tape, from, to, &T.graphs[i], why, wn) < 0) {
			while (i-- > 0)
				if (T.graphs[i])
					T.x->drop(T.graphs[i]);
			memset(T.graphs, 0, sizeof T.graphs);
			return -1;
		}
		from = to;
	}
	return 0;
}

void jm_tape_step_end(void)
{
	if (!T.in_step)
		return;
	int mode = jm_tape_mode;
	T.in_step = 0;
	if (T.off || T.began == JM_TAPE_OFF) {
		jm_tape_mode = JM_TAPE_OFF;
		return;
	}
	if (T.began == JM_TAPE_RECORD) {
		jm_tape_mode = JM_TAPE_OFF;
		/* records since the last replay: a few that fail, or twice as
		 * many graphs that never replay, and graphs are not for this run */
		char why[200];
		int ok = T.valid && T.n > 0 && capture_pieces(why, sizeof why) == 0;
		if (ok) {
			T.graph = 1;
			T.misses = 0;
		} else if (T.valid && T.n > 0) {
			snprintf(T.why, sizeof T.why, "%s", why);
			tape_clear();
		}
		if (++T.records >= (ok ? 2 : 1) * RECORDS_TO_GIVE_UP)
			jm_tape_off(ok ? "no recorded step could be replayed" : T.why);
		return;
	}
	if (mode == JM_TAPE_REPLAY) {
		if (T.cursor == T.n) {
			/* the pieces up to a read the recorded step had at its
			 * very end, then the last */
			int ok = launch_due() == 0 &&
				 (T.cursor == T.piece_start || launch_piece() == 0);
			jm_tape_mode = JM_TAPE_OFF;
			if (ok) {
				T.replayed++;
				T.misses = 0;
				T.records = 0;
			}
			return;
		}
		fall_back("the step launches less than the recorded one");
	}
	jm_tape_mode = JM_TAPE_OFF;
	T.fell_back++;
	if (++T.misses >= MISSES_TO_DROP)
		drop_graph();
}

int jm_tape_info(char *buf, size_t n)
{
	char pieces[80] = "one CUDA graph";
	if (T.n_cuts)
		snprintf(pieces, sizeof pieces, "%d CUDA graphs (cut at its reads to the host)",
			 T.n_cuts + 1);
	if (!T.used)
		snprintf(buf, n, "CUDA graphs not used");
	else if (T.off)
		snprintf(buf, n, "CUDA graphs off: %s", T.why);
	else if (!T.replayed)
		snprintf(buf, n, "CUDA graphs: no step replayed yet%s%s",
			 T.why[0] ? "; the last recorded could not be because " : "", T.why);
	else if (T.fell_back)
		snprintf(buf, n, "%lld steps replayed as %s of %d launches, %lld ran launch by "
			 "launch (the last because %s)", T.replayed, pieces, T.n, T.fell_back, T.why);
	else
		snprintf(buf, n, "%lld steps replayed as %s of %d launches", T.replayed, pieces, T.n);
	return T.replayed > 0x7fffffff ? 0x7fffffff : (int)T.replayed;
}
