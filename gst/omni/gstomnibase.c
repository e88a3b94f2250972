/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * GstOmniBase: engine, result queues, result pad tasks and live timing,
 * shared by the omni elements.
 *
 * Threads. The sink pad's streaming thread turns each input buffer into one
 * item per result pad (gst_omni_base_submit) and queues serialized events
 * between them, so every result pad sees the input's order. The engine's
 * scheduler thread only marks an item done and signals (on_result). Each
 * result pad has a GstTask that pops its queue head once it is done and
 * pushes it; in live mode it also wakes at the head's deadline to push a GAP
 * over the late segment (GAPs queued behind late results go out too, so
 * time keeps moving), and later pushes the late result re-stamped to the
 * current output position. One mutex and one condition guard all queues.
 */
#include "gstomnibase.h"

#include <json-glib/json-glib.h>
#include <string.h>

GST_DEBUG_CATEGORY_STATIC (gst_omni_base_debug);
#define GST_CAT_DEFAULT gst_omni_base_debug

/* Results queued per pad before a non-live streaming thread blocks. */
#define MAX_PENDING_RESULTS 8

#define DEFAULT_DEVICE "auto"
#define DEFAULT_LATENCY_MS 2000
#define DEFAULT_MAX_TOKENS 256
#define DEFAULT_TEMPERATURE 0.0
#define DEFAULT_QUANT OMNI_QUANT_NONE
#define DEFAULT_THREADS 0

enum {
  PROP_0,
  PROP_MODEL,
  PROP_DEVICE,
  PROP_LATENCY,
  PROP_MAX_TOKENS,
  PROP_TEMPERATURE,
  PROP_QUANT,
  PROP_THREADS,
  PROP_STATS,
};

typedef enum {
  ITEM_EVENT,
  ITEM_RESULT,
} ItemType;

/* One entry of a result pad's queue: a serialized event or a result. */
typedef struct {
  ItemType type;
  GstEvent *event;

  GstOmniBase *base;
  GstOmniBaseSrcPad *pad;
  OmniRequest *req;
  GstOmniBaseSegmentInfo info;
  gint64 arrival_us, deadline_us;
  gboolean submitting;   /* omni_engine_submit() has not returned yet */
  gboolean in_flight;    /* the final callback has not come yet */
  gboolean done, late;
  OmniResultStatus status;
  gchar *text;
  GError *error;
  gint64 submitted_us, done_us;
  gchar *source_text, *language, *source_language;
  gpointer render_data;
  GDestroyNotify destroy;
} Item;

typedef struct {
  GQueue queue;          /* of Item */
  gboolean flushing;     /* the task must pause */
  gboolean started;      /* stream-start pushed */
  GstSegment segment;    /* the output segment last pushed */
  GstClockTime position; /* end of the output pushed so far, stream time */
  GstClockTime last_pts;
  guint n_inflight;      /* items waiting for their final callback */
  guint n_results;       /* result items in the queue */
} GstOmniBaseSrcPadPrivate;

G_DEFINE_TYPE_WITH_PRIVATE (GstOmniBaseSrcPad, gst_omni_base_src_pad,
    GST_TYPE_PAD);

typedef struct {
  GstPad *sinkpad;
  GList *srcpads;        /* GstOmniBaseSrcPad, no refs (the element has them) */

  /* properties, under the object lock */
  gchar *model;
  gchar *device;
  OmniQuant quant;
  guint threads;
  guint latency_ms;
  gint max_tokens;
  gdouble temperature;

  OmniEngine *engine;

  /* queues and stream state, under lock */
  GMutex lock;
  GCond cond;
  gboolean flushing;
  gboolean live, live_known;
  GstSegment segment;
  gboolean have_segment;
  GstCaps *sink_caps;
  guint group_id;
  gboolean have_group_id;
  guint64 seq;
  GstClockTime last_end;  /* end of the last input, stream time */
  GstFlowReturn flow_error;

  /* stats, under lock */
  guint64 n_requests, n_results, n_late, n_cancelled, n_errors;
  GstClockTime max_delay;
  gint64 busy_us;
  GstClockTime media_time;

  /* the media pass-through pad (set once in instance init) */
  GstPad *media_pad;
  GstOmniPassthrough *media;
  GstOmniBaseSrcPad *eos_pad;   /* the first result pad: its EOS ends them */

  /* the unsynced_src request pad, under unsynced_lock */
  GMutex unsynced_lock;
  GstPad *unsynced_pad;
  GstOmniPassthrough *unsynced;
  gboolean unsynced_need_start, unsynced_need_segment;

  /* set by the subclass, under lock */
  gboolean partial_results;
  gboolean text_kind_set;
  GstOmniTextKind text_kind;
} GstOmniBasePrivate;

static void gst_omni_base_child_proxy_init (GstChildProxyInterface * iface);
static void gst_omni_base_constructed (GObject * object);
static void forward_eos (GstOmniBase * base, GstOmniBaseSrcPad * pad,
    GstEvent * event);

G_DEFINE_ABSTRACT_TYPE_WITH_CODE (GstOmniBase, gst_omni_base,
    GST_TYPE_ELEMENT,
    G_ADD_PRIVATE (GstOmniBase)
    G_IMPLEMENT_INTERFACE (GST_TYPE_CHILD_PROXY,
        gst_omni_base_child_proxy_init)
    GST_DEBUG_CATEGORY_INIT (gst_omni_base_debug, "omnibase", 0,
        "omni elements: engine, result queues and timing"));

#define PRIV(b) ((GstOmniBasePrivate *) gst_omni_base_get_instance_private (b))
#define PAD_PRIV(p) \
  ((GstOmniBaseSrcPadPrivate *) gst_omni_base_src_pad_get_instance_private (p))

/* ------------------------------------------------------------------ items */

static void
item_free (Item *item)
{
  if (item->event)
    gst_event_unref (item->event);
  if (item->req)
    omni_request_unref (item->req);
  g_free (item->text);
  g_clear_error (&item->error);
  g_free (item->source_text);
  g_free (item->language);
  g_free (item->source_language);
  if (item->destroy && item->render_data)
    item->destroy (item->render_data);
  g_free (item);
}

static Item *
item_new_event (GstEvent *event)
{
  Item *item = g_new0 (Item, 1);

  item->type = ITEM_EVENT;
  item->event = event;
  return item;
}

/* Queues a ref of @event on every result pad. Called with lock held. */
static void
queue_event_all (GstOmniBase *base, GstEvent *event)
{
  GstOmniBasePrivate *priv = PRIV (base);

  for (GList * l = priv->srcpads; l; l = l->next) {
    GstOmniBaseSrcPadPrivate *pp = PAD_PRIV (l->data);

    g_queue_push_tail (&pp->queue, item_new_event (gst_event_ref (event)));
  }
  g_cond_broadcast (&priv->cond);
}

/* The engine's scheduler thread: record the final status and wake up. */
static void
on_result (OmniRequest *req, const OmniResult *result, gpointer user_data)
{
  Item *item = user_data;
  GstOmniBaseClass *klass = GST_OMNI_BASE_GET_CLASS (item->base);
  GstOmniBasePrivate *priv = PRIV (item->base);
  GstOmniBaseSrcPadPrivate *pp = PAD_PRIV (item->pad);

  if (klass->result_update) {
    GstOmniBaseResultInfo info = { item->info.seq, item->source_text,
      item->language ? item->language : result->language,
      item->source_language, item->render_data
    };

    klass->result_update (item->base, item->pad, &info, result);
  }
  if (result->status == OMNI_RESULT_PARTIAL)
    return;
  g_mutex_lock (&priv->lock);
  if (item->in_flight) {
    /* A transcription's language is the one the model detected. */
    if (!item->language && result->language)
      item->language = g_strdup (result->language);
    item->status = result->status;
    item->text = g_strdup (result->text ? result->text : "");
    if (result->error)
      item->error = g_error_copy (result->error);
    item->submitted_us = result->submitted_us;
    item->done_us = result->done_us ? result->done_us : g_get_monotonic_time ();
    item->done = TRUE;
    item->in_flight = FALSE;
    pp->n_inflight--;
    g_cond_broadcast (&priv->cond);
  }
  g_mutex_unlock (&priv->lock);
}

/* Cancels every request of @pad still running. The requests are cancelled
 * outside the lock: the engine may call back synchronously. */
static void
cancel_pad (GstOmniBase *base, GstOmniBaseSrcPad *pad)
{
  GstOmniBasePrivate *priv = PRIV (base);
  GstOmniBaseSrcPadPrivate *pp = PAD_PRIV (pad);
  GPtrArray *reqs = g_ptr_array_new_with_free_func (
      (GDestroyNotify) omni_request_unref);

  g_mutex_lock (&priv->lock);
  for (GList * l = pp->queue.head; l; l = l->next) {
    Item *item = l->data;

    if (item->type == ITEM_RESULT && item->in_flight)
      g_ptr_array_add (reqs, omni_request_ref (item->req));
  }
  g_mutex_unlock (&priv->lock);
  for (guint i = 0; i < reqs->len; i++)
    omni_request_cancel (g_ptr_array_index (reqs, i));
  g_ptr_array_unref (reqs);
}

/* Waits for the final callback of every request of @pad, then frees its
 * queue and resets its output state. Its task must be stopped. */
static void
clear_pad (GstOmniBase *base, GstOmniBaseSrcPad *pad)
{
  GstOmniBasePrivate *priv = PRIV (base);
  GstOmniBaseSrcPadPrivate *pp = PAD_PRIV (pad);
  GQueue items = G_QUEUE_INIT;
  guint n_cancelled = 0;

  g_mutex_lock (&priv->lock);
  while (pp->n_inflight > 0)
    g_cond_wait (&priv->cond, &priv->lock);
  items = pp->queue;
  g_queue_init (&pp->queue);
  pp->n_results = 0;
  pp->position = GST_CLOCK_TIME_NONE;
  pp->last_pts = GST_CLOCK_TIME_NONE;
  for (GList * l = items.head; l; l = l->next) {
    Item *item = l->data;

    if (item->type == ITEM_RESULT)
      n_cancelled++;
  }
  priv->n_cancelled += n_cancelled;
  g_cond_broadcast (&priv->cond);
  g_mutex_unlock (&priv->lock);
  g_queue_clear_full (&items, (GDestroyNotify) item_free);
}

/* ------------------------------------------------------------------- time */

/* The running time of the pipeline clock now, or NONE without a clock. */
static GstClockTime
clock_running_time (GstOmniBase *base)
{
  GstClock *clock = gst_element_get_clock (GST_ELEMENT (base));
  GstClockTime now, base_time;

  if (!clock)
    return GST_CLOCK_TIME_NONE;
  now = gst_clock_get_time (clock);
  base_time = gst_element_get_base_time (GST_ELEMENT (base));
  gst_object_unref (clock);
  if (now < base_time)
    return 0;
  return now - base_time;
}

