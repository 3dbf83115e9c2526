/*
 * json.c: JSON writing and the strict DOM parser of json.h.
 *
 *   write:  s ──runs of plain bytes copied whole, escapes in between──▶ sink
 *           v ──"%.15g", "%.16g", "%.17g" until strtod gives v back──▶ sink
 *           (a sink is a jm_buf or a FILE *)
 *
 *   parse:  text ──parse_value: whitespace, depth check, first byte──┐
 *             '{'  parse_object: "key" ':' value (',' | '}'); repeated keys
 *                  found through a hash set once an object is big
 *             '['  parse_array: packed doubles while the items are numbers
 *                  and nulls (when asked), else item by item; a packed try
 *                  that meets anything else starts the array over
 *             '"'  parse_string: escapes, surrogate pairs, UTF-8 checked
 *             -0-9 parse_number: the JSON grammar, then strtod ("C" locale)
 *             else true / false / null
 *
 * The first error ends the parse: its code, byte offset and words go to the
 * caller's jm_json_error, and jm_json_parse frees the partial tree (every
 * container counts an item only once its slot is initialised, so the tree
 * is always safe to free).
 */
#include "util/json.h"

#include <inttypes.h>
#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* ---- numbers in the C locale ------------------------------------------- */

static pthread_once_t c_locale_once = PTHREAD_ONCE_INIT;
static locale_t c_locale_obj;

static void c_locale_init(void)
{
	c_locale_obj = newlocale(LC_ALL_MASK, "C", (locale_t)0);
}

static locale_t c_locale(void)
{
	pthread_once(&c_locale_once, c_locale_init);
	return c_locale_obj;
}

static double strtod_c(const char *s)
{
	locale_t loc = c_locale();
	return loc ? strtod_l(s, NULL, loc) : strtod(s, NULL);
}

/* ---- writing ------------------------------------------------------------ */

typedef struct sink {
	jm_buf *b; /* one of the two */
	FILE *f;
} sink;

static void put(const sink *k, const char *s, size_t n)
{
	if (k->b)
		jm_buf_add(k->b, s, n);
	else if (n)
		fwrite(s, 1, n, k->f);
}

/* The escape for byte c into out (0: c passes through as it is). */
static size_t escape(unsigned char c, unsigned style, char out[8])
{
	static const char two_char[0x5d] = {
		['"'] = '"', ['\\'] = '\\', ['\n'] = 'n', ['\r'] = 'r',
		['\t'] = 't', ['\b'] = 'b', ['\f'] = 'f',
	};
	if (c >= 0x20 && c != '"' && c != '\\')
		return 0;
	char e = two_char[c];
	if ((c == '\b' || c == '\f') && !(style & JM_JSON_ESC_BF))
		e = 0;
	if (c < 0x20 && (style & JM_JSON_ESC_CTRL_U))
		e = 0;
	if (e) {
		out[0] = '\\';
		out[1] = e;
		return 2;
	}
	return (size_t)snprintf(out, 8, "\\u%04x", c);
}

static void put_str(const sink *k, const char *s, unsigned style)
{
	if (!s) {
		put(k, "null", 4);
		return;
	}
	put(k, "\"", 1);
	const char *run = s, *p = s;
	for (; *p; p++) {
		char esc[8];
		size_t n = escape((unsigned char)*p, style, esc);
		if (!n)
			continue;
		put(k, run, (size_t)(p - run));
		put(k, esc, n);
		run = p + 1;
	}
	put(k, run, (size_t)(p - run));
	put(k, "\"", 1);
}

