/*
 * cpu_augment.c: the CPU backend's augmentation ops (backend.h has their
 * contracts): per-sample crop, flip and erasing; MixUp and CutMix; the
 * soft targets of a mixed batch.
 *
 *   plan (host draws) ──▶ augment_geometry  in ──▶ out, one sample at a time
 *                     ──▶ augment_mix       x in place, pair (i, B-1-i) at a time
 *                     ──▶ mix_targets       labels ──▶ soft [B,K]
 *
 * Mixing works on the pair (i, j = B-1-i) together, so it can run in place
 * and still read only the batch as it came in: in batch and pair modes
 * both samples share one lambda and one box, and the pair is blended in
 * one loop or its two boxes swapped (only the box is touched, where a
 * copy-then-paste would move the whole batch); in elem mode, where the two
 * differ, the first sample is saved to a one-sample buffer before it is
 * overwritten.  Large batches are split by pairs (mixing) or samples
 * (geometry) across the CPU workers; every output element is computed the
 * same way whatever the split.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/backend.h"
#include "engine/cpu_ops.h"
#include "util/rng.h"

/* Below this many floats per batch one thread does it all: starting a
 * thread costs more than the work. */
#define AUG_PARALLEL_MIN (1 << 18)

static int aug_parts(size_t floats)
{
	int w = jm_cpu_workers();
	return floats >= AUG_PARALLEL_MIN && w > 1 ? w : 1;
}

/* ---- geometry ------------------------------------------------------------ */

/* Mirror index i into [0, n) without repeating the edge (|i| < n assumed
 * for i < 0, i < 2n - 1 for i >= n). */
static int reflect(int i, int n)
{
	if (i < 0)
		return -i;
	if (i >= n)
		return 2 * (n - 1) - i;
	return i;
}

typedef struct geom_ctx {
	float *out;
	const float *in;
	const jm_aug_geom *g;
	int B, C, H, W, pad_mode, erase_mode;
	float fill;
	uint64_t key;
} geom_ctx;

/* One output row from source row `row`: column x reads (flip ? W-1-x : x)
 * + dx, mirrored or filled outside the image. */
JM_CPU_HOT static void copy_cols(float *restrict o, const float *restrict row, int W, int flip,
				 int dx, int reflect_pad, float fill)
{
	if (!flip && dx == 0) {
		memcpy(o, row, (size_t)W * sizeof *o);
		return;
	}
	for (int x = 0; x < W; x++) {
		int sx = (flip ? W - 1 - x : x) + dx;
		if (sx >= 0 && sx < W)
			o[x] = row[sx];
		else
			o[x] = reflect_pad ? row[reflect(sx, W)] : fill;
	}
}

static void erase_box(const geom_ctx *c, float *o, int b)
{
	const jm_aug_geom *g = &c->g[b];
	int H = c->H, W = c->W;
	if (g->ey1 <= g->ey0 || g->ex1 <= g->ex0)
		return;
	for (int ch = 0; ch < c->C; ch++) {
		uint64_t plane = (uint64_t)b * (uint64_t)c->C + (uint64_t)ch;
		float v = c->erase_mode == JM_ERASE_RAND ? jm_hash_normalf(c->key, plane) : 0.0f;
		for (int y = g->ey0; y < g->ey1; y++) {
			float *r = o + ((size_t)ch * H + (size_t)y) * W;
			for (int x = g->ex0; x < g->ex1; x++)
				r[x] = c->erase_mode == JM_ERASE_PIXEL
					       ? jm_hash_normalf(c->key, (plane * (uint64_t)H + (uint64_t)y) *
									 (uint64_t)W + (uint64_t)x)
					       : v;
		}
	}
}

