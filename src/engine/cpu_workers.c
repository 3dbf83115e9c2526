/*
 * cpu_workers.c: the CPU backend's worker threads.
 *
 * jm_cpu_parallel(n, fn, ctx) runs fn(ctx, 0..n-1): part 0 on the calling
 * thread, part i on pool thread i.  Ops split work so that every part's
 * result is computed the same way whatever the split (per channel, per
 * sample, per element), or sum partial results in part order, so runs
 * stay reproducible.
 *
 * The pool threads start on the first call that needs them and then live
 * as long as the process.  A training step makes some forty parallel
 * calls, a few between each GEMM, so a call must cost microseconds, not
 * a thread start (about 50 us here, plus a fresh stack's page faults):
 *
 *   caller:  lock call ──▶ job = (fn, ctx, n) ──▶ gen++ ──▶ wake
 *            ──▶ part 0 ──▶ wait until pending == 0 ──▶ unlock call
 *   thread i: wait for gen to change ──▶ part i (if i < n) ──▶ pending--
 *
 * Both waits spin briefly (the next call usually comes within
 * microseconds) and then sleep on a condition variable, so an idle pool
 * costs nothing.  A call made while another is in flight (another thread)
 * or from inside a part runs its parts one after another on the calling
 * thread: same results, no deadlock.  After fork() the child has no pool
 * threads; it starts its own.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

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

/* Spin this many rounds (a pause each, ~30-100 ns) before sleeping. */
#define SPIN_ROUNDS 2000

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

static struct {
	pthread_mutex_t call;  /* held for a whole parallel call */
	pthread_mutex_t lock;  /* guards the sleeps below */
	pthread_cond_t wake;   /* gen changed */
	pthread_cond_t done;   /* pending reached 0 */
	int started;           /* pool threads: parts 1..started */
	unsigned born[JM_CPU_MAX_WORKERS]; /* gen when thread i was started */
	atomic_uint gen;
	atomic_int pending;    /* pool threads still in the current call */
	void (*fn)(void *ctx, int part, int nparts);
	void *ctx;
	int n;
} pool = {
	.call = PTHREAD_MUTEX_INITIALIZER,
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.wake = PTHREAD_COND_INITIALIZER,
	.done = PTHREAD_COND_INITIALIZER,
};

static _Thread_local int in_part; /* this thread is running a part */

static void *pool_thread(void *arg)
{
	int me = (int)(intptr_t)arg;
	/* not gen's value now: the call that started this thread may have
	 * moved it on already, and that call waits for this thread */
	unsigned seen = pool.born[me];
	in_part = 1;
	for (;;) {
		int spin = 0;
		while (atomic_load_explicit(&pool.gen, memory_order_acquire) == seen &&
		       spin++ < SPIN_ROUNDS)
			cpu_relax();
		if (atomic_load_explicit(&pool.gen, memory_order_acquire) == seen) {
			pthread_mutex_lock(&pool.lock);
			while (atomic_load(&pool.gen) == seen)
				pthread_cond_wait(&pool.wake, &pool.lock);
			pthread_mutex_unlock(&pool.lock);
		}
		seen = atomic_load(&pool.gen);
		if (me < pool.n)
			pool.fn(pool.ctx, me, pool.n);
		if (atomic_fetch_sub_explicit(&pool.pending, 1, memory_order_acq_rel) == 1) {
			pthread_mutex_lock(&pool.lock);
			pthread_cond_signal(&pool.done);
			pthread_mutex_unlock(&pool.lock);
		}
	}
	return NULL;
}

/* The child of a fork has only the forking thread: forget the pool.  The
 * parent cannot be inside a call (fork is not called from a part), so the
 * locks are free. */
static void pool_after_fork(void)
{
	pthread_mutex_init(&pool.call, NULL);
	pthread_mutex_init(&pool.lock, NULL);
	pthread_cond_init(&pool.wake, NULL);
	pthread_cond_init(&pool.done, NULL);
	pool.started = 0;
	atomic_store(&pool.pending, 0);
}

static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void pool_register_atfork(void)
{
	pthread_atfork(NULL, NULL, pool_after_fork);
}

/* Make sure threads 1..n-1 exist (called with pool.call held); returns how
 * many there are, which may be fewer when the system refuses threads. */
static int pool_grow(int n)
{
	pthread_once(&atfork_once, pool_register_atfork);
	while (pool.started < n - 1) {
		pthread_t th;
		pthread_attr_t at;
		pthread_attr_init(&at);
		pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
		pool.born[pool.started + 1] = atomic_load(&pool.gen);
		int rc = pthread_create(&th, &at, pool_thread,
					(void *)(intptr_t)(pool.started + 1));
		pthread_attr_destroy(&at);
		if (rc != 0)
			break;
		pool.started++;
	}
	return pool.started;
}

static void run_serial(int from, int n, void (*fn)(void *ctx, int part, int nparts), void *ctx)
{
	for (int i = from; i < n; i++)
		fn(ctx, i, n);
}

void jm_cpu_parallel(int n, void (*fn)(void *ctx, int part, int nparts), void *ctx)
{
	if (n > JM_CPU_MAX_WORKERS)
		n = JM_CPU_MAX_WORKERS;
	if (n <= 1) {
		fn(ctx, 0, 1);
		return;
	}
	if (in_part || pthread_mutex_trylock(&pool.call) != 0) {
		run_serial(0, n, fn, ctx);
		return;
	}
	int have = pool_grow(n);
	if (have == 0) {
		pthread_mutex_unlock(&pool.call);
		run_serial(0, n, fn, ctx);
		return;
	}
	pool.fn = fn;
	pool.ctx = ctx;
	pool.n = n;
	atomic_store(&pool.pending, have);
	pthread_mutex_lock(&pool.lock);
	atomic_fetch_add_explicit(&pool.gen, 1, memory_order_release);
	pthread_cond_broadcast(&pool.wake);
	pthread_mutex_unlock(&pool.lock);

	in_part = 1;
	fn(ctx, 0, n);
	run_serial(have + 1, n, fn, ctx); /* parts no thread could take */
	in_part = 0;

	int spin = 0;
	while (atomic_load_explicit(&pool.pending, memory_order_acquire) != 0 &&
	       spin++ < SPIN_ROUNDS)
		cpu_relax();
	if (atomic_load_explicit(&pool.pending, memory_order_acquire) != 0) {
		pthread_mutex_lock(&pool.lock);
		while (atomic_load(&pool.pending) != 0)
			pthread_cond_wait(&pool.done, &pool.lock);
		pthread_mutex_unlock(&pool.lock);
	}
	pthread_mutex_unlock(&pool.call);
}
