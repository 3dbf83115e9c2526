/*
 * test_csv.c: the CSV reader: type inference, pandas' NA tokens, quoting,
 * line endings, delimiter sniffing, headers, exact float parsing, the
 * split-into-parts path against the one-piece path, and every bad input
 * with its message and exit code.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/csv.h"
#include "testutil.h"

static jm_frame *parse_opts(const char *text, jm_csv_opts *o, jm_csv_info *info)
{
	jm_frame *f = NULL;
	jm_err err = {0};
	int rc = jm_csv_parse(text, strlen(text), o, &f, info, &err);
	cr_assert_eq(rc, 0, "parse failed: %s", err.msg);
	return f;
}

static jm_frame *parse(const char *text)
{
	jm_csv_opts o;
	jm_csv_opts_init(&o);
	o.name = "t.csv";
	return parse_opts(text, &o, NULL);
}

/* Parse expecting failure; returns the message (static buffer). */
static const char *parse_fail_opts(const char *text, size_t n, jm_csv_opts *o, int code)
{
	static jm_err err;
	memset(&err, 0, sizeof err);
	jm_frame *f = NULL;
	int rc = jm_csv_parse(text, n, o, &f, NULL, &err);
	cr_assert_eq(rc, -1, "expected failure for %.60s", text);
	cr_assert_null(f);
	cr_assert_eq(err.code, code, "code %d for: %s", err.code, err.msg);
	return err.msg;
}

static const char *parse_fail(const char *text)
{
	jm_csv_opts o;
	jm_csv_opts_init(&o);
	o.name = "t.csv";
	return parse_fail_opts(text, strlen(text), &o, JM_EXIT_INPUT);
}

static const char *text_at(const jm_frame *f, const char *col, int64_t i)
{
	static char buf[128];
	jm_col *c = jm_frame_col(f, col);
	cr_assert_not_null(c, "no column %s", col);
	return jm_col_text(c, i, buf, sizeof buf);
}

Test(csv, infers_each_type_over_the_whole_column)
{
	jm_frame *f = parse("i,fl,ifl,b,t,s\n"
			    "1,1.5,1,True,2024-01-02,x\n"
			    "-2,NA,2.5,false,2024-02-29T10:11:12,y\n"
			    "30,3,3,TRUE,2024-03-01 00:00:01.25,x\n");
	cr_assert_eq(f->nrows, 3);
	cr_assert_eq(f->ncols, 6);
	jm_col *i = jm_frame_col(f, "i"), *fl = jm_frame_col(f, "fl"), *ifl = jm_frame_col(f, "ifl");
	jm_col *b = jm_frame_col(f, "b"), *t = jm_frame_col(f, "t"), *s = jm_frame_col(f, "s");
	cr_assert_eq(i->type, JM_COL_I64);
	cr_assert_eq(i->v.i64[1], -2);
	cr_assert_eq(i->v.i64[2], 30);
	cr_assert_eq(fl->type, JM_COL_F64);
	cr_assert_eq(fl->n_na, 1);
	cr_assert(isnan(fl->v.f64[1]) && fl->na[1]);
	cr_assert_eq(fl->v.f64[2], 3.0);
	cr_assert_eq(ifl->type, JM_COL_F64, "ints then a decimal make float64");
	cr_assert_eq(ifl->v.f64[0], 1.0);
	cr_assert_eq(ifl->v.f64[1], 2.5);
	cr_assert_eq(b->type, JM_COL_BOOL);
	cr_assert_eq(b->v.b[0], 1);
	cr_assert_eq(b->v.b[1], 0);
	cr_assert_eq(b->v.b[2], 1);
	cr_assert_eq(t->type, JM_COL_TIME);
	cr_assert_str_eq(text_at(f, "t", 0), "2024-01-02T00:00:00");
	cr_assert_str_eq(text_at(f, "t", 1), "2024-02-29T10:11:12");
	cr_assert_str_eq(text_at(f, "t", 2), "2024-03-01T00:00:01.250000000");
	cr_assert_eq(t->v.ns[0], (int64_t)19724 * 86400 * 1000000000);
	cr_assert_eq(s->type, JM_COL_STR);
	cr_assert_eq(s->dict->n, 2);
	cr_assert_eq(s->v.code[0], s->v.code[2]);
	cr_assert_str_eq(s->dict->s[s->v.code[1]], "y");
	jm_frame_free(f);
}

