/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Device selection and the paged KV cache, shared by every backend. */
#include <errno.h>
#include <stdlib.h>
#include <gmodule.h>
#include "backend/backend.h"
#include "cpu/cpu-backend.h"
#include "omnicore.h"

/* More threads than this is a typo, not a machine. */
#define MAX_THREADS 1024

static const char accepted_devices[] = "\"auto\", \"cpu\", \"cuda:N\" or \"cuda-emu\"";

/* Threads for the cpu backend: @requested when > 0, else OMNI_THREADS, else
 * OMNI_NUM_THREADS (the older name), else every core. */
static gboolean
cpu_thread_count (int requested, int *n_threads, GError **error)
{
  const char *names[] = { "OMNI_THREADS", "OMNI_NUM_THREADS" };
  guint64 v;

  if (requested < 0 || requested > MAX_THREADS) {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_INVALID,
                 "%d threads asked for; expected 0 (automatic) or a thread count from 1 to %d",
                 requested, MAX_THREADS);
    return FALSE;
  }
  if (requested > 0) {
    *n_threads = requested;
    return TRUE;
  }
  for (guint i = 0; i < G_N_ELEMENTS (names); i++) {
    const char *env = g_getenv (names[i]);

    if (env == NULL || *env == '\0')
      continue;
    if (!g_ascii_string_to_unsigned (env, 10, 1, MAX_THREADS, &v, NULL)) {
      g_set_error (error, OMNI_ERROR, OMNI_ERROR_INVALID,
                   "%s is \"%s\"; expected a thread count from 1 to %d", names[i], env, MAX_THREADS);
      return FALSE;
    }
    *n_threads = (int) v;
    return TRUE;
  }
  *n_threads = (int) MIN (g_get_num_processors (), MAX_THREADS);
  return TRUE;
}

/* Where the CUDA modules live: $OMNI_BACKEND_DIR (tests, development) or
 * the installed libdir/omnicore-1.0. */
static const char *
module_dir (void)
{
  const char *env = g_getenv ("OMNI_BACKEND_DIR");

  return env != NULL && *env != '\0' ? env : OMNI_BACKEND_INSTALL_DIR;
}

typedef OmniBackend *(*ModuleOpenFunc) (const char *device, GError **error);

/* Opens the module @name ("cuda" or "cuda-emu") and returns its entry point.
 * Modules stay resident: backends they made may outlive any handle here. */
static ModuleOpenFunc
module_load (const char *name, GError **error)
{
  g_autofree char *file = g_strdup_printf ("libomnicore-%s.so", name);
  g_autofree char *path = g_build_filename (module_dir (), file, NULL);
  GModule *module;
  gpointer sym = NULL;

  if (!g_file_test (path, G_FILE_TEST_EXISTS)) {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_DEVICE,
                 "%s not found: this build has no CUDA backend there (set OMNI_BACKEND_DIR or build "
                 "with -Dcuda=enabled)", path);
    return NULL;
  }
  /* A missing libcudart / libcublasLt / libcudnn makes the open fail; the
   * loader's message names the library. */
  module = g_module_open (path, G_MODULE_BIND_LAZY | G_MODULE_BIND_LOCAL);
  if (module == NULL) {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_DEVICE,
                 "the CUDA runtime could not be loaded (%s): %s", path, g_module_error ());
    return NULL;
  }
  if (!g_module_symbol (module, "omni_backend_module_open", &sym) || sym == NULL) {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_DEVICE,
                 "%s: no symbol omni_backend_module_open; expected a gst-omni backend module", path);
    g_module_close (module);
    return NULL;
  }
  g_module_make_resident (module);
  return (ModuleOpenFunc) sym;
}

static OmniBackend *
cuda_open (const char *module, const char *device, GError **error)
{
  ModuleOpenFunc open_fn = module_load (module, error);

  if (open_fn == NULL) {
    g_prefix_error (error, "device \"%s\": ", device);
    return NULL;
  }
  return open_fn (device, error);
}

