/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Every op of the cuda backend (through the emulator, device cuda-emu)
 * against the cpu backend on the same inputs: odd sizes, sizes that do not
 * divide the blocks, GQA ratios, short and long contexts, several sequences
 * per batch, f32/f16/bf16 weights.
 *
 * Tolerances. f32 computations differ from the cpu only in summation order:
 * |err| <= 1e-5 of the sum of the magnitudes of the terms. The cuBLASLt
 * matmul with bf16 (f16) weights rounds the activations to bf16 (f16) first:
 * each product x_i w_i then moves by at most u |x_i w_i| (u = 2^-8 for bf16,
 * 2^-11 for f16: the unit roundoff of 8 and 11 significant bits), so |err| <= (u + 1e-5) sum |x_i w_i|. */
#include <math.h>
#include "cuda-test-util.h"
#include "omnicore.h"

#define TOL 1e-5
#define U_BF16 (1.0 / 256)
#define U_F16 (1.0 / 2048)

static OmniBackend *cpu, *cu;
static GRand *rng;

static void
close_or_die (const char *what, int64_t i, float got, float ref, double bound)
{
  if (!(fabs ((double) got - ref) <= bound))
    g_error ("%s[%" G_GINT64_FORMAT "]: cuda-emu %.9g, cpu %.9g, |diff| %.3g > bound %.3g", what, i, got, ref,
             fabs ((double) got - ref), bound);
}

/* Both results of @t ([n] floats) within @tol * max(scale, |ref|). */
static void
compare (const char *what, const OmniTensor *tc, const OmniTensor *tg, double tol, double scale)
{
  g_autofree float *a = ct_download (cpu, tc);
  g_autofree float *b = ct_download (cu, tg);
  int64_t n = tc->n_bytes / sizeof (float);

  g_assert_cmpuint (tc->n_bytes, ==, tg->n_bytes);
  for (int64_t i = 0; i < n; i++)
    close_or_die (what, i, b[i], a[i], tol * MAX (scale, fabs (a[i])));
}

static void
free2 (OmniTensor *tc, OmniTensor *tg)
{
  cpu->ops->tensor_free (cpu, tc);
  cu->ops->tensor_free (cu, tg);
}

/* ---- matmul ---- */

static void
check_matmul (int64_t n, int64_t in, int64_t out, OmniDType dt, OmniDType bias_dt, gboolean with_bias)
{
  g_autofree float *x = ct_random (rng, n * in), *w = ct_random (rng, out * in), *bias = ct_random (rng, out);
  g_autofree void *wb = ct_to_dtype (w, out * in, dt), *bb = ct_to_dtype (bias, out, bias_dt);
  int64_t sx[2] = { n, in }, sw[2] = { out, in }, sy[2] = { n, out }, sb[1] = { out };
  OmniTensor xc = ct_tensor (cpu, OMNI_DTYPE_F32, 2, sx, x), xg = ct_tensor (cu, OMNI_DTYPE_F32, 2, sx, x);
  OmniTensor wc = ct_tensor (cpu, dt, 2, sw, wb), wg = ct_tensor (cu, dt, 2, sw, wb);
  OmniTensor bc = ct_tensor (cpu, bias_dt, 1, sb, bb), bg = ct_tensor (cu, bias_dt, 1, sb, bb);
  OmniTensor yc = ct_tensor (cpu, OMNI_DTYPE_F32, 2, sy, NULL), yg = ct_tensor (cu, OMNI_DTYPE_F32, 2, sy, NULL);
  double u = dt == OMNI_DTYPE_BF16 ? U_BF16 : dt == OMNI_DTYPE_F16 ? U_F16 : 0.0;

  cpu->ops->matmul (cpu, &yc, &xc, &wc, with_bias ? &bc : NULL);
  cu->ops->matmul (cu, &yg, &xg, &wg, with_bias ? &bg : NULL);
  g_autofree float *a = ct_download (cpu, &yc);
  g_autofree float *b = ct_download (cu, &yg);
  for (int64_t r = 0; r < n; r++) {
    for (int64_t c = 0; c < out; c++) {
      double mag = with_bias ? fabs (bias[c]) : 0.0;
      for (int64_t i = 0; i < in; i++)
        mag += fabs ((double) x[r * in + i] * w[c * in + i]);
      close_or_die ("matmul", r * out + c, b[r * out + c], a[r * out + c], (u + TOL) * mag);
    }
  }
  free2 (&xc, &xg);
  free2 (&wc, &wg);
  free2 (&bc, &bg);
  free2 (&yc, &yg);
}

static void
test_matmul (void)
{
  const OmniDType types[] = { OMNI_DTYPE_F32, OMNI_DTYPE_BF16, OMNI_DTYPE_F16 };

  for (guint t = 0; t < G_N_ELEMENTS (types); t++) {
    check_matmul (1, 77, 131, types[t], OMNI_DTYPE_F32, FALSE);   /* a decode row */
    check_matmul (13, 77, 131, types[t], OMNI_DTYPE_F32, TRUE);
    check_matmul (5, 301, 45, types[t], types[t], TRUE);          /* bias in the weight's dtype */
    check_matmul (17, 5, 3, types[t], OMNI_DTYPE_F32, FALSE);
  }
}

