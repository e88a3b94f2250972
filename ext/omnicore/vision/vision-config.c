/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* preprocessor_config.json / video_preprocessor_config.json of the Qwen
 * vision processors. */
#include "vision/vision-config.h"
#include "omnicore.h"

#include <json-glib/json-glib.h>
#include <math.h>
#include <string.h>

/* The image and video processors differ only in budgets and frame rules. */
static void
init_common (OmniVisionProcConfig *cfg)
{
  memset (cfg, 0, sizeof *cfg);
  cfg->patch_size = 16;
  cfg->temporal_patch_size = 2;
  cfg->merge_size = 2;
  for (int c = 0; c < 3; c++) {
    cfg->image_mean[c] = 0.5f;
    cfg->image_std[c] = 0.5f;
  }
  cfg->rescale_factor = 1.0 / 255.0;
  cfg->do_resize = cfg->do_rescale = cfg->do_normalize = TRUE;
  cfg->fps = 2.0;
  cfg->min_frames = 4;
  cfg->max_frames = 768;
}

void
omni_vision_proc_config_init_image (OmniVisionProcConfig *cfg)
{
  init_common (cfg);
  cfg->min_pixels = 65536;
  cfg->max_pixels = 16777216;
}

void
omni_vision_proc_config_init_video (OmniVisionProcConfig *cfg)
{
  init_common (cfg);
  cfg->min_pixels = 128 * 32 * 32;
  cfg->max_pixels = 768 * 32 * 32;
  cfg->video = TRUE;
}

/* The member @key of @o as a number; FALSE (error set) when present but not
 * a number. *@present tells whether it was there. */
static gboolean
get_number (JsonObject *o, const char *name, const char *key, double *value,
            gboolean *present, GError **error)
{
  JsonNode *node = json_object_get_member (o, key);

  *present = FALSE;
  if (node == NULL || JSON_NODE_HOLDS_NULL (node))
    return TRUE;
  GType t = JSON_NODE_HOLDS_VALUE (node) ? json_node_get_value_type (node) : G_TYPE_INVALID;
  if (t == G_TYPE_INT64)
    *value = (double) json_node_get_int (node);
  else if (t == G_TYPE_DOUBLE)
    *value = json_node_get_double (node);
  else {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_FORMAT, "%s: key \"%s\" must be a number",
                 name, key);
    return FALSE;
  }
  *present = TRUE;
  return TRUE;
}

/* An integer member in [@lo, @hi] into *@value; absent keeps it. */
static gboolean
get_int64 (JsonObject *o, const char *name, const char *key, gint64 lo, gint64 hi,
           gint64 *value, GError **error)
{
  double v = 0;
  gboolean present;

  if (!get_number (o, name, key, &v, &present, error))
    return FALSE;
  if (!present)
    return TRUE;
  if (v != floor (v) || v < (double) lo || v > (double) hi) {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_FORMAT,
                 "%s: key \"%s\" is %g (expected an integer in [%" G_GINT64_FORMAT
                 ", %" G_GINT64_FORMAT "])", name, key, v, lo, hi);
    return FALSE;
  }
  *value = (gint64) v;
  return TRUE;
}

static gboolean
get_int (JsonObject *o, const char *name, const char *key, int lo, int hi, int *value,
         GError **error)
{
  gint64 v = *value;

  if (!get_int64 (o, name, key, lo, hi, &v, error))
    return FALSE;
  *value = (int) v;
  return TRUE;
}

static gboolean
get_bool (JsonObject *o, const char *name, const char *key, gboolean *value, GError **error)
{
  JsonNode *node = json_object_get_member (o, key);

  if (node == NULL || JSON_NODE_HOLDS_NULL (node))
    return TRUE;
  if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_BOOLEAN) {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_FORMAT, "%s: key \"%s\" must be true or false",
                 name, key);
    return FALSE;
  }
  *value = json_node_get_boolean (node);
  return TRUE;
}

/* "image_mean" / "image_std": three numbers, or one for every channel. */
static gboolean
get_triple (JsonObject *o, const char *name, const char *key, float out[3], GError **error)
{
  JsonNode *node = json_object_get_member (o, key);
  double v = 0;
  gboolean present;

  if (node == NULL || JSON_NODE_HOLDS_NULL (node))
    return TRUE;
  if (JSON_NODE_HOLDS_ARRAY (node)) {
    JsonArray *a = json_node_get_array (node);
    if (json_array_get_length (a) != 3)
      goto bad;
    for (guint c = 0; c < 3; c++) {
      JsonNode *e = json_array_get_element (a, c);
      GType t = JSON_NODE_HOLDS_VALUE (e) ? json_node_get_value_type (e) : G_TYPE_INVALID;
      if (t != G_TYPE_INT64 && t != G_TYPE_DOUBLE)
        goto bad;
      /* transformers builds a float32 tensor from the Python floats */
      out[c] = (float) (t == G_TYPE_INT64 ? (double) json_node_get_int (e)
                                         : json_node_get_double (e));
    }
    return TRUE;
  }
  if (!get_number (o, name, key, &v, &present, error))
    goto bad;
  out[0] = out[1] = out[2] = (float) v;
  return TRUE;
bad:
  g_clear_error (error);
  g_set_error (error, OMNI_ERROR, OMNI_ERROR_FORMAT,
               "%s: key \"%s\" must be a list of 3 numbers (one per RGB channel)", name, key);
  return FALSE;
}

