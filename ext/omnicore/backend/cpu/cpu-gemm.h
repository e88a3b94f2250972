/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The per-ISA matmul kernels behind omni_cpu_matmul_kernel. Each computes
 * y[r, c] = x_r . w[c, :] for r < x->n, c0 <= c < c1 (no bias), one
 * accumulator per y element whatever the tile, so a y element never depends
 * on the column range or the number of rows. */
#ifndef OMNI_CPU_GEMM_H
#define OMNI_CPU_GEMM_H

#include "cpu-backend.h"

/* Rows of x per block of the GEMM loops: the block's quantized or f32 rows
 * stay in L2 while every 4-column weight panel of the range passes over
 * them from L1. */
static inline int64_t
omni_cpu_gemm_row_block (int64_t row_bytes)
{
  int64_t mb = (256 * 1024) / MAX (row_bytes, (int64_t) 1);
  return MAX ((int64_t) 4, mb & ~(int64_t) 3);
}

/* Weight rows a tile prefetches (into L2) ahead of the 4 it reads: the
 * rows of a small matrix (say 1024 wide) are too short for the hardware
 * prefetcher to lock on to, so decode would wait on memory at every new
 * panel (measured: 2-3x the decode GB/s of a 151936x1024 int8 weight). */
#define OMNI_CPU_PREFETCH_ROWS 16

#if defined(__x86_64__) && defined(__GNUC__)
#define OMNI_CPU_HAVE_X86 1
/* F32 / F16 / BF16 weights, f32 activations. */
void omni_cpu_gemm_float_avx512 (float *y, int64_t ldy, const OmniCpuMatX *x, const OmniTensor *w,
                                 int64_t c0, int64_t c1);
void omni_cpu_gemm_float_avx2 (float *y, int64_t ldy, const OmniCpuMatX *x, const OmniTensor *w,
                               int64_t c0, int64_t c1);
/* Q8_32 / Q4_32 weights, activations quantized to int8 blocks. */
void omni_cpu_gemm_int_avx512 (float *y, int64_t ldy, const OmniCpuMatX *x, const OmniTensor *w,
                               int64_t c0, int64_t c1);
void omni_cpu_gemm_int_avx2 (float *y, int64_t ldy, const OmniCpuMatX *x, const OmniTensor *w,
                             int64_t c0, int64_t c1);
/* The AVX-512 activation quantizer (same bits as the portable one). */
void omni_cpu_matx_quantize_avx512 (const OmniCpuMatX *mx, int64_t r0, int64_t r1);
#endif

/* The portable block-weight kernel: per block an exact integer dot, scaled
 * and summed in f32 block after block. */
void omni_cpu_gemm_int_portable (float *y, int64_t ldy, const OmniCpuMatX *x, const OmniTensor *w,
                                 int64_t c0, int64_t c1);

#endif /* OMNI_CPU_GEMM_H */
