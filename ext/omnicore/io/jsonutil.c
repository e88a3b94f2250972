/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <math.h>
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

gboolean
omni_json_bad (OmniJsonCtx *c, OmniErrorCode code, const char *key, const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  g_autofree char *what = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  g_set_error (c->error, OMNI_ERROR, code, "%s: \"%s%s\": %s", c->path, c->kp, key, what);
  return FALSE;
}

JsonNode *
omni_json_member (JsonObject *o, const char *key)
{
  JsonNode *n = o ? json_object_get_member (o, key) : NULL;
  return n && !JSON_NODE_HOLDS_NULL (n) ? n : NULL;
}

gboolean
omni_json_get_int64 (OmniJsonCtx *c, JsonObject *o, const char *key, gboolean required,
                     gint64 def, gint64 *out)
{
  JsonNode *n = omni_json_member (o, key);
  if (n == NULL) {
    *out = def;
    return !required || omni_json_bad (c, OMNI_ERROR_FORMAT, key, "missing; expected an integer");
  }
  if (!JSON_NODE_HOLDS_VALUE (n) || json_node_get_value_type (n) != G_TYPE_INT64)
    return omni_json_bad (c, OMNI_ERROR_FORMAT, key, "expected an integer");
  *out = json_node_get_int (n);
  return TRUE;
}

gboolean
omni_json_get_int (OmniJsonCtx *c, JsonObject *o, const char *key, gboolean required,
                   gint64 def, gint64 lo, gint64 hi, int *out)
{
  gint64 v;
  if (!omni_json_get_int64 (c, o, key, required, def, &v))
    return FALSE;
  /* the default is the caller's, possibly a sentinel such as -1 */
  if (omni_json_member (o, key) != NULL && (v < lo || v > hi))
    return omni_json_bad (c, OMNI_ERROR_FORMAT, key, "%" G_GINT64_FORMAT " is out of range, "
                          "expected %" G_GINT64_FORMAT "..%" G_GINT64_FORMAT, v, lo, hi);
  *out = (int) v;
  return TRUE;
}

gboolean
omni_json_get_double (OmniJsonCtx *c, JsonObject *o, const char *key, double def, double *out)
{
  JsonNode *n = omni_json_member (o, key);
  *out = def;
  if (n == NULL)
    return TRUE;
  GType t = JSON_NODE_HOLDS_VALUE (n) ? json_node_get_value_type (n) : G_TYPE_INVALID;
  if (t != G_TYPE_INT64 && t != G_TYPE_DOUBLE)
    return omni_json_bad (c, OMNI_ERROR_FORMAT, key, "expected a number");
  *out = json_node_get_double (n);
  if (!isfinite (*out))
    return omni_json_bad (c, OMNI_ERROR_FORMAT, key, "expected a finite number");
  return TRUE;
}

gboolean
omni_json_get_bool (OmniJsonCtx *c, JsonObject *o, const char *key, gboolean def, gboolean *out)
{
  JsonNode *n = omni_json_member (o, key);
  *out = def;
  if (n == NULL)
    return TRUE;
  if (!JSON_NODE_HOLDS_VALUE (n) || json_node_get_value_type (n) != G_TYPE_BOOLEAN)
    return omni_json_bad (c, OMNI_ERROR_FORMAT, key, "expected true or false");
  *out = json_node_get_boolean (n);
  return TRUE;
}

gboolean
omni_json_get_object (OmniJsonCtx *c, JsonObject *o, const char *key, JsonObject **out)
{
  JsonNode *n = omni_json_member (o, key);
  *out = NULL;
  if (n == NULL)
    return TRUE;
  if (!JSON_NODE_HOLDS_OBJECT (n))
    return omni_json_bad (c, OMNI_ERROR_FORMAT, key, "expected a JSON object");
  *out = json_node_get_object (n);
  return TRUE;
}
