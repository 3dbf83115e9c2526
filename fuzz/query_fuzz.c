/*
 * query_fuzz.c: libFuzzer target for the filter language (store/query.c).
 *
 *   input bytes ──NUL-terminated──▶ jm_query_parse (filter, then sort)
 *       ok    ──▶ the compiled SQL must prepare and run on a real store
 *       error ──▶ code 2, "column N: ..." with N inside the input
 *
 * Any other outcome aborts, and ASan/UBSan catch memory and UB errors.
 * Build and run: see fuzz/README.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/query.h"
#include "store/store.h"

static jm_store *fuzz_store;

static void fuzz_store_open(void)
{
	char tmpl[] = "/tmp/jianmo-query-fuzz-XXXXXX";
	jm_err err = {0};
	if (!mkdtemp(tmpl) || jm_store_open(&fuzz_store, tmpl, 0, &err) < 0) {
		fprintf(stderr, "query_fuzz: cannot open a store in %s: %s\n", tmpl, err.msg);
		abort();
	}
	/* a few rows so the subqueries have something to look at */
	jm_run_spec spec = {.kind = "run", .name = "fuzz", .seed = 1, .device = "cpu"};
	int64_t run = 0;
	if (jm_store_run_create(fuzz_store, &spec, &run, &err) < 0 ||
	    jm_store_param_set(fuzz_store, run, "train.lr", "1e-3", &err) < 0 ||
	    jm_store_param_set(fuzz_store, run, "model.type", "cnn", &err) < 0 ||
	    jm_store_tag_add(fuzz_store, run, "best", &err) < 0) {
		fprintf(stderr, "query_fuzz: %s\n", err.msg);
		abort();
	}
}

static int count_chars(const char *s)
{
	int n = 0;
	for (; *s; s++)
		if (((unsigned char)*s & 0xC0) != 0x80)
			n++;
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!fuzz_store)
		fuzz_store_open();
	char *text = malloc(size + 1);
	memcpy(text, data, size);
	text[size] = '\0';
	for (int kind = JM_QUERY_FILTER; kind <= JM_QUERY_SORT; kind++) {
		jm_query *q = NULL;
		jm_err err = {0};
		int col = -1;
		if (jm_query_parse(text, kind, &q, &col, &err) < 0) {
			if (q || err.code != JM_EXIT_INPUT || col < 1 ||
			    col > count_chars(text) + 1 || strncmp(err.msg, "column ", 7) != 0) {
				fprintf(stderr, "bad error: code %d col %d: %s\n", err.code, col,
					err.msg);
				abort();
			}
			continue;
		}
		int64_t *ids = NULL;
		size_t n = 0;
		if (jm_query_run_ids(jm_store_db(fuzz_store), kind == JM_QUERY_FILTER ? q : NULL,
				     kind == JM_QUERY_SORT ? q : NULL, 5, &ids, &n, &err) < 0) {
			fprintf(stderr, "compiled query does not run: %s\nsql: %s\n", err.msg,
				jm_query_sql(q));
			abort();
		}
		free(ids);
		jm_query_free(q);
	}
	free(text);
	return 0;
}
