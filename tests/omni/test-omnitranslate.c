/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * omnitranslate in real pipelines with the tiny golden Qwen3 model: the
 * fixture translations (tests/golden/qwen3-dense/translate.json),
 * timestamps and meta, two languages, EOS and flush, live timing with a
 * slow engine, errors at the state change, engine sharing, .srt to .srt.
 */
#include <gst/gst.h>
#include <gst/app/app.h>
#include <gst/check/gstharness.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <stdio.h>
#include <string.h>

#include "gstomnitextmeta.h"
#include "omni-test-util.h"
#include "omnicore.h"

/* The fixture was generated with this many new tokens. */
#define FIXTURE_MAX_TOKENS 16
#define PULL_TIMEOUT (300 * GST_SECOND)

static gchar *model_dir;
static gchar *tmp_dir;         /* this process's scratch files */
static JsonArray *cases;

static JsonObject *
fixture_case (const gchar *name)
{
  for (guint i = 0; i < json_array_get_length (cases); i++) {
    JsonObject *c = json_array_get_object_element (cases, i);
    JsonObject *spec = json_object_get_object_member (c, "spec");

    if (g_str_equal (json_object_get_string_member (spec, "name"), name))
      return c;
  }
  g_error ("fixture has no case \"%s\"", name);
  return NULL;
}

static const gchar *
fixture_text (const gchar *name)
{
  return json_object_get_string_member (fixture_case (name), "text");
}

static GstElement *
launch (const gchar *fmt, ...) G_GNUC_PRINTF (1, 2);

static GstElement *
launch (const gchar *fmt, ...)
{
  GError *error = NULL;
  GstElement *pipeline;
  va_list args;
  gchar *desc;

  va_start (args, fmt);
  desc = g_strdup_vprintf (fmt, args);
  va_end (args);
  pipeline = gst_parse_launch (desc, &error);
  g_assert_no_error (error);
  g_test_message ("pipeline: %s", desc);
  g_free (desc);
  return pipeline;
}

static GstElement *
by_name (GstElement *pipeline, const gchar *name)
{
  GstElement *e = gst_bin_get_by_name (GST_BIN (pipeline), name);

  g_assert_nonnull (e);
  gst_object_unref (e);         /* the pipeline keeps it alive */
  return e;
}

static void
push_text (GstElement *appsrc, const gchar *text, GstClockTime pts,
    GstClockTime duration)
{
  GstBuffer *buf = gst_buffer_new_memdup (text, strlen (text));

  GST_BUFFER_PTS (buf) = pts;
  GST_BUFFER_DURATION (buf) = duration;
  g_assert_cmpint (gst_app_src_push_buffer (GST_APP_SRC (appsrc), buf), ==,
      GST_FLOW_OK);
}

static void
set_state_ok (GstElement *pipeline, GstState state)
{
  GstStateChangeReturn ret = gst_element_set_state (pipeline, state);

  /* No waiting for the preroll: the sinks preroll on what we push next. */
  g_assert_cmpint (ret, !=, GST_STATE_CHANGE_FAILURE);
}

/* The text of @sample's buffer, newly allocated. */
static gchar *
sample_text (GstSample *sample)
{
  GstBuffer *buf = gst_sample_get_buffer (sample);
  GstMapInfo map;
  gchar *text;

  g_assert_true (gst_buffer_map (buf, &map, GST_MAP_READ));
  text = g_strndup ((const gchar *) map.data, map.size);
  gst_buffer_unmap (buf, &map);
  return text;
}

static GstSample *
pull (GstElement *appsink)
{
  GstSample *s = gst_app_sink_try_pull_sample (GST_APP_SINK (appsink),
      PULL_TIMEOUT);

  g_assert_nonnull (s);
  return s;
}

static void
check_no_error (GstElement *pipeline)
{
  GstBus *bus = gst_element_get_bus (pipeline);
  GstMessage *msg = gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR);

  if (msg) {
    GError *err;

    gst_message_parse_error (msg, &err, NULL);
    g_error ("unexpected error: %s", err->message);
  }
  gst_object_unref (bus);
}

