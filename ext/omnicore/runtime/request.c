/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Requests: what to generate, how, and whom to tell. */
#include "runtime/engine-private.h"
#include <math.h>
#include <string.h>
#include "text/translate.h"

/* New tokens at most unless the request says otherwise. */
#define DEFAULT_MAX_TOKENS 256

static OmniRequest *
request_new (void)
{
  OmniRequest *req = g_new0 (OmniRequest, 1);

  req->ref = 1;
  g_mutex_init (&req->lock);
  req->priority = OMNI_PRIORITY_BATCH;
  req->max_tokens = DEFAULT_MAX_TOKENS;
  return req;
}

OmniRequest *
omni_request_new_chat (const char *system, const char *prompt)
{
  OmniRequest *req = request_new ();

  req->system = g_strdup (system);
  req->user = g_strdup (prompt ? prompt : "");
  return req;
}

OmniRequest *
omni_request_new_translate (const OmniTranslateSpec *spec, GError **error)
{
  const char *target = NULL;
  char *user;
  OmniRequest *req;

  g_return_val_if_fail (spec != NULL, NULL);
  user = omni_translate_build_user (spec, error);
  if (!user)
    return NULL;
  omni_language_lookup (spec->target_language, NULL, &target);
  req = request_new ();
  req->user = user;
  req->target_name = g_strdup (target);
  return req;
}

static gboolean
check_clip (const OmniAudioSpec *spec, GError **error)
{
  const gsize max = (gsize) OMNI_AUDIO_MAX_SECONDS * OMNI_AUDIO_RATE;

  if (spec->pcm == NULL || spec->n_samples == 0) {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_INVALID, "audio request: the clip is empty");
    return FALSE;
  }
  if (spec->n_samples > max) {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_INVALID,
                 "audio request: the clip lasts %.2f s; one request takes at most %d s "
                 "(%" G_GSIZE_FORMAT " samples at %d Hz): split longer audio", spec->n_samples /
                 (double) OMNI_AUDIO_RATE, OMNI_AUDIO_MAX_SECONDS, max, OMNI_AUDIO_RATE);
    return FALSE;
  }
  for (gsize i = 0; i < spec->n_samples; i++) {
    if (!isfinite (spec->pcm[i])) {
      g_set_error (error, OMNI_ERROR, OMNI_ERROR_INVALID,
                   "audio request: sample %" G_GSIZE_FORMAT " (at %.3f s) is %s; expected "
                   "finite PCM", i, i / (double) OMNI_AUDIO_RATE,
                   isnan (spec->pcm[i]) ? "NaN" : "infinite");
      return FALSE;
    }
  }
  return TRUE;
}

OmniRequest *
omni_request_new_audio (const OmniAudioSpec *spec, GError **error)
{
  OmniRequest *req;

  g_return_val_if_fail (spec != NULL, NULL);
  if (!check_clip (spec, error))
    return NULL;
  if (spec->task != OMNI_AUDIO_CAPTION && spec->task != OMNI_AUDIO_TRANSCRIBE) {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_INVALID,
                 "audio request: task %d is neither caption nor transcribe", spec->task);
    return NULL;
  }
  if (spec->language && !omni_language_lookup (spec->language, NULL, NULL)
      && !omni_asr_language_lookup (spec->language, NULL, NULL)) {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_INVALID,
                 "audio request: unknown language \"%s\" (expected a BCP-47 code or an English "
                 "language name)", spec->language);
    return NULL;
  }
  req = request_new ();
  req->pcm = g_memdup2 (spec->pcm, spec->n_samples * sizeof (float));
  req->n_pcm = spec->n_samples;
  req->task = spec->task;
  req->language = g_strdup (spec->language);
  req->user = g_strdup (spec->prompt);
  return req;
}

static gboolean
check_images (const OmniVisionSpec *spec, GError **error)
{
  if (!spec->images || spec->n_images <= 0 || spec->clip_fps < 0
      || (spec->clip_fps == 0 && spec->n_images > 16)) {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_INVALID, "vision request: %d images%s; expected 1 "
                 "to 16 images, or the frames of one clip with clip_fps > 0", spec->n_images,
                 spec->clip_fps < 0 ? " and a negative clip_fps" : "");
    return FALSE;
  }
  for (int i = 0; i < spec->n_images; i++) {
    const OmniImage *im = &spec->images[i];
    if (!im->rgb || im->width < 2 || im->height < 2 || im->stride < (gsize) im->width * 3
        || MAX (im->width, im->height) > 200 * MIN (im->width, im->height)) {
      g_set_error (error, OMNI_ERROR, OMNI_ERROR_INVALID,
                   "vision request: image %d is %dx%d (stride %" G_GSIZE_FORMAT "); expected RGB8 "
                   "of at least 2x2 pixels, an aspect ratio up to 200 and a stride >= 3 x width",
                   i, im->width, im->height, im->stride);
      return FALSE;
    }
  }
  if (spec->min_visual_tokens < 0 || spec->max_visual_tokens < 0
      || (spec->max_visual_tokens && spec->min_visual_tokens > spec->max_visual_tokens)) {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_INVALID,
                 "vision request: token budget %d..%d; expected 0 <= min <= max",
                 spec->min_visual_tokens, spec->max_visual_tokens);
    return FALSE;
  }
  return TRUE;
}

