/*
 * model.h: a network as a list of layers over flat buffers, llm.c style.
 *
 * A jm_model is built once from a spec (linear, logistic, mlp, cnn layer
 * string) for a fixed input shape, class count and maximum batch size.
 * Building does every allocation the model will ever make, each one a
 * single device buffer (jm_backend.alloc) with the tensors carved out of it:
 *
 *   params   all trained tensors, in PyTorch state_dict order
 *   grads    same layout as params; backward ACCUMULATES into it
 *   buffers  non-trained state (batch-norm running mean / var)
 *   acts     every layer output for max_batch samples, then the saved
 *            statistics (norm mean/rstd) and maxpool argmax
 *   dacts    the gradient of every layer output (same layout as acts)
 *   scratch  conv im2col columns, and room for a second consumer's input
 *            gradient before it is accumulated (residual fan-in)
 *
 * so a training step allocates nothing:
 *
 *   jm_model_zero_grad(m);                 once per optimizer step
 *   logits = jm_model_forward(m, x, B, 1, key);
 *   be->xent(dlogits, ..., logits, labels, ...);
 *   jm_model_backward(m, dlogits, B);      grads += d loss / d params
 *   (jm_clip_apply, jm_optim_step on jm_model_params/jm_model_grads)
 *
 * Gradient accumulation over micro-batches is that loop without the zero
 * and the step in between; scale dlogits (or the grads, jm_model_scale_grads)
 * by 1/accum so the sum is a mean.
 *
 * Every pointer the model hands out (params, grads, buffers, logits) is a
 * backend pointer: host memory for the CPU backend, device memory for CUDA.
 * The model never touches them from the host except through be->to_host /
 * be->to_device; all compute goes through the backend table.
 *
 * Layers and PyTorch names.  The layer list mirrors an nn.Sequential held in
 * an attribute `layers`, one entry per PyTorch module, so a checkpoint's
 * tensor names are the state_dict keys of this PyTorch twin:
 *
 *   mlp 784-256-128-10, norm=batch, dropout 0.1, relu:
 *     layers.0  Linear(784, 256)       layers.0.weight, layers.0.bias
 *     layers.1  BatchNorm1d(256)       layers.1.weight, .bias,
 *                                      .running_mean, .running_var
 *     layers.2  ReLU   layers.3  Dropout(0.1)   layers.4 Linear(256, 128) ...
 *   (the twin takes x.flatten(1); linear/logistic are just layers.0.)
 *
 *   cnn "c32 p r64 gap fc10" with batchnorm:
 *     layers.0  Conv2d(C, 32, 3, padding=1, bias=False)
 *     layers.1  BatchNorm2d(32)        layers.2  ReLU
 *     layers.3  MaxPool2d(2)
 *     layers.4  residual block, a module with submodules
 *               conv1 (3x3), bn1, conv2 (3x3), bn2, and when the channel
 *               count changes shortcut = Sequential(Conv2d 1x1, BatchNorm2d),
 *               so  layers.4.conv1.weight, layers.4.bn1.running_var,
 *               layers.4.shortcut.0.weight, layers.4.shortcut.1.bias ...;
 *               forward: relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x))
 *     layers.5  AdaptiveAvgPool2d(1)   layers.6  Flatten()
 *     layers.7  Linear(64, 10)
 *   Without batch norm the convs have bias=True and the bn modules (and
 *   shortcut.1) are absent.  A Flatten() is inserted before the first fc that
 *   follows an image-shaped tensor; `f` inserts one explicitly.  BatchNorm's
 *   num_batches_tracked is not stored (PyTorch fills it in on load).
 *
 * Layer string tokens (cnn), separated by spaces or commas:
 *   cN     conv 3x3 pad 1 to N channels (+ batch norm) + activation
 *          (spec->act; ReLU when unset)
 *   cN/K   the same with a K x K kernel (K odd, pad K/2)
 *   p      2x2 max pool, stride 2          a     2x2 average pool, stride 2
 *   gap    global average pool (+ flatten) f     flatten
 *   dX     dropout with probability X      fcN   linear to N units
 *   rN     residual block to N channels (see above)
 *   plugin:NAME(k=v, ...)  a layer from an operator plugin (plugin/plugin.h);
 *          commas inside the parentheses do not separate tokens
 * A hidden fcN is followed by the activation; residual blocks use it too.  The last fc must produce n_classes
 * (the outputs: 1 for a regression);
 * when the string does not end with an fc, the classifier is appended.
 */
#ifndef JM_MODEL_H
#define JM_MODEL_H

#include <stdint.h>
#include <stdio.h>

#include "engine/backend.h"
#include "util/err.h"

typedef struct jm_model jm_model;

