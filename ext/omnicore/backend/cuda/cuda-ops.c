/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The element-wise, norm, row and layout ops: one omni_k_* launch each. Host index arrays
 * are staged with omni_cuda_arg; checks match the cpu backend's (a bad index
 * is a g_critical and the op writes nothing). */
#include "cuda-backend.h"

#define SIG0 0xcbf29ce484222325ull

static gboolean
check_ids (const int32_t *ids, int n, int64_t n_rows, const char *op)
{
  for (int i = 0; i < n; i++) {
    if (ids[i] < 0 || ids[i] >= n_rows) {
      g_critical ("cuda %s: index %d is %d, outside [0, %" G_GINT64_FORMAT ")", op, i, ids[i], n_rows);
      return FALSE;
    }
  }
  return TRUE;
}

void
omni_cuda_embed (OmniBackend *b, OmniTensor *out, const OmniTensor *table, const int32_t *ids, int n)
{
  OmniCudaBackend *cu = (OmniCudaBackend *) b;
  const int32_t *d_ids;
  gboolean run;

  if (!omni_cuda_check_f32 (out, "embed", "out") || !omni_cuda_float_type (table, "embed", "table"))
    return;
  g_return_if_fail (table->n_dims == 2 && n >= 0);
  g_return_if_fail (omni_tensor_rows (out) == n && out->shape[out->n_dims - 1] == table->shape[1]);
  if (!check_ids (ids, n, table->shape[0], "embed") || n == 0)
    return;
  run = omni_cuda_op_begin (cu, "embed", omni_cuda_sig_tensor (omni_cuda_sig_tensor (SIG0, out), table));
  d_ids = omni_cuda_arg (cu, ids, n * sizeof *ids);
  if (run)
    omni_cuda_ok (omni_k_embed (out->data, table->data, (OmniKDType) table->dtype, table->shape[0],
                                table->shape[1], d_ids, n, cu->stream), "omni_k_embed");
}

void
omni_cuda_get_rows (OmniBackend *b, OmniTensor *dst, const OmniTensor *src, const int32_t *rows, int n)
{
  OmniCudaBackend *cu = (OmniCudaBackend *) b;
  const int32_t *d_rows;
  int64_t width;
  gboolean run;

  g_return_if_fail (dst != NULL && src != NULL && dst->data != NULL && src->data != NULL && n >= 0);
  width = src->shape[src->n_dims - 1];
  g_return_if_fail (omni_tensor_rows (dst) == n && dst->shape[dst->n_dims - 1] == width);
  g_return_if_fail (dst->data != src->data);
  if (dst->dtype != src->dtype &&
      (!omni_cuda_check_f32 (dst, "get_rows", "dst (when src is not f32)") ||
       !omni_cuda_float_type (src, "get_rows", "src")))
    return;
  if (dst->dtype == src->dtype && !omni_cuda_float_type (src, "get_rows", "src"))
    return;
  if (!check_ids (rows, n, omni_tensor_rows (src), "get_rows") || n == 0)
    return;
  run = omni_cuda_op_begin (cu, "get_rows", omni_cuda_sig_tensor (omni_cuda_sig_tensor (SIG0, dst), src));
  d_rows = omni_cuda_arg (cu, rows, n * sizeof *rows);
  if (run)
    omni_cuda_ok (omni_k_get_rows (dst->data, (OmniKDType) dst->dtype, src->data, (OmniKDType) src->dtype,
                                   omni_tensor_rows (src), width, d_rows, n, cu->stream), "omni_k_get_rows");
}

void
omni_cuda_rmsnorm (OmniBackend *b, OmniTensor *y, const OmniTensor *x, const OmniTensor *w, float eps)
{
  OmniCudaBackend *cu = (OmniCudaBackend *) b;
  int64_t d;
  guint64 sig;

  if (!omni_cuda_check_f32 (y, "rmsnorm", "y") || !omni_cuda_check_f32 (x, "rmsnorm", "x") ||
      !omni_cuda_float_type (w, "rmsnorm", "w"))
    return;
  d = x->shape[x->n_dims - 1];
  g_return_if_fail (w->n_dims == 1 && w->shape[0] == d);
  g_return_if_fail (omni_tensor_rows (y) == omni_tensor_rows (x) && y->shape[y->n_dims - 1] == d);
  sig = omni_cuda_sig (omni_cuda_sig_tensor (omni_cuda_sig_tensor (omni_cuda_sig_tensor (SIG0, y), x), w),
                       &eps, sizeof eps);
  if (omni_cuda_op_begin (cu, "rmsnorm", sig))
    omni_cuda_ok (omni_k_rmsnorm (y->data, x->data, w->data, (OmniKDType) w->dtype, omni_tensor_rows (x), d,
                                  eps, cu->stream), "omni_k_rmsnorm");
}

