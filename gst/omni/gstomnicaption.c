/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * omnicaption: the input audio is converted to 16 kHz mono F32
 * (GstAudioConverter, resampling included) and fed to a GstOmniSegmenter;
 * each closed segment is one audio request on text_src (GstOmniBase: order,
 * timing, late results, stats). The audio itself goes out on src through a
 * GstOmniPassthrough that holds it until its segment's text is known (live:
 * at most "latency"), so the buffers can carry the GstOmniTextMeta.
 *
 * Time. Segmenter sample offsets map to stream time through an anchor (the
 * PTS of the first buffer after a start, flush, caps change or timestamp
 * discontinuity, and the sample offset there); the text PTS is the start of
 * the sound (not of the overlap sent before it), the duration its length.
 * Text GAPs follow the segmenter's watermark.
 */
#include "gstomnicaption.h"

#include <gst/audio/audio.h>
#include <string.h>

#include "gstomnipassthrough.h"
#include "gstomnisegmenter.h"

GST_DEBUG_CATEGORY_STATIC (gst_omni_caption_debug);
#define GST_CAT_DEFAULT gst_omni_caption_debug

#define DEFAULT_TASK GST_OMNI_CAPTION_TASK_TRANSCRIBE
#define DEFAULT_PARTIAL_RESULTS FALSE
#define DEFAULT_MAX_CHARS_PER_LINE 32
#define DEFAULT_ATTACH_META TRUE
/* Text GAPs are queued once the watermark has moved this far. */
#define GAP_STEP (50 * GST_MSECOND)
/* The longest text GAP event. */
#define MAX_GAP (100 * GST_MSECOND)
/* A jump of the input timestamps larger than this re-anchors the time. */
#define DISCONT_TOLERANCE (20 * GST_MSECOND)
/* Audio the src passthrough may queue beyond what waits for a result. */
#define MAX_QUEUED_AUDIO GST_SECOND

enum {
  PROP_0,
  PROP_TASK,
  PROP_LANGUAGE_CODE,
  PROP_PROMPT,
  PROP_PARTIAL_RESULTS,
  PROP_MAX_CHARS_PER_LINE,
  PROP_ATTACH_META,
  PROP_MIN_SILENCE,
  PROP_MAX_SEGMENT,
  PROP_OVERLAP,
  PROP_MIN_SEGMENT,
  PROP_SILENCE_THRESHOLD,
};

/* One segment sent to the engine (the base's render data). */
typedef struct {
  guint64 region;             /* passthrough region, 0: none */
  GstClockTime start, end, audio_start, running_time;
  guint64 sample_start, sample_end, sample_audio_start;
} Segment;

struct _GstOmniCaption {
  GstOmniBase parent;

  GstOmniBaseSrcPad *textpad;
  GstOmniPassthrough *pass;   /* the base's media pad "src" */

  /* properties, object lock */
  GstOmniCaptionTask task;
  gchar *language_code;
  gchar *prompt;
  gboolean partial_results;
  guint max_chars_per_line;
  gboolean attach_meta;
  GstOmniSegmenterSettings settings;

  /* from start to stop, streaming thread */
  GstOmniSegmenter *segmenter;
  GstOmniCaptionTask run_task;
  gchar *run_language;
  gchar *run_prompt;
  gboolean run_attach;
  GstAudioInfo in_info;
  GstAudioConverter *conv;
  gfloat *pcm;
  gsize pcm_frames;
  GstSegment segment;
  gboolean live;
  gboolean anchored;
  GstClockTime anchor_pts;
  guint64 anchor_sample;
  GstClockTime next_pts;      /* where the next input buffer should start */
  GstClockTime gap_pos;       /* text GAPs queued up to here */
  guint64 seq;

  /* the counters, lock */
  GMutex lock;
  guint64 n_segments;
};

G_DEFINE_TYPE (GstOmniCaption, gst_omni_caption, GST_TYPE_OMNI_BASE);

static GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE ("sink",
    GST_PAD_SINK, GST_PAD_ALWAYS,
    GST_STATIC_CAPS (GST_AUDIO_CAPS_MAKE (GST_AUDIO_FORMATS_ALL)));
static GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE ("src",
    GST_PAD_SRC, GST_PAD_ALWAYS,
    GST_STATIC_CAPS (GST_AUDIO_CAPS_MAKE (GST_AUDIO_FORMATS_ALL)));
static GstStaticPadTemplate text_template = GST_STATIC_PAD_TEMPLATE ("text_src",
    GST_PAD_SRC, GST_PAD_ALWAYS,
    GST_STATIC_CAPS ("text/x-raw, format = (string) utf8"));
