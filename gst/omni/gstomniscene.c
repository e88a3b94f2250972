/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The scene measure. Each sampled row is unpacked by the format's own
 * unpack function into AYUV / ARGB (8 or 16 bits a component), so planar,
 * packed, subsampled and deep formats all work the same way; luma is Y (or
 * BT.601 weights of R, G, B for RGB formats), stretched to full range when
 * the stream is limited range (16..235), so a threshold means the same for
 * I420 and RGB input.
 */
#include "gstomniscene.h"

#include <string.h>

/* Luma 0..255 of pixel @x of an unpacked row. */
static guint
unpacked_luma (const GstVideoFormatInfo *finfo, gconstpointer row, gint x)
{
  gboolean yuv = GST_VIDEO_FORMAT_INFO_IS_YUV (finfo)
      || GST_VIDEO_FORMAT_INFO_IS_GRAY (finfo);
  guint c1, c2, c3;

  if (GST_VIDEO_FORMAT_INFO_DEPTH (finfo, 0) > 8) {
    const guint16 *p = (const guint16 *) row + 4 * x;

    c1 = p[1] >> 8;
    c2 = p[2] >> 8;
    c3 = p[3] >> 8;
  } else {
    const guint8 *p = (const guint8 *) row + 4 * x;

    c1 = p[1];
    c2 = p[2];
    c3 = p[3];
  }
  if (yuv)
    return c1;
  return (77 * c1 + 150 * c2 + 29 * c3 + 128) >> 8;
}

/* Unpacks row @y of @frame into @dest. */
static void
unpack_row (const GstVideoFrame *frame, gint y, gpointer dest)
{
  const GstVideoFormatInfo *finfo = frame->info.finfo;
  gint stride[GST_VIDEO_MAX_PLANES];

  for (guint i = 0; i < GST_VIDEO_MAX_PLANES; i++)
    stride[i] = GST_VIDEO_FRAME_PLANE_STRIDE (frame, i);
  finfo->unpack_func (finfo, GST_VIDEO_PACK_FLAG_NONE, dest,
      (const gpointer *) frame->data, stride, 0, y,
      GST_VIDEO_FRAME_WIDTH (frame));
}

/* Full-range luma of the limited-range value @v. */
static guint
full_range (guint v)
{
  v = CLAMP (v, 16, 235);
  return ((v - 16) * 255 + 109) / 219;
}

void
gst_omni_scene_thumb (const GstVideoFrame *frame, GstOmniSceneThumb *thumb,
    gpointer *scratch, gsize *scratch_size)
{
  const GstVideoFormatInfo *finfo = frame->info.finfo;
  gint w = GST_VIDEO_FRAME_WIDTH (frame), h = GST_VIDEO_FRAME_HEIGHT (frame);
  gsize row_size = (gsize) w * 4 * (GST_VIDEO_FORMAT_INFO_DEPTH (finfo, 0)
      > 8 ? 2 : 1);
  gboolean limited = frame->info.colorimetry.range
      == GST_VIDEO_COLOR_RANGE_16_235;
  guint64 sum[GST_OMNI_SCENE_W];
  guint64 count[GST_OMNI_SCENE_W];

  if (*scratch_size < row_size) {
    *scratch = g_realloc (*scratch, row_size);
    *scratch_size = row_size;
  }
  for (gint cy = 0; cy < GST_OMNI_SCENE_H; cy++) {
    memset (sum, 0, sizeof (sum));
    memset (count, 0, sizeof (count));
    for (gint r = 0; r < GST_OMNI_SCENE_ROWS_PER_CELL; r++) {
      /* row r of cell row cy: the centres of equal strips */
      gint y = (gint) (((gint64) (cy * GST_OMNI_SCENE_ROWS_PER_CELL + r) * 2
              + 1) * h / (2 * GST_OMNI_SCENE_H
              * GST_OMNI_SCENE_ROWS_PER_CELL));

      unpack_row (frame, MIN (y, h - 1), *scratch);
      for (gint x = 0; x < w; x++) {
        gint cx = (gint) ((gint64) x * GST_OMNI_SCENE_W / w);

        sum[cx] += unpacked_luma (finfo, *scratch, x);
        count[cx]++;
      }
    }
    for (gint cx = 0; cx < GST_OMNI_SCENE_W; cx++) {
      guint v = count[cx] ? (guint) ((sum[cx] + count[cx] / 2) / count[cx])
          : 0;

      thumb->luma[cy * GST_OMNI_SCENE_W + cx] = limited ? full_range (v) : v;
    }
  }
}

gdouble
gst_omni_scene_difference (const GstOmniSceneThumb *a,
    const GstOmniSceneThumb *b)
{
  guint64 total = 0;

  for (guint i = 0; i < G_N_ELEMENTS (a->luma); i++)
    total += ABS ((gint) a->luma[i] - (gint) b->luma[i]);
  return (gdouble) total / (255.0 * G_N_ELEMENTS (a->luma));
}
