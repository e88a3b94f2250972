/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Qwen3VLVideoProcessor in C: frame sampling, timestamps, the clip's
 * smart resize and its patches. */
#include "vision/video.h"
#include "vision/image.h"
#include "vision/resize.h"
#include "omnicore.h"

#include <math.h>
#include <string.h>

int
omni_video_n_samples (const OmniVisionProcConfig *cfg, int total_frames, double video_fps)
{
  if (total_frames < 1 || !(video_fps > 0.0))
    return 0;
  double want = (double) total_frames / video_fps * cfg->fps;
  gint64 n = want >= (double) G_MAXINT ? G_MAXINT : (gint64) want;
  n = MAX (n, cfg->min_frames);
  n = MIN (n, cfg->max_frames);
  return (int) MIN (n, (gint64) total_frames);
}

int *
omni_video_sample_indices (const OmniVisionProcConfig *cfg, int total_frames, double video_fps,
                           int *n_indices, GError **error)
{
  if (total_frames < 1) {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_INVALID,
                 "video: the clip has %d frames (expected at least 1)", total_frames);
    return NULL;
  }
  if (!(video_fps > 0.0) || !isfinite (video_fps)) {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_INVALID,
                 "video: frame rate %g (expected a positive number)", video_fps);
    return NULL;
  }
  int n = omni_video_n_samples (cfg, total_frames, video_fps);
  int *idx = g_new (int, n);
  /* numpy.linspace: i * step + start, the last point exactly stop */
  double stop = total_frames - 1, step = n > 1 ? stop / (n - 1) : 0.0;
  for (int i = 0; i < n; i++)
    idx[i] = (int) nearbyint (i == n - 1 && n > 1 ? stop : i * step);
  *n_indices = n;
  return idx;
}

int
omni_video_n_groups (const OmniVisionProcConfig *cfg, int n_frames)
{
  int T = cfg->temporal_patch_size;
  return (n_frames + T - 1) / T;
}

void
omni_video_timestamps (const OmniVisionProcConfig *cfg, const int *indices, int n_indices,
                       double video_fps, double *out)
{
  int T = cfg->temporal_patch_size, groups = omni_video_n_groups (cfg, n_indices);

  for (int g = 0; g < groups; g++) {
    int first = g * T, last = MIN (g * T + T - 1, n_indices - 1);
    out[g] = (indices[first] / video_fps + indices[last] / video_fps) / 2.0;
  }
}

gboolean
omni_video_smart_resize (int n_frames, gint64 height, gint64 width, int temporal_factor,
                         int factor, gint64 min_pixels, gint64 max_pixels, int *out_height,
                         int *out_width, GError **error)
{
  if (temporal_factor < 1 || n_frames < temporal_factor) {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_INVALID,
                 "video smart resize: %d frames (expected at least temporal_patch_size = %d)",
                 n_frames, temporal_factor);
    return FALSE;
  }
  if (height < 1 || width < 1 || factor < 1 || height > G_MAXINT || width > G_MAXINT) {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_INVALID,
                 "video smart resize: %" G_GINT64_FORMAT "x%" G_GINT64_FORMAT " frames with "
                 "factor %d (expected positive sizes)", width, height, factor);
    return FALSE;
  }
  double f = factor;
  if (height < factor || width < factor) {
    double scale = MAX (f / (double) height, f / (double) width);
    height = (gint64) ((double) height * scale);
    width = (gint64) ((double) width * scale);
  }
  double aspect = (double) MAX (height, width) / (double) MIN (height, width);
  if (aspect > 200.0) {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_INVALID,
                 "video smart resize: %" G_GINT64_FORMAT "x%" G_GINT64_FORMAT " frames have an "
                 "aspect ratio of %g (expected at most 200)", width, height, aspect);
    return FALSE;
  }
  double h = nearbyint ((double) height / f) * f, w = nearbyint ((double) width / f) * f;
  double t = nearbyint ((double) n_frames / temporal_factor) * temporal_factor;
  double volume = (double) n_frames * (double) (height * width);
  if (t * h * w > (double) max_pixels) {
    double beta = sqrt (volume / (double) max_pixels);
    h = MAX (f, floor ((double) height / beta / f) * f);
    w = MAX (f, floor ((double) width / beta / f) * f);
  } else if (t * h * w < (double) min_pixels) {
    double beta = sqrt ((double) min_pixels / volume);
    h = ceil ((double) height * beta / f) * f;
    w = ceil ((double) width * beta / f) * f;
  }
  if (h > G_MAXINT / 4 || w > G_MAXINT / 4) {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_INVALID,
                 "video smart resize: frames resize to %gx%g, too large", w, h);
    return FALSE;
  }
  *out_height = (int) h;
  *out_width = (int) w;
  return TRUE;
}

