/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The reference (portable C) block quantizers. Scales are rounded to f16
 * first and the elements quantized against the rounded scale, so the stored
 * block is the best one for the scale it actually carries. */
#include <math.h>
#include "quant.h"

/* Largest finite f16: a larger scale saturates instead of becoming inf. */
#define F16_MAX 65504.0f

gboolean
omni_dtype_is_block (OmniDType t)
{
  return t == OMNI_DTYPE_Q8_32 || t == OMNI_DTYPE_Q4_32;
}

static size_t
block_bytes (OmniDType t)
{
  return t == OMNI_DTYPE_Q8_32 ? sizeof (OmniBlockQ8) : sizeof (OmniBlockQ4);
}

size_t
omni_row_bytes (OmniDType t, int64_t n)
{
  if (n <= 0)
    return 0;
  if (omni_dtype_is_block (t))
    return (size_t) ((n + OMNI_QK - 1) / OMNI_QK) * block_bytes (t);
  return (size_t) n * omni_dtype_size (t);
}

size_t
omni_tensor_bytes_for (OmniDType t, int64_t n_rows, int64_t n)
{
  return n_rows <= 0 ? 0 : (size_t) n_rows * omni_row_bytes (t, n);
}

/* The f16 scale for @d (>= 0 or of either sign), and its f32 value in *@dh. */
static uint16_t
scale_f16 (float d, float *dh)
{
  uint16_t h = omni_f32_to_f16 (fminf (fmaxf (d, -F16_MAX), F16_MAX));

  *dh = omni_f16_to_f32 (h);
  return h;
}

/* round-half-away(@v / @dh) clamped to [@lo, @hi]; 0 for a zero scale or NaN. */
static int
quant_elem (float v, float dh, int lo, int hi)
{
  float q = dh != 0.0f ? roundf (v / dh) : 0.0f;

  if (!(q == q))
    return 0;
  return (int) fminf (fmaxf (q, (float) lo), (float) hi);
}

static void
quantize_block_q8 (const float *x, int n, OmniBlockQ8 *b)
{
  float amax = 0.0f, dh;

  for (int j = 0; j < n; j++)
    amax = fmaxf (amax, fabsf (x[j]));
  b->d = scale_f16 (amax / 127.0f, &dh);
  for (int j = 0; j < OMNI_QK; j++)
    b->qs[j] = (int8_t) (j < n ? quant_elem (x[j], dh, -127, 127) : 0);
}

static void
quantize_block_q4 (const float *x, int n, OmniBlockQ4 *b)
{
  float m = 0.0f, dh;
  int q[OMNI_QK];

  for (int j = 0; j < n; j++)
    if (fabsf (x[j]) > fabsf (m))
      m = x[j];
  /* m maps to nibble 0 (-8), using the asymmetric range's extra step */
  b->d = scale_f16 (m / -8.0f, &dh);
  for (int j = 0; j < OMNI_QK; j++)
    q[j] = j < n ? quant_elem (x[j], dh, -8, 7) + 8 : 8;
  for (int j = 0; j < OMNI_QK / 2; j++)
    b->qs[j] = (uint8_t) (q[j] | (q[j + OMNI_QK / 2] << 4));
}

void
omni_quantize_row (OmniDType t, const float *x, void *dst, int64_t n)
{
  g_return_if_fail (omni_dtype_is_block (t));
  for (int64_t i = 0; i < n; i += OMNI_QK) {
    int nb = (int) MIN ((int64_t) OMNI_QK, n - i);

    if (t == OMNI_DTYPE_Q8_32)
      quantize_block_q8 (x + i, nb, (OmniBlockQ8 *) dst + i / OMNI_QK);
    else
      quantize_block_q4 (x + i, nb, (OmniBlockQ4 *) dst + i / OMNI_QK);
  }
}

static void
dequantize_block_q8 (const OmniBlockQ8 *b, float *dst, int n)
{
  float d = omni_f16_to_f32 (b->d);

  for (int j = 0; j < n; j++)
    dst[j] = d * b->qs[j];
}

static void
dequantize_block_q4 (const OmniBlockQ4 *b, float *dst, int n)
{
  float d = omni_f16_to_f32 (b->d);

  for (int j = 0; j < n; j++) {
    int nib = j < OMNI_QK / 2 ? b->qs[j] & 0xf : b->qs[j - OMNI_QK / 2] >> 4;
    dst[j] = d * (nib - 8);
  }
}

void
omni_dequantize_row (OmniDType t, const void *src, float *dst, int64_t n)
{
  if (!omni_dtype_is_block (t)) {
    omni_dtype_to_f32 (t, src, dst, (size_t) MAX (n, 0));
    return;
  }
  for (int64_t i = 0; i < n; i += OMNI_QK) {
    int nb = (int) MIN ((int64_t) OMNI_QK, n - i);

    if (t == OMNI_DTYPE_Q8_32)
      dequantize_block_q8 ((const OmniBlockQ8 *) src + i / OMNI_QK, dst + i, nb);
    else
      dequantize_block_q4 ((const OmniBlockQ4 *) src + i / OMNI_QK, dst + i, nb);
  }
}
