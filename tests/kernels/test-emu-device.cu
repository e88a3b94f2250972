/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The emulator's device model: barriers, shared memory, warp intrinsics,
 * atomics, dynamic shared memory, launch geometry, and that a missing
 * __syncthreads gives a wrong answer. Compiled through the emulator. */
#include <glib.h>

#define N_MAX 4096

/* ---- helpers ---- */

static void *
dev_alloc (size_t n)
{
  void *p = NULL;
  g_assert_cmpint (cudaMalloc (&p, n), ==, cudaSuccess);
  return p;
}

static void
to_host (void *dst, const void *src, size_t n)
{
  g_assert_cmpint (cudaMemcpy (dst, src, n, cudaMemcpyDeviceToHost), ==, cudaSuccess);
}

static void
to_dev (void *dst, const void *src, size_t n)
{
  g_assert_cmpint (cudaMemcpy (dst, src, n, cudaMemcpyHostToDevice), ==, cudaSuccess);
}

/* ---- block reduction with __shared__ and __syncthreads ---- */

/* A shared buffer declared in a __device__ helper: one per block too. */
__device__ float *
scratch_buffer ()
{
  __shared__ float buf[1024];
  return buf;
}

__global__ void
block_sum_kernel (const float *x, float *out, int n)
{
  float *s = scratch_buffer ();
  int t = threadIdx.x;
  float v = 0.0f;
  for (int i = blockIdx.x * blockDim.x + t; i < n; i += gridDim.x * blockDim.x)
    v += x[i];
  s[t] = v;
  __syncthreads ();
  for (int stride = blockDim.x / 2; stride > 0; stride >>= 1) {
    if (t < stride)
      s[t] += s[t + stride];
    __syncthreads ();
  }
  if (t == 0)
    out[blockIdx.x] = s[0];
}

static void
test_block_reduction (void)
{
  int n = 3001, blocks = 7;
  float *h = g_new (float, n), *part = g_new (float, blocks);
  double want = 0;
  for (int i = 0; i < n; i++) {
    h[i] = (float) (i % 13) - 6.0f;
    want += h[i];
  }
  float *x = (float *) dev_alloc (n * 4), *out = (float *) dev_alloc (blocks * 4);
  to_dev (x, h, n * 4);
  for (int threads = 32; threads <= 1024; threads *= 2) {
    omni_emu_launch (dim3 (blocks), dim3 (threads), 0, 0, [=] () { block_sum_kernel (x, out, n); });
    g_assert_cmpint (cudaGetLastError (), ==, cudaSuccess);
    to_host (part, out, blocks * 4);
    double got = 0;
    for (int b = 0; b < blocks; b++)
      got += part[b];
    g_assert_cmpfloat (got, ==, want);
  }
  cudaFree (x);
  cudaFree (out);
  g_free (h);
  g_free (part);
}

/* ---- the deliberately missing barrier ---- */

/* Every thread stores, then reads a neighbour's store: with the barrier the
 * result is a rotation of the input; without it a thread may read before
 * the neighbour wrote. */
template <bool WITH_BARRIER>
__global__ void
rotate_kernel (const int *in, int *out, int shift)
{
  __shared__ int s[256];
  int t = threadIdx.x, n = blockDim.x;
  s[t] = in[blockIdx.x * n + t];
  if (WITH_BARRIER)
    __syncthreads ();
  out[blockIdx.x * n + t] = s[(t + shift + n) % n];
}

/* Number of wrong outputs of one rotate launch over two blocks. */
static int
rotate_errors (bool with_barrier, int shift)
{
  int n = 256, total = 2 * n;
  int *h = g_new (int, total), *r = g_new (int, total);
  for (int i = 0; i < total; i++)
    h[i] = 1000 + i;
  int *in = (int *) dev_alloc (total * 4), *out = (int *) dev_alloc (total * 4);
  to_dev (in, h, total * 4);
  if (with_barrier)
    omni_emu_launch (dim3 (2), dim3 (n), 0, 0, [=] () { rotate_kernel<true> (in, out, shift); });
  else
    omni_emu_launch (dim3 (2), dim3 (n), 0, 0, [=] () { rotate_kernel<false> (in, out, shift); });
  to_host (r, out, total * 4);
  int bad = 0;
  for (int b = 0; b < 2; b++)
    for (int t = 0; t < n; t++)
      bad += r[b * n + t] != h[b * n + (t + shift + n) % n];
  cudaFree (in);
  cudaFree (out);
  g_free (h);
  g_free (r);
  return bad;
}

