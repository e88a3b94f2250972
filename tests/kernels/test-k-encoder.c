/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The encoder kernels (layernorm, gelu, attention_segments, set_rows,
 * permute, M-RoPE) against the cpu backend: rows wider than a block, long
 * segments that span many key tiles, and every fiber schedule of the
 * emulator for the attention (a missing barrier shows up in one of them). */
#include <math.h>
#include "ktest.h"

/* The emulator's fiber order (kernels/emu/emu-device.h, a C++ header):
 * 0 ascending, 1 descending, 2 alternating threadIdx. */
void omni_emu_set_schedule (int schedule);

static const OmniKDType weight_types[] = { OMNI_K_F32, OMNI_K_F16, OMNI_K_BF16 };

static size_t
type_size (OmniKDType t)
{
  return t == OMNI_K_F32 ? 4 : 2;
}

static void
test_layernorm (void)
{
  GRand *rng = g_rand_new_with_seed (11);
  const int64_t dims[] = { 1, 31, 257, 1280 };
  OmniBackend *b = kt_cpu ();

  for (guint di = 0; di < G_N_ELEMENTS (dims); di++)
    for (guint ti = 0; ti < G_N_ELEMENTS (weight_types); ti++) {
      int64_t d = dims[di], rows = 5, len = rows * d;
      OmniKDType t = weight_types[ti];
      float *x = kt_rand (rng, len, -3, 5), *w = kt_rand (rng, d, -1, 1), *bias = kt_rand (rng, d, -1, 1);
      void *wp = kt_pack (w, d, t), *bp = kt_pack (bias, d, t);
      float *want = g_new (float, len);
      float *dx = kt_dev (x, len * 4), *dy = kt_dev (NULL, len * 4);
      void *dw = kt_dev (wp, d * type_size (t)), *db = kt_dev (bp, d * type_size (t));
      OmniTensor tx = kt_tensor (x, OMNI_DTYPE_F32, 2, rows, d, 0), ty = kt_tensor (want, OMNI_DTYPE_F32, 2, rows, d, 0);
      OmniTensor tw = kt_tensor (wp, (OmniDType) t, 1, d, 0, 0), tb = kt_tensor (bp, (OmniDType) t, 1, d, 0, 0);

      KT_CHECK (omni_k_layernorm (dy, dx, dw, t, db, t, rows, d, 1e-5f, 0), "layernorm");
      b->ops->layernorm (b, &ty, &tx, &tw, &tb, 1e-5f);
      float *got = kt_host (dy, len * 4);
      /* d = 1: x - mean is 0 and y = bias exactly */
      kt_assert_close (got, want, len, 1e-5f, 1e-5f, "layernorm");
      g_free (got);
      KT_CHECK (omni_k_layernorm (dx, dx, dw, t, db, t, rows, d, 1e-5f, 0), "layernorm in place");
      got = kt_host (dx, len * 4);
      kt_assert_close (got, want, len, 1e-5f, 1e-5f, "layernorm in place");
      g_free (got);
      g_free (x);
      g_free (w);
      g_free (bias);
      g_free (wp);
      g_free (bp);
      g_free (want);
      kt_free_all ();
    }
  g_rand_free (rng);
}

static void
test_gelu (void)
{
  GRand *rng = g_rand_new_with_seed (12);
  int64_t n = 70001;   /* more than the grid-stride's blocks cover at once */
  float *x = kt_rand (rng, n, -8, 8);
  OmniBackend *b = kt_cpu ();

  for (int form = 0; form < 2; form++) {
    float *want = g_new (float, n);
    float *dx = kt_dev (x, n * 4), *dy = kt_dev (NULL, n * 4);
    OmniTensor tx = kt_tensor (x, OMNI_DTYPE_F32, 1, n, 0, 0), ty = kt_tensor (want, OMNI_DTYPE_F32, 1, n, 0, 0);

    KT_CHECK (omni_k_gelu (dy, dx, n, form, 0), "gelu");
    b->ops->gelu (b, &ty, &tx, form);
    float *got = kt_host (dy, n * 4);
    kt_assert_close (got, want, n, 1e-6f, 1e-6f, form ? "gelu tanh" : "gelu erf");
    g_free (got);
    g_free (want);
    kt_free_all ();
  }
  g_free (x);
  g_rand_free (rng);
}

