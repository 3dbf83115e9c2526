/*
 * test_search_run.c: hyperparameter search from the flow to the store.
 *
 *   search_flow  the [search] section: every distribution, the canonical
 *                form, --set, and every error with its message
 *   search_run   `jianmo --batch` on a search through the real binary, on
 *                a tiny IDX data set written here (three noisy classes of
 *                8x8 images): trials land in the store as children with
 *                params and metrics; two workers; a diverging trial fails
 *                and the search goes on; pruning; `show`; --json; resume
 *                after the searching process is stopped or killed
 */
#include <criterion/criterion.h>
#include <math.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flowtest.h"
#include "testutil.h"

/* ---- search_flow --------------------------------------------------------- */


Test(search_flow, every_distribution_parses_and_round_trips)
{
	jm_flow *f = parse_ok("[train]\n"
			      "optimizer = sgd\n"
			      "[search]\n"
			      "trials = 12\n"
			      "method = random\n"
			      "workers = 3\n"
			      "prune = asha\n"
			      "seed = 7\n"
			      "train.lr = loguniform(1e-5, 1e-2)   ; the rate\n"
			      "model.dropout = uniform(0.1, 0.5)\n"
			      "train.epochs = int(1, 4)\n"
			      "train.accumulate = int(1, 8, log)\n"
			      "train.step_epochs = logint(2, 64)\n"
			      "train.batch = choice(32, 64, 128)\n"
			      "model.act = choice(relu, gelu)\n"
			      "model.hidden = choice(\"256,128\", \"64\")\n"
			      "train.nesterov = choice(true, false)\n"
			      "train.momentum = (0.5, 0.99)\n"
			      "data.normalize = [standard, unit]\n");
	cr_assert_eq(f->search.trials, 12);
	cr_assert_str_eq(f->search.method, "random");
	cr_assert_eq(f->search.workers, 3);
	cr_assert_str_eq(f->search.prune, "asha");
	cr_assert_eq(f->search.seed, 7);
	cr_assert_eq(f->search.n_params, 11);
	cr_assert_str_eq(f->search.params[0].key, "train.lr");
	cr_assert_str_eq(f->search.params[0].spec, "loguniform(1e-5, 1e-2)");
	cr_assert_eq(f->search.params[0].line, 9);
	cr_assert_str_eq(f->search.params[7].spec, "choice(\"256,128\", \"64\")");
	cr_assert_eq(jm_flow_search_maximize(f), 1, "val_acc is maximised");

	char *text = jm_flow_format(f);
	cr_assert(strstr(text, "[search]\ntrials = 12\n"), "%s", text);
	cr_assert(strstr(text, "seed = 7\ntrain.lr = loguniform(1e-5, 1e-2)\nmodel.dropout = "),
		  "%s", text);
	jm_flow *g = parse_ok(text);
	cr_assert(jm_flow_equal(f, g), "the canonical form reads back the same");
	jm_flow *d = jm_flow_dup(f);
	cr_assert(jm_flow_equal(f, d));
	jm_flow_search_strip(d);
	cr_assert_eq(d->search.n_params, 0);
	cr_assert_eq(d->search.trials, 0);
	cr_assert_not(jm_flow_equal(f, d));
	char *plain = jm_flow_format(d);
	cr_assert_null(strstr(plain, "train.lr ="), "%s", plain);
	jm_flow_free(parse_ok(plain)); /* a trial's flow is a plain flow */
	free(plain);
	free(text);
	jm_flow_free(g);
	jm_flow_free(d);
	jm_flow_free(f);
}

Test(search_flow, direction_follows_the_metric)
{
	jm_flow *f = parse_ok("[search]\ntrials = 2\nmetric = val_loss\ntrain.lr = (0.1, 0.2)\n");
	cr_assert_eq(jm_flow_search_maximize(f), 0);
	jm_flow_free(f);
	f = parse_ok("[search]\ntrials = 2\nmetric = val_loss\ndirection = max\n"
		     "train.lr = (0.1, 0.2)\n");
	cr_assert_eq(jm_flow_search_maximize(f), 1);
	jm_flow_free(f);
	f = parse_ok("[search]\ntrials = 2\nmetric = train_acc\ntrain.lr = (0.1, 0.2)\n");
	cr_assert_eq(jm_flow_search_maximize(f), 1);
	jm_flow_free(f);
}

Test(search_flow, set_adds_and_replaces_searched_keys)
{
	jm_flow *f = parse_ok("[search]\ntrials = 4\ntrain.lr = loguniform(1e-4, 1e-2)\n");
	jm_err err = {0};
	cr_assert_eq(jm_flow_set(f, "search.train.lr=loguniform(1e-3, 1e-1)", &err), 0, "%s",
		     err.msg);
	cr_assert_eq(jm_flow_set(f, "search.model.dropout=uniform(0, 0.5)", &err), 0, "%s", err.msg);
	cr_assert_eq(f->search.n_params, 2);
	cr_assert_str_eq(f->search.params[0].spec, "loguniform(1e-3, 1e-1)");
	cr_assert_eq(f->search.params[0].line, -1);
	cr_assert_eq(jm_flow_set(f, "search.train.lr=loguniform(0, 1)", &err), -1);
	assert_msg(err.msg, "--set search.train.lr=loguniform(0, 1): [search] train.lr: column 12: "
			    "a log scale needs a low bound > 0, got \"0\"");
	cr_assert_str_eq(f->search.params[0].spec, "loguniform(1e-3, 1e-1)", "a failed --set keeps");
	jm_flow_free(f);
}

Test(search_flow, errors_point_at_the_line)
{
	static const struct {
		const char *body, *msg;
	} bad[] = {
		{"train.lrate = loguniform(1e-5, 1e-2)",
		 "fmnist.flow:3: [search] unknown key \"train.lrate\" (did you mean \"train.lr\"?)"},
		{"foo.bar = uniform(0, 1)",
		 "fmnist.flow:3: [search] unknown key \"foo.bar\" (a searched key is section.key, see "
		 "jianmo-flow(5))"},
		{"train.lr = loguniform(0, 1)",
		 "fmnist.flow:3: [search] train.lr: column 12: a log scale needs a low bound > 0, got "
		 "\"0\""},
		{"train.lr = uniform(0, 1)",
		 "fmnist.flow:3: [search] train.lr: uniform(0, 1): low bound 0 is out of range: "
		 "expected a number > 0"},
		{"model.dropout = uniform(0.1, 1)",
		 "fmnist.flow:3: [search] model.dropout: uniform(0.1, 1): high bound 1 is out of "
		 "range: expected a number in [0, 1)"},
		{"train.epochs = int(0, 5)",
		 "fmnist.flow:3: [search] train.epochs: int(0, 5): low bound 0 is out of range: "
		 "expected an integer in [1, 1000000]"},
		{"train.epochs = uniform(1, 5)",
		 "fmnist.flow:3: [search] train.epochs: uniform(1, 5): an integer key takes int(lo, "
		 "hi) or choice(...), not uniform"},
		{"model.act = uniform(1, 2)",
		 "fmnist.flow:3: [search] model.act: uniform(1, 2): a choice key takes choice(...), "
		 "not a range"},
		{"train.batch = choice(32, big)",
		 "fmnist.flow:3: [search] train.batch: choice(32, big): option \"big\": expected an "
		 "integer in [1, 1048576] or auto, got \"big\""},
		{"model.act = choice(relu, swish)",
		 "fmnist.flow:3: [search] model.act: choice(relu, swish): option \"swish\": expected "
		 "one of relu, gelu, tanh, sigmoid, silu, got \"swish\""},
		{"train.lr = choice(0.1, 0.1)",
		 "fmnist.flow:3: [search] train.lr: column 13: \"0.1\" is listed twice"},
		{"train.lr = normal(0, 1)",
		 "fmnist.flow:3: [search] train.lr: column 1: unknown distribution \"normal\"; "
		 "expected uniform, loguniform, int or choice"},
		{"train.lr = loguniform(1e-3)",
		 "fmnist.flow:3: [search] train.lr: column 16: loguniform takes a low and a high "
		 "bound, got 1 value"},
		{"train.lr = uniform(0.5, 0.1)",
		 "fmnist.flow:3: [search] train.lr: column 14: expected a high bound above the low "
		 "bound 0.5, got \"0.1\""},
		{"search.trials = int(1, 3)",
		 "fmnist.flow:3: [search] search.trials: the search's own keys cannot be searched"},
		{"train.lr = (0.1, 0.2)\ntrain.lr = (0.2, 0.3)",
		 "fmnist.flow:4: [search] duplicate key \"train.lr\" (first set on line 3)"},
		{"metrc = val_acc",
		 "fmnist.flow:3: [search] unknown key \"metrc\" (did you mean \"metric\"?)"},
		{"method = tpe",
		 "fmnist.flow:3: [search] method: expected one of bayes, random, grid, got \"tpe\""},
		{"workers = 0",
		 "fmnist.flow:3: [search] workers: expected an integer in [1, 256], got 0"},
		{"prune = hyperband",
		 "fmnist.flow:3: [search] prune: expected one of none, median, asha, got "
		 "\"hyperband\""},
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		char text[512];
		snprintf(text, sizeof text, "[search]\ntrials = 3\n%s\n", bad[i].body);
		assert_msg(parse_fail(text), bad[i].msg);
	}
}

