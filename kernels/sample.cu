/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Sampling on the device, one block per sequence, with the semantics of
 * runtime/sampler.c: penalties, temperature, then top-k / top-p and a draw
 * over the kept ids in ascending logit order with masses exp(l - max) in f64.
 *
 * No sort: logits are mapped to order-preserving 32-bit keys and each
 * threshold is found bit by bit (32 block-wide passes), using that the
 * count / mass of {key >= t} only shrinks as t grows:
 * - top-k: the largest t with count(key >= t) >= k (the k-th largest key),
 * - top-p: the largest t with mass(key >= t) >= top_p * z and count >= 1,
 * - draw:  the largest t with mass(thr <= key < t) <= u * z, which is the key
 *   of the id where the ascending cumulative mass first exceeds u * z. */
#include "omni-cuda.h"

#define SAMPLE_THREADS 512

/* Order-preserving map of a float to an unsigned key. */
static __device__ __forceinline__ uint32_t
key_of (float f)
{
  uint32_t u = (uint32_t) __float_as_int (f);
  return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

/* Block-wide sum of a double and an int (shared: 32 of each). */
static __device__ void
block_sum2 (double *v, int *c, double *sd, int *si)
{
  int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, n_warps = blockDim.x >> 5;
  double a = *v;
  int b = *c;

  for (int o = 16; o > 0; o >>= 1) {
    a += __shfl_xor_sync (OMNI_FULL_MASK, a, o);
    b += __shfl_xor_sync (OMNI_FULL_MASK, b, o);
  }
  if (lane == 0) {
    sd[warp] = a;
    si[warp] = b;
  }
  __syncthreads ();
  a = lane < n_warps ? sd[lane] : 0.0;
  b = lane < n_warps ? si[lane] : 0;
  for (int o = 16; o > 0; o >>= 1) {
    a += __shfl_xor_sync (OMNI_FULL_MASK, a, o);
    b += __shfl_xor_sync (OMNI_FULL_MASK, b, o);
  }
  __syncthreads ();
  *v = a;
  *c = b;
}

/* Arg-max over the block: the larger value, the lower index on ties. */
static __device__ int
block_argmax (const float *l, int vocab, float *sv, int *si)
{
  int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, n_warps = blockDim.x >> 5;
  float best = -INFINITY;
  int bi = vocab;

  for (int i = threadIdx.x; i < vocab; i += blockDim.x)
    if (bi == vocab || l[i] > best) {
      best = l[i];
      bi = i;
    }
  for (int round = 0; round < 2; round++) {
    for (int o = 16; o > 0; o >>= 1) {
      float ov = __shfl_xor_sync (OMNI_FULL_MASK, best, o);
      int oi = __shfl_xor_sync (OMNI_FULL_MASK, bi, o);
      if (oi < vocab && (bi == vocab || ov > best || (ov == best && oi < bi))) {
        best = ov;
        bi = oi;
      }
    }
    if (round == 1)
      break;
    if (lane == 0) {
      sv[warp] = best;
      si[warp] = bi;
    }
    __syncthreads ();
    best = lane < n_warps ? sv[lane] : -INFINITY;
    bi = lane < n_warps ? si[lane] : vocab;
  }
  __syncthreads ();
  return bi;
}

/* Mass and count of the ids with lo <= key and (key >= t, or key < t when @below). */
static __device__ void
mass_count (const float *l, int vocab, float max, uint32_t lo, uint32_t t, bool below, double *mass,
            int *count, double *sd, int *si)
{
  double m = 0.0;
  int c = 0;

  for (int i = threadIdx.x; i < vocab; i += blockDim.x) {
    uint32_t key = key_of (l[i]);
    if (key >= lo && (below ? key < t : key >= t)) {
      m += exp ((double) l[i] - (double) max);
      c++;
    }
  }
  block_sum2 (&m, &c, sd, si);
  *mass = m;
  *count = c;
}

/* Count of ids with key >= t (no exp: the top-k passes). */
static __device__ int
count_ge (const float *l, int vocab, uint32_t t, double *sd, int *si)
{
  double unused = 0.0;
  int c = 0;

  for (int i = threadIdx.x; i < vocab; i += blockDim.x)
    c += key_of (l[i]) >= t;
  block_sum2 (&unused, &c, sd, si);
  return c;
}

/* The lowest id whose key is @key, or @fallback when none. */
static __device__ int
first_with_key (const float *l, int vocab, uint32_t key, int fallback, int *slot)
{
  if (threadIdx.x == 0)
    *slot = vocab;
  __syncthreads ();
  for (int i = threadIdx.x; i < vocab; i += blockDim.x)
    if (key_of (l[i]) == key) {
      atomicMin (slot, i);
      break;   /* later ids of this thread are larger */
    }
  __syncthreads ();
  int r = *slot;
  __syncthreads ();
  return r < vocab ? r : fallback;
}

/* The unfiltered draw in index order: chunks per thread, their masses
 * scanned in thread order, and the thread whose chunk holds u * z walks it. */
static __device__ int
draw_in_order (const float *l, int vocab, float max, double u, double *sd, int *slot, double *chunk_mass)
{
  int per = (vocab + blockDim.x - 1) / blockDim.x;
  int i0 = threadIdx.x * per, i1 = min (vocab, i0 + per);
  double m = 0.0;

  for (int i = i0; i < i1; i++)
    m += exp ((double) l[i] - (double) max);
  chunk_mass[threadIdx.x] = m;
  if (threadIdx.x == 0)
    *slot = vocab - 1;   /* the cpu sampler's answer when u * z reaches no id */
  __syncthreads ();
  if (threadIdx.x == 0) {
    double run = 0.0;
    for (int t = 0; t < (int) blockDim.x; t++) {
      double c = chunk_mass[t];
      chunk_mass[t] = run;
      run += c;
    }
    *sd = run;
  }
  __syncthreads ();
  double target = u * *sd, c = chunk_mass[threadIdx.x];
  if (i0 < i1 && c <= target && target < c + m) {
    int pick = i1 - 1;
    for (int i = i0; i < i1; i++) {
      c += exp ((double) l[i] - (double) max);
      if (target < c) {
        pick = i;
        break;
      }
    }
    atomicMin (slot, pick);
  }
  __syncthreads ();
  return *slot;
}

static __global__ void
sample_kernel (int32_t *out_ids, float *logits, uint8_t *seen, const OmniKSampleParams *params, int vocab)
{
  __shared__ double sd[32];
  __shared__ int si[32];
  __shared__ float sv[32];
  __shared__ int slot;
  __shared__ double chunk_mass[SAMPLE_THREADS];
  const OmniKSampleParams p = params[blockIdx.x];
  float *l = logits + (int64_t) blockIdx.x * vocab;
  uint8_t *sn = seen + (int64_t) blockIdx.x * vocab;
  int id;

  /* each id is touched by one thread: penalties in the cpu order per id */
  for (int i = threadIdx.x; i < vocab; i += blockDim.x) {
    float x = l[i];
    if (p.repetition_penalty != 1.0f && (sn[i] & OMNI_K_SEEN_ANY))
      x = x > 0 ? x / p.repetition_penalty : x * p.repetition_penalty;
    if (p.presence_penalty != 0.0f && (sn[i] & OMNI_K_SEEN_OUTPUT))
      x -= p.presence_penalty;
    if (p.temperature > 0)
      x *= (float) (1.0 / p.temperature);
    l[i] = x;
  }
  __syncthreads ();
  int top = block_argmax (l, vocab, sv, si);
  if (p.temperature <= 0) {
    id = top;
  } else {
    float max = l[top];
    bool by_k = p.top_k > 0 && p.top_k < vocab;
    if (!by_k && !(p.top_p < 1.0)) {
      id = draw_in_order (l, vocab, max, p.uniform, &sd[0], &slot, chunk_mass);
    } else {
      uint32_t thr = 0, t;
      double z, mass;
      int count;
      if (by_k) {
        for (int bit = 31; bit >= 0; bit--) {
          t = thr | (1u << bit);
          if (count_ge (l, vocab, t, sd, si) >= p.top_k)
            thr = t;
        }
      }
      mass_count (l, vocab, max, thr, thr, false, &z, &count, sd, si);
      if (p.top_p < 1.0) {
        double target = p.top_p * z;
        uint32_t best = 0;   /* below thr the predicate holds: all kept ids count */
        for (int bit = 31; bit >= 0; bit--) {
          t = best | (1u << bit);
          mass_count (l, vocab, max, thr, t, false, &mass, &count, sd, si);
          if (count >= 1 && mass >= target)
            best = t;
        }
        thr = best;
        mass_count (l, vocab, max, thr, thr, false, &z, &count, sd, si);
      }
      double uz = p.uniform * z;
      uint32_t pick = 0;
      for (int bit = 31; bit >= 0; bit--) {
        t = pick | (1u << bit);
        mass_count (l, vocab, max, thr, t, true, &mass, &count, sd, si);
        if (mass <= uz)
          pick = t;
      }
      /* pick is the chosen id's key, or beyond every kept key when rounding
       * put u * z past the total: then the largest, as the cpu sampler */
      id = first_with_key (l, vocab, pick, top, &slot);
    }
  }
  if (threadIdx.x == 0) {
    out_ids[blockIdx.x] = id;
    sn[id] |= OMNI_K_SEEN_ANY | OMNI_K_SEEN_OUTPUT;
  }
}

static __global__ void
mark_kernel (uint8_t *seen, int vocab, const int32_t *ids, const int32_t *seq, int n, uint8_t bits)
{
  int i = blockIdx.x * blockDim.x + threadIdx.x;

  /* byte stores do not touch their neighbours, and threads hitting the
   * same id all store the same value: no atomics needed */
  if (i < n && ids[i] >= 0 && ids[i] < vocab && seq[i] >= 0)
    seen[(int64_t) seq[i] * vocab + ids[i]] |= bits;
}

extern "C" cudaError_t
omni_k_sample (int32_t *out_ids, float *logits, uint8_t *seen, const OmniKSampleParams *params, int n_seqs,
               int vocab, cudaStream_t stream)
{
  if (n_seqs <= 0 || vocab <= 0)
    return cudaSuccess;
  OMNI_LAUNCH (sample_kernel, (unsigned int) n_seqs, SAMPLE_THREADS, 0, stream, out_ids, logits, seen, params,
               vocab);
  OMNI_K_RETURN_LAUNCH ();
}

extern "C" cudaError_t
omni_k_sample_mark (uint8_t *seen, int vocab, const int32_t *ids, const int32_t *seq, int n, uint8_t bits,
                    cudaStream_t stream)
{
  if (n <= 0)
    return cudaSuccess;
  OMNI_LAUNCH (mark_kernel, omni_k_blocks (n, 256), 256, 0, stream, seen, vocab, ids, seq, n, bits);
  OMNI_K_RETURN_LAUNCH ();
}
