/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Vision requests through the engine against transformers (the tiny
 * Qwen3-VL, Qwen3-VL-MoE and Qwen3-Omni thinker of tests/golden, made by
 * make_vision_golden.py): every case (four pictures and, but for Omni, a
 * 6-frame clip) submitted at once, their pictures encoded in
 * one pass, gives the golden greedy text; text-only requests share the
 * batch; wrong input is a clear error. Runs on "cpu" and, when built,
 * "cuda-emu". */
#include <string.h>
#include <gdk-pixbuf/gdk-pixbuf.h>
#include <json-glib/json-glib.h>
#include "engine-util.h"

/* A decoded PNG (RGB8, no alpha) as an OmniImage borrowing its pixels. */
static GdkPixbuf *
load_png (const char *golden_rel, OmniImage *im)
{
  g_autofree char *dir = engine_test_model_dir ("qwen3-vl");
  g_autofree char *path = g_build_filename (dir, golden_rel, NULL);
  GError *error = NULL;
  GdkPixbuf *pb = gdk_pixbuf_new_from_file (path, &error);

  g_assert_no_error (error);
  g_assert_cmpint (gdk_pixbuf_get_n_channels (pb), ==, 3);
  im->rgb = gdk_pixbuf_read_pixels (pb);
  im->width = gdk_pixbuf_get_width (pb);
  im->height = gdk_pixbuf_get_height (pb);
  im->stride = (gsize) gdk_pixbuf_get_rowstride (pb);
  return pb;
}

/* The request of case @c: one picture, or the clip's frames at its fps. */
static OmniRequest *
case_request (JsonObject *c, GPtrArray *keep)
{
  JsonNode *src = json_object_get_member (c, "source");
  OmniImage images[16];
  OmniVisionSpec spec = { images, 0, 0, json_object_get_string_member (c, "user_text"), 0, 0 };
  GError *error = NULL;

  if (JSON_NODE_HOLDS_ARRAY (src)) {
    JsonArray *a = json_node_get_array (src);
    spec.n_images = (int) json_array_get_length (a);
    spec.clip_fps = json_object_get_double_member (c, "fps");
    for (int i = 0; i < spec.n_images; i++)
      g_ptr_array_add (keep, load_png (json_array_get_string_element (a, i), &images[i]));
  } else {
    spec.n_images = 1;
    g_ptr_array_add (keep, load_png (json_node_get_string (src), &images[0]));
  }
  OmniRequest *req = omni_request_new_vision (&spec, &error);
  g_assert_no_error (error);
  return req;
}

/* Every picture case of @model's golden.json (@member: "cases", or the
 * Omni thinker's "vision_cases"; Qwen3-Omni clips are not run: the core
 * sends clips to Qwen3-VL only) submitted together, plus a text request. */
static void
check_model (const char *model, const char *member, const char *device)
{
  g_autofree char *dir = engine_test_model_dir (model);
  g_autofree char *path = g_build_filename (dir, "golden.json", NULL);
  g_autoptr (JsonParser) p = json_parser_new ();
  g_autoptr (GPtrArray) keep = g_ptr_array_new_with_free_func (g_object_unref);
  g_autoptr (GAsyncQueue) done = g_async_queue_new ();
  GError *error = NULL;

  json_parser_load_from_file (p, path, &error);
  g_assert_no_error (error);
  JsonArray *all = json_object_get_array_member (json_node_get_object (json_parser_get_root (p)),
                                                 member);
  g_autoptr (JsonArray) cases = json_array_new ();
  gboolean omni = g_str_equal (member, "vision_cases");
  for (guint i = 0; i < json_array_get_length (all); i++) {
    JsonObject *c = json_array_get_object_element (all, i);
    if (!omni || g_str_equal (json_object_get_string_member (c, "kind"), "image"))
      json_array_add_object_element (cases, json_object_ref (c));
  }
  guint n = json_array_get_length (cases);
  OmniEngine *e = engine_test_acquire_model (model, device, (int) n + 1);
  g_autofree Tracker *t = g_new0 (Tracker, n + 1);
  g_autofree OmniRequest **reqs = g_new0 (OmniRequest *, n + 1);

  for (guint i = 0; i <= n; i++) {
    tracker_init (&t[i], (int) i, done);
    /* and a text-only request in the same batch */
    reqs[i] = i < n ? case_request (json_array_get_object_element (cases, i), keep)
                    : omni_request_new_chat (NULL, "Hello");
    omni_request_set_max_tokens (reqs[i], 32);
    omni_request_set_callback (reqs[i], tracker_cb, &t[i], FALSE);
    g_assert_true (omni_engine_submit (e, reqs[i], &error));
  }
  for (guint k = 0; k <= n; k++)
    g_assert_nonnull (tracker_pop (done));
  for (guint i = 0; i < n; i++) {
    JsonObject *c = json_array_get_object_element (cases, i);
    g_test_message ("%s %s on %s: %s", model, json_object_get_string_member (c, "name"), device,
                    t[i].text);
    g_assert_no_error (t[i].error);
    g_assert_cmpint (t[i].n_prompt_tokens, ==,
                     json_array_get_length (json_object_get_array_member (c, "input_ids")));
    g_assert_cmpstr (t[i].text, ==, json_object_get_string_member (c, "greedy_text"));
  }
  g_assert_no_error (t[n].error);
  for (guint i = 0; i <= n; i++) {
    tracker_clear (&t[i]);
    omni_request_unref (reqs[i]);
  }
  omni_engine_unref (e);
}

