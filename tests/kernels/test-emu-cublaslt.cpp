/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The emulated cuBLASLt against a naive reference: every dtype combination
 * the real library accepts with f32 compute, both transposes, odd sizes,
 * padded leading dimensions, strided batches (including broadcast), alpha and
 * beta, the bias epilogue, row-major order, the row-major trick the backend
 * uses, and the refusals. Host C++ on the real cublasLt.h. */
#include <glib.h>
#include <cublasLt.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime_api.h>
#include <math.h>
#include <string.h>

static size_t
esize (cudaDataType_t t)
{
  return t == CUDA_R_32F ? 4 : 2;
}

/* Rounds @v through @t (what storing it does). */
static float
round_to (cudaDataType_t t, float v)
{
  if (t == CUDA_R_16BF)
    return __bfloat162float (__float2bfloat16_rn (v));
  if (t == CUDA_R_16F)
    return __half2float (__float2half_rn (v));
  return v;
}

static void
store (void *p, cudaDataType_t t, size_t i, float v)
{
  if (t == CUDA_R_16BF)
    ((__nv_bfloat16 *) p)[i] = __float2bfloat16_rn (v);
  else if (t == CUDA_R_16F)
    ((__half *) p)[i] = __float2half_rn (v);
  else
    ((float *) p)[i] = v;
}

static float
load (const void *p, cudaDataType_t t, size_t i)
{
  if (t == CUDA_R_16BF)
    return __bfloat162float (((const __nv_bfloat16 *) p)[i]);
  if (t == CUDA_R_16F)
    return __half2float (((const __half *) p)[i]);
  return ((const float *) p)[i];
}

/* A column-major (or row-major) batch of matrices in host and device memory. */
struct Mat {
  cudaDataType_t type;
  int rows, cols, ld, batch;
  long stride;
  bool row_major;
  size_t n;         /* elements */
  void *host, *dev;
  cublasLtMatrixLayout_t layout;
};

static size_t
mat_index (const Mat *m, int b, int r, int c)
{
  return (size_t) (b * m->stride) + (m->row_major ? (size_t) r * m->ld + c : r + (size_t) c * m->ld);
}

static void
mat_init (Mat *m, cudaDataType_t type, int rows, int cols, int pad, int batch, bool broadcast,
    bool row_major, GRand *rng)
{
  m->type = type;
  m->rows = rows;
  m->cols = cols;
  m->row_major = row_major;
  m->ld = (row_major ? cols : rows) + pad;
  m->batch = batch;
  long one = (long) m->ld * (row_major ? rows : cols) + 3;   /* gap between matrices */
  m->stride = broadcast ? 0 : one;
  m->n = (size_t) (broadcast ? one : one * batch);
  m->host = g_malloc (m->n * esize (type));
  for (size_t i = 0; i < m->n; i++)
    store (m->host, type, i, (float) g_rand_double_range (rng, -1.0, 1.0));
  g_assert_cmpint (cudaMalloc (&m->dev, m->n * esize (type)), ==, cudaSuccess);
  g_assert_cmpint (cudaMemcpy (m->dev, m->host, m->n * esize (type), cudaMemcpyHostToDevice), ==,
      cudaSuccess);
  g_assert_cmpint (cublasLtMatrixLayoutCreate (&m->layout, type, rows, cols, m->ld), ==,
      CUBLAS_STATUS_SUCCESS);
  int32_t order = row_major ? CUBLASLT_ORDER_ROW : CUBLASLT_ORDER_COL;
  int32_t bc = batch;
  int64_t st = m->stride;
  g_assert_cmpint (cublasLtMatrixLayoutSetAttribute (m->layout, CUBLASLT_MATRIX_LAYOUT_ORDER,
          &order, sizeof order), ==, CUBLAS_STATUS_SUCCESS);
  g_assert_cmpint (cublasLtMatrixLayoutSetAttribute (m->layout, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT,
          &bc, sizeof bc), ==, CUBLAS_STATUS_SUCCESS);
  g_assert_cmpint (cublasLtMatrixLayoutSetAttribute (m->layout,
          CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &st, sizeof st), ==, CUBLAS_STATUS_SUCCESS);
}

static void
mat_clear (Mat *m)
{
  cudaFree (m->dev);
  g_free (m->host);
  cublasLtMatrixLayoutDestroy (m->layout);
}

struct Case {
  cudaDataType_t ab, cd;
  int m, n, k, batch;
  bool ta, tb, bias, row_major, broadcast_a, in_place;
  float alpha, beta;
};

