/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* cpu attention (tiles of queries per kv head, online softmax; decode
 * tokens split over the keys and merged) against a double-precision
 * softmax reference: GQA groups 1..8, head dims that are and are not
 * multiples of the vector width, prefills longer than a tile, decode tokens
 * of several sequences, scattered pages. Every ISA the CPU runs and 1 or 2
 * threads must give the same bits (the key splits depend on the context
 * alone), and a prefill's rows (dots a vector of rows at a time) the same
 * bits as the same tokens decoded one by one (dots a row at a time). */
#include <math.h>
#include "backend/backend.h"
#include "cpu-test-util.h"
#include "omnicore.h"

/* Error bound relative to sum_t p_t |v_t| (the weighted sum's magnitude). */
#define TOL 1e-5
#define PAGE 8
#define MAX_PAGES 20      /* 160 positions per sequence */
#define N_SEQS 4

static GRand *rng;

static float
rnd (void)
{
  return (float) g_rand_double_range (rng, -1.0, 1.0);
}

typedef struct {
  int n_heads, n_kv, d;
} Case;

/* One batch: what each sequence already holds, then this step's tokens. */
typedef struct {
  int hist_len[N_SEQS];
  int n;
  int32_t pos[64], seq[64];
  int32_t tables[N_SEQS * MAX_PAGES];
} Step;

/* Pages scattered over the cache. */
static void
scatter_pages (Step *s)
{
  for (int i = 0; i < N_SEQS * MAX_PAGES; i++)
    s->tables[i] = (i * 11 + 5) % (N_SEQS * MAX_PAGES);
}

/* A mixed batch: prefills, one long decode token, a split tile. */
static void
make_step (Step *s)
{
  int n = 0;

  memset (s, 0, sizeof *s);
  /* seq 0: a 40-token prefill from 0 (tiles of 16, 16, 8 or of 4 for group 8) */
  for (int t = 0; t < 40; t++, n++) {
    s->pos[n] = t;
    s->seq[n] = 0;
  }
  /* seq 1: one decode token at 131 (several key blocks, many pages) */
  s->hist_len[1] = 131;
  s->pos[n] = 131;
  s->seq[n++] = 1;
  /* seq 2: a prefill continuing at 70..74 */
  s->hist_len[2] = 70;
  for (int t = 70; t < 75; t++, n++) {
    s->pos[n] = t;
    s->seq[n] = 2;
  }
  /* seq 3: two tokens of one sequence at non-consecutive positions (two tiles) */
  s->hist_len[3] = 13;
  s->pos[n] = 10;
  s->seq[n++] = 3;
  s->pos[n] = 12;
  s->seq[n++] = 3;
  s->n = n;
  scatter_pages (s);
}

/* A decode step of every sequence, each over 2 to 3 key splits (enough
 * splits that each covers all kv heads). */
static void
make_decode_step (Step *s)
{
  const int32_t pos[N_SEQS] = { 159, 150, 128, 100 };

  memset (s, 0, sizeof *s);
  for (int i = 0; i < N_SEQS; i++) {
    s->hist_len[i] = pos[i];
    s->pos[i] = pos[i];
    s->seq[i] = i;
  }
  s->n = N_SEQS;
  scatter_pages (s);
}

/* Runs the step on @b over K/V @k, @v ([N_SEQS][MAX_PAGES * PAGE][n_kv * d])
 * and returns the output (g_free it). */
