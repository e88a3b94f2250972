/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The Qwen3-VL vision tower against transformers on the golden fixtures
 * (tests/golden/qwen3-vl, qwen3-vl-moe and the image cases of
 * qwen3-omni-thinker, made by make_vision_golden.py): the recorded
 * preprocessed pixels of each case in, the recorded merger output and
 * DeepStack features out; batched calls; the config parser; malformed
 * inputs and snapshots. Runs on the cpu backend or on the one named by
 * --device=D.
 * Tolerance meaning: max_i |ours_i - ref_i| <= tol * max_i |ref_i|. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include "omnicore.h"
#include "dtype.h"
#include "io/vision-config.h"
#include "io/safetensors.h"
#include "nn/vision-encoder.h"

/* Batched and separate calls run the same arithmetic per patch; only the
 * summation order of a backend's kernels may differ with the row count. */
#define SAME_TOL 1e-6

static const char *device = "cpu";

typedef struct {
  char *dir;
  JsonParser *parser;
  JsonObject *json;
  OmniSafetensors *ref;
  OmniSafetensors *pixels;   /* where pixels_<case> live: ref or "pixels_file" */
  OmniBackend *backend;
  OmniVisionEncoder *enc;
  double tol;
} Golden;

static char *
golden_path (const char *model, const char *file)
{
  return g_build_filename (g_getenv ("OMNI_TEST_SRCDIR"), "golden", model, file, NULL);
}

static void
golden_open (Golden *g, const char *model)
{
  GError *error = NULL;
  g_autofree char *json = golden_path (model, "golden.json");
  g_autofree char *st = golden_path (model, "golden.safetensors");

  memset (g, 0, sizeof *g);
  g->dir = golden_path (model, NULL);
  g->parser = json_parser_new ();
  g_assert_true (json_parser_load_from_file (g->parser, json, &error));
  g->json = json_node_get_object (json_parser_get_root (g->parser));
  g->tol = json_object_get_double_member (g->json, "rel_tol");
  g_assert_cmpfloat (g->tol, ==, 1e-4);
  g->ref = omni_safetensors_open_file (st, &error);
  g_assert_no_error (error);
  g->pixels = g->ref;
  if (json_object_has_member (g->json, "pixels_file")) {
    /* fixtures with the same preprocessing share one copy of the pixels */
    g_autofree char *pf = g_build_filename (g->dir, json_object_get_string_member (g->json,
                                            "pixels_file"), NULL);
    g->pixels = omni_safetensors_open_file (pf, &error);
    g_assert_no_error (error);
  }
  g->backend = omni_backend_open (device, &error);
  g_assert_no_error (error);
  g->enc = omni_vision_encoder_load (g->dir, g->backend, &error);
  g_assert_no_error (error);
}

static void
golden_close (Golden *g)
{
  omni_vision_encoder_free (g->enc);
  omni_backend_close (g->backend);
  if (g->pixels != g->ref)
    omni_safetensors_free (g->pixels);
  omni_safetensors_free (g->ref);
  g_object_unref (g->parser);
  g_free (g->dir);
}

/* The tensor @name of @st as f32 (free with g_free); its shape in @rows, @cols. */
static float *
st_tensor (OmniSafetensors *st, const char *what, const char *name, int *rows, int *cols)
{
  GError *error = NULL;
  const OmniSafeTensor *t = omni_safetensors_get (st, name);

  if (t == NULL)
    g_error ("%s has no %s", what, name);
  g_assert_cmpint (t->n_dims, ==, 2);
  float *out = g_new (float, t->n_elements);
  g_assert_true (omni_safetensors_to_f32 (st, t, out, &error));
  *rows = (int) t->shape[0];
  *cols = (int) t->shape[1];
  return out;
}

/* The recorded output @fmt (of @arg and @k) as f32; fixtures that add
 * vision cases to other cases prefix their names with "vision_". */
static float *
ref_tensor (Golden *g, int *rows, int *cols, const char *fmt, const char *arg, int k)
{
  g_autofree char *name = g_strdup_printf (fmt, arg, k);
  g_autofree char *prefixed = g_strconcat ("vision_", name, NULL);
  gboolean plain = omni_safetensors_get (g->ref, name) != NULL;

  return st_tensor (g->ref, g->dir, plain ? name : prefixed, rows, cols);
}

/* The recorded pixels of case @c: its "pixels" {file, tensor} when given,
 * else pixels_<name> of golden.safetensors or of the fixture's
 * "pixels_file" (fixtures with the same preprocessing share one copy). */
