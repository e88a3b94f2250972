/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The subset of cuBLASLt the backend calls, on the CPU, with the signatures of
 * the real cublasLt.h: D = alpha * op(A) op(B) + beta * C (+ bias per row of
 * D), column-major (or row-major) layouts with leading dimensions, strided
 * batches, A/B in bf16, f16 or f32 and C/D in the same type or f32, always
 * accumulated in f32 (the FAST_* compute types also compute in full f32).
 * Combinations the real library refuses are refused here too
 * (CUBLAS_STATUS_NOT_SUPPORTED), so the backend cannot depend on more. */
#include <cublasLt.h>

#include "emu-internal.h"

#include <stdlib.h>
#include <string.h>

struct cublasLtContext {
  int magic;
};

namespace {

const int HANDLE_MAGIC = 0x4c74656d;  /* "Ltem" */

/* What we keep inside cublasLtMatrixLayoutOpaque_t. */
struct Layout {
  cudaDataType_t type;
  int32_t order;
  uint64_t rows, cols;
  int64_t ld;
  int32_t batch;
  int64_t batch_stride;
};
static_assert (sizeof (Layout) <= sizeof (cublasLtMatrixLayoutOpaque_t), "layout fits");

/* What we keep inside cublasLtMatmulDescOpaque_t. */
struct Desc {
  cublasComputeType_t compute;
  cudaDataType_t scale;
  int32_t pointer_mode;
  int32_t transa, transb;
  uint32_t epilogue;
  const void *bias;
  int32_t bias_type;
  int64_t bias_batch_stride;
};
static_assert (sizeof (Desc) <= sizeof (cublasLtMatmulDescOpaque_t), "desc fits");

struct Pref {
  uint64_t max_workspace;
};
static_assert (sizeof (Pref) <= sizeof (cublasLtMatmulPreferenceOpaque_t), "pref fits");

/* One matmul with everything captured by value (graphs replay it). */
struct Call {
  Layout a, b, c, d;
  int transa, transb;
  float alpha, beta;
  const float *alpha_dev, *beta_dev;   /* device pointer mode: read when run */
  const void *A, *B, *C;
  void *D;
  const void *bias;
  cudaDataType_t bias_type;
  int64_t bias_batch_stride;
};

template <typename T>
cublasStatus_t
set_attr (T *dst, const void *buf, size_t size)
{
  if (!buf || size != sizeof (T))
    return CUBLAS_STATUS_INVALID_VALUE;
  memcpy (dst, buf, sizeof (T));
  return CUBLAS_STATUS_SUCCESS;
}

bool
is_float_type (cudaDataType_t t)
{
  return t == CUDA_R_16BF || t == CUDA_R_16F || t == CUDA_R_32F;
}

/* Element (r, c) of matrix @batch of layout @l. */
size_t
index_of (const Layout *l, int64_t batch, uint64_t r, uint64_t c)
{
  size_t off = (size_t) (batch * l->batch_stride);
  if (l->order == CUBLASLT_ORDER_ROW)
    return off + r * (size_t) l->ld + c;
  return off + r + c * (size_t) l->ld;
}

bool
layout_ok (const Layout *l)
{
  if (l->order != CUBLASLT_ORDER_COL && l->order != CUBLASLT_ORDER_ROW)
    return false;
  uint64_t inner = l->order == CUBLASLT_ORDER_COL ? l->rows : l->cols;
  return l->ld >= 1 && (uint64_t) l->ld >= inner && l->batch >= 1 && l->batch_stride >= 0;
}

void
run_call (void *p)
{
  const Call *k = (const Call *) p;
  const Layout *la = &k->a, *lb = &k->b, *lc = &k->c, *ld = &k->d;
  uint64_t m = ld->rows, n = ld->cols;
  uint64_t kk = k->transa == CUBLAS_OP_N ? la->cols : la->rows;
  float *af = (float *) omni_emu_scratch (0, sizeof (float) * (m * kk + 1));
  float *bf = (float *) omni_emu_scratch (1, sizeof (float) * (n * kk + 1));
  float alpha = k->alpha_dev ? *k->alpha_dev : k->alpha;
  float beta = k->beta_dev ? *k->beta_dev : k->beta;

  for (int64_t bt = 0; bt < ld->batch; bt++) {
    /* op(A) row i and op(B) column j, contiguous in f32. */
    for (uint64_t i = 0; i < m; i++)
      for (uint64_t p = 0; p < kk; p++) {
        size_t ix = k->transa == CUBLAS_OP_N ? index_of (la, bt, i, p) : index_of (la, bt, p, i);
        af[i * kk + p] = omni_emu_load_f32 (k->A, la->type, ix);
      }
    for (uint64_t j = 0; j < n; j++)
      for (uint64_t p = 0; p < kk; p++) {
        size_t ix = k->transb == CUBLAS_OP_N ? index_of (lb, bt, p, j) : index_of (lb, bt, j, p);
        bf[j * kk + p] = omni_emu_load_f32 (k->B, lb->type, ix);
      }
    for (uint64_t j = 0; j < n; j++)
      for (uint64_t i = 0; i < m; i++) {
        float acc = 0.0f;
        const float *ar = af + i * kk, *bc = bf + j * kk;
        for (uint64_t p = 0; p < kk; p++)
          acc += ar[p] * bc[p];
        float v = alpha * acc;
        if (beta != 0.0f)
          v += beta * omni_emu_load_f32 (k->C, lc->type, index_of (lc, bt, i, j));
        if (k->bias)
          v += omni_emu_load_f32 (k->bias, k->bias_type, (size_t) (bt * k->bias_batch_stride) + i);
        omni_emu_store_f32 (k->D, ld->type, index_of (ld, bt, i, j), v);
      }
  }
}

bool
types_supported (cudaDataType_t ab, cudaDataType_t cd)
{
  if (!is_float_type (ab) || !is_float_type (cd))
    return false;
  return cd == ab || cd == CUDA_R_32F;
}

} /* namespace */

