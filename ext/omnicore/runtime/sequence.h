/* One sequence being generated: prompt feeding, sampling, thinking budget
 * and stop rules, shared by omni_generate and the engine's scheduler.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef OMNI_SEQUENCE_H
#define OMNI_SEQUENCE_H

#include <glib.h>
#include <stdint.h>
#include "runtime/generate.h"
#include "runtime/sampler.h"
#include "backend/backend.h"

/* Plain data: the stepper reads and advances it; callers read the fields. */
typedef struct {
  OmniGenParams params;      /* stop_ids must outlive the sequence */
  const int32_t *prompt;     /* not owned */
  gsize n_prompt;
  int slot;                  /* KV page slot */
  gsize n_fed;               /* prompt tokens already in the cache */
  int n_generated;           /* ids sampled so far */
  int32_t last;              /* the latest sampled id */
  gboolean has_new;          /* the latest step sampled @last */
  gboolean finished;         /* stop id sampled or max_tokens reached */
  OmniSampler *sampler;
  /* thinking budget */
  gboolean thinking;         /* inside an open <think> block */
  int think_tokens;          /* tokens generated inside it */
  int forced;                /* next index into the forced close, -1 = not forcing */
  /* multimodal prompts: the embeddings that replace the prompt's
   * @feature_token placeholders, row after row (NULL: none) */
  const OmniTensor *features;
  int32_t feature_token;
  int n_features_fed;        /* placeholders already fed */
  const OmniTensor *deepstack;  /* [n_deepstack] added after the first decoder layers */
  int n_deepstack;
  /* M-RoPE positions of the prompt ([3][n_prompt], t h w) when they are not
   * sequential (images, video); later tokens at cache position p get
   * p + rope_delta on every axis. NULL: sequential. */
  const int32_t *rope_pos;
  int rope_delta;
} OmniSeq;

/* Sets up @s to generate after @prompt (@n_prompt > 0) in KV slot @slot of a
 * model with @vocab ids; allocates the sampler (no allocation per step). */
void omni_seq_init (OmniSeq *s, const OmniGenParams *params, int vocab, const int32_t *prompt,
                    gsize n_prompt, int slot);
/* Frees the sampler; the caller closes the KV slot. */
void omni_seq_clear (OmniSeq *s);

/* TRUE while prompt tokens remain to be fed. */
static inline gboolean
omni_seq_prefilling (const OmniSeq *s)
{
  return s->n_fed < s->n_prompt;
}

/* Picks the next id from @logits (modified in place): a forced one while
 * closing an over-budget think block, else sampled. Updates the counts and
 * sets @finished on a stop id or at max_tokens. */
int32_t omni_seq_sample (OmniSeq *s, float *logits);

#endif /* OMNI_SEQUENCE_H */
