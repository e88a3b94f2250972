/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Paged KV cache writes and causal GQA attention over it. A token at
 * position p of sequence s sees the keys 0..p of s; position t lives in page
 * block_tables[s][t / page_size], slot t % page_size.
 *
 * The cache is read once per step and kv head: one work item is a tile of
 * consecutive tokens of one sequence (a decode token alone, or up to
 * ATTN_TILE_TOKENS of a prefill) times the q heads sharing one kv head, and
 * every K/V row of a block of keys is used by all the tile's queries while it
 * is in cache. Softmax is online (one pass over the keys, flash style): a
 * running max and sum per query, the accumulated V rescaled when the max
 * grows. Scores are the matmul's 16-lane dot product times the scale,
 * computed a vector of rows (a prefill tile) or of keys (a few rows) at a
 * time with the same bits.
 *
 * A decode token (alone in its tile) at a context longer than
 * ATTN_SPLIT_KEYS is split over its keys instead (flash-decoding): an item
 * is a range of ATTN_SPLIT_KEYS keys for all kv heads (or a group of them
 * when there are few splits), reading whole contiguous cache rows, which
 * one thread streams far faster than one head's 512 B of every row. Each
 * item leaves an unnormalized max, sum and accumulator per head; the last
 * item of the token to finish merges them in split order. The splits
 * depend on the context alone, so the bits do not depend on the threads,
 * and with one split the merge is the tile's own acc / l.
 *
 * The work item is written once with GCC vector types
 * (cpu-attention-tile.h) and compiled for three vector widths: portable,
 * AVX2 and AVX-512, picked at run time; all three give the same bits. */
#include <math.h>
#include "cpu-backend.h"

/* Keys per block: a block of K and of V rows (head_dim 128: 16 KB each)
 * stays in L1 while every query of the tile uses it. */
#define ATTN_KEY_BLOCK 32
/* Most queries (tile tokens x q heads per kv head) per work item. */
#define ATTN_MAX_ROWS 32
#define ATTN_TILE_TOKENS 16
/* Keys per split of a decode token's work (a multiple of ATTN_KEY_BLOCK). */
#define ATTN_SPLIT_KEYS 64
/* Fewest rows for which a work item transposes its queries, so that the
 * dots of a key come out a vector of rows at a time. */
#define ATTN_QT_ROWS 8

/* Row (n_kv_heads x head_dim floats) of @layer at @page/@slot in @t (k or v). */
static inline float *
kv_row (const OmniKVCache *kv, const OmniTensor *t, int layer, int64_t page, int64_t slot)
{
  int64_t row = ((int64_t) layer * kv->n_pages + page) * kv->page_size + slot;
  return (float *) t->data + row * kv->n_kv_heads * kv->head_dim;
}

static inline int64_t
page_of (const OmniKVCache *kv, const OmniBatch *batch, int32_t seq, int64_t pos)
{
  return batch->block_tables[(int64_t) seq * batch->max_pages + pos / kv->page_size];
}

void
omni_cpu_kv_store (OmniBackend *b, OmniKVCache *kv, int layer, const OmniTensor *k,
                   const OmniTensor *v, const OmniBatch *batch)
{
  int64_t n, width;

  if (!omni_cpu_check_f32 (k, "kv_store", "k") || !omni_cpu_check_f32 (v, "kv_store", "v"))
    return;
  n = k->shape[0];
  width = (int64_t) kv->n_kv_heads * kv->head_dim;
  g_return_if_fail (omni_tensor_rows (k) * k->shape[k->n_dims - 1] == n * width);
  g_return_if_fail (v->shape[0] == n && omni_tensor_rows (v) * v->shape[v->n_dims - 1] == n * width);
  if (!omni_batch_check (kv, layer, batch, n, "cpu", "kv_store"))
    return;

  for (int64_t i = 0; i < n; i++) {
    int64_t p = batch->pos[i];
    int64_t page = page_of (kv, batch, batch->seq[i], p);

    memcpy (kv_row (kv, &kv->k, layer, page, p % kv->page_size), (const float *) k->data + i * width,
            width * sizeof (float));
    memcpy (kv_row (kv, &kv->v, layer, page, p % kv->page_size), (const float *) v->data + i * width,
            width * sizeof (float));
  }
}

/* One work item's view: @rows queries q[r] (r = token * group + head), the
 * first query's token at position @pos0, each next token one further; the
 * rows' running max @m, sum @l and accumulators @acc ([rows][d16]). */
