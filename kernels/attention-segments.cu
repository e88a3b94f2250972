/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Bidirectional attention within segments (audio and vision encoders): a
 * token sees exactly the keys of its own segment, no cache, no GQA.
 *
 * A block takes SEG_WARPS consecutive queries of one head, a warp per query.
 * The keys of the segments those queries belong to are staged in shared
 * memory SEG_KEYS at a time and shared by the block's warps; a lane scores
 * one key of the tile, then the warp folds the tile into its query's output
 * with an online softmax (running max and sum, f32). Each lane owns the
 * output dims lane + 32 c, so head_dim <= 128 fits four registers. */
#include "omni-cuda.h"

#define SEG_WARPS 8
#define SEG_KEYS 32
#define SEG_D OMNI_K_SEG_MAX_HEAD_DIM
#define SEG_ACC (SEG_D / 32)

/* The segment s with cu[s] <= i < cu[s + 1] (cu increasing). */
static __device__ __forceinline__ int
segment_of (const int32_t *cu, int n_segs, int i)
{
  int lo = 0, hi = n_segs - 1;

  while (lo < hi) {
    int mid = (lo + hi + 1) / 2;
    if (cu[mid] <= i)
      lo = mid;
    else
      hi = mid - 1;
  }
  return lo;
}

static __global__ void
attention_segments_kernel (float *out, const float *q, const float *k, const float *v, const int32_t *cu,
                           int n_segs, int n, int n_heads, int D, float scale)
{
  __shared__ float ks[SEG_KEYS][SEG_D + 1];   /* +1: a lane's row starts on its own bank */
  __shared__ float vs[SEG_KEYS][SEG_D];
  __shared__ float qs[SEG_WARPS][SEG_D];
  __shared__ float ps[SEG_WARPS][SEG_KEYS];
  int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, h = blockIdx.y;
  int64_t stride = (int64_t) n_heads * D;
  int first = blockIdx.x * SEG_WARPS, last = (first + SEG_WARPS < n ? first + SEG_WARPS : n) - 1, i = first + warp;
  int kbeg = cu[segment_of (cu, n_segs, first)], kend = cu[segment_of (cu, n_segs, last) + 1];
  int my_beg = 0, my_end = 0;   /* an inactive warp (i >= n) has no keys */
  float m = -INFINITY, l = 0.0f, acc[SEG_ACC];

  OMNI_UNROLL
  for (int c = 0; c < SEG_ACC; c++)
    acc[c] = 0.0f;
  if (i < n) {
    int s = segment_of (cu, n_segs, i);
    my_beg = cu[s];
    my_end = cu[s + 1];
    for (int j = lane; j < D; j += 32)
      qs[warp][j] = q[i * stride + (int64_t) h * D + j];
  }

  for (int t0 = kbeg; t0 < kend; t0 += SEG_KEYS) {
    int nk = kend - t0 < SEG_KEYS ? kend - t0 : SEG_KEYS;
    __syncthreads ();   /* the previous tile is consumed (and qs written) */
    for (int e = threadIdx.x; e < nk * D; e += blockDim.x) {
      int t = e / D, j = e % D;
      int64_t off = (int64_t) (t0 + t) * stride + (int64_t) h * D + j;
      ks[t][j] = k[off];
      vs[t][j] = v[off];
    }
    __syncthreads ();

    int lo = t0 > my_beg ? t0 : my_beg, hi = t0 + nk < my_end ? t0 + nk : my_end;
    if (lo >= hi)       /* the same for the whole warp */
      continue;
    int t = t0 + lane;
    bool mine = t >= lo && t < hi;
    float sc = -INFINITY;
    if (mine) {
      float dot = 0.0f;
      for (int j = 0; j < D; j++)
        dot += qs[warp][j] * ks[lane][j];
      sc = dot * scale;
    }
    float m_new = fmaxf (m, omni_k_warp_max (sc));
    float alpha = expf (m - m_new);   /* 0 on the warp's first tile (m = -inf) */
    float p = mine ? expf (sc - m_new) : 0.0f;
    l = l * alpha + omni_k_warp_sum (p);
    ps[warp][lane] = p;
    __syncwarp ();
    OMNI_UNROLL
    for (int c = 0; c < SEG_ACC; c++)
      acc[c] *= alpha;
    for (int tt = lo - t0; tt < hi - t0; tt++) {
      float pt = ps[warp][tt];
      OMNI_UNROLL
      for (int c = 0; c < SEG_ACC; c++)
        if (lane + 32 * c < D)
          acc[c] += pt * vs[tt][lane + 32 * c];
    }
    __syncwarp ();      /* ps is rewritten by the next tile */
    m = m_new;
  }

  if (i < n) {
    OMNI_UNROLL
    for (int c = 0; c < SEG_ACC; c++)
      if (lane + 32 * c < D)
        out[i * stride + (int64_t) h * D + lane + 32 * c] = acc[c] / l;
  }
}

extern "C" cudaError_t
omni_k_attention_segments (float *out, const float *q, const float *k, const float *v,
                           const int32_t *cu_seqlens, int n_segs, int n, int n_heads, int head_dim, float scale,
                           cudaStream_t stream)
{
  if (n <= 0 || n_heads <= 0)
    return cudaSuccess;
  if (n_segs < 1 || head_dim < 1 || head_dim > SEG_D || n_heads > 65535)
    return cudaErrorInvalidValue;
  dim3 grid (omni_k_blocks (n, SEG_WARPS), (unsigned int) n_heads);
  OMNI_LAUNCH (attention_segments_kernel, grid, SEG_WARPS * 32, 0, stream, out, q, k, v, cu_seqlens, n_segs, n,
               n_heads, head_dim, scale);
  OMNI_K_RETURN_LAUNCH ();
}
