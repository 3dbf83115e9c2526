/*
 * bundle_fuzz.c: libFuzzer target for run-bundle import (store/bundle.c),
 * the untrusted .tar.gz files that `jianmo import` reads.
 *
 *   byte 0 & 3 == 0: bytes 1.. are the bundle file as it is (tar.gz, tar,
 *                    junk): the archive reader and the member checks
 *   byte 0 & 3 != 0: bytes 1.. are manifest.json, wrapped here (libarchive,
 *                    in memory) into a tar.gz with the fixed members that
 *                    byte 0's other bits pick, so inputs reach the manifest
 *                    checks and the row inserts that raw bytes never do
 *      │
 *      ▼
 *   jm_bundle_import into one store (on tmpfs) kept for the whole run
 *      refused  ─▶ code 2, "BUNDLE: ..." words; every table's row count and
 *                  every file and folder under the work folder as before
 *      imported ─▶ n_runs new runs in one tree, none live, each with its
 *                  folder; every artifact file matches its row; no
 *                  .import-* left; the tree exports, and importing that
 *                  gives an equal tree; then both trees are deleted and the
 *                  store must be back to how it was set up
 *
 * Any other outcome aborts; ASan/UBSan catch memory errors and UB.  A
 * custom mutator puts manifest words (fuzz_words) into one input in four.
 * JIANMO_BUNDLE_FUZZ_SEEDS=DIR makes the binary write seed inputs (real
 * exported bundles and their manifests) into DIR and exit.  Build and run:
 * see fuzz/README.
 */
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "store/bundle.h"
#include "store/metric_writer.h"
#include "store/store.h"
#include "util/hash.h"
#include "util/strbuf.h"

/* Members the manifest mode can add, by bit of byte 0; the seeds' manifests
 * list them with these contents (so their sha256 is what the seeds say). */
static const struct fixed_member {
	unsigned bit;
	const char *name;
	const char *data; /* NULL: a folder entry */
} fixed_members[] = {
	{0x04, "artifacts/model.bin", "hello"},
	{0x08, "trials/1/artifacts/ckpt/w.bin", "weights\x01\x02"},
	{0x10, "artifacts/", NULL},
};
#define MANIFEST_LAST 0x20 /* manifest.json after the other members */

/* Small, so no input makes the fuzzer write much; big enough for the seeds. */
static const jm_bundle_limits fuzz_limits = {
	.member_max = 1024,
	.total_max = 8192,
	.manifest_max = 16384,
};

static struct fuzz_state {
	char *work;   /* /dev/shm/jianmo-bundle-fuzz-XXXXXX, the store at work/home */
	char *bundle; /* work/in.tar.gz: this input as a file */
	char *again;  /* work/again.tar.gz: an imported tree exported again */
	jm_store *s;
	int64_t base_run, base_flow; /* the largest ids the set-up store holds */
	char *base;   /* snapshot() of the set-up store */
	int verbose;  /* JIANMO_BUNDLE_FUZZ_VERBOSE: say what each input did */
} fz;

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("bundle_fuzz: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	abort();
}

/* ---- files ----------------------------------------------------------------- */

static void write_file(const char *path, const void *data, size_t n)
{
	FILE *f = fopen(path, "wb");
	if (!f || fwrite(data, 1, n, f) != n || fclose(f) != 0)
		die("cannot write %s: %s", path, strerror(errno));
}

static char *read_whole(const char *path, size_t *n)
{
	FILE *f = fopen(path, "rb");
	jm_buf b = JM_BUF_INIT;
	char chunk[4096];
	size_t got;
	if (!f)
		die("cannot read %s: %s", path, strerror(errno));
	while ((got = fread(chunk, 1, sizeof chunk, f)) > 0)
		jm_buf_add(&b, chunk, got);
	fclose(f);
	return jm_buf_detach(&b, n);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	remove(path);
	return 0;
}

