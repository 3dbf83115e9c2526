/*
 * cuda_conv_igemm.cu: convolutions at bf16/fp16 as implicit GEMMs on the
 * tensor cores (WMMA 16x16x16, fp32 sums).  The im2col path
 * (cuda_conv.cu) writes every column to memory and reads it back, which
 * for a 3x3 convolution is nine times the input, twice a step; here each
 * block gathers its tiles of the same virtual matrices straight into
 * shared memory, rounded to 16 bits as the im2col path rounds them, so
 * the products are the same and only the order of the fp32 sums differs.
 * The three GEMMs (forward, input and weight gradients) and where each of
 * their elements comes from are in conv_igemm_index.h, which a CPU test
 * runs these loops over.  A block computes a BM x BN tile of the result
 * with 4 warps of 32 x 32, stepping through the sum 32 at a time; each
 * thread gathers the next step's share of the tiles into registers while
 * the tensor cores work on this step's in shared memory.
 * wgrad's sum runs over every pixel of the batch, so it is split over
 * blocks (grid.z), each writing its partial tile into the scratch; one
 * more kernel adds the parts in a fixed order, so a run is reproducible.
 *
 * JIANMO_CUDA_CONV=ci: the forward and input gradient with the input
 * channel innermost in the sum (conv_igemm_index.h, ig_ci_*), where the
 * channel counts allow it (multiples of 32; dgrad at stride 1): the
 * weights are re-laid and rounded once a call into the 16-bit scratch,
 * and a thread checks its column's bounds once a step of the sum instead
 * of decoding and checking each element.  And wgrad gathers B with the
 * lanes along the pixels (a row each: neighbours in memory) into a
 * column-major tile, where the default's lanes walk (c, kh, kw) and a
 * warp's load touches a dozen places.  Same products, sums in another
 * order.  A variant to measure against the default, not yet the default.
 */
#include <mma.h>
#include <type_traits>

#include "cuda/conv_igemm_index.h"
#include "cuda/cuda_common.cuh"

using namespace nvcuda;

enum { IG_THREADS = 128 };

/* One BM x BN tile of the result (BM = 32 WM, BN = 32 WN, WM * WN = 4
 * warps).  fwd: out = the tile plus the bias, into NCHW; dgrad: out = the
 * tile, into NCHW; wgrad: this split's partial tile into part[z][M][N]. */
