/*
 * main.c: global options, then one of
 *   jianmo --batch FLOW [...]     run a workflow headless (cli_batch.c)
 *   jianmo SUBCOMMAND [...]       see the command table in cli.c
 *   jianmo                        the workbench home (the store at hand)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "config.h"
#include "plugin/plugin.h"
#include "util/err.h"

static void print_version(void)
{
	printf("jianmo %s\n", PACKAGE_VERSION);
}

static void print_help(void)
{
	printf("usage: jianmo [--home DIR] [--json] SUBCOMMAND [ARGS...]\n"
	       "       jianmo [--home DIR] --batch FLOW [--set SECTION.KEY=VALUE...]\n"
	       "              [--seed N] [--device cpu|cuda[:N]|auto] [--json]\n"
	       "       jianmo [--home DIR] --batch --rerun RUN | --resume RUN\n"
	       "\n"
	       "jianmo (建模) is a terminal workbench for modeling workflows: data,\n"
	       "training, search and comparison of runs, kept in a SQLite store.\n"
	       "With no subcommand on a terminal it opens the workbench (keys: ? on\n"
	       "every screen, and jianmo(1) WORKBENCH); elsewhere it prints a summary.\n"
	       "\n"
	       "Subcommands:\n");
	for (const jm_cmd *c = jm_commands; c->name; c++) {
		if (strlen(c->args) > 28) /* the summary under its column */
			printf("  %-9s %s\n  %-38s %s\n", c->name, c->args, "", c->summary);
		else
			printf("  %-9s %-28s %s\n", c->name, c->args, c->summary);
	}
	printf("\n"
	       "Global options:\n"
	       "  --home DIR   the store (default: $JIANMO_HOME, else ./.jianmo)\n"
	       "  --json       machine-readable output\n"
	       "  --help, -h   this help; `jianmo help SUBCOMMAND` for one command\n"
	       "  --version    print the version\n"
	       "\n"
	       "Exit status: 0 ok, 1 a run failed, 2 usage or input error.\n"
	       "See jianmo(1), jianmo-flow(5), jianmo-plugin(7).\n");
}

static int run(int argc, char **argv)
{
	jm_cli cli = {.is_tty = isatty(STDOUT_FILENO)};
	jm_plugins_warn_to(stderr); /* a refused plugin is a warning, never fatal */
	int i = 1;
	for (; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			print_help();
			return JM_EXIT_OK;
		} else if (!strcmp(a, "--version") || !strcmp(a, "-V")) {
			print_version();
			return JM_EXIT_OK;
		} else if (!strcmp(a, "--json")) {
			cli.json = 1;
		} else if (!strcmp(a, "--home")) {
			if (++i >= argc) {
				fprintf(stderr, "jianmo: --home needs a directory\n");
				return JM_EXIT_INPUT;
			}
			cli.home = argv[i];
		} else if (!strncmp(a, "--home=", 7)) {
			cli.home = a + 7;
		} else if (!strcmp(a, "--batch")) {
			/* the rest belongs to batch; argv[i] becomes its argv[0] */
			return jm_cmd_batch(argc - i, argv + i, &cli);
		} else if (a[0] == '-') {
			fprintf(stderr, "jianmo: unknown option \"%s\" (see jianmo --help)\n", a);
			return JM_EXIT_INPUT;
		} else {
			break;
		}
	}
	if (i == argc)
		return jm_cmd_home(0, NULL, &cli);
	const jm_cmd *cmd = jm_cmd_find(argv[i]);
	if (!cmd) {
		fprintf(stderr, "jianmo: unknown subcommand \"%s\" (see jianmo --help)\n", argv[i]);
		return JM_EXIT_INPUT;
	}
	return cmd->fn(argc - i, argv + i, &cli);
}

/* The process ends without running the libraries' exit code: OpenBLAS's
 * joins its threads, and under a tight address-space limit (ulimit -v) a
 * thread of its that could not map its GEMM buffer at load retries
 * forever (OpenBLAS issue 5289), so every command would hang at exit.
 * jianmo itself registers nothing to run at exit and closes what it
 * opens; the streams are flushed here.  Sanitizer builds return normally,
 * so LeakSanitizer still checks at exit. */
int main(int argc, char **argv)
{
	int rc = run(argc, argv);
#if defined(__SANITIZE_ADDRESS__)
	return rc;
#else
	fflush(NULL);
	_exit(rc);
#endif
}