static void remove_tree(const char *path)
{
	nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* ---- what must not change ------------------------------------------------ */

/* nftw has no user pointer: the listing being built */
static struct listing {
	size_t root_len;
	char **lines;
	size_t n, cap;
} walk;

static int list_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)flag, (void)ftw;
	const char *rel = path + walk.root_len;
	/* the database changes on every read (WAL); the inputs are rewritten
	 * by the harness itself */
	if (strstr(rel, "/home/jianmo.db") == rel || !strcmp(rel, "/in.tar.gz") ||
	    !strcmp(rel, "/again.tar.gz"))
		return 0;
	if (walk.n == walk.cap) {
		walk.cap = walk.cap ? 2 * walk.cap : 64;
		walk.lines = jm_xrealloc(walk.lines, walk.cap * sizeof *walk.lines);
	}
	if (S_ISDIR(st->st_mode))
		walk.lines[walk.n++] = jm_xasprintf("%s/", rel);
	else
		walk.lines[walk.n++] = jm_xasprintf("%s %c %lld", rel, S_ISREG(st->st_mode) ? 'f' : '?',
						    (long long)st->st_size);
	return 0;
}

static int cmp_lines(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every table's row count and every file and folder in the work folder
 * (so also anything written beside HOME), in one string. */
static char *snapshot(void)
{
	sqlite3 *db = jm_store_db(fz.s);
	sqlite3_stmt *st;
	jm_buf b = JM_BUF_INIT;
	if (sqlite3_prepare_v2(db, "SELECT (SELECT count(*) FROM runs), (SELECT count(*) FROM params), "
			       "(SELECT count(*) FROM metric_points), (SELECT count(*) FROM "
			       "metric_spans), (SELECT count(*) FROM metric_summary), (SELECT "
			       "count(*) FROM tags), (SELECT count(*) FROM artifacts), (SELECT "
			       "count(*) FROM flows), (SELECT max(id) FROM runs)",
			       -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW)
		die("counting rows: %s", sqlite3_errmsg(db));
	jm_buf_addstr(&b, "rows");
	for (int c = 0; c < sqlite3_column_count(st); c++)
		jm_buf_printf(&b, " %lld", (long long)sqlite3_column_int64(st, c));
	sqlite3_finalize(st);
	walk.root_len = strlen(fz.work);
	walk.n = 0;
	if (nftw(fz.work, list_entry, 16, FTW_PHYS) != 0)
		die("listing %s: %s", fz.work, strerror(errno));
	qsort(walk.lines, walk.n, sizeof *walk.lines, cmp_lines);
	for (size_t i = 0; i < walk.n; i++) {
		jm_buf_printf(&b, "\n%s", walk.lines[i]);
		free(walk.lines[i]);
	}
	return jm_buf_detach(&b, NULL);
}

/* ---- an imported tree ------------------------------------------------------ */

typedef struct tree {
	jm_buf text;  /* everything that must survive export + import */
	int64_t *ids; /* its runs, top first, depth first */
	size_t n, cap;
} tree;

/* Append the rows of sql (?1 bound to run) to b as SQLite prints them. */
static void add_rows(jm_buf *b, const char *sql, int64_t run)
{
	sqlite3 *db = jm_store_db(fz.s);
	sqlite3_stmt *st;
	int rc;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		die("%s: %s", sql, sqlite3_errmsg(db));
	sqlite3_bind_int64(st, 1, run);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		for (int c = 0; c < sqlite3_column_count(st); c++) {
			const char *v = (const char *)sqlite3_column_text(st, c);
			jm_buf_addstr(b, c ? "|" : "\n  ");
			jm_buf_addstr(b, v ? v : "NULL");
		}
	}
	if (rc != SQLITE_DONE)
		die("%s: %s", sql, sqlite3_errmsg(db));
	sqlite3_finalize(st);
}

/* The run's folder is there and each of its artifact files is under it
 * and holds what its row says. */
static void check_files(int64_t run)
{
	sqlite3 *db = jm_store_db(fz.s);
	sqlite3_stmt *st;
	char prefix[64];
	struct stat sb;
	int rc;
	snprintf(prefix, sizeof prefix, "runs/%lld/", (long long)run);
	char *dir = jm_xasprintf("%s/%s", jm_store_home(fz.s), prefix);
	if (stat(dir, &sb) < 0 || !S_ISDIR(sb.st_mode))
		die("imported run %lld has no folder %s", (long long)run, dir);
	free(dir);
	if (sqlite3_prepare_v2(db, "SELECT path, bytes, sha256 FROM artifacts WHERE run = ?", -1, &st,
			       NULL) != SQLITE_OK)
		die("artifacts: %s", sqlite3_errmsg(db));
	sqlite3_bind_int64(st, 1, run);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *path = (const char *)sqlite3_column_text(st, 0);
		const char *sha = (const char *)sqlite3_column_text(st, 2);
		int64_t bytes = sqlite3_column_int64(st, 1), got = -1;
		char hex[65];
		jm_err err = {0};
		if (strncmp(path, prefix, strlen(prefix)))
			die("run %lld: artifact path \"%s\" outside its folder", (long long)run, path);
		char *full = jm_xasprintf("%s/%s", jm_store_home(fz.s), path);
		if (lstat(full, &sb) < 0 || !S_ISREG(sb.st_mode) ||
		    jm_sha256_file(full, hex, &got, &err) < 0 || got != bytes || strcmp(hex, sha))
			die("run %lld: artifact %s does not match its row (%lld bytes, %s)",
			    (long long)run, full, (long long)bytes, sha);
		free(full);
	}
	if (rc != SQLITE_DONE)
		die("artifacts: %s", sqlite3_errmsg(db));
	sqlite3_finalize(st);
}

