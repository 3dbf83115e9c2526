/*
 * metric_writer.h: buffered metric logging.
 *
 *   jm_metric_log() ──▶ in-memory buffer ──(every ~100 ms or N points)──▶
 *       one transaction: INSERT metrics + UPSERT metric_summary
 *
 * The writer owns its own sqlite3 connection to the store (so logging never
 * interleaves with the caller's transactions).  Points are durable after
 * jm_metric_writer_flush() or close.  jm_metric_writer_install_signal_flush()
 * arranges for SIGINT/SIGTERM handlers of the caller to flush (the runner
 * calls jm_metric_writer_flush from its own orderly shutdown path instead of
 * flushing inside the signal handler).
 */
#ifndef JM_METRIC_WRITER_H
#define JM_METRIC_WRITER_H

#include <stdint.h>

#include "store/store.h"

typedef struct jm_metric_writer jm_metric_writer;

/* Open a writer on the store at s's home.  flush_points: commit after this
 * many buffered points (0 for the default, 4096); flush_ms: commit when the
 * oldest buffered point is this old (0 for the default, 100). */
int jm_metric_writer_open(jm_metric_writer **out, jm_store *s,
			  int flush_points, int flush_ms, jm_err *err);
/* Buffer one point; may commit.  key is copied. */
int jm_metric_log(jm_metric_writer *w, int64_t run, const char *key,
		  int64_t step, double value);
int jm_metric_writer_flush(jm_metric_writer *w, jm_err *err);
/* Flush and close; accepts NULL.  Returns -1 if the final flush failed. */
int jm_metric_writer_close(jm_metric_writer *w, jm_err *err);

#endif
