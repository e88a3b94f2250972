/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Golden test of the vision path against transformers (fixtures made by
 * make_vision_golden.py: tiny Qwen3-VL, Qwen3-VL-MoE and the Qwen3-Omni
 * thinker, f32 weights): for every picture case the PNG goes through
 * vision/ preprocessing (pixels compared with the processor's), the vision
 * tower, the placeholder merge, DeepStack and M-RoPE; the first logits
 * (whole vocabulary) and 32 greedy steps (ids, and logits on a vocabulary
 * subset) match. Runs on the cpu backend, or on the one named by --device=D.
 * Tolerance meaning: max_i |ours_i - ref_i| <= tol * max_i |ref_i|; pixels
 * are compared absolutely (the resize is bit-exact, see vision/resize.h). */
#include <math.h>
#include <string.h>
#include <gdk-pixbuf/gdk-pixbuf.h>
#include <json-glib/json-glib.h>
#include "omnicore.h"
#include "golden-util.h"
#include "io/safetensors.h"
#include "nn/mrope.h"
#include "nn/qwen3.h"
#include "nn/vision-encoder.h"
#include "vision/image.h"

static const char *device = "cpu";

typedef struct {
  const char *model;
  const char *prefix;    /* of the fixture's keys: "" or "vision_" (Omni) */
} Fixture;

typedef struct {
  const Fixture *fx;
  char *dir;
  JsonParser *parser;
  JsonObject *json;
  OmniSafetensors *ref;
  OmniBackend *backend;
  OmniModel *model;
  OmniVisionEncoder *enc;
  OmniVisionProcConfig proc;
  int vocab;
} Golden;

static void
golden_open (Golden *g, const Fixture *fx)
{
  g->fx = fx;
  g->dir = g_build_filename (g_getenv ("OMNI_TEST_SRCDIR"), "golden", fx->model, NULL);
  g_autofree char *json = g_build_filename (g->dir, "golden.json", NULL);
  g_autofree char *st = g_build_filename (g->dir, "golden.safetensors", NULL);
  g_autofree char *pre = g_build_filename (g->dir, "preprocessor_config.json", NULL);
  GError *error = NULL;

  g->parser = json_parser_new ();
  g_assert_true (json_parser_load_from_file (g->parser, json, &error));
  g->json = json_node_get_object (json_parser_get_root (g->parser));
  g_assert_cmpfloat (json_object_get_double_member (g->json, "rel_tol"), ==, 1e-4);
  g->ref = omni_safetensors_open_file (st, &error);
  g_assert_no_error (error);
  g->backend = omni_backend_open (device, &error);
  g_assert_no_error (error);
  g->model = omni_model_load (g->dir, g->backend, &error);
  g_assert_no_error (error);
  g->enc = omni_vision_encoder_load (g->dir, g->backend, &error);
  g_assert_no_error (error);
  g_assert_true (omni_vision_proc_config_load (pre, FALSE, &g->proc, &error));
  g->vocab = omni_model_config (g->model)->vocab_size;
}

static void
golden_close (Golden *g)
{
  omni_vision_encoder_free (g->enc);
  omni_model_free (g->model);
  omni_backend_close (g->backend);
  omni_safetensors_free (g->ref);
  g_object_unref (g->parser);
  g_free (g->dir);
}

/* The picture of case @c through vision/: its patches and grid; the
 * pixels equal the processor's when the fixture keeps them here. */
static float *
preprocess (Golden *g, JsonObject *c, const char *name, OmniVisionGrid *grid)
{
  g_autofree char *png = g_build_filename (g->dir, json_object_get_string_member (c, "source"), NULL);
  GError *error = NULL;
  g_autoptr (GdkPixbuf) pb = gdk_pixbuf_new_from_file (png, &error);
  int w, h;

  g_assert_no_error (error);
  int width = gdk_pixbuf_get_width (pb), height = gdk_pixbuf_get_height (pb);
  g_assert_true (omni_image_plan (&g->proc, width, height, &w, &h, grid, &error));
  gsize n = omni_image_n_patches (grid) * omni_image_patch_dim (&g->proc);
  float *patches = g_new (float, n);
  g_assert_true (omni_image_preprocess (&g->proc, gdk_pixbuf_read_pixels (pb), width, height,
                                        (gsize) gdk_pixbuf_get_rowstride (pb), grid, patches,
                                        &error));
  g_autofree char *key = g_strconcat (g->fx->prefix, "pixels_", name, NULL);
  if (omni_safetensors_get (g->ref, key)) {
    g_autofree float *ref = golden_ref_tensor (g->ref, g->dir, key, n);
    double worst = 0;
    for (gsize i = 0; i < n; i++)
      worst = MAX (worst, fabs ((double) patches[i] - ref[i]));
    g_test_message ("%s %s: pixels max abs err %.3g", g->dir, name, worst);
    g_assert_cmpfloat (worst, <=, 1e-3);
  }
  return patches;
}

/* Keeps rows 0..n-1 of @src in a new backend tensor (the encoder reuses its
 * outputs on its next call). */
static void
keep (Golden *g, OmniTensor *dst, const OmniTensor *src)
{
  int n = (int) src->shape[0];
  g_autofree int32_t *rows = g_new (int32_t, n);
  GError *error = NULL;

  for (int i = 0; i < n; i++)
    rows[i] = i;
  g_assert_true (g->backend->ops->tensor_alloc (g->backend, dst, OMNI_DTYPE_F32, 2, src->shape,
                                                &error));
  g->backend->ops->get_rows (g->backend, dst, src, rows, n);
}

/* The M-RoPE positions ([3][n]) of @prompt with one image of @grid. */
static int32_t *
positions (Golden *g, const gint32 *prompt, int n, const OmniVisionGrid *grid, int *delta)
{
  const OmniVisionConfig *vc = omni_vision_encoder_config (g->enc);
  OmniMRopeSpec spec = { vc->image_token_id, vc->video_token_id, -1, vc->vision_start_token_id, -1,
                         vc->spatial_merge_size, 13 };
  OmniMRopeGrid mg = { grid->t, grid->h, grid->w, 1.0 };
  int32_t *pos = g_new (int32_t, 3 * n);
  GError *error = NULL;

  g_assert_true (omni_mrope_positions (&spec, prompt, n, &mg, 1, NULL, 0, pos, delta, &error));
  g_assert_no_error (error);
  return pos;
}

static void
run_case (Golden *g, JsonObject *c, const gint32 *subset, gsize n_subset)
{
  const char *name = json_object_get_string_member (c, "name");
  const OmniVisionConfig *vc = omni_vision_encoder_config (g->enc);
  gsize n_prompt, n_greedy;
  g_autofree gint32 *prompt = golden_json_ids (c, "input_ids", &n_prompt);
  g_autofree gint32 *greedy = golden_json_ids (c, "greedy_ids", &n_greedy);
  OmniVisionGrid grid;
  g_autofree float *patches = preprocess (g, c, name, &grid);
  const float *items[1] = { patches };
  OmniTensor *out = NULL, *ds[OMNI_MAX_DEEPSTACK] = { NULL };
  OmniTensor feat = { 0 }, deep[OMNI_MAX_DEEPSTACK] = { { 0 } };
  GError *error = NULL;
  int delta;

  g_assert_true (omni_vision_encoder_forward (g->enc, items, &grid, 1, &out, ds, &error));
  g_assert_no_error (error);
  keep (g, &feat, out);
  OmniEmbedPatch patch = { .src = &feat, .n_deepstack = vc->n_deepstack };
  for (int k = 0; k < vc->n_deepstack; k++) {
    keep (g, &deep[k], ds[k]);
    patch.deepstack[k] = &deep[k];
  }
  g_autofree int32_t *rows = g_new (int32_t, feat.shape[0]);
  for (gsize i = 0; i < n_prompt; i++)
    if (prompt[i] == vc->image_token_id)
      rows[patch.n++] = (int32_t) i;
  g_assert_cmpint (patch.n, ==, feat.shape[0]);
  patch.rows = rows;
  g_autofree int32_t *rope = positions (g, prompt, (int) n_prompt, &grid, &delta);

  g_autofree char *first_name = g_strconcat (g->fx->prefix, "logits_first_", name, NULL);
  g_autofree char *steps_name = g_strconcat (g->fx->prefix, "logits_steps_", name, NULL);
  g_autofree char *label = g_strdup_printf ("%s %s on %s", g->dir, name, device);
  GoldenRun run = { g->model, g->ref, g->dir, label, first_name, steps_name, subset, n_subset,
                    greedy, json_object_get_double_member (g->json, "rel_tol") };
  golden_run_patched (&run, prompt, n_prompt, &patch, rope, delta);
  g->backend->ops->tensor_free (g->backend, &feat);
  for (int k = 0; k < vc->n_deepstack; k++)
    g->backend->ops->tensor_free (g->backend, &deep[k]);
}

static void
test_model (gconstpointer data)
{
  const Fixture *fx = data;
  Golden g = { 0 };
  gsize n_subset;
  gboolean omni = *fx->prefix != '\0';

  golden_open (&g, fx);
  g_autofree gint32 *subset = golden_json_ids (g.json, omni ? "vision_subset_ids" : "subset_ids",
                                        &n_subset);
  JsonArray *cases = json_object_get_array_member (g.json, omni ? "vision_cases" : "cases");
  int n_run = 0;
  for (guint i = 0; i < json_array_get_length (cases); i++) {
    JsonObject *c = json_array_get_object_element (cases, i);
    /* clips: tests/runtime/test-engine-vision runs them through the engine */
    if (!g_str_equal (json_object_get_string_member (c, "kind"), "image"))
      continue;
    run_case (&g, c, subset, n_subset);
    n_run++;
  }
  g_assert_cmpint (n_run, ==, 4);
  golden_close (&g);
}

static const Fixture fixtures[] = {
  { "qwen3-vl", "" },
  { "qwen3-vl-moe", "" },
  { "qwen3-omni-thinker", "vision_" },
};

int
main (int argc, char **argv)
{
  /* --device=D is ours; everything else is GTest's */
  device = golden_parse_device (&argc, argv);
  g_test_init (&argc, &argv, NULL);
  for (gsize i = 0; i < G_N_ELEMENTS (fixtures); i++) {
    g_autofree char *path = g_strdup_printf ("/golden-vision/%s", fixtures[i].model);
    g_test_add_data_func (path, &fixtures[i], test_model);
  }
  return g_test_run ();
}
