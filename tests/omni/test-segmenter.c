/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The voice-activity segmenter: synthetic signals (silence, noise at several
 * levels, tones, tone bursts, a fade) and espeak-ng speech from
 * tests/audio/data, in both modes; splitting, flush, reset, latency, the
 * watermark, and push sizes that must not change the result. */
#include "gstomnisegmenter.h"

#include "audio/wav.h"
#include "omnicore.h"

#include <math.h>
#include <string.h>

#define RATE GST_OMNI_SEGMENTER_RATE
#define FRAME (RATE / 50)     /* 20 ms, the default frame */
#define OVERLAP (RATE / 5)    /* 200 ms, the default overlap */
#define THR_AMPLITUDE 0.00316 /* -50 dBFS */

typedef struct {
  GstOmniSegment seg;       /* pcm not kept */
  guint64 position;         /* samples pushed when it was emitted */
} Emitted;

typedef struct {
  GArray *segs;             /* Emitted */
  const float *input;       /* everything pushed, to check the pcm handed out */
  gsize input_len;
  GstOmniSegmenter *seg;
  guint64 watermark;        /* last watermark seen between pushes */
} Collector;

static void
collect (const GstOmniSegment *s, gpointer user_data)
{
  Collector *c = user_data;
  Emitted e = { .seg = *s, .position = gst_omni_segmenter_get_position (c->seg) };

  g_assert_cmpuint (s->start, >=, c->watermark);
  g_assert_cmpuint (s->audio_start, <=, s->start);
  g_assert_cmpuint (s->start, <, s->end);
  g_assert_cmpuint (s->n_samples, ==, s->end - s->audio_start);
  g_assert_cmpuint (s->n_samples, <=, (gsize) GST_OMNI_SEGMENTER_MAX_SEGMENT_MS * 16);
  g_assert_cmpuint (s->end, <=, c->input_len);
  g_assert_true (memcmp (s->pcm, c->input + s->audio_start, s->n_samples * sizeof (float)) == 0);
  if (c->segs->len > 0)
    g_assert_cmpuint (s->start, >=, g_array_index (c->segs, Emitted, c->segs->len - 1).seg.end);
  e.seg.pcm = NULL;
  g_array_append_val (c->segs, e);
}

/* Runs @pcm through a segmenter with @settings in pieces of @piece samples
 * (0: one piece) and flushes; returns the segments (free with g_array_unref). */
static GArray *
run_pieces (const GstOmniSegmenterSettings *settings, const float *pcm, gsize n, gsize piece)
{
  GError *error = NULL;
  Collector c = { .segs = g_array_new (FALSE, FALSE, sizeof (Emitted)), .input = pcm,
                  .input_len = n };
  c.seg = gst_omni_segmenter_new (settings, collect, &c, &error);
  g_assert_no_error (error);

  gsize step = piece ? piece : MAX (n, 1);
  for (gsize i = 0; i < n; i += step) {
    gst_omni_segmenter_push (c.seg, pcm + i, MIN (step, n - i));
    guint64 wm = gst_omni_segmenter_get_watermark (c.seg);
    g_assert_cmpuint (wm, >=, c.watermark);
    g_assert_cmpuint (wm, <=, gst_omni_segmenter_get_position (c.seg));
    c.watermark = wm;
  }
  gst_omni_segmenter_flush (c.seg);
  g_assert_cmpuint (gst_omni_segmenter_get_watermark (c.seg), ==, n);
  gst_omni_segmenter_free (c.seg);
  return c.segs;
}

static GArray *
run (const GstOmniSegmenterSettings *settings, const float *pcm, gsize n)
{
  return run_pieces (settings, pcm, n, 4000);
}

static GstOmniSegmenterSettings
settings_for (GstOmniSegmenterMode mode)
{
  GstOmniSegmenterSettings s;
  gst_omni_segmenter_settings_init (&s);
  s.mode = mode;
  return s;
}

static const GstOmniSegment *
seg_at (GArray *segs, guint i)
{
  return &g_array_index (segs, Emitted, i).seg;
}

/* ------------------------------------------------------------ signals */

static float *
silence (gsize n)
{
  return g_new0 (float, n);
}

static double
gaussian (GRand *rand)
{
  double u = g_rand_double_range (rand, 1e-12, 1.0), v = g_rand_double (rand);
  return sqrt (-2.0 * log (u)) * cos (2.0 * G_PI * v);
}

