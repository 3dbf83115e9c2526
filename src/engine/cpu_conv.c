/*
 * cpu_conv.c: 2-D convolution and pooling on the CPU.
 *
 * Convolution is im2col + one sgemm per chunk of nb samples, the chunk
 * sized so the scratch stays a few MB (it lives in cache between the
 * im2col pass and the GEMM that reads it):
 *
 *   in [nb,C,H,W] --im2col--> col [C*K*K, nb*P]          P = OH*OW
 *   w [OC, C*K*K] x col  ---> y [OC, nb*P] --scatter--> out [nb,OC,P] (+b)
 *
 * With nb = 1 the GEMM writes the sample's NCHW output directly.  Backward
 * reuses the same scratch:
 *
 *   dout [nb,OC,P] --gather--> dy [OC, nb*P]
 *   dw [OC,CKK] += dy x col^T                      (col rebuilt from in)
 *
 * and for stride 1 computes din as the convolution of dout (padded by
 * K-1-pad) with the flipped, transposed kernel, so it is the forward path
 * again, a GEMM with inner size OC*K*K and no scatter-add:
 *
 *   dout --im2col--> dcol [OC*K*K, nb*H*W]
 *   wt [C, OC*K*K] x dcol ---> din (directly, or through y when nb > 1)
 *
 * Other strides use the adjoint of im2col: dcol = w^T x dy, then col2im.
 *
 * Pooling is plain loops; max pooling records the flat in-plane index of
 * each maximum for backward.
 */
#include <math.h>
#include <stddef.h>
#include <string.h>

#include "engine/cpu_ops.h"

/* Target size of one chunk's im2col columns (floats): 1 MB, about L2, so
 * the GEMM reads what im2col just wrote from cache.  Measured on Zen 4
 * (bench_ops): 4 MB chunks ran the 32->32 28x28 layer 20% slower. */
#define CONV_CHUNK_FLOATS ((size_t)1 << 18)

/* What the forward and backward passes derive from the shapes, and where
 * their buffers sit in the scratch (offsets in floats). */
typedef struct conv_plan {
	int OH, OW, CKK, nb;
	size_t P;       /* OH*OW */
	int transposed; /* din as a stride-1 convolution of dout */
	int tpad;       /* its padding, K-1-pad */
	size_t col, y, wt, total;
} conv_plan;

static conv_plan conv_plan_make(int B, int C, int H, int W, int OC, int K,
				int S, int pad)
{
	conv_plan p = { 0 };
	p.OH = (H + 2 * pad - K) / S + 1;
	p.OW = (W + 2 * pad - K) / S + 1;
	p.P = (size_t)p.OH * p.OW;
	p.CKK = C * K * K;
	p.transposed = S == 1 && pad <= K - 1;
	p.tpad = K - 1 - pad;
	size_t HW = (size_t)H * W, KK = (size_t)K * K;
	size_t colper = p.P * p.CKK, yper = p.P * OC;
	if (p.transposed) {
		if (HW * OC * KK > colper)
			colper = HW * OC * KK;
		if (HW * C > yper)
			yper = HW * C;
	}
	size_t nb = colper ? CONV_CHUNK_FLOATS / colper : 1;
	if (nb < 1)
		nb = 1;
	if (B > 0 && nb > (size_t)B)
		nb = (size_t)B;
	p.nb = (int)nb;
	p.col = 0;
	p.y = nb * colper;
	p.wt = p.y + (nb > 1 ? nb * yper : 0);
	p.total = p.wt + (p.transposed ? (size_t)C * OC * KK : 0);
	return p;
}

size_t jm_cpu_conv2d_scratch_floats(int B, int C, int H, int W, int OC,
				    int K, int stride, int pad)
{
	if (B <= 0)
		return 0;
	return conv_plan_make(B, C, H, W, OC, K, stride, pad).total;
}

/* The output columns [lo, hi) of a row of width OW whose input column
 * ow*S - pad + kw falls inside [0, W). */
static void conv_valid_cols(int OW, int W, int S, int pad, int kw, int *lo,
			    int *hi)
{
	int a = pad - kw, b = W + pad - kw; /* need a <= ow*S < b */
	int l = a <= 0 ? 0 : (a + S - 1) / S;
	int h = b <= 0 ? 0 : (b + S - 1) / S;
	if (l > OW)
		l = OW;
	if (h > OW)
		h = OW;
	if (h < l)
		h = l;
	*lo = l;
	*hi = h;
}

