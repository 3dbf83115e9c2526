/*
 * cli.h: subcommands.  main.c parses the global options (--home, --json,
 * --help, --version), then looks the subcommand up in the command table
 * (cli.c) and calls it with the remaining arguments (argv[0] is the
 * subcommand's name).  A subcommand returns the process exit status:
 * JM_EXIT_OK, JM_EXIT_FAIL (a run failed, I/O error) or JM_EXIT_INPUT
 * (usage or input error), and prints its own errors as "jianmo: ...".
 */
#ifndef JM_CLI_H
#define JM_CLI_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

typedef struct jm_cli {
	const char *home; /* --home DIR, or NULL for JIANMO_HOME / ./.jianmo */
	int json;         /* --json: machine-readable output */
	int is_tty;       /* stdout is a terminal */
} jm_cli;

typedef int (*jm_cmd_fn)(int argc, char **argv, const jm_cli *cli);

typedef struct jm_cmd {
	const char *name;
	jm_cmd_fn fn;
	const char *args;    /* usage after the name, e.g. "RUN [RUN...]" */
	const char *summary; /* one line for --help */
	const char *help;    /* the text of `jianmo help NAME` (options) */
} jm_cmd;

extern const jm_cmd jm_commands[];
const jm_cmd *jm_cmd_find(const char *name);

/* Print "jianmo: usage: jianmo NAME ARGS" and return JM_EXIT_INPUT. */
int jm_cmd_usage(const char *name);

/* Is arg an option, to a subcommand that takes run ids?  "-x", "--x" are;
 * "-" and "-1" are not: they are run ids, which the lookup refuses as
 * such ("-1" is not a run id).  A subcommand takes every argument after
 * "--" as it is. */
int jm_cli_is_option(const char *arg);

/* "--name VALUE" or "--name=VALUE" at argv[*i] (advancing *i past a
 * separate value); NULL when argv[*i] is not that option, and then
 * *missing is 1 when it is and has no value. */
const char *jm_cli_opt_value(int argc, char **argv, int *i, const char *name, int *missing);

/* The subcommands, one per file or family. */
int jm_cmd_help(int argc, char **argv, const jm_cli *cli);      /* cli.c */
int jm_cmd_home(int argc, char **argv, const jm_cli *cli);      /* cli_home.c */
int jm_cmd_batch(int argc, char **argv, const jm_cli *cli);     /* cli_batch.c */
int jm_cmd_doctor(int argc, char **argv, const jm_cli *cli);    /* cli_doctor.c */
int jm_cmd_runs(int argc, char **argv, const jm_cli *cli);      /* cli_runs.c */
int jm_cmd_show(int argc, char **argv, const jm_cli *cli);      /* cli_runs.c */
int jm_cmd_compare(int argc, char **argv, const jm_cli *cli);   /* cli_runs.c */
int jm_cmd_rm(int argc, char **argv, const jm_cli *cli);        /* cli_runs.c */
int jm_cmd_tag(int argc, char **argv, const jm_cli *cli);       /* cli_runs.c */
int jm_cmd_untag(int argc, char **argv, const jm_cli *cli);     /* cli_runs.c */
int jm_cmd_export(int argc, char **argv, const jm_cli *cli);    /* cli_bundle.c */
int jm_cmd_import(int argc, char **argv, const jm_cli *cli);    /* cli_bundle.c */
int jm_cmd_predict(int argc, char **argv, const jm_cli *cli);   /* cli_predict.c */
int jm_cmd_plugins(int argc, char **argv, const jm_cli *cli);   /* cli_plugins.c */

/* The runs ids[0..n) as `jianmo runs --json` prints them: one JSON array
 * on stdout, no newline after it (cli_runs.c), for the summary `jianmo
 * --json` prints with no subcommand. */
struct sqlite3;
int jm_runs_json_array(struct sqlite3 *db, const int64_t *ids, size_t n, struct jm_err *err);

/* `jianmo show` of a search run: the best trial and the table of trials
 * (cli_search.c); json: a ",\n  \"search\": {...}" member to go inside the
 * run's object.  Does nothing when the flow text does not parse. */
int jm_show_search(struct sqlite3 *db, int64_t search, const char *flow_text, int json,
		   struct jm_err *err);

#endif
