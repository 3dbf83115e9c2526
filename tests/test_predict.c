/*
 * test_predict.c: `jianmo predict` end to end through the real binary.
 *
 * The correctness checks: a CSV run's own test rows (its split reproduced
 * here with libjm_data: the same CSV reader, jm_target_classes and
 * jm_split_make with the run's fractions and seed), predicted with the
 * target present, give exactly the stored test_acc and test_loss, and a
 * regression's rows give its test_rmse, test_mae and test_r2; an image
 * run's test images with --labels give exactly its test_acc, also from a
 * stopped run's checkpoint with the normalisation recomputed from the
 * training data.  Then the output itself (one line per input row, empty
 * cells where a row has no prediction, probabilities summing to 1) and
 * the refusals (exit 2, each with its message).
 */
#include <criterion/criterion.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "data/csv.h"
#include "data/split.h"
#include "pipeline/features.h"
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

TestSuite(predict, .init = setup, .fini = teardown, .timeout = 120);

#define NEED_FMNIST()                                                              \
	do {                                                                       \
		if (!jt_fmnist_dir())                                              \
			cr_skip_test("SKIPPED: Fashion-MNIST not installed "       \
				     "(apt-get install dataset-fashion-mnist)");   \
	} while (0)

/* ---- data and flows --------------------------------------------------------- */

/* 400 rows: two numeric features (x1 missing in every 11th row), a text
 * one with gaps, an id; the label is "yes" when a noisy linear score is
 * positive.  Deterministic; no quoted fields, so data row i is line i+2. */
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
		double noise = (double)(s >> 8 & 0xffff) / 65536.0 * 2 - 1;
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

/* 300 rows of y = 3 x1 - 2 x2 + 50 + noise; y missing in every 13th. */
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
		double noise = (double)(s >> 8 & 0xffff) / 65536.0 * 4 - 2;
		if (i % 13 == 5)
			fprintf(fp, "%.4f,%.4f,\n", a, b);
		else
			fprintf(fp, "%.4f,%.4f,%.4f\n", a, b, 3 * a - 2 * b + 50 + noise);
	}
	fclose(fp);
	free(path);
}

/* Few epochs: the test accuracy is not 1, so matching it means something. */
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
	"[split]\n"
	"val = 0.15\n"
	"test = 0.15\n"
	"[model]\n"
	"type = mlp\n"
	"hidden = 8\n"
	"[train]\n"
	"epochs = 4\n"
	"batch = 16\n"
	"lr = 0.01\n"
	"seed = 7\n";

/* The rows without a target are dropped before the split (tabular.c). */
static const char *values_flow =
	"[data]\n"
	"source = values.csv\n"
	"target = y\n"
	"[clean]\n"
	"missing = drop: y\n"
	"[features]\n"
	"standardize = *\n"
	"[split]\n"
	"val = 0.15\n"
	"test = 0.15\n"
	"[model]\n"
	"type = mlp\n"
	"hidden = 8\n"
	"[train]\n"
	"epochs = 3\n"
	"batch = 16\n"
	"lr = 0.01\n"
	"seed = 3\n";

static const char *image_flow =
	"[data]\n"
	"source = fashion-mnist\n"
	"limit = 2000\n"
	"test_limit = 1000\n"
	"[model]\n"
	"type = mlp\n"
	"hidden = 64\n"
	"[train]\n"
	"epochs = 1\n"
	"batch = 64\n";

/* ---- helpers ------------------------------------------------------------------- */

static void train(const char *flow_name, const char *flow)
{
	free(jt_write(dir, flow_name, flow));
	char *out, *err;
	int rc = jt_jianmo(dir, &out, &err, "--batch %s", flow_name);
	cr_assert_eq(rc, 0, "training %s failed (%d):\n%s\n%s", flow_name, rc, out, err);
	free(out);
	free(err);
}

