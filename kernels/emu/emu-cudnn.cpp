/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The subset of cuDNN (legacy v8-style API, still in cuDNN 9) the backend
 * calls, on the CPU, with the real headers' signatures: tensor, filter and
 * convolution descriptors for 2-D (4-d tensors) and 3-D (5-d tensors)
 * convolutions, forward convolution (cross-correlation or true convolution,
 * padding, stride, dilation, groups) in f32, f16 or bf16 data with f32
 * compute, and cudnnAddTensor with broadcasting. */
#include <cudnn.h>

#include "emu-internal.h"

#include <stdlib.h>
#include <string.h>

struct cudnnContext {
  cudaStream_t stream;
};

struct cudnnTensorStruct {
  cudnnDataType_t type;
  int nb_dims;
  int dims[CUDNN_DIM_MAX];
  int strides[CUDNN_DIM_MAX];
};

struct cudnnFilterStruct {
  cudnnDataType_t type;
  cudnnTensorFormat_t format;
  int nb_dims;
  int dims[CUDNN_DIM_MAX];
};

struct cudnnConvolutionStruct {
  int n_spatial;
  int pad[3], stride[3], dilation[3];
  cudnnConvolutionMode_t mode;
  cudnnDataType_t compute;
  int groups;
};

namespace {

/* A forward convolution with everything captured by value, as 3-D (a 2-D
 * convolution has depth 1). */
struct ConvCall {
  cudaDataType_t type;
  int n, c, k, groups;
  int in[3], out[3], ker[3];
  long xs[5], ys[5];            /* element strides of x and y: n, c, d, h, w */
  int pad[3], stride[3], dilation[3];
  bool flip;
  float alpha, beta;
  const void *x, *w;
  void *y;
};

/* C = alpha * A + beta * C, A broadcast over C where its dims are 1. */
struct AddCall {
  cudaDataType_t type;
  int nb_dims;
  int dims[CUDNN_DIM_MAX];
  long a_strides[CUDNN_DIM_MAX], c_strides[CUDNN_DIM_MAX];
  float alpha, beta;
  const void *a;
  void *c;
};

bool
to_cuda_type (cudnnDataType_t t, cudaDataType_t *out)
{
  switch (t) {
  case CUDNN_DATA_FLOAT: *out = CUDA_R_32F; return true;
  case CUDNN_DATA_HALF: *out = CUDA_R_16F; return true;
  case CUDNN_DATA_BFLOAT16: *out = CUDA_R_16BF; return true;
  default: return false;
  }
}

void
run_conv (void *p)
{
  const ConvCall *k = (const ConvCall *) p;
  int cg = k->c / k->groups, kg = k->k / k->groups;
  long w_k = (long) cg * k->ker[0] * k->ker[1] * k->ker[2];

  for (int n = 0; n < k->n; n++)
    for (int oc = 0; oc < k->k; oc++)
      for (int od = 0; od < k->out[0]; od++)
        for (int oh = 0; oh < k->out[1]; oh++)
          for (int ow = 0; ow < k->out[2]; ow++) {
            int g = oc / kg;
            float acc = 0.0f;
            for (int ic = 0; ic < cg; ic++)
              for (int kd = 0; kd < k->ker[0]; kd++)
                for (int kh = 0; kh < k->ker[1]; kh++)
                  for (int kw = 0; kw < k->ker[2]; kw++) {
                    int id = od * k->stride[0] - k->pad[0] + kd * k->dilation[0];
                    int ih = oh * k->stride[1] - k->pad[1] + kh * k->dilation[1];
                    int iw = ow * k->stride[2] - k->pad[2] + kw * k->dilation[2];
                    if (id < 0 || id >= k->in[0] || ih < 0 || ih >= k->in[1] || iw < 0
                        || iw >= k->in[2])
                      continue;
                    int fd = k->flip ? k->ker[0] - 1 - kd : kd;
                    int fh = k->flip ? k->ker[1] - 1 - kh : kh;
                    int fw = k->flip ? k->ker[2] - 1 - kw : kw;
                    long wi = oc * w_k + ((long) (ic * k->ker[0] + fd) * k->ker[1] + fh) * k->ker[2] + fw;
                    long xi = n * k->xs[0] + (long) (g * cg + ic) * k->xs[1] + id * k->xs[2]
                        + ih * k->xs[3] + iw * k->xs[4];
                    acc += omni_emu_load_f32 (k->x, k->type, xi) * omni_emu_load_f32 (k->w, k->type, wi);
                  }
            long yi = n * k->ys[0] + oc * k->ys[1] + od * k->ys[2] + oh * k->ys[3] + ow * k->ys[4];
            float v = k->alpha * acc;
            if (k->beta != 0.0f)
              v += k->beta * omni_emu_load_f32 (k->y, k->type, yi);
            omni_emu_store_f32 (k->y, k->type, yi, v);
          }
}

void
run_add (void *p)
{
  const AddCall *k = (const AddCall *) p;
  long total = 1;
  for (int d = 0; d < k->nb_dims; d++)
    total *= k->dims[d];
  for (long i = 0; i < total; i++) {
    long rem = i, ai = 0, ci = 0;
    for (int d = k->nb_dims - 1; d >= 0; d--) {
      long idx = rem % k->dims[d];
      rem /= k->dims[d];
      ai += idx * k->a_strides[d];
      ci += idx * k->c_strides[d];
    }
    float v = k->alpha * omni_emu_load_f32 (k->a, k->type, ai);
    if (k->beta != 0.0f)
      v += k->beta * omni_emu_load_f32 (k->c, k->type, ci);
    omni_emu_store_f32 (k->c, k->type, ci, v);
  }
}

/* Output dims of @conv over @x and @w (nb_dims entries) or false. */
bool
output_dims (const cudnnConvolutionStruct *conv, const cudnnTensorStruct *x,
    const cudnnFilterStruct *w, int *out)
{
  if (!conv || !x || !w || x->nb_dims != w->nb_dims || x->nb_dims != conv->n_spatial + 2)
    return false;
  if (x->dims[1] != w->dims[1] * conv->groups || w->dims[0] % conv->groups != 0)
    return false;
  out[0] = x->dims[0];
  out[1] = w->dims[0];
  for (int s = 0; s < conv->n_spatial; s++) {
    int span = conv->dilation[s] * (w->dims[s + 2] - 1) + 1;
    int in = x->dims[s + 2] + 2 * conv->pad[s];
    if (in < span)
      return false;
    out[s + 2] = (in - span) / conv->stride[s] + 1;
  }
  return true;
}

} /* namespace */

