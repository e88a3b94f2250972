/* omni tokenize / detokenize: the tokenizer of a snapshot, as JSON filters.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdio.h>
#include <json-glib/json-glib.h>
#include "omnicore.h"
#include "text/tokenizer.h"
#include "omni-cli.h"

int
omni_cli_fail (GError *error)
{
  fprintf (stderr, "omni: %s\n", error->message);
  g_error_free (error);
  return 1;
}

static OmniTokenizer *
load_tokenizer (const char *dir, GError **error)
{
  g_autofree char *json = g_build_filename (dir, "tokenizer.json", NULL);
  g_autofree char *cfg = g_build_filename (dir, "tokenizer_config.json", NULL);

  return omni_tokenizer_load (json, g_file_test (cfg, G_FILE_TEST_EXISTS) ? cfg : NULL, error);
}

/* Reads all of stdin and parses it as a JSON array. */
static JsonArray *
read_stdin_array (JsonParser *parser, GError **error)
{
  GString *in = g_string_new (NULL);
  char buf[65536];
  size_t got;

  while ((got = fread (buf, 1, sizeof buf, stdin)) > 0)
    g_string_append_len (in, buf, got);
  gboolean ok = json_parser_load_from_data (parser, in->str, in->len, error);
  g_string_free (in, TRUE);
  if (!ok)
    return NULL;
  JsonNode *root = json_parser_get_root (parser);
  if (!root || !JSON_NODE_HOLDS_ARRAY (root)) {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_FORMAT, "stdin: expected a JSON array");
    return NULL;
  }
  return json_node_get_array (root);
}

static void
print_node (JsonNode *node)
{
  g_autofree char *out = json_to_string (node, FALSE);
  printf ("%s\n", out);
}

typedef struct {
  char *model;
  gboolean json;
  gboolean skip_special;
} TokArgs;

static gboolean
parse_tok_args (int *argc, char ***argv, TokArgs *a, const char *what, GError **error)
{
  GOptionEntry entries[] = {
    { "model", 'm', 0, G_OPTION_ARG_FILENAME, &a->model, "Hugging Face snapshot directory", "DIR" },
    { "json", 0, 0, G_OPTION_ARG_NONE, &a->json, "Read and write JSON (the only mode)", NULL },
    { "skip-special", 0, 0, G_OPTION_ARG_NONE, &a->skip_special,
      "detokenize: drop special tokens", NULL },
    { NULL }
  };
  g_autoptr (GOptionContext) ctx = g_option_context_new (NULL);
  g_option_context_set_summary (ctx, what);
  g_option_context_add_main_entries (ctx, entries, NULL);
  if (!g_option_context_parse (ctx, argc, argv, error))
    return FALSE;
  if (!a->model || !a->json) {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_INVALID, "--model DIR and --json are required");
    return FALSE;
  }
  return TRUE;
}

/* Parses the options, loads the tokenizer and reads stdin's JSON array:
 * the start both commands share. */
static JsonArray *
tok_command_input (int argc, char **argv, const char *summary, TokArgs *a,
                   JsonParser *parser, OmniTokenizer **tok, GError **error)
{
  if (!parse_tok_args (&argc, &argv, a, summary, error))
    return NULL;
  *tok = load_tokenizer (a->model, error);
  JsonArray *in = *tok ? read_stdin_array (parser, error) : NULL;
  if (!in)
    g_clear_pointer (tok, omni_tokenizer_free);
  return in;
}

