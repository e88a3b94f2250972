/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <math.h>
#include "runtime/sampler.h"

struct _OmniSampler {
  OmniSamplerParams p;
  int vocab;
  guint64 rng[4];
  guint8 *in_any;     /* [vocab] seen in prompt or output */
  guint8 *in_out;     /* [vocab] seen in output */
  int32_t *any_ids;   /* distinct ids seen anywhere, n_any of them */
  int32_t *out_ids;   /* distinct ids seen in the output, n_out of them */
  int n_any, n_out;
  int32_t *heap;      /* [vocab] max-heap of ids by logit */
};

static inline guint64
rotl (guint64 x, int k)
{
  return (x << k) | (x >> (64 - k));
}

/* splitmix64 (Vigna), used only to expand the seed into xoshiro's state. */
static guint64
splitmix64 (guint64 *x)
{
  guint64 z = (*x += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

/* xoshiro256** 1.0 (Blackman & Vigna). */
static guint64
xoshiro_next (guint64 *s)
{
  guint64 result = rotl (s[1] * 5, 7) * 9;
  guint64 t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl (s[3], 45);
  return result;
}

double
omni_sampler_uniform (OmniSampler *s)
{
  return (double) (xoshiro_next (s->rng) >> 11) * 0x1.0p-53;
}

OmniSampler *
omni_sampler_new (int vocab, const OmniSamplerParams *params)
{
  OmniSampler *s;

  g_return_val_if_fail (vocab > 0, NULL);
  s = g_new0 (OmniSampler, 1);
  s->p = *params;
  s->vocab = vocab;
  s->in_any = g_new0 (guint8, vocab);
  s->in_out = g_new0 (guint8, vocab);
  s->any_ids = g_new (int32_t, vocab);
  s->out_ids = g_new (int32_t, vocab);
  s->heap = g_new (int32_t, vocab);
  omni_sampler_reset (s);
  return s;
}

void
omni_sampler_free (OmniSampler *s)
{
  if (!s)
    return;
  g_free (s->in_any);
  g_free (s->in_out);
  g_free (s->any_ids);
  g_free (s->out_ids);
  g_free (s->heap);
  g_free (s);
}

void
omni_sampler_reset (OmniSampler *s)
{
  guint64 x = s->p.seed;

  for (int i = 0; i < s->n_any; i++)
    s->in_any[s->any_ids[i]] = 0;
  for (int i = 0; i < s->n_out; i++)
    s->in_out[s->out_ids[i]] = 0;
  s->n_any = s->n_out = 0;
  for (int i = 0; i < 4; i++)
    s->rng[i] = splitmix64 (&x);
}

static void
mark_any (OmniSampler *s, int32_t id)
{
  if (id < 0 || id >= s->vocab || s->in_any[id])
    return;
  s->in_any[id] = 1;
  s->any_ids[s->n_any++] = id;
}

void
omni_sampler_add_prompt (OmniSampler *s, const int32_t *ids, gsize n)
{
  for (gsize i = 0; i < n; i++)
    mark_any (s, ids[i]);
}

void
omni_sampler_add_output (OmniSampler *s, int32_t id)
{
  mark_any (s, id);
  if (id < 0 || id >= s->vocab || s->in_out[id])
    return;
  s->in_out[id] = 1;
  s->out_ids[s->n_out++] = id;
}

static void
apply_penalties (OmniSampler *s, float *logits)
{
  if (s->p.repetition_penalty != 1.0) {
    float rp = (float) s->p.repetition_penalty;
    for (int i = 0; i < s->n_any; i++) {
      float *l = &logits[s->any_ids[i]];
      *l = *l > 0 ? *l / rp : *l * rp;
    }
  }
  if (s->p.presence_penalty != 0.0) {
    for (int i = 0; i < s->n_out; i++)
      logits[s->out_ids[i]] -= (float) s->p.presence_penalty;
  }
}

static int32_t
argmax (const float *x, int n)
{
  int32_t best = 0;
  for (int i = 1; i < n; i++)
    if (x[i] > x[best])
      best = i;
  return best;
}

/* Restores the max-heap property below @i (heap of ids keyed by logit). */
static void
sift_down (int32_t *h, int n, int i, const float *key)
{
  for (;;) {
    int l = 2 * i + 1, r = l + 1, m = i;
    if (l < n && key[h[l]] > key[h[m]])
      m = l;
    if (r < n && key[h[r]] > key[h[m]])
      m = r;
    if (m == i)
      return;
    int32_t t = h[i];
    h[i] = h[m];
    h[m] = t;
    i = m;
  }
}

/* Pops the largest id into h[n-1] and shrinks the heap. */
static int32_t
heap_pop (int32_t *h, int *n, const float *key)
{
  int32_t top = h[0];
  h[0] = h[--*n];
  h[*n] = top;
  sift_down (h, *n, 0, key);
  return top;
}

/* Draws from the candidates @ids[0..n) with weights exp(logit - max). */
static int32_t
draw (OmniSampler *s, const float *logits, const int32_t *ids, int n, float max, double z)
{
  double u = omni_sampler_uniform (s) * z, c = 0;
  for (int i = 0; i < n; i++) {
    c += exp ((double) logits[ids[i]] - max);
    if (u < c)
      return ids[i];
  }
  return ids[n - 1];
}

/* Top-k and/or top-p over a max-heap: O(V + m log V) for m kept candidates,
 * never a full sort of the vocabulary. Popped ids collect at the end of the
 * heap array, the j-th largest at h[v-1-j]. */
static int32_t
sample_filtered (OmniSampler *s, const float *logits)
{
  int v = s->vocab, n = v, m;
  int32_t *h = s->heap;
  double z = 0, cum = 0;

  for (int i = 0; i < v; i++)
    h[i] = i;
  for (int i = v / 2 - 1; i >= 0; i--)
    sift_down (h, v, i, logits);
  float max = logits[h[0]];
  if (s->p.top_k > 0 && s->p.top_k < v) {
    m = s->p.top_k;
    for (int j = 0; j < m; j++)
      z += exp ((double) logits[heap_pop (h, &n, logits)] - max);
    if (s->p.top_p < 1.0) {
      /* top-p renormalises over the top-k survivors (HF applies top-k first) */
      double target = s->p.top_p * z;
      int j = 0;
      do
        cum += exp ((double) logits[h[v - 1 - j++]] - max);
      while (cum < target && j < m);
      m = j;
      z = cum;
    }
  } else {
    /* smallest prefix whose mass reaches top_p, at least one id */
    for (int i = 0; i < v; i++)
      z += exp ((double) logits[i] - max);
    double target = s->p.top_p * z;
    m = 0;
    do {
      cum += exp ((double) logits[heap_pop (h, &n, logits)] - max);
      m++;
    } while (cum < target && n > 0);
    z = cum;
  }
  return draw (s, logits, h + v - m, m, max, z);
}

int32_t
omni_sampler_sample (OmniSampler *s, float *logits)
{
  apply_penalties (s, logits);
  if (s->p.temperature <= 0)
    return argmax (logits, s->vocab);
  float inv_t = (float) (1.0 / s->p.temperature);
  for (int i = 0; i < s->vocab; i++)
    logits[i] *= inv_t;
  if ((s->p.top_k > 0 && s->p.top_k < s->vocab) || s->p.top_p < 1.0)
    return sample_filtered (s, logits);
  float max = logits[argmax (logits, s->vocab)];
  double z = 0;
  for (int i = 0; i < s->vocab; i++)
    z += exp ((double) logits[i] - max);
  double u = omni_sampler_uniform (s) * z, c = 0;
  for (int i = 0; i < s->vocab; i++) {
    c += exp ((double) logits[i] - max);
    if (u < c)
      return i;
  }
  return s->vocab - 1;
}
