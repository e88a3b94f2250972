/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* permute: y = x with its dims reordered (2 to 4 dims, f32), as torch's
 * permute(...).contiguous(). Shapes are padded to 4 dims in front, so one
 * loop nest serves every rank. */
#include "cpu-backend.h"

typedef struct {
  float *y;
  const float *x;
  int64_t oshape[4];  /* y's shape, padded */
  int64_t istride[4]; /* x's stride (floats) along each of y's dims */
} PermuteCtx;

static void
permute_task (void *data, int ith, int nth)
{
  PermuteCtx *c = data;
  int64_t rows = c->oshape[0] * c->oshape[1] * c->oshape[2], n3 = c->oshape[3];
  int64_t r0, r1;

  omni_cpu_split (rows, ith, nth, &r0, &r1);
  for (int64_t r = r0; r < r1; r++) {
    int64_t i2 = r % c->oshape[2], i1 = (r / c->oshape[2]) % c->oshape[1];
    int64_t i0 = r / (c->oshape[2] * c->oshape[1]);
    const float *src = c->x + i0 * c->istride[0] + i1 * c->istride[1] + i2 * c->istride[2];
    float *dst = c->y + r * n3;

    for (int64_t i = 0; i < n3; i++)
      dst[i] = src[i * c->istride[3]];
  }
}

/* TRUE when @perm is a permutation of 0..n-1 and y's shape is x's permuted. */
static gboolean
check_perm (const OmniTensor *y, const OmniTensor *x, const int *perm)
{
  gboolean seen[4] = { FALSE };

  if (perm == NULL || x->n_dims < 2 || x->n_dims > 4 || y->n_dims != x->n_dims) {
    g_critical ("cpu permute: x and y must have the same 2 to 4 dims (x %d, y %d)", x->n_dims, y->n_dims);
    return FALSE;
  }
  for (int i = 0; i < x->n_dims; i++) {
    if (perm[i] < 0 || perm[i] >= x->n_dims || seen[perm[i]] || y->shape[i] != x->shape[perm[i]]) {
      g_critical ("cpu permute: perm[%d] = %d is not a free dim of x matching y's dim %d", i, perm[i], i);
      return FALSE;
    }
    seen[perm[i]] = TRUE;
  }
  return TRUE;
}

void
omni_cpu_permute (OmniBackend *b, OmniTensor *y, const OmniTensor *x, const int *perm)
{
  OmniCpuBackend *cpu = (OmniCpuBackend *) b;
  PermuteCtx c;
  int64_t xstride[4], n = 1;
  int pad;

  if (!omni_cpu_check_f32 (y, "permute", "y") || !omni_cpu_check_f32 (x, "permute", "x") ||
      !check_perm (y, x, perm))
    return;
  g_return_if_fail (y->data != x->data);

  pad = 4 - x->n_dims;
  for (int i = x->n_dims - 1; i >= 0; i--) {
    xstride[i] = n;
    n *= x->shape[i];
  }
  for (int i = 0; i < 4; i++) {
    c.oshape[i] = i < pad ? 1 : y->shape[i - pad];
    c.istride[i] = i < pad ? 0 : xstride[perm[i - pad]];
  }
  c.y = y->data;
  c.x = x->data;
  omni_cpu_pool_run (cpu->pool,
                     omni_cpu_threads_for (cpu, n * 4, c.oshape[0] * c.oshape[1] * c.oshape[2]),
                     permute_task, &c);
}
