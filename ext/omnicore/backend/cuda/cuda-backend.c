/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The CUDA backend: opening a device, the arena-backed storage, weights
 * uploaded once from the mapping, and the op table. Ops live in cuda-*.c.
 * OMNI_CUDA_MODULE is "cuda" or "cuda-emu" (which build this is). */
#include <stdlib.h>
#include <gmodule.h>
#include "cuda-backend.h"
#include "omnicore.h"

/* Host arguments staged per synchronisation (block tables, ids, MoE
 * pointer tables): a 128-sequence batch with 4096-token contexts in 16-token
 * pages needs 128 KiB of block tables, so this is generous. */
#define ARGS_BYTES (8u << 20)

#ifdef OMNI_CUDA_EMU_MODULE
/* The emulator's memory is host memory: a small default arena. */
#define DEFAULT_POOL_MB 1024
#define LT_WORKSPACE_BYTES (4u << 20)
#else
#define DEFAULT_POOL_MB 0       /* 90 % of the device */
#define LT_WORKSPACE_BYTES (32u << 20)   /* what cuBLASLt's Hopper kernels like */
#endif
#define MIN_POOL_MB 64

gboolean
omni_cuda_check_f32 (const OmniTensor *t, const char *op, const char *what)
{
  if (t == NULL || t->data == NULL || t->dtype != OMNI_DTYPE_F32 || t->n_dims < 1) {
    g_critical ("cuda %s: %s must be a non-empty f32 tensor", op, what);
    return FALSE;
  }
  return TRUE;
}

gboolean
omni_cuda_float_type (const OmniTensor *t, const char *op, const char *what)
{
  if (t == NULL || t->data == NULL || t->n_dims < 1 ||
      (t->dtype != OMNI_DTYPE_F32 && t->dtype != OMNI_DTYPE_F16 && t->dtype != OMNI_DTYPE_BF16)) {
    g_critical ("cuda %s: %s must be an F32, F16 or BF16 tensor", op, what);
    return FALSE;
  }
  return TRUE;
}

static gboolean
tensor_size (OmniDType dtype, int n_dims, const int64_t *shape, size_t *n, GError **error)
{
  *n = 1;
  if ((int) dtype < 0 || dtype >= OMNI_DTYPE_COUNT || n_dims < 1 || n_dims > OMNI_TENSOR_MAX_DIMS) {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_INVALID,
                 "cuda tensor_alloc: expected a known dtype and 1..%d dims, got dtype %d and %d dims",
                 OMNI_TENSOR_MAX_DIMS, (int) dtype, n_dims);
    return FALSE;
  }
  for (int i = 0; i < n_dims; i++) {
    if (shape[i] < 0 || !g_size_checked_mul (n, *n, (size_t) shape[i])) {
      g_set_error (error, OMNI_ERROR, OMNI_ERROR_INVALID,
                   "cuda tensor_alloc: dimension %d (%" G_GINT64_FORMAT ") is negative or the size overflows",
                   i, shape[i]);
      return FALSE;
    }
  }
  if (!g_size_checked_mul (n, *n, omni_dtype_size (dtype))) {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_INVALID, "cuda tensor_alloc: the size overflows");
    return FALSE;
  }
  return TRUE;
}

/* Device storage from the arena, zeroed like the cpu backend's. */
static gboolean
device_alloc (OmniCudaBackend *cu, OmniTensor *t, size_t n, GError **error)
{
  t->data = omni_cuda_pool_alloc (cu, n);
  if (t->data == NULL) {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_NO_MEMORY,
                 "%s: %" G_GSIZE_FORMAT " bytes do not fit the device arena (%" G_GSIZE_FORMAT " MiB, %"
                 G_GSIZE_FORMAT " MiB in use; set OMNI_CUDA_POOL_MB)", cu->base.device, n,
                 cu->pool.size >> 20, cu->pool.in_use >> 20);
    return FALSE;
  }
  t->n_bytes = n;
  t->owned = TRUE;
  return TRUE;
}

static gboolean
cuda_tensor_alloc (OmniBackend *b, OmniTensor *t, OmniDType dtype, int n_dims, const int64_t *shape,
                   GError **error)
{
  OmniCudaBackend *cu = (OmniCudaBackend *) b;
  size_t n;

  memset (t, 0, sizeof *t);
  omni_cuda_bind (cu);
  if (!tensor_size (dtype, n_dims, shape, &n, error) || !device_alloc (cu, t, n, error))
    return FALSE;
  t->dtype = dtype;
  t->n_dims = n_dims;
  memcpy (t->shape, shape, n_dims * sizeof shape[0]);
  omni_cuda_ok (cudaMemsetAsync (t->data, 0, MAX (n, 1), cu->stream), "cudaMemsetAsync");
  return TRUE;
}

