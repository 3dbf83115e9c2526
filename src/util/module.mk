# util: errors, random numbers, hashing, signals, JSON, string buffers.  Owned by the foundation.
noinst_LIBRARIES += libjm_util.a
libjm_util_a_SOURCES += \
	src/util/err.c src/util/err.h \
	src/util/rng.c src/util/rng.h \
	src/util/hash.c src/util/hash.h
libjm_util_a_SOURCES += src/util/signals.c src/util/signals.h
libjm_util_a_SOURCES += src/util/json.c src/util/json.h
libjm_util_a_SOURCES += src/util/strbuf.c src/util/strbuf.h
libjm_util_a_SOURCES += src/util/fmt.c src/util/fmt.h
libjm_util_a_SOURCES += src/util/suggest.c src/util/suggest.h
libjm_util_a_SOURCES += src/util/outpath.c src/util/outpath.h

if ENABLE_TESTS
check_PROGRAMS += tests/test_json
TESTS += tests/test_json
tests_test_json_SOURCES = tests/test_json.c
tests_test_json_CFLAGS = $(TEST_CFLAGS)
tests_test_json_LDADD = tests/libjm_testutil.a libjm_util.a $(TEST_LIBS) $(JM_DEP_LIBS)
endif

# libFuzzer target, built on demand with clang (not by `make`):
#   make fuzz/json_fuzz && ./fuzz/json_fuzz -max_total_time=300 CORPUS
EXTRA_DIST += fuzz/json_fuzz.c
CLEANFILES += fuzz/json_fuzz
JSON_FUZZ_SRC = $(srcdir)/fuzz/json_fuzz.c $(srcdir)/src/util/json.c \
	$(srcdir)/src/util/strbuf.c $(srcdir)/src/util/err.c
fuzz/json_fuzz: $(JSON_FUZZ_SRC)
	$(MKDIR_P) fuzz
	clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE \
	  -I$(top_srcdir) -I$(top_srcdir)/src $(JSON_FUZZ_SRC) -o $@ -lm -lpthread
