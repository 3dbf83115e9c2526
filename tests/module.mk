# Shared test helpers; each module's fragment adds its own test programs.
if ENABLE_TESTS
check_LIBRARIES = tests/libjm_testutil.a
tests_libjm_testutil_a_SOURCES = tests/testutil.c tests/testutil.h
tests_libjm_testutil_a_CFLAGS = $(TEST_CFLAGS)
endif

# `jianmo predict` end to end: a run's model on a CSV and on IDX images
# (the test reproduces a CSV run's split with libjm_data to check test_acc)
if ENABLE_TESTS
check_PROGRAMS += tests/test_predict
TESTS += tests/test_predict
tests_test_predict_SOURCES = tests/test_predict.c
tests_test_predict_CFLAGS = $(TEST_CFLAGS)
tests_test_predict_LDADD = tests/libjm_testutil.a libjm_data.a libjm_util.a $(TEST_LIBS) \
	$(JM_DEP_LIBS) -lpthread -ldl -lm
endif
