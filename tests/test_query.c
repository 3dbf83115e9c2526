/*
 * test_query.c: the filter language and sort keys (store/query.c), run
 * against a real store holding six known runs:
 *
 *   id kind   status  name          seed device  params                          metrics (points)           tags
 *   1  run    done    fmnist-mlp    1    cpu     train.lr=0.001 model.type=mlp   val_acc .85 .91  loss .5 .3  best
 *                                                                                test_acc .90
 *   2  run    failed  fmnist-cnn    2    cuda:0  train.lr=1e-2 model.type=cnn    val_acc .80 .95 .93
 *                     (error "out of memory")    train.optimizer=adam            loss .2
 *   3  search done    search-a      3    cpu     train.lr=auto model.type=cnn    -
 *   4  trial  pruned  trial 1       4    cpu     train.lr=5e-4 (parent 3)        val_acc .5
 *   5  trial  done    it's "q"      5    cpu     train.lr=0.1 (parent 3)         val_acc .88
 *   6  run    running (no name)     6    (none)  -                               -
 *
 * Each valid expression is compiled, run, and the exact ids matched are
 * compared; each invalid one is checked for its column and message.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/metric_writer.h"
#include "store/query.h"
#include "store/store.h"
#include "testutil.h"

static char *home_dir;
static jm_store *store;

static int64_t make_run(const char *kind, int64_t parent, const char *name, uint64_t seed,
			const char *device, int64_t flow_id)
{
	jm_err err = {0};
	int64_t id = 0;
	jm_run_spec spec = {.kind = kind, .parent = parent, .flow_id = flow_id, .name = name,
			    .seed = seed, .device = device};
	cr_assert_eq(jm_store_run_create(store, &spec, &id, &err), 0, "%s", err.msg);
	return id;
}

static void set_param(int64_t run, const char *key, const char *value)
{
	jm_err err = {0};
	cr_assert_eq(jm_store_param_set(store, run, key, value, &err), 0, "%s", err.msg);
}

static void set_status(int64_t run, const char *status, const char *error)
{
	jm_err err = {0};
	cr_assert_eq(jm_store_run_set_status(store, run, status, error, &err), 0, "%s", err.msg);
}

static void log_points(jm_metric_writer *w, int64_t run, const char *key, int n,
		       const double *v)
{
	for (int i = 0; i < n; i++)
		cr_assert_eq(jm_metric_log(w, run, key, i, v[i]), 0);
}

static void setup(void)
{
	jm_err err = {0};
	home_dir = jt_tmpdir();
	cr_assert_eq(jm_store_open(&store, home_dir, 0, &err), 0, "%s", err.msg);
	int64_t flow = 0;
	cr_assert_eq(jm_store_flow_put(store, "fmnist.flow", "[model]\ntype = mlp\n", &flow, &err),
		     0, "%s", err.msg);
	cr_assert_eq(make_run("run", 0, "fmnist-mlp", 1, "cpu", flow), 1);
	cr_assert_eq(make_run("run", 0, "fmnist-cnn", 2, "cuda:0", 0), 2);
	cr_assert_eq(make_run("search", 0, "search-a", 3, "cpu", 0), 3);
	cr_assert_eq(make_run("trial", 3, "trial 1", 4, "cpu", 0), 4);
	cr_assert_eq(make_run("trial", 3, "it's \"q\"", 5, "cpu", 0), 5);
	cr_assert_eq(make_run("run", 0, NULL, 6, NULL, 0), 6);
	set_param(1, "train.lr", "0.001");
	set_param(1, "model.type", "mlp");
	set_param(2, "train.lr", "1e-2");
	set_param(2, "model.type", "cnn");
	set_param(2, "train.optimizer", "adam");
	set_param(3, "train.lr", "auto");
	set_param(3, "model.type", "cnn");
	set_param(4, "train.lr", "5e-4");
	set_param(5, "train.lr", "0.1");
	jm_metric_writer *w = NULL;
	cr_assert_eq(jm_metric_writer_open(&w, store, 0, 0, &err), 0, "%s", err.msg);
	log_points(w, 1, "val_acc", 2, (double[]){0.85, 0.91});
	log_points(w, 1, "loss", 2, (double[]){0.5, 0.3});
	log_points(w, 1, "test_acc", 1, (double[]){0.90});
	log_points(w, 2, "val_acc", 3, (double[]){0.80, 0.95, 0.93});
	log_points(w, 2, "loss", 1, (double[]){0.2});
	log_points(w, 4, "val_acc", 1, (double[]){0.5});
	log_points(w, 5, "val_acc", 1, (double[]){0.88});
	cr_assert_eq(jm_metric_writer_close(w, &err), 0, "%s", err.msg);
	cr_assert_eq(jm_store_tag_add(store, 1, "best", &err), 0, "%s", err.msg);
	set_status(1, JM_RUN_DONE, NULL);
	set_status(2, JM_RUN_FAILED, "out of memory");
	set_status(3, JM_RUN_DONE, NULL);
	set_status(4, JM_RUN_PRUNED, NULL);
	set_status(5, JM_RUN_DONE, NULL);
}

static void teardown(void)
{
	jm_store_close(store);
	store = NULL;
	jt_rm_rf(home_dir);
	free(home_dir);
}

/* The ids (comma-separated) a filter and sort select, in order; the filter
 * must compile. */
