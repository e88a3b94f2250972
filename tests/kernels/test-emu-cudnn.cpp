/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The emulated cuDNN forward convolution against a naive convolution written
 * here (2-D and 3-D, stride, padding, dilation, groups, both modes, f32 and
 * bf16), cudnnAddTensor's broadcast, the output-dim helpers and bad
 * parameters. Host C++ on the real cudnn.h. */
#include <glib.h>
#include <cudnn.h>
#include <cuda_bf16.h>
#include <cuda_runtime_api.h>
#include <math.h>

struct Conv {
  int nd;                 /* spatial dims: 2 or 3 */
  int n, c, k, groups;
  int in[3], ker[3], pad[3], stride[3], dil[3];
  bool flip;              /* CUDNN_CONVOLUTION */
  bool bf16;
};

static int
out_dim (const Conv *p, int s)
{
  return (p->in[s] + 2 * p->pad[s] - p->dil[s] * (p->ker[s] - 1) - 1) / p->stride[s] + 1;
}

static float
rnd (const Conv *p, float v)
{
  return p->bf16 ? __bfloat162float (__float2bfloat16_rn (v)) : v;
}

/* Reference over NC(D)HW dense tensors; D = 1 for 2-D. */
static void
naive_conv (const Conv *p, const float *x, const float *w, float *y)
{
  int D = p->nd == 3 ? p->in[0] : 1, H = p->in[p->nd - 2], W = p->in[p->nd - 1];
  int KD = p->nd == 3 ? p->ker[0] : 1, KH = p->ker[p->nd - 2], KW = p->ker[p->nd - 1];
  int OD = p->nd == 3 ? out_dim (p, 0) : 1, OH = out_dim (p, p->nd - 2), OW = out_dim (p, p->nd - 1);
  int sd = p->nd == 3 ? p->stride[0] : 1, sh = p->stride[p->nd - 2], sw = p->stride[p->nd - 1];
  int pd = p->nd == 3 ? p->pad[0] : 0, ph = p->pad[p->nd - 2], pw = p->pad[p->nd - 1];
  int dd = p->nd == 3 ? p->dil[0] : 1, dh = p->dil[p->nd - 2], dw = p->dil[p->nd - 1];
  int cg = p->c / p->groups, kg = p->k / p->groups;
  for (int n = 0; n < p->n; n++)
    for (int k = 0; k < p->k; k++)
      for (int od = 0; od < OD; od++)
        for (int oh = 0; oh < OH; oh++)
          for (int ow = 0; ow < OW; ow++) {
            double acc = 0;
            for (int c = 0; c < cg; c++)
              for (int a = 0; a < KD; a++)
                for (int b = 0; b < KH; b++)
                  for (int e = 0; e < KW; e++) {
                    int id = od * sd - pd + a * dd, ih = oh * sh - ph + b * dh, iw = ow * sw - pw + e * dw;
                    if (id < 0 || id >= D || ih < 0 || ih >= H || iw < 0 || iw >= W)
                      continue;
                    int fa = p->flip ? KD - 1 - a : a, fb = p->flip ? KH - 1 - b : b;
                    int fe = p->flip ? KW - 1 - e : e;
                    int ic = (k / kg) * cg + c;
                    acc += (double) x[(((size_t) (n * p->c + ic) * D + id) * H + ih) * W + iw]
                        * w[(((size_t) (k * cg + c) * KD + fa) * KH + fb) * KW + fe];
                  }
            y[(((size_t) (n * p->k + k) * OD + od) * OH + oh) * OW + ow] = (float) acc;
          }
}

static void
dense_strides (int nb, const int *dims, int *strides)
{
  strides[nb - 1] = 1;
  for (int i = nb - 2; i >= 0; i--)
    strides[i] = strides[i + 1] * dims[i + 1];
}

