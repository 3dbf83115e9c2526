/*
 * cpu_workers.c: the CPU backend's worker threads.
 *
 * jm_cpu_parallel(n, fn, ctx) runs fn(ctx, 0..n-1): part 0 on the calling
 * thread, the others on threads started for the call and joined before it
 * returns (a thread costs tens of microseconds; the ops that use this take
 * milliseconds).  Ops split work so that every part's result is computed
 * the same way whatever the split (per channel, per sample), or sum
 * partial results in part order, so runs stay reproducible.
 */
#include <pthread.h>

#include "engine/backend.h"
#include "engine/cpu_ops.h"

static int workers = 1;

void jm_cpu_set_workers(int n)
{
	workers = n < 1 ? 1 : n > JM_CPU_MAX_WORKERS ? JM_CPU_MAX_WORKERS : n;
}

int jm_cpu_workers(void)
{
	return workers;
}

typedef struct part {
	void (*fn)(void *ctx, int part, int nparts);
	void *ctx;
	int i, n;
} part;

static void *run_part(void *arg)
{
	part *p = arg;
	p->fn(p->ctx, p->i, p->n);
	return NULL;
}

void jm_cpu_parallel(int n, void (*fn)(void *ctx, int part, int nparts), void *ctx)
{
	if (n > JM_CPU_MAX_WORKERS)
		n = JM_CPU_MAX_WORKERS;
	if (n <= 1) {
		fn(ctx, 0, 1);
		return;
	}
	pthread_t th[JM_CPU_MAX_WORKERS];
	part parts[JM_CPU_MAX_WORKERS];
	int started[JM_CPU_MAX_WORKERS] = { 0 };
	for (int i = 0; i < n; i++)
		parts[i] = (part){.fn = fn, .ctx = ctx, .i = i, .n = n};
	for (int i = 1; i < n; i++)
		started[i] = pthread_create(&th[i], NULL, run_part, &parts[i]) == 0;
	fn(ctx, 0, n);
	for (int i = 1; i < n; i++) {
		if (started[i])
			pthread_join(th[i], NULL);
		else
			fn(ctx, i, n); /* no thread to be had: do it here */
	}
}
