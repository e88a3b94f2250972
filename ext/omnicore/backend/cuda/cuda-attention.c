/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Paged KV writes and attention. The batch's host arrays (positions,
 * sequences, block tables) are staged once per step and shared by every
 * layer. Few-token batches (decode) take the split-K kernel with the context
 * bound fixed by the block tables' size, so the launch does not depend on
 * the positions and a captured step replays at any length; larger batches
 * (prefill) take the one-pass kernel. */
#include "cuda-backend.h"

/* Tokens up to which a batch counts as decoding (flash-decoding pays off
 * when few queries meet long contexts). */
#define DECODE_MAX_TOKENS 16

#define SIG0 0xcbf29ce484222325ull

/* The kernels' view of @layer of @kv, with the batch's arrays staged. */
static void
paged_kv (OmniCudaBackend *cu, const OmniKVCache *kv, int layer, const OmniBatch *batch, OmniKPagedKV *p,
          const int32_t **d_pos, const int32_t **d_seq)
{
  p->k = kv->k.data;
  p->v = kv->v.data;
  p->layer = layer;
  p->n_pages = kv->n_pages;
  p->page_size = kv->page_size;
  p->n_kv_heads = kv->n_kv_heads;
  p->head_dim = kv->head_dim;
  p->n_seqs = batch->n_seqs;
  p->max_pages = batch->max_pages;
  *d_pos = omni_cuda_arg (cu, batch->pos, batch->n_tokens * sizeof (int32_t));
  *d_seq = omni_cuda_arg (cu, batch->seq, batch->n_tokens * sizeof (int32_t));
  p->block_tables = omni_cuda_arg (cu, batch->block_tables,
                                   (size_t) batch->n_seqs * batch->max_pages * sizeof (int32_t));
}

static guint64
sig_batch (guint64 h, const OmniKVCache *kv, int layer, const OmniBatch *batch)
{
  h = omni_cuda_sig_tensor (omni_cuda_sig_tensor (h, &kv->k), &kv->v);
  h = omni_cuda_sig (h, &layer, sizeof layer);
  h = omni_cuda_sig (h, &batch->n_tokens, sizeof batch->n_tokens);
  h = omni_cuda_sig (h, &batch->n_seqs, sizeof batch->n_seqs);
  return omni_cuda_sig (h, &batch->max_pages, sizeof batch->max_pages);
}

void
omni_cuda_kv_store (OmniBackend *b, OmniKVCache *kv, int layer, const OmniTensor *k, const OmniTensor *v,
                    const OmniBatch *batch)
{
  OmniCudaBackend *cu = (OmniCudaBackend *) b;
  OmniKPagedKV p;
  const int32_t *d_pos, *d_seq;
  int64_t n, width;
  gboolean run;

  if (!omni_cuda_check_f32 (k, "kv_store", "k") || !omni_cuda_check_f32 (v, "kv_store", "v"))
    return;
  n = k->shape[0];
  width = (int64_t) kv->n_kv_heads * kv->head_dim;
  g_return_if_fail (omni_tensor_rows (k) * k->shape[k->n_dims - 1] == n * width);
  g_return_if_fail (v->shape[0] == n && omni_tensor_rows (v) * v->shape[v->n_dims - 1] == n * width);
  if (!omni_batch_check (kv, layer, batch, n, "cuda", "kv_store"))
    return;
  run = omni_cuda_op_begin (cu, "kv_store", sig_batch (omni_cuda_sig_tensor (omni_cuda_sig_tensor (SIG0, k), v),
                                                       kv, layer, batch));
  paged_kv (cu, kv, layer, batch, &p, &d_pos, &d_seq);
  if (run)
    omni_cuda_ok (omni_k_kv_store (&p, k->data, v->data, d_pos, d_seq,
                                   (int) n, cu->stream), "omni_k_kv_store");
}

void
omni_cuda_attention (OmniBackend *b, OmniTensor *out, const OmniTensor *q, const OmniKVCache *kv, int layer,
                     const OmniBatch *batch, float scale)
{
  OmniCudaBackend *cu = (OmniCudaBackend *) b;
  OmniKPagedKV p;
  const int32_t *d_pos, *d_seq;
  int64_t n, n_heads;
  gboolean run;
  guint64 sig;

  if (!omni_cuda_check_f32 (out, "attention", "out") || !omni_cuda_check_f32 (q, "attention", "q"))
    return;
  g_return_if_fail (q->n_dims == 3 && kv != NULL && q->shape[2] == kv->head_dim);
  g_return_if_fail (kv->head_dim <= OMNI_K_MAX_HEAD_DIM);
  n = q->shape[0];
  n_heads = q->shape[1];
  g_return_if_fail (kv->n_kv_heads > 0 && n_heads % kv->n_kv_heads == 0);
  g_return_if_fail (out->shape[0] == n &&
                    omni_tensor_rows (out) * out->shape[out->n_dims - 1] == n * n_heads * kv->head_dim);
  g_return_if_fail (out->data != q->data);
  if (!omni_batch_check (kv, layer, batch, n, "cuda", "attention"))
    return;
  sig = sig_batch (omni_cuda_sig_tensor (omni_cuda_sig_tensor (SIG0, out), q), kv, layer, batch);
  run = omni_cuda_op_begin (cu, "attention", omni_cuda_sig (sig, &scale, sizeof scale));
  paged_kv (cu, kv, layer, batch, &p, &d_pos, &d_seq);
  if (!run)
    return;
  if (n <= DECODE_MAX_TOKENS) {
    int max_ctx = batch->max_pages * kv->page_size, split = OMNI_K_ATTN_SPLIT_DEFAULT;
    size_t ws = omni_k_attention_decode_workspace ((int) n, (int) n_heads, kv->head_dim, max_ctx, split);
    float *w = omni_cuda_scratch_reserve (cu, &cu->attn, ws * sizeof (float));

    if (w == NULL)
      return;
    omni_cuda_ok (omni_k_attention_decode (out->data, q->data, &p, d_pos, d_seq, (int) n, (int) n_heads, scale,
                                           max_ctx, split, w, cu->stream), "omni_k_attention_decode");
  } else {
    omni_cuda_ok (omni_k_attention_prefill (out->data, q->data, &p, d_pos, d_seq, (int) n, (int) n_heads, scale,
                                            cu->stream), "omni_k_attention_prefill");
  }
}
