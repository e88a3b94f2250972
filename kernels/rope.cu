/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* rotate_half RoPE (plain and M-RoPE) and the fused q/k-norm + RoPE, in f32
 * as the cpu backend: angle = (float) pos * inv_freq[j], cos/sin of it times
 * attn_scale. */
#include "omni-cuda.h"

#define ROPE_THREADS 128
#define QK_WARPS 4   /* heads per block of the fused kernel, one warp each */

/* Rotates the pair (x[j], x[j + half]) of one head in place. */
static __device__ __forceinline__ void
rotate_pair (float *x, int j, int half, float p, const float *inv_freq, float attn_scale)
{
  float angle = p * inv_freq[j];
  float c = cosf (angle) * attn_scale, s = sinf (angle) * attn_scale;
  float x1 = x[j], x2 = x[j + half];

  x[j] = x1 * c + (-x2) * s;
  x[j + half] = x2 * c + x1 * s;
}

/* M-RoPE sections and form, by value. */
typedef enum { MROPE_NONE, MROPE_INTERLEAVED, MROPE_CHUNKED } MRopeMode;

typedef struct {
  int s[3];
  MRopeMode mode;
} MRope;

/* The position axis of frequency @j (the rule of OmniRope in backend.h). */
static __device__ __forceinline__ int
mrope_axis (MRope m, int j)
{
  if (m.mode == MROPE_NONE)
    return 0;
  if (m.mode == MROPE_INTERLEAVED) {
    if (j % 3 == 1 && j < 3 * m.s[1])
      return 1;
    if (j % 3 == 2 && j < 3 * m.s[2])
      return 2;
    return 0;
  }
  return j < m.s[0] ? 0 : j < m.s[0] + m.s[1] ? 1 : 2;
}

/* One block per token; threads over (head, pair). pos is [3][n] under M-RoPE. */
static __global__ void
rope_kernel (float *x, const int32_t *pos, const float *inv_freq, int n, int heads, int head_dim,
             int rot_dim, float attn_scale, MRope m)
{
  int half = rot_dim / 2;
  float *xt = x + (int64_t) blockIdx.x * heads * head_dim;

  for (int w = threadIdx.x; w < heads * half; w += blockDim.x) {
    int j = w % half;
    float p = (float) pos[(int64_t) mrope_axis (m, j) * n + blockIdx.x];
    rotate_pair (xt + (int64_t) (w / half) * head_dim, j, half, p, inv_freq, attn_scale);
  }
}

/* One warp per (token, head): the norm's sum of squares by warp reduction,
 * the normalised head staged in shared memory for the rotation's pairs. */
static __global__ void
qk_norm_rope_kernel (float *x, const void *w, OmniKDType w_type, float eps, const int32_t *pos,
                     const float *inv_freq, int n, int heads, int head_dim, int rot_dim, float attn_scale)
{
  __shared__ float stage[QK_WARPS][OMNI_K_MAX_HEAD_DIM];
  int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  int64_t item = (int64_t) blockIdx.x * QK_WARPS + warp;   /* token * heads + head */
  int64_t token = item / heads;
  bool active = token < n;
  float *xh = x + item * head_dim;
  float *h = stage[warp];
  float ss = 0.0f;

  if (active)
    for (int i = lane; i < head_dim; i += 32) {
      h[i] = xh[i];
      ss += h[i] * h[i];
    }
  /* every lane of every warp reaches the shuffles, active or not */
  ss = omni_k_warp_sum (ss);
  if (active) {
    float scale = 1.0f / sqrtf (ss / (float) head_dim + eps);
    for (int i = lane; i < head_dim; i += 32)
      h[i] = omni_k_load (w, w_type, i) * (h[i] * scale);
  }
  __syncwarp ();
  if (active) {
    int half = rot_dim / 2;
    float p = (float) pos[token];
    for (int j = lane; j < half; j += 32)
      rotate_pair (h, j, half, p, inv_freq, attn_scale);
  }
  __syncwarp ();
  if (active)
    for (int i = lane; i < head_dim; i += 32)
      xh[i] = h[i];
}

extern "C" cudaError_t
omni_k_rope (float *x, const int32_t *pos, const float *inv_freq, int n, int heads, int head_dim,
             int rot_dim, float attn_scale, cudaStream_t stream)
{
  if (n <= 0 || heads <= 0 || rot_dim < 2)
    return cudaSuccess;
  if (rot_dim % 2 != 0 || rot_dim > head_dim)
    return cudaErrorInvalidValue;
  MRope m = { { 0, 0, 0 }, MROPE_NONE };
  OMNI_LAUNCH (rope_kernel, (unsigned int) n, ROPE_THREADS, 0, stream, x, pos, inv_freq, n, heads, head_dim,
               rot_dim, attn_scale, m);
  OMNI_K_RETURN_LAUNCH ();
}

extern "C" cudaError_t
omni_k_mrope (float *x, const int32_t *pos, const float *inv_freq, int n, int heads, int head_dim,
              int rot_dim, float attn_scale, const int *section, int interleaved, cudaStream_t stream)
{
  if (n <= 0 || heads <= 0 || rot_dim < 2)
    return cudaSuccess;
  if (rot_dim % 2 != 0 || rot_dim > head_dim || section == NULL)
    return cudaErrorInvalidValue;
  MRope m = { { section[0], section[1], section[2] }, interleaved ? MROPE_INTERLEAVED : MROPE_CHUNKED };
  OMNI_LAUNCH (rope_kernel, (unsigned int) n, ROPE_THREADS, 0, stream, x, pos, inv_freq, n, heads, head_dim,
               rot_dim, attn_scale, m);
  OMNI_K_RETURN_LAUNCH ();
}

extern "C" cudaError_t
omni_k_qk_norm_rope (float *x, const void *w, OmniKDType w_type, float eps, const int32_t *pos,
                     const float *inv_freq, int n, int heads, int head_dim, int rot_dim, float attn_scale,
                     cudaStream_t stream)
{
  if (n <= 0 || heads <= 0)
    return cudaSuccess;
  if (rot_dim % 2 != 0 || rot_dim > head_dim || head_dim > OMNI_K_MAX_HEAD_DIM)
    return cudaErrorInvalidValue;
  OMNI_LAUNCH (qk_norm_rope_kernel, omni_k_blocks ((int64_t) n * heads, QK_WARPS), QK_WARPS * 32, 0, stream,
               x, w, w_type, eps, pos, inv_freq, n, heads, head_dim, rot_dim, attn_scale);
  OMNI_K_RETURN_LAUNCH ();
}
