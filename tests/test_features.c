/*
 * test_features.c: every [features] step on small tables with values
 * worked out by hand, fitting on train and applying to val, the model
 * matrix and target, the saved state, and the spec errors.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/csv.h"
#include "data/split.h"
#include "pipeline/clean.h"
#include "pipeline/features.h"
#include "frametest.h"

static void spec(jm_features *fs, const char *key, const char *value)
{
	jm_err err = {0};
	cr_assert_eq(jm_features_parse(fs, key, value, &err), 0, "%s = %s: %s", key, value, err.msg);
}

static void fit(jm_features *fs, jm_frame *f)
{
	jm_err err = {0};
	cr_assert_eq(jm_features_fit_apply(fs, f, &err), 0, "%s", err.msg);
}

static void apply(const jm_features *fs, jm_frame *f)
{
	jm_err err = {0};
	cr_assert_eq(jm_features_apply(fs, f, &err), 0, "%s", err.msg);
}

#define assert_nan(f, col, i) cr_assert(isnan(num(f, col, i)), "%s[%d] = %g", col, (int)(i), num(f, col, i))

Test(features, rolling_3_std_of_1_2_3_4_is_nan_nan_1_1)
{
	jm_frame *f = table("x\n1\n2\n3\n4\n");
	jm_features fs;
	jm_features_init(&fs);
	spec(&fs, "rolling", "x window=3 stats=mean,std,min,max");
	spec(&fs, "missing", "zero");
	fit(&fs, f);
	assert_nan(f, "x_roll3_std", 0);
	assert_nan(f, "x_roll3_std", 1);
	cr_assert_eq(num(f, "x_roll3_std", 2), 1.0);
	cr_assert_eq(num(f, "x_roll3_std", 3), 1.0);
	assert_nan(f, "x_roll3_mean", 1);
	cr_assert_eq(num(f, "x_roll3_mean", 2), 2.0);
	cr_assert_eq(num(f, "x_roll3_mean", 3), 3.0);
	cr_assert_eq(num(f, "x_roll3_min", 3), 2.0);
	cr_assert_eq(num(f, "x_roll3_max", 3), 4.0);
	cr_assert_eq(jm_frame_col(f, "x_roll3_std")->n_na, 2);
	jm_features_free(&fs);
	jm_frame_free(f);
}

Test(features, rolling_and_lag_per_group_in_row_order)
{
	/* a: 1 2 3 4 at rows 0 2 4 6; b: 10 20 30 at rows 1 3 5; a NaN in a */
	jm_frame *f = table("g,x\na,1\nb,10\na,2\nb,20\na,\nb,30\na,4\na,5\n");
	jm_features fs;
	jm_features_init(&fs);
	spec(&fs, "rolling", "x window=2 by=g");
	spec(&fs, "lag", "x k=1 by=g");
	spec(&fs, "missing", "zero");
	fit(&fs, f);
	assert_nan(f, "x_roll2_mean", 0);
	cr_assert_eq(num(f, "x_roll2_mean", 2), 1.5);
	assert_nan(f, "x_roll2_mean", 4);
	assert_nan(f, "x_roll2_mean", 6);
	cr_assert_eq(num(f, "x_roll2_mean", 7), 4.5);
	assert_nan(f, "x_roll2_mean", 1);
	cr_assert_eq(num(f, "x_roll2_mean", 3), 15.0);
	cr_assert_eq(num(f, "x_roll2_mean", 5), 25.0);
	assert_nan(f, "x_lag1", 0);
	assert_nan(f, "x_lag1", 1);
	cr_assert_eq(num(f, "x_lag1", 2), 1.0);
	cr_assert_eq(num(f, "x_lag1", 3), 10.0);
	assert_nan(f, "x_lag1", 6);
	cr_assert_eq(num(f, "x_lag1", 7), 4.0);
	jm_features_free(&fs);
	jm_frame_free(f);
}

/* Enough rows that the file-order windows run as two row ranges (the
 * second replays the first's rows): every value must be what one pass over
 * each group's values gives. */
