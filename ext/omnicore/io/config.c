/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <json-glib/json-glib.h>
#include "omnicore.h"
#include "io/config.h"
#include "io/jsonutil.h"

/* Where the text decoder of each architecture lives and what its config
 * class defaults to when a key is absent (transformers 5.24 classes). */
typedef struct {
  const char *architecture;
  const char *text_path;      /* "" (flat), "text_config" or "thinker_config.text_config" */
  const char *model_type;     /* of the text part */
  const char *prefix, *lm_head;
  gboolean moe;
  int kv_heads;               /* default num_key_value_heads */
  int head_dim;               /* default head_dim; 0 = hidden / heads */
  int max_pos;
  double theta;
  int intermediate;           /* default intermediate_size; 0 = required */
  gboolean norm_topk;         /* default norm_topk_prob */
  gboolean norm_topk_forced;  /* the model always renormalizes (Qwen3-VL-MoE) */
} ArchInfo;

static const ArchInfo archs[] = {
  { "Qwen3ForCausalLM", "", "qwen3", "model.", "lm_head.weight",
    FALSE, 32, 128, 32768, 10000.0, 0, FALSE, FALSE },
  { "Qwen3MoeForCausalLM", "", "qwen3_moe", "model.", "lm_head.weight",
    TRUE, 4, 0, 32768, 10000.0, 6144, FALSE, FALSE },
  { "Qwen3VLForConditionalGeneration", "text_config", "qwen3_vl_text",
    "model.language_model.", "lm_head.weight",
    FALSE, 32, 128, 128000, 500000.0, 0, FALSE, FALSE },
  { "Qwen3VLMoeForConditionalGeneration", "text_config", "qwen3_vl_moe_text",
    "model.language_model.", "lm_head.weight",
    TRUE, 16, 0, 128000, 500000.0, 5632, TRUE, TRUE },
  { "Qwen3OmniMoeForConditionalGeneration", "thinker_config.text_config", "qwen3_omni_moe_text",
    "thinker.model.", "thinker.lm_head.weight",
    TRUE, 4, 0, 32768, 1000000.0, 18944, TRUE, FALSE },
  { "Qwen3OmniMoeThinkerForConditionalGeneration", "text_config", "qwen3_omni_moe_text",
    "model.", "lm_head.weight",
    TRUE, 4, 0, 32768, 1000000.0, 18944, TRUE, FALSE },
  /* Qwen3-ASR in the original release layout (a thinker, like Qwen3-Omni's) */
  { "Qwen3ASRForConditionalGeneration", "thinker_config.text_config", "qwen3",
    "thinker.model.", "thinker.lm_head.weight",
    FALSE, 8, 128, 65536, 5000000.0, 6144, FALSE, FALSE },
  /* ... and in transformers' own ("-hf") layout */
  { "Qwen3ASRForConditionalGeneration", "text_config", "qwen3",
    "model.language_model.", "lm_head.weight",
    FALSE, 8, 128, 65536, 10000.0, 6144, FALSE, FALSE },
};

/* Top-level model_type -> architecture, for configs saved without
 * "architectures" (a bare config class). */
static const char *const type_archs[][2] = {
  { "qwen3", "Qwen3ForCausalLM" },
  { "qwen3_moe", "Qwen3MoeForCausalLM" },
  { "qwen3_vl", "Qwen3VLForConditionalGeneration" },
  { "qwen3_vl_moe", "Qwen3VLMoeForConditionalGeneration" },
  { "qwen3_omni_moe", "Qwen3OmniMoeForConditionalGeneration" },
  { "qwen3_omni_moe_thinker", "Qwen3OmniMoeThinkerForConditionalGeneration" },
  { "qwen3_asr", "Qwen3ASRForConditionalGeneration" },
};

const char *
omni_text_config_supported (void)
{
  return "Qwen3ForCausalLM, Qwen3MoeForCausalLM, Qwen3VLForConditionalGeneration, "
         "Qwen3VLMoeForConditionalGeneration, Qwen3OmniMoeForConditionalGeneration, "
         "Qwen3OmniMoeThinkerForConditionalGeneration, Qwen3ASRForConditionalGeneration";
}

