/*
 * space.c: search-space specs, parsed by a small lexer into jm_param, and
 * the maps between a point and the unit cube the model works in.
 *
 *   "loguniform(1e-5, 1e-2)" --lex--> WORD ( WORD , WORD ) END
 *                            --parse (table of kinds)--> jm_param
 *
 * Every token carries its column so that each error can point at it.
 */
#include "pipeline/search/space.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum tok_kind { TOK_WORD, TOK_STRING, TOK_PUNCT, TOK_END, TOK_BAD };

typedef struct tok {
	enum tok_kind kind;
	int col;            /* 1-based column of the first character */
	char text[128];     /* word or string contents, or the punctuation */
} tok;

typedef struct lexer {
	const char *s;
	size_t pos;
} lexer;

static int is_punct(char c)
{
	return c == '(' || c == ')' || c == '[' || c == ']' || c == ',';
}

/* The next token; TOK_BAD for an unterminated string or an overlong word
 * (text then says which). */
static tok lex_next(lexer *lx)
{
	tok t = {.kind = TOK_END};
	const char *s = lx->s;
	while (s[lx->pos] == ' ' || s[lx->pos] == '\t')
		lx->pos++;
	t.col = (int)lx->pos + 1;
	char c = s[lx->pos];
	if (!c)
		return t;
	if (is_punct(c)) {
		t.kind = TOK_PUNCT;
		t.text[0] = c;
		lx->pos++;
		return t;
	}
	size_t n = 0;
	if (c == '"') {
		lx->pos++;
		while (s[lx->pos] && s[lx->pos] != '"') {
			if (n + 1 >= sizeof t.text) {
				t.kind = TOK_BAD;
				snprintf(t.text, sizeof t.text, "an option longer than %zu characters",
				         sizeof t.text - 1);
				return t;
			}
			t.text[n++] = s[lx->pos++];
		}
		if (!s[lx->pos]) {
			t.kind = TOK_BAD;
			snprintf(t.text, sizeof t.text, "an unterminated quoted string");
			return t;
		}
		lx->pos++;
		t.text[n] = 0;
		t.kind = TOK_STRING;
		return t;
	}
	while (s[lx->pos] && !is_punct(s[lx->pos]) && s[lx->pos] != '"' &&
	       s[lx->pos] != ' ' && s[lx->pos] != '\t') {
		if (n + 1 >= sizeof t.text) {
			t.kind = TOK_BAD;
			snprintf(t.text, sizeof t.text, "a word longer than %zu characters",
			         sizeof t.text - 1);
			return t;
		}
		t.text[n++] = s[lx->pos++];
	}
	t.text[n] = 0;
	t.kind = TOK_WORD;
	return t;
}

/* How a token reads in a message: "end of text" or the quoted token. */
static const char *tok_show(const tok *t, char *buf, size_t size)
{
	if (t->kind == TOK_END)
		return "the end";
	snprintf(buf, size, "\"%s\"", t->text);
	return buf;
}

/* A finite number spelled by the whole of text. */
static int read_number(const char *text, double *v)
{
	char *end;
	if (!*text || isspace((unsigned char)*text))
		return -1;
	double d = strtod(text, &end);
	if (*end || !isfinite(d))
		return -1;
	*v = d;
	return 0;
}

/* One parsed item of an argument list. */
typedef struct item {
	tok t;
	int is_number;
	double v;
} item;

#define MAX_ITEMS 256

typedef struct parse_state {
	const char *name;
	int *col;
	jm_err *err;
} parse_state;

static int fail(parse_state *ps, int col, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(parse_state *ps, int col, const char *fmt, ...)
{
	char what[768];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof what, fmt, ap);
	va_end(ap);
	if (ps->col)
		*ps->col = col;
	return jm_err_set(ps->err, JM_EXIT_INPUT, "%s: column %d: %s", ps->name, col, what);
}

