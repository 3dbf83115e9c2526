/*
 * test_cli_runs.c: `jianmo runs/show/compare/rm/export/import` end to end
 * through the real binary ($JIANMO_BIN), against a store filled here
 * through the store API:
 *
 *   id kind    status   name               params (model.type, train.lr)  metrics
 *   1  run     done     fmnist-mlp.flow    mlp  0.001                     val_acc .85 .91, test_acc .90, loss .5 .3
 *   2  search  done     search-a           -                              -
 *   3  trial   done     (none; parent 2)   -    0.01                      val_acc .88
 *   4  trial   pruned   t,"4" (parent 2)   -    0.1                       val_acc .5
 *   5  run     failed   fmnist-cnn         cnn  0.001                     val_acc .93, loss .2
 *   6  run     running  (none)             -                              -
 *
 * Run 1 has a flow, the tag "best" and two artifacts (model.bin and a 2x2
 * confusion.csv).  Run 6 stays `running`: its owner is this test process.
 */
#include <archive.h>
#include <archive_entry.h>
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "store/metric_writer.h"
#include "store/store.h"
#include "testutil.h"
#include "util/fmt.h"

static char *work, *home;

static void add_artifact(jm_store *s, int64_t run, const char *name, const char *text)
{
	jm_err err = {0};
	char *rel = jm_xasprintf("runs/%lld/%s", (long long)run, name);
	char *full = jm_xasprintf("%s/%s", home, rel);
	free(jt_write(NULL, full, text));
	cr_assert_eq(jm_store_artifact_add(s, run, name, rel, &err), 0, "%s", err.msg);
	free(full);
	free(rel);
}

static int64_t add_run(jm_store *s, const char *kind, int64_t parent, const char *name,
		       int64_t flow)
{
	jm_err err = {0};
	int64_t id;
	jm_run_spec spec = {.kind = kind, .parent = parent, .name = name, .flow_id = flow,
			    .seed = 7, .device = "cpu"};
	cr_assert_eq(jm_store_run_create(s, &spec, &id, &err), 0, "%s", err.msg);
	return id;
}

static void setup(void)
{
	jm_err err = {0};
	jm_store *s = NULL;
	work = jt_tmpdir();
	home = jm_xasprintf("%s/.jianmo", work);
	cr_assert_eq(jm_store_open(&s, home, 0, &err), 0, "%s", err.msg);
	int64_t flow;
	cr_assert_eq(jm_store_flow_put(s, "fmnist-mlp.flow", "[model]\ntype = mlp\n", &flow, &err), 0);
	cr_assert_eq(add_run(s, "run", 0, "fmnist-mlp.flow", flow), 1);
	cr_assert_eq(add_run(s, "search", 0, "search-a", 0), 2);
	cr_assert_eq(add_run(s, "trial", 2, NULL, 0), 3);
	cr_assert_eq(add_run(s, "trial", 2, "t,\"4\"", 0), 4);
	cr_assert_eq(add_run(s, "run", 0, "fmnist-cnn", 0), 5);
	cr_assert_eq(add_run(s, "run", 0, NULL, 0), 6);
	static const struct {
		int64_t run;
		const char *key, *value;
	} params[] = {{1, "model.type", "mlp"}, {1, "train.lr", "0.001"}, {3, "train.lr", "0.01"},
		      {4, "train.lr", "0.1"},   {5, "model.type", "cnn"}, {5, "train.lr", "0.001"}};
	for (size_t i = 0; i < sizeof params / sizeof params[0]; i++)
		cr_assert_eq(jm_store_param_set(s, params[i].run, params[i].key, params[i].value, &err), 0);
	jm_metric_writer *w;
	cr_assert_eq(jm_metric_writer_open(&w, s, 0, 0, &err), 0, "%s", err.msg);
	static const struct {
		int64_t run;
		const char *key;
		double v;
	} points[] = {{1, "val_acc", 0.85}, {1, "val_acc", 0.91}, {1, "test_acc", 0.90},
		      {1, "loss", 0.5},     {1, "loss", 0.3},     {3, "val_acc", 0.88},
		      {4, "val_acc", 0.5},  {5, "val_acc", 0.93}, {5, "loss", 0.2}};
	for (size_t i = 0; i < sizeof points / sizeof points[0]; i++)
		cr_assert_eq(jm_metric_log(w, points[i].run, points[i].key, (int64_t)i, points[i].v), 0);
	cr_assert_eq(jm_metric_writer_close(w, &err), 0, "%s", err.msg);
	cr_assert_eq(jm_store_tag_add(s, 1, "best", &err), 0);
	add_artifact(s, 1, "model.bin", "weights");
	add_artifact(s, 1, "confusion.csv", "50,2\n3,45\n");
	static const struct {
		int64_t run;
		const char *status, *error;
	} statuses[] = {{1, JM_RUN_DONE, NULL}, {3, JM_RUN_DONE, NULL}, {4, JM_RUN_PRUNED, NULL},
			{2, JM_RUN_DONE, NULL}, {5, JM_RUN_FAILED, "out of memory"}};
	for (size_t i = 0; i < sizeof statuses / sizeof statuses[0]; i++)
		cr_assert_eq(jm_store_run_set_status(s, statuses[i].run, statuses[i].status,
						     statuses[i].error, &err), 0);
	jm_store_close(s);
}

static void teardown(void)
{
	jt_rm_rf(work);
	free(work);
	free(home);
}

TestSuite(cli_runs, .init = setup, .fini = teardown);

/* ---- helpers ---------------------------------------------------------- */

static int have_python(void)
{
	return jt_sh(NULL, NULL, NULL, "command -v python3 >/dev/null") == 0;
}

/* The first word of each line after the header, comma-separated. */
static char *first_column(const char *table)
{
	char *out = calloc(1, strlen(table) + 1);
	const char *line = strchr(table, '\n');
	while (line && line[1]) {
		line++;
		size_t n = strcspn(line, " \n");
		if (*out)
			strcat(out, ",");
		strncat(out, line, n);
		line = strchr(line, '\n');
	}
	return out;
}

/* Run `jianmo --home HOME ARGS | python3 -c SCRIPT` and return the script's
 * output; the script reads JSON from stdin. */
static char *json_query(const char *args, const char *script)
{
	char *out = NULL, *err = NULL;
	int rc = jt_sh(work, &out, &err, "'%s' --home '%s' %s | python3 -c '%s'", jt_bin(), home,
		       args, script);
	cr_assert_eq(rc, 0, "%s: %s", args, err);
	free(err);
	return out;
}

#define PY_LOAD "import json,sys; d=json.load(sys.stdin); "

/* ---- runs ---------------------------------------------------------------- */

Test(cli_runs, runs_table_newest_first)
{
	char *out = NULL, *err = NULL;
	cr_assert_eq(jt_jianmo(work, &out, &err, "--home '%s' runs", home), 0, "%s", err);
	cr_expect(!strncmp(out, "ID    KIND   STATUS   NAME", 26), "%s", out);
	cr_expect(strstr(out, "TEST_ACC") && strstr(out, "VAL_ACC") && strstr(out, "LOSS"), "%s", out);
	char *ids = first_column(out);
	cr_expect_str_eq(ids, "6,5,4,3,2,1");
	cr_expect(strstr(out, "(trial of 2)"), "%s", out);
	cr_expect(strstr(out, "0.9100"), "%s", out);
	cr_expect_null(strchr(out, '\033'), "no escape codes when not a terminal");
	cr_expect_str_eq(err, "");
	free(ids), free(out), free(err);
	/* the store is found through JIANMO_HOME and the default ./.jianmo too */
	cr_assert_eq(jt_sh(work, &out, NULL, "JIANMO_HOME='%s' '%s' runs --limit 1", home, jt_bin()), 0);
	ids = first_column(out);
	cr_expect_str_eq(ids, "6");
	free(ids), free(out);
	cr_assert_eq(jt_jianmo(work, &out, NULL, "runs --limit 2"), 0);
	ids = first_column(out);
	cr_expect_str_eq(ids, "6,5");
	free(ids), free(out);
}

