/*
 * source.h: where a table's bytes come from, resolved to one buffer in
 * memory.
 *
 *   "data.csv"                    the file, memory-mapped
 *   "data.csv.gz" (.bz2 .xz .zst) decompressed into memory (libarchive)
 *   "data.zip:train.csv"          one member of a .zip / .tar / .tar.gz /
 *   "data.tar.gz:dir/train.csv"   .tgz / .tar.bz2 / .tar.xz (libarchive);
 *                                 an archive with a single CSV member may
 *                                 be named without ":member"
 *   "https://host/x.csv[.gz]"     downloaded once through libcurl into the
 *   "https://host/x.zip:a.csv"    cache, then as above
 *
 * Downloads: the cache is $XDG_CACHE_HOME/jianmo/downloads (else
 * ~/.cache/jianmo/downloads), one file per URL named by the SHA-256 of
 * the URL plus the URL's base name.  Bytes go to NAME.part first; a
 * failed or interrupted download leaves the .part, and the next attempt
 * resumes it with an HTTP Range request (starting over when the server
 * ignores the range).  The finished file is renamed into place, so a
 * second run reads the cache without touching the network.  TLS peers and
 * host names are always verified; only http and https are allowed, also
 * across redirects.  A sha256 pin is checked on every open, cached or
 * not; a mismatching download is deleted.
 *
 * Parquet, Feather/Arrow, ORC, Avro, Excel, JSON, pickle and HDF5 are
 * refused with a message saying so (by extension and by magic bytes).
 */
#ifndef JM_SOURCE_H
#define JM_SOURCE_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

#define JM_SOURCE_MAX_BYTES ((int64_t)16 << 30) /* default size cap, 16 GiB */

/* Download progress: total is -1 while unknown.  Return non-zero to
 * abort the transfer. */
typedef int (*jm_progress_fn)(void *ctx, int64_t done, int64_t total);

typedef struct jm_source_opts {
	const char *cache_dir;   /* NULL: the XDG cache (see above) */
	const char *sha256;      /* expected hex digest of the file, or NULL */
	int64_t max_bytes;       /* cap on a download or a decompressed member;
				  * 0: JM_SOURCE_MAX_BYTES */
	long connect_timeout_s;  /* 0: 20 s */
	long stall_timeout_s;    /* abort after this long without a byte; 0: 60 s */
	long timeout_s;          /* whole transfer; 0: no limit */
	int refresh;             /* 1: download again even when cached */
	jm_progress_fn progress; /* NULL: none */
	void *progress_ctx;
} jm_source_opts;

void jm_source_opts_init(jm_source_opts *o);

typedef struct jm_source {
	const char *data;  /* the bytes, valid until jm_source_close */
	size_t n;
	char *name;        /* for messages: "data.zip:train.csv", the URL, ... */
	char *path;        /* the local file read (the cache file for a URL) */
	int from_cache;    /* a URL served from the cache */
	/* private */
	void *map;
	size_t map_len;
	char *heap;
} jm_source;

/* Resolve spec to bytes.  Errors (JM_EXIT_INPUT unless noted):
 *   "x.csv": No such file or directory
 *   "x.parquet": Parquet files are not supported; save the table as CSV
 *   "a.zip": no member "b.csv" (members: a.csv, c.csv)
 *   "https://...": could not connect: Connection refused   (JM_EXIT_FAIL)
 *   "https://...": download truncated at N of M bytes; run again to resume
 *   "https://...": sha256 mismatch: expected X, got Y
 *   "https://...": larger than the N-byte limit */
int jm_source_open(jm_source *s, const char *spec, const jm_source_opts *o, jm_err *err);
void jm_source_close(jm_source *s); /* accepts NULL or a zeroed source */

/* The cache file a URL maps to (malloc'd), in o->cache_dir or the XDG
 * cache; NULL with err set when no cache directory can be found. */
char *jm_source_cache_path(const char *url, const jm_source_opts *o, jm_err *err);

/* 1 when spec is an http(s) URL. */
int jm_source_is_url(const char *spec);

/* A ready-made jm_progress_fn: ctx is a FILE * (NULL: stderr).  On a
 * terminal it redraws "[#####     ]  50% 1.2/2.4 MB" at most ten times a
 * second; otherwise it prints a plain line every 10%. */
int jm_source_progress_print(void *ctx, int64_t done, int64_t total);

#endif
