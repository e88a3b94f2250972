/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* preprocessor_config.json / video_preprocessor_config.json parsing: the
 * golden fixtures' files, the defaults, the token budget and every
 * malformed case naming the file and key. */
#include "vision/vision-config.h"
#include "omnicore.h"

#include <string.h>

static void
parse_ok (const char *json, gboolean video, OmniVisionProcConfig *cfg)
{
  g_autoptr (GError) error = NULL;
  g_assert_true (omni_vision_proc_config_parse ("t.json", json, -1, video, cfg, &error));
  g_assert_no_error (error);
}

/* Parses @json expecting @code and a message holding @needle. */
static void
parse_bad (const char *json, gboolean video, int code, const char *needle)
{
  g_autoptr (GError) error = NULL;
  OmniVisionProcConfig cfg;

  g_assert_false (omni_vision_proc_config_parse ("t.json", json, -1, video, &cfg, &error));
  g_assert_error (error, OMNI_ERROR, code);
  g_assert_nonnull (strstr (error->message, "t.json"));
  if (strstr (error->message, needle) == NULL)
    g_error ("message \"%s\" lacks \"%s\"", error->message, needle);
}

static void
test_golden_files (void)
{
  g_autofree char *dir = g_build_filename (g_getenv ("OMNI_TEST_SRCDIR"), "golden", "qwen3-vl",
                                           NULL);
  g_autofree char *img = g_build_filename (dir, "preprocessor_config.json", NULL);
  g_autofree char *vid = g_build_filename (dir, "video_preprocessor_config.json", NULL);
  g_autoptr (GError) error = NULL;
  OmniVisionProcConfig cfg;

  g_assert_true (omni_vision_proc_config_load (img, FALSE, &cfg, &error));
  g_assert_no_error (error);
  g_assert_cmpint (cfg.min_pixels, ==, 8192);
  g_assert_cmpint (cfg.max_pixels, ==, 65536);
  g_assert_cmpint (cfg.patch_size, ==, 16);
  g_assert_cmpint (cfg.temporal_patch_size, ==, 2);
  g_assert_cmpint (cfg.merge_size, ==, 2);
  g_assert_cmpfloat (cfg.image_mean[1], ==, 0.5f);
  g_assert_cmpfloat (cfg.image_std[2], ==, 0.5f);
  g_assert_false (cfg.video);

  g_assert_true (omni_vision_proc_config_load (vid, TRUE, &cfg, &error));
  g_assert_no_error (error);
  g_assert_cmpint (cfg.min_pixels, ==, 4096);
  g_assert_cmpint (cfg.max_pixels, ==, 65536);
  g_assert_cmpfloat (cfg.fps, ==, 2.0);
  g_assert_cmpint (cfg.min_frames, ==, 4);
  g_assert_cmpint (cfg.max_frames, ==, 768);
  g_assert_true (cfg.video);
}

static void
test_keys (void)
{
  OmniVisionProcConfig cfg;

  /* the Qwen2-VL style: top-level min/max pixels override size */
  parse_ok ("{\"size\": {\"shortest_edge\": 100, \"longest_edge\": 900}, \"min_pixels\": 3136,"
            " \"max_pixels\": 12845056, \"patch_size\": 14, \"resample\": 3,"
            " \"image_mean\": [0.48145466, 0.4578275, 0.40821073], \"image_std\": 0.25,"
            " \"rescale_factor\": 0.00392156862745098, \"do_normalize\": false}", FALSE, &cfg);
  g_assert_cmpint (cfg.min_pixels, ==, 3136);
  g_assert_cmpint (cfg.max_pixels, ==, 12845056);
  g_assert_cmpint (cfg.patch_size, ==, 14);
  g_assert_cmpfloat (cfg.image_mean[0], ==, 0.48145466f);
  g_assert_cmpfloat (cfg.image_std[1], ==, 0.25f);
  g_assert_false (cfg.do_normalize);
  g_assert_true (cfg.do_rescale);
  /* transformers v5 processor_config.json nests the processors */
  parse_ok ("{\"image_processor\": {\"size\": {\"shortest_edge\": 7, \"longest_edge\": 8}},"
            " \"video_processor\": {\"fps\": 4, \"max_frames\": 9, \"size\": "
            "{\"shortest_edge\": 5, \"longest_edge\": 6}}}", TRUE, &cfg);
  g_assert_cmpfloat (cfg.fps, ==, 4.0);
  g_assert_cmpint (cfg.max_frames, ==, 9);
  g_assert_cmpint (cfg.min_pixels, ==, 5);
  parse_ok ("{}", FALSE, &cfg);
  g_assert_cmpint (cfg.min_pixels, ==, 65536);
  g_assert_cmpint (cfg.max_pixels, ==, 16777216);
}

