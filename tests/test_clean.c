/*
 * test_clean.c: every [clean] rule on small tables with expected values
 * worked out by hand, fit-on-train / apply-on-val, the saved state, the
 * data-quality report, and the spec errors.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/csv.h"
#include "pipeline/clean.h"
#include "frametest.h"

static void rules(jm_clean *c, const char *key, const char *value)
{
	jm_err err = {0};
	cr_assert_eq(jm_clean_parse(c, key, value, &err), 0, "%s = %s: %s", key, value, err.msg);
}

static void fit(jm_clean *c, jm_frame *f, jm_clean_report *rep)
{
	jm_err err = {0};
	cr_assert_eq(jm_clean_fit_apply(c, f, rep, &err), 0, "%s", err.msg);
}

static const char *txt(const jm_frame *f, const char *col, int64_t i)
{
	static char buf[64];
	return jm_col_text(jm_frame_col(f, col), i, buf, sizeof buf);
}

Test(clean, median_of_1_nan_3_4_is_3)
{
	jm_frame *f = table("x\n1\nNA\n3\n4\n");
	jm_clean c;
	jm_clean_init(&c);
	rules(&c, "missing", "median");
	jm_clean_report rep;
	fit(&c, f, &rep);
	cr_assert_eq(num(f, "x", 1), 3.0);
	cr_assert_eq(jm_frame_col(f, "x")->n_na, 0);
	cr_assert_eq(rep.nsteps, 1);
	cr_assert_str_eq(rep.steps[0].rule, "missing median");
	cr_assert_eq(rep.steps[0].values_changed, 1);
	cr_assert_str_eq(rep.steps[0].detail, "x = 3");
	jm_clean_report_clear(&rep);
	jm_clean_free(&c);
	jm_frame_free(f);
}

Test(clean, median_of_an_even_count_averages_the_middle_two)
{
	jm_frame *f = table("x\n10\nNA\n1\n3\n2\n");
	jm_clean c;
	jm_clean_init(&c);
	rules(&c, "missing", "median");
	fit(&c, f, NULL);
	cr_assert_eq(num(f, "x", 1), 2.5, "values 1 2 3 10: (2 + 3) / 2");
	jm_clean_free(&c);
	jm_frame_free(f);
}

Test(clean, mean_and_constant_fills)
{
	jm_frame *f = table("a,b,s\n1,,x\nNA,5,\n2,,x\n6,7,y\n");
	jm_clean c;
	jm_clean_init(&c);
	rules(&c, "missing", "mean: a; constant=-1: b; constant=unknown: s");
	fit(&c, f, NULL);
	cr_assert_eq(num(f, "a", 1), 3.0, "(1 + 2 + 6) / 3");
	cr_assert_eq(num(f, "b", 0), -1.0);
	cr_assert_eq(num(f, "b", 2), -1.0);
	cr_assert_eq(num(f, "b", 3), 7.0);
	cr_assert_str_eq(txt(f, "s", 1), "unknown");
	cr_assert_eq(jm_frame_col(f, "s")->n_na, 0);
	jm_clean_free(&c);
	jm_frame_free(f);
}

Test(clean, most_frequent_ties_go_to_the_smallest)
{
	jm_frame *f = table("n,s,b\n3,b,True\n1,a,False\n3,b,\n1,a,True\nNA,,False\n2,c,\n");
	jm_clean c;
	jm_clean_init(&c);
	rules(&c, "missing", "most_frequent");
	fit(&c, f, NULL);
	cr_assert_eq(num(f, "n", 4), 1.0, "1 and 3 twice each: 1");
	cr_assert_str_eq(txt(f, "s", 4), "a", "\"a\" and \"b\" twice each: \"a\"");
	cr_assert_eq(num(f, "b", 2), 0.0, "True and False twice each: False");
	cr_assert_eq(num(f, "b", 5), 0.0);
	jm_clean_free(&c);
	jm_frame_free(f);
}

Test(clean, sigma_flags_nothing_on_1_to_9_and_100_while_iqr_clips_100_to_14_5)
{
	const char *csv = "x\n1\n2\n3\n4\n5\n6\n7\n8\n9\n100\n";
	jm_frame *f = table(csv);
	jm_clean c;
	jm_clean_init(&c);
	rules(&c, "outliers", "sigma 3 clip");
	jm_clean_report rep;
	fit(&c, f, &rep);
	cr_assert_eq(rep.steps[0].values_changed, 0);
	cr_assert_eq(num(f, "x", 9), 100.0);
	/* mean 14.5, std (ddof=1) sqrt(8182.5 / 9) = 30.1523...: 14.5 +/- 90.457 */
	cr_assert_float_eq(c.rules[0].fit_b[0], 14.5 + 3 * sqrt(8182.5 / 9), 1e-12);
	jm_clean_report_clear(&rep);
	jm_clean_free(&c);
	jm_frame_free(f);

	f = table(csv);
	jm_clean_init(&c);
	rules(&c, "outliers", "iqr 1.5 clip");
	fit(&c, f, &rep);
	/* Q1 = 3.25, Q3 = 7.75, IQR 4.5: bounds -3.5 .. 14.5 */
	cr_assert_eq(c.rules[0].fit_a[0], -3.5);
	cr_assert_eq(c.rules[0].fit_b[0], 14.5);
	cr_assert_eq(num(f, "x", 9), 14.5);
	cr_assert_eq(num(f, "x", 0), 1.0);
	cr_assert_eq(rep.steps[0].values_changed, 1);
	cr_assert_str_eq(rep.steps[0].detail, "x in [-3.5, 14.5]");
	jm_clean_report_clear(&rep);
	jm_clean_free(&c);
	jm_frame_free(f);
}

