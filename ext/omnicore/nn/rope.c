/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <math.h>
#include "omnicore.h"
#include "nn/rope.h"

/* theta^(-2i/dim) as torch computes it: exponent and power in f32. */
static void
rope_default (float *inv_freq, int dim, double theta)
{
  for (int i = 0; i < dim / 2; i++) {
    float e = (float) (2 * i) / (float) dim;
    inv_freq[i] = 1.0f / powf ((float) theta, e);
  }
}

/* YaRN's correction dim: where a frequency does @n_rot turns over @max_pos. */
static double
yarn_correction_dim (double n_rot, int dim, double theta, double max_pos)
{
  return (dim * log (max_pos / (n_rot * 2 * G_PI))) / (2 * log (theta));
}

/* mscale of the YaRN paper: 0.1 ln(s) + 1 for s > 1. */
static double
yarn_mscale (double scale)
{
  return scale <= 1 ? 1.0 : 0.1 * log (scale) + 1.0;
}

/* Blends interpolated (divided by factor) and extrapolated frequencies with a
 * linear ramp between the correction dims of beta_fast and beta_slow
 * (transformers _compute_yarn_parameters). */
static void
rope_yarn (const OmniTextConfig *cfg, float *inv_freq, float *attn_scale)
{
  int dim = cfg->head_dim;
  double factor = cfg->rope_factor;
  double beta_fast = cfg->yarn_beta_fast > 0 ? cfg->yarn_beta_fast : 32;
  double beta_slow = cfg->yarn_beta_slow > 0 ? cfg->yarn_beta_slow : 1;
  double orig = cfg->rope_original_max_pos;

  double low = yarn_correction_dim (beta_fast, dim, cfg->rope_theta, orig);
  double high = yarn_correction_dim (beta_slow, dim, cfg->rope_theta, orig);
  if (cfg->yarn_truncate) {
    low = floor (low);
    high = ceil (high);
  }
  low = MAX (low, 0);
  high = MIN (high, dim - 1);
  if (low == high)
    high += 0.001;
  for (int i = 0; i < dim / 2; i++) {
    float pos_freq = powf ((float) cfg->rope_theta, (float) (2 * i) / (float) dim);
    float extra = 1.0f / pos_freq;
    float inter = 1.0f / ((float) factor * pos_freq);
    float ramp = ((float) i - (float) low) / (float) (high - low);
    ramp = CLAMP (ramp, 0.0f, 1.0f);
    float extra_w = 1.0f - ramp;
    inv_freq[i] = inter * (1.0f - extra_w) + extra * extra_w;
  }
  *attn_scale = cfg->yarn_attention_factor > 0 ? (float) cfg->yarn_attention_factor
                                                : (float) yarn_mscale (factor);
}

gboolean
omni_rope_compute (const OmniTextConfig *cfg, float *inv_freq, float *attn_scale, GError **error)
{
  int dim = cfg->head_dim;

  if (dim <= 0 || dim % 2 || cfg->rope_theta <= 1) {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_FORMAT,
                 "rope: head_dim %d must be even and positive and rope_theta %g > 1", dim,
                 cfg->rope_theta);
    return FALSE;
  }
  *attn_scale = 1.0f;
  switch (cfg->rope_type) {
  case OMNI_ROPE_DEFAULT:
    rope_default (inv_freq, dim, cfg->rope_theta);
    return TRUE;
  case OMNI_ROPE_LINEAR:
    if (cfg->rope_factor <= 0)
      break;
    rope_default (inv_freq, dim, cfg->rope_theta);
    for (int i = 0; i < dim / 2; i++)
      inv_freq[i] /= (float) cfg->rope_factor;
    return TRUE;
  case OMNI_ROPE_YARN:
    if (cfg->rope_factor <= 0 || cfg->rope_original_max_pos <= 0)
      break;
    rope_yarn (cfg, inv_freq, attn_scale);
    return TRUE;
  }
  g_set_error (error, OMNI_ERROR, OMNI_ERROR_FORMAT,
               "rope_scaling: factor %g and original_max_position_embeddings %d must be positive",
               cfg->rope_factor, cfg->rope_original_max_pos);
  return FALSE;
}
