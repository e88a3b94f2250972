/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The segmenter runs once per frame (hop of 10 or 20 ms):
 *
 *  - level: mean square of the hop in dBFS; flatness: geometric over
 *    arithmetic mean of the Hann-windowed power spectrum of the last 20 ms
 *    (whatever the hop, so the thresholds do not depend on it), 150-4000 Hz.
 *  - speech test over the last 300 ms, on the frames inside loud stretches:
 *    the level must move (standard deviation >= 3 dB: syllables; steady
 *    tones, hum and noise do not) and their median flatness must lie between a tone's
 *    (~1e-5 and below: sines, chords, sweeps, music notes) and noise's
 *    (~0.4 pink, ~0.55 white). Tone bursts move but stay tonal; applause and
 *    ambience are flat. Measured on espeak-ng speech: 0.0012..0.30.
 *  - gate with hysteresis: a segment opens on a frame at or above the start
 *    level (caption: the silence threshold; transcribe: also 6 dB above the
 *    noise floor, and the speech test) and stays open while frames stay at
 *    or above the stop level (3 dB lower; transcribe: also speech seen
 *    within the hangover). min-silence of frames below it closes it.
 *  - the noise floor follows the level down at once and up slowly (1 s time
 *    constant) on frames outside segments.
 *
 * Audio is kept in one ring sized at creation; a closed segment is copied
 * out of it into a buffer of max-segment samples, so push() never allocates.
 */
#include "gstomnisegmenter.h"

#include "audio/fft.h"
#include "omnicore.h"

#include <math.h>
#include <string.h>

#define ANALYSIS_LEN 320          /* 20 ms at 16 kHz: 50 Hz bins */
#define BIN_LO 3                  /* 150 Hz */
#define BIN_HI 80                 /* 4000 Hz */
#define WINDOW_MS 300             /* speech test span */
#define SPEECH_MIN_MS 100         /* speech needed for has_speech */
#define MIN_MODULATION_DB 3.0
#define MIN_FLATNESS 5e-4
#define MAX_FLATNESS 0.35
#define START_MARGIN_DB 6.0       /* over the noise floor, transcribe */
#define STOP_MARGIN_DB 3.0
#define HYSTERESIS_DB 3.0         /* stop level below the silence threshold */
#define MIN_INTERIOR_FRAMES 4     /* loud frames with loud neighbours to decide */
#define FLOOR_TIME_CONSTANT_MS 1000
#define LEVEL_MIN_DB -120.0
#define POWER_EPS 1e-10

typedef struct {
  double level_db;
  double flatness;
  gboolean loud;        /* at or above the silence threshold */
  gboolean sustained;   /* at or above the stop level */
} FrameInfo;

struct _GstOmniSegmenter {
  GstOmniSegmenterSettings settings;
  GstOmniSegmentFunc func;
  gpointer user_data;

  /* sizes in samples or frames, fixed at creation */
  guint frame;
  guint hangover;          /* frames of pause that close a segment */
  guint window;            /* frames in the speech test */
  guint speech_min_frames;
  guint64 max_segment;
  guint64 overlap;
  guint64 min_segment;

  float *ring;             /* sample i at ring[i % ring_len] */
  guint64 ring_len;
  float *out;              /* max_segment samples: the emitted segment */
  guint64 pos;             /* samples pushed */
  guint64 analysed;        /* end of the last analysed frame */

  OmniFft *fft;
  double *hann, *fft_in, *re, *im;

  FrameInfo *hist;         /* the last @window frames, newest at hist_head */
  guint hist_n, hist_head;
  double *scratch;         /* @window values for the median */
  double floor_db;
  guint frames_since_speech;

  /* the open segment */
  gboolean open;
  gboolean continued;
  guint64 start, audio_start, last_active_end;
  guint silent_frames;
  guint speech_frames;

  guint64 last_end;        /* no new segment starts before this */
  guint64 watermark;
};