static gboolean
positive (OmniJsonCtx *c, const char *key, double v)
{
  return v > 0 || omni_json_bad (c, OMNI_ERROR_FORMAT, key, "%g is out of range, expected > 0", v);
}

/* The entry for @name; where one architecture has two layouts, the one
 * whose config object (first part of text_path) @root has. */
static const ArchInfo *
find_arch (const char *name, JsonObject *root)
{
  const ArchInfo *first = NULL;
  for (guint i = 0; i < G_N_ELEMENTS (archs); i++) {
    const ArchInfo *a = &archs[i];
    if (g_strcmp0 (a->architecture, name) != 0)
      continue;
    g_autofree char *top = g_strndup (a->text_path, strcspn (a->text_path, "."));
    if (!*top || json_object_has_member (root, top))
      return a;
    if (!first)
      first = a;
  }
  return first;
}

/* architectures[0], or the architecture of the top-level model_type. */
static const ArchInfo *
resolve_arch (OmniJsonCtx *c, JsonObject *root)
{
  JsonNode *n = omni_json_member (root, "architectures");
  const char *name = NULL;
  if (n && JSON_NODE_HOLDS_ARRAY (n) && json_array_get_length (json_node_get_array (n)) > 0) {
    JsonNode *e = json_array_get_element (json_node_get_array (n), 0);
    if (JSON_NODE_HOLDS_VALUE (e) && json_node_get_value_type (e) == G_TYPE_STRING)
      name = json_node_get_string (e);
  } else if (n == NULL) {
    const char *mt = omni_json_get_string (root, "model_type");
    for (guint i = 0; mt && i < G_N_ELEMENTS (type_archs); i++)
      if (strcmp (type_archs[i][0], mt) == 0)
        name = type_archs[i][1];
    if (name == NULL) {
      g_set_error (c->error, OMNI_ERROR, OMNI_ERROR_UNSUPPORTED,
                   "%s: no \"architectures\" and model_type %s%s%s is not one we run; "
                   "supported architectures: %s", c->path, mt ? "\"" : "", mt ? mt : "(missing)",
                   mt ? "\"" : "", omni_text_config_supported ());
      return NULL;
    }
  }
  if (name == NULL) {
    omni_json_bad (c, OMNI_ERROR_FORMAT, "architectures", "expected a non-empty array of strings");
    return NULL;
  }
  const ArchInfo *a = find_arch (name, root);
  if (a == NULL)
    g_set_error (c->error, OMNI_ERROR, OMNI_ERROR_UNSUPPORTED,
                 "%s: architecture \"%s\" is not supported; supported architectures: %s",
                 c->path, name, omni_text_config_supported ());
  return a;
}

/* rope_type values transformers knows that we do not implement. */
static gboolean
is_known_unsupported_rope (const char *type)
{
  static const char *const names[] = { "dynamic", "longrope", "llama3", "proportional" };
  for (guint i = 0; i < G_N_ELEMENTS (names); i++)
    if (strcmp (type, names[i]) == 0)
      return TRUE;
  return FALSE;
}

static gboolean
parse_mrope_section (OmniJsonCtx *c, JsonObject *rp, OmniTextConfig *cfg)
{
  JsonNode *n = omni_json_member (rp, "mrope_section");
  if (n == NULL)
    return TRUE;
  JsonArray *a = JSON_NODE_HOLDS_ARRAY (n) ? json_node_get_array (n) : NULL;
  if (a == NULL || json_array_get_length (a) != 3)
    return omni_json_bad (c, OMNI_ERROR_FORMAT, "mrope_section", "expected an array of 3 integers");
  int sum = 0;
  for (guint i = 0; i < 3; i++) {
    JsonNode *e = json_array_get_element (a, i);
    if (!JSON_NODE_HOLDS_VALUE (e) || json_node_get_value_type (e) != G_TYPE_INT64
        || json_node_get_int (e) < 0 || json_node_get_int (e) > 4096)
      return omni_json_bad (c, OMNI_ERROR_FORMAT, "mrope_section", "expected 3 integers >= 0");
    cfg->mrope_section[i] = (int) json_node_get_int (e);
    sum += cfg->mrope_section[i];
  }
  if (sum != cfg->head_dim / 2)
    return omni_json_bad (c, OMNI_ERROR_FORMAT, "mrope_section",
                          "sums to %d, expected head_dim / 2 = %d", sum, cfg->head_dim / 2);
  return TRUE;
}

