/*
 * norm_index.h: walking one channel of an NCHW batch without dividing per
 * element, for batch norm's reductions (cuda_norm.cu); plain C, so
 * tests/test_conv_igemm.c checks the walk on the CPU.
 *
 * Channel c's k-th value (k < B*HW) is element (b*C + c)*HW + j with
 * b = k / HW, j = k % HW.  A thread starts at its first k with one division
 * and then steps by the block's width: j += width % HW, b += width / HW,
 * carrying one plane when j passes HW.
 */
#ifndef JM_NORM_INDEX_H
#define JM_NORM_INDEX_H

#include <stddef.h>

#ifdef __CUDACC__
#define JM_NI_FN static __host__ __device__ __forceinline__
#else
#define JM_NI_FN static inline
#endif

typedef struct bn_walk {
	size_t off;    /* the element's index in the batch */
	int j;         /* its place in the plane */
	int db, dj;    /* a step: whole planes and the rest */
	size_t stride; /* C*HW: one sample further */
	int HW;
} bn_walk;

/* Channel c's k-th value, and steps of `width` values from there. */
JM_NI_FN bn_walk bn_walk_at(size_t k, int c, int C, int HW, int width)
{
	bn_walk w;
	size_t b = k / (size_t)HW;
	w.j = (int)(k % (size_t)HW);
	w.stride = (size_t)C * HW;
	w.off = b * w.stride + (size_t)c * HW + (size_t)w.j;
	w.db = width / HW;
	w.dj = width % HW;
	w.HW = HW;
	return w;
}

JM_NI_FN void bn_walk_next(bn_walk *w)
{
	w->off += (size_t)w->db * w->stride + (size_t)w->dj;
	w->j += w->dj;
	if (w->j >= w->HW) { /* into the next sample's plane */
		w->j -= w->HW;
		w->off += w->stride - (size_t)w->HW;
	}
}

/* Block s of S's values [*lo, *hi) of a channel's N. */
JM_NI_FN void bn_chunk(size_t N, int S, int s, size_t *lo, size_t *hi)
{
	size_t chunk = (N + (size_t)S - 1) / (size_t)S;
	*lo = (size_t)s * chunk;
	*hi = *lo + chunk < N ? *lo + chunk : N;
}

/* How many blocks share a channel's N values: enough blocks in all for a
 * GPU (about 512), each at least 4096 values, at most 64. */
JM_NI_FN int bn_splits(int C, size_t N)
{
	int want = (512 + C - 1) / C;
	size_t most = (N + 4095) / 4096;
	if ((size_t)want > most)
		want = (int)most;
	if (want > 64)
		want = 64;
	return want < 1 ? 1 : want;
}

#endif
