/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Mixture of experts, entirely on the device so a step needs no host round
 * trip and can be captured: route (softmax + top-k + renormalise, fused),
 * dispatch (stable counting sort of the (token, slot) pairs by expert),
 * gather of the pairs' rows, the grouped expert matmuls, SwiGLU, and the
 * combine in slot order (the cpu backend's order).
 *
 * The experts run omni_k_moe_matmul rather than cuBLASLt: each expert's row
 * count is only known on the device, and per-expert cuBLASLt calls would need
 * it on the host (a device -> host copy and a synchronisation per layer,
 * which also rules out graph capture). The grouped kernel reads the counts
 * and a table of expert weight pointers on the device; it widens the weights
 * in registers, so MoE experts compute with f32 activations like the cpu. */
#include "cuda-backend.h"

#define SIG0 0xcbf29ce484222325ull

void
omni_cuda_moe_route (OmniBackend *b, OmniTensor *ids, OmniTensor *weights, const OmniTensor *logits, int k,
                     gboolean norm_topk)
{
  OmniCudaBackend *cu = (OmniCudaBackend *) b;
  int64_t n, n_experts;
  guint64 sig;

  if (!omni_cuda_check_f32 (logits, "moe_route", "logits") ||
      !omni_cuda_check_f32 (weights, "moe_route", "weights"))
    return;
  g_return_if_fail (ids != NULL && ids->data != NULL && ids->dtype == OMNI_DTYPE_I32);
  n = omni_tensor_rows (logits);
  n_experts = logits->shape[logits->n_dims - 1];
  g_return_if_fail (k >= 1 && k <= n_experts && n_experts <= 1024);
  g_return_if_fail (omni_tensor_rows (ids) == n && ids->shape[ids->n_dims - 1] == k);
  g_return_if_fail (omni_tensor_rows (weights) == n && weights->shape[weights->n_dims - 1] == k);
  sig = omni_cuda_sig_tensor (omni_cuda_sig_tensor (omni_cuda_sig_tensor (SIG0, ids), weights), logits);
  sig = omni_cuda_sig (omni_cuda_sig (sig, &k, sizeof k), &norm_topk, sizeof norm_topk);
  if (omni_cuda_op_begin (cu, "moe_route", sig))
    omni_cuda_ok (omni_k_moe_route (ids->data, weights->data, logits->data, (int) n, (int) n_experts, k,
                                    norm_topk, cu->stream), "omni_k_moe_route");
}

static gboolean
check_experts (const OmniTensor *m, int n_experts, int64_t rows, int64_t cols, const char *what)
{
  for (int e = 0; e < n_experts; e++) {
    if (!omni_cuda_float_type (&m[e], "moe_experts", what))
      return FALSE;
    if (m[e].n_dims != 2 || m[e].shape[0] != rows || m[e].shape[1] != cols || m[e].dtype != m[0].dtype) {
      g_critical ("cuda moe_experts: %s of expert %d must be [%" G_GINT64_FORMAT ", %" G_GINT64_FORMAT
                  "] of the same dtype as expert 0", what, e, rows, cols);
      return FALSE;
    }
  }
  return TRUE;
}

/* The device pointers of @n experts' weights, staged as a host argument. */
static const void *const *
pointer_table (OmniCudaBackend *cu, const OmniTensor *m, int n, const void **host)
{
  for (int e = 0; e < n; e++)
    host[e] = m[e].data;
  return omni_cuda_arg (cu, host, n * sizeof *host);
}

/* Scratch layout for @pairs (token, slot) pairs: dispatch arrays, the
 * gathered rows, the gate/up/act rows and the experts' outputs (FALSE when
 * the arena has no room). */
typedef struct {
  int32_t *offsets, *pair_token, *pair_slot;
  float *xs, *g, *u, *d;
} MoeScratch;

static gboolean
moe_scratch (OmniCudaBackend *cu, MoeScratch *s, int n_experts, int64_t pairs, int64_t hidden, int64_t inter)
{
  size_t a = OMNI_CUDA_ALIGN, off = 0, sizes[7] = {
    (size_t) (n_experts + 1) * 4, (size_t) pairs * 4, (size_t) pairs * 4, (size_t) (pairs * hidden) * 4,
    (size_t) (pairs * inter) * 4, (size_t) (pairs * inter) * 4, (size_t) (pairs * hidden) * 4 };
  size_t offs[7];
  uint8_t *base;

  for (int i = 0; i < 7; i++) {
    offs[i] = off;
    off += (sizes[i] + a - 1) / a * a;
  }
  if ((base = omni_cuda_scratch_reserve (cu, &cu->moe, off)) == NULL)
    return FALSE;
  s->offsets = (int32_t *) (base + offs[0]);
  s->pair_token = (int32_t *) (base + offs[1]);
  s->pair_slot = (int32_t *) (base + offs[2]);
  s->xs = (float *) (base + offs[3]);
  s->g = (float *) (base + offs[4]);
  s->u = (float *) (base + offs[5]);
  s->d = (float *) (base + offs[6]);
  return TRUE;
}

void
omni_cuda_moe_experts (OmniBackend *b, OmniTensor *y, const OmniTensor *x, const OmniTensor *ids,
                       const OmniTensor *weights, const OmniTensor *gate, const OmniTensor *up,
                       const OmniTensor *down, int n_experts)
{
  OmniCudaBackend *cu = (OmniCudaBackend *) b;
  int64_t n, hidden, inter, pairs;
  int k;
  MoeScratch s;
  const void **host;
  const void *const *pg, *const *pu, *const *pd;
  OmniKDType wt;
  guint64 sig;
  gboolean run;
  cudaStream_t st = cu->stream;

  if (!omni_cuda_check_f32 (y, "moe_experts", "y") || !omni_cuda_check_f32 (x, "moe_experts", "x") ||
      !omni_cuda_check_f32 (weights, "moe_experts", "weights"))
    return;
  g_return_if_fail (ids != NULL && ids->data != NULL && ids->dtype == OMNI_DTYPE_I32);
  g_return_if_fail (n_experts >= 1 && gate != NULL && up != NULL && down != NULL);
  n = omni_tensor_rows (x);
  hidden = x->shape[x->n_dims - 1];
  k = (int) ids->shape[ids->n_dims - 1];
  g_return_if_fail (omni_tensor_rows (ids) == n && omni_tensor_rows (weights) == n &&
                    weights->shape[weights->n_dims - 1] == k);
  g_return_if_fail (omni_tensor_rows (y) == n && y->shape[y->n_dims - 1] == hidden);
  if (gate[0].n_dims != 2)
    return (void) g_critical ("cuda moe_experts: expert weights must be 2-D");
  inter = gate[0].shape[0];
  if (!check_experts (gate, n_experts, inter, hidden, "gate") || !check_experts (up, n_experts, inter, hidden, "up")
      || !check_experts (down, n_experts, hidden, inter, "down"))
    return;
  if (up[0].dtype != gate[0].dtype || down[0].dtype != gate[0].dtype)
    return (void) g_critical ("cuda moe_experts: gate, up and down must share a dtype");
  pairs = n * k;
  wt = (OmniKDType) gate[0].dtype;
  sig = omni_cuda_sig_tensor (omni_cuda_sig_tensor (omni_cuda_sig_tensor (omni_cuda_sig_tensor (SIG0, y), x), ids),
                              weights);
  sig = omni_cuda_sig (omni_cuda_sig (omni_cuda_sig (sig, &gate, sizeof gate), &up, sizeof up), &down, sizeof down);
  run = omni_cuda_op_begin (cu, "moe_experts", sig);
  host = g_newa (const void *, n_experts);
  pg = pointer_table (cu, gate, n_experts, host);
  pu = pointer_table (cu, up, n_experts, host);
  pd = pointer_table (cu, down, n_experts, host);
  if (!run || n == 0)
    return;
  if (!moe_scratch (cu, &s, n_experts, pairs, hidden, inter) ||
      !omni_cuda_ok (omni_k_moe_dispatch (s.offsets, s.pair_token, s.pair_slot, ids->data, (int) n, k, n_experts, st),
                     "omni_k_moe_dispatch") ||
      !omni_cuda_ok (omni_k_get_rows (s.xs, OMNI_K_F32, x->data, OMNI_K_F32, n, hidden, s.pair_token, (int) pairs, st),
                     "omni_k_get_rows (MoE gather)") ||
      !omni_cuda_ok (omni_k_moe_matmul (s.g, inter, s.xs, hidden, pg, wt, s.offsets, n_experts, (int) pairs, hidden,
                                        inter, st), "omni_k_moe_matmul (gate)") ||
      !omni_cuda_ok (omni_k_moe_matmul (s.u, inter, s.xs, hidden, pu, wt, s.offsets, n_experts, (int) pairs, hidden,
                                        inter, st), "omni_k_moe_matmul (up)") ||
      !omni_cuda_ok (omni_k_swiglu (s.g, s.g, s.u, pairs * inter, st), "omni_k_swiglu (MoE)") ||
      !omni_cuda_ok (omni_k_moe_matmul (s.d, hidden, s.g, inter, pd, wt, s.offsets, n_experts, (int) pairs, inter,
                                        hidden, st), "omni_k_moe_matmul (down)"))
    return;
  omni_cuda_ok (omni_k_moe_combine (y->data, s.d, weights->data, s.pair_slot, (int) n, k, hidden, st),
                "omni_k_moe_combine");
}
