/*
 * optim.c: optimizer state and steps, learning-rate schedules, clipping.
 *
 *   grads ──jm_clip_apply (be->sumsq, be->scale)──▶ grads (clipped)
 *         ──jm_optim_step (be->adam_step | be->sgd_step, one fused pass)
 *         ──▶ params, state buffers (m, v | momentum)
 *
 * The host side only does scalar bookkeeping in double: the step count, the
 * bias corrections 1 - beta^t, the schedule's lr, the clip threshold.
 */
#include "engine/optim.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct jm_optim {
	const jm_backend *be;
	jm_optim_spec spec;
	size_t n;
	int64_t t;            /* steps taken */
	int n_state;
	float *state[2];
	const char *names[2];
};

static const char *const optim_names[] = {
	[JM_OPT_SGD] = "sgd", [JM_OPT_ADAM] = "adam", [JM_OPT_ADAMW] = "adamw",
};

int jm_optim_kind_from_name(const char *name)
{
	for (int i = 0; name && i < (int)(sizeof optim_names / sizeof optim_names[0]); i++)
		if (!strcmp(name, optim_names[i]))
			return i;
	return -1;
}

const char *jm_optim_kind_name(int kind)
{
	return kind >= 0 && kind < (int)(sizeof optim_names / sizeof optim_names[0])
		       ? optim_names[kind]
		       : "?";
}

static int check_spec(const jm_optim_spec *s, jm_err *err)
{
	if (s->kind < JM_OPT_SGD || s->kind > JM_OPT_ADAMW)
		return jm_err_set(err, JM_EXIT_INPUT,
				  "[train] optimizer: unknown optimizer %d", s->kind);
	if (!(s->weight_decay >= 0.0))
		return jm_err_set(err, JM_EXIT_INPUT,
				  "[train] weight_decay: expected a number >= 0, got %g",
				  s->weight_decay);
	if (s->kind == JM_OPT_SGD) {
		if (!(s->momentum >= 0.0 && s->momentum < 1.0))
			return jm_err_set(err, JM_EXIT_INPUT,
					  "[train] momentum: expected a number in [0, 1), got %g",
					  s->momentum);
		if (s->nesterov && s->momentum == 0.0)
			return jm_err_set(err, JM_EXIT_INPUT,
					  "[train] nesterov: needs momentum > 0");
		return 0;
	}
	if (!(s->beta1 >= 0.0 && s->beta1 < 1.0))
		return jm_err_set(err, JM_EXIT_INPUT,
				  "[train] beta1: expected a number in [0, 1), got %g",
				  s->beta1);
	if (!(s->beta2 >= 0.0 && s->beta2 < 1.0))
		return jm_err_set(err, JM_EXIT_INPUT,
				  "[train] beta2: expected a number in [0, 1), got %g",
				  s->beta2);
	if (!(s->eps > 0.0))
		return jm_err_set(err, JM_EXIT_INPUT,
				  "[train] eps: expected a number > 0, got %g", s->eps);
	return 0;
}

int jm_optim_new(jm_optim **out, const jm_backend *be,
		 const jm_optim_spec *spec, size_t n, jm_err *err)
{
	*out = NULL;
	if (check_spec(spec, err) < 0)
		return -1;
	jm_optim *o = jm_xcalloc(1, sizeof *o);
	o->be = be;
	o->spec = *spec;
	o->n = n;
	if (spec->kind == JM_OPT_SGD) {
		if (spec->momentum > 0.0)
			o->names[o->n_state++] = "optim.momentum";
	} else {
		o->names[o->n_state++] = "optim.m";
		o->names[o->n_state++] = "optim.v";
	}
	size_t need = (size_t)o->n_state * (n ? n : 1) * sizeof(float);
	size_t have = jm_backend_memory_left(be);
	for (int i = 0; i < o->n_state; i++) {
		o->state[i] = need <= have ? be->alloc((n ? n : 1) * sizeof(float)) : NULL;
		if (!o->state[i]) {
			char left[64];
			jm_backend_memory_note(need <= have ? jm_backend_memory_left(be) : have, left,
					       sizeof left);
			jm_err_set(err, JM_EXIT_FAIL,
				   "[train] cannot allocate %.1f MiB of optimizer state on %s%s",
				   (double)need / (1 << 20), be->name, left);
			jm_optim_free(o);
			return -1;
		}
	}
	*out = o;
	return 0;
}

