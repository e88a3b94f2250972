/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* rmsnorm over the last dimension, in f32 as transformers does in f32:
 * y = w * (x * rsqrt(mean(x^2) + eps)). The sum of squares is the matmul's
 * dot product (fixed lanes, fixed fold): reproducible whatever the threads. */
#include <math.h>
#include "cpu-backend.h"

typedef struct {
  float *y;
  const float *x;
  const float *w;  /* weight as f32 (converted once per op) */
  int64_t rows, d;
  float eps;
} RmsCtx;

static void
rmsnorm_task (void *data, int ith, int nth)
{
  RmsCtx *c = data;
  int64_t r0, r1;

  omni_cpu_split (c->rows, ith, nth, &r0, &r1);
  for (int64_t r = r0; r < r1; r++) {
    const float *x = c->x + r * c->d;
    float *y = c->y + r * c->d;
    float mean = omni_cpu_dot_f32 (x, x, c->d) / (float) c->d;
    float scale = 1.0f / sqrtf (mean + c->eps);

    for (int64_t i = 0; i < c->d; i++)
      y[i] = c->w[i] * (x[i] * scale);
  }
}

void
omni_cpu_rmsnorm (OmniBackend *b, OmniTensor *y, const OmniTensor *x, const OmniTensor *w, float eps)
{
  OmniCpuBackend *cpu = (OmniCpuBackend *) b;
  RmsCtx c;

  if (!omni_cpu_check_f32 (y, "rmsnorm", "y") || !omni_cpu_check_f32 (x, "rmsnorm", "x") ||
      !omni_cpu_check_float_weight (w, "rmsnorm", "w"))
    return;
  c.d = x->shape[x->n_dims - 1];
  c.rows = omni_tensor_rows (x);
  g_return_if_fail (w->n_dims == 1 && w->shape[0] == c.d);
  g_return_if_fail (omni_tensor_rows (y) == c.rows && y->shape[y->n_dims - 1] == c.d);

  /* The weight is tiny ([d]); converting it once here beats per-row work. */
  c.w = omni_cpu_weight_row (w, 0, omni_cpu_scratch_reserve (&cpu->wrow, c.d * sizeof (float)));
  c.y = y->data;
  c.x = x->data;
  c.eps = eps;
  omni_cpu_pool_run (cpu->pool, omni_cpu_threads_for (cpu, c.rows * c.d * 4, c.rows),
                     rmsnorm_task, &c);
}
