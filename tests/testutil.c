/* testutil.c: temporary directories, files and running the binary. */
#include "testutil.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

char *jt_tmpdir(void)
{
	const char *base = getenv("TMPDIR");
	char tmpl[4096];
	snprintf(tmpl, sizeof tmpl, "%s/jianmo-test-XXXXXX", base && *base ? base : "/tmp");
	if (!mkdtemp(tmpl)) {
		perror("mkdtemp");
		abort();
	}
	return strdup(tmpl);
}

void jt_rm_rf(const char *path)
{
	if (!path || !*path || !strcmp(path, "/"))
		return;
	char cmd[4200];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", path);
	if (system(cmd) != 0)
		fprintf(stderr, "warning: could not remove %s\n", path);
}

char *jt_write(const char *dir, const char *name, const char *text)
{
	char *path;
	if (dir) {
		size_t n = strlen(dir) + strlen(name) + 2;
		path = malloc(n);
		snprintf(path, n, "%s/%s", dir, name);
	} else {
		path = strdup(name);
	}
	FILE *f = fopen(path, "wb");
	if (!f) {
		perror(path);
		abort();
	}
	fputs(text, f);
	fclose(f);
	return path;
}

char *jt_read(const char *path, size_t *n)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	size_t cap = 4096, len = 0;
	char *buf = malloc(cap);
	size_t got;
	while ((got = fread(buf + len, 1, cap - len - 1, f)) > 0) {
		len += got;
		if (cap - len < 2)
			buf = realloc(buf, cap *= 2);
	}
	fclose(f);
	buf[len] = '\0';
	if (n)
		*n = len;
	return buf;
}

const char *jt_bin(void)
{
	/* tests cd into their own directories: make the default absolute */
	static char path[4096];
	const char *b = getenv("JIANMO_BIN");
	if (b && *b)
		return b;
	if (!path[0] && !realpath("./jianmo", path))
		snprintf(path, sizeof path, "./jianmo");
	return path;
}

const char *jt_srcdir(void)
{
	const char *s = getenv("JIANMO_SRCDIR");
	return s && *s ? s : ".";
}

const char *jt_fmnist_dir(void)
{
	static const char *dir = "/usr/share/datasets/fashion-mnist";
	struct stat st;
	return stat("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz", &st) == 0 ? dir : NULL;
}

static int run_capture(const char *cwd, char **out, char **err, const char *cmdline)
{
	char *dir = jt_tmpdir();
	size_t n = strlen(cmdline) + strlen(dir) * 2 + strlen(cwd ? cwd : ".") + 64;
	char *full = malloc(n);
	snprintf(full, n, "cd '%s' && ( %s ) </dev/null >'%s/out' 2>'%s/err'",
		 cwd ? cwd : ".", cmdline, dir, dir);
	int st = system(full);
	free(full);
	char path[4200];
	if (out) {
		snprintf(path, sizeof path, "%s/out", dir);
		*out = jt_read(path, NULL);
		if (!*out)
			*out = strdup("");
	}
	if (err) {
		snprintf(path, sizeof path, "%s/err", dir);
		*err = jt_read(path, NULL);
		if (!*err)
			*err = strdup("");
	}
	jt_rm_rf(dir);
	free(dir);
	if (st == -1)
		return -1;
	if (WIFSIGNALED(st))
		return 128 + WTERMSIG(st);
	return WEXITSTATUS(st);
}

static char *vformat(const char *fmt, va_list ap)
{
	va_list ap2;
	va_copy(ap2, ap);
	int n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	char *s = malloc((size_t)n + 1);
	vsnprintf(s, (size_t)n + 1, fmt, ap);
	return s;
}

int jt_jianmo(const char *cwd, char **out, char **err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *args = vformat(fmt, ap);
	va_end(ap);
	size_t n = strlen(args) + strlen(jt_bin()) + 8;
	char *cmd = malloc(n);
	snprintf(cmd, n, "'%s' %s", jt_bin(), args);
	int rc = run_capture(cwd, out, err, cmd);
	free(cmd);
	free(args);
	return rc;
}

int jt_sh(const char *cwd, char **out, char **err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *cmd = vformat(fmt, ap);
	va_end(ap);
	int rc = run_capture(cwd, out, err, cmd);
	free(cmd);
	return rc;
}

const char *const jt_full_step_flow =
	"[data]\n"
	"limit = 6400\n"
	"test_limit = 1000\n"
	"[augment]\n"
	"cutmix = 1.0\n"
	"mixup = 1.0\n"
	"hflip = 0.5\n"
	"crop_padding = 2\n"
	"erasing = 0.25\n"
	"[model]\n"
	"type = cnn\n"
	"layers = c8 p c16 gap d0.1 fc10\n"
	"[train]\n"
	"epochs = 2\n"
	"batch = 64\n"
	"lr = 3e-3\n"
	"schedule = onecycle\n"
	"clip = 1.0\n"
	"accumulate = 2\n"
	"log_every = 5\n";
