/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Golden test: our Qwen3 decoder against Hugging Face transformers
 * (fixtures made by make_golden.py; format in the golden brief): hidden
 * states per layer, first logits, 32 greedy steps (ids and logits on a
 * vocabulary subset), omni_generate's ids and the decoded text. Runs on the
 * cpu backend, or on the one named by --device=D (cuda-emu: the CUDA backend
 * through the emulator, same fixtures, same greedy ids).
 * Tolerance meaning: max_i |ours_i - ref_i| <= tol * max_i |ref_i|. */
#include <math.h>
#include <json-glib/json-glib.h>
#include "omnicore.h"
#include "golden-util.h"
#include "io/safetensors.h"
#include "nn/qwen3.h"
#include "runtime/generate.h"
#include "text/tokenizer.h"

#define N_STEPS 32

/* bf16 has 8 significant bits: each rounding of the bf16-compute reference
 * is off by up to u = 2^-8 relative. Along the path from the embedding to a
 * logit a dense layer rounds about 12 times in sequence (input norm, q/k/v,
 * q/k norm, rope, attention, o_proj, residual add, post norm, gate/up,
 * silu*up, down, residual add); with the final norm and lm_head that is
 * 12 L + 3 roundings. First-order error growth is at most their sum, so we
 * bound |ours(f32) - ref(bf16)| by (12 L + 3) u * max |ref| per step. */
#define BF16_U (1.0 / 256)

/* The CUDA backend runs bf16-weight matmuls on cuBLASLt with the activations
 * rounded to bf16 (f32 accumulation): 4 roundings per layer (the input of
 * q/k/v, of o_proj, of gate/up and of down) and one for lm_head, each off by
 * up to u. As above, the first-order drift from the f32 reference is at most
 * their sum: (4 L + 1) u of max |ref|. Greedy ids must still equal the cpu's.
 * f32 weights run f32 GEMMs there: the fixture's own tolerance applies. */

/* The backend under test ("cpu" unless --device=D). */
static const char *device = "cpu";

typedef struct {
  const char *name;
  gboolean bf16;
} GoldenCase;

static const GoldenCase cases[] = {
  { "qwen3-dense", FALSE },
  { "qwen3-dense-bf16", TRUE },
  { "qwen3-moe", FALSE },
};

typedef struct {
  char *dir;
  JsonParser *parser;
  JsonObject *json;
  OmniSafetensors *ref;
  OmniBackend *backend;
  OmniModel *model;
  int n_layers, hidden, vocab;
  /* captured hidden states of the prompt: embed, layers, final */
  float **captured;
  int n_prompt;
} Golden;

/* ---- helpers ---- */

static char *
golden_root (void)
{
  const char *env = g_getenv ("OMNI_GOLDEN_DIR");
  if (env && *env)
    return g_strdup (env);
  return g_build_filename (g_getenv ("OMNI_TEST_SRCDIR"), "golden", NULL);
}

static gboolean
close_enough (const float *ours, const float *ref, gsize n, double tol)
{
  return golden_rel_err (ours, ref, n) <= tol;
}

/* ---- setup ---- */

static gboolean
golden_open (Golden *g, const GoldenCase *c)
{
  g_autofree char *root = golden_root ();
  g_autofree char *json_path = NULL, *st_path = NULL;
  GError *error = NULL;

  memset (g, 0, sizeof *g);
  g->dir = g_build_filename (root, c->name, NULL);
  json_path = g_build_filename (g->dir, "golden.json", NULL);
  st_path = g_build_filename (g->dir, "golden.safetensors", NULL);
  if (!g_file_test (json_path, G_FILE_TEST_EXISTS)) {
    g_test_message ("%s: no fixture (run tests/golden/make_golden.py)", g->dir);
    g_test_fail ();
    g_free (g->dir);
    return FALSE;
  }
  g->parser = json_parser_new ();
  g_assert_true (json_parser_load_from_file (g->parser, json_path, &error));
  g_assert_no_error (error);
  g->json = json_node_get_object (json_parser_get_root (g->parser));
  g->ref = omni_safetensors_open_file (st_path, &error);
  g_assert_no_error (error);
  g->backend = omni_backend_open (device, &error);
  g_assert_no_error (error);
  g->model = omni_model_load (g->dir, g->backend, &error);
  g_assert_no_error (error);
  g->n_layers = omni_model_config (g->model)->num_hidden_layers;
  g->hidden = omni_model_config (g->model)->hidden_size;
  g->vocab = omni_model_config (g->model)->vocab_size;
  return TRUE;
}