/* Items up to the closing bracket `close`, which is consumed.  *n gets the
 * count; *end_col the column of the closing bracket. */
static int parse_items(parse_state *ps, lexer *lx, char close, item *items, int *n)
{
	char shown[160];
	*n = 0;
	for (;;) {
		tok t = lex_next(lx);
		if (t.kind == TOK_BAD)
			return fail(ps, t.col, "%s", t.text);
		if (t.kind == TOK_PUNCT && t.text[0] == close && *n == 0)
			return fail(ps, t.col, "expected a value before \"%c\"", close);
		if (t.kind != TOK_WORD && t.kind != TOK_STRING)
			return fail(ps, t.col, "expected a value, got %s",
			            tok_show(&t, shown, sizeof shown));
		if (*n == MAX_ITEMS)
			return fail(ps, t.col, "more than %d values", MAX_ITEMS);
		item *it = &items[(*n)++];
		it->t = t;
		it->is_number = t.kind == TOK_WORD && read_number(t.text, &it->v) == 0;
		tok sep = lex_next(lx);
		if (sep.kind == TOK_BAD)
			return fail(ps, sep.col, "%s", sep.text);
		if (sep.kind == TOK_PUNCT && sep.text[0] == close)
			return 0;
		if (!(sep.kind == TOK_PUNCT && sep.text[0] == ','))
			return fail(ps, sep.col, "expected \",\" or \"%c\", got %s", close,
			            tok_show(&sep, shown, sizeof shown));
	}
}

/* The numeric distributions: their names, scale and what their bounds
 * must be. */
typedef struct kind_entry {
	const char *word;
	jm_param_kind kind;
	int log;
} kind_entry;

static const kind_entry kinds[] = {
	{"uniform", JM_PARAM_UNIFORM, 0},
	{"loguniform", JM_PARAM_LOGUNIFORM, 1},
	{"int", JM_PARAM_INT, 0},
	{"logint", JM_PARAM_INT, 1},
	{"choice", JM_PARAM_CHOICE, 0},
};

static int parse_range(parse_state *ps, jm_param *p, const item *it, int n, int close_col)
{
	int max = p->kind == JM_PARAM_INT ? 3 : 2;
	const char *what = p->kind == JM_PARAM_INT ? "int" :
	                   p->kind == JM_PARAM_LOGUNIFORM ? "loguniform" : "uniform";
	if (n < 2)
		return fail(ps, close_col, "%s takes a low and a high bound, got %d value", what, n);
	if (n > max)
		return fail(ps, it[max].t.col, "%s takes %s, got %d values", what,
		            max == 3 ? "a low and a high bound and an optional \"log\"" :
		                       "a low and a high bound", n);
	for (int i = 0; i < 2; i++)
		if (!it[i].is_number)
			return fail(ps, it[i].t.col, "expected a number, got \"%s\"", it[i].t.text);
	if (n == 3) {
		if (it[2].t.kind != TOK_WORD || strcmp(it[2].t.text, "log"))
			return fail(ps, it[2].t.col, "expected \"log\" or nothing, got \"%s\"",
			            it[2].t.text);
		p->log = 1;
	}
	double lo = it[0].v, hi = it[1].v;
	if (p->kind == JM_PARAM_INT)
		for (int i = 0; i < 2; i++)
			if (it[i].v != floor(it[i].v) || fabs(it[i].v) > 0x1p52)
				return fail(ps, it[i].t.col, "expected an integer, got \"%s\"",
				            it[i].t.text);
	if (p->log && lo <= 0)
		return fail(ps, it[0].t.col, "a log scale needs a low bound > 0, got \"%s\"",
		            it[0].t.text);
	if (!(lo < hi))
		return fail(ps, it[1].t.col, "expected a high bound above the low bound %s, got \"%s\"",
		            it[0].t.text, it[1].t.text);
	p->lo = lo;
	p->hi = hi;
	return 0;
}