static char *select_ids(const char *filter, const char *sort)
{
	jm_err err = {0};
	jm_query *f = NULL, *s = NULL;
	cr_assert_eq(jm_query_compile(filter, &f, &err), 0, "filter '%s': %s", filter, err.msg);
	if (sort)
		cr_assert_eq(jm_query_compile_sort(sort, &s, &err), 0, "sort '%s': %s", sort,
			     err.msg);
	int64_t *ids = NULL;
	size_t n = 0;
	cr_assert_eq(jm_query_run_ids(jm_store_db(store), f, s, 0, &ids, &n, &err), 0,
		     "'%s': %s (sql: %s)", filter, err.msg, jm_query_sql(f));
	char *out = calloc(1, n * 24 + 1);
	for (size_t i = 0; i < n; i++)
		sprintf(out + strlen(out), "%s%lld", i ? "," : "", (long long)ids[i]);
	free(ids);
	jm_query_free(f);
	jm_query_free(s);
	return out;
}

/* Filter matches in ascending id order. */
static char *match(const char *filter)
{
	return select_ids(filter, "id");
}

#define expect_match(filter, want)                                                   \
	do {                                                                         \
		char *got_ = match(filter);                                          \
		cr_expect_str_eq(got_, want, "filter '%s': got %s, want %s", filter, \
				 got_, want);                                        \
		free(got_);                                                          \
	} while (0)

#define expect_sorted(sort, want)                                                    \
	do {                                                                         \
		char *got_ = select_ids("", sort);                                   \
		cr_expect_str_eq(got_, want, "sort '%s': got %s, want %s", sort,     \
				 got_, want);                                        \
		free(got_);                                                          \
	} while (0)

static int count_rows(const char *table)
{
	char sql[128];
	snprintf(sql, sizeof sql, "SELECT count(*) FROM %s", table);
	sqlite3_stmt *st = NULL;
	cr_assert_eq(sqlite3_prepare_v2(jm_store_db(store), sql, -1, &st, NULL), SQLITE_OK);
	cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
	int n = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return n;
}

TestSuite(query, .init = setup, .fini = teardown);

Test(query, run_fields_each_operator)
{
	expect_match("status = done", "1,3,5");
	expect_match("status == done", "1,3,5");
	expect_match("status != done", "2,4,6");
	expect_match("status <> done", "2,4,6");
	expect_match("id < 3", "1,2");
	expect_match("id <= 3", "1,2,3");
	expect_match("id > 4", "5,6");
	expect_match("id >= 4", "4,5,6");
	expect_match("kind = trial", "4,5");
	expect_match("parent = 3", "4,5");
	expect_match("parent = 0", "1,2,3,6");
	expect_match("seed >= 2 and seed < 5", "2,3,4");
	expect_match("seed > -2.5E+2", "1,2,3,4,5,6");
	expect_match("device = cuda:0", "2");
	expect_match("device = \"cuda:0\"", "2");
	expect_match("device = \"\"", "6");
	expect_match("error ~ \"*memory*\"", "2");
	expect_match("error != \"\"", "2");
	expect_match("name = \"\"", "6");
	/* flow: the file a run was started from, which its name holds (a
	 * trial's: its search's), not the first name its flow text was stored
	 * under ("fmnist.flow" here) */
	expect_match("flow = fmnist-mlp", "1");
	expect_match("flow = fmnist.flow", "");
	expect_match("flow = search-a", "3,4,5");
	expect_match("flow ~ 'fmnist*'", "1,2");
	expect_match("id ~ '[45]'", "4,5");
}