static float *
case_pixels (Golden *g, JsonObject *c, int *rows, int *cols)
{
  const char *name = json_object_get_string_member (c, "name");
  JsonObject *p = json_object_has_member (c, "pixels") ? json_object_get_object_member (c, "pixels")
                                                       : NULL;
  GError *error = NULL;

  if (p == NULL) {
    g_autofree char *tn = g_strconcat ("pixels_", name, NULL);
    return st_tensor (g->pixels, g->dir, tn, rows, cols);
  }
  g_autofree char *path = g_build_filename (g->dir, json_object_get_string_member (p, "file"), NULL);
  OmniSafetensors *st = omni_safetensors_open_file (path, &error);
  g_assert_no_error (error);
  float *out = st_tensor (st, path, json_object_get_string_member (p, "tensor"), rows, cols);
  omni_safetensors_free (st);
  return out;
}

/* max |ours - ref| / max |ref| */
static double
rel_error (const float *ours, const float *ref, size_t n)
{
  double err = 0, scale = 0;

  for (size_t i = 0; i < n; i++) {
    if (isnan (ours[i]))
      return INFINITY;
    err = MAX (err, fabs ((double) ours[i] - ref[i]));
    scale = MAX (scale, fabs ((double) ref[i]));
  }
  return scale > 0 ? err / scale : err;
}

/* The image and video cases of golden.json (those with a "grid_thw"):
 * its "cases", or "vision_cases" / "image_cases" where a fixture keeps
 * them apart from its audio cases. Free with g_ptr_array_unref. */
static GPtrArray *
vision_cases (Golden *g)
{
  static const char *const keys[] = { "cases", "vision_cases", "image_cases" };
  GPtrArray *out = g_ptr_array_new ();

  for (gsize k = 0; k < G_N_ELEMENTS (keys); k++) {
    if (!json_object_has_member (g->json, keys[k]))
      continue;
    JsonArray *a = json_object_get_array_member (g->json, keys[k]);
    for (guint i = 0; i < json_array_get_length (a); i++) {
      JsonObject *c = json_array_get_object_element (a, i);
      if (json_object_has_member (c, "grid_thw"))
        g_ptr_array_add (out, c);
    }
  }
  return out;
}

static JsonObject *
case_entry (Golden *g, const char *name)
{
  g_autoptr (GPtrArray) cases = vision_cases (g);

  for (guint i = 0; i < cases->len; i++) {
    JsonObject *c = g_ptr_array_index (cases, i);
    if (g_str_equal (json_object_get_string_member (c, "name"), name))
      return c;
  }
  g_error ("%s: no case %s in golden.json", g->dir, name);
}

static OmniVisionGrid
case_grid (JsonObject *c)
{
  JsonArray *a = json_object_get_array_member (c, "grid_thw");
  OmniVisionGrid grid;

  g_assert_cmpint (json_array_get_length (a), ==, 3);
  grid.t = (int) json_array_get_int_element (a, 0);
  grid.h = (int) json_array_get_int_element (a, 1);
  grid.w = (int) json_array_get_int_element (a, 2);
  return grid;
}

/* Downloads @t (backend memory) into a new host array. */
static float *
download (Golden *g, const OmniTensor *t)
{
  float *host = g_malloc (t->n_bytes);

  g->backend->ops->download (g->backend, t, host, t->n_bytes);
  return host;
}

/* Encodes @n items; the output and (when @ds is not NULL) the DeepStack
 * features on the host (free with g_free). */
static float *
encode (Golden *g, const float *const *pix, const OmniVisionGrid *grids, int n, int *n_rows,
        float **ds)
{
  GError *error = NULL;
  OmniTensor *out = NULL, *dst[OMNI_VISION_MAX_DEEPSTACK] = { NULL };
  const OmniVisionConfig *cfg = omni_vision_encoder_config (g->enc);

  g_assert_true (omni_vision_encoder_forward (g->enc, pix, grids, n, &out, dst, &error));
  g_assert_no_error (error);
  g_assert_cmpint (out->n_dims, ==, 2);
  g_assert_cmpint (out->shape[1], ==, cfg->out_hidden_size);
  *n_rows = (int) out->shape[0];
  for (int k = 0; ds && k < cfg->n_deepstack; k++) {
    g_assert_nonnull (dst[k]);
    g_assert_cmpint (dst[k]->shape[0], ==, out->shape[0]);
    g_assert_cmpint (dst[k]->shape[1], ==, cfg->out_hidden_size);
    ds[k] = download (g, dst[k]);
  }
  return download (g, out);
}

