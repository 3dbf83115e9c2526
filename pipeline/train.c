/*
 * train.c: the epoch loop, evaluation and early stopping (see train.h for
 * the picture).  The loop talks to the model only through the backend, so
 * it runs unchanged on any device.  On a GPU nothing is read back inside
 * a step (the loss sums every metrics_every batches, between steps), and
 * each step is bracketed so the backend can replay it as one CUDA graph.
 */
#include "pipeline/train.h"

#include <math.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/checkpoint.h"
#include "util/json.h"
#include "util/strbuf.h"
#include "util/rng.h"
#include "util/signals.h"

/* Stream tags so the draws for different purposes never collide. */
enum { RNG_PERM = 0x7065726d, RNG_DROPOUT = 0x64726f70 };

static void epoch_permutation(jm_trainer *t, int64_t epoch)
{
	jm_rng r;
	jm_rng_seed(&r, jm_hash64(t->seed ^ RNG_PERM, (uint64_t)epoch));
	memcpy(t->perm_host, t->train_idx, (size_t)t->n_train * sizeof *t->perm_host);
	jm_rng_shuffle(&r, t->perm_host, t->n_train);
	t->be->to_device(t->perm, t->perm_host, (size_t)t->n_train * sizeof *t->perm);
	const jm_dataset *set = t->train_set;
	if (t->regression) {
		float *y = t->epoch_host;
		for (int64_t i = 0; i < t->n_train; i++)
			y[i] = (float)((set->y[t->perm_host[i]] - t->y_mean) / t->y_std);
		t->be->to_device(t->epoch_targets, y, (size_t)t->n_train * sizeof *y);
	} else {
		int32_t *l = t->epoch_host;
		for (int64_t i = 0; i < t->n_train; i++)
			l[i] = set->labels[t->perm_host[i]];
		t->be->to_device(t->epoch_labels, l, (size_t)t->n_train * sizeof *l);
	}
}

static int log_metric(jm_trainer *t, const char *key, int64_t step, double v)
{
	return jm_metric_log(t->mw, t->run, key, step, v);
}

/* The inputs of rows idx[0..B) (device indices) gathered into t->x from
 * pixels or float rows xs. */
static void gather_inputs(jm_trainer *t, const uint8_t *pixels, const float *xs,
			  const int32_t *idx, int B)
{
	if (xs)
		t->be->gather_f32(t->x, xs, idx, B, t->D);
	else
		t->be->gather_u8(t->x, pixels, idx, B, t->D, t->norm.scale, t->norm.shift);
}

/* For evaluation: the targets of rows idx_host[0..B) of set to the device
 * (labels, or standardized values; labels_host keeps the labels for the
 * confusion matrix), then their inputs. */
static void load_batch(jm_trainer *t, const jm_dataset *set, const uint8_t *pixels,
		       const float *xs, const int32_t *idx, const int32_t *idx_host, int B)
{
	const jm_backend *be = t->be;
	if (t->regression) {
		for (int i = 0; i < B; i++)
			t->targets_host[i] = (float)((set->y[idx_host[i]] - t->y_mean) / t->y_std);
		be->to_device(t->targets, t->targets_host, (size_t)B * sizeof *t->targets);
	} else {
		for (int i = 0; i < B; i++)
			t->labels_host[i] = set->labels[idx_host[i]];
		be->to_device(t->labels, t->labels_host, (size_t)B * sizeof *t->labels);
	}
	gather_inputs(t, pixels, xs, idx, B);
}

/* An evaluation batch's mean loss against the targets load_batch put on
 * the device. */
static double eval_loss(jm_trainer *t, const float *logits, int B, int32_t *correct)
{
	if (t->regression) {
		*correct = 0;
		return t->be->mse(NULL, NULL, logits, t->targets, B, 1);
	}
	return t->be->xent(NULL, NULL, correct, logits, t->labels, NULL, B, t->K, 0.0f);
}

/* One batch of B samples starting at position pos of the permutation:
 * forward, loss (added to t->acc), backward (gradients accumulate). */
