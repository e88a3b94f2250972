/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Conversions, gathers, element-wise ops, rmsnorm and RoPE against the cpu
 * backend, with odd sizes that no block size divides. */
#include <math.h>
#include "ktest.h"
#include "dtype.h"

static const OmniKDType weight_types[] = { OMNI_K_F32, OMNI_K_F16, OMNI_K_BF16 };

static void
test_convert (void)
{
  GRand *rng = g_rand_new_with_seed (1);
  size_t n = 1000 + 37;
  float *x = kt_rand (rng, n, -70000.0f, 70000.0f);

  x[0] = 1.0f + 1.0f / 256.0f;   /* bf16 tie: rounds to even */
  x[1] = 1e-7f;                  /* f16 subnormal */
  for (int s = 0; s < 3; s++)
    for (int d = 0; d < 3; d++) {
      OmniKDType st = weight_types[s], dt = weight_types[d];
      void *src = kt_pack (x, n, st);
      void *dsrc = kt_dev (src, n * (st == OMNI_K_F32 ? 4 : 2));
      void *ddst = kt_dev (NULL, n * 4);
      KT_CHECK (omni_k_convert (ddst, dt, dsrc, st, (int64_t) n, 0), "convert");
      void *got = kt_host (ddst, n * (dt == OMNI_K_F32 ? 4 : 2));
      /* expected: widen with dtype.h, then narrow with dtype.h */
      float *wide = g_new (float, n);
      omni_dtype_to_f32 ((OmniDType) st, src, wide, n);
      void *want = kt_pack (wide, n, dt);
      g_assert_cmpmem (got, n * (dt == OMNI_K_F32 ? 4 : 2), want, n * (dt == OMNI_K_F32 ? 4 : 2));
      g_free (src);
      g_free (got);
      g_free (wide);
      g_free (want);
    }
  g_free (x);
  kt_free_all ();
  g_rand_free (rng);
}

static void
test_embed_get_rows (void)
{
  GRand *rng = g_rand_new_with_seed (2);
  int64_t rows = 53, width = 300 + 7;
  int n = 9;
  int32_t ids[9] = { 0, 52, 7, 7, 13, 1, 40, 52, 3 };
  float *table = kt_rand (rng, rows * width, -2, 2);
  OmniBackend *b = kt_cpu ();

  for (int s = 0; s < 3; s++) {
    OmniKDType t = weight_types[s];
    void *packed = kt_pack (table, rows * width, t);
    void *dt = kt_dev (packed, rows * width * (t == OMNI_K_F32 ? 4 : 2));
    int32_t *dids = kt_dev (ids, sizeof ids);
    float *dout = kt_dev (NULL, n * width * 4);
    KT_CHECK (omni_k_embed (dout, dt, t, rows, width, dids, n, 0), "embed");
    float *got = kt_host (dout, n * width * 4);
    float *want = g_new (float, n * width);
    OmniTensor tt = kt_tensor (packed, (OmniDType) t, 2, rows, width, 0);
    OmniTensor ot = kt_tensor (want, OMNI_DTYPE_F32, 2, n, width, 0);
    b->ops->embed (b, &ot, &tt, ids, n);
    g_assert_cmpmem (got, n * width * 4, want, n * width * 4);

    /* get_rows with equal types copies bits; f32 -> bf16 rounds */
    void *dsame = kt_dev (NULL, n * width * 4);
    KT_CHECK (omni_k_get_rows (dsame, t, dt, t, rows, width, dids, n, 0), "get_rows");
    void *same = kt_host (dsame, n * width * (t == OMNI_K_F32 ? 4 : 2));
    size_t es = t == OMNI_K_F32 ? 4 : 2;
    for (int i = 0; i < n; i++)
      g_assert_cmpmem ((uint8_t *) same + i * width * es, width * es,
                       (uint8_t *) packed + ids[i] * width * es, width * es);
    g_free (packed);
    g_free (got);
    g_free (want);
    g_free (same);
  }
  /* an id out of range yields a zero row, never a read outside the table */
  int32_t bad[2] = { -1, (int32_t) rows };
  float *dt = kt_dev (table, rows * width * 4);
  int32_t *dbad = kt_dev (bad, sizeof bad);
  float *dout = kt_dev (NULL, 2 * width * 4);
  KT_CHECK (cudaMemset (dout, 0x7f, 2 * width * 4), "memset");
  KT_CHECK (omni_k_embed (dout, dt, OMNI_K_F32, rows, width, dbad, 2, 0), "embed bad");
  float *got = kt_host (dout, 2 * width * 4);
  for (int64_t i = 0; i < 2 * width; i++)
    g_assert_cmpfloat (got[i], ==, 0.0f);
  g_free (got);
  g_free (table);
  kt_free_all ();
  g_rand_free (rng);
}

