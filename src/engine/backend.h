/*
 * backend.h: the compute backend, a const table of memory operations and
 * every layer op.  The CPU backend (backend_cpu.c: OpenBLAS sgemm plus plain
 * C loops) is the readable reference; the CUDA backend (a separate
 * jianmo-cuda.so, loaded with dlopen) fills the same table with device
 * pointers and kernels, and every op is tested against the CPU one.
 *
 * Layout and conventions (all float32, row-major, NCHW for images):
 *   - "in"/"out" are activations, "w"/"b" parameters, "d*" gradients.
 *   - Parameter gradients ACCUMULATE (+=) so gradient accumulation over
 *     micro-batches is free; the caller zeroes them once per step.
 *   - Input gradients (din) are OVERWRITTEN (=).  din may be NULL where the
 *     input gradient is not needed (the first layer).
 *   - Shapes are given in a comment as [dims]; B is the batch size.
 *   - Weight layouts are PyTorch's, so checkpoints load there unchanged:
 *     linear w [OUT, IN]; conv2d w [OC, C, K, K]; norm gamma/beta [C].
 */
#ifndef JM_BACKEND_H
#define JM_BACKEND_H

#include <stddef.h>
#include <stdint.h>

/* One sample's crop, flip and erasing (augment_geometry); the identity is
 * all zeros with an empty erase rectangle. */
typedef struct jm_aug_geom {
	int32_t flip;                /* 1: mirror left-right after the crop */
	int32_t dy, dx;              /* crop offset in [-pad, pad] */
	int32_t ey0, ey1, ex0, ex1;  /* erased rectangle; empty: ey0 == ey1 */
} jm_aug_geom;

/* One sample's mixing (augment_mix, mix_targets).  a and b are the float
 * weights of the sample and of its partner, in images (BLEND) and in the
 * targets (every kind): lam and 1 - lam, lam corrected to the box area
 * for BOX.  JM_MIX_NONE has a = 1, b = 0. */
typedef struct jm_aug_mix {
	int32_t kind;                /* JM_MIX_NONE | JM_MIX_BLEND | JM_MIX_BOX */
	float a, b;
	int32_t y0, y1, x0, x1;      /* BOX: the pasted rectangle */
} jm_aug_mix;

enum { JM_MIX_NONE = 0, JM_MIX_BLEND, JM_MIX_BOX };
enum { JM_PAD_ZERO = 0, JM_PAD_REFLECT };
enum { JM_ERASE_CONST = 0, JM_ERASE_RAND, JM_ERASE_PIXEL };

/* The table's layout version: the CUDA module is built against it and the
 * loader refuses a module built for another.  Bump it whenever a slot is
 * added, removed or changed. */
#define JM_BACKEND_ABI 9 /* 3: augmentation ops, native_stream, sync; 4: prefetch_rows;
			   * 5: xent_acc, mse_acc, metrics_every; 6: set_precision;
			   * 7: step_begin, step_end, graph_info, clip_norm,
			   *    augment_batch, native_call;
			   * 8: batch norm's ReLU (relu, out); 9: release_scratch */

/* [train] precision: what the GEMMs take in.  Everything else (weights,
 * activations, gradients, sums, the optimizer) stays fp32. */
enum { JM_PREC_FP32 = 0, JM_PREC_TF32, JM_PREC_BF16, JM_PREC_FP16 };
/* Its name in a flow ("fp32", ...), or NULL outside the enum. */
static inline const char *jm_prec_name(int p)
{
	static const char *const names[] = {"fp32", "tf32", "bf16", "fp16"};
	return p >= JM_PREC_FP32 && p <= JM_PREC_FP16 ? names[p] : NULL;
}