/* One output row of im2col: d[ow] = s[ow*S + off] for ow in [lo, hi), 0
 * elsewhere. */
JM_CPU_HOT static void conv_im2col_row(float *restrict d,
				       const float *restrict s, int OW, int S,
				       int off, int lo, int hi)
{
	for (int ow = 0; ow < lo; ow++)
		d[ow] = 0.0f;
	for (int ow = lo; ow < hi; ow++)
		d[ow] = s[ow * S + off];
	for (int ow = hi; ow < OW; ow++)
		d[ow] = 0.0f;
}

/*
 * One im2col row (c, kh, kw) of one sample when stride is 1 and OW == W
 * (the "same" padding of odd kernels): the row is the plane shifted by
 * (kh - pad) rows and (kw - pad) columns, so one memcpy moves all of it
 * and only the columns that wrapped around from the next row are zeroed.
 */
static void conv_im2col_shift(float *d, const float *plane, int H, int W,
			      int OH, int pad, int kh, int kw)
{
	int oh0 = pad - kh, oh1 = H + pad - kh; /* rows with ih in [0, H) */
	if (oh0 < 0)
		oh0 = 0;
	if (oh1 > OH)
		oh1 = OH;
	if (oh1 < oh0)
		oh1 = oh0;
	memset(d, 0, (size_t)oh0 * W * sizeof *d);
	memset(d + (size_t)oh1 * W, 0, (size_t)(OH - oh1) * W * sizeof *d);
	if (oh1 == oh0)
		return;
	ptrdiff_t shift = (ptrdiff_t)(kh - pad) * W + (kw - pad);
	ptrdiff_t t0 = (ptrdiff_t)oh0 * W, t1 = (ptrdiff_t)oh1 * W;
	if (t0 + shift < 0)
		t0 = -shift;
	if (t1 + shift > (ptrdiff_t)H * W)
		t1 = (ptrdiff_t)H * W - shift;
	if (t1 > t0)
		memcpy(d + t0, plane + t0 + shift, (size_t)(t1 - t0) * sizeof *d);
	int lo, hi;
	conv_valid_cols(W, W, 1, pad, kw, &lo, &hi);
	for (int oh = oh0; oh < oh1; oh++) {
		float *r = d + (size_t)oh * W;
		for (int ow = 0; ow < lo; ow++)
			r[ow] = 0.0f;
		for (int ow = hi; ow < W; ow++)
			r[ow] = 0.0f;
	}
}

/* col[(c*K+kh)*K+kw][j*P + oh*OW + ow] = in[j][c][oh*S-pad+kh][ow*S-pad+kw]
 * (0 outside the image), for the nb samples at in. */
static void conv_im2col(float *col, const float *in, int nb, int C, int H,
			int W, int K, int S, int pad, int OH, int OW)
{
	size_t P = (size_t)OH * OW, ld = (size_t)nb * P;
	int shifted = S == 1 && OW == W;
	for (int j = 0; j < nb; j++)
		for (int c = 0; c < C; c++) {
			const float *plane = in + ((size_t)j * C + c) * H * W;
			for (int kh = 0; kh < K; kh++)
				for (int kw = 0; kw < K; kw++) {
					float *row = col + ((size_t)(c * K + kh) * K + kw) * ld + j * P;
					if (shifted) {
						conv_im2col_shift(row, plane, H, W, OH, pad, kh, kw);
						continue;
					}
					int lo, hi, off = kw - pad;
					conv_valid_cols(OW, W, S, pad, kw, &lo, &hi);
					for (int oh = 0; oh < OH; oh++) {
						int ih = oh * S - pad + kh;
						float *d = row + (size_t)oh * OW;
						if (ih < 0 || ih >= H)
							conv_im2col_row(d, plane, OW, S, 0, 0, 0);
						else
							conv_im2col_row(d, plane + (size_t)ih * W,
									OW, S, off, lo, hi);
					}
				}
		}
}

