/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * omnivl in real pipelines with the tiny golden models (qwen3-vl,
 * qwen3-omni-thinker): descriptions equal to transformers' greedy output
 * for the exact frames (tests/omni/data/vl-golden.json, made by
 * make_vl_golden.py), clips equal to the engine's own answer on the same
 * frames, scene changes, live timing with a slow engine, EOS, caps
 * change, meta, engine errors, one engine shared with omnicaption, and the
 * examples.
 */
#include <gst/gst.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <string.h>
#include <unistd.h>

#include "gstomnitextmeta.h"
#include "omni-test-util.h"
#include "omnicore.h"

#define RUN_TIMEOUT (300 * GST_SECOND)

static gchar *vl_dir, *thinker_dir, *tmp_dir, *src_dir;

typedef struct {
  GMutex lock;
  GPtrArray *texts;            /* text_src buffers */
  guint n_video, n_video_meta;
  GPtrArray *metas;            /* "kind|text" of the metas on video */
  gboolean text_eos;
  /* omni-description messages kept, omni-caption ones counted */
  OmniTestBus bus;
} Run;

static Run *
run_new (void)
{
  Run *r = g_new0 (Run, 1);

  g_mutex_init (&r->lock);
  r->texts = g_ptr_array_new_with_free_func (g_free);
  r->metas = g_ptr_array_new_with_free_func (g_free);
  omni_test_bus_init (&r->bus, "omni-description", "omni-caption");
  return r;
}

static void
run_free (Run *r)
{
  g_ptr_array_unref (r->texts);
  g_ptr_array_unref (r->metas);
  omni_test_bus_clear (&r->bus);
  g_mutex_clear (&r->lock);
  g_free (r);
}

static GstPadProbeReturn
text_probe (GstPad *pad, GstPadProbeInfo *info, gpointer user_data)
{
  Run *r = user_data;

  g_mutex_lock (&r->lock);
  if (info->type & GST_PAD_PROBE_TYPE_BUFFER) {
    GstBuffer *buf = GST_PAD_PROBE_INFO_BUFFER (info);
    GstMapInfo map;

    g_assert_true (gst_buffer_map (buf, &map, GST_MAP_READ));
    g_ptr_array_add (r->texts, g_strndup ((const gchar *) map.data,
            map.size));
    gst_buffer_unmap (buf, &map);
  } else if (GST_EVENT_TYPE (GST_PAD_PROBE_INFO_EVENT (info)) ==
      GST_EVENT_EOS) {
    r->text_eos = TRUE;
  }
  g_mutex_unlock (&r->lock);
  return GST_PAD_PROBE_OK;
}

static GstPadProbeReturn
video_probe (GstPad *pad, GstPadProbeInfo *info, gpointer user_data)
{
  Run *r = user_data;
  GstOmniTextMeta *meta =
      gst_buffer_get_omni_text_meta (GST_PAD_PROBE_INFO_BUFFER (info));

  g_mutex_lock (&r->lock);
  r->n_video++;
  if (meta) {
    r->n_video_meta++;
    g_ptr_array_add (r->metas, g_strdup_printf ("%s|%s",
            gst_omni_text_kind_to_string (meta->kind), meta->text));
  }
  g_mutex_unlock (&r->lock);
  return GST_PAD_PROBE_OK;
}

static GstElement *
launch (const gchar *desc, Run *r)
{
  GstElement *p = omni_test_parse (desc);

  omni_test_probe_sink (p, "text", GST_PAD_PROBE_TYPE_BUFFER
      | GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM, text_probe, r);
  omni_test_probe_sink (p, "video", GST_PAD_PROBE_TYPE_BUFFER, video_probe,
      r);
  return p;
}

static void
finish (GstElement *p, Run *r)
{
  omni_test_finish (p, &r->bus, "v", RUN_TIMEOUT);
}

