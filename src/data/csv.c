/*
 * csv.c: the CSV reader (see csv.h for what it accepts and produces).
 *
 *   buf ─▶ prologue: BOM, UTF-16/NUL check, line ending, delimiter sniff,
 *          header (read_record, the slow exact tokenizer)
 *       ─▶ scan(): 64 bytes at a time, bit masks of delimiter / newline /
 *          quote / high bytes.  A block without quotes, outside a quoted
 *          field, is walked separator bit by separator bit; any other
 *          block goes through the byte state machine
 *              OUT ──'"' at field start──▶ IN_Q ──'"'──▶ Q_END
 *              Q_END ──'"'──▶ IN_Q (escaped quote)    Q_END ──else──▶ OUT
 *          Both paths call on_sep() with the raw field span; high bytes
 *          trigger UTF-8 validation of just that stretch.
 *       ─▶ on_field(): the column's current parser (kind); a value that
 *          does not fit widens the kind (int ─▶ float) or marks the column
 *          for a second, text-only pass (numbers + text ─▶ text, noted)
 *       ─▶ finish(): slot arrays become typed columns of the frame
 *
 * Values are parsed straight into one 8-byte slot per row per column, so
 * a kind change never moves data; the frame gets the final, narrower
 * arrays at the end.  Errors are rare, so their locations (line, field)
 * are found afterwards by re-reading from the start (locate()).
 */
#include "data/csv.h"

#include <errno.h>
#include <inttypes.h>
#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

const char *const jm_csv_default_na[] = {
	"", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND",
	"1.#QNAN", "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null", NULL,
};

void jm_csv_opts_init(jm_csv_opts *o)
{
	memset(o, 0, sizeof *o);
	o->header = 1;
	o->keep_default_na = 1;
	o->infer_dates = 1;
	o->infer_bool = 1;
}

void jm_csv_info_clear(jm_csv_info *info)
{
	if (!info)
		return;
	for (int i = 0; i < info->n_notes; i++)
		free(info->notes[i]);
	free(info->notes);
	memset(info, 0, sizeof *info);
}

/* ---- numbers --------------------------------------------------------- */

static const double pow10_exact[23] = {
	1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
	1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
};

static const uint64_t pow10_u64[9] = {1, 10, 100, 1000, 10000, 100000, 1000000, 10000000,
				      100000000};

static pthread_once_t c_locale_once = PTHREAD_ONCE_INIT;
static locale_t c_locale;

static void c_locale_init(void)
{
	c_locale = newlocale(LC_ALL_MASK, "C", (locale_t)0);
}

static inline int is_space(char c)
{
	return c == ' ' || c == '\t';
}

static int match_inf(const char *s, size_t n)
{
	return (n == 3 && strncasecmp(s, "inf", 3) == 0) ||
	       (n == 8 && strncasecmp(s, "infinity", 8) == 0);
}

/* The exact slow path: strtod in the C locale on a NUL-terminated copy. */
static int slow_double(const char *s, size_t n, double *v)
{
	char small[80], *t = n < sizeof small ? small : malloc(n + 1);
	if (!t)
		return 0;
	memcpy(t, s, n);
	t[n] = '\0';
	pthread_once(&c_locale_once, c_locale_init);
	char *end;
	errno = 0;
	double x = c_locale ? strtod_l(t, &end, c_locale) : strtod(t, &end);
	int ok = end == t + n && !(errno == ERANGE && isinf(x));
	if (t != small)
		free(t);
	if (ok)
		*v = x;
	return ok;
}

/* SWAR digits: how many of the 8 bytes in x (first byte lowest) lead
 * with '0'..'9', and the value of the first k of them. */
static inline int lead_digits(uint64_t x)
{
	/* t = byte - '0' (a borrow only disturbs bytes after a non-digit);
	 * a byte is a digit when t < 10: neither t nor t + 0x76 has its high
	 * bit set (a carry, again, only reaches later bytes) */
	uint64_t t = x - 0x3030303030303030ull;
	uint64_t bad = (t | (t + 0x7676767676767676ull)) & 0x8080808080808080ull;
	return bad ? __builtin_ctzll(bad) >> 3 : 8;
}

static inline uint64_t digits_value(uint64_t x, int k)
{
	x = (x - 0x3030303030303030ull) << (8 * (8 - k));
	x = (x * 10) + (x >> 8);
	x = (((x & 0x000000ff000000ffull) * (100 + (1000000ull << 32))) +
	     (((x >> 16) & 0x000000ff000000ffull) * (1 + (10000ull << 32)))) >> 32;
	return (uint32_t)x;
}

/* Digits from s[*i]: with 8 readable bytes, 8 at a time; returns count. */
static inline size_t scan_digits(const char *s, size_t n, size_t *i, const char *limit,
				 uint64_t *m)
{
	size_t i0 = *i, j = *i;
	while (s + j + 8 <= limit) {
		uint64_t x;
		memcpy(&x, s + j, 8);
		int k = lead_digits(x);
		if (j + (size_t)k > n)
			k = (int)(n - j);
		if (k)
			*m = *m * pow10_u64[k] + digits_value(x, k);
		j += (size_t)k;
		if (k < 8)
			goto done;
	}
	for (unsigned d; j < n && (d = (unsigned)(s[j] - '0')) <= 9; j++)
		*m = *m * 10 + d;
done:
	*i = j;
	return j - i0;
}

/* The common shapes "-12", "-12.345", "12.", ".5" with at most 8 digits
 * on each side, read with two 8-byte loads and no loop: 1 and *v, or 0
 * when the field has another shape (the general parser decides). */
static inline int short_decimal(const char *s, size_t n, double *v)
{
	int neg = s[0] == '-';
	size_t i = (size_t)(neg | (s[0] == '+'));
	uint64_t x, y;
	memcpy(&x, s + i, 8);
	size_t k1 = (size_t)lead_digits(x), k2 = 0;
	uint64_t m = k1 ? digits_value(x, (int)k1) : 0;
	if (k1 == 8)
		return 0;
	i += k1;
	if (i < n && s[i] == '.') {
		memcpy(&y, s + i + 1, 8);
		k2 = (size_t)lead_digits(y);
		if (k2 == 8)
			return 0;
		if (k2)
			m = m * pow10_u64[k2] + digits_value(y, (int)k2);
		i += 1 + k2;
	}
	if (i != n || k1 + k2 == 0)
		return 0;
	double d = (double)m / pow10_exact[k2]; /* m < 10^16 < 2^53: exact, one rounding */
	uint64_t bits;
	memcpy(&bits, &d, sizeof bits);
	bits |= (uint64_t)neg << 63; /* d >= 0: setting the sign bit negates */
	memcpy(v, &bits, sizeof bits);
	return 1;
}

/* Decimal grammar: [sign] digits [. digits] [e|E [sign] digits], or
 * [sign] inf / infinity; at least one digit in the mantissa.  Bytes up
 * to limit (>= s + n) may be read. */
static inline __attribute__((always_inline)) int parse_double_lim(const char *s, size_t n,
								   const char *limit, double *v)
{
	if (n >= 1 && s + 18 <= limit && short_decimal(s, n, v))
		return 1;
	size_t i = 0;
	if (__builtin_expect(n && (is_space(s[0]) || is_space(s[n - 1])), 0)) {
		while (i < n && is_space(s[i]))
			i++;
		while (n > i && is_space(s[n - 1]))
			n--;
	}
	size_t start = i;
	int neg = 0;
	if (i < n && (s[i] == '-' || s[i] == '+'))
		neg = s[i++] == '-';
	uint64_t m = 0;
	unsigned d;
	size_t ndig = scan_digits(s, n, &i, limit, &m);
	int exp = 0;
	if (i < n && s[i] == '.') {
		i++;
		size_t nf = scan_digits(s, n, &i, limit, &m);
		ndig += nf;
		exp = -(int)nf;
	}
	if (!ndig) {
		if (match_inf(s + i, n - i)) {
			*v = neg ? -INFINITY : INFINITY;
			return 1;
		}
		return 0;
	}
	if (i < n) {
		if (s[i] != 'e' && s[i] != 'E')
			return 0;
		i++;
		int eneg = 0, e = 0;
		if (i < n && (s[i] == '-' || s[i] == '+'))
			eneg = s[i++] == '-';
		size_t e0 = i;
		for (; i < n && (d = (unsigned)(s[i] - '0')) <= 9; i++)
			if (e < 100000)
				e = e * 10 + (int)d;
		if (i == e0 || i != n)
			return 0;
		exp += eneg ? -e : e;
	}
	if (__builtin_expect(ndig <= 19 && m <= (1ull << 53) && exp >= -22 && exp <= 22, 1)) {
		double x = (double)m;
		x = exp < 0 ? x / pow10_exact[-exp] : x * pow10_exact[exp];
		*v = neg ? -x : x;
		return 1;
	}
	/* more than 19 digits (m wrapped), or beyond the exact powers */
	return slow_double(s + start, n - start, v);
}

