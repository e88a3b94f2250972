/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <math.h>
#include <string.h>
#include <json-glib/json-glib.h>
#include "omnicore.h"
#include "io/vision-config.h"
#include "io/jsonutil.h"

/* Qwen3VLVisionConfig and Qwen3OmniMoeVisionEncoderConfig share their
 * defaults (transformers 5.24); the token ids those of Qwen3VLConfig and
 * Qwen3OmniMoeThinkerConfig (equal too). */
#define DEF_DEPTH 27
#define DEF_HIDDEN 1152
#define DEF_HEADS 16
#define DEF_INTERMEDIATE 4304
#define DEF_OUT_HIDDEN 3584
#define DEF_POSITIONS 2304
#define DEF_THETA 10000.0
static const int def_deepstack[] = { 8, 16, 24 };

/* An integer in [lo, hi], @def when absent: every vision key is optional. */
static gboolean
get_int (OmniJsonCtx *c, JsonObject *o, const char *key, int def, int lo, int hi, int *out)
{
  return omni_json_get_int (c, o, key, FALSE, def, lo, hi, out);
}

static gboolean
parse_act (OmniJsonCtx *c, JsonObject *v, OmniVisionConfig *cfg)
{
  JsonNode *n = omni_json_member (v, "hidden_act");
  const char *s = "gelu_pytorch_tanh";

  if (n) {
    s = JSON_NODE_HOLDS_VALUE (n) && json_node_get_value_type (n) == G_TYPE_STRING
            ? json_node_get_string (n) : NULL;
    if (s == NULL)
      return omni_json_bad (c, OMNI_ERROR_FORMAT, "hidden_act", "expected a string");
  }
  if (strcmp (s, "gelu_pytorch_tanh") == 0)
    cfg->gelu_tanh = TRUE;
  else if (strcmp (s, "gelu") == 0)
    cfg->gelu_tanh = FALSE;
  else
    return omni_json_bad (c, OMNI_ERROR_UNSUPPORTED, "hidden_act",
                          "\"%s\" is not supported, expected \"gelu_pytorch_tanh\" or \"gelu\"", s);
  return TRUE;
}

/* deepstack_visual_indexes: distinct block indices in ascending order (the
 * features come out in block order, so any other order would pair them
 * with the wrong mergers' names). */
static gboolean
parse_deepstack (OmniJsonCtx *c, JsonObject *v, OmniVisionConfig *cfg)
{
  JsonNode *n = omni_json_member (v, "deepstack_visual_indexes");

  if (n == NULL) {
    cfg->n_deepstack = G_N_ELEMENTS (def_deepstack);
    memcpy (cfg->deepstack_visual_indexes, def_deepstack, sizeof def_deepstack);
  } else {
    JsonArray *a = JSON_NODE_HOLDS_ARRAY (n) ? json_node_get_array (n) : NULL;
    if (a == NULL || json_array_get_length (a) > OMNI_VISION_MAX_DEEPSTACK)
      return omni_json_bad (c, OMNI_ERROR_FORMAT, "deepstack_visual_indexes",
                            "expected an array of at most %d block indices",
                            OMNI_VISION_MAX_DEEPSTACK);
    cfg->n_deepstack = (int) json_array_get_length (a);
    for (int i = 0; i < cfg->n_deepstack; i++) {
      JsonNode *e = json_array_get_element (a, i);
      gint64 x = JSON_NODE_HOLDS_VALUE (e) && json_node_get_value_type (e) == G_TYPE_INT64
                 ? json_node_get_int (e) : -1;
      if (x < 0 || x >= cfg->depth || (i > 0 && x <= cfg->deepstack_visual_indexes[i - 1]))
        return omni_json_bad (c, OMNI_ERROR_FORMAT, "deepstack_visual_indexes",
                              "entry %d is not a block index in 0..%d above the previous one",
                              i, cfg->depth - 1);
      cfg->deepstack_visual_indexes[i] = (int) x;
    }
  }
  return TRUE;
}

/* rope_parameters {rope_type "axial", rope_theta}, or a top-level
 * rope_theta as older configs write it. */
