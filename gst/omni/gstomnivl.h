/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * omnivl: video in, the same video out (src, the frames it described
 * carrying GstOmniTextMeta) and timed descriptions or answers out
 * (text_src) from Qwen3-VL or Qwen3-Omni: one frame every "interval", on a
 * scene change, or the last "clip-duration" seconds as a clip. A request
 * pad unsynced_src has every result as JSON the moment it exists.
 */
#ifndef __GST_OMNI_VL_H__
#define __GST_OMNI_VL_H__

#include "gstomnibase.h"

G_BEGIN_DECLS

#define GST_TYPE_OMNI_VL (gst_omni_vl_get_type ())
G_DECLARE_FINAL_TYPE (GstOmniVl, gst_omni_vl, GST, OMNI_VL, GstOmniBase)

/* Registers the omnivl element with @plugin. */
gboolean gst_omni_vl_register (GstPlugin *plugin);

G_END_DECLS

#endif /* __GST_OMNI_VL_H__ */