Test(clean, sigma_clip_by_hand_and_iqr_drop)
{
	/* 0 0 0 0 10: mean 2, variance 80 / 4 = 20; k = 1: 10 -> 2 + sqrt(20) */
	jm_frame *f = table("x,y\n0,1\n0,2\n0,3\n0,4\n10,5\n");
	jm_clean c;
	jm_clean_init(&c);
	rules(&c, "outliers", "sigma 1 clip: x");
	fit(&c, f, NULL);
	cr_assert_float_eq(num(f, "x", 4), 2 + sqrt(20.0), 1e-15);
	cr_assert_eq(num(f, "y", 4), 5.0, "y was not named");
	jm_clean_free(&c);
	jm_frame_free(f);

	f = table("x,id\n1,a\n2,b\n3,c\n4,d\n5,e\n6,f\n7,g\n8,h\n9,i\n100,j\n");
	jm_clean_init(&c);
	rules(&c, "outliers", "iqr drop");
	jm_clean_report rep;
	fit(&c, f, &rep);
	cr_assert_eq(f->nrows, 9);
	cr_assert_eq(rep.steps[0].rows_dropped, 1);
	cr_assert_str_eq(txt(f, "id", 8), "i");
	jm_clean_report_clear(&rep);
	jm_clean_free(&c);
	jm_frame_free(f);
}

Test(clean, drop_rows_columns_and_duplicates)
{
	jm_frame *f = table("a,b,c,d\n1,x,,1\n2,y,,2\n1,x,,1\nNA,z,5,\n2,y,,2\n");
	jm_clean c;
	jm_clean_init(&c);
	rules(&c, "missing", "drop: a, b");
	rules(&c, "duplicates", "drop");
	rules(&c, "drop_columns", "0.5");
	jm_clean_report rep;
	fit(&c, f, &rep);
	/* stage order: drop_columns (c: 4/5 missing; d: 1/5 kept), duplicates
	 * (rows 3 and 5 repeat 1 and 2, missing c equal), then missing rows */
	cr_assert_str_eq(rep.steps[0].rule, "drop_columns > 0.5 missing");
	cr_assert_eq(rep.steps[0].cols_dropped, 1);
	cr_assert_null(jm_frame_col(f, "c"));
	cr_assert_str_eq(rep.steps[1].rule, "duplicates");
	cr_assert_eq(rep.steps[1].rows_dropped, 2);
	cr_assert_str_eq(rep.steps[2].rule, "missing drop: a, b");
	cr_assert_eq(rep.steps[2].rows_dropped, 1);
	cr_assert_eq(f->nrows, 2);
	cr_assert_eq(num(f, "a", 1), 2.0);
	cr_assert_eq(rep.before.rows, 5);
	cr_assert_eq(rep.after.rows, 2);
	cr_assert_eq(rep.after.ncols, 3);
	jm_clean_report_clear(&rep);
	jm_clean_free(&c);
	jm_frame_free(f);
}