Test(query, times_and_durations)
{
	expect_match("started > 2000-01-01", "1,2,3,4,5,6");
	expect_match("started < '2000-01-01 12:30'", "");
	expect_match("created > 946684800", "1,2,3,4,5,6");
	expect_match("ended > 0", "1,2,3,4,5");
	expect_match("duration >= 0", "1,2,3,4,5,6");
	expect_match("duration < 1h", "1,2,3,4,5,6");
	expect_match("age < 90m", "1,2,3,4,5,6");
	expect_match("age > 1d", "");
	expect_match("age > 1.5w", "");
}

Test(query, metrics_last_and_summaries)
{
	expect_match("val_acc > 0.9", "1,2");
	expect_match("val_acc >= 0.91", "1,2");
	expect_match("val_acc < 0.9", "4,5");
	expect_match("val_acc <= 0.5", "4");
	expect_match("val_acc = 0.88", "5");
	expect_match("val_acc != 0.88", "1,2,4");
	expect_match("last(val_acc) = 0.93", "2");
	expect_match("max(val_acc) > 0.94", "2");
	expect_match("min(val_acc) <= 0.8", "2,4");
	expect_match("MAX(val_acc) > 0.94", "2");
	expect_match("count(val_acc) = 3", "2");
	expect_match("count(loss) >= 1", "1,2");
	expect_match("min(loss) < 0.25", "2");
	expect_match("test_acc > 0.5", "1");
	expect_match("val_acc > '0.9'", "1,2");
	expect_match("nosuchmetric > 0", "");
	expect_match("not nosuchmetric > 0", "1,2,3,4,5,6");
}

Test(query, params_numeric_and_text)
{
	/* numeric literal: numeric comparison, only for values that read as
	 * numbers ("auto" takes no part in < or >) */
	expect_match("train.lr < 1e-3", "4");
	expect_match("train.lr <= 1e-3", "1,4");
	expect_match("train.lr > 1E-3", "2,5");
	expect_match("train.lr >= 0.001", "1,2,5");
	expect_match("train.lr = 0.01", "2");
	expect_match("train.lr = 1e-2", "2");
	expect_match("train.lr != 0.001", "2,3,4,5");
	/* quoted or non-numeric literal: text */
	expect_match("train.lr = \"1e-2\"", "2");
	expect_match("train.lr = \"0.01\"", "");
	expect_match("train.lr = auto", "3");
	expect_match("model.type = cnn", "2,3");
	expect_match("model.type != cnn", "1");
	expect_match("model.type ~ 'c*'", "2,3");
	expect_match("model.type !~ 'c*'", "1");
	expect_match("model.type < n", "1,2,3");
	expect_match("train.optimizer = adam", "2");
	expect_match("param(train.lr) > 0.005", "2,5");
	expect_match("param(\"model.type\") = cnn", "2,3");
	expect_match("train.lr ~ '*'", "1,2,3,4,5");
	expect_match("not train.lr ~ '*'", "6");
}

Test(query, tags)
{
	expect_match("tag = best", "1");
	expect_match("tag != best", "2,3,4,5,6");
	expect_match("tag ~ 'b*'", "1");
	expect_match("tag !~ 'b*'", "2,3,4,5,6");
	expect_match("tag = worst", "");
}