static int parse_choice(parse_state *ps, jm_param *p, const item *it, int n)
{
	int all_numbers = 1;
	for (int i = 0; i < n; i++) {
		if (!it[i].t.text[0])
			return fail(ps, it[i].t.col, "expected an option, got an empty string");
		for (int j = 0; j < i; j++)
			if (!strcmp(it[i].t.text, it[j].t.text) ||
			    (it[i].is_number && it[j].is_number && it[i].v == it[j].v))
				return fail(ps, it[i].t.col, "\"%s\" is listed twice", it[i].t.text);
		all_numbers &= it[i].is_number;
	}
	p->nchoices = n;
	p->choices = jm_xcalloc((size_t)n, sizeof *p->choices);
	for (int i = 0; i < n; i++)
		p->choices[i] = jm_xstrdup(it[i].t.text);
	if (all_numbers) {
		p->numbers = jm_xmalloc((size_t)n * sizeof *p->numbers);
		for (int i = 0; i < n; i++)
			p->numbers[i] = it[i].v;
	}
	return 0;
}

static void param_clear(jm_param *p)
{
	free(p->name);
	for (int i = 0; i < p->nchoices; i++)
		free(p->choices[i]);
	free(p->choices);
	free(p->numbers);
	memset(p, 0, sizeof *p);
}

static int parse_spec(parse_state *ps, const char *spec, jm_param *p)
{
	char shown[160];
	lexer lx = {spec, 0};
	item *items = jm_xmalloc(MAX_ITEMS * sizeof *items);
	int n = 0, rc = -1;
	tok t = lex_next(&lx);
	int close_col;
	if (t.kind == TOK_BAD) {
		fail(ps, t.col, "%s", t.text);
		goto out;
	}
	if (t.kind == TOK_PUNCT && (t.text[0] == '(' || t.text[0] == '[')) {
		/* shorthand: (lo, hi) is uniform, [a, b, ...] is choice */
		char close = t.text[0] == '(' ? ')' : ']';
		p->kind = close == ')' ? JM_PARAM_UNIFORM : JM_PARAM_CHOICE;
		if (parse_items(ps, &lx, close, items, &n) < 0)
			goto out;
	} else {
		if (t.kind != TOK_WORD) {
			fail(ps, t.col, "expected a distribution (uniform, loguniform, int or choice), got %s",
			     tok_show(&t, shown, sizeof shown));
			goto out;
		}
		size_t k = 0;
		while (k < sizeof kinds / sizeof kinds[0] && strcmp(kinds[k].word, t.text))
			k++;
		if (k == sizeof kinds / sizeof kinds[0]) {
			fail(ps, t.col, "unknown distribution \"%s\"; expected uniform, loguniform, int or choice",
			     t.text);
			goto out;
		}
		p->kind = kinds[k].kind;
		p->log = kinds[k].log;
		tok open = lex_next(&lx);
		if (!(open.kind == TOK_PUNCT && open.text[0] == '(')) {
			fail(ps, open.col, "expected \"(\" after \"%s\", got %s", t.text,
			     tok_show(&open, shown, sizeof shown));
			goto out;
		}
		if (parse_items(ps, &lx, ')', items, &n) < 0)
			goto out;
	}
	close_col = (int)lx.pos;
	tok end = lex_next(&lx);
	if (end.kind != TOK_END) {
		fail(ps, end.col, "unexpected %s after the closing bracket",
		     tok_show(&end, shown, sizeof shown));
		goto out;
	}
	if (p->kind == JM_PARAM_CHOICE)
		rc = parse_choice(ps, p, items, n);
	else
		rc = parse_range(ps, p, items, n, close_col);
out:
	free(items);
	return rc;
}

jm_space *jm_space_new(void)
{
	return jm_xcalloc(1, sizeof(jm_space));
}

void jm_space_free(jm_space *s)
{
	if (!s)
		return;
	for (int i = 0; i < s->n; i++)
		param_clear(&s->p[i]);
	free(s->p);
	free(s);
}

