# store/query.mk: the filter language and run bundles (query.c, bundle.c),
EXTRA_DIST += fuzz/README fuzz/query_fuzz.c
# and the subcommands built on them (runs, show, compare, rm, export, import).
libjm_store_a_SOURCES += store/query.c store/query.h store/bundle.c store/bundle.h
libjm_cli_a_SOURCES += src/cli_runs.c src/cli_bundle.c

if ENABLE_TESTS
check_PROGRAMS += tests/test_query
TESTS += tests/test_query
tests_test_query_SOURCES = tests/test_query.c
tests_test_query_CFLAGS = $(TEST_CFLAGS)
tests_test_query_LDADD = tests/libjm_testutil.a libjm_store.a libjm_util.a \
	$(TEST_LIBS) $(JM_DEP_LIBS)
endif

if ENABLE_TESTS
check_PROGRAMS += tests/test_bundle
TESTS += tests/test_bundle
tests_test_bundle_SOURCES = tests/test_bundle.c
tests_test_bundle_CFLAGS = $(TEST_CFLAGS)
tests_test_bundle_LDADD = tests/libjm_testutil.a libjm_store.a libjm_util.a \
	$(TEST_LIBS) $(JM_DEP_LIBS)
endif

if ENABLE_TESTS
check_PROGRAMS += tests/test_cli_runs
TESTS += tests/test_cli_runs
tests_test_cli_runs_SOURCES = tests/test_cli_runs.c
tests_test_cli_runs_CFLAGS = $(TEST_CFLAGS)
tests_test_cli_runs_LDADD = tests/libjm_testutil.a libjm_store.a libjm_util.a \
	$(TEST_LIBS) $(JM_DEP_LIBS)
endif

# the bundle importer's fuzz target (fuzz/README) and its seeds
EXTRA_DIST += fuzz/bundle_fuzz.c tests/corpus/bundle
