/*
 * split.c: stratified, seeded splits.
 *
 *   labels ─counting sort─▶ one bucket of indices per class (ascending)
 *          ─shuffle each bucket (one rng stream, classes in order)─▶
 *          head → val, next → test, rest → train ─sort each─▶ jm_split
 *
 * Without stratification everything is one bucket.  Sorting the outputs
 * makes them independent of how the buckets were visited and keeps memory
 * access in order when batches are gathered.  A part asked for that no
 * bucket gives a row is refused (refuse_empty) rather than left empty.
 */
#include "data/split.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/rng.h"

/* Distinguishes the split's stream from other streams with the same seed. */
#define SPLIT_SALT 0x73706c6974ULL /* "split" */

static int cmp_i32(const void *a, const void *b)
{
	int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
	return (x > y) - (x < y);
}

/* How many of count samples go to val and test (train keeps >= 1). */
static void bucket_sizes(int64_t count, double val, double test, int64_t *nv, int64_t *nt)
{
	*nv = (int64_t)round((double)count * val);
	*nt = (int64_t)round((double)count * test);
	int64_t over = *nv + *nt - (count - (count > 0));
	if (over > 0) {
		int64_t from_t = over < *nt ? over : *nt;
		*nt -= from_t;
		*nv -= over - from_t;
	}
}

/* The smallest fraction in hundredths that, put in place of val, test or
 * both, gives a bucket of count rows a row for each part asked for; 0 if
 * none below 1 does. */
static double least_fraction(int64_t count, int set_val, int set_test, double val, double test)
{
	for (int h = 1; h < 100; h++) {
		double x = h / 100.0, v = set_val ? x : val, t = set_test ? x : test;
		int64_t nv, nt;
		if (v + t >= 1)
			break;
		bucket_sizes(count, v, t, &nv, &nt);
		if ((v == 0 || nv > 0) && (t == 0 || nt > 0))
			return x;
	}
	return 0;
}

/*
 * A part asked for (fraction > 0) that no bucket gives a row: the run
 * would be validated or tested on nothing and keep NaN as its result, so
 * it is refused, with the numbers and the fixes that work for this data.
 * Every bucket gives the part nothing, so the largest shows why: its
 * share rounds to 0, or val takes what training does not keep.
 */
static int refuse_empty(jm_split *out, const int64_t *start, int nb, int64_t n, double val,
			double test, int stratify, int no_val, int no_test, jm_err *err)
{
	int64_t cmin = INT64_MAX, cmax = 0, nv, nt;
	int classes = 0;
	for (int b = 0; b < nb; b++) {
		int64_t count = start[b + 1] - start[b];
		if (count == 0)
			continue;
		classes++;
		cmin = count < cmin ? count : cmin;
		cmax = count > cmax ? count : cmax;
	}
	double frac = no_val ? val : test;
	char head[96], what[128], why[128], fixes[4][64];
	int nfix = 0;

	if (no_val && no_test)
		snprintf(head, sizeof head, "[split] val = %g gives no rows, nor does test = %g",
			 val, test);
	else
		snprintf(head, sizeof head, "[split] %s = %g gives no rows",
			 no_val ? "val" : "test", frac);
	if (!stratify)
		snprintf(what, sizeof what, "%lld row%s", (long long)n, n == 1 ? "" : "s");
	else if (cmin == cmax)
		snprintf(what, sizeof what, "%d class%s of %lld row%s%s, split per class", classes,
			 classes == 1 ? "" : "es", (long long)cmax, cmax == 1 ? "" : "s",
			 classes == 1 ? "" : " each");
	else
		snprintf(what, sizeof what, "%d classes of %lld to %lld rows, split per class",
			 classes, (long long)cmin, (long long)cmax);

	bucket_sizes(cmax, val, test, &nv, &nt);
	double x;
	if (cmax == 1) {
		snprintf(why, sizeof why, "%s",
			 stratify ? "each class keeps its one row for training"
				  : "it stays in training");
	} else if (round((double)cmax * frac) == 0) {
		if (no_val && no_test && val != test)
			snprintf(why, sizeof why, "%g and %g of %lld rows round to 0", val, test,
				 (long long)cmax);
		else
			snprintf(why, sizeof why, "%g of %lld rows rounds to 0", frac,
				 (long long)cmax);
		if ((x = least_fraction(cmax, no_val, no_test, val, test)) > 0)
			snprintf(fixes[nfix++], sizeof *fixes, "raise %s to %g or more",
				 no_val && no_test ? "val and test" : no_val ? "val" : "test", x);
	} else {
		/* test's share was given back so that training keeps a row:
		 * test gives first (bucket_sizes), so val holds the rest */
		snprintf(why, sizeof why, "val takes %lld of %lld rows and training keeps the rest",
			 (long long)nv, (long long)cmax);
		if ((x = least_fraction(cmax, 1, 0, val, test)) > 0 && x < val)
			snprintf(fixes[nfix++], sizeof *fixes, "lower val to %g", x);
	}
	if (stratify) {
		bucket_sizes(n, val, test, &nv, &nt);
		if ((!no_val || nv > 0) && (!no_test || nt > 0))
			snprintf(fixes[nfix++], sizeof *fixes, "set stratify = false");
	}
	snprintf(fixes[nfix++], sizeof *fixes, "%s",
		 stratify ? "use fewer classes" : "use more rows");

	char fix[256] = "";
	size_t len = 0;
	for (int i = 0; i < nfix && len < sizeof fix; i++)
		len += (size_t)snprintf(fix + len, sizeof fix - len, "%s%s",
					!i ? "" : i < nfix - 1 ? ", " : ", or ", fixes[i]);
	out->empty_key = no_val ? "split.val" : "split.test";
	return jm_err_set(err, JM_EXIT_INPUT, "%s: %s (%s); %s", head, what, why, fix);
}

