/*
 * bundle.c: export a run (and its trials) to a .tar.gz and import it back
 * (layout and guarantees in bundle.h).
 *
 * Export:  runs/params/metrics/... rows ──json_run──▶ manifest.json ─┐
 *          HOME/<artifact path> ──stream + sha256 check──────────────┴─▶ tmp
 *          archive beside FILE ──rename──▶ FILE
 *
 * Import:  archive ──each member: name/type/size checks──▶ HOME/.import-X/m/N
 *          (hashed while streaming)    manifest.json ──▶ memory ──manifest_parse
 *          BEGIN ──import_run (validate + INSERT, move members into
 *          .import-X/<new id>/FILE)──▶ rename .import-X/<id> ──▶ runs/<id>
 *          ──▶ COMMIT (or move back + ROLLBACK) ──▶ rm -rf .import-X
 *
 * The manifest is JSON written and read through util/json.c (arrays of
 * numbers are parsed packed, as plain double arrays, so a run with millions
 * of metric points stays compact).  Non-finite metric values: NaN is null
 * (as in the store), +-inf is written +-1e999, which JSON readers take as
 * infinity.
 */
#include "store/bundle.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <limits.h>
#include <math.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "util/hash.h"
#include "util/json.h"
#include "util/outpath.h"
#include "util/strbuf.h"

#define BUNDLE_MANIFEST "manifest.json"
#define BUNDLE_MAX_RUN_DEPTH 4   /* run > children > ... */
#define BUNDLE_MAX_JSON_DEPTH 32
#define BUNDLE_MAX_JSON_NUMBER 63 /* longer number text is refused */
#define BUNDLE_IO_CHUNK (64 * 1024)
#define BUNDLE_MAX_PATH 1024     /* an artifact's file inside its run folder */
#define BUNDLE_MAX_COMPONENT 255 /* NAME_MAX: longer fails in mkdir/rename */
/* A member is "trials/K/artifacts/" and a file: room for that prefix, so
 * every file import takes can be exported and imported again. */
#define BUNDLE_MAX_MEMBER (BUNDLE_MAX_PATH + 64)

/* ---- small helpers ----------------------------------------------------- */

static double now_seconds(void)
{
	struct timeval tv;
	gettimeofday(&tv, NULL);
	return (double)tv.tv_sec + tv.tv_usec / 1e6;
}

static void hex_digest(const unsigned char *md, char hex[65])
{
	static const char digits[] = "0123456789abcdef";
	for (int i = 0; i < 32; i++) {
		hex[2 * i] = digits[md[i] >> 4];
		hex[2 * i + 1] = digits[md[i] & 15];
	}
	hex[64] = '\0';
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	remove(path);
	return 0;
}

/* rm -rf path (never follows links). */
static void remove_tree(const char *path)
{
	nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* mkdir -p for the folders of rel below base (rel's last component is a
 * file name and is not created). */
static int make_parents(const char *base, const char *rel, jm_err *err)
{
	char *path = jm_xasprintf("%s/%s", base, rel);
	int rc = 0;
	for (char *q = path + strlen(base) + 1; (q = strchr(q, '/')); q++) {
		*q = '\0';
		if (mkdir(path, 0755) < 0 && errno != EEXIST)
			rc = jm_err_set(err, JM_EXIT_FAIL, "%s: %s", path, strerror(errno));
		*q = '/';
		if (rc < 0)
			break;
	}
	free(path);
	return rc;
}

/* A relative path made only of ordinary components: no leading "/", no
 * empty, "." or ".." component, no control characters, at most max bytes
 * and BUNDLE_MAX_COMPONENT a component.  Returns NULL when fine, else what
 * is wrong. */
static const char *path_problem(const char *p, size_t max)
{
	if (!*p)
		return "an empty path";
	if (strlen(p) > max)
		return "a path that is too long";
	if (p[0] == '/')
		return "an absolute path";
	for (const char *q = p; *q; q++)
		if ((unsigned char)*q < 0x20 || *q == 0x7f)
			return "a control character in the path";
	const char *c = p;
	for (;;) {
		const char *end = strchr(c, '/');
		size_t len = end ? (size_t)(end - c) : strlen(c);
		if (len == 2 && !strncmp(c, "..", 2))
			return "a \"..\" component";
		if (len == 0 || (len == 1 && c[0] == '.'))
			return "an empty or \".\" component";
		if (len > BUNDLE_MAX_COMPONENT)
			return "a path component longer than 255 bytes";
		if (!end)
			return NULL;
		c = end + 1;
	}
}

/* ---- JSON ------------------------------------------------------------ */

/* How the manifest is written: \b and \f escaped short, +-inf as +-1e999. */
#define MANIFEST_JSON (JM_JSON_ESC_BF | JM_JSON_INF_1E999)

/* The grammar's words as this format has always given them. */
static const char *const manifest_words[JM_JSON_E_COUNT] = {
	[JM_JSON_E_KEY] = "expected a key",
	[JM_JSON_E_COLON] = "expected \":\"",
	[JM_JSON_E_ARRAY_SEP] = "expected \",\" or \"]\"",
	[JM_JSON_E_OBJECT_SEP] = "expected \",\" or \"}\"",
	[JM_JSON_E_TRAILING] = "text after the end",
};

/* Parse the manifest: arrays of numbers packed (a run may hold millions of
 * metric points), strings taken as bytes, a repeated key allowed (lookups
 * find the first); err gets "NAME: invalid JSON at byte N: what", N from 1. */
static int manifest_parse(const char *text, size_t n, const char *name, jm_json *out, jm_err *err)
{
	static const jm_json_opts opts = {
		.max_depth = BUNDLE_MAX_JSON_DEPTH,
		.max_number = BUNDLE_MAX_JSON_NUMBER,
		.flags = JM_JSON_ANY_BYTES | JM_JSON_DUP_KEYS | JM_JSON_PACK_NUMBERS,
		.words = manifest_words,
	};
	jm_json_error e;
	if (jm_json_parse(text, n, &opts, out, &e) == 0)
		return 0;
	return jm_err_set(err, JM_EXIT_INPUT, "%s: invalid JSON at byte %zu: %s", name,
			  e.offset + 1, e.what);
}

/* An array of numbers and nulls (NaN), as manifest_parse packs them. */
static int is_numbers(const jm_json *v)
{
	return v && v->type == JM_JSON_ARRAY && v->packed;
}

/* An array of other values (not packed), or an empty one. */
static int is_list(const jm_json *v)
{
	return v && v->type == JM_JSON_ARRAY && (!v->packed || v->n == 0);
}

/* ---- export ------------------------------------------------------------ */

typedef struct export_ctx {
	jm_store *s;
	sqlite3 *db;
	struct archive *ar;
	const char *path; /* the bundle, for messages */
	int n_runs;
	/* the artifact files to write after the manifest */
	struct export_file {
		char *member, *disk, *sha;
		int64_t bytes;
		int64_t run;
		char *name;
	} *files;
	size_t nfiles, capfiles;
} export_ctx;

static int sql_fail(sqlite3 *db, jm_err *err)
{
	return jm_err_set(err, JM_EXIT_FAIL, "store: %s", sqlite3_errmsg(db));
}

static sqlite3_stmt *prep(sqlite3 *db, const char *sql, int64_t run, jm_err *err)
{
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
		sql_fail(db, err);
		return NULL;
	}
	sqlite3_bind_int64(st, 1, run);
	return st;
}

static const char *col_text(sqlite3_stmt *st, int i)
{
	return (const char *)sqlite3_column_text(st, i);
}

static void json_col_num(jm_buf *b, sqlite3_stmt *st, int i)
{
	if (sqlite3_column_type(st, i) == SQLITE_NULL)
		jm_buf_addstr(b, "null");
	else
		jm_json_add_num(b, sqlite3_column_double(st, i), MANIFEST_JSON);
}

static int export_run(export_ctx *x, jm_buf *b, int64_t run, const char *member_prefix, int depth,
		      jm_err *err);

