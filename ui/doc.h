/*
 * doc.h: a scrollable document of styled lines, what the text-like views
 * (run detail tabs, flow diff, log) build and draw.  Owns its lines.
 */
#ifndef JM_UI_DOC_H
#define JM_UI_DOC_H

#include <stdint.h>

#include "ui/canvas.h"

typedef struct jm_doc {
	char **line;
	uint8_t *attr, *col;
	int n, cap;
} jm_doc;

void jm_doc_add(jm_doc *d, int attr, int col, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* Each line of text (tabs become spaces). */
void jm_doc_text(jm_doc *d, const char *text, int attr, int col);
void jm_doc_clear(jm_doc *d); /* frees the lines; the doc is empty again */
/* Lines top.. in the w x h region at (x, y). */
void jm_doc_draw(const jm_doc *d, jm_canvas *c, int x, int y, int w, int h, int top);

#endif