static void *
upload (const Conv *p, const float *v, size_t n)
{
  void *d = NULL;
  size_t es = p->bf16 ? 2 : 4;
  void *h = g_malloc (n * es);
  for (size_t i = 0; i < n; i++) {
    if (p->bf16)
      ((__nv_bfloat16 *) h)[i] = __float2bfloat16_rn (v[i]);
    else
      ((float *) h)[i] = v[i];
  }
  g_assert_cmpint (cudaMalloc (&d, n * es), ==, cudaSuccess);
  g_assert_cmpint (cudaMemcpy (d, h, n * es, cudaMemcpyHostToDevice), ==, cudaSuccess);
  g_free (h);
  return d;
}

static void
run_conv (cudnnHandle_t h, const Conv *p, GRand *rng)
{
  cudnnDataType_t dt = p->bf16 ? CUDNN_DATA_BFLOAT16 : CUDNN_DATA_FLOAT;
  int nb = p->nd + 2;
  int xd[5] = { p->n, p->c }, wd[5] = { p->k, p->c / p->groups }, yd[5] = { p->n, p->k };
  for (int s = 0; s < p->nd; s++) {
    xd[s + 2] = p->in[s];
    wd[s + 2] = p->ker[s];
    yd[s + 2] = out_dim (p, s);
  }
  size_t nx = 1, nw = 1, ny = 1;
  for (int i = 0; i < nb; i++) {
    nx *= xd[i];
    nw *= wd[i];
    ny *= yd[i];
  }
  float *x = g_new (float, nx), *w = g_new (float, nw), *want = g_new (float, ny);
  float *got = g_new (float, ny);
  for (size_t i = 0; i < nx; i++)
    x[i] = rnd (p, (float) g_rand_double_range (rng, -1, 1));
  for (size_t i = 0; i < nw; i++)
    w[i] = rnd (p, (float) g_rand_double_range (rng, -1, 1));
  naive_conv (p, x, w, want);

  cudnnTensorDescriptor_t xdesc, ydesc;
  cudnnFilterDescriptor_t wdesc;
  cudnnConvolutionDescriptor_t cdesc;
  int xs[5], ys[5];
  dense_strides (nb, xd, xs);
  dense_strides (nb, yd, ys);
  g_assert_cmpint (cudnnCreateTensorDescriptor (&xdesc), ==, CUDNN_STATUS_SUCCESS);
  g_assert_cmpint (cudnnCreateTensorDescriptor (&ydesc), ==, CUDNN_STATUS_SUCCESS);
  g_assert_cmpint (cudnnCreateFilterDescriptor (&wdesc), ==, CUDNN_STATUS_SUCCESS);
  g_assert_cmpint (cudnnCreateConvolutionDescriptor (&cdesc), ==, CUDNN_STATUS_SUCCESS);
  if (p->nd == 2) {
    g_assert_cmpint (cudnnSetTensor4dDescriptor (xdesc, CUDNN_TENSOR_NCHW, dt, xd[0], xd[1], xd[2],
            xd[3]), ==, CUDNN_STATUS_SUCCESS);
    g_assert_cmpint (cudnnSetFilter4dDescriptor (wdesc, dt, CUDNN_TENSOR_NCHW, wd[0], wd[1], wd[2],
            wd[3]), ==, CUDNN_STATUS_SUCCESS);
    g_assert_cmpint (cudnnSetConvolution2dDescriptor (cdesc, p->pad[0], p->pad[1], p->stride[0],
            p->stride[1], p->dil[0], p->dil[1], p->flip ? CUDNN_CONVOLUTION : CUDNN_CROSS_CORRELATION,
            CUDNN_DATA_FLOAT), ==, CUDNN_STATUS_SUCCESS);
  } else {
    g_assert_cmpint (cudnnSetTensorNdDescriptor (xdesc, dt, nb, xd, xs), ==, CUDNN_STATUS_SUCCESS);
    g_assert_cmpint (cudnnSetFilterNdDescriptor (wdesc, dt, CUDNN_TENSOR_NCHW, nb, wd), ==,
        CUDNN_STATUS_SUCCESS);
    g_assert_cmpint (cudnnSetConvolutionNdDescriptor (cdesc, 3, p->pad, p->stride, p->dil,
            p->flip ? CUDNN_CONVOLUTION : CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT), ==,
        CUDNN_STATUS_SUCCESS);
  }
  g_assert_cmpint (cudnnSetConvolutionGroupCount (cdesc, p->groups), ==, CUDNN_STATUS_SUCCESS);
  g_assert_cmpint (cudnnSetConvolutionMathType (cdesc, CUDNN_TENSOR_OP_MATH), ==, CUDNN_STATUS_SUCCESS);
  int od[5];
  g_assert_cmpint (cudnnGetConvolutionNdForwardOutputDim (cdesc, xdesc, wdesc, nb, od), ==,
      CUDNN_STATUS_SUCCESS);
  for (int i = 0; i < nb; i++)
    g_assert_cmpint (od[i], ==, yd[i]);
  g_assert_cmpint (cudnnSetTensorNdDescriptor (ydesc, dt, nb, yd, ys), ==, CUDNN_STATUS_SUCCESS);
  size_t ws = 1;
  g_assert_cmpint (cudnnGetConvolutionForwardWorkspaceSize (h, xdesc, wdesc, cdesc, ydesc,
          CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM, &ws), ==, CUDNN_STATUS_SUCCESS);
  g_assert_cmpuint (ws, ==, 0);

  void *dx = upload (p, x, nx), *dw = upload (p, w, nw), *dy = upload (p, want, ny);
  /* beta = 0.5 over y preloaded with the reference: y = 2 conv * 0.75 + 0.5 conv */
  float alpha = 0.75f, beta = 0.5f;
  g_assert_cmpint (cudnnConvolutionForward (h, &alpha, xdesc, dx, wdesc, dw, cdesc,
          CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM, NULL, 0, &beta, ydesc, dy), ==,
      CUDNN_STATUS_SUCCESS);
  size_t es = p->bf16 ? 2 : 4;
  void *raw = g_malloc (ny * es);
  g_assert_cmpint (cudaMemcpy (raw, dy, ny * es, cudaMemcpyDeviceToHost), ==, cudaSuccess);
  for (size_t i = 0; i < ny; i++) {
    got[i] = p->bf16 ? __bfloat162float (((__nv_bfloat16 *) raw)[i]) : ((float *) raw)[i];
    double pre = rnd (p, want[i]);
    double expect = 0.75 * want[i] + 0.5 * pre;
    double tol = 1e-5 * (nw / p->k + 2) + (p->bf16 ? fabs (expect) / 256 : 0);
    if (fabs (got[i] - expect) > tol)
      g_error ("conv nd=%d groups=%d flip=%d bf16=%d: y[%zu] = %g, want %g", p->nd, p->groups,
          p->flip, p->bf16, i, got[i], expect);
  }
  g_free (raw);
  cudaFree (dx);
  cudaFree (dw);
  cudaFree (dy);
  cudnnDestroyTensorDescriptor (xdesc);
  cudnnDestroyTensorDescriptor (ydesc);
  cudnnDestroyFilterDescriptor (wdesc);
  cudnnDestroyConvolutionDescriptor (cdesc);
  g_free (x);
  g_free (w);
  g_free (want);
  g_free (got);
}

