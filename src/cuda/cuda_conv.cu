/*
 * cuda_conv.cu: 2-D convolution on the device as im2col + cuBLAS, the
 * twin of src/engine/cpu_conv.c.  Work goes in chunks of nb samples whose
 * columns fit the scratch:
 *
 *   forward   col[CKK, nb*P] = im2col(in chunk)       (column b*P + p)
 *             Y[OC, nb*P] = w[OC, CKK] col            (one sgemm)
 *             out[b, oc, p] = Y[oc, b*P + p] + bias    (permute kernel)
 *   backward  dY[OC, nb*P] = dout chunk permuted
 *             dw[OC, CKK] += dY col^T                  (one sgemm, beta 1)
 *             db[oc] += sum of dY's row                (a block per oc)
 *             dcol[CKK, nb*P] = w^T dY                 (one sgemm)
 *             din = col2im(dcol), gathered per input element (no atomics)
 *
 * The scratch holds col (or dcol) and Y (or dY) for one chunk.
 *
 * At [train] precision bf16 or fp16 the convolutions are implicit GEMMs on
 * the tensor cores (cuda_conv_igemm.cu), with no columns in memory at all;
 * JIANMO_CUDA_CONV=im2col keeps them on this path, where the GEMMs take
 * 16-bit inputs: im2col
 * and the permute write col and dY in the 16-bit type directly (into the
 * first half of their areas), the weights are rounded once a call, and
 * db sums dout itself, so no fp32 copy of col or dY is made only to be
 * rounded.  The values are the same as rounding the fp32 ones.
 */
#include "cuda/cuda_common.cuh"

/* Columns of one chunk: at most this many floats (64 MB). */
#define CONV_CHUNK_FLOATS ((size_t)1 << 24)

typedef struct plan {
	int OH, OW, nb;
	size_t P, CKK, col, y;
} plan;

static plan plan_make(int B, int C, int H, int W, int OC, int K, int S, int pad)
{
	plan p;
	p.OH = H + 2 * pad < K ? 0 : (H + 2 * pad - K) / S + 1;
	p.OW = W + 2 * pad < K ? 0 : (W + 2 * pad - K) / S + 1;
	p.P = (size_t)p.OH * p.OW;
	p.CKK = (size_t)C * K * K;
	size_t per = p.P * (p.CKK > (size_t)OC ? p.CKK : (size_t)OC);
	size_t nb = per ? CONV_CHUNK_FLOATS / per : 1;
	if (nb < 1)
		nb = 1;
	if (B > 0 && nb > (size_t)B)
		nb = (size_t)B;
	p.nb = (int)nb;
	/* Y (or dY) starts 256-byte aligned, as the tensor-core GEMMs like */
	p.col = (nb * p.P * p.CKK + 63) / 64 * 64;
	p.y = nb * p.P * OC;
	return p;
}

extern "C" size_t jm_cuda_conv2d_scratch_floats(int B, int C, int H, int W, int OC, int K,
						int stride, int pad)
{
	plan p = plan_make(B, C, H, W, OC, K, stride, pad);
	return p.col + p.y;
}

/* col[(c*K + kh)*K + kw][b*P + oh*OW + ow] = in[b0 + b][c][ih][iw] or 0 */
template <typename T>
__global__ void k_im2col(T *col, const float *in, int nb, int C, int H, int W, int K,
			 int S, int pad, int OH, int OW)
{
	size_t P = (size_t)OH * OW, cols = (size_t)nb * P, n = (size_t)C * K * K * cols;
	JM_CUDA_FOR(i, n)
	{
		size_t row = i / cols, cidx = i % cols;
		int b = (int)(cidx / P), p = (int)(cidx % P), oh = p / OW, ow = p % OW;
		int kw = (int)(row % K), kh = (int)((row / K) % K), c = (int)(row / ((size_t)K * K));
		int ih = oh * S - pad + kh, iw = ow * S - pad + kw;
		col[i] = jm_cuda_store_as<T>(ih >= 0 && ih < H && iw >= 0 && iw < W
						     ? in[(((size_t)b * C + c) * H + ih) * W + iw]
						     : 0.0f);
	}
}

