/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Qwen2VLImageProcessor in C: smart resize, bicubic resize, normalisation,
 * temporal duplication and merge-block patch order. */
#include "vision/image.h"
#include "vision/resize.h"
#include "omnicore.h"

#include <math.h>
#include <string.h>

/* the most frames one temporal patch may hold (the config parser's limit) */
#define MAX_TEMPORAL 64

gboolean
omni_image_smart_resize (gint64 height, gint64 width, int factor, gint64 min_pixels,
                         gint64 max_pixels, int *out_height, int *out_width, GError **error)
{
  if (height < 1 || width < 1 || factor < 1 || height > G_MAXINT || width > G_MAXINT) {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_INVALID,
                 "smart resize: %" G_GINT64_FORMAT "x%" G_GINT64_FORMAT " with factor %d "
                 "(expected positive sizes and factor)", width, height, factor);
    return FALSE;
  }
  double aspect = (double) MAX (height, width) / (double) MIN (height, width);
  if (aspect > 200.0) {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_INVALID,
                 "smart resize: %" G_GINT64_FORMAT "x%" G_GINT64_FORMAT " has an aspect ratio "
                 "of %g (expected at most 200)", width, height, aspect);
    return FALSE;
  }
  /* Python's round() is half to even: nearbyint in the default mode. */
  double f = factor;
  double h = nearbyint ((double) height / f) * f, w = nearbyint ((double) width / f) * f;
  if (h * w > (double) max_pixels) {
    double beta = sqrt ((double) (height * width) / (double) max_pixels);
    h = MAX (f, floor ((double) height / beta / f) * f);
    w = MAX (f, floor ((double) width / beta / f) * f);
  } else if (h * w < (double) min_pixels) {
    double beta = sqrt ((double) min_pixels / (double) (height * width));
    h = ceil ((double) height * beta / f) * f;
    w = ceil ((double) width * beta / f) * f;
  }
  if (h > G_MAXINT / 4 || w > G_MAXINT / 4) {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_INVALID,
                 "smart resize: %" G_GINT64_FORMAT "x%" G_GINT64_FORMAT " resizes to %gx%g, "
                 "too large", width, height, w, h);
    return FALSE;
  }
  *out_height = (int) h;
  *out_width = (int) w;
  return TRUE;
}

gsize
omni_image_patch_dim (const OmniVisionProcConfig *cfg)
{
  return (gsize) 3 * cfg->temporal_patch_size * cfg->patch_size * cfg->patch_size;
}

gsize
omni_image_n_patches (const OmniVisionGrid *grid)
{
  return (gsize) grid->t * grid->h * grid->w;
}

gboolean
omni_image_plan (const OmniVisionProcConfig *cfg, int width, int height, int *out_width,
                 int *out_height, OmniVisionGrid *grid, GError **error)
{
  int factor = cfg->patch_size * cfg->merge_size, oh = height, ow = width;

  if (width < 2 || height < 2) {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_INVALID,
                 "image of %dx%d pixels: expected at least 2x2 (a single row or column of "
                 "pixels is not a picture)", width, height);
    return FALSE;
  }
  if (cfg->do_resize) {
    if (!omni_image_smart_resize (height, width, factor, cfg->min_pixels, cfg->max_pixels,
                                  &oh, &ow, error))
      return FALSE;
  } else if (width % factor != 0 || height % factor != 0) {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_INVALID,
                 "image of %dx%d pixels with do_resize false: expected sides that are "
                 "multiples of patch_size * merge_size = %d", width, height, factor);
    return FALSE;
  }
  *out_width = ow;
  *out_height = oh;
  grid->t = 1;
  grid->h = oh / cfg->patch_size;
  grid->w = ow / cfg->patch_size;
  return TRUE;
}

void
omni_image_normalize_table (const OmniVisionProcConfig *cfg, float lut[3 * 256])
{
  /* transformers folds the rescale into mean and std (float32 tensors
   * times 1 / rescale_factor), then subtracts and divides in float32. */
  float inv = (float) (1.0 / cfg->rescale_factor), scale = (float) cfg->rescale_factor;

  for (int c = 0; c < 3; c++) {
    float mean = cfg->image_mean[c], std = cfg->image_std[c];
    if (cfg->do_rescale) {
      mean = mean * inv;
      std = std * inv;
    }
    for (int v = 0; v < 256; v++) {
      float x = (float) v;
      if (cfg->do_normalize)
        x = (x - mean) / std;
      else if (cfg->do_rescale)
        x = x * scale;
      lut[c * 256 + v] = x;
    }
  }
}