/* YaRN attention factor as transformers derives it when not given. */
static double
yarn_mscale (double scale, double m)
{
  return scale <= 1 ? 1.0 : 0.1 * m * log (scale) + 1.0;
}

static gboolean
parse_yarn (OmniJsonCtx *c, OmniJsonCtx *outer, JsonObject *top, JsonObject *rp,
            OmniTextConfig *cfg)
{
  double orig, mscale, mscale_all, attn;
  /* a top-level original_max_position_embeddings wins (transformers' Phi3 rule) */
  gboolean top_wins = omni_json_member (top, "original_max_position_embeddings") != NULL;
  OmniJsonCtx *oc = top_wins ? outer : c;
  if (!omni_json_get_double (oc, top_wins ? top : rp, "original_max_position_embeddings",
                             cfg->max_position_embeddings, &orig))
    return FALSE;
  if (orig < 1 || orig > G_MAXINT)
    return omni_json_bad (oc, OMNI_ERROR_FORMAT, "original_max_position_embeddings",
                          "%g is out of range, expected 1..%d", orig, G_MAXINT);
  cfg->rope_original_max_pos = (int) orig;
  if (omni_json_member (rp, "factor") == NULL)
    cfg->rope_factor = cfg->max_position_embeddings / orig;
  if (!omni_json_get_double (c, rp, "beta_fast", 32, &cfg->yarn_beta_fast)
      || !omni_json_get_double (c, rp, "beta_slow", 1, &cfg->yarn_beta_slow)
      || !omni_json_get_double (c, rp, "mscale", 0, &mscale)
      || !omni_json_get_double (c, rp, "mscale_all_dim", 0, &mscale_all)
      || !omni_json_get_double (c, rp, "attention_factor", 0, &attn)
      || !omni_json_get_bool (c, rp, "truncate", TRUE, &cfg->yarn_truncate))
    return FALSE;
  /* transformers treats 0 like absent here ("x or 32") */
  if (cfg->yarn_beta_fast == 0)
    cfg->yarn_beta_fast = 32;
  if (cfg->yarn_beta_slow == 0)
    cfg->yarn_beta_slow = 1;
  if (attn < 0)
    return omni_json_bad (c, OMNI_ERROR_FORMAT, "attention_factor",
                          "%g is out of range, expected >= 0", attn);
  if (attn == 0)
    attn = mscale != 0 && mscale_all != 0
           ? yarn_mscale (cfg->rope_factor, mscale) / yarn_mscale (cfg->rope_factor, mscale_all)
           : yarn_mscale (cfg->rope_factor, 1);
  cfg->yarn_attention_factor = attn;
  return TRUE;
}

/* rope_parameters (transformers 5) or rope_theta + rope_scaling (older);
 * rope_scaling wins over rope_parameters, a theta inside the dict wins over
 * the top-level rope_theta, as in transformers' standardization. */
