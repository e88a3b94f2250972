/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Audio prompts (Qwen3-Omni, Qwen3-ASR) and Qwen3-ASR answer parsing, as
 * transformers' Qwen3ASRProcessor parses them. */
#include <string.h>
#include "text/audio-prompt.h"

static void
test_omni_caption (void)
{
  g_autofree char *p = omni_audio_prompt_build (OMNI_AUDIO_MODEL_OMNI, FALSE, 3, NULL, NULL);

  g_assert_cmpstr (p, ==, "<|im_start|>user\n<|audio_start|><|audio_pad|><|audio_pad|>"
                   "<|audio_pad|><|audio_end|><|im_end|>\n<|im_start|>assistant\n");
}

static void
test_omni_transcribe (void)
{
  g_autofree char *a = omni_audio_prompt_build (OMNI_AUDIO_MODEL_OMNI, TRUE, 1, "German", NULL);
  g_autofree char *b = omni_audio_prompt_build (OMNI_AUDIO_MODEL_OMNI, TRUE, 1, NULL, "Words?");

  g_assert_cmpstr (a, ==, "<|im_start|>user\n<|audio_start|><|audio_pad|><|audio_end|>"
                   "Transcribe the German audio into text.<|im_end|>\n<|im_start|>assistant\n");
  g_assert_cmpstr (b, ==, "<|im_start|>user\n<|audio_start|><|audio_pad|><|audio_end|>"
                   "Words?<|im_end|>\n<|im_start|>assistant\n");
}

static void
test_asr_prompt (void)
{
  g_autofree char *a = omni_audio_prompt_build (OMNI_AUDIO_MODEL_ASR, TRUE, 2, NULL, NULL);
  g_autofree char *b = omni_audio_prompt_build (OMNI_AUDIO_MODEL_ASR, TRUE, 1, "English",
                                                "Hotwords: Qwen");

  g_assert_cmpstr (a, ==, "<|im_start|>system\n<|im_end|>\n<|im_start|>user\n<|audio_start|>"
                   "<|audio_pad|><|audio_pad|><|audio_end|><|im_end|>\n<|im_start|>assistant\n");
  g_assert_cmpstr (b, ==, "<|im_start|>system\nHotwords: Qwen<|im_end|>\n<|im_start|>user\n"
                   "<|audio_start|><|audio_pad|><|audio_end|><|im_end|>\n<|im_start|>assistant\n"
                   "language English<asr_text>");
}

static void
check_parse (const char *raw, const char *language, const char *text)
{
  g_autofree char *l = NULL, *t = NULL;

  omni_asr_output_parse (raw, &l, &t);
  g_assert_cmpstr (l, ==, language);
  g_assert_cmpstr (t, ==, text);
}

static void
test_asr_parse (void)
{
  check_parse ("language English<asr_text>Hello there. ", "English", "Hello there.");
  check_parse ("language None<asr_text>", NULL, "");
  check_parse ("plain words", NULL, "plain words");
  check_parse ("", NULL, "");
  check_parse ("\nlanguage Chinese\nextra<asr_text>你好", "Chinese", "你好");
  check_parse ("German<asr_text>Hallo", "German", "Hallo");
  /* only the first marker splits */
  check_parse ("language English<asr_text>a<asr_text>b", "English", "a<asr_text>b");
}

static void
test_asr_languages (void)
{
  const char *code = NULL, *name = NULL;

  g_assert_true (omni_asr_language_lookup ("en", &code, &name));
  g_assert_cmpstr (code, ==, "en");
  g_assert_cmpstr (name, ==, "English");
  g_assert_true (omni_asr_language_lookup (" persian ", &code, &name));
  g_assert_cmpstr (code, ==, "fa");
  g_assert_cmpstr (name, ==, "Persian");
  g_assert_true (omni_asr_language_lookup ("YUE", &code, &name));
  g_assert_cmpstr (name, ==, "Cantonese");
  g_assert_false (omni_asr_language_lookup ("Klingon", &code, &name));
  g_assert_false (omni_asr_language_lookup (NULL, &code, &name));
  g_assert_nonnull (strstr (omni_asr_languages (), "Vietnamese (vi)"));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/audio-prompt/omni-caption", test_omni_caption);
  g_test_add_func ("/audio-prompt/omni-transcribe", test_omni_transcribe);
  g_test_add_func ("/audio-prompt/asr", test_asr_prompt);
  g_test_add_func ("/audio-prompt/asr-parse", test_asr_parse);
  g_test_add_func ("/audio-prompt/asr-languages", test_asr_languages);
  return g_test_run ();
}