static inline int parse_double(const char *s, size_t n, double *v)
{
	return parse_double_lim(s, n, s + n, v);
}

int jm_csv_parse_double(const char *s, size_t n, double *v)
{
	return parse_double(s, n, v);
}

static inline int parse_int_general(const char *s, size_t n, int64_t *v)
{
	size_t i = 0;
	while (i < n && is_space(s[i]))
		i++;
	int neg = 0;
	if (i < n && (s[i] == '-' || s[i] == '+'))
		neg = s[i++] == '-';
	size_t d0 = i;
	uint64_t x = 0;
	unsigned d;
	for (; i < n && (d = (unsigned)(s[i] - '0')) <= 9; i++) {
		if (x > (UINT64_MAX - 9) / 10)
			return 0;
		x = x * 10 + d;
	}
	if (i == d0)
		return 0;
	while (i < n && is_space(s[i]))
		i++;
	if (i != n || x > (uint64_t)INT64_MAX + neg)
		return 0;
	*v = neg ? (x == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)x) : (int64_t)x;
	return 1;
}

/* Up to 8 digits with an optional sign, one load; else the general loop.
 * Bytes up to limit (>= s + n) may be read. */
static inline __attribute__((always_inline)) int parse_int_lim(const char *s, size_t n,
							       const char *limit, int64_t *v)
{
	if (n >= 1 && s + 9 <= limit) {
		int neg = s[0] == '-';
		size_t i = (size_t)(neg | (s[0] == '+'));
		uint64_t x;
		memcpy(&x, s + i, 8);
		size_t k = (size_t)lead_digits(x);
		if (k && k < 8 && i + k == n) {
			int64_t d = (int64_t)digits_value(x, (int)k), sign = -(int64_t)neg;
			*v = (d ^ sign) - sign; /* -d when neg */
			return 1;
		}
	}
	return parse_int_general(s, n, v);
}

static inline int parse_int(const char *s, size_t n, int64_t *v)
{
	return parse_int_general(s, n, v);
}

int jm_csv_parse_int(const char *s, size_t n, int64_t *v)
{
	return parse_int(s, n, v);
}

/* 1 true, 0 false, -1 neither (pandas' true/false values). */
static int parse_bool(const char *s, size_t n)
{
	if (n == 4 && (!memcmp(s, "True", 4) || !memcmp(s, "TRUE", 4) || !memcmp(s, "true", 4)))
		return 1;
	if (n == 5 && (!memcmp(s, "False", 5) || !memcmp(s, "FALSE", 5) || !memcmp(s, "false", 5)))
		return 0;
	return -1;
}

/* ---- dates ----------------------------------------------------------- */

static inline int two(const char *s, unsigned *v)
{
	unsigned a = (unsigned)(s[0] - '0'), b = (unsigned)(s[1] - '0');
	*v = a * 10 + b;
	return a <= 9 && b <= 9;
}

/* ISO date-times, with the date of the previous value remembered: time
 * stamps in a file are usually sorted, so most share the day before. */
static int parse_date_cached(char ymd[10], int64_t *day_ns, const char *s, size_t n, int64_t *ns)
{
	if (n >= 10 && *day_ns != INT64_MIN && memcmp(s, ymd, 10) == 0) {
		unsigned h, mi, sec;
		if (n == 10) {
			*ns = *day_ns;
			return 0;
		}
		if (n == 19 && (s[10] == 'T' || s[10] == ' ') && s[13] == ':' && s[16] == ':' &&
		    two(s + 11, &h) && two(s + 14, &mi) && two(s + 17, &sec) && h < 24 && mi < 60 &&
		    sec < 60) {
			*ns = *day_ns + ((int64_t)h * 3600 + mi * 60 + sec) * 1000000000;
			return 0;
		}
	}
	if (jm_parse_datetime(s, n, ns) < 0)
		return -1;
	int64_t d;
	if (jm_parse_datetime(s, 10, &d) == 0) {
		memcpy(ymd, s, 10);
		*day_ns = d;
	}
	return 0;
}

/* ---- the parser ------------------------------------------------------ */

enum kind { K_SKIP, K_UNKNOWN, K_INT, K_FLOAT, K_BOOL, K_DATE, K_TEXT };

static const char *const kind_plural[] = {
	[K_INT] = "numbers", [K_FLOAT] = "numbers", [K_BOOL] = "booleans", [K_DATE] = "dates",
	[K_TEXT] = "text values",
};

typedef struct colst {
	int kind;
	int64_t *v;       /* cap slots: int64, double bits, ns, code or bool */
	uint8_t *na;      /* cap bytes, or NULL */
	int64_t n_na;
	jm_dict *dict;
	int reread;       /* fell back to text: read again in the second pass */
	/* the last date seen, for sorted time stamps: "YYYY-MM-DD" → ns */
	char ymd[10];
	int64_t day_ns;
} colst;

enum state { OUT, IN_Q, Q_END };

typedef struct parser {
	const char *buf;
	size_t n, data0;  /* data0: first byte after the header */
	char delim, nl;
	int trim_cr;
	int ncols;
	char **names;
	colst *cs;
	int64_t rows, cap;
	int64_t max_field;
	int infer_dates, infer_bool;
	/* NA tokens: na_tok[k] of length na_len[k]; any_empty: "" is NA */
	const char **na_tok;
	size_t *na_len;
	int n_na;
	int empty_na;
	int na_first;     /* some token reads as a number: check tokens first */
	size_t na_maxlen;
	uint64_t na_lead[4]; /* bit c: some token starts with byte c */
	/* scan state */
	int state, col, quoted;
	size_t fs, row_start;
	size_t utf8_ok, utf8_bad;
	char *scratch;
	size_t scratch_cap;
	const char *lim;  /* the current field's bytes may be read up to here */
	int clean_end;    /* see scan() */
	int sequential;   /* read the parts one after another (tests) */
	int strict;       /* short rows are errors (else padded with missing) */
	char comment;     /* lines starting with it are skipped; 0: none */
	int in_comment;
	int64_t short_rows;    /* rows padded with missing fields */
	size_t first_short;    /* where the first of them starts */
	int first_short_fields;
	int cut_fields;        /* the last row, short and without a newline
				* (a file cut off): its fields; 0: none */
	size_t cut_at;         /* where that row starts */
	size_t from, to;  /* the part of the file this parser reads */
	int64_t base;     /* its first row in the shared slot arrays */
	int64_t **slots;  /* per column, rows of 8-byte slots shared by all parts */
	jm_err own_err;   /* a worker's error */
	int rc;
	const char *name;
	jm_err *err;
} parser;

/* Find the line and field (1-based) of byte offset off, reading records
 * from the start of the data. */
static void locate(const parser *p, size_t off, int64_t *line, int *field)
{
	int64_t ln = 1;
	for (size_t i = 0; i < p->data0 && i < off; i++)
		ln += p->buf[i] == '\n' || (p->nl == '\r' && p->buf[i] == '\r');
	int st = OUT, fld = 1;
	size_t fs = p->data0;
	for (size_t i = p->data0; i < off && i < p->n; i++) {
		char c = p->buf[i];
		if (c == p->nl)
			ln++;
		switch (st) {
		case OUT:
			if (c == p->delim) {
				fld++;
				fs = i + 1;
			} else if (c == p->nl) {
				fld = 1;
				fs = i + 1;
			} else if (c == '"' && i == fs) {
				st = IN_Q;
			}
			break;
		case IN_Q:
			if (c == '"')
				st = Q_END;
			break;
		default:
			st = c == '"' ? IN_Q : OUT;
			if (c == p->delim) {
				fld++;
				fs = i + 1;
			} else if (c == p->nl) {
				fld = 1;
				fs = i + 1;
			}
		}
	}
	*line = ln;
	*field = fld;
}

static int64_t line_of(const parser *p, size_t off)
{
	int64_t line;
	int field;
	locate(p, off, &line, &field);
	return line;
}

static const char *col_name(const parser *p, int j)
{
	return j < p->ncols ? p->names[j] : "?";
}