static void
cuda_tensor_free (OmniBackend *b, OmniTensor *t)
{
  OmniCudaBackend *cu = (OmniCudaBackend *) b;

  if (t->owned) {
    /* a kept graph may write this memory; queued work may still use it */
    omni_cuda_graphs_drop (cu);
    omni_cuda_sync (cu);
    omni_cuda_pool_free (cu, t->data);
  }
  memset (t, 0, sizeof *t);
}

/* FP8 weights are dequantized on the host (block scales applied by io/) and
 * stored as bf16: half the bytes of f32, and the cuBLASLt bf16 path. */
static gboolean
upload_fp8 (OmniCudaBackend *cu, const OmniSafetensors *st, const OmniSafeTensor *src, OmniTensor *dst,
            GError **error)
{
  size_t n = (size_t) src->n_elements;
  float *f = g_try_malloc (MAX (n, 1) * sizeof (float));
  uint16_t *h = (uint16_t *) f;

  if (f == NULL) {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_NO_MEMORY,
                 "%s: no host memory to dequantize tensor '%s'", src->file, src->name);
    return FALSE;
  }
  if (!omni_safetensors_to_f32 (st, src, f, error) || !device_alloc (cu, dst, n * 2, error)) {
    g_free (f);
    return FALSE;
  }
  /* in place: element i's bf16 lands before float i + 1 is read */
  for (size_t i = 0; i < n; i++)
    h[i] = omni_f32_to_bf16 (f[i]);
  dst->dtype = OMNI_DTYPE_BF16;
  omni_cuda_ok (cudaMemcpyAsync (dst->data, h, n * 2, cudaMemcpyHostToDevice, cu->stream),
                "cudaMemcpyAsync of a weight");
  omni_cuda_sync (cu);
  g_free (f);
  return TRUE;
}

/* Weights are copied once from the mapping into the arena, in their stored
 * dtype (F32/F16/BF16; F8_E4M3 becomes BF16). */
static gboolean
cuda_weight_load (OmniBackend *b, const OmniSafetensors *st, const OmniSafeTensor *src, OmniTensor *dst,
                  GError **error)
{
  OmniCudaBackend *cu = (OmniCudaBackend *) b;

  memset (dst, 0, sizeof *dst);
  omni_cuda_bind (cu);
  if (src->n_dims < 1 || src->n_dims > OMNI_TENSOR_MAX_DIMS) {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_UNSUPPORTED, "%s: tensor '%s' has %d dims; the %s backend takes 1..%d",
                 src->file, src->name, src->n_dims, b->ops->name, OMNI_TENSOR_MAX_DIMS);
    return FALSE;
  }
  if (src->dtype == OMNI_DTYPE_F8_E4M3) {
    if (!upload_fp8 (cu, st, src, dst, error))
      return FALSE;
  } else if (src->dtype == OMNI_DTYPE_F32 || src->dtype == OMNI_DTYPE_F16 || src->dtype == OMNI_DTYPE_BF16) {
    if (!device_alloc (cu, dst, src->n_bytes, error))
      return FALSE;
    dst->dtype = src->dtype;
    /* on the backend's stream (non-blocking, so not ordered after a plain
     * cudaMemcpy); the mapping outlives the copy */
    if (!omni_cuda_ok (cudaMemcpyAsync (dst->data, src->data, src->n_bytes, cudaMemcpyHostToDevice,
                                        cu->stream), "cudaMemcpyAsync of a weight")) {
      omni_cuda_pool_free (cu, dst->data);
      memset (dst, 0, sizeof *dst);
      g_set_error (error, OMNI_ERROR, OMNI_ERROR_DEVICE, "%s: uploading tensor '%s' to %s failed",
                   src->file, src->name, b->device);
      return FALSE;
    }
  } else {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_UNSUPPORTED,
                 "%s: tensor '%s' has dtype %s; the %s backend takes F32, F16, BF16 or F8_E4M3 weights",
                 src->file, src->name, omni_dtype_name (src->dtype), b->ops->name);
    return FALSE;
  }
  dst->n_dims = src->n_dims;
  memcpy (dst->shape, src->shape, src->n_dims * sizeof src->shape[0]);
  return TRUE;
}

static void
cuda_upload (OmniBackend *b, OmniTensor *dst, const void *host, size_t n_bytes)
{
  OmniCudaBackend *cu = (OmniCudaBackend *) b;

  g_return_if_fail (dst->data != NULL && n_bytes <= dst->n_bytes);
  g_return_if_fail (!cu->in_step);
  omni_cuda_bind (cu);
  omni_cuda_ok (cudaMemcpyAsync (dst->data, host, n_bytes, cudaMemcpyHostToDevice, cu->stream),
                "cudaMemcpyAsync (upload)");
  /* @host may go away when we return */
  omni_cuda_sync (cu);
}

