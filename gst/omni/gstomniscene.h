/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * GstOmniScene: a cheap measure of how much a picture changed, for
 * omnivl's scene-change looks. A frame of any raw video format becomes a
 * thumbnail of GST_OMNI_SCENE_W x GST_OMNI_SCENE_H luma cells (each the
 * mean luma of its part of the picture over a few sampled rows, full range
 * 0..255 whatever the format's range); two thumbnails differ by the mean
 * |a - b| / 255 of their cells: 0 for the same picture, 1 for black
 * against white.
 */
#ifndef __GST_OMNI_SCENE_H__
#define __GST_OMNI_SCENE_H__

#include <gst/video/video.h>

G_BEGIN_DECLS

#define GST_OMNI_SCENE_W 32
#define GST_OMNI_SCENE_H 18
/* Rows sampled per cell row (evenly spaced inside it). */
#define GST_OMNI_SCENE_ROWS_PER_CELL 4

/* The luma thumbnail of one frame. */
typedef struct {
  guint8 luma[GST_OMNI_SCENE_W * GST_OMNI_SCENE_H];
} GstOmniSceneThumb;

/* Fills @thumb from @frame (mapped for reading, any format with an unpack
 * function: every raw format GStreamer knows). Unpacks only the sampled
 * rows; @scratch is grown as needed (free it with g_free). */
void gst_omni_scene_thumb (const GstVideoFrame *frame,
    GstOmniSceneThumb *thumb, gpointer *scratch, gsize *scratch_size);

/* How much @a and @b differ: the mean of |a - b| / 255 over the cells. */
gdouble gst_omni_scene_difference (const GstOmniSceneThumb *a,
    const GstOmniSceneThumb *b);

G_END_DECLS

#endif /* __GST_OMNI_SCENE_H__ */
