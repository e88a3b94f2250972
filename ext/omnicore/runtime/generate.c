/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "omnicore.h"
#include "runtime/generate.h"
#include "runtime/sampler.h"

/* Qwen2/Qwen3 vocabulary ids used by the thinking budget. They are fixed
 * across Qwen3, Qwen3-VL and Qwen3-Omni (tokenizer.json added tokens), so
 * the budget needs no tokenizer; it is only applied when the model's vocab
 * is large enough to hold them. "\n\n" is the byte-level BPE token "ĊĊ". */
#define QWEN_THINK_OPEN 151667
#define QWEN_THINK_CLOSE 151668
#define QWEN_NEWLINE2 271

static const int32_t think_close_seq[] = { QWEN_NEWLINE2, QWEN_THINK_CLOSE, QWEN_NEWLINE2 };

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

/* One generation: everything the loop needs, allocated once up front. */
typedef struct {
  OmniModel *model;
  OmniModelState *st;
  const OmniGenParams *p;
  int slot, vocab;
  int32_t *pos, *seq;        /* [max_batch_tokens] */
  float *logits;             /* [vocab] */
  OmniSampler *sampler;
  /* thinking budget */
  gboolean thinking;         /* inside an open <think> block */
  int think_tokens;          /* tokens generated inside it */
  int forced;                /* next index into think_close_seq, -1 = not forcing */
} GenRun;

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

/* Feeds @n tokens starting at position @start; keeps the logits of the last. */
static gboolean
feed (GenRun *r, const int32_t *tokens, int n, int start, GError **error)
{
  OmniBatch batch;
  int32_t last = n - 1;

  if (!omni_kv_pages_reserve (omni_model_state_pages (r->st), r->slot, start + n, error))
    return FALSE;
  for (int i = 0; i < n; i++) {
    r->pos[i] = start + i;
    r->seq[i] = r->slot;
  }
  omni_model_state_batch (r->st, &batch, n, r->pos, r->seq);
  return omni_model_forward (r->model, r->st, &batch, tokens, &last, 1, r->logits, error);
}

static gboolean
prefill (GenRun *r, const int32_t *prompt, gsize n_prompt, GCancellable *cancel, GError **error)
{
  int chunk = omni_model_state_options (r->st)->max_batch_tokens;

  for (gsize off = 0; off < n_prompt; off += chunk) {
    int n = (int) MIN ((gsize) chunk, n_prompt - off);
    if (cancelled (cancel, error) || !feed (r, prompt + off, n, (int) off, error))
      return FALSE;
  }
  return TRUE;
}

/* Whether the prompt leaves a <think> block open (the model is thinking). */
static gboolean
prompt_thinking (const int32_t *prompt, gsize n)
{
  for (gsize i = n; i-- > 0;) {
    if (prompt[i] == QWEN_THINK_CLOSE)
      return FALSE;
    if (prompt[i] == QWEN_THINK_OPEN)
      return TRUE;
  }
  return FALSE;
}

/* The next id: a forced one while closing an over-budget think block, else
 * sampled. Tracks whether a think block is open. */
static int32_t
next_token (GenRun *r)
{
  int budget = r->p->thinking_budget;
  int32_t id;

  if (r->forced < 0 && budget > 0 && r->thinking && r->think_tokens >= budget)
    r->forced = 0;
  if (r->forced >= 0) {
    id = think_close_seq[r->forced++];
    if (r->forced == (int) G_N_ELEMENTS (think_close_seq))
      r->forced = -1;
  } else {
    id = omni_sampler_sample (r->sampler, r->logits);
  }
  if (id == QWEN_THINK_OPEN) {
    r->thinking = TRUE;
    r->think_tokens = 0;
  } else if (id == QWEN_THINK_CLOSE) {
    r->thinking = FALSE;
  } else if (r->thinking) {
    r->think_tokens++;
  }
  return id;
}

static gboolean
is_stop (const OmniGenParams *p, int32_t id)
{
  for (int i = 0; i < p->n_stop; i++)
    if (p->stop_ids[i] == id)
      return TRUE;
  return FALSE;
}

static gboolean
decode (GenRun *r, gsize n_prompt, OmniTokenFunc on_token, gpointer user_data, GArray *out_ids,
        GCancellable *cancel, GError **error)
{
  for (int i = 0; i < r->p->max_tokens; i++) {
    if (cancelled (cancel, error))
      return FALSE;
    int32_t id = next_token (r);
    omni_sampler_add_output (r->sampler, id);
    if (out_ids)
      g_array_append_val (out_ids, id);
    if (on_token && !on_token (id, user_data))
      return TRUE;
    if (is_stop (r->p, id) || i + 1 == r->p->max_tokens)
      return TRUE;
    if (!feed (r, &id, 1, (int) n_prompt + i, error))
      return FALSE;
  }
  return TRUE;
}

static void
run_clear (GenRun *r)
{
  if (r->slot >= 0)
    omni_kv_pages_close (omni_model_state_pages (r->st), r->slot);
  g_free (r->pos);
  g_free (r->seq);
  g_free (r->logits);
  omni_sampler_free (r->sampler);
}

gboolean
omni_generate (OmniModel *model, const gint32 *prompt, gsize n_prompt,
               const OmniGenParams *params, OmniTokenFunc on_token, gpointer user_data,
               GArray *out_ids, GCancellable *cancel, GError **error)
{
  GenRun r = { .model = model, .p = params, .slot = -1, .forced = -1 };
  gboolean ok;

  r.st = omni_model_default_state (model, error);
  if (!r.st || !check_params (params, n_prompt, r.st, error))
    return FALSE;
  if (params->max_tokens == 0)
    return TRUE;
  r.slot = omni_kv_pages_open (omni_model_state_pages (r.st));
  if (r.slot < 0) {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_INVALID,
                 "generate: every sequence slot of the model's state is in use");
    return FALSE;
  }
  r.vocab = omni_model_config (model)->vocab_size;
  int chunk = omni_model_state_options (r.st)->max_batch_tokens;
  r.pos = g_new (int32_t, chunk);
  r.seq = g_new (int32_t, chunk);
  r.logits = g_new (float, r.vocab);
  OmniSamplerParams sp = { params->temperature, params->top_k, params->top_p,
                           params->repetition_penalty, params->presence_penalty, params->seed };
  r.sampler = omni_sampler_new (r.vocab, &sp);
  omni_sampler_add_prompt (r.sampler, prompt, n_prompt);
  /* the budget needs the Qwen think ids to exist in this vocabulary */
  r.thinking = r.vocab > QWEN_THINK_CLOSE && prompt_thinking (prompt, n_prompt);
  ok = prefill (&r, prompt, n_prompt, cancel, error)
    && decode (&r, n_prompt, on_token, user_data, out_ids, cancel, error);
  run_clear (&r);
  return ok;
}
