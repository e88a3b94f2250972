/* Strict JSON loading shared by the io/ parsers (internal to io/).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef OMNI_IO_JSONUTIL_H
#define OMNI_IO_JSONUTIL_H

#include <json-glib/json-glib.h>

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

#endif /* OMNI_IO_JSONUTIL_H */
