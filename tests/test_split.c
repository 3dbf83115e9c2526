/*
 * test_split.c: stratified, seeded splits: sizes, class proportions,
 * disjoint and covering parts, order, determinism, seeds, edge cases,
 * errors, and parts asked for that would get no rows.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "data/split.h"

/* labels with counts[k] samples of class k, interleaved */
static int32_t *make_labels(const int *counts, int k, int64_t *n)
{
	int64_t total = 0;
	for (int c = 0; c < k; c++)
		total += counts[c];
	int32_t *l = malloc((size_t)(total ? total : 1) * sizeof *l);
	int *left = malloc((size_t)k * sizeof *left);
	memcpy(left, counts, (size_t)k * sizeof *left);
	int64_t i = 0;
	while (i < total)
		for (int c = 0; c < k; c++)
			if (left[c]) {
				l[i++] = c;
				left[c]--;
			}
	free(left);
	*n = total;
	return l;
}

/* Every index in exactly one part; each part strictly ascending. */
static void assert_partition(const jm_split *s, int64_t n)
{
	cr_assert_eq(s->n_train + s->n_val + s->n_test, n);
	char *seen = calloc((size_t)(n ? n : 1), 1);
	const int32_t *parts[3] = {s->train, s->val, s->test};
	int64_t sizes[3] = {s->n_train, s->n_val, s->n_test};
	for (int p = 0; p < 3; p++) {
		cr_assert(sizes[p] == 0 || parts[p]);
		for (int64_t i = 0; i < sizes[p]; i++) {
			int32_t v = parts[p][i];
			cr_assert(v >= 0 && v < n);
			cr_assert_not(seen[v], "index %d twice", v);
			seen[v] = 1;
			if (i)
				cr_assert_lt(parts[p][i - 1], v, "part %d not ascending", p);
		}
	}
	free(seen);
}

static void class_counts(const int32_t *idx, int64_t n, const int32_t *labels, int k, int64_t *out)
{
	memset(out, 0, (size_t)k * sizeof *out);
	for (int64_t i = 0; i < n; i++)
		out[labels[idx[i]]]++;
}

Test(split, stratified_sizes_and_proportions)
{
	int counts[5] = {100, 7, 13, 250, 1};
	int64_t n;
	int32_t *l = make_labels(counts, 5, &n);
	jm_split s;
	jm_err err = {0};
	cr_assert_eq(jm_split_make(&s, l, n, 5, 0.15, 0, 1, 42, &err), 0, "%s", err.msg);
	assert_partition(&s, n);
	cr_assert_eq(s.n_test, 0);
	cr_assert_null(s.test);
	int64_t v[5], t[5];
	class_counts(s.val, s.n_val, l, 5, v);
	class_counts(s.train, s.n_train, l, 5, t);
	for (int c = 0; c < 5; c++) {
		int64_t want = (int64_t)round(counts[c] * 0.15);
		if (counts[c] == 1)
			want = 0; /* a class keeps one training sample */
		cr_assert_eq(v[c], want, "class %d: %lld in val", c, (long long)v[c]);
		cr_assert_eq(t[c], counts[c] - want);
	}
	jm_split_clear(&s);
	cr_assert_null(s.train);
	jm_split_clear(NULL);
	free(l);
}

Test(split, three_way)
{
	int counts[3] = {200, 100, 40};
	int64_t n;
	int32_t *l = make_labels(counts, 3, &n);
	jm_split s;
	cr_assert_eq(jm_split_make(&s, l, n, 3, 0.15, 0.15, 1, 1, NULL), 0);
	assert_partition(&s, n);
	int64_t v[3], te[3];
	class_counts(s.val, s.n_val, l, 3, v);
	class_counts(s.test, s.n_test, l, 3, te);
	for (int c = 0; c < 3; c++) {
		cr_assert_eq(v[c], (int64_t)round(counts[c] * 0.15));
		cr_assert_eq(te[c], (int64_t)round(counts[c] * 0.15));
	}
	cr_assert_eq(s.n_train, 340 - 30 - 15 - 6 - 30 - 15 - 6);
	jm_split_clear(&s);
	free(l);
}

