/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Separable antialiased bicubic resize in fixed point (see resize.h for the
 * reference it matches bit for bit). */
#include "vision/resize.h"
#include "omnicore.h"

#include <math.h>
#include <string.h>

/* One axis: for each output index, the first tap, the tap count and
 * n_taps int weights (the unused tail zero). */
typedef struct {
  int n_out, n_taps, precision;
  gint32 *first, *count, *weights;
} Axis;

static double
support_of (int n_in, int n_out)
{
  double scale = (double) n_in / n_out;
  return scale >= 1.0 ? 2.0 * scale : 2.0;
}

static int
taps_of (int n_in, int n_out)
{
  return (int) ceil (support_of (n_in, n_out)) * 2 + 1;
}

/* Keys' cubic convolution kernel with a = -0.5. */
static double
keys_cubic (double x)
{
  const double a = -0.5;

  x = fabs (x);
  if (x < 1.0)
    return ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0;
  if (x < 2.0)
    return ((a * x - 5.0 * a) * x + 8.0 * a) * x - 4.0 * a;
  return 0.0;
}

/* The double weights of output @i into @w (n_taps long); returns their max. */
static double
axis_weights (int n_in, int n_out, int n_taps, int i, double *w, gint32 *first, gint32 *count)
{
  double scale = (double) n_in / n_out, support = support_of (n_in, n_out);
  double center = scale * (i + 0.5), invscale = scale >= 1.0 ? 1.0 / scale : 1.0;
  gint64 lo = MAX ((gint64) (center - support + 0.5), 0);
  gint64 n = MIN ((gint64) (center + support + 0.5), (gint64) n_in) - lo;
  double total = 0.0, wmax = 0.0;

  n = CLAMP (n, 0, n_taps);
  for (int j = 0; j < n; j++) {
    w[j] = keys_cubic (((double) (j + lo) - center + 0.5) * invscale);
    total += w[j];
  }
  for (int j = 0; j < n; j++) {
    if (total != 0.0)
      w[j] /= total;
    wmax = MAX (wmax, w[j]);
  }
  for (int j = (int) n; j < n_taps; j++)
    w[j] = 0.0;
  *first = (gint32) lo;
  *count = (gint32) n;
  return wmax;
}

/* Fills @ax (tables already pointing into scratch); @tmp holds n_out *
 * n_taps doubles. */
static void
axis_init (Axis *ax, int n_in, int n_out, double *tmp)
{
  double wmax = 0.0;
  int p;

  ax->n_out = n_out;
  ax->n_taps = taps_of (n_in, n_out);
  for (int i = 0; i < n_out; i++)
    wmax = MAX (wmax, axis_weights (n_in, n_out, ax->n_taps, i, tmp + (gsize) i * ax->n_taps,
                                    &ax->first[i], &ax->count[i]));
  for (p = 0; p < 22; p++)
    if ((int) (0.5 + wmax * (double) (1 << (p + 1))) >= (1 << 15))
      break;
  ax->precision = p;
  for (gsize k = 0; k < (gsize) n_out * ax->n_taps; k++) {
    double v = tmp[k] * (double) (1 << p);
    ax->weights[k] = v < 0 ? (gint32) (-0.5 + v) : (gint32) (0.5 + v);
  }
}

static inline guint8
fixed_to_u8 (gint32 acc, int precision)
{
  if (acc < 0)
    return 0;
  acc >>= precision;
  return (guint8) (acc > 255 ? 255 : acc);
}

/* Rows of @src_h RGB pixels, resampled along x. */
static void
pass_horizontal (const Axis *ax, const guint8 *src, gsize src_stride, int rows, guint8 *dst,
                 gsize dst_stride)
{
  const gint32 half = 1 << (ax->precision - 1);

  for (int y = 0; y < rows; y++) {
    const guint8 *s = src + (gsize) y * src_stride;
    guint8 *d = dst + (gsize) y * dst_stride;
    for (int x = 0; x < ax->n_out; x++) {
      const gint32 *w = ax->weights + (gsize) x * ax->n_taps;
      const guint8 *p = s + (gsize) ax->first[x] * 3;
      gint32 r = half, g = half, b = half;
      for (int k = 0; k < ax->count[x]; k++) {
        r += w[k] * p[3 * k];
        g += w[k] * p[3 * k + 1];
        b += w[k] * p[3 * k + 2];
      }
      d[3 * x] = fixed_to_u8 (r, ax->precision);
      d[3 * x + 1] = fixed_to_u8 (g, ax->precision);
      d[3 * x + 2] = fixed_to_u8 (b, ax->precision);
    }
  }
}