/* Monotonic time (us) by which the result of a segment at @running_time is
 * due: when its running time plus our latency is reached on the clock. */
static gint64
live_deadline (GstOmniBase *base, GstClockTime running_time, guint latency_ms)
{
  gint64 now_us = g_get_monotonic_time ();
  GstClockTime now_rt = clock_running_time (base);
  GstClockTimeDiff remaining;

  if (!GST_CLOCK_TIME_IS_VALID (now_rt)
      || !GST_CLOCK_TIME_IS_VALID (running_time))
    return now_us + (gint64) latency_ms * 1000;
  remaining = GST_CLOCK_DIFF (now_rt, running_time + latency_ms * GST_MSECOND);
  return now_us + MAX (remaining, 0) / 1000;
}

/* The stream time a result pushed now is rendered at downstream: the clock's
 * running time minus our latency. NONE without a clock. */
static GstClockTime
output_position (GstOmniBase *base, GstOmniBaseSrcPadPrivate *pp)
{
  GstClockTime rt = clock_running_time (base);
  GstClockTime latency;

  if (!GST_CLOCK_TIME_IS_VALID (rt) || pp->segment.format != GST_FORMAT_TIME)
    return GST_CLOCK_TIME_NONE;
  GST_OBJECT_LOCK (base);
  latency = PRIV (base)->latency_ms * GST_MSECOND;
  GST_OBJECT_UNLOCK (base);
  rt = rt > latency ? rt - latency : 0;
  return gst_segment_position_from_running_time (&pp->segment,
      GST_FORMAT_TIME, rt);
}

/* A GAP over the slot of a late @item not yet covered, or NULL. */
static GstEvent *
late_gap (GstOmniBaseSrcPadPrivate *pp, Item *item)
{
  GstClockTime start = pp->position, end;

  if (!GST_CLOCK_TIME_IS_VALID (item->info.pts))
    return NULL;
  end = item->info.pts;
  if (GST_CLOCK_TIME_IS_VALID (item->info.duration))
    end += item->info.duration;
  if (!GST_CLOCK_TIME_IS_VALID (start) || start < item->info.pts)
    start = item->info.pts;
  if (end <= start)
    return NULL;
  return gst_event_new_gap (start, end - start);
}

/* ----------------------------------------------------------- result pads */

static void
ensure_started (GstOmniBase *base, GstOmniBaseSrcPad *pad)
{
  GstOmniBasePrivate *priv = PRIV (base);
  GstOmniBaseSrcPadPrivate *pp = PAD_PRIV (pad);
  GstEvent *event;
  gchar *id;

  if (pp->started)
    return;
  pp->started = TRUE;
  id = gst_pad_create_stream_id (GST_PAD (pad), GST_ELEMENT (base),
      GST_PAD_NAME (pad));
  event = gst_event_new_stream_start (id);
  g_mutex_lock (&priv->lock);
  if (!priv->have_group_id) {
    priv->group_id = gst_util_group_id_next ();
    priv->have_group_id = TRUE;
  }
  gst_event_set_group_id (event, priv->group_id);
  g_mutex_unlock (&priv->lock);
  g_free (id);
  gst_pad_push_event (GST_PAD (pad), event);
}

static void
push_caps (GstOmniBase *base, GstOmniBaseSrcPad *pad, GstEvent *sink_event)
{
  GstOmniBaseClass *klass = GST_OMNI_BASE_GET_CLASS (base);
  GstCaps *sink_caps, *caps;
  GstTagList *tags = NULL;

  gst_event_parse_caps (sink_event, &sink_caps);
  caps = klass->src_caps ? klass->src_caps (base, pad, sink_caps)
      : gst_caps_ref (sink_caps);
  gst_pad_push_event (GST_PAD (pad), gst_event_new_caps (caps));
  gst_caps_unref (caps);
  if (klass->src_tags)
    tags = klass->src_tags (base, pad);
  if (tags) {
    gst_tag_list_set_scope (tags, GST_TAG_SCOPE_STREAM);
    gst_pad_push_event (GST_PAD (pad), gst_event_new_tag (tags));
  }
}

static GstFlowReturn
push_event_item (GstOmniBase *base, GstOmniBaseSrcPad *pad, Item *item)
{
  GstOmniBaseSrcPadPrivate *pp = PAD_PRIV (pad);
  GstEvent *event = item->event;
  GstClockTime ts, dur;

  switch (GST_EVENT_TYPE (event)) {
    case GST_EVENT_CAPS:
      push_caps (base, pad, event);
      return GST_FLOW_OK;
    case GST_EVENT_SEGMENT:
      gst_event_copy_segment (event, &pp->segment);
      pp->position = GST_CLOCK_TIME_NONE;
      pp->last_pts = GST_CLOCK_TIME_NONE;
      break;
    case GST_EVENT_GAP:
      /* A late result may already have covered part of it. */
      gst_event_parse_gap (event, &ts, &dur);
      if (GST_CLOCK_TIME_IS_VALID (pp->position) && GST_CLOCK_TIME_IS_VALID (ts)
          && ts < pp->position) {
        if (!GST_CLOCK_TIME_IS_VALID (dur) || ts + dur <= pp->position)
          return GST_FLOW_OK;
        dur -= pp->position - ts;
        ts = pp->position;
      }
      if (GST_CLOCK_TIME_IS_VALID (ts))
        pp->position = GST_CLOCK_TIME_IS_VALID (dur) ? ts + dur : ts;
      gst_pad_push_event (GST_PAD (pad), gst_event_new_gap (ts, dur));
      return GST_FLOW_OK;
    default:
      break;
  }
  gst_pad_push_event (GST_PAD (pad), gst_event_ref (event));
  if (GST_EVENT_TYPE (event) == GST_EVENT_EOS)
    forward_eos (base, pad, event);
  return GST_FLOW_OK;
}

/* The kind of @base's results. */
static GstOmniTextKind
text_kind (GstOmniBase *base)
{
  GstOmniBasePrivate *priv = PRIV (base);
  GstOmniTextKind kind;

  g_mutex_lock (&priv->lock);
  kind = priv->text_kind_set ? priv->text_kind
      : GST_OMNI_BASE_GET_CLASS (base)->text_kind;
  g_mutex_unlock (&priv->lock);
  return kind;
}

static void
post_result_message (GstOmniBase *base, GstOmniBaseSrcPad *pad, Item *item,
    const gchar *text, GstClockTime pts)
{
  GstOmniBaseClass *klass = GST_OMNI_BASE_GET_CLASS (base);
  GstOmniBaseResultInfo info = { item->info.seq, item->source_text,
    item->language, item->source_language, item->render_data
  };
  GstStructure *s = gst_structure_new (klass->message_name
      ? klass->message_name : "omni-result",
      "pad", G_TYPE_STRING, GST_PAD_NAME (pad),
      "seq", G_TYPE_UINT64, item->info.seq,
      "text", G_TYPE_STRING, text,
      "kind", G_TYPE_STRING, gst_omni_text_kind_to_string (text_kind (base)),
      "language", G_TYPE_STRING, item->language,
      "source-language", G_TYPE_STRING, item->source_language,
      "pts", G_TYPE_UINT64, pts,
      "duration", G_TYPE_UINT64, item->info.duration,
      "late", G_TYPE_BOOLEAN, item->late, NULL);

  if (klass->result_message)
    klass->result_message (base, pad, &info, s);
  gst_element_post_message (GST_ELEMENT (base),
      gst_message_new_element (GST_OBJECT (base), s));
}

static void
count_result (GstOmniBase *base, Item *item)
{
  GstOmniBasePrivate *priv = PRIV (base);
  GstClockTime delay = 0;

  g_mutex_lock (&priv->lock);
  priv->n_results++;
  if (item->late)
    priv->n_late++;
  if (item->req && item->done_us > item->arrival_us)
    delay = (item->done_us - item->arrival_us) * GST_USECOND;
  priv->max_delay = MAX (priv->max_delay, delay);
  if (item->req && item->done_us > item->submitted_us && item->submitted_us)
    priv->busy_us += item->done_us - item->submitted_us;
  if (GST_CLOCK_TIME_IS_VALID (item->info.duration))
    priv->media_time += item->info.duration;
  g_mutex_unlock (&priv->lock);
}

/* Pushes a GAP over the slot of @item not yet covered (a result that
 * failed or has no text). */
static void
push_slot_gap (GstOmniBaseSrcPad *pad, Item *item)
{
  GstOmniBaseSrcPadPrivate *pp = PAD_PRIV (pad);
  GstEvent *gap = late_gap (pp, item);
  GstClockTime ts, dur;

  if (!gap)
    return;
  gst_event_parse_gap (gap, &ts, &dur);
  pp->position = ts + dur;
  gst_pad_push_event (GST_PAD (pad), gap);
}

static GstFlowReturn
push_failed_item (GstOmniBase *base, GstOmniBaseSrcPad *pad, Item *item)
{
  const gchar *why = item->error ? item->error->message : "unknown error";

  g_mutex_lock (&PRIV (base)->lock);
  PRIV (base)->n_errors++;
  g_mutex_unlock (&PRIV (base)->lock);
  if (!GST_OMNI_BASE_GET_CLASS (base)->errors_are_warnings) {
    GST_ELEMENT_ERROR (base, STREAM, FAILED,
        ("Inference failed on segment %" G_GUINT64_FORMAT ": %s",
            item->info.seq, why), (NULL));
    return GST_FLOW_ERROR;
  }
  GST_ELEMENT_WARNING (base, STREAM, FAILED,
      ("Inference failed on segment %" G_GUINT64_FORMAT ": %s; going on "
          "with the next one", item->info.seq, why), (NULL));
  push_slot_gap (pad, item);
  return GST_FLOW_OK;
}

/* The time of @item's result pushed now: its own, or for a late one the
 * output position (never before what was pushed already). */
static GstClockTime
result_pts (GstOmniBase *base, GstOmniBaseSrcPadPrivate *pp, Item *item)
{
  GstClockTime pts = item->info.pts, pos;

  if (item->late) {
    /* Now, as downstream renders it, and after the GAP that covered it. */
    pos = output_position (base, pp);
    if (GST_CLOCK_TIME_IS_VALID (pp->position)
        && (!GST_CLOCK_TIME_IS_VALID (pos) || pp->position > pos))
      pos = pp->position;
    if (GST_CLOCK_TIME_IS_VALID (pos) && (!GST_CLOCK_TIME_IS_VALID (pts)
            || pos > pts))
      pts = pos;
  }
  /* Late re-stamping must not send time backwards. */
  if (GST_CLOCK_TIME_IS_VALID (pts) && GST_CLOCK_TIME_IS_VALID (pp->last_pts)
      && pts < pp->last_pts)
    pts = pp->last_pts;
  return pts;
}