/* ---- rows, norm, rope, element-wise ---- */

static void
test_embed_get_rows (void)
{
  const int32_t ids[] = { 4, 0, 36, 4, 7 }, rows[] = { 3, 0, 4 };
  const OmniDType types[] = { OMNI_DTYPE_F32, OMNI_DTYPE_BF16, OMNI_DTYPE_F16 };
  int64_t st[2] = { 37, 19 }, so[2] = { 5, 19 }, sr[2] = { 3, 19 };

  for (guint t = 0; t < G_N_ELEMENTS (types); t++) {
    g_autofree float *tab = ct_random (rng, 37 * 19);
    g_autofree void *tb = ct_to_dtype (tab, 37 * 19, types[t]);
    OmniTensor tc = ct_tensor (cpu, types[t], 2, st, tb), tg = ct_tensor (cu, types[t], 2, st, tb);
    OmniTensor oc = ct_tensor (cpu, OMNI_DTYPE_F32, 2, so, NULL), og = ct_tensor (cu, OMNI_DTYPE_F32, 2, so, NULL);
    OmniTensor rc = ct_tensor (cpu, OMNI_DTYPE_F32, 2, sr, NULL), rg = ct_tensor (cu, OMNI_DTYPE_F32, 2, sr, NULL);

    cpu->ops->embed (cpu, &oc, &tc, ids, 5);
    cu->ops->embed (cu, &og, &tg, ids, 5);
    compare ("embed", &oc, &og, 0.0, 0.0);          /* widening is exact */
    cpu->ops->get_rows (cpu, &rc, &oc, rows, 3);
    cu->ops->get_rows (cu, &rg, &og, rows, 3);
    compare ("get_rows", &rc, &rg, 0.0, 0.0);
    cpu->ops->get_rows (cpu, &rc, &tc, rows, 3);    /* converting */
    cu->ops->get_rows (cu, &rg, &tg, rows, 3);
    compare ("get_rows (converting)", &rc, &rg, 0.0, 0.0);
    free2 (&tc, &tg);
    free2 (&oc, &og);
    free2 (&rc, &rg);
  }
}

static void
test_rmsnorm (void)
{
  int64_t sx[2] = { 7, 45 }, sw[1] = { 45 };
  g_autofree float *x = ct_random (rng, 7 * 45), *w = ct_random (rng, 45);
  g_autofree void *wb = ct_to_dtype (w, 45, OMNI_DTYPE_BF16);
  OmniTensor xc = ct_tensor (cpu, OMNI_DTYPE_F32, 2, sx, x), xg = ct_tensor (cu, OMNI_DTYPE_F32, 2, sx, x);
  OmniTensor wc = ct_tensor (cpu, OMNI_DTYPE_BF16, 1, sw, wb), wg = ct_tensor (cu, OMNI_DTYPE_BF16, 1, sw, wb);
  OmniTensor yc = ct_tensor (cpu, OMNI_DTYPE_F32, 2, sx, NULL), yg = ct_tensor (cu, OMNI_DTYPE_F32, 2, sx, NULL);

  cpu->ops->rmsnorm (cpu, &yc, &xc, &wc, 1e-6f);
  cu->ops->rmsnorm (cu, &yg, &xg, &wg, 1e-6f);
  /* an output is x * rsqrt(mean) * w: a few roundings of one product */
  compare ("rmsnorm", &yc, &yg, TOL, 0.0);
  cpu->ops->rmsnorm (cpu, &xc, &xc, &wc, 1e-6f);   /* in place */
  cu->ops->rmsnorm (cu, &xg, &xg, &wg, 1e-6f);
  compare ("rmsnorm in place", &xc, &xg, TOL, 0.0);
  free2 (&xc, &xg);
  free2 (&wc, &wg);
  free2 (&yc, &yg);
}

static void
test_rope (void)
{
  const int32_t pos[] = { 0, 1, 17, 300, 4095 };
  int64_t sx[3] = { 5, 3, 18 };
  float inv_freq[9];
  OmniRope rope = { .rot_dim = 18, .inv_freq = inv_freq, .attn_scale = 1.0f };

  for (int i = 0; i < 9; i++)
    inv_freq[i] = (float) pow (10000.0, -2.0 * i / 18);
  for (int k = 0; k < 2; k++) {
    g_autofree float *x = ct_random (rng, 5 * 3 * 18);
    OmniTensor xc = ct_tensor (cpu, OMNI_DTYPE_F32, 3, sx, x), xg = ct_tensor (cu, OMNI_DTYPE_F32, 3, sx, x);

    rope.attn_scale = k == 0 ? 1.0f : 1.1f;
    rope.rot_dim = k == 0 ? 18 : 10;     /* partial rotation */
    cpu->ops->rope (cpu, &xc, pos, &rope);
    cu->ops->rope (cu, &xg, pos, &rope);
    /* two products and a sum of values <= 1.1 in magnitude */
    compare ("rope", &xc, &xg, TOL, 1.0);
    free2 (&xc, &xg);
  }
}

