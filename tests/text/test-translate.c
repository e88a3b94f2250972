/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Translation prompts (exact text of spec 6.2), the language table with its
 * aliases, and the clean-up of the model's answer. */
#include "text/translate.h"

/* The 92 English names of spec 6.1, to guard the table against edits. */
static const char *const spec_names[] = {
  "English", "Chinese", "Traditional Chinese", "Russian", "Japanese", "Korean", "Spanish",
  "French", "Portuguese", "German", "Italian", "Thai", "Vietnamese", "Indonesian", "Malay",
  "Arabic", "Hindi", "Hebrew", "Burmese", "Tamil", "Urdu", "Bengali", "Polish", "Dutch",
  "Romanian", "Turkish", "Khmer", "Lao", "Cantonese", "Czech", "Greek", "Swedish", "Hungarian",
  "Danish", "Finnish", "Ukrainian", "Bulgarian", "Serbian", "Telugu", "Afrikaans", "Armenian",
  "Assamese", "Asturian", "Basque", "Belarusian", "Bosnian", "Catalan", "Cebuano", "Croatian",
  "Egyptian Arabic", "Estonian", "Galician", "Georgian", "Gujarati", "Icelandic", "Javanese",
  "Kannada", "Kazakh", "Latvian", "Lithuanian", "Luxembourgish", "Macedonian", "Maithili",
  "Maltese", "Marathi", "Mesopotamian Arabic", "Moroccan Arabic", "Najdi Arabic", "Nepali",
  "North Azerbaijani", "North Levantine Arabic", "Northern Uzbek", "Norwegian Bokmål",
  "Norwegian Nynorsk", "Occitan", "Odia", "Pangasinan", "Sicilian", "Sindhi", "Sinhala", "Slovak",
  "Slovenian", "South Levantine Arabic", "Swahili", "Tagalog", "Ta'izzi-Adeni Arabic",
  "Tosk Albanian", "Tunisian Arabic", "Venetian", "Waray", "Welsh", "Western Persian",
};

static void
check_lookup (const char *in, const char *code, const char *name)
{
  const char *c = NULL, *n = NULL;

  if (!omni_language_lookup (in, &c, &n))
    g_error ("\"%s\" not found", in);
  g_assert_cmpstr (c, ==, code);
  g_assert_cmpstr (n, ==, name);
}

static void
test_table (void)
{
  g_assert_cmpuint (omni_language_count (), ==, 92);
  g_assert_cmpuint (G_N_ELEMENTS (spec_names), ==, 92);
  for (gsize i = 0; i < omni_language_count (); i++) {
    const char *code, *name;
    omni_language_nth (i, &code, &name);
    g_assert_cmpstr (name, ==, spec_names[i]);
    check_lookup (code, code, name);
    check_lookup (name, code, name);
    g_autofree char *up = g_utf8_strup (name, -1);
    check_lookup (up, code, name);
    g_autofree char *upcode = g_ascii_strup (code, -1);
    check_lookup (upcode, code, name);
    /* codes are unique */
    for (gsize j = 0; j < i; j++) {
      const char *other;
      omni_language_nth (j, &other, NULL);
      g_assert_cmpstr (other, !=, code);
    }
  }
}

static void
test_aliases (void)
{
  const char *trad[] = { "zh-Hant", "zh-TW", "zh_tw", "ZH-HK", "zh-Hant-TW", "zh-mo" };
  for (gsize i = 0; i < G_N_ELEMENTS (trad); i++)
    check_lookup (trad[i], "zh-Hant", "Traditional Chinese");
  check_lookup ("zh-Hans", "zh", "Chinese");
  check_lookup ("zh-CN", "zh", "Chinese");
  check_lookup ("zh", "zh", "Chinese");
  check_lookup ("pt-BR", "pt", "Portuguese");
  check_lookup ("pt_PT", "pt", "Portuguese");
  check_lookup ("en-US", "en", "English");
  check_lookup ("en-GB", "en", "English");
  check_lookup ("es-419", "es", "Spanish");
  check_lookup ("sr-Latn", "sr", "Serbian");
  check_lookup ("  german ", "de", "German");
  check_lookup ("FRENCH", "fr", "French");
  check_lookup ("norwegian bokmål", "nb", "Norwegian Bokmål");
  check_lookup ("no", "nb", "Norwegian Bokmål");
  check_lookup ("fil", "tl", "Tagalog");
  check_lookup ("Persian", "fa", "Western Persian");
  check_lookup ("iw", "he", "Hebrew");
  check_lookup ("yue", "yue", "Cantonese");
  check_lookup ("arz", "arz", "Egyptian Arabic");
}

