/*
 * test_tabular_batch.c: `jianmo --batch` on CSV files end to end, through
 * the real binary: classification and regression runs land their metrics,
 * fitted state and quality report in the store; `show` prints the report;
 * --rerun reproduces a run and --resume finishes a stopped one where an
 * uninterrupted one ends; bad CSVs and bad rules are refused with their
 * location and exit 2, before any run is stored.  The CSVs are generated
 * here (a few hundred rows: each run takes well under a second).
 */
#include <criterion/criterion.h>
#include <libgen.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "testutil.h"

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

TestSuite(tabular_batch, .init = setup, .fini = teardown, .timeout = 120);

/* 400 rows: two numeric features, a text one with gaps, an id; the label
 * is "yes" when a noisy linear score is positive.  Deterministic. */
static void write_classes_csv(const char *name)
{
	FILE *fp;
	char *path = jt_write(dir, name, "");
	cr_assert_not_null(fp = fopen(path, "w"));
	fprintf(fp, "id,x1,x2,city,label\n");
	unsigned s = 12345;
	for (int i = 0; i < 400; i++) {
		s = s * 1103515245u + 12345u;
		double a = (double)(s >> 8 & 0xffff) / 65536.0 * 4 - 2;
		s = s * 1103515245u + 12345u;
		double b = (double)(s >> 8 & 0xffff) / 65536.0 * 10 + 5;
		s = s * 1103515245u + 12345u;
		double noise = (double)(s >> 8 & 0xffff) / 65536.0 - 0.5;
		const char *city = i % 7 == 0 ? "" : i % 3 ? "rome" : "oslo";
		int yes = a + 0.2 * (b - 10) + (city[0] == 'o' ? 0.5 : 0) + noise > 0;
		if (i % 11 == 0)
			fprintf(fp, "%d,NA,%.4f,%s,%s\n", i, b, city, yes ? "yes" : "no");
		else
			fprintf(fp, "%d,%.4f,%.4f,%s,%s\n", i, a, b, city, yes ? "yes" : "no");
	}
	fclose(fp);
	free(path);
}

/* 300 rows of y = 3 x1 - 2 x2 + 50 + small noise. */
static void write_values_csv(const char *name)
{
	FILE *fp;
	char *path = jt_write(dir, name, "");
	cr_assert_not_null(fp = fopen(path, "w"));
	fprintf(fp, "x1,x2,y\n");
	unsigned s = 777;
	for (int i = 0; i < 300; i++) {
		s = s * 1103515245u + 12345u;
		double a = (double)(s >> 8 & 0xffff) / 65536.0 * 10;
		s = s * 1103515245u + 12345u;
		double b = (double)(s >> 8 & 0xffff) / 65536.0 * 5;
		s = s * 1103515245u + 12345u;
		double noise = (double)(s >> 8 & 0xffff) / 65536.0 - 0.5;
		fprintf(fp, "%.4f,%.4f,%.4f\n", a, b, 3 * a - 2 * b + 50 + noise);
	}
	fclose(fp);
	free(path);
}

static const char *classes_flow =
	"[data]\n"
	"source = classes.csv\n"
	"target = label\n"
	"[clean]\n"
	"missing = median: x1; most_frequent: city\n"
	"[features]\n"
	"onehot = city\n"
	"standardize = x1, x2\n"
	"drop = id\n"
	"[model]\n"
	"type = mlp\n"
	"hidden = 16\n"
	"[train]\n"
	"epochs = 12\n"
	"batch = 16\n"
	"lr = 0.01\n";

static const char *values_flow =
	"[data]\n"
	"source = values.csv\n"
	"target = y\n"
	"[features]\n"
	"standardize = *\n"
	"[model]\n"
	"type = linear\n"
	"[train]\n"
	"epochs = 40\n"
	"batch = 16\n"
	"lr = 0.05\n";

static sqlite3 *open_db(void)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/.jianmo/jianmo.db", dir);
	sqlite3 *db = NULL;
	cr_assert_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK,
		     "cannot open %s", path);
	return db;
}

static double metric(sqlite3 *db, long long run, const char *key)
{
	sqlite3_stmt *st;
	cr_assert_eq(sqlite3_prepare_v2(db, "SELECT last FROM metric_summary WHERE run = ? AND key = ?",
					-1, &st, NULL), SQLITE_OK);
	sqlite3_bind_int64(st, 1, run);
	sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
	double v = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_double(st, 0) : NAN;
	sqlite3_finalize(st);
	return v;
}

static long long count(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st;
	cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK, "%s", sql);
	long long n = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
	sqlite3_finalize(st);
	return n;
}

