/*
 * test_tabular.c: the flow's CSV keys ([data] source, sha256, delimiter,
 * na_values, comment, target, task; [clean]; [features]) with their
 * errors, and jm_tabular_load: the stages in sequence, fitted on the
 * training rows only (the validation and test rows can change without
 * changing a fitted number), the fitted state saved and applied unchanged.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/split.h"
#include "flow.h"
#include "pipeline/tabular.h"
#include "testutil.h"

static jm_flow *parse_ok(const char *text)
{
	jm_flow *f = NULL;
	jm_err err = {0};
	cr_assert_eq(jm_flow_parse(&f, text, "house.flow", &err), 0, "%s\n--\n%s", err.msg, text);
	return f;
}

static void parse_fails(const char *text, const char *want)
{
	jm_flow *f = NULL;
	jm_err err = {0};
	cr_assert_eq(jm_flow_parse(&f, text, "house.flow", &err), -1, "parsed: %s", text);
	cr_expect_eq(err.code, JM_EXIT_INPUT);
	cr_expect_str_eq(err.msg, want);
}

/* ---- flow keys ---------------------------------------------------------- */

Test(tabular_flow, csv_keys_parse_and_round_trip)
{
	jm_flow *f = parse_ok("[data]\n"
			      "source = data/house.csv.gz\n"
			      "sha256 = 0123456789abcdef0123456789ABCDEF0123456789abcdef0123456789abcdef\n"
			      "delimiter = semicolon\n"
			      "na_values = ?, -, n.a.\n"
			      "comment = hash\n"
			      "target = price\n"
			      "task = Regression\n"
			      "[clean]\n"
			      "missing = median: area; most_frequent: city\n"
			      "outliers = iqr 1.5 clip: area\n"
			      "duplicates = drop\n"
			      "[features]\n"
			      "onehot = city\n"
			      "standardize = *\n"
			      "drop = id\n"
			      "lag = area k=1 by=city; area k=2 by=city\n");
	cr_expect(jm_flow_is_tabular(f));
	cr_expect_str_eq(f->data.dir, "", "a CSV has no IDX directory");
	cr_expect_str_eq(f->data.task, "regression");
	cr_expect_str_eq(f->clean.missing, "median: area; most_frequent: city");
	cr_expect_str_eq(f->features.lag, "area k=1 by=city; area k=2 by=city");
	cr_expect_eq(jm_flow_line(f, "features.onehot"), 14);
	cr_expect_eq(jm_flow_char(f->data.delimiter), ';');
	cr_expect_eq(jm_flow_char(f->data.comment), '#');
	char *text = jm_flow_format(f);
	cr_expect(strstr(text, "\n[clean]\ndrop_columns = \nduplicates = drop\n"), "%s", text);
	jm_flow *g = parse_ok(text);
	cr_expect(jm_flow_equal(f, g), "round trip changed the flow:\n%s", text);
	free(text);
	jm_flow_free(g);

	/* --set reaches the rules too, and checks them */
	jm_err err = {0};
	cr_expect_eq(jm_flow_set(f, "clean.missing=mean", &err), 0, "%s", err.msg);
	cr_expect_str_eq(f->clean.missing, "mean");
	cr_expect_eq(jm_flow_set(f, "features.bins=area n=zero", &err), -1);
	cr_expect(strstr(err.msg, "--set features.bins=area n=zero: [features] bins: "), "%s", err.msg);
	jm_flow_free(f);

	cr_expect(!jm_flow_is_tabular(f = parse_ok("")));
	jm_flow_free(f);
	cr_expect(!jm_flow_is_tabular(f = parse_ok("[data]\nsource = idx:/d\n")));
	jm_flow_free(f);
	cr_expect_eq(jm_flow_char(""), 0);
	cr_expect_eq(jm_flow_char("|"), '|');
	cr_expect_eq(jm_flow_char("TAB"), '\t');
	cr_expect_eq(jm_flow_char("ab"), 0);
}

