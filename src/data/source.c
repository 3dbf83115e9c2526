/*
 * source.c: resolve a source spec to bytes in memory (see source.h).
 *
 *   spec ──split "archive.ext:member"──▶ path (+ member)
 *        ──refuse Parquet & co by extension──▶
 *        ──URL? download(): cache hit, else curl → NAME.part (resume) →
 *                            sha256 check → rename to NAME──▶ local file
 *        ──sha256 pin (local files too)──▶
 *        ──member: libarchive, find it, inflate to the heap
 *          compressed (.gz .bz2 .xz .zst or magic): libarchive raw
 *          plain: mmap──▶ refuse Parquet & co by magic──▶ jm_source
 *
 * Nothing here prints; a caller that wants a progress bar passes
 * jm_source_progress_print (or its own function) in the options.
 */
#include "data/source.h"

#include <archive.h>
#include <archive_entry.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util/hash.h"

void jm_source_opts_init(jm_source_opts *o)
{
	memset(o, 0, sizeof *o);
}

int jm_source_is_url(const char *spec)
{
	return strncasecmp(spec, "http://", 7) == 0 || strncasecmp(spec, "https://", 8) == 0;
}

/* ---- formats --------------------------------------------------------- */

/* Table formats we do not read, by extension and by leading bytes. */
static const struct refused {
	const char *name, *exts, *magic;
	size_t magic_len;
} refused[] = {
	{"Parquet", ".parquet .parq .pq", "PAR1", 4},
	{"Feather/Arrow", ".feather .arrow .ipc", "ARROW1", 6},
	{"ORC", ".orc", "ORC", 3},
	{"Avro", ".avro", "Obj\x01", 4},
	{"Excel", ".xlsx .xlsm .xls .ods", "\xd0\xcf\x11\xe0", 4},
	{"JSON", ".json .jsonl .ndjson", NULL, 0},
	{"pickle", ".pkl .pickle", NULL, 0},
	{"HDF5", ".h5 .hdf5 .hdf", "\x89HDF\r\n\x1a\n", 8},
	{"SQLite", ".sqlite .sqlite3 .db", "SQLite format 3", 16},
	{"Stata", ".dta", NULL, 0},
	{"SAS", ".sas7bdat .xpt", NULL, 0},
};

static int has_ext(const char *path, const char *ext)
{
	size_t n = strlen(path), e = strlen(ext);
	return n > e && strcasecmp(path + n - e, ext) == 0;
}

static const char *refused_by_ext(const char *path)
{
	for (size_t i = 0; i < sizeof refused / sizeof *refused; i++) {
		char exts[64];
		snprintf(exts, sizeof exts, "%s", refused[i].exts);
		for (char *save, *t = strtok_r(exts, " ", &save); t; t = strtok_r(NULL, " ", &save))
			if (has_ext(path, t))
				return refused[i].name;
	}
	return NULL;
}

static const char *refused_by_magic(const char *data, size_t n)
{
	for (size_t i = 0; i < sizeof refused / sizeof *refused; i++)
		if (refused[i].magic && n >= refused[i].magic_len &&
		    memcmp(data, refused[i].magic, refused[i].magic_len) == 0)
			return refused[i].name;
	return NULL;
}

static int refuse(jm_err *err, const char *name, const char *what)
{
	return jm_err_set(err, JM_EXIT_INPUT,
			  "\"%s\": %s files are not supported (jianmo reads CSV, also gzip'd or "
			  "inside a zip/tar archive); save the table as CSV",
			  name, what);
}

static const char *const archive_exts[] = {
	".zip", ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz", ".tar.zst",
};
static const char *const compressed_exts[] = {".gz", ".bz2", ".xz", ".zst", ".lz4"};

static int is_archive_path(const char *path)
{
	for (size_t i = 0; i < sizeof archive_exts / sizeof *archive_exts; i++)
		if (has_ext(path, archive_exts[i]))
			return 1;
	return 0;
}

