/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Closes one instantiation of a per-ISA template (see cpu-simd.h). */
#undef VF
#undef VFU
#undef VI
#undef SIMD_INLINE
#undef SIMD_FN
#undef SIMD_CAT
#undef SIMD_CAT2
