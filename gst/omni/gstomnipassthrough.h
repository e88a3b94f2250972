/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * GstOmniPassthrough: a source pad that passes the input media through,
 * buffers and serialized events in order, from its own task, holding each
 * buffer until the text about its stretch of time is known so that it can
 * carry the GstOmniTextMeta of that text. omnicaption passes its audio
 * through it (and omnivl its video).
 *
 * The subclass describes time with "regions": the stretch a request is
 * about (add_region when the request is made, resolve when its result is
 * final) and a watermark (no region not yet added starts before it). A
 * buffer [start, end) leaves when end <= watermark and every region it
 * overlaps is resolved, or when its hold deadline has passed (live), or at
 * once when holding is off. Plain struct, no GObject: the element owns it.
 */
#ifndef __GST_OMNI_PASSTHROUGH_H__
#define __GST_OMNI_PASSTHROUGH_H__

#include <gst/gst.h>

#include "gstomnitextmeta.h"

G_BEGIN_DECLS

typedef struct _GstOmniPassthrough GstOmniPassthrough;

/* The text a resolved region gives the buffers it overlaps (copied). */
typedef struct {
  GstOmniTextKind kind;
  const gchar *text;
  const gchar *language;       /* may be NULL */
  const gchar *model_id;       /* may be NULL */
  GstClockTime pts, running_time, duration;
  guint64 seq;
} GstOmniPassthroughText;

/* Takes over @pad's activation (its task runs while the pad is active).
 * @max_queued: the buffered time (ns) above which push_buffer() blocks
 * while the head can leave (backpressure); 0: never blocks. */
GstOmniPassthrough *gst_omni_passthrough_new (GstPad *pad,
    GstClockTime max_queued);
/* Frees @pt (NULL is ignored); its pad must be inactive. */
void gst_omni_passthrough_free (GstOmniPassthrough *pt);

/* Holding on (buffers wait for their regions) or off (they leave at once). */
void gst_omni_passthrough_set_hold (GstOmniPassthrough *pt, gboolean hold);
/* Whether holding is on (a held pad adds latency to a live pipeline). */
gboolean gst_omni_passthrough_get_hold (GstOmniPassthrough *pt);

/* Queues @buffer (taken) about [@start, @end) (stream time; NONE: leaves
 * at once) to be pushed no later than @hold_until_us (monotonic; 0: wait
 * for its regions however long). Returns FLUSHING or a downstream error
 * (not EOS or NOT_LINKED: the element's other pads may still be wanted). */
GstFlowReturn gst_omni_passthrough_push_buffer (GstOmniPassthrough *pt,
    GstBuffer *buffer, GstClockTime start, GstClockTime end,
    gint64 hold_until_us);
/* Queues a serialized @event (taken) in order with the buffers; pushes a
 * non-serialized one at once; FLUSH_START / FLUSH_STOP flush the queue and
 * the regions (the watermark goes back to 0). */
void gst_omni_passthrough_push_event (GstOmniPassthrough *pt,
    GstEvent *event);

/* A region [@start, @end) whose text is not known yet; returns its id. */
guint64 gst_omni_passthrough_add_region (GstOmniPassthrough *pt,
    GstClockTime start, GstClockTime end);
/* The result of region @id is final: @text (NULL: none, e.g. an error) is
 * attached to the buffers it overlaps. Unknown ids are ignored. */
void gst_omni_passthrough_resolve (GstOmniPassthrough *pt, guint64 id,
    const GstOmniPassthroughText *text);
/* No region not yet added will start before @watermark (GST_CLOCK_TIME_NONE:
 * none will come, e.g. at EOS). Never moves back (until a flush). */
void gst_omni_passthrough_set_watermark (GstOmniPassthrough *pt,
    GstClockTime watermark);

G_END_DECLS

#endif /* __GST_OMNI_PASSTHROUGH_H__ */
