/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The attention work item (one tile of queries against the keys they see),
 * a per-ISA template (see cpu-simd.h) that cpu-attention.c includes once per
 * ISA. Sums keep 16 lanes whatever SIMD_VW (SIMD_VW-wide pieces of them),
 * folded in the fixed tree of omni_cpu_dot_f32, so every ISA gives the
 * same bits. */

#include "cpu-simd.h"

#define ATTN_NV (16 / SIMD_VW)

/* The 16 lanes @acc folded as omni_cpu_dot_f32 does: lane l += lane l + w
 * for w = 8, 4, 2, 1. */
SIMD_INLINE float
SIMD_FN (fold) (VF *acc)
{
  float t[SIMD_VW];

#pragma GCC unroll 4
  for (int w = ATTN_NV / 2; w >= 1; w /= 2)
#pragma GCC unroll 4
    for (int u = 0; u < w; u++)
      acc[u] += acc[u + w];
  memcpy (t, acc, sizeof t);
#pragma GCC unroll 8
  for (int w = SIMD_VW / 2; w >= 1; w /= 2)
#pragma GCC unroll 8
    for (int l = 0; l < w; l++)
      t[l] += t[l + w];
  return t[0];
}

/* The dots of VW rows with key row @k, from @qt (those rows' queries
 * transposed: element i of row r at qt[i * ATTN_MAX_ROWS + r]), into @dots.
 * Each row's 16 lanes are accumulated and folded as omni_cpu_dot_f32 does (the tail
 * into the first lanes), one
 * vector per lane across the rows, so the bits are its and no
 * horizontal sum is needed. */
SIMD_INLINE void
SIMD_FN (dots_t) (const float *qt, const float *k, int64_t d, float *dots)
{
  VF acc[16];
  int64_t i = 0;

#pragma GCC unroll 16
  for (int l = 0; l < 16; l++)
    acc[l] = (VF) { 0 };
  for (; i + 16 <= d; i += 16)
#pragma GCC unroll 16
    for (int l = 0; l < 16; l++)
      acc[l] += *(const VF *) (qt + (i + l) * ATTN_MAX_ROWS) * k[i + l];
  /* omni_cpu_dot_f32 adds 0 to the lanes past d: acc is never -0, so skipping them is equal */
  for (int l = 0; i + l < d; l++)
    acc[l] += *(const VF *) (qt + (i + l) * ATTN_MAX_ROWS) * k[i + l];
#pragma GCC unroll 4
  for (int w = 8; w >= 1; w /= 2)
#pragma GCC unroll 8
    for (int l = 0; l < w; l++)
      acc[l] += acc[l + w];
  *(VFU *) dots = acc[0];
}

/* One step of the fold tree over a pair of dots' partial sums: @p and @q
 * hold groups of 2 * half lanes, the result their groups' lane l + lane
 * l + half (l < half), @p's groups first. */
#if SIMD_VW == 16
#define ATTN_PAIR(p, q, half)                                                                      \
  (half == 8   ? ATTN_SH (p, q, 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23, 8)        \
   : half == 4 ? ATTN_SH (p, q, 0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27, 4)      \
   : half == 2 ? ATTN_SH (p, q, 0, 1, 4, 5, 8, 9, 12, 13, 16, 17, 20, 21, 24, 25, 28, 29, 2)      \
               : ATTN_SH (p, q, 0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30, 1))
#define ATTN_SH(p, q, a, b, c, d, e, f, g, h, i, j, k, l, m, n, o, r, w)                           \
  (__builtin_shufflevector (p, q, a, b, c, d, e, f, g, h, i, j, k, l, m, n, o, r) +                \
   __builtin_shufflevector (p, q, a + w, b + w, c + w, d + w, e + w, f + w, g + w, h + w, i + w,   \
                            j + w, k + w, l + w, m + w, n + w, o + w, r + w))
#elif SIMD_VW == 8
#define ATTN_PAIR(p, q, half)                                                                      \
  (half == 4   ? ATTN_SH (p, q, 0, 1, 2, 3, 8, 9, 10, 11, 4)                                     \
   : half == 2 ? ATTN_SH (p, q, 0, 1, 4, 5, 8, 9, 12, 13, 2)                                     \
               : ATTN_SH (p, q, 0, 2, 4, 6, 8, 10, 12, 14, 1))
#define ATTN_SH(p, q, a, b, c, d, e, f, g, h, w)                                                   \
  (__builtin_shufflevector (p, q, a, b, c, d, e, f, g, h) +                                        \
   __builtin_shufflevector (p, q, a + w, b + w, c + w, d + w, e + w, f + w, g + w, h + w))
