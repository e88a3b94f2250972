/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* matmul kernels for F32 / F16 / BF16 weights and f32 activations: FMA over
 * 16 (AVX-512) or 8 (AVX2) lanes, the weights converted in registers (bf16:
 * a 16-bit shift; f16: vcvtph2ps). A tile is 4 rows of x by 4 weight rows
 * (or 1 by 4 for decode); every y element has its own accumulator fed in
 * the same order in every tile shape, so tiling never changes a result. */
#include "cpu-gemm.h"

#ifdef OMNI_CPU_HAVE_X86
#include <immintrin.h>

#define T512 __attribute__ ((target ("avx512f,avx512bw,avx512vl,avx512dq,fma,f16c,avx2")))
#define T256 __attribute__ ((target ("avx2,fma,f16c")))
#define INLINE static inline __attribute__ ((always_inline))

/* ---- AVX-512 ---- */

INLINE T512 __m512
load_w16 (OmniDType t, const void *w, int64_t k, __mmask16 m)
{
  if (t == OMNI_DTYPE_F32)
    return _mm512_maskz_loadu_ps (m, (const float *) w + k);
  __m256i h = _mm256_maskz_loadu_epi16 (m, (const uint16_t *) w + k);
  if (t == OMNI_DTYPE_BF16)
    return _mm512_castsi512_ps (_mm512_slli_epi32 (_mm512_cvtepu16_epi32 (h), 16));
  return _mm512_cvtph_ps (h);
}

/* out[r][c] = x_r . w_c for r < R, c < 4. */
INLINE T512 void
tile_f512 (const int R, OmniDType t, const float *const *xr, const void *const *wr, int64_t in,
           size_t pf, float out[4][4])
{
  __m512 acc[4][4];

#pragma GCC unroll 4
  for (int r = 0; r < R; r++)
#pragma GCC unroll 4
    for (int c = 0; c < 4; c++)
      acc[r][c] = _mm512_setzero_ps ();
  for (int64_t k = 0; k < in; k += 16) {
    __mmask16 m = in - k >= 16 ? (__mmask16) 0xffff : (__mmask16) ((1u << (in - k)) - 1);
    __m512 wv[4];

#pragma GCC unroll 4
    for (int c = 0; c < 4; c++) {
      _mm_prefetch ((const char *) wr[c] + pf + k * (t == OMNI_DTYPE_F32 ? 4 : 2), _MM_HINT_T1);
      wv[c] = load_w16 (t, wr[c], k, m);
    }
#pragma GCC unroll 4
    for (int r = 0; r < R; r++) {
      __m512 xv = _mm512_maskz_loadu_ps (m, xr[r] + k);
#pragma GCC unroll 4
      for (int c = 0; c < 4; c++)
        acc[r][c] = _mm512_fmadd_ps (xv, wv[c], acc[r][c]);
    }
  }
#pragma GCC unroll 4
  for (int r = 0; r < R; r++)
#pragma GCC unroll 4
    for (int c = 0; c < 4; c++)
      out[r][c] = _mm512_reduce_add_ps (acc[r][c]);
}

#define TILE_FOR_DTYPE(fn, R, t, xr, wr, in, out)                                            \
  do {                                                                                       \
    if ((t) == OMNI_DTYPE_F32)                                                               \
      fn (R, OMNI_DTYPE_F32, xr, wr, in, pf, out);                                               \
    else if ((t) == OMNI_DTYPE_BF16)                                                         \
      fn (R, OMNI_DTYPE_BF16, xr, wr, in, pf, out);                                              \
    else                                                                                     \
      fn (R, OMNI_DTYPE_F16, xr, wr, in, pf, out);                                               \
  } while (0)

/* The loops shared by both widths: blocks of x rows that stay in L2, 4-wide
 * weight panels over them (a last panel repeats its last row, the extra
 * results dropped), 4-row tiles and then single rows. */
