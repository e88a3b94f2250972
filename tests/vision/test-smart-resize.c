/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Image and video smart_resize, frame sampling and timestamps against the
 * table make_vision_fixture.py computed with transformers' own functions
 * (data/smart_resize.json): sizes must be identical, "error" rows must
 * fail with OMNI_ERROR_INVALID, timestamps agree to 1e-12 s. */
#include "vision/image.h"
#include "vision/video.h"
#include "omnicore.h"

#include <json-glib/json-glib.h>
#include <math.h>
#include <string.h>

static JsonObject *table;

static gint64
at (JsonArray *row, guint i)
{
  return json_array_get_int_element (row, i);
}

static gboolean
is_error_row (JsonArray *row, guint i)
{
  JsonNode *n = json_array_get_element (row, i);
  return json_node_get_value_type (n) == G_TYPE_STRING;
}

static void
test_image (void)
{
  JsonArray *rows = json_object_get_array_member (table, "image");
  guint n = json_array_get_length (rows), errors = 0;

  g_assert_cmpuint (n, >, 100);
  for (guint r = 0; r < n; r++) {
    JsonArray *row = json_array_get_array_element (rows, r);
    g_autoptr (GError) error = NULL;
    int oh = -1, ow = -1;
    gboolean ok = omni_image_smart_resize (at (row, 0), at (row, 1), (int) at (row, 2),
                                           at (row, 3), at (row, 4), &oh, &ow, &error);
    if (is_error_row (row, 5)) {
      g_assert_false (ok);
      g_assert_error (error, OMNI_ERROR, OMNI_ERROR_INVALID);
      g_assert_nonnull (strstr (error->message, "aspect ratio"));
      errors++;
      continue;
    }
    g_assert_no_error (error);
    if (oh != at (row, 5) || ow != at (row, 6))
      g_error ("row %u: %" G_GINT64_FORMAT "x%" G_GINT64_FORMAT " factor %" G_GINT64_FORMAT
               " [%" G_GINT64_FORMAT ", %" G_GINT64_FORMAT "]: got %dx%d, want %"
               G_GINT64_FORMAT "x%" G_GINT64_FORMAT, r, at (row, 0), at (row, 1), at (row, 2),
               at (row, 3), at (row, 4), oh, ow, at (row, 5), at (row, 6));
  }
  g_assert_cmpuint (errors, >, 0);
}

static void
test_video (void)
{
  JsonArray *rows = json_object_get_array_member (table, "video");
  int factor = (int) json_object_get_int_member (table, "video_factor");
  int tf = (int) json_object_get_int_member (table, "video_temporal_factor");
  guint n = json_array_get_length (rows), errors = 0;

  for (guint r = 0; r < n; r++) {
    JsonArray *row = json_array_get_array_element (rows, r);
    g_autoptr (GError) error = NULL;
    int oh = -1, ow = -1;
    gboolean ok = omni_video_smart_resize ((int) at (row, 0), at (row, 1), at (row, 2), tf,
                                           factor, at (row, 3), at (row, 4), &oh, &ow, &error);
    if (is_error_row (row, 5)) {
      g_assert_false (ok);
      g_assert_error (error, OMNI_ERROR, OMNI_ERROR_INVALID);
      errors++;
      continue;
    }
    g_assert_no_error (error);
    if (oh != at (row, 5) || ow != at (row, 6))
      g_error ("video row %u: t %" G_GINT64_FORMAT " %" G_GINT64_FORMAT "x%" G_GINT64_FORMAT
               ": got %dx%d, want %" G_GINT64_FORMAT "x%" G_GINT64_FORMAT, r, at (row, 0),
               at (row, 1), at (row, 2), oh, ow, at (row, 5), at (row, 6));
  }
  g_assert_cmpuint (errors, >, 0);
}

