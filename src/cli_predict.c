/*
 * cli_predict.c: `jianmo predict RUN DATA [--out FILE] [--proba] ...`, the
 * options into a jm_predict_opts (pipeline/predict.h), which does the work.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "pipeline/predict.h"

static int parse_limit(const char *v, int64_t *out)
{
	char *end;
	long long n = strtoll(v, &end, 10);
	if (end == v || *end || n < 1)
		return -1;
	*out = n;
	return 0;
}

int jm_cmd_predict(int argc, char **argv, const jm_cli *cli)
{
	jm_predict_opts o = {
		.home = cli->home,
		.msg = stderr,
		.progress = isatty(STDERR_FILENO),
	};
	const char *pos[2] = {NULL, NULL};
	int npos = 0;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v;
		int missing = 0;
		if (!strcmp(a, "--proba")) {
			o.proba = 1;
		} else if ((v = jm_cli_opt_value(argc, argv, &i, "--out", &missing)) ||
			   (!missing && (v = jm_cli_opt_value(argc, argv, &i, "-o", &missing)))) {
			o.out = v;
		} else if (!missing && (v = jm_cli_opt_value(argc, argv, &i, "--labels", &missing))) {
			o.labels = v;
		} else if (!missing && (v = jm_cli_opt_value(argc, argv, &i, "--device", &missing))) {
			o.device = v;
		} else if (!missing && (v = jm_cli_opt_value(argc, argv, &i, "--limit", &missing))) {
			if (parse_limit(v, &o.limit) < 0) {
				fprintf(stderr, "jianmo: predict: --limit: expected a whole number >= 1, "
					"got \"%s\"\n", v);
				return JM_EXIT_INPUT;
			}
		} else if (missing) {
			fprintf(stderr, "jianmo: predict: %s needs a value\n", a);
			return JM_EXIT_INPUT;
		} else if (a[0] == '-' && a[1]) {
			fprintf(stderr, "jianmo: predict: unknown option \"%s\" (see jianmo help "
				"predict)\n", a);
			return JM_EXIT_INPUT;
		} else if (npos < 2) {
			pos[npos++] = a;
		} else {
			return jm_cmd_usage("predict");
		}
	}
	if (npos < 2)
		return jm_cmd_usage("predict");
	o.run = pos[0];
	o.data = pos[1];
	jm_err err = {0};
	if (jm_predict(&o, NULL, &err) < 0) {
		jm_err_print(&err);
		return err.code ? err.code : JM_EXIT_FAIL;
	}
	return JM_EXIT_OK;
}