size_t jm_json_fmt_num(char out[JM_JSON_NUM_MAX], double v, unsigned style)
{
	const char *word = NULL;
	if (isnan(v))
		word = "null";
	else if (isinf(v))
		word = !(style & JM_JSON_INF_1E999) ? "null" : v > 0 ? "1e999" : "-1e999";
	if (word) {
		size_t n = strlen(word);
		memcpy(out, word, n + 1);
		return n;
	}
	locale_t loc = c_locale(), old = loc ? uselocale(loc) : (locale_t)0;
	int n = 0;
	for (int prec = style & JM_JSON_NUM_G6 ? 6 : 15; prec <= 17; prec++) {
		n = snprintf(out, JM_JSON_NUM_MAX, "%.*g", prec, v);
		if (strtod(out, NULL) == v)
			break;
	}
	if (loc)
		uselocale(old);
	return (size_t)n;
}

static void put_num(const sink *k, double v, unsigned style)
{
	char t[JM_JSON_NUM_MAX];
	size_t n = jm_json_fmt_num(t, v, style);
	put(k, t, n);
}

void jm_json_add_str(jm_buf *b, const char *s, unsigned style)
{
	put_str(&(sink){.b = b}, s, style);
}

void jm_json_add_num(jm_buf *b, double v, unsigned style)
{
	put_num(&(sink){.b = b}, v, style);
}

void jm_json_write_str(FILE *f, const char *s, unsigned style)
{
	put_str(&(sink){.f = f}, s, style);
}

void jm_json_write_num(FILE *f, double v, unsigned style)
{
	put_num(&(sink){.f = f}, v, style);
}

void jm_json_str(FILE *f, const char *s)
{
	jm_json_write_str(f, s, 0);
}

void jm_json_num(FILE *f, double v)
{
	jm_json_write_num(f, v, JM_JSON_NUM_G6);
}

/* ---- the tree ------------------------------------------------------------ */

void jm_json_free(jm_json *v)
{
	if (!v)
		return;
	if (v->type == JM_JSON_STRING) {
		free(v->str);
	} else if (v->type == JM_JSON_ARRAY && v->packed) {
		free(v->nums);
	} else if (v->type == JM_JSON_ARRAY || v->type == JM_JSON_OBJECT) {
		for (size_t i = 0; i < v->n; i++) {
			jm_json_free(&v->items[i]);
			if (v->keys)
				free(v->keys[i]);
		}
		free(v->items);
		free(v->keys);
	}
	memset(v, 0, sizeof *v);
}

const jm_json *jm_json_get(const jm_json *obj, const char *key)
{
	if (!obj || obj->type != JM_JSON_OBJECT)
		return NULL;
	for (size_t i = 0; i < obj->n; i++)
		if (!strcmp(obj->keys[i], key))
			return &obj->items[i];
	return NULL;
}

const jm_json *jm_json_at(const jm_json *arr, size_t i)
{
	if (!arr || arr->type != JM_JSON_ARRAY || arr->packed || i >= arr->n)
		return NULL;
	return &arr->items[i];
}

int jm_json_is(const jm_json *v, jm_json_type t)
{
	return v && v->type == t;
}

int jm_json_as_u64(const jm_json *v, uint64_t *out)
{
	if (!v || v->type != JM_JSON_NUMBER || !v->is_u64)
		return 0;
	if (out)
		*out = v->u;
	return 1;
}

const char *jm_json_type_name(jm_json_type t)
{
	static const char *const names[] = {
		[JM_JSON_NULL] = "null",        [JM_JSON_FALSE] = "false",
		[JM_JSON_TRUE] = "true",        [JM_JSON_NUMBER] = "a number",
		[JM_JSON_STRING] = "a string",  [JM_JSON_ARRAY] = "an array",
		[JM_JSON_OBJECT] = "an object",
	};
	return (unsigned)t < sizeof names / sizeof names[0] ? names[t] : "?";
}

