/*
 * runner.c: jm_runner_batch(), the only place that sequences a run's stages
 * (see runner.h for the picture).
 *
 * Order matters for the person at the keyboard: everything that can be
 * wrong with the input (flow, overrides, files, device, model spec) is
 * checked before the store is touched, so a typo never leaves a failed run
 * behind; once the run exists, every way out marks it (done, failed,
 * stopped) and flushes its metrics.
 */
#include "pipeline/runner.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "data/dataset.h"
#include "data/split.h"
#include "engine/backend.h"
#include "engine/checkpoint.h"
#include "engine/model.h"
#include "engine/optim.h"
#include "flow.h"
#include "pipeline/notify.h"
#include "pipeline/report.h"
#include "pipeline/tabular.h"
#include "pipeline/search/batch.h"
#include "pipeline/train.h"
#include "store/metric_writer.h"
#include "store/store.h"
#include "util/json.h"
#include "util/strbuf.h"
#include "util/rng.h"
#include "util/signals.h"

typedef struct runner {
	const jm_batch_opts *o;
	jm_flow *flow;
	jm_store *store;
	int64_t resume_run;     /* the run being resumed, or 0 */
	int64_t trial_run;      /* --trial: the queued trial to start, or 0 */
	jm_trial_pruner *pruner;
	const jm_backend *be;
	char device_note[1024];  /* device = auto on the CPU: why not a GPU */
	char batch_note[1024];   /* what was tried, what fits (batch = auto, evaluation) */
	int batch_auto;          /* the batch was chosen here (batch = auto) */
	jm_dataset *train, *test;
	jm_split split;
	jm_trainer t;
	jm_report rep;
	FILE *log;
	int64_t *confusion;
	int64_t source_run;     /* the run given to --rerun or --resume, or 0 */
	int tabular;            /* [data] source is a CSV: tab holds its stages */
	jm_tabular tab;
} runner;

/* ---- input: the flow, overrides, device ------------------------------ */

static int load_flow(runner *r, jm_err *err)
{
	const jm_batch_opts *o = r->o;
	if (o->flow_path)
		return jm_flow_load(&r->flow, o->flow_path, err);

	const char *ref = o->rerun ? o->rerun : o->resume ? o->resume : o->trial;
	int64_t run = 0, flow_id = 0;
	char name[64];
	if (jm_store_run_lookup(r->store, ref, &run, err) < 0)
		return -1;
	sqlite3_stmt *st = NULL;
	sqlite3_prepare_v2(jm_store_db(r->store),
			   "SELECT flow_id, status, pid, host FROM runs WHERE id = ?", -1, &st, NULL);
	sqlite3_bind_int64(st, 1, run);
	int found = sqlite3_step(st) == SQLITE_ROW;
	char status[16] = "";
	if (found) {
		flow_id = sqlite3_column_int64(st, 0);
		snprintf(status, sizeof status, "%s", (const char *)sqlite3_column_text(st, 1));
	}
	long long pid = found ? sqlite3_column_int64(st, 2) : 0;
	sqlite3_finalize(st);
	if (!found || !flow_id)
		return jm_err_set(err, JM_EXIT_INPUT, "run %lld has no flow to %s", (long long)run,
				  o->rerun ? "rerun" : o->resume ? "resume" : "run as a trial");
	if (o->trial) {
		if (strcmp(status, JM_RUN_QUEUED))
			return jm_err_set(err, JM_EXIT_INPUT, "run %lld is %s, not a queued trial",
					  (long long)run, status);
		r->trial_run = run;
	} else {
		r->source_run = run; /* its fitted CSV state is reused */
	}
	if (o->resume) {
		if (!strcmp(status, JM_RUN_DONE))
			return jm_err_set(err, JM_EXIT_INPUT, "run %lld is done: nothing to resume",
					  (long long)run);
		if (!strcmp(status, JM_RUN_RUNNING))
			return jm_err_set(err, JM_EXIT_INPUT,
					  "run %lld is running (pid %lld): stop it first",
					  (long long)run, pid);
		r->resume_run = run;
	}
	char *text = jm_store_flow_text(r->store, flow_id, err);
	if (!text)
		return -1;
	snprintf(name, sizeof name, "run %lld flow", (long long)run);
	int rc = jm_flow_parse(&r->flow, text, name, err);
	free(text);
	return rc;
}

static int apply_overrides(runner *r, jm_err *err)
{
	const jm_batch_opts *o = r->o;
	for (int i = 0; i < o->n_sets; i++)
		if (jm_flow_set(r->flow, o->sets[i], err) < 0)
			return -1;
	char buf[64];
	if (o->has_seed) {
		snprintf(buf, sizeof buf, "train.seed=%lld", (long long)o->seed);
		if (jm_flow_set(r->flow, buf, err) < 0)
			return jm_err_prefix(err, "--seed");
	}
	if (o->device) {
		snprintf(buf, sizeof buf, "train.device=%.40s", o->device);
		if (jm_flow_set(r->flow, buf, err) < 0)
			return jm_err_prefix(err, "--device");
	}
	return jm_flow_check_files(r->flow, err);
}

/* cpu, cuda[:N] or auto (backend_load.c).  A GPU that was asked for and
 * cannot be had is bad input (exit 2); auto without one trains on the CPU
 * and says why once the run has started. */
static int pick_device(runner *r, jm_err *err)
{
	char why[1024];
	if (jm_backend_for_device(r->flow->train.device, &r->be, r->device_note,
				  sizeof r->device_note, why, sizeof why) < 0)
		return jm_err_set(err, JM_EXIT_INPUT, "%s (use --device cpu or auto)", why);
	const char *check = getenv("JIANMO_BACKEND_CHECK");
	if (r->be == &jm_backend_cpu && check && !strcmp(check, "1"))
		r->be = jm_backend_checked();
	return 0;
}

/* [train] precision: auto is bf16 where the device has it, else fp32; a
 * tf32 or 16-bit precision the device cannot run is bad input.  The flow
 * then holds what runs, as the run's record. */
static int pick_precision(runner *r, jm_err *err)
{
	jm_flow *f = r->flow;
	const jm_backend *be = r->be;
	int p = JM_PREC_FP32;
	while (jm_prec_name(p) && strcmp(f->train.precision, jm_prec_name(p)))
		p++;
	char why[512], loc[300];
	if (!jm_prec_name(p)) /* auto */
		p = be->set_precision && be->set_precision(JM_PREC_BF16, why, sizeof why) == 0
			    ? JM_PREC_BF16
			    : JM_PREC_FP32;
	if (p != JM_PREC_FP32 && !be->set_precision) {
		jm_flow_locate(f, "train.precision", loc, sizeof loc);
		return jm_err_set(err, JM_EXIT_INPUT,
				  "%s: [train] precision = %s runs on a GPU, and this run is on the "
				  "%s%s%s%s (use auto or fp32)", loc, jm_prec_name(p), be->name,
				  r->device_note[0] ? " (device auto: " : "", r->device_note,
				  r->device_note[0] ? ")" : "");
	}
	if (be->set_precision && be->set_precision(p, why, sizeof why) < 0) {
		jm_flow_locate(f, "train.precision", loc, sizeof loc);
		return jm_err_set(err, JM_EXIT_INPUT, "%s: [train] precision = %s: %s", loc,
				  jm_prec_name(p), why);
	}
	free(f->train.precision);
	f->train.precision = jm_xstrdup(jm_prec_name(p));
	r->t.precision = p;
	return 0;
}

