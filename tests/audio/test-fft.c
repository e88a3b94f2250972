/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The mixed-radix real FFT against a direct DFT in long double. */
#include "audio/fft.h"

#include <math.h>

static void
check_size (int n)
{
  OmniFft *fft = omni_fft_new (n);
  double *x = g_new (double, n);
  double *re = g_new (double, n / 2 + 1), *im = g_new (double, n / 2 + 1);
  GRand *rand = g_rand_new_with_seed (n);
  double err = 0.0, norm = 0.0;

  g_assert_cmpint (omni_fft_size (fft), ==, n);
  for (int j = 0; j < n; j++)
    x[j] = g_rand_double_range (rand, -1.0, 1.0);
  omni_fft_real (fft, x, re, im);
  for (int k = 0; k <= n / 2; k++) {
    long double sr = 0, si = 0;
    for (int j = 0; j < n; j++) {
      long double a = -2.0L * 3.14159265358979323846264338327950288L * ((long) j * k % n) / n;
      sr += x[j] * cosl (a);
      si += x[j] * sinl (a);
    }
    err = MAX (err, fabs ((double) (re[k] - sr)));
    err = MAX (err, fabs ((double) (im[k] - si)));
    norm = MAX (norm, hypot ((double) sr, (double) si));
  }
  g_test_message ("n %d: max abs error %.3g (max |X| %.3g)", n, err, norm);
  g_assert_cmpfloat (err, <=, 1e-13 * MAX (norm, 1.0));
  g_rand_free (rand);
  g_free (x);
  g_free (re);
  g_free (im);
  omni_fft_free (fft);
}

/* Every butterfly: radix 4 and 2 (even sizes), 3, 5, generic 7, 11, 13,
 * and the odd-length complex path. */
static void
test_fft_sizes (void)
{
  static const int sizes[] = { 1, 2, 3, 4, 5, 6, 7, 8, 10, 16, 30, 98, 143, 147, 200,
                               256, 400, 401, 512, 1000, 1024, 2 * 3 * 5 * 7 * 11 };
  for (guint i = 0; i < G_N_ELEMENTS (sizes); i++)
    check_size (sizes[i]);
}

/* A cosine at bin 7 of 400 lands in bin 7 only. */
static void
test_fft_tone (void)
{
  OmniFft *fft = omni_fft_new (400);
  double x[400], re[201], im[201];

  for (int j = 0; j < 400; j++)
    x[j] = cos (2.0 * G_PI * 7 * j / 400);
  omni_fft_real (fft, x, re, im);
  for (int k = 0; k <= 200; k++) {
    double mag = hypot (re[k], im[k]);
    g_assert_cmpfloat (fabs (mag - (k == 7 ? 200.0 : 0.0)), <=, 1e-11);
  }
  omni_fft_free (fft);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/audio/fft/sizes", test_fft_sizes);
  g_test_add_func ("/audio/fft/tone", test_fft_tone);
  return g_test_run ();
}