/* Pushes @line as one buffer at @pts for @duration, with @item's meta. */
static GstFlowReturn
push_line (GstOmniBase *base, GstOmniBaseSrcPad *pad, Item *item,
    const gchar *line, GstClockTime pts, GstClockTime duration)
{
  GstOmniBaseSrcPadPrivate *pp = PAD_PRIV (pad);
  OmniEngine *engine = PRIV (base)->engine;
  GstBuffer *buf = gst_buffer_new_memdup (line, strlen (line));

  GST_BUFFER_PTS (buf) = pts;
  GST_BUFFER_DURATION (buf) = duration;
  gst_buffer_add_omni_text_meta (buf, text_kind (base), item->text,
      item->language, item->source_language, item->info.pts,
      item->info.running_time, item->info.duration, TRUE, item->info.seq,
      NULL, engine ? omni_engine_model_id (engine) : NULL);
  if (GST_CLOCK_TIME_IS_VALID (pts)) {
    GstClockTime end = pts + (GST_CLOCK_TIME_IS_VALID (duration)
        ? duration : 0);

    pp->last_pts = pts;
    if (!GST_CLOCK_TIME_IS_VALID (pp->position) || end > pp->position)
      pp->position = end;
  }
  return gst_pad_push (GST_PAD (pad), buf);
}

/* Pushes @lines one buffer each, the slot from @pts split by their length. */
static GstFlowReturn
push_lines (GstOmniBase *base, GstOmniBaseSrcPad *pad, Item *item,
    gchar **lines, GstClockTime pts)
{
  GstClockTime dur = item->info.duration;
  glong total = 0, before = 0;
  GstFlowReturn ret = GST_FLOW_OK;

  for (guint i = 0; lines[i]; i++)
    total += MAX (g_utf8_strlen (lines[i], -1), 1);
  for (guint i = 0; lines[i] && ret == GST_FLOW_OK; i++) {
    glong len = MAX (g_utf8_strlen (lines[i], -1), 1);
    GstClockTime lpts = pts, ldur = dur;

    if (GST_CLOCK_TIME_IS_VALID (dur)) {
      GstClockTime off = gst_util_uint64_scale (dur, before, total);

      ldur = gst_util_uint64_scale (dur, before + len, total) - off;
      if (GST_CLOCK_TIME_IS_VALID (pts))
        lpts = pts + off;
    }
    before += len;
    ret = push_line (base, pad, item, lines[i], lpts, ldur);
  }
  return ret;
}

static GstFlowReturn
push_result_item (GstOmniBase *base, GstOmniBaseSrcPad *pad, Item *item)
{
  GstOmniBaseClass *klass = GST_OMNI_BASE_GET_CLASS (base);
  GstOmniBaseSrcPadPrivate *pp = PAD_PRIV (pad);
  GstOmniBaseResultInfo info = { item->info.seq, item->source_text,
    item->language, item->source_language, item->render_data
  };
  GstClockTime pts;
  GstFlowReturn ret;
  gchar *out = NULL, **lines = NULL;

  if (item->status == OMNI_RESULT_CANCELLED)
    return GST_FLOW_OK;
  if (item->status == OMNI_RESULT_ERROR)
    return push_failed_item (base, pad, item);
  pts = result_pts (base, pp, item);
  if (klass->render)
    out = klass->render (base, pad, &info, item->text);
  if (!out)
    out = g_strdup (item->text);
  if (klass->split)
    lines = klass->split (base, pad, &info, out);

  count_result (base, item);
  post_result_message (base, pad, item, item->text, pts);
  GST_LOG_OBJECT (pad, "seq %" G_GUINT64_FORMAT " pts %" GST_TIME_FORMAT
      "%s: %s", item->info.seq, GST_TIME_ARGS (pts),
      item->late ? " (late)" : "", item->text);
  if (!lines) {
    ret = push_line (base, pad, item, out, pts, item->info.duration);
  } else if (!lines[0]) {
    push_slot_gap (pad, item);
    ret = GST_FLOW_OK;
  } else {
    ret = push_lines (base, pad, item, lines, pts);
  }
  g_strfreev (lines);
  g_free (out);
  return ret;
}

/* Live, the head result not done: marks the results whose deadline has
 * passed late (*@gap: the GAP over the first slot not yet covered) and
 * pops a GAP queued behind late results, so time keeps moving while they
 * are computed (they are pushed re-stamped later). Otherwise NULL, with
 * *@wake_us the next deadline (0: none). Called with lock held. */
static Item *
live_next (GstOmniBaseSrcPadPrivate *pp, GstEvent **gap, gint64 *wake_us)
{
  gint64 now = g_get_monotonic_time ();

  for (GList * l = pp->queue.head; l; l = l->next) {
    Item *item = l->data;

    if (item->type == ITEM_EVENT) {
      if (GST_EVENT_TYPE (item->event) != GST_EVENT_GAP)
        return NULL;
      g_queue_delete_link (&pp->queue, l);
      return item;
    }
    if ((item->done && !item->submitting) || !item->deadline_us)
      return NULL;
    if (item->late)
      continue;
    if (now < item->deadline_us) {
      *wake_us = item->deadline_us;
      return NULL;
    }
    item->late = TRUE;
    *gap = late_gap (pp, item);
    if (*gap)
      return NULL;
  }
  return NULL;
}

/* Pops the next thing @pad may push: a done head item, or a GAP for a
 * late head. NULL when the task must pause. Called with lock held. */
static Item *
next_item (GstOmniBase *base, GstOmniBaseSrcPad *pad, GstEvent **gap)
{
  GstOmniBaseClass *klass = GST_OMNI_BASE_GET_CLASS (base);
  GstOmniBasePrivate *priv = PRIV (base);
  GstOmniBaseSrcPadPrivate *pp = PAD_PRIV (pad);

  for (;;) {
    gint64 wake_us = 0;
    Item *head;

    if (pp->flushing)
      return NULL;
    head = g_queue_peek_head (&pp->queue);
    if (!head) {
      g_cond_wait (&priv->cond, &priv->lock);
      continue;
    }
    if (head->type == ITEM_EVENT || (head->done && !head->submitting)) {
      g_queue_pop_head (&pp->queue);
      if (head->type == ITEM_RESULT) {
        GstOmniBaseResultInfo info = { head->info.seq, head->source_text,
          head->language, head->source_language, head->render_data
        };

        pp->n_results--;
        if (head->status == OMNI_RESULT_DONE && klass->result_done)
          klass->result_done (base, pad, &info, head->text);
        g_cond_broadcast (&priv->cond);
      }
      return head;
    }
    if (priv->live) {
      Item *ready = live_next (pp, gap, &wake_us);

      if (ready || *gap)
        return ready;
      if (wake_us) {
        g_cond_wait_until (&priv->cond, &priv->lock, wake_us);
        continue;
      }
    }
    g_cond_wait (&priv->cond, &priv->lock);
  }
}

static void
src_loop (gpointer user_data)
{
  GstOmniBaseSrcPad *pad = user_data;
  GstOmniBase *base = GST_OMNI_BASE (GST_PAD_PARENT (pad));
  GstOmniBasePrivate *priv = PRIV (base);
  GstOmniBaseSrcPadPrivate *pp = PAD_PRIV (pad);
  GstEvent *gap = NULL;
  GstFlowReturn ret;
  Item *item;

  g_mutex_lock (&priv->lock);
  item = next_item (base, pad, &gap);
  g_mutex_unlock (&priv->lock);

  if (!item && !gap) {
    GST_DEBUG_OBJECT (pad, "flushing, pausing task");
    gst_pad_pause_task (GST_PAD (pad));
    return;
  }
  ensure_started (base, pad);
  if (gap) {
    GstClockTime ts, dur;

    gst_event_parse_gap (gap, &ts, &dur);
    pp->position = ts + dur;
    GST_DEBUG_OBJECT (pad, "late result, gap %" GST_TIME_FORMAT " + %"
        GST_TIME_FORMAT, GST_TIME_ARGS (ts), GST_TIME_ARGS (dur));
    gst_pad_push_event (GST_PAD (pad), gap);
    return;
  }
  if (item->type == ITEM_EVENT)
    ret = push_event_item (base, pad, item);
  else
    ret = push_result_item (base, pad, item);
  item_free (item);

  if (ret == GST_FLOW_OK || ret == GST_FLOW_NOT_LINKED || ret == GST_FLOW_EOS)
    return;
  if (ret != GST_FLOW_FLUSHING) {
    if (ret != GST_FLOW_ERROR)
      GST_ELEMENT_FLOW_ERROR (base, ret);
    g_mutex_lock (&priv->lock);
    priv->flow_error = ret;
    g_cond_broadcast (&priv->cond);
    g_mutex_unlock (&priv->lock);
  }
  GST_DEBUG_OBJECT (pad, "pausing task: %s", gst_flow_get_name (ret));
  gst_pad_pause_task (GST_PAD (pad));
}

static void
start_pad_task (GstOmniBase *base, GstOmniBaseSrcPad *pad)
{
  GstOmniBasePrivate *priv = PRIV (base);

  g_mutex_lock (&priv->lock);
  PAD_PRIV (pad)->flushing = FALSE;
  g_mutex_unlock (&priv->lock);
  gst_pad_start_task (GST_PAD (pad), src_loop, pad, NULL);
}

/* Wakes the task of @pad, cancels its requests and stops the task. */
static void
stop_pad_task (GstOmniBase *base, GstOmniBaseSrcPad *pad, gboolean stop)
{
  GstOmniBasePrivate *priv = PRIV (base);

  g_mutex_lock (&priv->lock);
  PAD_PRIV (pad)->flushing = TRUE;
  g_cond_broadcast (&priv->cond);
  g_mutex_unlock (&priv->lock);
  cancel_pad (base, pad);
  if (stop)
    gst_pad_stop_task (GST_PAD (pad));
  else
    gst_pad_pause_task (GST_PAD (pad));
}

static gboolean
src_activate_mode (GstPad *pad, GstObject *parent, GstPadMode mode,
    gboolean active)
{
  GstOmniBase *base = GST_OMNI_BASE (parent);

  if (mode != GST_PAD_MODE_PUSH)
    return FALSE;
  if (active)
    start_pad_task (base, GST_OMNI_BASE_SRC_PAD (pad));
  else
    stop_pad_task (base, GST_OMNI_BASE_SRC_PAD (pad), TRUE);
  return TRUE;
}