/* Every point of a metric, to compare runs bit for bit. */
static char *series(sqlite3 *db, long long run, const char *key)
{
	sqlite3_stmt *st;
	cr_assert_eq(sqlite3_prepare_v2(db,
					"SELECT group_concat(step || ':' || printf('%.17g', value), ' ') "
					"FROM (SELECT step, value FROM metrics WHERE run = ? AND key = ? "
					"ORDER BY step)", -1, &st, NULL), SQLITE_OK);
	sqlite3_bind_int64(st, 1, run);
	sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
	char *s = NULL;
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
		s = strdup((const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	return s ? s : strdup("");
}

static void expect_same_series(sqlite3 *db, long long a, long long b, const char *const *keys)
{
	for (int i = 0; keys[i]; i++) {
		char *sa = series(db, a, keys[i]), *sb = series(db, b, keys[i]);
		cr_expect(strlen(sa) > 0, "run %lld has no %s", a, keys[i]);
		cr_expect_str_eq(sa, sb, "%s differs between runs %lld and %lld", keys[i], a, b);
		free(sa), free(sb);
	}
}

Test(tabular_batch, classification_lands_metrics_state_and_report)
{
	write_classes_csv("classes.csv");
	free(jt_write(dir, "c.flow", classes_flow));
	char *out, *err;
	int rc = jt_jianmo(dir, &out, &err, "--batch c.flow");
	cr_assert_eq(rc, 0, "run failed (%d): %s\n%s", rc, err, out);
	/* the quality report, printed once */
	const char *q = strstr(out, "data quality before cleaning: 280 rows, 5 columns");
	cr_assert(q, "no quality report:\n%s", out);
	cr_expect_null(strstr(q + 1, "data quality before cleaning"), "printed twice:\n%s", out);
	cr_expect(strstr(out, "missing median: x1: 0 rows dropped, 26 values changed") ||
		  strstr(out, "missing median: x1: 0 rows dropped, "), "%s", out);
	cr_expect(strstr(out, "data quality after cleaning: 280 rows"), "%s", out);
	cr_expect(strstr(out, "classification of \"label\" (2 classes) from 4 inputs"), "%s", out);
	cr_expect(strstr(out, "data: 280 train, 60 validation, 60 test"), "%s", out);
	free(out), free(err);

	sqlite3 *db = open_db();
	const char *keys[] = {"train_loss", "train_acc", "val_loss", "val_acc", "val_auc",
			      "test_loss", "test_acc", "test_auc"};
	for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
		double v = metric(db, 1, keys[i]);
		cr_expect(isfinite(v), "%s is %g", keys[i], v);
	}
	cr_expect_gt(metric(db, 1, "test_acc"), 0.8, "the labels follow the inputs");
	cr_expect_gt(metric(db, 1, "test_auc"), 0.85);
	cr_expect_leq(metric(db, 1, "test_auc"), 1.0);
	cr_expect(isnan(metric(db, 1, "val_rmse")), "no regression metrics for classes");
	cr_expect_eq(count(db, "SELECT count(*) FROM artifacts WHERE run = 1 AND name IN "
			       "('clean.state', 'features.state', 'target.state', 'quality.txt', "
			       "'quality.json', 'model.safetensors', 'confusion.csv')"), 7);
	sqlite3_close(db);

	/* show prints the stored report */
	rc = jt_jianmo(dir, &out, &err, "show 1");
	cr_assert_eq(rc, 0, "%s", err);
	cr_expect(strstr(out, "data quality of the training rows (quality.txt)"), "%s", out);
	cr_expect(strstr(out, "  data quality before cleaning: 280 rows, 5 columns"), "%s", out);
	cr_expect(strstr(out, "    x1 "), "%s", out);
	cr_expect(strstr(out, "  missing most_frequent: city: 0 rows dropped"), "%s", out);
	free(out), free(err);
}

Test(tabular_batch, regression_lands_rmse_mae_r2)
{
	write_values_csv("values.csv");
	free(jt_write(dir, "v.flow", values_flow));
	char *out, *err;
	int rc = jt_jianmo(dir, &out, &err, "--batch v.flow");
	cr_assert_eq(rc, 0, "run failed (%d): %s\n%s", rc, err, out);
	cr_expect(strstr(out, "regression of \"y\" from 2 inputs"), "%s", out);
	cr_expect(strstr(out, " rmse "), "%s", out);
	free(out), free(err);
	sqlite3 *db = open_db();
	const char *keys[] = {"train_loss", "val_loss", "val_rmse", "val_mae", "val_r2",
			      "test_loss", "test_rmse", "test_mae", "test_r2"};
	for (size_t i = 0; i < sizeof keys / sizeof *keys; i++)
		cr_expect(isfinite(metric(db, 1, keys[i])), "%s missing", keys[i]);
	/* a linear target: a linear model gets close (noise sd 0.29, y sd ~9.6) */
	cr_expect_gt(metric(db, 1, "test_r2"), 0.99);
	cr_expect_lt(metric(db, 1, "test_rmse"), 1.0);
	cr_expect_leq(metric(db, 1, "test_mae"), metric(db, 1, "test_rmse"));
	cr_expect(isnan(metric(db, 1, "test_acc")), "no accuracy for a regression");
	cr_expect(isnan(metric(db, 1, "train_acc")));
	cr_expect_eq(count(db, "SELECT count(*) FROM artifacts WHERE run = 1 AND "
			       "name = 'confusion.csv'"), 0);
	sqlite3_close(db);
}

Test(tabular_batch, penguins_example_trains)
{
	char *out, *err;
	int rc = jt_jianmo(dir, &out, &err, "--batch '%s/examples/penguins.flow' "
			   "--set 'data.source=%s/examples/data/penguins.csv'", jt_srcdir(), jt_srcdir());
	cr_assert_eq(rc, 0, "run failed (%d): %s\n%s", rc, err, out);
	cr_expect(strstr(out, "344 rows"), "%s", out);
	free(out), free(err);
	rc = jt_jianmo(dir, &out, &err, "--batch '%s/examples/penguins-mass.flow' "
		       "--set 'data.source=%s/examples/data/penguins.csv'", jt_srcdir(), jt_srcdir());
	cr_assert_eq(rc, 0, "run failed (%d): %s\n%s", rc, err, out);
	free(out), free(err);
	sqlite3 *db = open_db();
	cr_expect_gt(metric(db, 1, "test_acc"), 0.9, "the species are easy to tell apart");
	cr_expect_gt(metric(db, 2, "test_r2"), 0.7, "body mass follows species and size");
	cr_expect_lt(metric(db, 2, "test_rmse"), 450, "grams");
	sqlite3_close(db);
}

Test(tabular_batch, rerun_reproduces_metrics)
{
	write_classes_csv("classes.csv");
	write_values_csv("values.csv");
	free(jt_write(dir, "c.flow", classes_flow));
	free(jt_write(dir, "v.flow", values_flow));
	cr_assert_eq(jt_jianmo(dir, NULL, NULL, "--batch c.flow"), 0);
	cr_assert_eq(jt_jianmo(dir, NULL, NULL, "--batch v.flow"), 0);
	char *out, *err;
	int rc = jt_jianmo(dir, &out, &err, "--batch --rerun 1");
	cr_assert_eq(rc, 0, "%s", err);
	cr_expect(strstr(out, "cleaning and features as fitted by the first run"), "%s", out);
	free(out), free(err);
	cr_assert_eq(jt_jianmo(dir, NULL, NULL, "--batch --rerun 2"), 0);
	sqlite3 *db = open_db();
	const char *ckeys[] = {"train_loss", "val_loss", "val_acc", "val_auc", "test_loss",
			       "test_acc", "test_auc", NULL};
	const char *rkeys[] = {"train_loss", "val_rmse", "val_r2", "test_rmse", "test_mae",
			       "test_r2", NULL};
	expect_same_series(db, 1, 3, ckeys);
	expect_same_series(db, 2, 4, rkeys);
	sqlite3_close(db);
	/* the same fitted state, byte for byte */
	char a[4096], b[4096];
	snprintf(a, sizeof a, "%s/.jianmo/runs/1/clean.state", dir);
	snprintf(b, sizeof b, "%s/.jianmo/runs/3/clean.state", dir);
	char *sa = jt_read(a, NULL), *sb = jt_read(b, NULL);
	cr_assert(sa && sb);
	cr_expect_str_eq(sa, sb);
	free(sa), free(sb);
}

/* A stopped run resumed from its checkpoint ends where an uninterrupted
 * one does, with the fitted state it saved. */
Test(tabular_batch, stop_then_resume_matches_uninterrupted)
{
	write_classes_csv("classes.csv");
	free(jt_write(dir, "c.flow", classes_flow));
	cr_assert_eq(jt_jianmo(dir, NULL, NULL, "--batch c.flow"), 0);
	char *out, *err;
	/* 17 steps an epoch: step 40 is inside epoch 3 */
	int rc = jt_sh(dir, &out, &err, "JIANMO_FAULT_SIGNAL=40:TERM '%s' --batch c.flow; "
		       "echo \"exit=$?\"", jt_bin());
	cr_assert_eq(rc, 0, "%s", err);
	cr_assert(strstr(out, "exit=143"), "%s", out);
	free(out), free(err);
	rc = jt_jianmo(dir, &out, &err, "--batch --resume 2");
	cr_assert_eq(rc, 0, "resume failed: %s\n%s", err, out);
	cr_expect(strstr(out, "resuming in epoch 3 at step 40"), "%s", out);
	free(out), free(err);
	sqlite3 *db = open_db();
	const char *keys[] = {"train_loss", "val_loss", "val_acc", "test_loss", "test_acc",
			      "test_auc", NULL};
	expect_same_series(db, 1, 2, keys);
	sqlite3_close(db);
}

/* Bad input: the message names the place, the exit status is 2 and no
 * run is stored. */
static void expect_refused(const char *flow, const char *csv, const char *want)
{
	free(jt_write(dir, "bad.flow", flow));
	if (csv)
		free(jt_write(dir, "data.csv", csv));
	char *out, *err;
	int rc = jt_jianmo(dir, &out, &err, "--batch bad.flow");
	cr_expect_eq(rc, 2, "exit %d for: %s", rc, want);
	cr_expect(strstr(err, want), "want \"%s\" in: %s", want, err);
	free(out), free(err);
	char path[4096];
	snprintf(path, sizeof path, "%s/.jianmo/jianmo.db", dir);
	FILE *fp = fopen(path, "r");
	if (fp) {
		fclose(fp);
		sqlite3 *db = open_db();
		cr_expect_eq(count(db, "SELECT count(*) FROM runs"), 0, "a run was stored for: %s", want);
		sqlite3_close(db);
	}
}

static const char *data_flow =
	"[data]\n"
	"source = data.csv\n"
	"target = y\n"
	"[train]\n"
	"batch = 2\n";

Test(tabular_batch, bad_csvs_are_located)
{
	expect_refused(data_flow, "a,b,y\n1,2,3\n4,5,6\n7,8,9,10\n1,1,1\n",
		       "jianmo: data.csv:4: expected 3 fields, found 4");
	/* blank lines, a comment and a quoted newline before the row: the
	 * physical line is counted */
	expect_refused("[data]\nsource = data.csv\ntarget = y\ncomment = hash\n",
		       "# made by hand\na,b,y\n1,2,3\n\n4,\"x\ny\",6\n7,8,\n1,1,1\n",
		       "jianmo: data.csv:7: field 3 (\"y\"): the target is missing; drop such "
		       "rows with [clean] missing = drop: y");
	expect_refused(data_flow, "a,b,y\n1,2,\n4,5,NA\n1,2,3\n",
		       "jianmo: data.csv:2: field 3 (\"y\"): the target is missing (and in 1 more "
		       "rows)");
	expect_refused("[data]\nsource = data.csv\n\ntarget = why\n", "a,b,y\n1,2,3\n4,5,6\n",
		       "jianmo: bad.flow:4: [data] target: no column \"why\" in data.csv (columns: "
		       "a, b, y)");
	/* a close name is offered; bytes that are not UTF-8 come out escaped */
	expect_refused("[data]\nsource = data.csv\ntarget = Y\n", "a,b,y\n1,2,3\n4,5,6\n",
		       "jianmo: bad.flow:3: [data] target: no column \"Y\" in data.csv (did you mean "
		       "\"y\"?) (columns: a, b, y)\n");
	expect_refused("[data]\nsource = data.csv\ntarget = sp\xe9" "cies\n",
		       "species,b,y\n1,2,3\n4,5,6\n",
		       "jianmo: bad.flow:3: [data] target: no column \"sp\\xe9cies\" in data.csv (did "
		       "you mean \"species\"?) (columns: species, b, y)\n");
	expect_refused("[data]\nsource = data.csv\ntarget = y\n[clean]\nmissing = median: B\n",
		       "a,b,y\n1,2,0\n2,3,1\n3,4,0\n4,5,1\n5,6,0\n6,7,1\n7,8,0\n8,9,1\n9,1,0\n"
		       "10,2,1\n11,3,0\n12,4,1\n13,5,0\n14,6,1\n",
		       "jianmo: bad.flow:5: [clean] missing median: no column \"B\" (did you mean "
		       "\"b\"?) (columns: a, b, y)\n");
	expect_refused(data_flow, "", "jianmo: data.csv: empty file");
	expect_refused("[data]\nsource = nowhere.csv\ntarget = y\n", NULL,
		       "jianmo: bad.flow:2: [data] source: \"nowhere.csv\": No such file or directory");
	expect_refused("[data]\nsource = data.csv\ntarget = y\ntask = regression\n",
		       "a,y\n1,x\n2,z\n",
		       "jianmo: bad.flow:4: [data] task: regression needs a numeric target, and "
		       "\"y\" is string");
	expect_refused("[data]\nsource = data.csv\ntarget = y\n[model]\ntype = cnn\nlayers = c8 fc2\n",
		       "a,y\n1,0\n2,1\n3,0\n4,1\n5,0\n6,1\n7,0\n8,1\n",
		       "jianmo: bad.flow:5: [model] type: cnn needs images, and a CSV gives rows of "
		       "numbers; use linear, logistic or mlp");
}

Test(tabular_batch, missing_targets_dropped_when_clean_says_so)
{
	free(jt_write(dir, "data.csv", "a,y\n1,2.5\n2,\n3,6.5\n4,8.5\n5,10.5\n6,12.5\n7,14.5\n"
				       "8,16.5\n9,18.5\n10,20.5\n11,22.5\n12,NA\n13,26.5\n14,28.5\n"));
	free(jt_write(dir, "ok.flow", "[data]\nsource = data.csv\ntarget = y\n"
				      "[clean]\nmissing = drop: y\n[train]\nbatch = 2\nepochs = 1\n"));
	char *out, *err;
	int rc = jt_jianmo(dir, &out, &err, "--batch ok.flow");
	cr_assert_eq(rc, 0, "%s\n%s", err, out);
	cr_expect(strstr(out, "data.csv: 14 rows, 2 dropped by cleaning; regression of \"y\""),
		  "%s", out);
	cr_expect(strstr(out, "data: 8 train, 2 validation, 2 test"), "%s", out);
	free(out), free(err);
}

Test(tabular_batch, bad_rules_are_located)
{
	write_classes_csv("data.csv");
	expect_refused("[data]\nsource = data.csv\ntarget = label\n\n[clean]\nmissing = avg\n", NULL,
		       "jianmo: bad.flow:6: [clean] missing: unknown method \"avg\"");
	expect_refused("[data]\nsource = data.csv\ntarget = label\n[features]\nonehot = nope\n", NULL,
		       "jianmo: bad.flow:5: [features] onehot: no column \"nope\" (columns: id, x1, x2, "
		       "city, label)");
	expect_refused("[data]\nsource = data.csv\n", NULL,
		       "jianmo: bad.flow:2: [data] source = data.csv needs [data] target (the "
		       "column to predict)");
}

/* A rule that names a column the data lacks, or one of the wrong type, is
 * refused at the rule's line, as a wrong [data] target is, with the
 * columns there are. */
Test(tabular_batch, column_errors_name_the_rule_line)
{
	static const struct {
		const char *rule, *want;
	} cases[] = {
		{"[features]\nonehot = cty\n",
		 "jianmo: bad.flow:5: [features] onehot: no column \"cty\" (did you mean \"city\"?) "
		 "(columns: id, x1, x2, city, label)\n"},
		{"[clean]\nmissing = median: x3\n",
		 "jianmo: bad.flow:5: [clean] missing median: no column \"x3\" (columns: id, x1, x2, "
		 "city, label)\n"},
		{"[clean]\nmissing = most_frequent: city\n\n[features]\nstandardize = city\n",
		 "jianmo: bad.flow:8: [features] standardize: column \"city\" is string, not numeric\n"},
		{"[clean]\ndates = city\n",
		 "jianmo: bad.flow:5: [clean] dates: no value of column \"city\" is a date"},
		{"[features]\ndrop = idd\n",
		 "jianmo: bad.flow:5: [features] drop: no column \"idd\" (did you mean \"id\"?) "
		 "(columns: id, x1, x2, city, label)\n"},
		{"[features]\nrolling = x2 window=3 by=town\n",
		 "jianmo: bad.flow:5: [features] rolling by: no column \"town\" (columns: id, x1, x2, "
		 "city, label)\n"},
		/* a text order column: this one also freed its buffers twice */
		{"[features]\nlag = x2 k=1 order=city\n",
		 "jianmo: bad.flow:5: [features] lag order: column \"city\" is string, not numeric or "
		 "datetime\n"},
		{"[features]\ndates = city\n",
		 "jianmo: bad.flow:5: [features] dates: column \"city\" is string, not datetime"},
	};
	char flow[512];
	write_classes_csv("data.csv");
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		snprintf(flow, sizeof flow, "[data]\nsource = data.csv\ntarget = label\n%s",
			 cases[i].rule);
		expect_refused(flow, NULL, cases[i].want);
	}

	/* set with --set, the key is named as such */
	free(jt_write(dir, "ok.flow", "[data]\nsource = data.csv\ntarget = label\n"));
	char *out, *err;
	int rc = jt_jianmo(dir, &out, &err, "--batch ok.flow --set features.onehot=cty");
	cr_expect_eq(rc, 2);
	cr_expect(strstr(err, "jianmo: --set features.onehot: [features] onehot: no column \"cty\" "
			      "(did you mean \"city\"?) (columns: id, x1, x2, city, label)\n"), "%s", err);
	free(out), free(err);

	/* a feature plugin's columns, with the example plugin the build makes
	 * for test_plugin (make check builds it before any test runs) */
	char *bin = strdup(jt_bin()), plugins[4096], so[4200];
	snprintf(plugins, sizeof plugins, "%s/tests/plugins/examples", dirname(bin));
	free(bin);
	snprintf(so, sizeof so, "%s/rolling_zscore.so", plugins);
	cr_assert_eq(access(so, R_OK), 0, "%s: not built (make check builds it)", so);
	free(jt_write(dir, "bad.flow", "[data]\nsource = data.csv\ntarget = label\n[features]\n"
				       "plugin = rolling_zscore(window=5): x2, nosuch\n"));
	rc = jt_sh(dir, &out, &err, "JIANMO_PLUGIN_PATH='%s' XDG_DATA_HOME='%s' '%s' --batch bad.flow",
		   plugins, dir, jt_bin());
	cr_expect_eq(rc, 2, "%s", err);
	cr_expect(strstr(err, "jianmo: bad.flow:5: [features] plugin: no column \"nosuch\" (columns: "
			      "id, x1, x2, city, label)\n"), "%s", err);
	free(out), free(err);
}

