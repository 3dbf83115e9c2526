/*
 * augment.c: the host half of augmentation (see augment.h): the flow's
 * [augment] as a config, the draws of each step as a plan, and the
 * augmenter that hands plans to the backend ops during training.
 *
 *   (seed, step) ──hash──▶ rng "mixu" ──jm_mix_draw_one──▶ jm_mix_draw
 *                                     ──jm_mix_from_draw──▶ jm_aug_mix[B]
 *                ──hash──▶ rng "geom" ──per sample──▶ jm_aug_geom[B]
 *
 * The two streams are separate so that turning flips on does not change
 * which batches are mixed, and each depends on nothing but (seed, step).
 */
#include "pipeline/augment.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Stream tags, beside train.c's "perm" and "drop". */
enum { RNG_AUG_MIX = 0x6d697875, RNG_AUG_GEOM = 0x67656f6d, RNG_AUG_NOISE = 0x6e6f6973 };

static const struct {
	const char *name;
	int value;
} mode_names[] = {
	{"batch", JM_MIXMODE_BATCH}, {"pair", JM_MIXMODE_PAIR}, {"elem", JM_MIXMODE_ELEM},
	{"zero", JM_PAD_ZERO}, {"reflect", JM_PAD_REFLECT},
	{"const", JM_ERASE_CONST}, {"rand", JM_ERASE_RAND}, {"pixel", JM_ERASE_PIXEL},
};

/* The flow has checked the word; an unknown one (a bug) reads as 0. */
static int word_value(const char *w)
{
	for (size_t i = 0; i < sizeof mode_names / sizeof *mode_names; i++)
		if (!strcmp(mode_names[i].name, w))
			return mode_names[i].value;
	return 0;
}

void jm_augment_config_from_flow(jm_augment_config *c, const jm_flow *f)
{
	memset(c, 0, sizeof *c);
	c->mixup = f->augment.mixup;
	c->cutmix = f->augment.cutmix;
	c->has_minmax = f->augment.cutmix_minmax[1] > 0;
	c->minmax[0] = f->augment.cutmix_minmax[0];
	c->minmax[1] = f->augment.cutmix_minmax[1];
	if (c->has_minmax)
		c->cutmix = 1.0; /* as timm: minmax forces alpha 1 */
	c->prob = f->augment.prob;
	c->switch_prob = f->augment.switch_prob;
	c->mode = word_value(f->augment.mode);
	c->correct_lam = f->augment.correct_lam;
	c->smoothing = isnan(f->augment.label_smoothing) ? f->train.label_smoothing
							 : f->augment.label_smoothing;
	c->hflip = f->augment.hflip;
	c->crop_padding = (int)f->augment.crop_padding;
	c->pad_mode = word_value(f->augment.padding_mode);
	c->erasing = f->augment.erasing;
	c->erase_area[0] = f->augment.erasing_area[0];
	c->erase_area[1] = f->augment.erasing_area[1];
	c->erase_log_aspect[0] = log(f->augment.erasing_aspect[0]);
	c->erase_log_aspect[1] = log(f->augment.erasing_aspect[1]);
	c->erase_mode = word_value(f->augment.erasing_mode);
}

int jm_augment_mixing(const jm_augment_config *c)
{
	return c->mixup > 0 || c->cutmix > 0;
}

int jm_augment_geometry(const jm_augment_config *c)
{
	return c->hflip > 0 || c->crop_padding > 0 || c->erasing > 0;
}

void jm_augment_describe(const jm_augment_config *c, char *buf, size_t n)
{
	static const char *const modes[] = {"batch", "pair", "elem"};
	static const char *const pads[] = {"zero", "reflect"};
	static const char *const fills[] = {"const", "rand", "pixel"};
	size_t len = 0;
	buf[0] = '\0';
#define ADD(...) \
	(len += (size_t)snprintf(buf + len, len < n ? n - len : 0, __VA_ARGS__), len = len < n ? len : n)
	if (jm_augment_mixing(c)) {
		if (c->has_minmax)
			ADD("cutmix %g-%g of the side", c->minmax[0], c->minmax[1]);
		else if (c->cutmix > 0)
			ADD("cutmix %g", c->cutmix);
		if (c->mixup > 0)
			ADD("%smixup %g", len ? " " : "", c->mixup);
		if (c->mixup > 0 && c->cutmix > 0)
			ADD(" switch %g", c->switch_prob);
		if (c->prob < 1)
			ADD(" prob %g", c->prob);
		ADD(" (%s mode)", modes[c->mode]);
		if (c->smoothing > 0)
			ADD(" label smoothing %g", c->smoothing);
	}
	if (c->hflip > 0)
		ADD("%shflip %g", len ? ", " : "", c->hflip);
	if (c->crop_padding > 0)
		ADD("%scrop padding %d (%s)", len ? ", " : "", c->crop_padding, pads[c->pad_mode]);
	if (c->erasing > 0)
		ADD("%serasing %g (%s)", len ? ", " : "", c->erasing, fills[c->erase_mode]);
#undef ADD
}