int jm_space_add(jm_space *s, const char *name, const char *spec, int *col, jm_err *err)
{
	parse_state ps = {name, col, err};
	jm_param p = {0};
	if (!name || !*name)
		return fail(&ps, 1, "a searched parameter needs a name");
	for (int i = 0; i < s->n; i++)
		if (!strcmp(s->p[i].name, name))
			return fail(&ps, 1, "searched twice");
	if (parse_spec(&ps, spec ? spec : "", &p) < 0) {
		param_clear(&p);
		return -1;
	}
	p.name = jm_xstrdup(name);
	s->p = jm_xrealloc(s->p, (size_t)(s->n + 1) * sizeof *s->p);
	s->p[s->n++] = p;
	return 0;
}

size_t jm_space_size(const jm_space *s)
{
	size_t total = 1;
	for (int i = 0; i < s->n; i++) {
		const jm_param *p = &s->p[i];
		double k;
		if (p->kind == JM_PARAM_CHOICE)
			k = p->nchoices;
		else if (p->kind == JM_PARAM_INT)
			k = p->hi - p->lo + 1;
		else
			return 0;
		if ((double)total * k >= (double)SIZE_MAX)
			total = SIZE_MAX;
		else
			total *= (size_t)k;
	}
	return total;
}

/* The scale a numeric parameter is flat on. */
static double scale_of(const jm_param *p, double v)
{
	return p->log ? log(v) : v;
}

static double unscale(const jm_param *p, double t)
{
	return p->log ? exp(t) : t;
}

static double to_unit1(const jm_param *p, double v);
static double from_unit1(const jm_param *p, double u);

void jm_space_to_unit(const jm_space *s, const double *x, double *u)
{
	for (int i = 0; i < s->n; i++)
		u[i] = s->p[i].kind == JM_PARAM_CHOICE ? x[i] : to_unit1(&s->p[i], x[i]);
}

void jm_space_from_unit(const jm_space *s, const double *u, double *x)
{
	for (int i = 0; i < s->n; i++) {
		const jm_param *p = &s->p[i];
		if (p->kind == JM_PARAM_CHOICE) {
			double k = floor(u[i]);
			x[i] = k < 0 ? 0 : k > p->nchoices - 1 ? p->nchoices - 1 : k;
		} else {
			/* clamped: exp(log(hi)) may land an ulp outside */
			x[i] = from_unit1(p, u[i]);
		}
	}
}

void jm_space_sample(const jm_space *s, const double *u, double *x)
{
	for (int i = 0; i < s->n; i++) {
		const jm_param *p = &s->p[i];
		double t = u[i] < 0 ? 0 : u[i] >= 1 ? 0x1.fffffffffffffp-1 : u[i];
		if (p->kind == JM_PARAM_CHOICE) {
			x[i] = floor(t * p->nchoices);
			continue;
		}
		/* integers own [v - 1/2, v + 1/2) on their scale */
		double lo = p->kind == JM_PARAM_INT ? p->lo - 0.5 : p->lo;
		double hi = p->kind == JM_PARAM_INT ? p->hi + 0.5 : p->hi;
		double a = scale_of(p, lo), b = scale_of(p, hi);
		double v = unscale(p, a + t * (b - a));
		if (p->kind == JM_PARAM_INT)
			v = nearbyint(v);
		x[i] = v < p->lo ? p->lo : v > p->hi ? p->hi : v;
	}
}

static double to_unit1(const jm_param *p, double v)
{
	double a = scale_of(p, p->lo), b = scale_of(p, p->hi);
	double t = (scale_of(p, v) - a) / (b - a);
	return t < 0 ? 0 : t > 1 ? 1 : t;
}

static double from_unit1(const jm_param *p, double u)
{
	double t = u < 0 ? 0 : u > 1 ? 1 : u;
	double a = scale_of(p, p->lo), b = scale_of(p, p->hi);
	double v = unscale(p, a + t * (b - a));
	if (p->kind == JM_PARAM_INT)
		v = nearbyint(v);
	return v < p->lo ? p->lo : v > p->hi ? p->hi : v;
}