/* ---- golden: each case alone from its recorded pixels ---- */

static void
check_case (Golden *g, JsonObject *c)
{
  const char *name = json_object_get_string_member (c, "name");
  const OmniVisionConfig *cfg = omni_vision_encoder_config (g->enc);
  OmniVisionGrid grid = case_grid (c);
  int pr, pc, rr, rc, n;
  g_autofree float *pix = case_pixels (g, c, &pr, &pc);
  g_autofree float *ref = ref_tensor (g, &rr, &rc, "vision_%s", name, 0);
  float *ds[OMNI_VISION_MAX_DEEPSTACK] = { NULL };
  const float *one[1] = { pix };

  g_assert_cmpint (pr, ==, grid.t * grid.h * grid.w);
  g_assert_cmpint (pc, ==, omni_vision_config_patch_dim (cfg));
  g_assert_cmpint (omni_vision_config_n_tokens (cfg, &grid), ==,
                   json_object_get_int_member (c, "n_vision_tokens"));
  g_autofree float *ours = encode (g, one, &grid, 1, &n, ds);
  g_assert_cmpint (n, ==, rr);
  g_assert_cmpint (rc, ==, cfg->out_hidden_size);
  double err = rel_error (ours, ref, (size_t) n * rc), worst = 0;
  for (int k = 0; k < cfg->n_deepstack; k++) {
    int dr, dc;
    g_autofree float *dref = ref_tensor (g, &dr, &dc, "deepstack_%s_%d", name, k);
    g_assert_cmpint (dr, ==, n);
    g_assert_cmpint (dc, ==, rc);
    worst = MAX (worst, rel_error (ds[k], dref, (size_t) n * rc));
    g_free (ds[k]);
  }
  g_test_message ("%s %s on %s: grid (%d, %d, %d), %d tokens, max rel error %.3g, DeepStack %.3g "
                  "(tol %.0e)", g->dir, name, device, grid.t, grid.h, grid.w, n, err, worst,
                  g->tol);
  g_assert_cmpfloat (err, <=, g->tol);
  g_assert_cmpfloat (worst, <=, g->tol);
  /* the comparison can fail: one element off by twice the tolerance */
  double scale = 0;
  for (int i = 0; i < n * rc; i++)
    scale = MAX (scale, fabs (ref[i]));
  ours[(n * rc) / 2] += (float) (2 * g->tol * scale);
  g_assert_cmpfloat (rel_error (ours, ref, (size_t) n * rc), >, g->tol);
}

static void
test_golden (gconstpointer data)
{
  Golden g;
  gboolean video = FALSE;

  golden_open (&g, data);
  g_autoptr (GPtrArray) cases = vision_cases (&g);
  g_assert_cmpint (cases->len, >=, 3);
  for (guint i = 0; i < cases->len; i++) {
    JsonObject *c = g_ptr_array_index (cases, i);
    check_case (&g, c);
    video |= case_grid (c).t > 1;
  }
  /* every fixture has a clip of several temporal groups */
  g_assert_true (video);
  golden_close (&g);
}

/* ---- batch: every case in one call, and transformers' image batch ---- */

