/*
 * cuda_conv_igemm.cu: convolutions at bf16/fp16 as implicit GEMMs on the
 * tensor cores (WMMA 16x16x16, fp32 sums).  The im2col path
 * (cuda_conv.cu) writes every column to memory and reads it back, which
 * for a 3x3 convolution is nine times the input, twice a step; here each
 * block gathers its tiles of the same virtual matrices straight into
 * shared memory, rounded to 16 bits as the im2col path rounds them, so
 * the products are the same and only the order of the fp32 sums differs.
 *
 *   forward  out[OC, B*P]    = w[OC, CKK]        x  cols(in)[CKK, B*P]
 *   dgrad    din[C, B*H*W]   = w^T[C, OC*K*K]    x  rows(dout)[OC*K*K, B*H*W]
 *   wgrad    dw[OC, CKK]    += dout[OC, B*P]     x  cols(in)^T[B*P, CKK]
 *
 * (CKK = C*K*K, P = OH*OW; "cols" is im2col's matrix, "rows" the one whose
 * product col2im would fold.)  A block computes a BM x BN tile of the
 * result with 4 warps of 32 x 32, stepping through the sum 32 at a time.
 * wgrad's sum runs over every pixel of the batch, so it is split over
 * blocks (grid.z), each writing its partial tile into the scratch; one
 * more kernel adds the parts in a fixed order, so a run is reproducible.
 */
#include <mma.h>

#include "cuda/cuda_common.cuh"

using namespace nvcuda;

enum { IG_FWD = 0, IG_DGRAD, IG_WGRAD };

typedef struct ig_shape {
	int B, C, H, W, OC, K, S, pad, OH, OW;
	int M, N, Kdim;  /* the GEMM's */
	int k_per_split; /* wgrad: the sum's share of one block (a multiple of 32) */
} ig_shape;

enum { IG_BK = 32, IG_THREADS = 128 };

/* B's element (k, n) is src[col.base + row.off + y * W' + x] with
 * (y, x) from the row's and the column's parts (W' the source's width),
 * or 0 outside the source.  The column part is fixed for a thread's whole
 * kernel, the row part for a step of the sum: a table in shared memory,
 * so the gather itself divides nothing.
 *
 *          column n                      row k
 *   fwd    b, oh*S - pad, ow*S - pad     c, kh, kw         y = col.y + kh
 *   dgrad  b, ih + pad, iw + pad         oc, kh, kw        t = col.y - kh, y = t / S
 *   wgrad  c, kh - pad, kw - pad         b, oh*S, ow*S     y = row.y + col.y */
typedef struct ig_col {
	int ok;      /* the column is inside the matrix */
	size_t base; /* its sample's (fwd, dgrad) or channel's (wgrad) offset */
	int y, x;
} ig_col;

typedef struct ig_row {
	int off, y, x; /* ok: off >= 0 */
} ig_row;

template <int MODE>
__device__ __forceinline__ ig_col ig_column(const ig_shape &s, int n)
{
	ig_col c = {n < s.N, 0, 0, 0};
	if (!c.ok)
		return c;
	if (MODE == IG_FWD) {
		int P = s.OH * s.OW, p = n % P;
		c.base = (size_t)(n / P) * s.C * s.H * s.W;
		c.y = p / s.OW * s.S - s.pad;
		c.x = p % s.OW * s.S - s.pad;
	} else if (MODE == IG_DGRAD) {
		int HW = s.H * s.W, q = n % HW;
		c.base = (size_t)(n / HW) * s.OC * s.OH * s.OW;
		c.y = q / s.W + s.pad;
		c.x = q % s.W + s.pad;
	} else {
		int KK = s.K * s.K, r = n % KK;
		c.base = (size_t)(n / KK) * s.H * s.W;
		c.y = r / s.K - s.pad;
		c.x = r % s.K - s.pad;
	}
	return c;
}