static void
test_missing_barrier (void)
{
  /* The default (ascending) order: reading a higher neighbour races. */
  omni_emu_set_schedule (OMNI_EMU_SCHEDULE_FORWARD);
  g_assert_cmpint (rotate_errors (true, 1), ==, 0);
  g_assert_cmpint (rotate_errors (true, -1), ==, 0);
  g_assert_cmpint (rotate_errors (false, 1), >, 0);
  /* Descending order exposes reads of a lower neighbour. */
  omni_emu_set_schedule (OMNI_EMU_SCHEDULE_REVERSE);
  g_assert_cmpint (rotate_errors (false, -1), >, 0);
  g_assert_cmpint (rotate_errors (true, -1), ==, 0);
  g_assert_cmpint (rotate_errors (true, 1), ==, 0);
  /* Alternating starts ascending: the first phase races as forward. */
  omni_emu_set_schedule (OMNI_EMU_SCHEDULE_ALTERNATE);
  g_assert_cmpint (rotate_errors (false, 1), >, 0);
  g_assert_cmpint (rotate_errors (true, 1), ==, 0);
  omni_emu_set_schedule (OMNI_EMU_SCHEDULE_FORWARD);
}

/* A tree reduction missing the barrier inside its loop (a classic bug):
 * wrong under the default order although the first barrier is there. */
template <bool WITH_BARRIER>
__global__ void
tree_sum_kernel (const float *x, float *out)
{
  __shared__ float s[128];
  int t = threadIdx.x;
  s[t] = x[t];
  __syncthreads ();
  for (int stride = blockDim.x / 2; stride > 0; stride >>= 1) {
    if (t < stride)
      s[t] += s[t + stride];
    if (WITH_BARRIER)
      __syncthreads ();
  }
  if (t == 0)
    *out = s[0];
}

static void
test_missing_barrier_in_loop (void)
{
  float h[128], got_ok, got_bad;
  for (int i = 0; i < 128; i++)
    h[i] = 1.0f;
  float *x = (float *) dev_alloc (sizeof h), *out = (float *) dev_alloc (4);
  to_dev (x, h, sizeof h);
  omni_emu_set_schedule (OMNI_EMU_SCHEDULE_FORWARD);
  omni_emu_launch (dim3 (1), dim3 (128), 0, 0, [=] () { tree_sum_kernel<true> (x, out); });
  to_host (&got_ok, out, 4);
  omni_emu_launch (dim3 (1), dim3 (128), 0, 0, [=] () { tree_sum_kernel<false> (x, out); });
  to_host (&got_bad, out, 4);
  g_assert_cmpfloat (got_ok, ==, 128.0f);
  g_assert_cmpfloat (got_bad, !=, 128.0f);
  cudaFree (x);
  cudaFree (out);
}

/* ---- warp intrinsics ---- */

/* Per lane: xor butterfly sum, down/up/idx shuffles with width, ballots. */
__global__ void
warp_kernel (int *out)
{
  int lane = threadIdx.x & 31, t = threadIdx.x;
  int v = t * 3 + 1;
  int sum = v;
  for (int o = 16; o > 0; o >>= 1)
    sum += __shfl_xor_sync (0xffffffffu, sum, o);
  out[t * 8 + 0] = sum;
  out[t * 8 + 1] = __shfl_down_sync (0xffffffffu, v, 3);
  out[t * 8 + 2] = __shfl_up_sync (0xffffffffu, v, 5, 16);
  out[t * 8 + 3] = __shfl_sync (0xffffffffu, v, 7, 8);
  out[t * 8 + 4] = (int) __ballot_sync (0xffffffffu, lane % 3 == 0);
  out[t * 8 + 5] = __any_sync (0xffffffffu, t == 40);
  out[t * 8 + 6] = __all_sync (0xffffffffu, lane < 31);
  float f = __shfl_xor_sync (0xffffffffu, (float) t * 0.5f, 1);
  out[t * 8 + 7] = (int) (f * 2.0f);
}

