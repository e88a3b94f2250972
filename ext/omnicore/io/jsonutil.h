/* Strict JSON loading shared by the io/ parsers (internal to io/).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef OMNI_IO_JSONUTIL_H
#define OMNI_IO_JSONUTIL_H

#include <json-glib/json-glib.h>
#include "omnicore.h"

/* A parser that remembers the first key repeated inside one JSON object
 * (json-glib keeps only the last value, which would hide the repeat). */
JsonParser *omni_json_parser_new_strict (void);

/* Parses @len bytes of @data (@len -1: NUL-terminated); a syntax error or a
 * repeated key is OMNI_ERROR_FORMAT naming @path. */
gboolean omni_json_parser_load (JsonParser *parser, const char *path, const char *data,
                                gssize len, GError **error);

/* Reads and parses @path; a missing or unreadable file is OMNI_ERROR_IO. */
gboolean omni_json_parser_load_file (JsonParser *parser, const char *path, GError **error);

/* The string member @key of @o, or NULL when absent or not a string. */
const char *omni_json_get_string (JsonObject *o, const char *key);

/* One parse: the file, the key prefix of the object being read (e.g.
 * "text_config.", for messages) and the error slot. */
typedef struct {
  const char *path;
  const char *kp;
  GError **error;
} OmniJsonCtx;

/* Sets @c's error to "path: \"kp key\": message" with @code; returns FALSE
 * so a check can end in `return omni_json_bad (...)`. */
gboolean omni_json_bad (OmniJsonCtx *c, OmniErrorCode code, const char *key, const char *fmt, ...)
  G_GNUC_PRINTF (4, 5);

/* The member @key of @o, or NULL when @o is NULL or @key is absent or JSON
 * null (all mean "use the default"). */
JsonNode *omni_json_member (JsonObject *o, const char *key);

/* The integer @key into @out, @def when absent (an error when @required).
 * Not an integer is OMNI_ERROR_FORMAT. */
gboolean omni_json_get_int64 (OmniJsonCtx *c, JsonObject *o, const char *key, gboolean required,
                              gint64 def, gint64 *out);

/* Like omni_json_get_int64() into an int, and a present value outside
 * [@lo, @hi] is OMNI_ERROR_FORMAT; @def is taken as given. */
gboolean omni_json_get_int (OmniJsonCtx *c, JsonObject *o, const char *key, gboolean required,
                            gint64 def, gint64 lo, gint64 hi, int *out);

/* The finite number (integer or real) @key into @out, @def when absent. */
gboolean omni_json_get_double (OmniJsonCtx *c, JsonObject *o, const char *key, double def,
                               double *out);

/* The boolean @key into @out, @def when absent. */
gboolean omni_json_get_bool (OmniJsonCtx *c, JsonObject *o, const char *key, gboolean def,
                             gboolean *out);

/* The object @key into @out, NULL when absent; another type is an error. */
gboolean omni_json_get_object (OmniJsonCtx *c, JsonObject *o, const char *key, JsonObject **out);

#endif /* OMNI_IO_JSONUTIL_H */
