/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Malformed and unsupported tokenizer.json / tokenizer_config.json files:
 * each gives a GError naming the file and the field, never a crash. A tiny
 * valid tokenizer is the base every case mutates. */
#include "text-fixture.h"

#include "omnicore.h"

#include <string.h>

static const char tiny[] =
  "{\"version\": \"1.0\",\n"
  " \"added_tokens\": [{\"id\": 6, \"content\": \"<|x|>\", \"single_word\": false,"
  " \"lstrip\": false, \"rstrip\": false, \"normalized\": false, \"special\": true}],\n"
  " \"normalizer\": {\"type\": \"NFC\"},\n"
  " \"pre_tokenizer\": {\"type\": \"Sequence\", \"pretokenizers\": ["
  "{\"type\": \"Split\", \"pattern\": {\"Regex\": \"\\\\s+|\\\\S+\"},"
  " \"behavior\": \"Isolated\", \"invert\": false},"
  " {\"type\": \"ByteLevel\", \"add_prefix_space\": false, \"trim_offsets\": false,"
  " \"use_regex\": false}]},\n"
  " \"post_processor\": null,\n"
  " \"decoder\": {\"type\": \"ByteLevel\", \"add_prefix_space\": false},\n"
  " \"model\": {\"type\": \"BPE\", \"dropout\": null, \"unk_token\": null,"
  " \"continuing_subword_prefix\": \"\", \"end_of_word_suffix\": \"\","
  " \"fuse_unk\": false, \"byte_fallback\": false, \"ignore_merges\": false,\n"
  "  \"vocab\": {\"a\": 0, \"b\": 1, \"ab\": 2, \"\xc4\xa0\": 3, \"abb\": 4, \"c\": 5},\n"
  "  \"merges\": [[\"a\", \"b\"], \"ab b\"]}}\n";

static char *
mutate (const char *find, const char *replace)
{
  GString *s = g_string_new (tiny);

  g_assert_nonnull (strstr (tiny, find));
  g_string_replace (s, find, replace, 1);
  return g_string_free (s, FALSE);
}

static OmniTokenizer *
load_text (const char *json, gssize len, const char *config, GError **error,
    char **path_out)
{
  char *path = text_fixture_write_temp ("tokenizer.json", json, len);
  char *cpath = config ? text_fixture_write_temp ("tokenizer_config.json",
      config, -1) : NULL;
  OmniTokenizer *tok = omni_tokenizer_load (path, cpath, error);

  text_fixture_remove_temp (path);
  if (cpath)
    text_fixture_remove_temp (cpath);
  *path_out = config ? cpath : path;
  if (config)
    g_free (path);
  else
    g_free (cpath);
  return tok;
}

static void
expect_error (const char *json, gssize len, const char *config, gint code,
    const char *field)
{
  GError *error = NULL;
  char *path;
  OmniTokenizer *tok = load_text (json, len, config, &error, &path);

  g_assert_null (tok);
  g_assert_error (error, OMNI_ERROR, code);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, path));
  if (field)
    g_assert_nonnull (strstr (error->message, field));
  g_error_free (error);
  g_free (path);
}

static void
expect_mutation_error (const char *find, const char *replace, gint code,
    const char *field)
{
  char *json = mutate (find, replace);

  expect_error (json, -1, NULL, code, field);
  g_free (json);
}

static void
test_tiny_valid (void)
{
  GError *error = NULL;
  char *path;
  OmniTokenizer *tok = load_text (tiny, -1, NULL, &error, &path);
  GArray *ids = g_array_new (FALSE, FALSE, sizeof (gint32));
  const gint32 want[] = { 2, 3, 4, 3, 5, 6, 2, 5 };
  char *text;

  g_assert_no_error (error);
  g_assert_true (omni_tokenizer_encode (tok, "ab abb c<|x|>abc", -1, ids, &error));
  g_assert_cmpmem (ids->data, ids->len * sizeof (gint32), want, sizeof want);
  g_assert_cmpuint (omni_tokenizer_vocab_size (tok), ==, 7);
  g_assert_true (omni_tokenizer_is_special (tok, 6));
  /* bytes without a token of their own are dropped, as tokenizers does */
  g_array_set_size (ids, 0);
  g_assert_true (omni_tokenizer_encode (tok, "xa", -1, ids, &error));
  g_assert_cmpuint (ids->len, ==, 1);
  text = omni_tokenizer_decode (tok, want, G_N_ELEMENTS (want), TRUE, &error);
  g_assert_cmpstr (text, ==, "ab abb cabc");
  g_free (text);
  g_array_unref (ids);
  omni_tokenizer_free (tok);
  g_free (path);
}