static void
check_sampling (JsonObject *o)
{
  OmniVisionProcConfig cfg;
  g_autoptr (GError) error = NULL;
  int n = 0, total = (int) json_object_get_int_member (o, "total");
  double vfps = json_object_get_double_member (o, "video_fps");
  JsonArray *want = json_object_get_array_member (o, "indices");
  JsonArray *want_ts = json_object_get_array_member (o, "timestamps");

  omni_vision_proc_config_init_video (&cfg);
  cfg.fps = json_object_get_double_member (o, "fps");
  cfg.min_frames = (int) json_object_get_int_member (o, "min_frames");
  cfg.max_frames = (int) json_object_get_int_member (o, "max_frames");
  g_autofree int *idx = omni_video_sample_indices (&cfg, total, vfps, &n, &error);
  g_assert_no_error (error);
  g_assert_cmpint (n, ==, (int) json_array_get_length (want));
  for (int i = 0; i < n; i++)
    g_assert_cmpint (idx[i], ==, (int) json_array_get_int_element (want, i));
  int groups = omni_video_n_groups (&cfg, n);
  g_assert_cmpint (groups, ==, (int) json_array_get_length (want_ts));
  g_autofree double *ts = g_new (double, groups);
  omni_video_timestamps (&cfg, idx, n, vfps, ts);
  for (int g = 0; g < groups; g++)
    g_assert_cmpfloat_with_epsilon (ts[g], json_array_get_double_element (want_ts, g), 1e-12);
}

static void
test_sampling (void)
{
  JsonArray *rows = json_object_get_array_member (table, "sampling");

  g_assert_cmpuint (json_array_get_length (rows), >, 20);
  for (guint r = 0; r < json_array_get_length (rows); r++)
    check_sampling (json_array_get_object_element (rows, r));
}

static void
test_sampling_errors (void)
{
  OmniVisionProcConfig cfg;
  g_autoptr (GError) error = NULL;
  int n = -1;

  omni_vision_proc_config_init_video (&cfg);
  g_assert_null (omni_video_sample_indices (&cfg, 0, 30.0, &n, &error));
  g_assert_error (error, OMNI_ERROR, OMNI_ERROR_INVALID);
  g_assert_nonnull (strstr (error->message, "0 frames"));
  g_clear_error (&error);
  g_assert_null (omni_video_sample_indices (&cfg, 10, 0.0, &n, &error));
  g_assert_error (error, OMNI_ERROR, OMNI_ERROR_INVALID);
  g_clear_error (&error);
  g_assert_null (omni_video_sample_indices (&cfg, 10, NAN, &n, &error));
  g_assert_error (error, OMNI_ERROR, OMNI_ERROR_INVALID);
  g_assert_cmpint (n, ==, -1);
}

static void
test_bad_arguments (void)
{
  g_autoptr (GError) error = NULL;
  int oh, ow;

  g_assert_false (omni_image_smart_resize (0, 10, 32, 1, 100, &oh, &ow, &error));
  g_assert_error (error, OMNI_ERROR, OMNI_ERROR_INVALID);
  g_clear_error (&error);
  g_assert_false (omni_image_smart_resize (10, 10, 0, 1, 100, &oh, &ow, &error));
  g_assert_error (error, OMNI_ERROR, OMNI_ERROR_INVALID);
  g_clear_error (&error);
  /* aspect exactly 200 passes, just above fails */
  g_assert_true (omni_image_smart_resize (1, 200, 32, 1, 1 << 30, &oh, &ow, &error));
  g_assert_false (omni_image_smart_resize (1000, 200001, 32, 1, 1 << 30, &oh, &ow, &error));
  g_assert_error (error, OMNI_ERROR, OMNI_ERROR_INVALID);
  g_clear_error (&error);
  g_assert_false (omni_video_smart_resize (1, 64, 64, 2, 32, 1, 1 << 30, &oh, &ow, &error));
  g_assert_error (error, OMNI_ERROR, OMNI_ERROR_INVALID);
  g_assert_nonnull (strstr (error->message, "1 frames"));
}

int
main (int argc, char **argv)
{
  g_autofree char *path = g_build_filename (g_getenv ("OMNI_TEST_SRCDIR"), "vision", "data",
                                            "smart_resize.json", NULL);
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autoptr (GError) error = NULL;

  g_test_init (&argc, &argv, NULL);
  if (!json_parser_load_from_file (parser, path, &error))
    g_error ("%s: %s", path, error->message);
  table = json_node_get_object (json_parser_get_root (parser));
  g_test_add_func ("/vision/smart-resize/image", test_image);
  g_test_add_func ("/vision/smart-resize/video", test_video);
  g_test_add_func ("/vision/smart-resize/sampling", test_sampling);
  g_test_add_func ("/vision/smart-resize/sampling-errors", test_sampling_errors);
  g_test_add_func ("/vision/smart-resize/bad-arguments", test_bad_arguments);
  return g_test_run ();
}
