/* doc.c: styled lines (see doc.h). */
#include "ui/doc.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/err.h"
#include "util/strbuf.h"

static void doc_push(jm_doc *d, char *s, int attr, int col)
{
	if (d->n == d->cap) {
		d->cap = d->cap ? d->cap * 2 : 64;
		d->line = jm_xrealloc(d->line, (size_t)d->cap * sizeof *d->line);
		d->attr = jm_xrealloc(d->attr, (size_t)d->cap);
		d->col = jm_xrealloc(d->col, (size_t)d->cap);
	}
	d->line[d->n] = s;
	d->attr[d->n] = (uint8_t)attr;
	d->col[d->n++] = (uint8_t)col;
}

void jm_doc_add(jm_doc *d, int attr, int col, const char *fmt, ...)
{
	jm_buf b = JM_BUF_INIT;
	va_list ap;
	va_start(ap, fmt);
	jm_buf_vprintf(&b, fmt, ap);
	va_end(ap);
	doc_push(d, jm_buf_detach(&b, NULL), attr, col);
}

void jm_doc_text(jm_doc *d, const char *text, int attr, int col)
{
	const char *p = text ? text : "";
	while (*p) {
		size_t len = strcspn(p, "\n");
		jm_buf b = JM_BUF_INIT;
		for (size_t i = 0; i < len; i++) {
			if (p[i] == '\t')
				jm_buf_addstr(&b, "        ");
			else if (p[i] != '\r')
				jm_buf_addch(&b, p[i]);
		}
		doc_push(d, jm_buf_detach(&b, NULL), attr, col);
		p += len + (p[len] == '\n');
	}
}

void jm_doc_clear(jm_doc *d)
{
	for (int i = 0; i < d->n; i++)
		free(d->line[i]);
	free(d->line);
	free(d->attr);
	free(d->col);
	memset(d, 0, sizeof *d);
}

void jm_doc_draw(const jm_doc *d, jm_canvas *c, int x, int y, int w, int h, int top)
{
	for (int i = 0; i < h && top + i < d->n; i++)
		if (top + i >= 0)
			jm_canvas_text(c, x, y + i, w, d->line[top + i], d->attr[top + i],
				       d->col[top + i]);
}
