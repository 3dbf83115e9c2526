/*
 * bundle.h: a run as a portable .tar.gz (`jianmo export` / `jianmo import`).
 *
 *   bundle.tar.gz
 *   ├── manifest.json              format "jianmo-bundle", version 1, and the
 *   │                              run: fields (a trial's "number", the time
 *   │                              run before a resume: "resumed", "prior";
 *   │                              each optional on import), params, every
 *   │                              metric point, tags, artifacts (with
 *   │                              sha256), flow text, and its child runs
 *   │                              (a search's trials) nested under "children"
 *   ├── artifacts/FILE             the run's artifact files (FILE: the path
 *   │                              inside its run folder)
 *   └── trials/K/artifacts/FILE    those of the K-th child (1-based)
 *
 * Export reads the store and the run folders and writes the archive to a
 * temporary file beside FILE, renamed into place once complete; an artifact
 * whose file no longer matches its recorded sha256 stops the export.
 *
 * Import is all or nothing.  Members are extracted to a temporary folder
 * inside HOME under numbered names (never under a name from the archive),
 * hashed as they stream, and only regular files and directories are
 * accepted: absolute paths, ".." components, symbolic and hard links,
 * devices, fifos and sockets, sparse files, members over the size caps,
 * members the manifest does not list, a missing or invalid manifest and a
 * checksum mismatch are each refused with the member named (code
 * JM_EXIT_INPUT).  The rows go in one transaction; the run folders are
 * renamed into HOME/runs/<id> just before it commits, and moved back if it
 * does not.  Imported runs get new ids; a run that was `running` or
 * `queued` in the bundle comes in as `stopped`.
 */
#ifndef JM_BUNDLE_H
#define JM_BUNDLE_H

#include <stdint.h>

#include "store/store.h"
#include "util/err.h"

#define JM_BUNDLE_FORMAT "jianmo-bundle"
#define JM_BUNDLE_VERSION 1

/* Size caps applied while reading a bundle. */
typedef struct jm_bundle_limits {
	int64_t member_max;   /* bytes per member */
	int64_t total_max;    /* bytes of all members together */
	int64_t manifest_max; /* bytes of manifest.json */
} jm_bundle_limits;

#define JM_BUNDLE_MEMBER_MAX (INT64_C(4) << 30)    /* 4 GiB */
#define JM_BUNDLE_TOTAL_MAX (INT64_C(64) << 30)    /* 64 GiB */
#define JM_BUNDLE_MANIFEST_MAX (INT64_C(512) << 20) /* 512 MiB */

/* Write run (and its children, recursively) to path.  *n_runs (may be
 * NULL) receives how many runs the bundle holds. */
int jm_bundle_export(jm_store *s, int64_t run, const char *path, int *n_runs, jm_err *err);

/* Add the runs in the bundle at path to the store.  limits NULL: the
 * defaults above.  *run receives the new id of the top run, *n_runs (may be
 * NULL) how many runs were added. */
int jm_bundle_import(jm_store *s, const char *path, const jm_bundle_limits *limits,
		     int64_t *run, int *n_runs, jm_err *err);

/* What an import added, and whether the store had the bundle's run already
 * (imported before, or exported from this store): a run with the same
 * kind, name, seed, host and creation time.  It is imported all the same;
 * saying so is the caller's. */
typedef struct jm_bundle_report {
	int64_t run;          /* the new id of the top run */
	int n_runs;           /* how many runs were added */
	int64_t bundle_run;   /* the top run's id where it was exported (0: unknown) */
	int64_t earlier;      /* the oldest run already here that is the same; 0: none */
	int earlier_imported; /* earlier came in by an import (never ran here) */
} jm_bundle_report;

/* jm_bundle_import, with the report (all zero on failure). */
int jm_bundle_import_report(jm_store *s, const char *path, const jm_bundle_limits *limits,
			    jm_bundle_report *report, jm_err *err);

#endif
