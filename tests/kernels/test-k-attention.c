/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* kv_store and attention (prefill and split-K decode) against the cpu
 * backend: three sequences with short and long contexts on shuffled pages,
 * GQA ratios 1, 2, 3, 4 and 8, head sizes that 32 does and does not divide,
 * and splits shorter than a page, equal to it and crossing pages. */
#include <math.h>
#include "ktest.h"

#define N_SEQS 3
#define LAYERS 2
#define LAYER 1

typedef struct {
  int D, n_kv, group, page_size;
} Case;

static void
run_case (const Case *c, GRand *rng)
{
  static const int lens[N_SEQS] = { 70, 5, 300 };
  /* query tokens: page starts and ends, the first and the last keys */
  static const int32_t q_seq[] = { 0, 0, 0, 0, 1, 1, 1, 1, 1, 2, 2, 2, 2 };
  static const int32_t q_pos[] = { 0, 15, 16, 69, 0, 1, 2, 3, 4, 63, 64, 255, 299 };
  OmniBackend *b = kt_cpu ();
  GError *error = NULL;
  int n_heads = c->n_kv * c->group, D = c->D, width = c->n_kv * D;
  int max_pages = (300 + c->page_size - 1) / c->page_size + 1, n_pages = 0;
  int32_t *tables = g_new (int32_t, N_SEQS * max_pages);
  OmniKVCache kv;

  for (int s = 0; s < N_SEQS; s++)
    n_pages += (lens[s] + c->page_size - 1) / c->page_size;
  n_pages += 3;
  /* pages handed out in a shuffled order so no sequence is contiguous */
  int32_t *perm = g_new (int32_t, n_pages);
  for (int i = 0; i < n_pages; i++)
    perm[i] = i;
  for (int i = n_pages - 1; i > 0; i--) {
    int j = g_rand_int_range (rng, 0, i + 1), t = perm[i];
    perm[i] = perm[j];
    perm[j] = t;
  }
  for (int i = 0, next = 0; i < N_SEQS * max_pages; i++)
    tables[i] = (i % max_pages) * c->page_size < lens[i / max_pages] ? perm[next++] : -1;

  /* every token of every sequence into the caches */
  int n_all = lens[0] + lens[1] + lens[2];
  int32_t *pos = g_new (int32_t, n_all), *seq = g_new (int32_t, n_all);
  for (int s = 0, i = 0; s < N_SEQS; s++)
    for (int p = 0; p < lens[s]; p++, i++) {
      pos[i] = p;
      seq[i] = s;
    }
  float *k = kt_rand (rng, (size_t) n_all * width, -1, 1), *v = kt_rand (rng, (size_t) n_all * width, -1, 1);
  g_assert_true (omni_kv_cache_init (b, &kv, LAYERS, c->n_kv, D, c->page_size, n_pages, &error));
  g_assert_no_error (error);
  OmniBatch all = { .n_tokens = n_all, .pos = pos, .seq = seq, .block_tables = tables, .n_seqs = N_SEQS,
                    .max_pages = max_pages };
  OmniTensor kt = kt_tensor (k, OMNI_DTYPE_F32, 3, n_all, c->n_kv, D);
  OmniTensor vt = kt_tensor (v, OMNI_DTYPE_F32, 3, n_all, c->n_kv, D);
  b->ops->kv_store (b, &kv, LAYER, &kt, &vt, &all);

  size_t cache_bytes = (size_t) LAYERS * n_pages * c->page_size * width * sizeof (float);
  OmniKPagedKV dkv = { kt_dev (NULL, cache_bytes), kt_dev (NULL, cache_bytes), LAYER, n_pages, c->page_size,
                       c->n_kv, D, kt_dev (tables, N_SEQS * max_pages * 4), N_SEQS, max_pages };
  KT_CHECK (omni_k_kv_store (&dkv, kt_dev (k, (size_t) n_all * width * 4), kt_dev (v, (size_t) n_all * width * 4),
                             kt_dev (pos, n_all * 4), kt_dev (seq, n_all * 4), n_all, 0), "kv_store");
  void *got_k = kt_host (dkv.k, cache_bytes), *got_v = kt_host (dkv.v, cache_bytes);
  g_assert_cmpmem (got_k, cache_bytes, kv.k.data, cache_bytes);
  g_assert_cmpmem (got_v, cache_bytes, kv.v.data, cache_bytes);

  /* attention of the query tokens */
  int nq = G_N_ELEMENTS (q_pos);
  size_t out_n = (size_t) nq * n_heads * D;
  float *q = kt_rand (rng, out_n, -2, 2), *want = g_new (float, out_n);
  OmniBatch qb = { .n_tokens = nq, .pos = q_pos, .seq = q_seq, .block_tables = tables, .n_seqs = N_SEQS,
                   .max_pages = max_pages };
  OmniTensor qt = kt_tensor (q, OMNI_DTYPE_F32, 3, nq, n_heads, D);
  OmniTensor ot = kt_tensor (want, OMNI_DTYPE_F32, 2, nq, (int64_t) n_heads * D, 0);
  float scale = 1.0f / sqrtf ((float) D);
  b->ops->attention (b, &ot, &qt, &kv, LAYER, &qb, scale);

  float *dq = kt_dev (q, out_n * 4), *dout = kt_dev (NULL, out_n * 4);
  int32_t *dqpos = kt_dev (q_pos, sizeof q_pos), *dqseq = kt_dev (q_seq, sizeof q_seq);
  KT_CHECK (omni_k_attention_prefill (dout, dq, &dkv, dqpos, dqseq, nq, n_heads, scale, 0), "prefill");
  float *got = kt_host (dout, out_n * 4);
  kt_assert_close (got, want, out_n, 2e-6f, 2e-5f, "attention prefill");
  g_free (got);

  const int splits[] = { 7, c->page_size, 64, 0 };
  for (guint si = 0; si < G_N_ELEMENTS (splits); si++) {
    int split = splits[si] ? splits[si] : OMNI_K_ATTN_SPLIT_DEFAULT;
    float *ws = kt_dev (NULL, omni_k_attention_decode_workspace (nq, n_heads, D, 300, split) * 4);
    KT_CHECK (cudaMemset (dout, 0xff, out_n * 4), "memset");
    KT_CHECK (omni_k_attention_decode (dout, dq, &dkv, dqpos, dqseq, nq, n_heads, scale, 300, splits[si], ws, 0),
              "decode");
    got = kt_host (dout, out_n * 4);
    kt_assert_close (got, want, out_n, 2e-6f, 2e-5f, "attention decode");
    g_free (got);
  }

  g_free (got_k);
  g_free (got_v);
  g_free (q);
  g_free (want);
  g_free (k);
  g_free (v);
  g_free (pos);
  g_free (seq);
  g_free (perm);
  g_free (tables);
  omni_kv_cache_clear (b, &kv);
  kt_free_all ();
}

static void
test_attention (gconstpointer data)
{
  const Case *c = data;
  GRand *rng = g_rand_new_with_seed ((guint32) (c->D * 100 + c->group * 10 + c->n_kv));
  run_case (c, rng);
  g_rand_free (rng);
}

int
main (int argc, char **argv)
{
  static const Case cases[] = {
    { 64, 2, 1, 16 },    /* MHA */
    { 128, 2, 2, 16 },
    { 128, 1, 4, 32 },
    { 80, 2, 3, 16 },    /* D not a multiple of 32, odd group */
    { 256, 1, 8, 16 },   /* 16-key tiles */
    { 32, 4, 16, 8 },    /* two blocks per kv head */
  };

  g_test_init (&argc, &argv, NULL);
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    char *name = g_strdup_printf ("/kernels/attention/D%d-kv%d-group%d-page%d", cases[i].D, cases[i].n_kv,
                                  cases[i].group, cases[i].page_size);
    g_test_add_data_func (name, &cases[i], test_attention);
    g_free (name);
  }
  return g_test_run ();
}
