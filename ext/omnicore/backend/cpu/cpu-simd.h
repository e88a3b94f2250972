/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Vector types and math for the per-ISA kernel templates (cpu-*-simd.h),
 * included at the top of such a template with SIMD_VW (floats per native
 * vector: 4, 8 or 16), SIMD_SUFFIX and SIMD_TARGET defined; the template
 * ends by including cpu-simd-end.h. The functions use GCC vector types, so
 * each instantiation compiles to its ISA's registers; without fp
 * contraction every instantiation performs the same IEEE operations lane by
 * lane and gives the same bits. */

#define SIMD_CAT2(a, b) a##_##b
#define SIMD_CAT(a, b) SIMD_CAT2 (a, b)
#define SIMD_FN(name) SIMD_CAT (name, SIMD_SUFFIX)
#define SIMD_INLINE static inline __attribute__ ((always_inline)) SIMD_TARGET

#define VF SIMD_FN (vf)
#define VFU SIMD_FN (vfu)
#define VI SIMD_FN (vi)
typedef float VF __attribute__ ((vector_size (4 * SIMD_VW)));
typedef float VFU __attribute__ ((vector_size (4 * SIMD_VW), aligned (4)));
typedef int32_t VI __attribute__ ((vector_size (4 * SIMD_VW)));

/* *px = exp(*px), x clamped to [-87, 88] (cephes' expf: x = n ln2 + r,
 * |r| <= ln2 / 2, a degree-7 polynomial in r, times 2^n; about 1 ulp).
 * By pointer: a vector passed by value would change the ABI between the
 * instantiations. */
SIMD_INLINE void
SIMD_FN (exp) (VF *px)
{
  const VF lo = (VF) { 0 } - 87.0f, hi = (VF) { 0 } + 88.0f, magic = (VF) { 0 } + 12582912.0f;
  VF x = *px, t, n, r, p;
  VI below = x < lo, above = x > hi, ni;

  x = (VF) (((VI) x & ~below) | ((VI) lo & below));
  x = (VF) (((VI) x & ~above) | ((VI) hi & above));
  t = x * 1.44269504088896341f + magic;  /* 1.5 * 2^23: rounds x log2(e) to an integer */
  n = t - magic;
  ni = (VI) t - (VI) magic;
  r = x - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  p = r * 1.9875691500E-4f + 1.3981999507E-3f;
  p = p * r + 8.3334519073E-3f;
  p = p * r + 4.1665795894E-2f;
  p = p * r + 1.6666665459E-1f;
  p = p * r + 5.0000001201E-1f;
  p = p * (r * r) + r + 1.0f;
  *px = p * (VF) ((ni + 127) << 23);
}
