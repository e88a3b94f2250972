/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The streaming detokenizer: its pieces are always valid UTF-8 and join to
 * exactly what omni_tokenizer_decode gives for all ids at once. */
#include "text-fixture.h"
#include "text/detokenizer.h"

#include <string.h>

static OmniTokenizer *tok;
static JsonObject *fixture;

/* Streams @ids and checks every piece and the joined text. */
static void
check_stream (const gint32 *ids, gsize n, gboolean skip_special)
{
  OmniDetokenizer *d = omni_detokenizer_new (tok, skip_special);
  GString *joined = g_string_new (NULL);
  GError *error = NULL;
  char *all, *tail;

  for (gsize i = 0; i < n; i++) {
    char *piece = omni_detokenizer_push (d, ids[i]);
    g_assert_true (g_utf8_validate (piece, -1, NULL));
    g_string_append (joined, piece);
    g_free (piece);
  }
  tail = omni_detokenizer_flush (d);
  g_assert_true (g_utf8_validate (tail, -1, NULL));
  g_string_append (joined, tail);
  all = omni_tokenizer_decode (tok, ids, n, skip_special, &error);
  g_assert_no_error (error);
  if (strcmp (joined->str, all) != 0)
    for (gsize i = 0; i < n; i++)
      g_test_message ("id %d", ids[i]);
  g_assert_cmpstr (joined->str, ==, all);
  g_free (all);
  g_free (tail);
  g_string_free (joined, TRUE);
  omni_detokenizer_free (d);
}

/* Text with NUL cannot travel through C strings; those cases are skipped. */
static gboolean
has_nul (JsonObject *c)
{
  return json_object_has_member (c, "text_hex");
}

static void
test_corpus (void)
{
  JsonArray *cases = json_object_get_array_member (fixture, "cases");

  for (guint i = 0; i < json_array_get_length (cases); i++) {
    JsonObject *c = json_array_get_object_element (cases, i);
    GArray *ids = text_fixture_ids (json_object_get_array_member (c, "ids"));
    if (!has_nul (c)) {
      check_stream ((gint32 *) ids->data, ids->len, FALSE);
      check_stream ((gint32 *) ids->data, ids->len, TRUE);
    }
    g_array_unref (ids);
  }
}

static void
byte_chars (gunichar map[256])
{
  guint extra = 256;

  for (guint b = 0; b < 256; b++) {
    gboolean printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC)
        || b >= 0xAE;
    map[b] = printable ? b : extra++;
  }
}

/* Ids for @bytes cut at random points: each chunk is one token when the
 * vocabulary has it, else one token per byte. Cuts fall inside multi-byte
 * characters (emoji, CJK) as often as between them. */
static GArray *
random_split_ids (GRand *rng, const guint8 *bytes, gsize len)
{
  gunichar map[256];
  GArray *ids = g_array_new (FALSE, FALSE, sizeof (gint32));
  GString *token = g_string_new (NULL);

  byte_chars (map);
  for (gsize i = 0; i < len;) {
    gsize k = (gsize) g_rand_int_range (rng, 1, 7);
    gint32 id;
    k = MIN (k, len - i);
    g_string_truncate (token, 0);
    for (gsize j = 0; j < k; j++)
      g_string_append_unichar (token, map[bytes[i + j]]);
    id = omni_tokenizer_token_to_id (tok, token->str);
    if (id >= 0) {
      g_array_append_val (ids, id);
    } else {
      for (gsize j = 0; j < k; j++) {
        char one[8] = { 0 };
        g_unichar_to_utf8 (map[bytes[i + j]], one);
        id = omni_tokenizer_token_to_id (tok, one);
        g_assert_cmpint (id, >=, 0);
        g_array_append_val (ids, id);
      }
    }
    i += k;
  }
  g_string_free (token, TRUE);
  return ids;
}

static void
test_random_splits (void)
{
  JsonArray *cases = json_object_get_array_member (fixture, "cases");
  GRand *rng = g_rand_new_with_seed (20240601);

  for (guint i = 0; i < json_array_get_length (cases); i++) {
    JsonObject *c = json_array_get_object_element (cases, i);
    const char *nfc = json_object_get_string_member (c, "nfc");
    if (has_nul (c))
      continue;
    for (guint round = 0; round < 4; round++) {
      GArray *ids = random_split_ids (rng, (const guint8 *) nfc, strlen (nfc));
      char *all = omni_tokenizer_decode (tok, (gint32 *) ids->data, ids->len,
          FALSE, NULL);
      g_assert_cmpstr (all, ==, nfc);
      check_stream ((gint32 *) ids->data, ids->len, FALSE);
      g_free (all);
      g_array_unref (ids);
    }
  }
  g_rand_free (rng);
}