static void
test_malformed (void)
{
  parse_bad ("{\"resample\": 2}", FALSE, OMNI_ERROR_UNSUPPORTED, "\"resample\"");
  parse_bad ("{\"resample\": \"bicubic\"}", FALSE, OMNI_ERROR_FORMAT, "\"resample\"");
  parse_bad ("{\"size\": 5}", FALSE, OMNI_ERROR_FORMAT, "\"size\"");
  parse_bad ("{\"size\": {\"shortest_edge\": 0}}", FALSE, OMNI_ERROR_FORMAT, "shortest_edge");
  parse_bad ("{\"size\": {\"shortest_edge\": 900, \"longest_edge\": 100}}", FALSE,
             OMNI_ERROR_FORMAT, "\"size\"");
  parse_bad ("{\"patch_size\": 1.5}", FALSE, OMNI_ERROR_FORMAT, "\"patch_size\"");
  parse_bad ("{\"merge_size\": 0}", FALSE, OMNI_ERROR_FORMAT, "\"merge_size\"");
  parse_bad ("{\"image_mean\": [0.5, 0.5]}", FALSE, OMNI_ERROR_FORMAT, "\"image_mean\"");
  parse_bad ("{\"image_std\": [0.5, \"x\", 0.5]}", FALSE, OMNI_ERROR_FORMAT, "\"image_std\"");
  parse_bad ("{\"image_std\": [0.5, 0, 0.5]}", FALSE, OMNI_ERROR_FORMAT, "\"image_std\"");
  parse_bad ("{\"rescale_factor\": -1}", FALSE, OMNI_ERROR_FORMAT, "\"rescale_factor\"");
  parse_bad ("{\"do_resize\": 1}", FALSE, OMNI_ERROR_FORMAT, "\"do_resize\"");
  parse_bad ("{\"image_processor_type\": \"SiglipImageProcessor\"}", FALSE,
             OMNI_ERROR_UNSUPPORTED, "\"image_processor_type\"");
  parse_bad ("{\"video_processor_type\": \"LlavaVideoProcessor\"}", TRUE,
             OMNI_ERROR_UNSUPPORTED, "\"video_processor_type\"");
  parse_bad ("{\"fps\": 0}", TRUE, OMNI_ERROR_FORMAT, "\"fps\"");
  parse_bad ("{\"min_frames\": 9, \"max_frames\": 4}", TRUE, OMNI_ERROR_FORMAT, "\"min_frames\"");
  parse_bad ("[1, 2]", FALSE, OMNI_ERROR_FORMAT, "JSON object");
  parse_bad ("{\"size\": ", FALSE, OMNI_ERROR_FORMAT, "JSON");
}

static void
test_missing_file (void)
{
  g_autoptr (GError) error = NULL;
  OmniVisionProcConfig cfg;

  g_assert_false (omni_vision_proc_config_load ("/nonexistent/preprocessor_config.json", FALSE,
                                                &cfg, &error));
  g_assert_error (error, OMNI_ERROR, OMNI_ERROR_IO);
  g_assert_nonnull (strstr (error->message, "/nonexistent/preprocessor_config.json"));
}

static void
test_tokens (void)
{
  g_autoptr (GError) error = NULL;
  OmniVisionProcConfig cfg;

  /* the "256..1280 tokens" knob: 32x32 pixels per token */
  omni_vision_proc_config_init_image (&cfg);
  g_assert_true (omni_vision_proc_config_set_tokens (&cfg, 256, 1280, &error));
  g_assert_cmpint (cfg.min_pixels, ==, 256 * 1024);
  g_assert_cmpint (cfg.max_pixels, ==, 1280 * 1024);
  /* a bound <= 0 keeps the current one */
  g_assert_true (omni_vision_proc_config_set_tokens (&cfg, 0, 2048, &error));
  g_assert_no_error (error);
  g_assert_cmpint (cfg.min_pixels, ==, 256 * 1024);
  g_assert_cmpint (cfg.max_pixels, ==, 2048 * 1024);
  /* a video token covers two frames */
  omni_vision_proc_config_init_video (&cfg);
  g_assert_true (omni_vision_proc_config_set_tokens (&cfg, 4, 8, &error));
  g_assert_cmpint (cfg.min_pixels, ==, 4 * 2048);
  g_assert_cmpint (cfg.max_pixels, ==, 8 * 2048);
  g_assert_false (omni_vision_proc_config_set_tokens (&cfg, 100, 10, &error));
  g_assert_error (error, OMNI_ERROR, OMNI_ERROR_INVALID);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/vision/config/golden-files", test_golden_files);
  g_test_add_func ("/vision/config/keys", test_keys);
  g_test_add_func ("/vision/config/malformed", test_malformed);
  g_test_add_func ("/vision/config/missing-file", test_missing_file);
  g_test_add_func ("/vision/config/tokens", test_tokens);
  return g_test_run ();
}