int jm_augment_check(const jm_augment_config *c, int B, int H, int W, const char **key,
		     jm_err *err)
{
	static const char *const modes[] = {"batch", "pair", "elem"};
	const char *dummy;
	if (!key)
		key = &dummy;
	*key = "augment.mode";
	if (jm_augment_mixing(c) && c->mode != JM_MIXMODE_BATCH && B % 2)
		return jm_err_set(err, JM_EXIT_INPUT,
				  "[augment] mode = %s mixes samples in pairs: it needs an even "
				  "[train] batch, got %d", modes[c->mode], B);
	*key = "augment.crop_padding";
	if (c->crop_padding > 0 && c->pad_mode == JM_PAD_REFLECT &&
	    (c->crop_padding >= H || c->crop_padding >= W))
		return jm_err_set(err, JM_EXIT_INPUT,
				  "[augment] crop_padding: reflect padding must be smaller than the "
				  "image (%dx%d), got %d", H, W, c->crop_padding);
	*key = "augment.cutmix_minmax";
	if (jm_augment_mixing(c) && c->has_minmax) {
		int lo_h = (int)(H * c->minmax[0]), hi_h = (int)(H * c->minmax[1]);
		int lo_w = (int)(W * c->minmax[0]), hi_w = (int)(W * c->minmax[1]);
		if (lo_h >= hi_h || lo_w >= hi_w)
			return jm_err_set(err, JM_EXIT_INPUT,
					  "[augment] cutmix_minmax: %g,%g leaves no box size on %dx%d "
					  "images (sides are drawn from [int(side*min), int(side*max)))",
					  c->minmax[0], c->minmax[1], H, W);
	}
	return 0;
}

/* ---- draws ----------------------------------------------------------------- */

/* numpy's randint(lo, hi): [lo, hi), hi > lo. */
static int randint(jm_rng *r, int lo, int hi)
{
	return lo + (int)jm_rng_below(r, (uint64_t)(hi - lo));
}

void jm_mix_draw_one(const jm_augment_config *c, int H, int W, jm_rng *r, jm_mix_draw *d)
{
	memset(d, 0, sizeof *d);
	d->lam = 1.0;
	if (!jm_augment_mixing(c) || !(jm_rng_uniform(r) < c->prob))
		return;
	d->mixed = 1;
	if (c->mixup > 0 && c->cutmix > 0)
		d->cutmix = jm_rng_uniform(r) < c->switch_prob;
	else
		d->cutmix = c->cutmix > 0;
	double alpha = d->cutmix ? c->cutmix : c->mixup;
	d->lam = jm_rng_beta(r, alpha, alpha);
	if (!d->cutmix)
		return;
	if (c->has_minmax) {
		d->cut_h = randint(r, (int)(H * c->minmax[0]), (int)(H * c->minmax[1]));
		d->cut_w = randint(r, (int)(W * c->minmax[0]), (int)(W * c->minmax[1]));
		d->y0 = randint(r, 0, H - d->cut_h);
		d->x0 = randint(r, 0, W - d->cut_w);
	} else {
		d->cy = randint(r, 0, H);
		d->cx = randint(r, 0, W);
	}
}