static void
test_warp_shuffles (void)
{
  const int n = 64;
  int *d = (int *) dev_alloc (n * 8 * 4), h[n * 8];
  omni_emu_launch (dim3 (1), dim3 (n), 0, 0, [=] () { warp_kernel (d); });
  to_host (h, d, sizeof h);
  for (int t = 0; t < n; t++) {
    int lane = t & 31, w0 = t - lane, sum = 0;
    for (int l = 0; l < 32; l++)
      sum += (w0 + l) * 3 + 1;
    unsigned ballot = 0;
    for (int l = 0; l < 32; l++)
      ballot |= (unsigned) (l % 3 == 0) << l;
    g_assert_cmpint (h[t * 8 + 0], ==, sum);
    g_assert_cmpint (h[t * 8 + 1], ==, (lane + 3 < 32 ? t + 3 : t) * 3 + 1);
    g_assert_cmpint (h[t * 8 + 2], ==, ((lane & 15) >= 5 ? t - 5 : t) * 3 + 1);
    g_assert_cmpint (h[t * 8 + 3], ==, ((t & ~7) + 7) * 3 + 1);
    g_assert_cmpuint ((unsigned) h[t * 8 + 4], ==, ballot);
    g_assert_cmpint (h[t * 8 + 5], ==, t >= 32);
    g_assert_cmpint (h[t * 8 + 6], ==, 0);
    g_assert_cmpint (h[t * 8 + 7], ==, t ^ 1);
  }
  cudaFree (d);
}

/* Lanes 0..15 and 16..31 exchange within their halves under partial masks;
 * odd lanes of warp 1 exit early and must not block or vote. */
__global__ void
partial_mask_kernel (int *out)
{
  int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  if (warp == 1 && (lane & 1))
    return;
  if (warp == 0) {
    unsigned mask = lane < 16 ? 0x0000ffffu : 0xffff0000u;
    out[threadIdx.x * 3 + 0] = __shfl_xor_sync (mask, lane, 8);
    out[threadIdx.x * 3 + 1] = (int) __ballot_sync (mask, lane >= 12);
    out[threadIdx.x * 3 + 2] = __reduce_add_sync (mask, (unsigned) lane);
  } else {
    out[threadIdx.x * 3 + 0] = __shfl_sync (0x55555555u, lane, 4);
    out[threadIdx.x * 3 + 1] = (int) __ballot_sync (0x55555555u, 1);
    out[threadIdx.x * 3 + 2] = __all_sync (0xffffffffu, lane % 2 == 0);
  }
}

static void
test_partial_masks (void)
{
  int *d = (int *) dev_alloc (64 * 3 * 4), h[64 * 3];
  g_assert_cmpint (cudaMemset (d, 0xff, 64 * 3 * 4), ==, cudaSuccess);
  omni_emu_launch (dim3 (1), dim3 (64), 0, 0, [=] () { partial_mask_kernel (d); });
  to_host (h, d, sizeof h);
  for (int lane = 0; lane < 32; lane++) {
    unsigned half = lane < 16 ? 0x0000ffffu : 0xffff0000u;
    unsigned ballot = 0, sum = 0;
    for (int l = 0; l < 32; l++)
      if (half >> l & 1u) {
        ballot |= (unsigned) (l >= 12) << l;
        sum += l;
      }
    g_assert_cmpint (h[lane * 3 + 0], ==, lane ^ 8);
    g_assert_cmpuint ((unsigned) h[lane * 3 + 1], ==, ballot);
    g_assert_cmpuint ((unsigned) h[lane * 3 + 2], ==, sum);
  }
  for (int lane = 0; lane < 32; lane++) {
    int t = 32 + lane;
    if (lane & 1) {
      g_assert_cmpint (h[t * 3 + 0], ==, -1);   /* exited: never wrote */
      continue;
    }
    g_assert_cmpint (h[t * 3 + 0], ==, 4);
    g_assert_cmpuint ((unsigned) h[t * 3 + 1], ==, 0x55555555u);
    g_assert_cmpint (h[t * 3 + 2], ==, 1);       /* exited lanes do not vote */
  }
  cudaFree (d);
}

