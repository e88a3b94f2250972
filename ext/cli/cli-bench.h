/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* omni bench and omni random-model, and the random snapshots they share. */
#ifndef OMNI_CLI_BENCH_H
#define OMNI_CLI_BENCH_H

#include <glib.h>
#include "dtype.h"

/* How a random tensor is filled. */
typedef enum {
  OMNI_CLI_INIT_NORMAL,  /* normal-ish, std 0.02 (linear layers, embeddings) */
  OMNI_CLI_INIT_ONES,    /* norm weights */
  OMNI_CLI_INIT_ZEROS,   /* biases */
} OmniCliInit;

/* One tensor of a random snapshot (up to 5 dims). */
typedef struct {
  char *name;
  int n_dims;
  int64_t shape[5];
  OmniCliInit init;
} OmniCliTensor;

/* omni random-model: writes a random snapshot of a config's shapes. */
int omni_cli_random_model (int argc, char **argv);
/* omni bench: prefill and decode tokens/s, llama-bench style. */
int omni_cli_bench (int argc, char **argv);

/* Every tensor the loaders bind for the config.json at @config (decoder,
 * audio tower, vision tower), an array of OmniCliTensor (free with
 * g_array_unref); @has_audio / @has_vision say which towers it has. */
GArray *omni_cli_snapshot_tensors (const char *config, gboolean *has_audio, gboolean *has_vision,
                                   GError **error);
/* Streams @tensors (OmniCliTensor) with deterministic pseudo-random values of
 * @seed to the safetensors file @path as @dtype (F32 or BF16). */
gboolean omni_cli_write_safetensors (const char *path, const GArray *tensors, OmniDType dtype,
                                     guint64 seed, GError **error);
/* Writes the snapshot directory @out for @config: config.json, the tokenizer
 * files of @tokenizer (NULL: $OMNI_SHARED_DIR/data/qwen3-tokenizer),
 * preprocessor_config.json for audio or vision models and model.safetensors. */
gboolean omni_cli_random_snapshot (const char *config, const char *out, const char *tokenizer,
                                   OmniDType dtype, guint64 seed, GError **error);
/* "bf16" (also for NULL) or "f32" -> @dtype; else a GError naming @option. */
gboolean omni_cli_parse_weight_dtype (const char *option, const char *s, OmniDType *dtype,
                                      GError **error);

#endif /* OMNI_CLI_BENCH_H */