extern "C" const char *
cudnnGetErrorString (cudnnStatus_t status)
{
  switch (status) {
  case CUDNN_STATUS_SUCCESS: return "CUDNN_STATUS_SUCCESS";
  case CUDNN_STATUS_NOT_INITIALIZED: return "CUDNN_STATUS_NOT_INITIALIZED";
  case CUDNN_STATUS_BAD_PARAM: return "CUDNN_STATUS_BAD_PARAM";
  case CUDNN_STATUS_NOT_SUPPORTED: return "CUDNN_STATUS_NOT_SUPPORTED";
  case CUDNN_STATUS_ALLOC_FAILED: return "CUDNN_STATUS_ALLOC_FAILED";
  case CUDNN_STATUS_EXECUTION_FAILED: return "CUDNN_STATUS_EXECUTION_FAILED";
  default: return "CUDNN_STATUS_UNKNOWN (omni-emu)";
  }
}

extern "C" cudnnStatus_t
cudnnCreate (cudnnHandle_t *handle)
{
  if (!handle)
    return CUDNN_STATUS_BAD_PARAM;
  *handle = (cudnnHandle_t) calloc (1, sizeof (struct cudnnContext));
  return *handle ? CUDNN_STATUS_SUCCESS : CUDNN_STATUS_ALLOC_FAILED;
}