static void
golden_close (Golden *g)
{
  for (int i = 0; g->captured && i < g->n_layers + 2; i++)
    g_free (g->captured[i]);
  g_free (g->captured);
  omni_model_free (g->model);
  omni_backend_close (g->backend);
  omni_safetensors_free (g->ref);
  g_object_unref (g->parser);
  g_free (g->dir);
}

static void
on_capture (int point, const OmniTensor *hidden, gpointer user_data)
{
  Golden *g = user_data;
  float **slot = &g->captured[point + 1];

  g_assert_cmpint (hidden->shape[0], ==, g->n_prompt);
  *slot = g_realloc (*slot, hidden->n_bytes);
  g->backend->ops->download (g->backend, hidden, *slot, hidden->n_bytes);
}

/* ---- checks ---- */

static void
check_hidden (Golden *g, double tol)
{
  gsize n = (gsize) g->n_prompt * g->hidden;

  for (int p = -1; p <= g->n_layers; p++) {
    g_autofree char *name = p < 0 ? g_strdup ("hidden_embed")
                          : p == g->n_layers ? g_strdup ("hidden_final")
                          : g_strdup_printf ("hidden_layer_%d", p);
    g_autofree float *ref = golden_ref_tensor (g->ref, g->dir, name, n);
    g_assert_nonnull (g->captured[p + 1]);
    double e = golden_rel_err (g->captured[p + 1], ref, n);
    g_test_message ("%s %s: rel err %.3g", g->dir, name, e);
    if (e > tol)
      g_error ("%s: %s differs: rel err %.3g > %.3g", g->dir, name, e, tol);
  }
}

/* The decode loop over omni_model_forward: prefill the prompt in one chunk
 * (so every capture point sees the whole prompt), then 32 greedy steps. */
static void
run_steps (Golden *g, const gint32 *prompt, gsize n_prompt, gint32 *ids, float *subset_logits,
           const gint32 *subset, gsize n_subset, float *first_logits, double *secs)
{
  OmniStateOptions opt = { .max_context = (int) n_prompt + N_STEPS, .max_batch_tokens = (int) n_prompt };
  GError *error = NULL;
  OmniModelState *st = omni_model_state_new (g->model, &opt, &error);
  OmniKVPages *pages;
  gint32 *pos = g_new (gint32, n_prompt), *seq = g_new0 (gint32, n_prompt), last = (int) n_prompt - 1;
  float *logits = g_new (float, g->vocab);
  OmniBatch batch;
  gint64 t0, t1, t2;

  g_assert_no_error (error);
  g->n_prompt = (int) n_prompt;
  g->captured = g_new0 (float *, g->n_layers + 2);
  omni_model_state_set_capture (st, on_capture, g);
  pages = omni_model_state_pages (st);
  g_assert_cmpint (omni_kv_pages_open (pages), ==, 0);
  g_assert_true (omni_kv_pages_reserve (pages, 0, (int) n_prompt, &error));
  for (gsize i = 0; i < n_prompt; i++)
    pos[i] = (gint32) i;
  omni_model_state_batch (st, &batch, (int) n_prompt, pos, seq);
  t0 = g_get_monotonic_time ();
  g_assert_true (omni_model_forward (g->model, st, &batch, prompt, &last, 1, logits, &error));
  g_assert_no_error (error);
  t1 = g_get_monotonic_time ();
  omni_model_state_set_capture (st, NULL, NULL);
  memcpy (first_logits, logits, g->vocab * sizeof (float));
  for (int s = 0; s < N_STEPS; s++) {
    ids[s] = golden_argmax (logits, g->vocab);
    for (gsize j = 0; j < n_subset; j++)
      subset_logits[s * n_subset + j] = logits[subset[j]];
    if (s + 1 == N_STEPS)
      break;
    gint32 p = (gint32) n_prompt + s, zero = 0;
    g_assert_true (omni_kv_pages_reserve (pages, 0, p + 1, &error));
    omni_model_state_batch (st, &batch, 1, &p, &zero);
    g_assert_true (omni_model_forward (g->model, st, &batch, &ids[s], &zero, 1, logits, &error));
    g_assert_no_error (error);
  }
  t2 = g_get_monotonic_time ();
  secs[0] = (t1 - t0) / 1e6;
  secs[1] = (t2 - t1) / 1e6;
  omni_model_state_free (st);
  g_free (pos);
  g_free (seq);
  g_free (logits);
}

