/* 3-axis M-RoPE positions of a multimodal prompt (Qwen3-Omni's rule: the
 * thinker's get_rope_index in transformers).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef OMNI_MROPE_H
#define OMNI_MROPE_H

#include <glib.h>
#include <stdint.h>

/* The token ids and constants the rule reads from the model's config. */
typedef struct {
  int32_t image_token_id, video_token_id, audio_token_id;
  int32_t vision_start_token_id, audio_start_token_id;
  int spatial_merge_size;        /* vision merger: 2 */
  int position_id_per_seconds;   /* temporal positions per second: 13 (Omni) */
} OmniMRopeSpec;

/* One image or video in the prompt: its patch grid before merging (as
 * image_grid_thw / video_grid_thw) and, for video, seconds per temporal grid. */
typedef struct {
  int t, h, w;
  double seconds_per_grid;       /* video only; images use 1 */
} OmniMRopeGrid;

/* Writes the (t, h, w) positions of the @n prompt @tokens to @pos ([3][n],
 * axis-major) and the decode offset to @delta (a generated token at cache
 * position p has position p + delta on every axis). Text and audio run
 * sequentially on all axes; each image / video placeholder run after a
 * vision start is laid out on its merged grid (@images and @videos in order
 * of appearance) and the text after it starts past the largest position.
 * A run whose length does not match its grid, a missing grid, audio inside
 * a video block, or a video time step that is not a whole number of
 * positions: FALSE and OMNI_ERROR_INVALID / UNSUPPORTED saying which. */
gboolean omni_mrope_positions (const OmniMRopeSpec *spec, const int32_t *tokens, int n,
                               const OmniMRopeGrid *images, int n_images,
                               const OmniMRopeGrid *videos, int n_videos, int32_t *pos,
                               int *delta, GError **error);

#endif /* OMNI_MROPE_H */
