/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* M-RoPE positions against transformers' Qwen3-Omni get_rope_index
 * (tests/golden/mrope.json, made by make_audio_golden.py): text, audio,
 * image, video and mixed prompts, batch rows with padding; Qwen3-VL's
 * (videos as timestamped blocks of one temporal group each); the errors. */
#include <string.h>
#include <json-glib/json-glib.h>
#include "omnicore.h"
#include "nn/mrope.h"

static const OmniMRopeSpec omni_spec = {
  .image_token_id = 151655, .video_token_id = 151656, .audio_token_id = 151675,
  .vision_start_token_id = 151652, .audio_start_token_id = 151669,
  .spatial_merge_size = 2, .position_id_per_seconds = 13,
};

static int
get_int (JsonArray *a, guint i)
{
  return (int) json_array_get_int_element (a, i);
}

/* The grids of @member ([n][3]) with their seconds per grid (@spg, 1 when
 * absent); with @split each video's temporal groups become grids of t = 1,
 * as Qwen3-VL lays a video out (one timestamped block per group). */
static OmniMRopeGrid *
grids_of (JsonObject *c, const char *member, const char *spg, gboolean split, int *n)
{
  JsonArray *g = json_object_has_member (c, member) ? json_object_get_array_member (c, member) : NULL;
  JsonArray *s = spg && json_object_has_member (c, spg) ? json_object_get_array_member (c, spg) : NULL;
  GArray *out = g_array_new (FALSE, FALSE, sizeof (OmniMRopeGrid));

  for (guint i = 0; g && i < json_array_get_length (g); i++) {
    JsonArray *thw = json_array_get_array_element (g, i);
    OmniMRopeGrid grid = { get_int (thw, 0), get_int (thw, 1), get_int (thw, 2),
                           s ? json_array_get_double_element (s, i) : 1.0 };
    int copies = split ? grid.t : 1;
    if (split)
      grid.t = 1;
    for (int k = 0; k < copies; k++)
      g_array_append_val (out, grid);
  }
  *n = (int) out->len;
  return (OmniMRopeGrid *) g_array_free (out, FALSE);
}

/* How many placeholder runs of @pad (after a vision start) @row holds. */
static int
count_runs (const int32_t *row, int n, int32_t pad)
{
  int k = 0;

  for (int i = 1; i < n; i++)
    k += row[i] == pad && row[i - 1] == omni_spec.vision_start_token_id;
  return k;
}

static void
check_case (JsonObject *c, gboolean qwen3_vl)
{
  JsonArray *ids = json_object_get_array_member (c, "input_ids");
  JsonArray *mask = json_object_get_array_member (c, "attention_mask");
  JsonArray *pos = json_object_get_array_member (c, "position_ids");
  JsonArray *deltas = json_object_get_array_member (c, "rope_deltas");
  int n_img, n_vid, img_at = 0, vid_at = 0;
  g_autofree OmniMRopeGrid *images = grids_of (c, "image_grid_thw", NULL, FALSE, &n_img);
  g_autofree OmniMRopeGrid *videos = grids_of (c, "video_grid_thw", "second_per_grids", qwen3_vl,
                                               &n_vid);

  for (guint b = 0; b < json_array_get_length (ids); b++) {
    JsonArray *row = json_array_get_array_element (ids, b);
    JsonArray *m = json_array_get_array_element (mask, b);
    guint len = json_array_get_length (row);
    g_autofree int32_t *tok = g_new (int32_t, len);
    g_autofree int *at = g_new (int, len);
    GError *error = NULL;
    int n = 0, delta = 0;

    for (guint i = 0; i < len; i++)
      if (get_int (m, i)) {
        at[n] = (int) i;
        tok[n++] = get_int (row, i);
      }
    int ni = count_runs (tok, n, omni_spec.image_token_id);
    int nv = count_runs (tok, n, omni_spec.video_token_id);
    g_assert_cmpint (img_at + ni, <=, n_img);
    g_assert_cmpint (vid_at + nv, <=, n_vid);
    g_autofree int32_t *out = g_new (int32_t, 3 * n);
    g_assert_true (omni_mrope_positions (&omni_spec, tok, n, images + img_at, ni, videos + vid_at,
                                         nv, out, &delta, &error));
    g_assert_no_error (error);
    img_at += ni;
    vid_at += nv;
    for (int axis = 0; axis < 3; axis++) {
      JsonArray *ref = json_array_get_array_element (json_array_get_array_element (pos, axis), b);
      for (int i = 0; i < n; i++)
        g_assert_cmpint (out[axis * n + i], ==, get_int (ref, (guint) at[i]));
    }
    g_assert_cmpint (delta, ==, get_int (json_array_get_array_element (deltas, b), 0));
  }
}