Test(csv, ints_with_missing_values_become_float64_as_pandas)
{
	jm_frame *f = parse("a,b\n1,\n2,7\n,8\n");
	jm_col *a = jm_frame_col(f, "a"), *b = jm_frame_col(f, "b");
	cr_assert_eq(a->type, JM_COL_F64);
	cr_assert_eq(b->type, JM_COL_F64);
	cr_assert_eq(a->v.f64[1], 2.0);
	cr_assert(isnan(a->v.f64[2]));
	cr_assert(isnan(b->v.f64[0]));
	cr_assert_eq(b->v.f64[2], 8.0);
	jm_frame_free(f);
}

Test(csv, every_default_na_token_is_missing)
{
	for (int k = 0; jm_csv_default_na[k]; k++) {
		char text[128];
		snprintf(text, sizeof text, "a,b\n1,%s\n2,3\n", jm_csv_default_na[k]);
		jm_frame *f = parse(text);
		jm_col *b = jm_frame_col(f, "b");
		cr_assert_eq(b->type, JM_COL_F64, "token \"%s\"", jm_csv_default_na[k]);
		cr_assert_eq(b->n_na, 1, "token \"%s\"", jm_csv_default_na[k]);
		cr_assert(jm_col_isna(b, 0));
		jm_frame_free(f);
	}
	/* quoting does not protect a token (pandas) */
	jm_frame *f = parse("a\n\"NA\"\n1\n");
	cr_assert_eq(jm_frame_col(f, "a")->n_na, 1);
	jm_frame_free(f);
}

Test(csv, user_na_tokens_and_keep_default_na)
{
	const char *extra[] = {"missing", "-999"};
	jm_csv_opts o;
	jm_csv_opts_init(&o);
	o.na_values = extra;
	o.n_na_values = 2;
	jm_frame *f = parse_opts("a,b\nmissing,1\n2,-999\nNA,3\n", &o, NULL);
	cr_assert_eq(jm_frame_col(f, "a")->type, JM_COL_F64);
	cr_assert_eq(jm_frame_col(f, "a")->n_na, 2);
	cr_assert_eq(jm_frame_col(f, "b")->n_na, 1);
	jm_frame_free(f);
	/* without the defaults "NA" is text, and "" still is not missing */
	o.keep_default_na = 0;
	o.n_na_values = 0;
	f = parse_opts("a,b\nNA,1\nx,\n", &o, NULL);
	cr_assert_eq(jm_frame_col(f, "a")->type, JM_COL_STR);
	cr_assert_eq(jm_frame_col(f, "a")->n_na, 0);
	cr_assert_str_eq(text_at(f, "a", 0), "NA");
	cr_assert_eq(jm_frame_col(f, "b")->type, JM_COL_STR, "an empty field is text then");
	jm_frame_free(f);
}

Test(csv, rfc4180_quoting)
{
	jm_frame *f = parse("a,b,c\n"
			    "\"x, y\",\"he said \"\"hi\"\"\",1\n"
			    "\"two\nlines\",\"\",2\n"
			    "\"x\"y,ab\"c,3\n");
	cr_assert_eq(f->nrows, 3);
	cr_assert_str_eq(text_at(f, "a", 0), "x, y");
	cr_assert_str_eq(text_at(f, "b", 0), "he said \"hi\"");
	cr_assert_str_eq(text_at(f, "a", 1), "two\nlines");
	cr_assert(jm_col_isna(jm_frame_col(f, "b"), 1), "\"\" is the empty string, read as missing");
	cr_assert_str_eq(text_at(f, "a", 2), "xy", "text after a closing quote is kept (pandas)");
	cr_assert_str_eq(text_at(f, "b", 2), "ab\"c", "a quote inside a field is literal");
	cr_assert_eq(jm_frame_col(f, "c")->v.i64[2], 3);
	jm_frame_free(f);
}