/* Describe run and its descendants into t, checking each as it goes. */
static void describe(tree *t, int64_t run, int depth)
{
	if (depth > 8)
		die("run %lld: runs nested deeper than a bundle allows", (long long)run);
	if (t->n == t->cap) {
		t->cap = t->cap ? 2 * t->cap : 16;
		t->ids = jm_xrealloc(t->ids, t->cap * sizeof *t->ids);
	}
	t->ids[t->n++] = run;
	size_t before = t->text.len;
	/* pid and host stay out: no imported run is anyone's to crash-check */
	add_rows(&t->text, "SELECT r.kind, r.parent IS NULL, r.name, r.status, r.seed, r.device, "
		 "r.host, quote(r.started), quote(r.ended), quote(r.created), r.error, f.name, "
		 "f.text, r.pid IS NULL AND r.proc_start IS NULL AND r.status NOT IN "
		 "('running', 'queued') FROM runs r LEFT JOIN flows f ON f.id = r.flow_id "
		 "WHERE r.id = ?1", run);
	if (t->text.len == before)
		die("run %lld is missing", (long long)run);
	if (strcmp(t->text.s + t->text.len - 2, "|1"))
		die("imported run %lld is live: %s", (long long)run, t->text.s + before);
	add_rows(&t->text, "SELECT key, value FROM params WHERE run = ?1 ORDER BY key", run);
	add_rows(&t->text, "SELECT tag FROM tags WHERE run = ?1 ORDER BY tag", run);
	add_rows(&t->text, "SELECT s.key, p.step, quote(p.value), quote(p.wall) FROM metric_spans s "
		 "JOIN metric_points p ON p.id BETWEEN s.first AND s.last WHERE s.run = ?1 "
		 "ORDER BY s.key, p.id", run);
	add_rows(&t->text, "SELECT key, quote(last), last_step, quote(min), quote(max), count "
		 "FROM metric_summary WHERE run = ?1 ORDER BY key", run);
	add_rows(&t->text, "SELECT name, substr(path, length('runs/' || ?1 || '/') + 1), bytes, "
		 "sha256, quote(created) FROM artifacts WHERE run = ?1 ORDER BY name", run);
	check_files(run);

	jm_buf kids = JM_BUF_INIT;
	add_rows(&kids, "SELECT id FROM runs WHERE parent = ?1 ORDER BY id", run);
	jm_buf_printf(&t->text, "\nchildren:");
	for (char *p = kids.s; p && *p;) {
		char *end;
		long long kid = strtoll(p + 3, &end, 10);
		describe(t, kid, depth + 1);
		p = end;
	}
	jm_buf_release(&kids);
	jm_buf_printf(&t->text, "\nend");
}