/* @caps (taken) intersected with @filter (may be NULL), @filter's order
 * first. */
static GstCaps *
filter_caps (GstCaps *caps, GstCaps *filter)
{
  GstCaps *res = filter ? gst_caps_intersect_full (filter, caps,
      GST_CAPS_INTERSECT_FIRST) : gst_caps_ref (caps);

  gst_caps_unref (caps);
  return res;
}

/* Answers a LATENCY query on @pad from upstream's answer, adding the
 * latency property when upstream is live and @adds. */
static gboolean
answer_latency (GstOmniBase *base, GstPad *pad, GstQuery *query,
    gboolean adds)
{
  GstOmniBasePrivate *priv = PRIV (base);
  gboolean live;
  GstClockTime min, max, ours;

  if (!gst_pad_peer_query (priv->sinkpad, query))
    return FALSE;
  gst_query_parse_latency (query, &live, &min, &max);
  GST_OBJECT_LOCK (base);
  ours = priv->latency_ms * GST_MSECOND;
  GST_OBJECT_UNLOCK (base);
  if (live && adds) {
    min += ours;
    if (GST_CLOCK_TIME_IS_VALID (max))
      max += ours;
  }
  GST_DEBUG_OBJECT (pad, "latency: live %d min %" GST_TIME_FORMAT, live,
      GST_TIME_ARGS (min));
  gst_query_set_latency (query, live, min, max);
  return TRUE;
}

static gboolean
src_query (GstPad *pad, GstObject *parent, GstQuery *query)
{
  GstOmniBase *base = GST_OMNI_BASE (parent);
  GstOmniBasePrivate *priv = PRIV (base);

  switch (GST_QUERY_TYPE (query)) {
    case GST_QUERY_LATENCY:
      return answer_latency (base, pad, query, TRUE);
    case GST_QUERY_CAPS:{
      GstOmniBaseClass *klass = GST_OMNI_BASE_GET_CLASS (base);
      GstCaps *filter, *caps = NULL, *res;

      gst_query_parse_caps (query, &filter);
      g_mutex_lock (&priv->lock);
      if (priv->sink_caps && klass->src_caps) {
        GstCaps *sink_caps = gst_caps_ref (priv->sink_caps);

        g_mutex_unlock (&priv->lock);
        caps = klass->src_caps (base, GST_OMNI_BASE_SRC_PAD (pad), sink_caps);
        gst_caps_unref (sink_caps);
      } else {
        g_mutex_unlock (&priv->lock);
        caps = gst_pad_get_pad_template_caps (pad);
      }
      res = filter_caps (caps, filter);
      gst_query_set_caps_result (query, res);
      gst_caps_unref (res);
      return TRUE;
    }
    default:
      return gst_pad_query_default (pad, parent, query);
  }
}

/* Upstream events (seek, QoS, reconfigure...) go to our input. */
static gboolean
src_event (GstPad *pad, GstObject *parent, GstEvent *event)
{
  return gst_pad_push_event (PRIV (GST_OMNI_BASE (parent))->sinkpad, event);
}

GstOmniBaseSrcPad *
gst_omni_base_add_src_pad (GstOmniBase *base, GType pad_type,
    GstPadTemplate *templ, const gchar *name)
{
  GstOmniBasePrivate *priv = PRIV (base);
  GstOmniBaseSrcPad *pad;
  GstOmniBaseSrcPadPrivate *pp;

  g_return_val_if_fail (g_type_is_a (pad_type, GST_TYPE_OMNI_BASE_SRC_PAD),
      NULL);
  pad = g_object_new (pad_type, "name", name, "direction", GST_PAD_SRC,
      "template", templ, NULL);
  pp = PAD_PRIV (pad);
  gst_pad_set_activatemode_function (GST_PAD (pad), src_activate_mode);
  gst_pad_set_query_function (GST_PAD (pad), src_query);
  gst_pad_set_event_function (GST_PAD (pad), src_event);
  gst_pad_use_fixed_caps (GST_PAD (pad));

  g_mutex_lock (&priv->lock);
  pp->flushing = TRUE;
  /* A pad requested mid-stream starts with the stream's caps and segment. */
  if (priv->sink_caps)
    g_queue_push_tail (&pp->queue,
        item_new_event (gst_event_new_caps (priv->sink_caps)));
  if (priv->have_segment)
    g_queue_push_tail (&pp->queue,
        item_new_event (gst_event_new_segment (&priv->segment)));
  priv->srcpads = g_list_append (priv->srcpads, pad);
  if (!priv->eos_pad)
    priv->eos_pad = pad;
  g_mutex_unlock (&priv->lock);

  gst_element_add_pad (GST_ELEMENT (base), GST_PAD (pad));
  gst_child_proxy_child_added (GST_CHILD_PROXY (base), G_OBJECT (pad),
      GST_PAD_NAME (pad));
  return pad;
}

void
gst_omni_base_remove_src_pad (GstOmniBase *base, GstOmniBaseSrcPad *pad)
{
  GstOmniBasePrivate *priv = PRIV (base);
  gchar *name = gst_pad_get_name (pad);

  gst_object_ref (pad);
  stop_pad_task (base, pad, TRUE);
  clear_pad (base, pad);
  g_mutex_lock (&priv->lock);
  priv->srcpads = g_list_remove (priv->srcpads, pad);
  if (priv->eos_pad == pad)
    priv->eos_pad = priv->srcpads ? priv->srcpads->data : NULL;
  g_cond_broadcast (&priv->cond);
  g_mutex_unlock (&priv->lock);
  gst_pad_set_active (GST_PAD (pad), FALSE);
  gst_element_remove_pad (GST_ELEMENT (base), GST_PAD (pad));
  gst_child_proxy_child_removed (GST_CHILD_PROXY (base), G_OBJECT (pad), name);
  g_free (name);
  gst_object_unref (pad);
}

static gpointer
ref_pad (gconstpointer pad, gpointer user_data)
{
  return gst_object_ref ((gpointer) pad);
}

GList *
gst_omni_base_get_src_pads (GstOmniBase *base)
{
  GstOmniBasePrivate *priv = PRIV (base);
  GList *pads;

  g_mutex_lock (&priv->lock);
  pads = g_list_copy_deep (priv->srcpads, ref_pad, NULL);
  g_mutex_unlock (&priv->lock);
  return pads;
}

OmniEngine *
gst_omni_base_get_engine (GstOmniBase *base)
{
  return PRIV (base)->engine;
}

/* --------------------------------------------------------------- requests */

gboolean
gst_omni_base_submit (GstOmniBase *base, GstOmniBaseSrcPad *pad,
    const GstOmniBaseSegmentInfo *info, OmniRequest *req, const gchar *text,
    const gchar *source_text, const gchar *language,
    const gchar *source_language, gpointer render_data,
    GDestroyNotify destroy, GError **error)
{
  GstOmniBasePrivate *priv = PRIV (base);
  GstOmniBaseSrcPadPrivate *pp = PAD_PRIV (pad);
  Item *item = g_new0 (Item, 1);
  guint latency_ms;
  gboolean ok, partial;

  item->type = ITEM_RESULT;
  item->base = base;
  item->pad = pad;
  item->req = req;
  item->info = *info;
  item->arrival_us = g_get_monotonic_time ();
  item->source_text = g_strdup (source_text);
  item->language = g_strdup (language);
  item->source_language = g_strdup (source_language);
  item->render_data = render_data;
  item->destroy = destroy;

  GST_OBJECT_LOCK (base);
  latency_ms = priv->latency_ms;
  if (req) {
    omni_request_set_max_tokens (req, priv->max_tokens);
    omni_request_set_temperature (req, priv->temperature);
  }
  GST_OBJECT_UNLOCK (base);
  if (req) {
    omni_request_set_priority (req, info->live ? OMNI_PRIORITY_LIVE
        : OMNI_PRIORITY_BATCH);
    if (info->live) {
      item->deadline_us = live_deadline (base, info->running_time, latency_ms);
      omni_request_set_deadline (req, item->deadline_us);
    }
    g_mutex_lock (&priv->lock);
    partial = priv->partial_results;
    g_mutex_unlock (&priv->lock);
    omni_request_set_callback (req, on_result, item, partial);
  }

  g_mutex_lock (&priv->lock);
  if (priv->flushing || pp->flushing || !g_list_find (priv->srcpads, pad)) {
    g_mutex_unlock (&priv->lock);
    item_free (item);
    return TRUE;
  }
  if (req) {
    item->in_flight = TRUE;
    item->submitting = TRUE;
    pp->n_inflight++;
    priv->n_requests++;
  } else {
    item->done = TRUE;
    item->status = OMNI_RESULT_DONE;
    item->text = g_strdup (text ? text : "");
    item->done_us = item->arrival_us;
  }
  g_queue_push_tail (&pp->queue, item);
  pp->n_results++;
  g_mutex_unlock (&priv->lock);
  if (!req)
    goto queued;

  ok = omni_engine_submit (priv->engine, req, error);
  g_mutex_lock (&priv->lock);
  item->submitting = FALSE;
  if (!ok && item->in_flight) {
    /* Refused: the error is reported by the caller, the slot stays silent. */
    item->in_flight = FALSE;
    item->done = TRUE;
    item->status = OMNI_RESULT_CANCELLED;
    pp->n_inflight--;
  }
  g_cond_broadcast (&priv->cond);
  g_mutex_unlock (&priv->lock);
  return ok;

queued:
  g_mutex_lock (&priv->lock);
  g_cond_broadcast (&priv->cond);
  g_mutex_unlock (&priv->lock);
  return TRUE;
}

void
gst_omni_base_queue_gap (GstOmniBase *base, GstClockTime timestamp,
    GstClockTime duration)
{
  GstOmniBasePrivate *priv = PRIV (base);
  GstEvent *gap = gst_event_new_gap (timestamp, duration);

  g_mutex_lock (&priv->lock);
  queue_event_all (base, gap);
  g_mutex_unlock (&priv->lock);
  gst_event_unref (gap);
}

void
gst_omni_base_set_partial_results (GstOmniBase *base, gboolean partial)
{
  GstOmniBasePrivate *priv = PRIV (base);

  g_mutex_lock (&priv->lock);
  priv->partial_results = partial;
  g_mutex_unlock (&priv->lock);
}

void
gst_omni_base_set_text_kind (GstOmniBase *base, GstOmniTextKind kind)
{
  GstOmniBasePrivate *priv = PRIV (base);

  g_mutex_lock (&priv->lock);
  priv->text_kind = kind;
  priv->text_kind_set = TRUE;
  g_mutex_unlock (&priv->lock);
}

