/* gst-omni inference core: public API.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The core knows nothing about GStreamer. It loads Hugging Face snapshots of
 * the Qwen models and turns requests into tokens. Log messages go to GLib's
 * structured logging under the domain "omnicore".
 */
#ifndef OMNICORE_H
#define OMNICORE_H

#include <glib.h>

G_BEGIN_DECLS

#define OMNI_ERROR (omni_error_quark ())

/* Codes of the OMNI_ERROR domain. */
typedef enum {
  OMNI_ERROR_IO,          /* a file could not be opened, read or mapped */
  OMNI_ERROR_FORMAT,      /* a file or value is malformed */
  OMNI_ERROR_UNSUPPORTED, /* well formed, but a model or feature we do not run */
  OMNI_ERROR_NO_MEMORY,   /* an allocation (host or device) failed */
  OMNI_ERROR_DEVICE,      /* a compute device failed or is absent */
  OMNI_ERROR_CANCELLED,   /* the request was cancelled */
  OMNI_ERROR_INVALID,     /* an argument or option is out of range */
} OmniErrorCode;

/* The error domain of every GError the core returns. */
GQuark omni_error_quark (void);

/* The core's version string, e.g. "0.1.0". */
const char *omni_version (void);

G_END_DECLS

#endif /* OMNICORE_H */
