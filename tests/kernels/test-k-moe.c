/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* MoE routing, dispatch, grouped matmul and combine, and the fallback
 * matmul, against the cpu backend: k = 1, 2, 8, E up to 128, token counts
 * that no tile divides, and the whole expert pipeline against moe_experts. */
#include <math.h>
#include "ktest.h"

static void
test_matmul (void)
{
  GRand *rng = g_rand_new_with_seed (21);
  const int64_t shapes[][3] = { { 1, 64, 96 }, { 7, 33, 65 }, { 37, 200, 131 }, { 64, 128, 64 } };
  static const OmniKDType types[] = { OMNI_K_F32, OMNI_K_F16, OMNI_K_BF16 };
  OmniBackend *b = kt_cpu ();

  for (guint si = 0; si < G_N_ELEMENTS (shapes); si++)
    for (int ti = 0; ti < 3; ti++) {
      int64_t rows = shapes[si][0], in = shapes[si][1], out = shapes[si][2];
      float *x = kt_rand (rng, rows * in, -1, 1), *w = kt_rand (rng, out * in, -1, 1);
      float *bias = kt_rand (rng, out, -1, 1), *want = g_new (float, rows * out);
      void *wp = kt_pack (w, out * in, types[ti]);
      OmniTensor xt = kt_tensor (x, OMNI_DTYPE_F32, 2, rows, in, 0);
      OmniTensor wt = kt_tensor (wp, (OmniDType) types[ti], 2, out, in, 0);
      OmniTensor bt = kt_tensor (bias, OMNI_DTYPE_F32, 1, out, 0, 0);
      OmniTensor yt = kt_tensor (want, OMNI_DTYPE_F32, 2, rows, out, 0);
      float *dy = kt_dev (NULL, rows * out * 4);

      KT_CHECK (omni_k_matmul (dy, out, kt_dev (x, rows * in * 4), in,
                               kt_dev (wp, out * in * (types[ti] == OMNI_K_F32 ? 4 : 2)), types[ti],
                               si % 2 ? kt_dev (bias, out * 4) : NULL, rows, in, out, 0), "matmul");
      float *got = kt_host (dy, rows * out * 4);
      b->ops->matmul (b, &yt, &xt, &wt, si % 2 ? &bt : NULL);
      kt_assert_close (got, want, rows * out, 1e-5f, 1e-5f, "matmul");
      g_free (got);
      g_free (x);
      g_free (w);
      g_free (bias);
      g_free (want);
      g_free (wp);
      kt_free_all ();
    }
  g_rand_free (rng);
}

static void
test_route (void)
{
  GRand *rng = g_rand_new_with_seed (22);
  const int cfg[][2] = { { 8, 1 }, { 8, 2 }, { 60, 4 }, { 128, 8 }, { 5, 5 } };
  OmniBackend *b = kt_cpu ();

  for (guint ci = 0; ci < G_N_ELEMENTS (cfg); ci++)
    for (int norm = 0; norm < 2; norm++) {
      int E = cfg[ci][0], k = cfg[ci][1], n = 37;
      float *logits = kt_rand (rng, (size_t) n * E, -4, 4);
      /* ties: the lower expert must come first, as on the cpu */
      for (int e = 0; e < E; e++)
        logits[e] = 1.0f;
      logits[E + E - 1] = logits[E + 0] = 9.0f;
      int32_t *want_ids = g_new (int32_t, n * k);
      float *want_w = g_new (float, n * k);
      OmniTensor lt = kt_tensor (logits, OMNI_DTYPE_F32, 2, n, E, 0);
      OmniTensor it = kt_tensor (want_ids, OMNI_DTYPE_I32, 2, n, k, 0);
      OmniTensor wt = kt_tensor (want_w, OMNI_DTYPE_F32, 2, n, k, 0);
      int32_t *dids = kt_dev (NULL, n * k * 4);
      float *dw = kt_dev (NULL, n * k * 4);

      KT_CHECK (omni_k_moe_route (dids, dw, kt_dev (logits, (size_t) n * E * 4), n, E, k, norm, 0), "route");
      int32_t *got_ids = kt_host (dids, n * k * 4);
      float *got_w = kt_host (dw, n * k * 4);
      b->ops->moe_route (b, &it, &wt, &lt, k, norm);
      g_assert_cmpmem (got_ids, n * k * 4, want_ids, n * k * 4);
      kt_assert_close (got_w, want_w, n * k, 1e-7f, 1e-6f, "route weights");
      g_free (got_ids);
      g_free (got_w);
      g_free (logits);
      g_free (want_ids);
      g_free (want_w);
      kt_free_all ();
    }
  g_rand_free (rng);
}

