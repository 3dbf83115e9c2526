/*
 * test_frame.c: string dictionaries, columns and their missing masks, row
 * selection, the float matrix a model trains on, dates, and CSV output.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/csv.h"
#include "data/frame.h"

Test(frame, dict_interns_in_first_seen_order)
{
	jm_dict *d = jm_dict_new();
	char word[32];
	for (int i = 0; i < 5000; i++) {
		snprintf(word, sizeof word, "w%d", i % 1000);
		cr_assert_eq(jm_dict_intern(d, word, strlen(word)), i % 1000);
	}
	cr_assert_eq(d->n, 1000);
	cr_assert_str_eq(d->s[123], "w123");
	cr_assert_eq(d->len[123], 4);
	cr_assert_eq(jm_dict_find(d, "w999", 4), 999);
	cr_assert_eq(jm_dict_find(d, "w1000", 5), -1);
	cr_assert_eq(jm_dict_intern(d, "", 0), 1000, "the empty string is a value too");
	cr_assert_eq(jm_dict_intern(d, "a\0b", 3), 1001, "lengths, not NUL, end strings");
	cr_assert_eq(jm_dict_find(d, "a", 1), -1);
	jm_dict *r = jm_dict_ref(d);
	jm_dict_unref(d);
	cr_assert_eq(r->n, 1002, "still alive through the second reference");
	jm_dict_unref(r);
	jm_dict_unref(NULL);
}

static jm_frame *small(void)
{
	jm_frame *f = jm_frame_new(4);
	jm_err err = {0};
	jm_col *x = jm_frame_add(f, "x", JM_COL_F64, &err);
	jm_col *n = jm_frame_add(f, "n", JM_COL_I64, &err);
	jm_col *s = jm_frame_add(f, "s", JM_COL_STR, &err);
	jm_col *b = jm_frame_add(f, "b", JM_COL_BOOL, &err);
	cr_assert(x && n && s && b, "%s", err.msg);
	const char *words[] = {"red", "green", "red", "blue"};
	for (int i = 0; i < 4; i++) {
		x->v.f64[i] = i * 1.5;
		n->v.i64[i] = 10 * i;
		s->v.code[i] = jm_dict_intern(s->dict, words[i], strlen(words[i]));
		b->v.b[i] = (uint8_t)(i & 1);
	}
	x->v.f64[2] = NAN;
	jm_col_sync_na(x, 4);
	return f;
}

Test(frame, columns_add_find_drop)
{
	jm_frame *f = small();
	jm_err err = {0};
	cr_assert_eq(f->ncols, 4);
	cr_assert_eq(jm_frame_index(f, "s"), 2);
	cr_assert_null(jm_frame_col(f, "zz"));
	cr_assert_null(jm_frame_add(f, "x", JM_COL_F64, &err));
	cr_assert_str_eq(err.msg, "column \"x\" already exists");
	cr_assert_eq(err.code, JM_EXIT_INPUT);
	jm_col *keep = jm_frame_col(f, "b");
	for (int i = 0; i < 40; i++) { /* growing the column array keeps pointers */
		char name[16];
		snprintf(name, sizeof name, "extra%d", i);
		cr_assert_not_null(jm_frame_add(f, name, JM_COL_F64, &err));
	}
	cr_assert_eq(jm_frame_col(f, "b"), keep);
	cr_assert_eq(jm_frame_drop(f, "n"), 0);
	cr_assert_eq(jm_frame_drop(f, "n"), -1);
	cr_assert_eq(jm_frame_index(f, "s"), 1);
	jm_frame_free(f);
	jm_frame_free(NULL);
}

Test(frame, missing_masks_follow_nan)
{
	jm_frame *f = small();
	jm_col *x = jm_frame_col(f, "x");
	cr_assert_eq(x->n_na, 1);
	cr_assert(jm_col_isna(x, 2));
	x->v.f64[2] = 7;
	x->na[2] = 0;
	jm_col_sync_na(x, 4);
	cr_assert_eq(x->n_na, 0);
	cr_assert_null(x->na, "an empty mask is freed");
	x->v.f64[0] = 0.0 / 0.0;
	jm_col_sync_na(x, 4);
	cr_assert_eq(x->n_na, 1);
	cr_assert(isnan(jm_col_num(x, 0)));
	cr_assert_eq(jm_col_num(jm_frame_col(f, "n"), 3), 30.0);
	cr_assert(isnan(jm_col_num(jm_frame_col(f, "s"), 0)), "text has no number");
	jm_frame_free(f);
}

