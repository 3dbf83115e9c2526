/*
 * bench_search.c: jianmo's search on the black-box functions of
 * ../shared/peers/optuna_bench.py, same domains, same protocol, same JSON.
 *
 *   bench/bench_search [--seeds N] [--budget B] [--methods bayes,random]
 *                      [--functions branin,...] [--at100 K]
 *
 * For each method and function: N independent searches (seeds 0..N-1) of B
 * evaluations, minimising; one JSON line with the median over seeds of the
 * simple regret (best found - known optimum, floored at 0) after 10, 20,
 * 30 and B evaluations, and the median over seeds of the time per trial
 * (the whole search's wall time over B, as the peer measures it: propose,
 * objective, tell; the objective costs nothing).  Then, for bayes, K
 * searches per function carried on to 100 observations, and one JSON line
 * per function with the median time of the proposal made with exactly 100
 * observations told ("ms_at_100").
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pipeline/search/sampler.h"
#include "pipeline/search/space.h"

typedef double (*objective)(const jm_space *s, const double *x);

static double branin(const jm_space *s, const double *x)
{
	(void)s;
	double x1 = x[0], x2 = x[1];
	double t = x2 - 5.1 / (4 * M_PI * M_PI) * x1 * x1 + 5 / M_PI * x1 - 6;
	return t * t + 10 * (1 - 1 / (8 * M_PI)) * cos(x1) + 10;
}

static const double H_A[4][6] = {{10, 3, 17, 3.5, 1.7, 8}, {0.05, 10, 17, 0.1, 8, 14},
                                 {3, 3.5, 1.7, 10, 17, 8}, {17, 8, 0.05, 10, 0.1, 14}};
static const double H_P[4][6] = {{1312, 1696, 5569, 124, 8283, 5886},
                                 {2329, 4135, 8307, 3736, 1004, 9991},
                                 {2348, 1451, 3522, 2883, 3047, 6650},
                                 {4047, 8828, 8732, 5743, 1091, 381}};
static const double H_C[4] = {1.0, 1.2, 3.0, 3.2};

static double hartmann6(const jm_space *s, const double *x)
{
	(void)s;
	double f = 0;
	for (int i = 0; i < 4; i++) {
		double e = 0;
		for (int j = 0; j < 6; j++) {
			double d = x[j] - 1e-4 * H_P[i][j];
			e += H_A[i][j] * d * d;
		}
		f -= H_C[i] * exp(-e);
	}
	return f;
}

static double rosen4(const jm_space *s, const double *x)
{
	(void)s;
	double f = 0;
	for (int i = 0; i < 3; i++) {
		double a = x[i + 1] - x[i] * x[i], b = 1 - x[i];
		f += 100 * a * a + b * b;
	}
	return f;
}

static double ackley5(const jm_space *s, const double *x)
{
	(void)s;
	double sq = 0, cs = 0;
	for (int i = 0; i < 5; i++) {
		sq += x[i] * x[i];
		cs += cos(2 * M_PI * x[i]);
	}
	return -20 * exp(-0.2 * sqrt(sq / 5)) - exp(cs / 5) + 20 + M_E;
}

static double mixed(const jm_space *s, const double *x)
{
	static const double act[3] = {0.01, 0.0, 0.04}; /* relu, gelu, tanh */
	double lr = x[0], batch = s->p[1].numbers[(int)x[1]], dropout = x[2], layers = x[3];
	double a = log10(lr) - log10(3e-3);
	double err = 0.05 + 0.08 * a * a;
	err += 0.02 * fabs(log2(batch / 128)) + 0.3 * (dropout - 0.2) * (dropout - 0.2);
	return err + 0.015 * fabs(layers - 3) + act[(int)x[4]];
}

typedef struct function {
	const char *name;
	objective f;
	double optimum;
	int n;
	const char *specs[6];
} function;

static const function functions[] = {
	{"branin", branin, 0.397887, 2, {"uniform(-5, 10)", "uniform(0, 15)"}},
	{"hartmann6", hartmann6, -3.32237, 6,
	 {"uniform(0, 1)", "uniform(0, 1)", "uniform(0, 1)", "uniform(0, 1)", "uniform(0, 1)",
	  "uniform(0, 1)"}},
	{"rosen4", rosen4, 0.0, 4,
	 {"uniform(-2, 2)", "uniform(-2, 2)", "uniform(-2, 2)", "uniform(-2, 2)"}},
	{"ackley5", ackley5, 0.0, 5,
	 {"uniform(-32.768, 32.768)", "uniform(-32.768, 32.768)", "uniform(-32.768, 32.768)",
	  "uniform(-32.768, 32.768)", "uniform(-32.768, 32.768)"}},
	{"mixed", mixed, 0.05, 5,
	 {"loguniform(1e-5, 1e-1)", "choice(32, 64, 128, 256)", "uniform(0.0, 0.5)", "int(1, 4)",
	  "choice(relu, gelu, tanh)"}},
};
#define NFUNC (int)(sizeof functions / sizeof functions[0])

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static jm_space *space_for(const function *fn)
{
	jm_space *s = jm_space_new();
	static const char *const mixed_names[] = {"lr", "batch", "dropout", "layers", "act"};
	for (int i = 0; i < fn->n; i++) {
		char name[16];
		snprintf(name, sizeof name, "x%d", i + 1);
		jm_err err = {0};
		if (jm_space_add(s, fn->f == mixed ? mixed_names[i] : name, fn->specs[i], NULL, &err) < 0) {
			jm_err_print(&err);
			exit(1);
		}
	}
	return s;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof *v, cmp_double);
	return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* One search: best-so-far values into best[0..budget), wall time per
 * trial into *ms, and the time of the proposal made with `timed_at`
 * observations into *ms_at (when timed_at < budget). */
