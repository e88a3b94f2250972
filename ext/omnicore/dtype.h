/* Element types of tensors, shared by io/, backend/ and nn/.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef OMNI_DTYPE_H
#define OMNI_DTYPE_H

#include <stdint.h>
#include <string.h>
#include <stddef.h>

typedef enum {
  OMNI_DTYPE_F32,
  OMNI_DTYPE_F16,
  OMNI_DTYPE_BF16,
  OMNI_DTYPE_F8_E4M3,
  OMNI_DTYPE_I64,
  OMNI_DTYPE_I32,
  OMNI_DTYPE_I8,
  OMNI_DTYPE_U8,
  OMNI_DTYPE_BOOL,
  /* Block dtypes (quant.h): rows of 32-element groups, one f16 scale each;
   * omni_dtype_size() is 0 for them, use omni_row_bytes(). */
  OMNI_DTYPE_Q8_32,
  OMNI_DTYPE_Q4_32,
  OMNI_DTYPE_COUNT
} OmniDType;

/* One group of OMNI_DTYPE_Q8_32: value j = f16(d) * qs[j]. 34 bytes. */
typedef struct {
  uint16_t d;
  int8_t qs[32];
} OmniBlockQ8;

/* One group of OMNI_DTYPE_Q4_32: element j < 16 is the low nibble of qs[j],
 * element j + 16 its high nibble; value = f16(d) * (nibble - 8). 18 bytes. */
typedef struct {
  uint16_t d;
  uint8_t qs[16];
} OmniBlockQ4;

_Static_assert (sizeof (OmniBlockQ8) == 34, "OmniBlockQ8 must be 34 packed bytes");
_Static_assert (sizeof (OmniBlockQ4) == 18, "OmniBlockQ4 must be 18 packed bytes");

/* Bytes per element of @t; 0 for block dtypes and unknown values. */
size_t omni_dtype_size (OmniDType t);
/* The safetensors spelling ("F32", "BF16", ...) of @t; "Q8_32" / "Q4_32" for
 * the block dtypes. */
const char *omni_dtype_name (OmniDType t);
/* Parses a safetensors dtype string; -1 when unknown (block dtypes are never
 * accepted: they are not safetensors dtypes). */
int omni_dtype_from_name (const char *name);

/* bf16 -> f32 is exact: the top 16 bits of the f32. */
static inline float
omni_bf16_to_f32 (uint16_t h)
{
  uint32_t u = (uint32_t) h << 16;
  float f;
  memcpy (&f, &u, 4);
  return f;
}

/* f32 -> bf16 with round-to-nearest-even, NaN kept quiet (as torch does). */
static inline uint16_t
omni_f32_to_bf16 (float f)
{
  uint32_t u;
  memcpy (&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u)
    return (uint16_t) ((u >> 16) | 0x40);
  u += 0x7fffu + ((u >> 16) & 1u);
  return (uint16_t) (u >> 16);
}

/* IEEE half -> f32, exact for normals, subnormals, inf and NaN. */
float omni_f16_to_f32 (uint16_t h);
/* f32 -> IEEE half, round-to-nearest-even. */
uint16_t omni_f32_to_f16 (float f);
/* OCP FP8 E4M3 (finite-only, NaN = 0x7f/0xff) -> f32. */
float omni_f8e4m3_to_f32 (uint8_t v);

/* Converts @n elements of @src (of type @t: F32, F16, BF16 or F8_E4M3) to f32. */
void omni_dtype_to_f32 (OmniDType t, const void *src, float *dst, size_t n);

#endif /* OMNI_DTYPE_H */
