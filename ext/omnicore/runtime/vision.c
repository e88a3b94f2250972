/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The engine's vision side: the tower and preprocessing of Qwen3-VL,
 * Qwen3-VL-MoE and Qwen3-Omni snapshots, vision prompts with their M-RoPE
 * positions, and the batched encoding of newly started requests. */
#include "runtime/engine-private.h"
#include "nn/mrope.h"
#include "nn/vision-encoder.h"
#include "text/vision-prompt.h"
#include "vision/image.h"
#include "vision/video.h"

/* preprocessor_config.json / video_preprocessor_config.json, or defaults. */
static gboolean
load_proc (OmniEngine *e, gboolean video, GError **error)
{
  g_autofree char *path = g_build_filename (e->dir, video ? "video_preprocessor_config.json"
                                            : "preprocessor_config.json", NULL);
  OmniVisionProcConfig *cfg = video ? &e->video_proc : &e->image_proc;

  if (video)
    omni_vision_proc_config_init_video (cfg);
  else
    omni_vision_proc_config_init_image (cfg);
  return !g_file_test (path, G_FILE_TEST_EXISTS) || omni_vision_proc_config_load (path, video, cfg,
                                                                                   error);
}

gboolean
omni_engine_vision_load (OmniEngine *e, GError **error)
{
  GError *err = NULL;

  e->vision = omni_vision_encoder_load (e->dir, e->backend, &err);
  if (!e->vision) {
    /* a text or audio model: it just takes no vision requests */
    if (g_error_matches (err, OMNI_ERROR, OMNI_ERROR_UNSUPPORTED)) {
      g_error_free (err);
      return TRUE;
    }
    g_propagate_error (error, err);
    return FALSE;
  }
  const OmniVisionConfig *vc = omni_vision_encoder_config (e->vision);
  if (vc->out_hidden_size != omni_model_config (e->model)->hidden_size) {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_FORMAT,
                 "%s: the vision tower's out_hidden_size %d differs from the decoder's hidden "
                 "size %d", e->dir, vc->out_hidden_size, omni_model_config (e->model)->hidden_size);
    return FALSE;
  }
  return load_proc (e, FALSE, error) && load_proc (e, TRUE, error);
}

void
omni_engine_vision_free (OmniEngine *e)
{
  g_clear_pointer (&e->vision, omni_vision_encoder_free);
}

/* Preprocesses @req's pictures into req->patches and req->grids, with each
 * item's token count in @n_tokens (new array). */
static gboolean
preprocess (OmniEngine *e, OmniRequest *req, int **n_tokens, GError **error)
{
  const OmniVisionConfig *vc = omni_vision_encoder_config (e->vision);
  gboolean clip = req->clip_fps > 0;
  OmniVisionProcConfig cfg = clip ? e->video_proc : e->image_proc;
  int w, h;

  if ((req->min_visual_tokens || req->max_visual_tokens)
      && !omni_vision_proc_config_set_tokens (&cfg, req->min_visual_tokens,
                                              req->max_visual_tokens, error))
    return FALSE;
  req->n_grids = clip ? 1 : req->n_images;
  req->grids = g_new0 (OmniVisionGrid, req->n_grids);
  gsize total = 0, dim = omni_image_patch_dim (&cfg);
  for (int i = 0; i < req->n_grids; i++) {
    gboolean ok = clip ? omni_video_plan (&cfg, req->n_images, req->widths[0], req->heights[0],
                                          &w, &h, &req->grids[i], error)
                       : omni_image_plan (&cfg, req->widths[i], req->heights[i], &w, &h,
                                          &req->grids[i], error);
    if (!ok)
      return FALSE;
    total += omni_image_n_patches (&req->grids[i]);
  }
  req->patches = g_new (float, total * dim);
  *n_tokens = g_new (int, req->n_grids);
  req->n_media_tokens = 0;
  for (int i = 0, at = 0; i < req->n_grids; i++) {
    float *out = req->patches + (gsize) at * dim;
    gboolean ok = clip
        ? omni_video_preprocess (&cfg, (const guint8 *const *) req->images, req->n_images,
                                 req->widths[0], req->heights[0], (gsize) req->widths[0] * 3,
                                 &req->grids[i], out, error)
        : omni_image_preprocess (&cfg, req->images[i], req->widths[i], req->heights[i],
                                 (gsize) req->widths[i] * 3, &req->grids[i], out, error);
    if (!ok)
      return FALSE;
    (*n_tokens)[i] = omni_vision_config_n_tokens (vc, &req->grids[i]);
    req->n_media_tokens += (*n_tokens)[i];
    at += (int) omni_image_n_patches (&req->grids[i]);
  }
  return TRUE;
}

/* A clip is laid out as one timestamped block per temporal group. */
static char *
clip_prompt (OmniEngine *e, OmniRequest *req, int n_tokens, const char *question)
{
  const OmniVisionGrid *g = &req->grids[0];
  g_autofree int *idx = g_new (int, req->n_images);
  g_autofree double *ts = g_new (double, g->t);
  g_autofree int *per = g_new (int, g->t);

  for (int i = 0; i < req->n_images; i++)
    idx[i] = i;
  omni_video_timestamps (&e->video_proc, idx, req->n_images, req->clip_fps, ts);
  for (int k = 0; k < g->t; k++)
    per[k] = n_tokens / g->t;
  return omni_vision_prompt_build (per, g->t, ts, question);
}

