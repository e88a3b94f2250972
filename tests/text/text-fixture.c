/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "text-fixture.h"

#include <glib/gstdio.h>
#include <string.h>

char *
text_fixture_tokenizer_file (const char *name)
{
  const char *src = g_getenv ("OMNI_TEST_SRCDIR");

  /* the committed copy of ../shared/data/qwen3-tokenizer (same sha256), so
   * the suite needs nothing outside the repository */
  g_assert_nonnull (src);
  return g_build_filename (src, "golden", "tokenizer", name, NULL);
}

JsonParser *
text_fixture_load_json (const char *name, JsonObject **root)
{
  const char *src = g_getenv ("OMNI_TEST_SRCDIR");
  char *path;
  JsonParser *p = json_parser_new ();
  GError *error = NULL;

  g_assert_nonnull (src);
  path = g_build_filename (src, "text", name, NULL);
  json_parser_load_from_file (p, path, &error);
  g_assert_no_error (error);
  g_assert_true (JSON_NODE_HOLDS_OBJECT (json_parser_get_root (p)));
  *root = json_node_get_object (json_parser_get_root (p));
  g_free (path);
  return p;
}

OmniTokenizer *
text_fixture_load_tokenizer (double *seconds)
{
  char *path = text_fixture_tokenizer_file ("tokenizer.json");
  GError *error = NULL;
  gint64 t0 = g_get_monotonic_time ();
  OmniTokenizer *tok = omni_tokenizer_load (path, NULL, &error);

  g_assert_no_error (error);
  g_assert_nonnull (tok);
  if (seconds)
    *seconds = (g_get_monotonic_time () - t0) / 1e6;
  g_free (path);
  return tok;
}

GArray *
text_fixture_ids (JsonArray *a)
{
  guint n = json_array_get_length (a);
  GArray *ids = g_array_sized_new (FALSE, FALSE, sizeof (gint32), n);

  for (guint i = 0; i < n; i++) {
    gint32 id = (gint32) json_array_get_int_element (a, i);
    g_array_append_val (ids, id);
  }
  return ids;
}

char *
text_fixture_bytes (JsonObject *o, const char *key, gsize *len)
{
  char *hex_key = g_strconcat (key, "_hex", NULL);
  char *out;

  if (json_object_has_member (o, hex_key)) {
    const char *hex = json_object_get_string_member (o, hex_key);
    gsize n = strlen (hex) / 2;
    out = g_malloc (n + 1);
    for (gsize i = 0; i < n; i++)
      out[i] = (char) ((g_ascii_xdigit_value (hex[2 * i]) << 4)
          | g_ascii_xdigit_value (hex[2 * i + 1]));
    out[n] = '\0';
    *len = n;
  } else {
    out = g_strdup (json_object_get_string_member (o, key));
    *len = strlen (out);
  }
  g_free (hex_key);
  return out;
}

char *
text_fixture_write_temp (const char *name, const char *contents, gssize len)
{
  GError *error = NULL;
  char *dir = g_dir_make_tmp ("omni-text-XXXXXX", &error);
  char *path;

  g_assert_no_error (error);
  path = g_build_filename (dir, name, NULL);
  g_file_set_contents (path, contents, len, &error);
  g_assert_no_error (error);
  g_free (dir);
  return path;
}

void
text_fixture_remove_temp (const char *path)
{
  char *dir = g_path_get_dirname (path);

  g_unlink (path);
  g_rmdir (dir);
  g_free (dir);
}
