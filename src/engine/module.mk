# src/engine/module.mk: sources of this module (see Makefile.am)
