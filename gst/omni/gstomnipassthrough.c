/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * GstOmniPassthrough: the held, meta-carrying passthrough pad. One mutex
 * and one condition guard the queue and the regions; the pad's task pops
 * the head when it may leave, attaches the texts of the resolved regions it
 * overlaps and pushes it.
 */
#include "gstomnipassthrough.h"

GST_DEBUG_CATEGORY_STATIC (gst_omni_passthrough_debug);
#define GST_CAT_DEFAULT gst_omni_passthrough_debug

typedef struct {
  GstMiniObject *obj;          /* GstBuffer or GstEvent */
  GstClockTime start, end;     /* buffers: NONE when untimed */
  gint64 hold_until_us;
} Entry;

typedef struct {
  guint64 id;
  GstClockTime start, end;
  gboolean resolved, has_text;
  GstOmniTextKind kind;
  gchar *text, *language, *model_id;
  GstClockTime pts, running_time, duration;
  guint64 seq;
} Region;

struct _GstOmniPassthrough {
  GstPad *pad;                 /* no ref: the element owns it */
  GstClockTime max_queued;

  GMutex lock;
  GCond cond;
  GQueue queue;                /* Entry */
  GQueue regions;              /* Region, by start */
  guint64 next_id;
  GstClockTime watermark;
  GstClockTime queued;         /* buffered time */
  gboolean hold;
  gboolean flushing;
  GstFlowReturn last_ret;
};

static void
entry_free (Entry *e)
{
  if (e->obj)
    gst_mini_object_unref (e->obj);
  g_free (e);
}

static void
region_free (Region *r)
{
  g_free (r->text);
  g_free (r->language);
  g_free (r->model_id);
  g_free (r);
}

static gboolean
is_buffer (const Entry *e)
{
  return GST_IS_BUFFER (e->obj);
}

static gboolean
timed (const Entry *e)
{
  return GST_CLOCK_TIME_IS_VALID (e->start) && GST_CLOCK_TIME_IS_VALID (e->end);
}

/* Every region @e overlaps is resolved and none can still come. */
static gboolean
regions_known (GstOmniPassthrough *pt, const Entry *e)
{
  if (e->end > pt->watermark)
    return FALSE;
  for (GList * l = pt->regions.head; l; l = l->next) {
    Region *r = l->data;

    if (r->start >= e->end)
      break;
    if (r->end > e->start && !r->resolved)
      return FALSE;
  }
  return TRUE;
}

/* Whether the head @e may leave now; else *@wake_us is when it may (0:
 * when something changes). Called with lock held. */
static gboolean
may_leave (GstOmniPassthrough *pt, const Entry *e, gint64 *wake_us)
{
  *wake_us = 0;
  if (!is_buffer (e) || !pt->hold || !timed (e) || regions_known (pt, e))
    return TRUE;
  if (e->hold_until_us) {
    if (g_get_monotonic_time () >= e->hold_until_us)
      return TRUE;
    *wake_us = e->hold_until_us;
  }
  return FALSE;
}

/* The resolved regions with a text that @e overlaps (borrowed: keep the
 * lock while using them). */
static GPtrArray *
take_texts (GstOmniPassthrough *pt, const Entry *e)
{
  GPtrArray *texts = g_ptr_array_new ();

  for (GList * l = pt->regions.head; l; l = l->next) {
    Region *r = l->data;

    if (r->start >= e->end)
      break;
    if (r->end > e->start && r->resolved && r->has_text)
      g_ptr_array_add (texts, r);
  }
  return texts;
}

/* Drops the regions ending before @end (after their texts were attached). */
static void
drop_regions (GstOmniPassthrough *pt, GstClockTime end)
{
  GList *l = pt->regions.head;

  while (l) {
    Region *r = l->data;
    GList *next = l->next;

    if (r->start >= end)
      break;
    if (r->end <= end) {
      g_queue_delete_link (&pt->regions, l);
      region_free (r);
    }
    l = next;
  }
}

static GstBuffer *
attach_texts (GstBuffer *buf, GPtrArray *texts)
{
  if (texts->len == 0)
    return buf;
  buf = gst_buffer_make_writable (buf);
  for (guint i = 0; i < texts->len; i++) {
    Region *r = g_ptr_array_index (texts, i);

    gst_buffer_add_omni_text_meta (buf, r->kind, r->text, r->language, NULL,
        r->pts, r->running_time, r->duration, TRUE, r->seq, NULL,
        r->model_id);
  }
  return buf;
}

/* Waits for the head that may leave; NULL when flushing. Lock held. */
static Entry *
next_entry (GstOmniPassthrough *pt)
{
  for (;;) {
    Entry *head;
    gint64 wake_us;

    if (pt->flushing)
      return NULL;
    head = g_queue_peek_head (&pt->queue);
    if (head && may_leave (pt, head, &wake_us))
      return g_queue_pop_head (&pt->queue);
    if (head && wake_us)
      g_cond_wait_until (&pt->cond, &pt->lock, wake_us);
    else
      g_cond_wait (&pt->cond, &pt->lock);
  }
}