static int fail_at(parser *p, size_t off, const char *what)
{
	int64_t line;
	int field;
	locate(p, off, &line, &field);
	return jm_err_set(p->err, JM_EXIT_INPUT, "%s:%" PRId64 ": field %d (\"%s\"): %s", p->name,
			  line, field, col_name(p, field - 1), what);
}

/* Validate [from, to) (from p->utf8_ok on); the first bad byte is only
 * remembered in utf8_bad, and reported when the field holding it ends,
 * so that errors come out in file order however the file was split. */
static void utf8_check(parser *p, size_t from, size_t to)
{
	if (from < p->utf8_ok)
		from = p->utf8_ok;
	if (p->utf8_bad != SIZE_MAX)
		return;
	const unsigned char *b = (const unsigned char *)p->buf;
	size_t i = from;
	while (i < to) {
		if (b[i] < 0x80) {
			i++;
			continue;
		}
		int len = jm_utf8_seq(b + i, p->n - i);
		if (!len) {
			p->utf8_bad = i;
			return;
		}
		i += (size_t)len;
	}
	p->utf8_ok = i;
}

static int fail_utf8(parser *p)
{
	char what[64];
	snprintf(what, sizeof what, "invalid UTF-8 (byte 0x%02x)",
		 (unsigned char)p->buf[p->utf8_bad]);
	return fail_at(p, p->utf8_bad, what);
}

static int is_na(const parser *p, const char *s, size_t n)
{
	if (n == 0)
		return p->empty_na;
	unsigned char c0 = (unsigned char)s[0];
	if (n > p->na_maxlen || !(p->na_lead[c0 >> 6] >> (c0 & 63) & 1))
		return 0;
	for (int k = 0; k < p->n_na; k++)
		if (p->na_len[k] == n && memcmp(p->na_tok[k], s, n) == 0)
			return 1;
	return 0;
}

static int set_na(parser *p, colst *c)
{
	if (!c->na) {
		c->na = calloc((size_t)p->cap, 1);
		if (!c->na)
			return jm_err_set(p->err, JM_EXIT_FAIL, "%s: out of memory", p->name);
	}
	c->na[p->rows] = 1;
	c->n_na++;
	return 0;
}

static inline void put_f64(colst *c, int64_t r, double x)
{
	memcpy(&c->v[r], &x, sizeof x);
}

/* int slots → double slots (missing → NaN) for rows before r. */
static void ints_to_floats(colst *c, int64_t r)
{
	for (int64_t i = 0; i < r; i++)
		put_f64(c, i, c->na && c->na[i] ? NAN : (double)c->v[i]);
	c->kind = K_FLOAT;
}

/* Which kind a first value announces. */
static int kind_of(const parser *p, const char *s, size_t n, int64_t *slot)
{
	int64_t iv;
	double dv;
	int b;
	if (parse_int(s, n, &iv)) {
		*slot = iv;
		return K_INT;
	}
	if (parse_double(s, n, &dv)) {
		memcpy(slot, &dv, sizeof dv);
		return K_FLOAT;
	}
	if (p->infer_bool && (b = parse_bool(s, n)) >= 0) {
		*slot = b;
		return K_BOOL;
	}
	if (p->infer_dates && jm_parse_datetime(s, n, slot) == 0)
		return K_DATE;
	return K_TEXT;
}

/* A value that does not fit column j's kind: the column will be text. */
static void to_text_later(colst *c)
{
	c->reread = 1;
	c->kind = K_SKIP;
}

static int intern(parser *p, colst *c, const char *s, size_t n)
{
	int32_t k = jm_dict_intern(c->dict, s, n);
	if (k < 0)
		return jm_err_set(p->err, JM_EXIT_INPUT, "%s: too many distinct values", p->name);
	c->v[p->rows] = k;
	return 0;
}

static const char *unquote(parser *p, const char *t, size_t n, size_t *out_n)
{
	if (n + 8 > p->scratch_cap) {
		char *s = realloc(p->scratch, n + 8);
		if (!s)
			return NULL;
		p->scratch = s;
		p->scratch_cap = n + 8;
	}
	char *o = p->scratch;
	size_t k = 0;
	int inq = 1;
	for (size_t i = 1; i < n; i++) {
		char c = t[i];
		if (inq && c == '"') {
			if (i + 1 < n && t[i + 1] == '"')
				o[k++] = t[++i];
			else
				inq = 0;
		} else {
			o[k++] = c;
		}
	}
	memset(o + k, 0, 8); /* the number parsers may look 8 bytes ahead */
	*out_n = k;
	return o;
}

static int on_field(parser *p, int j, const char *t, size_t n)
{
	colst *c = &p->cs[j];
	int64_t r = p->rows;
	if (__builtin_expect(p->na_first, 0) && c->kind != K_SKIP && is_na(p, t, n)) {
		c->v[r] = 0;
		if (c->kind == K_FLOAT)
			put_f64(c, r, NAN);
		else if (c->kind == K_TEXT)
			c->v[r] = -1;
		return set_na(p, c);
	}
	switch (c->kind) {
	case K_FLOAT: {
		double x;
		if (parse_double_lim(t, n, p->lim, &x)) {
			int64_t iv;
			/* "-0" reads as the integer 0 in an int column; the same
			 * here, so a value never depends on when the column widened */
			if (__builtin_expect(x == 0, 0) && signbit(x) && parse_int(t, n, &iv))
				x = 0;
			put_f64(c, r, x);
			return 0;
		}
		if (is_na(p, t, n)) {
			put_f64(c, r, NAN);
			return set_na(p, c);
		}
		to_text_later(c);
		return 0;
	}
	case K_INT: {
		int64_t x;
		double d;
		if (parse_int_lim(t, n, p->lim, &x)) {
			c->v[r] = x;
			return 0;
		}
		if (is_na(p, t, n)) {
			c->v[r] = 0;
			return set_na(p, c);
		}
		if (parse_double_lim(t, n, p->lim, &d)) {
			ints_to_floats(c, r);
			put_f64(c, r, d);
			return 0;
		}
		to_text_later(c);
		return 0;
	}
	case K_TEXT:
		if (is_na(p, t, n)) {
			c->v[r] = -1;
			return set_na(p, c);
		}
		return intern(p, c, t, n);
	case K_BOOL: {
		int b = parse_bool(t, n);
		if (b >= 0) {
			c->v[r] = b;
			return 0;
		}
		if (is_na(p, t, n)) {
			c->v[r] = 0;
			return set_na(p, c);
		}
		to_text_later(c);
		return 0;
	}
	case K_DATE:
		if (parse_date_cached(c->ymd, &c->day_ns, t, n, &c->v[r]) == 0)
			return 0;
		if (is_na(p, t, n)) {
			c->v[r] = 0;
			return set_na(p, c);
		}
		to_text_later(c);
		return 0;
	case K_UNKNOWN: {
		if (is_na(p, t, n)) {
			c->v[r] = 0;
			return set_na(p, c);
		}
		int64_t slot;
		int k = kind_of(p, t, n, &slot);
		/* rows before r are all missing */
		for (int64_t i = 0; i < r; i++) {
			if (k == K_FLOAT)
				put_f64(c, i, NAN);
			else
				c->v[i] = k == K_TEXT ? -1 : 0;
		}
		c->kind = k;
		if (k == K_TEXT) {
			c->dict = jm_dict_new();
			return intern(p, c, t, n);
		}
		c->v[r] = slot;
		return 0;
	}
	default:
		return 0;
	}
}

static int blank(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!is_space(s[i]))
			return 0;
	return 1;
}

static int end_row(parser *p, size_t pos);

/* A separator at pos ends the field [fs, pos); isnl: it also ends the row.
 * Inlined into the quote-free block loop; on_sep() below for the rest. */
static inline __attribute__((always_inline)) int on_sep_inline(parser *p, size_t fs, size_t pos,
							       int isnl)
{
	if (__builtin_expect(pos > p->utf8_bad, 0))
		return fail_utf8(p);
	if (__builtin_expect(p->comment != 0, 0)) {
		if (p->col == 0 && !p->in_comment && !p->quoted && fs < p->n && p->buf[fs] == p->comment)
			p->in_comment = 1;
		if (p->in_comment) {
			p->quoted = 0;
			if (isnl) {
				p->in_comment = 0;
				p->row_start = pos + 1;
			}
			return 0;
		}
	}
	size_t e = pos;
	if (isnl && p->trim_cr && e > fs && p->buf[e - 1] == '\r')
		e--;
	int quoted = p->quoted;
	p->quoted = 0;
	if (isnl && p->col == 0 && !quoted && blank(p->buf + fs, e - fs)) {
		p->row_start = pos + 1;
		return 0;
	}
	if (p->col < p->ncols) {
		const char *t = p->buf + fs;
		size_t n = e - fs;
		if ((int64_t)n > p->max_field) {
			char what[96];
			snprintf(what, sizeof what, "longer than the %" PRId64 "-byte limit",
				 p->max_field);
			return fail_at(p, fs, what);
		}
		p->lim = p->buf + p->n;
		if (quoted) {
			if (!(t = unquote(p, t, n, &n)))
				return jm_err_set(p->err, JM_EXIT_FAIL, "%s: out of memory", p->name);
			p->lim = p->scratch + p->scratch_cap;
		}
		if (on_field(p, p->col, t, n) < 0)
			return -1;
	}
	if (!isnl) {
		p->col++;
		return 0;
	}
	return end_row(p, pos);
}

