/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "omnicore.h"
#include "runtime/generate.h"
#include "runtime/sequence.h"
#include "runtime/step.h"

void
omni_gen_params_init (OmniGenParams *p, const OmniModel *model)
{
  const OmniGenerationConfig *gen = omni_model_generation_config (model);

  memset (p, 0, sizeof *p);
  p->max_tokens = 256;
  p->temperature = 0;
  p->top_k = 0;
  p->top_p = 1.0;
  p->repetition_penalty = 1.0;
  p->presence_penalty = 0;
  p->seed = 0;
  p->stop_ids = gen->eos_ids;
  p->n_stop = gen->n_eos;
  p->thinking_budget = 0;
}

static gboolean
check_params (const OmniGenParams *p, gsize n_prompt, const OmniModelState *st, GError **error)
{
  int cap = omni_model_state_options (st)->max_context;

  if (n_prompt == 0 || p->max_tokens < 0 || p->temperature < 0 || p->top_k < 0 || p->top_p <= 0
      || p->top_p > 1 || p->repetition_penalty <= 0 || p->thinking_budget < 0
      || (p->n_stop > 0 && !p->stop_ids)) {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_INVALID,
                 "generate: need a non-empty prompt, max_tokens >= 0, temperature >= 0, "
                 "top_k >= 0, top_p in (0, 1], repetition_penalty > 0, thinking_budget >= 0");
    return FALSE;
  }
  if (n_prompt + (gsize) p->max_tokens > (gsize) cap) {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_INVALID,
                 "generate: prompt of %" G_GSIZE_FORMAT " tokens + max_tokens %d exceed the "
                 "KV cache capacity of %d tokens", n_prompt, p->max_tokens, cap);
    return FALSE;
  }
  return TRUE;
}

static gboolean
cancelled (GCancellable *cancel, GError **error)
{
  if (!cancel || !g_cancellable_is_cancelled (cancel))
    return FALSE;
  g_set_error (error, OMNI_ERROR, OMNI_ERROR_CANCELLED, "generate: cancelled");
  return TRUE;
}

/* Steps the one sequence until it finishes; @on_token sees each new id. */
static gboolean
run_loop (OmniStepper *sp, OmniSeq *seq, OmniTokenFunc on_token, gpointer user_data,
          GArray *out_ids, GCancellable *cancel, GError **error)
{
  while (!seq->finished) {
    int n_fed;
    if (cancelled (cancel, error) || !omni_stepper_run (sp, &seq, 1, &n_fed, error))
      return FALSE;
    if (!seq->has_new)
      continue;
    if (out_ids)
      g_array_append_val (out_ids, seq->last);
    if (on_token && !on_token (seq->last, user_data))
      return TRUE;
  }
  return TRUE;
}

gboolean
omni_generate (OmniModel *model, const gint32 *prompt, gsize n_prompt,
               const OmniGenParams *params, OmniTokenFunc on_token, gpointer user_data,
               GArray *out_ids, GCancellable *cancel, GError **error)
{
  OmniModelState *st = omni_model_default_state (model, error);
  OmniKVPages *pages;
  OmniStepper sp;
  OmniSeq seq;
  int slot;
  gboolean ok;

  if (!st || !check_params (params, n_prompt, st, error))
    return FALSE;
  if (params->max_tokens == 0)
    return TRUE;
  pages = omni_model_state_pages (st);
  slot = omni_kv_pages_open (pages);
  if (slot < 0) {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_INVALID,
                 "generate: every sequence slot of the model's state is in use");
    return FALSE;
  }
  omni_stepper_init (&sp, model, st);
  omni_seq_init (&seq, params, omni_model_config (model)->vocab_size, prompt, n_prompt, slot);
  ok = run_loop (&sp, &seq, on_token, user_data, out_ids, cancel, error);
  omni_seq_clear (&seq);
  omni_stepper_clear (&sp);
  omni_kv_pages_close (pages, slot);
  return ok;
}
