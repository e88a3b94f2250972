/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* RoPE tables (default, linear, YaRN) against values transformers computed
 * (rope-fixture.json, made by make_rope_fixture.py). Each case's config is
 * written to a config.json and read back through io/config, as a model load
 * would. */
#include <math.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include "omnicore.h"
#include "nn/rope.h"

static JsonArray *
load_cases (JsonParser *parser)
{
  g_autofree char *path = g_build_filename (g_getenv ("OMNI_TEST_SRCDIR"), "nn",
                                            "rope-fixture.json", NULL);
  GError *error = NULL;

  g_assert_true (json_parser_load_from_file (parser, path, &error));
  g_assert_no_error (error);
  return json_object_get_array_member (json_node_get_object (json_parser_get_root (parser)),
                                       "cases");
}

/* Writes @cfg_node as dir/config.json and parses it. */
static void
config_from_json (JsonNode *cfg_node, OmniTextConfig *cfg)
{
  g_autofree char *dir = g_dir_make_tmp ("omni-rope-XXXXXX", NULL);
  g_autofree char *path = g_build_filename (dir, "config.json", NULL);
  g_autofree char *text = json_to_string (cfg_node, FALSE);
  GError *error = NULL;

  g_assert_true (g_file_set_contents (path, text, -1, NULL));
  g_assert_true (omni_text_config_load (path, cfg, &error));
  g_assert_no_error (error);
  g_unlink (path);
  g_rmdir (dir);
}

/* Largest relative error of @ours against @ref. */
static double
max_rel_err (const float *ours, JsonArray *ref, int n)
{
  double worst = 0;
  for (int i = 0; i < n; i++) {
    double r = json_array_get_double_element (ref, i);
    worst = MAX (worst, fabs (ours[i] - r) / fabs (r));
  }
  return worst;
}

static void
test_fixture (void)
{
  g_autoptr (JsonParser) parser = json_parser_new ();
  JsonArray *cases = load_cases (parser);

  g_assert_cmpuint (json_array_get_length (cases), ==, 4);
  for (guint c = 0; c < json_array_get_length (cases); c++) {
    JsonObject *o = json_array_get_object_element (cases, c);
    JsonArray *ref = json_object_get_array_member (o, "inv_freq");
    OmniTextConfig cfg;
    GError *error = NULL;
    float inv[256], scale = 0;

    config_from_json (json_object_get_member (o, "config"), &cfg);
    g_assert_cmpint (cfg.head_dim / 2, ==, json_array_get_length (ref));
    g_assert_true (omni_rope_compute (&cfg, inv, &scale, &error));
    g_assert_no_error (error);
    /* f32 pow may differ from torch's by an ulp or two */
    double err = max_rel_err (inv, ref, cfg.head_dim / 2);
    g_test_message ("%s: max rel err %.3g, attention factor %.9g",
                    json_object_get_string_member (o, "name"), err, scale);
    g_assert_cmpfloat (err, <, 1e-6);
    g_assert_cmpfloat_with_epsilon (scale, json_object_get_double_member (o, "attention_factor"),
                                    1e-6);
  }
}

/* YaRN must actually change the table (a YaRN config read as default would
 * otherwise pass the default case): the lowest frequencies are divided by
 * the factor, the highest kept. */
static void
test_yarn_blend (void)
{
  OmniTextConfig cfg = { 0 };
  float def[64], yarn[64], scale;

  cfg.head_dim = 128;
  cfg.rope_theta = 1e6;
  cfg.rope_type = OMNI_ROPE_DEFAULT;
  g_assert_true (omni_rope_compute (&cfg, def, &scale, NULL));
  g_assert_cmpfloat (scale, ==, 1.0f);
  cfg.rope_type = OMNI_ROPE_YARN;
  cfg.rope_factor = 4;
  cfg.rope_original_max_pos = 32768;
  cfg.yarn_truncate = TRUE;
  g_assert_true (omni_rope_compute (&cfg, yarn, &scale, NULL));
  g_assert_cmpfloat (yarn[0], ==, def[0]);
  g_assert_cmpfloat_with_epsilon (yarn[63], def[63] / 4, def[63] * 1e-6);
  g_assert_cmpfloat_with_epsilon (scale, 0.1 * log (4.0) + 1, 1e-6);
}

static void
test_invalid (void)
{
  OmniTextConfig cfg = { 0 };
  float inv[8], scale;
  GError *error = NULL;

  cfg.head_dim = 16;
  cfg.rope_theta = 1e4;
  cfg.rope_type = OMNI_ROPE_YARN;
  cfg.rope_factor = 0;
  g_assert_false (omni_rope_compute (&cfg, inv, &scale, &error));
  g_assert_error (error, OMNI_ERROR, OMNI_ERROR_FORMAT);
  g_assert_nonnull (strstr (error->message, "factor"));
  g_clear_error (&error);
  cfg.head_dim = 15;
  cfg.rope_type = OMNI_ROPE_DEFAULT;
  g_assert_false (omni_rope_compute (&cfg, inv, &scale, &error));
  g_assert_nonnull (strstr (error->message, "head_dim"));
  g_clear_error (&error);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/nn/rope/transformers-fixture", test_fixture);
  g_test_add_func ("/nn/rope/yarn-blend", test_yarn_blend);
  g_test_add_func ("/nn/rope/invalid", test_invalid);
  return g_test_run ();
}
