/*
 * optim.h: optimizers over the model's flat parameter buffer, learning-rate
 * schedules, and gradient clipping by global norm.
 *
 * One training step, as the runner drives it:
 *
 *   lr   = jm_lr_at(&sched, step, total_steps);
 *   mom  = jm_momentum_at(&sched, step, total_steps, o);   (onecycle cycles
 *                                                          momentum / beta1)
 *   norm = jm_clip_apply(&clip, be, grads, n);            (pre-clip norm)
 *   jm_optim_step(o, params, grads, lr, mom);
 *
 * The step itself is one fused backend pass (be->adam_step / be->sgd_step)
 * over all n parameters; this module keeps what lives between steps: the
 * step count, the bias corrections, the state buffers (backend memory,
 * allocated with be->alloc, exposed for checkpoints).
 *
 * Gradient accumulation needs nothing from here: backward adds into the
 * gradient buffer, so run `accum` micro-batches, scale the gradients (or
 * dlogits) by 1/accum, then clip and step once.
 */
#ifndef JM_OPTIM_H
#define JM_OPTIM_H

#include <stddef.h>
#include <stdint.h>

#include "engine/backend.h"
#include "util/err.h"

/* ---- optimizers ------------------------------------------------------ */

enum { JM_OPT_SGD = 0, JM_OPT_ADAM, JM_OPT_ADAMW };

typedef struct jm_optim_spec {
	int kind;            /* JM_OPT_* */
	double momentum;     /* sgd: 0 = plain SGD (no buffer) */
	int nesterov;        /* sgd: needs momentum > 0 (as PyTorch) */
	double beta1, beta2, eps; /* adam, adamw */
	double weight_decay; /* sgd, adam: L2 added to the gradient;
				adamw: decoupled, p -= lr * wd * p */
} jm_optim_spec;

/* Formulas, all exactly torch.optim's (t = step count after this step):
 *   SGD:   g += wd p;  buf = g (t = 1) or mu buf + g;
 *          g = nesterov ? g + mu buf : buf  (if mu > 0);  p -= lr g
 *   Adam:  g += wd p (Adam) or p *= 1 - lr wd (AdamW);
 *          m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2;
 *          p -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps) */
typedef struct jm_optim jm_optim;

/* "sgd", "adam", "adamw" to JM_OPT_*; -1 if unknown. */
int jm_optim_kind_from_name(const char *name);
const char *jm_optim_kind_name(int kind);

/* State buffers for n parameters, zeroed.  JM_EXIT_INPUT for a bad spec
 * (messages name the [train] key), JM_EXIT_FAIL if allocation fails or,
 * on the CPU, if the machine's memory left cannot hold the state (weighed
 * before any of it is taken, as the model weighs itself). */
int jm_optim_new(jm_optim **out, const jm_backend *be,
		 const jm_optim_spec *spec, size_t n, jm_err *err);
void jm_optim_free(jm_optim *o); /* accepts NULL */
/* Bytes of state the spec's optimizer keeps for n parameters. */
size_t jm_optim_state_bytes(const jm_optim_spec *spec, size_t n);

/* One step: params -= update(grads), lr for this step.  mom is the SGD
 * momentum / Adam beta1 for this step (jm_momentum_at), or a negative value
 * for the spec's.  params and grads are backend pointers of n floats. */
void jm_optim_step(jm_optim *o, float *params, const float *grads,
		   double lr, double mom);

int64_t jm_optim_steps(const jm_optim *o);   /* steps taken */
void jm_optim_set_steps(jm_optim *o, int64_t t); /* after a resume */
int jm_optim_kind(const jm_optim *o);
size_t jm_optim_size(const jm_optim *o);     /* n */
const jm_optim_spec *jm_optim_get_spec(const jm_optim *o);

/* The state tensors, each n floats of backend memory, for checkpoints:
 * adam/adamw "optim.m", "optim.v"; sgd with momentum "optim.momentum";
 * plain sgd none.  jm_optim_state returns NULL past the end. */
int jm_optim_n_state(const jm_optim *o);
float *jm_optim_state(jm_optim *o, int i, const char **name);

/* ---- learning-rate schedules ----------------------------------------- */

enum { JM_SCHED_CONSTANT = 0, JM_SCHED_STEP, JM_SCHED_COSINE,
       JM_SCHED_ONECYCLE };

