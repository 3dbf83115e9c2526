/*
 * augment.h: data augmentation inside training, per batch: random crop
 * with padding, horizontal flip and random erasing per sample, then MixUp
 * or CutMix over the batch with soft targets, with the semantics of timm's
 * Mixup and RandomErasing and torchvision's RandomCrop and
 * RandomHorizontalFlip.
 *
 *   [augment] ──jm_augment_config_from_flow──▶ jm_augment_config
 *   (seed, step) ──jm_augment_plan──▶ jm_aug_geom[B], jm_aug_mix[B]  (host)
 *   plan ──to_device──▶ backend ops: augment_geometry ──▶ augment_mix
 *                                     ──▶ mix_targets ──▶ soft [B,K]
 *
 * The random part is a pure function of (seed, step) on the host and the
 * pixel work is a backend op that only follows the plan, so a run resumed
 * at step N draws what an uninterrupted one drew, and every backend
 * produces the same batch.  The draws themselves are separable: a
 * jm_mix_draw holds every random number one sample (or batch) uses, and
 * jm_mix_from_draw turns it into the sample's jm_aug_mix with no
 * randomness, so tests inject lambdas and box centres directly.
 *
 * timm's semantics, which this follows to the letter:
 *   - lambda ~ Beta(alpha, alpha); a batch (batch mode), a pair (pair
 *     mode: samples i and B-1-i share one draw) or a sample (elem mode)
 *     is mixed with probability prob; with both CutMix and MixUp on,
 *     CutMix is chosen with probability switch;
 *   - sample i mixes with i' = B-1-i (the flipped batch); MixUp gives
 *     lam x_i + (1-lam) x_i'; CutMix pastes x_i' into a box of side
 *     int(H sqrt(1-lam)) x int(W sqrt(1-lam)) centred uniformly (each half
 *     side is cut // 2, so the box is an even number of pixels), clipped
 *     to the image; with correct_lam lam becomes 1 - box area / image area;
 *     cutmix_minmax draws the box sides uniformly in [int(H lo), int(H hi))
 *     instead, and always corrects lam;
 *   - targets lam onehot_s(y_i) + (1-lam) onehot_s(y_i'), onehot_s having
 *     1 - s + s/K on the label and s/K elsewhere;
 *   - per-sample lambdas (pair, elem) are float32, as timm keeps them.
 * Where this differs from timm: an odd batch is accepted in batch mode
 * (the middle sample is its own partner, so it is left as it is; timm
 * refuses every odd batch); pair and elem modes refuse it.
 */
#ifndef JM_AUGMENT_H
#define JM_AUGMENT_H

#include <stdint.h>

#include "engine/backend.h"
#include "flow.h"
#include "util/err.h"
#include "util/rng.h"

enum { JM_MIXMODE_BATCH = 0, JM_MIXMODE_PAIR, JM_MIXMODE_ELEM };

typedef struct jm_augment_config {
	/* mixing */
	double mixup, cutmix;     /* Beta alphas; 0 = off */
	int has_minmax;           /* cutmix_minmax given: CutMix on, alpha 1 */
	double minmax[2];         /* box side as a fraction of the image side */
	double prob, switch_prob;
	int mode;                 /* JM_MIXMODE_* */
	int correct_lam;
	double smoothing;         /* label smoothing of the mixed targets */
	/* per sample */
	double hflip;             /* probability */
	int crop_padding;         /* pixels on each side; 0 = no crop */
	int pad_mode;             /* JM_PAD_ZERO | JM_PAD_REFLECT */
	double erasing;           /* probability */
	double erase_area[2];     /* fraction of the image area */
	double erase_log_aspect[2]; /* log of the aspect ratio range */
	int erase_mode;           /* JM_ERASE_* */
} jm_augment_config;

/* From the flow's [augment] (and [train] label_smoothing, which the mixed
 * targets inherit unless [augment] label_smoothing is set). */
void jm_augment_config_from_flow(jm_augment_config *c, const jm_flow *f);

/* Does c mix batches / touch samples one by one? */
int jm_augment_mixing(const jm_augment_config *c);
int jm_augment_geometry(const jm_augment_config *c);

/* One line for the run's log: "cutmix 1 mixup 1 switch 0.6 (batch mode),
 * hflip 0.5, crop padding 2 (zero), erasing 0.25 (const)", the parts
 * that are on; "" when nothing is. */
