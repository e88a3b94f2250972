/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Reads omnicaption's results from the bus, for applications without text
 * pads: every result is an element message "omni-caption". Transcribes a
 * WAV file and prints one line per result:
 *   omnicaption-bus MODEL_DIR FILE.wav [PROPERTY=VALUE...]
 *   [   1.234 +  2.500 s] en: good evening and welcome to the news
 * (the PROPERTY=VALUE pairs go to omnicaption, e.g. task=caption)
 * Build: cc omnicaption-bus.c $(pkg-config --cflags --libs gstreamer-1.0) */
#include <gst/gst.h>

static void
print_caption (const GstStructure *s)
{
  guint64 pts = 0, duration = 0;
  const gchar *text = gst_structure_get_string (s, "text");
  const gchar *language = gst_structure_get_string (s, "language");
  gchar *line = g_strdup (text ? text : "");

  gst_structure_get_uint64 (s, "pts", &pts);
  gst_structure_get_uint64 (s, "duration", &duration);
  g_strdelimit (line, "\r\n", ' ');   /* one result, one line */
  g_print ("[%8.3f + %6.3f s] %s: %s\n", pts / 1e9, duration / 1e9,
      language ? language : "--", line);
  g_free (line);
}

/* Runs @pipeline to the end; FALSE on an error (printed). */
static gboolean
run (GstElement * pipeline)
{
  GstBus *bus = gst_element_get_bus (pipeline);
  gboolean ok = TRUE, done = FALSE;

  gst_element_set_state (pipeline, GST_STATE_PLAYING);
  while (!done) {
    GstMessage *msg = gst_bus_timed_pop (bus, GST_CLOCK_TIME_NONE);
    const GstStructure *s = gst_message_get_structure (msg);
    GError *error = NULL;

    switch (GST_MESSAGE_TYPE (msg)) {
      case GST_MESSAGE_ELEMENT:
        if (gst_structure_has_name (s, "omni-caption"))
          print_caption (s);
        break;
      case GST_MESSAGE_WARNING:
        gst_message_parse_warning (msg, &error, NULL);
        g_printerr ("warning: %s\n", error->message);
        g_error_free (error);
        break;
      case GST_MESSAGE_ERROR:
        gst_message_parse_error (msg, &error, NULL);
        g_printerr ("error: %s\n", error->message);
        g_error_free (error);
        ok = FALSE;
        done = TRUE;
        break;
      case GST_MESSAGE_EOS:
        done = TRUE;
        break;
      default:
        break;
    }
    gst_message_unref (msg);
  }
  gst_element_set_state (pipeline, GST_STATE_NULL);
  gst_object_unref (bus);
  return ok;
}

int
main (int argc, char **argv)
{
  GError *error = NULL;
  GstElement *pipeline;
  gchar *desc, *props;
  gboolean ok;

  gst_init (&argc, &argv);
  if (argc < 3) {
    g_printerr ("usage: %s MODEL_DIR FILE.wav [PROPERTY=VALUE...]\n", argv[0]);
    return 2;
  }
  props = g_strjoinv (" ", argv + 3);
  /* no text pad is linked: the bus carries the results */
  desc = g_strdup_printf ("filesrc location=\"%s\" ! wavparse ! "
      "omnicaption model=\"%s\" attach-meta=false %s ! fakesink sync=false",
      argv[2], argv[1], props);
  g_free (props);
  pipeline = gst_parse_launch (desc, &error);
  g_free (desc);
  if (!pipeline) {
    g_printerr ("error: %s\n", error->message);
    g_error_free (error);
    return 1;
  }
  ok = run (pipeline);
  gst_object_unref (pipeline);
  return ok ? 0 : 1;
}
