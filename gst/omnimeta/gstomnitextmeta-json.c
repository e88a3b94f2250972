/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The JSON form of GstOmniTextMeta (schema in docs/meta.md). */
#include "gstomnitextmeta.h"

#include <json-glib/json-glib.h>

/* The fields of one meta as read from JSON, before it is attached: parsing
 * is all-or-nothing, a buffer never gets a half-read meta. */
typedef struct {
  GstOmniTextKind kind;
  const gchar *text;
  const gchar *language;
  const gchar *source_language;
  GstClockTime pts;
  GstClockTime running_time;
  GstClockTime duration;
  gboolean is_final;
  guint64 seq;
  const gchar *speaker;
  const gchar *model_id;
} ParsedMeta;

static void
add_optional_string (JsonBuilder *b, const gchar *name, const gchar *value)
{
  json_builder_set_member_name (b, name);
  if (value)
    json_builder_add_string_value (b, value);
  else
    json_builder_add_null_value (b);
}

static void
add_time (JsonBuilder *b, const gchar *name, GstClockTime t)
{
  json_builder_set_member_name (b, name);
  if (GST_CLOCK_TIME_IS_VALID (t))
    json_builder_add_int_value (b, (gint64) t);
  else
    json_builder_add_null_value (b);
}

/**
 * gst_omni_text_meta_to_json:
 * @meta: a #GstOmniTextMeta
 *
 * Writes @meta as one line of JSON: an object with every field of the schema
 * in docs/meta.md, absent values as null, times in nanoseconds.
 *
 * Returns: (transfer full): the JSON text. Free with g_free().
 */
gchar *
gst_omni_text_meta_to_json (const GstOmniTextMeta *meta)
{
  g_autoptr (JsonBuilder) b = NULL;
  g_autoptr (JsonGenerator) gen = NULL;
  g_autoptr (JsonNode) root = NULL;

  g_return_val_if_fail (meta != NULL, NULL);

  b = json_builder_new ();
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "kind");
  json_builder_add_string_value (b, gst_omni_text_kind_to_string (meta->kind));
  json_builder_set_member_name (b, "text");
  json_builder_add_string_value (b, meta->text);
  add_optional_string (b, "language", meta->language);
  add_optional_string (b, "source_language", meta->source_language);
  add_time (b, "pts", meta->pts);
  add_time (b, "running_time", meta->running_time);
  add_time (b, "duration", meta->duration);
  json_builder_set_member_name (b, "final");
  json_builder_add_boolean_value (b, meta->is_final);
  json_builder_set_member_name (b, "seq");
  json_builder_add_int_value (b, (gint64) meta->seq);
  add_optional_string (b, "speaker", meta->speaker);
  add_optional_string (b, "model_id", meta->model_id);
  json_builder_end_object (b);

  root = json_builder_get_root (b);
  gen = json_generator_new ();
  json_generator_set_root (gen, root);
  return json_generator_to_data (gen, NULL);
}

static const gchar *
node_type_name (JsonNode *node)
{
  switch (JSON_NODE_TYPE (node)) {
    case JSON_NODE_OBJECT:
      return "an object";
    case JSON_NODE_ARRAY:
      return "an array";
    case JSON_NODE_NULL:
      return "null";
    case JSON_NODE_VALUE:
      break;
  }
  switch (json_node_get_value_type (node)) {
    case G_TYPE_STRING:
      return "a string";
    case G_TYPE_INT64:
      return "an integer";
    case G_TYPE_DOUBLE:
      return "a fractional number";
    case G_TYPE_BOOLEAN:
      return "a boolean";
    default:
      return "an unknown value";
  }
}

static gboolean
field_error (GError **error, gint code, const gchar *field,
    const gchar *expected, JsonNode *got)
{
  if (got)
    g_set_error (error, GST_OMNI_META_ERROR, code,
        "GstOmniTextMeta JSON: field \"%s\": expected %s, got %s", field,
        expected, node_type_name (got));
  else
    g_set_error (error, GST_OMNI_META_ERROR, code,
        "GstOmniTextMeta JSON: field \"%s\": expected %s, but it is missing",
        field, expected);
  return FALSE;
}

static gboolean
is_string_node (JsonNode *node)
{
  return JSON_NODE_HOLDS_VALUE (node)
      && json_node_get_value_type (node) == G_TYPE_STRING;
}