/* Threads: [train] threads, when the flow sets it, is the number of CPU
 * workers a convolution's batch is split across, each calling BLAS with
 * one thread (OpenBLAS's own threading was slower at these sizes: the CNN
 * ran at 0.63x with two BLAS threads).  Otherwise BLAS keeps
 * OPENBLAS_NUM_THREADS when the environment sets it, else 1. */
static void pick_threads(runner *r)
{
	if (jm_flow_line(r->flow, "train.threads") != 0) {
		jm_cpu_set_workers((int)r->flow->train.threads);
		jm_blas_set_threads(1);
	} else {
		jm_blas_set_threads(jm_blas_run_threads());
	}
}

/* JIANMO_FAULT_SIGNAL=STEP:TERM|INT|HUP|KILL (tests only; see train.h). */
/* JIANMO_METRICS_EVERY=N (tests): read the training metrics every N
 * batches whatever the backend says, so the CPU runs the path a GPU
 * takes. */
static void read_metrics_every(jm_trainer *t)
{
	const char *v = getenv("JIANMO_METRICS_EVERY");
	char *end;
	long n = v && *v ? strtol(v, &end, 10) : 0;
	t->metrics_every = n > 0 && n < 1000000 && !*end ? (int)n
			   : t->be->metrics_every > 0 ? t->be->metrics_every : 1;
	t->last_loss = NAN;
}

/* fp16 trains with dynamic loss scaling from 2^16 (GradScaler's start).
 * JIANMO_LOSS_SCALE=S (tests): scaling from S whatever the precision, so
 * the CPU runs the path fp16 takes on a GPU. */
static void read_loss_scale(jm_trainer *t)
{
	const char *v = getenv("JIANMO_LOSS_SCALE");
	char *end;
	double s = v && *v ? strtod(v, &end) : 0;
	if (s > 0 && isfinite(s) && !*end)
		t->loss_scale = s;
	else
		t->loss_scale = t->precision == JM_PREC_FP16 ? 65536.0 : 0;
}

/* Whether each step goes to the backend as CUDA graphs (backend.h): where
 * it has them, unless JIANMO_CUDA_GRAPHS=0 (note says so, for the log).
 * A fixed clip then stays on the device; a step that reads the device
 * back (adaptive clipping's norm, fp16's check for finite gradients) is
 * cut into a graph each side of the read. */
static void choose_graphs(jm_trainer *t, char *note, size_t n)
{
	const char *v = getenv("JIANMO_CUDA_GRAPHS");
	note[0] = '\0';
	t->graphs = 0;
	t->clip_on_device = t->clip.mode == JM_CLIP_FIXED && t->be->clip_norm;
	if (!t->be->step_begin || !t->be->step_end)
		return;
	if (v && !strcmp(v, "0"))
		snprintf(note, n, "CUDA graphs off: JIANMO_CUDA_GRAPHS=0");
	else
		t->graphs = 1;
}

static void read_fault(jm_trainer *t)
{
	const char *v = getenv("JIANMO_FAULT_SIGNAL");
	char *end;
	if (!v || !*v)
		return;
	long long step = strtoll(v, &end, 10);
	if (*end != ':' || step <= 0)
		return;
	static const struct { const char *name; int sig; } sigs[] = {
		{"TERM", SIGTERM}, {"INT", SIGINT}, {"HUP", SIGHUP}, {"KILL", SIGKILL},
	};
	for (size_t i = 0; i < sizeof sigs / sizeof *sigs; i++)
		if (!strcmp(end + 1, sigs[i].name)) {
			t->fault_step = step;
			t->fault_signal = sigs[i].sig;
		}
}

jm_model_spec jm_runner_model_spec(const jm_flow *f)
{
	return (jm_model_spec){
		.type = f->model.type,
		.hidden = f->model.hidden,
		.n_hidden = f->model.n_hidden,
		.act = jm_model_act_from_name(f->model.act),
		.dropout = (float)f->model.dropout,
		.norm = f->model.norm,
		.layers = f->model.layers,
		.batchnorm = f->model.batchnorm,
		.act_plugin = !strncmp(f->model.act, "plugin:", 7) ? f->model.act : NULL,
	};
}

/* The model for batches of at most maxb samples. */
static int build_model(runner *r, int maxb, jm_err *err)
{
	const jm_flow *f = r->flow;
	jm_model_spec spec = jm_runner_model_spec(f);
	const jm_dataset *d = r->train;
	if (r->tabular && (!strcmp(f->model.type, "cnn") ||
			   (r->tab.regression && !strcmp(f->model.type, "logistic")))) {
		char loc[300];
		jm_flow_locate(f, "model.type", loc, sizeof loc);
		return jm_err_set(err, JM_EXIT_INPUT, "%s: [model] type: %s %s; use %s", loc,
				  f->model.type, !strcmp(f->model.type, "cnn")
						 ? "needs images, and a CSV gives rows of numbers"
						 : "is a classifier, and the task is regression",
				  r->tab.regression ? "linear or mlp" : "linear, logistic or mlp");
	}
	if (jm_model_build(&r->t.model, r->be, &spec, d->c, d->h, d->w, d->n_classes, maxb,
			   err) < 0) {
		int line = jm_flow_line(f, !strcmp(f->model.type, "cnn") ? "model.layers" : "model.type");
		if (err && err->code == JM_EXIT_INPUT && line > 0)
			jm_err_prefix(err, "%s:%d", f->name, line);
		else if (err && err->code == JM_EXIT_INPUT)
			jm_err_prefix(err, "%s", f->name);
		return -1;
	}
	return 0;
}

/* The optimizer's state, taken with the batch's memory (try_batch): a
 * batch that leaves no room for it is too large, as one whose own buffers
 * do not fit. */
static int alloc_optimizer(runner *r, jm_err *err)
{
	const jm_flow *f = r->flow;
	jm_optim_spec os = {
		.kind = jm_optim_kind_from_name(f->train.optimizer),
		.momentum = f->train.momentum,
		.nesterov = f->train.nesterov,
		.beta1 = f->train.beta1,
		.beta2 = f->train.beta2,
		.eps = f->train.eps,
		.weight_decay = f->train.weight_decay,
	};
	size_t n = jm_model_n_params(r->t.model);
	if (jm_optim_new(&r->t.opt, r->be, &os, n, err) < 0) {
		if (err->code != JM_EXIT_FAIL)
			return jm_err_prefix(err, "%s", f->name);
		/* a smaller batch helps only if what it gives back makes room */
		size_t need = jm_optim_state_bytes(&os, n), have = jm_backend_memory_left(r->be);
		size_t back = jm_model_batch_memory_bytes(r->t.model);
		err->batch_too_big = have == SIZE_MAX || need <= have + back;
		if (!err->batch_too_big) {
			size_t len = strlen(err->msg);
			snprintf(err->msg + len, sizeof err->msg - len,
				 ": a smaller batch would not make room; the model (%zu parameters) "
				 "is too large for it with %s (sgd without momentum keeps no state)",
				 n, f->train.optimizer);
		}
		return jm_err_prefix(err, "%s", f->name);
	}
	return 0;
}

