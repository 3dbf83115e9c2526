/* cli.c: the command table and `jianmo help`. */
#include "cli.h"

#include <stdio.h>
#include <string.h>

#include "util/err.h"

const jm_cmd jm_commands[] = {
	{"runs", jm_cmd_runs, "[--filter EXPR] [--sort KEY] [--limit N] [--json|--csv]",
	 "list runs",
	 "  --filter EXPR  keep runs matching EXPR, e.g. 'status = done and val_acc > 0.9'\n"
	 "  --sort KEY     sort by run fields, params or metrics, comma-separated;\n"
	 "                 '-' for descending\n"
	 "  --limit N      show at most N runs\n"
	 "  --json, --csv  machine-readable output\n"},
	{"show", jm_cmd_show, "RUN", "one run: flow, params, metrics, artifacts; a search's trials",
	 "  --json         machine-readable output\n"},
	{"compare", jm_cmd_compare, "RUN RUN...", "runs side by side, differing params marked",
	 "  --json         machine-readable output\n"},
	{"rm", jm_cmd_rm, "[--yes] RUN...", "delete runs and their folders",
	 "  --yes, -y      do not ask (required when stdin is not a terminal)\n"},
	{"tag", jm_cmd_tag, "RUN TAG...", "add tags to a run (find them with --filter 'tag = TAG')",
	 "  --json         machine-readable output\n"
	 "A tag is 1 to 64 bytes, without spaces or control characters.  All the\n"
	 "tags go on, or (on any error) none.\n"},
	{"untag", jm_cmd_untag, "RUN TAG...", "remove tags from a run",
	 "  --json         machine-readable output\n"
	 "Each tag must be on the run; on any error none is removed.\n"},
	{"export", jm_cmd_export, "RUN --bundle FILE.tar.gz [--force]", "write a run to a bundle",
	 "  --bundle FILE  the .tar.gz to write: an existing bundle (or empty file) is\n"
	 "                 replaced; never a path inside the store's home\n"
	 "  --force, -f    replace an existing FILE even if it is not a bundle\n"
	 "  --json         machine-readable output\n"},
	{"import", jm_cmd_import, "FILE.tar.gz", "add the runs in a bundle to the store",
	 "  --json         machine-readable output\n"},
	{"predict", jm_cmd_predict, "RUN DATA [--out FILE] [--proba] [--labels FILE] [--limit N] [--device DEV]",
	 "apply a run's model to new rows (a CSV) or images (IDX)",
	 "  --out FILE     write the CSV (row,prediction) to FILE (default: stdout)\n"
	 "  --proba        add one p_CLASS column per class (classification)\n"
	 "  --labels FILE  an IDX labels file for image DATA: print the accuracy\n"
	 "  --limit N      only the first N rows or images\n"
	 "  --device DEV   cpu, cuda[:N] or auto (default: the run's [train] device)\n"
	 "A CSV run applies its fitted [clean] and [features] to every row of DATA;\n"
	 "when DATA has the target column, the metrics are printed on stderr.\n"},
	{"doctor", jm_cmd_doctor, "[--json]", "report the compute setup (BLAS core, threads, GFLOP/s)",
	 "  --json         machine-readable output\n"},
	{"plugins", jm_cmd_plugins, "[--json]", "list operator plugins: loaded, refused, where looked",
	 "  --json         machine-readable output\n"
	 "Plugins are looked for in $JIANMO_PLUGIN_PATH, $XDG_DATA_HOME/jianmo/plugins\n"
	 "and the installed plugin directory; see jianmo-plugin(7).\n"},
	{"help", jm_cmd_help, "[SUBCOMMAND]", "help for a subcommand", ""},
	{NULL, NULL, NULL, NULL, NULL},
};

const jm_cmd *jm_cmd_find(const char *name)
{
	for (const jm_cmd *c = jm_commands; c->name; c++)
		if (!strcmp(c->name, name))
			return c;
	return NULL;
}

int jm_cli_is_option(const char *arg)
{
	return arg[0] == '-' && arg[1] && !(arg[1] >= '0' && arg[1] <= '9');
}

const char *jm_cli_opt_value(int argc, char **argv, int *i, const char *name, int *missing)
{
	size_t n = strlen(name);
	const char *a = argv[*i];
	*missing = 0;
	if (strncmp(a, name, n) || (a[n] != '=' && a[n] != '\0'))
		return NULL;
	if (a[n] == '=')
		return a + n + 1;
	if (*i + 1 >= argc) {
		*missing = 1;
		return NULL;
	}
	return argv[++*i];
}

int jm_cmd_usage(const char *name)
{
	const jm_cmd *c = jm_cmd_find(name);
	fprintf(stderr, "jianmo: usage: jianmo %s %s\n", name, c ? c->args : "");
	return JM_EXIT_INPUT;
}

int jm_cmd_help(int argc, char **argv, const jm_cli *cli)
{
	(void)cli;
	if (argc < 2) {
		printf("usage: jianmo help SUBCOMMAND\n\nSubcommands:");
		for (const jm_cmd *c = jm_commands; c->name; c++)
			printf(" %s", c->name);
		printf(" batch\n");
		return JM_EXIT_OK;
	}
	if (!strcmp(argv[1], "batch")) {
		printf("usage: jianmo --batch FLOW [--set SECTION.KEY=VALUE...] [--seed N]\n"
		       "              [--device cpu|cuda[:N]|auto] [--json]\n"
		       "       jianmo --batch --rerun RUN\n"
		       "       jianmo --batch --resume RUN\n\n"
		       "Run a workflow file headless.  A flow with [search] trials > 0 is a\n"
		       "hyperparameter search: its trials run as child runs; --resume SEARCH\n"
		       "goes on with an interrupted one.  See jianmo-flow(5).\n");
		return JM_EXIT_OK;
	}
	const jm_cmd *c = jm_cmd_find(argv[1]);
	if (!c) {
		fprintf(stderr, "jianmo: unknown subcommand \"%s\" (see jianmo --help)\n", argv[1]);
		return JM_EXIT_INPUT;
	}
	printf("usage: jianmo %s %s\n\n%s.\n", c->name, c->args, c->summary);
	if (c->help && c->help[0])
		printf("\n%s", c->help);
	return JM_EXIT_OK;
}