static Run *
run_to_eos (const gchar *desc)
{
  Run *r = run_new ();
  GstElement *p = launch (desc, r);

  g_assert_cmpint (gst_element_set_state (p, GST_STATE_PLAYING), !=,
      GST_STATE_CHANGE_FAILURE);
  finish (p, r);
  return r;
}

static guint64
stat_u64 (Run *r, const gchar *field)
{
  return omni_test_stat_u64 (&r->bus, field);
}

static const gchar *
msg_str (Run *r, guint i, const gchar *field)
{
  g_assert_cmpuint (i, <, r->bus.msgs->len);
  return gst_structure_get_string (g_ptr_array_index (r->bus.msgs, i), field);
}

static guint
count_trigger (Run *r, const gchar *trigger)
{
  guint n = 0;

  for (guint i = 0; i < r->bus.msgs->len; i++)
    n += g_strcmp0 (msg_str (r, i, "trigger"), trigger) == 0;
  return n;
}

#define SINKS "fakesink name=video sync=false async=false " \
  "v.text_src ! fakesink name=text sync=false async=false"

static gchar *
slow_model (const gchar *model, const gchar *name)
{
  return omni_test_slow_model (tmp_dir, model, name);
}

/* ------------------------------------------------------------------ tests */

/* Each golden case: the first frame of a videotestsrc pattern in I420 gives
 * exactly transformers' greedy text for the RGB omnivl sent. */
static void
test_golden (void)
{
  gchar *path = g_build_filename (src_dir, "omni", "data", "vl-golden.json",
      NULL);
  JsonParser *parser = json_parser_new ();
  JsonArray *cases;
  GError *error = NULL;

  json_parser_load_from_file (parser, path, &error);
  g_assert_no_error (error);
  cases = json_object_get_array_member (json_node_get_object
      (json_parser_get_root (parser)), "cases");
  g_assert_cmpuint (json_array_get_length (cases), >=, 4);
  for (guint i = 0; i < json_array_get_length (cases); i++) {
    JsonObject *c = json_array_get_object_element (cases, i);
    const gchar *model = json_object_get_string_member (c, "model");
    gchar *desc = g_strdup_printf ("videotestsrc pattern=%s num-buffers=1 ! "
        "video/x-raw,format=I420,width=%d,height=%d,framerate=10/1 ! "
        "omnivl name=v device=cpu max-tokens=%d model=%s/golden/%s ! " SINKS,
        json_object_get_string_member (c, "pattern"),
        (gint) json_object_get_int_member (c, "width"),
        (gint) json_object_get_int_member (c, "height"),
        (gint) json_object_get_int_member (c, "max_tokens"), src_dir, model);
    Run *r = run_to_eos (desc);
    const gchar *want = json_object_get_string_member (c, "greedy_text");

    g_assert_null (r->bus.error);
    g_assert_cmpuint (r->bus.msgs->len, ==, 1);
    g_test_message ("%s: %s", json_object_get_string_member (c, "name"),
        msg_str (r, 0, "text"));
    g_assert_cmpstr (msg_str (r, 0, "text"), ==, want);
    g_assert_cmpstr (msg_str (r, 0, "kind"), ==, "description");
    g_assert_cmpuint (r->texts->len, ==, 1);
    g_assert_cmpstr (g_ptr_array_index (r->texts, 0), ==, want);
    /* the only frame carries the text */
    g_assert_cmpuint (r->n_video_meta, ==, 1);
    run_free (r);
    g_free (desc);
  }
  g_object_unref (parser);
  g_free (path);
}

/* ------------------------------------------------- clip vs engine direct */