static void geom_sample(const geom_ctx *c, int b)
{
	const jm_aug_geom *g = &c->g[b];
	int C = c->C, H = c->H, W = c->W, refl = c->pad_mode == JM_PAD_REFLECT;
	size_t D = (size_t)C * H * W;
	const float *in = c->in + (size_t)b * D;
	float *out = c->out + (size_t)b * D;
	for (int ch = 0; ch < C; ch++)
		for (int y = 0; y < H; y++) {
			float *o = out + ((size_t)ch * H + (size_t)y) * W;
			int sy = y + g->dy;
			if ((sy < 0 || sy >= H) && !refl) {
				for (int x = 0; x < W; x++)
					o[x] = c->fill;
				continue;
			}
			const float *row = in + ((size_t)ch * H + (size_t)reflect(sy, H)) * W;
			copy_cols(o, row, W, g->flip, g->dx, refl, c->fill);
		}
	erase_box(c, out, b);
}

static void geom_part(void *ctx, int part, int nparts)
{
	const geom_ctx *c = ctx;
	int lo = (int)((int64_t)c->B * part / nparts), hi = (int)((int64_t)c->B * (part + 1) / nparts);
	for (int b = lo; b < hi; b++)
		geom_sample(c, b);
}

void jm_cpu_augment_geometry(float *out, const float *in, const jm_aug_geom *g, int B, int C,
			     int H, int W, int pad_mode, float fill, int erase_mode, uint64_t key)
{
	geom_ctx c = {.out = out, .in = in, .g = g, .B = B, .C = C, .H = H, .W = W,
		      .pad_mode = pad_mode, .erase_mode = erase_mode, .fill = fill, .key = key};
	int parts = aug_parts((size_t)B * C * H * W);
	if (parts > B)
		parts = B;
	jm_cpu_parallel(parts, geom_part, &c);
}

/* ---- mixing --------------------------------------------------------------- */

/* xi, xj = a xi + b xj, a xj + b xi: the pair of a batch-mode MixUp. */
JM_CPU_HOT static void blend_pair(float *restrict xi, float *restrict xj, float a, float b,
				  size_t n)
{
	for (size_t k = 0; k < n; k++) {
		float u = xi[k], v = xj[k];
		xi[k] = a * u + b * v;
		xj[k] = a * v + b * u;
	}
}

/* dst = a dst + b src */
JM_CPU_HOT static void blend_into(float *restrict dst, const float *restrict src, float a,
				  float b, size_t n)
{
	for (size_t k = 0; k < n; k++)
		dst[k] = a * dst[k] + b * src[k];
}

JM_CPU_HOT static void blend_self(float *x, float a, float b, size_t n)
{
	for (size_t k = 0; k < n; k++)
		x[k] = a * x[k] + b * x[k];
}

JM_CPU_HOT static void swap_run(float *restrict p, float *restrict q, size_t n)
{
	for (size_t k = 0; k < n; k++) {
		float t = p[k];
		p[k] = q[k];
		q[k] = t;
	}
}

/* dst = src inside box m, in every channel. */
static void box_rows(float *dst, const float *src, const jm_aug_mix *m, int C, int H, int W)
{
	if (m->y1 <= m->y0 || m->x1 <= m->x0)
		return;
	size_t len = (size_t)(m->x1 - m->x0);
	for (int ch = 0; ch < C; ch++)
		for (int y = m->y0; y < m->y1; y++) {
			size_t off = ((size_t)ch * H + (size_t)y) * W + (size_t)m->x0;
			memcpy(dst + off, src + off, len * sizeof *dst);
		}
}

static void box_swap(float *p, float *q, const jm_aug_mix *m, int C, int H, int W)
{
	if (m->y1 <= m->y0 || m->x1 <= m->x0)
		return;
	size_t len = (size_t)(m->x1 - m->x0);
	for (int ch = 0; ch < C; ch++)
		for (int y = m->y0; y < m->y1; y++) {
			size_t off = ((size_t)ch * H + (size_t)y) * W + (size_t)m->x0;
			swap_run(p + off, q + off, len);
		}
}

