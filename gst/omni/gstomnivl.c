/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * omnivl: each input frame is first measured (scene-change: a luma
 * thumbnail, GstOmniScene) and timed (interval); only a frame that is
 * looked at (or sampled for a clip at clip-fps) is converted to packed RGB
 * with a GstVideoConverter. A look is one vision request on text_src
 * (GstOmniBase: order, timing, late results, stats); at most queue-depth
 * looks are pending, a look that finds the queue full is dropped (counted)
 * as if it had been made. The video goes out on src through the base's
 * media passthrough, held (attach-meta; live: at most latency) until the
 * text of the frames it shows is known.
 *
 * Time. A look's text has the PTS of its frame (a clip's: its first
 * sampled frame) and lasts until the next periodic look (interval; a clip
 * without interval: clip-duration), else DEFAULT_TEXT_DURATION. Text GAPs
 * follow the watermark: the input frames, or for clips the start of the
 * sample window (the earliest a clip's text can start).
 */
#include "gstomnivl.h"

#include <gst/video/video.h>
#include <glib/gstdio.h>
#include <string.h>

#include "gstomniscene.h"

GST_DEBUG_CATEGORY_STATIC (gst_omni_vl_debug);
#define GST_CAT_DEFAULT gst_omni_vl_debug

#define DEFAULT_INTERVAL_MS 2000
#define DEFAULT_SCENE_CHANGE FALSE
#define DEFAULT_SCENE_THRESHOLD 0.1
#define DEFAULT_CLIP_DURATION 0.0
#define DEFAULT_CLIP_FPS 2.0
#define DEFAULT_QUEUE_DEPTH 1
#define DEFAULT_ATTACH_META TRUE
/* The text duration when no periodic look follows (scene-change only). */
#define DEFAULT_TEXT_DURATION (3 * GST_SECOND)
/* Text GAPs are queued once the input has moved this far. */
#define GAP_STEP (100 * GST_MSECOND)
/* Video the src passthrough may queue beyond what waits for a result. */
#define MAX_QUEUED_VIDEO GST_SECOND
/* Pixels per visual token: 16x16 patches merged 2x2 (Qwen3-VL, Qwen3-Omni). */
#define PIXELS_PER_TOKEN 1024
/* Frames of a clip at most (Qwen3-VL samples up to 768). */
#define MAX_CLIP_FRAMES 256

enum {
  PROP_0,
  PROP_INTERVAL,
  PROP_SCENE_CHANGE,
  PROP_SCENE_THRESHOLD,
  PROP_CLIP_DURATION,
  PROP_CLIP_FPS,
  PROP_PROMPT,
  PROP_QUEUE_DEPTH,
  PROP_ATTACH_META,
  PROP_MIN_PIXELS,
  PROP_MAX_PIXELS,
};

/* Why a frame was looked at. */
typedef enum {
  TRIGGER_NONE,
  TRIGGER_FIRST,
  TRIGGER_INTERVAL,
  TRIGGER_SCENE,
} Trigger;

static const gchar *trigger_names[] = { "none", "first", "interval", "scene" };

/* One look sent to the engine (the base's render data). */
typedef struct {
  guint64 region;             /* passthrough region, 0: none */
  GstClockTime pts, duration, running_time, frames_end;
  guint n_frames;
  guint generation;
  Trigger trigger;
  gdouble scene_difference;   /* -1: not measured */
} Look;

/* A frame converted to RGB, kept for the next clip. */
typedef struct {
  GstBuffer *rgb;
  GstClockTime pts;
} Sample;

/* What the properties were at start. */
typedef struct {
  GstClockTime interval;      /* 0: no periodic looks */
  gboolean scene_change;
  gdouble scene_threshold;
  gdouble clip_duration, clip_fps;
  guint clip_frames;          /* 0: single frames */
  gchar *prompt;
  guint queue_depth;
  gboolean attach_meta;
  gint min_tokens, max_tokens;
} Settings;

struct _GstOmniVl {
  GstOmniBase parent;

  GstOmniBaseSrcPad *textpad;
  GstOmniPassthrough *pass;   /* the base's media pad "src" */

  /* properties, object lock */
  guint interval_ms;
  gboolean scene_change;
  gdouble scene_threshold;
  gdouble clip_duration, clip_fps;
  gchar *prompt;
  guint queue_depth;
  gboolean attach_meta;
  guint min_pixels, max_pixels;

  /* from start to stop, streaming thread */
  Settings run;
  gchar *dump_dir;            /* GST_OMNIVL_DUMP_DIR: the RGB sent */
  GstVideoInfo in_info, rgb_info;
  gboolean have_info;
  GstVideoConverter *conv;
  GstSegment segment;
  gboolean live;
  GstClockTime last_look;     /* PTS of the last look (NONE: none yet) */
  GstOmniSceneThumb ref_thumb;  /* of the last looked-at frame */
  gboolean have_ref;
  gpointer scene_scratch;
  gsize scene_scratch_size;
  GQueue samples;             /* of Sample, oldest first */
  GstClockTime next_sample;
  GstClockTime gap_pos, last_end;
  guint64 seq;

  /* pending looks and counters, lock */
  GMutex lock;
  guint pending, generation;
  gboolean clip_refused;
  guint64 n_frames, n_looks, n_dropped, n_samples;
};

G_DEFINE_TYPE (GstOmniVl, gst_omni_vl, GST_TYPE_OMNI_BASE);

static GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE ("sink",
    GST_PAD_SINK, GST_PAD_ALWAYS,
    GST_STATIC_CAPS (GST_VIDEO_CAPS_MAKE (GST_VIDEO_FORMATS_ALL)));
static GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE ("src",
    GST_PAD_SRC, GST_PAD_ALWAYS,
    GST_STATIC_CAPS (GST_VIDEO_CAPS_MAKE (GST_VIDEO_FORMATS_ALL)));
static GstStaticPadTemplate text_template = GST_STATIC_PAD_TEMPLATE ("text_src",
    GST_PAD_SRC, GST_PAD_ALWAYS,
    GST_STATIC_CAPS ("text/x-raw, format = (string) utf8"));
static GstStaticPadTemplate unsynced_template =
GST_STATIC_PAD_TEMPLATE ("unsynced_src", GST_PAD_SRC, GST_PAD_REQUEST,
    GST_STATIC_CAPS ("application/x-json"));

/* ------------------------------------------------------------------ time */

/* Queues text GAPs from where the last one ended up to @t. */
static void
gap_to (GstOmniVl *self, GstClockTime t)
{
  if (!GST_CLOCK_TIME_IS_VALID (t))
    return;
  if (GST_CLOCK_TIME_IS_VALID (self->gap_pos) && t > self->gap_pos)
    gst_omni_base_queue_gap (GST_OMNI_BASE (self), self->gap_pos,
        t - self->gap_pos);
  if (!GST_CLOCK_TIME_IS_VALID (self->gap_pos) || t > self->gap_pos)
    self->gap_pos = t;
}

/* How long a look's text lasts. */
static GstClockTime
look_duration (GstOmniVl *self)
{
  if (self->run.interval)
    return self->run.interval;
  if (self->run.clip_frames)
    return (GstClockTime) (self->run.clip_duration * GST_SECOND);
  return DEFAULT_TEXT_DURATION;
}

/* The periodic look interval (a clip without one: back to back clips). */
static GstClockTime
look_interval (GstOmniVl *self)
{
  if (self->run.interval || !self->run.clip_frames)
    return self->run.interval;
  return (GstClockTime) (self->run.clip_duration * GST_SECOND);
}

/* ---------------------------------------------------------------- frames */

static void
sample_free (gpointer data)
{
  Sample *s = data;

  gst_buffer_unref (s->rgb);
  g_free (s);
}

static void
clear_samples (GstOmniVl *self)
{
  g_queue_clear_full (&self->samples, sample_free);
  self->next_sample = GST_CLOCK_TIME_NONE;
}

/* @buffer converted to packed RGB (rows padded to 4 bytes), or NULL. */
static GstBuffer *
to_rgb (GstOmniVl *self, GstBuffer *buffer)
{
  GstBuffer *out = gst_buffer_new_allocate (NULL,
      GST_VIDEO_INFO_SIZE (&self->rgb_info), NULL);
  GstVideoFrame in, rgb;

  if (!gst_video_frame_map (&in, &self->in_info, buffer, GST_MAP_READ)) {
    gst_buffer_unref (out);
    return NULL;
  }
  gst_video_frame_map (&rgb, &self->rgb_info, out, GST_MAP_WRITE);
  gst_video_converter_frame (self->conv, &in, &rgb);
  gst_video_frame_unmap (&rgb);
  gst_video_frame_unmap (&in);
  g_mutex_lock (&self->lock);
  self->n_samples++;
  g_mutex_unlock (&self->lock);
  return out;
}

/* Clip mode: keeps @buffer (as RGB) when a sample is due at its PTS. */
static gboolean
take_sample (GstOmniVl *self, GstBuffer *buffer, GstClockTime pts)
{
  GstClockTime step = (GstClockTime) (GST_SECOND / self->run.clip_fps);
  Sample *s;

  if (GST_CLOCK_TIME_IS_VALID (self->next_sample) && pts < self->next_sample)
    return TRUE;
  s = g_new0 (Sample, 1);
  s->pts = pts;
  s->rgb = to_rgb (self, buffer);
  if (!s->rgb) {
    g_free (s);
    return FALSE;
  }
  g_queue_push_tail (&self->samples, s);
  while (self->samples.length > self->run.clip_frames)
    sample_free (g_queue_pop_head (&self->samples));
  /* the next sample is due one step after this one was (not after pts):
   * sampling does not drift with the input frame rate */
  self->next_sample = GST_CLOCK_TIME_IS_VALID (self->next_sample)
      && self->next_sample + step > pts ? self->next_sample + step
      : pts + step;
  return TRUE;
}

/* Writes @img to GST_OMNIVL_DUMP_DIR (debug: the exact RGB the model gets,
 * rows packed without padding). */
static void
dump_image (GstOmniVl *self, guint64 seq, guint i, const OmniImage *img)
{
  gchar *name = g_strdup_printf ("look-%04" G_GUINT64_FORMAT "-%03u-%dx%d.rgb",
      seq, i, img->width, img->height);
  gchar *path = g_build_filename (self->dump_dir, name, NULL);
  GString *data = g_string_sized_new ((gsize) img->width * img->height * 3);

  for (gint y = 0; y < img->height; y++)
    g_string_append_len (data, (const gchar *) img->rgb + y * img->stride,
        img->width * 3);
  if (!g_file_set_contents (path, data->str, data->len, NULL))
    GST_WARNING_OBJECT (self, "cannot write %s", path);
  g_string_free (data, TRUE);
  g_free (path);
  g_free (name);
}

/* A vision request over @rgbs (one picture, or the frames of a clip). */
static OmniRequest *
make_request (GstOmniVl *self, GstBuffer **rgbs, guint n, guint64 seq,
    GError **error)
{
  OmniImage *images = g_new0 (OmniImage, n);
  GstMapInfo *maps = g_new0 (GstMapInfo, n);
  OmniVisionSpec spec = { 0 };
  OmniRequest *req;

  for (guint i = 0; i < n; i++) {
    gst_buffer_map (rgbs[i], &maps[i], GST_MAP_READ);
    images[i].rgb = maps[i].data;
    images[i].width = GST_VIDEO_INFO_WIDTH (&self->rgb_info);
    images[i].height = GST_VIDEO_INFO_HEIGHT (&self->rgb_info);
    images[i].stride = GST_VIDEO_INFO_PLANE_STRIDE (&self->rgb_info, 0);
    if (self->dump_dir)
      dump_image (self, seq, i, &images[i]);
  }
  spec.images = images;
  spec.n_images = (int) n;
  spec.clip_fps = self->run.clip_frames ? self->run.clip_fps : 0;
  spec.prompt = self->run.prompt;
  spec.min_visual_tokens = self->run.min_tokens;
  spec.max_visual_tokens = self->run.max_tokens;
  req = omni_request_new_vision (&spec, error);
  for (guint i = 0; i < n; i++)
    gst_buffer_unmap (rgbs[i], &maps[i]);
  g_free (maps);
  g_free (images);
  return req;
}

static void
look_free (gpointer data)
{
  g_free (data);
}

/* The RGB of the look at @buffer: the clip's samples, or @buffer converted
 * (the only conversion of a single-frame look). FALSE when the conversion
 * failed. */
static gboolean
look_pictures (GstOmniVl *self, GstBuffer *buffer, GPtrArray *rgbs,
    GstClockTime *first_pts)
{
  GstBuffer *rgb;

  if (self->run.clip_frames) {
    for (GList * l = self->samples.head; l; l = l->next)
      g_ptr_array_add (rgbs, gst_buffer_ref (((Sample *) l->data)->rgb));
    *first_pts = ((Sample *) self->samples.head->data)->pts;
    return TRUE;
  }
  rgb = to_rgb (self, buffer);
  if (!rgb)
    return FALSE;
  g_ptr_array_add (rgbs, rgb);
  return TRUE;
}

/* Sends the look at @buffer (PTS @pts, ending at @end). */
static void
send_look (GstOmniVl *self, GstBuffer *buffer, GstClockTime pts,
    GstClockTime end, Trigger trigger, gdouble diff)
{
  GstOmniBase *base = GST_OMNI_BASE (self);
  GPtrArray *rgbs = g_ptr_array_new_with_free_func ((GDestroyNotify)
      gst_buffer_unref);
  GstOmniBaseSegmentInfo info;
  Look *look = g_new0 (Look, 1);
  GError *error = NULL;
  OmniRequest *req = NULL;
  guint64 region = 0;

  look->pts = pts;
  look->frames_end = end;
  look->trigger = trigger;
  look->scene_difference = diff;
  if (look_pictures (self, buffer, rgbs, &look->pts))
    req = make_request (self, (GstBuffer **) rgbs->pdata, rgbs->len,
        self->seq, &error);
  else
    g_set_error (&error, OMNI_ERROR, OMNI_ERROR_FORMAT, "cannot convert the "
        "frame to RGB");
  look->n_frames = rgbs->len;
  look->duration = look_duration (self);
  look->running_time = gst_segment_to_running_time (&self->segment,
      GST_FORMAT_TIME, look->pts);
  g_ptr_array_unref (rgbs);

  info.seq = self->seq++;
  info.pts = look->pts;
  info.duration = look->duration;
  info.running_time = look->running_time;
  info.live = self->live;
  /* the look's text slot comes after the GAPs up to its start */
  gap_to (self, look->pts);
  if (self->run.attach_meta)
    region = look->region = gst_omni_passthrough_add_region (self->pass,
        look->pts, end);
  g_mutex_lock (&self->lock);
  look->generation = self->generation;
  self->pending++;
  self->n_looks++;
  g_mutex_unlock (&self->lock);
  GST_DEBUG_OBJECT (self, "look %" G_GUINT64_FORMAT " (%s) at %"
      GST_TIME_FORMAT ", %u frame(s)", info.seq, trigger_names[trigger],
      GST_TIME_ARGS (look->pts), look->n_frames);

  if (!req) {
    look_free (look);
  } else if (!gst_omni_base_submit (base, self->textpad, &info, req, NULL,
          NULL, NULL, NULL, look, look_free, &error)) {
    req = NULL;
  }
  if (!req) {
    GST_ELEMENT_WARNING (self, STREAM, FAILED, ("Cannot send look %"
            G_GUINT64_FORMAT " to the model: %s; going on with the next one",
            info.seq, error->message), (NULL));
    g_clear_error (&error);
    g_mutex_lock (&self->lock);
    self->pending--;
    g_mutex_unlock (&self->lock);
    if (region)
      gst_omni_passthrough_resolve (self->pass, region, NULL);
  }
}

/* Measures @buffer against the last looked-at frame into @thumb; returns
 * the difference (1 with no reference), -1 when not measuring. */
static gdouble
measure_scene (GstOmniVl *self, GstBuffer *buffer, GstOmniSceneThumb *thumb)
{
  GstVideoFrame frame;

  if (!self->run.scene_change)
    return -1.0;
  if (!gst_video_frame_map (&frame, &self->in_info, buffer, GST_MAP_READ))
    return -1.0;
  gst_omni_scene_thumb (&frame, thumb, &self->scene_scratch,
      &self->scene_scratch_size);
  gst_video_frame_unmap (&frame);
  return self->have_ref ? gst_omni_scene_difference (&self->ref_thumb, thumb)
      : 1.0;
}

/* Whether (and why) the frame at @pts is looked at. */
static Trigger
decide (GstOmniVl *self, GstClockTime pts, gdouble diff)
{
  GstClockTime interval = look_interval (self);

  if (self->run.clip_frames && self->samples.length < self->run.clip_frames)
    return TRIGGER_NONE;
  if (!GST_CLOCK_TIME_IS_VALID (self->last_look))
    return TRIGGER_FIRST;
  if (interval && pts >= self->last_look + interval)
    return TRIGGER_INTERVAL;
  if (diff > self->run.scene_threshold)
    return TRIGGER_SCENE;
  return TRIGGER_NONE;
}

/* Looks at the frame when it is time to; a full queue drops the look. */
static void
maybe_look (GstOmniVl *self, GstBuffer *buffer, GstClockTime pts,
    GstClockTime end)
{
  GstOmniSceneThumb thumb;
  gdouble diff = measure_scene (self, buffer, &thumb);
  Trigger trigger = decide (self, pts, diff);
  gboolean full;

  if (trigger == TRIGGER_NONE)
    return;
  g_mutex_lock (&self->lock);
  full = self->pending >= self->run.queue_depth;
  g_mutex_unlock (&self->lock);
  /* Files are never dropped: wait for the pending looks instead (a flush
   * ends the wait: the frame is flushed too). */
  if (full && !self->live) {
    if (!gst_omni_base_wait_results (GST_OMNI_BASE (self)))
      return;
    full = FALSE;
  }
  g_mutex_lock (&self->lock);
  if (full)
    self->n_dropped++;
  g_mutex_unlock (&self->lock);
  if (full)
    GST_DEBUG_OBJECT (self, "queue full: look at %" GST_TIME_FORMAT
        " dropped", GST_TIME_ARGS (pts));
  else
    send_look (self, buffer, pts, end, trigger, diff);
  /* dropped or not, the next look is measured from this one */
  self->last_look = pts;
  if (diff >= 0) {
    self->ref_thumb = thumb;
    self->have_ref = TRUE;
  }
}

/* Where the next look's pictures may start: no region starts before. */
static GstClockTime
watermark (GstOmniVl *self, GstClockTime end)
{
  if (self->run.clip_frames && self->samples.head)
    return ((Sample *) self->samples.head->data)->pts;
  return end;
}

static GstFlowReturn
gst_omni_vl_handle_buffer (GstOmniBase *base, GstBuffer *buffer,
    const GstOmniBaseSegmentInfo *info)
{
  GstOmniVl *self = GST_OMNI_VL (base);
  GstClockTime pts = GST_BUFFER_PTS (buffer), end, wm;
  GstFlowReturn ret;

  if (!self->have_info) {
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION, ("No caps before the first "
            "video frame"), (NULL));
    return GST_FLOW_NOT_NEGOTIATED;
  }
  self->live = info->live;
  g_mutex_lock (&self->lock);
  self->n_frames++;
  g_mutex_unlock (&self->lock);
  if (!GST_CLOCK_TIME_IS_VALID (pts))
    pts = GST_CLOCK_TIME_IS_VALID (self->last_end) ? self->last_end : 0;
  if (GST_BUFFER_DURATION_IS_VALID (buffer))
    end = pts + GST_BUFFER_DURATION (buffer);
  else if (GST_VIDEO_INFO_FPS_N (&self->in_info) > 0)
    end = pts + gst_util_uint64_scale (GST_SECOND,
        GST_VIDEO_INFO_FPS_D (&self->in_info),
        GST_VIDEO_INFO_FPS_N (&self->in_info));
  else
    end = pts;
  self->last_end = end;

  if (self->run.clip_frames && !take_sample (self, buffer, pts)) {
    GST_ELEMENT_ERROR (self, STREAM, FORMAT, ("Cannot read a video frame"),
        (NULL));
    return GST_FLOW_ERROR;
  }
  maybe_look (self, buffer, pts, end);

  ret = gst_omni_passthrough_push_buffer (self->pass, gst_buffer_ref (buffer),
      pts, end, gst_omni_base_hold_until (base, self->live));
  wm = watermark (self, end);
  gst_omni_passthrough_set_watermark (self->pass, wm);
  /* text time follows the watermark too: no look will start before it */
  if (!GST_CLOCK_TIME_IS_VALID (self->gap_pos) || wm >= self->gap_pos
      + GAP_STEP)
    gap_to (self, wm);
  return ret;
}

