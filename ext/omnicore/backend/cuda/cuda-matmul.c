/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* matmul on cuBLASLt.
 *
 * Row-major y[n, out] = x[n, in] . w[out, in]^T. cuBLASLt is column-major,
 * where a row-major [r, c] matrix is a [c, r] matrix with leading dim c. So
 * with A = w seen as [in, out] (ld in), B = x seen as [in, n] (ld in) and
 * D = y seen as [out, n] (ld out), the product D = op(A) . B with
 * op(A) = A^T ([out, in]) is exactly y^T = w . x^T: m = out, n = n, k = in.
 *
 * cuBLASLt's A and B must share a type. Weights stay in their stored type on
 * the device, so for bf16 (f16) weights the f32 activations are rounded to
 * bf16 (f16) into a scratch buffer per call and the GEMM runs
 * bf16 x bf16 -> f32 with f32 accumulation (tensor cores). That rounding
 * (2^-9 relative for bf16) is the one numeric difference from the cpu
 * backend; f32 weights run an f32 GEMM (CUBLAS_COMPUTE_32F, no TF32). A bias
 * is added by the BIAS epilogue in f32. Descriptors and the chosen algorithm
 * are cached per shape, so a step creates nothing. */
#include "cuda-backend.h"

typedef struct {
  int64_t m, n, k;
  int type;         /* OmniDType of A and B */
  int bias;
} PlanKey;

typedef struct {
  PlanKey key;
  cublasLtMatmulDesc_t op;
  cublasLtMatrixLayout_t a, b, d;
  cublasLtMatmulAlgo_t algo;
} Plan;

static guint
plan_hash (gconstpointer p)
{
  const PlanKey *k = p;
  return (guint) (k->m * 73856093 ^ k->n * 19349663 ^ k->k * 83492791 ^ k->type * 31 ^ k->bias);
}

static gboolean
plan_equal (gconstpointer a, gconstpointer b)
{
  return memcmp (a, b, sizeof (PlanKey)) == 0;
}

static void
plan_free (gpointer data)
{
  Plan *p = data;

  if (p->op)
    cublasLtMatmulDescDestroy (p->op);
  if (p->a)
    cublasLtMatrixLayoutDestroy (p->a);
  if (p->b)
    cublasLtMatrixLayoutDestroy (p->b);
  if (p->d)
    cublasLtMatrixLayoutDestroy (p->d);
  g_free (p);
}

void
omni_cuda_matmul_plans_free (OmniCudaBackend *cu)
{
  if (cu->mm_plans != NULL)
    g_hash_table_destroy (cu->mm_plans);
  cu->mm_plans = NULL;
}

static cudaDataType_t
lt_type (int dtype)
{
  return dtype == OMNI_DTYPE_BF16 ? CUDA_R_16BF : dtype == OMNI_DTYPE_F16 ? CUDA_R_16F : CUDA_R_32F;
}

static gboolean
lt_ok (cublasStatus_t s, const char *what)
{
  if (s == CUBLAS_STATUS_SUCCESS)
    return TRUE;
  g_critical ("cuda matmul: %s failed: cuBLAS status %d", what, (int) s);
  return FALSE;
}

static Plan *
plan_new (OmniCudaBackend *cu, const PlanKey *key)
{
  Plan *p = g_new0 (Plan, 1);
  cublasOperation_t ta = CUBLAS_OP_T, tb = CUBLAS_OP_N;
  cublasLtEpilogue_t epi = CUBLASLT_EPILOGUE_BIAS;
  cudaDataType_t ab = lt_type (key->type), bias_type = CUDA_R_32F;
  cublasLtMatmulPreference_t pref = NULL;
  cublasLtMatmulHeuristicResult_t result;
  size_t ws = cu->lt_workspace_size;
  int found = 0;

  p->key = *key;
  if (!lt_ok (cublasLtMatmulDescCreate (&p->op, CUBLAS_COMPUTE_32F, CUDA_R_32F), "MatmulDescCreate") ||
      !lt_ok (cublasLtMatmulDescSetAttribute (p->op, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof ta), "TRANSA") ||
      !lt_ok (cublasLtMatmulDescSetAttribute (p->op, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof tb), "TRANSB") ||
      (key->bias &&
       (!lt_ok (cublasLtMatmulDescSetAttribute (p->op, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof epi),
                "EPILOGUE") ||
        !lt_ok (cublasLtMatmulDescSetAttribute (p->op, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, &bias_type,
                                                sizeof bias_type), "BIAS_DATA_TYPE"))) ||
      !lt_ok (cublasLtMatrixLayoutCreate (&p->a, ab, key->k, key->m, key->k), "layout A") ||
      !lt_ok (cublasLtMatrixLayoutCreate (&p->b, ab, key->k, key->n, key->k), "layout B") ||
      !lt_ok (cublasLtMatrixLayoutCreate (&p->d, CUDA_R_32F, key->m, key->n, key->m), "layout D") ||
      !lt_ok (cublasLtMatmulPreferenceCreate (&pref), "PreferenceCreate") ||
      !lt_ok (cublasLtMatmulPreferenceSetAttribute (pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws,
                                                    sizeof ws), "MAX_WORKSPACE_BYTES") ||
      !lt_ok (cublasLtMatmulAlgoGetHeuristic (cu->lt, p->op, p->a, p->b, p->d, p->d, pref, 1, &result,
                                              &found), "AlgoGetHeuristic") ||
      found < 1) {
    if (found < 1)
      g_critical ("cuda matmul: cuBLASLt has no algorithm for m %" G_GINT64_FORMAT " n %" G_GINT64_FORMAT
                  " k %" G_GINT64_FORMAT " (%s)", key->m, key->n, key->k, omni_dtype_name (key->type));
    if (pref)
      cublasLtMatmulPreferenceDestroy (pref);
    plan_free (p);
    return NULL;
  }
  cublasLtMatmulPreferenceDestroy (pref);
  p->algo = result.algo;
  return p;
}