static int build_optimizer(runner *r, jm_err *err)
{
	const jm_flow *f = r->flow;
	jm_trainer *t = &r->t;
	t->batches_per_epoch = t->n_train / t->B;
	t->step_cpu = malloc((size_t)(t->batches_per_epoch > 0 ? t->batches_per_epoch : 1) *
			     sizeof *t->step_cpu);
	if (!t->step_cpu)
		return jm_err_set(err, JM_EXIT_FAIL, "out of memory for %lld step times",
				  (long long)t->batches_per_epoch);
	int64_t per_epoch = (t->batches_per_epoch + f->train.accumulate - 1) / f->train.accumulate;
	t->total_steps = per_epoch * f->train.epochs;
	t->sched = (jm_schedule){
		.kind = jm_schedule_kind_from_name(f->train.schedule),
		.lr = f->train.lr,
		.steps_per_epoch = per_epoch,
		.step_epochs = f->train.step_epochs,
		.gamma = f->train.gamma,
		.warmup = f->train.warmup,
		.min_lr = f->train.min_lr,
		.pct_start = f->train.pct_start,
	};
	int mode = JM_CLIP_OFF;
	if (f->train.clip > 0)
		mode = jm_clip_mode_from_name(f->train.clip_mode);
	if (jm_clip_init(&t->clip, mode, f->train.clip, f->train.clip_percentile,
			 (int)f->train.clip_window, err) < 0)
		return jm_err_prefix(err, "%s", f->name);
	return 0;
}

/* ---- data ------------------------------------------------------------- */

/* --rerun and --resume of a table's run: its saved fitted state, when it
 * has one, so the numbers stay those of the first run. */
static char *saved_state_dir(runner *r, jm_err *err)
{
	if (!r->source_run)
		return NULL;
	char *dir = jm_store_run_dir(r->store, r->source_run, err), path[4096];
	struct stat sb;
	snprintf(path, sizeof path, "%s/clean.state", dir ? dir : "");
	if (dir && stat(path, &sb) != 0) {
		free(dir);
		dir = NULL;
	}
	return dir;
}

static int load_data(runner *r, jm_err *err)
{
	r->tabular = jm_flow_is_tabular(r->flow);
	if (!r->tabular)
		return jm_dataset_load(r->flow, &r->train, &r->test, err);
	char *state = saved_state_dir(r, err);
	int rc = jm_tabular_load(&r->tab, r->flow, state, r->o->json ? NULL : jm_source_progress_print,
				 stderr, &r->train, &r->test, err);
	free(state);
	return rc;
}

/* Keep the fitted cleaning and features with the run, and show the data
 * quality once: on stdout (a "quality" event with --json) and in the log. */
static int tabular_artifacts(runner *r, jm_err *err);

/* ---- data on the device ---------------------------------------------- */

static int upload_part(runner *r, jm_data_dev *d, const jm_dataset *set, uint8_t *pixels,
		       const int32_t *idx, int64_t n, jm_err *err)
{
	d->set = set;
	d->pixels = pixels;
	d->n = n;
	if (n == 0)
		return 0;
	d->idx_host = malloc((size_t)n * sizeof *d->idx_host);
	d->idx = r->be->alloc((size_t)n * sizeof *d->idx);
	if (!d->idx_host || !d->idx)
		return jm_err_set(err, JM_EXIT_FAIL, "out of memory for %lld indices", (long long)n);
	for (int64_t i = 0; i < n; i++)
		d->idx_host[i] = idx ? idx[i] : (int32_t)i;
	r->be->to_device(d->idx, d->idx_host, (size_t)n * sizeof *d->idx);
	return 0;
}

static uint8_t *upload_pixels(runner *r, const jm_dataset *d, jm_err *err)
{
	size_t bytes = (size_t)d->n * (size_t)d->c * (size_t)d->h * (size_t)d->w;
	uint8_t *p = r->be->alloc(bytes ? bytes : 1);
	if (!p) {
		jm_err_set(err, JM_EXIT_FAIL, "out of %s memory for %zu bytes of images",
			   r->be->name, bytes);
		return NULL;
	}
	r->be->to_device(p, d->pixels, bytes);
	return p;
}

static float *upload_floats(runner *r, const float *x, size_t n, jm_err *err)
{
	float *p = r->be->alloc(n ? n * sizeof *p : 1);
	if (!p) {
		jm_err_set(err, JM_EXIT_FAIL, "out of %s memory for %zu floats of data", r->be->name, n);
		return NULL;
	}
	r->be->to_device(p, x, n * sizeof *p);
	return p;
}

/* A table's parts come split and scaled (tabular.c): the training rows,
 * then the validation rows, in r->train; the test rows in r->test. */
static int prepare_tabular(runner *r, jm_err *err)
{
	jm_trainer *t = &r->t;
	jm_split *sp = &r->split;
	sp->n_train = r->tab.n_train;
	sp->n_val = r->tab.n_val;
	sp->train = malloc((size_t)(sp->n_train ? sp->n_train : 1) * sizeof *sp->train);
	sp->val = malloc((size_t)(sp->n_val ? sp->n_val : 1) * sizeof *sp->val);
	if (!sp->train || !sp->val)
		return jm_err_set(err, JM_EXIT_FAIL, "out of memory for the split");
	for (int64_t i = 0; i < sp->n_train; i++)
		sp->train[i] = (int32_t)i;
	for (int64_t i = 0; i < sp->n_val; i++)
		sp->val[i] = (int32_t)(sp->n_train + i);
	t->norm = (jm_norm){.mean = 0, .std = 1, .scale = 1, .shift = 0};
	t->regression = r->tab.regression;
	t->y_mean = r->tab.y_mean;
	t->y_std = r->tab.y_std;
	size_t D = (size_t)r->train->w;
	if (!(t->train_x = upload_floats(r, r->train->x, (size_t)r->train->n * D, err)) ||
	    !(t->test.x = upload_floats(r, r->test->x, (size_t)r->test->n * D, err)))
		return -1;
	t->val.x = t->train_x;
	return 0;
}

static int prepare_data(runner *r, jm_err *err)
{
	const jm_flow *f = r->flow;
	jm_trainer *t = &r->t;
	const jm_backend *be = r->be;
	if (r->tabular) {
		if (prepare_tabular(r, err) < 0)
			return -1;
	} else if (jm_split_make(&r->split, r->train->labels, r->train->n, r->train->n_classes,
				 f->split.val, 0.0, f->split.stratify, (uint64_t)f->train.seed,
				 err) < 0 ||
		   jm_dataset_norm(&t->norm, r->train, r->split.train, r->split.n_train,
				   f->data.normalize, err) < 0) {
		if (r->split.empty_key) {
			char loc[300];
			jm_flow_locate(f, r->split.empty_key, loc, sizeof loc);
			jm_err_prefix(err, "%s", loc);
		}
		return -1;
	}
	t->train_set = r->train;
	t->train_idx = r->split.train;
	t->n_train = r->split.n_train;
	t->D = r->train->c * r->train->h * r->train->w;
	t->K = r->train->n_classes;
	uint8_t *test_pixels = NULL;
	if (!r->tabular) {
		t->train_pixels = upload_pixels(r, r->train, err);
		test_pixels = t->train_pixels ? upload_pixels(r, r->test, err) : NULL;
		if (!test_pixels)
			return -1;
	}
	if (upload_part(r, &t->val, r->train, t->train_pixels, r->split.val, r->split.n_val, err) < 0 ||
	    upload_part(r, &t->test, r->test, test_pixels, NULL, r->test->n, err) < 0)
		return -1;
	t->perm_host = malloc((size_t)t->n_train * sizeof *t->perm_host);
	t->epoch_host = malloc((size_t)t->n_train * 4);
	if (t->regression)
		t->epoch_targets = be->alloc((size_t)t->n_train * sizeof *t->epoch_targets);
	else
		t->epoch_labels = be->alloc((size_t)t->n_train * sizeof *t->epoch_labels);
	t->perm = be->alloc((size_t)t->n_train * sizeof *t->perm);
	t->acc = be->alloc(7 * sizeof *t->acc);
	if (!t->perm_host || !t->epoch_host || !t->perm || !t->acc ||
	    !(t->regression ? (void *)t->epoch_targets : (void *)t->epoch_labels))
		return jm_err_set(err, JM_EXIT_FAIL, "out of %s memory for the order of %lld samples",
				  be->name, (long long)t->n_train);
	if (t->regression && (f->augment.mixup > 0 || f->augment.cutmix > 0)) {
		const char *k = f->augment.mixup > 0 ? "augment.mixup" : "augment.cutmix";
		int line = jm_flow_line(f, k);
		jm_err_set(err, JM_EXIT_INPUT, "[augment] %s: mixing blends class targets; this "
			   "is a regression (target %s)", k + 8, f->data.target);
		return line > 0 ? jm_err_prefix(err, "%s:%d", f->name, line) : -1;
	}
	return 0;
}

