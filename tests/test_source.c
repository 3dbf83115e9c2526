/*
 * test_source.c: where table bytes come from: plain files, .gz, members of
 * .zip and .tar.gz archives, refused formats, sha256 pins, size caps, and
 * downloads from a small HTTP server on 127.0.0.1 run by the test itself
 * (a thread with a socket): cache, resume, truncation, stall timeout,
 * refused connection, HTTP errors, checksum mismatch, progress.
 */
#include <archive.h>
#include <archive_entry.h>
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "data/csv.h"
#include "data/source.h"
#include "testutil.h"
#include "util/hash.h"

static char *dir;

static void setup(void)
{
	dir = jt_tmpdir();
}

static void teardown(void)
{
	jt_rm_rf(dir);
	free(dir);
}

TestSuite(source, .init = setup, .fini = teardown, .timeout = 30);

static char *path_in(const char *name)
{
	return jm_xasprintf("%s/%s", dir, name);
}

static void write_gz(const char *path, const char *text)
{
	gzFile g = gzopen(path, "wb");
	cr_assert_not_null(g);
	gzwrite(g, text, (unsigned)strlen(text));
	gzclose(g);
}

/* An archive (zip or tar.gz) of name/text pairs. */
static void write_archive(const char *path, int zip, const char *const *files, int n)
{
	struct archive *a = archive_write_new();
	if (zip) {
		archive_write_set_format_zip(a);
	} else {
		archive_write_set_format_pax_restricted(a);
		archive_write_add_filter_gzip(a);
	}
	cr_assert_eq(archive_write_open_filename(a, path), ARCHIVE_OK);
	for (int i = 0; i < n; i++) {
		struct archive_entry *e = archive_entry_new();
		archive_entry_set_pathname(e, files[2 * i]);
		archive_entry_set_size(e, (la_int64_t)strlen(files[2 * i + 1]));
		archive_entry_set_filetype(e, AE_IFREG);
		archive_entry_set_perm(e, 0644);
		archive_write_header(a, e);
		archive_write_data(a, files[2 * i + 1], strlen(files[2 * i + 1]));
		archive_entry_free(e);
	}
	archive_write_close(a);
	archive_write_free(a);
}

static void open_ok(jm_source *s, const char *spec, const jm_source_opts *o, const char *want)
{
	jm_err err = {0};
	cr_assert_eq(jm_source_open(s, spec, o, &err), 0, "%s: %s", spec, err.msg);
	cr_assert_eq(s->n, strlen(want), "%s: %zu bytes", spec, s->n);
	cr_assert_eq(memcmp(s->data, want, s->n), 0);
}

static const char *open_fail(const char *spec, const jm_source_opts *o, int code)
{
	static jm_err err;
	memset(&err, 0, sizeof err);
	jm_source s;
	cr_assert_eq(jm_source_open(&s, spec, o, &err), -1, "%s opened", spec);
	cr_assert_eq(err.code, code, "%s: code %d: %s", spec, err.code, err.msg);
	jm_source_close(&s);
	return err.msg;
}