/* ignore_merges: a word that is a token skips BPE (ids from tokenizers
 * 0.23 on the same file). */
static void
test_ignore_merges (void)
{
  const gint32 want_ignore[] = { 4, 3, 2, 1, 5, 3, 0 };
  const gint32 want_merge[] = { 2, 1, 3, 2, 1, 5, 3, 0 };

  for (guint ignore = 0; ignore < 2; ignore++) {
    char *one = mutate ("[[\"a\", \"b\"], \"ab b\"]", "[[\"a\", \"b\"]]");
    GString *json = g_string_new (one);
    GError *error = NULL;
    GArray *ids = g_array_new (FALSE, FALSE, sizeof (gint32));
    char *path;
    OmniTokenizer *tok;

    if (ignore)
      g_string_replace (json, "\"ignore_merges\": false", "\"ignore_merges\": true", 1);
    tok = load_text (json->str, -1, NULL, &error, &path);
    g_assert_no_error (error);
    g_assert_true (omni_tokenizer_encode (tok, "abb abbc xa", -1, ids, &error));
    if (ignore)
      g_assert_cmpmem (ids->data, ids->len * sizeof (gint32), want_ignore,
          sizeof want_ignore);
    else
      g_assert_cmpmem (ids->data, ids->len * sizeof (gint32), want_merge,
          sizeof want_merge);
    omni_tokenizer_free (tok);
    g_array_unref (ids);
    g_string_free (json, TRUE);
    g_free (one);
    g_free (path);
  }
}

static void
test_not_json (void)
{
  expect_error ("this is not json", -1, NULL, OMNI_ERROR_FORMAT, "JSON");
  expect_error ("", 0, NULL, OMNI_ERROR_FORMAT, NULL);
  expect_error ("[1, 2, 3]", -1, NULL, OMNI_ERROR_FORMAT, "object");
  expect_error ("null", -1, NULL, OMNI_ERROR_FORMAT, "object");
  for (gsize cut = 1; cut < sizeof tiny - 2; cut += 37)
    expect_error (tiny, (gssize) cut, NULL, OMNI_ERROR_FORMAT, NULL);
}

static void
test_truncated_real (void)
{
  char *real = text_fixture_tokenizer_file ("tokenizer.json");
  char *data = NULL;
  gsize len = 0;

  g_assert_true (g_file_get_contents (real, &data, &len, NULL));
  expect_error (data, 1 << 20, NULL, OMNI_ERROR_FORMAT, "JSON");
  expect_error (data, (gssize) len - 3, NULL, OMNI_ERROR_FORMAT, "JSON");
  g_free (data);
  g_free (real);
}

static void
test_missing_file (void)
{
  GError *error = NULL;

  g_assert_null (omni_tokenizer_load ("/nonexistent/tokenizer.json", NULL, &error));
  g_assert_error (error, OMNI_ERROR, OMNI_ERROR_IO);
  g_assert_nonnull (strstr (error->message, "/nonexistent/tokenizer.json"));
  g_clear_error (&error);
}