Test(features, rolling_and_lag_split_in_two_ranges_match_one_pass)
{
	enum { N = 300000, G = 997, W = 3 };
	jm_err err = {0};
	jm_frame *f = jm_frame_new(N);
	jm_col *g = jm_frame_add(f, "g", JM_COL_I64, &err);
	jm_col *x = jm_frame_add(f, "x", JM_COL_F64, &err);
	cr_assert(g && x, "%s", err.msg);
	for (int64_t i = 0; i < N; i++) {
		g->v.i64[i] = (i * 7919) % G;
		x->v.f64[i] = i % 1013 == 5 ? NAN : (double)((i * 31) % 1000) / 8 - 40;
	}
	jm_col_sync_na(x, N);
	jm_features fs;
	jm_features_init(&fs);
	spec(&fs, "rolling", "x window=3 by=g stats=mean,std,min,max");
	spec(&fs, "lag", "x k=2 by=g");
	fit(&fs, f);
	const jm_col *mean = jm_frame_col(f, "x_roll3_mean"), *sd = jm_frame_col(f, "x_roll3_std"),
		     *lo = jm_frame_col(f, "x_roll3_min"), *hi = jm_frame_col(f, "x_roll3_max"),
		     *lag = jm_frame_col(f, "x_lag2");
	cr_assert(mean && sd && lo && hi && lag);
	/* each group's last W values in a ring (value p at slot p % W, summed
	 * in slot order as jianmo does: the results must be equal, not close) */
	double *ring = calloc((size_t)G * W, sizeof *ring);
	int64_t *seen = calloc(G, sizeof *seen);
	int64_t bad = 0;
	for (int64_t i = 0; i < N; i++) {
		int64_t k = g->v.i64[i], p = seen[k]++;
		double *r = ring + k * W;
		double want_lag = p >= 2 ? r[(p - 2) % W] : NAN;
		r[p % W] = x->v.f64[i];
		double s = 0, ss = 0, mn = r[0], mx = r[0];
		for (int q = 0; q < W; q++) {
			s += r[q];
			mn = r[q] < mn ? r[q] : mn;
			mx = r[q] > mx ? r[q] : mx;
		}
		int full = p + 1 >= W && !isnan(s);
		double m = s / W;
		for (int q = 0; q < W; q++)
			ss += (r[q] - m) * (r[q] - m);
		const jm_col *c[] = {mean, sd, lo, hi};
		double want[] = {m, sqrt(ss / (W - 1)), mn, mx};
		for (int q = 0; q < 4; q++)
			bad += full ? c[q]->v.f64[i] != want[q] : !isnan(c[q]->v.f64[i]);
		bad += isnan(want_lag) ? !isnan(lag->v.f64[i]) : lag->v.f64[i] != want_lag;
	}
	cr_assert_eq(bad, 0, "%lld values differ from one pass", (long long)bad);
	free(ring);
	free(seen);
	jm_features_free(&fs);
	jm_frame_free(f);
}

Test(features, rolling_in_time_order)
{
	/* rows out of time order: sorted by t the values are 1 2 3 */
	jm_frame *f = table("t,x\n2024-01-03,3\n2024-01-01,1\n2024-01-02,2\n");
	jm_features fs;
	jm_features_init(&fs);
	spec(&fs, "rolling", "x window=2 order=t stats=max");
	spec(&fs, "lag", "x k=1 order=t");
	spec(&fs, "drop", "t");
	spec(&fs, "missing", "zero");
	fit(&fs, f);
	cr_assert_eq(num(f, "x_roll2_max", 0), 3.0);
	assert_nan(f, "x_roll2_max", 1);
	cr_assert_eq(num(f, "x_roll2_max", 2), 2.0);
	cr_assert_eq(num(f, "x_lag1", 0), 2.0);
	cr_assert_eq(num(f, "x_lag1", 2), 1.0);
	jm_features_free(&fs);
	jm_frame_free(f);
}

Test(features, scalers_fit_on_train_apply_to_val)
{
	jm_frame *train = table("a,b,c,d\n1,2,5,0\n2,4,5,1.718281828459045\n3,6,5,-1\n4,4,5,3\n");
	jm_frame *val = table("a,b,c,d\n5,8,7,0\n");
	jm_features fs;
	jm_features_init(&fs);
	spec(&fs, "standardize", "a, c");
	spec(&fs, "minmax", "b");
	spec(&fs, "log1p", "d");
	spec(&fs, "missing", "zero");
	fit(&fs, train);
	/* a: mean 2.5, std (ddof=0) sqrt(1.25) */
	double sd = sqrt(1.25);
	cr_assert_float_eq(num(train, "a", 0), -1.5 / sd, 1e-15);
	cr_assert_float_eq(num(train, "a", 3), 1.5 / sd, 1e-15);
	cr_assert_eq(num(train, "c", 2), 0.0, "a constant column gives 0");
	cr_assert_eq(num(train, "b", 0), 0.0);
	cr_assert_eq(num(train, "b", 1), 0.5);
	cr_assert_eq(num(train, "b", 2), 1.0);
	cr_assert_eq(num(train, "d", 0), 0.0);
	cr_assert_float_eq(num(train, "d", 1), 1.0, 1e-15);
	assert_nan(train, "d", 2);
	apply(&fs, val);
	cr_assert_float_eq(num(val, "a", 0), 2.5 / sd, 1e-15, "train's mean and std");
	cr_assert_eq(num(val, "c", 0), 2.0, "constant in train: scale 1, shift 5");
	cr_assert_eq(num(val, "b", 0), 1.5, "(8 - 2) / (6 - 2)");
	jm_features_free(&fs);
	jm_frame_free(train);
	jm_frame_free(val);
}

