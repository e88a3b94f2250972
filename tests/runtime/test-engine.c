/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The engine on the tiny golden Qwen3 snapshot: sharing and load counts,
 * load errors and progress, batched decoding (fewer forward passes, same
 * tokens), priorities and deadlines, cancellation, errors, partial results
 * and teardown with requests pending. Each test releases its engines, so
 * the next acquire loads again with its own options. */
#include <unistd.h>
#include <glib/gstdio.h>
#include "engine-util.h"

#define PROMPT_A "Name three colours."
#define PROMPT_B "What is the capital of France? Answer briefly."

static void
test_share (void)
{
  g_autofree char *dir = engine_test_model_dir ("qwen3-dense");
  g_autofree char *dotted = g_build_filename (dir, ".", NULL);
  guint loads = omni_engine_load_count ();
  GError *error = NULL;
  OmniEngineOptions o;

  OmniEngine *a = engine_test_acquire (2, 0);
  g_assert_cmpuint (omni_engine_load_count (), ==, loads + 1);
  omni_engine_options_init (&o);
  o.device = "cpu";
  OmniEngine *b = omni_engine_acquire (dotted, &o, &error);
  g_assert_no_error (error);
  g_assert_true (a == b);
  /* on a machine without CUDA, "auto" is the cpu: the same engine */
  o.device = "auto";
  OmniEngine *c = omni_engine_acquire (dir, &o, &error);
  g_assert_no_error (error);
  g_assert_true (c == a);
  g_assert_cmpuint (omni_engine_load_count (), ==, loads + 1);
  g_assert_cmpstr (omni_engine_device (a), ==, "cpu");
  g_assert_cmpstr (omni_engine_model_id (a), ==, "qwen3-dense");
  g_assert_true (omni_engine_ref (a) == a);
  omni_engine_unref (a);
  omni_engine_unref (a);
  omni_engine_unref (b);
  omni_engine_unref (c);
  /* all released: the next acquire loads again */
  OmniEngine *d = engine_test_acquire (2, 0);
  g_assert_cmpuint (omni_engine_load_count (), ==, loads + 2);
  omni_engine_unref (d);
}

static void
test_load_errors (void)
{
  g_autofree char *dir = engine_test_model_dir ("qwen3-dense");
  g_autofree char *tmp = g_dir_make_tmp ("omni-engine-XXXXXX", NULL);
  g_autofree char *cfg = g_build_filename (tmp, "config.json", NULL);
  GError *error = NULL;
  OmniEngineOptions o;
  guint loads = omni_engine_load_count ();

  omni_engine_options_init (&o);
  g_assert_null (omni_engine_acquire ("/nonexistent/model-dir", &o, &error));
  g_assert_error (error, OMNI_ERROR, OMNI_ERROR_IO);
  g_assert_nonnull (strstr (error->message, "/nonexistent/model-dir"));
  g_clear_error (&error);
  g_assert_null (omni_engine_acquire (cfg, &o, &error));  /* not there yet */
  g_assert_error (error, OMNI_ERROR, OMNI_ERROR_IO);
  g_clear_error (&error);
  /* an empty directory: the missing file is named */
  g_assert_null (omni_engine_acquire (tmp, &o, &error));
  g_assert_nonnull (error);
  g_assert_nonnull (strstr (error->message, "tokenizer.json"));
  g_clear_error (&error);
  /* a file, not a directory */
  g_assert_true (g_file_set_contents (cfg, "{}", -1, NULL));
  g_assert_null (omni_engine_acquire (cfg, &o, &error));
  g_assert_error (error, OMNI_ERROR, OMNI_ERROR_IO);
  g_assert_nonnull (strstr (error->message, "not a directory"));
  g_clear_error (&error);
  g_unlink (cfg);
  g_rmdir (tmp);
  o.device = "tpu:0";
  g_assert_null (omni_engine_acquire (dir, &o, &error));
  g_assert_error (error, OMNI_ERROR, OMNI_ERROR_INVALID);
  g_assert_nonnull (strstr (error->message, "tpu:0"));
  g_clear_error (&error);
  o.device = "cpu";
  o.max_batch = 0;
  g_assert_null (omni_engine_acquire (dir, &o, &error));
  g_assert_error (error, OMNI_ERROR, OMNI_ERROR_INVALID);
  g_assert_nonnull (strstr (error->message, "max_batch"));
  g_clear_error (&error);
  g_assert_cmpuint (omni_engine_load_count (), ==, loads);
}

