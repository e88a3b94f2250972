/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Whisper-style log-mel features, as transformers' WhisperFeatureExtractor
 * computes them for one clip (and Qwen3ASRFeatureExtractor, which first
 * zero-pads short clips): periodic Hann window, centered STFT with reflect
 * padding, power spectrum, Slaney mel filters, last frame dropped,
 * log10(max(mel, 1e-10)) clamped at the clip's maximum - 8, then (x + 4) / 4. */
#ifndef OMNI_AUDIO_MEL_H
#define OMNI_AUDIO_MEL_H

#include <glib.h>

typedef struct {
  int sampling_rate;     /* "sampling_rate": only 16000 is accepted */
  int n_fft;             /* "n_fft" */
  int hop_length;        /* "hop_length" */
  int n_mels;            /* "feature_size" */
  double padding_value;  /* "padding_value" (batch padding only; kept for callers) */
  int min_samples;       /* Qwen3ASRFeatureExtractor "min_length": shorter clips are
                          * zero-padded to this many samples; 0 = none (Whisper) */
} OmniMelConfig;

/* The Qwen3-Omni / Qwen3-ASR front end without a file: 16 kHz, n_fft 400,
 * hop 160, 128 mels, no minimum length. */
void omni_mel_config_init_default (OmniMelConfig *cfg);

/* Parses a preprocessor_config.json (or a transformers v5 processor_config.json
 * holding it under "feature_extractor"). feature_size, sampling_rate,
 * hop_length and n_fft are required; dither must be 0. Errors name @path and
 * the key: OMNI_ERROR_IO, OMNI_ERROR_FORMAT, or OMNI_ERROR_UNSUPPORTED. */
gboolean omni_mel_config_load (const char *path, OmniMelConfig *cfg, GError **error);

/* Like omni_mel_config_load() on @len bytes of JSON (@len -1: NUL-terminated);
 * @name stands for the file in messages. */
gboolean omni_mel_config_parse (const char *name, const char *json, gssize len,
                                OmniMelConfig *cfg, GError **error);

typedef struct _OmniMel OmniMel;

/* The filters, window, FFT plan and scratch for @cfg (validated again:
 * NULL and OMNI_ERROR_INVALID when a value is out of range). */
OmniMel *omni_mel_new (const OmniMelConfig *cfg, GError **error);
/* Frees @mel and its scratch (NULL is ignored). */
void omni_mel_free (OmniMel *mel);

/* The configuration @mel was made from. */
const OmniMelConfig *omni_mel_config (const OmniMel *mel);

/* Frames produced for a clip of @n_samples: max(n_samples, min_samples) /
 * hop_length for an even n_fft (one per hop; the STFT's last frame dropped). */
gsize omni_mel_n_frames (const OmniMel *mel, gsize n_samples);

/* Features of @pcm (mono float at cfg->sampling_rate) into @out, laid out
 * [n_mels][n_frames] (n_frames from omni_mel_n_frames). An empty clip, one
 * shorter than a hop, or a NaN/Inf sample is OMNI_ERROR_INVALID (naming the
 * sample index). No allocation; one call at a time per @mel. */
gboolean omni_mel_compute (OmniMel *mel, const float *pcm, gsize n_samples, float *out,
                           GError **error);

/* The mel filter bank as stored (f32, [n_fft / 2 + 1][n_mels] like
 * transformers' mel_filters), written into @out; for tests and tools. */
void omni_mel_filters (const OmniMel *mel, float *out);

#endif /* OMNI_AUDIO_MEL_H */