#else
#define ATTN_PAIR(p, q, half)                                                                      \
  (half == 2 ? ATTN_SH (p, q, 0, 1, 4, 5, 2) : ATTN_SH (p, q, 0, 2, 4, 6, 1))
#define ATTN_SH(p, q, a, b, c, d, w)                                                               \
  (__builtin_shufflevector (p, q, a, b, c, d) + __builtin_shufflevector (p, q, a + w, b + w, c + w, d + w))
#endif

/* The dots of query row @q with the SIMD_VW key rows @k, into @dots: each
 * accumulated and folded as omni_cpu_dot_f32 does, the last fold steps done for all
 * the keys at once (pairs of vectors shuffled into one), so the bits
 * are its without a horizontal sum per key. */
SIMD_INLINE void
SIMD_FN (dots_k) (const float *q, const float *const *k, int64_t d, float *dots)
{
  VF acc[SIMD_VW][ATTN_NV];
  int64_t i = 0;

#pragma GCC unroll 16
  for (int c = 0; c < SIMD_VW; c++)
#pragma GCC unroll 4
    for (int u = 0; u < ATTN_NV; u++)
      acc[c][u] = (VF) { 0 };
  for (; i + 16 <= d; i += 16)
#pragma GCC unroll 4
    for (int u = 0; u < ATTN_NV; u++) {
      VF qv = *(const VFU *) (q + i + u * SIMD_VW);

#pragma GCC unroll 16
      for (int c = 0; c < SIMD_VW; c++)
        acc[c][u] += qv * *(const VFU *) (k[c] + i + u * SIMD_VW);
    }
  /* omni_cpu_dot_f32 adds 0 to the lanes past d: acc is never -0, so skipping them is equal */
  for (int c = 0; c < SIMD_VW; c++)
    for (int64_t j = i; j < d; j++)
      acc[c][(j - i) / SIMD_VW][(j - i) % SIMD_VW] += q[j] * k[c][j];
#pragma GCC unroll 16
  for (int c = 0; c < SIMD_VW; c++)
#pragma GCC unroll 4
    for (int w = ATTN_NV / 2; w >= 1; w /= 2)
#pragma GCC unroll 4
      for (int u = 0; u < w; u++)
        acc[c][u] += acc[c][u + w];
  /* the lane fold: dots n and n + step paired, half the lanes each round */
#pragma GCC unroll 4
  for (int step = 1, half = SIMD_VW / 2; half >= 1; step *= 2, half /= 2)
#pragma GCC unroll 16
    for (int c = 0; c + step < SIMD_VW; c += 2 * step)
      acc[c][0] = ATTN_PAIR (acc[c][0], acc[c + step][0], half);
  *(VFU *) dots = acc[0][0];
}

#undef ATTN_PAIR
#undef ATTN_SH

/* Online softmax step of one row over its @nv valid scores @s of the block:
 * s becomes p = exp(s - m) (zero past nv), the running max @m and sum @l
 * are updated and the row's accumulator @acc rescaled. */
SIMD_INLINE void
SIMD_FN (softmax) (float *s, int nv, float *m, float *l, float *acc, int64_t d16)
{
  VF sum[ATTN_NV] = { { 0 } };
  float bm = -INFINITY, alpha, mn;

  for (int t = 0; t < nv; t++)
    bm = MAX (bm, s[t]);
  mn = MAX (*m, bm);
  alpha = expf (*m - mn);
  for (int t = 0; t < ATTN_KEY_BLOCK; t += SIMD_VW) {
    VF *p = (VF *) (s + t);

    *p -= mn;
    SIMD_FN (exp) (p);
  }
  for (int t = nv; t < ATTN_KEY_BLOCK; t++)
    s[t] = 0.0f;
  for (int t = 0; t < ATTN_KEY_BLOCK; t += 16)
#pragma GCC unroll 4
    for (int u = 0; u < ATTN_NV; u++)
      sum[u] += *(const VF *) (s + t + u * SIMD_VW);
  *l = *l * alpha + SIMD_FN (fold) (sum);
  *m = mn;
  if (alpha != 1.0f)
    for (int64_t j = 0; j < d16; j += SIMD_VW)
      *(VF *) (acc + j) *= alpha;
}

/* acc[j .. j + nvec * SIMD_VW) += the sum over t < nv of p[t] v[t], in key
 * order; @nvec independent accumulators hide the add latency. */