#define GEMM_FLOAT_LOOPS(tile)                                                               \
  size_t es = omni_dtype_size (w->dtype);                                                    \
  int64_t in = x->in, mb = omni_cpu_gemm_row_block (in * 4);                                 \
  size_t pf = OMNI_CPU_PREFETCH_ROWS * in * es;                                              \
  for (int64_t r0 = 0; r0 < x->n; r0 += mb) {                                                \
    int64_t r1 = MIN (x->n, r0 + mb);                                                        \
    for (int64_t c = c0; c < c1; c += 4) {                                                   \
      int64_t nc = MIN ((int64_t) 4, c1 - c);                                                \
      const void *wr[4];                                                                     \
      for (int j = 0; j < 4; j++)                                                            \
        wr[j] = (const uint8_t *) w->data + (c + MIN (j, nc - 1)) * in * es;                 \
      for (int64_t r = r0; r < r1;) {                                                        \
        float out[4][4];                                                                     \
        const float *xr[4];                                                                  \
        int rows = r1 - r >= 4 ? 4 : 1;                                                      \
        for (int i = 0; i < rows; i++)                                                       \
          xr[i] = x->x + (x->x_rows ? x->x_rows[r + i] : r + i) * x->ldx;                   \
        if (rows == 4)                                                                       \
          TILE_FOR_DTYPE (tile, 4, w->dtype, xr, wr, in, out);                               \
        else                                                                                 \
          TILE_FOR_DTYPE (tile, 1, w->dtype, xr, wr, in, out);                               \
        for (int i = 0; i < rows; i++)                                                       \
          for (int j = 0; j < nc; j++)                                                       \
            y[(r + i) * ldy + c + j] = out[i][j];                                            \
        r += rows;                                                                           \
      }                                                                                      \
    }                                                                                        \
  }

T512 void
omni_cpu_gemm_float_avx512 (float *y, int64_t ldy, const OmniCpuMatX *x, const OmniTensor *w,
                            int64_t c0, int64_t c1)
{
  GEMM_FLOAT_LOOPS (tile_f512)
}

/* ---- AVX2 ---- */

INLINE T256 __m256
load_w8 (OmniDType t, const void *w, int64_t k)
{
  if (t == OMNI_DTYPE_F32)
    return _mm256_loadu_ps ((const float *) w + k);
  __m128i h = _mm_loadu_si128 ((const __m128i *) ((const uint16_t *) w + k));
  if (t == OMNI_DTYPE_BF16)
    return _mm256_castsi256_ps (_mm256_slli_epi32 (_mm256_cvtepu16_epi32 (h), 16));
  return _mm256_cvtph_ps (h);
}

INLINE T256 float
hsum8 (__m256 v)
{
  __m128 s = _mm_add_ps (_mm256_castps256_ps128 (v), _mm256_extractf128_ps (v, 1));
  s = _mm_add_ps (s, _mm_movehl_ps (s, s));
  s = _mm_add_ss (s, _mm_movehdup_ps (s));
  return _mm_cvtss_f32 (s);
}

INLINE float
w_at (OmniDType t, const void *w, int64_t k)
{
  if (t == OMNI_DTYPE_F32)
    return ((const float *) w)[k];
  if (t == OMNI_DTYPE_BF16)
    return omni_bf16_to_f32 (((const uint16_t *) w)[k]);
  return omni_f16_to_f32 (((const uint16_t *) w)[k]);
}

/* As tile_f512 on 8 lanes; the last in % 8 elements are summed in order
 * after the lanes. */
INLINE T256 void
tile_f256 (const int R, OmniDType t, const float *const *xr, const void *const *wr, int64_t in,
           size_t pf, float out[4][4])
{
  __m256 acc[4][4];
  int64_t k = 0;

#pragma GCC unroll 4
  for (int r = 0; r < R; r++)
#pragma GCC unroll 4
    for (int c = 0; c < 4; c++)
      acc[r][c] = _mm256_setzero_ps ();
  for (; k + 8 <= in; k += 8) {
    __m256 wv[4];

#pragma GCC unroll 4
    for (int c = 0; c < 4; c++) {
      _mm_prefetch ((const char *) wr[c] + pf + k * (t == OMNI_DTYPE_F32 ? 4 : 2), _MM_HINT_T1);
      wv[c] = load_w8 (t, wr[c], k);
    }
#pragma GCC unroll 4
    for (int r = 0; r < R; r++) {
      __m256 xv = _mm256_loadu_ps (xr[r] + k);
#pragma GCC unroll 4
      for (int c = 0; c < 4; c++)
        acc[r][c] = _mm256_fmadd_ps (xv, wv[c], acc[r][c]);
    }
  }
  for (int r = 0; r < R; r++)
    for (int c = 0; c < 4; c++) {
      float s = hsum8 (acc[r][c]);
      for (int64_t kk = k; kk < in; kk++)
        s += xr[r][kk] * w_at (t, wr[c], kk);
      out[r][c] = s;
    }
}

T256 void
omni_cpu_gemm_float_avx2 (float *y, int64_t ldy, const OmniCpuMatX *x, const OmniTensor *w,
                          int64_t c0, int64_t c1)
{
  GEMM_FLOAT_LOOPS (tile_f256)
}

#endif /* OMNI_CPU_HAVE_X86 */