/* The adjoint of conv_im2col: din[j][c][ih][iw] += every col entry that
 * was copied from it.  din must be zeroed first. */
static void conv_col2im(float *din, const float *col, int nb, int C, int H,
			int W, int K, int S, int pad, int OH, int OW)
{
	size_t P = (size_t)OH * OW, ld = (size_t)nb * P;
	for (int j = 0; j < nb; j++)
		for (int c = 0; c < C; c++) {
			float *plane = din + ((size_t)j * C + c) * H * W;
			for (int kh = 0; kh < K; kh++)
				for (int kw = 0; kw < K; kw++) {
					const float *row = col + ((size_t)(c * K + kh) * K + kw) * ld + j * P;
					int lo, hi;
					conv_valid_cols(OW, W, S, pad, kw, &lo, &hi);
					for (int oh = 0; oh < OH; oh++) {
						int ih = oh * S - pad + kh;
						if (ih < 0 || ih >= H)
							continue;
						const float *src = row + (size_t)oh * OW;
						float *d = plane + (size_t)ih * W;
						int off = kw - pad;
						for (int ow = lo; ow < hi; ow++)
							d[ow * S + off] += src[ow];
					}
				}
		}
}

/* out[j][oc][p] = y[oc][j*P + p] + b[oc], for the nb samples at out. */
JM_CPU_HOT static void conv_scatter(float *restrict out,
				    const float *restrict y,
				    const float *restrict b, int nb, int OC,
				    size_t P)
{
	for (int j = 0; j < nb; j++)
		for (int oc = 0; oc < OC; oc++) {
			float *d = out + ((size_t)j * OC + oc) * P;
			const float *s = y + (size_t)oc * nb * P + (size_t)j * P;
			float bias = b ? b[oc] : 0.0f;
			for (size_t p = 0; p < P; p++)
				d[p] = s[p] + bias;
		}
}

/* dy[oc][j*P + p] = dout[j][oc][p]. */
static void conv_gather(float *dy, const float *dout, int nb, int OC,
			size_t P)
{
	for (int j = 0; j < nb; j++)
		for (int oc = 0; oc < OC; oc++)
			memcpy(dy + (size_t)oc * nb * P + (size_t)j * P,
			       dout + ((size_t)j * OC + oc) * P, P * sizeof *dy);
}

JM_CPU_HOT static void conv_add_bias(float *restrict out,
				     const float *restrict b, int OC, size_t P)
{
	for (int oc = 0; oc < OC; oc++) {
		float *d = out + (size_t)oc * P;
		for (size_t p = 0; p < P; p++)
			d[p] += b[oc];
	}
}

/* db[oc] += sum_p dy[oc][p] over rows of length n. */
JM_CPU_HOT static void conv_bias_grad(float *restrict db,
				      const float *restrict dy, int OC,
				      size_t n)
{
	for (int oc = 0; oc < OC; oc++) {
		const float *s = dy + (size_t)oc * n;
		float acc[8] = {0};
		size_t p = 0;
		for (; p + 8 <= n; p += 8)
			for (int k = 0; k < 8; k++)
				acc[k] += s[p + k];
		float t = 0.0f;
		for (; p < n; p++)
			t += s[p];
		db[oc] += t + ((acc[0] + acc[4]) + (acc[1] + acc[5])) +
			  ((acc[2] + acc[6]) + (acc[3] + acc[7]));
	}
}

/* in [B,C,H,W], w [OC,C,K,K], b [OC] or NULL -> out [B,OC,OH,OW] */
void jm_cpu_conv2d_forward(float *out, const float *in, const float *w,
			   const float *b, int B, int C, int H, int W, int OC,
			   int K, int stride, int pad, float *scratch)
{
	conv_plan pl = conv_plan_make(B, C, H, W, OC, K, stride, pad);
	size_t P = pl.P;
	float *col = scratch + pl.col, *y = scratch + pl.y;

	for (int n0 = 0; n0 < B; n0 += pl.nb) {
		int m = B - n0 < pl.nb ? B - n0 : pl.nb;
		const float *x = in + (size_t)n0 * C * H * W;
		float *o = out + (size_t)n0 * OC * P;
		conv_im2col(col, x, m, C, H, W, K, stride, pad, pl.OH, pl.OW);
		if (m == 1) {
			jm_cpu_sgemm(0, 0, OC, (int)P, pl.CKK, 1.0f, w, col, 0.0f, o);
			if (b)
				conv_add_bias(o, b, OC, P);
		} else {
			jm_cpu_sgemm(0, 0, OC, (int)(m * P), pl.CKK, 1.0f, w, col,
				     0.0f, y);
			conv_scatter(o, y, b, m, OC, P);
		}
	}
}