static gboolean
parse_rope (OmniJsonCtx *c, JsonObject *o, const ArchInfo *a, OmniTextConfig *cfg)
{
  JsonObject *scaling, *params, *rp;
  if (!omni_json_get_object (c, o, "rope_scaling", &scaling)
      || !omni_json_get_object (c, o, "rope_parameters", &params))
    return FALSE;
  rp = scaling && json_object_get_size (scaling) > 0 ? scaling : params;
  char *kp = g_strconcat (c->kp, rp == scaling ? "rope_scaling." : "rope_parameters.", NULL);
  OmniJsonCtx rc = { c->path, kp, c->error };
  gboolean ok = FALSE;
  JsonObject *nested = NULL;
  double top_theta;

  cfg->rope_type = OMNI_ROPE_DEFAULT;
  cfg->rope_factor = 1.0;
  cfg->yarn_beta_fast = 32;
  cfg->yarn_beta_slow = 1;
  cfg->yarn_truncate = TRUE;
  if (!omni_json_get_double (c, o, "rope_theta", a->theta, &top_theta))
    goto out;
  cfg->rope_theta = top_theta;
  if (rp == NULL) {
    ok = positive (c, "rope_theta", cfg->rope_theta);
    goto out;
  }
  /* a dict nested by layer type; Qwen3 has only full-attention layers */
  if (!omni_json_get_object (&rc, rp, "full_attention", &nested))
    goto out;
  rp = nested ? nested : rp;
  const char *type = omni_json_get_string (rp, "rope_type");
  if (type == NULL)
    type = omni_json_get_string (rp, "type");
  if (omni_json_member (rp, "rope_type") && omni_json_get_string (rp, "rope_type") == NULL) {
    omni_json_bad (&rc, OMNI_ERROR_FORMAT, "rope_type", "expected a string");
    goto out;
  }
  if (type == NULL || strcmp (type, "default") == 0 || strcmp (type, "mrope") == 0)
    cfg->rope_type = OMNI_ROPE_DEFAULT;
  else if (strcmp (type, "linear") == 0)
    cfg->rope_type = OMNI_ROPE_LINEAR;
  else if (strcmp (type, "yarn") == 0)
    cfg->rope_type = OMNI_ROPE_YARN;
  else {
    omni_json_bad (&rc,
                   is_known_unsupported_rope (type) ? OMNI_ERROR_UNSUPPORTED : OMNI_ERROR_FORMAT,
                   "rope_type",
                   "\"%s\" is not supported, expected \"default\", \"linear\" or \"yarn\"", type);
    goto out;
  }
  double prf;
  if (!omni_json_get_double (&rc, rp, "rope_theta", top_theta, &cfg->rope_theta)
      || !positive (&rc, "rope_theta", cfg->rope_theta)
      || !omni_json_get_double (&rc, rp, "partial_rotary_factor", 1.0, &prf))
    goto out;
  if (prf != 1.0) {
    omni_json_bad (&rc, OMNI_ERROR_UNSUPPORTED, "partial_rotary_factor",
                   "%g is not supported, expected 1", prf);
    goto out;
  }
  if (cfg->rope_type != OMNI_ROPE_DEFAULT) {
    if (cfg->rope_type == OMNI_ROPE_LINEAR && omni_json_member (rp, "factor") == NULL) {
      omni_json_bad (&rc, OMNI_ERROR_FORMAT, "factor", "missing; linear RoPE needs a factor > 0");
      goto out;
    }
    if (!omni_json_get_double (&rc, rp, "factor", 1.0, &cfg->rope_factor)
        || !positive (&rc, "factor", cfg->rope_factor))
      goto out;
  }
  if (cfg->rope_type == OMNI_ROPE_YARN && !parse_yarn (&rc, c, o, rp, cfg))
    goto out;
  /* "interleaved" is the Qwen3-Omni spelling of "mrope_interleaved" */
  gboolean il;
  ok = omni_json_get_bool (&rc, rp, "interleaved", FALSE, &il)
       && omni_json_get_bool (&rc, rp, "mrope_interleaved", il, &cfg->mrope_interleaved)
       && parse_mrope_section (&rc, rp, cfg);
out:
  g_free (kp);
  return ok;
}