Test(csv, line_endings_and_bom)
{
	jm_csv_info info;
	jm_csv_opts o;
	jm_csv_opts_init(&o);
	jm_frame *f = parse_opts("\xef\xbb\xbfid,name\r\n1,a\r\n2,\"b\r\nc\"\r\n", &o, &info);
	cr_assert(info.bom);
	cr_assert(info.crlf);
	cr_assert_str_eq(f->cols[0]->name, "id", "the BOM is not part of the first name");
	cr_assert_str_eq(text_at(f, "name", 0), "a", "the \\r of \\r\\n is not data");
	cr_assert_str_eq(text_at(f, "name", 1), "b\r\nc");
	jm_frame_free(f);
	f = parse("a,b\r1,2\r3,4\r");
	cr_assert_eq(f->nrows, 2, "bare CR line endings");
	cr_assert_eq(jm_frame_col(f, "b")->v.i64[1], 4);
	jm_frame_free(f);
	/* no final newline */
	f = parse("a,b\n1,2\n3,4");
	cr_assert_eq(f->nrows, 2);
	cr_assert_eq(jm_frame_col(f, "b")->v.i64[1], 4);
	jm_frame_free(f);
}

Test(csv, blank_and_whitespace_lines_are_skipped)
{
	jm_frame *f = parse("\n\na,b\n1,2\n\n   \n3,4\n\n");
	cr_assert_eq(f->nrows, 2);
	cr_assert_eq(jm_frame_col(f, "a")->v.i64[1], 3);
	jm_frame_free(f);
}

Test(csv, sniffs_the_delimiter)
{
	static const struct {
		const char *text;
		char delim;
	} cases[] = {
		{"a,b,c\n1,2,3\n4,5,6\n", ','},
		{"a;b\n1,5;2,25\n3,0;4\n", ';'}, /* decimal commas do not fool it */
		{"a\tb\tc\n1\t2\t3\n", '\t'},
		{"a|b\n1|2\n", '|'},
		{"name,note\nx,\"a;b;c\"\ny,\"d;e;f\"\n", ','},
		{"single\n1\n2\n", ','},
	};
	for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
		jm_csv_info info;
		jm_csv_opts o;
		jm_csv_opts_init(&o);
		jm_frame *f = parse_opts(cases[k].text, &o, &info);
		cr_assert_eq(info.delim, cases[k].delim, "case %zu: got '%c'", k, info.delim);
		jm_csv_info_clear(&info);
		jm_frame_free(f);
	}
	/* explicit delimiter wins */
	jm_csv_opts o;
	jm_csv_opts_init(&o);
	o.delim = ';';
	jm_frame *f = parse_opts("a,b;c\n1,2;3\n", &o, NULL);
	cr_assert_eq(f->ncols, 2);
	cr_assert_str_eq(f->cols[0]->name, "a,b");
	jm_frame_free(f);
}

Test(csv, header_names_as_pandas)
{
	jm_frame *f = parse("a,,a,\"q\"\"n\"\n1,2,3,4\n");
	cr_assert_str_eq(f->cols[0]->name, "a");
	cr_assert_str_eq(f->cols[1]->name, "Unnamed: 1");
	cr_assert_str_eq(f->cols[2]->name, "a.1");
	cr_assert_str_eq(f->cols[3]->name, "q\"n");
	jm_frame_free(f);
	jm_csv_opts o;
	jm_csv_opts_init(&o);
	o.header = 0;
	f = parse_opts("1,x\n2,y\n", &o, NULL);
	cr_assert_eq(f->nrows, 2);
	cr_assert_str_eq(f->cols[0]->name, "col1");
	cr_assert_str_eq(f->cols[1]->name, "col2");
	jm_frame_free(f);
}

Test(csv, numbers_as_pandas_reads_them)
{
	jm_frame *f = parse("x\n 1.5 \ninf\n-Infinity\n+INF\n1.\n.5\n1e3\n-0.0\n");
	jm_col *x = jm_frame_col(f, "x");
	cr_assert_eq(x->type, JM_COL_F64);
	double want[] = {1.5, INFINITY, -INFINITY, INFINITY, 1.0, 0.5, 1000.0, -0.0};
	for (int i = 0; i < 8; i++)
		cr_assert_eq(x->v.f64[i], want[i], "row %d: %g", i, x->v.f64[i]);
	cr_assert(signbit(x->v.f64[7]));
	jm_frame_free(f);
	/* not numbers: these make a text column */
	const char *nots[] = {"NAN", "0x10", "1_000", "1e", "--1", "1e400", "1.2.3", "1 2"};
	for (size_t k = 0; k < sizeof nots / sizeof *nots; k++) {
		char text[64];
		snprintf(text, sizeof text, "x\n1\n%s\n", nots[k]);
		f = parse(text);
		cr_assert_eq(jm_frame_col(f, "x")->type, JM_COL_STR, "\"%s\"", nots[k]);
		jm_frame_free(f);
	}
	/* past int64: float */
	f = parse("x\n9223372036854775807\n-9223372036854775808\n");
	cr_assert_eq(jm_frame_col(f, "x")->type, JM_COL_I64);
	cr_assert_eq(jm_frame_col(f, "x")->v.i64[1], INT64_MIN);
	jm_frame_free(f);
	f = parse("x\n9223372036854775808\n");
	cr_assert_eq(jm_frame_col(f, "x")->type, JM_COL_F64);
	cr_assert_eq(jm_frame_col(f, "x")->v.f64[0], 9223372036854775808.0);
	jm_frame_free(f);
}