typedef struct jm_backend {
	const char *name; /* "cpu", "cuda" */

	/* memory: device buffers (host memory for the CPU backend) */
	void *(*alloc)(size_t bytes);              /* zeroed; NULL on failure */
	void (*free)(void *p);                     /* accepts NULL */
	void (*to_device)(void *dst, const void *src, size_t bytes);
	void (*to_host)(void *dst, const void *src, size_t bytes);
	void (*fill)(float *x, float v, size_t n);

	/* C[M,N] = alpha * op(A) op(B) + beta * C, row-major; ta/tb transpose.
	 * op(A) is [M,K], op(B) is [K,N]. */
	void (*sgemm)(int ta, int tb, int M, int N, int K, float alpha,
		      const float *A, const float *B, float beta, float *C);

	/* out[B,OUT] = in[B,IN] w[OUT,IN]^T + b[OUT]   (b may be NULL) */
	void (*linear_forward)(float *out, const float *in, const float *w,
			       const float *b, int B, int IN, int OUT);
	void (*linear_backward)(float *din, float *dw, float *db,
				const float *dout, const float *in,
				const float *w, int B, int IN, int OUT);

	/* in [B,C,H,W], w [OC,C,K,K], b [OC] (may be NULL),
	 * out [B,OC,OH,OW], OH = (H + 2*pad - K)/stride + 1.
	 * scratch: conv2d_scratch_floats() floats (im2col columns). */
	size_t (*conv2d_scratch_floats)(int B, int C, int H, int W, int OC,
					int K, int stride, int pad);
	void (*conv2d_forward)(float *out, const float *in, const float *w,
			       const float *b, int B, int C, int H, int W,
			       int OC, int K, int stride, int pad,
			       float *scratch);
	void (*conv2d_backward)(float *din, float *dw, float *db,
				const float *dout, const float *in,
				const float *w, int B, int C, int H, int W,
				int OC, int K, int stride, int pad,
				float *scratch);

	/* Max pooling K x K, stride S, no padding, floor mode.
	 * in [B,C,H,W] -> out [B,C,OH,OW]; argmax [B,C,OH,OW] holds the
	 * flat index (h*W+w) within the input plane, for backward. */
	void (*maxpool_forward)(float *out, int32_t *argmax, const float *in,
				int B, int C, int H, int W, int K, int S);
	void (*maxpool_backward)(float *din, const float *dout,
				 const int32_t *argmax, int B, int C, int H,
				 int W, int K, int S);
	void (*avgpool_forward)(float *out, const float *in, int B, int C,
				int H, int W, int K, int S);
	void (*avgpool_backward)(float *din, const float *dout, int B, int C,
				 int H, int W, int K, int S);
	/* Global average pooling: in [B,C,HW] -> out [B,C]. */
	void (*gap_forward)(float *out, const float *in, int B, int C, int HW);
	void (*gap_backward)(float *din, const float *dout, int B, int C,
			     int HW);

	/* Batch norm over (B, HW) per channel: in/out [B,C,HW].
	 * training: use batch statistics (biased variance for normalising,
	 * unbiased for the running update, as PyTorch), save mean/rstd [C]
	 * for backward, update running_* with momentum (PyTorch's 0.1).
	 * eval: use running_mean/running_var.
	 * gamma/beta may be NULL (1 and 0); mean/rstd may be NULL in eval and
	 * then receive nothing; running_* may be NULL in training (no update).
	 * relu != 0: out is the ReLU of the result (act_forward's, in the same
	 * pass: a batch norm followed by a ReLU reads and writes the batch
	 * once); backward then takes that out, and dout is the gradient of the
	 * ReLU's output, zeroed where out is not > 0 (act_backward's ReLU)
	 * before it meets the norm.  out NULL in backward: no ReLU. */
	void (*batchnorm_forward)(float *out, float *mean, float *rstd,
				  const float *in, const float *gamma,
				  const float *beta, float *running_mean,
				  float *running_var, int B, int C, int HW,
				  int training, float momentum, float eps, int relu);
	void (*batchnorm_backward)(float *din, float *dgamma, float *dbeta,
				   const float *dout, const float *in,
				   const float *mean, const float *rstd,
				   const float *gamma, const float *out, int B, int C,
				   int HW);
	/* Layer norm over the last dim: in/out [N,C]; mean/rstd [N]. */
	void (*layernorm_forward)(float *out, float *mean, float *rstd,
				  const float *in, const float *gamma,
				  const float *beta, int N, int C, float eps);
	void (*layernorm_backward)(float *din, float *dgamma, float *dbeta,
				   const float *dout, const float *in,
				   const float *mean, const float *rstd,
				   const float *gamma, int N, int C);

	/* Element-wise activations over n values.  Backward takes the layer's
	 * input (in) and output (out); each uses what it needs.
	 * act: JM_ACT_RELU, JM_ACT_GELU (exact, erf), JM_ACT_TANH,
	 * JM_ACT_SIGMOID, JM_ACT_SILU. */
	void (*act_forward)(int act, float *out, const float *in, size_t n);
	void (*act_backward)(int act, float *din, const float *dout,
			     const float *in, const float *out, size_t n);

	/* Inverted dropout: keep with probability 1-p, scale by 1/(1-p).
	 * The mask is jm_hash_uniformf(key, i) >= p for element i, so any
	 * backend reproduces it exactly.  in == out is allowed. */
	void (*dropout_forward)(float *out, const float *in, size_t n, float p,
				uint64_t key);
	void (*dropout_backward)(float *din, const float *dout, size_t n,
				 float p, uint64_t key);

	/* out = a + b (residual add); y += x (gradient fan-in). */
	void (*add)(float *out, const float *a, const float *b, size_t n);
	void (*accumulate)(float *y, const float *x, size_t n);

	/* Softmax cross-entropy, mean over the batch.  logits [B,K].
	 * Targets: labels [B] (hard, may be NULL) or soft [B,K] (rows sum to
	 * 1; used when labels is NULL).  Label smoothing s (0 for none)
	 * applies to hard labels as PyTorch: (1-s)*onehot + s/K.
	 * Writes dlogits [B,K] = (softmax - target) / B (may be NULL; not
	 * overlapping logits or soft), and
	 * per-sample losses to sample_loss [B] (may be NULL); returns the mean
	 * loss (double accumulation).  correct (may be NULL) receives the
	 * number of rows whose argmax equals the label (or the soft target's
	 * argmax).  A label outside [0, K) adds no loss and a zero dlogits
	 * row (still counted in B). */
	double (*xent)(float *dlogits, float *sample_loss, int32_t *correct,
		       const float *logits, const int32_t *labels,
		       const float *soft, int B, int K, float smoothing);

	/* Mean squared error, mean over all B*K values (torch's MSELoss):
	 * pred, target [B,K].  Writes dpred [B,K] = 2 (pred - target) / (B*K)
	 * (may be NULL) and per-sample losses sample_loss [B] (the mean over
	 * the row's K values; may be NULL); returns the mean loss (double
	 * accumulation). */
	double (*mse)(float *dpred, float *sample_loss, const float *pred,
		      const float *target, int B, int K);

	/* xent and mse for training, without a read to the host: each adds
	 * the batch's mean loss to acc[0] and acc[3], its correct rows to
	 * acc[1] and 1 to acc[2] and acc[4] (acc: 5 doubles of backend memory,
	 * the trainer's running sums for the epoch and for its loss log).
	 * The trainer reads acc every metrics_every batches (and at each log
	 * step, checkpoint and epoch end), so a device step need not wait for
	 * the host; the sums run on across reads, in batch order. */
	void (*xent_acc)(float *dlogits, double *acc, const float *logits,
			 const int32_t *labels, const float *soft, int B, int K,
			 float smoothing);
	void (*mse_acc)(float *dpred, double *acc, const float *pred, const float *target,
			int B, int K);
	int metrics_every; /* 1 where a read costs nothing (host memory) */

	/* Gather rows: out[i,:] = src[idx[i],:] for i < B, rows of D floats;
	 * src may be uint8 (scaled by `scale`, then `shift` added) or float. */
	void (*gather_u8)(float *out, const uint8_t *src, const int32_t *idx,
			  int B, int D, float scale, float shift);
	void (*gather_f32)(float *out, const float *src, const int32_t *idx,
			   int B, int D);
	/* A hint, and may be NULL: rows idx[0..B) of src, row_bytes each,
	 * are gathered next (the following batch), so the CPU asks its caches
	 * for them while the current step runs. */
	void (*prefetch_rows)(const void *src, const int32_t *idx, int B, size_t row_bytes);

	/* Optimizer passes, each one fused loop over the flat buffers of n
	 * parameters.  Adam: m, v are the moment buffers; bc1 = 1 - b1^t,
	 * bc2 = 1 - b2^t; decoupled != 0 is AdamW (p -= lr*wd*p), otherwise
	 * wd is L2 (g += wd*p), both exactly as torch.optim.  SGD: buf is the
	 * momentum buffer (PyTorch's convention: buf = mu*buf + g, first step
	 * buf = g when first != 0; nesterov uses g + mu*buf).  Adam takes its
	 * scalars in double and derives the float constants the way torch
	 * does (lr/bc1, sqrt(bc2), 1-b1, 1-b2, 1-lr*wd computed in double,
	 * then rounded), and both round each element's update as PyTorch's
	 * CPU kernels do (src/engine/cpu_ops.c), so on a CPU with FMA p, m, v
	 * and buf match torch's to the last bit. */
	void (*adam_step)(float *p, float *m, float *v, const float *g,
			  size_t n, double lr, double b1, double b2, double eps,
			  double wd, double bc1, double bc2, int decoupled);
	void (*sgd_step)(float *p, float *buf, const float *g, size_t n,
			 float lr, float momentum, float wd, int nesterov,
			 int first);
	/* sum of squares (double accumulation) and in-place scaling, for
	 * gradient clipping by global norm. */
	double (*sumsq)(const float *x, size_t n);
	void (*scale)(float *x, float a, size_t n);

	/* Wait for all queued work.  Returns 0, or -1 with the first error
	 * any op met since the last sync in why (a device backend's ops
	 * cannot return one themselves; the CPU's never fail). */
	int (*sync)(char *why, size_t n);

	/* Free the memory the ops took at first use and kept (a device's
	 * 16-bit GEMM and reduction scratch); they take it again as they
	 * need it.  batch = auto calls it after a batch that did not fit, so
	 * the failed try leaves the next nothing.  NULL: none (the CPU). */
	void (*release_scratch)(void);

	/* The stream the ops are queued on (a cudaStream_t), for plugin
	 * kernels to join; NULL (the member or its result) on the CPU. */
	void *(*native_stream)(void);
	/* Call fn(ctx), which launches its own kernels on native_stream (a
	 * plugin layer's CUDA pass); ctx is bytes long and read during the
	 * call only.  Inside a step the backend may keep the call and replay
	 * its kernels in the step's graph: fn must launch the same kernels for
	 * the same bytes.  NULL: the caller calls fn itself (the CPU). */
	void (*native_call)(void (*fn)(const void *ctx), const void *ctx, size_t bytes);

	/* Clipping by global norm with no read to the host; NULL where a read
	 * costs nothing (the CPU: the trainer calls sumsq and scale).  The L2
	 * norm of x[n] goes into stat[0]; when it is finite and max_norm /
	 * (norm + 1e-6) is below 1, x is scaled by that (PyTorch's
	 * clip_grad_norm_, in the doubles jm_clip_apply uses); a norm that is
	 * not finite scales nothing and adds 1 to stat[1].  stat: 2 doubles of
	 * backend memory, read by the trainer with its sums. */
	void (*clip_norm)(float *x, size_t n, double max_norm, double *stat);

	/* The GEMMs' input precision from now on (JM_PREC_*): tf32 uses the
	 * tensor cores' TF32 mode; bf16 and fp16 round both inputs of every
	 * GEMM to 16 bits (round to nearest even) and sum in fp32 into an
	 * fp32 result.  0, or -1 with why when the device cannot (tf32 and
	 * bf16 need compute capability 8.0).  NULL: fp32 only (the CPU). */
	int (*set_precision)(int precision, char *why, size_t n);

	/* The training step as CUDA graphs; all three NULL where there are
	 * none (the CPU).  The trainer calls step_begin before a step's first
	 * batch and step_end after its optimizer update; the backend records
	 * the first such step, captures it (a graph each side of any read to
	 * the host), and replays the later ones, setting the kernel arguments
	 * that change (src/cuda/graph_tape.c).  A step that differs runs op by
	 * op, with the same results.  Within a step, an uploaded buffer (to_device) is
	 * read only after its upload, and uploaded once.  graph_info writes
	 * how it went for the run's log and returns the steps replayed. */
	void (*step_begin)(void);
	void (*step_end)(void);
	int (*graph_info)(char *buf, size_t n);

	/* ---- augmentation (the plans come from pipeline/augment.h) ----
	 * Every random choice is made on the host and handed over as a plan
	 * of one record per sample (jm_aug_geom, jm_aug_mix below) in backend
	 * memory, so the ops are deterministic and any backend gives the same
	 * bits.  x is [B,C,H,W]; a flat [B,D] batch (tabular MixUp) is
	 * C = H = 1, W = D. */

	/* Per sample b: crop, flip, erase, out of place (out != in):
	 *   out(c,y,x) = in(c, y+dy, xs+dx), xs = flip ? W-1-x : x
	 * where a row or column outside the image reads the padding:
	 * JM_PAD_ZERO gives `fill`, JM_PAD_REFLECT mirrors without repeating
	 * the edge (-1 -> 1, H -> H-2; needs |dy| < H, |dx| < W).  Then the
	 * rectangle rows [ey0,ey1) x cols [ex0,ex1) of every channel becomes
	 * 0 (JM_ERASE_CONST), one normal value per channel (JM_ERASE_RAND:
	 * jm_hash_normalf(key, b*C + c)) or one per pixel (JM_ERASE_PIXEL:
	 * jm_hash_normalf(key, ((b*C + c)*H + y)*W + x)). */
	void (*augment_geometry)(float *out, const float *in,
				 const jm_aug_geom *g, int B, int C,
				 int H, int W, int pad_mode, float fill,
				 int erase_mode, uint64_t key);
	/* MixUp and CutMix in place; sample i mixes with j = B-1-i (timm's
	 * flipped batch), always from the batch as it was on entry:
	 *   JM_MIX_BLEND  x_i = a_i * x_i + b_i * x_j
	 *   JM_MIX_BOX    x_i(c, y, x) = x_j(c, y, x) inside rows [y0,y1) x
	 *                 cols [x0,x1), unchanged outside
	 *   JM_MIX_NONE   unchanged. */
	void (*augment_mix)(float *x, const jm_aug_mix *m, int B,
			    int C, int H, int W);
	/* Soft targets [B,K] for the mixed batch:
	 *   soft_i = a_i * onehot_s(y_i) + b_i * onehot_s(y_{B-1-i}),
	 * onehot_s: 1 - s + s/K on the label, s/K elsewhere (s = smoothing).
	 * A label outside [0, K) gives a zero row (no loss, as xent). */
	void (*mix_targets)(float *soft, const int32_t *labels,
			    const jm_aug_mix *m, int B, int K,
			    float smoothing);
	/* A batch's whole augmentation in one pass, out of place (out != in):
	 * augment_geometry (when g is not NULL, else the identity) into out,
	 * augment_mix of out, and mix_targets into soft; the same values as
	 * the three calls in turn.  NULL where the three are as good (the
	 * CPU). */
	void (*augment_batch)(float *out, const float *in, const jm_aug_geom *g,
			      const jm_aug_mix *m, float *soft, const int32_t *labels,
			      int B, int C, int H, int W, int K, int pad_mode, float fill,
			      int erase_mode, uint64_t key, float smoothing);
} jm_backend;