static gboolean
parse_moe (OmniJsonCtx *c, JsonObject *o, const ArchInfo *a, OmniTextConfig *cfg)
{
  /* transformers maps num_experts onto num_local_experts when saving MoE configs */
  const char *ekey = omni_json_member (o, "num_experts") ? "num_experts" : "num_local_experts";
  if (!omni_json_get_int (c, o, ekey, TRUE, 0, 0, 4096, &cfg->num_experts))
    return FALSE;
  if (cfg->num_experts == 0)
    return TRUE;
  if (!omni_json_get_int (c, o, "num_experts_per_tok", TRUE, 0, 1, 4096, &cfg->num_experts_per_tok)
      || !omni_json_get_int (c, o, "moe_intermediate_size", TRUE, 0, 1, 1 << 22,
                             &cfg->moe_intermediate_size)
      || !omni_json_get_int (c, o, "decoder_sparse_step", FALSE, 1, 1, OMNI_MAX_LAYERS,
                             &cfg->decoder_sparse_step)
      || !omni_json_get_bool (c, o, "norm_topk_prob", a->norm_topk, &cfg->norm_topk_prob))
    return FALSE;
  if (cfg->num_experts_per_tok > cfg->num_experts)
    return omni_json_bad (c, OMNI_ERROR_FORMAT, "num_experts_per_tok",
                          "%d is out of range, expected <= %s = %d", cfg->num_experts_per_tok,
                          ekey, cfg->num_experts);
  if (a->norm_topk_forced)
    cfg->norm_topk_prob = TRUE;
  return TRUE;
}

/* Fills is_moe_layer from decoder_sparse_step and mlp_only_layers. */
static gboolean
parse_moe_layers (OmniJsonCtx *c, JsonObject *o, OmniTextConfig *cfg)
{
  gboolean dense[OMNI_MAX_LAYERS] = { FALSE };
  JsonNode *n = omni_json_member (o, "mlp_only_layers");
  if (n) {
    JsonArray *arr = JSON_NODE_HOLDS_ARRAY (n) ? json_node_get_array (n) : NULL;
    if (arr == NULL)
      return omni_json_bad (c, OMNI_ERROR_FORMAT, "mlp_only_layers",
                            "expected an array of layer indices");
    for (guint i = 0; i < json_array_get_length (arr); i++) {
      JsonNode *e = json_array_get_element (arr, i);
      int64_t v = JSON_NODE_HOLDS_VALUE (e) && json_node_get_value_type (e) == G_TYPE_INT64
                  ? json_node_get_int (e) : -1;
      if (v < 0 || v >= cfg->num_hidden_layers)
        return omni_json_bad (c, OMNI_ERROR_FORMAT, "mlp_only_layers",
                              "entry %u is not a layer index in 0..%d", i,
                              cfg->num_hidden_layers - 1);
      dense[v] = TRUE;
    }
  }
  gboolean any_dense = FALSE;
  for (int i = 0; i < cfg->num_hidden_layers; i++) {
    cfg->is_moe_layer[i] = cfg->num_experts > 0 && !dense[i]
                           && (i + 1) % cfg->decoder_sparse_step == 0;
    any_dense |= !cfg->is_moe_layer[i];
  }
  if (any_dense && cfg->intermediate_size <= 0)
    return omni_json_bad (c, OMNI_ERROR_FORMAT, "intermediate_size",
                          "%d is out of range, expected > 0 (dense MLP layers exist)",
                          cfg->intermediate_size);
  return TRUE;
}

/* Features of the decoder that we do not run. */
static gboolean
check_unsupported (OmniJsonCtx *c, JsonObject *o)
{
  const char *act = omni_json_get_string (o, "hidden_act");
  gboolean sliding;
  if (omni_json_member (o, "hidden_act") && (act == NULL || strcmp (act, "silu") != 0))
    return omni_json_bad (c, OMNI_ERROR_UNSUPPORTED, "hidden_act",
                          "%s%s%s is not supported, expected \"silu\"", act ? "\"" : "",
                          act ? act : "(not a string)", act ? "\"" : "");
  if (!omni_json_get_bool (c, o, "use_sliding_window", FALSE, &sliding))
    return FALSE;
  if (sliding)
    return omni_json_bad (c, OMNI_ERROR_UNSUPPORTED, "use_sliding_window",
                          "sliding-window attention is not supported, expected false");
  return TRUE;
}