Test(frame, take_and_filter_rows)
{
	jm_frame *f = small();
	jm_err err = {0};
	int64_t idx[] = {3, 2, 2};
	jm_frame *t = jm_frame_take(f, idx, 3, &err);
	cr_assert_not_null(t, "%s", err.msg);
	cr_assert_eq(t->nrows, 3);
	char buf[32];
	cr_assert_str_eq(jm_col_text(jm_frame_col(t, "s"), 0, buf, sizeof buf), "blue");
	cr_assert_eq(jm_frame_col(t, "n")->v.i64[1], 20);
	cr_assert_eq(jm_frame_col(t, "x")->n_na, 2, "row 2 twice, missing twice");
	cr_assert_eq(jm_frame_col(t, "s")->dict, jm_frame_col(f, "s")->dict, "shared dictionary");
	jm_frame_free(f); /* the copy keeps its own reference */
	cr_assert_str_eq(jm_col_text(jm_frame_col(t, "s"), 2, buf, sizeof buf), "red");
	uint8_t keep[] = {1, 0, 1};
	cr_assert_eq(jm_frame_filter(t, keep, &err), 0);
	cr_assert_eq(t->nrows, 2);
	cr_assert_eq(jm_frame_col(t, "n")->v.i64[1], 20);
	cr_assert_eq(jm_frame_col(t, "x")->n_na, 1);
	jm_frame_free(t);
}

/* Row origins ride along through take and filter, so a message about a
 * row of a part can still name its line in the file. */
Test(frame, origins_follow_take_and_filter)
{
	jm_frame *f = small();
	jm_err err = {0};
	cr_assert_null(f->origin);
	cr_assert_eq(jm_frame_origin(f, 2), 2, "no numbering: the row itself");
	jm_frame_number_rows(f);
	int64_t idx[] = {3, 1, 2};
	jm_frame *t = jm_frame_take(f, idx, 3, &err);
	cr_assert_not_null(t, "%s", err.msg);
	cr_assert_not_null(t->origin);
	cr_assert_eq(jm_frame_origin(t, 0), 3);
	cr_assert_eq(jm_frame_origin(t, 2), 2);
	uint8_t keep[] = {0, 1, 1};
	cr_assert_eq(jm_frame_filter(t, keep, &err), 0);
	cr_assert_eq(t->nrows, 2);
	cr_assert_eq(jm_frame_origin(t, 0), 1, "the row of f it came from, after the filter");
	cr_assert_eq(jm_frame_origin(t, 1), 2);
	jm_frame *u = jm_frame_take(t, (int64_t[]){1}, 1, &err);
	cr_assert_eq(jm_frame_origin(u, 0), 2, "taken twice");
	jm_frame_free(u);
	jm_frame_free(t);
	jm_frame_free(f);
}

/* What a message may quote: valid UTF-8 as is, other bytes and control
 * characters as \xNN, cut with "..." without splitting a character. */
Test(frame, escape_text_for_messages)
{
	char buf[64];
	cr_assert_str_eq(jm_escape_text(buf, sizeof buf, "species"), "species");
	cr_assert_str_eq(jm_escape_text(buf, sizeof buf, "caf\xc3\xa9 \xe4\xb8\xad"), "caf\xc3\xa9 \xe4\xb8\xad");
	cr_assert_str_eq(jm_escape_text(buf, sizeof buf, "sp\xe9" "cies"), "sp\\xe9cies", "latin-1");
	cr_assert_str_eq(jm_escape_text(buf, sizeof buf, "a\tb\x7f\x1b[31m"), "a\\x09b\\x7f\\x1b[31m");
	cr_assert_str_eq(jm_escape_text(buf, sizeof buf, "\xed\xa0\x80"), "\\xed\\xa0\\x80", "a surrogate");
	cr_assert_str_eq(jm_escape_text(buf, sizeof buf, "\xc3"), "\\xc3", "cut short");
	char small[12];
	cr_assert_str_eq(jm_escape_text(small, sizeof small, "abcdefghijklmnop"), "abcdefgh...");
	cr_assert_str_eq(jm_escape_text(small, sizeof small, "abcde\xc3\xa9\xc3\xa9"), "abcde\xc3\xa9...");
	cr_assert_str_eq(jm_escape_text(small, sizeof small, "ab\xff\xff" "cd"), "ab\\xff...");
}

