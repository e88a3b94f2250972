/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Row norms over the last dimension. rmsnorm, in f32 as transformers does in f32:
 * y = w * (x * rsqrt(mean(x^2) + eps)). The sum of squares is the matmul's
 * dot product (fixed lanes, fixed fold): reproducible whatever the threads.
 * add_rmsnorm fuses the residual add into it with the same bits. */
#include <math.h>
#include "cpu-backend.h"

typedef struct {
  float *y;
  const float *x;
  const float *w;  /* weight as f32 (converted once per op) */
  int64_t rows, d;
  float eps;
} RmsCtx;

OMNI_CPU_HOT static void
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

/* add_rmsnorm: res += x, then rmsnorm of res into y, while the row is in L1.
 * The squares are summed in omni_cpu_dot_f32's order (16 lanes, the tail
 * into the first lanes, the same fold), so the bits equal add then rmsnorm. */
#define RMS_LANES 16

typedef struct {
  float *res, *y;
  const float *x;
  const float *w;  /* weight as f32 (converted once per op) */
  int64_t rows, d;
  float eps;
} AddRmsCtx;

/* res[i] += x[i] for i < n; returns the sum of the new res[i]^2. */
static inline float
add_sumsq (float *restrict res, const float *restrict x, int64_t n)
{
  float acc[RMS_LANES] = { 0 };
  int64_t i = 0;

  for (; i + RMS_LANES <= n; i += RMS_LANES) {
#pragma GCC unroll 16
    for (int l = 0; l < RMS_LANES; l++) {
      float r = res[i + l] + x[i + l];

      res[i + l] = r;
      acc[l] += r * r;
    }
  }
  for (int l = 0; i + l < n; l++) {
    float r = res[i + l] + x[i + l];

    res[i + l] = r;
    acc[l] += r * r;
  }
#pragma GCC unroll 16
  for (int w = RMS_LANES / 2; w >= 1; w /= 2)
#pragma GCC unroll 16
    for (int l = 0; l < w; l++)
      acc[l] += acc[l + w];
  return acc[0];
}

OMNI_CPU_HOT static void
add_rmsnorm_task (void *data, int ith, int nth)
{
  AddRmsCtx *c = data;
  const float *restrict w = c->w;
  int64_t r0, r1;

  omni_cpu_split (c->rows, ith, nth, &r0, &r1);
  for (int64_t r = r0; r < r1; r++) {
    float *restrict res = c->res + r * c->d;
    float *restrict y = c->y + r * c->d;
    float mean = add_sumsq (res, c->x + r * c->d, c->d) / (float) c->d;
    float scale = 1.0f / sqrtf (mean + c->eps);

    for (int64_t i = 0; i < c->d; i++)
      y[i] = w[i] * (res[i] * scale);
  }
}

static gboolean
overlap (const OmniTensor *a, const OmniTensor *c)
{
  const char *pa = a->data, *pc = c->data;

  return pa < pc + c->n_bytes && pc < pa + a->n_bytes;
}

void
omni_cpu_add_rmsnorm (OmniBackend *b, OmniTensor *res, OmniTensor *y, const OmniTensor *x,
                      const OmniTensor *w, float eps)
{
  OmniCpuBackend *cpu = (OmniCpuBackend *) b;
  AddRmsCtx c;

  if (!omni_cpu_check_f32 (res, "add_rmsnorm", "res") || !omni_cpu_check_f32 (y, "add_rmsnorm", "y")
      || !omni_cpu_check_f32 (x, "add_rmsnorm", "x")
      || !omni_cpu_check_float_weight (w, "add_rmsnorm", "w"))
    return;
  c.d = res->shape[res->n_dims - 1];
  c.rows = omni_tensor_rows (res);
  g_return_if_fail (w->n_dims == 1 && w->shape[0] == c.d);
  g_return_if_fail (omni_tensor_rows (x) == c.rows && x->shape[x->n_dims - 1] == c.d);
  g_return_if_fail (omni_tensor_rows (y) == c.rows && y->shape[y->n_dims - 1] == c.d);
  g_return_if_fail (!overlap (res, y) && !overlap (res, x) && !overlap (x, y));

  c.w = omni_cpu_weight_row (w, 0, omni_cpu_scratch_reserve (&cpu->wrow, c.d * sizeof (float)));
  c.res = res->data;
  c.y = y->data;
  c.x = x->data;
  c.eps = eps;
  omni_cpu_pool_run (cpu->pool, omni_cpu_threads_for (cpu, c.rows * c.d * 5, c.rows),
                     add_rmsnorm_task, &c);
}

