/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * GstOmniBase: the abstract element shared by omnicaption, omnitranslate and
 * omnivl. It owns everything about engines, time and result pads: the
 * model/device/latency/max-tokens/temperature properties, the engine, one
 * ordered result queue and one GstTask per result pad, the LATENCY query,
 * GAP events, late re-stamping, stats, EOS waiting and flush cancelling,
 * and optionally the media pass-through pad "src" (add_media_pad) and the
 * "unsynced_src" JSON-lines request pad (push_unsynced).
 * A subclass only turns its input into requests (handle_buffer) and results
 * back into output text (render).
 */
#ifndef __GST_OMNI_BASE_H__
#define __GST_OMNI_BASE_H__

#include <gst/gst.h>

#include "gstomnipassthrough.h"
#include "gstomnitextmeta.h"
#include "omnicore.h"

G_BEGIN_DECLS

/* The "quant" property's enum (the values of OmniQuant). */
#define GST_TYPE_OMNI_QUANT (gst_omni_quant_get_type ())
GType gst_omni_quant_get_type (void);

#define GST_TYPE_OMNI_BASE (gst_omni_base_get_type ())
G_DECLARE_DERIVABLE_TYPE (GstOmniBase, gst_omni_base, GST, OMNI_BASE, GstElement)

#define GST_TYPE_OMNI_BASE_SRC_PAD (gst_omni_base_src_pad_get_type ())
G_DECLARE_DERIVABLE_TYPE (GstOmniBaseSrcPad, gst_omni_base_src_pad, GST,
    OMNI_BASE_SRC_PAD, GstPad)

/* A result pad: subclass it to add pad properties (e.g. language-code). */
struct _GstOmniBaseSrcPadClass {
  GstPadClass parent_class;
};

/* Where one input segment sits in time; given to handle_buffer. */
typedef struct {
  guint64 seq;               /* counts input segments from 0 after each start */
  GstClockTime pts;          /* of the input buffer, may be NONE */
  GstClockTime duration;     /* may be NONE */
  GstClockTime running_time; /* of pts in the input segment, may be NONE */
  gboolean live;             /* upstream is live (priority LIVE, deadline) */
} GstOmniBaseSegmentInfo;

/* What a finished result is about; given to render and result_done. */
typedef struct {
  guint64 seq;
  const gchar *source_text;     /* the plain input text (may be NULL) */
  const gchar *language;        /* BCP-47 tag of the result (may be NULL) */
  const gchar *source_language; /* BCP-47 tag of the input (may be NULL) */
  gpointer render_data;         /* what the subclass gave to submit */
} GstOmniBaseResultInfo;

struct _GstOmniBaseClass {
  GstElementClass parent_class;

  /* What the results are (the kind of the GstOmniTextMeta). */
  GstOmniTextKind text_kind;

  /* READY->PAUSED, before the engine is acquired: check properties and load
   * side files. FALSE with @error (its message is shown to the user). */
  gboolean (*start) (GstOmniBase *base, GError **error);
  /* PAUSED->READY, after every request is finished and freed. */
  void (*stop) (GstOmniBase *base);
  /* Caps of @pad for input @sink_caps (transfer full). */
  GstCaps *(*src_caps) (GstOmniBase *base, GstOmniBaseSrcPad *pad,
      GstCaps *sink_caps);
  /* Stream tags of @pad (transfer full, may be NULL). */
  GstTagList *(*src_tags) (GstOmniBase *base, GstOmniBaseSrcPad *pad);
  /* Turns one input buffer into requests, one gst_omni_base_submit() per
   * result pad. Streaming thread; must not block on inference. */
  GstFlowReturn (*handle_buffer) (GstOmniBase *base, GstBuffer *buffer,
      const GstOmniBaseSegmentInfo *info);
  /* The output buffer text for @text (transfer full); NULL: @text as is. */
  gchar *(*render) (GstOmniBase *base, GstOmniBaseSrcPad *pad,
      const GstOmniBaseResultInfo *info, const gchar *text);
  /* A result of @pad is about to be pushed (in order). Called with the
   * base's queue lock held: only record it (e.g. a rolling context) under
   * the subclass's own lock, never call back into the base. */
  void (*result_done) (GstOmniBase *base, GstOmniBaseSrcPad *pad,
      const GstOmniBaseResultInfo *info, const gchar *text);

  /* Name of the element message posted per result (NULL: "omni-result"). */
  const gchar *message_name;
  /* A failed request posts a warning and leaves its slot a GAP; the stream
   * goes on (default: an element error stops it). */
  gboolean errors_are_warnings;
  /* The subclass queues its result pads' GAPs (gst_omni_base_queue_gap):
   * the base neither fills holes between input buffers nor forwards input
   * GAP events to them. */
  gboolean own_gaps;

