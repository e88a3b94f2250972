/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Encoding and decoding with a loaded OmniTokenizer. The pipeline follows
 * tokenizers: added tokens matched in the raw text (normalized:false ones),
 * NFC on the rest, normalized added tokens, the Split regex, byte-level BPE. */
#include "text/tokenizer-private.h"
#include "text/utf8.h"

#include "omnicore.h"

#include <string.h>

typedef struct {
  const OmniTokenizer *tok;
  OmniBpeScratch *bpe;
  GArray *ids;
} Encoder;

/* tokenizers' Rust regex \s: the Unicode White_Space property. */
static gboolean
is_white_space (gunichar c)
{
  return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0
      || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028
      || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

/* Rust regex \w: alphabetic, marks, decimal digits, connector punctuation,
 * join controls. */
static gboolean
is_word_char (gunichar c)
{
  GUnicodeType t = g_unichar_type (c);

  return g_unichar_isalpha (c) || t == G_UNICODE_LETTER_NUMBER
      || t == G_UNICODE_NON_SPACING_MARK || t == G_UNICODE_SPACING_MARK
      || t == G_UNICODE_ENCLOSING_MARK || t == G_UNICODE_DECIMAL_NUMBER
      || t == G_UNICODE_CONNECT_PUNCTUATION || c == 0x200C || c == 0x200D;
}

static void
bpe_pretokens (Encoder *e, const char *s, gsize len)
{
  GMatchInfo *mi = NULL;
  gsize done = 0;

  g_regex_match_full (e->tok->split, s, (gssize) len, 0, 0, &mi, NULL);
  while (g_match_info_matches (mi)) {
    gint st, en;
    g_match_info_fetch_pos (mi, 0, &st, &en);
    /* Isolated: the text between matches is a pre-token of its own */
    if ((gsize) st > done)
      omni_bpe_word (e->tok, e->bpe, (const guint8 *) s + done, st - done, e->ids);
    if (en > st)
      omni_bpe_word (e->tok, e->bpe, (const guint8 *) s + st, en - st, e->ids);
    done = en;
    g_match_info_next (mi, NULL);
  }
  g_match_info_free (mi);
  if (done < len)
    omni_bpe_word (e->tok, e->bpe, (const guint8 *) s + done, len - done, e->ids);
}

/* Longest added token (of the given normalized class) starting at @p. */
static const OmniAddedToken *
added_at (const OmniTokenizer *tok, const char *p, gsize avail,
    gboolean normalized)
{
  const OmniAddedToken *best = NULL;

  for (guint i = 0; i < tok->n_added; i++) {
    const OmniAddedToken *t = &tok->added[i];
    if (t->normalized == normalized && t->len <= avail
        && (!best || t->len > best->len) && memcmp (p, t->content, t->len) == 0)
      best = t;
  }
  return best;
}

static gboolean
ends_with_word (const char *s, gsize end)
{
  const char *prev;

  if (end == 0)
    return FALSE;
  prev = g_utf8_find_prev_char (s, s + end);
  return prev && is_word_char (g_utf8_get_char (prev));
}

static gboolean
starts_with_word (const char *s, gsize start, gsize len)
{
  return start < len && is_word_char (g_utf8_get_char (s + start));
}

static gsize
skip_space_back (const char *s, gsize pos, gsize floor)
{
  while (pos > floor) {
    const char *prev = g_utf8_find_prev_char (s, s + pos);
    if (!prev || !is_white_space (g_utf8_get_char (prev)))
      break;
    pos = prev - s;
  }
  return pos;
}

static gsize
skip_space_forward (const char *s, gsize pos, gsize len)
{
  while (pos < len && is_white_space (g_utf8_get_char (s + pos)))
    pos = g_utf8_next_char (s + pos) - s;
  return pos;
}

typedef void (*PieceFunc) (Encoder *e, const char *s, gsize len);

/* Splits @s on added tokens of one class, as tokenizers' find_matches:
 * leftmost-longest, single_word filter, lstrip/rstrip swallowing white
 * space. The ids of matches are appended, the gaps go to @gap. */
static void
split_added (Encoder *e, const char *s, gsize len, gboolean normalized,
    PieceFunc gap)
{
  gsize pos = 0, done = 0;

  while (pos < len) {
    const OmniAddedToken *t = added_at (e->tok, s + pos, len - pos, normalized);
    gsize start = pos, stop = pos + (t ? t->len : 0);

    if (!t) {
      pos++;
      continue;
    }
    pos = stop;
    if (t->single_word && (ends_with_word (s, start)
            || starts_with_word (s, stop, len)))
      continue;
    if (t->lstrip)
      start = skip_space_back (s, start, done);
    if (t->rstrip)
      pos = stop = skip_space_forward (s, stop, len);
    if (start > done)
      gap (e, s + done, start - done);
    g_array_append_val (e->ids, t->id);
    done = stop;
  }
  if (done < len)
    gap (e, s + done, len - done);
}

static void
normalized_piece (Encoder *e, const char *s, gsize len)
{
  split_added (e, s, len, TRUE, bpe_pretokens);
}

static gboolean
is_ascii (const char *s, gsize len)
{
  for (gsize i = 0; i < len; i++)
    if ((guint8) s[i] >= 0x80)
      return FALSE;
  return TRUE;
}

/* NFC of a piece; g_utf8_normalize stops at NUL, so NUL-separated runs are
 * normalized one by one (NUL is its own NFC). */
static void
raw_piece (Encoder *e, const char *s, gsize len)
{
  GString *nfc;

  if (is_ascii (s, len)) {
    normalized_piece (e, s, len);
    return;
  }
  nfc = g_string_sized_new (len + 16);
  for (gsize i = 0; i < len;) {
    const char *nul = memchr (s + i, '\0', len - i);
    gsize run = nul ? (gsize) (nul - (s + i)) : len - i;
    char *n = g_utf8_normalize (s + i, (gssize) run, G_NORMALIZE_NFC);
    g_string_append (nfc, n);
    g_free (n);
    i += run;
    if (nul) {
      g_string_append_c (nfc, '\0');
      i++;
    }
  }
  normalized_piece (e, nfc->str, nfc->len);
  g_string_free (nfc, TRUE);
}

gboolean
omni_tokenizer_encode (const OmniTokenizer *tok, const char *text, gssize len,
    GArray *ids, GError **error)
{
  Encoder e = { tok, NULL, ids };
  gsize n, valid;

  g_return_val_if_fail (tok != NULL && ids != NULL, FALSE);
  g_return_val_if_fail (text != NULL || len == 0, FALSE);
  n = len < 0 ? strlen (text) : (gsize) len;
  valid = omni_utf8_valid_prefix ((const guint8 *) text, n);
  if (valid < n) {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_INVALID,
        "text to encode is not valid UTF-8 at byte %" G_GSIZE_FORMAT, valid);
    return FALSE;
  }
  e.bpe = omni_bpe_scratch_new ();
  split_added (&e, text, n, FALSE, raw_piece);
  omni_bpe_scratch_free (e.bpe);
  return TRUE;
}