gboolean
omni_video_plan (const OmniVisionProcConfig *cfg, int n_frames, int width, int height,
                 int *out_width, int *out_height, OmniVisionGrid *grid, GError **error)
{
  int factor = cfg->patch_size * cfg->merge_size, oh = height, ow = width;

  if (n_frames < 1) {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_INVALID,
                 "video: the clip has %d frames (expected at least 1)", n_frames);
    return FALSE;
  }
  if (width < 2 || height < 2) {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_INVALID,
                 "video frames of %dx%d pixels: expected at least 2x2", width, height);
    return FALSE;
  }
  if (cfg->do_resize) {
    if (!omni_video_smart_resize (n_frames, height, width, cfg->temporal_patch_size, factor,
                                  cfg->min_pixels, cfg->max_pixels, &oh, &ow, error))
      return FALSE;
  } else if (width % factor != 0 || height % factor != 0) {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_INVALID,
                 "video frames of %dx%d pixels with do_resize false: expected multiples of "
                 "patch_size * merge_size = %d", width, height, factor);
    return FALSE;
  }
  *out_width = ow;
  *out_height = oh;
  grid->t = omni_video_n_groups (cfg, n_frames);
  grid->h = oh / cfg->patch_size;
  grid->w = ow / cfg->patch_size;
  return TRUE;
}

static gboolean
check_frames (const guint8 *const *frames, int n_frames, int width, gsize stride, float *out,
              const OmniVisionGrid *grid, GError **error)
{
  if (frames == NULL || out == NULL || grid == NULL) {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_INVALID, "video preprocess: %s is NULL",
                 frames == NULL ? "the frame list" : out == NULL ? "the output" : "the grid");
    return FALSE;
  }
  for (int i = 0; i < n_frames; i++)
    if (frames[i] == NULL) {
      g_set_error (error, OMNI_ERROR, OMNI_ERROR_INVALID, "video preprocess: frame %d is NULL",
                   i);
      return FALSE;
    }
  if (stride < (gsize) width * 3) {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_INVALID,
                 "video preprocess: row stride %" G_GSIZE_FORMAT " is below 3 * width = %d",
                 stride, width * 3);
    return FALSE;
  }
  return TRUE;
}

gboolean
omni_video_preprocess (const OmniVisionProcConfig *cfg, const guint8 *const *frames,
                       int n_frames, int width, int height, gsize stride,
                       const OmniVisionGrid *grid, float *out, GError **error)
{
  int ow = 0, oh = 0, T = cfg->temporal_patch_size;
  OmniVisionGrid want;
  float lut[3 * 256];

  if (!omni_video_plan (cfg, n_frames, width, height, &ow, &oh, &want, error) ||
      !check_frames (frames, n_frames, width, stride, out, grid, error))
    return FALSE;
  if (grid->t != want.t || grid->h != want.h || grid->w != want.w) {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_INVALID,
                 "video preprocess: grid (%d, %d, %d) does not match the clip's (%d, %d, %d)",
                 grid->t, grid->h, grid->w, want.t, want.h, want.w);
    return FALSE;
  }
  gsize rs = (gsize) ow * 3, frame_bytes = rs * oh, n_ptr = (gsize) grid->t * T;
  gsize table_bytes = omni_image_resize_scratch_size (width, height, ow, oh);
  gsize ptr_bytes = n_ptr * sizeof (guint8 *);
  /* tables, then the frame pointers, then the resized frames */
  g_autofree guint8 *scratch = g_try_malloc (table_bytes + ptr_bytes + frame_bytes * n_frames);
  if (scratch == NULL) {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_NO_MEMORY,
                 "video preprocess: cannot allocate room for %d frames of %dx%d", n_frames, ow,
                 oh);
    return FALSE;
  }
  const guint8 **resized = (const guint8 **) (scratch + table_bytes);
  guint8 *pixels = scratch + table_bytes + ptr_bytes;
  for (int i = 0; i < n_frames; i++) {
    guint8 *dst = pixels + frame_bytes * i;
    if (!omni_image_resize (frames[i], width, height, stride, dst, ow, oh, rs, scratch, error))
      return FALSE;
    resized[i] = dst;
  }
  /* an odd count repeats the last frame to fill the temporal patch */
  for (gsize i = n_frames; i < n_ptr; i++)
    resized[i] = resized[n_frames - 1];
  omni_image_normalize_table (cfg, lut);
  omni_image_patchify (cfg, resized, rs, grid, lut, out);
  return TRUE;
}
