# util: errors, random numbers, hashing, paths.  Owned by the foundation.
noinst_LIBRARIES += libjm_util.a
libjm_util_a_SOURCES += \
	src/util/err.c src/util/err.h \
	src/util/rng.c src/util/rng.h \
	src/util/hash.c src/util/hash.h
libjm_util_a_SOURCES += src/util/signals.c src/util/signals.h
libjm_util_a_SOURCES += src/util/json.c src/util/json.h