static __attribute__((noinline)) int on_sep(parser *p, size_t fs, size_t pos, int isnl)
{
	return on_sep_inline(p, fs, pos, isnl);
}

/* A row with fewer fields than the header: the rest are missing (pandas). */
static int pad_row(parser *p)
{
	if (p->short_rows++ == 0) {
		p->first_short = p->row_start;
		p->first_short_fields = p->col + 1;
	}
	for (int j = p->col + 1; j < p->ncols; j++) {
		colst *c = &p->cs[j];
		if (c->kind == K_SKIP)
			continue;
		if (c->kind == K_FLOAT)
			put_f64(c, p->rows, NAN);
		else
			c->v[p->rows] = c->kind == K_TEXT ? -1 : 0;
		if (set_na(p, c) < 0)
			return -1;
	}
	return 0;
}

static int end_row(parser *p, size_t pos)
{
	if (p->col < p->ncols - 1 && !p->strict) {
		if (pad_row(p) < 0)
			return -1;
	} else if (p->col != p->ncols - 1) {
		return jm_err_set(p->err, JM_EXIT_INPUT, "%s:%" PRId64 ": expected %d fields, found %d",
				  p->name, line_of(p, p->row_start), p->ncols, p->col + 1);
	}
	p->col = 0;
	p->row_start = pos + 1;
	if (++p->rows > p->cap) /* cannot happen: cap counts the newlines */
		return jm_err_set(p->err, JM_EXIT_FAIL, "%s: internal error: more rows than lines",
				  p->name);
	return 0;
}

/* Masks of the delimiter, newline, quote and high-bit bytes in b[0..64). */
static inline void block_masks(const char *b, char delim, char nl, uint64_t *md, uint64_t *mn,
			       uint64_t *mq, uint64_t *mh)
{
#ifdef __SSE2__
	__m128i vd = _mm_set1_epi8(delim), vn = _mm_set1_epi8(nl), vq = _mm_set1_epi8('"');
	uint64_t d = 0, n = 0, q = 0, h = 0;
	for (int k = 0; k < 4; k++) {
		__m128i x = _mm_loadu_si128((const __m128i *)(const void *)(b + 16 * k));
		d |= (uint64_t)(uint16_t)_mm_movemask_epi8(_mm_cmpeq_epi8(x, vd)) << (16 * k);
		n |= (uint64_t)(uint16_t)_mm_movemask_epi8(_mm_cmpeq_epi8(x, vn)) << (16 * k);
		q |= (uint64_t)(uint16_t)_mm_movemask_epi8(_mm_cmpeq_epi8(x, vq)) << (16 * k);
		h |= (uint64_t)(uint16_t)_mm_movemask_epi8(x) << (16 * k);
	}
	*md = d, *mn = n, *mq = q, *mh = h;
#else
	uint64_t d = 0, n = 0, q = 0, h = 0;
	for (int k = 0; k < 64; k++) {
		d |= (uint64_t)(b[k] == delim) << k;
		n |= (uint64_t)(b[k] == nl) << k;
		q |= (uint64_t)(b[k] == '"') << k;
		h |= (uint64_t)((unsigned char)b[k] >> 7) << k;
	}
	*md = d, *mn = n, *mq = q, *mh = h;
#endif
}

/* The byte state machine over b[i0..i1) of the buffer. */
static int scan_bytes(parser *p, size_t i0, size_t i1)
{
	const char *b = p->buf;
	char delim = p->delim, nl = p->nl;
	for (size_t i = i0; i < i1; i++) {
		char c = b[i];
		switch (p->state) {
		case OUT:
			if (c == delim || c == nl) {
				if (on_sep(p, p->fs, i, c == nl) < 0)
					return -1;
				p->fs = i + 1;
			} else if (c == '"' && i == p->fs) {
				p->state = IN_Q;
				p->quoted = 1;
			}
			break;
		case IN_Q:
			if (c == '"')
				p->state = Q_END;
			break;
		case Q_END:
			if (c == '"') {
				p->state = IN_Q;
				break;
			}
			p->state = OUT;
			if (c == delim || c == nl) {
				if (on_sep(p, p->fs, i, c == nl) < 0)
					return -1;
				p->fs = i + 1;
			}
			break;
		}
	}
	return 0;
}

/* Scan [from, to): whole blocks from the buffer, the tail via scan_bytes.
 * from must start a record.  For the last part of the file (last = 1) an
 * open quote is an error and a final row may lack its newline; for other
 * parts clean_end tells whether [from, to) ended exactly on a record
 * boundary (else the split guessed wrong and the caller starts over). */
static int scan(parser *p, size_t from, size_t to, int last)
{
	size_t base = from;
	p->fs = from;
	p->row_start = from;
	p->state = OUT;
	p->col = 0;
	p->quoted = 0;
	p->in_comment = 0; /* a last comment line without a newline leaves it set */
	for (; base + 64 <= to; base += 64) {
		uint64_t md, mn, mq, mh;
		block_masks(p->buf + base, p->delim, p->nl, &md, &mn, &mq, &mh);
		if (mh)
			utf8_check(p, base + (size_t)__builtin_ctzll(mh), base + 64);
		if (mq || p->state == IN_Q) {
			if (scan_bytes(p, base, base + 64) < 0)
				return -1;
			continue;
		}
		uint64_t m = md | mn;
		size_t fs = p->fs;
		while (m) {
			unsigned k = (unsigned)__builtin_ctzll(m);
			m &= m - 1;
			size_t pos = base + k;
			if (on_sep_inline(p, fs, pos, (int)(mn >> k) & 1) < 0)
				return -1;
			fs = pos + 1;
		}
		p->fs = fs;
		p->state = OUT;
	}
	if (base < to) {
		utf8_check(p, base, to);
		if (scan_bytes(p, base, to) < 0)
			return -1;
	}
	if (!last) {
		p->clean_end = p->state == OUT && p->fs == to && p->col == 0 && !p->quoted;
		return 0;
	}
	if (p->state == IN_Q)
		return fail_at(p, p->fs, "unterminated quoted field (the quote runs to the end of the file)");
	/* a last row without a final newline: when it is short, the file was
	 * most likely cut off (an interrupted copy or download) */
	if (p->fs < to || p->col > 0 || p->quoted) {
		int64_t short_before = p->short_rows;
		int fields = p->col + 1;
		size_t start = p->row_start;
		if (on_sep(p, p->fs, to, 1) < 0)
			return -1;
		if (p->short_rows > short_before) {
			p->cut_fields = fields;
			p->cut_at = start;
		}
	}
	return 0;
}

/* ---- prologue: header and delimiter ---------------------------------- */

typedef struct span {
	size_t s, e;
	int quoted;
} span;

/* Read one record starting at *pos with the exact state machine; spans
 * are raw (quotes included).  Returns the field count, or -1 for an
 * unterminated quote; *pos moves past the record's newline. */
static int read_record(const char *b, size_t n, size_t *pos, char delim, char nl, span *sp,
		       int max)
{
	int st = OUT, nf = 0, quoted = 0;
	size_t fs = *pos, i;
	for (i = *pos; i < n; i++) {
		char c = b[i];
		if (st == IN_Q) {
			if (c == '"')
				st = Q_END;
			continue;
		}
		if (st == Q_END && c == '"') {
			st = IN_Q;
			continue;
		}
		st = OUT;
		if (c == '"' && i == fs) {
			st = IN_Q;
			quoted = 1;
		} else if (c == delim || c == nl) {
			if (nf < max)
				sp[nf] = (span){fs, i, quoted};
			nf++;
			quoted = 0;
			fs = i + 1;
			if (c == nl) {
				*pos = i + 1;
				return nf;
			}
		}
	}
	if (st == IN_Q) {
		*pos = n;
		return -1;
	}
	if (nf < max)
		sp[nf] = (span){fs, n, quoted};
	*pos = n;
	return nf + 1;
}