/* The rope's fields one by one (the struct has padding). */
static guint64
sig_rope (guint64 h, const OmniRope *rope)
{
  h = omni_cuda_sig (h, &rope->rot_dim, sizeof rope->rot_dim);
  h = omni_cuda_sig (h, &rope->inv_freq, sizeof rope->inv_freq);
  h = omni_cuda_sig (h, &rope->attn_scale, sizeof rope->attn_scale);
  h = omni_cuda_sig (h, rope->mrope_section, sizeof rope->mrope_section);
  return omni_cuda_sig (h, &rope->mrope_interleaved, sizeof rope->mrope_interleaved);
}

void
omni_cuda_rope (OmniBackend *b, OmniTensor *x, const int32_t *pos, const OmniRope *rope)
{
  OmniCudaBackend *cu = (OmniCudaBackend *) b;
  const int32_t *d_pos;
  const float *d_freq;
  const int *sec;
  int64_t n, heads, d, n_pos;
  gboolean run, mrope;

  if (!omni_cuda_check_f32 (x, "rope", "x"))
    return;
  g_return_if_fail (x->n_dims == 3 && pos != NULL && rope != NULL && rope->inv_freq != NULL);
  n = x->shape[0];
  heads = x->shape[1];
  d = x->shape[2];
  g_return_if_fail (rope->rot_dim > 0 && rope->rot_dim % 2 == 0 && rope->rot_dim <= d);
  sec = rope->mrope_section;
  mrope = sec[0] != 0 || sec[1] != 0 || sec[2] != 0;
  /* M-RoPE positions are [3][n] (t, h, w) */
  n_pos = mrope ? 3 * n : n;
  for (int64_t i = 0; i < n_pos; i++)
    g_return_if_fail (pos[i] >= 0);
  run = omni_cuda_op_begin (cu, "rope", sig_rope (omni_cuda_sig_tensor (SIG0, x), rope));
  d_pos = omni_cuda_arg (cu, pos, n_pos * sizeof *pos);
  /* the table is host memory owned by nn/: staged like any argument (equal
   * tables are copied once per synchronisation) */
  d_freq = omni_cuda_arg (cu, rope->inv_freq, (rope->rot_dim / 2) * sizeof (float));
  if (!run)
    return;
  if (mrope)
    omni_cuda_ok (omni_k_mrope (x->data, d_pos, d_freq, (int) n, (int) heads, (int) d, rope->rot_dim,
                                rope->attn_scale, sec, rope->mrope_interleaved, cu->stream), "omni_k_mrope");
  else
    omni_cuda_ok (omni_k_rope (x->data, d_pos, d_freq, (int) n, (int) heads, (int) d, rope->rot_dim,
                               rope->attn_scale, cu->stream), "omni_k_rope");
}

void
omni_cuda_swiglu (OmniBackend *b, OmniTensor *y, const OmniTensor *gate, const OmniTensor *up)
{
  OmniCudaBackend *cu = (OmniCudaBackend *) b;
  int64_t n;

  if (!omni_cuda_check_f32 (y, "swiglu", "y") || !omni_cuda_check_f32 (gate, "swiglu", "gate") ||
      !omni_cuda_check_f32 (up, "swiglu", "up"))
    return;
  n = omni_tensor_rows (gate) * gate->shape[gate->n_dims - 1];
  g_return_if_fail (omni_tensor_rows (up) * up->shape[up->n_dims - 1] == n &&
                    omni_tensor_rows (y) * y->shape[y->n_dims - 1] == n);
  if (omni_cuda_op_begin (cu, "swiglu", omni_cuda_sig_tensor (omni_cuda_sig_tensor (
                            omni_cuda_sig_tensor (SIG0, y), gate), up)))
    omni_cuda_ok (omni_k_swiglu (y->data, gate->data, up->data, n, cu->stream), "omni_k_swiglu");
}

void
omni_cuda_add (OmniBackend *b, OmniTensor *y, const OmniTensor *a, const OmniTensor *c)
{
  OmniCudaBackend *cu = (OmniCudaBackend *) b;
  int64_t n;

  if (!omni_cuda_check_f32 (y, "add", "y") || !omni_cuda_check_f32 (a, "add", "a") ||
      !omni_cuda_check_f32 (c, "add", "c"))
    return;
  n = omni_tensor_rows (a) * a->shape[a->n_dims - 1];
  g_return_if_fail (omni_tensor_rows (c) * c->shape[c->n_dims - 1] == n &&
                    omni_tensor_rows (y) * y->shape[y->n_dims - 1] == n);
  if (omni_cuda_op_begin (cu, "add", omni_cuda_sig_tensor (omni_cuda_sig_tensor (
                            omni_cuda_sig_tensor (SIG0, y), a), c)))
    omni_cuda_ok (omni_k_add (y->data, a->data, c->data, n, cu->stream), "omni_k_add");
}