static gboolean
id_known (const OmniTokenizer *tok, gint32 id)
{
  return id >= 0 && (guint) id < tok->n_ids && tok->id_token[id] != NULL;
}

char *
omni_tokenizer_decode (const OmniTokenizer *tok, const gint32 *ids, gsize n,
    gboolean skip_special, GError **error)
{
  return omni_tokenizer_decode_len (tok, ids, n, skip_special, NULL, error);
}

char *
omni_tokenizer_decode_len (const OmniTokenizer *tok, const gint32 *ids,
    gsize n, gboolean skip_special, gsize *len, GError **error)
{
  GByteArray *bytes;
  GString *out;

  g_return_val_if_fail (tok != NULL && (ids != NULL || n == 0), NULL);
  bytes = g_byte_array_new ();
  for (gsize i = 0; i < n; i++) {
    gsize blen;
    const guint8 *b;
    if (!id_known (tok, ids[i])) {
      g_set_error (error, OMNI_ERROR, OMNI_ERROR_INVALID,
          "token id %d (at %" G_GSIZE_FORMAT ") is not in the vocabulary of %s "
          "(%u ids)", ids[i], i, tok->path, tok->n_ids);
      g_byte_array_unref (bytes);
      return NULL;
    }
    if (skip_special && tok->is_special[ids[i]])
      continue;
    b = omni_tokenizer_token_bytes (tok, ids[i], &blen);
    g_byte_array_append (bytes, b, blen);
  }
  out = g_string_sized_new (bytes->len + 1);
  omni_utf8_append_replace (out, bytes->data, bytes->len);
  g_byte_array_unref (bytes);
  if (len)
    *len = out->len;
  return g_string_free (out, FALSE);
}

gint32
omni_tokenizer_token_to_id (const OmniTokenizer *tok, const char *token)
{
  gpointer v;

  g_return_val_if_fail (tok != NULL && token != NULL, -1);
  v = g_hash_table_lookup (tok->added_by_text, token);
  if (!v)
    v = g_hash_table_lookup (tok->vocab, token);
  return GPOINTER_TO_INT (v) - 1;
}

const char *
omni_tokenizer_id_to_token (const OmniTokenizer *tok, gint32 id)
{
  g_return_val_if_fail (tok != NULL, NULL);
  return id_known (tok, id) ? tok->id_token[id] : NULL;
}

gboolean
omni_tokenizer_is_special (const OmniTokenizer *tok, gint32 id)
{
  g_return_val_if_fail (tok != NULL, FALSE);
  return id_known (tok, id) && tok->is_special[id];
}

guint
omni_tokenizer_vocab_size (const OmniTokenizer *tok)
{
  g_return_val_if_fail (tok != NULL, 0);
  return tok->n_ids;
}

const guint8 *
omni_tokenizer_token_bytes (const OmniTokenizer *tok, gint32 id, gsize *len)
{
  g_return_val_if_fail (tok != NULL && len != NULL, NULL);
  if (!id_known (tok, id)) {
    *len = 0;
    return NULL;
  }
  *len = tok->bytes_off[id + 1] - tok->bytes_off[id];
  return tok->bytes_pool + tok->bytes_off[id];
}
