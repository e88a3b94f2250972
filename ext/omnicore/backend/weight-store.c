/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Weight loading at a quant: matmul operands converted row by row into the
 * quant's dtype, or read by mmap from the quantized-weight cache, which is
 * written once after a part was converted. */
#include <stdlib.h>
#include "backend/backend.h"
#include "io/qcache.h"
#include "quant.h"

struct _OmniWeightStore {
  OmniBackend *b;
  OmniQuant quant;
  char *dir, *part;
  gboolean caching;              /* a fingerprint was taken: the cache may be written */
  OmniQCacheFingerprint fp;
  OmniQCache *cache;             /* the valid cache read, or NULL */
  gboolean cache_incomplete;     /* it lacked a tensor: rewritten at finish */
  GArray *entries;               /* OmniQCacheTensor of every converted or cached weight */
  GPtrArray *names;              /* owned names of @entries */
  guint n_cached, n_converted;
  float *row;                    /* one source row as f32 */
  size_t row_cap;
};

/* Reads the first valid cache of @ws's candidates. Missing files are the
 * normal first run; a stale one (new checkpoint, new version) is logged as
 * info, a broken one as a warning; either is rebuilt. */
static void
open_cache (OmniWeightStore *ws)
{
  const char *quant = omni_quant_name (ws->quant);
  g_auto (GStrv) paths = omni_qcache_paths (ws->dir, ws->part, quant);

  for (guint i = 0; paths[i] && !ws->cache; i++) {
    GError *error = NULL;

    if (!g_file_test (paths[i], G_FILE_TEST_EXISTS)) {
      g_debug ("no quantized-weight cache at %s", paths[i]);
      continue;
    }
    ws->cache = omni_qcache_open (paths[i], quant, &ws->fp, &error);
    if (ws->cache)
      g_info ("%s %s: reading %s weights from %s (%u tensors)", ws->dir, ws->part, quant, paths[i],
              omni_qcache_count (ws->cache));
    else if (error->code == OMNI_ERROR_FORMAT)
      g_warning ("%s; ignored, it will be rebuilt", error->message);
    else
      g_info ("%s; ignored, it will be rebuilt", error->message);
    g_clear_error (&error);
  }
}

OmniWeightStore *
omni_weight_store_new (OmniBackend *b, const char *dir, const char *part)
{
  OmniWeightStore *ws = g_new0 (OmniWeightStore, 1);
  GError *error = NULL;

  ws->b = b;
  ws->quant = b->quant;
  ws->dir = g_strdup (dir);
  ws->part = g_strdup (part);
  ws->entries = g_array_new (FALSE, TRUE, sizeof (OmniQCacheTensor));
  ws->names = g_ptr_array_new_with_free_func (g_free);
  if (ws->quant == OMNI_QUANT_NONE || !omni_qcache_enabled ())
    return ws;
  if (!omni_qcache_fingerprint (dir, &ws->fp, &error)) {
    g_warning ("%s: cannot fingerprint the checkpoint (%s); quantized weights are not cached",
               dir, error->message);
    g_clear_error (&error);
    return ws;
  }
  ws->caching = TRUE;
  open_cache (ws);
  return ws;
}

static void
record (OmniWeightStore *ws, const char *name, const OmniTensor *t)
{
  OmniQCacheTensor e = { .dtype = t->dtype, .n_dims = t->n_dims, .data = t->data,
                         .n_bytes = t->n_bytes };
  char *owned = g_strdup (name);

  memcpy (e.shape, t->shape, t->n_dims * sizeof t->shape[0]);
  e.name = owned;
  g_ptr_array_add (ws->names, owned);
  g_array_append_val (ws->entries, e);
}