static gboolean
results_pending (GstOmniBasePrivate *priv, guint limit)
{
  for (GList * l = priv->srcpads; l; l = l->next)
    if (PAD_PRIV (l->data)->n_results > limit)
      return TRUE;
  return FALSE;
}

gboolean
gst_omni_base_wait_results (GstOmniBase *base)
{
  GstOmniBasePrivate *priv = PRIV (base);
  gboolean ok;

  g_mutex_lock (&priv->lock);
  while (!priv->flushing && priv->flow_error == GST_FLOW_OK
      && results_pending (priv, 0))
    g_cond_wait (&priv->cond, &priv->lock);
  ok = !priv->flushing;
  g_mutex_unlock (&priv->lock);
  return ok;
}

/* --------------------------------------------- media and unsynced pads */

/* EOS leaves the media pad and unsynced_src after the first result pad's:
 * after its last result was pushed and posted, so an application reading
 * the bus sees every result before the pipeline's EOS. */
static void
forward_eos (GstOmniBase *base, GstOmniBaseSrcPad *pad, GstEvent *event)
{
  GstOmniBasePrivate *priv = PRIV (base);
  gboolean first;

  g_mutex_lock (&priv->lock);
  first = pad == priv->eos_pad;
  g_mutex_unlock (&priv->lock);
  if (!first)
    return;
  if (priv->media)
    gst_omni_passthrough_push_event (priv->media, gst_event_ref (event));
  g_mutex_lock (&priv->unsynced_lock);
  if (priv->unsynced)
    gst_omni_passthrough_push_event (priv->unsynced, gst_event_ref (event));
  g_mutex_unlock (&priv->unsynced_lock);
}

/* An input event for the media pad and unsynced_src: flushes to both, the
 * other serialized ones but EOS (forward_eos) to the media pad. */
static void
forward_media_event (GstOmniBase *base, GstEvent *event)
{
  GstOmniBasePrivate *priv = PRIV (base);
  GstEventType type = GST_EVENT_TYPE (event);
  gboolean flush = type == GST_EVENT_FLUSH_START
      || type == GST_EVENT_FLUSH_STOP;

  if (priv->media && (flush || (GST_EVENT_IS_SERIALIZED (event)
              && type != GST_EVENT_EOS)))
    gst_omni_passthrough_push_event (priv->media, gst_event_ref (event));
  if (!flush)
    return;
  g_mutex_lock (&priv->unsynced_lock);
  if (priv->unsynced) {
    if (type == GST_EVENT_FLUSH_STOP)
      priv->unsynced_need_segment = TRUE;
    gst_omni_passthrough_push_event (priv->unsynced, gst_event_ref (event));
  }
  g_mutex_unlock (&priv->unsynced_lock);
}

/* @filter intersected with what @pad's peer takes of @templ. */
static GstCaps *
peer_caps (GstPad *pad, GstCaps *templ, GstCaps *filter)
{
  return filter_caps (gst_pad_peer_query_caps (pad, templ), filter);
}

static gboolean
media_src_query (GstPad *pad, GstObject *parent, GstQuery *query)
{
  GstOmniBase *base = GST_OMNI_BASE (parent);
  GstOmniBasePrivate *priv = PRIV (base);

  switch (GST_QUERY_TYPE (query)) {
    case GST_QUERY_LATENCY:
      /* Held back by at most latency, live and holding only. */
      return answer_latency (base, pad, query,
          gst_omni_passthrough_get_hold (priv->media));
    case GST_QUERY_CAPS:{
      GstCaps *filter, *templ, *res;

      gst_query_parse_caps (query, &filter);
      templ = gst_pad_get_pad_template_caps (pad);
      res = peer_caps (priv->sinkpad, templ, filter);
      gst_query_set_caps_result (query, res);
      gst_caps_unref (res);
      gst_caps_unref (templ);
      return TRUE;
    }
    default:
      return gst_pad_query_default (pad, parent, query);
  }
}

/* The media caps are what the media pad's peer takes; allocation is its
 * peer's. TRUE when answered. */
static gboolean
media_sink_query (GstOmniBase *base, GstPad *sinkpad, GstQuery *query)
{
  GstOmniBasePrivate *priv = PRIV (base);

  if (!priv->media_pad)
    return FALSE;
  switch (GST_QUERY_TYPE (query)) {
    case GST_QUERY_CAPS:{
      GstCaps *filter, *templ, *res;

      gst_query_parse_caps (query, &filter);
      templ = gst_pad_get_pad_template_caps (sinkpad);
      res = peer_caps (priv->media_pad, templ, filter);
      gst_query_set_caps_result (query, res);
      gst_caps_unref (res);
      gst_caps_unref (templ);
      return TRUE;
    }
    case GST_QUERY_ALLOCATION:
      gst_pad_peer_query (priv->media_pad, query);
      return TRUE;
    default:
      return FALSE;
  }
}

GstOmniPassthrough *
gst_omni_base_add_media_pad (GstOmniBase *base, GstPadTemplate *templ,
    GstClockTime max_queued)
{
  GstOmniBasePrivate *priv = PRIV (base);

  g_return_val_if_fail (priv->media_pad == NULL, NULL);
  priv->media_pad = gst_pad_new_from_template (templ, "src");
  gst_pad_set_query_function (priv->media_pad, media_src_query);
  gst_pad_set_event_function (priv->media_pad, src_event);
  priv->media = gst_omni_passthrough_new (priv->media_pad, max_queued);
  gst_element_add_pad (GST_ELEMENT (base), priv->media_pad);
  return priv->media;
}

void
gst_omni_base_push_unsynced (GstOmniBase *base, gchar *json)
{
  GstOmniBasePrivate *priv = PRIV (base);
  GstPadTemplate *templ;
  gchar *line;

  g_mutex_lock (&priv->unsynced_lock);
  if (!priv->unsynced) {
    g_mutex_unlock (&priv->unsynced_lock);
    g_free (json);
    return;
  }
  if (priv->unsynced_need_start) {
    gchar *id = gst_pad_create_stream_id (priv->unsynced_pad,
        GST_ELEMENT (base), "unsynced");

    templ = GST_PAD_PAD_TEMPLATE (priv->unsynced_pad);
    gst_omni_passthrough_push_event (priv->unsynced,
        gst_event_new_stream_start (id));
    gst_omni_passthrough_push_event (priv->unsynced,
        gst_event_new_caps (gst_pad_template_get_caps (templ)));
    g_free (id);
    priv->unsynced_need_start = FALSE;
    priv->unsynced_need_segment = TRUE;
  }
  if (priv->unsynced_need_segment) {
    GstSegment seg;

    gst_segment_init (&seg, GST_FORMAT_TIME);
    gst_omni_passthrough_push_event (priv->unsynced,
        gst_event_new_segment (&seg));
    priv->unsynced_need_segment = FALSE;
  }
  /* one object a line: the pad is a JSON-lines stream */
  line = g_strconcat (json, "\n", NULL);
  g_free (json);
  gst_omni_passthrough_push_buffer (priv->unsynced,
      gst_buffer_new_wrapped (line, strlen (line)), GST_CLOCK_TIME_NONE,
      GST_CLOCK_TIME_NONE, 0);
  g_mutex_unlock (&priv->unsynced_lock);
}

static void
json_add_field (JsonBuilder *b, const gchar *name, const GValue *v)
{
  json_builder_set_member_name (b, name);
  switch (G_VALUE_TYPE (v)) {
    case G_TYPE_UINT64:
      json_builder_add_int_value (b, (gint64) g_value_get_uint64 (v));
      break;
    case G_TYPE_INT64:
      json_builder_add_int_value (b, g_value_get_int64 (v));
      break;
    case G_TYPE_UINT:
      json_builder_add_int_value (b, g_value_get_uint (v));
      break;
    case G_TYPE_INT:
      json_builder_add_int_value (b, g_value_get_int (v));
      break;
    case G_TYPE_BOOLEAN:
      json_builder_add_boolean_value (b, g_value_get_boolean (v));
      break;
    case G_TYPE_DOUBLE:
      json_builder_add_double_value (b, g_value_get_double (v));
      break;
    case G_TYPE_STRING:
      if (g_value_get_string (v))
        json_builder_add_string_value (b, g_value_get_string (v));
      else
        json_builder_add_null_value (b);
      break;
    default:
      json_builder_add_null_value (b);
      break;
  }
}

static gboolean
json_add_extra (GQuark field, const GValue *value, gpointer user_data)
{
  json_add_field (user_data, g_quark_to_string (field), value);
  return TRUE;
}

gchar *
gst_omni_base_result_json (GstOmniBase *base,
    const GstOmniBaseResultInfo *info, const OmniResult *result,
    GstClockTime pts, GstClockTime duration, const GstStructure *extra)
{
  JsonBuilder *b = json_builder_new ();
  JsonGenerator *gen = json_generator_new ();
  JsonNode *root;
  gchar *out;

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "seq");
  json_builder_add_int_value (b, (gint64) info->seq);
  json_builder_set_member_name (b, "kind");
  json_builder_add_string_value (b,
      gst_omni_text_kind_to_string (text_kind (base)));
  json_builder_set_member_name (b, "partial");
  json_builder_add_boolean_value (b, result->status == OMNI_RESULT_PARTIAL);
  json_builder_set_member_name (b, "text");
  json_builder_add_string_value (b, result->text ? result->text : "");
  json_builder_set_member_name (b, "language");
  if (info->language)
    json_builder_add_string_value (b, info->language);
  else
    json_builder_add_null_value (b);
  json_builder_set_member_name (b, "pts");
  json_builder_add_int_value (b, (gint64) pts);
  json_builder_set_member_name (b, "duration");
  json_builder_add_int_value (b, (gint64) duration);
  if (extra)
    gst_structure_foreach (extra, json_add_extra, b);
  json_builder_end_object (b);
  root = json_builder_get_root (b);
  json_generator_set_root (gen, root);
  out = json_generator_to_data (gen, NULL);
  json_node_unref (root);
  g_object_unref (gen);
  g_object_unref (b);
  return out;
}

static GstPad *
request_new_pad (GstElement *element, GstPadTemplate *templ,
    const gchar *name, const GstCaps *caps)
{
  GstOmniBasePrivate *priv = PRIV (GST_OMNI_BASE (element));
  GstPad *pad;

  if (g_strcmp0 (GST_PAD_TEMPLATE_NAME_TEMPLATE (templ), "unsynced_src"))
    return NULL;
  g_mutex_lock (&priv->unsynced_lock);
  if (priv->unsynced_pad) {
    g_mutex_unlock (&priv->unsynced_lock);
    GST_WARNING_OBJECT (element, "unsynced_src already exists");
    return NULL;
  }
  pad = gst_pad_new_from_template (templ, "unsynced_src");
  gst_pad_use_fixed_caps (pad);
  priv->unsynced_pad = pad;
  priv->unsynced = gst_omni_passthrough_new (pad, 0);
  gst_omni_passthrough_set_hold (priv->unsynced, FALSE);
  priv->unsynced_need_start = TRUE;
  g_mutex_unlock (&priv->unsynced_lock);
  if (GST_STATE (element) > GST_STATE_READY)
    gst_pad_set_active (pad, TRUE);
  gst_element_add_pad (element, pad);
  return pad;
}

