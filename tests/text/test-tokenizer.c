/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The BPE tokenizer against Hugging Face tokenizers on the real Qwen3
 * tokenizer.json: corpus ids, round trips, added-token flags, errors="replace"
 * decoding, invalid input. */
#include "text-fixture.h"

#include "omnicore.h"

#include <string.h>

static OmniTokenizer *tok;
static JsonObject *fixture;

static void
assert_ids_equal (GArray *got, GArray *want, const char *text)
{
  if (got->len != want->len || (got->len > 0
          && memcmp (got->data, want->data, got->len * sizeof (gint32)) != 0)) {
    GString *msg = g_string_new (NULL);
    g_string_append_printf (msg, "ids differ for \"%s\"\n got:", text);
    for (guint i = 0; i < got->len; i++)
      g_string_append_printf (msg, " %d", g_array_index (got, gint32, i));
    g_string_append (msg, "\nwant:");
    for (guint i = 0; i < want->len; i++)
      g_string_append_printf (msg, " %d", g_array_index (want, gint32, i));
    g_test_message ("%s", msg->str);
    g_string_free (msg, TRUE);
    g_test_fail ();
  }
}

static void
check_case (JsonObject *c)
{
  gsize len, nfc_len, dec_len;
  char *text = text_fixture_bytes (c, "text", &len);
  char *nfc = text_fixture_bytes (c, "nfc", &nfc_len);
  GArray *want = text_fixture_ids (json_object_get_array_member (c, "ids"));
  GArray *got = g_array_new (FALSE, FALSE, sizeof (gint32));
  GError *error = NULL;
  char *dec, *dec_skip;

  g_assert_true (omni_tokenizer_encode (tok, text, (gssize) len, got, &error));
  g_assert_no_error (error);
  assert_ids_equal (got, want, text);
  dec = omni_tokenizer_decode_len (tok, (gint32 *) want->data, want->len,
      FALSE, &dec_len, &error);
  g_assert_no_error (error);
  /* decode(encode(x)) == NFC(x), NFC as the tokenizer's normalizer has it */
  g_assert_cmpmem (dec, dec_len, nfc, nfc_len);
  dec_skip = omni_tokenizer_decode (tok, (gint32 *) want->data, want->len, TRUE,
      &error);
  g_assert_no_error (error);
  if (!json_object_has_member (c, "text_hex"))
    g_assert_cmpstr (dec_skip,
        ==, json_object_get_string_member (c, "decoded_skip_special"));
  g_free (dec);
  g_free (dec_skip);
  g_array_unref (got);
  g_array_unref (want);
  g_free (text);
  g_free (nfc);
}

static void
test_corpus (void)
{
  JsonArray *cases = json_object_get_array_member (fixture, "cases");

  g_assert_cmpuint (json_array_get_length (cases), >=, 250);
  for (guint i = 0; i < json_array_get_length (cases); i++)
    check_case (json_array_get_object_element (cases, i));
}

static void
test_lookups (void)
{
  gsize len;
  const guint8 *b;

  g_assert_cmpuint (omni_tokenizer_vocab_size (tok), ==, 151669);
  g_assert_cmpint (omni_tokenizer_token_to_id (tok, "<|endoftext|>"), ==, 151643);
  g_assert_cmpint (omni_tokenizer_token_to_id (tok, "<|im_start|>"), ==, 151644);
  g_assert_cmpint (omni_tokenizer_token_to_id (tok, "<|im_end|>"), ==, 151645);
  g_assert_cmpint (omni_tokenizer_token_to_id (tok, "<think>"), ==, 151667);
  g_assert_cmpint (omni_tokenizer_token_to_id (tok, "</think>"), ==, 151668);
  g_assert_cmpint (omni_tokenizer_token_to_id (tok, "Hello"), ==, 9707);
  g_assert_cmpint (omni_tokenizer_token_to_id (tok, "Ġworld"), ==, 1879);
  g_assert_cmpint (omni_tokenizer_token_to_id (tok, "no such token"), ==, -1);
  g_assert_cmpstr (omni_tokenizer_id_to_token (tok, 151645), ==, "<|im_end|>");
  g_assert_cmpstr (omni_tokenizer_id_to_token (tok, 1879), ==, "Ġworld");
  g_assert_null (omni_tokenizer_id_to_token (tok, -1));
  g_assert_null (omni_tokenizer_id_to_token (tok, 151669));
  g_assert_true (omni_tokenizer_is_special (tok, 151643));
  g_assert_true (omni_tokenizer_is_special (tok, 151656));
  g_assert_false (omni_tokenizer_is_special (tok, 151667));
  g_assert_false (omni_tokenizer_is_special (tok, 151657));
  g_assert_false (omni_tokenizer_is_special (tok, 9707));
  b = omni_tokenizer_token_bytes (tok, 1879, &len);
  g_assert_cmpmem (b, len, " world", 6);
  b = omni_tokenizer_token_bytes (tok, 151644, &len);
  g_assert_cmpmem (b, len, "<|im_start|>", 12);
  g_assert_null (omni_tokenizer_token_bytes (tok, 999999, &len));
  g_assert_cmpuint (len, ==, 0);
}

