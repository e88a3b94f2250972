/* omni: the command line of the gst-omni inference core.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <locale.h>
#include <stdio.h>
#include <string.h>
#include "omnicore.h"
#include "omni-cli.h"
#include "cli-bench.h"

typedef struct {
  const char *name;
  int (*run) (int argc, char **argv);
  const char *summary;
} OmniCommand;

static const OmniCommand commands[] = {
  { "generate", omni_cli_generate, "generate text after a prompt (streams to stdout)" },
  { "caption", omni_cli_caption, "describe a WAV file: speech, music, sounds (Qwen3-Omni)" },
  { "transcribe", omni_cli_transcribe, "a WAV file's speech as text (Qwen3-ASR, Qwen3-Omni)" },
  { "describe", omni_cli_describe, "describe pictures or a video clip (Qwen3-VL, Qwen3-Omni)" },
  { "bench", omni_cli_bench, "prefill and decode tokens/s against the machine's limits" },
  { "random-model", omni_cli_random_model, "write a snapshot of a config's shapes, random weights" },
  { "tokenize", omni_cli_tokenize, "JSON array of strings on stdin -> JSON array of id arrays" },
  { "detokenize", omni_cli_detokenize, "JSON array of id arrays on stdin -> JSON array of strings" },
};

static void
usage (FILE *out)
{
  fprintf (out, "Usage: omni COMMAND [OPTIONS]   (omni COMMAND --help for its options)\n\n");
  for (gsize i = 0; i < G_N_ELEMENTS (commands); i++)
    fprintf (out, "  %-12s %s\n", commands[i].name, commands[i].summary);
  fprintf (out, "\n  --version    print the version\n");
}

int
main (int argc, char **argv)
{
  /* GOption converts arguments from the locale's charset to UTF-8 */
  setlocale (LC_ALL, "");
  if (argc < 2) {
    usage (stderr);
    return 2;
  }
  if (strcmp (argv[1], "--version") == 0) {
    printf ("omni %s\n", omni_version ());
    return 0;
  }
  if (strcmp (argv[1], "--help") == 0 || strcmp (argv[1], "help") == 0) {
    usage (stdout);
    return 0;
  }
  for (gsize i = 0; i < G_N_ELEMENTS (commands); i++)
    if (strcmp (argv[1], commands[i].name) == 0)
      return commands[i].run (argc - 1, argv + 1);
  fprintf (stderr, "omni: unknown command '%s'\n\n", argv[1]);
  usage (stderr);
  return 2;
}
