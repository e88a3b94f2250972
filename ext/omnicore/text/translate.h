/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Translation prompts in the manner of Qwen-MT for open Qwen3 instruct
 * models (spec section 6.2), the language table and output clean-up. */
#ifndef OMNI_TEXT_TRANSLATE_H
#define OMNI_TEXT_TRANSLATE_H

#include <glib.h>
#include "omnicore.h"
#include "text/chat.h"

G_BEGIN_DECLS

/* Number of languages in the table (the 92 Qwen-MT lists). */
gsize omni_language_count (void);
/* The canonical code and English name of table entry @i (< count). */
void omni_language_nth (gsize i, const char **code, const char **english_name);

/* TRUE when @lang means "detect the source language": NULL, "" or "auto". */
gboolean omni_language_is_auto (const char *lang);

/* The user message of spec 6.2 for @spec (instruction, domain, terms,
 * memory then context as reference translations, the text). An unknown
 * language is OMNI_ERROR_INVALID naming it. Newly allocated. */
char *omni_translate_build_user (const OmniTranslateSpec *spec, GError **error);

/* The whole ChatML prompt: one user turn, no system message, generation
 * prompt with @thinking (DISABLED for hybrid Qwen3). Newly allocated. */
char *omni_translate_build_prompt (const OmniTranslateSpec *spec, OmniThinking thinking,
                                   GError **error);

/* The translation alone from the model's @raw output: surrounding
 * whitespace, an empty think block, a leading "Translation:" or
 * "@target_name:" label and one pair of surrounding quotes removed.
 * Newly allocated. */
char *omni_translate_clean (const char *raw, const char *target_name);

G_END_DECLS

#endif /* OMNI_TEXT_TRANSLATE_H */