static gboolean
parse_shapes (OmniJsonCtx *c, JsonObject *o, const ArchInfo *a, OmniTextConfig *cfg)
{
  int64_t kv, hd;
  if (!omni_json_get_int (c, o, "vocab_size", TRUE, 0, 1, 1 << 24, &cfg->vocab_size)
      || !omni_json_get_int (c, o, "hidden_size", TRUE, 0, 1, 1 << 20, &cfg->hidden_size)
      || !omni_json_get_int (c, o, "intermediate_size", !a->moe, a->intermediate, 0, 1 << 22,
                             &cfg->intermediate_size)
      || !omni_json_get_int (c, o, "num_hidden_layers", TRUE, 0, 1, OMNI_MAX_LAYERS,
                             &cfg->num_hidden_layers)
      || !omni_json_get_int (c, o, "num_attention_heads", TRUE, 0, 1, 1024,
                             &cfg->num_attention_heads)
      || !omni_json_get_int64 (c, o, "num_key_value_heads", FALSE, a->kv_heads, &kv)
      || !omni_json_get_int64 (c, o, "head_dim", FALSE, a->head_dim, &hd)
      || !omni_json_get_int (c, o, "max_position_embeddings", FALSE, a->max_pos, 1, G_MAXINT,
                             &cfg->max_position_embeddings)
      || !omni_json_get_double (c, o, "rms_norm_eps", 1e-6, &cfg->rms_norm_eps)
      || !positive (c, "rms_norm_eps", cfg->rms_norm_eps)
      || !omni_json_get_bool (c, o, "attention_bias", FALSE, &cfg->attention_bias))
    return FALSE;
  /* an explicit null means "same as the query heads" */
  if (json_object_has_member (o, "num_key_value_heads")
      && omni_json_member (o, "num_key_value_heads") == NULL)
    kv = cfg->num_attention_heads;
  if (kv < 1 || kv > cfg->num_attention_heads || cfg->num_attention_heads % kv != 0)
    return omni_json_bad (c, OMNI_ERROR_FORMAT, "num_key_value_heads",
                          "%" G_GINT64_FORMAT " is out of range, expected a divisor of "
                          "num_attention_heads = %d", kv, cfg->num_attention_heads);
  cfg->num_key_value_heads = (int) kv;
  if (hd == 0) {
    if (cfg->hidden_size % cfg->num_attention_heads != 0)
      return omni_json_bad (c, OMNI_ERROR_FORMAT, "num_attention_heads",
                            "%d does not divide hidden_size = %d and head_dim is absent",
                            cfg->num_attention_heads, cfg->hidden_size);
    hd = cfg->hidden_size / cfg->num_attention_heads;
  }
  if (hd < 2 || hd > 1024 || hd % 2 != 0)
    return omni_json_bad (c, OMNI_ERROR_FORMAT, "head_dim", "%" G_GINT64_FORMAT " is out of "
                          "range, expected an even number in 2..1024", hd);
  cfg->head_dim = (int) hd;
  return TRUE;
}

/* quantization_config of the top level: FP8 block quantization or nothing. */
static gboolean
parse_quant (OmniJsonCtx *c, JsonObject *root, OmniTextConfig *cfg)
{
  JsonObject *q;
  OmniJsonCtx qc = { c->path, "quantization_config.", c->error };
  if (!omni_json_get_object (&qc, root, "quantization_config", &q))
    return FALSE;
  if (q == NULL)
    return TRUE;
  const char *method = omni_json_get_string (q, "quant_method");
  if (method == NULL || strcmp (method, "fp8") != 0)
    return omni_json_bad (&qc, OMNI_ERROR_UNSUPPORTED, "quant_method",
                          "%s%s%s is not supported, expected \"fp8\" or no quantization_config",
                          method ? "\"" : "", method ? method : "(missing)", method ? "\"" : "");
  g_strlcpy (cfg->quant_method, method, sizeof cfg->quant_method);
  JsonNode *n = omni_json_member (q, "weight_block_size");
  if (n == NULL)
    return TRUE;
  JsonArray *a = JSON_NODE_HOLDS_ARRAY (n) ? json_node_get_array (n) : NULL;
  for (guint i = 0; a && i < 2 && json_array_get_length (a) == 2; i++) {
    JsonNode *e = json_array_get_element (a, i);
    if (JSON_NODE_HOLDS_VALUE (e) && json_node_get_value_type (e) == G_TYPE_INT64
        && json_node_get_int (e) > 0 && json_node_get_int (e) <= 65536)
      cfg->fp8_block[i] = (int) json_node_get_int (e);
  }
  if (cfg->fp8_block[0] == 0 || cfg->fp8_block[1] == 0)
    return omni_json_bad (&qc, OMNI_ERROR_FORMAT, "weight_block_size",
                          "expected [rows, cols], two integers > 0");
  return TRUE;
}