/* ---- the batch --------------------------------------------------------- */

/* What grows with the batch besides the model: t->B's input, target and
 * logit buffers (for the model's max batch, which evaluation uses too),
 * and the augmenter.  A failed allocation sets err->batch_too_big. */
static int batch_buffers(runner *r, jm_err *err)
{
	const jm_flow *f = r->flow;
	jm_trainer *t = &r->t;
	const jm_backend *be = r->be;
	if (t->n_train < t->B) {
		int line = jm_flow_line(f, "train.batch");
		jm_err_set(err, JM_EXIT_INPUT, "[train] batch: %d is more than the %lld training samples",
			   t->B, (long long)t->n_train);
		return line > 0 ? jm_err_prefix(err, "%s:%d", f->name, line)
				: jm_err_prefix(err, line < 0 ? "--set train.batch" : "%s", f->name);
	}
	int maxb = jm_model_max_batch(t->model);
	if (t->regression) {
		t->targets_host = malloc((size_t)maxb * sizeof *t->targets_host);
		t->targets = be->alloc((size_t)maxb * sizeof *t->targets);
	}
	t->labels_host = malloc((size_t)maxb * sizeof *t->labels_host);
	t->logits_host = malloc((size_t)maxb * (size_t)t->K * sizeof *t->logits_host);
	t->x = be->alloc((size_t)maxb * (size_t)t->D * sizeof *t->x);
	t->labels = be->alloc((size_t)maxb * sizeof *t->labels);
	t->dlogits = be->alloc((size_t)maxb * (size_t)t->K * sizeof *t->dlogits);
	if (!t->labels_host || !t->logits_host || !t->x || !t->labels || !t->dlogits ||
	    (t->regression && (!t->targets_host || !t->targets)))
		return jm_err_batch(err, "out of %s memory for training buffers of batch %d: lower "
				    "[train] batch", be->name, maxb);
	/* [augment] rules that need the image size, located at their key */
	jm_augment_config ac;
	const char *bad = NULL;
	jm_augment_config_from_flow(&ac, f);
	if (jm_augment_check(&ac, t->B, r->train->h, r->train->w, &bad, err) < 0) {
		int line = jm_flow_line(f, bad);
		if (line > 0)
			return jm_err_prefix(err, "%s:%d", f->name, line);
		return jm_err_prefix(err, line < 0 ? "--set %s" : "%s", line < 0 ? bad : f->name);
	}
	return jm_augmenter_new(&t->aug, be, &ac, t->B, r->train->c, r->train->h, r->train->w,
				t->K, (int)f->train.accumulate, err);
}

static void free_batch(runner *r)
{
	jm_trainer *t = &r->t;
	const jm_backend *be = r->be;
	if (!be)
		return;
	be->free(t->targets);
	free(t->targets_host);
	free(t->labels_host);
	free(t->logits_host);
	be->free(t->x);
	be->free(t->labels);
	be->free(t->dlogits);
	jm_augmenter_free(t->aug);
	jm_optim_free(t->opt);
	jm_model_free(t->model);
	t->opt = NULL;
	t->targets = NULL;
	t->targets_host = NULL;
	t->labels_host = NULL;
	t->logits_host = NULL;
	t->x = NULL;
	t->labels = NULL;
	t->dlogits = NULL;
	t->aug = NULL;
	t->model = NULL;
}

/* On a GPU some memory is taken at first use (the 16-bit GEMM scratch,
 * reduction scratch, cuBLAS's workspace): one step of the model's largest
 * batch, on the zeroed buffers, takes it now, so a batch that does not fit
 * fails here, named, rather than in the first step.  The gradients are
 * zeroed after, and the parameters and batch-norm statistics are set by
 * jm_model_init later, so the run is the same bits as without it.  The
 * CPU takes nothing at first use and skips it; JIANMO_FIRST_USE=1 (tests)
 * runs it there too. */
static int first_use(runner *r, jm_err *err)
{
	jm_trainer *t = &r->t;
	const jm_backend *be = r->be;
	const char *force = getenv("JIANMO_FIRST_USE");
	if (!strcmp(be->name, "cpu") && !(force && !strcmp(force, "1")))
		return 0;
	int B = jm_model_max_batch(t->model);
	float *logits = jm_model_forward(t->model, t->x, B, 1, 0);
	if (logits && t->regression)
		be->mse(t->dlogits, NULL, logits, t->targets, B, 1);
	else if (logits)
		be->xent(t->dlogits, NULL, NULL, logits, t->labels, NULL, B, t->K, 0.0f);
	if (logits)
		jm_model_backward(t->model, t->dlogits, B);
	jm_model_zero_grad(t->model);
	char why[512] = "";
	if (be->sync(why, sizeof why) == 0 && logits)
		return 0;
	jm_err_set(err, JM_EXIT_FAIL, "a first step with batches of %d on %s failed: %s", B,
		   be->name, logits ? why : "the model refused the batch");
	err->batch_too_big = strstr(why, "out of memory") != NULL;
	return -1;
}

/* --resume: the run's checkpoint into the model, the optimizer and the
 * training state, before anything of the run is changed; a checkpoint
 * that is missing or does not fit is an input error. */
static int resume_checkpoint(runner *r, jm_err *err)
{
	jm_trainer *t = &r->t;
	t->run = r->resume_run;
	if (!(t->run_dir = jm_store_run_dir(r->store, t->run, err)))
		return -1;
	char path[4096];
	snprintf(path, sizeof path, "%s/checkpoint.safetensors", t->run_dir);
	struct stat sb;
	if (stat(path, &sb) != 0)
		return jm_err_set(err, JM_EXIT_INPUT, "run %lld has no checkpoint to resume from "
				  "(%s)", (long long)t->run, path);
	/* the parameters a checkpoint leaves out are set as a new run's */
	if (jm_model_init(t->model, (uint64_t)jm_hash64(t->seed, 0x696e6974), err) < 0)
		return -1;
	if (jm_train_checkpoint_load(t, path, err) < 0)
		return jm_err_prefix(err, "run %lld cannot be resumed", (long long)t->run);
	return 0;
}

/* A batch of B: the model and the buffers (evaluation batches are at least
 * 256 when the batch was given, and the batch itself when it was chosen). */