static void tree_free(tree *t)
{
	jm_buf_release(&t->text);
	free(t->ids);
}

/* Delete what imports added (rows, run folders, flows) so the next input
 * meets the store as it was set up. */
static void forget_imports(const tree *a, const tree *b)
{
	sqlite3 *db = jm_store_db(fz.s);
	char *sql = jm_xasprintf("DELETE FROM runs WHERE id > %lld; DELETE FROM flows WHERE id > %lld",
				 (long long)fz.base_run, (long long)fz.base_flow);
	if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
		die("%s: %s", sql, sqlite3_errmsg(db));
	free(sql);
	for (int k = 0; k < 2; k++) {
		const tree *t = k ? b : a;
		for (size_t i = 0; i < t->n; i++) {
			char *dir = jm_xasprintf("%s/runs/%lld", jm_store_home(fz.s),
						 (long long)t->ids[i]);
			remove_tree(dir);
			free(dir);
		}
	}
}

static void check_no_import_dirs(void)
{
	DIR *d = opendir(jm_store_home(fz.s));
	struct dirent *de;
	if (!d)
		die("%s: %s", jm_store_home(fz.s), strerror(errno));
	while ((de = readdir(d)))
		if (!strncmp(de->d_name, ".import-", 8))
			die("a temporary folder is left behind: %s", de->d_name);
	closedir(d);
}

/* An import that worked: check the tree, export it, import that, compare. */
static void check_imported(int64_t top, int n_runs)
{
	tree a = {JM_BUF_INIT, NULL, 0, 0}, b = {JM_BUF_INIT, NULL, 0, 0};
	jm_err err = {0};
	int64_t top2 = 0;
	int n_exported = 0, n2 = 0;
	if (top <= fz.base_run || n_runs < 1)
		die("import gave run %lld, %d runs", (long long)top, n_runs);
	check_no_import_dirs();
	describe(&a, top, 0);
	if (a.n != (size_t)n_runs)
		die("import says %d runs, the tree holds %zu", n_runs, a.n);
	if (jm_bundle_export(fz.s, top, fz.again, &n_exported, &err) < 0)
		die("the imported run %lld does not export: %s", (long long)top, err.msg);
	if (n_exported != n_runs)
		die("exported %d runs of %d", n_exported, n_runs);
	/* default limits: the manifest written here may be longer than the
	 * input's (layout, fields it left out) */
	if (jm_bundle_import(fz.s, fz.again, NULL, &top2, &n2, &err) < 0)
		die("an imported run, exported, does not import again: %s", err.msg);
	check_no_import_dirs();
	describe(&b, top2, 0);
	if (n2 != n_runs || strcmp(a.text.s, b.text.s))
		die("export + import changed the tree:\n--- imported\n%s\n--- again\n%s", a.text.s,
		    b.text.s);
	forget_imports(&a, &b);
	tree_free(&a);
	tree_free(&b);
	char *now = snapshot();
	if (strcmp(now, fz.base))
		die("deleting the imported runs left the store changed:\n--- set up\n%s\n--- now\n%s",
		    fz.base, now);
	free(now);
}

/* ---- set-up ---------------------------------------------------------------- */