static void
release_pad (GstElement *element, GstPad *pad)
{
  GstOmniBasePrivate *priv = PRIV (GST_OMNI_BASE (element));
  GstOmniPassthrough *pt;

  g_mutex_lock (&priv->unsynced_lock);
  if (pad != priv->unsynced_pad) {
    g_mutex_unlock (&priv->unsynced_lock);
    return;
  }
  pt = priv->unsynced;
  priv->unsynced = NULL;
  priv->unsynced_pad = NULL;
  g_mutex_unlock (&priv->unsynced_lock);
  gst_pad_set_active (pad, FALSE);
  gst_element_remove_pad (element, pad);
  gst_omni_passthrough_free (pt);
}

/* -------------------------------------------------------------- sink side */

static void
check_live (GstOmniBase *base)
{
  GstOmniBasePrivate *priv = PRIV (base);
  GstQuery *query = gst_query_new_latency ();
  gboolean live = FALSE;

  if (gst_pad_peer_query (priv->sinkpad, query))
    gst_query_parse_latency (query, &live, NULL, NULL);
  gst_query_unref (query);
  g_mutex_lock (&priv->lock);
  priv->live = live;
  priv->live_known = TRUE;
  g_mutex_unlock (&priv->lock);
  GST_INFO_OBJECT (base, "upstream is %s", live ? "live" : "not live");
}

static GstFlowReturn
sink_chain (GstPad *pad, GstObject *parent, GstBuffer *buf)
{
  GstOmniBase *base = GST_OMNI_BASE (parent);
  GstOmniBaseClass *klass = GST_OMNI_BASE_GET_CLASS (base);
  GstOmniBasePrivate *priv = PRIV (base);
  GstOmniBaseSegmentInfo info;
  GstClockTime pts = GST_BUFFER_PTS (buf);
  GstFlowReturn ret;

  if (!priv->live_known)
    check_live (base);

  g_mutex_lock (&priv->lock);
  if (priv->flushing || priv->flow_error != GST_FLOW_OK) {
    ret = priv->flushing ? GST_FLOW_FLUSHING : priv->flow_error;
    g_mutex_unlock (&priv->lock);
    gst_buffer_unref (buf);
    return ret;
  }
  info.seq = priv->seq++;
  info.pts = pts;
  info.duration = GST_BUFFER_DURATION (buf);
  info.running_time = gst_segment_to_running_time (&priv->segment,
      GST_FORMAT_TIME, pts);
  info.live = priv->live;
  /* A hole before this segment is a GAP on every result pad, in order. */
  if (GST_CLOCK_TIME_IS_VALID (pts) && !klass->own_gaps) {
    if (GST_CLOCK_TIME_IS_VALID (priv->last_end) && pts > priv->last_end)
      queue_event_all (base, gst_event_new_gap (priv->last_end,
              pts - priv->last_end));
    priv->last_end = pts + (GST_CLOCK_TIME_IS_VALID (info.duration)
        ? info.duration : 0);
  }
  g_mutex_unlock (&priv->lock);

  ret = klass->handle_buffer (base, buf, &info);
  gst_buffer_unref (buf);
  if (ret != GST_FLOW_OK)
    return ret;

  /* Files: hold the input back while enough work is queued. Live: never. */
  g_mutex_lock (&priv->lock);
  while (!priv->live && !priv->flushing && priv->flow_error == GST_FLOW_OK
      && results_pending (priv, MAX_PENDING_RESULTS - 1))
    g_cond_wait (&priv->cond, &priv->lock);
  ret = priv->flushing ? GST_FLOW_FLUSHING : priv->flow_error;
  g_mutex_unlock (&priv->lock);
  return ret;
}

static void
flush_start (GstOmniBase *base, GstEvent *event)
{
  GstOmniBasePrivate *priv = PRIV (base);
  GList *pads;

  g_mutex_lock (&priv->lock);
  priv->flushing = TRUE;
  g_cond_broadcast (&priv->cond);
  g_mutex_unlock (&priv->lock);
  pads = gst_omni_base_get_src_pads (base);
  for (GList * l = pads; l; l = l->next) {
    gst_pad_push_event (l->data, gst_event_ref (event));
    stop_pad_task (base, l->data, FALSE);
  }
  g_list_free_full (pads, gst_object_unref);
  gst_event_unref (event);
}

static void
flush_stop (GstOmniBase *base, GstEvent *event)
{
  GstOmniBasePrivate *priv = PRIV (base);
  GList *pads = gst_omni_base_get_src_pads (base);

  /* The tasks are paused: the stream lock waits for their last iteration. */
  for (GList * l = pads; l; l = l->next) {
    GST_PAD_STREAM_LOCK (l->data);
    clear_pad (base, l->data);
    GST_PAD_STREAM_UNLOCK (l->data);
  }
  g_mutex_lock (&priv->lock);
  priv->flushing = FALSE;
  priv->flow_error = GST_FLOW_OK;
  priv->last_end = GST_CLOCK_TIME_NONE;
  g_mutex_unlock (&priv->lock);
  for (GList * l = pads; l; l = l->next) {
    gst_pad_push_event (l->data, gst_event_ref (event));
    if (GST_PAD_IS_ACTIVE (l->data))
      start_pad_task (base, l->data);
  }
  g_list_free_full (pads, gst_object_unref);
  gst_event_unref (event);
}

static gboolean
sink_event (GstPad *pad, GstObject *parent, GstEvent *event)
{
  GstOmniBase *base = GST_OMNI_BASE (parent);
  GstOmniBaseClass *klass = GST_OMNI_BASE_GET_CLASS (base);
  GstOmniBasePrivate *priv = PRIV (base);
  GstClockTime ts, dur;
  GstCaps *caps;

  if (klass->sink_event && klass->sink_event (base, event)) {
    gst_event_unref (event);
    return TRUE;
  }
  forward_media_event (base, event);
  switch (GST_EVENT_TYPE (event)) {
    case GST_EVENT_FLUSH_START:
      flush_start (base, event);
      return TRUE;
    case GST_EVENT_FLUSH_STOP:
      flush_stop (base, event);
      return TRUE;
    case GST_EVENT_STREAM_START:
      /* Each result pad starts its own stream, in the upstream group. */
      g_mutex_lock (&priv->lock);
      priv->have_group_id = gst_event_parse_group_id (event, &priv->group_id);
      g_mutex_unlock (&priv->lock);
      gst_event_unref (event);
      return TRUE;
    case GST_EVENT_CAPS:
      gst_event_parse_caps (event, &caps);
      g_mutex_lock (&priv->lock);
      gst_caps_replace (&priv->sink_caps, caps);
      queue_event_all (base, event);
      g_mutex_unlock (&priv->lock);
      gst_event_unref (event);
      return TRUE;
    case GST_EVENT_SEGMENT:{
      GstSegment segment;

      gst_event_copy_segment (event, &segment);
      if (segment.format != GST_FORMAT_TIME) {
        GST_ELEMENT_ERROR (base, STREAM, FORMAT,
            ("Input segments must be in time format, got %s",
                gst_format_get_name (segment.format)), (NULL));
        gst_event_unref (event);
        return FALSE;
      }
      g_mutex_lock (&priv->lock);
      priv->segment = segment;
      priv->have_segment = TRUE;
      priv->last_end = segment.start;
      queue_event_all (base, event);
      g_mutex_unlock (&priv->lock);
      gst_event_unref (event);
      return TRUE;
    }
    case GST_EVENT_GAP:
      if (klass->own_gaps) {
        gst_event_unref (event);
        return TRUE;
      }
      gst_event_parse_gap (event, &ts, &dur);
      g_mutex_lock (&priv->lock);
      if (GST_CLOCK_TIME_IS_VALID (ts) && GST_CLOCK_TIME_IS_VALID (dur)
          && (!GST_CLOCK_TIME_IS_VALID (priv->last_end)
              || ts + dur > priv->last_end))
        priv->last_end = ts + dur;
      queue_event_all (base, event);
      g_mutex_unlock (&priv->lock);
      gst_event_unref (event);
      return TRUE;
    case GST_EVENT_TAG:{
      GstTagList *tags;

      /* Stream tags describe the input (its language); ours differ. */
      gst_event_parse_tag (event, &tags);
      if (gst_tag_list_get_scope (tags) == GST_TAG_SCOPE_GLOBAL) {
        g_mutex_lock (&priv->lock);
        queue_event_all (base, event);
        g_mutex_unlock (&priv->lock);
      }
      gst_event_unref (event);
      return TRUE;
    }
    default:
      break;
  }
  if (GST_EVENT_IS_SERIALIZED (event)) {
    /* EOS and the rest wait behind the pending results. */
    g_mutex_lock (&priv->lock);
    queue_event_all (base, event);
    g_mutex_unlock (&priv->lock);
    gst_event_unref (event);
    return TRUE;
  }
  return gst_pad_event_default (pad, parent, event);
}

static gboolean
sink_query (GstPad *pad, GstObject *parent, GstQuery *query)
{
  GstOmniBaseClass *klass = GST_OMNI_BASE_GET_CLASS (parent);

  if (klass->sink_query && klass->sink_query (GST_OMNI_BASE (parent), query))
    return TRUE;
  if (media_sink_query (GST_OMNI_BASE (parent), pad, query))
    return TRUE;
  if (GST_QUERY_TYPE (query) == GST_QUERY_CAPS) {
    GstCaps *filter, *caps = gst_pad_get_pad_template_caps (pad), *res;

    gst_query_parse_caps (query, &filter);
    res = filter ? gst_caps_intersect_full (filter, caps,
        GST_CAPS_INTERSECT_FIRST) : gst_caps_ref (caps);
    gst_query_set_caps_result (query, res);
    gst_caps_unref (res);
    gst_caps_unref (caps);
    return TRUE;
  }
  return gst_pad_query_default (pad, parent, query);
}

/* ------------------------------------------------------------ state */

static void
on_progress (double fraction, const char *what, gpointer user_data)
{
  GstOmniBase *base = user_data;
  gchar *text = g_strdup_printf ("%s (%d%%)", what ? what : "loading",
      (int) (fraction * 100 + 0.5));

  gst_element_post_message (GST_ELEMENT (base),
      gst_message_new_progress (GST_OBJECT (base), GST_PROGRESS_TYPE_CONTINUE,
          "load", text));
  g_free (text);
}