static void
test_batch (gconstpointer data)
{
  Golden g;
  golden_open (&g, data);
  g_autoptr (GPtrArray) cases = vision_cases (&g);
  int n_items = (int) cases->len, cols = 0, total = 0, n;
  const OmniVisionConfig *cfg = omni_vision_encoder_config (g.enc);
  float **pix = g_new0 (float *, n_items), **single = g_new0 (float *, n_items);
  float **ds_single = g_new0 (float *, (size_t) n_items * cfg->n_deepstack);
  int *rows = g_new0 (int, n_items);
  OmniVisionGrid *grids = g_new0 (OmniVisionGrid, n_items);
  float *ds[OMNI_VISION_MAX_DEEPSTACK] = { NULL };

  for (int i = 0; i < n_items; i++) {
    JsonObject *c = g_ptr_array_index (cases, i);
    int pr, pc;
    pix[i] = case_pixels (&g, c, &pr, &pc);
    grids[i] = case_grid (c);
    single[i] = encode (&g, (const float *const *) &pix[i], &grids[i], 1, &rows[i],
                        ds_single + (size_t) i * cfg->n_deepstack);
    total += rows[i];
  }
  cols = cfg->out_hidden_size;
  /* all cases in one call, images and clips mixed: each as alone */
  g_autofree float *batch = encode (&g, (const float *const *) pix, grids, n_items, &n, ds);
  g_assert_cmpint (n, ==, total);
  double worst = 0;
  for (int i = 0, r = 0; i < n_items; r += rows[i], i++) {
    worst = MAX (worst, rel_error (batch + (size_t) r * cols, single[i], (size_t) rows[i] * cols));
    for (int k = 0; k < cfg->n_deepstack; k++)
      worst = MAX (worst, rel_error (ds[k] + (size_t) r * cols,
                                     ds_single[(size_t) i * cfg->n_deepstack + k],
                                     (size_t) rows[i] * cols));
  }
  g_test_message ("%s: %d items in one call on %s: batched vs separate %.3g", g.dir, n_items,
                  device, worst);
  g_assert_cmpfloat (worst, <=, SAME_TOL);

  /* transformers' batch of the cases listed in "vision_batch" */
  JsonObject *vb = json_object_has_member (g.json, "vision_batch")
                   ? json_object_get_object_member (g.json, "vision_batch") : NULL;
  /* the VL fixtures record it; the Omni image cases do not */
  g_assert_true (vb != NULL || g_str_equal (data, "qwen3-omni-thinker"));
  if (vb) {
    JsonArray *names = json_object_get_array_member (vb, "cases");
    int m = (int) json_array_get_length (names), br, bc, nb;
    g_autofree const float **bp = g_new0 (const float *, m);
    g_autofree OmniVisionGrid *bg = g_new0 (OmniVisionGrid, m);
    for (int j = 0; j < m; j++) {
      const char *name = json_array_get_string_element (names, j);
      for (int i = 0; i < n_items; i++) {
        JsonObject *c = g_ptr_array_index (cases, i);
        if (g_str_equal (json_object_get_string_member (c, "name"), name)) {
          bp[j] = pix[i];
          bg[j] = grids[i];
        }
      }
      g_assert_nonnull (bp[j]);
    }
    g_autofree float *bref = ref_tensor (&g, &br, &bc, "vision_batch", NULL, 0);
    g_autofree float *ours = encode (&g, bp, bg, m, &nb, NULL);
    g_assert_cmpint (nb, ==, br);
    double err = rel_error (ours, bref, (size_t) nb * bc);
    g_test_message ("%s: transformers' batch of %d images on %s: max rel error %.3g", g.dir, m,
                    device, err);
    g_assert_cmpfloat (err, <=, g.tol);
  }
  for (int i = 0; i < n_items; i++) {
    g_free (pix[i]);
    g_free (single[i]);
    for (int k = 0; k < cfg->n_deepstack; k++)
      g_free (ds_single[(size_t) i * cfg->n_deepstack + k]);
  }
  for (int k = 0; k < cfg->n_deepstack; k++)
    g_free (ds[k]);
  g_free (pix);
  g_free (single);
  g_free (ds_single);
  g_free (rows);
  g_free (grids);
  golden_close (&g);
}

/* ---- config ---- */

static void
expect_config_error (const char *json, int code, const char *needle)
{
  OmniVisionConfig cfg;
  GError *error = NULL;

  g_assert_false (omni_vision_config_parse ("test.json", json, -1, &cfg, &error));
  g_assert_error (error, OMNI_ERROR, code);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, "test.json"));
  g_assert_nonnull (strstr (error->message, needle));
  g_error_free (error);
}