template <typename T, int MODE, int WM, int WN, bool CI>
__global__ void __launch_bounds__(IG_THREADS)
	k_conv_igemm(float *out, const float *w, const T *a16, const float *in, const float *dout,
		     const float *bias, ig_shape s)
{
	constexpr int BM = 32 * WM, BN = 32 * WN, BK = IG_BK;
	/* CI (JIANMO_CUDA_CONV=ci): fwd and dgrad sum with the channels
	 * inner (CIK); wgrad gathers B a row per lane (TB: lanes along the
	 * pixels, which lie side by side in memory) into a column-major tile */
	constexpr bool CIK = CI && MODE != IG_WGRAD, TB = CI && MODE == IG_WGRAD;
	/* WMMA's ldm: a multiple of 8 for 16-bit elements, of 4 for float */
	constexpr int LDA = BK + 8, LDB = TB ? BK + 8 : BN + 8, LDC = BN + 4;
	__shared__ __align__(32) T As[BM * LDA];
	__shared__ __align__(32) T Bs[TB ? BN * LDB : BK * LDB];
	__shared__ __align__(32) float Cs[BM * LDC];
	__shared__ ig_col cols[TB ? BN : 1]; /* TB: the block's columns, decoded once */
	const int tid = threadIdx.x, warp = tid / 32, wm = warp / WN, wn = warp % WN;
	const int m0 = blockIdx.y * BM, n0 = blockIdx.x * BN;
	int k_lo = 0, k_hi = s.Kdim;
	if (MODE == IG_WGRAD) {
		k_lo = blockIdx.z * s.k_per_split;
		k_hi = min(s.Kdim, k_lo + s.k_per_split);
	}
	/* the row table of the step being loaded, double-buffered: the next
	 * step's is written while this one's loads may still read it */
	__shared__ ig_row rows[2][BK];
	/* each thread loads one column of B (BN divides IG_THREADS * k) */
	const int bcol = tid % BN, brow0 = tid / BN;
	constexpr int BROWS = IG_THREADS / BN > 0 ? IG_THREADS / BN : 1;
	constexpr int BREGS = BK / BROWS;
	/* (TB reads the block's table instead) */
	const ig_col col = TB ? ig_col{} : ig_column(&s, MODE, n0 + bcol);
	if (TB && tid < BN)
		cols[tid] = ig_column(&s, MODE, n0 + tid);
	/* and one column of A */
	const int acol = tid % BK, arow0 = tid / BK;
	constexpr int AROWS = IG_THREADS / BK, AREGS = BM / AROWS;
	/* a step's tiles in registers: the next step's gathers are in flight
	 * while the tensor cores work on this one's */
	float areg[AREGS], breg[BREGS];
	T areg16[AREGS]; /* CIK: A is 16-bit already */

	wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc[2][2];
	for (int i = 0; i < 2; i++)
		for (int j = 0; j < 2; j++)
			wmma::fill_fragment(acc[i][j], 0.0f);

	/* this thread's share of step k's tiles into registers (rt: its rows) */
	auto gather = [&](int k, const ig_row *rt) {
		if constexpr (CIK) {
			/* every row of the step has one (kh, kw): one check */
#pragma unroll
			for (int q = 0; q < AREGS; q++) {
				int m = m0 + arow0 + q * AROWS;
				areg16[q] = m < s.M ? a16[(size_t)m * s.Kdim + k + acol]
						    : jm_cuda_store_as<T>(0.0f);
			}
			size_t off = 0;
			int plane = 0;
			int ok = ig_ci_step(&s, MODE, &col, k, &off, &plane);
			/* off is only an element's where ok (padding: no address) */
			const float *src = (MODE == IG_FWD ? in : dout) + (ok ? off : 0);
#pragma unroll
			for (int q = 0; q < BREGS; q++)
				breg[q] = ok ? src[(size_t)(brow0 + q * BROWS) * plane] : 0.0f;
		} else {
			const ig_row *ra = &rt[acol]; /* k + acol's */
#pragma unroll
			for (int q = 0; q < AREGS; q++) {
				int m = m0 + arow0 + q * AROWS;
				areg[q] = m < s.M && ra->off >= 0 ? ig_a(&s, MODE, w, dout, m, ra)
								  : 0.0f;
			}
			if constexpr (TB) {
				/* row k + lane, columns warp, warp + 4, ...: a warp
				 * reads one column's 32 pixels */
				const ig_row *rb = &rt[tid % 32];
#pragma unroll
				for (int q = 0; q < BREGS; q++)
					breg[q] = ig_b(&s, MODE, in, dout, &cols[tid / 32 + 4 * q], rb);
			} else {
#pragma unroll
				for (int q = 0; q < BREGS; q++)
					breg[q] = ig_b(&s, MODE, in, dout, &col,
						       &rt[brow0 + q * BROWS]);
			}
		}
	};

	if (!CIK && tid < BK)
		rows[0][tid] = ig_rowpart(&s, MODE, k_lo + tid, k_hi);
	__syncthreads(); /* the row table, and TB's columns */
	if (k_lo < k_hi)
		gather(k_lo, rows[0]);
	int it = 0;
	for (int k0 = k_lo; k0 < k_hi; k0 += BK, it++) {
#pragma unroll
		for (int q = 0; q < AREGS; q++)
			As[(arow0 + q * AROWS) * LDA + acol] =
				CIK ? areg16[q] : jm_cuda_store_as<T>(areg[q]);
#pragma unroll
		for (int q = 0; q < BREGS; q++)
			if constexpr (TB) /* column-major: Bs[n][k] */
				Bs[(tid / 32 + 4 * q) * LDB + tid % 32] = jm_cuda_store_as<T>(breg[q]);
			else
				Bs[(brow0 + q * BROWS) * LDB + bcol] = jm_cuda_store_as<T>(breg[q]);
		int next = k0 + BK < k_hi;
		if (!CIK && next && tid < BK)
			rows[(it + 1) & 1][tid] = ig_rowpart(&s, MODE, k0 + BK + tid, k_hi);
		__syncthreads(); /* the tiles, and the next step's row table */
		if (next) /* in flight while the tensor cores work on this step */
			gather(k0 + BK, rows[(it + 1) & 1]);
#pragma unroll
		for (int kk = 0; kk < BK; kk += 16) {
			using b_layout = std::conditional_t<TB, wmma::col_major, wmma::row_major>;
			wmma::fragment<wmma::matrix_a, 16, 16, 16, T, wmma::row_major> a[2];
			wmma::fragment<wmma::matrix_b, 16, 16, 16, T, b_layout> b[2];
			for (int i = 0; i < 2; i++)
				wmma::load_matrix_sync(a[i], As + (wm * 32 + i * 16) * LDA + kk, LDA);
			for (int j = 0; j < 2; j++)
				wmma::load_matrix_sync(b[j],
						       TB ? Bs + (wn * 32 + j * 16) * LDB + kk
							  : Bs + kk * LDB + wn * 32 + j * 16,
						       LDB);
			for (int i = 0; i < 2; i++)
				for (int j = 0; j < 2; j++)
					wmma::mma_sync(acc[i][j], a[i], b[j], acc[i][j]);
		}
		__syncthreads(); /* before the next step's tiles overwrite these */
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
		out[ig_out_index(&s, MODE, m, n, blockIdx.z)] =
			MODE == IG_FWD && bias ? v + bias[m] : v;
	}
}