static int export_params_tags(export_ctx *x, jm_buf *b, int64_t run, jm_err *err)
{
	sqlite3_stmt *st = prep(x->db, "SELECT key, value FROM params WHERE run = ? ORDER BY key",
				run, err);
	if (!st)
		return -1;
	jm_buf_addstr(b, ",\n\"params\": {");
	int rc, first = 1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		jm_buf_addstr(b, first ? "" : ", ");
		jm_json_add_str(b, col_text(st, 0), MANIFEST_JSON);
		jm_buf_addstr(b, ": ");
		jm_json_add_str(b, col_text(st, 1), MANIFEST_JSON);
		first = 0;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return sql_fail(x->db, err);
	jm_buf_addstr(b, "},\n\"tags\": [");
	if (!(st = prep(x->db, "SELECT tag FROM tags WHERE run = ? ORDER BY tag", run, err)))
		return -1;
	first = 1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		jm_buf_addstr(b, first ? "" : ", ");
		jm_json_add_str(b, col_text(st, 0), MANIFEST_JSON);
		first = 0;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return sql_fail(x->db, err);
	jm_buf_addstr(b, "]");
	return 0;
}

/* "metrics": {"key": {"step": [...], "value": [...], "wall": [...]}}, the
 * points of each key in the order they were logged. */
static int export_metrics(export_ctx *x, jm_buf *b, int64_t run, jm_err *err)
{
	/* the points in logging order: metric_points ids ascend as points are
	 * logged, within the spans of (run, key) (see store/schema.sql) */
	sqlite3_stmt *keys = prep(x->db, "SELECT DISTINCT key FROM metric_spans WHERE run = ? "
				  "ORDER BY key", run, err);
	if (!keys)
		return -1;
	sqlite3_stmt *pts = prep(x->db, "SELECT p.step, p.value, p.wall FROM metric_spans s "
				 "JOIN metric_points p ON p.id BETWEEN s.first AND s.last "
				 "WHERE s.run = ? AND s.key = ? ORDER BY p.id", run, err);
	int rc = -1, step, first = 1;
	if (!pts)
		goto out;
	jm_buf_addstr(b, ",\n\"metrics\": {");
	while ((step = sqlite3_step(keys)) == SQLITE_ROW) {
		static const char *const cols[] = {"step", "value", "wall"};
		jm_buf_addstr(b, first ? "\n  " : ",\n  ");
		jm_json_add_str(b, col_text(keys, 0), MANIFEST_JSON);
		jm_buf_addstr(b, ": {");
		for (int c = 0; c < 3; c++) {
			sqlite3_reset(pts);
			sqlite3_bind_text(pts, 2, col_text(keys, 0), -1, SQLITE_TRANSIENT);
			jm_buf_printf(b, "%s\"%s\": [", c ? ", " : "", cols[c]);
			int n = 0, r;
			while ((r = sqlite3_step(pts)) == SQLITE_ROW) {
				jm_buf_addstr(b, n++ ? "," : "");
				if (c == 0)
					jm_buf_printf(b, "%lld", (long long)sqlite3_column_int64(pts, 0));
				else
					json_col_num(b, pts, c);
			}
			if (r != SQLITE_DONE) {
				sql_fail(x->db, err);
				goto out;
			}
			jm_buf_addstr(b, "]");
		}
		jm_buf_addstr(b, "}");
		first = 0;
	}
	if (step != SQLITE_DONE) {
		sql_fail(x->db, err);
		goto out;
	}
	jm_buf_addstr(b, "}");
	rc = 0;
out:
	sqlite3_finalize(keys);
	sqlite3_finalize(pts);
	return rc;
}

/* The path of an artifact inside its run folder ("runs/<id>/FILE"), or its
 * base name when it lies elsewhere in HOME. */
static char *artifact_file(int64_t run, const char *path)
{
	char prefix[64];
	snprintf(prefix, sizeof prefix, "runs/%lld/", (long long)run);
	size_t n = strlen(prefix);
	if (!strncmp(path, prefix, n) && path[n] && !path_problem(path + n, BUNDLE_MAX_PATH))
		return jm_xstrdup(path + n);
	const char *base = strrchr(path, '/');
	base = base ? base + 1 : path;
	return jm_xstrdup(path_problem(base, BUNDLE_MAX_PATH) ? "artifact" : base);
}

static int export_artifacts(export_ctx *x, jm_buf *b, int64_t run, const char *member_prefix,
			    jm_err *err)
{
	sqlite3_stmt *st = prep(x->db, "SELECT name, path, bytes, sha256, created FROM artifacts "
				"WHERE run = ? ORDER BY name", run, err);
	if (!st)
		return -1;
	jm_buf_addstr(b, ",\n\"artifacts\": [");
	int rc, n = 0;
	size_t first_file = x->nfiles;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		char *file = artifact_file(run, col_text(st, 1));
		/* two artifacts landing on one file name: number the later ones */
		for (size_t i = first_file; i < x->nfiles; i++) {
			if (strcmp(x->files[i].member + strlen(member_prefix), file))
				continue;
			char *renamed = jm_xasprintf("%d-%s", n, file);
			free(file);
			file = renamed;
			i = first_file - 1;
		}
		if (x->nfiles == x->capfiles) {
			x->capfiles = x->capfiles ? x->capfiles * 2 : 16;
			x->files = jm_xrealloc(x->files, x->capfiles * sizeof *x->files);
		}
		struct export_file *f = &x->files[x->nfiles++];
		f->member = jm_xasprintf("%s%s", member_prefix, file);
		f->disk = jm_xasprintf("%s/%s", jm_store_home(x->s), col_text(st, 1));
		f->sha = jm_xstrdup(col_text(st, 3) ? col_text(st, 3) : "");
		f->bytes = sqlite3_column_int64(st, 2);
		f->run = run;
		f->name = jm_xstrdup(col_text(st, 0));
		jm_buf_addstr(b, n++ ? ",\n  {\"name\": " : "\n  {\"name\": ");
		jm_json_add_str(b, f->name, MANIFEST_JSON);
		jm_buf_addstr(b, ", \"file\": ");
		jm_json_add_str(b, file, MANIFEST_JSON);
		jm_buf_addstr(b, ", \"member\": ");
		jm_json_add_str(b, f->member, MANIFEST_JSON);
		jm_buf_printf(b, ", \"bytes\": %lld, \"sha256\": ", (long long)f->bytes);
		jm_json_add_str(b, f->sha, MANIFEST_JSON);
		jm_buf_addstr(b, ", \"created\": ");
		json_col_num(b, st, 4);
		jm_buf_addstr(b, "}");
		free(file);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return sql_fail(x->db, err);
	jm_buf_addstr(b, "]");
	return 0;
}

static int export_children(export_ctx *x, jm_buf *b, int64_t run, int depth, jm_err *err)
{
	sqlite3_stmt *st = prep(x->db, "SELECT id FROM runs WHERE parent = ? ORDER BY id", run, err);
	if (!st)
		return -1;
	int64_t *kids = NULL;
	size_t n = 0, cap = 0;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			kids = jm_xrealloc(kids, cap * sizeof *kids);
		}
		kids[n++] = sqlite3_column_int64(st, 0);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		free(kids);
		return sql_fail(x->db, err);
	}
	jm_buf_addstr(b, ",\n\"children\": [");
	int ret = 0;
	for (size_t i = 0; i < n && ret == 0; i++) {
		char *prefix = jm_xasprintf("trials/%d/artifacts/", x->n_runs);
		jm_buf_addstr(b, i ? ",\n" : "\n");
		ret = export_run(x, b, kids[i], prefix, depth + 1, err);
		free(prefix);
	}
	free(kids);
	jm_buf_addstr(b, "]");
	return ret;
}