static void
test_elementwise (void)
{
  int64_t s[2] = { 3, 333 };
  g_autofree float *a = ct_random (rng, 999), *c = ct_random (rng, 999);
  OmniTensor ac = ct_tensor (cpu, OMNI_DTYPE_F32, 2, s, a), ag = ct_tensor (cu, OMNI_DTYPE_F32, 2, s, a);
  OmniTensor cc = ct_tensor (cpu, OMNI_DTYPE_F32, 2, s, c), cg = ct_tensor (cu, OMNI_DTYPE_F32, 2, s, c);
  OmniTensor yc = ct_tensor (cpu, OMNI_DTYPE_F32, 2, s, NULL), yg = ct_tensor (cu, OMNI_DTYPE_F32, 2, s, NULL);

  cpu->ops->swiglu (cpu, &yc, &ac, &cc);
  cu->ops->swiglu (cu, &yg, &ag, &cg);
  compare ("swiglu", &yc, &yg, TOL, 0.0);
  cpu->ops->add (cpu, &ac, &ac, &cc);
  cu->ops->add (cu, &ag, &ag, &cg);
  compare ("add (in place)", &ac, &ag, 0.0, 0.0);  /* one rounding, both sides */
  free2 (&ac, &ag);
  free2 (&cc, &cg);
  free2 (&yc, &yg);
}

/* ---- paged KV and attention ---- */

typedef struct {
  int n_heads, n_kv, d;
} AttnShape;

/* Fills the cache of @layer for sequences with contexts @ctx (positions
 * 0..ctx-1) on both backends with the same random k, v. */
static void
fill_cache (OmniKVCache *kc, OmniKVCache *kg, int layer, OmniBatch *batch, const int *ctx, int n_seqs)
{
  int width = kc->n_kv_heads * kc->head_dim, total = 0;

  for (int s = 0; s < n_seqs; s++)
    total += ctx[s];
  g_autofree int32_t *pos = g_new (int32_t, total), *seq = g_new (int32_t, total);
  for (int s = 0, i = 0; s < n_seqs; s++)
    for (int p = 0; p < ctx[s]; p++, i++) {
      pos[i] = p;
      seq[i] = s;
    }
  g_autofree float *k = ct_random (rng, (int64_t) total * width), *v = ct_random (rng, (int64_t) total * width);
  int64_t sk[3] = { total, kc->n_kv_heads, kc->head_dim };
  OmniTensor k1 = ct_tensor (cpu, OMNI_DTYPE_F32, 3, sk, k), k2 = ct_tensor (cu, OMNI_DTYPE_F32, 3, sk, k);
  OmniTensor v1 = ct_tensor (cpu, OMNI_DTYPE_F32, 3, sk, v), v2 = ct_tensor (cu, OMNI_DTYPE_F32, 3, sk, v);
  batch->n_tokens = total;
  batch->pos = pos;
  batch->seq = seq;
  cpu->ops->kv_store (cpu, kc, layer, &k1, &v1, batch);
  cu->ops->kv_store (cu, kg, layer, &k2, &v2, batch);
  free2 (&k1, &k2);
  free2 (&v1, &v2);
}

static void
run_attention (OmniKVCache *kc, OmniKVCache *kg, int layer, OmniBatch *batch, const AttnShape *a,
               const int32_t *pos, const int32_t *seq, int n, const char *what)
{
  int64_t sq[3] = { n, a->n_heads, a->d }, so[2] = { n, (int64_t) a->n_heads * a->d };
  g_autofree float *q = ct_random (rng, (int64_t) n * a->n_heads * a->d);
  OmniTensor qc = ct_tensor (cpu, OMNI_DTYPE_F32, 3, sq, q), qg = ct_tensor (cu, OMNI_DTYPE_F32, 3, sq, q);
  OmniTensor oc = ct_tensor (cpu, OMNI_DTYPE_F32, 2, so, NULL), og = ct_tensor (cu, OMNI_DTYPE_F32, 2, so, NULL);
  float scale = 1.0f / sqrtf ((float) a->d);

  batch->n_tokens = n;
  batch->pos = pos;
  batch->seq = seq;
  cpu->ops->attention (cpu, &oc, &qc, kc, layer, batch, scale);
  cu->ops->attention (cu, &og, &qg, kg, layer, batch, scale);
  /* outputs are convex combinations of values in [-1, 1] */
  compare (what, &oc, &og, TOL, 1.0);
  free2 (&qc, &qg);
  free2 (&oc, &og);
}