/* wt[c][oc][kh][kw] = w[oc][c][K-1-kh][K-1-kw]: the kernel of the
 * convolution that maps dout to din. */
static void conv_flip_kernel(float *wt, const float *w, int C, int OC, int K)
{
	int KK = K * K;
	for (int oc = 0; oc < OC; oc++)
		for (int c = 0; c < C; c++) {
			const float *s = w + ((size_t)oc * C + c) * KK;
			float *d = wt + ((size_t)c * OC + oc) * KK;
			for (int k = 0; k < KK; k++)
				d[k] = s[KK - 1 - k];
		}
}

void jm_cpu_conv2d_backward(float *din, float *dw, float *db,
			    const float *dout, const float *in, const float *w,
			    int B, int C, int H, int W, int OC, int K,
			    int stride, int pad, float *scratch)
{
	conv_plan pl = conv_plan_make(B, C, H, W, OC, K, stride, pad);
	size_t P = pl.P, HW = (size_t)H * W;
	int CKK = pl.CKK, OKK = OC * K * K;
	float *col = scratch + pl.col, *ybuf = scratch + pl.y;
	float *wt = scratch + pl.wt;
	if (din && pl.transposed)
		conv_flip_kernel(wt, w, C, OC, K);

	for (int n0 = 0; n0 < B; n0 += pl.nb) {
		int m = B - n0 < pl.nb ? B - n0 : pl.nb;
		int N = (int)(m * P);
		const float *x = in + (size_t)n0 * C * HW;
		const float *dchunk = dout + (size_t)n0 * OC * P, *dy = dchunk;
		if (m > 1 && (dw || db)) {
			conv_gather(ybuf, dchunk, m, OC, P);
			dy = ybuf;
		}
		if (db)
			conv_bias_grad(db, dy, OC, (size_t)N);
		if (dw) {
			conv_im2col(col, x, m, C, H, W, K, stride, pad, pl.OH, pl.OW);
			jm_cpu_sgemm(0, 1, OC, CKK, N, 1.0f, dy, col, 1.0f, dw);
		}
		if (!din)
			continue;
		float *dx = din + (size_t)n0 * C * HW;
		if (pl.transposed) {
			conv_im2col(col, dchunk, m, OC, pl.OH, pl.OW, K, 1, pl.tpad,
				    H, W);
			if (m == 1) {
				jm_cpu_sgemm(0, 0, C, (int)HW, OKK, 1.0f, wt, col,
					     0.0f, dx);
			} else {
				jm_cpu_sgemm(0, 0, C, (int)(m * HW), OKK, 1.0f, wt,
					     col, 0.0f, ybuf);
				conv_scatter(dx, ybuf, NULL, m, C, HW);
			}
		} else {
			if (m > 1 && !(dw || db)) {
				conv_gather(ybuf, dchunk, m, OC, P);
				dy = ybuf;
			}
			jm_cpu_sgemm(1, 0, CKK, N, OC, 1.0f, w, dy, 0.0f, col);
			memset(dx, 0, (size_t)m * C * HW * sizeof *dx);
			conv_col2im(dx, col, m, C, H, W, K, stride, pad, pl.OH, pl.OW);
		}
	}
}

/* ---- pooling ---- */

