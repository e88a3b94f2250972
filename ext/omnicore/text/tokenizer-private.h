/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Internal layout of OmniTokenizer, shared by the loader, the BPE merge
 * loop and the encode/decode entry points. Not installed. */
#ifndef OMNI_TEXT_TOKENIZER_PRIVATE_H
#define OMNI_TEXT_TOKENIZER_PRIVATE_H

#include "text/tokenizer.h"

G_BEGIN_DECLS

/* One slot of the open-addressing merge table: pair (a, b) -> (rank, id). */
typedef struct {
  guint64 key;    /* (a << 32) | b; OMNI_MERGE_EMPTY when free */
  gint32 rank;
  gint32 merged;
} OmniMergeSlot;

#define OMNI_MERGE_EMPTY G_MAXUINT64

/* An added token as tokenizers' AddedVocabulary sees it. */
typedef struct {
  char *content;        /* matched text (NFC-normalized when normalized) */
  gsize len;
  gint32 id;
  gboolean special, lstrip, rstrip, single_word, normalized;
} OmniAddedToken;

struct _OmniTokenizer {
  char *path;                 /* tokenizer.json, for error messages */
  guint n_ids;                /* highest id + 1 */
  const char **id_token;      /* [n_ids] token text, NULL for holes */
  guint32 *bytes_off;         /* [n_ids + 1] into bytes_pool */
  guint8 *bytes_pool;         /* byte-level decoded bytes of every token */
  guint8 *is_special;         /* [n_ids] */
  GStringChunk *strings;      /* owns the token texts */
  GHashTable *vocab;          /* model token text -> id + 1 */
  GHashTable *added_by_text;  /* added token content -> id + 1 */
  OmniAddedToken *added;      /* [n_added], in file order */
  guint n_added;
  OmniMergeSlot *merges;      /* [merge_mask + 1] */
  guint64 merge_mask;
  gint32 byte_id[256];        /* id of each single byte's token, -1 if none */
  guint16 byte_char[256];     /* GPT-2 bytes_to_unicode */
  GRegex *split;              /* the pre-tokenizer's Split regex */
  gboolean ignore_merges;     /* BPE model: whole word in vocab wins */
};

/* Pair key of the merge table. */
static inline guint64
omni_merge_key (gint32 a, gint32 b)
{
  return ((guint64) (guint32) a << 32) | (guint32) b;
}

/* Looks up the merge of (a, b); NULL if there is none. */
const OmniMergeSlot *omni_bpe_find_merge (const OmniTokenizer *tok,
    gint32 a, gint32 b);

/* Scratch space for omni_bpe_word, reused across the words of one call. */
typedef struct _OmniBpeScratch OmniBpeScratch;

OmniBpeScratch *omni_bpe_scratch_new (void);
void omni_bpe_scratch_free (OmniBpeScratch *s);

/* Byte-level BPE of one pre-token @word (@len raw bytes): appends its ids
 * to @ids (GArray of gint32). */
void omni_bpe_word (const OmniTokenizer *tok, OmniBpeScratch *s,
    const guint8 *word, gsize len, GArray *ids);

/* Fills byte_char with GPT-2's bytes_to_unicode map. */
void omni_byte_level_init (guint16 byte_char[256]);

G_END_DECLS

#endif /* OMNI_TEXT_TOKENIZER_PRIVATE_H */
