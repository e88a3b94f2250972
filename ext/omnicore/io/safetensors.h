/* safetensors over mmap: one file, or the shards named by an index.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef OMNI_SAFETENSORS_H
#define OMNI_SAFETENSORS_H

#include <glib.h>
#include "dtype.h"

#define OMNI_MAX_DIMS 8

/* One tensor as stored: @data points into the read-only mapping and is
 * aligned to the element size (files that break this are refused). */
typedef struct {
  const char *name;     /* owned by the set */
  OmniDType dtype;
  int n_dims;
  int64_t shape[OMNI_MAX_DIMS];  /* row-major, shape[n_dims-1] innermost */
  int64_t n_elements;
  const void *data;
  size_t n_bytes;
  const char *file;     /* path of the shard holding it, for messages */
} OmniSafeTensor;

typedef struct _OmniSafetensors OmniSafetensors;

/* Maps one .safetensors file and validates its header strictly (JSON, dtype,
 * offsets in bounds and without overlap, size = shape x dtype). */
OmniSafetensors *omni_safetensors_open_file (const char *path, GError **error);

/* Opens a snapshot directory: model.safetensors.index.json and its shards if
 * present, else model.safetensors. Every shard the index names must exist. */
OmniSafetensors *omni_safetensors_open_dir (const char *dir, GError **error);

void omni_safetensors_free (OmniSafetensors *st);

/* The tensor called @name, or NULL. */
const OmniSafeTensor *omni_safetensors_get (const OmniSafetensors *st, const char *name);

/* Number of tensors, and the i-th in file order (for listing). */
guint omni_safetensors_count (const OmniSafetensors *st);
const OmniSafeTensor *omni_safetensors_nth (const OmniSafetensors *st, guint i);

/* Like get(), but a missing tensor, a wrong shape (@n_dims dims of @shape; a
 * shape entry of -1 matches anything) or a dtype that is not a float type is a
 * GError naming the tensor, what was expected and the file. */
const OmniSafeTensor *omni_safetensors_require (const OmniSafetensors *st, const char *name,
                                                int n_dims, const int64_t *shape, GError **error);

/* Converts a stored tensor to f32 into @dst (n_elements floats). For F8_E4M3
 * the block scales of Qwen's FP8 checkpoints ("<name>_scale_inv", 2-D blocks
 * over the last two dims; F32/BF16/F16) are applied when @st holds them. */
gboolean omni_safetensors_to_f32 (const OmniSafetensors *st, const OmniSafeTensor *t,
                                  float *dst, GError **error);

/* Sets the FP8 block size (quantization_config.weight_block_size) used by
 * to_f32(); 0 derives it from the shapes, which needs the blocks to divide. */
void omni_safetensors_set_fp8_block (OmniSafetensors *st, int block_rows, int block_cols);

/* "[a, b, c]" for messages; free with g_free(). */
char *omni_safetensors_shape_string (int n_dims, const int64_t *shape);

#endif /* OMNI_SAFETENSORS_H */
