# src/plugin/module.mk: operator plugins (issue 9).  The host side lives in
# libjm_util, the bottom library, because the flow and features (libjm_data)
# and the model (libjm_engine) all look operators up; the loader needs only
# libc and libdl (configure adds -ldl to LIBS).
libjm_util_a_SOURCES += src/plugin/registry.c src/plugin/plugin.h

# The public ABI and its pkg-config file (cc $(pkg-config --cflags
# jianmo-plugin)); installed plugins go to $(pkglibdir)/plugins.
pluginincludedir = $(includedir)/jianmo
plugininclude_HEADERS = plugins/jianmo/plugin.h
pkgconfigdir = $(libdir)/pkgconfig
pkgconfig_DATA = jianmo-plugin.pc
EXTRA_DIST += jianmo-plugin.pc.in jianmo-plugin-uninstalled.pc.in \
	plugins/examples/swish/swish.c plugins/examples/swish/swish_cuda.cu \
	plugins/examples/swish/Makefile \
	plugins/examples/rolling_zscore/rolling_zscore.c \
	plugins/examples/rolling_zscore/Makefile \
	tests/plugins/broken.c tests/plugins/chscale.c
installplugindir = $(pkglibdir)/plugins
install-data-local: install-plugindir
install-plugindir:
	$(MKDIR_P) '$(DESTDIR)$(installplugindir)'
.PHONY: install-plugindir

# The example plugins and the deliberately broken ones, built the way a
# plugin author would (no jianmo internals, only plugins/jianmo/plugin.h),
# for the tests: JIANMO_PLUGIN_PATH=tests/plugins/examples.
JM_PLUGIN_CC = $(CC) -std=c11 -O2 -fPIC -shared $(WARN_CFLAGS) -I$(top_srcdir)/plugins
JM_EXAMPLE_PLUGINS = tests/plugins/examples/swish.so tests/plugins/examples/rolling_zscore.so
JM_BROKEN_PLUGINS = tests/plugins/broken/bad_abi.so tests/plugins/broken/bad_size.so \
	tests/plugins/broken/bad_init.so tests/plugins/broken/no_init.so \
	tests/plugins/broken/zz_dup.so
JM_TEST_PLUGINS = $(JM_EXAMPLE_PLUGINS) $(JM_BROKEN_PLUGINS) tests/plugins/extra/chscale.so
CLEANFILES += $(JM_TEST_PLUGINS)

tests/plugins/examples/swish.so: plugins/examples/swish/swish.c plugins/jianmo/plugin.h
	$(AM_V_GEN)$(MKDIR_P) $(@D) && $(JM_PLUGIN_CC) -o $@ $(srcdir)/plugins/examples/swish/swish.c -lm

tests/plugins/extra/chscale.so: tests/plugins/chscale.c plugins/jianmo/plugin.h
	$(AM_V_GEN)$(MKDIR_P) $(@D) && $(JM_PLUGIN_CC) -o $@ $(srcdir)/tests/plugins/chscale.c

tests/plugins/examples/rolling_zscore.so: plugins/examples/rolling_zscore/rolling_zscore.c \
		plugins/jianmo/plugin.h
	$(AM_V_GEN)$(MKDIR_P) $(@D) && $(JM_PLUGIN_CC) -o $@ \
		$(srcdir)/plugins/examples/rolling_zscore/rolling_zscore.c -lm

JM_BROKEN_DEPS = tests/plugins/broken.c plugins/jianmo/plugin.h
tests/plugins/broken/bad_abi.so: $(JM_BROKEN_DEPS)
	$(AM_V_GEN)$(MKDIR_P) $(@D) && $(JM_PLUGIN_CC) -DBROKEN_ABI -o $@ $(srcdir)/tests/plugins/broken.c
tests/plugins/broken/bad_size.so: $(JM_BROKEN_DEPS)
	$(AM_V_GEN)$(MKDIR_P) $(@D) && $(JM_PLUGIN_CC) -DBROKEN_SIZE -o $@ $(srcdir)/tests/plugins/broken.c
tests/plugins/broken/bad_init.so: $(JM_BROKEN_DEPS)
	$(AM_V_GEN)$(MKDIR_P) $(@D) && $(JM_PLUGIN_CC) -DBROKEN_INIT -o $@ $(srcdir)/tests/plugins/broken.c
tests/plugins/broken/no_init.so: $(JM_BROKEN_DEPS)
	$(AM_V_GEN)$(MKDIR_P) $(@D) && $(JM_PLUGIN_CC) -DBROKEN_NOINIT -o $@ $(srcdir)/tests/plugins/broken.c
tests/plugins/broken/zz_dup.so: $(JM_BROKEN_DEPS)
	$(AM_V_GEN)$(MKDIR_P) $(@D) && $(JM_PLUGIN_CC) -DBROKEN_DUP -o $@ $(srcdir)/tests/plugins/broken.c

if HAVE_CUDA
# swish's CUDA kernels, beside swish.so (test_plugin's parity test needs a GPU)
JM_EXAMPLE_PLUGINS += tests/plugins/examples/swish-cuda.so
tests/plugins/examples/swish-cuda.so: plugins/examples/swish/swish_cuda.cu plugins/jianmo/plugin.h
	$(AM_V_GEN)$(MKDIR_P) $(@D) && $(NVCC) -O3 -shared -Xcompiler -fPIC \
		-I$(top_srcdir)/plugins -o $@ $(srcdir)/plugins/examples/swish/swish_cuda.cu
endif

# man 7 jianmo-plugin, whose tutorial tests/test_plugin_tutorial.sh follows
dist_man_MANS += man/jianmo-plugin.7
TESTS += tests/test_plugin_tutorial.sh
EXTRA_DIST += tests/test_plugin_tutorial.sh examples/swish.flow examples/penguins-zscore.flow

if ENABLE_TESTS
check_PROGRAMS += tests/test_plugin
TESTS += tests/test_plugin
tests_test_plugin_SOURCES = tests/test_plugin.c tests/gradcheck.c tests/gradcheck.h tests/frametest.h
tests_test_plugin_CFLAGS = $(TEST_CFLAGS)
tests_test_plugin_LDADD = tests/libjm_testutil.a libjm_pipeline.a libjm_engine.a libjm_data.a \
	libjm_store.a libjm_util.a $(TEST_LIBS) $(JM_DEP_LIBS)
EXTRA_tests_test_plugin_DEPENDENCIES = $(JM_TEST_PLUGINS) jianmo
endif
