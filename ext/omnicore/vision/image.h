/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Image preprocessing of the Qwen vision models, as transformers'
 * Qwen2VLImageProcessor (torchvision backend, the v5 default; Qwen3-VL and
 * Qwen3-Omni use it): smart resize to multiples of patch * merge within the
 * pixel budget, bicubic resize (vision/resize.h: bit-exact 8-bit pixels),
 * rescale + normalize in float32, the frame repeated to fill the temporal
 * patch, patches flattened in merge-block order.
 *
 * Output layout ("pixel_values"): [n_patches][C * T * P * P] f32, each row
 * in (channel, temporal, y, x) order, rows ordered (t, bh, bw, mh, mw): the
 * merge_size x merge_size patches of one LLM token are consecutive rows.
 * Normalisation is (v - mean / rescale) / (std / rescale) in float32 on the
 * 8-bit value v, with mean / rescale and std / rescale rounded to float32
 * first, which is the order of transformers' fused rescale_and_normalize;
 * the values are bit-exact with it (see tests/vision/test-image.c). */
#ifndef OMNI_VISION_IMAGE_H
#define OMNI_VISION_IMAGE_H

#include <glib.h>
#include "io/vision-config.h"      /* OmniVisionGrid */
#include "vision/vision-config.h"

/* transformers' smart_resize(height, width, factor, min_pixels, max_pixels):
 * both sides rounded (half to even) to multiples of @factor, then scaled
 * down (floor) or up (ceil) by sqrt of the pixel ratio when outside
 * [@min_pixels, @max_pixels]. An aspect ratio above 200 is
 * OMNI_ERROR_INVALID, as are sizes < 1 or a factor < 1. */
gboolean omni_image_smart_resize (gint64 height, gint64 width, int factor, gint64 min_pixels,
                                  gint64 max_pixels, int *out_height, int *out_width,
                                  GError **error);

/* Values per patch row: 3 * temporal_patch_size * patch_size^2. */
gsize omni_image_patch_dim (const OmniVisionProcConfig *cfg);

/* Rows of pixel_values for @grid: t * h * w. */
gsize omni_image_n_patches (const OmniVisionGrid *grid);

/* The resized size and the grid (1, h / patch, w / patch) of a @width x
 * @height image under @cfg. A side below 2 pixels is OMNI_ERROR_INVALID
 * (transformers would stretch a 1-pixel line to the minimum budget, which no
 * model was trained on); so is an aspect ratio above 200. An image far above
 * max_pixels is scaled down, not an error. With do_resize false the sides
 * must already be multiples of patch * merge. */
gboolean omni_image_plan (const OmniVisionProcConfig *cfg, int width, int height,
                          int *out_width, int *out_height, OmniVisionGrid *grid,
                          GError **error);

/* The normalisation of the 8-bit values of channel c into @lut[c * 256 + v]
 * (do_rescale / do_normalize as @cfg says). */
void omni_image_normalize_table (const OmniVisionProcConfig *cfg, float lut[3 * 256]);

/* Writes the rows of @grid from @frames (grid->t * temporal_patch_size
 * pointers to packed RGB8 frames of grid->w * patch x grid->h * patch
 * pixels, rows @stride bytes apart; a pointer may repeat) into @out
 * ([n_patches][patch_dim]), normalising through @lut. */
void omni_image_patchify (const OmniVisionProcConfig *cfg, const guint8 *const *frames,
                          gsize stride, const OmniVisionGrid *grid, const float lut[3 * 256],
                          float *out);

/* The whole image path: plan, resize, normalize, duplicate to the temporal
 * patch, flatten. @rgb is packed RGB8, @width x @height, rows @stride bytes
 * apart (>= 3 * width). @grid must come from omni_image_plan() on the same
 * size; @out holds omni_image_n_patches() * omni_image_patch_dim() floats.
 * One scratch allocation (the resized image and the resize tables). NULL
 * pointers, a short stride or a grid that does not match are
 * OMNI_ERROR_INVALID. */
gboolean omni_image_preprocess (const OmniVisionProcConfig *cfg, const guint8 *rgb, int width,
                                int height, gsize stride, const OmniVisionGrid *grid,
                                float *out, GError **error);

#endif /* OMNI_VISION_IMAGE_H */
