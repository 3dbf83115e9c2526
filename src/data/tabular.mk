# src/data/tabular.mk: frames, CSV, sources, cleaning and features (issue 4)
libjm_data_a_SOURCES += src/data/frame.c src/data/frame.h \
	src/data/csv.c src/data/csv.h src/data/source.c src/data/source.h

# libFuzzer target for the CSV reader, built on demand with clang:
#   make fuzz/csv_fuzz && ./fuzz/csv_fuzz -max_len=4096 $(srcdir)/tests/corpus/csv
EXTRA_DIST += fuzz/csv_fuzz.c
CLEANFILES += fuzz/csv_fuzz
CSV_FUZZ_SRC = $(srcdir)/fuzz/csv_fuzz.c $(srcdir)/src/data/csv.c $(srcdir)/src/data/frame.c \
	$(srcdir)/src/data/source.c $(srcdir)/src/util/err.c $(srcdir)/src/util/hash.c
fuzz/csv_fuzz: $(CSV_FUZZ_SRC)
	$(MKDIR_P) fuzz
	$(FUZZ_CC) $(FUZZ_FLAGS) $(CSV_FUZZ_SRC) -o $@ $(ARCHIVE_LIBS) $(CURL_LIBS) \
		$(CRYPTO_LIBS) -lm -lpthread