/* Whole rows of @bytes bytes, resampled along y; @acc holds @bytes int32. */
static void
pass_vertical (const Axis *ax, const guint8 *src, gsize src_stride, int bytes, guint8 *dst,
               gsize dst_stride, gint32 *acc)
{
  const gint32 half = 1 << (ax->precision - 1);

  for (int y = 0; y < ax->n_out; y++) {
    const gint32 *w = ax->weights + (gsize) y * ax->n_taps;
    guint8 *d = dst + (gsize) y * dst_stride;
    for (int i = 0; i < bytes; i++)
      acc[i] = half;
    for (int k = 0; k < ax->count[y]; k++) {
      const guint8 *s = src + (gsize) (ax->first[y] + k) * src_stride;
      const gint32 wk = w[k];
      for (int i = 0; i < bytes; i++)
        acc[i] += wk * s[i];
    }
    for (int i = 0; i < bytes; i++)
      d[i] = fixed_to_u8 (acc[i], ax->precision);
  }
}

/* Scratch layout: per axis first, count, weights (int32); the double
 * weights while building (reused as the vertical accumulator row); the
 * intermediate image. */
static gsize
axis_ints (int n_in, int n_out)
{
  return (gsize) n_out * (2 + taps_of (n_in, n_out));
}

static gsize
double_slots (int src_w, int src_h, int dst_w, int dst_h)
{
  gsize a = (gsize) dst_w * taps_of (src_w, dst_w), b = (gsize) dst_h * taps_of (src_h, dst_h);
  gsize acc = ((gsize) dst_w * 3 + 1) / 2;
  return MAX (MAX (a, b), acc);
}

gsize
omni_image_resize_scratch_size (int src_w, int src_h, int dst_w, int dst_h)
{
  if (src_w < 1 || src_h < 1 || dst_w < 1 || dst_h < 1)
    return 0;
  return (axis_ints (src_w, dst_w) + axis_ints (src_h, dst_h)) * sizeof (gint32) +
         double_slots (src_w, src_h, dst_w, dst_h) * sizeof (double) +
         (gsize) src_h * dst_w * 3;
}

static void
axis_place (Axis *ax, gint32 **cursor, int n_in, int n_out)
{
  ax->first = *cursor;
  ax->count = ax->first + n_out;
  ax->weights = ax->count + n_out;
  *cursor += axis_ints (n_in, n_out);
}

static gboolean
check_args (const guint8 *src, int src_w, int src_h, gsize src_stride, guint8 *dst, int dst_w,
            int dst_h, gsize dst_stride, gpointer scratch, GError **error)
{
  if (src == NULL || dst == NULL || scratch == NULL) {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_INVALID,
                 "image resize: %s is NULL", src == NULL ? "the source" : dst == NULL
                 ? "the destination" : "the scratch");
    return FALSE;
  }
  if (src_w < 1 || src_h < 1 || dst_w < 1 || dst_h < 1 || src_w > G_MAXINT / 3 ||
      dst_w > G_MAXINT / 3) {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_INVALID,
                 "image resize: %dx%d -> %dx%d (expected sizes of at least 1x1)", src_w, src_h,
                 dst_w, dst_h);
    return FALSE;
  }
  if (src_stride < (gsize) src_w * 3 || dst_stride < (gsize) dst_w * 3) {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_INVALID,
                 "image resize: row stride %" G_GSIZE_FORMAT " (source) / %" G_GSIZE_FORMAT
                 " (destination) is below 3 bytes per pixel (%d / %d)", src_stride, dst_stride,
                 src_w * 3, dst_w * 3);
    return FALSE;
  }
  return TRUE;
}

gboolean
omni_image_resize (const guint8 *src, int src_w, int src_h, gsize src_stride, guint8 *dst,
                   int dst_w, int dst_h, gsize dst_stride, gpointer scratch, GError **error)
{
  Axis ax_x, ax_y;
  gint32 *cursor = scratch;

  if (!check_args (src, src_w, src_h, src_stride, dst, dst_w, dst_h, dst_stride, scratch, error))
    return FALSE;
  axis_place (&ax_x, &cursor, src_w, dst_w);
  axis_place (&ax_y, &cursor, src_h, dst_h);
  double *dbl = (double *) cursor;
  guint8 *mid = (guint8 *) (dbl + double_slots (src_w, src_h, dst_w, dst_h));
  gsize mid_stride = (gsize) dst_w * 3;

  if (src_w == dst_w && src_h == dst_h) {
    for (int y = 0; y < src_h; y++)
      memcpy (dst + (gsize) y * dst_stride, src + (gsize) y * src_stride, (gsize) src_w * 3);
    return TRUE;
  }
  if (src_w != dst_w) {
    axis_init (&ax_x, src_w, dst_w, dbl);
    if (src_h == dst_h) {
      pass_horizontal (&ax_x, src, src_stride, src_h, dst, dst_stride);
      return TRUE;
    }
    pass_horizontal (&ax_x, src, src_stride, src_h, mid, mid_stride);
    src = mid;
    src_stride = mid_stride;
  }
  axis_init (&ax_y, src_h, dst_h, dbl);
  pass_vertical (&ax_y, src, src_stride, dst_w * 3, dst, dst_stride, (gint32 *) dbl);
  return TRUE;
}