Test(query, globs_and_bare_words)
{
	expect_match("name ~ \"fmnist*\"", "1,2");
	expect_match("name ~ fmnist-*", "1,2");
	expect_match("name ~ '*-[cm]?\?'", "1,2");
	expect_match("name ~ 'FMNIST*'", ""); /* GLOB is case-sensitive */
	expect_match("name !~ \"fmnist*\"", "3,4,5,6");
	expect_match("name ~ 'trial ?'", "4");
}

Test(query, precedence_not_and_parentheses)
{
	/* and binds tighter than or: failed or (done and search) */
	expect_match("status = failed or status = done and kind = search", "2,3");
	expect_match("(status = failed or status = done) and kind = search", "3");
	expect_match("kind = search and status = done or status = failed", "2,3");
	expect_match("not status = done", "2,4,6");
	expect_match("not not status = done", "1,3,5");
	expect_match("not (val_acc > 0.9)", "3,4,5,6");
	expect_match("not val_acc > 0.9 and kind = run", "6");
	expect_match("not (val_acc > 0.9 and kind = run)", "3,4,5,6");
	expect_match("((((status = pruned))))", "4");
	expect_match("status = done && !(tag = best)", "3,5");
	expect_match("status = pruned || status = failed", "2,4");
	expect_match("status = done AND kind = run", "1");
	expect_match("status = done Or status = failed", "1,2,3,5");
	expect_match("NOT status = running", "1,2,3,4,5");
	expect_match("", "1,2,3,4,5,6");
	expect_match("   ", "1,2,3,4,5,6");
	expect_match("status=done and val_acc>0.9", "1");
	expect_match("status\t=\ndone", "1,3,5");
}

Test(query, quoting_and_escapes)
{
	expect_match("name = 'it\\'s \"q\"'", "5");
	expect_match("name = \"it's \\\"q\\\"\"", "5");
	expect_match("name = 'trial 1'", "4");
	expect_match("name = \"a\\\\b\\n\\t\\r\"", "");
	expect_match("name = 'and'", "");
	expect_match("name = '模型' or name = fmnist-mlp", "1");
}

Test(query, sort_keys)
{
	expect_sorted("id", "1,2,3,4,5,6");
	expect_sorted("-id", "6,5,4,3,2,1");
	expect_sorted("+seed", "1,2,3,4,5,6");
	expect_sorted("", "6,5,4,3,2,1");
	/* metric last values, runs without it last (ties: newest first) */
	expect_sorted("val_acc", "4,5,1,2,6,3");
	expect_sorted("-val_acc", "2,1,5,4,6,3");
	expect_sorted("-max(val_acc)", "2,1,5,4,6,3");
	expect_sorted("count(val_acc), -id", "5,4,1,2,6,3");
	/* params: numbers numerically, then text, then none */
	expect_sorted("train.lr", "4,1,2,5,3,6");
	expect_sorted("-train.lr", "3,5,2,1,4,6");
	expect_sorted("status, -id", "5,3,1,2,4,6");
	expect_sorted("kind,name", "6,2,1,3,5,4");
}

Test(query, limit_and_binding_offset)
{
	jm_err err = {0};
	jm_query *f = NULL, *s = NULL;
	cr_assert_eq(jm_query_compile("status = done and val_acc > 0.5", &f, &err), 0);
	cr_assert_eq(jm_query_compile_sort("-val_acc", &s, &err), 0);
	int64_t *ids = NULL;
	size_t n = 0;
	cr_assert_eq(jm_query_run_ids(jm_store_db(store), f, s, 1, &ids, &n, &err), 0, "%s",
		     err.msg);
	cr_assert_eq(n, 1);
	cr_assert_eq(ids[0], 1);
	free(ids);
	/* the caller's own parameters before the clause's */
	char *sql = jm_xasprintf("SELECT count(*) FROM runs r WHERE r.id > ? AND %s", jm_query_sql(f));
	sqlite3_stmt *st = NULL;
	cr_assert_eq(sqlite3_prepare_v2(jm_store_db(store), sql, -1, &st, NULL), SQLITE_OK);
	sqlite3_bind_int(st, 1, 1);
	cr_assert_eq(jm_query_nparams(f), 3);
	cr_assert_eq(jm_query_bind(f, st, 2, &err), 0);
	cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
	cr_expect_eq(sqlite3_column_int(st, 0), 1); /* run 5 */
	sqlite3_finalize(st);
	free(sql);
	jm_query_free(f);
	jm_query_free(s);
}