Test(search_flow, rules_of_a_search)
{
	assert_msg(parse_fail("[search]\ntrials = 3\n"),
		   "fmnist.flow:2: [search] trials: nothing to search (add a searched key, e.g. "
		   "train.lr = loguniform(1e-5, 1e-2))");
	assert_msg(parse_fail("[search]\n\ntrain.lr = loguniform(1e-3, 1e-2)\n"),
		   "fmnist.flow:3: [search] train.lr: searched keys need [search] trials > 0");
	assert_msg(parse_fail("[search]\ntrials = 2\nmetric = test_acc\nprune = median\n"
			      "train.lr = (0.1, 0.2)\n"),
		   "fmnist.flow:4: [search] prune: needs a metric logged every epoch (val_* or "
		   "train_*), not test_acc");
	assert_msg(parse_fail("[split]\nval = 0\n[search]\ntrials = 2\ntrain.lr = (0.1, 0.2)\n"),
		   "fmnist.flow:2: [search] metric: val_acc needs a validation set ([split] val > 0)");
	/* no validation set is fine when the metric does not need one */
	jm_flow_free(parse_ok("[split]\nval = 0\n[search]\ntrials = 2\nmetric = train_loss\n"
			      "train.lr = (0.1, 0.2)\n"));
}

Test(search_flow, the_example_search_parses)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/examples/fmnist-search.flow", jt_srcdir());
	jm_flow *f = NULL;
	jm_err err = {0};
	cr_assert_eq(jm_flow_load(&f, path, &err), 0, "%s", err.msg);
	cr_expect_eq(f->search.trials, 20);
	cr_expect_eq(f->search.n_params, 3);
	cr_expect_str_eq(f->search.params[0].key, "train.lr");
	cr_expect_str_eq(f->search.params[0].spec, "loguniform(1e-5, 1e-2)");
	cr_expect_str_eq(f->search.params[1].spec, "choice(32, 64, 128)");
	cr_expect_str_eq(f->search.params[2].spec, "uniform(0.1, 0.5)");
	jm_flow_free(f);
}

/* [search] metric = auto (the default) is the task's: val_acc for a
 * classification, val_loss for a regression; the regression metrics the
 * runs log can be searched, higher r2 and lower rmse and mae being better;
 * a metric the task never logs is refused at its line when the flow says
 * the task (images are classified; [data] task). */
Test(search_flow, metric_follows_the_task)
{
	static const char csv[] = "[data]\nsource = house.csv\ntarget = price\ntask = %s\n"
				  "[search]\ntrials = 2\n%s\ntrain.lr = (0.1, 0.2)\n";
	char text[512];
	snprintf(text, sizeof text, csv, "regression", "");
	jm_flow *f = parse_ok(text);
	cr_expect_eq(jm_flow_search_maximize(f), 0, "a regression minimises its val_loss");
	char *canon = jm_flow_format(f);
	cr_expect(strstr(canon, "\nmetric = auto\n"), "%s", canon);
	free(canon);
	jm_flow_free(f);
	f = parse_ok("[search]\ntrials = 2\ntrain.lr = (0.1, 0.2)\n");
	cr_expect_eq(jm_flow_search_maximize(f), 1, "images: val_acc");
	jm_flow_free(f);

	static const struct {
		const char *metric;
		int maximize;
	} logged[] = {
		{"metric = val_r2", 1},	  {"metric = val_rmse", 0}, {"metric = val_mae", 0},
		{"metric = test_r2", 1},  {"metric = test_rmse", 0}, {"metric = val_loss", 0},
		{"metric = train_loss", 0},
	};
	for (size_t i = 0; i < sizeof logged / sizeof *logged; i++) {
		snprintf(text, sizeof text, csv, "regression", logged[i].metric);
		f = parse_ok(text);
		cr_expect_eq(jm_flow_search_maximize(f), logged[i].maximize, "%s", logged[i].metric);
		jm_flow_free(f);
	}

	snprintf(text, sizeof text, csv, "regression", "metric = val_acc");
	assert_msg(parse_fail(text),
		   "fmnist.flow:7: [search] metric: a regression ([data] task = regression) logs "
		   "no val_acc; choose val_loss, val_rmse, val_mae or val_r2, or leave metric out "
		   "(auto: val_loss)");
	snprintf(text, sizeof text, csv, "regression", "metric = train_acc");
	assert_msg(parse_fail(text),
		   "fmnist.flow:7: [search] metric: a regression ([data] task = regression) logs "
		   "no train_acc; choose train_loss, or leave metric out (auto: val_loss)");
	snprintf(text, sizeof text, csv, "classification", "metric = test_rmse");
	assert_msg(parse_fail(text),
		   "fmnist.flow:7: [search] metric: a classification ([data] task = "
		   "classification) logs no test_rmse; choose test_acc or test_loss, or leave "
		   "metric out (auto: val_acc)");
	assert_msg(parse_fail("[search]\ntrials = 2\nmetric = val_r2\ntrain.lr = (0.1, 0.2)\n"),
		   "fmnist.flow:3: [search] metric: a classification (the images of fashion-mnist) "
		   "logs no val_r2; choose val_acc or val_loss, or leave metric out (auto: val_acc)");
	/* no validation set: auto names what it stands for */
	assert_msg(parse_fail("[data]\nsource = house.csv\ntarget = price\n[split]\nval = 0\n"
			      "[search]\ntrials = 2\ntrain.lr = (0.1, 0.2)\n"),
		   "fmnist.flow:5: [search] metric: auto (val_acc or val_loss, as the task) needs "
		   "a validation set ([split] val > 0)");
}

/* A rule between keys that reads a searched key is left to each trial,
 * whose flow holds the proposed value: the flow's own value (or the
 * default) is replaced, so it proves nothing.  Rules the search does not
 * touch are still checked up front. */
