/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* conv on cuDNN (the encoders' stems: Conv3d patch embeddings, Conv2d mel
 * front ends). The data is f32 as everywhere; a bf16/f16 filter is widened
 * to f32 into scratch per call (stems are small: Qwen3-VL's is 1152 x 3 x 2
 * x 16 x 16 = 1.8 M values), so the result is the f32 convolution the cpu
 * computes. The bias is added by cudnnAddTensor. Not in the decode loop:
 * descriptors are made per call. */
#include "cuda-backend.h"
#include "omnicore.h"

#define SIG0 0xcbf29ce484222325ull

typedef struct {
  cudnnTensorDescriptor_t x, y, bias;
  cudnnFilterDescriptor_t w;
  cudnnConvolutionDescriptor_t conv;
} ConvDescs;

static gboolean
dnn_ok (cudnnStatus_t s, const char *what)
{
  if (s == CUDNN_STATUS_SUCCESS)
    return TRUE;
  g_critical ("cuda conv: %s failed: %s", what, cudnnGetErrorString (s));
  return FALSE;
}

/* Dims of @t as ints, and the packed strides. */
static void
dims_of (const OmniTensor *t, int *dims, int *strides)
{
  int nd = t->n_dims;

  for (int i = 0; i < nd; i++)
    dims[i] = (int) t->shape[i];
  strides[nd - 1] = 1;
  for (int i = nd - 2; i >= 0; i--)
    strides[i] = strides[i + 1] * dims[i + 1];
}

static void
descs_free (ConvDescs *d)
{
  if (d->x)
    cudnnDestroyTensorDescriptor (d->x);
  if (d->y)
    cudnnDestroyTensorDescriptor (d->y);
  if (d->bias)
    cudnnDestroyTensorDescriptor (d->bias);
  if (d->w)
    cudnnDestroyFilterDescriptor (d->w);
  if (d->conv)
    cudnnDestroyConvolutionDescriptor (d->conv);
}

static gboolean
descs_make (ConvDescs *d, const OmniTensor *y, const OmniTensor *x, const OmniTensor *w, gboolean bias,
            const OmniConvParams *p)
{
  int nd = x->n_dims, xd[5], xs[5], yd[5], ys[5], wd[5], ws[5], bd[5] = { 1, 1, 1, 1, 1 }, bs[5];
  int dil[3] = { 1, 1, 1 };

  dims_of (x, xd, xs);
  dims_of (y, yd, ys);
  dims_of (w, wd, ws);
  bd[1] = (int) y->shape[1];
  for (int i = nd - 1, s = 1; i >= 0; i--) {
    bs[i] = s;
    s *= bd[i];
  }
  return dnn_ok (cudnnCreateTensorDescriptor (&d->x), "cudnnCreateTensorDescriptor") &&
         dnn_ok (cudnnCreateTensorDescriptor (&d->y), "cudnnCreateTensorDescriptor") &&
         dnn_ok (cudnnCreateFilterDescriptor (&d->w), "cudnnCreateFilterDescriptor") &&
         dnn_ok (cudnnCreateConvolutionDescriptor (&d->conv), "cudnnCreateConvolutionDescriptor") &&
         dnn_ok (cudnnSetTensorNdDescriptor (d->x, CUDNN_DATA_FLOAT, nd, xd, xs), "x descriptor") &&
         dnn_ok (cudnnSetTensorNdDescriptor (d->y, CUDNN_DATA_FLOAT, nd, yd, ys), "y descriptor") &&
         dnn_ok (cudnnSetFilterNdDescriptor (d->w, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, nd, wd), "w descriptor") &&
         dnn_ok (cudnnSetConvolutionNdDescriptor (d->conv, nd - 2, p->padding, p->stride, dil,
                                                  CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT), "conv descriptor") &&
         (!bias ||
          (dnn_ok (cudnnCreateTensorDescriptor (&d->bias), "cudnnCreateTensorDescriptor") &&
           dnn_ok (cudnnSetTensorNdDescriptor (d->bias, CUDNN_DATA_FLOAT, nd, bd, bs), "bias descriptor")));
}