static void
check_segments (GRand *rng, const int *lens, int n_segs, int heads, int D)
{
  OmniBackend *b = kt_cpu ();
  int32_t *cu = g_new (int32_t, n_segs + 1);

  cu[0] = 0;
  for (int s = 0; s < n_segs; s++)
    cu[s + 1] = cu[s] + lens[s];
  int n = cu[n_segs];
  int64_t len = (int64_t) n * heads * D;
  float *q = kt_rand (rng, len, -2, 2), *k = kt_rand (rng, len, -1, 1), *v = kt_rand (rng, len, -1, 1);
  float *want = g_new (float, len);
  float *dq = kt_dev (q, len * 4), *dk = kt_dev (k, len * 4), *dv = kt_dev (v, len * 4);
  int32_t *dcu = kt_dev (cu, (n_segs + 1) * 4);
  OmniTensor tq = kt_tensor (q, OMNI_DTYPE_F32, 3, n, heads, D), tk = kt_tensor (k, OMNI_DTYPE_F32, 3, n, heads, D);
  OmniTensor tv = kt_tensor (v, OMNI_DTYPE_F32, 3, n, heads, D);
  OmniTensor to = kt_tensor (want, OMNI_DTYPE_F32, 2, n, (int64_t) heads * D, 0);
  float scale = 1.0f / sqrtf ((float) D);

  b->ops->attention_segments (b, &to, &tq, &tk, &tv, cu, n_segs, scale);
  for (int sched = 0; sched < 3; sched++) {
    float *dout = kt_dev (NULL, len * 4);
    omni_emu_set_schedule (sched);
    KT_CHECK (omni_k_attention_segments (dout, dq, dk, dv, dcu, n_segs, n, heads, D, scale, 0),
              "attention_segments");
    float *got = kt_host (dout, len * 4);
    kt_assert_close (got, want, len, 2e-6f, 1e-5f, "attention_segments");
    g_free (got);
  }
  omni_emu_set_schedule (0);
  g_free (cu);
  g_free (q);
  g_free (k);
  g_free (v);
  g_free (want);
  kt_free_all ();
}

static void
test_attention_segments (void)
{
  GRand *rng = g_rand_new_with_seed (13);
  const int mixed[] = { 3, 1, 8, 1, 1, 40, 17 };   /* blocks straddle several segments */
  const int vision[] = { 1024, 77 };              /* many key tiles per segment */
  const int one[] = { 1 };

  check_segments (rng, mixed, G_N_ELEMENTS (mixed), 3, 128);
  check_segments (rng, vision, G_N_ELEMENTS (vision), 1, 80);
  check_segments (rng, one, 1, 2, 1);
  g_rand_free (rng);
}

/* A head_dim beyond the kernel's registers is refused, not truncated. */
static void
test_attention_segments_limits (void)
{
  int32_t cu[2] = { 0, 1 };
  int32_t *dcu = kt_dev (cu, sizeof cu);
  float *d = kt_dev (NULL, 4 * (OMNI_K_SEG_MAX_HEAD_DIM + 1));

  g_assert_cmpint (omni_k_attention_segments (d, d, d, d, dcu, 1, 1, 1, OMNI_K_SEG_MAX_HEAD_DIM + 1, 1.0f, 0),
                   ==, cudaErrorInvalidValue);
  g_assert_cmpint (omni_k_attention_segments (d, d, d, d, dcu, 0, 1, 1, 8, 1.0f, 0), ==, cudaErrorInvalidValue);
  kt_free_all ();
}

static void
test_set_rows (void)
{
  GRand *rng = g_rand_new_with_seed (14);
  int32_t rows[6] = { 40, 0, 13, 2, 39, 7 };
  int64_t n_dst = 41, width = 300 + 3;

  for (guint ti = 0; ti < G_N_ELEMENTS (weight_types); ti++) {
    OmniKDType t = weight_types[ti];
    size_t es = type_size (t);
    float *dst = kt_rand (rng, n_dst * width, -1, 1), *src = kt_rand (rng, 6 * width, -1, 1);
    uint8_t *want = kt_pack (dst, n_dst * width, t), *sp = kt_pack (src, 6 * width, t);
    void *ddst = kt_dev (want, n_dst * width * es), *dsrc = kt_dev (sp, 6 * width * es);
    int32_t *drows = kt_dev (rows, sizeof rows);

    KT_CHECK (omni_k_set_rows (ddst, dsrc, t, n_dst, width, drows, 6, 0), "set_rows");
    for (int i = 0; i < 6; i++)
      memcpy (want + rows[i] * width * es, sp + i * width * es, width * es);
    void *got = kt_host (ddst, n_dst * width * es);
    g_assert_cmpmem (got, n_dst * width * es, want, n_dst * width * es);
    g_free (got);
    g_free (dst);
    g_free (src);
    g_free (want);
    g_free (sp);
    kt_free_all ();
  }
  g_rand_free (rng);
}