void
gst_omni_segmenter_settings_init (GstOmniSegmenterSettings *settings)
{
  settings->mode = GST_OMNI_SEGMENTER_MODE_TRANSCRIBE;
  settings->frame_ms = 20;
  settings->min_silence_ms = 500;
  settings->max_segment_ms = GST_OMNI_SEGMENTER_MAX_SEGMENT_MS;
  settings->overlap_ms = 200;
  settings->min_segment_ms = 300;
  settings->silence_threshold_db = -50.0;
}

static gboolean
check_range (const char *name, guint value, guint lo, guint hi, GError **error)
{
  if (value >= lo && value <= hi)
    return TRUE;
  g_set_error (error, OMNI_ERROR, OMNI_ERROR_INVALID,
      "segmenter: %s is %u ms, expected %u..%u ms", name, value, lo, hi);
  return FALSE;
}

static gboolean
validate (const GstOmniSegmenterSettings *s, GError **error)
{
  if (s->mode != GST_OMNI_SEGMENTER_MODE_TRANSCRIBE && s->mode != GST_OMNI_SEGMENTER_MODE_CAPTION) {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_INVALID,
        "segmenter: mode is %d, expected transcribe (0) or caption (1)", (int) s->mode);
    return FALSE;
  }
  if (s->frame_ms != 10 && s->frame_ms != 20) {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_INVALID,
        "segmenter: frame is %u ms, expected 10 or 20 ms", s->frame_ms);
    return FALSE;
  }
  if (!(s->silence_threshold_db >= -120.0 && s->silence_threshold_db <= 0.0)) {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_INVALID,
        "segmenter: silence-threshold is %g dBFS, expected -120..0 dBFS",
        s->silence_threshold_db);
    return FALSE;
  }
  /* the overlap and the speech look-back must fit in the shortest segment */
  return check_range ("max-segment", s->max_segment_ms, 1000, GST_OMNI_SEGMENTER_MAX_SEGMENT_MS, error)
      && check_range ("min-silence", s->min_silence_ms, s->frame_ms, 10000, error)
      && check_range ("overlap", s->overlap_ms, 0, s->max_segment_ms / 4, error)
      && check_range ("min-segment", s->min_segment_ms, 0, s->max_segment_ms, error);
}

static guint64
ms_to_samples (guint ms)
{
  return (guint64) ms * (GST_OMNI_SEGMENTER_RATE / 1000);
}

GstOmniSegmenter *
gst_omni_segmenter_new (const GstOmniSegmenterSettings *settings, GstOmniSegmentFunc func,
                        gpointer user_data, GError **error)
{
  g_return_val_if_fail (settings != NULL && func != NULL, NULL);
  if (!validate (settings, error))
    return NULL;

  GstOmniSegmenter *seg = g_new0 (GstOmniSegmenter, 1);
  seg->settings = *settings;
  seg->func = func;
  seg->user_data = user_data;
  seg->frame = (guint) ms_to_samples (settings->frame_ms);
  seg->hangover = (settings->min_silence_ms + settings->frame_ms - 1) / settings->frame_ms;
  seg->window = WINDOW_MS / settings->frame_ms;
  seg->speech_min_frames = SPEECH_MIN_MS / settings->frame_ms;
  seg->max_segment = ms_to_samples (settings->max_segment_ms);
  seg->overlap = ms_to_samples (settings->overlap_ms);
  seg->min_segment = ms_to_samples (settings->min_segment_ms);

  /* a segment's audio (at most max-segment) plus the frame being analysed
   * and its 20 ms window */
  seg->ring_len = seg->max_segment + seg->frame + ANALYSIS_LEN;
  seg->ring = g_new0 (float, seg->ring_len);
  seg->out = g_new (float, seg->max_segment);

  seg->fft = omni_fft_new (ANALYSIS_LEN);
  seg->hann = g_new (double, ANALYSIS_LEN);
  seg->fft_in = g_new (double, ANALYSIS_LEN);
  seg->re = g_new (double, ANALYSIS_LEN / 2 + 1);
  seg->im = g_new (double, ANALYSIS_LEN / 2 + 1);
  for (int i = 0; i < ANALYSIS_LEN; i++)   /* periodic Hann */
    seg->hann[i] = 0.5 - 0.5 * cos (2.0 * G_PI * i / ANALYSIS_LEN);

  seg->hist = g_new0 (FrameInfo, seg->window);
  seg->scratch = g_new (double, seg->window);
  gst_omni_segmenter_reset (seg);
  return seg;
}