/* The engine's greedy text for the clip of @n frames dumped in @dir. */
static gchar *
engine_clip_text (const gchar *dir, guint n, gint w, gint h, gdouble fps,
    gint max_tokens)
{
  OmniImage *images = g_new0 (OmniImage, n);
  gchar **data = g_new0 (gchar *, n);
  OmniVisionSpec spec = { 0 };
  OmniResultStatus status;
  GError *error = NULL;
  OmniRequest *req;
  gchar *text;

  for (guint i = 0; i < n; i++) {
    gchar *name = g_strdup_printf ("look-0000-%03u-%dx%d.rgb", i, w, h);
    gchar *path = g_build_filename (dir, name, NULL);
    gsize len;

    g_assert_true (g_file_get_contents (path, &data[i], &len, NULL));
    g_assert_cmpuint (len, ==, (gsize) w * h * 3);
    images[i].rgb = (const guint8 *) data[i];
    images[i].width = w;
    images[i].height = h;
    images[i].stride = (gsize) w * 3;
    g_free (path);
    g_free (name);
  }
  spec.images = images;
  spec.n_images = (int) n;
  spec.clip_fps = fps;
  req = omni_request_new_vision (&spec, &error);
  g_assert_no_error (error);
  omni_request_set_max_tokens (req, max_tokens);
  text = omni_test_engine_text (vl_dir, "cpu", req, &status);
  for (guint i = 0; i < n; i++)
    g_free (data[i]);
  g_free (data);
  g_free (images);
  if (status != OMNI_RESULT_DONE) {
    g_free (text);
    text = g_strdup ("");
  }
  return text;
}

/* clip-duration 2 s at clip-fps 2 on an 8 fps ball: one clip of 4 sampled
 * frames (every 4th), PTS of its first frame, the engine's text for them. */
static void
test_clip (void)
{
  gchar *dump = g_build_filename (tmp_dir, "clip-dump", NULL);
  gchar *desc = g_strdup_printf ("videotestsrc pattern=ball num-buffers=16 ! "
      "video/x-raw,format=I420,width=64,height=48,framerate=8/1 ! "
      "omnivl name=v device=cpu max-tokens=8 clip-duration=2 interval=0 "
      "model=%s ! " SINKS, vl_dir);
  Run *r;
  gchar *want;
  guint64 pts = 1;

  g_mkdir_with_parents (dump, 0755);
  g_setenv ("GST_OMNIVL_DUMP_DIR", dump, TRUE);
  r = run_to_eos (desc);
  g_unsetenv ("GST_OMNIVL_DUMP_DIR");
  g_assert_null (r->bus.error);
  /* 16 frames = 2 s: exactly one full clip */
  g_assert_cmpuint (r->bus.msgs->len, ==, 1);
  g_assert_true (gst_structure_get_uint64 (g_ptr_array_index (r->bus.msgs, 0),
          "pts", &pts));
  g_assert_cmpuint (pts, ==, 0);
  /* only the sampled frames were converted */
  g_assert_cmpuint (stat_u64 (r, "converted"), ==, 4);
  want = engine_clip_text (dump, 4, 64, 48, 2.0, 8);
  g_test_message ("clip: %s", want);
  g_assert_cmpstr (msg_str (r, 0, "text"), ==, want);
  g_free (want);
  run_free (r);
  g_free (desc);
  g_free (dump);
}

/* ------------------------------------------------------------ scene */

static GstPadProbeReturn
cut_probe (GstPad *pad, GstPadProbeInfo *info, gpointer user_data)
{
  GstElement *src = GST_ELEMENT (user_data);
  guint64 off = GST_BUFFER_OFFSET (GST_PAD_PROBE_INFO_BUFFER (info));

  /* the pattern changes from the 6th frame on */
  if (off == 4)
    g_object_set (src, "pattern", 2 /* black */ , NULL);
  return GST_PAD_PROBE_OK;
}

