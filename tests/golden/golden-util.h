/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What the golden tests share: reading the fixtures and comparing with them. */
#ifndef TESTS_GOLDEN_UTIL_H
#define TESTS_GOLDEN_UTIL_H

#include <json-glib/json-glib.h>
#include "io/safetensors.h"
#include "nn/qwen3.h"

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

/* One multimodal golden case: the fixture's names and what to compare. */
typedef struct {
  OmniModel *model;
  OmniSafetensors *ref;
  const char *dir, *label;        /* for messages */
  const char *first_name;         /* tensor of the first logits [vocab] */
  const char *steps_name;         /* tensor of the step logits [32, n_subset] */
  const gint32 *subset;
  gsize n_subset;
  const gint32 *greedy;           /* 32 ids */
  double tol;
} GoldenRun;

/* Prefills @prompt with @patch applied (and M-RoPE positions @rope_pos
 * [3][n_prompt], decode at position + @rope_delta, when not NULL), then
 * decodes 32 greedy steps, failing the test unless the first logits, every
 * step's subset logits and every id match @r within r->tol. */
void golden_run_patched (const GoldenRun *r, const gint32 *prompt, gsize n_prompt,
                         const OmniEmbedPatch *patch, const int32_t *rope_pos, int rope_delta);

#endif
