/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The BPE merge loop: lowest merge rank first, leftmost on ties, one merge
 * at a time through a binary heap (O(n log n) per word), as tokenizers'
 * Word::merge_all does. */
#include "text/tokenizer-private.h"

#include <string.h>

typedef struct {
  guint64 order;  /* (rank << 32) | position: the heap's ordering */
  gint32 merged;
} Candidate;

struct _OmniBpeScratch {
  GArray *sym;      /* gint32 token id of each symbol */
  GArray *prev;     /* gint32, -1 at the start */
  GArray *next;     /* gint32, -1 at the end */
  GArray *alive;    /* guint8 */
  GArray *heap;     /* Candidate */
  GString *text;    /* the byte-level text of the word (ignore_merges) */
};

void
omni_byte_level_init (guint16 byte_char[256])
{
  guint next_extra = 256;

  for (guint b = 0; b < 256; b++) {
    gboolean printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC)
        || (b >= 0xAE);
    byte_char[b] = printable ? b : next_extra++;
  }
}

static inline guint64
mix64 (guint64 x)
{
  x ^= x >> 33;
  x *= G_GUINT64_CONSTANT (0xff51afd7ed558ccd);
  x ^= x >> 33;
  x *= G_GUINT64_CONSTANT (0xc4ceb9fe1a85ec53);
  x ^= x >> 33;
  return x;
}

const OmniMergeSlot *
omni_bpe_find_merge (const OmniTokenizer *tok, gint32 a, gint32 b)
{
  guint64 key = omni_merge_key (a, b);

  for (guint64 i = mix64 (key) & tok->merge_mask;; i = (i + 1) & tok->merge_mask) {
    const OmniMergeSlot *slot = &tok->merges[i];
    if (slot->key == key)
      return slot;
    if (slot->key == OMNI_MERGE_EMPTY)
      return NULL;
  }
}

OmniBpeScratch *
omni_bpe_scratch_new (void)
{
  OmniBpeScratch *s = g_new0 (OmniBpeScratch, 1);

  s->sym = g_array_new (FALSE, FALSE, sizeof (gint32));
  s->prev = g_array_new (FALSE, FALSE, sizeof (gint32));
  s->next = g_array_new (FALSE, FALSE, sizeof (gint32));
  s->alive = g_array_new (FALSE, FALSE, sizeof (guint8));
  s->heap = g_array_new (FALSE, FALSE, sizeof (Candidate));
  s->text = g_string_new (NULL);
  return s;
}

void
omni_bpe_scratch_free (OmniBpeScratch *s)
{
  if (!s)
    return;
  g_array_unref (s->sym);
  g_array_unref (s->prev);
  g_array_unref (s->next);
  g_array_unref (s->alive);
  g_array_unref (s->heap);
  g_string_free (s->text, TRUE);
  g_free (s);
}

static void
heap_push (GArray *heap, Candidate c)
{
  Candidate *h;
  guint i;

  g_array_append_val (heap, c);
  h = (Candidate *) heap->data;
  for (i = heap->len - 1; i > 0 && h[(i - 1) / 2].order > c.order; i = (i - 1) / 2)
    h[i] = h[(i - 1) / 2];
  h[i] = c;
}

static Candidate
heap_pop (GArray *heap)
{
  Candidate *h = (Candidate *) heap->data;
  Candidate top = h[0], last = h[heap->len - 1];
  guint n = heap->len - 1, i = 0;

  while (2 * i + 1 < n) {
    guint c = 2 * i + 1;
    if (c + 1 < n && h[c + 1].order < h[c].order)
      c++;
    if (last.order <= h[c].order)
      break;
    h[i] = h[c];
    i = c;
  }
  if (n > 0)
    h[i] = last;
  g_array_set_size (heap, n);
  return top;
}

/* Queues the merge of symbol @pos with its successor, if there is one. */
static void
queue_pair (const OmniTokenizer *tok, OmniBpeScratch *s, gint32 pos)
{
  const gint32 *sym = (const gint32 *) s->sym->data;
  const OmniMergeSlot *m;
  gint32 nx;

  if (pos < 0)
    return;
  nx = g_array_index (s->next, gint32, pos);
  if (nx < 0)
    return;
  m = omni_bpe_find_merge (tok, sym[pos], sym[nx]);
  if (m) {
    Candidate c = { ((guint64) (guint32) m->rank << 32) | (guint32) pos,
      m->merged };
    heap_push (s->heap, c);
  }
}

/* Sets up one symbol per byte whose single-byte token exists (tokenizers
 * drops a character with no token when the model has no unk token). */
static void
init_symbols (const OmniTokenizer *tok, OmniBpeScratch *s, const guint8 *word,
    gsize len)
{
  gint32 n = 0;

  g_array_set_size (s->sym, len);
  g_array_set_size (s->prev, len);
  g_array_set_size (s->next, len);
  g_array_set_size (s->alive, len);
  g_array_set_size (s->heap, 0);
  for (gsize i = 0; i < len; i++) {
    gint32 id = tok->byte_id[word[i]];
    if (id < 0)
      continue;
    g_array_index (s->sym, gint32, n) = id;
    g_array_index (s->prev, gint32, n) = n - 1;
    g_array_index (s->next, gint32, n) = n + 1;
    g_array_index (s->alive, guint8, n) = 1;
    n++;
  }
  g_array_set_size (s->sym, n);
  if (n > 0)
    g_array_index (s->next, gint32, n - 1) = -1;
}

/* With ignore_merges, a word that is itself a token skips merging. */
static gboolean
whole_word_token (const OmniTokenizer *tok, OmniBpeScratch *s,
    const guint8 *word, gsize len, GArray *ids)
{
  gpointer v;

  g_string_truncate (s->text, 0);
  for (gsize i = 0; i < len; i++)
    g_string_append_unichar (s->text, tok->byte_char[word[i]]);
  v = g_hash_table_lookup (tok->vocab, s->text->str);
  if (!v)
    return FALSE;
  gint32 id = GPOINTER_TO_INT (v) - 1;
  g_array_append_val (ids, id);
  return TRUE;
}

void
omni_bpe_word (const OmniTokenizer *tok, OmniBpeScratch *s,
    const guint8 *word, gsize len, GArray *ids)
{
  gint32 *sym, *prev, *next;
  guint8 *alive;

  if (tok->ignore_merges && whole_word_token (tok, s, word, len, ids))
    return;
  init_symbols (tok, s, word, len);
  for (gint32 i = 0; i + 1 < (gint32) s->sym->len; i++)
    queue_pair (tok, s, i);
  sym = (gint32 *) s->sym->data;
  prev = (gint32 *) s->prev->data;
  next = (gint32 *) s->next->data;
  alive = (guint8 *) s->alive->data;
  while (s->heap->len > 0) {
    Candidate c = heap_pop (s->heap);
    gint32 pos = (gint32) (c.order & 0xffffffffu), nx;
    const OmniMergeSlot *m;

    if (!alive[pos] || next[pos] < 0)
      continue;
    nx = next[pos];
    m = omni_bpe_find_merge (tok, sym[pos], sym[nx]);
    if (!m || m->merged != c.merged)
      continue;
    sym[pos] = c.merged;
    alive[nx] = 0;
    next[pos] = next[nx];
    if (next[nx] >= 0)
      prev[next[nx]] = pos;
    queue_pair (tok, s, prev[pos]);
    queue_pair (tok, s, pos);
  }
  for (gint32 i = 0; i < (gint32) s->sym->len; i++)
    if (alive[i])
      g_array_append_val (ids, sym[i]);
}
