/*
 * outpath.h: where a command may write a file it makes whole (a temporary
 * file beside it, renamed over it when complete), as export --bundle and
 * predict --out do.  A slip of the keyboard must not replace the store's
 * own files, so before anything is written the path is resolved and
 * checked:
 *
 *   FILE ──symlink followed (a link to nothing refused)──▶ real path
 *        ──its directory must exist──▶
 *        ──nothing inside the store's home (device and inode along the
 *          real path, so links, ".." and bind mounts do not hide it)──▶ ok
 *
 * What may be replaced beyond that (no directory, a bundle only over a
 * bundle, a device written in place) is the caller's to decide from
 * o->exists and o->st.
 */
#ifndef JM_OUTPATH_H
#define JM_OUTPATH_H

#include <sys/stat.h>

#include "util/err.h"

typedef struct jm_outpath {
	char *real;     /* the path to write (malloc'd) */
	int exists;     /* FILE exists; st describes it (links followed) */
	struct stat st;
} jm_outpath;

/* Resolve file for writing; home is the store's home (NULL: no store to
 * keep out of) and what names the file in messages ("a bundle").  Errors
 * are JM_EXIT_INPUT starting with label (NULL: file).  On success
 * o->real is set (for a device or fifo without a path, file itself); free
 * it with jm_outpath_free (which accepts a zeroed or failed one). */
int jm_outpath_resolve(jm_outpath *o, const char *file, const char *label, const char *home,
		       const char *what, jm_err *err);
void jm_outpath_free(jm_outpath *o);

/* mkstemp(tmp) with the mode an ordinary new file gets (0666 less the
 * umask; mkstemp's own is 0600), for a file renamed into place when
 * complete.  The descriptor, or -1 with errno. */
int jm_mkstemp_file(char *tmp);

/* 1 when real, or a directory above it, is the directory dir_st describes. */
int jm_path_under(const char *real, const struct stat *dir_st);

#endif
