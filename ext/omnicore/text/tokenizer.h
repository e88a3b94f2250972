/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Byte-level BPE tokenizer of the Qwen2/Qwen3 family, loaded from a
 * Hugging Face tokenizer.json (NFC normalizer, regex Split + ByteLevel
 * pre-tokenizer, BPE model, ByteLevel decoder). */
#ifndef OMNI_TEXT_TOKENIZER_H
#define OMNI_TEXT_TOKENIZER_H

#include <glib.h>

G_BEGIN_DECLS

typedef struct _OmniTokenizer OmniTokenizer;

/* Loads @tokenizer_json_path; @tokenizer_config_path (nullable) may add
 * added_tokens_decoder entries missing from tokenizer.json. NULL + GError
 * (OMNI_ERROR_IO / FORMAT / UNSUPPORTED) naming the file and field. */
OmniTokenizer *omni_tokenizer_load (const char *tokenizer_json_path,
    const char *tokenizer_config_path, GError **error);

/* Frees @tok (NULL is allowed). */
void omni_tokenizer_free (OmniTokenizer *tok);

/* Appends the ids of @text (UTF-8, @len bytes or -1) to @ids (GArray of
 * gint32). Added/special tokens in the text are matched as such; no BOS/EOS
 * added. Invalid UTF-8 -> FALSE + GError (OMNI_ERROR_INVALID). */
gboolean omni_tokenizer_encode (const OmniTokenizer *tok, const char *text,
    gssize len, GArray *ids, GError **error);

/* Decodes ids to a newly allocated UTF-8 string (invalid bytes become U+FFFD
 * as Python's errors="replace"); @skip_special drops special:true added
 * tokens. Out-of-range ids -> NULL + GError (OMNI_ERROR_INVALID). */
char *omni_tokenizer_decode (const OmniTokenizer *tok, const gint32 *ids,
    gsize n, gboolean skip_special, GError **error);

/* As omni_tokenizer_decode, and *@len (nullable) gets the length in bytes:
 * the text may hold NUL characters, which a plain C string cannot show. */
char *omni_tokenizer_decode_len (const OmniTokenizer *tok, const gint32 *ids,
    gsize n, gboolean skip_special, gsize *len, GError **error);

/* The id of the token string @token (vocab or added token), -1 if absent. */
gint32 omni_tokenizer_token_to_id (const OmniTokenizer *tok, const char *token);

/* The token string of @id (as in tokenizer.json), NULL if absent. */
const char *omni_tokenizer_id_to_token (const OmniTokenizer *tok, gint32 id);

/* TRUE if @id is an added token marked special:true. */
gboolean omni_tokenizer_is_special (const OmniTokenizer *tok, gint32 id);

/* Highest id + 1, added tokens included. */
guint omni_tokenizer_vocab_size (const OmniTokenizer *tok);

/* The raw bytes of one token (byte-level decoded, not UTF-8 checked), for
 * the streaming detokenizer. Like HF's ByteLevel decoder, a token with a
 * character outside the byte map (e.g. an added token with a space) gives
 * its UTF-8 text. NULL and *@len = 0 if @id is absent. */
const guint8 *omni_tokenizer_token_bytes (const OmniTokenizer *tok, gint32 id,
    gsize *len);

G_END_DECLS

#endif /* OMNI_TEXT_TOKENIZER_H */
