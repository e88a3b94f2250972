/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The languages Qwen-MT lists (English name and code, spec section 6.1) and
 * the names and BCP-47 forms we accept for them. */
#include <string.h>
#include "text/translate.h"

typedef struct {
  const char *code;
  const char *name;
} Language;

/* Codes as Qwen-MT gives them, except Traditional Chinese: BCP-47 "zh-Hant"
 * instead of "zh_tw" (still accepted). */
static const Language languages[] = {
  { "en", "English" }, { "zh", "Chinese" }, { "zh-Hant", "Traditional Chinese" },
  { "ru", "Russian" }, { "ja", "Japanese" }, { "ko", "Korean" }, { "es", "Spanish" },
  { "fr", "French" }, { "pt", "Portuguese" }, { "de", "German" }, { "it", "Italian" },
  { "th", "Thai" }, { "vi", "Vietnamese" }, { "id", "Indonesian" }, { "ms", "Malay" },
  { "ar", "Arabic" }, { "hi", "Hindi" }, { "he", "Hebrew" }, { "my", "Burmese" },
  { "ta", "Tamil" }, { "ur", "Urdu" }, { "bn", "Bengali" }, { "pl", "Polish" },
  { "nl", "Dutch" }, { "ro", "Romanian" }, { "tr", "Turkish" }, { "km", "Khmer" },
  { "lo", "Lao" }, { "yue", "Cantonese" }, { "cs", "Czech" }, { "el", "Greek" },
  { "sv", "Swedish" }, { "hu", "Hungarian" }, { "da", "Danish" }, { "fi", "Finnish" },
  { "uk", "Ukrainian" }, { "bg", "Bulgarian" }, { "sr", "Serbian" }, { "te", "Telugu" },
  { "af", "Afrikaans" }, { "hy", "Armenian" }, { "as", "Assamese" }, { "ast", "Asturian" },
  { "eu", "Basque" }, { "be", "Belarusian" }, { "bs", "Bosnian" }, { "ca", "Catalan" },
  { "ceb", "Cebuano" }, { "hr", "Croatian" }, { "arz", "Egyptian Arabic" },
  { "et", "Estonian" }, { "gl", "Galician" }, { "ka", "Georgian" }, { "gu", "Gujarati" },
  { "is", "Icelandic" }, { "jv", "Javanese" }, { "kn", "Kannada" }, { "kk", "Kazakh" },
  { "lv", "Latvian" }, { "lt", "Lithuanian" }, { "lb", "Luxembourgish" },
  { "mk", "Macedonian" }, { "mai", "Maithili" }, { "mt", "Maltese" }, { "mr", "Marathi" },
  { "acm", "Mesopotamian Arabic" }, { "ary", "Moroccan Arabic" }, { "ars", "Najdi Arabic" },
  { "ne", "Nepali" }, { "az", "North Azerbaijani" }, { "apc", "North Levantine Arabic" },
  { "uz", "Northern Uzbek" }, { "nb", "Norwegian Bokmål" }, { "nn", "Norwegian Nynorsk" },
  { "oc", "Occitan" }, { "or", "Odia" }, { "pag", "Pangasinan" }, { "scn", "Sicilian" },
  { "sd", "Sindhi" }, { "si", "Sinhala" }, { "sk", "Slovak" }, { "sl", "Slovenian" },
  { "ajp", "South Levantine Arabic" }, { "sw", "Swahili" }, { "tl", "Tagalog" },
  { "acq", "Ta'izzi-Adeni Arabic" }, { "sq", "Tosk Albanian" }, { "aeb", "Tunisian Arabic" },
  { "vec", "Venetian" }, { "war", "Waray" }, { "cy", "Welsh" }, { "fa", "Western Persian" },
};