/* ---- atomics across blocks, grid-stride loops, 3-D geometry ---- */

__global__ void
atomics_kernel (const int *x, int n, int *isum, float *fsum, int *imax, int *imin,
    unsigned long long *usum, int *cas_count)
{
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) {
    atomicAdd (isum, x[i]);
    atomicAdd (fsum, 0.5f);
    atomicMax (imax, x[i]);
    atomicMin (imin, x[i]);
    atomicAdd (usum, (unsigned long long) x[i] << 33);
    int old = atomicCAS (cas_count, i, i + 1);   /* only succeeds in index order */
    (void) old;
  }
}

static void
test_atomics_grid_stride (void)
{
  const int n = 1000;
  int *h = g_new (int, n);
  long long sum = 0;
  int mx = -1000000, mn = 1000000;
  for (int i = 0; i < n; i++) {
    h[i] = (i * 7919) % 2003 - 1000;
    sum += h[i];
    mx = MAX (mx, h[i]);
    mn = MIN (mn, h[i]);
  }
  int *x = (int *) dev_alloc (n * 4);
  to_dev (x, h, n * 4);
  int *isum = (int *) dev_alloc (4), *imax = (int *) dev_alloc (4), *imin = (int *) dev_alloc (4);
  int *cas = (int *) dev_alloc (4);
  float *fsum = (float *) dev_alloc (4);
  unsigned long long *usum = (unsigned long long *) dev_alloc (8);
  int zero = 0, lo = -2147483647, hi = 2147483647;
  float fz = 0;
  unsigned long long uz = 0;
  /* blocks x threads neither divides n nor covers it in one stride */
  int configs[][2] = { { 3, 96 }, { 5, 37 }, { 1, 1 }, { 64, 33 } };
  for (unsigned c = 0; c < G_N_ELEMENTS (configs); c++) {
    to_dev (isum, &zero, 4);
    to_dev (cas, &zero, 4);
    to_dev (imax, &lo, 4);
    to_dev (imin, &hi, 4);
    to_dev (fsum, &fz, 4);
    to_dev (usum, &uz, 8);
    omni_emu_launch (dim3 (configs[c][0]), dim3 (configs[c][1]), 0, 0,
        [=] () { atomics_kernel (x, n, isum, fsum, imax, imin, usum, cas); });
    int got_sum, got_max, got_min, got_cas;
    float got_f;
    unsigned long long got_u;
    to_host (&got_sum, isum, 4);
    to_host (&got_max, imax, 4);
    to_host (&got_min, imin, 4);
    to_host (&got_f, fsum, 4);
    to_host (&got_u, usum, 8);
    to_host (&got_cas, cas, 4);
    g_assert_cmpint (got_sum, ==, sum);
    g_assert_cmpint (got_max, ==, mx);
    g_assert_cmpint (got_min, ==, mn);
    g_assert_cmpfloat (got_f, ==, n * 0.5f);
    g_assert_cmpuint (got_u, ==, (unsigned long long) sum << 33);
    g_assert_cmpint (got_cas, >=, 1);
  }
  cudaFree (x);
  cudaFree (isum);
  cudaFree (imax);
  cudaFree (imin);
  cudaFree (cas);
  cudaFree (fsum);
  cudaFree (usum);
  g_free (h);
}

__global__ void
geometry_kernel (int *out)
{
  int bx = blockIdx.x + gridDim.x * (blockIdx.y + gridDim.y * blockIdx.z);
  int tx = threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z);
  int per_block = blockDim.x * blockDim.y * blockDim.z;
  out[bx * per_block + tx] = bx * 1000 + tx;
}

