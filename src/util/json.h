/*
 * json.h: JSON for the whole program: writing strings and numbers (into a
 * jm_buf or a FILE *), and a strict DOM parser with lookups.
 *
 *   writing:  C string / double ──escape, shortest round trip──▶ jm_buf | FILE
 *   reading:  text ──jm_json_parse (RFC 8259, limits from the caller)──▶
 *             jm_json tree ──jm_json_get / jm_json_at──▶ the caller's checks
 *             ──jm_json_free
 *
 * Numbers are read and written in the "C" locale whatever setlocale() says.
 */
#ifndef JM_JSON_H
#define JM_JSON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "util/err.h"
#include "util/strbuf.h"

/* ---- writing ------------------------------------------------------------ */

/*
 * The default form: strings escape '"', '\\', '\n', '\r', '\t' with a
 * backslash and the other control characters as \u00XX (lowercase hex);
 * every other byte, UTF-8 or not, passes through unchanged.  Numbers take
 * the fewest of 15, 16 or 17 significant digits that read back as exactly
 * the same double ("%.15g" first: 0.1, 1000000, 1e-07, -0); NaN and +-inf
 * are written null.
 *
 * Style flags, or-ed, change one thing each; they exist so that every file
 * and output format keeps the bytes it has always had:
 */
enum {
	JM_JSON_INF_1E999 = 1u << 0, /* +-inf as +-1e999 (JSON readers take it as
				      * +-infinity, jm_json_parse too); NaN stays null */
	JM_JSON_ESC_BF = 1u << 1,    /* backspace and form feed as \b and \f */
	JM_JSON_ESC_CTRL_U = 1u << 2, /* every control character as \u00XX, \n \r \t too */
	JM_JSON_NUM_G6 = 1u << 3,    /* try 6 significant digits first, like printf's
				      * "%g": 1e+06, not 1000000 */
};

/* Longest text jm_json_fmt_num() writes, with its NUL. */
#define JM_JSON_NUM_MAX 32

/* Write v as JSON number text into out (NUL-terminated); returns its length. */
size_t jm_json_fmt_num(char out[JM_JSON_NUM_MAX], double v, unsigned style);

/* Append s as a quoted JSON string; s == NULL appends null. */
void jm_json_add_str(jm_buf *b, const char *s, unsigned style);
/* Append v as a JSON number (or null). */
void jm_json_add_num(jm_buf *b, double v, unsigned style);
/* The same, written to f. */
void jm_json_write_str(FILE *f, const char *s, unsigned style);
void jm_json_write_num(FILE *f, double v, unsigned style);

/* 1 when s[0..n) is valid UTF-8 (no overlong forms, surrogates or code
 * points above U+10FFFF): what the strict parser accepts in a string. */
int jm_json_utf8_valid(const char *s, size_t n);

/* Short forms: jm_json_write_str(f, s, 0), jm_json_write_num(f, v, JM_JSON_NUM_G6). */
void jm_json_str(FILE *f, const char *s);
void jm_json_num(FILE *f, double v);

/* ---- the tree ----------------------------------------------------------- */

typedef enum jm_json_type {
	JM_JSON_NULL,
	JM_JSON_FALSE,
	JM_JSON_TRUE,
	JM_JSON_NUMBER,
	JM_JSON_STRING,
	JM_JSON_ARRAY,
	JM_JSON_OBJECT,
} jm_json_type;

/*
 * One value.  The tree owns all of its memory (keys, strings, items; none of
 * it points into the parsed text) and jm_json_free() releases it; pointers
 * into a tree stay valid until then.
 *
 *   NUMBER   num: the value (strtod: 1e999 is inf, 1e-999 is 0); is_u64
 *            and u: set when the text is a plain integer from 0 to 2^64-1
 *            (no '-', '.' or exponent), u exactly
 *   STRING   str: NUL-terminated, n bytes, never a NUL inside (\u0000 is
 *            refused); valid UTF-8 unless JM_JSON_ANY_BYTES
 *   ARRAY    n items: items[i]; or, when packed, nums[i] (see below)
 *   OBJECT   n members: keys[i] and items[i] in text order
 *
 * Packed arrays: with JM_JSON_PACK_NUMBERS, an array whose items are all
 * numbers and nulls (the empty array included) keeps just the values,
 * nums[i], null as NaN (8 bytes an item instead of a whole jm_json); packed
 * is set, items is NULL and jm_json_at() finds nothing.  Any other array is
 * kept item by item as usual.
 */
typedef struct jm_json {
	jm_json_type type;
	unsigned char packed; /* ARRAY: held in nums[] */
	unsigned char is_u64; /* NUMBER: u holds it exactly */
	size_t pos;           /* byte offset of the value in the text */
	size_t n;             /* ARRAY, OBJECT: items; STRING: bytes */
	union {
		struct { /* NUMBER */
			double num;
			uint64_t u;
		};
		char *str; /* STRING */
		struct {   /* ARRAY, OBJECT */
			struct jm_json *items;
			char **keys; /* OBJECT only */
		};
		double *nums; /* packed ARRAY */
	};
} jm_json;

/* Append v as compact JSON text (no spaces; members in their order; a
 * number with is_u64 as that integer, any other by jm_json_add_num(style):
 * style JM_JSON_INF_1E999 keeps the inf that 1e999 parsed to). */
