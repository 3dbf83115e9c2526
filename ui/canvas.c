/*
 * canvas.c: the in-memory cell grid (see canvas.h).  Text goes in glyph by
 * glyph: decode a UTF-8 sequence, look up its width, store it (and a
 * continuation cell for a wide one), stop at the clip width.
 */
#include "ui/canvas.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "util/err.h"
#include "util/strbuf.h"

static const jm_glyphs glyphs_utf8 = {
	.hline = "─", .vline = "│", .cross = "┼", .bar_full = "█", .bar_empty = "░",
	.mark = "●", .cursor = "▶", .up = "▲", .down = "▼", .ellipsis = "…", .dot = "·",
	.tee_down = "┬", .corner = {"┌", "┐", "└", "┘"}, .shades = {" ", "░", "▒", "▓", "█"},
};

static const jm_glyphs glyphs_ascii = {
	.hline = "-", .vline = "|", .cross = "+", .bar_full = "#", .bar_empty = ".",
	.mark = "*", .cursor = ">", .up = "^", .down = "v", .ellipsis = "~", .dot = "-",
	.tee_down = "+", .corner = {"+", "+", "+", "+"}, .shades = {" ", ".", ":", "+", "#"},
};

const jm_glyphs *jm_canvas_glyphs(const jm_canvas *c)
{
	return c->utf8 ? &glyphs_utf8 : &glyphs_ascii;
}

/* ---- UTF-8 --------------------------------------------------------------- */

int jm_utf8_next(const char *s, unsigned *cp)
{
	const unsigned char *u = (const unsigned char *)s;
	int len = u[0] < 0x80 ? 1 : u[0] >= 0xF0 ? 4 : u[0] >= 0xE0 ? 3 : u[0] >= 0xC0 ? 2 : 1;
	unsigned v = len == 1 ? u[0] : u[0] & (0x3Fu >> (len - 1));
	for (int i = 1; i < len; i++) {
		if ((u[i] & 0xC0) != 0x80) {
			*cp = u[0];
			return 1;
		}
		v = (v << 6) | (u[i] & 0x3F);
	}
	*cp = v;
	return len;
}

int jm_cp_width(unsigned cp)
{
	static const unsigned wide[][2] = {
		{0x1100, 0x115F}, {0x2E80, 0x303E}, {0x3041, 0xA4CF}, {0xAC00, 0xD7A3},
		{0xF900, 0xFAFF}, {0xFE30, 0xFE4F}, {0xFF00, 0xFF60}, {0xFFE0, 0xFFE6},
		{0x1F300, 0x1FAFF}, {0x20000, 0x3FFFD},
	};
	if (cp < 0x20 || cp == 0x7F || (cp >= 0x300 && cp < 0x370) || cp == 0x200B)
		return 0;
	for (size_t i = 0; i < sizeof wide / sizeof wide[0]; i++)
		if (cp >= wide[i][0] && cp <= wide[i][1])
			return 2;
	return 1;
}

int jm_text_width(const char *s)
{
	int w = 0;
	unsigned cp;
	while (*s) {
		s += jm_utf8_next(s, &cp);
		w += jm_cp_width(cp);
	}
	return w;
}

/* ---- the grid -------------------------------------------------------- */

jm_canvas *jm_canvas_new(int w, int h, int utf8)
{
	jm_canvas *c = jm_xcalloc(1, sizeof *c);
	c->utf8 = utf8;
	jm_canvas_resize(c, w, h);
	return c;
}

void jm_canvas_free(jm_canvas *c)
{
	if (!c)
		return;
	free(c->cells);
	free(c);
}

void jm_canvas_resize(jm_canvas *c, int w, int h)
{
	c->w = w > 0 ? w : 1;
	c->h = h > 0 ? h : 1;
	free(c->cells);
	c->cells = jm_xmalloc((size_t)c->w * (size_t)c->h * sizeof *c->cells);
	jm_canvas_clear(c);
}

void jm_canvas_clear(jm_canvas *c)
{
	size_t n = (size_t)c->w * (size_t)c->h;
	for (size_t i = 0; i < n; i++)
		c->cells[i] = (jm_cell){.g = " "};
}

static jm_cell *cell_at(jm_canvas *c, int x, int y)
{
	return x < 0 || y < 0 || x >= c->w || y >= c->h ? NULL : &c->cells[(size_t)y * c->w + x];
}

const jm_cell *jm_canvas_cell(const jm_canvas *c, int x, int y)
{
	return cell_at((jm_canvas *)c, x, y);
}

