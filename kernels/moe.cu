/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Mixture of experts on the device: the router (softmax, top-k,
 * renormalisation), the stable grouping of (token, slot) pairs by expert and
 * the weighted combine in slot order. Everything here is deterministic: no
 * float atomics, and a pair's sorted place never depends on scheduling. */
#include "omni-cuda.h"

#define ROUTE_WARPS 4
#define ROUTE_MAX_EXPERTS 1024
#define DISPATCH_THREADS 256
#define COMBINE_THREADS 256

/* One warp per token. Probabilities are staged per warp in shared memory;
 * the k winners are taken one by one with a warp arg-max where a higher
 * probability wins and, on equal ones, the lower expert (the cpu order). A
 * taken expert is marked -1 (probabilities are >= 0). */
static __global__ void
route_kernel (int32_t *ids, float *weights, const float *logits, int n, int n_experts, int k, int norm_topk)
{
  __shared__ float prob[ROUTE_WARPS][ROUTE_MAX_EXPERTS];
  int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  int t = blockIdx.x * ROUTE_WARPS + warp;
  bool active = t < n;
  const float *x = logits + (int64_t) (active ? t : 0) * n_experts;
  float *p = prob[warp];
  float m = -INFINITY, s = 0.0f;

  for (int e = lane; e < n_experts; e += 32)
    m = fmaxf (m, x[e]);
  m = omni_k_warp_max (m);
  for (int e = lane; e < n_experts; e += 32)
    s += expf (x[e] - m);
  s = omni_k_warp_sum (s);
  for (int e = lane; e < n_experts; e += 32)
    p[e] = expf (x[e] - m) / s;
  __syncwarp ();

  float total = 0.0f;
  for (int j = 0; j < k; j++) {
    float best = -2.0f;
    int best_e = n_experts;
    for (int e = lane; e < n_experts; e += 32)
      if (p[e] > best) {   /* strict: the lowest expert of this lane's equals */
        best = p[e];
        best_e = e;
      }
    for (int o = 16; o > 0; o >>= 1) {
      float ob = __shfl_xor_sync (OMNI_FULL_MASK, best, o);
      int oe = __shfl_xor_sync (OMNI_FULL_MASK, best_e, o);
      if (ob > best || (ob == best && oe < best_e)) {
        best = ob;
        best_e = oe;
      }
    }
    __syncwarp ();
    if (lane == 0 && active) {
      ids[(int64_t) t * k + j] = best_e;
      weights[(int64_t) t * k + j] = best;
      p[best_e] = -1.0f;
    }
    total += best;   /* summed in slot order, like the cpu backend */
    __syncwarp ();
  }
  if (norm_topk && lane == 0 && active)
    for (int j = 0; j < k; j++)
      weights[(int64_t) t * k + j] /= total;
}

/* One block: histogram, prefix sums, then pairs in tiles of blockDim where
 * each pair counts the earlier pairs of its expert in the tile (its rank);
 * the last pair of an expert in a tile advances that expert's cursor.
 * Shared: cursor[n_experts + 1] then the tile's ids[blockDim]. */
static __global__ void
dispatch_kernel (int32_t *offsets, int32_t *pair_token, int32_t *pair_slot, const int32_t *ids, int n_pairs,
                 int k, int n_experts)
{
  OMNI_DYNAMIC_SMEM (int32_t, cursor);
  int32_t *tile_ids = cursor + n_experts + 1;

  for (int e = threadIdx.x; e <= n_experts; e += blockDim.x)
    cursor[e] = 0;
  __syncthreads ();
  for (int p = threadIdx.x; p < n_pairs; p += blockDim.x) {
    int e = ids[p];
    atomicAdd (&cursor[e >= 0 && e < n_experts ? e : n_experts], 1);
  }
  __syncthreads ();
  if (threadIdx.x == 0) {
    int32_t run = 0;
    for (int e = 0; e <= n_experts; e++) {
      int32_t c = cursor[e];
      cursor[e] = run;
      offsets[e] = run;
      run += c;
    }
  }
  __syncthreads ();

  for (int base = 0; base < n_pairs; base += blockDim.x) {
    int p = base + threadIdx.x, count = min ((int) blockDim.x, n_pairs - base);
    int e = n_experts, rank = 0;
    bool last = true;
    if (p < n_pairs) {
      e = ids[p];
      if (e < 0 || e >= n_experts)
        e = n_experts;
    }
    tile_ids[threadIdx.x] = e;
    __syncthreads ();
    if (p < n_pairs) {
      for (int q = 0; q < count; q++) {
        if (tile_ids[q] == e) {
          if (q < (int) threadIdx.x)
            rank++;
          else if (q > (int) threadIdx.x)
            last = false;
        }
      }
      int32_t s = cursor[e] + rank;
      pair_slot[p] = s;
      pair_token[s] = p / k;
    }
    __syncthreads ();   /* every pair read the cursors before they move */
    if (p < n_pairs && last)
      cursor[e] += rank + 1;
    __syncthreads ();   /* cursors and tile_ids settled for the next tile */
  }
}

/* One block per token; threads over hidden. */
static __global__ void
combine_kernel (float *y, const float *d, const float *weights, const int32_t *pair_slot, int k, int64_t hidden)
{
  int t = blockIdx.x;

  for (int64_t i = threadIdx.x; i < hidden; i += blockDim.x) {
    float acc = 0.0f;
    for (int j = 0; j < k; j++)
      acc += d[(int64_t) pair_slot[(int64_t) t * k + j] * hidden + i] * weights[(int64_t) t * k + j];
    y[(int64_t) t * hidden + i] = acc;
  }
}

extern "C" cudaError_t
omni_k_moe_route (int32_t *ids, float *weights, const float *logits, int n, int n_experts, int k,
                  int norm_topk, cudaStream_t stream)
{
  if (n <= 0)
    return cudaSuccess;
  if (n_experts < 1 || n_experts > ROUTE_MAX_EXPERTS || k < 1 || k > n_experts)
    return cudaErrorInvalidValue;
  OMNI_LAUNCH (route_kernel, omni_k_blocks (n, ROUTE_WARPS), ROUTE_WARPS * 32, 0, stream, ids, weights, logits,
               n, n_experts, k, norm_topk);
  OMNI_K_RETURN_LAUNCH ();
}

extern "C" cudaError_t
omni_k_moe_dispatch (int32_t *offsets, int32_t *pair_token, int32_t *pair_slot, const int32_t *ids, int n,
                     int k, int n_experts, cudaStream_t stream)
{
  if (n_experts < 1 || k < 1)
    return cudaErrorInvalidValue;
  size_t smem = (size_t) (n_experts + 1 + DISPATCH_THREADS) * sizeof (int32_t);
  OMNI_LAUNCH (dispatch_kernel, 1, DISPATCH_THREADS, smem, stream, offsets, pair_token, pair_slot, ids,
               n > 0 ? n * k : 0, k, n_experts);
  OMNI_K_RETURN_LAUNCH ();
}

extern "C" cudaError_t
omni_k_moe_combine (float *y, const float *d, const float *weights, const int32_t *pair_slot, int n, int k,
                    int64_t hidden, cudaStream_t stream)
{
  if (n <= 0 || hidden <= 0)
    return cudaSuccess;
  OMNI_LAUNCH (combine_kernel, (unsigned int) n, COMBINE_THREADS, 0, stream, y, d, weights, pair_slot, k,
               hidden);
  OMNI_K_RETURN_LAUNCH ();
}