static OmniBackend *
cpu_open (const char *why, int requested, GError **error)
{
  int n_threads;
  OmniBackend *b;

  if (!cpu_thread_count (requested, &n_threads, error))
    return NULL;
  b = omni_cpu_backend_new (n_threads, error);
  if (b != NULL)
    g_info ("%s: using the cpu backend with %d threads", why, n_threads);
  return b;
}

/* "auto": CUDA when the real module loads and finds a device, else cpu;
 * the log says which and why. Never cuda-emu (tests only). */
static OmniBackend *
auto_open (int n_threads, GError **error)
{
  GError *cuda_error = NULL;
  OmniBackend *b = cuda_open ("cuda", "cuda:0", &cuda_error);
  g_autofree char *why = NULL;

  if (b != NULL) {
    g_info ("device auto: using the CUDA backend on %s (the CUDA module loaded and reports a device)",
            b->device);
    return b;
  }
  why = g_strdup_printf ("device auto (no CUDA: %s)", cuda_error->message);
  g_error_free (cuda_error);
  return cpu_open (why, n_threads, error);
}

OmniBackend *
omni_backend_open (const char *device, GError **error)
{
  return omni_backend_open_threads (device, 0, error);
}

OmniBackend *
omni_backend_open_threads (const char *device, int n_threads, GError **error)
{
  guint64 index;

  if (device == NULL) {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_INVALID, "no device given; expected %s", accepted_devices);
    return NULL;
  }
  if (strcmp (device, "cuda-emu") == 0)
    return cuda_open ("cuda-emu", device, error);
  if (g_str_has_prefix (device, "cuda:") &&
      g_ascii_string_to_unsigned (device + 5, 10, 0, G_MAXINT, &index, NULL))
    return cuda_open ("cuda", device, error);
  if (strcmp (device, "auto") == 0)
    return auto_open (n_threads, error);
  if (strcmp (device, "cpu") == 0)
    return cpu_open ("device cpu", n_threads, error);
  g_set_error (error, OMNI_ERROR, OMNI_ERROR_INVALID,
               "unknown device \"%s\"; expected %s", device, accepted_devices);
  return NULL;
}

/* Only the cpu kernels read block and bf16-converted weights; a device
 * backend would upload them unconverted, so a quant there is refused rather
 * than silently ignored. */
gboolean
omni_backend_set_quant (OmniBackend *b, OmniQuant quant, GError **error)
{
  if ((guint) quant > OMNI_QUANT_INT4) {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_INVALID, "quant %d; expected none, bf16, int8 or int4",
                 (int) quant);
    return FALSE;
  }
  if (quant != OMNI_QUANT_NONE && strcmp (b->ops->name, "cpu") != 0) {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_UNSUPPORTED,
                 "quant=%s runs on the cpu backend only; device %s takes the weights as stored "
                 "(quant=none), or use device=cpu", omni_quant_name (quant), b->device);
    return FALSE;
  }
  b->quant = quant;
  return TRUE;
}

int
omni_quant_dtype (OmniQuant quant)
{
  switch (quant) {
  case OMNI_QUANT_BF16:
    return OMNI_DTYPE_BF16;
  case OMNI_QUANT_INT8:
    return OMNI_DTYPE_Q8_32;
  case OMNI_QUANT_INT4:
    return OMNI_DTYPE_Q4_32;
  default:
    return -1;
  }
}

void
omni_backend_close (OmniBackend *b)
{
  if (b != NULL)
    b->ops->destroy (b);
}

/* The cache is one tensor per K and V, laid out [n_layers, n_pages,
 * page_size, n_kv_heads * head_dim] (a row per token slot): the same memory
 * as the 5-d layout backend.h describes, within OMNI_TENSOR_MAX_DIMS dims.
 * Pages are f32 on the cpu backend. */
