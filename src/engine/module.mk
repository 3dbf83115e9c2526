# src/engine/module.mk: sources of this module (see Makefile.am)
# The CPU backend: backend_cpu.c (table, sgemm, linear) and its cpu_* parts.
# -fno-math-errno: sqrtf in the optimizer loops stays an instruction (GCC's
# optimize attribute cannot turn errno off), so those loops vectorize.
libjm_engine_a_CFLAGS = $(AM_CFLAGS) -fno-math-errno
libjm_engine_a_SOURCES += \
	src/engine/backend.h \
	src/engine/backend_cpu.c \
	src/engine/backend_check.c \
	src/engine/backend_load.c \
	src/engine/cpu_ops.h \
	src/engine/cpu_conv.c \
	src/engine/cpu_pool.c \
	src/engine/cpu_norm.c \
	src/engine/cpu_ops.c \
	src/engine/cpu_workers.c \
	src/engine/cpu_augment.c

if ENABLE_TESTS
check_PROGRAMS += tests/test_ops
TESTS += tests/test_ops
tests_test_ops_SOURCES = tests/test_ops.c tests/gradcheck.c tests/gradcheck.h
tests_test_ops_CFLAGS = $(TEST_CFLAGS)
tests_test_ops_LDADD = tests/libjm_testutil.a libjm_engine.a libjm_util.a \
	$(TEST_LIBS) $(JM_DEP_LIBS)
endif

# Per-op timings at the MLP and CNN shapes (bench/bench_ops mlp|cnn|all).
noinst_PROGRAMS += bench/bench_ops
bench_bench_ops_SOURCES = bench/bench_ops.c
bench_bench_ops_LDADD = libjm_engine.a libjm_util.a $(JM_DEP_LIBS)

# The CUDA backend against the CPU one, op by op (skipped without a GPU).
if ENABLE_TESTS
check_PROGRAMS += tests/test_cuda
TESTS += tests/test_cuda
tests_test_cuda_SOURCES = tests/test_cuda.c
tests_test_cuda_CFLAGS = $(TEST_CFLAGS)
tests_test_cuda_LDADD = tests/libjm_testutil.a libjm_engine.a libjm_util.a \
	$(TEST_LIBS) $(JM_DEP_LIBS)
endif

# the checkpoint loader's fuzz target (fuzz/README) and its seeds
EXTRA_DIST += fuzz/ckpt_fuzz.c tests/corpus/ckpt
