/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * omnicaption in real pipelines with the tiny golden models (qwen3-asr:
 * transcribe, qwen3-omni-thinker: caption) on clips built from
 * tests/golden/audio: segment times, the engine's greedy text for exactly
 * each segment's samples, silence, EOS, flushing seek, caps change, live
 * timing with a slow engine, engine errors, the latency check, engine
 * sharing with omnitranslate, and the caption-srt.sh example.
 */
#include <gst/gst.h>
#include <gst/app/app.h>
#include <glib/gstdio.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "gstomnitextmeta.h"
#include "omni-test-util.h"
#include "omnicore.h"

#define RATE 16000
#define MAX_TOKENS 16
/* One segmenter frame plus the overlap. */
#define TIME_TOLERANCE ((20 + 200) * GST_MSECOND)
#define RUN_TIMEOUT (300 * GST_SECOND)

static gchar *asr_dir, *thinker_dir, *tmp_dir;
static gint16 *speech;         /* speech.wav */
static gsize n_speech;
static GstClockTime speech_start, speech_end;  /* its sound, measured */

/* ------------------------------------------------------------ audio data */

static gint16 *
read_wav_s16 (const gchar *path, gsize *n)
{
  gchar *data;
  gsize len;
  gint16 *pcm;

  g_assert_true (g_file_get_contents (path, &data, &len, NULL));
  /* make_audio_golden.py writes plain 44-byte-header PCM WAVs */
  g_assert_cmpuint (len, >, 44);
  g_assert_true (memcmp (data + 36, "data", 4) == 0);
  *n = (len - 44) / 2;
  pcm = g_memdup2 (data + 44, *n * 2);
  g_free (data);
  return pcm;
}

static void
put_le32 (guint8 *p, guint32 v)
{
  p[0] = v;
  p[1] = v >> 8;
  p[2] = v >> 16;
  p[3] = v >> 24;
}

/* Writes @n mono S16 samples at @rate as a WAV in the scratch dir. */
static gchar *
write_wav (const gchar *name, const gint16 *pcm, gsize n, guint rate)
{
  gchar *path = g_build_filename (tmp_dir, name, NULL);
  guint8 *data = g_malloc0 (44 + n * 2);

  memcpy (data, "RIFF", 4);
  put_le32 (data + 4, 36 + n * 2);
  memcpy (data + 8, "WAVEfmt ", 8);
  put_le32 (data + 16, 16);
  data[20] = 1;                 /* PCM */
  data[22] = 1;                 /* mono */
  put_le32 (data + 24, rate);
  put_le32 (data + 28, rate * 2);
  data[32] = 2;
  data[34] = 16;
  memcpy (data + 36, "data", 4);
  put_le32 (data + 40, n * 2);
  memcpy (data + 44, pcm, n * 2);
  g_assert_true (g_file_set_contents (path, (gchar *) data, 44 + n * 2, NULL));
  g_free (data);
  return path;
}

/* speech, @pause_ms of silence, speech again. */
static gint16 *
speech_pause_speech (guint pause_ms, gsize *n)
{
  gsize pause = (gsize) pause_ms * RATE / 1000;
  gint16 *pcm = g_new0 (gint16, 2 * n_speech + pause);

  memcpy (pcm, speech, n_speech * 2);
  memcpy (pcm + n_speech + pause, speech, n_speech * 2);
  *n = 2 * n_speech + pause;
  return pcm;
}

/* Where speech.wav's sound is: the first and last 20 ms frame above
 * -50 dBFS (the segmenter's default threshold). */
static void
measure_speech (void)
{
  const gsize frame = RATE / 50;
  gssize first = -1, last = -1;

  for (gsize f = 0; (f + 1) * frame <= n_speech; f++) {
    double sum = 0;

    for (gsize i = f * frame; i < (f + 1) * frame; i++)
      sum += (speech[i] / 32768.0) * (speech[i] / 32768.0);
    if (10 * log10 (sum / frame + 1e-12) > -50) {
      if (first < 0)
        first = f;
      last = f;
    }
  }
  g_assert_cmpint (first, >=, 0);
  speech_start = gst_util_uint64_scale (first * frame, GST_SECOND, RATE);
  speech_end = gst_util_uint64_scale ((last + 1) * frame, GST_SECOND, RATE);
}

/* --------------------------------------------------------------- running */

typedef struct {
  GstClockTime pts, duration;
  gchar *text;
} TextBuf;

typedef struct {
  GMutex lock;
  GPtrArray *texts;            /* TextBuf from text_src */
  GArray *gap_ends;            /* GstClockTime: end of each text GAP */
  gboolean text_eos;
  guint text_after_eos;
  guint n_audio;
  GstClockTime audio_end;      /* end of the last audio buffer */
  guint n_audio_meta;          /* audio buffers with a GstOmniTextMeta */
  GPtrArray *audio_meta;       /* per audio buffer: the first meta's text or NULL */
  GArray *audio_pts;
  gboolean flushed;
  OmniTestBus bus;             /* omni-caption messages kept */
} Run;

static void
text_buf_free (gpointer data)
{
  TextBuf *t = data;

  g_free (t->text);
  g_free (t);
}

static Run *
run_new (void)
{
  Run *r = g_new0 (Run, 1);

  g_mutex_init (&r->lock);
  r->texts = g_ptr_array_new_with_free_func (text_buf_free);
  r->gap_ends = g_array_new (FALSE, FALSE, sizeof (GstClockTime));
  r->audio_meta = g_ptr_array_new_with_free_func (g_free);
  r->audio_pts = g_array_new (FALSE, FALSE, sizeof (GstClockTime));
  omni_test_bus_init (&r->bus, "omni-caption", NULL);
  return r;
}

