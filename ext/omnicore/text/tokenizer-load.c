/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Loading tokenizer.json (and tokenizer_config.json's added_tokens_decoder)
 * into the flat tables of OmniTokenizer. Only the Qwen2/Qwen3 byte-level
 * BPE layout is accepted; anything else is named and refused. */
#include "text/tokenizer-private.h"

#include "omnicore.h"

#include <json-glib/json-glib.h>
#include <string.h>

/* Ids above this are refused: no real vocabulary comes near it, and it
 * bounds the tables a hostile file can make us allocate. */
#define MAX_TOKEN_ID (1 << 24)

typedef struct {
  const char *path;
  GError **error;
} Ctx;

/* The added tokens as they are read, before they move into the tokenizer. */
typedef struct {
  GArray *tokens;       /* OmniAddedToken */
  GHashTable *by_id;    /* id + 1 -> content */
} AddedSet;

static gboolean
fail (Ctx *c, gint code, const char *field, const char *fmt, ...)
    G_GNUC_PRINTF (4, 5);

static gboolean
fail (Ctx *c, gint code, const char *field, const char *fmt, ...)
{
  va_list ap;
  char *what;

  va_start (ap, fmt);
  what = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  g_set_error (c->error, OMNI_ERROR, code, "%s: field \"%s\": %s", c->path,
      field, what);
  g_free (what);
  return FALSE;
}

static JsonObject *
get_object (Ctx *c, JsonObject *o, const char *key, const char *field)
{
  JsonNode *n = o ? json_object_get_member (o, key) : NULL;

  if (!n || !JSON_NODE_HOLDS_OBJECT (n)) {
    fail (c, OMNI_ERROR_FORMAT, field, "expected an object");
    return NULL;
  }
  return json_node_get_object (n);
}

/* A string member, NULL if absent or null; FALSE (+ error) if another type. */
static gboolean
get_opt_string (Ctx *c, JsonObject *o, const char *key, const char *field,
    const char **out)
{
  JsonNode *n = json_object_get_member (o, key);

  *out = NULL;
  if (!n || JSON_NODE_HOLDS_NULL (n))
    return TRUE;
  if (json_node_get_value_type (n) != G_TYPE_STRING)
    return fail (c, OMNI_ERROR_FORMAT, field, "expected a string");
  *out = json_node_get_string (n);
  return TRUE;
}

static gboolean
get_opt_bool (Ctx *c, JsonObject *o, const char *key, const char *field,
    gboolean dflt, gboolean *out)
{
  JsonNode *n = json_object_get_member (o, key);

  *out = dflt;
  if (!n || JSON_NODE_HOLDS_NULL (n))
    return TRUE;
  if (json_node_get_value_type (n) != G_TYPE_BOOLEAN)
    return fail (c, OMNI_ERROR_FORMAT, field, "expected true or false");
  *out = json_node_get_boolean (n);
  return TRUE;
}

static gboolean
node_to_id (Ctx *c, JsonNode *n, const char *field, gint32 *id)
{
  gint64 v;

  if (!n || !JSON_NODE_HOLDS_VALUE (n)
      || json_node_get_value_type (n) != G_TYPE_INT64)
    return fail (c, OMNI_ERROR_FORMAT, field, "expected an integer token id");
  v = json_node_get_int (n);
  if (v < 0 || v >= MAX_TOKEN_ID)
    return fail (c, OMNI_ERROR_FORMAT, field,
        "token id %" G_GINT64_FORMAT " out of range 0..%d", v, MAX_TOKEN_ID - 1);
  *id = (gint32) v;
  return TRUE;
}

/* Checks that member @key of @o is the string @want (type tags etc.). */
static gboolean
expect_string (Ctx *c, JsonObject *o, const char *key, const char *field,
    const char *want)
{
  const char *s;

  if (!get_opt_string (c, o, key, field, &s))
    return FALSE;
  if (!s || strcmp (s, want) != 0)
    return fail (c, OMNI_ERROR_UNSUPPORTED, field,
        "expected \"%s\", found %s%s%s", want, s ? "\"" : "",
        s ? s : "nothing", s ? "\"" : "");
  return TRUE;
}

static gboolean
expect_bool (Ctx *c, JsonObject *o, const char *key, const char *field,
    gboolean want)
{
  gboolean v;

  if (!get_opt_bool (c, o, key, field, want, &v))
    return FALSE;
  if (v != want)
    return fail (c, OMNI_ERROR_UNSUPPORTED, field, "only %s is supported",
        want ? "true" : "false");
  return TRUE;
}

static gboolean
check_normalizer (Ctx *c, JsonObject *root)
{
  JsonObject *n = get_object (c, root, "normalizer", "normalizer");

  if (!n) {
    g_clear_error (c->error);
    return fail (c, OMNI_ERROR_UNSUPPORTED, "normalizer",
        "expected {\"type\": \"NFC\"}");
  }
  return expect_string (c, n, "type", "normalizer.type", "NFC");
}

static gboolean
check_byte_level (Ctx *c, JsonObject *o, const char *field)
{
  char *f_type = g_strconcat (field, ".type", NULL);
  char *f_aps = g_strconcat (field, ".add_prefix_space", NULL);
  char *f_re = g_strconcat (field, ".use_regex", NULL);
  gboolean ok = expect_string (c, o, "type", f_type, "ByteLevel")
      && expect_bool (c, o, "add_prefix_space", f_aps, FALSE)
      && expect_bool (c, o, "use_regex", f_re, FALSE);

  g_free (f_type);
  g_free (f_aps);
  g_free (f_re);
  return ok;
}

/* The Split step: its regex, behavior Isolated, not inverted. */
static const char *
check_split (Ctx *c, JsonObject *split)
{
  JsonObject *pat;
  const char *re;

  if (!expect_string (c, split, "type", "pre_tokenizer.pretokenizers[0].type",
          "Split")
      || !expect_string (c, split, "behavior",
          "pre_tokenizer.pretokenizers[0].behavior", "Isolated")
      || !expect_bool (c, split, "invert",
          "pre_tokenizer.pretokenizers[0].invert", FALSE))
    return NULL;
  pat = get_object (c, split, "pattern", "pre_tokenizer.pretokenizers[0].pattern");
  if (!pat || !get_opt_string (c, pat, "Regex",
          "pre_tokenizer.pretokenizers[0].pattern.Regex", &re))
    return NULL;
  if (!re)
    fail (c, OMNI_ERROR_UNSUPPORTED, "pre_tokenizer.pretokenizers[0].pattern",
        "only a \"Regex\" pattern is supported");
  return re;
}

static const char *
check_pre_tokenizer (Ctx *c, JsonObject *root)
{
  JsonObject *pt = get_object (c, root, "pre_tokenizer", "pre_tokenizer");
  JsonNode *list;
  JsonArray *a;

  if (!pt || !expect_string (c, pt, "type", "pre_tokenizer.type", "Sequence"))
    return NULL;
  list = json_object_get_member (pt, "pretokenizers");
  if (!list || !JSON_NODE_HOLDS_ARRAY (list)) {
    fail (c, OMNI_ERROR_FORMAT, "pre_tokenizer.pretokenizers",
        "expected an array");
    return NULL;
  }
  a = json_node_get_array (list);
  if (json_array_get_length (a) != 2
      || !JSON_NODE_HOLDS_OBJECT (json_array_get_element (a, 0))
      || !JSON_NODE_HOLDS_OBJECT (json_array_get_element (a, 1))) {
    fail (c, OMNI_ERROR_UNSUPPORTED, "pre_tokenizer.pretokenizers",
        "expected [Split, ByteLevel]");
    return NULL;
  }
  if (!check_byte_level (c, json_array_get_object_element (a, 1),
          "pre_tokenizer.pretokenizers[1]"))
    return NULL;
  return check_split (c, json_array_get_object_element (a, 0));
}

static gboolean
check_decoder (Ctx *c, JsonObject *root)
{
  JsonObject *d = get_object (c, root, "decoder", "decoder");

  if (!d) {
    g_clear_error (c->error);
    return fail (c, OMNI_ERROR_UNSUPPORTED, "decoder",
        "expected a ByteLevel decoder");
  }
  return expect_string (c, d, "type", "decoder.type", "ByteLevel");
}

/* The BPE options we do not implement must be at their neutral values. */
static gboolean
check_bpe_options (Ctx *c, JsonObject *m, gboolean *ignore_merges)
{
  const char *s;
  JsonNode *n;

  if (json_object_has_member (m, "type")
      && !expect_string (c, m, "type", "model.type", "BPE"))
    return FALSE;
  n = json_object_get_member (m, "dropout");
  if (n && !JSON_NODE_HOLDS_NULL (n))
    return fail (c, OMNI_ERROR_UNSUPPORTED, "model.dropout",
        "BPE dropout is not supported");
  if (!get_opt_string (c, m, "unk_token", "model.unk_token", &s))
    return FALSE;
  if (s)
    return fail (c, OMNI_ERROR_UNSUPPORTED, "model.unk_token",
        "an unk token is not supported");
  if (!expect_bool (c, m, "byte_fallback", "model.byte_fallback", FALSE))
    return FALSE;
  if (!get_opt_string (c, m, "continuing_subword_prefix",
          "model.continuing_subword_prefix", &s))
    return FALSE;
  if (s && *s)
    return fail (c, OMNI_ERROR_UNSUPPORTED, "model.continuing_subword_prefix",
        "only an empty prefix is supported");
  if (!get_opt_string (c, m, "end_of_word_suffix", "model.end_of_word_suffix",
          &s))
    return FALSE;
  if (s && *s)
    return fail (c, OMNI_ERROR_UNSUPPORTED, "model.end_of_word_suffix",
        "only an empty suffix is supported");
  return get_opt_bool (c, m, "ignore_merges", "model.ignore_merges", FALSE,
      ignore_merges);
}

typedef struct {
  Ctx *c;
  OmniTokenizer *tok;
  gint32 max_id;
  gboolean ok;
} VocabWalk;

static void
vocab_member (JsonObject *o, const char *name, JsonNode *n, gpointer data)
{
  VocabWalk *w = data;
  gint32 id;
  char *field;

  if (!w->ok)
    return;
  field = g_strdup_printf ("model.vocab[\"%s\"]", name);
  w->ok = node_to_id (w->c, n, field, &id);
  g_free (field);
  if (!w->ok)
    return;
  g_hash_table_insert (w->tok->vocab,
      g_string_chunk_insert_const (w->tok->strings, name),
      GINT_TO_POINTER (id + 1));
  w->max_id = MAX (w->max_id, id);
}

static gboolean
load_vocab (Ctx *c, OmniTokenizer *tok, JsonObject *m, gint32 *max_id)
{
  JsonObject *vocab = get_object (c, m, "vocab", "model.vocab");
  VocabWalk w = { c, tok, -1, TRUE };

  if (!vocab)
    return FALSE;
  json_object_foreach_member (vocab, vocab_member, &w);
  if (w.ok && w.max_id < 0)
    return fail (c, OMNI_ERROR_FORMAT, "model.vocab", "empty vocabulary");
  *max_id = w.max_id;
  return w.ok;
}

static gboolean
added_flag (Ctx *c, JsonObject *o, const char *field, const char *key,
    gboolean dflt, gboolean *out)
{
  char *f = g_strconcat (field, ".", key, NULL);
  gboolean ok = get_opt_bool (c, o, key, f, dflt, out);

  g_free (f);
  return ok;
}

/* One added token object; its id is the "id" member, or @key_id (>= 0)
 * when the object is keyed by id as in added_tokens_decoder. */
static gboolean
parse_added_token (Ctx *c, JsonObject *o, gint32 key_id, const char *field,
    OmniAddedToken *t)
{
  char *f = g_strconcat (field, ".content", NULL);
  const char *content = NULL;
  gboolean ok = get_opt_string (c, o, "content", f, &content);

  if (ok && (!content || !*content))
    ok = fail (c, OMNI_ERROR_FORMAT, f, "expected a non-empty string");
  g_free (f);
  f = g_strconcat (field, ".id", NULL);
  if (key_id >= 0)
    t->id = key_id;
  else
    ok = ok && node_to_id (c, json_object_get_member (o, "id"), f, &t->id);
  g_free (f);
  ok = ok && added_flag (c, o, field, "special", FALSE, &t->special)
      && added_flag (c, o, field, "lstrip", FALSE, &t->lstrip)
      && added_flag (c, o, field, "rstrip", FALSE, &t->rstrip)
      && added_flag (c, o, field, "single_word", FALSE, &t->single_word)
      && added_flag (c, o, field, "normalized", !t->special, &t->normalized);
  if (ok) {
    t->content = g_strdup (content);
    t->len = strlen (content);
  }
  return ok;
}

static gboolean
add_token (Ctx *c, OmniTokenizer *tok, AddedSet *added, OmniAddedToken *t,
    const char *field)
{
  const char *same_id = g_hash_table_lookup (added->by_id,
      GINT_TO_POINTER (t->id + 1));
  const char *key;

  if (same_id && strcmp (same_id, t->content) != 0) {
    fail (c, OMNI_ERROR_FORMAT, field,
        "id %d is already the added token \"%s\"", t->id, same_id);
    g_free (t->content);
    return FALSE;
  }
  if (g_hash_table_contains (tok->added_by_text, t->content)) {
    g_free (t->content);  /* the first definition of a content wins */
    return TRUE;
  }
  key = g_string_chunk_insert_const (tok->strings, t->content);
  g_array_append_val (added->tokens, *t);
  g_hash_table_insert (tok->added_by_text, (gpointer) key,
      GINT_TO_POINTER (t->id + 1));
  g_hash_table_insert (added->by_id, GINT_TO_POINTER (t->id + 1),
      (gpointer) key);
  return TRUE;
}

static gboolean
load_added_tokens (Ctx *c, OmniTokenizer *tok, JsonObject *root,
    AddedSet *added)
{
  JsonNode *n = json_object_get_member (root, "added_tokens");
  JsonArray *a;

  if (!n || JSON_NODE_HOLDS_NULL (n))
    return TRUE;
  if (!JSON_NODE_HOLDS_ARRAY (n))
    return fail (c, OMNI_ERROR_FORMAT, "added_tokens", "expected an array");
  a = json_node_get_array (n);
  for (guint i = 0; i < json_array_get_length (a); i++) {
    JsonNode *e = json_array_get_element (a, i);
    char *field = g_strdup_printf ("added_tokens[%u]", i);
    OmniAddedToken t = { 0 };
    gboolean ok;

    if (!JSON_NODE_HOLDS_OBJECT (e))
      ok = fail (c, OMNI_ERROR_FORMAT, field, "expected an object");
    else
      ok = parse_added_token (c, json_node_get_object (e), -1, field, &t)
          && add_token (c, tok, added, &t, field);
    g_free (field);
    if (!ok)
      return FALSE;
  }
  return TRUE;
}

/* tokenizer_config.json may carry added tokens that tokenizer.json lacks. */
static gboolean
load_config_tokens (Ctx *c, OmniTokenizer *tok, JsonObject *root,
    AddedSet *added)
{
  JsonNode *n = json_object_get_member (root, "added_tokens_decoder");
  JsonObject *dec;
  GList *keys;
  gboolean ok = TRUE;

  if (!n || JSON_NODE_HOLDS_NULL (n))
    return TRUE;
  if (!JSON_NODE_HOLDS_OBJECT (n))
    return fail (c, OMNI_ERROR_FORMAT, "added_tokens_decoder",
        "expected an object");
  dec = json_node_get_object (n);
  keys = json_object_get_members (dec);
  for (GList *l = keys; l && ok; l = l->next) {
    const char *key = l->data;
    JsonNode *e = json_object_get_member (dec, key);
    char *field = g_strdup_printf ("added_tokens_decoder[\"%s\"]", key);
    OmniAddedToken t = { 0 };
    char *end = NULL;
    gint64 id = g_ascii_strtoll (key, &end, 10);

    if (!*key || *end || id < 0 || id >= MAX_TOKEN_ID)
      ok = fail (c, OMNI_ERROR_FORMAT, field, "expected a token id as key");
    else if (!JSON_NODE_HOLDS_OBJECT (e))
      ok = fail (c, OMNI_ERROR_FORMAT, field, "expected an object");
    else
      ok = parse_added_token (c, json_node_get_object (e), (gint32) id, field,
          &t) && add_token (c, tok, added, &t, field);
    g_free (field);
  }
  g_list_free (keys);
  return ok;
}

static gint32
vocab_lookup (const OmniTokenizer *tok, const char *text)
{
  return GPOINTER_TO_INT (g_hash_table_lookup (tok->vocab, text)) - 1;
}

static void
merge_insert (OmniTokenizer *tok, gint32 a, gint32 b, gint32 rank,
    gint32 merged)
{
  guint64 key = omni_merge_key (a, b);
  guint64 i = key;

  i ^= i >> 33;
  i *= G_GUINT64_CONSTANT (0xff51afd7ed558ccd);
  i ^= i >> 33;
  i *= G_GUINT64_CONSTANT (0xc4ceb9fe1a85ec53);
  i ^= i >> 33;
  for (i &= tok->merge_mask;; i = (i + 1) & tok->merge_mask) {
    OmniMergeSlot *slot = &tok->merges[i];
    if (slot->key == OMNI_MERGE_EMPTY || slot->key == key) {
      /* a repeated pair keeps its last rank, as tokenizers' map does */
      slot->key = key;
      slot->rank = rank;
      slot->merged = merged;
      return;
    }
  }
}

/* One merges entry, either "a b" or ["a", "b"], into its two halves. */
static gboolean
split_merge (Ctx *c, JsonNode *e, const char *field, char **a, char **b)
{
  if (JSON_NODE_HOLDS_VALUE (e) && json_node_get_value_type (e) == G_TYPE_STRING) {
    const char *s = json_node_get_string (e);
    const char *sp = strchr (s, ' ');
    if (!sp || sp == s || !sp[1] || strchr (sp + 1, ' '))
      return fail (c, OMNI_ERROR_FORMAT, field,
          "expected two tokens separated by one space, found \"%s\"", s);
    *a = g_strndup (s, sp - s);
    *b = g_strdup (sp + 1);
    return TRUE;
  }
  if (JSON_NODE_HOLDS_ARRAY (e)) {
    JsonArray *p = json_node_get_array (e);
    if (json_array_get_length (p) == 2
        && json_node_get_value_type (json_array_get_element (p, 0)) == G_TYPE_STRING
        && json_node_get_value_type (json_array_get_element (p, 1)) == G_TYPE_STRING) {
      *a = g_strdup (json_array_get_string_element (p, 0));
      *b = g_strdup (json_array_get_string_element (p, 1));
      return TRUE;
    }
  }
  return fail (c, OMNI_ERROR_FORMAT, field,
      "expected \"a b\" or [\"a\", \"b\"]");
}

static gboolean
add_merge (Ctx *c, OmniTokenizer *tok, JsonNode *e, guint rank)
{
  char *field = g_strdup_printf ("model.merges[%u]", rank);
  char *a = NULL, *b = NULL, *ab = NULL;
  gint32 ia, ib, iab;
  gboolean ok = split_merge (c, e, field, &a, &b);

  if (ok) {
    ab = g_strconcat (a, b, NULL);
    ia = vocab_lookup (tok, a);
    ib = vocab_lookup (tok, b);
    iab = vocab_lookup (tok, ab);
    if (ia < 0 || ib < 0 || iab < 0)
      ok = fail (c, OMNI_ERROR_FORMAT, field, "token \"%s\" is not in model.vocab",
          ia < 0 ? a : ib < 0 ? b : ab);
    else
      merge_insert (tok, ia, ib, (gint32) rank, iab);
  }
  g_free (field);
  g_free (a);
  g_free (b);
  g_free (ab);
  return ok;
}

static gboolean
load_merges (Ctx *c, OmniTokenizer *tok, JsonObject *m)
{
  JsonNode *n = json_object_get_member (m, "merges");
  JsonArray *a;
  guint len;
  guint64 size = 16;

  if (!n || !JSON_NODE_HOLDS_ARRAY (n))
    return fail (c, OMNI_ERROR_FORMAT, "model.merges", "expected an array");
  a = json_node_get_array (n);
  len = json_array_get_length (a);
  while (size < 2 * (guint64) len)
    size *= 2;
  tok->merge_mask = size - 1;
  tok->merges = g_new (OmniMergeSlot, size);
  memset (tok->merges, 0xff, size * sizeof (OmniMergeSlot));
  for (guint i = 0; i < len; i++)
    if (!add_merge (c, tok, json_array_get_element (a, i), i))
      return FALSE;
  return TRUE;
}

/* Byte-level decoding of one token text: every char through the inverse
 * byte map, or, if one char is outside it, the text's own UTF-8 (this is
 * what tokenizers' ByteLevel decoder does). */
static void
append_token_bytes (const OmniTokenizer *tok, const gint16 *char_byte,
    const char *text, GByteArray *pool)
{
  guint start = pool->len;

  for (const char *p = text; *p; p = g_utf8_next_char (p)) {
    gunichar ch = g_utf8_get_char (p);
    guint8 b;
    if (ch >= 512 || char_byte[ch] < 0) {
      g_byte_array_set_size (pool, start);
      g_byte_array_append (pool, (const guint8 *) text, strlen (text));
      return;
    }
    b = (guint8) char_byte[ch];
    g_byte_array_append (pool, &b, 1);
  }
}

static void
build_id_tables (OmniTokenizer *tok, GArray *added, gint32 max_id)
{
  GHashTableIter it;
  gpointer k, v;
  gint16 char_byte[512];
  GByteArray *pool = g_byte_array_new ();

  tok->n_ids = (guint) max_id + 1;
  tok->id_token = g_new0 (const char *, tok->n_ids);
  tok->is_special = g_new0 (guint8, tok->n_ids);
  g_hash_table_iter_init (&it, tok->vocab);
  while (g_hash_table_iter_next (&it, &k, &v))
    tok->id_token[GPOINTER_TO_INT (v) - 1] = k;
  for (guint i = 0; i < added->len; i++) {
    OmniAddedToken *t = &g_array_index (added, OmniAddedToken, i);
    tok->id_token[t->id] = g_string_chunk_insert_const (tok->strings, t->content);
    tok->is_special[t->id] = t->special;
  }
  for (guint i = 0; i < 512; i++)
    char_byte[i] = -1;
  for (guint b = 0; b < 256; b++)
    char_byte[tok->byte_char[b]] = (gint16) b;
  tok->bytes_off = g_new (guint32, tok->n_ids + 1);
  for (guint id = 0; id < tok->n_ids; id++) {
    tok->bytes_off[id] = pool->len;
    if (tok->id_token[id])
      append_token_bytes (tok, char_byte, tok->id_token[id], pool);
  }
  tok->bytes_off[tok->n_ids] = pool->len;
  tok->bytes_pool = g_byte_array_free (pool, FALSE);
}

static void
build_byte_ids (OmniTokenizer *tok)
{
  omni_byte_level_init (tok->byte_char);
  for (guint b = 0; b < 256; b++) {
    char s[8] = { 0 };
    g_unichar_to_utf8 (tok->byte_char[b], s);
    tok->byte_id[b] = vocab_lookup (tok, s);
  }
}

/* Added tokens with normalized:true are matched after NFC, so their
 * pattern is NFC too (tokenizers normalizes the patterns the same way). */
static void
finish_added (OmniTokenizer *tok, GArray *added)
{
  for (guint i = 0; i < added->len; i++) {
    OmniAddedToken *t = &g_array_index (added, OmniAddedToken, i);
    if (t->normalized) {
      char *nfc = g_utf8_normalize (t->content, -1, G_NORMALIZE_NFC);
      if (nfc) {
        g_free (t->content);
        t->content = nfc;
        t->len = strlen (nfc);
      }
    }
  }
  tok->n_added = added->len;
  tok->added = (OmniAddedToken *) g_array_free (added, FALSE);
}

static gboolean
compile_split (Ctx *c, OmniTokenizer *tok, const char *pattern)
{
  GError *err = NULL;

  tok->split = g_regex_new (pattern, G_REGEX_OPTIMIZE, 0, &err);
  if (!tok->split) {
    fail (c, OMNI_ERROR_UNSUPPORTED, "pre_tokenizer.pretokenizers[0].pattern.Regex",
        "cannot compile the regex: %s", err->message);
    g_error_free (err);
    return FALSE;
  }
  return TRUE;
}

static JsonParser *
parse_file (const char *path, JsonObject **root, GError **error)
{
  char *data = NULL;
  gsize len = 0;
  JsonParser *p;
  GError *err = NULL;

  if (!g_file_get_contents (path, &data, &len, &err)) {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_IO, "%s: %s", path, err->message);
    g_error_free (err);
    return NULL;
  }
  p = json_parser_new ();
  if (!json_parser_load_from_data (p, data, (gssize) len, &err)) {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_FORMAT, "%s: not valid JSON: %s",
        path, err->message);
    g_error_free (err);
    g_clear_object (&p);
  } else if (!json_parser_get_root (p)
      || !JSON_NODE_HOLDS_OBJECT (json_parser_get_root (p))) {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_FORMAT,
        "%s: expected a JSON object at the top level", path);
    g_clear_object (&p);
  } else {
    *root = json_node_get_object (json_parser_get_root (p));
  }
  g_free (data);
  return p;
}