template <int MODE>
__device__ __forceinline__ ig_row ig_rowpart(const ig_shape &s, int k, int k_hi)
{
	ig_row r = {-1, 0, 0};
	if (k >= k_hi)
		return r;
	if (MODE == IG_WGRAD) {
		int P = s.OH * s.OW, p = k % P;
		r.off = k / P * s.C * s.H * s.W;
		r.y = p / s.OW * s.S;
		r.x = p % s.OW * s.S;
	} else {
		int KK = s.K * s.K, q = k % KK;
		r.off = k / KK * (MODE == IG_FWD ? s.H * s.W : s.OH * s.OW);
		r.y = q / s.K;
		r.x = q % s.K;
	}
	return r;
}

template <int MODE>
__device__ __forceinline__ float ig_b(const ig_shape &s, const float *in, const float *dout,
				      const ig_col &c, const ig_row &r)
{
	if (!c.ok || r.off < 0)
		return 0.0f;
	if (MODE == IG_DGRAD) {
		int t = c.y - r.y, u = c.x - r.x;
		if (t < 0 || u < 0 || t % s.S || u % s.S)
			return 0.0f;
		int oh = t / s.S, ow = u / s.S;
		return oh < s.OH && ow < s.OW ? dout[c.base + r.off + (size_t)oh * s.OW + ow] : 0.0f;
	}
	int ih = c.y + r.y, iw = c.x + r.x;
	return ih >= 0 && ih < s.H && iw >= 0 && iw < s.W
		       ? in[c.base + r.off + (size_t)ih * s.W + iw]
		       : 0.0f;
}

/* A[m][k] (both inside the matrix, checked by the caller) */
template <int MODE>
__device__ __forceinline__ float ig_a(const ig_shape &s, const float *w, const float *dout, int m,
				      int k)
{
	if (MODE == IG_FWD)
		return w[(size_t)m * s.Kdim + k];
	if (MODE == IG_DGRAD) {
		int KK = s.K * s.K;
		return w[((size_t)(k / KK) * s.C + m) * KK + k % KK];
	}
	int P = s.OH * s.OW;
	return dout[((size_t)(k / P) * s.OC + m) * P + k % P];
}

/* One BM x BN tile of the result (BM = 32 WM, BN = 32 WN, WM * WN = 4
 * warps).  fwd: out = the tile plus the bias, into NCHW; dgrad: out = the
 * tile, into NCHW; wgrad: this split's partial tile into part[z][M][N]. */