/* Follows @a->text_path from @root; the parent of the text config holds
 * tie_word_embeddings for the nested forms. */
static gboolean
find_text (OmniJsonCtx *c, JsonObject *root, const ArchInfo *a, JsonObject **text,
           JsonObject **parent)
{
  char **parts = g_strsplit (a->text_path, ".", -1);
  JsonObject *o = root, *prev = root;
  GString *kp = g_string_new ("");
  gboolean ok = TRUE;
  for (int i = 0; parts[i] && *parts[i] && ok; i++) {
    JsonObject *next;
    OmniJsonCtx pc = { c->path, kp->str, c->error };
    ok = omni_json_get_object (&pc, o, parts[i], &next)
         && (next || omni_json_bad (&pc, OMNI_ERROR_FORMAT, parts[i], "missing; %s keeps its "
                                    "text decoder settings in %s", a->architecture,
                                    a->text_path));
    prev = o;
    o = next;
    g_string_append_printf (kp, "%s.", parts[i]);
  }
  g_strfreev (parts);
  g_string_free (kp, TRUE);
  *text = o;
  *parent = prev;
  return ok;
}

static gboolean
parse_text (OmniJsonCtx *rc, JsonObject *root, const ArchInfo *a, OmniTextConfig *cfg)
{
  JsonObject *o, *parent;
  if (!find_text (rc, root, a, &o, &parent))
    return FALSE;
  char *kp = *a->text_path ? g_strconcat (a->text_path, ".", NULL) : g_strdup ("");
  OmniJsonCtx c = { rc->path, kp, rc->error };
  OmniJsonCtx pc = { rc->path, "", rc->error };
  if (parent != root)
    pc.kp = "thinker_config.";
  const char *mt = omni_json_get_string (o, "model_type");
  g_strlcpy (cfg->model_type, mt ? mt : a->model_type, sizeof cfg->model_type);
  g_strlcpy (cfg->prefix, a->prefix, sizeof cfg->prefix);
  g_strlcpy (cfg->lm_head_name, a->lm_head, sizeof cfg->lm_head_name);
  cfg->decoder_sparse_step = 1;
  /* flat configs tie in their own object; nested ones in the parent, which
   * is what the transformers model class reads */
  gboolean ok = parse_shapes (&c, o, a, cfg)
                && omni_json_get_bool (a->text_path[0] ? &pc : &c, parent, "tie_word_embeddings",
                                       FALSE, &cfg->tie_word_embeddings)
                && check_unsupported (&c, o)
                && (!a->moe || parse_moe (&c, o, a, cfg))
                && parse_moe_layers (&c, o, cfg)
                && parse_rope (&c, o, a, cfg);
  g_free (kp);
  return ok;
}

gboolean
omni_text_config_load (const char *path, OmniTextConfig *cfg, GError **error)
{
  JsonParser *parser = omni_json_parser_new_strict ();
  OmniJsonCtx c = { path, "", error };
  gboolean ok = FALSE;

  memset (cfg, 0, sizeof *cfg);
  if (!omni_json_parser_load_file (parser, path, error))
    goto out;
  JsonNode *rn = json_parser_get_root (parser);
  if (rn == NULL || !JSON_NODE_HOLDS_OBJECT (rn)) {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_FORMAT, "%s: expected a JSON object", path);
    goto out;
  }
  JsonObject *root = json_node_get_object (rn);
  const ArchInfo *a = resolve_arch (&c, root);
  if (a == NULL)
    goto out;
  g_strlcpy (cfg->architecture, a->architecture, sizeof cfg->architecture);
  ok = parse_text (&c, root, a, cfg) && parse_quant (&c, root, cfg);
