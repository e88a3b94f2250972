/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Shared between the emulator's runtime, cuBLASLt and cuDNN files; not for
 * kernels or the backend. */
#ifndef OMNI_EMU_INTERNAL_H
#define OMNI_EMU_INTERNAL_H

#include <cuda_runtime_api.h>
#include <library_types.h>
#include <stddef.h>

/* Runs @run (ctx) in @stream's order now, or, when @stream is capturing,
 * records it with a private copy of the @ctx_size bytes at @ctx (so library
 * calls capture their parameters by value, as the real libraries do). */
extern "C" cudaError_t omni_emu_stream_enqueue (cudaStream_t stream,
    void (*run) (void *ctx), const void *ctx, size_t ctx_size);

/* Element @i of an array of bf16, f16 or f32 widened to f32. */
float omni_emu_load_f32 (const void *p, cudaDataType_t type, size_t i);

/* Stores @v as element @i of an array of bf16, f16 or f32 (round to nearest
 * even). */
void omni_emu_store_f32 (void *p, cudaDataType_t type, size_t i, float v);

/* Thread-local scratch of at least @bytes (reused between calls). */
void *omni_emu_scratch (int slot, size_t bytes);

#endif /* OMNI_EMU_INTERNAL_H */
