/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The CPU backend's private state and the kernels its ops dispatch to.
 * Only backend/ includes this header; nn/ sees backend.h alone. */
#ifndef OMNI_CPU_BACKEND_H
#define OMNI_CPU_BACKEND_H

#include "backend/backend.h"
#include <math.h>
#include "cpu-pool.h"
#include "cpu-cpuid.h"
#include "quant.h"

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
  OmniCpuIsa isa;        /* the kernels' ISA, from cpuid and $OMNI_CPU_ISA */
  OmniCpuScratch xq;     /* matmul: the activations quantized for block weights */
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
 * else converted (or dequantized, for block dtypes) into @buf (n floats). */
const float *omni_cpu_weight_row (const OmniTensor *w, int64_t row, float *restrict buf);

/* The activations of one matmul as its kernels read them. For float weights
 * the f32 rows themselves; for block weights (Q8_32, Q4_32) the rows
 * quantized once per matmul into blocks of 32 int8 with an f32 scale each
 * (d = amax / 127, q = x * (1 / d) rounded to nearest even). */
typedef struct {
  OmniCpuIsa isa;
  OmniDType wtype;         /* the weight dtype these activations are for */
  int64_t n, in;           /* rows, elements per row */
  const float *x;          /* row r is x + (x_rows ? x_rows[r] : r) * ldx */
  int64_t ldx;
  const int32_t *x_rows;
  int64_t nbp;             /* blocks per quantized row, even (a pad block is zero) */
  int8_t *qs;              /* [n][nbp * 32] */
  float *qd;               /* [n][nbp] */
} OmniCpuMatX;

/* Bytes of scratch the activations of @n rows of @in elements need for a
 * weight of dtype @wtype (0 for float weights). */
size_t omni_cpu_matx_bytes (OmniDType wtype, int64_t n, int64_t in);
/* Points @mx at @n rows of x (see OmniCpuMatX) and at @scratch (of
 * omni_cpu_matx_bytes, 64-byte aligned); quantizes nothing yet. */
void omni_cpu_matx_init (OmniCpuMatX *mx, OmniCpuIsa isa, OmniDType wtype, const float *x, int64_t ldx,
                         const int32_t *x_rows, int64_t n, int64_t in, void *scratch);
/* Quantizes rows [r0, r1) of @mx for block weights (nothing for float
 * weights); every ISA gives the same bits. */
void omni_cpu_matx_quantize (const OmniCpuMatX *mx, int64_t r0, int64_t r1);

/* y[r, c] = x_r . w[c, :] (+ bias[c]) for r < x->n, c0 <= c < c1, row r of
 * @y with leading dimension @ldy; @w is [out, in] of F32, F16, BF16, Q8_32
 * or Q4_32 and @x prepared for its dtype (all rows quantized). @buf holds
 * x->in floats (the portable path converts F16 rows into it). Each y
 * element is computed the same way whatever c0, c1 and x->n. */
void omni_cpu_matmul_kernel (float *restrict y, int64_t ldy, const OmniCpuMatX *x, const OmniTensor *w,
                             const OmniTensor *bias, int64_t c0, int64_t c1, float *restrict buf);

/* Op entry points (one file per family). */
void omni_cpu_embed (OmniBackend *b, OmniTensor *out, const OmniTensor *table, const int32_t *ids, int n);
void omni_cpu_matmul (OmniBackend *b, OmniTensor *y, const OmniTensor *x, const OmniTensor *w,
                      const OmniTensor *bias);
void omni_cpu_get_rows (OmniBackend *b, OmniTensor *dst, const OmniTensor *src, const int32_t *rows, int n);
void omni_cpu_rmsnorm (OmniBackend *b, OmniTensor *y, const OmniTensor *x, const OmniTensor *w, float eps);
void omni_cpu_add_rmsnorm (OmniBackend *b, OmniTensor *res, OmniTensor *y, const OmniTensor *x,
                          const OmniTensor *w, float eps);
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
/* As omni_cpu_check_float_weight, also accepting the block dtypes Q8_32 / Q4_32
 * (a 2-D or 3-D weight whose n_bytes match its shape). */
gboolean omni_cpu_check_matmul_weight (const OmniTensor *t, const char *op, const char *what);

#endif /* OMNI_CPU_BACKEND_H */
