/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* matmul: y = x . w^T with f32 activations and F32/F16/BF16/Q8_32/Q4_32
 * weights. The kernels are chosen by the backend's ISA (cpu-gemm-*.c); the
 * portable float path below converts weights one row at a time, once per
 * block of x rows. For block weights x is quantized once per call
 * (cpu-matx.c). Every y element is computed the same way whatever the
 * thread split, so results do not depend on the thread count. */
#include "cpu-gemm.h"

/* x rows sharing one converted weight row: the block (8 rows x in floats)
 * stays in L1/L2 while the weight row is reused. */
#define MM_ROW_BLOCK 8
/* Accumulator lanes of the dot product. The lane loop is unrolled so gcc
 * keeps the lanes in vector registers; it vectorizes without reassociating
 * (no -ffast-math), and the lanes are folded in a fixed tree, so the result
 * is reproducible. */
#define DOT_LANES 16

static inline float
dot_fold (float *acc)
{
#pragma GCC unroll 16
  for (int w = DOT_LANES / 2; w >= 1; w /= 2)
#pragma GCC unroll 16
    for (int l = 0; l < w; l++)
      acc[l] += acc[l + w];
  return acc[0];
}

OMNI_CPU_HOT float
omni_cpu_dot_f32 (const float *restrict x, const float *restrict w, int64_t n)
{
  float acc[DOT_LANES] = { 0 };
  int64_t i = 0;

  for (; i + DOT_LANES <= n; i += DOT_LANES)
#pragma GCC unroll 16
    for (int l = 0; l < DOT_LANES; l++)
      acc[l] += x[i + l] * w[i + l];
  for (int l = 0; i + l < n; l++)
    acc[l] += x[i + l] * w[i + l];
  return dot_fold (acc);
}

/* The same sum as omni_cpu_dot_f32 (bf16 -> f32 is exact), reading the bf16
 * row directly: for one x row a separate conversion pass would cost more
 * than it saves. */
OMNI_CPU_HOT static float
dot_bf16 (const float *restrict x, const uint16_t *restrict w, int64_t n)
{
  float acc[DOT_LANES] = { 0 };
  int64_t i = 0;

  for (; i + DOT_LANES <= n; i += DOT_LANES)
#pragma GCC unroll 16
    for (int l = 0; l < DOT_LANES; l++)
      acc[l] += x[i + l] * omni_bf16_to_f32 (w[i + l]);
  for (int l = 0; i + l < n; l++)
    acc[l] += x[i + l] * omni_bf16_to_f32 (w[i + l]);
  return dot_fold (acc);
}

OMNI_CPU_HOT static void
bf16_row_to_f32 (float *restrict dst, const uint16_t *restrict src, int64_t n)
{
  for (int64_t i = 0; i < n; i++)
    dst[i] = omni_bf16_to_f32 (src[i]);
}

const float *
omni_cpu_weight_row (const OmniTensor *w, int64_t row, float *restrict buf)
{
  int64_t n = w->shape[w->n_dims - 1];

  switch (w->dtype) {
  case OMNI_DTYPE_F32:
    return (const float *) w->data + row * n;
  case OMNI_DTYPE_BF16:
    bf16_row_to_f32 (buf, (const uint16_t *) w->data + row * n, n);
    return buf;
  default:
    omni_dequantize_row (w->dtype, (const uint8_t *) w->data + row * omni_row_bytes (w->dtype, n), buf, n);
    return buf;
  }
}

static inline float
bias_at (const OmniTensor *bias, int64_t c)
{
  float v;

  if (bias->dtype == OMNI_DTYPE_F32)
    return ((const float *) bias->data)[c];
  omni_dtype_to_f32 (bias->dtype, (const uint8_t *) bias->data + c * omni_dtype_size (bias->dtype), &v, 1);
  return v;
}

/* The portable float path: one converted weight row serves a block of x rows. */
static void
gemm_float_portable (float *restrict y, int64_t ldy, const OmniCpuMatX *x, const OmniTensor *w,
                     int64_t c0, int64_t c1, float *restrict buf)
{
  int64_t in = x->in;

  for (int64_t rb = 0; rb < x->n; rb += MM_ROW_BLOCK) {
    int64_t nb = MIN (MM_ROW_BLOCK, x->n - rb);
    const float *xr[MM_ROW_BLOCK];

    for (int64_t r = 0; r < nb; r++)
      xr[r] = x->x + (x->x_rows ? x->x_rows[rb + r] : rb + r) * x->ldx;
    for (int64_t c = c0; c < c1; c++) {
      if (nb == 1 && w->dtype == OMNI_DTYPE_BF16) {
        y[rb * ldy + c] = dot_bf16 (xr[0], (const uint16_t *) w->data + c * in, in);
        continue;
      }
      const float *wr = omni_cpu_weight_row (w, c, buf);
      for (int64_t r = 0; r < nb; r++)
        y[(rb + r) * ldy + c] = omni_cpu_dot_f32 (xr[r], wr, in);
    }
  }
}