static GstStaticPadTemplate unsynced_template =
GST_STATIC_PAD_TEMPLATE ("unsynced_src", GST_PAD_SRC, GST_PAD_REQUEST,
    GST_STATIC_CAPS ("application/x-json"));

GType
gst_omni_caption_task_get_type (void)
{
  static gsize type = 0;
  static const GEnumValue values[] = {
    {GST_OMNI_CAPTION_TASK_CAPTION, "Describe the audio: speech, music, "
          "sounds (Qwen3-Omni Captioner; kind caption)", "caption"},
    {GST_OMNI_CAPTION_TASK_TRANSCRIBE, "The words spoken (Qwen3-ASR or "
          "Qwen3-Omni Instruct; kind transcript)", "transcribe"},
    {0, NULL, NULL},
  };

  if (g_once_init_enter (&type)) {
    GType t = g_enum_register_static ("GstOmniCaptionTask", values);

    g_once_init_leave (&type, t);
  }
  return (GType) type;
}

/* ------------------------------------------------------------------ time */

/* Stream time of segmenter sample @s. */
static GstClockTime
sample_time (GstOmniCaption *self, guint64 s)
{
  if (s >= self->anchor_sample)
    return self->anchor_pts + gst_util_uint64_scale (s - self->anchor_sample,
        GST_SECOND, GST_OMNI_SEGMENTER_RATE);
  return self->anchor_pts - MIN (self->anchor_pts,
      gst_util_uint64_scale (self->anchor_sample - s, GST_SECOND,
          GST_OMNI_SEGMENTER_RATE));
}

/* Queues text GAPs from where the last one ended up to @t, each at most
 * MAX_GAP long (downstream sees time move in small steps). */
static void
gap_to (GstOmniCaption *self, GstClockTime t)
{
  if (!GST_CLOCK_TIME_IS_VALID (t))
    return;
  if (!GST_CLOCK_TIME_IS_VALID (self->gap_pos)) {
    self->gap_pos = t;
    return;
  }
  while (t > self->gap_pos) {
    GstClockTime dur = MIN (t - self->gap_pos, MAX_GAP);

    gst_omni_base_queue_gap (GST_OMNI_BASE (self), self->gap_pos, dur);
    self->gap_pos += dur;
  }
}

/* The watermark moved: buffers before it may leave, text time moves on. */
static void
follow_watermark (GstOmniCaption *self)
{
  GstClockTime wm;

  if (!self->anchored)
    return;
  wm = sample_time (self, gst_omni_segmenter_get_watermark (self->segmenter));
  gst_omni_passthrough_set_watermark (self->pass, wm);
  if (!GST_CLOCK_TIME_IS_VALID (self->gap_pos) || wm >= self->gap_pos + GAP_STEP)
    gap_to (self, wm);
}

/* ------------------------------------------------------------- segments */

static void
segment_free (gpointer data)
{
  g_free (data);
}

static void
warn_segment (GstOmniCaption *self, guint64 seq, const GError *error)
{
  GST_ELEMENT_WARNING (self, STREAM, FAILED,
      ("Cannot send segment %" G_GUINT64_FORMAT " to the model: %s; going "
          "on with the next one", seq, error->message), (NULL));
}

/* The segmenter closed @s (streaming thread, inside push or flush): one
 * request, its text slot after a GAP up to its start. */
static void
on_segment (const GstOmniSegment *s, gpointer user_data)
{
  GstOmniCaption *self = user_data;
  GstOmniBase *base = GST_OMNI_BASE (self);
  OmniAudioSpec spec = { 0 };
  GstOmniBaseSegmentInfo info;
  Segment *seg = g_new0 (Segment, 1);
  GError *error = NULL;
  OmniRequest *req;
  guint64 region = 0;

  seg->sample_start = s->start;
  seg->sample_end = s->end;
  seg->sample_audio_start = s->audio_start;
  seg->start = sample_time (self, s->start);
  seg->end = sample_time (self, s->end);
  seg->audio_start = sample_time (self, s->audio_start);
  seg->running_time = gst_segment_to_running_time (&self->segment,
      GST_FORMAT_TIME, seg->start);
  gap_to (self, seg->start);

  info.seq = self->seq++;
  info.pts = seg->start;
  info.duration = seg->end - seg->start;
  info.running_time = seg->running_time;
  info.live = self->live;
  if (self->run_attach)
    region = seg->region = gst_omni_passthrough_add_region (self->pass,
        seg->start, seg->end);
  g_mutex_lock (&self->lock);
  self->n_segments++;
  g_mutex_unlock (&self->lock);
  GST_DEBUG_OBJECT (self, "segment %" G_GUINT64_FORMAT ": %" GST_TIME_FORMAT
      " - %" GST_TIME_FORMAT " (%" G_GSIZE_FORMAT " samples, %.1f dB%s)",
      info.seq, GST_TIME_ARGS (seg->start), GST_TIME_ARGS (seg->end),
      s->n_samples, s->level_db, s->has_speech ? ", speech" : "");

  spec.pcm = s->pcm;
  spec.n_samples = s->n_samples;
  spec.task = self->run_task == GST_OMNI_CAPTION_TASK_CAPTION
      ? OMNI_AUDIO_CAPTION : OMNI_AUDIO_TRANSCRIBE;
  spec.language = self->run_language;
  spec.prompt = self->run_prompt;
  req = omni_request_new_audio (&spec, &error);
  if (!req) {
    segment_free (seg);
  } else if (!gst_omni_base_submit (base, self->textpad, &info, req, NULL,
          NULL, self->run_language, NULL, seg, segment_free, &error)) {
    req = NULL;
  }
  if (!req) {
    warn_segment (self, info.seq, error);
    g_clear_error (&error);
    if (region)
      gst_omni_passthrough_resolve (self->pass, region, NULL);
  }
  /* Behind the result (which covers it first): the slot of a refused
   * request still moves text time on. */
  gap_to (self, sample_time (self, s->end));
}

