/* The op interface every backend implements; models in nn/ are written once
 * against it. Tensors are dense and row-major; the backend decides where
 * their storage lives (host for cpu, device memory for cuda).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef OMNI_BACKEND_H
#define OMNI_BACKEND_H

#include <glib.h>
#include "dtype.h"
#include "omnicore.h"
#include "io/safetensors.h"

/* 5: NCDHW activations and [Cout, Cin, kD, kH, kW] weights of 3-D convolutions. */
#define OMNI_TENSOR_MAX_DIMS 5

/* A dense row-major tensor; shape[n_dims-1] is the innermost dimension. */
typedef struct {
  OmniDType dtype;
  int n_dims;
  int64_t shape[OMNI_TENSOR_MAX_DIMS];
  void *data;          /* host pointer (cpu) or device pointer (cuda) */
  size_t n_bytes;
  gboolean owned;      /* allocated by the backend (free with tensor_free) */
} OmniTensor;

/* Number of rows of @t when seen as [rows, shape[n_dims-1]]. */
static inline int64_t
omni_tensor_rows (const OmniTensor *t)
{
  int64_t r = 1;
  for (int i = 0; i < t->n_dims - 1; i++)
    r *= t->shape[i];
  return r;
}

/* Rotary embedding tables, computed once per model by nn/ (host memory). */
typedef struct {
  int rot_dim;            /* rotated dims per head (== head_dim for Qwen3) */
  const float *inv_freq;  /* [rot_dim / 2] */
  float attn_scale;       /* multiplies cos and sin (YaRN mscale; 1 otherwise) */
  /* M-RoPE: frequency i (of rot_dim / 2) rotates by the position on axis
   * a(i) of three (t, h, w). All 0: one axis. Interleaved (Qwen3-VL/Omni):
   * a = 1 when i % 3 == 1 and i < 3 s[1], a = 2 when i % 3 == 2 and
   * i < 3 s[2], else 0. Chunked (Qwen2.5, vision): a = 0 for i < s[0],
   * 1 for i < s[0] + s[1], else 2. */
  int mrope_section[3];
  gboolean mrope_interleaved;
} OmniRope;

/* Paged KV cache: the backend's storage for every layer, in pages of
 * page_size tokens. A sequence owns a list of pages (its block table). */
typedef struct {
  int n_layers, n_kv_heads, head_dim;
  int page_size, n_pages;
  OmniTensor k, v;        /* [n_layers, n_pages, page_size, n_kv_heads * head_dim] */
} OmniKVCache;

/* The tokens of one forward step: any mix of prefill and decode tokens of
 * several sequences. Host arrays; a device backend copies them itself. */
typedef struct {
  int n_tokens;
  const int32_t *pos;           /* [n_tokens] position within its sequence */
  const int32_t *seq;           /* [n_tokens] sequence slot (row of block_tables) */
  const int32_t *block_tables;  /* [n_seqs, max_pages] page ids */
  int n_seqs, max_pages;
  /* [3][n_tokens] M-RoPE positions (t, h, w) of models with M-RoPE, where
   * they differ from @pos (images, video); NULL = @pos on every axis */
  const int32_t *rope_pos;
} OmniBatch;

/* Geometry of a 2-D (NCHW) or 3-D (NCDHW) convolution: zero padding,
 * dilation 1, one group. Per spatial dim, outermost first. */
typedef struct {
  int n_spatial;          /* 2 or 3 */
  int stride[3];          /* >= 1 */
  int padding[3];         /* >= 0, on both sides */
} OmniConvParams;

typedef struct _OmniBackend OmniBackend;

