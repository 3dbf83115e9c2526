# The command line: main.c (in Makefile.am) and the subcommands.
libjm_cli_a_SOURCES += src/cli.c src/cli.h
libjm_cli_a_SOURCES += src/cli_doctor.c src/cli_home.c
libjm_cli_a_SOURCES += src/cli_batch.c
