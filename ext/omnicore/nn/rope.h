/* Rotary embedding tables of the Qwen decoders (default, linear, YaRN).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef OMNI_NN_ROPE_H
#define OMNI_NN_ROPE_H

#include <glib.h>
#include "io/config.h"
#include "backend/backend.h"

/* Fills @inv_freq (cfg->head_dim / 2 floats) and returns the factor that
 * multiplies cos and sin (YaRN attention factor; 1 otherwise), computed the
 * way transformers' rope init functions do, in f32 where they use f32. */
gboolean omni_rope_compute (const OmniTextConfig *cfg, float *inv_freq, float *attn_scale,
                            GError **error);

#endif /* OMNI_NN_ROPE_H */
