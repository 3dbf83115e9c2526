/*
 * bench_tabular.c: ../shared/peers/pandas_clean.py's recipe through
 * jianmo's tabular stages, timed per stage, with the same summary values.
 *
 *   read      jm_csv_read (memory-mapped file, all cores the reader wants)
 *   clean     missing = median: f1..f6; outliers = sigma 3 clip: amount
 *   features  rolling = amount window=7 by=user_id stats=mean,std;
 *             products = f1, f2, f3; onehot = category;
 *             standardize = f1..f6, amount
 *
 * The feature steps run in jianmo's stage order (rolling, products, one-hot,
 * then standardize in place), which computes what pandas' script computes:
 * pandas adds the z-scores as new columns and keeps the raw ones that the
 * rolling windows and products use.
 *
 * Usage: bench_tabular DATA.csv [THREADS]
 * Prints JSON lines in pandas_clean.py's format: one per stage, then the
 * summary values.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "data/csv.h"
#include "pipeline/clean.h"
#include "pipeline/features.h"
#include "util/json.h"

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* CPU seconds of the process so far (all threads, user + system): on a
 * shared machine this shows the work apart from the waiting. */
static double cpu(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
	       (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1e-6;
}

static int fail(const jm_err *err)
{
	jm_err_print(err);
	return err->code ? err->code : 1;
}

static double col_mean(const jm_frame *f, const char *name)
{
	const jm_col *c = jm_frame_col(f, name);
	if (!c)
		return NAN;
	double *x = malloc((size_t)f->nrows * sizeof *x);
	for (int64_t i = 0; i < f->nrows; i++)
		x[i] = jm_col_num(c, i);
	double m = jm_stat_mean(x, f->nrows, NULL);
	free(x);
	return m;
}

static void stage(const char *name, double secs, double cpu_s, int64_t rows, double mb)
{
	printf("{\"peer\": \"jianmo\", \"stage\": \"%s\", \"seconds\": %.4f, \"cpu_seconds\": %.4f, "
	       "\"rows_per_s\": %.0f", name, secs, cpu_s, (double)rows / secs);
	if (mb > 0)
		printf(", \"mb_per_s\": %.1f", mb / secs);
	printf("}\n");
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: bench_tabular DATA.csv [THREADS]\n");
		return 2;
	}
	static const char *const fcols[] = {"f1", "f2", "f3", "f4", "f5", "f6"};
	jm_err err = {0};
	jm_csv_opts o;
	jm_csv_opts_init(&o);
	o.threads = argc > 2 ? atoi(argv[2]) : 0;

	double t = now(), c = cpu();
	jm_frame *f = NULL;
	jm_csv_info info;
	if (jm_csv_read(argv[1], &o, NULL, &f, &info, &err) < 0)
		return fail(&err);
	double t_read = now() - t, c_read = cpu() - c;

	int64_t missing_before = 0;
	for (int k = 0; k < 6; k++)
		missing_before += jm_frame_col(f, fcols[k])->n_na;
	t = now();
	c = cpu();
	jm_clean clean;
	jm_clean_init(&clean);
	clean.skip_quality = 1;
	jm_clean_report rep;
	if (jm_clean_parse(&clean, "missing", "median: f1, f2, f3, f4, f5, f6", &err) < 0 ||
	    jm_clean_parse(&clean, "outliers", "sigma 3 clip: amount", &err) < 0 ||
	    jm_clean_fit_apply(&clean, f, &rep, &err) < 0)
		return fail(&err);
	double t_clean = now() - t, c_clean = cpu() - c;
	int64_t clipped = rep.steps[1].values_changed;
	double after_clean[7];
	for (int k = 0; k < 6; k++)
		after_clean[k] = col_mean(f, fcols[k]);
	after_clean[6] = col_mean(f, "amount");

	t = now();
	c = cpu();
	jm_features fs;
	jm_features_init(&fs);
	if (jm_features_parse(&fs, "standardize", "f1, f2, f3, f4, f5, f6, amount", &err) < 0 ||
	    jm_features_parse(&fs, "onehot", "category", &err) < 0 ||
	    jm_features_parse(&fs, "rolling", "amount window=7 by=user_id stats=mean,std", &err) < 0 ||
	    jm_features_parse(&fs, "products", "f1, f2, f3", &err) < 0 ||
	    jm_features_parse(&fs, "missing", "zero", &err) < 0 ||
	    jm_features_fit_apply(&fs, f, &err) < 0)
		return fail(&err);
	double t_features = now() - t, c_features = cpu() - c;

	int64_t rows = f->nrows;
	stage("read_csv", t_read, c_read, rows, (double)info.bytes / 1e6);
	stage("clean", t_clean, c_clean, rows, 0);
	stage("features", t_features, c_features, rows, 0);
	stage("total", t_read + t_clean + t_features, c_read + c_clean + c_features, rows, 0);

	/* f1*f2 was computed before f1 and f2 were standardized in place */
	const jm_col *games = jm_frame_col(f, "category_games");
	double games_sum = 0;
	for (int64_t i = 0; games && i < rows; i++)
		games_sum += games->v.b[i];
	printf("{\"rows\": %" PRId64 ", \"missing_filled\": %" PRId64 ", \"amount_clipped\": %" PRId64
	       ", \"means_after_clean\": {",
	       rows, missing_before, clipped);
	for (int k = 0; k < 7; k++) {
		printf("%s\"%s\": ", k ? ", " : "", k < 6 ? fcols[k] : "amount");
		jm_json_write_num(stdout, after_clean[k], 0);
	}
	printf("}, \"roll7_mean_mean\": ");
	jm_json_write_num(stdout, col_mean(f, "amount_roll7_mean"), 0);
	printf(", \"roll7_std_mean\": ");
	jm_json_write_num(stdout, col_mean(f, "amount_roll7_std"), 0);
	printf(", \"f1*f2_mean\": ");
	jm_json_write_num(stdout, col_mean(f, "f1*f2"), 0);
	printf(", \"onehot_games_sum\": ");
	jm_json_write_num(stdout, games_sum, 0);
	printf("}\n");

	jm_clean_report_clear(&rep);
	jm_clean_free(&clean);
	jm_features_free(&fs);
	jm_csv_info_clear(&info);
	jm_frame_free(f);
	return 0;
}