static void must(int rc, const jm_err *err)
{
	if (rc < 0)
		die("%s", err->msg);
}

/* Write text to HOME/runs/<run>/<file> and record it as an artifact. */
static void add_artifact(jm_store *s, int64_t run, const char *name, const char *file,
			 const char *text)
{
	jm_err err = {0};
	char *rel = jm_xasprintf("runs/%lld/%s", (long long)run, file);
	char *full = jm_xasprintf("%s/%s", jm_store_home(s), rel);
	for (char *q = strchr(full + strlen(jm_store_home(s)) + 1, '/'); q; q = strchr(q + 1, '/')) {
		*q = '\0';
		mkdir(full, 0755);
		*q = '/';
	}
	write_file(full, text, strlen(text));
	must(jm_store_artifact_add(s, run, name, rel, &err), &err);
	free(full);
	free(rel);
}

static int64_t add_run(jm_store *s, const char *kind, int64_t parent, const char *name,
		       int64_t flow)
{
	jm_err err = {0};
	int64_t id;
	jm_run_spec spec = {.kind = kind, .parent = parent, .flow_id = flow, .name = name,
			    .seed = UINT64_C(18446744073709551557), .device = "cpu"};
	must(jm_store_run_create(s, &spec, &id, &err), &err);
	return id;
}

/* One finished run with a param, a tag, metric points, an artifact (the
 * fixed member "hello") and a flow: the set-up store, and a seed. */
static int64_t add_single_run(jm_store *s)
{
	jm_err err = {0};
	int64_t flow, run;
	jm_metric_writer *w;
	must(jm_store_flow_put(s, "base.flow", "[model]\ntype = \"mlp\"\n", &flow, &err), &err);
	run = add_run(s, "run", 0, "base", flow);
	must(jm_store_param_set(s, run, "train.lr", "1e-3", &err), &err);
	must(jm_store_tag_add(s, run, "best", &err), &err);
	must(jm_metric_writer_open(&w, s, 0, 0, &err), &err);
	for (int i = 0; i < 3; i++)
		jm_metric_log(w, run, "loss", i, 1.0 / (i + 1));
	must(jm_metric_writer_close(w, &err), &err);
	add_artifact(s, run, "model", "model.bin", "hello");
	must(jm_store_run_set_status(s, run, JM_RUN_DONE, NULL, &err), &err);
	return run;
}

/* A search with two trials: params, tags, NaN and infinite metric values,
 * artifacts in sub-folders, a flow, an error text (the fixed members). */
static int64_t add_search(jm_store *s)
{
	jm_err err = {0};
	int64_t flow;
	jm_metric_writer *w;
	must(jm_store_flow_put(s, "search.flow", "[search]\ntrials = 2\n# \xc3\xa9\n", &flow, &err),
	     &err);
	int64_t search = add_run(s, "search", 0, "search \"quoted\"", flow);
	int64_t t1 = add_run(s, "trial", search, "trial 1", flow);
	int64_t t2 = add_run(s, "trial", search, NULL, 0);
	must(jm_store_param_set(s, search, "model.type", "cnn", &err), &err);
	must(jm_store_param_set(s, t1, "train.lr", "0.01", &err), &err);
	must(jm_store_param_set(s, t2, "train.lr", "0.1", &err), &err);
	must(jm_store_tag_add(s, search, "paper", &err), &err);
	must(jm_metric_writer_open(&w, s, 0, 0, &err), &err);
	for (int i = 0; i < 4; i++)
		jm_metric_log(w, t1, "val_acc", i, 0.5 + i * 0.125);
	jm_metric_log(w, t1, "val_acc", 4, NAN);
	jm_metric_log(w, t2, "loss", 0, INFINITY);
	jm_metric_log(w, t2, "loss", 1, -INFINITY);
	jm_metric_log(w, search, "best_val_acc", 3, 0.875);
	must(jm_metric_writer_close(w, &err), &err);
	add_artifact(s, search, "model", "model.bin", "hello");
	add_artifact(s, t1, "weights", "ckpt/w.bin", "weights\x01\x02");
	must(jm_store_run_set_status(s, t1, JM_RUN_DONE, NULL, &err), &err);
	must(jm_store_run_set_status(s, t2, JM_RUN_PRUNED, "pruned at step 1", &err), &err);
	must(jm_store_run_set_status(s, search, JM_RUN_DONE, NULL, &err), &err);
	return search;
}

