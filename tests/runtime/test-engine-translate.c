/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Translation requests against transformers (tests/golden/qwen3-dense/
 * translate.json, made by make_translate_golden.py): the C prompt builder
 * gives the same prompt and ids, and the engine, running all the requests
 * batched together, gives the same greedy answer. */
#include <json-glib/json-glib.h>
#include "engine-util.h"
#include "text/chat.h"
#include "text/tokenizer.h"
#include "text/translate.h"

/* One fixture case as the C API sees it. */
typedef struct {
  OmniTranslateSpec spec;
  OmniTextPair *terms, *memory, *context;
  const char *prompt, *text;
  JsonArray *prompt_ids, *output_ids;
} Case;

static OmniTextPair *
pairs_of (JsonObject *o, const char *member, gsize *n)
{
  JsonArray *a = json_object_has_member (o, member) ? json_object_get_array_member (o, member) : NULL;
  *n = a ? json_array_get_length (a) : 0;
  OmniTextPair *p = g_new0 (OmniTextPair, *n + 1);
  for (gsize i = 0; i < *n; i++) {
    JsonArray *pair = json_array_get_array_element (a, i);
    p[i].source = json_array_get_string_element (pair, 0);
    p[i].target = json_array_get_string_element (pair, 1);
  }
  return p;
}

static void
case_from_json (Case *c, JsonObject *o)
{
  JsonObject *s = json_object_get_object_member (o, "spec");

  memset (c, 0, sizeof *c);
  c->spec.text = json_object_get_string_member (s, "text");
  c->spec.source_language = json_object_get_string_member (s, "source_language");
  c->spec.target_language = json_object_get_string_member (s, "target_language");
  c->spec.domain = json_object_get_string_member_with_default (s, "domain", NULL);
  c->spec.terms = c->terms = pairs_of (s, "terms", &c->spec.n_terms);
  c->spec.memory = c->memory = pairs_of (s, "memory", &c->spec.n_memory);
  c->spec.context = c->context = pairs_of (s, "context", &c->spec.n_context);
  c->prompt = json_object_get_string_member (o, "prompt");
  c->text = json_object_get_string_member (o, "text");
  c->prompt_ids = json_object_get_array_member (o, "prompt_ids");
  c->output_ids = json_object_get_array_member (o, "output_ids");
}

static void
case_clear (Case *c)
{
  g_free (c->terms);
  g_free (c->memory);
  g_free (c->context);
}

static JsonParser *
load_fixture (JsonArray **cases)
{
  g_autofree char *dir = engine_test_model_dir ("qwen3-dense");
  g_autofree char *path = g_build_filename (dir, "translate.json", NULL);
  JsonParser *p = json_parser_new ();
  GError *error = NULL;

  json_parser_load_from_file (p, path, &error);
  g_assert_no_error (error);
  *cases = json_object_get_array_member (json_node_get_object (json_parser_get_root (p)), "cases");
  g_assert_cmpuint (json_array_get_length (*cases), >=, 3);
  return p;
}

static void
test_prompts (void)
{
  g_autofree char *dir = engine_test_model_dir ("qwen3-dense");
  g_autofree char *tok_path = g_build_filename (dir, "tokenizer.json", NULL);
  OmniThinking thinking = omni_chat_thinking_for (dir, FALSE);
  GError *error = NULL;
  JsonArray *cases;
  JsonParser *p = load_fixture (&cases);
  OmniTokenizer *tok = omni_tokenizer_load (tok_path, NULL, &error);

  g_assert_no_error (error);
  g_assert_cmpint (thinking, ==, OMNI_THINKING_DISABLED);
  for (guint i = 0; i < json_array_get_length (cases); i++) {
    Case c;
    case_from_json (&c, json_array_get_object_element (cases, i));
    g_autofree char *prompt = omni_translate_build_prompt (&c.spec, thinking, &error);
    g_assert_no_error (error);
    g_assert_cmpstr (prompt, ==, c.prompt);
    GArray *ids = g_array_new (FALSE, FALSE, sizeof (gint32));
    g_assert_true (omni_tokenizer_encode (tok, prompt, -1, ids, &error));
    g_assert_cmpuint (ids->len, ==, json_array_get_length (c.prompt_ids));
    for (guint k = 0; k < ids->len; k++)
      g_assert_cmpint (g_array_index (ids, gint32, k), ==,
                       json_array_get_int_element (c.prompt_ids, k));
    g_array_free (ids, TRUE);
    case_clear (&c);
  }
  omni_tokenizer_free (tok);
  g_object_unref (p);
}

static void
test_engine_batched (void)
{
  JsonArray *cases;
  JsonParser *p = load_fixture (&cases);
  guint n = json_array_get_length (cases);
  OmniEngine *e = engine_test_acquire ((int) n, 0);
  GAsyncQueue *q = g_async_queue_new ();
  Tracker *t = g_new0 (Tracker, n);
  Case *c = g_new0 (Case, n);
  GError *error = NULL;
  guint64 f0 = omni_engine_forward_count (e);
  int max_steps = 0;

  for (guint i = 0; i < n; i++) {
    case_from_json (&c[i], json_array_get_object_element (cases, i));
    tracker_init (&t[i], (int) i, q);
    OmniRequest *req = omni_request_new_translate (&c[i].spec, &error);
    g_assert_no_error (error);
    omni_request_set_max_tokens (req, 16);
    omni_request_set_callback (req, tracker_cb, &t[i], FALSE);
    g_assert_true (omni_engine_submit (e, req, NULL));
    omni_request_unref (req);
    max_steps = MAX (max_steps, (int) json_array_get_length (c[i].output_ids));
  }
  for (guint i = 0; i < n; i++)
    tracker_pop (q);
  guint64 passes = omni_engine_forward_count (e) - f0;
  g_test_message ("%u translations in %" G_GUINT64_FORMAT " forward passes", n, passes);
  /* together: one pass per step, plus at most one prefill per late arrival */
  g_assert_cmpuint (passes, <=, (guint64) max_steps + n - 1);
  for (guint i = 0; i < n; i++) {
    g_assert_cmpint (t[i].status, ==, OMNI_RESULT_DONE);
    g_assert_cmpint (t[i].n_prompt_tokens, ==, (int) json_array_get_length (c[i].prompt_ids));
    g_assert_cmpint (t[i].n_tokens, ==, (int) json_array_get_length (c[i].output_ids));
    g_assert_cmpstr (t[i].text, ==, c[i].text);
    tracker_clear (&t[i]);
    case_clear (&c[i]);
  }
  omni_engine_unref (e);
  g_free (t);
  g_free (c);
  g_async_queue_unref (q);
  g_object_unref (p);
}

static void
test_unknown_language (void)
{
  OmniTranslateSpec s = { .text = "Hello", .target_language = "Quenya" };
  GError *error = NULL;

  g_assert_null (omni_request_new_translate (&s, &error));
  g_assert_error (error, OMNI_ERROR, OMNI_ERROR_INVALID);
  g_assert_nonnull (strstr (error->message, "\"Quenya\""));
  g_clear_error (&error);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/runtime/translate/prompts", test_prompts);
  g_test_add_func ("/runtime/translate/engine-batched", test_engine_batched);
  g_test_add_func ("/runtime/translate/unknown-language", test_unknown_language);
  return g_test_run ();
}
