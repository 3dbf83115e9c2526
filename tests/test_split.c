/*
 * test_split.c: stratified, seeded splits: sizes, class proportions,
 * disjoint and covering parts, order, determinism, seeds, edge cases and
 * errors.
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
