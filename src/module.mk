# The command line: main.c (in Makefile.am) and the subcommands.
libjm_cli_a_SOURCES += src/cli.c src/cli.h
libjm_cli_a_SOURCES += src/cli_doctor.c src/cli_home.c
libjm_cli_a_SOURCES += src/cli_batch.c
libjm_cli_a_SOURCES += src/cli_plugins.c

if ENABLE_TESTS
check_PROGRAMS += tests/test_cli
TESTS += tests/test_cli
tests_test_cli_SOURCES = tests/test_cli.c
tests_test_cli_CFLAGS = $(TEST_CFLAGS)
tests_test_cli_LDADD = tests/libjm_testutil.a $(TEST_LIBS) $(JM_DEP_LIBS)
endif