Test(csv, floats_round_trip_exactly_as_strtod)
{
	uint64_t s = 12345;
	char text[64];
	for (int it = 0; it < 200000; it++) {
		s = s * 6364136223846793005ull + 1442695040888963407ull;
		double mant = (double)(s >> 11) / 9007199254740992.0 - 0.5;
		int e = (int)((s >> 3) % 60) - 30;
		double x = mant * pow(10, e);
		int len;
		switch (it % 7) {
		case 0: len = snprintf(text, sizeof text, "%.6g", x); break;
		case 1: len = snprintf(text, sizeof text, "%.17g", x); break;
		case 2: len = snprintf(text, sizeof text, "%.2f", x); break;
		case 3: len = snprintf(text, sizeof text, "%.15g", x); break;
		case 4: len = snprintf(text, sizeof text, "%.3e", x); break;
		case 5: len = snprintf(text, sizeof text, "%.10f", x); break;
		default: len = snprintf(text, sizeof text, "%g", x);
		}
		double got, want = strtod(text, NULL);
		cr_assert(jm_csv_parse_double(text, (size_t)len, &got), "%s", text);
		cr_assert(memcmp(&got, &want, sizeof got) == 0, "%s: %.17g != %.17g", text, got, want);
	}
	/* the same through the reader's in-buffer fast paths, quoted or not */
	size_t cap = 64 * 60000 + 16, len = 0;
	char *csv = malloc(cap), (*texts)[40] = malloc(60000 * sizeof *texts);
	len += (size_t)sprintf(csv, "x,q\n");
	for (int i = 0; i < 60000; i++) {
		s = s * 6364136223846793005ull + 1442695040888963407ull;
		double x = ((double)(s >> 11) / 9007199254740992.0 - 0.5) * pow(10, (int)((s >> 5) % 16) - 8);
		int k = i % 4;
		if (k == 0)
			snprintf(texts[i], sizeof texts[i], "%.6g", x);
		else if (k == 1)
			snprintf(texts[i], sizeof texts[i], "%.2f", x);
		else if (k == 2)
			snprintf(texts[i], sizeof texts[i], "%.9f", x);
		else
			snprintf(texts[i], sizeof texts[i], "%.0f", x * 1e6);
		len += (size_t)sprintf(csv + len, "%s,\"%s\"\n", texts[i], texts[i]);
	}
	jm_frame *f = NULL;
	jm_err err = {0};
	cr_assert_eq(jm_csv_parse(csv, len, NULL, &f, NULL, &err), 0, "%s", err.msg);
	jm_col *cx = jm_frame_col(f, "x"), *cq = jm_frame_col(f, "q");
	cr_assert_eq(cx->type, JM_COL_F64);
	cr_assert_eq(cq->type, JM_COL_F64);
	for (int i = 0; i < 60000; i++) {
		/* "-0" reads as 0 (see csv.c: a value must not depend on when a
		 * column widened from int to float), so zeros compare with == */
		double want = strtod(texts[i], NULL);
		if (want == 0) {
			cr_assert(cx->v.f64[i] == 0 && cq->v.f64[i] == 0, "%s", texts[i]);
			continue;
		}
		cr_assert(memcmp(&cx->v.f64[i], &want, 8) == 0, "%s: %.17g", texts[i], cx->v.f64[i]);
		cr_assert(memcmp(&cq->v.f64[i], &want, 8) == 0, "\"%s\": %.17g", texts[i], cq->v.f64[i]);
	}
	jm_frame_free(f);
	free(csv);
	free(texts);
	const char *hard[] = {"0.1000000000000000055511151231257827", "123456789012345678901234",
			      "2.2250738585072011e-308", "4.9e-324", "1.7976931348623157e308",
			      "9007199254740993", "0.30000000000000004"};
	for (size_t k = 0; k < sizeof hard / sizeof *hard; k++) {
		double got, want = strtod(hard[k], NULL);
		cr_assert(jm_csv_parse_double(hard[k], strlen(hard[k]), &got));
		cr_assert(memcmp(&got, &want, sizeof got) == 0, "%s", hard[k]);
	}
}

