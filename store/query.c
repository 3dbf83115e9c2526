/*
 * query.c: the filter language and sort keys (grammar in query.h), compiled
 * to SQL by a recursive-descent parser that writes SQL as it goes.
 *
 *   text ──lex_next──▶ token ──parse_or/…/parse_cmp──▶ sql text + binds[]
 *
 * There is no syntax tree: each comparison emits its SQL fragment and pushes
 * its bound values in the same order as the `?` it writes, so binds[i] is
 * the i-th `?` of the text.  Only fixed fragments from the tables below ever
 * reach the SQL; names and literals from the user are always bound.
 *
 * Semantics worth knowing (documented in jianmo(1)):
 *  - a param is TEXT in the store; with a number literal it compares
 *    numerically, and only values that are well-formed numbers take part in
 *    < <= > >= (the check leans on SQLite affinity: `p.value` compared with
 *    `CAST(? AS REAL)` is converted to a number exactly when it reads as one,
 *    and any text sorts above every number, so `p.value <= CAST(1e999 AS
 *    REAL)` holds exactly for numeric values);
 *  - with a quoted or non-numeric literal a param compares as text;
 *  - a comparison on a param or metric the run does not have is false, and
 *    so is one on an empty numeric field; `not` turns false into true.
 */
#include "store/query.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "store/store.h" /* JM_RUN_DURATION_SQL, JM_RUN_FLOW_NAME_SQL */

/* ---- growing SQL text ------------------------------------------------ */

typedef struct sbuf {
	char *s;
	size_t n, cap;
} sbuf;

static void sb_add(sbuf *b, const char *text)
{
	size_t len = strlen(text);
	if (b->n + len + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		while (b->n + len + 1 > cap)
			cap *= 2;
		b->s = jm_xrealloc(b->s, cap);
		b->cap = cap;
	}
	memcpy(b->s + b->n, text, len + 1);
	b->n += len;
}

/* ---- bound values ---------------------------------------------------- */

typedef struct bindval {
	char type; /* 't' text, 'd' double */
	char key;  /* 'm', 'p': the text is a metric's or a param's key */
	double d;
	char *t;
} bindval;

struct jm_query {
	char *sql;
	bindval *binds;
	int nbinds;
};

/* ---- tables ---------------------------------------------------------- */

enum ftype { F_NUM, F_TEXT, F_TIME, F_DURATION };

/* Unix time now, in SQL (julianday has sub-second precision everywhere). */
#define SQL_NOW "((julianday('now') - 2440587.5) * 86400.0)"

static const struct field {
	const char *name;
	const char *sql; /* an expression over the runs table `r` */
	enum ftype type;
} fields[] = {
	{"id", "r.id", F_NUM},
	{"kind", "r.kind", F_TEXT},
	{"parent", "IFNULL(r.parent, 0)", F_NUM},
	{"status", "r.status", F_TEXT},
	{"name", "IFNULL(r.name, '')", F_TEXT},
	/* the file the run was started from (store.h) */
	{"flow", "IFNULL(" JM_RUN_FLOW_NAME_SQL ", '')", F_TEXT},
	{"seed", "r.seed", F_NUM},
	{"device", "IFNULL(r.device, '')", F_TEXT},
	{"host", "IFNULL(r.host, '')", F_TEXT},
	{"pid", "r.pid", F_NUM},
	{"started", "r.started", F_TIME},
	{"ended", "r.ended", F_TIME},
	{"created", "r.created", F_TIME},
	/* the time it ran, across --resume segments (store.h) */
	{"duration", JM_RUN_DURATION_SQL(SQL_NOW), F_DURATION},
	{"age", "(" SQL_NOW " - r.created)", F_DURATION},
	{"error", "IFNULL(r.error, '')", F_TEXT},
};

/* Functions over a metric's summary row, and param(KEY). */
static const struct func {
	const char *name;
	const char *column; /* metric_summary column; NULL for param() */
} funcs[] = {
	{"last", "last"}, {"min", "min"}, {"max", "max"}, {"count", "count"},
	{"param", NULL},
};

enum op { OP_EQ, OP_NE, OP_LT, OP_LE, OP_GT, OP_GE, OP_GLOB, OP_NGLOB };

static const struct opdef {
	const char *text; /* as typed */
	enum op op;
} opdefs[] = {
	/* longest first, so "<=" wins over "<" */
	{"==", OP_EQ}, {"!=", OP_NE}, {"<>", OP_NE}, {"<=", OP_LE}, {">=", OP_GE},
	{"!~", OP_NGLOB}, {"=", OP_EQ}, {"<", OP_LT}, {">", OP_GT}, {"~", OP_GLOB},
};

