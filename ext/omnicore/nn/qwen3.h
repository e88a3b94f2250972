/* The Qwen3 decoder (dense and MoE), written against backend ops.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef OMNI_QWEN3_H
#define OMNI_QWEN3_H

#include <glib.h>
#include "io/config.h"
#include "io/safetensors.h"
#include "backend/backend.h"
#include "nn/kvpages.h"

typedef struct _OmniModel OmniModel;
typedef struct _OmniModelState OmniModelState;

/* Loads the decoder of the snapshot in @dir onto @backend (weights stay in
 * their stored dtype). Missing or misshapen tensors are a GError naming them.
 * The model does not own @backend: close it after omni_model_free(). */
OmniModel *omni_model_load (const char *dir, OmniBackend *backend, GError **error);
void omni_model_free (OmniModel *m);

const OmniTextConfig *omni_model_config (const OmniModel *m);
const OmniGenerationConfig *omni_model_generation_config (const OmniModel *m);
OmniBackend *omni_model_backend (const OmniModel *m);
/* The RoPE table the model runs with (inv_freq and the YaRN attention factor). */
const OmniRope *omni_model_rope (const OmniModel *m);

/* Sizes of a forward state; 0 in a field means its default. */
typedef struct {
  int max_context;       /* tokens per sequence; default min(4096, max_position_embeddings) */
  int max_seqs;          /* sequence slots; default 1 */
  int max_batch_tokens;  /* tokens per forward call; default 256 (prompts go in chunks) */
  int max_logit_rows;    /* rows of logits per forward call; default max_seqs */
  int page_size;         /* tokens per KV page; default 16 */
  int kv_tokens;         /* KV pool shared by all slots; default max_context * max_seqs.
                          * Smaller pools are fine: callers admit by free pages. */
} OmniStateOptions;

/* Everything a forward pass writes: the paged KV cache, its page allocator
 * and the activation buffers, all allocated here once (none per step).
 * @opt may be NULL for the defaults. */
OmniModelState *omni_model_state_new (OmniModel *m, const OmniStateOptions *opt, GError **error);
void omni_model_state_free (OmniModelState *st);
/* The options in effect (defaults filled in). */
const OmniStateOptions *omni_model_state_options (const OmniModelState *st);
/* The page allocator: open a sequence slot, reserve its positions before a
 * forward, close it to return its pages. */
OmniKVPages *omni_model_state_pages (OmniModelState *st);
/* Fills @batch for @n_tokens tokens at @pos of slots @seq, pointing at the
 * state's block tables (no copy). */
void omni_model_state_batch (OmniModelState *st, OmniBatch *batch, int n_tokens,
                             const int32_t *pos, const int32_t *seq);

/* A model-owned state with the default options, created on first use and
 * shared by every caller of this model (one generation at a time). */
OmniModelState *omni_model_default_state (OmniModel *m, GError **error);

/* Capture points handed to an OmniCaptureFunc: the embeddings, the output of
 * each layer 0..n_layers-1, and the final norm's output (point n_layers). */
#define OMNI_CAPTURE_EMBED (-1)
/* Receives the hidden states [n_tokens, hidden] (backend memory: download
 * them with the backend) at each capture point of a forward pass. */
typedef void (*OmniCaptureFunc) (int point, const OmniTensor *hidden, gpointer user_data);
/* Installs (or removes, with NULL) a capture hook for tests and debugging. */
void omni_model_state_set_capture (OmniModelState *st, OmniCaptureFunc func, gpointer user_data);

/* Most DeepStack levels a patch carries. */
#define OMNI_MAX_DEEPSTACK 8

/* Rows of input embeddings that replace the token embeddings of some batch
 * rows (audio or image features at their placeholder tokens). */
typedef struct {
  const OmniTensor *src;   /* [>= n, hidden] f32, backend memory */
  int src_row;             /* first row of @src (and of each deepstack level) used */
  const int32_t *rows;     /* [n] batch rows replaced, in order */
  int n;
  /* Qwen3-VL DeepStack: level k (same rows) is added to these rows after
   * decoder layer k; n_deepstack 0 for audio */
  const OmniTensor *deepstack[OMNI_MAX_DEEPSTACK];
  int n_deepstack;
} OmniEmbedPatch;

/* Runs @batch (tokens[i] at batch->pos[i] of slot batch->seq[i], positions
 * already reserved in the state's pages) through the decoder, storing K/V in
 * the cache, and writes the logits of the tokens @logit_rows (indices into
 * the batch) to @logits_out ([n_logit_rows, vocab] f32, host). */
gboolean omni_model_forward (OmniModel *m, OmniModelState *st, const OmniBatch *batch,
                             const int32_t *tokens, const int32_t *logit_rows, int n_logit_rows,
                             float *logits_out, GError **error);

/* omni_model_forward() with @n_patches embedding patches applied after the
 * token embedding (batch->rope_pos, if set, needs a model with M-RoPE). */
gboolean omni_model_forward_patched (OmniModel *m, OmniModelState *st, const OmniBatch *batch,
                                     const int32_t *tokens, const OmniEmbedPatch *patches,
                                     int n_patches, const int32_t *logit_rows, int n_logit_rows,
                                     float *logits_out, GError **error);

/* What the loaded weights weigh in memory, as stored (after any quantization
 * at load); for benchmarks and the decode bandwidth ceiling. */
typedef struct {
  size_t bytes;           /* every weight tensor (a tied lm_head is the embedding, counted once) */
  int64_t params;         /* their elements */
  size_t decode_bytes;    /* read by one decode step: every layer's weights (MoE: router and
                           * num_experts_per_tok experts' worth), final norm, lm_head; not the
                           * embedding table (one row) */
  int64_t matmul_params;  /* elements of the matmul weights one token passes through in the
                           * layers (MoE: active experts), without lm_head: a prefill token
                           * costs 2 x this many FLOPs there */
} OmniModelWeightStats;

/* Fills @out from the tensors @m bound. */
void omni_model_weight_stats (const OmniModel *m, OmniModelWeightStats *out);

#endif /* OMNI_QWEN3_H */
