/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The weights of one encoder: its checkpoint, its quantized-weight store and
 * the backend tensors bound from them, released together. */
#ifndef OMNI_NN_WEIGHTS_H
#define OMNI_NN_WEIGHTS_H

#include "backend/backend.h"

typedef struct {
  OmniBackend *backend;
  OmniSafetensors *st;       /* the snapshot's tensors */
  OmniWeightStore *store;    /* matmul weights at the backend's quant; owns the cache map */
  GPtrArray *loaded;         /* OmniTensor * released by omni_weights_clear */
} OmniWeights;

/* Opens the safetensors of @dir for @part ("audio", "vision") on @b; FALSE +
 * GError when they cannot be read. Clear @w afterwards in either case. */
gboolean omni_weights_open (OmniWeights *w, OmniBackend *b, const char *dir, const char *part,
                            GError **error);
/* Binds @name of @shape to @dst; a @matmul operand is stored at the quant. */
gboolean omni_weights_bind (OmniWeights *w, OmniTensor *dst, const char *name, int n_dims,
                            const int64_t *shape, gboolean matmul, GError **error);
/* @prefix@suffix.weight [d0] (a norm) or [d0, d1] (a linear layer, @d1 > 0),
 * and @prefix@suffix.bias [d0] when @bias is not NULL. */
gboolean omni_weights_linear (OmniWeights *w, OmniTensor *weight, OmniTensor *bias,
                              const char *prefix, const char *suffix, int64_t d0, int64_t d1,
                              GError **error);
/* @t (allocated on the backend) is released with the weights. */
void omni_weights_keep (OmniWeights *w, OmniTensor *t);
/* Loading is over: writes the quantized-weight cache when one was made. */
void omni_weights_finish (OmniWeights *w);
/* Releases every tensor bound or kept, the store and the checkpoint. */
void omni_weights_clear (OmniWeights *w);

#endif /* OMNI_NN_WEIGHTS_H */