Test(split, deterministic_and_seeded)
{
	int counts[4] = {300, 300, 300, 300};
	int64_t n;
	int32_t *l = make_labels(counts, 4, &n);
	jm_split a, b, c;
	cr_assert_eq(jm_split_make(&a, l, n, 4, 0.2, 0.1, 1, 7, NULL), 0);
	cr_assert_eq(jm_split_make(&b, l, n, 4, 0.2, 0.1, 1, 7, NULL), 0);
	cr_assert_eq(jm_split_make(&c, l, n, 4, 0.2, 0.1, 1, 8, NULL), 0);
	cr_assert_eq(a.n_val, b.n_val);
	cr_assert_eq(memcmp(a.val, b.val, (size_t)a.n_val * sizeof *a.val), 0);
	cr_assert_eq(memcmp(a.test, b.test, (size_t)a.n_test * sizeof *a.test), 0);
	cr_assert_eq(memcmp(a.train, b.train, (size_t)a.n_train * sizeof *a.train), 0);
	cr_assert_eq(a.n_val, c.n_val, "the sizes do not depend on the seed");
	cr_assert_neq(memcmp(a.val, c.val, (size_t)a.n_val * sizeof *a.val), 0,
		      "another seed, another split");
	/* not just a prefix: validation samples are spread over the data */
	cr_assert_lt(a.val[0], 50);
	cr_assert_gt(a.val[a.n_val - 1], (int32_t)n - 50);
	jm_split_clear(&a);
	jm_split_clear(&b);
	jm_split_clear(&c);
	free(l);
}

Test(split, unstratified)
{
	int64_t n = 1001;
	jm_split s;
	cr_assert_eq(jm_split_make(&s, NULL, n, 0, 0.1, 0.2, 0, 3, NULL), 0);
	assert_partition(&s, n);
	cr_assert_eq(s.n_val, 100);
	cr_assert_eq(s.n_test, 200);
	jm_split_clear(&s);
}

Test(split, edge_cases)
{
	int counts[3] = {5, 1, 2};
	int64_t n;
	int32_t *l = make_labels(counts, 3, &n);
	jm_split s;

	/* val 0: everything trains */
	cr_assert_eq(jm_split_make(&s, l, n, 3, 0, 0, 1, 1, NULL), 0);
	cr_assert_eq(s.n_train, n);
	cr_assert_null(s.val);
	assert_partition(&s, n);
	jm_split_clear(&s);

	/* tiny classes give back their share so train keeps one of each */
	cr_assert_eq(jm_split_make(&s, l, n, 3, 0.5, 0.3, 1, 1, NULL), 0);
	assert_partition(&s, n);
	int64_t t[3], v[3], te[3];
	class_counts(s.train, s.n_train, l, 3, t);
	class_counts(s.val, s.n_val, l, 3, v);
	class_counts(s.test, s.n_test, l, 3, te);
	/* 5: val round(2.5)=3, test round(1.5)=2 -> 5 > 4, test gives 1 back */
	cr_assert_eq(v[0], 3);
	cr_assert_eq(te[0], 1);
	cr_assert_eq(t[0], 1);
	cr_assert_eq(t[1], 1);
	cr_assert_eq(v[1] + te[1], 0);
	/* 2: val 1, test round(0.6)=1 -> test gives its one back */
	cr_assert_eq(v[2], 1);
	cr_assert_eq(te[2], 0);
	cr_assert_eq(t[2], 1);
	jm_split_clear(&s);

	/* a class absent from the data is fine */
	cr_assert_eq(jm_split_make(&s, l, n, 7, 0.5, 0, 1, 1, NULL), 0);
	assert_partition(&s, n);
	jm_split_clear(&s);

	/* nothing at all */
	cr_assert_eq(jm_split_make(&s, l, 0, 3, 0.1, 0, 1, 1, NULL), 0);
	cr_assert_eq(s.n_train + s.n_val + s.n_test, 0);
	jm_split_clear(&s);
	free(l);
}