/* @dst points into the cache when it holds @name in @target with @shape. */
static gboolean
from_cache (OmniWeightStore *ws, const char *name, OmniDType target, int n_dims,
            const int64_t *shape, OmniTensor *dst)
{
  const OmniQCacheTensor *t = ws->cache ? omni_qcache_get (ws->cache, name) : NULL;

  if (!ws->cache)
    return FALSE;
  if (!t || t->dtype != target || t->n_dims != n_dims
      || memcmp (t->shape, shape, n_dims * sizeof shape[0]) != 0) {
    if (!ws->cache_incomplete)
      g_info ("%s %s: the quantized-weight cache has no matching '%s'; it will be rewritten",
              ws->dir, ws->part, name);
    ws->cache_incomplete = TRUE;
    return FALSE;
  }
  memset (dst, 0, sizeof *dst);
  dst->dtype = target;
  dst->n_dims = n_dims;
  memcpy (dst->shape, shape, n_dims * sizeof shape[0]);
  dst->data = (void *) t->data;
  dst->n_bytes = t->n_bytes;
  dst->owned = FALSE;
  ws->n_cached++;
  record (ws, name, dst);
  return TRUE;
}

/* Converts @data (@shape of float @dtype) row by row into a new @target
 * tensor: one row of f32 at a time, whatever the tensor's size. The quant
 * is cpu-only (omni_backend_set_quant), so @dst is host memory. */
static gboolean
convert (OmniWeightStore *ws, OmniDType dtype, const void *data, int n_dims, const int64_t *shape,
         OmniDType target, OmniTensor *dst, GError **error)
{
  int64_t n = shape[n_dims - 1], rows = 1;
  size_t in_row = (size_t) n * omni_dtype_size (dtype), out_row = omni_row_bytes (target, n);

  for (int i = 0; i < n_dims - 1; i++)
    rows *= shape[i];
  if (!ws->b->ops->tensor_alloc (ws->b, dst, target, n_dims, shape, error))
    return FALSE;
  if ((size_t) n > ws->row_cap) {
    g_free (ws->row);
    ws->row = g_new (float, n);
    ws->row_cap = (size_t) n;
  }
  for (int64_t r = 0; r < rows; r++) {
    guint8 *out = (guint8 *) dst->data + (size_t) r * out_row;

    omni_dtype_to_f32 (dtype, (const guint8 *) data + (size_t) r * in_row, ws->row, (size_t) n);
    if (target == OMNI_DTYPE_BF16) {
      uint16_t *o = (uint16_t *) out;
      for (int64_t j = 0; j < n; j++)
        o[j] = omni_f32_to_bf16 (ws->row[j]);
    } else {
      omni_quantize_row (target, ws->row, out, n);
    }
  }
  return TRUE;
}

static gboolean
is_float (OmniDType t)
{
  return t == OMNI_DTYPE_F32 || t == OMNI_DTYPE_F16 || t == OMNI_DTYPE_BF16;
}

/* Host data already in its final dtype (quant none): a plain upload. */
static gboolean
upload_as_is (OmniWeightStore *ws, OmniDType dtype, const void *data, int n_dims,
              const int64_t *shape, OmniTensor *dst, GError **error)
{
  if (!ws->b->ops->tensor_alloc (ws->b, dst, dtype, n_dims, shape, error))
    return FALSE;
  ws->b->ops->upload (ws->b, dst, data, dst->n_bytes);
  return TRUE;
}

gboolean
omni_weight_store_load_host (OmniWeightStore *ws, const char *name, OmniDType dtype,
                             const void *data, int n_dims, const int64_t *shape, gboolean matmul,
                             OmniTensor *dst, GError **error)
{
  int target = omni_quant_dtype (ws->quant);

  memset (dst, 0, sizeof *dst);
  if (!is_float (dtype) || n_dims < 1 || n_dims > OMNI_TENSOR_MAX_DIMS) {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_UNSUPPORTED,
                 "weight '%s': %s with %d dims; expected F32, F16 or BF16 with 1..%d dims", name,
                 omni_dtype_name (dtype), n_dims, OMNI_TENSOR_MAX_DIMS);
    return FALSE;
  }
  if (!matmul || target < 0 || (OmniDType) target == dtype)
    return upload_as_is (ws, dtype, data, n_dims, shape, dst, error);
  if (from_cache (ws, name, (OmniDType) target, n_dims, shape, dst))
    return TRUE;
  if (!convert (ws, dtype, data, n_dims, shape, (OmniDType) target, dst, error))
    return FALSE;
  ws->n_converted++;
  record (ws, name, dst);
  return TRUE;
}