extern "C" cudnnStatus_t
cudnnDestroy (cudnnHandle_t handle)
{
  free (handle);
  return CUDNN_STATUS_SUCCESS;
}

extern "C" cudnnStatus_t
cudnnSetStream (cudnnHandle_t handle, cudaStream_t stream)
{
  if (!handle)
    return CUDNN_STATUS_BAD_PARAM;
  handle->stream = stream;
  return CUDNN_STATUS_SUCCESS;
}

extern "C" cudnnStatus_t
cudnnCreateTensorDescriptor (cudnnTensorDescriptor_t *desc)
{
  if (!desc)
    return CUDNN_STATUS_BAD_PARAM;
  *desc = (cudnnTensorDescriptor_t) calloc (1, sizeof (struct cudnnTensorStruct));
  return *desc ? CUDNN_STATUS_SUCCESS : CUDNN_STATUS_ALLOC_FAILED;
}

extern "C" cudnnStatus_t
cudnnDestroyTensorDescriptor (cudnnTensorDescriptor_t desc)
{
  free (desc);
  return CUDNN_STATUS_SUCCESS;
}

extern "C" cudnnStatus_t
cudnnSetTensor4dDescriptor (cudnnTensorDescriptor_t desc, cudnnTensorFormat_t format,
    cudnnDataType_t type, int n, int c, int h, int w)
{
  cudaDataType_t t;
  if (!desc || n < 1 || c < 1 || h < 1 || w < 1)
    return CUDNN_STATUS_BAD_PARAM;
  if (!to_cuda_type (type, &t) || (format != CUDNN_TENSOR_NCHW && format != CUDNN_TENSOR_NHWC))
    return CUDNN_STATUS_NOT_SUPPORTED;
  desc->type = type;
  desc->nb_dims = 4;
  int dims[4] = { n, c, h, w };
  memcpy (desc->dims, dims, sizeof dims);
  if (format == CUDNN_TENSOR_NCHW) {
    int s[4] = { c * h * w, h * w, w, 1 };
    memcpy (desc->strides, s, sizeof s);
  } else {
    int s[4] = { h * w * c, 1, w * c, c };
    memcpy (desc->strides, s, sizeof s);
  }
  return CUDNN_STATUS_SUCCESS;
}

extern "C" cudnnStatus_t
cudnnSetTensorNdDescriptor (cudnnTensorDescriptor_t desc, cudnnDataType_t type, int nb_dims,
    const int dims[], const int strides[])
{
  cudaDataType_t t;
  if (!desc || !dims || !strides || nb_dims < 3 || nb_dims > CUDNN_DIM_MAX)
    return CUDNN_STATUS_BAD_PARAM;
  if (!to_cuda_type (type, &t))
    return CUDNN_STATUS_NOT_SUPPORTED;
  for (int i = 0; i < nb_dims; i++)
    if (dims[i] < 1 || strides[i] < 1)
      return CUDNN_STATUS_BAD_PARAM;
  desc->type = type;
  desc->nb_dims = nb_dims;
  memcpy (desc->dims, dims, sizeof (int) * nb_dims);
  memcpy (desc->strides, strides, sizeof (int) * nb_dims);
  return CUDNN_STATUS_SUCCESS;
}

extern "C" cudnnStatus_t
cudnnCreateFilterDescriptor (cudnnFilterDescriptor_t *desc)
{
  if (!desc)
    return CUDNN_STATUS_BAD_PARAM;
  *desc = (cudnnFilterDescriptor_t) calloc (1, sizeof (struct cudnnFilterStruct));
  return *desc ? CUDNN_STATUS_SUCCESS : CUDNN_STATUS_ALLOC_FAILED;
}

extern "C" cudnnStatus_t
cudnnDestroyFilterDescriptor (cudnnFilterDescriptor_t desc)
{
  free (desc);
  return CUDNN_STATUS_SUCCESS;
}