/* The same geometry checks as the cpu conv. */
static gboolean
check_geometry (const OmniTensor *y, const OmniTensor *x, const OmniTensor *w, const OmniTensor *bias,
                const OmniConvParams *p)
{
  int s = p ? p->n_spatial : 0;

  if ((s != 2 && s != 3) || x->n_dims != s + 2 || y->n_dims != s + 2 || w->n_dims != s + 2) {
    g_critical ("cuda conv: expected 2 or 3 spatial dims with x, y and w of that many + 2 dims");
    return FALSE;
  }
  for (int i = 0; i < s; i++) {
    int64_t in = x->shape[2 + i], k = w->shape[2 + i];
    if (p->stride[i] < 1 || p->padding[i] < 0 || in + 2 * p->padding[i] < k ||
        y->shape[2 + i] != (in + 2 * p->padding[i] - k) / p->stride[i] + 1) {
      g_critical ("cuda conv: spatial dim %d: input %" G_GINT64_FORMAT ", kernel %" G_GINT64_FORMAT
                  ", stride %d, padding %d do not give the output %" G_GINT64_FORMAT, i, in, k,
                  p->stride[i], p->padding[i], y->shape[2 + i]);
      return FALSE;
    }
  }
  if (w->shape[1] != x->shape[1] || y->shape[0] != x->shape[0] || y->shape[1] != w->shape[0] ||
      (bias && (bias->n_dims != 1 || bias->shape[0] != w->shape[0]))) {
    g_critical ("cuda conv: expected w [Co, Ci, ...], y [N, Co, ...] and bias [Co]");
    return FALSE;
  }
  return TRUE;
}

/* @t's data as f32: itself, or widened into @s. */
static const void *
as_f32 (OmniCudaBackend *cu, const OmniTensor *t, OmniCudaScratch *s, size_t offset)
{
  int64_t n = (int64_t) (t->n_bytes / omni_dtype_size (t->dtype));
  uint8_t *buf;

  if (t->dtype == OMNI_DTYPE_F32)
    return t->data;
  buf = (uint8_t *) s->data + offset;
  omni_cuda_ok (omni_k_convert (buf, OMNI_K_F32, t->data, (OmniKDType) t->dtype, n, cu->stream),
                "omni_k_convert (conv weights)");
  return buf;
}

void
omni_cuda_conv (OmniBackend *b, OmniTensor *y, const OmniTensor *x, const OmniTensor *w, const OmniTensor *bias,
                const OmniConvParams *p)
{
  OmniCudaBackend *cu = (OmniCudaBackend *) b;
  cudnnConvolutionFwdAlgo_t algo = CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM;
  ConvDescs d = { 0 };
  size_t ws = 0, wbytes, bbytes;
  float one = 1.0f, zero = 0.0f;
  const void *wf, *bf = NULL;
  guint64 sig;

  if (!omni_cuda_check_f32 (y, "conv", "y") || !omni_cuda_check_f32 (x, "conv", "x") ||
      !omni_cuda_float_type (w, "conv", "w") || (bias && !omni_cuda_float_type (bias, "conv", "bias")))
    return;
  if (!check_geometry (y, x, w, bias, p))
    return;
  sig = omni_cuda_sig_tensor (omni_cuda_sig_tensor (omni_cuda_sig_tensor (omni_cuda_sig_tensor (SIG0, y), x), w),
                              bias);
  if (!omni_cuda_op_begin (cu, "conv", omni_cuda_sig (sig, p, sizeof *p)))
    return;
  if (cu->dnn == NULL && (!dnn_ok (cudnnCreate (&cu->dnn), "cudnnCreate") ||
                          !dnn_ok (cudnnSetStream (cu->dnn, cu->stream), "cudnnSetStream"))) {
    cu->dnn = NULL;
    return;
  }
  if (!descs_make (&d, y, x, w, bias != NULL, p) ||
      !dnn_ok (cudnnGetConvolutionForwardWorkspaceSize (cu->dnn, d.x, d.w, d.conv, d.y, algo, &ws),
               "cudnnGetConvolutionForwardWorkspaceSize"))
    goto out;
  wbytes = (w->n_bytes / omni_dtype_size (w->dtype) * sizeof (float) + OMNI_CUDA_ALIGN - 1) &
           ~(size_t) (OMNI_CUDA_ALIGN - 1);
  bbytes = bias ? (bias->shape[0] * sizeof (float) + OMNI_CUDA_ALIGN - 1) & ~(size_t) (OMNI_CUDA_ALIGN - 1) : 0;
  if (omni_cuda_scratch_reserve (cu, &cu->conv, wbytes + bbytes + ws) == NULL)
    goto out;
  wf = as_f32 (cu, w, &cu->conv, 0);
  if (bias)
    bf = as_f32 (cu, bias, &cu->conv, wbytes);
  if (dnn_ok (cudnnConvolutionForward (cu->dnn, &one, d.x, x->data, d.w, wf, d.conv, algo,
                                       ws ? (uint8_t *) cu->conv.data + wbytes + bbytes : NULL, ws, &zero, d.y,
                                       y->data), "cudnnConvolutionForward") && bias)
    dnn_ok (cudnnAddTensor (cu->dnn, &one, d.bias, bf, &one, d.y, y->data), "cudnnAddTensor");
out:
  descs_free (&d);
}
