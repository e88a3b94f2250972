/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The CPU backend: host storage, weights read in place from the mapping, the
 * worker pool and the op table. The ops themselves live in cpu-*.c. */
#include <stdlib.h>
#include <sys/mman.h>
#include "cpu-backend.h"
#include "omnicore.h"

/* Alignment of every host buffer: a cache line, enough for any vector width. */
#define CPU_ALIGN 64

/* Below this many flops an op runs on the calling thread alone. */
#define CPU_MIN_PARALLEL_WORK 32768

/* Buffers from this size on (weights, big activations) are aligned to and
 * advised as transparent huge pages where the kernel offers them: decode
 * streams the weights, and with 4 KiB pages it would walk the page tables
 * at every new panel of weight rows. */
#define CPU_HUGE_MIN ((size_t) 4 << 20)
#define CPU_HUGE_ALIGN ((size_t) 2 << 20)

static void *
aligned_try_alloc0 (size_t size)
{
  void *p = NULL;

  if (size >= CPU_HUGE_MIN) {
    if (posix_memalign (&p, CPU_HUGE_ALIGN, size) != 0)
      return NULL;
#ifdef MADV_HUGEPAGE
    madvise (p, size & ~(CPU_HUGE_ALIGN - 1), MADV_HUGEPAGE);
#endif
  } else if (posix_memalign (&p, CPU_ALIGN, size == 0 ? CPU_ALIGN : size) != 0) {
    return NULL;
  }
  memset (p, 0, size);
  return p;
}

void *
omni_cpu_scratch_reserve (OmniCpuScratch *s, size_t size)
{
  if (size <= s->size)
    return s->data;
  free (s->data);
  s->data = aligned_try_alloc0 (size);
  if (s->data == NULL)
    g_error ("cpu backend: out of memory growing a scratch buffer to %" G_GSIZE_FORMAT " bytes", size);
  s->size = size;
  return s->data;
}

void
omni_cpu_scratch_clear (OmniCpuScratch *s)
{
  free (s->data);
  s->data = NULL;
  s->size = 0;
}

int
omni_cpu_threads_for (const OmniCpuBackend *cpu, int64_t work, int64_t items)
{
  if (work < CPU_MIN_PARALLEL_WORK || items <= 1)
    return 1;
  return (int) MIN ((int64_t) cpu->n_threads, items);
}

gboolean
omni_cpu_check_f32 (const OmniTensor *t, const char *op, const char *what)
{
  if (t == NULL || t->data == NULL || t->dtype != OMNI_DTYPE_F32 || t->n_dims < 1) {
    g_critical ("cpu %s: %s must be a non-empty f32 tensor", op, what);
    return FALSE;
  }
  return TRUE;
}

gboolean
omni_cpu_check_float_weight (const OmniTensor *t, const char *op, const char *what)
{
  if (t == NULL || t->data == NULL || t->n_dims < 1 ||
      (t->dtype != OMNI_DTYPE_F32 && t->dtype != OMNI_DTYPE_F16 && t->dtype != OMNI_DTYPE_BF16)) {
    g_critical ("cpu %s: %s must be an F32, F16 or BF16 tensor", op, what);
    return FALSE;
  }
  return TRUE;
}

gboolean
omni_cpu_check_matmul_weight (const OmniTensor *t, const char *op, const char *what)
{
  if (t == NULL || !omni_dtype_is_block (t->dtype))
    return omni_cpu_check_float_weight (t, op, what);
  if (t->data == NULL || t->n_dims < 2 || t->n_dims > 3 ||
      t->n_bytes != omni_tensor_bytes_for (t->dtype, omni_tensor_rows (t), t->shape[t->n_dims - 1])) {
    g_critical ("cpu %s: %s must be a 2-D or 3-D %s tensor of whole block rows", op, what,
                omni_dtype_name (t->dtype));
    return FALSE;
  }
  return TRUE;
}

