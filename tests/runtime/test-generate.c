/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* omni_generate on tiny checkpoints: greedy ids against the reference
 * forward, stop ids, max tokens, callback stop, cancellation, context
 * overflow, sampling determinism, and the thinking budget. */
#include <math.h>
#include <glib/gstdio.h>
#include "omnicore.h"
#include "runtime/generate.h"
#include "../nn/tiny-model.h"

static const TinySpec spec = {
  .vocab = 61, .hidden = 32, .inter = 48, .layers = 2, .heads = 4, .kv_heads = 2,
  .head_dim = 8, .tie = TRUE, .theta = 10000, .eps = 1e-6,
};

typedef struct {
  char *dir;
  OmniBackend *backend;
  TinyModel *tiny;
  OmniModel *model;
} Fixture;

static void
write_gen_config (const char *dir, const char *json)
{
  g_autofree char *p = g_build_filename (dir, "generation_config.json", NULL);
  g_assert_true (g_file_set_contents (p, json, -1, NULL));
}

static void
setup_with (Fixture *f, const TinySpec *s, guint32 seed)
{
  GError *error = NULL;
  f->dir = g_dir_make_tmp ("omni-gen-XXXXXX", &error);
  g_assert_no_error (error);
  f->tiny = tiny_model_new (s, seed);
  tiny_model_write (f->tiny, f->dir, NULL, NULL);
  write_gen_config (f->dir, "{\"eos_token_id\": [59, 60], \"pad_token_id\": 0}");
  f->backend = omni_backend_open ("cpu", &error);
  g_assert_no_error (error);
  f->model = omni_model_load (f->dir, f->backend, &error);
  g_assert_no_error (error);
}

static void
fixture_setup (Fixture *f, gconstpointer data)
{
  setup_with (f, &spec, 21);
}

static void
fixture_teardown (Fixture *f, gconstpointer data)
{
  const char *files[] = { "config.json", "model.safetensors", "generation_config.json" };
  omni_model_free (f->model);
  omni_backend_close (f->backend);
  tiny_model_free (f->tiny);
  for (gsize i = 0; i < G_N_ELEMENTS (files); i++) {
    g_autofree char *p = g_build_filename (f->dir, files[i], NULL);
    g_unlink (p);
  }
  g_rmdir (f->dir);
  g_free (f->dir);
}

/* Greedy continuation by the reference: argmax of a full recomputation. */
static void
reference_greedy (TinyModel *t, const int32_t *prompt, int n_prompt, int n_new, int32_t *out)
{
  int V = t->s.vocab, n = n_prompt + n_new;
  int32_t *seq = g_new (int32_t, n);
  double *logits = g_new (double, (gsize) n * V);

  memcpy (seq, prompt, n_prompt * sizeof *seq);
  for (int i = 0; i < n_new; i++) {
    int len = n_prompt + i, best = 0;
    tiny_model_reference (t, seq, len, logits);
    const double *row = logits + (gsize) (len - 1) * V;
    for (int v = 1; v < V; v++)
      if (row[v] > row[best])
        best = v;
    seq[len] = out[i] = best;
  }
  g_free (seq);
  g_free (logits);
}

static const int32_t prompt[] = { 3, 14, 15, 9, 26, 5, 35, 8, 9, 7, 9, 3, 2, 38, 4, 6, 2, 6, 43, 3 };
#define N_PROMPT ((int) G_N_ELEMENTS (prompt))

static GArray *
run (Fixture *f, const OmniGenParams *p, OmniTokenFunc fn, gpointer data, GError **error)
{
  GArray *ids = g_array_new (FALSE, FALSE, sizeof (gint32));
  if (!omni_generate (f->model, prompt, N_PROMPT, p, fn, data, ids, NULL, error)) {
    g_array_free (ids, TRUE);
    return NULL;
  }
  return ids;
}

static void
test_defaults (Fixture *f, gconstpointer data)
{
  OmniGenParams p;
  omni_gen_params_init (&p, f->model);
  g_assert_cmpint (p.max_tokens, ==, 256);
  g_assert_cmpfloat (p.temperature, ==, 0);
  g_assert_cmpint (p.n_stop, ==, 2);
  g_assert_cmpint (p.stop_ids[0], ==, 59);
  g_assert_cmpint (p.stop_ids[1], ==, 60);
  g_assert_cmpint (p.thinking_budget, ==, 0);
}