static gboolean
parse_rope (OmniJsonCtx *c, JsonObject *v, OmniVisionConfig *cfg)
{
  JsonObject *rp;
  double theta;

  if (!omni_json_get_double (c, v, "rope_theta", DEF_THETA, &theta)
      || !omni_json_get_object (c, v, "rope_parameters", &rp))
    return FALSE;
  if (rp) {
    const char *type = omni_json_get_string (rp, "rope_type");
    if (omni_json_member (rp, "rope_type") && g_strcmp0 (type, "axial") != 0)
      return omni_json_bad (c, OMNI_ERROR_UNSUPPORTED, "rope_parameters.rope_type",
                            "\"%s\" is not supported, expected \"axial\"",
                            type ? type : "(not a string)");
    if (!omni_json_get_double (c, rp, "rope_theta", theta, &theta))
      return FALSE;
  }
  if (!(theta > 1.0))
    return omni_json_bad (c, OMNI_ERROR_FORMAT, "rope_theta", "%g must be above 1", theta);
  cfg->rope_theta = theta;
  return TRUE;
}

static gboolean
parse_sizes (OmniJsonCtx *c, JsonObject *v, OmniVisionConfig *cfg)
{
  if (!get_int (c, v, "depth", DEF_DEPTH, 1, 256, &cfg->depth)
      || !get_int (c, v, "hidden_size", DEF_HIDDEN, 4, 1 << 16, &cfg->hidden_size)
      || !get_int (c, v, "num_heads", DEF_HEADS, 1, 1024, &cfg->num_heads)
      || !get_int (c, v, "intermediate_size", DEF_INTERMEDIATE, 1, 1 << 20,
                   &cfg->intermediate_size)
      || !get_int (c, v, "in_channels", 3, 1, 16, &cfg->in_channels)
      || !get_int (c, v, "patch_size", 16, 1, 128, &cfg->patch_size)
      || !get_int (c, v, "temporal_patch_size", 2, 1, 16, &cfg->temporal_patch_size)
      || !get_int (c, v, "spatial_merge_size", 2, 1, 16, &cfg->spatial_merge_size)
      || !get_int (c, v, "out_hidden_size", DEF_OUT_HIDDEN, 1, 1 << 20, &cfg->out_hidden_size)
      || !get_int (c, v, "num_position_embeddings", DEF_POSITIONS, 1, 1 << 24,
                   &cfg->num_position_embeddings))
    return FALSE;
  if (cfg->hidden_size % cfg->num_heads || (cfg->hidden_size / cfg->num_heads) % 4)
    return omni_json_bad (c, OMNI_ERROR_FORMAT, "hidden_size",
                          "%d must be num_heads (%d) times a head_dim divisible by 4 (the 2-D "
                          "rotary embedding gives each axis a quarter of it)", cfg->hidden_size,
                          cfg->num_heads);
  cfg->pos_side = (int) floor (sqrt ((double) cfg->num_position_embeddings) + 0.5);
  if (cfg->pos_side * cfg->pos_side != cfg->num_position_embeddings)
    return omni_json_bad (c, OMNI_ERROR_FORMAT, "num_position_embeddings",
                          "%d is not the square of a side length", cfg->num_position_embeddings);
  return parse_act (c, v, cfg) && parse_deepstack (c, v, cfg) && parse_rope (c, v, cfg);
}

static void
set_names (OmniVisionConfig *cfg, OmniVisionLayout layout, const char *prefix)
{
  gboolean omni = layout == OMNI_VISION_LAYOUT_OMNI;

  cfg->layout = layout;
  g_strlcpy (cfg->tower_prefix, prefix, sizeof cfg->tower_prefix);
  g_strlcpy (cfg->merger_norm, omni ? "ln_q" : "norm", sizeof cfg->merger_norm);
  g_strlcpy (cfg->merger_fc1, omni ? "mlp.0" : "linear_fc1", sizeof cfg->merger_fc1);
  g_strlcpy (cfg->merger_fc2, omni ? "mlp.2" : "linear_fc2", sizeof cfg->merger_fc2);
  g_strlcpy (cfg->deepstack_list, omni ? "merger_list" : "deepstack_merger_list",
             sizeof cfg->deepstack_list);
}

/* Finds the vision_config (its key path in @vision_kp) and the object
 * holding the token ids, and fills the layout and tensor names. */