Test(cli_runs, runs_filter_sort_limit)
{
	static const struct {
		const char *args, *ids;
	} cases[] = {
		{"--filter 'val_acc > 0.9'", "5,1"},
		{"--filter 'status = done and kind != search'", "3,1"},
		{"--filter=\"parent = 2\"", "4,3"},
		{"--filter 'model.type = cnn or train.lr > 0.05'", "5,4"},
		{"--filter 'tag = best'", "1"},
		{"--filter 'name ~ \"fmnist*\"' --sort name", "5,1"},
		{"--sort val_acc", "4,3,1,5,6,2"},
		{"--sort -val_acc --limit 3", "5,1,3"},
		{"--sort=-train.lr,id", "4,3,1,5,2,6"},
		{"--filter 'status = crashed'", ""},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char *out = NULL, *err = NULL;
		cr_assert_eq(jt_jianmo(work, &out, &err, "--home '%s' runs %s", home, cases[i].args), 0,
			     "%s: %s", cases[i].args, err);
		char *ids = first_column(out);
		cr_expect_str_eq(ids, cases[i].ids, "runs %s", cases[i].args);
		free(ids), free(out), free(err);
	}
}

Test(cli_runs, runs_bad_filter_points_at_the_column)
{
	char *out = NULL, *err = NULL;
	cr_expect_eq(jt_jianmo(work, &out, &err, "--home '%s' runs --filter 'status = done and val_acc >'",
			       home), 2);
	cr_expect_str_eq(err, "jianmo: --filter: column 28: expected a value after \">\", got end of "
			      "input\n  status = done and val_acc >\n                             ^\n");
	cr_expect_str_eq(out, "");
	free(out), free(err);
	cr_expect_eq(jt_jianmo(work, &out, &err, "--home '%s' runs --sort 'val_acc desc'", home), 2);
	cr_expect_str_eq(err, "jianmo: --sort: column 9: expected \",\" or the end of the sort keys, "
			      "got \"desc\"\n  val_acc desc\n          ^\n");
	free(out), free(err);
	/* the caret counts characters, not bytes */
	cr_expect_eq(jt_jianmo(work, NULL, &err, "--home '%s' runs --filter 'name = 模型 and ;'", home), 2);
	cr_expect_str_eq(err, "jianmo: --filter: column 15: unexpected character \";\"\n"
			      "  name = 模型 and ;\n                  ^\n");
	free(err);
}