/* The compression a path's extension names, for messages; NULL: none. */
static const char *compression_of(const char *path)
{
	static const struct {
		const char *ext, *name;
	} names[] = {
		{".gz", "gzip"}, {".tgz", "gzip"}, {".bz2", "bzip2"}, {".tbz2", "bzip2"},
		{".xz", "xz"},   {".txz", "xz"},   {".zst", "zstd"},  {".lz4", "lz4"},
	};
	for (size_t i = 0; i < sizeof names / sizeof *names; i++)
		if (has_ext(path, names[i].ext))
			return names[i].name;
	return NULL;
}

static int is_compressed_path(const char *path)
{
	for (size_t i = 0; i < sizeof compressed_exts / sizeof *compressed_exts; i++)
		if (has_ext(path, compressed_exts[i]))
			return 1;
	return 0;
}

/* Leading bytes of zip, gzip, bzip2, xz, zstd; tar has "ustar" at 257. */
static int is_archive_magic(const char *d, size_t n)
{
	return (n >= 4 && memcmp(d, "PK\x03\x04", 4) == 0) ||
	       (n >= 262 && memcmp(d + 257, "ustar", 5) == 0);
}

static int is_compressed_magic(const char *d, size_t n)
{
	return (n >= 2 && memcmp(d, "\x1f\x8b", 2) == 0) || (n >= 3 && memcmp(d, "BZh", 3) == 0) ||
	       (n >= 6 && memcmp(d, "\xfd" "7zXZ\0", 6) == 0) ||
	       (n >= 4 && memcmp(d, "\x28\xb5\x2f\xfd", 4) == 0);
}

/* "a.zip:b.csv" → path "a.zip", member "b.csv" (both malloc'd); the last
 * archive extension followed by ':' splits. */
static void split_member(const char *spec, char **path, char **member)
{
	const char *cut = NULL;
	for (const char *c = strchr(spec, ':'); c; c = strchr(c + 1, ':')) {
		size_t len = (size_t)(c - spec);
		for (size_t i = 0; i < sizeof archive_exts / sizeof *archive_exts; i++) {
			size_t e = strlen(archive_exts[i]);
			if (len > e && strncasecmp(c - e, archive_exts[i], e) == 0 && c[1])
				cut = c;
		}
	}
	if (!cut) {
		*path = jm_xstrdup(spec);
		*member = NULL;
		return;
	}
	*path = jm_xasprintf("%.*s", (int)(cut - spec), spec);
	*member = jm_xstrdup(cut + 1);
}

/* ---- reading archives ------------------------------------------------ */

static int64_t cap_of(const jm_source_opts *o)
{
	return o && o->max_bytes > 0 ? o->max_bytes : JM_SOURCE_MAX_BYTES;
}

/* libarchive's message in our words: each decompressor says "the input
 * ended early" its own way (gzip and bzip2 "truncated gzip input", zstd
 * "Truncated zstd input", liblzma "Lzma library error:  No progress is
 * possible"); all read as gzip's does ("truncated xz input"), and so on
 * for a corrupt stream; the first word lowercase (git style).  filter:
 * the stream's compression (NULL: not known), taken before the error, as
 * a failed archive no longer says (compression_of the path). */
static const char *archive_message(struct archive *a, const char *filter, char *buf, size_t n)
{
	static const struct {
		const char *says, *before, *after; /* before FILTER after */
	} table[] = {
		{"No progress is possible", "truncated ", " input"},
		{"Corrupted input data", "", " decompression failed: corrupt data"},
	};
	const char *msg = archive_error_string(a);
	if (!msg || !*msg)
		msg = "unreadable archive";
	for (size_t k = 0; k < sizeof table / sizeof *table; k++)
		if (strstr(msg, table[k].says)) {
			snprintf(buf, n, "%s%s%s", table[k].before, filter ? filter : "compressed",
				 table[k].after);
			return buf;
		}
	size_t len = 0;
	for (const char *c = msg; *c && len + 1 < n; c++)
		if (!(*c == ' ' && len && buf[len - 1] == ' ')) /* "error:  No" */
			buf[len++] = *c;
	buf[len] = '\0';
	/* "Truncated zstd input" -> "truncated ...", leaving "HTTP" alone */
	if (buf[0] >= 'A' && buf[0] <= 'Z' && buf[1] >= 'a' && buf[1] <= 'z')
		buf[0] = (char)(buf[0] - 'A' + 'a');
	return buf;
}