/* Random bytes (mostly invalid UTF-8) stream to the same U+FFFD-replaced
 * text as a whole decode. */
static void
test_random_bytes (void)
{
  GRand *rng = g_rand_new_with_seed (7);
  static const guint8 pool[] = { 0x41, 0x20, 0x80, 0xBF, 0xC2, 0xC0, 0xE0,
    0xE2, 0xED, 0xA0, 0x9F, 0xF0, 0xF4, 0x90, 0x8F, 0xF5, 0xFF, 0x82, 0xAC };

  for (guint round = 0; round < 2000; round++) {
    guint8 bytes[24];
    gsize n = g_rand_int_range (rng, 1, sizeof bytes);
    GArray *ids;
    for (gsize i = 0; i < n; i++)
      bytes[i] = g_rand_boolean (rng) ? pool[g_rand_int_range (rng, 0,
              sizeof pool)] : (guint8) g_rand_int_range (rng, 0, 256);
    for (gsize i = 0; i < n; i++)
      if (bytes[i] == 0)
        bytes[i] = 1;
    ids = random_split_ids (rng, bytes, n);
    check_stream ((gint32 *) ids->data, ids->len, FALSE);
    g_array_unref (ids);
  }
  g_rand_free (rng);
}

static gint32
byte_token (guint8 b)
{
  gunichar map[256];
  char s[8] = { 0 };

  byte_chars (map);
  g_unichar_to_utf8 (map[b], s);
  return omni_tokenizer_token_to_id (tok, s);
}

/* A split emoji is held back until complete; flush replaces what is held
 * and resets the state; specials obey skip_special. */
static void
test_hold_and_flush (void)
{
  OmniDetokenizer *d = omni_detokenizer_new (tok, TRUE);
  const guint8 smile[] = { 0xF0, 0x9F, 0x98, 0x80 };
  char *s;

  for (guint i = 0; i < 3; i++) {
    s = omni_detokenizer_push (d, byte_token (smile[i]));
    g_assert_cmpstr (s, ==, "");
    g_free (s);
  }
  s = omni_detokenizer_push (d, byte_token (smile[3]));
  g_assert_cmpstr (s, ==, "\xF0\x9F\x98\x80");
  g_free (s);
  s = omni_detokenizer_push (d, byte_token (0xE2));
  g_assert_cmpstr (s, ==, "");
  g_free (s);
  s = omni_detokenizer_push (d, 151644);  /* <|im_start|>, special: skipped */
  g_assert_cmpstr (s, ==, "");
  g_free (s);
  s = omni_detokenizer_flush (d);
  g_assert_cmpstr (s, ==, "\xEF\xBF\xBD");
  g_free (s);
  s = omni_detokenizer_push (d, byte_token ('a'));
  g_assert_cmpstr (s, ==, "a");
  g_free (s);
  s = omni_detokenizer_push (d, 151667);  /* <think>, not special */
  g_assert_cmpstr (s, ==, "<think>");
  g_free (s);
  s = omni_detokenizer_push (d, -5);
  g_assert_cmpstr (s, ==, "");
  g_free (s);
  s = omni_detokenizer_flush (d);
  g_assert_cmpstr (s, ==, "");
  g_free (s);
  omni_detokenizer_free (d);
}

int
main (int argc, char **argv)
{
  JsonParser *p;
  int ret;

  g_test_init (&argc, &argv, NULL);
  tok = text_fixture_load_tokenizer (NULL);
  p = text_fixture_load_json ("corpus-ids.json", &fixture);
  g_test_add_func ("/text/detokenizer/corpus", test_corpus);
  g_test_add_func ("/text/detokenizer/random-splits", test_random_splits);
  g_test_add_func ("/text/detokenizer/random-bytes", test_random_bytes);
  g_test_add_func ("/text/detokenizer/hold-and-flush", test_hold_and_flush);
  ret = g_test_run ();
  g_object_unref (p);
  omni_tokenizer_free (tok);
  return ret;
}