/* A missing input reaching the matrix (here a short row, read as
 * missing) names the part it is in and the CSV line of the first one;
 * once [clean] has dropped rows of that part the line is no longer known,
 * and the flow is named instead. */
Test(tabular_batch, missing_inputs_name_the_part_and_the_csv_line)
{
	const char *flow = "[data]\nsource = data.csv\ntarget = y\n[train]\nbatch = 2\n";
	const char *parts[] = {"training", "validation", "test"};
	int seen[3] = {0};
	for (int line = 2; line <= 41; line++) {
		char csv[2048], want[256];
		size_t len = (size_t)snprintf(csv, sizeof csv, "a,y,b\n");
		for (int r = 2; r <= 41; r++) /* b is last: the short row lacks it */
			len += (size_t)snprintf(csv + len, sizeof csv - len, r == line ? "%d,%s\n" :
						"%d,%s,%d\n", r, r % 2 ? "p" : "q", r * 3 % 7);
		free(jt_write(dir, "bad.flow", flow));
		free(jt_write(dir, "data.csv", csv));
		char *out, *err;
		int rc = jt_jianmo(dir, &out, &err, "--batch bad.flow");
		cr_expect_eq(rc, 2, "line %d: exit %d", line, rc);
		snprintf(want, sizeof want, "jianmo: data.csv:%d: [features] input column \"b\" is "
			 "missing in 1 of the ", line);
		cr_expect(!strncmp(err, want, strlen(want)), "line %d: %s", line, err);
		int part = -1;
		for (int p = 0; p < 3; p++) {
			snprintf(want, sizeof want, " rows; fill it in [clean] or set [features] "
				 "missing = zero or drop; that line has 2 of the 3 fields\n");
			char *at = strstr(err, parts[p]);
			if (at && !strcmp(at + strlen(parts[p]), want))
				part = p;
		}
		cr_expect_geq(part, 0, "line %d: %s", line, err);
		if (part >= 0)
			seen[part]++;
		free(out), free(err);
	}
	for (int p = 0; p < 3; p++)
		cr_expect_gt(seen[p], 0, "no short row landed in the %s rows", parts[p]);

	/* rows dropped before the split (no target) still line up */
	expect_refused(flow, "a,y,b\n1,,1\n2,q,2\n3,,3\n4,p,4\n5,q\n6,p,6\n7,q,7\n8,p,8\n9,q,9\n"
		       "10,p,10\n11,q,11\n12,p,12\n13,q,13\n14,p,14\n15,q,15\n16,p,16\n",
		       "jianmo: data.csv:2: field 2 (\"y\"): the target is missing (and in 1 more rows)");
	expect_refused("[data]\nsource = data.csv\ntarget = y\n[clean]\nmissing = drop: y\n"
		       "[train]\nbatch = 2\n", NULL,
		       "jianmo: data.csv:6: [features] input column \"b\" is missing in 1 of the ");
	/* [clean] dropped rows of every part: the rows keep their origins,
	 * so the line is still known */
	expect_refused("[data]\nsource = data.csv\ntarget = y\n[clean]\nduplicates = drop\n"
		       "[train]\nbatch = 2\n",
		       "a,y,b\n1,q,1\n1,q,1\n1,q,1\n1,q,1\n1,q,1\n1,q,1\n1,q,1\n1,q,1\n1,p,2\n1,p,2\n"
		       "1,p,2\n1,p,2\n1,p,2\n1,p,2\n1,p,2\n1,p,2\n3,q,3\n4,p,4\n5,q\n6,p,6\n7,q,7\n8,p,8\n"
		       "9,q,9\n10,p,10\n11,q,11\n12,p,12\n13,q,13\n14,p,14\n15,q,15\n16,p,16\n",
		       "jianmo: data.csv:20: [features] input column \"b\" is missing in 1 of the ");
	/* a file cut off in its last row: the line, and that it looks cut off */
	expect_refused(flow, "a,y,b\n2,q,2\n3,p,3\n4,q,4\n5,p,5\n6,q,6\n7,p,7\n8,q,8\n9,p,9\n"
		       "10,q,10\n11,p,11\n12,q,12\n13,p,13\n14,q,14\n15,p,15\n16,q,16\n17,p",
		       "; that line has 2 of the 3 fields and no newline: the file looks cut off\n");
	expect_refused(flow, "a,y,b\n2,q,2\n3,p,3\n4,q,4\n5,p,5\n6,q,6\n7,p,7\n8,q,8\n9,p,9\n"
		       "10,q,10\n11,p,11\n12,q,12\n13,p,13\n14,q,14\n15,p,15\n16,q,16\n17",
		       "jianmo: data.csv:17: field 2 (\"y\"): the target is missing; drop such rows "
		       "with [clean] missing = drop: y; that line has 1 of the 3 fields and no "
		       "newline: the file looks cut off\n");
}

