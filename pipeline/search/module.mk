# pipeline/search: the hyperparameter search core (issue 6): the space, the
# design, the Gaussian process, log EI, the genetic optimiser, the proposer
# and the pruning rules.  The runner drives it through sampler.h/prune.h.
libjm_search_a_SOURCES += \
	pipeline/search/space.c pipeline/search/space.h \
	pipeline/search/sobol.c pipeline/search/sobol.h \
	pipeline/search/opt.c pipeline/search/opt.h \
	pipeline/search/gp.c pipeline/search/gp.h \
	pipeline/search/acq.c pipeline/search/acq.h \
	pipeline/search/ga.c pipeline/search/ga.h \
	pipeline/search/sampler.c pipeline/search/sampler.h \
	pipeline/search/prune.c pipeline/search/prune.h