static gboolean
device_is_valid (const gchar *device)
{
  const gchar *p;

  if (g_str_equal (device, "auto") || g_str_equal (device, "cpu")
      || g_str_equal (device, "cuda-emu"))
    return TRUE;
  if (!g_str_has_prefix (device, "cuda:") || !device[5])
    return FALSE;
  for (p = device + 5; *p; p++)
    if (!g_ascii_isdigit (*p))
      return FALSE;
  return TRUE;
}

/* Errors a user can act on, at READY->PAUSED. */
static gboolean
acquire_engine (GstOmniBase *base)
{
  GstOmniBasePrivate *priv = PRIV (base);
  OmniEngineOptions opts;
  GError *error = NULL;
  gchar *model, *device, *text;

  GST_OBJECT_LOCK (base);
  model = g_strdup (priv->model);
  device = g_strdup (priv->device);
  GST_OBJECT_UNLOCK (base);

  if (!model || !*model) {
    GST_ELEMENT_ERROR (base, RESOURCE, SETTINGS,
        ("No model set: set the \"model\" property to a Qwen3 snapshot "
            "directory (config.json, *.safetensors, tokenizer.json)"), (NULL));
    goto fail;
  }
  if (!device_is_valid (device)) {
    GST_ELEMENT_ERROR (base, RESOURCE, SETTINGS,
        ("Invalid device \"%s\": use auto, cpu, cuda:N or cuda-emu", device),
        (NULL));
    goto fail;
  }
  if (!g_file_test (model, G_FILE_TEST_IS_DIR)) {
    GST_ELEMENT_ERROR (base, RESOURCE, NOT_FOUND,
        ("Model directory \"%s\" does not exist: set the \"model\" property "
            "to a Qwen3 snapshot directory", model), (NULL));
    goto fail;
  }

  text = g_strdup_printf ("Loading model %s on %s", model, device);
  gst_element_post_message (GST_ELEMENT (base),
      gst_message_new_progress (GST_OBJECT (base), GST_PROGRESS_TYPE_START,
          "load", text));
  g_free (text);
  omni_engine_options_init (&opts);
  opts.device = device;
  GST_OBJECT_LOCK (base);
  opts.quant = priv->quant;
  opts.n_threads = (int) priv->threads;
  GST_OBJECT_UNLOCK (base);
  opts.progress = on_progress;
  opts.progress_data = base;
  priv->engine = omni_engine_acquire (model, &opts, &error);
  if (!priv->engine) {
    gst_element_post_message (GST_ELEMENT (base),
        gst_message_new_progress (GST_OBJECT (base), GST_PROGRESS_TYPE_ERROR,
            "load", error->message));
    if (error->code == OMNI_ERROR_IO)
      GST_ELEMENT_ERROR (base, RESOURCE, OPEN_READ,
          ("Could not load the model in \"%s\": %s", model, error->message),
          ("device %s", device));
    else
      GST_ELEMENT_ERROR (base, RESOURCE, FAILED,
          ("Could not load the model in \"%s\": %s", model, error->message),
          ("device %s", device));
    g_error_free (error);
    goto fail;
  }
  text = g_strdup_printf ("Loaded %s on %s",
      omni_engine_model_id (priv->engine), omni_engine_device (priv->engine));
  gst_element_post_message (GST_ELEMENT (base),
      gst_message_new_progress (GST_OBJECT (base), GST_PROGRESS_TYPE_COMPLETE,
          "load", text));
  g_free (text);
  g_free (model);
  g_free (device);
  return TRUE;

fail:
  g_free (model);
  g_free (device);
  return FALSE;
}

static void
reset_stream (GstOmniBase *base)
{
  GstOmniBasePrivate *priv = PRIV (base);

  g_mutex_lock (&priv->lock);
  priv->flushing = FALSE;
  priv->live = FALSE;
  priv->live_known = FALSE;
  gst_segment_init (&priv->segment, GST_FORMAT_TIME);
  priv->have_segment = FALSE;
  gst_caps_replace (&priv->sink_caps, NULL);
  priv->have_group_id = FALSE;
  priv->seq = 0;
  priv->last_end = GST_CLOCK_TIME_NONE;
  priv->flow_error = GST_FLOW_OK;
  priv->n_requests = priv->n_results = priv->n_late = 0;
  priv->n_cancelled = priv->n_errors = 0;
  priv->max_delay = 0;
  priv->busy_us = 0;
  priv->media_time = 0;
  for (GList * l = priv->srcpads; l; l = l->next) {
    GstOmniBaseSrcPadPrivate *pp = PAD_PRIV (l->data);

    pp->started = FALSE;
    gst_segment_init (&pp->segment, GST_FORMAT_TIME);
    pp->position = pp->last_pts = GST_CLOCK_TIME_NONE;
  }
  g_mutex_unlock (&priv->lock);
}

static gboolean
start (GstOmniBase *base)
{
  GstOmniBaseClass *klass = GST_OMNI_BASE_GET_CLASS (base);
  GError *error = NULL;

  if (klass->start && !klass->start (base, &error)) {
    GST_ELEMENT_ERROR (base, RESOURCE, SETTINGS, ("%s", error->message),
        (NULL));
    g_error_free (error);
    if (klass->stop)
      klass->stop (base);
    return FALSE;
  }
  if (!acquire_engine (base)) {
    if (klass->stop)
      klass->stop (base);
    return FALSE;
  }
  reset_stream (base);
  g_mutex_lock (&PRIV (base)->unsynced_lock);
  PRIV (base)->unsynced_need_start = TRUE;
  g_mutex_unlock (&PRIV (base)->unsynced_lock);
  return TRUE;
}

static void
stop (GstOmniBase *base)
{
  GstOmniBaseClass *klass = GST_OMNI_BASE_GET_CLASS (base);
  GstOmniBasePrivate *priv = PRIV (base);
  GList *pads = gst_omni_base_get_src_pads (base);

  for (GList * l = pads; l; l = l->next)
    clear_pad (base, l->data);
  g_list_free_full (pads, gst_object_unref);
  g_clear_pointer (&priv->engine, omni_engine_unref);
  g_mutex_lock (&priv->lock);
  gst_caps_replace (&priv->sink_caps, NULL);
  g_mutex_unlock (&priv->lock);
  if (klass->stop)
    klass->stop (base);
}

static GstStateChangeReturn
change_state (GstElement *element, GstStateChange transition)
{
  GstOmniBase *base = GST_OMNI_BASE (element);
  GstOmniBasePrivate *priv = PRIV (base);
  GstStateChangeReturn ret;

  switch (transition) {
    case GST_STATE_CHANGE_READY_TO_PAUSED:
      if (!start (base))
        return GST_STATE_CHANGE_FAILURE;
      break;
    case GST_STATE_CHANGE_PAUSED_TO_READY:
      /* Unblock the streaming thread before the pads deactivate. */
      g_mutex_lock (&priv->lock);
      priv->flushing = TRUE;
      g_cond_broadcast (&priv->cond);
      g_mutex_unlock (&priv->lock);
      break;
    default:
      break;
  }

  ret = GST_ELEMENT_CLASS (gst_omni_base_parent_class)->change_state (element,
      transition);
  if (ret == GST_STATE_CHANGE_FAILURE) {
    if (transition == GST_STATE_CHANGE_READY_TO_PAUSED)
      stop (base);
    return ret;
  }

  switch (transition) {
    case GST_STATE_CHANGE_PAUSED_TO_READY:
      stop (base);
      break;
    default:
      break;
  }
  return ret;
}

/* --------------------------------------------------------------- stats */

static GstStructure *
make_stats (GstOmniBase *base)
{
  GstOmniBasePrivate *priv = PRIV (base);
  GstStructure *s;
  gdouble rtf;

  g_mutex_lock (&priv->lock);
  rtf = priv->media_time > 0 ? (gdouble) priv->busy_us * GST_USECOND
      / priv->media_time : 0.0;
  s = gst_structure_new ("omni-stats",
      "requests", G_TYPE_UINT64, priv->n_requests,
      "results", G_TYPE_UINT64, priv->n_results,
      "late", G_TYPE_UINT64, priv->n_late,
      "cancelled", G_TYPE_UINT64, priv->n_cancelled,
      "errors", G_TYPE_UINT64, priv->n_errors,
      "max-delay", G_TYPE_UINT64, (guint64) priv->max_delay,
      "real-time-factor", G_TYPE_DOUBLE, rtf, NULL);
  g_mutex_unlock (&priv->lock);
  if (GST_OMNI_BASE_GET_CLASS (base)->add_stats)
    GST_OMNI_BASE_GET_CLASS (base)->add_stats (base, s);
  return s;
}

/* ---------------------------------------------------------- child proxy */

static GObject *
child_proxy_get_child_by_index (GstChildProxy *proxy, guint index)
{
  GstOmniBasePrivate *priv = PRIV (GST_OMNI_BASE (proxy));
  GObject *obj;

  g_mutex_lock (&priv->lock);
  obj = g_list_nth_data (priv->srcpads, index);
  if (obj)
    gst_object_ref (obj);
  g_mutex_unlock (&priv->lock);
  return obj;
}

static guint
child_proxy_get_children_count (GstChildProxy *proxy)
{
  GstOmniBasePrivate *priv = PRIV (GST_OMNI_BASE (proxy));
  guint n;

  g_mutex_lock (&priv->lock);
  n = g_list_length (priv->srcpads);
  g_mutex_unlock (&priv->lock);
  return n;
}

static void
gst_omni_base_child_proxy_init (GstChildProxyInterface *iface)
{
  iface->get_child_by_index = child_proxy_get_child_by_index;
  iface->get_children_count = child_proxy_get_children_count;
}

/* ------------------------------------------------------------- GObject */