Test(clean, dates_and_booleans)
{
	jm_csv_opts o;
	jm_csv_opts_init(&o);
	o.infer_dates = 0;
	o.infer_bool = 0;
	const char *csv = "d,e,flag,n\n2024-03-01,01/02/2023,yes,1\n2024-03-02 10:00,31/12/2022,N,0\n"
			  "soon,xx,maybe,2\n";
	jm_frame *f = NULL;
	jm_err err = {0};
	cr_assert_eq(jm_csv_parse(csv, strlen(csv), &o, &f, NULL, &err), 0);
	cr_assert_eq(jm_frame_col(f, "d")->type, JM_COL_STR);
	jm_clean c;
	jm_clean_init(&c);
	rules(&c, "dates", "d");
	rules(&c, "dates", "e format=%d/%m/%Y");
	rules(&c, "booleans", "flag, n");
	jm_clean_report rep;
	fit(&c, f, &rep);
	cr_assert_eq(jm_frame_col(f, "d")->type, JM_COL_TIME);
	cr_assert_str_eq(txt(f, "d", 1), "2024-03-02T10:00:00");
	cr_assert(jm_col_isna(jm_frame_col(f, "d"), 2));
	cr_assert_str_eq(txt(f, "e", 0), "2023-02-01T00:00:00");
	cr_assert_eq(rep.steps[0].values_changed, 1, "\"soon\" became missing");
	cr_assert_eq(jm_frame_col(f, "flag")->type, JM_COL_BOOL);
	cr_assert_eq(num(f, "flag", 0), 1.0);
	cr_assert_eq(num(f, "flag", 1), 0.0);
	cr_assert(jm_col_isna(jm_frame_col(f, "flag"), 2));
	cr_assert_eq(jm_frame_col(f, "n")->type, JM_COL_BOOL);
	cr_assert(jm_col_isna(jm_frame_col(f, "n"), 2), "2 is not a boolean");
	cr_assert_eq(rep.steps[2].values_changed, 2);
	jm_clean_report_clear(&rep);
	jm_clean_free(&c);
	jm_frame_free(f);

	f = table("d\nnot a date\nnope\n");
	jm_clean_init(&c);
	rules(&c, "dates", "d");
	cr_assert_eq(jm_clean_fit_apply(&c, f, NULL, &err), -1);
	cr_assert_str_eq(err.msg, "[clean] dates: no value of column \"d\" is a date (YYYY-MM-DD[ "
				  "HH:MM:SS]) (first: \"not a date\")");
	jm_clean_free(&c);
	jm_frame_free(f);
}

Test(clean, fitted_on_train_applied_to_val)
{
	jm_frame *train = table("x,s\n1,a\nNA,\n3,a\n100,b\n");
	jm_frame *val = table("x,s\n50,\nNA,c\n-7,c\n");
	jm_clean c;
	jm_clean_init(&c);
	rules(&c, "missing", "median: x; most_frequent: s");
	rules(&c, "outliers", "iqr 1.5 clip: x");
	fit(&c, train, NULL);
	/* train x: 1 3 100 -> median 3; after filling 1 3 3 100: Q1 2.5, Q3 27.25 */
	cr_assert_eq(num(train, "x", 1), 3.0);
	double lo = 2.5 - 1.5 * 24.75, hi = 27.25 + 1.5 * 24.75;
	cr_assert_eq(num(train, "x", 3), hi);
	jm_err err = {0};
	cr_assert_eq(jm_clean_apply(&c, val, NULL, &err), 0, "%s", err.msg);
	cr_assert_eq(num(val, "x", 1), 3.0, "the training median, not val's");
	cr_assert_eq(num(val, "x", 0), 50.0);
	cr_assert_eq(num(val, "x", 2), -7.0 < lo ? lo : -7.0);
	cr_assert_str_eq(txt(val, "s", 0), "a", "train's most frequent value, new to val's dictionary");

	/* the saved state replays the same numbers */
	char *text = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&text, &len);
	cr_assert_eq(jm_clean_save(&c, m, &err), 0);
	fclose(m);
	FILE *in = fmemopen(text, len, "r");
	jm_clean back;
	cr_assert_eq(jm_clean_load(&back, in, &err), 0, "%s\n%s", err.msg, text);
	fclose(in);
	jm_frame *val2 = table("x,s\n50,\nNA,c\n-7,c\n");
	cr_assert_eq(jm_clean_apply(&back, val2, NULL, &err), 0, "%s", err.msg);
	for (int64_t i = 0; i < 3; i++) {
		cr_assert_eq(num(val2, "x", i), num(val, "x", i));
		cr_assert_str_eq(txt(val2, "s", i), txt(val, "s", i));
	}
	/* a column the rules need is absent */
	jm_frame *other = table("y\n1\n");
	cr_assert_eq(jm_clean_apply(&back, other, NULL, &err), -1);
	cr_assert_str_eq(err.msg, "[clean] missing median: no column \"x\" (columns: y)");
	jm_frame_free(other);
	jm_frame_free(val2);
	jm_clean_free(&back);
	free(text);
	jm_clean_free(&c);
	jm_frame_free(train);
	jm_frame_free(val);
}