static void
run_free (Run *r)
{
  g_ptr_array_unref (r->texts);
  g_array_unref (r->gap_ends);
  g_ptr_array_unref (r->audio_meta);
  g_array_unref (r->audio_pts);
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
    TextBuf *t = g_new0 (TextBuf, 1);
    GstMapInfo map;

    g_assert_true (gst_buffer_map (buf, &map, GST_MAP_READ));
    t->text = g_strndup ((const gchar *) map.data, map.size);
    gst_buffer_unmap (buf, &map);
    t->pts = GST_BUFFER_PTS (buf);
    t->duration = GST_BUFFER_DURATION (buf);
    g_ptr_array_add (r->texts, t);
    if (r->text_eos)
      r->text_after_eos++;
  } else {
    GstEvent *ev = GST_PAD_PROBE_INFO_EVENT (info);
    GstClockTime ts, dur;

    if (GST_EVENT_TYPE (ev) == GST_EVENT_GAP) {
      gst_event_parse_gap (ev, &ts, &dur);
      ts += GST_CLOCK_TIME_IS_VALID (dur) ? dur : 0;
      g_array_append_val (r->gap_ends, ts);
    } else if (GST_EVENT_TYPE (ev) == GST_EVENT_EOS) {
      r->text_eos = TRUE;
    } else if (GST_EVENT_TYPE (ev) == GST_EVENT_FLUSH_STOP) {
      r->flushed = TRUE;
    }
  }
  g_mutex_unlock (&r->lock);
  return GST_PAD_PROBE_OK;
}

static GstPadProbeReturn
audio_probe (GstPad *pad, GstPadProbeInfo *info, gpointer user_data)
{
  Run *r = user_data;
  GstBuffer *buf = GST_PAD_PROBE_INFO_BUFFER (info);
  GstOmniTextMeta *meta = gst_buffer_get_omni_text_meta (buf);
  GstClockTime pts = GST_BUFFER_PTS (buf);

  g_mutex_lock (&r->lock);
  r->n_audio++;
  if (GST_BUFFER_PTS_IS_VALID (buf) && GST_BUFFER_DURATION_IS_VALID (buf))
    r->audio_end = pts + GST_BUFFER_DURATION (buf);
  if (meta)
    r->n_audio_meta++;
  g_ptr_array_add (r->audio_meta, meta ? g_strdup (meta->text) : NULL);
  g_array_append_val (r->audio_pts, pts);
  g_mutex_unlock (&r->lock);
  return GST_PAD_PROBE_OK;
}

static GstElement *
launch (const gchar *desc, Run *r)
{
  GstElement *p = omni_test_parse (desc);

  omni_test_probe_sink (p, "text", GST_PAD_PROBE_TYPE_BUFFER
      | GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM | GST_PAD_PROBE_TYPE_EVENT_FLUSH,
      text_probe, r);
  omni_test_probe_sink (p, "audio", GST_PAD_PROBE_TYPE_BUFFER, audio_probe,
      r);
  return p;
}

/* Runs @desc to EOS; the element must be named c, the sinks audio / text. */
static Run *
run_to_eos (const gchar *desc)
{
  Run *r = run_new ();
  GstElement *p = launch (desc, r);

  g_assert_cmpint (gst_element_set_state (p, GST_STATE_PLAYING), !=,
      GST_STATE_CHANGE_FAILURE);
  omni_test_finish (p, &r->bus, "c", RUN_TIMEOUT);
  return r;
}

static guint64
stat_u64 (Run *r, const gchar *field)
{
  return omni_test_stat_u64 (&r->bus, field);
}

static const GstStructure *
msg (Run *r, guint i)
{
  g_assert_cmpuint (i, <, r->bus.msgs->len);
  return g_ptr_array_index (r->bus.msgs, i);
}

static guint64
msg_u64 (Run *r, guint i, const gchar *field)
{
  guint64 v = 0;

  g_assert_true (gst_structure_get_uint64 (msg (r, i), field, &v));
  return v;
}

static void
assert_near (GstClockTime a, GstClockTime b, GstClockTime tol)
{
  if ((a > b ? a - b : b - a) > tol)
    g_error ("%" GST_TIME_FORMAT " is not %" GST_TIME_FORMAT " +- %"
        GST_TIME_FORMAT, GST_TIME_ARGS (a), GST_TIME_ARGS (b),
        GST_TIME_ARGS (tol));
}

/* The text_src lines joined by spaces. */
static gchar *
joined_lines (Run *r, GstClockTime from, GstClockTime to)
{
  GString *s = g_string_new (NULL);

  for (guint i = 0; i < r->texts->len; i++) {
    TextBuf *t = g_ptr_array_index (r->texts, i);

    if (t->pts < from || t->pts >= to)
      continue;
    if (s->len)
      g_string_append_c (s, ' ');
    g_string_append (s, t->text);
  }
  return g_string_free (s, FALSE);
}

/* @text with runs of white space as one space, no space at the ends. */
static gchar *
normalize_space (const gchar *text)
{
  gchar **words = g_strsplit_set (text, " \t\r\n", -1);
  GString *s = g_string_new (NULL);

  for (guint i = 0; words[i]; i++) {
    if (!*words[i])
      continue;
    if (s->len)
      g_string_append_c (s, ' ');
    g_string_append (s, words[i]);
  }
  g_strfreev (words);
  return g_string_free (s, FALSE);
}

/* ------------------------------------------------------- engine directly */

/* The engine's greedy text for @n samples of @pcm (S16 as the element
 * converts it: s / 32768). */
