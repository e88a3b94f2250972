/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The fallback GEMM: y = x . w^T with f32 activations and f32/f16/bf16
 * weights widened in shared memory, f32 accumulation. cuBLASLt does the
 * matmuls it can; this one covers the mixed f32 x bf16 case and the MoE
 * experts whose row ranges are only known on the device. Tiles of BM rows x
 * BN columns, BK deep; 16 x 16 threads, each computing RM x RN outputs. */
#include "omni-cuda.h"

#define BM 32
#define BN 64
#define BK 32
#define TX 16
#define TY 16
#define RM (BM / TY)
#define RN (BN / TX)

/* Rows [row0, row1) of y against the weight @w; the block's tile is
 * (blockIdx.x: columns, @tile_row: rows from row0). */
static __device__ __forceinline__ void
gemm_tile (float *y, int64_t ldy, const float *x, int64_t ldx, const void *w, OmniKDType w_type,
           const float *bias, int64_t row0, int64_t row1, int64_t in, int64_t out)
{
  __shared__ float xs[BM][BK + 1];
  __shared__ float ws[BN][BK + 1];
  const int tx = threadIdx.x, ty = threadIdx.y, tid = ty * TX + tx;
  const int64_t c0 = (int64_t) blockIdx.x * BN;
  float acc[RM][RN];

OMNI_UNROLL
  for (int a = 0; a < RM; a++)
OMNI_UNROLL
    for (int b = 0; b < RN; b++)
      acc[a][b] = 0.0f;

  for (int64_t k0 = 0; k0 < in; k0 += BK) {
    for (int e = tid; e < BM * BK; e += TX * TY) {
      int r = e / BK, c = e % BK;
      int64_t gr = row0 + r, gc = k0 + c;
      xs[r][c] = gr < row1 && gc < in ? x[gr * ldx + gc] : 0.0f;
    }
    for (int e = tid; e < BN * BK; e += TX * TY) {
      int r = e / BK, c = e % BK;
      int64_t gr = c0 + r, gc = k0 + c;
      ws[r][c] = gr < out && gc < in ? omni_k_load (w, w_type, gr * in + gc) : 0.0f;
    }
    __syncthreads ();
    for (int kk = 0; kk < BK; kk++) {
      float a[RM], b[RN];
OMNI_UNROLL
      for (int i = 0; i < RM; i++)
        a[i] = xs[ty + TY * i][kk];
OMNI_UNROLL
      for (int j = 0; j < RN; j++)
        b[j] = ws[tx + TX * j][kk];
OMNI_UNROLL
      for (int i = 0; i < RM; i++)
OMNI_UNROLL
        for (int j = 0; j < RN; j++)
          acc[i][j] += a[i] * b[j];
    }
    __syncthreads ();
  }

OMNI_UNROLL
  for (int i = 0; i < RM; i++) {
    int64_t r = row0 + ty + TY * i;
OMNI_UNROLL
    for (int j = 0; j < RN; j++) {
      int64_t c = c0 + tx + TX * j;
      if (r < row1 && c < out)
        y[r * ldy + c] = bias ? acc[i][j] + bias[c] : acc[i][j];
    }
  }
}

/* grid (column tiles, row tiles). */
static __global__ void
matmul_kernel (float *y, int64_t ldy, const float *x, int64_t ldx, const void *w, OmniKDType w_type,
               const float *bias, int64_t rows, int64_t in, int64_t out)
{
  int64_t row0 = (int64_t) blockIdx.y * BM;

  gemm_tile (y, ldy, x, ldx, w, w_type, bias, row0, min (rows, row0 + BM), in, out);
}

/* grid (column tiles, row tiles of the largest possible expert, expert):
 * tiles past the expert's row count return at once. */
static __global__ void
moe_matmul_kernel (float *y, int64_t ldy, const float *x, int64_t ldx, const void *const *w,
                   OmniKDType w_type, const int32_t *offsets, int64_t in, int64_t out)
{
  int e = blockIdx.z;
  int64_t begin = offsets[e], end = offsets[e + 1];
  int64_t row0 = begin + (int64_t) blockIdx.y * BM;

  if (row0 >= end)
    return;   /* uniform over the block: no barrier is skipped by some threads only */
  gemm_tile (y, ldy, x, ldx, w[e], w_type, NULL, row0, min (end, row0 + BM), in, out);
}

extern "C" cudaError_t
omni_k_matmul (float *y, int64_t ldy, const float *x, int64_t ldx, const void *w, OmniKDType w_type,
               const float *bias, int64_t rows, int64_t in, int64_t out, cudaStream_t stream)
{
  if (rows <= 0 || out <= 0)
    return cudaSuccess;
  dim3 grid (omni_k_blocks (out, BN), omni_k_blocks (rows, BM));
  OMNI_LAUNCH (matmul_kernel, grid, dim3 (TX, TY), 0, stream, y, ldy, x, ldx, w, w_type, bias, rows, in, out);
  OMNI_K_RETURN_LAUNCH ();
}

extern "C" cudaError_t
omni_k_moe_matmul (float *y, int64_t ldy, const float *x, int64_t ldx, const void *const *w,
                   OmniKDType w_type, const int32_t *offsets, int n_experts, int max_rows, int64_t in,
                   int64_t out, cudaStream_t stream)
{
  if (max_rows <= 0 || out <= 0 || n_experts <= 0)
    return cudaSuccess;
  dim3 grid (omni_k_blocks (out, BN), omni_k_blocks (max_rows, BM), (unsigned int) n_experts);
  OMNI_LAUNCH (moe_matmul_kernel, grid, dim3 (TX, TY), 0, stream, y, ldy, x, ldx, w, w_type, offsets, in, out);
  OMNI_K_RETURN_LAUNCH ();
}