/* @cut: the pattern changes mid-stream. */
static Run *
run_scene (gboolean cut, gdouble threshold)
{
  gchar *desc = g_strdup_printf ("videotestsrc name=s pattern=smpte "
      "num-buffers=12 ! video/x-raw,format=I420,width=64,height=48,"
      "framerate=10/1 ! omnivl name=v device=cpu max-tokens=2 interval=0 "
      "scene-change=true scene-threshold=%g model=%s ! " SINKS, threshold,
      vl_dir);
  Run *r = run_new ();
  GstElement *p = launch (desc, r);

  if (cut) {
    GstElement *s = gst_bin_get_by_name (GST_BIN (p), "s");
    GstPad *pad = gst_element_get_static_pad (s, "src");

    gst_pad_add_probe (pad, GST_PAD_PROBE_TYPE_BUFFER, cut_probe, s, NULL);
    gst_object_unref (pad);
    gst_object_unref (s);
  }
  g_assert_cmpint (gst_element_set_state (p, GST_STATE_PLAYING), !=,
      GST_STATE_CHANGE_FAILURE);
  finish (p, r);
  g_assert_null (r->bus.error);
  g_free (desc);
  return r;
}

static void
test_scene (void)
{
  Run *r;
  gdouble diff = 0;

  /* static: the first frame only */
  r = run_scene (FALSE, 0.1);
  g_assert_cmpuint (r->bus.msgs->len, ==, 1);
  g_assert_cmpuint (count_trigger (r, "first"), ==, 1);
  g_assert_cmpuint (stat_u64 (r, "converted"), ==, 1);
  run_free (r);
  /* a cut: exactly one more look, at the cut */
  r = run_scene (TRUE, 0.1);
  g_assert_cmpuint (r->bus.msgs->len, ==, 2);
  g_assert_cmpuint (count_trigger (r, "scene"), ==, 1);
  g_assert_true (gst_structure_get_double (g_ptr_array_index (r->bus.msgs, 1),
          "scene-difference", &diff));
  g_test_message ("cut difference %.3f", diff);
  g_assert_cmpfloat (diff, >, 0.1);
  run_free (r);
  /* the same cut below the threshold: no look */
  r = run_scene (TRUE, MIN (0.99, diff + 0.05));
  g_assert_cmpuint (r->bus.msgs->len, ==, 1);
  run_free (r);
}

/* ------------------------------------------------------------- live */

/* Live 20 fps with an engine slower than real time: the frames keep
 * flowing (held by at most latency), looks that find the queue full are
 * dropped and counted, late results are pushed re-timestamped. */
static void
test_live_slow (void)
{
  gchar *slow = slow_model (vl_dir, "vl-slow-live");
  gchar *desc = g_strdup_printf ("videotestsrc is-live=true pattern=ball "
      "num-buffers=60 ! video/x-raw,format=I420,width=64,height=48,"
      "framerate=20/1 ! omnivl name=v device=cpu model=%s max-tokens=4 "
      "interval=250 latency=400 ! fakesink name=video sync=true async=false "
      "v.text_src ! fakesink name=text sync=false async=false", slow);
  Run *r = run_new ();
  GstElement *p = launch (desc, r);
  guint n_mid;

  omni_test_start_slow (p, 150);
  g_usleep (2000 * 1000);
  g_mutex_lock (&r->lock);
  n_mid = r->n_video;
  g_mutex_unlock (&r->lock);
  g_test_message ("after 2 s: %u frames", n_mid);
  /* 40 frames were due; held by at most 0.4 s plus slack */
  g_assert_cmpuint (n_mid, >=, 20);
  finish (p, r);
  g_assert_null (r->bus.error);
  g_assert_cmpuint (r->n_video, ==, 60);
  g_assert_cmpuint (stat_u64 (r, "dropped"), >=, 1);
  g_assert_cmpuint (stat_u64 (r, "late"), >=, 1);
  g_assert_cmpuint (stat_u64 (r, "looks") + stat_u64 (r, "dropped"), ==,
      12);
  g_assert_cmpuint (r->bus.msgs->len, ==, stat_u64 (r, "looks"));
  g_assert_true (r->text_eos);
  run_free (r);
  g_free (desc);
  g_free (slow);
}