/* din[b][c][ih][iw] = sum over (kh, kw) of dcol at the output that read it */
__global__ void k_col2im(float *din, const float *dcol, int nb, int C, int H, int W, int K,
			 int S, int pad, int OH, int OW)
{
	size_t P = (size_t)OH * OW, cols = (size_t)nb * P, n = (size_t)nb * C * H * W;
	JM_CUDA_FOR(i, n)
	{
		int iw = (int)(i % W), ih = (int)((i / W) % H), c = (int)((i / ((size_t)H * W)) % C);
		int b = (int)(i / ((size_t)C * H * W));
		float s = 0.0f;
		for (int kh = 0; kh < K; kh++) {
			int t = ih + pad - kh;
			if (t < 0 || t % S)
				continue;
			int oh = t / S;
			if (oh >= OH)
				continue;
			for (int kw = 0; kw < K; kw++) {
				int u = iw + pad - kw;
				if (u < 0 || u % S)
					continue;
				int ow = u / S;
				if (ow >= OW)
					continue;
				size_t row = ((size_t)c * K + kh) * K + kw;
				s += dcol[row * cols + (size_t)b * P + (size_t)oh * OW + ow];
			}
		}
		din[i] = s;
	}
}

/* out[b][oc][p] = Y[oc][b*P + p] (+ bias[oc]) */
__global__ void k_y_to_nchw(float *out, const float *Y, const float *bias, int nb, int OC,
			    size_t P)
{
	size_t n = (size_t)nb * OC * P;
	JM_CUDA_FOR(i, n)
	{
		size_t p = i % P;
		int oc = (int)((i / P) % OC), b = (int)(i / (P * OC));
		out[i] = Y[(size_t)oc * nb * P + (size_t)b * P + p] + (bias ? bias[oc] : 0.0f);
	}
}

/* dY[oc][b*P + p] = dout[b][oc][p] */
template <typename T>
__global__ void k_nchw_to_y(T *dY, const float *dout, int nb, int OC, size_t P)
{
	size_t n = (size_t)nb * OC * P;
	JM_CUDA_FOR(i, n)
	{
		size_t p = i % P;
		int oc = (int)((i / P) % OC), b = (int)(i / (P * OC));
		dY[(size_t)oc * nb * P + (size_t)b * P + p] = jm_cuda_store_as<T>(dout[i]);
	}
}

/* db[oc] += sum over b < nb, p < P of dout[b][oc][p] (a block per oc,
 * its threads along each plane: nothing divided) */
__global__ void k_bias_grad_nchw(float *db, const float *dout, int nb, int OC, size_t P)
{
	int oc = blockIdx.x;
	double s = 0.0;
	for (int b = 0; b < nb; b++) {
		const float *plane = dout + ((size_t)b * OC + oc) * P;
		for (size_t p = threadIdx.x; p < P; p += blockDim.x)
			s += plane[p];
	}
	s = jm_cuda_block_sum(s);
	if (threadIdx.x == 0)
		db[oc] += (float)s;
}

/* db[oc] += sum of dY's row oc (length m) */
__global__ void k_rowsum_acc(float *db, const float *dY, size_t m)
{
	int oc = blockIdx.x;
	double s = 0.0;
	for (size_t i = threadIdx.x; i < m; i += blockDim.x)
		s += dY[(size_t)oc * m + i];
	s = jm_cuda_block_sum(s);
	if (threadIdx.x == 0)
		db[oc] += (float)s;
}

/* One chunk's columns at 16 bits, in the precision's type. */
static void im2col16(void *col, const float *x, int nb, int C, int H, int W, int K, int S,
		     int pad, const plan *p)
{
	size_t n = p->CKK * (size_t)nb * p->P;
	if (jm_cuda.precision == JM_PREC_BF16)
		jm_cuda_launch(k_im2col<__nv_bfloat16>, jm_cuda_blocks(n), JM_CUDA_THREADS, 0,
			       (__nv_bfloat16 *)col, x, nb, C, H, W, K, S, pad, p->OH, p->OW);
	else
		jm_cuda_launch(k_im2col<__half>, jm_cuda_blocks(n), JM_CUDA_THREADS, 0, (__half *)col,
			       x, nb, C, H, W, K, S, pad, p->OH, p->OW);
}