/* Every case of @section (qwen3_omni or qwen3_vl) of mrope.json. */
static void
test_golden (gconstpointer section)
{
  g_autofree char *path = g_build_filename (g_getenv ("OMNI_TEST_SRCDIR"), "golden", "mrope.json",
                                            NULL);
  g_autoptr (JsonParser) p = json_parser_new ();
  GError *error = NULL;

  json_parser_load_from_file (p, path, &error);
  g_assert_no_error (error);
  JsonArray *cases = json_object_get_array_member (json_node_get_object (json_parser_get_root (p)),
                                                   section);
  g_assert_cmpuint (json_array_get_length (cases), >=, 2);
  for (guint i = 0; i < json_array_get_length (cases); i++) {
    JsonObject *c = json_array_get_object_element (cases, i);
    g_test_message ("%s %s", (const char *) section, json_object_get_string_member (c, "name"));
    check_case (c, g_str_equal (section, "qwen3_vl"));
  }
}

static void
expect_error (const int32_t *tok, int n, const OmniMRopeGrid *img, int ni,
              const OmniMRopeGrid *vid, int nv, int code, const char *fragment)
{
  int32_t pos[3 * 16];
  int delta;
  GError *error = NULL;

  g_assert_false (omni_mrope_positions (&omni_spec, tok, n, img, ni, vid, nv, pos, &delta, &error));
  g_assert_error (error, OMNI_ERROR, code);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, fragment));
  g_error_free (error);
}

static void
test_errors (void)
{
  const int32_t VS = 151652, IMG = 151655, VID = 151656, VE = 151653, AS = 151669;
  const int32_t img4[] = { 1, VS, IMG, IMG, IMG, IMG, VE, 2 };
  const int32_t img3[] = { 1, VS, IMG, IMG, IMG, VE, 2 };
  const int32_t vid[] = { 1, VS, VID, VID, VE };
  const int32_t aiv[] = { VS, AS, 5, VE };
  OmniMRopeGrid g = { 1, 4, 4, 1.0 }, v = { 1, 2, 4, 0.5 };

  expect_error (img3, 7, &g, 1, NULL, 0, OMNI_ERROR_INVALID, "has 3 placeholder tokens");
  expect_error (img4, 8, NULL, 0, NULL, 0, OMNI_ERROR_INVALID, "more image placeholders");
  expect_error (img4, 8, &g, 1, &v, 1, OMNI_ERROR_INVALID, "1 video grids given");
  expect_error (vid, 5, NULL, 0, &v, 1, OMNI_ERROR_UNSUPPORTED, "6.5 positions");
  expect_error (aiv, 4, NULL, 0, NULL, 0, OMNI_ERROR_UNSUPPORTED, "use_audio_in_video");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_data_func ("/mrope/qwen3-omni", "qwen3_omni", test_golden);
  g_test_add_data_func ("/mrope/qwen3-vl", "qwen3_vl", test_golden);
  g_test_add_func ("/mrope/errors", test_errors);
  return g_test_run ();
}