Test(tabular_flow, csv_key_errors)
{
	parse_fails("[data]\nsource = h.csv\n",
		    "house.flow:2: [data] source = h.csv needs [data] target (the column to predict)");
	parse_fails("[data]\nsource = h.csv\ntarget = y\nsha256 = abc\n",
		    "house.flow:4: [data] sha256: expected 64 hexadecimal digits, or nothing, got \"abc\"");
	parse_fails("[data]\nsource = h.csv\ntarget = y\ndelimiter = ab\n",
		    "house.flow:4: [data] delimiter: expected one character, or comma, semicolon, tab, "
		    "pipe, space, colon, hash or percent, got \"ab\"");
	parse_fails("[data]\nsource = h.csv\ntarget = y\ncomment = //\n",
		    "house.flow:4: [data] comment: expected one character, or comma, semicolon, tab, "
		    "pipe, space, colon, hash or percent, got \"//\"");
	parse_fails("[data]\nsource = h.csv\ntarget = y\ntask = ranking\n",
		    "house.flow:4: [data] task: expected one of auto, classification, regression, got "
		    "\"ranking\"");
	parse_fails("[data]\nsource = \n", "house.flow:2: [data] source: expected fashion-mnist or "
		    "idx:DIR, or a CSV file, got \"\"");
	/* CSV keys with images */
	parse_fails("[data]\ntarget = y\n",
		    "house.flow:2: [data] target: needs a CSV source ([data] source = FILE.csv), not "
		    "fashion-mnist");
	parse_fails("[clean]\nduplicates = drop\n",
		    "house.flow:2: [clean] duplicates: needs a CSV source ([data] source = FILE.csv), "
		    "not fashion-mnist");
	/* the target belongs to [data] */
	parse_fails("[data]\nsource = h.csv\ntarget = y\n[features]\ntarget = y\n",
		    "house.flow:5: [features] unknown key \"target\" (it belongs in [data])");
	parse_fails("[clean]\nmissng = mean\n",
		    "house.flow:2: [clean] unknown key \"missng\" (did you mean \"missing\"?)");
	/* rows are not images: of [augment], only mixup */
	parse_fails("[data]\nsource = h.csv\ntarget = y\n[augment]\nmixup = 0.4\nhflip = 0.5\n",
		    "house.flow:6: [augment] hflip: works on images; a CSV source takes only mixup "
		    "(on its numeric features)");
	parse_fails("[data]\nsource = h.csv\ntarget = y\n[augment]\ncutmix = 1\n",
		    "house.flow:5: [augment] cutmix: works on images; a CSV source takes only mixup "
		    "(on its numeric features)");
	jm_flow_free(parse_ok("[data]\nsource = h.csv\ntarget = y\n[augment]\nmixup = 0.4\n"));
}

/* The stages' own messages, located at the key's line. */
Test(tabular_flow, rule_errors_carry_file_and_line)
{
	const char *head = "[data]\nsource = h.csv\ntarget = y\n\n";
	char text[512];
	static const struct {
		const char *lines, *want;
	} cases[] = {
		{"[clean]\n\nmissing = avg\n",
		 "house.flow:7: [clean] missing: unknown method \"avg\" (expected mean, median, "
		 "most_frequent, constant=VALUE or drop)"},
		{"[clean]\ndrop_columns = 2\n",
		 "house.flow:6: [clean] drop_columns: expected a fraction in 0..1, got \"2\""},
		{"[clean]\nduplicates = twice\n",
		 "house.flow:6: [clean] duplicates: expected drop or keep, got \"twice\""},
		{"[clean]\nmissing = mean; avg\n",
		 "house.flow:6: [clean] missing: unknown method \"avg\" (expected mean, median, "
		 "most_frequent, constant=VALUE or drop)"},
		{"[features]\nmissing = ignore\n",
		 "house.flow:6: [features] missing: expected error, zero or drop, got \"ignore\""},
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		snprintf(text, sizeof text, "%s%s", head, cases[i].lines);
		parse_fails(text, cases[i].want);
	}
	/* any rule parse failure of the stage comes out located */
	snprintf(text, sizeof text, "%s[features]\nrolling = amount window=x\n", head);
	jm_flow *f = NULL;
	jm_err err = {0};
	cr_assert_eq(jm_flow_parse(&f, text, "house.flow", &err), -1);
	cr_expect(!strncmp(err.msg, "house.flow:6: [features] rolling: ", 34), "%s", err.msg);
}

/* ---- the stages in sequence --------------------------------------------- */

static char *dir;

static void setup(void)
{
	dir = jt_tmpdir();
}

static void teardown(void)
{
	jt_rm_rf(dir);
	free(dir);
}

