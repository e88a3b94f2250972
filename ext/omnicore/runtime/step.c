/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "omnicore.h"
#include "runtime/step.h"

void
omni_stepper_init (OmniStepper *sp, OmniModel *model, OmniModelState *st)
{
  const OmniStateOptions *o = omni_model_state_options (st);

  memset (sp, 0, sizeof *sp);
  sp->model = model;
  sp->st = st;
  sp->max_tokens = o->max_batch_tokens;
  sp->max_rows = o->max_logit_rows;
  sp->vocab = omni_model_config (model)->vocab_size;
  sp->tokens = g_new (int32_t, sp->max_tokens);
  sp->pos = g_new (int32_t, sp->max_tokens);
  sp->seq = g_new (int32_t, sp->max_tokens);
  sp->rows = g_new (int32_t, sp->max_tokens);
  sp->rope_pos = g_new (int32_t, 3 * (gsize) sp->max_tokens);
  sp->row_seq = g_new (OmniSeq *, sp->max_rows);
  sp->patch_rows = g_new (int32_t, sp->max_tokens);
  sp->max_patches = o->max_seqs;
  sp->patches = g_new (OmniEmbedPatch, sp->max_patches);
  sp->logits = g_new (float, (gsize) sp->max_rows * sp->vocab);
}

void
omni_stepper_clear (OmniStepper *sp)
{
  g_free (sp->tokens);
  g_free (sp->pos);
  g_free (sp->seq);
  g_free (sp->rows);
  g_free (sp->rope_pos);
  g_free (sp->row_seq);
  g_free (sp->patch_rows);
  g_free (sp->patches);
  g_free (sp->logits);
  memset (sp, 0, sizeof *sp);
}

/* Appends @n tokens of @s at positions @start.. (reserving their pages) and,
 * when @want_logits, a logit row for the last of them. */
static gboolean
add_tokens (OmniStepper *sp, OmniSeq *s, const int32_t *tokens, int n, int start,
            gboolean want_logits, int *n_tok, int *n_rows, GError **error)
{
  if (!omni_kv_pages_reserve (omni_model_state_pages (sp->st), s->slot, start + n, error))
    return FALSE;
  for (int i = 0; i < n; i++) {
    int p = start + i, t = *n_tok;
    sp->tokens[t] = tokens[i];
    sp->pos[t] = p;
    sp->seq[t] = s->slot;
    for (int axis = 0; axis < 3; axis++)
      sp->rope_pos[axis * sp->max_tokens + t] = !s->rope_pos ? p
          : p < (int) s->n_prompt ? s->rope_pos[axis * s->n_prompt + p] : p + s->rope_delta;
    sp->any_rope_pos |= s->rope_pos != NULL;
    (*n_tok)++;
  }
  if (want_logits) {
    sp->rows[*n_rows] = *n_tok - 1;
    sp->row_seq[(*n_rows)++] = s;
  }
  return TRUE;
}

/* Points a patch at the features of the placeholders among the @n prompt
 * tokens of @s just added at batch rows @first.. */
static void
add_patch (OmniStepper *sp, OmniSeq *s, int first, int n, int *n_patch_rows)
{
  OmniEmbedPatch *p = &sp->patches[sp->n_patches];
  int k = 0;

  if (!s->features)
    return;
  p->rows = sp->patch_rows + *n_patch_rows;
  for (int i = 0; i < n; i++)
    if (sp->tokens[first + i] == s->feature_token)
      sp->patch_rows[*n_patch_rows + k++] = first + i;
  if (k == 0)
    return;
  p->src = s->features;
  p->src_row = s->n_features_fed;
  p->n = k;
  p->n_deepstack = s->n_deepstack;
  for (int d = 0; d < s->n_deepstack; d++)
    p->deepstack[d] = &s->deepstack[d];
  s->n_features_fed += k;
  *n_patch_rows += k;
  sp->n_patches++;
}

/* Fills the batch: decoding sequences first (one token each, so none
 * starves behind a long prompt), then prompt chunks in the given order. */
static gboolean
gather (OmniStepper *sp, OmniSeq *const *seqs, int n_seqs, int *n_tok, int *n_rows,
        GError **error)
{
  int n_patch_rows = 0;

  sp->n_patches = 0;
  sp->any_rope_pos = FALSE;
  for (int i = 0; i < n_seqs; i++) {
    OmniSeq *s = seqs[i];
    s->has_new = FALSE;
    if (omni_seq_prefilling (s) || *n_tok >= sp->max_tokens || *n_rows >= sp->max_rows)
      continue;
    int at = (int) s->n_prompt + s->n_generated - 1;
    if (!add_tokens (sp, s, &s->last, 1, at, TRUE, n_tok, n_rows, error))
      return FALSE;
  }
  for (int i = 0; i < n_seqs && *n_tok < sp->max_tokens; i++) {
    OmniSeq *s = seqs[i];
    if (!omni_seq_prefilling (s))
      continue;
    int n = (int) MIN ((gsize) (sp->max_tokens - *n_tok), s->n_prompt - s->n_fed);
    gboolean want = s->n_fed + n == s->n_prompt;
    if (want && *n_rows >= sp->max_rows) {
      n--;  /* no row left for its logits: its last token waits for the next step */
      want = FALSE;
    }
    if (n <= 0)
      continue;
    int first = *n_tok;
    if (!add_tokens (sp, s, s->prompt + s->n_fed, n, (int) s->n_fed, want, n_tok, n_rows, error))
      return FALSE;
    add_patch (sp, s, first, n, &n_patch_rows);
    s->n_fed += n;
  }
  return TRUE;
}

/* The three axes of the step's @n tokens side by side, as the rope op
 * takes them ([3][n], in place: the rows move down only). */
static const int32_t *
compact_rope_pos (OmniStepper *sp, int n)
{
  for (int axis = 1; axis < 3; axis++)
    memmove (sp->rope_pos + axis * n, sp->rope_pos + axis * sp->max_tokens, n * sizeof (int32_t));
  return sp->rope_pos;
}

gboolean
omni_stepper_run (OmniStepper *sp, OmniSeq *const *seqs, int n_seqs, int *n_fed, GError **error)
{
  OmniBatch batch;
  int n_tok = 0, n_rows = 0;

  *n_fed = 0;
  if (!gather (sp, seqs, n_seqs, &n_tok, &n_rows, error))
    return FALSE;
  if (n_tok == 0)
    return TRUE;
  omni_model_state_batch (sp->st, &batch, n_tok, sp->pos, sp->seq);
  if (sp->any_rope_pos)
    batch.rope_pos = compact_rope_pos (sp, n_tok);
  sp->n_forward++;
  if (!omni_model_forward_patched (sp->model, sp->st, &batch, sp->tokens, sp->patches,
                                   sp->n_patches, sp->rows, n_rows, sp->logits, error))
    return FALSE;
  for (int r = 0; r < n_rows; r++)
    omni_seq_sample (sp->row_seq[r], sp->logits + (gsize) r * sp->vocab);
  *n_fed = n_tok;
  return TRUE;
}