Test(search_flow, rules_between_keys_leave_searched_keys_to_the_trials)
{
	jm_flow *f = parse_ok("[train]\nschedule = cosine\nmin_lr = 0.05\n[search]\ntrials = 2\n"
			      "train.lr = uniform(0.06, 0.1)\n");
	/* a trial's flow is checked in full, with its own values */
	jm_flow *t = jm_flow_dup(f);
	jm_flow_search_strip(t);
	jm_err err = {0};
	cr_assert_eq(jm_flow_set(t, "train.lr=0.08", &err), 0, "%s", err.msg);
	cr_expect_eq(jm_flow_validate(t, &err), 0, "%s", err.msg);
	cr_assert_eq(jm_flow_set(t, "train.lr=0.01", &err), 0, "%s", err.msg);
	cr_assert_eq(jm_flow_validate(t, &err), -1);
	assert_msg(err.msg, "fmnist.flow:3: [train] min_lr: must not exceed lr, got 0.05 > 0.01");
	jm_flow_free(t);
	jm_flow_free(f);

	/* early stopping with no validation set but a searched one; the
	 * search's val_acc too */
	jm_flow_free(parse_ok("[split]\nval = 0\n[train]\npatience = 2\n[search]\ntrials = 2\n"
			      "split.val = uniform(0.1, 0.3)\n"));
	jm_flow_free(parse_ok("[train]\nnesterov = true\n[search]\ntrials = 2\n"
			      "train.optimizer = choice(sgd, adam)\n"));
	jm_flow_free(parse_ok("[model]\ntype = cnn\n[search]\ntrials = 2\n"
			      "model.layers = choice(\"c8 p fc10\", \"c16 p fc10\")\n"));
	jm_flow_free(parse_ok("[data]\nsource = a.csv\n[search]\ntrials = 2\n"
			      "data.target = choice(x, y)\n"));
	jm_flow_free(parse_ok("[data]\ntarget = y\n[search]\ntrials = 2\n"
			      "data.source = choice(a.csv, b.csv)\n"));

	/* the others are not */
	assert_msg(parse_fail("[model]\ntype = cnn\n[search]\ntrials = 2\ntrain.lr = (0.1, 0.2)\n"),
		   "fmnist.flow:2: [model] type = cnn needs [model] layers (e.g. layers = c32 p c64 "
		   "p gap fc10)");
	assert_msg(parse_fail("[train]\nschedule = cosine\nlr = 0.01\nmin_lr = 0.1\n[search]\n"
			      "trials = 2\ntrain.epochs = int(1, 3)\n"),
		   "fmnist.flow:4: [train] min_lr: must not exceed lr, got 0.1 > 0.01");
	assert_msg(parse_fail("[split]\nval = 0\n[train]\npatience = 2\n[search]\ntrials = 2\n"
			      "metric = train_loss\ntrain.lr = (0.1, 0.2)\n"),
		   "fmnist.flow:4: [train] patience: early stopping needs a validation set ([split] "
		   "val > 0)");
}

/* ---- search_run ---------------------------------------------------------- */

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

TestSuite(search_run, .init = setup, .fini = teardown, .timeout = 120);

static void put_be32(FILE *fp, uint32_t v)
{
	unsigned char b[4] = {v >> 24, v >> 16, v >> 8, v};
	fwrite(b, 1, 4, fp);
}

/* Three classes of 8x8 images, each brightening its own band of rows over
 * a noisy background, some faintly: learnable, not trivially. */
static void write_idx(const char *name, int n, uint64_t seed)
{
	char path[4096];
	uint64_t s = seed;
	unsigned char *px = malloc((size_t)n * 64), *lab = malloc((size_t)n);
	for (int i = 0; i < n; i++) {
		s = s * 6364136223846793005ULL + 1442695040888963407ULL;
		int c = (int)((s >> 33) % 3);
		lab[i] = (unsigned char)c;
		for (int j = 0; j < 64; j++) {
			s = s * 6364136223846793005ULL + 1442695040888963407ULL;
			int v = (int)((s >> 33) % 140);
			int row = j / 8;
			if (row >= c * 3 && row < c * 3 + 2)
				v += 40;
			px[(size_t)i * 64 + (size_t)j] = (unsigned char)(v > 255 ? 255 : v);
		}
	}
	snprintf(path, sizeof path, "%s/data/%s-images-idx3-ubyte", dir, name);
	FILE *fp = fopen(path, "wb");
	cr_assert_not_null(fp, "%s", path);
	put_be32(fp, 0x803), put_be32(fp, (uint32_t)n), put_be32(fp, 8), put_be32(fp, 8);
	fwrite(px, 1, (size_t)n * 64, fp);
	fclose(fp);
	snprintf(path, sizeof path, "%s/data/%s-labels-idx1-ubyte", dir, name);
	fp = fopen(path, "wb");
	put_be32(fp, 0x801), put_be32(fp, (uint32_t)n);
	fwrite(lab, 1, (size_t)n, fp);
	fclose(fp);
	free(px);
	free(lab);
}

/* The data and a flow searching its [search] body over a small MLP. */
static void write_search(const char *name, int epochs, const char *search_body)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/data", dir);
	cr_assert_eq(jt_sh(dir, NULL, NULL, "mkdir -p data"), 0);
	write_idx("train", 600, 1);
	write_idx("t10k", 150, 2);
	char *text = NULL;
	cr_assert(asprintf(&text,
			   "[data]\nsource = idx:%s\n\n[model]\ntype = mlp\nhidden = 16\n\n"
			   "[train]\nepochs = %d\nbatch = 32\nlog_every = 5\n\n[search]\n%s",
			   path, epochs, search_body) > 0);
	free(jt_write(dir, name, text));
	free(text);
}

static sqlite3 *open_db(void)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/.jianmo/jianmo.db", dir);
	sqlite3 *db = NULL;
	cr_assert_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	return db;
}