/* dispatch against a host counting sort; then the whole expert pipeline
 * (gather, grouped gate/up, swiglu, grouped down, combine) against
 * moe_experts. */
static void
run_experts (int n, int E, int k, int H, int I, GRand *rng)
{
  OmniBackend *b = kt_cpu ();
  int pairs = n * k;
  int32_t *ids = g_new (int32_t, pairs);
  float *rw = kt_rand (rng, pairs, 0.05f, 1.0f), *x = kt_rand (rng, (size_t) n * H, -1, 1);

  for (int t = 0; t < n; t++)   /* distinct experts per token, skewed to low ids */
    for (int j = 0; j < k; j++) {
      int e;
      gboolean dup;
      do {
        e = g_rand_int_range (rng, 0, 4) ? g_rand_int_range (rng, 0, MIN (E, 6)) : g_rand_int_range (rng, 0, E);
        dup = FALSE;
        for (int q = 0; q < j; q++)
          dup |= ids[t * k + q] == e;
      } while (dup);
      ids[t * k + j] = e;
    }

  int32_t *doff = kt_dev (NULL, (E + 1) * 4), *dtok = kt_dev (NULL, pairs * 4), *dslot = kt_dev (NULL, pairs * 4);
  int32_t *dids = kt_dev (ids, pairs * 4);
  KT_CHECK (omni_k_moe_dispatch (doff, dtok, dslot, dids, n, k, E, 0), "dispatch");
  int32_t *off = kt_host (doff, (E + 1) * 4), *tok = kt_host (dtok, pairs * 4), *slot = kt_host (dslot, pairs * 4);
  /* the stable counting sort, on the host */
  int32_t *cursor = g_new0 (int32_t, E + 1);
  for (int p = 0; p < pairs; p++)
    cursor[ids[p] + 1]++;
  for (int e = 0; e < E; e++)
    cursor[e + 1] += cursor[e];
  g_assert_cmpmem (off, (E + 1) * 4, cursor, (E + 1) * 4);
  for (int p = 0; p < pairs; p++) {
    int s = cursor[ids[p]]++;
    g_assert_cmpint (slot[p], ==, s);
    g_assert_cmpint (tok[s], ==, p / k);
  }

  /* experts' weights: bf16 */
  OmniTensor *gate = g_new (OmniTensor, E), *up = g_new (OmniTensor, E), *down = g_new (OmniTensor, E);
  const void **dg = g_new (const void *, E), **du = g_new (const void *, E), **dd = g_new (const void *, E);
  for (int e = 0; e < E; e++) {
    float *g = kt_rand (rng, (size_t) I * H, -0.5f, 0.5f), *u = kt_rand (rng, (size_t) I * H, -0.5f, 0.5f);
    float *d = kt_rand (rng, (size_t) H * I, -0.5f, 0.5f);
    gate[e] = kt_tensor (kt_pack (g, (size_t) I * H, OMNI_K_BF16), OMNI_DTYPE_BF16, 2, I, H, 0);
    up[e] = kt_tensor (kt_pack (u, (size_t) I * H, OMNI_K_BF16), OMNI_DTYPE_BF16, 2, I, H, 0);
    down[e] = kt_tensor (kt_pack (d, (size_t) H * I, OMNI_K_BF16), OMNI_DTYPE_BF16, 2, H, I, 0);
    dg[e] = kt_dev (gate[e].data, gate[e].n_bytes);
    du[e] = kt_dev (up[e].data, up[e].n_bytes);
    dd[e] = kt_dev (down[e].data, down[e].n_bytes);
    g_free (g);
    g_free (u);
    g_free (d);
  }
  float *want = g_new (float, (size_t) n * H);
  OmniTensor xt = kt_tensor (x, OMNI_DTYPE_F32, 2, n, H, 0), yt = kt_tensor (want, OMNI_DTYPE_F32, 2, n, H, 0);
  OmniTensor it = kt_tensor (ids, OMNI_DTYPE_I32, 2, n, k, 0), wt = kt_tensor (rw, OMNI_DTYPE_F32, 2, n, k, 0);
  b->ops->moe_experts (b, &yt, &xt, &it, &wt, gate, up, down, E);

  float *dx = kt_dev (x, (size_t) n * H * 4), *xs = kt_dev (NULL, (size_t) pairs * H * 4);
  float *gs = kt_dev (NULL, (size_t) pairs * I * 4), *us = kt_dev (NULL, (size_t) pairs * I * 4);
  float *ds = kt_dev (NULL, (size_t) pairs * H * 4), *dy = kt_dev (NULL, (size_t) n * H * 4);
  const void *const *pg = kt_dev (dg, E * sizeof (void *)), *const *pu = kt_dev (du, E * sizeof (void *));
  const void *const *pd = kt_dev (dd, E * sizeof (void *));
  KT_CHECK (omni_k_get_rows (xs, OMNI_K_F32, dx, OMNI_K_F32, n, H, dtok, pairs, 0), "gather");
  KT_CHECK (omni_k_moe_matmul (gs, I, xs, H, pg, OMNI_K_BF16, doff, E, pairs, H, I, 0), "gate");
  KT_CHECK (omni_k_moe_matmul (us, I, xs, H, pu, OMNI_K_BF16, doff, E, pairs, H, I, 0), "up");
  KT_CHECK (omni_k_swiglu (gs, gs, us, (int64_t) pairs * I, 0), "swiglu");
  KT_CHECK (omni_k_moe_matmul (ds, H, gs, I, pd, OMNI_K_BF16, doff, E, pairs, I, H, 0), "down");
  KT_CHECK (omni_k_moe_combine (dy, ds, kt_dev (rw, pairs * 4), dslot, n, k, H, 0), "combine");
  float *got = kt_host (dy, (size_t) n * H * 4);
  kt_assert_close (got, want, (size_t) n * H, 1e-5f, 1e-4f, "moe experts");

  for (int e = 0; e < E; e++) {
    g_free (gate[e].data);
    g_free (up[e].data);
    g_free (down[e].data);
  }
  g_free (gate);
  g_free (up);
  g_free (down);
  g_free (dg);
  g_free (du);
  g_free (dd);
  g_free (got);
  g_free (want);
  g_free (ids);
  g_free (rw);
  g_free (x);
  g_free (off);
  g_free (tok);
  g_free (slot);
  g_free (cursor);
  kt_free_all ();
}

static void
test_experts (void)
{
  GRand *rng = g_rand_new_with_seed (23);
  run_experts (1, 8, 1, 64, 48, rng);      /* decode, k = 1 */
  run_experts (13, 16, 2, 96, 40, rng);
  run_experts (37, 128, 8, 64, 32, rng);   /* Qwen3-30B-A3B routing shape */
  run_experts (300, 32, 4, 32, 24, rng);   /* more pairs than a dispatch tile */
  g_rand_free (rng);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/kernels/matmul", test_matmul);
  g_test_add_func ("/kernels/moe/route", test_route);
  g_test_add_func ("/kernels/moe/experts", test_experts);
  return g_test_run ();
}
