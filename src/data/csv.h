/*
 * csv.h: read a CSV file (RFC 4180) into a jm_frame, with pandas'
 * read_csv defaults wherever they make sense.
 *
 *   bytes ──BOM, UTF-16 check──▶ sniff delimiter ──▶ header row
 *         ──▶ 64-byte blocks: delimiter / newline / quote bit masks
 *               quote-free block: walk the separator bits
 *               otherwise: the byte state machine (pandas' tokenizer states)
 *         ──▶ each field to its column's parser (int → float → text, bool,
 *             ISO date-time, dictionary-encoded text; NA tokens first)
 *         ──▶ columns that turned out to mix numbers and text are read
 *             again as text, and reported with counts
 *
 * What a column becomes (type inference over the whole column):
 *   every value an integer, none missing           int64
 *   numbers (ints with missing values, decimals,   float64 (missing = NaN)
 *     inf/-inf/infinity in any case)
 *   True/TRUE/true/False/FALSE/false               bool (with missing mask)
 *   ISO 8601 date or date-time (infer_dates)       datetime
 *   anything else                                  string (dictionary)
 *   nothing but missing values                     float64, all NaN (noted)
 * A column that holds both numbers and text stays text and gets a note
 * ("column \"x\": 998 numbers and 2 text values (first text at line 17:
 * \"abc\"), kept as text"); values are never silently zeroed.
 *
 * Missing values: pandas' STR_NA_VALUES ("", "#N/A", "#N/A N/A", "#NA",
 * "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN", "<NA>",
 * "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null"; "None" as in
 * pandas 2) unless keep_default_na is 0, plus the caller's na_values.
 * Quoting does not protect a value from being read as missing or as a
 * number (as pandas).  Numbers may carry spaces around them.
 *
 * Floats are exactly rounded (the nearest double, as strtod): decimals of
 * up to 19 significant digits with a power of ten up to 22 take Clinger's
 * fast path (one exact multiplication or division); the rest go to
 * strtod_l in the C locale.  pandas' default 'high' parser agrees to the
 * last bit on everything make_tabular.py writes and is within 1 ulp on
 * the rest.  The integer text "-0" reads as 0 also in a float column (a
 * value must not depend on where a column turned from int to float);
 * "-0.0" stays -0.0.  Integers beyond int64 make the column float64
 * (pandas: uint64 or text).  The datetime type and "None" as a missing
 * token follow pandas 2 and common sense rather than pandas 1.5, which
 * keeps ISO date-times as text and "None" as a string.
 *
 * Files above a few megabytes are read in parts, one per core (at most
 * 8): cuts go after newlines outside quotes, each part is checked to
 * have ended on a record boundary (else the file is read in one piece),
 * and the parts' columns are merged so the result, the notes and the
 * first error are those of a one-piece read.
 *
 * Rows: empty and whitespace-only lines are skipped (pandas'
 * skip_blank_lines); "\n", "\r\n" and bare "\r" end a row.  A row with
 * more fields than the header is an error; one with fewer gets missing
 * values for the rest, as pandas, and a note with the count (or an error
 * with strict_fields).  Comment lines (opts.comment) must not hold an
 * unbalanced quote, except before the header.  Line numbers in
 * messages count physical lines from 1 (the header), including newlines
 * inside quoted fields.
 */
#ifndef JM_CSV_H
#define JM_CSV_H

#include <stddef.h>
#include <stdint.h>

#include "data/frame.h"
#include "data/source.h"
#include "util/err.h"

#define JM_CSV_MAX_FIELD (1 << 20) /* default cap on one field, bytes */

typedef struct jm_csv_opts {
	char delim;              /* 0 (default): sniff among , ; TAB | */
	int header;              /* 1 (default): the first row names the columns;
				  * 0: columns are col1, col2, ... */
	int keep_default_na;     /* 1 (default): pandas' NA tokens are missing */
	const char *const *na_values; /* extra tokens read as missing */
	int n_na_values;
	int64_t max_field;       /* bytes per field; 0: JM_CSV_MAX_FIELD */
	int infer_dates;         /* 1 (default): ISO 8601 columns become datetime */
	int infer_bool;          /* 1 (default): True/False columns become bool */
	int strict_fields;       /* 1: a row with fewer fields than the header is an
				  * error; 0 (default, as pandas): the fields it
				  * lacks are missing, and a note counts such rows */
	char comment;            /* lines starting with it are skipped (leading
				  * ones before the header too); 0 (default): none */
	int threads;             /* 0 (default): as many as helps, at most 8;
				  * -N: split into N parts but read them one
				  * after another on this thread (for tests) */
	const char *name;        /* file name for messages (NULL: "<input>") */
} jm_csv_opts;

void jm_csv_opts_init(jm_csv_opts *o);

/* What the reader saw and any coercions it made (malloc'd notes). */
typedef struct jm_csv_info {
	char delim;
	int bom;          /* a UTF-8 byte order mark was skipped */
	int crlf;         /* rows end with "\r\n" */
	int64_t bytes, rows;
	int n_notes;
	char **notes;     /* e.g. mixed columns, all-missing columns */
} jm_csv_info;

void jm_csv_info_clear(jm_csv_info *info); /* frees notes; accepts NULL */

/* Parse buf[0..n) (need not be NUL-terminated).  On success *out is a new
 * frame (free with jm_frame_free) and info (may be NULL) is filled.
 * Errors are JM_EXIT_INPUT with the location first, for example
 *   data.csv:3: expected 5 fields, found 6
 *   data.csv:7: field 2 ("name"): unterminated quoted field
 *   data.csv:2: field 1 ("text"): longer than the 1048576-byte limit
 *   data.csv:4: field 3 ("city"): invalid UTF-8 (byte 0xe9)
 *   data.csv: empty file
 *   data.csv: a header but no data rows */
int jm_csv_parse(const char *buf, size_t n, const jm_csv_opts *o, jm_frame **out,
		 jm_csv_info *info, jm_err *err);

/* Open spec through jm_source_open (a path, archive member, .gz or URL)
 * and parse it; o->name defaults to the source's display name. */
int jm_csv_read(const char *spec, const jm_csv_opts *o, const jm_source_opts *so,
		jm_frame **out, jm_csv_info *info, jm_err *err);

/* Parse a number as the reader does: 1 when all of s[0..n) is one
 * (surrounding spaces allowed), with the value in *v. */
int jm_csv_parse_double(const char *s, size_t n, double *v);
int jm_csv_parse_int(const char *s, size_t n, int64_t *v);

/* pandas' default NA tokens (as above), NULL-terminated. */
extern const char *const jm_csv_default_na[];

#endif
