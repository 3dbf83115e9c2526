/*
 * cli_doctor.c: `jianmo doctor`, what jianmo will compute on and how fast:
 * the OpenBLAS core, the threads a run will use (and a warning for an
 * OPENBLAS_NUM_THREADS OpenBLAS cannot read), a measured sgemm rate, the
 * CUDA module's state, and the store.
 */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cli.h"
#include "config.h"
#include "engine/backend.h"
#include "store/store.h"
#include "util/err.h"
#include "util/json.h"

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Best-of-several sgemm rate at n x n x n, in GFLOP/s. */
static double measure_sgemm(int n)
{
	size_t sz = (size_t)n * (size_t)n;
	float *a = malloc(sz * sizeof *a), *b = malloc(sz * sizeof *b),
	      *c = calloc(sz, sizeof *c);
	if (!a || !b || !c) {
		free(a), free(b), free(c);
		return 0.0;
	}
	for (size_t i = 0; i < sz; i++) {
		a[i] = (float)(i % 17) * 0.01f;
		b[i] = (float)(i % 13) * 0.02f;
	}
	double best = 1e30;
	for (int rep = 0; rep < 5; rep++) {
		double t0 = now_s();
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f,
			    a, n, b, n, 0.0f, c, n);
		double dt = now_s() - t0;
		if (dt < best)
			best = dt;
	}
	free(a), free(b), free(c);
	return 2.0 * n * (double)n * n / best * 1e-9;
}

/* 1 when OPENBLAS_NUM_THREADS is a whole number >= 1, as OpenBLAS reads it. */
static int threads_env_valid(const char *v)
{
	char *end;
	long n = strtol(v, &end, 10);
	return *v >= '0' && *v <= '9' && !*end && n >= 1;
}

int jm_cmd_doctor(int argc, char **argv, const jm_cli *cli)
{
	jm_cli local = *cli;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json"))
			local.json = 1;
		else
			return jm_cmd_usage("doctor");
	}
	cli = &local;
	const char *coretype = getenv("OPENBLAS_CORETYPE");
	const char *threads_env = getenv("OPENBLAS_NUM_THREADS");
	int threads = jm_blas_threads();
	int run_threads = jm_blas_run_threads();
	if (threads_env && !threads_env_valid(threads_env))
		fprintf(stderr, "jianmo: warning: OPENBLAS_NUM_THREADS=\"%s\" is not a number >= 1: "
				"OpenBLAS made it %d thread%s, and runs use %s\n",
			threads_env, threads, threads == 1 ? "" : "s", threads == 1 ? "it" : "them");
	double gflops = measure_sgemm(1024);
	double gflops1 = gflops;
	if (threads > 1) {
		jm_blas_set_threads(1);
		gflops1 = measure_sgemm(1024);
		jm_blas_set_threads(threads);
	}
	char *home = jm_store_home_resolve(cli->home);
	char db[4096];
	snprintf(db, sizeof db, "%s/jianmo.db", home);
	struct stat st;
	int have_store = stat(db, &st) == 0;
	char cuda[2048];
	jm_backend_cuda_describe(cuda, sizeof cuda);

	if (cli->json) {
		printf("{\"version\":");
		jm_json_str(stdout, PACKAGE_VERSION);
		printf(",\"blas\":{\"core\":");
		jm_json_str(stdout, jm_blas_corename());
		printf(",\"coretype_env\":");
		jm_json_str(stdout, coretype); /* null when unset */
		printf(",\"threads\":%d,\"run_threads\":%d,\"threads_env\":", threads, run_threads);
		jm_json_str(stdout, threads_env); /* null when unset */
		printf(",\"sgemm_gflops\":%.1f,\"sgemm_gflops_1thread\":%.1f},\"cuda\":", gflops,
		       gflops1);
		jm_json_str(stdout, cuda);
		printf(",\"store\":");
		jm_json_str(stdout, db);
		printf(",\"store_exists\":%s}\n", have_store ? "true" : "false");
	} else {
		printf("jianmo %s\n", PACKAGE_VERSION);
		printf("blas:    OpenBLAS, core %s%s%s%s\n", jm_blas_corename(),
		       coretype ? " (OPENBLAS_CORETYPE=" : "", coretype ? coretype : "",
		       coretype ? ")" : "");
		if (threads_env)
			printf("threads: runs use %d (OPENBLAS_NUM_THREADS=%s; a flow's [train] "
			       "threads overrides it)\n", run_threads, threads_env);
		else
			printf("threads: runs use %d (OPENBLAS_NUM_THREADS is unset; a flow's "
			       "[train] threads overrides it)\n", run_threads);
		printf("sgemm:   %.1f GFLOP/s on %d thread%s, %.1f on 1 (1024x1024x1024)\n",
		       gflops, threads, threads == 1 ? "" : "s", gflops1);
		printf("cuda:    %s\n", cuda);
		printf("store:   %s%s\n", db, have_store ? "" : " (not created yet)");
	}
	free(home);
	return JM_EXIT_OK;
}