char *
omni_engine_vision_prompt (OmniEngine *e, OmniRequest *req, GError **error)
{
  g_autofree int *n_tokens = NULL;
  gboolean clip = req->clip_fps > 0;
  const char *question = req->user ? req->user
                         : clip ? "Describe this video." : "Describe this image.";

  if (!e->vision) {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_UNSUPPORTED,
                 "%s has no vision encoder (%s): pictures need a Qwen3-VL or Qwen3-Omni snapshot",
                 e->model_id, omni_model_config (e->model)->architecture);
    return NULL;
  }
  if (clip && g_str_has_prefix (omni_model_config (e->model)->architecture, "Qwen3Omni")) {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_UNSUPPORTED,
                 "%s: video clips run on Qwen3-VL; with Qwen3-Omni send frames as images",
                 e->model_id);
    return NULL;
  }
  if (!preprocess (e, req, &n_tokens, error))
    return NULL;
  if (clip)
    return clip_prompt (e, req, n_tokens[0], question);
  return omni_vision_prompt_build (n_tokens, req->n_grids, NULL, question);
}

gboolean
omni_engine_vision_positions (OmniEngine *e, OmniRequest *req, GError **error)
{
  const OmniVisionConfig *vc = omni_vision_encoder_config (e->vision);
  const OmniTextConfig *tc = omni_model_config (e->model);
  OmniMRopeSpec spec = { vc->image_token_id, vc->video_token_id, -1, vc->vision_start_token_id,
                         -1, vc->spatial_merge_size, 13 };
  gboolean clip = req->clip_fps > 0;
  int n_items = clip ? req->grids[0].t : req->n_grids;
  g_autofree OmniMRopeGrid *grids = g_new (OmniMRopeGrid, n_items);
  int n = (int) req->ids->len, delta;

  if (tc->mrope_section[0] + tc->mrope_section[1] == 0)
    return TRUE;   /* one position axis: sequential */
  /* Qwen3-VL gives each temporal group of a clip its own block (t = 1) */
  for (int i = 0; i < n_items; i++) {
    const OmniVisionGrid *g = &req->grids[clip ? 0 : i];
    grids[i] = (OmniMRopeGrid) { clip ? 1 : g->t, g->h, g->w, 1.0 };
  }
  req->rope_pos = g_new (int32_t, 3 * (gsize) n);
  if (!omni_mrope_positions (&spec, (const int32_t *) req->ids->data, n, clip ? NULL : grids,
                             clip ? 0 : n_items, clip ? grids : NULL, clip ? n_items : 0,
                             req->rope_pos, &delta, error))
    return FALSE;
  req->rope_delta = delta;
  return TRUE;
}

/* Copies each request's rows of the tower's outputs into its own tensors. */
static gboolean
keep_outputs (OmniEngine *e, OmniRequest **reqs, int n, const OmniTensor *out,
              OmniTensor *const *deepstack, int n_deepstack, GError **error)
{
  int row = 0;

  for (int i = 0; i < n; i++) {
    OmniRequest *r = reqs[i];
    if (!omni_engine_keep_rows (e, &r->features, out, row, r->n_media_tokens, error))
      return FALSE;
    for (int k = 0; k < n_deepstack; k++, r->n_deepstack++)
      if (!omni_engine_keep_rows (e, &r->deepstack[k], deepstack[k], row, r->n_media_tokens,
                                  error))
        return FALSE;
    row += r->n_media_tokens;
  }
  return TRUE;
}

void
omni_engine_vision_encode (OmniEngine *e)
{
  const OmniVisionConfig *vc;
  g_autofree OmniRequest **reqs = g_new (OmniRequest *, e->n_active + 1);
  g_autoptr (GPtrArray) patches = g_ptr_array_new ();
  g_autoptr (GArray) grids = g_array_new (FALSE, FALSE, sizeof (OmniVisionGrid));
  OmniTensor *out = NULL, *deepstack[OMNI_MAX_DEEPSTACK] = { NULL };
  GError *error = NULL;
  int n = 0;

  for (int i = 0; i < e->n_active; i++)
    if (e->active[i]->n_images && !e->active[i]->features.data)
      reqs[n++] = e->active[i];
  if (n == 0)
    return;
  vc = omni_vision_encoder_config (e->vision);
  for (int i = 0; i < n; i++) {
    gsize at = 0, dim = (gsize) omni_vision_config_patch_dim (vc);
    for (int g = 0; g < reqs[i]->n_grids; g++) {
      g_ptr_array_add (patches, reqs[i]->patches + at * dim);
      g_array_append_val (grids, reqs[i]->grids[g]);
      at += omni_image_n_patches (&reqs[i]->grids[g]);
    }
  }
  gboolean ok = omni_vision_encoder_forward (e->vision, (const float *const *) patches->pdata,
                                             (const OmniVisionGrid *) grids->data,
                                             (int) grids->len, &out, deepstack, &error)
                && keep_outputs (e, reqs, n, out, deepstack, vc->n_deepstack, &error);
  for (int i = 0; i < n; i++)
    g_clear_pointer (&reqs[i]->patches, g_free);
  if (!ok) {
    for (int i = 0; i < n; i++)
      omni_engine_release_features (e, reqs[i]);
    omni_engine_fail_requests (e, reqs, n, error);
    g_error_free (error);
  }
}

const OmniVisionConfig *
omni_engine_vision_config (OmniEngine *e)
{
  return e->vision ? omni_vision_encoder_config (e->vision) : NULL;
}

int
omni_engine_n_deepstack (OmniEngine *e, const OmniRequest *req)
{
  return req->n_images && e->vision ? omni_vision_encoder_config (e->vision)->n_deepstack : 0;
}
