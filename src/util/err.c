/* err.c: error values carried out of library code, and checked allocation. */
#include "util/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void vset(jm_err *err, int code, int batch_too_big, const char *fmt, va_list ap)
{
	vsnprintf(err->msg, sizeof err->msg, fmt, ap);
	err->code = code;
	err->batch_too_big = batch_too_big;
}

int jm_err_set(jm_err *err, int code, const char *fmt, ...)
{
	if (!err)
		return -1;
	va_list ap;
	va_start(ap, fmt);
	vset(err, code, 0, fmt, ap);
	va_end(ap);
	return -1;
}

int jm_err_batch(jm_err *err, const char *fmt, ...)
{
	if (!err)
		return -1;
	va_list ap;
	va_start(ap, fmt);
	vset(err, JM_EXIT_FAIL, 1, fmt, ap);
	va_end(ap);
	return -1;
}

int jm_err_prefix(jm_err *err, const char *fmt, ...)
{
	if (!err)
		return -1;
	char head[512], old[sizeof err->msg];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(head, sizeof head, fmt, ap);
	va_end(ap);
	memcpy(old, err->msg, sizeof old);
	size_t n = strlen(head);
	if (n > sizeof err->msg - 3)
		n = sizeof err->msg - 3;
	memcpy(err->msg, head, n);
	memcpy(err->msg + n, ": ", 2);
	size_t room = sizeof err->msg - n - 3, len = strlen(old);
	memcpy(err->msg + n + 2, old, len < room ? len : room);
	err->msg[n + 2 + (len < room ? len : room)] = '\0';
	return -1;
}

void jm_err_print(const jm_err *err)
{
	fprintf(stderr, "jianmo: %s\n", err && err->msg[0] ? err->msg : "unknown error");
}

static void oom(size_t n)
{
	fprintf(stderr, "jianmo: out of memory allocating %zu bytes\n", n);
	abort();
}

void *jm_xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		oom(n);
	return p;
}

void *jm_xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);
	if (!p)
		oom(n * size);
	return p;
}

void *jm_xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);
	if (!q)
		oom(n);
	return q;
}

char *jm_xstrdup(const char *s)
{
	size_t n = strlen(s) + 1;
	return memcpy(jm_xmalloc(n), s, n);
}

char *jm_xasprintf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	char *s = jm_xmalloc((size_t)n + 1);
	va_start(ap, fmt);
	vsnprintf(s, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return s;
}