/* Runs one matmul and compares every element of D (and that the gaps
 * between D's matrices are untouched) with a double reference. */
static void
run_case (cublasLtHandle_t lt, const Case *cs, GRand *rng)
{
  Mat a, b, c, d;
  int pad = 2;
  mat_init (&a, cs->ab, cs->ta ? cs->k : cs->m, cs->ta ? cs->m : cs->k, pad, cs->batch,
      cs->broadcast_a, cs->row_major, rng);
  mat_init (&b, cs->ab, cs->tb ? cs->n : cs->k, cs->tb ? cs->k : cs->n, 1, cs->batch, false,
      cs->row_major, rng);
  mat_init (&c, cs->cd, cs->m, cs->n, 3, cs->batch, false, cs->row_major, rng);
  mat_init (&d, cs->cd, cs->m, cs->n, 3, cs->batch, false, cs->row_major, rng);
  Mat *out = cs->in_place ? &c : &d;

  cudaDataType_t bias_type = cs->cd;
  void *bias_host = g_malloc (cs->m * esize (bias_type)), *bias_dev = NULL;
  for (int i = 0; i < cs->m; i++)
    store (bias_host, bias_type, i, (float) i * 0.125f - 1.0f);
  g_assert_cmpint (cudaMalloc (&bias_dev, cs->m * esize (bias_type)), ==, cudaSuccess);
  g_assert_cmpint (cudaMemcpy (bias_dev, bias_host, cs->m * esize (bias_type),
          cudaMemcpyHostToDevice), ==, cudaSuccess);

  cublasLtMatmulDesc_t desc;
  g_assert_cmpint (cublasLtMatmulDescCreate (&desc, CUBLAS_COMPUTE_32F, CUDA_R_32F), ==,
      CUBLAS_STATUS_SUCCESS);
  int32_t ta = cs->ta ? CUBLAS_OP_T : CUBLAS_OP_N, tb = cs->tb ? CUBLAS_OP_T : CUBLAS_OP_N;
  g_assert_cmpint (cublasLtMatmulDescSetAttribute (desc, CUBLASLT_MATMUL_DESC_TRANSA, &ta,
          sizeof ta), ==, CUBLAS_STATUS_SUCCESS);
  g_assert_cmpint (cublasLtMatmulDescSetAttribute (desc, CUBLASLT_MATMUL_DESC_TRANSB, &tb,
          sizeof tb), ==, CUBLAS_STATUS_SUCCESS);
  if (cs->bias) {
    uint32_t epi = CUBLASLT_EPILOGUE_BIAS;
    g_assert_cmpint (cublasLtMatmulDescSetAttribute (desc, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi,
            sizeof epi), ==, CUBLAS_STATUS_SUCCESS);
    g_assert_cmpint (cublasLtMatmulDescSetAttribute (desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER,
            &bias_dev, sizeof bias_dev), ==, CUBLAS_STATUS_SUCCESS);
  }

  cublasLtMatmulPreference_t pref;
  cublasLtMatmulHeuristicResult_t heur;
  int returned = 0;
  uint64_t ws = 1 << 20;
  g_assert_cmpint (cublasLtMatmulPreferenceCreate (&pref), ==, CUBLAS_STATUS_SUCCESS);
  g_assert_cmpint (cublasLtMatmulPreferenceSetAttribute (pref,
          CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof ws), ==, CUBLAS_STATUS_SUCCESS);
  g_assert_cmpint (cublasLtMatmulAlgoGetHeuristic (lt, desc, a.layout, b.layout, c.layout,
          out->layout, pref, 1, &heur, &returned), ==, CUBLAS_STATUS_SUCCESS);
  g_assert_cmpint (returned, ==, 1);

  g_assert_cmpint (cublasLtMatmul (lt, desc, &cs->alpha, a.dev, a.layout, b.dev, b.layout,
          &cs->beta, c.dev, c.layout, out->dev, out->layout, &heur.algo, NULL, 0, 0), ==,
      CUBLAS_STATUS_SUCCESS);

  void *got = g_malloc (out->n * esize (cs->cd));
  g_assert_cmpint (cudaMemcpy (got, out->dev, out->n * esize (cs->cd), cudaMemcpyDeviceToHost), ==,
      cudaSuccess);
  bool *written = g_new0 (bool, out->n);
  /* Tolerance: f32 accumulation over k of products of values in [-1, 1],
   * plus one rounding to the output type (half an ulp). */
  double out_eps = cs->cd == CUDA_R_32F ? 0.0 : (cs->cd == CUDA_R_16BF ? 1.0 / 256 : 1.0 / 2048);
  for (int bt = 0; bt < cs->batch; bt++)
    for (int i = 0; i < cs->m; i++)
      for (int j = 0; j < cs->n; j++) {
        double acc = 0;
        for (int p = 0; p < cs->k; p++) {
          size_t ai = cs->ta ? mat_index (&a, bt, p, i) : mat_index (&a, bt, i, p);
          size_t bi = cs->tb ? mat_index (&b, bt, j, p) : mat_index (&b, bt, p, j);
          acc += (double) load (a.host, a.type, ai) * load (b.host, b.type, bi);
        }
        double want = cs->alpha * acc + cs->beta * load (c.host, c.type, mat_index (&c, bt, i, j));
        if (cs->bias)
          want += load (bias_host, bias_type, i);
        size_t oi = mat_index (out, bt, i, j);
        written[oi] = true;
        double v = load (got, cs->cd, oi);
        double tol = 1e-5 * (cs->k + 2) + out_eps * fabs (want);
        if (fabs (v - want) > tol)
          g_error ("matmul ab=%d cd=%d m=%d n=%d k=%d batch=%d ta=%d tb=%d bias=%d row=%d: "
              "D[%d](%d,%d) = %g, want %g", cs->ab, cs->cd, cs->m, cs->n, cs->k, cs->batch, cs->ta,
              cs->tb, cs->bias, cs->row_major, bt, i, j, v, want);
      }
  const void *before = cs->in_place ? c.host : d.host;
  for (size_t i = 0; i < out->n; i++)
    if (!written[i])
      g_assert_cmpfloat (load (got, cs->cd, i), ==, load (before, cs->cd, i));

  g_free (written);
  g_free (got);
  g_free (bias_host);
  cudaFree (bias_dev);
  cublasLtMatmulPreferenceDestroy (pref);
  cublasLtMatmulDescDestroy (desc);
  mat_clear (&a);
  mat_clear (&b);
  mat_clear (&c);
  mat_clear (&d);
}

