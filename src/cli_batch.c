/*
 * cli_batch.c: `jianmo --batch FLOW [options]`, `--rerun RUN`, `--resume
 * RUN`: parse the options and hand over to the runner.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "pipeline/runner.h"
#include "util/err.h"

static int usage(const char *why, const char *what)
{
	fprintf(stderr, "jianmo: --batch: %s%s%s%s\n", why, what ? " \"" : "",
		what ? what : "", what ? "\"" : "");
	fprintf(stderr, "usage: jianmo --batch FLOW [--set SECTION.KEY=VALUE...] [--seed N]\n"
			"                [--device cpu|cuda[:N]|auto] [--json]\n"
			"       jianmo --batch --rerun RUN | --resume RUN\n");
	return JM_EXIT_INPUT;
}

/* "--opt VALUE" or "--opt=VALUE"; advances *i past a separate value. */
static const char *opt_value(int argc, char **argv, int *i, const char *name, int *missing)
{
	size_t n = strlen(name);
	const char *a = argv[*i];
	*missing = 0;
	if (strncmp(a, name, n))
		return NULL;
	if (a[n] == '=')
		return a + n + 1;
	if (a[n] != '\0')
		return NULL;
	if (*i + 1 >= argc) {
		*missing = 1;
		return NULL;
	}
	return argv[++*i];
}

int jm_cmd_batch(int argc, char **argv, const jm_cli *cli)
{
	jm_batch_opts o = {.home = cli->home, .json = cli->json, .is_tty = cli->is_tty};
	const char **sets = calloc((size_t)argc + 1, sizeof *sets);
	int rc = JM_EXIT_INPUT;
	if (!sets)
		return JM_EXIT_FAIL;
	o.sets = sets;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v;
		int missing;
		if ((v = opt_value(argc, argv, &i, "--set", &missing)) || missing) {
			if (missing || !strchr(v, '=')) {
				rc = usage("--set needs SECTION.KEY=VALUE", missing ? NULL : v);
				goto out;
			}
			sets[o.n_sets++] = v;
		} else if ((v = opt_value(argc, argv, &i, "--seed", &missing)) || missing) {
			char *end;
			if (missing || !*v) {
				rc = usage("--seed needs a number", NULL);
				goto out;
			}
			/* the range [train] seed has (flow.c): past it strtoll says
			 * ERANGE, and taking its clamped value would be another seed */
			errno = 0;
			long long s = strtoll(v, &end, 10);
			if (*end || s < 0 || errno) {
				rc = usage("--seed: expected an integer in [0, 9223372036854775807], got",
					   v);
				goto out;
			}
			o.has_seed = 1;
			o.seed = s;
		} else if ((v = opt_value(argc, argv, &i, "--device", &missing)) || missing) {
			if (missing) {
				rc = usage("--device needs cpu, cuda, cuda:N or auto", NULL);
				goto out;
			}
			o.device = v;
		} else if ((v = opt_value(argc, argv, &i, "--rerun", &missing)) || missing) {
			if (missing) {
				rc = usage("--rerun needs a run id", NULL);
				goto out;
			}
			o.rerun = v;
		} else if ((v = opt_value(argc, argv, &i, "--resume", &missing)) || missing) {
			if (missing) {
				rc = usage("--resume needs a run id", NULL);
				goto out;
			}
			o.resume = v;
		} else if ((v = opt_value(argc, argv, &i, "--trial", &missing)) || missing) {
			/* a search starts its queued trials this way */
			if (missing) {
				rc = usage("--trial needs a run id", NULL);
				goto out;
			}
			o.trial = v;
		} else if ((v = opt_value(argc, argv, &i, "--home", &missing)) || missing) {
			if (missing) {
				rc = usage("--home needs a directory", NULL);
				goto out;
			}
			o.home = v;
		} else if (!strcmp(a, "--json")) {
			o.json = 1;
		} else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			char *help_argv[] = {"help", "batch", NULL};
			rc = jm_cmd_help(2, help_argv, cli);
			goto out;
		} else if (a[0] == '-' && a[1]) {
			rc = usage("unknown option", a);
			goto out;
		} else if (!o.flow_path) {
			o.flow_path = a;
		} else {
			rc = usage("more than one flow file:", a);
			goto out;
		}
	}
	int sources = !!o.flow_path + !!o.rerun + !!o.resume + !!o.trial;
	if (sources != 1) {
		rc = usage(sources ? "give only one of FLOW, --rerun RUN and --resume RUN"
				   : "no flow file given", NULL);
		goto out;
	}
	if ((o.resume || o.trial) && (o.n_sets || o.has_seed)) {
		rc = usage("--resume continues a run as it was: --set and --seed do not apply", NULL);
		goto out;
	}
	rc = jm_runner_batch(&o);
out:
	free(sets);
	return rc;
}