static void train_batch(jm_trainer *t, int64_t pos)
{
	int B = t->B;
	gather_inputs(t, t->train_pixels, t->train_x, t->perm + pos, B);
	const int32_t *labels = t->regression ? NULL : t->epoch_labels + pos;
	const float *targets = t->regression ? t->epoch_targets + pos : NULL;
	/* the next batch's rows, on their way while this step computes */
	if (t->be->prefetch_rows && t->st.batch_in_epoch + 1 < t->batches_per_epoch) {
		if (t->train_x)
			t->be->prefetch_rows(t->train_x, t->perm + pos + B, B,
					     (size_t)t->D * sizeof *t->train_x);
		else
			t->be->prefetch_rows(t->train_pixels, t->perm + pos + B, B, (size_t)t->D);
	}
	float *x = t->x;
	const float *soft = NULL;
	/* zero padding is a black pixel: byte 0 normalised is the shift */
	if (t->aug)
		x = jm_augmenter_apply(t->aug, x, labels, t->seed, t->st.micro, t->norm.shift,
				       &soft);
	uint64_t key = jm_hash64(t->seed ^ RNG_DROPOUT, (uint64_t)t->st.micro);
	float *logits = jm_model_forward(t->model, x, B, 1, key);
	if (t->regression)
		t->be->mse_acc(t->dlogits, t->acc, logits, targets, B, 1);
	else if (soft)
		t->be->xent_acc(t->dlogits, t->acc, logits, NULL, soft, B, t->K, 0.0f);
	else
		t->be->xent_acc(t->dlogits, t->acc, logits, labels, NULL, B, t->K,
				(float)t->flow->train.label_smoothing);
	if (t->loss_scale > 0)
		t->be->scale(t->dlogits, (float)t->loss_scale, (size_t)B * (t->regression ? 1 : t->K));
	jm_model_backward(t->model, t->dlogits, B);
}

/* A device error since the last wait, as the run's error: a read after
 * one gives garbage or NaN, which would read as divergence.  0, or -1
 * with err (what: where it was found). */
static int device_error(jm_trainer *t, const char *what, jm_err *err)
{
	char why[512];
	if (t->be->sync(why, sizeof why) == 0)
		return 0;
	jm_report_clear(t->rep);
	return jm_err_set(err, JM_EXIT_FAIL, "%s (step %lld, epoch %lld) on %s: %s", what,
			  (long long)t->st.step + 1, (long long)t->st.epoch + 1, t->be->name, why);
}

/* Loss scaling (fp16): 1 when this step's gradients are finite, and then
 * unscaled in place; 0 when they are not (the step is skipped and the
 * scale halved); -1 with err when they are not even at a vanishing scale. */
#define SCALE_GROWTH_STEPS 2000

static int unscale_grads(jm_trainer *t, float *g, size_t n, jm_err *err)
{
	double ss = t->be->sumsq(g, n);
	if (!isfinite(ss)) {
		/* a device error reads as NaN: that one, not a scale run down */
		if (device_error(t, "loss scaling", err) < 0)
			return -1;
		t->scale_skipped++;
		t->scale_good = 0;
		t->loss_scale *= 0.5;
		if (t->loss_scale < 0x1p-24) {
			jm_report_clear(t->rep);
			return jm_err_set(err, JM_EXIT_FAIL,
					  "diverged: gradients are not finite even with the loss scale "
					  "at %g (step %lld, epoch %lld)", t->loss_scale,
					  (long long)t->st.step + 1, (long long)t->st.epoch + 1);
		}
		return 0;
	}
	t->be->scale(g, (float)(1.0 / t->loss_scale), n);
	if (++t->scale_good == SCALE_GROWTH_STEPS) {
		t->loss_scale *= 2;
		t->scale_good = 0;
	}
	return 1;
}

/* The state's sums to the backend, where the next batches add to them
 * (before the first batch after a read). */
static void push_metrics(jm_trainer *t)
{
	const jm_train_state *st = &t->st;
	double a[5] = {st->loss_sum, (double)st->correct, (double)st->batches, st->log_loss_sum,
		       (double)st->log_n};
	t->be->to_device(t->acc, a, sizeof a);
}

/* The sums back from the backend into the state.  Fails (diverged) when
 * the loss (or a gradient norm clipped on the device) is not finite: at
 * this step when each batch is read, else somewhere in the batches since
 * the last read. */
