/*
 * batch.h: a hyperparameter search under `jianmo --batch`: the parent's
 * loop over trials, and the hook by which a trial asks to be pruned.
 *
 *   flow with [search] trials > 0 ──jm_search_batch──▶ search run (kind
 *   search) ──▶ trials: child processes `jianmo --batch --trial ID`, each
 *   a run of kind trial whose parent is the search
 *
 * See batch.c for the process model (workers, stops, resume).
 */
#ifndef JM_SEARCH_BATCH_H
#define JM_SEARCH_BATCH_H

#include <stdint.h>

#include "flow.h"
#include "pipeline/runner.h"
#include "pipeline/train.h"
#include "store/store.h"

/* Run the search flow describes (flow->search.trials > 0), or go on with
 * search run resume_run (--resume).  *store is the runner's store, opened
 * here when NULL (the runner closes it).  Returns the exit status as
 * jm_runner_batch does (0 done, 1 failed, 2 input, 128+sig stopped);
 * messages have been printed. */
int jm_search_batch(const jm_batch_opts *o, jm_flow *flow, jm_store **store,
		    int64_t resume_run, const char *home);

/* The pruning side, in the trial's own process, called before training.
 * If t->run is a trial whose task (t->regression) never logs the search's
 * metric, an input error: the trial fails at once.  If it is a trial of a
 * search whose flow prunes, set t's epoch hook: after each epoch the
 * trial's metric history and its siblings' are read from the store and
 * jm_prune_should_stop() decides.  *out is NULL when there is nothing to
 * do; free it with jm_trial_pruner_free() (accepts NULL) after training. */
typedef struct jm_trial_pruner jm_trial_pruner;
int jm_trial_pruner_attach(jm_trainer *t, jm_trial_pruner **out, jm_err *err);
void jm_trial_pruner_free(jm_trial_pruner *p);

#endif
