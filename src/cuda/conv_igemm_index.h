/*
 * conv_igemm_index.h: where each element of the implicit GEMMs of
 * cuda_conv_igemm.cu comes from and goes to, as plain C that both the
 * kernels (host and device functions under nvcc) and a CPU test
 * (tests/test_conv_igemm.c, which runs the kernels' loops over them and
 * holds the result to the CPU convolution) compile.
 *
 *   forward  out[OC, B*P]    = w[OC, CKK]        x  cols(in)[CKK, B*P]
 *   dgrad    din[C, B*H*W]   = w^T[C, OC*K*K]    x  rows(dout)[OC*K*K, B*H*W]
 *   wgrad    dw[OC, CKK]    += dout[OC, B*P]     x  cols(in)^T[B*P, CKK]
 *
 * (CKK = C*K*K, P = OH*OW.)  B's element (k, n) is
 * src[col.base + row.off + y * W' + x] with (y, x) from the row's part and
 * the column's (W' the source's width), or 0 outside the source:
 *
 *          column n                      row k
 *   fwd    b, oh*S - pad, ow*S - pad     c, kh, kw         y = col.y + kh
 *   dgrad  b, ih + pad, iw + pad         oc, kh, kw        t = col.y - kh, y = t / S
 *   wgrad  c, kh - pad, kw - pad         b, oh*S, ow*S     y = row.y + col.y
 *
 * A's element (m, k) is src[row.aoff + m * stride] (w for fwd and dgrad,
 * dout for wgrad), the stride Kdim, K*K or OH*OW.
 *
 * A block's columns are fixed for the kernel and its rows for a step of
 * the sum, so each is decoded once (the rows, with their part of A's
 * offset, into a table in shared memory) and the gathers divide nothing;
 * dgrad at a stride above 1 divides by it.  Indices are int: ig_shape_make
 * refuses shapes whose tensors reach 2^31 elements.
 */
#ifndef JM_CONV_IGEMM_INDEX_H
#define JM_CONV_IGEMM_INDEX_H

#include <stddef.h>

#ifdef __CUDACC__
#define JM_IG_FN static __host__ __device__ __forceinline__
#else
#define JM_IG_FN static inline
#endif

enum { IG_FWD = 0, IG_DGRAD, IG_WGRAD };
enum { IG_BK = 32 }; /* a step of the sum */
/* wgrad's parts are added in this many groups (group g: parts g, g + 8,
 * ... in turn), then the groups in order */
enum { IG_SPLIT_GROUPS = 8 };

typedef struct ig_shape {
	int B, C, H, W, OC, K, S, pad, OH, OW;
	int M, N, Kdim;  /* the GEMM's */
	int k_per_split; /* wgrad: the sum's share of one block (a multiple of IG_BK) */
} ig_shape;

typedef struct ig_col {
	int ok;      /* the column is inside the matrix */
	size_t base; /* its sample's (fwd, dgrad) or channel's (wgrad) offset */
	int y, x;
} ig_col;

typedef struct ig_row {
	int off, y, x; /* B's part; inside the sum's range: off >= 0 */
	int aoff;      /* A's part (ig_a) */
} ig_row;

/* The GEMM of mode for a convolution; 0, or -1 past int indices. */
JM_IG_FN int ig_shape_make(ig_shape *s, int mode, int B, int C, int H, int W, int OC, int K,
			   int S, int pad)
{
	s->B = B, s->C = C, s->H = H, s->W = W, s->OC = OC, s->K = K, s->S = S, s->pad = pad;
	s->OH = H + 2 * pad < K ? 0 : (H + 2 * pad - K) / S + 1;
	s->OW = W + 2 * pad < K ? 0 : (W + 2 * pad - K) / S + 1;
	s->k_per_split = 0;
	const double lim = 2147483647.0;
	double in_n = (double)B * C * H * W, out_n = (double)B * OC * s->OH * s->OW;
	if (s->OH <= 0 || s->OW <= 0 || in_n >= lim || out_n >= lim ||
	    (double)C * K * K * OC >= lim)
		return -1;
	int P = s->OH * s->OW;
	if (mode == IG_FWD)
		s->M = OC, s->N = B * P, s->Kdim = C * K * K;
	else if (mode == IG_DGRAD)
		s->M = C, s->N = B * H * W, s->Kdim = OC * K * K;
	else
		s->M = OC, s->N = C * K * K, s->Kdim = B * P;
	return 0;
}