static char sniff(const char *b, size_t n, size_t pos, char nl)
{
	static const char cand[] = {',', ';', '\t', '|'};
	size_t lim = n < pos + 65536 ? n : pos + 65536;
	int best = -1, best_score = 0;
	for (int k = 0; k < 4; k++) {
		int counts[20], nrec = 0, consistent = 1;
		size_t at = pos;
		while (at < lim && nrec < 20) {
			size_t before = at;
			int nf = read_record(b, lim, &at, cand[k], nl, NULL, 0);
			if (nf < 0 || (at >= lim && lim < n))
				break; /* the window cut this record */
			size_t e = at;
			while (e > before && (b[e - 1] == '\n' || b[e - 1] == '\r'))
				e--;
			if (nf == 1 && blank(b + before, e - before))
				continue;
			counts[nrec++] = nf;
		}
		for (int r = 1; r < nrec; r++)
			consistent &= counts[r] == counts[0];
		int score = nrec && consistent && counts[0] > 1 ? counts[0] : 0;
		if (score > best_score) {
			best_score = score;
			best = k;
		}
	}
	if (best >= 0)
		return cand[best];
	/* nothing consistent: the candidate seen most in the first record */
	int most = 0;
	char pick = ',';
	for (int k = 0; k < 4; k++) {
		size_t at = pos;
		int nf = read_record(b, lim, &at, cand[k], nl, NULL, 0);
		if (nf > most + 1) {
			most = nf - 1;
			pick = cand[k];
		}
	}
	return pick;
}

static void add_note(jm_csv_info *info, char *note)
{
	if (!info) {
		free(note);
		return;
	}
	info->notes = jm_xrealloc(info->notes, (size_t)(info->n_notes + 1) * sizeof *info->notes);
	info->notes[info->n_notes++] = note;
}

/* Header names: unquoted, "Unnamed: i" for empty ones, "x.1" for repeats
 * (pandas' mangle_dupe_cols). */
static int read_header(parser *p, size_t *pos, int header)
{
	size_t at = *pos;
	int nf = read_record(p->buf, p->n, &at, p->delim, p->nl, NULL, 0);
	if (nf < 0)
		return jm_err_set(p->err, JM_EXIT_INPUT,
				  "%s:1: unterminated quoted field in the header", p->name);
	span *sp = jm_xmalloc((size_t)nf * sizeof *sp);
	at = *pos;
	read_record(p->buf, p->n, &at, p->delim, p->nl, sp, nf);
	p->ncols = nf;
	p->names = jm_xcalloc((size_t)nf, sizeof *p->names);
	for (int j = 0; j < nf; j++) {
		if (!header) {
			p->names[j] = jm_xasprintf("col%d", j + 1);
			continue;
		}
		size_t s = sp[j].s, e = sp[j].e;
		if (j == nf - 1 && p->trim_cr && e > s && p->buf[e - 1] == '\r')
			e--;
		const char *t = p->buf + s;
		size_t len = e - s;
		if (sp[j].quoted)
			t = unquote(p, t, len, &len);
		for (size_t i = 0; i < len;) {
			int l = jm_utf8_seq((const unsigned char *)t + i, len - i);
			if (!l || memchr(t, '\0', len)) {
				free(sp);
				return jm_err_set(p->err, JM_EXIT_INPUT,
						  "%s:1: column %d: invalid UTF-8 in the header name",
						  p->name, j + 1);
			}
			i += (size_t)l;
		}
		p->names[j] = len ? jm_xasprintf("%.*s", (int)len, t) : jm_xasprintf("Unnamed: %d", j);
	}
	free(sp);
	/* mangle duplicates: the second "a" becomes "a.1", then "a.2" ... */
	jm_dict *seen = jm_dict_new();
	for (int j = 0; j < nf; j++) {
		char *base = p->names[j];
		for (int dup = 1; jm_dict_find(seen, p->names[j], strlen(p->names[j])) >= 0; dup++) {
			if (p->names[j] != base)
				free(p->names[j]);
			p->names[j] = jm_xasprintf("%s.%d", base, dup);
		}
		if (p->names[j] != base)
			free(base);
		jm_dict_intern(seen, p->names[j], strlen(p->names[j]));
	}
	jm_dict_unref(seen);
	if (header)
		*pos = at;
	return 0;
}

/* ---- notes ----------------------------------------------------------- */

/* The offset of data row r (0-based), reading records from the start. */
static size_t row_offset(const parser *p, int64_t r)
{
	size_t at = p->data0;
	for (int64_t i = 0; at < p->n;) {
		size_t start = at;
		int nf = read_record(p->buf, p->n, &at, p->delim, p->nl, NULL, 0);
		size_t e = at;
		while (e > start && (p->buf[e - 1] == '\n' || p->buf[e - 1] == '\r'))
			e--;
		if (nf == 1 && blank(p->buf + start, e - start))
			continue;
		if (i++ == r)
			return start;
	}
	return p->n;
}

/* Up to max bytes of s for a message: quotes, backslashes and control
 * characters escaped, "..." when cut. */
static void escape_short(char *out, size_t cap, const char *s, size_t n, size_t max)
{
	size_t k = 0;
	while (max > 0 && max < n && ((unsigned char)s[max] & 0xc0) == 0x80)
		max--; /* do not cut a UTF-8 sequence */
	for (size_t i = 0; i < n && i < max && k + 6 < cap; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '"' || c == '\\') {
			out[k++] = '\\';
			out[k++] = (char)c;
		} else if (c < 0x20) {
			k += (size_t)snprintf(out + k, cap - k, c == '\n' ? "\\n" : c == '\r' ? "\\r" :
						       c == '\t' ? "\\t" : "\\x%02x", c);
		} else {
			out[k++] = (char)c;
		}
	}
	if (n > max && k + 4 < cap) {
		memcpy(out + k, "...", 3);
		k += 3;
	}
	out[k] = '\0';
}

/* A text column whose values are partly numbers (or booleans, dates) gets
 * a note with the counts; each distinct value is classified once. */
static void note_mixed(const parser *p, const jm_col *col, int64_t rows, jm_csv_info *info)
{
	const jm_dict *d = col->dict;
	if (!info || !d->n)
		return;
	uint8_t *cls = jm_xmalloc((size_t)d->n);
	for (int32_t k = 0; k < d->n; k++) {
		int64_t slot;
		int kind = kind_of(p, d->s[k], d->len[k], &slot);
		cls[k] = (uint8_t)(kind == K_INT ? K_FLOAT : kind);
	}
	int64_t count[K_TEXT + 1] = {0}, first_text = -1;
	for (int64_t i = 0; i < rows; i++) {
		int32_t code = col->v.code[i];
		if (code < 0)
			continue;
		count[cls[code]]++;
		if (cls[code] == K_TEXT && first_text < 0)
			first_text = i;
	}
	int other = K_FLOAT;
	for (int k = K_FLOAT; k < K_TEXT; k++)
		if (count[k] > count[other])
			other = k;
	if (count[K_TEXT] && count[other]) {
		int32_t code = col->v.code[first_text];
		int64_t line = line_of(p, row_offset(p, first_text));
		char shown[200];
		escape_short(shown, sizeof shown, d->s[code], d->len[code], 40);
		add_note(info, jm_xasprintf("column \"%s\": %" PRId64 " %s and %" PRId64
					    " text values (first text at line %" PRId64
					    ": \"%s\"), kept as text",
					    col->name, count[other], kind_plural[other], count[K_TEXT],
					    line, shown));
	}
	free(cls);
}

static void notes(const parser *p, const jm_frame *f, const uint8_t *all_missing,
		  jm_csv_info *info)
{
	for (int j = 0; j < f->ncols; j++) {
		const jm_col *col = f->cols[j];
		if (all_missing[j])
			add_note(info, jm_xasprintf("column \"%s\" has no values: all %" PRId64
						    " rows are missing",
						    col->name, f->nrows));
		else if (col->type == JM_COL_STR)
			note_mixed(p, col, f->nrows, info);
	}
}

/* Rows with fewer fields than the header, counted over all parts: the
 * first one's line, how many more, and whether the last line looks cut
 * off (short and without a newline). */
