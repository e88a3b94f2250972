/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The cpu matmul over every weight format (F32, F16, BF16, Q8_32, Q4_32) and
 * every kernel ISA this CPU runs (OMNI_CPU_ISA), against double-precision
 * references: on the dequantized weights, and (block weights) on x quantized
 * exactly as the kernels do. Also: 1 and 2 threads give identical bits, a y
 * element does not depend on how many rows are computed with it, the
 * kernel entry K2's MoE uses (gathered rows), and block tensor storage. */
#include <math.h>
#include "backend/backend.h"
#include "backend/cpu/cpu-backend.h"
#include "omnicore.h"

#define U32 (1.0 / 16777216.0)  /* f32 unit roundoff */

static const OmniDType formats[] = { OMNI_DTYPE_F32, OMNI_DTYPE_F16, OMNI_DTYPE_BF16,
                                     OMNI_DTYPE_Q8_32, OMNI_DTYPE_Q4_32 };
static const int64_t ns[] = { 1, 3, 8, 37, 130 };
static const int64_t ins[] = { 8, 13, 24, 64, 77, 1024, 1000 };
static const int64_t outs[] = { 1, 17, 256 };

static GRand *rng;

static OmniBackend *
open_isa (OmniCpuIsa isa, int n_threads)
{
  GError *error = NULL;
  OmniBackend *b;

  g_setenv ("OMNI_CPU_ISA", omni_cpu_isa_name (isa), TRUE);
  b = omni_cpu_backend_new (n_threads, &error);
  g_assert_no_error (error);
  g_assert_cmpint (((OmniCpuBackend *) b)->isa, ==, isa);
  g_unsetenv ("OMNI_CPU_ISA");
  return b;
}

static OmniTensor
alloc (OmniBackend *b, OmniDType dt, int64_t d0, int64_t d1)
{
  int64_t shape[2] = { d0, d1 };
  OmniTensor t;
  GError *error = NULL;

  g_assert_true (b->ops->tensor_alloc (b, &t, dt, d1 ? 2 : 1, shape, &error));
  g_assert_no_error (error);
  return t;
}

/* A weight [out, in] of @dt from @src; @deq gets what the kernels see. */
static OmniTensor
make_weight (OmniBackend *b, OmniDType dt, const float *src, int64_t out, int64_t in, float *deq)
{
  OmniTensor w = alloc (b, dt, out, in);
  size_t rb = omni_row_bytes (dt, in);

  g_assert_cmpuint (w.n_bytes, ==, omni_tensor_bytes_for (dt, out, in));
  for (int64_t c = 0; c < out; c++) {
    guint8 *row = (guint8 *) w.data + c * rb;
    const float *s = src + c * in;

    for (int64_t i = 0; i < in; i++) {
      if (dt == OMNI_DTYPE_F32)
        ((float *) row)[i] = s[i];
      else if (dt == OMNI_DTYPE_F16)
        ((uint16_t *) row)[i] = omni_f32_to_f16 (s[i]);
      else if (dt == OMNI_DTYPE_BF16)
        ((uint16_t *) row)[i] = omni_f32_to_bf16 (s[i]);
    }
    if (omni_dtype_is_block (dt))
      omni_quantize_row (dt, s, row, in);
    omni_dequantize_row (dt, row, deq + c * in, in);
  }
  return w;
}

typedef struct {
  int64_t n, in, out;
  OmniDType dt;
  float *x, *wsrc, *wdeq, *bias;
  double *ref, *bound;      /* on the dequantized weights and exact x */
  double *qref, *qbound;    /* block weights: on x quantized as the kernels do */
} Case;