static void
scale_to_db (float *x, gsize n, double db)
{
  double sum = 0.0;
  for (gsize i = 0; i < n; i++)
    sum += (double) x[i] * x[i];
  double gain = pow (10.0, db / 20.0) / sqrt (sum / n);
  for (gsize i = 0; i < n; i++)
    x[i] = (float) (x[i] * gain);
}

static void
white_noise (float *x, gsize n, double db, guint32 seed)
{
  GRand *rand = g_rand_new_with_seed (seed);
  for (gsize i = 0; i < n; i++)
    x[i] = (float) gaussian (rand);
  g_rand_free (rand);
  scale_to_db (x, n, db);
}

/* Paul Kellet's refined pink filter over white noise. */
static void
pink_noise (float *x, gsize n, double db, guint32 seed)
{
  GRand *rand = g_rand_new_with_seed (seed);
  double b[7] = { 0 };
  for (gsize i = 0; i < n; i++) {
    double w = gaussian (rand);
    b[0] = 0.99886 * b[0] + w * 0.0555179;
    b[1] = 0.99332 * b[1] + w * 0.0750759;
    b[2] = 0.96900 * b[2] + w * 0.1538520;
    b[3] = 0.86650 * b[3] + w * 0.3104856;
    b[4] = 0.55000 * b[4] + w * 0.5329522;
    b[5] = -0.7616 * b[5] - w * 0.0168980;
    x[i] = (float) (b[0] + b[1] + b[2] + b[3] + b[4] + b[5] + b[6] + w * 0.5362);
    b[6] = w * 0.115926;
  }
  g_rand_free (rand);
  scale_to_db (x, n, db);
}

/* A two-note chord (300 and 2500 Hz, like tests/audio's) of amplitude @amp. */
static void
chord (float *x, gsize n, double amp)
{
  for (gsize i = 0; i < n; i++)
    x[i] = (float) (amp * (sin (2 * G_PI * 300.0 * i / RATE) + sin (2 * G_PI * 2500.0 * i / RATE)));
}

static void
tone (float *x, gsize n, double freq, double amp)
{
  for (gsize i = 0; i < n; i++)
    x[i] = (float) (amp * sin (2 * G_PI * freq * i / RATE + 0.3));
}

static float *
read_wav (const char *name, gsize *n)
{
  GError *error = NULL;
  OmniWavInfo info;
  char *path = g_build_filename (g_getenv ("OMNI_TEST_SRCDIR"), "audio", "data", name, NULL);
  float *pcm = omni_wav_read (path, &info, &error);
  g_assert_no_error (error);
  g_assert_cmpint (info.sample_rate, ==, RATE);
  g_free (path);
  *n = info.n_frames;
  return pcm;
}

/* First and one past the last sample at or above -50 dBFS in @x. */
static void
sound_bounds (const float *x, gsize n, gsize *first, gsize *end)
{
  *first = n;
  *end = 0;
  for (gsize i = 0; i < n; i++)
    if (fabsf (x[i]) >= THR_AMPLITUDE) {
      *first = MIN (*first, i);
      *end = i + 1;
    }
  g_assert_cmpuint (*first, <, *end);
}

/* clip-7.77s.wav cut right after its speech (5.5 s, then digital silence). */
static float *
read_speech (gsize *n)
{
  gsize first, end, len;
  float *pcm = read_wav ("clip-7.77s.wav", &len);
  sound_bounds (pcm, len, &first, &end);
  g_assert_cmpuint (first, ==, 0);
  *n = end;
  return pcm;
}

static void
assert_near (guint64 got, guint64 want, guint64 tolerance)
{
  guint64 d = got > want ? got - want : want - got;
  if (d > tolerance)
    g_error ("sample %" G_GUINT64_FORMAT ", expected %" G_GUINT64_FORMAT " +- %" G_GUINT64_FORMAT,
        got, want, tolerance);
}

/* ------------------------------------------------------------ settings */

