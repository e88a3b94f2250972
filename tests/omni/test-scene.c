/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * GstOmniScene: thumbnails and differences of synthetic pictures, the same
 * picture in many raw formats (converted with GstVideoConverter) measuring
 * the same, and the documented scale (0 same, 1 black vs white, 0.5 half).
 */
#include <gst/gst.h>
#include <gst/video/video.h>

#include "gstomniscene.h"

#define W 96
#define H 54

/* An RGB picture: the left @white_cols columns white, the rest black. */
static GstBuffer *
rgb_picture (GstVideoInfo *info, gint white_cols)
{
  GstBuffer *buf;
  GstVideoFrame f;

  gst_video_info_set_format (info, GST_VIDEO_FORMAT_RGB, W, H);
  buf = gst_buffer_new_allocate (NULL, GST_VIDEO_INFO_SIZE (info), NULL);
  g_assert_true (gst_video_frame_map (&f, info, buf, GST_MAP_WRITE));
  for (gint y = 0; y < H; y++) {
    guint8 *row = (guint8 *) GST_VIDEO_FRAME_PLANE_DATA (&f, 0)
        + y * GST_VIDEO_FRAME_PLANE_STRIDE (&f, 0);

    for (gint x = 0; x < W; x++)
      row[3 * x] = row[3 * x + 1] = row[3 * x + 2] = x < white_cols ? 255 : 0;
  }
  gst_video_frame_unmap (&f);
  return buf;
}

/* The thumbnail of @white_cols white columns in @format. */
static void
thumb_in (GstVideoFormat format, gint white_cols, GstOmniSceneThumb *t)
{
  GstVideoInfo rgb, out;
  GstBuffer *src = rgb_picture (&rgb, white_cols), *dst;
  GstVideoConverter *conv;
  GstVideoFrame in, o;
  gpointer scratch = NULL;
  gsize scratch_size = 0;

  gst_video_info_set_format (&out, format, W, H);
  conv = gst_video_converter_new (&rgb, &out, NULL);
  g_assert_nonnull (conv);
  dst = gst_buffer_new_allocate (NULL, GST_VIDEO_INFO_SIZE (&out), NULL);
  g_assert_true (gst_video_frame_map (&in, &rgb, src, GST_MAP_READ));
  g_assert_true (gst_video_frame_map (&o, &out, dst, GST_MAP_READWRITE));
  gst_video_converter_frame (conv, &in, &o);
  gst_video_frame_unmap (&in);
  gst_omni_scene_thumb (&o, t, &scratch, &scratch_size);
  gst_video_frame_unmap (&o);
  g_free (scratch);
  gst_video_converter_free (conv);
  gst_buffer_unref (src);
  gst_buffer_unref (dst);
}

static void
test_scale (void)
{
  GstOmniSceneThumb black, white, half, black2;

  thumb_in (GST_VIDEO_FORMAT_RGB, 0, &black);
  thumb_in (GST_VIDEO_FORMAT_RGB, 0, &black2);
  thumb_in (GST_VIDEO_FORMAT_RGB, W, &white);
  thumb_in (GST_VIDEO_FORMAT_RGB, W / 2, &half);
  g_assert_cmpfloat (gst_omni_scene_difference (&black, &black2), ==, 0.0);
  g_assert_cmpfloat_with_epsilon (gst_omni_scene_difference (&black, &white),
      1.0, 1e-9);
  g_assert_cmpfloat_with_epsilon (gst_omni_scene_difference (&black, &half),
      0.5, 1e-9);
  /* the thumbnail keeps where the change is: left cells white */
  g_assert_cmpuint (half.luma[0], ==, 255);
  g_assert_cmpuint (half.luma[GST_OMNI_SCENE_W - 1], ==, 0);
}

/* Every format measures the same picture alike (limited-range YUV is
 * stretched to full range; 4:2:0 / 4:2:2 / packed / deep formats). */
static void
test_formats (void)
{
  static const GstVideoFormat formats[] = {
    GST_VIDEO_FORMAT_I420, GST_VIDEO_FORMAT_NV12, GST_VIDEO_FORMAT_YUY2,
    GST_VIDEO_FORMAT_BGRx, GST_VIDEO_FORMAT_GRAY8, GST_VIDEO_FORMAT_I420_10LE,
    GST_VIDEO_FORMAT_RGB16, GST_VIDEO_FORMAT_AYUV,
  };
  GstOmniSceneThumb ref_black, ref_half, black, half;

  thumb_in (GST_VIDEO_FORMAT_RGB, 0, &ref_black);
  thumb_in (GST_VIDEO_FORMAT_RGB, W / 2, &ref_half);
  for (guint i = 0; i < G_N_ELEMENTS (formats); i++) {
    gdouble d;

    thumb_in (formats[i], 0, &black);
    thumb_in (formats[i], W / 2, &half);
    d = gst_omni_scene_difference (&black, &half);
    g_test_message ("%s: black vs half %.4f, vs RGB %.4f / %.4f",
        gst_video_format_to_string (formats[i]), d,
        gst_omni_scene_difference (&black, &ref_black),
        gst_omni_scene_difference (&half, &ref_half));
    g_assert_cmpfloat (ABS (d - 0.5), <, 0.01);
    g_assert_cmpfloat (gst_omni_scene_difference (&black, &ref_black), <,
        0.01);
    g_assert_cmpfloat (gst_omni_scene_difference (&half, &ref_half), <, 0.01);
  }
}

int
main (int argc, char **argv)
{
  gst_init (&argc, &argv);
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/scene/scale", test_scale);
  g_test_add_func ("/scene/formats", test_formats);
  return g_test_run ();
}
