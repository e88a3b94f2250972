/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "omni-test-util.h"

#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

void
omni_test_bus_init (OmniTestBus *bus, const gchar *msg_name,
    const gchar *count_name)
{
  memset (bus, 0, sizeof (*bus));
  bus->msg_name = msg_name;
  bus->count_name = count_name;
  bus->msgs = g_ptr_array_new_with_free_func ((GDestroyNotify)
      gst_structure_free);
}

void
omni_test_bus_clear (OmniTestBus *bus)
{
  g_ptr_array_unref (bus->msgs);
  g_free (bus->warning);
  g_free (bus->error);
  if (bus->stats)
    gst_structure_free (bus->stats);
}

GstElement *
omni_test_parse (const gchar *desc)
{
  GError *error = NULL;
  GstElement *p = gst_parse_launch (desc, &error);

  g_assert_no_error (error);
  g_test_message ("pipeline: %s", desc);
  return p;
}

void
omni_test_probe_sink (GstElement *pipeline, const gchar *name,
    GstPadProbeType type, GstPadProbeCallback cb, gpointer user_data)
{
  GstElement *e = gst_bin_get_by_name (GST_BIN (pipeline), name);
  GstPad *pad;

  if (!e)
    return;
  pad = gst_element_get_static_pad (e, "sink");
  gst_pad_add_probe (pad, type, cb, user_data, NULL);
  gst_object_unref (pad);
  gst_object_unref (e);
}

static void
add_warning (OmniTestBus *bus, const gchar *message)
{
  gchar *all = bus->warning ? g_strconcat (bus->warning, "\n", message, NULL)
      : g_strdup (message);

  bus->n_warnings++;
  g_free (bus->warning);
  bus->warning = all;
  g_test_message ("warning: %s", message);
}

/* TRUE at EOS or error. */
static gboolean
handle_message (OmniTestBus *bus, GstMessage *msg)
{
  const GstStructure *s;
  GError *err = NULL;

  switch (GST_MESSAGE_TYPE (msg)) {
    case GST_MESSAGE_ELEMENT:
      s = gst_message_get_structure (msg);
      if (gst_structure_has_name (s, bus->msg_name))
        g_ptr_array_add (bus->msgs, gst_structure_copy (s));
      else if (bus->count_name && gst_structure_has_name (s, bus->count_name))
        bus->n_counted++;
      return FALSE;
    case GST_MESSAGE_WARNING:
      gst_message_parse_warning (msg, &err, NULL);
      add_warning (bus, err->message);
      g_error_free (err);
      return FALSE;
    case GST_MESSAGE_ERROR:
      gst_message_parse_error (msg, &err, NULL);
      bus->error = g_strdup (err->message);
      g_test_message ("error: %s", err->message);
      g_error_free (err);
      return TRUE;
    case GST_MESSAGE_EOS:
      return TRUE;
    default:
      return FALSE;
  }
}

void
omni_test_wait_eos (GstElement *pipeline, OmniTestBus *bus,
    GstClockTime timeout)
{
  GstBus *b = gst_element_get_bus (pipeline);
  gint64 end = g_get_monotonic_time () + timeout / 1000;

  for (;;) {
    gint64 left = end - g_get_monotonic_time ();
    GstMessage *msg;
    gboolean done;

    g_assert_cmpint (left, >, 0);
    msg = gst_bus_timed_pop (b, left * 1000);
    g_assert_nonnull (msg);
    done = handle_message (bus, msg);
    gst_message_unref (msg);
    if (done)
      break;
  }
  gst_object_unref (b);
}

void
omni_test_grab_stats (GstElement *pipeline, OmniTestBus *bus,
    const gchar *name)
{
  GstElement *e = gst_bin_get_by_name (GST_BIN (pipeline), name);
  gchar *s;

  g_assert_nonnull (e);
  if (bus->stats)
    gst_structure_free (bus->stats);
  g_object_get (e, "stats", &bus->stats, NULL);
  gst_object_unref (e);
  s = gst_structure_to_string (bus->stats);
  g_test_message ("stats: %s", s);
  g_free (s);
}

