/*
 * test_cli.c: the top of the command line through the real binary:
 * --help, --version, help SUBCOMMAND, unknown input (exit 2 with a
 * message), doctor (text and JSON), and `jianmo` with no subcommand.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

TestSuite(cli, .init = setup, .fini = teardown, .timeout = 60);

Test(cli, help_lists_every_subcommand)
{
	char *out, *err;
	cr_assert_eq(jt_jianmo(dir, &out, &err, "--help"), 0);
	const char *names[] = {"runs", "show", "compare", "rm", "tag", "untag", "export", "import",
			       "doctor", "help", "--batch"};
	for (size_t i = 0; i < sizeof names / sizeof *names; i++)
		cr_expect(strstr(out, names[i]), "--help lacks %s:\n%s", names[i], out);
	free(out), free(err);
	cr_assert_eq(jt_jianmo(dir, &out, &err, "help rm"), 0);
	cr_expect(strstr(out, "usage: jianmo rm"), "%s", out);
	cr_expect(strstr(out, "--yes"), "%s", out);
	free(out), free(err);
	cr_assert_eq(jt_jianmo(dir, &out, &err, "help batch"), 0);
	cr_expect(strstr(out, "--resume RUN"), "%s", out);
	free(out), free(err);
}

Test(cli, version)
{
	char *out, *err;
	cr_assert_eq(jt_jianmo(dir, &out, &err, "--version"), 0);
	cr_expect(!strncmp(out, "jianmo ", 7), "%s", out);
	free(out), free(err);
}

Test(cli, unknown_input_exits_2_with_a_message)
{
	const struct {
		const char *args, *msg;
	} cases[] = {
		{"frobnicate", "jianmo: unknown subcommand \"frobnicate\" (see jianmo --help)"},
		{"--frobnicate", "jianmo: unknown option \"--frobnicate\" (see jianmo --help)"},
		{"help frobnicate", "jianmo: unknown subcommand \"frobnicate\""},
		{"--home", "jianmo: --home needs a directory"},
		{"doctor extra", "jianmo: usage: jianmo doctor [--json]"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		char *out, *err;
		int rc = jt_jianmo(dir, &out, &err, "%s", cases[i].args);
		cr_expect_eq(rc, 2, "%s: exit %d", cases[i].args, rc);
		cr_expect(strstr(err, cases[i].msg), "%s: stderr: %s", cases[i].args, err);
		free(out), free(err);
	}
}

Test(cli, doctor_reports_blas_and_measures_sgemm)
{
	char *out, *err;
	cr_assert_eq(jt_jianmo(dir, &out, &err, "doctor"), 0, "%s", err);
	cr_expect(strstr(out, "blas:    OpenBLAS, core "), "%s", out);
	cr_expect(strstr(out, "GFLOP/s"), "%s", out);
	cr_expect(strstr(out, "cuda:"), "%s", out);
	free(out), free(err);
	/* JSON either way round, and the core as OpenBLAS names it */
	cr_assert_eq(jt_jianmo(dir, &out, &err, "doctor --json"), 0, "%s", err);
	cr_expect(out[0] == '{' && strstr(out, "\"sgemm_gflops\":"), "%s", out);
	cr_expect(strstr(out, "\"coretype_env\":"), "%s", out);
	double g = strtod(strstr(out, "\"sgemm_gflops\":") + 15, NULL);
	cr_expect(g > 0.5, "sgemm %g GFLOP/s", g);
	free(out), free(err);
	cr_assert_eq(jt_jianmo(dir, &out, &err, "--json doctor"), 0);
	cr_expect(out[0] == '{', "%s", out);
	free(out), free(err);
	/* the environment's core type is reported as set */
	cr_assert_eq(jt_sh(dir, &out, &err, "OPENBLAS_CORETYPE=Haswell '%s' --json doctor", jt_bin()), 0);
	cr_expect(strstr(out, "\"coretype_env\":\"Haswell\""), "%s", out);
	free(out), free(err);
}

Test(cli, home_creates_the_store_and_says_what_next)
{
	char *out, *err;
	cr_assert_eq(jt_jianmo(dir, &out, &err, "%s", ""), 0, "%s", err);
	cr_expect(strstr(out, "store .jianmo/jianmo.db") || strstr(out, "store ./.jianmo/jianmo.db"),
		  "%s", out);
	cr_expect(strstr(out, "jianmo --batch examples/fmnist-mlp.flow"), "%s", out);
	free(out), free(err);
	char path[4096];
	snprintf(path, sizeof path, "%s/.jianmo/jianmo.db", dir);
	cr_expect_eq(access(path, F_OK), 0, "no store created");
	/* --home and JIANMO_HOME pick another place */
	cr_assert_eq(jt_sh(dir, &out, &err, "JIANMO_HOME=elsewhere '%s'", jt_bin()), 0);
	snprintf(path, sizeof path, "%s/elsewhere/jianmo.db", dir);
	cr_expect_eq(access(path, F_OK), 0, "JIANMO_HOME not used: %s", out);
	free(out), free(err);
}