static void
case_init (Case *k, OmniDType dt, int64_t n, int64_t in, int64_t out, gboolean with_bias)
{
  memset (k, 0, sizeof *k);
  k->dt = dt;
  k->n = n;
  k->in = in;
  k->out = out;
  k->x = g_new (float, n * in);
  k->wsrc = g_new (float, out * in);
  k->wdeq = g_new (float, out * in);
  for (int64_t i = 0; i < n * in; i++)
    k->x[i] = (float) g_rand_double_range (rng, -1, 1) * (i % 11 == 0 ? 4.0f : 1.0f);
  for (int64_t i = 0; i < out * in; i++)
    k->wsrc[i] = (float) g_rand_double_range (rng, -1, 1);
  if (with_bias) {
    k->bias = g_new (float, out);
    for (int64_t c = 0; c < out; c++)
      k->bias[c] = (float) g_rand_double_range (rng, -1, 1);
  }
}

/* The references, once @k's weight has been made (wdeq filled). Float
 * bound: a sum of in/8 + 16 roundings of the terms' magnitude (8 or more
 * lanes, a fold, the bias). Block weights against exact x add what x's
 * quantization moves: half a step of x's block scale times |w| per term. */
static void
case_refs (Case *k)
{
  OmniCpuMatX mx;
  void *scratch = g_malloc (omni_cpu_matx_bytes (k->dt, k->n, k->in) + 1);
  int64_t nb = (k->in + OMNI_QK - 1) / OMNI_QK;
  gboolean block = omni_dtype_is_block (k->dt);

  k->ref = g_new (double, k->n * k->out);
  k->bound = g_new (double, k->n * k->out);
  k->qref = g_new (double, k->n * k->out);
  k->qbound = g_new (double, k->n * k->out);
  omni_cpu_matx_init (&mx, OMNI_CPU_ISA_PORTABLE, k->dt, k->x, k->in, NULL, k->n, k->in, scratch);
  omni_cpu_matx_quantize (&mx, 0, k->n);
  for (int64_t r = 0; r < k->n; r++)
    for (int64_t c = 0; c < k->out; c++) {
      const float *x = k->x + r * k->in, *w = k->wdeq + c * k->in;
      double s = k->bias ? k->bias[c] : 0, mag = k->bias ? fabs (k->bias[c]) : 0, qerr = 0;
      double qs = k->bias ? k->bias[c] : 0, qmag = mag;

      for (int64_t i = 0; i < k->in; i++) {
        s += (double) x[i] * w[i];
        mag += fabs ((double) x[i] * w[i]);
        if (block)
          qerr += fabs (w[i]) * (0.5 * mx.qd[r * mx.nbp + i / OMNI_QK] + 4 * U32 * fabs (x[i]));
      }
      k->ref[r * k->out + c] = s;
      k->bound[r * k->out + c] = (k->in / 8.0 + 16) * U32 * mag + qerr * 1.0001 + 1e-30;
      if (!block)
        continue;
      for (int64_t b = 0; b < nb; b++) {
        double t = 0, tmag = 0;

        /* w[i] = f16 scale * small integer is exact in f32, so this is
         * dx * dw * (integer dot) of the block, exactly; the kernels' lanes
         * hold partial sums, so the bound takes the terms' magnitudes */
        for (int64_t i = b * OMNI_QK; i < MIN (k->in, (b + 1) * OMNI_QK); i++) {
          t += (double) mx.qs[r * mx.nbp * OMNI_QK + i] * w[i];
          tmag += fabs ((double) mx.qs[r * mx.nbp * OMNI_QK + i] * w[i]);
        }
        qs += t * mx.qd[r * mx.nbp + b];
        qmag += tmag * mx.qd[r * mx.nbp + b];
      }
      k->qref[r * k->out + c] = qs;
      k->qbound[r * k->out + c] = (nb + 16) * 2 * U32 * qmag + 1e-30;
    }
  g_free (scratch);
}

static void
case_clear (Case *k)
{
  g_free (k->x);
  g_free (k->wsrc);
  g_free (k->wdeq);
  g_free (k->bias);
  g_free (k->ref);
  g_free (k->bound);
  g_free (k->qref);
  g_free (k->qbound);
}