/* Runs the converter's last samples (its filter delay) into the segmenter. */
static void
drain_converter (GstOmniCaption *self)
{
  gsize lat, out_frames;
  gpointer out[1];

  if (!self->conv)
    return;
  lat = gst_audio_converter_get_max_latency (self->conv);
  if (lat == 0)
    return;
  out_frames = gst_audio_converter_get_out_frames (self->conv, lat);
  if (out_frames > self->pcm_frames) {
    self->pcm = g_renew (gfloat, self->pcm, out_frames);
    self->pcm_frames = out_frames;
  }
  out[0] = self->pcm;
  if (out_frames > 0 && gst_audio_converter_samples (self->conv, 0, NULL, lat,
          out, out_frames))
    gst_omni_segmenter_push (self->segmenter, self->pcm, out_frames);
  gst_audio_converter_reset (self->conv);
}

/* Closes the open segment (EOS, caps change, discontinuity): its request
 * goes out; time is re-anchored at the next buffer. */
static void
close_segment (GstOmniCaption *self)
{
  if (!self->segmenter)
    return;
  drain_converter (self);
  gst_omni_segmenter_flush (self->segmenter);
  follow_watermark (self);
  self->anchored = FALSE;
}

/* ------------------------------------------------------------ streaming */

static GstFlowReturn
convert_and_segment (GstOmniCaption *self, GstBuffer *buffer, gsize frames)
{
  gsize out_frames = gst_audio_converter_get_out_frames (self->conv, frames);
  gpointer in[1], out[1];
  GstMapInfo map;
  gboolean ok;

  if (out_frames > self->pcm_frames) {
    self->pcm = g_renew (gfloat, self->pcm, out_frames);
    self->pcm_frames = out_frames;
  }
  if (!gst_buffer_map (buffer, &map, GST_MAP_READ)) {
    GST_ELEMENT_ERROR (self, STREAM, FAILED, ("Cannot read an audio buffer"),
        (NULL));
    return GST_FLOW_ERROR;
  }
  in[0] = map.data;
  out[0] = self->pcm;
  ok = gst_audio_converter_samples (self->conv, 0, in, frames, out,
      out_frames);
  gst_buffer_unmap (buffer, &map);
  if (!ok) {
    GST_ELEMENT_ERROR (self, STREAM, FORMAT, ("Cannot convert the audio to "
            "16 kHz mono"), (NULL));
    return GST_FLOW_ERROR;
  }
  gst_omni_segmenter_push (self->segmenter, self->pcm, out_frames);
  return GST_FLOW_OK;
}

/* Re-anchors time at @buffer when it is the first, or its timestamp jumps
 * (the open segment is closed first). */
static void
check_anchor (GstOmniCaption *self, GstBuffer *buffer)
{
  GstClockTime pts = GST_BUFFER_PTS (buffer);

  if (self->anchored && GST_CLOCK_TIME_IS_VALID (pts)
      && GST_CLOCK_TIME_IS_VALID (self->next_pts)
      && (pts > self->next_pts + DISCONT_TOLERANCE
          || pts + DISCONT_TOLERANCE < self->next_pts)) {
    GST_DEBUG_OBJECT (self, "discontinuity: %" GST_TIME_FORMAT " instead of %"
        GST_TIME_FORMAT, GST_TIME_ARGS (pts), GST_TIME_ARGS (self->next_pts));
    close_segment (self);
  }
  if (self->anchored)
    return;
  if (!GST_CLOCK_TIME_IS_VALID (pts))
    pts = GST_CLOCK_TIME_IS_VALID (self->next_pts) ? self->next_pts
        : (self->segment.start != (guint64) - 1 ? self->segment.start : 0);
  self->anchor_pts = pts;
  self->anchor_sample = gst_omni_segmenter_get_position (self->segmenter);
  self->anchored = TRUE;
  gap_to (self, pts);
}