static void
test_permute (void)
{
  GRand *rng = g_rand_new_with_seed (15);
  const int64_t shape[4] = { 4, 33, 5, 70 };   /* 46200: beyond one grid-stride pass */
  const int perms[][4] = { { 0, 2, 1, 3 }, { 3, 2, 1, 0 }, { 1, 0, 3, 2 } };
  int64_t n = 4 * 33 * 5 * 70;
  float *x = kt_rand (rng, n, -1, 1);
  OmniBackend *b = kt_cpu ();

  for (guint p = 0; p < G_N_ELEMENTS (perms); p++) {
    float *want = g_new (float, n);
    float *dx = kt_dev (x, n * 4), *dy = kt_dev (NULL, n * 4);
    OmniTensor tx = { .dtype = OMNI_DTYPE_F32, .n_dims = 4, .data = x, .n_bytes = n * 4 };
    OmniTensor ty = { .dtype = OMNI_DTYPE_F32, .n_dims = 4, .data = want, .n_bytes = n * 4 };

    for (int i = 0; i < 4; i++) {
      tx.shape[i] = shape[i];
      ty.shape[i] = shape[perms[p][i]];
    }
    KT_CHECK (omni_k_permute (dy, dx, 4, shape, perms[p], 0), "permute");
    b->ops->permute (b, &ty, &tx, perms[p]);
    float *got = kt_host (dy, n * 4);
    g_assert_cmpmem (got, n * 4, want, n * 4);
    g_free (got);
    g_free (want);
    kt_free_all ();
  }
  g_assert_cmpint (omni_k_permute (NULL, NULL, 5, shape, perms[0], 0), ==, cudaErrorInvalidValue);
  g_free (x);
  g_rand_free (rng);
}

/* Qwen3-VL's interleaved [24, 20, 20] and Qwen2.5's chunked [16, 24, 24] on
 * head_dim 128, against the cpu's M-RoPE. */
static void
test_mrope (void)
{
  GRand *rng = g_rand_new_with_seed (16);
  const int sections[2][3] = { { 24, 20, 20 }, { 16, 24, 24 } };
  const int n = 7, heads = 3, D = 128;
  int32_t pos[3 * 7];
  float inv[64];
  OmniBackend *b = kt_cpu ();

  for (int j = 0; j < 64; j++)
    inv[j] = (float) pow (1000000.0, -2.0 * j / D);
  for (int i = 0; i < n; i++) {
    pos[i] = 3 + i * 997;
    pos[n + i] = i % 4;
    pos[2 * n + i] = 11 + i / 2;
  }
  for (int form = 0; form < 2; form++) {
    int64_t len = (int64_t) n * heads * D;
    float *x = kt_rand (rng, len, -2, 2);
    float *dx = kt_dev (x, len * 4), *dinv = kt_dev (inv, sizeof inv);
    int32_t *dpos = kt_dev (pos, sizeof pos);
    OmniRope rope = { .rot_dim = D, .inv_freq = inv, .attn_scale = 1.0f,
                      .mrope_section = { sections[form][0], sections[form][1], sections[form][2] },
                      .mrope_interleaved = form == 0 };
    OmniTensor t = kt_tensor (x, OMNI_DTYPE_F32, 3, n, heads, D);

    KT_CHECK (omni_k_mrope (dx, dpos, dinv, n, heads, D, D, 1.0f, sections[form], form == 0, 0), "mrope");
    b->ops->rope (b, &t, pos, &rope);
    float *got = kt_host (dx, len * 4);
    kt_assert_close (got, x, len, 2e-6f, 2e-6f, form == 0 ? "mrope interleaved" : "mrope chunked");
    g_free (got);
    g_free (x);
    kt_free_all ();
  }
  g_rand_free (rng);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/kernels/layernorm", test_layernorm);
  g_test_add_func ("/kernels/gelu", test_gelu);
  g_test_add_func ("/kernels/attention-segments", test_attention_segments);
  g_test_add_func ("/kernels/attention-segments-limits", test_attention_segments_limits);
  g_test_add_func ("/kernels/set-rows", test_set_rows);
  g_test_add_func ("/kernels/permute", test_permute);
  g_test_add_func ("/kernels/mrope", test_mrope);
  return g_test_run ();
}
