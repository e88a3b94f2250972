/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The Qwen3 decoder on tiny checkpoints written by the test: logits against
 * a naive double-precision reference (dense, tied head, GQA, QK-norm, RoPE;
 * MoE with decoder_sparse_step and mlp_only_layers, with and without
 * norm_topk_prob), prefill in chunks + decode through the paged KV cache,
 * and malformed checkpoints. */
#include <math.h>
#include <glib/gstdio.h>
#include "omnicore.h"
#include "nn/qwen3.h"
#include "tiny-model.h"

static const TinySpec dense_spec = {
  .vocab = 97, .hidden = 32, .inter = 48, .layers = 2, .heads = 4, .kv_heads = 2,
  .head_dim = 16, .tie = TRUE, .theta = 10000, .eps = 1e-6,
};

/* 4 layers, sparse step 2, layer 3 forced dense: MoE only in layer 1 */
static const TinySpec moe_spec = {
  .vocab = 89, .hidden = 32, .inter = 40, .layers = 4, .heads = 4, .kv_heads = 1,
  .head_dim = 8, .experts = 8, .topk = 2, .moe_inter = 24, .sparse_step = 2,
  .norm_topk = TRUE, .mlp_only = { 3 }, .n_mlp_only = 1, .theta = 1e6, .eps = 1e-6,
};

typedef struct {
  char *dir;
  OmniBackend *backend;
} Fixture;

static void
fixture_setup (Fixture *f, gconstpointer data)
{
  GError *error = NULL;
  f->dir = g_dir_make_tmp ("omni-nn-XXXXXX", &error);
  g_assert_no_error (error);
  f->backend = omni_backend_open ("cpu", &error);
  g_assert_no_error (error);
}

static void
fixture_teardown (Fixture *f, gconstpointer data)
{
  const char *files[] = { "config.json", "model.safetensors" };
  for (gsize i = 0; i < G_N_ELEMENTS (files); i++) {
    g_autofree char *p = g_build_filename (f->dir, files[i], NULL);
    g_unlink (p);
  }
  g_rmdir (f->dir);
  g_free (f->dir);
  omni_backend_close (f->backend);
}

/* max |ours - ref| <= tol * max |ref| over one row of logits */
static void
assert_close (const float *ours, const double *ref, int n, double tol, const char *what)
{
  double err = 0, scale = 0;
  for (int i = 0; i < n; i++) {
    err = MAX (err, fabs (ours[i] - ref[i]));
    scale = MAX (scale, fabs (ref[i]));
  }
  if (err > tol * scale)
    g_error ("%s: max abs err %.3g > %.3g * max |ref| %.3g", what, err, tol, scale);
}

static OmniModel *
load (Fixture *f)
{
  GError *error = NULL;
  OmniModel *m = omni_model_load (f->dir, f->backend, &error);
  g_assert_no_error (error);
  g_assert_nonnull (m);
  return m;
}

/* Runs @tokens as one prefill with logits at every position. */
static void
check_prefill (OmniModel *m, TinyModel *t, const int32_t *tokens, int n)
{
  OmniStateOptions opt = { .max_context = 64, .max_batch_tokens = n, .max_logit_rows = n };
  GError *error = NULL;
  OmniModelState *st = omni_model_state_new (m, &opt, &error);
  int V = t->s.vocab, slot;
  int32_t pos[64], seq[64], rows[64];
  float *logits = g_new (float, (gsize) n * V);
  double *ref = g_new (double, (gsize) n * V);
  OmniBatch batch;

  g_assert_no_error (error);
  slot = omni_kv_pages_open (omni_model_state_pages (st));
  g_assert_true (omni_kv_pages_reserve (omni_model_state_pages (st), slot, n, &error));
  for (int i = 0; i < n; i++) {
    pos[i] = i;
    seq[i] = slot;
    rows[i] = i;
  }
  omni_model_state_batch (st, &batch, n, pos, seq);
  g_assert_true (omni_model_forward (m, st, &batch, tokens, rows, n, logits, &error));
  g_assert_no_error (error);
  tiny_model_reference (t, tokens, n, ref);
  for (int i = 0; i < n; i++) {
    g_autofree char *what = g_strdup_printf ("prefill position %d", i);
    assert_close (logits + (gsize) i * V, ref + (gsize) i * V, V, 1e-5, what);
  }
  g_free (logits);
  g_free (ref);
  omni_model_state_free (st);
}

