/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Shared by the vision tests: the synthetic picture of
 * make_vision_fixture.py, PNG decoding (gdk-pixbuf, tests only), fixture
 * paths and the element-wise comparison with its statistics. */
#ifndef TESTS_VISION_FIXTURE_H
#define TESTS_VISION_FIXTURE_H

#include <gdk-pixbuf/gdk-pixbuf.h>
#include <glib.h>
#include <math.h>
#include <string.h>

/* make_vision_fixture.py's pixel(): a 32-bit hash on a checkerboard of
 * solid 8x8 blocks. */
static inline guint8
fixture_pixel (guint32 x, guint32 y, guint32 c, guint32 f)
{
  guint32 h = x * 374761393u + y * 668265263u + c * 2147483647u + f * 1103515245u;
  h = (h ^ (h >> 13)) * 1274126177u;
  guint8 v = (guint8) ((h >> 16) & 255);
  if (((x / 8) + (y / 8)) % 2 == 0)
    v = (guint8) (((x / 8) * 97 + (y / 8) * 41 + c * 60) & 255);
  return v;
}

/* The synthetic picture @w x @h of frame @f, rows @stride bytes apart (the
 * padding filled with 0xEE so that reading it would show). g_free it. */
static inline guint8 *
fixture_picture (int w, int h, int f, gsize stride)
{
  guint8 *p = g_malloc (stride * h);
  memset (p, 0xEE, stride * h);
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++)
      for (int c = 0; c < 3; c++)
        p[(gsize) y * stride + x * 3 + c] = fixture_pixel (x, y, c, f);
  return p;
}

/* A path under the tests source dir. g_free it. */
static inline char *
fixture_path (const char *a, const char *b, const char *c)
{
  return g_build_filename (g_getenv ("OMNI_TEST_SRCDIR"), a, b, c, NULL);
}

/* Decodes an 8-bit RGB PNG; its pixels stay owned by the returned pixbuf
 * (g_object_unref it). Aborts the test when the file cannot be read. */
static inline GdkPixbuf *
fixture_png (const char *path)
{
  GError *error = NULL;
  GdkPixbuf *pb = gdk_pixbuf_new_from_file (path, &error);
  if (pb == NULL)
    g_error ("%s: %s", path, error->message);
  g_assert_cmpint (gdk_pixbuf_get_bits_per_sample (pb), ==, 8);
  g_assert_false (gdk_pixbuf_get_has_alpha (pb));
  g_assert_cmpint (gdk_pixbuf_get_n_channels (pb), ==, 3);
  return pb;
}

typedef struct {
  double max_abs;  /* largest |got - want| */
  gsize above;     /* elements with |got - want| > 1e-3 */
  gsize n;
} FixtureDiff;

/* Compares @n floats and logs the statistics under @what. */
static inline FixtureDiff
fixture_compare (const char *what, const float *got, const float *want, gsize n)
{
  FixtureDiff d = { 0.0, 0, n };
  for (gsize i = 0; i < n; i++) {
    double e = fabs ((double) got[i] - (double) want[i]);
    if (!(e <= d.max_abs))
      d.max_abs = isnan (e) ? INFINITY : e;
    if (!(e <= 1e-3))
      d.above++;
  }
  g_test_message ("%s: %" G_GSIZE_FORMAT " values, max abs error %.3g, %" G_GSIZE_FORMAT
                  " above 1e-3", what, n, d.max_abs, d.above);
  return d;
}

#endif /* TESTS_VISION_FIXTURE_H */
