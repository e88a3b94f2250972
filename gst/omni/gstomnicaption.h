/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * omnicaption: audio in, the same audio out (src, each buffer carrying the
 * GstOmniTextMeta of the segment it belongs to) and timed text out
 * (text_src): transcripts (Qwen3-ASR, Qwen3-Omni Instruct) or audio
 * captions (Qwen3-Omni Captioner) of the segments a voice-activity
 * segmenter cuts at pauses. A request pad unsynced_src has every result,
 * partials included, as JSON the moment it exists.
 */
#ifndef __GST_OMNI_CAPTION_H__
#define __GST_OMNI_CAPTION_H__

#include "gstomnibase.h"

G_BEGIN_DECLS

/* What omnicaption asks the model for. */
typedef enum {
  GST_OMNI_CAPTION_TASK_CAPTION,     /* describe the audio (kind caption) */
  GST_OMNI_CAPTION_TASK_TRANSCRIBE,  /* the words spoken (kind transcript) */
} GstOmniCaptionTask;

#define GST_TYPE_OMNI_CAPTION_TASK (gst_omni_caption_task_get_type ())
/* The GType of GstOmniCaptionTask (nicks "caption", "transcribe"). */
GType gst_omni_caption_task_get_type (void);

#define GST_TYPE_OMNI_CAPTION (gst_omni_caption_get_type ())
G_DECLARE_FINAL_TYPE (GstOmniCaption, gst_omni_caption, GST, OMNI_CAPTION,
    GstOmniBase)

/* Registers the omnicaption element with @plugin. */
gboolean gst_omni_caption_register (GstPlugin *plugin);

G_END_DECLS

#endif /* __GST_OMNI_CAPTION_H__ */