extern "C" cublasStatus_t
cublasLtCreate (cublasLtHandle_t *handle)
{
  if (!handle)
    return CUBLAS_STATUS_INVALID_VALUE;
  *handle = (cublasLtHandle_t) calloc (1, sizeof (struct cublasLtContext));
  if (!*handle)
    return CUBLAS_STATUS_ALLOC_FAILED;
  (*handle)->magic = HANDLE_MAGIC;
  return CUBLAS_STATUS_SUCCESS;
}

extern "C" cublasStatus_t
cublasLtDestroy (cublasLtHandle_t handle)
{
  if (!handle || handle->magic != HANDLE_MAGIC)
    return CUBLAS_STATUS_NOT_INITIALIZED;
  handle->magic = 0;
  free (handle);
  return CUBLAS_STATUS_SUCCESS;
}

extern "C" cublasStatus_t
cublasLtMatrixLayoutCreate (cublasLtMatrixLayout_t *layout, cudaDataType type, uint64_t rows,
    uint64_t cols, int64_t ld)
{
  if (!layout)
    return CUBLAS_STATUS_INVALID_VALUE;
  *layout = (cublasLtMatrixLayout_t) calloc (1, sizeof (cublasLtMatrixLayoutOpaque_t));
  if (!*layout)
    return CUBLAS_STATUS_ALLOC_FAILED;
  Layout *l = (Layout *) *layout;
  l->type = type;
  l->order = CUBLASLT_ORDER_COL;
  l->rows = rows;
  l->cols = cols;
  l->ld = ld;
  l->batch = 1;
  return CUBLAS_STATUS_SUCCESS;
}

extern "C" cublasStatus_t
cublasLtMatrixLayoutDestroy (cublasLtMatrixLayout_t layout)
{
  free (layout);
  return CUBLAS_STATUS_SUCCESS;
}