/* One segment, one fixture case: text, time and meta. */
static void
check_case (const gchar *name, const gchar *props, const gchar *input,
    const gchar *format, const gchar *expect_lang, const gchar *expect_src)
{
  const gchar *expected = fixture_text (name);
  GstElement *pipeline = launch ("appsrc name=src format=time "
      "caps=text/x-raw,format=%s ! omnitranslate name=t model=\"%s\" "
      "max-tokens=%d %s ! appsink name=sink sync=false", format, model_dir,
      FIXTURE_MAX_TOKENS, props);
  GstElement *src = by_name (pipeline, "src"), *sink = by_name (pipeline,
      "sink");
  GstOmniTextMeta *meta;
  GstSample *sample;
  GstBuffer *buf;
  gchar *text, *want;
  GstStructure *stats;
  guint64 n;

  set_state_ok (pipeline, GST_STATE_PLAYING);
  push_text (src, input, 1 * GST_SECOND, 2500 * GST_MSECOND);
  gst_app_src_end_of_stream (GST_APP_SRC (src));
  sample = pull (sink);
  buf = gst_sample_get_buffer (sample);
  text = sample_text (sample);
  want = g_str_equal (format, "pango-markup")
      ? g_strdup_printf ("<i>%s</i>", expected) : g_strdup (expected);
  g_assert_cmpstr (text, ==, want);
  g_assert_cmpuint (GST_BUFFER_PTS (buf), ==, 1 * GST_SECOND);
  g_assert_cmpuint (GST_BUFFER_DURATION (buf), ==, 2500 * GST_MSECOND);
  meta = gst_buffer_get_omni_text_meta (buf);
  g_assert_nonnull (meta);
  g_assert_cmpint (meta->kind, ==, GST_OMNI_TEXT_KIND_TRANSLATION);
  g_assert_cmpstr (meta->text, ==, expected);
  g_assert_cmpstr (meta->language, ==, expect_lang);
  g_assert_cmpstr (meta->source_language, ==, expect_src);
  g_assert_cmpuint (meta->pts, ==, 1 * GST_SECOND);
  g_assert_cmpuint (meta->duration, ==, 2500 * GST_MSECOND);
  g_assert_cmpuint (meta->seq, ==, 0);
  g_assert_true (meta->is_final);
  g_assert_cmpstr (meta->model_id, !=, NULL);
  gst_sample_unref (sample);
  g_free (text);
  g_free (want);
  g_assert_true (gst_app_sink_is_eos (GST_APP_SINK (sink))
      || gst_app_sink_try_pull_sample (GST_APP_SINK (sink), PULL_TIMEOUT) == NULL);

  g_object_get (by_name (pipeline, "t"), "stats", &stats, NULL);
  g_assert_true (gst_structure_get_uint64 (stats, "requests", &n));
  g_assert_cmpuint (n, ==, 1);
  g_assert_true (gst_structure_get_uint64 (stats, "results", &n));
  g_assert_cmpuint (n, ==, 1);
  gst_structure_free (stats);
  check_no_error (pipeline);
  set_state_ok (pipeline, GST_STATE_NULL);
  gst_object_unref (pipeline);
}

static void
test_fixture_plain (void)
{
  check_case ("plain", "source-language=en target-language=de",
      "Good morning, everyone.", "utf8", "de", "en");
}

static void
test_fixture_glossary_domain (void)
{
  check_case ("glossary-domain", "source-language=English "
      "target-language=French domain=\"sports commentary\" "
      "glossary=\"keeper=gardien;penalty=penalty\"",
      "The keeper saves the penalty.", "utf8", "fr", "en");
}

static void
test_fixture_glossary_file (void)
{
  gchar *path = g_build_filename (tmp_dir, "omni-glossary.tsv", NULL);
  gchar *props;

  g_assert_true (g_file_set_contents (path, "# football terms\n"
          "keeper\tgardien\n\npenalty\tpenalty\n", -1, NULL));
  props = g_strdup_printf ("source-language=en target-language=fr "
      "domain=\"sports commentary\" glossary=\"%s\"", path);
  check_case ("glossary-domain", props, "The keeper saves the penalty.",
      "utf8", "fr", "en");
  g_free (props);
  g_unlink (path);
  g_free (path);
}

static void
test_fixture_auto_source (void)
{
  check_case ("auto-source", "target-language=zh-TW",
      "¿Dónde está la estación?", "utf8", "zh-Hant", NULL);
}

/* Tags around the segment stay; the text inside is translated and escaped. */
static void
test_markup (void)
{
  const gchar *expected = fixture_text ("plain");
  gchar *escaped = g_markup_escape_text (expected, -1);

  /* The fixture text needs no escaping, so the check below is exact. */
  g_assert_cmpstr (escaped, ==, expected);
  g_free (escaped);
  check_case ("plain", "source-language=en target-language=de",
      "<i>Good morning, everyone.</i>", "pango-markup", "de", "en");
}

/* Events seen by a pad probe, in order: 'B' buffer, 'G' gap, 'E' eos. */
typedef struct {
  GMutex lock;
  GString *order;
  GArray *pts;          /* of buffers and gaps, in order */
  gchar *language;      /* from the tag event */
} Trace;

static GstPadProbeReturn
trace_probe (GstPad *pad, GstPadProbeInfo *info, gpointer user_data)
{
  Trace *t = user_data;
  GstClockTime ts = GST_CLOCK_TIME_NONE;
  gchar c = 0;

  g_mutex_lock (&t->lock);
  if (info->type & GST_PAD_PROBE_TYPE_BUFFER) {
    c = 'B';
    ts = GST_BUFFER_PTS (GST_PAD_PROBE_INFO_BUFFER (info));
  } else {
    GstEvent *ev = GST_PAD_PROBE_INFO_EVENT (info);

    if (GST_EVENT_TYPE (ev) == GST_EVENT_GAP) {
      c = 'G';
      gst_event_parse_gap (ev, &ts, NULL);
    } else if (GST_EVENT_TYPE (ev) == GST_EVENT_EOS) {
      c = 'E';
    } else if (GST_EVENT_TYPE (ev) == GST_EVENT_TAG) {
      GstTagList *tags;

      gst_event_parse_tag (ev, &tags);
      g_free (t->language);
      t->language = NULL;
      gst_tag_list_get_string (tags, GST_TAG_LANGUAGE_CODE, &t->language);
    }
  }
  if (c) {
    g_string_append_c (t->order, c);
    g_array_append_val (t->pts, ts);
  }
  g_mutex_unlock (&t->lock);
  return GST_PAD_PROBE_OK;
}

static Trace *
trace_new (GstElement *sink)
{
  Trace *t = g_new0 (Trace, 1);
  GstPad *pad = gst_element_get_static_pad (sink, "sink");

  g_mutex_init (&t->lock);
  t->order = g_string_new (NULL);
  t->pts = g_array_new (FALSE, FALSE, sizeof (GstClockTime));
  gst_pad_add_probe (pad, GST_PAD_PROBE_TYPE_BUFFER
      | GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM, trace_probe, t, NULL);
  gst_object_unref (pad);
  return t;
}

