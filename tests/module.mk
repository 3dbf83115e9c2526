# Shared test helpers; each module's fragment adds its own test programs.
if ENABLE_TESTS
check_LIBRARIES = tests/libjm_testutil.a
tests_libjm_testutil_a_SOURCES = tests/testutil.c tests/testutil.h
tests_libjm_testutil_a_CFLAGS = $(TEST_CFLAGS)
endif
