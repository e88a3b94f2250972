/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Helpers of the kernel tests: device buffers through the (emulated) CUDA
 * runtime, seeded random data, comparison with a tolerance, and the cpu
 * backend as the reference. */
#ifndef OMNI_KTEST_H
#define OMNI_KTEST_H

#include <glib.h>
#include <cuda_runtime_api.h>
#include "kernels.h"
#include "backend/backend.h"

/* Fails the test when @e is not cudaSuccess, naming @what. */
#define KT_CHECK(e, what) kt_check ((e), (what), __FILE__, __LINE__)
void kt_check (cudaError_t e, const char *what, const char *file, int line);

/* A device copy of @n bytes of @host (NULL: zeroed); freed by kt_free_all. */
void *kt_dev (const void *host, size_t n);
/* Copies @n bytes of device @dev to a new host buffer (g_free it). */
void *kt_host (const void *dev, size_t n);
/* Frees every buffer kt_dev made. */
void kt_free_all (void);

/* @n uniform floats in [lo, hi) from @rng. */
float *kt_rand (GRand *rng, size_t n, float lo, float hi);
/* @n floats of @f32 stored as @type (bytes, g_free). */
void *kt_pack (const float *f32, size_t n, OmniKDType type);

/* Asserts |got - want| <= atol + rtol |want| elementwise, naming @what and
 * the first bad index. */
void kt_assert_close (const float *got, const float *want, size_t n, float atol, float rtol, const char *what);

/* The cpu backend (1 thread), opened once. */
OmniBackend *kt_cpu (void);
/* A host tensor of the cpu backend over @data (not owned). */
OmniTensor kt_tensor (void *data, OmniDType dtype, int n_dims, int64_t d0, int64_t d1, int64_t d2);

#endif /* OMNI_KTEST_H */