Test(frame, matrix_is_row_major_float)
{
	jm_frame *f = small();
	jm_err err = {0};
	const char *cols[] = {"n", "b"};
	float m[8];
	cr_assert_eq(jm_frame_matrix(f, cols, 2, m, &err), 0, "%s", err.msg);
	float want[8] = {0, 0, 10, 1, 20, 0, 30, 1};
	for (int i = 0; i < 8; i++)
		cr_assert_eq(m[i], want[i], "element %d", i);
	const char *with_text[] = {"s"};
	cr_assert_eq(jm_frame_matrix(f, with_text, 1, m, &err), -1);
	cr_assert_str_eq(err.msg, "column \"s\" holds text; encode it first (one-hot or ordinal)");
	const char *with_na[] = {"x"};
	cr_assert_eq(jm_frame_matrix(f, with_na, 1, m, &err), -1);
	cr_assert_str_eq(err.msg, "column \"x\": 1 missing values of 4; fill or drop them before training");
	cr_assert_eq(err.code, JM_EXIT_INPUT);
	const char *nope[] = {"nope"};
	cr_assert_eq(jm_frame_matrix(f, nope, 1, m, &err), -1);
	cr_assert_str_eq(err.msg, "no column \"nope\"");
	jm_frame_free(f);
}

Test(frame, dates)
{
	cr_assert_eq(jm_days_from_civil(1970, 1, 1), 0);
	cr_assert_eq(jm_days_from_civil(2000, 3, 1), 11017);
	cr_assert_eq(jm_days_from_civil(1969, 12, 31), -1);
	for (int64_t z = -800000; z <= 800000; z += 997) {
		int64_t y;
		unsigned m, d;
		jm_civil_from_days(z, &y, &m, &d);
		cr_assert_eq(jm_days_from_civil(y, m, d), z);
	}
	int64_t ns;
	cr_assert_eq(jm_parse_datetime("2024-02-29", 10, &ns), 0);
	cr_assert_eq(ns, (int64_t)19782 * 86400 * 1000000000);
	cr_assert_eq(jm_parse_datetime("2023-02-29", 10, &ns), -1, "not a leap year");
	cr_assert_eq(jm_parse_datetime("2024-13-01", 10, &ns), -1);
	cr_assert_eq(jm_parse_datetime("2024-01-01T24:00", 16, &ns), -1);
	cr_assert_eq(jm_parse_datetime("2024-01-01T23:59:59.5Z", 22, &ns), 0);
	char buf[40];
	jm_format_datetime(ns, buf, sizeof buf);
	cr_assert_str_eq(buf, "2024-01-01T23:59:59.500000000");
	jm_format_datetime(-1, buf, sizeof buf);
	cr_assert_str_eq(buf, "1969-12-31T23:59:59.999999999");
	cr_assert_eq(jm_parse_datetime_fmt("03/07/24 13:05", 14, "%d/%m/%y %H:%M", &ns), 0);
	jm_format_datetime(ns, buf, sizeof buf);
	cr_assert_str_eq(buf, "2024-07-03T13:05:00");
	cr_assert_eq(jm_parse_datetime_fmt("5 Mar 2021", 10, "%d %b %Y", &ns), 0);
	jm_format_datetime(ns, buf, sizeof buf);
	cr_assert_str_eq(buf, "2021-03-05T00:00:00");
	cr_assert_eq(jm_parse_datetime_fmt("5 Foo 2021", 10, "%d %b %Y", &ns), -1);
	cr_assert_eq(jm_parse_datetime_fmt("2021-03-05x", 11, "%Y-%m-%d", &ns), -1, "trailing bytes");
}

Test(frame, csv_out_and_back)
{
	jm_frame *f = small();
	char *text = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&text, &len);
	jm_err err = {0};
	cr_assert_eq(jm_frame_write_csv(f, m, &err), 0);
	fclose(m);
	cr_assert_str_eq(text, "x,n,s,b\n0,0,red,False\n1.5,10,green,True\n,20,red,False\n4.5,30,blue,True\n");
	jm_frame *g = NULL;
	cr_assert_eq(jm_csv_parse(text, len, NULL, &g, NULL, &err), 0, "%s", err.msg);
	cr_assert_eq(jm_frame_col(g, "b")->type, JM_COL_BOOL);
	cr_assert_eq(jm_frame_col(g, "x")->n_na, 1);
	cr_assert_eq(jm_frame_col(g, "x")->v.f64[3], 4.5);
	jm_frame_free(g);
	jm_frame_free(f);
	free(text);
}

Test(frame, to_f64)
{
	jm_frame *f = small();
	jm_err err = {0};
	jm_col *b = jm_frame_col(f, "b");
	cr_assert_eq(jm_col_to_f64(b, f->nrows, &err), 0);
	cr_assert_eq(b->type, JM_COL_F64);
	cr_assert_eq(b->v.f64[3], 1.0);
	cr_assert_eq(jm_col_to_f64(jm_frame_col(f, "s"), f->nrows, &err), -1);
	cr_assert_str_eq(err.msg, "column \"s\": string values are not numbers");
	jm_frame_free(f);
}
