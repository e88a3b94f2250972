/* Page allocator of the paged KV cache: which sequence owns which pages.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef OMNI_NN_KVPAGES_H
#define OMNI_NN_KVPAGES_H

#include <glib.h>
#include <stdint.h>

/* A pool of @n_pages pages and @n_seqs sequence slots. Slot s's block table is
 * row s of @block_tables ([n_seqs, max_pages], the layout OmniBatch wants),
 * so a batch points at it without copying. */
typedef struct {
  int page_size, n_pages, n_seqs, max_pages;
  int32_t *free_pages;    /* stack of free page ids */
  int n_free;
  int32_t *block_tables;  /* [n_seqs, max_pages], -1 = no page */
  int *seq_pages;         /* [n_seqs] pages held by each slot */
  gboolean *seq_open;     /* [n_seqs] */
} OmniKVPages;

/* Sets up the pool; every page free, every slot closed. */
void omni_kv_pages_init (OmniKVPages *p, int page_size, int n_pages, int n_seqs, int max_pages);
/* Frees the pool's host arrays. */
void omni_kv_pages_clear (OmniKVPages *p);

/* Opens a free slot (no pages yet); -1 when all slots are in use. */
int omni_kv_pages_open (OmniKVPages *p);
/* Grows slot @seq one page at a time until it holds @n_tokens positions;
 * FALSE (+ GError) when the pool or the slot's table is exhausted. Pages taken
 * before a failure stay with the slot. */
gboolean omni_kv_pages_reserve (OmniKVPages *p, int seq, int n_tokens, GError **error);
/* Returns the slot's pages to the pool and closes it. */
void omni_kv_pages_close (OmniKVPages *p, int seq);
/* Tokens slot @seq can hold without taking another page. */
int omni_kv_pages_capacity (const OmniKVPages *p, int seq);

#endif /* OMNI_NN_KVPAGES_H */