extern "C" void jm_cuda_conv2d_forward(float *out, const float *in, const float *w,
				       const float *b, int B, int C, int H, int W, int OC, int K,
				       int stride, int pad, float *scratch)
{
	plan p = plan_make(B, C, H, W, OC, K, stride, pad);
	if (!p.P || B <= 0)
		return;
	if (jm_cuda_16bit() && !jm_cuda.conv_im2col &&
	    jm_cuda_conv_igemm_forward(out, in, w, b, B, C, H, W, OC, K, stride, pad) == 0)
		return;
	const void *w16 = NULL;
	if (jm_cuda_16bit() && !(w16 = jm_cuda_round16(w, (size_t)OC * p.CKK)))
		return;
	float *col = scratch, *Y = scratch + p.col;
	for (int b0 = 0; b0 < B; b0 += p.nb) {
		int nb = B - b0 < p.nb ? B - b0 : p.nb;
		size_t m = (size_t)nb * p.P;
		const float *x = in + (size_t)b0 * C * H * W;
		if (w16) {
			im2col16(col, x, nb, C, H, W, K, stride, pad, &p);
			jm_cuda_gemm16(0, 0, OC, (int)m, (int)p.CKK, 1.0f, w16, col, 0.0f, Y);
		} else {
			jm_cuda_launch(k_im2col<float>, jm_cuda_blocks(p.CKK * m), JM_CUDA_THREADS, 0,
				       col, x, nb, C, H, W, K, stride, pad, p.OH, p.OW);
			jm_cuda_sgemm(0, 0, OC, (int)m, (int)p.CKK, 1.0f, w, col, 0.0f, Y);
		}
		jm_cuda_launch(k_y_to_nchw, jm_cuda_blocks((size_t)OC * m), JM_CUDA_THREADS, 0,
			       out + (size_t)b0 * OC * p.P, Y, b, nb, OC, p.P);
		if (JM_CUDA_LAUNCHED("convolution") < 0)
			return;
	}
}

/* One chunk's backward at 16 bits: dY16 (in the Y area) straight from
 * dout, db from dout, dw from 16-bit columns, dcol from the rounded
 * weights w16 (fp32, over the columns, which dw has used by then). */
static void backward16_chunk(float *dcol, void *dY16, float *dw, float *db, const float *dout,
			     const float *x, const void *w16, int nb, int C, int H, int W, int OC,
			     int K, int S, int pad, const plan *p)
{
	size_t m = (size_t)nb * p->P, n = (size_t)OC * m;
	if (jm_cuda.precision == JM_PREC_BF16)
		jm_cuda_launch(k_nchw_to_y<__nv_bfloat16>, jm_cuda_blocks(n), JM_CUDA_THREADS, 0,
			       (__nv_bfloat16 *)dY16, dout, nb, OC, p->P);
	else
		jm_cuda_launch(k_nchw_to_y<__half>, jm_cuda_blocks(n), JM_CUDA_THREADS, 0,
			       (__half *)dY16, dout, nb, OC, p->P);
	if (db)
		jm_cuda_launch(k_bias_grad_nchw, OC, 256, 0, db, dout, nb, OC, p->P);
	if (dw) {
		im2col16(dcol, x, nb, C, H, W, K, S, pad, p);
		jm_cuda_gemm16(0, 1, OC, (int)p->CKK, (int)m, 1.0f, dY16, dcol, 1.0f, dw);
	}
	if (w16)
		jm_cuda_gemm16(1, 0, (int)p->CKK, (int)m, OC, 1.0f, w16, dY16, 0.0f, dcol);
}

