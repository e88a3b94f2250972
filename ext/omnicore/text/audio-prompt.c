/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <string.h>
#include "text/audio-prompt.h"

#define ASR_MARKER "<asr_text>"

/* transformers' qwen3_asr LANGUAGE_CODE_TO_NAME: the names the model was
 * trained with in "language <Name><asr_text>". */
static const char *const asr_languages[][2] = {
  { "ar", "Arabic" }, { "yue", "Cantonese" }, { "zh", "Chinese" }, { "cs", "Czech" },
  { "da", "Danish" }, { "nl", "Dutch" }, { "en", "English" }, { "fil", "Filipino" },
  { "fi", "Finnish" }, { "fr", "French" }, { "de", "German" }, { "el", "Greek" },
  { "hi", "Hindi" }, { "hu", "Hungarian" }, { "id", "Indonesian" }, { "it", "Italian" },
  { "ja", "Japanese" }, { "ko", "Korean" }, { "mk", "Macedonian" }, { "ms", "Malay" },
  { "fa", "Persian" }, { "pl", "Polish" }, { "pt", "Portuguese" }, { "ro", "Romanian" },
  { "ru", "Russian" }, { "es", "Spanish" }, { "sv", "Swedish" }, { "th", "Thai" },
  { "tr", "Turkish" }, { "vi", "Vietnamese" },
};

gboolean
omni_asr_language_lookup (const char *name_or_code, const char **code, const char **asr_name)
{
  if (!name_or_code)
    return FALSE;
  g_autofree char *s = g_strstrip (g_strdup (name_or_code));
  for (guint i = 0; i < G_N_ELEMENTS (asr_languages); i++) {
    if (g_ascii_strcasecmp (s, asr_languages[i][0]) == 0
        || g_ascii_strcasecmp (s, asr_languages[i][1]) == 0) {
      if (code)
        *code = asr_languages[i][0];
      if (asr_name)
        *asr_name = asr_languages[i][1];
      return TRUE;
    }
  }
  return FALSE;
}

const char *
omni_asr_languages (void)
{
  static char *list;

  if (g_once_init_enter (&list)) {
    GString *s = g_string_new (NULL);
    for (guint i = 0; i < G_N_ELEMENTS (asr_languages); i++)
      g_string_append_printf (s, "%s%s (%s)", i ? ", " : "", asr_languages[i][1],
                              asr_languages[i][0]);
    g_once_init_leave (&list, g_string_free (s, FALSE));
  }
  return list;
}

static void
append_audio (GString *s, int n)
{
  g_string_append (s, "<|audio_start|>");
  for (int i = 0; i < n; i++)
    g_string_append (s, "<|audio_pad|>");
  g_string_append (s, "<|audio_end|>");
}

char *
omni_audio_prompt_build (OmniAudioModelKind kind, gboolean transcribe, int n_audio_tokens,
                         const char *language_name, const char *prompt)
{
  GString *s = g_string_new (NULL);

  if (kind == OMNI_AUDIO_MODEL_ASR) {
    g_string_append_printf (s, "<|im_start|>system\n%s<|im_end|>\n", prompt ? prompt : "");
    g_string_append (s, "<|im_start|>user\n");
    append_audio (s, n_audio_tokens);
    g_string_append (s, "<|im_end|>\n<|im_start|>assistant\n");
    if (language_name)
      g_string_append_printf (s, "language %s" ASR_MARKER, language_name);
    return g_string_free (s, FALSE);
  }
  g_string_append (s, "<|im_start|>user\n");
  append_audio (s, n_audio_tokens);
  if (prompt)
    g_string_append (s, prompt);
  else if (transcribe && language_name)
    g_string_append_printf (s, "Transcribe the %s audio into text.", language_name);
  else if (transcribe)
    g_string_append (s, "Transcribe the audio into text.");
  g_string_append (s, "<|im_end|>\n<|im_start|>assistant\n");
  return g_string_free (s, FALSE);
}

void
omni_asr_output_parse (const char *raw, char **language, char **text)
{
  const char *mark = raw ? strstr (raw, ASR_MARKER) : NULL;

  *language = NULL;
  if (!mark) {
    *text = g_strstrip (g_strdup (raw ? raw : ""));
    return;
  }
  *text = g_strstrip (g_strdup (mark + strlen (ASR_MARKER)));
  g_autofree char *head = g_strstrip (g_strndup (raw, mark - raw));
  /* as the reference: only the first non-empty line of the header counts */
  g_auto (GStrv) lines = g_strsplit (head, "\n", -1);
  for (int i = 0; lines[i]; i++) {
    char *l = g_strstrip (lines[i]);
    if (!*l)
      continue;
    if (g_ascii_strncasecmp (l, "language ", 9) == 0)
      l = g_strstrip (l + 9);
    if (*l && g_ascii_strcasecmp (l, "none") != 0)
      *language = g_strdup (l);
    break;
  }
}
