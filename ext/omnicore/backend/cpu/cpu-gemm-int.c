/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* matmul kernels for Q8_32 / Q4_32 weights against activations quantized to
 * int8 blocks (OmniCpuMatX). Per block an exact integer dot, then one f32
 * fma by (x scale * weight scale) into that y element's own accumulator, in
 * the same order in every tile shape.
 * AVX-512 VNNI takes two blocks per step: vpdpbusd multiplies unsigned by
 * signed bytes, so int8 weights are offset to unsigned (w ^ 0x80 = w + 128)
 * and int4 nibbles are unsigned already (w + 8); the offset times the sum of
 * x is subtracted by starting the accumulator at -dpbusd(offset, x), which a
 * row computes once for all the columns of its tile.
 * AVX2 takes one block per step with the sign trick: maddubs(|x|, sign(w, x)). */
#include "cpu-gemm.h"

#ifdef OMNI_CPU_HAVE_X86
#include <immintrin.h>

#define T512 __attribute__ ((target ("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,fma,f16c,avx2")))
#define T256 __attribute__ ((target ("avx2,fma,f16c")))
#define INLINE static inline __attribute__ ((always_inline))

static inline uint16_t
block_d (const uint8_t *blk)
{
  uint16_t d;

  memcpy (&d, blk, sizeof d);
  return d;
}

/* ---- AVX-512 VNNI ---- */

/* [a x 8, b x 8] from the two low floats of @v. */
INLINE T512 __m512
spread_pair (__m128 v)
{
  const __m512i idx = _mm512_set_epi32 (1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0);
  return _mm512_permutexvar_ps (idx, _mm512_castps128_ps512 (v));
}

/* Weight blocks @b0 and (when @two) the next one as unsigned bytes in x's
 * element order, and their scales spread over the two halves. */
INLINE T512 void
load_w_pair (const int q4, const uint8_t *b0, const int two, __m512i *wu, __m512 *dw)
{
  size_t bs = q4 ? sizeof (OmniBlockQ4) : sizeof (OmniBlockQ8);
  uint32_t dd = block_d (b0) | (two ? (uint32_t) block_d (b0 + bs) << 16 : 0);

  *dw = spread_pair (_mm_cvtph_ps (_mm_cvtsi32_si128 ((int) dd)));
  if (!q4) {
    __m256i lo = _mm256_loadu_si256 ((const __m256i *) (b0 + 2));
    __m256i hi = two ? _mm256_loadu_si256 ((const __m256i *) (b0 + bs + 2)) : _mm256_setzero_si256 ();
    __m512i v = _mm512_inserti64x4 (_mm512_castsi256_si512 (lo), hi, 1);
    *wu = _mm512_xor_si512 (v, _mm512_set1_epi8 ((char) 0x80));
  } else {
    const __m256i m4 = _mm256_set1_epi8 (0x0f);
    __m128i lo = _mm_loadu_si128 ((const __m128i *) (b0 + 2));
    __m128i hi = two ? _mm_loadu_si128 ((const __m128i *) (b0 + bs + 2)) : _mm_setzero_si128 ();
    __m256i v = _mm256_inserti128_si256 (_mm256_castsi128_si256 (lo), hi, 1);
    __m256i l = _mm256_and_si256 (v, m4), h = _mm256_and_si256 (_mm256_srli_epi16 (v, 4), m4);
    /* [b0 lo, b1 lo, b0 hi, b1 hi] -> [b0 lo, b0 hi, b1 lo, b1 hi] */
    __m512i z = _mm512_inserti64x4 (_mm512_castsi256_si512 (l), h, 1);
    *wu = _mm512_shuffle_i64x2 (z, z, _MM_SHUFFLE (3, 1, 2, 0));
  }
}

/* One step of two blocks at block @b for R rows by 4 weight rows; the same
 * bytes @pf further on are prefetched. */
INLINE T512 void
step_int512 (const int R, const int q4, const int two, const int8_t *const *xq, const float *const *xd,
             const uint8_t *const *wr, size_t pf, int64_t b, __m512 acc[4][4])
{
  size_t bs = q4 ? sizeof (OmniBlockQ4) : sizeof (OmniBlockQ8);
  const __m512i off = _mm512_set1_epi8 (q4 ? 8 : (char) 0x80);
  __m512i xv[4], neg[4], wu[4];
  __m512 dx[4], dw[4];

#pragma GCC unroll 4
  for (int c = 0; c < 4; c++) {
    _mm_prefetch ((const char *) wr[c] + pf + b * bs, _MM_HINT_T1);
    _mm_prefetch ((const char *) wr[c] + pf + (b + 2) * bs - 1, _MM_HINT_T1);
    load_w_pair (q4, wr[c] + b * bs, two, &wu[c], &dw[c]);
  }
#pragma GCC unroll 4
  for (int r = 0; r < R; r++) {
    xv[r] = _mm512_loadu_si512 (xq[r] + b * OMNI_QK);
    dx[r] = spread_pair (_mm_castsi128_ps (_mm_loadl_epi64 ((const __m128i *) (xd[r] + b))));
    neg[r] = _mm512_sub_epi32 (_mm512_setzero_si512 (),
                               _mm512_dpbusd_epi32 (_mm512_setzero_si512 (), off, xv[r]));
  }
#pragma GCC unroll 4
  for (int r = 0; r < R; r++)
#pragma GCC unroll 4
    for (int c = 0; c < 4; c++) {
      __m512i i = _mm512_dpbusd_epi32 (neg[r], wu[c], xv[r]);
      acc[r][c] = _mm512_fmadd_ps (_mm512_cvtepi32_ps (i), _mm512_mul_ps (dx[r], dw[c]), acc[r][c]);
    }
}

