/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Log-mel features. The FFT, power spectrum and filter sums run in double:
 * transformers' float64 (numpy) path is then matched to ~1e-7, and its
 * float32 (torch) path to within that path's own rounding (see
 * tests/audio/test-mel.c). */
#include "audio/mel.h"
#include "audio/fft.h"
#include "omnicore.h"

#include <math.h>
#include <string.h>

struct _OmniMel {
  OmniMelConfig cfg;
  int n_freqs;          /* n_fft / 2 + 1 */
  float *filters;       /* [n_freqs][n_mels], f32 as transformers' torch path uses */
  int *band_start;      /* per mel: first bin with a nonzero weight */
  int *band_len;        /* per mel: number of bins from band_start */
  int *band_off;        /* per mel: offset of its weights in band_w */
  float *band_w;        /* the nonzero weights, packed */
  double *window;       /* periodic Hann, n_fft */
  double *frame, *re, *im, *power;
  OmniFft *fft;
};

/* Slaney's mel scale: linear below 1 kHz, logarithmic above. */
static double
hz_to_mel (double hz)
{
  if (hz < 1000.0)
    return 3.0 * hz / 200.0;
  return 15.0 + log (hz / 1000.0) * (27.0 / log (6.4));
}

static double
mel_to_hz (double mel)
{
  if (mel < 15.0)
    return 200.0 * mel / 3.0;
  return 1000.0 * exp ((log (6.4) / 27.0) * (mel - 15.0));
}

/* numpy.linspace(start, stop, num)[i]: i * step + start, the last one exact. */
static double
linspace_at (double start, double stop, int num, int i)
{
  if (i == num - 1)
    return stop;
  return i * ((stop - start) / (num - 1)) + start;
}

/* Slaney-normalised triangles between mel-spaced edges from 0 to 8 kHz over
 * bins spaced linearly from 0 to sampling_rate / 2, computed in double and
 * stored as f32 (as transformers' mel_filter_bank(norm="slaney",
 * mel_scale="slaney") followed by the torch path's cast). */
static void
make_filters (OmniMel *mel)
{
  int n_mels = mel->cfg.n_mels, n_freqs = mel->n_freqs;
  double mel_max = hz_to_mel (8000.0);
  double *edges = g_new (double, n_mels + 2);

  for (int i = 0; i < n_mels + 2; i++)
    edges[i] = mel_to_hz (linspace_at (0.0, mel_max, n_mels + 2, i));
  for (int f = 0; f < n_freqs; f++) {
    double hz = linspace_at (0.0, (double) (mel->cfg.sampling_rate / 2), n_freqs, f);
    for (int m = 0; m < n_mels; m++) {
      double down = -(edges[m] - hz) / (edges[m + 1] - edges[m]);
      double up = (edges[m + 2] - hz) / (edges[m + 2] - edges[m + 1]);
      double w = MAX (0.0, MIN (down, up));
      w *= 2.0 / (edges[m + 2] - edges[m]);
      mel->filters[(gsize) f * n_mels + m] = (float) w;
    }
  }
  g_free (edges);
}

/* Each triangle covers a few consecutive bins: keep only those. */
static void
make_bands (OmniMel *mel)
{
  int n_mels = mel->cfg.n_mels, n_freqs = mel->n_freqs, off = 0;

  mel->band_start = g_new0 (int, n_mels);
  mel->band_len = g_new0 (int, n_mels);
  mel->band_off = g_new0 (int, n_mels);
  mel->band_w = g_new0 (float, (gsize) n_mels * n_freqs);
  for (int m = 0; m < n_mels; m++) {
    int lo = n_freqs, hi = -1;
    for (int f = 0; f < n_freqs; f++) {
      if (mel->filters[(gsize) f * n_mels + m] != 0.0f) {
        lo = MIN (lo, f);
        hi = f;
      }
    }
    if (hi < 0)
      g_warning ("mel filter %d of %d is empty (n_fft %d too small)", m, n_mels,
                 mel->cfg.n_fft);
    mel->band_start[m] = hi < 0 ? 0 : lo;
    mel->band_len[m] = hi < 0 ? 0 : hi - lo + 1;
    mel->band_off[m] = off;
    for (int i = 0; i < mel->band_len[m]; i++)
      mel->band_w[off + i] = mel->filters[(gsize) (lo + i) * n_mels + m];
    off += mel->band_len[m];
  }
}

