/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Paged KV cache writes and causal GQA attention over the cache.
 *
 * One kernel does the attention: a block takes one token, HPB query heads
 * sharing one kv head (one warp each) and one chunk of keys. Keys come in
 * tiles staged in shared memory (shared by the block's warps: the GQA
 * reuse); lane j scores key j of the tile, the warp keeps an online softmax
 * (running max m, sum l, unnormalised output acc with D / 32 dims per lane).
 * With one chunk per token (prefill) the block writes acc / l directly; with
 * several (decode, flash-decoding) it writes (acc, m, l) to the workspace and
 * merge_kernel combines the chunks. */
#include "omni-cuda.h"

#define DPL (OMNI_K_MAX_HEAD_DIM / 32)   /* output dims per lane */
#define MAX_HPB 8                        /* query heads (warps) per block */
#define KV_STORE_THREADS 128

/* Offset of (page, slot) of @kv's layer in k or v, or -1 for a bad page. */
static __device__ __forceinline__ int64_t
kv_row (const OmniKPagedKV kv, int32_t seq, int64_t t)
{
  int32_t page = kv.block_tables[(int64_t) seq * kv.max_pages + t / kv.page_size];

  if (page < 0 || page >= kv.n_pages)
    return -1;
  return (((int64_t) kv.layer * kv.n_pages + page) * kv.page_size + t % kv.page_size) *
         ((int64_t) kv.n_kv_heads * kv.head_dim);
}

/* One block per token; threads over the row of n_kv_heads * head_dim. */
static __global__ void
kv_store_kernel (OmniKPagedKV kv, const float *k, const float *v, const int32_t *pos, const int32_t *seq)
{
  int64_t width = (int64_t) kv.n_kv_heads * kv.head_dim;
  int32_t s = seq[blockIdx.x], p = pos[blockIdx.x];

  if (s < 0 || s >= kv.n_seqs || p < 0 || p / kv.page_size >= kv.max_pages)
    return;
  int64_t row = kv_row (kv, s, p);
  if (row < 0)
    return;
  for (int64_t i = threadIdx.x; i < width; i += blockDim.x) {
    kv.k[row + i] = k[(int64_t) blockIdx.x * width + i];
    kv.v[row + i] = v[(int64_t) blockIdx.x * width + i];
  }
}

/* Keys of token @i the attention reads: 0 .. ctx-1, or 0 for a bad token. */
static __device__ __forceinline__ int
token_context (const OmniKPagedKV kv, const int32_t *pos, const int32_t *seq, int i, int max_ctx)
{
  int32_t s = seq[i], p = pos[i];

  if (s < 0 || s >= kv.n_seqs || p < 0)
    return 0;
  int ctx = p + 1 < max_ctx ? p + 1 : max_ctx;
  int cap = kv.max_pages * kv.page_size;
  return ctx < cap ? ctx : cap;
}

/* grid (token, head group, chunk); block HPB warps. Shared memory: K tile
 * [tile][D + 1] (padded: lane j reads row j), V tile [tile][D], q [HPB][D],
 * probabilities [HPB][tile]. */
static __global__ void
attention_kernel (float *out, float *partial, const float *q, const OmniKPagedKV kv, const int32_t *pos,
                  const int32_t *seq, int n_heads, int hpb, float scale, int max_ctx, int split, int tile)
{
  OMNI_DYNAMIC_SMEM (float, smem);
  const int D = kv.head_dim, warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int i = blockIdx.x, h = blockIdx.y * hpb + warp, kvh = blockIdx.y * hpb / (n_heads / kv.n_kv_heads);
  const int n_splits = gridDim.z;
  float *ks = smem, *vs = ks + tile * (D + 1), *qs = vs + tile * D, *ps = qs + hpb * D;
  int ctx = token_context (kv, pos, seq, i, max_ctx);
  int k_begin = blockIdx.z * split, k_end = min (ctx, k_begin + split);
  float m = -INFINITY, l = 0.0f, acc[DPL];

OMNI_UNROLL
  for (int r = 0; r < DPL; r++)
    acc[r] = 0.0f;
  for (int e = threadIdx.x; e < hpb * D; e += blockDim.x)
    qs[e] = q[((int64_t) i * n_heads + blockIdx.y * hpb) * D + e];

  for (int t0 = k_begin; t0 < k_end; t0 += tile) {
    int nk = min (tile, k_end - t0);
    __syncthreads ();   /* q staged / the previous tile consumed */
    for (int e = threadIdx.x; e < nk * D; e += blockDim.x) {
      int j = e / D, d = e % D;
      int64_t row = kv_row (kv, seq[i], t0 + j);
      int64_t at = row + (int64_t) kvh * D + d;
      ks[j * (D + 1) + d] = row < 0 ? 0.0f : kv.k[at];
      vs[j * D + d] = row < 0 ? 0.0f : kv.v[at];
    }
    __syncthreads ();

    float s = -INFINITY;
    if (lane < nk) {
      const float *qh = qs + warp * D, *kj = ks + lane * (D + 1);
      float dot = 0.0f;
      for (int d = 0; d < D; d++)
        dot += qh[d] * kj[d];
      s = dot * scale;
    }
    float m_new = fmaxf (m, omni_k_warp_max (s));
    float alpha = expf (m - m_new);   /* 0 on the first tile (m = -inf) */
    float p = lane < nk ? expf (s - m_new) : 0.0f;
    l = l * alpha + omni_k_warp_sum (p);
    if (lane < tile)
      ps[warp * tile + lane] = p;
    __syncwarp ();
OMNI_UNROLL
    for (int r = 0; r < DPL; r++) {
      int d = lane + 32 * r;
      if (d < D) {
        float a = acc[r] * alpha;
        for (int j = 0; j < nk; j++)
          a += ps[warp * tile + j] * vs[j * D + d];
        acc[r] = a;
      }
    }
    m = m_new;
  }

  if (n_splits == 1) {
    float inv = l > 0.0f ? 1.0f / l : 0.0f;
    float *o = out + ((int64_t) i * n_heads + h) * D;
OMNI_UNROLL
    for (int r = 0; r < DPL; r++)
      if (lane + 32 * r < D)
        o[lane + 32 * r] = acc[r] * inv;
    return;
  }
  float *w = partial + (((int64_t) i * n_heads + h) * n_splits + blockIdx.z) * (D + 2);
OMNI_UNROLL
  for (int r = 0; r < DPL; r++)
    if (lane + 32 * r < D)
      w[lane + 32 * r] = acc[r];
  if (lane == 0) {
    w[D] = m;
    w[D + 1] = l;
  }
}

