/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Image preprocessing against transformers' Qwen2VLImageProcessor
 * (torchvision backend, the v5 default):
 * - the golden pictures (tests/golden/images, PNG decoded by gdk-pixbuf)
 *   against pixels_<case> of tests/golden/qwen3-vl/golden.safetensors
 *   (make_vision_golden.py, the fixtures' real preprocessor_config.json);
 * - synthetic pictures (data/pixels.safetensors, make_vision_fixture.py):
 *   upscaling, downscaling, a mixed case, CLIP mean/std, an unchanged size,
 *   each read through a padded row stride.
 *
 * Tolerance. The issue allows 1e-3 and one 8-bit step on resampling edges
 * (1 / 127.5 = 0.0078 after normalisation). We need neither: resize.c runs
 * the uint8 kernel torchvision runs (same int16 weights, same fixed-point
 * rounding, same pass order), so the 8-bit pixels are identical, and the
 * float32 normalisation is the same two float32 operations in the same
 * order. Measured on every case: max abs error 0, 0 elements above 1e-3
 * (g_test_message prints both). We assert exactly that, so a one-step
 * resampling difference (0.0078) fails the test rather than hiding in a
 * tolerance. */
#include "vision/image.h"
#include "vision/resize.h"
#include "io/safetensors.h"
#include "omnicore.h"
#include "vision-fixture.h"

#include <json-glib/json-glib.h>

/* Requires a bit-exact match (see the header comment). */
static void
assert_exact (const char *what, const float *got, const OmniSafeTensor *want, gsize n)
{
  g_assert_cmpint (want->n_elements, ==, (gint64) n);
  FixtureDiff d = fixture_compare (what, got, want->data, n);
  g_assert_cmpuint (d.above, ==, 0);
  g_assert_cmpfloat (d.max_abs, ==, 0.0);
}

static JsonObject *
load_json (JsonParser *parser, const char *path)
{
  g_autoptr (GError) error = NULL;
  if (!json_parser_load_from_file (parser, path, &error))
    g_error ("%s: %s", path, error->message);
  return json_node_get_object (json_parser_get_root (parser));
}

static void
check_grid (const OmniVisionGrid *grid, JsonArray *thw)
{
  g_assert_cmpint (grid->t, ==, json_array_get_int_element (thw, 0));
  g_assert_cmpint (grid->h, ==, json_array_get_int_element (thw, 1));
  g_assert_cmpint (grid->w, ==, json_array_get_int_element (thw, 2));
}

/* Plans and preprocesses @rgb, compares with @want. */
static void
run_case (const char *name, const OmniVisionProcConfig *cfg, const guint8 *rgb, int w, int h,
          gsize stride, JsonArray *thw, const OmniSafeTensor *want)
{
  g_autoptr (GError) error = NULL;
  OmniVisionGrid grid;
  int ow, oh;

  g_assert_true (omni_image_plan (cfg, w, h, &ow, &oh, &grid, &error));
  g_assert_no_error (error);
  check_grid (&grid, thw);
  gsize n = omni_image_n_patches (&grid) * omni_image_patch_dim (cfg);
  g_autofree float *out = g_new (float, n);
  g_assert_true (omni_image_preprocess (cfg, rgb, w, h, stride, &grid, out, &error));
  g_assert_no_error (error);
  assert_exact (name, out, want, n);
}

static void
test_golden_pictures (void)
{
  g_autofree char *dir = fixture_path ("golden", "qwen3-vl", NULL);
  g_autofree char *cfg_path = g_build_filename (dir, "preprocessor_config.json", NULL);
  g_autofree char *json_path = g_build_filename (dir, "golden.json", NULL);
  g_autofree char *st_path = g_build_filename (dir, "golden.safetensors", NULL);
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autoptr (GError) error = NULL;
  OmniVisionProcConfig cfg;
  int checked = 0;

  g_assert_true (omni_vision_proc_config_load (cfg_path, FALSE, &cfg, &error));
  g_assert_no_error (error);
  OmniSafetensors *st = omni_safetensors_open_file (st_path, &error);
  g_assert_no_error (error);
  JsonArray *cases = json_object_get_array_member (load_json (parser, json_path), "cases");
  for (guint i = 0; i < json_array_get_length (cases); i++) {
    JsonObject *c = json_array_get_object_element (cases, i);
    if (g_strcmp0 (json_object_get_string_member (c, "kind"), "image") != 0)
      continue;
    const char *name = json_object_get_string_member (c, "name");
    g_autofree char *png = g_build_filename (dir, json_object_get_string_member (c, "source"),
                                             NULL);
    g_autofree char *key = g_strdup_printf ("pixels_%s", name);
    GdkPixbuf *pb = fixture_png (png);
    run_case (name, &cfg, gdk_pixbuf_get_pixels (pb), gdk_pixbuf_get_width (pb),
              gdk_pixbuf_get_height (pb), gdk_pixbuf_get_rowstride (pb),
              json_object_get_array_member (c, "grid_thw"), omni_safetensors_get (st, key));
    g_object_unref (pb);
    checked++;
  }
  g_assert_cmpint (checked, >=, 4);
  omni_safetensors_free (st);
}

static void
test_synthetic_pictures (void)
{
  g_autofree char *json_path = fixture_path ("vision", "data", "pixels.json");
  g_autofree char *st_path = fixture_path ("vision", "data", "pixels.safetensors");
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autoptr (GError) error = NULL;
  int checked = 0;

  OmniSafetensors *st = omni_safetensors_open_file (st_path, &error);
  g_assert_no_error (error);
  JsonArray *cases = json_object_get_array_member (load_json (parser, json_path), "cases");
  for (guint i = 0; i < json_array_get_length (cases); i++) {
    JsonObject *c = json_array_get_object_element (cases, i);
    if (g_strcmp0 (json_object_get_string_member (c, "kind"), "image") != 0)
      continue;
    const char *name = json_object_get_string_member (c, "name");
    int w = (int) json_object_get_int_member (c, "width");
    int h = (int) json_object_get_int_member (c, "height");
    g_autofree char *cfg_json = json_to_string (json_object_get_member (c, "config"), FALSE);
    g_autofree char *key = g_strdup_printf ("pixels_%s", name);
    OmniVisionProcConfig cfg;
    g_assert_true (omni_vision_proc_config_parse (name, cfg_json, -1, FALSE, &cfg, &error));
    g_assert_no_error (error);
    gsize stride = (gsize) w * 3 + 5;
    g_autofree guint8 *rgb = fixture_picture (w, h, 0, stride);
    run_case (name, &cfg, rgb, w, h, stride, json_object_get_array_member (c, "grid_thw"),
              omni_safetensors_get (st, key));
    checked++;
  }
  g_assert_cmpint (checked, ==, 5);
  omni_safetensors_free (st);
}

/* The row order: patch (row, col) of the grid must land at its merge-block
 * row, checked on a picture whose every patch is one solid gray level. */
static void
test_merge_order (void)
{
  OmniVisionProcConfig cfg;
  OmniVisionGrid grid = { 1, 4, 6 };
  int P = 16, W = 6 * P, H = 4 * P;
  g_autofree guint8 *rgb = g_malloc ((gsize) W * H * 3);
  g_autoptr (GError) error = NULL;

  omni_vision_proc_config_init_image (&cfg);
  cfg.min_pixels = cfg.max_pixels = W * H;
  for (int y = 0; y < H; y++)
    for (int x = 0; x < W; x++)
      for (int c = 0; c < 3; c++)
        rgb[((gsize) y * W + x) * 3 + c] = (guint8) ((y / P) * 6 + (x / P) + 100 * c);
  gsize dim = omni_image_patch_dim (&cfg);
  g_assert_cmpuint (dim, ==, 1536);
  g_autofree float *out = g_new (float, 24 * dim);
  g_assert_true (omni_image_preprocess (&cfg, rgb, W, H, (gsize) W * 3, &grid, out, &error));
  g_assert_no_error (error);
  for (int r = 0; r < 24; r++) {
    int blk = r / 4, bh = blk / 3, bw = blk % 3, mh = (r % 4) / 2, mw = r % 2;
    int level = (bh * 2 + mh) * 6 + bw * 2 + mw;
    for (int c = 0; c < 3; c++) {
      float want = ((float) (level + 100 * c) - 127.5f) / 127.5f;
      /* channel c spans T * P * P values, both temporal copies included */
      for (int k = 0; k < 2 * P * P; k++)
        g_assert_cmpfloat (out[r * dim + c * 2 * P * P + k], ==, want);
    }
  }
}

static void
expect_invalid (gboolean ok, GError **error, const char *needle)
{
  g_assert_false (ok);
  g_assert_error (*error, OMNI_ERROR, OMNI_ERROR_INVALID);
  if (strstr ((*error)->message, needle) == NULL)
    g_error ("message \"%s\" lacks \"%s\"", (*error)->message, needle);
  g_clear_error (error);
}

static void
test_wrong_inputs (void)
{
  OmniVisionProcConfig cfg;
  OmniVisionGrid grid = { 1, 2, 2 };
  g_autoptr (GError) error = NULL;
  guint8 px[3 * 600] = { 0 };
  float out[4 * 1536];
  int ow, oh;

  omni_vision_proc_config_init_image (&cfg);
  expect_invalid (omni_image_plan (&cfg, 1, 1, &ow, &oh, &grid, &error), &error, "1x1");
  expect_invalid (omni_image_preprocess (&cfg, px, 1, 1, 3, &grid, out, &error), &error, "1x1");
  expect_invalid (omni_image_plan (&cfg, 500, 2, &ow, &oh, &grid, &error), &error,
                  "aspect ratio");
  expect_invalid (omni_image_preprocess (&cfg, NULL, 4, 4, 12, &grid, out, &error), &error,
                  "NULL");
  expect_invalid (omni_image_preprocess (&cfg, px, 4, 4, 12, &grid, NULL, &error), &error,
                  "NULL");
  expect_invalid (omni_image_preprocess (&cfg, px, 4, 4, 0, &grid, out, &error), &error,
                  "stride");
  /* a grid that is not the plan's */
  expect_invalid (omni_image_preprocess (&cfg, px, 4, 4, 12, &grid, out, &error), &error,
                  "grid");
  cfg.do_resize = FALSE;
  expect_invalid (omni_image_plan (&cfg, 40, 32, &ow, &oh, &grid, &error), &error,
                  "do_resize");
}

/* 3000x2000 against a 65536-pixel budget: scaled down, not an error. */
static void
test_far_above_budget (void)
{
  OmniVisionProcConfig cfg;
  OmniVisionGrid grid;
  g_autoptr (GError) error = NULL;
  int W = 3000, H = 2000, ow, oh;
  g_autofree guint8 *rgb = fixture_picture (W, H, 0, (gsize) W * 3);

  omni_vision_proc_config_init_image (&cfg);
  cfg.min_pixels = 8192;
  cfg.max_pixels = 65536;
  g_assert_true (omni_image_plan (&cfg, W, H, &ow, &oh, &grid, &error));
  g_assert_no_error (error);
  /* sqrt(6e6 / 65536) = 9.57: floor(313.5 / 32) * 32 x floor(209 / 32) * 32 */
  g_assert_cmpint (ow, ==, 288);
  g_assert_cmpint (oh, ==, 192);
  g_assert_cmpint (grid.h, ==, 12);
  g_assert_cmpint (grid.w, ==, 18);
  gsize n = omni_image_n_patches (&grid) * omni_image_patch_dim (&cfg);
  g_autofree float *out = g_new (float, n);
  g_assert_true (omni_image_preprocess (&cfg, rgb, W, H, (gsize) W * 3, &grid, out, &error));
  g_assert_no_error (error);
  for (gsize i = 0; i < n; i++)
    g_assert_true (out[i] >= -1.0f && out[i] <= 1.0f);
}

static void
test_resize_arguments (void)
{
  g_autoptr (GError) error = NULL;
  guint8 src[12] = { 0 }, dst[48];
  gsize bytes = omni_image_resize_scratch_size (2, 2, 4, 4);
  g_autofree gpointer scratch = g_malloc (bytes);

  g_assert_cmpuint (bytes, >, 0);
  g_assert_cmpuint (omni_image_resize_scratch_size (0, 2, 4, 4), ==, 0);
  expect_invalid (omni_image_resize (src, 2, 2, 0, dst, 4, 4, 12, scratch, &error), &error,
                  "stride");
  expect_invalid (omni_image_resize (NULL, 2, 2, 6, dst, 4, 4, 12, scratch, &error), &error,
                  "NULL");
  expect_invalid (omni_image_resize (src, 2, 2, 6, dst, 4, 4, 12, NULL, &error), &error,
                  "NULL");
  expect_invalid (omni_image_resize (src, 0, 2, 6, dst, 4, 4, 12, scratch, &error), &error,
                  "0x2");
  /* a flat picture stays flat whatever the scale */
  memset (src, 77, sizeof src);
  g_assert_true (omni_image_resize (src, 2, 2, 6, dst, 4, 4, 12, scratch, &error));
  for (int i = 0; i < 48; i++)
    g_assert_cmpint (dst[i], ==, 77);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/vision/image/golden-pictures", test_golden_pictures);
  g_test_add_func ("/vision/image/synthetic-pictures", test_synthetic_pictures);
  g_test_add_func ("/vision/image/merge-order", test_merge_order);
  g_test_add_func ("/vision/image/wrong-inputs", test_wrong_inputs);
  g_test_add_func ("/vision/image/far-above-budget", test_far_above_budget);
  g_test_add_func ("/vision/image/resize-arguments", test_resize_arguments);
  return g_test_run ();
}