static gboolean
locate (OmniJsonCtx *c, JsonObject *root, OmniVisionConfig *cfg, JsonObject **vision,
        JsonObject **ids, const char **vision_kp)
{
  JsonObject *thinker;
  const char *mt = omni_json_get_string (root, "model_type");

  if (!omni_json_get_object (c, root, "thinker_config", &thinker))
    return FALSE;
  if (thinker) {
    c->kp = "thinker_config.";
    if (!omni_json_get_object (c, thinker, "vision_config", vision))
      return FALSE;
    *ids = thinker;
    *vision_kp = "thinker_config.vision_config.";
    set_names (cfg, OMNI_VISION_LAYOUT_OMNI, "thinker.visual.");
  } else {
    if (!omni_json_get_object (c, root, "vision_config", vision))
      return FALSE;
    *ids = root;
    *vision_kp = "vision_config.";
    if (*vision && (g_strcmp0 (mt, "qwen3_vl") == 0 || g_strcmp0 (mt, "qwen3_vl_moe") == 0)) {
      set_names (cfg, OMNI_VISION_LAYOUT_VL, "model.visual.");
    } else if (*vision && g_strcmp0 (mt, "qwen3_omni_moe_thinker") == 0) {
      set_names (cfg, OMNI_VISION_LAYOUT_OMNI, "visual.");
    } else if (*vision) {
      g_set_error (c->error, OMNI_ERROR, OMNI_ERROR_UNSUPPORTED,
                   "%s: the vision_config of model_type \"%s\" is not one we run (Qwen3-VL, "
                   "Qwen3-VL-MoE, Qwen3-Omni)", c->path, mt ? mt : "(missing)");
      return FALSE;
    }
  }
  if (*vision == NULL) {
    g_set_error (c->error, OMNI_ERROR, OMNI_ERROR_UNSUPPORTED,
                 "%s: model_type \"%s\" has no vision encoder (vision_config)", c->path,
                 mt ? mt : "(missing)");
    return FALSE;
  }
  return TRUE;
}

/* Towers of other families (Qwen2-VL, Qwen2.5-VL: window attention, no
 * DeepStack) declare their own model_type. */
static gboolean
check_vision_type (OmniJsonCtx *c, JsonObject *vision)
{
  const char *t = omni_json_get_string (vision, "model_type");

  if (omni_json_member (vision, "model_type") && t == NULL)
    return omni_json_bad (c, OMNI_ERROR_FORMAT, "model_type", "expected a string");
  if (t && !g_str_has_prefix (t, "qwen3_vl") && !g_str_has_prefix (t, "qwen3_omni_moe"))
    return omni_json_bad (c, OMNI_ERROR_UNSUPPORTED, "model_type",
                          "\"%s\" is not a Qwen3-VL vision tower", t);
  return TRUE;
}

static gboolean
get_id (OmniJsonCtx *c, JsonObject *o, const char *key, int def, int *out)
{
  return get_int (c, o, key, def, 0, G_MAXINT - 1, out);
}

static gboolean
parse_root (OmniJsonCtx *c, JsonObject *root, OmniVisionConfig *cfg)
{
  JsonObject *vision = NULL, *ids = NULL;
  const char *ids_kp, *vision_kp = "";

  memset (cfg, 0, sizeof *cfg);
  if (!locate (c, root, cfg, &vision, &ids, &vision_kp))
    return FALSE;
  ids_kp = c->kp;
  c->kp = vision_kp;
  if (!check_vision_type (c, vision) || !parse_sizes (c, vision, cfg))
    return FALSE;
  c->kp = ids_kp;
  return get_id (c, ids, "image_token_id", 151655, &cfg->image_token_id)
      && get_id (c, ids, "video_token_id", 151656, &cfg->video_token_id)
      && get_id (c, ids, "vision_start_token_id", 151652, &cfg->vision_start_token_id)
      && get_id (c, ids, "vision_end_token_id", 151653, &cfg->vision_end_token_id);
}

gboolean
omni_vision_config_parse (const char *name, const char *json, gssize len, OmniVisionConfig *cfg,
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
omni_vision_config_load (const char *path, OmniVisionConfig *cfg, GError **error)
{
  g_autofree char *data = NULL;
  gsize len = 0;
  g_autoptr (GError) local = NULL;

  if (!g_file_get_contents (path, &data, &len, &local)) {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_IO, "%s: cannot read: %s", path, local->message);
    return FALSE;
  }
  return omni_vision_config_parse (path, data, (gssize) len, cfg, error);
}

int
omni_vision_config_patch_dim (const OmniVisionConfig *cfg)
{
  return cfg->in_channels * cfg->temporal_patch_size * cfg->patch_size * cfg->patch_size;
}

int
omni_vision_config_n_tokens (const OmniVisionConfig *cfg, const OmniVisionGrid *grid)
{
  int m = cfg->spatial_merge_size;

  return grid->t * grid->h * grid->w / (m * m);
}
