/*
 * frametest.h: frames from CSV text for the tests of the tabular stages
 * (test_clean, test_features, test_plugin).  Header-only: testutil.a is
 * linked into tests that do not link the data module.
 */
#ifndef JM_FRAMETEST_H
#define JM_FRAMETEST_H

#include <criterion/criterion.h>
#include <string.h>

#include "data/csv.h"
#include "data/frame.h"

/* A comma-separated table (header first); fails the test if it does not
 * parse. */
static inline jm_frame *table(const char *csv)
{
	jm_frame *f = NULL;
	jm_err err = {0};
	jm_csv_opts o;
	jm_csv_opts_init(&o);
	o.delim = ',';
	cr_assert_eq(jm_csv_parse(csv, strlen(csv), &o, &f, NULL, &err), 0, "%s", err.msg);
	return f;
}

/* Row i of numeric column col; fails the test if there is no such column. */
static inline double num(const jm_frame *f, const char *col, int64_t i)
{
	jm_col *c = jm_frame_col(f, col);
	cr_assert_not_null(c, "no column %s", col);
	return jm_col_num(c, i);
}

#endif