static int read_metrics(jm_trainer *t, jm_err *err)
{
	jm_train_state *st = &t->st;
	double a[7] = {NAN, NAN, NAN, NAN, NAN, NAN, NAN};
	if (!t->unread)
		return 0;
	t->be->to_host(a, t->acc, sizeof a);
	/* the read has waited for the device: its errors cost nothing to ask */
	if (device_error(t, "training", err) < 0)
		return -1;
	int64_t n = (int64_t)a[2] - st->batches;
	t->last_norm = a[5];
	if (t->clip_on_device && a[6] > 0) {
		jm_report_clear(t->rep);
		return jm_err_set(err, JM_EXIT_FAIL,
				  "diverged: gradient norm is %s within the %lld batches up to step "
				  "%lld (epoch %lld)",
				  isnan(a[5]) ? "nan" : isinf(a[5]) ? "inf" : "not finite", (long long)n,
				  (long long)st->step + 1, (long long)st->epoch + 1);
	}
	if (!isfinite(a[0])) {
		jm_report_clear(t->rep);
		const char *what = isnan(a[0]) ? "nan" : "inf";
		if (n <= 1)
			return jm_err_set(err, JM_EXIT_FAIL,
					  "diverged: loss is %s at step %lld (epoch %lld)", what,
					  (long long)st->step + 1, (long long)st->epoch + 1);
		return jm_err_set(err, JM_EXIT_FAIL,
				  "diverged: loss is %s within the %lld batches up to step %lld "
				  "(epoch %lld)",
				  what, (long long)n, (long long)st->step + 1, (long long)st->epoch + 1);
	}
	t->last_loss = n > 0 ? (a[3] - st->log_loss_sum) / (double)(a[4] - st->log_n) : NAN;
	st->loss_sum = a[0];
	st->correct = (int64_t)a[1];
	st->batches = (int64_t)a[2];
	st->seen = st->batches * t->B;
	st->log_loss_sum = a[3];
	st->log_n = (int64_t)a[4];
	t->unread = 0;
	return 0;
}

/* After `batches` accumulated batches: average them, clip, one optimizer
 * step at the scheduled lr (into *lr; the pre-clip norm into *norm, and
 * whether the step was taken into *finite).  Fails (diverged) on a
 * non-finite gradient norm. */
static int step_apply(jm_trainer *t, int64_t batches, double *lr, double *norm, int *finite,
		      jm_err *err)
{
	jm_train_state *st = &t->st;
	size_t n = jm_model_n_params(t->model);
	float *p = jm_model_params(t->model), *g = jm_model_grads(t->model);
	if (batches > 1)
		jm_model_scale_grads(t->model, 1.0f / (float)batches);
	*norm = NAN;
	*finite = t->loss_scale > 0 ? unscale_grads(t, g, n, err) : 1;
	if (*finite < 0)
		return -1;
	if (*finite && t->clip_on_device) {
		t->be->clip_norm(g, n, t->clip.max_norm, t->acc + 5); /* read with the sums */
	} else if (*finite && t->clip.mode != JM_CLIP_OFF) {
		*norm = jm_clip_apply(&t->clip, t->be, g, n);
		if (!isfinite(*norm)) {
			if (device_error(t, "gradient clipping", err) < 0)
				return -1;
			jm_report_clear(t->rep);
			return jm_err_set(err, JM_EXIT_FAIL,
					  "diverged: gradient norm is %s at step %lld (epoch %lld)",
					  isnan(*norm) ? "nan" : "inf", (long long)st->step + 1,
					  (long long)st->epoch + 1);
		}
	}
	*lr = jm_lr_at(&t->sched, st->step, t->total_steps);
	double mom = jm_momentum_at(&t->sched, st->step, t->total_steps, t->opt);
	if (*finite)
		jm_optim_step(t->opt, p, g, *lr, mom);
	jm_model_zero_grad(t->model);
	return 0;
}

/* The step taken: count it, and the step-level metrics every log_every
 * steps. */
static void step_log(jm_trainer *t, double lr, double norm, int finite)
{
	jm_train_state *st = &t->st;
	st->step++;
	if (st->step % t->flow->train.log_every == 0) {
		log_metric(t, "loss", st->step, st->log_loss_sum / (double)st->log_n);
		log_metric(t, "lr", st->step, lr);
		if (t->clip.mode != JM_CLIP_OFF && finite)
			log_metric(t, "grad_norm", st->step, t->clip_on_device ? t->last_norm : norm);
		if (t->loss_scale > 0)
			log_metric(t, "loss_scale", st->step, t->loss_scale);
		st->log_loss_sum = 0;
		st->log_n = 0;
	}
}

/* A scored row of a two-class part, for the ROC AUC. */
typedef struct scored {
	float score;   /* z1 - z0: orders rows as the probability of class 1 */
	int positive;
} scored;

static int cmp_scored(const void *a, const void *b)
{
	float x = ((const scored *)a)->score, y = ((const scored *)b)->score;
	return (x > y) - (x < y);
}

