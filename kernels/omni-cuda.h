/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The one header every kernel source (kernels/NAME.cu) includes first: the CUDA headers under
 * nvcc, the emulator's device model under OMNI_CUDA_EMU (host C++), and the
 * two macros that differ between them. */
#ifndef OMNI_CUDA_H
#define OMNI_CUDA_H

#ifdef OMNI_CUDA_EMU
#include "emu/emu-device.h"
/* The emulator runs the block's threads as fibers calling the kernel with
 * the argument values of the launch. */
#define OMNI_LAUNCH(kernel, grid, block, smem, stream, ...) \
  omni_emu_launch_kernel ((kernel), (grid), (block), (smem), (stream), __VA_ARGS__)
#define OMNI_DYNAMIC_SMEM(type, name) type *name = (type *) omni_emu_dynamic_smem ()
/* g++ would warn about nvcc's unroll pragma; the emu gains nothing from it. */
#define OMNI_UNROLL
#else
#include <cuda_runtime.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#define OMNI_LAUNCH(kernel, grid, block, smem, stream, ...) \
  kernel<<<(grid), (block), (smem), (stream)>>> (__VA_ARGS__)
#define OMNI_DYNAMIC_SMEM(type, name) extern __shared__ type name[]
/* Full unrolling of a loop with a compile-time trip count. */
#define OMNI_UNROLL _Pragma ("unroll")
#endif

#include <math.h>
#include <stdint.h>
#include "kernels.h"

/* Full-warp mask of the *_sync intrinsics. */
#define OMNI_FULL_MASK 0xffffffffu

/* Blocks for @n items of @per_block each, as the grid's x (int, >= 1). */
static inline unsigned int
omni_k_blocks (int64_t n, int64_t per_block)
{
  int64_t b = (n + per_block - 1) / per_block;
  return (unsigned int) (b < 1 ? 1 : b);
}

/* Reads element @i of a weight of @type widened to f32. */
static __device__ __forceinline__ float
omni_k_load (const void *p, OmniKDType type, int64_t i)
{
  switch (type) {
  case OMNI_K_BF16:
    return __bfloat162float (((const __nv_bfloat16 *) p)[i]);
  case OMNI_K_F16:
    return __half2float (((const __half *) p)[i]);
  default:
    return ((const float *) p)[i];
  }
}

/* Stores @v as element @i of @type (round to nearest even). */
static __device__ __forceinline__ void
omni_k_store (void *p, OmniKDType type, int64_t i, float v)
{
  switch (type) {
  case OMNI_K_BF16:
    ((__nv_bfloat16 *) p)[i] = __float2bfloat16_rn (v);
    break;
  case OMNI_K_F16:
    ((__half *) p)[i] = __float2half_rn (v);
    break;
  default:
    ((float *) p)[i] = v;
  }
}

/* Sum over the warp (butterfly: every lane gets the same total). */
static __device__ __forceinline__ float
omni_k_warp_sum (float v)
{
  for (int o = 16; o > 0; o >>= 1)
    v += __shfl_xor_sync (OMNI_FULL_MASK, v, o);
  return v;
}

/* Max over the warp (every lane gets it). */
static __device__ __forceinline__ float
omni_k_warp_max (float v)
{
  for (int o = 16; o > 0; o >>= 1)
    v = fmaxf (v, __shfl_xor_sync (OMNI_FULL_MASK, v, o));
  return v;
}

/* Sum over the block (blockDim.x a multiple of 32, <= 1024) returned to every
 * thread; @scratch is 32 floats of shared memory, free again on return. */
static __device__ __forceinline__ float
omni_k_block_sum (float v, float *scratch)
{
  int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, n_warps = blockDim.x >> 5;

  v = omni_k_warp_sum (v);
  if (lane == 0)
    scratch[warp] = v;
  __syncthreads ();
  v = lane < n_warps ? scratch[lane] : 0.0f;
  v = omni_k_warp_sum (v);
  __syncthreads ();
  return v;
}

/* Max over the block, as omni_k_block_sum. */
static __device__ __forceinline__ float
omni_k_block_max (float v, float *scratch)
{
  int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, n_warps = blockDim.x >> 5;

  v = omni_k_warp_max (v);
  if (lane == 0)
    scratch[warp] = v;
  __syncthreads ();
  v = lane < n_warps ? scratch[lane] : -INFINITY;
  v = omni_k_warp_max (v);
  __syncthreads ();
  return v;
}

/* The launchers' common tail: what the launch left in the error state. */
#define OMNI_K_RETURN_LAUNCH() return cudaGetLastError ()

#endif /* OMNI_CUDA_H */
