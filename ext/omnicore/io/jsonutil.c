/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "omnicore.h"
#include "io/jsonutil.h"

#define SEEN_KEY "omni-json-seen"
#define DUP_KEY "omni-json-duplicate"

static void
on_object_member (JsonParser *parser, JsonObject *object, const char *name, gpointer data)
{
  GHashTable *seen = g_object_get_data (G_OBJECT (parser), SEEN_KEY);
  if (g_object_get_data (G_OBJECT (parser), DUP_KEY))
    return;
  char *key = g_strdup_printf ("%p/%s", (void *) object, name);
  if (!g_hash_table_add (seen, key))
    g_object_set_data_full (G_OBJECT (parser), DUP_KEY, g_strdup (name), g_free);
}

JsonParser *
omni_json_parser_new_strict (void)
{
  JsonParser *parser = json_parser_new ();
  g_object_set_data_full (G_OBJECT (parser), SEEN_KEY,
                          g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL),
                          (GDestroyNotify) g_hash_table_unref);
  g_signal_connect (parser, "object-member", G_CALLBACK (on_object_member), NULL);
  return parser;
}

gboolean
omni_json_parser_load (JsonParser *parser, const char *path, const char *data, gssize len,
                       GError **error)
{
  GError *err = NULL;
  if (!json_parser_load_from_data (parser, data, len, &err)) {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_FORMAT, "%s: invalid JSON: %s", path, err->message);
    g_error_free (err);
    return FALSE;
  }
  const char *dup = g_object_get_data (G_OBJECT (parser), DUP_KEY);
  if (dup) {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_FORMAT,
                 "%s: key \"%s\" appears twice in one JSON object", path, dup);
    return FALSE;
  }
  return TRUE;
}

gboolean
omni_json_parser_load_file (JsonParser *parser, const char *path, GError **error)
{
  char *text = NULL;
  gsize len = 0;
  GError *err = NULL;
  if (!g_file_get_contents (path, &text, &len, &err)) {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_IO, "%s: cannot read: %s", path, err->message);
    g_error_free (err);
    return FALSE;
  }
  gboolean ok = omni_json_parser_load (parser, path, text, (gssize) len, error);
  g_free (text);
  return ok;
}

const char *
omni_json_get_string (JsonObject *o, const char *key)
{
  JsonNode *n = json_object_get_member (o, key);
  if (n == NULL || !JSON_NODE_HOLDS_VALUE (n) || json_node_get_value_type (n) != G_TYPE_STRING)
    return NULL;
  return json_node_get_string (n);
}
