/* The subcommands of `omni`; each takes argv starting at its own name and
 * returns the process exit status.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef OMNI_CLI_H
#define OMNI_CLI_H

#include <glib.h>
#include "omnicore.h"

/* omni generate: prompt in, streamed text out. */
int omni_cli_generate (int argc, char **argv);
/* omni tokenize --json: strings to ids. */
int omni_cli_tokenize (int argc, char **argv);
/* omni detokenize --json: ids to strings. */
int omni_cli_detokenize (int argc, char **argv);

/* omni caption: a WAV file described (Qwen3-Omni Captioner). */
int omni_cli_caption (int argc, char **argv);
/* omni transcribe: a WAV file's speech as text (Qwen3-ASR, Qwen3-Omni). */
int omni_cli_transcribe (int argc, char **argv);

/* omni describe: pictures or a video clip described (Qwen3-VL, Qwen3-Omni). */
int omni_cli_describe (int argc, char **argv);

/* --quant and --threads of the commands that load a model. */
typedef struct {
  char *quant_name;   /* as given, NULL = none */
  int threads;        /* 0 = automatic */
  OmniQuant quant;    /* set by omni_cli_load_args_check() */
} OmniCliLoadArgs;

/* Adds --quant Q and --threads N to @ctx's main options, stored in @a. */
void omni_cli_add_load_options (GOptionContext *ctx, OmniCliLoadArgs *a);
/* After parsing: checks the values and fills @a->quant; a bad value is a
 * GError naming the option and the accepted values. */
gboolean omni_cli_load_args_check (OmniCliLoadArgs *a, GError **error);
/* Frees what parsing stored in @a. */
void omni_cli_load_args_clear (OmniCliLoadArgs *a);

/* Prints "omni: <message>" for @error to stderr, frees it and returns 1. */
int omni_cli_fail (GError *error);

#endif /* OMNI_CLI_H */