Test(csv, a_mixed_column_is_text_and_reported_with_counts)
{
	jm_csv_info info;
	jm_csv_opts o;
	jm_csv_opts_init(&o);
	o.name = "m.csv";
	jm_frame *f = parse_opts("id,v\n1,10\n2,20\n3,abc\n4,\n5,40\n6,xyz\n", &o, &info);
	jm_col *v = jm_frame_col(f, "v");
	cr_assert_eq(v->type, JM_COL_STR, "never silently zeroed");
	cr_assert_str_eq(text_at(f, "v", 0), "10");
	cr_assert_str_eq(text_at(f, "v", 2), "abc");
	cr_assert(jm_col_isna(v, 3));
	cr_assert_eq(info.n_notes, 1);
	cr_assert_str_eq(info.notes[0], "column \"v\": 3 numbers and 2 text values (first text at "
					"line 4: \"abc\"), kept as text");
	jm_csv_info_clear(&info);
	jm_frame_free(f);
	/* text first, numbers later: the same report */
	f = parse_opts("v\nabc\n1\n2\n", &o, &info);
	cr_assert_eq(info.n_notes, 1);
	cr_assert_str_eq(info.notes[0], "column \"v\": 2 numbers and 1 text values (first text at "
					"line 2: \"abc\"), kept as text");
	jm_csv_info_clear(&info);
	jm_frame_free(f);
}

Test(csv, an_all_missing_column_is_float_and_noted)
{
	jm_csv_info info;
	jm_csv_opts o;
	jm_csv_opts_init(&o);
	jm_frame *f = parse_opts("a,b\n1,\n2,NA\n3,\n", &o, &info);
	jm_col *b = jm_frame_col(f, "b");
	cr_assert_eq(b->type, JM_COL_F64);
	cr_assert_eq(b->n_na, 3);
	cr_assert_eq(info.n_notes, 1);
	cr_assert_str_eq(info.notes[0], "column \"b\" has no values: all 3 rows are missing");
	jm_csv_info_clear(&info);
	jm_frame_free(f);
}

static void assert_same(const jm_frame *a, const jm_frame *b)
{
	cr_assert_eq(a->nrows, b->nrows);
	cr_assert_eq(a->ncols, b->ncols);
	char x[128], y[128];
	for (int j = 0; j < a->ncols; j++) {
		cr_assert_eq(a->cols[j]->type, b->cols[j]->type, "column %s", a->cols[j]->name);
		cr_assert_eq(a->cols[j]->n_na, b->cols[j]->n_na);
		for (int64_t i = 0; i < a->nrows; i++)
			cr_assert_str_eq(jm_col_text(a->cols[j], i, x, sizeof x),
					 jm_col_text(b->cols[j], i, y, sizeof y), "%s row %ld",
					 a->cols[j]->name, (long)i);
	}
}