/* y = x . w^T (+ bias) on @b. */
static float *
run (OmniBackend *b, const Case *k, const OmniTensor *w)
{
  OmniTensor x = alloc (b, OMNI_DTYPE_F32, k->n, k->in), y = alloc (b, OMNI_DTYPE_F32, k->n, k->out);
  OmniTensor bias = { 0 };
  float *res;

  memcpy (x.data, k->x, x.n_bytes);
  memset (y.data, 0xff, y.n_bytes);  /* NaN: every element must be written */
  if (k->bias) {
    bias = alloc (b, OMNI_DTYPE_F32, k->out, 0);
    memcpy (bias.data, k->bias, bias.n_bytes);
  }
  b->ops->matmul (b, &y, &x, w, k->bias ? &bias : NULL);
  res = g_memdup2 (y.data, y.n_bytes);
  b->ops->tensor_free (b, &x);
  b->ops->tensor_free (b, &y);
  if (k->bias)
    b->ops->tensor_free (b, &bias);
  return res;
}

static void
check (const Case *k, const float *y, OmniCpuIsa isa)
{
  for (int64_t i = 0; i < k->n * k->out; i++) {
    double e = fabs (y[i] - k->ref[i]);

    if (!(e <= k->bound[i]))
      g_error ("%s %s n=%" G_GINT64_FORMAT " in=%" G_GINT64_FORMAT " out=%" G_GINT64_FORMAT
               " y[%" G_GINT64_FORMAT "] = %.9g, reference %.9g, error %.3g > bound %.3g",
               omni_dtype_name (k->dt), omni_cpu_isa_name (isa), k->n, k->in, k->out, i, y[i],
               k->ref[i], e, k->bound[i]);
    if (!omni_dtype_is_block (k->dt))
      continue;
    e = fabs (y[i] - k->qref[i]);
    if (!(e <= k->qbound[i]))
      g_error ("%s %s n=%" G_GINT64_FORMAT " in=%" G_GINT64_FORMAT " out=%" G_GINT64_FORMAT
               " y[%" G_GINT64_FORMAT "] = %.9g, quantized-x reference %.9g, error %.3g > bound %.3g",
               omni_dtype_name (k->dt), omni_cpu_isa_name (isa), k->n, k->in, k->out, i, y[i],
               k->qref[i], e, k->qbound[i]);
  }
}

/* Every format x shape x ISA; 1 and 2 threads bitwise equal. */
static void
test_matmul_formats (gconstpointer data)
{
  OmniCpuIsa isa = GPOINTER_TO_INT (data);
  OmniBackend *b1, *b2;
  int cases = 0;

  if (!omni_cpu_isa_supported (isa)) {
    g_test_skip ("this CPU cannot run the ISA");
    return;
  }
  b1 = open_isa (isa, 1);
  b2 = open_isa (isa, 2);
  for (guint f = 0; f < G_N_ELEMENTS (formats); f++)
    for (guint a = 0; a < G_N_ELEMENTS (ns); a++)
      for (guint i = 0; i < G_N_ELEMENTS (ins); i++)
        for (guint o = 0; o < G_N_ELEMENTS (outs); o++) {
          Case k;
          OmniTensor w;
          float *y1, *y2;

          /* the largest products of the list are covered by a few samples */
          if (ns[a] * ins[i] * outs[o] > 8000000 && (a + i + o) % 2)
            continue;
          case_init (&k, formats[f], ns[a], ins[i], outs[o], outs[o] == 17);
          w = make_weight (b1, k.dt, k.wsrc, k.out, k.in, k.wdeq);
          case_refs (&k);
          y1 = run (b1, &k, &w);
          y2 = run (b2, &k, &w);
          check (&k, y1, isa);
          g_assert_cmpmem (y1, k.n * k.out * sizeof (float), y2, k.n * k.out * sizeof (float));
          g_free (y1);
          g_free (y2);
          b1->ops->tensor_free (b1, &w);
          case_clear (&k);
          cases++;
        }
  g_test_message ("%s: %d cases", omni_cpu_isa_name (isa), cases);
  omni_backend_close (b1);
  omni_backend_close (b2);
}

/* A y element is the same whether its row is computed alone (decode) or
 * inside 4-row tiles (prefill, batched decode), at every column range. */