/* A string member; absent or null gives NULL unless @required. */
static gboolean
read_string (JsonObject *obj, const gchar *field, gboolean required,
    const gchar **out, GError **error)
{
  JsonNode *node = json_object_get_member (obj, field);
  const gchar *expected = required ? "a string" : "a string or null";

  *out = NULL;
  if (node == NULL || JSON_NODE_HOLDS_NULL (node)) {
    if (!required)
      return TRUE;
    return field_error (error, node ? GST_OMNI_META_ERROR_INVALID_FIELD :
        GST_OMNI_META_ERROR_MISSING_FIELD, field, expected, node);
  }
  if (!is_string_node (node))
    return field_error (error, GST_OMNI_META_ERROR_INVALID_FIELD, field,
        expected, node);
  *out = json_node_get_string (node);
  if (!g_utf8_validate (*out, -1, NULL)) {
    g_set_error (error, GST_OMNI_META_ERROR,
        GST_OMNI_META_ERROR_INVALID_FIELD,
        "GstOmniTextMeta JSON: field \"%s\": expected valid UTF-8 text",
        field);
    return FALSE;
  }
  return TRUE;
}

static gboolean
read_language (JsonObject *obj, const gchar *field, const gchar **out,
    GError **error)
{
  if (!read_string (obj, field, FALSE, out, error))
    return FALSE;
  if (*out != NULL && !gst_omni_language_tag_is_valid (*out)) {
    g_set_error (error, GST_OMNI_META_ERROR,
        GST_OMNI_META_ERROR_INVALID_FIELD,
        "GstOmniTextMeta JSON: field \"%s\": expected a BCP-47 language tag "
        "(such as \"en\" or \"zh-Hans\") or null, got \"%s\"", field, *out);
    return FALSE;
  }
  return TRUE;
}

/* A non-negative integer member; absent or null gives @absent. */
static gboolean
read_uint (JsonObject *obj, const gchar *field, gboolean nullable,
    guint64 absent, guint64 *out, GError **error)
{
  JsonNode *node = json_object_get_member (obj, field);
  const gchar *expected = nullable
      ? "a non-negative integer (nanoseconds) or null"
      : "a non-negative integer";

  *out = absent;
  if (node == NULL)
    return TRUE;
  if (JSON_NODE_HOLDS_NULL (node)) {
    if (nullable)
      return TRUE;
    return field_error (error, GST_OMNI_META_ERROR_INVALID_FIELD, field,
        expected, node);
  }
  if (!JSON_NODE_HOLDS_VALUE (node)
      || json_node_get_value_type (node) != G_TYPE_INT64)
    return field_error (error, GST_OMNI_META_ERROR_INVALID_FIELD, field,
        expected, node);
  if (json_node_get_int (node) < 0) {
    g_set_error (error, GST_OMNI_META_ERROR,
        GST_OMNI_META_ERROR_INVALID_FIELD,
        "GstOmniTextMeta JSON: field \"%s\": expected %s, got %"
        G_GINT64_FORMAT, field, expected, json_node_get_int (node));
    return FALSE;
  }
  *out = (guint64) json_node_get_int (node);
  return TRUE;
}

static gboolean
read_kind (JsonObject *obj, GstOmniTextKind *kind, GError **error)
{
  const gchar *expected = "one of \"transcript\", \"caption\", "
      "\"translation\", \"description\", \"answer\"";
  JsonNode *node = json_object_get_member (obj, "kind");
  const gchar *s;

  if (node == NULL)
    return field_error (error, GST_OMNI_META_ERROR_MISSING_FIELD, "kind",
        expected, NULL);
  if (!is_string_node (node))
    return field_error (error, GST_OMNI_META_ERROR_INVALID_FIELD, "kind",
        expected, node);
  s = json_node_get_string (node);
  if (!gst_omni_text_kind_from_string (s, kind)) {
    g_autofree gchar *shown = g_utf8_make_valid (s, -1);

    g_set_error (error, GST_OMNI_META_ERROR,
        GST_OMNI_META_ERROR_INVALID_FIELD,
        "GstOmniTextMeta JSON: field \"kind\": expected %s, got \"%s\"",
        expected, shown);
    return FALSE;
  }
  return TRUE;
}

