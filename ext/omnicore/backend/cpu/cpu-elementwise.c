/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Element-wise ops: residual add, the SwiGLU gate and GELU. Outputs may
 * alias inputs, so no restrict here. SwiGLU and GELU run per ISA
 * (cpu-elementwise-simd.h: a vector exp, the same bits on every ISA); add
 * is a plain loop the compiler vectorizes. */
#include <math.h>
#include "cpu-backend.h"

typedef void (*RangeFn) (float *y, const float *a, const float *c, int64_t i0, int64_t i1);

typedef struct {
  float *y;
  const float *a, *c;
  int64_t n;
  RangeFn range;  /* the per-ISA loop of range_task */
} BinaryCtx;

#define SIMD_TEMPLATE "cpu-elementwise-simd.h"
#include "cpu-simd-instances.h"

static RangeFn
swiglu_fn (OmniCpuIsa isa)
{
#ifdef SIMD_X86
  if (isa == OMNI_CPU_ISA_AVX512)
    return swiglu_range_avx512;
  if (isa == OMNI_CPU_ISA_AVX2)
    return swiglu_range_avx2;
#endif
  return swiglu_range_portable;
}

static RangeFn
gelu_fn (OmniCpuIsa isa, gboolean tanh_approx)
{
#ifdef SIMD_X86
  if (isa == OMNI_CPU_ISA_AVX512)
    return tanh_approx ? gelu_tanh_range_avx512 : gelu_erf_range_avx512;
  if (isa == OMNI_CPU_ISA_AVX2)
    return tanh_approx ? gelu_tanh_range_avx2 : gelu_erf_range_avx2;
#endif
  return tanh_approx ? gelu_tanh_range_portable : gelu_erf_range_portable;
}

/* A thread's share of a per-ISA loop. */
static void
range_task (void *data, int ith, int nth)
{
  BinaryCtx *e = data;
  int64_t i0, i1;

  omni_cpu_split (e->n, ith, nth, &i0, &i1);
  e->range (e->y, e->a, e->c, i0, i1);
}

OMNI_CPU_HOT static void
add_task (void *data, int ith, int nth)
{
  BinaryCtx *e = data;
  int64_t i0, i1;

  omni_cpu_split (e->n, ith, nth, &i0, &i1);
  for (int64_t i = i0; i < i1; i++)
    e->y[i] = e->a[i] + e->c[i];
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
            OmniCpuTask task, RangeFn range, int64_t cost_per_element)
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
  e.range = range;
  omni_cpu_pool_run (cpu->pool, omni_cpu_threads_for (cpu, e.n * cost_per_element, e.n),
                     task, &e);
}

void
omni_cpu_add (OmniBackend *b, OmniTensor *y, const OmniTensor *a, const OmniTensor *c)
{
  run_binary (b, "add", y, a, c, add_task, NULL, 1);
}

void
omni_cpu_swiglu (OmniBackend *b, OmniTensor *y, const OmniTensor *gate, const OmniTensor *up)
{
  run_binary (b, "swiglu", y, gate, up, range_task, swiglu_fn (((OmniCpuBackend *) b)->isa), 20);
}

void
omni_cpu_gelu (OmniBackend *b, OmniTensor *y, const OmniTensor *x, gboolean tanh_approx)
{
  /* A unary op: the second input is x again and is not read. */
  run_binary (b, "gelu", y, x, x, range_task, gelu_fn (((OmniCpuBackend *) b)->isa, tanh_approx), 20);
}
