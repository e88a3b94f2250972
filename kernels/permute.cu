/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* permute: y = x with its dims reordered (2 to 4 dims, f32), shapes padded
 * to 4 dims in front. One thread per output element over a grid-stride loop:
 * writes are coalesced, reads strided (the encoders permute small tensors). */
#include "omni-cuda.h"

#define PERMUTE_THREADS 256

/* y's padded shape and x's stride along each of y's dims (by value). */
typedef struct {
  int64_t oshape[4];
  int64_t istride[4];
} PermuteGeom;

static __global__ void
permute_kernel (float *y, const float *x, PermuteGeom g, int64_t n)
{
  int64_t stride = (int64_t) gridDim.x * blockDim.x;

  for (int64_t o = (int64_t) blockIdx.x * blockDim.x + threadIdx.x; o < n; o += stride) {
    int64_t rest = o, src = 0;
    for (int i = 3; i >= 0; i--) {
      src += (rest % g.oshape[i]) * g.istride[i];
      rest /= g.oshape[i];
    }
    y[o] = x[src];
  }
}

extern "C" cudaError_t
omni_k_permute (float *y, const float *x, int n_dims, const int64_t *x_shape, const int *perm,
                cudaStream_t stream)
{
  PermuteGeom g;
  int64_t xstride[4], n = 1;
  int pad = 4 - n_dims;
  unsigned int blocks;

  if (n_dims < 2 || n_dims > 4)
    return cudaErrorInvalidValue;
  for (int i = n_dims - 1; i >= 0; i--) {
    xstride[i] = n;
    n *= x_shape[i];
  }
  for (int i = 0; i < 4; i++) {
    if (i >= pad && (perm[i - pad] < 0 || perm[i - pad] >= n_dims))
      return cudaErrorInvalidValue;
    g.oshape[i] = i < pad ? 1 : x_shape[perm[i - pad]];
    g.istride[i] = i < pad ? 0 : xstride[perm[i - pad]];
  }
  if (n <= 0)
    return cudaSuccess;
  blocks = omni_k_blocks (n, PERMUTE_THREADS);
  OMNI_LAUNCH (permute_kernel, blocks > 4096 ? 4096 : blocks, PERMUTE_THREADS, 0, stream, y, x, g, n);
  OMNI_K_RETURN_LAUNCH ();
}