typedef struct {
  const float *q[ATTN_MAX_ROWS];
  float *out[ATTN_MAX_ROWS];
  const float *qt;  /* NULL, or the rows' queries transposed (see dots_t) */
  float *acc, *m, *l;
  int rows, group;
  int64_t pos0, d, d16;
  const OmniKVCache *kv;
  const OmniBatch *batch;
  int layer, kvh;
  int32_t seq;
  float scale;
} AttnTile;

#define SIMD_TEMPLATE "cpu-attention-tile.h"
#include "cpu-simd-instances.h"

/* One ISA's work item kernels. */
typedef struct {
  void (*tile) (const AttnTile *a, float *scores);
  void (*split) (AttnTile *a, float *scores, int64_t k0, int64_t k1, int kv0, int kv1);
} AttnFns;

/* The work item kernels of the backend's ISA (cpuid, or $OMNI_CPU_ISA). */
static AttnFns
attend_fns (OmniCpuIsa isa)
{
#ifdef SIMD_X86
  if (isa == OMNI_CPU_ISA_AVX512)
    return (AttnFns) { attend_tile_avx512, attend_split_avx512 };
  if (isa == OMNI_CPU_ISA_AVX2)
    return (AttnFns) { attend_tile_avx2, attend_split_avx2 };
#endif
  return (AttnFns) { attend_tile_portable, attend_split_portable };
}

typedef struct {
  float *out;
  const float *q;
  const OmniKVCache *kv;
  const OmniBatch *batch;
  int layer;
  int64_t n_heads, group, d16;
  float scale;
  int64_t n_tiles;
  const int32_t *tiles;  /* [n_tiles + 1]: first token of each tile */
  const int32_t *splits; /* [n_tiles]: key splits of a split tile, 0 for a tile item per kv head */
  const int32_t *base;   /* [n_tiles]: a split tile's first partial slot */
  const int32_t *item0;  /* [n_tiles + 1]: first work item of each tile */
  gint *remaining;       /* [n_tiles]: atomic: a split tile's items not yet done */
  int n_hg;              /* kv head groups of a split */
  float *part;           /* partial slots: [n_heads][d16] acc, [n_heads] m, [n_heads] l */
  int64_t slot_stride;
  float *scratch;        /* per thread: scores, accumulators, transposed queries */
  int64_t scratch_stride;
  AttnFns fns;
  gint next_item;        /* atomic: the next work item to take */
} AttnCtx;

/* The tile holding work item @w. */
static int64_t
tile_of (const AttnCtx *c, int64_t w)
{
  int64_t lo = 0, hi = c->n_tiles - 1;

  while (lo < hi) {
    int64_t mid = (lo + hi + 1) / 2;
    if (c->item0[mid] <= w)
      lo = mid;
    else
      hi = mid - 1;
  }
  return lo;
}

/* A split tile's output from its partial slots, in split order: each
 * split's sum and accumulators weighted by exp(its max - the max). With one
 * split this is acc / l, as a tile item computes it. */
static void
merge_splits (const AttnCtx *c, int64_t tile)
{
  int64_t i = c->tiles[tile], n_splits = c->splits[tile], d = c->kv->head_dim;

  for (int64_t h = 0; h < c->n_heads; h++) {
    float *out = c->out + (i * c->n_heads + h) * d, mx = -INFINITY, sum = 0.0f;

    for (int64_t s = 0; s < n_splits; s++)
      mx = MAX (mx, c->part[(c->base[tile] + s) * c->slot_stride + c->n_heads * c->d16 + h]);
    memset (out, 0, d * sizeof (float));
    for (int64_t s = 0; s < n_splits; s++) {
      const float *p = c->part + (c->base[tile] + s) * c->slot_stride;
      const float *acc = p + h * c->d16;
      float w = expf (p[c->n_heads * c->d16 + h] - mx);

      sum += p[c->n_heads * c->d16 + c->n_heads + h] * w;
      for (int64_t j = 0; j < d; j++)
        out[j] += acc[j] * w;
    }
    for (int64_t j = 0; j < d; j++)
      out[j] /= sum;
  }
}

/* Work item @sub of split tile @tile: key split sub / n_hg for kv head
 * group sub % n_hg; the last item of the tile to finish merges it. */
static void
attend_split_item (AttnCtx *c, AttnTile *a, int64_t tile, int64_t sub, float *scores)
{
  int64_t s = sub / c->n_hg, g = sub % c->n_hg, n_kv = c->kv->n_kv_heads;
  int64_t k0 = s * ATTN_SPLIT_KEYS, k1 = MIN (a->pos0 + 1, k0 + ATTN_SPLIT_KEYS);
  float *p = c->part + (c->base[tile] + s) * c->slot_stride;

  a->rows = (int) c->group;
  for (int64_t r = 0; r < c->group; r++)
    a->q[r] = c->q + (c->tiles[tile] * c->n_heads + r) * a->d;
  a->acc = p;
  a->m = p + c->n_heads * c->d16;
  a->l = a->m + c->n_heads;
  c->fns.split (a, scores, k0, k1, (int) (g * n_kv / c->n_hg), (int) ((g + 1) * n_kv / c->n_hg));
  if (g_atomic_int_dec_and_test (&c->remaining[tile]))
    merge_splits (c, tile);
}

