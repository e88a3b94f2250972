/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "omnicore.h"

G_DEFINE_QUARK (omni-error-quark, omni_error)

const char *
omni_version (void)
{
  return OMNI_VERSION;
}