/* Read the current entry's data into a malloc'd buffer. */
static int read_entry(struct archive *a, struct archive_entry *e, const char *name,
		      const char *filter, int64_t cap, char **out, size_t *n, jm_err *err)
{
	size_t size = archive_entry_size_is_set(e) ? (size_t)archive_entry_size(e) : 0;
	if (size > (uint64_t)cap)
		return jm_err_set(err, JM_EXIT_INPUT, "\"%s\": %zu bytes, larger than the %" PRId64
				  "-byte limit", name, size, cap);
	size_t alloc = size ? size + 1 : 1 << 20, len = 0;
	char *buf = malloc(alloc);
	if (!buf)
		return jm_err_set(err, JM_EXIT_FAIL, "\"%s\": out of memory", name);
	for (;;) {
		if (len == alloc) {
			size_t na = alloc * 2;
			char *nb = realloc(buf, na);
			if (!nb) {
				free(buf);
				return jm_err_set(err, JM_EXIT_FAIL, "\"%s\": out of memory", name);
			}
			buf = nb;
			alloc = na;
		}
		la_ssize_t got = archive_read_data(a, buf + len, alloc - len);
		if (got < 0) {
			char why[256];
			jm_err_set(err, JM_EXIT_INPUT, "\"%s\": %s", name,
				   archive_message(a, filter, why, sizeof why));
			free(buf);
			return -1;
		}
		if (got == 0)
			break;
		len += (size_t)got;
		if (len > (uint64_t)cap) {
			free(buf);
			return jm_err_set(err, JM_EXIT_INPUT,
					  "\"%s\": larger than the %" PRId64 "-byte limit", name, cap);
		}
	}
	*out = buf;
	*n = len;
	return 0;
}

static int member_is_table(const char *name)
{
	return has_ext(name, ".csv") || has_ext(name, ".tsv") || has_ext(name, ".txt") ||
	       has_ext(name, ".psv") || has_ext(name, ".dat");
}

/* Open path as an archive (raw: one compressed stream) and read member
 * (NULL: the only table member). */
static int read_archive(jm_source *s, const char *path, const char *member, int raw,
			const jm_source_opts *o, jm_err *err)
{
	struct archive *a = archive_read_new();
	struct archive_entry *e;
	char *listing = NULL, why[256];
	const char *filter = compression_of(path);
	size_t llen = 0;
	int found = 0, tables = 0, rc = -1;
	archive_read_support_filter_all(a);
	if (raw) {
		archive_read_support_format_raw(a);
	} else {
		archive_read_support_format_zip(a);
		archive_read_support_format_tar(a);
		archive_read_support_format_gnutar(a);
	}
	if (archive_read_open_filename(a, path, 1 << 16) != ARCHIVE_OK) {
		jm_err_set(err, JM_EXIT_INPUT, "\"%s\": %s", s->name,
			   archive_message(a, filter, why, sizeof why));
		goto out;
	}
	for (;;) {
		int r = archive_read_next_header(a, &e);
		if (r == ARCHIVE_EOF)
			break;
		if (r < ARCHIVE_WARN) {
			jm_err_set(err, JM_EXIT_INPUT, "\"%s\": %s", s->name,
				   archive_message(a, filter, why, sizeof why));
			goto out;
		}
		if (!raw && archive_entry_filetype(e) != AE_IFREG)
			continue;
		const char *name = archive_entry_pathname(e);
		name = name ? name : "";
		int match;
		if (raw)
			match = 1;
		else if (member)
			match = strcmp(name, member) == 0 ||
				(strncmp(name, "./", 2) == 0 && strcmp(name + 2, member) == 0);
		else
			match = member_is_table(name) && tables++ == 0;
		if (!raw) { /* keep a short list of members for the error message */
			size_t l = strlen(name);
			if (llen < 400) {
				listing = jm_xrealloc(listing, llen + l + 3);
				llen += (size_t)sprintf(listing + llen, "%s%s", llen ? ", " : "", name);
			}
		}
		if (!match || found)
			continue;
		if (read_entry(a, e, s->name, filter, cap_of(o), &s->heap, &s->n, err) < 0)
			goto out;
		found = 1;
		if (raw)
			break;
		if (member)
			break;
	}
	if (!found) {
		if (member)
			jm_err_set(err, JM_EXIT_INPUT, "\"%s\": no member \"%s\" (members: %s)", path,
				   member, listing ? listing : "none");
		else
			jm_err_set(err, JM_EXIT_INPUT,
				   "\"%s\": no CSV member (members: %s); name one as \"%s:MEMBER\"", path,
				   listing ? listing : "none", path);
		goto out;
	}
	if (!member && !raw && tables > 1) {
		jm_err_set(err, JM_EXIT_INPUT, "\"%s\": %d table members (%s); name one as \"%s:MEMBER\"",
			   path, tables, listing, path);
		free(s->heap);
		s->heap = NULL;
		goto out;
	}
	s->data = s->heap ? s->heap : "";
	rc = 0;
out:
	free(listing);
	archive_read_free(a);
	return rc;
}