/* ------------------------------------------------------------ events */

static gboolean
set_caps (GstOmniVl *self, GstCaps *caps)
{
  GstVideoInfo info;

  if (!gst_video_info_from_caps (&info, caps)) {
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION, ("Invalid video caps %"
            GST_PTR_FORMAT, caps), (NULL));
    return FALSE;
  }
  if (self->have_info && gst_video_info_is_equal (&info, &self->in_info))
    return TRUE;
  /* A new format or size: the clip restarts, the next frame is a look. */
  g_clear_pointer (&self->conv, gst_video_converter_free);
  clear_samples (self);
  self->have_ref = FALSE;
  self->last_look = GST_CLOCK_TIME_NONE;
  gst_video_info_set_format (&self->rgb_info, GST_VIDEO_FORMAT_RGB,
      GST_VIDEO_INFO_WIDTH (&info), GST_VIDEO_INFO_HEIGHT (&info));
  /* the converter changes the format only (as videoconvert would) */
  GST_VIDEO_INFO_FPS_N (&self->rgb_info) = GST_VIDEO_INFO_FPS_N (&info);
  GST_VIDEO_INFO_FPS_D (&self->rgb_info) = GST_VIDEO_INFO_FPS_D (&info);
  GST_VIDEO_INFO_PAR_N (&self->rgb_info) = GST_VIDEO_INFO_PAR_N (&info);
  GST_VIDEO_INFO_PAR_D (&self->rgb_info) = GST_VIDEO_INFO_PAR_D (&info);
  GST_VIDEO_INFO_INTERLACE_MODE (&self->rgb_info) =
      GST_VIDEO_INFO_INTERLACE_MODE (&info);
  self->conv = gst_video_converter_new (&info, &self->rgb_info, NULL);
  if (!self->conv) {
    self->have_info = FALSE;
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION, ("Cannot convert %"
            GST_PTR_FORMAT " to RGB", caps), (NULL));
    return FALSE;
  }
  self->in_info = info;
  self->have_info = TRUE;
  GST_INFO_OBJECT (self, "input %" GST_PTR_FORMAT, caps);
  return TRUE;
}