/* SQL for each op (the glob ones are written out by the emitters). */
static const char *const op_sql[] = {
	[OP_EQ] = " = ", [OP_NE] = " <> ", [OP_LT] = " < ", [OP_LE] = " <= ",
	[OP_GT] = " > ", [OP_GE] = " >= ", [OP_GLOB] = " GLOB ", [OP_NGLOB] = " GLOB ",
};

static const struct unit {
	char suffix;
	double seconds;
} duration_units[] = {
	{'s', 1}, {'m', 60}, {'h', 3600}, {'d', 86400}, {'w', 7 * 86400},
};

/* ---- lexer ----------------------------------------------------------- */

enum ttype { T_END, T_WORD, T_STRING, T_LPAREN, T_RPAREN, T_COMMA, T_OP, T_AND, T_OR, T_NOT };

typedef struct token {
	enum ttype type;
	size_t pos, len; /* in the source */
	enum op op;      /* T_OP */
	char *str;       /* T_WORD: the word; T_STRING: the unescaped text */
} token;

typedef struct parser {
	const char *src;
	size_t srclen;
	size_t pos; /* where the lexer continues */
	token tok;  /* the current (lookahead) token */
	sbuf sql;
	bindval *binds;
	int nbinds, capbinds;
	int depth, terms;
	size_t err_pos;
	jm_err *err;
} parser;

static int is_word_char(unsigned char c)
{
	return isalnum(c) || c >= 0x80 || strchr("_.:/*?+-@%[]^#$", c) != NULL;
}

/* Characters from the start to pos, plus one: the column shown to people. */
static int column_of(const char *src, size_t pos)
{
	int col = 1;
	for (size_t i = 0; i < pos && src[i]; i++)
		if (((unsigned char)src[i] & 0xC0) != 0x80)
			col++;
	return col;
}

