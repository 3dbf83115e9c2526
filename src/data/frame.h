/*
 * frame.h: a columnar table in memory, what the CSV reader produces and
 * the cleaning and feature stages transform.
 *
 *   csv / source ──▶ jm_frame ──clean──▶ jm_frame ──features──▶ jm_frame
 *                                                    └──jm_frame_matrix──▶ float[rows x cols]
 *
 * Every column holds nrows values of one type and a missing mask:
 *
 *   type          values                 missing
 *   JM_COL_F64    double  v.f64[i]       na[i] = 1, and v.f64[i] is NaN
 *   JM_COL_I64    int64_t v.i64[i]       na[i] = 1, v.i64[i] = 0
 *   JM_COL_BOOL   uint8_t v.b[i] (0/1)   na[i] = 1, v.b[i] = 0
 *   JM_COL_TIME   int64_t v.ns[i]        na[i] = 1, v.ns[i] = 0
 *                 (nanoseconds since 1970-01-01T00:00:00, no time zone,
 *                  as pandas' datetime64[ns])
 *   JM_COL_STR    int32_t v.code[i]      na[i] = 1, v.code[i] = -1
 *                 (an index into the column's dictionary)
 *
 * na is NULL when nothing is missing; n_na counts the set bytes.  For F64
 * a NaN value is always marked missing (jm_col_sync_na restores that after
 * arithmetic), so "missing" means what pandas' isna() means.
 *
 * Ownership: a frame owns its columns; a column owns its name, values,
 * mask, and holds one reference to its dictionary (dictionaries are shared
 * between a column and the copies jm_frame_take makes, and are immutable
 * once a column is built).  Pointers to a column stay valid until that
 * column is dropped or the frame is freed: adding columns never moves the
 * existing ones.
 */
#ifndef JM_FRAME_H
#define JM_FRAME_H

#include <stdint.h>
#include <stdio.h>

#include "util/err.h"

typedef enum jm_coltype {
	JM_COL_F64,
	JM_COL_I64,
	JM_COL_BOOL,
	JM_COL_TIME,
	JM_COL_STR,
} jm_coltype;

/* "float64", "int64", "bool", "datetime", "string" */
const char *jm_coltype_name(jm_coltype t);

/* A string dictionary: n distinct strings, code k is s[k] (NUL-terminated,
 * len[k] bytes, may contain no NUL).  Codes are given in order of first
 * insertion.  Built with jm_dict_new/jm_dict_intern, then shared. */
typedef struct jm_dict {
	int32_t n, cap;
	char **s;
	uint32_t *len;
	/* private: open addressing on the hash, slot = code + 1 (0: empty) */
	uint32_t *hash;   /* per code */
	uint32_t *slots;
	uint32_t nslots;
	char **blocks;    /* strings live in blocks that never move */
	int nblocks;
	size_t block_used, block_cap;
	int refs;
} jm_dict;

jm_dict *jm_dict_new(void);
/* The code of s[0..len), inserting it when new (-1 only past 2^31 entries). */
int32_t jm_dict_intern(jm_dict *d, const char *s, size_t len);
/* The code of s[0..len), or -1 when absent. */
int32_t jm_dict_find(const jm_dict *d, const char *s, size_t len);
jm_dict *jm_dict_ref(jm_dict *d);
void jm_dict_unref(jm_dict *d); /* accepts NULL */

typedef struct jm_col {
	char *name;
	jm_coltype type;
	union {
		double *f64;
		int64_t *i64;
		uint8_t *b;
		int64_t *ns;
		int32_t *code;
		void *p;
	} v;
	uint8_t *na;    /* nrows bytes or NULL */
	int64_t n_na;
	jm_dict *dict;  /* JM_COL_STR only */
} jm_col;

typedef struct jm_frame {
	int64_t nrows;
	int ncols, cap;
	jm_col **cols;
	/* NULL, or per row the number of the row it came from, in a numbering
	 * the caller chose (tabular.c: the CSV's data rows, from 0), so a
	 * message about a row can still name its line after rows were taken
	 * or filtered.  Owned by the frame; jm_frame_take and jm_frame_filter
	 * carry it along; jm_frame_number_rows starts it. */
	int64_t *origin;
} jm_frame;

/* An empty frame of nrows rows and no columns. */
jm_frame *jm_frame_new(int64_t nrows);
void jm_frame_free(jm_frame *f); /* accepts NULL */

/* The column called name, or NULL; jm_frame_index gives its position (-1). */
jm_col *jm_frame_col(const jm_frame *f, const char *name);
int jm_frame_index(const jm_frame *f, const char *name);

/* Append a new column of type t with nrows zeroed values and no mask;
 * returns it, or NULL with err set (duplicate name: JM_EXIT_INPUT; out of
 * memory: JM_EXIT_FAIL).  A STR column gets a fresh empty dictionary. */
jm_col *jm_frame_add(jm_frame *f, const char *name, jm_coltype t, jm_err *err);
/* Append an existing column (takes ownership of c, also on failure). */
int jm_frame_adopt(jm_frame *f, jm_col *c, jm_err *err);
/* Remove the column called name and free it; 0, or -1 when absent. */
int jm_frame_drop(jm_frame *f, const char *name);
/* Take column i out of the frame without freeing it (caller owns it). */
jm_col *jm_frame_detach(jm_frame *f, int i);

