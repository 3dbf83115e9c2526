/*
 * cpu_conv.c: 2-D convolution on the CPU, as sgemm over shifted copies of
 * the input.
 *
 * Stride 1 (every "same" conv of a small CNN) uses row-shifted buffers: for
 * each channel c and kernel column kw, one copy of the input shifted by
 * kw - pad columns and padded to T = OH + K - 1 rows.  Kernel row kh then
 * reads rows kh .. kh+OH-1 of that copy, which are contiguous, so the
 * im2col matrix of kernel row kh is a strided view of the buffer and the
 * convolution is K GEMMs with inner size C*K.  The buffer is K times
 * smaller than a full im2col (and as fast through OpenBLAS: measured):
 *
 *   in [m,C,H,W] --shift--> r [C,K(kw),T,m,OW]     (m samples interleaved
 *                                                    per row)
 *   out[OC, OH*m*OW] = sum_kh wk[kh] [OC, C*K] x r[:, :, kh.., :, :]
 *                      --scatter--> out [m,OC,OH,OW] (+ bias)
 *
 * Chunks of m samples keep r small (in cache between the copy and the
 * GEMMs); with m = 1 the GEMMs write the NCHW output directly.  Backward:
 *
 *   dwt [kh][C*K, OC] += r(in)[kh view] x dy^T       (dw += its transpose)
 *   din = the stride-1 convolution of dout, padded by K-1-pad, with the
 *         flipped kernel wt[c][oc] = w[oc][c] rotated 180 degrees: the same
 *         shifted-buffer GEMMs, no scatter-add
 *
 * Other strides (and pad > K-1) take the textbook path: a full im2col
 * col [C*K*K, m*P], one GEMM, and col2im for din.
 */
#include <stddef.h>
#include <string.h>

#include "engine/backend.h"
#include "engine/cpu_ops.h"

/* Target size of one chunk's shifted buffer or im2col columns (floats):
 * 128 KB.  Small chunks won every layer of the benchmark CNN on Zen 4
 * (OpenBLAS 0.3.21, one thread): with 1 MB chunks the 32->32 28x28 layer
 * ran 7% slower and the 64->64 14x14 one 6%, with 2 MB 10% and 8%.  So
 * images of 7x7 and up go one sample at a time, GEMMs writing NCHW
 * directly; only small planes are batched. */
#define CONV_CHUNK_FLOATS ((size_t)1 << 15)

/* What both passes derive from the shapes, and where their buffers sit in
 * the scratch (offsets in floats). */
typedef struct conv_plan {
	int OH, OW, nb;
	size_t P;    /* OH*OW */
	int shifted; /* stride 1: shifted buffers, din as a convolution */
	int tpad;    /* that convolution's padding, K-1-pad */
	size_t buf;  /* shifted buffer or im2col columns */
	size_t y;    /* GEMM output / gathered dout when nb > 1 */
	size_t wk;   /* permuted weights [K][OC][C*K] or [K][C][OC*K] */
	size_t dwt;  /* dw accumulated transposed */
	size_t total;
} conv_plan;

static conv_plan conv_plan_make(int B, int C, int H, int W, int OC, int K,
				int S, int pad)
{
	conv_plan p = { 0 };
	/* an image smaller than the kernel has no output */
	p.OH = H + 2 * pad < K ? 0 : (H + 2 * pad - K) / S + 1;
	p.OW = W + 2 * pad < K ? 0 : (W + 2 * pad - K) / S + 1;
	p.P = (size_t)p.OH * p.OW;
	p.shifted = S == 1 && pad <= K - 1;
	p.tpad = K - 1 - pad;
	size_t KK = (size_t)K * K, HW = (size_t)H * W;
	size_t bufper, yper = p.P * OC;
	if (p.shifted) {
		size_t fwd = (size_t)C * K * (p.OH + K - 1) * p.OW;
		size_t bwd = (size_t)OC * K * (H + K - 1) * W;
		bufper = fwd > bwd ? fwd : bwd;
		if (HW * C > yper)
			yper = HW * C;
	} else {
		bufper = p.P * C * KK;
	}
	size_t nb = bufper ? CONV_CHUNK_FLOATS / bufper : 1;
	if (nb < 1)
		nb = 1;
	if (B > 0 && nb > (size_t)B)
		nb = (size_t)B;
	p.nb = (int)nb;
	p.buf = 0;
	p.y = nb * bufper;
	p.wk = p.y + (nb > 1 ? nb * yper : 0);
	p.dwt = p.wk + (p.shifted ? (size_t)C * OC * KK : 0);
	p.total = p.dwt + (size_t)C * OC * KK;
	return p;
}