static int map_file(jm_source *s, const char *path, jm_err *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return jm_err_set(err, JM_EXIT_INPUT, "\"%s\": %s", path, strerror(errno));
	struct stat st;
	int rc = -1;
	if (fstat(fd, &st) < 0) {
		jm_err_set(err, JM_EXIT_INPUT, "\"%s\": %s", path, strerror(errno));
		goto out;
	}
	if (S_ISDIR(st.st_mode)) {
		jm_err_set(err, JM_EXIT_INPUT, "\"%s\": is a directory", path);
		goto out;
	}
	s->n = (size_t)st.st_size;
	s->data = "";
	if (s->n > 0) {
		void *m = mmap(NULL, s->n, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
		if (m == MAP_FAILED) {
			jm_err_set(err, JM_EXIT_FAIL, "\"%s\": mmap: %s", path, strerror(errno));
			goto out;
		}
		madvise(m, s->n, MADV_SEQUENTIAL);
		s->map = m;
		s->map_len = s->n;
		s->data = m;
	}
	rc = 0;
out:
	close(fd);
	return rc;
}

/* ---- downloads ------------------------------------------------------- */

static int mkdirs(const char *dir, jm_err *err)
{
	char *p = jm_xstrdup(dir);
	for (char *c = p + 1; *c; c++) {
		if (*c != '/')
			continue;
		*c = '\0';
		if (mkdir(p, 0755) < 0 && errno != EEXIST) {
			jm_err_set(err, JM_EXIT_FAIL, "cannot create \"%s\": %s", p, strerror(errno));
			free(p);
			return -1;
		}
		*c = '/';
	}
	int rc = 0;
	if (mkdir(p, 0755) < 0 && errno != EEXIST)
		rc = jm_err_set(err, JM_EXIT_FAIL, "cannot create \"%s\": %s", p, strerror(errno));
	free(p);
	return rc;
}

static char *cache_dir(const jm_source_opts *o, jm_err *err)
{
	if (o && o->cache_dir)
		return jm_xstrdup(o->cache_dir);
	const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
	if (xdg && xdg[0] == '/')
		return jm_xasprintf("%s/jianmo/downloads", xdg);
	if (home && home[0])
		return jm_xasprintf("%s/.cache/jianmo/downloads", home);
	jm_err_set(err, JM_EXIT_FAIL, "no cache directory: set XDG_CACHE_HOME or HOME");
	return NULL;
}

char *jm_source_cache_path(const char *url, const jm_source_opts *o, jm_err *err)
{
	char *dir = cache_dir(o, err);
	if (!dir)
		return NULL;
	char hex[65];
	jm_sha256_hex(url, strlen(url), hex);
	/* the URL's last path component, without query, made file-name safe */
	const char *path = strstr(url, "://");
	path = path ? strchr(path + 3, '/') : NULL;
	char base[65] = "download";
	if (path) {
		size_t end = strcspn(path, "?#");
		size_t start = end;
		while (start > 0 && path[start - 1] != '/')
			start--;
		size_t k = 0;
		for (size_t i = start; i < end && k < sizeof base - 1; i++) {
			char c = path[i];
			base[k++] = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
						    (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_' ?
					    c :
					    '_';
		}
		if (k)
			base[k] = '\0';
	}
	char *out = jm_xasprintf("%s/%.16s-%s", dir, hex, base);
	free(dir);
	return out;
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

typedef struct transfer {
	FILE *f;
	int64_t have;      /* bytes already in the .part file */
	int64_t got;       /* bytes written this time */
	int64_t cap;
	int over_cap;
	int write_failed;
	int stalled;
	double stall_s;      /* give up after this long without a byte */
	double last_change;  /* when the byte count last moved */
	int64_t last_now;
	const jm_source_opts *o;
} transfer;

static double mono_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static size_t on_data(char *data, size_t size, size_t nmemb, void *arg)
{
	transfer *t = arg;
	size_t n = size * nmemb;
	if (t->have + t->got + (int64_t)n > t->cap) {
		t->over_cap = 1;
		return 0;
	}
	if (fwrite(data, 1, n, t->f) != n) {
		t->write_failed = 1;
		return 0;
	}
	t->got += (int64_t)n;
	return n;
}

static int on_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
		       curl_off_t ulnow)
{
	(void)ultotal, (void)ulnow;
	transfer *t = arg;
	double now = mono_now();
	if ((int64_t)dlnow != t->last_now) {
		t->last_now = (int64_t)dlnow;
		t->last_change = now;
	} else if (now - t->last_change > t->stall_s) {
		t->stalled = 1;
		return 1;
	}
	if (!t->o || !t->o->progress)
		return 0;
	int64_t total = dltotal > 0 ? t->have + (int64_t)dltotal : -1;
	return t->o->progress(t->o->progress_ctx, t->have + (int64_t)dlnow, total);
}

static int64_t file_size(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 ? (int64_t)st.st_size : -1;
}

/* One attempt; *restart is set when the .part should be dropped and the
 * download begun again (server ignored or refused the range). */
static int fetch(const char *url, const char *part, const jm_source_opts *o, int *restart,
		 jm_err *err)
{
	*restart = 0;
	int64_t have = file_size(part);
	if (have < 0)
		have = 0;
	transfer t = {.have = have, .cap = cap_of(o), .o = o, .last_change = mono_now(),
		      .stall_s = o && o->stall_timeout_s > 0 ? (double)o->stall_timeout_s : 60};
	t.f = fopen(part, have ? "ab" : "wb");
	if (!t.f)
		return jm_err_set(err, JM_EXIT_FAIL, "\"%s\": %s", part, strerror(errno));
	pthread_once(&curl_once, curl_init);
	CURL *c = curl_easy_init();
	char ebuf[CURL_ERROR_SIZE] = "";
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, ebuf);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &t);
	curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(c, CURLOPT_XFERINFODATA, &t);
	curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(c, CURLOPT_MAXREDIRS, 5L);
#if LIBCURL_VERSION_NUM >= 0x075500
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#else
	curl_easy_setopt(c, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
	curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
	curl_easy_setopt(c, CURLOPT_FAILONERROR, 1L);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "jianmo");
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, o && o->connect_timeout_s > 0 ? o->connect_timeout_s : 20L);
	if (o && o->timeout_s > 0)
		curl_easy_setopt(c, CURLOPT_TIMEOUT, o->timeout_s);
	curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)(t.cap - have));
	if (have)
		curl_easy_setopt(c, CURLOPT_RESUME_FROM_LARGE, (curl_off_t)have);
	CURLcode rc = curl_easy_perform(c);
	long status = 0, os_errno = 0;
	curl_off_t clen = -1;
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_getinfo(c, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &clen);
	curl_easy_getinfo(c, CURLINFO_OS_ERRNO, &os_errno);
	curl_easy_cleanup(c);
	if (fclose(t.f) != 0 && rc == CURLE_OK)
		return jm_err_set(err, JM_EXIT_FAIL, "\"%s\": %s", part, strerror(errno));
	int64_t now = have + t.got;
	switch (rc) {
	case CURLE_OK:
		return 0;
	case CURLE_RANGE_ERROR:
		*restart = 1;
		return jm_err_set(err, JM_EXIT_FAIL, "\"%s\": the server does not resume downloads", url);
	case CURLE_HTTP_RETURNED_ERROR:
		if (status == 416 && have) {
			*restart = 1;
			return jm_err_set(err, JM_EXIT_FAIL, "\"%s\": HTTP 416", url);
		}
		return jm_err_set(err, status >= 400 && status < 500 ? JM_EXIT_INPUT : JM_EXIT_FAIL,
				  "\"%s\": HTTP %ld", url, status);
	case CURLE_PARTIAL_FILE:
		return jm_err_set(err, JM_EXIT_FAIL,
				  "\"%s\": download truncated at %" PRId64 " of %" PRId64
				  " bytes; run again to resume",
				  url, now, clen >= 0 ? have + (int64_t)clen : now);
	case CURLE_FILESIZE_EXCEEDED:
		unlink(part);
		return jm_err_set(err, JM_EXIT_INPUT, "\"%s\": larger than the %" PRId64 "-byte limit",
				  url, t.cap);
	case CURLE_WRITE_ERROR:
		if (t.over_cap) {
			unlink(part);
			return jm_err_set(err, JM_EXIT_INPUT,
					  "\"%s\": larger than the %" PRId64 "-byte limit", url, t.cap);
		}
		return jm_err_set(err, JM_EXIT_FAIL, "\"%s\": writing \"%s\" failed", url, part);
	case CURLE_OPERATION_TIMEDOUT:
		return jm_err_set(err, JM_EXIT_FAIL, "\"%s\": timed out after %" PRId64
				  " bytes (%s); run again to resume", url, now, ebuf);
	case CURLE_ABORTED_BY_CALLBACK:
		if (t.stalled)
			return jm_err_set(err, JM_EXIT_FAIL, "\"%s\": timed out after %" PRId64
					  " bytes (nothing received for %.0f s); run again to resume",
					  url, now, t.stall_s);
		return jm_err_set(err, JM_EXIT_FAIL, "\"%s\": download cancelled", url);
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_CONNECT:
		return jm_err_set(err, JM_EXIT_FAIL, "\"%s\": could not connect: %s", url,
				  os_errno ? strerror((int)os_errno) : ebuf[0] ? ebuf : curl_easy_strerror(rc));
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CACERT_BADFILE:
		return jm_err_set(err, JM_EXIT_FAIL, "\"%s\": TLS verification failed: %s", url,
				  ebuf[0] ? ebuf : curl_easy_strerror(rc));
	default:
		return jm_err_set(err, JM_EXIT_FAIL, "\"%s\": %s", url,
				  ebuf[0] ? ebuf : curl_easy_strerror(rc));
	}
}