Test(clean, quality_report)
{
	jm_frame *f = table("x,s,t\n1,a,2024-01-01\n2,b,\n3,a,2024-01-03\n4,,2024-01-05\n5,a,"
			    "2024-01-02\n6,b,2024-01-04\n7,c,2024-01-06\n8,a,2024-01-07\n9,a,2024-01-08\n"
			    "100,b,2024-01-09\n");
	jm_quality q;
	jm_err err = {0};
	cr_assert_eq(jm_quality_compute(f, &q, &err), 0);
	jm_colstats *x = &q.cols[0], *s = &q.cols[1], *t = &q.cols[2];
	cr_assert_eq(x->count, 10);
	cr_assert_eq(x->unique, 10);
	cr_assert_eq(x->mean, 14.5);
	cr_assert_float_eq(x->std, sqrt(8182.5 / 9), 1e-12);
	cr_assert_eq(x->min, 1.0);
	cr_assert_eq(x->q25, 3.25);
	cr_assert_eq(x->q50, 5.5);
	cr_assert_eq(x->q75, 7.75);
	cr_assert_eq(x->max, 100.0);
	cr_assert_eq(s->missing, 1);
	cr_assert_eq(s->unique, 3);
	cr_assert_str_eq(s->top, "a");
	cr_assert_eq(s->top_freq, 5);
	cr_assert(isnan(s->mean));
	cr_assert_eq(t->type, JM_COL_TIME);
	cr_assert_eq(t->min, 1704067200.0, "2024-01-01 in seconds");
	char *text = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&text, &len);
	jm_quality_text(m, &q, "data quality");
	fclose(m);
	cr_assert(strstr(text, "data quality: 10 rows, 3 columns\n"), "%s", text);
	cr_assert(strstr(text, "top \"a\" (5)"), "%s", text);
	cr_assert(strstr(text, "2024-01-01T00:00:00"), "%s", text);
	free(text);
	jm_quality_clear(&q);

	jm_clean c;
	jm_clean_init(&c);
	rules(&c, "outliers", "iqr clip: x");
	jm_clean_report rep;
	fit(&c, f, &rep);
	m = open_memstream(&text, &len);
	jm_clean_report_json(m, &rep);
	fclose(m);
	cr_assert(strstr(text, "\"rules\": [{\"rule\": \"outliers iqr 1.5 clip: x\", \"rows_dropped\": 0, "
			       "\"values_changed\": 1, \"columns_dropped\": 0, \"detail\": \"x in [-3.5, 14.5]\"}]"),
		  "%s", text);
	cr_assert(strstr(text, "\"after\": {\"rows\": 10"), "%s", text);
	cr_assert(strstr(text, "\"max\": 14.5"), "%s", text);
	free(text);
	jm_clean_report_clear(&rep);
	jm_clean_free(&c);
	jm_frame_free(f);
}

/* inf in a CSV is a number (as pandas reads it), but the report says
 * how many there are and where the first is, and gives the statistics
 * pandas gives: mean inf (or NaN with both signs), std NaN, min -inf. */