void jm_cpu_maxpool_forward(float *out, int32_t *argmax, const float *in,
			    int B, int C, int H, int W, int K, int S)
{
	int OH = (H - K) / S + 1, OW = (W - K) / S + 1;
	size_t planes = (size_t)B * C;
	for (size_t pl = 0; pl < planes; pl++) {
		const float *x = in + pl * H * W;
		float *o = out + pl * OH * OW;
		int32_t *am = argmax + pl * OH * OW;
		for (int oh = 0; oh < OH; oh++)
			for (int ow = 0; ow < OW; ow++) {
				int h0 = oh * S, w0 = ow * S;
				int best = h0 * W + w0;
				float bv = x[best];
				for (int kh = 0; kh < K; kh++)
					for (int kw = 0; kw < K; kw++) {
						int i = (h0 + kh) * W + w0 + kw;
						float v = x[i];
						/* first maximum wins; NaN propagates (PyTorch) */
						if (v > bv || (isnan(v) && !isnan(bv))) {
							bv = v;
							best = i;
						}
					}
				o[oh * OW + ow] = bv;
				am[oh * OW + ow] = best;
			}
	}
}

void jm_cpu_maxpool_backward(float *din, const float *dout,
			     const int32_t *argmax, int B, int C, int H, int W,
			     int K, int S)
{
	int OH = (H - K) / S + 1, OW = (W - K) / S + 1;
	size_t planes = (size_t)B * C, P = (size_t)OH * OW;
	memset(din, 0, planes * H * W * sizeof *din);
	for (size_t pl = 0; pl < planes; pl++) {
		float *d = din + pl * H * W;
		const float *g = dout + pl * P;
		const int32_t *am = argmax + pl * P;
		for (size_t i = 0; i < P; i++)
			d[am[i]] += g[i];
	}
}

void jm_cpu_avgpool_forward(float *out, const float *in, int B, int C, int H,
			    int W, int K, int S)
{
	int OH = (H - K) / S + 1, OW = (W - K) / S + 1;
	size_t planes = (size_t)B * C;
	float inv = 1.0f / (float)(K * K);
	for (size_t pl = 0; pl < planes; pl++) {
		const float *x = in + pl * H * W;
		float *o = out + pl * OH * OW;
		for (int oh = 0; oh < OH; oh++)
			for (int ow = 0; ow < OW; ow++) {
				float s = 0.0f;
				for (int kh = 0; kh < K; kh++)
					for (int kw = 0; kw < K; kw++)
						s += x[(oh * S + kh) * W + ow * S + kw];
				o[oh * OW + ow] = s * inv;
			}
	}
}

void jm_cpu_avgpool_backward(float *din, const float *dout, int B, int C,
			     int H, int W, int K, int S)
{
	int OH = (H - K) / S + 1, OW = (W - K) / S + 1;
	size_t planes = (size_t)B * C;
	float inv = 1.0f / (float)(K * K);
	memset(din, 0, planes * H * W * sizeof *din);
	for (size_t pl = 0; pl < planes; pl++) {
		float *d = din + pl * H * W;
		const float *g = dout + pl * OH * OW;
		for (int oh = 0; oh < OH; oh++)
			for (int ow = 0; ow < OW; ow++) {
				float v = g[oh * OW + ow] * inv;
				for (int kh = 0; kh < K; kh++)
					for (int kw = 0; kw < K; kw++)
						d[(oh * S + kh) * W + ow * S + kw] += v;
			}
	}
}

/* in [B,C,HW] -> out [B,C] (mean over the plane) */
JM_CPU_HOT void jm_cpu_gap_forward(float *out, const float *in, int B, int C,
				   int HW)
{
	size_t planes = (size_t)B * C;
	float inv = 1.0f / (float)HW;
	for (size_t pl = 0; pl < planes; pl++) {
		const float *x = in + pl * HW;
		float acc[8] = {0}, t = 0.0f;
		int i = 0;
		for (; i + 8 <= HW; i += 8)
			for (int k = 0; k < 8; k++)
				acc[k] += x[i + k];
		for (; i < HW; i++)
			t += x[i];
		t += ((acc[0] + acc[4]) + (acc[1] + acc[5])) +
		     ((acc[2] + acc[6]) + (acc[3] + acc[7]));
		out[pl] = t * inv;
	}
}

JM_CPU_HOT void jm_cpu_gap_backward(float *din, const float *dout, int B,
				    int C, int HW)
{
	size_t planes = (size_t)B * C;
	float inv = 1.0f / (float)HW;
	for (size_t pl = 0; pl < planes; pl++) {
		float v = dout[pl] * inv;
		float *d = din + pl * HW;
		for (int i = 0; i < HW; i++)
			d[i] = v;
	}
}