void jm_json_add_value(jm_buf *b, const jm_json *v, unsigned style)
{
	static const char *const words[] = {
		[JM_JSON_NULL] = "null", [JM_JSON_FALSE] = "false", [JM_JSON_TRUE] = "true",
	};
	switch (v->type) {
	case JM_JSON_NULL:
	case JM_JSON_FALSE:
	case JM_JSON_TRUE:
		jm_buf_addstr(b, words[v->type]);
		break;
	case JM_JSON_NUMBER:
		if (v->is_u64)
			jm_buf_printf(b, "%" PRIu64, v->u);
		else
			jm_json_add_num(b, v->num, style);
		break;
	case JM_JSON_STRING:
		jm_json_add_str(b, v->str, style);
		break;
	case JM_JSON_ARRAY:
	case JM_JSON_OBJECT:
		jm_buf_addch(b, v->type == JM_JSON_ARRAY ? '[' : '{');
		for (size_t i = 0; i < v->n; i++) {
			if (i)
				jm_buf_addch(b, ',');
			if (v->type == JM_JSON_OBJECT) {
				jm_json_add_str(b, v->keys[i], style);
				jm_buf_addch(b, ':');
			}
			if (v->packed)
				jm_json_add_num(b, v->nums[i], style);
			else
				jm_json_add_value(b, &v->items[i], style);
		}
		jm_buf_addch(b, v->type == JM_JSON_ARRAY ? ']' : '}');
		break;
	}
}

static int same_double(double x, double y)
{
	if (isnan(x) || isnan(y))
		return isnan(x) && isnan(y);
	return x == y && signbit(x) == signbit(y);
}

/* Numbers are equal as values: 1 and 1.0 are, 2^64-1 and 2^64 are not. */
static int same_number(const jm_json *a, const jm_json *b)
{
	if (a->is_u64 && b->is_u64)
		return a->u == b->u;
	if (a->is_u64 || b->is_u64) {
		const jm_json *whole = a->is_u64 ? a : b, *other = a->is_u64 ? b : a;
		return !signbit(other->num) && other->num < 18446744073709551616.0 &&
		       other->num == floor(other->num) && (uint64_t)other->num == whole->u;
	}
	return same_double(a->num, b->num);
}

/* Item i of an array as a number (NaN for null), for comparing packed and
 * unpacked arrays; 0 when it is neither. */
static int item_number(const jm_json *arr, size_t i, double *x)
{
	if (arr->packed) {
		*x = arr->nums[i];
		return 1;
	}
	const jm_json *it = &arr->items[i];
	if (it->type == JM_JSON_NULL)
		*x = NAN;
	else if (it->type == JM_JSON_NUMBER)
		*x = it->num;
	else
		return 0;
	return 1;
}

int jm_json_equal(const jm_json *a, const jm_json *b)
{
	if (a->type != b->type)
		return 0;
	switch (a->type) {
	case JM_JSON_NUMBER:
		return same_number(a, b);
	case JM_JSON_STRING:
		return a->n == b->n && !memcmp(a->str, b->str, a->n);
	case JM_JSON_ARRAY:
	case JM_JSON_OBJECT:
		if (a->n != b->n)
			return 0;
		for (size_t i = 0; i < a->n; i++) {
			if (a->type == JM_JSON_OBJECT && strcmp(a->keys[i], b->keys[i]))
				return 0;
			if (!a->packed && !b->packed) {
				if (!jm_json_equal(&a->items[i], &b->items[i]))
					return 0;
				continue;
			}
			/* a packed array holds only numbers and nulls; whole numbers
			 * in an unpacked one may also carry is_u64, which packing drops */
			double x, y;
			if (!item_number(a, i, &x) || !item_number(b, i, &y) || !same_double(x, y))
				return 0;
		}
		return 1;
	default:
		return 1;
	}
}

/* ---- parsing: errors ----------------------------------------------------- */