/* @a's query rows transposed into @qt ([d][ATTN_MAX_ROWS], rows past
 * a->rows zero); returns @qt. */
static const float *
transpose_rows (const AttnTile *a, float *qt)
{
  for (int64_t i = 0; i < a->d; i++) {
    for (int r = 0; r < a->rows; r++)
      qt[i * ATTN_MAX_ROWS + r] = a->q[r][i];
    for (int r = a->rows; r < ATTN_MAX_ROWS; r++)
      qt[i * ATTN_MAX_ROWS + r] = 0.0f;
  }
  return qt;
}

/* Items are taken from a shared counter: in a prefill their cost grows
 * with the position, so a fixed split would leave threads idle. Which
 * thread takes an item never changes how it is computed. */
static void
attention_task (void *data, int ith, int nth)
{
  AttnCtx *c = data;
  float *scores = c->scratch + ith * c->scratch_stride, m[ATTN_MAX_ROWS], l[ATTN_MAX_ROWS];
  int64_t w, d = c->kv->head_dim;

  while ((w = g_atomic_int_add (&c->next_item, 1)) < c->item0[c->n_tiles]) {
    int64_t tile = tile_of (c, w), sub = w - c->item0[tile], i0 = c->tiles[tile], i1 = c->tiles[tile + 1];
    AttnTile a = { .group = (int) c->group, .pos0 = c->batch->pos[i0], .d = d, .d16 = c->d16,
                   .kv = c->kv, .batch = c->batch, .layer = c->layer, .seq = c->batch->seq[i0],
                   .scale = c->scale };

    if (c->splits[tile] > 0) {
      attend_split_item (c, &a, tile, sub, scores);
      continue;
    }
    a.kvh = (int) sub;
    a.acc = scores + ATTN_MAX_ROWS * ATTN_KEY_BLOCK;
    a.m = m;
    a.l = l;
    for (int64_t i = i0; i < i1; i++)
      for (int64_t g = 0; g < c->group; g++, a.rows++) {
        int64_t h = a.kvh * c->group + g;
        a.q[a.rows] = c->q + (i * c->n_heads + h) * d;
        a.out[a.rows] = c->out + (i * c->n_heads + h) * d;
      }
    if (a.rows >= ATTN_QT_ROWS)
      a.qt = transpose_rows (&a, a.acc + ATTN_MAX_ROWS * c->d16);
    c->fns.tile (&a, scores);
  }
}

/* Key splits of a tile of @n_tok tokens, the last at @pos: a lone token
 * with more than one split's keys (a decode step) is split, its items then
 * read whole cache rows; anything else is one item per kv head (0). The
 * count depends on the context alone, so the bits do not depend on the
 * threads. */
static int64_t
splits_of (int64_t n_tok, int64_t pos)
{
  return n_tok == 1 && pos + 1 > ATTN_SPLIT_KEYS ? (pos + ATTN_SPLIT_KEYS) / ATTN_SPLIT_KEYS : 0;
}

/* Splits the batch into tiles of consecutive tokens of one sequence at
 * consecutive positions, at most @max_tokens each; returns their count and
 * the split tiles' key splits in @n_slots. @tiles (n + 1) may be NULL. */
static int64_t
make_tiles (const OmniBatch *batch, int64_t n, int64_t max_tokens, int32_t *tiles, int64_t *n_slots)
{
  int64_t n_tiles = 0, start = 0;

  *n_slots = 0;
  for (int64_t i = 0; i <= n; i++) {
    gboolean same = i > 0 && i < n && i - start < max_tokens && batch->seq[i] == batch->seq[i - 1] &&
                    batch->pos[i] == batch->pos[i - 1] + 1;
    if (same)
      continue;
    if (i > 0)
      *n_slots += splits_of (i - start, batch->pos[i - 1]);
    if (tiles != NULL)
      tiles[n_tiles] = (int32_t) i;
    if (i < n)
      n_tiles++;
    start = i;
  }
  return n_tiles;
}

/* Fills the tiles' splits, partial slots, item ranges and counters; the
 * kv head groups of a split are enough to give every thread items. */