static void
trace_free (Trace *t)
{
  g_mutex_clear (&t->lock);
  g_string_free (t->order, TRUE);
  g_array_unref (t->pts);
  g_free (t->language);
  g_free (t);
}

/* Drops the GAPs of the order string: what remains is buffers and EOS. */
static gchar *
without_gaps (const gchar *order)
{
  GString *s = g_string_new (NULL);

  for (; *order; order++)
    if (*order != 'G')
      g_string_append_c (s, *order);
  return g_string_free (s, FALSE);
}

static void
wait_eos (GstElement *pipeline)
{
  GstBus *bus = gst_element_get_bus (pipeline);
  GstMessage *msg = gst_bus_timed_pop_filtered (bus, PULL_TIMEOUT,
      GST_MESSAGE_EOS | GST_MESSAGE_ERROR);

  g_assert_nonnull (msg);
  if (GST_MESSAGE_TYPE (msg) == GST_MESSAGE_ERROR) {
    GError *err;

    gst_message_parse_error (msg, &err, NULL);
    g_error ("pipeline error: %s", err->message);
  }
  gst_message_unref (msg);
  gst_object_unref (bus);
}

/* src (German) and src_0 (French) each get every segment, in order, with
 * the input's timestamps; EOS comes after them on both. */
static void
test_two_languages (void)
{
  GstElement *pipeline = launch ("appsrc name=src format=time "
      "caps=text/x-raw,format=utf8 ! omnitranslate name=t model=\"%s\" "
      "max-tokens=%d source-language=en target-language=de "
      "src_0::language-code=French "
      "t.src ! appsink name=de sync=false t.src_0 ! appsink name=fr sync=false",
      model_dir, FIXTURE_MAX_TOKENS);
  GstElement *src = by_name (pipeline, "src");
  const gchar *inputs[] = { "Good morning, everyone.", "Hello.", "Goodbye." };
  Trace *tde = trace_new (by_name (pipeline, "de"));
  Trace *tfr = trace_new (by_name (pipeline, "fr"));
  GstPad *pad;
  gchar *lang = NULL;

  pad = gst_element_get_static_pad (by_name (pipeline, "t"), "src_0");
  g_assert_nonnull (pad);
  g_object_get (pad, "language-code", &lang, NULL);
  g_assert_cmpstr (lang, ==, "French");
  g_free (lang);
  gst_object_unref (pad);

  set_state_ok (pipeline, GST_STATE_PLAYING);
  for (guint i = 0; i < G_N_ELEMENTS (inputs); i++)
    push_text (src, inputs[i], (2 * i + 1) * GST_SECOND, GST_SECOND);
  gst_app_src_end_of_stream (GST_APP_SRC (src));

  for (guint k = 0; k < 2; k++) {
    GstElement *sink = by_name (pipeline, k == 0 ? "de" : "fr");

    for (guint i = 0; i < G_N_ELEMENTS (inputs); i++) {
      GstSample *sample = pull (sink);
      GstBuffer *buf = gst_sample_get_buffer (sample);
      GstOmniTextMeta *meta = gst_buffer_get_omni_text_meta (buf);

      g_assert_cmpuint (GST_BUFFER_PTS (buf), ==, (2 * i + 1) * GST_SECOND);
      g_assert_cmpuint (GST_BUFFER_DURATION (buf), ==, GST_SECOND);
      g_assert_nonnull (meta);
      g_assert_cmpuint (meta->seq, ==, i);
      g_assert_cmpstr (meta->language, ==, k == 0 ? "de" : "fr");
      g_assert_cmpstr (meta->source_language, ==, "en");
      if (k == 0 && i == 0) {
        gchar *text = sample_text (sample);

        g_assert_cmpstr (text, ==, fixture_text ("plain"));
        g_free (text);
      }
      gst_sample_unref (sample);
    }
  }
  wait_eos (pipeline);
  /* Each pad: its language tag, 3 buffers then EOS (a GAP may lead in). */
  for (guint k = 0; k < 2; k++) {
    Trace *t = k == 0 ? tde : tfr;
    gchar *order;

    g_mutex_lock (&t->lock);
    order = without_gaps (t->order->str);
    g_assert_cmpstr (order, ==, "BBBE");
    g_assert_cmpstr (t->language, ==, k == 0 ? "de" : "fr");
    g_mutex_unlock (&t->lock);
    g_free (order);
  }
  set_state_ok (pipeline, GST_STATE_NULL);
  gst_object_unref (pipeline);
  trace_free (tde);
  trace_free (tfr);
}

/* A slow engine: EOS reaches omnitranslate long before the results and is
 * forwarded only after all of them. */