/* Other spellings (lower case, '-' separators) -> canonical code. */
static const Language aliases[] = {
  { "zh-Hant", "zh-tw" }, { "zh-Hant", "zh-hk" }, { "zh-Hant", "zh-mo" },
  { "zh", "zh-hans" }, { "zh", "zh-cn" }, { "zh", "zh-sg" }, { "zh", "simplified chinese" },
  { "zh", "mandarin" }, { "zh", "cmn" }, { "yue", "zh-yue" }, { "he", "iw" }, { "id", "in" },
  { "tl", "fil" }, { "tl", "filipino" }, { "fa", "persian" }, { "fa", "farsi" }, { "fa", "pes" },
  { "nb", "no" }, { "nb", "norwegian" }, { "nb", "norwegian bokmal" }, { "nb", "bokmål" },
  { "nn", "nynorsk" }, { "sq", "albanian" }, { "sq", "als" }, { "az", "azerbaijani" },
  { "uz", "uzbek" }, { "my", "myanmar" }, { "or", "oriya" }, { "ms", "malaysian" },
  { "ar", "modern standard arabic" }, { "sw", "kiswahili" }, { "el", "modern greek" },
};

gsize
omni_language_count (void)
{
  return G_N_ELEMENTS (languages);
}

void
omni_language_nth (gsize i, const char **code, const char **english_name)
{
  g_return_if_fail (i < G_N_ELEMENTS (languages));
  if (code)
    *code = languages[i].code;
  if (english_name)
    *english_name = languages[i].name;
}

gboolean
omni_language_is_auto (const char *lang)
{
  return lang == NULL || *lang == '\0' || g_ascii_strcasecmp (lang, "auto") == 0;
}

static const Language *
by_code (const char *code)
{
  for (gsize i = 0; i < G_N_ELEMENTS (languages); i++)
    if (g_ascii_strcasecmp (languages[i].code, code) == 0)
      return &languages[i];
  return NULL;
}

/* @key: lower case, '-' separators, surrounding spaces removed. */
static const Language *
find (const char *key)
{
  const Language *l = by_code (key);

  if (l)
    return l;
  for (gsize i = 0; i < G_N_ELEMENTS (languages); i++) {
    g_autofree char *name = g_utf8_strdown (languages[i].name, -1);
    if (strcmp (name, key) == 0)
      return &languages[i];
  }
  for (gsize i = 0; i < G_N_ELEMENTS (aliases); i++)
    if (strcmp (aliases[i].name, key) == 0)
      return by_code (aliases[i].code);
  return NULL;
}

/* A BCP-47 tag with subtags: Chinese by script or region, else the primary
 * language ("pt-BR" -> pt, "en-US" -> en, "sr-Latn" -> sr). */
static const Language *
find_tag (const char *key)
{
  g_auto (GStrv) parts = g_strsplit (key, "-", -1);

  if (!parts[0] || !parts[1] || strlen (parts[0]) < 2 || strlen (parts[0]) > 3)
    return NULL;
  for (int i = 0; parts[i]; i++) {
    if (!*parts[i])
      return NULL;
    for (const char *c = parts[i]; *c; c++)
      if (!g_ascii_isalnum (*c))
        return NULL;
  }
  if (strcmp (parts[0], "zh") == 0) {
    for (int i = 1; parts[i]; i++)
      if (strcmp (parts[i], "hant") == 0 || strcmp (parts[i], "tw") == 0
          || strcmp (parts[i], "hk") == 0 || strcmp (parts[i], "mo") == 0)
        return by_code ("zh-Hant");
  }
  return find (parts[0]);
}

gboolean
omni_language_lookup (const char *name_or_code, const char **code, const char **english_name)
{
  const Language *l;

  if (name_or_code == NULL || !g_utf8_validate (name_or_code, -1, NULL))
    return FALSE;
  g_autofree char *down = g_utf8_strdown (name_or_code, -1);
  g_strstrip (down);
  g_strdelimit (down, "_", '-');
  l = find (down);
  if (!l)
    l = find_tag (down);
  if (!l)
    return FALSE;
  if (code)
    *code = l->code;
  if (english_name)
    *english_name = l->name;
  return TRUE;
}
