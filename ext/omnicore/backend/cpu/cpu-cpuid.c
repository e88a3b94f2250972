/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* gcc's __builtin_cpu_supports reads cpuid and checks the OS saves the
 * vector state (xgetbv), so a feature it reports is usable. */
#include <glib.h>
#include "cpu-cpuid.h"

static const char *const isa_names[OMNI_CPU_ISA_COUNT] = { "portable", "avx2", "avx512" };

const char *
omni_cpu_isa_name (OmniCpuIsa isa)
{
  return (unsigned) isa < OMNI_CPU_ISA_COUNT ? isa_names[isa] : "?";
}

int
omni_cpu_isa_supported (OmniCpuIsa isa)
{
#if defined(__x86_64__) && defined(__GNUC__)
  __builtin_cpu_init ();
  switch (isa) {
  case OMNI_CPU_ISA_PORTABLE:
    return TRUE;
  case OMNI_CPU_ISA_AVX2:
    return __builtin_cpu_supports ("avx2") && __builtin_cpu_supports ("fma") &&
           __builtin_cpu_supports ("f16c");
  case OMNI_CPU_ISA_AVX512:
    return omni_cpu_isa_supported (OMNI_CPU_ISA_AVX2) && __builtin_cpu_supports ("avx512f") &&
           __builtin_cpu_supports ("avx512bw") && __builtin_cpu_supports ("avx512vl") &&
           __builtin_cpu_supports ("avx512dq") && __builtin_cpu_supports ("avx512vnni");
  default:
    return FALSE;
  }
#else
  return isa == OMNI_CPU_ISA_PORTABLE;
#endif
}

OmniCpuIsa
omni_cpu_isa_detect (void)
{
  const char *env = g_getenv ("OMNI_CPU_ISA");
  OmniCpuIsa best = OMNI_CPU_ISA_PORTABLE;

  for (int i = OMNI_CPU_ISA_COUNT - 1; i > 0; i--)
    if (omni_cpu_isa_supported (i)) {
      best = i;
      break;
    }
  if (env == NULL || *env == '\0')
    return best;
  for (int i = 0; i < OMNI_CPU_ISA_COUNT; i++) {
    if (g_ascii_strcasecmp (env, isa_names[i]) != 0)
      continue;
    if (omni_cpu_isa_supported (i))
      return i;
    g_warning ("OMNI_CPU_ISA=%s: this CPU cannot run it; using %s", env, isa_names[best]);
    return best;
  }
  g_warning ("OMNI_CPU_ISA=%s: expected portable, avx2 or avx512; using %s", env, isa_names[best]);
  return best;
}