static void
check_steps (Golden *g, const char *tensor, const float *ours, gsize n_subset, double tol)
{
  g_autofree float *ref = golden_ref_tensor (g->ref, g->dir, tensor, N_STEPS * n_subset);
  double worst = 0;
  for (int s = 0; s < N_STEPS; s++) {
    double e = golden_rel_err (ours + s * n_subset, ref + s * n_subset, n_subset);
    worst = MAX (worst, e);
    if (e > tol)
      g_error ("%s: %s step %d: rel err %.3g > %.3g", g->dir, tensor, s, e, tol);
  }
  g_test_message ("%s: %s worst rel err %.3g over %d steps", g->dir, tensor, worst, N_STEPS);
}

/* omni_generate (chunked prefill through the default state, then decode)
 * must give the same greedy ids. */
static void
check_generate (Golden *g, const gint32 *prompt, gsize n_prompt, const gint32 *greedy)
{
  OmniGenParams p;
  GError *error = NULL;
  GArray *ids = g_array_new (FALSE, FALSE, sizeof (gint32));

  omni_gen_params_init (&p, g->model);
  p.max_tokens = N_STEPS;
  p.n_stop = 0;   /* the fixtures were made without an eos stop */
  g_assert_true (omni_generate (g->model, prompt, n_prompt, &p, NULL, NULL, ids, NULL, &error));
  g_assert_no_error (error);
  g_assert_cmpmem (ids->data, ids->len * sizeof (gint32), greedy, N_STEPS * sizeof (gint32));
  g_array_free (ids, TRUE);
}

