/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The device memory arena: one cudaMalloc when the backend opens, then
 * first-fit blocks with coalescing on free. Weights, the KV cache and the
 * activations are carved from it at load time, so the decode loop never
 * calls cudaMalloc (the stats count every call). */
#include "cuda-backend.h"
#include "omnicore.h"

gboolean
omni_cuda_pool_init (OmniCudaBackend *cu, size_t size, GError **error)
{
  OmniCudaPool *p = &cu->pool;
  OmniCudaBlock all = { 0, size };
  void *base = NULL;
  cudaError_t err;

  memset (p, 0, sizeof *p);
  size &= ~(size_t) (OMNI_CUDA_ALIGN - 1);
  all.size = size;
  cu->stats.cuda_mallocs++;
  err = cudaMalloc (&base, size);
  if (err != cudaSuccess) {
    cudaGetLastError ();
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_NO_MEMORY,
                 "%s: cudaMalloc of a %" G_GSIZE_FORMAT " MiB arena failed: %s", cu->base.device,
                 size >> 20, cudaGetErrorString (err));
    return FALSE;
  }
  p->base = base;
  p->size = size;
  p->free_list = g_array_new (FALSE, FALSE, sizeof (OmniCudaBlock));
  g_array_append_val (p->free_list, all);
  p->used = g_hash_table_new (g_direct_hash, g_direct_equal);
  return TRUE;
}

void
omni_cuda_pool_clear (OmniCudaBackend *cu)
{
  OmniCudaPool *p = &cu->pool;

  if (p->base != NULL)
    cudaFree (p->base);
  if (p->free_list != NULL)
    g_array_free (p->free_list, TRUE);
  if (p->used != NULL)
    g_hash_table_destroy (p->used);
  memset (p, 0, sizeof *p);
}

void *
omni_cuda_pool_alloc (OmniCudaBackend *cu, size_t size)
{
  OmniCudaPool *p = &cu->pool;

  if (size > p->size)
    return NULL;
  size = (MAX (size, 1) + OMNI_CUDA_ALIGN - 1) & ~(size_t) (OMNI_CUDA_ALIGN - 1);
  for (guint i = 0; i < p->free_list->len; i++) {
    OmniCudaBlock *f = &g_array_index (p->free_list, OmniCudaBlock, i);
    size_t offset = f->offset;

    if (f->size < size)
      continue;
    f->offset += size;
    f->size -= size;
    if (f->size == 0)
      g_array_remove_index (p->free_list, i);
    /* offset + 1: offset 0 is a valid block but not a valid hash key value */
    g_hash_table_insert (p->used, GSIZE_TO_POINTER (offset + 1), GSIZE_TO_POINTER (size));
    p->in_use += size;
    p->peak = MAX (p->peak, p->in_use);
    p->n_allocs++;
    cu->stats.pool_allocs++;
    return p->base + offset;
  }
  return NULL;
}

void
omni_cuda_pool_free (OmniCudaBackend *cu, void *ptr)
{
  OmniCudaPool *p = &cu->pool;
  size_t offset, size;
  gpointer value;
  guint i;

  if (ptr == NULL)
    return;
  offset = (size_t) ((uint8_t *) ptr - p->base);
  if (!g_hash_table_steal_extended (p->used, GSIZE_TO_POINTER (offset + 1), NULL, &value)) {
    g_critical ("%s: freeing %p, which is not a live block of the device arena", cu->base.device, ptr);
    return;
  }
  size = GPOINTER_TO_SIZE (value);
  p->in_use -= size;
  for (i = 0; i < p->free_list->len; i++)
    if (g_array_index (p->free_list, OmniCudaBlock, i).offset > offset)
      break;
  /* merge with the previous and the next free block where they touch */
  if (i > 0) {
    OmniCudaBlock *prev = &g_array_index (p->free_list, OmniCudaBlock, i - 1);
    if (prev->offset + prev->size == offset) {
      prev->size += size;
      if (i < p->free_list->len) {
        OmniCudaBlock *next = &g_array_index (p->free_list, OmniCudaBlock, i);
        if (prev->offset + prev->size == next->offset) {
          prev->size += next->size;
          g_array_remove_index (p->free_list, i);
        }
      }
      return;
    }
  }
  if (i < p->free_list->len) {
    OmniCudaBlock *next = &g_array_index (p->free_list, OmniCudaBlock, i);
    if (offset + size == next->offset) {
      next->offset = offset;
      next->size += size;
      return;
    }
  }
  OmniCudaBlock b = { offset, size };
  g_array_insert_val (p->free_list, i, b);
}

void *
omni_cuda_scratch_reserve (OmniCudaBackend *cu, OmniCudaScratch *s, size_t size)
{
  if (size <= s->size)
    return s->data;
  /* queued work may still read the old buffer: the stream is in order, so
   * only a graph kept for later replays could see it reused */
  omni_cuda_graphs_drop (cu);
  omni_cuda_pool_free (cu, s->data);
  s->data = omni_cuda_pool_alloc (cu, size);
  s->size = s->data != NULL ? size : 0;
  if (s->data == NULL)
    g_critical ("%s: the device arena (%" G_GSIZE_FORMAT " MiB, %" G_GSIZE_FORMAT " MiB in use) has no room "
                "for %" G_GSIZE_FORMAT " bytes of scratch; the op is skipped (raise OMNI_CUDA_POOL_MB)",
                cu->base.device, cu->pool.size >> 20, cu->pool.in_use >> 20, size);
  return s->data;
}

void
omni_cuda_scratch_clear (OmniCudaBackend *cu, OmniCudaScratch *s)
{
  omni_cuda_pool_free (cu, s->data);
  s->data = NULL;
  s->size = 0;
}
