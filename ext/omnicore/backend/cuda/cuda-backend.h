/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The CUDA backend's private state: one device, one stream, one device
 * memory arena, the cuBLASLt and cuDNN handles, the staging of host
 * arguments and the captured step graphs. The same sources build
 * libomnicore-cuda.so (real CUDA) and libomnicore-cuda-emu.so (kernels/emu). */
#ifndef OMNI_CUDA_BACKEND_H
#define OMNI_CUDA_BACKEND_H

#include <cuda_runtime_api.h>
#include <cublasLt.h>
#include <cudnn.h>
#include "backend/backend.h"
#include "kernels.h"
#include "cuda-module.h"

/* Every device allocation is aligned to this (cuBLASLt wants 16 bytes,
 * coalesced loads like 128; 256 is cudaMalloc's own). */
#define OMNI_CUDA_ALIGN 256

/* The arena: one cudaMalloc at open, carved first-fit with coalescing. */
typedef struct {
  uint8_t *base;
  size_t size;
  GArray *free_list;     /* OmniCudaBlock, sorted by offset, never adjacent */
  GHashTable *used;      /* offset -> size of live blocks */
  size_t in_use, peak;
  guint64 n_allocs;
} OmniCudaPool;

typedef struct {
  size_t offset, size;
} OmniCudaBlock;

/* A device buffer that only grows (from the pool): sized on the first step
 * of each shape, reused after. */
typedef struct {
  void *data;
  size_t size;
} OmniCudaScratch;

typedef enum {
  OMNI_CUDA_DIRECT,      /* ops run as they are issued */
  OMNI_CUDA_CAPTURE,     /* a step is being captured into a graph */
  OMNI_CUDA_REPLAY,      /* ops only stage their host arguments */
} OmniCudaMode;

/* A captured step: the graph, the signature of each op and the staging
 * offset of each host argument, checked again on every replay. */
typedef struct {
  guint64 key;
  cudaGraphExec_t exec;
  GArray *sigs;          /* guint64 per op */
  GArray *args;          /* OmniCudaBlock per staged host argument */
  gboolean reusable;
} OmniCudaGraph;

typedef struct {
  const void *host;
  size_t offset, size;
} OmniCudaArg;

#define OMNI_CUDA_ARG_CACHE 32

typedef struct {
  OmniBackend base;
  int device;
  GThread *bound;                 /* the thread whose current device is ours */
  cudaStream_t stream;
  cublasLtHandle_t lt;
  cudnnHandle_t dnn;              /* created at the first conv */
  OmniCudaPool pool;
  void *lt_workspace;
  size_t lt_workspace_size;
  GHashTable *mm_plans;           /* OmniCudaMatmulKey -> plan */
  OmniCudaScratch act, bias, attn, moe, conv;
  /* host arguments (ids, positions, block tables, pointer tables): staged in
   * pinned memory, copied on the stream to the twin device buffer */
  uint8_t *h_args, *d_args;
  size_t args_cap, args_off;
  OmniCudaArg arg_cache[OMNI_CUDA_ARG_CACHE];
  int n_arg_cache, arg_cache_next;
  /* step graphs */
  GHashTable *graphs;             /* key -> OmniCudaGraph */
  OmniCudaMode mode;
  OmniCudaGraph *step;            /* the graph being captured or replayed */
  guint op_cursor, arg_cursor;
  gboolean in_step;
  OmniCudaStats stats;
} OmniCudaBackend;

/* ---- cuda-pool.c ---- */
/* Takes @size bytes of device memory with one cudaMalloc (counted). */
gboolean omni_cuda_pool_init (OmniCudaBackend *cu, size_t size, GError **error);
void omni_cuda_pool_clear (OmniCudaBackend *cu);
/* A block of @size bytes (aligned) or NULL when the arena is full. */
void *omni_cuda_pool_alloc (OmniCudaBackend *cu, size_t size);
void omni_cuda_pool_free (OmniCudaBackend *cu, void *p);
/* Returns @s's buffer grown to at least @size bytes (contents lost), or NULL
 * (g_critical) when the arena is full; a growth drops the cached step
 * graphs, which may point at the old buffer. */
void *omni_cuda_scratch_reserve (OmniCudaBackend *cu, OmniCudaScratch *s, size_t size);
void omni_cuda_scratch_clear (OmniCudaBackend *cu, OmniCudaScratch *s);
/* Device copy of the host array @host (@size bytes) for this op's launch,
 * through the pinned staging area; a captured step keeps its offset so a
 * replay refreshes the same device bytes. */