/* Short rows that a run gets through ([clean] fills them) are noted once,
 * with the first one's line, how many more, and a file that looks cut
 * off. */
Test(tabular_batch, short_rows_are_noted)
{
	free(jt_write(dir, "data.csv", "a,y,b\n2,q,2\n3,p\n4,q,4\n5,p,5\n6,q,6\n7,p\n8,q,8\n"
				       "9,p,9\n10,q,10\n11,p,11\n12,q,12\n13,p,13\n14,q,14\n15,p,15\n"
				       "16,q,16\n17,p"));
	free(jt_write(dir, "ok.flow", "[data]\nsource = data.csv\ntarget = y\n"
				      "[clean]\nmissing = median: b\n[train]\nbatch = 2\nepochs = 1\n"));
	char *out, *err;
	int rc = jt_jianmo(dir, &out, &err, "--batch ok.flow");
	cr_assert_eq(rc, 0, "%s\n%s", err, out);
	cr_expect(strstr(out, "\nnote: data.csv: line 3 has 2 fields, expected 3 (the missing ones are "
			      "read as missing); 2 more rows like it; the last line, 17, has 2 "
			      "fields and no newline: the file looks cut off\n"), "%s", out);
	free(out), free(err);
}

Test(tabular_batch, json_reports_quality_once)
{
	write_classes_csv("classes.csv");
	free(jt_write(dir, "c.flow", classes_flow));
	char *out, *err;
	int rc = jt_jianmo(dir, &out, &err, "--batch c.flow --json --set train.epochs=1");
	cr_assert_eq(rc, 0, "%s", err);
	const char *q = strstr(out, "\"event\":\"quality\"");
	cr_assert(q, "%s", out);
	cr_expect_null(strstr(q + 1, "\"event\":\"quality\""));
	cr_expect(strstr(out, "\"before\": {\"rows\": 280"), "%s", out);
	cr_expect(strstr(out, "\"val_auc\":"), "%s", out);
	cr_expect_null(strstr(out, "data quality before cleaning"), "no text on a JSON stdout");
	free(out), free(err);
}