/* JM_ACT_SILU: x * sigmoid(x) (PyTorch's SiLU). */
enum { JM_ACT_NONE = 0, JM_ACT_RELU, JM_ACT_GELU, JM_ACT_TANH, JM_ACT_SIGMOID, JM_ACT_SILU };
#define JM_ACT_LAST JM_ACT_SILU

/* The CPU backend (always present). */
extern const jm_backend jm_backend_cpu;
/* JIANMO_BACKEND_CHECK=1 (tests): the CPU backend dressed as a device one
 * with CUDA graphs, checking the trainer's side of the graph contract
 * (backend_check.c).  Its name is "cpu", and its results are the CPU's. */
const jm_backend *jm_backend_checked(void);

/* The backend for a device name ("cpu", "cuda", "cuda:N", "auto"): the CPU
 * one, or the CUDA module (jianmo-cuda.so, loaded on first use with
 * dlopen; see backend_load.c for where it is looked for).  "auto" is CUDA
 * on the first GPU the module runs on (compute 8.0 and later) when it
 * loads, else the CPU, with the reason
 * in note (may be NULL) when a GPU was not used.  "cuda" that cannot be
 * had is an error (-1, why filled).  The table lives as long as the
 * process. */
int jm_backend_for_device(const char *device, const jm_backend **out, char *note,
			  size_t note_n, char *why, size_t why_n);
