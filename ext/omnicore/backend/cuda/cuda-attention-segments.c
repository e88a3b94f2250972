/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Bidirectional attention within segments (the encoders): the host
 * cu_seqlens are checked as on the cpu and staged like the batch arrays, so
 * a captured step replays with new segment boundaries of the same count. */
#include "cuda-backend.h"

#define SIG0 0xcbf29ce484222325ull

/* TRUE when @cu is 0 = cu[0] < cu[1] < ... < cu[n_segs] = n. */
static gboolean
check_cu_seqlens (const int32_t *cu, int n_segs, int64_t n)
{
  if (cu == NULL || n_segs < 1 || cu[0] != 0 || cu[n_segs] != n) {
    g_critical ("cuda attention_segments: cu_seqlens must run from 0 to the %" G_GINT64_FORMAT
                " tokens over %d segments", n, n_segs);
    return FALSE;
  }
  for (int s = 0; s < n_segs; s++) {
    if (cu[s + 1] <= cu[s]) {
      g_critical ("cuda attention_segments: cu_seqlens[%d] = %d does not exceed cu_seqlens[%d] = %d",
                  s + 1, cu[s + 1], s, cu[s]);
      return FALSE;
    }
  }
  return TRUE;
}

void
omni_cuda_attention_segments (OmniBackend *b, OmniTensor *out, const OmniTensor *q, const OmniTensor *k,
                              const OmniTensor *v, const int32_t *cu_seqlens, int n_segs, float scale)
{
  OmniCudaBackend *cu = (OmniCudaBackend *) b;
  const int32_t *d_cu;
  int64_t n, heads, d;
  guint64 sig;
  gboolean run;

  if (!omni_cuda_check_f32 (out, "attention_segments", "out") ||
      !omni_cuda_check_f32 (q, "attention_segments", "q") ||
      !omni_cuda_check_f32 (k, "attention_segments", "k") ||
      !omni_cuda_check_f32 (v, "attention_segments", "v"))
    return;
  g_return_if_fail (q->n_dims == 3 && k->n_dims == 3 && v->n_dims == 3);
  for (int i = 0; i < 3; i++)
    g_return_if_fail (k->shape[i] == q->shape[i] && v->shape[i] == q->shape[i]);
  n = q->shape[0];
  heads = q->shape[1];
  d = q->shape[2];
  g_return_if_fail (out->shape[0] == n && omni_tensor_rows (out) * out->shape[out->n_dims - 1] == n * heads * d);
  g_return_if_fail (out->data != q->data && out->data != k->data && out->data != v->data);
  if (d > OMNI_K_SEG_MAX_HEAD_DIM || n > G_MAXINT32) {
    g_critical ("cuda attention_segments: head_dim %" G_GINT64_FORMAT " exceeds %d", d, OMNI_K_SEG_MAX_HEAD_DIM);
    return;
  }
  if (!check_cu_seqlens (cu_seqlens, n_segs, n))
    return;

  sig = omni_cuda_sig_tensor (omni_cuda_sig_tensor (omni_cuda_sig_tensor (SIG0, out), q), k);
  sig = omni_cuda_sig (omni_cuda_sig (omni_cuda_sig_tensor (sig, v), &n_segs, sizeof n_segs), &scale, sizeof scale);
  run = omni_cuda_op_begin (cu, "attention_segments", sig);
  d_cu = omni_cuda_arg (cu, cu_seqlens, (size_t) (n_segs + 1) * sizeof *cu_seqlens);
  if (run)
    omni_cuda_ok (omni_k_attention_segments (out->data, q->data, k->data, v->data, d_cu, n_segs, (int) n,
                                             (int) heads, (int) d, scale, cu->stream),
                  "omni_k_attention_segments");
}