static sqlite3 *open_db(int writable)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/.jianmo/jianmo.db", dir);
	sqlite3 *db = NULL;
	cr_assert_eq(sqlite3_open_v2(path, &db, writable ? SQLITE_OPEN_READWRITE
							 : SQLITE_OPEN_READONLY, NULL),
		     SQLITE_OK, "cannot open %s", path);
	sqlite3_busy_timeout(db, 5000);
	return db;
}

/* A metric's last value, or NAN. */
static double metric(long long run, const char *key)
{
	sqlite3 *db = open_db(0);
	sqlite3_stmt *st;
	cr_assert_eq(sqlite3_prepare_v2(db, "SELECT last FROM metric_summary WHERE run = ? AND "
					"key = ?", -1, &st, NULL), SQLITE_OK);
	sqlite3_bind_int64(st, 1, run);
	sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
	double v = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_double(st, 0) : NAN;
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

static void sql(const char *text)
{
	sqlite3 *db = open_db(1);
	char *msg = NULL;
	cr_assert_eq(sqlite3_exec(db, text, NULL, NULL, &msg), SQLITE_OK, "%s: %s", text, msg);
	sqlite3_close(db);
}

/* "accuracy A (C of N ..." and "log loss L" from predict's summary. */
static void parse_accuracy(const char *err, long long *correct, long long *n, double *loss)
{
	const char *a = strstr(err, "accuracy "), *l = strstr(err, "log loss ");
	double acc;
	cr_assert(a && l, "no accuracy in:\n%s", err);
	cr_assert_eq(sscanf(a, "accuracy %lf (%lld of %lld", &acc, correct, n), 3, "%s", a);
	cr_assert_eq(sscanf(l, "log loss %lf", loss), 1, "%s", l);
}

/* The lines of a file: an array of n strings into one buffer. */
static char **lines_of(const char *path, int *n, char **buf)
{
	*buf = jt_read(path, NULL);
	cr_assert_not_null(*buf, "no %s", path);
	char **v = NULL;
	*n = 0;
	for (char *save = NULL, *l = strtok_r(*buf, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		v = realloc(v, (size_t)(*n + 1) * sizeof *v);
		v[(*n)++] = l;
	}
	return v;
}

/* The data rows of name's CSV at rows[0..n) (ascending), with the header,
 * into out_name: data row i is line i + 2. */
static void write_rows(const char *name, const char *out_name, const int32_t *rows, int64_t n)
{
	char path[4096], *buf;
	int nl;
	snprintf(path, sizeof path, "%s/%s", dir, name);
	char **l = lines_of(path, &nl, &buf);
	char *opath = jt_write(dir, out_name, "");
	FILE *fp = fopen(opath, "w");
	cr_assert_not_null(fp);
	fprintf(fp, "%s\n", l[0]);
	for (int64_t i = 0; i < n; i++) {
		cr_assert_lt(rows[i] + 1, nl);
		fprintf(fp, "%s\n", l[rows[i] + 1]);
	}
	fclose(fp);
	free(opath);
	free(l);
	free(buf);
}

/* name's CSV as jianmo reads it (the flows here leave the reading
 * options at their defaults). */
static jm_frame *read_csv(const char *name)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	size_t n;
	char *text = jt_read(path, &n);
	cr_assert_not_null(text);
	jm_csv_opts co;
	jm_csv_opts_init(&co);
	jm_frame *f = NULL;
	jm_err err = {0};
	cr_assert_eq(jm_csv_parse(text, n, &co, &f, NULL, &err), 0, "%s", err.msg);
	free(text);
	return f;
}

/* ---- a CSV run ------------------------------------------------------------------ */

Test(predict, csv_test_rows_give_the_stored_test_acc)
{
	write_classes_csv("classes.csv");
	train("classes.flow", classes_flow);
	double test_acc = metric(1, "test_acc"), test_loss = metric(1, "test_loss");
	cr_assert(test_acc > 0.5 && test_acc < 1.0, "test_acc %g: pick a flow with a harder test",
		  test_acc);

	/* the run's split: stratified by class over every row, its fractions
	 * and seed (tabular.c split_rows) */
	jm_frame *f = read_csv("classes.csv");
	int32_t *labels;
	char **classes;
	int ncls;
	jm_err err = {0};
	jm_split sp = {0};
	cr_assert_eq(jm_target_classes(f, "label", &labels, &ncls, &classes, &err), 0, "%s", err.msg);
	cr_assert_eq(jm_split_make(&sp, labels, f->nrows, ncls, 0.15, 0.15, 1, 7, &err), 0, "%s",
		     err.msg);
	write_rows("classes.csv", "test_rows.csv", sp.test, sp.n_test);

	char *out, *msg;
	int rc = jt_jianmo(dir, &out, &msg, "predict 1 test_rows.csv --out pred.csv");
	cr_assert_eq(rc, 0, "predict failed (%d): %s", rc, msg);
	long long correct, n;
	double loss;
	parse_accuracy(msg, &correct, &n, &loss);
	cr_log_info("csv: predict on the run's %lld test rows: %lld right = %.6f, log loss %.6f; the "
		    "run's test_acc %.6f, test_loss %.6f", (long long)sp.n_test, correct,
		    (double)correct / (double)n, loss, test_acc, test_loss);
	cr_expect_eq(n, sp.n_test, "scored %lld of the %lld test rows", n, (long long)sp.n_test);
	cr_expect_eq((double)correct / (double)n, test_acc, "predict: %lld of %lld = %.17g, "
		     "the run's test_acc %.17g", correct, n, (double)correct / (double)n, test_acc);
	cr_expect(fabs(loss - test_loss) < 1e-5, "log loss %.9g, the run's test_loss %.9g", loss,
		  test_loss);
	free(out), free(msg);

	/* every row of the training CSV: one accuracy over all of them */
	rc = jt_jianmo(dir, &out, &msg, "predict 1 classes.csv");
	cr_assert_eq(rc, 0, "predict failed (%d): %s", rc, msg);
	parse_accuracy(msg, &correct, &n, &loss);
	cr_expect_eq(n, 400, "%s", msg);
	cr_expect_gt((double)correct / 400.0, 0.5, "%s", msg);
	free(out), free(msg);

	for (int k = 0; k < ncls; k++)
		free(classes[k]);
	free(classes);
	free(labels);
	jm_split_clear(&sp);
	jm_frame_free(f);
}

Test(predict, csv_regression_test_rows_give_the_stored_rmse)
{
	write_values_csv("values.csv");
	train("values.flow", values_flow);
	double rmse = metric(1, "test_rmse"), mae = metric(1, "test_mae"), r2 = metric(1, "test_r2");
	cr_assert(isfinite(rmse) && isfinite(mae) && isfinite(r2));

	/* rows without a target leave before the split; regression splits at
	 * random (no classes) */
	jm_frame *f = read_csv("values.csv");
	const jm_col *y = jm_frame_col(f, "y");
	int32_t *kept = malloc((size_t)f->nrows * sizeof *kept), *test_rows;
	int64_t nk = 0;
	for (int64_t i = 0; i < f->nrows; i++)
		if (!jm_col_isna(y, i))
			kept[nk++] = (int32_t)i;
	jm_err err = {0};
	jm_split sp = {0};
	cr_assert_eq(jm_split_make(&sp, NULL, nk, 0, 0.15, 0.15, 0, 3, &err), 0, "%s", err.msg);
	test_rows = malloc((size_t)sp.n_test * sizeof *test_rows);
	for (int64_t i = 0; i < sp.n_test; i++)
		test_rows[i] = kept[sp.test[i]];
	write_rows("values.csv", "test_rows.csv", test_rows, sp.n_test);

	char *out, *msg;
	int rc = jt_jianmo(dir, &out, &msg, "predict 1 test_rows.csv");
	cr_assert_eq(rc, 0, "predict failed (%d): %s", rc, msg);
	const char *s = strstr(msg, "over the ");
	long long scored;
	double p_rmse, p_mae, p_r2;
	cr_assert(s, "%s", msg);
	cr_assert_eq(sscanf(s, "over the %lld with a target: rmse %lf mae %lf r2 %lf", &scored,
			    &p_rmse, &p_mae, &p_r2), 4, "%s", s);
	cr_log_info("regression: predict on the run's %lld test rows: rmse %.6g mae %.6g r2 %.6f; "
		    "the run's %.6g %.6g %.6f", scored, p_rmse, p_mae, p_r2, rmse, mae, r2);
	cr_expect_eq(scored, sp.n_test);
	cr_expect(fabs(p_rmse - rmse) <= 1e-5 * rmse, "rmse %.9g, the run's %.9g", p_rmse, rmse);
	cr_expect(fabs(p_mae - mae) <= 1e-5 * mae, "mae %.9g, the run's %.9g", p_mae, mae);
	cr_expect(fabs(p_r2 - r2) <= 1e-5, "r2 %.9g, the run's %.9g", p_r2, r2);
	free(out), free(msg);

	/* the whole file, target column and all: the rows without a target
	 * are predicted too (the run dropped them only for want of a target)
	 * and not scored; predictions are in the target's units */
	rc = jt_jianmo(dir, &out, &msg, "predict 1 values.csv --out all.csv");
	cr_assert_eq(rc, 0, "%s", msg);
	cr_expect(strstr(msg, "predicted 300 of 300 rows"), "%s", msg);
	cr_expect(strstr(msg, "over the 277 with a target"), "%s", msg);
	char path[4096], *buf, *in_buf;
	int nl, nin;
	snprintf(path, sizeof path, "%s/all.csv", dir);
	char **l = lines_of(path, &nl, &buf);
	snprintf(path, sizeof path, "%s/values.csv", dir);
	char **in = lines_of(path, &nin, &in_buf);
	cr_assert_eq(nl, 301);
	cr_expect_str_eq(l[0], "row,prediction");
	double se = 0;
	for (int i = 1; i < nl; i++) {
		long long row;
		double pred, x1, x2;
		cr_assert_eq(sscanf(l[i], "%lld,%lf", &row, &pred), 2, "line %d: %s", i + 1, l[i]);
		cr_assert_eq(row, i);
		cr_assert_eq(sscanf(in[i], "%lf,%lf", &x1, &x2), 2);
		se += (pred - (3 * x1 - 2 * x2 + 50)) * (pred - (3 * x1 - 2 * x2 + 50));
	}
	cr_expect_lt(sqrt(se / 300), 3 * rmse + 2, "predictions far from y: rmse %g", sqrt(se / 300));
	free(l), free(buf), free(in), free(in_buf);
	free(out), free(msg);

	rc = jt_jianmo(dir, &out, &msg, "predict 1 values.csv --proba");
	cr_expect_eq(rc, 2);
	cr_expect(strstr(msg, "--proba: run 1 is a regression of \"y\""), "%s", msg);
	free(out), free(msg);

	free(kept);
	free(test_rows);
	jm_split_clear(&sp);
	jm_frame_free(f);
}

/* ---- the output ------------------------------------------------------------------ */

Test(predict, rows_stay_aligned_and_probabilities_sum_to_one)
{
	write_classes_csv("classes.csv");
	train("classes.flow", classes_flow);
	/* no target, no id: row 1 is clearly yes and row 2 clearly no (the
	 * label's score is x1 + 0.2 (x2 - 10) + noise in [-1, 1]); row 3's
	 * x1 is filled with the run's median; row 4 lacks x2, which the run
	 * does not fill and [features] missing = error refuses; row 5's city
	 * was never seen (one-hot zeros) */
	free(jt_write(dir, "new.csv", "x1,x2,city\n"
				       "2.0,15.0,rome\n"
				       "-2.0,5.0,rome\n"
				       "NA,10.0,oslo\n"
				       "0.5,NA,rome\n"
				       "1.0,12.0,paris\n"));
	char *out, *msg;
	int rc = jt_jianmo(dir, &out, &msg, "predict 1 new.csv --proba");
	cr_assert_eq(rc, 0, "predict failed (%d): %s", rc, msg);
	cr_expect(strstr(msg, "1 of 5 rows has no prediction (row 4): an input is missing "
			      "(first: \"x2\") and the run's [features] missing = error"), "%s", msg);
	cr_expect(strstr(msg, "predicted 4 of 5 rows of new.csv"), "%s", msg);
	cr_expect_null(strstr(msg, "accuracy"), "no target, no accuracy: %s", msg);
	char *line[8];
	int n = 0;
	for (char *save = NULL, *l = strtok_r(out, "\n", &save); l && n < 8;
	     l = strtok_r(NULL, "\n", &save))
		line[n++] = l;
	cr_assert_eq(n, 6, "one line per row and the header:\n%s", out);
	cr_expect_str_eq(line[0], "row,prediction,p_no,p_yes");
	cr_expect_str_eq(line[4], "4,,,", "row 4 keeps its line, empty");
	for (int i = 1; i < 6; i++) {
		if (i == 4)
			continue;
		long long row;
		char pred[8];
		double p0, p1;
		cr_assert_eq(sscanf(line[i], "%lld,%7[a-z],%lf,%lf", &row, pred, &p0, &p1), 4,
			     "line %d: %s", i + 1, line[i]);
		cr_expect_eq(row, i);
		cr_expect(fabs(p0 + p1 - 1) < 1e-5, "row %d: %g + %g", i, p0, p1);
		cr_expect_str_eq(pred, p1 > p0 ? "yes" : "no", "row %d: the likelier class", i);
	}
	cr_expect(!strncmp(line[1], "1,yes,", 6), "%s", line[1]);
	cr_expect(!strncmp(line[2], "2,no,", 5), "%s", line[2]);
	free(out), free(msg);

	/* --out: the file appears whole, through a temporary beside it, with
	 * the mode any new file gets (umask 022: rw-r--r--, not mkstemp's) */
	mode_t mask = umask(022);
	rc = jt_jianmo(dir, &out, &msg, "predict 1 new.csv --out pred.csv");
	umask(mask);
	cr_assert_eq(rc, 0, "%s", msg);
	cr_expect_str_empty(out, "nothing on stdout with --out: %s", out);
	cr_expect(strstr(msg, "wrote pred.csv"), "%s", msg);
	char path[4096];
	snprintf(path, sizeof path, "%s/pred.csv", dir);
	char *text = jt_read(path, NULL);
	cr_assert_not_null(text);
	cr_expect(!strncmp(text, "row,prediction\n1,yes\n2,no\n", 26), "%s", text);
	struct stat sb;
	cr_assert_eq(stat(path, &sb), 0);
	cr_expect_eq(sb.st_mode & 0777, 0644, "mode %o", (unsigned)(sb.st_mode & 0777));
	free(text);
	char *ls;
	jt_sh(dir, &ls, NULL, "ls -a");
	cr_expect_null(strstr(ls, "pred.csv."), "a temporary file is left: %s", ls);
	free(ls);
	free(out), free(msg);
}

/* ---- refusals -------------------------------------------------------------------- */

static void expect_refused(const char *args, const char *what)
{
	char *out, *msg;
	int rc = jt_jianmo(dir, &out, &msg, "predict %s", args);
	cr_expect_eq(rc, 2, "predict %s: exit %d, not 2:\n%s", args, rc, msg);
	cr_expect(strstr(msg, what), "predict %s: expected \"%s\" in:\n%s", args, what, msg);
	cr_expect_str_empty(out, "predict %s: refused, yet wrote:\n%s", args, out);
	free(out), free(msg);
}

Test(predict, refuses_bad_runs_and_bad_data)
{
	write_classes_csv("classes.csv");
	train("classes.flow", classes_flow);
	expect_refused("9 classes.csv", "no run \"9\"");
	expect_refused("1", "usage: jianmo predict RUN DATA");
	expect_refused("1 classes.csv --limit x", "--limit: expected a whole number");
	expect_refused("1 nothere.csv", "nothere.csv");

	free(jt_write(dir, "nocols.csv", "id,city,label\n1,rome,yes\n"));
	expect_refused("1 nocols.csv", "nocols.csv: no columns \"x1\", \"x2\", which run 1's model "
				       "needs");
	free(jt_write(dir, "renamed.csv", "id,x_1,x2,city\n1,0.5,1.5,rome\n"));
	expect_refused("1 renamed.csv", "renamed.csv: no column \"x1\" (DATA has \"x_1\"), which run "
					"1's model needs");
	free(jt_write(dir, "text.csv", "x1,x2,city\n0.5,abc,rome\n1.0,2.0,oslo\n"));
	expect_refused("1 text.csv", "text.csv: column \"x2\" holds text (row 1: \"abc\"), and run 1's "
				     "model takes numbers there");
	/* the value quoted is the first that is no number, not the first */
	free(jt_write(dir, "text2.csv", "x1,x2,city\n0.5,1.5,rome\n0.5,,rome\n1.0,n/a?,oslo\n"));
	expect_refused("1 text2.csv", "text2.csv: column \"x2\" holds text (row 3: \"n/a?\")");
	free(jt_write(dir, "empty.csv", ""));
	expect_refused("1 empty.csv", "empty.csv: empty file");
	free(jt_write(dir, "header.csv", "x1,x2,city\n"));
	expect_refused("1 header.csv", "header.csv: a header but no data rows");
	/* an IDX image file (one 2x2 image) for a CSV run */
	char *idx = jt_write(dir, "img.idx", "");
	FILE *fp = fopen(idx, "wb");
	const unsigned char bytes[] = {0, 0, 8, 3, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 2, 1, 2, 3, 4};
	fwrite(bytes, 1, sizeof bytes, fp);
	fclose(fp);
	free(idx);
	expect_refused("1 img.idx", "img.idx: an IDX file of images, and run 1 was trained on a CSV");
	expect_refused("1 classes.csv --labels img.idx", "--labels is for a run on images");
	expect_refused("1 classes.csv --out no/such/dir/p.csv", "--out no/such/dir/p.csv: directory "
							       "no/such/dir does not exist");
	expect_refused("1 classes.csv --out .", "--out .: is a directory");
	/* never over the store's own files, nor over DATA */
	expect_refused("1 classes.csv --out .jianmo/jianmo.db",
		       "--out .jianmo/jianmo.db: inside the store's home ");
	expect_refused("1 classes.csv --out .jianmo/runs/1/model.safetensors",
		       "predictions there would replace the store's own files");
	expect_refused("1 classes.csv --out ./classes.csv",
		       "--out ./classes.csv: is DATA, the file predicted");
	char *ls;
	cr_assert_eq(jt_jianmo(dir, &ls, NULL, "runs"), 0, "the store was harmed");
	free(ls);
	/* a fifo and /proc/self/fd/1 are written in place, as > would (a
	 * device too; /dev/null is not tried: as root, a regression would
	 * replace it); a link stays a link, the file it names gets the
	 * predictions */
	char *sh_out;
	int rc = jt_sh(dir, &sh_out, NULL,
		       "mkfifo ff && (cat ff > from_fifo &) && '%s' predict 1 classes.csv --out ff && "
		       "sleep 0.2 && test -p ff && head -1 from_fifo && "
		       "'%s' predict 1 classes.csv --out /proc/self/fd/1 | head -1 && "
		       "touch real.csv && ln -s real.csv link.csv && "
		       "'%s' predict 1 classes.csv --out link.csv && test -L link.csv && "
		       "head -1 real.csv",
		       jt_bin(), jt_bin(), jt_bin());
	cr_expect_eq(rc, 0, "%s", sh_out);
	cr_expect_str_eq(sh_out, "row,prediction\nrow,prediction\nrow,prediction\n");
	free(sh_out);

	/* the run's state */
	/* on another host, so the store's crash check leaves it running */
	sql("UPDATE runs SET status = 'running', pid = 1, host = 'elsewhere' WHERE id = 1");
	expect_refused("1 classes.csv", "run 1 is still running (pid 1)");
	sql("UPDATE runs SET status = 'queued' WHERE id = 1");
	expect_refused("1 classes.csv", "run 1 is queued");
	jt_sh(dir, NULL, NULL, "mv .jianmo/runs/1/model.safetensors model.keep && "
			       "mv .jianmo/runs/1/checkpoint.safetensors ckpt.keep");
	sql("UPDATE runs SET status = 'failed', error = 'diverged' WHERE id = 1");
	expect_refused("1 classes.csv", "run 1 has no weights: .jianmo/runs/1/model.safetensors "
					"does not exist (run failed: diverged)");
}

Test(predict, a_search_points_to_its_best_trial)
{
	write_classes_csv("classes.csv");
	char *flow = malloc(strlen(classes_flow) + 200);
	sprintf(flow, "%s[search]\ntrials = 2\nmethod = random\nmetric = val_acc\nworkers = 1\n"
		"train.lr = loguniform(0.001, 0.01)\n", classes_flow);
	train("search.flow", flow);
	free(flow);
	char *out, *msg;
	int rc = jt_jianmo(dir, &out, &msg, "predict 1 classes.csv");
	cr_expect_eq(rc, 2, "%s", msg);
	const char *best = strstr(msg, "its best trial is run ");
	long long trial = 0;
	cr_assert(best, "%s", msg);
	cr_assert_eq(sscanf(best, "its best trial is run %lld", &trial), 1);
	cr_expect(trial == 2 || trial == 3, "%s", msg);
	free(out), free(msg);
	rc = jt_jianmo(dir, &out, &msg, "predict %lld classes.csv", trial);
	cr_expect_eq(rc, 0, "the best trial predicts: %s", msg);
	free(out), free(msg);
}

/* ---- an image run ---------------------------------------------------------------- */

Test(predict, image_test_images_give_the_stored_test_acc)
{
	NEED_FMNIST();
	const char *fm = jt_fmnist_dir();
	train("img.flow", image_flow);
	double test_acc = metric(1, "test_acc"), test_loss = metric(1, "test_loss");
	cr_assert(test_acc > 0.3 && test_acc < 1, "test_acc %g", test_acc);
	char *out, *msg;
	int rc = jt_jianmo(dir, &out, &msg, "predict 1 %s/t10k-images-idx3-ubyte.gz --labels "
			   "%s/t10k-labels-idx1-ubyte.gz --limit 1000 --out img.csv --proba", fm, fm);
	cr_assert_eq(rc, 0, "predict failed (%d): %s", rc, msg);
	long long correct, n;
	double loss;
	parse_accuracy(msg, &correct, &n, &loss);
	cr_log_info("images: predict on the first 1000 test images: %lld right, log loss %.6f; the "
		    "run's test_acc %.6f, test_loss %.6f", correct, loss, test_acc, test_loss);
	cr_expect_eq(n, 1000, "the run's test_limit: %s", msg);
	cr_expect_eq((double)correct / (double)n, test_acc, "predict: %lld of %lld, the run's "
		     "test_acc %.17g", correct, n, test_acc);
	cr_expect(fabs(loss - test_loss) < 1e-5, "log loss %.9g, the run's test_loss %.9g", loss,
		  test_loss);
	char path[4096], *buf;
	int nl;
	snprintf(path, sizeof path, "%s/img.csv", dir);
	char **l = lines_of(path, &nl, &buf);
	cr_expect_eq(nl, 1001);
	cr_expect(!strncmp(l[0], "row,prediction,p_T-shirt/top,p_Trouser,", 39), "%s", l[0]);
	cr_expect(!strncmp(l[1], "1,", 2), "%s", l[1]);
	free(l), free(buf);
	char *first = strstr(msg, "accuracy");
	char *want = strndup(first ? first : "", first ? strcspn(first, ";") : 0);
	free(out), free(msg);

	/* without the final model (a run stopped at its last epoch's
	 * checkpoint): the same weights, and the normalisation recomputed
	 * from the run's training data, give the same figures */
	jt_sh(dir, NULL, NULL, "mv .jianmo/runs/1/model.safetensors model.keep");
	sql("UPDATE runs SET status = 'stopped' WHERE id = 1");
	rc = jt_jianmo(dir, &out, &msg, "predict 1 %s/t10k-images-idx3-ubyte.gz --labels "
		       "%s/t10k-labels-idx1-ubyte.gz --limit 1000", fm, fm);
	cr_assert_eq(rc, 0, "predict failed (%d): %s", rc, msg);
	cr_expect(strstr(msg, "predicting with its last checkpoint"), "%s", msg);
	cr_expect(strstr(msg, want), "from the checkpoint: %s\nfrom the model: %s", msg, want);
	free(want);
	free(out), free(msg);

	/* the wrong data for an image run */
	free(jt_write(dir, "rows.csv", "a,b\n1,2\n"));
	expect_refused("1 rows.csv", "rows.csv: not an IDX file (it starts with \"a,b\": a CSV?), "
				     "and run 1 was trained on images (fashion-mnist)");
	char args[2048];
	snprintf(args, sizeof args, "1 %s/t10k-images-idx3-ubyte.gz --labels "
		 "%s/train-labels-idx1-ubyte.gz", fm, fm);
	expect_refused(args, "60000 labels for the 10000 images");
	snprintf(args, sizeof args, "1 %s/t10k-labels-idx1-ubyte.gz", fm);
	expect_refused(args, "expected images");
}

/* What the CSV reader notes (here a file cut off mid-row) is said, as a
 * run says it: the predictions of its last row come from filled-in
 * values. */
Test(predict, a_file_cut_off_is_noted)
{
	write_classes_csv("classes.csv");
	train("classes.flow", classes_flow);
	free(jt_write(dir, "cut.csv", "id,x1,x2,city,label\n1,0.5,10,rome,yes\n2,0.5"));
	char *out, *msg;
	int rc = jt_jianmo(dir, &out, &msg, "predict 1 cut.csv");
	cr_assert_eq(rc, 0, "%s", msg);
	cr_expect(strstr(msg, "note: cut.csv: line 3 has 2 fields, expected 5, and no newline: the "
			      "file looks cut off"),
		  "%s", msg);
	free(out), free(msg);
}

/* Values a float cannot hold give rows without a prediction and a note:
 * never NaN probabilities, nor a class argmax'ed over NaNs, nor a NaN log
 * loss.  (Outputs that are not finite for other inputs are dropped the
 * same way, take_row.) */
Test(predict, values_beyond_a_float_get_no_prediction)
{
	write_classes_csv("classes.csv");
	train("classes.flow", classes_flow);
	free(jt_write(dir, "big.csv",
		      "id,x1,x2,city,label\n"
		      "1,1e39,10,rome,yes\n"
		      "2,-1e300,10,rome,no\n"
		      "3,0.5,1e39,oslo,yes\n"
		      "4,0.5,10,rome,yes\n"));
	char *out, *msg;
	int rc = jt_jianmo(dir, &out, &msg, "predict 1 big.csv --proba");
	cr_assert_eq(rc, 0, "%s", msg);
	cr_expect(!strstr(out, "nan") && !strstr(msg, "nan"), "%s\n%s", out, msg);
	cr_expect(strstr(out, "\n1,,,\n2,,,\n3,,,\n4,"), "%s", out);
	cr_expect(strstr(msg, "3 of 4 rows have no prediction (rows 1, 2, 3): an input is infinite "
			      "or beyond a float's range (first: \"x1\")"),
		  "%s", msg);
	cr_expect(strstr(msg, "predicted 1 of 4 rows"), "%s", msg);
	free(out), free(msg);
}
