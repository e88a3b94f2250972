/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Streaming detokenizer: turns ids, one at a time, into UTF-8 text that
 * never ends inside a multi-byte sequence. */
#ifndef OMNI_TEXT_DETOKENIZER_H
#define OMNI_TEXT_DETOKENIZER_H

#include "text/tokenizer.h"

G_BEGIN_DECLS

typedef struct _OmniDetokenizer OmniDetokenizer;

/* A detokenizer over @tok (which must outlive it); @skip_special drops
 * special:true added tokens. */
OmniDetokenizer *omni_detokenizer_new (const OmniTokenizer *tok,
    gboolean skip_special);

/* Feeds one id; returns the newly complete text (never a broken UTF-8
 * sequence; possibly "") - caller frees. Unknown ids add nothing. */
char *omni_detokenizer_push (OmniDetokenizer *d, gint32 id);

/* Returns what is still held (incomplete bytes become U+FFFD) and resets. */
char *omni_detokenizer_flush (OmniDetokenizer *d);

/* Frees @d (NULL is allowed). */
void omni_detokenizer_free (OmniDetokenizer *d);

G_END_DECLS

#endif /* OMNI_TEXT_DETOKENIZER_H */
