/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* RoPE, rotate_half (NeoX) style, matching transformers in f32: angle =
 * (float) pos * inv_freq[i] rounded to f32, cos/sin of it times attn_scale,
 * then x * cos + rotate_half(x) * sin on the first rot_dim dims of each head.
 * M-RoPE takes each frequency's position from one of three axes (backend.h
 * gives the rule; it is transformers' interleaved or chunked split). */
#include <math.h>
#include "cpu-backend.h"

/* The position axis (0 t, 1 h, 2 w) of frequency @i under M-RoPE. */
static inline int
mrope_axis (const OmniRope *rope, int64_t i)
{
  const int *s = rope->mrope_section;

  if (rope->mrope_interleaved) {
    if (i % 3 == 1 && i < 3 * s[1])
      return 1;
    if (i % 3 == 2 && i < 3 * s[2])
      return 2;
    return 0;
  }
  return i < s[0] ? 0 : i < s[0] + s[1] ? 1 : 2;
}

typedef struct {
  float *x;
  const int32_t *pos;
  const OmniRope *rope;
  int64_t n, heads, head_dim;
  gboolean mrope;  /* pos is [3][n] */
  float *tables;   /* per thread: cos[half] then sin[half] */
  int64_t table_stride;
} RopeCtx;

OMNI_CPU_HOT static void
rope_task (void *data, int ith, int nth)
{
  RopeCtx *c = data;
  int64_t half = c->rope->rot_dim / 2;
  float *cs = c->tables + ith * c->table_stride;
  float *sn = cs + half;
  int64_t t0, t1;

  omni_cpu_split (c->n, ith, nth, &t0, &t1);
  for (int64_t t = t0; t < t1; t++) {
    for (int64_t i = 0; i < half; i++) {
      int64_t axis = c->mrope ? mrope_axis (c->rope, i) : 0;
      float angle = (float) c->pos[axis * c->n + t] * c->rope->inv_freq[i];
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
  c.mrope = rope->mrope_section[0] != 0 || rope->mrope_section[1] != 0 || rope->mrope_section[2] != 0;
  c.table_stride = (rope->rot_dim + 15) & ~15;
  nth = omni_cpu_threads_for (cpu, c.n * c.heads * rope->rot_dim * 3, c.n);
  c.tables = omni_cpu_scratch_reserve (&cpu->rope, nth * c.table_stride * sizeof (float));
  omni_cpu_pool_run (cpu->pool, nth, rope_task, &c);
}