static void
gst_omni_base_set_property (GObject *object, guint prop_id,
    const GValue *value, GParamSpec *pspec)
{
  GstOmniBase *base = GST_OMNI_BASE (object);
  GstOmniBasePrivate *priv = PRIV (base);

  GST_OBJECT_LOCK (base);
  switch (prop_id) {
    case PROP_MODEL:
      g_free (priv->model);
      priv->model = g_value_dup_string (value);
      break;
    case PROP_DEVICE:
      g_free (priv->device);
      priv->device = g_value_dup_string (value);
      if (!priv->device)
        priv->device = g_strdup (DEFAULT_DEVICE);
      break;
    case PROP_LATENCY:
      priv->latency_ms = g_value_get_uint (value);
      break;
    case PROP_MAX_TOKENS:
      priv->max_tokens = g_value_get_int (value);
      break;
    case PROP_TEMPERATURE:
      priv->temperature = g_value_get_double (value);
      break;
    case PROP_QUANT:
      priv->quant = g_value_get_enum (value);
      break;
    case PROP_THREADS:
      priv->threads = g_value_get_uint (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (base);
  if (prop_id == PROP_LATENCY)
    gst_element_post_message (GST_ELEMENT (base),
        gst_message_new_latency (GST_OBJECT (base)));
}

static void
gst_omni_base_get_property (GObject *object, guint prop_id, GValue *value,
    GParamSpec *pspec)
{
  GstOmniBase *base = GST_OMNI_BASE (object);
  GstOmniBasePrivate *priv = PRIV (base);

  if (prop_id == PROP_STATS) {
    g_value_take_boxed (value, make_stats (base));
    return;
  }
  GST_OBJECT_LOCK (base);
  switch (prop_id) {
    case PROP_MODEL:
      g_value_set_string (value, priv->model);
      break;
    case PROP_DEVICE:
      g_value_set_string (value, priv->device);
      break;
    case PROP_LATENCY:
      g_value_set_uint (value, priv->latency_ms);
      break;
    case PROP_MAX_TOKENS:
      g_value_set_int (value, priv->max_tokens);
      break;
    case PROP_TEMPERATURE:
      g_value_set_double (value, priv->temperature);
      break;
    case PROP_QUANT:
      g_value_set_enum (value, priv->quant);
      break;
    case PROP_THREADS:
      g_value_set_uint (value, priv->threads);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (base);
}

static void
gst_omni_base_finalize (GObject *object)
{
  GstOmniBasePrivate *priv = PRIV (GST_OMNI_BASE (object));

  g_list_free (priv->srcpads);
  gst_omni_passthrough_free (priv->media);
  gst_omni_passthrough_free (priv->unsynced);
  g_mutex_clear (&priv->unsynced_lock);
  g_free (priv->model);
  g_free (priv->device);
  g_clear_pointer (&priv->engine, omni_engine_unref);
  gst_caps_replace (&priv->sink_caps, NULL);
  g_mutex_clear (&priv->lock);
  g_cond_clear (&priv->cond);
  G_OBJECT_CLASS (gst_omni_base_parent_class)->finalize (object);
}

GType
gst_omni_quant_get_type (void)
{
  static GType type = 0;
  static const GEnumValue values[] = {
    {OMNI_QUANT_NONE, "As stored in the snapshot", "none"},
    {OMNI_QUANT_BF16, "bfloat16", "bf16"},
    {OMNI_QUANT_INT8, "int8, groups of 32 with an f16 scale", "int8"},
    {OMNI_QUANT_INT4, "int4, groups of 32 with an f16 scale", "int4"},
    {0, NULL, NULL},
  };

  if (g_once_init_enter (&type))
    g_once_init_leave (&type, g_enum_register_static ("GstOmniQuant", values));
  return type;
}

static void
gst_omni_base_class_init (GstOmniBaseClass *klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);
  const GParamFlags rw = G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS
      | GST_PARAM_MUTABLE_READY;

  gobject_class->set_property = gst_omni_base_set_property;
  gobject_class->get_property = gst_omni_base_get_property;
  gobject_class->finalize = gst_omni_base_finalize;
  gobject_class->constructed = gst_omni_base_constructed;
  element_class->change_state = change_state;
  element_class->request_new_pad = request_new_pad;
  element_class->release_pad = release_pad;

  g_object_class_install_property (gobject_class, PROP_MODEL,
      g_param_spec_string ("model", "Model",
          "Directory of a Hugging Face snapshot of the model (config.json, "
          "*.safetensors, tokenizer.json); elements naming the same "
          "directory, device and quant share one loaded engine", NULL, rw));
  g_object_class_install_property (gobject_class, PROP_DEVICE,
      g_param_spec_string ("device", "Device",
          "Compute device: auto (a GPU when present, else cpu), cpu, "
          "cuda:N or cuda-emu (CUDA emulated on the CPU, for tests)",
          DEFAULT_DEVICE, rw));
  g_object_class_install_property (gobject_class, PROP_LATENCY,
      g_param_spec_uint ("latency", "Latency",
          "Live mode: time budget (ms) from a segment's running time to its "
          "result; added to the pipeline latency. A result later than this "
          "is pushed re-timestamped, never dropped. Unused for files",
          0, 600000, DEFAULT_LATENCY_MS,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS
          | GST_PARAM_MUTABLE_PLAYING));
  g_object_class_install_property (gobject_class, PROP_MAX_TOKENS,
      g_param_spec_int ("max-tokens", "Max tokens",
          "Most tokens generated per segment", 1, 32768, DEFAULT_MAX_TOKENS,
          rw));
  g_object_class_install_property (gobject_class, PROP_TEMPERATURE,
      g_param_spec_double ("temperature", "Temperature",
          "Sampling temperature; 0 decodes greedily (reproducible)", 0.0, 2.0,
          DEFAULT_TEMPERATURE, rw));
  g_object_class_install_property (gobject_class, PROP_QUANT,
      g_param_spec_enum ("quant", "Weight format",
          "How the cpu backend stores the matmul weights: as the snapshot "
          "has them, bf16, or int8 / int4 in groups of 32 (quantized at the "
          "first load, then read from a cache beside the snapshot); elements on one "
          "model asking for different formats load one engine each",
          GST_TYPE_OMNI_QUANT, DEFAULT_QUANT, rw));
  g_object_class_install_property (gobject_class, PROP_THREADS,
      g_param_spec_uint ("threads", "Threads",
          "cpu backend threads; 0: $OMNI_THREADS, else every core (the "
          "first element to load an engine decides)", 0, 1024,
          DEFAULT_THREADS, rw));
  g_object_class_install_property (gobject_class, PROP_STATS,
      g_param_spec_boxed ("stats", "Statistics",
          "Counters since the last start: requests, results, late (pushed "
          "after their deadline, re-timestamped), cancelled, errors, "
          "max-delay (ns, input to result), real-time-factor (inference "
          "time / media time)", GST_TYPE_STRUCTURE,
          G_PARAM_READABLE | G_PARAM_STATIC_STRINGS));

  klass->text_kind = GST_OMNI_TEXT_KIND_TRANSCRIPT;
  gst_type_mark_as_plugin_api (GST_TYPE_OMNI_BASE, 0);
  gst_type_mark_as_plugin_api (GST_TYPE_OMNI_QUANT, 0);
  gst_type_mark_as_plugin_api (GST_TYPE_OMNI_BASE_SRC_PAD, 0);
}

/* The subclass's "sink" template is known once the instance is complete
 * (during instance_init the class pointer is still GstOmniBase's). */
static void
gst_omni_base_constructed (GObject *object)
{
  GstOmniBase *base = GST_OMNI_BASE (object);
  GstOmniBasePrivate *priv = PRIV (base);
  GstPadTemplate *templ =
      gst_element_class_get_pad_template (GST_ELEMENT_GET_CLASS (base), "sink");

  G_OBJECT_CLASS (gst_omni_base_parent_class)->constructed (object);
  g_return_if_fail (templ != NULL);
  priv->sinkpad = gst_pad_new_from_template (templ, "sink");
  gst_pad_set_chain_function (priv->sinkpad, sink_chain);
  gst_pad_set_event_function (priv->sinkpad, sink_event);
  gst_pad_set_query_function (priv->sinkpad, sink_query);
  gst_element_add_pad (GST_ELEMENT (base), priv->sinkpad);
}

static void
gst_omni_base_init (GstOmniBase *base)
{
  GstOmniBasePrivate *priv = PRIV (base);

  g_mutex_init (&priv->lock);
  g_cond_init (&priv->cond);
  g_mutex_init (&priv->unsynced_lock);
  priv->device = g_strdup (DEFAULT_DEVICE);
  priv->latency_ms = DEFAULT_LATENCY_MS;
  priv->max_tokens = DEFAULT_MAX_TOKENS;
  priv->temperature = DEFAULT_TEMPERATURE;
  gst_segment_init (&priv->segment, GST_FORMAT_TIME);
  priv->last_end = GST_CLOCK_TIME_NONE;
}

static void
gst_omni_base_src_pad_finalize (GObject *object)
{
  GstOmniBaseSrcPadPrivate *pp = PAD_PRIV (GST_OMNI_BASE_SRC_PAD (object));

  /* Only events can be left: requests are cleared when the element stops. */
  g_queue_clear_full (&pp->queue, (GDestroyNotify) item_free);
  G_OBJECT_CLASS (gst_omni_base_src_pad_parent_class)->finalize (object);
}

static void
gst_omni_base_src_pad_class_init (GstOmniBaseSrcPadClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = gst_omni_base_src_pad_finalize;
}

static void
gst_omni_base_src_pad_init (GstOmniBaseSrcPad *pad)
{
  GstOmniBaseSrcPadPrivate *pp = PAD_PRIV (pad);

  g_queue_init (&pp->queue);
  gst_segment_init (&pp->segment, GST_FORMAT_TIME);
  pp->position = pp->last_pts = GST_CLOCK_TIME_NONE;
  pp->flushing = TRUE;
}

gboolean
gst_omni_base_result_has_text (const OmniResult *result)
{
  return result->status == OMNI_RESULT_DONE && result->text && *result->text;
}

void
gst_omni_base_push_result_json (GstOmniBase *base,
    const GstOmniBaseResultInfo *info, const OmniResult *result,
    GstClockTime pts, GstClockTime duration, const GstStructure *extra)
{
  if (result->status != OMNI_RESULT_PARTIAL
      && !gst_omni_base_result_has_text (result))
    return;
  gst_omni_base_push_unsynced (base, gst_omni_base_result_json (base, info,
          result, pts, duration, extra));
}

void
gst_omni_base_resolve_region (GstOmniBase *base, GstOmniPassthrough *pass,
    guint64 region, const GstOmniBaseResultInfo *info,
    const OmniResult *result, GstOmniPassthroughText *text)
{
  OmniEngine *engine = gst_omni_base_get_engine (base);

  text->text = result->text;
  text->model_id = engine ? omni_engine_model_id (engine) : NULL;
  text->seq = info->seq;
  gst_omni_passthrough_resolve (pass, region,
      gst_omni_base_result_has_text (result) ? text : NULL);
}

gint64
gst_omni_base_hold_until (GstOmniBase *base, gboolean live)
{
  guint latency_ms;

  if (!live)
    return 0;
  g_object_get (base, "latency", &latency_ms, NULL);
  return g_get_monotonic_time () + (gint64) latency_ms * 1000;
}