static GstFlowReturn
gst_omni_caption_handle_buffer (GstOmniBase *base, GstBuffer *buffer,
    const GstOmniBaseSegmentInfo *info)
{
  GstOmniCaption *self = GST_OMNI_CAPTION (base);
  GstClockTime start, end;
  guint64 pos;
  gsize frames;
  GstFlowReturn ret;

  if (!self->conv) {
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION, ("No caps before the first "
            "audio buffer"), (NULL));
    return GST_FLOW_NOT_NEGOTIATED;
  }
  self->live = info->live;
  frames = gst_buffer_get_size (buffer) / GST_AUDIO_INFO_BPF (&self->in_info);
  check_anchor (self, buffer);
  pos = gst_omni_segmenter_get_position (self->segmenter);
  start = sample_time (self, pos);
  ret = convert_and_segment (self, buffer, frames);
  if (ret != GST_FLOW_OK)
    return ret;
  end = start + gst_util_uint64_scale (frames, GST_SECOND,
      GST_AUDIO_INFO_RATE (&self->in_info));
  self->next_pts = (GST_BUFFER_PTS_IS_VALID (buffer) ? GST_BUFFER_PTS (buffer)
      : start) + (end - start);

  ret = gst_omni_passthrough_push_buffer (self->pass, gst_buffer_ref (buffer),
      start, end, gst_omni_base_hold_until (base, self->live));
  follow_watermark (self);
  return ret;
}

/* ------------------------------------------------------------ events */

static gboolean
set_caps (GstOmniCaption *self, GstCaps *caps)
{
  GstAudioInfo info, out;

  if (!gst_audio_info_from_caps (&info, caps)) {
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION, ("Invalid audio caps %"
            GST_PTR_FORMAT, caps), (NULL));
    return FALSE;
  }
  if (self->conv && gst_audio_info_is_equal (&info, &self->in_info))
    return TRUE;
  /* Mid-stream: what came in the old format is one segment at most. */
  close_segment (self);
  g_clear_pointer (&self->conv, gst_audio_converter_free);
  gst_audio_info_set_format (&out, GST_AUDIO_FORMAT_F32,
      GST_OMNI_SEGMENTER_RATE, 1, NULL);
  self->conv = gst_audio_converter_new (GST_AUDIO_CONVERTER_FLAG_NONE, &info,
      &out, NULL);
  if (!self->conv) {
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION, ("Cannot convert %"
            GST_PTR_FORMAT " to 16 kHz mono", caps), (NULL));
    return FALSE;
  }
  self->in_info = info;
  GST_INFO_OBJECT (self, "input %" GST_PTR_FORMAT, caps);
  return TRUE;
}

static void
reset_stream (GstOmniCaption *self)
{
  if (self->segmenter)
    gst_omni_segmenter_reset (self->segmenter);
  if (self->conv)
    gst_audio_converter_reset (self->conv);
  self->anchored = FALSE;
  self->next_pts = GST_CLOCK_TIME_NONE;
  self->gap_pos = GST_CLOCK_TIME_NONE;
}

static gboolean
gst_omni_caption_sink_event (GstOmniBase *base, GstEvent *event)
{
  GstOmniCaption *self = GST_OMNI_CAPTION (base);
  GstClockTime ts, dur;
  GstCaps *caps;

  /* The base forwards the events to src and unsynced_src after this. */
  switch (GST_EVENT_TYPE (event)) {
    case GST_EVENT_FLUSH_STOP:
      /* Serialized: the streaming thread is out of handle_buffer. */
      reset_stream (self);
      break;
    case GST_EVENT_CAPS:
      gst_event_parse_caps (event, &caps);
      if (!set_caps (self, caps))
        return TRUE;
      break;
    case GST_EVENT_SEGMENT:
      gst_event_copy_segment (event, &self->segment);
      break;
    case GST_EVENT_GAP:
      /* No audio: a pause that closes the open segment. */
      gst_event_parse_gap (event, &ts, &dur);
      close_segment (self);
      if (GST_CLOCK_TIME_IS_VALID (ts) && GST_CLOCK_TIME_IS_VALID (dur)) {
        gap_to (self, ts + dur);
        self->next_pts = ts + dur;
      }
      break;
    case GST_EVENT_EOS:
      close_segment (self);
      gst_omni_passthrough_set_watermark (self->pass, GST_CLOCK_TIME_NONE);
      if (GST_CLOCK_TIME_IS_VALID (self->next_pts))
        gap_to (self, self->next_pts);
      break;
    default:
      break;
  }
  return FALSE;
}