/* ---- errors ----------------------------------------------------------- */

static void expect_error(enum jm_query_kind kind, const char *text, int column, const char *msg)
{
	jm_err err = {0};
	jm_query *q = (jm_query *)1;
	int col = -1;
	cr_assert_eq(jm_query_parse(text, kind, &q, &col, &err), -1, "'%s' compiled", text);
	cr_expect_null(q);
	cr_expect_eq(err.code, JM_EXIT_INPUT);
	cr_expect_eq(col, column, "'%s': column %d, want %d (%s)", text, col, column, err.msg);
	char want[1100];
	snprintf(want, sizeof want, "column %d: %s", column, msg);
	cr_expect_str_eq(err.msg, want, "'%s'", text);
}

Test(query, errors_point_at_the_column)
{
	enum jm_query_kind F = JM_QUERY_FILTER;
	expect_error(F, "train.lr <", 11, "expected a value after \"<\", got end of input");
	expect_error(F, "val_acc > 0.9 and lr <", 23, "expected a value after \"<\", got end of input");
	expect_error(F, "status = ", 10, "expected a value after \"=\", got end of input");
	expect_error(F, "status = and", 10, "expected a value after \"=\", got \"and\"");
	expect_error(F, "val_acc > 0.9 and", 18,
		     "expected a field, param or metric name, got end of input");
	expect_error(F, "(status = done", 15,
		     "expected \")\" to close \"(\" at column 1, got end of input");
	expect_error(F, "status = done)", 14, "unmatched \")\"");
	expect_error(F, "status done", 8,
		     "expected an operator (= != < <= > >= ~ !~) after \"status\", got \"done\"");
	expect_error(F, "status = done extra", 15,
		     "expected \"and\", \"or\" or the end of the expression, got \"extra\"");
	expect_error(F, "name = \"abc", 8, "unterminated string (no closing \")");
	expect_error(F, "name = 'abc\\", 8, "unterminated string (no closing ')");
	expect_error(F, "name = \"a\\qb\"", 10,
		     "unknown escape \"\\q\" in a string (use \\\\ \\\" \\' \\n \\t \\r)");
	expect_error(F, "seed > abc", 8, "seed: expected a number, got \"abc\"");
	expect_error(F, "val_acc > high", 11, "val_acc: expected a number, got \"high\"");
	expect_error(F, "max(val_acc) > 'x'", 16, "max(val_acc): expected a number, got \"x\"");
	expect_error(F, "started > yesterday", 11,
		     "started: expected a Unix time or a date (YYYY-MM-DD, YYYY-MM-DD HH:MM[:SS]), "
		     "got \"yesterday\"");
	expect_error(F, "started > 2024-13-01", 11,
		     "started: expected a Unix time or a date (YYYY-MM-DD, YYYY-MM-DD HH:MM[:SS]), "
		     "got \"2024-13-01\"");
	expect_error(F, "duration > 5x", 12,
		     "duration: expected seconds or a duration such as 90s, 5m, 2h, 1d, got \"5x\"");
	expect_error(F, "val_acc ~ 'x*'", 1, "val_acc: \"~\" matches text, and metrics are numbers");
	expect_error(F, "avg(val_acc) > 1", 1,
		     "unknown function \"avg\" (use last, min, max, count or param)");
	expect_error(F, "max(val_acc > 1", 13,
		     "expected \")\" to close \"max(\", got \">\"");
	expect_error(F, "max() > 1", 5, "expected a metric name, got \")\"");
	expect_error(F, "param('') = 1", 7, "expected a name, got an empty string");
	expect_error(F, "tag < x", 5, "tag: only = != ~ !~ apply to tags");
	expect_error(F, "'status' = done", 1,
		     "expected a field, param or metric name, got \"'status'\"");
	expect_error(F, "9lives = 1", 1, "expected a field, param or metric name, got \"9lives\"");
	expect_error(F, "status = done and (", 20,
		     "expected a field, param or metric name, got end of input");
	expect_error(F, "status = done and )", 19,
		     "expected a field, param or metric name, got \")\"");
	expect_error(F, "name = b = c", 10,
		     "expected \"and\", \"or\" or the end of the expression, got \"=\"");
	expect_error(F, "status = done\x01", 14, "unexpected character (byte 0x01)");
	/* columns count characters, not bytes */
	expect_error(F, "name = \"模型\" and 模 = 1", 17,
		     "expected a field, param or metric name, got \"模\"");
}