static void
check_attention (const AttnShape *a, int page_size)
{
  GError *error = NULL;
  OmniKVCache kc, kg;
  const int n_seqs = 3, max_pages = 80, ctx[3] = { 41, 4, 301 };
  OmniBatch batch = { 0 };
  g_autofree int32_t *tables = g_new (int32_t, n_seqs * max_pages);

  /* pages handed out interleaved and backwards, as a real allocator might */
  for (int i = 0; i < n_seqs * max_pages; i++)
    tables[i] = n_seqs * max_pages - 1 - ((i % max_pages) * n_seqs + i / max_pages);
  g_assert_true (omni_kv_cache_init (cpu, &kc, 2, a->n_kv, a->d, page_size, n_seqs * max_pages, &error));
  g_assert_true (omni_kv_cache_init (cu, &kg, 2, a->n_kv, a->d, page_size, n_seqs * max_pages, &error));
  g_assert_no_error (error);
  batch.block_tables = tables;
  batch.n_seqs = n_seqs;
  batch.max_pages = max_pages;
  fill_cache (&kc, &kg, 1, &batch, ctx, n_seqs);

  /* decode: one token per sequence at its last position (split-K kernel) */
  const int32_t dpos[] = { 40, 3, 300 }, dseq[] = { 0, 1, 2 };
  run_attention (&kc, &kg, 1, &batch, a, dpos, dseq, 3, "attention decode");
  /* prefill-like: 20 tokens of sequence 0 and 3 of sequence 2 (one-pass kernel) */
  int32_t ppos[23], pseq[23];
  for (int i = 0; i < 23; i++) {
    ppos[i] = i < 20 ? 21 + i : 298 + (i - 20);
    pseq[i] = i < 20 ? 0 : 2;
  }
  run_attention (&kc, &kg, 1, &batch, a, ppos, pseq, 23, "attention prefill");
  omni_kv_cache_clear (cpu, &kc);
  omni_kv_cache_clear (cu, &kg);
}

static void
test_attention (void)
{
  const AttnShape shapes[] = { { 4, 4, 16 }, { 8, 2, 24 }, { 12, 3, 64 }, { 6, 1, 128 } };

  for (guint i = 0; i < G_N_ELEMENTS (shapes); i++)
    check_attention (&shapes[i], i % 2 ? 16 : 5);
}

/* ---- MoE ---- */

static void
test_moe (void)
{
  const int n = 9, E = 6, K = 2, H = 20, I = 12;
  int64_t sl[2] = { n, E }, sk[2] = { n, K }, sx[2] = { n, H }, sg[2] = { I, H }, sd[2] = { H, I };
  g_autofree float *logits = ct_random (rng, n * E), *x = ct_random (rng, n * H);
  OmniTensor lc = ct_tensor (cpu, OMNI_DTYPE_F32, 2, sl, logits), lg = ct_tensor (cu, OMNI_DTYPE_F32, 2, sl, logits);
  OmniTensor ic = ct_tensor (cpu, OMNI_DTYPE_I32, 2, sk, NULL), ig = ct_tensor (cu, OMNI_DTYPE_I32, 2, sk, NULL);
  OmniTensor wc = ct_tensor (cpu, OMNI_DTYPE_F32, 2, sk, NULL), wg = ct_tensor (cu, OMNI_DTYPE_F32, 2, sk, NULL);
  OmniTensor xc = ct_tensor (cpu, OMNI_DTYPE_F32, 2, sx, x), xg = ct_tensor (cu, OMNI_DTYPE_F32, 2, sx, x);
  OmniTensor yc = ct_tensor (cpu, OMNI_DTYPE_F32, 2, sx, NULL), yg = ct_tensor (cu, OMNI_DTYPE_F32, 2, sx, NULL);
  OmniTensor gc[6], gg[6], uc[6], ug[6], dc[6], dg[6];

  for (int norm = 0; norm < 2; norm++) {
    cpu->ops->moe_route (cpu, &ic, &wc, &lc, K, norm);
    cu->ops->moe_route (cu, &ig, &wg, &lg, K, norm);
    g_autofree int32_t *i1 = ct_download (cpu, &ic);
    g_autofree int32_t *i2 = ct_download (cu, &ig);
    g_assert_cmpmem (i1, n * K * 4, i2, n * K * 4);
    compare ("moe_route weights", &wc, &wg, TOL, 0.0);
  }
  for (int e = 0; e < E; e++) {
    g_autofree float *g = ct_random (rng, I * H), *u = ct_random (rng, I * H), *d = ct_random (rng, H * I);
    g_autofree void *gb = ct_to_dtype (g, I * H, OMNI_DTYPE_BF16), *ub = ct_to_dtype (u, I * H, OMNI_DTYPE_BF16);
    g_autofree void *db = ct_to_dtype (d, H * I, OMNI_DTYPE_BF16);
    gc[e] = ct_tensor (cpu, OMNI_DTYPE_BF16, 2, sg, gb);
    gg[e] = ct_tensor (cu, OMNI_DTYPE_BF16, 2, sg, gb);
    uc[e] = ct_tensor (cpu, OMNI_DTYPE_BF16, 2, sg, ub);
    ug[e] = ct_tensor (cu, OMNI_DTYPE_BF16, 2, sg, ub);
    dc[e] = ct_tensor (cpu, OMNI_DTYPE_BF16, 2, sd, db);
    dg[e] = ct_tensor (cu, OMNI_DTYPE_BF16, 2, sd, db);
  }
  cpu->ops->moe_experts (cpu, &yc, &xc, &ic, &wc, gc, uc, dc, E);
  cu->ops->moe_experts (cu, &yg, &xg, &ig, &wg, gg, ug, dg, E);
  /* |silu(g) u| <= |g| |u| <= (H)^2, down sums I of them: scale by the
   * largest output, the f32 sums differ only in order */
  g_autofree float *ref = ct_download (cpu, &yc);
  double scale = 0;
  for (int i = 0; i < n * H; i++)
    scale = MAX (scale, fabs (ref[i]));
  compare ("moe_experts", &yc, &yg, TOL, scale);
  for (int e = 0; e < E; e++) {
    free2 (&gc[e], &gg[e]);
    free2 (&uc[e], &ug[e]);
    free2 (&dc[e], &dg[e]);
  }
  free2 (&lc, &lg);
  free2 (&ic, &ig);
  free2 (&wc, &wg);
  free2 (&xc, &xg);
  free2 (&yc, &yg);
}