static void
test_flags (void)
{
  JsonArray *tokens = json_object_get_array_member (fixture, "flag_tokens");
  JsonArray *cases = json_object_get_array_member (fixture, "flag_cases");
  JsonBuilder *b = json_builder_new ();
  JsonGenerator *gen = json_generator_new ();
  char *json, *config_path, *tok_path;
  OmniTokenizer *ft;
  GError *error = NULL;

  /* the flag tokens reach us through tokenizer_config.json's
   * added_tokens_decoder, keyed by id */
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "added_tokens_decoder");
  json_builder_begin_object (b);
  for (guint i = 0; i < json_array_get_length (tokens); i++) {
    JsonObject *t = json_array_get_object_element (tokens, i);
    char *key = g_strdup_printf ("%" G_GINT64_FORMAT,
        json_object_get_int_member (t, "id"));
    json_builder_set_member_name (b, key);
    json_builder_add_value (b, json_node_copy (json_array_get_element (tokens, i)));
    g_free (key);
  }
  json_builder_end_object (b);
  json_builder_end_object (b);
  json_generator_set_root (gen, json_builder_get_root (b));
  json = json_generator_to_data (gen, NULL);
  config_path = text_fixture_write_temp ("tokenizer_config.json", json, -1);
  tok_path = text_fixture_tokenizer_file ("tokenizer.json");
  ft = omni_tokenizer_load (tok_path, config_path, &error);
  g_assert_no_error (error);
  g_assert_cmpint (omni_tokenizer_token_to_id (ft, "<mask>"), ==, 151669);
  g_assert_cmpint (omni_tokenizer_token_to_id (ft, "cafe\xcc\x81"), ==, 151670);
  g_assert_true (omni_tokenizer_is_special (ft, 151671));
  g_assert_cmpuint (omni_tokenizer_vocab_size (ft), ==, 151672);
  for (guint i = 0; i < json_array_get_length (cases); i++) {
    JsonObject *c = json_array_get_object_element (cases, i);
    const char *text = json_object_get_string_member (c, "text");
    GArray *want = text_fixture_ids (json_object_get_array_member (c, "ids"));
    GArray *got = g_array_new (FALSE, FALSE, sizeof (gint32));
    g_assert_true (omni_tokenizer_encode (ft, text, -1, got, &error));
    assert_ids_equal (got, want, text);
    g_array_unref (got);
    g_array_unref (want);
  }
  omni_tokenizer_free (ft);
  text_fixture_remove_temp (config_path);
  g_free (config_path);
  g_free (tok_path);
  g_free (json);
  g_object_unref (gen);
  g_object_unref (b);
}

static void
test_decode_replace (void)
{
  JsonArray *cases = json_object_get_array_member (fixture, "replace_cases");

  g_assert_cmpuint (json_array_get_length (cases), >, 0);
  for (guint i = 0; i < json_array_get_length (cases); i++) {
    JsonObject *c = json_array_get_object_element (cases, i);
    GArray *ids = text_fixture_ids (json_object_get_array_member (c, "ids"));
    GError *error = NULL;
    char *got = omni_tokenizer_decode (tok, (gint32 *) ids->data, ids->len,
        FALSE, &error);
    g_assert_no_error (error);
    g_assert_cmpstr (got, ==, json_object_get_string_member (c, "expected"));
    g_assert_true (g_utf8_validate (got, -1, NULL));
    g_free (got);
    g_array_unref (ids);
  }
}