Test(query, limits)
{
	char msg[128];
	snprintf(msg, sizeof msg, "expression nested too deeply (at most %d levels)",
		 JM_QUERY_MAX_DEPTH);
	char deep[400] = "";
	for (int i = 0; i < 100; i++)
		strcat(deep, "(");
	expect_error(JM_QUERY_FILTER, deep, JM_QUERY_MAX_DEPTH + 1, msg);
	char nots[600] = "";
	for (int i = 0; i < 100; i++)
		strcat(nots, "not ");
	strcat(nots, "id = 1");
	expect_error(JM_QUERY_FILTER, nots, JM_QUERY_MAX_DEPTH * 4 + 1, msg);
	/* one level less is fine */
	char ok[400] = "";
	for (int i = 0; i < JM_QUERY_MAX_DEPTH - 1; i++)
		strcat(ok, "(");
	strcat(ok, "id = 2");
	for (int i = 0; i < JM_QUERY_MAX_DEPTH - 1; i++)
		strcat(ok, ")");
	expect_match(ok, "2");
	size_t cap = JM_QUERY_MAX_TERMS * 16 + 64;
	char *many = calloc(1, cap);
	for (int i = 0; i <= JM_QUERY_MAX_TERMS; i++)
		strcat(many, i ? " or id = 1" : "id = 1");
	jm_err err = {0};
	jm_query *q = NULL;
	cr_expect_eq(jm_query_compile(many, &q, &err), -1);
	cr_expect(strstr(err.msg, "too many comparisons (at most 256)"), "%s", err.msg);
	free(many);
	char *huge = malloc(JM_QUERY_MAX_LEN + 2);
	memset(huge, ' ', JM_QUERY_MAX_LEN + 1);
	huge[JM_QUERY_MAX_LEN + 1] = '\0';
	cr_expect_eq(jm_query_compile(huge, &q, &err), -1);
	cr_expect(strstr(err.msg, "expression too long"), "%s", err.msg);
	free(huge);
}

/* The deepest expressions the parser accepts must also get through SQLite's
 * own parser (whose stack is small). */
Test(query, deepest_accepted_nesting_runs)
{
	static const struct {
		const char *open, *close;
		int levels; /* each level costs this many of the 64 */
	} shapes[] = {
		{"not (id = 1 or ", ")", 2},
		{"(id = 2 and (id = 2 or ", "))", 2},
		{"(id = 1 or ", ")", 1},
		{"not ", "", 1},
		{"(not id = 9 and ", ")", 1},
	};
	for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++) {
		char expr[4096] = "";
		int n = (JM_QUERY_MAX_DEPTH - 2) / shapes[k].levels;
		for (int i = 0; i < n; i++)
			strcat(expr, shapes[k].open);
		strcat(expr, "id = 2");
		for (int i = 0; i < n; i++)
			strcat(expr, shapes[k].close);
		char *got = match(expr);
		cr_expect(strlen(got) > 0 || k == 0 || k == 3, "'%s'", expr);
		free(got);
	}
}

Test(query, sort_errors)
{
	enum jm_query_kind S = JM_QUERY_SORT;
	expect_error(S, "-", 2, "expected a field, param or metric name, got end of input");
	expect_error(S, "tag", 1, "cannot sort by tag");
	expect_error(S, "val_acc desc", 9,
		     "expected \",\" or the end of the sort keys, got \"desc\"");
	expect_error(S, "id,", 4, "expected a field, param or metric name, got end of input");
	expect_error(S, "id; drop", 3, "unexpected character \";\"");
}