static void
reset_stream (GstOmniVl *self)
{
  clear_samples (self);
  self->have_ref = FALSE;
  self->last_look = GST_CLOCK_TIME_NONE;
  self->gap_pos = GST_CLOCK_TIME_NONE;
  self->last_end = GST_CLOCK_TIME_NONE;
  g_mutex_lock (&self->lock);
  /* the cancelled looks' callbacks no longer count */
  self->generation++;
  self->pending = 0;
  g_mutex_unlock (&self->lock);
}

static gboolean
gst_omni_vl_sink_event (GstOmniBase *base, GstEvent *event)
{
  GstOmniVl *self = GST_OMNI_VL (base);
  GstClockTime ts, dur;
  GstCaps *caps;

  /* The base forwards the events to src and unsynced_src after this. */
  switch (GST_EVENT_TYPE (event)) {
    case GST_EVENT_FLUSH_STOP:
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
      gst_event_parse_gap (event, &ts, &dur);
      if (GST_CLOCK_TIME_IS_VALID (ts) && GST_CLOCK_TIME_IS_VALID (dur)) {
        gap_to (self, ts + dur);
        self->last_end = ts + dur;
      }
      break;
    case GST_EVENT_EOS:
      gst_omni_passthrough_set_watermark (self->pass, GST_CLOCK_TIME_NONE);
      gap_to (self, self->last_end);
      break;
    default:
      break;
  }
  return FALSE;
}