static int clampi(int v, int lo, int hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

double jm_cutmix_box(int H, int W, double lam, int cy, int cx, int correct_lam, jm_aug_mix *out)
{
	double ratio = sqrt(1.0 - lam);
	int cut_h = (int)(H * ratio), cut_w = (int)(W * ratio);
	out->y0 = clampi(cy - cut_h / 2, 0, H);
	out->y1 = clampi(cy + cut_h / 2, 0, H);
	out->x0 = clampi(cx - cut_w / 2, 0, W);
	out->x1 = clampi(cx + cut_w / 2, 0, W);
	if (correct_lam)
		lam = 1.0 - (double)((out->y1 - out->y0) * (out->x1 - out->x0)) / (double)(H * W);
	return lam;
}

void jm_mix_from_draw(const jm_augment_config *c, int H, int W, const jm_mix_draw *d, int f32,
		      jm_aug_mix *out)
{
	memset(out, 0, sizeof *out);
	double lam = d->mixed ? d->lam : 1.0;
	if (f32)
		lam = (float)lam;
	if (lam == 1.0) {
		out->kind = JM_MIX_NONE;
		out->a = 1.0f;
		return;
	}
	if (d->cutmix) {
		out->kind = JM_MIX_BOX;
		if (c->has_minmax) {
			out->y0 = d->y0, out->y1 = d->y0 + d->cut_h;
			out->x0 = d->x0, out->x1 = d->x0 + d->cut_w;
			lam = 1.0 - (double)(d->cut_h * d->cut_w) / (double)(H * W);
		} else {
			lam = jm_cutmix_box(H, W, lam, d->cy, d->cx, c->correct_lam, out);
		}
	} else {
		out->kind = JM_MIX_BLEND;
	}
	if (f32) { /* timm's per-sample lambdas are a float32 array */
		out->a = (float)lam;
		out->b = 1.0f - out->a;
	} else { /* one Python float: 1 - lam in double, then the op's float */
		out->a = (float)lam;
		out->b = (float)(1.0 - lam);
	}
}

static void geom_draw(const jm_augment_config *c, int H, int W, jm_rng *r, jm_aug_geom *g)
{
	memset(g, 0, sizeof *g);
	int p = c->crop_padding;
	if (p > 0) { /* RandomCrop: top-left in [0, 2p] of the padded image */
		g->dy = randint(r, 0, 2 * p + 1) - p;
		g->dx = randint(r, 0, 2 * p + 1) - p;
	}
	if (c->hflip > 0)
		g->flip = jm_rng_uniform(r) < c->hflip;
	if (!(c->erasing > 0) || !(jm_rng_uniform(r) < c->erasing))
		return;
	/* timm RandomErasing, count 1: ten attempts at a box inside the image */
	double area = (double)H * W;
	for (int attempt = 0; attempt < 10; attempt++) {
		double target = (c->erase_area[0] + (c->erase_area[1] - c->erase_area[0]) *
							jm_rng_uniform(r)) * area;
		double aspect = exp(c->erase_log_aspect[0] +
				    (c->erase_log_aspect[1] - c->erase_log_aspect[0]) * jm_rng_uniform(r));
		/* Python's round(): halves to even, as nearbyint in the default mode */
		int h = (int)nearbyint(sqrt(target * aspect));
		int w = (int)nearbyint(sqrt(target / aspect));
		if (w < W && h < H) {
			g->ey0 = randint(r, 0, H - h + 1);
			g->ex0 = randint(r, 0, W - w + 1);
			g->ey1 = g->ey0 + h;
			g->ex1 = g->ex0 + w;
			return;
		}
	}
}

static void stream(jm_rng *r, uint64_t seed, uint64_t tag, int64_t step)
{
	jm_rng_seed(r, jm_hash64(seed ^ tag, (uint64_t)step));
}

uint64_t jm_augment_noise_key(uint64_t seed, int64_t step)
{
	return jm_hash64(seed ^ RNG_AUG_NOISE, (uint64_t)step);
}

int jm_augment_plan(const jm_augment_config *c, uint64_t seed, int64_t step, int B, int H,
		    int W, jm_aug_mix *mix, jm_aug_geom *geom)
{
	jm_rng r;
	int mixed = 0;
	if (geom) {
		stream(&r, seed, RNG_AUG_GEOM, step);
		for (int i = 0; i < B; i++)
			geom_draw(c, H, W, &r, &geom[i]);
	}
	if (!mix)
		return 0;
	stream(&r, seed, RNG_AUG_MIX, step);
	jm_mix_draw d;
	switch (c->mode) {
	case JM_MIXMODE_PAIR: /* one draw per pair (i, B-1-i), the same for both */
		for (int i = 0; i < B / 2; i++) {
			jm_mix_draw_one(c, H, W, &r, &d);
			jm_mix_from_draw(c, H, W, &d, 1, &mix[i]);
			mix[B - 1 - i] = mix[i];
		}
		if (B % 2) /* refused by jm_augment_check; unmixed if called anyway */
			jm_mix_from_draw(c, H, W, &(jm_mix_draw){.lam = 1.0}, 1, &mix[B / 2]);
		break;
	case JM_MIXMODE_ELEM:
		for (int i = 0; i < B; i++) {
			jm_mix_draw_one(c, H, W, &r, &d);
			jm_mix_from_draw(c, H, W, &d, 1, &mix[i]);
		}
		break;
	default:
		jm_mix_draw_one(c, H, W, &r, &d);
		jm_mix_from_draw(c, H, W, &d, 0, &mix[0]);
		for (int i = 1; i < B; i++)
			mix[i] = mix[0];
		break;
	}
	for (int i = 0; i < B; i++)
		mixed += mix[i].kind != JM_MIX_NONE;
	return mixed;
}

/* ---- the augmenter ------------------------------------------------------------ */

void jm_augmenter_free(jm_augmenter *a)
{
	if (!a)
		return;
	if (a->be) {
		a->be->free(a->mix);
		a->be->free(a->geom);
		a->be->free(a->x);
		a->be->free(a->soft);
	}
	free(a->mix_host);
	free(a->geom_host);
	free(a);
}

int jm_augmenter_new(jm_augmenter **out, const jm_backend *be, const jm_augment_config *c,
		     int B, int C, int H, int W, int K, int slots, jm_err *err)
{
	*out = NULL;
	int mixing = jm_augment_mixing(c), geometry = jm_augment_geometry(c);
	if (!mixing && !geometry)
		return 0;
	if (jm_augment_check(c, B, H, W, NULL, err) < 0)
		return -1;
	jm_augmenter *a = calloc(1, sizeof *a);
	if (!a)
		return jm_err_set(err, JM_EXIT_FAIL, "out of memory for augmentation");
	a->c = *c;
	a->be = be;
	a->B = B, a->C = C, a->H = H, a->W = W, a->K = K;
	a->slots = slots < 1 ? 1 : slots > JM_AUG_SLOTS_MAX ? JM_AUG_SLOTS_MAX : slots;
	size_t plans = (size_t)a->slots * (size_t)B;
	int ok = 1;
	if (mixing) {
		a->mix_host = malloc((size_t)B * sizeof *a->mix_host);
		a->mix = be->alloc(plans * sizeof *a->mix);
		a->soft = be->alloc((size_t)B * (size_t)K * sizeof *a->soft);
		ok = a->mix_host && a->mix && a->soft;
	}
	if (ok && geometry) {
		a->geom_host = malloc((size_t)B * sizeof *a->geom_host);
		a->geom = be->alloc(plans * sizeof *a->geom);
		ok = a->geom_host && a->geom;
	}
	/* the output batch: the geometry's, or the fused pass's (out of place) */
	if (ok && (geometry || be->augment_batch)) {
		a->x = be->alloc((size_t)B * (size_t)C * H * W * sizeof *a->x);
		ok = a->x != NULL;
	}
	if (!ok) {
		jm_augmenter_free(a);
		return jm_err_batch(err, "out of %s memory for augmentation buffers of batch %d",
				    be->name, B);
	}
	*out = a;
	return 0;
}

float *jm_augmenter_apply(jm_augmenter *a, float *x, const int32_t *labels, uint64_t seed,
			  int64_t step, float fill, const float **soft)
{
	const jm_backend *be = a->be;
	int B = a->B, C = a->C, H = a->H, W = a->W;
	*soft = NULL;
	jm_augment_plan(&a->c, seed, step, B, H, W, a->mix_host, a->geom_host);
	size_t slot = (size_t)(step % a->slots) * (size_t)B;
	jm_aug_geom *geom = a->geom ? a->geom + slot : NULL;
	jm_aug_mix *mix = a->mix ? a->mix + slot : NULL;
	if (a->mix_host && be->augment_batch) { /* one pass on a GPU */
		if (a->geom_host)
			be->to_device(geom, a->geom_host, (size_t)B * sizeof *geom);
		be->to_device(mix, a->mix_host, (size_t)B * sizeof *mix);
		be->augment_batch(a->x, x, a->geom_host ? geom : NULL, mix, a->soft, labels, B,
				  C, H, W, a->K, a->c.pad_mode, fill, a->c.erase_mode,
				  jm_augment_noise_key(seed, step), (float)a->c.smoothing);
		*soft = a->soft;
		return a->x;
	}
	if (a->geom_host) {
		be->to_device(geom, a->geom_host, (size_t)B * sizeof *geom);
		be->augment_geometry(a->x, x, geom, B, C, H, W, a->c.pad_mode, fill,
				     a->c.erase_mode, jm_augment_noise_key(seed, step));
		x = a->x;
	}
	if (a->mix_host) {
		be->to_device(mix, a->mix_host, (size_t)B * sizeof *mix);
		be->augment_mix(x, mix, B, C, H, W);
		be->mix_targets(a->soft, labels, mix, B, a->K, (float)a->c.smoothing);
		*soft = a->soft;
	}
	return x;
}