static int export_run(export_ctx *x, jm_buf *b, int64_t run, const char *member_prefix, int depth,
		      jm_err *err)
{
	if (depth >= BUNDLE_MAX_RUN_DEPTH)
		return jm_err_set(err, JM_EXIT_INPUT, "run %lld: runs nested more than %d deep",
				  (long long)run, BUNDLE_MAX_RUN_DEPTH);
	sqlite3_stmt *st = prep(x->db,
				"SELECT r.kind, r.name, r.status, r.seed, r.device, r.host, r.started, "
				"r.ended, r.created, r.error, f.name, f.text, r.number, r.resumed, "
				"r.prior FROM runs r LEFT JOIN flows f ON f.id = r.flow_id "
				"WHERE r.id = ?",
				run, err);
	if (!st)
		return -1;
	int rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		sqlite3_finalize(st);
		if (rc == SQLITE_DONE)
			return jm_err_set(err, JM_EXIT_INPUT, "no run \"%lld\" in %s", (long long)run,
					  jm_store_home(x->s));
		return sql_fail(x->db, err);
	}
	x->n_runs++;
	jm_buf_printf(b, "{\"id\": %lld, \"kind\": ", (long long)run);
	jm_json_add_str(b, col_text(st, 0), MANIFEST_JSON);
	jm_buf_addstr(b, ", \"name\": ");
	jm_json_add_str(b, col_text(st, 1), MANIFEST_JSON);
	jm_buf_addstr(b, ", \"status\": ");
	jm_json_add_str(b, col_text(st, 2), MANIFEST_JSON);
	jm_buf_printf(b, ", \"seed\": %" PRIu64, (uint64_t)sqlite3_column_int64(st, 3));
	jm_buf_addstr(b, ",\n\"device\": ");
	jm_json_add_str(b, col_text(st, 4), MANIFEST_JSON);
	jm_buf_addstr(b, ", \"host\": ");
	jm_json_add_str(b, col_text(st, 5), MANIFEST_JSON);
	static const char *const times[] = {"started", "ended", "created"};
	for (int i = 0; i < 3; i++) {
		jm_buf_printf(b, ", \"%s\": ", times[i]);
		json_col_num(b, st, 6 + i);
	}
	/* a trial's number, and the time run across --resume segments */
	jm_buf_addstr(b, ",\n\"number\": ");
	json_col_num(b, st, 12);
	jm_buf_addstr(b, ", \"resumed\": ");
	json_col_num(b, st, 13);
	jm_buf_addstr(b, ", \"prior\": ");
	json_col_num(b, st, 14);
	jm_buf_addstr(b, ",\n\"error\": ");
	jm_json_add_str(b, col_text(st, 9), MANIFEST_JSON);
	jm_buf_addstr(b, ",\n\"flow\": ");
	if (col_text(st, 11)) {
		jm_buf_addstr(b, "{\"name\": ");
		jm_json_add_str(b, col_text(st, 10) ? col_text(st, 10) : "", MANIFEST_JSON);
		jm_buf_addstr(b, ", \"text\": ");
		jm_json_add_str(b, col_text(st, 11), MANIFEST_JSON);
		jm_buf_addstr(b, "}");
	} else {
		jm_buf_addstr(b, "null");
	}
	sqlite3_finalize(st);
	if (export_params_tags(x, b, run, err) < 0 || export_metrics(x, b, run, err) < 0 ||
	    export_artifacts(x, b, run, member_prefix, err) < 0 ||
	    export_children(x, b, run, depth, err) < 0)
		return -1;
	jm_buf_addstr(b, "}");
	return 0;
}

static int ar_fail(export_ctx *x, jm_err *err)
{
	return jm_err_set(err, JM_EXIT_FAIL, "%s: %s", x->path, archive_error_string(x->ar));
}

static int write_member_header(export_ctx *x, const char *name, int64_t size, time_t mtime,
			       jm_err *err)
{
	struct archive_entry *e = archive_entry_new();
	archive_entry_set_pathname(e, name);
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0644);
	archive_entry_set_size(e, size);
	archive_entry_set_mtime(e, mtime, 0);
	/* ARCHIVE_WARN: a name the locale cannot turn into UTF-8 (any
	 * non-ASCII name in the C locale, which the CLI runs in, or bytes that
	 * are not UTF-8) went into the pax header as it is, marked
	 * hdrcharset=BINARY; import reads it back byte for byte */
	int r = archive_write_header(x->ar, e);
	int rc = r == ARCHIVE_OK || r == ARCHIVE_WARN ? 0 : ar_fail(x, err);
	archive_entry_free(e);
	return rc;
}

/* Copy one artifact file into the archive, checking it still is what the
 * store recorded (size and sha256). */