/* Prefill in chunks of 3 tokens, then decode one token at a time through
 * the paged cache (page size 4, so sequences cross pages). */
static void
check_decode (OmniModel *m, TinyModel *t, const int32_t *tokens, int n, int n_prompt)
{
  OmniStateOptions opt = { .max_context = 64, .max_seqs = 2, .max_batch_tokens = 3, .page_size = 4 };
  GError *error = NULL;
  OmniModelState *st = omni_model_state_new (m, &opt, &error);
  OmniKVPages *pages = omni_model_state_pages (st);
  int V = t->s.vocab, slot;
  float *logits = g_new (float, V);
  double *ref = g_new (double, (gsize) n * V);
  OmniBatch batch;

  g_assert_no_error (error);
  /* another sequence takes the first page, so ours runs on pages that are
   * neither first nor equal to its block-table index */
  int other = omni_kv_pages_open (pages);
  g_assert_true (omni_kv_pages_reserve (pages, other, 4, &error));
  slot = omni_kv_pages_open (pages);
  tiny_model_reference (t, tokens, n, ref);
  for (int off = 0; off < n;) {
    int c = off < n_prompt ? MIN (3, n_prompt - off) : 1;
    int32_t pos[3], seq[3], last = c - 1;
    for (int i = 0; i < c; i++) {
      pos[i] = off + i;
      seq[i] = slot;
    }
    g_assert_true (omni_kv_pages_reserve (pages, slot, off + c, &error));
    omni_model_state_batch (st, &batch, c, pos, seq);
    g_assert_true (omni_model_forward (m, st, &batch, tokens + off, &last, 1, logits, &error));
    g_assert_no_error (error);
    off += c;
    g_autofree char *what = g_strdup_printf ("decode position %d", off - 1);
    assert_close (logits, ref + (gsize) (off - 1) * V, V, 1e-5, what);
  }
  omni_kv_pages_close (pages, slot);
  omni_kv_pages_close (pages, other);
  g_free (logits);
  g_free (ref);
  omni_model_state_free (st);
}

static void
make_tokens (int32_t *tokens, int n, int vocab)
{
  for (int i = 0; i < n; i++)
    tokens[i] = (i * 37 + 11) % vocab;
}

static void
test_dense (Fixture *f, gconstpointer data)
{
  TinyModel *t = tiny_model_new (&dense_spec, 7);
  int32_t tokens[13];

  tiny_model_write (t, f->dir, NULL, NULL);
  OmniModel *m = load (f);
  g_assert_true (omni_model_config (m)->tie_word_embeddings);
  make_tokens (tokens, 13, dense_spec.vocab);
  check_prefill (m, t, tokens, 13);
  check_decode (m, t, tokens, 13, 7);
  omni_model_free (m);
  tiny_model_free (t);
}

static void
run_moe (Fixture *f, gboolean norm_topk)
{
  TinySpec spec = moe_spec;
  spec.norm_topk = norm_topk;
  TinyModel *t = tiny_model_new (&spec, 11);
  int32_t tokens[11];

  tiny_model_write (t, f->dir, NULL, NULL);
  OmniModel *m = load (f);
  const OmniTextConfig *c = omni_model_config (m);
  /* (i + 1) % 2 == 0 and not in mlp_only_layers */
  g_assert_false (c->is_moe_layer[0]);
  g_assert_true (c->is_moe_layer[1]);
  g_assert_false (c->is_moe_layer[2]);
  g_assert_false (c->is_moe_layer[3]);
  g_assert_true (t->is_moe[1] && !t->is_moe[3]);
  make_tokens (tokens, 11, spec.vocab);
  check_prefill (m, t, tokens, 11);
  check_decode (m, t, tokens, 11, 5);
  omni_model_free (m);
  tiny_model_free (t);
}