Test(cli_runs, runs_usage_errors)
{
	static const struct {
		const char *args, *msg;
	} cases[] = {
		{"runs --limit 0", "jianmo: runs: --limit: expected a number >= 1, got \"0\"\n"},
		{"runs --limit", "jianmo: runs: --limit: expected a number >= 1, got \"\"\n"},
		{"runs --filter", "jianmo: runs: --filter needs an expression\n"},
		{"runs --json --csv", "jianmo: runs: --json and --csv exclude each other\n"},
		{"runs --bogus", "jianmo: runs: unexpected argument \"--bogus\"\n"
				 "jianmo: usage: jianmo runs [--filter EXPR] [--sort KEY] [--limit N] "
				 "[--json|--csv]\n"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char *err = NULL;
		cr_expect_eq(jt_jianmo(work, NULL, &err, "--home '%s' %s", home, cases[i].args), 2,
			     "%s", cases[i].args);
		cr_expect_str_eq(err, cases[i].msg, "%s", cases[i].args);
		free(err);
	}
	/* no store at all */
	char *err = NULL;
	cr_expect_eq(jt_jianmo(work, NULL, &err, "--home '%s/none' runs", work), 2);
	cr_expect(strstr(err, "no store here"), "%s", err);
	free(err);
}

Test(cli_runs, runs_json_and_csv_parse)
{
	if (!have_python()) {
		cr_log_warn("python3 not found: checking the JSON shape only");
		char *out = NULL;
		cr_assert_eq(jt_jianmo(work, &out, NULL, "--home '%s' runs --json", home), 0);
		cr_expect(out[0] == '[' && strstr(out, "\"id\": 6"), "%s", out);
		free(out);
		return;
	}
	char *got = json_query("runs --json", PY_LOAD "print(\",\".join(str(r[\"id\"]) for r in d))");
	cr_expect_str_eq(got, "6,5,4,3,2,1\n");
	free(got);
	got = json_query("--json runs --filter \"id = 1\"",
			 PY_LOAD "r=d[0]; print(r[\"params\"][\"train.lr\"], r[\"metrics\"][\"val_acc\"][\"last\"], "
				 "r[\"metrics\"][\"loss\"][\"min\"], r[\"metrics\"][\"val_acc\"][\"count\"], "
				 "r[\"tags\"], r[\"flow\"], r[\"parent\"], r[\"status\"])");
	cr_expect_str_eq(got, "0.001 0.91 0.3 2 ['best'] fmnist-mlp.flow None done\n");
	free(got);
	got = json_query("runs --json --filter \"status = crashed\"", PY_LOAD "print(d)");
	cr_expect_str_eq(got, "[]\n");
	free(got);
	/* CSV: RFC 4180, read back with Python's csv module */
	char *out = NULL, *err = NULL;
	cr_assert_eq(jt_sh(work, &out, &err,
			   "'%s' --home '%s' runs --csv --sort id | python3 -c 'import csv,sys; "
			   "rows=list(csv.reader(sys.stdin)); print(rows[0][:5], rows[0][14:]); "
			   "print(len(rows)); print(rows[4][4]); print(rows[1][14:])'",
			   jt_bin(), home),
		     0, "%s", err);
	cr_expect_str_eq(out, "['id', 'kind', 'parent', 'status', 'name'] ['model.type', 'train.lr', "
			      "'loss', 'test_acc', 'val_acc']\n7\nt,\"4\"\n"
			      "['mlp', '0.001', '0.3', '0.9', '0.91']\n");
	free(out), free(err);
	cr_assert_eq(jt_jianmo(work, &out, NULL, "--home '%s' runs --csv --limit 1", home), 0);
	cr_expect(strstr(out, "\r\n"), "CRLF line ends");
	free(out);
}

/* ---- show ----------------------------------------------------------------- */

Test(cli_runs, show_text_and_json)
{
	char *out = NULL, *err = NULL;
	cr_assert_eq(jt_jianmo(work, &out, &err, "--home '%s' show 1", home), 0, "%s", err);
	static const char *const want[] = {
		"run 1\n", "  status    done\n", "  name      fmnist-mlp.flow\n", "  flow      fmnist-mlp.flow\n",
		"  seed      7\n", "  tags      best\n", "\nparams\n", "  model.type",
		"\nmetrics ", "  val_acc ", "0.9100     0.8500     0.9100      2", "\nartifacts\n",
		"confusion.csv", "sha256 ", "\nconfusion matrix (confusion.csv)\n  50  2\n  3  45\n",
		"\nflow (fmnist-mlp.flow)\n  [model]\n  type = mlp\n",
	};
	for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
		cr_expect(strstr(out, want[i]), "missing \"%s\" in:\n%s", want[i], out);
	free(out), free(err);
	cr_assert_eq(jt_jianmo(work, &out, NULL, "--home '%s' show 5", home), 0);
	cr_expect(strstr(out, "  error     out of memory\n"), "%s", out);
	free(out);
	cr_assert_eq(jt_jianmo(work, &out, NULL, "--home '%s' show 4", home), 0);
	cr_expect(strstr(out, "run 4  (trial 2 of run 2)\n"), "%s", out);
	free(out);
	if (have_python()) {
		char *got = json_query("show 1 --json",
				       PY_LOAD "print(d[\"id\"], d[\"params\"][\"model.type\"], "
					       "d[\"metrics\"][\"val_acc\"][\"max\"], len(d[\"artifacts\"]), "
					       "d[\"artifacts\"][0][\"name\"], d[\"flow_text\"].split()[0])");
		cr_expect_str_eq(got, "1 mlp 0.91 2 confusion.csv [model]\n");
		free(got);
	}
}

Test(cli_runs, show_errors)
{
	char *err = NULL, *want = NULL;
	cr_expect_eq(jt_jianmo(work, NULL, &err, "--home '%s' show 99", home), 2);
	want = jm_xasprintf("jianmo: no run \"99\" in %s\n", home);
	cr_expect_str_eq(err, want);
	free(err), free(want);
	cr_expect_eq(jt_jianmo(work, NULL, &err, "--home '%s' show x1", home), 2);
	cr_expect_str_eq(err, "jianmo: \"x1\" is not a run id\n");
	free(err);
	cr_expect_eq(jt_jianmo(work, NULL, &err, "--home '%s' show", home), 2);
	cr_expect_str_eq(err, "jianmo: usage: jianmo show RUN\n");
	free(err);
}

/* ---- compare -------------------------------------------------------------- */

Test(cli_runs, compare_marks_differences)
{
	char *out = NULL, *err = NULL;
	cr_assert_eq(jt_jianmo(work, &out, &err, "--home '%s' compare 1 5", home), 0, "%s", err);
	/* the differing param first and marked, the equal one after */
	char *diff = strstr(out, "* model.type"), *same = strstr(out, "  train.lr");
	cr_expect(diff && same && diff < same, "%s", out);
	cr_expect(strstr(out, "mlp") && strstr(out, "cnn"), "%s", out);
	cr_expect(strstr(out, "\nfinal (last value)\n"), "%s", out);
	cr_expect(strstr(out, "\nbest (max for acc/auc/f1-like, else min)\n"), "%s", out);
	/* val_acc: run 5 wins (0.93); loss: run 5 wins (0.2, smaller) */
	cr_expect(strstr(out, "0.9300 <"), "%s", out);
	cr_expect(strstr(out, "0.2000 <"), "%s", out);
	free(out), free(err);
	if (have_python()) {
		char *got = json_query("compare 1 5 --json",
				       PY_LOAD "p={x[\"key\"]: x for x in d[\"params\"]}; "
					       "m={x[\"key\"]: x for x in d[\"metrics\"]}; "
					       "print(d[\"runs\"], p[\"model.type\"][\"differs\"], "
					       "p[\"train.lr\"][\"differs\"], m[\"val_acc\"][\"best_is\"], "
					       "m[\"val_acc\"][\"best\"], m[\"loss\"][\"best_is\"], "
					       "m[\"loss\"][\"best\"], m[\"test_acc\"][\"last\"])");
		cr_expect_str_eq(got, "[1, 5] True False max [0.91, 0.93] min [0.3, 0.2] [0.9, None]\n");
		free(got);
	}
	cr_expect_eq(jt_jianmo(work, NULL, &err, "--home '%s' compare 1", home), 2);
	cr_expect_str_eq(err, "jianmo: compare: needs at least two runs\n"
			      "jianmo: usage: jianmo compare RUN RUN...\n");
	free(err);
	cr_expect_eq(jt_jianmo(work, NULL, &err, "--home '%s' compare 1 42", home), 2);
	cr_expect(strstr(err, "no run \"42\""), "%s", err);
	free(err);
}

/* ---- rm ------------------------------------------------------------------- */

static int run_dir_exists(int64_t id)
{
	char *p = jm_xasprintf("%s/runs/%lld", home, (long long)id);
	struct stat st;
	int yes = stat(p, &st) == 0;
	free(p);
	return yes;
}

Test(cli_runs, rm_refuses_without_yes_and_deletes_with_it)
{
	char *out = NULL, *err = NULL;
	cr_expect_eq(jt_jianmo(work, &out, &err, "--home '%s' rm 2", home), 2);
	cr_expect_str_eq(err, "jianmo: rm: not deleting without confirmation: stdin is not a "
			      "terminal (add --yes)\n");
	cr_expect(run_dir_exists(2) && run_dir_exists(3));
	free(out), free(err);
	cr_expect_eq(jt_jianmo(work, NULL, &err, "--home '%s' rm --yes 6", home), 2);
	cr_expect(strstr(err, "jianmo: rm: run 6 is running"), "%s", err);
	free(err);
	cr_expect_eq(jt_jianmo(work, NULL, &err, "--home '%s' rm --yes 1 99", home), 2);
	char *want = jm_xasprintf("jianmo: no run \"99\" in %s\n", home);
	cr_expect_str_eq(err, want);
	free(want), free(err);
	cr_expect(run_dir_exists(1), "nothing deleted when one run is missing");

	cr_assert_eq(jt_jianmo(work, &out, &err, "--home '%s' rm --yes 2", home), 0, "%s", err);
	cr_expect_str_eq(out, "deleted run 2 (and 2 trials)\n");
	cr_expect(!run_dir_exists(2) && !run_dir_exists(3) && !run_dir_exists(4));
	free(out), free(err);
	cr_assert_eq(jt_jianmo(work, &out, NULL, "--home '%s' runs", home), 0);
	char *ids = first_column(out);
	cr_expect_str_eq(ids, "6,5,1");
	free(ids), free(out);
	cr_assert_eq(jt_jianmo(work, &out, NULL, "--home '%s' --json rm --yes 5", home), 0);
	cr_expect_str_eq(out, "{\"deleted\": [5]}\n");
	free(out);
}

Test(cli_runs, rm_asks_on_a_terminal)
{
	if (jt_sh(NULL, NULL, NULL, "command -v script >/dev/null") != 0) {
		cr_log_warn("script(1) not found: the terminal question is not tested");
		return;
	}
	/* script(1) gives the command a terminal fed from our pipe */
	char *out = NULL;
	cr_assert_eq(jt_sh(work, &out, NULL, "printf 'n\\n' | script -qec \"'%s' --home '%s' rm 2\" /dev/null",
			   jt_bin(), home), 0);
	cr_expect(strstr(out, "delete run 2 (and its 2 trials)? [y/N] "), "%s", out);
	cr_expect(strstr(out, "jianmo: rm: nothing deleted"), "%s", out);
	cr_expect(run_dir_exists(2));
	free(out);
	cr_assert_eq(jt_sh(work, &out, NULL, "printf 'y\\n' | script -qec \"'%s' --home '%s' rm 1 5\" /dev/null",
			   jt_bin(), home), 0);
	cr_expect(strstr(out, "delete runs 1, 5? [y/N] "), "%s", out);
	cr_expect(strstr(out, "deleted runs 1, 5"), "%s", out);
	cr_expect(!run_dir_exists(1) && !run_dir_exists(5));
	free(out);
}

/* ---- export / import ------------------------------------------------------ */

Test(cli_runs, export_import_round_trip)
{
	char *out = NULL, *err = NULL;
	cr_assert_eq(jt_jianmo(work, &out, &err, "--home '%s' export 2 --bundle s.tar.gz", home), 0,
		     "%s", err);
	cr_expect_str_eq(out, "exported run 2 (and 2 trials) to s.tar.gz\n");
	free(out), free(err);
	cr_assert_eq(jt_jianmo(work, &out, &err, "--home '%s' export --bundle=one.tar.gz 1", home), 0,
		     "%s", err);
	cr_expect_str_eq(out, "exported run 1 to one.tar.gz\n");
	free(out), free(err);
	/* into a new store (created by import) */
	cr_assert_eq(jt_jianmo(work, &out, &err, "--home other import s.tar.gz"), 0, "%s", err);
	cr_expect_str_eq(out, "imported s.tar.gz as run 1 (and 2 trials)\n");
	free(out), free(err);
	cr_assert_eq(jt_jianmo(work, &out, NULL, "--home other runs --sort id"), 0);
	char *ids = first_column(out);
	cr_expect_str_eq(ids, "1,2,3");
	free(ids), free(out);
	/* back into the same store: new ids, same content */
	cr_assert_eq(jt_jianmo(work, &out, &err, "--home '%s' --json import one.tar.gz", home), 0,
		     "%s", err);
	cr_expect_str_eq(out, "{\"run\": 7, \"runs\": 1, \"bundle\": \"one.tar.gz\"}\n");
	free(out), free(err);
	char *a = NULL, *b = NULL;
	cr_assert_eq(jt_jianmo(work, &a, NULL, "--home '%s' show 1", home), 0);
	cr_assert_eq(jt_jianmo(work, &b, NULL, "--home '%s' show 7", home), 0);
	/* identical after the first line (the id) and the artifact paths */
	cr_expect(strstr(b, "runs/7/confusion.csv"), "%s", b);
	char *pa = strstr(a, "\nparams"), *pb = strstr(b, "\nparams");
	cr_assert(pa && pb);
	*strstr(pa, "\nartifacts") = '\0';
	*strstr(pb, "\nartifacts") = '\0';
	cr_expect_str_eq(pa, pb);
	free(a), free(b);
}

Test(cli_runs, export_import_errors)
{
	char *err = NULL, *want = jm_xasprintf("jianmo: no run \"99\" in %s\n", home);
	cr_expect_eq(jt_jianmo(work, NULL, &err, "--home '%s' export 99 --bundle x.tar.gz", home), 2);
	cr_expect_str_eq(err, want);
	free(err), free(want);
	cr_expect_eq(jt_jianmo(work, NULL, &err, "--home '%s' export 1", home), 2);
	cr_expect_str_eq(err, "jianmo: export: where to? (--bundle FILE.tar.gz)\n"
			      "jianmo: usage: jianmo export RUN --bundle FILE.tar.gz [--force]\n");
	free(err);
	cr_expect_eq(jt_jianmo(work, NULL, &err, "--home '%s' import nothere.tar.gz", home), 2);
	cr_expect_str_eq(err, "jianmo: nothere.tar.gz: No such file or directory\n");
	free(err);
	/* a hostile bundle: refused, exit 2, the member named */
	char *path = jm_xasprintf("%s/evil.tar.gz", work);
	struct archive *ar = archive_write_new();
	archive_write_add_filter_gzip(ar);
	archive_write_set_format_pax_restricted(ar);
	cr_assert_eq(archive_write_open_filename(ar, path), ARCHIVE_OK);
	struct archive_entry *e = archive_entry_new();
	archive_entry_set_pathname(e, "../../evil.sh");
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0755);
	archive_entry_set_size(e, 3);
	archive_write_header(ar, e);
	archive_write_data(ar, "hi\n", 3);
	archive_entry_free(e);
	archive_write_close(ar);
	archive_write_free(ar);
	cr_expect_eq(jt_jianmo(work, NULL, &err, "--home '%s' import evil.tar.gz", home), 2);
	cr_expect_str_eq(err, "jianmo: evil.tar.gz: member \"../../evil.sh\": a \"..\" component "
			      "is not allowed\n");
	free(err);
	char *out = NULL;
	cr_assert_eq(jt_jianmo(work, &out, NULL, "--home '%s' runs", home), 0);
	char *ids = first_column(out);
	cr_expect_str_eq(ids, "6,5,4,3,2,1", "store unchanged");
	free(ids), free(out), free(path);
}