void jm_json_add_value(jm_buf *b, const jm_json *v, unsigned style);
/* 1 when a and b hold the same value: same types; numbers equal as values
 * (1 and 1.0 are, -0 and 0 are not, whole numbers with is_u64 compare
 * exactly; a packed null, NaN, equals NaN); the same string bytes; items and
 * members equal (keys in the same order); a packed array equals the same
 * items unpacked. */
int jm_json_equal(const jm_json *a, const jm_json *b);

/* Free everything v holds and leave it JM_JSON_NULL; v may be NULL. */
void jm_json_free(jm_json *v);

/* obj's member named key (the first, when the text repeats it), or NULL when
 * obj is NULL, not an object, or has no such member. */
const jm_json *jm_json_get(const jm_json *obj, const char *key);
/* arr's item i, or NULL when arr is NULL, not an array, packed, or shorter. */
const jm_json *jm_json_at(const jm_json *arr, size_t i);
/* 1 when v is not NULL and of type t. */
int jm_json_is(const jm_json *v, jm_json_type t);
/* 1 when v is a number written as an integer from 0 to 2^64-1 (then *out,
 * if out is not NULL, receives it), else 0. */
int jm_json_as_u64(const jm_json *v, uint64_t *out);
/* "null", "false", "true", "a number", "a string", "an array", "an object":
 * for messages such as "expected an object, got a string". */
const char *jm_json_type_name(jm_json_type t);

/* ---- parsing ------------------------------------------------------------ */

typedef enum jm_json_errcode {
	JM_JSON_OK,
	JM_JSON_E_SIZE,           /* text over the size limit */
	JM_JSON_E_VALUE,          /* expected a value */
	JM_JSON_E_DEPTH,          /* nested too deeply */
	JM_JSON_E_DIGIT,          /* '-' without a digit */
	JM_JSON_E_LEADING_ZERO,   /* 01 */
	JM_JSON_E_FRACTION,       /* '.' without a digit */
	JM_JSON_E_EXPONENT,       /* 'e' without a digit */
	JM_JSON_E_NUMBER_LONG,    /* number text over max_number bytes */
	JM_JSON_E_UNTERMINATED,   /* the text ends inside a string */
	JM_JSON_E_CONTROL,        /* a raw control character in a string */
	JM_JSON_E_ESCAPE,         /* \q */
	JM_JSON_E_UNTERMINATED_U, /* the text ends inside \uXXXX */
	JM_JSON_E_HEX,            /* \u12g4 */
	JM_JSON_E_SURROGATE,      /* \ud800 alone, \udc00 first */
	JM_JSON_E_NUL,            /* \u0000 */
	JM_JSON_E_UTF8,           /* bytes that are not UTF-8 */
	JM_JSON_E_KEY,            /* an object member without a string key */
	JM_JSON_E_COLON,          /* a key without ':' */
	JM_JSON_E_ARRAY_SEP,      /* an item not followed by ',' or ']' */
	JM_JSON_E_OBJECT_SEP,     /* a member not followed by ',' or '}' */
	JM_JSON_E_DUP_KEY,        /* a key twice in one object */
	JM_JSON_E_TRAILING,       /* text after the value */
	JM_JSON_E_COUNT
} jm_json_errcode;

/* Parse flags (jm_json_opts.flags).  The default is strict: */
enum {
	JM_JSON_ANY_BYTES = 1u << 0,    /* strings may hold bytes that are not UTF-8
					 * (kept as they are) */
	JM_JSON_DUP_KEYS = 1u << 1,     /* an object may repeat a key; lookups find the
					 * first */
	JM_JSON_PACK_NUMBERS = 1u << 2, /* arrays of numbers and nulls packed (above) */
};

/* The deepest nesting the parser takes, whatever max_depth asks (it recurses). */
#define JM_JSON_DEPTH_LIMIT 1000

typedef struct jm_json_opts {
	int max_depth;     /* values nest at most this deep; the top-level value is
			    * depth 1 and a number inside it depth 2.  0: 64 */
	size_t max_size;   /* longer text is refused; 0: no limit */
	size_t max_number; /* longer number text is refused; 0: no limit */
	unsigned flags;    /* JM_JSON_ANY_BYTES | JM_JSON_DUP_KEYS | ... */
	/* The caller's words for errors, by code: NULL, or a NULL entry, keeps
	 * the default (jm_json_error_word()).  For a format whose messages its
	 * users already know. */
	const char *const *words;
} jm_json_opts;

typedef struct jm_json_error {
	jm_json_errcode code;
	size_t offset;   /* 0-based byte offset in the text where it was found
			  * (the text's length when it ended too soon) */
	char what[1024]; /* the message without the place: "expected ':'",
			  * "duplicate key \"a\"" */
} jm_json_error;

/*
 * Parse text[0..len) (no NUL needed after it) into *out: one value, with
 * only whitespace around it.  Returns 0, or -1 with *out left
 * JM_JSON_NULL and *e (if e is not NULL) saying what and where.  opts may
 * be NULL: strict, depth 64, no size limits.  Never prints; never aborts
 * on bad text (only on running out of memory, like jm_xmalloc).
 */
int jm_json_parse(const char *text, size_t len, const jm_json_opts *opts, jm_json *out,
		  jm_json_error *e);

/* The default word for an error code ("expected a value", ...). */
const char *jm_json_error_word(jm_json_errcode code);
/* Fill err with JM_EXIT_INPUT and "WHERE: byte N: what" (N counted from 0;
 * just "byte N: what" when where is NULL); returns -1. */
int jm_json_error_set(jm_err *err, const char *where, const jm_json_error *e);

#endif
