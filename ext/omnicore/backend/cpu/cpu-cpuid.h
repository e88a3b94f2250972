/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Which SIMD kernels the cpu backend runs, chosen once from cpuid. */
#ifndef OMNI_CPU_CPUID_H
#define OMNI_CPU_CPUID_H

typedef enum {
  OMNI_CPU_ISA_PORTABLE,  /* plain C, the reference */
  OMNI_CPU_ISA_AVX2,      /* AVX2 + FMA + F16C */
  OMNI_CPU_ISA_AVX512,    /* AVX-512 F/BW/VL/DQ + VNNI, FMA, F16C */
  OMNI_CPU_ISA_COUNT
} OmniCpuIsa;

/* The best ISA this CPU runs, or the one $OMNI_CPU_ISA names
 * ("portable", "avx2", "avx512") when the CPU has it (else a warning and
 * the best one). */
OmniCpuIsa omni_cpu_isa_detect (void);
/* TRUE when this CPU (and OS) can run @isa's kernels. */
int omni_cpu_isa_supported (OmniCpuIsa isa);
/* "portable", "avx2" or "avx512". */
const char *omni_cpu_isa_name (OmniCpuIsa isa);

#endif /* OMNI_CPU_CPUID_H */
