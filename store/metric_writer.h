/*
 * metric_writer.h: buffered metric logging.
 *
 *   jm_metric_log() ──▶ in-memory buffer ──(every ~100 ms or N points)──▶
 *       one transaction: per (run, key) touched, INSERT its points (one
 *       contiguous metric_points range + one metric_spans row, read back
 *       through the `metrics` view) and UPSERT metric_summary
 *
 * The writer owns its own sqlite3 connection to the store (so logging never
 * interleaves with the caller's transactions).  Points are committed (and
 * survive the process being killed) after jm_metric_writer_flush() or close;
 * the age check runs inside jm_metric_log(), so there is no thread.  The
 * writer installs no signal handlers: the runner calls
 * jm_metric_writer_flush() from its own orderly shutdown path (never from a
 * signal handler, where SQLite must not be called).
 *
 * A NaN value is stored as NULL (see store/schema.sql).  A point whose run
 * does not exist is refused by jm_metric_log() and never buffered.  If a
 * commit fails the points stay buffered and the next log or flush retries.
 * One writer is used by one thread at a time.
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
/* Buffer one point; may commit.  key is copied.  Returns -1 if the point is
 * refused (the run does not exist, the key is empty: the point is dropped,
 * and the next jm_metric_writer_flush() fails with that reason once its own
 * commit is done) or if a commit it triggered failed (the points stay
 * buffered; logging retries after a second, a flush at once). */
int jm_metric_log(jm_metric_writer *w, int64_t run, const char *key,
		  int64_t step, double value);
int jm_metric_writer_flush(jm_metric_writer *w, jm_err *err);
/* Flush and close; accepts NULL.  Returns -1 if the final flush failed. */
int jm_metric_writer_close(jm_metric_writer *w, jm_err *err);

#endif