/* -------------------------------------------------------------- results */

static void
gst_omni_caption_result_update (GstOmniBase *base, GstOmniBaseSrcPad *pad,
    const GstOmniBaseResultInfo *info, const OmniResult *result)
{
  GstOmniCaption *self = GST_OMNI_CAPTION (base);
  const Segment *seg = info->render_data;
  GstOmniPassthroughText text = { 0 };
  GstStructure *extra = gst_structure_new ("extra",
      "audio-start", G_TYPE_UINT64, (guint64) seg->audio_start,
      "audio-end", G_TYPE_UINT64, (guint64) seg->end, NULL);

  gst_omni_base_push_result_json (base, info, result, seg->start,
      seg->end - seg->start, extra);
  gst_structure_free (extra);
  if (result->status == OMNI_RESULT_PARTIAL || !seg->region)
    return;
  text.kind = self->run_task == GST_OMNI_CAPTION_TASK_CAPTION
      ? GST_OMNI_TEXT_KIND_CAPTION : GST_OMNI_TEXT_KIND_TRANSCRIPT;
  text.language = info->language;
  text.pts = seg->start;
  text.running_time = seg->running_time;
  text.duration = seg->end - seg->start;
  gst_omni_base_resolve_region (base, self->pass, seg->region, info, result,
      &text);
}

/* Splits @text at spaces into lines of at most @max characters; a longer
 * word (or text without spaces) is cut every @max characters. */
static gchar **
split_lines (const gchar *text, guint max)
{
  GPtrArray *lines = g_ptr_array_new ();
  gchar **words = g_strsplit_set (text, " \t\r\n", -1);
  GString *line = g_string_new (NULL);
  glong len = 0;

  for (guint i = 0; words[i]; i++) {
    const gchar *w = words[i];
    glong wl = g_utf8_strlen (w, -1);

    if (wl == 0)
      continue;
    if (len > 0 && len + 1 + wl > (glong) max) {
      g_ptr_array_add (lines, g_string_free (line, FALSE));
      line = g_string_new (NULL);
      len = 0;
    }
    while (wl > (glong) max) {
      const gchar *cut = g_utf8_offset_to_pointer (w, max);

      g_ptr_array_add (lines, g_strndup (w, cut - w));
      w = cut;
      wl -= max;
    }
    if (len > 0) {
      g_string_append_c (line, ' ');
      len++;
    }
    g_string_append (line, w);
    len += wl;
  }
  if (len > 0)
    g_ptr_array_add (lines, g_string_free (line, FALSE));
  else
    g_string_free (line, TRUE);
  g_ptr_array_add (lines, NULL);
  g_strfreev (words);
  return (gchar **) g_ptr_array_free (lines, FALSE);
}

static gchar **
gst_omni_caption_split (GstOmniBase *base, GstOmniBaseSrcPad *pad,
    const GstOmniBaseResultInfo *info, const gchar *text)
{
  GstOmniCaption *self = GST_OMNI_CAPTION (base);
  guint max;

  GST_OBJECT_LOCK (self);
  max = self->max_chars_per_line;
  GST_OBJECT_UNLOCK (self);
  return split_lines (text, max);
}

static void
gst_omni_caption_result_message (GstOmniBase *base, GstOmniBaseSrcPad *pad,
    const GstOmniBaseResultInfo *info, GstStructure *s)
{
  const Segment *seg = info->render_data;

  gst_structure_set (s,
      "audio-start", G_TYPE_UINT64, (guint64) seg->audio_start,
      "audio-end", G_TYPE_UINT64, (guint64) seg->end,
      "audio-start-sample", G_TYPE_UINT64, seg->sample_audio_start,
      "audio-end-sample", G_TYPE_UINT64, seg->sample_end, NULL);
}

static void
gst_omni_caption_add_stats (GstOmniBase *base, GstStructure *stats)
{
  GstOmniCaption *self = GST_OMNI_CAPTION (base);

  g_mutex_lock (&self->lock);
  gst_structure_set (stats, "segments", G_TYPE_UINT64, self->n_segments, NULL);
  g_mutex_unlock (&self->lock);
}

static GstCaps *
gst_omni_caption_src_caps (GstOmniBase *base, GstOmniBaseSrcPad *pad,
    GstCaps *sink_caps)
{
  return gst_static_pad_template_get_caps (&text_template);
}

/* --------------------------------------------------------------- state */