static gchar *
engine_text (const gchar *model, const gint16 *pcm, gsize n, OmniAudioTask task)
{
  GError *error = NULL;
  OmniAudioSpec spec = { 0 };
  OmniResultStatus status;
  OmniRequest *req;
  gfloat *f = g_new (gfloat, n);
  gchar *text;

  for (gsize i = 0; i < n; i++)
    f[i] = pcm[i] / 32768.0f;
  spec.pcm = f;
  spec.n_samples = n;
  spec.task = task;
  req = omni_request_new_audio (&spec, &error);
  g_assert_no_error (error);
  omni_request_set_max_tokens (req, MAX_TOKENS);
  omni_request_set_temperature (req, 0.0);
  text = omni_test_engine_text (model, NULL, req, &status);
  g_assert_cmpint (status, ==, OMNI_RESULT_DONE);
  g_free (f);
  return text;
}

/* --------------------------------------------------------------- helpers */

static gchar *
slow_model (const gchar *model, const gchar *name)
{
  return omni_test_slow_model (tmp_dir, model, name);
}

#define SINKS "fakesink name=audio sync=false async=false " \
  "c.text_src ! fakesink name=text sync=false async=false"

/* ------------------------------------------------------------------ tests */

static void
test_two_segments (void)
{
  gsize n;
  gint16 *pcm = speech_pause_speech (1500, &n);
  gchar *wav = write_wav ("sps.wav", pcm, n, RATE);
  gchar *desc = g_strdup_printf ("filesrc location=%s ! wavparse ! "
      "omnicaption name=c model=%s max-tokens=%d ! " SINKS, wav, asr_dir,
      MAX_TOKENS);
  Run *r = run_to_eos (desc);
  GstClockTime second = gst_util_uint64_scale (n_speech + RATE * 3 / 2,
      GST_SECOND, RATE);

  g_assert_null (r->bus.error);
  g_assert_cmpuint (r->bus.msgs->len, ==, 2);
  for (guint i = 0; i < 2; i++) {
    GstClockTime off = i ? second : 0;
    guint64 a = msg_u64 (r, i, "audio-start-sample");
    guint64 b = msg_u64 (r, i, "audio-end-sample");
    const gchar *text = gst_structure_get_string (msg (r, i), "text");
    gchar *golden, *lines, *norm;

    assert_near (msg_u64 (r, i, "pts"), off + speech_start, TIME_TOLERANCE);
    assert_near (msg_u64 (r, i, "pts") + msg_u64 (r, i, "duration"),
        off + speech_end, TIME_TOLERANCE);
    g_assert_cmpstr (gst_structure_get_string (msg (r, i), "kind"), ==,
        "transcript");
    g_assert_cmpuint (msg_u64 (r, i, "seq"), ==, i);
    /* the audio sent: the overlap before the sound, at 16 kHz */
    g_assert_cmpuint (a, <=, b);
    g_assert_cmpuint (b, <=, n);
    assert_near (msg_u64 (r, i, "audio-start"),
        gst_util_uint64_scale (a, GST_SECOND, RATE), GST_USECOND * 100);
    golden = engine_text (asr_dir, pcm + a, b - a, OMNI_AUDIO_TRANSCRIBE);
    g_test_message ("segment %u: \"%s\"", i, golden);
    g_assert_cmpstr (text, ==, golden);
    /* text_src: the same text, in lines of at most 32 characters */
    lines = joined_lines (r, msg_u64 (r, i, "pts"), msg_u64 (r, i, "pts")
        + msg_u64 (r, i, "duration"));
    norm = normalize_space (golden);
    g_assert_cmpstr (lines, ==, norm);
    g_free (norm);
    g_free (lines);
    g_free (golden);
  }
  for (guint i = 0; i < r->texts->len; i++) {
    TextBuf *t = g_ptr_array_index (r->texts, i);

    g_assert_cmpint (g_utf8_strlen (t->text, -1), <=, 32);
    g_assert_true (GST_CLOCK_TIME_IS_VALID (t->duration));
  }
  g_assert_true (r->text_eos);
  /* every audio buffer went through, those inside a segment with its text */
  assert_near (r->audio_end, gst_util_uint64_scale (n, GST_SECOND, RATE),
      GST_MSECOND);
  g_assert_cmpuint (r->n_audio_meta, >, 0);
  for (guint i = 0; i < r->audio_pts->len; i++) {
    GstClockTime pts = g_array_index (r->audio_pts, GstClockTime, i);
    const gchar *t = g_ptr_array_index (r->audio_meta, i);

    if (pts >= speech_start + 100 * GST_MSECOND
        && pts + 100 * GST_MSECOND < speech_end)
      g_assert_cmpstr (t, ==, gst_structure_get_string (msg (r, 0), "text"));
  }
  g_assert_cmpuint (stat_u64 (r, "segments"), ==, 2);
  g_assert_cmpuint (stat_u64 (r, "results"), ==, 2);
  g_assert_cmpuint (stat_u64 (r, "late"), ==, 0);
  run_free (r);
  g_free (desc);
  g_free (wav);
  g_free (pcm);
}

static void
test_silence_file (void)
{
  gint16 *zero = g_new0 (gint16, 3 * RATE);
  gchar *wav = write_wav ("silence.wav", zero, 3 * RATE, RATE);
  gchar *desc = g_strdup_printf ("filesrc location=%s ! wavparse ! "
      "omnicaption name=c model=%s max-tokens=%d ! " SINKS, wav, asr_dir,
      MAX_TOKENS);
  Run *r = run_to_eos (desc);

  g_assert_null (r->bus.error);
  g_assert_cmpuint (r->bus.msgs->len, ==, 0);
  g_assert_cmpuint (r->texts->len, ==, 0);
  g_assert_true (r->text_eos);
  g_assert_cmpuint (stat_u64 (r, "segments"), ==, 0);
  g_assert_cmpuint (r->n_audio_meta, ==, 0);
  assert_near (r->audio_end, 3 * GST_SECOND, GST_MSECOND);
  run_free (r);
  g_free (desc);
  g_free (wav);
  g_free (zero);
}