/* The backward at 16 bits as implicit GEMMs (cuda_conv_igemm.cu): 0, or
 * -1 when a shape is too large for them, before anything that adds into
 * dw or db is queued. */
static int backward_igemm(float *din, float *dw, float *db, const float *dout, const float *in,
			  const float *w, int B, int C, int H, int W, int OC, int K, int S, int pad,
			  float *scratch, size_t scratch_floats)
{
	if ((double)B * C * H * W >= 2147483647.0 || (double)C * K * K * OC >= 2147483647.0)
		return -1;
	/* din first: it is overwritten, so the im2col path after a refusal of
	 * dw's (which adds) computes both once */
	if (din && jm_cuda_conv_igemm_dgrad(din, dout, w, B, C, H, W, OC, K, S, pad) < 0)
		return -1;
	if (dw && jm_cuda_conv_igemm_wgrad(dw, dout, in, B, C, H, W, OC, K, S, pad, scratch,
					   scratch_floats) < 0)
		return -1;
	if (db) {
		int P = ((H + 2 * pad - K) / S + 1) * ((W + 2 * pad - K) / S + 1);
		jm_cuda_launch(k_bias_grad_nchw, OC, 256, 0, db, dout, B, OC, (size_t)P);
	}
	return 0;
}

extern "C" void jm_cuda_conv2d_backward(float *din, float *dw, float *db, const float *dout,
					const float *in, const float *w, int B, int C, int H,
					int W, int OC, int K, int stride, int pad, float *scratch)
{
	plan p = plan_make(B, C, H, W, OC, K, stride, pad);
	if (B <= 0)
		return;
	if (!p.P) { /* no output: the input gets no gradient */
		if (din)
			jm_cuda_fill(din, 0.0f, (size_t)B * C * H * W);
		return;
	}
	int h16 = jm_cuda_16bit();
	if (h16 && !jm_cuda.conv_im2col && backward_igemm(din, dw, db, dout, in, w, B, C, H, W, OC, K,
							 stride, pad, scratch, p.col + p.y) == 0)
		return;
	const void *w16 = NULL;
	if (h16 && din && !(w16 = jm_cuda_round16(w, (size_t)OC * p.CKK)))
		return;
	float *col = scratch, *dY = scratch + p.col;
	for (int b0 = 0; b0 < B; b0 += p.nb) {
		int nb = B - b0 < p.nb ? B - b0 : p.nb;
		size_t m = (size_t)nb * p.P;
		const float *dout_b = dout + (size_t)b0 * OC * p.P;
		const float *in_b = in + (size_t)b0 * C * H * W;
		if (h16) {
			backward16_chunk(col, dY, dw, db, dout_b, in_b, w16, nb, C, H, W, OC, K,
					 stride, pad, &p);
		} else {
			jm_cuda_launch(k_nchw_to_y<float>, jm_cuda_blocks((size_t)OC * m),
				       JM_CUDA_THREADS, 0, dY, dout_b, nb, OC, p.P);
			if (db)
				jm_cuda_launch(k_rowsum_acc, OC, 256, 0, db, dY, m);
			if (dw) {
				jm_cuda_launch(k_im2col<float>, jm_cuda_blocks(p.CKK * m),
					       JM_CUDA_THREADS, 0, col, in_b, nb, C, H, W, K, stride,
					       pad, p.OH, p.OW);
				jm_cuda_sgemm(0, 1, OC, (int)p.CKK, (int)m, 1.0f, dY, col, 1.0f, dw);
			}
			if (din)
				jm_cuda_sgemm(1, 0, (int)p.CKK, (int)m, OC, 1.0f, w, dY, 0.0f, col);
		}
		if (din)
			jm_cuda_launch(k_col2im, jm_cuda_blocks((size_t)nb * C * H * W),
				       JM_CUDA_THREADS, 0, din + (size_t)b0 * C * H * W, col, nb, C,
				       H, W, K, stride, pad, p.OH, p.OW);
		if (JM_CUDA_LAUNCHED("convolution backward") < 0)
			return;
	}
}
