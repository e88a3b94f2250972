/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "cpu-test-util.h"

OmniBackend *
cpu_test_backend (OmniCpuIsa isa, int nth)
{
  GError *error = NULL;
  OmniBackend *b = omni_cpu_backend_new (nth, &error);

  g_assert_no_error (error);
  ((OmniCpuBackend *) b)->isa = isa;
  return b;
}

OmniTensor
cpu_test_tensor (OmniBackend *b, OmniDType dt, int n_dims, const int64_t *shape, const float *src)
{
  OmniTensor t;
  GError *error = NULL;

  g_assert_true (b->ops->tensor_alloc (b, &t, dt, n_dims, shape, &error));
  g_assert_no_error (error);
  for (size_t i = 0; src && i < t.n_bytes / omni_dtype_size (dt); i++) {
    if (dt == OMNI_DTYPE_F32)
      ((float *) t.data)[i] = src[i];
    else if (dt == OMNI_DTYPE_BF16)
      ((uint16_t *) t.data)[i] = omni_f32_to_bf16 (src[i]);
    else
      ((uint16_t *) t.data)[i] = omni_f32_to_f16 (src[i]);
  }
  return t;
}
