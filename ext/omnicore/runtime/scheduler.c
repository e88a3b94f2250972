/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The engine's scheduler thread: it owns the backend and the model state,
 * starts queued requests while sequence slots and KV pages allow, and runs
 * every active sequence in one forward step (prefill chunks and decode
 * tokens together) until each finishes, fails or is cancelled. */
#include "runtime/engine-private.h"
#include "text/translate.h"

gboolean
omni_request_before (const OmniRequest *a, const OmniRequest *b)
{
  /* no deadline sorts after every deadline */
  guint64 da = a->deadline_us > 0 ? (guint64) a->deadline_us : G_MAXUINT64;
  guint64 db = b->deadline_us > 0 ? (guint64) b->deadline_us : G_MAXUINT64;

  if (a->priority != b->priority)
    return a->priority == OMNI_PRIORITY_LIVE;
  if (da != db)
    return da < db;
  return a->order < b->order;
}

/* ---- results ---- */

/* Qwen3-ASR's answer split at its <asr_text> marker; @language gets the
 * detected language's code (or the model's name for it). */
static char *
asr_answer (OmniRequest *req, const char *raw, gboolean partial, char **language)
{
  char *name = NULL, *text = NULL;
  const char *code = NULL;

  omni_asr_output_parse (raw, &name, &text);
  /* while the "language <Name>" header is still coming, there is no text yet */
  if (partial && !req->forced_code && !strstr (raw, "<asr_text>")
      && (g_str_has_prefix (raw, "language") || g_str_has_prefix ("language", raw)))
    g_clear_pointer (&text, g_free);
  if (name && (omni_asr_language_lookup (name, &code, NULL)
               || omni_language_lookup (name, &code, NULL)))
    *language = g_strdup (code);
  else
    *language = g_strdup (req->forced_code ? req->forced_code : name);
  g_free (name);
  return text ? text : g_strdup ("");
}

/* The answer so far: translations without labels, quotes or spaces;
 * transcripts without Qwen3-ASR's language header. */
static char *
answer_text (OmniRequest *req, gboolean partial, char **language)
{
  const char *raw = req->text ? req->text->str : "";

  *language = NULL;
  if (req->pcm && req->engine->audio_kind == OMNI_AUDIO_MODEL_ASR)
    return asr_answer (req, raw, partial, language);
  if (req->pcm) {
    *language = g_strdup (req->forced_code);
    return g_strstrip (g_strdup (raw));
  }
  return req->target_name ? omni_translate_clean (raw, req->target_name) : g_strdup (raw);
}

static void
deliver (OmniRequest *req, OmniResultStatus status, const GError *error)
{
  g_autofree char *language = NULL;
  g_autofree char *text = answer_text (req, status == OMNI_RESULT_PARTIAL, &language);
  OmniResult r = {
    .status = status, .text = text, .error = error, .language = language,
    .n_prompt_tokens = req->ids ? (int) req->ids->len : 0,
    .n_tokens = req->running ? req->seq.n_generated : 0,
    .submitted_us = req->submitted_us, .first_token_us = req->first_token_us,
    .done_us = status == OMNI_RESULT_PARTIAL ? 0 : g_get_monotonic_time (),
  };

  if (req->func)
    req->func (req, &r, req->user_data);
}

/* The one final callback; then the request leaves the engine. */
static void
finish (OmniEngine *e, OmniRequest *req, OmniResultStatus status, const GError *error)
{
  if (req->detok && req->text) {
    g_autofree char *rest = omni_detokenizer_flush (req->detok);
    g_string_append (req->text, rest);
  }
  deliver (req, status, error);
  omni_engine_release_features (e, req);
  if (req->running) {
    omni_seq_clear (&req->seq);
    omni_kv_pages_close (omni_model_state_pages (e->st), req->seq.slot);
    req->running = FALSE;
  }
  g_clear_pointer (&req->detok, omni_detokenizer_free);
  if (req->text)
    g_string_free (g_steal_pointer (&req->text), TRUE);
  if (req->ids)
    g_array_free (g_steal_pointer (&req->ids), TRUE);
  g_mutex_lock (&req->lock);
  req->engine = NULL;
  g_mutex_unlock (&req->lock);
  omni_request_unref (req);
}