typedef struct {
  const char *model, *member, *device;
} ModelCase;

static const ModelCase model_cases[] = {
  { "qwen3-vl", "cases", "cpu" },
  { "qwen3-vl-moe", "cases", "cpu" },
  { "qwen3-omni-thinker", "vision_cases", "cpu" },
  { "qwen3-vl", "cases", "cuda-emu" },
  { "qwen3-vl-moe", "cases", "cuda-emu" },
  { "qwen3-omni-thinker", "vision_cases", "cuda-emu" },
};

static void
test_model (gconstpointer data)
{
  const ModelCase *mc = data;
  g_autofree char *so = g_build_filename (g_getenv ("OMNI_BACKEND_DIR"),
                                          "libomnicore-cuda-emu.so", NULL);

  if (g_str_equal (mc->device, "cuda-emu") && !g_file_test (so, G_FILE_TEST_EXISTS)) {
    g_test_skip ("built without CUDA");
    return;
  }
  check_model (mc->model, mc->member, mc->device);
}

static void
expect_invalid (const OmniVisionSpec *spec, const char *fragment)
{
  GError *error = NULL;

  g_assert_null (omni_request_new_vision (spec, &error));
  g_assert_error (error, OMNI_ERROR, OMNI_ERROR_INVALID);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, fragment));
  g_error_free (error);
}

static void
test_bad_requests (void)
{
  guint8 px[3 * 401 * 2] = { 0 };
  OmniImage tiny = { px, 1, 1, 3 }, line = { px, 401, 2, 3 * 401 }, ok = { px, 2, 2, 6 };
  OmniVisionSpec spec = { &tiny, 1, 0, NULL, 0, 0 };

  expect_invalid (&spec, "at least 2x2");
  spec.images = &line;
  expect_invalid (&spec, "aspect ratio up to 200");
  spec.images = &ok;
  spec.n_images = 0;
  expect_invalid (&spec, "0 images");
  spec.n_images = 1;
  spec.min_visual_tokens = 64;
  spec.max_visual_tokens = 16;
  expect_invalid (&spec, "token budget 64..16");
}

/* A text model takes no pictures: the request fails, saying why. */
static void
test_text_model (void)
{
  OmniEngine *e = engine_test_acquire_model ("qwen3-dense", "cpu", 1);
  g_autoptr (GAsyncQueue) done = g_async_queue_new ();
  guint8 px[3 * 64 * 64] = { 0 };
  OmniImage im = { px, 64, 64, 3 * 64 };
  OmniVisionSpec spec = { &im, 1, 0, NULL, 0, 0 };
  GError *error = NULL;
  Tracker t;

  tracker_init (&t, 0, done);
  OmniRequest *req = omni_request_new_vision (&spec, &error);
  g_assert_no_error (error);
  omni_request_set_callback (req, tracker_cb, &t, FALSE);
  g_assert_true (omni_engine_submit (e, req, &error));
  g_assert_true (tracker_pop (done) == &t);
  g_assert_error (t.error, OMNI_ERROR, OMNI_ERROR_UNSUPPORTED);
  g_assert_nonnull (strstr (t.error->message, "no vision encoder"));
  tracker_clear (&t);
  omni_request_unref (req);
  omni_engine_unref (e);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  for (gsize i = 0; i < G_N_ELEMENTS (model_cases); i++) {
    g_autofree char *path = g_strdup_printf ("/engine-vision/%s/%s", model_cases[i].model,
                                             model_cases[i].device);
    g_test_add_data_func (path, &model_cases[i], test_model);
  }
  g_test_add_func ("/engine-vision/bad-requests", test_bad_requests);
  g_test_add_func ("/engine-vision/text-model", test_text_model);
  return g_test_run ();
}