static void
test_geometry (void)
{
  dim3 grid (3, 2, 2), block (4, 3, 5);
  int n = 12 * 60, *h = g_new (int, n);
  int *d = (int *) dev_alloc (n * 4);
  omni_emu_launch (grid, block, 0, 0, [=] () { geometry_kernel (d); });
  to_host (h, d, n * 4);
  for (int b = 0; b < 12; b++)
    for (int t = 0; t < 60; t++)
      g_assert_cmpint (h[b * 60 + t], ==, b * 1000 + t);
  cudaFree (d);
  g_free (h);
}

/* ---- dynamic shared memory ---- */

__global__ void
dyn_smem_kernel (float *poison_seen, float *out, int n)
{
  float *s = (float *) omni_emu_dynamic_smem ();
  int t = threadIdx.x;
  if (t == 0)
    *poison_seen = s[n - 1];   /* read before anyone wrote: the poison */
  __syncthreads ();
  for (int i = t; i < n; i += blockDim.x)
    s[i] = (float) (i + blockIdx.x);
  __syncthreads ();
  float acc = 0;
  for (int i = 0; i < n; i++)
    acc += s[i];
  if (t == 0)
    out[blockIdx.x] = acc;
}

static void
test_dynamic_smem (void)
{
  int n = 5000;   /* 20000 bytes, not a multiple of the block */
  float *poison = (float *) dev_alloc (4), *out = (float *) dev_alloc (3 * 4), h[3], p;
  omni_emu_launch (dim3 (3), dim3 (96), n * sizeof (float), 0,
      [=] () { dyn_smem_kernel (poison, out, n); });
  g_assert_cmpint (cudaGetLastError (), ==, cudaSuccess);
  to_host (h, out, sizeof h);
  to_host (&p, poison, 4);
  g_assert_true (isnan (p));
  for (int b = 0; b < 3; b++)
    g_assert_cmpfloat (h[b], ==, (double) n * (n - 1) / 2 + (double) n * b);
  cudaFree (poison);
  cudaFree (out);
}

/* ---- barrier variants and launch errors ---- */

__global__ void
sync_count_kernel (int *out)
{
  int t = threadIdx.x;
  int c = __syncthreads_count (t % 5 == 0);
  int a = __syncthreads_and (t < 1000);
  int o = __syncthreads_or (t == 177);
  int o2 = __syncthreads_or (t == 77);
  int a2 = __syncthreads_and (t != 50);
  if (t == 0) {
    out[0] = c;
    out[1] = a;
    out[2] = o;
    out[3] = o2;
    out[4] = a2;
  }
}

static void
test_sync_variants (void)
{
  int *d = (int *) dev_alloc (20), h[5];
  omni_emu_launch (dim3 (1), dim3 (100), 0, 0, [=] () { sync_count_kernel (d); });
  to_host (h, d, sizeof h);
  g_assert_cmpint (h[0], ==, 20);
  g_assert_cmpint (h[1], ==, 1);
  g_assert_cmpint (h[2], ==, 0);
  g_assert_cmpint (h[3], ==, 1);
  g_assert_cmpint (h[4], ==, 0);
  cudaFree (d);
}

__global__ void
noop_kernel (int *p)
{
  if (p)
    *p = 1;
}