static void note_short_rows(const parser *cfg, const parser *parts, int nparts,
			    jm_csv_info *info)
{
	int64_t total = 0;
	const parser *first = NULL, *last = &parts[nparts - 1];
	for (int k = 0; k < nparts; k++) {
		total += parts[k].short_rows;
		if (!first && parts[k].short_rows)
			first = &parts[k];
	}
	if (!total)
		return;
	int n = cfg->ncols, cut = last->cut_fields;
	if (total == 1 && cut) {
		add_note(info, jm_xasprintf("line %" PRId64 " has %d field%s, expected %d, and no "
					    "newline: the file looks cut off (the missing fields are "
					    "read as missing)", line_of(cfg, first->first_short), cut,
					    cut == 1 ? "" : "s", n));
		return;
	}
	char more[64] = "", tail[160] = "";
	if (total > 1)
		snprintf(more, sizeof more, "; %" PRId64 " more row%s like it", total - 1,
			 total == 2 ? "" : "s");
	if (cut)
		snprintf(tail, sizeof tail, "; the last line, %" PRId64 ", has %d field%s and no "
			 "newline: the file looks cut off", line_of(cfg, last->cut_at), cut,
			 cut == 1 ? "" : "s");
	int f1 = first->first_short_fields;
	add_note(info, jm_xasprintf("line %" PRId64 " has %d field%s, expected %d (the missing ones "
				    "are read as missing)%s%s", line_of(cfg, first->first_short), f1,
				    f1 == 1 ? "" : "s", n, more, tail));
}

/* ---- parts of the file ------------------------------------------------- */

/* Append a column whose name is known to be new (header names are made
 * unique by read_header), without jm_frame_adopt's linear name check. */
static void push_col(jm_frame *f, jm_col *c)
{
	if (f->ncols == f->cap) {
		f->cap = f->cap ? f->cap * 2 : 16;
		f->cols = jm_xrealloc(f->cols, (size_t)f->cap * sizeof *f->cols);
	}
	f->cols[f->ncols++] = c;
}

/* How many bytes c are in b[0..n). */
static int64_t count_byte(const char *b, size_t n, char c)
{
	int64_t k = 0;
	size_t i = 0;
#ifdef __SSE2__
	/* byte counters (0 - matches) summed with psadbw every 255 blocks */
	__m128i vc = _mm_set1_epi8(c), zero = _mm_setzero_si128();
	while (i + 16 <= n) {
		__m128i acc = zero;
		for (int r = 0; r < 255 && i + 16 <= n; r++, i += 16) {
			__m128i x = _mm_loadu_si128((const __m128i *)(const void *)(b + i));
			acc = _mm_sub_epi8(acc, _mm_cmpeq_epi8(x, vc));
		}
		__m128i sum = _mm_sad_epu8(acc, zero);
		k += _mm_cvtsi128_si64(sum) + _mm_cvtsi128_si64(_mm_unpackhi_epi64(sum, sum));
	}
#endif
	for (; i < n; i++)
		k += b[i] == c;
	return k;
}

/* Page-aligned part of [p, p + n) prefaulted in one call: far cheaper
 * than a fault per 4 KB page on a virtual machine. */
static void prefault(void *p, size_t n)
{
#ifdef MADV_POPULATE_WRITE
	const uintptr_t pg = 4096;
	uintptr_t a = ((uintptr_t)p + pg - 1) & ~(pg - 1), b = ((uintptr_t)p + n) & ~(pg - 1);
	if (n >= (1u << 20) && b > a)
		madvise((void *)a, b - a, MADV_POPULATE_WRITE);
#else
	(void)p, (void)n;
#endif
}

/* A parser for [from, to) sharing cfg's settings and slot arrays; its
 * rows go to slots[j][base ..  base + cap). */
static void part_init(parser *p, const parser *cfg, size_t from, size_t to, int64_t base,
		      int64_t cap)
{
	*p = *cfg;
	p->from = from;
	p->to = to;
	p->base = base;
	p->cap = cap;
	p->err = &p->own_err;
	p->own_err = (jm_err){0};
	p->rows = 0;
	p->utf8_ok = from;
	p->utf8_bad = SIZE_MAX;
	p->scratch = NULL;
	p->scratch_cap = 0;
	p->cs = jm_xcalloc((size_t)p->ncols, sizeof *p->cs);
	for (int j = 0; j < p->ncols; j++) {
		colst *c = &p->cs[j];
		c->kind = K_UNKNOWN;
		c->day_ns = INT64_MIN;
		c->v = cfg->slots[j] + base;
	}
}

static void part_free(parser *p)
{
	if (p->cs)
		for (int j = 0; j < p->ncols; j++) {
			free(p->cs[j].na);
			jm_dict_unref(p->cs[j].dict);
		}
	free(p->cs);
	free(p->scratch);
	p->cs = NULL;
	p->scratch = NULL;
}

/* The second pass for the columns whose reread flag is set: read them
 * again as text, skipping every other column. */
static int reread_text(parser *p, int last)
{
	int *keep = jm_xmalloc((size_t)p->ncols * sizeof *keep);
	for (int j = 0; j < p->ncols; j++) {
		colst *c = &p->cs[j];
		keep[j] = c->kind;
		if (c->reread) {
			keep[j] = K_TEXT;
			c->kind = K_TEXT;
			jm_dict_unref(c->dict);
			c->dict = jm_dict_new();
			if (c->na)
				memset(c->na, 0, (size_t)p->cap);
			c->n_na = 0;
		} else {
			c->kind = K_SKIP;
		}
	}
	int64_t rows = p->rows, short_rows = p->short_rows;
	p->rows = 0;
	p->short_rows = 0;
	p->utf8_ok = p->n; /* validated already */
	int rc = scan(p, p->from, p->to, last);
	p->rows = rows;
	p->short_rows = short_rows;
	for (int j = 0; j < p->ncols; j++)
		p->cs[j].kind = keep[j];
	free(keep);
	return rc;
}

typedef struct column_plan {
	int kind;          /* the kind over the whole file */
	int64_t n_na;
	int32_t **remap;   /* K_TEXT: per part, part code → frame code */
} column_plan;

typedef struct assembly {
	parser *cfg;
	parser *parts;
	int nparts;
	size_t *cuts;      /* part k reads [cuts[k], cuts[k+1]) */
	int64_t *upper;    /* newlines in each part (+1 for the last): its room */
	int64_t *offset;   /* first frame row of each part */
	column_plan *plan;
	jm_frame *f;
} assembly;

typedef struct worker {
	int (*fn)(void *arg, int k);
	void *arg;
	int k, rc;
} worker;

static void *worker_main(void *arg)
{
	worker *w = arg;
	w->rc = w->fn(w->arg, w->k);
	return NULL;
}

/* Run fn(arg, k) for k in 0..n-1, k = 0 on this thread (all of them
 * when sequential). */
static void run_parallel(int n, int (*fn)(void *, int), void *arg, int sequential)
{
	if (sequential || n == 1) {
		for (int k = 0; k < n; k++)
			fn(arg, k);
		return;
	}
	worker *w = jm_xcalloc((size_t)n, sizeof *w);
	pthread_t *th = jm_xcalloc((size_t)n, sizeof *th);
	uint8_t *started = jm_xcalloc((size_t)n, 1);
	for (int k = 1; k < n; k++) {
		w[k] = (worker){fn, arg, k, 0};
		started[k] = pthread_create(&th[k], NULL, worker_main, &w[k]) == 0;
	}
	fn(arg, 0);
	for (int k = 1; k < n; k++) {
		if (started[k])
			pthread_join(th[k], NULL);
		else
			fn(arg, k);
	}
	free(w);
	free(th);
	free(started);
}

static int part_count(void *arg, int k)
{
	assembly *a = arg;
	size_t from = a->cuts[k], to = a->cuts[k + 1];
	a->upper[k] = count_byte(a->cfg->buf + from, to - from, a->cfg->nl) + (k == a->nparts - 1);
	return 0;
}

static int part_scan(void *arg, int k)
{
	assembly *a = arg;
	parser *p = &a->parts[k];
	for (int j = 0; j < p->ncols; j++)
		prefault(p->cs[j].v, (size_t)p->cap * sizeof(int64_t));
	return p->rc = scan(p, p->from, p->to, k == a->nparts - 1);
}

static int part_reread(void *arg, int k)
{
	assembly *a = arg;
	parser *p = &a->parts[k];
	int any = 0;
	for (int j = 0; j < p->ncols; j++)
		any |= p->cs[j].reread;
	return p->rc = any ? reread_text(p, k == a->nparts - 1) : 0;
}

/* Convert part k's slots as planned: 8-byte columns in place in the
 * part's slice, text and bool columns into the frame's narrower arrays;
 * missing masks into the frame's masks. */