static void
test_silence_live (void)
{
  gchar *desc = g_strdup_printf ("audiotestsrc is-live=true wave=silence "
      "samplesperbuffer=320 num-buffers=100 ! audio/x-raw,rate=16000,"
      "channels=1 ! omnicaption name=c model=%s latency=1000 ! " SINKS,
      asr_dir);
  Run *r = run_to_eos (desc);
  GstClockTime prev = 0;

  g_assert_null (r->bus.error);
  g_assert_cmpuint (r->texts->len, ==, 0);
  g_assert_cmpuint (r->bus.msgs->len, ==, 0);
  g_assert_cmpuint (r->gap_ends->len, >=, 10);
  for (guint i = 0; i < r->gap_ends->len; i++) {
    GstClockTime end = g_array_index (r->gap_ends, GstClockTime, i);

    g_assert_cmpuint (end, >=, prev);
    g_assert_cmpuint (end - prev, <=, 100 * GST_MSECOND);
    prev = end;
  }
  /* the silence is covered to its end: 100 buffers of 20 ms */
  assert_near (prev, 2 * GST_SECOND, 300 * GST_MSECOND);
  g_assert_cmpuint (r->n_audio, ==, 100);
  run_free (r);
  g_free (desc);
}

static void
test_caption_task (void)
{
  gchar *tones = g_build_filename (g_getenv ("OMNI_TEST_SRCDIR"), "golden",
      "audio", "tones.wav", NULL);
  gint16 *zero = g_new0 (gint16, 2 * RATE);
  gchar *silence = write_wav ("silence2.wav", zero, 2 * RATE, RATE);
  gchar *desc = g_strdup_printf ("filesrc location=%s ! wavparse ! "
      "omnicaption name=c task=caption model=%s max-tokens=%d ! " SINKS,
      tones, thinker_dir, MAX_TOKENS);
  Run *r = run_to_eos (desc);

  g_assert_null (r->bus.error);
  g_assert_cmpuint (r->bus.msgs->len, ==, 1);
  g_assert_cmpstr (gst_structure_get_string (msg (r, 0), "kind"), ==,
      "caption");
  g_assert_cmpstr (gst_structure_get_string (msg (r, 0), "text"), !=, "");
  g_assert_cmpuint (r->texts->len, >=, 1);
  run_free (r);
  g_free (desc);

  desc = g_strdup_printf ("filesrc location=%s ! wavparse ! "
      "omnicaption name=c task=caption model=%s max-tokens=%d ! " SINKS,
      silence, thinker_dir, MAX_TOKENS);
  r = run_to_eos (desc);
  g_assert_null (r->bus.error);
  g_assert_cmpuint (r->bus.msgs->len, ==, 0);
  g_assert_cmpuint (r->texts->len, ==, 0);
  run_free (r);
  g_free (desc);
  g_free (silence);
  g_free (zero);
  g_free (tones);
}

/* speech.wav ends 0.4 s after its sound: EOS closes the segment, and the
 * text's EOS waits for its (slow) result. */
static void
test_eos_waits (void)
{
  gchar *slow = slow_model (asr_dir, "asr-slow-eos");
  gchar *wav = write_wav ("speech.wav", speech, n_speech, RATE);
  gchar *desc = g_strdup_printf ("filesrc location=%s ! wavparse ! "
      "omnicaption name=c model=%s max-tokens=%d ! " SINKS, wav, slow,
      MAX_TOKENS);
  Run *r = run_new ();
  GstElement *p = launch (desc, r);

  omni_test_start_slow (p, 30);
  omni_test_wait_eos (p, &r->bus, RUN_TIMEOUT);
  g_assert_null (r->bus.error);
  g_assert_cmpuint (r->bus.msgs->len, ==, 1);
  g_assert_cmpuint (r->texts->len, >=, 1);
  g_assert_true (r->text_eos);
  g_assert_cmpuint (r->text_after_eos, ==, 0);
  assert_near (r->audio_end, gst_util_uint64_scale (n_speech, GST_SECOND,
          RATE), GST_MSECOND);
  gst_element_set_state (p, GST_STATE_NULL);
  gst_object_unref (p);
  run_free (r);
  g_free (desc);
  g_free (wav);
  g_free (slow);
}

static GstPadProbeReturn
seek_on_first_buffer (GstPad *pad, GstPadProbeInfo *info, gpointer user_data)
{
  gint *seeks = user_data;

  if (g_atomic_int_compare_and_exchange (seeks, 0, 1))
    return GST_PAD_PROBE_REMOVE;
  return GST_PAD_PROBE_OK;
}

static guint64
live_stat (GstElement *p, const gchar *field)
{
  GstElement *c = gst_bin_get_by_name (GST_BIN (p), "c");
  GstStructure *s;
  guint64 v = 0;

  g_object_get (c, "stats", &s, NULL);
  g_assert_true (gst_structure_get_uint64 (s, field, &v));
  gst_structure_free (s);
  gst_object_unref (c);
  return v;
}

/* A flushing seek while the first segment is still open (@in_flight
 * FALSE: at the first audio buffer) or its request is running: nothing of
 * it comes out, and the element goes on with the second segment. */
