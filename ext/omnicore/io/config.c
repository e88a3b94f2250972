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

/* One parse: the file, the key prefix of the object being read (for
 * messages) and the error slot. */
typedef struct {
  const char *path;
  const char *kp;
  GError **error;
} Ctx;

static gboolean
bad (Ctx *c, OmniErrorCode code, const char *key, const char *fmt, ...) G_GNUC_PRINTF (4, 5);

static gboolean
bad (Ctx *c, OmniErrorCode code, const char *key, const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  char *what = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  g_set_error (c->error, OMNI_ERROR, code, "%s: \"%s%s\": %s", c->path, c->kp, key, what);
  g_free (what);
  return FALSE;
}

/* The member @key, or NULL when absent or JSON null (both mean "default"). */
static JsonNode *
member (JsonObject *o, const char *key)
{
  JsonNode *n = json_object_get_member (o, key);
  return n && !JSON_NODE_HOLDS_NULL (n) ? n : NULL;
}

static gboolean
get_int (Ctx *c, JsonObject *o, const char *key, gboolean required, int64_t def, int64_t *out)
{
  JsonNode *n = member (o, key);
  if (n == NULL) {
    *out = def;
    return !required || bad (c, OMNI_ERROR_FORMAT, key, "missing; expected an integer");
  }
  if (!JSON_NODE_HOLDS_VALUE (n) || json_node_get_value_type (n) != G_TYPE_INT64)
    return bad (c, OMNI_ERROR_FORMAT, key, "expected an integer");
  *out = json_node_get_int (n);
  return TRUE;
}

/* An int in [lo, hi] stored into an int field. */
static gboolean
get_int_range (Ctx *c, JsonObject *o, const char *key, gboolean required, int64_t def,
               int64_t lo, int64_t hi, int *out)
{
  int64_t v;
  if (!get_int (c, o, key, required, def, &v))
    return FALSE;
  if (v < lo || v > hi)
    return bad (c, OMNI_ERROR_FORMAT, key, "%" G_GINT64_FORMAT " is out of range, expected "
                "%" G_GINT64_FORMAT "..%" G_GINT64_FORMAT, v, lo, hi);
  *out = (int) v;
  return TRUE;
}

static gboolean
get_double (Ctx *c, JsonObject *o, const char *key, double def, double *out)
{
  JsonNode *n = member (o, key);
  *out = def;
  if (n == NULL)
    return TRUE;
  GType t = JSON_NODE_HOLDS_VALUE (n) ? json_node_get_value_type (n) : G_TYPE_INVALID;
  if (t != G_TYPE_INT64 && t != G_TYPE_DOUBLE)
    return bad (c, OMNI_ERROR_FORMAT, key, "expected a number");
  *out = json_node_get_double (n);
  if (!isfinite (*out))
    return bad (c, OMNI_ERROR_FORMAT, key, "expected a finite number");
  return TRUE;
}

static gboolean
get_bool (Ctx *c, JsonObject *o, const char *key, gboolean def, gboolean *out)
{
  JsonNode *n = member (o, key);
  *out = def;
  if (n == NULL)
    return TRUE;
  if (!JSON_NODE_HOLDS_VALUE (n) || json_node_get_value_type (n) != G_TYPE_BOOLEAN)
    return bad (c, OMNI_ERROR_FORMAT, key, "expected true or false");
  *out = json_node_get_boolean (n);
  return TRUE;
}

static gboolean
get_object (Ctx *c, JsonObject *o, const char *key, JsonObject **out)
{
  JsonNode *n = member (o, key);
  *out = NULL;
  if (n == NULL)
    return TRUE;
  if (!JSON_NODE_HOLDS_OBJECT (n))
    return bad (c, OMNI_ERROR_FORMAT, key, "expected a JSON object");
  *out = json_node_get_object (n);
  return TRUE;
}