INLINE T512 void
tile_int512 (const int R, const int q4, const OmniCpuMatX *x, int64_t r0, const uint8_t *const *wr,
             int64_t nb, size_t pf, float out[4][4])
{
  const int8_t *xq[4];
  const float *xd[4];
  __m512 acc[4][4];
  int64_t b = 0;

#pragma GCC unroll 4
  for (int r = 0; r < R; r++) {
    xq[r] = x->qs + (r0 + r) * x->nbp * OMNI_QK;
    xd[r] = x->qd + (r0 + r) * x->nbp;
#pragma GCC unroll 4
    for (int c = 0; c < 4; c++)
      acc[r][c] = _mm512_setzero_ps ();
  }
  for (; b + 2 <= nb; b += 2)
    step_int512 (R, q4, 1, xq, xd, wr, pf, b, acc);
  if (b < nb)
    step_int512 (R, q4, 0, xq, xd, wr, pf, b, acc);
#pragma GCC unroll 4
  for (int r = 0; r < R; r++)
#pragma GCC unroll 4
    for (int c = 0; c < 4; c++)
      out[r][c] = _mm512_reduce_add_ps (acc[r][c]);
}

/* Blocks of x rows that stay in L2, 4-wide weight panels over them (a last
 * panel repeats its last row, the extra results dropped), 4-row tiles and
 * then single rows. */
#define GEMM_INT_LOOPS(tile)                                                                 \
  size_t row_bytes = omni_row_bytes (w->dtype, x->in);                                       \
  int64_t nb = (x->in + OMNI_QK - 1) / OMNI_QK;                                              \
  int64_t mb = omni_cpu_gemm_row_block (x->nbp * (OMNI_QK + 4));                             \
  int q4 = w->dtype == OMNI_DTYPE_Q4_32;                                                     \
  size_t pf = OMNI_CPU_PREFETCH_ROWS * row_bytes;                                            \
  for (int64_t r0 = 0; r0 < x->n; r0 += mb) {                                                \
    int64_t r1 = MIN (x->n, r0 + mb);                                                        \
    for (int64_t c = c0; c < c1; c += 4) {                                                   \
      int64_t nc = MIN ((int64_t) 4, c1 - c);                                                \
      const uint8_t *wr[4];                                                                  \
      for (int j = 0; j < 4; j++)                                                            \
        wr[j] = (const uint8_t *) w->data + (c + MIN (j, nc - 1)) * row_bytes;               \
      for (int64_t r = r0; r < r1;) {                                                        \
        float out[4][4];                                                                     \
        int rows = r1 - r >= 4 ? 4 : 1;                                                      \
        if (rows == 4 && q4)                                                                 \
          tile (4, 1, x, r, wr, nb, pf, out);                                                    \
        else if (rows == 4)                                                                  \
          tile (4, 0, x, r, wr, nb, pf, out);                                                    \
        else if (q4)                                                                         \
          tile (1, 1, x, r, wr, nb, pf, out);                                                    \
        else                                                                                 \
          tile (1, 0, x, r, wr, nb, pf, out);                                                    \
        for (int i = 0; i < rows; i++)                                                       \
          for (int j = 0; j < nc; j++)                                                       \
            y[(r + i) * ldy + c + j] = out[i][j];                                            \
        r += rows;                                                                           \
      }                                                                                      \
    }                                                                                        \
  }

T512 void
omni_cpu_gemm_int_avx512 (float *y, int64_t ldy, const OmniCpuMatX *x, const OmniTensor *w,
                          int64_t c0, int64_t c1)
{
  GEMM_INT_LOOPS (tile_int512)
}

