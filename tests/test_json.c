/*
 * test_json.c: the JSON module (src/util/json.c) and the buffer under it
 * (src/util/strbuf.c).
 *
 *   jm_buf       adds, printf of any length, detach/reset/release
 *   writing      every escape and style flag, UTF-8 and other bytes passing
 *                through, numbers (shortest round trip, -0, huge and tiny,
 *                NaN/inf policies, locale), FILE and buffer giving the same
 *   parsing      values and positions, escapes, surrogate pairs, UTF-8
 *                checks, numbers (u64 exactness, exponents, 1e999), depth,
 *                size and number-length limits, duplicate keys, packed
 *                arrays, each malformed input with its code, byte and words
 *   round trips  write -> parse -> equal, for strings, doubles and trees
 */
#include <criterion/criterion.h>
#include <float.h>
#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/json.h"
#include "util/strbuf.h"

/* ---- helpers -------------------------------------------------------------- */

/* Parse the text (copied into a buffer of exactly len bytes, so reading
 * past the end shows under ASan) or fail the test. */
static void parse_ok(const char *text, size_t len, const jm_json_opts *opts, jm_json *out)
{
	char *copy = malloc(len ? len : 1);
	memcpy(copy, text, len);
	jm_json_error e;
	int rc = jm_json_parse(copy, len, opts, out, &e);
	free(copy);
	cr_assert_eq(rc, 0, "parsing \"%.*s\": byte %zu: %s", (int)len, text, e.offset, e.what);
	cr_assert_eq(e.code, JM_JSON_OK);
}

static void parse_bad(const char *text, size_t len, const jm_json_opts *opts, jm_json_errcode code,
		      size_t offset, const char *what)
{
	char *copy = malloc(len ? len : 1);
	memcpy(copy, text, len);
	jm_json v;
	jm_json_error e;
	int rc = jm_json_parse(copy, len, opts, &v, &e);
	free(copy);
	cr_assert_eq(rc, -1, "\"%.*s\" parsed", (int)len, text);
	cr_expect_eq(v.type, JM_JSON_NULL, "the tree is not left empty");
	cr_expect_eq(e.code, code, "\"%.*s\": code %d, expected %d (%s)", (int)len, text, e.code,
		     code, e.what);
	cr_expect_eq(e.offset, offset, "\"%.*s\": byte %zu, expected %zu", (int)len, text, e.offset,
		     offset);
	cr_expect_str_eq(e.what, what, "\"%.*s\"", (int)len, text);
}

static char *str_of(const char *s, unsigned style)
{
	jm_buf b = JM_BUF_INIT;
	jm_json_add_str(&b, s, style);
	return jm_buf_detach(&b, NULL);
}

static char *num_of(double v, unsigned style)
{
	jm_buf b = JM_BUF_INIT;
	jm_json_add_num(&b, v, style);
	return jm_buf_detach(&b, NULL);
}

/* What the FILE writers give, for comparing with the buffer ones. */
static char *file_str(const char *s, unsigned style, int num, double v)
{
	char *text = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&text, &len);
	cr_assert(m);
	if (num)
		jm_json_write_num(m, v, style);
	else
		jm_json_write_str(m, s, style);
	fclose(m);
	return text;
}

/* A deterministic stream of 64-bit values (xorshift64*). */
static uint64_t next_u64(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545F4914F6CDD1DULL;
}

/* ---- jm_buf ------------------------------------------------------------------ */

Test(strbuf, adds_and_detach)
{
	jm_buf b = JM_BUF_INIT;
	cr_assert_str_eq(jm_buf_str(&b), "");
	cr_assert_null(b.s);
	jm_buf_addstr(&b, "ab");
	jm_buf_addch(&b, 'c');
	jm_buf_add(&b, "d\0e", 3);
	cr_assert_eq(b.len, 6);
	cr_assert_eq(memcmp(b.s, "abcd\0e", 7), 0, "content and the NUL after it");
	cr_assert_gt(b.cap, b.len);
	size_t len;
	char *s = jm_buf_detach(&b, &len);
	cr_assert_eq(len, 6);
	cr_assert_eq(memcmp(s, "abcd\0e", 7), 0);
	free(s);
	cr_assert_null(b.s);
	cr_assert_eq(b.len, 0);
	cr_assert_eq(b.cap, 0);
	/* an empty buffer detaches as a string of its own */
	s = jm_buf_detach(&b, &len);
	cr_assert_str_eq(s, "");
	cr_assert_eq(len, 0);
	free(s);
}

Test(strbuf, printf_of_any_length)
{
	jm_buf b = JM_BUF_INIT;
	jm_buf_printf(&b, "%d-%s", 42, "x");
	cr_assert_str_eq(b.s, "42-x");
	char *big = malloc(10001);
	memset(big, 'y', 10000);
	big[10000] = '\0';
	jm_buf_printf(&b, "[%s]", big);
	cr_assert_eq(b.len, 4 + 10002);
	cr_assert_eq(strlen(b.s), b.len);
	cr_assert_eq(b.s[4], '[');
	cr_assert_eq(b.s[5 + 9999], 'y');
	cr_assert_eq(b.s[b.len - 1], ']');
	/* many small adds grow it without losing anything */
	jm_buf_reset(&b);
	cr_assert_str_eq(jm_buf_str(&b), "");
	for (int i = 0; i < 5000; i++)
		jm_buf_printf(&b, "%04d", i);
	cr_assert_eq(b.len, 20000);
	cr_assert_eq(strncmp(b.s + 4 * 4321, "4321", 4), 0);
	free(big);
	jm_buf_release(&b);
	cr_assert_null(b.s);
	jm_buf_release(&b);
	jm_buf_release(NULL);
}