static const char *const default_words[JM_JSON_E_COUNT] = {
	[JM_JSON_OK] = "no error",
	[JM_JSON_E_SIZE] = "text over the size limit",
	[JM_JSON_E_VALUE] = "expected a value",
	[JM_JSON_E_DEPTH] = "nested too deeply",
	[JM_JSON_E_DIGIT] = "expected a digit",
	[JM_JSON_E_LEADING_ZERO] = "leading zero in number",
	[JM_JSON_E_FRACTION] = "expected a digit after '.'",
	[JM_JSON_E_EXPONENT] = "expected a digit in the exponent",
	[JM_JSON_E_NUMBER_LONG] = "number too long",
	[JM_JSON_E_UNTERMINATED] = "unterminated string",
	[JM_JSON_E_CONTROL] = "control character in string",
	[JM_JSON_E_ESCAPE] = "invalid escape in string",
	[JM_JSON_E_UNTERMINATED_U] = "unterminated \\u escape",
	[JM_JSON_E_HEX] = "expected 4 hex digits after \\u",
	[JM_JSON_E_SURROGATE] = "unpaired surrogate in string",
	[JM_JSON_E_NUL] = "NUL character in string",
	[JM_JSON_E_UTF8] = "invalid UTF-8 in string",
	[JM_JSON_E_KEY] = "expected a string key",
	[JM_JSON_E_COLON] = "expected ':'",
	[JM_JSON_E_ARRAY_SEP] = "expected ',' or ']'",
	[JM_JSON_E_OBJECT_SEP] = "expected ',' or '}'",
	[JM_JSON_E_DUP_KEY] = "duplicate key",
	[JM_JSON_E_TRAILING] = "unexpected text after the value",
};

const char *jm_json_error_word(jm_json_errcode code)
{
	return (unsigned)code < JM_JSON_E_COUNT ? default_words[code] : "unknown error";
}

int jm_json_error_set(jm_err *err, const char *where, const jm_json_error *e)
{
	return jm_err_set(err, JM_EXIT_INPUT, "%s%sbyte %zu: %s", where ? where : "",
			  where ? ": " : "", e->offset, e->what);
}

typedef struct parser {
	const char *s;
	size_t len, pos;
	int max_depth;
	size_t max_number;
	unsigned flags;
	const char *const *words;
	jm_json_error *e;
} parser;

/* Record the error (code at byte at; key, if not NULL, quoted after the
 * words) and return -1. */
static int fail_at(parser *p, size_t at, jm_json_errcode code, const char *key)
{
	if (!p->e)
		return -1;
	const char *w = p->words && p->words[code] ? p->words[code] : default_words[code];
	p->e->code = code;
	p->e->offset = at;
	if (key)
		snprintf(p->e->what, sizeof p->e->what, "%s \"%s\"", w, key);
	else
		snprintf(p->e->what, sizeof p->e->what, "%s", w);
	return -1;
}

static int fail(parser *p, jm_json_errcode code)
{
	return fail_at(p, p->pos, code, NULL);
}

/* ---- parsing: scalars ---------------------------------------------------- */

static int is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static void skip_ws(parser *p)
{
	while (p->pos < p->len && (p->s[p->pos] == ' ' || p->s[p->pos] == '\t' ||
				   p->s[p->pos] == '\n' || p->s[p->pos] == '\r'))
		p->pos++;
}

/* Length of the valid UTF-8 sequence at s (0 if invalid): no overlong
 * forms, no surrogates, nothing above U+10FFFF. */
