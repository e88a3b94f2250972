/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The "omni" plugin: the Qwen-powered elements (omnicaption, omnitranslate,
 * omnivl) register here as they land.
 */
#include <gst/gst.h>

#include "gstomnicaption.h"
#include "gstomnitextmeta.h"
#include "gstomnitranslate.h"
#include "gstomnivl.h"

GST_DEBUG_CATEGORY_STATIC (gst_omni_debug);
#define GST_CAT_DEFAULT gst_omni_debug

static gboolean
plugin_init (GstPlugin *plugin)
{
  GST_DEBUG_CATEGORY_INIT (gst_omni_debug, "omni", 0,
      "gst-omni plugin (Qwen models in GStreamer pipelines)");

  /* Elements attach GstOmniTextMeta from streaming threads; register the
   * API type and its GstMetaInfo once, up front, on the loading thread. */
  gst_omni_text_meta_get_info ();
  GST_DEBUG ("registered meta API %s",
      g_type_name (GST_OMNI_TEXT_META_API_TYPE));
  return gst_omni_translate_register (plugin)
      && gst_omni_caption_register (plugin)
      && gst_omni_vl_register (plugin);
}

GST_PLUGIN_DEFINE (GST_VERSION_MAJOR, GST_VERSION_MINOR, omni,
    "Qwen multimodal models in GStreamer pipelines: captions, "
    "translations and descriptions as text buffers and GstOmniTextMeta",
    plugin_init, VERSION, GST_LICENSE, GST_PACKAGE_NAME, GST_PACKAGE_ORIGIN)