/* One number from the store (or NAN). */
static double sql_num(sqlite3 *db, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static double sql_num(sqlite3 *db, const char *fmt, ...)
{
	char sql[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(sql, sizeof sql, fmt, ap);
	va_end(ap);
	sqlite3_stmt *st;
	cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK, "%s: %s", sql,
		     sqlite3_errmsg(db));
	double v = sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL
			   ? sqlite3_column_double(st, 0)
			   : NAN;
	sqlite3_finalize(st);
	return v;
}

static char *sql_text(sqlite3 *db, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static char *sql_text(sqlite3 *db, const char *fmt, ...)
{
	char sql[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(sql, sizeof sql, fmt, ap);
	va_end(ap);
	sqlite3_stmt *st;
	cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK, "%s", sql);
	const char *t = sqlite3_step(st) == SQLITE_ROW ? (const char *)sqlite3_column_text(st, 0)
						       : NULL;
	char *s = strdup(t ? t : "");
	sqlite3_finalize(st);
	return s;
}

static int count_lines(const char *text, const char *needle)
{
	int n = 0;
	for (const char *p = text; (p = strstr(p, needle)); p++)
		n++;
	return n;
}

Test(search_run, trials_land_in_the_store_as_children)
{
	write_search("s.flow", 3,
		     "trials = 5\nseed = 3\n"
		     "train.lr = loguniform(1e-4, 1e-1)\n"
		     "train.batch = choice(16, 32, 64)\n"
		     "model.dropout = uniform(0.0, 0.5)\n");
	char *out, *err;
	int rc = jt_jianmo(dir, &out, &err, "--batch s.flow");
	cr_assert_eq(rc, 0, "exit %d\nstdout:\n%s\nstderr:\n%s", rc, out, err);
	cr_expect(strstr(out, "trial 5/5 (run 6) done: val_acc"), "%s", out);
	cr_expect(strstr(out, "search 1 done: 5 trials (5 done, 0 pruned, 0 failed)"), "%s", out);

	sqlite3 *db = open_db();
	cr_expect_eq(sql_num(db, "SELECT count(*) FROM runs WHERE kind = 'search' AND status = "
				 "'done' AND parent IS NULL"), 1);
	cr_expect_eq(sql_num(db, "SELECT count(*) FROM runs WHERE kind = 'trial' AND parent = 1 "
				 "AND status = 'done'"), 5);
	/* each trial's params hold its values, within the space */
	for (int run = 2; run <= 6; run++) {
		double lr = sql_num(db, "SELECT value FROM params WHERE run = %d AND key = 'train.lr'",
				    run);
		double batch = sql_num(db, "SELECT value FROM params WHERE run = %d AND key = "
					   "'train.batch'", run);
		double drop = sql_num(db, "SELECT value FROM params WHERE run = %d AND key = "
					  "'model.dropout'", run);
		cr_expect(lr >= 1e-4 && lr <= 1e-1, "run %d lr %g", run, lr);
		cr_expect(batch == 16 || batch == 32 || batch == 64, "run %d batch %g", run, batch);
		cr_expect(drop >= 0 && drop <= 0.5, "run %d dropout %g", run, drop);
		double acc = sql_num(db, "SELECT max FROM metric_summary WHERE run = %d AND key = "
					 "'val_acc'", run);
		cr_expect(acc > 0 && acc <= 1, "run %d val_acc %g", run, acc);
		/* the trial's own flow is plain: no [search] keys, trials = 0 */
		char *flow = sql_text(db, "SELECT f.text FROM runs r JOIN flows f ON f.id = "
					  "r.flow_id WHERE r.id = %d", run);
		cr_expect(strstr(flow, "trials = 0\n") && !strstr(flow, "train.lr = log"), "%s", flow);
		free(flow);
	}
	/* the search records the searched distributions and its best value */
	char *spec = sql_text(db, "SELECT value FROM params WHERE run = 1 AND key = 'train.lr'");
	cr_expect_str_eq(spec, "loguniform(1e-4, 1e-1)");
	free(spec);
	double best = sql_num(db, "SELECT max(max) FROM metric_summary WHERE run > 1 AND key = "
				  "'val_acc'");
	cr_expect_eq(sql_num(db, "SELECT last FROM metric_summary WHERE run = 1 AND key = "
				 "'val_acc'"), best);
	sqlite3_close(db);
	free(out), free(err);

	/* a trial's stored flow replays as a plain run with the same result */
	rc = jt_jianmo(dir, &out, &err, "--batch --rerun 3");
	cr_assert_eq(rc, 0, "rerun: exit %d\n%s", rc, err);
	db = open_db();
	cr_expect_str_eq(sql_text(db, "SELECT kind FROM runs WHERE id = 7"), "run");
	cr_expect_eq(sql_num(db, "SELECT max FROM metric_summary WHERE run = 7 AND key = 'val_acc'"),
		     sql_num(db, "SELECT max FROM metric_summary WHERE run = 3 AND key = 'val_acc'"));
	sqlite3_close(db);
	free(out), free(err);
}

/* batch = auto in a search: each trial picks its batch when it starts
 * (512: the 540 training images' largest power of two), records it in its
 * params, and a rerun of the trial takes it from there. */
Test(search_run, trials_choose_and_keep_an_auto_batch)
{
	write_search("s.flow", 1, "trials = 2\ntrain.lr = loguniform(1e-3, 1e-2)\n");
	char *out, *err;
	int rc = jt_jianmo(dir, &out, &err, "--batch s.flow --set train.batch=auto");
	cr_assert_eq(rc, 0, "exit %d\nstdout:\n%s\nstderr:\n%s", rc, out, err);
	sqlite3 *db = open_db();
	for (int run = 2; run <= 3; run++) {
		char *b = sql_text(db, "SELECT value FROM params WHERE run = %d AND key = "
				       "'train.batch'", run);
		cr_expect_str_eq(b, "512", "run %d", run);
		free(b);
	}
	char *b = sql_text(db, "SELECT value FROM params WHERE run = 1 AND key = 'train.batch'");
	cr_expect_str_eq(b, "auto");
	free(b);
	sqlite3_close(db);
	free(out), free(err);
	rc = jt_jianmo(dir, &out, &err, "--batch --rerun 2");
	cr_assert_eq(rc, 0, "rerun: exit %d\n%s", rc, err);
	cr_expect(strstr(out, "steps of 512\n") && !strstr(out, "batch auto"), "%s", out);
	free(out), free(err);
}

Test(search_run, show_prints_the_best_trial_and_the_table)
{
	write_search("s.flow", 2, "trials = 4\nmethod = random\ntrain.lr = loguniform(1e-4, 1e-1)\n");
	cr_assert_eq(jt_jianmo(dir, NULL, NULL, "--batch s.flow"), 0);
	char *out, *err;
	int rc = jt_jianmo(dir, &out, &err, "show 1");
	cr_assert_eq(rc, 0, "%s", err);
	cr_expect(strstr(out, "run 1  (search)"), "%s", out);
	cr_expect(strstr(out, "  best      run "), "%s", out);
	cr_expect(strstr(out, "trials    4 of 4: 4 done, 0 pruned, 0 failed, 0 unfinished; val_acc, "
			      "higher is better"), "%s", out);
	cr_expect(strstr(out, "  TRIAL   RUN  STATUS   EPOCHS    val_acc  train.lr\n"), "%s", out);
	for (int t = 1; t <= 4; t++) {
		char row[64];
		snprintf(row, sizeof row, "%5d %5d  done          2 ", t, t + 1);
		cr_expect(strstr(out, row), "no row \"%s\" in:\n%s", row, out);
	}
	cr_expect_eq(count_lines(out, "\n*"), 1, "one best row:\n%s", out);
	free(out), free(err);
	rc = jt_jianmo(dir, &out, &err, "show --json 1");
	cr_assert_eq(rc, 0);
	cr_expect(strstr(out, "\"search\": {\"metric\": \"val_acc\", \"direction\": \"max\""), "%s",
		  out);
	cr_expect_eq(count_lines(out, "{\"trial\": "), 4, "%s", out);
	free(out), free(err);
	/* the trials show whose they are */
	rc = jt_jianmo(dir, &out, &err, "show 2");
	cr_expect(strstr(out, "run 2  (trial 1 of run 1)"), "%s", out);
	free(out), free(err);
}

Test(search_run, two_workers_and_json_lines)
{
	write_search("s.flow", 2, "trials = 4\nworkers = 2\ntrain.lr = loguniform(1e-4, 1e-1)\n");
	char *out, *err;
	int rc = jt_jianmo(dir, &out, &err, "--json --batch s.flow");
	cr_assert_eq(rc, 0, "exit %d\n%s\n%s", rc, out, err);
	/* two trials start before any ends */
	const char *s1 = strstr(out, "\"event\":\"trial_start\"");
	const char *s2 = s1 ? strstr(s1 + 1, "\"event\":\"trial_start\"") : NULL;
	const char *e1 = strstr(out, "\"event\":\"trial_end\"");
	cr_expect(s1 && s2 && e1 && s2 < e1, "%s", out);
	cr_expect_eq(count_lines(out, "\"event\":\"trial_start\""), 4, "%s", out);
	cr_expect_eq(count_lines(out, "\"event\":\"trial_end\""), 4, "%s", out);
	cr_expect(strstr(out, "\"event\":\"end\",\"run\":1,\"status\":\"done\",\"trials\":4,"
			      "\"done\":4"), "%s", out);
	/* every line is one JSON object */
	for (const char *p = out; *p;) {
		const char *nl = strchr(p, '\n');
		cr_expect(*p == '{' && nl && nl[-1] == '}', "not a JSON line: %.80s", p);
		p = nl ? nl + 1 : p + strlen(p);
	}
	sqlite3 *db = open_db();
	cr_expect_eq(sql_num(db, "SELECT count(*) FROM runs WHERE parent = 1 AND status = 'done'"), 4);
	/* no two trials got the same point */
	cr_expect_eq(sql_num(db, "SELECT count(DISTINCT value) FROM params WHERE run > 1 AND key = "
				 "'train.lr'"), 4);
	sqlite3_close(db);
	free(out), free(err);
}

Test(search_run, a_diverging_trial_fails_and_the_search_goes_on)
{
	write_search("s.flow", 2,
		     "trials = 3\n"
		     "train.lr = choice(0.01, 1e30, 0.1)\n");
	char *out, *err;
	int rc = jt_jianmo(dir, &out, &err, "--batch s.flow --set train.optimizer=sgd "
					      "--set train.momentum=0");
	cr_assert_eq(rc, 0, "exit %d\n%s\n%s", rc, out, err);
	cr_expect(strstr(out, "failed: diverged: loss is nan"), "%s", out);
	cr_expect(strstr(out, "search 1 done: 3 trials (2 done, 0 pruned, 1 failed)"), "%s", out);
	sqlite3 *db = open_db();
	char *status = sql_text(db, "SELECT r.status || ': ' || r.error FROM runs r JOIN params p ON "
				    "p.run = r.id AND p.key = 'train.lr' WHERE p.value = '1e+30'");
	cr_expect(strstr(status, "failed: diverged"), "%s", status);
	free(status);
	cr_expect_eq(sql_num(db, "SELECT count(*) FROM runs WHERE parent = 1 AND status = 'done'"), 2);
	sqlite3_close(db);
	free(out), free(err);
}

Test(search_run, a_trial_that_breaks_a_rule_fails_at_once)
{
	/* a cosine schedule's min_lr above the proposed lr; the search is
	 * stopped after two trials and resumed, reading back every trial's
	 * values, the failed one's too */
	write_search("s.flow", 2, "trials = 3\nmethod = grid\ntrain.lr = choice(0.001, 0.1, 0.2)\n");
	char *out, *err;
	int rc = jt_sh(dir, &out, &err, "JIANMO_FAULT_SEARCH=2:TERM %s --batch s.flow --set "
					"train.schedule=cosine --set train.min_lr=0.01 --set "
					"train.lr=0.5; exit $?", jt_bin());
	cr_assert_eq(rc, 128 + 15, "exit %d\n%s\n%s", rc, out, err);
	cr_expect(strstr(out, "failed: --set train.min_lr: [train] min_lr: must not exceed lr, got "
			      "0.01 > 0.001"), "%s", out);
	free(out), free(err);
	rc = jt_jianmo(dir, &out, &err, "--batch --resume 1");
	cr_assert_eq(rc, 0, "exit %d\n%s\n%s", rc, out, err);
	cr_expect(strstr(out, "search 1 done: 3 trials (2 done, 0 pruned, 1 failed)"), "%s", out);
	free(out), free(err);
	sqlite3 *db = open_db();
	cr_expect_str_eq(sql_text(db, "SELECT r.status FROM runs r JOIN params p ON p.run = r.id "
				      "AND p.key = 'train.lr' WHERE p.value = '0.001' AND r.id <= 3"),
			 "failed", "the failing trial is one of the first two");
	sqlite3_close(db);
}

Test(search_run, pruning_marks_trials_pruned)
{
	write_search("s.flow", 6,
		     "trials = 6\nmethod = random\nprune = asha\nseed = 2\n"
		     "train.lr = loguniform(1e-5, 1e-1)\n");
	char *out, *err;
	int rc = jt_jianmo(dir, &out, &err, "--batch s.flow");
	cr_assert_eq(rc, 0, "exit %d\n%s\n%s", rc, out, err);
	sqlite3 *db = open_db();
	double pruned = sql_num(db, "SELECT count(*) FROM runs WHERE parent = 1 AND status = 'pruned'");
	cr_expect(pruned >= 1, "no trial pruned:\n%s", out);
	/* a pruned trial stopped before its last epoch, at an ASHA rung (1 or 3) */
	cr_expect(sql_num(db, "SELECT count(*) FROM runs r JOIN metric_summary m ON m.run = r.id "
			      "AND m.key = 'epoch' WHERE r.parent = 1 AND r.status = 'pruned' AND "
			      "m.last NOT IN (1, 3)") == 0, "%s", out);
	/* the first trial is never pruned: it is alone at every rung */
	cr_expect_str_eq(sql_text(db, "SELECT status FROM runs WHERE id = 2"), "done");
	cr_expect(strstr(out, "pruned after 1 epoch") || strstr(out, "pruned after 3 epochs"),
		  "%s", out);
	sqlite3_close(db);
	free(out), free(err);
}

Test(search_run, resume_after_a_stop_does_not_rerun_finished_trials)
{
	write_search("s.flow", 2, "trials = 5\ntrain.lr = loguniform(1e-4, 1e-1)\n");
	char *out, *err;
	int rc = jt_sh(dir, &out, &err, "JIANMO_FAULT_SEARCH=2:TERM exec %s --batch s.flow", jt_bin());
	cr_assert_eq(rc, 128 + 15, "exit %d\n%s\n%s", rc, out, err);
	cr_expect(strstr(out, "continue it with: jianmo --batch --resume 1"), "%s", out);
	sqlite3 *db = open_db();
	cr_expect_str_eq(sql_text(db, "SELECT status FROM runs WHERE id = 1"), "stopped");
	cr_expect_eq(sql_num(db, "SELECT count(*) FROM runs WHERE parent = 1"), 2);
	char *ended = sql_text(db, "SELECT group_concat(ended, ',') FROM runs WHERE parent = 1");
	sqlite3_close(db);
	free(out), free(err);

	rc = jt_jianmo(dir, &out, &err, "--batch --resume 1");
	cr_assert_eq(rc, 0, "exit %d\n%s\n%s", rc, out, err);
	cr_expect(strstr(out, "resuming: 2 of 5 trials recorded (2 done, 0 pruned, 0 failed), 0 to "
			      "continue"), "%s", out);
	cr_expect(strstr(out, "trial 3/5 (run 4)"), "%s", out);
	cr_expect_null(strstr(out, "trial 1/5"), "%s", out);
	db = open_db();
	cr_expect_str_eq(sql_text(db, "SELECT status FROM runs WHERE id = 1"), "done");
	cr_expect_eq(sql_num(db, "SELECT count(*) FROM runs WHERE parent = 1 AND status = 'done'"), 5);
	char *again = sql_text(db, "SELECT group_concat(ended, ',') FROM runs WHERE parent = 1 AND "
				   "id <= 3");
	cr_expect_str_eq(again, ended, "the first two trials ran again");
	free(again), free(ended);
	sqlite3_close(db);
	free(out), free(err);

	/* nothing left to resume */
	rc = jt_jianmo(dir, &out, &err, "--batch --resume 1");
	cr_expect_eq(rc, 2);
	cr_expect(strstr(err, "run 1 is done: nothing to resume"), "%s", err);
	free(out), free(err);
}

Test(search_run, resume_after_the_search_is_killed_mid_trial)
{
	/* two trials at once, one short, one long: the searching process dies
	 * when the short one ends, the kernel stops the long one (SIGTERM, it
	 * checkpoints), and --resume continues it from its checkpoint.  The
	 * short one trains long enough (40 epochs) for the long one to be
	 * training by then even on a loaded machine: stopped before its first
	 * step, it would have no checkpoint and start again */
	write_search("s.flow", 1, "trials = 2\nworkers = 2\nmethod = grid\n"
				  "train.epochs = choice(40, 800)\n");
	char *out, *err;
	int rc = jt_sh(dir, &out, &err, "JIANMO_FAULT_SEARCH=1:KILL %s --batch s.flow; exit $?",
		       jt_bin());
	cr_assert_eq(rc, 128 + 9, "exit %d\n%s\n%s", rc, out, err);
	free(out), free(err);
	rc = jt_jianmo(dir, &out, &err, "--batch --resume 1");
	cr_assert_eq(rc, 0, "exit %d\n%s\n%s", rc, out, err);
	cr_expect(strstr(out, "resuming: 2 of 2 trials recorded (1 done, 0 pruned, 0 failed), 1 to "
			      "continue"), "%s", out);
	cr_expect(strstr(out, ") resumed: train.epochs=800"), "%s", out);
	sqlite3 *db = open_db();
	cr_expect_str_eq(sql_text(db, "SELECT status FROM runs WHERE id = 1"), "done");
	cr_expect_eq(sql_num(db, "SELECT count(*) FROM runs WHERE parent = 1 AND status = 'done'"), 2,
		     "%s", out);
	/* the long trial trained every epoch exactly once */
	cr_expect_eq(sql_num(db, "SELECT count(*) FROM metric_summary WHERE run > 1 AND key = "
				 "'epoch' AND last = 800 AND count = 800"), 1, "%s", out);
	sqlite3_close(db);
	free(out), free(err);
}

/* The stand-in CUDA module built beside the binary under test. */
static void use_fake_cuda(const char *gpus)
{
	char module[4096];
	snprintf(module, sizeof module, "%s", jt_bin());
	char *slash = strrchr(module, '/');
	cr_assert_not_null(slash);
	snprintf(slash + 1, sizeof module - (size_t)(slash + 1 - module), "tests/cuda/fake-cuda.so");
	setenv("JIANMO_CUDA_MODULE", module, 1);
	setenv("JIANMO_FAKE_GPUS", gpus, 1);
}

/* On two GPUs, two workers put one trial on each: every trial starts on
 * the GPU with fewer trials running, so the first two take cuda:0 and
 * cuda:1.  The stand-in module opens neither, so each trial fails at once
 * saying where it was sent (the search records the trial's own message),
 * and the search goes on to the end. */
Test(search_run, trials_share_out_the_gpus)
{
	use_fake_cuda("2");
	write_search("s.flow", 1, "trials = 4\nworkers = 2\ntrain.lr = loguniform(1e-4, 1e-1)\n");
	char *out, *err;
	int rc = jt_jianmo(dir, &out, &err, "--batch s.flow --device cuda");
	cr_assert_eq(rc, 1, "exit %d\n%s\n%s", rc, out, err);
	cr_expect(strstr(out, "search 1 failed: 4 trials (0 done, 0 pruned, 4 failed)"), "%s", out);
	cr_expect(strstr(out, "exited with status 2: device \"cuda:1\": fake GPU cuda:1"), "%s",
		  out);
	sqlite3 *db = open_db();
	int on[2] = {0, 0};
	for (int run = 2; run <= 5; run++) {
		char *e = sql_text(db, "SELECT error FROM runs WHERE id = %d", run);
		on[0] += strstr(e, "fake GPU cuda:0") != NULL;
		on[1] += strstr(e, "fake GPU cuda:1") != NULL;
		free(e);
	}
	cr_expect_eq(on[0] + on[1], 4, "each trial names its GPU");
	cr_expect(on[0] >= 1 && on[1] >= 1, "both GPUs used: cuda:0 %d, cuda:1 %d", on[0], on[1]);
	char *first = sql_text(db, "SELECT error FROM runs WHERE id = 2");
	char *second = sql_text(db, "SELECT error FROM runs WHERE id = 3");
	cr_expect(strstr(first, "cuda:0") && strstr(second, "cuda:1"), "%s / %s", first, second);
	free(first), free(second);
	sqlite3_close(db);
	/* two trials on two GPUs share none */
	cr_expect_null(strstr(out, "share"), "%s", out);
	free(out), free(err);

	/* more trials at a time than GPUs: said at the start */
	setenv("JIANMO_FAKE_GPUS", "1", 1);
	rc = jt_jianmo(dir, &out, &err, "--batch s.flow --device cuda");
	cr_expect_eq(rc, 1, "exit %d\n%s\n%s", rc, out, err);
	cr_expect(strstr(out, ": 2 trials at a time share 1 GPU\n"), "%s", out);
	free(out), free(err);

	/* one GPU: the trials keep the flow's device; none: a search on cuda
	 * is refused before it starts, and the parent opens no GPU itself */
	setenv("JIANMO_FAKE_GPUS", "0", 1);
	rc = jt_jianmo(dir, &out, &err, "--batch s.flow --device cuda");
	cr_expect_eq(rc, 2, "exit %d\n%s\n%s", rc, out, err);
	cr_expect(strstr(err, "no usable GPU") && strstr(err, "use --device cpu or auto"), "%s", err);
	free(out), free(err);
	setenv("JIANMO_FAKE_GPUS", "2", 1);
	rc = jt_jianmo(dir, &out, &err, "--batch s.flow --device cuda:3");
	unsetenv("JIANMO_FAKE_GPUS");
	cr_expect_eq(rc, 2, "exit %d\n%s\n%s", rc, out, err);
	cr_expect(strstr(err, "device \"cuda:3\": cuda:3 does not exist (2 devices: "
			      "cuda:0..cuda:1)"), "%s", err);
	free(out), free(err);
	unsetenv("JIANMO_CUDA_MODULE");
}

/* A machine whose cuda:0 is a GPU the module has no code for (compute
 * 7.x): the search shares out only the others, and device auto takes the
 * first of them; with none left both say why. */
Test(search_run, gpus_the_module_cannot_run_on_are_left_out)
{
	use_fake_cuda("3");
	setenv("JIANMO_FAKE_OLD", ",0,", 1);
	write_search("s.flow", 1, "trials = 4\nworkers = 3\ntrain.lr = loguniform(1e-4, 1e-1)\n");
	char *out, *err;
	int rc = jt_jianmo(dir, &out, &err, "--batch s.flow --device cuda");
	cr_assert_eq(rc, 1, "exit %d\n%s\n%s", rc, out, err);
	cr_expect(strstr(out, ": 3 trials at a time share 2 GPUs\n"), "%s", out);
	sqlite3 *db = open_db();
	cr_expect_eq(sql_num(db, "SELECT count(*) FROM runs WHERE parent = 1 AND error LIKE "
				 "'%%fake GPU cuda:0 %%'"), 0, "%s", out);
	cr_expect_eq(sql_num(db, "SELECT count(*) FROM runs WHERE parent = 1 AND (error LIKE "
				 "'%%fake GPU cuda:1 %%' OR error LIKE '%%fake GPU cuda:2 %%')"), 4,
		     "%s", out);
	sqlite3_close(db);
	free(out), free(err);

	/* one GPU left, and it is not cuda:0: the trials are sent to it */
	setenv("JIANMO_FAKE_GPUS", "2", 1);
	rc = jt_jianmo(dir, &out, &err, "--batch s.flow --device cuda");
	cr_expect_eq(rc, 1, "exit %d\n%s\n%s", rc, out, err);
	cr_expect(strstr(out, "exited with status 2: device \"cuda:1\": fake GPU cuda:1"), "%s",
		  out);
	free(out), free(err);

	/* a run on auto takes cuda:1 (the stand-in opens none, so the CPU,
	 * saying which GPU it tried) */
	write_search("one.flow", 1, "");
	rc = jt_jianmo(dir, &out, &err, "--batch one.flow --device auto");
	cr_expect_eq(rc, 0, "exit %d\n%s\n%s", rc, out, err);
	free(out), free(err);
	char path[4096];
	snprintf(path, sizeof path, "%s/.jianmo/runs/11/log.txt", dir);
	char *log = jt_read(path, NULL);
	cr_expect(log && strstr(log, "device auto: the CPU, because fake GPU cuda:1 runs nothing"),
		  "%s", log ? log : "(no log)");
	free(log);

	/* none left */
	setenv("JIANMO_FAKE_OLD", ",0,1,", 1);
	rc = jt_jianmo(dir, &out, &err, "--batch s.flow --device cuda");
	cr_expect_eq(rc, 2, "exit %d\n%s\n%s", rc, out, err);
	cr_expect(strstr(err, "device \"cuda\": no GPU jianmo can run on: cuda:1 (fake, compute "
			      "7.0): jianmo-cuda.so is built for compute 8.0 and later"), "%s", err);
	free(out), free(err);
	rc = jt_jianmo(dir, &out, &err, "--batch s.flow --device cuda:1");
	cr_expect_eq(rc, 2, "exit %d\n%s\n%s", rc, out, err);
	cr_expect(strstr(err, "device \"cuda:1\": cuda:1 (fake, compute 7.0)"), "%s", err);
	free(out), free(err);
	rc = jt_jianmo(dir, &out, &err, "--batch one.flow --device auto");
	cr_expect_eq(rc, 0, "exit %d\n%s\n%s", rc, out, err);
	free(out), free(err);
	snprintf(path, sizeof path, "%s/.jianmo/runs/12/log.txt", dir);
	log = jt_read(path, NULL);
	cr_expect(log && strstr(log, "device auto: the CPU, because no GPU jianmo can run on: "
				     "cuda:1 (fake, compute 7.0)"), "%s", log ? log : "(no log)");
	free(log);
	unsetenv("JIANMO_FAKE_OLD");
	unsetenv("JIANMO_FAKE_GPUS");
	unsetenv("JIANMO_CUDA_MODULE");
}

Test(search_run, trial_option_refuses_a_run_that_is_not_queued)
{
	write_search("s.flow", 1, "trials = 2\ntrain.lr = loguniform(1e-4, 1e-1)\n");
	cr_assert_eq(jt_jianmo(dir, NULL, NULL, "--batch s.flow"), 0);
	char *out, *err;
	int rc = jt_jianmo(dir, &out, &err, "--batch --trial 2");
	cr_expect_eq(rc, 2);
	cr_expect(strstr(err, "jianmo: run 2 is done, not a queued trial"), "%s", err);
	free(out), free(err);
}

/* A CSV of 120 rows: two features, a class (0, 1, 2: the band of a + b)
 * and a continuous target (3a - b and noise); task auto makes cls a
 * classification and y a regression. */
static void write_task_csv(const char *name)
{
	FILE *fp;
	char *path = jt_write(dir, name, "");
	cr_assert_not_null(fp = fopen(path, "w"));
	fprintf(fp, "a,b,cls,y\n");
	unsigned s = 777;
	for (int i = 0; i < 120; i++) {
		double v[3];
		for (int k = 0; k < 3; k++) {
			s = s * 1103515245u + 12345u;
			v[k] = (double)(s >> 8 & 0xffff) / 65536.0;
		}
		int cls = v[0] + v[1] < 0.7 ? 0 : v[0] + v[1] < 1.3 ? 1 : 2;
		fprintf(fp, "%.4f,%.4f,%d,%.5f\n", v[0], v[1], cls, 3 * v[0] - v[1] + 0.1 * v[2]);
	}
	fclose(fp);
	free(path);
}

static void write_csv_search(const char *name, const char *data, const char *search_body)
{
	write_task_csv("t.csv");
	char *text = NULL;
	cr_assert(asprintf(&text,
			   "[data]\nsource = t.csv\n%s\n[train]\nepochs = 2\nbatch = 16\n\n"
			   "[search]\n%s",
			   data, search_body) > 0);
	free(jt_write(dir, name, text));
	free(text);
}

/* A search of a regression with the default metric judges its trials by
 * val_loss (task auto: the search reads the table once to tell), and one
 * can search by the regression metrics the trials log. */
Test(search_run, a_regression_search_judges_by_what_its_trials_log)
{
	write_csv_search("r.flow", "target = y", "trials = 2\ntrain.lr = loguniform(1e-3, 1e-2)\n");
	char *out, *err;
	int rc = jt_jianmo(dir, &out, &err, "--batch r.flow");
	cr_assert_eq(rc, 0, "exit %d\n%s\n%s", rc, out, err);
	cr_expect(strstr(out, ", minimise val_loss: "), "%s", out);
	cr_expect(strstr(out, "search 1 done: 2 trials (2 done, 0 pruned, 0 failed)"), "%s", out);
	free(out), free(err);
	rc = jt_jianmo(dir, &out, &err, "show --json 1");
	cr_expect(strstr(out, "\"search\": {\"metric\": \"val_loss\", \"direction\": \"min\""), "%s",
		  out);
	free(out), free(err);

	write_csv_search("r2.flow", "target = y",
			 "trials = 2\nmetric = val_r2\nprune = median\n"
			 "train.lr = loguniform(1e-3, 1e-2)\n");
	rc = jt_jianmo(dir, &out, &err, "--batch r2.flow");
	cr_assert_eq(rc, 0, "exit %d\n%s\n%s", rc, out, err);
	cr_expect(strstr(out, ", maximise val_r2, prune: median: "), "%s", out);
	cr_expect(strstr(out, "search 4 done: 2 trials (2 done, 0 pruned, 0 failed)"), "%s", out);
	cr_expect(strstr(out, "best: run ") && strstr(out, "val_r2 "), "%s", out);
	free(out), free(err);
}

/* val_acc on a regression is refused at its line before anything runs or
 * is stored, whether the flow says the task or the table does. */
Test(search_run, a_metric_the_task_never_logs_is_refused_up_front)
{
	write_csv_search("a.flow", "target = y",
			 "trials = 3\nmetric = val_acc\ntrain.lr = loguniform(1e-3, 1e-2)\n");
	char *out, *err;
	int rc = jt_jianmo(dir, &out, &err, "--batch a.flow");
	cr_expect_eq(rc, 2, "exit %d\n%s\n%s", rc, out, err);
	cr_expect(strstr(err, "jianmo: a.flow:10: [search] metric: a regression ([data] task = "
			      "auto, from the target \"y\") logs no val_acc; choose val_loss, "
			      "val_rmse, val_mae or val_r2, or leave metric out (auto: val_loss)"),
		  "%s", err);
	cr_expect_null(strstr(out, "trial 1/3"), "%s", out);
	free(out), free(err);
	write_csv_search("b.flow", "target = y\ntask = regression",
			 "trials = 3\nmetric = val_acc\ntrain.lr = loguniform(1e-3, 1e-2)\n");
	rc = jt_jianmo(dir, &out, &err, "--batch b.flow");
	cr_expect_eq(rc, 2, "exit %d\n%s\n%s", rc, out, err);
	cr_expect(strstr(err, "jianmo: b.flow:11: [search] metric: a regression ([data] task = "
			      "regression) logs no val_acc"), "%s", err);
	free(out), free(err);
	/* a classification's auto is val_acc */
	write_csv_search("c.flow", "target = cls", "trials = 1\ntrain.lr = loguniform(1e-3, 1e-2)\n");
	rc = jt_jianmo(dir, &out, &err, "--batch c.flow");
	cr_expect_eq(rc, 0, "exit %d\n%s\n%s", rc, out, err);
	cr_expect(strstr(out, ", maximise val_acc: "), "%s", out);
	free(out), free(err);
	sqlite3 *db = open_db();
	cr_expect_eq(sql_num(db, "SELECT count(*) FROM runs"), 2, "only c.flow's search and trial");
	sqlite3_close(db);
}

/* When the trials' task can differ (the target is searched), each trial
 * checks the metric against its own task before it trains: one whose
 * task never logs it fails at once, saying so, and the search goes on. */
Test(search_run, a_trial_whose_task_does_not_log_the_metric_fails_at_once)
{
	write_csv_search("t.flow", "target = cls",
			 "trials = 2\nmethod = grid\nmetric = val_acc\ndata.target = choice(cls, y)\n");
	char *out, *err;
	int rc = jt_jianmo(dir, &out, &err, "--batch t.flow");
	cr_assert_eq(rc, 0, "exit %d\n%s\n%s", rc, out, err);
	cr_expect(strstr(out, "search 1 done: 2 trials (1 done, 0 pruned, 1 failed)"), "%s", out);
	cr_expect(strstr(out, "failed: [search] metric: this trial is a regression, which logs no "
			      "val_acc"), "%s", out);
	sqlite3 *db = open_db();
	char *e = sql_text(db, "SELECT r.status || ': ' || r.error FROM runs r JOIN params p ON "
			       "p.run = r.id AND p.key = 'data.target' WHERE p.value = 'y'");
	cr_expect(strstr(e, "failed: [search] metric: this trial is a regression"), "%s", e);
	free(e);
	cr_expect_eq(sql_num(db, "SELECT count(*) FROM runs r JOIN params p ON p.run = r.id AND "
				 "p.key = 'data.target' JOIN metrics m ON m.run = r.id AND m.key = "
				 "'train_loss' WHERE p.value = 'y'"), 0, "the regression trained");
	sqlite3_close(db);
	free(out), free(err);
}

/* A rule between keys is checked with each trial's values, not with the
 * values the search replaces: min_lr 0.05 with the default lr 0.001 would
 * be refused, but each trial has its own lr; the one below min_lr fails at
 * once and the search goes on. */
Test(search_run, rules_between_keys_are_checked_with_each_trials_values)
{
	write_search("s.flow", 1, "trials = 2\nmethod = grid\ntrain.lr = choice(0.01, 0.1)\n");
	char *out, *err;
	int rc = jt_jianmo(dir, &out, &err, "--batch s.flow --set train.schedule=cosine "
					    "--set train.min_lr=0.05");
	cr_assert_eq(rc, 0, "exit %d\n%s\n%s", rc, out, err);
	cr_expect(strstr(out, "failed: --set train.min_lr: [train] min_lr: must not exceed lr, got "
			      "0.05 > 0.01"), "%s", out);
	cr_expect(strstr(out, "search 1 done: 2 trials (1 done, 0 pruned, 1 failed)"), "%s", out);
	free(out), free(err);
	/* the same with a validation set that only the search gives */
	write_search("v.flow", 1, "trials = 1\nsplit.val = uniform(0.1, 0.3)\n");
	rc = jt_jianmo(dir, &out, &err, "--batch v.flow --set split.val=0 --set train.patience=1");
	cr_assert_eq(rc, 0, "exit %d\n%s\n%s", rc, out, err);
	cr_expect(strstr(out, "search 4 done: 1 trial (1 done, 0 pruned, 0 failed)"), "%s", out);
	free(out), free(err);
}

/* direction against the metric's own (max of a loss) is taken as written,
 * with a warning at the start: it makes the worst trial the best. */
Test(search_run, a_direction_against_the_metric_is_warned)
{
	write_search("s.flow", 1, "trials = 1\nmetric = val_loss\ndirection = max\n"
				  "train.lr = loguniform(1e-3, 1e-2)\n");
	char *out, *err;
	int rc = jt_jianmo(dir, &out, &err, "--batch s.flow");
	cr_assert_eq(rc, 0, "exit %d\n%s\n%s", rc, out, err);
	cr_expect(strstr(out, "warning: s.flow:16: [search] direction = max: the trial with the "
			      "highest val_loss counts as the best (auto: min)"), "%s", out);
	cr_expect(strstr(out, ", maximise val_loss: "), "%s", out);
	free(out), free(err);
}

/* A trial's number is its own: deleting trial 1 leaves trials 2 and 3
 * numbered as they were, in show's table, its JSON and the best line. */
Test(search_run, deleting_a_trial_renumbers_no_other)
{
	write_search("s.flow", 1, "trials = 3\nmethod = random\ntrain.lr = loguniform(1e-3, 1e-1)\n");
	cr_assert_eq(jt_jianmo(dir, NULL, NULL, "--batch s.flow"), 0);
	char *out, *err;
	cr_assert_eq(jt_jianmo(dir, &out, &err, "rm --yes 2"), 0, "%s", err);
	free(out), free(err);
	int rc = jt_jianmo(dir, &out, &err, "show 1");
	cr_assert_eq(rc, 0, "%s", err);
	for (int t = 2; t <= 3; t++) {
		char row[64];
		snprintf(row, sizeof row, "%5d %5d  done          1 ", t, t + 1);
		cr_expect(strstr(out, row), "no row \"%s\" in:\n%s", row, out);
	}
	cr_expect_null(strstr(out, "    1     3  done"), "trial 2 is not trial 1 now:\n%s", out);
	const char *best = strstr(out, "  best      run ");
	cr_assert(best, "%s", out);
	int brun = 0, btrial = 0;
	cr_assert_eq(sscanf(best, "  best      run %d (trial %d)", &brun, &btrial), 2, "%s", best);
	cr_expect_eq(btrial, brun - 1, "%s", out);
	free(out), free(err);
	rc = jt_jianmo(dir, &out, &err, "show --json 1");
	cr_assert_eq(rc, 0);
	cr_expect(strstr(out, "{\"trial\": 2, \"run\": 3,") && strstr(out, "{\"trial\": 3, \"run\": 4,"),
		  "%s", out);
	free(out), free(err);
	rc = jt_jianmo(dir, &out, &err, "show 4");
	cr_expect(strstr(out, "run 4  (trial 3 of run 1)\n"), "%s", out);
	free(out), free(err);
}

/* A trial keeps as params the keys that matter to it, as a plain run
 * does, and every key its search varies even where it does not matter
 * (sgd's momentum searched under adamw): a resumed search reads its
 * trials' points back from them.  The search keeps its [search] keys and
 * its searched ones (as their ranges) beside those that matter. */
Test(search_run, trial_params_are_the_keys_that_matter_and_the_searched_ones)
{
	write_search("s.flow", 1,
		     "trials = 2\nmethod = random\ntrain.lr = loguniform(1e-3, 1e-1)\n"
		     "train.momentum = uniform(0.5, 0.9)\n");
	cr_assert_eq(jt_jianmo(dir, NULL, NULL, "--batch s.flow"), 0);
	sqlite3 *db = open_db();
	for (int run = 2; run <= 3; run++) {
#define COUNT "SELECT count(*) FROM params WHERE run = %d AND key = '%s'"
		cr_expect_eq(sql_num(db, COUNT, run, "train.lr"), 1);
		cr_expect_eq(sql_num(db, COUNT, run, "train.momentum"), 1, "a searched key");
		cr_expect_eq(sql_num(db, COUNT, run, "train.gamma"), 0, "step's gamma, constant");
		cr_expect_eq(sql_num(db, COUNT, run, "model.layers"), 0, "a cnn key, an mlp");
		cr_expect_eq(sql_num(db, COUNT, run, "search.trials"), 0);
#undef COUNT
		cr_expect_eq(sql_num(db, "SELECT count(*) FROM params WHERE run = %d AND value = ''",
				     run),
			     0);
	}
	cr_expect_eq(sql_num(db, "SELECT count(*) FROM params WHERE run = 1 AND key IN "
				 "('search.trials', 'train.momentum', 'train.lr')"),
		     3);
	cr_expect_eq(sql_num(db, "SELECT count(*) FROM params WHERE run = 1 AND key IN "
				 "('train.gamma', 'model.layers')"),
		     0);
	sqlite3_close(db);
}