static void fuzz_cleanup(void)
{
	jm_store_close(fz.s);
	remove_tree(fz.work);
}

static void fuzz_setup(void)
{
	jm_err err = {0};
	char tmpl[] = "/dev/shm/jianmo-bundle-fuzz-XXXXXX";
	if (!mkdtemp(tmpl))
		die("mkdtemp: %s", strerror(errno));
	fz.work = jm_xstrdup(tmpl);
	fz.bundle = jm_xasprintf("%s/in.tar.gz", fz.work);
	fz.again = jm_xasprintf("%s/again.tar.gz", fz.work);
	char *home = jm_xasprintf("%s/home", fz.work);
	must(jm_store_open(&fz.s, home, 0, &err), &err);
	free(home);
	fz.base_run = add_single_run(fz.s);
	fz.base_flow = 1; /* add_single_run's flow, the store's first */
	fz.base = snapshot();
	atexit(fuzz_cleanup);
}

/* ---- seeds ----------------------------------------------------------------- */

/* The data of the first member of an archive named name ("" for the whole
 * stream decompressed). */
static char *archive_member(const char *path, const char *name, size_t *n)
{
	struct archive *ar = archive_read_new();
	struct archive_entry *e;
	jm_buf b = JM_BUF_INIT;
	archive_read_support_filter_gzip(ar);
	if (*name)
		archive_read_support_format_tar(ar);
	else
		archive_read_support_format_raw(ar);
	if (archive_read_open_filename(ar, path, 4096) != ARCHIVE_OK)
		die("%s: %s", path, archive_error_string(ar));
	while (archive_read_next_header(ar, &e) == ARCHIVE_OK) {
		if (*name && strcmp(archive_entry_pathname(e), name))
			continue;
		char chunk[4096];
		la_ssize_t got;
		while ((got = archive_read_data(ar, chunk, sizeof chunk)) > 0)
			jm_buf_add(&b, chunk, (size_t)got);
		break;
	}
	archive_read_free(ar);
	return jm_buf_detach(&b, n);
}

static void write_seed(const char *dir, const char *name, unsigned char mode, const char *data,
		       size_t n)
{
	char *path = jm_xasprintf("%s/%s", dir, name);
	char *buf = jm_xmalloc(n + 1);
	buf[0] = (char)mode;
	memcpy(buf + 1, data, n);
	write_file(path, buf, n + 1);
	free(buf);
	free(path);
}