static gboolean
positive (Ctx *c, const char *key, double v)
{
  return v > 0 || bad (c, OMNI_ERROR_FORMAT, key, "%g is out of range, expected > 0", v);
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
resolve_arch (Ctx *c, JsonObject *root)
{
  JsonNode *n = member (root, "architectures");
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
    bad (c, OMNI_ERROR_FORMAT, "architectures", "expected a non-empty array of strings");
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
parse_mrope_section (Ctx *c, JsonObject *rp, OmniTextConfig *cfg)
{
  JsonNode *n = member (rp, "mrope_section");
  if (n == NULL)
    return TRUE;
  JsonArray *a = JSON_NODE_HOLDS_ARRAY (n) ? json_node_get_array (n) : NULL;
  if (a == NULL || json_array_get_length (a) != 3)
    return bad (c, OMNI_ERROR_FORMAT, "mrope_section", "expected an array of 3 integers");
  int sum = 0;
  for (guint i = 0; i < 3; i++) {
    JsonNode *e = json_array_get_element (a, i);
    if (!JSON_NODE_HOLDS_VALUE (e) || json_node_get_value_type (e) != G_TYPE_INT64
        || json_node_get_int (e) < 0 || json_node_get_int (e) > 4096)
      return bad (c, OMNI_ERROR_FORMAT, "mrope_section", "expected 3 integers >= 0");
    cfg->mrope_section[i] = (int) json_node_get_int (e);
    sum += cfg->mrope_section[i];
  }
  if (sum != cfg->head_dim / 2)
    return bad (c, OMNI_ERROR_FORMAT, "mrope_section", "sums to %d, expected head_dim / 2 = %d",
                sum, cfg->head_dim / 2);
  return TRUE;
}

/* YaRN attention factor as transformers derives it when not given. */
static double
yarn_mscale (double scale, double m)
{
  return scale <= 1 ? 1.0 : 0.1 * m * log (scale) + 1.0;
}

static gboolean
parse_yarn (Ctx *c, Ctx *outer, JsonObject *top, JsonObject *rp, OmniTextConfig *cfg)
{
  double orig, mscale, mscale_all, attn;
  /* a top-level original_max_position_embeddings wins (transformers' Phi3 rule) */
  gboolean top_wins = member (top, "original_max_position_embeddings") != NULL;
  Ctx *oc = top_wins ? outer : c;
  if (!get_double (oc, top_wins ? top : rp, "original_max_position_embeddings",
                   cfg->max_position_embeddings, &orig))
    return FALSE;
  if (orig < 1 || orig > G_MAXINT)
    return bad (oc, OMNI_ERROR_FORMAT, "original_max_position_embeddings",
                "%g is out of range, expected 1..%d", orig, G_MAXINT);
  cfg->rope_original_max_pos = (int) orig;
  if (member (rp, "factor") == NULL)
    cfg->rope_factor = cfg->max_position_embeddings / orig;
  if (!get_double (c, rp, "beta_fast", 32, &cfg->yarn_beta_fast)
      || !get_double (c, rp, "beta_slow", 1, &cfg->yarn_beta_slow)
      || !get_double (c, rp, "mscale", 0, &mscale)
      || !get_double (c, rp, "mscale_all_dim", 0, &mscale_all)
      || !get_double (c, rp, "attention_factor", 0, &attn)
      || !get_bool (c, rp, "truncate", TRUE, &cfg->yarn_truncate))
    return FALSE;
  /* transformers treats 0 like absent here ("x or 32") */
  if (cfg->yarn_beta_fast == 0)
    cfg->yarn_beta_fast = 32;
  if (cfg->yarn_beta_slow == 0)
    cfg->yarn_beta_slow = 1;
  if (attn < 0)
    return bad (c, OMNI_ERROR_FORMAT, "attention_factor", "%g is out of range, expected >= 0", attn);
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
parse_rope (Ctx *c, JsonObject *o, const ArchInfo *a, OmniTextConfig *cfg)
{
  JsonObject *scaling, *params, *rp;
  if (!get_object (c, o, "rope_scaling", &scaling) || !get_object (c, o, "rope_parameters", &params))
    return FALSE;
  rp = scaling && json_object_get_size (scaling) > 0 ? scaling : params;
  char *kp = g_strconcat (c->kp, rp == scaling ? "rope_scaling." : "rope_parameters.", NULL);
  Ctx rc = { c->path, kp, c->error };
  gboolean ok = FALSE;
  JsonObject *nested = NULL;
  double top_theta;

  cfg->rope_type = OMNI_ROPE_DEFAULT;
  cfg->rope_factor = 1.0;
  cfg->yarn_beta_fast = 32;
  cfg->yarn_beta_slow = 1;
  cfg->yarn_truncate = TRUE;
  if (!get_double (c, o, "rope_theta", a->theta, &top_theta))
    goto out;
  cfg->rope_theta = top_theta;
  if (rp == NULL) {
    ok = positive (c, "rope_theta", cfg->rope_theta);
    goto out;
  }
  /* a dict nested by layer type; Qwen3 has only full-attention layers */
  if (!get_object (&rc, rp, "full_attention", &nested))
    goto out;
  rp = nested ? nested : rp;
  const char *type = omni_json_get_string (rp, "rope_type");
  if (type == NULL)
    type = omni_json_get_string (rp, "type");
  if (member (rp, "rope_type") && omni_json_get_string (rp, "rope_type") == NULL) {
    bad (&rc, OMNI_ERROR_FORMAT, "rope_type", "expected a string");
    goto out;
  }
  if (type == NULL || strcmp (type, "default") == 0 || strcmp (type, "mrope") == 0)
    cfg->rope_type = OMNI_ROPE_DEFAULT;
  else if (strcmp (type, "linear") == 0)
    cfg->rope_type = OMNI_ROPE_LINEAR;
  else if (strcmp (type, "yarn") == 0)
    cfg->rope_type = OMNI_ROPE_YARN;
  else {
    bad (&rc, is_known_unsupported_rope (type) ? OMNI_ERROR_UNSUPPORTED : OMNI_ERROR_FORMAT,
         "rope_type", "\"%s\" is not supported, expected \"default\", \"linear\" or \"yarn\"", type);
    goto out;
  }
  double prf;
  if (!get_double (&rc, rp, "rope_theta", top_theta, &cfg->rope_theta)
      || !positive (&rc, "rope_theta", cfg->rope_theta)
      || !get_double (&rc, rp, "partial_rotary_factor", 1.0, &prf))
    goto out;
  if (prf != 1.0) {
    bad (&rc, OMNI_ERROR_UNSUPPORTED, "partial_rotary_factor", "%g is not supported, expected 1", prf);
    goto out;
  }
  if (cfg->rope_type != OMNI_ROPE_DEFAULT) {
    if (cfg->rope_type == OMNI_ROPE_LINEAR && member (rp, "factor") == NULL) {
      bad (&rc, OMNI_ERROR_FORMAT, "factor", "missing; linear RoPE needs a factor > 0");
      goto out;
    }
    if (!get_double (&rc, rp, "factor", 1.0, &cfg->rope_factor)
        || !positive (&rc, "factor", cfg->rope_factor))
      goto out;
  }
  if (cfg->rope_type == OMNI_ROPE_YARN && !parse_yarn (&rc, c, o, rp, cfg))
    goto out;
  /* "interleaved" is the Qwen3-Omni spelling of "mrope_interleaved" */
  gboolean il;
  ok = get_bool (&rc, rp, "interleaved", FALSE, &il)
       && get_bool (&rc, rp, "mrope_interleaved", il, &cfg->mrope_interleaved)
       && parse_mrope_section (&rc, rp, cfg);
out:
  g_free (kp);
  return ok;
}

static gboolean
parse_moe (Ctx *c, JsonObject *o, const ArchInfo *a, OmniTextConfig *cfg)
{
  /* transformers maps num_experts onto num_local_experts when saving MoE configs */
  const char *ekey = member (o, "num_experts") ? "num_experts" : "num_local_experts";
  if (!get_int_range (c, o, ekey, TRUE, 0, 0, 4096, &cfg->num_experts))
    return FALSE;
  if (cfg->num_experts == 0)
    return TRUE;
  if (!get_int_range (c, o, "num_experts_per_tok", TRUE, 0, 1, 4096, &cfg->num_experts_per_tok)
      || !get_int_range (c, o, "moe_intermediate_size", TRUE, 0, 1, 1 << 22,
                         &cfg->moe_intermediate_size)
      || !get_int_range (c, o, "decoder_sparse_step", FALSE, 1, 1, OMNI_MAX_LAYERS,
                         &cfg->decoder_sparse_step)
      || !get_bool (c, o, "norm_topk_prob", a->norm_topk, &cfg->norm_topk_prob))
    return FALSE;
  if (cfg->num_experts_per_tok > cfg->num_experts)
    return bad (c, OMNI_ERROR_FORMAT, "num_experts_per_tok", "%d is out of range, expected "
                "<= %s = %d", cfg->num_experts_per_tok, ekey, cfg->num_experts);
  if (a->norm_topk_forced)
    cfg->norm_topk_prob = TRUE;
  return TRUE;
}

/* Fills is_moe_layer from decoder_sparse_step and mlp_only_layers. */
static gboolean
parse_moe_layers (Ctx *c, JsonObject *o, OmniTextConfig *cfg)
{
  gboolean dense[OMNI_MAX_LAYERS] = { FALSE };
  JsonNode *n = member (o, "mlp_only_layers");
  if (n) {
    JsonArray *arr = JSON_NODE_HOLDS_ARRAY (n) ? json_node_get_array (n) : NULL;
    if (arr == NULL)
      return bad (c, OMNI_ERROR_FORMAT, "mlp_only_layers", "expected an array of layer indices");
    for (guint i = 0; i < json_array_get_length (arr); i++) {
      JsonNode *e = json_array_get_element (arr, i);
      int64_t v = JSON_NODE_HOLDS_VALUE (e) && json_node_get_value_type (e) == G_TYPE_INT64
                  ? json_node_get_int (e) : -1;
      if (v < 0 || v >= cfg->num_hidden_layers)
        return bad (c, OMNI_ERROR_FORMAT, "mlp_only_layers", "entry %u is not a layer index "
                    "in 0..%d", i, cfg->num_hidden_layers - 1);
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
    return bad (c, OMNI_ERROR_FORMAT, "intermediate_size", "%d is out of range, expected > 0 "
                "(dense MLP layers exist)", cfg->intermediate_size);
  return TRUE;
}

/* Features of the decoder that we do not run. */
static gboolean
check_unsupported (Ctx *c, JsonObject *o)
{
  const char *act = omni_json_get_string (o, "hidden_act");
  gboolean sliding;
  if (member (o, "hidden_act") && (act == NULL || strcmp (act, "silu") != 0))
    return bad (c, OMNI_ERROR_UNSUPPORTED, "hidden_act", "%s%s%s is not supported, expected \"silu\"",
                act ? "\"" : "", act ? act : "(not a string)", act ? "\"" : "");
  if (!get_bool (c, o, "use_sliding_window", FALSE, &sliding))
    return FALSE;
  if (sliding)
    return bad (c, OMNI_ERROR_UNSUPPORTED, "use_sliding_window",
                "sliding-window attention is not supported, expected false");
  return TRUE;
}

static gboolean
parse_shapes (Ctx *c, JsonObject *o, const ArchInfo *a, OmniTextConfig *cfg)
{
  int64_t kv, hd;
  if (!get_int_range (c, o, "vocab_size", TRUE, 0, 1, 1 << 24, &cfg->vocab_size)
      || !get_int_range (c, o, "hidden_size", TRUE, 0, 1, 1 << 20, &cfg->hidden_size)
      || !get_int_range (c, o, "intermediate_size", !a->moe, a->intermediate, 0, 1 << 22,
                         &cfg->intermediate_size)
      || !get_int_range (c, o, "num_hidden_layers", TRUE, 0, 1, OMNI_MAX_LAYERS,
                         &cfg->num_hidden_layers)
      || !get_int_range (c, o, "num_attention_heads", TRUE, 0, 1, 1024, &cfg->num_attention_heads)
      || !get_int (c, o, "num_key_value_heads", FALSE, a->kv_heads, &kv)
      || !get_int (c, o, "head_dim", FALSE, a->head_dim, &hd)
      || !get_int_range (c, o, "max_position_embeddings", FALSE, a->max_pos, 1, G_MAXINT,
                         &cfg->max_position_embeddings)
      || !get_double (c, o, "rms_norm_eps", 1e-6, &cfg->rms_norm_eps)
      || !positive (c, "rms_norm_eps", cfg->rms_norm_eps)
      || !get_bool (c, o, "attention_bias", FALSE, &cfg->attention_bias))
    return FALSE;
  /* an explicit null means "same as the query heads" */
  if (json_object_has_member (o, "num_key_value_heads") && member (o, "num_key_value_heads") == NULL)
    kv = cfg->num_attention_heads;
  if (kv < 1 || kv > cfg->num_attention_heads || cfg->num_attention_heads % kv != 0)
    return bad (c, OMNI_ERROR_FORMAT, "num_key_value_heads", "%" G_GINT64_FORMAT " is out of range, "
                "expected a divisor of num_attention_heads = %d", kv, cfg->num_attention_heads);
  cfg->num_key_value_heads = (int) kv;
  if (hd == 0) {
    if (cfg->hidden_size % cfg->num_attention_heads != 0)
      return bad (c, OMNI_ERROR_FORMAT, "num_attention_heads", "%d does not divide hidden_size = %d "
                  "and head_dim is absent", cfg->num_attention_heads, cfg->hidden_size);
    hd = cfg->hidden_size / cfg->num_attention_heads;
  }
  if (hd < 2 || hd > 1024 || hd % 2 != 0)
    return bad (c, OMNI_ERROR_FORMAT, "head_dim", "%" G_GINT64_FORMAT " is out of range, expected "
                "an even number in 2..1024", hd);
  cfg->head_dim = (int) hd;
  return TRUE;
}

/* quantization_config of the top level: FP8 block quantization or nothing. */
static gboolean
parse_quant (Ctx *c, JsonObject *root, OmniTextConfig *cfg)
{
  JsonObject *q;
  Ctx qc = { c->path, "quantization_config.", c->error };
  if (!get_object (&qc, root, "quantization_config", &q))
    return FALSE;
  if (q == NULL)
    return TRUE;
  const char *method = omni_json_get_string (q, "quant_method");
  if (method == NULL || strcmp (method, "fp8") != 0)
    return bad (&qc, OMNI_ERROR_UNSUPPORTED, "quant_method", "%s%s%s is not supported, expected "
                "\"fp8\" or no quantization_config", method ? "\"" : "",
                method ? method : "(missing)", method ? "\"" : "");
  g_strlcpy (cfg->quant_method, method, sizeof cfg->quant_method);
  JsonNode *n = member (q, "weight_block_size");
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
    return bad (&qc, OMNI_ERROR_FORMAT, "weight_block_size", "expected [rows, cols], two integers > 0");
  return TRUE;
}

/* Follows @a->text_path from @root; the parent of the text config holds
 * tie_word_embeddings for the nested forms. */
static gboolean
find_text (Ctx *c, JsonObject *root, const ArchInfo *a, JsonObject **text, JsonObject **parent)
{
  char **parts = g_strsplit (a->text_path, ".", -1);
  JsonObject *o = root, *prev = root;
  GString *kp = g_string_new ("");
  gboolean ok = TRUE;
  for (int i = 0; parts[i] && *parts[i] && ok; i++) {
    JsonObject *next;
    Ctx pc = { c->path, kp->str, c->error };
    ok = get_object (&pc, o, parts[i], &next)
         && (next || bad (&pc, OMNI_ERROR_FORMAT, parts[i], "missing; %s keeps its text decoder "
                          "settings in %s", a->architecture, a->text_path));
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
parse_text (Ctx *rc, JsonObject *root, const ArchInfo *a, OmniTextConfig *cfg)
{
  JsonObject *o, *parent;
  if (!find_text (rc, root, a, &o, &parent))
    return FALSE;
  char *kp = *a->text_path ? g_strconcat (a->text_path, ".", NULL) : g_strdup ("");
  Ctx c = { rc->path, kp, rc->error };
  Ctx pc = { rc->path, "", rc->error };
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
                && get_bool (a->text_path[0] ? &pc : &c, parent, "tie_word_embeddings", FALSE,
                             &cfg->tie_word_embeddings)
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
  Ctx c = { path, "", error };
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
parse_eos (Ctx *c, JsonObject *o, OmniGenerationConfig *gen)
{
  JsonNode *n = member (o, "eos_token_id");
  if (n == NULL)
    return TRUE;
  JsonArray *a = JSON_NODE_HOLDS_ARRAY (n) ? json_node_get_array (n) : NULL;
  guint count = a ? json_array_get_length (a) : 1;
  if (count > OMNI_MAX_EOS)
    return bad (c, OMNI_ERROR_FORMAT, "eos_token_id", "%u ids, expected at most %d",
                count, OMNI_MAX_EOS);
  for (guint i = 0; i < count; i++) {
    JsonNode *e = a ? json_array_get_element (a, i) : n;
    if (!JSON_NODE_HOLDS_VALUE (e) || json_node_get_value_type (e) != G_TYPE_INT64
        || json_node_get_int (e) < 0 || json_node_get_int (e) > G_MAXINT)
      return bad (c, OMNI_ERROR_FORMAT, "eos_token_id", "expected a token id >= 0 or an "
                  "array of them");
    gen->eos_ids[gen->n_eos++] = (int) json_node_get_int (e);
  }
  return TRUE;
}

static gboolean
parse_generation (Ctx *c, JsonObject *o, OmniGenerationConfig *gen)
{
  double rp;
  if (!parse_eos (c, o, gen)
      || !get_int_range (c, o, "pad_token_id", FALSE, -1, -1, G_MAXINT, &gen->pad_id)
      || !get_bool (c, o, "do_sample", FALSE, &gen->do_sample)
      || !get_double (c, o, "temperature", 1.0, &gen->temperature)
      || !get_int_range (c, o, "top_k", FALSE, 0, 0, G_MAXINT, &gen->top_k)
      || !get_double (c, o, "top_p", 1.0, &gen->top_p)
      || !get_double (c, o, "repetition_penalty", 1.0, &rp)
      || !get_double (c, o, "presence_penalty", 0.0, &gen->presence_penalty))
    return FALSE;
  gen->repetition_penalty = rp;
  if (gen->temperature < 0)
    return bad (c, OMNI_ERROR_FORMAT, "temperature", "%g is out of range, expected >= 0",
                gen->temperature);
  if (gen->top_p <= 0 || gen->top_p > 1)
    return bad (c, OMNI_ERROR_FORMAT, "top_p", "%g is out of range, expected 0 < top_p <= 1",
                gen->top_p);
  return positive (c, "repetition_penalty", rp);
}

gboolean
omni_generation_config_load (const char *path, OmniGenerationConfig *gen, GError **error)
{
  generation_defaults (gen);
  if (!g_file_test (path, G_FILE_TEST_EXISTS))
    return TRUE;
  JsonParser *parser = omni_json_parser_new_strict ();
  Ctx c = { path, "", error };
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