/* grid (token * head); threads over D: merges the chunks' (acc, m, l). */
static __global__ void
merge_kernel (float *out, const float *partial, int D, int n_splits)
{
  const float *w = partial + (int64_t) blockIdx.x * n_splits * (D + 2);
  float M = -INFINITY, L = 0.0f;

  for (int c = 0; c < n_splits; c++)
    if (w[c * (D + 2) + D + 1] > 0.0f)
      M = fmaxf (M, w[c * (D + 2) + D]);
  for (int c = 0; c < n_splits; c++) {
    float lc = w[c * (D + 2) + D + 1];
    if (lc > 0.0f)
      L += lc * expf (w[c * (D + 2) + D] - M);
  }
  for (int d = threadIdx.x; d < D; d += blockDim.x) {
    float a = 0.0f;
    for (int c = 0; c < n_splits; c++)
      if (w[c * (D + 2) + D + 1] > 0.0f)
        a += w[c * (D + 2) + d] * expf (w[c * (D + 2) + D] - M);
    out[(int64_t) blockIdx.x * D + d] = L > 0.0f ? a / L : 0.0f;
  }
}

/* Query heads per block: the largest divisor of the GQA group <= MAX_HPB. */
static int
heads_per_block (int group)
{
  for (int h = MAX_HPB; h > 1; h--)
    if (group % h == 0)
      return h;
  return 1;
}

static cudaError_t
launch_attention (float *out, float *partial, const float *q, const OmniKPagedKV *kv, const int32_t *pos,
                  const int32_t *seq, int n, int n_heads, float scale, int max_ctx, int split, int n_splits,
                  cudaStream_t stream)
{
  int D = kv->head_dim;

  if (D < 1 || D > OMNI_K_MAX_HEAD_DIM || kv->n_kv_heads < 1 || n_heads % kv->n_kv_heads != 0)
    return cudaErrorInvalidValue;
  int hpb = heads_per_block (n_heads / kv->n_kv_heads);
  /* 16-key tiles for the largest heads keep shared memory under 48 KiB */
  int tile = D > 128 ? 16 : 32;
  size_t smem = (size_t) (tile * (D + 1) + tile * D + hpb * D + hpb * tile) * sizeof (float);
  dim3 grid ((unsigned int) n, (unsigned int) (n_heads / hpb), (unsigned int) n_splits);
  OMNI_LAUNCH (attention_kernel, grid, (unsigned int) (hpb * 32), smem, stream, out, partial, q, *kv, pos,
               seq, n_heads, hpb, scale, max_ctx, split, tile);
  return cudaGetLastError ();
}

extern "C" cudaError_t
omni_k_kv_store (const OmniKPagedKV *kv, const float *k, const float *v, const int32_t *pos,
                 const int32_t *seq, int n, cudaStream_t stream)
{
  if (n <= 0)
    return cudaSuccess;
  OMNI_LAUNCH (kv_store_kernel, (unsigned int) n, KV_STORE_THREADS, 0, stream, *kv, k, v, pos, seq);
  OMNI_K_RETURN_LAUNCH ();
}

extern "C" cudaError_t
omni_k_attention_prefill (float *out, const float *q, const OmniKPagedKV *kv, const int32_t *pos,
                          const int32_t *seq, int n, int n_heads, float scale, cudaStream_t stream)
{
  int cap = kv->max_pages * kv->page_size;

  if (n <= 0 || n_heads <= 0)
    return cudaSuccess;
  return launch_attention (out, NULL, q, kv, pos, seq, n, n_heads, scale, cap, cap, 1, stream);
}

extern "C" cudaError_t
omni_k_attention_decode (float *out, const float *q, const OmniKPagedKV *kv, const int32_t *pos,
                         const int32_t *seq, int n, int n_heads, float scale, int max_ctx, int split,
                         float *workspace, cudaStream_t stream)
{
  cudaError_t err;

  if (n <= 0 || n_heads <= 0 || max_ctx <= 0)
    return cudaSuccess;
  if (split <= 0)
    split = OMNI_K_ATTN_SPLIT_DEFAULT;
  int n_splits = (max_ctx + split - 1) / split;
  if (n_splits == 1)
    return launch_attention (out, NULL, q, kv, pos, seq, n, n_heads, scale, max_ctx, split, 1, stream);
  err = launch_attention (out, workspace, q, kv, pos, seq, n, n_heads, scale, max_ctx, split, n_splits,
                          stream);
  if (err != cudaSuccess)
    return err;
  OMNI_LAUNCH (merge_kernel, (unsigned int) n * n_heads, (unsigned int) ((kv->head_dim + 31) / 32 * 32), 0,
               stream, out, workspace, kv->head_dim, n_splits);
  OMNI_K_RETURN_LAUNCH ();
}