/* 200 rows: x = i, a label from i, and a category. */
static char *make_csv(const char *name, double val_test_scale, const jm_split *sp)
{
	size_t cap = 64 * 220, len = 0;
	char *csv = malloc(cap);
	uint8_t part[200] = {0};
	for (int64_t i = 0; sp && i < sp->n_val; i++)
		part[sp->val[i]] = 1;
	for (int64_t i = 0; sp && i < sp->n_test; i++)
		part[sp->test[i]] = 2;
	len += (size_t)sprintf(csv, "x,kind,label\n");
	for (int i = 0; i < 200; i++) {
		double x = i % 13 == 0 ? NAN : (double)i;
		if (part[i])
			x = i % 5 == 0 ? NAN : x * val_test_scale;
		const char *kind = part[i] && val_test_scale != 1 ? "unseen" : i % 2 ? "odd" : "even";
		if (isnan(x))
			len += (size_t)sprintf(csv + len, ",%s,%s\n", kind, i % 4 == 0 ? "a" : "b");
		else
			len += (size_t)sprintf(csv + len, "%g,%s,%s\n", x, kind, i % 4 == 0 ? "a" : "b");
	}
	char *path = jt_write(dir, name, csv);
	free(csv);
	return path;
}

static jm_flow *flow_for(const char *csv_path)
{
	char text[1024];
	snprintf(text, sizeof text,
		 "[data]\nsource = %s\ntarget = label\n"
		 "[clean]\nmissing = median: x\n"
		 "[features]\nonehot = kind\nstandardize = x\n", csv_path);
	return parse_ok(text);
}

static char *slurp(const char *d, const char *name)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/%s", d, name);
	char *s = jt_read(path, NULL);
	cr_assert_not_null(s, "cannot read %s", path);
	return s;
}

Test(tabular, loads_splits_and_scales, .init = setup, .fini = teardown)
{
	char *path = make_csv("t.csv", 1, NULL);
	jm_flow *f = flow_for(path);
	jm_tabular tb;
	jm_dataset *train, *test;
	jm_err err = {0};
	cr_assert_eq(jm_tabular_load(&tb, f, NULL, NULL, NULL, &train, &test, &err), 0, "%s", err.msg);
	cr_expect_eq(tb.rows, 200);
	cr_expect_eq(tb.regression, 0);
	cr_expect_eq(tb.n_train + tb.n_val + tb.n_test, 200);
	/* 0.15 of each class by default (a CSV has no test set): round(7.5)
	 * of the 50 "a" rows and round(22.5) of the 150 "b" rows */
	cr_expect_eq(tb.n_val, 31);
	cr_expect_eq(tb.n_test, 31);
	cr_expect_eq(train->n, tb.n_train + tb.n_val);
	cr_expect_eq(test->n, tb.n_test);
	cr_expect_eq(train->n_classes, 2);
	cr_expect_str_eq(train->class_names[0], "a");
	/* inputs: x, kind_even, kind_odd */
	cr_assert_eq(train->w, 3);
	cr_expect_str_eq(tb.features.inputs[0], "x");
	/* x standardized with the training rows: mean 0, std 1 (ddof 0) there */
	double s = 0, ss = 0;
	for (int64_t i = 0; i < tb.n_train; i++)
		s += train->x[i * 3];
	for (int64_t i = 0; i < tb.n_train; i++)
		ss += (train->x[i * 3] - s / (double)tb.n_train) * (train->x[i * 3] - s / (double)tb.n_train);
	cr_expect_float_eq(s / (double)tb.n_train, 0.0, 1e-6);
	cr_expect_float_eq(sqrt(ss / (double)tb.n_train), 1.0, 1e-5);
	/* the quality report is of the training rows, before and after */
	cr_expect_eq(tb.report.before.rows, tb.n_train);
	cr_expect_gt(tb.report.before.cols[0].missing, 0);
	cr_expect_eq(tb.report.after.cols[0].missing, 0);
	cr_expect_eq(tb.report.nsteps, 1);
	jm_dataset_free(train);
	jm_dataset_free(test);
	jm_tabular_free(&tb);
	jm_flow_free(f);
	free(path);
}

/* Validation and test rows may be anything: the fitted numbers (fill
 * value, mean, std, categories) and the training rows come out the same. */
