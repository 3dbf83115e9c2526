/*
 * preview.h: the live previews beside the wizard's forms, one per stage,
 * found by section name in a table (preview.c):
 *
 *   data     sample images drawn in the terminal (braille), their labels,
 *            the set's shape and classes; loaded on a worker thread.  A
 *            CSV source: its columns' type, missing count, mean, min, max
 *   clean    a CSV source's statistics before and after the [clean] rules,
 *            and what each rule changed (also on a worker thread)
 *   augment  a real CutMix and MixUp of two samples (the plan from
 *            pipeline/augment.h, the pixels from the CPU backend's ops),
 *            their lambda and mixed labels; the per-image settings
 *   model    the layer table (jm_model_build + jm_model_describe) with
 *            output shapes and parameter counts
 *   review   the flow file as Save writes it, and what validation says
 *   features, search: hooks (NULL) that their modules may fill in: see
 *            the table in preview.c
 *
 * A preview draws into a region of the canvas from a jm_preview_ctx; the
 * context owns the sample loader and the model description cache.
 */
#ifndef JM_UI_PREVIEW_H
#define JM_UI_PREVIEW_H

#include "flow.h"
#include "ui/canvas.h"

typedef struct jm_preview_ctx jm_preview_ctx;

jm_preview_ctx *jm_preview_new(void);
void jm_preview_free(jm_preview_ctx *p); /* accepts NULL; waits for the loader */

/* Draw the preview of a stage ("data", "model", "review", ...) for flow f in
 * the w x h region at (x, y); returns 0 when the stage has none (the
 * caller then gives the form the room). */
int jm_preview_draw(jm_preview_ctx *p, const char *stage, const jm_flow *f, jm_canvas *c,
		    int x, int y, int w, int h);
/* The text Review edits to show the file as Save writes it: the file as
 * opened or last saved (copied), or NULL for a new flow. */
void jm_preview_base(jm_preview_ctx *p, const char *text);
/* 1 when a stage has a preview in this build. */
int jm_preview_has(const char *stage);
/* 1 while a loader (samples, a CSV source) is working (the screen keeps redrawing). */
int jm_preview_busy(jm_preview_ctx *p);

#endif