static void
record_progress (double fraction, const char *what, gpointer data)
{
  GArray *a = data;
  g_assert_nonnull (what);
  g_array_append_val (a, fraction);
}

static void
test_progress (void)
{
  g_autofree char *dir = engine_test_model_dir ("qwen3-dense");
  GArray *fr = g_array_new (FALSE, FALSE, sizeof (double));
  GError *error = NULL;
  OmniEngineOptions o;

  omni_engine_options_init (&o);
  o.device = "cpu";
  o.progress = record_progress;
  o.progress_data = fr;
  OmniEngine *e = omni_engine_acquire (dir, &o, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (fr->len, >=, 4);
  for (guint i = 1; i < fr->len; i++)
    g_assert_cmpfloat (g_array_index (fr, double, i), >, g_array_index (fr, double, i - 1));
  g_assert_cmpfloat (g_array_index (fr, double, 0), >=, 0.0);
  g_assert_cmpfloat (g_array_index (fr, double, fr->len - 1), ==, 1.0);
  /* a second user gets the loaded engine: no loading, no progress */
  g_array_set_size (fr, 0);
  OmniEngine *e2 = omni_engine_acquire (dir, &o, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (fr->len, ==, 0);
  omni_engine_unref (e2);
  omni_engine_unref (e);
  g_array_free (fr, TRUE);
}

/* Runs @n chat prompts one after another; returns the forward passes used. */
static guint64
run_sequential (OmniEngine *e, const char *const *prompts, int n, Tracker *t, GAsyncQueue *q)
{
  guint64 f0 = omni_engine_forward_count (e);

  for (int i = 0; i < n; i++) {
    tracker_init (&t[i], i, q);
    OmniRequest *req = engine_test_chat (&t[i], prompts[i], 12, FALSE);
    g_assert_true (omni_engine_submit (e, req, NULL));
    omni_request_unref (req);
    g_assert_true (tracker_pop (q) == &t[i]);
    g_assert_cmpint (t[i].status, ==, OMNI_RESULT_DONE);
  }
  return omni_engine_forward_count (e) - f0;
}

static guint64
run_batched (OmniEngine *e, const char *const *prompts, int n, Tracker *t, GAsyncQueue *q)
{
  guint64 f0 = omni_engine_forward_count (e);

  for (int i = 0; i < n; i++) {
    tracker_init (&t[i], i, q);
    OmniRequest *req = engine_test_chat (&t[i], prompts[i], 12, FALSE);
    g_assert_true (omni_engine_submit (e, req, NULL));
    omni_request_unref (req);
  }
  for (int i = 0; i < n; i++)
    tracker_pop (q);
  return omni_engine_forward_count (e) - f0;
}

static void
test_batching (void)
{
  const char *prompts[] = { PROMPT_A, PROMPT_B, "Hi", "Count to five." };
  Tracker one[4], many[4];
  GAsyncQueue *q = g_async_queue_new ();
  OmniEngine *e = engine_test_acquire (4, 0);

  guint64 f_seq = run_sequential (e, prompts, 4, one, q);
  guint64 f_batch = run_batched (e, prompts, 4, many, q);
  g_test_message ("forward passes: one by one %" G_GUINT64_FORMAT ", batched %" G_GUINT64_FORMAT,
                  f_seq, f_batch);
  /* 12 tokens each: 12 passes per request alone; together one pass per
   * step (a request that arrives late adds at most its prefill pass) */
  g_assert_cmpuint (f_seq, ==, 4 * 12);
  g_assert_cmpuint (f_batch, <=, 12 + 3);
  for (int i = 0; i < 4; i++) {
    g_assert_cmpint (many[i].status, ==, OMNI_RESULT_DONE);
    g_assert_cmpint (many[i].n_tokens, ==, one[i].n_tokens);
    g_assert_cmpint (many[i].n_prompt_tokens, ==, one[i].n_prompt_tokens);
    g_assert_cmpstr (many[i].text, ==, one[i].text);
    g_assert_cmpint (g_atomic_int_get (&many[i].n_final), ==, 1);
  }
  omni_engine_unref (e);
  for (int i = 0; i < 4; i++) {
    tracker_clear (&one[i]);
    tracker_clear (&many[i]);
  }
  g_async_queue_unref (q);
}

/* An engine with one slot (steps are slowed down for the whole test
 * program by OMNI_DEBUG_STEP_DELAY_MS, set in main), so a queue builds up. */
static OmniEngine *
slow_engine (void)
{
  return engine_test_acquire (1, 0);
}

/* Waits until the engine has run a forward pass after @f0 (a request is
 * running, so later submissions queue behind it). */
static void
wait_running (OmniEngine *e, guint64 f0)
{
  while (omni_engine_forward_count (e) == f0)
    g_usleep (500);
}

static OmniRequest *
submit_chat (OmniEngine *e, Tracker *t, int tag, GAsyncQueue *q, OmniPriority prio,
             gint64 deadline, int max_tokens)
{
  tracker_init (t, tag, q);
  OmniRequest *req = engine_test_chat (t, PROMPT_A, max_tokens, FALSE);
  omni_request_set_priority (req, prio);
  omni_request_set_deadline (req, deadline);
  g_assert_true (omni_engine_submit (e, req, NULL));
  return req;
}

static void
expect_order (GAsyncQueue *q, const int *tags, int n)
{
  for (int i = 0; i < n; i++) {
    Tracker *t = tracker_pop (q);
    g_assert_cmpint (t->status, ==, OMNI_RESULT_DONE);
    g_assert_cmpint (t->tag, ==, tags[i]);
  }
}

/* A KV pool smaller than max_batch * max_context: requests wait for pages
 * instead of failing, and each result equals its run alone. */
static void
test_small_kv_pool (void)
{
  const char *prompts[] = { PROMPT_A, PROMPT_B, "Hi", "Count to five." };
  Tracker one[4], many[4];
  GAsyncQueue *q = g_async_queue_new ();
  g_autofree char *dir = engine_test_model_dir ("qwen3-dense");
  OmniEngineOptions o;
  GError *error = NULL;

  omni_engine_options_init (&o);
  o.device = "cpu";
  o.max_batch = 4;
  o.max_context = 64;
  o.kv_tokens = 64;
  OmniEngine *e = omni_engine_acquire (dir, &o, &error);
  g_assert_no_error (error);

  guint64 f_seq = run_sequential (e, prompts, 4, one, q);
  guint64 f_batch = run_batched (e, prompts, 4, many, q);
  /* 64 tokens hold at most two of these requests at once */
  g_assert_cmpuint (f_batch, >, 12 + 3);
  g_assert_cmpuint (f_batch, <, f_seq);
  for (int i = 0; i < 4; i++) {
    g_assert_cmpint (many[i].status, ==, OMNI_RESULT_DONE);
    g_assert_cmpstr (many[i].text, ==, one[i].text);
    tracker_clear (&one[i]);
    tracker_clear (&many[i]);
  }
  omni_engine_unref (e);
  g_async_queue_unref (q);

  o.kv_tokens = -1;
  g_assert_null (omni_engine_acquire (dir, &o, &error));
  g_assert_error (error, OMNI_ERROR, OMNI_ERROR_INVALID);
  g_assert_nonnull (strstr (error->message, "kv_tokens"));
  g_clear_error (&error);
}

static void
test_priority (void)
{
  GAsyncQueue *q = g_async_queue_new ();
  OmniEngine *e = slow_engine ();
  Tracker t[4];
  OmniRequest *r[4];
  const int order[] = { 0, 3, 1, 2 };

  r[0] = submit_chat (e, &t[0], 0, q, OMNI_PRIORITY_BATCH, 0, 12);
  wait_running (e, 0);
  r[1] = submit_chat (e, &t[1], 1, q, OMNI_PRIORITY_BATCH, 0, 4);
  r[2] = submit_chat (e, &t[2], 2, q, OMNI_PRIORITY_BATCH, 0, 4);
  r[3] = submit_chat (e, &t[3], 3, q, OMNI_PRIORITY_LIVE, 0, 4);
  expect_order (q, order, 4);
  g_assert_cmpint (t[3].first_token_us, <, t[1].first_token_us);
  omni_engine_unref (e);
  for (int i = 0; i < 4; i++) {
    omni_request_unref (r[i]);
    tracker_clear (&t[i]);
  }
  g_async_queue_unref (q);
}

static void
test_deadline (void)
{
  GAsyncQueue *q = g_async_queue_new ();
  OmniEngine *e = slow_engine ();
  gint64 now = g_get_monotonic_time ();
  Tracker t[6];
  OmniRequest *r[6];
  const int order[] = { 0, 5, 4, 2, 1, 3 };

  r[0] = submit_chat (e, &t[0], 0, q, OMNI_PRIORITY_BATCH, 0, 12);
  wait_running (e, 0);
  r[1] = submit_chat (e, &t[1], 1, q, OMNI_PRIORITY_BATCH, now + 10 * G_USEC_PER_SEC, 2);
  r[2] = submit_chat (e, &t[2], 2, q, OMNI_PRIORITY_BATCH, now + 5 * G_USEC_PER_SEC, 2);
  r[3] = submit_chat (e, &t[3], 3, q, OMNI_PRIORITY_BATCH, 0, 2);
  r[4] = submit_chat (e, &t[4], 4, q, OMNI_PRIORITY_BATCH, now + 1 * G_USEC_PER_SEC, 2);
  /* live first even with a later deadline */
  r[5] = submit_chat (e, &t[5], 5, q, OMNI_PRIORITY_LIVE, now + 20 * G_USEC_PER_SEC, 2);
  expect_order (q, order, 6);
  omni_engine_unref (e);
  for (int i = 0; i < 6; i++) {
    omni_request_unref (r[i]);
    tracker_clear (&t[i]);
  }
  g_async_queue_unref (q);
}

static void
test_cancel (void)
{
  GAsyncQueue *q = g_async_queue_new ();
  OmniEngine *e = slow_engine ();
  Tracker t[4];
  OmniRequest *running, *queued, *early, *done;

  /* running: cancelled after its first partial result */
  tracker_init (&t[0], 0, q);
  running = engine_test_chat (&t[0], PROMPT_A, 200, TRUE);
  g_assert_true (omni_engine_submit (e, running, NULL));
  queued = submit_chat (e, &t[1], 1, q, OMNI_PRIORITY_BATCH, 0, 4);
  omni_request_cancel (queued);
  g_assert_true (tracker_pop (q) == &t[1]);
  g_assert_cmpint (t[1].status, ==, OMNI_RESULT_CANCELLED);
  g_assert_cmpint (t[1].n_tokens, ==, 0);
  while (g_atomic_int_get (&t[0].n_partial) == 0)
    g_usleep (1000);
  omni_request_cancel (running);
  omni_request_cancel (running);
  g_assert_true (tracker_pop (q) == &t[0]);
  g_assert_cmpint (t[0].status, ==, OMNI_RESULT_CANCELLED);
  g_assert_cmpint (t[0].n_tokens, >, 0);
  g_assert_cmpint (t[0].n_tokens, <, 200);
  /* cancelled before submit */
  tracker_init (&t[2], 2, q);
  early = engine_test_chat (&t[2], PROMPT_B, 4, FALSE);
  omni_request_cancel (early);
  g_assert_true (omni_engine_submit (e, early, NULL));
  g_assert_true (tracker_pop (q) == &t[2]);
  g_assert_cmpint (t[2].status, ==, OMNI_RESULT_CANCELLED);
  /* cancelled after it finished: nothing more */
  done = submit_chat (e, &t[3], 3, q, OMNI_PRIORITY_LIVE, 0, 2);
  g_assert_true (tracker_pop (q) == &t[3]);
  g_assert_cmpint (t[3].status, ==, OMNI_RESULT_DONE);
  omni_request_cancel (done);
  /* the slot and pages came back: a new request runs to the end */
  Tracker again;
  OmniRequest *r = submit_chat (e, &again, 9, q, OMNI_PRIORITY_BATCH, 0, 3);
  g_assert_true (tracker_pop (q) == &again);
  g_assert_cmpint (again.status, ==, OMNI_RESULT_DONE);
  g_assert_cmpint (again.n_tokens, ==, 3);
  omni_engine_unref (e);  /* joins the thread: no callback can come later */
  for (int i = 0; i < 4; i++)
    g_assert_cmpint (g_atomic_int_get (&t[i].n_final), ==, 1);
  g_assert_null (g_async_queue_try_pop (q));
  OmniRequest *all[] = { running, queued, early, done, r };
  for (gsize i = 0; i < G_N_ELEMENTS (all); i++)
    omni_request_unref (all[i]);
  for (int i = 0; i < 4; i++)
    tracker_clear (&t[i]);
  tracker_clear (&again);
  g_async_queue_unref (q);
}

static void
test_unref_pending (void)
{
  GAsyncQueue *q = g_async_queue_new ();
  OmniEngine *e = slow_engine ();
  Tracker t[3];

  for (int i = 0; i < 3; i++) {
    OmniRequest *req = submit_chat (e, &t[i], i, q, OMNI_PRIORITY_BATCH, 0, 100);
    omni_request_unref (req);  /* the engine keeps what it needs */
  }
  omni_engine_unref (e);
  /* every callback fired, exactly once, before unref returned */
  for (int i = 0; i < 3; i++) {
    g_assert_cmpint (g_atomic_int_get (&t[i].n_final), ==, 1);
    g_assert_cmpint (t[i].status, ==, OMNI_RESULT_CANCELLED);
    tracker_pop (q);
    tracker_clear (&t[i]);
  }
  g_async_queue_unref (q);
}

static void
test_errors (void)
{
  GAsyncQueue *q = g_async_queue_new ();
  OmniEngine *e = engine_test_acquire (2, 32);
  GString *long_prompt = g_string_new (NULL);
  Tracker t[2];
  GError *error = NULL;

  for (int i = 0; i < 40; i++)
    g_string_append (long_prompt, "word ");
  tracker_init (&t[0], 0, q);
  OmniRequest *req = engine_test_chat (&t[0], long_prompt->str, 4, FALSE);
  g_assert_true (omni_engine_submit (e, req, NULL));
  g_assert_true (tracker_pop (q) == &t[0]);
  g_assert_cmpint (t[0].status, ==, OMNI_RESULT_ERROR);
  g_assert_error (t[0].error, OMNI_ERROR, OMNI_ERROR_INVALID);
  g_assert_nonnull (strstr (t[0].error->message, "max_context"));
  /* submitted twice */
  g_assert_false (omni_engine_submit (e, req, &error));
  g_assert_error (error, OMNI_ERROR, OMNI_ERROR_INVALID);
  g_clear_error (&error);
  omni_request_unref (req);
  /* a short prompt still fits; its answer is cut at the context end */
  tracker_init (&t[1], 1, q);
  req = engine_test_chat (&t[1], "Hi", 100, FALSE);
  g_assert_true (omni_engine_submit (e, req, NULL));
  g_assert_true (tracker_pop (q) == &t[1]);
  g_assert_cmpint (t[1].status, ==, OMNI_RESULT_DONE);
  g_assert_cmpint (t[1].n_prompt_tokens + t[1].n_tokens, <=, 32);
  omni_request_unref (req);
  omni_engine_unref (e);
  g_assert_cmpint (g_atomic_int_get (&t[0].n_final), ==, 1);
  tracker_clear (&t[0]);
  tracker_clear (&t[1]);
  g_string_free (long_prompt, TRUE);
  g_async_queue_unref (q);
}

static void
test_partial (void)
{
  GAsyncQueue *q = g_async_queue_new ();
  OmniEngine *e = engine_test_acquire (2, 0);
  Tracker t;

  tracker_init (&t, 0, q);
  OmniRequest *req = engine_test_chat (&t, PROMPT_B, 10, TRUE);
  g_assert_true (omni_engine_submit (e, req, NULL));
  tracker_pop (q);
  g_assert_cmpint (t.status, ==, OMNI_RESULT_DONE);
  g_assert_cmpint (t.n_tokens, ==, 10);
  g_assert_cmpint (g_atomic_int_get (&t.n_partial), >, 0);
  g_assert_true (g_str_has_prefix (t.text, t.last_partial));
  g_assert_cmpint (t.first_token_us, >=, t.submitted_us);
  g_assert_cmpint (t.done_us, >=, t.first_token_us);
  omni_request_unref (req);
  omni_engine_unref (e);
  tracker_clear (&t);
  g_async_queue_unref (q);
}

typedef struct {
  OmniEngine *engine;
  gint calls;
} Owner;

/* The last reference dropped from a result callback (scheduler thread). */
static void
unref_in_callback (OmniRequest *req, const OmniResult *r, gpointer data)
{
  Owner *o = data;
  if (r->status == OMNI_RESULT_PARTIAL)
    return;
  g_atomic_int_inc (&o->calls);
  omni_engine_unref (g_steal_pointer (&o->engine));
}

static void
test_unref_in_callback (void)
{
  Owner o = { .engine = engine_test_acquire (2, 0) };
  OmniRequest *req = omni_request_new_chat ("You are terse.", "Hi");
  guint loads = omni_engine_load_count ();

  omni_request_set_max_tokens (req, 2);
  omni_request_set_callback (req, unref_in_callback, &o, FALSE);
  g_assert_true (omni_engine_submit (o.engine, req, NULL));
  while (g_atomic_int_get (&o.calls) == 0)
    g_usleep (1000);
  omni_request_unref (req);
  /* the engine is gone from the registry: acquiring loads it again */
  OmniEngine *e = engine_test_acquire (2, 0);
  g_assert_cmpuint (omni_engine_load_count (), ==, loads + 1);
  omni_engine_unref (e);
}

int
main (int argc, char **argv)
{
  /* before any thread exists: 5 ms per forward step, so queues build up */
  g_setenv ("OMNI_DEBUG_STEP_DELAY_MS", "5", TRUE);
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/runtime/engine/share", test_share);
  g_test_add_func ("/runtime/engine/load-errors", test_load_errors);
  g_test_add_func ("/runtime/engine/progress", test_progress);
  g_test_add_func ("/runtime/engine/batching", test_batching);
  g_test_add_func ("/runtime/engine/small-kv-pool", test_small_kv_pool);
  g_test_add_func ("/runtime/engine/priority", test_priority);
  g_test_add_func ("/runtime/engine/deadline", test_deadline);
  g_test_add_func ("/runtime/engine/cancel", test_cancel);
  g_test_add_func ("/runtime/engine/unref-pending", test_unref_pending);
  g_test_add_func ("/runtime/engine/errors", test_errors);
  g_test_add_func ("/runtime/engine/partial", test_partial);
  g_test_add_func ("/runtime/engine/unref-in-callback", test_unref_in_callback);
  return g_test_run ();
}
