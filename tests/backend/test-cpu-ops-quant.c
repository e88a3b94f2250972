/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* cpu ops over stored tables and weights that are not f32: embed and
 * get_rows of Q8_32 / Q4_32 / BF16 / F16 tables give exactly the rows
 * omni_dequantize_row gives, and moe_experts over Q8_32 / Q4_32 experts
 * matches a double-precision reference on the dequantized weights within
 * the error of quantizing the activations to int8. Every ISA the CPU runs,
 * 1 or 2 threads. */
#include <math.h>
#include "backend/backend.h"
#include "cpu-test-util.h"
#include "omnicore.h"
#include "quant.h"

/* moe_experts with block weights: max |got - ref| over max |ref|. The
 * activations (x, then the SwiGLU output) are quantized to int8 blocks of
 * 32 (at most 0.4 % of a block's largest element each). */
#define MOE_TOL 0.03
/* the same op on two ISAs: they may round differently (fma, lanes) */
#define ISA_TOL 1e-5

static GRand *rng;
static const OmniDType table_types[] = { OMNI_DTYPE_Q8_32, OMNI_DTYPE_Q4_32, OMNI_DTYPE_BF16, OMNI_DTYPE_F16 };

static float
rnd (void)
{
  return (float) g_rand_double_range (rng, -1.0, 1.0);
}

