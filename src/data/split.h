/*
 * split.h: seeded, stratified train / validation / test splits as index
 * arrays into a data set.
 *
 *   labels[n] ──per class: shuffle, take round(count*val) to val,
 *               round(count*test) to test, the rest to train──▶ jm_split
 *
 * For Fashion-MNIST (which has its own test set) the runner carves only a
 * validation part from the training set: test = 0, and the provided test
 * set stays the test set.  For data without a test set, pass both
 * fractions ([split] val and test, 0.15 each by default).
 *
 * Guarantees: the three arrays are disjoint, cover 0..n-1, are sorted
 * ascending, and depend only on (labels, fractions, stratify, seed).
 * Stratified, each class keeps its proportion up to rounding, and a class
 * with at least one sample always keeps one in train (a tiny class gives
 * its val/test share back, test first).  So train is never empty when n is
 * not; val or test, when asked for, is never empty either: that is refused.
 */
#ifndef JM_SPLIT_H
#define JM_SPLIT_H

#include <stdint.h>

#include "util/err.h"

typedef struct jm_split {
	int32_t *train, *val, *test; /* malloc'd, owned; NULL when empty */
	int64_t n_train, n_val, n_test;
	/* after the "gives no rows" error: the flow key to blame,
	 * "split.val" or "split.test" (static); NULL otherwise */
	const char *empty_key;
} jm_split;

/* labels: n labels in 0..n_classes-1 (may be NULL when !stratify).
 * val, test: fractions in [0, 1) with val + test < 1.  Errors:
 * JM_EXIT_INPUT for bad fractions or labels, and for a part asked for
 * (fraction > 0) that gets no rows while n > 0: "[split] val = 0.15 gives
 * no rows: ..." with the numbers and the fixes that work (out->empty_key
 * names the key, for the caller to put its location in front).  A part
 * whose fraction is 0 is empty as asked; so is every part when n is 0. */
int jm_split_make(jm_split *out, const int32_t *labels, int64_t n, int n_classes,
		  double val, double test, int stratify, uint64_t seed, jm_err *err);

/* Free the arrays and zero *s; accepts NULL. */
void jm_split_clear(jm_split *s);

#endif