static int32_t *take(const int32_t *src, int64_t n)
{
	if (n == 0)
		return NULL;
	int32_t *p = malloc((size_t)n * sizeof *p);
	if (p)
		memcpy(p, src, (size_t)n * sizeof *p);
	return p;
}

int jm_split_make(jm_split *out, const int32_t *labels, int64_t n, int n_classes,
		  double val, double test, int stratify, uint64_t seed, jm_err *err)
{
	int64_t *start = NULL;
	int32_t *order = NULL, *tr = NULL, *va = NULL, *te = NULL;
	int64_t ntr = 0, nva = 0, nte = 0;
	int nb = stratify ? n_classes : 1;
	int rc = -1;

	memset(out, 0, sizeof *out);
	if (!(val >= 0 && val < 1) || !(test >= 0 && test < 1) || !(val + test < 1))
		return jm_err_set(err, JM_EXIT_INPUT,
				  "split: fractions must be in [0, 1) with val + test < 1, got %g and %g",
				  val, test);
	if (n < 0 || n > INT32_MAX)
		return jm_err_set(err, JM_EXIT_INPUT, "split: %lld samples (at most %d)",
				  (long long)n, INT32_MAX);
	if (stratify && (!labels || n_classes < 1))
		return jm_err_set(err, JM_EXIT_FAIL, "split: stratifying needs labels and classes");

	/* counting sort of the indices by class: bucket b is order[start[b]..start[b+1]) */
	start = calloc((size_t)nb + 1, sizeof *start);
	order = malloc((size_t)(n ? n : 1) * sizeof *order);
	tr = malloc((size_t)(n ? n : 1) * sizeof *tr);
	va = malloc((size_t)(n ? n : 1) * sizeof *va);
	te = malloc((size_t)(n ? n : 1) * sizeof *te);
	if (!start || !order || !tr || !va || !te) {
		jm_err_set(err, JM_EXIT_FAIL, "split: out of memory for %lld samples", (long long)n);
		goto done;
	}
	for (int64_t i = 0; i < n; i++) {
		int b = stratify ? labels[i] : 0;
		if (b < 0 || b >= nb) {
			jm_err_set(err, JM_EXIT_INPUT,
				   "split: label %d of sample %lld is outside 0..%d", labels[i],
				   (long long)i, n_classes - 1);
			goto done;
		}
		start[b + 1]++;
	}
	for (int b = 0; b < nb; b++)
		start[b + 1] += start[b];
	{
		int64_t *fill = jm_xmalloc((size_t)nb * sizeof *fill);
		memcpy(fill, start, (size_t)nb * sizeof *fill);
		for (int64_t i = 0; i < n; i++)
			order[fill[stratify ? labels[i] : 0]++] = (int32_t)i;
		free(fill);
	}

	jm_rng rng;
	jm_rng_seed(&rng, seed ^ SPLIT_SALT);
	for (int b = 0; b < nb; b++) {
		int32_t *bucket = order + start[b];
		int64_t count = start[b + 1] - start[b], nv, nt;
		jm_rng_shuffle(&rng, bucket, count);
		bucket_sizes(count, val, test, &nv, &nt);
		memcpy(va + nva, bucket, (size_t)nv * sizeof *va);
		memcpy(te + nte, bucket + nv, (size_t)nt * sizeof *te);
		memcpy(tr + ntr, bucket + nv + nt, (size_t)(count - nv - nt) * sizeof *tr);
		nva += nv;
		nte += nt;
		ntr += count - nv - nt;
	}
	if (n > 0 && ((val > 0 && nva == 0) || (test > 0 && nte == 0))) {
		refuse_empty(out, start, nb, n, val, test, stratify, val > 0 && nva == 0,
			     test > 0 && nte == 0, err);
		goto done;
	}
	qsort(tr, (size_t)ntr, sizeof *tr, cmp_i32);
	qsort(va, (size_t)nva, sizeof *va, cmp_i32);
	qsort(te, (size_t)nte, sizeof *te, cmp_i32);

	out->train = take(tr, ntr);
	out->val = take(va, nva);
	out->test = take(te, nte);
	if ((ntr && !out->train) || (nva && !out->val) || (nte && !out->test)) {
		jm_split_clear(out);
		jm_err_set(err, JM_EXIT_FAIL, "split: out of memory for %lld samples", (long long)n);
		goto done;
	}
	out->n_train = ntr;
	out->n_val = nva;
	out->n_test = nte;
	rc = 0;
done:
	free(start);
	free(order);
	free(tr);
	free(va);
	free(te);
	return rc;
}

void jm_split_clear(jm_split *s)
{
	if (!s)
		return;
	free(s->train);
	free(s->val);
	free(s->test);
	memset(s, 0, sizeof *s);
}