static void
test_unknown (void)
{
  const char *bad[] = { "xx", "Klingon", "", "auto", "en-", "-US", "e", "englishh", "x-US" };
  const char *c = "untouched";
  for (gsize i = 0; i < G_N_ELEMENTS (bad); i++)
    g_assert_false (omni_language_lookup (bad[i], &c, NULL));
  g_assert_false (omni_language_lookup (NULL, &c, NULL));
  g_assert_false (omni_language_lookup ("\xff\xfe", &c, NULL));
  g_assert_cmpstr (c, ==, "untouched");
  g_assert_true (omni_language_is_auto (NULL));
  g_assert_true (omni_language_is_auto ("AUTO"));
  g_assert_true (omni_language_is_auto (""));
  g_assert_false (omni_language_is_auto ("en"));
}

static void
check_user (const OmniTranslateSpec *spec, const char *expected)
{
  GError *error = NULL;
  g_autofree char *user = omni_translate_build_user (spec, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (user, ==, expected);
}

static void
test_prompt_plain (void)
{
  OmniTranslateSpec s = { .text = "Good morning.", .source_language = "en",
                          .target_language = "de" };
  check_user (&s, "Translate the following text from English into German. Output only the "
                  "translation, without explanations.\nText:\nGood morning.");
  s.source_language = NULL;
  check_user (&s, "Translate the following text into German. Output only the translation, "
                  "without explanations.\nText:\nGood morning.");
  s.source_language = "auto";
  s.target_language = "zh-TW";
  check_user (&s, "Translate the following text into Traditional Chinese. Output only the "
                  "translation, without explanations.\nText:\nGood morning.");
}

static void
test_prompt_full (void)
{
  OmniTextPair terms[] = { { "goal", "Tor" }, { "offside", "Abseits" } };
  OmniTextPair memory[] = { { "What a save!", "Was für eine Parade!" } };
  OmniTextPair context[] = { { "He shoots.", "Er schießt." }, { "He scores!", "Er trifft!" } };
  OmniTranslateSpec s = {
    .text = "The goal was offside.", .source_language = "English", .target_language = "de-AT",
    .domain = "sports commentary", .terms = terms, .n_terms = 2, .memory = memory, .n_memory = 1,
    .context = context, .n_context = 2,
  };
  check_user (&s,
              "Translate the following text from English into German. Output only the "
              "translation, without explanations.\n"
              "Domain and style: sports commentary\n"
              "Use these term translations exactly:\n"
              "goal \xe2\x86\x92 Tor\n"
              "offside \xe2\x86\x92 Abseits\n"
              "Reference translations (follow their terminology and phrasing):\n"
              "English: What a save!\nGerman: Was für eine Parade!\n"
              "English: He shoots.\nGerman: Er schießt.\n"
              "English: He scores!\nGerman: Er trifft!\n"
              "Text:\nThe goal was offside.");
  /* context alone, unknown source: the pairs are labelled "Source" */
  OmniTranslateSpec c = { .text = "Hi", .target_language = "fr", .context = context,
                          .n_context = 1 };
  check_user (&c, "Translate the following text into French. Output only the translation, "
                  "without explanations.\n"
                  "Reference translations (follow their terminology and phrasing):\n"
                  "Source: He shoots.\nFrench: Er schießt.\nText:\nHi");
}

static void
test_prompt_chatml (void)
{
  GError *error = NULL;
  OmniTranslateSpec s = { .text = "Hola", .source_language = "es", .target_language = "en" };
  const char *user = "Translate the following text from Spanish into English. Output only the "
                     "translation, without explanations.\nText:\nHola";
  g_autofree char *hybrid = omni_translate_build_prompt (&s, OMNI_THINKING_DISABLED, &error);
  g_assert_no_error (error);
  g_autofree char *want = g_strdup_printf ("<|im_start|>user\n%s<|im_end|>\n<|im_start|>assistant\n"
                                           "<think>\n\n</think>\n\n", user);
  g_assert_cmpstr (hybrid, ==, want);
  g_autofree char *plain = omni_translate_build_prompt (&s, OMNI_THINKING_NONE, &error);
  g_autofree char *want2 = g_strdup_printf ("<|im_start|>user\n%s<|im_end|>\n<|im_start|>assistant\n",
                                            user);
  g_assert_cmpstr (plain, ==, want2);
}

static void
test_prompt_errors (void)
{
  GError *error = NULL;
  OmniTranslateSpec s = { .text = "x", .source_language = "en", .target_language = "Elvish" };

  g_assert_null (omni_translate_build_user (&s, &error));
  g_assert_error (error, OMNI_ERROR, OMNI_ERROR_INVALID);
  g_assert_nonnull (strstr (error->message, "target language \"Elvish\""));
  g_assert_nonnull (strstr (error->message, "docs/omnitranslate.md"));
  g_clear_error (&error);
  s.source_language = "qq";
  s.target_language = "de";
  g_assert_null (omni_translate_build_prompt (&s, OMNI_THINKING_DISABLED, &error));
  g_assert_error (error, OMNI_ERROR, OMNI_ERROR_INVALID);
  g_assert_nonnull (strstr (error->message, "source language \"qq\""));
  g_clear_error (&error);
  s.source_language = "en";
  s.target_language = NULL;
  g_assert_null (omni_translate_build_user (&s, &error));
  g_assert_error (error, OMNI_ERROR, OMNI_ERROR_INVALID);
  g_clear_error (&error);
}

static void
check_clean (const char *raw, const char *target, const char *want)
{
  g_autofree char *got = omni_translate_clean (raw, target);
  g_assert_cmpstr (got, ==, want);
}

static void
test_clean (void)
{
  check_clean ("  Guten Morgen.\n", "German", "Guten Morgen.");
  check_clean ("\"Guten Morgen.\"", "German", "Guten Morgen.");
  check_clean ("\xe2\x80\x9c" "Bonjour\xe2\x80\x9d", "French", "Bonjour");
  check_clean ("\xc2\xab Bonjour \xc2\xbb", "French", "Bonjour");
  check_clean ("\xe3\x80\x8c\xe3\x81\x93\xe3\x82\x93\xe3\x81\xab\xe3\x81\xa1\xe3\x81\xaf\xe3\x80\x8d",
               "Japanese", "\xe3\x81\x93\xe3\x82\x93\xe3\x81\xab\xe3\x81\xa1\xe3\x81\xaf");
  check_clean ("Translation: Hallo", "German", "Hallo");
  check_clean ("translation:\n\"Hallo\"", "German", "Hallo");
  check_clean ("German: Hallo", "German", "Hallo");
  check_clean ("German\xef\xbc\x9a Hallo", "German", "Hallo");
  check_clean ("<think>\n\n</think>\n\nHallo", "German", "Hallo");
  /* not one quoted span: kept */
  check_clean ("\"Ja\", sagte er, \"gut\"", "German", "\"Ja\", sagte er, \"gut\"");
  /* only one pair goes */
  check_clean ("\"\"Hallo\"\"", "German", "\"\"Hallo\"\"");
  check_clean ("\xc2\xab\"Hallo\"\xc2\xbb", "German", "\"Hallo\"");
  /* a label for another language, mismatched quotes, a lone quote: kept */
  check_clean ("French: Hallo", "German", "French: Hallo");
  check_clean ("\"Hallo\xe2\x80\x9d", "German", "\"Hallo\xe2\x80\x9d");
  check_clean ("\"", "German", "\"");
  check_clean ("", "German", "");
  check_clean ("Hallo", NULL, "Hallo");
  check_clean ("Germany: yes", "German", "Germany: yes");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/text/translate/languages/table", test_table);
  g_test_add_func ("/text/translate/languages/aliases", test_aliases);
  g_test_add_func ("/text/translate/languages/unknown", test_unknown);
  g_test_add_func ("/text/translate/prompt/plain", test_prompt_plain);
  g_test_add_func ("/text/translate/prompt/full", test_prompt_full);
  g_test_add_func ("/text/translate/prompt/chatml", test_prompt_chatml);
  g_test_add_func ("/text/translate/prompt/errors", test_prompt_errors);
  g_test_add_func ("/text/translate/clean", test_clean);
  return g_test_run ();
}
