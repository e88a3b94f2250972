/* Tiny random Qwen3 / Qwen3-MoE checkpoints written from C, and a naive
 * double-precision reference forward pass over them (test helper).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef OMNI_TEST_TINY_MODEL_H
#define OMNI_TEST_TINY_MODEL_H

#include <glib.h>
#include <stdint.h>

typedef struct {
  int vocab, hidden, inter, layers, heads, kv_heads, head_dim;
  int experts, topk, moe_inter, sparse_step;  /* experts 0 = dense model */
  gboolean norm_topk, tie;
  int mlp_only[8], n_mlp_only;
  double theta, eps;
} TinySpec;

typedef struct {
  char *name;
  int n_dims;
  int64_t shape[2];
  float *data;
} TinyTensor;

typedef struct {
  TinySpec s;
  GPtrArray *tensors;   /* TinyTensor *, in file order */
  gboolean is_moe[64];
} TinyModel;

/* Random weights (fixed @seed) for every tensor @spec implies. */
TinyModel *tiny_model_new (const TinySpec *spec, guint32 seed);
void tiny_model_free (TinyModel *m);
/* The tensor called @name (full checkpoint name), or NULL. */
TinyTensor *tiny_model_get (TinyModel *m, const char *name);
/* Writes config.json and model.safetensors to @dir. The tensor @skip (may be
 * NULL) is left out; the tensor @bad_shape (may be NULL) is written with its
 * first dimension one larger. */
void tiny_model_write (TinyModel *m, const char *dir, const char *skip, const char *bad_shape);
/* logits[n, vocab] of a full causal pass over @tokens at positions 0..n-1. */
void tiny_model_reference (TinyModel *m, const int32_t *tokens, int n, double *logits);

#endif /* OMNI_TEST_TINY_MODEL_H */