/* ---- conv ---- */

static void
check_conv (int n_spatial, const int64_t *sx, const int64_t *sw, const OmniConvParams *p, OmniDType wt,
            gboolean with_bias)
{
  int nd = n_spatial + 2;
  int64_t sy[5] = { sx[0], sw[0] }, nx = 1, nw = 1, sb[1] = { sw[0] };

  for (int i = 0; i < nd; i++) {
    nx *= sx[i];
    nw *= sw[i];
  }
  for (int i = 0; i < n_spatial; i++)
    sy[2 + i] = (sx[2 + i] + 2 * p->padding[i] - sw[2 + i]) / p->stride[i] + 1;
  g_autofree float *x = ct_random (rng, nx), *w = ct_random (rng, nw), *bias = ct_random (rng, sw[0]);
  g_autofree void *wb = ct_to_dtype (w, nw, wt), *bb = ct_to_dtype (bias, sw[0], wt);
  OmniTensor xc = ct_tensor (cpu, OMNI_DTYPE_F32, nd, sx, x), xg = ct_tensor (cu, OMNI_DTYPE_F32, nd, sx, x);
  OmniTensor wc = ct_tensor (cpu, wt, nd, sw, wb), wg = ct_tensor (cu, wt, nd, sw, wb);
  OmniTensor bc = ct_tensor (cpu, wt, 1, sb, bb), bg = ct_tensor (cu, wt, 1, sb, bb);
  OmniTensor yc = ct_tensor (cpu, OMNI_DTYPE_F32, nd, sy, NULL), yg = ct_tensor (cu, OMNI_DTYPE_F32, nd, sy, NULL);
  double kvol = (double) nw / sw[0];

  cpu->ops->conv (cpu, &yc, &xc, &wc, with_bias ? &bc : NULL, p);
  cu->ops->conv (cu, &yg, &xg, &wg, with_bias ? &bg : NULL, p);
  /* each output sums at most Ci * kvol products of magnitude < 1 (+ bias) */
  compare (n_spatial == 2 ? "conv2d" : "conv3d", &yc, &yg, TOL, kvol + 1);
  free2 (&xc, &xg);
  free2 (&wc, &wg);
  free2 (&bc, &bg);
  free2 (&yc, &yg);
}

static void
test_conv (void)
{
  const int64_t x2[4] = { 2, 3, 9, 11 }, w2[4] = { 5, 3, 3, 4 };
  const int64_t x3[5] = { 1, 3, 4, 10, 9 }, w3[5] = { 6, 3, 2, 3, 3 };
  const int64_t xp[5] = { 2, 3, 2, 16, 16 }, wp[5] = { 7, 3, 2, 8, 8 };  /* Qwen3-VL style patches */
  OmniConvParams p2 = { 2, { 2, 1 }, { 1, 2 } }, p3 = { 3, { 2, 3, 2 }, { 0, 1, 1 } };
  OmniConvParams pp = { 3, { 2, 8, 8 }, { 0, 0, 0 } };

  check_conv (2, x2, w2, &p2, OMNI_DTYPE_BF16, TRUE);
  check_conv (2, x2, w2, &p2, OMNI_DTYPE_F32, FALSE);
  check_conv (3, x3, w3, &p3, OMNI_DTYPE_F32, TRUE);
  check_conv (3, xp, wp, &pp, OMNI_DTYPE_BF16, TRUE);
}

/* ---- encoder ops: layernorm, gelu, attention_segments, set_rows, permute, M-RoPE ---- */

