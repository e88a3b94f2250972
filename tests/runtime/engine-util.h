/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Test helpers for the engine: a result collector per request. */
#ifndef TESTS_RUNTIME_ENGINE_UTIL_H
#define TESTS_RUNTIME_ENGINE_UTIL_H

#include "omnicore.h"

/* One request's results, filled on the scheduler thread. */
typedef struct {
  int tag;
  GAsyncQueue *done;        /* receives this tracker at the final callback */
  gint n_final, n_partial;  /* atomic */
  OmniResultStatus status;
  char *text, *last_partial;
  char *language;           /* the final result's */
  GError *error;
  int n_tokens, n_prompt_tokens;
  gint64 submitted_us, first_token_us, done_us;
} Tracker;

/* The snapshot of tests/golden/<name>, newly allocated. */
char *engine_test_model_dir (const char *name);
/* Acquires the engine of tests/golden/@name on @device; fails the test on error. */
OmniEngine *engine_test_acquire_model (const char *name, const char *device, int max_batch);
/* Acquires the tiny golden qwen3-dense engine with @max_batch, @max_context
 * (0 = default), on "cpu"; fails the test on error. */
OmniEngine *engine_test_acquire (int max_batch, int max_context);

/* A chat request reporting to @t (partial results when @partial). */
OmniRequest *engine_test_chat (Tracker *t, const char *prompt, int max_tokens, gboolean partial);
/* Sets up @t with @tag, reporting finals to @done. */
void tracker_init (Tracker *t, int tag, GAsyncQueue *done);
void tracker_clear (Tracker *t);
/* The callback for omni_request_set_callback with a Tracker. */
void tracker_cb (OmniRequest *req, const OmniResult *r, gpointer data);
/* Waits (at most 300 s: emulated CUDA under ASan is slow) for the next
 * final result. */
Tracker *tracker_pop (GAsyncQueue *done);

#endif
