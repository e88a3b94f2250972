/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Voice-activity segmentation of 16 kHz mono float audio for omnicaption:
 * frames of 10 or 20 ms, an energy gate with hysteresis against an absolute
 * silence threshold and an adaptive noise floor, and a speech test on the
 * last 300 ms (energy modulation and spectral flatness). Segments close at
 * pauses, at max-segment or at flush; see docs/omnicaption-segmentation.md.
 * Plain GLib, no GObject: the element owns one and feeds it. */
#ifndef GST_OMNI_SEGMENTER_H
#define GST_OMNI_SEGMENTER_H

#include <glib.h>

G_BEGIN_DECLS

/* The segmenter works on this rate only (the element converts to it). */
#define GST_OMNI_SEGMENTER_RATE 16000
/* The models' limit on one segment's audio, overlap included. */
#define GST_OMNI_SEGMENTER_MAX_SEGMENT_MS 30000

typedef enum {
  GST_OMNI_SEGMENTER_MODE_TRANSCRIBE,   /* speech segments only */
  GST_OMNI_SEGMENTER_MODE_CAPTION,      /* any sound above the silence threshold */
} GstOmniSegmenterMode;

/* The element's properties of the same names (see the doc for ranges). */
typedef struct {
  GstOmniSegmenterMode mode;      /* task: transcribe or caption */
  guint frame_ms;                 /* analysis hop: 10 or 20 */
  guint min_silence_ms;           /* "min-silence": a pause this long closes a segment */
  guint max_segment_ms;           /* "max-segment": longest segment, overlap included */
  guint overlap_ms;               /* "overlap": audio handed out before a segment's start */
  guint min_segment_ms;           /* "min-segment": shorter sounds are dropped */
  double silence_threshold_db;    /* "silence-threshold": dBFS below which is silence */
} GstOmniSegmenterSettings;

/* One closed segment, in samples counted from the first sample pushed (or
 * the last reset). @pcm holds samples audio_start..end and is valid only
 * during the callback. */
typedef struct {
  guint64 start;          /* first sample of the sound */
  guint64 end;            /* one past its last sample */
  guint64 audio_start;    /* start - overlap, never before sample 0 */
  const float *pcm;       /* end - audio_start samples */
  gsize n_samples;
  gboolean has_speech;    /* at least 100 ms judged speech */
  gboolean continued;     /* opened where the previous one was cut at max-segment */
  double level_db;        /* mean power of start..end in dBFS (full-scale square = 0) */
} GstOmniSegment;

/* Receives each closed segment, in order, from push() or flush(). */
typedef void (*GstOmniSegmentFunc) (const GstOmniSegment *segment, gpointer user_data);

typedef struct _GstOmniSegmenter GstOmniSegmenter;

/* Fills @settings with the defaults: transcribe, 20 ms frames, min-silence
 * 500 ms, max-segment 30 s, overlap 200 ms, min-segment 300 ms, -50 dBFS. */
void gst_omni_segmenter_settings_init (GstOmniSegmenterSettings *settings);

/* A segmenter with @settings (copied; all memory allocated here). NULL and
 * OMNI_ERROR_INVALID naming the setting when one is out of range. */
GstOmniSegmenter *gst_omni_segmenter_new (const GstOmniSegmenterSettings *settings,
                                          GstOmniSegmentFunc func, gpointer user_data,
                                          GError **error);
/* Frees @seg (NULL is ignored); an open segment is dropped, not emitted. */
void gst_omni_segmenter_free (GstOmniSegmenter *seg);

/* Feeds @n samples of any count; closed segments go to the callback before
 * it returns. Does not allocate. */
void gst_omni_segmenter_push (GstOmniSegmenter *seg, const float *pcm, gsize n);
/* End of stream: analyses the last partial frame and closes the open
 * segment (emitting it if long enough). Sample offsets keep running. */
void gst_omni_segmenter_flush (GstOmniSegmenter *seg);
/* Flushing seek: drops the open segment and all state; offsets restart at 0. */
void gst_omni_segmenter_reset (GstOmniSegmenter *seg);

/* Samples pushed so far (since the last reset). */
guint64 gst_omni_segmenter_get_position (const GstOmniSegmenter *seg);
/* No segment not yet emitted will start before this sample: text GAPs may be
 * pushed up to it. Never decreases between resets. */
guint64 gst_omni_segmenter_get_watermark (const GstOmniSegmenter *seg);
/* The most samples a segment can close after its last sample arrived
 * (the min-silence hangover rounded up to whole frames). */
guint64 gst_omni_segmenter_get_latency_samples (const GstOmniSegmenter *seg);
/* get_latency_samples() in nanoseconds: the smallest valid element latency. */
guint64 gst_omni_segmenter_get_latency_ns (const GstOmniSegmenter *seg);

G_END_DECLS

#endif /* GST_OMNI_SEGMENTER_H */