static int try_batch(runner *r, int B, int eval_256, jm_err *err)
{
	r->t.B = B;
	return build_model(r, eval_256 && B < 256 ? 256 : B, err) < 0 ||
			       alloc_optimizer(r, err) < 0 || batch_buffers(r, err) < 0 ||
			       first_use(r, err) < 0
		       ? -1 : 0;
}

/* A trial, or a trial resumed or rerun, whose flow says batch = auto: the
 * batch its first start chose, kept in its params (0 if it has none yet).
 * A plain run's stored flow holds the number itself. */
static int64_t chosen_batch(runner *r)
{
	int64_t run = r->trial_run ? r->trial_run : r->source_run;
	if (!run || !r->store)
		return 0;
	char *v = jm_store_param_read(jm_store_db(r->store), run, "train.batch"), *end = NULL;
	long long b = v ? strtoll(v, &end, 10) : 0;
	int ok = v && end != v && !*end && b >= 1 && b <= JM_FLOW_BATCH_AUTO_MAX;
	free(v);
	return ok ? b : 0;
}

/* [train] batch as given, or for auto the largest power of two up to
 * JM_FLOW_BATCH_AUTO_MAX (and the training set) whose model and buffers
 * fit, halving after each allocation that fails.  The flow then holds the
 * number, so the run's record and a --rerun or --resume use it. */
static int fit_batch(runner *r, jm_err *err)
{
	jm_flow *f = r->flow;
	if (f->train.batch == 0 && (f->train.batch = chosen_batch(r)) > 0)
		r->batch_auto = 1; /* chosen at the first start: not probed again */
	if (f->train.batch > r->t.n_train && r->t.n_train > 0 && !jm_flow_line(f, "train.batch")) {
		/* the default, which the user never chose, fits the data */
		snprintf(r->batch_note, sizeof r->batch_note,
			 "batch %lld: the default %lld is more than the %lld training samples",
			 (long long)r->t.n_train, (long long)f->train.batch, (long long)r->t.n_train);
		f->train.batch = r->t.n_train;
	}
	if (f->train.batch > 0) {
		int B = (int)f->train.batch;
		if (try_batch(r, B, !r->batch_auto, err) == 0)
			return 0;
		if (err->batch_too_big && !r->batch_auto && B < 256) {
			/* evaluation batches of 256 that do not fit where the
			 * batch itself may: evaluate in batches of the batch */
			char why[sizeof err->msg];
			memcpy(why, err->msg, sizeof why);
			free_batch(r);
			*err = (jm_err){0};
			if (try_batch(r, B, 0, err) == 0) {
				snprintf(r->batch_note, sizeof r->batch_note,
					 "evaluating in batches of %d: 256 did not fit (%.900s)", B, why);
				return 0;
			}
		}
		/* the advice, once no smaller batch is tried for the user */
		if (err->batch_too_big) {
			size_t len = strlen(err->msg);
			snprintf(err->msg + len, sizeof err->msg - len, ": lower [train] batch");
		}
		return -1;
	}
	int least = jm_flow_mixes_pairs(f) ? 2 : 1, B = JM_FLOW_BATCH_AUTO_MAX;
	while (B > least && B > r->t.n_train)
		B /= 2;
	jm_buf tried = JM_BUF_INIT;
	for (;; B /= 2) {
		if (try_batch(r, B, 0, err) == 0)
			break;
		free_batch(r);
		if (r->be->release_scratch)
			r->be->release_scratch();
		if (!err->batch_too_big || B / 2 < least) {
			if (err->batch_too_big)
				jm_err_prefix(err, "[train] batch = auto: not even a batch of %d fits", B);
			jm_buf_release(&tried);
			return -1;
		}
		jm_buf_printf(&tried, "%s%d (%s)", tried.len ? ", " : "", B, err->msg);
	}
	f->train.batch = B;
	r->batch_auto = 1;
	if (tried.len)
		snprintf(r->batch_note, sizeof r->batch_note, "batch auto: %d; too large: %s", B,
			 jm_buf_str(&tried));
	else
		snprintf(r->batch_note, sizeof r->batch_note, "batch auto: %d, the largest tried", B);
	jm_buf_release(&tried);
	return 0;
}

static void free_data(runner *r)
{
	jm_trainer *t = &r->t;
	const jm_backend *be = r->be;
	if (!be)
		return;
	free_batch(r);
	be->free(t->train_pixels);
	be->free(t->test.pixels);
	be->free(t->train_x);
	be->free(t->test.x);
	be->free(t->val.idx);
	be->free(t->test.idx);
	free(t->val.idx_host);
	free(t->test.idx_host);
	free(t->perm_host);
	free(t->epoch_host);
	free(t->step_cpu);
	be->free(t->acc);
	be->free(t->epoch_labels);
	be->free(t->epoch_targets);
	be->free(t->perm);
}

/* ---- the run record -------------------------------------------------- */

/* Where the run trains, as runs.device records it: cpu, or cuda:N. */
static void device_label(const runner *r, char *buf, size_t n)
{
	const char *d = r->flow->train.device;
	if (!strcmp(r->be->name, "cpu"))
		snprintf(buf, n, "cpu");
	else if (!strncmp(d, "cuda:", 5))
		snprintf(buf, n, "%s", d);
	else
		snprintf(buf, n, "cuda:0");
}

/* Params are what tells runs apart in `show` and `compare`: every key with
 * a value that matters to the run (jm_flow_key_matters), except a plain
 * run's [search] settings (it is not a search).
 * The whole flow, empty keys included, is stored with the run anyway. */
static void store_param(const char *key, const char *value, void *ctx)
{
	runner *r = ctx;
	if (!value[0])
		return;
	if (!strncmp(key, "search.", 7) && r->flow->search.trials == 0)
		return;
	if (!jm_flow_key_matters(r->flow, key))
		return;
	jm_store_param_set(r->store, r->t.run, key, value, NULL);
}

static int open_log(runner *r, jm_err *err)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/log.txt", r->t.run_dir);
	r->log = fopen(path, "a");
	if (!r->log)
		return jm_err_set(err, JM_EXIT_FAIL, "%s: %s", path, strerror(errno));
	jm_report_set_log(&r->rep, r->log);
	return 0;
}

static int create_run(runner *r, jm_err *err)
{
	char *text = jm_flow_format(r->flow);
	int64_t flow_id = 0;
	const char *name = r->o->flow_path && strcmp(r->o->flow_path, "-") ? r->o->flow_path
									    : r->flow->name;
	const char *base = strrchr(name, '/');
	int rc = jm_store_flow_put(r->store, base ? base + 1 : name, text, &flow_id, err);
	free(text);
	if (rc < 0)
		return -1;
	char device[64];
	device_label(r, device, sizeof device);
	jm_run_spec spec = {
		.kind = "run",
		.flow_id = flow_id,
		.name = base ? base + 1 : name,
		.seed = (uint64_t)r->flow->train.seed,
		.device = device,
	};
	if (jm_store_run_create(r->store, &spec, &r->t.run, err) < 0)
		return -1;
	jm_flow_foreach(r->flow, store_param, r);
	return 0;
}

/* ---- the end of a run ------------------------------------------------ */

/* Record runs/<id>/name (the store takes paths relative to its home). */
static int add_artifact(runner *r, const char *name, jm_err *err)
{
	char rel[256];
	snprintf(rel, sizeof rel, "runs/%lld/%s", (long long)r->t.run, name);
	return jm_store_artifact_add(r->store, r->t.run, name, rel, err);
}

