/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Helpers shared by the text/ tests: the real tokenizer and the fixtures. */
#ifndef OMNI_TESTS_TEXT_FIXTURE_H
#define OMNI_TESTS_TEXT_FIXTURE_H

#include <json-glib/json-glib.h>

#include "text/tokenizer.h"

/* Path of a file of the real Qwen3 tokenizer (tests/golden/tokenizer); newly allocated. */
char *text_fixture_tokenizer_file (const char *name);

/* Parses tests/text/@name (found through OMNI_TEST_SRCDIR); aborts the test
 * on failure. Returns the parser, which owns *@root. */
JsonParser *text_fixture_load_json (const char *name, JsonObject **root);

/* Loads the real Qwen3 tokenizer (tokenizer.json only); aborts on failure.
 * *@seconds (nullable) gets the load time. */
OmniTokenizer *text_fixture_load_tokenizer (double *seconds);

/* The int ids of a JSON array as a GArray of gint32. */
GArray *text_fixture_ids (JsonArray *a);

/* Member @key of @o as bytes: from "<key>_hex" when present (strings with
 * NUL), else the string. Newly allocated; *@len gets the length. */
char *text_fixture_bytes (JsonObject *o, const char *key, gsize *len);

/* Writes @contents to a new file in a fresh temp dir; newly allocated path. */
char *text_fixture_write_temp (const char *name, const char *contents,
    gssize len);

/* Removes a file made by text_fixture_write_temp and its temp dir. */
void text_fixture_remove_temp (const char *path);

#endif /* OMNI_TESTS_TEXT_FIXTURE_H */
