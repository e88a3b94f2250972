/* One forward step over several sequences: the batched decode of the core.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef OMNI_STEP_H
#define OMNI_STEP_H

#include <glib.h>
#include "nn/qwen3.h"
#include "runtime/sequence.h"

/* Buffers of a step, sized once from the state's options. */
typedef struct {
  OmniModel *model;
  OmniModelState *st;
  int max_tokens, max_rows, vocab;
  int32_t *tokens, *pos, *seq, *rows;   /* [max_tokens] */
  int32_t *rope_pos;                    /* [3][max_tokens] M-RoPE positions */
  gboolean any_rope_pos;                /* a sequence of this step has its own */
  OmniSeq **row_seq;                    /* [max_rows] */
  int32_t *patch_rows;                  /* [max_tokens] batch rows of placeholders */
  OmniEmbedPatch *patches;              /* [max_seqs] one per prefilling sequence */
  int max_patches, n_patches;
  float *logits;                        /* [max_rows, vocab] */
  guint64 n_forward;                    /* forward calls made */
} OmniStepper;

/* Allocates the step buffers for @st of @model. */
void omni_stepper_init (OmniStepper *sp, OmniModel *model, OmniModelState *st);
void omni_stepper_clear (OmniStepper *sp);

/* One omni_model_forward_patched over @seqs (none finished): every decoding sequence
 * feeds its latest id, then prefilling ones feed prompt chunks, in order,
 * while the state's max_batch_tokens allow. Each sequence whose prompt is
 * complete samples one id (has_new). *@n_fed gets the tokens fed (0: none
 * could be, nothing was run). Placeholders of sequences with features get
 * their rows of it. FALSE + GError when the forward fails. */
gboolean omni_stepper_run (OmniStepper *sp, OmniSeq *const *seqs, int n_seqs, int *n_fed,
                           GError **error);

#endif /* OMNI_STEP_H */