static int tabular_artifacts(runner *r, jm_err *err)
{
	jm_tabular *tb = &r->tab;
	if (!r->resume_run) {
		if (jm_tabular_save(tb, r->t.run_dir, err) < 0)
			return -1;
		for (int i = 0; jm_tabular_files[i]; i++)
			if (add_artifact(r, jm_tabular_files[i], err) < 0)
				return -1;
	}
	jm_report_msg(&r->rep, "%s: cleaning fitted on the %lld training rows; the %lld validation "
		      "and %lld test rows get the same fills and bounds", tb->source,
		      (long long)tb->report.before.rows, (long long)r->t.val.n, (long long)r->t.test.n);
	jm_report_clear(&r->rep);
	if (r->o->json) {
		char *text = NULL;
		size_t len = 0;
		FILE *mem = open_memstream(&text, &len);
		if (!mem)
			return jm_err_set(err, JM_EXIT_FAIL, "out of memory");
		fprintf(mem, "\"run\":%lld,\"report\":", (long long)r->t.run);
		jm_clean_report_json(mem, &tb->report);
		fclose(mem);
		while (len && text[len - 1] == '\n')
			text[--len] = '\0';
		jm_report_json(&r->rep, "quality", text);
		free(text);
	} else {
		jm_clean_report_text(stdout, &tb->report);
		fflush(stdout);
	}
	if (r->log)
		jm_clean_report_text(r->log, &tb->report);
	for (int i = 0; i < tb->info.n_notes; i++)
		jm_report_msg(&r->rep, "note: %s: %s", tb->source, tb->info.notes[i]);
	for (int i = 0; i < tb->features.nnotes; i++)
		jm_report_msg(&r->rep, "note: [features] %s", tb->features.notes[i]);
	jm_buf what = JM_BUF_INIT;
	if (tb->regression)
		jm_buf_printf(&what, "regression of \"%s\"", r->flow->data.target);
	else
		jm_buf_printf(&what, "classification of \"%s\" (%d classes)", r->flow->data.target,
			      tb->features.nclasses);
	jm_report_msg(&r->rep, "%s: %lld rows, %lld dropped by cleaning; %s from %d inputs%s",
		      tb->source, (long long)tb->rows, (long long)tb->dropped, jm_buf_str(&what),
		      tb->features.ninputs,
		      tb->loaded ? "; cleaning and features as fitted by the first run" : "");
	jm_buf_release(&what);
	return 0;
}

static int write_confusion(runner *r, jm_err *err)
{
	int K = r->t.K;
	char path[4096], buf[16];
	snprintf(path, sizeof path, "%s/confusion.csv", r->t.run_dir);
	FILE *fp = fopen(path, "w");
	if (!fp)
		return jm_err_set(err, JM_EXIT_FAIL, "%s: %s", path, strerror(errno));
	fprintf(fp, "true\\predicted");
	for (int k = 0; k < K; k++)
		fprintf(fp, ",\"%s\"", jm_dataset_class_name(r->test, k, buf));
	fputc('\n', fp);
	for (int i = 0; i < K; i++) {
		fprintf(fp, "\"%s\"", jm_dataset_class_name(r->test, i, buf));
		for (int k = 0; k < K; k++)
			fprintf(fp, ",%lld", (long long)r->confusion[(size_t)i * (size_t)K + (size_t)k]);
		fputc('\n', fp);
	}
	if (fclose(fp) != 0)
		return jm_err_set(err, JM_EXIT_FAIL, "%s: %s", path, strerror(errno));
	return add_artifact(r, "confusion.csv", err);
}

/* model.safetensors: the weights, and in its metadata what a user needs
 * to feed it from PyTorch: inputs are byte pixels x as x * input_scale +
 * input_shift, shaped input_shape (C,H,W), classes in label order. */
static int save_model(runner *r, double test_acc, jm_err *err)
{
	jm_trainer *t = &r->t;
	char path[4096], run[32], acc[32], scale[32], shift[32], shape[64], buf[16];
	snprintf(path, sizeof path, "%s/model.safetensors", t->run_dir);
	snprintf(run, sizeof run, "%lld", (long long)t->run);
	snprintf(acc, sizeof acc, "%.6f", test_acc);
	snprintf(scale, sizeof scale, "%.9g", (double)t->norm.scale);
	snprintf(shift, sizeof shift, "%.9g", (double)t->norm.shift);
	snprintf(shape, sizeof shape, "%d,%d,%d", r->test->c, r->test->h, r->test->w);
	jm_buf classes = JM_BUF_INIT, inputs = JM_BUF_INIT;
	for (int k = 0; k < t->K && !t->regression; k++)
		jm_buf_printf(&classes, "%s%s", k ? "," : "", jm_dataset_class_name(r->test, k, buf));
	/* a table's model: its input columns in order (after [features]),
	 * and for regression the scale of its output: y = out * std + mean */
	char y_mean[32], y_std[32];
	snprintf(y_mean, sizeof y_mean, "%.17g", t->y_mean);
	snprintf(y_std, sizeof y_std, "%.17g", t->y_std);
	for (int i = 0; r->tabular && i < r->tab.features.ninputs; i++)
		jm_buf_printf(&inputs, "%s%s", i ? "," : "", r->tab.features.inputs[i]);
	const char *meta[] = {"run", run, "test_acc", acc, "input_scale", scale,
			      "input_shift", shift, "input_shape", shape,
			      "classes", jm_buf_str(&classes),
			      "inputs", jm_buf_str(&inputs), "target", r->flow->data.target,
			      "task", t->regression ? "regression" : "classification",
			      "target_mean", y_mean, "target_std", y_std};
	int rc = jm_checkpoint_save(path, t->model, NULL, meta, r->tabular ? 11 : 6, err);
	jm_buf_release(&classes);
	jm_buf_release(&inputs);
	if (rc < 0)
		return -1;
	return add_artifact(r, "model.safetensors", err);
}

/* The best validation figure of an early-stopping run, at its end. */
static void log_best_val(runner *r)
{
	jm_trainer *t = &r->t;
	if (t->val.n > 0 && t->st.best_epoch > 0)
		jm_metric_log(t->mw, t->run,
			      !strcmp(jm_train_monitor(t), "val_loss") ? "best_val_loss" : "best_val_acc",
			      t->st.step, t->st.best);
}

/* An early-stopping run ends with its best epoch's weights, not the
 * worse ones of the epochs that stopped it: those are tested and saved.
 * Every run with a validation set keeps best.safetensors. */
static int restore_best(runner *r, jm_err *err)
{
	jm_trainer *t = &r->t;
	const jm_train_state *st = &t->st;
	if (st->best_epoch <= 0)
		return 0;
	char path[4096];
	struct stat sb;
	snprintf(path, sizeof path, "%s/" JM_TRAIN_BEST_FILE, t->run_dir);
	if (stat(path, &sb) != 0) {
		/* a run resumed from a jianmo that kept none, whose best epoch
		 * came before: it ends with the weights it has */
		if (r->flow->train.patience > 0 && st->best_epoch < st->epoch)
			jm_report_msg(&r->rep, "keeping the last epoch's weights: epoch %lld was "
				      "the best, but its weights were not kept (the run began "
				      "before jianmo kept them)", (long long)st->best_epoch);
		return 0;
	}
	if (add_artifact(r, JM_TRAIN_BEST_FILE, err) < 0)
		return -1;
	if (r->flow->train.patience <= 0 || st->best_epoch >= st->epoch)
		return 0;
	if (jm_train_restore_best(t, err) < 0)
		return -1;
	jm_report_msg(&r->rep, "keeping epoch %lld's weights, the best by %s (%.4f)",
		      (long long)st->best_epoch, jm_train_monitor(t), st->best);
	return 0;
}