static void
test_greedy (Fixture *f, gconstpointer data)
{
  OmniGenParams p;
  GError *error = NULL;
  int32_t ref[12];

  omni_gen_params_init (&p, f->model);
  p.max_tokens = 12;
  p.n_stop = 0;
  reference_greedy (f->tiny, prompt, N_PROMPT, 12, ref);
  GArray *ids = run (f, &p, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpmem (ids->data, ids->len * sizeof (gint32), ref, sizeof ref);
  /* the state and its pages are reused: a second run gives the same ids */
  GArray *again = run (f, &p, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpmem (again->data, again->len * sizeof (gint32), ref, sizeof ref);
  g_array_free (ids, TRUE);
  g_array_free (again, TRUE);
}

/* A prompt longer than max_batch_tokens is prefilled in chunks. */
static void
test_long_prompt (Fixture *f, gconstpointer data)
{
  int n = 300;
  int32_t *long_prompt = g_new (int32_t, n), ref[3];
  OmniGenParams p;
  GError *error = NULL;
  GArray *ids = g_array_new (FALSE, FALSE, sizeof (gint32));

  for (int i = 0; i < n; i++)
    long_prompt[i] = (i * 7 + 1) % spec.vocab;
  omni_gen_params_init (&p, f->model);
  p.max_tokens = 3;
  p.n_stop = 0;
  g_assert_cmpint (omni_model_state_options (omni_model_default_state (f->model, NULL))
                   ->max_batch_tokens, <, n);
  g_assert_true (omni_generate (f->model, long_prompt, n, &p, NULL, NULL, ids, NULL, &error));
  g_assert_no_error (error);
  reference_greedy (f->tiny, long_prompt, n, 3, ref);
  g_assert_cmpmem (ids->data, ids->len * sizeof (gint32), ref, sizeof ref);
  g_array_free (ids, TRUE);
  g_free (long_prompt);
}

typedef struct {
  int calls, stop_after;
  GCancellable *cancel;
} Counter;

static gboolean
count_tokens (gint32 id, gpointer user_data)
{
  Counter *c = user_data;
  c->calls++;
  if (c->cancel && c->calls == c->stop_after)
    g_cancellable_cancel (c->cancel);
  return c->cancel || c->calls != c->stop_after;
}

static void
test_stops (Fixture *f, gconstpointer data)
{
  OmniGenParams p;
  GError *error = NULL;
  int32_t ref[8];

  reference_greedy (f->tiny, prompt, N_PROMPT, 8, ref);
  omni_gen_params_init (&p, f->model);
  /* max_tokens */
  p.max_tokens = 5;
  p.n_stop = 0;
  GArray *ids = run (f, &p, NULL, NULL, &error);
  g_assert_cmpuint (ids->len, ==, 5);
  g_array_free (ids, TRUE);
  /* a stop id ends generation after it is emitted (first occurrence) */
  int first = 0;
  while (first < 4 && ref[first] != ref[4])
    first++;
  p.max_tokens = 8;
  p.stop_ids = &ref[4];
  p.n_stop = 1;
  ids = run (f, &p, NULL, NULL, &error);
  g_assert_cmpuint (ids->len, ==, first + 1);
  g_assert_cmpint (g_array_index (ids, gint32, first), ==, ref[4]);
  g_array_free (ids, TRUE);
  /* the callback stops it */
  Counter c = { .stop_after = 3 };
  p.n_stop = 0;
  ids = run (f, &p, count_tokens, &c, &error);
  g_assert_no_error (error);
  g_assert_cmpint (c.calls, ==, 3);
  g_assert_cmpuint (ids->len, ==, 3);
  g_array_free (ids, TRUE);
}

static void
test_cancel (Fixture *f, gconstpointer data)
{
  OmniGenParams p;
  GError *error = NULL;
  Counter c = { .stop_after = 2, .cancel = g_cancellable_new () };
  GArray *ids = g_array_new (FALSE, FALSE, sizeof (gint32));

  omni_gen_params_init (&p, f->model);
  p.max_tokens = 10;
  p.n_stop = 0;
  g_assert_false (omni_generate (f->model, prompt, N_PROMPT, &p, count_tokens, &c, ids, c.cancel,
                                 &error));
  g_assert_error (error, OMNI_ERROR, OMNI_ERROR_CANCELLED);
  g_clear_error (&error);
  g_assert_cmpint (c.calls, ==, 2);
  /* already cancelled: no token at all */
  c.calls = 0;
  g_assert_false (omni_generate (f->model, prompt, N_PROMPT, &p, count_tokens, &c, NULL, c.cancel,
                                 &error));
  g_assert_error (error, OMNI_ERROR, OMNI_ERROR_CANCELLED);
  g_clear_error (&error);
  g_assert_cmpint (c.calls, ==, 0);
  /* the slot was released: a normal run still works */
  GArray *ok = run (f, &p, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (ok->len, ==, 10);
  g_array_free (ok, TRUE);
  g_array_free (ids, TRUE);
  g_object_unref (c.cancel);
}

static void
test_overflow (Fixture *f, gconstpointer data)
{
  OmniGenParams p;
  GError *error = NULL;
  Counter c = { .stop_after = 1000 };
  int cap = omni_model_state_options (omni_model_default_state (f->model, NULL))->max_context;

  omni_gen_params_init (&p, f->model);
  p.max_tokens = cap - N_PROMPT + 1;
  g_assert_false (omni_generate (f->model, prompt, N_PROMPT, &p, count_tokens, &c, NULL, NULL,
                                 &error));
  g_assert_error (error, OMNI_ERROR, OMNI_ERROR_INVALID);
  g_assert_nonnull (strstr (error->message, "capacity"));
  g_clear_error (&error);
  g_assert_cmpint (c.calls, ==, 0);
  p.max_tokens = 4;
  p.top_p = 0;
  g_assert_false (omni_generate (f->model, prompt, N_PROMPT, &p, NULL, NULL, NULL, NULL, &error));
  g_assert_error (error, OMNI_ERROR, OMNI_ERROR_INVALID);
  g_clear_error (&error);
}

static void
test_sampling_seeded (Fixture *f, gconstpointer data)
{
  OmniGenParams p;
  GError *error = NULL;

  omni_gen_params_init (&p, f->model);
  p.max_tokens = 24;
  p.n_stop = 0;
  p.temperature = 1.5;
  p.top_p = 0.95;
  p.seed = 77;
  GArray *a = run (f, &p, NULL, NULL, &error), *b = run (f, &p, NULL, NULL, &error);
  p.seed = 78;
  GArray *c = run (f, &p, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpmem (a->data, a->len * 4, b->data, b->len * 4);
  g_assert_true (memcmp (a->data, c->data, 24 * 4) != 0);
  /* a heavy repetition penalty changes the greedy ids */
  omni_gen_params_init (&p, f->model);
  p.max_tokens = 24;
  p.n_stop = 0;
  GArray *g = run (f, &p, NULL, NULL, &error);
  p.repetition_penalty = 5;
  GArray *r = run (f, &p, NULL, NULL, &error);
  g_assert_true (memcmp (g->data, r->data, 24 * 4) != 0);
  g_array_free (a, TRUE);
  g_array_free (b, TRUE);
  g_array_free (c, TRUE);
  g_array_free (g, TRUE);
  g_array_free (r, TRUE);
}

/* The thinking budget needs the Qwen think ids, so this model has a
 * Qwen-sized vocabulary (151680) and tiny layers. */
static const TinySpec think_spec = {
  .vocab = 151680, .hidden = 16, .inter = 16, .layers = 1, .heads = 2, .kv_heads = 1,
  .head_dim = 8, .tie = TRUE, .theta = 10000, .eps = 1e-6,
};

static void
think_setup (Fixture *f, gconstpointer data)
{
  setup_with (f, &think_spec, 5);
}

static void
test_thinking_budget (Fixture *f, gconstpointer data)
{
  const int32_t open[] = { 100, 200, 151644, 77, 151667, 198 };   /* ... <think>\n */
  const int32_t closed[] = { 100, 151667, 271, 151668, 271 };     /* empty think block */
  OmniGenParams p;
  GError *error = NULL;
  GArray *free_run = g_array_new (FALSE, FALSE, 4), *ids = g_array_new (FALSE, FALSE, 4);

  omni_gen_params_init (&p, f->model);
  p.max_tokens = 10;
  p.n_stop = 0;
  g_assert_true (omni_generate (f->model, open, 6, &p, NULL, NULL, free_run, NULL, &error));
  for (guint i = 0; i < free_run->len; i++)
    g_assert_cmpint (g_array_index (free_run, gint32, i), !=, 151668);
  p.thinking_budget = 4;
  g_assert_true (omni_generate (f->model, open, 6, &p, NULL, NULL, ids, NULL, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (ids->len, ==, 10);
  const gint32 *o = (const gint32 *) ids->data;
  /* four thinking tokens as in the free run, then "\n\n</think>\n\n" */
  g_assert_cmpmem (o, 16, free_run->data, 16);
  g_assert_cmpint (o[4], ==, 271);
  g_assert_cmpint (o[5], ==, 151668);
  g_assert_cmpint (o[6], ==, 271);
  /* a closed think block in the prompt: the budget does nothing */
  g_array_set_size (free_run, 0);
  g_array_set_size (ids, 0);
  p.thinking_budget = 0;
  g_assert_true (omni_generate (f->model, closed, 5, &p, NULL, NULL, free_run, NULL, &error));
  p.thinking_budget = 2;
  g_assert_true (omni_generate (f->model, closed, 5, &p, NULL, NULL, ids, NULL, &error));
  g_assert_cmpmem (ids->data, ids->len * 4, free_run->data, free_run->len * 4);
  g_array_free (free_run, TRUE);
  g_array_free (ids, TRUE);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
#define ADD(path, fn) g_test_add (path, Fixture, NULL, fixture_setup, fn, fixture_teardown)
  ADD ("/runtime/generate/defaults", test_defaults);
  ADD ("/runtime/generate/greedy", test_greedy);
  ADD ("/runtime/generate/long-prompt", test_long_prompt);
  ADD ("/runtime/generate/stops", test_stops);
  ADD ("/runtime/generate/cancel", test_cancel);
  ADD ("/runtime/generate/overflow", test_overflow);
  ADD ("/runtime/generate/sampling-seeded", test_sampling_seeded);
  g_test_add ("/runtime/generate/thinking-budget", Fixture, NULL, think_setup, test_thinking_budget,
              fixture_teardown);
  return g_test_run ();
}