Test(csv, ragged_rows)
{
	/* too many fields: an error, with the line of the row */
	cr_assert_str_eq(parse_fail("a,b\n1,2\n\"x\ny\",2,3\n"),
			 "t.csv:3: expected 2 fields, found 3");
	/* the line counts the newline inside the quoted field above it */
	cr_assert_str_eq(parse_fail("a,b\n\"x\ny\",1\n1,2,3\n"), "t.csv:4: expected 2 fields, found 3");
	/* too few: the rest are missing (pandas), and a note says so */
	jm_csv_info info;
	jm_csv_opts o;
	jm_csv_opts_init(&o);
	o.name = "t.csv";
	jm_frame *f = parse_opts("a,b,c\n1,2,3\n4,5\n6\n7,8,9\n", &o, &info);
	cr_assert_eq(f->nrows, 4);
	cr_assert_eq(jm_frame_col(f, "c")->type, JM_COL_F64);
	cr_assert_eq(jm_frame_col(f, "c")->n_na, 2);
	cr_assert_eq(jm_frame_col(f, "b")->n_na, 1);
	cr_assert_eq(jm_frame_col(f, "c")->v.f64[3], 9.0);
	cr_assert_eq(info.n_notes, 1);
	cr_assert_str_eq(info.notes[0], "line 3 has 2 fields, expected 3 (the missing ones are read as "
					"missing); 1 more row like it");
	jm_csv_info_clear(&info);
	jm_frame_free(f);
	/* a short last line without its newline: most likely a file cut off
	 * by an interrupted copy, and the note says so */
	f = parse_opts("a,b,c\n1,2,3\n4,5,6\n7", &o, &info);
	cr_assert_eq(f->nrows, 3);
	cr_assert_eq(info.n_notes, 1);
	cr_assert_str_eq(info.notes[0], "line 4 has 1 field, expected 3, and no newline: the file looks "
					"cut off (the missing fields are read as missing)");
	jm_csv_info_clear(&info);
	jm_frame_free(f);
	f = parse_opts("a,b,c\n1,2\n4,5,6\n7,8,9\n1,\"x\ny\"", &o, &info);
	cr_assert_eq(info.n_notes, 2, "b is numbers and text, then the short rows");
	cr_assert_str_eq(info.notes[1], "line 2 has 2 fields, expected 3 (the missing ones are read as "
					"missing); 1 more row like it; the last line, 5, has 2 fields and "
					"no newline: the file looks cut off");
	jm_csv_info_clear(&info);
	jm_frame_free(f);
	/* short with its newline, or complete without one: nothing cut off */
	f = parse_opts("a,b,c\n1,2,3\n4,5\n", &o, &info);
	cr_assert_str_eq(info.notes[0], "line 3 has 2 fields, expected 3 (the missing ones are read as "
					"missing)");
	jm_csv_info_clear(&info);
	jm_frame_free(f);
	f = parse_opts("a,b,c\n1,2,3\n4,5,6", &o, &info);
	cr_assert_eq(info.n_notes, 0);
	jm_csv_info_clear(&info);
	jm_frame_free(f);
	/* read in parts, the same note: the first short row in one part, the
	 * cut-off line in the last */
	size_t cap = 40 * 3000, len = 0;
	char *big = malloc(cap);
	len += (size_t)snprintf(big, cap, "a,b,c\n");
	for (int i = 0; i < 3000; i++)
		len += (size_t)snprintf(big + len, cap - len, i == 700 || i == 2100 ? "%d,%d\n" :
					"%d,%d,%d\n", i, i * 2, i * 3);
	len += (size_t)snprintf(big + len, cap - len, "9,9");
	jm_csv_info i1, i4;
	o.threads = 1;
	jm_frame *one = parse_opts(big, &o, &i1);
	o.threads = -4;
	jm_frame *four = parse_opts(big, &o, &i4);
	assert_same(one, four);
	cr_assert_eq(i1.n_notes, 1);
	cr_assert_str_eq(i1.notes[0], "line 702 has 2 fields, expected 3 (the missing ones are read as "
				      "missing); 2 more rows like it; the last line, 3002, has 2 fields "
				      "and no newline: the file looks cut off");
	cr_assert_eq(i4.n_notes, 1);
	cr_assert_str_eq(i4.notes[0], i1.notes[0]);
	jm_csv_info_clear(&i1);
	jm_csv_info_clear(&i4);
	jm_frame_free(one);
	jm_frame_free(four);
	free(big);
	o.threads = 0;
	/* strict: an error */
	o.strict_fields = 1;
	cr_assert_str_eq(parse_fail_opts("a,b,c\n1,2,3\n4,5\n", 15, &o, JM_EXIT_INPUT),
			 "t.csv:3: expected 3 fields, found 2");
}

