/*
 * space.h: the search space, what a [search] section declares.
 *
 * Each searched flow key is one parameter, written as a spec string:
 *
 *     uniform(0.1, 0.5)          a float, flat on [lo, hi]
 *     loguniform(1e-5, 1e-2)     a float, flat on [log lo, log hi]; lo > 0
 *     int(1, 4)                  an integer in [lo, hi], every value alike
 *     int(16, 1024, log)         an integer, flat on the log scale
 *     logint(16, 1024)           the same
 *     choice(32, 64, 128)        one of the listed values (numbers or words:
 *     choice(relu, gelu)           choice(relu, "leaky relu"))
 *     (0.1, 0.5)   [32, 64, 128] the product brief's shorthand for
 *                                uniform(...) and choice(...)
 *
 * A point of the space is a double per parameter in the parameter's own
 * units: the value for uniform, loguniform and int (an integral double),
 * the index of the option for choice.  The search works on the unit cube:
 * jm_space_to_unit() maps a point to [0,1] per numeric parameter (log scale
 * where declared), leaving choice indices as they are; jm_space_from_unit()
 * maps back, rounding integers to the nearest integer of the scale.
 *
 * Ownership: a jm_space owns its parameters (names, option labels); the
 * pointers it hands out stay valid until jm_space_free().
 */
#ifndef JM_SEARCH_SPACE_H
#define JM_SEARCH_SPACE_H

#include <stddef.h>

#include "util/err.h"

typedef enum jm_param_kind {
	JM_PARAM_UNIFORM,
	JM_PARAM_LOGUNIFORM,
	JM_PARAM_INT,
	JM_PARAM_CHOICE,
} jm_param_kind;

typedef struct jm_param {
	char *name;         /* the flow key, "train.lr" */
	jm_param_kind kind;
	int log;            /* log scale: loguniform, int(.., .., log) */
	double lo, hi;      /* bounds (integral for int); unused for choice */
	int nchoices;       /* choice: number of options (>= 1) */
	char **choices;     /* choice: the options as written, unquoted */
	double *numbers;    /* choice: each option's value when every option
	                     * is a number, else NULL */
} jm_param;

typedef struct jm_space {
	int n;              /* parameters */
	jm_param *p;
} jm_space;

jm_space *jm_space_new(void);
void jm_space_free(jm_space *s);

/* Parse SPEC and add it as parameter NAME.  On a malformed spec returns -1
 * with err (JM_EXIT_INPUT) as `NAME: column C: what` and, when col is not
 * NULL, *col = C, the 1-based column in SPEC of the offending character, so
 * that a caller that knows where SPEC sits in its line can point there. */
int jm_space_add(jm_space *s, const char *name, const char *spec, int *col, jm_err *err);

/* The number of points of the space when every parameter is discrete
 * (int or choice), saturating at SIZE_MAX; 0 when any parameter is
 * continuous (infinitely many). */
size_t jm_space_size(const jm_space *s);

/* Point <-> unit cube (see above).  x and u have s->n entries. */
void jm_space_to_unit(const jm_space *s, const double *x, double *u);
void jm_space_from_unit(const jm_space *s, const double *u, double *x);

/* A point from u in [0,1)^n such that every integer and every option gets
 * a cell of equal width (on the parameter's scale): the map for uniform
 * draws and space-filling designs.  jm_space_from_unit() would give the
 * two end integers half a cell each. */
void jm_space_sample(const jm_space *s, const double *u, double *x);

/* Unit coordinate of parameter i (numeric) moved to its nearest valid
 * value (integers: the nearest integer's position), and moved by `steps`
 * integers from there (clamped to the bounds).  Continuous parameters are
 * returned clamped to [0, 1]. */
double jm_space_snap(const jm_space *s, int i, double u);
double jm_space_step(const jm_space *s, int i, double u, int steps);

/* Is x a valid point: finite, within bounds, integral where it should be,
 * a valid option index?  Otherwise -1 with `NAME: ...` in err. */
int jm_space_check(const jm_space *s, const double *x, jm_err *err);

/* Parameter i of x as the text to put in the flow (`0.0031622776601683794`
 * as the shortest form that reads back to the same double, `64`, `gelu`).
 * Returns snprintf's count. */
int jm_space_format(const jm_space *s, int i, double v, char *buf, size_t size);

/* The reverse: read parameter i from its text (a number, or an option as
 * written); -1 with err if it is not a valid value. */
int jm_space_parse_value(const jm_space *s, int i, const char *text, double *v, jm_err *err);

#endif
