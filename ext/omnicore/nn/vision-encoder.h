/* The Qwen3-VL vision tower (also Qwen3-Omni's): patches -> merged tokens
 * for the decoder plus the DeepStack features, written against backend ops.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef OMNI_VISION_ENCODER_H
#define OMNI_VISION_ENCODER_H

#include <glib.h>
#include "io/vision-config.h"
#include "backend/backend.h"

/* The most patches of one forward call, all items together: the largest
 * image the released preprocessor config lets through (16777216 pixels =
 * 65536 patches of 16x16, 16384 tokens): about 4.6 GB of f32 activations
 * in backend memory for the released towers (hidden 1152) and 0.3 GB on
 * the host. Video clips and image batches beyond it must be split by the
 * caller. */
#define OMNI_VISION_MAX_PATCHES 65536

typedef struct _OmniVisionEncoder OmniVisionEncoder;

/* Loads the vision tower of the snapshot in @dir onto @b (weights stay in
 * their stored dtype; shapes checked, a missing tensor named). A snapshot
 * without one is OMNI_ERROR_UNSUPPORTED. The encoder does not own @b. */
OmniVisionEncoder *omni_vision_encoder_load (const char *dir, OmniBackend *b, GError **error);
/* Frees @e, its weights' bindings and its buffers (NULL is ignored). */
void omni_vision_encoder_free (OmniVisionEncoder *e);

/* The configuration the encoder was loaded with. */
const OmniVisionConfig *omni_vision_encoder_config (const OmniVisionEncoder *e);

/* Encodes @n_items images (grid t = 1) or video clips (t temporal groups)
 * in one pass: patches[i] is [t h w, patch_dim] f32 as the preprocessing
 * makes it (rows in 2x2 merge-block order, each (channel, temporal, y, x)).
 * Attention stays within one image or temporal group, so each item comes
 * out as it does alone. On success *out points at an encoder-owned backend
 * tensor [sum of t h w / merge^2, out_hidden_size] (f32, item after item)
 * and deepstack[k] (k < n_deepstack; @deepstack may be NULL) at the
 * features of DeepStack level k, same shape; valid until the next call or
 * free. No items, a grid not divisible by the merge size, more than
 * OMNI_VISION_MAX_PATCHES in total or a non-finite value is
 * OMNI_ERROR_INVALID naming the item. */
gboolean omni_vision_encoder_forward (OmniVisionEncoder *e, const float *const *patches,
                                      const OmniVisionGrid *grids, int n_items, OmniTensor **out,
                                      OmniTensor **deepstack, GError **error);

#endif /* OMNI_VISION_ENCODER_H */
