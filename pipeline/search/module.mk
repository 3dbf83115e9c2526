# pipeline/search: the hyperparameter search core (issue 6): the space, the
# design, the Gaussian process, log EI, the genetic optimiser, the proposer
# and the pruning rules.  The runner drives it through sampler.h/prune.h.
libjm_search_a_SOURCES += \
	pipeline/search/space.c pipeline/search/space.h \
	pipeline/search/sobol.c pipeline/search/sobol.h \
	pipeline/search/opt.c pipeline/search/opt.h \
	pipeline/search/gp.c pipeline/search/gp.h \
	pipeline/search/acq.c pipeline/search/acq.h \
	pipeline/search/ga.c pipeline/search/ga.h \
	pipeline/search/sampler.c pipeline/search/sampler.h \
	pipeline/search/prune.c pipeline/search/prune.h
# The GP's dense loops (Cholesky, triangular solves, kernel rows) are
# written as dot products and axpys; at -O2 GCC 12 vectorises only loops
# with no remainder, so ask for its usual loop vectoriser.
libjm_search_a_CFLAGS = $(AM_CFLAGS) -ftree-vectorize -fvect-cost-model=dynamic

if ENABLE_TESTS
check_PROGRAMS += tests/test_search
TESTS += tests/test_search
tests_test_search_SOURCES = tests/test_search.c
tests_test_search_CFLAGS = $(TEST_CFLAGS)
tests_test_search_LDADD = tests/libjm_testutil.a libjm_search.a libjm_util.a \
	$(TEST_LIBS) $(JM_DEP_LIBS) -lm
endif

# Benchmark beside Optuna: bench/bench_search.sh runs both (docs/BENCHMARKS.md).
noinst_PROGRAMS += bench/bench_search
bench_bench_search_SOURCES = bench/bench_search.c
bench_bench_search_LDADD = libjm_search.a libjm_util.a -lm
EXTRA_DIST += bench/bench_search.sh
