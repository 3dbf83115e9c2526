# src/data/module.mk: the workflow file (src/flow.c), IDX data sets and
# splits, their tests, fuzz targets and the flow man page.
libjm_data_a_SOURCES += src/flow.c src/flow.h \
	src/data/idx.c src/data/idx.h \
	src/data/dataset.c src/data/dataset.h \
	src/data/split.c src/data/split.h

dist_man_MANS += man/jianmo-flow.5
EXTRA_DIST += examples/fmnist-mlp.flow examples/fmnist-cnn.flow \
	examples/penguins.flow examples/penguins-mass.flow \
	examples/data/penguins.csv examples/data/README

if ENABLE_TESTS
check_PROGRAMS += tests/test_flow tests/test_idx tests/test_split
TESTS += tests/test_flow tests/test_idx tests/test_split
tests_test_flow_SOURCES = tests/test_flow.c tests/flowtest.h
tests_test_flow_CFLAGS = $(TEST_CFLAGS)
tests_test_flow_LDADD = tests/libjm_testutil.a libjm_data.a libjm_util.a $(TEST_LIBS) $(JM_DEP_LIBS)
tests_test_idx_SOURCES = tests/test_idx.c
tests_test_idx_CFLAGS = $(TEST_CFLAGS)
tests_test_idx_LDADD = tests/libjm_testutil.a libjm_data.a libjm_util.a $(TEST_LIBS) $(JM_DEP_LIBS)
tests_test_split_SOURCES = tests/test_split.c
tests_test_split_CFLAGS = $(TEST_CFLAGS)
tests_test_split_LDADD = tests/libjm_testutil.a libjm_data.a libjm_util.a $(TEST_LIBS) $(JM_DEP_LIBS)
endif

# libFuzzer targets, built on demand with clang (not by `make`):
#   make fuzz/flow_fuzz fuzz/idx_fuzz && ./fuzz/flow_fuzz -max_total_time=300 CORPUS
EXTRA_DIST += fuzz/flow_fuzz.c fuzz/idx_fuzz.c
CLEANFILES += fuzz/flow_fuzz fuzz/idx_fuzz
FUZZ_CC = clang
FUZZ_FLAGS = -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE \
	-I$(top_srcdir) -I$(top_srcdir)/src -I$(top_builddir)
FLOW_FUZZ_SRC = $(srcdir)/fuzz/flow_fuzz.c $(srcdir)/src/flow.c $(srcdir)/src/data/idx.c \
	$(srcdir)/src/data/dataset.c $(srcdir)/src/util/err.c \
	$(srcdir)/pipeline/clean.c $(srcdir)/pipeline/features.c $(srcdir)/src/data/frame.c \
	$(srcdir)/src/util/json.c $(srcdir)/src/util/strbuf.c $(srcdir)/src/plugin/registry.c \
	$(srcdir)/src/util/suggest.c
IDX_FUZZ_SRC = $(srcdir)/fuzz/idx_fuzz.c $(srcdir)/src/data/idx.c $(srcdir)/src/util/err.c
fuzz/flow_fuzz: $(FLOW_FUZZ_SRC)
	$(MKDIR_P) fuzz
	$(FUZZ_CC) $(FUZZ_FLAGS) $(INIH_CFLAGS) $(FLOW_FUZZ_SRC) -o $@ $(INIH_LIBS) $(ZLIB_LIBS) -lm -lpthread -ldl
fuzz/idx_fuzz: $(IDX_FUZZ_SRC)
	$(MKDIR_P) fuzz
	$(FUZZ_CC) $(FUZZ_FLAGS) $(IDX_FUZZ_SRC) -o $@ $(ZLIB_LIBS)