static void write_seeds(const char *dir)
{
	jm_err err = {0};
	jm_store *s;
	char tmpl[] = "/tmp/jianmo-bundle-seeds-XXXXXX";
	if (!mkdtemp(tmpl))
		die("mkdtemp: %s", strerror(errno));
	must(jm_store_open(&s, tmpl, 0, &err), &err);
	int64_t single = add_single_run(s), search = add_search(s);
	static const struct {
		const char *stem;
		unsigned bits;
	} kinds[] = {{"single", 0x01 | 0x04 | 0x10}, {"search", 0x01 | 0x04 | 0x08}};
	for (int k = 0; k < 2; k++) {
		int64_t run = k ? search : single;
		char *file = jm_xasprintf("%s/%s.tar.gz", tmpl, kinds[k].stem), *name;
		size_t n;
		must(jm_bundle_export(s, run, file, NULL, &err), &err);
		char *data = read_whole(file, &n);
		name = jm_xasprintf("raw-%s.tar.gz", kinds[k].stem);
		write_seed(dir, name, 0, data, n);
		free(name), free(data);
		/* a plain tar too: mutated tar headers survive, gzip's CRC does not */
		data = archive_member(file, "", &n);
		name = jm_xasprintf("raw-%s.tar", kinds[k].stem);
		write_seed(dir, name, 0, data, n);
		free(name), free(data);
		data = archive_member(file, "manifest.json", &n);
		name = jm_xasprintf("manifest-%s", kinds[k].stem);
		write_seed(dir, name, (unsigned char)kinds[k].bits, data, n);
		free(name), free(data), free(file);
	}
	static const char minimal[] = "{\"format\": \"jianmo-bundle\", \"version\": 1, \"run\": "
				      "{\"kind\": \"run\", \"status\": \"running\"}}";
	write_seed(dir, "manifest-minimal", 0x01, minimal, strlen(minimal));
	jm_store_close(s);
	remove_tree(tmpl);
}

/* ---- one input ------------------------------------------------------------- */

static void add_member(struct archive *ar, const char *name, const void *data, size_t n,
		       int is_dir)
{
	struct archive_entry *e = archive_entry_new();
	archive_entry_set_pathname(e, name);
	archive_entry_set_filetype(e, is_dir ? AE_IFDIR : AE_IFREG);
	archive_entry_set_perm(e, is_dir ? 0755 : 0644);
	archive_entry_set_size(e, (la_int64_t)n);
	archive_entry_set_mtime(e, 1700000000, 0);
	if (archive_write_header(ar, e) != ARCHIVE_OK ||
	    (n && archive_write_data(ar, data, n) != (la_ssize_t)n))
		die("wrapping the manifest: %s", archive_error_string(ar));
	archive_entry_free(e);
}

/* The manifest text and the fixed members bits picks, as a tar.gz file. */
static void write_wrapped(unsigned bits, const uint8_t *manifest, size_t n)
{
	/* tar pads to 10 KiB blocks; gzip grows incompressible text a little */
	size_t cap = 2 * n + 64 * 1024, used = 0;
	char *buf = jm_xmalloc(cap);
	struct archive *ar = archive_write_new();
	if (archive_write_add_filter_gzip(ar) != ARCHIVE_OK ||
	    archive_write_set_format_pax_restricted(ar) != ARCHIVE_OK ||
	    archive_write_open_memory(ar, buf, cap, &used) != ARCHIVE_OK)
		die("wrapping the manifest: %s", archive_error_string(ar));
	if (!(bits & MANIFEST_LAST))
		add_member(ar, "manifest.json", manifest, n, 0);
	for (size_t i = 0; i < sizeof fixed_members / sizeof fixed_members[0]; i++) {
		const struct fixed_member *f = &fixed_members[i];
		if (bits & f->bit)
			add_member(ar, f->name, f->data, f->data ? strlen(f->data) : 0, !f->data);
	}
	if (bits & MANIFEST_LAST)
		add_member(ar, "manifest.json", manifest, n, 0);
	if (archive_write_close(ar) != ARCHIVE_OK)
		die("wrapping the manifest: %s", archive_error_string(ar));
	archive_write_free(ar);
	write_file(fz.bundle, buf, used);
	free(buf);
}

/* ---- mutation ----------------------------------------------------------- */

/* Pieces of manifest that byte edits seldom spell: fields, whole artifact
 * entries for the fixed members, numbers at the edges of import's checks,
 * path shapes, bytes that are not UTF-8.  A dictionary that travels with
 * the binary (no -dict file to keep beside it). */