static void
test_eos_waits (void)
{
  GstElement *pipeline;
  GstElement *src, *sink;
  Trace *t;
  GstStructure *stats;
  guint64 results;

  g_setenv ("OMNI_DEBUG_STEP_DELAY_MS", "30", TRUE);
  pipeline = launch ("appsrc name=src format=time caps=text/x-raw,format=utf8 "
      "! omnitranslate name=t model=\"%s\" max-tokens=%d target-language=de "
      "! appsink name=sink sync=false wait-on-eos=false", model_dir,
      FIXTURE_MAX_TOKENS);
  src = by_name (pipeline, "src");
  sink = by_name (pipeline, "sink");
  t = trace_new (sink);
  set_state_ok (pipeline, GST_STATE_PLAYING);
  g_unsetenv ("OMNI_DEBUG_STEP_DELAY_MS");
  for (guint i = 0; i < 5; i++)
    push_text (src, "See you tomorrow.", i * GST_SECOND, GST_SECOND);
  gst_app_src_end_of_stream (GST_APP_SRC (src));
  wait_eos (pipeline);
  g_mutex_lock (&t->lock);
  g_assert_cmpstr (t->order->str, ==, "BBBBBE");
  for (guint i = 0; i < 5; i++)
    g_assert_cmpuint (g_array_index (t->pts, GstClockTime, i), ==,
        i * GST_SECOND);
  g_mutex_unlock (&t->lock);
  g_object_get (by_name (pipeline, "t"), "stats", &stats, NULL);
  g_assert_true (gst_structure_get_uint64 (stats, "results", &results));
  g_assert_cmpuint (results, ==, 5);
  gst_structure_free (stats);
  set_state_ok (pipeline, GST_STATE_NULL);
  gst_object_unref (pipeline);
  trace_free (t);
}

/* Flushing cancels what is in flight; the stream goes on after it. The
 * harness's source is live: latency is set high so nothing is late. */
static void
test_flush_cancels (void)
{
  GstHarness *h;
  GstElement *element;
  GstStructure *stats;
  GstSegment segment;
  guint64 cancelled, results;
  GstBuffer *buf;
  gint64 t0;
  gchar *desc;

  g_setenv ("OMNI_DEBUG_STEP_DELAY_MS", "100", TRUE);
  desc = g_strdup_printf ("omnitranslate name=t latency=600000 model=\"%s\" "
      "max-tokens=%d source-language=en target-language=de", model_dir,
      FIXTURE_MAX_TOKENS);
  h = gst_harness_new_parse (desc);
  g_free (desc);
  element = by_name (h->element, "t");
  gst_harness_set_src_caps_str (h, "text/x-raw, format=utf8");
  g_unsetenv ("OMNI_DEBUG_STEP_DELAY_MS");

  for (guint i = 0; i < 4; i++) {
    buf = gst_buffer_new_memdup ("Hello.", 6);
    GST_BUFFER_PTS (buf) = i * GST_SECOND;
    GST_BUFFER_DURATION (buf) = GST_SECOND;
    g_assert_cmpint (gst_harness_push (h, buf), ==, GST_FLOW_OK);
  }
  /* 16 tokens at >= 100 ms a step: nothing is done yet. */
  t0 = g_get_monotonic_time ();
  g_assert_true (gst_harness_push_event (h, gst_event_new_flush_start ()));
  g_assert_true (gst_harness_push_event (h, gst_event_new_flush_stop (TRUE)));
  g_assert_cmpint (g_get_monotonic_time () - t0, <, 5 * G_USEC_PER_SEC);

  g_object_get (element, "stats", &stats, NULL);
  g_assert_true (gst_structure_get_uint64 (stats, "cancelled", &cancelled));
  g_assert_true (gst_structure_get_uint64 (stats, "results", &results));
  g_assert_cmpuint (cancelled + results, ==, 4);
  g_assert_cmpuint (cancelled, >=, 1);
  gst_structure_free (stats);

  /* After the flush: a new segment and one more input, translated. */
  gst_segment_init (&segment, GST_FORMAT_TIME);
  g_assert_true (gst_harness_push_event (h, gst_event_new_segment (&segment)));
  buf = gst_buffer_new_memdup ("Good morning, everyone.", 23);
  GST_BUFFER_PTS (buf) = 10 * GST_SECOND;
  GST_BUFFER_DURATION (buf) = GST_SECOND;
  g_assert_cmpint (gst_harness_push (h, buf), ==, GST_FLOW_OK);
  g_assert_true (gst_harness_push_event (h, gst_event_new_eos ()));
  /* Whatever finished before the flush may come first; then ours. */
  for (guint i = 0; i <= results; i++) {
    buf = gst_harness_pull (h);
    g_assert_nonnull (buf);
    if (GST_BUFFER_PTS (buf) == 10 * GST_SECOND)
      break;
    gst_buffer_unref (buf);
  }
  g_assert_cmpuint (GST_BUFFER_PTS (buf), ==, 10 * GST_SECOND);
  {
    GstOmniTextMeta *meta = gst_buffer_get_omni_text_meta (buf);

    g_assert_nonnull (meta);
    g_assert_cmpstr (meta->text, ==, fixture_text ("plain"));
  }
  gst_buffer_unref (buf);
  gst_harness_teardown (h);
}

/* The LATENCY query on a live pipeline adds our latency to upstream's. */
static void
test_latency_query (void)
{
  GstElement *pipeline = launch ("appsrc name=src is-live=true format=time "
      "min-latency=20000000 max-latency=40000000 caps=text/x-raw,format=utf8 "
      "! omnitranslate name=t model=\"%s\" latency=300 target-language=de "
      "! fakesink", model_dir);
  GstPad *pad;
  GstQuery *q = gst_query_new_latency ();
  gboolean live;
  GstClockTime min, max;

  set_state_ok (pipeline, GST_STATE_PAUSED);
  pad = gst_element_get_static_pad (by_name (pipeline, "t"), "src");
  g_assert_true (gst_pad_query (pad, q));
  gst_query_parse_latency (q, &live, &min, &max);
  g_assert_true (live);
  g_assert_cmpuint (min, ==, 320 * GST_MSECOND);
  g_assert_cmpuint (max, ==, 340 * GST_MSECOND);
  gst_query_unref (q);
  gst_object_unref (pad);
  set_state_ok (pipeline, GST_STATE_NULL);
  gst_object_unref (pipeline);
}

