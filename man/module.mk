# man/module.mk: the manual pages (see Makefile.am)
dist_man_MANS += man/jianmo.1