/* Names and SHA-256 of every file under dir, to show it was left alone. */
static char *tree_digest(const char *dir)
{
	char *out = NULL;
	cr_assert_eq(jt_sh(dir, &out, NULL, "find . -exec ls -ld {} + | awk '{print $1, $NF}' | "
			   "LC_ALL=C sort && find . -type f -exec sha256sum {} + | LC_ALL=C sort"),
		     0);
	return out;
}

/* A file under work, which must exist. */
static char *read_in_work(const char *name, size_t *n)
{
	char *path = jm_xasprintf("%s/%s", work, name), *text = jt_read(path, n);
	cr_assert(text, "%s is missing", path);
	free(path);
	return text;
}

/* `export --bundle` run from work: exit status, stderr in *err. */
static int export_to(const char *dest, const char *extra, char **err)
{
	return jt_jianmo(work, NULL, err, "--home '%s' export 1 --bundle '%s'%s", home, dest, extra);
}

Test(cli_runs, export_refuses_the_store_home)
{
	char *before = tree_digest(home), *err = NULL, *rhome = realpath(home, NULL);
	cr_assert(rhome);
	cr_assert_eq(jt_sh(work, NULL, NULL, "mkdir sub && ln -s .jianmo link && "
			   "ln -s .jianmo/runs/1/model.bin m.tar.gz"), 0);
	/* the database, an artifact, a new name, the home itself, and the
	 * same through "..", a linked directory and a linked file */
	static const char *const dests[] = {
		".jianmo/jianmo.db",  ".jianmo/runs/1/model.bin", ".jianmo/new.tar.gz",
		".jianmo",            "sub/../.jianmo/jianmo.db", "./link/jianmo.db",
		"link/runs/9.tar.gz", "m.tar.gz",
	};
	for (size_t i = 0; i < sizeof dests / sizeof dests[0]; i++) {
		for (int force = 0; force < 2; force++) {
			char *want = jm_xasprintf("jianmo: %s: inside the store's home %s; a bundle "
						  "there would replace the store's own files (write "
						  "it elsewhere)\n", dests[i], rhome);
			cr_expect_eq(export_to(dests[i], force ? " --force" : "", &err), 2, "%s: %s",
				     dests[i], err);
			cr_expect_str_eq(err, want);
			free(err), free(want);
		}
	}
	/* the home named by a relative --home and by JIANMO_HOME */
	cr_expect_eq(jt_jianmo(work, NULL, &err, "--home .jianmo export 1 --bundle "
			       ".jianmo/runs/1/confusion.csv"), 2);
	cr_expect(strstr(err, "inside the store's home"), "%s", err);
	free(err);
	cr_expect_eq(jt_sh(work, NULL, &err, "JIANMO_HOME=link '%s' export 1 --bundle "
			   "sub/../.jianmo/jianmo.db-wal", jt_bin()), 2);
	cr_expect(strstr(err, "inside the store's home"), "%s", err);
	free(err);
	char *after = tree_digest(home);
	cr_expect_str_eq(after, before, "the store is byte for byte unchanged");
	char *out = NULL;
	cr_assert_eq(jt_jianmo(work, &out, NULL, "--home '%s' runs", home), 0);
	char *ids = first_column(out);
	cr_expect_str_eq(ids, "6,5,4,3,2,1");
	free(ids), free(out), free(after), free(before), free(rhome);
}

