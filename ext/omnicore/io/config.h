/* config.json and generation_config.json of Qwen snapshots.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef OMNI_CONFIG_H
#define OMNI_CONFIG_H

#include <glib.h>

#define OMNI_MAX_LAYERS 256
#define OMNI_MAX_EOS 8

typedef enum {
  OMNI_ROPE_DEFAULT,
  OMNI_ROPE_LINEAR,
  OMNI_ROPE_YARN,
} OmniRopeType;

/* The text decoder of any supported model (Qwen3, Qwen3-MoE, and the
 * text_config / thinker_config.text_config of Qwen3-VL and Qwen3-Omni). */
typedef struct {
  char architecture[64];   /* architectures[0] of the top-level config */
  char model_type[64];     /* model_type of the text part, e.g. "qwen3_moe" */
  int vocab_size;
  int hidden_size;
  int intermediate_size;
  int num_hidden_layers;
  int num_attention_heads;
  int num_key_value_heads;
  int head_dim;
  double rms_norm_eps;
  double rope_theta;
  int max_position_embeddings;
  gboolean tie_word_embeddings;
  gboolean attention_bias;
  /* rope scaling */
  OmniRopeType rope_type;
  double rope_factor;
  int rope_original_max_pos;
  double yarn_beta_fast, yarn_beta_slow;  /* YaRN defaults 32 / 1 */
  double yarn_attention_factor;           /* as given, else derived (0.1 ln factor + 1) */
  int mrope_section[3];                   /* all 0 when not M-RoPE */
  gboolean mrope_interleaved;
  /* MoE: num_experts 0 for dense models */
  int num_experts;
  int num_experts_per_tok;
  int moe_intermediate_size;
  gboolean norm_topk_prob;
  int decoder_sparse_step;
  gboolean is_moe_layer[OMNI_MAX_LAYERS]; /* derived: sparse step + mlp_only_layers */
  /* tensor name prefix of the decoder: "model." or "model.language_model." or
   * "thinker.model." (lm_head prefix in lm_head_name) */
  char prefix[64];
  char lm_head_name[96];
  /* added after the first contract: */
  gboolean yarn_truncate;                 /* YaRN "truncate" (default TRUE) */
  char quant_method[32];                  /* quantization_config.quant_method, "" = none */
  int fp8_block[2];                       /* weight_block_size, 0 0 = absent */
} OmniTextConfig;

typedef struct {
  int eos_ids[OMNI_MAX_EOS];
  int n_eos;
  int pad_id;              /* -1 when absent */
  gboolean do_sample;
  double temperature;      /* defaults when absent: 1.0 */
  int top_k;               /* 0 = off */
  double top_p;            /* 1.0 = off */
  double repetition_penalty; /* 1.0 = off */
  double presence_penalty;   /* 0 = off */
} OmniGenerationConfig;

/* Parses @path (a config.json). Unknown architectures are
 * OMNI_ERROR_UNSUPPORTED; missing or out-of-range values OMNI_ERROR_FORMAT,
 * naming the file and the key. */
gboolean omni_text_config_load (const char *path, OmniTextConfig *cfg, GError **error);

/* The architectures omni_text_config_load accepts, comma separated. */
const char *omni_text_config_supported (void);

/* Parses generation_config.json; a missing file gives the defaults and TRUE. */
gboolean omni_generation_config_load (const char *path, OmniGenerationConfig *gen,
                                      GError **error);

#endif /* OMNI_CONFIG_H */