static int finish_done(runner *r, double *test_acc, jm_err *err)
{
	jm_trainer *t = &r->t;
	int K = t->K;
	jm_eval te;
	if (t->test.n == 0) {
		/* [split] test = 0: the model is kept, and no test is made up */
		*test_acc = NAN;
		log_best_val(r);
		if (restore_best(r, err) < 0)
			return -1;
		if (jm_metric_writer_flush(t->mw, err) < 0 || save_model(r, NAN, err) < 0)
			return -1;
		jm_report_msg(&r->rep, "not tested: [split] test = 0 leaves no test rows (trained on "
			      "%lld in %.1f s, %.0f samples/s)", (long long)t->st.samples,
			      t->st.train_seconds,
			      t->st.train_seconds > 0 ? (double)t->st.samples / t->st.train_seconds
						      : 0.0);
		return 0;
	}
	if (restore_best(r, err) < 0)
		return -1;
	if (!t->regression &&
	    !(r->confusion = calloc((size_t)K * (size_t)K, sizeof *r->confusion)))
		return jm_err_set(err, JM_EXIT_FAIL, "out of memory");
	if (jm_evaluate_all(t, &t->test, &te, r->confusion, err) < 0)
		return -1;
	double test_loss = te.loss;
	*test_acc = te.acc;
	int64_t step = t->st.step;
	jm_eval_log(t, "test", &te, step);
	for (int k = 0; k < K && r->confusion; k++) {
		int64_t row = 0;
		for (int j = 0; j < K; j++)
			row += r->confusion[(size_t)k * (size_t)K + (size_t)j];
		char key[32];
		snprintf(key, sizeof key, "test_acc_class_%d", k);
		jm_metric_log(t->mw, t->run, key, step,
			      row ? (double)r->confusion[(size_t)k * (size_t)K + (size_t)k] / (double)row : NAN);
	}
	log_best_val(r);
	if (jm_metric_writer_flush(t->mw, err) < 0 || (r->confusion && write_confusion(r, err) < 0))
		return -1;

	if (save_model(r, *test_acc, err) < 0)
		return -1;

	char what[160];
	if (t->regression)
		snprintf(what, sizeof what, "loss %.4f rmse %.4g mae %.4g r2 %.4f", test_loss, te.rmse,
			 te.mae, te.r2);
	else
		snprintf(what, sizeof what, "loss %.4f acc %.4f%s", test_loss, *test_acc,
			 isnan(te.auc) ? "" : " auc");
	if (!t->regression && !isnan(te.auc))
		snprintf(what + strlen(what), sizeof what - strlen(what), " %.4f", te.auc);
	jm_report_msg(&r->rep, "test %s  (%lld samples; trained on %lld in %.1f s, %.0f samples/s)",
		      what, (long long)t->test.n, (long long)t->st.samples, t->st.train_seconds,
		      t->st.train_seconds > 0 ? (double)t->st.samples / t->st.train_seconds : 0.0);
	return 0;
}

static void notify(runner *r, const char *status, double test_acc, const char *error)
{
	const char *url = r->flow->notify.url;
	if (!url || !*url)
		return;
	jm_buf b = JM_BUF_INIT;
	jm_buf_printf(&b, "{\"run\":%lld,\"status\":", (long long)r->t.run);
	jm_json_add_str(&b, status, 0);
	jm_buf_addstr(&b, ",\"flow\":");
	jm_json_add_str(&b, r->flow->name, 0);
	jm_buf_printf(&b, ",\"epochs\":%lld,\"steps\":%lld,\"test_acc\":",
		      (long long)r->t.st.epoch, (long long)r->t.st.step);
	jm_json_add_num(&b, test_acc, 0);
	jm_buf_addstr(&b, ",\"best_val\":");
	jm_json_add_num(&b, r->t.st.best_epoch ? r->t.st.best : NAN, 0);
	jm_buf_addstr(&b, ",\"error\":");
	jm_json_add_str(&b, error, 0);
	jm_buf_addch(&b, '}');
	jm_err nerr = {0};
	if (jm_notify_post(url, jm_buf_str(&b), (long)r->flow->notify.timeout, &nerr) < 0)
		jm_report_msg(&r->rep, "warning: %s", nerr.msg);
	else
		jm_report_msg(&r->rep, "notified %s", url);
	jm_buf_release(&b);
}

/* ---- the whole run --------------------------------------------------- */

static void runner_free(runner *r)
{
	free_data(r);
	jm_trial_pruner_free(r->pruner);
	jm_clip_free(&r->t.clip);
	jm_optim_free(r->t.opt);
	jm_model_free(r->t.model);
	jm_split_clear(&r->split);
	jm_dataset_free(r->train);
	jm_dataset_free(r->test);
	jm_tabular_free(&r->tab);
	free(r->t.run_dir);
	free(r->confusion);
	if (r->log)
		fclose(r->log);
	jm_store_close(r->store);
	jm_flow_free(r->flow);
}

static int fail(runner *r, jm_err *err)
{
	jm_report_clear(&r->rep);
	jm_err_print(err);
	return err->code ? err->code : JM_EXIT_FAIL;
}

