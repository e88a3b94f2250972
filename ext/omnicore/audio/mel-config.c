/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* preprocessor_config.json of the Whisper-style feature extractors. */
#include "audio/mel.h"
#include "omnicore.h"

#include <json-glib/json-glib.h>
#include <math.h>
#include <string.h>

void
omni_mel_config_init_default (OmniMelConfig *cfg)
{
  memset (cfg, 0, sizeof *cfg);
  cfg->sampling_rate = 16000;
  cfg->n_fft = 400;
  cfg->hop_length = 160;
  cfg->n_mels = 128;
  cfg->padding_value = 0.0;
  cfg->min_samples = 0;
}

/* A number member of @o; FALSE with an error when present but not a number
 * or when absent and @required. */
static gboolean
get_number (JsonObject *o, const char *name, const char *key, gboolean required,
            double *value, gboolean *present, GError **error)
{
  JsonNode *node = json_object_get_member (o, key);

  *present = FALSE;
  if (node == NULL) {
    if (required)
      g_set_error (error, OMNI_ERROR, OMNI_ERROR_FORMAT,
                   "%s: key \"%s\" is missing (expected a number)", name, key);
    return !required;
  }
  GType t = JSON_NODE_HOLDS_VALUE (node) ? json_node_get_value_type (node) : G_TYPE_INVALID;
  if (t == G_TYPE_INT64) {
    *value = (double) json_node_get_int (node);
  } else if (t == G_TYPE_DOUBLE) {
    *value = json_node_get_double (node);
  } else {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_FORMAT,
                 "%s: key \"%s\" must be a number", name, key);
    return FALSE;
  }
  *present = TRUE;
  return TRUE;
}

/* An integer member in [@lo, @hi]; absent keeps *@value unless @required. */
static gboolean
get_int (JsonObject *o, const char *name, const char *key, gboolean required, int lo, int hi,
         int *value, GError **error)
{
  double v = 0;
  gboolean present;

  if (!get_number (o, name, key, required, &v, &present, error))
    return FALSE;
  if (!present)
    return TRUE;
  if (v != floor (v) || v < lo || v > hi) {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_FORMAT,
                 "%s: key \"%s\" is %g (expected an integer in [%d, %d])", name, key, v, lo,
                 hi);
    return FALSE;
  }
  *value = (int) v;
  return TRUE;
}

/* transformers v5 saves the extractor inside processor_config.json. */
static JsonObject *
extractor_object (JsonObject *root)
{
  static const char *const nested[] = { "feature_extractor", "audio_processor" };

  if (json_object_has_member (root, "feature_size"))
    return root;
  for (guint i = 0; i < G_N_ELEMENTS (nested); i++) {
    JsonNode *n = json_object_get_member (root, nested[i]);
    if (n != NULL && JSON_NODE_HOLDS_OBJECT (n))
      return json_node_get_object (n);
  }
  return root;
}

/* Which extractor: Whisper's, or Qwen3-ASR's (Whisper's plus a minimum
 * length, 8000 samples unless "min_length" says otherwise). */
static gboolean
parse_type (JsonObject *o, const char *name, OmniMelConfig *cfg, GError **error)
{
  JsonNode *node = json_object_get_member (o, "feature_extractor_type");
  const char *type = "WhisperFeatureExtractor";

  if (node != NULL) {
    if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_STRING) {
      g_set_error (error, OMNI_ERROR, OMNI_ERROR_FORMAT,
                   "%s: key \"feature_extractor_type\" must be a string", name);
      return FALSE;
    }
    type = json_node_get_string (node);
  }
  if (strcmp (type, "WhisperFeatureExtractor") == 0) {
    cfg->min_samples = 0;
    return TRUE;
  }
  if (strcmp (type, "Qwen3ASRFeatureExtractor") == 0) {
    cfg->min_samples = 8000;
    return get_int (o, name, "min_length", FALSE, 0, G_MAXINT / 2, &cfg->min_samples, error);
  }
  g_set_error (error, OMNI_ERROR, OMNI_ERROR_UNSUPPORTED,
               "%s: key \"feature_extractor_type\" is \"%s\" (expected "
               "\"WhisperFeatureExtractor\" or \"Qwen3ASRFeatureExtractor\")", name, type);
  return FALSE;
}

static gboolean
parse_object (JsonObject *o, const char *name, OmniMelConfig *cfg, GError **error)
{
  double dither = 0.0;
  gboolean present;

  omni_mel_config_init_default (cfg);
  if (!parse_type (o, name, cfg, error))
    return FALSE;
  if (!get_int (o, name, "feature_size", TRUE, 1, 1024, &cfg->n_mels, error) ||
      !get_int (o, name, "sampling_rate", TRUE, 1, 1000000, &cfg->sampling_rate, error) ||
      !get_int (o, name, "hop_length", TRUE, 1, 65536, &cfg->hop_length, error) ||
      !get_int (o, name, "n_fft", TRUE, 2, 65536, &cfg->n_fft, error) ||
      !get_number (o, name, "padding_value", FALSE, &cfg->padding_value, &present, error) ||
      !get_number (o, name, "dither", FALSE, &dither, &present, error))
    return FALSE;
  if (cfg->sampling_rate != 16000) {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_UNSUPPORTED,
                 "%s: key \"sampling_rate\" is %d (expected 16000: the mel filters "
                 "span 0..8000 Hz)", name, cfg->sampling_rate);
    return FALSE;
  }
  if (dither != 0.0) {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_UNSUPPORTED,
                 "%s: key \"dither\" is %g (expected 0.0: random dither would make "
                 "features irreproducible)", name, dither);
    return FALSE;
  }
  return TRUE;
}

gboolean
omni_mel_config_parse (const char *name, const char *json, gssize len, OmniMelConfig *cfg,
                       GError **error)
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
  return parse_object (extractor_object (json_node_get_object (root)), name, cfg, error);
}

gboolean
omni_mel_config_load (const char *path, OmniMelConfig *cfg, GError **error)
{
  g_autofree char *data = NULL;
  gsize len = 0;
  g_autoptr (GError) local = NULL;

  if (!g_file_get_contents (path, &data, &len, &local)) {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_IO, "%s: cannot read: %s", path, local->message);
    return FALSE;
  }
  return omni_mel_config_parse (path, data, (gssize) len, cfg, error);
}
