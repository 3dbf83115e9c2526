/*
 * chart.h: line charts of one or several series inside a canvas region,
 * and greyscale images, both drawn with Unicode braille (2 x 4 dots per
 * cell, U+2800..U+28FF) on a UTF-8 canvas and with ASCII otherwise.
 *
 *   series (x[i], y[i]) ──scale to the dot grid──▶ line segments (Bresenham)
 *       ──dots per cell──▶ braille glyph, coloured by the series drawn last
 *   + y labels (max, mid, min) on the left, x range below, title and legend
 *
 * Points whose y is not finite break the line.  The ASCII fallback draws one
 * mark per cell ("*", "+", "o", "x", "#" for series 0..4).
 */
#ifndef JM_UI_CHART_H
#define JM_UI_CHART_H

#include <stdint.h>

#include "ui/canvas.h"

typedef struct jm_series {
	const char *name;  /* for the legend */
	const double *x, *y; /* n points; x ascending */
	int n;
} jm_series;

/* Draw ns series in the w x h region at (x, y) (h >= 4, w >= 16): row 0 the
 * title and legend, the last row the x range, the left columns the y labels.
 * An empty chart says "no data yet". */
void jm_chart_draw(jm_canvas *c, int x, int y, int w, int h, const char *title,
		   const jm_series *s, int ns);

/* The colour and attribute series i is drawn in. */
int jm_chart_series_colour(int i);
int jm_chart_series_attr(int i);

/* A greyscale image (pw x ph bytes, 0 = black, 255 = white, drawn as
 * light on dark) at (x, y): braille with ordered dithering, ceil(pw/2) x
 * ceil(ph/4) cells; ASCII shading on a non-UTF-8 canvas, same size. */
void jm_image_draw(jm_canvas *c, int x, int y, const uint8_t *pixels, int pw, int ph);
/* Cells an image of pw x ph pixels takes. */
void jm_image_cells(int pw, int ph, int *cw, int *ch);

#endif