extern "C" cublasStatus_t
cublasLtMatrixLayoutSetAttribute (cublasLtMatrixLayout_t layout,
    cublasLtMatrixLayoutAttribute_t attr, const void *buf, size_t size)
{
  if (!layout)
    return CUBLAS_STATUS_INVALID_VALUE;
  Layout *l = (Layout *) layout;
  switch (attr) {
  case CUBLASLT_MATRIX_LAYOUT_TYPE: {
    uint32_t t = (uint32_t) l->type;
    cublasStatus_t s = set_attr (&t, buf, size);
    l->type = (cudaDataType_t) t;
    return s;
  }
  case CUBLASLT_MATRIX_LAYOUT_ORDER: return set_attr (&l->order, buf, size);
  case CUBLASLT_MATRIX_LAYOUT_ROWS: return set_attr (&l->rows, buf, size);
  case CUBLASLT_MATRIX_LAYOUT_COLS: return set_attr (&l->cols, buf, size);
  case CUBLASLT_MATRIX_LAYOUT_LD: return set_attr (&l->ld, buf, size);
  case CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT: return set_attr (&l->batch, buf, size);
  case CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET: return set_attr (&l->batch_stride, buf, size);
  default: return CUBLAS_STATUS_NOT_SUPPORTED;
  }
}

extern "C" cublasStatus_t
cublasLtMatmulDescCreate (cublasLtMatmulDesc_t *desc, cublasComputeType_t compute,
    cudaDataType_t scale)
{
  if (!desc)
    return CUBLAS_STATUS_INVALID_VALUE;
  *desc = (cublasLtMatmulDesc_t) calloc (1, sizeof (cublasLtMatmulDescOpaque_t));
  if (!*desc)
    return CUBLAS_STATUS_ALLOC_FAILED;
  Desc *d = (Desc *) *desc;
  d->compute = compute;
  d->scale = scale;
  d->pointer_mode = CUBLASLT_POINTER_MODE_HOST;
  d->transa = CUBLAS_OP_N;
  d->transb = CUBLAS_OP_N;
  d->epilogue = CUBLASLT_EPILOGUE_DEFAULT;
  d->bias_type = -1;
  return CUBLAS_STATUS_SUCCESS;
}

extern "C" cublasStatus_t
cublasLtMatmulDescDestroy (cublasLtMatmulDesc_t desc)
{
  free (desc);
  return CUBLAS_STATUS_SUCCESS;
}

extern "C" cublasStatus_t
cublasLtMatmulDescSetAttribute (cublasLtMatmulDesc_t desc, cublasLtMatmulDescAttributes_t attr,
    const void *buf, size_t size)
{
  if (!desc)
    return CUBLAS_STATUS_INVALID_VALUE;
  Desc *d = (Desc *) desc;
  switch (attr) {
  case CUBLASLT_MATMUL_DESC_POINTER_MODE: return set_attr (&d->pointer_mode, buf, size);
  case CUBLASLT_MATMUL_DESC_TRANSA: return set_attr (&d->transa, buf, size);
  case CUBLASLT_MATMUL_DESC_TRANSB: return set_attr (&d->transb, buf, size);
  case CUBLASLT_MATMUL_DESC_EPILOGUE: return set_attr (&d->epilogue, buf, size);
  case CUBLASLT_MATMUL_DESC_BIAS_POINTER: return set_attr (&d->bias, buf, size);
  case CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE: return set_attr (&d->bias_type, buf, size);
  case CUBLASLT_MATMUL_DESC_BIAS_BATCH_STRIDE: return set_attr (&d->bias_batch_stride, buf, size);
  default: return CUBLAS_STATUS_NOT_SUPPORTED;
  }
}

