/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A small RIFF/WAVE reader: PCM 8/16/24/32-bit integer, IEEE float 32/64,
 * plain or WAVE_FORMAT_EXTENSIBLE, any channel count (mixed down to mono by
 * averaging) and any sample rate (see resample.h to reach 16 kHz). */
#ifndef OMNI_AUDIO_WAV_H
#define OMNI_AUDIO_WAV_H

#include <glib.h>

typedef struct {
  int sample_rate;
  int n_channels;
  int bits_per_sample;   /* container size: 8, 16, 24, 32 or 64 */
  int valid_bits;        /* WAVE_FORMAT_EXTENSIBLE's wValidBitsPerSample, else bits */
  gboolean is_float;     /* IEEE float samples (else signed/unsigned integers) */
  gboolean extensible;   /* format tag was WAVE_FORMAT_EXTENSIBLE */
  gsize n_frames;        /* samples per channel = mono samples returned */
} OmniWavInfo;

/* Decodes the WAV file @path into mono float samples in [-1, 1) (free with
 * g_free(); never NULL on success, even for 0 frames) and fills @info.
 * Malformed files are OMNI_ERROR_FORMAT, unsupported encodings
 * OMNI_ERROR_UNSUPPORTED, unreadable ones OMNI_ERROR_IO; the message names
 * @path, the chunk and the field. */
float *omni_wav_read (const char *path, OmniWavInfo *info, GError **error);

/* Like omni_wav_read() on @len bytes in memory; @name stands for the file in
 * messages. */
float *omni_wav_decode (const char *name, const guint8 *data, gsize len, OmniWavInfo *info,
                        GError **error);

#endif /* OMNI_AUDIO_WAV_H */