static const char *const fuzz_words[] = {
	"\"kind\": \"trial\", ", "\"status\": \"running\", ", "\"name\": null, ",
	"\"children\": [{\"kind\": \"trial\", \"status\": \"done\"}], ",
	"{\"name\": \"m\", \"file\": \"x\", \"member\": \"artifacts/model.bin\", \"bytes\": 5, "
	"\"sha256\": \"2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824\"}, ",
	"{\"name\": \"w\", \"file\": \"x/y\", \"member\": \"trials/1/artifacts/ckpt/w.bin\", "
	"\"bytes\": 9, \"sha256\": "
	"\"29885c76db1069945da0958604ce75a02b2d8491e65d16d910ef01ca73752442\"}, ",
	"\"artifacts\": [", "\"file\": \"", "\"member\": \"", "\"bytes\": ", "\"created\": ",
	"\"params\": {\"a.b\": \"1\"}, ", "\"tags\": [\"t\"], ",
	"\"metrics\": {\"m\": {\"step\": [0], \"value\": [1], \"wall\": [0]}}, ",
	"\"flow\": {\"name\": \"f\", \"text\": \"t\"}, ", "\"seed\": 18446744073709551615, ",
	"1e300", "-1e999", "1e999", "9223372036854775808", "9007199254740993", "-0", "0.5", "null",
	"/", "x/", "../", "./", "//", "\\u0000", "\\ud800", "\\u00e8", "\xff", "\xc3\xa8",
};

size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t max_size);
size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned seed);

size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned seed)
{
	/* a file name component one byte over NAME_MAX */
	static char long_component[257];
	size_t nwords = sizeof fuzz_words / sizeof fuzz_words[0];
	if (!long_component[0])
		memset(long_component, 'a', sizeof long_component - 1);
	/* three in four: libFuzzer's own mutations */
	if (seed % 4 || size < 1)
		return LLVMFuzzerMutate(data, size, max_size);
	seed /= 4;
	const char *w = seed % (nwords + 1) < nwords ? fuzz_words[seed % (nwords + 1)]
						     : long_component;
	seed /= nwords + 1;
	size_t len = strlen(w), at = 1 + seed % size; /* never before byte 0 */
	if (size + len > max_size)
		return LLVMFuzzerMutate(data, size, max_size);
	memmove(data + at + len, data + at, size - at);
	memcpy(data + at, w, len);
	return size + len;
}

/* ---- entry points ------------------------------------------------------- */

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	const char *seeds = getenv("JIANMO_BUNDLE_FUZZ_SEEDS");
	if (seeds) {
		write_seeds(seeds);
		exit(0);
	}
	fz.verbose = getenv("JIANMO_BUNDLE_FUZZ_VERBOSE") != NULL;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	if (!fz.s)
		fuzz_setup();
	if ((data[0] & 3) == 0)
		write_file(fz.bundle, data + 1, size - 1);
	else
		write_wrapped(data[0], data + 1, size - 1);
	jm_err err = {0};
	int64_t run = -1;
	int n_runs = -1;
	char *before = snapshot();
	if (jm_bundle_import(fz.s, fz.bundle, &fuzz_limits, &run, &n_runs, &err) == 0) {
		free(before);
		if (fz.verbose)
			fprintf(stderr, "imported %d runs\n", n_runs);
		check_imported(run, n_runs);
		return 0;
	}
	/* refused: all or nothing, and said as input's fault */
	if (fz.verbose)
		fprintf(stderr, "refused: %s\n", err.msg);
	char *after = snapshot();
	size_t plen = strlen(fz.bundle);
	if (err.code != JM_EXIT_INPUT || run != 0 || n_runs != 0 ||
	    strncmp(err.msg, fz.bundle, plen) || strncmp(err.msg + plen, ": ", 2) ||
	    !err.msg[plen + 2])
		die("bad refusal: code %d, run %lld, %d runs: %s", err.code, (long long)run, n_runs,
		    err.msg);
	if (strcmp(before, after))
		die("a refused import changed the store (%s)\n--- before\n%s\n--- after\n%s", err.msg,
		    before, after);
	free(before);
	free(after);
	return 0;
}