size_t jm_optim_state_bytes(const jm_optim_spec *spec, size_t n)
{
	int n_state = spec->kind == JM_OPT_SGD ? spec->momentum > 0.0 : 2;
	return (size_t)n_state * (n ? n : 1) * sizeof(float);
}

void jm_optim_free(jm_optim *o)
{
	if (!o)
		return;
	for (int i = 0; i < o->n_state; i++)
		o->be->free(o->state[i]);
	free(o);
}

void jm_optim_step(jm_optim *o, float *params, const float *grads, double lr,
		   double mom)
{
	const jm_optim_spec *s = &o->spec;
	if (o->n == 0) {
		o->t++;
		return;
	}
	if (s->kind == JM_OPT_SGD) {
		double mu = s->momentum > 0.0 && mom >= 0.0 ? mom : s->momentum;
		o->be->sgd_step(params, o->n_state ? o->state[0] : NULL, grads, o->n,
				(float)lr, (float)mu, (float)s->weight_decay,
				s->nesterov, o->t == 0);
	} else {
		double b1 = mom >= 0.0 ? mom : s->beta1;
		double t = (double)(o->t + 1);
		double bc1 = 1.0 - pow(b1, t), bc2 = 1.0 - pow(s->beta2, t);
		o->be->adam_step(params, o->state[0], o->state[1], grads, o->n,
				 lr, b1, s->beta2, s->eps, s->weight_decay, bc1, bc2,
				 s->kind == JM_OPT_ADAMW);
	}
	o->t++;
}

int64_t jm_optim_steps(const jm_optim *o) { return o->t; }
void jm_optim_set_steps(jm_optim *o, int64_t t) { o->t = t < 0 ? 0 : t; }
int jm_optim_kind(const jm_optim *o) { return o->spec.kind; }
size_t jm_optim_size(const jm_optim *o) { return o->n; }
const jm_optim_spec *jm_optim_get_spec(const jm_optim *o) { return &o->spec; }
int jm_optim_n_state(const jm_optim *o) { return o->n_state; }

float *jm_optim_state(jm_optim *o, int i, const char **name)
{
	if (i < 0 || i >= o->n_state)
		return NULL;
	if (name)
		*name = o->names[i];
	return o->state[i];
}

/* ---- schedules -------------------------------------------------------- */

static const char *const sched_names[] = {
	[JM_SCHED_CONSTANT] = "constant", [JM_SCHED_STEP] = "step",
	[JM_SCHED_COSINE] = "cosine", [JM_SCHED_ONECYCLE] = "onecycle",
};

int jm_schedule_kind_from_name(const char *name)
{
	for (int i = 0; name && i < (int)(sizeof sched_names / sizeof sched_names[0]); i++)
		if (!strcmp(name, sched_names[i]))
			return i;
	return -1;
}

/* OneCycleLR's _annealing_cos: start at pct 0, end at pct 1. */
static double anneal_cos(double start, double end, double pct)
{
	return end + (start - end) / 2.0 * (cos(M_PI * pct) + 1.0);
}

/* Which phase of the two-phase one-cycle `step` is in, and how far:
 * torch's get_lr loop, phase ends at pct_start*total - 1 and total - 1. */
static int onecycle_phase(const jm_schedule *s, int64_t step, int64_t total,
			  double *pct)
{
	double end1 = s->pct_start * (double)total - 1.0;
	double end2 = (double)total - 1.0;
	double x = (double)step;
	int phase = x <= end1 ? 0 : 1;
	double start = phase == 0 ? 0.0 : end1, end = phase == 0 ? end1 : end2;
	/* a phase of zero length (torch divides by zero there) is at its end */
	*pct = end - start != 0.0 ? (x - start) / (end - start) : 1.0;
	return phase;
}

static double onecycle_lr(const jm_schedule *s, int64_t step, int64_t total)
{
	double div = s->div_factor > 0.0 ? s->div_factor : 25.0;
	double fdiv = s->final_div_factor > 0.0 ? s->final_div_factor : 1e4;
	double initial = s->lr / div, min = initial / fdiv, pct;
	if (onecycle_phase(s, step, total, &pct) == 0)
		return anneal_cos(initial, s->lr, pct);
	return anneal_cos(s->lr, min, pct);
}

