/*
 * prune.c: the median rule and asynchronous successive halving as pure
 * functions of the trials' histories (see prune.h).  Values are compared
 * after negation for maximisation, so "smaller is better" below.
 */
#include "pipeline/search/prune.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util/err.h"

static const char *const prune_names[] = {
	[JM_PRUNE_NONE] = "none",
	[JM_PRUNE_MEDIAN] = "median",
	[JM_PRUNE_ASHA] = "asha",
};

const char *jm_prune_method_name(jm_prune_method m)
{
	return (unsigned)m < sizeof prune_names / sizeof prune_names[0] ? prune_names[m] : "?";
}

int jm_prune_method_parse(const char *name, jm_prune_method *m)
{
	for (size_t i = 0; i < sizeof prune_names / sizeof prune_names[0]; i++)
		if (name && !strcmp(name, prune_names[i])) {
			*m = (jm_prune_method)i;
			return 0;
		}
	return -1;
}

void jm_prune_opts_default(jm_prune_opts *o, jm_prune_method method, int maximize)
{
	o->method = method;
	o->maximize = maximize != 0;
	o->startup_trials = 5;
	o->warmup_epochs = 0;
	o->min_epochs = 1;
	o->reduction = 3;
}

/* Trial t's value at epoch e, oriented so that smaller is better; NaN if
 * it has none. */
static double at(const jm_prune_opts *o, const jm_prune_trial *t, int e)
{
	if (e < 1 || e > t->nvalues || !t->values)
		return NAN;
	double v = t->values[e - 1];
	return o->maximize ? -v : v;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static int median_stop(const jm_prune_opts *o, const jm_prune_trial *tr, int n, int which,
                       int epoch)
{
	if (epoch <= o->warmup_epochs)
		return 0;
	int complete = 0;
	for (int i = 0; i < n; i++)
		complete += i != which && tr[i].state == JM_PRUNE_COMPLETE;
	if (complete < o->startup_trials || complete == 0)
		return 0;
	double *v = jm_xmalloc((size_t)complete * sizeof *v);
	int m = 0;
	for (int i = 0; i < n; i++) {
		if (i == which || tr[i].state != JM_PRUNE_COMPLETE)
			continue;
		double x = at(o, &tr[i], epoch);
		if (!isnan(x))
			v[m++] = x;
	}
	int stop = 0;
	if (m > 0) {
		qsort(v, (size_t)m, sizeof *v, cmp_double);
		double med = m % 2 ? v[m / 2] : 0.5 * (v[m / 2 - 1] + v[m / 2]);
		/* the trial's best so far */
		double best = NAN;
		for (int e = 1; e <= epoch; e++) {
			double x = at(o, &tr[which], e);
			if (!isnan(x) && (isnan(best) || x < best))
				best = x;
		}
		stop = !isnan(best) && best > med;
	}
	free(v);
	return stop;
}

static int asha_stop(const jm_prune_opts *o, const jm_prune_trial *tr, int n, int which,
                     int epoch)
{
	int eta = o->reduction < 2 ? 2 : o->reduction;
	long rung = o->min_epochs < 1 ? 1 : o->min_epochs;
	while (rung < epoch)
		rung *= eta;
	if (rung != epoch)
		return 0; /* not at a rung */
	double mine = at(o, &tr[which], epoch);
	if (isnan(mine))
		return 0;
	/* rank among every trial that has reached this rung */
	int m = 0, better = 0;
	for (int i = 0; i < n; i++) {
		double x = at(o, &tr[i], epoch);
		if (isnan(x))
			continue;
		m++;
		if (i != which && x < mine)
			better++;
	}
	int keep = m / eta > 1 ? m / eta : 1;
	return better >= keep;
}

int jm_prune_should_stop(const jm_prune_opts *o, const jm_prune_trial *trials, int ntrials,
                         int which, int epoch)
{
	if (!o || which < 0 || which >= ntrials || epoch < 1)
		return 0;
	switch (o->method) {
	case JM_PRUNE_MEDIAN:
		return median_stop(o, trials, ntrials, which, epoch);
	case JM_PRUNE_ASHA:
		return asha_stop(o, trials, ntrials, which, epoch);
	default:
		return 0;
	}
}
