/*
 * dataset.h: an image classification data set in memory, as read from the
 * four IDX files of a flow's [data] section, and the normalisation that
 * turns its bytes into model inputs.
 *
 *   [data] dir ──jm_dataset_find──▶ 4 paths ──jm_idx_read──▶ jm_dataset x2
 *   train pixels ──jm_dataset_norm──▶ (scale, shift): x * scale + shift
 *
 * Pixels stay uint8 (a 60000x28x28 set is 47 MB, not 188); the backend's
 * gather_u8 converts a batch on the fly with the (scale, shift) pair.
 */
#ifndef JM_DATASET_H
#define JM_DATASET_H

#include <stdint.h>

#include "flow.h"
#include "util/err.h"

#define JM_FMNIST_DIR "/usr/share/datasets/fashion-mnist"
#define JM_FMNIST_PACKAGE "dataset-fashion-mnist"

typedef struct jm_dataset {
	int64_t n;          /* samples */
	int c, h, w;        /* channels (1 for IDX), height, width */
	int n_classes;      /* labels are 0 .. n_classes-1 */
	uint8_t *pixels;    /* [n, c, h, w], malloc'd, owned */
	int32_t *labels;    /* [n], malloc'd, owned */
	const char *const *class_names; /* n_classes names, static; NULL: none */
	/* A table's rows (pipeline/tabular.c) instead of images: pixels is
	 * NULL, x holds [n, c*h*w] floats; for regression labels is NULL,
	 * y holds [n] targets and n_classes is 1 (one output).  Both
	 * malloc'd, owned; class_names then belongs to whoever built it. */
	float *x;
	float *y;
} jm_dataset;

/* The four files of an IDX directory, in this order; each may be stored
 * as NAME or NAME.gz (NAME is preferred when both exist). */
enum {
	JM_IDX_TRAIN_IMAGES,
	JM_IDX_TRAIN_LABELS,
	JM_IDX_TEST_IMAGES,
	JM_IDX_TEST_LABELS,
	JM_IDX_NFILES
};
extern const char *const jm_idx_file_names[JM_IDX_NFILES];

/* Fill paths[i] (malloc'd; free them) with the existing file for each of
 * the four names under dir.  Fails with JM_EXIT_INPUT naming the first
 * missing file, or the directory when it does not exist. */
int jm_dataset_find(const char *dir, char *paths[JM_IDX_NFILES], jm_err *err);

/* Load one images + labels pair; limit > 0 keeps only the first limit
 * samples.  Counts must match.  n_classes becomes max label + 1. */
int jm_dataset_load_idx(jm_dataset **out, const char *images, const char *labels,
			int64_t limit, jm_err *err);

/* Load the training and test sets that f's [data] names (source, dir,
 * limit, test_limit).  For source = fashion-mnist the labels must be 0..9
 * and class_names are Fashion-MNIST's; for idx:DIR both sets get
 * n_classes = 1 + the largest label found in either. */
int jm_dataset_load(const jm_flow *f, jm_dataset **train, jm_dataset **test, jm_err *err);

void jm_dataset_free(jm_dataset *d); /* accepts NULL */

/* The name of class k: class_names[k], else its number written into buf. */
const char *jm_dataset_class_name(const jm_dataset *d, int k, char buf[16]);

/* Fashion-MNIST's ten classes, in label order. */
extern const char *const jm_fmnist_classes[10];

/* Input normalisation: a model sees x * scale + shift for a byte x.
 *   standard: (x/255 - mean) / std, mean and std (unbiased, as torch's
 *             Tensor.std) of the given pixels scaled to [0, 1], in double;
 *   unit:     x/255 (mean 0, std 1 reported);
 *   none:     x (scale 1, shift 0). */
typedef struct jm_norm {
	double mean, std; /* of x/255 for standard; 0 and 1 otherwise */
	float scale, shift;
} jm_norm;

/* mode is [data] normalize.  idx (NULL: every sample) picks the samples
 * whose pixels count, e.g. the training part of a split, so validation
 * data does not leak into the constants; n_idx is its length. */
int jm_dataset_norm(jm_norm *out, const jm_dataset *d, const int32_t *idx,
		    int64_t n_idx, const char *mode, jm_err *err);

#endif
