/*
 * test_idx.c: IDX parsing (raw and gzip, every corruption with its
 * message), the data set loader, its normalisation constants, and the real
 * Fashion-MNIST files when the Debian package is installed.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "data/dataset.h"
#include "data/idx.h"
#include "data/split.h"
#include "flow.h"
#include "testutil.h"

typedef struct buf {
	unsigned char *p;
	size_t n;
} buf;

static void put(buf *b, const void *src, size_t n)
{
	b->p = realloc(b->p, b->n + n + 1);
	memcpy(b->p + b->n, src, n);
	b->n += n;
}

static void put_be32(buf *b, unsigned v)
{
	unsigned char x[4] = {v >> 24, v >> 16, v >> 8, v};
	put(b, x, 4);
}

/* An IDX file: magic (0, 0, dtype, ndim), dims, then count bytes of
 * values v(i) = (i * 7 + 3) % 256 (or labels i % classes). */
static buf make_idx(int dtype, int ndim, const unsigned *dims, size_t count, int classes)
{
	buf b = {0};
	unsigned char m[4] = {0, 0, (unsigned char)dtype, (unsigned char)ndim};
	put(&b, m, 4);
	for (int i = 0; i < ndim; i++)
		put_be32(&b, dims[i]);
	for (size_t i = 0; i < count; i++) {
		unsigned char v = classes ? (unsigned char)(i % (size_t)classes)
					  : (unsigned char)((i * 7 + 3) % 256);
		put(&b, &v, 1);
	}
	return b;
}

static buf images(unsigned n, unsigned h, unsigned w)
{
	unsigned dims[3] = {n, h, w};
	return make_idx(8, 3, dims, (size_t)n * h * w, 0);
}

static buf labels(unsigned n, int classes)
{
	unsigned dims[1] = {n};
	return make_idx(8, 1, dims, n, classes);
}