static void
test_launch_errors (void)
{
  int *p = NULL;
  g_assert_cmpint (cudaGetLastError (), ==, cudaSuccess);
  g_assert_cmpint (omni_emu_launch (dim3 (1), dim3 (2048), 0, 0, [=] () { noop_kernel (p); }),
      ==, cudaErrorInvalidConfiguration);
  g_assert_cmpint (cudaPeekAtLastError (), ==, cudaErrorInvalidConfiguration);
  g_assert_cmpint (cudaGetLastError (), ==, cudaErrorInvalidConfiguration);
  g_assert_cmpint (cudaGetLastError (), ==, cudaSuccess);
  g_assert_cmpint (omni_emu_launch (dim3 (0), dim3 (32), 0, 0, [=] () { noop_kernel (p); }),
      ==, cudaErrorInvalidConfiguration);
  g_assert_cmpint (omni_emu_launch (dim3 (1), dim3 (32), 300 * 1024, 0,
          [=] () { noop_kernel (p); }), ==, cudaErrorInvalidValue);
  /* Above 48 KiB needs the opt-in when the kernel is named. */
  const void *fn = (const void *) noop_kernel;
  g_assert_cmpint (omni_emu_launch (fn, dim3 (1), dim3 (32), 64 * 1024, 0,
          [=] () { noop_kernel (p); }), ==, cudaErrorInvalidValue);
  g_assert_cmpint (cudaFuncSetAttribute (fn, cudaFuncAttributeMaxDynamicSharedMemorySize,
          64 * 1024), ==, cudaSuccess);
  g_assert_cmpint (omni_emu_launch (fn, dim3 (1), dim3 (32), 64 * 1024, 0,
          [=] () { noop_kernel (p); }), ==, cudaSuccess);
  cudaGetLastError ();
}

/* ---- a divergent barrier is reported, not hung ---- */

__global__ void
divergent_kernel (int *p)
{
  if (threadIdx.x < 40) {
    __syncthreads ();
  } else {
    __shfl_sync (0xffffffffu, 1, 0);   /* warp 1 lanes 0..7 are at the barrier */
  }
  *p = 1;
}

static void
test_deadlock_aborts (void)
{
  if (g_test_subprocess ()) {
    int *d = (int *) dev_alloc (4);
    omni_emu_launch (dim3 (1), dim3 (64), 0, 0, [=] () { divergent_kernel (d); });
    return;
  }
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_failed ();
  g_test_trap_assert_stderr ("*omni-emu: deadlock in block (0,0,0)*");
}

/* ---- bf16/f16 from the CUDA headers on the host ---- */

__global__ void
half_kernel (const __nv_bfloat16 *a, const __half *b, float *out)
{
  int t = threadIdx.x;
  __nv_bfloat16 s = a[t] + __float2bfloat16 (1.0f);
  out[t] = __bfloat162float (s) + __half2float (b[t] * __float2half (2.0f));
}

static void
test_half_types (void)
{
  __nv_bfloat16 ha[32];
  __half hb[32];
  for (int i = 0; i < 32; i++) {
    ha[i] = __float2bfloat16 ((float) i);
    hb[i] = __float2half ((float) i * 0.25f);
  }
  __nv_bfloat16 *a = (__nv_bfloat16 *) dev_alloc (sizeof ha);
  __half *b = (__half *) dev_alloc (sizeof hb);
  float *out = (float *) dev_alloc (32 * 4), h[32];
  to_dev (a, ha, sizeof ha);
  to_dev (b, hb, sizeof hb);
  omni_emu_launch (dim3 (1), dim3 (32), 0, 0, [=] () { half_kernel (a, b, out); });
  to_host (h, out, sizeof h);
  for (int i = 0; i < 32; i++)
    g_assert_cmpfloat (h[i], ==, (float) i + 1.0f + (float) i * 0.5f);
  cudaFree (a);
  cudaFree (b);
  cudaFree (out);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/emu/device/block-reduction", test_block_reduction);
  g_test_add_func ("/emu/device/missing-barrier", test_missing_barrier);
  g_test_add_func ("/emu/device/missing-barrier-in-loop", test_missing_barrier_in_loop);
  g_test_add_func ("/emu/device/warp-shuffles", test_warp_shuffles);
  g_test_add_func ("/emu/device/partial-masks", test_partial_masks);
  g_test_add_func ("/emu/device/atomics-grid-stride", test_atomics_grid_stride);
  g_test_add_func ("/emu/device/geometry", test_geometry);
  g_test_add_func ("/emu/device/dynamic-smem", test_dynamic_smem);
  g_test_add_func ("/emu/device/sync-variants", test_sync_variants);
  g_test_add_func ("/emu/device/launch-errors", test_launch_errors);
  g_test_add_func ("/emu/device/deadlock-aborts", test_deadlock_aborts);
  g_test_add_func ("/emu/device/half-types", test_half_types);
  return g_test_run ();
}
