/*
 * flow_fuzz.c: libFuzzer target for workflow files.
 *
 *   bytes ─▶ text ─jm_flow_parse─▶ ok? ─format─▶ parse ─▶ must be equal
 *          └─ each line as --set on the defaults ─▶ format ─▶ parse ─▶ equal
 *
 * Beyond crashes and sanitizer reports, it checks the promise of
 * jm_flow_format: the canonical text of any flow that parsed (or was built
 * by --set) reads back as the identical flow, and errors always carry a
 * message and an exit code.
 *
 * Build with `make fuzz/flow_fuzz` in a configured build directory, or by hand
 * from the source tree:
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -I. -Isrc \
 *     fuzz/flow_fuzz.c src/flow.c src/data/idx.c src/data/dataset.c \
 *     src/util/err.c -linih -lz -lm -lpthread -o flow_fuzz
 *   mkdir -p corpus-flow && cp examples/fmnist-mlp.flow examples/fmnist-cnn.flow corpus-flow/
 *   ./flow_fuzz -max_total_time=300 corpus-flow
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flow.h"

static void check_error(int rc, const jm_err *err)
{
	if (rc < 0 && (!err->msg[0] || (err->code != JM_EXIT_INPUT && err->code != JM_EXIT_FAIL))) {
		fprintf(stderr, "error without message or code: %d \"%s\"\n", err->code, err->msg);
		abort();
	}
}

static void check_round_trip(const jm_flow *f)
{
	char *text = jm_flow_format(f);
	jm_flow *g = NULL;
	jm_err err = {0};
	/* a flow built by --set may break a rule between keys; the text must
	 * still read back, so compare only when the original is valid */
	int valid = jm_flow_validate(f, NULL) == 0;
	if (jm_flow_parse(&g, text, "canonical", &err) < 0) {
		if (valid) {
			fprintf(stderr, "canonical text does not parse: %s\n%s", err.msg, text);
			abort();
		}
	} else if (!jm_flow_equal(f, g)) {
		fprintf(stderr, "round trip changed the flow:\n%s", text);
		abort();
	}
	jm_flow_free(g);
	free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	memcpy(text, data, size);
	text[size] = '\0';

	jm_flow *f = NULL;
	jm_err err = {0};
	int rc = jm_flow_parse(&f, text, "fuzz.flow", &err);
	check_error(rc, &err);
	if (rc == 0) {
		check_round_trip(f);
		jm_flow_free(f);
	}

	/* every line as an override */
	f = jm_flow_new();
	for (char *line = text, *next; line && *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		memset(&err, 0, sizeof err);
		rc = jm_flow_set(f, line, &err);
		check_error(rc, &err);
	}
	check_round_trip(f);
	jm_flow_free(f);
	free(text);
	return 0;
}