Test(csv, comment_lines)
{
	jm_csv_opts o;
	jm_csv_opts_init(&o);
	o.comment = '#';
	jm_frame *f = parse_opts("# source: somewhere, \"quoted\n# more\na,b\n1,2\n# inside, a, b\n3,4\n", &o, NULL);
	cr_assert_eq(f->ncols, 2);
	cr_assert_eq(f->nrows, 2);
	cr_assert_eq(jm_frame_col(f, "a")->type, JM_COL_I64);
	cr_assert_eq(jm_frame_col(f, "b")->v.i64[1], 4);
	jm_frame_free(f);
	/* found by the fuzzer: a last comment line without a newline must not
	 * hide the first row of the second pass over a part (a column that
	 * turned to text is read again) */
	const char *t = "x,y,]\n#c,c,c,c,c,c,c,c,c,c,c,c,c,c,c\nN,a,2\n\f\n-,,77.]\n#,0,";
	o.header = 0;
	o.threads = 1;
	jm_frame *one = parse_opts(t, &o, NULL);
	o.threads = -2;
	jm_frame *two = parse_opts(t, &o, NULL);
	assert_same(one, two);
	cr_assert_eq(one->nrows, 4);
	cr_assert_str_eq(text_at(two, "col3", 1), "2");
	jm_frame_free(one);
	jm_frame_free(two);
}

Test(csv, unterminated_quote)
{
	cr_assert_str_eq(parse_fail("a,b\n1,x\n2,\"abc\n3,y\n"),
			 "t.csv:3: field 2 (\"b\"): unterminated quoted field (the quote runs "
			 "to the end of the file)");
	cr_assert_str_eq(parse_fail("a,\"b\n1,2\n"), "t.csv:1: unterminated quoted field in the header");
}

Test(csv, invalid_utf8)
{
	cr_assert_str_eq(parse_fail("name,city\nx,Z\xfcrich\n"),
			 "t.csv:2: field 2 (\"city\"): invalid UTF-8 (byte 0xfc)");
	/* an overlong encoding and a lone continuation byte, deep in a file */
	char *big = malloc(200000);
	size_t n = (size_t)sprintf(big, "a,b\n");
	for (int i = 0; i < 5000; i++)
		n += (size_t)sprintf(big + n, "%d,caf\xc3\xa9\n", i);
	n += (size_t)sprintf(big + n, "x,\xc0\xaf\n");
	jm_csv_opts o;
	jm_csv_opts_init(&o);
	o.name = "t.csv";
	cr_assert_str_eq(parse_fail_opts(big, n, &o, JM_EXIT_INPUT),
			 "t.csv:5002: field 2 (\"b\"): invalid UTF-8 (byte 0xc0)");
	free(big);
	cr_assert_str_eq(parse_fail("a\xff,b\n1,2\n"), "t.csv:1: column 1: invalid UTF-8 in the header name");
}

Test(csv, a_10mb_field_is_over_the_limit)
{
	size_t big = 10u << 20;
	char *text = malloc(big + 64);
	size_t n = (size_t)sprintf(text, "id,blob\n1,");
	memset(text + n, 'x', big);
	n += big;
	text[n++] = '\n';
	jm_csv_opts o;
	jm_csv_opts_init(&o);
	o.name = "t.csv";
	cr_assert_str_eq(parse_fail_opts(text, n, &o, JM_EXIT_INPUT),
			 "t.csv:2: field 2 (\"blob\"): longer than the 1048576-byte limit");
	/* raising the cap reads it */
	o.max_field = 11 << 20;
	jm_frame *f = NULL;
	jm_err err = {0};
	cr_assert_eq(jm_csv_parse(text, n, &o, &f, NULL, &err), 0, "%s", err.msg);
	cr_assert_eq(jm_frame_col(f, "blob")->dict->len[0], big);
	jm_frame_free(f);
	free(text);
}

Test(csv, empty_file_and_header_only)
{
	cr_assert_str_eq(parse_fail(""), "t.csv: empty file");
	cr_assert_str_eq(parse_fail("\n\r\n"), "t.csv: empty file");
	cr_assert_str_eq(parse_fail("a,b,c\n"), "t.csv: a header but no data rows");
	cr_assert_str_eq(parse_fail("a,b,c\n\n\n"), "t.csv: a header but no data rows");
}

Test(csv, not_text)
{
	jm_csv_opts o;
	jm_csv_opts_init(&o);
	o.name = "t.csv";
	cr_assert_str_eq(parse_fail_opts("\xff\xfe" "a\0,\0", 6, &o, JM_EXIT_INPUT),
			 "t.csv: the file is UTF-16 (byte order mark FF FE); save it as UTF-8");
	cr_assert_str_eq(parse_fail_opts("a,b\n1,\0\n", 8, &o, JM_EXIT_INPUT),
			 "t.csv: NUL bytes in the first 4 KB: not a text file (UTF-16 or binary?)");
}

