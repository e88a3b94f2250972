/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "nn/weights.h"

gboolean
omni_weights_open (OmniWeights *w, OmniBackend *b, const char *dir, const char *part,
                   GError **error)
{
  w->backend = b;
  w->loaded = g_ptr_array_new ();
  w->st = omni_safetensors_open_dir (dir, error);
  if (!w->st)
    return FALSE;
  w->store = omni_weight_store_new (b, dir, part);
  return TRUE;
}

gboolean
omni_weights_bind (OmniWeights *w, OmniTensor *dst, const char *name, int n_dims,
                   const int64_t *shape, gboolean matmul, GError **error)
{
  const OmniSafeTensor *src = omni_safetensors_require (w->st, name, n_dims, shape, error);

  if (!src)
    return FALSE;
  if (!omni_weight_store_load (w->store, w->st, src, matmul, dst, error)) {
    g_prefix_error (error, "%s (%s): ", name, src->file);
    return FALSE;
  }
  g_ptr_array_add (w->loaded, dst);
  return TRUE;
}

gboolean
omni_weights_linear (OmniWeights *w, OmniTensor *weight, OmniTensor *bias, const char *prefix,
                     const char *suffix, int64_t d0, int64_t d1, GError **error)
{
  g_autofree char *wn = g_strconcat (prefix, suffix, ".weight", NULL);
  g_autofree char *bn = g_strconcat (prefix, suffix, ".bias", NULL);
  int64_t shape[2] = { d0, d1 };

  return omni_weights_bind (w, weight, wn, d1 ? 2 : 1, shape, d1 != 0, error)
      && (!bias || omni_weights_bind (w, bias, bn, 1, shape, FALSE, error));
}

void
omni_weights_keep (OmniWeights *w, OmniTensor *t)
{
  g_ptr_array_add (w->loaded, t);
}

void
omni_weights_finish (OmniWeights *w)
{
  omni_weight_store_finish (w->store);
}

void
omni_weights_clear (OmniWeights *w)
{
  for (guint i = 0; w->loaded && i < w->loaded->len; i++)
    w->backend->ops->tensor_free (w->backend, g_ptr_array_index (w->loaded, i));
  if (w->loaded)
    g_ptr_array_free (w->loaded, TRUE);
  g_clear_pointer (&w->store, omni_weight_store_free);
  g_clear_pointer (&w->st, omni_safetensors_free);
  w->loaded = NULL;
}