Test(features, onehot_unknown_is_all_zeros_and_ordinal)
{
	jm_frame *train = table("id,city,size\n1,rome,lo\n2,oslo,hi\n3,rome,mid\n4,,lo\n");
	jm_frame *val = table("id,city,size\n5,lima,huge\n6,oslo,hi\n");
	jm_features fs;
	jm_features_init(&fs);
	spec(&fs, "onehot", "city");
	spec(&fs, "ordinal", "size");
	fit(&fs, train);
	/* city is replaced, in place, by its sorted categories */
	cr_assert_eq(train->ncols, 4);
	cr_assert_str_eq(train->cols[1]->name, "city_oslo");
	cr_assert_str_eq(train->cols[2]->name, "city_rome");
	cr_assert_eq(train->cols[1]->type, JM_COL_BOOL);
	cr_assert_eq(num(train, "city_rome", 0), 1.0);
	cr_assert_eq(num(train, "city_oslo", 0), 0.0);
	cr_assert_eq(num(train, "city_oslo", 3) + num(train, "city_rome", 3), 0.0, "missing: zeros");
	/* sizes sorted: hi 0, lo 1, mid 2 */
	cr_assert_eq(num(train, "size", 0), 1.0);
	cr_assert_eq(num(train, "size", 1), 0.0);
	cr_assert_eq(num(train, "size", 2), 2.0);
	apply(&fs, val);
	cr_assert_eq(num(val, "city_oslo", 0) + num(val, "city_rome", 0), 0.0, "lima: unknown");
	cr_assert_eq(num(val, "city_oslo", 1), 1.0);
	cr_assert_eq(num(val, "size", 0), -1.0, "unknown category");
	cr_assert_eq(fs.ninputs, 4);
	jm_features_free(&fs);
	jm_frame_free(train);
	jm_frame_free(val);
}

Test(features, quantile_bins)
{
	jm_frame *train = table("x\n1\n2\n3\n4\n5\n6\n7\n8\n");
	jm_frame *val = table("x\n100\n-5\n4.5\n");
	jm_features fs;
	jm_features_init(&fs);
	spec(&fs, "bins", "x n=4");
	fit(&fs, train);
	/* edges 1, 2.75, 4.5, 6.25, 8 */
	const jm_feat_fit *ft = &fs.steps[0].fit[0];
	cr_assert_eq(ft->nnum, 5);
	cr_assert_eq(ft->num[1], 2.75);
	cr_assert_eq(ft->num[2], 4.5);
	int64_t want[] = {0, 0, 1, 1, 2, 2, 3, 3};
	for (int i = 0; i < 8; i++)
		cr_assert_eq(num(train, "x", i), (double)want[i], "row %d", i);
	apply(&fs, val);
	cr_assert_eq(num(val, "x", 0), 3.0);
	cr_assert_eq(num(val, "x", 1), 0.0);
	cr_assert_eq(num(val, "x", 2), 2.0, "an edge value goes right");
	jm_features_free(&fs);
	jm_frame_free(train);
	jm_frame_free(val);
}

Test(features, date_parts)
{
	jm_frame *f = table("t\n2024-03-15T13:45:00\n1970-01-01\n1969-12-31T23:00:00\n");
	jm_features fs;
	jm_features_init(&fs);
	spec(&fs, "dates", "t");
	spec(&fs, "drop", "t");
	fit(&fs, f);
	cr_assert_eq(num(f, "t_year", 0), 2024.0);
	cr_assert_eq(num(f, "t_month", 0), 3.0);
	cr_assert_eq(num(f, "t_day", 0), 15.0);
	cr_assert_eq(num(f, "t_weekday", 0), 4.0, "a Friday (Monday = 0, as pandas)");
	cr_assert_eq(num(f, "t_hour", 0), 13.0);
	cr_assert_eq(num(f, "t_weekday", 1), 3.0, "a Thursday");
	cr_assert_eq(num(f, "t_weekday", 2), 2.0);
	cr_assert_eq(num(f, "t_hour", 2), 23.0);
	cr_assert_eq(num(f, "t_year", 2), 1969.0);
	jm_features_free(&fs);
	jm_frame_free(f);
}

Test(features, products_ratios_poly2_in_scikit_learn_order)
{
	jm_frame *f = table("a,b,c\n2,3,4\n1,0,5\n");
	jm_features fs;
	jm_features_init(&fs);
	spec(&fs, "poly2", "a, b, c");
	fit(&fs, f);
	/* PolynomialFeatures(2, include_bias=False): a b c a^2 ab ac b^2 bc c^2 */
	const char *want[] = {"a", "b", "c", "a^2", "a*b", "a*c", "b^2", "b*c", "c^2"};
	cr_assert_eq(f->ncols, 9);
	for (int j = 0; j < 9; j++)
		cr_assert_str_eq(f->cols[j]->name, want[j]);
	double row0[] = {2, 3, 4, 4, 6, 8, 9, 12, 16};
	for (int j = 0; j < 9; j++)
		cr_assert_eq(num(f, want[j], 0), row0[j], "%s", want[j]);
	jm_features_free(&fs);
	jm_frame_free(f);

	f = table("a,b,c\n2,3,4\n1,0,5\n");
	jm_features_init(&fs);
	spec(&fs, "products", "a, b, c");
	spec(&fs, "ratios", "a, b");
	spec(&fs, "missing", "zero");
	fit(&fs, f);
	const char *pw[] = {"a", "b", "c", "a*b", "a*c", "b*c", "a/b"};
	cr_assert_eq(f->ncols, 7);
	for (int j = 0; j < 7; j++)
		cr_assert_str_eq(f->cols[j]->name, pw[j]);
	cr_assert_eq(num(f, "a*c", 1), 5.0);
	cr_assert_eq(num(f, "b*c", 0), 12.0);
	cr_assert_float_eq(num(f, "a/b", 0), 2.0 / 3.0, 1e-16);
	assert_nan(f, "a/b", 1);
	jm_features_free(&fs);
	jm_frame_free(f);
}

