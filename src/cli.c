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
	{"export", jm_cmd_export, "RUN --bundle FILE.tar.gz [--force]", "write a run to a bundle",
	 "  --bundle FILE  the .tar.gz to write: an existing bundle (or empty file) is\n"
	 "                 replaced; never a path inside the store's home\n"
	 "  --force, -f    replace an existing FILE even if it is not a bundle\n"
	 "  --json         machine-readable output\n"},
	{"import", jm_cmd_import, "FILE.tar.gz", "add the runs in a bundle to the store",
	 "  --json         machine-readable output\n"},
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