static void
wait_running_time (GstElement *pipeline, GstClockTime rt)
{
  GstClock *clock = gst_element_get_clock (pipeline);
  GstClockID id = gst_clock_new_single_shot_id (clock,
      gst_element_get_base_time (pipeline) + rt);

  gst_clock_id_wait (id, NULL);
  gst_clock_id_unref (id);
  gst_object_unref (clock);
}

/* Live with a slow engine: every result misses its 100 ms budget. It is
 * still pushed, re-timestamped later than its input, with a GAP over each
 * missed slot before it, and counted as late. */
static void
test_live_late (void)
{
  const guint n = 3;
  const GstClockTime spacing = 2 * GST_SECOND, dur = 500 * GST_MSECOND;
  GstElement *pipeline, *src, *sink;
  GstStructure *stats;
  guint64 late, results;
  gchar *order;
  Trace *t;
  guint b = 0;

  g_setenv ("OMNI_DEBUG_STEP_DELAY_MS", "25", TRUE);
  pipeline = launch ("appsrc name=src is-live=true min-latency=0 format=time "
      "caps=text/x-raw,format=utf8 ! omnitranslate name=t model=\"%s\" "
      "latency=100 max-tokens=%d source-language=en target-language=de "
      "! appsink name=sink sync=false wait-on-eos=false", model_dir,
      FIXTURE_MAX_TOKENS);
  src = by_name (pipeline, "src");
  sink = by_name (pipeline, "sink");
  t = trace_new (sink);
  set_state_ok (pipeline, GST_STATE_PLAYING);
  g_unsetenv ("OMNI_DEBUG_STEP_DELAY_MS");
  for (guint i = 0; i < n; i++) {
    /* The sink prerolls on our first GAP; then the clock runs. */
    if (i > 0) {
      g_assert_cmpint (gst_element_get_state (pipeline, NULL, NULL,
              PULL_TIMEOUT), ==, GST_STATE_CHANGE_SUCCESS);
      wait_running_time (pipeline, i * spacing);
    }
    push_text (src, "Good morning, everyone.", i * spacing, dur);
  }
  gst_app_src_end_of_stream (GST_APP_SRC (src));
  wait_eos (pipeline);

  g_mutex_lock (&t->lock);
  g_test_message ("order %s", t->order->str);
  order = without_gaps (t->order->str);
  g_assert_cmpstr (order, ==, "BBBE");
  g_free (order);
  /* A GAP before each late buffer, and buffers after their input time. */
  for (guint i = 0; i < t->order->len; i++) {
    GstClockTime ts = g_array_index (t->pts, GstClockTime, i);

    if (t->order->str[i] != 'B')
      continue;
    g_assert_cmpuint (i, >, 0);
    g_assert_cmpint (t->order->str[i - 1], ==, 'G');
    g_assert_cmpuint (ts, >, b * spacing);
    b++;
  }
  g_mutex_unlock (&t->lock);
  g_assert_cmpuint (b, ==, n);

  g_object_get (by_name (pipeline, "t"), "stats", &stats, NULL);
  g_assert_true (gst_structure_get_uint64 (stats, "late", &late));
  g_assert_true (gst_structure_get_uint64 (stats, "results", &results));
  g_assert_cmpuint (results, ==, n);
  g_assert_cmpuint (late, ==, n);
  gst_structure_free (stats);
  set_state_ok (pipeline, GST_STATE_NULL);
  gst_object_unref (pipeline);
  trace_free (t);
}

/* Bad settings fail READY->PAUSED with an error a user can act on. */
static void
expect_start_error (const gchar *props, const gchar *const *needles)
{
  GstElement *pipeline = launch ("appsrc format=time "
      "caps=text/x-raw,format=utf8 ! omnitranslate name=t %s t.src ! fakesink",
      props);
  GstBus *bus = gst_element_get_bus (pipeline);
  GstMessage *msg;
  GError *err = NULL;

  g_assert_cmpint (gst_element_set_state (pipeline, GST_STATE_PAUSED), ==,
      GST_STATE_CHANGE_FAILURE);
  msg = gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR);
  g_assert_nonnull (msg);
  g_assert_true (GST_MESSAGE_SRC (msg) == GST_OBJECT (by_name (pipeline, "t")));
  gst_message_parse_error (msg, &err, NULL);
  g_test_message ("error: %s", err->message);
  for (guint i = 0; needles[i]; i++)
    if (!strstr (err->message, needles[i]))
      g_error ("error \"%s\" does not say \"%s\"", err->message, needles[i]);
  g_error_free (err);
  gst_message_unref (msg);
  gst_object_unref (bus);
  gst_element_set_state (pipeline, GST_STATE_NULL);
  gst_object_unref (pipeline);
}