/* dw[i] += the splits' parts of it, in a fixed order: a block takes 32
 * elements (a lane each, reading along a part) and IG_SPLIT_GROUPS groups of
 * the parts (group g: parts g, g + IG_SPLIT_GROUPS, ... in turn), then adds
 * the groups in order.  (A thread per element over a hundred parts waited
 * on each in turn, in every convolution's backward.) */
__global__ void __launch_bounds__(32 * IG_SPLIT_GROUPS)
	k_splits_sum_acc(float *dw, const float *part, int splits, size_t mn)
{
	__shared__ float sums[IG_SPLIT_GROUPS][32];
	int lane = threadIdx.x, g = threadIdx.y;
	size_t i = (size_t)blockIdx.x * 32 + lane;
	float t = 0.0f;
	if (i < mn)
		for (int z = g; z < splits; z += IG_SPLIT_GROUPS)
			t += part[(size_t)z * mn + i];
	sums[g][lane] = t;
	__syncthreads();
	if (g == 0 && i < mn) {
		float u = sums[0][lane];
		for (int k = 1; k < IG_SPLIT_GROUPS; k++)
			u += sums[k][lane];
		dw[i] += u;
	}
}

template <typename T, int MODE, bool CI>
static void launch_igemm(float *out, const float *w, const void *a16, const float *in,
			 const float *dout, const float *bias, const ig_shape &s, int splits)
{
	const T *a = (const T *)a16;
	if (s.M <= 32) { /* a 32-row tile wastes nothing on 32 channels */
		dim3 grid((unsigned)((s.N + 127) / 128), (unsigned)((s.M + 31) / 32), (unsigned)splits);
		jm_cuda_launch(k_conv_igemm<T, MODE, 1, 4, CI>, grid, IG_THREADS, 0, out, w, a, in,
			       dout, bias, s);
	} else {
		dim3 grid((unsigned)((s.N + 63) / 64), (unsigned)((s.M + 63) / 64), (unsigned)splits);
		jm_cuda_launch(k_conv_igemm<T, MODE, 2, 2, CI>, grid, IG_THREADS, 0, out, w, a, in,
			       dout, bias, s);
	}
}

/* The weights re-laid for the channels-inner order (ig_ci_w) and rounded */
template <typename T>
__global__ void k_ci_weights(T *a, const float *w, ig_shape s, int mode)
{
	JM_CUDA_FOR(i, (size_t)s.M * s.Kdim) a[i] = jm_cuda_store_as<T>(w[ig_ci_w(&s, mode, i)]);
}