/* ---- worker threads: a batch split across cores ----
 *
 * With n workers (jm_cpu_set_workers, 1 by default) a convolution's batch
 * is cut into n parts of ceil(B/n) samples, each run on its own thread with
 * its own scratch and one-thread BLAS calls; backward sums the parts'
 * weight and bias gradients afterwards in part order, so a run is
 * deterministic for a given worker count.  OpenBLAS's own threading loses
 * on these GEMM sizes (measured: the CNN at 2 BLAS threads ran at 0.63x one
 * thread), while the parts are independent.
 *
 * Scratch for n > 1: per part, the part's plan, then private dw [OC*C*K*K]
 * and db [OC]. */
static int conv_parts(int B)
{
	int w = jm_cpu_workers();
	return B < w ? (B > 0 ? B : 1) : w;
}

static size_t conv_part_floats(int Bp, int C, int H, int W, int OC, int K, int stride,
			       int pad)
{
	return conv_plan_make(Bp, C, H, W, OC, K, stride, pad).total +
	       (size_t)OC * C * K * K + (size_t)OC;
}

size_t jm_cpu_conv2d_scratch_floats(int B, int C, int H, int W, int OC,
				    int K, int stride, int pad)
{
	if (B <= 0)
		return 0;
	int n = conv_parts(B);
	if (n == 1)
		return conv_plan_make(B, C, H, W, OC, K, stride, pad).total;
	int Bp = (B + n - 1) / n;
	return (size_t)n * conv_part_floats(Bp, C, H, W, OC, K, stride, pad);
}

/* ---- building the shifted copies ---- */

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