static gboolean
cpu_tensor_alloc (OmniBackend *b, OmniTensor *t, OmniDType dtype, int n_dims,
                  const int64_t *shape, GError **error)
{
  size_t n = 1;

  memset (t, 0, sizeof *t);
  if ((int) dtype < 0 || dtype >= OMNI_DTYPE_COUNT || n_dims < 1 || n_dims > OMNI_TENSOR_MAX_DIMS) {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_INVALID,
                 "cpu tensor_alloc: expected a known dtype and 1..%d dims, got dtype %d and %d dims",
                 OMNI_TENSOR_MAX_DIMS, (int) dtype, n_dims);
    return FALSE;
  }
  /* block dtypes: the last dim is counted in whole 32-element blocks */
  for (int i = 0; i < n_dims; i++) {
    size_t d = omni_dtype_is_block (dtype) && i == n_dims - 1 && shape[i] >= 0
                 ? (size_t) (shape[i] + OMNI_QK - 1) / OMNI_QK : (size_t) shape[i];
    if (shape[i] < 0 || !g_size_checked_mul (&n, n, d)) {
      g_set_error (error, OMNI_ERROR, OMNI_ERROR_INVALID,
                   "cpu tensor_alloc: dimension %d (%" G_GINT64_FORMAT ") is negative or the size overflows",
                   i, shape[i]);
      return FALSE;
    }
  }
  if (!g_size_checked_mul (&n, n, omni_dtype_is_block (dtype) ? omni_row_bytes (dtype, OMNI_QK)
                                                                 : omni_dtype_size (dtype))) {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_INVALID, "cpu tensor_alloc: the size overflows");
    return FALSE;
  }
  t->data = aligned_try_alloc0 (n);
  if (t->data == NULL) {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_NO_MEMORY,
                 "cpu tensor_alloc: cannot allocate %" G_GSIZE_FORMAT " bytes of host memory", n);
    return FALSE;
  }
  t->dtype = dtype;
  t->n_dims = n_dims;
  memcpy (t->shape, shape, n_dims * sizeof shape[0]);
  t->n_bytes = n;
  t->owned = TRUE;
  return TRUE;
}

static void
cpu_tensor_free (OmniBackend *b, OmniTensor *t)
{
  if (t->owned)
    free (t->data);
  memset (t, 0, sizeof *t);
}

/* F8_E4M3 weights are dequantized once into an owned f32 tensor (block scales
 * applied by io/); computing on quantized weights arrives with the speed
 * issue. F32/F16/BF16 weights are used in place, converted per row by the
 * kernels; a mapping that is not aligned to the element size (possible in a
 * hand-made file) is copied once, unconverted, so the kernels' loads stay
 * aligned. */
static gboolean
cpu_weight_load (OmniBackend *b, const OmniSafetensors *st, const OmniSafeTensor *src,
                 OmniTensor *dst, GError **error)
{
  gboolean in_place = src->dtype == OMNI_DTYPE_F32 || src->dtype == OMNI_DTYPE_F16 ||
                      src->dtype == OMNI_DTYPE_BF16;

  memset (dst, 0, sizeof *dst);
  if (!in_place && src->dtype != OMNI_DTYPE_F8_E4M3) {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_UNSUPPORTED,
                 "%s: tensor '%s' has dtype %s; the cpu backend takes F32, F16, BF16 or F8_E4M3 weights",
                 src->file, src->name, omni_dtype_name (src->dtype));
    return FALSE;
  }
  if (src->n_dims < 1 || src->n_dims > OMNI_TENSOR_MAX_DIMS) {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_UNSUPPORTED,
                 "%s: tensor '%s' has %d dims; the cpu backend takes 1..%d",
                 src->file, src->name, src->n_dims, OMNI_TENSOR_MAX_DIMS);
    return FALSE;
  }

  if (in_place) {
    size_t esize = omni_dtype_size (src->dtype);

    if (((uintptr_t) src->data) % esize == 0) {
      dst->data = (void *) src->data;
      dst->owned = FALSE;
    } else {
      g_debug ("%s: tensor '%s' is not %" G_GSIZE_FORMAT "-byte aligned in the file; copying it",
               src->file, src->name, esize);
      dst->data = aligned_try_alloc0 (src->n_bytes);
      if (dst->data == NULL)
        goto no_memory;
      memcpy (dst->data, src->data, src->n_bytes);
      dst->owned = TRUE;
    }
    dst->dtype = src->dtype;
    dst->n_bytes = src->n_bytes;
  } else {
    size_t n_bytes;

    if (!g_size_checked_mul (&n_bytes, (size_t) src->n_elements, sizeof (float)))
      goto no_memory;
    dst->data = aligned_try_alloc0 (n_bytes);
    if (dst->data == NULL)
      goto no_memory;
    if (!omni_safetensors_to_f32 (st, src, dst->data, error)) {
      free (dst->data);
      memset (dst, 0, sizeof *dst);
      return FALSE;
    }
    dst->dtype = OMNI_DTYPE_F32;
    dst->n_bytes = n_bytes;
    dst->owned = TRUE;
  }
  dst->n_dims = src->n_dims;
  memcpy (dst->shape, src->shape, src->n_dims * sizeof src->shape[0]);
  return TRUE;

