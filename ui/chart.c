/*
 * chart.c: braille line charts and images (see chart.h).  A chart keeps one
 * byte of dots and one series index per plot cell; segments are rasterised
 * in dot space and the cells turned into glyphs at the end.
 */
#include "ui/chart.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/err.h"

/* Bit of the braille dot at (dx, dy) in a 2 x 4 cell. */
static const uint8_t braille_bit[4][2] = {{0x01, 0x08}, {0x02, 0x10}, {0x04, 0x20},
					  {0x40, 0x80}};

static void braille_glyph(uint8_t bits, char out[4])
{
	unsigned cp = 0x2800u + bits;
	out[0] = (char)(0xE0 | (cp >> 12));
	out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
	out[2] = (char)(0x80 | (cp & 0x3F));
	out[3] = '\0';
}

static const int series_colours[] = {JM_COL_LIVE, JM_COL_WARN, JM_COL_OK, JM_COL_OTHER,
				     JM_COL_ACCENT, JM_COL_BAD};
static const char *const ascii_marks[] = {"*", "+", "o", "x", "#", "@"};
#define NSTYLE ((int)(sizeof series_colours / sizeof series_colours[0]))

int jm_chart_series_colour(int i)
{
	return series_colours[i % NSTYLE];
}

int jm_chart_series_attr(int i)
{
	return i % 2 ? JM_A_BOLD : 0;
}

/* Short labels: 0.8712, 1.2e+04, 12345 */
static void fmt_label(char *buf, size_t n, double v)
{
	if (v != 0 && (fabs(v) >= 1e5 || fabs(v) < 1e-3))
		snprintf(buf, n, "%.2g", v);
	else
		snprintf(buf, n, "%.4g", v);
}

typedef struct plot {
	int w, h;        /* cells */
	int dw, dh;      /* dots: 2w x 4h (braille) or w x h (ASCII) */
	int braille;
	uint8_t *dots;   /* per cell: braille bits, or 1 when marked */
	int8_t *who;     /* per cell: series that drew last, -1 none */
} plot;

static void plot_dot(plot *p, int dx, int dy, int series)
{
	if (dx < 0 || dy < 0 || dx >= p->dw || dy >= p->dh)
		return;
	int cx = p->braille ? dx / 2 : dx, cy = p->braille ? dy / 4 : dy;
	size_t i = (size_t)cy * p->w + cx;
	p->dots[i] |= p->braille ? braille_bit[dy % 4][dx % 2] : 1;
	p->who[i] = (int8_t)series;
}

static void plot_line(plot *p, int x0, int y0, int x1, int y1, int series)
{
	int dx = abs(x1 - x0), sx = x0 < x1 ? 1 : -1;
	int dy = -abs(y1 - y0), sy = y0 < y1 ? 1 : -1;
	int e = dx + dy;
	for (;;) {
		plot_dot(p, x0, y0, series);
		if (x0 == x1 && y0 == y1)
			break;
		int e2 = 2 * e;
		if (e2 >= dy)
			e += dy, x0 += sx;
		if (e2 <= dx)
			e += dx, y0 += sy;
	}
}