static Plan *
plan_get (OmniCudaBackend *cu, const PlanKey *key)
{
  Plan *p;

  if (cu->mm_plans == NULL)
    cu->mm_plans = g_hash_table_new_full (plan_hash, plan_equal, NULL, plan_free);
  p = g_hash_table_lookup (cu->mm_plans, key);
  if (p == NULL && (p = plan_new (cu, key)) != NULL)
    g_hash_table_insert (cu->mm_plans, &p->key, p);
  return p;
}

void
omni_cuda_matmul (OmniBackend *b, OmniTensor *y, const OmniTensor *x, const OmniTensor *w,
                  const OmniTensor *bias)
{
  OmniCudaBackend *cu = (OmniCudaBackend *) b;
  PlanKey key;
  Plan *plan;
  const void *xb, *bias_f32 = NULL;
  float one = 1.0f, zero = 0.0f;
  guint64 sig;

  if (!omni_cuda_check_f32 (y, "matmul", "y") || !omni_cuda_check_f32 (x, "matmul", "x") ||
      !omni_cuda_float_type (w, "matmul", "w") || (bias && !omni_cuda_float_type (bias, "matmul", "bias")))
    return;
  g_return_if_fail (w->n_dims == 2);
  memset (&key, 0, sizeof key);
  key.k = w->shape[1];
  key.m = w->shape[0];
  key.n = omni_tensor_rows (x);
  key.type = w->dtype;
  key.bias = bias != NULL;
  g_return_if_fail (x->shape[x->n_dims - 1] == key.k);
  g_return_if_fail (omni_tensor_rows (y) == key.n && y->shape[y->n_dims - 1] == key.m);
  g_return_if_fail (bias == NULL || (bias->n_dims == 1 && bias->shape[0] == key.m));
  sig = omni_cuda_sig_tensor (omni_cuda_sig_tensor (omni_cuda_sig_tensor (
          omni_cuda_sig_tensor (0xcbf29ce484222325ull, y), x), w), bias);
  if (!omni_cuda_op_begin (cu, "matmul", sig) || key.n == 0)
    return;
  if ((plan = plan_get (cu, &key)) == NULL)
    return;

  xb = x->data;
  if (w->dtype != OMNI_DTYPE_F32) {
    void *buf = omni_cuda_scratch_reserve (cu, &cu->act, (size_t) (key.n * key.k) * 2);
    if (buf == NULL)
      return;
    omni_cuda_ok (omni_k_convert (buf, (OmniKDType) w->dtype, x->data, OMNI_K_F32, key.n * key.k, cu->stream),
                  "omni_k_convert (activations for cuBLASLt)");
    xb = buf;
  }
  if (bias != NULL) {
    bias_f32 = bias->data;
    if (bias->dtype != OMNI_DTYPE_F32) {
      void *buf = omni_cuda_scratch_reserve (cu, &cu->bias, (size_t) key.m * sizeof (float));
      if (buf == NULL)
        return;
      omni_cuda_ok (omni_k_convert (buf, OMNI_K_F32, bias->data, (OmniKDType) bias->dtype, key.m, cu->stream),
                    "omni_k_convert (bias)");
      bias_f32 = buf;
    }
    if (!lt_ok (cublasLtMatmulDescSetAttribute (plan->op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias_f32,
                                                sizeof bias_f32), "BIAS_POINTER"))
      return;
  }
  lt_ok (cublasLtMatmul (cu->lt, plan->op, &one, w->data, plan->a, xb, plan->b, &zero, y->data, plan->d,
                         y->data, plan->d, &plan->algo, cu->lt_workspace, cu->lt_workspace_size, cu->stream),
         "cublasLtMatmul");
}
