/*
 * json_fuzz.c: libFuzzer target for the JSON module (src/util/json.c).
 *
 *   byte 0 ─▶ parse flags and write style
 *   bytes 1.. ─jm_json_parse─▶ ok? ─jm_json_add_value─▶ text ─parse─▶ equal?
 *                                                        └─ write again: same text
 *            └─ refused: a known error code, an offset inside the text, words
 *
 * Beyond crashes and sanitizer reports, it checks the module's promises:
 * anything that parses writes back as text that parses to an equal tree
 * (under the same flags) and writing that tree gives the same bytes again;
 * a refusal always names a real error at a byte of the input, and leaves
 * the tree empty.
 *
 * Build with `make fuzz/json_fuzz` in a configured build directory, or by
 * hand from the source tree:
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -I. -Isrc \
 *     fuzz/json_fuzz.c src/util/json.c src/util/strbuf.c src/util/err.c \
 *     -lm -lpthread -o json_fuzz
 *   mkdir -p corpus-json && echo '{"a": [1, -2.5e3, "\u00e9", null]}' > corpus-json/a
 *   ./json_fuzz -max_total_time=300 corpus-json
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/json.h"
#include "util/strbuf.h"

static void die(const char *what, const char *text, size_t len)
{
	fprintf(stderr, "%s: \"%.*s\"\n", what, (int)(len < 2000 ? len : 2000), text);
	abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	static const unsigned parse_flags[] = {JM_JSON_ANY_BYTES, JM_JSON_DUP_KEYS,
					       JM_JSON_PACK_NUMBERS};
	static const unsigned styles[] = {JM_JSON_ESC_BF, JM_JSON_ESC_CTRL_U, JM_JSON_NUM_G6};
	jm_json_opts opts = {.max_depth = 1 + (data[0] >> 6) * 20};
	unsigned style = JM_JSON_INF_1E999; /* so that 1e999 reads back as itself */
	for (int i = 0; i < 3; i++) {
		if (data[0] & (1u << i))
			opts.flags |= parse_flags[i];
		if (data[0] & (8u << i))
			style |= styles[i];
	}
	/* an exact-size copy: reading past the end shows */
	size_t len = size - 1;
	char *text = malloc(len ? len : 1);
	memcpy(text, data + 1, len);

	jm_json a, b;
	jm_json_error e;
	if (jm_json_parse(text, len, &opts, &a, &e) < 0) {
		if (e.code <= JM_JSON_OK || e.code >= JM_JSON_E_COUNT || e.offset > len || !e.what[0])
			die("a refusal without a proper error", text, len);
		if (a.type != JM_JSON_NULL || a.n)
			die("a refusal left a tree", text, len);
		free(text);
		return 0;
	}
	if (!jm_json_equal(&a, &a))
		die("a tree differs from itself", text, len);

	jm_buf w1 = JM_BUF_INIT, w2 = JM_BUF_INIT;
	jm_json_add_value(&w1, &a, style);
	if (jm_json_parse(w1.s, w1.len, &opts, &b, &e) < 0) {
		fprintf(stderr, "byte %zu: %s\nin: %s\n", e.offset, e.what, w1.s);
		die("written text does not parse", text, len);
	}
	if (!jm_json_equal(&a, &b)) {
		fprintf(stderr, "written: %s\n", w1.s);
		die("round trip changed the tree", text, len);
	}
	jm_json_add_value(&w2, &b, style);
	if (w1.len != w2.len || memcmp(w1.s, w2.s, w1.len)) {
		fprintf(stderr, "first: %s\nsecond: %s\n", w1.s, w2.s);
		die("writing is not stable", text, len);
	}
	/* the lookups on whatever came out */
	for (size_t i = 0; i < a.n && i < 8; i++) {
		if (a.type == JM_JSON_OBJECT && jm_json_get(&a, a.keys[i]) == NULL)
			die("a member is not found by its key", text, len);
		if (a.type == JM_JSON_ARRAY && !a.packed && jm_json_at(&a, i) != &a.items[i])
			die("jm_json_at disagrees with items", text, len);
	}
	jm_buf_release(&w1);
	jm_buf_release(&w2);
	jm_json_free(&a);
	jm_json_free(&b);
	free(text);
	return 0;
}
