# src/data/tabular.mk: frames, CSV, sources, cleaning and features (issue 4)
libjm_data_a_SOURCES += src/data/frame.c src/data/frame.h \
	src/data/csv.c src/data/csv.h src/data/source.h