/* -------------------------------------------------------------- results */

/* Qwen3-Omni takes pictures, not clips: say which property to change. */
static void
check_clip_refused (GstOmniVl *self, const OmniResult *result)
{
  gboolean first;

  if (!self->run.clip_frames || !result->error
      || !g_error_matches (result->error, OMNI_ERROR, OMNI_ERROR_UNSUPPORTED))
    return;
  g_mutex_lock (&self->lock);
  first = !self->clip_refused;
  self->clip_refused = TRUE;
  g_mutex_unlock (&self->lock);
  if (first)
    GST_ELEMENT_WARNING (self, STREAM, FAILED, ("This model cannot take "
            "video clips (clip-duration=%g s): %s. Set clip-duration=0 to "
            "describe single frames", self->run.clip_duration,
            result->error->message), (NULL));
}

static void
gst_omni_vl_result_update (GstOmniBase *base, GstOmniBaseSrcPad *pad,
    const GstOmniBaseResultInfo *info, const OmniResult *result)
{
  GstOmniVl *self = GST_OMNI_VL (base);
  const Look *look = info->render_data;
  GstOmniPassthroughText text = { 0 };
  GstStructure *extra = gst_structure_new ("extra",
      "frames", G_TYPE_UINT, look->n_frames,
      "trigger", G_TYPE_STRING, trigger_names[look->trigger], NULL);

  gst_omni_base_push_result_json (base, info, result, look->pts,
      look->duration, extra);
  gst_structure_free (extra);
  if (result->status == OMNI_RESULT_PARTIAL)
    return;
  g_mutex_lock (&self->lock);
  if (look->generation == self->generation && self->pending > 0)
    self->pending--;
  g_mutex_unlock (&self->lock);
  check_clip_refused (self, result);
  if (!look->region)
    return;
  text.kind = self->run.prompt ? GST_OMNI_TEXT_KIND_ANSWER
      : GST_OMNI_TEXT_KIND_DESCRIPTION;
  text.pts = look->pts;
  text.running_time = look->running_time;
  text.duration = look->duration;
  gst_omni_base_resolve_region (base, self->pass, look->region, info, result,
      &text);
}

