/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Mixture of experts: the router (softmax, top-k, renormalisation, in f32 as
 * transformers does) and the grouped expert SwiGLU. Tokens are grouped by
 * expert with a counting sort so each expert's weights are read once per
 * chunk of tokens, by the matmul kernel (float or block weights; for block
 * weights the chunk's rows are quantized once per projection). Each
 * (token, slot) result is written to its own row and the weighted sum over
 * slots runs in slot order, so the output does not depend on the thread
 * count. */
#include "cpu-backend.h"

/* Tokens per pass of moe_experts: bounds the scratch (pairs x (2 I + H)
 * floats) while keeping several tokens per expert for weight reuse. */
#define MOE_CHUNK_TOKENS 256

/* Inserts (@p, @e) into the descending top-k list; an empty slot (id -1)
 * always loses, and strict > keeps the lower index first on ties. torch.topk
 * leaves the order of equal values unspecified on CPU. */
static void
topk_insert (float *val, int32_t *idx, int k, float p, int32_t e)
{
  int pos = k;

  while (pos > 0 && (idx[pos - 1] < 0 || p > val[pos - 1]))
    pos--;
  if (pos == k)
    return;
  memmove (val + pos + 1, val + pos, (k - pos - 1) * sizeof *val);
  memmove (idx + pos + 1, idx + pos, (k - pos - 1) * sizeof *idx);
  val[pos] = p;
  idx[pos] = e;
}

typedef struct {
  int32_t *ids;
  float *w;
  const float *logits;
  int64_t n, n_experts;
  int k;
  gboolean norm_topk;
} RouteCtx;

static void
route_task (void *data, int ith, int nth)
{
  RouteCtx *c = data;
  int64_t t0, t1;

  omni_cpu_split (c->n, ith, nth, &t0, &t1);
  for (int64_t t = t0; t < t1; t++) {
    const float *x = c->logits + t * c->n_experts;
    int32_t *idx = c->ids + t * c->k;
    float *val = c->w + t * c->k;
    float max = -INFINITY, sum = 0.0f;

    for (int64_t e = 0; e < c->n_experts; e++)
      max = MAX (max, x[e]);
    for (int64_t e = 0; e < c->n_experts; e++)
      sum += expf (x[e] - max);
    for (int j = 0; j < c->k; j++)
      idx[j] = -1;
    for (int64_t e = 0; e < c->n_experts; e++)
      topk_insert (val, idx, c->k, expf (x[e] - max) / sum, (int32_t) e);
    if (c->norm_topk) {
      float s = 0.0f;
      for (int j = 0; j < c->k; j++)
        s += val[j];
      for (int j = 0; j < c->k; j++)
        val[j] /= s;
    }
  }
}

void
omni_cpu_moe_route (OmniBackend *b, OmniTensor *ids, OmniTensor *weights, const OmniTensor *logits,
                    int k, gboolean norm_topk)
{
  OmniCpuBackend *cpu = (OmniCpuBackend *) b;
  RouteCtx c;

  if (!omni_cpu_check_f32 (logits, "moe_route", "logits") ||
      !omni_cpu_check_f32 (weights, "moe_route", "weights"))
    return;
  g_return_if_fail (ids != NULL && ids->data != NULL && ids->dtype == OMNI_DTYPE_I32);
  c.n = omni_tensor_rows (logits);
  c.n_experts = logits->shape[logits->n_dims - 1];
  g_return_if_fail (k >= 1 && k <= c.n_experts);
  g_return_if_fail (omni_tensor_rows (ids) == c.n && ids->shape[ids->n_dims - 1] == k);
  g_return_if_fail (omni_tensor_rows (weights) == c.n && weights->shape[weights->n_dims - 1] == k);

  c.ids = ids->data;
  c.w = weights->data;
  c.logits = logits->data;
  c.k = k;
  c.norm_topk = norm_topk;
  omni_cpu_pool_run (cpu->pool, omni_cpu_threads_for (cpu, c.n * c.n_experts * (k + 20), c.n),
                     route_task, &c);
}

typedef struct {
  OmniCpuBackend *cpu;
  const float *x;          /* [n, H] */
  const float *w;          /* [n, k] routing weights */
  float *y;                /* [n, H] */
  const OmniTensor *gate, *up, *down;
  int64_t hidden, inter;
  int k;
  /* the current chunk */
  int64_t t_begin, n_pairs;
  int n_active;
  const int32_t *active;   /* experts with tokens, ascending */
  const int64_t *offset;   /* [n_experts + 1]: first sorted pair of each expert */
  const int32_t *tok;      /* [pairs] token row of each sorted pair */
  const int32_t *slot;     /* [pairs] sorted position of pair (t, j), t from t_begin */
  float *g, *u, *d;        /* [pairs, I], [pairs, I], [pairs, H] in sorted order */
  OmniCpuMatX xin, xg;     /* the sorted pairs' x rows and g rows as the kernels read them */
  size_t buf_stride;
} MoeCtx;

/* Rows [off, off + cnt) of @all: one expert's share of the sorted pairs. */
static OmniCpuMatX
matx_rows (const OmniCpuMatX *all, int64_t off, int64_t cnt)
{
  OmniCpuMatX v = *all;

  v.n = cnt;
  if (v.x_rows)
    v.x_rows += off;
  else
    v.x += off * v.ldx;
  if (v.qs) {
    v.qs += off * v.nbp * OMNI_QK;
    v.qd += off * v.nbp;
  }
  return v;
}

/* Block weights: each thread quantizes its share of the pairs' rows. */
static void
quantize_in_task (void *data, int ith, int nth)
{
  MoeCtx *c = data;
  int64_t r0, r1;

  omni_cpu_split (c->n_pairs, ith, nth, &r0, &r1);
  omni_cpu_matx_quantize (&c->xin, r0, r1);
}

static void
quantize_g_task (void *data, int ith, int nth)
{
  MoeCtx *c = data;
  int64_t r0, r1;

  omni_cpu_split (c->n_pairs, ith, nth, &r0, &r1);
  omni_cpu_matx_quantize (&c->xg, r0, r1);
}

static void
gate_up_task (void *data, int ith, int nth)
{
  MoeCtx *c = data;
  float *buf = (float *) c->cpu->wrow.data + ith * c->buf_stride;
  int64_t c0, c1;

  omni_cpu_split (c->inter, ith, nth, &c0, &c1);
  for (int a = 0; a < c->n_active; a++) {
    int e = c->active[a];
    int64_t off = c->offset[e], cnt = c->offset[e + 1] - off;
    float *g = c->g + off * c->inter, *u = c->u + off * c->inter;

    OmniCpuMatX x = matx_rows (&c->xin, off, cnt);

    omni_cpu_matmul_kernel (g, c->inter, &x, &c->gate[e], NULL, c0, c1, buf);
    omni_cpu_matmul_kernel (u, c->inter, &x, &c->up[e], NULL, c0, c1, buf);
    for (int64_t r = 0; r < cnt; r++)
      for (int64_t i = c0; i < c1; i++)
        g[r * c->inter + i] = omni_cpu_silu (g[r * c->inter + i]) * u[r * c->inter + i];
  }
}

static void
down_task (void *data, int ith, int nth)
{
  MoeCtx *c = data;
  float *buf = (float *) c->cpu->wrow.data + ith * c->buf_stride;
  int64_t c0, c1;

  omni_cpu_split (c->hidden, ith, nth, &c0, &c1);
  for (int a = 0; a < c->n_active; a++) {
    int e = c->active[a];
    int64_t off = c->offset[e], cnt = c->offset[e + 1] - off;
    OmniCpuMatX x = matx_rows (&c->xg, off, cnt);

    omni_cpu_matmul_kernel (c->d + off * c->hidden, c->hidden, &x, &c->down[e], NULL, c0, c1, buf);
  }
}

static void
combine_task (void *data, int ith, int nth)
{
  MoeCtx *c = data;
  int64_t n = c->n_pairs / c->k, t0, t1;

  omni_cpu_split (n, ith, nth, &t0, &t1);
  for (int64_t t = t0; t < t1; t++) {
    float *restrict y = c->y + (c->t_begin + t) * c->hidden;

    memset (y, 0, c->hidden * sizeof (float));
    for (int j = 0; j < c->k; j++) {
      float w = c->w[(c->t_begin + t) * c->k + j];
      const float *restrict d = c->d + (int64_t) c->slot[t * c->k + j] * c->hidden;

      for (int64_t i = 0; i < c->hidden; i++)
        y[i] += d[i] * w;
    }
  }
}

/* Every expert's @what weight: [rows, cols] of dtype @dtype (float or block). */
static gboolean
check_experts (const OmniTensor *m, int n_experts, int64_t rows, int64_t cols, OmniDType dtype,
               const char *what)
{
  for (int e = 0; e < n_experts; e++) {
    if (!omni_cpu_check_matmul_weight (&m[e], "moe_experts", what))
      return FALSE;
    if (m[e].n_dims != 2 || m[e].shape[0] != rows || m[e].shape[1] != cols || m[e].dtype != dtype) {
      g_critical ("cpu moe_experts: %s of expert %d must be [%" G_GINT64_FORMAT ", %" G_GINT64_FORMAT
                  "] of %s like the gate of expert 0", what, e, rows, cols, omni_dtype_name (dtype));
      return FALSE;
    }
  }
  return TRUE;
}

/* Counting sort of the chunk's (token, slot) pairs by expert, stable so each
 * expert sees its tokens in order. Fills offset, active, tok and slot. */
static void
group_by_expert (MoeCtx *c, const int32_t *ids, int n_experts, int64_t *offset, int32_t *active,
                 int32_t *tok, int32_t *slot)
{
  memset (offset, 0, (n_experts + 1) * sizeof *offset);
  for (int64_t p = 0; p < c->n_pairs; p++)
    offset[ids[p] + 1]++;
  c->n_active = 0;
  for (int e = 0; e < n_experts; e++) {
    if (offset[e + 1] > 0)
      active[c->n_active++] = e;
    offset[e + 1] += offset[e];
  }
  /* offset[e] is used as a cursor, then restored from the end positions */
  for (int64_t p = 0; p < c->n_pairs; p++) {
    int64_t s = offset[ids[p]]++;
    tok[s] = (int32_t) (c->t_begin + p / c->k);
    slot[p] = (int32_t) s;
  }
  for (int e = n_experts; e > 0; e--)
    offset[e] = offset[e - 1];
  offset[0] = 0;
}

void
omni_cpu_moe_experts (OmniBackend *b, OmniTensor *y, const OmniTensor *x, const OmniTensor *ids,
                      const OmniTensor *weights, const OmniTensor *gate, const OmniTensor *up,
                      const OmniTensor *down, int n_experts)
{
  OmniCpuBackend *cpu = (OmniCpuBackend *) b;
  MoeCtx c = { 0 };
  int64_t n, max_pairs, *offset;
  int32_t *active, *tok, *slot;
  const int32_t *all_ids;
  size_t bytes, act_bytes, xin_bytes, xg_bytes;
  uint8_t *p, *xin_q, *xg_q;
  int nth;

  if (!omni_cpu_check_f32 (y, "moe_experts", "y") || !omni_cpu_check_f32 (x, "moe_experts", "x") ||
      !omni_cpu_check_f32 (weights, "moe_experts", "weights"))
    return;
  g_return_if_fail (ids != NULL && ids->data != NULL && ids->dtype == OMNI_DTYPE_I32);
  g_return_if_fail (n_experts >= 1 && gate != NULL && up != NULL && down != NULL);
  n = omni_tensor_rows (x);
  c.hidden = x->shape[x->n_dims - 1];
  c.k = (int) ids->shape[ids->n_dims - 1];
  c.inter = gate[0].n_dims == 2 ? gate[0].shape[0] : 0;
  g_return_if_fail (omni_tensor_rows (y) == n && y->shape[y->n_dims - 1] == c.hidden && y->data != x->data);
  g_return_if_fail (omni_tensor_rows (ids) == n && omni_tensor_rows (weights) == n &&
                    weights->shape[weights->n_dims - 1] == c.k && c.k >= 1);
  if (!check_experts (gate, n_experts, c.inter, c.hidden, gate[0].dtype, "gate") ||
      !check_experts (up, n_experts, c.inter, c.hidden, gate[0].dtype, "up") ||
      !check_experts (down, n_experts, c.hidden, c.inter, down[0].dtype, "down"))
    return;
  all_ids = ids->data;
  for (int64_t i = 0; i < n * c.k; i++) {
    if (all_ids[i] < 0 || all_ids[i] >= n_experts) {
      g_critical ("cpu moe_experts: expert id %d at %" G_GINT64_FORMAT " is outside [0, %d)",
                  all_ids[i], i, n_experts);
      return;
    }
  }

  /* One scratch block per op: the grouping, g, u and d, then the quantized
   * x and g rows for block weights (each part 64-byte aligned). */
  max_pairs = MIN (n, MOE_CHUNK_TOKENS) * c.k;
  bytes = ((n_experts + 1) * sizeof (int64_t) + (n_experts + 2 * max_pairs) * sizeof (int32_t) + 63) & ~(size_t) 63;
  act_bytes = (2 * c.inter + c.hidden) * max_pairs * sizeof (float);
  xin_bytes = (omni_cpu_matx_bytes (gate[0].dtype, max_pairs, c.hidden) + 63) & ~(size_t) 63;
  xg_bytes = omni_cpu_matx_bytes (down[0].dtype, max_pairs, c.inter);
  p = omni_cpu_scratch_reserve (&cpu->moe, bytes + act_bytes + xin_bytes + xg_bytes);
  offset = (int64_t *) p;
  active = (int32_t *) (offset + n_experts + 1);
  tok = active + n_experts;
  slot = tok + max_pairs;
  c.g = (float *) (p + bytes);
  c.u = c.g + max_pairs * c.inter;
  c.d = c.u + max_pairs * c.inter;
  xin_q = p + bytes + act_bytes;
  xg_q = xin_q + xin_bytes;

  c.cpu = cpu;
  c.x = x->data;
  c.w = weights->data;
  c.y = y->data;
  c.gate = gate;
  c.up = up;
  c.down = down;
  c.offset = offset;
  c.active = active;
  c.tok = tok;
  c.slot = slot;
  c.buf_stride = (size_t) (MAX (c.hidden, c.inter) + 15) & ~(size_t) 15;
  nth = omni_cpu_threads_for (cpu, 6 * max_pairs * c.hidden * c.inter, MIN (c.hidden, c.inter));
  omni_cpu_scratch_reserve (&cpu->wrow, nth * c.buf_stride * sizeof (float));

  for (c.t_begin = 0; c.t_begin < n; c.t_begin += MOE_CHUNK_TOKENS) {
    c.n_pairs = MIN (n - c.t_begin, MOE_CHUNK_TOKENS) * c.k;
    group_by_expert (&c, all_ids + c.t_begin * c.k, n_experts, offset, active, tok, slot);
    omni_cpu_matx_init (&c.xin, cpu->isa, gate[0].dtype, c.x, c.hidden, tok, c.n_pairs, c.hidden, xin_q);
    omni_cpu_matx_init (&c.xg, cpu->isa, down[0].dtype, c.g, c.inter, NULL, c.n_pairs, c.inter, xg_q);
    if (omni_dtype_is_block (gate[0].dtype))
      omni_cpu_pool_run (cpu->pool, MIN (nth, (int) c.n_pairs), quantize_in_task, &c);
    omni_cpu_pool_run (cpu->pool, nth, gate_up_task, &c);
    if (omni_dtype_is_block (down[0].dtype))
      omni_cpu_pool_run (cpu->pool, MIN (nth, (int) c.n_pairs), quantize_g_task, &c);
    omni_cpu_pool_run (cpu->pool, nth, down_task, &c);
    omni_cpu_pool_run (cpu->pool, MIN (nth, (int) (c.n_pairs / c.k)), combine_task, &c);
  }
}