Test(tabular, validation_and_test_rows_do_not_leak_into_the_fit, .init = setup, .fini = teardown)
{
	char *a_path = make_csv("a.csv", 1, NULL);
	jm_flow *fa = flow_for(a_path);
	/* the split depends on the labels, the fractions and the seed only:
	 * make it here as the run does */
	int32_t labels[200];
	for (int i = 0; i < 200; i++)
		labels[i] = i % 4 == 0 ? 0 : 1;
	jm_split sp;
	jm_err err = {0};
	cr_assert_eq(jm_split_make(&sp, labels, 200, 2, 0.15, 0.15, 1, (uint64_t)fa->train.seed,
				   &err), 0, "%s", err.msg);
	char *b_path = make_csv("b.csv", 1000, &sp);
	jm_flow *fb = flow_for(b_path);

	jm_tabular ta, tb;
	jm_dataset *tra, *tea, *trb, *teb;
	cr_assert_eq(jm_tabular_load(&ta, fa, NULL, NULL, NULL, &tra, &tea, &err), 0, "%s", err.msg);
	cr_assert_eq(jm_tabular_load(&tb, fb, NULL, NULL, NULL, &trb, &teb, &err), 0, "%s", err.msg);
	char *da = jt_tmpdir(), *db = jt_tmpdir();
	cr_assert_eq(jm_tabular_save(&ta, da, &err), 0, "%s", err.msg);
	cr_assert_eq(jm_tabular_save(&tb, db, &err), 0, "%s", err.msg);
	const char *files[] = {"clean.state", "features.state", "target.state"};
	for (int i = 0; i < 3; i++) {
		char *x = slurp(da, files[i]), *y = slurp(db, files[i]);
		cr_expect_str_eq(x, y, "%s depends on validation or test rows", files[i]);
		free(x), free(y);
	}
	cr_assert_eq(ta.n_train, tb.n_train);
	cr_expect_eq(memcmp(tra->x, trb->x, (size_t)ta.n_train * 3 * sizeof(float)), 0,
		     "the training rows changed");
	/* and b's validation rows kept their own (huge) values */
	double far = 0;
	for (int64_t i = tb.n_train; i < trb->n; i++)
		far = fmax(far, fabs(trb->x[i * 3]));
	cr_expect_gt(far, 100.0);
	/* an unseen category is all zeros, not a new column */
	cr_expect_eq(trb->w, 3);
	cr_expect_eq(trb->x[tb.n_train * 3 + 1] + trb->x[tb.n_train * 3 + 2], 0.0f);
	jm_dataset_free(tra), jm_dataset_free(tea), jm_dataset_free(trb), jm_dataset_free(teb);
	jm_tabular_free(&ta);
	jm_tabular_free(&tb);
	jm_split_clear(&sp);
	jt_rm_rf(da), jt_rm_rf(db);
	free(da), free(db);
	jm_flow_free(fa), jm_flow_free(fb);
	free(a_path), free(b_path);
}

/* A saved state applies unchanged: test rows are scaled with the training
 * mean and std (checked by hand), and loading the state reproduces every
 * matrix bit for bit. */
