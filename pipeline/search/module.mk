# pipeline/search: the hyperparameter search core (issue 6): the space, the
# design, the Gaussian process, log EI, the genetic optimiser, the proposer
# and the pruning rules.  The runner drives it through sampler.h/prune.h.
libjm_search_a_SOURCES += \
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

# The space is what a flow's [search] section declares: flow.c checks each
# searched key's distribution with it, so it lives with the flow in
# libjm_data (and in the flow fuzzer).
libjm_data_a_SOURCES += pipeline/search/space.c pipeline/search/space.h
FLOW_FUZZ_SRC += $(srcdir)/pipeline/search/space.c

# Running a search under --batch: the parent's loop of trials (child
# processes) and the trial's pruning hook.
libjm_pipeline_a_SOURCES += pipeline/search/batch.c pipeline/search/batch.h
# `jianmo show SEARCH`: the best trial and the table of trials.
libjm_cli_a_SOURCES += src/cli_search.c
EXTRA_DIST += examples/fmnist-search.flow

if ENABLE_TESTS
check_PROGRAMS += tests/test_search
TESTS += tests/test_search
tests_test_search_SOURCES = tests/test_search.c
tests_test_search_CFLAGS = $(TEST_CFLAGS)
tests_test_search_LDADD = tests/libjm_testutil.a libjm_search.a libjm_data.a libjm_util.a \
	$(TEST_LIBS) $(JM_DEP_LIBS) -lm

# A search from the flow to the store, through the real binary.
check_PROGRAMS += tests/test_search_run
TESTS += tests/test_search_run
tests_test_search_run_SOURCES = tests/test_search_run.c tests/flowtest.h
tests_test_search_run_CFLAGS = $(TEST_CFLAGS)
tests_test_search_run_LDADD = tests/libjm_testutil.a libjm_data.a libjm_util.a \
	$(TEST_LIBS) $(JM_DEP_LIBS) -lm
EXTRA_tests_test_search_run_DEPENDENCIES = tests/cuda/fake-cuda.so jianmo
endif

# A stand-in CUDA module that reports GPUs and opens none (tests/cuda).
tests/cuda/fake-cuda.so: tests/cuda/fake_cuda.c src/engine/backend.h
	$(AM_V_GEN)$(MKDIR_P) $(@D) && $(CC) -std=c11 -O2 -fPIC -shared $(WARN_CFLAGS) \
		-I$(top_srcdir)/src -o $@ $(srcdir)/tests/cuda/fake_cuda.c
CLEANFILES += tests/cuda/fake-cuda.so
EXTRA_DIST += tests/cuda/fake_cuda.c

# Benchmark beside Optuna: bench/bench_search.sh runs both (docs/BENCHMARKS.md).
noinst_PROGRAMS += bench/bench_search
bench_bench_search_SOURCES = bench/bench_search.c
bench_bench_search_LDADD = libjm_search.a libjm_data.a libjm_util.a -lm
EXTRA_DIST += bench/bench_search.sh bench/bench_search_e2e.sh
