/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "text/vision-prompt.h"

static void
append_run (GString *s, const char *pad, int n)
{
  g_string_append (s, "<|vision_start|>");
  for (int i = 0; i < n; i++)
    g_string_append (s, pad);
  g_string_append (s, "<|vision_end|>");
}

char *
omni_vision_prompt_build (const int *n_tokens, int n_items, const double *timestamps,
                          const char *prompt)
{
  GString *s = g_string_new ("<|im_start|>user\n");

  for (int i = 0; i < n_items; i++) {
    if (timestamps) {
      char t[G_ASCII_DTOSTR_BUF_SIZE];
      /* Python's "{:.1f}" and C's "%.1f" both round the binary value half
       * to even; g_ascii_formatd keeps the '.' whatever the locale */
      g_string_append_printf (s, "<%s seconds>", g_ascii_formatd (t, sizeof t, "%.1f",
                                                                  timestamps[i]));
      append_run (s, "<|video_pad|>", n_tokens[i]);
    } else {
      append_run (s, "<|image_pad|>", n_tokens[i]);
    }
  }
  g_string_append (s, prompt);
  g_string_append (s, "<|im_end|>\n<|im_start|>assistant\n");
  return g_string_free (s, FALSE);
}