void jm_chart_draw(jm_canvas *c, int x, int y, int w, int h, const char *title,
		   const jm_series *s, int ns)
{
	if (w < 16 || h < 4)
		return;
	/* ranges */
	double xmin = INFINITY, xmax = -INFINITY, ymin = INFINITY, ymax = -INFINITY;
	for (int k = 0; k < ns; k++)
		for (int i = 0; i < s[k].n; i++) {
			if (!isfinite(s[k].y[i]) || !isfinite(s[k].x[i]))
				continue;
			xmin = fmin(xmin, s[k].x[i]), xmax = fmax(xmax, s[k].x[i]);
			ymin = fmin(ymin, s[k].y[i]), ymax = fmax(ymax, s[k].y[i]);
		}
	/* title and legend */
	int tx = x + jm_canvas_text(c, x, y, w, title ? title : "", JM_A_BOLD, JM_COL_NONE);
	for (int k = 0; k < ns && tx < x + w - 2; k++) {
		char item[80];
		const char *mark = c->utf8 ? "━" : ascii_marks[k % NSTYLE];
		snprintf(item, sizeof item, " %s %s", mark, s[k].name ? s[k].name : "");
		tx += jm_canvas_text(c, tx, y, x + w - tx, item, jm_chart_series_attr(k),
				     jm_chart_series_colour(k));
	}
	if (!(ymin <= ymax)) {
		jm_canvas_text(c, x + 2, y + h / 2, w - 2, "no data yet", JM_A_DIM, JM_COL_NONE);
		return;
	}
	if (ymax == ymin) {
		double pad = ymin == 0 ? 0.5 : fabs(ymin) * 0.05;
		ymin -= pad, ymax += pad;
	}
	if (xmax == xmin)
		xmax = xmin + 1;

	char top[32], mid[32], bot[32];
	fmt_label(top, sizeof top, ymax);
	fmt_label(mid, sizeof mid, (ymax + ymin) / 2);
	fmt_label(bot, sizeof bot, ymin);
	int lab = jm_text_width(top);
	lab = jm_text_width(mid) > lab ? jm_text_width(mid) : lab;
	lab = jm_text_width(bot) > lab ? jm_text_width(bot) : lab;
	plot p = {.w = w - lab - 1, .h = h - 2, .braille = c->utf8};
	p.dw = p.braille ? p.w * 2 : p.w;
	p.dh = p.braille ? p.h * 4 : p.h;
	int px = x + lab + 1, py = y + 1;
	jm_canvas_text_right(c, x, py, lab, top, JM_A_DIM, JM_COL_NONE);
	jm_canvas_text_right(c, x, py + (p.h - 1) / 2, lab, mid, JM_A_DIM, JM_COL_NONE);
	jm_canvas_text_right(c, x, py + p.h - 1, lab, bot, JM_A_DIM, JM_COL_NONE);
	jm_canvas_vline(c, x + lab, py, p.h, JM_A_DIM);

	p.dots = jm_xcalloc((size_t)p.w * p.h, 1);
	p.who = jm_xmalloc((size_t)p.w * p.h);
	memset(p.who, -1, (size_t)p.w * p.h);
	for (int k = 0; k < ns; k++) {
		int have = 0, lx = 0, ly = 0;
		for (int i = 0; i < s[k].n; i++) {
			if (!isfinite(s[k].y[i]) || !isfinite(s[k].x[i])) {
				have = 0;
				continue;
			}
			int dx = (int)lround((s[k].x[i] - xmin) / (xmax - xmin) * (p.dw - 1));
			int dy = (int)lround((ymax - s[k].y[i]) / (ymax - ymin) * (p.dh - 1));
			if (have)
				plot_line(&p, lx, ly, dx, dy, k);
			else
				plot_dot(&p, dx, dy, k);
			have = 1, lx = dx, ly = dy;
		}
	}
	for (int j = 0; j < p.h; j++)
		for (int i = 0; i < p.w; i++) {
			size_t n = (size_t)j * p.w + i;
			if (!p.dots[n])
				continue;
			char g[4];
			if (p.braille)
				braille_glyph(p.dots[n], g);
			else
				snprintf(g, sizeof g, "%s", ascii_marks[p.who[n] % NSTYLE]);
			jm_canvas_put(c, px + i, py + j, g, jm_chart_series_attr(p.who[n]),
				      jm_chart_series_colour(p.who[n]));
		}
	free(p.dots);
	free(p.who);

	fmt_label(bot, sizeof bot, xmin);
	fmt_label(top, sizeof top, xmax);
	jm_canvas_text(c, px, y + h - 1, p.w / 2, bot, JM_A_DIM, JM_COL_NONE);
	jm_canvas_text_right(c, px + p.w / 2, y + h - 1, p.w - p.w / 2, top, JM_A_DIM,
			     JM_COL_NONE);
}

/* ---- images -------------------------------------------------------------- */

void jm_image_cells(int pw, int ph, int *cw, int *ch)
{
	*cw = (pw + 1) / 2;
	*ch = (ph + 3) / 4;
}

void jm_image_draw(jm_canvas *c, int x, int y, const uint8_t *pixels, int pw, int ph)
{
	/* 4x4 Bayer thresholds, 0..15, scaled to bytes */
	static const uint8_t bayer[4][4] = {{0, 8, 2, 10}, {12, 4, 14, 6}, {3, 11, 1, 9},
					    {15, 7, 13, 5}};
	const jm_glyphs *gl = jm_canvas_glyphs(c);
	int cw, ch;
	jm_image_cells(pw, ph, &cw, &ch);
	for (int cy = 0; cy < ch; cy++)
		for (int cx = 0; cx < cw; cx++) {
			uint8_t bits = 0;
			int sum = 0, cnt = 0;
			for (int dy = 0; dy < 4; dy++)
				for (int dx = 0; dx < 2; dx++) {
					int px = cx * 2 + dx, py = cy * 4 + dy;
					if (px >= pw || py >= ph)
						continue;
					int v = pixels[(size_t)py * pw + px];
					sum += v, cnt++;
					if (v > bayer[py % 4][px % 4] * 16 + 8)
						bits |= braille_bit[dy][dx];
				}
			char g[4];
			if (c->utf8) {
				braille_glyph(bits, g);
				jm_canvas_put(c, x + cx, y + cy, g, 0, JM_COL_NONE);
			} else {
				int level = cnt ? sum / cnt * 5 / 256 : 0;
				jm_canvas_put(c, x + cx, y + cy, gl->shades[level], 0, JM_COL_NONE);
			}
		}
}