Test(features, matrix_target_and_missing_policies)
{
	jm_frame *train = table("id,x,name,label\n1,0.5,a,yes\n2,1.5,b,no\n3,,c,yes\n4,2.5,d,\n");
	jm_features fs;
	jm_features_init(&fs);
	spec(&fs, "target", "label");
	spec(&fs, "drop", "id");
	fit(&fs, train);
	cr_assert(fs.classification, "text target: classes");
	cr_assert_eq(fs.nclasses, 2);
	cr_assert_str_eq(fs.classes[0], "no");
	cr_assert_str_eq(fs.classes[1], "yes");
	cr_assert_eq(fs.ninputs, 1);
	cr_assert_str_eq(fs.inputs[0], "x");
	cr_assert_eq(fs.nnotes, 1);
	cr_assert_str_eq(fs.notes[0], "column \"name\" (string) is not a model input: encode it with onehot or ordinal");
	jm_matrix m;
	jm_err err = {0};
	cr_assert_eq(jm_features_matrix(&fs, train, NULL, &m, &err), -1);
	cr_assert_str_eq(err.msg, "[features] input column \"x\" is missing in 1 of 4 rows; fill it "
				  "in [clean] or set [features] missing = zero or drop");
	cr_assert_eq(m.bad_row, 2, "the row of the missing value");
	/* the caller names the rows */
	cr_assert_eq(jm_features_matrix(&fs, train, "validation", &m, &err), -1);
	cr_assert_str_eq(err.msg, "[features] input column \"x\" is missing in 1 of the 4 validation "
				  "rows; fill it in [clean] or set [features] missing = zero or drop");
	free(fs.missing);
	fs.missing = strdup("zero");
	cr_assert_eq(jm_features_matrix(&fs, train, NULL, &m, &err), 0, "%s", err.msg);
	cr_assert_eq(m.rows, 3, "the row without a label is left out");
	cr_assert_eq(m.dropped, 1);
	cr_assert_eq(m.zeroed, 1);
	cr_assert_eq(m.cols, 1);
	cr_assert_eq(m.x[2], 0.0f);
	cr_assert_eq(m.y_class[0], 1);
	cr_assert_eq(m.y_class[1], 0);
	jm_matrix_free(&m);
	free(fs.missing);
	fs.missing = strdup("drop");
	cr_assert_eq(jm_features_matrix(&fs, train, NULL, &m, &err), 0);
	cr_assert_eq(m.rows, 2);
	cr_assert_eq(m.x[1], 1.5f);
	jm_matrix_free(&m);
	jm_frame *val = table("id,x,name,label\n9,1,z,maybe\n");
	cr_assert_eq(jm_features_matrix(&fs, val, NULL, &m, &err), -1);
	cr_assert_str_eq(err.msg, "[features] target \"label\": class \"maybe\" was not in the training data");
	cr_assert_eq(m.bad_row, 0);
	cr_assert_eq(jm_features_matrix(&fs, val, "test", &m, &err), -1);
	cr_assert_str_eq(err.msg, "[features] target \"label\": class \"maybe\" (in the test rows) was "
				  "not in the training data");
	jm_frame_free(val);
	jm_features_free(&fs);
	jm_frame_free(train);

	/* numeric targets: few integers are classes, the rest regression */
	jm_frame *f = table("x,y,z\n1,0,0.5\n2,1,1.5\n3,1,2.25\n");
	jm_features_init(&fs);
	spec(&fs, "target", "y");
	fit(&fs, f);
	cr_assert(fs.classification);
	cr_assert_str_eq(fs.classes[1], "1");
	jm_features_free(&fs);
	jm_features_init(&fs);
	spec(&fs, "target", "z");
	fit(&fs, f);
	cr_assert(!fs.classification);
	cr_assert_eq(jm_features_matrix(&fs, f, NULL, &m, &err), 0);
	cr_assert_eq(m.y_value[2], 2.25f);
	cr_assert_eq(m.cols, 2);
	jm_matrix_free(&m);
	jm_features_free(&fs);
	jm_frame_free(f);
}

/* inf is a number to the reader but not to a model: the matrix refuses
 * it by name and count (not as "missing"), whatever [features] missing
 * says, and points at [data] na_values; a scaler is fitted on the finite
 * values so the infinity stays one instead of turning every value NaN. */