static int check_pin(const char *path, const char *name, const char *want, jm_err *err)
{
	char hex[65];
	if (jm_sha256_file(path, hex, NULL, err) < 0)
		return -1;
	if (strcasecmp(hex, want) != 0)
		return jm_err_set(err, JM_EXIT_INPUT, "\"%s\": sha256 mismatch: expected %s, got %s",
				  name, want, hex);
	return 0;
}

/* A cached copy that may be used as it is. */
static int cache_hit(const char *url, const char *dest, const jm_source_opts *o)
{
	if ((o && o->refresh) || file_size(dest) < 0)
		return 0;
	if (!(o && o->sha256) || check_pin(dest, url, o->sha256, NULL) == 0)
		return 1;
	unlink(dest); /* a stale or damaged cache entry: fetch again */
	return 0;
}

/* Make dest hold url's bytes (cache hit or download).  An flock on
 * DEST.lock keeps two runs from writing the same .part at once; the one
 * that waited then finds the finished file. */
static int download(const char *url, const char *dest, const jm_source_opts *o, int *from_cache,
		    jm_err *err)
{
	*from_cache = 0;
	if (cache_hit(url, dest, o)) {
		*from_cache = 1;
		return 0;
	}
	char *dir = jm_xstrdup(dest);
	*strrchr(dir, '/') = '\0';
	int rc = mkdirs(dir, err);
	free(dir);
	if (rc < 0)
		return -1;
	char *lock = jm_xasprintf("%s.lock", dest);
	int lfd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	free(lock);
	if (lfd >= 0 && flock(lfd, LOCK_EX) == 0 && !(o && o->refresh) && cache_hit(url, dest, o)) {
		close(lfd);
		*from_cache = 1;
		return 0;
	}
	char *part = jm_xasprintf("%s.part", dest);
	if (o && o->refresh)
		unlink(part);
	int restart = 0;
	rc = fetch(url, part, o, &restart, err);
	if (rc < 0 && restart) {
		unlink(part);
		rc = fetch(url, part, o, &restart, err);
	}
	if (rc == 0 && o && o->sha256 && check_pin(part, url, o->sha256, err) < 0) {
		unlink(part);
		rc = -1;
	}
	if (rc == 0 && rename(part, dest) < 0)
		rc = jm_err_set(err, JM_EXIT_FAIL, "\"%s\": %s", dest, strerror(errno));
	free(part);
	if (lfd >= 0)
		close(lfd); /* releases the lock */
	return rc;
}

