/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The block formats (quant.h): sizes, exact cases and round-trip error bounds. */
#include <math.h>
#include <glib.h>
#include "quant.h"

static float
uniform (GRand *r, float a)
{
  return (float) g_rand_double_range (r, -a, a);
}

static void
test_quant_sizes (void)
{
  g_assert_cmpuint (sizeof (OmniBlockQ8), ==, 34);
  g_assert_cmpuint (sizeof (OmniBlockQ4), ==, 18);
  g_assert_true (omni_dtype_is_block (OMNI_DTYPE_Q8_32));
  g_assert_true (omni_dtype_is_block (OMNI_DTYPE_Q4_32));
  g_assert_false (omni_dtype_is_block (OMNI_DTYPE_BF16));
  g_assert_cmpuint (omni_dtype_size (OMNI_DTYPE_Q8_32), ==, 0);
  g_assert_cmpstr (omni_dtype_name (OMNI_DTYPE_Q4_32), ==, "Q4_32");
  g_assert_cmpint (omni_dtype_from_name ("Q8_32"), ==, -1);
  g_assert_cmpuint (omni_row_bytes (OMNI_DTYPE_Q8_32, 32), ==, 34);
  g_assert_cmpuint (omni_row_bytes (OMNI_DTYPE_Q8_32, 33), ==, 68);
  g_assert_cmpuint (omni_row_bytes (OMNI_DTYPE_Q8_32, 8), ==, 34);
  g_assert_cmpuint (omni_row_bytes (OMNI_DTYPE_Q4_32, 1000), ==, 32 * 18);
  g_assert_cmpuint (omni_row_bytes (OMNI_DTYPE_BF16, 1000), ==, 2000);
  g_assert_cmpuint (omni_row_bytes (OMNI_DTYPE_F32, 0), ==, 0);
  g_assert_cmpuint (omni_tensor_bytes_for (OMNI_DTYPE_Q4_32, 3, 64), ==, 3 * 2 * 18);
  g_assert_cmpuint (omni_tensor_bytes_for (OMNI_DTYPE_F16, 3, 5), ==, 30);
}

/* Round trip of @n floats through @t: every element within half a step of
 * its block's scale (plus the f16 rounding of the scale), a last partial
 * block zero-padded. */
static void
check_round_trip (OmniDType t, int64_t n, GRand *r)
{
  float *x = g_new (float, n), *y = g_new (float, n);
  size_t bytes = omni_row_bytes (t, n);
  guint8 *q = g_malloc (bytes + 1);
  int64_t nblocks = (n + OMNI_QK - 1) / OMNI_QK;

  q[bytes] = 0xa5;  /* guard byte: the quantizer writes exactly @bytes */
  for (int64_t i = 0; i < n; i++)
    x[i] = uniform (r, 3.0f) * (i % 7 == 0 ? 10.0f : 1.0f);
  omni_quantize_row (t, x, q, n);
  g_assert_cmphex (q[bytes], ==, 0xa5);
  omni_dequantize_row (t, q, y, n);
  for (int64_t b = 0; b < nblocks; b++) {
    int64_t i0 = b * OMNI_QK, i1 = MIN (n, i0 + OMNI_QK);
    float amax = 0, d;

    for (int64_t i = i0; i < i1; i++)
      amax = fmaxf (amax, fabsf (x[i]));
    if (t == OMNI_DTYPE_Q8_32) {
      const OmniBlockQ8 *blk = (const OmniBlockQ8 *) q + b;
      d = omni_f16_to_f32 (blk->d);
      g_assert_cmpfloat (fabsf (d - amax / 127), <=, amax / 127 * 1e-3f);
      for (int64_t i = i1; i < i0 + OMNI_QK; i++)
        g_assert_cmpint (blk->qs[i - i0], ==, 0);
    } else {
      const OmniBlockQ4 *blk = (const OmniBlockQ4 *) q + b;
      d = fabsf (omni_f16_to_f32 (blk->d));
      g_assert_cmpfloat (fabsf (d - amax / 8), <=, amax / 8 * 1e-3f);
      for (int64_t i = i1; i < i0 + OMNI_QK; i++) {
        int j = (int) (i - i0);
        int nib = j < 16 ? blk->qs[j] & 0xf : blk->qs[j - 16] >> 4;
        g_assert_cmpint (nib, ==, 8);  /* zero */
      }
    }
    /* half a step, and the far side of the asymmetric int4 range (+7 steps
     * where the largest magnitude took -8) loses at most one more step */
    for (int64_t i = i0; i < i1; i++) {
      float bound = t == OMNI_DTYPE_Q8_32 ? 0.5f * d * 1.001f : 1.0f * d * 1.001f;
      g_assert_cmpfloat (fabsf (y[i] - x[i]), <=, bound);
      if (t == OMNI_DTYPE_Q4_32 && fabsf (x[i]) <= 7.0f * d)
        g_assert_cmpfloat (fabsf (y[i] - x[i]), <=, 0.5f * d * 1.001f);
    }
  }
  g_free (x);
  g_free (y);
  g_free (q);
}

static void
test_quant_round_trip (void)
{
  static const int64_t ns[] = { 1, 8, 24, 31, 32, 33, 64, 1000, 1024 };
  GRand *r = g_rand_new_with_seed (10);

  for (guint k = 0; k < G_N_ELEMENTS (ns); k++) {
    check_round_trip (OMNI_DTYPE_Q8_32, ns[k], r);
    check_round_trip (OMNI_DTYPE_Q4_32, ns[k], r);
  }
  g_rand_free (r);
}

