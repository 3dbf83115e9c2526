/*
 * flow_edit_fuzz.c: libFuzzer target for the flow editor (src/flow_edit.c).
 *
 *   bytes ─▶ text ─jm_flow_parse─▶ ok? ─jm_flow_edit(text, parsed)─▶ == text
 *                                     ─jm_flow_edit("", parsed)──▶ reads back
 *                                     ─one key set (picked by a hash of the
 *                                      bytes) ─jm_flow_edit─▶ reads back,
 *                                      one line changed or added, and
 *                                      editing that again changes nothing
 *
 * Beyond crashes and sanitizer reports it checks the editor's promises: a
 * text edited to the flow it already says comes back byte for byte; an
 * edited valid flow always gives text (jm_flow_edit itself parses the
 * result and refuses one that reads back different, so a refusal here is
 * a finding); the edit touches one line for one key; and it is stable.
 *
 * Build with `make fuzz/flow_edit_fuzz` in a configured build directory
 * (the rule is in src/module.mk), or by hand from the source tree:
 *   make -C BUILD libjm_data.a libjm_util.a && clang -g -O1 \
 *     -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -I. -Isrc -IBUILD \
 *     fuzz/flow_edit_fuzz.c src/flow_edit.c src/flow.c BUILD/libjm_data.a \
 *     BUILD/libjm_util.a -linih -lz -lcurl -larchive -lcrypto -lm -lpthread \
 *     -ldl -o BUILD/flow_edit_fuzz
 *   mkdir -p corpus-edit && cp examples/fmnist-[cms]*.flow corpus-edit/
 *   BUILD/flow_edit_fuzz -max_total_time=600 -max_len=4096 corpus-edit
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flow.h"

static void die(const char *what, const char *text, const char *out, const char *msg)
{
	fprintf(stderr, "%s%s%s\n--- text:\n%s\n--- edited:\n%s\n", what, msg ? ": " : "",
		msg ? msg : "", text, out ? out : "(none)");
	abort();
}

/* Lines of b between the lines a and b share at the start and those they
 * share at the end: the span of the edit. */
static int lines_changed(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), head = 0, tail = 0;
	while (head < la && head < lb && a[head] == b[head])
		head++;
	while (head && a[head - 1] != '\n')
		head--;
	while (tail < la - head && tail < lb - head && a[la - 1 - tail] == b[lb - 1 - tail])
		tail++;
	int n = 0;
	for (size_t i = head; i < lb - tail; i++)
		n += b[i] == '\n';
	return n + (lb - tail > head && b[lb - tail - 1] != '\n');
}

/* 1 when a line of text opens section sec ("[sec]", "  [ sec ] ; x"). */
static int has_section(const char *text, const char *sec)
{
	size_t n = strlen(sec);
	for (const char *l = text; l; l = strchr(l, '\n'), l = l ? l + 1 : NULL) {
		const char *p = l == text && !strncmp(l, "\xEF\xBB\xBF", 3) ? l + 3 : l;
		p += strspn(p, " \t");
		if (*p != '[')
			continue;
		p += 1 + strspn(p + 1, " \t");
		if (!strncmp(p, sec, n) && p[n + strspn(p + n, " \t\r\v\f")] == ']')
			return 1;
	}
	return 0;
}

/* Candidate values for a key: its default, a few of every type, its
 * choices. */
static const char *const values[] = {"", "0", "1", "2", "0.5", "true", "false", "auto",
				     "0.25,0.5", "64", "1e-4", "idx:/tmp", "x.csv"};

static void one_key(const char *text, const jm_flow *f, uint64_t h)
{
	int nk = jm_flow_key_count();
	jm_flow_keyinfo ki;
	jm_flow_key_info((int)(h % (uint64_t)nk), &ki);
	h /= (uint64_t)nk;
	const char *v = ki.def;
	char choice[64];
	size_t nv = sizeof values / sizeof values[0];
	if (h % 3 == 1) {
		v = values[(h / 3) % nv];
	} else if (h % 3 == 2 && ki.choices) {
		const char *c = ki.choices;
		for (uint64_t k = (h / 3) % 8; k && strchr(c, '|'); k--)
			c = strchr(c, '|') + 1;
		snprintf(choice, sizeof choice, "%.*s", (int)strcspn(c, "|"), c);
		v = choice;
	}
	jm_flow *g = jm_flow_dup(f);
	char *a = jm_xasprintf("%s.%s=%s", ki.section, ki.key, v);
	char *out = NULL, *again = NULL;
	jm_err err = {0};
	if (jm_flow_set(g, a, NULL) < 0 || jm_flow_validate(g, NULL) < 0)
		goto done;
	if (jm_flow_edit(text, g, &out, &err) < 0) {
		fprintf(stderr, "set %s\n", a);
		die("an edited valid flow was refused", text, NULL, err.msg);
	}
	/* one line, and: a new section comes with a blank line and its
	 * header, and a last line without an end gets one when a line follows
	 * it.  source takes a dir written in the text along, wherever that
	 * line is: the span of the edit is not one line then */
	size_t len = strlen(text);
	int most = 1 + 2 * !has_section(text, ki.section) + (len && text[len - 1] != '\n');
	int source = !strcmp(ki.section, "data") && !strcmp(ki.key, "source");
	if (!source && lines_changed(text, out) > most) {
		fprintf(stderr, "set %s\n", a);
		die("one key changed more than one line", text, out, NULL);
	}
	if (jm_flow_edit(out, g, &again, &err) < 0 || strcmp(again, out))
		die("editing the edited text again changed it", out, again, err.msg);
done:
	free(again);
	free(out);
	free(a);
	jm_flow_free(g);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	memcpy(text, data, size);
	text[size] = '\0';
	uint64_t h = 1469598103934665603ull; /* FNV-1a of the bytes: the key to set */
	for (size_t i = 0; i < size; i++)
		h = (h ^ data[i]) * 1099511628211ull;

	jm_flow *f = NULL;
	jm_err err = {0};
	if (jm_flow_parse(&f, text, "fuzz.flow", &err) == 0) {
		char *out = NULL;
		if (jm_flow_edit(text, f, &out, &err) < 0)
			die("a text edited to its own flow was refused", text, NULL, err.msg);
		if (strcmp(out, text))
			die("a text edited to its own flow changed", text, out, NULL);
		free(out);
		if (jm_flow_edit("", f, &out, &err) < 0)
			die("the flow from nothing was refused", text, NULL, err.msg);
		free(out);
		one_key(text, f, h);
		jm_flow_free(f);
	}
	free(text);
	return 0;
}
