# src/data/tabular.mk: frames, CSV, sources, cleaning and features (issue 4)
