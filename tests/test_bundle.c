/*
 * test_bundle.c: run bundles (store/bundle.c).
 *
 * A round trip (a search with two trials, params, tags, metric points
 * including NaN and infinity, artifacts in sub-folders, the flow text)
 * exported from one store and imported into another must come back equal;
 * then each malicious or broken archive, built here with libarchive's
 * writer, must be refused with its message and code, leaving the store
 * (rows, run folders, no temporary folder) exactly as it was.
 */
#include <archive.h>
#include <archive_entry.h>
#include <criterion/criterion.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "store/bundle.h"
#include "store/metric_writer.h"
#include "store/store.h"
#include "testutil.h"
#include "util/hash.h"
#include "util/strbuf.h"

static char *work;   /* temporary folder for everything */
static jm_store *src; /* the store exported from */
static jm_store *dst; /* the store imported into */

static void setup(void)
{
	jm_err err = {0};
	work = jt_tmpdir();
	char *a = jm_xasprintf("%s/a", work), *b = jm_xasprintf("%s/b", work);
	cr_assert_eq(jm_store_open(&src, a, 0, &err), 0, "%s", err.msg);
	cr_assert_eq(jm_store_open(&dst, b, 0, &err), 0, "%s", err.msg);
	free(a);
	free(b);
}

static void teardown(void)
{
	jm_store_close(src);
	jm_store_close(dst);
	jt_rm_rf(work);
	free(work);
}

TestSuite(bundle, .init = setup, .fini = teardown);

/* ---- helpers ---------------------------------------------------------- */