static void
test_layernorm (void)
{
  const OmniDType types[] = { OMNI_DTYPE_F32, OMNI_DTYPE_BF16, OMNI_DTYPE_F16 };
  int64_t sx[2] = { 7, 131 }, sw[1] = { 131 };

  for (guint t = 0; t < G_N_ELEMENTS (types); t++) {
    g_autofree float *x = ct_random (rng, 7 * 131), *w = ct_random (rng, 131), *bias = ct_random (rng, 131);
    for (int i = 0; i < 7 * 131; i++)
      x[i] = x[i] * (float) (i / 131 + 1) + 0.3f * (float) (i / 131);   /* rows of other scale and mean */
    g_autofree void *wb = ct_to_dtype (w, 131, types[t]), *bb = ct_to_dtype (bias, 131, types[t]);
    OmniTensor xc = ct_tensor (cpu, OMNI_DTYPE_F32, 2, sx, x), xg = ct_tensor (cu, OMNI_DTYPE_F32, 2, sx, x);
    OmniTensor wc = ct_tensor (cpu, types[t], 1, sw, wb), wg = ct_tensor (cu, types[t], 1, sw, wb);
    OmniTensor bc = ct_tensor (cpu, types[t], 1, sw, bb), bg = ct_tensor (cu, types[t], 1, sw, bb);
    OmniTensor yc = ct_tensor (cpu, OMNI_DTYPE_F32, 2, sx, NULL), yg = ct_tensor (cu, OMNI_DTYPE_F32, 2, sx, NULL);

    cpu->ops->layernorm (cpu, &yc, &xc, &wc, &bc, 1e-5f);
    cu->ops->layernorm (cu, &yg, &xg, &wg, &bg, 1e-5f);
    /* normalised values are a few units; |w|, |bias| <= 1 */
    compare ("layernorm", &yc, &yg, TOL, 4.0);
    cu->ops->layernorm (cu, &xg, &xg, &wg, &bg, 1e-5f);   /* in place: the same bits */
    compare ("layernorm in place", &yc, &xg, TOL, 4.0);
    {
      g_autofree float *a = ct_download (cu, &yg);
      g_autofree float *b = ct_download (cu, &xg);
      g_assert_cmpmem (a, yg.n_bytes, b, xg.n_bytes);
    }
    free2 (&xc, &xg);
    free2 (&wc, &wg);
    free2 (&bc, &bg);
    free2 (&yc, &yg);
  }
}

static void
test_gelu (void)
{
  int64_t s[2] = { 3, 337 };
  g_autofree float *x = ct_random (rng, 3 * 337);

  for (int i = 0; i < 3 * 337; i++)
    x[i] *= 6.0f;
  for (int form = 0; form < 2; form++) {
    OmniTensor xc = ct_tensor (cpu, OMNI_DTYPE_F32, 2, s, x), xg = ct_tensor (cu, OMNI_DTYPE_F32, 2, s, x);
    OmniTensor yc = ct_tensor (cpu, OMNI_DTYPE_F32, 2, s, NULL), yg = ct_tensor (cu, OMNI_DTYPE_F32, 2, s, NULL);

    cpu->ops->gelu (cpu, &yc, &xc, form);
    cu->ops->gelu (cu, &yg, &xg, form);
    compare (form ? "gelu tanh" : "gelu erf", &yc, &yg, TOL, 1.0);
    cu->ops->gelu (cu, &xg, &xg, form);
    compare (form ? "gelu tanh in place" : "gelu erf in place", &yc, &xg, TOL, 1.0);
    free2 (&xc, &xg);
    free2 (&yc, &yg);
  }
}

static void
check_attention_segments (const int *lens, int n_segs, int64_t heads, int64_t d)
{
  g_autofree int32_t *cu_seqlens = g_new (int32_t, n_segs + 1);
  int64_t n;

  cu_seqlens[0] = 0;
  for (int s = 0; s < n_segs; s++)
    cu_seqlens[s + 1] = cu_seqlens[s] + lens[s];
  n = cu_seqlens[n_segs];
  int64_t sq[3] = { n, heads, d }, so[2] = { n, heads * d };
  g_autofree float *q = ct_random (rng, n * heads * d), *k = ct_random (rng, n * heads * d);
  g_autofree float *v = ct_random (rng, n * heads * d);
  for (int64_t i = 0; i < n * heads * d; i++)
    q[i] *= 3.0f;
  OmniTensor qc = ct_tensor (cpu, OMNI_DTYPE_F32, 3, sq, q), qg = ct_tensor (cu, OMNI_DTYPE_F32, 3, sq, q);
  OmniTensor kc = ct_tensor (cpu, OMNI_DTYPE_F32, 3, sq, k), kg = ct_tensor (cu, OMNI_DTYPE_F32, 3, sq, k);
  OmniTensor vc = ct_tensor (cpu, OMNI_DTYPE_F32, 3, sq, v), vg = ct_tensor (cu, OMNI_DTYPE_F32, 3, sq, v);
  OmniTensor oc = ct_tensor (cpu, OMNI_DTYPE_F32, 2, so, NULL), og = ct_tensor (cu, OMNI_DTYPE_F32, 2, so, NULL);
  float scale = 1.0f / sqrtf ((float) d);

  cpu->ops->attention_segments (cpu, &oc, &qc, &kc, &vc, cu_seqlens, n_segs, scale);
  cu->ops->attention_segments (cu, &og, &qg, &kg, &vg, cu_seqlens, n_segs, scale);
  /* convex combinations of values in [-1, 1] */
  compare ("attention_segments", &oc, &og, TOL, 1.0);
  free2 (&qc, &qg);
  free2 (&kc, &kg);
  free2 (&vc, &vg);
  free2 (&oc, &og);
}