/* --seed takes what [train] seed takes: past 2^63 - 1 strtoll clamps, and
 * the clamped seed was taken silently as another seed. */
Test(cli, seed_past_int64_is_refused_with_the_range)
{
	char *out, *err;
	free(jt_write(dir, "x.flow", "[train]\nepochs = 1\n"));
	int rc = jt_jianmo(dir, &out, &err, "--batch x.flow --seed 18446744073709551615");
	cr_expect_eq(rc, 2, "exit %d: %s", rc, err);
	cr_expect(strstr(err, "jianmo: --batch: --seed: expected an integer in [0, "
			      "9223372036854775807], got \"18446744073709551615\""),
		  "%s", err);
	free(out), free(err);
	rc = jt_jianmo(dir, &out, &err, "--batch x.flow --seed=-3");
	cr_expect_eq(rc, 2);
	cr_expect(strstr(err, "expected an integer in [0, 9223372036854775807], got \"-3\""), "%s", err);
	free(out), free(err);
}

/* The threads doctor says a run uses, and the threads a run reports: the
 * same, whatever OPENBLAS_NUM_THREADS holds; a value OpenBLAS cannot read
 * is warned about. */
static int run_threads_of(const char *env)
{
	char *out = NULL, *err = NULL;
	int rc = jt_sh(dir, &out, &err, "%s '%s' --home h --batch t.flow", env, jt_bin());
	cr_assert_eq(rc, 0, "%s: %s", env, err);
	const char *p = strstr(out, "thread");
	cr_assert(p, "%s", out);
	while (p > out && p[-1] == ' ')
		p--;
	while (p > out && p[-1] >= '0' && p[-1] <= '9')
		p--;
	int n = atoi(p);
	free(out), free(err);
	return n;
}

static int doctor_threads_of(const char *env, char **err)
{
	char *out = NULL;
	cr_assert_eq(jt_sh(dir, &out, err, "%s '%s' doctor", env, jt_bin()), 0);
	const char *p = strstr(out, "threads: runs use ");
	cr_assert(p, "%s", out);
	int n = atoi(p + 18);
	free(out);
	return n;
}

Test(cli, doctor_says_the_threads_a_run_uses)
{
	char csv[4096] = "a,b,y\n";
	for (int i = 0; i < 60; i++)
		snprintf(csv + strlen(csv), sizeof csv - strlen(csv), "%d,%d,%s\n", i, 60 - i,
			 i % 2 ? "odd" : "even");
	free(jt_write(dir, "t.csv", csv));
	free(jt_write(dir, "t.flow", "[data]\nsource = t.csv\ntarget = y\n[train]\nepochs = 1\n"
					 "batch = 8\n"));
	static const char *const envs[] = {"env -u OPENBLAS_NUM_THREADS", "OPENBLAS_NUM_THREADS=2",
					   "OPENBLAS_NUM_THREADS=1", "OPENBLAS_NUM_THREADS=abc"};
	for (size_t i = 0; i < sizeof envs / sizeof *envs; i++) {
		char *err = NULL;
		int doc = doctor_threads_of(envs[i], &err), run = run_threads_of(envs[i]);
		cr_expect_eq(doc, run, "%s: doctor says %d, the run used %d", envs[i], doc, run);
		int bad = strstr(envs[i], "abc") != NULL;
		cr_expect_eq(strstr(err, "OPENBLAS_NUM_THREADS=\"abc\" is not a number >= 1") != NULL,
			     bad, "%s: stderr: %s", envs[i], err);
		free(err);
	}
	char *out = NULL;
	cr_assert_eq(jt_sh(dir, &out, NULL, "env -u OPENBLAS_NUM_THREADS '%s' doctor --json",
			   jt_bin()), 0);
	cr_expect(strstr(out, "\"run_threads\":1,\"threads_env\":null"), "%s", out);
	free(out);
	cr_assert_eq(jt_sh(dir, &out, NULL, "OPENBLAS_NUM_THREADS=2 '%s' doctor --json", jt_bin()), 0);
	cr_expect(strstr(out, "\"run_threads\":2,\"threads_env\":\"2\""), "%s", out);
	free(out);
}
