/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <math.h>
#include "ktest.h"
#include "dtype.h"

static GPtrArray *allocations;
static OmniBackend *cpu;

void
kt_check (cudaError_t e, const char *what, const char *file, int line)
{
  if (e != cudaSuccess)
    g_error ("%s:%d: %s: %s", file, line, what, cudaGetErrorString (e));
}

void *
kt_dev (const void *host, size_t n)
{
  void *d = NULL;

  KT_CHECK (cudaMalloc (&d, n ? n : 1), "cudaMalloc");
  if (host)
    KT_CHECK (cudaMemcpy (d, host, n, cudaMemcpyHostToDevice), "upload");
  else
    KT_CHECK (cudaMemset (d, 0, n ? n : 1), "memset");
  if (!allocations)
    allocations = g_ptr_array_new ();
  g_ptr_array_add (allocations, d);
  return d;
}

void *
kt_host (const void *dev, size_t n)
{
  void *h = g_malloc (n ? n : 1);

  KT_CHECK (cudaDeviceSynchronize (), "synchronize");
  KT_CHECK (cudaMemcpy (h, dev, n, cudaMemcpyDeviceToHost), "download");
  return h;
}

void
kt_free_all (void)
{
  for (guint i = 0; allocations && i < allocations->len; i++)
    KT_CHECK (cudaFree (g_ptr_array_index (allocations, i)), "cudaFree");
  if (allocations)
    g_ptr_array_set_size (allocations, 0);
}

float *
kt_rand (GRand *rng, size_t n, float lo, float hi)
{
  float *x = g_new (float, n ? n : 1);

  for (size_t i = 0; i < n; i++)
    x[i] = (float) g_rand_double_range (rng, lo, hi);
  return x;
}

void *
kt_pack (const float *f32, size_t n, OmniKDType type)
{
  if (type == OMNI_K_F32)
    return g_memdup2 (f32, n * sizeof (float));
  uint16_t *h = g_new (uint16_t, n ? n : 1);
  for (size_t i = 0; i < n; i++)
    h[i] = type == OMNI_K_BF16 ? omni_f32_to_bf16 (f32[i]) : omni_f32_to_f16 (f32[i]);
  return h;
}

void
kt_assert_close (const float *got, const float *want, size_t n, float atol, float rtol, const char *what)
{
  for (size_t i = 0; i < n; i++) {
    float err = fabsf (got[i] - want[i]);
    if (!(err <= atol + rtol * fabsf (want[i])))
      g_error ("%s: element %zu is %.9g, expected %.9g (|diff| %.3g)", what, i, got[i], want[i], err);
  }
}

OmniBackend *
kt_cpu (void)
{
  if (!cpu) {
    GError *error = NULL;
    g_setenv ("OMNI_NUM_THREADS", "2", FALSE);
    cpu = omni_backend_open ("cpu", &error);
    g_assert_no_error (error);
  }
  return cpu;
}

OmniTensor
kt_tensor (void *data, OmniDType dtype, int n_dims, int64_t d0, int64_t d1, int64_t d2)
{
  OmniTensor t = { 0 };
  int64_t dims[3] = { d0, d1, d2 };

  t.dtype = dtype;
  t.n_dims = n_dims;
  t.data = data;
  t.n_bytes = omni_dtype_size (dtype);
  for (int i = 0; i < n_dims; i++) {
    t.shape[i] = dims[i];
    t.n_bytes *= dims[i];
  }
  return t;
}