/* Mann-Whitney: the chance that a positive row scores above a negative
 * one, ties counting half (scikit-learn's roc_auc_score).  Sorts s. */
static double roc_auc(scored *s, int64_t n)
{
	qsort(s, (size_t)n, sizeof *s, cmp_scored);
	double pos_ranks = 0;
	int64_t npos = 0;
	for (int64_t i = 0; i < n;) {
		int64_t j = i;
		while (j < n && s[j].score == s[i].score)
			j++;
		double rank = 0.5 * (double)(i + 1 + j); /* mean of ranks i+1 .. j */
		for (int64_t k = i; k < j; k++)
			if (s[k].positive) {
				pos_ranks += rank;
				npos++;
			}
		i = j;
	}
	int64_t nneg = n - npos;
	if (!npos || !nneg)
		return NAN;
	return (pos_ranks - 0.5 * (double)npos * (double)(npos + 1)) / ((double)npos * (double)nneg);
}

int jm_evaluate_all(jm_trainer *t, const jm_data_dev *d, jm_eval *e, int64_t *confusion,
		    jm_err *err)
{
	const jm_backend *be = t->be;
	int maxb = jm_model_max_batch(t->model), K = t->K;
	int need_logits = confusion || t->regression || K == 2;
	double loss_sum = 0.0, abs_sum = 0.0, sq_sum = 0.0, y_mean = 0.0, ss_tot = 0.0;
	int64_t correct = 0;
	scored *sc = NULL;
	*e = (jm_eval){NAN, NAN, NAN, NAN, NAN, NAN};
	if (confusion)
		memset(confusion, 0, (size_t)K * (size_t)K * sizeof *confusion);
	if (!t->regression && K == 2 && d->n > 0 &&
	    !(sc = malloc((size_t)d->n * sizeof *sc)))
		return jm_err_set(err, JM_EXIT_FAIL, "evaluation: out of memory for %lld scores",
				  (long long)d->n);
	if (t->regression) {
		for (int64_t i = 0; i < d->n; i++)
			y_mean += d->set->y[d->idx_host[i]];
		y_mean = d->n ? y_mean / (double)d->n : 0.0;
	}
	for (int64_t pos = 0; pos < d->n; pos += maxb) {
		int B = (int)(d->n - pos < maxb ? d->n - pos : maxb);
		load_batch(t, d->set, d->pixels, d->x, d->idx + pos, d->idx_host + pos, B);
		float *logits = jm_model_forward(t->model, t->x, B, 0, 0);
		if (!logits) {
			free(sc);
			return jm_err_set(err, JM_EXIT_FAIL, "evaluation: batch of %d rejected", B);
		}
		int32_t ok = 0;
		double l = eval_loss(t, logits, B, &ok);
		loss_sum += l * B;
		correct += ok;
		if (!need_logits)
			continue;
		be->to_host(t->logits_host, logits, (size_t)B * (size_t)K * sizeof(float));
		for (int i = 0; i < B; i++) {
			const float *row = t->logits_host + (size_t)i * (size_t)K;
			if (t->regression) {
				double y = d->set->y[d->idx_host[pos + i]];
				double err_i = (double)row[0] * t->y_std + t->y_mean - y;
				abs_sum += fabs(err_i);
				sq_sum += err_i * err_i;
				ss_tot += (y - y_mean) * (y - y_mean);
				continue;
			}
			if (sc)
				sc[pos + i] = (scored){row[1] - row[0], t->labels_host[i] == 1};
			if (confusion) {
				int best = 0;
				for (int k = 1; k < K; k++)
					if (row[k] > row[best])
						best = k;
				confusion[(size_t)t->labels_host[i] * (size_t)K + (size_t)best]++;
			}
		}
	}
	if (d->n) {
		e->loss = loss_sum / (double)d->n;
		if (t->regression) {
			e->rmse = sqrt(sq_sum / (double)d->n);
			e->mae = abs_sum / (double)d->n;
			e->r2 = ss_tot > 0 ? 1.0 - sq_sum / ss_tot : NAN;
		} else {
			e->acc = (double)correct / (double)d->n;
		}
		if (sc)
			e->auc = roc_auc(sc, d->n);
	}
	free(sc);
	/* the figures are the device's only when it met no error (its own
	 * message: it also runs after the last step, as the test) */
	char why[512];
	if (be->sync(why, sizeof why) < 0)
		return jm_err_set(err, JM_EXIT_FAIL, "evaluation on %s: %s", be->name, why);
	return 0;
}