static void
test_add_swiglu_softmax (void)
{
  GRand *rng = g_rand_new_with_seed (3);
  int64_t rows = 5, cols = 1000 + 3, n = rows * cols;
  float *a = kt_rand (rng, n, -8, 8), *c = kt_rand (rng, n, -8, 8);
  float *want = g_new (float, n);
  OmniBackend *b = kt_cpu ();
  OmniTensor at = kt_tensor (a, OMNI_DTYPE_F32, 2, rows, cols, 0);
  OmniTensor ct = kt_tensor (c, OMNI_DTYPE_F32, 2, rows, cols, 0);
  OmniTensor wt = kt_tensor (want, OMNI_DTYPE_F32, 2, rows, cols, 0);
  float *da = kt_dev (a, n * 4), *dc = kt_dev (c, n * 4), *dy = kt_dev (NULL, n * 4);

  KT_CHECK (omni_k_add (dy, da, dc, n, 0), "add");
  float *got = kt_host (dy, n * 4);
  b->ops->add (b, &wt, &at, &ct);
  g_assert_cmpmem (got, n * 4, want, n * 4);
  g_free (got);

  KT_CHECK (omni_k_swiglu (dy, da, dc, n, 0), "swiglu");
  got = kt_host (dy, n * 4);
  b->ops->swiglu (b, &wt, &at, &ct);
  kt_assert_close (got, want, n, 1e-6f, 1e-6f, "swiglu");
  g_free (got);

  /* softmax in place, against a double reference */
  KT_CHECK (omni_k_softmax (da, da, rows, cols, 0), "softmax");
  got = kt_host (da, n * 4);
  for (int64_t r = 0; r < rows; r++) {
    double m = -INFINITY, s = 0;
    for (int64_t i = 0; i < cols; i++)
      m = MAX (m, a[r * cols + i]);
    for (int64_t i = 0; i < cols; i++)
      s += exp (a[r * cols + i] - m);
    for (int64_t i = 0; i < cols; i++)
      want[r * cols + i] = (float) (exp (a[r * cols + i] - m) / s);
  }
  kt_assert_close (got, want, n, 1e-7f, 1e-5f, "softmax");
  g_free (got);
  g_free (a);
  g_free (c);
  g_free (want);
  kt_free_all ();
  g_rand_free (rng);
}

static void
test_rmsnorm (void)
{
  GRand *rng = g_rand_new_with_seed (4);
  const int64_t dims[] = { 1, 31, 128, 300 + 5, 2048 + 40 };
  OmniBackend *b = kt_cpu ();

  for (guint di = 0; di < G_N_ELEMENTS (dims); di++)
    for (int s = 0; s < 3; s++) {
      int64_t d = dims[di], rows = 7, n = rows * d;
      float *x = kt_rand (rng, n, -3, 3), *r = kt_rand (rng, n, -3, 3), *w = kt_rand (rng, d, 0.5f, 1.5f);
      void *wp = kt_pack (w, d, weight_types[s]);
      float *want = g_new (float, n), *sum = g_new (float, n);
      OmniTensor xt = kt_tensor (x, OMNI_DTYPE_F32, 2, rows, d, 0);
      OmniTensor st = kt_tensor (sum, OMNI_DTYPE_F32, 2, rows, d, 0);
      OmniTensor wt = kt_tensor (wp, (OmniDType) weight_types[s], 1, d, 0, 0);
      OmniTensor yt = kt_tensor (want, OMNI_DTYPE_F32, 2, rows, d, 0);
      float *dx = kt_dev (x, n * 4), *dr = kt_dev (r, n * 4), *dy = kt_dev (NULL, n * 4);
      void *dw = kt_dev (wp, d * (weight_types[s] == OMNI_K_F32 ? 4 : 2));

      KT_CHECK (omni_k_rmsnorm (dx, dx, dw, weight_types[s], rows, d, 1e-6f, 0), "rmsnorm");
      float *got = kt_host (dx, n * 4);
      b->ops->rmsnorm (b, &yt, &xt, &wt, 1e-6f);
      kt_assert_close (got, want, n, 1e-6f, 2e-6f, "rmsnorm");
      g_free (got);

      /* fused: residual += x; y = rmsnorm(residual) */
      float *dx2 = kt_dev (x, n * 4);
      KT_CHECK (omni_k_add_rmsnorm (dy, dr, dx2, dw, weight_types[s], rows, d, 1e-6f, 0), "add_rmsnorm");
      for (int64_t i = 0; i < n; i++)
        sum[i] = r[i] + x[i];
      float *got_r = kt_host (dr, n * 4);
      g_assert_cmpmem (got_r, n * 4, sum, n * 4);
      got = kt_host (dy, n * 4);
      b->ops->rmsnorm (b, &yt, &st, &wt, 1e-6f);
      kt_assert_close (got, want, n, 1e-6f, 2e-6f, "add_rmsnorm");
      g_free (got);
      g_free (got_r);
      g_free (x);
      g_free (r);
      g_free (w);
      g_free (wp);
      g_free (want);
      g_free (sum);
      kt_free_all ();
    }
  g_rand_free (rng);
}