static int fail_at(parser *p, size_t pos, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail_at(parser *p, size_t pos, const char *fmt, ...)
{
	char msg[768];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	p->err_pos = pos;
	return jm_err_set(p->err, JM_EXIT_INPUT, "column %d: %s", column_of(p->src, pos), msg);
}

/* How a token reads in "got ..." (end of input, or its text quoted and cut
 * to a readable length). */
static void tok_describe(const parser *p, const token *t, char *out, size_t cap)
{
	if (t->type == T_END) {
		snprintf(out, cap, "end of input");
		return;
	}
	int len = (int)(t->len > 24 ? 24 : t->len);
	snprintf(out, cap, "\"%.*s%s\"", len, p->src + t->pos, t->len > 24 ? "..." : "");
}

static const struct {
	char c;
	char out;
} escapes[] = {
	{'\\', '\\'}, {'"', '"'}, {'\'', '\''}, {'n', '\n'}, {'t', '\t'}, {'r', '\r'},
};

static int lex_string(parser *p, token *t)
{
	char quote = p->src[p->pos];
	size_t i = p->pos + 1;
	sbuf b = {0};
	sb_add(&b, "");
	for (;;) {
		char c = p->src[i];
		if (c == '\0') {
			free(b.s);
			return fail_at(p, t->pos, "unterminated string (no closing %c)", quote);
		}
		if (c == quote)
			break;
		char one[2] = {c, '\0'};
		if (c == '\\') {
			char e = p->src[i + 1];
			size_t k = 0;
			while (k < sizeof escapes / sizeof escapes[0] && escapes[k].c != e)
				k++;
			if (e == '\0' || k == sizeof escapes / sizeof escapes[0]) {
				free(b.s);
				if (e == '\0')
					return fail_at(p, t->pos, "unterminated string (no closing %c)", quote);
				return fail_at(p, i, "unknown escape \"\\%c\" in a string (use \\\\ \\\" \\' \\n \\t \\r)",
					       isprint((unsigned char)e) ? e : '?');
			}
			one[0] = escapes[k].out;
			i++;
		}
		sb_add(&b, one);
		i++;
	}
	t->type = T_STRING;
	t->str = b.s;
	p->pos = i + 1;
	return 0;
}

static void tok_clear(token *t)
{
	free(t->str);
	memset(t, 0, sizeof *t);
}

/* Read the next token into p->tok. */
static int lex_next(parser *p)
{
	token *t = &p->tok;
	tok_clear(t);
	while (p->src[p->pos] == ' ' || p->src[p->pos] == '\t' || p->src[p->pos] == '\n' ||
	       p->src[p->pos] == '\r')
		p->pos++;
	const char *s = p->src + p->pos;
	t->pos = p->pos;
	if (*s == '\0') {
		t->type = T_END;
		return 0;
	}
	if (*s == '"' || *s == '\'') {
		if (lex_string(p, t) < 0)
			return -1;
		t->len = p->pos - t->pos;
		return 0;
	}
	static const struct {
		const char *text;
		enum ttype type;
	} puncts[] = {{"&&", T_AND}, {"||", T_OR}, {"(", T_LPAREN}, {")", T_RPAREN}, {",", T_COMMA}};
	for (size_t i = 0; i < sizeof puncts / sizeof puncts[0]; i++) {
		size_t n = strlen(puncts[i].text);
		if (!strncmp(s, puncts[i].text, n)) {
			t->type = puncts[i].type;
			t->len = n;
			p->pos += n;
			return 0;
		}
	}
	for (size_t i = 0; i < sizeof opdefs / sizeof opdefs[0]; i++) {
		size_t n = strlen(opdefs[i].text);
		if (!strncmp(s, opdefs[i].text, n)) {
			t->type = T_OP;
			t->op = opdefs[i].op;
			t->len = n;
			p->pos += n;
			return 0;
		}
	}
	if (*s == '!') { /* a lone "!" (not "!=" or "!~"): not */
		t->type = T_NOT;
		t->len = 1;
		p->pos++;
		return 0;
	}
	size_t n = 0;
	while (s[n] && is_word_char((unsigned char)s[n]))
		n++;
	if (n == 0) {
		unsigned char c = (unsigned char)*s;
		if (isprint(c))
			return fail_at(p, p->pos, "unexpected character \"%c\"", c);
		return fail_at(p, p->pos, "unexpected character (byte 0x%02x)", c);
	}
	static const struct {
		const char *word;
		enum ttype type;
	} keywords[] = {{"and", T_AND}, {"or", T_OR}, {"not", T_NOT}};
	t->type = T_WORD;
	for (size_t i = 0; i < sizeof keywords / sizeof keywords[0]; i++)
		if (strlen(keywords[i].word) == n && !strncasecmp(s, keywords[i].word, n))
			t->type = keywords[i].type;
	t->len = n;
	if (t->type == T_WORD) {
		t->str = jm_xmalloc(n + 1);
		memcpy(t->str, s, n);
		t->str[n] = '\0';
	}
	p->pos += n;
	return 0;
}

/* ---- literals -------------------------------------------------------- */

/* A decimal number, whole string: [+-] (D+ [. D*] | . D+) [(e|E) [+-] D+]. */
static int parse_number(const char *s, double *out)
{
	const char *q = s;
	if (*q == '+' || *q == '-')
		q++;
	size_t digits = 0;
	while (isdigit((unsigned char)*q))
		q++, digits++;
	if (*q == '.') {
		q++;
		while (isdigit((unsigned char)*q))
			q++, digits++;
	}
	if (digits == 0)
		return -1;
	if (*q == 'e' || *q == 'E') {
		q++;
		if (*q == '+' || *q == '-')
			q++;
		if (!isdigit((unsigned char)*q))
			return -1;
		while (isdigit((unsigned char)*q))
			q++;
	}
	if (*q != '\0')
		return -1;
	*out = strtod(s, NULL);
	return 0;
}

/* A date in local time: YYYY-MM-DD, optionally followed by (space or T)
 * HH:MM or HH:MM:SS. */
static int parse_date(const char *s, double *out)
{
	struct tm tm = {0};
	int y, mo, d, h = 0, mi = 0, sec = 0, used = 0;
	if (sscanf(s, "%4d-%2d-%2d%n", &y, &mo, &d, &used) != 3 || used != 10)
		return -1;
	const char *rest = s + used;
	if (*rest == ' ' || *rest == 'T') {
		int u2 = 0;
		if (sscanf(rest + 1, "%2d:%2d%n", &h, &mi, &u2) != 2 || u2 != 5)
			return -1;
		rest += 1 + u2;
		if (*rest == ':') {
			int u3 = 0;
			if (sscanf(rest + 1, "%2d%n", &sec, &u3) != 1 || u3 != 2)
				return -1;
			rest += 1 + u3;
		}
	}
	if (*rest != '\0' || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60 ||
	    h < 0 || mi < 0 || sec < 0)
		return -1;
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	tm.tm_isdst = -1;
	time_t t = mktime(&tm);
	if (t == (time_t)-1)
		return -1;
	*out = (double)t;
	return 0;
}

/* Seconds, or a number with one unit suffix: 90s 5m 1.5h 2d 1w. */
static int parse_duration(const char *s, double *out)
{
	if (parse_number(s, out) == 0)
		return 0;
	size_t n = strlen(s);
	if (n < 2)
		return -1;
	for (size_t i = 0; i < sizeof duration_units / sizeof duration_units[0]; i++) {
		if (s[n - 1] != duration_units[i].suffix)
			continue;
		char num[64];
		if (n - 1 >= sizeof num)
			return -1;
		memcpy(num, s, n - 1);
		num[n - 1] = '\0';
		if (parse_number(num, out) < 0)
			return -1;
		*out *= duration_units[i].seconds;
		return 0;
	}
	return -1;
}

/* ---- emitting -------------------------------------------------------- */

static void bind_push(parser *p, char type, double d, const char *t);

/* A metric's or param's key, bound and remembered (jm_query_unknown). */
static void key_push(parser *p, char kind, const char *key)
{
	bind_push(p, 't', 0, key);
	p->binds[p->nbinds - 1].key = kind;
}

static void bind_push(parser *p, char type, double d, const char *t)
{
	if (p->nbinds == p->capbinds) {
		p->capbinds = p->capbinds ? p->capbinds * 2 : 8;
		p->binds = jm_xrealloc(p->binds, (size_t)p->capbinds * sizeof *p->binds);
	}
	bindval *b = &p->binds[p->nbinds++];
	b->type = type;
	b->key = 0;
	b->d = d;
	b->t = t ? jm_xstrdup(t) : NULL;
}

enum okind { O_FIELD, O_PARAM, O_METRIC, O_TAG };

typedef struct operand {
	enum okind kind;
	const struct field *field; /* O_FIELD */
	const char *column;        /* O_METRIC: metric_summary column */
	char *key;                 /* O_PARAM, O_METRIC: the key (malloc'd) */
	size_t pos, len;           /* where it was written */
} operand;

typedef struct value {
	int is_number; /* an unquoted word that reads as a decimal number */
	double num;
	const char *text; /* the word or the unescaped string (borrowed) */
	size_t pos;
} value;

/* `name` as written, for messages. */
static void operand_name(const parser *p, const operand *o, char *out, size_t cap)
{
	int len = (int)(o->len > 40 ? 40 : o->len);
	snprintf(out, cap, "%.*s", len, p->src + o->pos);
}

/* A number for a numeric field, metric or time: an unquoted number, or text
 * that reads as one (or as a date or duration where the field takes them). */
static int value_number(parser *p, const operand *o, enum ftype type, const value *v, double *out)
{
	char name[64];
	operand_name(p, o, name, sizeof name);
	if (v->is_number) {
		*out = v->num;
		return 0;
	}
	if (parse_number(v->text, out) == 0)
		return 0;
	if (type == F_TIME && parse_date(v->text, out) == 0)
		return 0;
	if (type == F_DURATION && parse_duration(v->text, out) == 0)
		return 0;
	static const char *const expects[] = {
		[F_NUM] = "a number",
		[F_TEXT] = "text",
		[F_TIME] = "a Unix time or a date (YYYY-MM-DD, YYYY-MM-DD HH:MM[:SS])",
		[F_DURATION] = "seconds or a duration such as 90s, 5m, 2h, 1d",
	};
	return fail_at(p, v->pos, "%s: expected %s, got \"%.40s\"", name, expects[type], v->text);
}

static int emit_field(parser *p, const operand *o, enum op op, const value *v)
{
	const struct field *f = o->field;
	sbuf *b = &p->sql;
	sb_add(b, "IFNULL(");
	if (op == OP_GLOB || op == OP_NGLOB) {
		sb_add(b, op == OP_NGLOB ? "NOT " : "");
		sb_add(b, f->type == F_TEXT ? "" : "CAST(");
		sb_add(b, f->sql);
		sb_add(b, f->type == F_TEXT ? " GLOB ?" : " AS TEXT) GLOB ?");
		bind_push(p, 't', 0, v->text);
	} else if (f->type == F_TEXT) {
		sb_add(b, f->sql);
		sb_add(b, op_sql[op]);
		sb_add(b, "?");
		bind_push(p, 't', 0, v->text);
	} else {
		double d;
		if (value_number(p, o, f->type, v, &d) < 0)
			return -1;
		sb_add(b, f->sql);
		sb_add(b, op_sql[op]);
		sb_add(b, "?");
		bind_push(p, 'd', d, NULL);
	}
	sb_add(b, ", 0)");
	return 0;
}

static int emit_param(parser *p, const operand *o, enum op op, const value *v)
{
	sbuf *b = &p->sql;
	sb_add(b, "EXISTS (SELECT 1 FROM params p WHERE p.run = r.id AND p.key = ? AND ");
	key_push(p, 'p', o->key);
	if (op == OP_GLOB || op == OP_NGLOB) {
		sb_add(b, op == OP_NGLOB ? "NOT p.value GLOB ?)" : "p.value GLOB ?)");
		bind_push(p, 't', 0, v->text);
	} else if (v->is_number) {
		/* the ordered ops take part only for values that read as numbers
		 * (see the file comment for how the affinity check works) */
		if (op != OP_EQ && op != OP_NE)
			sb_add(b, "p.value <= CAST(1e999 AS REAL) AND ");
		sb_add(b, "p.value");
		sb_add(b, op_sql[op]);
		sb_add(b, "CAST(? AS REAL))");
		bind_push(p, 'd', v->num, NULL);
	} else {
		sb_add(b, "p.value");
		sb_add(b, op_sql[op]);
		sb_add(b, "?)");
		bind_push(p, 't', 0, v->text);
	}
	return 0;
}

static int emit_metric(parser *p, const operand *o, enum op op, const value *v)
{
	char name[64];
	operand_name(p, o, name, sizeof name);
	if (op == OP_GLOB || op == OP_NGLOB)
		return fail_at(p, o->pos, "%s: \"~\" matches text, and metrics are numbers", name);
	double d;
	if (value_number(p, o, F_NUM, v, &d) < 0)
		return -1;
	sbuf *b = &p->sql;
	sb_add(b, "EXISTS (SELECT 1 FROM metric_summary m WHERE m.run = r.id AND m.key = ? AND m.");
	sb_add(b, o->column);
	sb_add(b, op_sql[op]);
	sb_add(b, "?)");
	key_push(p, 'm', o->key);
	bind_push(p, 'd', d, NULL);
	return 0;
}

static int emit_tag(parser *p, const operand *o, enum op op, const value *v, size_t op_pos)
{
	static const struct {
		enum op op;
		const char *sql;
	} tag_ops[] = {
		{OP_EQ, "EXISTS (SELECT 1 FROM tags t WHERE t.run = r.id AND t.tag = ?)"},
		{OP_NE, "NOT EXISTS (SELECT 1 FROM tags t WHERE t.run = r.id AND t.tag = ?)"},
		{OP_GLOB, "EXISTS (SELECT 1 FROM tags t WHERE t.run = r.id AND t.tag GLOB ?)"},
		{OP_NGLOB, "NOT EXISTS (SELECT 1 FROM tags t WHERE t.run = r.id AND t.tag GLOB ?)"},
	};
	(void)o;
	for (size_t i = 0; i < sizeof tag_ops / sizeof tag_ops[0]; i++) {
		if (tag_ops[i].op != op)
			continue;
		sb_add(&p->sql, tag_ops[i].sql);
		bind_push(p, 't', 0, v->text);
		return 0;
	}
	return fail_at(p, op_pos, "tag: only = != ~ !~ apply to tags");
}

/* ---- parsing --------------------------------------------------------- */

static int valid_name(const char *s)
{
	if (!(isalpha((unsigned char)s[0]) || s[0] == '_'))
		return 0;
	for (const char *q = s + 1; *q; q++)
		if (!(isalnum((unsigned char)*q) || strchr("_.-/", *q)))
			return 0;
	return 1;
}

static int expected(parser *p, const char *what)
{
	char got[64];
	tok_describe(p, &p->tok, got, sizeof got);
	return fail_at(p, p->tok.pos, "expected %s, got %s", what, got);
}

/* operand: NAME | FUNC "(" NAME-or-string ")"; leaves the next token. */
static int parse_operand(parser *p, operand *o)
{
	memset(o, 0, sizeof *o);
	o->pos = p->tok.pos;
	if (p->tok.type != T_WORD)
		return expected(p, "a field, param or metric name");
	char *word = p->tok.str;
	p->tok.str = NULL;
	int rc = -1;
	size_t word_pos = p->tok.pos;
	if (lex_next(p) < 0)
		goto out;
	if (p->tok.type == T_LPAREN) {
		const struct func *fn = NULL;
		for (size_t i = 0; i < sizeof funcs / sizeof funcs[0]; i++)
			if (!strcasecmp(word, funcs[i].name))
				fn = &funcs[i];
		if (!fn) {
			fail_at(p, word_pos, "unknown function \"%.40s\" (use last, min, max, count or param)", word);
			goto out;
		}
		if (lex_next(p) < 0)
			goto out;
		if (p->tok.type != T_WORD && p->tok.type != T_STRING) {
			expected(p, fn->column ? "a metric name" : "a param name");
			goto out;
		}
		if (p->tok.str[0] == '\0') {
			fail_at(p, p->tok.pos, "expected a name, got an empty string");
			goto out;
		}
		o->key = p->tok.str;
		p->tok.str = NULL;
		o->kind = fn->column ? O_METRIC : O_PARAM;
		o->column = fn->column;
		if (lex_next(p) < 0)
			goto out;
		if (p->tok.type != T_RPAREN) {
			char what[96];
			snprintf(what, sizeof what, "\")\" to close \"%s(\"", fn->name);
			expected(p, what);
			goto out;
		}
		o->len = p->tok.pos + 1 - o->pos;
		if (lex_next(p) < 0)
			goto out;
		rc = 0;
		goto out;
	}
	o->len = strlen(word);
	if (!valid_name(word)) {
		fail_at(p, word_pos, "expected a field, param or metric name, got \"%.40s\"", word);
		goto out;
	}
	if (strchr(word, '.')) {
		o->kind = O_PARAM;
	} else if (!strcmp(word, "tag")) {
		o->kind = O_TAG;
	} else {
		o->kind = O_METRIC;
		o->column = "last";
		for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
			if (!strcmp(word, fields[i].name)) {
				o->kind = O_FIELD;
				o->field = &fields[i];
			}
	}
	o->key = word;
	word = NULL;
	rc = 0;
out:
	free(word);
	return rc;
}

static int parse_cmp(parser *p)
{
	operand o;
	int rc = -1;
	if (++p->terms > JM_QUERY_MAX_TERMS)
		return fail_at(p, p->tok.pos, "too many comparisons (at most %d)", JM_QUERY_MAX_TERMS);
	if (parse_operand(p, &o) < 0)
		goto out;
	char name[64], what[160];
	operand_name(p, &o, name, sizeof name);
	if (p->tok.type != T_OP) {
		snprintf(what, sizeof what, "an operator (= != < <= > >= ~ !~) after \"%s\"", name);
		expected(p, what);
		goto out;
	}
	enum op op = p->tok.op;
	size_t op_pos = p->tok.pos, op_len = p->tok.len;
	if (lex_next(p) < 0)
		goto out;
	if (p->tok.type != T_WORD && p->tok.type != T_STRING) {
		snprintf(what, sizeof what, "a value after \"%.*s\"", (int)op_len, p->src + op_pos);
		expected(p, what);
		goto out;
	}
	value v = {.text = p->tok.str, .pos = p->tok.pos};
	v.is_number = p->tok.type == T_WORD && parse_number(v.text, &v.num) == 0;
	switch (o.kind) {
	case O_FIELD: rc = emit_field(p, &o, op, &v); break;
	case O_PARAM: rc = emit_param(p, &o, op, &v); break;
	case O_METRIC: rc = emit_metric(p, &o, op, &v); break;
	case O_TAG: rc = emit_tag(p, &o, op, &v, op_pos); break;
	}
	if (rc == 0)
		rc = lex_next(p);
out:
	free(o.key);
	return rc;
}

static int parse_or(parser *p);

static int parse_not(parser *p)
{
	if (++p->depth > JM_QUERY_MAX_DEPTH)
		return fail_at(p, p->tok.pos, "expression nested too deeply (at most %d levels)",
			       JM_QUERY_MAX_DEPTH);
	int rc;
	if (p->tok.type == T_NOT) {
		sb_add(&p->sql, "NOT ");
		rc = lex_next(p) < 0 ? -1 : parse_not(p);
	} else if (p->tok.type == T_LPAREN) {
		/* no "(" in the SQL: parse_chain wraps every compound already */
		size_t open = p->tok.pos;
		rc = lex_next(p) < 0 ? -1 : parse_or(p);
		if (rc == 0 && p->tok.type != T_RPAREN) {
			char what[64];
			snprintf(what, sizeof what, "\")\" to close \"(\" at column %d",
				 column_of(p->src, open));
			rc = expected(p, what);
		}
		if (rc == 0)
			rc = lex_next(p);
	} else {
		rc = parse_cmp(p);
	}
	p->depth--;
	return rc;
}

/* Put "(" at offset start and ")" at the end: wraps what was emitted since
 * start, for an and/or of more than one operand (single operands stay bare,
 * which keeps SQLite's parser stack shallow). */
static void sb_wrap(sbuf *b, size_t start)
{
	size_t old_n = b->n;
	sb_add(b, "  "); /* room for the two parentheses */
	memmove(b->s + start + 1, b->s + start, old_n - start);
	b->s[start] = '(';
	b->s[b->n - 1] = ')';
}

/* and := not {"and" not};  or := and {"or" and} */
static int parse_chain(parser *p, enum ttype joiner, const char *sql_joiner,
		       int (*next_level)(parser *))
{
	size_t start = p->sql.n;
	int count = 1;
	if (next_level(p) < 0)
		return -1;
	while (p->tok.type == joiner) {
		sb_add(&p->sql, sql_joiner);
		if (lex_next(p) < 0 || next_level(p) < 0)
			return -1;
		count++;
	}
	if (count > 1)
		sb_wrap(&p->sql, start);
	return 0;
}

static int parse_and(parser *p)
{
	return parse_chain(p, T_AND, " AND ", parse_not);
}

static int parse_or(parser *p)
{
	return parse_chain(p, T_OR, " OR ", parse_and);
}

static int parse_filter(parser *p)
{
	if (lex_next(p) < 0)
		return -1;
	if (p->tok.type == T_END) {
		sb_add(&p->sql, "1");
		return 0;
	}
	if (parse_or(p) < 0)
		return -1;
	if (p->tok.type == T_RPAREN)
		return fail_at(p, p->tok.pos, "unmatched \")\"");
	if (p->tok.type != T_END)
		return expected(p, "\"and\", \"or\" or the end of the expression");
	return 0;
}

/* One sort key's value as an SQL expression (NULL when the run has none). */
static int emit_sort_key(parser *p, const operand *o)
{
	sbuf *b = &p->sql;
	switch (o->kind) {
	case O_FIELD:
		sb_add(b, o->field->sql);
		return 0;
	case O_PARAM:
		/* numeric values as numbers (they sort before text ones) */
		sb_add(b, "(SELECT CASE WHEN p.value <= CAST(1e999 AS REAL) THEN CAST(p.value AS REAL)"
			  " ELSE p.value END FROM params p WHERE p.run = r.id AND p.key = ?)");
		key_push(p, 'p', o->key);
		return 0;
	case O_METRIC:
		sb_add(b, "(SELECT m.");
		sb_add(b, o->column);
		sb_add(b, " FROM metric_summary m WHERE m.run = r.id AND m.key = ?)");
		key_push(p, 'm', o->key);
		return 0;
	case O_TAG:
		break;
	}
	return fail_at(p, o->pos, "cannot sort by tag");
}

static int parse_sort(parser *p)
{
	int first = 1;
	for (;;) {
		while (p->src[p->pos] == ' ' || p->src[p->pos] == '\t')
			p->pos++;
		int descending = 0;
		if (first && p->src[p->pos] == '\0') {
			sb_add(&p->sql, "r.id DESC");
			return 0;
		}
		if (p->src[p->pos] == '-' || p->src[p->pos] == '+')
			descending = p->src[p->pos++] == '-';
		if (++p->terms > JM_QUERY_MAX_TERMS)
			return fail_at(p, p->pos, "too many sort keys (at most %d)", JM_QUERY_MAX_TERMS);
		operand o;
		if (lex_next(p) < 0)
			return -1;
		if (parse_operand(p, &o) < 0) {
			free(o.key);
			return -1;
		}
		if (!first)
			sb_add(&p->sql, ", ");
		int rc = emit_sort_key(p, &o);
		free(o.key);
		if (rc < 0)
			return -1;
		sb_add(&p->sql, descending ? " DESC NULLS LAST" : " ASC NULLS LAST");
		first = 0;
		if (p->tok.type == T_END)
			return 0;
		if (p->tok.type != T_COMMA)
			return expected(p, "\",\" or the end of the sort keys");
	}
}

/* ---- API ------------------------------------------------------------- */

static void binds_free(bindval *b, int n)
{
	for (int i = 0; i < n; i++)
		free(b[i].t);
	free(b);
}

int jm_query_parse(const char *text, enum jm_query_kind kind, jm_query **out, int *column,
		   jm_err *err)
{
	parser p = {.src = text ? text : "", .err = err};
	*out = NULL;
	if (column)
		*column = 0;
	p.srclen = strlen(p.src);
	int rc;
	if (p.srclen > JM_QUERY_MAX_LEN)
		rc = fail_at(&p, JM_QUERY_MAX_LEN, "expression too long (at most %d bytes)",
			     JM_QUERY_MAX_LEN);
	else
		rc = kind == JM_QUERY_SORT ? parse_sort(&p) : parse_filter(&p);
	tok_clear(&p.tok);
	if (rc < 0) {
		if (column)
			*column = column_of(p.src, p.err_pos);
		free(p.sql.s);
		binds_free(p.binds, p.nbinds);
		return -1;
	}
	jm_query *q = jm_xcalloc(1, sizeof *q);
	q->sql = p.sql.s;
	q->binds = p.binds;
	q->nbinds = p.nbinds;
	*out = q;
	return 0;
}

int jm_query_compile(const char *expr, jm_query **out, jm_err *err)
{
	return jm_query_parse(expr, JM_QUERY_FILTER, out, NULL, err);
}

int jm_query_compile_sort(const char *keys, jm_query **out, jm_err *err)
{
	return jm_query_parse(keys, JM_QUERY_SORT, out, NULL, err);
}

const char *jm_query_sql(const jm_query *q)
{
	return q->sql;
}

int jm_query_nparams(const jm_query *q)
{
	return q ? q->nbinds : 0;
}

int jm_query_bind(const jm_query *q, sqlite3_stmt *st, int first_index, jm_err *err)
{
	for (int i = 0; q && i < q->nbinds; i++) {
		const bindval *b = &q->binds[i];
		int rc = b->type == 't'
			? sqlite3_bind_text(st, first_index + i, b->t, -1, SQLITE_TRANSIENT)
			: sqlite3_bind_double(st, first_index + i, b->d);
		if (rc != SQLITE_OK)
			return jm_err_set(err, JM_EXIT_FAIL, "query: binding value %d: %s", i + 1,
					  sqlite3_errstr(rc));
	}
	return 0;
}

int jm_query_unknown(const jm_query *q, sqlite3 *db, char *buf, size_t n)
{
	buf[0] = '\0';
	size_t off = 0;
	int found = 0;
	for (int i = 0; q && i < q->nbinds; i++) {
		const bindval *b = &q->binds[i];
		if (!b->key)
			continue;
		sqlite3_stmt *st = NULL;
		const char *sql = b->key == 'm'
					  ? "SELECT 1 FROM metric_summary WHERE key = ? LIMIT 1"
					  : "SELECT 1 FROM params WHERE key = ? LIMIT 1";
		if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
			sqlite3_finalize(st);
			continue;
		}
		sqlite3_bind_text(st, 1, b->t, -1, SQLITE_STATIC);
		int has = sqlite3_step(st) == SQLITE_ROW;
		sqlite3_finalize(st);
		int seen = 0;
		for (int j = 0; j < i && !seen; j++)
			seen = q->binds[j].key == b->key && !strcmp(q->binds[j].t, b->t);
		if (has || seen)
			continue;
		found++;
		if (off < n)
			off += (size_t)snprintf(buf + off, n - off, "%sno run has a %s \"%s\"",
						off ? "; " : "", b->key == 'm' ? "metric" : "param", b->t);
	}
	return found;
}