gboolean
omni_kv_cache_init (OmniBackend *b, OmniKVCache *kv, int n_layers, int n_kv_heads,
                    int head_dim, int page_size, int n_pages, GError **error)
{
  int64_t shape[4];
  size_t n = 1;

  memset (kv, 0, sizeof *kv);
  if (n_layers < 1 || n_kv_heads < 1 || head_dim < 1 || page_size < 1 || n_pages < 1) {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_INVALID,
                 "kv cache: expected positive sizes, got n_layers %d, n_kv_heads %d, head_dim %d, "
                 "page_size %d, n_pages %d", n_layers, n_kv_heads, head_dim, page_size, n_pages);
    return FALSE;
  }
  shape[0] = n_layers;
  shape[1] = n_pages;
  shape[2] = page_size;
  shape[3] = (int64_t) n_kv_heads * head_dim;
  for (int i = 0; i < 4; i++) {
    if (!g_size_checked_mul (&n, n, (size_t) shape[i]) || n > G_MAXSIZE / sizeof (float)) {
      g_set_error (error, OMNI_ERROR, OMNI_ERROR_NO_MEMORY,
                   "kv cache: %d layers x %d pages x %d tokens x %d heads x %d dims does not fit in memory",
                   n_layers, n_pages, page_size, n_kv_heads, head_dim);
      return FALSE;
    }
  }
  if (!b->ops->tensor_alloc (b, &kv->k, OMNI_DTYPE_F32, 4, shape, error))
    return FALSE;
  if (!b->ops->tensor_alloc (b, &kv->v, OMNI_DTYPE_F32, 4, shape, error)) {
    b->ops->tensor_free (b, &kv->k);
    return FALSE;
  }
  kv->n_layers = n_layers;
  kv->n_kv_heads = n_kv_heads;
  kv->head_dim = head_dim;
  kv->page_size = page_size;
  kv->n_pages = n_pages;
  g_debug ("kv cache: %d layers, %d pages of %d tokens, %" G_GSIZE_FORMAT " MiB for K and V",
           n_layers, n_pages, page_size, 2 * n * sizeof (float) >> 20);
  return TRUE;
}

void
omni_kv_cache_clear (OmniBackend *b, OmniKVCache *kv)
{
  if (kv->k.data != NULL)
    b->ops->tensor_free (b, &kv->k);
  if (kv->v.data != NULL)
    b->ops->tensor_free (b, &kv->v);
  memset (kv, 0, sizeof *kv);
}

/* Every token's sequence, position and the pages up to it must be valid:
 * the cache would otherwise be read or written out of bounds. */
gboolean
omni_batch_check (const OmniKVCache *kv, int layer, const OmniBatch *batch, int64_t n,
                  const char *backend, const char *op)
{
  if (kv == NULL || kv->k.data == NULL || kv->v.data == NULL || kv->k.dtype != OMNI_DTYPE_F32 ||
      layer < 0 || layer >= kv->n_layers || batch == NULL || batch->n_tokens != n) {
    g_critical ("%s %s: expected an f32 cache, layer in [0, %d) and %" G_GINT64_FORMAT " batch tokens",
                backend, op, kv ? kv->n_layers : 0, n);
    return FALSE;
  }
  for (int64_t i = 0; i < n; i++) {
    int32_t s = batch->seq[i], p = batch->pos[i];

    if (s < 0 || s >= batch->n_seqs || p < 0 || p / kv->page_size >= batch->max_pages) {
      g_critical ("%s %s: token %" G_GINT64_FORMAT " has sequence %d (of %d) and position %d (max %d)",
                  backend, op, i, s, batch->n_seqs, p, batch->max_pages * kv->page_size - 1);
      return FALSE;
    }
    for (int64_t pg = 0; pg <= p / kv->page_size; pg++) {
      int32_t page = batch->block_tables[(int64_t) s * batch->max_pages + pg];
      if (page < 0 || page >= kv->n_pages) {
        g_critical ("%s %s: sequence %d maps block %" G_GINT64_FORMAT " to page %d, outside [0, %d)",
                    backend, op, s, pg, page, kv->n_pages);
        return FALSE;
      }
    }
  }
  return TRUE;
}