static void
gst_omni_vl_result_message (GstOmniBase *base, GstOmniBaseSrcPad *pad,
    const GstOmniBaseResultInfo *info, GstStructure *s)
{
  const Look *look = info->render_data;

  gst_structure_set (s,
      "frames", G_TYPE_UINT, look->n_frames,
      "frames-end", G_TYPE_UINT64, (guint64) look->frames_end,
      "trigger", G_TYPE_STRING, trigger_names[look->trigger],
      "scene-difference", G_TYPE_DOUBLE, look->scene_difference, NULL);
}

static void
gst_omni_vl_add_stats (GstOmniBase *base, GstStructure *stats)
{
  GstOmniVl *self = GST_OMNI_VL (base);

  g_mutex_lock (&self->lock);
  gst_structure_set (stats,
      "frames", G_TYPE_UINT64, self->n_frames,
      "looks", G_TYPE_UINT64, self->n_looks,
      "dropped", G_TYPE_UINT64, self->n_dropped,
      "converted", G_TYPE_UINT64, self->n_samples, NULL);
  g_mutex_unlock (&self->lock);
}

static GstCaps *
gst_omni_vl_src_caps (GstOmniBase *base, GstOmniBaseSrcPad *pad,
    GstCaps *sink_caps)
{
  return gst_static_pad_template_get_caps (&text_template);
}