const void *omni_cuda_arg (OmniCudaBackend *cu, const void *host, size_t size);
/* Starts op @name with signature @sig; FALSE when the op must not queue
 * device work (replay: the graph does it). */
gboolean omni_cuda_op_begin (OmniCudaBackend *cu, const char *name, guint64 sig);
/* Mixes @n bytes at @p into the signature @h (FNV-1a). */
guint64 omni_cuda_sig (guint64 h, const void *p, size_t n);
/* Signature of a tensor: data pointer, dtype and shape. */
guint64 omni_cuda_sig_tensor (guint64 h, const OmniTensor *t);
/* Waits for the stream and recycles the staging area. */
void omni_cuda_sync (OmniCudaBackend *cu);
/* Drops every cached graph (tensors or scratch they use went away). */
void omni_cuda_graphs_drop (OmniCudaBackend *cu);
/* Creates and destroys the table of captured steps. */
void omni_cuda_graphs_init (OmniCudaBackend *cu);
void omni_cuda_graphs_clear (OmniCudaBackend *cu);
void omni_cuda_step_begin (OmniBackend *b, guint64 key);
void omni_cuda_step_end (OmniBackend *b);

/* Makes @cu's device current on the calling thread (the CUDA current device
 * is per thread; the backend may be opened on one thread and run on another). */
void omni_cuda_bind (OmniCudaBackend *cu);
/* Reports a failed CUDA call; FALSE when @err is not cudaSuccess. */
gboolean omni_cuda_ok (cudaError_t err, const char *what);
/* The kernels' view of a weight's dtype; FALSE for non-float dtypes. */
gboolean omni_cuda_float_type (const OmniTensor *t, const char *op, const char *what);
gboolean omni_cuda_check_f32 (const OmniTensor *t, const char *op, const char *what);

/* ---- op families ---- */
void omni_cuda_matmul (OmniBackend *b, OmniTensor *y, const OmniTensor *x, const OmniTensor *w,
                       const OmniTensor *bias);
void omni_cuda_matmul_plans_free (OmniCudaBackend *cu);
void omni_cuda_embed (OmniBackend *b, OmniTensor *out, const OmniTensor *table, const int32_t *ids, int n);
void omni_cuda_get_rows (OmniBackend *b, OmniTensor *dst, const OmniTensor *src, const int32_t *rows, int n);
void omni_cuda_rmsnorm (OmniBackend *b, OmniTensor *y, const OmniTensor *x, const OmniTensor *w, float eps);
void omni_cuda_rope (OmniBackend *b, OmniTensor *x, const int32_t *pos, const OmniRope *rope);
void omni_cuda_swiglu (OmniBackend *b, OmniTensor *y, const OmniTensor *gate, const OmniTensor *up);
void omni_cuda_add (OmniBackend *b, OmniTensor *y, const OmniTensor *a, const OmniTensor *c);
void omni_cuda_kv_store (OmniBackend *b, OmniKVCache *kv, int layer, const OmniTensor *k,
                         const OmniTensor *v, const OmniBatch *batch);
void omni_cuda_attention (OmniBackend *b, OmniTensor *out, const OmniTensor *q, const OmniKVCache *kv,
                          int layer, const OmniBatch *batch, float scale);
void omni_cuda_moe_route (OmniBackend *b, OmniTensor *ids, OmniTensor *weights, const OmniTensor *logits,
                          int k, gboolean norm_topk);
void omni_cuda_moe_experts (OmniBackend *b, OmniTensor *y, const OmniTensor *x, const OmniTensor *ids,
                            const OmniTensor *weights, const OmniTensor *gate, const OmniTensor *up,
                            const OmniTensor *down, int n_experts);
void omni_cuda_conv (OmniBackend *b, OmniTensor *y, const OmniTensor *x, const OmniTensor *w,
                     const OmniTensor *bias, const OmniConvParams *p);
void omni_cuda_layernorm (OmniBackend *b, OmniTensor *y, const OmniTensor *x, const OmniTensor *w,
                          const OmniTensor *bias, float eps);
void omni_cuda_gelu (OmniBackend *b, OmniTensor *y, const OmniTensor *x, gboolean tanh_approx);
void omni_cuda_set_rows (OmniBackend *b, OmniTensor *dst, const OmniTensor *src, const int32_t *rows, int n);
void omni_cuda_permute (OmniBackend *b, OmniTensor *y, const OmniTensor *x, const int *perm);
void omni_cuda_attention_segments (OmniBackend *b, OmniTensor *out, const OmniTensor *q, const OmniTensor *k,
                                   const OmniTensor *v, const int32_t *cu_seqlens, int n_segs, float scale);

#endif /* OMNI_CUDA_BACKEND_H */