static void
test_settings (void)
{
  GstOmniSegmenterSettings s;
  gst_omni_segmenter_settings_init (&s);
  g_assert_cmpint (s.mode, ==, GST_OMNI_SEGMENTER_MODE_TRANSCRIBE);
  g_assert_cmpuint (s.frame_ms, ==, 20);
  g_assert_cmpuint (s.min_silence_ms, ==, 500);
  g_assert_cmpuint (s.max_segment_ms, ==, 30000);
  g_assert_cmpuint (s.overlap_ms, ==, 200);
  g_assert_cmpuint (s.min_segment_ms, ==, 300);
  g_assert_cmpfloat (s.silence_threshold_db, ==, -50.0);

  static const struct {
    const char *field;
    int what;
    double value;
  } bad[] = {
    { "mode", 0, 7 }, { "frame", 1, 15 }, { "min-silence", 2, 0 }, { "min-silence", 2, 20000 },
    { "max-segment", 3, 30001 }, { "max-segment", 3, 500 }, { "overlap", 4, 9000 },
    { "min-segment", 5, 31000 }, { "silence-threshold", 6, 3 }, { "silence-threshold", 6, NAN },
  };
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++) {
    GError *error = NULL;
    gst_omni_segmenter_settings_init (&s);
    switch (bad[i].what) {
      case 0: s.mode = (GstOmniSegmenterMode) bad[i].value; break;
      case 1: s.frame_ms = (guint) bad[i].value; break;
      case 2: s.min_silence_ms = (guint) bad[i].value; break;
      case 3: s.max_segment_ms = (guint) bad[i].value; break;
      case 4: s.overlap_ms = (guint) bad[i].value; break;
      case 5: s.min_segment_ms = (guint) bad[i].value; break;
      default: s.silence_threshold_db = bad[i].value; break;
    }
    g_assert_null (gst_omni_segmenter_new (&s, collect, NULL, &error));
    g_assert_error (error, OMNI_ERROR, OMNI_ERROR_INVALID);
    if (!strstr (error->message, bad[i].field))
      g_error ("error for %s does not name it: %s", bad[i].field, error->message);
    g_clear_error (&error);
  }
}

static void
test_latency (void)
{
  GstOmniSegmenterSettings s = settings_for (GST_OMNI_SEGMENTER_MODE_TRANSCRIBE);
  GstOmniSegmenter *seg = gst_omni_segmenter_new (&s, collect, NULL, NULL);
  g_assert_cmpuint (gst_omni_segmenter_get_latency_samples (seg), ==, 8000);
  g_assert_cmpuint (gst_omni_segmenter_get_latency_ns (seg), ==, 500 * G_GUINT64_CONSTANT (1000000));
  gst_omni_segmenter_free (seg);

  s.min_silence_ms = 510;   /* whole frames: 26 of 20 ms */
  seg = gst_omni_segmenter_new (&s, collect, NULL, NULL);
  g_assert_cmpuint (gst_omni_segmenter_get_latency_ns (seg), ==, 520 * G_GUINT64_CONSTANT (1000000));
  gst_omni_segmenter_free (seg);

  s.frame_ms = 10;
  s.min_silence_ms = 205;
  seg = gst_omni_segmenter_new (&s, collect, NULL, NULL);
  g_assert_cmpuint (gst_omni_segmenter_get_latency_samples (seg), ==, 21 * 160);
  gst_omni_segmenter_free (seg);
}

/* ------------------------------------------------------------ non-speech */

static void
test_silence (void)
{
  gsize n = 10 * RATE;
  float *x = silence (n);
  for (int mode = 0; mode < 2; mode++) {
    GstOmniSegmenterSettings s = settings_for (mode);
    GArray *segs = run (&s, x, n);
    g_assert_cmpuint (segs->len, ==, 0);
    g_array_unref (segs);
  }
  g_free (x);
}

/* Noise at -60 dBFS is silence for both modes; at -40 and -20 it is
 * ambience: one segment over all of it in caption mode, none in transcribe. */
static void
test_noise (void)
{
  gsize n = 6 * RATE;
  float *x = g_new (float, n);
  static const double levels[] = { -60, -40, -20 };
  for (int kind = 0; kind < 2; kind++)
    for (guint l = 0; l < G_N_ELEMENTS (levels); l++) {
      if (kind == 0)
        white_noise (x, n, levels[l], 11 + l);
      else
        pink_noise (x, n, levels[l], 21 + l);
      GstOmniSegmenterSettings t = settings_for (GST_OMNI_SEGMENTER_MODE_TRANSCRIBE);
      GstOmniSegmenterSettings c = settings_for (GST_OMNI_SEGMENTER_MODE_CAPTION);
      GArray *ts = run (&t, x, n), *cs = run (&c, x, n);
      g_assert_cmpuint (ts->len, ==, 0);
      g_assert_cmpuint (cs->len, ==, levels[l] < -50 ? 0 : 1);
      if (cs->len == 1) {
        g_assert_cmpuint (seg_at (cs, 0)->start, ==, 0);
        g_assert_cmpuint (seg_at (cs, 0)->end, ==, n);
        g_assert_false (seg_at (cs, 0)->has_speech);
        g_assert_cmpfloat (fabs (seg_at (cs, 0)->level_db - levels[l]), <, 0.5);
      }
      g_array_unref (ts);
      g_array_unref (cs);
    }
  g_free (x);
}

