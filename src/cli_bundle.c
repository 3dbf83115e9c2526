/*
 * cli_bundle.c: `jianmo export RUN --bundle FILE.tar.gz` and
 * `jianmo import FILE.tar.gz`, thin shells over store/bundle.c (which holds
 * the format and the archive's safety checks).
 *
 *   export: argv ──▶ store (must exist) ──jm_store_run_lookup──▶
 *           bundle_dest (may FILE be replaced?) ──▶
 *           jm_bundle_export ──▶ "exported run 3 (and 2 trials) to FILE"
 *   import: argv ──▶ store (created if missing) ──jm_bundle_import_report──▶
 *           "imported FILE as run 7 (and 2 trials)", and a note when the
 *           store had the bundle's run already; a store the import made is
 *           removed again if the import fails
 */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "store/bundle.h"
#include "store/store.h"
#include "util/err.h"
#include "util/json.h"
#include "util/outpath.h"

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

/*
 * Where a bundle may go.  Export renames the finished archive over FILE, so
 * a slip of the keyboard would silently replace whatever FILE names: the
 * store's own database, a run's artifact, the user's flow.  So, before
 * anything is written:
 *
 *   - nothing inside the store's home, compared by device and inode along
 *     the real path of FILE's directory (or of FILE, when it exists), so
 *     symbolic links, ".." and bind mounts do not hide it;
 *   - no directories, devices or fifos, and FILE's directory must exist;
 *   - an existing, non-empty FILE must already be a bundle unless --force
 *     (an empty one, as mktemp makes, holds nothing to lose).
 *
 * A symbolic link at FILE is followed, as `>` would: the file it names is the
 * one checked and replaced, so *real is what jm_bundle_export gets.
 */

/* Is the regular file at real (user's name: file) a bundle?  Only its gzip
 * magic and first tar header are read: export always writes manifest.json
 * first. */
static int check_is_bundle(const char *file, const char *real, jm_err *err)
{
	/* O_NONBLOCK: should a fifo be swapped in since the stat, do not hang */
	int fd = open(real, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	struct stat st;
	unsigned char magic[2];
	if (fd < 0)
		return jm_err_set(err, JM_EXIT_INPUT, "%s: exists and cannot be read to check it "
				  "is a jianmo bundle (%s); use --force to replace it",
				  file, strerror(errno));
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    read(fd, magic, 2) != 2 || magic[0] != 0x1f || magic[1] != 0x8b) {
		close(fd);
		return jm_err_set(err, JM_EXIT_INPUT, "%s: exists and is not a jianmo bundle (not a "
				  "gzip file); use --force to replace it", file);
	}
	lseek(fd, 0, SEEK_SET);
	struct archive *ar = archive_read_new();
	struct archive_entry *e;
	int ok = 0;
	archive_read_support_filter_gzip(ar);
	archive_read_support_format_tar(ar);
	if (archive_read_open_fd(ar, fd, 16384) == ARCHIVE_OK &&
	    archive_read_next_header(ar, &e) == ARCHIVE_OK) {
		const char *name = archive_entry_pathname(e);
		ok = name && (!strcmp(name, "manifest.json") || !strcmp(name, "./manifest.json"));
	}
	archive_read_free(ar);
	close(fd);
	if (!ok)
		return jm_err_set(err, JM_EXIT_INPUT, "%s: exists and is not a jianmo bundle (a "
				  "gzip file, but not a tar with manifest.json first); use --force "
				  "to replace it", file);
	return 0;
}

/* Check that file may become a bundle of the store at home; on success
 * *real (malloc'd) is the path to write. */
