/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Instantiates the per-ISA template named by SIMD_TEMPLATE (a header written
 * against cpu-simd.h) for the portable path and, on x86, for AVX2 and
 * AVX-512, whose functions get the suffixes portable / avx2 / avx512.
 * SIMD_X86 is defined when the x86 instances exist. No include guard: a
 * file includes it once per template. */
#define SIMD_VW 4
#define SIMD_SUFFIX portable
#define SIMD_TARGET
#include SIMD_TEMPLATE
#undef SIMD_VW
#undef SIMD_SUFFIX
#undef SIMD_TARGET

#if defined(__x86_64__) || defined(__i386__)
#define SIMD_X86 1
#define SIMD_VW 8
#define SIMD_SUFFIX avx2
#define SIMD_TARGET __attribute__ ((target ("avx2")))
#include SIMD_TEMPLATE
#undef SIMD_VW
#undef SIMD_SUFFIX
#undef SIMD_TARGET

#define SIMD_VW 16
#define SIMD_SUFFIX avx512
#define SIMD_TARGET __attribute__ ((target ("avx512f")))
#include SIMD_TEMPLATE
#undef SIMD_VW
#undef SIMD_SUFFIX
#undef SIMD_TARGET
#endif
#undef SIMD_TEMPLATE