int jm_runner_batch(const jm_batch_opts *o)
{
	runner rr = {.o = o}, *r = &rr;
	jm_trainer *t = &r->t;
	jm_err err = {0};
	int rc = JM_EXIT_FAIL;
	char *home = jm_store_home_resolve(o->home);
	jm_report_init(&r->rep, o->json, o->is_tty);
	t->rep = &r->rep;

	/* Input first: nothing is stored for a flow that cannot run. */
	if (!o->flow_path && jm_store_open(&r->store, home, JM_STORE_NOCREATE, &err) < 0)
		goto input_error;
	if (load_flow(r, &err) < 0 || apply_overrides(r, &err) < 0)
		goto input_error;
	if (r->flow->search.trials > 0) {
		/* a search: this process runs its trials as child processes, and
		 * opens no GPU itself (its context would sit beside the trials) */
		char why[1024];
		if (jm_backend_check_device(r->flow->train.device, why, sizeof why) < 0) {
			jm_err_set(&err, JM_EXIT_INPUT, "%s (use --device cpu or auto)", why);
			goto input_error;
		}
		jm_report_clear(&r->rep);
		rc = jm_search_batch(o, r->flow, &r->store, r->resume_run, home);
		goto out;
	}
	if (pick_device(r, &err) < 0 || pick_precision(r, &err) < 0)
		goto input_error;
	pick_threads(r);
	if (!strcmp(r->be->name, "cpu") && jm_blas_reserve(err.msg, sizeof err.msg) < 0) {
		err.code = JM_EXIT_FAIL;
		goto input_error;
	}
	if (load_data(r, &err) < 0)
		goto input_error;
	if (prepare_data(r, &err) < 0 || fit_batch(r, &err) < 0 || build_optimizer(r, &err) < 0)
		goto input_error;

	jm_signals_install(); /* from here a stop is orderly */
	if (!r->store && jm_store_open(&r->store, home, 0, &err) < 0)
		goto input_error;
	t->store = r->store;
	t->flow = r->flow;
	t->be = r->be;
	t->seed = (uint64_t)r->flow->train.seed;
	read_loss_scale(t);
	/* a resume reads its checkpoint before it takes the run over, so a
	 * missing or damaged one is refused with the run left as it was */
	if (r->resume_run && resume_checkpoint(r, &err) < 0)
		goto input_error;
	if (r->resume_run || r->trial_run) {
		t->run = r->resume_run ? r->resume_run : r->trial_run;
		char device[64];
		device_label(r, device, sizeof device);
		if (jm_store_run_reopen(r->store, t->run, device, &err) < 0)
			goto input_error;
	} else if (create_run(r, &err) < 0) {
		goto input_error;
	}
	if (r->batch_auto) {
		/* a trial's params say auto until its batch is chosen; a resume
		 * takes the batch from here (chosen_batch) */
		char b[32];
		snprintf(b, sizeof b, "%lld", (long long)r->flow->train.batch);
		jm_store_param_set(r->store, t->run, "train.batch", b, NULL);
	}
	jm_store_param_set(r->store, t->run, "train.precision", r->flow->train.precision, NULL);
	read_fault(t);
	read_metrics_every(t);
	char graph_note[160];
	choose_graphs(t, graph_note, sizeof graph_note);
	if ((!t->run_dir && !(t->run_dir = jm_store_run_dir(r->store, t->run, &err))) ||
	    open_log(r, &err) < 0 || jm_metric_writer_open(&t->mw, r->store, 0, 0, &err) < 0)
		goto run_failed;

	if (!r->resume_run && jm_model_init(t->model, (uint64_t)jm_hash64(t->seed, 0x696e6974),
					    &err) < 0)
		goto run_failed;
	if (r->resume_run) {
		if (jm_store_metrics_truncate(r->store, t->run, t->st.step, &err) < 0)
			goto run_failed;
		jm_report_msg(&r->rep, "run %lld: resuming in epoch %lld at step %lld", (long long)t->run,
			      (long long)t->st.epoch + 1, (long long)t->st.step);
	} else {
		jm_metric_log(t->mw, t->run, "n_params", 0, (double)jm_model_n_params(t->model));
	}

	jm_report_msg(&r->rep, "run %lld: %s, %zu parameters, on %s (OpenBLAS %s, %d thread%s)",
		      (long long)t->run, r->flow->model.type, jm_model_n_params(t->model),
		      r->be->name, jm_blas_corename(), jm_blas_threads(),
		      jm_blas_threads() == 1 ? "" : "s");
	if (r->device_note[0] && r->log)
		fprintf(r->log, "device auto: the CPU, because %s\n", r->device_note);
	/* on a GPU machine, the console too: a run on the CPU there is news */
	if (r->device_note[0] && jm_backend_has_driver())
		jm_report_msg(&r->rep, "device auto: the CPU, because %s", r->device_note);
	if (r->batch_note[0])
		jm_report_msg(&r->rep, "%s", r->batch_note);
	if (graph_note[0])
		jm_report_msg(&r->rep, "%s", graph_note);
	jm_report_msg(&r->rep, "data: %lld train, %lld validation, %lld test; %lld steps of %d",
		      (long long)t->n_train, (long long)t->val.n, (long long)t->test.n,
		      (long long)t->total_steps, t->B);
	if (t->aug) {
		char what[256];
		jm_augment_describe(&t->aug->c, what, sizeof what);
		jm_report_msg(&r->rep, "augment: %s", what);
	}
	jm_model_describe(t->model, r->log);
	if (r->tabular && tabular_artifacts(r, &err) < 0)
		goto run_failed;
	if (o->json) {
		jm_buf f = JM_BUF_INIT;
		jm_buf_printf(&f, "\"run\":%lld,\"home\":", (long long)t->run);
		jm_json_add_str(&f, home, 0);
		jm_report_json(&r->rep, "start", jm_buf_str(&f));
		jm_buf_release(&f);
	}

	if (jm_trial_pruner_attach(t, &r->pruner, &err) < 0)
		goto run_failed;
	int outcome = jm_train_run(t, &err);
	if (t->graphs && t->be->graph_info) {
		char info[320];
		t->be->graph_info(info, sizeof info);
		jm_report_msg(&r->rep, "%s", info);
	}
	if (t->loss_scale > 0)
		jm_report_msg(&r->rep, "loss scale %g at the end; %lld step%s skipped for gradients "
			      "that were not finite", t->loss_scale, (long long)t->scale_skipped,
			      t->scale_skipped == 1 ? "" : "s");
	double test_acc = NAN;
	const char *status = JM_RUN_FAILED;
	jm_err fin = {0};
	if (outcome == JM_TRAIN_DONE) {
		if (finish_done(r, &test_acc, &fin) < 0) {
			err = fin;
			outcome = JM_TRAIN_ERROR;
		} else {
			status = JM_RUN_DONE;
			rc = JM_EXIT_OK;
		}
	} else if (outcome == JM_TRAIN_PRUNED) {
		status = JM_RUN_PRUNED;
		rc = JM_EXIT_OK;
		jm_report_msg(&r->rep, "run %lld pruned after epoch %lld: its %s is behind the "
			      "other trials'", (long long)t->run, (long long)t->st.epoch,
			      r->flow->search.metric);
	} else if (outcome == JM_TRAIN_STOPPED) {
		status = JM_RUN_STOPPED;
		int sig = jm_signals_stop_requested();
		rc = 128 + (sig ? sig : SIGTERM);
		jm_report_msg(&r->rep,
			      "run %lld stopped %s epoch %lld at step %lld; continue it with: "
			      "jianmo --batch --resume %lld",
			      (long long)t->run, t->st.batch_in_epoch ? "in" : "after",
			      (long long)t->st.epoch + (t->st.batch_in_epoch ? 1 : 0),
			      (long long)t->st.step, (long long)t->run);
	}
	jm_metric_writer_close(t->mw, &fin);
	t->mw = NULL;
	if (outcome == JM_TRAIN_DIVERGED || outcome == JM_TRAIN_ERROR) {
		jm_report_msg(&r->rep, "run %lld failed: %s", (long long)t->run, err.msg);
		jm_report_clear(&r->rep);
		fprintf(stderr, "jianmo: run %lld failed: %s\n", (long long)t->run, err.msg);
		rc = JM_EXIT_FAIL;
	}
	if (jm_store_run_set_status(r->store, t->run, status,
				    rc == JM_EXIT_FAIL ? err.msg : NULL, &fin) < 0) {
		jm_err_print(&fin);
		rc = JM_EXIT_FAIL;
	}
	if (o->json) {
		jm_buf f = JM_BUF_INIT;
		jm_buf_printf(&f, "\"run\":%lld,\"status\":\"%s\",\"epochs\":%lld,\"steps\":%lld,"
			      "\"test_acc\":", (long long)t->run, status, (long long)t->st.epoch,
			      (long long)t->st.step);
		jm_json_add_num(&f, test_acc, 0); /* null unless the run was tested */
		jm_report_json(&r->rep, "end", jm_buf_str(&f));
		jm_buf_release(&f);
	}
	notify(r, status, test_acc, rc == JM_EXIT_FAIL ? err.msg : NULL);
	goto out;

run_failed:
	/* The run exists: record why it could not go on. */
	jm_metric_writer_close(t->mw, NULL);
	t->mw = NULL;
	jm_store_run_set_status(r->store, t->run, JM_RUN_FAILED, err.msg, NULL);
	rc = fail(r, &err);
	goto out;
input_error:
	rc = fail(r, &err);
out:
	runner_free(r);
	free(home);
	return rc;
}