/* --------------------------------------------------------------- state */

static gboolean
gst_omni_vl_start (GstOmniBase *base, GError **error)
{
  GstOmniVl *self = GST_OMNI_VL (base);
  Settings *r = &self->run;
  gdouble frames;

  GST_OBJECT_LOCK (self);
  r->interval = self->interval_ms * GST_MSECOND;
  r->scene_change = self->scene_change;
  r->scene_threshold = self->scene_threshold;
  r->clip_duration = self->clip_duration;
  r->clip_fps = self->clip_fps;
  r->prompt = self->prompt && *self->prompt ? g_strdup (self->prompt) : NULL;
  r->queue_depth = self->queue_depth;
  r->attach_meta = self->attach_meta;
  r->min_tokens = (gint) ((self->min_pixels + PIXELS_PER_TOKEN - 1)
      / PIXELS_PER_TOKEN);
  r->max_tokens = (gint) (self->max_pixels / PIXELS_PER_TOKEN);
  GST_OBJECT_UNLOCK (self);

  frames = r->clip_duration * r->clip_fps;
  r->clip_frames = r->clip_duration > 0 ? (guint) MAX (1.0, frames + 0.5) : 0;
  if (r->clip_frames > MAX_CLIP_FRAMES) {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_INVALID, "clip-duration %g s "
        "at clip-fps %g is %u frames, more than the %u a clip may have",
        r->clip_duration, r->clip_fps, r->clip_frames, MAX_CLIP_FRAMES);
    return FALSE;
  }
  if (self->max_pixels && (self->max_pixels < PIXELS_PER_TOKEN
          || self->min_pixels > self->max_pixels)) {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_INVALID, "min-pixels %u / "
        "max-pixels %u: max-pixels must be at least %u (one visual token) "
        "and not below min-pixels", self->min_pixels, self->max_pixels,
        PIXELS_PER_TOKEN);
    return FALSE;
  }
  gst_omni_base_set_text_kind (base, r->prompt ? GST_OMNI_TEXT_KIND_ANSWER
      : GST_OMNI_TEXT_KIND_DESCRIPTION);
  gst_omni_passthrough_set_hold (self->pass, r->attach_meta);
  self->dump_dir = g_strdup (g_getenv ("GST_OMNIVL_DUMP_DIR"));
  gst_segment_init (&self->segment, GST_FORMAT_TIME);
  self->seq = 0;
  self->live = FALSE;
  reset_stream (self);
  g_mutex_lock (&self->lock);
  self->n_frames = self->n_looks = self->n_dropped = self->n_samples = 0;
  self->clip_refused = FALSE;
  g_mutex_unlock (&self->lock);
  return TRUE;
}

