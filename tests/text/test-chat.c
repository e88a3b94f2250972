/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* omni_chat_build against transformers' apply_chat_template with the real
 * Qwen3 template (fixture chat-expected.json, from make_chat_fixture.py). */
#include "text-fixture.h"
#include "text/chat.h"

#include <string.h>

static JsonObject *fixture;

static OmniChatMessage *
messages_of (JsonArray *a, gsize *n)
{
  OmniChatMessage *m;

  *n = json_array_get_length (a);
  m = g_new0 (OmniChatMessage, *n);
  for (gsize i = 0; i < *n; i++) {
    JsonObject *o = json_array_get_object_element (a, i);
    m[i].role = json_object_get_string_member (o, "role");
    m[i].content = json_object_get_string_member (o, "content");
  }
  return m;
}

static void
test_template (void)
{
  JsonArray *cases = json_object_get_array_member (fixture, "cases");

  g_assert_cmpuint (json_array_get_length (cases), >=, 40);
  for (guint i = 0; i < json_array_get_length (cases); i++) {
    JsonObject *c = json_array_get_object_element (cases, i);
    const char *mode = json_object_get_string_member (c, "thinking");
    OmniThinking thinking = strcmp (mode, "disabled") == 0
        ? OMNI_THINKING_DISABLED : OMNI_THINKING_ENABLED;
    gsize n;
    OmniChatMessage *m = messages_of (json_object_get_array_member (c,
            "messages"), &n);
    char *got = omni_chat_build (m, n,
        json_object_get_boolean_member (c, "add_generation_prompt"), thinking);

    g_test_message ("case %s gen=%d %s", json_object_get_string_member (c,
            "name"), json_object_get_boolean_member (c,
            "add_generation_prompt"), mode);
    g_assert_cmpstr (got, ==, json_object_get_string_member (c, "expected"));
    g_free (got);
    g_free (m);
  }
}

/* Templates without think logic (2507 instruct, VL, Omni) render assistant
 * turns verbatim and add nothing to the generation prompt. */
static void
test_no_thinking (void)
{
  const OmniChatMessage m[] = {
    { "system", "sys" },
    { "user", "q1" },
    { "assistant", "a1" },
    { "user", "q2" },
    { "assistant", "<think>\nr\n</think>\n\na2" },
  };
  char *got = omni_chat_build (m, 4, TRUE, OMNI_THINKING_NONE);

  g_assert_cmpstr (got, ==,
      "<|im_start|>system\nsys<|im_end|>\n"
      "<|im_start|>user\nq1<|im_end|>\n"
      "<|im_start|>assistant\na1<|im_end|>\n"
      "<|im_start|>user\nq2<|im_end|>\n"
      "<|im_start|>assistant\n");
  g_free (got);
  got = omni_chat_build (m, 5, FALSE, OMNI_THINKING_NONE);
  g_assert_true (g_str_has_suffix (got,
          "<|im_start|>assistant\n<think>\nr\n</think>\n\na2<|im_end|>\n"));
  g_free (got);
}

static void
test_edge_cases (void)
{
  const OmniChatMessage m[] = {
    { "user", NULL },
    { "narrator", "ignored role" },
    { NULL, "no role" },
  };
  char *got = omni_chat_build (m, 3, TRUE, OMNI_THINKING_DISABLED);

  g_assert_cmpstr (got, ==, "<|im_start|>user\n<|im_end|>\n"
      "<|im_start|>assistant\n<think>\n\n</think>\n\n");
  g_free (got);
  got = omni_chat_build (NULL, 0, TRUE, OMNI_THINKING_ENABLED);
  g_assert_cmpstr (got, ==, "<|im_start|>assistant\n");
  g_free (got);
}

int
main (int argc, char **argv)
{
  JsonParser *p;
  int ret;

  g_test_init (&argc, &argv, NULL);
  p = text_fixture_load_json ("chat-expected.json", &fixture);
  g_test_add_func ("/text/chat/qwen3-template", test_template);
  g_test_add_func ("/text/chat/no-thinking", test_no_thinking);
  g_test_add_func ("/text/chat/edge-cases", test_edge_cases);
  ret = g_test_run ();
  g_object_unref (p);
  return ret;
}