/* A file with a slow engine: nothing dropped, EOS after the last text. */
static void
test_eos_waits (void)
{
  gchar *slow = slow_model (vl_dir, "vl-slow-eos");
  gchar *desc = g_strdup_printf ("videotestsrc pattern=ball num-buffers=10 ! "
      "video/x-raw,format=I420,width=64,height=48,framerate=10/1 ! "
      "omnivl name=v device=cpu model=%s max-tokens=4 interval=300 ! "
      SINKS, slow);
  Run *r = run_new ();
  GstElement *p = launch (desc, r);

  omni_test_start_slow (p, 30);
  finish (p, r);
  g_assert_null (r->bus.error);
  /* looks at 0, 0.3, 0.6, 0.9 s */
  g_assert_cmpuint (stat_u64 (r, "looks"), ==, 4);
  g_assert_cmpuint (stat_u64 (r, "dropped"), ==, 0);
  g_assert_cmpuint (r->bus.msgs->len, ==, 4);
  g_assert_cmpuint (r->texts->len, ==, 4);
  g_assert_true (r->text_eos);
  g_assert_cmpuint (r->n_video, ==, 10);
  g_assert_cmpuint (r->n_video_meta, ==, 4);
  run_free (r);
  g_free (desc);
  g_free (slow);
}


/* A flushing seek while a look is being decoded: the looks are cancelled,
 * the stream restarts from 0 with a first look, EOS comes (videotestsrc's
 * num-buffers counts across the seek). */
static void
test_flush_seek (void)
{
  gchar *slow = slow_model (vl_dir, "vl-slow-seek");
  gchar *desc = g_strdup_printf ("videotestsrc pattern=ball num-buffers=20 ! "
      "video/x-raw,format=I420,width=64,height=48,framerate=10/1 ! "
      "omnivl name=v device=cpu model=%s max-tokens=8 interval=500 "
      "queue-depth=2 ! " SINKS, slow);
  Run *r = run_new ();
  GstElement *p = launch (desc, r);

  omni_test_start_slow (p, 100);
  /* the first look is decoding (8 steps of 100 ms) */
  g_usleep (300 * 1000);
  g_assert_true (gst_element_seek_simple (p, GST_FORMAT_TIME,
          GST_SEEK_FLAG_FLUSH, 0));
  finish (p, r);
  g_assert_null (r->bus.error);
  g_assert_cmpuint (stat_u64 (r, "cancelled"), >=, 1);
  g_assert_cmpuint (stat_u64 (r, "results") + stat_u64 (r, "cancelled"), ==,
      stat_u64 (r, "requests"));
  g_assert_cmpuint (stat_u64 (r, "dropped"), ==, 0);
  g_assert_cmpuint (r->bus.msgs->len, ==, stat_u64 (r, "results"));
  g_assert_cmpuint (r->bus.msgs->len, >=, 1);
  /* the stream restarted: its first look (the one before was cancelled) */
  g_assert_cmpuint (count_trigger (r, "first"), ==, 1);
  g_assert_cmpstr (msg_str (r, 0, "trigger"), ==, "first");
  g_assert_true (r->text_eos);
  run_free (r);
  g_free (desc);
  g_free (slow);
}

/* --------------------------------------------------------- caps change */

static GstPadProbeReturn
resize_probe (GstPad *pad, GstPadProbeInfo *info, gpointer user_data)
{
  GstElement *cf = GST_ELEMENT (user_data);
  guint64 off = GST_BUFFER_OFFSET (GST_PAD_PROBE_INFO_BUFFER (info));

  if (off == 4) {
    GstCaps *caps = gst_caps_from_string ("video/x-raw,format=NV12,"
        "width=80,height=60,framerate=10/1");

    g_object_set (cf, "caps", caps, NULL);
    gst_caps_unref (caps);
  }
  return GST_PAD_PROBE_OK;
}

/* Size and format change mid-stream: the next frame is looked at in the
 * new format; no error. */