static void
gst_omni_vl_stop (GstOmniBase *base)
{
  GstOmniVl *self = GST_OMNI_VL (base);

  clear_samples (self);
  g_clear_pointer (&self->conv, gst_video_converter_free);
  g_clear_pointer (&self->scene_scratch, g_free);
  self->scene_scratch_size = 0;
  g_clear_pointer (&self->run.prompt, g_free);
  g_clear_pointer (&self->dump_dir, g_free);
  self->have_info = FALSE;
}

/* ------------------------------------------------------------- GObject */

static void
gst_omni_vl_set_property (GObject *object, guint prop_id,
    const GValue *value, GParamSpec *pspec)
{
  GstOmniVl *self = GST_OMNI_VL (object);

  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_INTERVAL:
      self->interval_ms = g_value_get_uint (value);
      break;
    case PROP_SCENE_CHANGE:
      self->scene_change = g_value_get_boolean (value);
      break;
    case PROP_SCENE_THRESHOLD:
      self->scene_threshold = g_value_get_double (value);
      break;
    case PROP_CLIP_DURATION:
      self->clip_duration = g_value_get_double (value);
      break;
    case PROP_CLIP_FPS:
      self->clip_fps = g_value_get_double (value);
      break;
    case PROP_PROMPT:
      g_free (self->prompt);
      self->prompt = g_value_dup_string (value);
      break;
    case PROP_QUEUE_DEPTH:
      self->queue_depth = g_value_get_uint (value);
      break;
    case PROP_ATTACH_META:
      self->attach_meta = g_value_get_boolean (value);
      break;
    case PROP_MIN_PIXELS:
      self->min_pixels = g_value_get_uint (value);
      break;
    case PROP_MAX_PIXELS:
      self->max_pixels = g_value_get_uint (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

static void
gst_omni_vl_get_property (GObject *object, guint prop_id, GValue *value,
    GParamSpec *pspec)
{
  GstOmniVl *self = GST_OMNI_VL (object);

  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_INTERVAL:
      g_value_set_uint (value, self->interval_ms);
      break;
    case PROP_SCENE_CHANGE:
      g_value_set_boolean (value, self->scene_change);
      break;
    case PROP_SCENE_THRESHOLD:
      g_value_set_double (value, self->scene_threshold);
      break;
    case PROP_CLIP_DURATION:
      g_value_set_double (value, self->clip_duration);
      break;
    case PROP_CLIP_FPS:
      g_value_set_double (value, self->clip_fps);
      break;
    case PROP_PROMPT:
      g_value_set_string (value, self->prompt);
      break;
    case PROP_QUEUE_DEPTH:
      g_value_set_uint (value, self->queue_depth);
      break;
    case PROP_ATTACH_META:
      g_value_set_boolean (value, self->attach_meta);
      break;
    case PROP_MIN_PIXELS:
      g_value_set_uint (value, self->min_pixels);
      break;
    case PROP_MAX_PIXELS:
      g_value_set_uint (value, self->max_pixels);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

static void
gst_omni_vl_finalize (GObject *object)
{
  GstOmniVl *self = GST_OMNI_VL (object);

  g_free (self->prompt);
  g_free (self->run.prompt);
  g_free (self->dump_dir);
  g_free (self->scene_scratch);
  g_queue_clear_full (&self->samples, sample_free);
  if (self->conv)
    gst_video_converter_free (self->conv);
  g_mutex_clear (&self->lock);
  G_OBJECT_CLASS (gst_omni_vl_parent_class)->finalize (object);
}

static void
install_properties (GObjectClass *gobject_class)
{
  const GParamFlags rw = G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS
      | GST_PARAM_MUTABLE_READY;

  g_object_class_install_property (gobject_class, PROP_INTERVAL,
      g_param_spec_uint ("interval", "Interval",
          "Look at one frame (or clip) every this many ms of stream time; "
          "also the text duration. 0: no periodic looks (the first frame, "
          "scene changes; clips: back to back)", 0, G_MAXUINT / 2,
          DEFAULT_INTERVAL_MS, rw));
  g_object_class_install_property (gobject_class, PROP_SCENE_CHANGE,
      g_param_spec_boolean ("scene-change", "Scene change",
          "Also look when the picture differs from the last looked-at one "
          "by more than scene-threshold", DEFAULT_SCENE_CHANGE, rw));
  g_object_class_install_property (gobject_class, PROP_SCENE_THRESHOLD,
      g_param_spec_double ("scene-threshold", "Scene threshold",
          "Mean absolute luma difference (0..1, of a 32x18 thumbnail) above "
          "which the picture changed", 0.0, 1.0, DEFAULT_SCENE_THRESHOLD,
          rw));
  g_object_class_install_property (gobject_class, PROP_CLIP_DURATION,
      g_param_spec_double ("clip-duration", "Clip duration",
          "> 0: each look sends the last this many seconds as one video clip "
          "(frames sampled at clip-fps, Qwen3-VL only); 0: single frames",
          0.0, 600.0, DEFAULT_CLIP_DURATION, rw));
  g_object_class_install_property (gobject_class, PROP_CLIP_FPS,
      g_param_spec_double ("clip-fps", "Clip FPS",
          "Frames per second sampled for clips (Qwen3-VL's default: 2)",
          0.1, 60.0, DEFAULT_CLIP_FPS, rw));
  g_object_class_install_property (gobject_class, PROP_PROMPT,
      g_param_spec_string ("prompt", "Prompt",
          "The question about each look (results are answers); empty: a "
          "short description (\"Describe this image.\" / \"...video.\")",
          NULL, rw));
  g_object_class_install_property (gobject_class, PROP_QUEUE_DEPTH,
      g_param_spec_uint ("queue-depth", "Queue depth",
          "Looks pending at most; a look that finds the queue full is "
          "dropped and counted in stats (dropped)", 1, 64,
          DEFAULT_QUEUE_DEPTH, rw));
  g_object_class_install_property (gobject_class, PROP_ATTACH_META,
      g_param_spec_boolean ("attach-meta", "Attach meta",
          "Hold the video on src until the text of the frames looked at is "
          "known (live: at most latency) and attach it to them as "
          "GstOmniTextMeta; false: pass the video at once",
          DEFAULT_ATTACH_META, rw));
  g_object_class_install_property (gobject_class, PROP_MIN_PIXELS,
      g_param_spec_uint ("min-pixels", "Min pixels",
          "Smallest picture area the model sees (pixels, a visual token per "
          "1024); 0: the snapshot's preprocessor_config.json", 0, G_MAXINT,
          0, rw));
  g_object_class_install_property (gobject_class, PROP_MAX_PIXELS,
      g_param_spec_uint ("max-pixels", "Max pixels",
          "Largest picture area the model sees (pixels, a visual token per "
          "1024); 0: the snapshot's preprocessor_config.json", 0, G_MAXINT,
          0, rw));
}

static void
gst_omni_vl_class_init (GstOmniVlClass *klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);
  GstOmniBaseClass *base_class = GST_OMNI_BASE_CLASS (klass);

  GST_DEBUG_CATEGORY_INIT (gst_omni_vl_debug, "omnivl", 0,
      "omnivl: video descriptions and answers with Qwen models");

  gobject_class->set_property = gst_omni_vl_set_property;
  gobject_class->get_property = gst_omni_vl_get_property;
  gobject_class->finalize = gst_omni_vl_finalize;
  install_properties (gobject_class);

  gst_element_class_add_static_pad_template (element_class, &sink_template);
  gst_element_class_add_static_pad_template (element_class, &src_template);
  gst_element_class_add_static_pad_template_with_gtype (element_class,
      &text_template, GST_TYPE_OMNI_BASE_SRC_PAD);
  gst_element_class_add_static_pad_template (element_class,
      &unsynced_template);
  gst_element_class_set_static_metadata (element_class,
      "Qwen video describer", "Filter/Video/Text",
      "Descriptions of live video, frames or clips, and answers about them "
      "with Qwen3-VL and Qwen3-Omni: timed text on text_src, the video "
      "passed through on src carrying GstOmniTextMeta",
      "gst-omni developers <gst-omni@example.invalid>");

  base_class->text_kind = GST_OMNI_TEXT_KIND_DESCRIPTION;
  base_class->message_name = "omni-description";
  base_class->errors_are_warnings = TRUE;
  base_class->own_gaps = TRUE;
  base_class->start = gst_omni_vl_start;
  base_class->stop = gst_omni_vl_stop;
  base_class->src_caps = gst_omni_vl_src_caps;
  base_class->handle_buffer = gst_omni_vl_handle_buffer;
  base_class->sink_event = gst_omni_vl_sink_event;
  base_class->result_update = gst_omni_vl_result_update;
  base_class->result_message = gst_omni_vl_result_message;
  base_class->add_stats = gst_omni_vl_add_stats;
}

static void
gst_omni_vl_init (GstOmniVl *self)
{
  GstElementClass *klass = GST_ELEMENT_GET_CLASS (self);

  g_mutex_init (&self->lock);
  g_queue_init (&self->samples);
  self->interval_ms = DEFAULT_INTERVAL_MS;
  self->scene_change = DEFAULT_SCENE_CHANGE;
  self->scene_threshold = DEFAULT_SCENE_THRESHOLD;
  self->clip_duration = DEFAULT_CLIP_DURATION;
  self->clip_fps = DEFAULT_CLIP_FPS;
  self->queue_depth = DEFAULT_QUEUE_DEPTH;
  self->attach_meta = DEFAULT_ATTACH_META;
  gst_segment_init (&self->segment, GST_FORMAT_TIME);
  self->last_look = self->next_sample = GST_CLOCK_TIME_NONE;
  self->gap_pos = self->last_end = GST_CLOCK_TIME_NONE;

  self->pass = gst_omni_base_add_media_pad (GST_OMNI_BASE (self),
      gst_element_class_get_pad_template (klass, "src"), MAX_QUEUED_VIDEO);
  self->textpad = gst_omni_base_add_src_pad (GST_OMNI_BASE (self),
      GST_TYPE_OMNI_BASE_SRC_PAD, gst_element_class_get_pad_template (klass,
          "text_src"), "text_src");
}

gboolean
gst_omni_vl_register (GstPlugin *plugin)
{
  return gst_element_register (plugin, "omnivl", GST_RANK_NONE,
      GST_TYPE_OMNI_VL);
}