/* The language is checked the way every request will check it. */
static gboolean
check_language (const gchar *language, GError **error)
{
  static const gfloat zero = 0.0f;
  OmniAudioSpec spec = { &zero, 1, OMNI_AUDIO_TRANSCRIBE, language, NULL };
  OmniRequest *req;

  if (!language)
    return TRUE;
  req = omni_request_new_audio (&spec, error);
  if (!req)
    return FALSE;
  omni_request_unref (req);
  return TRUE;
}

static gboolean
gst_omni_caption_start (GstOmniBase *base, GError **error)
{
  GstOmniCaption *self = GST_OMNI_CAPTION (base);
  GstOmniSegmenterSettings settings;
  guint latency_ms, min_ms;
  GError *lang_error = NULL;

  g_object_get (self, "latency", &latency_ms, NULL);
  GST_OBJECT_LOCK (self);
  settings = self->settings;
  self->run_task = self->task;
  self->run_language = self->language_code && *self->language_code
      ? g_strdup (self->language_code) : NULL;
  self->run_prompt = self->prompt && *self->prompt
      ? g_strdup (self->prompt) : NULL;
  self->run_attach = self->attach_meta;
  gst_omni_base_set_partial_results (base, self->partial_results);
  GST_OBJECT_UNLOCK (self);
  settings.mode = self->run_task == GST_OMNI_CAPTION_TASK_CAPTION
      ? GST_OMNI_SEGMENTER_MODE_CAPTION : GST_OMNI_SEGMENTER_MODE_TRANSCRIBE;
  gst_omni_base_set_text_kind (base, self->run_task
      == GST_OMNI_CAPTION_TASK_CAPTION ? GST_OMNI_TEXT_KIND_CAPTION
      : GST_OMNI_TEXT_KIND_TRANSCRIPT);

  if (!check_language (self->run_language, &lang_error)) {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_INVALID,
        "Invalid language-code: %s", lang_error->message);
    g_error_free (lang_error);
    return FALSE;
  }
  self->segmenter = gst_omni_segmenter_new (&settings, on_segment, self,
      error);
  if (!self->segmenter)
    return FALSE;
  min_ms = (guint) ((gst_omni_segmenter_get_latency_ns (self->segmenter)
          + GST_MSECOND - 1) / GST_MSECOND);
  if (latency_ms < min_ms) {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_INVALID,
        "latency %u ms is below what the segmentation can deliver (a pause "
        "of min-silence %u ms ends a segment): the smallest valid value is "
        "%u ms", latency_ms, settings.min_silence_ms, min_ms);
    return FALSE;
  }
  gst_omni_passthrough_set_hold (self->pass, self->run_attach);
  gst_segment_init (&self->segment, GST_FORMAT_TIME);
  self->seq = 0;
  self->live = FALSE;
  reset_stream (self);
  g_mutex_lock (&self->lock);
  self->n_segments = 0;
  g_mutex_unlock (&self->lock);
  return TRUE;
}

static void
gst_omni_caption_stop (GstOmniBase *base)
{
  GstOmniCaption *self = GST_OMNI_CAPTION (base);

  g_clear_pointer (&self->segmenter, gst_omni_segmenter_free);
  g_clear_pointer (&self->conv, gst_audio_converter_free);
  g_clear_pointer (&self->pcm, g_free);
  self->pcm_frames = 0;
  g_clear_pointer (&self->run_language, g_free);
  g_clear_pointer (&self->run_prompt, g_free);
  gst_audio_info_init (&self->in_info);
}

/* ------------------------------------------------------------- GObject */