static void
test_caps_change (void)
{
  gchar *desc = g_strdup_printf ("videotestsrc name=s pattern=smpte "
      "num-buffers=10 ! capsfilter name=cf caps=video/x-raw,format=I420,"
      "width=64,height=48,framerate=10/1 ! omnivl name=v device=cpu "
      "max-tokens=2 interval=0 model=%s ! " SINKS, vl_dir);
  Run *r = run_new ();
  GstElement *p = launch (desc, r);
  GstElement *s = gst_bin_get_by_name (GST_BIN (p), "s");
  GstElement *cf = gst_bin_get_by_name (GST_BIN (p), "cf");
  GstPad *pad = gst_element_get_static_pad (s, "src");

  gst_pad_add_probe (pad, GST_PAD_PROBE_TYPE_BUFFER, resize_probe, cf, NULL);
  gst_object_unref (pad);
  g_assert_cmpint (gst_element_set_state (p, GST_STATE_PLAYING), !=,
      GST_STATE_CHANGE_FAILURE);
  finish (p, r);
  g_assert_null (r->bus.error);
  g_assert_cmpuint (r->n_video, ==, 10);
  g_assert_cmpuint (count_trigger (r, "first"), ==, 2);
  g_assert_cmpuint (r->bus.msgs->len, ==, 2);
  gst_object_unref (cf);
  gst_object_unref (s);
  run_free (r);
  g_free (desc);
}

/* ------------------------------------------------------------ meta */

/* prompt set: kind answer on the text, the message and the meta of the
 * frames looked at (and only those). */
static void
test_meta_answer (void)
{
  gchar *desc = g_strdup_printf ("videotestsrc pattern=smpte num-buffers=6 ! "
      "video/x-raw,format=I420,width=64,height=48,framerate=10/1 ! "
      "omnivl name=v device=cpu max-tokens=3 interval=300 "
      "prompt=\"What colour is on the left?\" model=%s ! " SINKS, vl_dir);
  Run *r = run_to_eos (desc);
  gchar *want;

  g_assert_null (r->bus.error);
  g_assert_cmpuint (r->bus.msgs->len, ==, 2);
  g_assert_cmpstr (msg_str (r, 0, "kind"), ==, "answer");
  g_assert_cmpuint (r->n_video, ==, 6);
  g_assert_cmpuint (r->n_video_meta, ==, 2);
  want = g_strdup_printf ("answer|%s", msg_str (r, 0, "text"));
  g_assert_cmpstr (g_ptr_array_index (r->metas, 0), ==, want);
  g_free (want);
  run_free (r);
  g_free (desc);
}

/* ----------------------------------------------------------- failure */

/* Qwen3-Omni takes no clips: a warning naming clip-duration, the video
 * flows to the end. */
static void
test_clip_on_omni (void)
{
  gchar *desc = g_strdup_printf ("videotestsrc pattern=ball num-buffers=12 ! "
      "video/x-raw,format=I420,width=64,height=48,framerate=4/1 ! "
      "omnivl name=v device=cpu max-tokens=2 clip-duration=1 interval=0 "
      "model=%s ! " SINKS, thinker_dir);
  Run *r = run_to_eos (desc);
  gboolean named = FALSE;

  g_assert_null (r->bus.error);
  g_assert_cmpuint (r->bus.n_warnings, >=, 1);
  g_assert_cmpuint (stat_u64 (r, "errors"), ==, stat_u64 (r, "looks"));
  g_assert_cmpuint (stat_u64 (r, "looks"), >=, 1);
  g_assert_cmpuint (r->bus.msgs->len, ==, 0);
  g_assert_cmpuint (r->n_video, ==, 12);
  g_assert_true (r->text_eos);
  named = r->bus.warning && strstr (r->bus.warning, "clip-duration=1 s")
      && strstr (r->bus.warning, "clip-duration=0");
  if (!named)
    g_error ("no warning names clip-duration (last: %s)", r->bus.warning);
  run_free (r);
  g_free (desc);
}