Test(tabular, fitted_state_applies_unchanged, .init = setup, .fini = teardown)
{
	char *path = make_csv("t.csv", 1, NULL);
	jm_flow *f = flow_for(path);
	jm_tabular t1, t2;
	jm_dataset *tr1, *te1, *tr2, *te2;
	jm_err err = {0};
	cr_assert_eq(jm_tabular_load(&t1, f, NULL, NULL, NULL, &tr1, &te1, &err), 0, "%s", err.msg);
	char *sd = jt_tmpdir();
	cr_assert_eq(jm_tabular_save(&t1, sd, &err), 0, "%s", err.msg);
	/* the fitted mean and std of x: standardize is the last step */
	const jm_feat_step *st = NULL;
	for (int i = 0; i < t1.features.n; i++)
		if (t1.features.steps[i].kind == JM_FEAT_STANDARDIZE)
			st = &t1.features.steps[i];
	cr_assert_not_null(st);
	cr_assert_eq(st->nfit, 1);
	double mean = st->fit[0].num[0], sd_x = st->fit[0].num[1];
	/* the median fill of x, from the clean rule */
	cr_assert_eq(t1.clean.rules[0].nfit, 1);
	double fill = t1.clean.rules[0].fit_a[0];
	/* every test row: its raw x (or the fill) scaled with those numbers */
	char *csv = jt_read(path, NULL);
	int64_t checked = 0;
	for (int64_t i = 0; i < te1->n; i++) {
		double z = te1->x[i * 3], raw = z * sd_x + mean;
		/* raw is a row number (x = i) or the training median */
		int whole = fabs(raw - round(raw)) < 1e-3;
		cr_expect(whole || fabs(raw - fill) < 1e-3, "test row %lld: %g", (long long)i, raw);
		checked++;
	}
	cr_expect_eq(checked, 31);
	free(csv);

	cr_assert_eq(jm_tabular_load(&t2, f, sd, NULL, NULL, &tr2, &te2, &err), 0, "%s", err.msg);
	cr_expect(t2.loaded);
	cr_assert_eq(tr2->n, tr1->n);
	cr_assert_eq(te2->n, te1->n);
	cr_expect_eq(memcmp(tr1->x, tr2->x, (size_t)tr1->n * 3 * sizeof(float)), 0);
	cr_expect_eq(memcmp(te1->x, te2->x, (size_t)te1->n * 3 * sizeof(float)), 0);
	cr_expect_eq(memcmp(te1->labels, te2->labels, (size_t)te1->n * sizeof(int32_t)), 0);

	/* a missing state file is named */
	char p[4096];
	snprintf(p, sizeof p, "%s/features.state", sd);
	remove(p);
	jm_tabular t3;
	jm_dataset *tr3, *te3;
	cr_expect_eq(jm_tabular_load(&t3, f, sd, NULL, NULL, &tr3, &te3, &err), -1);
	cr_expect(strstr(err.msg, "features.state: No such file or directory"), "%s", err.msg);
	jm_tabular_free(&t3);

	jm_dataset_free(tr1), jm_dataset_free(te1), jm_dataset_free(tr2), jm_dataset_free(te2);
	jm_tabular_free(&t1);
	jm_tabular_free(&t2);
	jt_rm_rf(sd);
	free(sd);
	jm_flow_free(f);
	free(path);
}

/* auto: text and bool targets, and whole numbers with at most 20 values,
 * are classes; the rest is regression.  Regression splits at random and
 * scales the target with the training rows. */
/* The stages' errors about a rule come out at the rule's line: in a run,
 * in a run replaying a saved state on a CSV that changed, and in the
 * workbench's previews. */
Test(tabular, rule_errors_are_located_at_their_line, .init = setup, .fini = teardown)
{
	char *path = make_csv("t.csv", 1, NULL), text[1024];
	jm_tabular tb;
	jm_dataset *train, *test;
	jm_err err = {0};
	/* flow_for's rules, one of them wrong */
	snprintf(text, sizeof text, "[data]\nsource = %s\ntarget = label\n[clean]\nmissing = median: x\n"
		 "[features]\nonehot = knd\nstandardize = x\n", path);
	jm_flow *bad = parse_ok(text);
	cr_assert_eq(jm_tabular_load(&tb, bad, NULL, NULL, NULL, &train, &test, &err), -1);
	cr_expect_str_eq(err.msg, "house.flow:7: [features] onehot: no column \"knd\" (did you mean "
				  "\"kind\"?) (columns: x, kind, label)");
	cr_expect_null(tb.features.locate, "no locator left behind");
	jm_tabular_free(&tb);

	jm_tabular_peek pk;
	cr_assert_eq(jm_tabular_peek_load(&pk, bad, &err), 0, "%s", err.msg);
	cr_expect_str_eq(pk.features_error, "house.flow:7: [features] onehot: no column \"knd\" "
					    "(did you mean \"kind\"?) (columns: x, kind, label)");
	jm_tabular_peek_free(&pk);
	jm_flow_free(bad);
	snprintf(text, sizeof text, "[data]\nsource = %s\ntarget = label\n[clean]\n\nmissing = mean: kind\n",
		 path);
	bad = parse_ok(text);
	cr_assert_eq(jm_tabular_peek_load(&pk, bad, &err), 0, "%s", err.msg);
	cr_expect_str_eq(pk.clean_error, "house.flow:6: [clean] missing mean: column \"kind\" is string, "
					 "not numeric");
	jm_tabular_peek_free(&pk);
	jm_flow_free(bad);

	/* a saved state replayed on a CSV without the column it encodes */
	jm_flow *f = flow_for(path);
	cr_assert_eq(jm_tabular_load(&tb, f, NULL, NULL, NULL, &train, &test, &err), 0, "%s", err.msg);
	char *sd = jt_tmpdir();
	cr_assert_eq(jm_tabular_save(&tb, sd, &err), 0, "%s", err.msg);
	jm_dataset_free(train);
	jm_dataset_free(test);
	jm_tabular_free(&tb);
	char *csv = jt_read(path, NULL);
	for (char *line = csv; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
		char *comma = strchr(line, ','); /* x,kind,label -> x,label */
		char *next = comma ? strchr(comma + 1, ',') : NULL;
		if (next)
			memmove(comma, next, strlen(next) + 1);
	}
	free(jt_write(dir, "t.csv", csv));
	free(csv);
	cr_assert_eq(jm_tabular_load(&tb, f, sd, NULL, NULL, &train, &test, &err), -1);
	cr_expect_str_eq(err.msg, "house.flow:7: [features] onehot: no column \"kind\" (columns: x, "
				  "label)");
	jm_tabular_free(&tb);
	jt_rm_rf(sd);
	free(sd);
	jm_flow_free(f);
	free(path);
}