extern "C" cudnnStatus_t
cudnnSetFilterNdDescriptor (cudnnFilterDescriptor_t desc, cudnnDataType_t type,
    cudnnTensorFormat_t format, int nb_dims, const int dims[])
{
  cudaDataType_t t;
  if (!desc || !dims || nb_dims < 3 || nb_dims > CUDNN_DIM_MAX)
    return CUDNN_STATUS_BAD_PARAM;
  /* Filters are dense KCRS (NCHW); other formats are not emulated. */
  if (!to_cuda_type (type, &t) || format != CUDNN_TENSOR_NCHW)
    return CUDNN_STATUS_NOT_SUPPORTED;
  for (int i = 0; i < nb_dims; i++)
    if (dims[i] < 1)
      return CUDNN_STATUS_BAD_PARAM;
  desc->type = type;
  desc->format = format;
  desc->nb_dims = nb_dims;
  memcpy (desc->dims, dims, sizeof (int) * nb_dims);
  return CUDNN_STATUS_SUCCESS;
}

extern "C" cudnnStatus_t
cudnnSetFilter4dDescriptor (cudnnFilterDescriptor_t desc, cudnnDataType_t type,
    cudnnTensorFormat_t format, int k, int c, int h, int w)
{
  int dims[4] = { k, c, h, w };
  return cudnnSetFilterNdDescriptor (desc, type, format, 4, dims);
}

extern "C" cudnnStatus_t
cudnnCreateConvolutionDescriptor (cudnnConvolutionDescriptor_t *desc)
{
  if (!desc)
    return CUDNN_STATUS_BAD_PARAM;
  *desc = (cudnnConvolutionDescriptor_t) calloc (1, sizeof (struct cudnnConvolutionStruct));
  if (!*desc)
    return CUDNN_STATUS_ALLOC_FAILED;
  (*desc)->groups = 1;
  return CUDNN_STATUS_SUCCESS;
}

extern "C" cudnnStatus_t
cudnnDestroyConvolutionDescriptor (cudnnConvolutionDescriptor_t desc)
{
  free (desc);
  return CUDNN_STATUS_SUCCESS;
}

extern "C" cudnnStatus_t
cudnnSetConvolutionNdDescriptor (cudnnConvolutionDescriptor_t desc, int n, const int pad[],
    const int stride[], const int dilation[], cudnnConvolutionMode_t mode,
    cudnnDataType_t compute)
{
  if (!desc || !pad || !stride || !dilation || n < 1 || n > 3)
    return CUDNN_STATUS_BAD_PARAM;
  if (mode != CUDNN_CONVOLUTION && mode != CUDNN_CROSS_CORRELATION)
    return CUDNN_STATUS_BAD_PARAM;
  if (compute != CUDNN_DATA_FLOAT)
    return CUDNN_STATUS_NOT_SUPPORTED;
  for (int i = 0; i < n; i++)
    if (pad[i] < 0 || stride[i] < 1 || dilation[i] < 1)
      return CUDNN_STATUS_BAD_PARAM;
  desc->n_spatial = n;
  memcpy (desc->pad, pad, sizeof (int) * n);
  memcpy (desc->stride, stride, sizeof (int) * n);
  memcpy (desc->dilation, dilation, sizeof (int) * n);
  desc->mode = mode;
  desc->compute = compute;
  return CUDNN_STATUS_SUCCESS;
}

extern "C" cudnnStatus_t
cudnnSetConvolution2dDescriptor (cudnnConvolutionDescriptor_t desc, int pad_h, int pad_w,
    int u, int v, int dilation_h, int dilation_w, cudnnConvolutionMode_t mode,
    cudnnDataType_t compute)
{
  int pad[2] = { pad_h, pad_w }, stride[2] = { u, v }, dil[2] = { dilation_h, dilation_w };
  return cudnnSetConvolutionNdDescriptor (desc, 2, pad, stride, dil, mode, compute);
}

