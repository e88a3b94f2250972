/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Element-wise ops: residual add, the SwiGLU gate and GELU. Outputs may
 * alias inputs, so no restrict here. */
#include <math.h>
#include "cpu-backend.h"

typedef struct {
  float *y;
  const float *a, *c;
  int64_t n;
} BinaryCtx;

static void
add_task (void *data, int ith, int nth)
{
  BinaryCtx *e = data;
  int64_t i0, i1;

  omni_cpu_split (e->n, ith, nth, &i0, &i1);
  for (int64_t i = i0; i < i1; i++)
    e->y[i] = e->a[i] + e->c[i];
}

static void
swiglu_task (void *data, int ith, int nth)
{
  BinaryCtx *e = data;
  int64_t i0, i1;

  omni_cpu_split (e->n, ith, nth, &i0, &i1);
  for (int64_t i = i0; i < i1; i++)
    e->y[i] = omni_cpu_silu (e->a[i]) * e->c[i];
}

/* gelu(x) = 0.5 x (1 + erf(x / sqrt 2)), torch's exact form. */
static void
gelu_erf_task (void *data, int ith, int nth)
{
  BinaryCtx *e = data;
  int64_t i0, i1;

  omni_cpu_split (e->n, ith, nth, &i0, &i1);
  for (int64_t i = i0; i < i1; i++)
    e->y[i] = 0.5f * e->a[i] * (1.0f + erff (e->a[i] * (float) M_SQRT1_2));
}

/* torch's approximate='tanh': 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))). */
static void
gelu_tanh_task (void *data, int ith, int nth)
{
  BinaryCtx *e = data;
  const float beta = (float) (M_SQRT2 * M_2_SQRTPI * 0.5), kappa = 0.044715f;
  int64_t i0, i1;

  omni_cpu_split (e->n, ith, nth, &i0, &i1);
  for (int64_t i = i0; i < i1; i++) {
    float x = e->a[i];
    e->y[i] = 0.5f * x * (1.0f + tanhf (beta * (x + kappa * (x * x * x))));
  }
}

static gboolean
same_shape (const OmniTensor *a, const OmniTensor *c)
{
  if (a->n_dims != c->n_dims)
    return FALSE;
  for (int i = 0; i < a->n_dims; i++)
    if (a->shape[i] != c->shape[i])
      return FALSE;
  return TRUE;
}

static void
run_binary (OmniBackend *b, const char *op, OmniTensor *y, const OmniTensor *a, const OmniTensor *c,
            OmniCpuTask task, int64_t cost_per_element)
{
  OmniCpuBackend *cpu = (OmniCpuBackend *) b;
  BinaryCtx e;

  if (!omni_cpu_check_f32 (y, op, "y") || !omni_cpu_check_f32 (a, op, "first input") ||
      !omni_cpu_check_f32 (c, op, "second input"))
    return;
  g_return_if_fail (same_shape (y, a) && same_shape (y, c));
  e.y = y->data;
  e.a = a->data;
  e.c = c->data;
  e.n = omni_tensor_rows (y) * y->shape[y->n_dims - 1];
  omni_cpu_pool_run (cpu->pool, omni_cpu_threads_for (cpu, e.n * cost_per_element, e.n),
                     task, &e);
}

void
omni_cpu_add (OmniBackend *b, OmniTensor *y, const OmniTensor *a, const OmniTensor *c)
{
  run_binary (b, "add", y, a, c, add_task, 1);
}

void
omni_cpu_swiglu (OmniBackend *b, OmniTensor *y, const OmniTensor *gate, const OmniTensor *up)
{
  run_binary (b, "swiglu", y, gate, up, swiglu_task, 20);
}

void
omni_cpu_gelu (OmniBackend *b, OmniTensor *y, const OmniTensor *x, gboolean tanh_approx)
{
  /* A unary op: the second input is x again and is not read. */
  run_binary (b, "gelu", y, x, x, tanh_approx ? gelu_tanh_task : gelu_erf_task, 20);
}