/* "size": {shortest_edge, longest_edge} (or the older {min_pixels,
 * max_pixels}); then top-level "min_pixels"/"max_pixels" override it, as
 * the processors' __init__ does. */
static gboolean
parse_budget (JsonObject *o, const char *name, OmniVisionProcConfig *cfg, GError **error)
{
  JsonNode *node = json_object_get_member (o, "size");
  const gint64 big = G_GINT64_CONSTANT (1) << 40;

  if (node != NULL && !JSON_NODE_HOLDS_NULL (node)) {
    if (!JSON_NODE_HOLDS_OBJECT (node)) {
      g_set_error (error, OMNI_ERROR, OMNI_ERROR_FORMAT,
                   "%s: key \"size\" must be an object {\"shortest_edge\", \"longest_edge\"}",
                   name);
      return FALSE;
    }
    JsonObject *size = json_node_get_object (node);
    if (!get_int64 (size, name, "min_pixels", 1, big, &cfg->min_pixels, error) ||
        !get_int64 (size, name, "max_pixels", 1, big, &cfg->max_pixels, error) ||
        !get_int64 (size, name, "shortest_edge", 1, big, &cfg->min_pixels, error) ||
        !get_int64 (size, name, "longest_edge", 1, big, &cfg->max_pixels, error))
      return FALSE;
  }
  if (!get_int64 (o, name, "min_pixels", 1, big, &cfg->min_pixels, error) ||
      !get_int64 (o, name, "max_pixels", 1, big, &cfg->max_pixels, error))
    return FALSE;
  if (cfg->min_pixels > cfg->max_pixels) {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_FORMAT,
                 "%s: key \"size\": shortest_edge %" G_GINT64_FORMAT " is above longest_edge %"
                 G_GINT64_FORMAT " (expected min pixels <= max pixels)", name, cfg->min_pixels,
                 cfg->max_pixels);
    return FALSE;
  }
  return TRUE;
}

/* The processor class, when the file names one. */
static gboolean
check_type (JsonObject *o, const char *name, gboolean video, GError **error)
{
  const char *key = video ? "video_processor_type" : "image_processor_type";
  JsonNode *node = json_object_get_member (o, key);

  if (node == NULL || JSON_NODE_HOLDS_NULL (node))
    return TRUE;
  if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_STRING) {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_FORMAT, "%s: key \"%s\" must be a string", name,
                 key);
    return FALSE;
  }
  const char *type = json_node_get_string (node);
  gboolean ok = video ? strcmp (type, "Qwen3VLVideoProcessor") == 0
                      : g_str_has_prefix (type, "Qwen2VLImageProcessor");
  if (!ok) {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_UNSUPPORTED,
                 "%s: key \"%s\" is \"%s\" (expected %s)", name, key, type,
                 video ? "\"Qwen3VLVideoProcessor\"" : "\"Qwen2VLImageProcessor\" or its Fast form");
    return FALSE;
  }
  return TRUE;
}

