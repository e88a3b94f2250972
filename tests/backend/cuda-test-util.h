/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Helpers of the cuda-emu tests: the same tensors on two backends (cpu and
 * cuda-emu), results downloaded for comparison, and the module's counters. */
#ifndef CUDA_TEST_UTIL_H
#define CUDA_TEST_UTIL_H

#include "backend/backend.h"
#include "backend/cuda/cuda-module.h"

/* Opens @device or fails the test with the GError. */
OmniBackend *ct_open (const char *device);
/* A tensor on @b holding @host (n_bytes of it), or zeros when @host is NULL. */
OmniTensor ct_tensor (OmniBackend *b, OmniDType dt, int n_dims, const int64_t *shape, const void *host);
/* @t's contents as a new host buffer. */
void *ct_download (OmniBackend *b, const OmniTensor *t);
/* A new host array of @n floats in [-1, 1) from @rng. */
float *ct_random (GRand *rng, int64_t n);
/* @src (n floats) as @dt bits in a new buffer; @src rounded to what @dt holds. */
void *ct_to_dtype (float *src, int64_t n, OmniDType dt);
/* The backend module's counters (the module exports omni_backend_module_stats). */
void ct_stats (OmniBackend *b, OmniCudaStats *stats);

#endif /* CUDA_TEST_UTIL_H */
