/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "runtime/sequence.h"

/* Qwen2/Qwen3 vocabulary ids used by the thinking budget. They are fixed
 * across Qwen3, Qwen3-VL and Qwen3-Omni (tokenizer.json added tokens), so
 * the budget needs no tokenizer; it is only applied when the model's vocab
 * is large enough to hold them. "\n\n" is the byte-level BPE token "ĊĊ". */
#define QWEN_THINK_OPEN 151667
#define QWEN_THINK_CLOSE 151668
#define QWEN_NEWLINE2 271

static const int32_t think_close_seq[] = { QWEN_NEWLINE2, QWEN_THINK_CLOSE, QWEN_NEWLINE2 };

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

void
omni_seq_init (OmniSeq *s, const OmniGenParams *params, int vocab, const int32_t *prompt,
               gsize n_prompt, int slot)
{
  const OmniGenParams *p = params;
  OmniSamplerParams sp = { p->temperature, p->top_k, p->top_p, p->repetition_penalty,
                           p->presence_penalty, p->seed };

  memset (s, 0, sizeof *s);
  s->params = *params;
  s->prompt = prompt;
  s->n_prompt = n_prompt;
  s->slot = slot;
  s->forced = -1;
  s->sampler = omni_sampler_new (vocab, &sp);
  omni_sampler_add_prompt (s->sampler, prompt, n_prompt);
  /* the budget needs the Qwen think ids to exist in this vocabulary */
  s->thinking = vocab > QWEN_THINK_CLOSE && prompt_thinking (prompt, n_prompt);
}

void
omni_seq_clear (OmniSeq *s)
{
  g_clear_pointer (&s->sampler, omni_sampler_free);
}

static gboolean
is_stop (const OmniGenParams *p, int32_t id)
{
  for (int i = 0; i < p->n_stop; i++)
    if (p->stop_ids[i] == id)
      return TRUE;
  return FALSE;
}

/* A forced id while closing an over-budget think block, else -1. */
static int32_t
forced_token (OmniSeq *s)
{
  int budget = s->params.thinking_budget;

  if (s->forced < 0 && budget > 0 && s->thinking && s->think_tokens >= budget)
    s->forced = 0;
  if (s->forced < 0)
    return -1;
  int32_t id = think_close_seq[s->forced++];
  if (s->forced == (int) G_N_ELEMENTS (think_close_seq))
    s->forced = -1;
  return id;
}

int32_t
omni_seq_sample (OmniSeq *s, float *logits)
{
  int32_t id = forced_token (s);

  if (id < 0)
    id = omni_sampler_sample (s->sampler, logits);
  if (id == QWEN_THINK_OPEN) {
    s->thinking = TRUE;
    s->think_tokens = 0;
  } else if (id == QWEN_THINK_CLOSE) {
    s->thinking = FALSE;
  } else if (s->thinking) {
    s->think_tokens++;
  }
  omni_sampler_add_output (s->sampler, id);
  s->last = id;
  s->has_new = TRUE;
  s->n_generated++;
  if (is_stop (&s->params, id) || s->n_generated >= s->params.max_tokens)
    s->finished = TRUE;
  return id;
}