static buf gzip_bytes(const buf *in)
{
	z_stream z = {0};
	cr_assert_eq(deflateInit2(&z, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
	buf out = {0};
	out.p = malloc(deflateBound(&z, in->n) + 1);
	z.next_in = in->p;
	z.avail_in = (uInt)in->n;
	z.next_out = out.p;
	z.avail_out = (uInt)deflateBound(&z, in->n);
	cr_assert_eq(deflate(&z, Z_FINISH), Z_STREAM_END);
	out.n = z.total_out;
	deflateEnd(&z);
	return out;
}

static void write_file(const char *path, const buf *b)
{
	FILE *fp = fopen(path, "wb");
	cr_assert_not_null(fp, "%s", path);
	fwrite(b->p, 1, b->n, fp);
	fclose(fp);
}

/* Parse b as kind; must fail with JM_EXIT_INPUT; returns the message. */
static const char *parse_fail(const buf *b, int kind)
{
	static jm_err err;
	jm_idx x;
	memset(&err, 0, sizeof err);
	cr_assert_eq(jm_idx_parse(&x, b->p, b->n, kind, "f.idx", &err), -1);
	cr_assert_null(x.data);
	cr_assert_eq(err.code, JM_EXIT_INPUT, "code %d: %s", err.code, err.msg);
	return err.msg;
}

#define assert_msg(got, want) cr_assert_str_eq(got, want, "\n got: %s\nwant: %s", got, want)

Test(idx, parses_images_raw_and_gzip)
{
	buf raw = images(5, 3, 4), gz = gzip_bytes(&raw);
	for (int pass = 0; pass < 2; pass++) {
		const buf *b = pass ? &gz : &raw;
		jm_idx x;
		jm_err err = {0};
		cr_assert_eq(jm_idx_parse(&x, b->p, b->n, JM_IDX_IMAGES, "f", &err), 0, "%s", err.msg);
		cr_assert_eq(x.n, 5);
		cr_assert_eq(x.h, 3);
		cr_assert_eq(x.w, 4);
		cr_assert_eq(x.kind, JM_IDX_IMAGES);
		cr_assert_eq(memcmp(x.data, raw.p + 16, 60), 0);
		jm_idx_clear(&x);
		cr_assert_null(x.data);
	}
	jm_idx_clear(NULL);
	free(raw.p);
	free(gz.p);
}

Test(idx, parses_labels_and_multi_member_gzip)
{
	buf raw = labels(10, 4);
	/* gzip -c a >> b: split the file in two members */
	buf head = {0}, tail = {0};
	put(&head, raw.p, 7);
	put(&tail, raw.p + 7, raw.n - 7);
	buf g1 = gzip_bytes(&head), g2 = gzip_bytes(&tail), both = {0};
	put(&both, g1.p, g1.n);
	put(&both, g2.p, g2.n);
	jm_idx x;
	jm_err err = {0};
	cr_assert_eq(jm_idx_parse(&x, both.p, both.n, JM_IDX_LABELS, "f", &err), 0, "%s", err.msg);
	cr_assert_eq(x.n, 10);
	cr_assert_eq(x.h, 1);
	for (int i = 0; i < 10; i++)
		cr_assert_eq(x.data[i], i % 4);
	jm_idx_clear(&x);
	free(raw.p), free(head.p), free(tail.p), free(g1.p), free(g2.p), free(both.p);
}

Test(idx, bad_headers)
{
	buf b = images(2, 2, 2);
	b.p[0] = 0x12, b.p[1] = 0x34, b.p[2] = 0x56, b.p[3] = 0x78;
	assert_msg(parse_fail(&b, JM_IDX_IMAGES), "f.idx: not an IDX file (magic 0x12345678)");
	free(b.p);

	unsigned d3[3] = {2, 2, 2};
	b = make_idx(0x0D, 3, d3, 8, 0);
	assert_msg(parse_fail(&b, JM_IDX_IMAGES),
		   "f.idx: unsupported data type 0x0d (float); only unsigned bytes (0x08) are read");
	free(b.p);
	b = make_idx(0x42, 3, d3, 8, 0);
	assert_msg(parse_fail(&b, JM_IDX_IMAGES), "f.idx: not an IDX file (unknown data type 0x42)");
	free(b.p);

	b = labels(4, 2);
	assert_msg(parse_fail(&b, JM_IDX_IMAGES),
		   "f.idx: expected images (3 dimensions), found 1 dimension (a labels file?)");
	free(b.p);
	b = images(2, 2, 2);
	assert_msg(parse_fail(&b, JM_IDX_LABELS),
		   "f.idx: expected labels (1 dimension), found 3 dimensions (an images file?)");
	free(b.p);
	unsigned d2[2] = {2, 2};
	b = make_idx(8, 2, d2, 4, 0);
	assert_msg(parse_fail(&b, JM_IDX_IMAGES),
		   "f.idx: expected images (3 dimensions), found 2 dimensions");
	free(b.p);

	b = images(0, 28, 28);
	assert_msg(parse_fail(&b, JM_IDX_IMAGES),
		   "f.idx: header declares 0 images (expected 1 to 100000000)");
	free(b.p);
	unsigned big[3] = {1, 5000, 2};
	b = make_idx(8, 3, big, 0, 0);
	assert_msg(parse_fail(&b, JM_IDX_IMAGES),
		   "f.idx: header declares images of 5000x2 (each side must be 1 to 4096)");
	free(b.p);
	unsigned many[3] = {100000000, 100, 100};
	b = make_idx(8, 3, many, 0, 0);
	assert_msg(parse_fail(&b, JM_IDX_IMAGES),
		   "f.idx: header declares 100000000 images of 100x100, 1000000000000 bytes (at most "
		   "4294967296)");
	free(b.p);
	unsigned huge[1] = {0xFFFFFFFFu};
	b = make_idx(8, 1, huge, 0, 0);
	assert_msg(parse_fail(&b, JM_IDX_LABELS),
		   "f.idx: header declares 4294967295 labels (expected 1 to 100000000)");
	free(b.p);
}

Test(idx, short_and_empty)
{
	buf b = {0};
	put(&b, "", 0);
	assert_msg(parse_fail(&b, JM_IDX_IMAGES), "f.idx: empty file");
	put(&b, "\0\0", 2);
	assert_msg(parse_fail(&b, JM_IDX_IMAGES), "f.idx: truncated header (2 bytes)");
	free(b.p);
	b = images(2, 2, 2);
	b.n = 10; /* magic + half of the dims */
	assert_msg(parse_fail(&b, JM_IDX_IMAGES), "f.idx: truncated header");
	free(b.p);
}

Test(idx, truncated_and_trailing_data)
{
	buf b = images(3, 2, 2);
	b.n -= 1;
	assert_msg(parse_fail(&b, JM_IDX_IMAGES),
		   "f.idx: truncated: the header declares 3 images (12 bytes), the file holds 11");
	b.n += 1;
	put(&b, "xy", 2);
	assert_msg(parse_fail(&b, JM_IDX_IMAGES),
		   "f.idx: 2 bytes of trailing data after the 3 images the header declares");

	/* the same inside gzip */
	buf gz = gzip_bytes(&b);
	assert_msg(parse_fail(&gz, JM_IDX_IMAGES),
		   "f.idx: 2 bytes of trailing data after the 3 images the header declares");
	free(gz.p);
	b.n -= 3;
	gz = gzip_bytes(&b);
	assert_msg(parse_fail(&gz, JM_IDX_IMAGES),
		   "f.idx: truncated: the header declares 3 images (12 bytes), the data holds 11");
	free(gz.p);
	free(b.p);
}

Test(idx, broken_gzip)
{
	buf raw = images(20, 8, 8), gz = gzip_bytes(&raw);
	buf cut = {0};
	put(&cut, gz.p, gz.n / 2);
	assert_msg(parse_fail(&cut, JM_IDX_IMAGES), "f.idx: truncated gzip data (unexpected end of file)");
	/* the values complete, the trailer (CRC, size) missing */
	cut.n = 0;
	put(&cut, gz.p, gz.n - 4);
	assert_msg(parse_fail(&cut, JM_IDX_IMAGES), "f.idx: truncated gzip data (unexpected end of file)");
	free(cut.p);

	buf junk = {0};
	put(&junk, gz.p, gz.n);
	put(&junk, "JUNK", 4);
	assert_msg(parse_fail(&junk, JM_IDX_IMAGES),
		   "f.idx: 4 bytes of trailing garbage after the gzip data");
	free(junk.p);

	buf bad = {0};
	put(&bad, gz.p, gz.n);
	bad.p[gz.n - 8] ^= 0xFF; /* the CRC */
	assert_msg(parse_fail(&bad, JM_IDX_IMAGES), "f.idx: corrupt gzip data (incorrect data check)");
	bad.p[gz.n - 8] ^= 0xFF;
	bad.p[3] = 0xE0; /* reserved flag bits */
	cr_assert(!strncmp(parse_fail(&bad, JM_IDX_IMAGES), "f.idx: corrupt gzip data (", 26));
	free(bad.p);

	/* not gzip, not IDX: plain garbage */
	buf text = {0};
	put(&text, "hello, world\n", 13);
	assert_msg(parse_fail(&text, JM_IDX_IMAGES), "f.idx: not an IDX file (magic 0x68656c6c)");
	free(text.p);
	free(raw.p);
	free(gz.p);
}

Test(idx, read_files)
{
	char *dir = jt_tmpdir();
	char path[4200];
	buf raw = images(4, 2, 3), gz = gzip_bytes(&raw);
	jm_idx x;
	jm_err err = {0};
	snprintf(path, sizeof path, "%s/a.gz", dir);
	write_file(path, &gz);
	cr_assert_eq(jm_idx_read(&x, path, JM_IDX_IMAGES, &err), 0, "%s", err.msg);
	cr_assert_eq(x.n, 4);
	cr_assert_eq(memcmp(x.data, raw.p + 16, 24), 0);
	jm_idx_clear(&x);

	raw.n -= 2;
	snprintf(path, sizeof path, "%s/b", dir);
	write_file(path, &raw);
	cr_assert_eq(jm_idx_read(&x, path, JM_IDX_IMAGES, &err), -1);
	char want[4400];
	snprintf(want, sizeof want,
		 "%s: truncated: the header declares 4 images (24 bytes), the file holds 22", path);
	assert_msg(err.msg, want);

	snprintf(path, sizeof path, "%s/missing", dir);
	cr_assert_eq(jm_idx_read(&x, path, JM_IDX_IMAGES, &err), -1);
	snprintf(want, sizeof want, "cannot open \"%s\": No such file or directory", path);
	assert_msg(err.msg, want);
	cr_assert_eq(err.code, JM_EXIT_INPUT);
	free(raw.p);
	free(gz.p);
	jt_rm_rf(dir);
	free(dir);
}

/* ---- data sets ---- */

/* A directory of the four files: ntr/nte samples of 3x3, labels i % k. */
static char *make_set(unsigned ntr, unsigned nte, int k, int gz)
{
	char *dir = jt_tmpdir();
	struct {
		const char *name;
		buf b;
	} files[4] = {
		{"train-images-idx3-ubyte", images(ntr, 3, 3)},
		{"train-labels-idx1-ubyte", labels(ntr, k)},
		{"t10k-images-idx3-ubyte", images(nte, 3, 3)},
		{"t10k-labels-idx1-ubyte", labels(nte, k)},
	};
	for (int i = 0; i < 4; i++) {
		char path[4200];
		snprintf(path, sizeof path, "%s/%s%s", dir, files[i].name, gz ? ".gz" : "");
		if (gz) {
			buf g = gzip_bytes(&files[i].b);
			write_file(path, &g);
			free(g.p);
		} else {
			write_file(path, &files[i].b);
		}
		free(files[i].b.p);
	}
	return dir;
}

static jm_flow *flow_for(const char *dir, const char *extra)
{
	char *text = jm_xasprintf("[data]\nsource = idx:%s\n%s", dir, extra);
	jm_flow *f = NULL;
	jm_err err = {0};
	cr_assert_eq(jm_flow_parse(&f, text, "t.flow", &err), 0, "%s", err.msg);
	free(text);
	return f;
}

Test(dataset, loads_an_idx_directory)
{
	for (int gz = 0; gz < 2; gz++) {
		char *dir = make_set(30, 12, 3, gz);
		jm_flow *f = flow_for(dir, "");
		jm_dataset *tr, *te;
		jm_err err = {0};
		cr_assert_eq(jm_dataset_load(f, &tr, &te, &err), 0, "%s", err.msg);
		cr_assert_eq(tr->n, 30);
		cr_assert_eq(te->n, 12);
		cr_assert_eq(tr->c, 1);
		cr_assert_eq(tr->h, 3);
		cr_assert_eq(tr->w, 3);
		cr_assert_eq(tr->n_classes, 3);
		cr_assert_eq(te->n_classes, 3);
		cr_assert_null(tr->class_names);
		char name[16];
		cr_assert_str_eq(jm_dataset_class_name(tr, 2, name), "2");
		for (int i = 0; i < 30; i++)
			cr_assert_eq(tr->labels[i], i % 3);
		cr_assert_eq(tr->pixels[10], (10 * 7 + 3) % 256);
		jm_dataset_free(tr);
		jm_dataset_free(te);
		jm_flow_free(f);
		jt_rm_rf(dir);
		free(dir);
	}
}

Test(dataset, limits_and_classes_across_sets)
{
	char *dir = make_set(30, 12, 5, 0);
	/* train limited to 4 samples sees labels 0..3 only; classes come from both */
	jm_flow *f = flow_for(dir, "limit = 4\ntest_limit = 100\n");
	jm_dataset *tr, *te;
	jm_err err = {0};
	cr_assert_eq(jm_dataset_load(f, &tr, &te, &err), 0, "%s", err.msg);
	cr_assert_eq(tr->n, 4);
	cr_assert_eq(te->n, 12, "a limit above the size keeps everything");
	cr_assert_eq(tr->n_classes, 5);
	cr_assert_eq(memcmp(tr->pixels, te->pixels, 36), 0, "same generator, same first images");
	jm_dataset_free(tr);
	jm_dataset_free(te);
	jm_flow_free(f);
	jt_rm_rf(dir);
	free(dir);
}

Test(dataset, count_mismatch)
{
	char *dir = make_set(6, 4, 3, 0);
	char path[4200], want[9000];
	buf l = labels(5, 3);
	snprintf(path, sizeof path, "%s/train-labels-idx1-ubyte", dir);
	write_file(path, &l);
	free(l.p);
	jm_flow *f = flow_for(dir, "");
	jm_dataset *tr, *te;
	jm_err err = {0};
	cr_assert_eq(jm_dataset_load(f, &tr, &te, &err), -1);
	cr_assert_null(tr);
	snprintf(want, sizeof want, "%s/train-labels-idx1-ubyte holds 5 labels but "
		 "%s/train-images-idx3-ubyte holds 6 images", dir, dir);
	assert_msg(err.msg, want);
	cr_assert_eq(err.code, JM_EXIT_INPUT);
	jm_flow_free(f);
	jt_rm_rf(dir);
	free(dir);
}

Test(dataset, fashion_source_checks_labels_and_names_classes)
{
	char *dir = make_set(12, 12, 10, 1);
	char *text = jm_xasprintf("[data]\ndir = %s\n", dir);
	jm_flow *f = NULL;
	jm_err err = {0};
	cr_assert_eq(jm_flow_parse(&f, text, "t.flow", &err), 0, "%s", err.msg);
	jm_dataset *tr, *te;
	cr_assert_eq(jm_dataset_load(f, &tr, &te, &err), 0, "%s", err.msg);
	cr_assert_eq(tr->n_classes, 10);
	char name[16];
	cr_assert_str_eq(jm_dataset_class_name(tr, 0, name), "T-shirt/top");
	cr_assert_str_eq(jm_dataset_class_name(te, 9, name), "Ankle boot");
	jm_dataset_free(tr);
	jm_dataset_free(te);

	/* a label of 12 is not Fashion-MNIST */
	char path[4200], want[4400];
	buf l = labels(12, 13);
	snprintf(path, sizeof path, "%s/t10k-labels-idx1-ubyte.gz", dir);
	buf g = gzip_bytes(&l);
	write_file(path, &g);
	free(l.p);
	free(g.p);
	cr_assert_eq(jm_dataset_load(f, &tr, &te, &err), -1);
	snprintf(want, sizeof want, "%s: label 10 of sample 10 is not a Fashion-MNIST class (0 to 9)",
		 path);
	assert_msg(err.msg, want);
	cr_assert_null(tr);
	cr_assert_null(te);
	jm_flow_free(f);
	free(text);
	jt_rm_rf(dir);
	free(dir);
}

Test(dataset, image_sizes_must_agree)
{
	char *dir = make_set(4, 4, 2, 0);
	char path[4200], want[9000];
	buf b = images(4, 5, 5);
	snprintf(path, sizeof path, "%s/t10k-images-idx3-ubyte", dir);
	write_file(path, &b);
	free(b.p);
	jm_flow *f = flow_for(dir, "");
	jm_dataset *tr, *te;
	jm_err err = {0};
	cr_assert_eq(jm_dataset_load(f, &tr, &te, &err), -1);
	snprintf(want, sizeof want, "%s holds 5x5 images but %s/train-images-idx3-ubyte holds 3x3",
		 path, dir);
	assert_msg(err.msg, want);
	jm_flow_free(f);
	jt_rm_rf(dir);
	free(dir);
}

/* Reference: two-pass mean and unbiased std of x/255 in long double. */
static void reference_stats(const jm_dataset *d, const int32_t *idx, int64_t n, double *mean,
			    double *std)
{
	int64_t per = (int64_t)d->c * d->h * d->w;
	long double s = 0, ss = 0;
	for (int64_t i = 0; i < n; i++)
		for (int64_t j = 0; j < per; j++)
			s += d->pixels[(idx ? idx[i] : i) * per + j] / 255.0L;
	long double m = s / (long double)(n * per);
	for (int64_t i = 0; i < n; i++)
		for (int64_t j = 0; j < per; j++) {
			long double v = d->pixels[(idx ? idx[i] : i) * per + j] / 255.0L - m;
			ss += v * v;
		}
	*mean = (double)m;
	*std = (double)sqrtl(ss / (long double)(n * per - 1));
}

Test(dataset, normalisation_constants)
{
	char *dir = make_set(40, 4, 4, 0);
	jm_flow *f = flow_for(dir, "");
	jm_dataset *tr, *te;
	jm_err err = {0};
	cr_assert_eq(jm_dataset_load(f, &tr, &te, &err), 0, "%s", err.msg);

	jm_norm nm;
	double mean, std;
	cr_assert_eq(jm_dataset_norm(&nm, tr, NULL, 0, "standard", &err), 0, "%s", err.msg);
	reference_stats(tr, NULL, tr->n, &mean, &std);
	cr_assert_float_eq(nm.mean, mean, 1e-12);
	cr_assert_float_eq(nm.std, std, 1e-12);
	/* x*scale + shift == (x/255 - mean)/std */
	for (int x = 0; x < 256; x += 51)
		cr_assert_float_eq(x * nm.scale + nm.shift, (x / 255.0 - mean) / std, 1e-5);

	/* on a subset: only those samples count */
	jm_split sp;
	cr_assert_eq(jm_split_make(&sp, tr->labels, tr->n, tr->n_classes, 0.25, 0, 1, 7, &err), 0);
	cr_assert_eq(jm_dataset_norm(&nm, tr, sp.train, sp.n_train, "standard", &err), 0);
	reference_stats(tr, sp.train, sp.n_train, &mean, &std);
	cr_assert_float_eq(nm.mean, mean, 1e-12);
	cr_assert_float_eq(nm.std, std, 1e-12);
	jm_split_clear(&sp);

	cr_assert_eq(jm_dataset_norm(&nm, tr, NULL, 0, "unit", &err), 0);
	cr_assert_float_eq(255 * nm.scale, 1.0f, 1e-6);
	cr_assert_eq(nm.shift, 0);
	cr_assert_eq(jm_dataset_norm(&nm, tr, NULL, 0, "none", &err), 0);
	cr_assert_eq(nm.scale, 1);
	cr_assert_eq(nm.shift, 0);
	cr_assert_eq(jm_dataset_norm(&nm, tr, NULL, 0, "zscore", &err), -1);
	assert_msg(err.msg, "normalize: expected one of standard, unit, none, got \"zscore\"");

	/* constant images have no spread */
	memset(tr->pixels, 9, (size_t)(tr->n * 9));
	cr_assert_eq(jm_dataset_norm(&nm, tr, NULL, 0, "standard", &err), -1);
	assert_msg(err.msg, "normalize = standard: every training pixel is 9, so the std is 0 "
			    "(use normalize = unit)");
	jm_dataset_free(tr);
	jm_dataset_free(te);
	jm_flow_free(f);
	jt_rm_rf(dir);
	free(dir);
}

/* ---- the real thing ---- */

Test(fmnist, debian_files)
{
	if (!jt_fmnist_dir())
		cr_skip_test("Fashion-MNIST not installed (apt install dataset-fashion-mnist): "
			     "skipping the real-data test");
	jm_flow *f = jm_flow_new();
	jm_err err = {0};
	cr_assert_eq(jm_flow_check_files(f, &err), 0, "%s", err.msg);
	jm_dataset *tr, *te;
	cr_assert_eq(jm_dataset_load(f, &tr, &te, &err), 0, "%s", err.msg);
	cr_assert_eq(tr->n, 60000);
	cr_assert_eq(te->n, 10000);
	cr_assert_eq(tr->h, 28);
	cr_assert_eq(tr->w, 28);
	cr_assert_eq(tr->n_classes, 10);
	int64_t count[10] = {0}, tcount[10] = {0};
	for (int64_t i = 0; i < tr->n; i++)
		count[tr->labels[i]]++;
	for (int64_t i = 0; i < te->n; i++)
		tcount[te->labels[i]]++;
	for (int k = 0; k < 10; k++) {
		cr_assert_eq(count[k], 6000, "class %d", k);
		cr_assert_eq(tcount[k], 1000, "class %d", k);
	}
	/* the commonly quoted constants (torchvision's FashionMNIST:
	 * mean 0.2860, std 0.3530) */
	jm_norm nm;
	cr_assert_eq(jm_dataset_norm(&nm, tr, NULL, 0, "standard", &err), 0);
	cr_assert_float_eq(nm.mean, 0.2860, 1e-4, "mean %.6f", nm.mean);
	cr_assert_float_eq(nm.std, 0.3530, 1e-4, "std %.6f", nm.std);
	double mean, std;
	reference_stats(tr, NULL, tr->n, &mean, &std);
	cr_assert_float_eq(nm.mean, mean, 1e-12);
	cr_assert_float_eq(nm.std, std, 1e-12);

	/* a 10% stratified validation split: 600 of each class */
	jm_split sp;
	cr_assert_eq(jm_split_make(&sp, tr->labels, tr->n, 10, f->split.val, 0, 1,
				   (uint64_t)f->train.seed, &err), 0);
	cr_assert_eq(sp.n_val, 6000);
	cr_assert_eq(sp.n_train, 54000);
	int64_t vcount[10] = {0};
	for (int64_t i = 0; i < sp.n_val; i++)
		vcount[tr->labels[sp.val[i]]]++;
	for (int k = 0; k < 10; k++)
		cr_assert_eq(vcount[k], 600);
	jm_split_clear(&sp);
	jm_dataset_free(tr);
	jm_dataset_free(te);
	jm_flow_free(f);
}