static gboolean
load_config (OmniTokenizer *tok, const char *path, AddedSet *added,
    GError **error)
{
  Ctx c = { path, error };
  JsonObject *root = NULL;
  JsonParser *p = parse_file (path, &root, error);
  gboolean ok;

  if (!p)
    return FALSE;
  ok = load_config_tokens (&c, tok, root, added);
  g_object_unref (p);
  return ok;
}

static gboolean
load_json (OmniTokenizer *tok, JsonObject *root, const char *config_path,
    GError **error)
{
  Ctx c = { tok->path, error };
  AddedSet added = { g_array_new (FALSE, TRUE, sizeof (OmniAddedToken)),
    g_hash_table_new (NULL, NULL) };
  JsonObject *model = NULL;
  const char *pattern = NULL;
  gint32 max_id = -1;
  gboolean ok;

  ok = check_normalizer (&c, root) && (pattern = check_pre_tokenizer (&c, root))
      && check_decoder (&c, root)
      && (model = get_object (&c, root, "model", "model"))
      && check_bpe_options (&c, model, &tok->ignore_merges)
      && load_vocab (&c, tok, model, &max_id)
      && load_merges (&c, tok, model)
      && load_added_tokens (&c, tok, root, &added)
      && (!config_path || load_config (tok, config_path, &added, error))
      && compile_split (&c, tok, pattern);
  if (ok) {
    for (guint i = 0; i < added.tokens->len; i++)
      max_id = MAX (max_id, g_array_index (added.tokens, OmniAddedToken, i).id);
    build_byte_ids (tok);
    build_id_tables (tok, added.tokens, max_id);
  }
  g_hash_table_unref (added.by_id);
  finish_added (tok, added.tokens);
  return ok;
}