static void
loop (gpointer user_data)
{
  GstOmniPassthrough *pt = user_data;
  GstFlowReturn ret = GST_FLOW_OK;
  GPtrArray *texts = NULL;
  GstMiniObject *obj;
  Entry *e;

  g_mutex_lock (&pt->lock);
  e = next_entry (pt);
  if (!e) {
    g_mutex_unlock (&pt->lock);
    gst_pad_pause_task (pt->pad);
    return;
  }
  if (is_buffer (e) && timed (e)) {
    pt->queued -= MIN (pt->queued, e->end - e->start);
    texts = take_texts (pt, e);
  }
  g_cond_broadcast (&pt->cond);
  obj = e->obj;
  e->obj = NULL;

  if (GST_IS_BUFFER (obj)) {
    GstBuffer *buf = GST_BUFFER (obj);

    /* The regions stay alive (under the lock) while their texts are copied;
     * later buffers cannot overlap those ending before this one's end. */
    if (texts) {
      buf = attach_texts (buf, texts);
      drop_regions (pt, e->end);
    }
    g_mutex_unlock (&pt->lock);
    ret = gst_pad_push (pt->pad, buf);
  } else {
    g_mutex_unlock (&pt->lock);
    gst_pad_push_event (pt->pad, GST_EVENT (obj));
  }
  if (texts)
    g_ptr_array_unref (texts);
  entry_free (e);

  if (ret == GST_FLOW_OK || ret == GST_FLOW_NOT_LINKED || ret == GST_FLOW_EOS)
    return;
  g_mutex_lock (&pt->lock);
  pt->last_ret = ret;
  g_cond_broadcast (&pt->cond);
  g_mutex_unlock (&pt->lock);
  GST_DEBUG_OBJECT (pt->pad, "pausing: %s", gst_flow_get_name (ret));
  if (ret <= GST_FLOW_NOT_NEGOTIATED)
    GST_ELEMENT_FLOW_ERROR (GST_PAD_PARENT (pt->pad), ret);
  gst_pad_pause_task (pt->pad);
}

static void
start_task (GstOmniPassthrough *pt)
{
  g_mutex_lock (&pt->lock);
  pt->flushing = FALSE;
  pt->last_ret = GST_FLOW_OK;
  g_mutex_unlock (&pt->lock);
  gst_pad_start_task (pt->pad, loop, pt, NULL);
}

/* Empties the queue and the regions; the task must not be running. */
static void
clear (GstOmniPassthrough *pt)
{
  g_mutex_lock (&pt->lock);
  g_queue_clear_full (&pt->queue, (GDestroyNotify) entry_free);
  g_queue_clear_full (&pt->regions, (GDestroyNotify) region_free);
  pt->watermark = 0;
  pt->queued = 0;
  g_mutex_unlock (&pt->lock);
}

static void
set_flushing (GstOmniPassthrough *pt)
{
  g_mutex_lock (&pt->lock);
  pt->flushing = TRUE;
  g_cond_broadcast (&pt->cond);
  g_mutex_unlock (&pt->lock);
}

static gboolean
activate_mode (GstPad *pad, GstObject *parent, GstPadMode mode,
    gboolean active)
{
  GstOmniPassthrough *pt = gst_pad_get_element_private (pad);

  if (mode != GST_PAD_MODE_PUSH)
    return FALSE;
  if (active) {
    clear (pt);
    start_task (pt);
  } else {
    set_flushing (pt);
    gst_pad_stop_task (pad);
    clear (pt);
  }
  return TRUE;
}

GstOmniPassthrough *
gst_omni_passthrough_new (GstPad *pad, GstClockTime max_queued)
{
  GstOmniPassthrough *pt = g_new0 (GstOmniPassthrough, 1);

  if (!gst_omni_passthrough_debug)
    GST_DEBUG_CATEGORY_INIT (gst_omni_passthrough_debug, "omnipassthrough",
        0, "omni elements: held media passthrough");
  pt->pad = pad;
  pt->max_queued = max_queued;
  pt->hold = TRUE;
  pt->flushing = TRUE;
  g_mutex_init (&pt->lock);
  g_cond_init (&pt->cond);
  g_queue_init (&pt->queue);
  g_queue_init (&pt->regions);
  gst_pad_set_element_private (pad, pt);
  gst_pad_set_activatemode_function (pad, activate_mode);
  return pt;
}

void
gst_omni_passthrough_free (GstOmniPassthrough *pt)
{
  if (!pt)
    return;
  g_queue_clear_full (&pt->queue, (GDestroyNotify) entry_free);
  g_queue_clear_full (&pt->regions, (GDestroyNotify) region_free);
  g_mutex_clear (&pt->lock);
  g_cond_clear (&pt->cond);
  g_free (pt);
}

void
gst_omni_passthrough_set_hold (GstOmniPassthrough *pt, gboolean hold)
{
  g_mutex_lock (&pt->lock);
  pt->hold = hold;
  g_cond_broadcast (&pt->cond);
  g_mutex_unlock (&pt->lock);
}