static double cosine_lr(const jm_schedule *s, int64_t step, int64_t total)
{
	int64_t warm = (int64_t)floor(s->warmup * (double)total);
	if (step < warm)
		return s->lr * (double)step / (double)warm;
	double span = (double)(total - warm > 1 ? total - warm : 1);
	double progress = (double)(step - warm) / span;
	if (progress > 1.0)
		progress = 1.0;
	return s->min_lr + (s->lr - s->min_lr) * 0.5 * (1.0 + cos(M_PI * progress));
}

static double step_lr(const jm_schedule *s, int64_t step)
{
	int64_t per = (s->steps_per_epoch > 0 ? s->steps_per_epoch : 1) *
		      (s->step_epochs > 0 ? s->step_epochs : 1);
	return s->lr * pow(s->gamma, (double)(step / per));
}

double jm_lr_at(const jm_schedule *s, int64_t step, int64_t total_steps)
{
	if (total_steps < 1)
		total_steps = 1;
	if (step < 0)
		step = 0;
	if (step > total_steps - 1)
		step = total_steps - 1;
	switch (s->kind) {
	case JM_SCHED_STEP: return step_lr(s, step);
	case JM_SCHED_COSINE: return cosine_lr(s, step, total_steps);
	case JM_SCHED_ONECYCLE: return onecycle_lr(s, step, total_steps);
	default: return s->lr;
	}
}

double jm_momentum_at(const jm_schedule *s, int64_t step, int64_t total_steps,
		      const jm_optim *o)
{
	const jm_optim_spec *os = &o->spec;
	double own = os->kind == JM_OPT_SGD ? os->momentum : os->beta1;
	if (s->kind != JM_SCHED_ONECYCLE || s->no_cycle_momentum ||
	    (os->kind == JM_OPT_SGD && os->momentum == 0.0))
		return own;
	if (total_steps < 1)
		total_steps = 1;
	if (step < 0)
		step = 0;
	if (step > total_steps - 1)
		step = total_steps - 1;
	double pct;
	/* torch defaults: base_momentum 0.85, max_momentum 0.95 */
	if (onecycle_phase(s, step, total_steps, &pct) == 0)
		return anneal_cos(0.95, 0.85, pct);
	return anneal_cos(0.85, 0.95, pct);
}

/* ---- clipping ---------------------------------------------------------- */

static const char *const clip_names[] = {
	[JM_CLIP_OFF] = "off", [JM_CLIP_FIXED] = "fixed",
	[JM_CLIP_ADAPTIVE] = "adaptive",
};

int jm_clip_mode_from_name(const char *name)
{
	for (int i = 0; name && i < (int)(sizeof clip_names / sizeof clip_names[0]); i++)
		if (!strcmp(name, clip_names[i]))
			return i;
	return -1;
}

int jm_clip_init(jm_clip *c, int mode, double max_norm, double percentile,
		 int window, jm_err *err)
{
	memset(c, 0, sizeof *c);
	if (mode < JM_CLIP_OFF || mode > JM_CLIP_ADAPTIVE)
		return jm_err_set(err, JM_EXIT_INPUT,
				  "[train] clip_mode: unknown mode %d", mode);
	if (!(max_norm >= 0.0) || (mode == JM_CLIP_FIXED && max_norm == 0.0))
		return jm_err_set(err, JM_EXIT_INPUT,
				  "[train] clip: expected a number > 0, got %g", max_norm);
	if (mode == JM_CLIP_ADAPTIVE) {
		if (!(percentile > 0.0 && percentile <= 100.0))
			return jm_err_set(err, JM_EXIT_INPUT,
					  "[train] clip_percentile: expected a number in (0, 100], got %g",
					  percentile);
		if (window < 1)
			return jm_err_set(err, JM_EXIT_INPUT,
					  "[train] clip_window: expected a count >= 1, got %d",
					  window);
		c->ring = jm_xcalloc((size_t)window, sizeof *c->ring);
		c->sorted = jm_xcalloc((size_t)window, sizeof *c->sorted);
	}
	c->mode = mode;
	c->max_norm = max_norm;
	c->percentile = percentile;
	c->window = window;
	return 0;
}