static void
cuda_download (OmniBackend *b, const OmniTensor *src, void *host, size_t n_bytes)
{
  OmniCudaBackend *cu = (OmniCudaBackend *) b;

  g_return_if_fail (src->data != NULL && n_bytes <= src->n_bytes);
  g_return_if_fail (!cu->in_step);
  omni_cuda_bind (cu);
  omni_cuda_ok (cudaMemcpyAsync (host, src->data, n_bytes, cudaMemcpyDeviceToHost, cu->stream),
                "cudaMemcpyAsync (download)");
  omni_cuda_sync (cu);
}

static void
cuda_synchronize (OmniBackend *b)
{
  omni_cuda_sync ((OmniCudaBackend *) b);
}

static void
cuda_destroy (OmniBackend *b)
{
  OmniCudaBackend *cu = (OmniCudaBackend *) b;

  if (cu->stream != NULL) {
    omni_cuda_bind (cu);
    cudaStreamSynchronize (cu->stream);
  }
  omni_cuda_graphs_clear (cu);
  omni_cuda_matmul_plans_free (cu);
  if (cu->lt != NULL)
    cublasLtDestroy (cu->lt);
  if (cu->dnn != NULL)
    cudnnDestroy (cu->dnn);
  if (cu->h_args != NULL)
    cudaFreeHost (cu->h_args);
  omni_cuda_pool_clear (cu);
  if (cu->stream != NULL)
    cudaStreamDestroy (cu->stream);
  g_free (cu);
}

static const OmniBackendOps cuda_ops = {
  .name = OMNI_CUDA_MODULE,
  .destroy = cuda_destroy,
  .tensor_alloc = cuda_tensor_alloc,
  .tensor_free = cuda_tensor_free,
  .weight_load = cuda_weight_load,
  .upload = cuda_upload,
  .download = cuda_download,
  .synchronize = cuda_synchronize,
  .embed = omni_cuda_embed,
  .matmul = omni_cuda_matmul,
  .rmsnorm = omni_cuda_rmsnorm,
  .rope = omni_cuda_rope,
  .kv_store = omni_cuda_kv_store,
  .attention = omni_cuda_attention,
  .swiglu = omni_cuda_swiglu,
  .add = omni_cuda_add,
  .moe_route = omni_cuda_moe_route,
  .moe_experts = omni_cuda_moe_experts,
  .get_rows = omni_cuda_get_rows,
  .conv = omni_cuda_conv,
  .layernorm = omni_cuda_layernorm,
  .gelu = omni_cuda_gelu,
  .attention_segments = omni_cuda_attention_segments,
  .set_rows = omni_cuda_set_rows,
  .permute = omni_cuda_permute,
  .step_begin = omni_cuda_step_begin,
  .step_end = omni_cuda_step_end,
};

/* "cuda:N" (or "cuda-emu", device 0 of the emulator) -> N. */
static gboolean
parse_device (const char *device, int *index, GError **error)
{
  guint64 v;

#ifdef OMNI_CUDA_EMU_MODULE
  if (strcmp (device, "cuda-emu") == 0) {
    *index = 0;
    return TRUE;
  }
#endif
  if (g_str_has_prefix (device, "cuda:") &&
      g_ascii_string_to_unsigned (device + 5, 10, 0, G_MAXINT, &v, NULL)) {
    *index = (int) v;
    return TRUE;
  }
  g_set_error (error, OMNI_ERROR, OMNI_ERROR_INVALID, "the %s backend module cannot open device \"%s\"",
               OMNI_CUDA_MODULE, device);
  return FALSE;
}

static gboolean
select_device (OmniCudaBackend *cu, int index, struct cudaDeviceProp *prop, GError **error)
{
  int count = 0;
  cudaError_t err = cudaGetDeviceCount (&count);

  if (err != cudaSuccess || count == 0) {
    cudaGetLastError ();
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_DEVICE, "%s: no CUDA device (cudaGetDeviceCount: %s)",
                 cu->base.device, err != cudaSuccess ? cudaGetErrorString (err) : "0 devices");
    return FALSE;
  }
  if (index >= count) {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_DEVICE, "%s: there are only %d CUDA devices (0..%d)",
                 cu->base.device, count, count - 1);
    return FALSE;
  }
  err = cudaSetDevice (index);
  if (err == cudaSuccess)
    err = cudaGetDeviceProperties (prop, index);
  if (err != cudaSuccess) {
    cudaGetLastError ();
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_DEVICE, "%s: %s", cu->base.device, cudaGetErrorString (err));
    return FALSE;
  }
  return TRUE;
}

