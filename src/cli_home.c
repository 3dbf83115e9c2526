/*
 * cli_home.c: `jianmo` with no subcommand, on its embedded default: the
 * store in the current directory and Fashion-MNIST from Debian's package.
 * On a terminal it opens the workbench (ui/ui.h); otherwise (a pipe, CI,
 * TERM=dumb, --json) it opens (creating) the store, says what is there,
 * lists recent runs and what to do next, so `jianmo` in a script never
 * waits for keys.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "cli.h"
#include "store/store.h"
#include "ui/ui.h"
#include "util/err.h"

#define FMNIST_DIR "/usr/share/datasets/fashion-mnist"

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
	jm_store_close(s);

	struct stat st;
	int have_fmnist = stat(FMNIST_DIR "/train-images-idx3-ubyte.gz", &st) == 0;
	printf("jianmo: store %s/jianmo.db\n", home);
	printf("data:   Fashion-MNIST %s\n",
	       have_fmnist ? "(" FMNIST_DIR ")"
			   : "missing: install the Debian package dataset-fashion-mnist");
	printf("\nRecent runs:\n");
	char *args[] = {"runs", "--limit", "10", NULL};
	int rc = jm_cmd_runs(3, args, cli);
	printf("\nNext:\n"
	       "  jianmo --batch examples/fmnist-mlp.flow    train the MLP (about a minute)\n"
	       "  jianmo --batch examples/fmnist-cnn.flow    train the CNN\n"
	       "  jianmo runs / show RUN / compare RUN RUN   look at the results\n"
	       "  jianmo --help, man jianmo                  everything else\n");
	free(home);
	return rc;
}
