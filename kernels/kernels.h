/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The CUDA kernels of the inference core, one C launcher per kernel.
 *
 * Conventions (every launcher):
 * - All pointers are device pointers; sizes are explicit; tensors are dense
 *   and row-major like OmniTensor.
 * - Activations are f32, as on the cpu backend, so cuda and cpu compute the
 *   same thing op by op (the golden tests compare greedy ids). Weights may be
 *   f32, f16 or bf16 (OmniKDType) and are widened to f32 in registers;
 *   accumulation is always f32 (the sampler's masses: f64, as the cpu one).
 * - Each launcher queues its kernel(s) on @stream through OMNI_LAUNCH and
 *   returns cudaGetLastError (); a size of 0 queues nothing and returns
 *   cudaSuccess. Launchers never allocate and never synchronise, so they are
 *   legal inside CUDA graph capture.
 * - Indices that come from the device (ids, rows, positions, pages) are
 *   checked by the kernels: an out-of-range index never reads or writes out
 *   of bounds (the row is zeroed or the write skipped). The host side still
 *   validates what it can and reports errors.
 * - The same sources built by nvcc (omni_kernels_cuda) or by the emulator
 *   (omni_kernels_emu, OMNI_CUDA_EMU) give the same results up to fma
 *   contraction (nvcc contracts a*b+c into fma, the host compiler here does
 *   not): tests compare with tolerances, never bits, except where stated.
 */
#ifndef OMNI_KERNELS_H
#define OMNI_KERNELS_H

#include <stddef.h>
#include <stdint.h>
#include <cuda_runtime_api.h>   /* cudaError_t, cudaStream_t (plain C; also under the emu) */

#ifdef __cplusplus
extern "C" {
#endif

/* Element types the kernels read; the values equal OmniDType's (dtype.h) so a
 * backend can cast OmniTensor.dtype directly. */
typedef enum {
  OMNI_K_F32 = 0,
  OMNI_K_F16 = 1,
  OMNI_K_BF16 = 2,
} OmniKDType;

/* Largest head_dim the attention and q/k-norm kernels take (multiple of 32
 * not required; any D in [1, 256]). */
#define OMNI_K_MAX_HEAD_DIM 256
/* Default keys per split of the decode attention (a multiple of any page size
 * that divides it is best; any value >= 1 is correct). */
#define OMNI_K_ATTN_SPLIT_DEFAULT 256

/* ---- conversions and gathers ---- */

/* dst[i] = src[i] converted from @src_type to @dst_type (f32/f16/bf16; f32 ->
 * bf16/f16 rounds to nearest even, as dtype.h); @n elements. */
cudaError_t omni_k_convert (void *dst, OmniKDType dst_type, const void *src, OmniKDType src_type,
                            int64_t n, cudaStream_t stream);

/* Embedding gather: out[i, :] = table[ids[i], :] as f32 for i < @n; @table is
 * [@n_rows, @width] of @table_type. An id outside [0, n_rows) gives a zero row. */
cudaError_t omni_k_embed (float *out, const void *table, OmniKDType table_type, int64_t n_rows,
                          int64_t width, const int32_t *ids, int n, cudaStream_t stream);

/* dst[i, :] = src[rows[i], :] for i < @n, converted from @src_type to @dst_type
 * (equal types copy bits; otherwise any of f32/f16/bf16 to any). @src is
 * [@n_src_rows, @width]. Out-of-range rows give zero rows. Also the MoE gather
 * (rows = the dispatch's pair_token) and the f32 -> bf16 cast of activations
 * before a cuBLASLt matmul. dst must not overlap src. */
cudaError_t omni_k_get_rows (void *dst, OmniKDType dst_type, const void *src, OmniKDType src_type,
                             int64_t n_src_rows, int64_t width, const int32_t *rows, int n,
                             cudaStream_t stream);

/* Scatter, the twin of omni_k_get_rows: dst[rows[i], :] = src[i, :] for
 * i < @n, both of @type (bits copied); @dst is [@n_dst_rows, @width]. Rows
 * must be distinct; a row outside [0, n_dst_rows) is skipped. */
cudaError_t omni_k_set_rows (void *dst, const void *src, OmniKDType type, int64_t n_dst_rows,
                             int64_t width, const int32_t *rows, int n, cudaStream_t stream);

/* y = x with its dims reordered: y's dim i is x's dim perm[i] (y->shape[i] =
 * x_shape[perm[i]]), @n_dims in [2, 4], f32, y not aliasing x. @x_shape and
 * @perm are host arrays (read by the launcher). */
cudaError_t omni_k_permute (float *y, const float *x, int n_dims, const int64_t *x_shape, const int *perm,
                            cudaStream_t stream);

/* ---- element-wise ---- */

/* y[i] = a[i] + c[i], @n elements; y may alias a or c. */
cudaError_t omni_k_add (float *y, const float *a, const float *c, int64_t n, cudaStream_t stream);

/* y[i] = silu(gate[i]) * up[i] with silu(g) = g / (1 + exp(-g)); y may alias. */
cudaError_t omni_k_swiglu (float *y, const float *gate, const float *up, int64_t n, cudaStream_t stream);

/* y[i] = gelu(x[i]), @n elements; y may alias x. The exact form
 * 0.5 x (1 + erf(x / sqrt 2)), or when @tanh_approx torch's
 * 0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3))). */
cudaError_t omni_k_gelu (float *y, const float *x, int64_t n, int tanh_approx, cudaStream_t stream);

/* y[r, :] = softmax(x[r, :]) over @cols for @rows rows (max-subtracted, f32);
 * y may alias x. */
cudaError_t omni_k_softmax (float *y, const float *x, int64_t rows, int64_t cols, cudaStream_t stream);

/* ---- normalisation and rotary ---- */

/* y[r, :] = x[r, :] * rsqrt(mean(x[r, :]^2) + eps) * w[:] over rows of @d;
 * @w is [d] of @w_type. y may alias x. (Also the q/k-norm: rows = n * heads,
 * d = head_dim.) */
cudaError_t omni_k_rmsnorm (float *y, const float *x, const void *w, OmniKDType w_type, int64_t rows,
                            int64_t d, float eps, cudaStream_t stream);

/* LayerNorm over rows of @d as the cpu backend (mean, then the biased
 * variance of x - mean): y = (x - mean) / sqrt(var + eps) * w + bias, with
 * w, bias [d] of @w_type / @bias_type. y may alias x. */
cudaError_t omni_k_layernorm (float *y, const float *x, const void *w, OmniKDType w_type, const void *bias,
                              OmniKDType bias_type, int64_t rows, int64_t d, float eps, cudaStream_t stream);

/* Fused residual add + rmsnorm: residual += x, then y = rmsnorm(residual) as
 * omni_k_rmsnorm. y may alias x (not residual). */
cudaError_t omni_k_add_rmsnorm (float *y, float *residual, const float *x, const void *w,
                                OmniKDType w_type, int64_t rows, int64_t d, float eps,
                                cudaStream_t stream);

/* In place on x[n, heads, head_dim]: rotate_half RoPE on the first @rot_dim
 * dims of each head at position pos[i]: angle = (float) pos * inv_freq[j]
 * (f32), c = cos(angle) * attn_scale, s = sin(angle) * attn_scale,
 * x[j] = x[j] c - x[j + half] s, x[j + half] = x[j + half] c + x[j] s.
 * @inv_freq is [rot_dim / 2] in device memory; rot_dim even, <= head_dim. */
cudaError_t omni_k_rope (float *x, const int32_t *pos, const float *inv_freq, int n, int heads,
                         int head_dim, int rot_dim, float attn_scale, cudaStream_t stream);

/* omni_k_rope with M-RoPE: frequency j rotates by the position on axis
 * a(j) of three, pos is [3][n] (t, h, w). Interleaved (@interleaved != 0,
 * Qwen3-VL/Omni): a = 1 when j % 3 == 1 and j < 3 section[1], 2 when
 * j % 3 == 2 and j < 3 section[2], else 0. Chunked: a = 0 for j < section[0],
 * 1 for j < section[0] + section[1], else 2. @section is a host array. */
cudaError_t omni_k_mrope (float *x, const int32_t *pos, const float *inv_freq, int n, int heads, int head_dim,
                          int rot_dim, float attn_scale, const int *section, int interleaved,
                          cudaStream_t stream);

/* Fused q/k-norm + RoPE: per head, x = rmsnorm(x) * w (w [head_dim] of
 * @w_type, eps @eps), then omni_k_rope's rotation, in place on
 * x[n, heads, head_dim]; head_dim <= OMNI_K_MAX_HEAD_DIM. Same result as
 * omni_k_rmsnorm then omni_k_rope. */
cudaError_t omni_k_qk_norm_rope (float *x, const void *w, OmniKDType w_type, float eps,
                                 const int32_t *pos, const float *inv_freq, int n, int heads,
                                 int head_dim, int rot_dim, float attn_scale, cudaStream_t stream);

/* ---- paged KV cache and attention ----
 * The cache (per k and v) is [n_layers, n_pages, page_size, n_kv_heads * head_dim]
 * f32, as OmniKVCache. Token i of a batch belongs to sequence seq[i] at
 * position pos[i]; position t of sequence s lives in page
 * block_tables[s * max_pages + t / page_size], slot t % page_size. */

/* Geometry of one layer's paged cache and the batch's block tables. */
typedef struct {
  float *k, *v;                 /* the whole cache (all layers) */
  int layer, n_pages, page_size, n_kv_heads, head_dim;
  const int32_t *block_tables;  /* [n_seqs, max_pages] */
  int n_seqs, max_pages;
} OmniKPagedKV;

/* Stores k, v [n, n_kv_heads, head_dim] of token i at (seq[i], pos[i]) of
 * @kv's layer. A token whose sequence, position or page is out of range is
 * skipped. */
cudaError_t omni_k_kv_store (const OmniKPagedKV *kv, const float *k, const float *v, const int32_t *pos,
                             const int32_t *seq, int n, cudaStream_t stream);

/* Causal GQA attention over the cache, one pass per (token, kv head):
 * out[i, h, :] = softmax(q[i, h] . K[0..pos[i]] * scale) . V for query head h
 * using kv head h / (n_heads / n_kv_heads). q is [n, n_heads, head_dim], out
 * [n, n_heads * head_dim] (not aliasing q). For prefill and any mixed batch;
 * n_heads must be a multiple of n_kv_heads. */
cudaError_t omni_k_attention_prefill (float *out, const float *q, const OmniKPagedKV *kv,
                                      const int32_t *pos, const int32_t *seq, int n, int n_heads,
                                      float scale, cudaStream_t stream);

/* Floats of workspace omni_k_attention_decode needs for @n tokens of
 * @n_heads heads and contexts up to @max_ctx keys split every @split keys. */
static inline size_t
omni_k_attention_decode_workspace (int n, int n_heads, int head_dim, int max_ctx, int split)
{
  size_t n_splits = (size_t) ((max_ctx + split - 1) / split);
  return (size_t) n * n_heads * n_splits * ((size_t) head_dim + 2);
}

/* The same result as omni_k_attention_prefill, computed flash-decoding style
 * for few tokens with long contexts: the keys of each token are cut into
 * chunks of @split keys (0 = OMNI_K_ATTN_SPLIT_DEFAULT) computed by separate
 * blocks into @workspace (omni_k_attention_decode_workspace floats), then a
 * second kernel merges the chunks. @max_ctx bounds pos[i] + 1 (tokens beyond
 * it are attended only up to max_ctx keys: pass max_pages * page_size when
 * unsure, e.g. under graph capture). */
cudaError_t omni_k_attention_decode (float *out, const float *q, const OmniKPagedKV *kv,
                                     const int32_t *pos, const int32_t *seq, int n, int n_heads,
                                     float scale, int max_ctx, int split, float *workspace,
                                     cudaStream_t stream);

/* Largest head_dim of omni_k_attention_segments. */
#define OMNI_K_SEG_MAX_HEAD_DIM 128

/* Bidirectional attention within segments (encoders; no cache, no GQA):
 * out[i, h, :] = softmax(q[i, h] . k[s0..s1-1, h] * scale) . v[s0..s1-1, h]
 * where cu_seqlens[s] = s0 <= i < s1 = cu_seqlens[s + 1]. q, k, v are
 * [n, n_heads, head_dim], out [n, n_heads * head_dim] (not aliasing them);
 * cu_seqlens [n_segs + 1] in device memory, increasing from 0 to n;
 * head_dim <= OMNI_K_SEG_MAX_HEAD_DIM. Online softmax in f32. */
cudaError_t omni_k_attention_segments (float *out, const float *q, const float *k, const float *v,
                                       const int32_t *cu_seqlens, int n_segs, int n, int n_heads,
                                       int head_dim, float scale, cudaStream_t stream);

/* ---- mixture of experts ---- */

/* Router: per row of logits[n, n_experts] (f32): softmax, the top @k
 * experts in descending probability (ties: lower expert index first, as the
 * cpu backend) into ids[n, k] and their probabilities into weights[n, k],
 * renormalised to sum 1 when @norm_topk. 1 <= k <= n_experts <= 1024. */
cudaError_t omni_k_moe_route (int32_t *ids, float *weights, const float *logits, int n, int n_experts,
                              int k, int norm_topk, cudaStream_t stream);

/* Groups the n * k (token, slot) pairs of ids[n, k] by expert with a stable
 * counting sort (a pair's place never depends on scheduling):
 * offsets[e] .. offsets[e + 1] are expert e's sorted pairs (offsets has
 * n_experts + 1 entries), pair_token[s] the token row of sorted pair s, and
 * pair_slot[t * k + j] the sorted position of pair (t, j). Ids outside
 * [0, n_experts) are sorted after all experts (rows offsets[n_experts] ..
 * n * k) and so take part in no expert. */
cudaError_t omni_k_moe_dispatch (int32_t *offsets, int32_t *pair_token, int32_t *pair_slot,
                                 const int32_t *ids, int n, int k, int n_experts, cudaStream_t stream);

/* Weighted combine in slot order: y[t, :] = sum_j weights[t, j] * d[pair_slot[t * k + j], :]
 * for j = 0 .. k-1 (summed in that order from 0, as the cpu backend), with d
 * the experts' outputs [n * k, hidden] in sorted order. */
cudaError_t omni_k_moe_combine (float *y, const float *d, const float *weights, const int32_t *pair_slot,
                                int n, int k, int64_t hidden, cudaStream_t stream);

/* ---- matmul fallback (cuBLASLt does the matmuls; these exist for f32
 * activations against f16/bf16 weights, which cuBLASLt cannot mix, and for
 * the MoE experts whose row counts live on the device) ---- */

/* y[r, c] = x[r, :] . w[c, :] (+ bias[c] when not NULL) for r < @rows,
 * c < @out; x [rows, in] f32 (leading dim @ldx), w [out, in] of @w_type,
 * y [rows, out] f32 (leading dim @ldy), bias f32 [out]. */
cudaError_t omni_k_matmul (float *y, int64_t ldy, const float *x, int64_t ldx, const void *w,
                           OmniKDType w_type, const float *bias, int64_t rows, int64_t in, int64_t out,
                           cudaStream_t stream);

/* Grouped matmul over the dispatch's sorted pairs: for each expert e and
 * sorted row s in [offsets[e], offsets[e + 1]), y[s, :] = x[s, :] . w[e]^T
 * where w is a device array of @n_experts device pointers to [out, in]
 * weights of @w_type. @max_rows bounds offsets[n_experts] (n * k). */
cudaError_t omni_k_moe_matmul (float *y, int64_t ldy, const float *x, int64_t ldx,
                               const void *const *w, OmniKDType w_type, const int32_t *offsets,
                               int n_experts, int max_rows, int64_t in, int64_t out, cudaStream_t stream);

/* ---- sampling ---- */

/* Per-sequence sampling parameters (device memory, so a captured graph keeps
 * working when they change). Same meaning as OmniSamplerParams; @uniform is
 * the draw in [0, 1) the cpu sampler would take from its PRNG. */
typedef struct {
  double temperature;         /* <= 0: greedy (first index on ties) */
  double top_p;               /* >= 1 = off */
  float repetition_penalty;   /* 1 = off; ids with OMNI_K_SEEN_ANY */
  float presence_penalty;     /* 0 = off; ids with OMNI_K_SEEN_OUTPUT */
  int32_t top_k;              /* 0 = off */
  int32_t pad;
  double uniform;             /* in [0, 1) */
} OmniKSampleParams;

/* Bits of the per-sequence seen[] arrays. */
#define OMNI_K_SEEN_ANY 1u      /* in the prompt or the output */
#define OMNI_K_SEEN_OUTPUT 2u   /* in the output */

/* Samples one id per sequence from logits[n_seqs, vocab] (f32, modified in
 * place by the penalties and temperature, as omni_sampler_sample does), in
 * the cpu sampler's order: repetition penalty (seen & ANY), presence penalty
 * (seen & OUTPUT), temperature, top-k, top-p, then the draw with
 * params[s].uniform over the kept ids in ascending logit order. seen is
 * [n_seqs, vocab] bytes; the sampled id gets both bits set (so the next step
 * sees it) and is written to out_ids[s]. Equal to the cpu sampler for the same
 * uniform except with exact logit ties among the filtered ids (the cpu orders
 * them by its heap; here all ids tied at the top-k/top-p boundary are kept and
 * the draw takes the lower id first) and for f64 rounding of the masses
 * (summed in another order). Greedy and unfiltered draws match exactly. */
cudaError_t omni_k_sample (int32_t *out_ids, float *logits, uint8_t *seen, const OmniKSampleParams *params,
                           int n_seqs, int vocab, cudaStream_t stream);

/* seen[seq[i] * vocab + ids[i]] |= @bits for i < @n (ids out of range are
 * ignored): records prompt ids (OMNI_K_SEEN_ANY) before the first sample. */
cudaError_t omni_k_sample_mark (uint8_t *seen, int vocab, const int32_t *ids, const int32_t *seq, int n,
                                uint8_t bits, cudaStream_t stream);

#ifdef __cplusplus
}
#endif

#endif /* OMNI_KERNELS_H */
