/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* RoPE, rotate_half (NeoX) style, matching transformers in f32: angle =
 * (float) pos * inv_freq[i] rounded to f32, cos/sin of it times attn_scale,
 * then x * cos + rotate_half(x) * sin on the first rot_dim dims of each head. */
#include <math.h>
#include "cpu-backend.h"

typedef struct {
  float *x;
  const int32_t *pos;
  const OmniRope *rope;
  int64_t n, heads, head_dim;
  float *tables;   /* per thread: cos[half] then sin[half] */
  int64_t table_stride;
} RopeCtx;

static void
rope_task (void *data, int ith, int nth)
{
  RopeCtx *c = data;
  int64_t half = c->rope->rot_dim / 2;
  float *cs = c->tables + ith * c->table_stride;
  float *sn = cs + half;
  int64_t t0, t1;

  omni_cpu_split (c->n, ith, nth, &t0, &t1);
  for (int64_t t = t0; t < t1; t++) {
    float p = (float) c->pos[t];

    for (int64_t i = 0; i < half; i++) {
      float angle = p * c->rope->inv_freq[i];
      cs[i] = cosf (angle) * c->rope->attn_scale;
      sn[i] = sinf (angle) * c->rope->attn_scale;
    }
    for (int64_t h = 0; h < c->heads; h++) {
      float *x = c->x + (t * c->heads + h) * c->head_dim;

      for (int64_t i = 0; i < half; i++) {
        float x1 = x[i], x2 = x[i + half];
        x[i] = x1 * cs[i] + (-x2) * sn[i];
        x[i + half] = x2 * cs[i] + x1 * sn[i];
      }
    }
  }
}

void
omni_cpu_rope (OmniBackend *b, OmniTensor *x, const int32_t *pos, const OmniRope *rope)
{
  OmniCpuBackend *cpu = (OmniCpuBackend *) b;
  RopeCtx c;
  int nth;

  if (!omni_cpu_check_f32 (x, "rope", "x"))
    return;
  g_return_if_fail (x->n_dims == 3 && pos != NULL && rope != NULL && rope->inv_freq != NULL);
  c.n = x->shape[0];
  c.heads = x->shape[1];
  c.head_dim = x->shape[2];
  g_return_if_fail (rope->rot_dim > 0 && rope->rot_dim % 2 == 0 && rope->rot_dim <= c.head_dim);

  c.x = x->data;
  c.pos = pos;
  c.rope = rope;
  c.table_stride = (rope->rot_dim + 15) & ~15;
  nth = omni_cpu_threads_for (cpu, c.n * c.heads * rope->rot_dim * 3, c.n);
  c.tables = omni_cpu_scratch_reserve (&cpu->rope, nth * c.table_stride * sizeof (float));
  omni_cpu_pool_run (cpu->pool, nth, rope_task, &c);
}