static void
test_all_combinations (void)
{
  static const cudaDataType_t combos[][2] = {
    { CUDA_R_16BF, CUDA_R_16BF }, { CUDA_R_16BF, CUDA_R_32F }, { CUDA_R_16F, CUDA_R_16F },
    { CUDA_R_16F, CUDA_R_32F }, { CUDA_R_32F, CUDA_R_32F },
  };
  static const int sizes[][4] = {   /* m, n, k, batch */
    { 1, 1, 1, 1 }, { 7, 5, 13, 1 }, { 16, 3, 33, 1 }, { 5, 9, 4, 3 }, { 33, 2, 17, 2 },
  };
  cublasLtHandle_t lt;
  GRand *rng = g_rand_new_with_seed (5);
  int runs = 0;
  g_assert_cmpint (cublasLtCreate (&lt), ==, CUBLAS_STATUS_SUCCESS);
  for (unsigned t = 0; t < G_N_ELEMENTS (combos); t++)
    for (unsigned s = 0; s < G_N_ELEMENTS (sizes); s++)
      for (int flags = 0; flags < 32; flags++) {
        Case cs = {};
        cs.ab = combos[t][0];
        cs.cd = combos[t][1];
        cs.m = sizes[s][0];
        cs.n = sizes[s][1];
        cs.k = sizes[s][2];
        cs.batch = sizes[s][3];
        cs.ta = flags & 1;
        cs.tb = flags & 2;
        cs.bias = flags & 4;
        cs.row_major = flags & 8;
        cs.in_place = flags & 16;
        cs.broadcast_a = cs.batch > 1 && (flags & 1);
        cs.alpha = flags & 4 ? 0.75f : 1.0f;
        cs.beta = flags & 16 ? 1.0f : (flags & 2 ? 0.5f : 0.0f);
        run_case (lt, &cs, rng);
        runs++;
      }
  g_assert_cmpint (runs, ==, 5 * 5 * 32);
  cublasLtDestroy (lt);
  g_rand_free (rng);
}

/* The backend's use: Y (tokens x out, row-major) = X (tokens x in, row-major)
 * . W^T with W (out x in, row-major) as bf16, computed as the column-major
 * D (out x tokens) = op_T(W as in x out) . X (as in x tokens). */