/* Music-like sound in silence: a steady chord, and tone bursts whose level
 * moves like syllables but whose spectrum stays tonal. */
static void
test_tones (void)
{
  gsize n = 8 * RATE, on = RATE / 2 + RATE / 10;   /* 600 ms bursts */
  float *x = silence (n);
  chord (x + RATE, 3 * RATE, 0.1);
  GstOmniSegmenterSettings t = settings_for (GST_OMNI_SEGMENTER_MODE_TRANSCRIBE);
  GstOmniSegmenterSettings c = settings_for (GST_OMNI_SEGMENTER_MODE_CAPTION);

  GArray *ts = run (&t, x, n), *cs = run (&c, x, n);
  g_assert_cmpuint (ts->len, ==, 0);
  g_assert_cmpuint (cs->len, ==, 1);
  assert_near (seg_at (cs, 0)->start, RATE, FRAME);
  assert_near (seg_at (cs, 0)->end, 4 * RATE, FRAME);
  g_assert_cmpuint (seg_at (cs, 0)->audio_start, ==, RATE - OVERLAP);
  g_assert_false (seg_at (cs, 0)->has_speech);
  g_array_unref (ts);
  g_array_unref (cs);

  /* bursts 1 s apart (pause 400 ms < min-silence: one segment) and 1.6 s
   * apart (pause 1 s: segments of their own) */
  memset (x, 0, n * sizeof (float));
  static const gsize at[] = { RATE / 2, 3 * RATE / 2, 3 * RATE + RATE / 10, 4 * RATE + 7 * RATE / 10 };
  for (guint i = 0; i < G_N_ELEMENTS (at); i++)
    tone (x + at[i], on, 440.0 * (i + 1), 0.2);
  ts = run (&t, x, n);
  cs = run (&c, x, n);
  g_assert_cmpuint (ts->len, ==, 0);
  g_assert_cmpuint (cs->len, ==, 3);
  assert_near (seg_at (cs, 0)->start, at[0], FRAME);
  assert_near (seg_at (cs, 0)->end, at[1] + on, FRAME);
  for (guint i = 1; i < 3; i++) {
    assert_near (seg_at (cs, i)->start, at[i + 1], FRAME);
    assert_near (seg_at (cs, i)->end, at[i + 1] + on, FRAME);
  }
  g_array_unref (ts);
  g_array_unref (cs);
  g_free (x);
}

/* A tone fading in from -80 to -20 dBFS over 6 s and out again: the
 * caption segment opens where it reaches the silence threshold and closes
 * where it falls 3 dB below it (the hysteresis). */
static void
test_fade (void)
{
  gsize ramp = 6 * RATE, n = 2 * ramp;
  float *x = g_new (float, n);
  for (gsize i = 0; i < n; i++) {
    double t = (double) (i < ramp ? i : n - i) / ramp;   /* 0..1..0 */
    double db = -80.0 + 60.0 * t;
    x[i] = (float) (sqrt (2.0) * pow (10.0, db / 20.0) * sin (2 * G_PI * 440.0 * i / RATE));
  }
  GstOmniSegmenterSettings c = settings_for (GST_OMNI_SEGMENTER_MODE_CAPTION);
  GstOmniSegmenterSettings t = settings_for (GST_OMNI_SEGMENTER_MODE_TRANSCRIBE);
  GArray *cs = run (&c, x, n), *ts = run (&t, x, n);
  g_assert_cmpuint (ts->len, ==, 0);
  g_assert_cmpuint (cs->len, ==, 1);
  assert_near (seg_at (cs, 0)->start, (guint64) (ramp * 30.0 / 60.0), 2 * FRAME);
  assert_near (seg_at (cs, 0)->end, n - (guint64) (ramp * 27.0 / 60.0), 2 * FRAME);
  g_array_unref (cs);
  g_array_unref (ts);
  g_free (x);
}

