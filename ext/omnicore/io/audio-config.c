/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <string.h>
#include <json-glib/json-glib.h>
#include "omnicore.h"
#include "io/audio-config.h"
#include "io/jsonutil.h"

/* Values a key takes when config.json leaves it out: the defaults of the
 * config class that reads it (transformers 5.24; for the original Qwen3-ASR
 * layout, qwen_asr's Qwen3ASRAudioEncoderConfig and Qwen3ASRThinkerConfig
 * in QwenLM/Qwen3-ASR). -1: none. */
typedef struct {
  int mel, layers, heads, ffn, d_model, n_window, n_window_infer, downsample, output_dim;
  int max_positions, conv_chunksize;
  const char *max_positions_key;
  int audio_token_id, audio_start_token_id;
} AudioDefaults;

static const AudioDefaults omni_defaults = {   /* Qwen3OmniMoeAudioEncoderConfig, ThinkerConfig */
  128, 32, 20, 5120, 1280, 50, 800, 480, 3584, 1500, 500, "max_source_positions", 151646, 151647
};
static const AudioDefaults asr_hf_defaults = { /* Qwen3ASREncoderConfig, Qwen3ASRConfig */
  128, 24, 16, 4096, 1024, 50, 800, 480, 3584, 13, 500, "max_position_embeddings", 151676, -1
};
static const AudioDefaults asr_defaults = {    /* original Qwen3-ASR (qwen_asr) */
  128, 32, 20, 5120, 1280, 100, 400, 480, 3584, 1500, 500, "max_source_positions", 151646, 151647
};

/* Tokens of a full chunk: transformers hard-codes 13 (100 frames). */
#define FULL_CHUNK_TOKENS 13

/* An integer in [lo, hi], @def when absent: every audio key is optional. */
static gboolean
get_int (OmniJsonCtx *c, JsonObject *o, const char *key, int def, int lo, int hi, int *out)
{
  return omni_json_get_int (c, o, key, FALSE, def, lo, hi, out);
}

/* A token id, @def (-1: none) when absent. */
static gboolean
get_id (OmniJsonCtx *c, JsonObject *o, const char *key, int def, int *out)
{
  return get_int (c, o, key, def, 0, G_MAXINT - 1, out);
}

/* activation_function must be "gelu" (exact erf GELU) and scale_embedding
 * false: transformers builds embed_scale from it but never applies it, and no
 * released checkpoint sets it, so a true value means a model we do not know. */
static gboolean
check_options (OmniJsonCtx *c, JsonObject *a)
{
  JsonNode *n = omni_json_member (a, "activation_function");
  if (n) {
    const char *s = JSON_NODE_HOLDS_VALUE (n) && json_node_get_value_type (n) == G_TYPE_STRING
                        ? json_node_get_string (n) : NULL;
    if (s == NULL)
      return omni_json_bad (c, OMNI_ERROR_FORMAT, "activation_function", "expected a string");
    if (strcmp (s, "gelu") != 0)
      return omni_json_bad (c, OMNI_ERROR_UNSUPPORTED, "activation_function",
                            "\"%s\" is not supported, expected \"gelu\"", s);
  }
  gboolean scale;
  if (!omni_json_get_bool (c, a, "scale_embedding", FALSE, &scale))
    return FALSE;
  if (scale)
    return omni_json_bad (c, OMNI_ERROR_UNSUPPORTED, "scale_embedding",
                          "true is not supported, expected false");
  return TRUE;
}

