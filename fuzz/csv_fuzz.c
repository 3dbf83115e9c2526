/*
 * csv_fuzz.c: libFuzzer target for the CSV reader (src/data/csv.c).
 *
 *   input = 2 option bytes + CSV bytes
 *   ──jm_csv_parse, read in one piece──▶ frame A or error A
 *   ──jm_csv_parse, split into 2..5 parts──▶ frame B or error B
 *
 * Checks: no crash or sanitizer report; A and B agree exactly (same
 * error message, or the same columns, types, values and missing masks),
 * which holds the split/merge path to the simple one; every frame is
 * well formed (string codes inside the dictionary, missing counts match
 * the masks, float missing <=> NaN); an accepted input written back as
 * CSV is read again without error.
 *
 * Build and run (from the source tree root, BUILD a configured build dir):
 *   make -C BUILD fuzz/csv_fuzz
 *   BUILD/fuzz/csv_fuzz -max_len=4096 tests/corpus/csv
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/csv.h"

static void check_frame(const jm_frame *f)
{
	for (int j = 0; j < f->ncols; j++) {
		const jm_col *c = f->cols[j];
		int64_t n_na = 0;
		for (int64_t i = 0; i < f->nrows; i++) {
			int na = jm_col_isna(c, i);
			n_na += na;
			if (c->type == JM_COL_F64 && na != isnan(c->v.f64[i]))
				abort();
			if (c->type == JM_COL_STR) {
				int32_t k = c->v.code[i];
				if (na ? k != -1 : (k < 0 || k >= c->dict->n))
					abort();
			}
			if (c->type == JM_COL_BOOL && c->v.b[i] > 1)
				abort();
		}
		if (n_na != c->n_na || (c->na && !n_na))
			abort();
	}
}

static void same_frames(const jm_frame *a, const jm_frame *b)
{
	if (a->nrows != b->nrows || a->ncols != b->ncols)
		abort();
	char x[64], y[64];
	for (int j = 0; j < a->ncols; j++) {
		const jm_col *c = a->cols[j], *d = b->cols[j];
		if (strcmp(c->name, d->name) || c->type != d->type || c->n_na != d->n_na)
			abort();
		for (int64_t i = 0; i < a->nrows; i++) {
			if (jm_col_isna(c, i) != jm_col_isna(d, i))
				abort();
			if (strcmp(jm_col_text(c, i, x, sizeof x), jm_col_text(d, i, y, sizeof y)))
				abort();
		}
	}
}

static void same_notes(const jm_csv_info *a, const jm_csv_info *b)
{
	if (a->n_notes != b->n_notes)
		abort();
	for (int i = 0; i < a->n_notes; i++)
		if (strcmp(a->notes[i], b->notes[i]))
			abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	static const char delims[] = {0, ',', ';', '\t'};
	static const char *const user_na[] = {"x", "-"};
	unsigned opt = data[0];
	jm_csv_opts o;
	jm_csv_opts_init(&o);
	o.delim = delims[opt & 3];
	o.header = !(opt & 4);
	o.infer_dates = !(opt & 8);
	o.keep_default_na = !(opt & 16);
	if (opt & 32) {
		o.na_values = user_na;
		o.n_na_values = 2;
	}
	if (opt & 64)
		o.max_field = 16;
	o.strict_fields = data[1] & 1;
	o.comment = data[1] & 2 ? '#' : 0;
	o.name = "fuzz.csv";
	const char *buf = (const char *)data + 2;
	size_t n = size - 2;

	jm_frame *fa = NULL, *fb = NULL;
	jm_csv_info ia, ib;
	jm_err ea = {0}, eb = {0};
	o.threads = 1;
	int ra = jm_csv_parse(buf, n, &o, &fa, &ia, &ea);
	o.threads = -(2 + (int)(opt >> 7) + (int)(n % 3)); /* 2..5 parts, no threads */
	int rb = jm_csv_parse(buf, n, &o, &fb, &ib, &eb);
	if (ra != rb)
		abort();
	if (ra < 0) {
		if (strcmp(ea.msg, eb.msg) || ea.code != eb.code || !ea.msg[0])
			abort();
	} else {
		check_frame(fa);
		check_frame(fb);
		same_frames(fa, fb);
		same_notes(&ia, &ib);
		/* written back, it reads again */
		char *text = NULL;
		size_t len = 0;
		FILE *m = open_memstream(&text, &len);
		jm_csv_opts w;
		jm_csv_opts_init(&w);
		w.delim = ',';
		w.max_field = 1 << 20;
		if (m && jm_frame_write_csv(fa, m, NULL) == 0 && fclose(m) == 0) {
			jm_frame *fc = NULL;
			jm_err ec = {0};
			/* a frame of only empty strings has no data rows once written */
			if (jm_csv_parse(text, len, &w, &fc, NULL, &ec) == 0) {
				check_frame(fc);
				if (fc->ncols != fa->ncols)
					abort();
			}
			jm_frame_free(fc);
		}
		free(text);
	}
	jm_frame_free(fa);
	jm_frame_free(fb);
	jm_csv_info_clear(&ia);
	jm_csv_info_clear(&ib);
	return 0;
}