static int bundle_dest(const char *file, const char *home, int force, char **real,
		       jm_err *err)
{
	jm_outpath o;
	*real = NULL;
	if (jm_outpath_resolve(&o, file, NULL, home, "a bundle", err) < 0)
		return -1;
	*real = o.real;
	int exists = o.exists;
	struct stat st = o.st;
	if (exists && S_ISDIR(st.st_mode)) {
		jm_err_set(err, JM_EXIT_INPUT, "%s: is a directory; give the bundle a file name, "
			   "such as %s%srun.tar.gz", file, file,
			   file[strlen(file) - 1] == '/' ? "" : "/");
		goto fail;
	}
	if (exists && !S_ISREG(st.st_mode)) {
		jm_err_set(err, JM_EXIT_INPUT, "%s: not a regular file (a bundle is written beside "
			   "it and renamed over it)", file);
		goto fail;
	}
	if (exists && st.st_size > 0 && !force && check_is_bundle(file, *real, err) < 0)
		goto fail;
	return 0;
fail:
	free(*real);
	*real = NULL;
	return -1;
}

int jm_cmd_export(int argc, char **argv, const jm_cli *cli)
{
	const char *ref = NULL, *file = NULL;
	int json = 0, force = 0, ended = 0;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!ended && !strcmp(a, "--")) {
			ended = 1;
		} else if (ended || !jm_cli_is_option(a)) {
			if (ref) {
				fprintf(stderr, "jianmo: export: unexpected argument \"%s\"\n", a);
				return jm_cmd_usage("export");
			}
			ref = a;
		} else if (!strcmp(a, "--force") || !strcmp(a, "-f")) {
			force = 1;
		} else if (!strcmp(a, "--bundle")) {
			if (++i >= argc) {
				fprintf(stderr, "jianmo: export: --bundle needs a file name\n");
				return jm_cmd_usage("export");
			}
			file = argv[i];
		} else if (!strncmp(a, "--bundle=", 9)) {
			file = a + 9;
		} else if (!strcmp(a, "--json")) {
			json = 1;
		} else {
			fprintf(stderr, "jianmo: export: unexpected argument \"%s\"\n", a);
			return jm_cmd_usage("export");
		}
	}
	if (!ref || !file || !*file) {
		fprintf(stderr, "jianmo: export: %s\n",
			!ref ? "which run? (give its id)" : "where to? (--bundle FILE.tar.gz)");
		return jm_cmd_usage("export");
	}
	jm_err err = {0};
	jm_store *s = NULL;
	char *real = NULL;
	int64_t run;
	int n_runs = 0, rc = JM_EXIT_OK;
	if (jm_store_open(&s, cli->home, JM_STORE_NOCREATE, &err) < 0 ||
	    jm_store_run_lookup(s, ref, &run, &err) < 0 ||
	    bundle_dest(file, jm_store_home(s), force, &real, &err) < 0 ||
	    jm_bundle_export(s, run, real, &n_runs, &err) < 0)
		rc = fail(&err);
	else
		report(cli, json, "exported", run, n_runs, file);
	free(real);
	jm_store_close(s);
	return rc;
}

int jm_cmd_import(int argc, char **argv, const jm_cli *cli)
{
	const char *file = NULL;
	int json = 0, ended = 0;
	for (int i = 1; i < argc; i++) {
		if (!ended && !strcmp(argv[i], "--")) {
			ended = 1;
		} else if (!ended && !strcmp(argv[i], "--json")) {
			json = 1;
		} else if ((!ended && argv[i][0] == '-' && argv[i][1]) || file) {
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
	jm_bundle_report r;
	int rc = JM_EXIT_OK;
	if (jm_store_open(&s, cli->home, 0, &err) < 0 ||
	    jm_bundle_import_report(s, file, NULL, &r, &err) < 0) {
		rc = fail(&err);
		/* the store is unchanged: one made for this import goes again */
		jm_store_close_discard(s);
		return rc;
	}
	report(cli, json, "imported", r.run, r.n_runs, file);
	if (r.earlier) {
		char which[32] = "the run";
		if (r.bundle_run)
			snprintf(which, sizeof which, "run %lld", (long long)r.bundle_run);
		fprintf(stderr, "jianmo: note: %s from this bundle %s run %lld\n", which,
			r.earlier_imported ? "was already imported as" : "is already in this store as",
			(long long)r.earlier);
	}
	jm_store_close(s);
	return rc;
}
