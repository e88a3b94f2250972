/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What the golden tests share: reading the fixtures and comparing with them. */
#ifndef TESTS_GOLDEN_UTIL_H
#define TESTS_GOLDEN_UTIL_H

#include <json-glib/json-glib.h>
#include "io/safetensors.h"

/* The tensor @name of @ref (a fixture of @dir) as f32, checked to hold @n
 * values; fails the test when absent. Free with g_free(). */
float *golden_ref_tensor (OmniSafetensors *ref, const char *dir, const char *name, gsize n);
/* max |ours - ref| / max |ref| over @n values (the tolerance's meaning). */
double golden_rel_err (const float *ours, const float *ref, gsize n);
/* The index of the largest of @n values (greedy decoding). */
int golden_argmax (const float *x, int n);
/* The integer array @member of @o as token ids (g_free), its length in *@n. */
gint32 *golden_json_ids (JsonObject *o, const char *member, gsize *n);
/* Takes --device=D out of the arguments; returns D, "cpu" without one. */
const char *golden_parse_device (int *argc, char **argv);

#endif