Test(features, infinite_values_are_named_not_called_missing)
{
	jm_frame *train = table("x,b,label\n1,0.5,p\n2,inf,q\n3,1.5,p\n4,-inf,q\n5,2,p\n6,,q\n");
	jm_features fs;
	jm_features_init(&fs);
	spec(&fs, "target", "label");
	spec(&fs, "standardize", "x, b");
	fit(&fs, train);
	cr_assert_float_eq(fs.steps[0].fit[1].num[0], 4.0 / 3, 1e-12, "mean of 0.5, 1.5, 2");
	cr_assert(isfinite(fs.steps[0].fit[1].num[1]));
	cr_assert(isinf(num(train, "b", 1)) && num(train, "b", 1) > 0);
	cr_assert(isinf(num(train, "b", 3)) && num(train, "b", 3) < 0);
	cr_assert(!isnan(num(train, "b", 0)));
	jm_matrix m;
	jm_err err = {0};
	free(fs.missing);
	fs.missing = strdup("zero");
	cr_assert_eq(jm_features_matrix(&fs, train, "training", &m, &err), -1);
	cr_assert_str_eq(err.msg, "[features] input column \"b\" has 2 infinite values among the 6 "
				  "training rows; a model needs finite numbers: read them as missing "
				  "with [data] na_values = inf, -inf (as the file spells them), then "
				  "fill them in [clean]");
	cr_assert_eq(m.bad_row, 1, "the first infinite value's row");
	cr_assert(!m.bad_missing);
	/* one in a row the model does not get (missing = drop) is no error */
	free(fs.missing);
	fs.missing = strdup("drop");
	jm_frame *val = table("x,b,label\n,inf,p\n2,0.5,q\n3,1,p\n");
	apply(&fs, val);
	cr_assert_eq(jm_features_matrix(&fs, val, NULL, &m, &err), 0, "%s", err.msg);
	cr_assert_eq(m.rows, 2);
	jm_matrix_free(&m);
	jm_frame_free(val);
	jm_features_free(&fs);
	jm_frame_free(train);

	/* a regression target */
	jm_frame *f = table("x,y\n1,0.5\n2,1.25\n3,inf\n4,2.5\n");
	jm_features_init(&fs);
	spec(&fs, "target", "y");
	fit(&fs, f);
	cr_assert(!fs.classification);
	cr_assert_eq(jm_features_matrix(&fs, f, NULL, &m, &err), -1);
	cr_assert_str_eq(err.msg, "[features] target \"y\" has 1 infinite value among 4 rows; a model "
				  "needs finite numbers: read them as missing with [data] na_values = "
				  "inf, -inf (as the file spells them), then drop those rows with "
				  "[clean] missing = drop: y");
	cr_assert_eq(m.bad_row, 2);
	jm_features_free(&fs);
	jm_frame_free(f);
}

/* Numbers written with decimal commas (a ';' file from a German or
 * French locale) are text to the reader: the note says so instead of
 * advising an encoding. */
Test(features, decimal_commas_are_named_in_the_note)
{
	jm_frame *f = NULL;
	jm_err err = {0};
	jm_csv_opts o;
	jm_csv_opts_init(&o);
	const char *csv = "len;mass;town;code;n;label\n39,1;1.234,5;Bonn;1,2,3;1;a\n"
			  "40;3.750;K\xc3\xb6ln;4;2;b\nNA;2,5;Bonn;5;3;a\n-0,5;7;Ulm;6;4;b\n";
	cr_assert_eq(jm_csv_parse(csv, strlen(csv), &o, &f, NULL, &err), 0, "%s", err.msg);
	cr_assert_eq(jm_frame_col(f, "len")->type, JM_COL_STR, "the reader keeps them text");
	jm_features fs;
	jm_features_init(&fs);
	spec(&fs, "target", "label");
	fit(&fs, f);
	cr_assert_eq(fs.nnotes, 4);
	cr_assert_str_eq(fs.notes[0], "column \"len\" (string) is not a model input: it looks like "
				      "numbers with decimal commas (\"39,1\"), which are read as text; "
				      "write the file with \".\" as the decimal mark");
	cr_assert(strstr(fs.notes[1], "column \"mass\" (string) is not a model input: it looks like "
				      "numbers with decimal commas (\"1.234,5\")"), "%s", fs.notes[1]);
	cr_assert_str_eq(fs.notes[2], "column \"town\" (string) is not a model input: encode it with "
				      "onehot or ordinal");
	cr_assert(strstr(fs.notes[3], "column \"code\" (string) is not a model input: encode it"),
		  "two commas are not a number: %s", fs.notes[3]);
	jm_features_free(&fs);
	jm_frame_free(f);
}