void jm_augment_describe(const jm_augment_config *c, char *buf, size_t n);

/* Rules that need the batch and image shape: pair and elem need an even
 * batch, reflect padding fewer pixels than each image side, cutmix_minmax
 * at least one box size.  The message names the [augment] key; the caller
 * adds the location, and *key (may be NULL) gets the key at fault as
 * "augment.NAME". */
int jm_augment_check(const jm_augment_config *c, int B, int H, int W, const char **key,
		     jm_err *err);

/* Every random number one mixing decision uses (one per batch in batch
 * mode, per pair or per sample otherwise). */
typedef struct jm_mix_draw {
	int mixed;        /* drawn below prob */
	int cutmix;       /* CutMix rather than MixUp */
	double lam;       /* Beta draw */
	int cy, cx;       /* CutMix box centre, [0,H) x [0,W) */
	int cut_h, cut_w; /* cutmix_minmax: box sides */
	int y0, x0;       /* cutmix_minmax: top-left corner */
} jm_mix_draw;

/* The random part: draw d from r for an H x W image. */
void jm_mix_draw_one(const jm_augment_config *c, int H, int W, jm_rng *r, jm_mix_draw *d);

/* The rest, without randomness: d as one sample's jm_aug_mix.  f32 says
 * lam is a per-sample float32 (pair and elem modes). */
void jm_mix_from_draw(const jm_augment_config *c, int H, int W, const jm_mix_draw *d, int f32,
		      jm_aug_mix *out);

/* timm's rand_bbox + correction for a given lam and centre: the box is
 * rows [y0,y1) x cols [x0,x1) of out; returns lam, corrected to
 * 1 - area / (H W) when correct_lam. */
double jm_cutmix_box(int H, int W, double lam, int cy, int cx, int correct_lam,
		     jm_aug_mix *out);

/* The plan of micro-batch `step`: mix[B] (NULL: skip) and geom[B] (NULL:
 * skip), from streams seeded by (seed, step) alone.  Returns the number
 * of samples whose mixing kind is not JM_MIX_NONE. */
int jm_augment_plan(const jm_augment_config *c, uint64_t seed, int64_t step, int B, int H,
		    int W, jm_aug_mix *mix, jm_aug_geom *geom);

/* The key of the erase noise (JM_ERASE_RAND, JM_ERASE_PIXEL) of a step. */
uint64_t jm_augment_noise_key(uint64_t seed, int64_t step);

/* ---- in training: the buffers and the calls, per batch ----------------- */

typedef struct jm_augmenter {
	jm_augment_config c;
	const jm_backend *be;
	int B, C, H, W, K;
	int slots;                     /* the backend's plans: one per micro-batch of a step */
	jm_aug_mix *mix_host, *mix;    /* host [B], backend [slots][B] */
	jm_aug_geom *geom_host, *geom; /* host [B], backend [slots][B] */
	float *x;                      /* backend [B, C*H*W]: geometry's output */
	float *soft;                   /* backend [B, K]: mixed targets */
} jm_augmenter;

/* NULL in *out (and 0) when c augments nothing.  Fails (JM_EXIT_INPUT)
 * where jm_augment_check does, or out of memory.  slots: the micro-batches
 * of an optimizer step ([train] accumulate).  Each has its own plans in
 * backend memory, because a step's uploads all run before its graph
 * (backend.h, step_begin): one buffer for all would give every micro-batch
 * the last one's plans.  At most JM_AUG_SLOTS_MAX: a step of more
 * micro-batches is the same, without graphs. */
#define JM_AUG_SLOTS_MAX 64
int jm_augmenter_new(jm_augmenter **out, const jm_backend *be, const jm_augment_config *c,
		     int B, int C, int H, int W, int K, int slots, jm_err *err);
void jm_augmenter_free(jm_augmenter *a); /* accepts NULL */

/* Augment batch x [B, C*H*W] (backend memory; labels [B] too) of step
 * (micro-batches counted from 0, so consecutive ones take other slots):
 * returns the batch to train on (x itself, mixed in place, or the
 * augmenter's own buffer) and sets *soft to the soft targets [B,K]
 * (backend memory, owned by a) when mixing is on, else NULL.  fill is the
 * value zero padding writes (the normalised value of a black pixel). */
float *jm_augmenter_apply(jm_augmenter *a, float *x, const int32_t *labels, uint64_t seed,
			  int64_t step, float fill, const float **soft);

#endif
