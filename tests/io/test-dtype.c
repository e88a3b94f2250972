/* dtype.h conversions against torch (fixture) and exhaustive round trips.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <math.h>
#include <string.h>
#include "omnicore.h"
#include "dtype.h"
#include "io/safetensors.h"
#include "io-test-util.h"

static OmniSafetensors *fixture;

static const OmniSafeTensor *
fx (const char *name)
{
  const OmniSafeTensor *t = omni_safetensors_get (fixture, name);
  g_assert_nonnull (t);
  return t;
}

static uint32_t
bits (float f)
{
  uint32_t u;
  memcpy (&u, &f, 4);
  return u;
}

static void
test_fp8_all_codes (void)
{
  const OmniSafeTensor *codes = fx ("fp8.codes"), *values = fx ("fp8.values");
  g_assert_cmpint (codes->n_elements, ==, 256);
  const uint8_t *c = codes->data;
  const float *v = values->data;
  float conv[256];
  omni_dtype_to_f32 (OMNI_DTYPE_F8_E4M3, c, conv, 256);
  for (int i = 0; i < 256; i++) {
    float f = omni_f8e4m3_to_f32 (c[i]);
    if (isnan (v[i])) {
      g_assert_true (isnan (f));
      g_assert_true (isnan (conv[i]));
    } else {
      g_assert_cmphex (bits (f), ==, bits (v[i]));
      g_assert_cmphex (bits (conv[i]), ==, bits (v[i]));
    }
  }
  g_assert_cmpfloat (omni_f8e4m3_to_f32 (0x7e), ==, 448.0f);
  g_assert_cmpfloat (omni_f8e4m3_to_f32 (0x01), ==, ldexpf (1.0f, -9));
}

static void
test_f32_to_half_rne (void)
{
  const OmniSafeTensor *in = fx ("round.f32"), *h = fx ("round.f16"), *b = fx ("round.bf16");
  const float *f = in->data;
  const uint16_t *want16 = h->data, *wantb = b->data;
  int nan_seen = 0;
  g_assert_cmpint (in->n_elements, >, 5000);
  for (int64_t i = 0; i < in->n_elements; i++) {
    uint16_t got16 = omni_f32_to_f16 (f[i]), gotb = omni_f32_to_bf16 (f[i]);
    if (isnan (f[i])) {
      /* any quiet NaN is a NaN; torch's payload is not part of the contract */
      g_assert_true (isnan (omni_f16_to_f32 (got16)));
      g_assert_true (isnan (omni_bf16_to_f32 (gotb)));
      g_assert_cmphex (got16 & 0x7e00, ==, 0x7e00);
      g_assert_cmphex (gotb & 0x7fc0, ==, 0x7fc0);
      nan_seen++;
      continue;
    }
    if (got16 != want16[i] || gotb != wantb[i])
      g_error ("f32 %a (0x%08x): f16 0x%04x want 0x%04x, bf16 0x%04x want 0x%04x",
               f[i], bits (f[i]), got16, want16[i], gotb, wantb[i]);
  }
  g_assert_cmpint (nan_seen, >, 0);
}

static void
test_f16_codes (void)
{
  const OmniSafeTensor *c = fx ("f16.codes"), *v = fx ("f16.values");
  const uint16_t *codes = c->data;
  const float *values = v->data;
  for (int64_t i = 0; i < c->n_elements; i++) {
    float f = omni_f16_to_f32 (codes[i]);
    if (isnan (values[i]))
      g_assert_true (isnan (f));
    else
      g_assert_cmphex (bits (f), ==, bits (values[i]));
  }
}

/* Every half: the value the IEEE formula gives, and back unchanged. */
static void
test_f16_exhaustive (void)
{
  for (uint32_t h = 0; h < 65536; h++) {
    int s = h >> 15, e = (h >> 10) & 31, m = h & 1023;
    float f = omni_f16_to_f32 ((uint16_t) h);
    if (e == 31) {
      g_assert_true (m ? isnan (f) : isinf (f));
      g_assert_true (m || (signbit (f) != 0) == s);
      if (m)
        g_assert_true (isnan (omni_f16_to_f32 (omni_f32_to_f16 (f))));
      else
        g_assert_cmphex (omni_f32_to_f16 (f), ==, h);
      continue;
    }
    double want = e ? ldexp (1024 + m, e - 25) : ldexp (m, -24);
    if (s)
      want = -want;
    g_assert_cmpfloat ((double) f, ==, want);
    g_assert_true ((signbit (f) != 0) == s);
    g_assert_cmphex (omni_f32_to_f16 (f), ==, h);
  }
  /* halfway cases round to even, at every magnitude */
  g_assert_cmphex (omni_f32_to_f16 (1.0f + ldexpf (1, -11)), ==, 0x3c00);
  g_assert_cmphex (omni_f32_to_f16 (1.0f + 3 * ldexpf (1, -11)), ==, 0x3c02);
  g_assert_cmphex (omni_f32_to_f16 (ldexpf (1, -25)), ==, 0x0000);
  g_assert_cmphex (omni_f32_to_f16 (3 * ldexpf (1, -25)), ==, 0x0002);
  g_assert_cmphex (omni_f32_to_f16 (65520.0f), ==, 0x7c00);
  g_assert_cmphex (omni_f32_to_f16 (nextafterf (65520.0f, 0)), ==, 0x7bff);
  g_assert_cmphex (omni_f32_to_f16 (-1e30f), ==, 0xfc00);
  g_assert_cmphex (omni_f32_to_f16 (ldexpf (1, -14) - ldexpf (1, -25)), ==, 0x0400);
}

