# src/engine/model.mk: the model (layer list), optimizers, schedules,
# clipping and safetensors checkpoints (see Makefile.am)
libjm_engine_a_SOURCES += \
	src/engine/model.c src/engine/model.h \
	src/engine/optim.c src/engine/optim.h \
	src/engine/checkpoint.c src/engine/checkpoint.h

if ENABLE_TESTS
check_PROGRAMS += tests/test_model tests/test_optim tests/test_checkpoint
TESTS += tests/test_model tests/test_optim tests/test_checkpoint
tests_test_model_SOURCES = tests/test_model.c tests/gradcheck.c tests/gradcheck.h
tests_test_model_CFLAGS = $(TEST_CFLAGS)
tests_test_model_LDADD = tests/libjm_testutil.a libjm_engine.a libjm_util.a \
	$(TEST_LIBS) $(JM_DEP_LIBS)
tests_test_optim_SOURCES = tests/test_optim.c
tests_test_optim_CFLAGS = $(TEST_CFLAGS)
tests_test_optim_LDADD = tests/libjm_testutil.a libjm_engine.a libjm_util.a \
	$(TEST_LIBS) $(JM_DEP_LIBS)
tests_test_checkpoint_SOURCES = tests/test_checkpoint.c
tests_test_checkpoint_CFLAGS = $(TEST_CFLAGS)
tests_test_checkpoint_LDADD = tests/libjm_testutil.a libjm_engine.a libjm_util.a \
	$(TEST_LIBS) $(JM_DEP_LIBS)
endif