Test(features, saved_state_replays_exactly)
{
	const char *train_csv = "g,t,x,city,label\na,2024-01-01,1.5,rome,0\nb,2024-01-02,2.5,oslo,1\n"
				"a,2024-01-03,3.25,rome,1\nb,2024-01-04,4,lima,0\n";
	const char *val_csv = "g,t,x,city,label\nb,2024-02-01,10,oslo,1\na,2024-02-02,-1,paris,0\n";
	jm_frame *train = table(train_csv), *val = table(val_csv), *val2 = table(val_csv);
	jm_features fs;
	jm_features_init(&fs);
	spec(&fs, "dates", "t parts=month,weekday");
	spec(&fs, "lag", "x k=1 by=g");
	spec(&fs, "onehot", "city");
	spec(&fs, "bins", "x n=3");
	spec(&fs, "standardize", "*");
	spec(&fs, "target", "label");
	spec(&fs, "missing", "zero");
	fit(&fs, train);
	apply(&fs, val);
	char *text = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&text, &len);
	jm_err err = {0};
	cr_assert_eq(jm_features_save(&fs, m, &err), 0);
	fclose(m);
	jm_features back;
	FILE *in = fmemopen(text, len, "r");
	cr_assert_eq(jm_features_load(&back, in, &err), 0, "%s\n%s", err.msg, text);
	fclose(in);
	apply(&back, val2);
	jm_matrix a, b;
	cr_assert_eq(jm_features_matrix(&fs, val, NULL, &a, &err), 0, "%s", err.msg);
	cr_assert_eq(jm_features_matrix(&back, val2, NULL, &b, &err), 0, "%s", err.msg);
	cr_assert_eq(a.rows, b.rows);
	cr_assert_eq(a.cols, b.cols);
	cr_assert_eq(memcmp(a.x, b.x, (size_t)(a.rows * a.cols) * sizeof(float)), 0);
	cr_assert_eq(memcmp(a.y_class, b.y_class, (size_t)a.rows * sizeof(int32_t)), 0);
	cr_assert_eq(a.cols, back.ninputs);
	jm_matrix_free(&a);
	jm_matrix_free(&b);
	free(text);
	jm_features_free(&back);
	jm_features_free(&fs);
	jm_frame_free(train);
	jm_frame_free(val);
	jm_frame_free(val2);
	/* malformed */
	in = fmemopen((void *)"jianmo-features 1 1\nstep 99\n", 27, "r");
	cr_assert_eq(jm_features_load(&back, in, &err), -1);
	cr_assert_str_eq(err.msg, "[features] state: line 2: malformed");
	fclose(in);
}

Test(features, spec_errors)
{
	static const struct {
		const char *key, *value, *msg;
	} bad[] = {
		{"rolling", "x", "rolling: expected window=N"},
		{"rolling", "x window=0", "rolling: window: expected an integer >= 1, got \"0\""},
		{"rolling", "x window=3 stats=median", "rolling: stats: unknown \"median\""},
		{"bins", "x n=1", "bins: n: expected an integer >= 2, got \"1\""},
		{"products", "x", "products: expected at least two columns"},
		{"standardize", "x by=g", "standardize: unexpected by="},
		{"standardize", "x scale=2", "standardize: unknown option \"scale\""},
		{"onehot", "", "onehot: expected column names"},
		{"task", "guess", "task: expected auto, classification or regression, got \"guess\""},
		{"missing", "mean", "missing: expected error, zero or drop, got \"mean\""},
		{"embed", "x", "[features] unknown key \"embed\""},
	};
	for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
		jm_features fs;
		jm_features_init(&fs);
		jm_err err = {0};
		cr_assert_eq(jm_features_parse(&fs, bad[k].key, bad[k].value, &err), -1, "%s", bad[k].value);
		cr_assert_eq(err.code, JM_EXIT_INPUT);
		cr_assert_str_eq(err.msg, bad[k].msg);
		jm_features_free(&fs);
	}
	static const struct {
		const char *key, *value, *msg;
	} bad_fit[] = {
		{"standardize", "label", "[features] standardize: \"label\" is the target"},
		{"standardize", "x, x", "[features] standardize: \"x\" is listed twice"},
		{"standardize", "nope", "[features] standardize: no column \"nope\" (columns: s, x, label)"},
		{"standardize", "s", "[features] standardize: column \"s\" is string, not numeric"},
		{"onehot", "x", "[features] onehot: column \"x\" is float64; categories come from text, int or bool columns"},
		{"dates", "s", "[features] dates: column \"s\" is string, not datetime (parse it with [clean] dates)"},
	};
	for (size_t k = 0; k < sizeof bad_fit / sizeof *bad_fit; k++) {
		jm_frame *f = table("s,x,label\na,1.5,0\nb,2.5,1\n");
		jm_features fs;
		jm_features_init(&fs);
		spec(&fs, "target", "label");
		spec(&fs, bad_fit[k].key, bad_fit[k].value);
		jm_err err = {0};
		cr_assert_eq(jm_features_fit_apply(&fs, f, &err), -1);
		cr_assert_str_eq(err.msg, bad_fit[k].msg);
		jm_features_free(&fs);
		jm_frame_free(f);
	}
}

