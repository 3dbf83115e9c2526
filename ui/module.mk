# ui: the ncurses workbench (`jianmo` on a terminal).  Screens render into
# in-memory canvases (canvas.c); term.c is the only ncurses code.
noinst_LIBRARIES += libjm_ui.a
libjm_ui_a_SOURCES = \
	ui/ui.h ui/term.c \
	ui/app.c ui/app.h \
	ui/canvas.c ui/canvas.h \
	ui/chart.c ui/chart.h \
	ui/doc.c ui/doc.h \
	ui/line.c ui/line.h \
	ui/launch.c ui/launch.h \
	ui/rundata.c ui/rundata.h \
	ui/preview.c ui/preview.h \
	ui/screen_home.c ui/screen_run.c ui/screen_compare.c \
	ui/screen_monitor.c ui/screen_wizard.c ui/screen_text.c

# Libraries a UI test links, top down.
UI_TEST_LIBS = libjm_ui.a libjm_pipeline.a libjm_search.a libjm_engine.a \
	libjm_data.a libjm_store.a libjm_util.a

if ENABLE_TESTS
check_PROGRAMS += tests/test_ui tests/test_tui_e2e
TESTS += tests/test_ui tests/test_tui_e2e
tests_test_ui_SOURCES = tests/test_ui.c
tests_test_ui_CFLAGS = $(TEST_CFLAGS)
tests_test_ui_LDADD = tests/libjm_testutil.a $(UI_TEST_LIBS) $(TEST_LIBS) $(JM_DEP_LIBS)
tests_test_tui_e2e_SOURCES = tests/test_tui_e2e.c
tests_test_tui_e2e_CFLAGS = $(TEST_CFLAGS)
tests_test_tui_e2e_LDADD = tests/libjm_testutil.a libjm_util.a $(TEST_LIBS) $(JM_DEP_LIBS)
endif


# The TUI's benchmark (bench/bench_tui.sh runs it; figures in docs/BENCHMARKS.md).
noinst_PROGRAMS += bench/bench_tui
bench_bench_tui_SOURCES = bench/bench_tui.c
bench_bench_tui_LDADD = $(UI_TEST_LIBS) $(JM_DEP_LIBS)
EXTRA_DIST += bench/bench_tui.sh docs/SCREENS.md
