/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The CUDA backend's decode loop on the emulator: a step captured as a graph
 * and replayed gives the same logits, bit for bit, as the same ops run
 * directly (for the decoder's ops and the encoder's); a replay whose ops
 * differ from the capture is refused; and no
 * device memory is allocated once a shape has run (neither by the graph path
 * nor by the Qwen3 decoder's own loop). */
#include <math.h>
#include "cuda-test-util.h"
#include "nn/qwen3.h"
#include "omnicore.h"

#define H 24
#define NQ 4
#define NKV 2
#define D 8
#define E 5
#define K 2
#define I 10
#define VOCAB 53
#define PAGE 4
#define MAX_PAGES 12
#define N_SEQS 2

/* A one-layer decoder made of every op a decode step uses. */
typedef struct {
  OmniBackend *b;
  OmniTensor embed, norm, wq, wk, wv, bq, wo, qn, router, head;
  OmniTensor eg[E], eu[E], ed[E];
  OmniTensor x, h, q, k, v, attn, o, rl, ids, w, rows, logits;
  OmniKVCache kv;
  OmniRope rope;
  float inv_freq[D / 2];
  int32_t tables[N_SEQS * MAX_PAGES];
} Net;

static OmniTensor
weight (OmniBackend *b, GRand *rng, OmniDType dt, int64_t d0, int64_t d1)
{
  int64_t shape[2] = { d0, d1 }, n = d0 * (d1 ? d1 : 1);
  g_autofree float *f = ct_random (rng, n);
  g_autofree void *bits = ct_to_dtype (f, n, dt);

  return ct_tensor (b, dt, d1 ? 2 : 1, shape, bits);
}

static OmniTensor
act (OmniBackend *b, OmniDType dt, int64_t rows, int64_t cols)
{
  int64_t shape[2] = { rows, cols };

  return ct_tensor (b, dt, 2, shape, NULL);
}

static void
net_init (Net *n, OmniBackend *b)
{
  GRand *rng = g_rand_new_with_seed (11);
  GError *error = NULL;
  const int T = 8;

  memset (n, 0, sizeof *n);
  n->b = b;
  n->embed = weight (b, rng, OMNI_DTYPE_BF16, VOCAB, H);
  n->norm = weight (b, rng, OMNI_DTYPE_F32, H, 0);
  n->wq = weight (b, rng, OMNI_DTYPE_BF16, NQ * D, H);
  n->bq = weight (b, rng, OMNI_DTYPE_BF16, NQ * D, 0);
  n->wk = weight (b, rng, OMNI_DTYPE_BF16, NKV * D, H);
  n->wv = weight (b, rng, OMNI_DTYPE_F32, NKV * D, H);
  n->wo = weight (b, rng, OMNI_DTYPE_F16, H, NQ * D);
  n->qn = weight (b, rng, OMNI_DTYPE_BF16, D, 0);
  n->router = weight (b, rng, OMNI_DTYPE_F32, E, H);
  n->head = weight (b, rng, OMNI_DTYPE_BF16, VOCAB, H);
  for (int e = 0; e < E; e++) {
    n->eg[e] = weight (b, rng, OMNI_DTYPE_BF16, I, H);
    n->eu[e] = weight (b, rng, OMNI_DTYPE_BF16, I, H);
    n->ed[e] = weight (b, rng, OMNI_DTYPE_BF16, H, I);
  }
  n->x = act (b, OMNI_DTYPE_F32, T, H);
  n->h = act (b, OMNI_DTYPE_F32, T, H);
  n->q = act (b, OMNI_DTYPE_F32, T, NQ * D);
  n->k = act (b, OMNI_DTYPE_F32, T, NKV * D);
  n->v = act (b, OMNI_DTYPE_F32, T, NKV * D);
  n->attn = act (b, OMNI_DTYPE_F32, T, NQ * D);
  n->o = act (b, OMNI_DTYPE_F32, T, H);
  n->rl = act (b, OMNI_DTYPE_F32, T, E);
  n->ids = act (b, OMNI_DTYPE_I32, T, K);
  n->w = act (b, OMNI_DTYPE_F32, T, K);
  n->rows = act (b, OMNI_DTYPE_F32, N_SEQS, H);
  n->logits = act (b, OMNI_DTYPE_F32, N_SEQS, VOCAB);
  g_assert_true (omni_kv_cache_init (b, &n->kv, 1, NKV, D, PAGE, N_SEQS * MAX_PAGES, &error));
  g_assert_no_error (error);
  for (int i = 0; i < D / 2; i++)
    n->inv_freq[i] = powf (10000.0f, -2.0f * i / D);
  n->rope = (OmniRope) { .rot_dim = D, .inv_freq = n->inv_freq, .attn_scale = 1.0f };
  /* sequence s owns pages s, s + 2, s + 4 ... */
  for (int i = 0; i < N_SEQS * MAX_PAGES; i++)
    n->tables[i] = (i % MAX_PAGES) * N_SEQS + i / MAX_PAGES;
  g_rand_free (rng);
}

static void
net_clear (Net *n)
{
  OmniBackend *b = n->b;
  OmniTensor *all[] = { &n->embed, &n->norm, &n->wq, &n->wk, &n->wv, &n->bq, &n->wo, &n->qn, &n->router,
                        &n->head, &n->x, &n->h, &n->q, &n->k, &n->v, &n->attn, &n->o, &n->rl, &n->ids,
                        &n->w, &n->rows, &n->logits };

  for (guint i = 0; i < G_N_ELEMENTS (all); i++)
    b->ops->tensor_free (b, all[i]);
  for (int e = 0; e < E; e++) {
    b->ops->tensor_free (b, &n->eg[e]);
    b->ops->tensor_free (b, &n->eu[e]);
    b->ops->tensor_free (b, &n->ed[e]);
  }
  omni_kv_cache_clear (b, &n->kv);
}

static OmniTensor
view (const OmniTensor *t, int64_t rows, int64_t heads, int64_t cols)
{
  OmniTensor v = *t;

  v.owned = FALSE;
  v.n_dims = heads ? 3 : 2;
  v.shape[0] = rows;
  v.shape[1] = heads ? heads : cols;
  v.shape[2] = heads ? cols : 0;
  v.n_bytes = (size_t) rows * (heads ? heads : 1) * cols * omni_dtype_size (t->dtype);
  return v;
}

/* One forward step of @nt tokens; through step_begin/step_end when @graph.
 * @skip_moe changes the op sequence (for the mismatch test). Returns the
 * logits of each sequence's last token ([N_SEQS, VOCAB]). */
static void
net_step (Net *n, const int32_t *tokens, const int32_t *pos, const int32_t *seq, int nt, const int32_t *last,
          gboolean graph, gboolean skip_moe, float *logits)
{
  OmniBackend *b = n->b;
  const OmniBackendOps *ops = b->ops;
  OmniBatch batch = { .n_tokens = nt, .pos = pos, .seq = seq, .block_tables = n->tables,
                      .n_seqs = N_SEQS, .max_pages = MAX_PAGES };
  OmniTensor x = view (&n->x, nt, 0, H), h = view (&n->h, nt, 0, H), o = view (&n->o, nt, 0, H);
  OmniTensor q = view (&n->q, nt, 0, NQ * D), k = view (&n->k, nt, 0, NKV * D), v = view (&n->v, nt, 0, NKV * D);
  OmniTensor qh = view (&n->q, nt * NQ, 0, D), q3 = view (&n->q, nt, NQ, D), k3 = view (&n->k, nt, NKV, D);
  OmniTensor v3 = view (&n->v, nt, NKV, D), at = view (&n->attn, nt, 0, NQ * D);
  OmniTensor rl = view (&n->rl, nt, 0, E), ids = view (&n->ids, nt, 0, K), w = view (&n->w, nt, 0, K);

  if (graph)
    ops->step_begin (b, (guint64) nt);
  ops->embed (b, &x, &n->embed, tokens, nt);
  ops->rmsnorm (b, &h, &x, &n->norm, 1e-6f);
  ops->matmul (b, &q, &h, &n->wq, &n->bq);
  ops->matmul (b, &k, &h, &n->wk, NULL);
  ops->matmul (b, &v, &h, &n->wv, NULL);
  ops->rmsnorm (b, &qh, &qh, &n->qn, 1e-6f);
  ops->rope (b, &q3, pos, &n->rope);
  ops->rope (b, &k3, pos, &n->rope);
  ops->kv_store (b, &n->kv, 0, &k3, &v3, &batch);
  ops->attention (b, &at, &q3, &n->kv, 0, &batch, 0.35f);
  ops->matmul (b, &o, &at, &n->wo, NULL);
  ops->add (b, &x, &x, &o);
  ops->rmsnorm (b, &h, &x, &n->norm, 1e-6f);
  if (!skip_moe) {
    ops->matmul (b, &rl, &h, &n->router, NULL);
    ops->moe_route (b, &ids, &w, &rl, K, TRUE);
    ops->moe_experts (b, &o, &h, &ids, &w, n->eg, n->eu, n->ed, E);
    ops->add (b, &x, &x, &o);
  }
  ops->get_rows (b, &n->rows, &x, last, N_SEQS);
  ops->matmul (b, &n->logits, &n->rows, &n->head, NULL);
  if (graph)
    ops->step_end (b);
  ops->download (b, &n->logits, logits, N_SEQS * VOCAB * sizeof (float));
}

/* Prompts of 5 and 3 tokens in one batch, run directly. */
static void
net_prefill (Net *n, float *logits)
{
  const int32_t tokens[8] = { 3, 17, 52, 0, 9, 41, 8, 30 }, pos[8] = { 0, 1, 2, 3, 4, 0, 1, 2 };
  const int32_t seq[8] = { 0, 0, 0, 0, 0, 1, 1, 1 }, last[2] = { 4, 7 };

  net_step (n, tokens, pos, seq, 8, last, FALSE, FALSE, logits);
}

static int32_t
argmax (const float *x)
{
  int32_t best = 0;
  for (int i = 1; i < VOCAB; i++)
    if (x[i] > x[best])
      best = i;
  return best;
}

static void
test_graph_replay (void)
{
  OmniBackend *ba = ct_open ("cuda-emu"), *bb = ct_open ("cuda-emu");
  Net a, g;
  float la[N_SEQS * VOCAB], lg[N_SEQS * VOCAB], prev[N_SEQS * VOCAB];
  int32_t tokens[N_SEQS], pos[N_SEQS] = { 5, 3 }, seq[N_SEQS] = { 0, 1 }, last[N_SEQS] = { 0, 1 };
  OmniCudaStats s0, s1;
  const int n_steps = 12;

  net_init (&a, ba);
  net_init (&g, bb);
  net_prefill (&a, la);
  net_prefill (&g, lg);
  g_assert_cmpmem (la, sizeof la, lg, sizeof lg);
  for (int step = 0; step < n_steps; step++) {
    for (int s = 0; s < N_SEQS; s++)
      tokens[s] = argmax (la + s * VOCAB);
    memcpy (prev, lg, sizeof lg);
    net_step (&a, tokens, pos, seq, N_SEQS, last, FALSE, FALSE, la);
    net_step (&g, tokens, pos, seq, N_SEQS, last, TRUE, FALSE, lg);
    if (memcmp (la, lg, sizeof la) != 0)
      g_error ("decode step %d: the graph replay differs from direct execution", step);
    /* a replay that ran nothing would leave the last logits in place */
    g_assert_true (memcmp (prev, lg, sizeof lg) != 0);
    if (step == 1)
      ct_stats (bb, &s0);
    for (int s = 0; s < N_SEQS; s++)
      pos[s]++;
  }
  ct_stats (bb, &s1);
  g_test_message ("graphs: %" G_GUINT64_FORMAT " captured, %" G_GUINT64_FORMAT " replayed",
                  s1.graphs_captured, s1.graphs_replayed);
  g_assert_cmpuint (s1.graphs_captured + s1.graphs_replayed, ==, n_steps);
  g_assert_cmpuint (s1.graphs_replayed, >=, n_steps - 2);
  /* after the first steps of the shape: no device allocation at all */
  g_assert_cmpuint (s1.cuda_mallocs, ==, s0.cuda_mallocs);
  g_assert_cmpuint (s1.pool_allocs, ==, s0.pool_allocs);
  net_clear (&a);
  net_clear (&g);
  omni_backend_close (ba);
  omni_backend_close (bb);
}

/* A replay whose ops are not the captured ones is refused (a critical). */
static void
test_graph_mismatch (void)
{
  if (g_test_subprocess ()) {
    OmniBackend *b = ct_open ("cuda-emu");
    Net n;
    float l[N_SEQS * VOCAB];
    const int32_t tokens[N_SEQS] = { 1, 2 }, seq[N_SEQS] = { 0, 1 }, last[N_SEQS] = { 0, 1 };
    int32_t pos[N_SEQS] = { 0, 0 };

    net_init (&n, b);
    for (int i = 0; i < 3; i++, pos[0]++, pos[1]++)
      net_step (&n, tokens, pos, seq, N_SEQS, last, TRUE, FALSE, l);
    net_step (&n, tokens, pos, seq, N_SEQS, last, TRUE, TRUE, l);
    return;
  }
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_failed ();
  g_test_trap_assert_stderr ("*is not the op the step captured*");
}

/* ---- the encoder ops under graph capture ---- */

#define EN 12       /* tokens */
#define EH 2        /* heads */
#define ED 8        /* head_dim */
#define ESEGS 3

typedef struct {
  OmniBackend *b;
  OmniTensor x, w, bias, y, att, perm, dst;
  float inv_freq[ED / 2];
  OmniRope rope;
} Enc;

static void
enc_init (Enc *e, OmniBackend *b)
{
  GRand *rng = g_rand_new_with_seed (23);
  int64_t sx[2] = { EN, EH * ED }, sp[3] = { EH, EN, ED }, sd[2] = { 2 * EN, EH * ED };

  e->b = b;
  e->w = weight (b, rng, OMNI_DTYPE_BF16, EH * ED, 0);
  e->bias = weight (b, rng, OMNI_DTYPE_F32, EH * ED, 0);
  g_autofree float *x = ct_random (rng, EN * EH * ED);
  e->x = ct_tensor (b, OMNI_DTYPE_F32, 2, sx, x);
  e->y = act (b, OMNI_DTYPE_F32, EN, EH * ED);
  e->att = act (b, OMNI_DTYPE_F32, EN, EH * ED);
  e->perm = ct_tensor (b, OMNI_DTYPE_F32, 3, sp, NULL);
  e->dst = ct_tensor (b, OMNI_DTYPE_F32, 2, sd, NULL);
  for (int i = 0; i < ED / 2; i++)
    e->inv_freq[i] = powf (10000.0f, -2.0f * i / ED);
  e->rope = (OmniRope) { .rot_dim = ED, .inv_freq = e->inv_freq, .attn_scale = 1.0f,
                         .mrope_section = { 2, 1, 1 }, .mrope_interleaved = TRUE };
  g_rand_free (rng);
}

static void
enc_clear (Enc *e)
{
  OmniTensor *all[] = { &e->x, &e->w, &e->bias, &e->y, &e->att, &e->perm, &e->dst };

  for (guint i = 0; i < G_N_ELEMENTS (all); i++)
    e->b->ops->tensor_free (e->b, all[i]);
}

/* layernorm, gelu, M-RoPE, attention_segments, permute and set_rows, with
 * the host arrays (segments, positions, rows) of step @s; results into
 * @out (the permuted attention, then the scattered rows). */
static void
enc_step (Enc *e, int s, gboolean graph, float *out)
{
  const OmniBackendOps *ops = e->b->ops;
  const int perm[3] = { 1, 0, 2 };
  int32_t cu[ESEGS + 1] = { 0, 1 + s % 4, 5 + s % 3, EN }, pos[3 * EN], rows[EN];
  OmniTensor y3 = view (&e->y, EN, EH, ED), a3 = view (&e->att, EN, EH, ED);

  for (int i = 0; i < EN; i++) {
    pos[i] = i + 7 * s;
    pos[EN + i] = i % 3 + s;
    pos[2 * EN + i] = i / 3;
    rows[i] = (i * 5 + s) % (2 * EN);
  }
  if (graph)
    ops->step_begin (e->b, 77);
  ops->layernorm (e->b, &e->y, &e->x, &e->w, &e->bias, 1e-6f);
  ops->gelu (e->b, &e->y, &e->y, TRUE);
  ops->rope (e->b, &y3, pos, &e->rope);
  ops->attention_segments (e->b, &e->att, &y3, &y3, &y3, cu, ESEGS, 0.35f);
  ops->permute (e->b, &e->perm, &a3, perm);
  ops->set_rows (e->b, &e->dst, &e->att, rows, EN);
  if (graph)
    ops->step_end (e->b);
  ops->download (e->b, &e->perm, out, e->perm.n_bytes);
  ops->download (e->b, &e->dst, out + EN * EH * ED, e->dst.n_bytes);
}

/* Replays with new segment boundaries, positions and rows equal direct
 * execution bit for bit. */
static void
test_encoder_graph_replay (void)
{
  OmniBackend *ba = ct_open ("cuda-emu"), *bb = ct_open ("cuda-emu");
  Enc a, g;
  float oa[3 * EN * EH * ED], og[3 * EN * EH * ED], prev[3 * EN * EH * ED];
  OmniCudaStats st;

  enc_init (&a, ba);
  enc_init (&g, bb);
  memset (og, 0, sizeof og);
  for (int s = 0; s < 6; s++) {
    memcpy (prev, og, sizeof og);
    enc_step (&a, s, FALSE, oa);
    enc_step (&g, s, TRUE, og);
    if (memcmp (oa, og, sizeof oa) != 0)
      g_error ("encoder step %d: the graph replay differs from direct execution", s);
    g_assert_true (memcmp (prev, og, sizeof og) != 0);
  }
  ct_stats (bb, &st);
  g_assert_cmpuint (st.graphs_captured, ==, 1);
  g_assert_cmpuint (st.graphs_replayed, ==, 5);
  enc_clear (&a);
  enc_clear (&g);
  omni_backend_close (ba);
  omni_backend_close (bb);
}

/* The Qwen3 decoder's own loop (omni_model_forward, direct execution) on
 * the golden MoE model: nothing allocated after the first decode step. */
static void
test_model_decode_no_alloc (void)
{
  g_autofree char *dir = g_build_filename (g_getenv ("OMNI_TEST_SRCDIR"), "golden", "qwen3-moe", NULL);
  OmniBackend *b = ct_open ("cuda-emu");
  GError *error = NULL;
  OmniModel *m = omni_model_load (dir, b, &error);
  OmniStateOptions opt = { .max_context = 64, .max_batch_tokens = 16 };
  OmniModelState *st;
  OmniCudaStats s0, s1;
  int32_t prompt[6] = { 9707, 11, 1879, 0, 358, 1079 }, pos[6], seq[6] = { 0 }, last = 5, zero = 0, tok;
  int vocab;
  OmniBatch batch;
  float *logits;

  g_assert_no_error (error);
  st = omni_model_state_new (m, &opt, &error);
  g_assert_no_error (error);
  vocab = omni_model_config (m)->vocab_size;
  logits = g_new (float, vocab);
  g_assert_cmpint (omni_kv_pages_open (omni_model_state_pages (st)), ==, 0);
  g_assert_true (omni_kv_pages_reserve (omni_model_state_pages (st), 0, 40, &error));
  for (int i = 0; i < 6; i++)
    pos[i] = i;
  omni_model_state_batch (st, &batch, 6, pos, seq);
  g_assert_true (omni_model_forward (m, st, &batch, prompt, &last, 1, logits, &error));
  for (int s = 0; s < 12; s++) {
    int32_t p = 6 + s;
    tok = 0;
    for (int i = 1; i < vocab; i++)
      if (logits[i] > logits[tok])
        tok = i;
    omni_model_state_batch (st, &batch, 1, &p, &zero);
    g_assert_true (omni_model_forward (m, st, &batch, &tok, &zero, 1, logits, &error));
    g_assert_no_error (error);
    if (s == 0)
      ct_stats (b, &s0);
  }
  ct_stats (b, &s1);
  g_test_message ("arena %" G_GSIZE_FORMAT " MiB, peak %" G_GSIZE_FORMAT " KiB; %" G_GUINT64_FORMAT
                  " cudaMalloc, %" G_GUINT64_FORMAT " arena blocks", s1.pool_size >> 20, s1.pool_peak >> 10,
                  s1.cuda_mallocs, s1.pool_allocs);
  g_assert_cmpuint (s1.cuda_mallocs, ==, s0.cuda_mallocs);
  g_assert_cmpuint (s1.pool_allocs, ==, s0.pool_allocs);
  g_assert_cmpuint (s1.cuda_mallocs, <=, 2);   /* the arena and the pinned staging area */
  /* nn/qwen3 runs each decode step as one graph: captured at step 0, then replayed */
  g_assert_cmpuint (s1.graphs_captured, ==, 1);
  g_assert_cmpuint (s1.graphs_replayed - s0.graphs_replayed, ==, 11);
  g_free (logits);
  omni_model_state_free (st);
  omni_model_free (m);
  omni_backend_close (b);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/cuda-emu/graph-replay", test_graph_replay);
  g_test_add_func ("/cuda-emu/graph-mismatch", test_graph_mismatch);
  g_test_add_func ("/cuda-emu/encoder-graph-replay", test_encoder_graph_replay);
  g_test_add_func ("/cuda-emu/model-decode-no-alloc", test_model_decode_no_alloc);
  return g_test_run ();
}