static void
test_errors (void)
{
  gchar *props, *tsv = g_build_filename (tmp_dir,
      "omni-bad-glossary.tsv", NULL);
  guint loads;

  expect_start_error ("", (const gchar *[]) {
      "No model set", "\"model\" property", NULL});
  expect_start_error ("model=/nonexistent/qwen3", (const gchar *[]) {
      "/nonexistent/qwen3", "does not exist", NULL});
  props = g_strdup_printf ("model=\"%s\"", g_getenv ("OMNI_TEST_SRCDIR"));
  expect_start_error (props, (const gchar *[]) {
      "Could not load the model", g_getenv ("OMNI_TEST_SRCDIR"), NULL});
  g_free (props);

  loads = omni_engine_load_count ();
  props = g_strdup_printf ("model=\"%s\" target-language=xx-bogus", model_dir);
  expect_start_error (props, (const gchar *[]) {
      "Unknown target-language \"xx-bogus\"", "BCP-47", NULL});
  g_free (props);
  props = g_strdup_printf ("model=\"%s\" source-language=Klingon", model_dir);
  expect_start_error (props, (const gchar *[]) {
      "Unknown source-language \"Klingon\"", NULL});
  g_free (props);
  props = g_strdup_printf ("model=\"%s\" src_0::language-code=Elvish "
      "t.src_0 ! fakesink", model_dir);
  expect_start_error (props, (const gchar *[]) {
      "Unknown language-code \"Elvish\"", "src_0", NULL});
  g_free (props);
  props = g_strdup_printf ("model=\"%s\" t.src_0 ! fakesink", model_dir);
  expect_start_error (props, (const gchar *[]) {
      "src_0 has no language", "language-code", NULL});
  g_free (props);
  props = g_strdup_printf ("model=\"%s\" device=gpu0", model_dir);
  expect_start_error (props, (const gchar *[]) {
      "Invalid device \"gpu0\"", "cuda:N", NULL});
  g_free (props);

  g_assert_true (g_file_set_contents (tsv, "# terms\nkeeper\tgardien\n"
          "penalty gardien\n", -1, NULL));
  props = g_strdup_printf ("model=\"%s\" glossary=\"%s\"", model_dir, tsv);
  expect_start_error (props, (const gchar *[]) {
      tsv, "line 3", "source<TAB>target", NULL});
  g_free (props);
  props = g_strdup_printf ("model=\"%s\" glossary=\"a=b;oops\"", model_dir);
  expect_start_error (props, (const gchar *[]) {
      "Glossary entry 2 \"oops\"", "source=target", NULL});
  g_free (props);
  props = g_strdup_printf ("model=\"%s\" memory=/nonexistent/memory.tsv",
      model_dir);
  expect_start_error (props, (const gchar *[]) {
      "/nonexistent/memory.tsv", NULL});
  g_free (props);

  /* Settings are checked before anything is loaded. */
  g_assert_cmpuint (omni_engine_load_count (), ==, loads);
  g_unlink (tsv);
  g_free (tsv);
}

/* Two elements naming the same model load it once. */
static void
test_shared_engine (void)
{
  GstElement *a = gst_element_factory_make ("omnitranslate", NULL);
  GstElement *b = gst_element_factory_make ("omnitranslate", NULL);
  guint loads = omni_engine_load_count ();

  g_object_set (a, "model", model_dir, "target-language", "de", NULL);
  g_object_set (b, "model", model_dir, "target-language", "fr", NULL);
  g_assert_cmpint (gst_element_set_state (a, GST_STATE_PAUSED), !=,
      GST_STATE_CHANGE_FAILURE);
  g_assert_cmpint (gst_element_set_state (b, GST_STATE_PAUSED), !=,
      GST_STATE_CHANGE_FAILURE);
  g_assert_cmpuint (omni_engine_load_count () - loads, ==, 1);
  gst_element_set_state (a, GST_STATE_NULL);
  gst_element_set_state (b, GST_STATE_NULL);
  gst_object_unref (a);
  gst_object_unref (b);
}

/* "quant" reaches the engine: the same format shares one engine, another
 * format loads a second one (quantized, from the cache directory tests use). */
static void
test_quant_engines (void)
{
  GstElement *e[3];
  const gchar *quant[3] = { "none", "int8", "int8" };
  guint loads = omni_engine_load_count ();
  guint threads;

  for (int i = 0; i < 3; i++) {
    e[i] = gst_element_factory_make ("omnitranslate", NULL);
    g_object_set (e[i], "model", model_dir, "target-language", "de",
        "threads", 1, NULL);
    gst_util_set_object_arg (G_OBJECT (e[i]), "quant", quant[i]);
    g_assert_cmpint (gst_element_set_state (e[i], GST_STATE_PAUSED), !=,
        GST_STATE_CHANGE_FAILURE);
  }
  g_assert_cmpuint (omni_engine_load_count () - loads, ==, 2);
  g_object_get (e[1], "threads", &threads, NULL);
  g_assert_cmpuint (threads, ==, 1);
  for (int i = 0; i < 3; i++) {
    gst_element_set_state (e[i], GST_STATE_NULL);
    gst_object_unref (e[i]);
  }
}

/* gst-inspect shows ranges and defaults; metadata as documented. */
static void
test_properties (void)
{
  GstElementFactory *f = gst_element_factory_find ("omnitranslate");
  GstElement *e = gst_element_factory_make ("omnitranslate", NULL);
  GObjectClass *klass = G_OBJECT_GET_CLASS (e);
  const gchar *names[] = { "model", "device", "latency", "max-tokens",
    "temperature", "stats", "source-language", "target-language", "glossary",
    "domain", "memory", "context-segments"
  };
  GParamSpecUInt *lat;
  gchar *s;

  g_assert_nonnull (f);
  g_assert_cmpstr (gst_element_factory_get_metadata (f,
          GST_ELEMENT_METADATA_LONGNAME), ==, "Qwen translator");
  g_assert_cmpstr (gst_element_factory_get_metadata (f,
          GST_ELEMENT_METADATA_KLASS), ==, "Filter/Text");
  for (guint i = 0; i < G_N_ELEMENTS (names); i++) {
    GParamSpec *p = g_object_class_find_property (klass, names[i]);

    g_assert_nonnull (p);
    g_assert_cmpstr (g_param_spec_get_blurb (p), !=, g_param_spec_get_nick (p));
  }
  lat = G_PARAM_SPEC_UINT (g_object_class_find_property (klass, "latency"));
  g_assert_cmpuint (lat->default_value, ==, 2000);
  g_object_get (e, "source-language", &s, NULL);
  g_assert_cmpstr (s, ==, "auto");
  g_free (s);
  g_object_get (e, "device", &s, NULL);
  g_assert_cmpstr (s, ==, "auto");
  g_free (s);
  gst_object_unref (e);
  gst_object_unref (f);
}

