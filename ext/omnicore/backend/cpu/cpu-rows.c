/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Row gathers and scatters: embedding lookup, get_rows and set_rows.
 * Gathered rows are converted to f32 on the way (exact for F16/BF16;
 * Q8_32 / Q4_32 rows are dequantized by omni_dequantize_row), so tables
 * stay in their stored type. */
#include "cpu-backend.h"

static gboolean
check_ids (const int32_t *ids, int n, int64_t n_rows, const char *op)
{
  for (int i = 0; i < n; i++) {
    if (ids[i] < 0 || ids[i] >= n_rows) {
      g_critical ("cpu %s: index %d is %d, outside [0, %" G_GINT64_FORMAT ")", op, i, ids[i], n_rows);
      return FALSE;
    }
  }
  return TRUE;
}

static void
gather_rows_f32 (float *out, const OmniTensor *src, const int32_t *ids, int n)
{
  int64_t width = src->shape[src->n_dims - 1];
  size_t row_bytes = omni_row_bytes (src->dtype, width);

  for (int i = 0; i < n; i++) {
    const uint8_t *row = (const uint8_t *) src->data + ids[i] * row_bytes;
    float *dst = out + (int64_t) i * width;

    if (src->dtype == OMNI_DTYPE_F32)
      memcpy (dst, row, width * sizeof (float));
    else
      omni_dequantize_row (src->dtype, row, dst, width);
  }
}

void
omni_cpu_embed (OmniBackend *b, OmniTensor *out, const OmniTensor *table, const int32_t *ids, int n)
{
  if (!omni_cpu_check_f32 (out, "embed", "out") || !omni_cpu_check_matmul_weight (table, "embed", "table"))
    return;
  g_return_if_fail (table->n_dims == 2 && n >= 0);
  g_return_if_fail (omni_tensor_rows (out) == n && out->shape[out->n_dims - 1] == table->shape[1]);
  if (!check_ids (ids, n, table->shape[0], "embed"))
    return;
  gather_rows_f32 (out->data, table, ids, n);
}

void
omni_cpu_get_rows (OmniBackend *b, OmniTensor *dst, const OmniTensor *src, const int32_t *rows, int n)
{
  int64_t width;

  g_return_if_fail (dst != NULL && src != NULL && dst->data != NULL && src->data != NULL && n >= 0);
  width = src->shape[src->n_dims - 1];
  g_return_if_fail (omni_tensor_rows (dst) == n && dst->shape[dst->n_dims - 1] == width);
  g_return_if_fail (dst->data != src->data);
  if (!check_ids (rows, n, omni_tensor_rows (src), "get_rows"))
    return;

  if (dst->dtype == src->dtype) {
    size_t row_bytes = omni_row_bytes (src->dtype, width);

    for (int i = 0; i < n; i++)
      memcpy ((uint8_t *) dst->data + i * row_bytes, (const uint8_t *) src->data + rows[i] * row_bytes,
              row_bytes);
    return;
  }
  if (!omni_cpu_check_f32 (dst, "get_rows", "dst (when src is not f32)") ||
      !omni_cpu_check_matmul_weight (src, "get_rows", "src"))
    return;
  gather_rows_f32 (dst->data, src, rows, n);
}

/* The scatter twin of get_rows; rows are distinct, so the order of the
 * copies does not matter. */
void
omni_cpu_set_rows (OmniBackend *b, OmniTensor *dst, const OmniTensor *src, const int32_t *rows, int n)
{
  int64_t width;
  size_t row_bytes;

  g_return_if_fail (dst != NULL && src != NULL && dst->data != NULL && src->data != NULL && n >= 0);
  width = src->shape[src->n_dims - 1];
  g_return_if_fail (omni_tensor_rows (src) == n && dst->shape[dst->n_dims - 1] == width);
  g_return_if_fail (dst->dtype == src->dtype && dst->data != src->data);
  if (!check_ids (rows, n, omni_tensor_rows (dst), "set_rows"))
    return;

  row_bytes = omni_row_bytes (src->dtype, width);
  for (int i = 0; i < n; i++)
    memcpy ((uint8_t *) dst->data + rows[i] * row_bytes, (const uint8_t *) src->data + i * row_bytes,
            row_bytes);
}
