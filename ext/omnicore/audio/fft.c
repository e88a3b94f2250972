/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Recursive decimation-in-time FFT: the input is split into `radix`
 * interleaved subsequences, each transformed, then joined by one butterfly
 * pass. An even real length n runs as a complex FFT of n/2 points over the
 * packed pairs (x[2j] + i x[2j+1]) and is split apart afterwards, halving the
 * work of the mel front end. */
#include "audio/fft.h"

#include <math.h>

typedef struct {
  double re, im;
} Cplx;

#define MAX_FACTORS 40

struct _OmniFft {
  int n;            /* real length */
  int m;            /* complex length: n / 2 when n is even, else n */
  int factors[MAX_FACTORS];
  int n_factors;
  Cplx *tw;         /* tw[e] = e^{-2 pi i e / m} */
  Cplx *post;       /* n even: e^{-2 pi i k / n}, k <= n / 2 */
  Cplx *in, *out;   /* m each */
  Cplx *tmp;        /* one generic butterfly */
};

static inline Cplx
cmul (Cplx a, Cplx b)
{
  return (Cplx) { a.re * b.re - a.im * b.im, a.re * b.im + a.im * b.re };
}

/* Radix 4 first (cheapest butterfly), then 2, then odd factors ascending. */
static void
factorize (OmniFft *fft)
{
  int m = fft->m;

  while (m % 4 == 0) {
    fft->factors[fft->n_factors++] = 4;
    m /= 4;
  }
  if (m % 2 == 0) {
    fft->factors[fft->n_factors++] = 2;
    m /= 2;
  }
  for (int p = 3; m > 1; p += 2) {
    if ((gint64) p * p > m)
      p = m;
    while (m % p == 0) {
      fft->factors[fft->n_factors++] = p;
      m /= p;
    }
  }
}

OmniFft *
omni_fft_new (int n)
{
  g_return_val_if_fail (n >= 1 && n <= (1 << 20), NULL);

  OmniFft *fft = g_new0 (OmniFft, 1);
  fft->n = n;
  fft->m = (n % 2 == 0) ? n / 2 : n;
  factorize (fft);

  int max_radix = 1;
  for (int i = 0; i < fft->n_factors; i++)
    max_radix = MAX (max_radix, fft->factors[i]);

  fft->tw = g_new (Cplx, fft->m);
  for (int e = 0; e < fft->m; e++) {
    double a = -2.0 * G_PI * e / fft->m;
    fft->tw[e] = (Cplx) { cos (a), sin (a) };
  }
  if (n % 2 == 0) {
    fft->post = g_new (Cplx, n / 2 + 1);
    for (int k = 0; k <= n / 2; k++) {
      double a = -2.0 * G_PI * k / n;
      fft->post[k] = (Cplx) { cos (a), sin (a) };
    }
  }
  fft->in = g_new0 (Cplx, fft->m);
  fft->out = g_new0 (Cplx, fft->m);
  fft->tmp = g_new0 (Cplx, max_radix);
  return fft;
}

void
omni_fft_free (OmniFft *fft)
{
  if (fft == NULL)
    return;
  g_free (fft->tw);
  g_free (fft->post);
  g_free (fft->in);
  g_free (fft->out);
  g_free (fft->tmp);
  g_free (fft);
}

int
omni_fft_size (const OmniFft *fft)
{
  return fft->n;
}

/* The butterflies join @radix transforms of @sub points laid end to end in
 * @out; w_m^e (m = radix * sub) is tw[e * tws]. */

static void
bfly2 (Cplx *out, int sub, int tws, const Cplx *tw)
{
  for (int k = 0; k < sub; k++) {
    Cplx a = out[k];
    Cplx b = cmul (out[k + sub], tw[k * tws]);
    out[k] = (Cplx) { a.re + b.re, a.im + b.im };
    out[k + sub] = (Cplx) { a.re - b.re, a.im - b.im };
  }
}