void
omni_cpu_matmul_kernel (float *restrict y, int64_t ldy, const OmniCpuMatX *x, const OmniTensor *w,
                        const OmniTensor *bias, int64_t c0, int64_t c1, float *restrict buf)
{
  gboolean block = omni_dtype_is_block (w->dtype);

  g_return_if_fail (x->wtype == w->dtype || (!block && !omni_dtype_is_block (x->wtype)));
  switch (x->isa) {
#ifdef OMNI_CPU_HAVE_X86
  case OMNI_CPU_ISA_AVX512:
    if (block)
      omni_cpu_gemm_int_avx512 (y, ldy, x, w, c0, c1);
    else
      omni_cpu_gemm_float_avx512 (y, ldy, x, w, c0, c1);
    break;
  case OMNI_CPU_ISA_AVX2:
    if (block)
      omni_cpu_gemm_int_avx2 (y, ldy, x, w, c0, c1);
    else
      omni_cpu_gemm_float_avx2 (y, ldy, x, w, c0, c1);
    break;
#endif
  default:
    if (block)
      omni_cpu_gemm_int_portable (y, ldy, x, w, c0, c1);
    else
      gemm_float_portable (y, ldy, x, w, c0, c1, buf);
    break;
  }
  if (bias == NULL)
    return;
  for (int64_t c = c0; c < c1; c++) {
    float b = bias_at (bias, c);
    for (int64_t r = 0; r < x->n; r++)
      y[r * ldy + c] += b;
  }
}

typedef struct {
  OmniCpuBackend *cpu;
  float *y;
  OmniCpuMatX x;
  const OmniTensor *w, *bias;
  int64_t out;
  size_t buf_stride;  /* floats per thread in cpu->wrow */
  int64_t chunk;      /* columns taken at a time */
  gint next_chunk;    /* atomic: the next chunk to take */
} MatmulCtx;

/* Threads take column chunks from a shared counter rather than a fixed
 * share: on a busy machine a descheduled thread then delays the op by one
 * chunk, not by half of it. Which thread computes a column never changes
 * the column's bits. */
static void
matmul_task (void *data, int ith, int nth)
{
  MatmulCtx *m = data;
  float *buf = (float *) m->cpu->wrow.data + ith * m->buf_stride;
  int64_t c0;

  while ((c0 = (int64_t) g_atomic_int_add (&m->next_chunk, 1) * m->chunk) < m->out)
    omni_cpu_matmul_kernel (m->y, m->out, &m->x, m->w, m->bias, c0, MIN (c0 + m->chunk, m->out), buf);
}

/* Quantizes x's rows for block weights, split by rows. */
static void
quantize_task (void *data, int ith, int nth)
{
  MatmulCtx *m = data;
  int64_t r0, r1;

  omni_cpu_split (m->x.n, ith, nth, &r0, &r1);
  omni_cpu_matx_quantize (&m->x, r0, r1);
}

void
omni_cpu_matmul (OmniBackend *b, OmniTensor *y, const OmniTensor *x, const OmniTensor *w,
                 const OmniTensor *bias)
{
  OmniCpuBackend *cpu = (OmniCpuBackend *) b;
  MatmulCtx m;
  int64_t n, in;
  int nth;

  if (!omni_cpu_check_f32 (y, "matmul", "y") || !omni_cpu_check_f32 (x, "matmul", "x") ||
      !omni_cpu_check_matmul_weight (w, "matmul", "w") ||
      (bias && !omni_cpu_check_float_weight (bias, "matmul", "bias")))
    return;
  n = omni_tensor_rows (x);
  in = x->shape[x->n_dims - 1];
  m.out = w->shape[0];
  g_return_if_fail (w->n_dims == 2 && w->shape[1] == in);
  g_return_if_fail (omni_tensor_rows (y) == n && y->shape[y->n_dims - 1] == m.out);
  g_return_if_fail (bias == NULL || (bias->n_dims == 1 && bias->shape[0] == m.out));
  g_return_if_fail (y->data != x->data);

  m.cpu = cpu;
  m.y = y->data;
  m.w = w;
  m.bias = bias;
  omni_cpu_matx_init (&m.x, cpu->isa, w->dtype, x->data, in, NULL, n, in,
                      omni_cpu_scratch_reserve (&cpu->xq, omni_cpu_matx_bytes (w->dtype, n, in)));
  if (omni_dtype_is_block (w->dtype))
    omni_cpu_pool_run (cpu->pool, omni_cpu_threads_for (cpu, 8 * n * in, n), quantize_task, &m);
  m.buf_stride = (size_t) (in + 15) & ~(size_t) 15;  /* keep each thread's row 64-byte aligned */
  nth = omni_cpu_threads_for (cpu, 2 * n * in * m.out, m.out);
  /* about 16 chunks per thread, at least 16 columns each, whole 4-column panels */
  m.chunk = (MAX ((int64_t) 16, m.out / (16 * nth)) + 3) & ~(int64_t) 3;
  m.next_chunk = 0;
  omni_cpu_scratch_reserve (&cpu->wrow, nth * m.buf_stride * sizeof (float));
  omni_cpu_pool_run (cpu->pool, nth, matmul_task, &m);
}