static void
test_matmul_rows_independent (void)
{
  for (int isa = 0; isa < OMNI_CPU_ISA_COUNT; isa++) {
    OmniBackend *b;

    if (!omni_cpu_isa_supported (isa))
      continue;
    b = open_isa (isa, 2);
    for (guint f = 0; f < G_N_ELEMENTS (formats); f++) {
      Case k, one;
      OmniTensor w;
      float *y, *yr;

      case_init (&k, formats[f], 9, 1000, 67, FALSE);
      w = make_weight (b, k.dt, k.wsrc, k.out, k.in, k.wdeq);
      y = run (b, &k, &w);
      for (int64_t r = 0; r < k.n; r++) {
        one = k;
        one.n = 1;
        one.x = k.x + r * k.in;
        one.bias = NULL;
        yr = run (b, &one, &w);
        g_assert_cmpmem (yr, k.out * sizeof (float), y + r * k.out, k.out * sizeof (float));
        g_free (yr);
      }
      g_free (y);
      b->ops->tensor_free (b, &w);
      case_clear (&k);
    }
    omni_backend_close (b);
  }
}

/* omni_cpu_matmul_kernel on gathered rows (as cpu-moe.c calls it) and a
 * column sub-range equals the matmul of the gathered x. */
static void
test_matmul_kernel_rows (void)
{
  static const int32_t rows[5] = { 6, 0, 3, 3, 9 };

  for (int isa = 0; isa < OMNI_CPU_ISA_COUNT; isa++) {
    OmniBackend *b;

    if (!omni_cpu_isa_supported (isa))
      continue;
    b = open_isa (isa, 1);
    for (guint f = 0; f < G_N_ELEMENTS (formats); f++) {
      Case k, g;
      OmniTensor w;
      OmniCpuMatX mx;
      float *yg, y[5 * 40], *buf = g_new (float, 72);
      void *scratch;

      case_init (&k, formats[f], 10, 72, 40, FALSE);
      w = make_weight (b, k.dt, k.wsrc, k.out, k.in, k.wdeq);
      g = k;
      g.n = 5;
      g.x = g_new (float, 5 * k.in);
      for (int r = 0; r < 5; r++)
        memcpy (g.x + r * k.in, k.x + rows[r] * k.in, k.in * sizeof (float));
      yg = run (b, &g, &w);
      scratch = g_malloc (omni_cpu_matx_bytes (k.dt, 5, k.in) + 1);
      omni_cpu_matx_init (&mx, isa, k.dt, k.x, k.in, rows, 5, k.in, scratch);
      omni_cpu_matx_quantize (&mx, 0, 5);
      memset (y, 0, sizeof y);
      omni_cpu_matmul_kernel (y, 40, &mx, &w, NULL, 5, 23, buf);
      for (int r = 0; r < 5; r++)
        for (int c = 0; c < 40; c++)
          g_assert_cmpfloat (y[r * 40 + c], ==, c >= 5 && c < 23 ? yg[r * 40 + c] : 0.0f);
      g_free (scratch);
      g_free (buf);
      g_free (yg);
      g_free (g.x);
      b->ops->tensor_free (b, &w);
      case_clear (&k);
    }
    omni_backend_close (b);
  }
}

