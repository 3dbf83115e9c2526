# bench/module.mk: sources of this module (see Makefile.am)
