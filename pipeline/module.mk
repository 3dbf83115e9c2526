# pipeline: the runner and the stages it sequences.
libjm_pipeline_a_SOURCES += pipeline/runner.c pipeline/runner.h \
	pipeline/notify.c pipeline/notify.h \
	pipeline/report.c pipeline/report.h \
	pipeline/train.c pipeline/train.h \
	pipeline/augment.c pipeline/augment.h
libjm_pipeline_a_SOURCES += pipeline/predict.c pipeline/predict.h

if ENABLE_TESTS
check_PROGRAMS += tests/test_batch
TESTS += tests/test_batch
tests_test_batch_SOURCES = tests/test_batch.c
tests_test_batch_CFLAGS = $(TEST_CFLAGS)
tests_test_batch_LDADD = tests/libjm_testutil.a $(TEST_LIBS) $(JM_DEP_LIBS) -lpthread

check_PROGRAMS += tests/test_augment
TESTS += tests/test_augment
tests_test_augment_SOURCES = tests/test_augment.c
tests_test_augment_CFLAGS = $(TEST_CFLAGS)
tests_test_augment_LDADD = tests/libjm_testutil.a libjm_pipeline.a libjm_engine.a \
	libjm_data.a libjm_util.a $(TEST_LIBS) $(JM_DEP_LIBS)
endif
EXTRA_DIST += tests/torch_twin.py