/* One row: d[ow] = s[ow*S + off] for ow in [lo, hi), 0 elsewhere. */
JM_CPU_HOT static void conv_copy_row(float *restrict d,
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
 * d[t][ow] = plane[t + kh - pad][ow + kw - pad] for t < T (0 outside the
 * image), when the stride is 1 and the rows keep their width (OW == W):
 * the whole block is the plane shifted by a constant, so one memcpy moves
 * it and only the columns that wrapped around from the next row are
 * zeroed.
 */
static void conv_shift_plane(float *d, const float *plane, int H, int W,
			     int T, int pad, int kh, int kw)
{
	int t0 = pad - kh, t1 = H + pad - kh; /* rows with ih in [0, H) */
	if (t0 < 0)
		t0 = 0;
	if (t1 > T)
		t1 = T;
	if (t1 < t0)
		t1 = t0;
	memset(d, 0, (size_t)t0 * W * sizeof *d);
	memset(d + (size_t)t1 * W, 0, (size_t)(T - t1) * W * sizeof *d);
	if (t1 == t0)
		return;
	ptrdiff_t shift = (ptrdiff_t)(kh - pad) * W + (kw - pad);
	ptrdiff_t a = (ptrdiff_t)t0 * W, b = (ptrdiff_t)t1 * W;
	if (a + shift < 0)
		a = -shift;
	if (b + shift > (ptrdiff_t)H * W)
		b = (ptrdiff_t)H * W - shift;
	if (b > a)
		memcpy(d + a, plane + a + shift, (size_t)(b - a) * sizeof *d);
	int lo, hi;
	conv_valid_cols(W, W, 1, pad, kw, &lo, &hi);
	for (int t = t0; t < t1; t++) {
		float *r = d + (size_t)t * W;
		for (int ow = 0; ow < lo; ow++)
			r[ow] = 0.0f;
		for (int ow = hi; ow < W; ow++)
			r[ow] = 0.0f;
	}
}

/* r[c][kw][t][j][ow] = in[j][c][t - pad][ow + kw - pad] (0 outside the
 * image) for t < OH + K - 1: the stride-1 shifted buffer of m samples. */
static void conv_shift_rows(float *r, const float *in, int m, int C, int H,
			    int W, int K, int pad, int OH, int OW)
{
	int T = OH + K - 1;
	size_t rowlen = (size_t)m * OW;
	for (int c = 0; c < C; c++)
		for (int kw = 0; kw < K; kw++) {
			float *blk = r + ((size_t)c * K + kw) * T * rowlen;
			if (m == 1 && OW == W) {
				conv_shift_plane(blk, in + (size_t)c * H * W, H, W,
						 T, pad, 0, kw);
				continue;
			}
			int lo, hi, off = kw - pad;
			conv_valid_cols(OW, W, 1, pad, kw, &lo, &hi);
			for (int t = 0; t < T; t++) {
				int ih = t - pad;
				for (int j = 0; j < m; j++) {
					float *d = blk + (size_t)t * rowlen + (size_t)j * OW;
					if (ih < 0 || ih >= H)
						conv_copy_row(d, in, OW, 1, 0, 0, 0);
					else
						conv_copy_row(d, in + (((size_t)j * C + c) * H + ih) * W,
							      OW, 1, off, lo, hi);
				}
			}
		}
}

/* y[OC, OH*m*OW] = sum over kh of wk[kh] [OC, C*K] x (rows kh.. of r). */
static void conv_shift_gemm(float *y, const float *wk, const float *r, int m,
			    int C, int OC, int K, int OH, int OW)
{
	int CK = C * K, T = OH + K - 1;
	int rowlen = m * OW, N = OH * rowlen;
	for (int kh = 0; kh < K; kh++)
		jm_cpu_sgemm_ld(0, 0, OC, N, CK, 1.0f, wk + (size_t)kh * OC * CK,
				CK, r + (size_t)kh * rowlen, T * rowlen,
				kh ? 1.0f : 0.0f, y, N);
}

/* wk[kh][oc][c][kw] = w[oc][c][kh][kw], or with flip the kernel of din's
 * convolution: wk[kh][c][oc][kw] = w[oc][c][K-1-kh][K-1-kw]. */
static void conv_permute_kernel(float *wk, const float *w, int C, int OC,
				int K, int flip)
{
	for (int oc = 0; oc < OC; oc++)
		for (int c = 0; c < C; c++)
			for (int kh = 0; kh < K; kh++)
				for (int kw = 0; kw < K; kw++) {
					float v = w[(((size_t)oc * C + c) * K + kh) * K + kw];
					size_t d = flip
						? (((size_t)(K - 1 - kh) * C + c) * OC + oc) * K + (K - 1 - kw)
						: (((size_t)kh * OC + oc) * C + c) * K + kw;
					wk[d] = v;
				}
}

/* ---- the textbook path: full im2col ---- */

/* col[(c*K+kh)*K+kw][j*P + oh*OW + ow] = in[j][c][oh*S-pad+kh][ow*S-pad+kw]
 * (0 outside the image), for the nb samples at in. */
static void conv_im2col(float *col, const float *in, int nb, int C, int H,
			int W, int K, int S, int pad, int OH, int OW)
{
	size_t P = (size_t)OH * OW, ld = (size_t)nb * P;
	for (int j = 0; j < nb; j++)
		for (int c = 0; c < C; c++) {
			const float *plane = in + ((size_t)j * C + c) * H * W;
			for (int kh = 0; kh < K; kh++)
				for (int kw = 0; kw < K; kw++) {
					float *row = col + ((size_t)(c * K + kh) * K + kw) * ld + j * P;
					int lo, hi, off = kw - pad;
					conv_valid_cols(OW, W, S, pad, kw, &lo, &hi);
					for (int oh = 0; oh < OH; oh++) {
						int ih = oh * S - pad + kh;
						float *d = row + (size_t)oh * OW;
						if (ih < 0 || ih >= H)
							conv_copy_row(d, plane, OW, S, 0, 0, 0);
						else
							conv_copy_row(d, plane + (size_t)ih * W,
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

/* ---- moving between NCHW and the GEMMs' layouts ---- */

/*
 * The GEMM output of m samples is [OC][OH][m][OW] on the shifted path
 * (rows of one output row interleaved by sample) and [OC][m][OH][OW] on
 * the im2col path; `inter` picks.  out[j][oc][oh][ow] = y[...] + b[oc].
 */
JM_CPU_HOT static void conv_scatter(float *restrict out,
				    const float *restrict y,
				    const float *restrict b, int m, int OC,
				    int OH, int OW, int inter)
{
	for (int j = 0; j < m; j++)
		for (int oc = 0; oc < OC; oc++) {
			float bias = b ? b[oc] : 0.0f;
			for (int oh = 0; oh < OH; oh++) {
				float *d = out + (((size_t)j * OC + oc) * OH + oh) * OW;
				const float *s = inter
					? y + (((size_t)oc * OH + oh) * m + j) * OW
					: y + (((size_t)oc * m + j) * OH + oh) * OW;
				for (int ow = 0; ow < OW; ow++)
					d[ow] = s[ow] + bias;
			}
		}
}

/* The inverse move for dout: dy[...] = dout[j][oc][oh][ow]. */
static void conv_gather(float *dy, const float *dout, int m, int OC, int OH,
			int OW, int inter)
{
	for (int j = 0; j < m; j++)
		for (int oc = 0; oc < OC; oc++)
			for (int oh = 0; oh < OH; oh++) {
				const float *s = dout + (((size_t)j * OC + oc) * OH + oh) * OW;
				float *d = inter
					? dy + (((size_t)oc * OH + oh) * m + j) * OW
					: dy + (((size_t)oc * m + j) * OH + oh) * OW;
				memcpy(d, s, (size_t)OW * sizeof *d);
			}
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
		float acc[8] = { 0 };
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

/* ---- the ops ---- */

/* in [B,C,H,W], w [OC,C,K,K], b [OC] or NULL -> out [B,OC,OH,OW] */
static void conv_forward_part(float *out, const float *in, const float *w,
			      const float *b, int B, int C, int H, int W, int OC,
			      int K, int stride, int pad, float *scratch)
{
	conv_plan pl = conv_plan_make(B, C, H, W, OC, K, stride, pad);
	size_t P = pl.P;
	if (B <= 0 || P == 0)
		return;
	float *buf = scratch + pl.buf, *y = scratch + pl.y, *wk = scratch + pl.wk;
	if (pl.shifted)
		conv_permute_kernel(wk, w, C, OC, K, 0);

	for (int n0 = 0; n0 < B; n0 += pl.nb) {
		int m = B - n0 < pl.nb ? B - n0 : pl.nb;
		const float *x = in + (size_t)n0 * C * H * W;
		float *o = out + (size_t)n0 * OC * P;
		float *dst = m == 1 ? o : y;
		if (pl.shifted) {
			conv_shift_rows(buf, x, m, C, H, W, K, pad, pl.OH, pl.OW);
			conv_shift_gemm(dst, wk, buf, m, C, OC, K, pl.OH, pl.OW);
		} else {
			conv_im2col(buf, x, m, C, H, W, K, stride, pad, pl.OH, pl.OW);
			jm_cpu_sgemm(0, 0, OC, (int)(m * P), C * K * K, 1.0f, w, buf,
				     0.0f, dst);
		}
		if (m > 1)
			conv_scatter(o, y, b, m, OC, pl.OH, pl.OW, pl.shifted);
		else if (b)
			conv_add_bias(o, b, OC, P);
	}
}

/* dw[oc][c][kh][kw] += dwt[...]: [kh][c][kw][oc] on the shifted path,
 * [c][kh][kw][oc] on the im2col path. */
static void conv_add_dwt(float *dw, const float *dwt, int C, int OC, int K,
			 int shifted)
{
	for (int oc = 0; oc < OC; oc++)
		for (int c = 0; c < C; c++)
			for (int kh = 0; kh < K; kh++)
				for (int kw = 0; kw < K; kw++) {
					size_t s = shifted
						? (((size_t)kh * C + c) * K + kw) * OC + oc
						: (((size_t)c * K + kh) * K + kw) * OC + oc;
					dw[(((size_t)oc * C + c) * K + kh) * K + kw] += dwt[s];
				}
}

static void conv_backward_part(float *din, float *dw, float *db,
			       const float *dout, const float *in, const float *w,
			       int B, int C, int H, int W, int OC, int K,
			       int stride, int pad, float *scratch)
{
	conv_plan pl = conv_plan_make(B, C, H, W, OC, K, stride, pad);
	size_t P = pl.P, HW = (size_t)H * W;
	if (B <= 0)
		return;
	if (P == 0) { /* no output: no gradient reaches the input */
		if (din)
			memset(din, 0, (size_t)B * C * HW * sizeof *din);
		return;
	}
	int CK = C * K, CKK = C * K * K, T = pl.OH + K - 1;
	float *buf = scratch + pl.buf, *ybuf = scratch + pl.y;
	float *wk = scratch + pl.wk, *dwt = scratch + pl.dwt;
	if (din && pl.shifted)
		conv_permute_kernel(wk, w, C, OC, K, 1);
	if (dw)
		memset(dwt, 0, (size_t)CKK * OC * sizeof *dwt);

	for (int n0 = 0; n0 < B; n0 += pl.nb) {
		int m = B - n0 < pl.nb ? B - n0 : pl.nb;
		int N = (int)(m * P), rowlen = m * pl.OW;
		const float *x = in + (size_t)n0 * C * HW;
		const float *dchunk = dout + (size_t)n0 * OC * P, *dy = dchunk;
		float *dx = din ? din + (size_t)n0 * C * HW : NULL;
		if (m > 1 && (dw || db || !pl.shifted)) {
			conv_gather(ybuf, dchunk, m, OC, pl.OH, pl.OW, pl.shifted);
			dy = ybuf;
		}
		if (db)
			conv_bias_grad(db, dy, OC, (size_t)N);
		if (pl.shifted) {
			if (dw) {
				conv_shift_rows(buf, x, m, C, H, W, K, pad, pl.OH, pl.OW);
				for (int kh = 0; kh < K; kh++)
					jm_cpu_sgemm_ld(0, 1, CK, OC, N, 1.0f,
							buf + (size_t)kh * rowlen, T * rowlen,
							dy, N, 1.0f,
							dwt + (size_t)kh * CK * OC, OC);
			}
			if (dx) {
				conv_shift_rows(buf, dchunk, m, OC, pl.OH, pl.OW, K,
						pl.tpad, H, W);
				conv_shift_gemm(m == 1 ? dx : ybuf, wk, buf, m, OC, C,
						K, H, W);
				if (m > 1)
					conv_scatter(dx, ybuf, NULL, m, C, H, W, 1);
			}
			continue;
		}
		if (dw) {
			conv_im2col(buf, x, m, C, H, W, K, stride, pad, pl.OH, pl.OW);
			jm_cpu_sgemm(0, 1, CKK, OC, N, 1.0f, buf, dy, 1.0f, dwt);
		}
		if (dx) {
			jm_cpu_sgemm(1, 0, CKK, N, OC, 1.0f, w, dy, 0.0f, buf);
			memset(dx, 0, (size_t)m * C * HW * sizeof *dx);
			conv_col2im(dx, buf, m, C, H, W, K, stride, pad, pl.OH, pl.OW);
		}
	}
	if (dw)
		conv_add_dwt(dw, dwt, C, OC, K, pl.shifted);
}

/* One part of a batch, for a worker thread. */
typedef struct conv_job {
	int backward;
	float *out_or_din, *dw, *db;
	const float *in, *w, *b, *dout;
	int B, C, H, W, OC, K, stride, pad;
	float *scratch;
} conv_job;

static void conv_run_job(void *ctx, int i, int n)
{
	(void)n;
	conv_job *j = (conv_job *)ctx + i;
	if (j->backward)
		conv_backward_part(j->out_or_din, j->dw, j->db, j->dout, j->in, j->w, j->B,
				   j->C, j->H, j->W, j->OC, j->K, j->stride, j->pad, j->scratch);
	else
		conv_forward_part(j->out_or_din, j->in, j->w, j->b, j->B, j->C, j->H, j->W,
				  j->OC, j->K, j->stride, j->pad, j->scratch);
}

/* Cut [B, ...] into parts; fills jobs and returns how many. */
static int conv_split(conv_job *jobs, int backward, float *out_or_din, const float *in,
		      const float *dout, int B, int C, int H, int W, int OC, int K, int stride,
		      int pad, float *scratch)
{
	int n = conv_parts(B), Bp = (B + n - 1) / n, parts = 0;
	conv_plan pl = conv_plan_make(B, C, H, W, OC, K, stride, pad);
	size_t per = conv_part_floats(Bp, C, H, W, OC, K, stride, pad);
	size_t in_per = (size_t)C * H * W, out_per = (size_t)OC * pl.P;
	for (int n0 = 0; n0 < B; n0 += Bp, parts++) {
		conv_job *j = &jobs[parts];
		int m = B - n0 < Bp ? B - n0 : Bp;
		float *s = scratch + (size_t)parts * per;
		size_t wsize = (size_t)OC * C * K * K;
		*j = (conv_job){
			.backward = backward, .B = m, .C = C, .H = H, .W = W, .OC = OC, .K = K,
			.stride = stride, .pad = pad, .scratch = s + wsize + (size_t)OC,
			.in = in + (size_t)n0 * in_per,
			.dout = dout ? dout + (size_t)n0 * out_per : NULL,
			.dw = s, .db = s + wsize,
		};
		if (out_or_din)
			j->out_or_din = out_or_din + (size_t)n0 * (backward ? in_per : out_per);
	}
	return parts;
}

void jm_cpu_conv2d_forward(float *out, const float *in, const float *w,
			   const float *b, int B, int C, int H, int W, int OC,
			   int K, int stride, int pad, float *scratch)
{
	if (conv_parts(B) == 1) {
		conv_forward_part(out, in, w, b, B, C, H, W, OC, K, stride, pad, scratch);
		return;
	}
	conv_job jobs[JM_CPU_MAX_WORKERS];
	int n = conv_split(jobs, 0, out, in, NULL, B, C, H, W, OC, K, stride, pad, scratch);
	for (int i = 0; i < n; i++) {
		jobs[i].w = w;
		jobs[i].b = b;
	}
	jm_cpu_parallel(n, conv_run_job, jobs);
}

void jm_cpu_conv2d_backward(float *din, float *dw, float *db,
			    const float *dout, const float *in, const float *w,
			    int B, int C, int H, int W, int OC, int K,
			    int stride, int pad, float *scratch)
{
	if (conv_parts(B) == 1) {
		conv_backward_part(din, dw, db, dout, in, w, B, C, H, W, OC, K, stride, pad,
				   scratch);
		return;
	}
	conv_job jobs[JM_CPU_MAX_WORKERS];
	int n = conv_split(jobs, 1, din, in, dout, B, C, H, W, OC, K, stride, pad, scratch);
	size_t wsize = (size_t)OC * C * K * K;
	for (int i = 0; i < n; i++) {
		jobs[i].w = w;
		/* private accumulators, summed below in part order */
		if (dw)
			memset(jobs[i].dw, 0, wsize * sizeof(float));
		else
			jobs[i].dw = NULL;
		if (db)
			memset(jobs[i].db, 0, (size_t)OC * sizeof(float));
		else
			jobs[i].db = NULL;
	}
	jm_cpu_parallel(n, conv_run_job, jobs);
	for (int i = 0; i < n; i++) {
		if (dw)
			for (size_t k = 0; k < wsize; k++)
				dw[k] += jobs[i].dw[k];
		if (db)
			for (int k = 0; k < OC; k++)
				db[k] += jobs[i].db[k];
	}
}