/* ---- writing strings ---------------------------------------------------------- */

Test(json_write, every_escape)
{
	static const struct {
		const char *in;
		unsigned style;
		const char *out;
	} cases[] = {
		{"plain", 0, "\"plain\""},
		{"", 0, "\"\""},
		{"q\"b\\s/", 0, "\"q\\\"b\\\\s/\""},
		{"\n\r\t", 0, "\"\\n\\r\\t\""},
		{"\b\f", 0, "\"\\u0008\\u000c\""},
		{"\b\f", JM_JSON_ESC_BF, "\"\\b\\f\""},
		{"\n\r\t\b", JM_JSON_ESC_CTRL_U, "\"\\u000a\\u000d\\u0009\\u0008\""},
		{"\"\\", JM_JSON_ESC_CTRL_U, "\"\\\"\\\\\""},
		{"\x01\x1f\x7f", 0, "\"\\u0001\\u001f\x7f\""},
		/* valid UTF-8 passes through, so does anything else at or above 0x20 */
		{"\xc3\xa9\xe6\xbc\xa2\xf0\x9f\x98\x80", 0, "\"\xc3\xa9\xe6\xbc\xa2\xf0\x9f\x98\x80\""},
		{"\xff\xc3(", 0, "\"\xff\xc3(\""},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char *got = str_of(cases[i].in, cases[i].style);
		cr_expect_str_eq(got, cases[i].out, "case %zu", i);
		char *f = file_str(cases[i].in, cases[i].style, 0, 0);
		cr_expect_str_eq(f, got, "case %zu: FILE and buffer differ", i);
		free(got);
		free(f);
	}
	char *n = str_of(NULL, 0);
	cr_expect_str_eq(n, "null");
	free(n);
	n = file_str(NULL, 0, 0, 0);
	cr_expect_str_eq(n, "null");
	free(n);
}

Test(json_write, every_control_character_reads_back)
{
	char in[32];
	for (int c = 1; c < 32; c++)
		in[c - 1] = (char)c;
	in[31] = '\0';
	static const unsigned styles[] = {0, JM_JSON_ESC_BF, JM_JSON_ESC_CTRL_U};
	for (size_t s = 0; s < sizeof styles / sizeof styles[0]; s++) {
		char *text = str_of(in, styles[s]);
		for (const char *p = text; *p; p++)
			cr_assert_geq((unsigned char)*p, 0x20, "a raw control character written");
		jm_json v;
		parse_ok(text, strlen(text), NULL, &v);
		cr_assert_eq(v.type, JM_JSON_STRING);
		cr_assert_str_eq(v.str, in);
		jm_json_free(&v);
		free(text);
	}
}

/* ---- writing numbers ------------------------------------------------------------ */

Test(json_write, numbers)
{
	static const struct {
		double v;
		unsigned style;
		const char *out;
	} cases[] = {
		{0, 0, "0"},
		{-0.0, 0, "-0"},
		{0.1, 0, "0.1"},
		{1.0 / 3, 0, "0.3333333333333333"},
		{0.1 + 0.2, 0, "0.30000000000000004"},
		{1e6, 0, "1000000"},
		{1e6, JM_JSON_NUM_G6, "1e+06"},
		{123456789012345.0, 0, "123456789012345"},
		{1e15, 0, "1e+15"},
		{1e-7, 0, "1e-07"},
		{0.0001, JM_JSON_NUM_G6, "0.0001"},
		{2.5, JM_JSON_NUM_G6, "2.5"},
		{DBL_MAX, 0, "1.7976931348623157e+308"},
		{DBL_MIN, 0, "2.2250738585072014e-308"},
		{4.9406564584124654e-324, 0, "4.94065645841247e-324"}, /* the least denormal */
		{-1.5e300, 0, "-1.5e+300"},
		{NAN, 0, "null"},
		{INFINITY, 0, "null"},
		{-INFINITY, 0, "null"},
		{NAN, JM_JSON_INF_1E999, "null"},
		{INFINITY, JM_JSON_INF_1E999, "1e999"},
		{-INFINITY, JM_JSON_INF_1E999, "-1e999"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char *got = num_of(cases[i].v, cases[i].style);
		cr_expect_str_eq(got, cases[i].out, "case %zu", i);
		char *f = file_str(NULL, cases[i].style, 1, cases[i].v);
		cr_expect_str_eq(f, got, "case %zu: FILE and buffer differ", i);
		char fixed[JM_JSON_NUM_MAX];
		cr_expect_eq(jm_json_fmt_num(fixed, cases[i].v, cases[i].style), strlen(got));
		cr_expect_str_eq(fixed, got);
		free(got);
		free(f);
	}
	/* the short forms keep their historical styles */
	char *text = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&text, &len);
	jm_json_num(m, 2e6);
	fputc(' ', m);
	jm_json_num(m, INFINITY);
	fputc(' ', m);
	jm_json_str(m, "a\bb");
	fclose(m);
	cr_expect_str_eq(text, "2e+06 null \"a\\u0008b\"");
	free(text);
}