/* A [rows, n] tensor of @dt holding @src (quantized or rounded). */
static OmniTensor
table (OmniBackend *b, OmniDType dt, int64_t rows, int64_t n, const float *src)
{
  int64_t shape[2] = { rows, n };
  size_t rb = omni_row_bytes (dt, n);
  OmniTensor t;
  GError *error = NULL;

  g_assert_true (b->ops->tensor_alloc (b, &t, dt, 2, shape, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (t.n_bytes, ==, rb * rows);
  for (int64_t r = 0; r < rows; r++) {
    uint8_t *dst = (uint8_t *) t.data + r * rb;

    if (omni_dtype_is_block (dt))
      omni_quantize_row (dt, src + r * n, dst, n);
    else
      for (int64_t i = 0; i < n; i++)
        ((uint16_t *) dst)[i] = dt == OMNI_DTYPE_BF16 ? omni_f32_to_bf16 (src[r * n + i])
                                                       : omni_f32_to_f16 (src[r * n + i]);
  }
  return t;
}

static OmniTensor
f32 (OmniBackend *b, int64_t rows, int64_t n)
{
  int64_t shape[2] = { rows, n };
  OmniTensor t;

  g_assert_true (b->ops->tensor_alloc (b, &t, OMNI_DTYPE_F32, 2, shape, NULL));
  return t;
}

static void
check_rows (OmniDType dt, int64_t rows, int64_t n)
{
  OmniBackend *b = cpu_test_backend (OMNI_CPU_ISA_PORTABLE, 1);
  float *src = g_new (float, rows * n), *row = g_new (float, n);
  int32_t ids[9] = { 0, (int32_t) rows - 1, 3, 3, 7, 1, (int32_t) rows - 1, 5, 2 };
  OmniTensor t, out, same;
  int64_t shape[2] = { 9, n };
  size_t rb = omni_row_bytes (dt, n);

  for (int64_t i = 0; i < rows * n; i++)
    src[i] = rnd () * (1 + i % 5);
  t = table (b, dt, rows, n, src);
  out = f32 (b, 9, n);
  for (int op = 0; op < 2; op++) {
    memset (out.data, 0xff, out.n_bytes);
    if (op == 0)
      b->ops->embed (b, &out, &t, ids, 9);
    else
      b->ops->get_rows (b, &out, &t, ids, 9);
    for (int i = 0; i < 9; i++) {
      omni_dequantize_row (dt, (const uint8_t *) t.data + ids[i] * rb, row, n);
      if (memcmp ((float *) out.data + i * n, row, n * sizeof (float)) != 0)
        g_error ("%s of a %s table (%" G_GINT64_FORMAT " wide): row %d is not the dequantized row %d",
                 op ? "get_rows" : "embed", omni_dtype_name (dt), n, i, ids[i]);
      /* and close to what was quantized (4-bit: a sixteenth of the block range) */
      for (int64_t j = 0; j < n; j++)
        g_assert_cmpfloat (fabsf (row[j] - src[ids[i] * n + j]), <=, 0.7f);
    }
  }
  /* get_rows into the same dtype copies the stored rows */
  g_assert_true (b->ops->tensor_alloc (b, &same, dt, 2, shape, NULL));
  b->ops->get_rows (b, &same, &t, ids, 9);
  for (int i = 0; i < 9; i++)
    g_assert_cmpmem ((uint8_t *) same.data + i * rb, rb, (uint8_t *) t.data + ids[i] * rb, rb);
  b->ops->tensor_free (b, &t);
  b->ops->tensor_free (b, &out);
  b->ops->tensor_free (b, &same);
  omni_backend_close (b);
  g_free (src);
  g_free (row);
}

static void
test_rows (void)
{
  const int64_t widths[] = { 8, 24, 32, 70, 96 };

  for (guint d = 0; d < G_N_ELEMENTS (table_types); d++)
    for (guint w = 0; w < G_N_ELEMENTS (widths); w++)
      check_rows (table_types[d], 11, widths[w]);
}

/* ---- MoE over block experts ---- */

#define E 5
#define K 2

typedef struct {
  int64_t n, hidden, inter;
  float *x, *w;            /* [n, H], [n, K] */
  int32_t *ids;            /* [n, K] */
  float *gate, *up, *down; /* E x [I, H], E x [I, H], E x [H, I] as f32 before quantizing */
} Moe;

static float *
moe_run (OmniBackend *b, const Moe *m, OmniDType dt, float **deq)
{
  OmniTensor g[E], u[E], d[E], x = f32 (b, m->n, m->hidden), y = f32 (b, m->n, m->hidden);
  OmniTensor w = f32 (b, m->n, K), ids;
  int64_t ishape[2] = { m->n, K };
  int64_t gi = m->inter * m->hidden;
  float *res;

  g_assert_true (b->ops->tensor_alloc (b, &ids, OMNI_DTYPE_I32, 2, ishape, NULL));
  memcpy (x.data, m->x, x.n_bytes);
  memcpy (w.data, m->w, w.n_bytes);
  memcpy (ids.data, m->ids, ids.n_bytes);
  for (int e = 0; e < E; e++) {
    g[e] = table (b, dt, m->inter, m->hidden, m->gate + e * gi);
    u[e] = table (b, dt, m->inter, m->hidden, m->up + e * gi);
    d[e] = table (b, dt, m->hidden, m->inter, m->down + e * gi);
    if (deq) {  /* what the weights became, for the reference */
      for (int64_t r = 0; r < m->inter; r++) {
        omni_dequantize_row (dt, (uint8_t *) g[e].data + r * omni_row_bytes (dt, m->hidden),
                             deq[0] + e * gi + r * m->hidden, m->hidden);
        omni_dequantize_row (dt, (uint8_t *) u[e].data + r * omni_row_bytes (dt, m->hidden),
                             deq[1] + e * gi + r * m->hidden, m->hidden);
      }
      for (int64_t r = 0; r < m->hidden; r++)
        omni_dequantize_row (dt, (uint8_t *) d[e].data + r * omni_row_bytes (dt, m->inter),
                             deq[2] + e * gi + r * m->inter, m->inter);
    }
  }
  b->ops->moe_experts (b, &y, &x, &ids, &w, g, u, d, E);
  res = g_memdup2 (y.data, y.n_bytes);
  for (int e = 0; e < E; e++) {
    b->ops->tensor_free (b, &g[e]);
    b->ops->tensor_free (b, &u[e]);
    b->ops->tensor_free (b, &d[e]);
  }
  b->ops->tensor_free (b, &x);
  b->ops->tensor_free (b, &y);
  b->ops->tensor_free (b, &w);
  b->ops->tensor_free (b, &ids);
  return res;
}

static void
moe_reference (const Moe *m, float **deq, double *ref)
{
  int64_t H = m->hidden, I = m->inter, gi = I * H;
  double *act = g_new (double, I);

  for (int64_t t = 0; t < m->n; t++) {
    for (int64_t h = 0; h < H; h++)
      ref[t * H + h] = 0;
    for (int j = 0; j < K; j++) {
      int e = m->ids[t * K + j];

      for (int64_t i = 0; i < I; i++) {
        double g = 0, u = 0;
        for (int64_t h = 0; h < H; h++) {
          g += (double) m->x[t * H + h] * deq[0][e * gi + i * H + h];
          u += (double) m->x[t * H + h] * deq[1][e * gi + i * H + h];
        }
        act[i] = g / (1 + exp (-g)) * u;
      }
      for (int64_t h = 0; h < H; h++) {
        double s = 0;
        for (int64_t i = 0; i < I; i++)
          s += act[i] * deq[2][e * gi + h * I + i];
        ref[t * H + h] += m->w[t * K + j] * s;
      }
    }
  }
  g_free (act);
}

static void
check_moe (OmniDType dt, int64_t n, int64_t hidden, int64_t inter)
{
  Moe m = { .n = n, .hidden = hidden, .inter = inter };
  int64_t gi = inter * hidden;
  float *deq[3], *first = NULL;
  double *ref = g_new (double, n * hidden), max_ref = 0;

  m.x = g_new (float, n * hidden);
  m.w = g_new (float, n * K);
  m.ids = g_new (int32_t, n * K);
  m.gate = g_new (float, E * gi);
  m.up = g_new (float, E * gi);
  m.down = g_new (float, E * gi);
  for (int i = 0; i < 3; i++)
    deq[i] = g_new (float, E * gi);
  for (int64_t i = 0; i < n * hidden; i++)
    m.x[i] = rnd ();
  for (int64_t i = 0; i < E * gi; i++) {
    m.gate[i] = rnd () * 0.3f;
    m.up[i] = rnd () * 0.3f;
    m.down[i] = rnd () * 0.3f;
  }
  for (int64_t t = 0; t < n; t++) {
    float a = (float) g_rand_double (rng);

    m.ids[t * K] = g_rand_int_range (rng, 0, E);
    m.ids[t * K + 1] = (m.ids[t * K] + g_rand_int_range (rng, 1, E)) % E;
    m.w[t * K] = a;
    m.w[t * K + 1] = 1 - a;
  }
  for (int isa = 0; isa < OMNI_CPU_ISA_COUNT; isa++) {
    if (!omni_cpu_isa_supported (isa))
      continue;
    float *one = NULL;

    for (int nth = 1; nth <= 2; nth++) {
      OmniBackend *b = cpu_test_backend (isa, nth);
      float *got = moe_run (b, &m, dt, first ? NULL : deq);

      omni_backend_close (b);
      if (first == NULL) {
        double err = 0;

        moe_reference (&m, deq, ref);
        for (int64_t i = 0; i < n * hidden; i++) {
          max_ref = MAX (max_ref, fabs (ref[i]));
          err = MAX (err, fabs (got[i] - ref[i]));
        }
        g_test_message ("moe_experts %s: max error %.3g of max %.3g", omni_dtype_name (dt), err, max_ref);
        if (!(err <= MOE_TOL * max_ref))
          g_error ("moe_experts over %s experts: max error %.3g, more than %.2g of max |ref| %.3g",
                   omni_dtype_name (dt), err, MOE_TOL, max_ref);
        first = got;
        one = got;
        continue;
      }
      if (nth == 1) {
        for (int64_t i = 0; i < n * hidden; i++)
          if (!(fabsf (got[i] - first[i]) <= ISA_TOL * max_ref))
            g_error ("moe_experts over %s experts: %s differs from portable at %" G_GINT64_FORMAT,
                     omni_dtype_name (dt), omni_cpu_isa_name (isa), i);
        one = got;
      } else {
        if (memcmp (one, got, n * hidden * sizeof (float)) != 0)
          g_error ("moe_experts over %s experts, %s: 1 and 2 threads differ", omni_dtype_name (dt),
                   omni_cpu_isa_name (isa));
        if (one != first)
          g_free (one);
        g_free (got);
      }
    }
  }
  g_free (first);
  for (int i = 0; i < 3; i++)
    g_free (deq[i]);
  g_free (ref);
  g_free (m.x);
  g_free (m.w);
  g_free (m.ids);
  g_free (m.gate);
  g_free (m.up);
  g_free (m.down);
}

static void
test_moe (void)
{
  check_moe (OMNI_DTYPE_Q8_32, 11, 72, 40);
  check_moe (OMNI_DTYPE_Q4_32, 11, 72, 40);
  check_moe (OMNI_DTYPE_Q8_32, 300, 64, 96);   /* more tokens than one pass takes */
  check_moe (OMNI_DTYPE_Q4_32, 1, 16, 24);     /* one token, rows shorter than a block */
}

int
main (int argc, char **argv)
{
  int ret;

  g_test_init (&argc, &argv, NULL);
  rng = g_rand_new_with_seed (112510);
  g_test_add_func ("/backend/cpu-ops/rows-quantized", test_rows);
  g_test_add_func ("/backend/cpu-ops/moe-block-experts", test_moe);
  ret = g_test_run ();
  g_rand_free (rng);
  return ret;
}
