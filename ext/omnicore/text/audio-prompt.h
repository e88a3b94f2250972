/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Prompts of audio requests (Qwen3-Omni captions and transcripts, Qwen3-ASR
 * transcripts) and the parsing of Qwen3-ASR's answers. */
#ifndef OMNI_TEXT_AUDIO_PROMPT_H
#define OMNI_TEXT_AUDIO_PROMPT_H

#include <glib.h>

G_BEGIN_DECLS

/* Which family of audio model a snapshot is: it decides the prompt. */
typedef enum {
  OMNI_AUDIO_MODEL_OMNI,   /* Qwen3-Omni (Captioner, Instruct, Thinking) */
  OMNI_AUDIO_MODEL_ASR,    /* Qwen3-ASR */
} OmniAudioModelKind;

/* The prompt text of one audio request with its special tokens written out
 * (the tokenizer maps them to ids): one user turn holding the audio as
 * <|audio_start|> + @n_audio_tokens x <|audio_pad|> + <|audio_end|>.
 * Omni: @prompt (may be NULL) follows the audio in the user turn; a
 * transcription asks for one in @language_name (NULL: any). ASR: a system
 * turn carries @prompt as context (hotwords), and a forced @language_name is
 * prefilled as "language <Name><asr_text>". Newly allocated. */
char *omni_audio_prompt_build (OmniAudioModelKind kind, gboolean transcribe, int n_audio_tokens,
                               const char *language_name, const char *prompt);

/* The name Qwen3-ASR was trained with for the language @name_or_code (code
 * or English name, case-insensitive) and its code; FALSE if it is not one of
 * the model's languages. */
gboolean omni_asr_language_lookup (const char *name_or_code, const char **code,
                                   const char **asr_name);

/* The languages Qwen3-ASR accepts for forcing, comma separated (for errors). */
const char *omni_asr_languages (void);

/* Splits a Qwen3-ASR answer "language <Name><asr_text><text>" at its first
 * <asr_text>: *@language gets the name (NULL when absent or "None"), *@text
 * the transcript, stripped. Without the marker the whole answer is text.
 * Both newly allocated (language may be NULL). */
void omni_asr_output_parse (const char *raw, char **language, char **text);

G_END_DECLS

#endif /* OMNI_TEXT_AUDIO_PROMPT_H */