/* --------------------------------------------------------- shared */

/* omnicaption on the audio, omnivl on the video, one Qwen3-Omni snapshot:
 * both describe, the weights are loaded once. */
static void
test_shared_engine (void)
{
  gchar *desc = g_strdup_printf ("audiotestsrc wave=sine volume=0.3 "
      "samplesperbuffer=1600 num-buffers=15 ! audio/x-raw,rate=16000,"
      "channels=1 ! omnicaption name=c task=caption device=cpu max-tokens=4 "
      "model=%s ! fakesink sync=false async=false c.text_src ! fakesink "
      "sync=false async=false videotestsrc pattern=smpte num-buffers=3 ! "
      "video/x-raw,format=I420,width=64,height=48,framerate=2/1 ! "
      "omnivl name=v device=cpu max-tokens=4 interval=1000 model=%s ! " SINKS,
      thinker_dir, thinker_dir);
  guint loads = omni_engine_load_count ();
  Run *r = run_to_eos (desc);

  g_assert_null (r->bus.error);
  g_assert_cmpuint (r->bus.msgs->len, ==, 2);
  g_assert_cmpuint (r->bus.n_counted, >=, 1);
  g_assert_cmpuint (omni_engine_load_count () - loads, ==, 1);
  run_free (r);
  g_free (desc);
}

/* --------------------------------------------------------- examples */

#if !defined(__SANITIZE_ADDRESS__)
/* A short clip with sound and pictures for the examples. */
static gchar *
make_av_file (void)
{
  gchar *path = g_build_filename (tmp_dir, "av.mkv", NULL);
  gchar *cmd = g_strdup_printf ("gst-launch-1.0 -q videotestsrc "
      "pattern=smpte num-buffers=20 ! video/x-raw,width=64,height=48,"
      "framerate=10/1 ! queue ! matroskamux name=m ! filesink location=%s "
      "audiotestsrc wave=sine volume=0.3 num-buffers=20 "
      "samplesperbuffer=1600 ! audio/x-raw,rate=16000,channels=1 ! queue ! "
      "m.", path);
  gint status;

  g_assert_true (g_spawn_command_line_sync (cmd, NULL, NULL, &status, NULL));
  g_assert_true (g_spawn_check_wait_status (status, NULL));
  g_free (cmd);
  return path;
}

static gchar *
example (const gchar *name)
{
  return g_build_filename (src_dir, "..", "examples", name, NULL);
}
#endif

static void
test_example_jsonl (void)
{
#if defined(__SANITIZE_ADDRESS__)
  g_test_skip ("gst-launch-1.0 cannot load a sanitizer build of the plugin");
#else
  gchar *file = make_av_file ();
  gchar *script = example ("vl-jsonl.sh");
  gchar *log = g_build_filename (tmp_dir, "vl.jsonl", NULL);
  gchar *argv[] = { (gchar *) "sh", script, file, log, vl_dir, NULL };
  gchar *text, **lines;

  g_setenv ("OMNI_VL_ARGS", "max-tokens=3 interval=1000 device=cpu", TRUE);
  g_free (omni_test_run_example (argv));
  g_assert_true (g_file_get_contents (log, &text, NULL, NULL));
  lines = g_strsplit (g_strstrip (text), "\n", -1);
  /* 2 s of video, a look every second */
  g_assert_cmpuint (g_strv_length (lines), ==, 2);
  for (guint i = 0; lines[i]; i++) {
    JsonParser *p = json_parser_new ();
    JsonObject *o;

    g_assert_true (json_parser_load_from_data (p, lines[i], -1, NULL));
    o = json_node_get_object (json_parser_get_root (p));
    g_assert_cmpstr (json_object_get_string_member (o, "kind"), ==,
        "description");
    g_assert_cmpint (json_object_get_int_member (o, "pts"), ==,
        (gint64) i * GST_SECOND);
    g_object_unref (p);
  }
  g_strfreev (lines);
  g_free (text);
  g_free (log);
  g_free (script);
  g_free (file);
#endif
}