typedef struct jm_schedule {
	int kind;               /* JM_SCHED_* */
	double lr;              /* base lr; onecycle: max_lr */
	/* step: lr * gamma^floor(step / (step_epochs * steps_per_epoch)) */
	int64_t steps_per_epoch;
	int64_t step_epochs;
	double gamma;
	/* cosine: linear warmup from 0 over floor(warmup * total) steps,
	 * then half a cosine from lr down to min_lr at total_steps */
	double warmup;
	double min_lr;
	/* onecycle (torch.optim.lr_scheduler.OneCycleLR, two phases, cos):
	 * div_factor and final_div_factor 0 mean PyTorch's 25 and 1e4 */
	double pct_start;
	double div_factor, final_div_factor;
	int no_cycle_momentum;  /* 1: keep momentum fixed (torch default: 0) */
} jm_schedule;

/* "constant", "step", "cosine", "onecycle" to JM_SCHED_*; -1 if unknown. */
int jm_schedule_kind_from_name(const char *name);

/* Learning rate for optimizer step `step` (0-based) of total_steps, a pure
 * function: step 0 is the first step's lr, as PyTorch's scheduler gives it
 * before its first scheduler.step().  Steps past the end keep the last
 * value. */
double jm_lr_at(const jm_schedule *s, int64_t step, int64_t total_steps);

/* Momentum (SGD) or beta1 (Adam) for this step: onecycle cycles it
 * inversely to the lr between 0.95 and 0.85 as PyTorch does; every other
 * schedule returns the optimizer's own value.  An SGD without momentum
 * keeps none (PyTorch would switch it on). */
double jm_momentum_at(const jm_schedule *s, int64_t step,
		      int64_t total_steps, const jm_optim *o);

/* ---- gradient clipping ----------------------------------------------- */

enum { JM_CLIP_OFF = 0, JM_CLIP_FIXED, JM_CLIP_ADAPTIVE };

/* Clip by global L2 norm with PyTorch's clip_grad_norm_ rule: scale by
 * coef = threshold / (norm + 1e-6) when coef < 1 (norm above threshold).
 *   fixed:    threshold = max_norm
 *   adaptive: (AutoClip) the current pre-clip norm joins a ring of the last
 *             `window` finite norms and threshold = their `percentile`
 *             (linear interpolation, numpy's default); until window/4
 *             (at least 1) norms are in the ring, max_norm is used instead,
 *             or nothing is clipped if max_norm is 0. */
typedef struct jm_clip {
	int mode;
	double max_norm;
	double percentile;      /* 0..100 */
	int window;
	double *ring;           /* owned */
	int count, pos;
	double *sorted;         /* owned scratch */
	double last_threshold;  /* threshold of the last call (0: none) */
	int last_clipped;       /* 1 if the last call scaled the gradients */
} jm_clip;

/* JM_EXIT_INPUT for bad settings ([train] clip...). */
int jm_clip_init(jm_clip *c, int mode, double max_norm, double percentile,
		 int window, jm_err *err);
void jm_clip_free(jm_clip *c); /* accepts NULL; leaves c reusable */
/* "fixed", "adaptive" to JM_CLIP_*; -1 if unknown. */
int jm_clip_mode_from_name(const char *name);

/* Returns the pre-clip global norm of grads (n floats, backend memory),
 * NaN or inf if a gradient is not finite (then nothing is scaled and the
 * ring is left alone: the runner decides what to do). */
double jm_clip_apply(jm_clip *c, const jm_backend *be, float *grads,
		     size_t n);

/* The adaptive ring as text, for a checkpoint's metadata, so a resumed run
 * clips exactly as an uninterrupted one: "pos count n0 n1 ..." with the
 * norms in %.17g (exact).  Malloc'd; "0 0" for other modes. */
char *jm_clip_state_format(const jm_clip *c);
/* Restore what jm_clip_state_format wrote into c (initialised with the same
 * mode and window).  JM_EXIT_INPUT, naming the text, if it does not fit. */
int jm_clip_state_parse(jm_clip *c, const char *text, jm_err *err);

/* The grad-norm of grads without clipping. */
double jm_grad_norm(const jm_backend *be, const float *grads, size_t n);

#endif
