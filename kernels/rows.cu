/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Conversions, row gathers (embedding lookup, get_rows, the MoE gather) and
 * the row scatter set_rows.
 * Widening to f32 is exact; narrowing rounds to nearest even. */
#include "omni-cuda.h"

#define ROWS_THREADS 256

static __global__ void
convert_kernel (void *dst, OmniKDType dst_type, const void *src, OmniKDType src_type, int64_t n)
{
  int64_t stride = (int64_t) gridDim.x * blockDim.x;

  for (int64_t i = (int64_t) blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride)
    omni_k_store (dst, dst_type, i, omni_k_load (src, src_type, i));
}

/* One block per output row; an index outside [0, n_src_rows) gives zeros. */
static __global__ void
gather_kernel (void *dst, OmniKDType dst_type, const void *src, OmniKDType src_type, int64_t n_src_rows,
               int64_t width, const int32_t *rows)
{
  int64_t r = rows[blockIdx.x];
  int64_t out = (int64_t) blockIdx.x * width;
  bool valid = r >= 0 && r < n_src_rows;

  for (int64_t i = threadIdx.x; i < width; i += blockDim.x)
    omni_k_store (dst, dst_type, out + i, valid ? omni_k_load (src, src_type, r * width + i) : 0.0f);
}

/* One block per source row; a destination outside [0, n_dst_rows) is skipped. */
static __global__ void
scatter_kernel (void *dst, const void *src, OmniKDType type, int64_t n_dst_rows, int64_t width,
                const int32_t *rows)
{
  int64_t r = rows[blockIdx.x];
  int64_t in = (int64_t) blockIdx.x * width;

  if (r < 0 || r >= n_dst_rows)
    return;
  if (type == OMNI_K_F32) {
    for (int64_t i = threadIdx.x; i < width; i += blockDim.x)
      ((float *) dst)[r * width + i] = ((const float *) src)[in + i];
  } else {
    for (int64_t i = threadIdx.x; i < width; i += blockDim.x)
      ((uint16_t *) dst)[r * width + i] = ((const uint16_t *) src)[in + i];
  }
}

/* Grid for a grid-stride loop: enough blocks to fill a large GPU, no more. */
static unsigned int
stride_blocks (int64_t n)
{
  unsigned int b = omni_k_blocks (n, ROWS_THREADS);
  return b > 4096 ? 4096 : b;
}

extern "C" cudaError_t
omni_k_convert (void *dst, OmniKDType dst_type, const void *src, OmniKDType src_type, int64_t n,
                cudaStream_t stream)
{
  if (n <= 0)
    return cudaSuccess;
  OMNI_LAUNCH (convert_kernel, stride_blocks (n), ROWS_THREADS, 0, stream, dst, dst_type, src, src_type, n);
  OMNI_K_RETURN_LAUNCH ();
}

extern "C" cudaError_t
omni_k_get_rows (void *dst, OmniKDType dst_type, const void *src, OmniKDType src_type, int64_t n_src_rows,
                 int64_t width, const int32_t *rows, int n, cudaStream_t stream)
{
  if (n <= 0 || width <= 0)
    return cudaSuccess;
  OMNI_LAUNCH (gather_kernel, (unsigned int) n, ROWS_THREADS, 0, stream, dst, dst_type, src, src_type,
               n_src_rows, width, rows);
  OMNI_K_RETURN_LAUNCH ();
}

extern "C" cudaError_t
omni_k_embed (float *out, const void *table, OmniKDType table_type, int64_t n_rows, int64_t width,
              const int32_t *ids, int n, cudaStream_t stream)
{
  return omni_k_get_rows (out, OMNI_K_F32, table, table_type, n_rows, width, ids, n, stream);
}

extern "C" cudaError_t
omni_k_set_rows (void *dst, const void *src, OmniKDType type, int64_t n_dst_rows, int64_t width,
                 const int32_t *rows, int n, cudaStream_t stream)
{
  if (n <= 0 || width <= 0)
    return cudaSuccess;
  OMNI_LAUNCH (scatter_kernel, (unsigned int) n, ROWS_THREADS, 0, stream, dst, src, type, n_dst_rows, width,
               rows);
  OMNI_K_RETURN_LAUNCH ();
}