static void
test_row_major_trick (void)
{
  const int tokens = 3, in = 11, out = 6;
  float x[tokens * in], y[tokens * out];
  __nv_bfloat16 w[out * in];
  for (int i = 0; i < tokens * in; i++)
    x[i] = round_to (CUDA_R_16BF, (float) (i % 7) - 3.0f);
  for (int i = 0; i < out * in; i++)
    w[i] = __float2bfloat16_rn ((float) (i % 5) * 0.5f);
  /* cuBLASLt cannot mix types: X goes in as bf16 too */
  __nv_bfloat16 xb[tokens * in];
  for (int i = 0; i < tokens * in; i++)
    xb[i] = __float2bfloat16_rn (x[i]);
  void *dx, *dw, *dy;
  cudaMalloc (&dx, sizeof xb);
  cudaMalloc (&dw, sizeof w);
  cudaMalloc (&dy, sizeof y);
  cudaMemcpy (dx, xb, sizeof xb, cudaMemcpyHostToDevice);
  cudaMemcpy (dw, w, sizeof w, cudaMemcpyHostToDevice);
  cublasLtHandle_t lt;
  cublasLtMatmulDesc_t desc;
  cublasLtMatrixLayout_t lw, lx, ly;
  cublasLtCreate (&lt);
  cublasLtMatmulDescCreate (&desc, CUBLAS_COMPUTE_32F, CUDA_R_32F);
  int32_t t = CUBLAS_OP_T;
  cublasLtMatmulDescSetAttribute (desc, CUBLASLT_MATMUL_DESC_TRANSA, &t, sizeof t);
  cublasLtMatrixLayoutCreate (&lw, CUDA_R_16BF, in, out, in);
  cublasLtMatrixLayoutCreate (&lx, CUDA_R_16BF, in, tokens, in);
  cublasLtMatrixLayoutCreate (&ly, CUDA_R_32F, out, tokens, out);
  float one = 1.0f, zero = 0.0f;
  /* f32 output from bf16 inputs is allowed */
  g_assert_cmpint (cublasLtMatmul (lt, desc, &one, dw, lw, dx, lx, &zero, dy, ly, dy, ly, NULL,
          NULL, 0, 0), ==, CUBLAS_STATUS_SUCCESS);
  cudaMemcpy (y, dy, sizeof y, cudaMemcpyDeviceToHost);
  for (int r = 0; r < tokens; r++)
    for (int o = 0; o < out; o++) {
      float want = 0;
      for (int i = 0; i < in; i++)
        want += x[r * in + i] * __bfloat162float (w[o * in + i]);
      g_assert_cmpfloat_with_epsilon (y[r * out + o], want, 1e-5);
    }
  cublasLtMatrixLayoutDestroy (lw);
  cublasLtMatrixLayoutDestroy (lx);
  cublasLtMatrixLayoutDestroy (ly);
  cublasLtMatmulDescDestroy (desc);
  cublasLtDestroy (lt);
  cudaFree (dx);
  cudaFree (dw);
  cudaFree (dy);
}

