/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The element-wise loops that call exp (SwiGLU's silu, both GELUs), a
 * per-ISA template (cpu-simd.h) included by cpu-elementwise.c once per ISA.
 * The tail of a range runs through the same vector code on a padded copy,
 * so an element's bits depend neither on the ISA nor on where a thread's
 * range starts. Outputs may alias inputs. */
#include "cpu-simd.h"

/* y = silu(g) * u = g / (1 + exp(-g)) * u */
SIMD_INLINE void
SIMD_FN (swiglu_vec) (VF *y, const VF *g, const VF *u)
{
  VF e = -*g;

  SIMD_FN (exp) (&e);
  *y = *g / (1.0f + e) * *u;
}

/* y = 0.5 x (1 + tanh(b)) = x / (1 + exp(-2 b)), b = sqrt(2/pi) (x + 0.044715 x^3) */
SIMD_INLINE void
SIMD_FN (gelu_tanh_vec) (VF *y, const VF *x, const VF *unused)
{
  const float beta = (float) (M_SQRT2 * M_2_SQRTPI * 0.5), kappa = 0.044715f;
  VF v = *x, e = (v + kappa * (v * v * v)) * (-2.0f * beta);

  SIMD_FN (exp) (&e);
  *y = v / (1.0f + e);
}

/* y = 0.5 x (1 + erf(x / sqrt 2)) = 0.5 x erfc(-x / sqrt 2), with
 * erfc(a) = t exp(-a^2 + P(t)), t = 1 / (1 + a / 2) for a >= 0 (the
 * Chebyshev fit of Numerical Recipes' erfcc, relative error < 1.2e-7) and
 * 2 - erfc(-a) below 0: accurate in the negative tail, where 1 + erff(z)
 * in f32 cancels. */
SIMD_INLINE void
SIMD_FN (gelu_erf_vec) (VF *y, const VF *x, const VF *unused)
{
  VF v = *x, z = v * (float) M_SQRT1_2, a, t, p, e, r;
  VI neg = z < 0.0f;

  a = (VF) ((VI) z & 0x7fffffff);
  t = 1.0f / (1.0f + 0.5f * a);
  p = t * 0.17087277f - 0.82215223f;
  p = p * t + 1.48851587f;
  p = p * t - 1.13520398f;
  p = p * t + 0.27886807f;
  p = p * t - 0.18628806f;
  p = p * t + 0.09678418f;
  p = p * t + 0.37409196f;
  p = p * t + 1.00002368f;
  e = p * t - 1.26551223f - a * a;
  SIMD_FN (exp) (&e);
  e = t * e;                       /* erfc(|z|) */
  r = (VF) (((VI) e & neg) | ((VI) (2.0f - e) & ~neg));
  *y = 0.5f * v * r;
}

#define SIMD_RANGE(op)                                                                   \
  static SIMD_TARGET void                                                                \
  SIMD_FN (op##_range) (float *y, const float *a, const float *c, int64_t i0, int64_t i1) \
  {                                                                                      \
    int64_t i = i0;                                                                      \
                                                                                         \
    for (; i + SIMD_VW <= i1; i += SIMD_VW) {                                            \
      VF va = *(const VFU *) (a + i), vc = *(const VFU *) (c + i), vy;                   \
      SIMD_FN (op##_vec) (&vy, &va, &vc);                                                \
      *(VFU *) (y + i) = vy;                                                             \
    }                                                                                    \
    if (i < i1) {                                                                        \
      VF va = { 0 }, vc = { 0 }, vy;                                                     \
      memcpy (&va, a + i, (i1 - i) * sizeof (float));                                   \
      memcpy (&vc, c + i, (i1 - i) * sizeof (float));                                    \
      SIMD_FN (op##_vec) (&vy, &va, &vc);                                                \
      memcpy (y + i, &vy, (i1 - i) * sizeof (float));                                    \
    }                                                                                    \
  }

SIMD_RANGE (swiglu)
SIMD_RANGE (gelu_tanh)
SIMD_RANGE (gelu_erf)
#undef SIMD_RANGE

#include "cpu-simd-end.h"
