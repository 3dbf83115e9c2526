# The command line: main.c (in Makefile.am) and the subcommands.
libjm_cli_a_SOURCES += src/cli.c src/cli.h
libjm_cli_a_SOURCES += src/cli_doctor.c src/cli_home.c
libjm_cli_a_SOURCES += src/cli_batch.c
libjm_cli_a_SOURCES += src/cli_plugins.c
libjm_cli_a_SOURCES += src/cli_predict.c

if ENABLE_TESTS
check_PROGRAMS += tests/test_cli
TESTS += tests/test_cli
tests_test_cli_SOURCES = tests/test_cli.c
tests_test_cli_CFLAGS = $(TEST_CFLAGS)
tests_test_cli_LDADD = tests/libjm_testutil.a $(TEST_LIBS) $(JM_DEP_LIBS)
endif

# The flow file edited in place (the workbench's Save); it lives in
# libjm_data beside src/flow.c (src/data/module.mk), whose API it uses.
libjm_data_a_SOURCES += src/flow_edit.c

# libFuzzer target, built on demand with clang (not by `make`):
#   make fuzz/flow_edit_fuzz && ./fuzz/flow_edit_fuzz -max_total_time=600 CORPUS
# The editor and the flow module are built instrumented; the rest of what
# a flow needs (rule checks, plugins) comes from this build's libraries.
EXTRA_DIST += fuzz/flow_edit_fuzz.c
CLEANFILES += fuzz/flow_edit_fuzz
FLOW_EDIT_FUZZ_SRC = $(srcdir)/fuzz/flow_edit_fuzz.c $(srcdir)/src/flow_edit.c \
	$(srcdir)/src/flow.c
fuzz/flow_edit_fuzz: $(FLOW_EDIT_FUZZ_SRC) libjm_data.a libjm_util.a
	$(MKDIR_P) fuzz
	$(FUZZ_CC) $(FUZZ_FLAGS) $(INIH_CFLAGS) $(FLOW_EDIT_FUZZ_SRC) libjm_data.a \
	  libjm_util.a -o $@ $(JM_DEP_LIBS) -lm -lpthread -ldl
