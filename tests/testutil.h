/*
 * testutil.h: helpers shared by the Criterion tests.
 *
 * Tests run from `make check` with JIANMO_BIN (the built binary) and
 * JIANMO_SRCDIR (the source tree) in the environment; each test makes its
 * own temporary directory and removes it.
 */
#ifndef JM_TESTUTIL_H
#define JM_TESTUTIL_H

#include <stddef.h>

/* A fresh directory under $TMPDIR (or /tmp); malloc'd path. */
char *jt_tmpdir(void);
/* rm -rf path (refuses "" and "/"). */
void jt_rm_rf(const char *path);
/* Write text to dir/name (dir may be NULL); returns the malloc'd path. */
char *jt_write(const char *dir, const char *name, const char *text);
/* Read a whole file; NULL if missing.  *n (may be NULL) gets its length. */
char *jt_read(const char *path, size_t *n);

/* Run `$JIANMO_BIN ARGS` through /bin/sh in cwd (NULL: current), stdin
 * from /dev/null, capturing stdout and stderr into malloc'd strings (out
 * and err may be NULL).  Returns the exit status (128+sig if killed). */
int jt_jianmo(const char *cwd, char **out, char **err, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* Same for any shell command line. */
int jt_sh(const char *cwd, char **out, char **err, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Path of the binary under test and of the source tree. */
const char *jt_bin(void);
const char *jt_srcdir(void);
/* The Fashion-MNIST directory if the Debian package is installed, else
 * NULL (tests that need it skip loudly). */
const char *jt_fmnist_dir(void);

/* A flow whose training step holds everything a step can: CutMix/MixUp,
 * flip, crop and erasing, dropout, two batches accumulated, a fixed clip
 * (a small CNN on 6,400 Fashion-MNIST images, 2 epochs of 45 steps).  The
 * CUDA-graph tests run it on the CPU (test_batch) and on a GPU
 * (test_cuda). */
extern const char *const jt_full_step_flow;

#endif
