/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Prompts of vision requests (Qwen3-VL, Qwen3-VL-MoE, Qwen3-Omni), as their
 * processors expand the chat template's placeholders. */
#ifndef OMNI_TEXT_VISION_PROMPT_H
#define OMNI_TEXT_VISION_PROMPT_H

#include <glib.h>

G_BEGIN_DECLS

/* One user turn holding @n_items pictures, each <|vision_start|> +
 * n_tokens[i] x <|image_pad|> + <|vision_end|>; or, with @timestamps (one
 * per temporal group of a clip, seconds), each group as "<%.1f seconds>" +
 * <|vision_start|> + n_tokens[i] x <|video_pad|> + <|vision_end|>; then
 * @prompt. Special tokens are written out (the tokenizer maps them).
 * Newly allocated. */
char *omni_vision_prompt_build (const int *n_tokens, int n_items, const double *timestamps,
                                const char *prompt);

G_END_DECLS

#endif /* OMNI_TEXT_VISION_PROMPT_H */
