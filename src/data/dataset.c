/*
 * dataset.c: the train and test sets of a flow's [data], and their
 * normalisation constants.
 *
 *   dir ─find─▶ train/t10k images+labels ─jm_idx_read─▶ check counts,
 *   labels, sizes ─▶ jm_dataset (uint8 pixels, int32 labels)
 *
 * The normalisation statistics come from a 256-bin histogram of the
 * pixels, so mean and std over 47 million bytes are exact sums in double
 * and cost one pass.
 */
#include "data/dataset.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "data/idx.h"

const char *const jm_idx_file_names[JM_IDX_NFILES] = {
	"train-images-idx3-ubyte", "train-labels-idx1-ubyte",
	"t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte",
};

const char *const jm_fmnist_classes[10] = {
	"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
	"Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
};

static int is_file(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

int jm_dataset_find(const char *dir, char *paths[JM_IDX_NFILES], jm_err *err)
{
	struct stat st;
	for (int i = 0; i < JM_IDX_NFILES; i++)
		paths[i] = NULL;
	if (stat(dir, &st) != 0)
		return jm_err_set(err, JM_EXIT_INPUT, "\"%s\": %s", dir, strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return jm_err_set(err, JM_EXIT_INPUT, "\"%s\" is not a directory", dir);
	for (int i = 0; i < JM_IDX_NFILES; i++) {
		char *raw = jm_xasprintf("%s/%s", dir, jm_idx_file_names[i]);
		char *gz = jm_xasprintf("%s.gz", raw);
		if (is_file(raw)) {
			paths[i] = raw;
			free(gz);
		} else if (is_file(gz)) {
			paths[i] = gz;
			free(raw);
		} else {
			free(raw);
			free(gz);
			for (int j = 0; j < i; j++) {
				free(paths[j]);
				paths[j] = NULL;
			}
			return jm_err_set(err, JM_EXIT_INPUT, "\"%s\" has no %s or %s.gz", dir,
					  jm_idx_file_names[i], jm_idx_file_names[i]);
		}
	}
	return 0;
}

int jm_dataset_load_idx(jm_dataset **out, const char *images, const char *labels,
			int64_t limit, jm_err *err)
{
	jm_idx xi = {0}, xl = {0};
	jm_dataset *d = NULL;
	int rc = -1;

	*out = NULL;
	if (jm_idx_read(&xi, images, JM_IDX_IMAGES, err) < 0 ||
	    jm_idx_read(&xl, labels, JM_IDX_LABELS, err) < 0)
		goto done;
	if (xi.n != xl.n) {
		jm_err_set(err, JM_EXIT_INPUT, "%s holds %lld labels but %s holds %lld images",
			   labels, (long long)xl.n, images, (long long)xi.n);
		goto done;
	}
	d = jm_xcalloc(1, sizeof *d);
	d->n = limit > 0 && limit < xi.n ? limit : xi.n;
	d->c = 1;
	d->h = xi.h;
	d->w = xi.w;
	d->labels = malloc((size_t)d->n * sizeof *d->labels);
	if (!d->labels) {
		jm_err_set(err, JM_EXIT_FAIL, "out of memory for %lld labels", (long long)d->n);
		goto done;
	}
	for (int64_t i = 0; i < d->n; i++) {
		d->labels[i] = xl.data[i];
		if (d->labels[i] + 1 > d->n_classes)
			d->n_classes = d->labels[i] + 1;
	}
	/* keep the first n images: the buffer only shrinks */
	d->pixels = xi.data;
	xi.data = NULL;
	if (d->n < xi.n) {
		uint8_t *p = realloc(d->pixels, (size_t)(d->n * d->h * d->w));
		if (p)
			d->pixels = p;
	}
	*out = d;
	d = NULL;
	rc = 0;
done:
	jm_dataset_free(d);
	jm_idx_clear(&xi);
	jm_idx_clear(&xl);
	return rc;
}

/* Labels of a Fashion-MNIST file must be 0..9. */
static int check_fmnist_labels(const jm_dataset *d, const char *path, jm_err *err)
{
	for (int64_t i = 0; i < d->n; i++)
		if (d->labels[i] > 9)
			return jm_err_set(err, JM_EXIT_INPUT,
					  "%s: label %d of sample %lld is not a Fashion-MNIST class (0 to 9)",
					  path, d->labels[i], (long long)i);
	return 0;
}

int jm_dataset_load(const jm_flow *f, jm_dataset **train, jm_dataset **test, jm_err *err)
{
	char *paths[JM_IDX_NFILES] = {0};
	jm_dataset *tr = NULL, *te = NULL;
	int fashion = !strcmp(f->data.source, "fashion-mnist");
	int rc = -1;

	*train = *test = NULL;
	if (jm_dataset_find(f->data.dir, paths, err) < 0)
		goto done;
	if (jm_dataset_load_idx(&tr, paths[JM_IDX_TRAIN_IMAGES], paths[JM_IDX_TRAIN_LABELS],
				f->data.limit, err) < 0 ||
	    jm_dataset_load_idx(&te, paths[JM_IDX_TEST_IMAGES], paths[JM_IDX_TEST_LABELS],
				f->data.test_limit, err) < 0)
		goto done;
	if (te->h != tr->h || te->w != tr->w) {
		jm_err_set(err, JM_EXIT_INPUT, "%s holds %dx%d images but %s holds %dx%d",
			   paths[JM_IDX_TEST_IMAGES], te->h, te->w,
			   paths[JM_IDX_TRAIN_IMAGES], tr->h, tr->w);
		goto done;
	}
	if (fashion) {
		if (check_fmnist_labels(tr, paths[JM_IDX_TRAIN_LABELS], err) < 0 ||
		    check_fmnist_labels(te, paths[JM_IDX_TEST_LABELS], err) < 0)
			goto done;
		tr->n_classes = te->n_classes = 10;
		tr->class_names = te->class_names = jm_fmnist_classes;
	} else {
		int k = tr->n_classes > te->n_classes ? tr->n_classes : te->n_classes;
		tr->n_classes = te->n_classes = k;
	}
	*train = tr;
	*test = te;
	tr = te = NULL;
	rc = 0;
done:
	for (int i = 0; i < JM_IDX_NFILES; i++)
		free(paths[i]);
	jm_dataset_free(tr);
	jm_dataset_free(te);
	return rc;
}

void jm_dataset_free(jm_dataset *d)
{
	if (!d)
		return;
	free(d->pixels);
	free(d->labels);
	free(d->x);
	free(d->y);
	free(d);
}

const char *jm_dataset_class_name(const jm_dataset *d, int k, char buf[16])
{
	if (d->class_names && k >= 0 && k < d->n_classes)
		return d->class_names[k];
	snprintf(buf, 16, "%d", k);
	return buf;
}

/* Mean and unbiased std of x/255 over the chosen samples' pixels. */
static int norm_standard(jm_norm *o, const jm_dataset *d, const int32_t *idx,
			 int64_t n_idx, jm_err *err)
{
	int64_t hist[256] = {0};
	int64_t per = (int64_t)d->c * d->h * d->w;
	int64_t n = idx ? n_idx : d->n;
	for (int64_t i = 0; i < n; i++) {
		int64_t s = idx ? idx[i] : i;
		if (s < 0 || s >= d->n)
			return jm_err_set(err, JM_EXIT_FAIL, "sample index %lld out of range (%lld samples)",
					  (long long)s, (long long)d->n);
		const uint8_t *p = d->pixels + s * per;
		for (int64_t j = 0; j < per; j++)
			hist[p[j]]++;
	}
	double count = (double)(n * per);
	if (count < 2)
		return jm_err_set(err, JM_EXIT_INPUT,
				  "normalize = standard needs at least 2 pixels, got %.0f", count);
	double sum = 0;
	for (int v = 0; v < 256; v++)
		sum += (double)hist[v] * (v / 255.0);
	double mean = sum / count, ss = 0;
	for (int v = 0; v < 256; v++) {
		double dv = v / 255.0 - mean;
		ss += (double)hist[v] * dv * dv;
	}
	double std = sqrt(ss / (count - 1));
	if (!(std > 0))
		return jm_err_set(err, JM_EXIT_INPUT,
				  "normalize = standard: every training pixel is %.0f, so the std is 0 "
				  "(use normalize = unit)", mean * 255);
	o->mean = mean;
	o->std = std;
	o->scale = (float)(1.0 / (255.0 * std));
	o->shift = (float)(-mean / std);
	return 0;
}

static int norm_unit(jm_norm *o, const jm_dataset *d, const int32_t *idx, int64_t n_idx,
		     jm_err *err)
{
	*o = (jm_norm){.mean = 0, .std = 1, .scale = (float)(1.0 / 255.0), .shift = 0};
	return 0;
}

static int norm_none(jm_norm *o, const jm_dataset *d, const int32_t *idx, int64_t n_idx,
		     jm_err *err)
{
	*o = (jm_norm){.mean = 0, .std = 1, .scale = 1, .shift = 0};
	return 0;
}

static const struct norm_mode {
	const char *name;
	int (*fn)(jm_norm *, const jm_dataset *, const int32_t *, int64_t, jm_err *);
} norm_modes[] = {
	{"standard", norm_standard},
	{"unit", norm_unit},
	{"none", norm_none},
};

int jm_dataset_norm(jm_norm *out, const jm_dataset *d, const int32_t *idx,
		    int64_t n_idx, const char *mode, jm_err *err)
{
	for (size_t i = 0; i < sizeof norm_modes / sizeof *norm_modes; i++)
		if (!strcmp(mode, norm_modes[i].name))
			return norm_modes[i].fn(out, d, idx, n_idx, err);
	return jm_err_set(err, JM_EXIT_INPUT,
			  "normalize: expected one of standard, unit, none, got \"%s\"", mode);
}