static void run_one(const function *fn, jm_search_method m, uint64_t seed, int budget,
                    double *best, double *ms, int timed_at, double *ms_at)
{
	jm_space *s = space_for(fn);
	jm_err err = {0};
	jm_search *se = jm_search_new(s, m, seed, &err);
	if (!se) {
		jm_err_print(&err);
		exit(1);
	}
	double x[8], b = HUGE_VAL, start = now_ms();
	for (int t = 0; t < budget; t++) {
		double t0 = now_ms();
		int rc = jm_search_propose(se, NULL, 0, x, &err);
		if (t == timed_at)
			*ms_at = now_ms() - t0;
		if (rc != 0) {
			fprintf(stderr, "bench_search: %s: propose failed (%d): %s\n", fn->name, rc, err.msg);
			exit(1);
		}
		double v = fn->f(s, x);
		if (v < b)
			b = v;
		best[t] = b;
		jm_search_tell(se, x, v, JM_TRIAL_COMPLETE, &err);
	}
	double total = now_ms() - start;
	*ms = total / budget;
	jm_search_free(se);
	jm_space_free(s);
}

static int listed(const char *list, const char *name)
{
	if (!list)
		return 1;
	size_t n = strlen(name);
	for (const char *p = list; (p = strstr(p, name)); p += n)
		if ((p == list || p[-1] == ',') && (p[n] == ',' || !p[n]))
			return 1;
	return 0;
}

int main(int argc, char **argv)
{
	int seeds = 20, budget = 50, at100 = 5;
	const char *methods = "bayes,random", *funcs = NULL;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--seeds") && i + 1 < argc)
			seeds = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--budget") && i + 1 < argc)
			budget = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--methods") && i + 1 < argc)
			methods = argv[++i];
		else if (!strcmp(argv[i], "--functions") && i + 1 < argc)
			funcs = argv[++i];
		else if (!strcmp(argv[i], "--at100") && i + 1 < argc)
			at100 = atoi(argv[++i]);
		else {
			fprintf(stderr, "usage: bench_search [--seeds N] [--budget B] [--methods bayes,random] "
			                "[--functions branin,hartmann6,rosen4,ackley5,mixed] [--at100 K]\n");
			return 2;
		}
	}
	if (seeds < 1 || budget < 1) {
		fprintf(stderr, "bench_search: --seeds and --budget must be >= 1\n");
		return 2;
	}
	int ck[4], nck = 0;
	for (int c = 10; c <= 30; c += 10)
		if (c < budget)
			ck[nck++] = c;
	ck[nck++] = budget;

	double *best = malloc((size_t)(budget > 101 ? budget : 101) * sizeof *best);
	double *reg = malloc((size_t)seeds * 4 * sizeof *reg), *ms = malloc((size_t)seeds * sizeof *ms);
	static const jm_search_method ms_list[] = {JM_SEARCH_BAYES, JM_SEARCH_RANDOM};
	for (int mi = 0; mi < 2; mi++) {
		jm_search_method m = ms_list[mi];
		if (!listed(methods, jm_search_method_name(m)))
			continue;
		for (int f = 0; f < NFUNC; f++) {
			const function *fn = &functions[f];
			if (!listed(funcs, fn->name))
				continue;
			for (int sd = 0; sd < seeds; sd++) {
				double unused;
				run_one(fn, m, (uint64_t)sd, budget, best, &ms[sd], -1, &unused);
				for (int c = 0; c < nck; c++) {
					double r = best[ck[c] - 1] - fn->optimum;
					reg[c * seeds + sd] = r > 0 ? r : 0;
				}
			}
			printf("{\"peer\": \"jianmo-%s\", \"function\": \"%s\", \"seeds\": %d, \"budget\": %d, "
			       "\"evals\": [",
			       jm_search_method_name(m), fn->name, seeds, budget);
			for (int c = 0; c < nck; c++)
				printf("%s%d", c ? ", " : "", ck[c]);
			printf("], \"median_regret\": [");
			for (int c = 0; c < nck; c++)
				printf("%s%.6g", c ? ", " : "", median(reg + c * seeds, seeds));
			printf("], \"ms_per_trial\": %.2f}\n", median(ms, seeds));
			fflush(stdout);
		}
	}
	if (at100 > 0 && listed(methods, "bayes")) {
		double *t100 = malloc((size_t)at100 * sizeof *t100);
		double all[NFUNC * 64];
		int nall = 0;
		for (int f = 0; f < NFUNC; f++) {
			const function *fn = &functions[f];
			if (!listed(funcs, fn->name))
				continue;
			for (int sd = 0; sd < at100; sd++) {
				double unused;
				run_one(fn, JM_SEARCH_BAYES, (uint64_t)sd, 101, best, &unused, 100, &t100[sd]);
				if (nall < NFUNC * 64)
					all[nall++] = t100[sd];
			}
			printf("{\"peer\": \"jianmo-bayes\", \"function\": \"%s\", \"seeds\": %d, "
			       "\"observations\": 100, \"ms_at_100\": %.2f}\n",
			       fn->name, at100, median(t100, at100));
			fflush(stdout);
		}
		if (nall)
			printf("{\"peer\": \"jianmo-bayes\", \"function\": \"all\", \"searches\": %d, "
			       "\"observations\": 100, \"ms_at_100\": %.2f}\n",
			       nall, median(all, nall));
		free(t100);
	}
	free(ms);
	free(reg);
	free(best);
	return 0;
}
