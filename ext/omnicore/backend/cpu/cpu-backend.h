/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The CPU backend's private state and the kernels its ops dispatch to.
 * Only backend/ includes this header; nn/ sees backend.h alone. */
#ifndef OMNI_CPU_BACKEND_H
#define OMNI_CPU_BACKEND_H

#include "backend/backend.h"
#include <math.h>
#include "cpu-pool.h"

/* A host buffer that only grows: ops reserve what they need before running,
 * so steady-state steps allocate nothing. */
typedef struct {
  void *data;
  size_t size;
} OmniCpuScratch;

typedef struct {
  OmniBackend base;
  OmniCpuPool *pool;
  int n_threads;
  OmniCpuScratch wrow;   /* per thread: one weight row (or tile) converted to f32 */
  OmniCpuScratch attn;   /* per thread: attention scores of one (token, head) */
  OmniCpuScratch rope;   /* per thread: cos/sin of one position */
  OmniCpuScratch moe;    /* expert grouping and intermediate activations */
  OmniCpuScratch conv;   /* per thread: one output channel's filter as f32 */
} OmniCpuBackend;

/* Creates the cpu backend with @n_threads threads (>= 1). */
OmniBackend *omni_cpu_backend_new (int n_threads, GError **error);

/* Returns @s's buffer, grown (contents lost) to at least @size bytes. */
void *omni_cpu_scratch_reserve (OmniCpuScratch *s, size_t size);
/* Frees @s's buffer. */
void omni_cpu_scratch_clear (OmniCpuScratch *s);

/* Threads worth using for an op of about @work flops split over @items
 * independent items: 1 for small ops (waking the pool costs more), never
 * more than @items, never less than 1. */
int omni_cpu_threads_for (const OmniCpuBackend *cpu, int64_t work, int64_t items);

/* [start, end) of @n items for share @ith of @nth: a fixed split, so which
 * thread computes an item never changes how it is computed. */
static inline void
omni_cpu_split (int64_t n, int ith, int nth, int64_t *start, int64_t *end)
{
  *start = n * ith / nth;
  *end = n * (ith + 1) / nth;
}

/* silu(g) = g / (1 + exp(-g)), the form torch evaluates. */
static inline float
omni_cpu_silu (float g)
{
  return g / (1.0f + expf (-g));
}

/* Marks a hot loop for a per-ISA clone (see meson.build). */
#ifdef OMNI_CPU_CLONES
#define OMNI_CPU_HOT __attribute__ ((target_clones ("avx2", "default")))
#else
#define OMNI_CPU_HOT
#endif

/* The dot product every matmul-like op uses: f32, 16 lanes in a fixed order. */
float omni_cpu_dot_f32 (const float *restrict x, const float *restrict w, int64_t n);

/* Row @row of the 2-D weight @w ([rows, n]) as f32: @w's own memory for F32,
 * else converted into @buf (n floats). */
const float *omni_cpu_weight_row (const OmniTensor *w, int64_t row, float *restrict buf);

/* y[r, c] = x_r . w[c, :] (+ bias[c]) for r < n, c0 <= c < c1, where x_r is row
 * (x_rows ? x_rows[r] : r) of @x (leading dimension @ldx) and row r of @y has
 * leading dimension @ldy. @buf holds one weight row (in floats). */
void omni_cpu_matmul_kernel (float *restrict y, int64_t ldy, const float *x, int64_t ldx,
                             const int32_t *x_rows, int64_t n, const OmniTensor *w,
                             const OmniTensor *bias, int64_t c0, int64_t c1, float *restrict buf);

/* Op entry points (one file per family). */
void omni_cpu_embed (OmniBackend *b, OmniTensor *out, const OmniTensor *table, const int32_t *ids, int n);
void omni_cpu_matmul (OmniBackend *b, OmniTensor *y, const OmniTensor *x, const OmniTensor *w,
                      const OmniTensor *bias);
void omni_cpu_get_rows (OmniBackend *b, OmniTensor *dst, const OmniTensor *src, const int32_t *rows, int n);
void omni_cpu_rmsnorm (OmniBackend *b, OmniTensor *y, const OmniTensor *x, const OmniTensor *w, float eps);
void omni_cpu_rope (OmniBackend *b, OmniTensor *x, const int32_t *pos, const OmniRope *rope);
void omni_cpu_swiglu (OmniBackend *b, OmniTensor *y, const OmniTensor *gate, const OmniTensor *up);
void omni_cpu_add (OmniBackend *b, OmniTensor *y, const OmniTensor *a, const OmniTensor *c);
void omni_cpu_kv_store (OmniBackend *b, OmniKVCache *kv, int layer, const OmniTensor *k,
                        const OmniTensor *v, const OmniBatch *batch);
void omni_cpu_attention (OmniBackend *b, OmniTensor *out, const OmniTensor *q, const OmniKVCache *kv,
                         int layer, const OmniBatch *batch, float scale);
void omni_cpu_moe_route (OmniBackend *b, OmniTensor *ids, OmniTensor *weights, const OmniTensor *logits,
                         int k, gboolean norm_topk);
void omni_cpu_moe_experts (OmniBackend *b, OmniTensor *y, const OmniTensor *x, const OmniTensor *ids,
                           const OmniTensor *weights, const OmniTensor *gate, const OmniTensor *up,
                           const OmniTensor *down, int n_experts);
void omni_cpu_conv (OmniBackend *b, OmniTensor *y, const OmniTensor *x, const OmniTensor *w,
                    const OmniTensor *bias, const OmniConvParams *p);
void omni_cpu_layernorm (OmniBackend *b, OmniTensor *y, const OmniTensor *x, const OmniTensor *w,
                         const OmniTensor *bias, float eps);
void omni_cpu_gelu (OmniBackend *b, OmniTensor *y, const OmniTensor *x, gboolean tanh_approx);
void omni_cpu_attention_segments (OmniBackend *b, OmniTensor *out, const OmniTensor *q,
                                  const OmniTensor *k, const OmniTensor *v, const int32_t *cu_seqlens,
                                  int n_segs, float scale);
void omni_cpu_set_rows (OmniBackend *b, OmniTensor *dst, const OmniTensor *src, const int32_t *rows, int n);
void omni_cpu_permute (OmniBackend *b, OmniTensor *y, const OmniTensor *x, const int *perm);

/* Checks shared by the ops: programmer errors are g_critical and the op
 * returns without writing. */
gboolean omni_cpu_check_f32 (const OmniTensor *t, const char *op, const char *what);
gboolean omni_cpu_check_float_weight (const OmniTensor *t, const char *op, const char *what);

#endif /* OMNI_CPU_BACKEND_H */