/* tabular.c's stand-in: where a key was written, here "t.flow:<key>" */
static void locate_as_key(void *ctx, const char *key, jm_err *err)
{
	(*(int *)ctx)++;
	jm_err_prefix(err, "t.flow:<%s>", key);
}

/* An error of a step, of drop or of the target is handed to the caller to
 * locate at its spec key; "no column" lists the columns there are. */
Test(features, step_errors_are_located_at_their_key)
{
	static const struct {
		const char *key, *value, *msg;
	} bad[] = {
		{"onehot", "knd", "t.flow:<onehot>: [features] onehot: no column \"knd\" (did you mean "
				  "\"kind\"?) (columns: s, x, kind, label)"},
		{"drop", "nope", "t.flow:<drop>: [features] drop: no column \"nope\" (columns: s, x, kind, "
				 "label)"},
		{"standardize", "s", "t.flow:<standardize>: [features] standardize: column \"s\" is string, "
				     "not numeric"},
		{"rolling", "x window=2 by=g", "t.flow:<rolling>: [features] rolling by: no column \"g\" "
					       "(columns: s, x, kind, label)"},
		{"lag", "x k=1 order=t", "t.flow:<lag>: [features] lag order: no column \"t\" (columns: s, "
					 "x, kind, label)"},
		/* a text order column: refused once, its buffers freed once */
		{"lag", "x k=1 order=s", "t.flow:<lag>: [features] lag order: column \"s\" is string, not "
					 "numeric or datetime"},
		{"dates", "s", "t.flow:<dates>: [features] dates: column \"s\" is string, not datetime "
			       "(parse it with [clean] dates)"},
	};
	for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
		jm_frame *f = table("s,x,kind,label\na,1.5,p,0\nb,2.5,q,1\nc,3.5,p,0\n");
		jm_features fs;
		int calls = 0;
		jm_features_init(&fs);
		spec(&fs, "target", "label");
		spec(&fs, bad[k].key, bad[k].value);
		fs.locate = locate_as_key;
		fs.locate_ctx = &calls;
		jm_err err = {0};
		cr_assert_eq(jm_features_fit_apply(&fs, f, &err), -1, "%s", bad[k].value);
		cr_expect_eq(err.code, JM_EXIT_INPUT);
		cr_expect_str_eq(err.msg, bad[k].msg);
		cr_expect_eq(calls, 1, "located once: %s", err.msg);
		jm_features_free(&fs);
		jm_frame_free(f);
	}

	/* the target, and a part without a fitted column */
	jm_frame *f = table("s,x,kind,label\na,1.5,p,0\nb,2.5,q,1\n");
	jm_features fs;
	int calls = 0;
	jm_err err = {0};
	jm_features_init(&fs);
	spec(&fs, "target", "lable");
	fs.locate = locate_as_key;
	fs.locate_ctx = &calls;
	cr_assert_eq(jm_features_fit_apply(&fs, f, &err), -1);
	cr_expect_str_eq(err.msg, "t.flow:<target>: [features] target: no column \"lable\" (did you "
				  "mean \"label\"?) (columns: s, x, kind, label)");
	jm_features_free(&fs);
	jm_features_init(&fs);
	spec(&fs, "target", "label");
	spec(&fs, "onehot", "kind");
	fit(&fs, f);
	fs.locate = locate_as_key;
	fs.locate_ctx = &calls;
	jm_frame *val = table("s,x,label\nc,3.5,0\n");
	cr_assert_eq(jm_features_apply(&fs, val, &err), -1);
	cr_expect_str_eq(err.msg, "t.flow:<onehot>: [features] onehot: no column \"kind\" (columns: s, "
				  "x, label)");
	/* a value in the data is not a key's fault: left for the caller */
	calls = 0;
	jm_frame *gap = table("s,x,kind,label\nc,,p,0\n");
	apply(&fs, gap);
	jm_matrix m;
	cr_assert_eq(jm_features_matrix(&fs, gap, "test", &m, &err), -1);
	cr_expect_str_eq(err.msg, "[features] input column \"x\" is missing in the one test row; "
				  "fill it in [clean] or set [features] missing = zero or drop");
	cr_expect_eq(m.bad_row, 0);
	cr_expect_eq(calls, 0);
	jm_frame_free(gap);
	jm_frame_free(val);
	jm_features_free(&fs);
	jm_frame_free(f);
}