/* OMNI_CUDA_POOL_MB, else the default (90 % of the free device memory on
 * real CUDA); halved until cudaMalloc agrees. */
static gboolean
open_pool (OmniCudaBackend *cu, const struct cudaDeviceProp *prop, GError **error)
{
  const char *env = g_getenv ("OMNI_CUDA_POOL_MB");
  guint64 mb = DEFAULT_POOL_MB;

  if (env != NULL && *env != '\0') {
    if (!g_ascii_string_to_unsigned (env, 10, MIN_POOL_MB, G_MAXUINT32, &mb, NULL)) {
      g_set_error (error, OMNI_ERROR, OMNI_ERROR_INVALID,
                   "OMNI_CUDA_POOL_MB is \"%s\"; expected MiB from %d", env, MIN_POOL_MB);
      return FALSE;
    }
    return omni_cuda_pool_init (cu, (size_t) mb << 20, error);
  }
  if (mb == 0) {
    size_t free_b = 0, total_b = 0;
    /* 90 % of what is free now (another process may hold some) */
    if (cudaMemGetInfo (&free_b, &total_b) != cudaSuccess) {
      cudaGetLastError ();
      free_b = prop->totalGlobalMem;
    }
    mb = (guint64) (free_b / 10 * 9) >> 20;
  }
  for (;; mb /= 2) {
    GError *e = NULL;
    if (omni_cuda_pool_init (cu, (size_t) mb << 20, &e))
      return TRUE;
    if (mb / 2 < MIN_POOL_MB) {
      g_propagate_error (error, e);
      return FALSE;
    }
    g_error_free (e);
  }
}

static gboolean
open_resources (OmniCudaBackend *cu, GError **error)
{
  const char *what = NULL;

  cu->stats.cuda_mallocs++;
  if (cudaStreamCreateWithFlags (&cu->stream, cudaStreamNonBlocking) != cudaSuccess)
    what = "cudaStreamCreate";
  else if (cublasLtCreate (&cu->lt) != CUBLAS_STATUS_SUCCESS)
    what = "cublasLtCreate";
  else if (cudaMallocHost ((void **) &cu->h_args, ARGS_BYTES) != cudaSuccess)
    what = "cudaMallocHost of the argument staging area";
  else if ((cu->d_args = omni_cuda_pool_alloc (cu, ARGS_BYTES)) == NULL ||
           (cu->lt_workspace = omni_cuda_pool_alloc (cu, LT_WORKSPACE_BYTES)) == NULL)
    what = "the argument and cuBLASLt buffers in the arena";
  if (what != NULL) {
    cudaGetLastError ();
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_DEVICE, "%s: %s failed", cu->base.device, what);
    return FALSE;
  }
  cu->args_cap = ARGS_BYTES;
  cu->lt_workspace_size = LT_WORKSPACE_BYTES;
  omni_cuda_graphs_init (cu);
  return TRUE;
}

G_MODULE_EXPORT OmniBackend *omni_backend_module_open (const char *device, GError **error);
G_MODULE_EXPORT void omni_backend_module_stats (OmniBackend *b, OmniCudaStats *stats);

OmniBackend *
omni_backend_module_open (const char *device, GError **error)
{
  OmniCudaBackend *cu;
  struct cudaDeviceProp prop;
  int index;

  if (!parse_device (device, &index, error))
    return NULL;
  cu = g_new0 (OmniCudaBackend, 1);
  cu->base.ops = &cuda_ops;
  g_strlcpy (cu->base.device, device, sizeof cu->base.device);
  cu->device = index;
  if (!select_device (cu, index, &prop, error))
    goto fail;
  cu->bound = g_thread_self ();
  if (!open_pool (cu, &prop, error) ||
      !open_resources (cu, error))
    goto fail;
  g_info ("%s: %s (sm_%d%d, %" G_GSIZE_FORMAT " MiB), arena %" G_GSIZE_FORMAT " MiB", device, prop.name,
          prop.major, prop.minor, prop.totalGlobalMem >> 20, cu->pool.size >> 20);
  return &cu->base;
fail:
  cuda_destroy (&cu->base);
  return NULL;
}

void
omni_backend_module_stats (OmniBackend *b, OmniCudaStats *stats)
{
  OmniCudaBackend *cu = (OmniCudaBackend *) b;

  *stats = cu->stats;
  stats->pool_size = cu->pool.size;
  stats->pool_in_use = cu->pool.in_use;
  stats->pool_peak = cu->pool.peak;
}