extern "C" cudnnStatus_t
cudnnSetConvolutionMathType (cudnnConvolutionDescriptor_t desc, cudnnMathType_t math)
{
  /* Tensor-op math only changes speed (and rounding) on a GPU. */
  (void) math;
  return desc ? CUDNN_STATUS_SUCCESS : CUDNN_STATUS_BAD_PARAM;
}

extern "C" cudnnStatus_t
cudnnSetConvolutionGroupCount (cudnnConvolutionDescriptor_t desc, int groups)
{
  if (!desc || groups < 1)
    return CUDNN_STATUS_BAD_PARAM;
  desc->groups = groups;
  return CUDNN_STATUS_SUCCESS;
}

extern "C" cudnnStatus_t
cudnnGetConvolutionNdForwardOutputDim (const cudnnConvolutionDescriptor_t conv,
    const cudnnTensorDescriptor_t x, const cudnnFilterDescriptor_t w, int nb_dims, int out[])
{
  int dims[CUDNN_DIM_MAX];
  if (!out || !output_dims (conv, x, w, dims) || nb_dims != x->nb_dims)
    return CUDNN_STATUS_BAD_PARAM;
  memcpy (out, dims, sizeof (int) * nb_dims);
  return CUDNN_STATUS_SUCCESS;
}

extern "C" cudnnStatus_t
cudnnGetConvolution2dForwardOutputDim (const cudnnConvolutionDescriptor_t conv,
    const cudnnTensorDescriptor_t x, const cudnnFilterDescriptor_t w, int *n, int *c, int *h,
    int *wd)
{
  int dims[4];
  if (!n || !c || !h || !wd || !x || x->nb_dims != 4)
    return CUDNN_STATUS_BAD_PARAM;
  cudnnStatus_t s = cudnnGetConvolutionNdForwardOutputDim (conv, x, w, 4, dims);
  if (s == CUDNN_STATUS_SUCCESS) {
    *n = dims[0];
    *c = dims[1];
    *h = dims[2];
    *wd = dims[3];
  }
  return s;
}

/* Validates a forward convolution and fills @call (pointers by the caller). */
static cudnnStatus_t
prepare_conv (const cudnnTensorStruct *x, const cudnnFilterStruct *w,
    const cudnnConvolutionStruct *conv, cudnnConvolutionFwdAlgo_t algo,
    const cudnnTensorStruct *y, ConvCall *call)
{
  int dims[CUDNN_DIM_MAX];
  if (!x || !w || !conv || !y || !output_dims (conv, x, w, dims) || y->nb_dims != x->nb_dims)
    return CUDNN_STATUS_BAD_PARAM;
  for (int i = 0; i < y->nb_dims; i++)
    if (y->dims[i] != dims[i])
      return CUDNN_STATUS_BAD_PARAM;
  if (algo < CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM || algo >= CUDNN_CONVOLUTION_FWD_ALGO_COUNT)
    return CUDNN_STATUS_BAD_PARAM;
  if (x->type != w->type || x->type != y->type || !to_cuda_type (x->type, &call->type))
    return CUDNN_STATUS_NOT_SUPPORTED;
  int pad = 3 - conv->n_spatial;   /* leading spatial dims of size 1 */
  call->n = x->dims[0];
  call->c = x->dims[1];
  call->k = w->dims[0];
  call->groups = conv->groups;
  call->xs[0] = x->strides[0];
  call->xs[1] = x->strides[1];
  call->ys[0] = y->strides[0];
  call->ys[1] = y->strides[1];
  for (int s = 0; s < 3; s++) {
    int src = s - pad + 2;
    bool real = s >= pad;
    call->in[s] = real ? x->dims[src] : 1;
    call->out[s] = real ? y->dims[src] : 1;
    call->ker[s] = real ? w->dims[src] : 1;
    call->xs[s + 2] = real ? x->strides[src] : 0;
    call->ys[s + 2] = real ? y->strides[src] : 0;
    call->pad[s] = real ? conv->pad[s - pad] : 0;
    call->stride[s] = real ? conv->stride[s - pad] : 1;
    call->dilation[s] = real ? conv->dilation[s - pad] : 1;
  }
  call->flip = conv->mode == CUDNN_CONVOLUTION;
  return CUDNN_STATUS_SUCCESS;
}

