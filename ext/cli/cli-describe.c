/* omni describe: pictures or a video clip through the engine's vision
 * requests, decoded by GStreamer (any format its decoders take).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdio.h>
#include <gst/gst.h>
#include <gst/app/gstappsink.h>
#include "omnicore.h"
#include "omni-cli.h"

/* Frames of a clip at most (Qwen3-VL samples up to 768; 2 fps makes 64 s). */
#define MAX_CLIP_FRAMES 128

typedef struct {
  char *model, *device, *prompt, *video;
  double fps;
  int max_tokens, min_visual, max_visual;
  double temperature;
  OmniCliLoadArgs load;
} DescribeArgs;

typedef struct {
  GMutex lock;
  GCond cond;
  gboolean done;
  OmniResultStatus status;
  char *text;
  GError *error;
} Answer;

static void
on_result (OmniRequest *req, const OmniResult *r, gpointer user_data)
{
  Answer *a = user_data;

  g_mutex_lock (&a->lock);
  a->status = r->status;
  a->text = g_strdup (r->text);
  a->error = r->error ? g_error_copy (r->error) : NULL;
  a->done = TRUE;
  g_cond_signal (&a->cond);
  g_mutex_unlock (&a->lock);
}

/* Decoded RGB frames of @path: the first picture of an image file, or a
 * clip sampled at @fps (0: one picture). Each frame is a GstSample. */
static GPtrArray *
decode (const char *path, double fps, GError **error)
{
  g_autofree char *loc = g_strescape (path, NULL);
  g_autofree char *rate = fps > 0 ? g_strdup_printf ("videorate ! video/x-raw,format=RGB,"
                                                     "framerate=%d/1000",
                                                     (int) (fps * 1000 + 0.5))
                                   : g_strdup ("video/x-raw,format=RGB");
  g_autofree char *desc = g_strdup_printf ("filesrc location=\"%s\" ! decodebin ! videoconvert ! "
                                           "%s ! appsink name=sink sync=false", loc, rate);
  GPtrArray *frames = g_ptr_array_new_with_free_func ((GDestroyNotify) gst_sample_unref);
  GstElement *pipe = gst_parse_launch (desc, error);
  GstSample *s;

  if (!pipe || *error) {
    g_clear_object (&pipe);
    g_ptr_array_unref (frames);
    return NULL;
  }
  GstElement *sink = gst_bin_get_by_name (GST_BIN (pipe), "sink");
  GstBus *bus = gst_element_get_bus (pipe);
  GstMessage *err_msg = NULL;
  gst_element_set_state (pipe, GST_STATE_PLAYING);
  /* a file that does not decode posts an error instead of ending */
  while (frames->len < (fps > 0 ? MAX_CLIP_FRAMES : 1) && !err_msg
         && !gst_app_sink_is_eos (GST_APP_SINK (sink))) {
    if ((s = gst_app_sink_try_pull_sample (GST_APP_SINK (sink), 50 * GST_MSECOND)))
      g_ptr_array_add (frames, s);
    err_msg = gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR);
  }
  if (frames->len == 0) {
    GError *err = NULL;
    if (err_msg)
      gst_message_parse_error (err_msg, &err, NULL);
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_FORMAT, "%s: no picture could be decoded%s%s", path,
                 err ? ": " : "", err ? err->message : "");
    g_clear_error (&err);
    g_clear_pointer (&frames, g_ptr_array_unref);
  }
  g_clear_pointer (&err_msg, gst_message_unref);
  gst_object_unref (bus);
  gst_element_set_state (pipe, GST_STATE_NULL);
  gst_object_unref (sink);
  gst_object_unref (pipe);
  return frames;
}

/* An OmniImage over @sample's pixels (mapped into @map). */
static void
image_of (GstSample *sample, GstMapInfo *map, OmniImage *im)
{
  GstStructure *st = gst_caps_get_structure (gst_sample_get_caps (sample), 0);
  int stride;

  gst_structure_get_int (st, "width", &im->width);
  gst_structure_get_int (st, "height", &im->height);
  gst_buffer_map (gst_sample_get_buffer (sample), map, GST_MAP_READ);
  /* raw video pads RGB rows to 4 bytes */
  stride = (im->width * 3 + 3) & ~3;
  im->rgb = map->data;
  im->stride = (gsize) stride;
}

