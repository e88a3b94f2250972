/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The streaming detokenizer holds back only a well-formed but unfinished
 * UTF-8 sequence at the end of what it was fed. Everything before it is
 * final: errors="replace" decoding of a prefix that ends on a sequence
 * boundary never changes when more bytes follow, so the concatenated
 * output equals decoding all ids at once. */
#include "text/detokenizer.h"
#include "text/utf8.h"

#include <string.h>

struct _OmniDetokenizer {
  const OmniTokenizer *tok;
  gboolean skip_special;
  guint8 held[4];   /* an unfinished sequence is at most 3 bytes */
  gsize n_held;
  GByteArray *buf;
};

OmniDetokenizer *
omni_detokenizer_new (const OmniTokenizer *tok, gboolean skip_special)
{
  OmniDetokenizer *d;

  g_return_val_if_fail (tok != NULL, NULL);
  d = g_new0 (OmniDetokenizer, 1);
  d->tok = tok;
  d->skip_special = skip_special;
  d->buf = g_byte_array_new ();
  return d;
}

/* Start of the unfinished sequence at the end of @b, or @n if none. @b
 * starts on a sequence boundary (the held bytes start with a lead byte). */
static gsize
unfinished_tail (const guint8 *b, gsize n)
{
  gsize i = 0;

  while (i < n) {
    gsize k;
    if (b[i] < 0x80) {
      i++;
      continue;
    }
    if (omni_utf8_scan (b + i, n - i, &k) == OMNI_UTF8_TRUNCATED)
      return i;
    i += k;
  }
  return n;
}

char *
omni_detokenizer_push (OmniDetokenizer *d, gint32 id)
{
  const guint8 *b;
  gsize len, cut;
  GString *out;

  g_return_val_if_fail (d != NULL, NULL);
  b = omni_tokenizer_token_bytes (d->tok, id, &len);
  if (!b || (d->skip_special && omni_tokenizer_is_special (d->tok, id)))
    return g_strdup ("");
  g_byte_array_set_size (d->buf, 0);
  g_byte_array_append (d->buf, d->held, d->n_held);
  g_byte_array_append (d->buf, b, len);
  cut = unfinished_tail (d->buf->data, d->buf->len);
  out = g_string_sized_new (cut + 1);
  omni_utf8_append_replace (out, d->buf->data, cut);
  d->n_held = d->buf->len - cut;
  memcpy (d->held, d->buf->data + cut, d->n_held);
  return g_string_free (out, FALSE);
}

char *
omni_detokenizer_flush (OmniDetokenizer *d)
{
  GString *out;

  g_return_val_if_fail (d != NULL, NULL);
  out = g_string_new (NULL);
  omni_utf8_append_replace (out, d->held, d->n_held);
  d->n_held = 0;
  return g_string_free (out, FALSE);
}

void
omni_detokenizer_free (OmniDetokenizer *d)
{
  if (!d)
    return;
  g_byte_array_unref (d->buf);
  g_free (d);
}