template <typename T, int MODE, int WM, int WN>
__global__ void __launch_bounds__(IG_THREADS)
	k_conv_igemm(float *out, const float *w, const float *in, const float *dout,
		     const float *bias, ig_shape s)
{
	constexpr int BM = 32 * WM, BN = 32 * WN, BK = IG_BK;
	constexpr int LDA = BK + 8, LDB = BN + 8, LDC = BN + 4; /* WMMA wants ldm % 8 == 0 */
	__shared__ __align__(32) T As[BM * LDA];
	__shared__ __align__(32) T Bs[BK * LDB];
	__shared__ __align__(32) float Cs[BM * LDC];
	const int tid = threadIdx.x, warp = tid / 32, wm = warp / WN, wn = warp % WN;
	const int m0 = blockIdx.y * BM, n0 = blockIdx.x * BN;
	int k_lo = 0, k_hi = s.Kdim;
	if (MODE == IG_WGRAD) {
		k_lo = blockIdx.z * s.k_per_split;
		k_hi = min(s.Kdim, k_lo + s.k_per_split);
	}
	__shared__ ig_row rows[BK];
	/* each thread loads one column of B (BN divides IG_THREADS * k) */
	const int bcol = tid % BN, brow0 = tid / BN;
	constexpr int BROWS = IG_THREADS / BN > 0 ? IG_THREADS / BN : 1;
	const ig_col col = ig_column<MODE>(s, n0 + bcol);
	/* and one column of A */
	const int acol = tid % BK, arow0 = tid / BK;
	constexpr int AROWS = IG_THREADS / BK;

	wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc[2][2];
	for (int i = 0; i < 2; i++)
		for (int j = 0; j < 2; j++)
			wmma::fill_fragment(acc[i][j], 0.0f);

	for (int k0 = k_lo; k0 < k_hi; k0 += BK) {
		if (tid < BK)
			rows[tid] = ig_rowpart<MODE>(s, k0 + tid, k_hi);
		int ka = k0 + acol;
		for (int r = arow0; r < BM; r += AROWS) {
			int m = m0 + r;
			As[r * LDA + acol] = jm_cuda_store_as<T>(
				m < s.M && ka < k_hi ? ig_a<MODE>(s, w, dout, m, ka) : 0.0f);
		}
		__syncthreads(); /* the row table */
		for (int r = brow0; r < BK; r += BROWS)
			Bs[r * LDB + bcol] = jm_cuda_store_as<T>(ig_b<MODE>(s, in, dout, col, rows[r]));
		__syncthreads();
#pragma unroll
		for (int kk = 0; kk < BK; kk += 16) {
			wmma::fragment<wmma::matrix_a, 16, 16, 16, T, wmma::row_major> a[2];
			wmma::fragment<wmma::matrix_b, 16, 16, 16, T, wmma::row_major> b[2];
			for (int i = 0; i < 2; i++)
				wmma::load_matrix_sync(a[i], As + (wm * 32 + i * 16) * LDA + kk, LDA);
			for (int j = 0; j < 2; j++)
				wmma::load_matrix_sync(b[j], Bs + kk * LDB + wn * 32 + j * 16, LDB);
			for (int i = 0; i < 2; i++)
				for (int j = 0; j < 2; j++)
					wmma::mma_sync(acc[i][j], a[i], b[j], acc[i][j]);
		}
		__syncthreads();
	}
	for (int i = 0; i < 2; i++)
		for (int j = 0; j < 2; j++)
			wmma::store_matrix_sync(Cs + (wm * 32 + i * 16) * LDC + wn * 32 + j * 16,
						acc[i][j], LDC, wmma::mem_row_major);
	__syncthreads();
	for (int e = tid; e < BM * BN; e += IG_THREADS) {
		int r = e / BN, c = e % BN, m = m0 + r, n = n0 + c;
		if (m >= s.M || n >= s.N)
			continue;
		float v = Cs[r * LDC + c];
		if (MODE == IG_FWD) {
			int P = s.OH * s.OW;
			out[((size_t)(n / P) * s.OC + m) * P + n % P] = v + (bias ? bias[m] : 0.0f);
		} else if (MODE == IG_DGRAD) {
			int HW = s.H * s.W;
			out[((size_t)(n / HW) * s.C + m) * HW + n % HW] = v;
		} else {
			out[((size_t)blockIdx.z * s.M + m) * s.N + n] = v;
		}
	}
}

/* dw[i] += the splits' parts of it, in order */
__global__ void k_splits_sum_acc(float *dw, const float *part, int splits, size_t mn)
{
	JM_CUDA_FOR(i, mn)
	{
		float t = 0.0f;
		for (int z = 0; z < splits; z++)
			t += part[(size_t)z * mn + i];
		dw[i] += t;
	}
}

template <typename T, int MODE>
static void launch_igemm(float *out, const float *w, const float *in, const float *dout,
			 const float *bias, const ig_shape &s, int splits)
{
	if (s.M <= 32) { /* a 32-row tile wastes nothing on 32 channels */
		dim3 grid((unsigned)((s.N + 127) / 128), (unsigned)((s.M + 31) / 32), (unsigned)splits);
		jm_cuda_launch(k_conv_igemm<T, MODE, 1, 4>, grid, IG_THREADS, 0, out, w, in, dout, bias,
			       s);
	} else {
		dim3 grid((unsigned)((s.N + 63) / 64), (unsigned)((s.M + 63) / 64), (unsigned)splits);
		jm_cuda_launch(k_conv_igemm<T, MODE, 2, 2>, grid, IG_THREADS, 0, out, w, in, dout, bias,
			       s);
	}
}