static void
test_config (void)
{
  OmniVisionConfig cfg;
  GError *error = NULL;
  g_autofree char *vl = golden_path ("qwen3-vl", "config.json");
  g_autofree char *omni = golden_path ("qwen3-omni-thinker", "config.json");
  g_autofree char *dense = golden_path ("qwen3-dense", "config.json");
  g_autofree char *asr = golden_path ("qwen3-asr", "config.json");

  g_assert_true (omni_vision_config_load (vl, &cfg, &error));
  g_assert_no_error (error);
  g_assert_cmpint (cfg.layout, ==, OMNI_VISION_LAYOUT_VL);
  g_assert_cmpint (cfg.depth, ==, 3);
  g_assert_cmpint (cfg.hidden_size, ==, 16);
  g_assert_cmpint (cfg.num_heads, ==, 2);
  g_assert_cmpint (cfg.intermediate_size, ==, 32);
  g_assert_true (cfg.gelu_tanh);
  g_assert_cmpint (cfg.out_hidden_size, ==, 4);
  g_assert_cmpint (cfg.num_position_embeddings, ==, 16);
  g_assert_cmpint (cfg.pos_side, ==, 4);
  g_assert_cmpint (cfg.n_deepstack, ==, 2);
  g_assert_cmpint (cfg.deepstack_visual_indexes[1], ==, 1);
  g_assert_cmpfloat (cfg.rope_theta, ==, 10000.0);
  g_assert_cmpint (cfg.image_token_id, ==, 151655);
  g_assert_cmpint (cfg.video_token_id, ==, 151656);
  g_assert_cmpstr (cfg.tower_prefix, ==, "model.visual.");
  g_assert_cmpstr (cfg.merger_fc1, ==, "linear_fc1");
  g_assert_cmpstr (cfg.deepstack_list, ==, "deepstack_merger_list");
  g_assert_cmpint (omni_vision_config_patch_dim (&cfg), ==, 1536);
  OmniVisionGrid grid = { 3, 4, 6 };
  g_assert_cmpint (omni_vision_config_n_tokens (&cfg, &grid), ==, 18);

  g_assert_true (omni_vision_config_load (omni, &cfg, &error));
  g_assert_no_error (error);
  g_assert_cmpint (cfg.layout, ==, OMNI_VISION_LAYOUT_OMNI);
  g_assert_cmpint (cfg.depth, ==, 1);
  g_assert_cmpint (cfg.out_hidden_size, ==, 8);
  g_assert_cmpint (cfg.pos_side, ==, 2);
  g_assert_cmpstr (cfg.tower_prefix, ==, "thinker.visual.");
  g_assert_cmpstr (cfg.merger_norm, ==, "ln_q");
  g_assert_cmpstr (cfg.merger_fc2, ==, "mlp.2");
  g_assert_cmpstr (cfg.deepstack_list, ==, "merger_list");
  g_assert_cmpint (cfg.vision_start_token_id, ==, 151652);

  /* class defaults fill what is left out (a bare Omni thinker) */
  g_assert_true (omni_vision_config_parse ("test.json",
      "{\"model_type\": \"qwen3_omni_moe_thinker\", \"vision_config\": {}}", -1, &cfg, &error));
  g_assert_no_error (error);
  g_assert_cmpstr (cfg.tower_prefix, ==, "visual.");
  g_assert_cmpint (cfg.depth, ==, 27);
  g_assert_cmpint (cfg.hidden_size, ==, 1152);
  g_assert_cmpint (cfg.pos_side, ==, 48);
  g_assert_cmpint (cfg.n_deepstack, ==, 3);
  g_assert_cmpint (cfg.deepstack_visual_indexes[2], ==, 24);
  g_assert_true (cfg.gelu_tanh);
  /* older configs: rope_theta at the top of vision_config */
  g_assert_true (omni_vision_config_parse ("test.json",
      "{\"model_type\": \"qwen3_vl_moe\", \"vision_config\": {\"rope_theta\": 500.0,"
      " \"hidden_act\": \"gelu\", \"deepstack_visual_indexes\": []}}", -1, &cfg, &error));
  g_assert_cmpfloat (cfg.rope_theta, ==, 500.0);
  g_assert_false (cfg.gelu_tanh);
  g_assert_cmpint (cfg.n_deepstack, ==, 0);

  /* no vision tower */
  g_assert_false (omni_vision_config_load (dense, &cfg, &error));
  g_assert_error (error, OMNI_ERROR, OMNI_ERROR_UNSUPPORTED);
  g_assert_nonnull (strstr (error->message, "has no vision encoder (vision_config)"));
  g_assert_nonnull (strstr (error->message, dense));
  g_clear_error (&error);
  g_assert_false (omni_vision_config_load (asr, &cfg, &error));
  g_assert_error (error, OMNI_ERROR, OMNI_ERROR_UNSUPPORTED);
  g_assert_nonnull (strstr (error->message, "has no vision encoder (vision_config)"));
  g_clear_error (&error);
  g_assert_false (omni_vision_config_load ("/nonexistent/config.json", &cfg, &error));
  g_assert_error (error, OMNI_ERROR, OMNI_ERROR_IO);
  g_clear_error (&error);

#define VL_CFG(v) "{\"model_type\": \"qwen3_vl\", \"vision_config\": {" v "}}"
  expect_config_error ("{\"model_type\": \"qwen3_omni_moe\", \"thinker_config\": {}}",
                       OMNI_ERROR_UNSUPPORTED, "no vision encoder");
  expect_config_error ("{\"model_type\": \"qwen2_5_vl\", \"vision_config\": {}}",
                       OMNI_ERROR_UNSUPPORTED, "qwen2_5_vl");
  expect_config_error (VL_CFG ("\"model_type\": \"qwen2_5_vl\""), OMNI_ERROR_UNSUPPORTED,
                       "vision_config.model_type");
  expect_config_error (VL_CFG ("\"hidden_act\": \"silu\""), OMNI_ERROR_UNSUPPORTED,
                       "vision_config.hidden_act");
  expect_config_error (VL_CFG ("\"hidden_act\": 3"), OMNI_ERROR_FORMAT, "hidden_act");
  expect_config_error (VL_CFG ("\"hidden_size\": \"x\""), OMNI_ERROR_FORMAT, "hidden_size");
  expect_config_error (VL_CFG ("\"hidden_size\": 1000"), OMNI_ERROR_FORMAT, "hidden_size");
  expect_config_error (VL_CFG ("\"hidden_size\": 48, \"num_heads\": 8"), OMNI_ERROR_FORMAT,
                       "divisible by 4");
  expect_config_error (VL_CFG ("\"depth\": 0"), OMNI_ERROR_FORMAT, "depth");
  expect_config_error (VL_CFG ("\"patch_size\": [16, 16]"), OMNI_ERROR_FORMAT, "patch_size");
  expect_config_error (VL_CFG ("\"num_position_embeddings\": 2300"), OMNI_ERROR_FORMAT,
                       "not the square");
  expect_config_error (VL_CFG ("\"deepstack_visual_indexes\": [8, 27]"), OMNI_ERROR_FORMAT,
                       "deepstack_visual_indexes");
  expect_config_error (VL_CFG ("\"deepstack_visual_indexes\": [16, 8]"), OMNI_ERROR_FORMAT,
                       "entry 1");
  expect_config_error (VL_CFG ("\"deepstack_visual_indexes\": 8"), OMNI_ERROR_FORMAT,
                       "deepstack_visual_indexes");
  expect_config_error (VL_CFG ("\"rope_parameters\": {\"rope_type\": \"yarn\"}"),
                       OMNI_ERROR_UNSUPPORTED, "rope_type");
  expect_config_error (VL_CFG ("\"rope_parameters\": {\"rope_theta\": 0}"), OMNI_ERROR_FORMAT,
                       "rope_theta");
  expect_config_error ("{\"model_type\": \"qwen3_vl\", \"image_token_id\": -1, "
                       "\"vision_config\": {}}", OMNI_ERROR_FORMAT, "image_token_id");
  expect_config_error ("{\"model_type\": \"qwen3_omni_moe\", \"thinker_config\": "
                       "{\"vision_config\": {\"spatial_merge_size\": 0}}}", OMNI_ERROR_FORMAT,
                       "thinker_config.vision_config.spatial_merge_size");
  expect_config_error ("{\"vision_config\": 3, \"model_type\": \"qwen3_vl\"}", OMNI_ERROR_FORMAT,
                       "vision_config");
  expect_config_error ("[1]", OMNI_ERROR_FORMAT, "JSON object");
  expect_config_error ("{", OMNI_ERROR_FORMAT, "test.json");
#undef VL_CFG
}