Test(source, plain_gz_and_archive_members)
{
	const char *csv = "a,b\n1,2\n3,4\n";
	char *plain = jt_write(dir, "d.csv", csv), *gz = path_in("d.csv.gz");
	write_gz(gz, csv);
	jm_source s;
	open_ok(&s, plain, NULL, csv);
	cr_assert_str_eq(s.name, plain);
	jm_source_close(&s);
	open_ok(&s, gz, NULL, csv);
	jm_source_close(&s);

	const char *files[] = {"readme.txt2", "hello", "train.csv", csv, "test.csv", "a\n9\n"};
	char *zip = path_in("d.zip"), *tgz = path_in("d.tar.gz"), *one = path_in("one.zip");
	write_archive(zip, 1, files, 3);
	const char *tfiles[] = {"data/train.csv", csv};
	write_archive(tgz, 0, tfiles, 1);
	write_archive(one, 1, files, 2);
	char *spec = jm_xasprintf("%s:train.csv", zip);
	open_ok(&s, spec, NULL, csv);
	cr_assert_str_eq(s.name, spec);
	jm_source_close(&s);
	free(spec);
	spec = jm_xasprintf("%s:test.csv", zip);
	open_ok(&s, spec, NULL, "a\n9\n");
	jm_source_close(&s);
	free(spec);
	spec = jm_xasprintf("%s:data/train.csv", tgz);
	open_ok(&s, spec, NULL, csv);
	jm_source_close(&s);
	free(spec);
	open_ok(&s, one, NULL, csv); /* the only table member */
	jm_source_close(&s);
	open_ok(&s, tgz, NULL, csv);
	jm_source_close(&s);

	char want[1024];
	spec = jm_xasprintf("%s:nope.csv", zip);
	snprintf(want, sizeof want, "\"%s\": no member \"nope.csv\" (members: readme.txt2, train.csv, test.csv)", zip);
	cr_assert_str_eq(open_fail(spec, NULL, JM_EXIT_INPUT), want);
	free(spec);
	snprintf(want, sizeof want, "\"%s\": 2 table members (readme.txt2, train.csv, test.csv); name one as \"%s:MEMBER\"",
		 zip, zip);
	cr_assert_str_eq(open_fail(zip, NULL, JM_EXIT_INPUT), want);

	/* the whole path through the CSV reader */
	jm_frame *f = NULL;
	jm_err err = {0};
	spec = jm_xasprintf("%s:data/train.csv", tgz);
	cr_assert_eq(jm_csv_read(spec, NULL, NULL, &f, NULL, &err), 0, "%s", err.msg);
	cr_assert_eq(f->nrows, 2);
	jm_frame_free(f);
	free(spec);
	free(plain);
	free(gz);
	free(zip);
	free(tgz);
	free(one);
}

Test(source, missing_files_and_refused_formats)
{
	char *nope = path_in("nope.csv"), want[1024];
	snprintf(want, sizeof want, "\"%s\": No such file or directory", nope);
	cr_assert_str_eq(open_fail(nope, NULL, JM_EXIT_INPUT), want);
	snprintf(want, sizeof want, "\"%s\": is a directory", dir);
	cr_assert_str_eq(open_fail(dir, NULL, JM_EXIT_INPUT), want);
	cr_assert_str_eq(open_fail("sales.parquet", NULL, JM_EXIT_INPUT),
			 "\"sales.parquet\": Parquet files are not supported (jianmo reads CSV, also "
			 "gzip'd or inside a zip/tar archive); save the table as CSV");
	cr_assert_str_eq(open_fail("x.feather", NULL, JM_EXIT_INPUT),
			 "\"x.feather\": Feather/Arrow files are not supported (jianmo reads CSV, also "
			 "gzip'd or inside a zip/tar archive); save the table as CSV");
	cr_assert_str_eq(open_fail("book.xlsx", NULL, JM_EXIT_INPUT),
			 "\"book.xlsx\": Excel files are not supported (jianmo reads CSV, also gzip'd "
			 "or inside a zip/tar archive); save the table as CSV");
	/* a Parquet file named .csv is caught by its magic bytes */
	char *fake = jt_write(dir, "fake.csv", "PAR1\x15\x04 not really");
	snprintf(want, sizeof want, "\"%s\": Parquet files are not supported (jianmo reads CSV, also "
		 "gzip'd or inside a zip/tar archive); save the table as CSV", fake);
	cr_assert_str_eq(open_fail(fake, NULL, JM_EXIT_INPUT), want);
	free(fake);
	free(nope);
}

/* text compressed with a libarchive filter (raw, no archive format),
 * cut to keep bytes of it (0: all); returns the size written */
static size_t write_compressed(const char *path, int (*add_filter)(struct archive *),
			       const char *text, size_t keep)
{
	size_t cap = strlen(text) + 4096, used = 0;
	char *buf = malloc(cap);
	struct archive *a = archive_write_new();
	archive_write_set_format_raw(a);
	cr_assert_eq(add_filter(a), ARCHIVE_OK);
	archive_write_set_bytes_in_last_block(a, 1);
	cr_assert_eq(archive_write_open_memory(a, buf, cap, &used), ARCHIVE_OK, "%s",
		     archive_error_string(a));
	struct archive_entry *e = archive_entry_new();
	archive_entry_set_pathname(e, "data");
	archive_entry_set_filetype(e, AE_IFREG);
	archive_write_header(a, e);
	archive_write_data(a, text, strlen(text));
	archive_entry_free(e);
	archive_write_close(a);
	archive_write_free(a);
	FILE *fp = fopen(path, "wb");
	cr_assert_not_null(fp);
	fwrite(buf, 1, keep ? keep : used, fp);
	fclose(fp);
	free(buf);
	return used;
}

