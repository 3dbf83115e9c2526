# src/cuda/module.mk: the CUDA backend module, jianmo-cuda.so, built with
# nvcc when configure found it (--with-cuda).  The jianmo binary never
# links it: src/engine/backend_load.c dlopens it at run time, beside the
# binary in a build tree or from $(pkglibdir) once installed.  cudart is
# linked statically (nvcc's default); cuBLAS is a shared dependency.
# sm_80 (A100) and sm_90 (H100) code, plus sm_90 PTX for newer GPUs.
CUDA_SRC = src/cuda/backend_cuda.cu src/cuda/cuda_ops.cu src/cuda/cuda_conv.cu \
	src/cuda/cuda_norm.cu src/cuda/cuda_pool.cu src/cuda/cuda_augment.cu src/cuda/cuda_graph.cu \
	src/cuda/cuda_conv_igemm.cu src/cuda/graph_tape.c
EXTRA_DIST += $(CUDA_SRC) src/cuda/cuda_common.cuh src/cuda/graph_tape.h \
	src/cuda/conv_igemm_index.h src/cuda/norm_index.h

if HAVE_CUDA
NVCC_ARCH = -gencode arch=compute_80,code=sm_80 -gencode arch=compute_90,code=sm_90 \
	-gencode arch=compute_90,code=compute_90
# (the rule runs in $(srcdir): the include paths are relative to it)
NVCCFLAGS = -O3 -std=c++17 $(NVCC_ARCH) -Xcompiler -fPIC,-fvisibility=hidden,-Wall -I. -Isrc

jianmo-cuda.so: $(CUDA_SRC) src/cuda/cuda_common.cuh src/cuda/graph_tape.h \
		src/cuda/conv_igemm_index.h src/cuda/norm_index.h src/engine/backend.h
	$(AM_V_GEN)cd $(srcdir) && $(NVCC) $(NVCCFLAGS) -I$(abs_top_builddir) -shared \
		-o $(abs_top_builddir)/jianmo-cuda.so $(CUDA_SRC) -lcublas

all-local: jianmo-cuda.so
install-exec-local: jianmo-cuda.so
	$(MKDIR_P) '$(DESTDIR)$(pkglibdir)'
	$(INSTALL_PROGRAM) jianmo-cuda.so '$(DESTDIR)$(pkglibdir)/jianmo-cuda.so'
uninstall-local:
	rm -f '$(DESTDIR)$(pkglibdir)/jianmo-cuda.so'
CLEANFILES += jianmo-cuda.so
endif

# The CUDA-graph state machine over a fake executor: runs everywhere.
if ENABLE_TESTS
check_PROGRAMS += tests/test_graph_tape
TESTS += tests/test_graph_tape
tests_test_graph_tape_SOURCES = tests/test_graph_tape.c src/cuda/graph_tape.c
tests_test_graph_tape_CFLAGS = $(TEST_CFLAGS)
tests_test_graph_tape_LDADD = $(TEST_LIBS)
# The implicit-GEMM convolutions' index maps against the CPU convolution.
check_PROGRAMS += tests/test_conv_igemm
TESTS += tests/test_conv_igemm
tests_test_conv_igemm_SOURCES = tests/test_conv_igemm.c
tests_test_conv_igemm_CFLAGS = $(TEST_CFLAGS)
tests_test_conv_igemm_LDADD = libjm_engine.a libjm_util.a $(TEST_LIBS) $(JM_DEP_LIBS)
endif

# The host's cost of replaying a step as graphs (docs/BENCHMARKS.md).
noinst_PROGRAMS += bench/bench_graph_tape
bench_bench_graph_tape_SOURCES = bench/bench_graph_tape.c src/cuda/graph_tape.c
