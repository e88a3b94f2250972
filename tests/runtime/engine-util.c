/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "engine-util.h"

char *
engine_test_model_dir (const char *name)
{
  const char *src = g_getenv ("OMNI_TEST_SRCDIR");
  g_assert_nonnull (src);
  return g_build_filename (src, "golden", name, NULL);
}

OmniEngine *
engine_test_acquire_model (const char *name, const char *device, int max_batch)
{
  g_autofree char *dir = engine_test_model_dir (name);
  OmniEngineOptions o;
  GError *error = NULL;

  omni_engine_options_init (&o);
  o.device = device;
  o.max_batch = max_batch;
  OmniEngine *e = omni_engine_acquire (dir, &o, &error);
  g_assert_no_error (error);
  g_assert_nonnull (e);
  return e;
}

OmniEngine *
engine_test_acquire (int max_batch, int max_context)
{
  g_autofree char *dir = engine_test_model_dir ("qwen3-dense");
  OmniEngineOptions o;
  GError *error = NULL;

  omni_engine_options_init (&o);
  o.device = "cpu";
  o.max_batch = max_batch;
  if (max_context > 0)
    o.max_context = max_context;
  OmniEngine *e = omni_engine_acquire (dir, &o, &error);
  g_assert_no_error (error);
  g_assert_nonnull (e);
  return e;
}

OmniRequest *
engine_test_chat (Tracker *t, const char *prompt, int max_tokens, gboolean partial)
{
  OmniRequest *req = omni_request_new_chat (NULL, prompt);
  omni_request_set_max_tokens (req, max_tokens);
  omni_request_set_callback (req, tracker_cb, t, partial);
  return req;
}

void
tracker_init (Tracker *t, int tag, GAsyncQueue *done)
{
  memset (t, 0, sizeof *t);
  t->tag = tag;
  t->done = done;
}

void
tracker_clear (Tracker *t)
{
  g_free (t->text);
  g_free (t->last_partial);
  g_free (t->language);
  g_clear_error (&t->error);
}

void
tracker_cb (OmniRequest *req, const OmniResult *r, gpointer data)
{
  Tracker *t = data;

  g_assert_nonnull (req);
  g_assert_nonnull (r->text);
  if (r->status == OMNI_RESULT_PARTIAL) {
    g_assert_cmpint (g_atomic_int_get (&t->n_final), ==, 0);
    g_atomic_int_inc (&t->n_partial);
    g_free (t->last_partial);
    t->last_partial = g_strdup (r->text);
    return;
  }
  t->status = r->status;
  t->text = g_strdup (r->text);
  t->language = g_strdup (r->language);
  t->error = r->error ? g_error_copy (r->error) : NULL;
  t->n_tokens = r->n_tokens;
  t->n_prompt_tokens = r->n_prompt_tokens;
  t->submitted_us = r->submitted_us;
  t->first_token_us = r->first_token_us;
  t->done_us = r->done_us;
  g_assert_true (r->status != OMNI_RESULT_ERROR || r->error != NULL);
  if (g_atomic_int_add (&t->n_final, 1) == 0)
    g_async_queue_push (t->done, t);
}

Tracker *
tracker_pop (GAsyncQueue *done)
{
  Tracker *t = g_async_queue_timeout_pop (done, 300 * G_USEC_PER_SEC);
  g_assert_nonnull (t);
  return t;
}