no_memory:
  memset (dst, 0, sizeof *dst);
  g_set_error (error, OMNI_ERROR, OMNI_ERROR_NO_MEMORY,
               "%s: cannot allocate host memory for tensor '%s' (%" G_GINT64_FORMAT " elements)",
               src->file, src->name, src->n_elements);
  return FALSE;
}

static void
cpu_upload (OmniBackend *b, OmniTensor *dst, const void *host, size_t n_bytes)
{
  g_return_if_fail (dst->data != NULL && n_bytes <= dst->n_bytes);
  memcpy (dst->data, host, n_bytes);
}

static void
cpu_download (OmniBackend *b, const OmniTensor *src, void *host, size_t n_bytes)
{
  g_return_if_fail (src->data != NULL && n_bytes <= src->n_bytes);
  memcpy (host, src->data, n_bytes);
}

/* Ops run to completion before returning, so there is nothing to wait for. */
static void
cpu_synchronize (OmniBackend *b)
{
}

static void
cpu_destroy (OmniBackend *b)
{
  OmniCpuBackend *cpu = (OmniCpuBackend *) b;

  omni_cpu_pool_free (cpu->pool);
  omni_cpu_scratch_clear (&cpu->wrow);
  omni_cpu_scratch_clear (&cpu->xq);
  omni_cpu_scratch_clear (&cpu->attn);
  omni_cpu_scratch_clear (&cpu->rope);
  omni_cpu_scratch_clear (&cpu->moe);
  omni_cpu_scratch_clear (&cpu->conv);
  g_free (cpu);
}

static const OmniBackendOps cpu_ops = {
  .name = "cpu",
  .destroy = cpu_destroy,
  .tensor_alloc = cpu_tensor_alloc,
  .tensor_free = cpu_tensor_free,
  .weight_load = cpu_weight_load,
  .upload = cpu_upload,
  .download = cpu_download,
  .synchronize = cpu_synchronize,
  .embed = omni_cpu_embed,
  .matmul = omni_cpu_matmul,
  .rmsnorm = omni_cpu_rmsnorm,
  .rope = omni_cpu_rope,
  .kv_store = omni_cpu_kv_store,
  .attention = omni_cpu_attention,
  .swiglu = omni_cpu_swiglu,
  .add = omni_cpu_add,
  .moe_route = omni_cpu_moe_route,
  .moe_experts = omni_cpu_moe_experts,
  .get_rows = omni_cpu_get_rows,
  .conv = omni_cpu_conv,
  .layernorm = omni_cpu_layernorm,
  .gelu = omni_cpu_gelu,
  .attention_segments = omni_cpu_attention_segments,
  .set_rows = omni_cpu_set_rows,
  .permute = omni_cpu_permute,
  .add_rmsnorm = omni_cpu_add_rmsnorm,
};

OmniBackend *
omni_cpu_backend_new (int n_threads, GError **error)
{
  OmniCpuBackend *cpu;

  g_return_val_if_fail (n_threads >= 1, NULL);
  cpu = g_new0 (OmniCpuBackend, 1);
  cpu->base.ops = &cpu_ops;
  g_strlcpy (cpu->base.device, "cpu", sizeof cpu->base.device);
  cpu->n_threads = n_threads;
  cpu->isa = omni_cpu_isa_detect ();
  g_debug ("cpu backend: %s kernels", omni_cpu_isa_name (cpu->isa));
  cpu->pool = omni_cpu_pool_new (n_threads, error);
  if (cpu->pool == NULL) {
    g_free (cpu);
    return NULL;
  }
  return &cpu->base;
}
