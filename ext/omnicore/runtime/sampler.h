/* Token sampling: penalties, temperature, top-k, top-p, seeded PRNG.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef OMNI_SAMPLER_H
#define OMNI_SAMPLER_H

#include <glib.h>
#include <stdint.h>

typedef struct {
  double temperature;          /* 0 = greedy (argmax, first index on ties) */
  int top_k;                   /* 0 = off */
  double top_p;                /* 1 = off */
  double repetition_penalty;   /* 1 = off; HF: over prompt + output ids */
  double presence_penalty;     /* 0 = off; subtracted once per id seen in the output */
  guint64 seed;
} OmniSamplerParams;

typedef struct _OmniSampler OmniSampler;

/* A sampler for a vocabulary of @vocab ids; all scratch memory is allocated
 * here, none per step. The PRNG is xoshiro256** seeded through splitmix64. */
OmniSampler *omni_sampler_new (int vocab, const OmniSamplerParams *params);
void omni_sampler_free (OmniSampler *s);

/* Forgets the ids seen so far and reseeds the PRNG from params->seed. */
void omni_sampler_reset (OmniSampler *s);
/* Records prompt ids (they count for the repetition penalty only). */
void omni_sampler_add_prompt (OmniSampler *s, const int32_t *ids, gsize n);
/* Records a generated id (repetition and presence penalties). */
void omni_sampler_add_output (OmniSampler *s, int32_t id);

/* Picks the next id from @logits (@vocab floats, modified in place by the
 * penalties and the temperature). Order as in transformers: repetition
 * penalty, presence penalty, temperature, top-k, top-p, draw. */
int32_t omni_sampler_sample (OmniSampler *s, float *logits);

/* The next uniform double in [0, 1) of the sampler's PRNG (for tests). */
double omni_sampler_uniform (OmniSampler *s);

#endif /* OMNI_SAMPLER_H */
