/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The activations of a matmul over block weights: quantized once per call
 * into int8 blocks of 32 with an f32 scale (finer than the weights' f16, so
 * small activations keep their precision), and the portable integer kernel
 * the SIMD ones are tested against. */
#include <math.h>
#include "cpu-gemm.h"

size_t
omni_cpu_matx_bytes (OmniDType wtype, int64_t n, int64_t in)
{
  int64_t nbp = ((in + OMNI_QK - 1) / OMNI_QK + 1) & ~(int64_t) 1;

  if (!omni_dtype_is_block (wtype) || n <= 0)
    return 0;
  return (size_t) n * (size_t) nbp * (OMNI_QK + sizeof (float));
}

void
omni_cpu_matx_init (OmniCpuMatX *mx, OmniCpuIsa isa, OmniDType wtype, const float *x, int64_t ldx,
                    const int32_t *x_rows, int64_t n, int64_t in, void *scratch)
{
  memset (mx, 0, sizeof *mx);
  mx->isa = isa;
  mx->wtype = wtype;
  mx->n = n;
  mx->in = in;
  mx->x = x;
  mx->ldx = ldx;
  mx->x_rows = x_rows;
  if (omni_dtype_is_block (wtype)) {
    mx->nbp = ((in + OMNI_QK - 1) / OMNI_QK + 1) & ~(int64_t) 1;
    mx->qs = scratch;
    mx->qd = (float *) (mx->qs + n * mx->nbp * OMNI_QK);
  }
}

/* Block @b of @in floats at @x: d = amax / 127, q = rint(x * (1 / d)),
 * saturated as the SIMD pack instructions do. */
static void
quantize_block_x (const float *x, int64_t in, int64_t b, int8_t *qs, float *qd)
{
  int64_t i0 = b * OMNI_QK;
  int m = (int) CLAMP (in - i0, (int64_t) 0, (int64_t) OMNI_QK);
  float amax = 0.0f, d, id;

  for (int j = 0; j < m; j++)
    amax = fmaxf (amax, fabsf (x[i0 + j]));
  d = amax / 127.0f;
  id = d != 0.0f ? 1.0f / d : 0.0f;
  *qd = d;
  for (int j = 0; j < OMNI_QK; j++) {
    long q = j < m ? lrintf (x[i0 + j] * id) : 0;
    qs[j] = (int8_t) CLAMP (q, -128L, 127L);
  }
}

void
omni_cpu_matx_quantize (const OmniCpuMatX *mx, int64_t r0, int64_t r1)
{
  if (!omni_dtype_is_block (mx->wtype))
    return;
#ifdef OMNI_CPU_HAVE_X86
  if (mx->isa == OMNI_CPU_ISA_AVX512) {
    omni_cpu_matx_quantize_avx512 (mx, r0, r1);
    return;
  }
#endif
  for (int64_t r = r0; r < r1; r++) {
    const float *x = mx->x + (mx->x_rows ? mx->x_rows[r] : r) * mx->ldx;

    for (int64_t b = 0; b < mx->nbp; b++)
      quantize_block_x (x, mx->in, b, mx->qs + (r * mx->nbp + b) * OMNI_QK, mx->qd + r * mx->nbp + b);
  }
}

/* Weight element j of block @b as an integer, and the block's scale. */
static inline int
wq_at (const OmniTensor *w, const uint8_t *blk, int j)
{
  if (w->dtype == OMNI_DTYPE_Q8_32)
    return ((const OmniBlockQ8 *) blk)->qs[j];
  const uint8_t *qs = ((const OmniBlockQ4 *) blk)->qs;
  return (j < OMNI_QK / 2 ? qs[j] & 0xf : qs[j - OMNI_QK / 2] >> 4) - 8;
}

void
omni_cpu_gemm_int_portable (float *y, int64_t ldy, const OmniCpuMatX *x, const OmniTensor *w,
                            int64_t c0, int64_t c1)
{
  size_t row_bytes = omni_row_bytes (w->dtype, x->in);
  size_t bsize = w->dtype == OMNI_DTYPE_Q8_32 ? sizeof (OmniBlockQ8) : sizeof (OmniBlockQ4);
  int64_t nb = (x->in + OMNI_QK - 1) / OMNI_QK;

  for (int64_t c = c0; c < c1; c++) {
    const uint8_t *wr = (const uint8_t *) w->data + c * row_bytes;

    for (int64_t r = 0; r < x->n; r++) {
      const int8_t *xq = x->qs + r * x->nbp * OMNI_QK;
      const float *xd = x->qd + r * x->nbp;
      float sum = 0.0f;

      for (int64_t b = 0; b < nb; b++) {
        const uint8_t *blk = wr + b * bsize;
        int32_t isum = 0;

        for (int j = 0; j < OMNI_QK; j++)
          isum += wq_at (w, blk, j) * xq[b * OMNI_QK + j];
        uint16_t d;

        memcpy (&d, blk, sizeof d);
        sum += xd[b] * omni_f16_to_f32 (d) * (float) isum;
      }
      y[r * ldy + c] = sum;
    }
  }
}