static char *sql_text(jm_store *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The rows of a query, "a|b;a|b;...", for comparisons. */
static char *sql_text(jm_store *s, const char *fmt, ...)
{
	char sql[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(sql, sizeof sql, fmt, ap);
	va_end(ap);
	sqlite3_stmt *st = NULL;
	cr_assert_eq(sqlite3_prepare_v2(jm_store_db(s), sql, -1, &st, NULL), SQLITE_OK, "%s: %s",
		     sql, sqlite3_errmsg(jm_store_db(s)));
	size_t cap = 4096, n = 0;
	char *out = calloc(1, cap);
	while (sqlite3_step(st) == SQLITE_ROW) {
		for (int c = 0; c < sqlite3_column_count(st); c++) {
			const char *v = (const char *)sqlite3_column_text(st, c);
			size_t need = n + (v ? strlen(v) : 4) + 4;
			if (need > cap)
				out = realloc(out, cap = need * 2);
			n += sprintf(out + n, "%s%s", c ? "|" : (n ? ";" : ""), v ? v : "NULL");
		}
	}
	sqlite3_finalize(st);
	return out;
}

static int64_t new_run(jm_store *s, const char *kind, int64_t parent, const char *name,
		       int64_t flow)
{
	jm_err err = {0};
	int64_t id;
	jm_run_spec spec = {.kind = kind, .parent = parent, .flow_id = flow, .name = name,
			    .seed = UINT64_C(18446744073709551557), .device = "cpu"};
	cr_assert_eq(jm_store_run_create(s, &spec, &id, &err), 0, "%s", err.msg);
	return id;
}

/* Write text to HOME/runs/<run>/<file> and record it as an artifact. */
static void add_artifact(jm_store *s, int64_t run, const char *name, const char *file,
			 const char *text)
{
	jm_err err = {0};
	char *rel = jm_xasprintf("runs/%lld/%s", (long long)run, file);
	char *full = jm_xasprintf("%s/%s", jm_store_home(s), rel);
	char *dir = jm_xstrdup(full);
	*strrchr(dir, '/') = '\0';
	cr_assert_eq(jt_sh(NULL, NULL, NULL, "mkdir -p '%s'", dir), 0);
	free(jt_write(NULL, full, text));
	cr_assert_eq(jm_store_artifact_add(s, run, name, rel, &err), 0, "%s", err.msg);
	free(dir);
	free(full);
	free(rel);
}

/* The search 1 with trials 2 and 3 in src. */
static void make_source_runs(void)
{
	jm_err err = {0};
	int64_t flow;
	cr_assert_eq(jm_store_flow_put(src, "fmnist.flow", "[model]\ntype = \"cnn\"\n# é\n", &flow,
				       &err), 0);
	int64_t search = new_run(src, "search", 0, "search \"quoted\"", flow);
	int64_t t1 = new_run(src, "trial", search, "trial 1", flow);
	int64_t t2 = new_run(src, "trial", search, NULL, 0);
	cr_assert_eq(jm_store_param_set(src, search, "model.type", "cnn", &err), 0);
	cr_assert_eq(jm_store_param_set(src, search, "train.lr", "1e-3", &err), 0);
	cr_assert_eq(jm_store_param_set(src, t1, "train.lr", "0.01", &err), 0);
	cr_assert_eq(jm_store_param_set(src, t2, "train.lr", "0.1", &err), 0);
	cr_assert_eq(jm_store_tag_add(src, search, "best", &err), 0);
	cr_assert_eq(jm_store_tag_add(src, search, "paper", &err), 0);
	jm_metric_writer *w;
	cr_assert_eq(jm_metric_writer_open(&w, src, 0, 0, &err), 0, "%s", err.msg);
	for (int i = 0; i < 50; i++) {
		jm_metric_log(w, t1, "loss", i, 1.0 / (i + 1));
		jm_metric_log(w, t1, "val_acc", i, 0.5 + i * 0.001);
	}
	jm_metric_log(w, t1, "loss", 50, NAN);
	jm_metric_log(w, t2, "loss", 0, INFINITY);
	jm_metric_log(w, t2, "loss", 1, -INFINITY);
	jm_metric_log(w, t2, "loss", 2, 0.25);
	jm_metric_log(w, search, "best_val_acc", 7, 0.549);
	cr_assert_eq(jm_metric_writer_close(w, &err), 0, "%s", err.msg);
	add_artifact(src, search, "report", "report.txt", "best trial: 1\n");
	add_artifact(src, t1, "model.bin", "ckpt/model.bin", "weights\x01\x02");
	add_artifact(src, t1, "confusion.csv", "confusion.csv", "1,0\n0,1\n");
	cr_assert_eq(jm_store_run_set_status(src, t1, JM_RUN_DONE, NULL, &err), 0);
	cr_assert_eq(jm_store_run_set_status(src, t2, JM_RUN_PRUNED, "pruned at step 2", &err), 0);
	cr_assert_eq(jm_store_run_set_status(src, search, JM_RUN_DONE, NULL, &err), 0);
}

/* Everything about a run tree that must survive a round trip, ids replaced
 * by their position so two stores compare equal. */
static char *describe_tree(jm_store *s, int64_t top)
{
	char *ids = sql_text(s, "SELECT id FROM runs WHERE id = %lld OR parent = %lld ORDER BY id",
			     (long long)top, (long long)top);
	char *out = jm_xstrdup("");
	int pos = 0;
	for (char *tok = strtok(ids, ";"); tok; tok = strtok(NULL, ";"), pos++) {
		long long id = atoll(tok);
		char *run = sql_text(s, "SELECT r.kind, r.parent IS NOT NULL, r.name, r.status, "
				     "r.seed, r.device, r.host, r.started, r.ended, r.created, "
				     "r.error, r.number, r.resumed, r.prior, f.name, f.text FROM "
				     "runs r LEFT JOIN flows f ON f.id = r.flow_id WHERE r.id = "
				     "%lld", id);
		char *params = sql_text(s, "SELECT key, value FROM params WHERE run = %lld ORDER BY key", id);
		char *tags = sql_text(s, "SELECT tag FROM tags WHERE run = %lld ORDER BY tag", id);
		char *metrics = sql_text(s, "SELECT s.key, p.step, quote(p.value), p.wall FROM "
					 "metric_spans s JOIN metric_points p ON p.id BETWEEN "
					 "s.first AND s.last WHERE s.run = %lld ORDER BY s.key, p.id",
					 id);
		char *summary = sql_text(s, "SELECT key, quote(last), last_step, quote(min), "
					 "quote(max), count FROM metric_summary WHERE run = %lld "
					 "ORDER BY key", id);
		char *arts = sql_text(s, "SELECT name, substr(path, instr(substr(path, 6), '/') + 6), "
				      "bytes, sha256, created FROM artifacts WHERE run = %lld "
				      "ORDER BY name", id);
		char *next = jm_xasprintf("%s\n#%d run: %s\nparams: %s\ntags: %s\nmetrics: %s\n"
					  "summary: %s\nartifacts: %s", out, pos, run, params, tags,
					  metrics, summary, arts);
		free(out);
		out = next;
		free(run), free(params), free(tags), free(metrics), free(summary), free(arts);
	}
	free(ids);
	return out;
}

static char *read_file(jm_store *s, const char *rel)
{
	char *p = jm_xasprintf("%s/%s", jm_store_home(s), rel);
	char *text = jt_read(p, NULL);
	free(p);
	return text;
}

/* ---- round trip ---------------------------------------------------------- */

Test(bundle, round_trip_with_trials)
{
	jm_err err = {0};
	make_source_runs();
	char *file = jm_xasprintf("%s/search.tar.gz", work);
	int n = 0;
	cr_assert_eq(jm_bundle_export(src, 1, file, &n, &err), 0, "%s", err.msg);
	cr_expect_eq(n, 3);
	/* a run in dst first, so the ids differ */
	new_run(dst, "run", 0, "already here", 0);
	int64_t top = 0;
	cr_assert_eq(jm_bundle_import(dst, file, NULL, &top, &n, &err), 0, "%s", err.msg);
	cr_expect_eq(top, 2);
	cr_expect_eq(n, 3);
	char *a = describe_tree(src, 1), *b = describe_tree(dst, top);
	cr_expect_str_eq(a, b);
	/* metric values that are not numbers survive as such */
	cr_expect(strstr(b, "loss|50|NULL|"), "%s", b);
	cr_expect(strstr(b, "loss|0|Inf|"), "%s", b);
	cr_expect(strstr(b, "loss|1|-Inf|"), "%s", b);
	/* the artifact files are in the new run folders, byte for byte */
	char *path = sql_text(dst, "SELECT path FROM artifacts WHERE name = 'model.bin'");
	cr_expect_str_eq(path, "runs/3/ckpt/model.bin");
	char *content = read_file(dst, path);
	cr_expect_str_eq(content, "weights\x01\x02");
	char *report = read_file(dst, "runs/2/report.txt");
	cr_expect_str_eq(report, "best trial: 1\n");
	/* every imported artifact still matches its checksum */
	char *arts = sql_text(dst, "SELECT path, sha256 FROM artifacts ORDER BY path");
	for (char *row = strtok(arts, ";"); row; row = strtok(NULL, ";")) {
		char *bar = strchr(row, '|');
		*bar = '\0';
		char *full = jm_xasprintf("%s/%s", jm_store_home(dst), row), hex[65];
		cr_assert_eq(jm_sha256_file(full, hex, NULL, &err), 0, "%s", err.msg);
		cr_expect_str_eq(hex, bar + 1, "%s", row);
		free(full);
	}
	/* nothing left behind */
	cr_expect_eq(jt_sh(jm_store_home(dst), NULL, NULL, "ls -d .import-* 2>/dev/null"), 2);
	/* the bundle is a plain tar.gz with the documented layout */
	char *list = NULL;
	cr_assert_eq(jt_sh(NULL, &list, NULL, "tar tzf '%s' | sort", file), 0);
	cr_expect_str_eq(list, "artifacts/report.txt\nmanifest.json\n"
			       "trials/1/artifacts/ckpt/model.bin\n"
			       "trials/1/artifacts/confusion.csv\n");
	free(list), free(arts), free(report), free(content), free(path), free(a), free(b);
	free(file);
}

Test(bundle, import_twice_and_running_becomes_stopped)
{
	jm_err err = {0};
	int64_t run = new_run(src, "run", 0, "live", 0);
	cr_assert_eq(jm_store_param_set(src, run, "train.epochs", "3", &err), 0);
	char *file = jm_xasprintf("%s/live.tar.gz", work);
	cr_assert_eq(jm_bundle_export(src, run, file, NULL, &err), 0, "%s", err.msg);
	int64_t a = 0, b = 0;
	cr_assert_eq(jm_bundle_import(src, file, NULL, &a, NULL, &err), 0, "%s", err.msg);
	cr_assert_eq(jm_bundle_import(src, file, NULL, &b, NULL, &err), 0, "%s", err.msg);
	cr_expect_eq(a, 2);
	cr_expect_eq(b, 3);
	char *rows = sql_text(src, "SELECT id, status, pid IS NULL FROM runs ORDER BY id");
	cr_expect_str_eq(rows, "1|running|0;2|stopped|1;3|stopped|1");
	char *p = sql_text(src, "SELECT run, value FROM params ORDER BY run");
	cr_expect_str_eq(p, "1|3;2|3;3|3");
	free(p), free(rows), free(file);
}

/* Found by fuzz/bundle_fuzz: in the C locale (the CLI's) libarchive cannot
 * translate a non-ASCII member name to UTF-8 for the pax header and warns;
 * export took the warning for a failure, so a run with "modèle.bin" (or a
 * name that is not UTF-8 at all) imported fine and never exported again. */
Test(bundle, non_ascii_artifact_names_round_trip)
{
	jm_err err = {0};
	int64_t run = new_run(src, "run", 0, "accents", 0);
	add_artifact(src, run, "model", "mod\xc3\xa8le.bin", "hello");
	add_artifact(src, run, "raw", "sub/x\xff.bin", "bytes");
	cr_assert_eq(jm_store_run_set_status(src, run, JM_RUN_DONE, NULL, &err), 0);
	char *file = jm_xasprintf("%s/accents.tar.gz", work);
	cr_assert_eq(jm_bundle_export(src, run, file, NULL, &err), 0, "%s", err.msg);
	int64_t top = 0;
	cr_assert_eq(jm_bundle_import(dst, file, NULL, &top, NULL, &err), 0, "%s", err.msg);
	char *a = describe_tree(src, run), *b = describe_tree(dst, top);
	cr_expect_str_eq(a, b);
	char *text = read_file(dst, "runs/1/mod\xc3\xa8le.bin");
	cr_expect_str_eq(text, "hello");
	free(text);
	text = read_file(dst, "runs/1/sub/x\xff.bin");
	cr_expect_str_eq(text, "bytes");
	free(text), free(a), free(b), free(file);
}

Test(bundle, export_errors)
{
	jm_err err = {0};
	char *file = jm_xasprintf("%s/x.tar.gz", work);
	cr_expect_eq(jm_bundle_export(src, 99, file, NULL, &err), -1);
	cr_expect_eq(err.code, JM_EXIT_INPUT);
	char *want = jm_xasprintf("no run \"99\" in %s", jm_store_home(src));
	cr_expect_str_eq(err.msg, want);
	free(want);
	struct stat st;
	cr_expect_neq(stat(file, &st), 0, "no bundle written");
	/* an artifact changed after it was recorded stops the export */
	int64_t run = new_run(src, "run", 0, "r", 0);
	add_artifact(src, run, "model", "model.bin", "12345");
	char *art = jm_xasprintf("%s/runs/%lld/model.bin", jm_store_home(src), (long long)run);
	free(jt_write(NULL, art, "12346"));
	cr_expect_eq(jm_bundle_export(src, run, file, NULL, &err), -1);
	cr_expect_eq(err.code, JM_EXIT_FAIL);
	cr_expect(strstr(err.msg, "artifact \"model\"") && strstr(err.msg, "sha256 differs"), "%s",
		  err.msg);
	cr_expect_neq(stat(file, &st), 0, "no bundle written");
	cr_expect_eq(jt_sh(work, NULL, NULL, "ls x.tar.gz.tmp-* 2>/dev/null"), 2, "no temp left");
	unlink(art);
	cr_expect_eq(jm_bundle_export(src, run, file, NULL, &err), -1);
	cr_expect(strstr(err.msg, "No such file"), "%s", err.msg);
	free(art);
	free(file);
}

/* ---- malicious and broken archives --------------------------------------- */

typedef struct tmember {
	const char *name;
	char type;        /* 'f' file, 'd' dir, 'l' symlink, 'h' hardlink, 'p' fifo, 'c' device */
	const char *data; /* file contents */
	const char *link; /* link target */
} tmember;

static char *make_archive(const char *name, const tmember *m, size_t n)
{
	char *path = jm_xasprintf("%s/%s", work, name);
	struct archive *a = archive_write_new();
	cr_assert_eq(archive_write_add_filter_gzip(a), ARCHIVE_OK);
	cr_assert_eq(archive_write_set_format_pax_restricted(a), ARCHIVE_OK);
	cr_assert_eq(archive_write_open_filename(a, path), ARCHIVE_OK);
	for (size_t i = 0; i < n; i++) {
		struct archive_entry *e = archive_entry_new();
		archive_entry_set_pathname(e, m[i].name);
		archive_entry_set_perm(e, 0644);
		static const struct {
			char c;
			mode_t type;
		} types[] = {{'f', AE_IFREG}, {'d', AE_IFDIR}, {'l', AE_IFLNK},
			     {'h', AE_IFREG}, {'p', AE_IFIFO}, {'c', AE_IFCHR}};
		for (size_t k = 0; k < sizeof types / sizeof types[0]; k++)
			if (types[k].c == m[i].type)
				archive_entry_set_filetype(e, types[k].type);
		if (m[i].type == 'l')
			archive_entry_set_symlink(e, m[i].link);
		if (m[i].type == 'h')
			archive_entry_set_hardlink(e, m[i].link);
		size_t len = m[i].type == 'f' && m[i].data ? strlen(m[i].data) : 0;
		archive_entry_set_size(e, (la_int64_t)len);
		cr_assert_eq(archive_write_header(a, e), ARCHIVE_OK, "%s", archive_error_string(a));
		if (len)
			cr_assert_eq(archive_write_data(a, m[i].data, len), (la_ssize_t)len);
		archive_entry_free(e);
	}
	cr_assert_eq(archive_write_close(a), ARCHIVE_OK);
	archive_write_free(a);
	return path;
}

/* sha256("hello") */
#define HELLO_SHA "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"

static char *manifest_with(const char *file, const char *member, const char *sha)
{
	return jm_xasprintf(
		"{\"format\": \"jianmo-bundle\", \"version\": 1, \"run\": {\"kind\": \"run\", "
		"\"name\": \"evil\", \"status\": \"done\", \"seed\": 1, \"created\": 1700000000, "
		"\"params\": {\"a.b\": \"1\"}, \"tags\": [], \"metrics\": {\"loss\": {\"step\": [0], "
		"\"value\": [0.5], \"wall\": [1700000000]}}, \"artifacts\": [{\"name\": \"model\", "
		"\"file\": \"%s\", \"member\": \"%s\", \"bytes\": 5, \"sha256\": \"%s\"}], "
		"\"children\": []}}",
		file, member, sha);
}

/* Rows and folders of dst, to show an import changed nothing. */
static char *snapshot(void)
{
	char *rows = sql_text(dst, "SELECT (SELECT count(*) FROM runs), (SELECT count(*) FROM params), "
			      "(SELECT count(*) FROM metrics), (SELECT count(*) FROM metric_summary), "
			      "(SELECT count(*) FROM tags), (SELECT count(*) FROM artifacts), "
			      "(SELECT count(*) FROM flows)");
	char *files = NULL;
	cr_assert_eq(jt_sh(jm_store_home(dst), &files, NULL, "find . -path ./jianmo.db\\* -prune -o -print | sort"), 0);
	char *s = jm_xasprintf("%s\n%s", rows, files);
	free(rows);
	free(files);
	return s;
}

/* Import must fail with code and a message containing want, and leave dst
 * as it was. */
static void expect_refused(const char *archive, const jm_bundle_limits *lim, int code,
			   const char *want)
{
	jm_err err = {0};
	char *before = snapshot();
	int64_t run = -1;
	cr_expect_eq(jm_bundle_import(dst, archive, lim, &run, NULL, &err), -1, "%s imported",
		     archive);
	cr_expect_eq(run, 0);
	cr_expect_eq(err.code, code, "%s: code %d: %s", archive, err.code, err.msg);
	cr_expect(strstr(err.msg, want), "%s:\n  got:  %s\n  want: %s", archive, err.msg, want);
	char *after = snapshot();
	cr_expect_str_eq(after, before, "store changed by %s", archive);
	free(before);
	free(after);
}

Test(bundle, handmade_valid_bundle_imports)
{
	/* the base every malicious case below differs from by one thing */
	char *man = manifest_with("model.bin", "artifacts/model.bin", HELLO_SHA);
	tmember m[] = {{"manifest.json", 'f', man, NULL},
		       {"artifacts/", 'd', NULL, NULL},
		       {"./artifacts/model.bin", 'f', "hello", NULL}};
	char *path = make_archive("ok.tar.gz", m, 3);
	jm_err err = {0};
	int64_t run = 0;
	cr_assert_eq(jm_bundle_import(dst, path, NULL, &run, NULL, &err), 0, "%s", err.msg);
	char *row = sql_text(dst, "SELECT r.name, a.path, a.bytes, s.last FROM runs r JOIN "
			     "artifacts a ON a.run = r.id JOIN metric_summary s ON s.run = r.id");
	cr_expect_str_eq(row, "evil|runs/1/model.bin|5|0.5");
	free(row);
	free(path);
	free(man);
}

Test(bundle, refuses_unsafe_members)
{
	char *man = manifest_with("model.bin", "artifacts/model.bin", HELLO_SHA);
	static const struct {
		tmember extra;
		const char *want;
	} cases[] = {
		{{"/tmp/evil", 'f', "x", NULL}, "member \"/tmp/evil\": an absolute path is not allowed"},
		{{"../evil", 'f', "x", NULL}, "member \"../evil\": a \"..\" component is not allowed"},
		{{"artifacts/../../evil", 'f', "x", NULL},
		 "member \"artifacts/../../evil\": a \"..\" component is not allowed"},
		{{"artifacts/link", 'l', NULL, "/etc/passwd"},
		 "member \"artifacts/link\": symbolic links are not allowed"},
		{{"artifacts/up", 'l', NULL, "../../.."}, "member \"artifacts/up\": symbolic links"},
		{{"artifacts/hard", 'h', NULL, "artifacts/model.bin"},
		 "member \"artifacts/hard\": hard links are not allowed"},
		{{"artifacts/hard2", 'h', NULL, "/etc/shadow"}, "hard links are not allowed"},
		{{"artifacts/fifo", 'p', NULL, NULL}, "member \"artifacts/fifo\": fifos are not allowed"},
		{{"artifacts/dev", 'c', NULL, NULL},
		 "member \"artifacts/dev\": device files are not allowed"},
		{{"artifacts/extra.bin", 'f', "surprise", NULL},
		 "member \"artifacts/extra.bin\": not listed in manifest.json"},
		{{"artifacts/model.bin", 'f', "hello", NULL}, "member \"artifacts/model.bin\": appears twice"},
		{{"manifest.json", 'f', "{}", NULL}, "member \"manifest.json\": appears twice"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		tmember m[] = {{"manifest.json", 'f', man, NULL},
			       {"artifacts/model.bin", 'f', "hello", NULL},
			       cases[i].extra};
		char name[32];
		snprintf(name, sizeof name, "unsafe%zu.tar.gz", i);
		char *path = make_archive(name, m, 3);
		expect_refused(path, NULL, JM_EXIT_INPUT, cases[i].want);
		free(path);
	}
	struct stat st;
	char *escaped = jm_xasprintf("%s/evil", jm_store_home(dst));
	cr_expect_neq(lstat(escaped, &st), 0, "nothing written outside the run folders");
	free(escaped);
	free(man);
}

Test(bundle, refuses_oversize_members)
{
	char *man = manifest_with("model.bin", "artifacts/model.bin", HELLO_SHA);
	tmember m[] = {{"manifest.json", 'f', man, NULL}, {"artifacts/model.bin", 'f', "hello", NULL}};
	char *path = make_archive("big.tar.gz", m, 2);
	jm_bundle_limits member = {.member_max = 4, .total_max = 1 << 20, .manifest_max = 1 << 20};
	expect_refused(path, &member, JM_EXIT_INPUT,
		       "member \"artifacts/model.bin\": 5 bytes, over the limit of 4");
	jm_bundle_limits manifest = {.member_max = 1 << 20, .total_max = 1 << 20, .manifest_max = 16};
	expect_refused(path, &manifest, JM_EXIT_INPUT, "member \"manifest.json\": ");
	jm_bundle_limits total = {.member_max = 1 << 20, .total_max = (int64_t)strlen(man) + 4,
				  .manifest_max = 1 << 20};
	char *want = jm_xasprintf("member \"artifacts/model.bin\": the bundle holds more than %lld "
				  "bytes in all", (long long)total.total_max);
	expect_refused(path, &total, JM_EXIT_INPUT, want);
	/* exactly at the limits is fine */
	jm_bundle_limits exact = {.member_max = 5, .total_max = (int64_t)strlen(man) + 5,
				  .manifest_max = (int64_t)strlen(man)};
	jm_err err = {0};
	int64_t run;
	cr_expect_eq(jm_bundle_import(dst, path, &exact, &run, NULL, &err), 0, "%s", err.msg);
	free(want), free(path), free(man);
}

Test(bundle, refuses_bad_checksums_and_manifests)
{
	char *bad_sha = manifest_with("model.bin", "artifacts/model.bin",
				      "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9825");
	char *missing = manifest_with("model.bin", "artifacts/other.bin", HELLO_SHA);
	char *escape = manifest_with("../../escape.bin", "artifacts/model.bin", HELLO_SHA);
	char *abs = manifest_with("/etc/cron.d/x", "artifacts/model.bin", HELLO_SHA);
	char *upper = manifest_with("model.bin", "artifacts/model.bin",
				    "2CF24DBA5FB0A30E26E83B2AC5B9E29E1B161E5C1FA7425E73043362938B9824");
	static const char *const structural[][2] = {
		{"{", "invalid JSON at byte 2: expected a key"},
		{"[1, 2", "invalid JSON at byte 6: expected \",\" or \"]\""},
		{"{\"format\": \"zip\"}", "manifest.json: format: expected \"jianmo-bundle\""},
		{"{\"format\": \"jianmo-bundle\", \"version\": 2}",
		 "version: unsupported bundle version (this jianmo reads version 1)"},
		{"{\"format\": \"jianmo-bundle\", \"version\": 1}", "manifest.json: run: expected an object"},
		{"{\"format\": \"jianmo-bundle\", \"version\": 1, \"run\": {\"kind\": \"x\", \"status\": "
		 "\"done\"}}",
		 "run: \"kind\": expected run, search or trial, got \"x\""},
		{"{\"format\": \"jianmo-bundle\", \"version\": 1, \"run\": {\"kind\": \"run\", "
		 "\"status\": \"done\", \"seed\": -1}}",
		 "run: \"seed\": expected an integer from 0 to 2^64-1"},
		{"{\"format\": \"jianmo-bundle\", \"version\": 1, \"run\": {\"kind\": \"run\", "
		 "\"status\": \"done\", \"params\": {\"a\": 1}}}",
		 "run: params \"a\": expected a name and a string value"},
		{"{\"format\": \"jianmo-bundle\", \"version\": 1, \"run\": {\"kind\": \"run\", "
		 "\"status\": \"done\", \"children\": [{\"kind\": \"trial\", \"status\": \"bogus\"}]}}",
		 "run.children[0]: \"status\": unknown status \"bogus\""},
		{"{\"format\": \"jianmo-bundle\", \"version\": 1, \"run\": {\"kind\": \"run\", "
		 "\"status\": \"done\", \"metrics\": {\"loss\": {\"step\": [0, 1], \"value\": [1], "
		 "\"wall\": [0, 0]}}}}",
		 "run: metric \"loss\": expected \"step\", \"value\" and \"wall\" as number arrays of one length"},
		{"{\"format\": \"jianmo-bundle\", \"version\": 1, \"run\": {\"kind\": \"run\", "
		 "\"status\": \"done\", \"tags\": [\"a\", \"a\"]}}",
		 "run: UNIQUE constraint failed"},
	};
	struct {
		char *manifest;
		const char *want;
	} cases[sizeof structural / sizeof structural[0] + 5] = {
		{bad_sha, "member \"artifacts/model.bin\": checksum mismatch (manifest: 5 bytes, "
			  "sha256 2cf24dba5fb0..., bundle: 5 bytes, sha256 2cf24dba5fb0...)"},
		{missing, "member \"artifacts/other.bin\" listed in manifest.json is missing"},
		{escape, "run.artifacts[0]: \"file\" \"../../escape.bin\": a \"..\" component is not allowed"},
		{abs, "run.artifacts[0]: \"file\" \"/etc/cron.d/x\": an absolute path is not allowed"},
		{upper, "run.artifacts[0]: \"sha256\": expected 64 lowercase hex digits"},
	};
	for (size_t i = 0; i < sizeof structural / sizeof structural[0]; i++) {
		cases[5 + i].manifest = jm_xstrdup(structural[i][0]);
		cases[5 + i].want = structural[i][1];
	}
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		tmember m[] = {{"manifest.json", 'f', cases[i].manifest, NULL},
			       {"artifacts/model.bin", 'f', "hello", NULL}};
		char name[32];
		snprintf(name, sizeof name, "bad%zu.tar.gz", i);
		/* the structural manifests list no artifact: leave the file out */
		char *path = make_archive(name, m, i < 5 ? 2 : 1);
		expect_refused(path, NULL, JM_EXIT_INPUT, cases[i].want);
		free(path);
		free(cases[i].manifest);
	}
}

Test(bundle, refuses_archives_without_a_manifest_or_not_archives)
{
	tmember m[] = {{"artifacts/model.bin", 'f', "hello", NULL}};
	char *path = make_archive("nomanifest.tar.gz", m, 1);
	expect_refused(path, NULL, JM_EXIT_INPUT, "not a jianmo bundle (no manifest.json)");
	free(path);
	path = jt_write(work, "junk.tar.gz", "this is not an archive at all, just some text\n");
	expect_refused(path, NULL, JM_EXIT_INPUT, "junk.tar.gz: ");
	free(path);
	path = jm_xasprintf("%s/missing.tar.gz", work);
	expect_refused(path, NULL, JM_EXIT_INPUT, "missing.tar.gz: ");
	free(path);
	/* a truncated archive */
	char *good = manifest_with("model.bin", "artifacts/model.bin", HELLO_SHA);
	tmember g[] = {{"manifest.json", 'f', good, NULL}, {"artifacts/model.bin", 'f', "hello", NULL}};
	path = make_archive("cut.tar.gz", g, 2);
	cr_assert_eq(jt_sh(work, NULL, NULL, "head -c 100 cut.tar.gz > cut2.tar.gz"), 0);
	free(path);
	path = jm_xasprintf("%s/cut2.tar.gz", work);
	expect_refused(path, NULL, JM_EXIT_INPUT, "cut2.tar.gz: ");
	free(path);
	free(good);
}

Test(bundle, file_collisions_inside_a_run_are_refused)
{
	char *man = jm_xasprintf(
		"{\"format\": \"jianmo-bundle\", \"version\": 1, \"run\": {\"kind\": \"run\", "
		"\"status\": \"done\", \"artifacts\": [{\"name\": \"a\", \"file\": \"x\", \"member\": "
		"\"artifacts/x\", \"bytes\": 5, \"sha256\": \"%s\"}, {\"name\": \"b\", \"file\": "
		"\"x/y\", \"member\": \"artifacts/x/y\", \"bytes\": 5, \"sha256\": \"%s\"}]}}",
		HELLO_SHA, HELLO_SHA);
	tmember m[] = {{"manifest.json", 'f', man, NULL},
		       {"artifacts/x", 'f', "hello", NULL},
		       {"artifacts/x/y", 'f', "hello", NULL}};
	char *path = make_archive("collide.tar.gz", m, 3);
	expect_refused(path, NULL, JM_EXIT_INPUT,
		       "run.artifacts[1]: \"file\" \"x/y\" collides with another artifact's file");
	free(path);
	free(man);
}

/* Found by fuzz/bundle_fuzz's contract check: a file under another
 * artifact's file ("x", then "x/y/z") failed in mkdir with ENOTDIR and came
 * out as an I/O error (code 1); a file where another artifact made a folder
 * ("x/y", then "x") was called "listed twice". */
Test(bundle, deeper_file_collisions_are_input_errors)
{
	static const char *const pairs[][3] = {
		{"x", "x/y/z", "run.artifacts[1]: \"file\" \"x/y/z\" collides with another artifact's file"},
		{"x/y", "x", "run.artifacts[1]: \"file\" \"x\" collides with another artifact's folder"},
		{"x/y/z", "x/y", "run.artifacts[1]: \"file\" \"x/y\" collides with another artifact's folder"},
	};
	for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
		char *man = jm_xasprintf(
			"{\"format\": \"jianmo-bundle\", \"version\": 1, \"run\": {\"kind\": \"run\", "
			"\"status\": \"done\", \"artifacts\": [{\"name\": \"a\", \"file\": \"%s\", "
			"\"member\": \"artifacts/a\", \"bytes\": 5, \"sha256\": \"%s\"}, {\"name\": \"b\", "
			"\"file\": \"%s\", \"member\": \"artifacts/b\", \"bytes\": 5, \"sha256\": \"%s\"}]}}",
			pairs[i][0], HELLO_SHA, pairs[i][1], HELLO_SHA);
		tmember m[] = {{"manifest.json", 'f', man, NULL},
			       {"artifacts/a", 'f', "hello", NULL},
			       {"artifacts/b", 'f', "hello", NULL}};
		char name[32];
		snprintf(name, sizeof name, "deep%zu.tar.gz", i);
		char *path = make_archive(name, m, 3);
		expect_refused(path, NULL, JM_EXIT_INPUT, pairs[i][2]);
		free(path);
		free(man);
	}
}

/* Found by fuzz/bundle_fuzz (UBSan): "bytes": 1e300 reached a cast to long
 * long in the checksum message (undefined), and "bytes": 5.5 was reported
 * as a mismatch of 5 bytes against 5 bytes. */
Test(bundle, artifact_bytes_must_be_a_whole_number)
{
	static const char *const bytes[] = {"1e300", "5.5", "-5", "9223372036854775808"};
	for (size_t i = 0; i < sizeof bytes / sizeof bytes[0]; i++) {
		char *man = jm_xasprintf(
			"{\"format\": \"jianmo-bundle\", \"version\": 1, \"run\": {\"kind\": \"run\", "
			"\"status\": \"done\", \"artifacts\": [{\"name\": \"a\", \"file\": \"a\", "
			"\"member\": \"artifacts/a\", \"bytes\": %s, \"sha256\": \"%s\"}]}}",
			bytes[i], HELLO_SHA);
		tmember m[] = {{"manifest.json", 'f', man, NULL}, {"artifacts/a", 'f', "hello", NULL}};
		char name[32];
		snprintf(name, sizeof name, "bytes%zu.tar.gz", i);
		char *path = make_archive(name, m, 2);
		expect_refused(path, NULL, JM_EXIT_INPUT,
			       "run.artifacts[0]: \"bytes\": expected a whole number from 0 to 2^63-1");
		free(path);
		free(man);
	}
	/* too many bytes by one whole number is still a checksum mismatch */
	char *man = jm_xasprintf(
		"{\"format\": \"jianmo-bundle\", \"version\": 1, \"run\": {\"kind\": \"run\", "
		"\"status\": \"done\", \"artifacts\": [{\"name\": \"a\", \"file\": \"a\", "
		"\"member\": \"artifacts/a\", \"bytes\": 6, \"sha256\": \"%s\"}]}}", HELLO_SHA);
	tmember m[] = {{"manifest.json", 'f', man, NULL}, {"artifacts/a", 'f', "hello", NULL}};
	char *path = make_archive("bytes6.tar.gz", m, 2);
	expect_refused(path, NULL, JM_EXIT_INPUT,
		       "member \"artifacts/a\": checksum mismatch (manifest: 6 bytes, sha256 "
		       "2cf24dba5fb0..., bundle: 5 bytes, sha256 2cf24dba5fb0...)");
	free(path);
	free(man);
}

/* Found by fuzz/bundle_fuzz's contract check: a "file" with a component
 * over NAME_MAX failed in mkdir/rename as an I/O error (code 1); and a
 * "file" near the 1024-byte path limit imported, but once exported under
 * "trials/1/artifacts/" its member name went over the limit, so the
 * bundle jianmo wrote was refused by jianmo. */
Test(bundle, long_file_names)
{
	char *longname = malloc(301);
	memset(longname, 'a', 300);
	longname[300] = '\0';
	char *man = manifest_with(longname, "artifacts/model.bin", HELLO_SHA);
	tmember m[] = {{"manifest.json", 'f', man, NULL}, {"artifacts/model.bin", 'f', "hello", NULL}};
	char *path = make_archive("longname.tar.gz", m, 2);
	expect_refused(path, NULL, JM_EXIT_INPUT,
		       "aaaaaaaa\": a path component longer than 255 bytes is not allowed");
	free(path), free(man), free(longname);

	/* 5 folders of 200 bytes and a file: 1006 bytes, under the limit */
	jm_buf deep = JM_BUF_INIT;
	for (int i = 0; i < 5; i++) {
		for (int k = 0; k < 200; k++)
			jm_buf_addch(&deep, (char)('b' + i));
		jm_buf_addch(&deep, '/');
	}
	jm_buf_addstr(&deep, "cc");
	man = jm_xasprintf("{\"format\": \"jianmo-bundle\", \"version\": 1, \"run\": {\"kind\": "
			   "\"search\", \"status\": \"done\", \"children\": [{\"kind\": \"trial\", "
			   "\"status\": \"done\", \"artifacts\": [{\"name\": \"a\", \"file\": \"%s\", "
			   "\"member\": \"artifacts/model.bin\", \"bytes\": 5, \"sha256\": \"%s\"}]}]}}",
			   jm_buf_str(&deep), HELLO_SHA);
	tmember d[] = {{"manifest.json", 'f', man, NULL}, {"artifacts/model.bin", 'f', "hello", NULL}};
	path = make_archive("deep.tar.gz", d, 2);
	jm_err err = {0};
	int64_t top = 0, again = 0;
	cr_assert_eq(jm_bundle_import(dst, path, NULL, &top, NULL, &err), 0, "%s", err.msg);
	char *file = jm_xasprintf("%s/again.tar.gz", work);
	cr_assert_eq(jm_bundle_export(dst, top, file, NULL, &err), 0, "%s", err.msg);
	cr_assert_eq(jm_bundle_import(dst, file, NULL, &again, NULL, &err), 0, "%s", err.msg);
	char *a = describe_tree(dst, top), *b = describe_tree(dst, again);
	cr_expect_str_eq(a, b);
	free(a), free(b), free(file), free(path), free(man);
	jm_buf_release(&deep);
}

/* ---- trial numbers, time run, the same bundle twice ---------------------- */

/* A trial keeps its number through a bundle, however many of its siblings
 * were deleted before; a resumed run keeps the time it ran. */
Test(bundle, trial_numbers_and_time_run_travel)
{
	jm_err err = {0};
	make_source_runs(); /* search 1, trials 2 and 3 */
	int64_t t3 = new_run(src, "trial", 1, NULL, 0);
	cr_assert_eq(jm_store_run_set_status(src, t3, JM_RUN_DONE, NULL, &err), 0);
	cr_assert_eq(sqlite3_exec(jm_store_db(src), "DELETE FROM runs WHERE id = 2; UPDATE runs "
				  "SET prior = 42.5, resumed = started + 100 WHERE id = 1", NULL,
				  NULL, NULL), SQLITE_OK);
	char *file = jm_xasprintf("%s/gap.tar.gz", work);
	cr_assert_eq(jm_bundle_export(src, 1, file, NULL, &err), 0, "%s", err.msg);
	int64_t top = 0;
	cr_assert_eq(jm_bundle_import(dst, file, NULL, &top, NULL, &err), 0, "%s", err.msg);
	char *got = sql_text(dst, "SELECT number, prior FROM runs ORDER BY id");
	cr_expect_str_eq(got, "NULL|42.5;2|0.0;3|0.0");
	free(got);
	char *a = describe_tree(src, 1), *b = describe_tree(dst, top);
	cr_expect_str_eq(a, b);
	free(a), free(b), free(file);
}

/* A bundle from before trial numbers were kept: its trials are numbered in
 * the order the manifest lists them. */
Test(bundle, an_old_bundle_numbers_its_trials_in_order)
{
	const char *man =
		"{\"format\": \"jianmo-bundle\", \"version\": 1, \"run\": {\"id\": 5, \"kind\": "
		"\"search\", \"name\": \"s\", \"status\": \"done\", \"seed\": 1, \"created\": 17e8, "
		"\"children\": [{\"kind\": \"trial\", \"status\": \"done\", \"created\": 17e8}, "
		"{\"kind\": \"trial\", \"status\": \"failed\", \"created\": 17e8}]}}";
	tmember m[] = {{"manifest.json", 'f', man, NULL}};
	char *path = make_archive("old.tar.gz", m, 1);
	new_run(dst, "run", 0, "already here", 0);
	jm_err err = {0};
	int64_t run = 0;
	cr_assert_eq(jm_bundle_import(dst, path, NULL, &run, NULL, &err), 0, "%s", err.msg);
	char *got = sql_text(dst, "SELECT id, kind, number FROM runs WHERE id > 1 ORDER BY id");
	cr_expect_str_eq(got, "2|search|NULL;3|trial|1;4|trial|2");
	free(got);
	/* a number that is not one is refused */
	const char *bad =
		"{\"format\": \"jianmo-bundle\", \"version\": 1, \"run\": {\"kind\": \"search\", "
		"\"status\": \"done\", \"children\": [{\"kind\": \"trial\", \"status\": \"done\", "
		"\"number\": 1.5}]}}";
	tmember mb[] = {{"manifest.json", 'f', bad, NULL}};
	char *badpath = make_archive("bad.tar.gz", mb, 1);
	expect_refused(badpath, NULL, JM_EXIT_INPUT,
		       "manifest.json: run.children[0]: \"number\": expected a whole number from 1 "
		       "to 2^31-1 or null");
	free(badpath);
	free(path);
}

Test(bundle, importing_a_run_again_names_the_earlier_copy)
{
	jm_err err = {0};
	make_source_runs();
	char *file = jm_xasprintf("%s/s.tar.gz", work);
	cr_assert_eq(jm_bundle_export(src, 1, file, NULL, &err), 0, "%s", err.msg);
	new_run(dst, "run", 0, "already here", 0);
	jm_bundle_report r1 = {0}, r2 = {0}, r3 = {0};
	cr_assert_eq(jm_bundle_import_report(dst, file, NULL, &r1, &err), 0, "%s", err.msg);
	cr_expect_eq(r1.run, 2);
	cr_expect_eq(r1.n_runs, 3);
	cr_expect_eq(r1.bundle_run, 1);
	cr_expect_eq(r1.earlier, 0);
	cr_assert_eq(jm_bundle_import_report(dst, file, NULL, &r2, &err), 0, "%s", err.msg);
	cr_expect_eq(r2.run, 5);
	cr_expect_eq(r2.earlier, 2);
	cr_expect(r2.earlier_imported);
	/* back where it came from: the original, which was not imported */
	cr_assert_eq(jm_bundle_import_report(src, file, NULL, &r3, &err), 0, "%s", err.msg);
	cr_expect_eq(r3.earlier, 1);
	cr_expect(!r3.earlier_imported);
	free(file);
}
