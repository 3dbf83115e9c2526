# src/data/tabular.mk: frames, CSV, sources, cleaning and features (issue 4)
# clean.c and features.c live in libjm_data beside the flow (src/flow.c),
# which checks [clean] and [features] rules with their parsers.
libjm_data_a_SOURCES += src/data/frame.c src/data/frame.h \
	src/data/csv.c src/data/csv.h src/data/source.c src/data/source.h \
	pipeline/clean.c pipeline/clean.h pipeline/features.c pipeline/features.h
libjm_pipeline_a_SOURCES += pipeline/tabular.c pipeline/tabular.h

# libFuzzer target for the CSV reader, built on demand with clang:
#   make fuzz/csv_fuzz && ./fuzz/csv_fuzz -max_len=1024 CORPUS $(srcdir)/tests/corpus/csv
# tests/corpus/csv is the minimised corpus (-merge=1 -use_counters=0).
EXTRA_DIST += fuzz/csv_fuzz.c tests/corpus/csv
CLEANFILES += fuzz/csv_fuzz
CSV_FUZZ_SRC = $(srcdir)/fuzz/csv_fuzz.c $(srcdir)/src/data/csv.c $(srcdir)/src/data/frame.c \
	$(srcdir)/src/data/source.c $(srcdir)/src/util/err.c $(srcdir)/src/util/hash.c
fuzz/csv_fuzz: $(CSV_FUZZ_SRC)
	$(MKDIR_P) fuzz
	$(FUZZ_CC) $(FUZZ_FLAGS) $(CSV_FUZZ_SRC) -o $@ $(ARCHIVE_LIBS) $(CURL_LIBS) \
		$(CRYPTO_LIBS) -lm -lpthread

if ENABLE_TESTS
check_PROGRAMS += tests/test_csv tests/test_frame tests/test_source tests/test_clean \
	tests/test_features
TESTS += tests/test_csv tests/test_frame tests/test_source tests/test_clean tests/test_features
tests_test_csv_SOURCES = tests/test_csv.c
tests_test_csv_CFLAGS = $(TEST_CFLAGS)
tests_test_csv_LDADD = tests/libjm_testutil.a libjm_data.a libjm_util.a $(TEST_LIBS) $(JM_DEP_LIBS)
tests_test_frame_SOURCES = tests/test_frame.c
tests_test_frame_CFLAGS = $(TEST_CFLAGS)
tests_test_frame_LDADD = tests/libjm_testutil.a libjm_data.a libjm_util.a $(TEST_LIBS) $(JM_DEP_LIBS)
tests_test_source_SOURCES = tests/test_source.c
tests_test_source_CFLAGS = $(TEST_CFLAGS)
tests_test_source_LDADD = tests/libjm_testutil.a libjm_data.a libjm_util.a $(TEST_LIBS) $(JM_DEP_LIBS)
tests_test_clean_SOURCES = tests/test_clean.c tests/frametest.h
tests_test_clean_CFLAGS = $(TEST_CFLAGS)
tests_test_clean_LDADD = tests/libjm_testutil.a libjm_pipeline.a libjm_data.a libjm_util.a \
	$(TEST_LIBS) $(JM_DEP_LIBS)
tests_test_features_SOURCES = tests/test_features.c tests/frametest.h
tests_test_features_CFLAGS = $(TEST_CFLAGS)
tests_test_features_LDADD = tests/libjm_testutil.a libjm_pipeline.a libjm_data.a libjm_util.a \
	$(TEST_LIBS) $(JM_DEP_LIBS)
# CSV runs: the flow's CSV keys and the stages in sequence (test_tabular),
# and `jianmo --batch` on CSVs end to end (test_tabular_batch)
check_PROGRAMS += tests/test_tabular tests/test_tabular_batch
TESTS += tests/test_tabular tests/test_tabular_batch
tests_test_tabular_SOURCES = tests/test_tabular.c
tests_test_tabular_CFLAGS = $(TEST_CFLAGS)
tests_test_tabular_LDADD = tests/libjm_testutil.a libjm_pipeline.a libjm_data.a libjm_util.a \
	$(TEST_LIBS) $(JM_DEP_LIBS)
tests_test_tabular_batch_SOURCES = tests/test_tabular_batch.c
tests_test_tabular_batch_CFLAGS = $(TEST_CFLAGS)
tests_test_tabular_batch_LDADD = tests/libjm_testutil.a $(TEST_LIBS) $(JM_DEP_LIBS) -lpthread
endif

# The read + clean + features benchmark beside pandas and polars
# (bench/bench_tabular.sh runs it; figures in docs/bench-tabular.md).
noinst_PROGRAMS += bench/bench_tabular
bench_bench_tabular_SOURCES = bench/bench_tabular.c
bench_bench_tabular_LDADD = libjm_pipeline.a libjm_data.a libjm_util.a $(JM_DEP_LIBS)
EXTRA_DIST += bench/bench_tabular.sh bench/polars_clean.py