static void
test_unsupported (void)
{
  expect_mutation_error ("\"type\": \"BPE\"", "\"type\": \"WordPiece\"",
      OMNI_ERROR_UNSUPPORTED, "model.type");
  expect_mutation_error ("{\"type\": \"NFC\"}", "{\"type\": \"NFKC\"}",
      OMNI_ERROR_UNSUPPORTED, "normalizer.type");
  expect_mutation_error ("{\"type\": \"NFC\"}", "null",
      OMNI_ERROR_UNSUPPORTED, "normalizer");
  expect_mutation_error ("\"type\": \"Sequence\"", "\"type\": \"Whitespace\"",
      OMNI_ERROR_UNSUPPORTED, "pre_tokenizer.type");
  expect_mutation_error ("\"behavior\": \"Isolated\"", "\"behavior\": \"Removed\"",
      OMNI_ERROR_UNSUPPORTED, "pre_tokenizer.pretokenizers[0].behavior");
  expect_mutation_error ("{\"Regex\": \"\\\\s+|\\\\S+\"}", "{\"String\": \" \"}",
      OMNI_ERROR_UNSUPPORTED, "pre_tokenizer.pretokenizers[0].pattern");
  expect_mutation_error ("{\"Regex\": \"\\\\s+|\\\\S+\"}", "{\"Regex\": \"(\"}",
      OMNI_ERROR_UNSUPPORTED, "pattern.Regex");
  expect_mutation_error ("\"add_prefix_space\": false, \"trim_offsets\": false,"
      " \"use_regex\": false", "\"add_prefix_space\": true",
      OMNI_ERROR_UNSUPPORTED, "pretokenizers[1].add_prefix_space");
  expect_mutation_error ("\"use_regex\": false}]", "\"use_regex\": true}]",
      OMNI_ERROR_UNSUPPORTED, "pretokenizers[1].use_regex");
  expect_mutation_error ("\"decoder\": {\"type\": \"ByteLevel\"",
      "\"decoder\": {\"type\": \"WordPiece\"", OMNI_ERROR_UNSUPPORTED, "decoder.type");
  expect_mutation_error ("\"dropout\": null", "\"dropout\": 0.1",
      OMNI_ERROR_UNSUPPORTED, "model.dropout");
  expect_mutation_error ("\"unk_token\": null", "\"unk_token\": \"<unk>\"",
      OMNI_ERROR_UNSUPPORTED, "model.unk_token");
  expect_mutation_error ("\"byte_fallback\": false", "\"byte_fallback\": true",
      OMNI_ERROR_UNSUPPORTED, "model.byte_fallback");
  expect_mutation_error ("\"continuing_subword_prefix\": \"\"",
      "\"continuing_subword_prefix\": \"##\"", OMNI_ERROR_UNSUPPORTED,
      "model.continuing_subword_prefix");
}

static void
test_bad_model (void)
{
  expect_mutation_error ("\"model\":", "\"modelx\":", OMNI_ERROR_FORMAT, "\"model\"");
  expect_mutation_error ("\"vocab\":", "\"vocabx\":", OMNI_ERROR_FORMAT, "model.vocab");
  expect_mutation_error ("\"merges\":", "\"mergesx\":", OMNI_ERROR_FORMAT, "model.merges");
  expect_mutation_error ("\"a\": 0,", "\"a\": \"0\",", OMNI_ERROR_FORMAT,
      "model.vocab[\"a\"]");
  expect_mutation_error ("\"a\": 0,", "\"a\": 1.5,", OMNI_ERROR_FORMAT,
      "model.vocab[\"a\"]");
  expect_mutation_error ("\"a\": 0,", "\"a\": -1,", OMNI_ERROR_FORMAT,
      "model.vocab[\"a\"]");
  expect_mutation_error ("\"a\": 0,", "\"a\": 99999999999,", OMNI_ERROR_FORMAT,
      "model.vocab[\"a\"]");
  expect_mutation_error ("[[\"a\", \"b\"]", "[[\"a\", \"z\"]", OMNI_ERROR_FORMAT,
      "model.merges[0]");
  expect_mutation_error ("[[\"a\", \"b\"]", "[[\"b\", \"a\"]", OMNI_ERROR_FORMAT,
      "model.merges[0]");
  expect_mutation_error ("[[\"a\", \"b\"]", "[[\"a\", \"b\", \"c\"]",
      OMNI_ERROR_FORMAT, "model.merges[0]");
  expect_mutation_error ("[[\"a\", \"b\"]", "[[\"a\", 1]", OMNI_ERROR_FORMAT,
      "model.merges[0]");
  expect_mutation_error ("\"ab b\"", "\"abb\"", OMNI_ERROR_FORMAT, "model.merges[1]");
  expect_mutation_error ("\"ab b\"", "\"a b b\"", OMNI_ERROR_FORMAT, "model.merges[1]");
  expect_mutation_error ("\"ab b\"", "5", OMNI_ERROR_FORMAT, "model.merges[1]");
  expect_mutation_error ("\"ab b\"", "null", OMNI_ERROR_FORMAT, "model.merges[1]");
  expect_mutation_error ("\"merges\": [", "\"merges\": {\"x\": 1}, \"y\": [",
      OMNI_ERROR_FORMAT, "model.merges");
}

