/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Paged KV cache writes and causal GQA attention over it. A token at
 * position p of sequence s sees the keys 0..p of s; position t lives in page
 * block_tables[s][t / page_size], slot t % page_size. Softmax is two-pass in
 * f32 (max, then exp and sum), as transformers' eager attention in f32. */
#include <math.h>
#include "cpu-backend.h"

/* Row (n_kv_heads x head_dim floats) of @layer at @page/@slot in @t (k or v). */
static inline float *
kv_row (const OmniKVCache *kv, const OmniTensor *t, int layer, int64_t page, int64_t slot)
{
  int64_t row = ((int64_t) layer * kv->n_pages + page) * kv->page_size + slot;
  return (float *) t->data + row * kv->n_kv_heads * kv->head_dim;
}

static inline int64_t
page_of (const OmniKVCache *kv, const OmniBatch *batch, int32_t seq, int64_t pos)
{
  return batch->block_tables[(int64_t) seq * batch->max_pages + pos / kv->page_size];
}

void
omni_cpu_kv_store (OmniBackend *b, OmniKVCache *kv, int layer, const OmniTensor *k,
                   const OmniTensor *v, const OmniBatch *batch)
{
  int64_t n, width;

  if (!omni_cpu_check_f32 (k, "kv_store", "k") || !omni_cpu_check_f32 (v, "kv_store", "v"))
    return;
  n = k->shape[0];
  width = (int64_t) kv->n_kv_heads * kv->head_dim;
  g_return_if_fail (omni_tensor_rows (k) * k->shape[k->n_dims - 1] == n * width);
  g_return_if_fail (v->shape[0] == n && omni_tensor_rows (v) * v->shape[v->n_dims - 1] == n * width);
  if (!omni_batch_check (kv, layer, batch, n, "cpu", "kv_store"))
    return;

  for (int64_t i = 0; i < n; i++) {
    int64_t p = batch->pos[i];
    int64_t page = page_of (kv, batch, batch->seq[i], p);

    memcpy (kv_row (kv, &kv->k, layer, page, p % kv->page_size), (const float *) k->data + i * width,
            width * sizeof (float));
    memcpy (kv_row (kv, &kv->v, layer, page, p % kv->page_size), (const float *) v->data + i * width,
            width * sizeof (float));
  }
}

typedef struct {
  float *out;
  const float *q;
  const OmniKVCache *kv;
  const OmniBatch *batch;
  int layer;
  int64_t n, n_heads, group;
  float scale;
  float *scores;        /* per thread: max context floats */
  int64_t score_stride;
  gint next_item;       /* atomic: the next (token, head) to take */
} AttnCtx;

/* One (token, query head): scores, softmax, then the weighted sum of V. */
static void
attend_one (const AttnCtx *c, int64_t i, int64_t h, float *restrict scores)
{
  const OmniKVCache *kv = c->kv;
  int64_t d = kv->head_dim, kvh = h / c->group, ctx = (int64_t) c->batch->pos[i] + 1;
  int32_t seq = c->batch->seq[i];
  const float *q = c->q + (i * c->n_heads + h) * d;
  float *restrict out = c->out + (i * c->n_heads + h) * d;
  float max = -INFINITY, sum = 0.0f;

  for (int64_t t = 0; t < ctx; t++) {
    const float *k = kv_row (kv, &kv->k, c->layer, page_of (kv, c->batch, seq, t), t % kv->page_size);
    scores[t] = omni_cpu_dot_f32 (q, k + kvh * d, d) * c->scale;
    max = MAX (max, scores[t]);
  }
  for (int64_t t = 0; t < ctx; t++) {
    scores[t] = expf (scores[t] - max);
    sum += scores[t];
  }
  memset (out, 0, d * sizeof (float));
  for (int64_t t = 0; t < ctx; t++) {
    const float *restrict v = kv_row (kv, &kv->v, c->layer, page_of (kv, c->batch, seq, t),
                                      t % kv->page_size) + kvh * d;
    float p = scores[t] / sum;

    for (int64_t j = 0; j < d; j++)
      out[j] += p * v[j];
  }
}

/* Items are taken from a shared counter: in a prefill their cost grows
 * with the position, so a fixed split would leave threads idle. */
static void
attention_task (void *data, int ith, int nth)
{
  AttnCtx *c = data;
  float *scores = c->scores + ith * c->score_stride;
  int64_t w;

  while ((w = g_atomic_int_add (&c->next_item, 1)) < c->n * c->n_heads)
    attend_one (c, w / c->n_heads, w % c->n_heads, scores);
}

void
omni_cpu_attention (OmniBackend *b, OmniTensor *out, const OmniTensor *q, const OmniKVCache *kv,
                    int layer, const OmniBatch *batch, float scale)
{
  OmniCpuBackend *cpu = (OmniCpuBackend *) b;
  AttnCtx c;
  int64_t max_ctx = 0, work = 0;
  int nth;

  if (!omni_cpu_check_f32 (out, "attention", "out") || !omni_cpu_check_f32 (q, "attention", "q"))
    return;
  g_return_if_fail (q->n_dims == 3 && kv != NULL && q->shape[2] == kv->head_dim);
  c.n = q->shape[0];
  c.n_heads = q->shape[1];
  g_return_if_fail (kv->n_kv_heads > 0 && c.n_heads % kv->n_kv_heads == 0);
  g_return_if_fail (out->shape[0] == c.n &&
                    omni_tensor_rows (out) * out->shape[out->n_dims - 1] == c.n * c.n_heads * kv->head_dim);
  g_return_if_fail (out->data != q->data);
  if (!omni_batch_check (kv, layer, batch, c.n, "cpu", "attention"))
    return;

  for (int64_t i = 0; i < c.n; i++) {
    max_ctx = MAX (max_ctx, (int64_t) batch->pos[i] + 1);
    work += ((int64_t) batch->pos[i] + 1) * c.n_heads * kv->head_dim * 4;
  }
  c.out = out->data;
  c.q = q->data;
  c.kv = kv;
  c.batch = batch;
  c.layer = layer;
  c.group = c.n_heads / kv->n_kv_heads;
  c.scale = scale;
  c.score_stride = (max_ctx + 15) & ~(int64_t) 15;
  c.next_item = 0;
  nth = omni_cpu_threads_for (cpu, work, c.n * c.n_heads);
  c.scores = omni_cpu_scratch_reserve (&cpu->attn, nth * c.score_stride * sizeof (float));
  omni_cpu_pool_run (cpu->pool, nth, attention_task, &c);
}