static void
test_attention_segments (void)
{
  const int lens_a[] = { 1, 7, 33, 1, 64, 5, 2 }, lens_b[] = { 301 }, lens_c[] = { 1 };
  const int lens_d[] = { 9, 1, 1, 1, 40 };

  check_attention_segments (lens_a, G_N_ELEMENTS (lens_a), 3, 20);
  check_attention_segments (lens_b, G_N_ELEMENTS (lens_b), 2, 128);
  check_attention_segments (lens_c, G_N_ELEMENTS (lens_c), 4, 64);
  check_attention_segments (lens_d, G_N_ELEMENTS (lens_d), 5, 72);
}

static void
test_set_rows (void)
{
  const int32_t rows[] = { 12, 0, 7, 3, 9 };
  const OmniDType types[] = { OMNI_DTYPE_F32, OMNI_DTYPE_BF16 };
  int64_t sd[2] = { 13, 17 }, ss[2] = { 5, 17 };

  for (guint t = 0; t < G_N_ELEMENTS (types); t++) {
    g_autofree float *dst = ct_random (rng, 13 * 17), *src = ct_random (rng, 5 * 17);
    g_autofree void *db = ct_to_dtype (dst, 13 * 17, types[t]), *sb = ct_to_dtype (src, 5 * 17, types[t]);
    OmniTensor dc = ct_tensor (cpu, types[t], 2, sd, db), dg = ct_tensor (cu, types[t], 2, sd, db);
    OmniTensor sc = ct_tensor (cpu, types[t], 2, ss, sb), sg = ct_tensor (cu, types[t], 2, ss, sb);

    cpu->ops->set_rows (cpu, &dc, &sc, rows, 5);
    cu->ops->set_rows (cu, &dg, &sg, rows, 5);
    g_autofree void *a = ct_download (cpu, &dc);
    g_autofree void *b = ct_download (cu, &dg);
    g_assert_cmpmem (a, dc.n_bytes, b, dg.n_bytes);
    g_assert_cmpint (memcmp (a, db, dc.n_bytes), !=, 0);   /* the scatter wrote something */
    free2 (&dc, &dg);
    free2 (&sc, &sg);
  }
}

static void
check_permute (int n_dims, const int64_t *shape, const int *perm)
{
  int64_t n = 1, ys[4];

  for (int i = 0; i < n_dims; i++) {
    n *= shape[i];
    ys[i] = shape[perm[i]];
  }
  g_autofree float *x = ct_random (rng, n);
  OmniTensor xc = ct_tensor (cpu, OMNI_DTYPE_F32, n_dims, shape, x), xg = ct_tensor (cu, OMNI_DTYPE_F32, n_dims, shape, x);
  OmniTensor yc = ct_tensor (cpu, OMNI_DTYPE_F32, n_dims, ys, NULL), yg = ct_tensor (cu, OMNI_DTYPE_F32, n_dims, ys, NULL);

  cpu->ops->permute (cpu, &yc, &xc, perm);
  cu->ops->permute (cu, &yg, &xg, perm);
  compare ("permute", &yc, &yg, 0.0, 0.0);
  free2 (&xc, &xg);
  free2 (&yc, &yg);
}

static void
test_permute (void)
{
  const int64_t s2[2] = { 37, 53 }, s3[3] = { 5, 7, 11 }, s4[4] = { 3, 5, 7, 9 };
  const int p2[2] = { 1, 0 }, p3[][3] = { { 0, 2, 1 }, { 2, 0, 1 }, { 1, 2, 0 } };
  const int p4[][4] = { { 0, 2, 1, 3 }, { 3, 1, 0, 2 }, { 1, 3, 2, 0 }, { 2, 3, 0, 1 } };

  check_permute (2, s2, p2);
  for (guint i = 0; i < G_N_ELEMENTS (p3); i++)
    check_permute (3, s3, p3[i]);
  for (guint i = 0; i < G_N_ELEMENTS (p4); i++)
    check_permute (4, s4, p4[i]);
}