/* ---- an http source ---------------------------------------------------- */

struct server {
	int fd, port, served;
	const char *body;
};

/* Answer one GET with the body, then stop listening. */
static void *serve_once(void *arg)
{
	struct server *s = arg;
	int c = accept(s->fd, NULL, NULL);
	if (c < 0)
		return NULL;
	char buf[4096];
	size_t len = 0;
	ssize_t n;
	while (len < sizeof buf - 1 && (n = read(c, buf + len, sizeof buf - 1 - len)) > 0) {
		len += (size_t)n;
		buf[len] = '\0';
		if (strstr(buf, "\r\n\r\n"))
			break;
	}
	char head[128];
	snprintf(head, sizeof head, "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
		 strlen(s->body));
	if (write(c, head, strlen(head)) < 0 || write(c, s->body, strlen(s->body)) < 0)
		perror("write");
	s->served = 1;
	close(c);
	return NULL;
}

/* source = http://...: downloaded once into the XDG cache, pinned by
 * sha256, then read from the cache when the server is gone. */
Test(tabular_batch, url_source_is_cached_and_pinned)
{
	write_classes_csv("classes.csv");
	char path[4096];
	snprintf(path, sizeof path, "%s/classes.csv", dir);
	char *csv = jt_read(path, NULL), *out, *err;
	cr_assert_eq(jt_sh(dir, &out, &err, "sha256sum classes.csv"), 0);
	char digest[65];
	snprintf(digest, sizeof digest, "%.64s", out);
	free(out), free(err);

	struct server s = {.body = csv};
	s.fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	cr_assert_eq(bind(s.fd, (struct sockaddr *)&a, sizeof a), 0);
	socklen_t al = sizeof a;
	getsockname(s.fd, (struct sockaddr *)&a, &al);
	s.port = ntohs(a.sin_port);
	cr_assert_eq(listen(s.fd, 1), 0);
	pthread_t th;
	pthread_create(&th, NULL, serve_once, &s);

	char flow[1024];
	snprintf(flow, sizeof flow, "[data]\nsource = http://127.0.0.1:%d/data/classes.csv\n"
		 "sha256 = %s\ntarget = label\n[clean]\nmissing = median: x1\n"
		 "[features]\nonehot = city\ndrop = id\n[train]\nepochs = 1\nbatch = 16\n",
		 s.port, digest);
	free(jt_write(dir, "u.flow", flow));
	int rc = jt_sh(dir, &out, &err, "XDG_CACHE_HOME='%s/cache' '%s' --batch u.flow", dir,
		       jt_bin());
	pthread_join(th, NULL);
	close(s.fd);
	cr_assert_eq(rc, 0, "exit %d: %s\n%s", rc, err, out);
	cr_expect(s.served);
	cr_expect(strstr(out, "classes.csv: 400 rows"), "%s", out);
	free(out), free(err);

	/* the server is gone: the cache serves the rerun */
	rc = jt_sh(dir, &out, &err, "XDG_CACHE_HOME='%s/cache' '%s' --batch --rerun 1", dir, jt_bin());
	cr_expect_eq(rc, 0, "exit %d: %s\n%s", rc, err, out);
	free(out), free(err);

	/* a wrong pin is refused at the flow's line, before any run (a local
	 * file: with a URL, a cached copy that fails the pin is fetched again) */
	digest[0] = digest[0] == '0' ? '1' : '0';
	snprintf(flow, sizeof flow, "[data]\nsource = classes.csv\ntarget = label\nsha256 = %s\n",
		 digest);
	free(jt_write(dir, "bad.flow", flow));
	rc = jt_jianmo(dir, &out, &err, "--batch bad.flow");
	cr_expect_eq(rc, 2);
	char want[256];
	snprintf(want, sizeof want, "jianmo: bad.flow:4: [data] sha256: \"classes.csv\": sha256 "
		 "mismatch: expected %s, got ", digest);
	cr_expect(strstr(err, want), "want %s in: %s", want, err);
	free(out), free(err);
	free(csv);
}