static void
test_bf16_exhaustive (void)
{
  for (uint32_t h = 0; h < 65536; h++) {
    float f = omni_bf16_to_f32 ((uint16_t) h);
    g_assert_cmphex (bits (f), ==, h << 16);
    if (isnan (f))
      g_assert_true (isnan (omni_bf16_to_f32 (omni_f32_to_bf16 (f))));
    else
      g_assert_cmphex (omni_f32_to_bf16 (f), ==, h);
  }
  g_assert_cmphex (omni_f32_to_bf16 (1.0f + ldexpf (1, -8)), ==, 0x3f80);
  g_assert_cmphex (omni_f32_to_bf16 (1.0f + 3 * ldexpf (1, -8)), ==, 0x3f82);
  g_assert_cmphex (omni_f32_to_bf16 (3.4028235e38f), ==, 0x7f80);
}

static void
test_dtype_table (void)
{
  static const struct { const char *name; size_t size; } t[] = {
    { "F32", 4 }, { "F16", 2 }, { "BF16", 2 }, { "F8_E4M3", 1 }, { "I64", 8 },
    { "I32", 4 }, { "I8", 1 }, { "U8", 1 }, { "BOOL", 1 }, { "Q8_32", 0 }, { "Q4_32", 0 },
  };
  G_STATIC_ASSERT (G_N_ELEMENTS (t) == OMNI_DTYPE_COUNT);
  for (int i = 0; i < OMNI_DTYPE_COUNT; i++) {
    /* block dtypes are ours, never a safetensors dtype */
    g_assert_cmpint (omni_dtype_from_name (t[i].name), ==, t[i].size ? i : -1);
    g_assert_cmpstr (omni_dtype_name (i), ==, t[i].name);
    g_assert_cmpuint (omni_dtype_size (i), ==, t[i].size);
  }
  g_assert_cmpint (omni_dtype_from_name ("F64"), ==, -1);
  g_assert_cmpint (omni_dtype_from_name ("f32"), ==, -1);
  g_assert_cmpint (omni_dtype_from_name (NULL), ==, -1);
  g_assert_cmpuint (omni_dtype_size (OMNI_DTYPE_COUNT), ==, 0);

  uint16_t h[3] = { 0x3c00, 0xc000, 0x0001 }, b[3] = { 0x3f80, 0xc000, 0x0001 };
  float f[3], src[3] = { 1.5f, -2.0f, 0.25f };
  omni_dtype_to_f32 (OMNI_DTYPE_F16, h, f, 3);
  g_assert_cmpfloat (f[0], ==, 1.0f);
  g_assert_cmpfloat (f[1], ==, -2.0f);
  g_assert_cmpfloat (f[2], ==, ldexpf (1, -24));
  omni_dtype_to_f32 (OMNI_DTYPE_BF16, b, f, 3);
  g_assert_cmpfloat (f[0], ==, 1.0f);
  g_assert_cmpfloat (f[1], ==, -2.0f);
  g_assert_cmphex (bits (f[2]), ==, 0x00010000);
  omni_dtype_to_f32 (OMNI_DTYPE_F32, src, f, 3);
  g_assert_cmpmem (f, sizeof f, src, sizeof src);
}

int
main (int argc, char **argv)
{
  GError *error = NULL;
  g_test_init (&argc, &argv, NULL);
  char *path = io_test_srcpath ("dtype-fixture.safetensors");
  fixture = omni_safetensors_open_file (path, &error);
  g_assert_no_error (error);
  g_free (path);
  g_test_add_func ("/dtype/fp8-e4m3-all-codes", test_fp8_all_codes);
  g_test_add_func ("/dtype/f32-to-f16-bf16-rne", test_f32_to_half_rne);
  g_test_add_func ("/dtype/f16-codes", test_f16_codes);
  g_test_add_func ("/dtype/f16-exhaustive", test_f16_exhaustive);
  g_test_add_func ("/dtype/bf16-exhaustive", test_bf16_exhaustive);
  g_test_add_func ("/dtype/table", test_dtype_table);
  int ret = g_test_run ();
  omni_safetensors_free (fixture);
  return ret;
}