out:
  g_object_unref (parser);
  return ok;
}

static void
generation_defaults (OmniGenerationConfig *gen)
{
  memset (gen, 0, sizeof *gen);
  gen->pad_id = -1;
  gen->temperature = 1.0;
  gen->top_k = 0;
  gen->top_p = 1.0;
  gen->repetition_penalty = 1.0;
  gen->presence_penalty = 0.0;
}

static gboolean
parse_eos (OmniJsonCtx *c, JsonObject *o, OmniGenerationConfig *gen)
{
  JsonNode *n = omni_json_member (o, "eos_token_id");
  if (n == NULL)
    return TRUE;
  JsonArray *a = JSON_NODE_HOLDS_ARRAY (n) ? json_node_get_array (n) : NULL;
  guint count = a ? json_array_get_length (a) : 1;
  if (count > OMNI_MAX_EOS)
    return omni_json_bad (c, OMNI_ERROR_FORMAT, "eos_token_id", "%u ids, expected at most %d",
                          count, OMNI_MAX_EOS);
  for (guint i = 0; i < count; i++) {
    JsonNode *e = a ? json_array_get_element (a, i) : n;
    if (!JSON_NODE_HOLDS_VALUE (e) || json_node_get_value_type (e) != G_TYPE_INT64
        || json_node_get_int (e) < 0 || json_node_get_int (e) > G_MAXINT)
      return omni_json_bad (c, OMNI_ERROR_FORMAT, "eos_token_id", "expected a token id >= 0 or an "
                            "array of them");
    gen->eos_ids[gen->n_eos++] = (int) json_node_get_int (e);
  }
  return TRUE;
}

static gboolean
parse_generation (OmniJsonCtx *c, JsonObject *o, OmniGenerationConfig *gen)
{
  double rp;
  if (!parse_eos (c, o, gen)
      || !omni_json_get_int (c, o, "pad_token_id", FALSE, -1, -1, G_MAXINT, &gen->pad_id)
      || !omni_json_get_bool (c, o, "do_sample", FALSE, &gen->do_sample)
      || !omni_json_get_double (c, o, "temperature", 1.0, &gen->temperature)
      || !omni_json_get_int (c, o, "top_k", FALSE, 0, 0, G_MAXINT, &gen->top_k)
      || !omni_json_get_double (c, o, "top_p", 1.0, &gen->top_p)
      || !omni_json_get_double (c, o, "repetition_penalty", 1.0, &rp)
      || !omni_json_get_double (c, o, "presence_penalty", 0.0, &gen->presence_penalty))
    return FALSE;
  gen->repetition_penalty = rp;
  if (gen->temperature < 0)
    return omni_json_bad (c, OMNI_ERROR_FORMAT, "temperature", "%g is out of range, expected >= 0",
                          gen->temperature);
  if (gen->top_p <= 0 || gen->top_p > 1)
    return omni_json_bad (c, OMNI_ERROR_FORMAT, "top_p",
                          "%g is out of range, expected 0 < top_p <= 1", gen->top_p);
  return positive (c, "repetition_penalty", rp);
}

gboolean
omni_generation_config_load (const char *path, OmniGenerationConfig *gen, GError **error)
{
  generation_defaults (gen);
  if (!g_file_test (path, G_FILE_TEST_EXISTS))
    return TRUE;
  JsonParser *parser = omni_json_parser_new_strict ();
  OmniJsonCtx c = { path, "", error };
  gboolean ok = FALSE;
  if (omni_json_parser_load_file (parser, path, error)) {
    JsonNode *rn = json_parser_get_root (parser);
    if (rn == NULL || !JSON_NODE_HOLDS_OBJECT (rn))
      g_set_error (error, OMNI_ERROR, OMNI_ERROR_FORMAT, "%s: expected a JSON object", path);
    else
      ok = parse_generation (&c, json_node_get_object (rn), gen);
  }
  g_object_unref (parser);
  if (!ok)
    generation_defaults (gen);
  return ok;
}