/* One row: patch (py0, px0) of the frames of temporal group @t. */
static void
patch_row (const OmniVisionProcConfig *cfg, const guint8 *const *frames, gsize stride, int t,
           int py0, int px0, const float *lut, float *row)
{
  int P = cfg->patch_size, T = cfg->temporal_patch_size;

  for (int c = 0; c < 3; c++) {
    const float *l = lut + c * 256;
    for (int tp = 0; tp < T; tp++) {
      const guint8 *f = frames[t * T + tp] + (gsize) px0 * 3 + c;
      for (int y = 0; y < P; y++) {
        const guint8 *s = f + (gsize) (py0 + y) * stride;
        for (int x = 0; x < P; x++)
          row[x] = l[s[3 * x]];
        row += P;
      }
    }
  }
}

void
omni_image_patchify (const OmniVisionProcConfig *cfg, const guint8 *const *frames,
                     gsize stride, const OmniVisionGrid *grid, const float lut[3 * 256],
                     float *out)
{
  int m = cfg->merge_size, P = cfg->patch_size;
  gsize dim = omni_image_patch_dim (cfg);

  for (int t = 0; t < grid->t; t++)
    for (int bh = 0; bh < grid->h / m; bh++)
      for (int bw = 0; bw < grid->w / m; bw++)
        for (int mh = 0; mh < m; mh++)
          for (int mw = 0; mw < m; mw++) {
            patch_row (cfg, frames, stride, t, (bh * m + mh) * P, (bw * m + mw) * P, lut, out);
            out += dim;
          }
}

gboolean
omni_image_preprocess (const OmniVisionProcConfig *cfg, const guint8 *rgb, int width,
                       int height, gsize stride, const OmniVisionGrid *grid, float *out,
                       GError **error)
{
  int ow = 0, oh = 0;
  OmniVisionGrid want;
  float lut[3 * 256];

  if (rgb == NULL || out == NULL || grid == NULL) {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_INVALID, "image preprocess: %s is NULL",
                 rgb == NULL ? "the image" : out == NULL ? "the output" : "the grid");
    return FALSE;
  }
  if (cfg->temporal_patch_size < 1 || cfg->temporal_patch_size > MAX_TEMPORAL) {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_INVALID,
                 "image preprocess: temporal_patch_size %d (expected 1..%d)",
                 cfg->temporal_patch_size, MAX_TEMPORAL);
    return FALSE;
  }
  if (!omni_image_plan (cfg, width, height, &ow, &oh, &want, error))
    return FALSE;
  if (stride < (gsize) width * 3) {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_INVALID,
                 "image preprocess: row stride %" G_GSIZE_FORMAT " is below 3 * width = %d",
                 stride, width * 3);
    return FALSE;
  }
  if (grid->t != want.t || grid->h != want.h || grid->w != want.w) {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_INVALID,
                 "image preprocess: grid (%d, %d, %d) does not match the %dx%d image's "
                 "(%d, %d, %d)", grid->t, grid->h, grid->w, width, height, want.t, want.h,
                 want.w);
    return FALSE;
  }
  gsize rs = (gsize) ow * 3, resized_bytes = rs * oh;
  gsize scratch_bytes = omni_image_resize_scratch_size (width, height, ow, oh);
  /* the resize tables first: they need int32/double alignment */
  g_autofree guint8 *scratch = g_try_malloc (scratch_bytes + resized_bytes);
  if (scratch == NULL) {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_NO_MEMORY,
                 "image preprocess: cannot allocate %" G_GSIZE_FORMAT " bytes for a %dx%d "
                 "image", scratch_bytes + resized_bytes, ow, oh);
    return FALSE;
  }
  guint8 *resized = scratch + scratch_bytes;
  if (!omni_image_resize (rgb, width, height, stride, resized, ow, oh, rs, scratch, error))
    return FALSE;
  const guint8 *frames[MAX_TEMPORAL];
  int T = cfg->temporal_patch_size;
  for (int i = 0; i < T; i++)
    frames[i] = resized;
  omni_image_normalize_table (cfg, lut);
  omni_image_patchify (cfg, frames, rs, grid, lut, out);
  return TRUE;
}