/* Tabular MixUp: a classification blends rows and their one-hot targets
 * and trains; a regression has no classes to blend and is refused at the
 * key's line. */
Test(tabular_batch, mixup_on_rows)
{
	write_classes_csv("classes.csv");
	char *flow = NULL;
	cr_assert(asprintf(&flow, "%s[augment]\nmixup = 0.4\n", classes_flow) > 0);
	free(jt_write(dir, "m.flow", flow));
	free(flow);
	char *out, *err;
	int rc = jt_jianmo(dir, &out, &err, "--batch m.flow");
	cr_assert_eq(rc, 0, "run failed (%d): %s\n%s", rc, err, out);
	cr_expect(strstr(out, "augment: "), "the augmentation is reported:\n%s", out);
	free(out), free(err);
	sqlite3 *db = open_db();
	cr_expect_gt(metric(db, 1, "test_acc"), 0.7, "mixed rows still learn the labels");
	sqlite3_close(db);
}

Test(tabular_batch, mixup_refused_for_a_regression)
{
	write_values_csv("data.csv");
	expect_refused("[data]\nsource = data.csv\ntarget = y\n[train]\nbatch = 16\n[augment]\n"
		       "mixup = 0.2\n", NULL,
		       "jianmo: bad.flow:7: [augment] mixup: mixing blends class targets; this is a "
		       "regression (target y)");
}