/* ------------------------------------------------------------ speech */

/* @a, a pause, @b, 1 s of silence: two speech segments at the sound's
 * bounds, +- one frame plus the overlap, and audio that starts no later
 * than the sound. */
static void
check_two_parts (GstOmniSegmenterMode mode, const float *a, gsize na, double pause_s,
                 const float *b, gsize nb)
{
  gsize fa, ea, fb, eb;
  gsize pause = (gsize) (pause_s * RATE), n = na + pause + nb + RATE;
  float *x = silence (n);
  memcpy (x, a, na * sizeof (float));
  memcpy (x + na + pause, b, nb * sizeof (float));
  sound_bounds (x, na, &fa, &ea);
  sound_bounds (x + na + pause, nb, &fb, &eb);
  fb += na + pause;
  eb += na + pause;

  GstOmniSegmenterSettings s = settings_for (mode);
  GArray *segs = run (&s, x, n);
  g_assert_cmpuint (segs->len, ==, 2);
  const GstOmniSegment *s0 = seg_at (segs, 0), *s1 = seg_at (segs, 1);
  g_test_message ("sound %zu..%zu, %zu..%zu; segments %" G_GUINT64_FORMAT "..%" G_GUINT64_FORMAT
      ", %" G_GUINT64_FORMAT "..%" G_GUINT64_FORMAT, fa, ea, fb, eb, s0->start, s0->end,
      s1->start, s1->end);
  assert_near (s0->start, fa, FRAME + OVERLAP);
  assert_near (s0->end, ea, FRAME + OVERLAP);
  assert_near (s1->start, fb, FRAME + OVERLAP);
  assert_near (s1->end, eb, FRAME + OVERLAP);
  g_assert_cmpuint (s0->audio_start, <=, fa);
  g_assert_cmpuint (s1->audio_start, <=, fb);
  g_assert_true (s0->has_speech && s1->has_speech);
  g_assert_false (s0->continued || s1->continued);
  /* closed by the pause: within the latency of their last sample */
  for (guint i = 0; i < 2; i++) {
    const Emitted *e = &g_array_index (segs, Emitted, i);
    g_assert_cmpuint (e->position - e->seg.end, <=, 8000);
  }
  g_array_unref (segs);
  g_free (x);
}

/* clip-7.77s's speech, then clip-odd (German) or clip-0.3s ("Yes"). */
static void
test_speech_pause_speech (void)
{
  gsize na, nb, nc;
  float *a = read_speech (&na);
  float *b = read_wav ("clip-odd.wav", &nb);
  float *c = read_wav ("clip-0.3s.wav", &nc);
  check_two_parts (GST_OMNI_SEGMENTER_MODE_TRANSCRIBE, a, na, 1.0, b, nb);
  check_two_parts (GST_OMNI_SEGMENTER_MODE_CAPTION, a, na, 1.0, b, nb);
  check_two_parts (GST_OMNI_SEGMENTER_MODE_TRANSCRIBE, a, na, 0.7, c, nc);
  check_two_parts (GST_OMNI_SEGMENTER_MODE_TRANSCRIBE, b, nb, 0.6, a, na);
  g_free (a);
  g_free (b);
  g_free (c);
}

/* The same speech 0.4 s apart stays one segment (pause < min-silence). */
static void
test_short_pause (void)
{
  gsize na;
  float *a = read_speech (&na);
  gsize pause = 2 * RATE / 5, n = 2 * na + pause + RATE;
  float *x = silence (n);
  memcpy (x, a, na * sizeof (float));
  memcpy (x + na + pause, a, na * sizeof (float));
  GstOmniSegmenterSettings s = settings_for (GST_OMNI_SEGMENTER_MODE_TRANSCRIBE);
  GArray *segs = run (&s, x, n);
  g_assert_cmpuint (segs->len, ==, 1);
  assert_near (seg_at (segs, 0)->end, 2 * na + pause, FRAME + OVERLAP);
  g_array_unref (segs);
  g_free (x);
  g_free (a);
}

/* clip-30s: speech, 2 s of silence, a sweep, white noise at -43 dBFS, a
 * chord, then two more utterances. Transcribe keeps the speech only; caption
 * keeps everything that is not silence. */