/* ---- injection ---------------------------------------------------------- */

Test(query, injection_attempts_match_nothing_and_leave_tables)
{
	expect_match("status = \"x' OR 1=1 --\"", "");
	expect_match("status = 'x\" OR 1=1 --'", "");
	expect_match("name = \"'; DROP TABLE runs; --\"", "");
	expect_match("param(\"x' OR '1'='1\") = 1", "");
	expect_match("param(\"train.lr') OR 1=1 --\") > 0", "");
	expect_match("max(\"val_acc') OR 1=1 --\") > 0", "");
	expect_match("train.lr ~ \"*' OR '*\"", "");
	expect_error(JM_QUERY_FILTER, "train.lr; DROP TABLE runs", 9, "unexpected character \";\"");
	expect_error(JM_QUERY_FILTER, "train.lr = 1; DROP TABLE runs", 13,
		     "unexpected character \";\"");
	expect_error(JM_QUERY_FILTER, "status = done -- comment", 15,
		     "expected \"and\", \"or\" or the end of the expression, got \"--\"");
	expect_error(JM_QUERY_FILTER, "x'y = 1", 2, "unterminated string (no closing ')");

	/* no literal or key reaches the SQL text */
	jm_err err = {0};
	jm_query *q = NULL;
	cr_assert_eq(jm_query_compile("name = \"DROP\" and param('EVIL') = x and SNEAKY > 1", &q,
				      &err), 0, "%s", err.msg);
	cr_expect_null(strstr(jm_query_sql(q), "DROP"));
	cr_expect_null(strstr(jm_query_sql(q), "EVIL"));
	cr_expect_null(strstr(jm_query_sql(q), "SNEAKY"));
	jm_query_free(q);

	cr_expect_eq(count_rows("runs"), 6);
	cr_expect_eq(count_rows("params"), 9);
	cr_expect_eq(count_rows("metric_summary"), 7);
	cr_expect_eq(count_rows("tags"), 1);
}

Test(query, metric_direction_by_name)
{
	cr_expect_eq(jm_query_metric_maximize("val_acc"), 1);
	cr_expect_eq(jm_query_metric_maximize("test_accuracy"), 1);
	cr_expect_eq(jm_query_metric_maximize("AUC"), 1);
	cr_expect_eq(jm_query_metric_maximize("macro_f1"), 1);
	cr_expect_eq(jm_query_metric_maximize("loss"), 0);
	cr_expect_eq(jm_query_metric_maximize("val_loss"), 0);
	cr_expect_eq(jm_query_metric_maximize("rmse"), 0);
	cr_expect_eq(jm_query_metric_maximize("val_r2"), 1);
	cr_expect_eq(jm_query_metric_maximize("R2"), 1);
	cr_expect_eq(jm_query_metric_maximize("layer2"), 0);
	cr_expect_eq(jm_query_metric_maximize("samples_per_s"), 1);
}

Test(query, free_accepts_null)
{
	jm_query_free(NULL);
	cr_expect_eq(jm_query_nparams(NULL), 0);
}

/* The names no run has, so a typo need not read as "no runs". */
Test(query, names_no_run_has)
{
	jm_query *q = NULL;
	jm_err err = {0};
	char buf[256];
	cr_assert_eq(jm_query_compile("val_ac > 0.5 and val_acc > 0 and train.lrr < 1 and "
				      "max(val_ac) < 2 and status = done", &q, &err), 0, "%s", err.msg);
	cr_expect_eq(jm_query_unknown(q, jm_store_db(store), buf, sizeof buf), 2);
	cr_expect_str_eq(buf, "no run has a metric \"val_ac\"; no run has a param \"train.lrr\"");
	jm_query_free(q);
	cr_assert_eq(jm_query_compile_sort("-val_acc, loss", &q, &err), 0, "%s", err.msg);
	cr_expect_eq(jm_query_unknown(q, jm_store_db(store), buf, sizeof buf), 0);
	cr_expect_str_eq(buf, "");
	jm_query_free(q);
	cr_expect_eq(jm_query_unknown(NULL, jm_store_db(store), buf, sizeof buf), 0);
}