OmniRequest *
omni_request_new_vision (const OmniVisionSpec *spec, GError **error)
{
  OmniRequest *req;

  g_return_val_if_fail (spec != NULL, NULL);
  if (!check_images (spec, error))
    return NULL;
  req = request_new ();
  req->n_images = spec->n_images;
  req->images = g_new (guint8 *, spec->n_images);
  req->widths = g_new (int, spec->n_images);
  req->heights = g_new (int, spec->n_images);
  for (int i = 0; i < spec->n_images; i++) {
    const OmniImage *im = &spec->images[i];
    gsize row = (gsize) im->width * 3;
    req->images[i] = g_malloc (row * im->height);
    for (int y = 0; y < im->height; y++)
      memcpy (req->images[i] + row * y, im->rgb + im->stride * y, row);
    req->widths[i] = im->width;
    req->heights[i] = im->height;
  }
  req->clip_fps = spec->clip_fps;
  req->min_visual_tokens = spec->min_visual_tokens;
  req->max_visual_tokens = spec->max_visual_tokens;
  req->user = g_strdup (spec->prompt);
  return req;
}

OmniRequest *
omni_request_ref (OmniRequest *req)
{
  g_return_val_if_fail (req != NULL, NULL);
  g_atomic_int_inc (&req->ref);
  return req;
}

void
omni_request_unref (OmniRequest *req)
{
  if (!req || !g_atomic_int_dec_and_test (&req->ref))
    return;
  /* the engine holds a reference while it runs the request, so nothing of
   * the scheduler's is left here */
  g_mutex_clear (&req->lock);
  g_free (req->system);
  g_free (req->user);
  g_free (req->target_name);
  g_free (req->pcm);
  g_free (req->language);
  for (int i = 0; i < req->n_images; i++)
    g_free (req->images[i]);
  g_free (req->images);
  g_free (req->widths);
  g_free (req->heights);
  g_free (req->patches);
  g_free (req->grids);
  g_free (req->rope_pos);
  g_free (req);
}

/* Settings are read by the scheduler: change them before submitting. */
static gboolean
check_not_submitted (OmniRequest *req, const char *what)
{
  gboolean submitted;

  g_mutex_lock (&req->lock);
  submitted = req->submitted;
  g_mutex_unlock (&req->lock);
  if (submitted)
    g_critical ("omni_request_%s: the request was already submitted", what);
  return !submitted;
}

void
omni_request_set_priority (OmniRequest *req, OmniPriority priority)
{
  g_return_if_fail (priority == OMNI_PRIORITY_LIVE || priority == OMNI_PRIORITY_BATCH);
  if (check_not_submitted (req, "set_priority"))
    req->priority = priority;
}

void
omni_request_set_deadline (OmniRequest *req, gint64 deadline_us)
{
  if (check_not_submitted (req, "set_deadline"))
    req->deadline_us = MAX (deadline_us, 0);
}

void
omni_request_set_max_tokens (OmniRequest *req, int max_tokens)
{
  g_return_if_fail (max_tokens > 0);
  if (check_not_submitted (req, "set_max_tokens"))
    req->max_tokens = max_tokens;
}

void
omni_request_set_temperature (OmniRequest *req, double temperature)
{
  g_return_if_fail (temperature >= 0);
  if (check_not_submitted (req, "set_temperature"))
    req->temperature = temperature;
}

void
omni_request_set_callback (OmniRequest *req, OmniResultFunc func, gpointer user_data,
                           gboolean partial_results)
{
  if (!check_not_submitted (req, "set_callback"))
    return;
  req->func = func;
  req->user_data = user_data;
  req->partial = partial_results;
}

gboolean
omni_engine_submit (OmniEngine *engine, OmniRequest *req, GError **error)
{
  g_return_val_if_fail (engine != NULL && req != NULL, FALSE);
  g_mutex_lock (&req->lock);
  if (req->submitted) {
    g_mutex_unlock (&req->lock);
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_INVALID,
                 "this request was already submitted; make a new one");
    return FALSE;
  }
  req->submitted = TRUE;
  req->engine = engine;
  req->submitted_us = g_get_monotonic_time ();
  g_mutex_lock (&engine->lock);
  req->order = engine->next_order++;
  g_ptr_array_add (engine->queue, omni_request_ref (req));
  g_cond_signal (&engine->cond);
  g_mutex_unlock (&engine->lock);
  g_mutex_unlock (&req->lock);
  return TRUE;
}

void
omni_request_cancel (OmniRequest *req)
{
  g_return_if_fail (req != NULL);
  g_atomic_int_set (&req->cancelled, 1);
  g_mutex_lock (&req->lock);
  if (req->engine) {
    g_mutex_lock (&req->engine->lock);
    g_cond_signal (&req->engine->cond);
    g_mutex_unlock (&req->engine->lock);
  }
  g_mutex_unlock (&req->lock);
}