void
omni_cuda_layernorm (OmniBackend *b, OmniTensor *y, const OmniTensor *x, const OmniTensor *w,
                     const OmniTensor *bias, float eps)
{
  OmniCudaBackend *cu = (OmniCudaBackend *) b;
  int64_t d;
  guint64 sig;

  if (!omni_cuda_check_f32 (y, "layernorm", "y") || !omni_cuda_check_f32 (x, "layernorm", "x") ||
      !omni_cuda_float_type (w, "layernorm", "w") || !omni_cuda_float_type (bias, "layernorm", "bias"))
    return;
  d = x->shape[x->n_dims - 1];
  g_return_if_fail (w->n_dims == 1 && w->shape[0] == d && bias->n_dims == 1 && bias->shape[0] == d);
  g_return_if_fail (omni_tensor_rows (y) == omni_tensor_rows (x) && y->shape[y->n_dims - 1] == d);
  sig = omni_cuda_sig_tensor (omni_cuda_sig_tensor (omni_cuda_sig_tensor (SIG0, y), x), w);
  sig = omni_cuda_sig (omni_cuda_sig_tensor (sig, bias), &eps, sizeof eps);
  if (omni_cuda_op_begin (cu, "layernorm", sig))
    omni_cuda_ok (omni_k_layernorm (y->data, x->data, w->data, (OmniKDType) w->dtype, bias->data,
                                    (OmniKDType) bias->dtype, omni_tensor_rows (x), d, eps, cu->stream),
                  "omni_k_layernorm");
}

void
omni_cuda_gelu (OmniBackend *b, OmniTensor *y, const OmniTensor *x, gboolean tanh_approx)
{
  OmniCudaBackend *cu = (OmniCudaBackend *) b;
  int64_t n;
  guint64 sig;

  if (!omni_cuda_check_f32 (y, "gelu", "y") || !omni_cuda_check_f32 (x, "gelu", "x"))
    return;
  n = omni_tensor_rows (x) * x->shape[x->n_dims - 1];
  g_return_if_fail (omni_tensor_rows (y) * y->shape[y->n_dims - 1] == n);
  sig = omni_cuda_sig (omni_cuda_sig_tensor (omni_cuda_sig_tensor (SIG0, y), x), &tanh_approx,
                       sizeof tanh_approx);
  if (omni_cuda_op_begin (cu, "gelu", sig))
    omni_cuda_ok (omni_k_gelu (y->data, x->data, n, tanh_approx ? 1 : 0, cu->stream), "omni_k_gelu");
}

void
omni_cuda_set_rows (OmniBackend *b, OmniTensor *dst, const OmniTensor *src, const int32_t *rows, int n)
{
  OmniCudaBackend *cu = (OmniCudaBackend *) b;
  const int32_t *d_rows;
  int64_t width;
  gboolean run;

  g_return_if_fail (dst != NULL && src != NULL && dst->data != NULL && src->data != NULL && n >= 0);
  width = src->shape[src->n_dims - 1];
  g_return_if_fail (omni_tensor_rows (src) == n && dst->shape[dst->n_dims - 1] == width);
  g_return_if_fail (dst->dtype == src->dtype && dst->data != src->data);
  if (!omni_cuda_float_type (src, "set_rows", "src"))
    return;
  if (!check_ids (rows, n, omni_tensor_rows (dst), "set_rows") || n == 0)
    return;
  run = omni_cuda_op_begin (cu, "set_rows", omni_cuda_sig_tensor (omni_cuda_sig_tensor (SIG0, dst), src));
  d_rows = omni_cuda_arg (cu, rows, n * sizeof *rows);
  if (run)
    omni_cuda_ok (omni_k_set_rows (dst->data, src->data, (OmniKDType) src->dtype, omni_tensor_rows (dst), width,
                                   d_rows, n, cu->stream), "omni_k_set_rows");
}

void
omni_cuda_permute (OmniBackend *b, OmniTensor *y, const OmniTensor *x, const int *perm)
{
  OmniCudaBackend *cu = (OmniCudaBackend *) b;
  gboolean seen[4] = { FALSE };

  if (!omni_cuda_check_f32 (y, "permute", "y") || !omni_cuda_check_f32 (x, "permute", "x"))
    return;
  if (perm == NULL || x->n_dims < 2 || x->n_dims > 4 || y->n_dims != x->n_dims) {
    g_critical ("cuda permute: x and y must have the same 2 to 4 dims (x %d, y %d)", x->n_dims, y->n_dims);
    return;
  }
  for (int i = 0; i < x->n_dims; i++) {
    if (perm[i] < 0 || perm[i] >= x->n_dims || seen[perm[i]] || y->shape[i] != x->shape[perm[i]]) {
      g_critical ("cuda permute: perm[%d] = %d is not a free dim of x matching y's dim %d", i, perm[i], i);
      return;
    }
    seen[perm[i]] = TRUE;
  }
  g_return_if_fail (y->data != x->data);
  /* the permutation is baked into the launch (kernel arguments), so it is
   * part of the signature */
  if (omni_cuda_op_begin (cu, "permute", omni_cuda_sig (omni_cuda_sig_tensor (omni_cuda_sig_tensor (SIG0, y), x),
                                                        perm, x->n_dims * sizeof *perm)))
    omni_cuda_ok (omni_k_permute (y->data, x->data, x->n_dims, x->shape, perm, cu->stream), "omni_k_permute");
}