Test(json_write, doubles_round_trip)
{
	uint64_t seed = 0x9e3779b97f4a7c15ULL;
	static const unsigned styles[] = {0, JM_JSON_NUM_G6};
	for (int i = 0; i < 20000; i++) {
		uint64_t bits = next_u64(&seed);
		double v;
		memcpy(&v, &bits, sizeof v);
		if (!isfinite(v))
			continue;
		if (i % 4 == 0) /* also ordinary magnitudes */
			v = (double)(int64_t)(bits >> 11) / (double)(1 + (bits & 0xffff));
		for (size_t s = 0; s < 2; s++) {
			char t[JM_JSON_NUM_MAX];
			size_t n = jm_json_fmt_num(t, v, styles[s]);
			cr_assert_lt(n, sizeof t);
			jm_json back;
			parse_ok(t, n, NULL, &back);
			cr_assert_eq(back.type, JM_JSON_NUMBER);
			cr_assert(memcmp(&back.num, &v, sizeof v) == 0, "%s read back as %.17g, not %.17g",
				  t, back.num, v);
		}
	}
}

Test(json_write, numbers_ignore_the_process_locale)
{
	const char *names[] = {"de_DE.UTF-8", "de_DE.utf8", "fr_FR.UTF-8", "ru_RU.UTF-8"};
	const char *got = NULL;
	for (size_t i = 0; i < sizeof names / sizeof *names && !got; i++)
		got = setlocale(LC_NUMERIC, names[i]);
	if (!got)
		cr_skip_test("no locale with a decimal comma installed (tried de_DE, fr_FR, ru_RU)");
	char *t = num_of(0.25, 0);
	jm_json v;
	parse_ok("[0.5]", 5, NULL, &v);
	setlocale(LC_NUMERIC, "C");
	cr_expect_str_eq(t, "0.25");
	cr_expect_eq(v.items[0].num, 0.5);
	free(t);
	jm_json_free(&v);
}

/* ---- parsing: values --------------------------------------------------------------- */

Test(json_parse, a_document)
{
	const char *text = " {\"a\": [1, -2.5, true, false, null, \"s\"], \"b\": {}, \"c\": [],"
			   " \"d\": {\"e\": \"\\u00e9\"}}\n";
	jm_json v;
	parse_ok(text, strlen(text), NULL, &v);
	cr_assert_eq(v.type, JM_JSON_OBJECT);
	cr_assert_eq(v.pos, 1);
	cr_assert_eq(v.n, 4);
	cr_assert_str_eq(v.keys[0], "a");
	cr_assert_str_eq(v.keys[3], "d");
	const jm_json *a = jm_json_get(&v, "a");
	cr_assert(jm_json_is(a, JM_JSON_ARRAY));
	cr_assert_eq(a->n, 6);
	cr_assert_eq(a->pos, 7);
	static const jm_json_type types[] = {JM_JSON_NUMBER, JM_JSON_NUMBER, JM_JSON_TRUE,
					     JM_JSON_FALSE, JM_JSON_NULL, JM_JSON_STRING};
	for (size_t i = 0; i < 6; i++)
		cr_expect_eq(jm_json_at(a, i)->type, types[i], "item %zu", i);
	cr_expect_eq(jm_json_at(a, 0)->num, 1);
	cr_expect_eq(jm_json_at(a, 1)->num, -2.5);
	cr_expect_eq(jm_json_at(a, 1)->pos, 11);
	cr_expect_str_eq(jm_json_at(a, 5)->str, "s");
	cr_expect_eq(jm_json_at(a, 5)->n, 1);
	cr_expect_null(jm_json_at(a, 6));
	cr_expect(jm_json_is(jm_json_get(&v, "b"), JM_JSON_OBJECT));
	cr_expect_eq(jm_json_get(&v, "b")->n, 0);
	cr_expect_eq(jm_json_get(&v, "c")->n, 0);
	cr_expect_str_eq(jm_json_get(jm_json_get(&v, "d"), "e")->str, "\xc3\xa9");
	cr_expect_null(jm_json_get(&v, "z"));
	cr_expect_null(jm_json_get(a, "a"), "an array has no members");
	cr_expect_null(jm_json_get(NULL, "a"));
	cr_expect_null(jm_json_at(&v, 0), "an object has no items by index");
	cr_expect_null(jm_json_at(NULL, 0));
	cr_expect_not(jm_json_is(NULL, JM_JSON_NULL));
	jm_json_free(&v);
	cr_expect_eq(v.type, JM_JSON_NULL);
	jm_json_free(&v); /* twice is harmless */
	jm_json_free(NULL);
}

Test(json_parse, scalars_at_top_level_and_text_without_a_nul)
{
	static const struct {
		const char *text;
		jm_json_type type;
	} cases[] = {
		{"null", JM_JSON_NULL}, {"true", JM_JSON_TRUE}, {"false", JM_JSON_FALSE},
		{"7", JM_JSON_NUMBER},  {"\"\"", JM_JSON_STRING}, {"\t[ ]\r\n", JM_JSON_ARRAY},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		jm_json v;
		parse_ok(cases[i].text, strlen(cases[i].text), NULL, &v);
		cr_expect_eq(v.type, cases[i].type, "%s", cases[i].text);
		jm_json_free(&v);
	}
	/* len ends the text, whatever follows in memory */
	jm_json v;
	parse_ok("123garbage", 3, NULL, &v);
	cr_expect_eq(v.num, 123);
	jm_json_free(&v);
}

Test(json_parse, type_names)
{
	static const char *const want[] = {"null",     "false",    "true",     "a number",
					   "a string", "an array", "an object"};
	for (int t = JM_JSON_NULL; t <= JM_JSON_OBJECT; t++)
		cr_expect_str_eq(jm_json_type_name((jm_json_type)t), want[t]);
}

/* ---- parsing: strings ------------------------------------------------------------ */