static void
test_flush_seek (gconstpointer data)
{
  gboolean in_flight = GPOINTER_TO_INT (data);
  gchar *slow = slow_model (asr_dir, "asr-slow-seek");
  gsize n;
  gint16 *pcm = speech_pause_speech (1500, &n);
  gchar *wav = write_wav ("sps-seek.wav", pcm, n, RATE);
  gchar *desc = g_strdup_printf ("filesrc location=%s ! wavparse ! "
      "omnicaption name=c model=%s max-tokens=%d attach-meta=false ! "
      SINKS, wav, slow, MAX_TOKENS);
  GstClockTime second = gst_util_uint64_scale (n_speech + RATE * 3 / 2,
      GST_SECOND, RATE);
  Run *r = run_new ();
  GstElement *p = launch (desc, r);
  GstElement *audio = gst_bin_get_by_name (GST_BIN (p), "audio");
  GstPad *pad = gst_element_get_static_pad (audio, "sink");
  gint seeks = 0;

  gst_pad_add_probe (pad, GST_PAD_PROBE_TYPE_BUFFER, seek_on_first_buffer,
      &seeks, NULL);
  omni_test_start_slow (p, 100);
  while (!g_atomic_int_get (&seeks))
    g_usleep (1000);
  while (in_flight && live_stat (p, "requests") == 0)
    g_usleep (1000);
  g_assert_true (gst_element_seek_simple (p, GST_FORMAT_TIME,
          GST_SEEK_FLAG_FLUSH, 4 * GST_SECOND));
  omni_test_wait_eos (p, &r->bus, RUN_TIMEOUT);
  omni_test_grab_stats (p, &r->bus, "c");
  g_assert_null (r->bus.error);
  g_assert_true (r->flushed);
  if (in_flight)
    g_assert_cmpuint (stat_u64 (r, "cancelled"), >=, 1);
  /* only the second segment's result, at its own time */
  g_assert_cmpuint (r->bus.msgs->len, ==, 1);
  assert_near (msg_u64 (r, 0, "pts"), second + speech_start, TIME_TOLERANCE);
  g_assert_true (r->text_eos);
  for (guint i = 0; i < r->texts->len; i++)
    g_assert_cmpuint (((TextBuf *) g_ptr_array_index (r->texts, i))->pts,
        >=, 4 * GST_SECOND);
  /* attach-meta=false: the audio passes at once, bare */
  g_assert_cmpuint (r->n_audio_meta, ==, 0);
  gst_element_set_state (p, GST_STATE_NULL);
  gst_object_unref (pad);
  gst_object_unref (audio);
  gst_object_unref (p);
  run_free (r);
  g_free (desc);
  g_free (wav);
  g_free (pcm);
  g_free (slow);
}

/* READY with a request in flight (each step 0.5 s, 16 tokens: 8 s) cancels
 * it instead of waiting. */
static void
test_stop_in_flight (void)
{
  gchar *slow = slow_model (asr_dir, "asr-slow-stop");
  gchar *wav = write_wav ("speech-stop.wav", speech, n_speech, RATE);
  gchar *desc = g_strdup_printf ("filesrc location=%s ! wavparse ! "
      "omnicaption name=c model=%s max-tokens=%d ! " SINKS, wav, slow,
      MAX_TOKENS);
  Run *r = run_new ();
  GstElement *p = launch (desc, r);
  GstElement *c = gst_bin_get_by_name (GST_BIN (p), "c");
  guint64 requests = 0;
  gint64 t0;

  omni_test_start_slow (p, 500);
  while (requests == 0) {
    GstStructure *s;

    g_usleep (10 * 1000);
    g_object_get (c, "stats", &s, NULL);
    g_assert_true (gst_structure_get_uint64 (s, "requests", &requests));
    gst_structure_free (s);
  }
  t0 = g_get_monotonic_time ();
  g_assert_cmpint (gst_element_set_state (p, GST_STATE_NULL), ==,
      GST_STATE_CHANGE_SUCCESS);
  g_assert_cmpint (g_get_monotonic_time () - t0, <, 3 * G_USEC_PER_SEC);
  g_assert_cmpuint (r->bus.msgs->len, ==, 0);
  gst_object_unref (c);
  gst_object_unref (p);
  run_free (r);
  g_free (desc);
  g_free (wav);
  g_free (slow);
}

static void
push_s16 (GstElement *src, const gint16 *pcm, gsize n, guint rate,
    GstClockTime *pts)
{
  GstBuffer *buf = gst_buffer_new_memdup (pcm, n * 2);

  GST_BUFFER_PTS (buf) = *pts;
  GST_BUFFER_DURATION (buf) = gst_util_uint64_scale (n, GST_SECOND, rate);
  *pts += GST_BUFFER_DURATION (buf);
  g_assert_cmpint (gst_app_src_push_buffer (GST_APP_SRC (src), buf), ==,
      GST_FLOW_OK);
}

static GstCaps *
s16_caps (guint rate)
{
  return gst_caps_new_simple ("audio/x-raw", "format", G_TYPE_STRING, "S16LE",
      "rate", G_TYPE_INT, rate, "channels", G_TYPE_INT, 1, "layout",
      G_TYPE_STRING, "interleaved", NULL);
}

/* Speech at 16 kHz, then (new caps) the same speech at 48 kHz: two
 * segments at the right times. */