/* Stopping with requests in flight cancels them and returns promptly. */
static void
test_stop_cancels (void)
{
  GstElement *pipeline, *src;
  gint64 t0;

  g_setenv ("OMNI_DEBUG_STEP_DELAY_MS", "200", TRUE);
  pipeline = launch ("appsrc name=src format=time caps=text/x-raw,format=utf8 "
      "! omnitranslate model=\"%s\" max-tokens=%d target-language=de "
      "! fakesink", model_dir, FIXTURE_MAX_TOKENS);
  src = by_name (pipeline, "src");
  set_state_ok (pipeline, GST_STATE_PLAYING);
  g_unsetenv ("OMNI_DEBUG_STEP_DELAY_MS");
  for (guint i = 0; i < 3; i++)
    push_text (src, "Hello.", i * GST_SECOND, GST_SECOND);
  g_usleep (300 * 1000);
  t0 = g_get_monotonic_time ();
  set_state_ok (pipeline, GST_STATE_NULL);
  /* 16 steps of 200 ms would be 3.2 s. */
  g_assert_cmpint (g_get_monotonic_time () - t0, <, 2 * G_USEC_PER_SEC);
  gst_object_unref (pipeline);
}

/* What the core says for @spec, greedy, without the element. */
static gchar *
translate_direct (const OmniTranslateSpec *spec)
{
  GError *error = NULL;
  OmniResultStatus status;
  OmniRequest *req;
  gchar *text;

  req = omni_request_new_translate (spec, &error);
  g_assert_no_error (error);
  omni_request_set_max_tokens (req, FIXTURE_MAX_TOKENS);
  text = omni_test_engine_text (model_dir, NULL, req, &status);
  g_assert_cmpint (status, ==, OMNI_RESULT_DONE);
  return text;
}

/* context-segments=1 in file mode: the second segment is translated with
 * the first one and its translation as context, as the core would. */
static void
test_rolling_context (void)
{
  const gchar *first = "Good morning, everyone.", *second = "See you tomorrow.";
  GstElement *pipeline = launch ("appsrc name=src format=time "
      "caps=text/x-raw,format=utf8 ! omnitranslate model=\"%s\" "
      "max-tokens=%d source-language=en target-language=de "
      "context-segments=1 ! appsink name=sink sync=false", model_dir,
      FIXTURE_MAX_TOKENS);
  GstElement *src = by_name (pipeline, "src"), *sink = by_name (pipeline,
      "sink");
  OmniTextPair ctx = { first, fixture_text ("plain") };
  OmniTranslateSpec spec = { 0 };
  GstSample *sample;
  gchar *text, *with_ctx, *without_ctx;

  spec.text = second;
  spec.source_language = "en";
  spec.target_language = "de";
  without_ctx = translate_direct (&spec);
  spec.context = &ctx;
  spec.n_context = 1;
  with_ctx = translate_direct (&spec);
  /* Otherwise the test could not tell whether context was used. */
  g_assert_cmpstr (with_ctx, !=, without_ctx);

  set_state_ok (pipeline, GST_STATE_PLAYING);
  push_text (src, first, 0, GST_SECOND);
  push_text (src, second, GST_SECOND, GST_SECOND);
  gst_app_src_end_of_stream (GST_APP_SRC (src));
  sample = pull (sink);
  text = sample_text (sample);
  g_assert_cmpstr (text, ==, fixture_text ("plain"));
  g_free (text);
  gst_sample_unref (sample);
  sample = pull (sink);
  text = sample_text (sample);
  g_assert_cmpstr (text, ==, with_ctx);
  g_free (text);
  gst_sample_unref (sample);
  set_state_ok (pipeline, GST_STATE_NULL);
  gst_object_unref (pipeline);
  g_free (with_ctx);
  g_free (without_ctx);
}

/* ------------------------------------------------------------------ srt */

typedef struct {
  guint64 start_ms, end_ms;
  gchar *text;
} Cue;

static void
cue_clear (gpointer data)
{
  g_free (((Cue *) data)->text);
}

static gboolean
parse_srt_time (const gchar *s, guint64 *ms)
{
  guint h, m, sec, milli;

  if (sscanf (s, "%u:%u:%u,%u", &h, &m, &sec, &milli) != 4)
    return FALSE;
  *ms = ((h * 60 + m) * 60 + sec) * 1000ull + milli;
  return TRUE;
}