/* FP8 tensors need their block scales, which io/ applies to a whole tensor:
 * they pass through one f32 copy (the checkpoints that have them are the
 * large ones, but each tensor alone is small). */
static gboolean
load_fp8 (OmniWeightStore *ws, const OmniSafetensors *st, const OmniSafeTensor *src, OmniTensor *dst,
          GError **error)
{
  float *f32 = g_try_new (float, src->n_elements);
  gboolean ok;

  if (!f32) {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_NO_MEMORY, "%s: no memory to dequantize tensor '%s'",
                 src->file, src->name);
    return FALSE;
  }
  ok = omni_safetensors_to_f32 (st, src, f32, error)
       && omni_weight_store_load_host (ws, src->name, OMNI_DTYPE_F32, f32, src->n_dims, src->shape,
                                       TRUE, dst, error);
  g_free (f32);
  return ok;
}

gboolean
omni_weight_store_load (OmniWeightStore *ws, const OmniSafetensors *st, const OmniSafeTensor *src,
                        gboolean matmul, OmniTensor *dst, GError **error)
{
  int target = omni_quant_dtype (ws->quant);

  if (!matmul || target < 0 || (OmniDType) target == src->dtype
      || src->n_dims < 1 || src->n_dims > OMNI_TENSOR_MAX_DIMS)
    return ws->b->ops->weight_load (ws->b, st, src, dst, error);
  if (src->dtype == OMNI_DTYPE_F8_E4M3)
    return from_cache (ws, src->name, (OmniDType) target, src->n_dims, src->shape, dst)
           || load_fp8 (ws, st, src, dst, error);
  if (!is_float (src->dtype))
    return ws->b->ops->weight_load (ws->b, st, src, dst, error);
  return omni_weight_store_load_host (ws, src->name, src->dtype, src->data, src->n_dims, src->shape,
                                      TRUE, dst, error);
}

void
omni_weight_store_finish (OmniWeightStore *ws)
{
  const char *quant = omni_quant_name (ws->quant);
  g_auto (GStrv) paths = NULL;
  GError *error = NULL;

  if (!ws->caching || (ws->n_converted == 0 && !ws->cache_incomplete))
    return;
  paths = omni_qcache_paths (ws->dir, ws->part, quant);
  for (guint i = 0; paths[i]; i++) {
    g_clear_error (&error);
    if (omni_qcache_write (paths[i], quant, &ws->fp, (const OmniQCacheTensor *) ws->entries->data,
                           ws->entries->len, &error)) {
      g_info ("%s %s: wrote %u %s weights to %s", ws->dir, ws->part, ws->entries->len, quant,
              paths[i]);
      return;
    }
    g_debug ("%s", error->message);
  }
  g_warning ("%s; the %s weights of %s are used without a cache", error->message, quant, ws->part);
  g_clear_error (&error);
}

void
omni_weight_store_counts (const OmniWeightStore *ws, guint *from_cache, guint *converted)
{
  if (from_cache)
    *from_cache = ws->n_cached;
  if (converted)
    *converted = ws->n_converted;
}

void
omni_weight_store_free (OmniWeightStore *ws)
{
  if (!ws)
    return;
  g_clear_pointer (&ws->cache, omni_qcache_free);
  g_array_free (ws->entries, TRUE);
  g_ptr_array_free (ws->names, TRUE);
  g_free (ws->row);
  g_free (ws->dir);
  g_free (ws->part);
  g_free (ws);
}
