/*
 * graph_tape.h: the state machine that turns a training step into one
 * CUDA graph, in plain C over an executor, so the tests run it without a
 * GPU (tests/test_graph_tape.c) and the CUDA module (cuda_graph.cu) gives
 * it the real one.  The picture is in graph_tape.c.
 *
 * A primitive is a kernel launch, a GEMM, a device-to-device copy or a
 * call of a function that launches its own kernels (a plugin layer's pass):
 * what the executor can run now or capture.  Kernels carry their arguments
 * packed as cudaLaunchKernel takes them (jm_tape_args); a GEMM carries the
 * executor's call as bytes, compared whole; a call its context's bytes,
 * compared whole too (the function must launch the same kernels for the
 * same bytes).
 */
#ifndef JM_GRAPH_TAPE_H
#define JM_GRAPH_TAPE_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define JM_TAPE_ARGS_MAX 24
#define JM_TAPE_ARGS_BYTES 256
#define JM_TAPE_CALL_BYTES 96

/* A kernel's arguments: buf holds each at its offset, aligned as its type
 * wants, zero between them (so two packs compare with memcmp). */
typedef struct jm_tape_args {
	int n;
	unsigned used;
	unsigned short off[JM_TAPE_ARGS_MAX];
#ifdef __cplusplus
	alignas(16)
#else
	_Alignas(16)
#endif
		unsigned char buf[JM_TAPE_ARGS_BYTES];
} jm_tape_args;

enum { JM_PRIM_KERNEL, JM_PRIM_GEMM, JM_PRIM_COPY, JM_PRIM_CALL };

typedef struct jm_prim {
	int kind;
	const void *f;                  /* KERNEL: the kernel */
	unsigned grid[3], block[3];
	size_t smem;
	jm_tape_args args;              /* KERNEL: as the graph's node holds them */
	void *node;                     /* KERNEL: the executor's node, once captured */
	unsigned char call[JM_TAPE_CALL_BYTES]; /* GEMM: the executor's call */
	void *dst;                      /* COPY */
	const void *src;
	size_t bytes;
	void (*fn)(const void *ctx);    /* CALL: fn(ctx), ctx_bytes of context */
	const void *ctx;                /* (the tape keeps a copy) */
	size_t ctx_bytes;
} jm_prim;

/* What runs primitives.  run: now, in order (an error is the run's, kept
 * by the executor); capture: tape[from, to) into a graph without running
 * it, setting each kernel's node; set_args: a captured kernel's arguments
 * for the graph's next launches; launch: a graph; drop: a graph away (it
 * may be in flight).  Each int one: 0, or -1 with why (then no graph). */
typedef struct jm_tape_exec {
	void (*run)(const jm_prim *p, const jm_tape_args *a);
	int (*capture)(jm_prim *tape, int from, int to, void **graph, char *why, size_t wn);
	int (*set_args)(void *graph, const jm_prim *p, const jm_tape_args *a, char *why,
			size_t wn);
	int (*launch)(void *graph, char *why, size_t wn);
	void (*drop)(void *graph);
} jm_tape_exec;

/* How a primitive goes now: JM_TAPE_OFF (run it), RECORD, REPLAY. */
enum { JM_TAPE_OFF = 0, JM_TAPE_RECORD, JM_TAPE_REPLAY };
extern int jm_tape_mode;

void jm_tape_init(const jm_tape_exec *x);
/* One primitive (a: a kernel's arguments, else NULL). */
void jm_tape_primitive(const jm_prim *p, const jm_tape_args *a);
/* An upload to dst is about to be queued (it runs before the step's graph). */
void jm_tape_upload(const void *dst);
/* A read to the host (or a wait): what the step queued so far must run
 * first.  A replayed step launches the graph of its piece up to here when
 * the recorded step read at the same point, else it falls back. */
void jm_tape_sync(const char *why);
/* Something no graph can hold (an allocation, a plugin's own kernels);
 * for_good: no graphs for the run. */
void jm_tape_barrier(const char *why, int for_good);
void jm_tape_step_begin(void);
void jm_tape_step_end(void);
/* No graphs from now on, because why. */
void jm_tape_off(const char *why);
/* How it went, for the run's log; the steps replayed. */
int jm_tape_info(char *buf, size_t n);
/* Back to the start (the tests: one state per case). */
void jm_tape_reset(void);

#ifdef __cplusplus
}
#endif

#endif
