/*
 * train.h: the training loop and evaluation, over data and a model that
 * the runner has prepared.
 *
 *   per epoch: permutation(seed, epoch) ──▶ steps of `batch`:
 *       gather (device) ──▶ [augment] ──▶ forward ──▶ xent (mse) ──▶ backward
 *       every `accumulate` steps: clip ──▶ lr(step) ──▶ optimizer step
 *   ──▶ validation ──▶ epoch metrics ──▶ checkpoint ──▶ early stopping
 *
 * Every random choice is a pure function of (seed, epoch, step), and all
 * state that changes between steps is in jm_train_state and the
 * checkpoint, so a stopped or crashed run resumed from its checkpoint ends
 * bit for bit where an uninterrupted one would.
 */
#ifndef JM_TRAIN_H
#define JM_TRAIN_H

#include <stdint.h>

#include "data/dataset.h"
#include "engine/model.h"
#include "engine/optim.h"
#include "flow.h"
#include "pipeline/augment.h"
#include "pipeline/report.h"
#include "store/metric_writer.h"
#include "store/store.h"

/* What changes as training goes; saved in the checkpoint's metadata. */
typedef struct jm_train_state {
	int64_t epoch;        /* epochs completed */
	int64_t batch_in_epoch; /* batches done in the current epoch */
	int64_t step;         /* optimizer steps taken */
	int64_t micro;        /* batches taken, all epochs */
	double loss_sum;      /* current epoch: sum of batch mean losses */
	int64_t correct, seen, batches; /* current epoch */
	double log_loss_sum;  /* since the last "loss" point */
	int64_t log_n;
	double best;          /* best monitored value so far */
	int64_t best_epoch;   /* 0 = none yet */
	int64_t bad_epochs;
	double train_seconds; /* time spent in training steps */
	int64_t samples;      /* samples trained on */
} jm_train_state;

/* A set's rows are bytes (images: pixels, scaled by jm_norm as they are
 * gathered) or floats (a table's rows: x, used as they are); the targets
 * are labels (classification) or values (regression, set->y), which the
 * model learns standardized: (y - y_mean) / y_std. */
typedef struct jm_data_dev {
	const jm_dataset *set;   /* host copy (labels used for confusion) */
	uint8_t *pixels;         /* backend memory [n, D] */
	float *x;                /* backend memory [n, D] for float rows (pixels NULL) */
	int32_t *idx;            /* backend memory: the evaluated indices */
	int32_t *idx_host;
	int64_t n;               /* number of indices */
} jm_data_dev;

