# store/query.mk: sources of this module (see Makefile.am)