static void
test_example_overlay (void)
{
#if defined(__SANITIZE_ADDRESS__)
  g_test_skip ("gst-launch-1.0 cannot load a sanitizer build of the plugin");
#else
  gchar *file = make_av_file ();
  gchar *script = example ("vl-overlay.sh");
  gchar *out = g_build_filename (tmp_dir, "overlay.mkv", NULL);
  gchar *argv[] = { (gchar *) "sh", script, file, vl_dir, (gchar *) "--out",
    out, NULL
  };
  GStatBuf st;

  g_setenv ("OMNI_VL_ARGS", "max-tokens=3 interval=1000 device=cpu", TRUE);
  g_free (omni_test_run_example (argv));
  g_assert_cmpint (g_stat (out, &st), ==, 0);
  g_assert_cmpint (st.st_size, >, 1000);
  g_free (out);
  g_free (script);
  g_free (file);
#endif
}

static void
test_example_shared (void)
{
#if defined(__SANITIZE_ADDRESS__)
  g_test_skip ("gst-launch-1.0 cannot load a sanitizer build of the plugin");
#else
  gchar *file = make_av_file ();
  gchar *script = example ("omni-shared.sh");
  gchar *argv[] = { (gchar *) "sh", script, file, thinker_dir, NULL };
  gchar *out;

  g_setenv ("OMNI_VL_ARGS", "max-tokens=3 interval=1000 device=cpu", TRUE);
  g_setenv ("OMNI_CAPTION_ARGS", "max-tokens=3 device=cpu", TRUE);
  out = omni_test_run_example (argv);
  g_test_message ("%s", out);
  g_assert_nonnull (strstr (out, "\"kind\":\"description\""));
  g_assert_nonnull (strstr (out, "\"kind\":\"caption\""));
  g_free (out);
  g_free (script);
  g_free (file);
#endif
}

int
main (int argc, char **argv)
{
  int ret;

  gst_init (&argc, &argv);
  g_test_init (&argc, &argv, NULL);
  src_dir = g_strdup (g_getenv ("OMNI_TEST_SRCDIR"));
  g_assert_nonnull (src_dir);
  vl_dir = g_build_filename (src_dir, "golden", "qwen3-vl", NULL);
  thinker_dir = g_build_filename (src_dir, "golden", "qwen3-omni-thinker",
      NULL);
  tmp_dir = g_dir_make_tmp ("omnivl-XXXXXX", NULL);
  g_assert_nonnull (tmp_dir);

  g_test_add_func ("/omnivl/golden", test_golden);
  g_test_add_func ("/omnivl/clip", test_clip);
  g_test_add_func ("/omnivl/scene", test_scene);
  g_test_add_func ("/omnivl/live-slow", test_live_slow);
  g_test_add_func ("/omnivl/eos-waits", test_eos_waits);
  g_test_add_func ("/omnivl/flush-seek", test_flush_seek);
  g_test_add_func ("/omnivl/caps-change", test_caps_change);
  g_test_add_func ("/omnivl/meta-answer", test_meta_answer);
  g_test_add_func ("/omnivl/clip-on-omni", test_clip_on_omni);
  g_test_add_func ("/omnivl/shared-engine", test_shared_engine);
  g_test_add_func ("/omnivl/example-jsonl", test_example_jsonl);
  g_test_add_func ("/omnivl/example-overlay", test_example_overlay);
  g_test_add_func ("/omnivl/example-shared", test_example_shared);
  ret = g_test_run ();

  omni_test_remove_dir (tmp_dir);
  g_free (tmp_dir);
  g_free (vl_dir);
  g_free (thinker_dir);
  g_free (src_dir);
  return ret;
}
