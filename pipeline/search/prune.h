/*
 * prune.h: should a running trial stop early?  Pure functions over the
 * metric histories of a search's trials, so the runner can ask after each
 * epoch a trial reports, and the tests can check them on hand-made
 * histories.
 *
 * A history is the trial's metric after epochs 1, 2, ... (values[e - 1] for
 * epoch e; NaN for an epoch it did not report).  "Better" follows the
 * search's direction.
 *
 *   median  (as Optuna's MedianPruner) at epoch e >= warmup_epochs + 1,
 *           once at least startup_trials trials are complete: stop the
 *           trial if its best value so far is worse than the median of
 *           the complete trials' values at epoch e.  A tie survives.
 *   asha    asynchronous successive halving (Li et al. 2020): rungs at
 *           min_epochs * reduction^k epochs.  A trial reaching a rung
 *           continues only if its value there ranks within the best
 *           max(1, floor(m / reduction)) of the m trials (itself included,
 *           whatever their state) that have reached that rung so far;
 *           between rungs it is never stopped.
 */
#ifndef JM_SEARCH_PRUNE_H
#define JM_SEARCH_PRUNE_H

typedef enum jm_prune_method {
	JM_PRUNE_NONE,
	JM_PRUNE_MEDIAN,
	JM_PRUNE_ASHA,
} jm_prune_method;

typedef enum jm_prune_state {
	JM_PRUNE_RUNNING,
	JM_PRUNE_COMPLETE,
	JM_PRUNE_PRUNED,  /* also failed trials: they never count as complete */
} jm_prune_state;

typedef struct jm_prune_trial {
	jm_prune_state state;
	int nvalues;            /* epochs reported */
	const double *values;   /* values[e - 1]: the metric after epoch e */
} jm_prune_trial;

typedef struct jm_prune_opts {
	jm_prune_method method;
	int maximize;           /* 1: higher is better */
	int startup_trials;     /* median: complete trials needed (default 5) */
	int warmup_epochs;      /* median: never before epoch warmup + 1 (default 0) */
	int min_epochs;         /* asha: the first rung (default 1) */
	int reduction;          /* asha: eta (default 3) */
} jm_prune_opts;

void jm_prune_opts_default(jm_prune_opts *o, jm_prune_method method, int maximize);

/* "none", "median", "asha"; parse returns -1 for anything else. */
const char *jm_prune_method_name(jm_prune_method m);
int jm_prune_method_parse(const char *name, jm_prune_method *m);

/* Should trials[which], which has just reported epoch `epoch` (its
 * values[epoch - 1]), stop now?  1: stop (mark it pruned), 0: go on. */
int jm_prune_should_stop(const jm_prune_opts *o, const jm_prune_trial *trials, int ntrials,
                         int which, int epoch);

#endif