static void
test_refusals (void)
{
  cublasLtHandle_t lt;
  cublasLtMatmulDesc_t desc, desc16;
  cublasLtMatrixLayout_t a32, abf, b32, c16, d32, bad;
  cublasLtCreate (&lt);
  cublasLtMatmulDescCreate (&desc, CUBLAS_COMPUTE_32F, CUDA_R_32F);
  cublasLtMatmulDescCreate (&desc16, CUBLAS_COMPUTE_16F, CUDA_R_16F);
  cublasLtMatrixLayoutCreate (&a32, CUDA_R_32F, 4, 4, 4);
  cublasLtMatrixLayoutCreate (&abf, CUDA_R_16BF, 4, 4, 4);
  cublasLtMatrixLayoutCreate (&b32, CUDA_R_32F, 4, 4, 4);
  cublasLtMatrixLayoutCreate (&c16, CUDA_R_16F, 4, 4, 4);
  cublasLtMatrixLayoutCreate (&d32, CUDA_R_32F, 4, 4, 4);
  cublasLtMatrixLayoutCreate (&bad, CUDA_R_32F, 4, 5, 4);
  float one = 1, zero = 0;
  void *buf;
  cudaMalloc (&buf, 4096);
  /* mixed A/B types, C != D type, f32 inputs to a 16-bit output, 16F compute */
  g_assert_cmpint (cublasLtMatmul (lt, desc, &one, buf, abf, buf, b32, &zero, buf, d32, buf, d32,
          NULL, NULL, 0, 0), ==, CUBLAS_STATUS_NOT_SUPPORTED);
  g_assert_cmpint (cublasLtMatmul (lt, desc, &one, buf, a32, buf, b32, &zero, buf, c16, buf, d32,
          NULL, NULL, 0, 0), ==, CUBLAS_STATUS_NOT_SUPPORTED);
  g_assert_cmpint (cublasLtMatmul (lt, desc, &one, buf, a32, buf, b32, &zero, buf, c16, buf, c16,
          NULL, NULL, 0, 0), ==, CUBLAS_STATUS_NOT_SUPPORTED);
  g_assert_cmpint (cublasLtMatmul (lt, desc16, &one, buf, a32, buf, b32, &zero, buf, d32, buf, d32,
          NULL, NULL, 0, 0), ==, CUBLAS_STATUS_NOT_SUPPORTED);
  /* shapes that do not chain */
  g_assert_cmpint (cublasLtMatmul (lt, desc, &one, buf, bad, buf, b32, &zero, buf, d32, buf, d32,
          NULL, NULL, 0, 0), ==, CUBLAS_STATUS_INVALID_VALUE);
  /* an attribute of the wrong size, an unknown one */
  int64_t big = 1;
  g_assert_cmpint (cublasLtMatmulDescSetAttribute (desc, CUBLASLT_MATMUL_DESC_TRANSA, &big,
          sizeof big), ==, CUBLAS_STATUS_INVALID_VALUE);
  g_assert_cmpint (cublasLtMatmulDescSetAttribute (desc, CUBLASLT_MATMUL_DESC_AMAX_D_POINTER, &buf,
          sizeof buf), ==, CUBLAS_STATUS_NOT_SUPPORTED);
  /* a bias epilogue: the heuristic takes it before the bias pointer is set
   * (as the real library does), the matmul refuses to run without one */
  cublasLtMatmulDesc_t dbias;
  cublasLtMatmulPreference_t pref;
  cublasLtMatmulHeuristicResult_t heur;
  int n_heur = 0;
  cublasLtEpilogue_t epi = CUBLASLT_EPILOGUE_BIAS;
  cublasLtMatmulDescCreate (&dbias, CUBLAS_COMPUTE_32F, CUDA_R_32F);
  cublasLtMatmulDescSetAttribute (dbias, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof epi);
  cublasLtMatmulPreferenceCreate (&pref);
  g_assert_cmpint (cublasLtMatmulAlgoGetHeuristic (lt, dbias, a32, b32, d32, d32, pref, 1, &heur,
          &n_heur), ==, CUBLAS_STATUS_SUCCESS);
  g_assert_cmpint (n_heur, ==, 1);
  g_assert_cmpint (cublasLtMatmul (lt, dbias, &one, buf, a32, buf, b32, &zero, buf, d32, buf, d32,
          &heur.algo, NULL, 0, 0), ==, CUBLAS_STATUS_INVALID_VALUE);
  cublasLtMatmulPreferenceDestroy (pref);
  cublasLtMatmulDescDestroy (dbias);
  /* a leading dimension smaller than the rows */
  cublasLtMatrixLayout_t thin;
  cublasLtMatrixLayoutCreate (&thin, CUDA_R_32F, 4, 4, 3);
  g_assert_cmpint (cublasLtMatmul (lt, desc, &one, buf, thin, buf, b32, &zero, buf, d32, buf, d32,
          NULL, NULL, 0, 0), ==, CUBLAS_STATUS_INVALID_VALUE);
  g_assert_cmpint (cublasLtMatmul (NULL, desc, &one, buf, a32, buf, b32, &zero, buf, d32, buf, d32,
          NULL, NULL, 0, 0), ==, CUBLAS_STATUS_NOT_INITIALIZED);
  cublasLtMatrixLayoutDestroy (thin);
  cublasLtMatrixLayoutDestroy (a32);
  cublasLtMatrixLayoutDestroy (abf);
  cublasLtMatrixLayoutDestroy (b32);
  cublasLtMatrixLayoutDestroy (c16);
  cublasLtMatrixLayoutDestroy (d32);
  cublasLtMatrixLayoutDestroy (bad);
  cublasLtMatmulDescDestroy (desc);
  cublasLtMatmulDescDestroy (desc16);
  cublasLtDestroy (lt);
  cudaFree (buf);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/emu/cublaslt/all-combinations", test_all_combinations);
  g_test_add_func ("/emu/cublaslt/row-major-trick", test_row_major_trick);
  g_test_add_func ("/emu/cublaslt/refusals", test_refusals);
  return g_test_run ();
}