int jm_evaluate(jm_trainer *t, const jm_data_dev *d, double *loss, double *acc,
		int64_t *confusion, jm_err *err)
{
	jm_eval e;
	if (jm_evaluate_all(t, d, &e, confusion, err) < 0)
		return -1;
	*loss = e.loss;
	*acc = e.acc;
	return 0;
}

void jm_eval_log(jm_trainer *t, const char *part, const jm_eval *e, int64_t step)
{
	const struct { const char *name; double v; } m[] = {
		{"loss", e->loss}, {"acc", e->acc}, {"auc", e->auc},
		{"rmse", e->rmse}, {"mae", e->mae}, {"r2", e->r2},
	};
	for (size_t i = 0; i < sizeof m / sizeof *m; i++) {
		char key[64];
		if (isnan(m[i].v) && i > 0)
			continue;
		snprintf(key, sizeof key, "%s_%s", part, m[i].name);
		log_metric(t, key, step, m[i].v);
	}
}

/* Regression always watches the validation loss (it has no accuracy). */
static int monitor_loss(const jm_trainer *t)
{
	return t->regression || !strcmp(t->flow->train.monitor, "val_loss");
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* The median batch's CPU time this epoch (s; NaN: none timed).  The mean
 * (step_cpu_ms) carries every pause the machine's other work caused; the
 * median is the typical step, what bench_train.sh sets beside the GEMMs. */
static double median_step_cpu(jm_trainer *t)
{
	int64_t n = t->n_step_cpu;
	if (n <= 0)
		return NAN;
	qsort(t->step_cpu, (size_t)n, sizeof *t->step_cpu, cmp_double);
	return n % 2 ? t->step_cpu[n / 2] : 0.5 * (t->step_cpu[n / 2 - 1] + t->step_cpu[n / 2]);
}

/* The monitored value improved?  val_acc: higher is better. */
static int improved(const jm_trainer *t, double v)
{
	if (t->st.best_epoch == 0)
		return 1;
	if (monitor_loss(t))
		return v < t->st.best;
	return v > t->st.best;
}

const char *jm_train_monitor(const jm_trainer *t)
{
	return monitor_loss(t) ? "val_loss" : "val_acc";
}

/* The best epoch's weights so far (by [train] monitor), which an
 * early-stopping run ends with (jm_train_restore_best); on disk, so a
 * resumed run has them too. */
static int save_best(jm_trainer *t, jm_err *err)
{
	if (!t->run_dir)
		return 0;
	char path[4096], epoch[32], value[40];
	snprintf(path, sizeof path, "%s/" JM_TRAIN_BEST_FILE, t->run_dir);
	snprintf(epoch, sizeof epoch, "%lld", (long long)t->st.best_epoch);
	snprintf(value, sizeof value, "%.17g", t->st.best);
	const char *meta[] = {"epoch", epoch, "monitor", jm_train_monitor(t), "value", value};
	return jm_checkpoint_save(path, t->model, NULL, meta, 3, err);
}

int jm_train_restore_best(jm_trainer *t, jm_err *err)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/" JM_TRAIN_BEST_FILE, t->run_dir);
	if (jm_checkpoint_load(path, t->model, NULL, NULL, err) < 0)
		return jm_err_prefix(err, "the best epoch's weights");
	return 0;
}