/* layernorm as torch's LayerNorm in f32: the mean first, then the biased
 * variance of the centred values (two passes, no E[x^2] - mean^2
 * cancellation). Sums use 16 fixed lanes like the dot product, so the result
 * does not depend on the thread count. */
#define SUM_LANES 16

typedef struct {
  float *y;
  const float *x;
  const float *w, *bias;  /* as f32, converted once per op */
  int64_t rows, d;
  float eps;
} LayerNormCtx;

OMNI_CPU_HOT static float
sum_f32 (const float *restrict x, int64_t n)
{
  float acc[SUM_LANES] = { 0 };
  int64_t i = 0;

  for (; i + SUM_LANES <= n; i += SUM_LANES)
    for (int l = 0; l < SUM_LANES; l++)
      acc[l] += x[i + l];
  for (int l = 0; i + l < n; l++)
    acc[l] += x[i + l];
  for (int w = SUM_LANES / 2; w > 0; w /= 2)
    for (int l = 0; l < w; l++)
      acc[l] += acc[l + w];
  return acc[0];
}

OMNI_CPU_HOT static void
layernorm_task (void *data, int ith, int nth)
{
  LayerNormCtx *c = data;
  int64_t r0, r1;

  omni_cpu_split (c->rows, ith, nth, &r0, &r1);
  for (int64_t r = r0; r < r1; r++) {
    const float *x = c->x + r * c->d;
    float *y = c->y + r * c->d;
    float mean = sum_f32 (x, c->d) / (float) c->d;
    float var, rstd;

    /* y holds the centred row (y may be x: each element is read before it is written). */
    for (int64_t i = 0; i < c->d; i++)
      y[i] = x[i] - mean;
    var = omni_cpu_dot_f32 (y, y, c->d) / (float) c->d;
    rstd = 1.0f / sqrtf (var + c->eps);
    for (int64_t i = 0; i < c->d; i++)
      y[i] = y[i] * rstd * c->w[i] + c->bias[i];
  }
}

void
omni_cpu_layernorm (OmniBackend *b, OmniTensor *y, const OmniTensor *x, const OmniTensor *w,
                    const OmniTensor *bias, float eps)
{
  OmniCpuBackend *cpu = (OmniCpuBackend *) b;
  LayerNormCtx c;
  float *buf;

  if (!omni_cpu_check_f32 (y, "layernorm", "y") || !omni_cpu_check_f32 (x, "layernorm", "x") ||
      !omni_cpu_check_float_weight (w, "layernorm", "w") ||
      !omni_cpu_check_float_weight (bias, "layernorm", "bias"))
    return;
  c.d = x->shape[x->n_dims - 1];
  c.rows = omni_tensor_rows (x);
  g_return_if_fail (w->n_dims == 1 && w->shape[0] == c.d);
  g_return_if_fail (bias->n_dims == 1 && bias->shape[0] == c.d);
  g_return_if_fail (omni_tensor_rows (y) == c.rows && y->shape[y->n_dims - 1] == c.d);

  buf = omni_cpu_scratch_reserve (&cpu->wrow, 2 * c.d * sizeof (float));
  c.w = omni_cpu_weight_row (w, 0, buf);
  c.bias = omni_cpu_weight_row (bias, 0, buf + c.d);
  c.y = y->data;
  c.x = x->data;
  c.eps = eps;
  omni_cpu_pool_run (cpu->pool, omni_cpu_threads_for (cpu, c.rows * c.d * 6, c.rows),
                     layernorm_task, &c);
}
