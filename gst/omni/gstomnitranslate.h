/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * omnitranslate: timed text in, the same segments translated into one or
 * more languages out (one src pad per language), with a Qwen3 instruct
 * model prompted the way Qwen-MT is used (terms, domain, memory, context).
 */
#ifndef __GST_OMNI_TRANSLATE_H__
#define __GST_OMNI_TRANSLATE_H__

#include "gstomnibase.h"

G_BEGIN_DECLS

#define GST_TYPE_OMNI_TRANSLATE (gst_omni_translate_get_type ())
G_DECLARE_FINAL_TYPE (GstOmniTranslate, gst_omni_translate, GST,
    OMNI_TRANSLATE, GstOmniBase)

/* A result pad of omnitranslate, with its "language-code" property. */
#define GST_TYPE_OMNI_TRANSLATE_PAD (gst_omni_translate_pad_get_type ())
G_DECLARE_FINAL_TYPE (GstOmniTranslatePad, gst_omni_translate_pad, GST,
    OMNI_TRANSLATE_PAD, GstOmniBaseSrcPad)

/* Registers the omnitranslate element with @plugin. */
gboolean gst_omni_translate_register (GstPlugin *plugin);

G_END_DECLS

#endif /* __GST_OMNI_TRANSLATE_H__ */
