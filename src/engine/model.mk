# src/engine/model.mk: sources of this module (see Makefile.am)