typedef struct {
  const char *name;
  void (*destroy) (OmniBackend *b);

  /* storage */
  gboolean (*tensor_alloc) (OmniBackend *b, OmniTensor *t, OmniDType dtype, int n_dims,
                            const int64_t *shape, GError **error);
  void (*tensor_free) (OmniBackend *b, OmniTensor *t);
  /* Makes @src (mapped from a checkpoint) usable as a weight: the cpu backend
   * points at the mapping (no copy); a device backend uploads it once. */
  gboolean (*weight_load) (OmniBackend *b, const OmniSafetensors *st, const OmniSafeTensor *src,
                           OmniTensor *dst, GError **error);
  void (*upload) (OmniBackend *b, OmniTensor *dst, const void *host, size_t n_bytes);
  void (*download) (OmniBackend *b, const OmniTensor *src, void *host, size_t n_bytes);
  /* Waits until all queued work is done. */
  void (*synchronize) (OmniBackend *b);

  /* ops: activations are f32 on the cpu backend; weights any float dtype */
  /* out[n, H] = table[ids[i], :] */
  void (*embed) (OmniBackend *b, OmniTensor *out, const OmniTensor *table, const int32_t *ids, int n);
  /* y[n, out] = x[n, in] . w[out, in]^T (+ bias[out] when not NULL) */
  void (*matmul) (OmniBackend *b, OmniTensor *y, const OmniTensor *x, const OmniTensor *w,
                  const OmniTensor *bias);
  /* y[r, d] = x * rsqrt(mean(x^2) + eps) * w[d], rows of the last dim; y may be x */
  void (*rmsnorm) (OmniBackend *b, OmniTensor *y, const OmniTensor *x, const OmniTensor *w, float eps);
  /* in place on x[n, heads, head_dim]: rotate_half RoPE at positions pos[n],
   * or pos[3][n] (t, h, w) when rope->mrope_section is set */
  void (*rope) (OmniBackend *b, OmniTensor *x, const int32_t *pos, const OmniRope *rope);
  /* stores k, v [n, n_kv_heads, head_dim] of @layer at the batch's positions */
  void (*kv_store) (OmniBackend *b, OmniKVCache *kv, int layer, const OmniTensor *k,
                    const OmniTensor *v, const OmniBatch *batch);
  /* out[n, Nq*D] = causal GQA attention of q[n, Nq, D] over the cached keys
   * 0..pos[i] of seq[i], scale @scale */
  void (*attention) (OmniBackend *b, OmniTensor *out, const OmniTensor *q, const OmniKVCache *kv,
                     int layer, const OmniBatch *batch, float scale);
  /* y = silu(gate) * up, all [n, I] */
  void (*swiglu) (OmniBackend *b, OmniTensor *y, const OmniTensor *gate, const OmniTensor *up);
  /* y = a + c (same shapes); y may alias a */
  void (*add) (OmniBackend *b, OmniTensor *y, const OmniTensor *a, const OmniTensor *c);
  /* Router: softmax over logits[n, E] (f32), top-k -> ids[n, k], weights[n, k]
   * (renormalised to sum 1 when @norm_topk) */
  void (*moe_route) (OmniBackend *b, OmniTensor *ids, OmniTensor *weights, const OmniTensor *logits,
                     int k, gboolean norm_topk);
  /* y[n, H] = sum_j weights[i, j] * down_e(silu(gate_e(x)) * up_e(x)), e = ids[i, j];
   * gate/up/down: arrays of n_experts weights [I, H], [I, H], [H, I] */
  void (*moe_experts) (OmniBackend *b, OmniTensor *y, const OmniTensor *x, const OmniTensor *ids,
                       const OmniTensor *weights, const OmniTensor *gate, const OmniTensor *up,
                       const OmniTensor *down, int n_experts);
  /* dst[i, :] = src[rows[i], :] for i < n (e.g. the last token of each sequence) */
  void (*get_rows) (OmniBackend *b, OmniTensor *dst, const OmniTensor *src, const int32_t *rows, int n);
  /* y[N, Co, o...] = conv(x[N, Ci, i...], w[Co, Ci, k...]) (+ bias[Co] when not NULL),
   * o = (i + 2 padding - k) / stride + 1; x, y f32, w/bias any float dtype */
  void (*conv) (OmniBackend *b, OmniTensor *y, const OmniTensor *x, const OmniTensor *w,
                const OmniTensor *bias, const OmniConvParams *p);

  /* encoder ops (audio and vision towers); activations f32 */
  /* y[r, d] = (x - mean) / sqrt(var + eps) * w[d] + bias[d] over rows of the
   * last dim (biased variance, as torch's LayerNorm); y may be x */
  void (*layernorm) (OmniBackend *b, OmniTensor *y, const OmniTensor *x, const OmniTensor *w,
                     const OmniTensor *bias, float eps);
  /* y = gelu(x) elementwise: the exact erf form, or the tanh approximation
   * when @tanh_approx (gelu_pytorch_tanh); y may be x */
  void (*gelu) (OmniBackend *b, OmniTensor *y, const OmniTensor *x, gboolean tanh_approx);
  /* out[n, H*D] = bidirectional attention of q[n, H, D] over k, v [n, H, D]
   * in segments: tokens cu_seqlens[s] .. cu_seqlens[s+1]-1 see only each
   * other. cu_seqlens: host [n_segs + 1], 0 = cu_seqlens[0] < ... = n. */
  void (*attention_segments) (OmniBackend *b, OmniTensor *out, const OmniTensor *q,
                              const OmniTensor *k, const OmniTensor *v, const int32_t *cu_seqlens,
                              int n_segs, float scale);
  /* dst[rows[i], :] = src[i, :] for i < n (rows distinct, host array) */
  void (*set_rows) (OmniBackend *b, OmniTensor *dst, const OmniTensor *src, const int32_t *rows, int n);
  /* y = x with its dims reordered, y->shape[i] = x->shape[perm[i]]; 2 to 4
   * dims, f32, y not x */
  void (*permute) (OmniBackend *b, OmniTensor *y, const OmniTensor *x, const int *perm);

  /* Optional (NULL: run add, then rmsnorm). res += x, then y = rmsnorm(res) * w
   * as rmsnorm does, row by row in one pass; the same bits as the two ops.
   * res, x, y: [r, d] f32, no two overlapping; w [d]. */
  void (*add_rmsnorm) (OmniBackend *b, OmniTensor *res, OmniTensor *y, const OmniTensor *x,
                       const OmniTensor *w, float eps);

  /* Optional (NULL where ops run directly, as on the cpu). The ops issued
   * between step_begin and step_end form one step; a device backend captures
   * the first step with a given @key as a graph and replays it for later
   * steps with that key. The caller promises the same op sequence on the
   * same tensors and shapes for equal keys; only the contents of the host
   * arrays handed to the ops (ids, positions, block tables) may change, and
   * not while the step is open. No download inside a step. */
  void (*step_begin) (OmniBackend *b, guint64 key);
  /* Ends the step: the captured or replayed graph is queued. */
  void (*step_end) (OmniBackend *b);
} OmniBackendOps;

