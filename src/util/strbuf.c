/*
 * strbuf.c: the growable byte buffer of strbuf.h.
 *
 *   add / addstr / printf ──grow (capacity doubles)──▶ b.s[0..len) + NUL
 *                                         detach ──▶ caller's string
 */
#include "util/strbuf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/err.h"

void jm_buf_grow(jm_buf *b, size_t extra)
{
	if (extra >= (size_t)-1 - b->len - 1) {
		fputs("jianmo: buffer size overflow\n", stderr);
		abort();
	}
	size_t need = b->len + extra + 1;
	if (need <= b->cap)
		return;
	size_t cap = b->cap ? b->cap : 64;
	while (cap < need)
		cap = cap > (size_t)-1 / 2 ? need : cap * 2;
	b->s = jm_xrealloc(b->s, cap);
	b->cap = cap;
}

void jm_buf_add(jm_buf *b, const void *data, size_t n)
{
	jm_buf_grow(b, n);
	if (n)
		memcpy(b->s + b->len, data, n);
	b->len += n;
	b->s[b->len] = '\0';
}

void jm_buf_addstr(jm_buf *b, const char *s)
{
	jm_buf_add(b, s, strlen(s));
}

void jm_buf_addch(jm_buf *b, char c)
{
	jm_buf_add(b, &c, 1);
}

void jm_buf_vprintf(jm_buf *b, const char *fmt, va_list ap)
{
	va_list again;
	va_copy(again, ap);
	jm_buf_grow(b, 64);
	int n = vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap);
	if (n < 0) { /* an encoding error: add nothing */
		b->s[b->len] = '\0';
		va_end(again);
		return;
	}
	if ((size_t)n >= b->cap - b->len) {
		jm_buf_grow(b, (size_t)n);
		vsnprintf(b->s + b->len, b->cap - b->len, fmt, again);
	}
	va_end(again);
	b->len += (size_t)n;
}

void jm_buf_printf(jm_buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	jm_buf_vprintf(b, fmt, ap);
	va_end(ap);
}

const char *jm_buf_str(const jm_buf *b)
{
	return b->s ? b->s : "";
}

void jm_buf_reset(jm_buf *b)
{
	b->len = 0;
	if (b->s)
		b->s[0] = '\0';
}

char *jm_buf_detach(jm_buf *b, size_t *len)
{
	char *s = b->s ? b->s : jm_xcalloc(1, 1);
	if (len)
		*len = b->len;
	b->s = NULL;
	b->len = b->cap = 0;
	return s;
}

void jm_buf_release(jm_buf *b)
{
	if (!b)
		return;
	free(b->s);
	b->s = NULL;
	b->len = b->cap = 0;
}