Test(tabular, task_auto_and_regression, .init = setup, .fini = teardown)
{
	size_t cap = 32 * 120, len = 0;
	char *csv = malloc(cap);
	len += (size_t)sprintf(csv, "x,few,many\n");
	for (int i = 0; i < 100; i++)
		len += (size_t)sprintf(csv + len, "%d,%d,%g\n", i, i % 5, i * 1.5);
	char *path = jt_write(dir, "r.csv", csv);
	free(csv);
	static const struct {
		const char *target, *task;
		int regression;
		const char *extra;
	} cases[] = {
		{"few", "auto", 0, ""}, {"many", "auto", 1, ""}, {"few", "regression", 1, ""},
		/* 100 classes of one row: nothing to split off per class */
		{"x", "classification", 0, "[split]\nval = 0\ntest = 0\n"},
	};
	for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
		char text[512];
		snprintf(text, sizeof text, "[data]\nsource = %s\ntarget = %s\ntask = %s\n%s", path,
			 cases[c].target, cases[c].task, cases[c].extra);
		jm_flow *f = parse_ok(text);
		jm_tabular tb;
		jm_dataset *tr, *te;
		jm_err err = {0};
		cr_assert_eq(jm_tabular_load(&tb, f, NULL, NULL, NULL, &tr, &te, &err), 0, "%s", err.msg);
		cr_expect_eq(tb.regression, cases[c].regression, "%s %s", cases[c].target, cases[c].task);
		if (tb.regression) {
			cr_expect_null(tr->labels);
			cr_expect_eq(tr->n_classes, 1);
			double s = 0;
			for (int64_t i = 0; i < tb.n_train; i++)
				s += tr->y[i];
			cr_expect_float_eq(tb.y_mean, s / (double)tb.n_train, 1e-9);
			cr_expect_gt(tb.y_std, 0);
		} else {
			cr_expect_not_null(tr->labels);
			cr_expect_null(tr->y);
		}
		jm_dataset_free(tr), jm_dataset_free(te);
		jm_tabular_free(&tb);
		jm_flow_free(f);
	}
	free(path);
}

/* inf in a CSV: the quality report counts it with the line of the first
 * one, an input holding one stops the load at its line, and [data]
 * na_values = inf, -inf reads them as missing for [clean] to fill. */
