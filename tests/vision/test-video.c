/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Video preprocessing against transformers' Qwen3VLVideoProcessor: the
 * golden 6-frame clip (tests/golden/images/clip, pixels_describe_clip of
 * tests/golden/qwen3-vl, its prompt's "<t seconds>" text) and a synthetic
 * 3-frame clip (data/pixels.safetensors: an odd count repeats the last
 * frame). Bit-exact, as test-image.c explains; wrong inputs: 0 and 1
 * frames, NULL frames, short strides. */
#include "vision/image.h"
#include "vision/video.h"
#include "io/safetensors.h"
#include "omnicore.h"
#include "vision-fixture.h"

#include <json-glib/json-glib.h>

static void
run_clip (const char *name, const OmniVisionProcConfig *cfg, const guint8 *const *frames, int n,
          int w, int h, gsize stride, const int *want_thw, const OmniSafeTensor *want)
{
  g_autoptr (GError) error = NULL;
  OmniVisionGrid grid;
  int ow, oh;

  g_assert_true (omni_video_plan (cfg, n, w, h, &ow, &oh, &grid, &error));
  g_assert_no_error (error);
  g_assert_cmpint (grid.t, ==, want_thw[0]);
  g_assert_cmpint (grid.h, ==, want_thw[1]);
  g_assert_cmpint (grid.w, ==, want_thw[2]);
  gsize count = omni_image_n_patches (&grid) * omni_image_patch_dim (cfg);
  g_autofree float *out = g_new (float, count);
  g_assert_true (omni_video_preprocess (cfg, frames, n, w, h, stride, &grid, out, &error));
  g_assert_no_error (error);
  g_assert_nonnull (want);
  g_assert_cmpint (want->n_elements, ==, (gint64) count);
  FixtureDiff d = fixture_compare (name, out, want->data, count);
  g_assert_cmpuint (d.above, ==, 0);
  g_assert_cmpfloat (d.max_abs, ==, 0.0);
}

static JsonObject *
find_case (JsonParser *parser, const char *path, const char *name)
{
  g_autoptr (GError) error = NULL;
  if (!json_parser_load_from_file (parser, path, &error))
    g_error ("%s: %s", path, error->message);
  JsonArray *cases = json_object_get_array_member (
      json_node_get_object (json_parser_get_root (parser)), "cases");
  for (guint i = 0; i < json_array_get_length (cases); i++) {
    JsonObject *c = json_array_get_object_element (cases, i);
    if (g_strcmp0 (json_object_get_string_member (c, "name"), name) == 0)
      return c;
  }
  g_error ("%s: no case %s", path, name);
  return NULL;
}

static void
grid_of (JsonObject *c, int thw[3])
{
  JsonArray *a = json_object_get_array_member (c, "grid_thw");
  for (int i = 0; i < 3; i++)
    thw[i] = (int) json_array_get_int_element (a, i);
}

/* The golden clip: 6 PNG frames of a 2 fps stream, sampled at 2 fps. */
static void
test_golden_clip (void)
{
  g_autofree char *dir = fixture_path ("golden", "qwen3-vl", NULL);
  g_autofree char *cfg_path = g_build_filename (dir, "video_preprocessor_config.json", NULL);
  g_autofree char *json_path = g_build_filename (dir, "golden.json", NULL);
  g_autofree char *st_path = g_build_filename (dir, "golden.safetensors", NULL);
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autoptr (GError) error = NULL;
  OmniVisionProcConfig cfg;
  GdkPixbuf *pb[6];
  const guint8 *frames[6];
  int n = 0, thw[3];

  g_assert_true (omni_vision_proc_config_load (cfg_path, TRUE, &cfg, &error));
  g_assert_no_error (error);
  JsonObject *c = find_case (parser, json_path, "describe_clip");
  JsonArray *src = json_object_get_array_member (c, "source");
  g_assert_cmpuint (json_array_get_length (src), ==, 6);
  g_autofree int *idx = omni_video_sample_indices (&cfg, 6, 2.0, &n, &error);
  g_assert_no_error (error);
  g_assert_cmpint (n, ==, 6);
  for (int i = 0; i < n; i++) {
    g_autofree char *png = g_build_filename (dir, json_array_get_string_element (src, idx[i]),
                                             NULL);
    pb[i] = fixture_png (png);
    frames[i] = gdk_pixbuf_get_pixels (pb[i]);
  }
  /* the prompt carries one "<t seconds>" per temporal group */
  double ts[3];
  g_assert_cmpint (omni_video_n_groups (&cfg, n), ==, 3);
  omni_video_timestamps (&cfg, idx, n, 2.0, ts);
  const char *prompt = json_object_get_string_member (c, "prompt_text");
  for (int g = 0; g < 3; g++) {
    g_autofree char *text = g_strdup_printf ("<%.1f seconds>", ts[g]);
    g_assert_nonnull (strstr (prompt, text));
  }
  g_assert_cmpfloat (ts[2], ==, 2.25);
  OmniSafetensors *st = omni_safetensors_open_file (st_path, &error);
  g_assert_no_error (error);
  grid_of (c, thw);
  run_clip ("describe_clip", &cfg, frames, n, gdk_pixbuf_get_width (pb[0]),
            gdk_pixbuf_get_height (pb[0]), gdk_pixbuf_get_rowstride (pb[0]), thw,
            omni_safetensors_get (st, "pixels_describe_clip"));
  omni_safetensors_free (st);
  for (int i = 0; i < n; i++)
    g_object_unref (pb[i]);
}

/* Three synthetic frames: the third is repeated to fill the second pair. */
static void
test_odd_clip (void)
{
  g_autofree char *json_path = fixture_path ("vision", "data", "pixels.json");
  g_autofree char *st_path = fixture_path ("vision", "data", "pixels.safetensors");
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autoptr (GError) error = NULL;
  OmniVisionProcConfig cfg;
  guint8 *owned[3];
  const guint8 *frames[3];
  int thw[3];

  JsonObject *c = find_case (parser, json_path, "odd_clip");
  int n = (int) json_object_get_int_member (c, "frames");
  int w = (int) json_object_get_int_member (c, "width");
  int h = (int) json_object_get_int_member (c, "height");
  g_assert_cmpint (n, ==, 3);
  g_autofree char *cfg_json = json_to_string (json_object_get_member (c, "config"), FALSE);
  g_assert_true (omni_vision_proc_config_parse ("odd_clip", cfg_json, -1, TRUE, &cfg, &error));
  g_assert_no_error (error);
  gsize stride = (gsize) w * 3 + 7;
  for (int f = 0; f < n; f++)
    frames[f] = owned[f] = fixture_picture (w, h, f, stride);
  OmniSafetensors *st = omni_safetensors_open_file (st_path, &error);
  g_assert_no_error (error);
  grid_of (c, thw);
  run_clip ("odd_clip", &cfg, frames, n, w, h, stride, thw,
            omni_safetensors_get (st, "pixels_odd_clip"));
  omni_safetensors_free (st);
  for (int f = 0; f < n; f++)
    g_free (owned[f]);
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
  guint8 px[64 * 64 * 3] = { 0 };
  const guint8 *frames[2] = { px, NULL };
  float out[16];
  int ow, oh;

  omni_vision_proc_config_init_video (&cfg);
  expect_invalid (omni_video_plan (&cfg, 0, 64, 64, &ow, &oh, &grid, &error), &error,
                  "0 frames");
  expect_invalid (omni_video_preprocess (&cfg, frames, 0, 64, 64, 192, &grid, out, &error),
                  &error, "0 frames");
  /* one frame cannot fill a temporal patch of 2 (transformers raises too) */
  expect_invalid (omni_video_plan (&cfg, 1, 64, 64, &ow, &oh, &grid, &error), &error,
                  "1 frames");
  g_assert_true (omni_video_plan (&cfg, 2, 64, 64, &ow, &oh, &grid, &error));
  expect_invalid (omni_video_preprocess (&cfg, frames, 2, 64, 64, 192, &grid, out, &error),
                  &error, "frame 1 is NULL");
  frames[1] = px;
  expect_invalid (omni_video_preprocess (&cfg, NULL, 2, 64, 64, 192, &grid, out, &error),
                  &error, "NULL");
  expect_invalid (omni_video_preprocess (&cfg, frames, 2, 64, 64, 0, &grid, out, &error),
                  &error, "stride");
  expect_invalid (omni_video_plan (&cfg, 4, 1, 1, &ow, &oh, &grid, &error), &error, "1x1");
  expect_invalid (omni_video_plan (&cfg, 4, 2, 900, &ow, &oh, &grid, &error), &error,
                  "aspect ratio");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/vision/video/golden-clip", test_golden_clip);
  g_test_add_func ("/vision/video/odd-clip", test_odd_clip);
  g_test_add_func ("/vision/video/wrong-inputs", test_wrong_inputs);
  return g_test_run ();
}