/* A compressed file cut short (an interrupted copy) reads the same way
 * whatever the compression: "truncated xz input" as gzip's message goes,
 * not liblzma's "Lzma library error:  No progress is possible". */
Test(source, truncated_and_corrupt_compressed_files)
{
	static const struct {
		const char *ext, *name;
		int (*add)(struct archive *);
	} kinds[] = {
		{"gz", "gzip", archive_write_add_filter_gzip},
		{"xz", "xz", archive_write_add_filter_xz},
		{"bz2", "bzip2", archive_write_add_filter_bzip2},
		{"zst", "zstd", archive_write_add_filter_zstd},
	};
	/* big enough for the cut to fall after the first block is read, and
	 * small ones where the whole file is read as the stream opens */
	size_t cap = 40 * 20000, len = 0;
	char *big = malloc(cap);
	uint64_t x = 88172645463325252ull;
	len += (size_t)snprintf(big, cap, "a,b\n");
	for (int i = 0; i < 20000; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		len += (size_t)snprintf(big + len, cap - len, "%d,%llu\n", i, (unsigned long long)x);
	}
	const char *texts[] = {big, "a,b\n1,2\n3,4\n5,6\n7,8\n9,10\n11,12\n13,14\n15,16\n"};
	for (size_t k = 0; k < sizeof kinds / sizeof *kinds; k++)
		for (int t = 0; t < 2; t++) {
			char name[32], want[1024];
			snprintf(name, sizeof name, "cut%d.csv.%s", t, kinds[k].ext);
			char *path = path_in(name);
			size_t full = write_compressed(path, kinds[k].add, texts[t], 0);
			write_compressed(path, kinds[k].add, texts[t], full / 2);
			snprintf(want, sizeof want, "\"%s\": truncated %s input", path, kinds[k].name);
			cr_expect_str_eq(open_fail(path, NULL, JM_EXIT_INPUT), want);
			free(path);
		}
	/* bytes changed in the middle: corrupt, in lowercase words */
	char *path = path_in("bad.csv.xz");
	size_t full = write_compressed(path, archive_write_add_filter_xz, big, 0);
	FILE *fp = fopen(path, "r+b");
	fseek(fp, (long)(full / 3), SEEK_SET);
	fwrite("garbage garbage garbage garbage", 1, 31, fp);
	fclose(fp);
	char want[1024];
	snprintf(want, sizeof want, "\"%s\": xz decompression failed: corrupt data", path);
	cr_expect_str_eq(open_fail(path, NULL, JM_EXIT_INPUT), want);
	free(path);
	path = path_in("bad.csv.zst");
	full = write_compressed(path, archive_write_add_filter_zstd, big, 0);
	fp = fopen(path, "r+b");
	fseek(fp, (long)(full / 3), SEEK_SET);
	fwrite("garbage garbage garbage garbage", 1, 31, fp);
	fclose(fp);
	const char *msg = open_fail(path, NULL, JM_EXIT_INPUT);
	cr_expect(strstr(msg, "\": zstd decompression failed"), "%s", msg);
	free(path);
	free(big);
}