JM_IG_FN ig_col ig_column(const ig_shape *s, int mode, int n)
{
	ig_col c = {n < s->N, 0, 0, 0};
	if (!c.ok)
		return c;
	if (mode == IG_FWD) {
		int P = s->OH * s->OW, p = n % P;
		c.base = (size_t)(n / P) * s->C * s->H * s->W;
		c.y = p / s->OW * s->S - s->pad;
		c.x = p % s->OW * s->S - s->pad;
	} else if (mode == IG_DGRAD) {
		int HW = s->H * s->W, q = n % HW;
		c.base = (size_t)(n / HW) * s->OC * s->OH * s->OW;
		c.y = q / s->W + s->pad;
		c.x = q % s->W + s->pad;
	} else {
		int KK = s->K * s->K, r = n % KK;
		c.base = (size_t)(n / KK) * s->H * s->W;
		c.y = r / s->K - s->pad;
		c.x = r % s->K - s->pad;
	}
	return c;
}

JM_IG_FN ig_row ig_rowpart(const ig_shape *s, int mode, int k, int k_hi)
{
	ig_row r = {-1, 0, 0, 0};
	if (k >= k_hi)
		return r;
	if (mode == IG_WGRAD) {
		int P = s->OH * s->OW, b = k / P, p = k % P;
		r.off = b * s->C * s->H * s->W;
		r.y = p / s->OW * s->S;
		r.x = p % s->OW * s->S;
		r.aoff = b * s->OC * P + p; /* dout[b][m][p] */
	} else {
		int KK = s->K * s->K, o = k / KK, q = k % KK;
		r.off = o * (mode == IG_FWD ? s->H * s->W : s->OH * s->OW);
		r.y = q / s->K;
		r.x = q % s->K;
		/* fwd: w[m][k]; dgrad: w[o][m][q] */
		r.aoff = mode == IG_FWD ? k : o * s->C * KK + q;
	}
	return r;
}

/* B[k][n] from its row and column parts: in (fwd, wgrad) or dout (dgrad). */
JM_IG_FN float ig_b(const ig_shape *s, int mode, const float *in, const float *dout,
		    const ig_col *c, const ig_row *r)
{
	if (!c->ok || r->off < 0)
		return 0.0f;
	if (mode == IG_DGRAD) {
		int oh = c->y - r->y, ow = c->x - r->x;
		if (oh < 0 || ow < 0)
			return 0.0f;
		if (s->S != 1) { /* the same for every thread: no divergence */
			if (oh % s->S || ow % s->S)
				return 0.0f;
			oh /= s->S, ow /= s->S;
		}
		return oh < s->OH && ow < s->OW ? dout[c->base + r->off + (size_t)oh * s->OW + ow]
						: 0.0f;
	}
	int ih = c->y + r->y, iw = c->x + r->x;
	return ih >= 0 && ih < s->H && iw >= 0 && iw < s->W
		       ? in[c->base + r->off + (size_t)ih * s->W + iw]
		       : 0.0f;
}

/* A[m][k] (both inside the matrix, r k's row part): w (fwd, dgrad) or
 * dout (wgrad). */
JM_IG_FN float ig_a(const ig_shape *s, int mode, const float *w, const float *dout, int m,
		    const ig_row *r)
{
	int stride = mode == IG_FWD ? s->Kdim : mode == IG_DGRAD ? s->K * s->K : s->OH * s->OW;
	return (mode == IG_WGRAD ? dout : w)[r->aoff + (size_t)m * stride];
}

/* Where result (m, n) goes: out's NCHW element (fwd, dgrad), or split z's
 * partial tile [z][M][N] (wgrad). */