/* A new frame with the rows idx[0..n) of f, in that order (repeats
 * allowed); dictionaries are shared.  For validation/test subsets and
 * for dropping rows. */
jm_frame *jm_frame_take(const jm_frame *f, const int64_t *idx, int64_t n, jm_err *err);
/* Keep the rows whose keep[i] is non-zero, in place. */
int jm_frame_filter(jm_frame *f, const uint8_t *keep, jm_err *err);
/* Number the rows 0..nrows-1 in f->origin (replacing any numbering). */
void jm_frame_number_rows(jm_frame *f);
/* The origin of row i: f->origin[i], or i when f has none. */
static inline int64_t jm_frame_origin(const jm_frame *f, int64_t i)
{
	return f->origin ? f->origin[i] : i;
}

/* Column helpers. */
jm_col *jm_col_new(const char *name, jm_coltype t, int64_t nrows, jm_err *err);
void jm_col_free(jm_col *c); /* accepts NULL */
/* Give c a dictionary of its own (a copy when it is shared) so new
 * strings can be interned into it. */
void jm_col_own_dict(jm_col *c);
/* Make sure c->na exists (all zero when created). */
int jm_col_ensure_na(jm_col *c, int64_t nrows, jm_err *err);
/* Recount n_na; for F64 also mark NaN values missing.  Frees na when
 * nothing is missing. */
void jm_col_sync_na(jm_col *c, int64_t nrows);
static inline int jm_col_isna(const jm_col *c, int64_t i)
{
	return c->na && c->na[i];
}
/* Value i as a double: F64 as is, I64/BOOL converted, TIME as seconds
 * since the epoch, STR as NaN; missing gives NaN. */
double jm_col_num(const jm_col *c, int64_t i);
/* Value i as text into buf (ISO 8601 for TIME, "" for missing, %.17g
 * shortest round trip for F64); returns buf or the dictionary string. */
const char *jm_col_text(const jm_col *c, int64_t i, char *buf, size_t n);
/* Convert a numeric (I64, BOOL, TIME: seconds) column to F64 in place. */
int jm_col_to_f64(jm_col *c, int64_t nrows, jm_err *err);

/* ---- text in messages ------------------------------------------------ */

/* Length of the valid UTF-8 sequence at s (at most n bytes), 0 if invalid. */
static inline int jm_utf8_seq(const unsigned char *s, size_t n)
{
	unsigned c = s[0];
	if (c < 0x80)
		return 1;
	int len;
	unsigned lo = 0x80, hi = 0xbf;
	if (c >= 0xc2 && c <= 0xdf)
		len = 2;
	else if (c >= 0xe0 && c <= 0xef) {
		len = 3;
		if (c == 0xe0)
			lo = 0xa0;
		if (c == 0xed)
			hi = 0x9f; /* no surrogates */
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4;
		if (c == 0xf0)
			lo = 0x90;
		if (c == 0xf4)
			hi = 0x8f;
	} else
		return 0;
	if ((size_t)len > n || s[1] < lo || s[1] > hi)
		return 0;
	for (int k = 2; k < len; k++)
		if ((s[k] & 0xc0) != 0x80)
			return 0;
	return len;
}

/* s as a message may quote it: bytes that are not valid UTF-8 and
 * control characters become \xNN, so a latin-1 name from a flow or a tab
 * in a header does not reach a terminal raw; cut with "..." to fit
 * buf[0..n) (n >= 8).  Returns buf. */
const char *jm_escape_text(char *buf, size_t n, const char *s);

/* Dates: days since 1970-01-01 of a proleptic Gregorian date and back. */
int64_t jm_days_from_civil(int64_t y, unsigned m, unsigned d);
void jm_civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d);
/* Parse an ISO 8601 date or date-time, "YYYY-MM-DD", optionally followed
 * by 'T' or ' ' and "HH:MM[:SS[.fraction]]", optionally followed by 'Z'
 * (no other offsets).  Returns 0 and nanoseconds since the epoch, or -1. */
int jm_parse_datetime(const char *s, size_t n, int64_t *ns);
/* Parse s with a strptime-like format: %Y %m %d %H %M %S %y %b (English
 * month abbreviation) %f (fraction) %% and literal bytes.  0 or -1. */
int jm_parse_datetime_fmt(const char *s, size_t n, const char *fmt, int64_t *ns);
/* Write "YYYY-MM-DDTHH:MM:SS[.fffffffff]" (fraction only when non-zero). */
void jm_format_datetime(int64_t ns, char *buf, size_t n);

/* Copy the columns names[0..n) into a row-major float matrix
 * out[nrows * n] (F64, I64, BOOL; TIME as seconds since the epoch).
 * Fails with JM_EXIT_INPUT on an unknown or STR column, or on a missing
 * value, naming the column and how many are missing. */
int jm_frame_matrix(const jm_frame *f, const char *const *names, int n, float *out,
		    jm_err *err);

/* Print the first rows as an aligned table (at most max_rows, 0 = 10). */
void jm_frame_print(FILE *out, const jm_frame *f, int64_t max_rows);
/* Write f as CSV (RFC 4180, header, comma, "" for missing). */
int jm_frame_write_csv(const jm_frame *f, FILE *out, jm_err *err);
/* One CSV field (RFC 4180): quoted, its quotes doubled, when it holds a
 * comma, a quote or a line end. */
void jm_csv_write_field(FILE *out, const char *s);

#endif