Test(source, sha256_pin_and_size_cap)
{
	const char *csv = "a\n1\n";
	char *p = jt_write(dir, "d.csv", csv), hex[65], want[1024];
	jm_sha256_hex(csv, strlen(csv), hex);
	jm_source_opts o;
	jm_source_opts_init(&o);
	o.sha256 = hex;
	jm_source s;
	open_ok(&s, p, &o, csv);
	jm_source_close(&s);
	o.sha256 = "0000000000000000000000000000000000000000000000000000000000000000";
	snprintf(want, sizeof want, "\"%s\": sha256 mismatch: expected %s, got %s", p, o.sha256, hex);
	cr_assert_str_eq(open_fail(p, &o, JM_EXIT_INPUT), want);

	/* a member that inflates past the cap */
	char *big = malloc(100001);
	memset(big, 'x', 100000);
	big[100000] = '\0';
	char *gz = path_in("big.csv.gz");
	write_gz(gz, big);
	jm_source_opts_init(&o);
	o.max_bytes = 50000;
	snprintf(want, sizeof want, "\"%s\": larger than the 50000-byte limit", gz);
	cr_assert_str_eq(open_fail(gz, &o, JM_EXIT_INPUT), want);
	free(big);
	free(gz);
	free(p);
}

/* ---- a tiny HTTP server ------------------------------------------------ */

enum mode { OK, TRUNCATE, STALL, NOT_FOUND, NO_RANGE };

typedef struct server {
	int fd, port;
	volatile int mode, stop;
	const char *body;
	size_t len;
	int requests;
	long last_range;   /* the N of the last "Range: bytes=N-", or -1 */
	pthread_t th;
} server;

static void send_all(int fd, const void *p, size_t n)
{
	const char *c = p;
	while (n) {
		ssize_t w = send(fd, c, n, MSG_NOSIGNAL);
		if (w <= 0)
			return;
		c += w;
		n -= (size_t)w;
	}
}