SIMD_INLINE void
SIMD_FN (values_n) (float *acc, const float *p, const float *const *vp, int nv, int64_t j, const int nvec)
{
  VF a[8];

#pragma GCC unroll 8
  for (int u = 0; u < nvec; u++)
    a[u] = *(VF *) (acc + j + u * SIMD_VW);
  for (int t = 0; t < nv; t++)
#pragma GCC unroll 8
    for (int u = 0; u < nvec; u++)
      a[u] += p[t] * *(const VFU *) (vp[t] + j + u * SIMD_VW);
#pragma GCC unroll 8
  for (int u = 0; u < nvec; u++)
    *(VF *) (acc + j + u * SIMD_VW) = a[u];
}

/* acc += the sum over the block's keys t < nv of p[t] v[t], in key order. */
SIMD_INLINE void
SIMD_FN (values) (float *acc, const float *p, const float *const *vp, int nv, int64_t d)
{
  int64_t j = 0;

  for (; j + 8 * SIMD_VW <= d; j += 8 * SIMD_VW)
    SIMD_FN (values_n) (acc, p, vp, nv, j, 8);
  for (; j + 2 * SIMD_VW <= d; j += 2 * SIMD_VW)
    SIMD_FN (values_n) (acc, p, vp, nv, j, 2);
  for (; j < d; j++)
    for (int t = 0; t < nv; t++)
      acc[j] += p[t] * vp[t][j];
}

/* K and V rows (this item's kv head) of keys t0 .. t0 + nk - 1 into @kp,
 * @vp; the next block's rows are prefetched, so they come in while this
 * block is computed. */
SIMD_INLINE void
SIMD_FN (block_rows) (const AttnTile *a, int64_t t0, int nk, int64_t ctx, const float **kp, const float **vp)
{
  const OmniKVCache *kv = a->kv;

  for (int t = 0; t < nk; t++) {
    int64_t page = page_of (kv, a->batch, a->seq, t0 + t), slot = (t0 + t) % kv->page_size;
    kp[t] = kv_row (kv, &kv->k, a->layer, page, slot) + a->kvh * a->d;
    vp[t] = kv_row (kv, &kv->v, a->layer, page, slot) + a->kvh * a->d;
  }
  for (int64_t t = t0 + ATTN_KEY_BLOCK; t < MIN (ctx, t0 + 2 * ATTN_KEY_BLOCK); t++) {
    int64_t page = page_of (kv, a->batch, a->seq, t), slot = t % kv->page_size;
    const char *kn = (const char *) (kv_row (kv, &kv->k, a->layer, page, slot) + a->kvh * a->d);
    const char *vn = (const char *) (kv_row (kv, &kv->v, a->layer, page, slot) + a->kvh * a->d);

    for (int64_t off = 0; off < a->d * (int64_t) sizeof (float); off += 64) {
      __builtin_prefetch (kn + off);
      __builtin_prefetch (vn + off);
    }
  }
}

/* Every row of @a starts with no keys seen. */
SIMD_INLINE void
SIMD_FN (attend_init) (const AttnTile *a)
{
  for (int r = 0; r < a->rows; r++) {
    a->m[r] = -INFINITY;
    a->l[r] = 0.0f;
    memset (a->acc + r * a->d16, 0, a->d16 * sizeof (float));
  }
}

/* The rows of @a take in the keys t0 .. t0 + nk - 1 (rows @kp, @vp) that
 * they see. */
SIMD_INLINE void
SIMD_FN (attend_block) (const AttnTile *a, float *scores, int64_t t0, int nk, const float *const *kp,
                        const float *const *vp)
{
  if (a->qt == NULL) {
    /* a row at a time, SIMD_VW keys at a time */
    for (int r = 0; r < a->rows; r++) {
      int nv = (int) MIN ((int64_t) nk, a->pos0 + r / a->group + 1 - t0);

      for (int t = 0; t < nv; t += SIMD_VW) {
        const float *kc[SIMD_VW];
        float dots[SIMD_VW];

        for (int c = 0; c < SIMD_VW; c++)
          kc[c] = kp[MIN (t + c, nk - 1)];
        SIMD_FN (dots_k) (a->q[r], kc, a->d, dots);
        for (int c = 0; c < SIMD_VW && t + c < nv; c++)
          scores[r * ATTN_KEY_BLOCK + t + c] = dots[c] * a->scale;
      }
    }
  } else {
    /* each key row once, against every row that sees it, SIMD_VW rows at a time */
    for (int t = 0; t < nk; t++) {
      /* the first row whose token is at or past key t0 + t */
      int64_t r0 = MAX ((int64_t) 0, (t0 + t - a->pos0) * a->group);

      for (int64_t rc = r0 - r0 % SIMD_VW; rc < a->rows; rc += SIMD_VW) {
        float dots[SIMD_VW];

        SIMD_FN (dots_t) (a->qt + rc, kp[t], a->d, dots);
        for (int64_t r = MAX (rc, r0); r < MIN ((int64_t) a->rows, rc + SIMD_VW); r++)
          scores[r * ATTN_KEY_BLOCK + t] = dots[r - rc] * a->scale;
      }
    }
  }
  for (int r = 0; r < a->rows; r++) {
    int nv = (int) MIN ((int64_t) nk, a->pos0 + r / a->group + 1 - t0);
    float *s = scores + r * ATTN_KEY_BLOCK, *acc = a->acc + r * a->d16;

    if (nv <= 0)
      continue;
    SIMD_FN (softmax) (s, nv, &a->m[r], &a->l[r], acc, a->d16);
    SIMD_FN (values) (acc, s, vp, nv, a->d);
  }
}