static void
test_conv2d (void)
{
  cudnnHandle_t h;
  GRand *rng = g_rand_new_with_seed (11);
  g_assert_cmpint (cudnnCreate (&h), ==, CUDNN_STATUS_SUCCESS);
  g_assert_cmpint (cudnnSetStream (h, 0), ==, CUDNN_STATUS_SUCCESS);
  /* the audio encoder's stem shape (3x3, stride 2, pad 1), odd sizes,
   * dilation, groups, true convolution, bf16 */
  Conv cases[] = {
    { 2, 2, 1, 4, 1, { 9, 13 }, { 3, 3 }, { 1, 1 }, { 2, 2 }, { 1, 1 }, false, false },
    { 2, 1, 3, 5, 1, { 7, 6 }, { 2, 3 }, { 0, 2 }, { 1, 3 }, { 2, 1 }, false, false },
    { 2, 1, 4, 6, 2, { 5, 5 }, { 3, 3 }, { 1, 1 }, { 1, 1 }, { 1, 1 }, true, false },
    { 2, 2, 3, 4, 1, { 8, 11 }, { 3, 3 }, { 1, 1 }, { 2, 2 }, { 1, 1 }, false, true },
  };
  for (unsigned i = 0; i < G_N_ELEMENTS (cases); i++)
    run_conv (h, &cases[i], rng);
  cudnnDestroy (h);
  g_rand_free (rng);
}

