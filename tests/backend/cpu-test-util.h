/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Helpers of the cpu backend op tests (test-cpu-ops-*.c). */
#ifndef CPU_TEST_UTIL_H
#define CPU_TEST_UTIL_H

#include "backend/cpu/cpu-backend.h"

/* The cpu backend with @nth threads running @isa's kernels (asserts). */
OmniBackend *cpu_test_backend (OmniCpuIsa isa, int nth);
/* A backend tensor of @dt (F32, BF16 or F16) and @shape, filled from the
 * floats @src (rounded to @dt) unless @src is NULL (asserts). */
OmniTensor cpu_test_tensor (OmniBackend *b, OmniDType dt, int n_dims, const int64_t *shape,
                            const float *src);

#endif /* CPU_TEST_UTIL_H */