struct _OmniBackend {
  const OmniBackendOps *ops;
  char device[32];   /* "cpu", "cuda:0", "cuda-emu" */
  OmniQuant quant;   /* format of matmul weights loaded from now on (set_quant) */
};

/* Opens the backend for @device ("auto", "cpu", "cuda:N", "cuda-emu"); a
 * device that is not available or not built is a GError saying which. */
OmniBackend *omni_backend_open (const char *device, GError **error);
/* Opens like omni_backend_open with @n_threads cpu threads (0: $OMNI_THREADS,
 * else the older $OMNI_NUM_THREADS, else every core); other devices ignore it. */
OmniBackend *omni_backend_open_threads (const char *device, int n_threads, GError **error);
/* Matmul weights loaded by @b from now on are stored as @quant (cpu only; another backend with a
 * quant other than NONE: FALSE + OMNI_ERROR_UNSUPPORTED). */
gboolean omni_backend_set_quant (OmniBackend *b, OmniQuant quant, GError **error);
/* The dtype matmul weights of @quant are stored in: BF16, Q8_32, Q4_32; -1 for NONE (as stored). */
int omni_quant_dtype (OmniQuant quant);
/* Releases @b and everything it owns. */
void omni_backend_close (OmniBackend *b);

/* Loads the weights of one model part (decoder, audio or vision tower) onto a
 * backend at the backend's quant: matmul operands are converted row by row
 * (never a full f32 copy) or read by mmap from the quantized-weight cache
 * (io/qcache.h), everything else goes through ops->weight_load. */
typedef struct _OmniWeightStore OmniWeightStore;

/* A store for @part ("decoder", "audio", "vision") of the snapshot @dir on @b;
 * opens a valid cache for @b's quant when there is one (a stale or broken
 * one is logged and ignored). Free it after the tensors it loaded. */
OmniWeightStore *omni_weight_store_new (OmniBackend *b, const char *dir, const char *part);
/* Loads @src into @dst: through ops->weight_load, or, for a matmul operand
 * (@matmul) at a quant other than NONE, in the quant's dtype (a BF16 tensor
 * at quant bf16 stays mapped). Free @dst with ops->tensor_free. */
gboolean omni_weight_store_load (OmniWeightStore *ws, const OmniSafetensors *st,
                                 const OmniSafeTensor *src, gboolean matmul, OmniTensor *dst,
                                 GError **error);
/* Like omni_weight_store_load for a weight built in host memory: @data holds
 * @shape of @dtype (F32, F16 or BF16), contiguous; @name keys the cache. */
gboolean omni_weight_store_load_host (OmniWeightStore *ws, const char *name, OmniDType dtype,
                                      const void *data, int n_dims, const int64_t *shape,
                                      gboolean matmul, OmniTensor *dst, GError **error);
/* Ends loading: writes the cache when weights were converted now (a cache
 * that cannot be written is a g_warning; the model runs without it). */
void omni_weight_store_finish (OmniWeightStore *ws);
/* Weights of the last load read from the cache and converted now (for tests and logs). */
void omni_weight_store_counts (const OmniWeightStore *ws, guint *from_cache, guint *converted);
/* Releases the store and its cache mapping: free the tensors it loaded first. */
void omni_weight_store_free (OmniWeightStore *ws);

/* Allocates the paged KV cache in @b's memory; FALSE + GError when it does not fit. */
gboolean omni_kv_cache_init (OmniBackend *b, OmniKVCache *kv, int n_layers, int n_kv_heads,
                             int head_dim, int page_size, int n_pages, GError **error);
/* Frees the cache's storage. */
void omni_kv_cache_clear (OmniBackend *b, OmniKVCache *kv);

/* For backends: TRUE when @batch's @n tokens, their sequences, positions and
 * pages are all valid for @layer of @kv; else a g_critical naming
 * "@backend @op" and the bad token, and FALSE (the op must not run). */
gboolean omni_batch_check (const OmniKVCache *kv, int layer, const OmniBatch *batch, int64_t n,
                           const char *backend, const char *op);

#endif /* OMNI_BACKEND_H */