JM_IG_FN size_t ig_out_index(const ig_shape *s, int mode, int m, int n, int z)
{
	if (mode == IG_FWD) {
		int P = s->OH * s->OW;
		return ((size_t)(n / P) * s->OC + m) * P + n % P;
	}
	if (mode == IG_DGRAD) {
		int HW = s->H * s->W;
		return ((size_t)(n / HW) * s->C + m) * HW + n % HW;
	}
	return ((size_t)z * s->M + m) * s->N + n;
}

/* wgrad: the sum split over enough blocks for a GPU (a few hundred), each
 * summing at least 8 steps of IG_BK, as many as scratch_floats holds
 * partial tiles for; sets k_per_split, returns the splits, or 0 when the
 * scratch holds not even one. */
JM_IG_FN int ig_splits(ig_shape *s, size_t scratch_floats)
{
	size_t mn = (size_t)s->M * s->N;
	size_t tiles = ((size_t)(s->M + 63) / 64) * (((size_t)s->N + 63) / 64);
	size_t want = (512 + tiles - 1) / tiles, most = ((size_t)s->Kdim + 255) / 256;
	if (want > most)
		want = most;
	if (want > scratch_floats / mn)
		want = scratch_floats / mn;
	if (want > 65535)
		want = 65535;
	if (want < 1)
		return 0;
	int per = (int)(((size_t)s->Kdim + want - 1) / want);
	per = (per + IG_BK - 1) / IG_BK * IG_BK;
	s->k_per_split = per;
	return (s->Kdim + per - 1) / per;
}

/* ---- channels inner (JIANMO_CUDA_CONV=ci) ----
 * The same forward and input-gradient GEMMs with the sum's index in
 * another order: k = q * Cin + ci, q = kh * K + kw, ci the input channel
 * (fwd) or output channel (dgrad), Cin = C or OC.  When Cin is a multiple
 * of IG_BK, the rows of a step of the sum share one (kh, kw): a thread
 * checks its column's bounds once a step and reads IG_BK planes apart,
 * where the order above checks and decodes every element.  A is then the
 * weights re-laid once per call (ig_ci_w), contiguous along k:
 *   fwd    A[m = oc][k] = w[oc][ci][q]
 *   dgrad  A[m = c][k]  = w[ci][c][q]      (stride 1 only)
 * B's element (k, n), with ig_column's column: */
JM_IG_FN int ig_ci_ok(const ig_shape *s, int mode)
{
	if (mode == IG_FWD)
		return s->C % IG_BK == 0;
	return mode == IG_DGRAD && s->S == 1 && s->OC % IG_BK == 0;
}

/* Where B's step k0 starts for a column: *src_off the element of its
 * first row (ci = k0 % Cin), *plane the distance to the next row; 0 when
 * the column reads padding (or is outside) for the whole step. */
JM_IG_FN int ig_ci_step(const ig_shape *s, int mode, const ig_col *c, int k0, size_t *src_off,
			int *plane)
{
	if (!c->ok)
		return 0;
	int Cin = mode == IG_FWD ? s->C : s->OC, q = k0 / Cin, ci = k0 % Cin;
	int kh = q / s->K, kw = q % s->K;
	if (mode == IG_FWD) {
		int ih = c->y + kh, iw = c->x + kw;
		*plane = s->H * s->W;
		*src_off = c->base + (size_t)ci * *plane + (size_t)ih * s->W + iw;
		return ih >= 0 && ih < s->H && iw >= 0 && iw < s->W;
	}
	int oh = c->y - kh, ow = c->x - kw;
	*plane = s->OH * s->OW;
	*src_off = c->base + (size_t)ci * *plane + (size_t)oh * s->OW + ow;
	return oh >= 0 && oh < s->OH && ow >= 0 && ow < s->OW;
}

/* The weight at the re-laid A's element i (i < M * Kdim): its index in w. */
JM_IG_FN size_t ig_ci_w(const ig_shape *s, int mode, size_t i)
{
	int KK = s->K * s->K;
	size_t m = i / (size_t)s->Kdim;
	int k = (int)(i % (size_t)s->Kdim);
	int Cin = mode == IG_FWD ? s->C : s->OC, q = k / Cin, ci = k % Cin;
	if (mode == IG_FWD)
		return (m * (size_t)s->C + (size_t)ci) * KK + q;
	return ((size_t)ci * s->C + m) * KK + q;
}

#endif