/* A tile item: every query row of @a over all the keys it sees, block by
 * block, normalized into the rows' outputs. */
static SIMD_TARGET void
SIMD_FN (attend_tile) (const AttnTile *a, float *scores)
{
  int64_t ctx = a->pos0 + (a->rows - 1) / a->group + 1;
  const float *kp[ATTN_KEY_BLOCK], *vp[ATTN_KEY_BLOCK];

  SIMD_FN (attend_init) (a);
  for (int64_t t0 = 0; t0 < ctx; t0 += ATTN_KEY_BLOCK) {
    int nk = (int) MIN ((int64_t) ATTN_KEY_BLOCK, ctx - t0);

    SIMD_FN (block_rows) (a, t0, nk, ctx, kp, vp);
    SIMD_FN (attend_block) (a, scores, t0, nk, kp, vp);
  }
  for (int r = 0; r < a->rows; r++)
    for (int64_t j = 0; j < a->d; j++)
      a->out[r][j] = a->acc[r * a->d16 + j] / a->l[r];
}

/* Points @h at the rows of kv head @g of the one-token item @a (whose rows
 * are kv head 0's). */
SIMD_INLINE void
SIMD_FN (head_rows) (const AttnTile *a, AttnTile *h, int g)
{
  int64_t first = (int64_t) g * a->group;

  for (int r = 0; r < a->rows; r++)
    h->q[r] = a->q[r] + first * a->d;
  h->acc = a->acc + first * a->d16;
  h->m = a->m + first;
  h->l = a->l + first;
  h->kvh = g;
}

/* A split item (one decode token): keys @k0 .. @k1 - 1 for the kv heads
 * @kv0 .. @kv1 - 1, block by block and within a block head by head, so the
 * cache is read in whole contiguous rows; @a holds the token and the rows of
 * kv head 0 (q, acc, m, l), the next heads' rows follow at group strides.
 * The running state stays unnormalized, for the merge. */
static SIMD_TARGET void
SIMD_FN (attend_split) (AttnTile *a, float *scores, int64_t k0, int64_t k1, int kv0, int kv1)
{
  const OmniKVCache *kv = a->kv;
  AttnTile h = *a;
  const float *rk[ATTN_KEY_BLOCK], *rv[ATTN_KEY_BLOCK], *kp[ATTN_KEY_BLOCK], *vp[ATTN_KEY_BLOCK];

  for (int g = kv0; g < kv1; g++) {
    SIMD_FN (head_rows) (a, &h, g);
    SIMD_FN (attend_init) (&h);
  }
  for (int64_t t0 = k0; t0 < k1; t0 += ATTN_KEY_BLOCK) {
    int nk = (int) MIN ((int64_t) ATTN_KEY_BLOCK, k1 - t0);

    for (int t = 0; t < nk; t++) {
      int64_t page = page_of (kv, a->batch, a->seq, t0 + t), slot = (t0 + t) % kv->page_size;
      rk[t] = kv_row (kv, &kv->k, a->layer, page, slot);
      rv[t] = kv_row (kv, &kv->v, a->layer, page, slot);
    }
    /* no software prefetch: the rows are read whole and in order, which the
     * hardware prefetcher follows (prefetching each next head's rows was
     * 5 % slower) */
    for (int g = kv0; g < kv1; g++) {
      for (int t = 0; t < nk; t++) {
        kp[t] = rk[t] + g * a->d;
        vp[t] = rv[t] + g * a->d;
      }
      SIMD_FN (head_rows) (a, &h, g);
      SIMD_FN (attend_block) (&h, scores, t0, nk, kp, vp);
    }
  }
}

#undef ATTN_NV
#include "cpu-simd-end.h"
