/*
 * line.h: a one-line text editor (filters, commands, form fields, prompts):
 * UTF-8 text, a cursor, the usual keys (arrows, Home/End, Backspace,
 * Delete, Ctrl-A/E/U/K/W).  Owns no memory beyond its fixed buffer.
 */
#ifndef JM_UI_LINE_H
#define JM_UI_LINE_H

#include <stddef.h>

#include "ui/canvas.h"

#define JM_LINE_MAX 1024

typedef struct jm_line {
	char buf[JM_LINE_MAX]; /* NUL-terminated */
	size_t len, cur;       /* bytes; cur is at a sequence boundary */
} jm_line;

void jm_line_set(jm_line *l, const char *text);
/* Edit with key; 1 if the key was an editing key. */
int jm_line_key(jm_line *l, int key);
/* Draw label + text in w columns at (x, y), the cursor in reverse,
 * scrolled so the cursor stays visible. */
void jm_line_draw(const jm_line *l, jm_canvas *c, int x, int y, int w, const char *label);

#endif