/* Whether this machine has an NVIDIA driver (a GPU machine), whatever
 * the module makes of it: where it has none, the module is never loaded. */
int jm_backend_has_driver(void);
/* How many GPUs the CUDA module can run on (0 without the module, a
 * driver or such a GPU; one of compute 7.x is left out), and their device
 * numbers, in order, into idx (at most max; may be NULL): a search puts
 * its trials on them in turn. */
int jm_backend_cuda_gpus(int *idx, int max);
/* Whether a device name could be had, without opening it (no GPU context
 * in a process that trains nothing): 0, or -1 with why. */
int jm_backend_check_device(const char *device, char *why, size_t why_n);
/* What `jianmo doctor` says about CUDA: driver, devices, or why not. */
void jm_backend_cuda_describe(char *buf, size_t n);

/* CPU worker threads (1 by default, at most JM_CPU_MAX_WORKERS): each
 * convolution's batch is split across them, each part with one-thread BLAS
 * calls.  Set before a model is built (its scratch depends on it). */
#define JM_CPU_MAX_WORKERS 16
void jm_cpu_set_workers(int n);
int jm_cpu_workers(void);

/* Memory the CPU backend may still take, in bytes: MemAvailable and free
 * swap, within a cgroup v2 limit and what an address-space limit (ulimit
 * -v) leaves, where those are set (SIZE_MAX where
 * /proc/meminfo cannot be read).  Its alloc refuses a block of 2 MiB or
 * more beyond it, since the block is written at once and with the
 * kernel's overcommit malloc itself would not fail.
 * JIANMO_MEMORY_AVAILABLE=BYTES (tests): that much at start, less what
 * the backend holds. */