static float *
run (OmniBackend *b, const Case *c, const Step *s, const float *k, const float *v, const float *q)
{
  const int layer = 1, n_pages = N_SEQS * MAX_PAGES;
  int64_t w = (int64_t) c->n_kv * c->d;
  OmniKVCache kv;
  GError *error = NULL;
  OmniTensor tq, out, tk, tv;
  int64_t sq[3] = { s->n, c->n_heads, c->d }, so[2] = { s->n, (int64_t) c->n_heads * c->d };
  int64_t sk[3] = { 1, c->n_kv, c->d };
  float *res;

  g_assert_true (omni_kv_cache_init (b, &kv, 2, c->n_kv, c->d, PAGE, n_pages, &error));
  g_assert_no_error (error);
  g_assert_true (b->ops->tensor_alloc (b, &tk, OMNI_DTYPE_F32, 3, sk, NULL));
  g_assert_true (b->ops->tensor_alloc (b, &tv, OMNI_DTYPE_F32, 3, sk, NULL));
  /* every position the step reads, one token at a time */
  for (int sid = 0; sid < N_SEQS; sid++) {
    int len = s->hist_len[sid];

    for (int i = 0; i < s->n; i++)
      if (s->seq[i] == sid)
        len = MAX (len, s->pos[i] + 1);
    for (int32_t p = 0; p < len; p++) {
      int32_t sq1 = sid;
      OmniBatch one = { .n_tokens = 1, .pos = &p, .seq = &sq1, .block_tables = s->tables,
                        .n_seqs = N_SEQS, .max_pages = MAX_PAGES };

      memcpy (tk.data, k + ((int64_t) sid * MAX_PAGES * PAGE + p) * w, w * sizeof (float));
      memcpy (tv.data, v + ((int64_t) sid * MAX_PAGES * PAGE + p) * w, w * sizeof (float));
      b->ops->kv_store (b, &kv, layer, &tk, &tv, &one);
    }
  }
  g_assert_true (b->ops->tensor_alloc (b, &tq, OMNI_DTYPE_F32, 3, sq, NULL));
  g_assert_true (b->ops->tensor_alloc (b, &out, OMNI_DTYPE_F32, 2, so, NULL));
  memcpy (tq.data, q, tq.n_bytes);
  {
    OmniBatch batch = { .n_tokens = s->n, .pos = s->pos, .seq = s->seq, .block_tables = s->tables,
                        .n_seqs = N_SEQS, .max_pages = MAX_PAGES };
    b->ops->attention (b, &out, &tq, &kv, layer, &batch, 1.0f / sqrtf ((float) c->d));
  }
  res = g_memdup2 (out.data, out.n_bytes);
  b->ops->tensor_free (b, &tq);
  b->ops->tensor_free (b, &out);
  b->ops->tensor_free (b, &tk);
  b->ops->tensor_free (b, &tv);
  omni_kv_cache_clear (b, &kv);
  return res;
}

static void
check_reference (const Case *c, const Step *s, const float *k, const float *v, const float *q,
                 const float *got)
{
  int64_t w = (int64_t) c->n_kv * c->d, group = c->n_heads / c->n_kv;
  double *p = g_new (double, MAX_PAGES * PAGE);

  for (int i = 0; i < s->n; i++) {
    for (int h = 0; h < c->n_heads; h++) {
      const float *qi = q + ((int64_t) i * c->n_heads + h) * c->d;
      const float *kb = k + (int64_t) s->seq[i] * MAX_PAGES * PAGE * w + (h / group) * c->d;
      const float *vb = v + (int64_t) s->seq[i] * MAX_PAGES * PAGE * w + (h / group) * c->d;
      double max = -INFINITY, sum = 0;

      for (int t = 0; t <= s->pos[i]; t++) {
        double dot = 0;
        for (int j = 0; j < c->d; j++)
          dot += (double) qi[j] * kb[t * w + j];
        p[t] = dot * (double) (1.0f / sqrtf ((float) c->d));
        max = MAX (max, p[t]);
      }
      for (int t = 0; t <= s->pos[i]; t++)
        sum += p[t] = exp (p[t] - max);
      for (int j = 0; j < c->d; j++) {
        double o = 0, mag = 0;
        float g = got[((int64_t) i * c->n_heads + h) * c->d + j];

        for (int t = 0; t <= s->pos[i]; t++) {
          o += p[t] / sum * vb[t * w + j];
          mag += p[t] / sum * fabs (vb[t * w + j]);
        }
        if (!(fabs (g - o) <= TOL * mag))
          g_error ("attention %dq/%dkv x%d: token %d head %d dim %d: got %.9g, reference %.9g",
                   c->n_heads, c->n_kv, c->d, i, h, j, g, o);
      }
    }
  }
  g_free (p);
}

static const Case cases[] = { { 16, 8, 128 }, { 8, 1, 64 }, { 32, 4, 128 }, { 6, 2, 18 }, { 4, 4, 33 },
                              { 2, 1, 7 } };

/* Random K, V (for every cache position) and q (for @s's tokens) of @c. */
static void
make_inputs (const Case *c, const Step *s, float **k, float **v, float **q)
{
  int64_t w = (int64_t) c->n_kv * c->d, nkv = (int64_t) N_SEQS * MAX_PAGES * PAGE * w;

  *k = g_new (float, nkv);
  *v = g_new (float, nkv);
  *q = g_new (float, (int64_t) s->n * c->n_heads * c->d);
  for (int64_t i = 0; i < nkv; i++) {
    (*k)[i] = rnd () * 2.0f;   /* peaked softmaxes as well as flat ones */
    (*v)[i] = rnd ();
  }
  for (int64_t i = 0; i < (int64_t) s->n * c->n_heads * c->d; i++)
    (*q)[i] = rnd ();
}

/* Every case on @s: near the reference, the same bits on every ISA and
 * thread count. */