Test(tabular, infinite_values_are_counted_and_refused, .init = setup, .fini = teardown)
{
	size_t len = 0;
	char csv[4096];
	len += (size_t)snprintf(csv, sizeof csv, "x,b,label\n");
	for (int i = 0; i < 60; i++) /* b: inf every 7th row, -inf every 11th */
		len += (size_t)snprintf(csv + len, sizeof csv - len, "%d,%s,%c\n", i,
					i % 7 == 3 ? "inf" : i % 11 == 5 ? "-inf" : "0.5", i % 2 ? 'p' : 'q');
	char *path = jt_write(dir, "inf.csv", csv), text[1024];
	jm_tabular tb;
	jm_dataset *tr, *te;
	jm_err err = {0};
	/* b dropped: the run goes through, the report says where they are */
	snprintf(text, sizeof text, "[data]\nsource = %s\ntarget = label\n[features]\ndrop = b\n",
		 path);
	jm_flow *f = parse_ok(text);
	cr_assert_eq(jm_tabular_load(&tb, f, NULL, NULL, NULL, &tr, &te, &err), 0, "%s", err.msg);
	const jm_colstats *b = &tb.report.before.cols[1];
	cr_assert_str_eq(b->name, "b");
	cr_assert_gt(b->infinite, 0);
	cr_assert_gt(b->inf_line, 1);
	const char *line = csv;
	for (int64_t k = 1; k < b->inf_line; k++)
		line = strchr(line, '\n') + 1;
	cr_expect(!strncmp(strchr(line, ',') + 1, "inf", 3) || !strncmp(strchr(line, ',') + 1, "-inf", 4),
		  "line %lld: %.20s", (long long)b->inf_line, line);
	jm_dataset_free(tr), jm_dataset_free(te);
	jm_tabular_free(&tb);
	jm_flow_free(f);
	/* b an input, standardized: refused as infinite, at the line */
	snprintf(text, sizeof text, "[data]\nsource = %s\ntarget = label\n[features]\n"
		 "standardize = b\nmissing = zero\n", path);
	f = parse_ok(text);
	cr_assert_eq(jm_tabular_load(&tb, f, NULL, NULL, NULL, &tr, &te, &err), -1);
	char want[128];
	snprintf(want, sizeof want, "%s:", path);
	cr_expect(!strncmp(err.msg, want, strlen(want)), "%s", err.msg);
	int at = atoi(err.msg + strlen(want));
	line = csv;
	for (int k = 1; k < at; k++)
		line = strchr(line, '\n') + 1;
	cr_expect(strstr(line, "inf,") == strchr(line, ',') + 1 ||
		  strstr(line, "-inf,") == strchr(line, ',') + 1, "line %d: %.20s", at, line);
	cr_expect(strstr(err.msg, ": [features] input column \"b\" has "), "%s", err.msg);
	cr_expect(strstr(err.msg, " infinite values among the "), "%s", err.msg);
	cr_expect(strstr(err.msg, " training rows; a model needs finite numbers: read them as missing "
				  "with [data] na_values = inf, -inf"), "%s", err.msg);
	jm_tabular_free(&tb);
	jm_flow_free(f);
	/* and the way out the message gives */
	snprintf(text, sizeof text, "[data]\nsource = %s\ntarget = label\nna_values = inf, -inf\n"
		 "[clean]\nmissing = median: b\n[features]\nstandardize = b\n", path);
	f = parse_ok(text);
	cr_assert_eq(jm_tabular_load(&tb, f, NULL, NULL, NULL, &tr, &te, &err), 0, "%s", err.msg);
	cr_expect_eq(tb.report.before.cols[1].infinite, 0);
	cr_expect_gt(tb.report.before.cols[1].missing, 0);
	jm_dataset_free(tr), jm_dataset_free(te);
	jm_tabular_free(&tb);
	jm_flow_free(f);
	free(path);
}

/* na_values, delimiter and comment reach the reader. */
Test(tabular, reader_options_from_the_flow, .init = setup, .fini = teardown)
{
	char *path = jt_write(dir, "o.csv", "% exported by hand\nx;y\n1;a\n?;b\n3;a\n4;b\n5;a\n6;b\n"
				  "7;a\n8;b\n9;a\n10;b\n11;a\n12;b\n13;a\n14;b\n");
	char text[512];
	snprintf(text, sizeof text, "[data]\nsource = %s\ntarget = y\ndelimiter = semicolon\n"
		 "na_values = ?, -\ncomment = percent\n[clean]\nmissing = mean\n", path);
	jm_flow *f = parse_ok(text);
	jm_tabular tb;
	jm_dataset *tr, *te;
	jm_err err = {0};
	cr_assert_eq(jm_tabular_load(&tb, f, NULL, NULL, NULL, &tr, &te, &err), 0, "%s", err.msg);
	cr_expect_eq(tb.rows, 14);
	cr_expect_eq(tb.info.delim, ';');
	cr_expect_eq(tr->w, 1);
	/* "?" is missing, so x stays a number column */
	cr_assert_str_eq(tb.report.before.cols[0].name, "x");
	cr_expect_eq(tb.report.before.cols[0].type, JM_COL_F64);
	jm_dataset_free(tr), jm_dataset_free(te);
	jm_tabular_free(&tb);
	jm_flow_free(f);
	free(path);
}
