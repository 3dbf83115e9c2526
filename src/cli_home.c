/*
 * cli_home.c: `jianmo` with no subcommand, on its embedded default: the
 * store in the current directory and Fashion-MNIST from Debian's package.
 * On a terminal it opens the workbench (ui/ui.h); otherwise (a pipe, CI,
 * TERM=dumb, --json) it opens (creating) the store, says what is there,
 * lists recent runs and what to do next, so `jianmo` in a script never
 * waits for keys.  With --json all of that is one JSON object, so a
 * script can parse what it prints.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "cli.h"
#include "store/query.h"
#include "store/store.h"
#include "ui/ui.h"
#include "util/err.h"
#include "util/json.h"

#define FMNIST_DIR "/usr/share/datasets/fashion-mnist"
#define FMNIST_MISSING "install the Debian package dataset-fashion-mnist"
#define RECENT_RUNS 10 /* as many as the text lists */
#define STR(x) #x
#define XSTR(x) STR(x)

static const struct next_step {
	const char *command, *what;
} next_steps[] = {
	{"jianmo --batch examples/fmnist-mlp.flow", "train the MLP (about a minute)"},
	{"jianmo --batch examples/fmnist-cnn.flow", "train the CNN"},
	{"jianmo runs / show RUN / compare RUN RUN", "look at the results"},
	{"jianmo --help, man jianmo", "everything else"},
};

static void print_text(const char *home, int have_fmnist)
{
	printf("jianmo: store %s/jianmo.db\n", home);
	printf("data:   Fashion-MNIST %s\n",
	       have_fmnist ? "(" FMNIST_DIR ")" : "missing: " FMNIST_MISSING);
	printf("\nRecent runs:\n");
}

static void print_next_text(void)
{
	printf("\nNext:\n");
	for (size_t i = 0; i < sizeof next_steps / sizeof next_steps[0]; i++)
		printf("  %-42s %s\n", next_steps[i].command, next_steps[i].what);
}

/* {"store", "data", "recent_runs", "next"}: the same as the text, in one
 * object (the runs as `runs --json --limit 10` prints them).  The runs are
 * looked up before anything is printed, so a store that cannot be read
 * gives an error and no half object. */
static int print_json(jm_store *s, const char *home, int have_fmnist, jm_err *err)
{
	int64_t *ids = NULL;
	size_t n = 0;
	if (jm_query_run_ids(jm_store_db(s), NULL, NULL, RECENT_RUNS, &ids, &n, err) < 0)
		return -1;
	char *db = jm_xasprintf("%s/jianmo.db", home);
	fputs("{\"store\": ", stdout);
	jm_json_str(stdout, db);
	free(db);
	fputs(",\n \"data\": {\"name\": \"Fashion-MNIST\", \"dir\": ", stdout);
	jm_json_str(stdout, FMNIST_DIR);
	printf(", \"installed\": %s, \"note\": ", have_fmnist ? "true" : "false");
	jm_json_str(stdout, have_fmnist ? NULL : FMNIST_MISSING);
	fputs("},\n \"recent_runs\": ", stdout);
	int rc = jm_runs_json_array(jm_store_db(s), ids, n, err);
	free(ids);
	if (rc < 0)
		return -1;
	fputs(",\n \"next\": [", stdout);
	for (size_t i = 0; i < sizeof next_steps / sizeof next_steps[0]; i++) {
		fputs(i ? ",\n  {\"command\": " : "\n  {\"command\": ", stdout);
		jm_json_str(stdout, next_steps[i].command);
		fputs(", \"what\": ", stdout);
		jm_json_str(stdout, next_steps[i].what);
		fputs("}", stdout);
	}
	fputs("\n ]}\n", stdout);
	return 0;
}

int jm_cmd_home(int argc, char **argv, const jm_cli *cli)
{
	(void)argc, (void)argv;
	jm_err err = {0};
	if (!cli->json && jm_ui_available()) {
		int rc = jm_ui_run(cli->home, &err);
		if (rc != JM_EXIT_OK && err.msg[0])
			jm_err_print(&err);
		return rc;
	}
	char *home = jm_store_home_resolve(cli->home);
	jm_store *s = NULL;
	if (jm_store_open(&s, home, 0, &err) < 0) {
		jm_err_print(&err);
		free(home);
		return err.code;
	}
	struct stat st;
	int have_fmnist = stat(FMNIST_DIR "/train-images-idx3-ubyte.gz", &st) == 0;
	int rc = JM_EXIT_OK;
	if (cli->json) {
		if (print_json(s, home, have_fmnist, &err) < 0) {
			jm_err_print(&err);
			rc = err.code ? err.code : JM_EXIT_FAIL;
		}
		jm_store_close(s);
	} else {
		jm_store_close(s);
		print_text(home, have_fmnist);
		char *args[] = {"runs", "--limit", XSTR(RECENT_RUNS), NULL};
		rc = jm_cmd_runs(3, args, cli);
		print_next_text();
	}
	free(home);
	return rc;
}