void jm_clip_free(jm_clip *c)
{
	if (!c)
		return;
	free(c->ring);
	free(c->sorted);
	c->ring = c->sorted = NULL;
	c->count = c->pos = 0;
	c->mode = JM_CLIP_OFF;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* numpy.percentile(values, q), method "linear". */
static double percentile(double *sorted, int n, double q)
{
	qsort(sorted, (size_t)n, sizeof *sorted, cmp_double);
	double pos = q / 100.0 * (double)(n - 1);
	int lo = (int)floor(pos);
	if (lo >= n - 1)
		return sorted[n - 1];
	double frac = pos - lo;
	return sorted[lo] + (sorted[lo + 1] - sorted[lo]) * frac;
}

double jm_grad_norm(const jm_backend *be, const float *grads, size_t n)
{
	return n ? sqrt(be->sumsq(grads, n)) : 0.0;
}

double jm_clip_apply(jm_clip *c, const jm_backend *be, float *grads, size_t n)
{
	double norm = jm_grad_norm(be, grads, n), thr = 0.0;
	c->last_threshold = 0.0;
	c->last_clipped = 0;
	if (!isfinite(norm) || c->mode == JM_CLIP_OFF)
		return norm;
	if (c->mode == JM_CLIP_FIXED) {
		thr = c->max_norm;
	} else {
		c->ring[c->pos] = norm;
		c->pos = (c->pos + 1) % c->window;
		if (c->count < c->window)
			c->count++;
		int need = c->window / 4 > 1 ? c->window / 4 : 1;
		if (c->count >= need) {
			memcpy(c->sorted, c->ring, (size_t)c->count * sizeof *c->sorted);
			thr = percentile(c->sorted, c->count, c->percentile);
		} else {
			thr = c->max_norm;
		}
	}
	c->last_threshold = thr;
	/* clip_grad_norm_: coef = max_norm / (norm + 1e-6), clamped to 1 */
	double coef = thr / (norm + 1e-6);
	if (thr > 0.0 && coef < 1.0) {
		be->scale(grads, (float)coef, n);
		c->last_clipped = 1;
	} else if (be->step_begin) {
		/* a device with CUDA graphs: the same launches whether or not
		 * this step clips, so the step's graph replays (x * 1 is x) */
		be->scale(grads, 1.0f, n);
	}
	return norm;
}

char *jm_clip_state_format(const jm_clip *c)
{
	size_t cap = 32 + (size_t)c->count * 26, len = 0;
	char *out = jm_xmalloc(cap);
	len += (size_t)snprintf(out, cap, "%d %d", c->pos, c->count);
	for (int i = 0; i < c->count && len < cap; i++)
		len += (size_t)snprintf(out + len, cap - len, " %.17g", c->ring[i]);
	return out;
}

int jm_clip_state_parse(jm_clip *c, const char *text, jm_err *err)
{
	const char *s = text;
	char *end;
	long v[2];
	for (int k = 0; k < 2; k++) {
		errno = 0;
		v[k] = strtol(s, &end, 10);
		if (end == s || errno)
			goto bad;
		s = end;
	}
	int pos = (int)v[0], count = (int)v[1];
	if (c->mode != JM_CLIP_ADAPTIVE) {
		if (pos || count)
			goto bad;
		return 0;
	}
	if (v[0] < 0 || v[0] >= c->window || v[1] < 0 || v[1] > c->window ||
	    (count < c->window && pos != count))
		goto bad;
	double *ring = jm_xcalloc((size_t)c->window, sizeof *ring);
	for (int i = 0; i < count; i++) {
		errno = 0;
		ring[i] = strtod(s, &end);
		if (end == s || errno || !isfinite(ring[i]) || ring[i] < 0) {
			free(ring);
			goto bad;
		}
		s = end;
	}
	if (*s) {
		free(ring);
		goto bad;
	}
	memcpy(c->ring, ring, (size_t)c->window * sizeof *ring);
	free(ring);
	c->pos = pos;
	c->count = count;
	return 0;
bad:
	return jm_err_set(err, JM_EXIT_INPUT,
			  "clip state \"%.60s\" does not fit clip_mode %s, clip_window %d",
			  text, clip_names[c->mode], c->window);
}