static void
test_bad_added_tokens (void)
{
  expect_mutation_error ("\"id\": 6,", "\"id\": \"6\",", OMNI_ERROR_FORMAT,
      "added_tokens[0].id");
  expect_mutation_error ("\"id\": 6,", "\"id\": 6.5,", OMNI_ERROR_FORMAT,
      "added_tokens[0].id");
  expect_mutation_error ("\"id\": 6,", "", OMNI_ERROR_FORMAT, "added_tokens[0].id");
  expect_mutation_error ("\"content\": \"<|x|>\",", "", OMNI_ERROR_FORMAT,
      "added_tokens[0].content");
  expect_mutation_error ("\"content\": \"<|x|>\",", "\"content\": \"\",",
      OMNI_ERROR_FORMAT, "added_tokens[0].content");
  expect_mutation_error ("\"special\": true", "\"special\": \"yes\"",
      OMNI_ERROR_FORMAT, "added_tokens[0].special");
  expect_mutation_error ("\"added_tokens\": [", "\"added_tokens\": {}, \"x\": [",
      OMNI_ERROR_FORMAT, "added_tokens");
  expect_mutation_error ("\"added_tokens\": [", "\"added_tokens\": [7, ",
      OMNI_ERROR_FORMAT, "added_tokens[0]");
  expect_mutation_error ("\"added_tokens\": [",
      "\"added_tokens\": [{\"id\": 6, \"content\": \"<|y|>\"}, ",
      OMNI_ERROR_FORMAT, "added_tokens[1]");
}

static void
test_bad_config (void)
{
  GError *error = NULL;
  char *path;
  OmniTokenizer *tok;

  expect_error (tiny, -1, "{not json", OMNI_ERROR_FORMAT, "JSON");
  expect_error (tiny, -1, "{\"added_tokens_decoder\": []}", OMNI_ERROR_FORMAT,
      "added_tokens_decoder");
  expect_error (tiny, -1, "{\"added_tokens_decoder\": {\"x7\": {\"content\": \"q\"}}}",
      OMNI_ERROR_FORMAT, "added_tokens_decoder[\"x7\"]");
  expect_error (tiny, -1, "{\"added_tokens_decoder\": {\"6\": {\"content\": \"<|z|>\"}}}",
      OMNI_ERROR_FORMAT, "added_tokens_decoder[\"6\"]");
  expect_error (tiny, -1, "{\"added_tokens_decoder\": {\"7\": 1}}",
      OMNI_ERROR_FORMAT, "added_tokens_decoder[\"7\"]");
  /* a config that only repeats tokenizer.json, or adds a token, is fine */
  tok = load_text (tiny, -1, "{\"added_tokens_decoder\": {\"6\": {\"content\": "
      "\"<|x|>\", \"special\": true}, \"9\": {\"content\": \"<|n|>\"}},"
      " \"eos_token\": \"<|x|>\"}", &error, &path);
  g_assert_no_error (error);
  g_assert_cmpuint (omni_tokenizer_vocab_size (tok), ==, 10);
  g_assert_cmpint (omni_tokenizer_token_to_id (tok, "<|n|>"), ==, 9);
  g_assert_null (omni_tokenizer_id_to_token (tok, 8));
  omni_tokenizer_free (tok);
  g_free (path);
  g_assert_null (omni_tokenizer_load ("/nonexistent/tokenizer.json",
          "/nonexistent/tokenizer_config.json", &error));
  g_assert_error (error, OMNI_ERROR, OMNI_ERROR_IO);
  g_clear_error (&error);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/text/tokenizer-malformed/tiny-valid", test_tiny_valid);
  g_test_add_func ("/text/tokenizer-malformed/ignore-merges", test_ignore_merges);
  g_test_add_func ("/text/tokenizer-malformed/not-json", test_not_json);
  g_test_add_func ("/text/tokenizer-malformed/truncated-real", test_truncated_real);
  g_test_add_func ("/text/tokenizer-malformed/missing-file", test_missing_file);
  g_test_add_func ("/text/tokenizer-malformed/unsupported", test_unsupported);
  g_test_add_func ("/text/tokenizer-malformed/bad-model", test_bad_model);
  g_test_add_func ("/text/tokenizer-malformed/bad-added-tokens", test_bad_added_tokens);
  g_test_add_func ("/text/tokenizer-malformed/bad-config", test_bad_config);
  return g_test_run ();
}