void
omni_engine_finish_error (OmniEngine *e, OmniRequest *req, GError *error)
{
  g_debug ("request failed: %s", error->message);
  finish (e, req, OMNI_RESULT_ERROR, error);
  g_error_free (error);
}

void
omni_engine_fail_requests (OmniEngine *e, OmniRequest **reqs, int n, const GError *error)
{
  for (int k = 0; k < n; k++) {
    for (int i = 0; i < e->n_active; i++) {
      if (e->active[i] == reqs[k]) {
        omni_engine_remove_active (e, i);
        omni_engine_finish_error (e, reqs[k], g_error_copy (error));
        break;
      }
    }
  }
}

/* ---- queue ---- */

/* Takes the queued request that should start first (NULL if none). */
static OmniRequest *
pop_best (OmniEngine *e)
{
  OmniRequest *best = NULL;
  guint at = 0;

  g_mutex_lock (&e->lock);
  for (guint i = 0; i < e->queue->len; i++) {
    OmniRequest *r = g_ptr_array_index (e->queue, i);
    if (!best || omni_request_before (r, best)) {
      best = r;
      at = i;
    }
  }
  if (best)
    g_ptr_array_remove_index (e->queue, at);
  g_mutex_unlock (&e->lock);
  return best;
}

static void
push_back (OmniEngine *e, OmniRequest *req)
{
  g_mutex_lock (&e->lock);
  g_ptr_array_add (e->queue, req);
  g_mutex_unlock (&e->lock);
}

/* Finishes queued requests that were cancelled. */
static void
reap_queued (OmniEngine *e)
{
  g_autoptr (GPtrArray) gone = g_ptr_array_new ();

  g_mutex_lock (&e->lock);
  for (guint i = 0; i < e->queue->len;) {
    OmniRequest *r = g_ptr_array_index (e->queue, i);
    if (g_atomic_int_get (&r->cancelled)) {
      g_ptr_array_add (gone, r);
      g_ptr_array_remove_index (e->queue, i);
    } else {
      i++;
    }
  }
  g_mutex_unlock (&e->lock);
  for (guint i = 0; i < gone->len; i++)
    finish (e, g_ptr_array_index (gone, i), OMNI_RESULT_CANCELLED, NULL);
}

/* ---- active set ---- */

void
omni_engine_remove_active (OmniEngine *e, int i)
{
  memmove (e->active + i, e->active + i + 1, (e->n_active - i - 1) * sizeof *e->active);
  e->n_active--;
}

/* Inserts @req in scheduling order, so live prompts are prefilled first. */
static void
insert_active (OmniEngine *e, OmniRequest *req)
{
  int i = e->n_active;

  while (i > 0 && omni_request_before (req, e->active[i - 1])) {
    e->active[i] = e->active[i - 1];
    i--;
  }
  e->active[i] = req;
  e->n_active++;
}

static void
reap_active (OmniEngine *e)
{
  for (int i = 0; i < e->n_active;) {
    OmniRequest *r = e->active[i];
    if (g_atomic_int_get (&r->cancelled)) {
      omni_engine_remove_active (e, i);
      finish (e, r, OMNI_RESULT_CANCELLED, NULL);
    } else {
      i++;
    }
  }
}

/* ---- admission ---- */

static int
pages_for (const OmniKVPages *p, int n_tokens)
{
  return (n_tokens + p->page_size - 1) / p->page_size;
}

/* Pages the active sequences may still take before they finish. */
static int
pages_promised (OmniEngine *e)
{
  OmniKVPages *p = omni_model_state_pages (e->st);
  int n = 0;

  for (int i = 0; i < e->n_active; i++) {
    const OmniSeq *s = &e->active[i]->seq;
    n += pages_for (p, (int) s->n_prompt + s->params.max_tokens) - p->seq_pages[s->slot];
  }
  return n;
}

/* The placeholder token of @req's encoder tokens (audio, image or video pad). */
static int32_t
placeholder_id (OmniEngine *e, const OmniRequest *req)
{
  const OmniVisionConfig *vc;

  if (req->pcm)
    return e->audio_token_id;
  vc = omni_engine_vision_config (e);
  return req->clip_fps > 0 ? vc->video_token_id : vc->image_token_id;
}