static gboolean
parse_sizes (OmniJsonCtx *c, JsonObject *a, const AudioDefaults *d, OmniAudioConfig *cfg)
{
  if (!get_int (c, a, "num_mel_bins", d->mel, 1, 1024, &cfg->num_mel_bins)
      || !get_int (c, a, "d_model", d->d_model, 4, 1 << 16, &cfg->d_model)
      || !get_int (c, a, "encoder_layers", d->layers, 1, 256, &cfg->encoder_layers)
      || !get_int (c, a, "encoder_attention_heads", d->heads, 1, 1024, &cfg->encoder_attention_heads)
      || !get_int (c, a, "encoder_ffn_dim", d->ffn, 1, 1 << 20, &cfg->encoder_ffn_dim)
      || !get_int (c, a, "n_window", d->n_window, 1, 1 << 16, &cfg->n_window)
      || !get_int (c, a, "n_window_infer", d->n_window_infer, 1, 1 << 24, &cfg->n_window_infer)
      || !get_int (c, a, "downsample_hidden_size", d->downsample, 1, 1 << 16,
                 &cfg->downsample_hidden_size)
      || !get_int (c, a, "output_dim", d->output_dim, 1, 1 << 20, &cfg->output_dim)
      || !get_int (c, a, d->max_positions_key, d->max_positions, 1, 1 << 24, &cfg->max_positions)
      || !get_int (c, a, "conv_chunksize", d->conv_chunksize, 1, 1 << 20, &cfg->conv_chunksize))
    return FALSE;
  if (cfg->d_model % 2 || cfg->d_model % cfg->encoder_attention_heads)
    return omni_json_bad (c, OMNI_ERROR_FORMAT, "d_model", "%d must be even and a multiple of "
                          "encoder_attention_heads (%d)", cfg->d_model,
                          cfg->encoder_attention_heads);
  if (omni_audio_config_chunk_tokens (2 * cfg->n_window) != FULL_CHUNK_TOKENS)
    return omni_json_bad (c, OMNI_ERROR_UNSUPPORTED, "n_window",
                          "%d gives %d tokens per chunk of %d frames; the models count %d",
                          cfg->n_window, omni_audio_config_chunk_tokens (2 * cfg->n_window),
                          2 * cfg->n_window, FULL_CHUNK_TOKENS);
  if (cfg->n_window_infer < 2 * cfg->n_window)
    return omni_json_bad (c, OMNI_ERROR_FORMAT, "n_window_infer",
                          "%d is less than one chunk (2 n_window = %d)", cfg->n_window_infer,
                          2 * cfg->n_window);
  if (cfg->max_positions < FULL_CHUNK_TOKENS)
    return omni_json_bad (c, OMNI_ERROR_FORMAT, d->max_positions_key,
                          "%d is less than the %d positions of one chunk", cfg->max_positions,
                          FULL_CHUNK_TOKENS);
  return check_options (c, a);
}

static void
set_names (OmniAudioConfig *cfg, const char *tower, const char *proj1, const char *proj2)
{
  g_strlcpy (cfg->tower_prefix, tower, sizeof cfg->tower_prefix);
  g_snprintf (cfg->proj1, sizeof cfg->proj1, "%s", proj1);
  g_snprintf (cfg->proj2, sizeof cfg->proj2, "%s", proj2);
}

static gboolean
is_asr (JsonObject *root)
{
  const char *mt = omni_json_get_string (root, "model_type");
  JsonNode *n = omni_json_member (root, "architectures");
  const char *arch = NULL;

  if (n && JSON_NODE_HOLDS_ARRAY (n) && json_array_get_length (json_node_get_array (n)) > 0)
    arch = json_array_get_string_element (json_node_get_array (n), 0);
  return g_strcmp0 (mt, "qwen3_asr") == 0 || (arch && strstr (arch, "Qwen3ASR") != NULL);
}

/* Finds the audio_config (its key path in @audio_kp) and the object holding
 * the token ids, and fills the layout and tensor names. */
static gboolean
locate (OmniJsonCtx *c, JsonObject *root, OmniAudioConfig *cfg, JsonObject **audio,
        JsonObject **ids, const AudioDefaults **d, const char **audio_kp)
{
  JsonObject *thinker;
  const char *mt = omni_json_get_string (root, "model_type");

  if (!omni_json_get_object (c, root, "thinker_config", &thinker))
    return FALSE;
  if (thinker) {
    gboolean asr = is_asr (root);
    c->kp = "thinker_config.";
    if (!omni_json_get_object (c, thinker, "audio_config", audio))
      return FALSE;
    *ids = thinker;
    *audio_kp = "thinker_config.audio_config.";
    cfg->layout = asr ? OMNI_AUDIO_LAYOUT_ASR : OMNI_AUDIO_LAYOUT_OMNI;
    *d = asr ? &asr_defaults : &omni_defaults;
    set_names (cfg, "thinker.audio_tower.", "thinker.audio_tower.proj1", "thinker.audio_tower.proj2");
  } else {
    if (!omni_json_get_object (c, root, "audio_config", audio))
      return FALSE;
    *ids = root;
    *audio_kp = "audio_config.";
    if (*audio && is_asr (root)) {
      cfg->layout = OMNI_AUDIO_LAYOUT_ASR_HF;
      *d = &asr_hf_defaults;
      set_names (cfg, "model.audio_tower.", "model.multi_modal_projector.linear_1",
                 "model.multi_modal_projector.linear_2");
    } else if (*audio && g_strcmp0 (mt, "qwen3_omni_moe_thinker") == 0) {
      cfg->layout = OMNI_AUDIO_LAYOUT_OMNI;
      *d = &omni_defaults;
      set_names (cfg, "audio_tower.", "audio_tower.proj1", "audio_tower.proj2");
    } else if (*audio) {
      g_set_error (c->error, OMNI_ERROR, OMNI_ERROR_UNSUPPORTED,
                   "%s: the audio_config of model_type \"%s\" is not one we run (Qwen3-Omni, "
                   "Qwen3-ASR)", c->path, mt ? mt : "(missing)");
      return FALSE;
    }
  }
  if (*audio == NULL) {
    g_set_error (c->error, OMNI_ERROR, OMNI_ERROR_UNSUPPORTED,
                 "%s: model_type \"%s\" has no audio encoder (audio_config)", c->path,
                 mt ? mt : "(missing)");
    return FALSE;
  }
  return TRUE;
}