/* ---- bad input and bad snapshots ---- */

static void
expect_forward_error (Golden *g, const float *const *pix, const OmniVisionGrid *grids, int n,
                      const char *needle)
{
  GError *error = NULL;
  OmniTensor *out = NULL;

  g_assert_false (omni_vision_encoder_forward (g->enc, pix, grids, n, &out, NULL, &error));
  g_assert_error (error, OMNI_ERROR, OMNI_ERROR_INVALID);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, needle));
  g_error_free (error);
}

static void
test_bad_input (void)
{
  Golden g;
  int pr, pc, rr, rc, n;

  golden_open (&g, "qwen3-vl");
  JsonObject *c = case_entry (&g, "describe_ball");
  OmniVisionGrid grid = case_grid (c);
  g_autofree float *pix = case_pixels (&g, c, &pr, &pc);
  g_autofree float *ref = ref_tensor (&g, &rr, &rc, "vision_%s", "describe_ball", 0);
  const float *one[1] = { pix }, *two[2] = { pix, pix }, *none[1] = { NULL };
  OmniVisionGrid odd = { 1, grid.h + 1, grid.w }, zero_t = { 0, grid.h, grid.w };
  OmniVisionGrid pair[2] = { grid, { 1, grid.h, 3 } };
  /* the limit is checked before any value is read */
  OmniVisionGrid huge = { 1, 256, OMNI_VISION_MAX_PATCHES / 256 + 2 };
  OmniVisionGrid halves[2] = { { 1, 256, OMNI_VISION_MAX_PATCHES / 512 },
                               { 1, 256, OMNI_VISION_MAX_PATCHES / 512 + 2 } };

  expect_forward_error (&g, one, &grid, 0, "at least one image or clip");
  expect_forward_error (&g, one, NULL, 1, "got 1 (grids NULL)");
  expect_forward_error (&g, NULL, &grid, 1, "got 1 (patches NULL)");
  expect_forward_error (&g, none, &grid, 1, "patches NULL");
  expect_forward_error (&g, one, &odd, 1, "multiples of spatial_merge_size 2");
  expect_forward_error (&g, one, &zero_t, 1, "item 0: grid (t 0");
  expect_forward_error (&g, two, pair, 2, "item 1: grid (t 1");
  expect_forward_error (&g, one, &huge, 1, "the caller must split");
  expect_forward_error (&g, two, halves, 2, "item 1 brings the call to");
  /* sides whose product would overflow 64 bits */
  OmniVisionGrid wild = { G_MAXINT - 1, G_MAXINT - 1, G_MAXINT - 1 };
  expect_forward_error (&g, one, &wild, 1, "is beyond the limit of 65536 patches");
  pix[7 * pc + 5] = NAN;
  expect_forward_error (&g, one, &grid, 1, "item 0: value 5 of patch 7 is nan");
  pix[7 * pc + 5] = -INFINITY;
  expect_forward_error (&g, two, (OmniVisionGrid[]) { grid, grid }, 2, "item 0: value 5");
  /* still usable afterwards */
  g_autofree float *fresh = case_pixels (&g, c, &pr, &pc);
  one[0] = fresh;
  g_autofree float *ours = encode (&g, one, &grid, 1, &n, NULL);
  g_assert_cmpint (n, ==, rr);
  g_assert_cmpfloat (rel_error (ours, ref, (size_t) n * rc), <=, g.tol);
  golden_close (&g);
}

