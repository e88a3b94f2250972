/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The resampler against the design stated in resample.h: passband ripple
 * <= 0.001 dB up to 0.95 x the output Nyquist frequency, >= 80 dB stopband
 * from Nyquist up, exact DC gain. A tone is fitted with a sine of the
 * expected frequency: the fitted amplitude checks the gain, the residual
 * checks frequency, timing and aliasing together. */
#include "audio/resample.h"
#include "omnicore.h"

#include <math.h>
#include <string.h>

#define PASS_RIPPLE 1.1513e-4  /* 0.001 dB as a relative amplitude error */
#define STOP 1e-4              /* -80 dB */

static float *
tone (int rate, double hz, double amp, gsize n)
{
  float *x = g_new (float, n);
  for (gsize i = 0; i < n; i++)
    x[i] = (float) (amp * sin (2.0 * G_PI * hz * i / rate + 0.3));
  return x;
}

/* Least-squares fit of a cos + b sin at @hz over y[lo, hi): returns the
 * amplitude, and the RMS of what the fit leaves in *@residual. */
static double
fit_tone (const float *y, gsize lo, gsize hi, int rate, double hz, double *residual)
{
  double cc = 0, ss = 0, cs = 0, yc = 0, ys = 0;
  for (gsize i = lo; i < hi; i++) {
    double c = cos (2.0 * G_PI * hz * i / rate), s = sin (2.0 * G_PI * hz * i / rate);
    cc += c * c; ss += s * s; cs += c * s; yc += y[i] * c; ys += y[i] * s;
  }
  double det = cc * ss - cs * cs;
  double a = (yc * ss - ys * cs) / det, b = (ys * cc - yc * cs) / det;
  double r = 0;
  for (gsize i = lo; i < hi; i++) {
    double e = y[i] - a * cos (2.0 * G_PI * hz * i / rate) - b * sin (2.0 * G_PI * hz * i / rate);
    r += e * e;
  }
  *residual = sqrt (r / (hi - lo));
  return hypot (a, b);
}

/* A tone at @hz resampled from @rate_in to 16 kHz keeps frequency and
 * amplitude. */
static void
check_pass (int rate_in, double hz)
{
  const double amp = 0.5;
  gsize n_in = rate_in, n_out;
  float *x = tone (rate_in, hz, amp, n_in);
  GError *error = NULL;
  float *y = omni_resample (x, n_in, rate_in, 16000, &n_out, &error);

  g_assert_no_error (error);
  g_assert_cmpint (n_out, ==, 16000);
  double res, a = fit_tone (y, 1000, n_out - 1000, 16000, hz, &res);
  g_print ("# %6d Hz -> 16 kHz, %6.0f Hz tone: gain error %.2e (%.5f dB), residual %.1f dB\n",
           rate_in, hz, a / amp - 1, 20 * log10 (a / amp), 20 * log10 (res / amp));
  g_assert_cmpfloat (fabs (a / amp - 1), <=, PASS_RIPPLE);
  g_assert_cmpfloat (res / amp, <=, STOP);
  g_free (x);
  g_free (y);
}

static void
test_1k_44100 (void)
{
  check_pass (44100, 1000.0);
}

static void
test_passband_edge_48000 (void)
{
  check_pass (48000, 7500.0);
}

static void
test_upsample_8000 (void)
{
  check_pass (8000, 1000.0);
  check_pass (8000, 3790.0);
}

/* 44101 / 16000 have no common factor: phases are blended. */
static void
test_odd_rate (void)
{
  check_pass (44101, 1000.0);
  check_pass (22050, 7000.0);
}

/* Above the output's Nyquist frequency nothing may come through (it would
 * alias to 16000 - hz). */
static void
test_stopband (void)
{
  static const double freqs[] = { 8000.0, 9000.0, 12000.0, 20000.0 };
  for (guint i = 0; i < G_N_ELEMENTS (freqs); i++) {
    gsize n_out;
    float *x = tone (48000, freqs[i], 0.5, 48000);
    float *y = omni_resample (x, 48000, 48000, 16000, &n_out, NULL);
    double e = 0;
    for (gsize k = 1000; k < n_out - 1000; k++)
      e += (double) y[k] * y[k];
    double rms = sqrt (e / (n_out - 2000));
    g_print ("# 48 kHz -> 16 kHz, %5.0f Hz tone: %.1f dB left\n", freqs[i],
             20 * log10 (rms / (0.5 / sqrt (2))));
    g_assert_cmpfloat (rms / (0.5 / sqrt (2)), <=, STOP);
    g_free (x);
    g_free (y);
  }
}

static void
test_dc_and_lengths (void)
{
  GError *error = NULL;
  gsize n_out;
  float x[22050];

  for (int i = 0; i < 22050; i++)
    x[i] = 0.3f;
  float *y = omni_resample (x, 22050, 22050, 16000, &n_out, &error);
  g_assert_cmpint (n_out, ==, 16000);
  for (gsize k = 500; k < n_out - 500; k++)
    g_assert_cmpfloat (fabs (y[k] - 0.3f), <=, 1e-6);
  g_free (y);

  y = omni_resample (x, 100, 16000, 16000, &n_out, &error);
  g_assert_cmpint (n_out, ==, 100);
  g_assert_cmpmem (y, 100 * sizeof (float), x, 100 * sizeof (float));
  g_free (y);
  y = omni_resample (x, 0, 44100, 16000, &n_out, &error);
  g_assert_nonnull (y);
  g_assert_cmpint (n_out, ==, 0);
  g_free (y);
  y = omni_resample (x, 1, 44100, 16000, &n_out, &error);
  g_assert_cmpint (n_out, ==, 1);
  g_free (y);
  y = omni_resample (x, 441, 44100, 16000, &n_out, &error);
  g_assert_cmpint (n_out, ==, 160);
  g_free (y);
  y = omni_resample (x, 442, 44100, 16000, &n_out, &error);
  g_assert_cmpint (n_out, ==, 161);
  g_free (y);
  g_assert_no_error (error);

  static const int bad[][2] = { { 0, 16000 }, { 999, 16000 }, { 44100, 0 }, { 384001, 16000 },
                                { -44100, 16000 } };
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++) {
    g_assert_null (omni_resample (x, 10, bad[i][0], bad[i][1], &n_out, &error));
    g_assert_error (error, OMNI_ERROR, OMNI_ERROR_INVALID);
    g_assert_nonnull (strstr (error->message, "rates must lie in"));
    g_clear_error (&error);
  }
}

static void
test_speed (void)
{
  gsize n = 30 * 44100, n_out;
  float *x = tone (44100, 440.0, 0.5, n);
  gint64 t0 = g_get_monotonic_time ();
  float *y = omni_resample (x, n, 44100, 16000, &n_out, NULL);
  g_print ("# resample 30 s 44.1 kHz -> 16 kHz: %.1f ms\n",
           (g_get_monotonic_time () - t0) / 1000.0);
  g_assert_cmpint (n_out, ==, 480000);
  g_free (x);
  g_free (y);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/audio/resample/1k-44100", test_1k_44100);
  g_test_add_func ("/audio/resample/passband-edge-48000", test_passband_edge_48000);
  g_test_add_func ("/audio/resample/upsample-8000", test_upsample_8000);
  g_test_add_func ("/audio/resample/odd-rate", test_odd_rate);
  g_test_add_func ("/audio/resample/stopband", test_stopband);
  g_test_add_func ("/audio/resample/dc-and-lengths", test_dc_and_lengths);
  g_test_add_func ("/audio/resample/speed", test_speed);
  return g_test_run ();
}
