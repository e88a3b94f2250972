/* Options shared by the commands that load a model: --quant and --threads.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "omni-cli.h"

void
omni_cli_add_load_options (GOptionContext *ctx, OmniCliLoadArgs *a)
{
  GOptionEntry entries[] = {
    { "quant", 0, 0, G_OPTION_ARG_STRING, &a->quant_name,
      "Matmul weights as none (as stored, default), bf16, int8 or int4 (cpu only; cached on disk)",
      "Q" },
    { "threads", 0, 0, G_OPTION_ARG_INT, &a->threads,
      "CPU threads (default 0: $OMNI_THREADS, else every core)", "N" },
    { NULL }
  };

  g_option_context_add_main_entries (ctx, entries, NULL);
}

gboolean
omni_cli_load_args_check (OmniCliLoadArgs *a, GError **error)
{
  a->quant = OMNI_QUANT_NONE;
  if (a->threads < 0 || a->threads > 1024) {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_INVALID,
                 "--threads %d: expected 0 (automatic) to 1024", a->threads);
    return FALSE;
  }
  if (a->quant_name && !omni_quant_parse (a->quant_name, &a->quant, error)) {
    g_prefix_error (error, "--quant: ");
    return FALSE;
  }
  return TRUE;
}

void
omni_cli_load_args_clear (OmniCliLoadArgs *a)
{
  g_clear_pointer (&a->quant_name, g_free);
}
