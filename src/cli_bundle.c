/*
 * cli_bundle.c: `jianmo export RUN --bundle FILE.tar.gz` and
 * `jianmo import FILE.tar.gz`, thin shells over store/bundle.c (which holds
 * the format and every safety check).
 *
 *   export: argv ──▶ store (must exist) ──jm_store_run_lookup──▶
 *           jm_bundle_export ──▶ "exported run 3 (and 2 trials) to FILE"
 *   import: argv ──▶ store (created if missing) ──jm_bundle_import──▶
 *           "imported FILE as run 7 (and 2 trials)"
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "store/bundle.h"
#include "store/store.h"
#include "util/err.h"
#include "util/json.h"

static int fail(jm_err *err)
{
	jm_err_print(err);
	return err->code ? err->code : JM_EXIT_FAIL;
}

static void report(const jm_cli *cli, int json, const char *verb, int64_t run, int n_runs,
		   const char *file)
{
	if (json || cli->json) {
		printf("{\"run\": %lld, \"runs\": %d, \"bundle\": ", (long long)run, n_runs);
		jm_json_write_str(stdout, file, JM_JSON_ESC_CTRL_U);
		printf("}\n");
		return;
	}
	int trials = n_runs - 1;
	if (!strcmp(verb, "exported"))
		printf("exported run %lld", (long long)run);
	else
		printf("imported %s as run %lld", file, (long long)run);
	if (trials > 0)
		printf(" (and %d trial%s)", trials, trials > 1 ? "s" : "");
	if (!strcmp(verb, "exported"))
		printf(" to %s", file);
	printf("\n");
}

int jm_cmd_export(int argc, char **argv, const jm_cli *cli)
{
	const char *ref = NULL, *file = NULL;
	int json = 0;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "--bundle")) {
			if (++i >= argc) {
				fprintf(stderr, "jianmo: export: --bundle needs a file name\n");
				return jm_cmd_usage("export");
			}
			file = argv[i];
		} else if (!strncmp(a, "--bundle=", 9)) {
			file = a + 9;
		} else if (!strcmp(a, "--json")) {
			json = 1;
		} else if (a[0] == '-' || ref) {
			fprintf(stderr, "jianmo: export: unexpected argument \"%s\"\n", a);
			return jm_cmd_usage("export");
		} else {
			ref = a;
		}
	}
	if (!ref || !file || !*file) {
		fprintf(stderr, "jianmo: export: %s\n",
			!ref ? "which run? (give its id)" : "where to? (--bundle FILE.tar.gz)");
		return jm_cmd_usage("export");
	}
	jm_err err = {0};
	jm_store *s = NULL;
	int64_t run;
	int n_runs = 0, rc = JM_EXIT_OK;
	if (jm_store_open(&s, cli->home, JM_STORE_NOCREATE, &err) < 0 ||
	    jm_store_run_lookup(s, ref, &run, &err) < 0 ||
	    jm_bundle_export(s, run, file, &n_runs, &err) < 0)
		rc = fail(&err);
	else
		report(cli, json, "exported", run, n_runs, file);
	jm_store_close(s);
	return rc;
}

int jm_cmd_import(int argc, char **argv, const jm_cli *cli)
{
	const char *file = NULL;
	int json = 0;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json")) {
			json = 1;
		} else if (argv[i][0] == '-' || file) {
			fprintf(stderr, "jianmo: import: unexpected argument \"%s\"\n", argv[i]);
			return jm_cmd_usage("import");
		} else {
			file = argv[i];
		}
	}
	if (!file)
		return jm_cmd_usage("import");
	if (access(file, R_OK) < 0) { /* before a store gets created for nothing */
		fprintf(stderr, "jianmo: %s: %s\n", file, strerror(errno));
		return JM_EXIT_INPUT;
	}
	jm_err err = {0};
	jm_store *s = NULL;
	int64_t run = 0;
	int n_runs = 0, rc = JM_EXIT_OK;
	if (jm_store_open(&s, cli->home, 0, &err) < 0 ||
	    jm_bundle_import(s, file, NULL, &run, &n_runs, &err) < 0)
		rc = fail(&err);
	else
		report(cli, json, "imported", run, n_runs, file);
	jm_store_close(s);
	return rc;
}