size_t jm_cpu_memory_available(void);
/* What be may still take: jm_cpu_memory_available() on the CPU, SIZE_MAX
 * (unknown: a device says when it is out) elsewhere. */
size_t jm_backend_memory_left(const jm_backend *be);
/* For a refused allocation: " (N MiB of memory left)", "" for SIZE_MAX. */
void jm_backend_memory_note(size_t left, char *buf, size_t n);

/* OpenBLAS facts for `jianmo doctor`. */
const char *jm_blas_corename(void);
int jm_blas_threads(void);
void jm_blas_set_threads(int n);
/* The BLAS threads a run uses when its flow leaves [train] threads out:
 * OpenBLAS's own count when OPENBLAS_NUM_THREADS is set (to anything:
 * OpenBLAS takes all cores for a value with no leading digits), else 1.
 * The runner applies it and `jianmo doctor` reports it.  Call before
 * anything sets the count. */
int jm_blas_run_threads(void);
/* OpenBLAS's GEMM buffers taken now, on every worker, while there is
 * memory: a GEMM that cannot get one later would hang (backend_cpu.c).
 * Call after jm_cpu_set_workers, before sizing buffers to the memory.
 * -1 with why when there is no room for them. */
int jm_blas_reserve(char *why, size_t n);

#endif