static void serve_one(server *sv, int c)
{
	char req[4096] = "";
	size_t got = 0;
	while (got < sizeof req - 1 && !strstr(req, "\r\n\r\n")) {
		struct pollfd pf = {c, POLLIN, 0};
		if (poll(&pf, 1, 2000) <= 0)
			return;
		ssize_t r = recv(c, req + got, sizeof req - 1 - got, 0);
		if (r <= 0)
			return;
		got += (size_t)r;
		req[got] = '\0';
	}
	sv->requests++;
	long from = -1;
	const char *range = strcasestr(req, "\r\nRange: bytes=");
	if (range)
		from = strtol(range + 15, NULL, 10);
	sv->last_range = from;
	char head[512];
	int mode = sv->mode;
	if (mode == NOT_FOUND) {
		int n = snprintf(head, sizeof head, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
		send_all(c, head, (size_t)n);
		return;
	}
	if (mode == STALL) { /* headers, then nothing until the client gives up */
		int n = snprintf(head, sizeof head, "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n", sv->len);
		send_all(c, head, (size_t)n);
		send_all(c, sv->body, 10);
		struct pollfd pf = {c, POLLIN, 0};
		poll(&pf, 1, 8000);
		return;
	}
	size_t start = 0;
	int n;
	if (from >= 0 && mode != NO_RANGE && (size_t)from < sv->len) {
		start = (size_t)from;
		n = snprintf(head, sizeof head, "HTTP/1.1 206 Partial Content\r\nContent-Length: %zu\r\n"
			     "Content-Range: bytes %zu-%zu/%zu\r\nConnection: close\r\n\r\n",
			     sv->len - start, start, sv->len - 1, sv->len);
	} else {
		n = snprintf(head, sizeof head, "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
			     sv->len);
	}
	send_all(c, head, (size_t)n);
	size_t end = mode == TRUNCATE ? start + (sv->len - start) / 2 : sv->len;
	send_all(c, sv->body + start, end - start);
}

static void *serve(void *arg)
{
	server *sv = arg;
	while (!sv->stop) {
		struct pollfd pf = {sv->fd, POLLIN, 0};
		if (poll(&pf, 1, 100) <= 0)
			continue;
		int c = accept(sv->fd, NULL, NULL);
		if (c < 0)
			continue;
		serve_one(sv, c);
		shutdown(c, SHUT_RDWR);
		close(c);
	}
	return NULL;
}

static void server_start(server *sv, const char *body, size_t len)
{
	memset(sv, 0, sizeof *sv);
	sv->body = body;
	sv->len = len;
	sv->fd = socket(AF_INET, SOCK_STREAM, 0);
	int one = 1;
	setsockopt(sv->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	cr_assert_eq(bind(sv->fd, (struct sockaddr *)&a, sizeof a), 0);
	cr_assert_eq(listen(sv->fd, 8), 0);
	socklen_t al = sizeof a;
	getsockname(sv->fd, (struct sockaddr *)&a, &al);
	sv->port = ntohs(a.sin_port);
	pthread_create(&sv->th, NULL, serve, sv);
}

static void server_stop(server *sv)
{
	sv->stop = 1;
	pthread_join(sv->th, NULL);
	close(sv->fd);
}

static char *body_of(size_t n)
{
	char *b = malloc(n + 1);
	size_t k = (size_t)sprintf(b, "id,v\n");
	for (int i = 0; k < n; i++)
		k += (size_t)snprintf(b + k, n + 1 - k, "%d,%d\n", i, i * 7 % 1000);
	b[n] = '\0';
	return b;
}

static jm_source_opts url_opts(void)
{
	jm_source_opts o;
	jm_source_opts_init(&o);
	o.cache_dir = dir;
	o.connect_timeout_s = 2;
	o.stall_timeout_s = 1;
	o.timeout_s = 10;
	return o;
}

typedef struct progress_seen {
	int calls;
	int64_t last_done, total;
} progress_seen;

static int on_progress(void *ctx, int64_t done, int64_t total)
{
	progress_seen *p = ctx;
	p->calls++;
	p->last_done = done;
	if (total > 0)
		p->total = total;
	return 0;
}

Test(source, download_then_cache)
{
	size_t n = 200000;
	char *body = body_of(n);
	server sv;
	server_start(&sv, body, n);
	char *url = jm_xasprintf("http://127.0.0.1:%d/files/data.csv?x=1", sv.port);
	jm_source_opts o = url_opts();
	progress_seen ps = {0};
	o.progress = on_progress;
	o.progress_ctx = &ps;
	jm_source s;
	open_ok(&s, url, &o, body);
	cr_assert_eq(s.from_cache, 0);
	cr_assert_eq(sv.requests, 1);
	cr_assert(ps.calls > 0);
	cr_assert_eq(ps.total, (int64_t)n);
	cr_assert_eq(ps.last_done, (int64_t)n);
	char *cache = jm_source_cache_path(url, &o, NULL);
	cr_assert_str_eq(s.path, cache);
	cr_assert(strstr(cache, "-data.csv"), "%s", cache);
	jm_source_close(&s);
	open_ok(&s, url, &o, body);
	cr_assert_eq(s.from_cache, 1, "the second run reads the cache");
	cr_assert_eq(sv.requests, 1, "without asking the server");
	jm_source_close(&s);
	/* a pin that matches, on the cached copy */
	char hex[65];
	jm_sha256_hex(body, n, hex);
	o.sha256 = hex;
	open_ok(&s, url, &o, body);
	jm_source_close(&s);
	/* an archive member behind a URL */
	const char *files[] = {"train.csv", "a,b\n1,2\n"};
	char *zip = path_in("src.zip");
	write_archive(zip, 1, files, 1);
	size_t zlen;
	char *zbytes = jt_read(zip, &zlen);
	server_stop(&sv);
	server_start(&sv, zbytes, zlen);
	char *zurl = jm_xasprintf("http://127.0.0.1:%d/src.zip:train.csv", sv.port);
	o.sha256 = NULL;
	open_ok(&s, zurl, &o, "a,b\n1,2\n");
	jm_source_close(&s);
	server_stop(&sv);
	free(zurl);
	free(zbytes);
	free(zip);
	free(cache);
	free(url);
	free(body);
}

Test(source, truncated_download_resumes)
{
	size_t n = 100000;
	char *body = body_of(n);
	server sv;
	server_start(&sv, body, n);
	sv.mode = TRUNCATE;
	char *url = jm_xasprintf("http://127.0.0.1:%d/t.csv", sv.port);
	jm_source_opts o = url_opts();
	char want[512];
	snprintf(want, sizeof want, "\"%s\": download truncated at 50000 of 100000 bytes; run again to resume", url);
	cr_assert_str_eq(open_fail(url, &o, JM_EXIT_FAIL), want);
	char *cache = jm_source_cache_path(url, &o, NULL), *part = jm_xasprintf("%s.part", cache);
	struct stat st;
	cr_assert_eq(stat(part, &st), 0);
	cr_assert_eq(st.st_size, 50000);
	cr_assert_neq(stat(cache, &st), 0, "no finished file yet");
	sv.mode = OK;
	jm_source s;
	open_ok(&s, url, &o, body);
	cr_assert_eq(sv.last_range, 50000, "asked only for the rest (%ld, %d requests)", sv.last_range, sv.requests);
	jm_source_close(&s);
	cr_assert_neq(stat(part, &st), 0, "the .part became the file");

	/* a server that ignores ranges: start over, still right */
	free(url);
	url = jm_xasprintf("http://127.0.0.1:%d/t2.csv", sv.port);
	sv.mode = TRUNCATE;
	open_fail(url, &o, JM_EXIT_FAIL);
	sv.mode = NO_RANGE;
	open_ok(&s, url, &o, body);
	jm_source_close(&s);
	server_stop(&sv);
	free(part);
	free(cache);
	free(url);
	free(body);
}

Test(source, sha256_mismatch_deletes_the_download)
{
	size_t n = 5000;
	char *body = body_of(n);
	server sv;
	server_start(&sv, body, n);
	char *url = jm_xasprintf("http://127.0.0.1:%d/p.csv", sv.port);
	jm_source_opts o = url_opts();
	char hex[65], want[512];
	jm_sha256_hex(body, n, hex);
	o.sha256 = "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff";
	snprintf(want, sizeof want, "\"%s\": sha256 mismatch: expected %s, got %s", url, o.sha256, hex);
	cr_assert_str_eq(open_fail(url, &o, JM_EXIT_INPUT), want);
	char *cache = jm_source_cache_path(url, &o, NULL), *part = jm_xasprintf("%s.part", cache);
	struct stat st;
	cr_assert_neq(stat(cache, &st), 0);
	cr_assert_neq(stat(part, &st), 0);
	server_stop(&sv);
	free(part);
	free(cache);
	free(url);
	free(body);
}

Test(source, refused_stalled_404_and_too_big)
{
	/* a port nobody listens on: bind one, then close it */
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	bind(fd, (struct sockaddr *)&a, sizeof a);
	socklen_t al = sizeof a;
	getsockname(fd, (struct sockaddr *)&a, &al);
	int port = ntohs(a.sin_port);
	close(fd);
	char *url = jm_xasprintf("http://127.0.0.1:%d/x.csv", port);
	jm_source_opts o = url_opts();
	const char *msg = open_fail(url, &o, JM_EXIT_FAIL);
	char want[512];
	snprintf(want, sizeof want, "\"%s\": could not connect: ", url);
	cr_assert(strncmp(msg, want, strlen(want)) == 0, "%s", msg);
	cr_assert(strstr(msg, "refused"), "%s", msg);
	free(url);

	size_t n = 50000;
	char *body = body_of(n);
	server sv;
	server_start(&sv, body, n);
	sv.mode = STALL;
	url = jm_xasprintf("http://127.0.0.1:%d/slow.csv", sv.port);
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	msg = open_fail(url, &o, JM_EXIT_FAIL);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	snprintf(want, sizeof want, "\"%s\": timed out after 10 bytes (", url);
	cr_assert(strncmp(msg, want, strlen(want)) == 0, "%s", msg);
	cr_assert(strstr(msg, "run again to resume"), "%s", msg);
	cr_assert((double)(t1.tv_sec - t0.tv_sec) < 6, "the stall timeout bounds the wait");
	free(url);

	sv.mode = NOT_FOUND;
	url = jm_xasprintf("http://127.0.0.1:%d/missing.csv", sv.port);
	snprintf(want, sizeof want, "\"%s\": HTTP 404", url);
	cr_assert_str_eq(open_fail(url, &o, JM_EXIT_INPUT), want);
	free(url);

	sv.mode = OK;
	url = jm_xasprintf("http://127.0.0.1:%d/big.csv", sv.port);
	o.max_bytes = 1000;
	snprintf(want, sizeof want, "\"%s\": larger than the 1000-byte limit", url);
	cr_assert_str_eq(open_fail(url, &o, JM_EXIT_INPUT), want);
	server_stop(&sv);
	free(url);
	free(body);
}
