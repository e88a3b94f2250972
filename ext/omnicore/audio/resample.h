/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Sample-rate conversion of mono float audio by a Kaiser-windowed sinc,
 * zero phase (output sample k sits at time k / rate_out).
 * Design, with nyq = min(rate_in, rate_out) / 2:
 *   passband 0 .. 0.95 nyq (7.6 kHz at 16 kHz out), ripple <= 0.001 dB;
 *   stopband from nyq (8 kHz) up, attenuation >= 80 dB (no aliasing);
 *   DC gain exactly 1. Cost ~ 2 x 3.5 / (0.05 nyq / rate_in) taps per output
 *   sample (about 600 at 48 kHz -> 16 kHz). Good for ASR input; not meant for
 *   music mastering. */
#ifndef OMNI_AUDIO_RESAMPLE_H
#define OMNI_AUDIO_RESAMPLE_H

#include <glib.h>

/* Lowest and highest rates accepted on either side. */
#define OMNI_RESAMPLE_MIN_RATE 1000
#define OMNI_RESAMPLE_MAX_RATE 384000

/* Returns ceil(n_in * rate_out / rate_in) samples (in *@n_out; free with
 * g_free(); never NULL on success, even for no input). Rates outside
 * [OMNI_RESAMPLE_MIN_RATE, OMNI_RESAMPLE_MAX_RATE] are OMNI_ERROR_INVALID.
 * Equal rates copy. Samples past either end count as zeros. */
float *omni_resample (const float *in, gsize n_in, int rate_in, int rate_out, gsize *n_out,
                      GError **error);

#endif /* OMNI_AUDIO_RESAMPLE_H */