/* The channels-inner A for s, in the 16-bit scratch; NULL when it cannot
 * be had (the error recorded). */
template <typename T>
static const void *ci_weights(const float *w, const ig_shape &s, int mode)
{
	size_t n = (size_t)s.M * s.Kdim;
	void *a = jm_cuda_half_scratch(n);
	if (!a)
		return NULL;
	jm_cuda_launch(k_ci_weights<T>, jm_cuda_blocks(n), JM_CUDA_THREADS, 0, (T *)a, w, s, mode);
	return a;
}

/* Launch mode's GEMM, channels inner when JIANMO_CUDA_CONV=ci and s allows
 * it; -1 when its weights could not be laid out. */
template <int MODE, typename T>
static int dispatch_t(float *out, const float *w, const float *in, const float *dout,
		      const float *bias, const ig_shape &s, int splits)
{
	if constexpr (MODE == IG_WGRAD) {
		if (jm_cuda.conv_ci) { /* B gathered a row per lane */
			launch_igemm<T, MODE, true>(out, w, nullptr, in, dout, bias, s, splits);
			return 0;
		}
	} else {
		if (jm_cuda.conv_ci && ig_ci_ok(&s, MODE)) {
			const void *a = ci_weights<T>(w, s, MODE);
			if (!a)
				return -1;
			launch_igemm<T, MODE, true>(out, nullptr, a, in, dout, bias, s, splits);
			return 0;
		}
	}
	launch_igemm<T, MODE, false>(out, w, nullptr, in, dout, bias, s, splits);
	return 0;
}

template <int MODE>
static int dispatch(float *out, const float *w, const float *in, const float *dout,
		    const float *bias, const ig_shape &s, int splits)
{
	if (jm_cuda.precision == JM_PREC_BF16)
		return dispatch_t<MODE, __nv_bfloat16>(out, w, in, dout, bias, s, splits);
	return dispatch_t<MODE, __half>(out, w, in, dout, bias, s, splits);
}

extern "C" int jm_cuda_conv_igemm_forward(float *out, const float *in, const float *w,
					  const float *b, int B, int C, int H, int W, int OC, int K,
					  int S, int pad)
{
	ig_shape s;
	if (ig_shape_make(&s, IG_FWD, B, C, H, W, OC, K, S, pad) < 0)
		return -1;
	if (dispatch<IG_FWD>(out, w, in, nullptr, b, s, 1) < 0)
		return -1;
	JM_CUDA_LAUNCHED("convolution (implicit GEMM)");
	return 0;
}

extern "C" int jm_cuda_conv_igemm_dgrad(float *din, const float *dout, const float *w, int B,
					int C, int H, int W, int OC, int K, int S, int pad)
{
	ig_shape s;
	if (ig_shape_make(&s, IG_DGRAD, B, C, H, W, OC, K, S, pad) < 0)
		return -1;
	if (dispatch<IG_DGRAD>(din, w, nullptr, dout, nullptr, s, 1) < 0)
		return -1;
	JM_CUDA_LAUNCHED("convolution input gradient (implicit GEMM)");
	return 0;
}

/* scratch: room for the splits' partial tiles (scratch_floats of them). */
extern "C" int jm_cuda_conv_igemm_wgrad(float *dw, const float *dout, const float *in, int B,
					int C, int H, int W, int OC, int K, int S, int pad,
					float *scratch, size_t scratch_floats)
{
	ig_shape s;
	int splits;
	if (ig_shape_make(&s, IG_WGRAD, B, C, H, W, OC, K, S, pad) < 0 ||
	    !(splits = ig_splits(&s, scratch_floats)))
		return -1;
	size_t mn = (size_t)s.M * s.N;
	dispatch<IG_WGRAD>(scratch, nullptr, in, dout, nullptr, s, splits);
	jm_cuda_launch(k_splits_sum_acc, (unsigned)((mn + 31) / 32), dim3(32, IG_SPLIT_GROUPS), 0, dw,
		       (const float *)scratch, splits, mn);
	JM_CUDA_LAUNCHED("convolution weight gradient (implicit GEMM)");
	return 0;
}