gboolean
gst_omni_passthrough_get_hold (GstOmniPassthrough *pt)
{
  gboolean hold;

  g_mutex_lock (&pt->lock);
  hold = pt->hold;
  g_mutex_unlock (&pt->lock);
  return hold;
}

/* The head can leave now, so waiting for the task is safe. Lock held. */
static gboolean
must_wait (GstOmniPassthrough *pt)
{
  Entry *head = g_queue_peek_head (&pt->queue);
  gint64 wake_us;

  return pt->max_queued && pt->queued > pt->max_queued && head
      && may_leave (pt, head, &wake_us);
}

GstFlowReturn
gst_omni_passthrough_push_buffer (GstOmniPassthrough *pt, GstBuffer *buffer,
    GstClockTime start, GstClockTime end, gint64 hold_until_us)
{
  Entry *e = g_new0 (Entry, 1);
  GstFlowReturn ret;

  e->obj = GST_MINI_OBJECT (buffer);
  e->start = start;
  e->end = GST_CLOCK_TIME_IS_VALID (end) && end > start ? end : start;
  e->hold_until_us = hold_until_us;
  g_mutex_lock (&pt->lock);
  while (!pt->flushing && pt->last_ret == GST_FLOW_OK && must_wait (pt))
    g_cond_wait (&pt->cond, &pt->lock);
  ret = pt->flushing ? GST_FLOW_FLUSHING : pt->last_ret;
  if (ret != GST_FLOW_OK) {
    g_mutex_unlock (&pt->lock);
    entry_free (e);
    return ret;
  }
  if (timed (e))
    pt->queued += e->end - e->start;
  g_queue_push_tail (&pt->queue, e);
  g_cond_broadcast (&pt->cond);
  g_mutex_unlock (&pt->lock);
  return GST_FLOW_OK;
}

void
gst_omni_passthrough_push_event (GstOmniPassthrough *pt, GstEvent *event)
{
  Entry *e;

  switch (GST_EVENT_TYPE (event)) {
    case GST_EVENT_FLUSH_START:
      set_flushing (pt);
      gst_pad_push_event (pt->pad, event);
      gst_pad_pause_task (pt->pad);
      return;
    case GST_EVENT_FLUSH_STOP:
      /* The stream lock waits for the task's last iteration. */
      GST_PAD_STREAM_LOCK (pt->pad);
      clear (pt);
      GST_PAD_STREAM_UNLOCK (pt->pad);
      gst_pad_push_event (pt->pad, event);
      if (GST_PAD_IS_ACTIVE (pt->pad))
        start_task (pt);
      return;
    default:
      break;
  }
  if (!GST_EVENT_IS_SERIALIZED (event)) {
    gst_pad_push_event (pt->pad, event);
    return;
  }
  e = g_new0 (Entry, 1);
  e->obj = GST_MINI_OBJECT (event);
  e->start = e->end = GST_CLOCK_TIME_NONE;
  g_mutex_lock (&pt->lock);
  if (pt->flushing && GST_EVENT_TYPE (event) != GST_EVENT_STREAM_START
      && GST_EVENT_TYPE (event) != GST_EVENT_CAPS
      && GST_EVENT_TYPE (event) != GST_EVENT_SEGMENT) {
    g_mutex_unlock (&pt->lock);
    entry_free (e);
    return;
  }
  g_queue_push_tail (&pt->queue, e);
  g_cond_broadcast (&pt->cond);
  g_mutex_unlock (&pt->lock);
}

guint64
gst_omni_passthrough_add_region (GstOmniPassthrough *pt, GstClockTime start,
    GstClockTime end)
{
  Region *r = g_new0 (Region, 1);
  guint64 id;

  r->start = start;
  r->end = MAX (end, start);
  g_mutex_lock (&pt->lock);
  id = r->id = ++pt->next_id;
  g_queue_push_tail (&pt->regions, r);
  g_mutex_unlock (&pt->lock);
  return id;
}

void
gst_omni_passthrough_resolve (GstOmniPassthrough *pt, guint64 id,
    const GstOmniPassthroughText *text)
{
  g_mutex_lock (&pt->lock);
  for (GList * l = pt->regions.head; l; l = l->next) {
    Region *r = l->data;

    if (r->id != id)
      continue;
    r->resolved = TRUE;
    if (text && text->text) {
      r->has_text = TRUE;
      r->kind = text->kind;
      r->text = g_strdup (text->text);
      r->language = g_strdup (text->language);
      r->model_id = g_strdup (text->model_id);
      r->pts = text->pts;
      r->running_time = text->running_time;
      r->duration = text->duration;
      r->seq = text->seq;
    }
    break;
  }
  g_cond_broadcast (&pt->cond);
  g_mutex_unlock (&pt->lock);
}

void
gst_omni_passthrough_set_watermark (GstOmniPassthrough *pt,
    GstClockTime watermark)
{
  g_mutex_lock (&pt->lock);
  if (watermark > pt->watermark) {
    pt->watermark = watermark;
    g_cond_broadcast (&pt->cond);
  }
  g_mutex_unlock (&pt->lock);
}