/* A strict .srt reader: numbered cues 1..n, a time line, >= 1 text line. */
static GArray *
parse_srt (const gchar *path)
{
  gchar *contents, **blocks;
  GArray *cues = g_array_new (FALSE, TRUE, sizeof (Cue));
  GRegex *crlf = g_regex_new ("\r\n", 0, 0, NULL);
  gchar *norm;

  g_array_set_clear_func (cues, cue_clear);
  g_assert_true (g_file_get_contents (path, &contents, NULL, NULL));
  g_assert_true (g_utf8_validate (contents, -1, NULL));
  norm = g_regex_replace_literal (crlf, contents, -1, 0, "\n", 0, NULL);
  g_strstrip (norm);
  blocks = g_strsplit (norm, "\n\n", -1);
  for (guint i = 0; blocks[i]; i++) {
    gchar **lines = g_strsplit (g_strstrip (blocks[i]), "\n", -1);
    gchar **arrow;
    Cue cue = { 0 };

    g_assert_cmpuint (g_strv_length (lines), >=, 3);
    g_assert_cmpuint (g_ascii_strtoull (lines[0], NULL, 10), ==, i + 1);
    arrow = g_strsplit (lines[1], " --> ", 2);
    g_assert_cmpuint (g_strv_length (arrow), ==, 2);
    g_assert_true (parse_srt_time (arrow[0], &cue.start_ms));
    g_assert_true (parse_srt_time (arrow[1], &cue.end_ms));
    g_assert_cmpuint (cue.end_ms, >=, cue.start_ms);
    cue.text = g_strjoinv ("\n", lines + 2);
    g_array_append_val (cues, cue);
    g_strfreev (arrow);
    g_strfreev (lines);
  }
  g_strfreev (blocks);
  g_free (norm);
  g_free (contents);
  g_regex_unref (crlf);
  return cues;
}

/* The example's pipeline: same cues, same times, translated text. */
static void
test_srt_to_srt (void)
{
  gchar *in = g_build_filename (g_getenv ("OMNI_TEST_SRCDIR"), "..",
      "examples", "sample.srt", NULL);
  gchar *out = g_build_filename (tmp_dir, "omni-sample.de.srt", NULL);
  GstElement *pipeline = launch ("filesrc location=\"%s\" ! subparse ! "
      "omnitranslate model=\"%s\" max-tokens=%d source-language=en "
      "target-language=de ! srtenc ! filesink location=\"%s\"", in, model_dir,
      FIXTURE_MAX_TOKENS, out);
  GArray *a, *b;

  g_assert_nonnull (pipeline);
  set_state_ok (pipeline, GST_STATE_PLAYING);
  wait_eos (pipeline);
  set_state_ok (pipeline, GST_STATE_NULL);
  gst_object_unref (pipeline);

  a = parse_srt (in);
  b = parse_srt (out);
  g_assert_cmpuint (a->len, ==, 3);
  g_assert_cmpuint (b->len, ==, a->len);
  for (guint i = 0; i < a->len; i++) {
    Cue *x = &g_array_index (a, Cue, i), *y = &g_array_index (b, Cue, i);

    g_assert_cmpuint (x->start_ms, ==, y->start_ms);
    g_assert_cmpuint (x->end_ms, ==, y->end_ms);
    g_assert_cmpstr (x->text, !=, y->text);
  }
  /* The first cue is the fixture's plain case. */
  g_assert_cmpstr (g_array_index (b, Cue, 0).text, ==, fixture_text ("plain"));
  /* The italic cue keeps its tags around the translation. */
  g_assert_true (g_str_has_prefix (g_array_index (b, Cue, 1).text, "<i>"));
  g_assert_true (g_str_has_suffix (g_array_index (b, Cue, 1).text, "</i>"));
  g_array_unref (a);
  g_array_unref (b);
  g_unlink (out);
  g_free (in);
  g_free (out);
}

int
main (int argc, char **argv)
{
  JsonParser *parser;
  GError *error = NULL;
  gchar *fixture;
  int ret;

  gst_init (&argc, &argv);
  g_test_init (&argc, &argv, NULL);
  model_dir = g_build_filename (g_getenv ("OMNI_TEST_SRCDIR"), "golden",
      "qwen3-dense", NULL);
  tmp_dir = g_dir_make_tmp ("omni-test-XXXXXX", &error);
  g_assert_no_error (error);
  fixture = g_build_filename (model_dir, "translate.json", NULL);
  parser = json_parser_new ();
  if (!json_parser_load_from_file (parser, fixture, &error))
    g_error ("%s: %s", fixture, error->message);
  cases = json_object_get_array_member (json_node_get_object
      (json_parser_get_root (parser)), "cases");

  g_test_add_func ("/omnitranslate/properties", test_properties);
  g_test_add_func ("/omnitranslate/errors", test_errors);
  g_test_add_func ("/omnitranslate/shared-engine", test_shared_engine);
  g_test_add_func ("/omnitranslate/quant-engines", test_quant_engines);
  g_test_add_func ("/omnitranslate/fixture/plain", test_fixture_plain);
  g_test_add_func ("/omnitranslate/fixture/glossary-domain",
      test_fixture_glossary_domain);
  g_test_add_func ("/omnitranslate/fixture/glossary-file",
      test_fixture_glossary_file);
  g_test_add_func ("/omnitranslate/fixture/auto-source",
      test_fixture_auto_source);
  g_test_add_func ("/omnitranslate/markup", test_markup);
  g_test_add_func ("/omnitranslate/two-languages", test_two_languages);
  g_test_add_func ("/omnitranslate/eos-waits", test_eos_waits);
  g_test_add_func ("/omnitranslate/flush-cancels", test_flush_cancels);
  g_test_add_func ("/omnitranslate/latency-query", test_latency_query);
  g_test_add_func ("/omnitranslate/live-late", test_live_late);
  g_test_add_func ("/omnitranslate/srt-to-srt", test_srt_to_srt);
  g_test_add_func ("/omnitranslate/stop-cancels", test_stop_cancels);
  g_test_add_func ("/omnitranslate/rolling-context", test_rolling_context);
  ret = g_test_run ();
  omni_test_remove_dir (tmp_dir);
  g_free (tmp_dir);
  g_object_unref (parser);
  g_free (fixture);
  g_free (model_dir);
  gst_deinit ();
  return ret;
}
