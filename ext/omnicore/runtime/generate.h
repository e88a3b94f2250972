/* Text generation: prefill, decode loop, sampling, stop conditions.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef OMNI_GENERATE_H
#define OMNI_GENERATE_H

#include <glib.h>
#include <gio/gio.h>
#include "nn/qwen3.h"

typedef struct {
  int max_tokens;              /* new tokens at most */
  double temperature;          /* 0 = greedy */
  int top_k;                   /* 0 = off */
  double top_p;                /* 1 = off */
  double repetition_penalty;   /* 1 = off (HF semantics: over prompt + generated ids) */
  double presence_penalty;     /* 0 = off (OpenAI/vLLM semantics: over generated ids) */
  guint64 seed;
  const gint32 *stop_ids;      /* generation ends after emitting one of these */
  int n_stop;
  int thinking_budget;         /* > 0: force "</think>" after this many thinking tokens */
} OmniGenParams;

/* Fills @p with greedy decoding, 256 tokens and the model's eos ids. */
void omni_gen_params_init (OmniGenParams *p, const OmniModel *model);

/* Called for each generated id (stop ids included); return FALSE to stop. */
typedef gboolean (*OmniTokenFunc) (gint32 id, gpointer user_data);

/* Generates after @prompt; each new id goes to @on_token and is appended to
 * @out_ids (gint32, may be NULL). Cancelling @cancel ends it with
 * OMNI_ERROR_CANCELLED. */
gboolean omni_generate (OmniModel *model, const gint32 *prompt, gsize n_prompt,
                        const OmniGenParams *params, OmniTokenFunc on_token, gpointer user_data,
                        GArray *out_ids, GCancellable *cancel, GError **error);

#endif /* OMNI_GENERATE_H */