void
omni_test_finish (GstElement *pipeline, OmniTestBus *bus, const gchar *name,
    GstClockTime timeout)
{
  omni_test_wait_eos (pipeline, bus, timeout);
  omni_test_grab_stats (pipeline, bus, name);
  gst_element_set_state (pipeline, GST_STATE_NULL);
  gst_object_unref (pipeline);
}

guint64
omni_test_stat_u64 (const OmniTestBus *bus, const gchar *field)
{
  guint64 v = 0;

  g_assert_nonnull (bus->stats);
  g_assert_true (gst_structure_get_uint64 (bus->stats, field, &v));
  return v;
}

gchar *
omni_test_slow_model (const gchar *dir, const gchar *model, const gchar *name)
{
  gchar *link = g_build_filename (dir, name, NULL);

  if (!g_file_test (link, G_FILE_TEST_EXISTS))
    g_assert_cmpint (symlink (model, link), ==, 0);
  return link;
}

void
omni_test_start_slow (GstElement *pipeline, guint delay_ms)
{
  gchar *v = g_strdup_printf ("%u", delay_ms);

  g_setenv ("OMNI_DEBUG_STEP_DELAY_MS", v, TRUE);
  g_assert_cmpint (gst_element_set_state (pipeline, GST_STATE_PAUSED), !=,
      GST_STATE_CHANGE_FAILURE);
  g_unsetenv ("OMNI_DEBUG_STEP_DELAY_MS");
  g_free (v);
  g_assert_cmpint (gst_element_set_state (pipeline, GST_STATE_PLAYING), !=,
      GST_STATE_CHANGE_FAILURE);
}

typedef struct {
  GMutex lock;
  GCond cond;
  gboolean done;
  gchar *text;
  OmniResultStatus status;
} Wait;

static void
on_result (OmniRequest *req, const OmniResult *result, gpointer user_data)
{
  Wait *w = user_data;

  if (result->status == OMNI_RESULT_PARTIAL)
    return;
  g_mutex_lock (&w->lock);
  w->status = result->status;
  w->text = g_strdup (result->text);
  w->done = TRUE;
  g_cond_signal (&w->cond);
  g_mutex_unlock (&w->lock);
}

gchar *
omni_test_engine_text (const gchar *model, const gchar *device,
    OmniRequest *req, OmniResultStatus *status)
{
  OmniEngineOptions opts;
  GError *error = NULL;
  OmniEngine *engine;
  Wait w = { 0 };

  omni_engine_options_init (&opts);
  if (device)
    opts.device = device;
  engine = omni_engine_acquire (model, &opts, &error);
  g_assert_no_error (error);
  g_mutex_init (&w.lock);
  g_cond_init (&w.cond);
  omni_request_set_callback (req, on_result, &w, FALSE);
  g_assert_true (omni_engine_submit (engine, req, &error));
  g_mutex_lock (&w.lock);
  while (!w.done)
    g_cond_wait (&w.cond, &w.lock);
  g_mutex_unlock (&w.lock);
  omni_request_unref (req);
  omni_engine_unref (engine);
  g_mutex_clear (&w.lock);
  g_cond_clear (&w.cond);
  *status = w.status;
  return w.text;
}

gchar *
omni_test_run_example (gchar **argv)
{
  gchar *out = NULL, *err = NULL;
  gint status;
  GError *error = NULL;

  g_assert_true (g_spawn_sync (NULL, argv, NULL, G_SPAWN_SEARCH_PATH, NULL,
          NULL, &out, &err, &status, &error));
  g_assert_no_error (error);
  if (!g_spawn_check_wait_status (status, NULL))
    g_error ("%s failed: %s", argv[1] ? argv[1] : argv[0], err);
  g_free (err);
  return out;
}

void
omni_test_remove_dir (const gchar *dir)
{
  GDir *d = g_dir_open (dir, 0, NULL);
  const gchar *name;

  while (d && (name = g_dir_read_name (d))) {
    gchar *f = g_build_filename (dir, name, NULL);

    /* a model link is removed, not what it points to */
    if (!g_file_test (f, G_FILE_TEST_IS_SYMLINK)
        && g_file_test (f, G_FILE_TEST_IS_DIR))
      omni_test_remove_dir (f);
    else
      g_unlink (f);
    g_free (f);
  }
  if (d)
    g_dir_close (d);
  g_rmdir (dir);
}