static void
bfly3 (Cplx *out, int sub, int tws, const Cplx *tw)
{
  const double h = 0.86602540378443864676;  /* sin(2 pi / 3) */

  for (int k = 0; k < sub; k++) {
    Cplx a0 = out[k];
    Cplx a1 = cmul (out[k + sub], tw[k * tws]);
    Cplx a2 = cmul (out[k + 2 * sub], tw[2 * k * tws]);
    Cplx t = { a1.re + a2.re, a1.im + a2.im };
    Cplx d = { a1.re - a2.re, a1.im - a2.im };
    Cplx c = { a0.re - 0.5 * t.re, a0.im - 0.5 * t.im };
    out[k] = (Cplx) { a0.re + t.re, a0.im + t.im };
    out[k + sub] = (Cplx) { c.re + h * d.im, c.im - h * d.re };
    out[k + 2 * sub] = (Cplx) { c.re - h * d.im, c.im + h * d.re };
  }
}

static void
bfly4 (Cplx *out, int sub, int tws, const Cplx *tw)
{
  for (int k = 0; k < sub; k++) {
    Cplx a0 = out[k];
    Cplx a1 = cmul (out[k + sub], tw[k * tws]);
    Cplx a2 = cmul (out[k + 2 * sub], tw[2 * k * tws]);
    Cplx a3 = cmul (out[k + 3 * sub], tw[3 * k * tws]);
    Cplx s02 = { a0.re + a2.re, a0.im + a2.im };
    Cplx d02 = { a0.re - a2.re, a0.im - a2.im };
    Cplx s13 = { a1.re + a3.re, a1.im + a3.im };
    Cplx d13 = { a1.re - a3.re, a1.im - a3.im };
    out[k] = (Cplx) { s02.re + s13.re, s02.im + s13.im };
    out[k + 2 * sub] = (Cplx) { s02.re - s13.re, s02.im - s13.im };
    /* -i * d13 = (d13.im, -d13.re) */
    out[k + sub] = (Cplx) { d02.re + d13.im, d02.im - d13.re };
    out[k + 3 * sub] = (Cplx) { d02.re - d13.im, d02.im + d13.re };
  }
}

static void
bfly5 (Cplx *out, int sub, int tws, const Cplx *tw)
{
  const double c1 = 0.30901699437494742410;   /* cos(2 pi / 5) */
  const double c2 = -0.80901699437494742410;  /* cos(4 pi / 5) */
  const double s1 = 0.95105651629515357212;   /* sin(2 pi / 5) */
  const double s2 = 0.58778525229247312917;   /* sin(4 pi / 5) */

  for (int k = 0; k < sub; k++) {
    Cplx a0 = out[k];
    Cplx a1 = cmul (out[k + sub], tw[k * tws]);
    Cplx a2 = cmul (out[k + 2 * sub], tw[2 * k * tws]);
    Cplx a3 = cmul (out[k + 3 * sub], tw[3 * k * tws]);
    Cplx a4 = cmul (out[k + 4 * sub], tw[4 * k * tws]);
    Cplx t1 = { a1.re + a4.re, a1.im + a4.im };
    Cplx t2 = { a2.re + a3.re, a2.im + a3.im };
    Cplx d1 = { a1.re - a4.re, a1.im - a4.im };
    Cplx d2 = { a2.re - a3.re, a2.im - a3.im };
    Cplx e1 = { a0.re + c1 * t1.re + c2 * t2.re, a0.im + c1 * t1.im + c2 * t2.im };
    Cplx e2 = { a0.re + c2 * t1.re + c1 * t2.re, a0.im + c2 * t1.im + c1 * t2.im };
    Cplx v1 = { s1 * d1.re + s2 * d2.re, s1 * d1.im + s2 * d2.im };
    Cplx v2 = { s2 * d1.re - s1 * d2.re, s2 * d1.im - s1 * d2.im };
    out[k] = (Cplx) { a0.re + t1.re + t2.re, a0.im + t1.im + t2.im };
    /* X1 = e1 - i v1, X4 = e1 + i v1; X2 = e2 - i v2, X3 = e2 + i v2 */
    out[k + sub] = (Cplx) { e1.re + v1.im, e1.im - v1.re };
    out[k + 4 * sub] = (Cplx) { e1.re - v1.im, e1.im + v1.re };
    out[k + 2 * sub] = (Cplx) { e2.re + v2.im, e2.im - v2.re };
    out[k + 3 * sub] = (Cplx) { e2.re - v2.im, e2.im + v2.re };
  }
}