template <int MODE>
static void dispatch(float *out, const float *w, const float *in, const float *dout,
		     const float *bias, const ig_shape &s, int splits)
{
	if (jm_cuda.precision == JM_PREC_BF16)
		launch_igemm<__nv_bfloat16, MODE>(out, w, in, dout, bias, s, splits);
	else
		launch_igemm<__half, MODE>(out, w, in, dout, bias, s, splits);
}

static int shape_make(ig_shape *s, int B, int C, int H, int W, int OC, int K, int S, int pad)
{
	memset(s, 0, sizeof *s);
	s->B = B, s->C = C, s->H = H, s->W = W, s->OC = OC, s->K = K, s->S = S, s->pad = pad;
	s->OH = (H + 2 * pad - K) / S + 1;
	s->OW = (W + 2 * pad - K) / S + 1;
	/* int indices throughout: every tensor and matrix side below 2^31 */
	const double lim = 2147483647.0;
	double in_n = (double)B * C * H * W, out_n = (double)B * OC * s->OH * s->OW;
	double ckk = (double)C * K * K, okk = (double)OC * K * K;
	if (in_n >= lim || out_n >= lim || ckk * OC >= lim || okk >= lim)
		return -1;
	return 0;
}

extern "C" int jm_cuda_conv_igemm_forward(float *out, const float *in, const float *w,
					  const float *b, int B, int C, int H, int W, int OC, int K,
					  int S, int pad)
{
	ig_shape s;
	if (shape_make(&s, B, C, H, W, OC, K, S, pad) < 0)
		return -1;
	s.M = OC, s.N = B * s.OH * s.OW, s.Kdim = C * K * K;
	dispatch<IG_FWD>(out, w, in, nullptr, b, s, 1);
	JM_CUDA_LAUNCHED("convolution (implicit GEMM)");
	return 0;
}

extern "C" int jm_cuda_conv_igemm_dgrad(float *din, const float *dout, const float *w, int B,
					int C, int H, int W, int OC, int K, int S, int pad)
{
	ig_shape s;
	if (shape_make(&s, B, C, H, W, OC, K, S, pad) < 0)
		return -1;
	s.M = C, s.N = B * H * W, s.Kdim = OC * K * K;
	dispatch<IG_DGRAD>(din, w, nullptr, dout, nullptr, s, 1);
	JM_CUDA_LAUNCHED("convolution input gradient (implicit GEMM)");
	return 0;
}

/* scratch: room for the splits' parts (scratch_floats of them). */
extern "C" int jm_cuda_conv_igemm_wgrad(float *dw, const float *dout, const float *in, int B,
					int C, int H, int W, int OC, int K, int S, int pad,
					float *scratch, size_t scratch_floats)
{
	ig_shape s;
	if (shape_make(&s, B, C, H, W, OC, K, S, pad) < 0)
		return -1;
	s.M = OC, s.N = C * K * K, s.Kdim = B * s.OH * s.OW;
	size_t mn = (size_t)s.M * s.N;
	/* enough blocks for the GPU (a few hundred), each summing at least 8
	 * steps of 32, as many as the scratch holds parts for */
	size_t tiles = ((size_t)(s.M + 63) / 64) * (((size_t)s.N + 63) / 64);
	size_t want = (512 + tiles - 1) / tiles, most = (size_t)(s.Kdim + 255) / 256;
	if (want > most)
		want = most;
	if (want > scratch_floats / mn)
		want = scratch_floats / mn;
	if (want > 65535)
		want = 65535;
	if (want < 1)
		return -1;
	int per = (int)(((size_t)s.Kdim + want - 1) / want);
	per = (per + IG_BK - 1) / IG_BK * IG_BK;
	int splits = (s.Kdim + per - 1) / per;
	s.k_per_split = per;
	dispatch<IG_WGRAD>(scratch, nullptr, in, dout, nullptr, s, splits);
	jm_cuda_launch(k_splits_sum_acc, jm_cuda_blocks(mn), JM_CUDA_THREADS, 0, dw, scratch, splits,
		       mn);
	JM_CUDA_LAUNCHED("convolution weight gradient (implicit GEMM)");
	return 0;
}