/* rope and the fused q/k-norm + rope against the cpu's rmsnorm then rope */
static void
test_rope (void)
{
  GRand *rng = g_rand_new_with_seed (5);
  const int head_dims[] = { 64, 128, 80, 256 };
  OmniBackend *b = kt_cpu ();

  for (guint hi = 0; hi < G_N_ELEMENTS (head_dims); hi++) {
    int D = head_dims[hi], rot = hi == 2 ? 64 : D, heads = 5, n = 6;
    int32_t pos[6] = { 0, 1, 17, 511, 4097, 40000 };
    float *inv = g_new (float, rot / 2);
    for (int j = 0; j < rot / 2; j++)
      inv[j] = (float) pow (1000000.0, -2.0 * j / rot);
    OmniRope rope = { .rot_dim = rot, .inv_freq = inv, .attn_scale = hi == 3 ? 1.25f : 1.0f };
    int64_t len = (int64_t) n * heads * D;
    float *x = kt_rand (rng, len, -2, 2), *w = kt_rand (rng, D, 0.5f, 1.5f);
    float *want = g_memdup2 (x, len * 4);
    float *dx = kt_dev (x, len * 4), *dinv = kt_dev (inv, rot / 2 * 4), *dx2 = kt_dev (x, len * 4);
    float *dw = kt_dev (w, D * 4);
    int32_t *dpos = kt_dev (pos, sizeof pos);
    OmniTensor t3 = kt_tensor (want, OMNI_DTYPE_F32, 3, n, heads, D);
    OmniTensor t2 = kt_tensor (want, OMNI_DTYPE_F32, 2, (int64_t) n * heads, D, 0);
    OmniTensor wt = kt_tensor (w, OMNI_DTYPE_F32, 1, D, 0, 0);

    KT_CHECK (omni_k_rope (dx, dpos, dinv, n, heads, D, rot, rope.attn_scale, 0), "rope");
    float *got = kt_host (dx, len * 4);
    b->ops->rope (b, &t3, pos, &rope);
    kt_assert_close (got, want, len, 2e-6f, 2e-6f, "rope");
    g_free (got);

    memcpy (want, x, len * 4);
    KT_CHECK (omni_k_qk_norm_rope (dx2, dw, OMNI_K_F32, 1e-6f, dpos, dinv, n, heads, D, rot, rope.attn_scale, 0),
              "qk_norm_rope");
    got = kt_host (dx2, len * 4);
    b->ops->rmsnorm (b, &t2, &t2, &wt, 1e-6f);
    b->ops->rope (b, &t3, pos, &rope);
    kt_assert_close (got, want, len, 5e-6f, 5e-6f, "qk_norm_rope");
    g_free (got);
    g_free (inv);
    g_free (x);
    g_free (w);
    g_free (want);
    kt_free_all ();
  }
  g_rand_free (rng);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/kernels/convert", test_convert);
  g_test_add_func ("/kernels/embed-get-rows", test_embed_get_rows);
  g_test_add_func ("/kernels/add-swiglu-softmax", test_add_swiglu_softmax);
  g_test_add_func ("/kernels/rmsnorm", test_rmsnorm);
  g_test_add_func ("/kernels/rope", test_rope);
  return g_test_run ();
}