/* Every ISA's activation quantizer writes the portable one's bits. */
static void
test_matmul_quantize_x (void)
{
  int64_t n = 5, in = 1000;
  float *x = g_new (float, n * in);
  size_t bytes = omni_cpu_matx_bytes (OMNI_DTYPE_Q8_32, n, in);
  void *ref = g_malloc (bytes), *got = g_malloc (bytes);
  OmniCpuMatX a, c;

  for (int64_t i = 0; i < n * in; i++)
    x[i] = (float) g_rand_double_range (rng, -3, 3);
  for (int64_t i = 32; i < 64; i++)
    x[i] = 0.0f;            /* a zero block of row 0 */
  x[100] = 1e-30f;          /* a tiny block scale */
  memset (ref, 0x55, bytes);
  omni_cpu_matx_init (&a, OMNI_CPU_ISA_PORTABLE, OMNI_DTYPE_Q4_32, x, in, NULL, n, in, ref);
  omni_cpu_matx_quantize (&a, 0, n);
  g_assert_cmpfloat (a.qd[1], ==, 0.0f);
  g_assert_cmpint (a.nbp, ==, 32);
  for (int j = 8; j < OMNI_QK; j++)  /* the last block's pad (1000 = 31 * 32 + 8) is zero */
    g_assert_cmpint (a.qs[(a.nbp - 1) * OMNI_QK + j], ==, 0);
  for (int isa = 1; isa < OMNI_CPU_ISA_COUNT; isa++) {
    if (!omni_cpu_isa_supported (isa))
      continue;
    memset (got, 0xaa, bytes);
    omni_cpu_matx_init (&c, isa, OMNI_DTYPE_Q4_32, x, in, NULL, n, in, got);
    omni_cpu_matx_quantize (&c, 0, n);
    g_assert_cmpmem (got, bytes, ref, bytes);
  }
  g_free (x);
  g_free (ref);
  g_free (got);
}

/* Block tensors: storage of whole block rows. */
static void
test_matmul_block_tensors (void)
{
  OmniBackend *b = open_isa (OMNI_CPU_ISA_PORTABLE, 1);
  int64_t shape[3] = { 2, 3, 40 };
  OmniTensor t;
  GError *error = NULL;

  g_assert_true (b->ops->tensor_alloc (b, &t, OMNI_DTYPE_Q4_32, 3, shape, &error));
  g_assert_cmpuint (t.n_bytes, ==, 2 * 3 * 2 * 18);
  b->ops->tensor_free (b, &t);
  g_assert_true (b->ops->tensor_alloc (b, &t, OMNI_DTYPE_Q8_32, 2, shape + 1, &error));
  g_assert_cmpuint (t.n_bytes, ==, 3 * 2 * 34);
  g_assert_true (omni_cpu_check_matmul_weight (&t, "matmul", "w"));
  b->ops->tensor_free (b, &t);
  omni_backend_close (b);
}

/* A block weight whose byte count does not match its shape: a critical and
 * no write. */
static void
test_matmul_block_bad (void)
{
  if (g_test_subprocess ()) {
    OmniBackend *b = open_isa (OMNI_CPU_ISA_PORTABLE, 1);
    OmniTensor t = alloc (b, OMNI_DTYPE_Q8_32, 3, 40);
    OmniTensor x = alloc (b, OMNI_DTYPE_F32, 1, 40), y = alloc (b, OMNI_DTYPE_F32, 1, 3);

    t.n_bytes--;
    b->ops->matmul (b, &y, &x, &t, NULL);
    return;
  }
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_failed ();
  g_test_trap_assert_stderr ("*cpu matmul: w must be a 2-D or 3-D Q8_32 tensor of whole block rows*");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  rng = g_rand_new_with_seed (1010);
  g_test_add_data_func ("/cpu-matmul/formats/portable", GINT_TO_POINTER (OMNI_CPU_ISA_PORTABLE),
                        test_matmul_formats);
  g_test_add_data_func ("/cpu-matmul/formats/avx2", GINT_TO_POINTER (OMNI_CPU_ISA_AVX2),
                        test_matmul_formats);
  g_test_add_data_func ("/cpu-matmul/formats/avx512", GINT_TO_POINTER (OMNI_CPU_ISA_AVX512),
                        test_matmul_formats);
  g_test_add_func ("/cpu-matmul/rows-independent", test_matmul_rows_independent);
  g_test_add_func ("/cpu-matmul/kernel-rows", test_matmul_kernel_rows);
  g_test_add_func ("/cpu-matmul/quantize-x", test_matmul_quantize_x);
  g_test_add_func ("/cpu-matmul/block-tensors", test_matmul_block_tensors);
  g_test_add_func ("/cpu-matmul/block-bad", test_matmul_block_bad);
  return g_test_run ();
}
