/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The translation prompt of spec section 6.2 and the clean-up of the
 * model's answer. tests/golden/make_translate_golden.py builds the same
 * strings; the two must change together. */
#include <string.h>
#include "text/translate.h"

#define LANGUAGES_DOC "see docs/omnitranslate.md for the 92 supported languages"

static gboolean
resolve (const char *what, const char *lang, const char **name, GError **error)
{
  if (omni_language_lookup (lang, NULL, name))
    return TRUE;
  g_set_error (error, OMNI_ERROR, OMNI_ERROR_INVALID,
               "%s \"%s\" is not a supported language: give a BCP-47 code (e.g. \"de\", "
               "\"pt-BR\", \"zh-Hant\") or an English name (e.g. \"German\"); " LANGUAGES_DOC,
               what, lang ? lang : "(null)");
  return FALSE;
}

static const char *
or_empty (const char *s)
{
  return s ? s : "";
}

/* "{src_label}: {source}\n{tgt_label}: {target}\n" for each pair. */
static void
append_pairs (GString *s, const OmniTextPair *pairs, gsize n, const char *src_label,
              const char *tgt_label)
{
  for (gsize i = 0; i < n; i++)
    g_string_append_printf (s, "%s: %s\n%s: %s\n", src_label, or_empty (pairs[i].source),
                            tgt_label, or_empty (pairs[i].target));
}

char *
omni_translate_build_user (const OmniTranslateSpec *spec, GError **error)
{
  const char *source = NULL, *target = NULL;
  gboolean is_auto = omni_language_is_auto (spec->source_language);
  GString *s;

  if ((!is_auto && !resolve ("source language", spec->source_language, &source, error))
      || !resolve ("target language", spec->target_language, &target, error))
    return NULL;
  s = g_string_new (NULL);
  if (is_auto)
    g_string_append_printf (s, "Translate the following text into %s.", target);
  else
    g_string_append_printf (s, "Translate the following text from %s into %s.", source, target);
  g_string_append (s, " Output only the translation, without explanations.\n");
  if (spec->domain && *spec->domain)
    g_string_append_printf (s, "Domain and style: %s\n", spec->domain);
  if (spec->n_terms > 0) {
    g_string_append (s, "Use these term translations exactly:\n");
    for (gsize i = 0; i < spec->n_terms; i++)
      g_string_append_printf (s, "%s \xe2\x86\x92 %s\n", or_empty (spec->terms[i].source),
                              or_empty (spec->terms[i].target));
  }
  if (spec->n_memory + spec->n_context > 0) {
    /* with an unknown source language the pairs are labelled "Source" */
    const char *src_label = is_auto ? "Source" : source;
    g_string_append (s, "Reference translations (follow their terminology and phrasing):\n");
    append_pairs (s, spec->memory, spec->n_memory, src_label, target);
    append_pairs (s, spec->context, spec->n_context, src_label, target);
  }
  g_string_append_printf (s, "Text:\n%s", or_empty (spec->text));
  return g_string_free (s, FALSE);
}

char *
omni_translate_build_prompt (const OmniTranslateSpec *spec, OmniThinking thinking, GError **error)
{
  g_autofree char *user = omni_translate_build_user (spec, error);
  OmniChatMessage msg = { "user", user };

  if (!user)
    return NULL;
  return omni_chat_build (&msg, 1, TRUE, thinking);
}

/* ---- clean-up ---- */

static const char *const quote_pairs[][2] = {
  { "\"", "\"" }, { "\xe2\x80\x9c", "\xe2\x80\x9d" },  /* “ ” */
  { "\xc2\xab", "\xc2\xbb" },                          /* « » */
  { "\xe3\x80\x8c", "\xe3\x80\x8d" },                  /* 「 」 */
  { "\xe3\x80\x8e", "\xe3\x80\x8f" },                  /* 『 』 */
};

/* Unicode white space at both ends, in place. */
static void
strip_space (GString *s)
{
  const char *p = s->str, *end = s->str + s->len;

  while (p < end && g_unichar_isspace (g_utf8_get_char (p)))
    p = g_utf8_next_char (p);
  while (end > p) {
    const char *prev = g_utf8_prev_char (end);
    if (!g_unichar_isspace (g_utf8_get_char (prev)))
      break;
    end = prev;
  }
  g_string_truncate (s, end - s->str);
  g_string_erase (s, 0, p - s->str);
}

/* Removes @prefix (ASCII case-insensitive) followed by ':' or '：'. */
static gboolean
strip_label (GString *s, const char *label)
{
  gsize n = strlen (label);

  if (s->len <= n || g_ascii_strncasecmp (s->str, label, n) != 0)
    return FALSE;
  if (s->str[n] == ':')
    g_string_erase (s, 0, n + 1);
  else if (g_str_has_prefix (s->str + n, "\xef\xbc\x9a"))  /* full-width colon */
    g_string_erase (s, 0, n + 3);
  else
    return FALSE;
  return TRUE;
}

/* A leading "<think>...</think>" block (normally empty) is not translation. */
static void
strip_think (GString *s)
{
  const char *close;

  if (!g_str_has_prefix (s->str, "<think>") || !(close = strstr (s->str, "</think>")))
    return;
  g_string_erase (s, 0, close + strlen ("</think>") - s->str);
}

/* One pair of quotes around the whole text, when nothing inside closes it. */
static void
strip_quotes (GString *s)
{
  for (gsize i = 0; i < G_N_ELEMENTS (quote_pairs); i++) {
    const char *open = quote_pairs[i][0], *close = quote_pairs[i][1];
    gsize no = strlen (open), nc = strlen (close);
    if (s->len < no + nc || !g_str_has_prefix (s->str, open) || !g_str_has_suffix (s->str, close))
      continue;
    g_autofree char *inner = g_strndup (s->str + no, s->len - no - nc);
    if (strstr (inner, close))
      continue;
    g_string_assign (s, inner);
    return;
  }
}

char *
omni_translate_clean (const char *raw, const char *target_name)
{
  GString *s = g_string_new (raw ? raw : "");

  strip_space (s);
  strip_think (s);
  strip_space (s);
  if (strip_label (s, "Translation") || (target_name && strip_label (s, target_name)))
    strip_space (s);
  strip_quotes (s);
  strip_space (s);
  return g_string_free (s, FALSE);
}