/* Copies the qwen3-vl snapshot (config.json, model.safetensors) into a new
 * directory, leaving out the tensor @drop and giving @grow one more row. */
static char *
write_variant (const char *drop, const char *grow)
{
  GError *error = NULL;
  g_autofree char *src_cfg = golden_path ("qwen3-vl", "config.json");
  g_autofree char *src_st = golden_path ("qwen3-vl", "model.safetensors");
  char *dir = g_dir_make_tmp ("omni-vision-enc-XXXXXX", &error);
  g_autofree char *cfg_path = g_build_filename (dir, "config.json", NULL);
  g_autofree char *st_path = g_build_filename (dir, "model.safetensors", NULL);
  g_autofree char *cfg = NULL;
  gsize len;
  GString *hdr = g_string_new ("{");
  guint64 off = 0;

  g_assert_no_error (error);
  g_assert_true (g_file_get_contents (src_cfg, &cfg, &len, NULL));
  g_assert_true (g_file_set_contents (cfg_path, cfg, len, NULL));
  OmniSafetensors *st = omni_safetensors_open_file (src_st, &error);
  g_assert_no_error (error);
  for (guint i = 0; i < omni_safetensors_count (st); i++) {
    const OmniSafeTensor *t = omni_safetensors_nth (st, i);
    gboolean gr = grow && g_str_equal (t->name, grow);
    size_t n = t->n_bytes + (gr ? t->n_bytes / t->shape[0] : 0);
    if (drop && g_str_equal (t->name, drop))
      continue;
    g_string_append_printf (hdr, "%s\"%s\": {\"dtype\": \"%s\", \"shape\": [",
                            hdr->len > 1 ? ", " : "", t->name, omni_dtype_name (t->dtype));
    for (int d = 0; d < t->n_dims; d++)
      g_string_append_printf (hdr, "%s%" G_GINT64_FORMAT, d ? ", " : "",
                              t->shape[d] + (gr && d == 0 ? 1 : 0));
    g_string_append_printf (hdr, "], \"data_offsets\": [%" G_GUINT64_FORMAT ", %"
                            G_GUINT64_FORMAT "]}", off, off + n);
    off += n;
  }
  g_string_append (hdr, "}");
  while (hdr->len % 8)
    g_string_append_c (hdr, ' ');
  FILE *f = fopen (st_path, "wb");
  g_assert_nonnull (f);
  guint64 hl = GUINT64_TO_LE (hdr->len);
  fwrite (&hl, 8, 1, f);
  fwrite (hdr->str, 1, hdr->len, f);
  for (guint i = 0; i < omni_safetensors_count (st); i++) {
    const OmniSafeTensor *t = omni_safetensors_nth (st, i);
    if (drop && g_str_equal (t->name, drop))
      continue;
    fwrite (t->data, 1, t->n_bytes, f);
    if (grow && g_str_equal (t->name, grow))
      fwrite (t->data, 1, t->n_bytes / t->shape[0], f);
  }
  fclose (f);
  omni_safetensors_free (st);
  g_string_free (hdr, TRUE);
  return dir;
}