void
gst_omni_segmenter_free (GstOmniSegmenter *seg)
{
  if (seg == NULL)
    return;
  omni_fft_free (seg->fft);
  g_free (seg->ring);
  g_free (seg->out);
  g_free (seg->hann);
  g_free (seg->fft_in);
  g_free (seg->re);
  g_free (seg->im);
  g_free (seg->hist);
  g_free (seg->scratch);
  g_free (seg);
}

void
gst_omni_segmenter_reset (GstOmniSegmenter *seg)
{
  memset (seg->ring, 0, seg->ring_len * sizeof (float));
  seg->pos = seg->analysed = 0;
  seg->hist_n = seg->hist_head = 0;
  seg->floor_db = seg->settings.silence_threshold_db;
  seg->frames_since_speech = G_MAXUINT / 2;
  seg->open = seg->continued = FALSE;
  seg->start = seg->audio_start = seg->last_active_end = 0;
  seg->silent_frames = seg->speech_frames = 0;
  seg->last_end = seg->watermark = 0;
}

/* ------------------------------------------------------------ features */

static float
ring_at (const GstOmniSegmenter *seg, gint64 i)
{
  return i < 0 ? 0.0f : seg->ring[(guint64) i % seg->ring_len];
}

static void
ring_copy (const GstOmniSegmenter *seg, guint64 from, guint64 to, float *dst)
{
  for (guint64 i = from; i < to; i++)
    dst[i - from] = seg->ring[i % seg->ring_len];
}

static double
power_to_db (double power)
{
  return MAX (10.0 * log10 (power + 1e-12), LEVEL_MIN_DB);
}

static double
frame_level_db (const GstOmniSegmenter *seg, guint64 fs)
{
  double sum = 0.0;
  for (guint i = 0; i < seg->frame; i++) {
    double x = ring_at (seg, (gint64) (fs + i));
    sum += x * x;
  }
  return power_to_db (sum / seg->frame);
}

static double
frame_flatness (GstOmniSegmenter *seg, guint64 fe)
{
  gint64 first = (gint64) fe - ANALYSIS_LEN;
  for (int i = 0; i < ANALYSIS_LEN; i++)
    seg->fft_in[i] = seg->hann[i] * ring_at (seg, first + i);
  omni_fft_real (seg->fft, seg->fft_in, seg->re, seg->im);

  double log_sum = 0.0, sum = 0.0;
  for (int k = BIN_LO; k <= BIN_HI; k++) {
    double p = seg->re[k] * seg->re[k] + seg->im[k] * seg->im[k] + POWER_EPS;
    log_sum += log (p);
    sum += p;
  }
  int n = BIN_HI - BIN_LO + 1;
  return exp (log_sum / n) / (sum / n);
}

/* The i-th newest frame of the history (0: the current one). */
static const FrameInfo *
hist_get (const GstOmniSegmenter *seg, guint i)
{
  return &seg->hist[(seg->hist_head + seg->window - i) % seg->window];
}

static void
hist_push (GstOmniSegmenter *seg, const FrameInfo *info)
{
  seg->hist_head = (seg->hist_head + 1) % seg->window;
  seg->hist[seg->hist_head] = *info;
  if (seg->hist_n < seg->window)
    seg->hist_n++;
}

