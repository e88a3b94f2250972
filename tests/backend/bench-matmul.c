/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Micro-benchmark of the cpu matmul, run by hand (not a test):
 *   bench-matmul [seconds per measurement]
 * Prints the memory read bandwidth (a sum over a 1 GiB buffer), the GB/s
 * of decode GEMV (n = 1) over 1024x3072 and 151936x1024 weights, and the
 * GFLOP/s of the GEMM at n = 512 on an L2-resident weight (256x1024), for
 * Q8_32, Q4_32 and BF16 weights with 1 and 2 threads: each the fastest of
 * the calls made in the time given. The kernel ISA is the best one or
 * $OMNI_CPU_ISA. */
#include <stdlib.h>
#include "backend/backend.h"
#include "backend/cpu/cpu-backend.h"

#define GIB ((size_t) 1 << 30)

static double seconds = 1.0;

typedef struct {
  const guint64 *buf;
  size_t n;
  guint64 sum;
} SumShare;

static gpointer
sum_thread (gpointer data)
{
  SumShare *s = data;
  guint64 a[8] = { 0 };

  for (size_t i = 0; i + 8 <= s->n; i += 8)
    for (int l = 0; l < 8; l++)
      a[l] += s->buf[i + l];
  for (int l = 0; l < 8; l++)
    s->sum += a[l];
  return NULL;
}

/* GB/s of @nth threads summing a 1 GiB buffer (best of 3). */
static double
read_bandwidth (int nth)
{
  guint64 *buf = malloc (GIB);
  size_t n = GIB / sizeof (guint64);
  double best = 0;

  g_assert_nonnull (buf);
  for (size_t i = 0; i < n; i++)
    buf[i] = i;
  for (int rep = 0; rep < 3; rep++) {
    SumShare s[16];
    GThread *t[16];
    gint64 t0 = g_get_monotonic_time ();

    for (int i = 0; i < nth; i++) {
      s[i] = (SumShare) { buf + n / nth * i, n / nth, 0 };
      t[i] = g_thread_new ("sum", sum_thread, &s[i]);
    }
    for (int i = 0; i < nth; i++)
      g_thread_join (t[i]);
    best = MAX (best, GIB / ((g_get_monotonic_time () - t0) * 1e3));
  }
  free (buf);
  return best;
}

static OmniTensor
make (OmniBackend *b, OmniDType dt, int64_t rows, int64_t cols)
{
  int64_t shape[2] = { rows, cols };
  OmniTensor t;
  GError *error = NULL;
  GRand *r = g_rand_new_with_seed (7);
  float *row = g_new (float, cols);

  g_assert_true (b->ops->tensor_alloc (b, &t, dt, 2, shape, &error));
  for (int64_t i = 0; i < rows; i++) {
    guint8 *dst = (guint8 *) t.data + i * omni_row_bytes (dt, cols);

    for (int64_t j = 0; j < cols; j++)
      row[j] = (float) g_rand_double_range (r, -1, 1);
    if (omni_dtype_is_block (dt))
      omni_quantize_row (dt, row, dst, cols);
    else if (dt == OMNI_DTYPE_BF16)
      for (int64_t j = 0; j < cols; j++)
        ((uint16_t *) dst)[j] = omni_f32_to_bf16 (row[j]);
    else
      memcpy (dst, row, cols * sizeof (float));
  }
  g_free (row);
  g_rand_free (r);
  return t;
}

/* Seconds per matmul of @n rows over a [out, in] weight of @dt: the fastest
 * of the calls made in the time given, as other processes share the cores. */
static double
time_matmul (OmniBackend *b, OmniDType dt, int64_t n, int64_t out, int64_t in, size_t *wbytes)
{
  OmniTensor w = make (b, dt, out, in), x = make (b, OMNI_DTYPE_F32, n, in);
  OmniTensor y = make (b, OMNI_DTYPE_F32, n, out);
  gint64 start, t0, best = G_MAXINT64;

  b->ops->matmul (b, &y, &x, &w, NULL);  /* warm up: scratch, caches */
  start = g_get_monotonic_time ();
  do {
    t0 = g_get_monotonic_time ();
    b->ops->matmul (b, &y, &x, &w, NULL);
    best = MIN (best, g_get_monotonic_time () - t0);
  } while (g_get_monotonic_time () - start < seconds * 1e6);
  *wbytes = w.n_bytes;
  b->ops->tensor_free (b, &w);
  b->ops->tensor_free (b, &x);
  b->ops->tensor_free (b, &y);
  return MAX (best, (gint64) 1) / 1e6;
}

int
main (int argc, char **argv)
{
  static const OmniDType dts[] = { OMNI_DTYPE_Q8_32, OMNI_DTYPE_Q4_32, OMNI_DTYPE_BF16 };

  if (argc > 1)
    seconds = g_ascii_strtod (argv[1], NULL);
  g_print ("memory read bandwidth: %.1f GB/s (1 thread), %.1f GB/s (2 threads)\n",
           read_bandwidth (1), read_bandwidth (2));
  for (int nth = 1; nth <= 2; nth++) {
    GError *error = NULL;
    OmniBackend *b = omni_cpu_backend_new (nth, &error);

    g_assert_no_error (error);
    g_print ("-- %d thread(s), %s kernels\n", nth, omni_cpu_isa_name (((OmniCpuBackend *) b)->isa));
    for (guint d = 0; d < G_N_ELEMENTS (dts); d++) {
      size_t wb;
      double s1 = time_matmul (b, dts[d], 1, 1024, 3072, &wb);
      double g1 = wb / s1 / 1e9;
      double s2 = time_matmul (b, dts[d], 1, 151936, 1024, &wb);
      double g2 = wb / s2 / 1e9;
      double s3 = time_matmul (b, dts[d], 512, 256, 1024, &wb);

      g_print ("%-6s decode 1024x3072: %6.1f GB/s  decode 151936x1024: %6.1f GB/s (%.2f ms)  "
               "GEMM n=512 256x1024: %6.1f GFLOP/s\n", omni_dtype_name (dts[d]), g1, g2, s2 * 1e3,
               2.0 * 512 * 256 * 1024 / s3 / 1e9);
    }
    omni_backend_close (b);
  }
  return 0;
}
