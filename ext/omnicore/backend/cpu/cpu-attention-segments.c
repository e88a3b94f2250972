/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Bidirectional attention within segments (the audio and vision towers):
 * token i of segment [s0, s1) attends to keys s0..s1-1 of its own head,
 * with no cache and no GQA. Softmax is two-pass in f32 (max, then exp and
 * sum), as the eager attention of transformers in f32. */
#include <math.h>
#include "cpu-backend.h"

typedef struct {
  float *out;
  const float *q, *k, *v;
  const int32_t *cu;
  int n_segs;
  int64_t n, n_heads, d;
  float scale;
  float *scores;        /* per thread: the longest segment's floats */
  int64_t score_stride;
  gint next_item;       /* atomic: the next (token, head) to take */
} SegAttnCtx;

/* Index of the segment holding token @i (cu is strictly increasing). */
static int
segment_of (const int32_t *cu, int n_segs, int64_t i)
{
  int lo = 0, hi = n_segs - 1;

  while (lo < hi) {
    int mid = (lo + hi + 1) / 2;
    if (cu[mid] <= i)
      lo = mid;
    else
      hi = mid - 1;
  }
  return lo;
}

static void
attend_segment (const SegAttnCtx *c, int64_t i, int64_t h, float *restrict scores)
{
  int s = segment_of (c->cu, c->n_segs, i);
  int64_t s0 = c->cu[s], len = c->cu[s + 1] - s0, stride = c->n_heads * c->d;
  const float *q = c->q + i * stride + h * c->d;
  const float *k = c->k + s0 * stride + h * c->d;
  const float *v = c->v + s0 * stride + h * c->d;
  float *restrict out = c->out + i * stride + h * c->d;
  float max = -INFINITY, sum = 0.0f;

  for (int64_t t = 0; t < len; t++) {
    scores[t] = omni_cpu_dot_f32 (q, k + t * stride, c->d) * c->scale;
    max = MAX (max, scores[t]);
  }
  for (int64_t t = 0; t < len; t++) {
    scores[t] = expf (scores[t] - max);
    sum += scores[t];
  }
  memset (out, 0, c->d * sizeof (float));
  for (int64_t t = 0; t < len; t++) {
    const float *restrict vt = v + t * stride;
    float p = scores[t] / sum;

    for (int64_t j = 0; j < c->d; j++)
      out[j] += p * vt[j];
  }
}

/* Items from a shared counter: segments of unequal length cost unequally. */
static void
attention_segments_task (void *data, int ith, int nth)
{
  SegAttnCtx *c = data;
  float *scores = c->scores + ith * c->score_stride;
  int64_t w;

  while ((w = g_atomic_int_add (&c->next_item, 1)) < c->n * c->n_heads)
    attend_segment (c, w / c->n_heads, w % c->n_heads, scores);
}

/* TRUE when @cu is 0 = cu[0] < cu[1] < ... < cu[n_segs] = n; the longest
 * segment in @max_len. */
static gboolean
check_cu_seqlens (const int32_t *cu, int n_segs, int64_t n, int64_t *max_len)
{
  *max_len = 0;
  if (cu == NULL || n_segs < 1 || cu[0] != 0 || cu[n_segs] != n) {
    g_critical ("cpu attention_segments: cu_seqlens must run from 0 to the %" G_GINT64_FORMAT
                " tokens over %d segments", n, n_segs);
    return FALSE;
  }
  for (int s = 0; s < n_segs; s++) {
    if (cu[s + 1] <= cu[s]) {
      g_critical ("cpu attention_segments: cu_seqlens[%d] = %d does not exceed cu_seqlens[%d] = %d",
                  s + 1, cu[s + 1], s, cu[s]);
      return FALSE;
    }
    *max_len = MAX (*max_len, (int64_t) (cu[s + 1] - cu[s]));
  }
  return TRUE;
}

void
omni_cpu_attention_segments (OmniBackend *b, OmniTensor *out, const OmniTensor *q,
                             const OmniTensor *k, const OmniTensor *v, const int32_t *cu_seqlens,
                             int n_segs, float scale)
{
  OmniCpuBackend *cpu = (OmniCpuBackend *) b;
  SegAttnCtx c;
  int64_t max_len, work = 0;
  int nth;

  if (!omni_cpu_check_f32 (out, "attention_segments", "out") ||
      !omni_cpu_check_f32 (q, "attention_segments", "q") ||
      !omni_cpu_check_f32 (k, "attention_segments", "k") ||
      !omni_cpu_check_f32 (v, "attention_segments", "v"))
    return;
  g_return_if_fail (q->n_dims == 3 && k->n_dims == 3 && v->n_dims == 3);
  for (int i = 0; i < 3; i++)
    g_return_if_fail (k->shape[i] == q->shape[i] && v->shape[i] == q->shape[i]);
  c.n = q->shape[0];
  c.n_heads = q->shape[1];
  c.d = q->shape[2];
  g_return_if_fail (out->shape[0] == c.n &&
                    omni_tensor_rows (out) * out->shape[out->n_dims - 1] == c.n * c.n_heads * c.d);
  g_return_if_fail (out->data != q->data && out->data != k->data && out->data != v->data);
  if (!check_cu_seqlens (cu_seqlens, n_segs, c.n, &max_len))
    return;

  for (int s = 0; s < n_segs; s++) {
    int64_t len = cu_seqlens[s + 1] - cu_seqlens[s];
    work += len * len * c.n_heads * c.d * 4;
  }
  c.out = out->data;
  c.q = q->data;
  c.k = k->data;
  c.v = v->data;
  c.cu = cu_seqlens;
  c.n_segs = n_segs;
  c.scale = scale;
  c.score_stride = (max_len + 15) & ~(int64_t) 15;
  c.next_item = 0;
  nth = omni_cpu_threads_for (cpu, work, c.n * c.n_heads);
  c.scores = omni_cpu_scratch_reserve (&cpu->attn, nth * c.score_stride * sizeof (float));
  omni_cpu_pool_run (cpu->pool, nth, attention_segments_task, &c);
}