static void
test_mixed_clip (void)
{
  gsize n;
  float *x = read_wav ("clip-30s.wav", &n);
  GstOmniSegmenterSettings t = settings_for (GST_OMNI_SEGMENTER_MODE_TRANSCRIBE);
  GstOmniSegmenterSettings c = settings_for (GST_OMNI_SEGMENTER_MODE_CAPTION);
  GArray *ts = run (&t, x, n), *cs = run (&c, x, n);
  gsize fa, ea, speech_end, sweep, unused;
  sound_bounds (x, 7 * RATE, &fa, &ea);
  sound_bounds (x, n, &fa, &speech_end);
  sound_bounds (x + ea + RATE, 3 * RATE, &sweep, &unused);
  sweep += ea + RATE;
  gsize non_speech_end = sweep + 10 * RATE;   /* sweep 5 s, noise 3 s, chord 2 s */

  g_assert_cmpuint (ts->len, ==, 2);
  assert_near (seg_at (ts, 0)->end, ea, FRAME + OVERLAP);
  assert_near (seg_at (ts, 1)->start, non_speech_end, FRAME + OVERLAP);
  assert_near (seg_at (ts, 1)->end, speech_end, FRAME + OVERLAP);

  g_assert_cmpuint (cs->len, ==, 2);
  assert_near (seg_at (cs, 0)->end, ea, FRAME + OVERLAP);
  assert_near (seg_at (cs, 1)->start, sweep, FRAME + OVERLAP);
  assert_near (seg_at (cs, 1)->end, speech_end, FRAME + OVERLAP);
  g_assert_true (seg_at (cs, 0)->has_speech && seg_at (cs, 1)->has_speech);
  g_array_unref (ts);
  g_array_unref (cs);
  g_free (x);
}

/* Speech without pauses longer than max-segment: pieces of at most
 * max-segment (overlap included), each continuing where the last ended. */
static void
check_split (guint max_segment_ms, guint copies, guint min_continued)
{
  gsize na;
  float *a = read_speech (&na);
  gsize n = copies * na + RATE;
  float *x = silence (n);
  for (guint i = 0; i < copies; i++)
    memcpy (x + i * na, a, na * sizeof (float));
  GstOmniSegmenterSettings s = settings_for (GST_OMNI_SEGMENTER_MODE_TRANSCRIBE);
  s.max_segment_ms = max_segment_ms;
  GArray *segs = run (&s, x, n);
  guint64 max = (guint64) max_segment_ms * 16;

  /* cut in the sound (continued) or, when the limit falls in a short
   * pause, at that pause */
  g_assert_cmpuint (segs->len, >=, (copies * na + max - 1) / max);
  g_assert_cmpuint (seg_at (segs, 0)->start, ==, 0);
  guint n_continued = 0;
  for (guint i = 0; i < segs->len; i++) {
    const GstOmniSegment *si = seg_at (segs, i);
    g_test_message ("split %u: %" G_GUINT64_FORMAT "..%" G_GUINT64_FORMAT " audio from %"
        G_GUINT64_FORMAT " continued %d", i, si->start, si->end, si->audio_start, si->continued);
    g_assert_cmpuint (si->n_samples, <=, max);
    g_assert_true (si->has_speech);
    if (i + 1 < segs->len)   /* cut at a frame as late as it fits, or in a pause */
      g_assert_cmpuint (si->n_samples, >, max - FRAME - 8000);
    if (i > 0 && si->continued) {
      n_continued++;
      g_assert_cmpuint (si->start, ==, seg_at (segs, i - 1)->end);
      g_assert_cmpuint (si->audio_start, ==, si->start - OVERLAP);
    } else if (i > 0) {
      g_assert_cmpuint (si->start - seg_at (segs, i - 1)->end, <, 8000);
    }
  }
  g_assert_cmpuint (n_continued, >=, min_continued);
  assert_near (seg_at (segs, segs->len - 1)->end, copies * na, FRAME + OVERLAP);
  g_array_unref (segs);
  g_free (x);
  g_free (a);
}

static void
test_max_segment (void)
{
  check_split (5000, 3, 2);
  check_split (GST_OMNI_SEGMENTER_MAX_SEGMENT_MS, 7, 0);   /* cut in a pause */
}

