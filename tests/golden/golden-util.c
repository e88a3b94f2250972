/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <math.h>
#include <string.h>
#include "golden-util.h"

float *
golden_ref_tensor (OmniSafetensors *ref, const char *dir, const char *name, gsize n)
{
  const OmniSafeTensor *t = omni_safetensors_get (ref, name);
  GError *error = NULL;

  if (!t)
    g_error ("%s: golden.safetensors has no tensor \"%s\"", dir, name);
  g_assert_cmpint (t->n_elements, ==, (gint64) n);
  float *out = g_new (float, n);
  g_assert_true (omni_safetensors_to_f32 (ref, t, out, &error));
  g_assert_no_error (error);
  return out;
}

double
golden_rel_err (const float *ours, const float *ref, gsize n)
{
  double err = 0, scale = 0;

  for (gsize i = 0; i < n; i++) {
    err = MAX (err, fabs ((double) ours[i] - ref[i]));
    scale = MAX (scale, fabs ((double) ref[i]));
  }
  return scale > 0 ? err / scale : err;
}

int
golden_argmax (const float *x, int n)
{
  int best = 0;

  for (int i = 1; i < n; i++)
    if (x[i] > x[best])
      best = i;
  return best;
}

gint32 *
golden_json_ids (JsonObject *o, const char *member, gsize *n)
{
  JsonArray *a = json_object_get_array_member (o, member);

  g_assert_nonnull (a);
  *n = json_array_get_length (a);
  gint32 *ids = g_new (gint32, *n + 1);
  for (gsize i = 0; i < *n; i++)
    ids[i] = (gint32) json_array_get_int_element (a, i);
  return ids;
}

const char *
golden_parse_device (int *argc, char **argv)
{
  const char *device = "cpu";

  for (int i = 1; i < *argc; i++) {
    if (g_str_has_prefix (argv[i], "--device=")) {
      device = argv[i] + strlen ("--device=");
      memmove (&argv[i], &argv[i + 1], (*argc - i) * sizeof argv[0]);
      (*argc)--;
      i--;
    }
  }
  return device;
}

#define N_STEPS 32

void
golden_run_patched (const GoldenRun *r, const gint32 *prompt, gsize n_prompt,
                    const OmniEmbedPatch *patch, const int32_t *rope_pos, int rope_delta)
{
  int vocab = omni_model_config (r->model)->vocab_size;
  OmniStateOptions opt = { .max_context = (int) n_prompt + N_STEPS,
                           .max_batch_tokens = (int) n_prompt };
  GError *error = NULL;
  OmniModelState *st = omni_model_state_new (r->model, &opt, &error);
  g_assert_no_error (error);
  OmniKVPages *pages = omni_model_state_pages (st);
  g_assert_cmpint (omni_kv_pages_open (pages), ==, 0);
  g_assert_true (omni_kv_pages_reserve (pages, 0, (int) n_prompt, &error));
  g_autofree gint32 *pos = g_new (gint32, n_prompt);
  g_autofree gint32 *seq = g_new0 (gint32, n_prompt);
  for (gsize i = 0; i < n_prompt; i++)
    pos[i] = (gint32) i;
  OmniBatch batch;
  gint32 last = (gint32) n_prompt - 1, zero = 0;
  g_autofree float *logits = g_new (float, vocab);
  omni_model_state_batch (st, &batch, (int) n_prompt, pos, seq);
  batch.rope_pos = rope_pos;
  g_assert_true (omni_model_forward_patched (r->model, st, &batch, prompt, patch, 1, &last, 1,
                                             logits, &error));
  g_assert_no_error (error);

  g_autofree float *first = golden_ref_tensor (r->ref, r->dir, r->first_name, vocab);
  double e = golden_rel_err (logits, first, vocab), worst = 0;
  g_test_message ("%s: first logits rel err %.3g", r->label, e);
  g_assert_cmpfloat (e, <=, r->tol);
  g_autofree float *steps = golden_ref_tensor (r->ref, r->dir, r->steps_name,
                                               N_STEPS * r->n_subset);
  g_autofree float *sub = g_new (float, r->n_subset);
  for (int s = 0; s < N_STEPS; s++) {
    gint32 id = golden_argmax (logits, vocab);
    for (gsize j = 0; j < r->n_subset; j++)
      sub[j] = logits[r->subset[j]];
    double es = golden_rel_err (sub, steps + s * r->n_subset, r->n_subset);
    worst = MAX (worst, es);
    g_assert_cmpfloat (es, <=, r->tol);
    g_assert_cmpint (id, ==, r->greedy[s]);
    if (s + 1 == N_STEPS)
      break;
    gint32 p = (gint32) n_prompt + s, rp[3] = { p + rope_delta, p + rope_delta, p + rope_delta };
    g_assert_true (omni_kv_pages_reserve (pages, 0, p + 1, &error));
    omni_model_state_batch (st, &batch, 1, &p, &zero);
    batch.rope_pos = rope_pos ? rp : NULL;
    g_assert_true (omni_model_forward (r->model, st, &batch, &id, &zero, 1, logits, &error));
    g_assert_no_error (error);
  }
  g_test_message ("%s: 32 greedy ids equal, step logits worst rel err %.3g", r->label, worst);
  omni_model_state_free (st);
}