static gboolean
parse_args (int *argc, char ***argv, DescribeArgs *a, GError **error)
{
  GOptionEntry entries[] = {
    { "model", 'm', 0, G_OPTION_ARG_FILENAME, &a->model, "Hugging Face snapshot directory", "DIR" },
    { "device", 'd', 0, G_OPTION_ARG_STRING, &a->device, "auto, cpu, cuda:N or cuda-emu (default auto)", "D" },
    { "prompt", 'p', 0, G_OPTION_ARG_STRING, &a->prompt, "The question (default: describe it)", "TEXT" },
    { "video", 0, 0, G_OPTION_ARG_FILENAME, &a->video, "A video file: a clip of its frames", "FILE" },
    { "fps", 0, 0, G_OPTION_ARG_DOUBLE, &a->fps, "Frames per second taken from --video (default 2)", "F" },
    { "min-visual-tokens", 0, 0, G_OPTION_ARG_INT, &a->min_visual, "Token budget per picture (default: the snapshot's)", "N" },
    { "max-visual-tokens", 0, 0, G_OPTION_ARG_INT, &a->max_visual, "e.g. 256..1280", "N" },
    { "max-tokens", 'n', 0, G_OPTION_ARG_INT, &a->max_tokens, "New tokens at most (default 256)", "N" },
    { "temperature", 't', 0, G_OPTION_ARG_DOUBLE, &a->temperature, "0 = greedy (default)", "T" },
    { NULL }
  };
  g_autoptr (GOptionContext) ctx = g_option_context_new ("[IMAGE...]");
  g_option_context_set_summary (ctx, "Describes pictures (PNG, JPEG, ...) or a video clip, or "
                                "answers a question about them (Qwen3-VL, Qwen3-Omni).");
  g_option_context_add_main_entries (ctx, entries, NULL);
  omni_cli_add_load_options (ctx, &a->load);
  if (!g_option_context_parse (ctx, argc, argv, error) || !omni_cli_load_args_check (&a->load, error))
    return FALSE;
  if (!a->model || (*argc < 2) == !a->video || *argc > 17) {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_INVALID,
                 "--model DIR and either 1 to 16 IMAGE files or --video FILE are required");
    return FALSE;
  }
  if (a->max_tokens < 0 || a->temperature < 0 || a->fps < 0) {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_INVALID,
                 "out of range: --max-tokens, --temperature and --fps must be >= 0");
    return FALSE;
  }
  return TRUE;
}

/* Decodes the inputs into @samples (one per picture, or the clip's frames). */
static GPtrArray *
read_inputs (const DescribeArgs *a, int argc, char **argv, GError **error)
{
  if (a->video)
    return decode (a->video, a->fps > 0 ? a->fps : 2.0, error);
  GPtrArray *all = g_ptr_array_new_with_free_func ((GDestroyNotify) gst_sample_unref);
  for (int i = 1; i < argc; i++) {
    GPtrArray *one = decode (argv[i], 0, error);
    if (!one) {
      g_ptr_array_unref (all);
      return NULL;
    }
    g_ptr_array_add (all, gst_sample_ref (g_ptr_array_index (one, 0)));
    g_ptr_array_unref (one);
  }
  return all;
}

/* Runs one vision request over @samples and prints its answer. */
static int
run_request (OmniEngine *e, const DescribeArgs *a, GPtrArray *samples)
{
  guint n = samples->len;
  g_autofree OmniImage *images = g_new0 (OmniImage, n);
  g_autofree GstMapInfo *maps = g_new0 (GstMapInfo, n);
  Answer ans = { 0 };
  GError *error = NULL;
  int status = 0;

  for (guint i = 0; i < n; i++)
    image_of (g_ptr_array_index (samples, i), &maps[i], &images[i]);
  OmniVisionSpec spec = { images, (int) n, a->video ? (a->fps > 0 ? a->fps : 2.0) : 0,
                          a->prompt, a->min_visual, a->max_visual };
  OmniRequest *req = omni_request_new_vision (&spec, &error);
  if (req) {
    omni_request_set_max_tokens (req, a->max_tokens > 0 ? a->max_tokens : 256);
    omni_request_set_temperature (req, a->temperature);
    omni_request_set_callback (req, on_result, &ans, FALSE);
  }
  if (req && omni_engine_submit (e, req, &error)) {
    g_mutex_lock (&ans.lock);
    while (!ans.done)
      g_cond_wait (&ans.cond, &ans.lock);
    g_mutex_unlock (&ans.lock);
    if (ans.status == OMNI_RESULT_DONE)
      printf ("%s\n", ans.text);
    else
      status = omni_cli_fail (ans.error ? g_steal_pointer (&ans.error)
                              : g_error_new (OMNI_ERROR, OMNI_ERROR_CANCELLED, "cancelled"));
  } else {
    status = omni_cli_fail (error);
  }
  g_clear_pointer (&req, omni_request_unref);
  for (guint i = 0; i < n; i++)
    gst_buffer_unmap (gst_sample_get_buffer (g_ptr_array_index (samples, i)), &maps[i]);
  g_free (ans.text);
  g_clear_error (&ans.error);
  return status;
}

int
omni_cli_describe (int argc, char **argv)
{
  DescribeArgs a = { 0 };
  OmniEngineOptions opts;
  GError *error = NULL;
  GPtrArray *samples = NULL;
  OmniEngine *e = NULL;
  int status;

  gst_init (NULL, NULL);
  if (!parse_args (&argc, &argv, &a, &error) || !(samples = read_inputs (&a, argc, argv, &error))) {
    status = omni_cli_fail (error);
  } else {
    omni_engine_options_init (&opts);
    opts.device = a.device ? a.device : "auto";
    opts.quant = a.load.quant;
    opts.n_threads = a.load.threads;
    e = omni_engine_acquire (a.model, &opts, &error);
    status = e ? run_request (e, &a, samples) : omni_cli_fail (error);
  }
  g_clear_pointer (&e, omni_engine_unref);
  g_clear_pointer (&samples, g_ptr_array_unref);
  g_free (a.model);
  g_free (a.device);
  g_free (a.prompt);
  g_free (a.video);
  omni_cli_load_args_clear (&a.load);
  return status;
}
