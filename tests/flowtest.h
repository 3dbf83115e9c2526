/*
 * flowtest.h: parsing flow text in the tests of the flow format
 * (test_flow, test_search_run).  Header-only: testutil.a is linked into
 * tests that do not link the flow module.
 */
#ifndef JM_FLOWTEST_H
#define JM_FLOWTEST_H

#include <criterion/criterion.h>
#include <string.h>

#include "flow.h"

/* Parse text (named fmnist.flow) that must fail; return the message
 * (static) after checking the code is the input-error code. */
static inline const char *parse_fail(const char *text)
{
	static jm_err err;
	jm_flow *f = (jm_flow *)1;
	memset(&err, 0, sizeof err);
	int rc = jm_flow_parse(&f, text, "fmnist.flow", &err);
	cr_assert_eq(rc, -1, "expected failure for:\n%s", text);
	cr_assert_null(f);
	cr_assert_eq(err.code, JM_EXIT_INPUT, "code %d for: %s", err.code, err.msg);
	return err.msg;
}

/* Parse text (named fmnist.flow) that must parse. */
static inline jm_flow *parse_ok(const char *text)
{
	jm_err err = {0};
	jm_flow *f = NULL;
	int rc = jm_flow_parse(&f, text, "fmnist.flow", &err);
	cr_assert_eq(rc, 0, "parse failed: %s\n--\n%s", err.msg, text);
	cr_assert_not_null(f);
	return f;
}

#define assert_msg(got, want) cr_assert_str_eq(got, want, "\n got: %s\nwant: %s", got, want)

#endif