extern "C" cudnnStatus_t
cudnnGetConvolutionForwardWorkspaceSize (cudnnHandle_t handle, const cudnnTensorDescriptor_t x,
    const cudnnFilterDescriptor_t w, const cudnnConvolutionDescriptor_t conv,
    const cudnnTensorDescriptor_t y, cudnnConvolutionFwdAlgo_t algo, size_t *size)
{
  ConvCall call;
  if (!handle || !size)
    return CUDNN_STATUS_BAD_PARAM;
  cudnnStatus_t s = prepare_conv (x, w, conv, algo, y, &call);
  if (s == CUDNN_STATUS_SUCCESS)
    *size = 0;
  return s;
}

extern "C" cudnnStatus_t
cudnnConvolutionForward (cudnnHandle_t handle, const void *alpha,
    const cudnnTensorDescriptor_t x_desc, const void *x, const cudnnFilterDescriptor_t w_desc,
    const void *w, const cudnnConvolutionDescriptor_t conv, cudnnConvolutionFwdAlgo_t algo,
    void *workspace, size_t workspace_size, const void *beta,
    const cudnnTensorDescriptor_t y_desc, void *y)
{
  (void) workspace, (void) workspace_size;
  ConvCall call;
  if (!handle || !alpha || !beta || !x || !w || !y)
    return CUDNN_STATUS_BAD_PARAM;
  memset (&call, 0, sizeof call);
  cudnnStatus_t s = prepare_conv (x_desc, w_desc, conv, algo, y_desc, &call);
  if (s != CUDNN_STATUS_SUCCESS)
    return s;
  call.alpha = *(const float *) alpha;
  call.beta = *(const float *) beta;
  call.x = x;
  call.w = w;
  call.y = y;
  if (omni_emu_stream_enqueue (handle->stream, run_conv, &call, sizeof call) != cudaSuccess)
    return CUDNN_STATUS_EXECUTION_FAILED;
  return CUDNN_STATUS_SUCCESS;
}

extern "C" cudnnStatus_t
cudnnAddTensor (cudnnHandle_t handle, const void *alpha, const cudnnTensorDescriptor_t a_desc,
    const void *a, const void *beta, const cudnnTensorDescriptor_t c_desc, void *c)
{
  AddCall call;
  if (!handle || !alpha || !beta || !a_desc || !c_desc || !a || !c
      || a_desc->nb_dims != c_desc->nb_dims)
    return CUDNN_STATUS_BAD_PARAM;
  memset (&call, 0, sizeof call);
  if (a_desc->type != c_desc->type || !to_cuda_type (c_desc->type, &call.type))
    return CUDNN_STATUS_NOT_SUPPORTED;
  call.nb_dims = c_desc->nb_dims;
  for (int d = 0; d < call.nb_dims; d++) {
    if (a_desc->dims[d] != 1 && a_desc->dims[d] != c_desc->dims[d])
      return CUDNN_STATUS_BAD_PARAM;
    call.dims[d] = c_desc->dims[d];
    call.a_strides[d] = a_desc->dims[d] == 1 ? 0 : a_desc->strides[d];
    call.c_strides[d] = c_desc->strides[d];
  }
  call.alpha = *(const float *) alpha;
  call.beta = *(const float *) beta;
  call.a = a;
  call.c = c;
  if (omni_emu_stream_enqueue (handle->stream, run_add, &call, sizeof call) != cudaSuccess)
    return CUDNN_STATUS_EXECUTION_FAILED;
  return CUDNN_STATUS_SUCCESS;
}