Test(cli_runs, export_refuses_a_file_that_is_not_a_bundle)
{
	char *before = tree_digest(home), *err = NULL, *out = NULL;
	static const char flow[] = "; my notes\n[train]\nepochs = 2\n";
	free(jt_write(work, "p.flow", flow));
	cr_assert_eq(jt_sh(work, NULL, NULL, "printf 'notes\\n' | gzip > notes.gz && "
			   "tar czf other.tar.gz p.flow && : > empty.tar.gz"), 0);
	size_t n_gz, n_tgz, n;
	char *gz = read_in_work("notes.gz", &n_gz), *tgz = read_in_work("other.tar.gz", &n_tgz);
	cr_expect_eq(export_to("p.flow", "", &err), 2);
	cr_expect_str_eq(err, "jianmo: p.flow: exists and is not a jianmo bundle (not a gzip "
			      "file); use --force to replace it\n");
	free(err);
	static const char *const gzips[] = {"notes.gz", "other.tar.gz"};
	for (size_t i = 0; i < 2; i++) {
		char *want = jm_xasprintf("jianmo: %s: exists and is not a jianmo bundle (a gzip "
					  "file, but not a tar with manifest.json first); use "
					  "--force to replace it\n", gzips[i]);
		cr_expect_eq(export_to(gzips[i], "", &err), 2);
		cr_expect_str_eq(err, want);
		free(err), free(want);
	}
	char *now = read_in_work("p.flow", &n);
	cr_expect(n == strlen(flow) && !memcmp(now, flow, n), "p.flow unchanged");
	free(now);
	now = read_in_work("notes.gz", &n);
	cr_expect(n == n_gz && !memcmp(now, gz, n), "notes.gz unchanged");
	free(now);
	now = read_in_work("other.tar.gz", &n);
	cr_expect(n == n_tgz && !memcmp(now, tgz, n), "other.tar.gz unchanged");
	free(now), free(gz), free(tgz);
	char *after = tree_digest(home);
	cr_expect_str_eq(after, before);
	free(after), free(before);

	/* --force replaces it; an existing bundle and an empty file need no --force */
	cr_expect_eq(jt_jianmo(work, &out, &err, "--home '%s' export 1 --force --bundle p.flow",
			       home), 0, "%s", err);
	cr_expect_str_eq(out, "exported run 1 to p.flow\n");
	free(out), free(err);
	cr_expect_eq(jt_jianmo(work, &out, &err, "--home '%s' export 2 -f --bundle notes.gz", home),
		     0, "%s", err);
	free(out), free(err);
	cr_expect_eq(jt_jianmo(work, &out, &err, "--home '%s' export 2 --bundle p.flow", home), 0,
		     "%s", err);
	cr_expect_str_eq(out, "exported run 2 (and 2 trials) to p.flow\n");
	free(out), free(err);
	cr_expect_eq(export_to("empty.tar.gz", "", &err), 0, "%s", err);
	free(err);
	cr_expect_eq(jt_jianmo(work, &out, &err, "--home fresh import p.flow"), 0, "%s", err);
	cr_expect_str_eq(out, "imported p.flow as run 1 (and 2 trials)\n");
	free(out), free(err);

	/* a link is followed: its target is checked and replaced, the link kept */
	cr_assert_eq(jt_sh(work, NULL, NULL, "mkdir keep && cp p.flow keep/real.tar.gz && "
			   "ln -s keep/real.tar.gz cur.tar.gz && ln -s p.flow f.tar.gz"), 0);
	cr_expect_eq(export_to("cur.tar.gz", "", &err), 0, "%s", err);
	free(err);
	cr_expect_eq(jt_sh(work, NULL, NULL, "test -L cur.tar.gz && ! test -e keep/real.tar.gz.tmp-*"),
		     0);
	cr_expect_eq(jt_jianmo(work, &out, &err, "--home fresh2 import keep/real.tar.gz"), 0, "%s",
		     err);
	cr_expect_str_eq(out, "imported keep/real.tar.gz as run 1\n");
	free(out), free(err);
	free(jt_write(work, "p.flow", flow));
	cr_expect_eq(export_to("f.tar.gz", "", &err), 2);
	cr_expect_str_eq(err, "jianmo: f.tar.gz: exists and is not a jianmo bundle (not a gzip "
			      "file); use --force to replace it\n");
	free(err);
	now = read_in_work("p.flow", &n);
	cr_expect(n == strlen(flow) && !memcmp(now, flow, n), "p.flow unchanged through a link");
	free(now);
	cr_assert_eq(jt_jianmo(NULL, &out, NULL, "help export"), 0);
	cr_expect(strstr(out, "--force"), "%s", out);
	free(out);
}