void jm_query_free(jm_query *q)
{
	if (!q)
		return;
	free(q->sql);
	binds_free(q->binds, q->nbinds);
	free(q);
}

int jm_query_run_ids(sqlite3 *db, const jm_query *filter, const jm_query *sort, long limit,
		     int64_t **ids, size_t *n, jm_err *err)
{
	*ids = NULL;
	*n = 0;
	char *sql = jm_xasprintf("SELECT r.id FROM runs r WHERE %s ORDER BY %s%sr.id DESC LIMIT ?",
				 filter ? filter->sql : "1", sort ? sort->sql : "",
				 sort ? ", " : "");
	sqlite3_stmt *st = NULL;
	int rc = -1;
	size_t cap = 0;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
		jm_err_set(err, JM_EXIT_FAIL, "query: %s", sqlite3_errmsg(db));
		goto out;
	}
	int nf = jm_query_nparams(filter);
	if (jm_query_bind(filter, st, 1, err) < 0 || jm_query_bind(sort, st, 1 + nf, err) < 0)
		goto out;
	sqlite3_bind_int64(st, 1 + nf + jm_query_nparams(sort), limit > 0 ? limit : -1);
	int step;
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		if (*n == cap) {
			cap = cap ? cap * 2 : 64;
			*ids = jm_xrealloc(*ids, cap * sizeof **ids);
		}
		(*ids)[(*n)++] = sqlite3_column_int64(st, 0);
	}
	if (step != SQLITE_DONE) {
		jm_err_set(err, JM_EXIT_FAIL, "query: %s", sqlite3_errmsg(db));
		goto out;
	}
	rc = 0;
out:
	if (rc < 0) {
		free(*ids);
		*ids = NULL;
		*n = 0;
	}
	sqlite3_finalize(st);
	free(sql);
	return rc;
}

int jm_query_metric_maximize(const char *key)
{
	static const char *const better_high[] = {"acc", "auc", "f1", "precision", "recall", "iou",
						  "samples_per_s"};
	for (size_t i = 0; i < sizeof better_high / sizeof better_high[0]; i++)
		if (strcasestr(key, better_high[i]))
			return 1;
	/* r2 only as a whole word at the end (val_r2), not inside a name */
	size_t n = strlen(key);
	return n >= 2 && !strcasecmp(key + n - 2, "r2") && (n == 2 || key[n - 3] == '_');
}