static gboolean
check_config (const OmniMelConfig *cfg, GError **error)
{
  if (cfg->n_fft < 2 || cfg->n_fft > 65536 || cfg->hop_length < 1 ||
      cfg->hop_length > 65536 || cfg->n_mels < 1 || cfg->n_mels > 1024 ||
      cfg->sampling_rate < 1 || cfg->min_samples < 0) {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_INVALID,
                 "mel config out of range: n_fft %d (2..65536), hop_length %d (1..65536), "
                 "feature_size %d (1..1024), sampling_rate %d (> 0), min_length %d (>= 0)",
                 cfg->n_fft, cfg->hop_length, cfg->n_mels, cfg->sampling_rate,
                 cfg->min_samples);
    return FALSE;
  }
  return TRUE;
}

OmniMel *
omni_mel_new (const OmniMelConfig *cfg, GError **error)
{
  if (!check_config (cfg, error))
    return NULL;

  OmniMel *mel = g_new0 (OmniMel, 1);
  int n_fft = cfg->n_fft;
  mel->cfg = *cfg;
  mel->n_freqs = n_fft / 2 + 1;
  mel->filters = g_new0 (float, (gsize) mel->n_freqs * cfg->n_mels);
  make_filters (mel);
  make_bands (mel);
  mel->window = g_new (double, n_fft);
  for (int i = 0; i < n_fft; i++)
    mel->window[i] = 0.5 - 0.5 * cos (2.0 * G_PI * i / n_fft);
  mel->frame = g_new0 (double, n_fft);
  mel->re = g_new0 (double, mel->n_freqs);
  mel->im = g_new0 (double, mel->n_freqs);
  mel->power = g_new0 (double, mel->n_freqs);
  mel->fft = omni_fft_new (n_fft);
  return mel;
}

void
omni_mel_free (OmniMel *mel)
{
  if (mel == NULL)
    return;
  g_free (mel->filters);
  g_free (mel->band_start);
  g_free (mel->band_len);
  g_free (mel->band_off);
  g_free (mel->band_w);
  g_free (mel->window);
  g_free (mel->frame);
  g_free (mel->re);
  g_free (mel->im);
  g_free (mel->power);
  omni_fft_free (mel->fft);
  g_free (mel);
}

const OmniMelConfig *
omni_mel_config (const OmniMel *mel)
{
  return &mel->cfg;
}

void
omni_mel_filters (const OmniMel *mel, float *out)
{
  memcpy (out, mel->filters, sizeof (float) * mel->n_freqs * mel->cfg.n_mels);
}

/* Samples the STFT sees: the clip zero-padded to max(n, min_samples). */
static gsize
padded_length (const OmniMel *mel, gsize n_samples)
{
  return MAX (n_samples, (gsize) mel->cfg.min_samples);
}

gsize
omni_mel_n_frames (const OmniMel *mel, gsize n_samples)
{
  if (n_samples == 0)
    return 0;
  gsize len = padded_length (mel, n_samples);
  gsize half = mel->cfg.n_fft / 2;
  if (len + 2 * half < (gsize) mel->cfg.n_fft)
    return 0;
  /* 1 + (len + 2 half - n_fft) / hop STFT frames, less the dropped last one */
  return (len + 2 * half - mel->cfg.n_fft) / mel->cfg.hop_length;
}

/* Index into [0, len) of position @j of the reflect-padded signal (numpy's
 * "reflect": repeated mirroring without repeating the edge sample). */