static void
check_step (const Step *s)
{
  for (guint ci = 0; ci < G_N_ELEMENTS (cases); ci++) {
    const Case *c = &cases[ci];
    float *k, *v, *q, *first = NULL;

    make_inputs (c, s, &k, &v, &q);
    for (int isa = 0; isa < OMNI_CPU_ISA_COUNT; isa++) {
      if (!omni_cpu_isa_supported (isa))
        continue;
      for (int nth = 1; nth <= 2; nth++) {
        OmniBackend *b = cpu_test_backend (isa, nth);
        float *got = run (b, c, s, k, v, q);

        if (first == NULL) {
          check_reference (c, s, k, v, q, got);
          first = got;
        } else {
          if (memcmp (first, got, (size_t) s->n * c->n_heads * c->d * sizeof (float)) != 0)
            g_error ("attention %dq/%dkv x%d: %s with %d threads differs from portable with 1",
                     c->n_heads, c->n_kv, c->d, omni_cpu_isa_name (isa), nth);
          g_free (got);
        }
        omni_backend_close (b);
      }
    }
    g_free (first);
    g_free (k);
    g_free (v);
    g_free (q);
  }
}

static void
test_attention (void)
{
  Step s;

  make_step (&s);
  check_step (&s);
}

static void
test_attention_decode (void)
{
  Step s;

  make_decode_step (&s);
  check_step (&s);
}

/* The 40-token prefill of seq 0 and the same tokens one per step (contexts
 * of one key split) give the same bits. */
static void
test_attention_prefill_decode (void)
{
  Step s;

  make_step (&s);
  s.n = 40;
  for (guint ci = 0; ci < G_N_ELEMENTS (cases); ci++) {
    const Case *c = &cases[ci];
    int64_t row = (int64_t) c->n_heads * c->d;
    float *k, *v, *q, *all;

    make_inputs (c, &s, &k, &v, &q);
    for (int isa = 0; isa < OMNI_CPU_ISA_COUNT; isa++) {
      OmniBackend *b;

      if (!omni_cpu_isa_supported (isa))
        continue;
      b = cpu_test_backend (isa, 2);
      all = run (b, c, &s, k, v, q);
      for (int i = 0; i < s.n; i++) {
        Step one = s;
        float *got;

        one.n = 1;
        one.pos[0] = s.pos[i];
        one.seq[0] = s.seq[i];
        got = run (b, c, &one, k, v, q + i * row);
        if (memcmp (got, all + i * row, row * sizeof (float)) != 0)
          g_error ("attention %dq/%dkv x%d (%s): token %d decoded alone differs from its prefill",
                   c->n_heads, c->n_kv, c->d, omni_cpu_isa_name (isa), i);
        g_free (got);
      }
      g_free (all);
      omni_backend_close (b);
    }
    g_free (k);
    g_free (v);
    g_free (q);
  }
}

/* A single key: the output is that key's value row exactly. */
static void
test_attention_one_key (void)
{
  Case c = { 4, 2, 40 };
  Step s;
  int64_t w = (int64_t) c.n_kv * c.d, nkv = (int64_t) N_SEQS * MAX_PAGES * PAGE * w;
  float *k = g_new0 (float, nkv), *v = g_new0 (float, nkv), *q = g_new (float, 64 * c.n_heads * c.d);

  memset (&s, 0, sizeof s);
  s.n = 1;
  s.pos[0] = 0;
  s.seq[0] = 2;
  for (int i = 0; i < N_SEQS * MAX_PAGES; i++)
    s.tables[i] = N_SEQS * MAX_PAGES - 1 - i;
  for (int64_t i = 0; i < nkv; i++) {
    k[i] = rnd ();
    v[i] = rnd ();
  }
  for (int64_t i = 0; i < (int64_t) c.n_heads * c.d; i++)
    q[i] = rnd () * 50.0f;
  for (int isa = 0; isa < OMNI_CPU_ISA_COUNT; isa++) {
    if (!omni_cpu_isa_supported (isa))
      continue;
    OmniBackend *b = cpu_test_backend (isa, 2);
    float *got = run (b, &c, &s, k, v, q);

    for (int h = 0; h < c.n_heads; h++)
      g_assert_cmpmem (got + h * c.d, c.d * sizeof (float),
                       v + (int64_t) 2 * MAX_PAGES * PAGE * w + (h / 2) * c.d, c.d * sizeof (float));
    g_free (got);
    omni_backend_close (b);
  }
  g_free (k);
  g_free (v);
  g_free (q);
}

int
main (int argc, char **argv)
{
  int ret;

  g_test_init (&argc, &argv, NULL);
  rng = g_rand_new_with_seed (20261125);
  g_test_add_func ("/backend/cpu-ops/attention", test_attention);
  g_test_add_func ("/backend/cpu-ops/attention-decode", test_attention_decode);
  g_test_add_func ("/backend/cpu-ops/attention-prefill-decode", test_attention_prefill_decode);
  g_test_add_func ("/backend/cpu-ops/attention-one-key", test_attention_one_key);
  ret = g_test_run ();
  g_rand_free (rng);
  return ret;
}
