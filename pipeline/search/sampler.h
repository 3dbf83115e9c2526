/*
 * sampler.h: the proposer of a hyperparameter search.  This is the API the
 * runner drives:
 *
 *     jm_space *sp = jm_space_new();
 *     jm_space_add(sp, "train.lr", "loguniform(1e-5, 1e-2)", &col, &err);
 *     ...
 *     jm_search *s = jm_search_new(sp, JM_SEARCH_BAYES, seed, &err);
 *     jm_search_set_direction(s, 1);                 // direction = max
 *     jm_search_set_log(s, log_line, run);           // fallbacks, to the log
 *     for (past trials in the store)                 // resume
 *         jm_search_tell(s, x, value, state, &err);
 *     while (trials left) {
 *         rc = jm_search_propose(s, pending, npending, x, &err);
 *         // rc 1: every point of a finite space is taken; stop
 *         ... run the trial at x (jm_space_format for each flow key) ...
 *         jm_search_tell(s, x, metric, JM_TRIAL_COMPLETE, &err);
 *     }
 *
 * Points are in the space's units (see space.h: values, option indices).
 *
 *   bayes   a space-filling design (scrambled Sobol) for the first trials,
 *           then a Gaussian process (gp.h) on the unit-scaled space, fitted
 *           by MAP on standardised (and, when skewed, Yeo-Johnson-warped)
 *           values, and the point maximising log expected improvement
 *           (acq.h), found by a genetic algorithm with local refinement
 *           (ga.h).  Trials still running (pending) enter the model as
 *           fantasies: the kriging believer (the model's own prediction) by
 *           default, or a constant liar.
 *   random  independent uniform draws (log scale where declared)
 *   grid    every combination of the options, the integers and
 *           `grid_points` values of each continuous parameter, in an order
 *           shuffled by the seed
 *
 * Guarantees: a proposal is always a valid point and never one already
 * told or pending (continuous coordinates closer than 1e-9 on the unit
 * scale count as the same); the same seed and the same calls give the
 * same proposals; when the model cannot be fitted, the proposal falls back
 * (to the previous fit's hyperparameters, else to the next design point)
 * and the log callback says so, with the reason.
 *
 * Ownership: the search borrows the space, which must outlive it; it
 * copies every point it is told or given.
 */
#ifndef JM_SEARCH_SAMPLER_H
#define JM_SEARCH_SAMPLER_H

#include <stdint.h>

#include "pipeline/search/space.h"
#include "util/err.h"

typedef enum jm_search_method {
	JM_SEARCH_BAYES,
	JM_SEARCH_RANDOM,
	JM_SEARCH_GRID,
} jm_search_method;

typedef enum jm_trial_state {
	JM_TRIAL_COMPLETE, /* value is the trial's metric */
	JM_TRIAL_FAILED,   /* crashed or diverged: value ignored */
	JM_TRIAL_PRUNED,   /* value: the last metric it reported, or NaN */
} jm_trial_state;

typedef enum jm_pending_mode {
	JM_PENDING_BELIEVER,  /* kriging believer: the posterior mean */
	JM_PENDING_LIAR_BEST, /* constant liar: the best value so far */
	JM_PENDING_LIAR_MEAN, /* constant liar: the mean value */
	JM_PENDING_LIAR_WORST,/* constant liar: the worst value */
} jm_pending_mode;

/* One line, no newline, lowercase first word: e.g. "search: cannot fit the
 * model on 12 trials (...); this proposal uses the next design point". */
typedef void (*jm_search_log_fn)(void *ctx, const char *msg);

typedef struct jm_search jm_search;

/* NULL with err if the space is empty or (grid) too large. */
jm_search *jm_search_new(const jm_space *space, jm_search_method method, uint64_t seed,
                         jm_err *err);
void jm_search_free(jm_search *s);

/* "bayes", "random", "grid"; parse returns -1 for anything else. */
const char *jm_search_method_name(jm_search_method m);
int jm_search_method_parse(const char *name, jm_search_method *m);

/* Options; call before the first propose.  direction: 1 to maximise the
 * metric, 0 (default) to minimise. */
void jm_search_set_direction(jm_search *s, int maximize);
void jm_search_set_log(jm_search *s, jm_search_log_fn fn, void *ctx);
void jm_search_set_pending_mode(jm_search *s, jm_pending_mode mode);
/* bayes: trials from the space-filling design before the model takes over
 * (default: one more than the parameters, within [4, 10]; at least 2). */
void jm_search_set_initial(jm_search *s, int n);
/* grid: values per continuous parameter (default 5); -1 with err if the
 * grid would have more than 10^7 points. */
int jm_search_set_grid_points(jm_search *s, int k, jm_err *err);

/* The next point into x (space->n values).  pending (npending x space->n,
 * may be NULL) are the points of trials still running.  Returns 0, 1 when
 * every point of a finite space is told or pending (x untouched), or -1
 * with err on an invalid pending point. */
int jm_search_propose(jm_search *s, const double *pending, int npending, double *x,
                      jm_err *err);

/* Record a finished trial.  A non-finite value of a complete trial counts
 * as a failure.  -1 with err (JM_EXIT_INPUT) if x is not a valid point. */
int jm_search_tell(jm_search *s, const double *x, double value, jm_trial_state state,
                   jm_err *err);

/* Trials told so far. */
int jm_search_count(const jm_search *s);

/* The best complete trial (in the search's direction): its point into x
 * and value into *value (either may be NULL); -1 if there is none. */
int jm_search_best(const jm_search *s, double *x, double *value);

#endif
