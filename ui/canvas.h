/*
 * canvas.h: an in-memory grid of cells, what every screen draws into.
 *
 *   screen state ──render──▶ jm_canvas (w x h cells: UTF-8 glyph, attribute,
 *                            colour) ──term.c──▶ ncursesw (only changed cells)
 *                                    ──tests──▶ jm_canvas_row / _find / attr
 *
 * A cell holds one glyph of display width 1, or the first half of a wide
 * glyph (CJK) followed by a continuation cell whose glyph is "".  Drawing
 * clips at the canvas edge and at the width the caller gives, so a screen
 * never writes outside its region.  Meaning is carried by attributes (bold,
 * reverse, dim, underline); the colour index is semantic (JM_COL_OK, ...)
 * and only adds: the driver drops it under NO_COLOR or on a monochrome
 * terminal.
 *
 * Glyphs for rules, bars and marks come from jm_glyphs (UTF-8 or ASCII),
 * chosen by the canvas's utf8 flag, so every screen has an ASCII fallback.
 *
 * Ownership: jm_canvas_new() returns a canvas the caller frees with
 * jm_canvas_free() (accepts NULL).  jm_canvas_row() returns malloc'd text.
 */
#ifndef JM_UI_CANVAS_H
#define JM_UI_CANVAS_H

#include <stdint.h>
#include <stdio.h>

enum jm_attr {
	JM_A_BOLD = 1 << 0,
	JM_A_REVERSE = 1 << 1,
	JM_A_DIM = 1 << 2,
	JM_A_UNDERLINE = 1 << 3,
};

/* Semantic colours; the driver maps them to colour pairs. */
enum jm_colour {
	JM_COL_NONE = 0,
	JM_COL_OK,      /* done: green */
	JM_COL_BAD,     /* failed, crashed, errors: red */
	JM_COL_LIVE,    /* running: cyan */
	JM_COL_WARN,    /* stopped: yellow */
	JM_COL_OTHER,   /* pruned: magenta */
	JM_COL_ACCENT,  /* headings, queued: blue */
	JM_COL_COUNT
};

typedef struct jm_cell {
	char g[8];     /* UTF-8 glyph, NUL-terminated; "" continues a wide one */
	uint8_t attr;  /* enum jm_attr bits */
	uint8_t col;   /* enum jm_colour */
} jm_cell;

typedef struct jm_canvas {
	int w, h;
	int utf8;      /* glyphs may be outside ASCII */
	jm_cell *cells; /* h rows of w cells */
} jm_canvas;

/* Rules, bars and marks in the canvas's character set. */
typedef struct jm_glyphs {
	const char *hline, *vline, *cross, *bar_full, *bar_empty, *mark, *cursor,
		*up, *down, *ellipsis, *dot, *tee_down;
	const char *corner[4]; /* top-left, top-right, bottom-left, bottom-right */
	const char *shades[5]; /* lightest to darkest */
} jm_glyphs;

jm_canvas *jm_canvas_new(int w, int h, int utf8);
void jm_canvas_free(jm_canvas *c); /* accepts NULL */
/* New size; contents are cleared. */
void jm_canvas_resize(jm_canvas *c, int w, int h);
void jm_canvas_clear(jm_canvas *c);
const jm_glyphs *jm_canvas_glyphs(const jm_canvas *c);

/* Draw s at (x, y), at most maxw columns (maxw < 0: to the right edge); a
 * text cut short ends in an ellipsis.  Returns the columns drawn. */
int jm_canvas_text(jm_canvas *c, int x, int y, int maxw, const char *s, int attr, int col);
int jm_canvas_textf(jm_canvas *c, int x, int y, int maxw, int attr, int col,
		    const char *fmt, ...) __attribute__((format(printf, 7, 8)));
/* Draw s right-aligned in the w columns ending before x + w. */
int jm_canvas_text_right(jm_canvas *c, int x, int y, int w, const char *s, int attr, int col);
/* One glyph of width 1 at (x, y). */
void jm_canvas_put(jm_canvas *c, int x, int y, const char *glyph, int attr, int col);
/* Fill a rectangle with a glyph. */
void jm_canvas_fill(jm_canvas *c, int x, int y, int w, int h, const char *glyph, int attr,
		    int col);
/* OR attributes into (and, if col != JM_COL_NONE, set the colour of) a span. */
void jm_canvas_attr(jm_canvas *c, int x, int y, int w, int attr, int col);
void jm_canvas_hline(jm_canvas *c, int x, int y, int w, int attr);
void jm_canvas_vline(jm_canvas *c, int x, int y, int h, int attr);

const jm_cell *jm_canvas_cell(const jm_canvas *c, int x, int y); /* NULL outside */

/* Row y as UTF-8 text without trailing blanks; malloc'd. */
char *jm_canvas_row(const jm_canvas *c, int y);
/* First position of needle (looked for row by row); 1 if found. */
int jm_canvas_find(const jm_canvas *c, const char *needle, int *x, int *y);
/* Every row, one per line (screenshots). */
void jm_canvas_dump(const jm_canvas *c, FILE *fp);

/* UTF-8 helpers: decode one sequence (returns its length, 1 for a stray
 * byte); the display width of a code point (0, 1 or 2) and of a string. */
int jm_utf8_next(const char *s, unsigned *cp);
int jm_cp_width(unsigned cp);
int jm_text_width(const char *s);

#endif