/* Any odd prime radix p: a direct p-point DFT per group; w_p^e is
 * tw[(e mod p) * (m_top / p)]. */
static void
bfly_generic (const OmniFft *fft, Cplx *out, int sub, int radix, int tws)
{
  Cplx *a = fft->tmp;
  int step = fft->m / radix;

  for (int k = 0; k < sub; k++) {
    for (int q = 0; q < radix; q++)
      a[q] = cmul (out[k + q * sub], fft->tw[q * k * tws]);
    for (int s = 0; s < radix; s++) {
      Cplx acc = a[0];
      for (int q = 1; q < radix; q++) {
        Cplx v = cmul (a[q], fft->tw[((q * s) % radix) * step]);
        acc.re += v.re;
        acc.im += v.im;
      }
      out[k + s * sub] = acc;
    }
  }
}

/* DFT of the @m points in[0], in[stride], ... into out[0..m). */
static void
fft_level (const OmniFft *fft, Cplx *out, const Cplx *in, size_t stride, int m,
           const int *factors, int tws)
{
  int radix = factors[0];
  int sub = m / radix;

  if (sub == 1) {
    for (int q = 0; q < radix; q++)
      out[q] = in[q * stride];
  } else {
    for (int q = 0; q < radix; q++)
      fft_level (fft, out + q * sub, in + q * stride, stride * radix, sub, factors + 1,
                 tws * radix);
  }

  switch (radix) {
    case 2: bfly2 (out, sub, tws, fft->tw); break;
    case 3: bfly3 (out, sub, tws, fft->tw); break;
    case 4: bfly4 (out, sub, tws, fft->tw); break;
    case 5: bfly5 (out, sub, tws, fft->tw); break;
    default: bfly_generic (fft, out, sub, radix, tws); break;
  }
}

static void
fft_complex (OmniFft *fft)
{
  if (fft->m == 1)
    fft->out[0] = fft->in[0];
  else
    fft_level (fft, fft->out, fft->in, 1, fft->m, fft->factors, 1);
}

void
omni_fft_real (OmniFft *fft, const double *in, double *re, double *im)
{
  int n = fft->n;

  if (n % 2 != 0) {
    for (int j = 0; j < n; j++)
      fft->in[j] = (Cplx) { in[j], 0.0 };
    fft_complex (fft);
    for (int k = 0; k <= n / 2; k++) {
      re[k] = fft->out[k].re;
      im[k] = fft->out[k].im;
    }
    return;
  }

  int h = fft->m;
  for (int j = 0; j < h; j++)
    fft->in[j] = (Cplx) { in[2 * j], in[2 * j + 1] };
  fft_complex (fft);

  /* Z = E + i O with E, O the transforms of the even and odd samples:
   * E[k] = (Z[k] + conj Z[h-k]) / 2, O[k] = (Z[k] - conj Z[h-k]) / 2i,
   * X[k] = E[k] + w_n^k O[k]. */
  const Cplx *z = fft->out;
  for (int k = 0; k <= h; k++) {
    Cplx a = z[k % h];
    Cplx b = z[(h - k) % h];
    Cplx e = { 0.5 * (a.re + b.re), 0.5 * (a.im - b.im) };
    Cplx o = { 0.5 * (a.im + b.im), -0.5 * (a.re - b.re) };
    Cplx wo = cmul (fft->post[k], o);
    re[k] = e.re + wo.re;
    im[k] = e.im + wo.im;
  }
}