Test(features, target_classes_before_fitting)
{
	jm_frame *f = table("y,s\n1,b\n0,a\nNA,\n1,c\n");
	int32_t *labels;
	char **classes;
	int n;
	jm_err err = {0};
	cr_assert_eq(jm_target_classes(f, "y", &labels, &n, &classes, &err), 0, "%s", err.msg);
	cr_assert_eq(jm_frame_col(f, "y")->type, JM_COL_F64, "ints with a missing value");
	cr_assert_eq(n, 2);
	cr_assert_str_eq(classes[0], "0");
	cr_assert_str_eq(classes[1], "1");
	int32_t want[] = {1, 0, -1, 1};
	for (int i = 0; i < 4; i++)
		cr_assert_eq(labels[i], want[i], "row %d", i);
	for (int k = 0; k < n; k++)
		free(classes[k]);
	free(classes);
	free(labels);
	cr_assert_eq(jm_target_classes(f, "s", &labels, &n, &classes, &err), 0, "%s", err.msg);
	cr_assert_eq(n, 3);
	cr_assert_eq(labels[3], 2);
	cr_assert_eq(labels[2], -1);
	for (int k = 0; k < n; k++)
		free(classes[k]);
	free(classes);
	free(labels);
	cr_assert_eq(jm_target_classes(f, "z", &labels, &n, &classes, &err), -1);
	cr_assert_str_eq(err.msg, "[features] target: no column \"z\" (columns: y, s)");
	jm_frame_free(f);
	f = table("y\n0.5\n1\n");
	cr_assert_eq(jm_target_classes(f, "y", &labels, &n, &classes, &err), -1);
	cr_assert_str_eq(err.msg, "[features] target \"y\": 0.5 is not a class label; set task = regression");
	jm_frame_free(f);
}

/* What the runner does with a CSV source: read, split by the target's
 * classes, clean and build features fitted on train, apply them to val,
 * and get the float matrices. */
Test(features, csv_to_matrices_as_the_runner_does)
{
	size_t cap = 64 * 400, len = 0;
	char *csv = malloc(cap);
	len += (size_t)sprintf(csv, "id,city,x,when,label\n");
	for (int i = 0; i < 400; i++)
		len += (size_t)sprintf(csv + len, "%d,%s,%s,2024-01-%02d,%s\n", i,
				       i % 3 == 0 ? "rome" : i % 3 == 1 ? "oslo" : "", i % 10 == 0 ? "" :
				       i % 2 ? "1.5" : "-2.25", 1 + i % 28, i % 4 ? "yes" : "no");
	jm_frame *all = NULL;
	jm_err err = {0};
	cr_assert_eq(jm_csv_parse(csv, len, NULL, &all, NULL, &err), 0, "%s", err.msg);
	int32_t *labels;
	char **classes;
	int ncls;
	cr_assert_eq(jm_target_classes(all, "label", &labels, &ncls, &classes, &err), 0, "%s", err.msg);
	jm_split sp;
	cr_assert_eq(jm_split_make(&sp, labels, all->nrows, ncls, 0.25, 0, 1, 7, &err), 0, "%s", err.msg);
	int64_t *tr = malloc((size_t)sp.n_train * sizeof *tr), *va = malloc((size_t)sp.n_val * sizeof *va);
	for (int64_t i = 0; i < sp.n_train; i++)
		tr[i] = sp.train[i];
	for (int64_t i = 0; i < sp.n_val; i++)
		va[i] = sp.val[i];
	jm_frame *train = jm_frame_take(all, tr, sp.n_train, &err), *val = jm_frame_take(all, va, sp.n_val, &err);
	cr_assert(train && val);

	jm_clean c;
	jm_clean_init(&c);
	cr_assert_eq(jm_clean_parse(&c, "missing", "median: x; most_frequent: city", &err), 0);
	jm_clean_report rep;
	cr_assert_eq(jm_clean_fit_apply(&c, train, &rep, &err), 0, "%s", err.msg);
	cr_assert_eq(jm_clean_apply(&c, val, NULL, &err), 0, "%s", err.msg);
	cr_assert_eq(rep.before.rows, 300);
	jm_features fs;
	jm_features_init(&fs);
	spec(&fs, "onehot", "city");
	spec(&fs, "dates", "when parts=day,weekday");
	spec(&fs, "standardize", "x");
	spec(&fs, "drop", "id");
	spec(&fs, "target", "label");
	fit(&fs, train);
	apply(&fs, val);
	jm_matrix mt, mv;
	cr_assert_eq(jm_features_matrix(&fs, train, NULL, &mt, &err), 0, "%s", err.msg);
	cr_assert_eq(jm_features_matrix(&fs, val, NULL, &mv, &err), 0, "%s", err.msg);
	/* inputs: city_oslo city_rome x when_day when_weekday */
	cr_assert_eq(mt.cols, 5);
	cr_assert_eq(mv.cols, 5);
	cr_assert_eq(mt.rows, 300);
	cr_assert_eq(mv.rows, 100);
	cr_assert_eq(mt.nclasses, 2);
	cr_assert_str_eq(fs.classes[1], "yes");
	int yes = 0;
	for (int64_t i = 0; i < mv.rows; i++)
		yes += mv.y_class[i];
	cr_assert_eq(yes, 75, "stratified: 3/4 of the validation rows say yes");
	jm_matrix_free(&mt);
	jm_matrix_free(&mv);
	jm_features_free(&fs);
	jm_clean_report_clear(&rep);
	jm_clean_free(&c);
	jm_frame_free(train);
	jm_frame_free(val);
	jm_frame_free(all);
	jm_split_clear(&sp);
	free(tr);
	free(va);
	for (int k = 0; k < ncls; k++)
		free(classes[k]);
	free(classes);
	free(labels);
	free(csv);
}