static void
test_mrope (void)
{
  const int sections[][3] = { { 5, 2, 2 }, { 4, 3, 2 } };   /* half = 9 */
  int64_t sx[3] = { 31, 3, 20 };
  float inv_freq[9];
  int32_t pos[3 * 31];
  OmniRope rope = { .rot_dim = 18, .inv_freq = inv_freq, .attn_scale = 1.0f };
  OmniRope plain = rope;

  for (int i = 0; i < 9; i++)
    inv_freq[i] = (float) pow (10000.0, -2.0 * i / 18);
  for (int eq = 0; eq < 2; eq++) {
    for (int i = 0; i < 31; i++) {
      pos[i] = i * 131 % 4099;
      pos[31 + i] = eq ? pos[i] : i % 7;
      pos[62 + i] = eq ? pos[i] : i % 5 + 2;
    }
    for (int form = 0; form < 2; form++) {
      g_autofree float *x = ct_random (rng, 31 * 3 * 20);
      OmniTensor xc = ct_tensor (cpu, OMNI_DTYPE_F32, 3, sx, x), xg = ct_tensor (cu, OMNI_DTYPE_F32, 3, sx, x);

      memcpy (rope.mrope_section, sections[form], sizeof rope.mrope_section);
      rope.mrope_interleaved = form == 0;
      cpu->ops->rope (cpu, &xc, pos, &rope);
      cu->ops->rope (cu, &xg, pos, &rope);
      compare (form == 0 ? "mrope interleaved" : "mrope chunked", &xc, &xg, TOL, 1.0);
      if (eq) {   /* three equal axes: plain rope, bit for bit */
        OmniTensor pg = ct_tensor (cu, OMNI_DTYPE_F32, 3, sx, x);
        cu->ops->rope (cu, &pg, pos, &plain);
        g_autofree float *a = ct_download (cu, &xg);
        g_autofree float *b = ct_download (cu, &pg);
        g_assert_cmpmem (a, xg.n_bytes, b, pg.n_bytes);
        cu->ops->tensor_free (cu, &pg);
      }
      free2 (&xc, &xg);
    }
  }
}

/* ---- the arena ---- */

/* OMNI_CUDA_POOL_MB sizes the arena; a tensor beyond it, or a bad value, is
 * a GError, never a crash. Runs in a subprocess (setenv). */
static void
test_arena (void)
{
  if (g_test_subprocess ()) {
    GError *error = NULL;
    OmniTensor t;
    int64_t big[2] = { 1 << 14, 1 << 14 }, ok[2] = { 1 << 10, 1 << 10 };
    OmniBackend *b;
    OmniCudaStats s;

    g_setenv ("OMNI_CUDA_POOL_MB", "sixty-four", TRUE);
    g_assert_null (omni_backend_open ("cuda-emu", &error));
    g_assert_error (error, OMNI_ERROR, OMNI_ERROR_INVALID);
    g_assert_nonnull (strstr (error->message, "OMNI_CUDA_POOL_MB"));
    g_clear_error (&error);
    g_setenv ("OMNI_CUDA_POOL_MB", "64", TRUE);
    b = ct_open ("cuda-emu");
    ct_stats (b, &s);
    g_assert_cmpuint (s.pool_size, ==, 64u << 20);
    g_assert_false (b->ops->tensor_alloc (b, &t, OMNI_DTYPE_F32, 2, big, &error));   /* 1 GiB */
    g_assert_error (error, OMNI_ERROR, OMNI_ERROR_NO_MEMORY);
    g_assert_nonnull (strstr (error->message, "OMNI_CUDA_POOL_MB"));
    g_clear_error (&error);
    g_assert_true (b->ops->tensor_alloc (b, &t, OMNI_DTYPE_F32, 2, ok, &error));      /* 4 MiB */
    b->ops->tensor_free (b, &t);
    omni_backend_close (b);
    g_print ("checked\n");
    return;
  }
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_passed ();
  g_test_trap_assert_stdout ("*checked*");
}

int
main (int argc, char **argv)
{
  int ret;

  g_test_init (&argc, &argv, NULL);
  rng = g_rand_new_with_seed (5);
  /* the arena subprocess sets its environment before any thread exists */
  if (!g_test_subprocess ()) {
    cpu = ct_open ("cpu");
    cu = ct_open ("cuda-emu");
  }
  g_test_add_func ("/cuda-emu/matmul", test_matmul);
  g_test_add_func ("/cuda-emu/embed-get-rows", test_embed_get_rows);
  g_test_add_func ("/cuda-emu/rmsnorm", test_rmsnorm);
  g_test_add_func ("/cuda-emu/rope", test_rope);
  g_test_add_func ("/cuda-emu/elementwise", test_elementwise);
  g_test_add_func ("/cuda-emu/attention", test_attention);
  g_test_add_func ("/cuda-emu/moe", test_moe);
  g_test_add_func ("/cuda-emu/conv", test_conv);
  g_test_add_func ("/cuda-emu/layernorm", test_layernorm);
  g_test_add_func ("/cuda-emu/gelu", test_gelu);
  g_test_add_func ("/cuda-emu/attention-segments", test_attention_segments);
  g_test_add_func ("/cuda-emu/set-rows", test_set_rows);
  g_test_add_func ("/cuda-emu/permute", test_permute);
  g_test_add_func ("/cuda-emu/mrope", test_mrope);
  g_test_add_func ("/cuda-emu/arena", test_arena);
  ret = g_test_run ();
  omni_backend_close (cu);     /* NULL-safe */
  omni_backend_close (cpu);
  g_rand_free (rng);
  return ret;
}