static void
test_caps_change (void)
{
  gchar *desc = g_strdup_printf ("appsrc name=src format=time ! "
      "omnicaption name=c model=%s max-tokens=%d ! " SINKS, asr_dir,
      MAX_TOKENS);
  Run *r = run_new ();
  GstElement *p = launch (desc, r);
  GstElement *src = gst_bin_get_by_name (GST_BIN (p), "src");
  gsize n48 = n_speech * 3;
  gint16 *up = g_new (gint16, n48);
  gint16 *zero = g_new0 (gint16, 48000);
  GstClockTime pts = 0, second;
  GstCaps *caps;

  for (gsize i = 0; i < n48; i++) {
    gsize j = i / 3;
    gint a = speech[j], b = j + 1 < n_speech ? speech[j + 1] : 0;

    up[i] = (gint16) (a + (b - a) * (gint) (i % 3) / 3);
  }
  caps = s16_caps (16000);
  g_object_set (src, "caps", caps, NULL);
  gst_caps_unref (caps);
  g_assert_cmpint (gst_element_set_state (p, GST_STATE_PLAYING), !=,
      GST_STATE_CHANGE_FAILURE);
  for (gsize off = 0; off < n_speech; off += 1600)
    push_s16 (src, speech + off, MIN (1600, n_speech - off), 16000, &pts);
  push_s16 (src, zero, 16000, 16000, &pts);
  second = pts;
  caps = s16_caps (48000);
  g_object_set (src, "caps", caps, NULL);
  gst_caps_unref (caps);
  for (gsize off = 0; off < n48; off += 4800)
    push_s16 (src, up + off, MIN (4800, n48 - off), 48000, &pts);
  push_s16 (src, zero, 48000, 48000, &pts);
  g_assert_cmpint (gst_app_src_end_of_stream (GST_APP_SRC (src)), ==,
      GST_FLOW_OK);
  omni_test_wait_eos (p, &r->bus, RUN_TIMEOUT);
  g_assert_null (r->bus.error);
  g_assert_cmpuint (r->bus.msgs->len, ==, 2);
  assert_near (msg_u64 (r, 0, "pts"), speech_start, TIME_TOLERANCE);
  assert_near (msg_u64 (r, 1, "pts"), second + speech_start, TIME_TOLERANCE);
  assert_near (msg_u64 (r, 1, "pts") + msg_u64 (r, 1, "duration"),
      second + speech_end, TIME_TOLERANCE);
  assert_near (r->audio_end, pts, GST_MSECOND);
  gst_element_set_state (p, GST_STATE_NULL);
  gst_object_unref (src);
  gst_object_unref (p);
  run_free (r);
  g_free (desc);
  g_free (up);
  g_free (zero);
}

/* Live with an engine slower than real time: audio and text GAPs keep
 * flowing, late results are counted and still pushed. */
static void
test_live_slow (void)
{
  gchar *slow = slow_model (thinker_dir, "thinker-slow-live");
  gchar *desc = g_strdup_printf ("audiotestsrc is-live=true wave=sine "
      "volume=0.3 samplesperbuffer=320 num-buffers=200 ! audio/x-raw,"
      "rate=16000,channels=1 ! omnicaption name=c task=caption model=%s "
      "max-tokens=8 max-segment=1000 overlap=0 latency=600 ! "
      "fakesink name=audio sync=true async=false c.text_src ! "
      "fakesink name=text sync=false async=false", slow);
  Run *r = run_new ();
  GstElement *p = launch (desc, r);
  guint n_audio_mid, n_gaps_mid;

  omni_test_start_slow (p, 150);
  /* 2.5 s into the 4 s stream, the engine is still busy */
  g_usleep (2500 * 1000);
  g_mutex_lock (&r->lock);
  n_audio_mid = r->n_audio;
  n_gaps_mid = r->gap_ends->len;
  g_mutex_unlock (&r->lock);
  g_test_message ("after 2.5 s: %u audio buffers, %u gaps", n_audio_mid,
      n_gaps_mid);
  /* held back by at most latency (0.6 s) plus scheduling slack */
  g_assert_cmpuint (n_audio_mid, >=, 50);
  g_assert_cmpuint (n_gaps_mid, >=, 1);
  omni_test_wait_eos (p, &r->bus, RUN_TIMEOUT);
  omni_test_grab_stats (p, &r->bus, "c");
  g_assert_null (r->bus.error);
  g_assert_cmpuint (r->n_audio, ==, 200);
  g_assert_cmpuint (stat_u64 (r, "segments"), >=, 3);
  g_assert_cmpuint (stat_u64 (r, "late"), >=, 1);
  g_assert_cmpuint (stat_u64 (r, "results"), ==, r->bus.msgs->len);
  g_assert_cmpuint (r->bus.msgs->len, ==, stat_u64 (r, "segments"));
  gst_element_set_state (p, GST_STATE_NULL);
  gst_object_unref (p);
  run_free (r);
  g_free (desc);
  g_free (slow);
}

/* Qwen3-ASR refuses captions: a warning per segment, the audio goes on. */
static void
test_engine_failure (void)
{
  gsize n;
  gint16 *pcm = speech_pause_speech (1500, &n);
  gchar *wav = write_wav ("sps-fail.wav", pcm, n, RATE);
  gchar *desc = g_strdup_printf ("filesrc location=%s ! wavparse ! "
      "omnicaption name=c task=caption model=%s max-tokens=%d ! " SINKS,
      wav, asr_dir, MAX_TOKENS);
  Run *r = run_to_eos (desc);

  g_assert_null (r->bus.error);
  g_assert_cmpuint (r->bus.n_warnings, ==, 2);
  g_assert_nonnull (strstr (r->bus.warning, "Qwen3-ASR"));
  g_assert_cmpuint (r->bus.msgs->len, ==, 0);
  g_assert_cmpuint (stat_u64 (r, "errors"), ==, 2);
  g_assert_true (r->text_eos);
  assert_near (r->audio_end, gst_util_uint64_scale (n, GST_SECOND, RATE),
      GST_MSECOND);
  run_free (r);
  g_free (desc);
  g_free (wav);
  g_free (pcm);
}