int
omni_cli_tokenize (int argc, char **argv)
{
  TokArgs a = { 0 };
  GError *error = NULL;
  OmniTokenizer *tok = NULL;
  g_autoptr (JsonParser) parser = json_parser_new ();
  JsonArray *in = tok_command_input (argc, argv, "Reads a JSON array of strings on stdin and "
                                     "writes a JSON array of arrays of token ids (special tokens "
                                     "matched, no BOS/EOS).", &a, parser, &tok, &error);
  g_autofree char *model = a.model;

  if (!in)
    return omni_cli_fail (error);

  JsonArray *out = json_array_new ();
  GArray *ids = g_array_new (FALSE, FALSE, sizeof (gint32));
  for (guint i = 0; i < json_array_get_length (in) && !error; i++) {
    JsonNode *n = json_array_get_element (in, i);
    if (!JSON_NODE_HOLDS_VALUE (n) || json_node_get_value_type (n) != G_TYPE_STRING) {
      g_set_error (&error, OMNI_ERROR, OMNI_ERROR_FORMAT, "stdin: element %u is not a string", i);
      break;
    }
    g_array_set_size (ids, 0);
    if (!omni_tokenizer_encode (tok, json_node_get_string (n), -1, ids, &error))
      break;
    JsonArray *row = json_array_sized_new (ids->len);
    for (guint j = 0; j < ids->len; j++)
      json_array_add_int_element (row, g_array_index (ids, gint32, j));
    json_array_add_array_element (out, row);
  }
  g_array_free (ids, TRUE);
  omni_tokenizer_free (tok);
  g_autoptr (JsonNode) root = json_node_init_array (json_node_alloc (), out);
  json_array_unref (out);
  if (error)
    return omni_cli_fail (error);
  print_node (root);
  return 0;
}

/* The ids of one JSON row, checked to be integers in gint32 range. */
static GArray *
row_ids (JsonNode *n, guint i, GError **error)
{
  if (!JSON_NODE_HOLDS_ARRAY (n)) {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_FORMAT, "stdin: element %u is not an array of ids", i);
    return NULL;
  }
  JsonArray *row = json_node_get_array (n);
  GArray *ids = g_array_sized_new (FALSE, FALSE, sizeof (gint32), json_array_get_length (row));
  for (guint j = 0; j < json_array_get_length (row); j++) {
    JsonNode *e = json_array_get_element (row, j);
    if (!JSON_NODE_HOLDS_VALUE (e) || json_node_get_value_type (e) != G_TYPE_INT64
        || json_node_get_int (e) < 0 || json_node_get_int (e) > G_MAXINT32) {
      g_set_error (error, OMNI_ERROR, OMNI_ERROR_FORMAT,
                   "stdin: element %u, id %u is not a non-negative integer id", i, j);
      g_array_free (ids, TRUE);
      return NULL;
    }
    gint32 id = (gint32) json_node_get_int (e);
    g_array_append_val (ids, id);
  }
  return ids;
}

/* Appends @text as a JSON string; every control character is escaped (json-glib
 * leaves some raw) and NULs inside the text survive as \u0000. */
static void
append_json_string (GString *out, const char *text, gsize len)
{
  g_string_append_c (out, '"');
  for (gsize i = 0; i < len; i++) {
    guchar c = text[i];
    if (c == '"' || c == '\\')
      g_string_append_printf (out, "\\%c", c);
    else if (c == '\n')
      g_string_append (out, "\\n");
    else if (c < 0x20 || c == 0x7f)
      g_string_append_printf (out, "\\u%04x", c);
    else
      g_string_append_c (out, c);
  }
  g_string_append_c (out, '"');
}

int
omni_cli_detokenize (int argc, char **argv)
{
  TokArgs a = { 0 };
  GError *error = NULL;
  OmniTokenizer *tok = NULL;
  g_autoptr (JsonParser) parser = json_parser_new ();
  JsonArray *in = tok_command_input (argc, argv, "Reads a JSON array of arrays of token ids on "
                                     "stdin and writes a JSON array of the decoded strings.",
                                     &a, parser, &tok, &error);
  g_autofree char *model = a.model;

  if (!in)
    return omni_cli_fail (error);

  GString *out = g_string_new ("[");
  for (guint i = 0; i < json_array_get_length (in) && !error; i++) {
    GArray *ids = row_ids (json_array_get_element (in, i), i, &error);
    if (!ids)
      break;
    gsize len;
    char *text = omni_tokenizer_decode_len (tok, (const gint32 *) ids->data, ids->len,
                                            a.skip_special, &len, &error);
    g_array_free (ids, TRUE);
    if (!text)
      break;
    if (i > 0)
      g_string_append_c (out, ',');
    append_json_string (out, text, len);
    g_free (text);
  }
  omni_tokenizer_free (tok);
  if (error) {
    g_string_free (out, TRUE);
    return omni_cli_fail (error);
  }
  printf ("%s]\n", out->str);
  g_string_free (out, TRUE);
  return 0;
}
