/*
 * outpath.c: the checks of outpath.h.
 */
#include "util/outpath.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util/strbuf.h"

int jm_mkstemp_file(char *tmp)
{
	int fd = mkstemp(tmp);
	if (fd >= 0) {
		mode_t mask = umask(0);
		umask(mask);
		fchmod(fd, 0666 & ~mask);
	}
	return fd;
}

int jm_path_under(const char *real, const struct stat *dir_st)
{
	char *p = jm_xstrdup(real);
	int inside = 0;
	for (;;) {
		struct stat st;
		if (stat(p, &st) == 0 && st.st_dev == dir_st->st_dev && st.st_ino == dir_st->st_ino) {
			inside = 1;
			break;
		}
		char *slash = strrchr(p, '/');
		if (!slash || slash == p) {
			if (strcmp(p, "/") && stat("/", &st) == 0)
				inside = st.st_dev == dir_st->st_dev && st.st_ino == dir_st->st_ino;
			break;
		}
		*slash = '\0';
	}
	free(p);
	return inside;
}

/* The real path of file's directory joined to its last component, for a
 * file that does not exist yet. */
static char *resolve_new(const char *file, const char *label, jm_err *err)
{
	const char *slash = strrchr(file, '/');
	char *dir = slash ? jm_xasprintf("%.*s", (int)(slash - file + (slash == file)), file)
			  : jm_xstrdup(".");
	const char *base = slash ? slash + 1 : file;
	char *rdir = realpath(dir, NULL), *real = NULL;
	struct stat st;
	if (!rdir) {
		if (errno == ENOENT)
			jm_err_set(err, JM_EXIT_INPUT, "%s: directory %s does not exist", label, dir);
		else
			jm_err_set(err, JM_EXIT_INPUT, "%s: %s: %s", label, dir, strerror(errno));
	} else if (stat(rdir, &st) < 0 || !S_ISDIR(st.st_mode)) {
		jm_err_set(err, JM_EXIT_INPUT, "%s: %s is not a directory", label, dir);
	} else if (!*base) {
		jm_err_set(err, JM_EXIT_INPUT, "%s: names a directory, not a file", label);
	} else {
		real = jm_xasprintf("%s%s%s", rdir, strcmp(rdir, "/") ? "/" : "", base);
	}
	free(rdir);
	free(dir);
	return real;
}

int jm_outpath_resolve(jm_outpath *o, const char *file, const char *label, const char *home,
		       const char *what, jm_err *err)
{
	if (!label)
		label = file;
	memset(o, 0, sizeof *o);
	struct stat home_st;
	char *rhome = NULL;
	if (home && (!(rhome = realpath(home, NULL)) || stat(rhome, &home_st) < 0)) {
		jm_err_set(err, JM_EXIT_FAIL, "%s: %s", home, strerror(errno));
		goto fail;
	}
	o->exists = stat(file, &o->st) == 0;
	int stat_errno = errno;
	struct stat lst;
	if (!o->exists && stat_errno == ENOENT && lstat(file, &lst) == 0) {
		jm_err_set(err, JM_EXIT_INPUT, "%s: a symbolic link to a file that does not exist; "
			   "remove it or name another file", label);
		goto fail;
	}
	if (!o->exists && stat_errno != ENOENT) {
		jm_err_set(err, JM_EXIT_INPUT, "%s: %s", label, strerror(stat_errno));
		goto fail;
	}
	o->real = o->exists ? realpath(file, NULL) : resolve_new(file, label, err);
	/* /dev/fd/1 on a pipe names "pipe:[N]", which has no path */
	if (!o->real && o->exists && !S_ISREG(o->st.st_mode) && !S_ISDIR(o->st.st_mode))
		o->real = jm_xstrdup(file);
	if (!o->real) {
		if (o->exists)
			jm_err_set(err, JM_EXIT_INPUT, "%s: %s", label, strerror(errno));
		goto fail;
	}
	if (rhome && jm_path_under(o->real, &home_st)) {
		jm_err_set(err, JM_EXIT_INPUT, "%s: inside the store's home %s; %s there would "
			   "replace the store's own files (write it elsewhere)", label, rhome, what);
		goto fail;
	}
	free(rhome);
	return 0;
fail:
	free(rhome);
	jm_outpath_free(o);
	return -1;
}

void jm_outpath_free(jm_outpath *o)
{
	if (!o)
		return;
	free(o->real);
	o->real = NULL;
}