extern "C" cublasStatus_t
cublasLtMatmulPreferenceCreate (cublasLtMatmulPreference_t *pref)
{
  if (!pref)
    return CUBLAS_STATUS_INVALID_VALUE;
  *pref = (cublasLtMatmulPreference_t) calloc (1, sizeof (cublasLtMatmulPreferenceOpaque_t));
  return *pref ? CUBLAS_STATUS_SUCCESS : CUBLAS_STATUS_ALLOC_FAILED;
}

extern "C" cublasStatus_t
cublasLtMatmulPreferenceDestroy (cublasLtMatmulPreference_t pref)
{
  free (pref);
  return CUBLAS_STATUS_SUCCESS;
}

extern "C" cublasStatus_t
cublasLtMatmulPreferenceSetAttribute (cublasLtMatmulPreference_t pref,
    cublasLtMatmulPreferenceAttributes_t attr, const void *buf, size_t size)
{
  if (!pref)
    return CUBLAS_STATUS_INVALID_VALUE;
  Pref *p = (Pref *) pref;
  switch (attr) {
  case CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES: return set_attr (&p->max_workspace, buf, size);
  default: return CUBLAS_STATUS_NOT_SUPPORTED;
  }
}

/* Checks a matmul and fills @call (pointers left to the caller). */
static cublasStatus_t
prepare (const Desc *d, cublasLtMatrixLayout_t A, cublasLtMatrixLayout_t B,
    cublasLtMatrixLayout_t C, cublasLtMatrixLayout_t D, Call *call)
{
  if (!d || !A || !B || !C || !D)
    return CUBLAS_STATUS_INVALID_VALUE;
  if ((d->compute != CUBLAS_COMPUTE_32F && d->compute != CUBLAS_COMPUTE_32F_FAST_16BF
          && d->compute != CUBLAS_COMPUTE_32F_FAST_16F && d->compute != CUBLAS_COMPUTE_32F_FAST_TF32)
      || d->scale != CUDA_R_32F
      || (d->pointer_mode != CUBLASLT_POINTER_MODE_HOST
          && d->pointer_mode != CUBLASLT_POINTER_MODE_DEVICE)
      || (d->epilogue != CUBLASLT_EPILOGUE_DEFAULT && d->epilogue != CUBLASLT_EPILOGUE_BIAS))
    return CUBLAS_STATUS_NOT_SUPPORTED;
  if ((d->transa != CUBLAS_OP_N && d->transa != CUBLAS_OP_T)
      || (d->transb != CUBLAS_OP_N && d->transb != CUBLAS_OP_T))
    return CUBLAS_STATUS_NOT_SUPPORTED;
  memset (call, 0, sizeof *call);
  call->a = *(const Layout *) A;
  call->b = *(const Layout *) B;
  call->c = *(const Layout *) C;
  call->d = *(const Layout *) D;
  const Layout *la = &call->a, *lb = &call->b, *lc = &call->c, *ld = &call->d;
  if (la->type != lb->type || lc->type != ld->type || !types_supported (la->type, ld->type))
    return CUBLAS_STATUS_NOT_SUPPORTED;
  if (!layout_ok (la) || !layout_ok (lb) || !layout_ok (lc) || !layout_ok (ld))
    return CUBLAS_STATUS_INVALID_VALUE;
  uint64_t am = d->transa == CUBLAS_OP_N ? la->rows : la->cols;
  uint64_t ak = d->transa == CUBLAS_OP_N ? la->cols : la->rows;
  uint64_t bk = d->transb == CUBLAS_OP_N ? lb->rows : lb->cols;
  uint64_t bn = d->transb == CUBLAS_OP_N ? lb->cols : lb->rows;
  if (am != ld->rows || bn != ld->cols || ak != bk || lc->rows != ld->rows
      || lc->cols != ld->cols)
    return CUBLAS_STATUS_INVALID_VALUE;
  if (la->batch != ld->batch || lb->batch != ld->batch || lc->batch != ld->batch)
    return CUBLAS_STATUS_INVALID_VALUE;
  call->transa = d->transa;
  call->transb = d->transb;
  if (d->epilogue == CUBLASLT_EPILOGUE_BIAS) {
    cudaDataType_t bt = d->bias_type < 0 ? ld->type : (cudaDataType_t) d->bias_type;
    /* the pointer may come after the heuristic, as with the real library;
     * cublasLtMatmul checks it */
    if (!is_float_type (bt))
      return CUBLAS_STATUS_INVALID_VALUE;
    call->bias = d->bias;
    call->bias_type = bt;
    call->bias_batch_stride = d->bias_batch_stride;
  }
  return CUBLAS_STATUS_SUCCESS;
}