/* Pieces of 1 sample, of odd sizes, and all at once give the same segments. */
static void
test_piece_sizes (void)
{
  gsize n;
  float *x = read_wav ("clip-30s.wav", &n);
  static const gsize pieces[] = { 1, 7, 161, 0 };
  for (int mode = 0; mode < 2; mode++) {
    GstOmniSegmenterSettings s = settings_for (mode);
    s.max_segment_ms = 4000;   /* the splits too */
    GArray *ref = run_pieces (&s, x, n, 320);
    g_assert_cmpuint (ref->len, >=, 2);
    for (guint p = 0; p < G_N_ELEMENTS (pieces); p++) {
      GArray *got = run_pieces (&s, x, n, pieces[p]);
      g_assert_cmpuint (got->len, ==, ref->len);
      for (guint i = 0; i < ref->len; i++) {
        const GstOmniSegment *a = seg_at (ref, i), *b = seg_at (got, i);
        g_assert_cmpuint (a->start, ==, b->start);
        g_assert_cmpuint (a->end, ==, b->end);
        g_assert_cmpuint (a->audio_start, ==, b->audio_start);
        g_assert_cmpint (a->has_speech, ==, b->has_speech);
        g_assert_cmpint (a->continued, ==, b->continued);
        g_assert_cmpfloat (a->level_db, ==, b->level_db);
      }
      g_array_unref (got);
    }
    g_array_unref (ref);
  }
  g_free (x);
}

/* 10 ms frames find the same utterances. */
static void
test_frame_10ms (void)
{
  gsize n;
  float *x = read_wav ("clip-30s.wav", &n);
  GstOmniSegmenterSettings s10 = settings_for (GST_OMNI_SEGMENTER_MODE_TRANSCRIBE);
  GstOmniSegmenterSettings s20 = s10;
  s10.frame_ms = 10;
  GArray *a = run (&s10, x, n), *b = run (&s20, x, n);
  g_assert_cmpuint (a->len, ==, b->len);
  for (guint i = 0; i < a->len; i++) {
    assert_near (seg_at (a, i)->start, seg_at (b, i)->start, 2 * FRAME);
    assert_near (seg_at (a, i)->end, seg_at (b, i)->end, 2 * FRAME);
  }
  g_array_unref (a);
  g_array_unref (b);
  g_free (x);
}

/* ------------------------------------------------------------ flush, reset */

static void
test_flush_and_reset (void)
{
  gsize na;
  float *a = read_speech (&na);
  gsize cut = 3 * RATE;
  GstOmniSegmenterSettings s = settings_for (GST_OMNI_SEGMENTER_MODE_TRANSCRIBE);
  Collector c = { .segs = g_array_new (FALSE, FALSE, sizeof (Emitted)), .input = a,
                  .input_len = na };
  c.seg = gst_omni_segmenter_new (&s, collect, &c, NULL);

  /* mid-speech: open, nothing emitted, the watermark held at its start */
  gst_omni_segmenter_push (c.seg, a, cut + 77);
  g_assert_cmpuint (c.segs->len, ==, 0);
  g_assert_cmpuint (gst_omni_segmenter_get_watermark (c.seg), ==, 0);
  gst_omni_segmenter_flush (c.seg);
  g_assert_cmpuint (c.segs->len, ==, 1);
  g_assert_cmpuint (seg_at (c.segs, 0)->start, ==, 0);
  g_assert_cmpuint (seg_at (c.segs, 0)->end, >, cut - FRAME - OVERLAP);
  g_assert_cmpuint (seg_at (c.segs, 0)->end, <=, cut + 77);
  g_assert_cmpuint (gst_omni_segmenter_get_watermark (c.seg), ==, cut + 77);
  gst_omni_segmenter_flush (c.seg);   /* nothing open: nothing more */
  g_assert_cmpuint (c.segs->len, ==, 1);

  /* reset drops what is open and starts again at sample 0 */
  gst_omni_segmenter_reset (c.seg);
  c.watermark = 0;
  g_array_set_size (c.segs, 0);
  gst_omni_segmenter_push (c.seg, a, cut);
  gst_omni_segmenter_reset (c.seg);
  g_assert_cmpuint (c.segs->len, ==, 0);
  g_assert_cmpuint (gst_omni_segmenter_get_position (c.seg), ==, 0);
  g_assert_cmpuint (gst_omni_segmenter_get_watermark (c.seg), ==, 0);
  gst_omni_segmenter_flush (c.seg);
  g_assert_cmpuint (c.segs->len, ==, 0);

  /* and works as new */
  gst_omni_segmenter_push (c.seg, a, na);
  gst_omni_segmenter_flush (c.seg);
  g_assert_cmpuint (c.segs->len, ==, 1);
  g_assert_cmpuint (seg_at (c.segs, 0)->start, ==, 0);
  assert_near (seg_at (c.segs, 0)->end, na, FRAME);

  gst_omni_segmenter_free (c.seg);
  g_array_unref (c.segs);
  g_free (a);
}