/* dst mixed by m from src (src is the partner as it came in). */
static void mix_one(float *dst, const float *src, const jm_aug_mix *m, int C, int H, int W)
{
	if (m->kind == JM_MIX_BLEND)
		blend_into(dst, src, m->a, m->b, (size_t)C * H * W);
	else if (m->kind == JM_MIX_BOX)
		box_rows(dst, src, m, C, H, W);
}

static int same_mix(const jm_aug_mix *p, const jm_aug_mix *q)
{
	if (p->kind != q->kind)
		return 0;
	if (p->kind == JM_MIX_BLEND)
		return p->a == q->a && p->b == q->b;
	return p->y0 == q->y0 && p->y1 == q->y1 && p->x0 == q->x0 && p->x1 == q->x1;
}

typedef struct mix_ctx {
	float *x;
	const jm_aug_mix *m;
	int B, C, H, W;
} mix_ctx;

static void mix_part(void *ctx, int part, int nparts)
{
	const mix_ctx *c = ctx;
	int C = c->C, H = c->H, W = c->W, pairs = (c->B + 1) / 2;
	size_t D = (size_t)C * H * W;
	int lo = (int)((int64_t)pairs * part / nparts), hi = (int)((int64_t)pairs * (part + 1) / nparts);
	float *saved = NULL; /* elem mode: sample i before it is mixed */
	for (int i = lo; i < hi; i++) {
		int j = c->B - 1 - i;
		const jm_aug_mix *mi = &c->m[i], *mj = &c->m[j];
		float *xi = c->x + (size_t)i * D, *xj = c->x + (size_t)j * D;
		if (i == j) { /* odd batch: the middle sample is its own partner */
			if (mi->kind == JM_MIX_BLEND)
				blend_self(xi, mi->a, mi->b, D);
			continue;
		}
		if (mi->kind == JM_MIX_NONE && mj->kind == JM_MIX_NONE)
			continue;
		if (same_mix(mi, mj)) {
			if (mi->kind == JM_MIX_BLEND)
				blend_pair(xi, xj, mi->a, mi->b, D);
			else
				box_swap(xi, xj, mi, C, H, W);
			continue;
		}
		if (mi->kind == JM_MIX_NONE) {
			mix_one(xj, xi, mj, C, H, W);
			continue;
		}
		if (mj->kind == JM_MIX_NONE) {
			mix_one(xi, xj, mi, C, H, W);
			continue;
		}
		if (!saved && !(saved = malloc(D * sizeof *saved))) {
			/* the contract has no error path: with no memory for the
			 * copy, leave this pair unmixed rather than mix from a
			 * half-written source */
			continue;
		}
		memcpy(saved, xi, D * sizeof *saved);
		mix_one(xi, xj, mi, C, H, W);
		mix_one(xj, saved, mj, C, H, W);
	}
	free(saved);
}

void jm_cpu_augment_mix(float *x, const jm_aug_mix *m, int B, int C, int H, int W)
{
	mix_ctx c = {.x = x, .m = m, .B = B, .C = C, .H = H, .W = W};
	int pairs = (B + 1) / 2, parts = aug_parts((size_t)B * C * H * W);
	if (parts > pairs)
		parts = pairs;
	if (parts < 1)
		return;
	jm_cpu_parallel(parts, mix_part, &c);
}

void jm_cpu_mix_targets(float *soft, const int32_t *labels, const jm_aug_mix *m, int B, int K,
			float smoothing)
{
	float off = smoothing / (float)K, on = 1.0f - smoothing + off;
	for (int i = 0; i < B; i++) {
		float *t = soft + (size_t)i * K;
		int yi = labels[i], yj = labels[B - 1 - i];
		if (yi < 0 || yi >= K || yj < 0 || yj >= K) {
			memset(t, 0, (size_t)K * sizeof *t);
			continue;
		}
		float a = m[i].a, b = m[i].b;
		/* as timm: y1 * lam + y2 * (1 - lam), each a smoothed one-hot */
		for (int k = 0; k < K; k++)
			t[k] = (k == yi ? on : off) * a + (k == yj ? on : off) * b;
	}
}