Test(clean, quality_report_counts_infinite_values)
{
	jm_frame *f = table("x,y\n1,1\n2,inf\n3,2\n-inf,3\n5,Infinity\n");
	jm_quality q;
	jm_err err = {0};
	cr_assert_eq(jm_quality_compute(f, &q, &err), 0);
	jm_colstats *x = &q.cols[0], *y = &q.cols[1];
	cr_assert_eq(x->count, 5);
	cr_assert_eq(x->infinite, 1);
	cr_assert_eq(x->first_inf, 3);
	cr_assert(isinf(x->min) && x->min < 0, "min %g", x->min);
	cr_assert_eq(x->q25, 1.0);
	cr_assert(isnan(x->std), "std %g, not the 0 of summing NaN as 0", x->std);
	cr_assert_eq(y->infinite, 2);
	cr_assert_eq(y->first_inf, 1);
	cr_assert(isinf(y->mean) && y->mean > 0);
	cr_assert_eq(y->min, 1.0);
	q.cols[1].inf_line = 3; /* what tabular.c fills in from the CSV */
	char *text = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&text, &len);
	jm_quality_text(m, &q, "data quality");
	fclose(m);
	cr_assert(strstr(text, "\n  column \"x\": 1 infinite value (the first at row 4); [data] "
			       "na_values = inf, -inf reads them as missing\n"), "%s", text);
	cr_assert(strstr(text, "\n  column \"y\": 2 infinite values (the first at line 3); "), "%s",
		  text);
	free(text);
	jm_clean_report rep = {.before = q};
	m = open_memstream(&text, &len);
	jm_clean_report_json(m, &rep);
	fclose(m);
	cr_assert(strstr(text, "\"max\": null, \"infinite\": 2, \"first_infinite_line\": 3}"), "%s",
		  text);
	free(text);
	jm_quality_clear(&q);
	jm_frame_free(f);
}

Test(clean, spec_errors)
{
	static const struct {
		const char *key, *value, *msg;
	} bad[] = {
		{"missing", "avg", "missing: unknown method \"avg\" (expected mean, median, most_frequent, constant=VALUE or drop)"},
		{"missing", "", "missing: expected a method"},
		{"outliers", "zscore", "outliers: unknown method \"zscore\" (expected sigma or iqr)"},
		{"outliers", "sigma -1", "outliers: sigma: expected k > 0, got \"-1\""},
		{"outliers", "iqr 1.5 cut", "outliers: expected clip or drop, got \"cut\""},
		{"drop_columns", "1.5", "drop_columns: expected a fraction in 0..1, got \"1.5\""},
		{"duplicates", "maybe", "duplicates: expected drop or keep, got \"maybe\""},
		{"dates", "", "dates: expected column names"},
		{"booleans", "a,,b", "booleans: empty column name in the list"},
		{"impute", "mean", "[clean] unknown key \"impute\""},
	};
	for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
		jm_clean c;
		jm_clean_init(&c);
		jm_err err = {0};
		cr_assert_eq(jm_clean_parse(&c, bad[k].key, bad[k].value, &err), -1, "%s", bad[k].value);
		cr_assert_eq(err.code, JM_EXIT_INPUT);
		cr_assert_str_eq(err.msg, bad[k].msg);
		jm_clean_free(&c);
	}
	/* errors found when fitting */
	jm_frame *f = table("s,x\na,1\nb,2\n");
	jm_clean c;
	jm_clean_init(&c);
	rules(&c, "missing", "median: s");
	jm_err err = {0};
	cr_assert_eq(jm_clean_fit_apply(&c, f, NULL, &err), -1);
	cr_assert_str_eq(err.msg, "[clean] missing median: column \"s\" is string, not numeric");
	jm_clean_free(&c);
	jm_clean_init(&c);
	rules(&c, "missing", "constant=abc: x");
	cr_assert_eq(jm_clean_fit_apply(&c, f, NULL, &err), -1, "refused even with nothing missing");
	cr_assert_str_eq(err.msg, "[clean] missing constant=abc: column \"x\" is numeric; expected a number");
	jm_clean_free(&c);
	jm_clean_init(&c);
	rules(&c, "outliers", "sigma: nope");
	cr_assert_eq(jm_clean_fit_apply(&c, f, NULL, &err), -1);
	cr_assert_str_eq(err.msg, "[clean] outliers sigma: no column \"nope\" (columns: s, x)");
	jm_clean_free(&c);
	jm_frame_free(f);
	/* a malformed saved state */
	FILE *in = fmemopen((void *)"jianmo-clean 1 1\nrule 99 0 0 null 0 0\n", 38, "r");
	cr_assert_eq(jm_clean_load(&c, in, &err), -1);
	cr_assert_str_eq(err.msg, "[clean] state: line 2: malformed");
	fclose(in);
}

/* tabular.c's stand-in: where a key was written, here "t.flow:<key>" */
static void locate_as_key(void *ctx, const char *key, jm_err *err)
{
	(*(int *)ctx)++;
	jm_err_prefix(err, "t.flow:<%s>", key);
}