static float *
read_golden (const char *name, gsize *n)
{
  GError *error = NULL;
  OmniWavInfo info;
  char *path = g_build_filename (g_getenv ("OMNI_TEST_SRCDIR"), "golden", "audio", name, NULL);
  float *pcm = omni_wav_read (path, &info, &error);
  g_assert_no_error (error);
  g_assert_cmpint (info.sample_rate, ==, RATE);
  g_free (path);
  *n = info.n_frames;
  return pcm;
}

/* The clips of tests/golden/audio (the models' fixtures): speech.wav, a
 * pause and speech.wav again is two segments; tones.wav (a sine in pink
 * noise) and short.wav (a 370 ms glide) are sound but not speech. */
static void
test_golden_clips (void)
{
  char *dir = g_build_filename (g_getenv ("OMNI_TEST_SRCDIR"), "golden", "audio", "speech.wav", NULL);
  gboolean there = g_file_test (dir, G_FILE_TEST_EXISTS);
  g_free (dir);
  if (!there) {
    g_test_skip ("tests/golden/audio not there yet");
    return;
  }
  gsize ns, nt, nh;
  float *speech = read_golden ("speech.wav", &ns);
  check_two_parts (GST_OMNI_SEGMENTER_MODE_TRANSCRIBE, speech, ns, 0.8, speech, ns);
  check_two_parts (GST_OMNI_SEGMENTER_MODE_CAPTION, speech, ns, 0.8, speech, ns);

  float *tones = read_golden ("tones.wav", &nt);
  float *short_glide = read_golden ("short.wav", &nh);
  gsize n = RATE + nt + RATE + nh + RATE;
  float *x = silence (n);
  memcpy (x + RATE, tones, nt * sizeof (float));
  memcpy (x + 2 * RATE + nt, short_glide, nh * sizeof (float));
  GstOmniSegmenterSettings t = settings_for (GST_OMNI_SEGMENTER_MODE_TRANSCRIBE);
  GstOmniSegmenterSettings c = settings_for (GST_OMNI_SEGMENTER_MODE_CAPTION);
  GArray *ts = run (&t, x, n), *cs = run (&c, x, n);
  g_assert_cmpuint (ts->len, ==, 0);
  g_assert_cmpuint (cs->len, ==, 2);
  assert_near (seg_at (cs, 0)->start, RATE, FRAME);
  assert_near (seg_at (cs, 0)->end, RATE + nt, FRAME);
  assert_near (seg_at (cs, 1)->start, 2 * RATE + nt, FRAME);
  assert_near (seg_at (cs, 1)->end, 2 * RATE + nt + nh, FRAME);
  g_assert_false (seg_at (cs, 0)->has_speech || seg_at (cs, 1)->has_speech);
  g_array_unref (ts);
  g_array_unref (cs);
  g_free (x);
  g_free (tones);
  g_free (short_glide);
  g_free (speech);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/segmenter/settings", test_settings);
  g_test_add_func ("/segmenter/latency", test_latency);
  g_test_add_func ("/segmenter/silence", test_silence);
  g_test_add_func ("/segmenter/noise", test_noise);
  g_test_add_func ("/segmenter/tones", test_tones);
  g_test_add_func ("/segmenter/fade", test_fade);
  g_test_add_func ("/segmenter/speech-pause-speech", test_speech_pause_speech);
  g_test_add_func ("/segmenter/short-pause", test_short_pause);
  g_test_add_func ("/segmenter/mixed-clip", test_mixed_clip);
  g_test_add_func ("/segmenter/max-segment", test_max_segment);
  g_test_add_func ("/segmenter/piece-sizes", test_piece_sizes);
  g_test_add_func ("/segmenter/frame-10ms", test_frame_10ms);
  g_test_add_func ("/segmenter/flush-reset", test_flush_and_reset);
  g_test_add_func ("/segmenter/golden-clips", test_golden_clips);
  return g_test_run ();
}
