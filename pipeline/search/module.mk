# pipeline/search: the hyperparameter search core (issue 6)