typedef struct jm_model_spec {
	const char *type;   /* "linear" | "logistic" | "mlp" | "cnn" */
	const int *hidden;  /* mlp hidden sizes */
	int n_hidden;
	int act;            /* mlp: JM_ACT_RELU, _GELU, _TANH, _SIGMOID, _SILU */
	float dropout;      /* mlp: after each hidden activation, [0, 1) */
	const char *norm;   /* mlp: "none" (or NULL) | "batch" | "layer" */
	const char *layers; /* cnn layer string */
	int batchnorm;      /* cnn: batch norm after each conv */
	/* "plugin:NAME(k=v)" (or NULL): this plugin layer wherever act would
	 * go (mlp hidden layers, cnn convs and hidden fcs); act is ignored */
	const char *act_plugin;
} jm_model_spec;

/* A named tensor of the model: the checkpoint's unit. */
typedef struct jm_tensor_info {
	char name[64];      /* PyTorch state_dict key */
	int ndim;
	int64_t shape[4];
	int buffer;         /* 0: in params (grads at the same offset);
			       1: in buffers */
	size_t offset;      /* in floats, into params or buffers */
	size_t numel;
} jm_tensor_info;

/* Activation name ("relu", "gelu", "tanh", "sigmoid", "silu") to JM_ACT_*; -1 if
 * unknown. */
int jm_model_act_from_name(const char *name);

/* Build the model for inputs of in_c x in_h x in_w per sample.  Parameters
 * are zero until jm_model_init (or a checkpoint load).  Spec errors are
 * JM_EXIT_INPUT and named after the flow key:
 *   [model] layers: token 4 "x64": unknown layer (expected cN, p, a, gap,
 *   dX, fcN, rN, plugin:NAME)
 * allocation failures are JM_EXIT_FAIL.  The model keeps `be` (a static
 * table) and copies what it needs from spec. */
int jm_model_build(jm_model **out, const jm_backend *be,
		   const jm_model_spec *spec, int in_c, int in_h, int in_w,
		   int n_classes, int max_batch, jm_err *err);
void jm_model_free(jm_model *m); /* accepts NULL */

/* PyTorch's default initialisation, drawn on the host from jm_rng(seed) in
 * tensor order and uploaded: weights kaiming_uniform(a=sqrt(5)), i.e.
 * U(-1/sqrt(fan_in), 1/sqrt(fan_in)), biases the same bound, norm gamma 1
 * beta 0, running mean 0 var 1.  Same seed, same bits.  Returns -1 only
 * when the host staging buffer cannot be allocated. */
int jm_model_init(jm_model *m, uint64_t seed, jm_err *err);

/* Forward B <= max_batch samples x [B, in_c*in_h*in_w] (backend pointer).
 * training: batch statistics for batch norm (running stats updated) and
 * dropout masks from dropout_key; otherwise running stats, no dropout.
 * Returns the logits [B, n_classes], owned by the model and valid until the
 * next forward; NULL if B is out of range.  x must stay unchanged until
 * backward. */
float *jm_model_forward(jm_model *m, const float *x, int B, int training,
			uint64_t dropout_key);

/* Backward of the last forward, which must have been a training forward
 * with the same B: dlogits [B, n_classes] (backend pointer, read only).
 * ADDS d loss / d params into jm_model_grads.  Returns -1 (and does
 * nothing) if there was no matching training forward. */
int jm_model_backward(jm_model *m, const float *dlogits, int B);

void jm_model_zero_grad(jm_model *m);
void jm_model_scale_grads(jm_model *m, float a);

/* Layer table: "name  layer  output  params", a rule, and the total, e.g.
 *   layers.0   Linear(784, 256)        256        200,960
 * Fits in 80 columns.  Counts equal PyTorch's sum(p.numel()). */
void jm_model_describe(const jm_model *m, FILE *fp);

/* Accessors.  Pointers are the model's (backend memory), valid until
 * jm_model_free. */
size_t jm_model_n_params(const jm_model *m);
/* Batch norms that do the ReLU after them in their own pass (model.c,
 * fuse_bn_relu; 0 under JIANMO_FUSE=0). */
int jm_model_n_fused(const jm_model *m);
size_t jm_model_n_buffers(const jm_model *m);
float *jm_model_params(jm_model *m);
float *jm_model_grads(jm_model *m);
float *jm_model_buffers(jm_model *m);
const jm_backend *jm_model_backend(const jm_model *m);
int jm_model_n_classes(const jm_model *m);
int jm_model_max_batch(const jm_model *m);
size_t jm_model_input_size(const jm_model *m); /* floats per sample */
int jm_model_n_tensors(const jm_model *m);
const jm_tensor_info *jm_model_tensor(const jm_model *m, int i);
/* Index of the tensor with this name, or -1. */
int jm_model_find_tensor(const jm_model *m, const char *name);
/* Bytes of backend memory the model holds (all buffers above). */
size_t jm_model_memory_bytes(const jm_model *m);
/* ... of which grows with the model's batch (activations, their gradients,
 * pooling indices, scratch): what a smaller batch would give back. */
size_t jm_model_batch_memory_bytes(const jm_model *m);

#endif