/* ---- the entry point ------------------------------------------------- */

int jm_source_open(jm_source *s, const char *spec, const jm_source_opts *o, jm_err *err)
{
	memset(s, 0, sizeof *s);
	char *path = NULL, *member = NULL;
	const char *what;
	int rc = -1;
	split_member(spec, &path, &member);
	s->name = jm_xstrdup(spec);
	if ((what = refused_by_ext(member ? member : path))) {
		refuse(err, spec, what);
		goto out;
	}
	if (jm_source_is_url(path)) {
		s->path = jm_source_cache_path(path, o, err);
		if (!s->path || download(path, s->path, o, &s->from_cache, err) < 0)
			goto out;
	} else {
		s->path = jm_xstrdup(path);
		if (o && o->sha256 && check_pin(path, spec, o->sha256, err) < 0)
			goto out;
	}
	if (member || is_archive_path(path)) {
		if (read_archive(s, s->path, member, 0, o, err) < 0)
			goto out;
	} else {
		if (map_file(s, s->path, err) < 0)
			goto out;
		if (is_compressed_path(path) || is_compressed_magic(s->data, s->n)) {
			munmap(s->map, s->map_len);
			s->map = NULL;
			if (read_archive(s, s->path, NULL, 1, o, err) < 0)
				goto out;
		} else if (is_archive_magic(s->data, s->n)) {
			munmap(s->map, s->map_len);
			s->map = NULL;
			if (read_archive(s, s->path, NULL, 0, o, err) < 0)
				goto out;
		}
	}
	if ((what = refused_by_magic(s->data, s->n))) {
		refuse(err, spec, what);
		goto out;
	}
	rc = 0;
out:
	free(path);
	free(member);
	if (rc < 0)
		jm_source_close(s);
	return rc;
}