static void
test_moe (Fixture *f, gconstpointer data)
{
  run_moe (f, TRUE);
}

static void
test_moe_no_norm (Fixture *f, gconstpointer data)
{
  run_moe (f, FALSE);
}

/* The routing must matter: the same checkpoint with norm_topk_prob flipped
 * gives different logits (so the MoE tests above could fail). */
static void
test_moe_routing_matters (Fixture *f, gconstpointer data)
{
  TinySpec spec = moe_spec;
  TinyModel *t = tiny_model_new (&spec, 11);
  int32_t tokens[4] = { 1, 2, 3, 4 };
  double *a = g_new (double, 4 * spec.vocab), *b = g_new (double, 4 * spec.vocab), d = 0;

  tiny_model_reference (t, tokens, 4, a);
  t->s.norm_topk = FALSE;
  tiny_model_reference (t, tokens, 4, b);
  for (int i = 0; i < 4 * spec.vocab; i++)
    d = MAX (d, fabs (a[i] - b[i]));
  g_assert_cmpfloat (d, >, 1e-3);
  g_free (a);
  g_free (b);
  tiny_model_free (t);
}

static void
expect_load_error (Fixture *f, const char *needle)
{
  GError *error = NULL;
  OmniModel *m = omni_model_load (f->dir, f->backend, &error);
  g_assert_null (m);
  g_assert_nonnull (error);
  g_assert_true (error->domain == OMNI_ERROR);
  g_test_message ("%s", error->message);
  if (!strstr (error->message, needle))
    g_error ("error \"%s\" does not name \"%s\"", error->message, needle);
  g_clear_error (&error);
}

static void
test_missing_tensor (Fixture *f, gconstpointer data)
{
  TinyModel *t = tiny_model_new (&moe_spec, 3);
  const char *name = "model.layers.1.mlp.experts.5.down_proj.weight";

  tiny_model_write (t, f->dir, name, NULL);
  expect_load_error (f, name);
  tiny_model_write (t, f->dir, "model.layers.0.self_attn.k_norm.weight", NULL);
  expect_load_error (f, "model.layers.0.self_attn.k_norm.weight");
  /* untied model without its head */
  tiny_model_write (t, f->dir, "lm_head.weight", NULL);
  expect_load_error (f, "lm_head.weight");
  tiny_model_free (t);
}

static void
test_wrong_shape (Fixture *f, gconstpointer data)
{
  TinyModel *t = tiny_model_new (&moe_spec, 3);

  tiny_model_write (t, f->dir, NULL, "model.layers.1.mlp.experts.2.up_proj.weight");
  expect_load_error (f, "model.layers.1.mlp.experts.2.up_proj.weight");
  tiny_model_write (t, f->dir, NULL, "model.layers.3.mlp.down_proj.weight");
  expect_load_error (f, "model.layers.3.mlp.down_proj.weight");
  tiny_model_write (t, f->dir, NULL, "model.layers.0.self_attn.q_proj.weight");
  expect_load_error (f, "model.layers.0.self_attn.q_proj.weight");
  tiny_model_free (t);
}

typedef struct {
  int calls, first, last;
  int64_t rows, cols;
} CaptureLog;

static void
on_capture (int point, const OmniTensor *hidden, gpointer user_data)
{
  CaptureLog *log = user_data;
  if (log->calls++ == 0)
    log->first = point;
  log->last = point;
  log->rows = hidden->shape[0];
  log->cols = hidden->shape[1];
}

