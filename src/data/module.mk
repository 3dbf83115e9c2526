# src/data/module.mk: the workflow file (src/flow.c), IDX data sets and
# splits, their tests, fuzz targets and the flow man page.
libjm_data_a_SOURCES += src/flow.c src/flow.h \
	src/data/idx.c src/data/idx.h \
	src/data/dataset.c src/data/dataset.h \
	src/data/split.c src/data/split.h

dist_man_MANS += man/jianmo-flow.5
EXTRA_DIST += examples/fmnist-mlp.flow examples/fmnist-cnn.flow

if ENABLE_TESTS
check_PROGRAMS += tests/test_flow tests/test_idx tests/test_split
TESTS += tests/test_flow tests/test_idx tests/test_split
tests_test_flow_SOURCES = tests/test_flow.c
tests_test_flow_CFLAGS = $(TEST_CFLAGS)
tests_test_flow_LDADD = tests/libjm_testutil.a libjm_data.a libjm_util.a $(TEST_LIBS) $(JM_DEP_LIBS)
tests_test_idx_SOURCES = tests/test_idx.c
tests_test_idx_CFLAGS = $(TEST_CFLAGS)
tests_test_idx_LDADD = tests/libjm_testutil.a libjm_data.a libjm_util.a $(TEST_LIBS) $(JM_DEP_LIBS)
tests_test_split_SOURCES = tests/test_split.c
tests_test_split_CFLAGS = $(TEST_CFLAGS)
tests_test_split_LDADD = tests/libjm_testutil.a libjm_data.a libjm_util.a $(TEST_LIBS) $(JM_DEP_LIBS)
endif
