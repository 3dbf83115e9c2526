/*
 * checkpoint.h: model weights (and optionally optimizer state) in the
 * safetensors format, so PyTorch loads them as they are:
 *
 *   from safetensors.torch import load_file
 *   net.load_state_dict(load_file("ckpt.safetensors"), strict=False)
 *   (strict=False only when the file also holds the optim.* tensors)
 *
 * File layout (little-endian):
 *   u64 N | N bytes of JSON, padded with spaces to a multiple of 8 | data
 * The JSON maps each tensor name to {"dtype":"F32","shape":[...],
 * "data_offsets":[begin,end]} (offsets into data, tensors back to back in
 * model order), plus "__metadata__", a string-to-string map.
 *
 * What a file holds:
 *   - every tensor of the model (jm_model_tensor: parameters, then running
 *     statistics, under their PyTorch names);
 *   - with an optimizer: its state tensors "optim.m", "optim.v" (adam,
 *     adamw) or "optim.momentum" (sgd with momentum), each [n_params];
 *   - metadata: "format": "pt", "jianmo.optimizer" and "jianmo.steps" when
 *     an optimizer is saved, and the caller's key/value strings (epoch,
 *     RNG state, flow sha, ...).  Keys starting with "jianmo." or equal to
 *     "format" are reserved.
 *
 * Saving is atomic: a temporary file in the same directory, fsync, rename,
 * fsync of the directory; a crash leaves the old checkpoint or the new one.
 * Loading validates the whole file (header bounds, strict JSON, dtype,
 * shapes against the model, offsets in bounds, contiguous and covering the
 * data exactly) before it changes anything, and says what is wrong:
 *   ckpt.safetensors: tensor "layers.0.weight": shape [256,784] does not
 *   match the model's [128,784]
 * Format errors are JM_EXIT_INPUT, I/O errors JM_EXIT_FAIL.
 */
#ifndef JM_CHECKPOINT_H
#define JM_CHECKPOINT_H

#include "engine/model.h"
#include "engine/optim.h"
#include "util/err.h"

/* Metadata read from a file; keys and values are malloc'd and owned by the
 * struct until jm_ckpt_meta_free (which leaves it empty and reusable). */
typedef struct jm_ckpt_meta {
	int n;
	char **keys;
	char **values;
} jm_ckpt_meta;

/* The value for key, or NULL. */
const char *jm_ckpt_meta_get(const jm_ckpt_meta *meta, const char *key);
void jm_ckpt_meta_free(jm_ckpt_meta *meta); /* accepts NULL */

/* Write m's tensors (and opt's state if opt is not NULL) to path.
 * meta_kv holds n_meta pairs: meta_kv[2i] a key, meta_kv[2i+1] its value:
 * valid UTF-8, keys unique and not reserved (JM_EXIT_FAIL otherwise: a
 * caller bug); quotes, control characters and so on are escaped. */
int jm_checkpoint_save(const char *path, jm_model *m, jm_optim *opt,
		       const char *const *meta_kv, int n_meta, jm_err *err);

/* Read path into m (and opt, whose kind and size must match; its step
 * count is restored).  With opt NULL the optim.* tensors are ignored, so a
 * training checkpoint serves for evaluation too.  meta (may be NULL; else
 * zero-initialised or holding an earlier result, which is freed) receives
 * every metadata pair.  On error m, opt and meta are unchanged. */
int jm_checkpoint_load(const char *path, jm_model *m, jm_optim *opt,
		       jm_ckpt_meta *meta, jm_err *err);

/* Only the metadata, with the same validation of the file's structure (not
 * against a model). */
int jm_checkpoint_read_meta(const char *path, jm_ckpt_meta *meta, jm_err *err);

#endif