  /* Every sink event first (not taken): forward it to the subclass's own
   * pads, flush its state. TRUE: the base drops the event. */
  gboolean (*sink_event) (GstOmniBase *base, GstEvent *event);
  /* Sink queries first; TRUE when answered. */
  gboolean (*sink_query) (GstOmniBase *base, GstQuery *query);
  /* The lines @text is pushed as, one buffer each, their times spread over
   * the segment by length (transfer full; NULL: one buffer; no line: a GAP). */
  gchar **(*split) (GstOmniBase *base, GstOmniBaseSrcPad *pad,
      const GstOmniBaseResultInfo *info, const gchar *text);
  /* Every engine callback (partials when asked for, and the final one), on
   * the engine's thread, no base lock held: return quickly, never call back
   * into the base. */
  void (*result_update) (GstOmniBase *base, GstOmniBaseSrcPad *pad,
      const GstOmniBaseResultInfo *info, const OmniResult *result);
  /* Adds the subclass's fields to a result's element message. */
  void (*result_message) (GstOmniBase *base, GstOmniBaseSrcPad *pad,
      const GstOmniBaseResultInfo *info, GstStructure *s);
  /* Adds the subclass's counters to the "stats" structure. */
  void (*add_stats) (GstOmniBase *base, GstStructure *stats);
};

/* Creates a result pad of type @pad_type (a GstOmniBaseSrcPad subclass) from
 * @templ, adds it to @base and starts its task if @base is running. */
GstOmniBaseSrcPad *gst_omni_base_add_src_pad (GstOmniBase *base,
    GType pad_type, GstPadTemplate *templ, const gchar *name);

/* Stops @pad's task, cancels its requests and removes it from @base. */
void gst_omni_base_remove_src_pad (GstOmniBase *base, GstOmniBaseSrcPad *pad);

/* The result pads, each with a ref (free with g_list_free_full (l,
 * gst_object_unref)). */
GList *gst_omni_base_get_src_pads (GstOmniBase *base);

/* The engine (valid from READY->PAUSED to PAUSED->READY), or NULL. */
OmniEngine *gst_omni_base_get_engine (GstOmniBase *base);

/* Queues the result of @req for @pad, in order, and submits @req (the
 * priority, deadline, max-tokens, temperature and callback are set here).
 * @req NULL queues @text as an already finished result. Takes @req and
 * @render_data (freed with @destroy). FALSE with @error if the engine
 * refused the request. */
gboolean gst_omni_base_submit (GstOmniBase *base, GstOmniBaseSrcPad *pad,
    const GstOmniBaseSegmentInfo *info, OmniRequest *req, const gchar *text,
    const gchar *source_text, const gchar *language,
    const gchar *source_language, gpointer render_data,
    GDestroyNotify destroy, GError **error);

/* Queues a GAP event on every result pad, in order with the results. */
void gst_omni_base_queue_gap (GstOmniBase *base, GstClockTime timestamp,
    GstClockTime duration);

/* Whether requests submitted from now on deliver partial results to
 * result_update (default FALSE). */
void gst_omni_base_set_partial_results (GstOmniBase *base, gboolean partial);

/* The kind of this instance's results (default: the class's text_kind). */
void gst_omni_base_set_text_kind (GstOmniBase *base, GstOmniTextKind kind);

/* Blocks until every queued result of every pad has been handed to its
 * task (for subclasses that need the previous results, e.g. as context).
 * FALSE when flushing. Streaming thread only. */
gboolean gst_omni_base_wait_results (GstOmniBase *base);

/* Adds the media pass-through pad "src" from @templ (call from instance
 * init): the input goes out on it through the returned passthrough (owned
 * by @base; the subclass pushes buffers, holds and resolves regions). The
 * base forwards the input's events to it, answers its CAPS / LATENCY
 * (+latency when live and holding) queries and the sink's CAPS /
 * ALLOCATION queries through its peer, and sends EOS on it (and on
 * unsynced_src) right after the first result pad's EOS. */
GstOmniPassthrough *gst_omni_base_add_media_pad (GstOmniBase *base,
    GstPadTemplate *templ, GstClockTime max_queued);

/* Queues @json (taken, one JSON object) on the "unsynced_src" request pad
 * (the base creates it when the class has that template), at once; dropped
 * when the pad was not requested. Any thread. */
void gst_omni_base_push_unsynced (GstOmniBase *base, gchar *json);

/* One result as the unsynced_src JSON object (one line): seq, kind,
 * partial, text, language, pts, duration, then the fields of @extra (may
 * be NULL; integers, booleans, doubles and strings). */
gchar *gst_omni_base_result_json (GstOmniBase *base,
    const GstOmniBaseResultInfo *info, const OmniResult *result,
    GstClockTime pts, GstClockTime duration, const GstStructure *extra);

/* TRUE when @result is final and has non-empty text. */
gboolean gst_omni_base_result_has_text (const OmniResult *result);

/* Pushes @result as JSON on unsynced_src (gst_omni_base_result_json) when
 * it is partial or has text; @extra may be NULL and stays the caller's. */
void gst_omni_base_push_result_json (GstOmniBase *base,
    const GstOmniBaseResultInfo *info, const OmniResult *result,
    GstClockTime pts, GstClockTime duration, const GstStructure *extra);

/* Resolves @region of @pass with the final @result: @text (kind, pts,
 * running_time, duration, language set by the caller) gets the result's
 * text, the model id and the seq; no text resolves it empty. */
void gst_omni_base_resolve_region (GstOmniBase *base,
    GstOmniPassthrough *pass, guint64 region,
    const GstOmniBaseResultInfo *info, const OmniResult *result,
    GstOmniPassthroughText *text);

/* The monotonic time (us) until which a media buffer may be held: now
 * plus the latency property when @live, 0 (until resolved) otherwise. */
gint64 gst_omni_base_hold_until (GstOmniBase *base, gboolean live);

G_END_DECLS

#endif /* __GST_OMNI_BASE_H__ */
