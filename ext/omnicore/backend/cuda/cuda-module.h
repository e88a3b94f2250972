/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The two symbols a CUDA backend module exports (libomnicore-cuda.so and
 * libomnicore-cuda-emu.so); backend.c and the tests find them with GModule. */
#ifndef OMNI_CUDA_MODULE_H
#define OMNI_CUDA_MODULE_H

#include <glib.h>
#include "backend/backend.h"

/* Counters for tests: device allocations must not happen per step. */
typedef struct {
  guint64 cuda_mallocs;        /* cudaMalloc + cudaMallocHost calls made by the backend */
  guint64 pool_allocs;         /* blocks taken from the arena */
  guint64 graphs_captured, graphs_replayed;
  size_t pool_size, pool_in_use, pool_peak;
} OmniCudaStats;

/* Opens the backend on @device ("cuda:N", or "cuda-emu" in the emulator
 * module); a GError (OMNI_ERROR_DEVICE) when there is no such device. */
typedef OmniBackend *(*OmniBackendModuleOpen) (const char *device, GError **error);
/* Copies @b's counters to @stats. */
typedef void (*OmniCudaModuleStats) (OmniBackend *b, OmniCudaStats *stats);

#endif /* OMNI_CUDA_MODULE_H */