Test(cli_runs, export_destination_errors)
{
	char *err = NULL;
	cr_assert_eq(jt_sh(work, NULL, NULL, "mkdir sub && : > file && ln -s gone dangling.tar.gz && "
			   "mkfifo fifo.tar.gz"), 0);
	char *before = tree_digest(work);
	static const struct {
		const char *dest, *msg;
	} cases[] = {
		{"sub", "sub: is a directory; give the bundle a file name, such as sub/run.tar.gz"},
		{"sub/", "sub/: is a directory; give the bundle a file name, such as sub/run.tar.gz"},
		{"nodir/x.tar.gz", "nodir/x.tar.gz: directory nodir does not exist"},
		{"file/x.tar.gz", "file/x.tar.gz: Not a directory"},
		{"dangling.tar.gz", "dangling.tar.gz: a symbolic link to a file that does not exist; "
				    "remove it or name another file"},
		{"fifo.tar.gz", "fifo.tar.gz: not a regular file (a bundle is written beside it and "
				"renamed over it)"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		for (int force = 0; force < 2; force++) {
			char *want = jm_xasprintf("jianmo: %s\n", cases[i].msg);
			cr_expect_eq(export_to(cases[i].dest, force ? " --force" : "", &err), 2,
				     "%s: %s", cases[i].dest, err);
			cr_expect_str_eq(err, want);
			free(err), free(want);
		}
	}
	char *after = tree_digest(work);
	cr_expect_str_eq(after, before, "nothing written or left behind");
	free(after), free(before);
}

/* ---- a run's flow, compare across kinds, the home summary ----------------- */

/* A store of its own under work/name; returns its home (malloc'd). */
static char *other_store(const char *name, jm_store **s)
{
	jm_err err = {0};
	char *h = jm_xasprintf("%s/%s", work, name);
	cr_assert_eq(jm_store_open(s, h, 0, &err), 0, "%s", err.msg);
	return h;
}

static void set_params(jm_store *s, int64_t run, const char *const *kv)
{
	jm_err err = {0};
	for (; *kv; kv += 2)
		cr_assert_eq(jm_store_param_set(s, run, kv[0], kv[1], &err), 0, "%s", err.msg);
}

/* Identical flow texts are stored once, under the first file's name; each
 * run's flow is still the file it was started from (a trial's: its
 * search's), in show, the CSV and the filter. */
Test(cli_runs, flow_names_the_file_each_run_came_from)
{
	jm_store *s = NULL;
	jm_err err = {0};
	char *h = other_store("same-text", &s);
	const char *text = "[train]\nepochs = 1\n";
	int64_t f1, f2;
	cr_assert_eq(jm_store_flow_put(s, "baseline.flow", text, &f1, &err), 0);
	cr_assert_eq(jm_store_flow_put(s, "experiment-42.flow", text, &f2, &err), 0);
	cr_assert_eq(f1, f2, "one flow row for one text");
	cr_assert_eq(add_run(s, "run", 0, "baseline.flow", f1), 1);
	cr_assert_eq(add_run(s, "run", 0, "experiment-42.flow", f2), 2);
	cr_assert_eq(add_run(s, "search", 0, "sweep.flow", f1), 3);
	cr_assert_eq(add_run(s, "trial", 3, NULL, f1), 4);
	jm_store_close(s);

	char *out = NULL, *e = NULL;
	cr_assert_eq(jt_jianmo(work, &out, &e, "--home '%s' show 2", h), 0, "%s", e);
	cr_expect(strstr(out, "  flow      experiment-42.flow\n"), "%s", out);
	cr_expect(strstr(out, "\nflow (experiment-42.flow)\n"), "%s", out);
	free(out), free(e);
	cr_assert_eq(jt_jianmo(work, &out, NULL, "--home '%s' show 4", h), 0);
	cr_expect(strstr(out, "  flow      sweep.flow\n"), "%s", out);
	free(out);
	cr_assert_eq(jt_sh(work, &out, &e, "'%s' --home '%s' runs --csv --sort id | cut -d, -f1,6 | "
			   "tr -d '\\r' | tr '\\n' ' '", jt_bin(), h), 0, "%s", e);
	cr_expect_str_eq(out, "id,flow 1,baseline.flow 2,experiment-42.flow 3,sweep.flow "
			      "4,sweep.flow ");
	free(out), free(e);
	static const struct {
		const char *filter, *ids;
	} cases[] = {
		{"flow = experiment-42.flow", "2"},
		{"flow = baseline.flow", "1"},
		{"flow = sweep.flow", "4,3"},
		{"flow ~ \"*.flow\" and kind = run", "2,1"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		cr_assert_eq(jt_jianmo(work, &out, &e, "--home '%s' runs --filter '%s'", h,
				       cases[i].filter), 0, "%s", e);
		char *ids = first_column(out);
		cr_expect_str_eq(ids, cases[i].ids, "--filter '%s'", cases[i].filter);
		free(ids), free(out), free(e);
	}
	free(h);
}

/* A search and its trials keep every key of the flow (empty ones, the
 * [search] block); a plain run only the keys with a value.  Compared, only
 * what was trained differently is marked. */
Test(cli_runs, compare_a_trial_with_a_plain_run_marks_only_real_differences)
{
	jm_store *s = NULL;
	char *h = other_store("kinds", &s);
	cr_assert_eq(add_run(s, "run", 0, "ok.flow", 0), 1);
	cr_assert_eq(add_run(s, "search", 0, "ok.flow", 0), 2);
	cr_assert_eq(add_run(s, "trial", 2, NULL, 0), 3);
	cr_assert_eq(add_run(s, "trial", 2, NULL, 0), 4);
	set_params(s, 1, (const char *const[]){"train.lr", "0.1", "train.epochs", "1", NULL});
	set_params(s, 3, (const char *const[]){"train.lr", "0.05", "train.epochs", "1",
					       "features.onehot", "", "data.comment", "",
					       "search.trials", "0", "search.method", "bayes", NULL});
	set_params(s, 4, (const char *const[]){"train.lr", "0.05", "train.epochs", "1",
					       "features.onehot", "", "search.trials", "0",
					       "search.method", "random", NULL});
	jm_store_close(s);

	char *out = NULL, *e = NULL;
	cr_assert_eq(jt_jianmo(work, &out, &e, "--home '%s' compare 1 3", h), 0, "%s", e);
	const char *second = strchr(out, '\n') + 1;
	cr_expect(!strncmp(second, "* train.lr ", 11), "%s", out);
	cr_expect_null(strstr(second, "\n*"), "one difference only:\n%s", out);
	cr_expect_null(strstr(out, "features.onehot"), "%s", out);
	cr_expect_null(strstr(out, "data.comment"), "%s", out);
	cr_expect(strstr(out, "\n  search.method "), "%s", out);
	cr_expect(strstr(out, "\n  (search.* not marked for run 1: not a search or trial)\n"), "%s",
		  out);
	free(out), free(e);
	/* between trials of searches set up differently, search.* is marked */
	cr_assert_eq(jt_jianmo(work, &out, &e, "--home '%s' compare 3 4 1", h), 0, "%s", e);
	cr_expect(strstr(out, "\n* search.method "), "%s", out);
	cr_expect(strstr(out, "\n* train.lr "), "%s", out);
	cr_expect(strstr(out, "\n  search.trials "), "%s", out);
	free(out), free(e);
	/* two trials alike: nothing marked, no note */
	cr_assert_eq(jt_jianmo(work, &out, &e, "--home '%s' compare 3 4", h), 0, "%s", e);
	cr_expect_null(strstr(out, "not marked"), "%s", out);
	free(out), free(e);
	if (have_python()) {
		char *cmd = jm_xasprintf("--home '%s' compare 1 3 --json", h);
		char *got = json_query(cmd, PY_LOAD "p={x[\"key\"]: x for x in d[\"params\"]}; "
						    "print(sorted(k for k in p if p[k][\"differs\"]), "
						    "\"features.onehot\" in p, p[\"search.trials\"][\"values\"])");
		cr_expect_str_eq(got, "['train.lr'] False [None, '0']\n");
		free(got), free(cmd);
	}
	free(h);
}

/* `jianmo --json` with no subcommand: one JSON object, the runs as many as
 * the text lists. */
Test(cli_runs, home_json_is_one_document)
{
	jm_store *s = NULL;
	jm_err err = {0};
	cr_assert_eq(jm_store_open(&s, home, 0, &err), 0, "%s", err.msg);
	for (int i = 7; i <= 12; i++)
		cr_assert_eq(add_run(s, "run", 0, "more.flow", 0), i);
	jm_store_close(s);
	char *out = NULL, *e = NULL;
	cr_assert_eq(jt_jianmo(work, &out, &e, "--home '%s' --json", home), 0, "%s", e);
	cr_expect(out[0] == '{', "%s", out);
	cr_expect_null(strstr(out, "Recent runs:"), "%s", out);
	cr_expect_null(strstr(out, "Next:"), "%s", out);
	free(out), free(e);
	if (!have_python())
		return;
	char *got = json_query("--json", PY_LOAD "print(sorted(d), d[\"store\"].endswith(\"/jianmo.db\"), "
					 "[r[\"id\"] for r in d[\"recent_runs\"]], sorted(d[\"data\"]), "
					 "d[\"next\"][0][\"command\"], d[\"recent_runs\"][-1][\"flow\"])");
	cr_expect_str_eq(got, "['data', 'next', 'recent_runs', 'store'] True "
			      "[12, 11, 10, 9, 8, 7, 6, 5, 4, 3] ['dir', 'installed', 'name', 'note'] "
			      "jianmo --batch examples/fmnist-mlp.flow search-a\n");
	free(got);
}

/* A metric or param no run has matches nothing: runs says so on stderr,
 * and its output and exit status stay what they are. */
Test(cli_runs, a_name_no_run_has_is_noted)
{
	char *out, *err;
	int rc = jt_jianmo(work, &out, &err, "runs --filter 'val_ac > 0.5' --sort -trian.lr --csv");
	cr_expect_eq(rc, 0, "exit %d\n%s", rc, err);
	cr_expect(strstr(err, "jianmo: note: --filter: no run has a metric \"val_ac\"\n"), "%s", err);
	cr_expect(strstr(err, "jianmo: note: --sort: no run has a param \"trian.lr\"\n"), "%s", err);
	cr_expect_null(strstr(out, "note"), "%s", out);
	free(out), free(err);
	rc = jt_jianmo(work, &out, &err, "runs --filter 'val_acc > 0.5'");
	cr_expect_eq(rc, 0);
	cr_expect_null(strstr(err, "note"), "%s", err);
	free(out), free(err);
}

/* ---- tag / untag ------------------------------------------------------------ */

/* The tags of run id, comma-separated, as the store holds them. */
static char *tags_of(int64_t id)
{
	char *out = NULL;
	cr_assert_eq(jt_sh(work, &out, NULL, "sqlite3 '%s/jianmo.db' \"SELECT group_concat(tag, ',') "
			   "FROM (SELECT tag FROM tags WHERE run = %lld ORDER BY tag)\"", home,
			   (long long)id), 0);
	out[strcspn(out, "\n")] = '\0';
	return out;
}

static int have_sqlite3(void)
{
	return jt_sh(NULL, NULL, NULL, "command -v sqlite3 >/dev/null") == 0;
}

Test(cli_runs, tag_adds_and_untag_removes_tags)
{
	char *out = NULL, *err = NULL;
	cr_assert_eq(jt_jianmo(work, &out, &err, "--home '%s' tag 3 paper baseline", home), 0, "%s",
		     err);
	cr_expect_str_eq(out, "run 3: baseline, paper\n");
	cr_expect_str_eq(err, "");
	free(out), free(err);
	/* again: nothing new, no error */
	cr_assert_eq(jt_jianmo(work, &out, &err, "--home '%s' tag 3 paper", home), 0, "%s", err);
	cr_expect_str_eq(out, "run 3: baseline, paper\n");
	free(out), free(err);
	/* the filter language finds them; show prints them */
	cr_assert_eq(jt_jianmo(work, &out, NULL, "--home '%s' runs --filter 'tag = paper'", home), 0);
	char *ids = first_column(out);
	cr_expect_str_eq(ids, "3");
	free(ids), free(out);
	cr_assert_eq(jt_jianmo(work, &out, NULL, "--home '%s' show 3", home), 0);
	cr_expect(strstr(out, "  tags      baseline, paper\n"), "%s", out);
	free(out);
	/* any kind of run, a running one too */
	cr_assert_eq(jt_jianmo(work, &out, &err, "--home '%s' tag 2 sweep", home), 0, "%s", err);
	free(out), free(err);
	cr_assert_eq(jt_jianmo(work, &out, &err, "--home '%s' --json tag 6 live", home), 0, "%s", err);
	cr_expect_str_eq(out, "{\"run\": 6, \"tags\": [\"live\"]}\n");
	free(out), free(err);
	cr_assert_eq(jt_jianmo(work, &out, &err, "--home '%s' untag 3 paper", home), 0, "%s", err);
	cr_expect_str_eq(out, "run 3: baseline\n");
	free(out), free(err);
	cr_assert_eq(jt_jianmo(work, &out, &err, "--home '%s' untag 3 baseline", home), 0, "%s", err);
	cr_expect_str_eq(out, "run 3: no tags\n");
	free(out), free(err);
	/* a tag that starts with "-" after "--" */
	cr_assert_eq(jt_jianmo(work, &out, &err, "--home '%s' tag -- 1 -x", home), 0, "%s", err);
	cr_expect_str_eq(out, "run 1: -x, best\n");
	free(out), free(err);
	if (have_sqlite3()) {
		char *t = tags_of(2);
		cr_expect_str_eq(t, "sweep");
		free(t);
	}
}

Test(cli_runs, tag_errors_change_nothing)
{
	static const struct {
		const char *args, *err;
	} cases[] = {
		{"tag", "jianmo: usage: jianmo tag RUN TAG...\n"},
		{"tag 1", "jianmo: tag: which tags? (give at least one)\n"
			  "jianmo: usage: jianmo tag RUN TAG...\n"},
		{"untag 1", "jianmo: untag: which tags? (give at least one)\n"
			    "jianmo: usage: jianmo untag RUN TAG...\n"},
		{"tag --bogus 1 x", "jianmo: tag: unexpected argument \"--bogus\"\n"
				    "jianmo: usage: jianmo tag RUN TAG...\n"},
		{"tag 1 ok 'two words'", "jianmo: tag \"two words\": no spaces or control "
					 "characters in a tag\n"},
		{"tag 1 ok ''", "jianmo: tag \"\": empty\n"},
		{"tag 1 \"$(printf 'a\\tb')\"", "jianmo: tag \"a\\tb\": no spaces or control "
						 "characters in a tag\n"},
		{"tag 1 aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
		 "jianmo: tag \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\": "
		 "longer than 64 bytes\n"},
		{"tag x1 ok", "jianmo: \"x1\" is not a run id\n"},
		{"untag 1 best nosuch", "jianmo: run 1 has no tag \"nosuch\"\n"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char *out = NULL, *err = NULL;
		int rc = jt_jianmo(work, &out, &err, "--home '%s' %s", home, cases[i].args);
		cr_expect_eq(rc, 2, "%s: exit %d", cases[i].args, rc);
		cr_expect_str_eq(err, cases[i].err, "%s", cases[i].args);
		cr_expect_str_eq(out, "", "%s", cases[i].args);
		free(out), free(err);
	}
	char *err = NULL, *want = jm_xasprintf("jianmo: no run \"99\" in %s\n", home);
	cr_expect_eq(jt_jianmo(work, NULL, &err, "--home '%s' tag 99 ok", home), 2);
	cr_expect_str_eq(err, want);
	free(err), free(want);
	/* all or nothing: run 1 still has just its tag */
	char *out = NULL;
	cr_assert_eq(jt_jianmo(work, &out, NULL, "--home '%s' show --json 1", home), 0);
	cr_expect(strstr(out, "\"tags\": [\"best\"]"), "%s", out);
	free(out);
	/* help knows them */
	cr_assert_eq(jt_jianmo(work, &out, NULL, "help untag"), 0);
	cr_expect(strstr(out, "usage: jianmo untag RUN TAG..."), "%s", out);
	free(out);
}

/* ---- run ids that look like options, and "--" ------------------------------ */

Test(cli_runs, negative_ids_are_not_options_and_double_dash_ends_them)
{
	char *out = NULL, *err = NULL;
	cr_expect_eq(jt_jianmo(work, &out, &err, "--home '%s' show -1", home), 2);
	cr_expect_str_eq(err, "jianmo: \"-1\" is not a run id\n");
	free(out), free(err);
	cr_expect_eq(jt_jianmo(work, &out, &err, "--home '%s' compare 1 -5", home), 2);
	cr_expect_str_eq(err, "jianmo: \"-5\" is not a run id\n");
	free(out), free(err);
	cr_expect_eq(jt_jianmo(work, &out, &err, "--home '%s' show --frob", home), 2);
	cr_expect_str_eq(err, "jianmo: usage: jianmo show RUN\n");
	free(out), free(err);
	cr_assert_eq(jt_jianmo(work, &out, &err, "--home '%s' show -- 1", home), 0, "%s", err);
	cr_expect(!strncmp(out, "run 1\n", 6), "%s", out);
	free(out), free(err);
	cr_assert_eq(jt_jianmo(work, &out, &err, "--home '%s' compare -- 1 5", home), 0, "%s", err);
	free(out), free(err);
	cr_assert_eq(jt_jianmo(work, &out, &err, "--home '%s' export --bundle d.tar.gz -- 1", home), 0,
		     "%s", err);
	cr_expect_str_eq(out, "exported run 1 to d.tar.gz\n");
	free(out), free(err);
	cr_assert_eq(jt_jianmo(work, &out, &err, "--home '%s' rm --yes -- 4", home), 0, "%s", err);
	cr_expect_str_eq(out, "deleted run 4\n");
	free(out), free(err);
	cr_expect_eq(jt_jianmo(work, &out, &err, "--home '%s' rm --yes -- -4", home), 2);
	cr_expect_str_eq(err, "jianmo: \"-4\" is not a run id\n");
	free(out), free(err);
}

/* ---- commands that read never make a store ---------------------------------- */

Test(cli_runs, read_commands_leave_an_empty_database_file_alone)
{
	cr_assert_eq(jt_sh(work, NULL, NULL, "mkdir -p e/.jianmo && : > e/.jianmo/jianmo.db"), 0);
	char *dir = jm_xasprintf("%s/e", work);
	static const char *const cmds[] = {
		"runs", "runs --json", "runs --csv", "show 1", "compare 1 2", "rm --yes 1",
		"export 1 --bundle x.tar.gz", "tag 1 x", "untag 1 x",
	};
	for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
		char *out = NULL, *err = NULL;
		int rc = jt_jianmo(dir, &out, &err, "%s", cmds[i]);
		cr_expect_eq(rc, 2, "%s: exit %d: %s", cmds[i], rc, err);
		cr_expect(strstr(err, "jianmo: .jianmo/jianmo.db: no store here"), "%s: %s", cmds[i],
			  err);
		free(out), free(err);
	}
	char *files = NULL;
	cr_assert_eq(jt_sh(dir, &files, NULL, "find . | LC_ALL=C sort; wc -c < .jianmo/jianmo.db"), 0);
	cr_expect_str_eq(files, ".\n./.jianmo\n./.jianmo/jianmo.db\n0\n");
	free(files);
	/* the same as with no .jianmo at all */
	char *err = NULL;
	cr_assert_eq(jt_sh(work, NULL, NULL, "mkdir n"), 0);
	char *n = jm_xasprintf("%s/n", work);
	cr_expect_eq(jt_jianmo(n, NULL, &err, "runs"), 2);
	cr_expect_str_eq(err, "jianmo: .jianmo/jianmo.db: no store here (use --home DIR or "
			      "JIANMO_HOME to name one)\n");
	free(err);
	cr_assert_eq(jt_sh(n, &files, NULL, "find . | LC_ALL=C sort"), 0);
	cr_expect_str_eq(files, ".\n");
	free(files), free(n), free(dir);
}

Test(cli_runs, a_failed_import_leaves_no_store_behind)
{
	cr_assert_eq(jt_sh(work, NULL, NULL, "mkdir f g && echo 'not a bundle' > f/junk.tar.gz && "
			   "mkdir g/.jianmo"), 0);
	char *f = jm_xasprintf("%s/f", work), *g = jm_xasprintf("%s/g", work);
	char *out = NULL, *err = NULL;
	cr_expect_eq(jt_jianmo(f, &out, &err, "import junk.tar.gz"), 2);
	cr_expect(strstr(err, "junk.tar.gz"), "%s", err);
	free(out), free(err);
	/* a nested --home: every folder it made goes again */
	cr_expect_eq(jt_jianmo(f, &out, &err, "--home a/b/c import junk.tar.gz"), 2);
	free(out), free(err);
	char *files = NULL;
	cr_assert_eq(jt_sh(f, &files, NULL, "find . | LC_ALL=C sort"), 0);
	cr_expect_str_eq(files, ".\n./junk.tar.gz\n");
	free(files);
	/* a home folder that was there stays, empty as it was */
	cr_expect_eq(jt_jianmo(g, &out, &err, "import ../f/junk.tar.gz"), 2);
	free(out), free(err);
	cr_assert_eq(jt_sh(g, &files, NULL, "find . | LC_ALL=C sort"), 0);
	cr_expect_str_eq(files, ".\n./.jianmo\n");
	free(files);
	/* an empty database file that was there is left empty */
	cr_assert_eq(jt_sh(g, NULL, NULL, ": > .jianmo/jianmo.db"), 0);
	cr_expect_eq(jt_jianmo(g, &out, &err, "import ../f/junk.tar.gz"), 2);
	free(out), free(err);
	cr_assert_eq(jt_sh(g, &files, NULL, "find . | LC_ALL=C sort; wc -c < .jianmo/jianmo.db"), 0);
	cr_expect_str_eq(files, ".\n./.jianmo\n./.jianmo/jianmo.db\n0\n");
	free(files);
	/* and a good bundle still makes the store */
	cr_assert_eq(jt_jianmo(work, &out, &err, "--home '%s' export 1 --bundle g/one.tar.gz", home),
		     0, "%s", err);
	free(out), free(err);
	cr_assert_eq(jt_jianmo(g, &out, &err, "import one.tar.gz"), 0, "%s", err);
	cr_expect_str_eq(out, "imported one.tar.gz as run 1\n");
	free(out), free(err);
	free(f), free(g);
}

Test(cli_runs, importing_a_bundle_again_says_so)
{
	char *out = NULL, *err = NULL;
	cr_assert_eq(jt_jianmo(work, &out, &err, "--home '%s' export 2 --bundle s.tar.gz", home), 0,
		     "%s", err);
	free(out), free(err);
	cr_assert_eq(jt_jianmo(work, &out, &err, "--home o import s.tar.gz"), 0, "%s", err);
	cr_expect_str_eq(err, "");
	free(out), free(err);
	cr_assert_eq(jt_jianmo(work, &out, &err, "--home o import s.tar.gz"), 0, "%s", err);
	cr_expect_str_eq(out, "imported s.tar.gz as run 4 (and 2 trials)\n");
	cr_expect_str_eq(err, "jianmo: note: run 2 from this bundle was already imported as run 1\n");
	free(out), free(err);
	cr_assert_eq(jt_jianmo(work, &out, NULL, "--home o runs --sort id"), 0);
	char *ids = first_column(out);
	cr_expect_str_eq(ids, "1,2,3,4,5,6", "imported again all the same");
	free(ids), free(out);
	/* into the store it came from */
	cr_assert_eq(jt_jianmo(work, &out, &err, "--home '%s' import s.tar.gz", home), 0, "%s", err);
	cr_expect_str_eq(err, "jianmo: note: run 2 from this bundle is already in this store as "
			      "run 2\n");
	free(out), free(err);
}

/* A run resumed once: 60 s in its first segment, 30 s in its second.  Its
 * start is the first one; its duration, 90 s, the same in every output. */
Test(cli_runs, a_resumed_run_counts_the_time_it_ran)
{
	jm_store *s = NULL;
	jm_err err = {0};
	char *h = other_store("resumed", &s);
	cr_assert_eq(add_run(s, "run", 0, "long.flow", 0), 1);
	cr_assert_eq(jm_store_run_set_status(s, 1, JM_RUN_STOPPED, NULL, &err), 0);
	double t0 = (double)time(NULL) - 1000;
	char *sql = jm_xasprintf("UPDATE runs SET started = %.1f, ended = %.1f WHERE id = 1", t0,
				 t0 + 60);
	cr_assert_eq(sqlite3_exec(jm_store_db(s), sql, NULL, NULL, NULL), SQLITE_OK);
	free(sql);
	cr_assert_eq(jm_store_run_reopen(s, 1, NULL, &err), 0, "%s", err.msg);
	cr_assert_eq(jm_store_run_set_status(s, 1, JM_RUN_DONE, NULL, &err), 0);
	cr_assert_eq(sqlite3_exec(jm_store_db(s), "UPDATE runs SET ended = resumed + 30", NULL, NULL,
				  NULL), SQLITE_OK);
	jm_store_close(s);
	char *out = NULL, *e = NULL;
	cr_assert_eq(jt_jianmo(work, &out, &e, "--home '%s' runs", h), 0, "%s", e);
	cr_expect(strstr(out, " 1m30s "), "%s", out);
	free(out), free(e);
	cr_assert_eq(jt_jianmo(work, &out, &e, "--home '%s' show 1", h), 0, "%s", e);
	cr_expect(strstr(out, "(took 1m30s)\n"), "%s", out);
	free(out), free(e);
	cr_assert_eq(jt_jianmo(work, &out, &e, "--home '%s' runs --filter 'duration > 89s and "
			       "duration < 91s' --csv", h), 0, "%s", e);
	cr_expect(strstr(out, "\r\n1,run,"), "%s", out);
	free(out), free(e);
	if (have_python()) {
		char *cmd = jm_xasprintf("--home '%s' runs --json", h);
		char *want = jm_xasprintf("%.1f 90.0\n", t0);
		char *got = json_query(cmd, PY_LOAD "print(float(d[0][\"started\"]), "
						    "round(float(d[0][\"duration\"]), 3))");
		cr_expect_str_eq(got, want);
		free(got), free(want), free(cmd);
		char *o = NULL;
		cr_assert_eq(jt_sh(work, &o, NULL, "'%s' --home '%s' runs --csv | python3 -c 'import "
				   "csv,sys; r=list(csv.DictReader(sys.stdin))[0]; "
				   "print(float(r[\"started\"]), round(float(r[\"duration\"]), 3))'",
				   jt_bin(), h), 0);
		want = jm_xasprintf("%.1f 90.0\n", t0);
		cr_expect_str_eq(o, want);
		free(o), free(want);
	}
	free(h);
}

/* Control characters in a name (a file called "new<LF>line.flow", or one
 * holding an escape sequence) neither split a row of `runs` nor reach the
 * terminal: the tables and `show` write them as \n or \xNN. */
Test(cli_runs, control_characters_in_names_are_written_escaped)
{
	jm_err err = {0};
	jm_store *s = NULL;
	cr_assert_eq(jm_store_open(&s, home, 0, &err), 0, "%s", err.msg);
	int64_t a = add_run(s, "run", 0, "new\nline.flow", 0), b = add_run(s, "run", 0,
									  "\033[31mred\t.flow", 0);
	jm_store_close(s);
	char *out, *e;
	cr_assert_eq(jt_jianmo(work, &out, &e, "--home '%s' runs --limit 2", home), 0, "%s", e);
	cr_expect_null(strchr(out, '\033'), "%s", out);
	cr_expect_null(strchr(out, '\t'), "%s", out);
	int lines = 0;
	for (const char *p = out; (p = strchr(p, '\n')); p++)
		lines++;
	cr_expect_eq(lines, 3, "a header and two rows:\n%s", out);
	cr_expect(strstr(out, "new\\nline.fl") && strstr(out, "\\x1b[31mred\\t"), "%s", out);
	free(out), free(e);
	cr_assert_eq(jt_jianmo(work, &out, &e, "--home '%s' show %lld", home, (long long)b), 0, "%s",
		     e);
	cr_expect(strstr(out, "  name      \\x1b[31mred\\t.flow\n"), "%s", out);
	cr_expect_null(strchr(out, '\033'), "%s", out);
	free(out), free(e);
	cr_assert_eq(jt_jianmo(work, &out, &e, "--home '%s' show %lld", home, (long long)a), 0, "%s",
		     e);
	cr_expect(strstr(out, "  name      new\\nline.flow\n"), "%s", out);
	free(out), free(e);
}

/* DURATION and AGE round the same way (down), so a run never shows having
 * run longer than it has existed. */
Test(cli_runs, durations_round_down_as_ages_do)
{
	char d[32], a[32];
	jm_fmt_duration(d, sizeof d, 6.6);
	jm_fmt_age(a, sizeof a, 6.9);
	cr_expect_str_eq(d, "6s");
	cr_expect_str_eq(a, "6s");
	jm_fmt_duration(d, sizeof d, 119.99);
	cr_expect_str_eq(d, "1m59s");
	jm_fmt_duration(d, sizeof d, -3);
	cr_expect_str_eq(d, "0s");
}