static gboolean
parse_values (JsonObject *o, const char *name, OmniVisionProcConfig *cfg, GError **error)
{
  gint64 resample = 3;
  gboolean present;

  if (!get_int (o, name, "patch_size", 1, 1024, &cfg->patch_size, error) ||
      !get_int (o, name, "temporal_patch_size", 1, 64, &cfg->temporal_patch_size, error) ||
      !get_int (o, name, "merge_size", 1, 64, &cfg->merge_size, error) ||
      !get_triple (o, name, "image_mean", cfg->image_mean, error) ||
      !get_triple (o, name, "image_std", cfg->image_std, error) ||
      !get_number (o, name, "rescale_factor", &cfg->rescale_factor, &present, error) ||
      !get_bool (o, name, "do_resize", &cfg->do_resize, error) ||
      !get_bool (o, name, "do_rescale", &cfg->do_rescale, error) ||
      !get_bool (o, name, "do_normalize", &cfg->do_normalize, error) ||
      !get_int64 (o, name, "resample", 0, 5, &resample, error))
    return FALSE;
  if (resample != 3) {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_UNSUPPORTED,
                 "%s: key \"resample\" is %" G_GINT64_FORMAT " (expected 3: bicubic is the only "
                 "resampling implemented)", name, resample);
    return FALSE;
  }
  for (int c = 0; c < 3; c++) {
    if (!(cfg->image_std[c] != 0.0f) || !isfinite (cfg->image_std[c]) ||
        !isfinite (cfg->image_mean[c])) {
      g_set_error (error, OMNI_ERROR, OMNI_ERROR_FORMAT,
                   "%s: key \"image_std\"/\"image_mean\": channel %d is %g/%g (expected finite, "
                   "std nonzero)", name, c, cfg->image_std[c], cfg->image_mean[c]);
      return FALSE;
    }
  }
  if (!(cfg->rescale_factor > 0.0) || !isfinite (cfg->rescale_factor)) {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_FORMAT,
                 "%s: key \"rescale_factor\" is %g (expected a positive number)", name,
                 cfg->rescale_factor);
    return FALSE;
  }
  return TRUE;
}

static gboolean
parse_video (JsonObject *o, const char *name, OmniVisionProcConfig *cfg, GError **error)
{
  gboolean present;

  if (!get_number (o, name, "fps", &cfg->fps, &present, error) ||
      !get_int (o, name, "min_frames", 1, 1 << 20, &cfg->min_frames, error) ||
      !get_int (o, name, "max_frames", 1, 1 << 20, &cfg->max_frames, error))
    return FALSE;
  if (!(cfg->fps > 0.0) || !isfinite (cfg->fps)) {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_FORMAT,
                 "%s: key \"fps\" is %g (expected a positive frame rate)", name, cfg->fps);
    return FALSE;
  }
  if (cfg->min_frames > cfg->max_frames) {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_FORMAT,
                 "%s: key \"min_frames\" is %d, above \"max_frames\" %d", name, cfg->min_frames,
                 cfg->max_frames);
    return FALSE;
  }
  return TRUE;
}

/* transformers v5 saves the processors inside processor_config.json. */
static JsonObject *
processor_object (JsonObject *root, gboolean video)
{
  const char *nested = video ? "video_processor" : "image_processor";
  JsonNode *n = json_object_get_member (root, nested);

  if (n != NULL && JSON_NODE_HOLDS_OBJECT (n))
    return json_node_get_object (n);
  return root;
}

gboolean
omni_vision_proc_config_parse (const char *name, const char *json, gssize len, gboolean video,
                               OmniVisionProcConfig *cfg, GError **error)
{
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autoptr (GError) local = NULL;

  if (!json_parser_load_from_data (parser, json, len, &local)) {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_FORMAT, "%s: not valid JSON: %s", name,
                 local->message);
    return FALSE;
  }
  JsonNode *root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root)) {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_FORMAT, "%s: expected a JSON object", name);
    return FALSE;
  }
  JsonObject *o = processor_object (json_node_get_object (root), video);
  if (video)
    omni_vision_proc_config_init_video (cfg);
  else
    omni_vision_proc_config_init_image (cfg);
  return check_type (o, name, video, error) && parse_budget (o, name, cfg, error) &&
         parse_values (o, name, cfg, error) && (!video || parse_video (o, name, cfg, error));
}

gboolean
omni_vision_proc_config_load (const char *path, gboolean video, OmniVisionProcConfig *cfg,
                              GError **error)
{
  g_autofree char *data = NULL;
  gsize len = 0;
  g_autoptr (GError) local = NULL;

  if (!g_file_get_contents (path, &data, &len, &local)) {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_IO, "%s: cannot read: %s", path, local->message);
    return FALSE;
  }
  return omni_vision_proc_config_parse (path, data, (gssize) len, video, cfg, error);
}

gboolean
omni_vision_proc_config_set_tokens (OmniVisionProcConfig *cfg, int min_tokens, int max_tokens,
                                    GError **error)
{
  gint64 side = (gint64) cfg->patch_size * cfg->merge_size;
  gint64 per_token = side * side * (cfg->video ? cfg->temporal_patch_size : 1);
  gint64 lo = min_tokens > 0 ? min_tokens * per_token : cfg->min_pixels;
  gint64 hi = max_tokens > 0 ? max_tokens * per_token : cfg->max_pixels;

  if (lo > hi) {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_INVALID,
                 "vision token budget: min %d tokens (%" G_GINT64_FORMAT " pixels) is above max "
                 "%d tokens (%" G_GINT64_FORMAT " pixels)", min_tokens, lo, max_tokens, hi);
    return FALSE;
  }
  cfg->min_pixels = lo;
  cfg->max_pixels = hi;
  return TRUE;
}