/* Audio tower model types of other families (a different encoder design). */
static gboolean
check_audio_type (OmniJsonCtx *c, JsonObject *audio)
{
  const char *t = omni_json_get_string (audio, "model_type");
  static const char *const foreign[] = { "qwen2_5_omni_audio_encoder", "qwen2_audio_encoder",
                                         "whisper" };

  for (gsize i = 0; t && i < G_N_ELEMENTS (foreign); i++)
    if (strcmp (t, foreign[i]) == 0)
      return omni_json_bad (c, OMNI_ERROR_UNSUPPORTED, "model_type",
                            "\"%s\" is not a Qwen3 AuT encoder", t);
  return TRUE;
}

static gboolean
parse_root (OmniJsonCtx *c, JsonObject *root, OmniAudioConfig *cfg)
{
  JsonObject *audio = NULL, *ids = NULL;
  const AudioDefaults *d = NULL;
  const char *ids_kp, *audio_kp = "";

  memset (cfg, 0, sizeof *cfg);
  if (!locate (c, root, cfg, &audio, &ids, &d, &audio_kp))
    return FALSE;
  ids_kp = c->kp;
  c->kp = audio_kp;
  if (!check_audio_type (c, audio) || !parse_sizes (c, audio, d, cfg))
    return FALSE;
  cfg->pad_full_chunks = cfg->layout == OMNI_AUDIO_LAYOUT_ASR_HF;
  c->kp = ids_kp;
  return get_id (c, ids, "audio_token_id", d->audio_token_id, &cfg->audio_token_id)
      && get_id (c, ids, "audio_start_token_id", d->audio_start_token_id, &cfg->audio_start_token_id)
      && get_id (c, ids, "audio_end_token_id", -1, &cfg->audio_end_token_id);
}

gboolean
omni_audio_config_parse (const char *name, const char *json, gssize len, OmniAudioConfig *cfg,
                         GError **error)
{
  g_autoptr (JsonParser) parser = omni_json_parser_new_strict ();
  OmniJsonCtx c = { name, "", error };

  if (!omni_json_parser_load (parser, name, json, len, error))
    return FALSE;
  JsonNode *root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root)) {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_FORMAT, "%s: expected a JSON object", name);
    return FALSE;
  }
  return parse_root (&c, json_node_get_object (root), cfg);
}

gboolean
omni_audio_config_load (const char *path, OmniAudioConfig *cfg, GError **error)
{
  g_autofree char *data = NULL;
  gsize len = 0;
  g_autoptr (GError) local = NULL;

  if (!g_file_get_contents (path, &data, &len, &local)) {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_IO, "%s: cannot read: %s", path, local->message);
    return FALSE;
  }
  return omni_audio_config_parse (path, data, (gssize) len, cfg, error);
}

int
omni_audio_config_chunk_tokens (int frames)
{
  for (int i = 0; i < 3 && frames > 0; i++)
    frames = (frames - 1) / 2 + 1;
  return MAX (frames, 0);
}

int
omni_audio_config_n_tokens (const OmniAudioConfig *cfg, int n_frames)
{
  int chunk = 2 * cfg->n_window;

  if (n_frames <= 0)
    return 0;
  return (n_frames / chunk) * FULL_CHUNK_TOKENS + omni_audio_config_chunk_tokens (n_frames % chunk);
}
