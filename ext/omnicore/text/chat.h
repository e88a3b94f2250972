/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ChatML prompt building, as the Qwen3 chat template renders it. */
#ifndef OMNI_TEXT_CHAT_H
#define OMNI_TEXT_CHAT_H

#include <glib.h>

G_BEGIN_DECLS

typedef enum {
  OMNI_THINKING_NONE,     /* template without think logic: 2507 instruct, VL, Omni */
  OMNI_THINKING_DISABLED, /* Qwen3 hybrid, enable_thinking=false: empty pre-closed think block */
  OMNI_THINKING_ENABLED,  /* Qwen3 hybrid, enable_thinking=true: the model opens <think> */
} OmniThinking;

/* One chat message: role is "system", "user", "assistant" or "tool". */
typedef struct {
  const char *role;
  const char *content;
} OmniChatMessage;

/* ChatML prompt of the Qwen3 template for @msgs; with @add_generation_prompt
 * ends in "<|im_start|>assistant\n" (+ "<think>\n\n</think>\n\n" when
 * @thinking is DISABLED). Previous assistant turns have their <think>..</think>
 * reasoning stripped as the template does. Newly allocated. */
char *omni_chat_build (const OmniChatMessage *msgs, gsize n,
    gboolean add_generation_prompt, OmniThinking thinking);

/* Whether the chat template in @model_dir's tokenizer_config.json has
 * Qwen3's enable_thinking switch (hybrid models); FALSE when unreadable. */
gboolean omni_chat_template_has_thinking (const char *model_dir);

/* The thinking mode for @model_dir: NONE when its template has no switch,
 * else ENABLED or DISABLED as @think says. */
OmniThinking omni_chat_thinking_for (const char *model_dir, gboolean think);

G_END_DECLS

#endif /* OMNI_TEXT_CHAT_H */