/* A table with every kind of field, quoted newlines included; row
 * text_row (if >= 0) has text in the numeric column x. */
static char *make_table(int rows, int text_row, size_t *n)
{
	size_t cap = (size_t)rows * 96 + 64, len = 0;
	char *t = malloc(cap);
	len += (size_t)sprintf(t, "id,x,flag,when,name,note\n");
	for (int i = 0; i < rows; i++) {
		len += (size_t)sprintf(t + len, "%d,", i);
		if (i == text_row)
			len += (size_t)sprintf(t + len, "abc,");
		else if (i % 17 == 0)
			len += (size_t)sprintf(t + len, "NA,");
		else
			len += (size_t)sprintf(t + len, "%.6g,", i * 0.37 - 50);
		len += (size_t)sprintf(t + len, "%s,", i % 5 ? "True" : i % 10 ? "False" : "");
		len += (size_t)sprintf(t + len, "2024-%02d-%02dT%02d:00:00,", 1 + i % 12, 1 + i % 28, i % 24);
		len += (size_t)sprintf(t + len, "n%d,", i % 13);
		len += (size_t)(i % 7 == 0 ? sprintf(t + len, "\"multi\nline %d\"\n", i)
					   : sprintf(t + len, "plain %d\n", i % 50));
	}
	*n = len;
	return t;
}

Test(csv, parts_read_in_parallel_equal_one_piece)
{
	size_t n;
	char *t = make_table(20000, -1, &n);
	jm_csv_opts o;
	jm_csv_opts_init(&o);
	o.threads = 1;
	jm_frame *one = parse_opts(t, &o, NULL);
	cr_assert_eq(one->nrows, 20000);
	cr_assert_eq(jm_frame_col(one, "x")->type, JM_COL_F64);
	cr_assert_eq(jm_frame_col(one, "flag")->type, JM_COL_BOOL);
	cr_assert_eq(jm_frame_col(one, "when")->type, JM_COL_TIME);
	for (int threads = -7; threads <= 4; threads++) {
		if (threads >= -1 && threads <= 1)
			continue;
		o.threads = threads;
		jm_frame *many = parse_opts(t, &o, NULL);
		assert_same(one, many);
		jm_frame_free(many);
	}
	/* a column that turns to text in one part only */
	free(t);
	t = make_table(20000, 15000, &n);
	jm_frame_free(one);
	jm_csv_info i1, i3;
	o.threads = 1;
	one = parse_opts(t, &o, &i1);
	o.threads = 3;
	jm_frame *three = parse_opts(t, &o, &i3);
	assert_same(one, three);
	cr_assert_eq(jm_frame_col(one, "x")->type, JM_COL_STR);
	cr_assert_eq(i1.n_notes, 1);
	cr_assert_eq(i3.n_notes, 1);
	cr_assert_str_eq(i1.notes[0], i3.notes[0]);
	jm_csv_info_clear(&i1);
	jm_csv_info_clear(&i3);
	jm_frame_free(one);
	jm_frame_free(three);
	free(t);
}

Test(csv, reads_a_file_through_its_source)
{
	char *dir = jt_tmpdir();
	char *path = jt_write(dir, "d.csv", "a,b\n1,x\n2,y\n");
	jm_frame *f = NULL;
	jm_csv_info info;
	jm_err err = {0};
	cr_assert_eq(jm_csv_read(path, NULL, NULL, &f, &info, &err), 0, "%s", err.msg);
	cr_assert_eq(f->nrows, 2);
	cr_assert_eq(info.bytes, 12);
	jm_frame_free(f);
	jm_csv_info_clear(&info);
	char *missing = jm_xasprintf("%s/nope.csv", dir);
	cr_assert_eq(jm_csv_read(missing, NULL, NULL, &f, NULL, &err), -1);
	cr_assert_eq(err.code, JM_EXIT_INPUT);
	char want[600];
	snprintf(want, sizeof want, "\"%s\": No such file or directory", missing);
	cr_assert_str_eq(err.msg, want);
	free(missing);
	free(path);
	jt_rm_rf(dir);
	free(dir);
}