static int end_of_epoch(jm_trainer *t, double epoch_seconds, int *early_stop, jm_err *err)
{
	jm_train_state *st = &t->st;
	int64_t epoch = st->epoch + 1, step = st->step;
	double train_loss = st->batches ? st->loss_sum / (double)st->batches : NAN;
	double train_acc = st->seen && !t->regression ? (double)st->correct / (double)st->seen : NAN;
	jm_eval ve = {NAN, NAN, NAN, NAN, NAN, NAN};
	if (t->val.n > 0 && jm_evaluate_all(t, &t->val, &ve, NULL, err) < 0)
		return -1;
	double val_loss = ve.loss, val_acc = ve.acc;
	double sps = epoch_seconds > 0 ? (double)(st->batches * t->B) / epoch_seconds : 0;

	log_metric(t, "epoch", step, (double)epoch);
	log_metric(t, "train_loss", step, train_loss);
	if (!t->regression)
		log_metric(t, "train_acc", step, train_acc);
	if (t->val.n > 0)
		jm_eval_log(t, "val", &ve, step);
	log_metric(t, "samples_per_s", step, sps);

	jm_report_clear(t->rep);
	if (t->rep->json) {
		/* numbers through the JSON writer: a NaN is null, not "nan" */
		const struct { const char *key; double v; } fields[] = {
			{"train_loss", train_loss}, {"train_acc", train_acc},
			{"val_loss", val_loss}, {"val_acc", val_acc}, {"samples_per_s", sps},
			{"step_cpu_ms", st->batches ? 1e3 * t->epoch_cpu_s / (double)st->batches : NAN},
			{"step_cpu_median_ms", 1e3 * median_step_cpu(t)},
		};
		jm_buf f = JM_BUF_INIT;
		jm_buf_printf(&f, "\"run\":%lld,\"epoch\":%lld,\"step\":%lld", (long long)t->run,
			      (long long)epoch, (long long)step);
		for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
			jm_buf_printf(&f, ",\"%s\":", fields[i].key);
			jm_json_add_num(&f, fields[i].v, 0);
		}
		/* the metrics of a table's runs, when they apply */
		const struct { const char *key; double v; } extra[] = {
			{"val_auc", ve.auc}, {"val_rmse", ve.rmse}, {"val_mae", ve.mae}, {"val_r2", ve.r2},
		};
		for (size_t i = 0; i < sizeof extra / sizeof extra[0]; i++)
			if (!isnan(extra[i].v)) {
				jm_buf_printf(&f, ",\"%s\":", extra[i].key);
				jm_json_add_num(&f, extra[i].v, 0);
			}
		jm_report_json(t->rep, "epoch", jm_buf_str(&f));
		jm_buf_release(&f);
	}
	char vtext[128] = "", ttext[64];
	if (t->val.n > 0 && t->regression)
		snprintf(vtext, sizeof vtext, "  val loss %.4f rmse %.4g mae %.4g r2 %.4f", val_loss,
			 ve.rmse, ve.mae, ve.r2);
	else if (t->val.n > 0)
		snprintf(vtext, sizeof vtext, "  val loss %.4f acc %.4f%s", val_loss, val_acc,
			 isnan(ve.auc) ? "" : " auc ");
	if (t->val.n > 0 && !t->regression && !isnan(ve.auc))
		snprintf(vtext + strlen(vtext), sizeof vtext - strlen(vtext), "%.4f", ve.auc);
	if (t->regression)
		snprintf(ttext, sizeof ttext, "train loss %.4f", train_loss);
	else
		snprintf(ttext, sizeof ttext, "train loss %.4f acc %.4f", train_loss, train_acc);
	if (t->rep->json) {
		/* the JSON line above is the report; keep the log complete */
		if (t->rep->log)
			fprintf(t->rep->log, "epoch %lld/%lld  %s%s  %.0f samples/s\n",
				(long long)epoch, (long long)t->flow->train.epochs, ttext, vtext, sps);
	} else {
		jm_report_msg(t->rep, "epoch %lld/%lld  %s%s  %.0f samples/s",
			      (long long)epoch, (long long)t->flow->train.epochs, ttext, vtext, sps);
	}

	st->epoch = epoch;
	st->batch_in_epoch = 0;
	st->loss_sum = 0;
	st->correct = st->seen = st->batches = 0;

	*early_stop = 0;
	if (t->val.n > 0) {
		double v = monitor_loss(t) ? val_loss : val_acc;
		if (improved(t, v)) {
			st->best = v;
			st->best_epoch = epoch;
			st->bad_epochs = 0;
			if (save_best(t, err) < 0)
				return -1;
		} else {
			st->bad_epochs++;
		}
		if (t->flow->train.patience > 0 && st->bad_epochs >= t->flow->train.patience)
			*early_stop = 1;
	}
	return 0;
}

static int save_checkpoint(jm_trainer *t, jm_err *err)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/checkpoint.safetensors", t->run_dir);
	if (jm_metric_writer_flush(t->mw, err) < 0)
		return -1;
	return jm_train_checkpoint_save(t, path, err);
}

