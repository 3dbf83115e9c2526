/*
 * idx.h: reader for IDX files, the format of MNIST and Fashion-MNIST
 * (http://yann.lecun.com/exdb/mnist/): a 4-byte magic (0, 0, dtype, ndim),
 * ndim big-endian uint32 sizes, then the values.  Two kinds are read:
 *
 *   images  magic 0x00000803  uint8 [n, h, w]
 *   labels  magic 0x00000801  uint8 [n]
 *
 * Either form may be gzip-compressed; both are recognised by content, not
 * by name.  Everything is checked: magic, data type, dimension count,
 * dimension sizes (within sane caps), and that the data is exactly as long
 * as the header says (no truncation, no trailing bytes).
 *
 *   file ──read──▶ bytes ──jm_idx_parse (inflate if gzip)──▶ jm_idx
 */
#ifndef JM_IDX_H
#define JM_IDX_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

enum jm_idx_kind {
	JM_IDX_IMAGES = 3, /* the kind is the dimension count */
	JM_IDX_LABELS = 1,
};

/* Caps on what a header may declare (anything beyond is refused). */
#define JM_IDX_MAX_ITEMS 100000000LL /* images or labels in one file */
#define JM_IDX_MAX_SIDE 4096         /* image height or width */
#define JM_IDX_MAX_FILE (1LL << 30)  /* bytes of a file as stored */
#define JM_IDX_MAX_VALUES (1LL << 32) /* bytes of values, n*h*w */

typedef struct jm_idx {
	int kind;       /* JM_IDX_IMAGES or JM_IDX_LABELS */
	int64_t n;      /* number of items (>= 1) */
	int h, w;       /* image size; 1 x 1 for labels */
	uint8_t *data;  /* n*h*w values, malloc'd; owned by the jm_idx */
} jm_idx;

/* Parse an IDX file held in memory (raw or gzip).  name is used in
 * messages ("train-images-idx3-ubyte.gz: truncated: ...").  On success
 * *out owns a fresh copy of the values; the buffer is not kept.  Errors are
 * JM_EXIT_INPUT (bad data) or JM_EXIT_FAIL (out of memory). */
int jm_idx_parse(jm_idx *out, const void *buf, size_t n, int kind,
		 const char *name, jm_err *err);

/* Read and parse a file: the path is used in messages. */
int jm_idx_read(jm_idx *out, const char *path, int kind, jm_err *err);

/* Free the values and zero *x; accepts NULL and a zeroed jm_idx. */
void jm_idx_clear(jm_idx *x);

#endif
