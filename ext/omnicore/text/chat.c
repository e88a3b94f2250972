/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ChatML as rendered by the Qwen3 chat template (tokenizer_config.json),
 * without tools. Checked against transformers' apply_chat_template by the
 * fixture tests/text/chat-expected.json. */
#include "text/chat.h"

#include <string.h>

#define IM_START "<|im_start|>"
#define IM_END "<|im_end|>"
#define TOOL_RESPONSE_OPEN "<tool_response>"
#define TOOL_RESPONSE_CLOSE "</tool_response>"

static const char *
msg_content (const OmniChatMessage *m)
{
  return m->content ? m->content : "";
}

static gboolean
role_is (const OmniChatMessage *m, const char *role)
{
  return m->role && strcmp (m->role, role) == 0;
}

/* A user message that only carries a tool response does not count as the
 * query the assistant answers (the template's multi_step_tool logic). */
static gboolean
is_real_query (const OmniChatMessage *m)
{
  const char *c = msg_content (m);
  return role_is (m, "user") &&
      !(g_str_has_prefix (c, TOOL_RESPONSE_OPEN) &&
        g_str_has_suffix (c, TOOL_RESPONSE_CLOSE));
}

static gssize
last_query_index (const OmniChatMessage *msgs, gsize n)
{
  for (gsize i = n; i > 0; i--)
    if (is_real_query (&msgs[i - 1]))
      return (gssize) i - 1;
  return (gssize) n - 1;
}

/* Python's str.lstrip('\n') / rstrip('\n') on a [begin, end) span. */
static void
strip_newlines (const char **begin, const char **end, gboolean left,
    gboolean right)
{
  while (left && *begin < *end && **begin == '\n')
    (*begin)++;
  while (right && *end > *begin && (*end)[-1] == '\n')
    (*end)--;
}

/* Last occurrence of @needle in [begin, end), or NULL. */
static const char *
find_last (const char *begin, const char *end, const char *needle)
{
  gsize nl = strlen (needle);
  const char *found = NULL;
  for (const char *p = begin; p + nl <= end; p++)
    if (memcmp (p, needle, nl) == 0)
      found = p;
  return found;
}

/* Splits an assistant message into reasoning and answer the way the
 * template does: answer after the last </think>, reasoning between the last
 * <think> and the first </think>. */
static void
split_reasoning (const char *content, const char **r_begin,
    const char **r_end, const char **a_begin)
{
  const char *end = content + strlen (content);
  const char *first_close = strstr (content, "</think>");
  const char *last_close = find_last (content, end, "</think>");
  const char *rb = content, *re, *open;

  *a_begin = last_close + strlen ("</think>");
  re = first_close;
  strip_newlines (&rb, &re, FALSE, TRUE);
  open = find_last (rb, re, "<think>");
  if (open)
    rb = open + strlen ("<think>");
  strip_newlines (&rb, &re, TRUE, FALSE);
  *r_begin = rb;
  *r_end = re;
}

static void
append_assistant (GString *out, const OmniChatMessage *m, gboolean after_query,
    gboolean is_last, OmniThinking thinking)
{
  const char *content = msg_content (m);
  const char *rb = content, *re = content, *ab = content;
  const char *ae = content + strlen (content);

  g_string_append (out, IM_START "assistant\n");
  if (thinking == OMNI_THINKING_NONE || !strstr (content, "</think>")) {
    if (thinking != OMNI_THINKING_NONE && after_query && is_last) {
      g_string_append (out, "<think>\n\n</think>\n\n");
      strip_newlines (&ab, &ae, TRUE, FALSE);
    }
    g_string_append_len (out, ab, ae - ab);
    g_string_append (out, IM_END "\n");
    return;
  }
  split_reasoning (content, &rb, &re, &ab);
  strip_newlines (&ab, &ae, TRUE, FALSE);
  if (after_query && (is_last || re > rb)) {
    strip_newlines (&rb, &re, TRUE, TRUE);
    g_string_append (out, "<think>\n");
    g_string_append_len (out, rb, re - rb);
    g_string_append (out, "\n</think>\n\n");
    strip_newlines (&ab, &ae, TRUE, FALSE);
  }
  g_string_append_len (out, ab, ae - ab);
  g_string_append (out, IM_END "\n");
}

static void
append_tool (GString *out, const OmniChatMessage *msgs, gsize n, gsize i)
{
  if (i == 0 || !role_is (&msgs[i - 1], "tool"))
    g_string_append (out, IM_START "user");
  g_string_append (out, "\n" TOOL_RESPONSE_OPEN "\n");
  g_string_append (out, msg_content (&msgs[i]));
  g_string_append (out, "\n" TOOL_RESPONSE_CLOSE);
  if (i + 1 == n || !role_is (&msgs[i + 1], "tool"))
    g_string_append (out, IM_END "\n");
}

char *
omni_chat_build (const OmniChatMessage *msgs, gsize n,
    gboolean add_generation_prompt, OmniThinking thinking)
{
  GString *out = g_string_new (NULL);
  gssize last_query = last_query_index (msgs, n);

  for (gsize i = 0; i < n; i++) {
    const OmniChatMessage *m = &msgs[i];
    if (role_is (m, "user") || role_is (m, "system")) {
      g_string_append_printf (out, IM_START "%s\n%s" IM_END "\n", m->role,
          msg_content (m));
    } else if (role_is (m, "assistant")) {
      append_assistant (out, m, (gssize) i > last_query, i + 1 == n, thinking);
    } else if (role_is (m, "tool")) {
      append_tool (out, msgs, n, i);
    }
  }
  if (add_generation_prompt) {
    g_string_append (out, IM_START "assistant\n");
    if (thinking == OMNI_THINKING_DISABLED)
      g_string_append (out, "<think>\n\n</think>\n\n");
  }
  return g_string_free (out, FALSE);
}
