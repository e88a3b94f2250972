/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* UTF-8 scanning with Python's errors="replace" semantics: each maximal
 * subpart of an ill-formed sequence (Unicode 3.9, Table 3-7) becomes one
 * U+FFFD. Shared by the decoder and the streaming detokenizer. */
#ifndef OMNI_TEXT_UTF8_H
#define OMNI_TEXT_UTF8_H

#include <glib.h>

G_BEGIN_DECLS

typedef enum {
  OMNI_UTF8_VALID,     /* a well-formed sequence */
  OMNI_UTF8_INVALID,   /* an ill-formed maximal subpart */
  OMNI_UTF8_TRUNCATED, /* a well-formed prefix cut by the end of input */
} OmniUtf8Status;

/* Classifies the sequence starting at @s[0] (@n >= 1); *@consumed is its
 * length in bytes (>= 1). */
OmniUtf8Status omni_utf8_scan (const guint8 *s, gsize n, gsize *consumed);

/* Appends @bytes to @out, each maximal invalid subpart (a truncated tail
 * included) replaced by U+FFFD, as bytes.decode("utf-8", "replace"). */
void omni_utf8_append_replace (GString *out, const guint8 *bytes, gsize len);

/* Length of the longest prefix of @bytes that is valid UTF-8 (NUL allowed);
 * equals @len when all of it is valid. */
gsize omni_utf8_valid_prefix (const guint8 *bytes, gsize len);

G_END_DECLS

#endif /* OMNI_TEXT_UTF8_H */