T512 void
omni_cpu_matx_quantize_avx512 (const OmniCpuMatX *mx, int64_t r0, int64_t r1)
{
  for (int64_t r = r0; r < r1; r++) {
    const float *x = mx->x + (mx->x_rows ? mx->x_rows[r] : r) * mx->ldx;
    int8_t *qs = mx->qs + r * mx->nbp * OMNI_QK;
    float *qd = mx->qd + r * mx->nbp;

    for (int64_t b = 0; b < mx->nbp; b++) {
      int64_t m = CLAMP (mx->in - b * OMNI_QK, (int64_t) 0, (int64_t) OMNI_QK);
      __mmask16 m0 = (__mmask16) (m >= 16 ? 0xffff : (1u << m) - 1);
      __mmask16 m1 = (__mmask16) (m >= 32 ? 0xffff : m <= 16 ? 0 : (1u << (m - 16)) - 1);
      __m512 v0 = _mm512_maskz_loadu_ps (m0, x + b * OMNI_QK);
      __m512 v1 = _mm512_maskz_loadu_ps (m1, x + b * OMNI_QK + 16);
      float amax = _mm512_reduce_max_ps (_mm512_max_ps (_mm512_abs_ps (v0), _mm512_abs_ps (v1)));
      float d = amax / 127.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
      __m512 vid = _mm512_set1_ps (id);

      _mm_storeu_si128 ((__m128i *) (qs + b * OMNI_QK),
                        _mm512_cvtsepi32_epi8 (_mm512_cvtps_epi32 (_mm512_mul_ps (v0, vid))));
      _mm_storeu_si128 ((__m128i *) (qs + b * OMNI_QK + 16),
                        _mm512_cvtsepi32_epi8 (_mm512_cvtps_epi32 (_mm512_mul_ps (v1, vid))));
      qd[b] = d;
    }
  }
}

/* ---- AVX2 ---- */

INLINE T256 float
hsum8i (__m256 v)
{
  __m128 s = _mm_add_ps (_mm256_castps256_ps128 (v), _mm256_extractf128_ps (v, 1));
  s = _mm_add_ps (s, _mm_movehl_ps (s, s));
  s = _mm_add_ss (s, _mm_movehdup_ps (s));
  return _mm_cvtss_f32 (s);
}

/* Weight block @blk as 32 signed bytes in x's element order. */
INLINE T256 __m256i
load_w_block (const int q4, const uint8_t *blk)
{
  if (!q4)
    return _mm256_loadu_si256 ((const __m256i *) (blk + 2));
  const __m128i m4 = _mm_set1_epi8 (0x0f);
  __m128i v = _mm_loadu_si128 ((const __m128i *) (blk + 2));
  __m256i n = _mm256_set_m128i (_mm_and_si128 (_mm_srli_epi16 (v, 4), m4), _mm_and_si128 (v, m4));
  return _mm256_sub_epi8 (n, _mm256_set1_epi8 (8));
}

INLINE T256 void
tile_int256 (const int R, const int q4, const OmniCpuMatX *x, int64_t r0, const uint8_t *const *wr,
             int64_t nb, size_t pf, float out[4][4])
{
  size_t bs = q4 ? sizeof (OmniBlockQ4) : sizeof (OmniBlockQ8);
  const __m256i ones = _mm256_set1_epi16 (1);
  const int8_t *xq[4];
  const float *xd[4];
  __m256 acc[4][4];

#pragma GCC unroll 4
  for (int r = 0; r < R; r++) {
    xq[r] = x->qs + (r0 + r) * x->nbp * OMNI_QK;
    xd[r] = x->qd + (r0 + r) * x->nbp;
#pragma GCC unroll 4
    for (int c = 0; c < 4; c++)
      acc[r][c] = _mm256_setzero_ps ();
  }
  for (int64_t b = 0; b < nb; b++) {
    __m256i wv[4];
    float dw[4];

#pragma GCC unroll 4
    for (int c = 0; c < 4; c++) {
      _mm_prefetch ((const char *) wr[c] + pf + b * bs, _MM_HINT_T1);
      wv[c] = load_w_block (q4, wr[c] + b * bs);
      dw[c] = _cvtsh_ss (block_d (wr[c] + b * bs));
    }
#pragma GCC unroll 4
    for (int r = 0; r < R; r++) {
      __m256i xv = _mm256_loadu_si256 ((const __m256i *) (xq[r] + b * OMNI_QK));
      __m256i ax = _mm256_sign_epi8 (xv, xv);
      float dx = xd[r][b];
#pragma GCC unroll 4
      for (int c = 0; c < 4; c++) {
        __m256i p = _mm256_madd_epi16 (_mm256_maddubs_epi16 (ax, _mm256_sign_epi8 (wv[c], xv)), ones);
        acc[r][c] = _mm256_fmadd_ps (_mm256_cvtepi32_ps (p), _mm256_set1_ps (dx * dw[c]), acc[r][c]);
      }
    }
  }
#pragma GCC unroll 4
  for (int r = 0; r < R; r++)
#pragma GCC unroll 4
    for (int c = 0; c < 4; c++)
      out[r][c] = hsum8i (acc[r][c]);
}

T256 void
omni_cpu_gemm_int_avx2 (float *y, int64_t ldy, const OmniCpuMatX *x, const OmniTensor *w,
                        int64_t c0, int64_t c1)
{
  GEMM_INT_LOOPS (tile_int256)
}

#endif /* OMNI_CPU_HAVE_X86 */
