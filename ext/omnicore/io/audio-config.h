/* The audio tower (AuT encoder) of a snapshot's config.json: Qwen3-Omni,
 * Qwen3-ASR in its original layout and Qwen3-ASR "-hf" (transformers-native).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef OMNI_AUDIO_CONFIG_H
#define OMNI_AUDIO_CONFIG_H

#include <glib.h>

/* Where the audio tower sits in the config and in the checkpoint. */
typedef enum {
  /* thinker_config.audio_config; thinker.audio_tower.* with proj1/proj2 in the
   * tower (Qwen3-Omni; "audio_tower." for a bare Omni thinker snapshot) */
  OMNI_AUDIO_LAYOUT_OMNI,
  /* Qwen3-ASR as released by Qwen (the qwen_asr package): thinker_config.
   * audio_config and thinker.audio_tower.* with proj1/proj2, as Omni */
  OMNI_AUDIO_LAYOUT_ASR,
  /* Qwen3-ASR "-hf": audio_config at the top level, model.audio_tower.* and
   * model.multi_modal_projector.linear_1/linear_2 */
  OMNI_AUDIO_LAYOUT_ASR_HF,
} OmniAudioLayout;

typedef struct {
  OmniAudioLayout layout;
  int num_mel_bins;
  int d_model;
  int encoder_layers;
  int encoder_attention_heads;
  int encoder_ffn_dim;
  int n_window;               /* a conv chunk is 2 n_window mel frames */
  int n_window_infer;         /* an attention window spans this many mel frames */
  int downsample_hidden_size; /* channels of the conv stem */
  int output_dim;             /* width of the tokens handed to the decoder */
  int max_positions;          /* max_source_positions (Omni, ASR) or max_position_embeddings (-hf) */
  int conv_chunksize;         /* chunks per conv stem pass in transformers (500 when absent) */
  /* TRUE: every chunk runs through the stem padded to 2 n_window frames
   * (Qwen3ASREncoder); FALSE: padded to the longest chunk of the call
   * (Qwen3OmniMoeAudioEncoder's pad_sequence) */
  gboolean pad_full_chunks;
  int audio_token_id;         /* the placeholder the encoder's tokens replace */
  int audio_start_token_id;   /* -1 when the config has none */
  int audio_end_token_id;     /* -1 when the config has none */
  char tower_prefix[64];      /* e.g. "thinker.audio_tower." */
  char proj1[96], proj2[96];  /* the output projection's tensors, without ".weight" */
} OmniAudioConfig;

/* Parses the audio tower of @path (a config.json). No audio_config is
 * OMNI_ERROR_UNSUPPORTED; a missing file OMNI_ERROR_IO; a bad or
 * inconsistent value OMNI_ERROR_FORMAT (or UNSUPPORTED for an activation or
 * option we do not run), each naming the file and the key. */
gboolean omni_audio_config_load (const char *path, OmniAudioConfig *cfg, GError **error);

/* Like omni_audio_config_load() on @len bytes of JSON (@len -1:
 * NUL-terminated); @name stands for the file in messages. */
gboolean omni_audio_config_parse (const char *name, const char *json, gssize len,
                                  OmniAudioConfig *cfg, GError **error);

/* Encoder tokens of one chunk of @frames (0..2 n_window) mel frames: three
 * stride-2 convolutions, (n - 1) / 2 + 1 each, 0 for 0. */
int omni_audio_config_chunk_tokens (int frames);

/* Encoder tokens of a clip of @n_frames mel frames (13 per full chunk of
 * 2 n_window frames plus those of the remainder); 0 for n_frames <= 0. */
int omni_audio_config_n_tokens (const OmniAudioConfig *cfg, int n_frames);

#endif /* OMNI_AUDIO_CONFIG_H */