/* The tokenizer must have turned every placeholder into the config's id. */
static gboolean
check_placeholders (OmniEngine *e, OmniRequest *req, GError **error)
{
  int32_t id = placeholder_id (e, req);
  int n = 0;

  for (guint i = 0; i < req->ids->len; i++)
    n += g_array_index (req->ids, gint32, i) == id;
  if (n != req->n_media_tokens) {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_FORMAT,
                 "%s: the prompt holds %d placeholders (id %d) where %d were written; the "
                 "tokenizer's placeholder token does not match the config's id",
                 e->dir, n, id, req->n_media_tokens);
    return FALSE;
  }
  return TRUE;
}

static gboolean
tokenize (OmniEngine *e, OmniRequest *req, GError **error)
{
  OmniChatMessage msgs[2];
  gsize n = 0;

  g_autofree char *prompt = NULL;
  if (req->ids)
    return TRUE;
  if (req->pcm || req->n_images) {
    prompt = req->pcm ? omni_engine_audio_prompt (e, req, error)
                      : omni_engine_vision_prompt (e, req, error);
    if (!prompt)
      return FALSE;
  } else {
    if (req->system)
      msgs[n++] = (OmniChatMessage) { "system", req->system };
    msgs[n++] = (OmniChatMessage) { "user", req->user };
    prompt = omni_chat_build (msgs, n, TRUE, e->thinking);
  }
  req->ids = g_array_new (FALSE, FALSE, sizeof (gint32));
  if (!omni_tokenizer_encode (e->tok, prompt, -1, req->ids, error)
      || ((req->pcm || req->n_images) && !check_placeholders (e, req, error))
      || (req->n_images && !omni_engine_vision_positions (e, req, error)))
    return FALSE;
  if ((int) req->ids->len >= e->max_context) {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_INVALID,
                 "the prompt has %u tokens; the engine's max_context of %d tokens leaves no "
                 "room for an answer", req->ids->len, e->max_context);
    return FALSE;
  }
  return TRUE;
}

static void
gen_params (OmniEngine *e, const OmniRequest *req, OmniGenParams *p)
{
  const OmniGenerationConfig *gen = omni_model_generation_config (e->model);

  omni_gen_params_init (p, e->model);
  p->stop_ids = e->stop_ids;
  p->n_stop = e->n_stop;
  p->max_tokens = MIN (req->max_tokens, e->max_context - (int) req->ids->len);
  p->temperature = req->temperature;
  /* sampling uses the snapshot's recommended top-k / top-p */
  if (req->temperature > 0 && gen->do_sample) {
    p->top_k = gen->top_k;
    p->top_p = gen->top_p > 0 && gen->top_p <= 1 ? gen->top_p : 1.0;
  }
  p->seed = req->order;
}

typedef enum { ADMIT_STARTED, ADMIT_FAILED, ADMIT_WAIT } Admit;

static Admit
start (OmniEngine *e, OmniRequest *req)
{
  OmniKVPages *pages = omni_model_state_pages (e->st);
  GError *error = NULL;
  OmniGenParams p;
  int slot;

  if (!tokenize (e, req, &error)) {
    omni_engine_finish_error (e, req, error);
    return ADMIT_FAILED;
  }
  gen_params (e, req, &p);
  if (pages->n_free - pages_promised (e) < pages_for (pages, (int) req->ids->len + p.max_tokens))
    return ADMIT_WAIT;
  slot = omni_kv_pages_open (pages);
  if (slot < 0)
    return ADMIT_WAIT;
  omni_seq_init (&req->seq, &p, omni_model_config (e->model)->vocab_size,
                 (const int32_t *) req->ids->data, req->ids->len, slot);
  if (req->pcm || req->n_images) {
    req->seq.features = &req->features;
    req->seq.feature_token = placeholder_id (e, req);
    req->seq.deepstack = req->deepstack;
    req->seq.n_deepstack = omni_engine_n_deepstack (e, req);
    req->seq.rope_pos = req->rope_pos;
    req->seq.rope_delta = req->rope_delta;
  }
  req->running = TRUE;
  req->detok = omni_detokenizer_new (e->tok, TRUE);
  req->text = g_string_new (NULL);
  insert_active (e, req);
  return ADMIT_STARTED;
}

