/* A Hugging Face snapshot directory: its files, parsed configs and weights.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef OMNI_MODELDIR_H
#define OMNI_MODELDIR_H

#include <glib.h>
#include "io/config.h"
#include "io/safetensors.h"

typedef struct {
  char *dir;
  char *config_path;             /* config.json */
  char *tokenizer_path;          /* tokenizer.json */
  char *tokenizer_config_path;   /* tokenizer_config.json, NULL when absent */
  char *generation_config_path;  /* generation_config.json, NULL when absent */
  OmniTextConfig config;
  OmniGenerationConfig generation; /* defaults when the file is absent */
  OmniSafetensors *weights;      /* FP8 block size already set from config */
} OmniModelDir;

/* Checks that @dir holds a snapshot (config.json, tokenizer.json and
 * model.safetensors or an index with its shards), parses the configs and maps
 * the weights. config.prefix is corrected to where embed_tokens really is. */
OmniModelDir *omni_model_dir_open (const char *dir, GError **error);

void omni_model_dir_free (OmniModelDir *md);

#endif /* OMNI_MODELDIR_H */