static void
plan_items (AttnCtx *c, int32_t *splits, int32_t *base, int32_t *item0, gint *remaining,
            int64_t n_slots, int n_threads)
{
  int64_t n_kv = c->kv->n_kv_heads, slot = 0;

  c->n_hg = n_slots >= 4 * n_threads ? 1 : (int) MIN (n_kv, (4 * n_threads + n_slots - 1) / MAX (n_slots, 1));
  item0[0] = 0;
  for (int64_t t = 0; t < c->n_tiles; t++) {
    int64_t i1 = c->tiles[t + 1];

    splits[t] = (int32_t) splits_of (i1 - c->tiles[t], c->batch->pos[i1 - 1]);
    base[t] = (int32_t) slot;
    slot += splits[t];
    remaining[t] = splits[t] * c->n_hg;
    item0[t + 1] = item0[t] + (splits[t] > 0 ? splits[t] * c->n_hg : (int32_t) n_kv);
  }
}

/* Bytes of @n elements of @size, rounded up to a cache line. */
static size_t
lines (int64_t n, size_t size)
{
  return ((size_t) n * size + 63) & ~(size_t) 63;
}

void
omni_cpu_attention (OmniBackend *b, OmniTensor *out, const OmniTensor *q, const OmniKVCache *kv,
                    int layer, const OmniBatch *batch, float scale)
{
  OmniCpuBackend *cpu = (OmniCpuBackend *) b;
  AttnCtx c;
  int64_t n, work = 0, tile_tokens, n_slots, n_tiles;
  size_t ints;
  uint8_t *mem;
  int nth;

  if (!omni_cpu_check_f32 (out, "attention", "out") || !omni_cpu_check_f32 (q, "attention", "q"))
    return;
  g_return_if_fail (q->n_dims == 3 && kv != NULL && q->shape[2] == kv->head_dim);
  n = q->shape[0];
  c.n_heads = q->shape[1];
  g_return_if_fail (kv->n_kv_heads > 0 && c.n_heads % kv->n_kv_heads == 0);
  g_return_if_fail (c.n_heads / kv->n_kv_heads <= ATTN_MAX_ROWS);
  g_return_if_fail (out->shape[0] == n &&
                    omni_tensor_rows (out) * out->shape[out->n_dims - 1] == n * c.n_heads * kv->head_dim);
  g_return_if_fail (out->data != q->data);
  if (!omni_batch_check (kv, layer, batch, n, "cpu", "attention"))
    return;

  for (int64_t i = 0; i < n; i++)
    work += ((int64_t) batch->pos[i] + 1) * c.n_heads * kv->head_dim * 4;
  c.out = out->data;
  c.q = q->data;
  c.kv = kv;
  c.batch = batch;
  c.layer = layer;
  c.group = c.n_heads / kv->n_kv_heads;
  c.scale = scale;
  c.d16 = (kv->head_dim + 15) & ~(int64_t) 15;
  c.fns = attend_fns (cpu->isa);
  tile_tokens = MIN ((int64_t) ATTN_TILE_TOKENS, ATTN_MAX_ROWS / c.group);
  c.scratch_stride = ATTN_MAX_ROWS * (ATTN_KEY_BLOCK + 2 * c.d16);
  c.slot_stride = (c.n_heads * (c.d16 + 2) + 15) & ~(int64_t) 15;  /* vector-aligned accumulators */

  /* One scratch block: the plan (tiles, splits, slots, items, counters),
   * the partial slots, then each thread's scores and accumulators. */
  n_tiles = make_tiles (batch, n, tile_tokens, NULL, &n_slots);
  ints = lines (n_tiles + 1, sizeof (int32_t));
  mem = omni_cpu_scratch_reserve (&cpu->attn, 5 * ints + lines (n_slots * c.slot_stride, sizeof (float)) +
                                                  cpu->n_threads * c.scratch_stride * sizeof (float));
  c.tiles = (int32_t *) mem;
  c.n_tiles = make_tiles (batch, n, tile_tokens, (int32_t *) c.tiles, &n_slots);
  c.splits = (int32_t *) (mem + ints);
  c.base = (int32_t *) (mem + 2 * ints);
  c.item0 = (int32_t *) (mem + 3 * ints);
  c.remaining = (gint *) (mem + 4 * ints);
  c.part = (float *) (mem + 5 * ints);
  c.scratch = (float *) (mem + 5 * ints + lines (n_slots * c.slot_stride, sizeof (float)));
  plan_items (&c, (int32_t *) c.splits, (int32_t *) c.base, (int32_t *) c.item0, c.remaining, n_slots,
              cpu->n_threads);
  c.next_item = 0;
  nth = omni_cpu_threads_for (cpu, work, c.item0[c.n_tiles]);
  omni_cpu_pool_run (cpu->pool, nth, attention_task, &c);
}
