/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <gmodule.h>
#include "cuda-test-util.h"
#include "omnicore.h"

OmniBackend *
ct_open (const char *device)
{
  GError *error = NULL;
  OmniBackend *b = omni_backend_open (device, &error);

  g_assert_no_error (error);
  g_assert_nonnull (b);
  return b;
}

OmniTensor
ct_tensor (OmniBackend *b, OmniDType dt, int n_dims, const int64_t *shape, const void *host)
{
  GError *error = NULL;
  OmniTensor t;

  g_assert_true (b->ops->tensor_alloc (b, &t, dt, n_dims, shape, &error));
  g_assert_no_error (error);
  if (host != NULL)
    b->ops->upload (b, &t, host, t.n_bytes);
  return t;
}

void *
ct_download (OmniBackend *b, const OmniTensor *t)
{
  void *h = g_malloc (t->n_bytes);

  b->ops->download (b, t, h, t->n_bytes);
  return h;
}

float *
ct_random (GRand *rng, int64_t n)
{
  float *x = g_new (float, n);

  for (int64_t i = 0; i < n; i++)
    x[i] = (float) g_rand_double_range (rng, -1.0, 1.0);
  return x;
}

void *
ct_to_dtype (float *src, int64_t n, OmniDType dt)
{
  uint16_t *h;

  if (dt == OMNI_DTYPE_F32)
    return g_memdup2 (src, n * sizeof (float));
  h = g_new (uint16_t, n);
  for (int64_t i = 0; i < n; i++) {
    h[i] = dt == OMNI_DTYPE_BF16 ? omni_f32_to_bf16 (src[i]) : omni_f32_to_f16 (src[i]);
    src[i] = dt == OMNI_DTYPE_BF16 ? omni_bf16_to_f32 (h[i]) : omni_f16_to_f32 (h[i]);
  }
  return h;
}

void
ct_stats (OmniBackend *b, OmniCudaStats *stats)
{
  g_autofree char *path = g_build_filename (g_getenv ("OMNI_BACKEND_DIR"), "libomnicore-cuda-emu.so", NULL);
  GModule *m = g_module_open (path, G_MODULE_BIND_LAZY | G_MODULE_BIND_LOCAL);
  gpointer sym = NULL;

  g_assert_nonnull (m);
  g_assert_true (g_module_symbol (m, "omni_backend_module_stats", &sym));
  ((OmniCudaModuleStats) sym) (b, stats);
  g_module_close (m);
}