static void
remove_variant (char *dir)
{
  g_autofree char *a = g_build_filename (dir, "config.json", NULL);
  g_autofree char *b = g_build_filename (dir, "model.safetensors", NULL);

  g_unlink (a);
  g_unlink (b);
  g_rmdir (dir);
  g_free (dir);
}

static void
expect_load_error (OmniBackend *b, const char *dir, int code, const char *needle)
{
  GError *error = NULL;

  g_assert_null (omni_vision_encoder_load (dir, b, &error));
  g_assert_error (error, OMNI_ERROR, code);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, needle));
  g_error_free (error);
}

static void
test_bad_snapshot (void)
{
  GError *error = NULL;
  OmniBackend *b = omni_backend_open (device, &error);
  g_autofree char *dense = golden_path ("qwen3-dense", NULL);
  static const char *const drops[] = {
    "model.visual.blocks.2.attn.qkv.bias", "model.visual.pos_embed.weight",
    "model.visual.deepstack_merger_list.1.norm.weight", "model.visual.merger.linear_fc2.weight",
    "model.visual.patch_embed.proj.bias",
  };
  static const char *const grows[] = {
    "model.visual.patch_embed.proj.weight", "model.visual.pos_embed.weight",
    "model.visual.blocks.0.mlp.linear_fc1.weight",
  };

  g_assert_no_error (error);
  expect_load_error (b, dense, OMNI_ERROR_UNSUPPORTED, "has no vision encoder (vision_config)");
  expect_load_error (b, "/nonexistent", OMNI_ERROR_IO, "config.json");
  for (gsize i = 0; i < G_N_ELEMENTS (drops); i++) {
    char *dir = write_variant (drops[i], NULL);
    expect_load_error (b, dir, OMNI_ERROR_FORMAT, drops[i]);
    remove_variant (dir);
  }
  for (gsize i = 0; i < G_N_ELEMENTS (grows); i++) {
    char *dir = write_variant (NULL, grows[i]);
    expect_load_error (b, dir, OMNI_ERROR_FORMAT, grows[i]);
    remove_variant (dir);
  }
  /* the unchanged copy loads */
  char *dir = write_variant (NULL, NULL);
  OmniVisionEncoder *e = omni_vision_encoder_load (dir, b, &error);
  g_assert_no_error (error);
  omni_vision_encoder_free (e);
  remove_variant (dir);
  omni_backend_close (b);
}

int
main (int argc, char **argv)
{
  static const char *models[] = { "qwen3-vl", "qwen3-vl-moe", "qwen3-omni-thinker" };

  /* --device=D is ours; everything else is GTest's */
  for (int i = 1; i < argc; i++) {
    if (g_str_has_prefix (argv[i], "--device=")) {
      device = argv[i] + strlen ("--device=");
      memmove (&argv[i], &argv[i + 1], (argc - i) * sizeof argv[0]);
      argc--;
      i--;
    }
  }
  g_test_init (&argc, &argv, NULL);
  for (gsize i = 0; i < G_N_ELEMENTS (models); i++) {
    g_autofree char *p1 = g_strdup_printf ("/vision-encoder/golden/%s", models[i]);
    g_autofree char *p2 = g_strdup_printf ("/vision-encoder/batch/%s", models[i]);
    g_test_add_data_func (p1, models[i], test_golden);
    g_test_add_data_func (p2, models[i], test_batch);
  }
  g_test_add_func ("/vision-encoder/config", test_config);
  g_test_add_func ("/vision-encoder/bad-input", test_bad_input);
  g_test_add_func ("/vision-encoder/bad-snapshot", test_bad_snapshot);
  return g_test_run ();
}
