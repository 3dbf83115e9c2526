/*
 * idx_fuzz.c: libFuzzer target for the IDX parser (raw and gzip).
 *
 *   bytes ─jm_idx_parse(images)─▶ ok? check shape, touch every value
 *         ─jm_idx_parse(labels)─▶ ok? likewise
 *
 * On success the values must be exactly n*h*w bytes (ASan flags any read
 * past them); on failure there must be a message and an exit code.
 *
 * Build with `make fuzz/idx_fuzz` in a configured build directory, or by hand
 * from the source tree:
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -I. -Isrc \
 *     fuzz/idx_fuzz.c src/data/idx.c src/util/err.c -lz -o idx_fuzz
 *   ./idx_fuzz -max_total_time=300 -max_len=65536 corpus-idx
 * A seed corpus: a few small IDX files, raw and gzip (e.g. the first bytes
 * of Fashion-MNIST's label file, or files written by tests/test_idx.c).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "data/idx.h"

static volatile unsigned sink;

static void check(int rc, const jm_idx *x, const jm_err *err, int kind)
{
	if (rc < 0) {
		if (!err->msg[0] || (err->code != JM_EXIT_INPUT && err->code != JM_EXIT_FAIL) ||
		    x->data) {
			fprintf(stderr, "bad failure: %d \"%s\"\n", err->code, err->msg);
			abort();
		}
		return;
	}
	if (x->kind != kind || x->n < 1 || x->h < 1 || x->w < 1 ||
	    (kind == JM_IDX_LABELS && (x->h != 1 || x->w != 1))) {
		fprintf(stderr, "bad shape %lld x %d x %d\n", (long long)x->n, x->h, x->w);
		abort();
	}
	unsigned s = 0;
	for (int64_t i = 0; i < x->n * x->h * x->w; i++)
		s += x->data[i];
	sink = s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const int kinds[2] = {JM_IDX_IMAGES, JM_IDX_LABELS};
	for (int k = 0; k < 2; k++) {
		jm_idx x;
		jm_err err = {0};
		int rc = jm_idx_parse(&x, data, size, kinds[k], "fuzz", &err);
		check(rc, &x, &err, kinds[k]);
		jm_idx_clear(&x);
	}
	return 0;
}
