/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* RMSNorm and LayerNorm over the last dimension, one block per row, in f32
 * as the cpu backend: rmsnorm scale = 1 / sqrt(mean(x^2) + eps),
 * y = w * (x * scale); layernorm two-pass (mean, then the variance of the
 * centred row). */
#include "omni-cuda.h"

/* Threads for rows of @d: a multiple of 32, at most 256. */
static unsigned int
norm_threads (int64_t d)
{
  int64_t t = (d + 31) / 32 * 32;
  return (unsigned int) (t > 256 ? 256 : t);
}

/* With @residual: residual += x first and the norm reads the sum. */
static __global__ void
rmsnorm_kernel (float *y, float *residual, const float *x, const void *w, OmniKDType w_type, int64_t d,
                float eps)
{
  __shared__ float scratch[32];
  int64_t off = (int64_t) blockIdx.x * d;
  const float *src = residual ? residual + off : x + off;
  float ss = 0.0f;

  if (residual) {
    for (int64_t i = threadIdx.x; i < d; i += blockDim.x) {
      float r = residual[off + i] + x[off + i];
      residual[off + i] = r;
      ss += r * r;
    }
  } else {
    for (int64_t i = threadIdx.x; i < d; i += blockDim.x)
      ss += src[i] * src[i];
  }
  /* each thread reads back only what it wrote itself, so no barrier is
   * needed between the residual write and the reads below */
  ss = omni_k_block_sum (ss, scratch);
  float scale = 1.0f / sqrtf (ss / (float) d + eps);
  for (int64_t i = threadIdx.x; i < d; i += blockDim.x)
    y[off + i] = omni_k_load (w, w_type, i) * (src[i] * scale);
}

/* Each thread reads and writes only its own indices of the row, so y may be x. */
static __global__ void
layernorm_kernel (float *y, const float *x, const void *w, OmniKDType w_type, const void *bias,
                  OmniKDType bias_type, int64_t d, float eps)
{
  __shared__ float scratch[32];
  int64_t off = (int64_t) blockIdx.x * d;
  const float *xr = x + off;
  float *yr = y + off;
  float s = 0.0f, ss = 0.0f;

  for (int64_t i = threadIdx.x; i < d; i += blockDim.x)
    s += xr[i];
  float mean = omni_k_block_sum (s, scratch) / (float) d;
  for (int64_t i = threadIdx.x; i < d; i += blockDim.x) {
    float c = xr[i] - mean;
    ss += c * c;
  }
  float rstd = 1.0f / sqrtf (omni_k_block_sum (ss, scratch) / (float) d + eps);
  for (int64_t i = threadIdx.x; i < d; i += blockDim.x)
    yr[i] = (xr[i] - mean) * rstd * omni_k_load (w, w_type, i) + omni_k_load (bias, bias_type, i);
}

extern "C" cudaError_t
omni_k_layernorm (float *y, const float *x, const void *w, OmniKDType w_type, const void *bias,
                  OmniKDType bias_type, int64_t rows, int64_t d, float eps, cudaStream_t stream)
{
  if (rows <= 0 || d <= 0)
    return cudaSuccess;
  OMNI_LAUNCH (layernorm_kernel, (unsigned int) rows, norm_threads (d), 0, stream, y, x, w, w_type, bias,
               bias_type, d, eps);
  OMNI_K_RETURN_LAUNCH ();
}

extern "C" cudaError_t
omni_k_rmsnorm (float *y, const float *x, const void *w, OmniKDType w_type, int64_t rows, int64_t d,
                float eps, cudaStream_t stream)
{
  if (rows <= 0 || d <= 0)
    return cudaSuccess;
  OMNI_LAUNCH (rmsnorm_kernel, (unsigned int) rows, norm_threads (d), 0, stream, y, (float *) NULL, x, w,
               w_type, d, eps);
  OMNI_K_RETURN_LAUNCH ();
}

extern "C" cudaError_t
omni_k_add_rmsnorm (float *y, float *residual, const float *x, const void *w, OmniKDType w_type,
                    int64_t rows, int64_t d, float eps, cudaStream_t stream)
{
  if (rows <= 0 || d <= 0)
    return cudaSuccess;
  OMNI_LAUNCH (rmsnorm_kernel, (unsigned int) rows, norm_threads (d), 0, stream, y, residual, x, w,
               w_type, d, eps);
  OMNI_K_RETURN_LAUNCH ();
}
