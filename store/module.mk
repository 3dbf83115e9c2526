# store: the run store core (schema + migrations, runs/flows/params/tags/
# artifacts, the buffered metric writer).  store/query.mk adds the query
# language and bundles to the same library.
libjm_store_a_SOURCES += \
	store/store.c store/store.h \
	store/metric_writer.c store/metric_writer.h
nodist_libjm_store_a_SOURCES = store/schema.h

# The v1 schema is compiled in: store/schema.h is generated from
# store/schema.sql (a C string literal, one source line per line).  Objects
# that include it depend on it explicitly, so a first build of any target
# (make tests/test_store, make distcheck) generates it without BUILT_SOURCES.
EXTRA_DIST += store/schema.sql
CLEANFILES += store/schema.h
store/schema.h: store/schema.sql
	$(AM_V_GEN)$(MKDIR_P) store && { \
	  echo '/* generated from store/schema.sql by store/module.mk: do not edit */'; \
	  echo 'static const char jm_store_schema_v1[] ='; \
	  sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/?/\\?/g' \
	      -e 's/^/"/' -e 's/$$/\\n"/' $(srcdir)/store/schema.sql; \
	  echo ';'; } > $@-t && mv -f $@-t $@
store/store.$(OBJEXT) store/libjm_store_a-store.$(OBJEXT): store/schema.h

if ENABLE_TESTS
check_PROGRAMS += tests/test_store
TESTS += tests/test_store
tests_test_store_SOURCES = tests/test_store.c
tests_test_store_CFLAGS = $(TEST_CFLAGS)
tests_test_store_LDADD = tests/libjm_testutil.a libjm_store.a libjm_util.a \
	$(TEST_LIBS) $(JM_DEP_LIBS)
endif

# Benchmark: metric writer vs raw inserts, reader latency under a writer.
noinst_PROGRAMS += bench/bench_store
bench_bench_store_SOURCES = bench/bench_store.c
bench_bench_store_LDADD = libjm_store.a libjm_util.a $(JM_DEP_LIBS)
