/* The vision tower of a snapshot's config.json: Qwen3-VL, Qwen3-VL-MoE and
 * the Qwen3-Omni thinker (the same ViT, different merger tensor names).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef OMNI_VISION_CONFIG_H
#define OMNI_VISION_CONFIG_H

#include <glib.h>

/* The most DeepStack levels a tower may list (released models have 3). */
#define OMNI_VISION_MAX_DEEPSTACK 8

/* Where the vision tower sits in the config and in the checkpoint. */
typedef enum {
  /* vision_config; model.visual.* with merger.{norm,linear_fc1,linear_fc2}
   * and deepstack_merger_list.k.* (Qwen3-VL, Qwen3-VL-MoE) */
  OMNI_VISION_LAYOUT_VL,
  /* thinker_config.vision_config; thinker.visual.* with merger.{ln_q,mlp.0,
   * mlp.2} and merger_list.k.* (Qwen3-Omni; "visual." for a bare thinker) */
  OMNI_VISION_LAYOUT_OMNI,
} OmniVisionLayout;

/* One image or video clip in patches: @t temporal groups (1 for an image)
 * of @h x @w patches (both multiples of spatial_merge_size). */
typedef struct {
  int t, h, w;
} OmniVisionGrid;

typedef struct {
  OmniVisionLayout layout;
  int depth;
  int hidden_size;
  int num_heads;
  int intermediate_size;
  gboolean gelu_tanh;          /* hidden_act "gelu_pytorch_tanh" (else "gelu", exact erf) */
  int in_channels;
  int patch_size;
  int temporal_patch_size;
  int spatial_merge_size;
  int out_hidden_size;         /* width of the tokens handed to the decoder */
  int num_position_embeddings; /* a square table of side pos_side */
  int pos_side;
  double rope_theta;           /* of the 2-D rotary embedding (10000 when absent) */
  int n_deepstack;
  int deepstack_visual_indexes[OMNI_VISION_MAX_DEEPSTACK]; /* ascending block indices */
  int image_token_id, video_token_id, vision_start_token_id, vision_end_token_id;
  char tower_prefix[64];       /* e.g. "model.visual." */
  char merger_norm[32], merger_fc1[32], merger_fc2[32]; /* within a merger, without ".weight" */
  char deepstack_list[32];     /* "deepstack_merger_list" or "merger_list" */
} OmniVisionConfig;

/* Parses the vision tower of @path (a config.json). No vision_config is
 * OMNI_ERROR_UNSUPPORTED; a missing file OMNI_ERROR_IO; a bad or
 * inconsistent value OMNI_ERROR_FORMAT (or UNSUPPORTED for an activation or
 * option we do not run), each naming the file and the key. */
gboolean omni_vision_config_load (const char *path, OmniVisionConfig *cfg, GError **error);

/* Like omni_vision_config_load() on @len bytes of JSON (@len -1:
 * NUL-terminated); @name stands for the file in messages. */
gboolean omni_vision_config_parse (const char *name, const char *json, gssize len,
                                   OmniVisionConfig *cfg, GError **error);

/* Values per patch row of the encoder's input: in_channels x
 * temporal_patch_size x patch_size^2 (1536 for the released models). */
int omni_vision_config_patch_dim (const OmniVisionConfig *cfg);

/* Decoder tokens of @grid: t h w / spatial_merge_size^2. */
int omni_vision_config_n_tokens (const OmniVisionConfig *cfg, const OmniVisionGrid *grid);

#endif /* OMNI_VISION_CONFIG_H */