static int part_convert(void *arg, int k)
{
	assembly *a = arg;
	parser *p = &a->parts[k];
	int64_t off = a->offset[k], rows = p->rows;
	for (int j = 0; j < p->ncols; j++) {
		colst *c = &p->cs[j];
		jm_col *col = a->f->cols[j];
		const column_plan *pl = &a->plan[j];
		int64_t *v = c->v;
		int unknown = c->kind == K_UNKNOWN; /* every value of this part missing */
		if (col->na) {
			if (unknown)
				memset(col->na + off, 1, (size_t)rows);
			else if (c->na)
				memcpy(col->na + off, c->na, (size_t)rows);
			else
				memset(col->na + off, 0, (size_t)rows);
		}
		switch (col->type) {
		case JM_COL_F64:
			if (unknown || pl->kind == K_UNKNOWN)
				for (int64_t i = 0; i < rows; i++)
					put_f64(c, i, NAN);
			else if (c->kind == K_INT)
				ints_to_floats(c, rows);
			break;
		case JM_COL_I64:
		case JM_COL_TIME:
			if (unknown)
				memset(v, 0, (size_t)rows * sizeof *v);
			break;
		case JM_COL_BOOL:
			for (int64_t i = 0; i < rows; i++)
				col->v.b[off + i] = unknown ? 0 : (uint8_t)v[i];
			break;
		case JM_COL_STR: {
			const int32_t *remap = pl->remap[k];
			for (int64_t i = 0; i < rows; i++) {
				int64_t code = unknown ? -1 : v[i];
				col->v.code[off + i] = code < 0 ? -1 : remap[code];
			}
			break;
		}
		}
	}
	return 0;
}

/* The kind a column has over all parts; K_SKIP: it must be read as text. */
static int unify(const parser *parts, int nparts, int j)
{
	int kind = K_UNKNOWN;
	for (int k = 0; k < nparts; k++) {
		const colst *c = &parts[k].cs[j];
		if (c->reread)
			return K_SKIP;
		if (c->kind == K_UNKNOWN || c->kind == kind)
			continue;
		if (kind == K_UNKNOWN)
			kind = c->kind;
		else if ((kind == K_INT && c->kind == K_FLOAT) || (kind == K_FLOAT && c->kind == K_INT))
			kind = K_FLOAT;
		else
			return K_SKIP;
	}
	return kind;
}

static const jm_coltype kind_type[] = {
	[K_UNKNOWN] = JM_COL_F64, [K_INT] = JM_COL_I64, [K_FLOAT] = JM_COL_F64,
	[K_BOOL] = JM_COL_BOOL, [K_DATE] = JM_COL_TIME, [K_TEXT] = JM_COL_STR,
};

/* Parts scanned cleanly: settle each column's kind, read text columns
 * again where needed, convert, and hand the slot arrays to the frame. */
static int assemble(assembly *a, jm_frame **out, jm_csv_info *info)
{
	parser *cfg = a->cfg, *parts = a->parts;
	int ncols = cfg->ncols, nparts = a->nparts, rc = -1, any_reread = 0;
	uint8_t *all_missing = jm_xcalloc((size_t)ncols + 1, 1);
	a->plan = jm_xcalloc((size_t)ncols + 1, sizeof *a->plan);
	for (int j = 0; j < ncols; j++) {
		int kind = unify(parts, nparts, j);
		if (kind == K_SKIP) {
			for (int k = 0; k < nparts; k++)
				parts[k].cs[j].reread = 1;
			any_reread = 1;
			kind = K_TEXT;
		}
		a->plan[j].kind = kind;
	}
	if (any_reread) {
		run_parallel(nparts, part_reread, a, cfg->sequential);
		for (int k = 0; k < nparts; k++)
			if (parts[k].rc < 0) {
				*cfg->err = parts[k].own_err;
				goto out;
			}
	}
	a->offset[0] = 0;
	for (int k = 0; k < nparts; k++)
		a->offset[k + 1] = a->offset[k] + parts[k].rows;
	int64_t rows = a->offset[nparts];
	if (rows == 0) {
		jm_err_set(cfg->err, JM_EXIT_INPUT, "%s: a header but no data rows", cfg->name);
		goto out;
	}
	a->f = jm_frame_new(rows);
	for (int j = 0; j < ncols; j++) {
		column_plan *pl = &a->plan[j];
		for (int k = 0; k < nparts; k++)
			pl->n_na += parts[k].cs[j].n_na;
		if (pl->kind == K_INT && pl->n_na)
			pl->kind = K_FLOAT; /* pandas: ints with missing values are floats */
		all_missing[j] = pl->kind == K_UNKNOWN;
		jm_col *col = jm_xcalloc(1, sizeof *col);
		col->name = jm_xstrdup(cfg->names[j]);
		col->type = kind_type[pl->kind];
		col->n_na = pl->n_na;
		push_col(a->f, col);
		if (col->type == JM_COL_BOOL || col->type == JM_COL_STR)
			col->v.p = malloc((size_t)rows * (col->type == JM_COL_STR ? 4 : 1));
		col->na = pl->n_na ? malloc((size_t)rows) : NULL;
		if ((!col->v.p && (col->type == JM_COL_BOOL || col->type == JM_COL_STR)) ||
		    (pl->n_na && !col->na)) {
			jm_err_set(cfg->err, JM_EXIT_FAIL, "%s: out of memory", cfg->name);
			goto out;
		}
		if (col->type == JM_COL_STR) {
			col->dict = jm_dict_new();
			pl->remap = jm_xcalloc((size_t)nparts, sizeof *pl->remap);
			for (int k = 0; k < nparts; k++) { /* first-seen order over the file */
				const jm_dict *d = parts[k].cs[j].dict;
				int32_t n = d ? d->n : 0;
				pl->remap[k] = jm_xmalloc(((size_t)n + 1) * sizeof(int32_t));
				for (int32_t c = 0; c < n; c++)
					pl->remap[k][c] = jm_dict_intern(col->dict, d->s[c], d->len[c]);
			}
		}
	}
	run_parallel(nparts, part_convert, a, cfg->sequential);
	/* 8-byte columns live in the slot arrays: close the gaps that blank
	 * lines and quoted newlines left between parts, then trim */
	for (int j = 0; j < ncols; j++) {
		jm_col *col = a->f->cols[j];
		if (col->type == JM_COL_BOOL || col->type == JM_COL_STR)
			continue;
		int64_t *s = cfg->slots[j];
		for (int k = 1; k < nparts; k++)
			if (parts[k].base != a->offset[k])
				memmove(s + a->offset[k], s + parts[k].base, (size_t)parts[k].rows * sizeof *s);
		int64_t *t = realloc(s, (size_t)rows * sizeof *s);
		col->v.i64 = t ? t : s;
		cfg->slots[j] = NULL;
	}
	notes(cfg, a->f, all_missing, info);
	note_short_rows(cfg, parts, nparts, info);
	*out = a->f;
	a->f = NULL;
	rc = 0;
out:
	for (int j = 0; j < ncols; j++) {
		if (a->plan[j].remap)
			for (int k = 0; k < nparts; k++)
				free(a->plan[j].remap[k]);
		free(a->plan[j].remap);
	}
	jm_frame_free(a->f);
	free(a->plan);
	free(all_missing);
	return rc;
}

/* Split [from, n) into up to nparts pieces that (probably) start records:
 * each cut goes after a newline, chosen outside quotes by counting quote
 * characters from the start.  scan() verifies every cut (clean_end). */
static int split_parts(const parser *cfg, size_t from, int nparts, size_t *cuts)
{
	size_t n = cfg->n, len = n - from;
	const char *b = cfg->buf;
	int quotes = memchr(b + from, '"', len) != NULL;
	size_t at = from;
	int64_t parity = 0;
	int k = 1;
	cuts[0] = from;
	for (; k < nparts; k++) {
		size_t target = from + len / (size_t)nparts * (size_t)k;
		if (target <= cuts[k - 1])
			break;
		if (quotes)
			for (; at < target; at++)
				parity ^= b[at] == '"';
		size_t i = target;
		for (; i < n; i++) {
			if (quotes && b[i] == '"')
				parity ^= 1;
			else if (b[i] == cfg->nl && !parity)
				break;
		}
		at = i;
		if (i >= n - 1)
			break;
		cuts[k] = i + 1;
	}
	cuts[k] = n;
	return k;
}

/* ---- the reader ------------------------------------------------------ */