static double
median (double *v, guint n)
{
  for (guint i = 1; i < n; i++) {   /* insertion sort: n <= 30 */
    double x = v[i];
    guint j = i;
    for (; j > 0 && v[j - 1] > x; j--)
      v[j] = v[j - 1];
    v[j] = x;
  }
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* The speech test over the history (see the top of the file). Only frames
 * inside a loud stretch count: the first and last frames of a sound hold
 * part silence, and a steady tone's onset would look like a syllable. The
 * newest frame is left out for the same reason (its successor is unknown). */
static gboolean
window_is_speech (GstOmniSegmenter *seg)
{
  double sum = 0.0, sum2 = 0.0;
  guint n = 0;

  for (guint i = 1; i + 1 < seg->hist_n; i++) {
    const FrameInfo *f = hist_get (seg, i);
    if (!f->loud || !hist_get (seg, i - 1)->loud || !hist_get (seg, i + 1)->loud)
      continue;
    sum += f->level_db;
    sum2 += f->level_db * f->level_db;
    seg->scratch[n++] = f->flatness;
  }
  if (n < MIN_INTERIOR_FRAMES)
    return FALSE;
  double mean = sum / n;
  double std = sqrt (MAX (sum2 / n - mean * mean, 0.0));
  if (std < MIN_MODULATION_DB)
    return FALSE;
  double flat = median (seg->scratch, n);
  return flat >= MIN_FLATNESS && flat <= MAX_FLATNESS;
}

/* ------------------------------------------------------------ segments */

static void
emit (GstOmniSegmenter *seg, guint64 end)
{
  double sum = 0.0;
  guint64 n = end - seg->audio_start;

  ring_copy (seg, seg->audio_start, end, seg->out);
  for (guint64 i = seg->start - seg->audio_start; i < n; i++)
    sum += (double) seg->out[i] * seg->out[i];

  GstOmniSegment out = {
    .start = seg->start,
    .end = end,
    .audio_start = seg->audio_start,
    .pcm = seg->out,
    .n_samples = n,
    .has_speech = seg->speech_frames >= seg->speech_min_frames,
    .continued = seg->continued,
    .level_db = power_to_db (sum / MAX (end - seg->start, 1)),
  };
  seg->func (&out, seg->user_data);
}

/* Closes the open segment at @end; emits it unless it is too short (a
 * continuation is never too short: its sound went on) or, when
 * transcribing, not speech. */
static void
close_segment (GstOmniSegmenter *seg, guint64 end)
{
  end = MIN (end, seg->pos);
  gboolean long_enough = seg->continued || end - seg->start >= seg->min_segment;
  gboolean wanted = seg->settings.mode == GST_OMNI_SEGMENTER_MODE_CAPTION
      || seg->speech_frames >= seg->speech_min_frames;

  if (end > seg->start && long_enough && wanted)
    emit (seg, end);
  seg->open = FALSE;
  seg->last_end = MAX (seg->last_end, end);
}

static void
open_segment (GstOmniSegmenter *seg, guint64 start, gboolean continued)
{
  seg->open = TRUE;
  seg->continued = continued;
  seg->start = MAX (start, seg->last_end);
  seg->audio_start = seg->start > seg->overlap ? seg->start - seg->overlap : 0;
  seg->silent_frames = 0;
  seg->speech_frames = 0;
}

/* The start of speech first recognised in the frame at @fs: back over the
 * frames before it that were already at the stop level (the speech test
 * needs some of them to decide). The caption gate needs no look-back. */
static guint64
backdate (const GstOmniSegmenter *seg, guint64 fs)
{
  guint k = 1;
  while (k < seg->hist_n && hist_get (seg, k)->sustained && (guint64) k * seg->frame <= fs)
    k++;
  return fs - (guint64) (k - 1) * seg->frame;
}

static void
update_watermark (GstOmniSegmenter *seg)
{
  guint64 back = seg->settings.mode == GST_OMNI_SEGMENTER_MODE_CAPTION ? 0
      : (guint64) (seg->window - 1) * seg->frame;
  guint64 done = MIN (seg->analysed, seg->pos);   /* a flushed frame is padded */
  guint64 next = seg->open ? seg->start : MAX (seg->last_end, done > back ? done - back : 0);
  seg->watermark = MAX (seg->watermark, next);
}

static void
process_frame (GstOmniSegmenter *seg)
{
  const GstOmniSegmenterSettings *s = &seg->settings;
  gboolean caption = s->mode == GST_OMNI_SEGMENTER_MODE_CAPTION;
  guint64 fs = seg->analysed, fe = fs + seg->frame;

  FrameInfo info = { .level_db = frame_level_db (seg, fs), .flatness = frame_flatness (seg, fe) };
  double thr = s->silence_threshold_db;
  double start_db = MAX (thr, seg->floor_db + START_MARGIN_DB);
  double stop_db = caption ? thr - HYSTERESIS_DB
      : MAX (thr - HYSTERESIS_DB, seg->floor_db + STOP_MARGIN_DB);
  info.loud = info.level_db >= thr;
  info.sustained = info.level_db >= stop_db;
  hist_push (seg, &info);

  gboolean speech = info.level_db >= start_db && window_is_speech (seg);
  seg->frames_since_speech = speech ? 0 : MIN (seg->frames_since_speech + 1, G_MAXUINT / 2);
  gboolean opens = caption ? info.loud : speech;
  gboolean goes_on = info.sustained && (caption || seg->frames_since_speech < seg->hangover);

  if (seg->open && fe - seg->audio_start > seg->max_segment) {
    /* in a pause it just closes; in the middle of the sound the rest goes
     * on in a new segment, the overlap before it taken from this one */
    gboolean in_pause = seg->silent_frames > 0;
    close_segment (seg, in_pause ? seg->last_active_end : fs);
    if (!in_pause)
      open_segment (seg, fs, TRUE);
  }

  if (!seg->open && opens) {
    open_segment (seg, caption ? fs : backdate (seg, fs), FALSE);
    goes_on = TRUE;
  }
  if (seg->open) {
    if (goes_on) {
      seg->last_active_end = fe;
      seg->silent_frames = 0;
      seg->speech_frames += speech;
    } else if (++seg->silent_frames >= seg->hangover) {
      close_segment (seg, seg->last_active_end);
    }
  }

  if (!seg->open) {   /* the floor learns from what is not a segment */
    if (info.level_db < seg->floor_db)
      seg->floor_db = info.level_db;
    else
      seg->floor_db += (info.level_db - seg->floor_db) * s->frame_ms / FLOOR_TIME_CONSTANT_MS;
  }
  seg->analysed = fe;
  update_watermark (seg);
}

/* ------------------------------------------------------------ public */

void
gst_omni_segmenter_push (GstOmniSegmenter *seg, const float *pcm, gsize n)
{
  g_return_if_fail (seg != NULL && (pcm != NULL || n == 0));
  while (n > 0) {
    guint64 frame_end = seg->analysed + seg->frame;
    gsize take = (gsize) MIN ((guint64) n, frame_end - seg->pos);
    for (gsize i = 0; i < take; i++)
      seg->ring[(seg->pos + i) % seg->ring_len] = pcm[i];
    seg->pos += take;
    pcm += take;
    n -= take;
    if (seg->pos == frame_end)
      process_frame (seg);
  }
}

void
gst_omni_segmenter_flush (GstOmniSegmenter *seg)
{
  g_return_if_fail (seg != NULL);
  if (seg->pos > seg->analysed) {
    /* the partial frame, padded with silence that no segment may include */
    for (guint64 i = seg->pos; i < seg->analysed + seg->frame; i++)
      seg->ring[i % seg->ring_len] = 0.0f;
    process_frame (seg);
    seg->analysed = seg->pos;
  }
  if (seg->open)
    close_segment (seg, seg->silent_frames > 0 ? seg->last_active_end : seg->pos);
  seg->last_end = MAX (seg->last_end, seg->pos);
  seg->watermark = MAX (seg->watermark, seg->pos);
}

guint64
gst_omni_segmenter_get_position (const GstOmniSegmenter *seg)
{
  return seg->pos;
}

guint64
gst_omni_segmenter_get_watermark (const GstOmniSegmenter *seg)
{
  return seg->watermark;
}

guint64
gst_omni_segmenter_get_latency_samples (const GstOmniSegmenter *seg)
{
  return (guint64) seg->hangover * seg->frame;
}

guint64
gst_omni_segmenter_get_latency_ns (const GstOmniSegmenter *seg)
{
  return gst_omni_segmenter_get_latency_samples (seg) * G_GUINT64_CONSTANT (1000000000)
      / GST_OMNI_SEGMENTER_RATE;
}
