/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "omnicore.h"
#include "nn/kvpages.h"

void
omni_kv_pages_init (OmniKVPages *p, int page_size, int n_pages, int n_seqs, int max_pages)
{
  p->page_size = page_size;
  p->n_pages = n_pages;
  p->n_seqs = n_seqs;
  p->max_pages = max_pages;
  p->free_pages = g_new (int32_t, n_pages);
  /* highest id at the bottom so pages are handed out in increasing order */
  for (int i = 0; i < n_pages; i++)
    p->free_pages[i] = n_pages - 1 - i;
  p->n_free = n_pages;
  p->block_tables = g_new (int32_t, (gsize) n_seqs * max_pages);
  for (gsize i = 0; i < (gsize) n_seqs * max_pages; i++)
    p->block_tables[i] = -1;
  p->seq_pages = g_new0 (int, n_seqs);
  p->seq_open = g_new0 (gboolean, n_seqs);
}

void
omni_kv_pages_clear (OmniKVPages *p)
{
  g_clear_pointer (&p->free_pages, g_free);
  g_clear_pointer (&p->block_tables, g_free);
  g_clear_pointer (&p->seq_pages, g_free);
  g_clear_pointer (&p->seq_open, g_free);
}

int
omni_kv_pages_open (OmniKVPages *p)
{
  for (int s = 0; s < p->n_seqs; s++) {
    if (!p->seq_open[s]) {
      p->seq_open[s] = TRUE;
      p->seq_pages[s] = 0;
      return s;
    }
  }
  return -1;
}

gboolean
omni_kv_pages_reserve (OmniKVPages *p, int seq, int n_tokens, GError **error)
{
  int need = (n_tokens + p->page_size - 1) / p->page_size;
  int32_t *row = p->block_tables + (gsize) seq * p->max_pages;

  g_return_val_if_fail (seq >= 0 && seq < p->n_seqs && p->seq_open[seq], FALSE);
  if (need > p->max_pages) {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_INVALID,
                 "KV cache: %d tokens exceed the per-sequence capacity of %d tokens",
                 n_tokens, p->max_pages * p->page_size);
    return FALSE;
  }
  while (p->seq_pages[seq] < need) {
    if (p->n_free == 0) {
      g_set_error (error, OMNI_ERROR, OMNI_ERROR_NO_MEMORY,
                   "KV cache: all %d pages of %d tokens are in use", p->n_pages, p->page_size);
      return FALSE;
    }
    row[p->seq_pages[seq]++] = p->free_pages[--p->n_free];
  }
  return TRUE;
}

void
omni_kv_pages_close (OmniKVPages *p, int seq)
{
  int32_t *row;

  g_return_if_fail (seq >= 0 && seq < p->n_seqs);
  row = p->block_tables + (gsize) seq * p->max_pages;
  while (p->seq_pages[seq] > 0) {
    int i = --p->seq_pages[seq];
    p->free_pages[p->n_free++] = row[i];
    row[i] = -1;
  }
  p->seq_open[seq] = FALSE;
}

int
omni_kv_pages_capacity (const OmniKVPages *p, int seq)
{
  return p->seq_pages[seq] * p->page_size;
}