static void
test_conv3d (void)
{
  cudnnHandle_t h;
  GRand *rng = g_rand_new_with_seed (12);
  g_assert_cmpint (cudnnCreate (&h), ==, CUDNN_STATUS_SUCCESS);
  /* the vision patch embedding (kernel = stride, no pad) and an odd one */
  Conv cases[] = {
    { 3, 2, 3, 8, 1, { 4, 8, 8 }, { 2, 4, 4 }, { 0, 0, 0 }, { 2, 4, 4 }, { 1, 1, 1 }, false, false },
    { 3, 1, 2, 3, 1, { 5, 6, 7 }, { 3, 2, 3 }, { 1, 0, 2 }, { 2, 1, 3 }, { 1, 2, 1 }, true, false },
    { 3, 1, 3, 4, 1, { 2, 6, 6 }, { 2, 3, 3 }, { 0, 1, 1 }, { 2, 3, 3 }, { 1, 1, 1 }, false, true },
  };
  for (unsigned i = 0; i < G_N_ELEMENTS (cases); i++)
    run_conv (h, &cases[i], rng);
  cudnnDestroy (h);
  g_rand_free (rng);
}

static void
test_add_tensor (void)
{
  cudnnHandle_t h;
  cudnnTensorDescriptor_t bd, yd;
  cudnnCreate (&h);
  cudnnCreateTensorDescriptor (&bd);
  cudnnCreateTensorDescriptor (&yd);
  const int N = 2, C = 3, H = 2, W = 5, n = N * C * H * W;
  g_assert_cmpint (cudnnSetTensor4dDescriptor (bd, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, 1, C, 1, 1),
      ==, CUDNN_STATUS_SUCCESS);
  g_assert_cmpint (cudnnSetTensor4dDescriptor (yd, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, N, C, H, W),
      ==, CUDNN_STATUS_SUCCESS);
  float bias[C] = { 1, 10, 100 }, y[n];
  for (int i = 0; i < n; i++)
    y[i] = (float) i;
  void *db, *dy;
  cudaMalloc (&db, sizeof bias);
  cudaMalloc (&dy, sizeof y);
  cudaMemcpy (db, bias, sizeof bias, cudaMemcpyHostToDevice);
  cudaMemcpy (dy, y, sizeof y, cudaMemcpyHostToDevice);
  float one = 1, two = 2;
  g_assert_cmpint (cudnnAddTensor (h, &two, bd, db, &one, yd, dy), ==, CUDNN_STATUS_SUCCESS);
  cudaMemcpy (y, dy, sizeof y, cudaMemcpyDeviceToHost);
  for (int i = 0; i < n; i++)
    g_assert_cmpfloat (y[i], ==, (float) i + 2 * bias[(i / (H * W)) % C]);
  /* a broadcast that does not fit */
  cudnnSetTensor4dDescriptor (bd, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, 1, 2, 1, 1);
  g_assert_cmpint (cudnnAddTensor (h, &two, bd, db, &one, yd, dy), ==, CUDNN_STATUS_BAD_PARAM);
  cudaFree (db);
  cudaFree (dy);
  cudnnDestroyTensorDescriptor (bd);
  cudnnDestroyTensorDescriptor (yd);
  cudnnDestroy (h);
}