extern "C" cublasStatus_t
cublasLtMatmulAlgoGetHeuristic (cublasLtHandle_t handle, cublasLtMatmulDesc_t desc,
    cublasLtMatrixLayout_t A, cublasLtMatrixLayout_t B, cublasLtMatrixLayout_t C,
    cublasLtMatrixLayout_t D, cublasLtMatmulPreference_t pref, int requested,
    cublasLtMatmulHeuristicResult_t results[], int *returned)
{
  if (!handle || handle->magic != HANDLE_MAGIC)
    return CUBLAS_STATUS_NOT_INITIALIZED;
  if (!pref || requested < 1 || !results || !returned)
    return CUBLAS_STATUS_INVALID_VALUE;
  Call call;
  cublasStatus_t s = prepare ((const Desc *) desc, A, B, C, D, &call);
  *returned = 0;
  if (s != CUBLAS_STATUS_SUCCESS)
    return s;
  memset (&results[0], 0, sizeof results[0]);
  results[0].algo.data[0] = 0x656d75;   /* "emu": the one algorithm */
  results[0].workspaceSize = 0;
  results[0].state = CUBLAS_STATUS_SUCCESS;
  results[0].wavesCount = 1.0f;
  *returned = 1;
  return CUBLAS_STATUS_SUCCESS;
}

extern "C" cublasStatus_t
cublasLtMatmul (cublasLtHandle_t handle, cublasLtMatmulDesc_t desc, const void *alpha,
    const void *A, cublasLtMatrixLayout_t Adesc, const void *B, cublasLtMatrixLayout_t Bdesc,
    const void *beta, const void *C, cublasLtMatrixLayout_t Cdesc, void *D,
    cublasLtMatrixLayout_t Ddesc, const cublasLtMatmulAlgo_t *algo, void *workspace,
    size_t workspace_size, cudaStream_t stream)
{
  (void) algo, (void) workspace, (void) workspace_size;
  if (!handle || handle->magic != HANDLE_MAGIC)
    return CUBLAS_STATUS_NOT_INITIALIZED;
  Call call;
  cublasStatus_t s = prepare ((const Desc *) desc, Adesc, Bdesc, Cdesc, Ddesc, &call);
  if (s != CUBLAS_STATUS_SUCCESS)
    return s;
  if (!alpha || !beta || !A || !B || !D
      || (((const Desc *) desc)->epilogue == CUBLASLT_EPILOGUE_BIAS && !call.bias))
    return CUBLAS_STATUS_INVALID_VALUE;
  if (((const Desc *) desc)->pointer_mode == CUBLASLT_POINTER_MODE_DEVICE) {
    call.alpha_dev = (const float *) alpha;
    call.beta_dev = (const float *) beta;
  } else {
    call.alpha = *(const float *) alpha;
    call.beta = *(const float *) beta;
  }
  if (!C && (call.beta_dev || call.beta != 0.0f))
    return CUBLAS_STATUS_INVALID_VALUE;
  call.A = A;
  call.B = B;
  call.C = C;
  call.D = D;
  if (call.d.rows == 0 || call.d.cols == 0)
    return CUBLAS_STATUS_SUCCESS;
  if (omni_emu_stream_enqueue (stream, run_call, &call, sizeof call) != cudaSuccess)
    return CUBLAS_STATUS_EXECUTION_FAILED;
  return CUBLAS_STATUS_SUCCESS;
}