static void
admit (OmniEngine *e)
{
  while (e->n_active < e->max_batch) {
    OmniRequest *req = pop_best (e);
    if (!req)
      return;
    if (g_atomic_int_get (&req->cancelled)) {
      finish (e, req, OMNI_RESULT_CANCELLED, NULL);
      continue;
    }
    if (start (e, req) == ADMIT_WAIT) {
      push_back (e, req);
      return;
    }
  }
}

/* ---- stepping ---- */

static void
on_token (OmniEngine *e, OmniRequest *req, int32_t id)
{
  g_autofree char *piece = omni_detokenizer_push (req->detok, id);

  if (req->first_token_us == 0)
    req->first_token_us = g_get_monotonic_time ();
  g_string_append (req->text, piece);
  /* the answer is parsed as text: keep Qwen3-ASR's marker even where the
   * tokenizer calls it special (and the detokenizer skips it) */
  if (id == e->asr_marker_id && req->pcm && omni_tokenizer_is_special (e->tok, id))
    g_string_append (req->text, "<asr_text>");
  if (req->partial && *piece && !req->seq.finished)
    deliver (req, OMNI_RESULT_PARTIAL, NULL);
}

static void
fail_all (OmniEngine *e, const GError *error)
{
  while (e->n_active > 0) {
    OmniRequest *r = e->active[e->n_active - 1];
    e->n_active--;
    omni_engine_finish_error (e, r, g_error_copy (error));
  }
}

static void
step (OmniEngine *e)
{
  GError *error = NULL;
  int n_fed;

  if (e->step_delay_ms)
    g_usleep ((gulong) e->step_delay_ms * 1000);
  for (int i = 0; i < e->n_active; i++)
    e->seqs[i] = &e->active[i]->seq;
  gboolean ok = omni_stepper_run (&e->stepper, e->seqs, e->n_active, &n_fed, &error);
  g_mutex_lock (&e->lock);
  e->n_forward = e->stepper.n_forward;
  g_mutex_unlock (&e->lock);
  if (!ok) {
    fail_all (e, error);
    g_error_free (error);
    return;
  }
  for (int i = 0; i < e->n_active;) {
    OmniRequest *r = e->active[i];
    if (r->seq.has_new)
      on_token (e, r, r->seq.last);
    if (r->seq.finished) {
      omni_engine_remove_active (e, i);
      finish (e, r, OMNI_RESULT_DONE, NULL);
    } else {
      i++;
    }
  }
}

/* ---- the thread ---- */

/* Waits for work; FALSE when the engine is stopping. */
static gboolean
wait_for_work (OmniEngine *e)
{
  gboolean stop;

  g_mutex_lock (&e->lock);
  while (!e->stopping && e->n_active == 0 && e->queue->len == 0)
    g_cond_wait (&e->cond, &e->lock);
  stop = e->stopping;
  g_mutex_unlock (&e->lock);
  return !stop;
}

/* Cancels everything left when the engine stops: every callback fires. */
static void
drain (OmniEngine *e)
{
  OmniRequest *req;

  while (e->n_active > 0) {
    req = e->active[--e->n_active];
    finish (e, req, OMNI_RESULT_CANCELLED, NULL);
  }
  while ((req = pop_best (e)))
    finish (e, req, OMNI_RESULT_CANCELLED, NULL);
}

gpointer
omni_scheduler_main (gpointer data)
{
  OmniEngine *e = data;
  gboolean free_on_exit;

  while (wait_for_work (e)) {
    reap_queued (e);
    reap_active (e);
    admit (e);
    if (e->audio)
      omni_engine_audio_encode (e);
    if (e->vision)
      omni_engine_vision_encode (e);
    if (e->n_active > 0)
      step (e);
  }
  drain (e);
  g_mutex_lock (&e->lock);
  free_on_exit = e->free_on_exit;
  g_mutex_unlock (&e->lock);
  if (free_on_exit)
    omni_engine_free (e);
  return NULL;
}