static int export_file(export_ctx *x, const struct export_file *f, jm_err *err)
{
	int fd = open(f->disk, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	struct stat st;
	int rc = -1;
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	char *chunk = jm_xmalloc(BUNDLE_IO_CHUNK);
	if (fd < 0 || fstat(fd, &st) < 0) {
		jm_err_set(err, JM_EXIT_FAIL, "run %lld: artifact \"%s\": %s: %s", (long long)f->run,
			   f->name, f->disk, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode) || st.st_size != f->bytes) {
		jm_err_set(err, JM_EXIT_FAIL,
			   "run %lld: artifact \"%s\": %s changed since it was recorded (%lld bytes "
			   "then, %lld now)",
			   (long long)f->run, f->name, f->disk, (long long)f->bytes,
			   (long long)st.st_size);
		goto out;
	}
	if (write_member_header(x, f->member, st.st_size, st.st_mtime, err) < 0)
		goto out;
	EVP_DigestInit_ex(md, EVP_sha256(), NULL);
	int64_t left = st.st_size;
	while (left > 0) {
		ssize_t got = read(fd, chunk, left < BUNDLE_IO_CHUNK ? (size_t)left : BUNDLE_IO_CHUNK);
		if (got <= 0) {
			jm_err_set(err, JM_EXIT_FAIL, "run %lld: artifact \"%s\": %s: %s",
				   (long long)f->run, f->name, f->disk,
				   got < 0 ? strerror(errno) : "file shrank while reading");
			goto out;
		}
		EVP_DigestUpdate(md, chunk, (size_t)got);
		if (archive_write_data(x->ar, chunk, (size_t)got) != got) {
			ar_fail(x, err);
			goto out;
		}
		left -= got;
	}
	unsigned char digest[32];
	char hex[65];
	EVP_DigestFinal_ex(md, digest, NULL);
	hex_digest(digest, hex);
	if (strcmp(hex, f->sha)) {
		jm_err_set(err, JM_EXIT_FAIL,
			   "run %lld: artifact \"%s\": %s changed since it was recorded (sha256 "
			   "differs)",
			   (long long)f->run, f->name, f->disk);
		goto out;
	}
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	EVP_MD_CTX_free(md);
	free(chunk);
	return rc;
}

int jm_bundle_export(jm_store *s, int64_t run, const char *path, int *n_runs, jm_err *err)
{
	export_ctx x = {.s = s, .db = jm_store_db(s), .path = path};
	jm_buf manifest = JM_BUF_INIT;
	char *tmp = jm_xasprintf("%s.tmp-XXXXXX", path);
	int fd = -1, rc = -1, began = 0;
	if (n_runs)
		*n_runs = 0;
	/* one read transaction: a consistent view of the run tree */
	if (sqlite3_exec(x.db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK) {
		sql_fail(x.db, err);
		goto out;
	}
	began = 1;
	jm_buf_printf(&manifest, "{\"format\": \"%s\", \"version\": %d, \"jianmo\": \"%s\", "
		   "\"exported\": ", JM_BUNDLE_FORMAT, JM_BUNDLE_VERSION, PACKAGE_VERSION);
	jm_json_add_num(&manifest, now_seconds(), MANIFEST_JSON);
	jm_buf_addstr(&manifest, ",\n\"run\": ");
	if (export_run(&x, &manifest, run, "artifacts/", 0, err) < 0)
		goto out;
	jm_buf_addstr(&manifest, "}\n");
	if ((fd = jm_mkstemp_file(tmp)) < 0) {
		jm_err_set(err, JM_EXIT_FAIL, "%s: %s", tmp, strerror(errno));
		goto out;
	}
	x.ar = archive_write_new();
	if (archive_write_add_filter_gzip(x.ar) != ARCHIVE_OK ||
	    archive_write_set_format_pax_restricted(x.ar) != ARCHIVE_OK ||
	    archive_write_open_fd(x.ar, fd) != ARCHIVE_OK) {
		ar_fail(&x, err);
		goto out;
	}
	if (write_member_header(&x, BUNDLE_MANIFEST, (int64_t)manifest.len, time(NULL), err) < 0)
		goto out;
	if (archive_write_data(x.ar, manifest.s, manifest.len) != (la_ssize_t)manifest.len) {
		ar_fail(&x, err);
		goto out;
	}
	for (size_t i = 0; i < x.nfiles; i++)
		if (export_file(&x, &x.files[i], err) < 0)
			goto out;
	if (archive_write_close(x.ar) != ARCHIVE_OK) {
		ar_fail(&x, err);
		goto out;
	}
	if (fsync(fd) < 0 || rename(tmp, path) < 0) {
		jm_err_set(err, JM_EXIT_FAIL, "%s: %s", path, strerror(errno));
		goto out;
	}
	if (n_runs)
		*n_runs = x.n_runs;
	rc = 0;
out:
	if (began)
		sqlite3_exec(x.db, "COMMIT", NULL, NULL, NULL);
	if (x.ar)
		archive_write_free(x.ar);
	if (fd >= 0) {
		close(fd);
		if (rc < 0)
			unlink(tmp);
	}
	for (size_t i = 0; i < x.nfiles; i++) {
		free(x.files[i].member);
		free(x.files[i].disk);
		free(x.files[i].sha);
		free(x.files[i].name);
	}
	free(x.files);
	jm_buf_release(&manifest);
	free(tmp);
	return rc;
}

/* ---- import: reading the archive --------------------------------------- */

typedef struct member {
	char *name;  /* as in the archive, without a leading "./" */
	char *tmp;   /* where its bytes are: .import-X/m/N */
	int64_t bytes;
	char sha[65];
	int used;    /* claimed by an artifact of the manifest */
} member;

typedef struct import_ctx {
	jm_store *s;
	sqlite3 *db;
	const char *path; /* the bundle, for messages */
	jm_bundle_limits lim;
	char *tmpdir;     /* HOME/.import-XXXXXX */
	member *members;
	size_t nmembers, capmembers;
	char *manifest;
	size_t manifest_len;
	int64_t total;
	/* runs added, in order: their new ids (folders .import-X/<id>) */
	int64_t *runs;
	size_t nruns, capruns;
	size_t moved; /* how many run folders are in runs/ already */
	jm_bundle_report *report;
	sqlite3_stmt *st_run, *st_param, *st_tag, *st_metric, *st_summary, *st_artifact,
		*st_flow, *st_flow_id;
} import_ctx;

static int member_refuse(import_ctx *m, jm_err *err, const char *name, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int member_refuse(import_ctx *m, jm_err *err, const char *name, const char *fmt, ...)
{
	char what[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof what, fmt, ap);
	va_end(ap);
	return jm_err_set(err, JM_EXIT_INPUT, "%s: member \"%.300s\": %s", m->path, name, what);
}

/* Why an entry may not be extracted, or NULL. */
static const char *entry_type_problem(struct archive_entry *e)
{
	if (archive_entry_hardlink(e))
		return "hard links are not allowed";
	static const struct {
		mode_t type;
		const char *problem;
	} types[] = {
		{AE_IFREG, NULL},
		{AE_IFDIR, NULL},
		{AE_IFLNK, "symbolic links are not allowed"},
		{AE_IFCHR, "device files are not allowed"},
		{AE_IFBLK, "device files are not allowed"},
		{AE_IFIFO, "fifos are not allowed"},
		{AE_IFSOCK, "sockets are not allowed"},
	};
	mode_t t = archive_entry_filetype(e);
	for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
		if (types[i].type == t)
			return types[i].problem;
	return "unsupported member type";
}

/* Stream the current entry's data to fd (or into memory when fd < 0),
 * hashing it; at most size bytes are accepted. */
static int read_member_data(import_ctx *m, struct archive *ar, const char *name, int fd,
			    int64_t size, jm_buf *mem, char sha[65], int64_t *got_bytes, jm_err *err)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	char *chunk = jm_xmalloc(BUNDLE_IO_CHUNK);
	int64_t got = 0;
	int rc = -1;
	EVP_DigestInit_ex(md, EVP_sha256(), NULL);
	for (;;) {
		la_ssize_t n = archive_read_data(ar, chunk, BUNDLE_IO_CHUNK);
		if (n == 0)
			break;
		if (n < 0) {
			jm_err_set(err, JM_EXIT_INPUT, "%s: member \"%.300s\": %s", m->path, name,
				   archive_error_string(ar));
			goto out;
		}
		got += n;
		if (got > size) {
			member_refuse(m, err, name, "more data than its header says");
			goto out;
		}
		EVP_DigestUpdate(md, chunk, (size_t)n);
		if (fd < 0) {
			jm_buf_add(mem, chunk, (size_t)n);
			continue;
		}
		for (la_ssize_t off = 0; off < n;) {
			ssize_t w = write(fd, chunk + off, (size_t)(n - off));
			if (w < 0) {
				jm_err_set(err, JM_EXIT_FAIL, "%s: extracting \"%.300s\": %s",
					   m->tmpdir, name, strerror(errno));
				goto out;
			}
			off += w;
		}
	}
	unsigned char digest[32];
	EVP_DigestFinal_ex(md, digest, NULL);
	hex_digest(digest, sha);
	*got_bytes = got;
	rc = 0;
out:
	EVP_MD_CTX_free(md);
	free(chunk);
	return rc;
}

static int extract_entry(import_ctx *m, struct archive *ar, struct archive_entry *e, jm_err *err)
{
	const char *raw = archive_entry_pathname(e);
	if (!raw)
		raw = archive_entry_pathname_utf8(e);
	if (!raw)
		return member_refuse(m, err, "?", "its name cannot be read");
	const char *name = raw;
	while (!strncmp(name, "./", 2))
		name += 2;
	int is_dir = archive_entry_filetype(e) == AE_IFDIR;
	char *trimmed = jm_xstrdup(name);
	size_t tl = strlen(trimmed);
	while (is_dir && tl > 0 && trimmed[tl - 1] == '/')
		trimmed[--tl] = '\0';
	int rc = -1;
	const char *problem = NULL;
	if (!(is_dir && tl == 0) && (problem = path_problem(trimmed, BUNDLE_MAX_MEMBER))) {
		member_refuse(m, err, raw, "%s is not allowed", problem);
		goto out;
	}
	if ((problem = entry_type_problem(e))) {
		member_refuse(m, err, raw, "%s", problem);
		goto out;
	}
	if (is_dir) { /* folders carry nothing we need */
		rc = 0;
		goto out;
	}
	if (archive_entry_sparse_count(e) > 0) {
		member_refuse(m, err, raw, "sparse files are not allowed");
		goto out;
	}
	int64_t size = archive_entry_size_is_set(e) ? archive_entry_size(e) : -1;
	int is_manifest = !strcmp(trimmed, BUNDLE_MANIFEST);
	int64_t cap = is_manifest ? m->lim.manifest_max : m->lim.member_max;
	if (size < 0) {
		member_refuse(m, err, raw, "its size is not recorded");
		goto out;
	}
	if (size > cap) {
		member_refuse(m, err, raw, "%lld bytes, over the limit of %lld", (long long)size,
			      (long long)cap);
		goto out;
	}
	if (size > m->lim.total_max - m->total) {
		member_refuse(m, err, raw, "the bundle holds more than %lld bytes in all",
			      (long long)m->lim.total_max);
		goto out;
	}
	m->total += size;
	if (is_manifest && m->manifest) {
		member_refuse(m, err, raw, "appears twice");
		goto out;
	}
	for (size_t i = 0; i < m->nmembers; i++)
		if (!strcmp(m->members[i].name, trimmed)) {
			member_refuse(m, err, raw, "appears twice");
			goto out;
		}
	char sha[65];
	int64_t got = 0;
	if (is_manifest) {
		jm_buf mem = JM_BUF_INIT;
		if (read_member_data(m, ar, raw, -1, size, &mem, sha, &got, err) < 0) {
			jm_buf_release(&mem);
			goto out;
		}
		m->manifest = jm_buf_detach(&mem, &m->manifest_len);
		rc = 0;
		goto out;
	}
	if (m->nmembers == m->capmembers) {
		m->capmembers = m->capmembers ? m->capmembers * 2 : 16;
		m->members = jm_xrealloc(m->members, m->capmembers * sizeof *m->members);
	}
	member *mb = &m->members[m->nmembers];
	memset(mb, 0, sizeof *mb);
	mb->tmp = jm_xasprintf("%s/m/%zu", m->tmpdir, m->nmembers);
	mb->name = trimmed;
	trimmed = NULL;
	m->nmembers++;
	int fd = open(mb->tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0) {
		jm_err_set(err, JM_EXIT_FAIL, "%s: %s", mb->tmp, strerror(errno));
		goto out;
	}
	rc = read_member_data(m, ar, raw, fd, size, NULL, mb->sha, &mb->bytes, err);
	if (close(fd) < 0 && rc == 0)
		rc = jm_err_set(err, JM_EXIT_FAIL, "%s: %s", mb->tmp, strerror(errno));
out:
	free(trimmed);
	return rc;
}

static int read_archive(import_ctx *m, jm_err *err)
{
	struct archive *ar = archive_read_new();
	struct archive_entry *e;
	int rc = -1, r;
	archive_read_support_filter_gzip(ar);
	archive_read_support_format_tar(ar);
	if (archive_read_open_filename(ar, m->path, BUNDLE_IO_CHUNK) != ARCHIVE_OK) {
		jm_err_set(err, JM_EXIT_INPUT, "%s: %s", m->path, archive_error_string(ar));
		goto out;
	}
	while ((r = archive_read_next_header(ar, &e)) != ARCHIVE_EOF) {
		if (r != ARCHIVE_OK && r != ARCHIVE_WARN) {
			jm_err_set(err, JM_EXIT_INPUT, "%s: not a readable bundle: %s", m->path,
				   archive_error_string(ar));
			goto out;
		}
		if (extract_entry(m, ar, e, err) < 0)
			goto out;
	}
	if (!m->manifest) {
		jm_err_set(err, JM_EXIT_INPUT, "%s: not a jianmo bundle (no %s)", m->path,
			   BUNDLE_MANIFEST);
		goto out;
	}
	rc = 0;
out:
	archive_read_free(ar);
	return rc;
}

/* ---- import: the manifest into the store ----------------------------- */

/* err: "FILE: manifest.json: WHERE: WHAT". */
static int bad(import_ctx *m, jm_err *err, const char *where, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int bad(import_ctx *m, jm_err *err, const char *where, const char *fmt, ...)
{
	char what[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof what, fmt, ap);
	va_end(ap);
	return jm_err_set(err, JM_EXIT_INPUT, "%s: %s: %s: %s", m->path, BUNDLE_MANIFEST, where,
			  what);
}

/* A string field (NULL allowed when nullable); *out borrowed. */
static int get_str(import_ctx *m, const jm_json *obj, const char *where, const char *key,
		   int nullable, const char **out, jm_err *err)
{
	const jm_json *v = jm_json_get(obj, key);
	*out = NULL;
	if ((!v || v->type == JM_JSON_NULL) && nullable)
		return 0;
	if (!v || v->type != JM_JSON_STRING)
		return bad(m, err, where, "\"%s\": expected a string%s", key,
			   nullable ? " or null" : "");
	*out = v->str;
	return 0;
}

/* A number field; *present is 0 for null/absent when nullable. */
static int get_num(import_ctx *m, const jm_json *obj, const char *where, const char *key,
		   int nullable, double *out, int *present, jm_err *err)
{
	const jm_json *v = jm_json_get(obj, key);
	*present = 0;
	if ((!v || v->type == JM_JSON_NULL) && nullable)
		return 0;
	if (!v || v->type != JM_JSON_NUMBER || !isfinite(v->num))
		return bad(m, err, where, "\"%s\": expected a number%s", key,
			   nullable ? " or null" : "");
	*out = v->num;
	*present = 1;
	return 0;
}

static void bind_num_or_null(sqlite3_stmt *st, int i, double v, int present)
{
	if (present)
		sqlite3_bind_double(st, i, v);
	else
		sqlite3_bind_null(st, i);
}

static int step_done(import_ctx *m, sqlite3_stmt *st, const char *where, jm_err *err)
{
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc == SQLITE_DONE)
		return 0;
	if ((rc & 0xff) == SQLITE_CONSTRAINT)
		return bad(m, err, where, "%s", sqlite3_errmsg(m->db));
	return sql_fail(m->db, err);
}

static const char *const run_kinds[] = {"run", "search", "trial"};
static const char *const run_statuses[] = {
	JM_RUN_QUEUED, JM_RUN_RUNNING, JM_RUN_DONE, JM_RUN_FAILED,
	JM_RUN_STOPPED, JM_RUN_PRUNED, JM_RUN_CRASHED,
};

static int one_of(const char *s, const char *const *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(s, list[i]))
			return 1;
	return 0;
}

static int import_flow(import_ctx *m, const jm_json *run, const char *where, int64_t *flow_id,
		       jm_err *err)
{
	const jm_json *flow = jm_json_get(run, "flow");
	*flow_id = 0;
	if (!flow || flow->type == JM_JSON_NULL)
		return 0;
	const char *name, *text;
	char w[300];
	snprintf(w, sizeof w, "%s.flow", where);
	if (flow->type != JM_JSON_OBJECT)
		return bad(m, err, where, "\"flow\": expected an object or null");
	if (get_str(m, flow, w, "name", 0, &name, err) < 0 ||
	    get_str(m, flow, w, "text", 0, &text, err) < 0)
		return -1;
	char sha[65];
	jm_sha256_hex(text, strlen(text), sha);
	sqlite3_bind_text(m->st_flow, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_text(m->st_flow, 2, text, -1, SQLITE_STATIC);
	sqlite3_bind_text(m->st_flow, 3, sha, 64, SQLITE_STATIC);
	sqlite3_bind_double(m->st_flow, 4, now_seconds());
	if (step_done(m, m->st_flow, w, err) < 0)
		return -1;
	sqlite3_bind_text(m->st_flow_id, 1, sha, 64, SQLITE_STATIC);
	int rc = sqlite3_step(m->st_flow_id);
	if (rc == SQLITE_ROW)
		*flow_id = sqlite3_column_int64(m->st_flow_id, 0);
	sqlite3_reset(m->st_flow_id);
	return rc == SQLITE_ROW ? 0 : sql_fail(m->db, err);
}

static int import_params_tags(import_ctx *m, const jm_json *run, const char *where, int64_t id,
			      jm_err *err)
{
	const jm_json *params = jm_json_get(run, "params");
	if (params && params->type != JM_JSON_OBJECT && params->type != JM_JSON_NULL)
		return bad(m, err, where, "\"params\": expected an object");
	for (size_t i = 0; params && params->type == JM_JSON_OBJECT && i < params->n; i++) {
		if (params->items[i].type != JM_JSON_STRING || !params->keys[i][0])
			return bad(m, err, where, "params \"%.100s\": expected a name and a string value",
				   params->keys[i]);
		sqlite3_bind_int64(m->st_param, 1, id);
		sqlite3_bind_text(m->st_param, 2, params->keys[i], -1, SQLITE_STATIC);
		sqlite3_bind_text(m->st_param, 3, params->items[i].str, -1, SQLITE_STATIC);
		if (step_done(m, m->st_param, where, err) < 0)
			return -1;
	}
	const jm_json *tags = jm_json_get(run, "tags");
	if (tags && tags->type != JM_JSON_NULL && !is_list(tags))
		return bad(m, err, where, "\"tags\": expected an array of strings");
	for (size_t i = 0; is_list(tags) && i < tags->n; i++) {
		if (tags->items[i].type != JM_JSON_STRING || !tags->items[i].str[0])
			return bad(m, err, where, "\"tags\": expected an array of strings");
		sqlite3_bind_int64(m->st_tag, 1, id);
		sqlite3_bind_text(m->st_tag, 2, tags->items[i].str, -1, SQLITE_STATIC);
		if (step_done(m, m->st_tag, where, err) < 0)
			return -1;
	}
	return 0;
}

/* The summary row the metric writer would keep for these points: last =
 * the point logged last, min/max over the numbers, count = all points. */
static int import_summary(import_ctx *m, const char *where, int64_t id, const char *key,
			  const jm_json *steps, const jm_json *values, jm_err *err)
{
	size_t n = values->n;
	double lo = NAN, hi = NAN;
	for (size_t i = 0; i < n; i++) {
		double v = values->nums[i];
		if (isnan(v))
			continue;
		lo = isnan(lo) || v < lo ? v : lo;
		hi = isnan(hi) || v > hi ? v : hi;
	}
	sqlite3_stmt *st = m->st_summary;
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
	bind_num_or_null(st, 3, values->nums[n - 1], !isnan(values->nums[n - 1]));
	sqlite3_bind_int64(st, 4, (int64_t)steps->nums[n - 1]);
	bind_num_or_null(st, 5, lo, !isnan(lo));
	bind_num_or_null(st, 6, hi, !isnan(hi));
	sqlite3_bind_int64(st, 7, (int64_t)n);
	return step_done(m, st, where, err);
}

static int import_metrics(import_ctx *m, const jm_json *run, const char *where, int64_t id,
			  jm_err *err)
{
	const jm_json *metrics = jm_json_get(run, "metrics");
	if (!metrics || metrics->type == JM_JSON_NULL)
		return 0;
	if (metrics->type != JM_JSON_OBJECT)
		return bad(m, err, where, "\"metrics\": expected an object");
	for (size_t k = 0; k < metrics->n; k++) {
		const char *key = metrics->keys[k];
		const jm_json *cols[3];
		static const char *const names[] = {"step", "value", "wall"};
		for (int c = 0; c < 3; c++) {
			cols[c] = jm_json_get(&metrics->items[k], names[c]);
			if (!is_numbers(cols[c]) || cols[c]->n != cols[0]->n)
				return bad(m, err, where,
					   "metric \"%.100s\": expected \"step\", \"value\" and \"wall\" "
					   "as number arrays of one length",
					   key);
		}
		if (!key[0] || cols[0]->n == 0)
			return bad(m, err, where, "metric \"%.100s\": empty name or no points", key);
		for (size_t i = 0; i < cols[0]->n; i++) {
			double step = cols[0]->nums[i], value = cols[1]->nums[i], wall = cols[2]->nums[i];
			if (!isfinite(step) || step != floor(step) || fabs(step) > 9e15 || !isfinite(wall))
				return bad(m, err, where, "metric \"%.100s\": point %zu: bad step or wall time",
					   key, i + 1);
			sqlite3_bind_int64(m->st_metric, 1, id);
			sqlite3_bind_text(m->st_metric, 2, key, -1, SQLITE_STATIC);
			sqlite3_bind_int64(m->st_metric, 3, (int64_t)step);
			if (isnan(value))
				sqlite3_bind_null(m->st_metric, 4);
			else
				sqlite3_bind_double(m->st_metric, 4, value);
			sqlite3_bind_double(m->st_metric, 5, wall);
			if (step_done(m, m->st_metric, where, err) < 0)
				return -1;
		}
		if (import_summary(m, where, id, key, cols[0], cols[1], err) < 0)
			return -1;
	}
	return 0;
}
static int is_sha256_hex(const char *s)
{
	size_t n = 0;
	for (; s[n]; n++)
		if (!strchr("0123456789abcdef", s[n]))
			return 0;
	return n == 64;
}

/* Why file cannot go into rundir beside the artifacts already moved there,
 * or NULL: each folder on its way must be a folder or not yet exist, and
 * the file itself must not exist. */
static const char *file_conflict(const char *rundir, const char *file)
{
	char *path = jm_xasprintf("%s/%s", rundir, file);
	char *q = path + strlen(rundir);
	const char *problem = NULL;
	struct stat st;
	while (!problem && q) {
		q = strchr(q + 1, '/');
		if (q)
			*q = '\0';
		if (lstat(path, &st) == 0) {
			if (q && !S_ISDIR(st.st_mode))
				problem = "collides with another artifact's file";
			else if (!q)
				problem = S_ISDIR(st.st_mode) ? "collides with another artifact's folder"
							      : "is listed twice";
		}
		if (q)
			*q = '/';
	}
	free(path);
	return problem;
}

static member *member_find(import_ctx *m, const char *name)
{
	for (size_t i = 0; i < m->nmembers; i++)
		if (!strcmp(m->members[i].name, name))
			return &m->members[i];
	return NULL;
}

static int import_artifacts(import_ctx *m, const jm_json *run, const char *where, int64_t id,
			    jm_err *err)
{
	const jm_json *arts = jm_json_get(run, "artifacts");
	if (!arts || arts->type == JM_JSON_NULL || (is_numbers(arts) && arts->n == 0))
		return 0;
	if (!is_list(arts))
		return bad(m, err, where, "\"artifacts\": expected an array of objects");
	char *rundir = jm_xasprintf("%s/%lld", m->tmpdir, (long long)id);
	int rc = -1;
	for (size_t i = 0; i < arts->n; i++) {
		const jm_json *a = &arts->items[i];
		char w[300];
		snprintf(w, sizeof w, "%s.artifacts[%zu]", where, i);
		const char *name, *file, *mname, *sha;
		double bytes, created;
		int has_bytes, has_created;
		const char *problem;
		if (a->type != JM_JSON_OBJECT) {
			bad(m, err, w, "expected an object");
			goto out;
		}
		if (get_str(m, a, w, "name", 0, &name, err) < 0 ||
		    get_str(m, a, w, "file", 0, &file, err) < 0 ||
		    get_str(m, a, w, "member", 0, &mname, err) < 0 ||
		    get_str(m, a, w, "sha256", 0, &sha, err) < 0 ||
		    get_num(m, a, w, "bytes", 0, &bytes, &has_bytes, err) < 0 ||
		    get_num(m, a, w, "created", 1, &created, &has_created, err) < 0)
			goto out;
		/* a whole number before anything compares or prints it as one */
		if (bytes < 0 || bytes != floor(bytes) || bytes >= 0x1p63) {
			bad(m, err, w, "\"bytes\": expected a whole number from 0 to 2^63-1");
			goto out;
		}
		problem = path_problem(file, BUNDLE_MAX_PATH);
		if (problem || !name[0]) {
			bad(m, err, w, "\"file\" \"%.200s\": %s is not allowed", file,
			    problem ? problem : "an empty name");
			goto out;
		}
		if (!is_sha256_hex(sha)) {
			bad(m, err, w, "\"sha256\": expected 64 lowercase hex digits");
			goto out;
		}
		member *mb = member_find(m, mname);
		if (!mb) {
			jm_err_set(err, JM_EXIT_INPUT, "%s: member \"%.300s\" listed in %s is missing",
				   m->path, mname, BUNDLE_MANIFEST);
			goto out;
		}
		if (mb->used) {
			member_refuse(m, err, mname, "listed twice in %s", BUNDLE_MANIFEST);
			goto out;
		}
		mb->used = 1;
		if ((double)mb->bytes != bytes || strcmp(mb->sha, sha)) {
			member_refuse(m, err, mname,
				      "checksum mismatch (manifest: %lld bytes, sha256 %.12s..., "
				      "bundle: %lld bytes, sha256 %.12s...)",
				      (long long)bytes, sha, (long long)mb->bytes, mb->sha);
			goto out;
		}
		/* checked here, so that mkdir and rename below fail only for
		 * real I/O reasons */
		if ((problem = file_conflict(rundir, file))) {
			bad(m, err, w, "\"file\" \"%.200s\" %s", file, problem);
			goto out;
		}
		char *dest = jm_xasprintf("%s/%s", rundir, file);
		if (make_parents(rundir, file, err) < 0) {
			free(dest);
			goto out;
		}
		if (rename(mb->tmp, dest) < 0) {
			jm_err_set(err, JM_EXIT_FAIL, "%s: %s", dest, strerror(errno));
			free(dest);
			goto out;
		}
		free(dest);
		char *rel = jm_xasprintf("runs/%lld/%s", (long long)id, file);
		sqlite3_bind_int64(m->st_artifact, 1, id);
		sqlite3_bind_text(m->st_artifact, 2, name, -1, SQLITE_STATIC);
		sqlite3_bind_text(m->st_artifact, 3, rel, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(m->st_artifact, 4, mb->bytes);
		sqlite3_bind_text(m->st_artifact, 5, sha, 64, SQLITE_STATIC);
		sqlite3_bind_double(m->st_artifact, 6, has_created ? created : now_seconds());
		free(rel);
		if (step_done(m, m->st_artifact, w, err) < 0)
			goto out;
	}
	rc = 0;
out:
	free(rundir);
	return rc;
}

static int import_run(import_ctx *m, const jm_json *run, const char *where, int64_t parent,
		      int depth, int64_t *new_id, jm_err *err)
{
	if (depth >= BUNDLE_MAX_RUN_DEPTH)
		return bad(m, err, where, "runs nested more than %d deep", BUNDLE_MAX_RUN_DEPTH);
	if (!run || run->type != JM_JSON_OBJECT)
		return bad(m, err, where, "expected an object");
	const char *kind, *name, *status, *device, *host, *error;
	double t[3];
	int has_t[3];
	static const char *const times[] = {"started", "ended", "created"};
	if (get_str(m, run, where, "kind", 0, &kind, err) < 0 ||
	    get_str(m, run, where, "name", 1, &name, err) < 0 ||
	    get_str(m, run, where, "status", 0, &status, err) < 0 ||
	    get_str(m, run, where, "device", 1, &device, err) < 0 ||
	    get_str(m, run, where, "host", 1, &host, err) < 0 ||
	    get_str(m, run, where, "error", 1, &error, err) < 0)
		return -1;
	for (int i = 0; i < 3; i++)
		if (get_num(m, run, where, times[i], 1, &t[i], &has_t[i], err) < 0)
			return -1;
	if (!one_of(kind, run_kinds, sizeof run_kinds / sizeof run_kinds[0]))
		return bad(m, err, where, "\"kind\": expected run, search or trial, got \"%.40s\"",
			   kind);
	if (!one_of(status, run_statuses, sizeof run_statuses / sizeof run_statuses[0]))
		return bad(m, err, where, "\"status\": unknown status \"%.40s\"", status);
	/* an imported run is never live */
	if (!strcmp(status, JM_RUN_RUNNING) || !strcmp(status, JM_RUN_QUEUED))
		status = JM_RUN_STOPPED;
	const jm_json *seed = jm_json_get(run, "seed");
	uint64_t seed_v = 0;
	if (seed && seed->type != JM_JSON_NULL && !jm_json_as_u64(seed, &seed_v))
		return bad(m, err, where, "\"seed\": expected an integer from 0 to 2^64-1");
	double number, resumed, prior;
	int has_number, has_resumed, has_prior;
	if (get_num(m, run, where, "number", 1, &number, &has_number, err) < 0 ||
	    get_num(m, run, where, "resumed", 1, &resumed, &has_resumed, err) < 0 ||
	    get_num(m, run, where, "prior", 1, &prior, &has_prior, err) < 0)
		return -1;
	/* no number (a bundle from before numbers were kept): the store's
	 * trigger numbers the trial, in the order the manifest lists them */
	if (has_number && (number < 1 || number > INT_MAX || number != floor(number)))
		return bad(m, err, where, "\"number\": expected a whole number from 1 to 2^31-1 or "
			   "null");
	if (has_prior && prior < 0)
		return bad(m, err, where, "\"prior\": expected seconds >= 0 or null");
	int64_t flow_id;
	if (import_flow(m, run, where, &flow_id, err) < 0)
		return -1;
	sqlite3_stmt *st = m->st_run;
	sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC);
	if (parent)
		sqlite3_bind_int64(st, 2, parent);
	else
		sqlite3_bind_null(st, 2);
	if (flow_id)
		sqlite3_bind_int64(st, 3, flow_id);
	else
		sqlite3_bind_null(st, 3);
	sqlite3_bind_text(st, 4, name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, status, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, host, -1, SQLITE_STATIC);
	bind_num_or_null(st, 7, t[0], has_t[0]);
	bind_num_or_null(st, 8, t[1], has_t[1]);
	sqlite3_bind_int64(st, 9, (int64_t)seed_v);
	sqlite3_bind_text(st, 10, device, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 11, error, -1, SQLITE_STATIC);
	sqlite3_bind_double(st, 12, has_t[2] ? t[2] : now_seconds());
	if (has_number)
		sqlite3_bind_int64(st, 13, (int64_t)number);
	else
		sqlite3_bind_null(st, 13);
	bind_num_or_null(st, 14, resumed, has_resumed);
	sqlite3_bind_double(st, 15, has_prior ? prior : 0);
	if (step_done(m, st, where, err) < 0)
		return -1;
	int64_t id = sqlite3_last_insert_rowid(m->db);
	*new_id = id;
	if (m->nruns == m->capruns) {
		m->capruns = m->capruns ? m->capruns * 2 : 16;
		m->runs = jm_xrealloc(m->runs, m->capruns * sizeof *m->runs);
	}
	m->runs[m->nruns++] = id;
	char *rundir = jm_xasprintf("%s/%lld", m->tmpdir, (long long)id);
	int made = mkdir(rundir, 0755);
	if (made < 0)
		jm_err_set(err, JM_EXIT_FAIL, "%s: %s", rundir, strerror(errno));
	free(rundir);
	if (made < 0 || import_params_tags(m, run, where, id, err) < 0 ||
	    import_metrics(m, run, where, id, err) < 0 || import_artifacts(m, run, where, id, err) < 0)
		return -1;
	const jm_json *kids = jm_json_get(run, "children");
	if (!kids || kids->type == JM_JSON_NULL || (is_numbers(kids) && kids->n == 0))
		return 0;
	if (!is_list(kids))
		return bad(m, err, where, "\"children\": expected an array of runs");
	for (size_t i = 0; i < kids->n; i++) {
		char w[300];
		int64_t kid;
		snprintf(w, sizeof w, "%s.children[%zu]", where, i);
		if (import_run(m, &kids->items[i], w, id, depth + 1, &kid, err) < 0)
			return -1;
	}
	return 0;
}

static const struct {
	size_t offset;
	const char *sql;
} import_stmts[] = {
	{offsetof(import_ctx, st_run),
	 "INSERT INTO runs(id, kind, parent, flow_id, name, status, host, started, ended, seed, "
	 "device, error, created, number, resumed, prior) "
	 "VALUES (" JM_RUN_NEXT_ID_SQL ", ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"},
	{offsetof(import_ctx, st_param), "INSERT INTO params(run, key, value) VALUES (?, ?, ?)"},
	{offsetof(import_ctx, st_tag), "INSERT INTO tags(run, tag) VALUES (?, ?)"},
	{offsetof(import_ctx, st_metric),
	 "INSERT INTO metrics(run, key, step, value, wall) VALUES (?, ?, ?, ?, ?)"},
	{offsetof(import_ctx, st_summary),
	 "INSERT INTO metric_summary(run, key, last, last_step, min, max, count) "
	 "VALUES (?, ?, ?, ?, ?, ?, ?)"},
	{offsetof(import_ctx, st_artifact),
	 "INSERT INTO artifacts(run, name, path, bytes, sha256, created) VALUES (?, ?, ?, ?, ?, ?)"},
	{offsetof(import_ctx, st_flow),
	 "INSERT INTO flows(name, text, sha256, created) VALUES (?, ?, ?, ?) "
	 "ON CONFLICT(sha256) DO NOTHING"},
	{offsetof(import_ctx, st_flow_id), "SELECT id FROM flows WHERE sha256 = ?"},
};

/* Move the new run folders into HOME/runs (all or none). */
static int move_run_dirs(import_ctx *m, int back, jm_err *err)
{
	const char *home = jm_store_home(m->s);
	int rc = 0;
	if (!back) {
		char *runs = jm_xasprintf("%s/runs", home);
		if (mkdir(runs, 0755) < 0 && errno != EEXIST)
			rc = jm_err_set(err, JM_EXIT_FAIL, "%s: %s", runs, strerror(errno));
		free(runs);
	}
	for (; rc == 0 && !back && m->moved < m->nruns; m->moved++) {
		long long id = (long long)m->runs[m->moved];
		char *from = jm_xasprintf("%s/%lld", m->tmpdir, id);
		char *to = jm_xasprintf("%s/runs/%lld", home, id);
		rmdir(to); /* an empty leftover folder of an earlier run with this id */
		if (rename(from, to) < 0)
			rc = jm_err_set(err, JM_EXIT_FAIL, "moving the run into %s: %s", to,
					strerror(errno));
		free(from);
		free(to);
	}
	if (rc < 0 || back) {
		while (m->moved > 0) {
			long long id = (long long)m->runs[--m->moved];
			char *from = jm_xasprintf("%s/%lld", m->tmpdir, id);
			char *to = jm_xasprintf("%s/runs/%lld", home, id);
			rename(to, from);
			free(from);
			free(to);
		}
	}
	return rc;
}

/* The bundle's top run, if this store has it already: a run with the same
 * kind, name, seed, host and creation time (to the microsecond; a run
 * imported keeps its creation time) is the same run, imported before or
 * exported from here.  Fills m->report's bundle_run and earlier. */
static int find_earlier(import_ctx *m, const jm_json *run, jm_err *err)
{
	jm_bundle_report *r = m->report;
	const jm_json *id = jm_json_get(run, "id"), *created = jm_json_get(run, "created");
	const jm_json *kind = jm_json_get(run, "kind"), *name = jm_json_get(run, "name");
	const jm_json *host = jm_json_get(run, "host"), *seed = jm_json_get(run, "seed");
	uint64_t seed_v = 0;
	if (id && id->type == JM_JSON_NUMBER && id->num >= 1 && id->num <= 9e15)
		r->bundle_run = (int64_t)id->num;
	if (!created || created->type != JM_JSON_NUMBER || !kind || kind->type != JM_JSON_STRING ||
	    (seed && seed->type != JM_JSON_NULL && !jm_json_as_u64(seed, &seed_v)))
		return 0; /* import_run says what is wrong, if anything */
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(m->db, "SELECT id, pid IS NULL FROM runs WHERE kind = ?1 AND "
			       "name IS ?2 AND seed = ?3 AND host IS ?4 AND created = ?5 "
			       "ORDER BY id LIMIT 1", -1, &st, NULL) != SQLITE_OK)
		return sql_fail(m->db, err);
	sqlite3_bind_text(st, 1, kind->str, -1, SQLITE_STATIC);
	if (name && name->type == JM_JSON_STRING)
		sqlite3_bind_text(st, 2, name->str, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, (int64_t)seed_v);
	if (host && host->type == JM_JSON_STRING)
		sqlite3_bind_text(st, 4, host->str, -1, SQLITE_STATIC);
	sqlite3_bind_double(st, 5, created->num);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		r->earlier = sqlite3_column_int64(st, 0);
		r->earlier_imported = sqlite3_column_int(st, 1);
	}
	sqlite3_finalize(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : sql_fail(m->db, err);
}

static int import_manifest(import_ctx *m, int64_t *run, jm_err *err)
{
	jm_json root = {0};
	int rc = -1, began = 0;
	char name[300];
	snprintf(name, sizeof name, "%s: %s", m->path, BUNDLE_MANIFEST);
	if (manifest_parse(m->manifest, m->manifest_len, name, &root, err) < 0)
		return -1;
	const jm_json *format = jm_json_get(&root, "format"), *version = jm_json_get(&root, "version");
	if (!format || format->type != JM_JSON_STRING || strcmp(format->str, JM_BUNDLE_FORMAT)) {
		bad(m, err, "format", "expected \"%s\"", JM_BUNDLE_FORMAT);
		goto out;
	}
	if (!version || version->type != JM_JSON_NUMBER || version->num != JM_BUNDLE_VERSION) {
		bad(m, err, "version", "unsupported bundle version (this jianmo reads version %d)",
		    JM_BUNDLE_VERSION);
		goto out;
	}
	for (size_t i = 0; i < sizeof import_stmts / sizeof import_stmts[0]; i++) {
		sqlite3_stmt **st = (sqlite3_stmt **)((char *)m + import_stmts[i].offset);
		if (sqlite3_prepare_v2(m->db, import_stmts[i].sql, -1, st, NULL) != SQLITE_OK) {
			sql_fail(m->db, err);
			goto out;
		}
	}
	if (sqlite3_exec(m->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
		sql_fail(m->db, err);
		goto out;
	}
	began = 1;
	const jm_json *top = jm_json_get(&root, "run");
	if ((top && top->type == JM_JSON_OBJECT && find_earlier(m, top, err) < 0) ||
	    import_run(m, top, "run", 0, 0, run, err) < 0)
		goto out;
	for (size_t i = 0; i < m->nmembers; i++)
		if (!m->members[i].used) {
			member_refuse(m, err, m->members[i].name, "not listed in %s", BUNDLE_MANIFEST);
			goto out;
		}
	if (move_run_dirs(m, 0, err) < 0)
		goto out;
	if (sqlite3_exec(m->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		sql_fail(m->db, err);
		move_run_dirs(m, 1, NULL);
		goto out;
	}
	began = 0;
	rc = 0;
out:
	for (size_t i = 0; i < sizeof import_stmts / sizeof import_stmts[0]; i++) {
		sqlite3_stmt **st = (sqlite3_stmt **)((char *)m + import_stmts[i].offset);
		sqlite3_finalize(*st);
		*st = NULL;
	}
	if (began)
		sqlite3_exec(m->db, "ROLLBACK", NULL, NULL, NULL);
	jm_json_free(&root);
	return rc;
}

int jm_bundle_import(jm_store *s, const char *path, const jm_bundle_limits *limits,
		     int64_t *run, int *n_runs, jm_err *err)
{
	jm_bundle_report r;
	int rc = jm_bundle_import_report(s, path, limits, &r, err);
	*run = r.run;
	if (n_runs)
		*n_runs = r.n_runs;
	return rc;
}

int jm_bundle_import_report(jm_store *s, const char *path, const jm_bundle_limits *limits,
			    jm_bundle_report *report, jm_err *err)
{
	memset(report, 0, sizeof *report);
	import_ctx m = {.s = s, .db = jm_store_db(s), .path = path, .report = report};
	m.lim = limits ? *limits
		       : (jm_bundle_limits){JM_BUNDLE_MEMBER_MAX, JM_BUNDLE_TOTAL_MAX,
					    JM_BUNDLE_MANIFEST_MAX};
	int rc = -1;
	int64_t *run = &report->run;
	m.tmpdir = jm_xasprintf("%s/.import-XXXXXX", jm_store_home(s));
	if (!mkdtemp(m.tmpdir)) {
		jm_err_set(err, JM_EXIT_FAIL, "%s: %s", m.tmpdir, strerror(errno));
		free(m.tmpdir);
		return -1;
	}
	char *mdir = jm_xasprintf("%s/m", m.tmpdir);
	if (mkdir(mdir, 0700) < 0) {
		jm_err_set(err, JM_EXIT_FAIL, "%s: %s", mdir, strerror(errno));
		goto out;
	}
	if (read_archive(&m, err) < 0 || import_manifest(&m, run, err) < 0)
		goto out;
	report->n_runs = (int)m.nruns;
	rc = 0;
out:
	if (rc < 0)
		memset(report, 0, sizeof *report);
	remove_tree(m.tmpdir);
	for (size_t i = 0; i < m.nmembers; i++) {
		free(m.members[i].name);
		free(m.members[i].tmp);
	}
	free(m.members);
	free(m.manifest);
	free(m.runs);
	free(mdir);
	free(m.tmpdir);
	return rc;
}