static void
test_decode_bad_id (void)
{
  const gint32 bad[][2] = { { 9707, -1 }, { 9707, 151669 }, { 9707, G_MAXINT32 } };

  for (guint i = 0; i < G_N_ELEMENTS (bad); i++) {
    GError *error = NULL;
    char *s = omni_tokenizer_decode (tok, bad[i], 2, FALSE, &error);
    g_assert_null (s);
    g_assert_error (error, OMNI_ERROR, OMNI_ERROR_INVALID);
    g_assert_nonnull (strstr (error->message, "token id"));
    g_error_free (error);
  }
}

static void
test_invalid_utf8 (void)
{
  const char *bad[] = { "abc\xff", "\xc3", "ok \xe2\x82", "\xed\xa0\x80 surrogate",
    "\xc0\xaf overlong", "\xf4\x90\x80\x80 too big", "<|im_start|>\x80" };

  for (guint i = 0; i < G_N_ELEMENTS (bad); i++) {
    GArray *ids = g_array_new (FALSE, FALSE, sizeof (gint32));
    GError *error = NULL;
    g_assert_false (omni_tokenizer_encode (tok, bad[i], -1, ids, &error));
    g_assert_error (error, OMNI_ERROR, OMNI_ERROR_INVALID);
    g_assert_cmpuint (ids->len, ==, 0);
    g_error_free (error);
    g_array_unref (ids);
  }
}

/* Encode appends; an explicit length may cut a string and may hold NUL. */
static void
test_append_and_length (void)
{
  GArray *ids = g_array_new (FALSE, FALSE, sizeof (gint32));
  GError *error = NULL;

  g_assert_true (omni_tokenizer_encode (tok, "Hello", -1, ids, &error));
  g_assert_true (omni_tokenizer_encode (tok, " world!!!", 6, ids, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (ids->len, ==, 2);
  g_assert_cmpint (g_array_index (ids, gint32, 0), ==, 9707);
  g_assert_cmpint (g_array_index (ids, gint32, 1), ==, 1879);
  g_assert_true (omni_tokenizer_encode (tok, "", 0, ids, &error));
  g_assert_cmpuint (ids->len, ==, 2);
  g_array_unref (ids);
}

/* Encode throughput over the corpus, reported in the test log. */
static void
test_throughput (void)
{
  JsonArray *cases = json_object_get_array_member (fixture, "cases");
  GArray *ids = g_array_new (FALSE, FALSE, sizeof (gint32));
  gsize bytes = 0, n_ids = 0;
  gint64 t0 = g_get_monotonic_time ();
  double s;

  for (guint round = 0; round < 5; round++) {
    for (guint i = 0; i < json_array_get_length (cases); i++) {
      JsonObject *c = json_array_get_object_element (cases, i);
      gsize len;
      char *text = text_fixture_bytes (c, "text", &len);
      g_array_set_size (ids, 0);
      g_assert_true (omni_tokenizer_encode (tok, text, (gssize) len, ids, NULL));
      bytes += len;
      n_ids += ids->len;
      g_free (text);
    }
  }
  s = (g_get_monotonic_time () - t0) / 1e6;
  g_test_message ("encode: %" G_GSIZE_FORMAT " bytes -> %" G_GSIZE_FORMAT
      " ids in %.3f s: %.2f MB/s, %.0f tokens/s", bytes, n_ids, s,
      bytes / s / 1e6, n_ids / s);
  g_assert_cmpuint (n_ids, >, 0);
  g_array_unref (ids);
}

int
main (int argc, char **argv)
{
  JsonParser *p;
  double load_s;
  int ret;

  g_test_init (&argc, &argv, NULL);
  tok = text_fixture_load_tokenizer (&load_s);
  g_test_message ("tokenizer.json loaded in %.3f s", load_s);
  p = text_fixture_load_json ("corpus-ids.json", &fixture);
  g_test_add_func ("/text/tokenizer/lookups", test_lookups);
  g_test_add_func ("/text/tokenizer/corpus", test_corpus);
  g_test_add_func ("/text/tokenizer/added-token-flags", test_flags);
  g_test_add_func ("/text/tokenizer/decode-replace", test_decode_replace);
  g_test_add_func ("/text/tokenizer/decode-bad-id", test_decode_bad_id);
  g_test_add_func ("/text/tokenizer/invalid-utf8", test_invalid_utf8);
  g_test_add_func ("/text/tokenizer/append-and-length", test_append_and_length);
  g_test_add_func ("/text/tokenizer/throughput", test_throughput);
  ret = g_test_run ();
  g_object_unref (p);
  omni_tokenizer_free (tok);
  return ret;
}