/* An error of a rule is handed to the caller to locate at the rule's spec
 * key, when fitting and when applying; "no column" lists the columns. */
Test(clean, rule_errors_are_located_at_their_key)
{
	static const struct {
		const char *key, *value, *msg;
	} bad[] = {
		{"missing", "median: body_mass", "t.flow:<missing>: [clean] missing median: no column "
						 "\"body_mass\" (columns: s, x, d)"},
		{"missing", "mean: s", "t.flow:<missing>: [clean] missing mean: column \"s\" is string, "
				       "not numeric"},
		{"outliers", "iqr drop: y", "t.flow:<outliers>: [clean] outliers iqr: no column \"y\" "
					    "(columns: s, x, d)"},
		{"dates", "s", "t.flow:<dates>: [clean] dates: no value of column \"s\" is a date "
			       "(YYYY-MM-DD[ HH:MM:SS]) (first: \"a\")"},
		{"booleans", "d", "t.flow:<booleans>: [clean] booleans: column \"d\" holds dates"},
	};
	for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
		jm_frame *f = table("s,x,d\na,1,2024-01-02\nb,2,2024-01-03\n");
		jm_clean c;
		int calls = 0;
		jm_clean_init(&c);
		rules(&c, "dates", "d");
		rules(&c, bad[k].key, bad[k].value);
		c.locate = locate_as_key;
		c.locate_ctx = &calls;
		jm_err err = {0};
		cr_assert_eq(jm_clean_fit_apply(&c, f, NULL, &err), -1, "%s", bad[k].value);
		cr_expect_eq(err.code, JM_EXIT_INPUT);
		cr_expect_str_eq(err.msg, bad[k].msg);
		cr_expect_eq(calls, 1, "located once: %s", err.msg);
		jm_clean_free(&c);
		jm_frame_free(f);
	}
	/* applied to rows without the column */
	jm_frame *train = table("x\n1\nNA\n3\n"), *other = table("y\n1\n");
	jm_clean c;
	int calls = 0;
	jm_err err = {0};
	jm_clean_init(&c);
	rules(&c, "missing", "median: x");
	fit(&c, train, NULL);
	c.locate = locate_as_key;
	c.locate_ctx = &calls;
	cr_assert_eq(jm_clean_apply(&c, other, NULL, &err), -1);
	cr_expect_str_eq(err.msg, "t.flow:<missing>: [clean] missing median: no column \"x\" "
				  "(columns: y)");
	jm_clean_free(&c);
	jm_frame_free(train);
	jm_frame_free(other);
}

/* The list of columns stays readable for a wide file: 30 names at most,
 * fewer when they are long, then how many more there are. */
Test(clean, no_column_lists_a_wide_frame_in_short)
{
	jm_frame *f = jm_frame_new(1);
	jm_err err = {0};
	char want[1024] = "[features] onehot: no column \"kolumn_7\" (did you mean \"column_7\"?) "
			  "(columns: ";
	for (int j = 0; j < 50; j++) {
		char name[32];
		snprintf(name, sizeof name, "column_%d", j);
		cr_assert_not_null(jm_frame_add(f, name, JM_COL_F64, &err), "%s", err.msg);
		if (j < 30)
			snprintf(want + strlen(want), sizeof want - strlen(want), "%s%s", j ? ", " : "",
				 name);
	}
	strcat(want, ", ... and 20 more)");
	cr_assert_eq(jm_no_column(&err, f, "[features] onehot", "kolumn_7"), -1);
	cr_expect_eq(err.code, JM_EXIT_INPUT);
	cr_expect_str_eq(err.msg, want);
	jm_frame_free(f);

	/* long names: as many as fit in about 320 characters */
	f = jm_frame_new(1);
	char name[128];
	for (int j = 0; j < 20; j++) {
		snprintf(name, sizeof name, "%c%079d", 'a' + j, j);
		cr_assert_not_null(jm_frame_add(f, name, JM_COL_F64, &err), "%s", err.msg);
	}
	jm_no_column(&err, f, "[clean] dates", "ts");
	char tail[128];
	snprintf(tail, sizeof tail, "(columns: %s, ", f->cols[0]->name);
	cr_expect(strstr(err.msg, tail), "%s", err.msg);
	snprintf(tail, sizeof tail, ", %s, ... and 17 more)", f->cols[2]->name);
	cr_expect(strstr(err.msg, tail), "%s", err.msg);
	jm_frame_free(f);
	/* and a frame with none */
	f = jm_frame_new(0);
	jm_no_column(&err, f, "[clean] dates", "ts");
	cr_expect_str_eq(err.msg, "[clean] dates: no column \"ts\" (columns: none)");
	jm_frame_free(f);
}