int jm_train_run(jm_trainer *t, jm_err *err)
{
	const jm_flow *f = t->flow;
	jm_train_state *st = &t->st;
	int64_t accum = f->train.accumulate, pending = 0;
	int64_t batches = t->batches_per_epoch;

	while (st->epoch < f->train.epochs) {
		epoch_permutation(t, st->epoch);
		double t_epoch = jm_now(), epoch_train_s = 0.0, cpu0 = jm_cpu_now();
		int64_t first_batch = st->batch_in_epoch;
		t->n_step_cpu = 0;
		while (st->batch_in_epoch < batches) {
			double t0 = jm_now(), c0 = jm_cpu_now();
			if (!t->unread)
				push_metrics(t);
			if (t->graphs && pending == 0)
				t->be->step_begin();
			train_batch(t, st->batch_in_epoch * t->B);
			st->micro++;
			st->batch_in_epoch++;
			t->unread++;
			if (++pending == accum || st->batch_in_epoch == batches) {
				double lr = NAN, norm = NAN;
				int finite, r = step_apply(t, pending, &lr, &norm, &finite, err);
				if (t->graphs)
					t->be->step_end();
				if (r < 0)
					return JM_TRAIN_DIVERGED;
				/* the sums are read between steps (none inside one, so
				 * it can be a graph): before a step that logs the loss,
				 * before a stop's checkpoint, at the epoch's end, and
				 * after every metrics_every batches */
				if ((t->unread >= t->metrics_every || st->batch_in_epoch == batches ||
				     (st->step + 1) % f->train.log_every == 0 ||
				     jm_signals_stop_requested()) &&
				    read_metrics(t, err) < 0)
					return JM_TRAIN_DIVERGED;
				step_log(t, lr, norm, finite);
				pending = 0;
				if (t->fault_signal && st->step == t->fault_step)
					raise(t->fault_signal);
			}
			if (t->n_step_cpu < batches)
				t->step_cpu[t->n_step_cpu++] = jm_cpu_now() - c0;
			double dt = jm_now() - t0;
			epoch_train_s += dt;
			st->train_seconds += dt;
			st->samples += t->B;
			double sps = epoch_train_s > 0
				     ? (double)((st->batch_in_epoch - first_batch) * t->B) / epoch_train_s
				     : 0;
			double left = (double)((f->train.epochs - st->epoch) * batches - st->batch_in_epoch);
			jm_report_progress(t->rep, st->epoch + 1, f->train.epochs, st->batch_in_epoch,
					   batches, t->last_loss, sps, sps > 0 ? left * t->B / sps : -1);
			if (jm_signals_stop_requested() && pending == 0) {
				if (read_metrics(t, err) < 0)
					return JM_TRAIN_DIVERGED;
				if (save_checkpoint(t, err) < 0)
					return JM_TRAIN_ERROR;
				return JM_TRAIN_STOPPED;
			}
		}
		int early = 0;
		/* CPU time of the steps (nothing else runs on this thread between
		 * them), so a busy machine does not hide what a step costs */
		t->epoch_cpu_s = jm_cpu_now() - cpu0;
		char why[512];
		if (t->be->sync(why, sizeof why) < 0) { /* a device op failed */
			jm_report_clear(t->rep);
			return jm_err_set(err, JM_EXIT_FAIL, "epoch %lld on %s: %s",
					  (long long)st->epoch + 1, t->be->name, why),
			       JM_TRAIN_ERROR;
		}
		if (end_of_epoch(t, epoch_train_s > 0 ? epoch_train_s : jm_now() - t_epoch, &early,
				 err) < 0)
			return JM_TRAIN_ERROR;
		int last = st->epoch >= f->train.epochs || early;
		if (last || st->epoch % f->train.checkpoint_every == 0 ||
		    jm_signals_stop_requested()) {
			if (save_checkpoint(t, err) < 0)
				return JM_TRAIN_ERROR;
		}
		if (t->epoch_hook && !last) {
			int h = t->epoch_hook(t, t->epoch_hook_ctx, err);
			if (h != 0)
				return h > 0 ? JM_TRAIN_PRUNED : JM_TRAIN_ERROR;
		}
		if (early) {
			jm_report_msg(t->rep, "early stop: %s has not improved for %lld epochs (best %.4f at epoch %lld)",
				      f->train.monitor, (long long)st->bad_epochs, st->best,
				      (long long)st->best_epoch);
			break;
		}
		if (jm_signals_stop_requested() && st->epoch < f->train.epochs)
			return JM_TRAIN_STOPPED;
	}
	return JM_TRAIN_DONE;
}

/* ---- checkpoints: the model, the optimizer and jm_train_state --------- */

