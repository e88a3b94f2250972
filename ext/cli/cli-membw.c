/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A timed multi-threaded streaming read: each thread sums its slice of one
 * large buffer with wide loads, the way a GEMV streams its weights. */
#include <string.h>
#include <unistd.h>
#include "cli-membw.h"

#define RUNS 7
#define MIN_BYTES ((size_t) 512 << 20)
#define MAX_BYTES ((size_t) 1 << 30)

/* 32-byte lanes: the compiler emits the widest loads the target allows. */
typedef guint64 Lane __attribute__ ((vector_size (32)));

typedef struct {
  const Lane *data;
  size_t n;            /* lanes */
  guint64 sink;
} Slice;

static gpointer
read_slice (gpointer p)
{
  Slice *s = p;
  Lane a = { 0 }, b = { 0 }, c = { 0 }, d = { 0 };
  size_t i = 0;

  for (; i + 4 <= s->n; i += 4) {
    a ^= s->data[i];
    b ^= s->data[i + 1];
    c ^= s->data[i + 2];
    d ^= s->data[i + 3];
  }
  a ^= b ^ c ^ d;
  s->sink = a[0] ^ a[1] ^ a[2] ^ a[3];
  return NULL;
}

size_t
omni_cli_read_bandwidth_bytes (void)
{
  long l3 = sysconf (_SC_LEVEL3_CACHE_SIZE);

  /* 16 x the last-level cache, within 512 MiB..1 GiB (virtual machines may
   * report odd cache sizes) */
  return CLAMP (l3 > 0 ? (size_t) l3 * 16 : 0, MIN_BYTES, MAX_BYTES);
}

double
omni_cli_read_bandwidth (int n_threads)
{
  size_t bytes = omni_cli_read_bandwidth_bytes (), lanes = bytes / sizeof (Lane);
  Lane *buf = g_aligned_alloc (lanes, sizeof (Lane), 64);
  g_autofree Slice *slices = g_new0 (Slice, n_threads);
  g_autofree GThread **threads = g_new0 (GThread *, n_threads);
  double best = 0;

  memset (buf, 1, lanes * sizeof (Lane));   /* fault every page in before timing */
  for (int t = 0; t < n_threads; t++) {
    slices[t].data = buf + lanes / n_threads * t;
    slices[t].n = lanes / n_threads;
  }
  for (int r = 0; r < RUNS; r++) {
    gint64 t0 = g_get_monotonic_time ();
    for (int t = 1; t < n_threads; t++)
      threads[t] = g_thread_new ("omni-membw", read_slice, &slices[t]);
    read_slice (&slices[0]);
    for (int t = 1; t < n_threads; t++)
      g_thread_join (threads[t]);
    double secs = (g_get_monotonic_time () - t0) / 1e6;
    best = MAX (best, (double) (lanes / n_threads * n_threads * sizeof (Lane)) / secs);
  }
  g_aligned_free (buf);
  return best;
}
