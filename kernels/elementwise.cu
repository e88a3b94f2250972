/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Element-wise ops (residual add, SwiGLU, GELU) and the row softmax. Outputs may
 * alias inputs, so no __restrict__ here. */
#include "omni-cuda.h"

#define EW_THREADS 256
#define SOFTMAX_THREADS 256

static __global__ void
add_kernel (float *y, const float *a, const float *c, int64_t n)
{
  int64_t stride = (int64_t) gridDim.x * blockDim.x;

  for (int64_t i = (int64_t) blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride)
    y[i] = a[i] + c[i];
}

/* silu(g) = g / (1 + exp(-g)), the form torch and the cpu backend use. */
static __global__ void
swiglu_kernel (float *y, const float *gate, const float *up, int64_t n)
{
  int64_t stride = (int64_t) gridDim.x * blockDim.x;

  for (int64_t i = (int64_t) blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) {
    float g = gate[i];
    y[i] = g / (1.0f + expf (-g)) * up[i];
  }
}

/* GELU in the two forms of torch, as the cpu backend writes them. */
static __global__ void
gelu_kernel (float *y, const float *x, int64_t n, int tanh_approx)
{
  const float beta = 0.7978845608028654f, kappa = 0.044715f;   /* sqrt(2 / pi) */
  int64_t stride = (int64_t) gridDim.x * blockDim.x;

  for (int64_t i = (int64_t) blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) {
    float v = x[i];
    y[i] = tanh_approx ? 0.5f * v * (1.0f + tanhf (beta * (v + kappa * (v * v * v))))
                       : 0.5f * v * (1.0f + erff (v * 0.7071067811865476f));
  }
}

/* One block per row: max, then sum of exp, then the scaled write. */
static __global__ void
softmax_kernel (float *y, const float *x, int64_t cols)
{
  __shared__ float scratch[32];
  const float *xr = x + (int64_t) blockIdx.x * cols;
  float *yr = y + (int64_t) blockIdx.x * cols;
  float m = -INFINITY, s = 0.0f;

  for (int64_t i = threadIdx.x; i < cols; i += blockDim.x)
    m = fmaxf (m, xr[i]);
  m = omni_k_block_max (m, scratch);
  for (int64_t i = threadIdx.x; i < cols; i += blockDim.x)
    s += expf (xr[i] - m);
  s = omni_k_block_sum (s, scratch);
  for (int64_t i = threadIdx.x; i < cols; i += blockDim.x)
    yr[i] = expf (xr[i] - m) / s;
}

static unsigned int
stride_blocks (int64_t n)
{
  unsigned int b = omni_k_blocks (n, EW_THREADS);
  return b > 4096 ? 4096 : b;
}

extern "C" cudaError_t
omni_k_add (float *y, const float *a, const float *c, int64_t n, cudaStream_t stream)
{
  if (n <= 0)
    return cudaSuccess;
  OMNI_LAUNCH (add_kernel, stride_blocks (n), EW_THREADS, 0, stream, y, a, c, n);
  OMNI_K_RETURN_LAUNCH ();
}

extern "C" cudaError_t
omni_k_swiglu (float *y, const float *gate, const float *up, int64_t n, cudaStream_t stream)
{
  if (n <= 0)
    return cudaSuccess;
  OMNI_LAUNCH (swiglu_kernel, stride_blocks (n), EW_THREADS, 0, stream, y, gate, up, n);
  OMNI_K_RETURN_LAUNCH ();
}

extern "C" cudaError_t
omni_k_softmax (float *y, const float *x, int64_t rows, int64_t cols, cudaStream_t stream)
{
  if (rows <= 0 || cols <= 0)
    return cudaSuccess;
  OMNI_LAUNCH (softmax_kernel, (unsigned int) rows, SOFTMAX_THREADS, 0, stream, y, x, cols);
  OMNI_K_RETURN_LAUNCH ();
}

extern "C" cudaError_t
omni_k_gelu (float *y, const float *x, int64_t n, int tanh_approx, cudaStream_t stream)
{
  if (n <= 0)
    return cudaSuccess;
  OMNI_LAUNCH (gelu_kernel, stride_blocks (n), EW_THREADS, 0, stream, y, x, n, tanh_approx);
  OMNI_K_RETURN_LAUNCH ();
}