Test(json_parse, every_escape_and_surrogate_pairs)
{
	static const struct {
		const char *text, *want;
	} cases[] = {
		{"\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"", "\"\\/\b\f\n\r\t"},
		{"\"\\u0041\\u00e9\\u00E9\"", "A\xc3\xa9\xc3\xa9"},
		{"\"\\u6f22\"", "\xe6\xbc\xa2"},
		{"\"\\u007f\\u0080\\u07ff\\u0800\\uffff\"",
		 "\x7f\xc2\x80\xdf\xbf\xe0\xa0\x80\xef\xbf\xbf"},
		{"\"\\ud83d\\ude00\"", "\xf0\x9f\x98\x80"},
		{"\"\\uD800\\uDC00\\uDBFF\\uDFFF\"", "\xf0\x90\x80\x80\xf4\x8f\xbf\xbf"},
		{"\"x\\u0001y\"", "x\x01y"},
		{"\"\xf0\x9f\x98\x80 \xe6\xbc\xa2 \xc3\xa9 \x7f\"", "\xf0\x9f\x98\x80 \xe6\xbc\xa2 \xc3\xa9 \x7f"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		jm_json v;
		parse_ok(cases[i].text, strlen(cases[i].text), NULL, &v);
		cr_assert_eq(v.type, JM_JSON_STRING);
		cr_expect_str_eq(v.str, cases[i].want, "case %zu", i);
		cr_expect_eq(v.n, strlen(cases[i].want), "case %zu", i);
		jm_json_free(&v);
	}
}

Test(json_parse, invalid_utf8)
{
	static const struct {
		const char *text;
		size_t at;
	} cases[] = {
		{"\"\xc3\x28\"", 1},             /* a lead byte without its continuation */
		{"\"ab\x80\"", 3},               /* a lone continuation byte */
		{"\"\xc0\x80\"", 1},             /* overlong NUL */
		{"\"\xe0\x80\xaf\"", 1},         /* overlong '/' */
		{"\"\xf0\x80\x80\xaf\"", 1},     /* overlong, 4 bytes */
		{"\"\xed\xa0\x80\"", 1},         /* a UTF-16 surrogate */
		{"\"\xf4\x90\x80\x80\"", 1},     /* above U+10FFFF */
		{"\"\xf8\x88\x80\x80\x80\"", 1}, /* 5-byte form */
		{"\"\xff\"", 1},
		{"\"ok\xe6\xbc", 3}, /* cut short by the end of the text */
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const char *t = cases[i].text;
		parse_bad(t, strlen(t), NULL, JM_JSON_E_UTF8, cases[i].at, "invalid UTF-8 in string");
		/* JM_JSON_ANY_BYTES keeps the bytes as they are */
		jm_json_opts any = {.flags = JM_JSON_ANY_BYTES};
		jm_json v;
		jm_json_error e;
		int rc = jm_json_parse(t, strlen(t), &any, &v, &e);
		if (t[strlen(t) - 1] != '"') {
			cr_expect_eq(rc, -1);
			cr_expect_eq(e.code, JM_JSON_E_UNTERMINATED);
			continue;
		}
		cr_assert_eq(rc, 0, "case %zu: %s", i, e.what);
		cr_expect_eq(v.n, strlen(t) - 2);
		cr_expect_eq(memcmp(v.str, t + 1, v.n), 0);
		jm_json_free(&v);
	}
}

/* ---- parsing: numbers ------------------------------------------------------------- */

Test(json_parse, numbers)
{
	static const struct {
		const char *text;
		double num;
		int is_u64;
		uint64_t u;
	} cases[] = {
		{"0", 0, 1, 0},
		{"-0", -0.0, 0, 0},
		{"42", 42, 1, 42},
		{"-17", -17, 0, 0},
		{"1.5", 1.5, 0, 0},
		{"1.0", 1, 0, 0},
		{"1e2", 100, 0, 0},
		{"1E+2", 100, 0, 0},
		{"25e-1", 2.5, 0, 0},
		{"-0.0e0", -0.0, 0, 0},
		{"9007199254740993", 9007199254740992.0, 1, 9007199254740993ULL},
		{"18446744073709551615", 18446744073709551615.0, 1, UINT64_MAX},
		{"18446744073709551616", 18446744073709551616.0, 0, 0},
		{"123456789012345678901234567890", NAN, 0, 0}, /* NAN: as strtod reads it */
		{"1e999", INFINITY, 0, 0},
		{"-1e999", -INFINITY, 0, 0},
		{"1e-999", 0, 0, 0},
		{"4.9406564584124654e-324", 4.9406564584124654e-324, 0, 0},
		{"2.2250738585072014e-308", 2.2250738585072014e-308, 0, 0},
		{"0.1", 0.1, 0, 0},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		jm_json v;
		parse_ok(cases[i].text, strlen(cases[i].text), NULL, &v);
		cr_assert_eq(v.type, JM_JSON_NUMBER);
		double want = isnan(cases[i].num) ? strtod(cases[i].text, NULL) : cases[i].num;
		cr_expect(v.num == want && signbit(v.num) == signbit(want), "%s: %.17g",
			  cases[i].text, v.num);
		cr_expect_eq(v.is_u64, cases[i].is_u64, "%s", cases[i].text);
		uint64_t u = 7;
		cr_expect_eq(jm_json_as_u64(&v, &u), cases[i].is_u64, "%s", cases[i].text);
		if (cases[i].is_u64)
			cr_expect_eq(u, cases[i].u, "%s", cases[i].text);
		jm_json_free(&v);
	}
	jm_json s;
	parse_ok("\"1\"", 3, NULL, &s);
	cr_expect_not(jm_json_as_u64(&s, NULL), "a string is not a number");
	cr_expect_not(jm_json_as_u64(NULL, NULL));
	jm_json_free(&s);
}

Test(json_parse, number_length_limit)
{
	char text[80];
	memset(text, '1', sizeof text);
	jm_json_opts o = {.max_number = 63};
	jm_json v;
	parse_ok(text, 63, &o, &v);
	jm_json_free(&v);
	text[0] = '[';
	parse_bad(text, 66, &o, JM_JSON_E_NUMBER_LONG, 1, "number too long");
	o.max_number = 0; /* no limit */
	text[0] = '1';
	parse_ok(text, 80, &o, &v);
	char copy[81];
	memcpy(copy, text, 80);
	copy[80] = '\0';
	cr_expect_eq(v.num, strtod(copy, NULL));
	jm_json_free(&v);
}

/* ---- parsing: malformed inputs ------------------------------------------------------ */

Test(json_parse, malformed_each_with_its_message)
{
	static const struct {
		const char *text;
		jm_json_errcode code;
		size_t at;
		const char *what;
	} cases[] = {
		{"", JM_JSON_E_VALUE, 0, "expected a value"},
		{"   ", JM_JSON_E_VALUE, 3, "expected a value"},
		{"x", JM_JSON_E_VALUE, 0, "expected a value"},
		{"tru", JM_JSON_E_VALUE, 0, "expected a value"},
		{"nul", JM_JSON_E_VALUE, 0, "expected a value"},
		{"True", JM_JSON_E_VALUE, 0, "expected a value"},
		{"[1,]", JM_JSON_E_VALUE, 3, "expected a value"},
		{"[", JM_JSON_E_VALUE, 1, "expected a value"},
		{"{\"a\":", JM_JSON_E_VALUE, 5, "expected a value"},
		{"+1", JM_JSON_E_VALUE, 0, "expected a value"},
		{".5", JM_JSON_E_VALUE, 0, "expected a value"},
		{"-", JM_JSON_E_DIGIT, 1, "expected a digit"},
		{"-a", JM_JSON_E_DIGIT, 1, "expected a digit"},
		{"01", JM_JSON_E_LEADING_ZERO, 0, "leading zero in number"},
		{"-01", JM_JSON_E_LEADING_ZERO, 1, "leading zero in number"},
		{"1.", JM_JSON_E_FRACTION, 2, "expected a digit after '.'"},
		{"1.e5", JM_JSON_E_FRACTION, 2, "expected a digit after '.'"},
		{"1e", JM_JSON_E_EXPONENT, 2, "expected a digit in the exponent"},
		{"1e+", JM_JSON_E_EXPONENT, 3, "expected a digit in the exponent"},
		{"\"abc", JM_JSON_E_UNTERMINATED, 4, "unterminated string"},
		{"\"a\\", JM_JSON_E_UNTERMINATED, 3, "unterminated string"},
		{"\"\x01\"", JM_JSON_E_CONTROL, 1, "control character in string"},
		{"\"a\tb\"", JM_JSON_E_CONTROL, 2, "control character in string"},
		{"\"\\q\"", JM_JSON_E_ESCAPE, 2, "invalid escape in string"},
		{"\"\\U0041\"", JM_JSON_E_ESCAPE, 2, "invalid escape in string"},
		{"\"\\u12", JM_JSON_E_UNTERMINATED_U, 5, "unterminated \\u escape"},
		{"\"\\u12g4\"", JM_JSON_E_HEX, 5, "expected 4 hex digits after \\u"},
		{"\"\\u\"", JM_JSON_E_HEX, 3, "expected 4 hex digits after \\u"},
		{"\"\\udc00\"", JM_JSON_E_SURROGATE, 7, "unpaired surrogate in string"},
		{"\"\\ud800\"", JM_JSON_E_SURROGATE, 7, "unpaired surrogate in string"},
		{"\"\\ud800x\"", JM_JSON_E_SURROGATE, 7, "unpaired surrogate in string"},
		{"\"\\ud800\\", JM_JSON_E_SURROGATE, 7, "unpaired surrogate in string"},
		{"\"\\ud800\\u0041\"", JM_JSON_E_SURROGATE, 13, "unpaired surrogate in string"},
		{"\"\\ud800\\ud800\"", JM_JSON_E_SURROGATE, 13, "unpaired surrogate in string"},
		{"\"\\ud800\\n\"", JM_JSON_E_SURROGATE, 7, "unpaired surrogate in string"},
		{"\"\\u0000\"", JM_JSON_E_NUL, 7, "NUL character in string"},
		{"{1:2}", JM_JSON_E_KEY, 1, "expected a string key"},
		{"{", JM_JSON_E_KEY, 1, "expected a string key"},
		{"{\"a\":1,}", JM_JSON_E_KEY, 7, "expected a string key"},
		{"{'a':1}", JM_JSON_E_KEY, 1, "expected a string key"},
		{"{\"a\" 1}", JM_JSON_E_COLON, 5, "expected ':'"},
		{"{\"a\"", JM_JSON_E_COLON, 4, "expected ':'"},
		{"[1 2]", JM_JSON_E_ARRAY_SEP, 3, "expected ',' or ']'"},
		{"[1, 2", JM_JSON_E_ARRAY_SEP, 5, "expected ',' or ']'"},
		{"[\"a\"}", JM_JSON_E_ARRAY_SEP, 4, "expected ',' or ']'"},
		{"{\"a\":1 \"b\":2}", JM_JSON_E_OBJECT_SEP, 7, "expected ',' or '}'"},
		{"{\"a\":1]", JM_JSON_E_OBJECT_SEP, 6, "expected ',' or '}'"},
		{"{\"a\":1,\"a\":2}", JM_JSON_E_DUP_KEY, 7, "duplicate key \"a\""},
		{"{\"x\":{\"\\u00e9\":1,\"\xc3\xa9\":2}}", JM_JSON_E_DUP_KEY, 17,
		 "duplicate key \"\xc3\xa9\""},
		{"1 2", JM_JSON_E_TRAILING, 2, "unexpected text after the value"},
		{"{\"a\":1}}", JM_JSON_E_TRAILING, 7, "unexpected text after the value"},
		{"[] // comment", JM_JSON_E_TRAILING, 3, "unexpected text after the value"},
		{"\xef\xbb\xbf{}", JM_JSON_E_VALUE, 0, "expected a value"}, /* no BOM */
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		parse_bad(cases[i].text, strlen(cases[i].text), NULL, cases[i].code, cases[i].at,
			  cases[i].what);
	/* a NUL byte is a control character like any other */
	parse_bad("\"a\0b\"", 5, NULL, JM_JSON_E_CONTROL, 2, "control character in string");
	parse_bad("1\0", 2, NULL, JM_JSON_E_TRAILING, 1, "unexpected text after the value");
}

Test(json_parse, errors_without_an_error_struct_and_error_set)
{
	jm_json v;
	cr_expect_eq(jm_json_parse("[1,", 3, NULL, &v, NULL), -1);
	cr_expect_eq(v.type, JM_JSON_NULL);
	jm_json_error e;
	cr_assert_eq(jm_json_parse("{\"k\" 1}", 7, NULL, &v, &e), -1);
	jm_err err = {0};
	cr_expect_eq(jm_json_error_set(&err, "run.json", &e), -1);
	cr_expect_eq(err.code, JM_EXIT_INPUT);
	cr_expect_str_eq(err.msg, "run.json: byte 5: expected ':'");
	cr_expect_eq(jm_json_error_set(&err, NULL, &e), -1);
	cr_expect_str_eq(err.msg, "byte 5: expected ':'");
	cr_expect_str_eq(jm_json_error_word(JM_JSON_E_DEPTH), "nested too deeply");
	cr_expect_str_eq(jm_json_error_word(JM_JSON_E_COUNT), "unknown error");
}

Test(json_parse, the_callers_words)
{
	static const char *const words[JM_JSON_E_COUNT] = {
		[JM_JSON_E_KEY] = "expected a key",
		[JM_JSON_E_ARRAY_SEP] = "expected \",\" or \"]\"",
		[JM_JSON_E_DUP_KEY] = "repeated",
	};
	jm_json_opts o = {.words = words};
	parse_bad("{", 1, &o, JM_JSON_E_KEY, 1, "expected a key");
	parse_bad("[1, 2", 5, &o, JM_JSON_E_ARRAY_SEP, 5, "expected \",\" or \"]\"");
	parse_bad("{\"b\":1,\"b\":1}", 13, &o, JM_JSON_E_DUP_KEY, 7, "repeated \"b\"");
	/* no word given: the default */
	parse_bad("{\"a\" 1}", 7, &o, JM_JSON_E_COLON, 5, "expected ':'");
}

/* ---- parsing: limits ------------------------------------------------------------------ */

static char *nested(int levels, const char *inner)
{
	jm_buf b = JM_BUF_INIT;
	for (int i = 0; i < levels; i++)
		jm_buf_addch(&b, '[');
	jm_buf_addstr(&b, inner);
	for (int i = 0; i < levels; i++)
		jm_buf_addch(&b, ']');
	return jm_buf_detach(&b, NULL);
}

Test(json_parse, depth_limit)
{
	jm_json_opts o = {.max_depth = 3};
	jm_json v;
	char *t = nested(2, "1"); /* [[1]]: depth 3 */
	parse_ok(t, strlen(t), &o, &v);
	jm_json_free(&v);
	free(t);
	t = nested(3, ""); /* [[[]]]: depth 3 */
	parse_ok(t, strlen(t), &o, &v);
	jm_json_free(&v);
	free(t);
	t = nested(3, "1");
	parse_bad(t, strlen(t), &o, JM_JSON_E_DEPTH, 3, "nested too deeply");
	free(t);
	t = nested(3, " {}"); /* the place is the value's, after the blanks */
	parse_bad(t, strlen(t), &o, JM_JSON_E_DEPTH, 4, "nested too deeply");
	free(t);
	parse_bad("{\"a\":{\"b\":{\"c\":1}}}", 19, &o, JM_JSON_E_DEPTH, 15, "nested too deeply");

	/* the default is 64 */
	t = nested(63, "1");
	parse_ok(t, strlen(t), NULL, &v);
	jm_json_free(&v);
	free(t);
	t = nested(64, "1");
	parse_bad(t, strlen(t), NULL, JM_JSON_E_DEPTH, 64, "nested too deeply");
	free(t);

	/* and no caller gets more than JM_JSON_DEPTH_LIMIT */
	o.max_depth = 1 << 30;
	t = nested(JM_JSON_DEPTH_LIMIT - 1, "1");
	parse_ok(t, strlen(t), &o, &v);
	jm_json_free(&v);
	free(t);
	t = nested(JM_JSON_DEPTH_LIMIT, "0");
	parse_bad(t, strlen(t), &o, JM_JSON_E_DEPTH, JM_JSON_DEPTH_LIMIT, "nested too deeply");
	free(t);
}

Test(json_parse, size_limit)
{
	jm_json_opts o = {.max_size = 8};
	jm_json v;
	parse_ok("[1,2,30]", 8, &o, &v);
	jm_json_free(&v);
	parse_bad("[1,2,300]", 9, &o, JM_JSON_E_SIZE, 8, "text over the size limit");
	o.max_size = 0;
	parse_ok("[1,2,300]", 9, &o, &v);
	jm_json_free(&v);
}

/* ---- parsing: duplicate keys --------------------------------------------------------- */

Test(json_parse, duplicate_keys)
{
	const char *t = "{\"a\":1,\"b\":2,\"a\":3}";
	parse_bad(t, strlen(t), NULL, JM_JSON_E_DUP_KEY, 13, "duplicate key \"a\"");
	jm_json_opts o = {.flags = JM_JSON_DUP_KEYS};
	jm_json v;
	parse_ok(t, strlen(t), &o, &v);
	cr_expect_eq(v.n, 3);
	cr_expect_eq(jm_json_get(&v, "a")->num, 1, "lookups find the first");
	jm_json_free(&v);
}

Test(json_parse, duplicate_keys_in_big_objects)
{
	/* past the size where keys go through the hash set */
	jm_buf b = JM_BUF_INIT;
	jm_buf_addch(&b, '{');
	for (int i = 0; i < 3000; i++)
		jm_buf_printf(&b, "%s\"k%d\":%d", i ? "," : "", i, i);
	jm_buf_addch(&b, '}');
	jm_json v;
	parse_ok(b.s, b.len, NULL, &v);
	cr_assert_eq(v.n, 3000);
	cr_expect_eq(jm_json_get(&v, "k2999")->num, 2999);
	jm_json_free(&v);
	for (int dup = 0; dup < 3000; dup += 997) {
		b.len -= 1; /* the closing brace */
		size_t at = b.len + 1;
		jm_buf_printf(&b, ",\"k%d\":0}", dup);
		char want[32];
		snprintf(want, sizeof want, "duplicate key \"k%d\"", dup);
		parse_bad(b.s, b.len, NULL, JM_JSON_E_DUP_KEY, at, want);
		b.len = at - 1;
		jm_buf_addch(&b, '}');
	}
	jm_buf_release(&b);
}

/* ---- parsing: packed arrays ------------------------------------------------------------ */

Test(json_parse, packed_arrays)
{
	jm_json_opts o = {.flags = JM_JSON_PACK_NUMBERS};
	const char *t = "{\"n\": [1, null, -2.5e3], \"e\": [], \"m\": [1, \"x\", 18446744073709551615],"
			" \"deep\": [[1, 2], [3, [null]]], \"s\": [\"a\"]}";
	jm_json v;
	parse_ok(t, strlen(t), &o, &v);
	const jm_json *n = jm_json_get(&v, "n");
	cr_assert(n->packed);
	cr_assert_eq(n->n, 3);
	cr_expect_eq(n->nums[0], 1);
	cr_expect(isnan(n->nums[1]));
	cr_expect_eq(n->nums[2], -2500);
	cr_expect_null(jm_json_at(n, 0), "a packed array has no items");
	const jm_json *e = jm_json_get(&v, "e");
	cr_expect(e->packed && e->n == 0, "the empty array packs");
	const jm_json *m = jm_json_get(&v, "m");
	cr_assert_not(m->packed);
	cr_assert_eq(m->n, 3);
	cr_expect_eq(jm_json_at(m, 0)->num, 1);
	cr_expect(jm_json_at(m, 0)->is_u64, "started over: the first item is whole again");
	cr_expect_str_eq(jm_json_at(m, 1)->str, "x");
	cr_expect_eq(jm_json_at(m, 2)->u, UINT64_MAX);
	const jm_json *deep = jm_json_get(&v, "deep");
	cr_assert_not(deep->packed);
	cr_expect(jm_json_at(deep, 0)->packed);
	cr_expect_not(jm_json_at(deep, 1)->packed);
	cr_expect(jm_json_at(jm_json_at(deep, 1), 1)->packed);
	cr_expect_not(jm_json_get(&v, "s")->packed);

	/* the same text unpacked is equal, and so is what either writes */
	jm_json u;
	parse_ok(t, strlen(t), NULL, &u);
	cr_expect_not(jm_json_get(&u, "n")->packed);
	cr_expect(jm_json_equal(&v, &u));
	jm_buf bv = JM_BUF_INIT, bu = JM_BUF_INIT;
	jm_json_add_value(&bv, &v, 0);
	jm_json_add_value(&bu, &u, 0);
	cr_expect_str_eq(bv.s, bu.s);
	jm_buf_release(&bv);
	jm_buf_release(&bu);
	jm_json_free(&u);
	jm_json_free(&v);
}

Test(json_parse, packed_arrays_fail_like_unpacked_ones)
{
	static const char *const bad[] = {
		"[1, 2", "[1, nul]", "[1, -]", "[1 2]", "[1, 01]", "[1, 2,]", "[1, [2, 3}]",
		"[1, [[[[[[[[1]]]]]]]]]",
	};
	jm_json_opts plain = {.max_depth = 6}, packed = {.max_depth = 6,
							   .flags = JM_JSON_PACK_NUMBERS};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		jm_json v;
		jm_json_error a, b;
		cr_assert_eq(jm_json_parse(bad[i], strlen(bad[i]), &plain, &v, &a), -1, "%s", bad[i]);
		cr_assert_eq(jm_json_parse(bad[i], strlen(bad[i]), &packed, &v, &b), -1, "%s", bad[i]);
		cr_expect_eq(a.code, b.code, "%s", bad[i]);
		cr_expect_eq(a.offset, b.offset, "%s", bad[i]);
		cr_expect_str_eq(a.what, b.what, "%s", bad[i]);
	}
}

/* ---- round trips ------------------------------------------------------------------------- */

Test(json_round_trip, strings_of_every_byte)
{
	/* every byte 1..255 in a string: written, read back the same (bytes
	 * that are not UTF-8 need JM_JSON_ANY_BYTES) */
	char all[256];
	for (int c = 1; c < 256; c++)
		all[c - 1] = (char)c;
	all[255] = '\0';
	static const unsigned styles[] = {0, JM_JSON_ESC_BF, JM_JSON_ESC_CTRL_U};
	jm_json_opts any = {.flags = JM_JSON_ANY_BYTES};
	for (size_t s = 0; s < sizeof styles / sizeof styles[0]; s++) {
		char *t = str_of(all, styles[s]);
		jm_json v;
		parse_ok(t, strlen(t), &any, &v);
		cr_expect_eq(v.n, 255);
		cr_expect_eq(memcmp(v.str, all, 256), 0);
		jm_json_free(&v);
		jm_json_error e;
		cr_expect_eq(jm_json_parse(t, strlen(t), NULL, &v, &e), -1, "strict refuses");
		cr_expect_eq(e.code, JM_JSON_E_UTF8);
		free(t);
	}
}

Test(json_round_trip, trees)
{
	static const char *const docs[] = {
		"{\"a\":[1,-2.5,true,false,null,\"s\\n\\u00e9\"],\"b\":{},\"c\":[]}",
		"[18446744073709551615,-9007199254740993,1e999,-1e999,1e-999,-0,0.1]",
		"{\"deep\":[[[[{\"x\":[null,[],{}]}]]]],\"\\ud83d\\ude00\":\"\\\"\\\\\"}",
		"\"just a string\"",
		"[1,2,3,null,4.5e300]",
	};
	static const unsigned flags[] = {0, JM_JSON_PACK_NUMBERS};
	for (size_t d = 0; d < sizeof docs / sizeof docs[0]; d++)
		for (size_t f = 0; f < 2; f++) {
			jm_json_opts o = {.flags = flags[f]};
			jm_json a, b;
			parse_ok(docs[d], strlen(docs[d]), &o, &a);
			jm_buf t = JM_BUF_INIT;
			jm_json_add_value(&t, &a, JM_JSON_INF_1E999);
			parse_ok(t.s, t.len, &o, &b);
			cr_expect(jm_json_equal(&a, &b), "%s -> %s", docs[d], t.s);
			jm_buf t2 = JM_BUF_INIT;
			jm_json_add_value(&t2, &b, JM_JSON_INF_1E999);
			cr_expect_str_eq(t2.s, t.s, "writing is stable");
			jm_buf_release(&t);
			jm_buf_release(&t2);
			jm_json_free(&a);
			jm_json_free(&b);
		}
	/* what jm_json_add_value writes for a few trees, exactly */
	jm_json v;
	jm_json_opts pk = {.flags = JM_JSON_PACK_NUMBERS};
	parse_ok("[ 1 , null , 1e999 ]", 20, &pk, &v);
	jm_buf t = JM_BUF_INIT;
	jm_json_add_value(&t, &v, 0);
	cr_expect_str_eq(t.s, "[1,null,null]");
	jm_buf_reset(&t);
	jm_json_add_value(&t, &v, JM_JSON_INF_1E999);
	cr_expect_str_eq(t.s, "[1,null,1e999]");
	jm_json_free(&v);
	jm_buf_release(&t);
}

Test(json_round_trip, equal_tells_trees_apart)
{
	static const char *const pairs[][2] = {
		{"0", "-0"},           {"1", "1.5"},         {"[1]", "[1,2]"},
		{"{\"a\":1}", "{\"b\":1}"}, {"\"a\"", "\"b\""}, {"[null]", "[0]"},
		{"{\"a\":1,\"b\":2}", "{\"b\":2,\"a\":1}"},   {"true", "false"},
		{"[[1]]", "[[2]]"},    {"[1]", "[\"1\"]"},
		{"18446744073709551615", "18446744073709551616"},
		{"9007199254740993", "9007199254740993.0"},
	};
	jm_json_opts pk = {.flags = JM_JSON_PACK_NUMBERS};
	for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
		jm_json a, b;
		parse_ok(pairs[i][0], strlen(pairs[i][0]), &pk, &a);
		parse_ok(pairs[i][1], strlen(pairs[i][1]), NULL, &b);
		cr_expect_not(jm_json_equal(&a, &b), "%s == %s", pairs[i][0], pairs[i][1]);
		cr_expect_not(jm_json_equal(&b, &a), "%s == %s", pairs[i][1], pairs[i][0]);
		cr_expect(jm_json_equal(&a, &a));
		jm_json_free(&a);
		jm_json_free(&b);
	}
	/* numbers are compared as values */
	static const char *const same[][2] = {
		{"1", "1.0"}, {"100", "1e2"}, {"0", "1e-999"}, {"[1,2]", "[1.0,2e0]"},
		{"18446744073709551615", "18446744073709551615"},
	};
	for (size_t i = 0; i < sizeof same / sizeof same[0]; i++) {
		jm_json a, b;
		parse_ok(same[i][0], strlen(same[i][0]), NULL, &a);
		parse_ok(same[i][1], strlen(same[i][1]), &pk, &b);
		cr_expect(jm_json_equal(&a, &b), "%s != %s", same[i][0], same[i][1]);
		jm_json_free(&a);
		jm_json_free(&b);
	}
}