/* [split] test = 0: the run trains, keeps its model and says it was not
 * tested, with no made-up test figures in the store. */
Test(tabular_batch, no_test_part_is_not_tested)
{
	write_classes_csv("classes.csv");
	char text[2048];
	snprintf(text, sizeof text, "%s[split]\ntest = 0\n", classes_flow);
	free(jt_write(dir, "c.flow", text));
	char *out, *err;
	int rc = jt_jianmo(dir, &out, &err, "--batch c.flow");
	cr_assert_eq(rc, 0, "exit %d\n%s\n%s", rc, out, err);
	cr_expect(strstr(out, "not tested: [split] test = 0 leaves no test rows"), "%s", out);
	cr_expect_null(strstr(out, "test loss"), "%s", out);
	free(out), free(err);
	sqlite3 *db = open_db();
	cr_expect_eq(count(db, "SELECT count(*) FROM metrics WHERE key LIKE 'test%'"), 0);
	cr_expect_eq(count(db, "SELECT count(*) FROM runs WHERE status = 'done'"), 1);
	sqlite3_close(db);
	char path[4096];
	snprintf(path, sizeof path, "%s/.jianmo/runs/1/model.safetensors", dir);
	cr_expect_eq(access(path, F_OK), 0, "no model kept");
	snprintf(path, sizeof path, "%s/.jianmo/runs/1/confusion.csv", dir);
	cr_expect_neq(access(path, F_OK), 0, "a confusion matrix of nothing");
}
