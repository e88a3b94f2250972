/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <math.h>
#include <string.h>
#include "golden-util.h"

float *
golden_ref_tensor (OmniSafetensors *ref, const char *dir, const char *name, gsize n)
{
  const OmniSafeTensor *t = omni_safetensors_get (ref, name);
  GError *error = NULL;

  if (!t)
    g_error ("%s: golden.safetensors has no tensor \"%s\"", dir, name);
  g_assert_cmpint (t->n_elements, ==, (gint64) n);
  float *out = g_new (float, n);
  g_assert_true (omni_safetensors_to_f32 (ref, t, out, &error));
  g_assert_no_error (error);
  return out;
}

double
golden_rel_err (const float *ours, const float *ref, gsize n)
{
  double err = 0, scale = 0;

  for (gsize i = 0; i < n; i++) {
    err = MAX (err, fabs ((double) ours[i] - ref[i]));
    scale = MAX (scale, fabs ((double) ref[i]));
  }
  return scale > 0 ? err / scale : err;
}

int
golden_argmax (const float *x, int n)
{
  int best = 0;

  for (int i = 1; i < n; i++)
    if (x[i] > x[best])
      best = i;
  return best;
}

gint32 *
golden_json_ids (JsonObject *o, const char *member, gsize *n)
{
  JsonArray *a = json_object_get_array_member (o, member);

  g_assert_nonnull (a);
  *n = json_array_get_length (a);
  gint32 *ids = g_new (gint32, *n + 1);
  for (gsize i = 0; i < *n; i++)
    ids[i] = (gint32) json_array_get_int_element (a, i);
  return ids;
}

const char *
golden_parse_device (int *argc, char **argv)
{
  const char *device = "cpu";

  for (int i = 1; i < *argc; i++) {
    if (g_str_has_prefix (argv[i], "--device=")) {
      device = argv[i] + strlen ("--device=");
      memmove (&argv[i], &argv[i + 1], (*argc - i) * sizeof argv[0]);
      (*argc)--;
      i--;
    }
  }
  return device;
}