/* Overwriting half of a wide glyph leaves a blank in its other half. */
static void cell_set(jm_canvas *c, int x, int y, const char *g, size_t n, int attr, int col)
{
	jm_cell *p = cell_at(c, x, y);
	if (!p)
		return;
	if (p->g[0] == '\0' && x > 0)
		strcpy(c->cells[(size_t)y * c->w + x - 1].g, " ");
	jm_cell *next = cell_at(c, x + 1, y);
	if (next && next->g[0] == '\0')
		strcpy(next->g, " ");
	if (n >= sizeof p->g)
		n = 0;
	memcpy(p->g, g, n);
	p->g[n] = '\0';
	if (n == 0)
		strcpy(p->g, "?");
	p->attr = (uint8_t)attr;
	p->col = (uint8_t)col;
}

void jm_canvas_put(jm_canvas *c, int x, int y, const char *glyph, int attr, int col)
{
	cell_set(c, x, y, glyph, strlen(glyph), attr, col);
}

int jm_canvas_text(jm_canvas *c, int x, int y, int maxw, const char *s, int attr, int col)
{
	if (y < 0 || y >= c->h || !s)
		return 0;
	int limit = maxw < 0 ? c->w - x : maxw;
	if (x + limit > c->w)
		limit = c->w - x;
	if (limit <= 0)
		return 0;
	int total = jm_text_width(s), drawn = 0;
	int room = total > limit ? limit - 1 : limit; /* leave a column for … */
	unsigned cp;
	while (*s) {
		int len = jm_utf8_next(s, &cp);
		int w = jm_cp_width(cp);
		if (w == 0) { /* combining marks and controls are dropped */
			s += len;
			continue;
		}
		if (drawn + w > room)
			break;
		if (cp >= 0x80 && !c->utf8)
			cell_set(c, x + drawn, y, "?", 1, attr, col), w = 1;
		else
			cell_set(c, x + drawn, y, s, (size_t)len, attr, col);
		if (w == 2) {
			jm_cell *p = cell_at(c, x + drawn + 1, y);
			if (p)
				*p = (jm_cell){.g = "", .attr = (uint8_t)attr, .col = (uint8_t)col};
		}
		drawn += w;
		s += len;
	}
	if (total > limit && drawn < limit) {
		jm_canvas_put(c, x + drawn, y, jm_canvas_glyphs(c)->ellipsis, attr, col);
		drawn++;
	}
	return drawn;
}

int jm_canvas_textf(jm_canvas *c, int x, int y, int maxw, int attr, int col, const char *fmt,
		    ...)
{
	char buf[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	return jm_canvas_text(c, x, y, maxw, buf, attr, col);
}

int jm_canvas_text_right(jm_canvas *c, int x, int y, int w, const char *s, int attr, int col)
{
	int tw = jm_text_width(s);
	int pad = tw < w ? w - tw : 0;
	return pad + jm_canvas_text(c, x + pad, y, w - pad, s, attr, col);
}

void jm_canvas_fill(jm_canvas *c, int x, int y, int w, int h, const char *glyph, int attr,
		    int col)
{
	for (int j = y; j < y + h; j++)
		for (int i = x; i < x + w; i++)
			jm_canvas_put(c, i, j, glyph, attr, col);
}

void jm_canvas_attr(jm_canvas *c, int x, int y, int w, int attr, int col)
{
	for (int i = x; i < x + w; i++) {
		jm_cell *p = cell_at(c, i, y);
		if (!p)
			continue;
		p->attr |= (uint8_t)attr;
		if (col != JM_COL_NONE)
			p->col = (uint8_t)col;
	}
}

void jm_canvas_hline(jm_canvas *c, int x, int y, int w, int attr)
{
	jm_canvas_fill(c, x, y, w, 1, jm_canvas_glyphs(c)->hline, attr, JM_COL_NONE);
}

void jm_canvas_vline(jm_canvas *c, int x, int y, int h, int attr)
{
	jm_canvas_fill(c, x, y, 1, h, jm_canvas_glyphs(c)->vline, attr, JM_COL_NONE);
}

char *jm_canvas_row(const jm_canvas *c, int y)
{
	jm_buf b = JM_BUF_INIT;
	if (y >= 0 && y < c->h)
		for (int x = 0; x < c->w; x++)
			jm_buf_addstr(&b, c->cells[(size_t)y * c->w + x].g);
	char *s = jm_buf_detach(&b, NULL);
	size_t n = strlen(s);
	while (n > 0 && s[n - 1] == ' ')
		s[--n] = '\0';
	return s;
}

int jm_canvas_find(const jm_canvas *c, const char *needle, int *x, int *y)
{
	for (int j = 0; j < c->h; j++) {
		char *row = jm_canvas_row(c, j);
		char *hit = strstr(row, needle);
		if (hit) {
			*hit = '\0';
			if (x)
				*x = jm_text_width(row);
			if (y)
				*y = j;
			free(row);
			return 1;
		}
		free(row);
	}
	return 0;
}

void jm_canvas_dump(const jm_canvas *c, FILE *fp)
{
	for (int y = 0; y < c->h; y++) {
		char *row = jm_canvas_row(c, y);
		fprintf(fp, "%s\n", row);
		free(row);
	}
}
