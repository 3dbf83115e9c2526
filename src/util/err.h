/*
 * err.h: how library code reports failure.
 *
 * Every function that can fail returns 0 on success and -1 on failure and
 * fills a caller-owned jm_err (which may be NULL when the caller does not
 * care).  Only main() and the UI decide to print and exit: library code never
 * calls exit() or prints errors itself.
 *
 *     jm_err err = {0};
 *     if (jm_store_open(&s, home, 0, &err) < 0) {
 *         jm_err_print(&err);               // "jianmo: <msg>" on stderr
 *         return err.code;                  // JM_EXIT_INPUT or JM_EXIT_FAIL
 *     }
 *
 * Messages follow git's style: lowercase first word, no final period, the
 * subject quoted, location first when there is one:
 *     fmnist.flow:12: [train] lr: expected a number > 0, got "fast"
 */
#ifndef JM_ERR_H
#define JM_ERR_H

#include <stddef.h>

enum {
	JM_EXIT_OK = 0,
	JM_EXIT_FAIL = 1,  /* a run failed, an I/O or internal error */
	JM_EXIT_INPUT = 2, /* bad usage or bad input */
};

typedef struct jm_err {
	int code;       /* JM_EXIT_FAIL or JM_EXIT_INPUT once set */
	/* 1 when what failed was memory that grows with the batch size, so a
	 * smaller batch may fit ([train] batch = auto): set by jm_err_batch,
	 * cleared by jm_err_set */
	int batch_too_big;
	char msg[1024];
} jm_err;

/* Fill err (if not NULL) with code and a formatted message; returns -1 so
 * callers can write `return jm_err_set(err, JM_EXIT_INPUT, "...")`. */
int jm_err_set(jm_err *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* jm_err_set with JM_EXIT_FAIL for memory that grows with the batch:
 * also sets batch_too_big. */
int jm_err_batch(jm_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Put "prefix: " in front of an existing message (for adding file:line). */
int jm_err_prefix(jm_err *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Print "jianmo: msg" to stderr. */
void jm_err_print(const jm_err *err);

/* Like strdup/malloc/calloc/realloc, but abort with a message on OOM.  Used
 * for small bookkeeping allocations; large buffers (tensors, data sets) use
 * plain malloc and report failure through jm_err. */
void *jm_xmalloc(size_t n);
void *jm_xcalloc(size_t n, size_t size);
void *jm_xrealloc(void *p, size_t n);
char *jm_xstrdup(const char *s);
char *jm_xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