Test(split, errors)
{
	int32_t l[4] = {0, 1, 2, 1};
	jm_split s;
	jm_err err = {0};
	struct {
		double val, test;
		const char *msg;
	} bad[] = {
		{1, 0, "split: fractions must be in [0, 1) with val + test < 1, got 1 and 0"},
		{-0.1, 0, "split: fractions must be in [0, 1) with val + test < 1, got -0.1 and 0"},
		{0.5, 0.5, "split: fractions must be in [0, 1) with val + test < 1, got 0.5 and 0.5"},
		{NAN, 0, "split: fractions must be in [0, 1) with val + test < 1, got nan and 0"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		cr_assert_eq(jm_split_make(&s, l, 4, 3, bad[i].val, bad[i].test, 1, 1, &err), -1);
		cr_assert_str_eq(err.msg, bad[i].msg);
		cr_assert_eq(err.code, JM_EXIT_INPUT);
		cr_assert_null(s.train);
	}
	cr_assert_eq(jm_split_make(&s, l, 4, 2, 0.1, 0, 1, 1, &err), -1);
	cr_assert_str_eq(err.msg, "split: label 2 of sample 2 is outside 0..1");
	cr_assert_eq(err.code, JM_EXIT_INPUT);
	l[3] = -1;
	cr_assert_eq(jm_split_make(&s, l, 4, 3, 0.1, 0, 1, 1, &err), -1);
	cr_assert_str_eq(err.msg, "split: label -1 of sample 3 is outside 0..2");
}

/*
 * A part asked for (fraction > 0) that gets no rows is refused: a run
 * would otherwise be validated or tested on nothing and store NaN as its
 * result.  The message names the key, the numbers behind it and a fix
 * that works for the data (raise to, stratify = false) where one does.
 */
Test(split, empty_part_is_refused)
{
	int counts[30];
	for (int c = 0; c < 30; c++)
		counts[c] = 3;
	int64_t n;
	int32_t *l = make_labels(counts, 30, &n);
	jm_split s;
	jm_err err = {0};

	/* QA B6: 0.15 of 3 rows rounds to 0 in every class, for both parts */
	cr_assert_eq(jm_split_make(&s, l, n, 30, 0.15, 0.15, 1, 1, &err), -1);
	cr_assert_eq(err.code, JM_EXIT_INPUT);
	cr_assert_str_eq(err.msg, "[split] val = 0.15 gives no rows, nor does test = 0.15: 30 "
				  "classes of 3 rows each, split per class (0.15 of 3 rows rounds "
				  "to 0); raise val and test to 0.17 or more, set stratify = false, "
				  "or use fewer classes");
	cr_assert_str_eq(s.empty_key, "split.val", "the key for the caller to locate");
	cr_assert_null(s.train);
	cr_assert_eq(s.n_train + s.n_val + s.n_test, 0);

	/* val takes a row of each class, test none */
	cr_assert_eq(jm_split_make(&s, l, n, 30, 0.3, 0.15, 1, 1, &err), -1);
	cr_assert_str_eq(err.msg, "[split] test = 0.15 gives no rows: 30 classes of 3 rows each, "
				  "split per class (0.15 of 3 rows rounds to 0); raise test to 0.17 "
				  "or more, set stratify = false, or use fewer classes");
	cr_assert_str_eq(s.empty_key, "split.test");

	/* test = 0 asks for no test part: an empty one is what was asked */
	cr_assert_eq(jm_split_make(&s, l, n, 30, 0.34, 0, 1, 1, &err), 0, "%s", err.msg);
	cr_assert_null(s.empty_key);
	cr_assert_eq(s.n_val, 30);
	cr_assert_eq(s.n_test, 0);
	jm_split_clear(&s);
	free(l);

	/* classes of different sizes; stratify = false would not help here */
	int mixed[3] = {1, 2, 3};
	l = make_labels(mixed, 3, &n);
	cr_assert_eq(jm_split_make(&s, l, n, 3, 0.08, 0, 1, 1, &err), -1);
	cr_assert_str_eq(err.msg, "[split] val = 0.08 gives no rows: 3 classes of 1 to 3 rows, "
				  "split per class (0.08 of 3 rows rounds to 0); raise val to 0.17 or "
				  "more, or use fewer classes");
	free(l);

	/* one row per class: it stays in training whatever the fraction */
	int ones[4] = {1, 1, 1, 1};
	l = make_labels(ones, 4, &n);
	cr_assert_eq(jm_split_make(&s, l, n, 4, 0.5, 0.3, 1, 1, &err), -1);
	cr_assert_str_eq(err.msg, "[split] val = 0.5 gives no rows, nor does test = 0.3: 4 classes "
				  "of 1 row each, split per class (each class keeps its one row for "
				  "training); set stratify = false, or use fewer classes");
	free(l);

	/* val takes all a class can spare, so test gets nothing */
	int threes[5] = {3, 3, 3, 3, 3};
	l = make_labels(threes, 5, &n);
	cr_assert_eq(jm_split_make(&s, l, n, 5, 0.5, 0.3, 1, 1, &err), -1);
	cr_assert_str_eq(err.msg, "[split] test = 0.3 gives no rows: 5 classes of 3 rows each, "
				  "split per class (val takes 2 of 3 rows and training keeps the "
				  "rest); lower val to 0.17, set stratify = false, or use fewer "
				  "classes");
	free(l);
	/* of 2 rows, lowering val cannot help: it would empty val instead */
	int twos[5] = {2, 2, 2, 2, 2};
	l = make_labels(twos, 5, &n);
	cr_assert_eq(jm_split_make(&s, l, n, 5, 0.5, 0.3, 1, 1, &err), -1);
	cr_assert_str_eq(err.msg, "[split] test = 0.3 gives no rows: 5 classes of 2 rows each, "
				  "split per class (val takes 1 of 2 rows and training keeps the "
				  "rest); set stratify = false, or use fewer classes");
	free(l);

	/* unstratified (a regression): the whole set is one bucket */
	cr_assert_eq(jm_split_make(&s, NULL, 3, 0, 0.1, 0.1, 0, 1, &err), -1);
	cr_assert_str_eq(err.msg, "[split] val = 0.1 gives no rows, nor does test = 0.1: 3 rows "
				  "(0.1 of 3 rows rounds to 0); raise val and test to 0.17 or more, or "
				  "use more rows");
	cr_assert_eq(jm_split_make(&s, NULL, 1, 0, 0.1, 0, 0, 1, &err), -1);
	cr_assert_str_eq(err.msg, "[split] val = 0.1 gives no rows: 1 row (it stays in training); "
				  "use more rows");
}

/* n rows of k classes split by val and test: refused as an empty part,
 * or a training row of each class present and a row in each part asked
 * for. */
static void check_small_split(int64_t n, int k, double val, double test)
{
	int32_t l[16];
	int64_t t[3] = {0}, all[3] = {0};
	for (int64_t i = 0; i < n; i++)
		all[l[i] = (int32_t)(i * i % k)]++;
	jm_split s;
	jm_err err = {0};
	if (jm_split_make(&s, l, n, k, val, test, k > 1, 5, &err) < 0) {
		cr_assert_eq(err.code, JM_EXIT_INPUT);
		cr_assert(strstr(err.msg, "gives no rows"), "%s", err.msg);
		return;
	}
	assert_partition(&s, n);
	cr_assert(val == 0 || s.n_val > 0);
	cr_assert(test == 0 || s.n_test > 0);
	class_counts(s.train, s.n_train, l, k, t);
	for (int c = 0; c < k; c++)
		cr_assert(all[c] == 0 || t[c] > 0, "n %lld val %g test %g: class %d has no "
			  "training row", (long long)n, val, test, c);
	jm_split_clear(&s);
}

/* The other edge: no fractions leave training empty.  Every split of a
 * few rows keeps a training row of each class present and gives each
 * part asked for a row, or is refused as above. */
Test(split, training_never_empty)
{
	static const double fr[] = {0, 0.01, 0.1, 0.15, 0.3, 0.49, 0.5, 0.7, 0.98};
	int nf = (int)(sizeof fr / sizeof *fr);
	for (int64_t n = 1; n <= 12; n++)
		for (int k = 1; k <= 3; k++)
			for (int a = 0; a < nf; a++)
				for (int b = 0; b < nf; b++)
					if (fr[a] + fr[b] < 1)
						check_small_split(n, k, fr[a], fr[b]);
}