/* A close column name is offered ("did you mean"), whatever the width
 * of the file; not for one or two letters off a short name (x1 for x3, y
 * for s), and names are quoted with bad bytes escaped. */
Test(clean, no_column_offers_the_closest_name)
{
	jm_frame *f = table("a,b,y,species,x1,x2\n1,2,3,a,1,2\n");
	jm_err err = {0};
	cr_assert_eq(jm_no_column(&err, f, "[data] target", "Y"), -1);
	cr_expect_str_eq(err.msg, "[data] target: no column \"Y\" (did you mean \"y\"?) (columns: a, b, "
				  "y, species, x1, x2)");
	jm_no_column(&err, f, "[clean] missing", "specis");
	cr_expect(strstr(err.msg, "no column \"specis\" (did you mean \"species\"?) (columns: "), "%s",
		  err.msg);
	jm_no_column(&err, f, "[clean] missing", "sp\xe9" "cies");
	cr_expect(strstr(err.msg, "no column \"sp\\xe9cies\" (did you mean \"species\"?)"), "%s",
		  err.msg);
	jm_no_column(&err, f, "[clean] missing", "s");
	cr_expect(strstr(err.msg, "no column \"s\" (columns: "), "%s", err.msg);
	jm_no_column(&err, f, "[clean] missing", "x3");
	cr_expect(strstr(err.msg, "no column \"x3\" (columns: "), "%s", err.msg);
	jm_no_column(&err, f, "[clean] missing", "weight");
	cr_expect(strstr(err.msg, "no column \"weight\" (columns: "), "%s", err.msg);
	jm_frame_free(f);

	/* 1000 columns: the list stays short, the suggestion comes from all */
	f = jm_frame_new(1);
	for (int j = 0; j < 1000; j++) {
		char name[32];
		snprintf(name, sizeof name, "feature_%03d", j);
		cr_assert_not_null(jm_frame_add(f, name, JM_COL_F64, &err), "%s", err.msg);
	}
	jm_no_column(&err, f, "[features] standardize", "featur_917");
	cr_expect(!strncmp(err.msg, "[features] standardize: no column \"featur_917\" (did you mean "
				    "\"feature_917\"?) (columns: feature_000, ", 88), "%s", err.msg);
	cr_expect(strstr(err.msg, ", ... and 976 more)"), "%s", err.msg);
	cr_expect_lt(strlen(err.msg), 500);
	jm_frame_free(f);
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

Test(clean, stats_match_hand_values)
{
	double x[] = {2, NAN, 4, 4, 4, 5, 5, 7, 9};
	int64_t n;
	cr_assert_eq(jm_stat_mean(x, 9, &n), 5.0);
	cr_assert_eq(n, 8);
	cr_assert_eq(jm_stat_var(x, 9, 0), 4.0);
	cr_assert_float_eq(jm_stat_var(x, 9, 1), 32.0 / 7, 1e-15);
	double qs[3] = {0, 0.5, 1}, q[3];
	cr_assert_eq(jm_stat_quantiles(x, 9, qs, 3, q, NULL), 0);
	cr_assert_eq(q[0], 2.0);
	cr_assert_eq(q[1], 4.5);
	cr_assert_eq(q[2], 9.0);
	/* a large sample through the selection path equals a full sort */
	int64_t big = 100001;
	double *v = malloc((size_t)big * sizeof *v), *s = malloc((size_t)big * sizeof *s);
	uint64_t r = 7;
	for (int64_t i = 0; i < big; i++) {
		r = r * 6364136223846793005ull + 1;
		v[i] = (double)(r >> 40) / 1000.0;
		s[i] = v[i];
	}
	double qq[3] = {0.1, 0.5, 0.9}, got[3];
	cr_assert_eq(jm_stat_quantiles(v, big, qq, 3, got, NULL), 0);
	qsort(s, (size_t)big, sizeof *s, cmp);
	cr_assert_eq(got[0], s[10000]);
	cr_assert_eq(got[1], s[50000]);
	cr_assert_eq(got[2], s[90000]);
	free(v);
	free(s);
}