static void setup_na(parser *p, const jm_csv_opts *o)
{
	int n = 0;
	if (o->keep_default_na)
		while (jm_csv_default_na[n])
			n++;
	int total = n + (o->n_na_values > 0 ? o->n_na_values : 0);
	p->na_tok = jm_xcalloc((size_t)total + 1, sizeof *p->na_tok);
	p->na_len = jm_xcalloc((size_t)total + 1, sizeof *p->na_len);
	for (int k = 0; k < total; k++) {
		const char *t = k < n ? jm_csv_default_na[k] : o->na_values[k - n];
		if (!t)
			continue;
		size_t len = strlen(t);
		if (len == 0) {
			p->empty_na = 1;
			continue;
		}
		p->na_tok[p->n_na] = t;
		p->na_len[p->n_na++] = len;
		p->na_lead[(unsigned char)t[0] >> 6] |= 1ull << ((unsigned char)t[0] & 63);
		double d;
		if (jm_csv_parse_double(t, len, &d))
			p->na_first = 1;
		if (len > p->na_maxlen)
			p->na_maxlen = len;
	}
}

static int auto_threads(size_t bytes)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	int t = cpus > 8 ? 8 : cpus < 1 ? 1 : (int)cpus;
	int by_size = (int)(bytes / (4u << 20)); /* at least 4 MB a part */
	return by_size < 1 ? 1 : by_size < t ? by_size : t;
}

/* Read the data rows [data0, n) in up to nthreads parts: count each
 * part's newlines (its room in the slot arrays), scan the parts, check
 * that every cut fell on a record boundary, assemble. */
static int read_rows(parser *cfg, int nthreads, jm_frame **out, jm_csv_info *info)
{
	size_t from = cfg->data0;
	int ncols = cfg->ncols, rc = -1, retry = 0;
	assembly a = {.cfg = cfg};
	a.cuts = jm_xcalloc((size_t)nthreads + 2, sizeof *a.cuts);
	a.nparts = nthreads > 1 ? split_parts(cfg, from, nthreads, a.cuts) : 1;
	if (a.nparts == 1) {
		a.cuts[0] = from;
		a.cuts[1] = cfg->n;
	}
	a.upper = jm_xcalloc((size_t)a.nparts + 1, sizeof *a.upper);
	a.offset = jm_xcalloc((size_t)a.nparts + 1, sizeof *a.offset);
	a.parts = jm_xcalloc((size_t)a.nparts, sizeof *a.parts);
	cfg->slots = jm_xcalloc((size_t)ncols + 1, sizeof *cfg->slots);
	run_parallel(a.nparts, part_count, &a, cfg->sequential);
	int64_t total = 0;
	for (int k = 0; k < a.nparts; k++)
		total += a.upper[k];
	for (int j = 0; j < ncols; j++) {
		cfg->slots[j] = malloc((total > 0 ? (size_t)total : 1) * sizeof(int64_t));
		if (!cfg->slots[j]) {
			jm_err_set(cfg->err, JM_EXIT_FAIL, "%s: out of memory for %" PRId64 " rows",
				   cfg->name, total);
			goto out;
		}
	}
	for (int64_t k = 0, base = 0; k < a.nparts; k++) {
		part_init(&a.parts[k], cfg, a.cuts[k], a.cuts[k + 1], base, a.upper[k]);
		base += a.upper[k];
	}
	run_parallel(a.nparts, part_scan, &a, cfg->sequential);
	/* the first part that failed or ended off a record boundary decides */
	for (int k = 0; k < a.nparts; k++) {
		if (a.parts[k].rc < 0) {
			*cfg->err = a.parts[k].own_err;
			goto out;
		}
		if (k < a.nparts - 1 && !a.parts[k].clean_end) {
			retry = 1;
			goto out;
		}
	}
	rc = assemble(&a, out, info);
	if (info && rc == 0)
		info->rows = (*out)->nrows;
out:
	for (int k = 0; k < a.nparts; k++)
		part_free(&a.parts[k]);
	for (int j = 0; j < ncols; j++)
		free(cfg->slots[j]);
	free(cfg->slots);
	cfg->slots = NULL;
	free(a.parts);
	free(a.cuts);
	free(a.upper);
	free(a.offset);
	if (retry) /* a quoted newline fooled the split: read it in one piece */
		return read_rows(cfg, 1, out, info);
	return rc;
}

int jm_csv_parse(const char *buf, size_t n, const jm_csv_opts *o, jm_frame **out,
		 jm_csv_info *info, jm_err *err)
{
	jm_csv_opts defaults;
	if (!o) {
		jm_csv_opts_init(&defaults);
		o = &defaults;
	}
	*out = NULL;
	if (info)
		memset(info, 0, sizeof *info);
	jm_err scratch_err;
	parser p = {.buf = buf, .n = n, .err = err ? err : &scratch_err,
		    .name = o->name ? o->name : "<input>"};
	p.max_field = o->max_field > 0 ? o->max_field : JM_CSV_MAX_FIELD;
	p.strict = o->strict_fields;
	p.comment = o->comment;
	p.infer_dates = o->infer_dates;
	p.infer_bool = o->infer_bool;
	int rc = -1;
	size_t pos = 0;

	if (n >= 2 && ((buf[0] == '\xff' && buf[1] == '\xfe') || (buf[0] == '\xfe' && buf[1] == '\xff'))) {
		jm_err_set(err, JM_EXIT_INPUT,
			   "%s: the file is UTF-16 (byte order mark %02X %02X); save it as UTF-8",
			   p.name, (unsigned char)buf[0], (unsigned char)buf[1]);
		goto out;
	}
	if (n >= 3 && memcmp(buf, "\xef\xbb\xbf", 3) == 0) {
		pos = 3;
		if (info)
			info->bom = 1;
	}
	if (memchr(buf + pos, '\0', n - pos < 4096 ? n - pos : 4096)) {
		jm_err_set(err, JM_EXIT_INPUT,
			   "%s: NUL bytes in the first 4 KB: not a text file (UTF-16 or binary?)",
			   p.name);
		goto out;
	}
	/* leading blank lines, and comment lines when there is a comment mark */
	while (pos < n && (buf[pos] == '\n' || buf[pos] == '\r' || (p.comment && buf[pos] == p.comment))) {
		if (buf[pos] == p.comment)
			while (pos < n && buf[pos] != '\n' && buf[pos] != '\r')
				pos++;
		else
			pos++;
	}
	if (pos >= n) {
		jm_err_set(err, JM_EXIT_INPUT, "%s: empty file", p.name);
		goto out;
	}
	/* line ending: "\n" (a "\r" before it is trimmed), or bare "\r" */
	{
		size_t lim = n - pos < 65536 ? n - pos : 65536;
		const char *lf = memchr(buf + pos, '\n', lim), *cr = memchr(buf + pos, '\r', lim);
		p.nl = !lf && cr ? '\r' : '\n';
		p.trim_cr = p.nl == '\n';
		if (info && lf && lf > buf + pos && lf[-1] == '\r')
			info->crlf = 1;
	}
	p.delim = o->delim ? o->delim : sniff(buf, n, pos, p.nl);
	if (p.delim == '"' || p.delim == '\n' || p.delim == '\r') {
		jm_err_set(err, JM_EXIT_INPUT, "%s: %s cannot be the delimiter", p.name,
			   p.delim == '"' ? "a quote" : "a newline");
		goto out;
	}
	if (read_header(&p, &pos, o->header) < 0)
		goto out;
	p.data0 = pos;
	p.utf8_bad = SIZE_MAX;
	setup_na(&p, o);
	int threads = o->threads > 0 ? o->threads : o->threads < 0 ? -o->threads :
		      auto_threads(n - pos);
	threads = threads > 64 ? 64 : threads;
	p.sequential = o->threads < 0;
	if (read_rows(&p, threads, out, info) < 0)
		goto out;
	if (info) {
		info->delim = p.delim;
		info->bytes = (int64_t)n;
	}
	rc = 0;
out:
	for (int j = 0; j < p.ncols; j++)
		free(p.names[j]);
	free(p.names);
	free(p.na_tok);
	free(p.na_len);
	free(p.scratch);
	return rc;
}

int jm_csv_read(const char *spec, const jm_csv_opts *o, const jm_source_opts *so,
		jm_frame **out, jm_csv_info *info, jm_err *err)
{
	jm_source src = {0};
	*out = NULL;
	if (jm_source_open(&src, spec, so, err) < 0)
		return -1;
	jm_csv_opts opts;
	if (o)
		opts = *o;
	else
		jm_csv_opts_init(&opts);
	if (!opts.name)
		opts.name = src.name;
	int rc = jm_csv_parse(src.data, src.n, &opts, out, info, err);
	jm_source_close(&src);
	return rc;
}