static void
test_latency_too_small (void)
{
  gchar *desc = g_strdup_printf ("audiotestsrc ! omnicaption name=c "
      "model=%s latency=300 ! " SINKS, asr_dir);
  Run *r = run_new ();
  GstElement *p = launch (desc, r);
  GstBus *bus = gst_element_get_bus (p);
  GstMessage *m;
  GError *err = NULL;

  g_assert_cmpint (gst_element_set_state (p, GST_STATE_PAUSED), ==,
      GST_STATE_CHANGE_FAILURE);
  m = gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR);
  g_assert_nonnull (m);
  gst_message_parse_error (m, &err, NULL);
  g_test_message ("%s", err->message);
  g_assert_nonnull (strstr (err->message, "300 ms"));
  g_assert_nonnull (strstr (err->message, "smallest valid value is 500 ms"));
  g_error_free (err);
  gst_message_unref (m);
  gst_element_set_state (p, GST_STATE_NULL);
  gst_object_unref (bus);
  gst_object_unref (p);
  run_free (r);
  g_free (desc);
}

/* Captions translated on the fly, both on one model directory: one load. */
static void
test_shared_engine (void)
{
  gchar *tones = g_build_filename (g_getenv ("OMNI_TEST_SRCDIR"), "golden",
      "audio", "tones.wav", NULL);
  gchar *desc = g_strdup_printf ("filesrc location=%s ! wavparse ! "
      "omnicaption name=c task=caption model=%s max-tokens=%d ! "
      "fakesink name=audio sync=false async=false c.text_src ! "
      "omnitranslate model=%s target-language=de max-tokens=8 ! "
      "fakesink name=text sync=false async=false", tones, thinker_dir,
      MAX_TOKENS, thinker_dir);
  guint loads = omni_engine_load_count ();
  Run *r = run_to_eos (desc);

  g_assert_null (r->bus.error);
  g_assert_cmpuint (r->bus.msgs->len, ==, 1);
  g_assert_cmpuint (r->texts->len, >=, 1);
  g_assert_cmpuint (omni_engine_load_count () - loads, ==, 1);
  run_free (r);
  g_free (desc);
  g_free (tones);
}

/* unsynced_src: one JSON object per result, partials first. */
static void
test_unsynced (void)
{
  gchar *wav = write_wav ("speech-u.wav", speech, n_speech, RATE);
  gchar *desc = g_strdup_printf ("filesrc location=%s ! wavparse ! "
      "omnicaption name=c model=%s max-tokens=%d partial-results=true ! "
      "fakesink name=audio sync=false async=false c.text_src ! "
      "fakesink sync=false async=false c.unsynced_src ! "
      "fakesink name=text sync=false async=false", wav, asr_dir, MAX_TOKENS);
  Run *r = run_to_eos (desc);
  TextBuf *last;

  g_assert_null (r->bus.error);
  g_assert_cmpuint (r->bus.msgs->len, ==, 1);
  g_assert_cmpuint (r->texts->len, >=, 2);
  g_assert_true (r->text_eos);
  for (guint i = 0; i + 1 < r->texts->len; i++)
    g_assert_nonnull (strstr (((TextBuf *) g_ptr_array_index (r->texts,
                    i))->text, "\"partial\":true"));
  last = g_ptr_array_index (r->texts, r->texts->len - 1);
  g_test_message ("%s", last->text);
  g_assert_nonnull (strstr (last->text, "\"partial\":false"));
  g_assert_nonnull (strstr (last->text, "\"seq\":0"));
  run_free (r);
  g_free (desc);
  g_free (wav);
}

#if !defined(__SANITIZE_ADDRESS__)
/* Every cue of an .srt: its number, valid times, text; at least two. */
static void
check_srt (const gchar *path)
{
  gchar *data, **blocks;
  guint n = 0;

  g_assert_true (g_file_get_contents (path, &data, NULL, NULL));
  g_strdelimit (data, "\r", '\n');
  blocks = g_regex_split_simple ("\n\n+", g_strstrip (data), 0, 0);
  for (guint i = 0; blocks[i]; i++) {
    gchar **lines = g_strsplit (blocks[i], "\n", -1);
    guint h1, m1, s1, ms1, h2, m2, s2, ms2;
    guint64 t1, t2;

    if (!*blocks[i]) {
      g_strfreev (lines);
      continue;
    }
    g_assert_cmpuint (g_strv_length (lines), >=, 3);
    g_assert_cmpuint (g_ascii_strtoull (lines[0], NULL, 10), ==, ++n);
    g_assert_cmpint (sscanf (lines[1], "%u:%u:%u,%u --> %u:%u:%u,%u", &h1,
            &m1, &s1, &ms1, &h2, &m2, &s2, &ms2), ==, 8);
    g_assert_true (m1 < 60 && s1 < 60 && ms1 < 1000 && m2 < 60 && s2 < 60
        && ms2 < 1000);
    t1 = ((h1 * 60 + m1) * 60 + s1) * 1000 + ms1;
    t2 = ((h2 * 60 + m2) * 60 + s2) * 1000 + ms2;
    g_assert_cmpuint (t1, <, t2);
    g_strfreev (lines);
  }
  g_assert_cmpuint (n, >=, 2);
  g_strfreev (blocks);
  g_free (data);
}
#endif

