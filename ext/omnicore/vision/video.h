/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Video preprocessing as transformers' Qwen3VLVideoProcessor (with its
 * default cap_pixels_per_frame = False) and Qwen3VLProcessor's timestamps:
 * frames sampled at the config's fps within [min_frames, max_frames], every
 * frame resized to one size chosen from the budget over all frames
 * (t * h * w), an odd count padded by repeating the last frame, frames
 * paired into temporal patches. Pixel layout as vision/image.h. */
#ifndef OMNI_VISION_VIDEO_H
#define OMNI_VISION_VIDEO_H

#include <glib.h>
#include "io/vision-config.h"      /* OmniVisionGrid */
#include "vision/vision-config.h"

/* How many frames of a @total_frames clip at @video_fps to keep:
 * int(total / video_fps * cfg->fps) clamped to [min_frames, max_frames] and
 * to @total_frames. */
int omni_video_n_samples (const OmniVisionProcConfig *cfg, int total_frames, double video_fps);

/* The source frame indices to keep: round(linspace(0, total - 1, n)) (half
 * to even, as numpy) with n from omni_video_n_samples(), into a new array
 * (g_free) of *@n_indices. A clip of no frames, or a @video_fps that is not
 * positive, is OMNI_ERROR_INVALID. */
int *omni_video_sample_indices (const OmniVisionProcConfig *cfg, int total_frames,
                                double video_fps, int *n_indices, GError **error);

/* Temporal groups for @n_frames frames: ceil(n_frames / temporal_patch). */
int omni_video_n_groups (const OmniVisionProcConfig *cfg, int n_frames);

/* Seconds of each temporal group for the "<t seconds>" text: the indices
 * padded with the last to a multiple of temporal_patch_size, each index /
 * @video_fps, then per group (first + last of the group) / 2. @out holds
 * omni_video_n_groups() doubles. */
void omni_video_timestamps (const OmniVisionProcConfig *cfg, const int *indices, int n_indices,
                            double video_fps, double *out);

/* Qwen3-VL's video smart_resize: sides below @factor are first scaled up
 * (int() of the scaled sides), then as omni_image_smart_resize() with the
 * pixel count t * h * w (t rounded half to even to a multiple of
 * @temporal_factor). Fewer than @temporal_factor frames, or an aspect ratio
 * above 200, is OMNI_ERROR_INVALID. */
gboolean omni_video_smart_resize (int n_frames, gint64 height, gint64 width,
                                  int temporal_factor, int factor, gint64 min_pixels,
                                  gint64 max_pixels, int *out_height, int *out_width,
                                  GError **error);

/* The frame size and grid (groups, h / patch, w / patch) for @n_frames
 * sampled frames of @width x @height under @cfg (a video config). */
gboolean omni_video_plan (const OmniVisionProcConfig *cfg, int n_frames, int width,
                          int height, int *out_width, int *out_height, OmniVisionGrid *grid,
                          GError **error);

/* Preprocesses @n_frames sampled RGB8 frames (each @width x @height, rows
 * @stride bytes apart) into @out (omni_image_n_patches(@grid) *
 * omni_image_patch_dim() floats); @grid from omni_video_plan(). One scratch
 * allocation (all resized frames and the resize tables). */
gboolean omni_video_preprocess (const OmniVisionProcConfig *cfg, const guint8 *const *frames,
                                int n_frames, int width, int height, gsize stride,
                                const OmniVisionGrid *grid, float *out, GError **error);

#endif /* OMNI_VISION_VIDEO_H */
