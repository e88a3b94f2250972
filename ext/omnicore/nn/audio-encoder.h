/* The AuT audio encoder of Qwen3-Omni and Qwen3-ASR (log-mel -> tokens for
 * the decoder), written against backend ops.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef OMNI_AUDIO_ENCODER_H
#define OMNI_AUDIO_ENCODER_H

#include <glib.h>
#include "io/audio-config.h"
#include "backend/backend.h"

/* The most mel frames of one forward call, all clips together: 1200 s at
 * 100 frames per second (about 1.3 GB of f32 activations for the Omni tower).
 * Captions feed <= 30 s per clip, the length the models are tuned for;
 * longer audio must be split by the caller. */
#define OMNI_AUDIO_MAX_FRAMES 120000

typedef struct _OmniAudioEncoder OmniAudioEncoder;

/* Loads the audio tower of the snapshot in @dir onto @b (weights stay in
 * their stored dtype; shapes checked, a missing tensor named). A snapshot
 * without one is OMNI_ERROR_UNSUPPORTED. The encoder does not own @b. */
OmniAudioEncoder *omni_audio_encoder_load (const char *dir, OmniBackend *b, GError **error);
/* Frees @e, its weights' bindings and its buffers (NULL is ignored). */
void omni_audio_encoder_free (OmniAudioEncoder *e);

/* The configuration the encoder was loaded with. */
const OmniAudioConfig *omni_audio_encoder_config (const OmniAudioEncoder *e);

/* Tokens the encoder makes from a clip of @n_frames mel frames (13 per 100
 * frames plus those of the remainder's three stride-2 convolutions). */
int omni_audio_encoder_n_tokens (const OmniAudioEncoder *e, int n_frames);

/* Encodes @n_clips clips in one pass: mels[i] is laid out
 * [num_mel_bins][n_frames[i]] (as audio/mel.h computes it). Each clip comes
 * out as transformers encodes it alone, whatever it is batched with. On
 * success *out points at an encoder-owned backend tensor [sum of n_tokens,
 * output_dim] (f32, clip after clip), valid until the next call or free.
 * No frames, more than OMNI_AUDIO_MAX_FRAMES in total or a non-finite value
 * is OMNI_ERROR_INVALID naming the clip. Positions restart in every chunk,
 * so max_source_positions bounds nothing but the 13 per chunk (checked at
 * load). */
gboolean omni_audio_encoder_forward (OmniAudioEncoder *e, const float *const *mels,
                                     const int *n_frames, int n_clips, OmniTensor **out,
                                     GError **error);

/* Capture point of the stem's output with positions added; points 0 ..
 * encoder_layers-1 are the layers' outputs, point encoder_layers the final
 * output (after the projection). */
#define OMNI_AUDIO_CAPTURE_EMBED (-1)
/* Receives the hidden states [n_tokens, width] (backend memory) at each
 * capture point of a forward pass. */
typedef void (*OmniAudioCaptureFunc) (int point, const OmniTensor *hidden, gpointer user_data);
/* Installs (or removes, with NULL) a capture hook for tests and debugging. */
void omni_audio_encoder_set_capture (OmniAudioEncoder *e, OmniAudioCaptureFunc func,
                                     gpointer user_data);

/* Caps the chunks the conv stem runs at once (default: conv_chunksize,
 * within a 256 MiB budget for the stem's buffers); results do not depend on
 * it. For tests of the grouped path. */
void omni_audio_encoder_set_stem_chunks (OmniAudioEncoder *e, int max_chunks);

#endif /* OMNI_AUDIO_ENCODER_H */