static void
test_quant_exact (void)
{
  float x[40] = { 0 }, y[40];
  OmniBlockQ8 q8[2];
  OmniBlockQ4 q4[2];

  /* all zero: zero scale, zero values, nothing NaN */
  omni_quantize_row (OMNI_DTYPE_Q8_32, x, q8, 40);
  omni_dequantize_row (OMNI_DTYPE_Q8_32, q8, y, 40);
  g_assert_cmphex (q8[0].d, ==, 0);
  for (int i = 0; i < 40; i++)
    g_assert_cmpfloat (y[i], ==, 0.0f);
  omni_quantize_row (OMNI_DTYPE_Q4_32, x, q4, 40);
  omni_dequantize_row (OMNI_DTYPE_Q4_32, q4, y, 40);
  for (int i = 0; i < 16; i++)
    g_assert_cmphex (q4[0].qs[i], ==, 0x88);
  for (int i = 0; i < 40; i++)
    g_assert_cmpfloat (y[i], ==, 0.0f);

  /* the largest magnitude maps to +-127 (int8) and to -8 (int4, nibble 0);
   * block 0 has the exact scale 15.875 / 127 = 0.125, so 0.3125 is 2.5
   * steps and rounds away from zero */
  for (int i = 0; i < 32; i++)
    x[i] = (float) (i % 5) - 2.0f;
  x[3] = -15.875f;
  x[20] = 0.3125f;
  x[21] = -0.3125f;
  for (int i = 32; i < 40; i++)
    x[i] = (const float[]) { 0, 0.5f, -1.0f, 4.0f, -2.0f, 0, 0, 0 }[i - 32];
  omni_quantize_row (OMNI_DTYPE_Q8_32, x, q8, 40);
  g_assert_cmpfloat (omni_f16_to_f32 (q8[0].d), ==, 0.125f);
  g_assert_cmpint (q8[0].qs[3], ==, -127);
  g_assert_cmpint (q8[0].qs[20], ==, 3);
  g_assert_cmpint (q8[0].qs[21], ==, -3);
  g_assert_cmpint (q8[0].qs[4], ==, 16);
  g_assert_cmpint (q8[1].qs[3], ==, 127);
  g_assert_cmpfloat (omni_f16_to_f32 (q8[1].d), ==, omni_f16_to_f32 (omni_f32_to_f16 (4.0f / 127)));
  omni_quantize_row (OMNI_DTYPE_Q4_32, x, q4, 40);
  g_assert_cmpfloat (omni_f16_to_f32 (q4[0].d), ==, 1.984375f);
  g_assert_cmpint (q4[0].qs[3] & 0xf, ==, 0);   /* -15.875 -> -8 steps */
  g_assert_cmpint (q4[0].qs[4] & 0xf, ==, 9);   /* 2 / 1.984 -> +1 step */
  g_assert_cmpint (q4[0].qs[4] >> 4, ==, 8);    /* 0.3125 -> 0 */
  g_assert_cmpint (q4[1].qs[3] & 0xf, ==, 0);   /* +4 -> -8 steps: the scale is negative */
  g_assert_cmpfloat (omni_f16_to_f32 (q4[1].d), ==, -0.5f);
  omni_dequantize_row (OMNI_DTYPE_Q4_32, q4, y, 40);
  for (int i = 32; i < 40; i++)
    g_assert_cmpfloat (y[i], ==, x[i]);

  /* values on the grid come back exactly */
  for (int i = 0; i < 32; i++)
    x[i] = (float) (i - 16) * 0.25f;       /* int4: m = -4 -> d = 0.5 */
  omni_quantize_row (OMNI_DTYPE_Q8_32, x, q8, 32);
  omni_dequantize_row (OMNI_DTYPE_Q8_32, q8, y, 32);
  for (int i = 0; i < 32; i++)
    g_assert_cmpfloat (fabsf (y[i] - x[i]), <=, 0.5f * omni_f16_to_f32 (q8[0].d));
  for (int i = 0; i < 32; i++)
    x[i] = (float) ((i % 16) - 8) * 0.5f;  /* on the int4 grid, m = -4 */
  omni_quantize_row (OMNI_DTYPE_Q4_32, x, q4, 32);
  omni_dequantize_row (OMNI_DTYPE_Q4_32, q4, y, 32);
  for (int i = 0; i < 32; i++)
    g_assert_cmpfloat (y[i], ==, x[i]);
}

static void
test_quant_float_rows (void)
{
  uint16_t h[3] = { 0x3c00, 0xc000, 0x3800 };
  float y[3];

  omni_dequantize_row (OMNI_DTYPE_F16, h, y, 3);
  g_assert_cmpfloat (y[0], ==, 1.0f);
  g_assert_cmpfloat (y[1], ==, -2.0f);
  g_assert_cmpfloat (y[2], ==, 0.5f);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/quant/sizes", test_quant_sizes);
  g_test_add_func ("/quant/round-trip", test_quant_round_trip);
  g_test_add_func ("/quant/exact", test_quant_exact);
  g_test_add_func ("/quant/float-rows", test_quant_float_rows);
  return g_test_run ();
}
