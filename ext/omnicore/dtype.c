/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <math.h>
#include <glib.h>
#include "dtype.h"

static const struct { const char *name; size_t size; } dtype_info[OMNI_DTYPE_COUNT] = {
  [OMNI_DTYPE_F32] = { "F32", 4 },
  [OMNI_DTYPE_F16] = { "F16", 2 },
  [OMNI_DTYPE_BF16] = { "BF16", 2 },
  [OMNI_DTYPE_F8_E4M3] = { "F8_E4M3", 1 },
  [OMNI_DTYPE_I64] = { "I64", 8 },
  [OMNI_DTYPE_I32] = { "I32", 4 },
  [OMNI_DTYPE_I8] = { "I8", 1 },
  [OMNI_DTYPE_U8] = { "U8", 1 },
  [OMNI_DTYPE_BOOL] = { "BOOL", 1 },
  [OMNI_DTYPE_Q8_32] = { "Q8_32", 0 },
  [OMNI_DTYPE_Q4_32] = { "Q4_32", 0 },
};

size_t
omni_dtype_size (OmniDType t)
{
  return (unsigned) t < OMNI_DTYPE_COUNT ? dtype_info[t].size : 0;
}

const char *
omni_dtype_name (OmniDType t)
{
  return (unsigned) t < OMNI_DTYPE_COUNT ? dtype_info[t].name : "?";
}

int
omni_dtype_from_name (const char *name)
{
  for (int i = 0; i < OMNI_DTYPE_COUNT; i++)
    if (dtype_info[i].size != 0 && g_strcmp0 (name, dtype_info[i].name) == 0)
      return i;
  return -1;
}

float
omni_f16_to_f32 (uint16_t h)
{
  uint32_t sign = (uint32_t) (h & 0x8000) << 16;
  uint32_t exp = (h >> 10) & 0x1f, man = h & 0x3ff, u;
  float f;

  if (exp == 0x1f) {
    u = sign | 0x7f800000u | (man << 13);
  } else if (exp != 0) {
    u = sign | ((exp + 112) << 23) | (man << 13);
  } else {
    /* subnormal or zero: value = man * 2^-24, exact in f32 */
    f = ldexpf ((float) man, -24);
    return sign ? -f : f;
  }
  memcpy (&f, &u, 4);
  return f;
}

uint16_t
omni_f32_to_f16 (float f)
{
  uint32_t u;
  memcpy (&u, &f, 4);
  uint16_t sign = (u >> 16) & 0x8000;
  uint32_t a = u & 0x7fffffffu;

  if (a > 0x7f800000u)
    return sign | 0x7e00;
  if (a >= 0x477ff000u)             /* rounds to >= 65520: inf */
    return sign | 0x7c00;
  if (a < 0x38800000u) {            /* below the smallest normal half */
    float v = fabsf (f) * 16777216.0f;    /* in units of 2^-24 */
    return sign | (uint16_t) lrintf (v);  /* lrintf rounds to nearest even */
  }
  uint32_t r = a + 0xfffu + ((a >> 13) & 1u);
  return sign | (uint16_t) ((r - 0x38000000u) >> 13);
}

float
omni_f8e4m3_to_f32 (uint8_t v)
{
  int sign = v & 0x80, exp = (v >> 3) & 0xf, man = v & 7;
  float f;

  if (exp == 0xf && man == 7)
    return NAN;
  if (exp == 0)
    f = ldexpf ((float) man, -9);   /* subnormal: man/8 * 2^-6 */
  else
    f = ldexpf (1.0f + man / 8.0f, exp - 7);
  return sign ? -f : f;
}

void
omni_dtype_to_f32 (OmniDType t, const void *src, float *dst, size_t n)
{
  switch (t) {
    case OMNI_DTYPE_F32:
      memcpy (dst, src, n * 4);
      break;
    case OMNI_DTYPE_BF16:
      for (size_t i = 0; i < n; i++)
        dst[i] = omni_bf16_to_f32 (((const uint16_t *) src)[i]);
      break;
    case OMNI_DTYPE_F16:
      for (size_t i = 0; i < n; i++)
        dst[i] = omni_f16_to_f32 (((const uint16_t *) src)[i]);
      break;
    case OMNI_DTYPE_F8_E4M3:
      for (size_t i = 0; i < n; i++)
        dst[i] = omni_f8e4m3_to_f32 (((const uint8_t *) src)[i]);
      break;
    default:
      g_return_if_reached ();
  }
}