/* Bad forward arguments are errors; the capture hook sees every point. */
static void
test_forward_errors (Fixture *f, gconstpointer data)
{
  TinyModel *t = tiny_model_new (&dense_spec, 5);
  GError *error = NULL;
  OmniStateOptions opt = { .max_context = 8, .max_batch_tokens = 4, .page_size = 4 };
  int32_t tokens[4] = { 1, 2, 3, 4 }, pos[4] = { 0, 1, 2, 3 }, seq[4] = { 0, 0, 0, 0 }, row = 3;
  float *logits = g_new (float, dense_spec.vocab);
  OmniBatch batch;
  CaptureLog log = { 0 };

  tiny_model_write (t, f->dir, NULL, NULL);
  OmniModel *m = load (f);
  OmniStateOptions huge = { .max_context = 1 << 30 };
  g_assert_null (omni_model_state_new (m, &huge, &error));
  g_assert_error (error, OMNI_ERROR, OMNI_ERROR_INVALID);
  g_clear_error (&error);
  OmniModelState *st = omni_model_state_new (m, &opt, &error);
  g_assert_no_error (error);
  OmniKVPages *pages = omni_model_state_pages (st);
  g_assert_cmpint (omni_kv_pages_open (pages), ==, 0);
  omni_model_state_batch (st, &batch, 4, pos, seq);
  /* nothing reserved yet */
  g_assert_false (omni_model_forward (m, st, &batch, tokens, &row, 1, logits, &error));
  g_assert_error (error, OMNI_ERROR, OMNI_ERROR_INVALID);
  g_clear_error (&error);
  g_assert_true (omni_kv_pages_reserve (pages, 0, 4, &error));
  tokens[2] = dense_spec.vocab;
  g_assert_false (omni_model_forward (m, st, &batch, tokens, &row, 1, logits, &error));
  g_assert_error (error, OMNI_ERROR, OMNI_ERROR_INVALID);
  g_clear_error (&error);
  tokens[2] = 3;
  row = 4;
  g_assert_false (omni_model_forward (m, st, &batch, tokens, &row, 1, logits, &error));
  g_assert_error (error, OMNI_ERROR, OMNI_ERROR_INVALID);
  g_clear_error (&error);
  row = 3;
  /* beyond the per-sequence capacity of 8 */
  g_assert_false (omni_kv_pages_reserve (pages, 0, 9, &error));
  g_assert_error (error, OMNI_ERROR, OMNI_ERROR_INVALID);
  g_clear_error (&error);
  omni_model_state_set_capture (st, on_capture, &log);
  g_assert_true (omni_model_forward (m, st, &batch, tokens, &row, 1, logits, &error));
  g_assert_no_error (error);
  g_assert_cmpint (log.calls, ==, dense_spec.layers + 2);
  g_assert_cmpint (log.first, ==, OMNI_CAPTURE_EMBED);
  g_assert_cmpint (log.last, ==, dense_spec.layers);
  g_assert_cmpint (log.rows, ==, 4);
  g_assert_cmpint (log.cols, ==, dense_spec.hidden);
  omni_model_state_free (st);
  omni_model_free (m);
  g_free (logits);
  tiny_model_free (t);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
#define ADD(path, fn) g_test_add (path, Fixture, NULL, fixture_setup, fn, fixture_teardown)
  ADD ("/nn/qwen3/dense", test_dense);
  ADD ("/nn/qwen3/moe", test_moe);
  ADD ("/nn/qwen3/moe-no-norm-topk", test_moe_no_norm);
  ADD ("/nn/qwen3/moe-routing-matters", test_moe_routing_matters);
  ADD ("/nn/qwen3/missing-tensor", test_missing_tensor);
  ADD ("/nn/qwen3/wrong-shape", test_wrong_shape);
  ADD ("/nn/qwen3/forward-errors", test_forward_errors);
  return g_test_run ();
}