static size_t utf8_len(const unsigned char *s, size_t avail)
{
	unsigned c = s[0], cp, min;
	size_t n;
	if (c < 0x80)
		return 1;
	if ((c & 0xe0) == 0xc0) {
		n = 2, cp = c & 0x1f, min = 0x80;
	} else if ((c & 0xf0) == 0xe0) {
		n = 3, cp = c & 0x0f, min = 0x800;
	} else if ((c & 0xf8) == 0xf0) {
		n = 4, cp = c & 0x07, min = 0x10000;
	} else {
		return 0;
	}
	if (avail < n)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

int jm_json_utf8_valid(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + n;
	while (p < end) {
		size_t k = utf8_len(p, (size_t)(end - p));
		if (!k)
			return 0;
		p += k;
	}
	return 1;
}

static void put_utf8(jm_buf *b, unsigned cp)
{
	char u[4];
	size_t n;
	if (cp < 0x80) {
		u[0] = (char)cp, n = 1;
	} else if (cp < 0x800) {
		u[0] = (char)(0xc0 | cp >> 6), u[1] = (char)(0x80 | (cp & 0x3f)), n = 2;
	} else if (cp < 0x10000) {
		u[0] = (char)(0xe0 | cp >> 12), u[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		u[2] = (char)(0x80 | (cp & 0x3f)), n = 3;
	} else {
		u[0] = (char)(0xf0 | cp >> 18), u[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
		u[2] = (char)(0x80 | ((cp >> 6) & 0x3f)), u[3] = (char)(0x80 | (cp & 0x3f)), n = 4;
	}
	jm_buf_add(b, u, n);
}

/* Four hex digits at p->pos, which moves past them. */
static int hex4(parser *p, unsigned *out)
{
	unsigned v = 0;
	for (int i = 0; i < 4; i++, p->pos++) {
		if (p->pos >= p->len)
			return fail(p, JM_JSON_E_UNTERMINATED_U);
		char c = p->s[p->pos];
		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v |= (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v |= (unsigned)(c - 'A' + 10);
		else
			return fail(p, JM_JSON_E_HEX);
	}
	*out = v;
	return 0;
}

/* The escape at p->pos (a backslash) into b. */
static int parse_escape(parser *p, jm_buf *b)
{
	static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
	p->pos++;
	if (p->pos >= p->len)
		return fail(p, JM_JSON_E_UNTERMINATED);
	char c = p->s[p->pos];
	const char *k = c ? strchr(from, c) : NULL;
	if (k) {
		jm_buf_addch(b, to[k - from]);
		p->pos++;
		return 0;
	}
	if (c != 'u')
		return fail(p, JM_JSON_E_ESCAPE);
	p->pos++;
	unsigned cp, lo;
	if (hex4(p, &cp) < 0)
		return -1;
	if (cp >= 0xdc00 && cp <= 0xdfff)
		return fail(p, JM_JSON_E_SURROGATE);
	if (cp >= 0xd800 && cp <= 0xdbff) {
		if (p->len - p->pos < 2 || p->s[p->pos] != '\\' || p->s[p->pos + 1] != 'u')
			return fail(p, JM_JSON_E_SURROGATE);
		p->pos += 2;
		if (hex4(p, &lo) < 0)
			return -1;
		if (lo < 0xdc00 || lo > 0xdfff)
			return fail(p, JM_JSON_E_SURROGATE);
		cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
	}
	if (cp == 0)
		return fail(p, JM_JSON_E_NUL);
	put_utf8(b, cp);
	return 0;
}

/* The string at p->pos (its opening quote) into a new *out of *n bytes. */
static int parse_string(parser *p, char **out, size_t *n)
{
	jm_buf b = JM_BUF_INIT;
	int any = (p->flags & JM_JSON_ANY_BYTES) != 0;
	p->pos++;
	for (;;) {
		size_t run = p->pos;
		while (p->pos < p->len) {
			unsigned char c = (unsigned char)p->s[p->pos];
			if (c < 0x20 || c == '"' || c == '\\' || (c >= 0x80 && !any))
				break;
			p->pos++;
		}
		jm_buf_add(&b, p->s + run, p->pos - run);
		if (p->pos >= p->len) {
			fail(p, JM_JSON_E_UNTERMINATED);
			goto fail;
		}
		unsigned char c = (unsigned char)p->s[p->pos];
		if (c == '"') {
			p->pos++;
			break;
		}
		if (c < 0x20) {
			fail(p, JM_JSON_E_CONTROL);
			goto fail;
		}
		if (c >= 0x80) {
			size_t k = utf8_len((const unsigned char *)p->s + p->pos, p->len - p->pos);
			if (!k) {
				fail(p, JM_JSON_E_UTF8);
				goto fail;
			}
			jm_buf_add(&b, p->s + p->pos, k);
			p->pos += k;
			continue;
		}
		if (parse_escape(p, &b) < 0)
			goto fail;
	}
	*out = jm_buf_detach(&b, n);
	return 0;
fail:
	jm_buf_release(&b);
	return -1;
}

/* strtod of the number text s[0..n) in the C locale. */
static double number_value(const char *s, size_t n)
{
	char small[64], *t = n < sizeof small ? small : jm_xmalloc(n + 1);
	memcpy(t, s, n);
	t[n] = '\0';
	double v = strtod_c(t);
	if (t != small)
		free(t);
	return v;
}

static int parse_number(parser *p, jm_json *v)
{
	const char *s = p->s;
	size_t start = p->pos;
	int neg = 0, integral = 1, overflow = 0;
	uint64_t u = 0;
	if (s[p->pos] == '-') {
		neg = 1;
		p->pos++;
	}
	if (p->pos >= p->len || !is_digit(s[p->pos]))
		return fail(p, JM_JSON_E_DIGIT);
	if (s[p->pos] == '0' && p->pos + 1 < p->len && is_digit(s[p->pos + 1]))
		return fail(p, JM_JSON_E_LEADING_ZERO);
	for (; p->pos < p->len && is_digit(s[p->pos]); p->pos++) {
		unsigned d = (unsigned)(s[p->pos] - '0');
		if (u > (UINT64_MAX - d) / 10)
			overflow = 1;
		u = u * 10 + d;
	}
	if (p->pos < p->len && s[p->pos] == '.') {
		integral = 0;
		p->pos++;
		if (p->pos >= p->len || !is_digit(s[p->pos]))
			return fail(p, JM_JSON_E_FRACTION);
		while (p->pos < p->len && is_digit(s[p->pos]))
			p->pos++;
	}
	if (p->pos < p->len && (s[p->pos] == 'e' || s[p->pos] == 'E')) {
		integral = 0;
		p->pos++;
		if (p->pos < p->len && (s[p->pos] == '+' || s[p->pos] == '-'))
			p->pos++;
		if (p->pos >= p->len || !is_digit(s[p->pos]))
			return fail(p, JM_JSON_E_EXPONENT);
		while (p->pos < p->len && is_digit(s[p->pos]))
			p->pos++;
	}
	size_t n = p->pos - start;
	if (p->max_number && n > p->max_number)
		return fail_at(p, start, JM_JSON_E_NUMBER_LONG, NULL);
	v->type = JM_JSON_NUMBER;
	v->is_u64 = integral && !neg && !overflow;
	v->u = v->is_u64 ? u : 0;
	/* integers up to 2^53 convert exactly without strtod */
	if (integral && !overflow && u <= (UINT64_C(1) << 53))
		v->num = neg ? -(double)u : (double)u;
	else
		v->num = number_value(s + start, n);
	return 0;
}

/* ---- parsing: containers -------------------------------------------------- */

static int parse_value(parser *p, jm_json *v, int depth);

/* Items as doubles while they are numbers and nulls: 0 done, -1 an error,
 * 1 an item of another kind (at p->pos). */
static int parse_packed(parser *p, jm_json *v, int depth)
{
	size_t cap = 0;
	v->packed = 1;
	p->pos++;
	skip_ws(p);
	if (p->pos < p->len && p->s[p->pos] == ']') {
		p->pos++;
		return 0;
	}
	for (;;) {
		skip_ws(p);
		if (p->pos < p->len) {
			char c = p->s[p->pos];
			if (c != '-' && c != 'n' && !is_digit(c))
				return 1;
		}
		jm_json item;
		if (parse_value(p, &item, depth + 1) < 0)
			return -1;
		if (v->n == cap) {
			cap = cap ? 2 * cap : 16;
			v->nums = jm_xrealloc(v->nums, cap * sizeof *v->nums);
		}
		v->nums[v->n++] = item.type == JM_JSON_NULL ? NAN : item.num;
		skip_ws(p);
		if (p->pos < p->len && p->s[p->pos] == ',') {
			p->pos++;
			continue;
		}
		if (p->pos < p->len && p->s[p->pos] == ']') {
			p->pos++;
			return 0;
		}
		return fail(p, JM_JSON_E_ARRAY_SEP);
	}
}

static int parse_array(parser *p, jm_json *v, int depth)
{
	size_t open = p->pos, cap = 0;
	v->type = JM_JSON_ARRAY;
	if (p->flags & JM_JSON_PACK_NUMBERS) {
		int rc = parse_packed(p, v, depth);
		if (rc <= 0)
			return rc;
		/* not numbers only: start over, item by item */
		free(v->nums);
		v->nums = NULL;
		v->n = 0;
		v->packed = 0;
		p->pos = open;
	}
	p->pos++;
	skip_ws(p);
	if (p->pos < p->len && p->s[p->pos] == ']') {
		p->pos++;
		return 0;
	}
	for (;;) {
		if (v->n == cap) {
			cap = cap ? 2 * cap : 8;
			v->items = jm_xrealloc(v->items, cap * sizeof *v->items);
		}
		if (parse_value(p, &v->items[v->n++], depth + 1) < 0)
			return -1;
		skip_ws(p);
		if (p->pos < p->len && p->s[p->pos] == ',') {
			p->pos++;
			continue;
		}
		if (p->pos < p->len && p->s[p->pos] == ']') {
			p->pos++;
			return 0;
		}
		return fail(p, JM_JSON_E_ARRAY_SEP);
	}
}

/* The keys of one object, for finding a repeated key without comparing
 * each new key with all earlier ones: open addressing, slot = index + 1. */
typedef struct keyset {
	size_t *slot;
	size_t mask;
} keyset;

#define KEYSET_FROM 16 /* smaller objects compare key by key */

static size_t key_hash(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a */
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
	return (size_t)h;
}

static void keyset_insert(keyset *ks, const jm_json *obj, size_t i)
{
	size_t h = key_hash(obj->keys[i]) & ks->mask;
	while (ks->slot[h])
		h = (h + 1) & ks->mask;
	ks->slot[h] = i + 1;
}

/* Is key among obj's keys?  Keeps the set (at most half full) in step with
 * obj's first n keys. */
static int keyset_has(keyset *ks, const jm_json *obj, const char *key)
{
	if (obj->n < KEYSET_FROM) {
		for (size_t i = 0; i < obj->n; i++)
			if (!strcmp(obj->keys[i], key))
				return 1;
		return 0;
	}
	if (!ks->slot || 2 * (obj->n + 1) > ks->mask + 1) {
		size_t cap = 64;
		while (cap < 4 * (obj->n + 1))
			cap *= 2;
		free(ks->slot);
		ks->slot = jm_xcalloc(cap, sizeof *ks->slot);
		ks->mask = cap - 1;
		for (size_t i = 0; i < obj->n; i++)
			keyset_insert(ks, obj, i);
	}
	for (size_t h = key_hash(key) & ks->mask; ks->slot[h]; h = (h + 1) & ks->mask)
		if (!strcmp(obj->keys[ks->slot[h] - 1], key))
			return 1;
	return 0;
}

static int parse_object(parser *p, jm_json *v, int depth)
{
	keyset ks = {NULL, 0};
	size_t cap = 0;
	int rc = -1;
	v->type = JM_JSON_OBJECT;
	p->pos++;
	skip_ws(p);
	if (p->pos < p->len && p->s[p->pos] == '}') {
		p->pos++;
		return 0;
	}
	for (;;) {
		skip_ws(p);
		if (p->pos >= p->len || p->s[p->pos] != '"') {
			fail(p, JM_JSON_E_KEY);
			goto out;
		}
		size_t kpos = p->pos, klen;
		char *key;
		if (parse_string(p, &key, &klen) < 0)
			goto out;
		if (!(p->flags & JM_JSON_DUP_KEYS) && keyset_has(&ks, v, key)) {
			fail_at(p, kpos, JM_JSON_E_DUP_KEY, key);
			free(key);
			goto out;
		}
		skip_ws(p);
		if (p->pos >= p->len || p->s[p->pos] != ':') {
			free(key);
			fail(p, JM_JSON_E_COLON);
			goto out;
		}
		p->pos++;
		if (v->n == cap) {
			cap = cap ? 2 * cap : 8;
			v->items = jm_xrealloc(v->items, cap * sizeof *v->items);
			v->keys = jm_xrealloc(v->keys, cap * sizeof *v->keys);
		}
		v->keys[v->n] = key;
		jm_json *item = &v->items[v->n++];
		if (ks.slot)
			keyset_insert(&ks, v, v->n - 1);
		if (parse_value(p, item, depth + 1) < 0)
			goto out;
		skip_ws(p);
		if (p->pos < p->len && p->s[p->pos] == ',') {
			p->pos++;
			continue;
		}
		if (p->pos < p->len && p->s[p->pos] == '}') {
			p->pos++;
			rc = 0;
			goto out;
		}
		fail(p, JM_JSON_E_OBJECT_SEP);
		goto out;
	}
out:
	free(ks.slot);
	return rc;
}

static int parse_value(parser *p, jm_json *v, int depth)
{
	static const struct {
		const char *word;
		size_t n;
		jm_json_type type;
	} words[] = {
		{"null", 4, JM_JSON_NULL},
		{"false", 5, JM_JSON_FALSE},
		{"true", 4, JM_JSON_TRUE},
	};
	memset(v, 0, sizeof *v);
	skip_ws(p);
	v->pos = p->pos;
	if (p->pos >= p->len)
		return fail(p, JM_JSON_E_VALUE);
	if (depth > p->max_depth)
		return fail(p, JM_JSON_E_DEPTH);
	char c = p->s[p->pos];
	if (c == '{')
		return parse_object(p, v, depth);
	if (c == '[')
		return parse_array(p, v, depth);
	if (c == '"') {
		v->type = JM_JSON_STRING;
		return parse_string(p, &v->str, &v->n);
	}
	if (c == '-' || is_digit(c))
		return parse_number(p, v);
	for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
		if (p->len - p->pos >= words[i].n && !memcmp(p->s + p->pos, words[i].word, words[i].n)) {
			v->type = words[i].type;
			p->pos += words[i].n;
			return 0;
		}
	return fail(p, JM_JSON_E_VALUE);
}

int jm_json_parse(const char *text, size_t len, const jm_json_opts *opts, jm_json *out,
		  jm_json_error *e)
{
	parser p = {.s = text, .len = len, .max_depth = 64, .e = e};
	if (opts) {
		if (opts->max_depth > 0)
			p.max_depth = opts->max_depth < JM_JSON_DEPTH_LIMIT ? opts->max_depth
									     : JM_JSON_DEPTH_LIMIT;
		p.max_number = opts->max_number;
		p.flags = opts->flags;
		p.words = opts->words;
	}
	if (e) {
		e->code = JM_JSON_OK;
		e->offset = 0;
		e->what[0] = '\0';
	}
	memset(out, 0, sizeof *out);
	if (opts && opts->max_size && len > opts->max_size)
		return fail_at(&p, opts->max_size, JM_JSON_E_SIZE, NULL);
	if (parse_value(&p, out, 1) == 0) {
		skip_ws(&p);
		if (p.pos == len)
			return 0;
		fail(&p, JM_JSON_E_TRAILING);
	}
	jm_json_free(out);
	return -1;
}