double jm_space_snap(const jm_space *s, int i, double u)
{
	const jm_param *p = &s->p[i];
	if (p->kind != JM_PARAM_INT)
		return u < 0 ? 0 : u > 1 ? 1 : u;
	return to_unit1(p, from_unit1(p, u));
}

double jm_space_step(const jm_space *s, int i, double u, int steps)
{
	const jm_param *p = &s->p[i];
	if (p->kind != JM_PARAM_INT)
		return u < 0 ? 0 : u > 1 ? 1 : u;
	double v = from_unit1(p, u) + steps;
	v = v < p->lo ? p->lo : v > p->hi ? p->hi : v;
	return to_unit1(p, v);
}

int jm_space_check(const jm_space *s, const double *x, jm_err *err)
{
	for (int i = 0; i < s->n; i++) {
		const jm_param *p = &s->p[i];
		double v = x[i];
		if (!isfinite(v))
			return jm_err_set(err, JM_EXIT_INPUT, "%s: expected a finite value", p->name);
		if (p->kind == JM_PARAM_CHOICE) {
			if (v != floor(v) || v < 0 || v >= p->nchoices)
				return jm_err_set(err, JM_EXIT_INPUT, "%s: %g is not an option index (0 to %d)",
				                  p->name, v, p->nchoices - 1);
			continue;
		}
		if (p->kind == JM_PARAM_INT && v != floor(v))
			return jm_err_set(err, JM_EXIT_INPUT, "%s: expected an integer, got %.17g",
			                  p->name, v);
		if (v < p->lo || v > p->hi)
			return jm_err_set(err, JM_EXIT_INPUT, "%s: %.17g is outside [%.17g, %.17g]",
			                  p->name, v, p->lo, p->hi);
	}
	return 0;
}

int jm_space_format(const jm_space *s, int i, double v, char *buf, size_t size)
{
	const jm_param *p = &s->p[i];
	if (p->kind == JM_PARAM_CHOICE) {
		int k = (int)v;
		if (k < 0 || k >= p->nchoices)
			return snprintf(buf, size, "?");
		return snprintf(buf, size, "%s", p->choices[k]);
	}
	if (p->kind == JM_PARAM_INT)
		return snprintf(buf, size, "%.0f", v);
	/* the shortest %g that reads back to the same double */
	char tmp[40];
	for (int prec = 6; prec < 17; prec++) {
		snprintf(tmp, sizeof tmp, "%.*g", prec, v);
		if (strtod(tmp, NULL) == v)
			return snprintf(buf, size, "%s", tmp);
	}
	return snprintf(buf, size, "%.17g", v);
}

int jm_space_parse_value(const jm_space *s, int i, const char *text, double *v, jm_err *err)
{
	const jm_param *p = &s->p[i];
	double d;
	if (p->kind == JM_PARAM_CHOICE) {
		for (int k = 0; k < p->nchoices; k++)
			if (!strcmp(p->choices[k], text)) {
				*v = k;
				return 0;
			}
		/* "64.0" for the option 64 */
		if (p->numbers && read_number(text, &d) == 0)
			for (int k = 0; k < p->nchoices; k++)
				if (p->numbers[k] == d) {
					*v = k;
					return 0;
				}
		return jm_err_set(err, JM_EXIT_INPUT, "%s: \"%s\" is not one of the options",
		                  p->name, text);
	}
	if (read_number(text, &d) < 0)
		return jm_err_set(err, JM_EXIT_INPUT, "%s: expected a number, got \"%s\"",
		                  p->name, text);
	double x[1] = {d};
	jm_space one = {1, (jm_param *)p};
	if (jm_space_check(&one, x, err) < 0)
		return -1;
	*v = d;
	return 0;
}