static void
check_text (Golden *g, const gint32 *greedy)
{
  g_autofree char *tj = g_build_filename (g->dir, "tokenizer.json", NULL);
  g_autofree char *tc = g_build_filename (g->dir, "tokenizer_config.json", NULL);
  GError *error = NULL;
  OmniTokenizer *tok = omni_tokenizer_load (tj, tc, &error);

  g_assert_no_error (error);
  g_autofree char *text = omni_tokenizer_decode (tok, greedy, N_STEPS, TRUE, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (text, ==, json_object_get_string_member (g->json, "greedy_text"));
  omni_tokenizer_free (tok);
}

static gboolean
in_subset (const gint32 *subset, gsize n, gint32 id)
{
  for (gsize j = 0; j < n; j++)
    if (subset[j] == id)
      return TRUE;
  return FALSE;
}

/* bf16-compute reference. Logits: within the rounding bound above at every
 * step where both runs have seen the same ids. Greedy ids: where our logits
 * are within d (max abs difference, measured) of the reference and the
 * reference's top-1 beats its top-2 by more than 2 d, no rounding can flip
 * the argmax, so the ids must agree; the first step where that margin is not
 * there (or the bf16 id is outside the stored subset) ends what the numbers
 * justify. Returns the number of leading steps that agree. */
static int
check_bf16 (Golden *g, const float *ours_subset, const gint32 *ours_ids, const gint32 *subset,
            gsize n_subset)
{
  gsize n_ids;
  g_autofree gint32 *ids_bf16 = golden_json_ids (g->json, "greedy_ids_bf16", &n_ids);
  g_autofree float *ref = golden_ref_tensor (g->ref, g->dir, "logits_steps_bf16", N_STEPS * n_subset);
  double tol = (12.0 * g->n_layers + 3) * BF16_U, worst = 0;
  int agree = 0, justified = 0;

  g_assert_cmpuint (n_ids, ==, N_STEPS);
  for (int s = 0; s < N_STEPS && agree == s; s++) {
    const float *r = ref + s * n_subset, *o = ours_subset + s * n_subset;
    double d = 0, top1 = -INFINITY, top2 = -INFINITY;
    for (gsize j = 0; j < n_subset; j++) {
      d = MAX (d, fabs ((double) o[j] - r[j]));
      if (r[j] > top1) {
        top2 = top1;
        top1 = r[j];
      } else if (r[j] > top2) {
        top2 = r[j];
      }
    }
    double e = golden_rel_err (o, r, n_subset);
    worst = MAX (worst, e);
    if (e > tol)
      g_error ("%s: bf16 reference step %d: rel err %.3g > bound %.3g", g->dir, s, e, tol);
    if (justified == s && top1 - top2 > 2 * d && in_subset (subset, n_subset, ids_bf16[s]))
      justified++;
    if (ours_ids[s] == ids_bf16[s])
      agree++;
  }
  g_test_message ("%s: bf16-compute reference: %d/%d leading greedy ids agree (%d required by "
                  "the margins), worst logits rel err %.3g (bound %.3g)", g->dir, agree, N_STEPS,
                  justified, worst, tol);
  if (agree < justified)
    g_error ("%s: greedy id of step %d differs from the bf16 run although its margin exceeds "
             "twice our distance to it", g->dir, agree);
  return agree;
}

static void
test_model (gconstpointer data)
{
  const GoldenCase *c = data;
  Golden g;
  gsize n_prompt, n_greedy, n_subset;
  double secs[2];

  if (!golden_open (&g, c))
    return;
  double tol = json_object_get_double_member (g.json, "rel_tol");
  g_assert_cmpfloat (tol, <=, 1e-4);
  if (c->bf16 && strcmp (device, "cpu") != 0)
    tol = MAX (tol, (4.0 * g.n_layers + 1) * BF16_U);
  g_autofree gint32 *prompt = golden_json_ids (g.json, "input_ids", &n_prompt);
  g_autofree gint32 *greedy = golden_json_ids (g.json, "greedy_ids", &n_greedy);
  g_autofree gint32 *subset = golden_json_ids (g.json, "subset_ids", &n_subset);
  g_autofree gint32 *ids = g_new (gint32, N_STEPS);
  g_autofree float *steps = g_new (float, N_STEPS * n_subset);
  g_autofree float *first = g_new (float, g.vocab);

  g_assert_cmpuint (n_greedy, ==, N_STEPS);
  run_steps (&g, prompt, n_prompt, ids, steps, subset, n_subset, first, secs);
  g_test_message ("%s: prefill %" G_GSIZE_FORMAT " tokens %.1f tok/s, decode %.1f tok/s", g.dir,
                  n_prompt, n_prompt / secs[0], (N_STEPS - 1) / secs[1]);
  check_hidden (&g, tol);
  g_autofree float *ref_first = golden_ref_tensor (g.ref, g.dir, "logits_first", g.vocab);
  double e = golden_rel_err (first, ref_first, g.vocab);
  g_test_message ("%s: logits_first rel err %.3g", g.dir, e);
  g_assert_cmpfloat (e, <=, tol);
  g_assert_cmpmem (ids, N_STEPS * sizeof (gint32), greedy, N_STEPS * sizeof (gint32));
  check_steps (&g, "logits_steps", steps, n_subset, tol);
  g_test_message ("%s on %s: tolerance %.3g", g.dir, device, tol);
  if (c->bf16)
    check_bf16 (&g, steps, ids, subset, n_subset);
  check_generate (&g, prompt, n_prompt, greedy);
  check_text (&g, greedy);
  golden_close (&g);
}

/* Negative control: the comparison rejects a logits vector with a single
 * element moved by 1e-3 of the largest magnitude (10x the tolerance), and
 * accepts it unchanged. */
static void
test_comparison_rejects (void)
{
  Golden g;

  if (!golden_open (&g, &cases[0]))
    return;
  double tol = json_object_get_double_member (g.json, "rel_tol");
  g_autofree float *ref = golden_ref_tensor (g.ref, g.dir, "logits_first", g.vocab);
  g_autofree float *ours = g_memdup2 (ref, g.vocab * sizeof (float));
  double scale = 0;
  for (int i = 0; i < g.vocab; i++)
    scale = MAX (scale, fabs (ref[i]));
  g_assert_true (close_enough (ours, ref, g.vocab, tol));
  ours[g.vocab / 2] += (float) (1e-3 * scale);
  g_assert_false (close_enough (ours, ref, g.vocab, tol));
  golden_close (&g);
}

int
main (int argc, char **argv)
{
  /* --device=D is ours; everything else is GTest's */
  device = golden_parse_device (&argc, argv);
  g_test_init (&argc, &argv, NULL);
  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++) {
    g_autofree char *path = g_strdup_printf ("/golden/%s", cases[i].name);
    g_test_add_data_func (path, &cases[i], test_model);
  }
  g_test_add_func ("/golden/comparison-rejects", test_comparison_rejects);
  return g_test_run ();
}
