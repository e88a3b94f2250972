/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Real-input FFT of any length, in double, for the mel front end.
 * Mixed radix (2, 3, 4, 5 and a generic odd-prime butterfly), out of place,
 * all scratch allocated by omni_fft_new(). */
#ifndef OMNI_AUDIO_FFT_H
#define OMNI_AUDIO_FFT_H

#include <glib.h>

typedef struct _OmniFft OmniFft;

/* A plan for the DFT of @n real samples (1 <= n <= 1 << 20). */
OmniFft *omni_fft_new (int n);
/* Frees the plan (NULL is ignored). */
void omni_fft_free (OmniFft *fft);

/* The length the plan was made for. */
int omni_fft_size (const OmniFft *fft);

/* Bins 0..n/2 of X[k] = sum_j in[j] e^{-2 pi i jk/n} into @re and @im
 * (n/2 + 1 values each). Uses the plan's scratch: one call at a time. */
void omni_fft_real (OmniFft *fft, const double *in, double *re, double *im);

#endif /* OMNI_AUDIO_FFT_H */
