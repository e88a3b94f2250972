/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A bank of filter phases: output k lies at input time k rate_in / rate_out,
 * whose fractional part takes L = rate_out / gcd values. With L <= MAX_PHASES
 * every phase is stored exactly; otherwise MAX_PHASES + 1 phases are stored
 * and adjacent ones are blended linearly (timing error < 1e-6 sample). */
#include "audio/resample.h"
#include "omnicore.h"

#include <math.h>
#include <string.h>

#define MAX_PHASES 1024
#define STOP_DB 80.0
#define PASS_FRACTION 0.95

typedef struct {
  int half;         /* taps each side: 2 * half per phase */
  int n_phases;     /* rows hold fractions p / n_phases, p = 0..n_phases */
  gboolean exact;   /* n_phases == L: no blending */
  float *rows;      /* (n_phases + 1) x 2 half, each row sums to 1 */
} Bank;

/* Modified Bessel function of the first kind, order 0 (power series). */
static double
bessel_i0 (double x)
{
  double sum = 1.0, term = 1.0, q = x * x / 4.0;

  for (int k = 1; k < 200 && term > 1e-17 * sum; k++) {
    term *= q / ((double) k * k);
    sum += term;
  }
  return sum;
}

/* Low-pass impulse response at distance @d input samples: cutoff @fc in
 * cycles per input sample, Kaiser window of half-width @half and shape @beta. */
static double
kernel (double d, double fc, int half, double beta)
{
  double x = d / half;
  if (fabs (x) >= 1.0)
    return 0.0;
  double t = 2.0 * fc * d;
  double sinc = fabs (t) < 1e-12 ? 1.0 : sin (G_PI * t) / (G_PI * t);
  return 2.0 * fc * sinc * bessel_i0 (beta * sqrt (1.0 - x * x)) / bessel_i0 (beta);
}

static guint64
gcd (guint64 a, guint64 b)
{
  while (b != 0) {
    guint64 t = a % b;
    a = b;
    b = t;
  }
  return a;
}

/* Row p holds the weights of taps base - half + 1 .. base + half for an
 * output at input time base + p / n_phases. */
static void
bank_init (Bank *bank, int rate_in, int rate_out)
{
  double nyq = MIN (rate_in, rate_out) / 2.0;
  double pass = PASS_FRACTION * nyq;
  double fc = 0.5 * (pass + nyq) / rate_in;
  double dw = 2.0 * G_PI * (nyq - pass) / rate_in;
  double beta = 0.1102 * (STOP_DB - 8.7);
  int taps = (int) ceil ((STOP_DB - 7.95) / (2.285 * dw)) + 1;
  guint64 l = (guint64) rate_out / gcd ((guint64) rate_in, (guint64) rate_out);

  bank->half = (taps + 1) / 2;
  bank->exact = l <= MAX_PHASES;
  bank->n_phases = bank->exact ? (int) l : MAX_PHASES;
  int width = 2 * bank->half;
  bank->rows = g_new (float, (gsize) (bank->n_phases + 1) * width);
  double *w = g_new (double, width);
  for (int p = 0; p <= bank->n_phases; p++) {
    double frac = (double) p / bank->n_phases, sum = 0.0;
    float *row = bank->rows + (gsize) p * width;
    for (int i = 0; i < width; i++) {
      int o = i - bank->half + 1;
      w[i] = kernel (frac - o, fc, bank->half, beta);
      sum += w[i];
    }
    for (int i = 0; i < width; i++)
      row[i] = (float) (w[i] / sum);
  }
  g_free (w);
}

/* sum row[i] x[base - half + 1 + i] over the taps inside [0, n). */
static double
dot_row (const float *row, int width, const float *x, gsize n, gint64 first)
{
  int lo = first < 0 ? (int) -first : 0;
  int hi = first + width > (gint64) n ? (int) ((gint64) n - first) : width;
  float acc[8] = { 0 };
  double tail = 0.0;
  int i = lo;

  for (; i + 8 <= hi; i += 8)
    for (int l = 0; l < 8; l++)
      acc[l] += row[i + l] * x[first + i + l];
  for (; i < hi; i++)
    tail += (double) row[i] * x[first + i];
  for (int l = 0; l < 8; l++)
    tail += acc[l];
  return tail;
}

float *
omni_resample (const float *in, gsize n_in, int rate_in, int rate_out, gsize *n_out,
               GError **error)
{
  if (rate_in < OMNI_RESAMPLE_MIN_RATE || rate_in > OMNI_RESAMPLE_MAX_RATE ||
      rate_out < OMNI_RESAMPLE_MIN_RATE || rate_out > OMNI_RESAMPLE_MAX_RATE) {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_INVALID,
                 "resample %d Hz -> %d Hz: rates must lie in [%d, %d] Hz", rate_in, rate_out,
                 OMNI_RESAMPLE_MIN_RATE, OMNI_RESAMPLE_MAX_RATE);
    return NULL;
  }
  *n_out = (gsize) (((guint64) n_in * rate_out + rate_in - 1) / rate_in);
  float *out = g_try_new (float, MAX (*n_out, 1));
  if (out == NULL) {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_NO_MEMORY,
                 "resample: no memory for %" G_GSIZE_FORMAT " samples", *n_out);
    return NULL;
  }
  if (rate_in == rate_out) {
    if (n_in > 0)
      memcpy (out, in, n_in * sizeof (float));
    return out;
  }

  Bank bank;
  bank_init (&bank, rate_in, rate_out);
  int width = 2 * bank.half;
  for (gsize k = 0; k < *n_out; k++) {
    guint64 t = (guint64) k * rate_in;
    gint64 base = (gint64) (t / rate_out);
    guint64 rem = t % rate_out;
    gint64 first = base - bank.half + 1;
    if (bank.exact) {
      int p = (int) (rem * bank.n_phases / rate_out);
      out[k] = (float) dot_row (bank.rows + (gsize) p * width, width, in, n_in, first);
    } else {
      double pos = (double) rem * bank.n_phases / rate_out;
      int p = (int) pos;
      double a = pos - p;
      const float *row = bank.rows + (gsize) p * width;
      out[k] = (float) ((1.0 - a) * dot_row (row, width, in, n_in, first) +
                        a * dot_row (row + width, width, in, n_in, first));
    }
  }
  g_free (bank.rows);
  return out;
}