static void
test_example_srt (void)
{
#if defined(__SANITIZE_ADDRESS__)
  g_test_skip ("gst-launch-1.0 cannot load a sanitizer build of the plugin");
#else
  gsize n;
  gint16 *pcm = speech_pause_speech (1500, &n);
  gchar *wav = write_wav ("example.wav", pcm, n, RATE);
  gchar *script = g_build_filename (g_getenv ("OMNI_TEST_SRCDIR"), "..",
      "examples", "caption-srt.sh", NULL);
  gchar *out = g_build_filename (tmp_dir, "example", NULL);
  gchar *srt = g_strconcat (out, ".srt", NULL);
  gchar *vtt = g_strconcat (out, ".vtt", NULL);
  gchar *argv[] = { (gchar *) "sh", script, wav, out, asr_dir, NULL };
  gchar *vtt_data = NULL;

  g_setenv ("OMNI_CAPTION_ARGS", "max-tokens=16", TRUE);
  g_free (omni_test_run_example (argv));
  check_srt (srt);
  g_assert_true (g_file_get_contents (vtt, &vtt_data, NULL, NULL));
  g_assert_true (g_str_has_prefix (vtt_data, "WEBVTT"));
  g_assert_nonnull (strstr (vtt_data, " --> "));
  g_free (vtt_data);
  g_free (srt);
  g_free (vtt);
  g_free (out);
  g_free (script);
  g_free (wav);
  g_free (pcm);
#endif
}

/* examples/caption-translate.sh: omnicaption ! omnitranslate ! srtenc on
 * one Qwen3-Omni snapshot (it transcribes, then translates). */
static void
test_example_translate (void)
{
#if defined(__SANITIZE_ADDRESS__)
  g_test_skip ("gst-launch-1.0 cannot load a sanitizer build of the plugin");
#else
  gchar *wav = g_build_filename (g_getenv ("OMNI_TEST_SRCDIR"), "..",
      "examples", "sample.wav", NULL);
  gchar *script = g_build_filename (g_getenv ("OMNI_TEST_SRCDIR"), "..",
      "examples", "caption-translate.sh", NULL);
  gchar *srt = g_build_filename (tmp_dir, "translated.srt", NULL);
  gchar *argv[] = { (gchar *) "sh", script, wav, srt, (gchar *) "de",
    thinker_dir, NULL };

  g_setenv ("OMNI_CAPTION_ARGS", "max-tokens=8", TRUE);
  g_setenv ("OMNI_TRANSLATE_ARGS", "max-tokens=8", TRUE);
  g_free (omni_test_run_example (argv));
  check_srt (srt);
  g_free (srt);
  g_free (script);
  g_free (wav);
#endif
}

/* examples/omnicaption-bus.c reads one result per speech part of
 * examples/sample.wav from the bus. */
static void
test_example_bus (void)
{
  const gchar *prog = g_getenv ("OMNI_EXAMPLE_BUS");
  gchar *wav = g_build_filename (g_getenv ("OMNI_TEST_SRCDIR"), "..",
      "examples", "sample.wav", NULL);
  gchar *argv[] = { (gchar *) prog, asr_dir, wav, (gchar *) "max-tokens=8",
    NULL };
  gchar *out, **lines;

  if (!prog) {
    g_test_skip ("examples not built");
    g_free (wav);
    return;
  }
  out = omni_test_run_example (argv);
  lines = g_strsplit (g_strstrip (out), "\n", -1);
  g_test_message ("%s", out);
  g_assert_cmpuint (g_strv_length (lines), ==, 2);
  g_assert_true (g_str_has_prefix (lines[0], "[   0.5"));
  g_assert_true (g_str_has_prefix (lines[1], "[   4."));
  g_strfreev (lines);
  g_free (out);
  g_free (wav);
}

int
main (int argc, char **argv)
{
  const gchar *src = g_getenv ("OMNI_TEST_SRCDIR");
  gchar *path;
  int ret;

  gst_init (&argc, &argv);
  g_test_init (&argc, &argv, NULL);
  g_assert_nonnull (src);
  asr_dir = g_build_filename (src, "golden", "qwen3-asr", NULL);
  thinker_dir = g_build_filename (src, "golden", "qwen3-omni-thinker", NULL);
  tmp_dir = g_dir_make_tmp ("omnicaption-XXXXXX", NULL);
  g_assert_nonnull (tmp_dir);
  path = g_build_filename (src, "golden", "audio", "speech.wav", NULL);
  speech = read_wav_s16 (path, &n_speech);
  g_free (path);
  measure_speech ();

  g_test_add_func ("/omnicaption/two-segments", test_two_segments);
  g_test_add_func ("/omnicaption/silence-file", test_silence_file);
  g_test_add_func ("/omnicaption/silence-live", test_silence_live);
  g_test_add_func ("/omnicaption/caption-task", test_caption_task);
  g_test_add_func ("/omnicaption/eos-waits", test_eos_waits);
  g_test_add_data_func ("/omnicaption/flush-seek/open", GINT_TO_POINTER (0),
      test_flush_seek);
  g_test_add_data_func ("/omnicaption/flush-seek/in-flight",
      GINT_TO_POINTER (1), test_flush_seek);
  g_test_add_func ("/omnicaption/stop-in-flight", test_stop_in_flight);
  g_test_add_func ("/omnicaption/caps-change", test_caps_change);
  g_test_add_func ("/omnicaption/live-slow", test_live_slow);
  g_test_add_func ("/omnicaption/engine-failure", test_engine_failure);
  g_test_add_func ("/omnicaption/latency-too-small", test_latency_too_small);
  g_test_add_func ("/omnicaption/shared-engine", test_shared_engine);
  g_test_add_func ("/omnicaption/unsynced", test_unsynced);
  g_test_add_func ("/omnicaption/example-srt", test_example_srt);
  g_test_add_func ("/omnicaption/example-translate", test_example_translate);
  g_test_add_func ("/omnicaption/example-bus", test_example_bus);
  ret = g_test_run ();

  g_free (speech);
  g_free (asr_dir);
  g_free (thinker_dir);
  omni_test_remove_dir (tmp_dir);
  g_free (tmp_dir);
  return ret;
}