typedef struct jm_trainer {
	const jm_flow *flow;
	const jm_backend *be;
	jm_model *model;
	jm_optim *opt;
	jm_clip clip;
	jm_schedule sched;
	jm_norm norm;
	uint64_t seed;
	int D, K;                 /* floats per sample, classes */
	int B;                    /* batch */
	int64_t batches_per_epoch;
	int64_t total_steps;      /* optimizer steps in the whole run */

	const jm_dataset *train_set;
	uint8_t *train_pixels;    /* backend memory */
	float *train_x;           /* backend memory, for float rows instead */
	int32_t *train_idx;       /* host: the training part of the split */
	int64_t n_train;
	int32_t *perm_host;       /* host: this epoch's order */
	int32_t *perm;            /* backend memory */
	/* This epoch's training targets in its order, uploaded once an epoch:
	 * a batch's are a pointer into them, so a step copies nothing to the
	 * device (on CUDA a copy from the host waits for the stream). */
	int32_t *epoch_labels;    /* backend: [n_train] (classification) */
	float *epoch_targets;     /* backend: [n_train] (regression) */
	void *epoch_host;         /* host staging for either */
	/* The state's loss sums and counts run on the backend (xent_acc:
	 * loss_sum, correct, batches, log_loss_sum, log_n), written there
	 * before a run of batches and read back every metrics_every batches
	 * (the backend's, or JIANMO_METRICS_EVERY for the tests), at each log
	 * step, before a checkpoint and at an epoch's end.  The sums add in
	 * batch order whatever the reads, so a resumed run's are the same. */
	double *acc;              /* backend: [7]; [5], [6]: clip_norm's stat */
	int metrics_every;
	int64_t unread;           /* batches since the last read */
	double last_loss;         /* the last read's mean batch loss */
	jm_data_dev val, test;

	float *x;                 /* backend: [B, D] batch */
	int32_t *labels;          /* backend: [B] */
	int32_t *labels_host;
	float *dlogits;           /* backend: [B, K] */
	float *logits_host;       /* host: [B, K] for confusion */
	/* [augment]: NULL when the flow augments nothing, and then training is
	 * exactly as without this stage; with mixing, the loss is the
	 * soft-target cross-entropy on the mixed targets. */
	jm_augmenter *aug;

	/* [train] precision (JM_PREC_*), and for fp16 dynamic loss scaling as
	 * torch.cuda.amp.GradScaler does it: the loss gradient is multiplied
	 * by loss_scale (a power of two, so exactly undone in fp32); a step
	 * whose gradients are not finite is skipped and halves it; 2000 finite
	 * steps in a row double it.  0: off.  Each step then reads the
	 * gradients' sum of squares back (one wait for the device). */
	int precision;
	/* 1: each step is bracketed with the backend's step_begin/step_end,
	 * so a GPU replays it as CUDA graphs (backend.h); the runner sets it
	 * where the backend has graphs */
	int graphs;
	/* [train] clip with a fixed max_norm on a backend with clip_norm: the
	 * norm stays on the device (acc[5]; acc[6] counts norms that were not
	 * finite) and is read with the sums; last_norm is the last read's */
	int clip_on_device;
	double last_norm;
	double loss_scale;
	int64_t scale_good;       /* finite steps since the last change */
	int64_t scale_skipped;    /* steps skipped, the whole run */

	int regression;           /* one output, mse on standardized targets */
	double y_mean, y_std;     /* regression: the targets' scale (0, 1 otherwise) */
	float *targets;           /* backend: [B] regression targets */
	float *targets_host;

	jm_store *store;
	jm_metric_writer *mw;
	int64_t run;
	char *run_dir;
	jm_report *rep;
	jm_train_state st;

	/* Fault injection for the tests (JIANMO_FAULT_SIGNAL=STEP:SIG): the
	 * process sends itself signal fault_signal right after optimizer step
	 * fault_step, so a stop or a crash lands at a known point. */
	int64_t fault_step;
	int fault_signal;

	double epoch_cpu_s;       /* CPU time of this epoch's steps */
	double *step_cpu;         /* each batch's CPU time this epoch (s) */
	int64_t n_step_cpu;

	/* Asked after every epoch but the last, once its metrics are logged
	 * and its checkpoint taken (a search's trial: should it be pruned?
	 * pipeline/search/batch.c).  Returns 1 to end training as
	 * JM_TRAIN_PRUNED, 0 to go on, -1 (err set) for JM_TRAIN_ERROR. */
	int (*epoch_hook)(struct jm_trainer *t, void *ctx, jm_err *err);
	void *epoch_hook_ctx;
} jm_trainer;

enum { JM_TRAIN_DONE = 0, JM_TRAIN_STOPPED, JM_TRAIN_DIVERGED, JM_TRAIN_ERROR, JM_TRAIN_PRUNED };

/* Train from t->st to the end (or early stop, or a stop signal).  Returns
 * a JM_TRAIN_* outcome; err says why for DIVERGED and ERROR. */
int jm_train_run(jm_trainer *t, jm_err *err);

/* Loss and accuracy over a data part in eval mode; confusion (K*K, may be
 * NULL) counts [true][predicted]. */
int jm_evaluate(jm_trainer *t, const jm_data_dev *d, double *loss, double *acc,
		int64_t *confusion, jm_err *err);

/* Every metric of a data part; those that do not apply are NaN. */
typedef struct jm_eval {
	double loss;          /* cross-entropy (log loss), or mse of standardized targets */
	double acc;           /* classification */
	double auc;           /* two classes: ROC AUC of class 1 (ties count half) */
	double rmse, mae, r2; /* regression, in the target's units (r2 as scikit-learn) */
} jm_eval;
int jm_evaluate_all(jm_trainer *t, const jm_data_dev *d, jm_eval *e, int64_t *confusion,
		    jm_err *err);
/* Store PART_loss and every other metric of e that applies (PART_acc,
 * PART_auc, PART_rmse, PART_mae, PART_r2) at step. */
void jm_eval_log(jm_trainer *t, const char *part, const jm_eval *e, int64_t step);

/* Checkpoint: model, optimizer state and jm_train_state. */
int jm_train_checkpoint_save(jm_trainer *t, const char *path, jm_err *err);
int jm_train_checkpoint_load(jm_trainer *t, const char *path, jm_err *err);

/* With a validation set, each epoch that improves [train] monitor writes
 * the model's weights to RUN_DIR/best.safetensors (st.best_epoch says
 * which).  jm_train_restore_best reads them back into the model. */
#define JM_TRAIN_BEST_FILE "best.safetensors"
/* The metric the best epoch is judged by: "val_loss" (a regression, or
 * [train] monitor = val_loss) or "val_acc". */
const char *jm_train_monitor(const jm_trainer *t);
int jm_train_restore_best(jm_trainer *t, jm_err *err);

#endif
