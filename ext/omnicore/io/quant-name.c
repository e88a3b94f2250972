/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The names of the weight formats (OmniQuant), for options and cache files. */
#include <string.h>
#include "omnicore.h"

static const char *const quant_names[] = {
  [OMNI_QUANT_NONE] = "none",
  [OMNI_QUANT_BF16] = "bf16",
  [OMNI_QUANT_INT8] = "int8",
  [OMNI_QUANT_INT4] = "int4",
};

gboolean
omni_quant_parse (const char *name, OmniQuant *out, GError **error)
{
  for (guint i = 0; name != NULL && i < G_N_ELEMENTS (quant_names); i++) {
    if (strcmp (name, quant_names[i]) == 0) {
      *out = (OmniQuant) i;
      return TRUE;
    }
  }
  g_set_error (error, OMNI_ERROR, OMNI_ERROR_INVALID,
               "unknown quant \"%s\"; expected none, bf16, int8 or int4", name ? name : "(null)");
  return FALSE;
}

const char *
omni_quant_name (OmniQuant q)
{
  return (guint) q < G_N_ELEMENTS (quant_names) ? quant_names[q] : "?";
}