static void
test_bad_params (void)
{
  cudnnHandle_t h;
  cudnnTensorDescriptor_t x, y;
  cudnnFilterDescriptor_t w;
  cudnnConvolutionDescriptor_t c;
  cudnnCreate (&h);
  cudnnCreateTensorDescriptor (&x);
  cudnnCreateTensorDescriptor (&y);
  cudnnCreateFilterDescriptor (&w);
  cudnnCreateConvolutionDescriptor (&c);
  g_assert_cmpint (cudnnSetTensor4dDescriptor (x, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, 0, 1, 4, 4),
      ==, CUDNN_STATUS_BAD_PARAM);
  g_assert_cmpint (cudnnSetTensor4dDescriptor (x, CUDNN_TENSOR_NCHW, CUDNN_DATA_INT8, 1, 1, 4, 4),
      ==, CUDNN_STATUS_NOT_SUPPORTED);
  g_assert_cmpint (cudnnSetFilter4dDescriptor (w, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NHWC, 1, 1, 3, 3),
      ==, CUDNN_STATUS_NOT_SUPPORTED);
  g_assert_cmpint (cudnnSetConvolution2dDescriptor (c, 0, 0, 0, 1, 1, 1, CUDNN_CROSS_CORRELATION,
          CUDNN_DATA_FLOAT), ==, CUDNN_STATUS_BAD_PARAM);
  cudnnSetTensor4dDescriptor (x, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, 1, 2, 4, 4);
  cudnnSetFilter4dDescriptor (w, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, 3, 3, 3, 3);
  cudnnSetConvolution2dDescriptor (c, 1, 1, 1, 1, 1, 1, CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT);
  int n, ch, hh, ww;
  /* channels of x (2) and w (3) disagree */
  g_assert_cmpint (cudnnGetConvolution2dForwardOutputDim (c, x, w, &n, &ch, &hh, &ww), ==,
      CUDNN_STATUS_BAD_PARAM);
  cudnnSetFilter4dDescriptor (w, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, 3, 2, 3, 3);
  g_assert_cmpint (cudnnGetConvolution2dForwardOutputDim (c, x, w, &n, &ch, &hh, &ww), ==,
      CUDNN_STATUS_SUCCESS);
  g_assert_cmpint (ch, ==, 3);
  g_assert_cmpint (hh, ==, 4);
  /* y of the wrong shape, and of the wrong type */
  cudnnSetTensor4dDescriptor (y, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, 1, 3, 5, 4);
  float one = 1, zero = 0;
  void *buf;
  cudaMalloc (&buf, 4096);
  g_assert_cmpint (cudnnConvolutionForward (h, &one, x, buf, w, buf, c,
          CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM, NULL, 0, &zero, y, buf), ==, CUDNN_STATUS_BAD_PARAM);
  cudnnSetTensor4dDescriptor (y, CUDNN_TENSOR_NCHW, CUDNN_DATA_HALF, 1, 3, 4, 4);
  g_assert_cmpint (cudnnConvolutionForward (h, &one, x, buf, w, buf, c,
          CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM, NULL, 0, &zero, y, buf), ==,
      CUDNN_STATUS_NOT_SUPPORTED);
  g_assert_cmpstr (cudnnGetErrorString (CUDNN_STATUS_BAD_PARAM), ==, "CUDNN_STATUS_BAD_PARAM");
  cudaFree (buf);
  cudnnDestroyTensorDescriptor (x);
  cudnnDestroyTensorDescriptor (y);
  cudnnDestroyFilterDescriptor (w);
  cudnnDestroyConvolutionDescriptor (c);
  cudnnDestroy (h);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/emu/cudnn/conv2d", test_conv2d);
  g_test_add_func ("/emu/cudnn/conv3d", test_conv3d);
  g_test_add_func ("/emu/cudnn/add-tensor", test_add_tensor);
  g_test_add_func ("/emu/cudnn/bad-params", test_bad_params);
  return g_test_run ();
}