static gsize
reflect_index (gint64 j, gsize len)
{
  if (len == 1)
    return 0;
  gint64 period = 2 * ((gint64) len - 1);
  j %= period;
  if (j < 0)
    j += period;
  if (j >= (gint64) len)
    j = period - j;
  return (gsize) j;
}

/* Windowed frame @t of the centered STFT into mel->frame. */
static void
load_frame (OmniMel *mel, const float *pcm, gsize n, gsize len, gsize t)
{
  int n_fft = mel->cfg.n_fft;
  gint64 start = (gint64) (t * mel->cfg.hop_length) - n_fft / 2;
  const double *w = mel->window;
  double *frame = mel->frame;

  if (start >= 0 && start + n_fft <= (gint64) n) {
    const float *x = pcm + start;
    for (int i = 0; i < n_fft; i++)
      frame[i] = (double) x[i] * w[i];
    return;
  }
  for (int i = 0; i < n_fft; i++) {
    gsize j = reflect_index (start + i, len);
    frame[i] = (j < n ? (double) pcm[j] : 0.0) * w[i];
  }
}

/* log10 mel energies of frame @t into column @t of @out; returns their max. */
static float
frame_log_mel (OmniMel *mel, gsize t, gsize n_frames, float *out)
{
  int n_freqs = mel->n_freqs;
  float max = -G_MAXFLOAT;

  omni_fft_real (mel->fft, mel->frame, mel->re, mel->im);
  for (int f = 0; f < n_freqs; f++)
    mel->power[f] = mel->re[f] * mel->re[f] + mel->im[f] * mel->im[f];
  for (int m = 0; m < mel->cfg.n_mels; m++) {
    const double *p = mel->power + mel->band_start[m];
    const float *w = mel->band_w + mel->band_off[m];
    double acc = 0.0;
    for (int i = 0; i < mel->band_len[m]; i++)
      acc += (double) w[i] * p[i];
    float l = (float) log10 (MAX (acc, 1e-10));
    out[(gsize) m * n_frames + t] = l;
    max = MAX (max, l);
  }
  return max;
}

static gboolean
check_samples (const float *pcm, gsize n_samples, GError **error)
{
  for (gsize i = 0; i < n_samples; i++) {
    if (!isfinite (pcm[i])) {
      g_set_error (error, OMNI_ERROR, OMNI_ERROR_INVALID,
                   "audio sample %" G_GSIZE_FORMAT " of %" G_GSIZE_FORMAT " is %s "
                   "(expected finite float samples)", i, n_samples,
                   isnan (pcm[i]) ? "NaN" : "infinite");
      return FALSE;
    }
  }
  return TRUE;
}

gboolean
omni_mel_compute (OmniMel *mel, const float *pcm, gsize n_samples, float *out,
                  GError **error)
{
  if (n_samples == 0) {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_INVALID,
                 "empty audio clip (0 samples): nothing to compute mel features of");
    return FALSE;
  }
  gsize n_frames = omni_mel_n_frames (mel, n_samples);
  if (n_frames == 0) {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_INVALID,
                 "audio clip of %" G_GSIZE_FORMAT " samples is shorter than one hop "
                 "(%d samples): it gives no mel frame", n_samples, mel->cfg.hop_length);
    return FALSE;
  }
  if (!check_samples (pcm, n_samples, error))
    return FALSE;

  gsize len = padded_length (mel, n_samples);
  float max = -G_MAXFLOAT;
  for (gsize t = 0; t < n_frames; t++) {
    load_frame (mel, pcm, n_samples, len, t);
    max = MAX (max, frame_log_mel (mel, t, n_frames, out));
  }

  /* The floor is relative to the loudest value of the whole clip. */
  float floor = max - 8.0f;
  gsize total = n_frames * mel->cfg.n_mels;
  for (gsize i = 0; i < total; i++)
    out[i] = (MAX (out[i], floor) + 4.0f) / 4.0f;
  return TRUE;
}