static void
gst_omni_caption_set_property (GObject *object, guint prop_id,
    const GValue *value, GParamSpec *pspec)
{
  GstOmniCaption *self = GST_OMNI_CAPTION (object);

  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_TASK:
      self->task = g_value_get_enum (value);
      break;
    case PROP_LANGUAGE_CODE:
      g_free (self->language_code);
      self->language_code = g_value_dup_string (value);
      break;
    case PROP_PROMPT:
      g_free (self->prompt);
      self->prompt = g_value_dup_string (value);
      break;
    case PROP_PARTIAL_RESULTS:
      self->partial_results = g_value_get_boolean (value);
      break;
    case PROP_MAX_CHARS_PER_LINE:
      self->max_chars_per_line = g_value_get_uint (value);
      break;
    case PROP_ATTACH_META:
      self->attach_meta = g_value_get_boolean (value);
      break;
    case PROP_MIN_SILENCE:
      self->settings.min_silence_ms = g_value_get_uint (value);
      break;
    case PROP_MAX_SEGMENT:
      self->settings.max_segment_ms = g_value_get_uint (value);
      break;
    case PROP_OVERLAP:
      self->settings.overlap_ms = g_value_get_uint (value);
      break;
    case PROP_MIN_SEGMENT:
      self->settings.min_segment_ms = g_value_get_uint (value);
      break;
    case PROP_SILENCE_THRESHOLD:
      self->settings.silence_threshold_db = g_value_get_double (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

static void
gst_omni_caption_get_property (GObject *object, guint prop_id, GValue *value,
    GParamSpec *pspec)
{
  GstOmniCaption *self = GST_OMNI_CAPTION (object);

  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_TASK:
      g_value_set_enum (value, self->task);
      break;
    case PROP_LANGUAGE_CODE:
      g_value_set_string (value, self->language_code);
      break;
    case PROP_PROMPT:
      g_value_set_string (value, self->prompt);
      break;
    case PROP_PARTIAL_RESULTS:
      g_value_set_boolean (value, self->partial_results);
      break;
    case PROP_MAX_CHARS_PER_LINE:
      g_value_set_uint (value, self->max_chars_per_line);
      break;
    case PROP_ATTACH_META:
      g_value_set_boolean (value, self->attach_meta);
      break;
    case PROP_MIN_SILENCE:
      g_value_set_uint (value, self->settings.min_silence_ms);
      break;
    case PROP_MAX_SEGMENT:
      g_value_set_uint (value, self->settings.max_segment_ms);
      break;
    case PROP_OVERLAP:
      g_value_set_uint (value, self->settings.overlap_ms);
      break;
    case PROP_MIN_SEGMENT:
      g_value_set_uint (value, self->settings.min_segment_ms);
      break;
    case PROP_SILENCE_THRESHOLD:
      g_value_set_double (value, self->settings.silence_threshold_db);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

static void
gst_omni_caption_finalize (GObject *object)
{
  GstOmniCaption *self = GST_OMNI_CAPTION (object);

  g_free (self->language_code);
  g_free (self->prompt);
  g_free (self->pcm);
  g_mutex_clear (&self->lock);
  G_OBJECT_CLASS (gst_omni_caption_parent_class)->finalize (object);
}

static void
install_properties (GObjectClass *gobject_class)
{
  const GParamFlags rw = G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS
      | GST_PARAM_MUTABLE_READY;
  GstOmniSegmenterSettings d;

  gst_omni_segmenter_settings_init (&d);
  g_object_class_install_property (gobject_class, PROP_TASK,
      g_param_spec_enum ("task", "Task",
          "What to write: caption (describe speech, music and sounds; any "
          "sound above silence-threshold is sent) or transcribe (the words "
          "spoken; speech segments only)", GST_TYPE_OMNI_CAPTION_TASK,
          DEFAULT_TASK, rw));
  g_object_class_install_property (gobject_class, PROP_LANGUAGE_CODE,
      g_param_spec_string ("language-code", "Language code",
          "transcribe: force this language (BCP-47 code or English name); "
          "empty: the model detects it", NULL, rw));
  g_object_class_install_property (gobject_class, PROP_PROMPT,
      g_param_spec_string ("prompt", "Prompt",
          "Qwen3-ASR: context text and hotwords (names, terms); Qwen3-Omni: "
          "the instruction after the audio (empty: the task's default)",
          NULL, rw));
  g_object_class_install_property (gobject_class, PROP_PARTIAL_RESULTS,
      g_param_spec_boolean ("partial-results", "Partial results",
          "Push the text so far to unsynced_src while a segment is being "
          "decoded (text_src gets final results only)",
          DEFAULT_PARTIAL_RESULTS, rw));
  g_object_class_install_property (gobject_class, PROP_MAX_CHARS_PER_LINE,
      g_param_spec_uint ("max-chars-per-line", "Max characters per line",
          "text_src: longer results are split at spaces into lines of at "
          "most this many characters, one buffer each, the segment's time "
          "spread over them by length (32: CEA-608)", 1, 1000,
          DEFAULT_MAX_CHARS_PER_LINE,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS
          | GST_PARAM_MUTABLE_PLAYING));
  g_object_class_install_property (gobject_class, PROP_ATTACH_META,
      g_param_spec_boolean ("attach-meta", "Attach meta",
          "Hold the audio on src until its segment's text is known (live: at "
          "most latency; files: until the result) and attach it as "
          "GstOmniTextMeta; false: pass the audio at once, without meta",
          DEFAULT_ATTACH_META, rw));
  g_object_class_install_property (gobject_class, PROP_MIN_SILENCE,
      g_param_spec_uint ("min-silence", "Minimum silence",
          "A pause this long (ms) ends a segment; also the smallest valid "
          "latency", 20, 10000, d.min_silence_ms, rw));
  g_object_class_install_property (gobject_class, PROP_MAX_SEGMENT,
      g_param_spec_uint ("max-segment", "Maximum segment",
          "Longest segment (ms, overlap included); longer sound is cut and "
          "continued in the next segment", 1000,
          GST_OMNI_SEGMENTER_MAX_SEGMENT_MS, d.max_segment_ms, rw));
  g_object_class_install_property (gobject_class, PROP_OVERLAP,
      g_param_spec_uint ("overlap", "Overlap",
          "Audio (ms) sent before each segment's start so words at its "
          "boundary are not cut (at most max-segment / 4)", 0,
          GST_OMNI_SEGMENTER_MAX_SEGMENT_MS / 4, d.overlap_ms, rw));
  g_object_class_install_property (gobject_class, PROP_MIN_SEGMENT,
      g_param_spec_uint ("min-segment", "Minimum segment",
          "Shorter sounds (ms) are not sent", 0,
          GST_OMNI_SEGMENTER_MAX_SEGMENT_MS, d.min_segment_ms, rw));
  g_object_class_install_property (gobject_class, PROP_SILENCE_THRESHOLD,
      g_param_spec_double ("silence-threshold", "Silence threshold",
          "Level (dBFS) below which audio is silence; silence never makes a "
          "segment", -120.0, 0.0, d.silence_threshold_db, rw));
}

static void
gst_omni_caption_class_init (GstOmniCaptionClass *klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);
  GstOmniBaseClass *base_class = GST_OMNI_BASE_CLASS (klass);

  GST_DEBUG_CATEGORY_INIT (gst_omni_caption_debug, "omnicaption", 0,
      "omnicaption: audio transcripts and captions with Qwen models");

  gobject_class->set_property = gst_omni_caption_set_property;
  gobject_class->get_property = gst_omni_caption_get_property;
  gobject_class->finalize = gst_omni_caption_finalize;
  install_properties (gobject_class);

  gst_element_class_add_static_pad_template (element_class, &sink_template);
  gst_element_class_add_static_pad_template (element_class, &src_template);
  gst_element_class_add_static_pad_template_with_gtype (element_class,
      &text_template, GST_TYPE_OMNI_BASE_SRC_PAD);
  gst_element_class_add_static_pad_template (element_class,
      &unsynced_template);
  gst_element_class_set_static_metadata (element_class,
      "Qwen audio captioner", "Filter/Audio/Text",
      "Live transcripts and audio captions beside the audio with Qwen3-ASR "
      "and Qwen3-Omni: timed text on text_src, the audio passed through on "
      "src carrying GstOmniTextMeta",
      "gst-omni developers <gst-omni@example.invalid>");

  base_class->text_kind = GST_OMNI_TEXT_KIND_TRANSCRIPT;
  base_class->message_name = "omni-caption";
  base_class->errors_are_warnings = TRUE;
  base_class->own_gaps = TRUE;
  base_class->start = gst_omni_caption_start;
  base_class->stop = gst_omni_caption_stop;
  base_class->src_caps = gst_omni_caption_src_caps;
  base_class->handle_buffer = gst_omni_caption_handle_buffer;
  base_class->sink_event = gst_omni_caption_sink_event;
  base_class->split = gst_omni_caption_split;
  base_class->result_update = gst_omni_caption_result_update;
  base_class->result_message = gst_omni_caption_result_message;
  base_class->add_stats = gst_omni_caption_add_stats;

  gst_type_mark_as_plugin_api (GST_TYPE_OMNI_CAPTION_TASK, 0);
}

static void
gst_omni_caption_init (GstOmniCaption *self)
{
  GstElementClass *klass = GST_ELEMENT_GET_CLASS (self);

  g_mutex_init (&self->lock);
  self->task = DEFAULT_TASK;
  self->partial_results = DEFAULT_PARTIAL_RESULTS;
  self->max_chars_per_line = DEFAULT_MAX_CHARS_PER_LINE;
  self->attach_meta = DEFAULT_ATTACH_META;
  gst_omni_segmenter_settings_init (&self->settings);
  gst_audio_info_init (&self->in_info);
  gst_segment_init (&self->segment, GST_FORMAT_TIME);
  self->next_pts = self->gap_pos = GST_CLOCK_TIME_NONE;

  self->pass = gst_omni_base_add_media_pad (GST_OMNI_BASE (self),
      gst_element_class_get_pad_template (klass, "src"), MAX_QUEUED_AUDIO);
  self->textpad = gst_omni_base_add_src_pad (GST_OMNI_BASE (self),
      GST_TYPE_OMNI_BASE_SRC_PAD, gst_element_class_get_pad_template (klass,
          "text_src"), "text_src");
}

gboolean
gst_omni_caption_register (GstPlugin *plugin)
{
  return gst_element_register (plugin, "omnicaption", GST_RANK_NONE,
      GST_TYPE_OMNI_CAPTION);
}