OmniTokenizer *
omni_tokenizer_load (const char *tokenizer_json_path,
    const char *tokenizer_config_path, GError **error)
{
  OmniTokenizer *tok;
  JsonObject *root = NULL;
  JsonParser *p;
  gint64 t0 = g_get_monotonic_time ();

  g_return_val_if_fail (tokenizer_json_path != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);
  p = parse_file (tokenizer_json_path, &root, error);
  if (!p)
    return NULL;
  tok = g_new0 (OmniTokenizer, 1);
  tok->path = g_strdup (tokenizer_json_path);
  tok->strings = g_string_chunk_new (1 << 20);
  tok->vocab = g_hash_table_new (g_str_hash, g_str_equal);
  tok->added_by_text = g_hash_table_new (g_str_hash, g_str_equal);
  if (!load_json (tok, root, tokenizer_config_path, error)) {
    g_object_unref (p);
    omni_tokenizer_free (tok);
    return NULL;
  }
  g_object_unref (p);
  g_debug ("%s: %u ids, %u added tokens, loaded in %.3f s", tok->path,
      tok->n_ids, tok->n_added, (g_get_monotonic_time () - t0) / 1e6);
  return tok;
}

void
omni_tokenizer_free (OmniTokenizer *tok)
{
  if (!tok)
    return;
  for (guint i = 0; i < tok->n_added; i++)
    g_free (tok->added[i].content);
  g_free (tok->added);
  g_free (tok->merges);
  g_free (tok->id_token);
  g_free (tok->bytes_off);
  g_free (tok->bytes_pool);
  g_free (tok->is_special);
  if (tok->vocab)
    g_hash_table_unref (tok->vocab);
  if (tok->added_by_text)
    g_hash_table_unref (tok->added_by_text);
  if (tok->strings)
    g_string_chunk_free (tok->strings);
  if (tok->split)
    g_regex_unref (tok->split);
  g_free (tok->path);
  g_free (tok);
}