void jm_source_close(jm_source *s)
{
	if (!s)
		return;
	if (s->map)
		munmap(s->map, s->map_len);
	free(s->heap);
	free(s->name);
	free(s->path);
	memset(s, 0, sizeof *s);
}

int jm_source_progress_print(void *ctx, int64_t done, int64_t total)
{
	FILE *out = ctx ? ctx : stderr;
	static struct timespec last;
	static int last_decile = -1;
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	int finished = total > 0 && done >= total;
	double dt = (double)(now.tv_sec - last.tv_sec) + (double)(now.tv_nsec - last.tv_nsec) / 1e9;
	if (isatty(fileno(out))) {
		if (dt < 0.1 && !finished)
			return 0;
		last = now;
		if (total > 0) {
			int w = 30, fill = (int)((double)done / (double)total * w);
			fprintf(out, "\r[%-*.*s] %3d%% %.1f/%.1f MB", w, fill,
				"##############################", (int)(100.0 * (double)done / (double)total),
				(double)done / 1e6, (double)total / 1e6);
		} else {
			fprintf(out, "\r%.1f MB", (double)done / 1e6);
		}
		if (finished)
			fputc('\n', out);
	} else if (total > 0) {
		int decile = (int)(10.0 * (double)done / (double)total);
		if (decile < last_decile)
			last_decile = -1; /* a new download */
		if (decile != last_decile) {
			last_decile = decile;
			fprintf(out, "download: %d%% (%.1f of %.1f MB)\n", decile * 10, (double)done / 1e6,
				(double)total / 1e6);
		}
	}
	fflush(out);
	return 0;
}