static gboolean
read_final (JsonObject *obj, gboolean *out, GError **error)
{
  JsonNode *node = json_object_get_member (obj, "final");

  *out = TRUE;
  if (node == NULL)
    return TRUE;
  if (!JSON_NODE_HOLDS_VALUE (node)
      || json_node_get_value_type (node) != G_TYPE_BOOLEAN)
    return field_error (error, GST_OMNI_META_ERROR_INVALID_FIELD, "final",
        "a boolean", node);
  *out = json_node_get_boolean (node);
  return TRUE;
}

static gboolean
parse_object (JsonObject *obj, ParsedMeta *p, GError **error)
{
  return read_kind (obj, &p->kind, error)
      && read_string (obj, "text", TRUE, &p->text, error)
      && read_language (obj, "language", &p->language, error)
      && read_language (obj, "source_language", &p->source_language, error)
      && read_uint (obj, "pts", TRUE, GST_CLOCK_TIME_NONE, &p->pts, error)
      && read_uint (obj, "running_time", TRUE, GST_CLOCK_TIME_NONE,
      &p->running_time, error)
      && read_uint (obj, "duration", TRUE, GST_CLOCK_TIME_NONE, &p->duration,
      error)
      && read_final (obj, &p->is_final, error)
      && read_uint (obj, "seq", FALSE, 0, &p->seq, error)
      && read_string (obj, "speaker", FALSE, &p->speaker, error)
      && read_string (obj, "model_id", FALSE, &p->model_id, error);
}

/**
 * gst_omni_text_meta_from_json:
 * @buffer: a writable #GstBuffer to attach the meta to
 * @json: the JSON text, one object of the schema in docs/meta.md
 * @error: return location for a #GError in the %GST_OMNI_META_ERROR domain
 *
 * Parses @json and attaches the meta it describes to @buffer. Parsing is
 * all or nothing: on error @buffer is left unchanged. Members that the
 * schema does not name are ignored, so newer writers stay readable.
 *
 * To read JSON without a media buffer at hand (from a file or a bus
 * message), attach to an empty one: gst_buffer_new().
 *
 * Returns: (transfer none) (nullable): the new meta, owned by @buffer, or
 *   %NULL with @error set when @json is not a JSON object, a required field
 *   ("kind", "text") is missing, or a field has the wrong type or value.
 */
GstOmniTextMeta *
gst_omni_text_meta_from_json (GstBuffer *buffer, const gchar *json,
    GError **error)
{
  g_autoptr (JsonParser) parser = NULL;
  g_autoptr (GError) parse_error = NULL;
  ParsedMeta p = { 0, };
  const gchar *bad;
  JsonNode *root;

  g_return_val_if_fail (GST_IS_BUFFER (buffer), NULL);
  g_return_val_if_fail (gst_buffer_is_writable (buffer), NULL);
  g_return_val_if_fail (json != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  /* json-glib rejects bad UTF-8 without saying where; say where. */
  if (!g_utf8_validate (json, -1, &bad)) {
    g_set_error (error, GST_OMNI_META_ERROR, GST_OMNI_META_ERROR_SYNTAX,
        "GstOmniTextMeta JSON: expected UTF-8 text, found an invalid byte "
        "sequence at byte %" G_GSIZE_FORMAT, (gsize) (bad - json));
    return NULL;
  }
  parser = json_parser_new_immutable ();
  if (!json_parser_load_from_data (parser, json, -1, &parse_error)) {
    g_set_error (error, GST_OMNI_META_ERROR, GST_OMNI_META_ERROR_SYNTAX,
        "GstOmniTextMeta JSON: not valid JSON: %s", parse_error->message);
    return NULL;
  }
  root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root)) {
    g_set_error (error, GST_OMNI_META_ERROR, GST_OMNI_META_ERROR_SYNTAX,
        "GstOmniTextMeta JSON: expected an object at the top level, got %s",
        root ? node_type_name (root) : "an empty document");
    return NULL;
  }
  if (!parse_object (json_node_get_object (root), &p, error))
    return NULL;

  return gst_buffer_add_omni_text_meta (buffer, p.kind, p.text, p.language,
      p.source_language, p.pts, p.running_time, p.duration, p.is_final, p.seq,
      p.speaker, p.model_id);
}
