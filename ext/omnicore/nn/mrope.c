/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <math.h>
#include "omnicore.h"
#include "nn/mrope.h"

typedef struct {
  const OmniMRopeSpec *spec;
  int32_t *pos;                  /* [3][n] */
  int n;
  int32_t next;                  /* position of the next text token */
  GError **error;
} Walk;

static void
put (Walk *w, int i, int32_t t, int32_t h, int32_t x)
{
  w->pos[i] = t;
  w->pos[w->n + i] = h;
  w->pos[2 * w->n + i] = x;
  w->next = MAX (w->next, MAX (t, MAX (h, x)) + 1);
}

/* Lays out the placeholder run at @i of @grid (@step: temporal positions
 * per grid step); returns the index after it or -1. */
static int
vision_run (Walk *w, const int32_t *tokens, int i, int32_t pad, const OmniMRopeGrid *grid,
            double step, const char *what, int index)
{
  int m = w->spec->spatial_merge_size;
  int gh = grid->h / m, gw = grid->w / m;
  int len = grid->t * gh * gw, run = 0;
  int32_t st = w->next;

  while (i + run < w->n && tokens[i + run] == pad)
    run++;
  if (grid->t <= 0 || gh <= 0 || gw <= 0 || grid->h % m || grid->w % m || run != len) {
    g_set_error (w->error, OMNI_ERROR, OMNI_ERROR_INVALID,
                 "M-RoPE: %s %d has %d placeholder tokens; its grid %dx%dx%d (merge %d) "
                 "needs %d", what, index, run, grid->t, grid->h, grid->w, m, len);
    return -1;
  }
  for (int k = 0; k < len; k++) {
    int tt = k / (gh * gw), r = (k / gw) % gh, c = k % gw;
    put (w, i + k, st + (int32_t) (tt * step), st + r, st + c);
  }
  return i + len;
}

static gboolean
video_step (Walk *w, const OmniMRopeGrid *g, int index, double *step)
{
  *step = g->seconds_per_grid * w->spec->position_id_per_seconds;
  if (!(*step >= 0) || fabs (*step - floor (*step)) > 1e-6) {
    g_set_error (w->error, OMNI_ERROR, OMNI_ERROR_UNSUPPORTED,
                 "M-RoPE: video %d advances %g positions per temporal grid; only whole "
                 "numbers are supported (sample at a rate that gives whole seconds per grid)",
                 index, *step);
    return FALSE;
  }
  *step = floor (*step);
  return TRUE;
}

gboolean
omni_mrope_positions (const OmniMRopeSpec *spec, const int32_t *tokens, int n,
                      const OmniMRopeGrid *images, int n_images, const OmniMRopeGrid *videos,
                      int n_videos, int32_t *pos, int *delta, GError **error)
{
  Walk w = { spec, pos, n, 0, error };
  int n_img = 0, n_vid = 0;

  for (int i = 0; i < n;) {
    int32_t id = tokens[i];
    put (&w, i, w.next, w.next, w.next);
    i++;
    if (id != spec->vision_start_token_id || i >= n)
      continue;
    if (tokens[i] == spec->audio_start_token_id) {
      g_set_error (error, OMNI_ERROR, OMNI_ERROR_UNSUPPORTED,
                   "M-RoPE: audio interleaved with video (use_audio_in_video) is not supported");
      return FALSE;
    }
    gboolean image = tokens[i] == spec->image_token_id;
    if (!image && tokens[i] != spec->video_token_id)
      continue;
    int have = image ? n_images : n_videos, at = image ? n_img : n_vid;
    if (at >= have) {
      g_set_error (error, OMNI_ERROR, OMNI_ERROR_INVALID,
                   "M-RoPE: the prompt has more %s placeholders than the %d %s grids given",
                   image ? "image" : "video", have, image ? "image" : "video");
      return FALSE;
    }
    const OmniMRopeGrid *g = image ? &images[n_img++] : &videos[n_vid++];
    double step = spec->position_id_per_seconds;  /* images: one grid step per second */
    if (!image && !video_step (&w, g, at, &step))
      return FALSE;
    i = vision_run (&w, tokens, i, tokens[i], g, step, image ? "image" : "video", at);
    if (i < 0)
      return FALSE;
  }
  if (n_img != n_images || n_vid != n_videos) {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_INVALID,
                 "M-RoPE: %d image and %d video grids given, the prompt holds %d and %d",
                 n_images, n_videos, n_img, n_vid);
    return FALSE;
  }
  *delta = w.next - n;
  return TRUE;
}