/* The state's fields as metadata, one table for saving and loading. */
#define STATE_I64(f) {#f, offsetof(jm_train_state, f), 0}
#define STATE_F64(f) {#f, offsetof(jm_train_state, f), 1}
static const struct state_field {
	const char *name;
	size_t off;
	int is_double;
} state_fields[] = {
	STATE_I64(epoch), STATE_I64(batch_in_epoch), STATE_I64(step), STATE_I64(micro),
	STATE_F64(loss_sum), STATE_I64(correct), STATE_I64(seen), STATE_I64(batches),
	STATE_F64(log_loss_sum), STATE_I64(log_n), STATE_F64(best), STATE_I64(best_epoch),
	STATE_I64(bad_epochs), STATE_F64(train_seconds), STATE_I64(samples),
};
#define N_STATE (int)(sizeof state_fields / sizeof state_fields[0])

int jm_train_checkpoint_save(jm_trainer *t, const char *path, jm_err *err)
{
	char values[N_STATE][40];
	const char *kv[2 * (N_STATE + 6)];
	int n = 0;
	for (int i = 0; i < N_STATE; i++) {
		const char *p = (const char *)&t->st + state_fields[i].off;
		if (state_fields[i].is_double)
			snprintf(values[i], sizeof values[i], "%a", *(const double *)p);
		else
			snprintf(values[i], sizeof values[i], "%lld", (long long)*(const int64_t *)p);
		kv[2 * n] = state_fields[i].name;
		kv[2 * n + 1] = values[i];
		n++;
	}
	char seed[32], run[32];
	snprintf(seed, sizeof seed, "%llu", (unsigned long long)t->seed);
	snprintf(run, sizeof run, "%lld", (long long)t->run);
	kv[2 * n] = "seed", kv[2 * n + 1] = seed, n++;
	kv[2 * n] = "run", kv[2 * n + 1] = run, n++;
	char *ring = NULL, scale[3][40];
	if (t->clip.mode == JM_CLIP_ADAPTIVE) {
		ring = jm_clip_state_format(&t->clip);
		kv[2 * n] = "clip_ring", kv[2 * n + 1] = ring, n++;
	}
	if (t->loss_scale > 0) {
		snprintf(scale[0], sizeof scale[0], "%a", t->loss_scale);
		snprintf(scale[1], sizeof scale[1], "%lld", (long long)t->scale_good);
		snprintf(scale[2], sizeof scale[2], "%lld", (long long)t->scale_skipped);
		kv[2 * n] = "loss_scale", kv[2 * n + 1] = scale[0], n++;
		kv[2 * n] = "scale_good", kv[2 * n + 1] = scale[1], n++;
		kv[2 * n] = "scale_skipped", kv[2 * n + 1] = scale[2], n++;
	}
	int rc = jm_checkpoint_save(path, t->model, t->opt, kv, n, err);
	free(ring);
	return rc;
}

int jm_train_checkpoint_load(jm_trainer *t, const char *path, jm_err *err)
{
	jm_ckpt_meta meta = {0};
	jm_train_state st = {0};
	int rc = -1;
	if (jm_checkpoint_load(path, t->model, t->opt, &meta, err) < 0)
		return -1;
	for (int i = 0; i < N_STATE; i++) {
		const char *v = jm_ckpt_meta_get(&meta, state_fields[i].name);
		char *p = (char *)&st + state_fields[i].off;
		if (!v) {
			jm_err_set(err, JM_EXIT_INPUT, "%s: metadata \"%s\" is missing", path,
				   state_fields[i].name);
			goto out;
		}
		if (state_fields[i].is_double)
			*(double *)p = strtod(v, NULL);
		else
			*(int64_t *)p = strtoll(v, NULL, 10);
	}
	const char *ring = jm_ckpt_meta_get(&meta, "clip_ring");
	if (t->clip.mode == JM_CLIP_ADAPTIVE) {
		if (!ring) {
			jm_err_set(err, JM_EXIT_INPUT, "%s: metadata \"clip_ring\" is missing", path);
			goto out;
		}
		if (jm_clip_state_parse(&t->clip, ring, err) < 0) {
			jm_err_prefix(err, "%s", path);
			goto out;
		}
	}
	const char *scale = jm_ckpt_meta_get(&meta, "loss_scale");
	if (t->loss_scale > 0 && scale) {
		const char *good = jm_ckpt_meta_get(&meta, "scale_good");
		const char *skipped = jm_ckpt_meta_get(&meta, "scale_skipped");
		t->loss_scale = strtod(scale, NULL);
		t->scale_good = good ? strtoll(good, NULL, 10) : 0;
		t->scale_skipped = skipped ? strtoll(skipped, NULL, 10) : 0;
	}
	t->st = st;
	rc = 0;
out:
	jm_ckpt_meta_free(&meta);
	return rc;
}
