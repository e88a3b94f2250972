/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The device side of the CUDA emulator: what a kernels/ .cu file needs so the
 * host C++ compiler (g++ -std=c++17) builds it into code that runs on the CPU.
 *
 * Execution model (see emu-runtime.cpp for the scheduler):
 * - A launch runs its blocks one after another on the calling OS thread. The
 *   threads of a block are ucontext fibers with preallocated, reused stacks
 *   (OMNI_EMU_STACK_KB, default 256 KiB, plus a guard page). A fiber runs
 *   until its next switch point: __syncthreads*, __syncwarp or a warp
 *   intrinsic (__shfl*_sync, __ballot/__any/__all_sync, __reduce_*_sync).
 *   The scheduler makes passes over the block, running each runnable fiber
 *   once per pass (to its next switch point) in ascending thread order, so a
 *   missing barrier makes a thread read what a higher thread has not written
 *   yet (tree reductions, s[t + stride], neighbour reads). Races where a
 *   thread reads a LOWER thread's data show up with descending order:
 *   OMNI_EMU_SCHEDULE=reverse (or alternate: ascending, descending... by
 *   pass); run kernel tests under both orders.
 * - __syncthreads releases when every live thread of the block arrived;
 *   threads that returned do not hold barriers back (as on a GPU once a whole
 *   warp has exited; a kernel that relies on this with a partly exited warp
 *   is fragile on hardware too).
 * - A warp intrinsic completes when every live lane named in its mask has
 *   reached the same intrinsic with the same mask; then each lane reads the
 *   posted values. Reading a lane that is not in the mask, does not exist or
 *   has exited yields all-one bits (NaN for floats): undefined on a GPU.
 * - __shared__ variables are `static thread_local`: one copy per OS thread,
 *   shared by the fibers of the block running there. They keep the previous
 *   block's contents (uninitialised on a GPU). Dynamic shared memory
 *   (omni_emu_dynamic_smem) is filled with 0xff bytes (NaN) before each block
 *   so a kernel that reads it before writing fails its tests.
 * - Fibers of a block interleave only at switch points, but atomics use the
 *   __atomic builtins anyway so they stay correct if blocks run on several
 *   OS threads.
 */
#ifndef OMNI_EMU_DEVICE_H
#define OMNI_EMU_DEVICE_H

#ifndef __cplusplus
#error "emu-device.h is C++ (the kernels are CUDA C++ compiled by the host compiler)"
#endif

#include <cuda_runtime.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <math.h>
#include <stdint.h>
#include <string.h>
#include <new>

#ifndef OMNI_CUDA_EMU
#define OMNI_CUDA_EMU 1
#endif

/* The CUDA headers define these as attributes for nvcc; on the host they
 * become ordinary C++. */
#undef __global__
#undef __device__
#undef __host__
#undef __forceinline__
#undef __noinline__
#undef __shared__
#undef __constant__
#undef __managed__
#undef __launch_bounds__
#undef __restrict__
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
/* __noinline__ stays undefined: any macro of that name breaks the
 * __has_attribute (__noinline__) checks of headers included later (glib),
 * and it is only a hint. Kernels must not use it. */
#define __shared__ static thread_local
#define __constant__
#define __managed__
#define __launch_bounds__(...)
#define __restrict__ __restrict

/* ---- per-thread and per-block state ---- */

/* What a fiber knows about itself; the scheduler owns the rest. */
struct OmniEmuThread {
  uint3 thread_idx;
};

/* What the block running on this OS thread looks like. */
struct OmniEmuBlock {
  uint3 block_idx;
  dim3 block_dim;
  dim3 grid_dim;
  unsigned char *dynamic_smem;
};

extern thread_local const OmniEmuThread *omni_emu_cur_thread;
extern thread_local OmniEmuBlock omni_emu_cur_block;

/* threadIdx of the running fiber (read-only, like the GPU's). */
static inline const uint3 &
omni_emu_thread_idx ()
{
  return omni_emu_cur_thread->thread_idx;
}

#define threadIdx (omni_emu_thread_idx ())
#define blockIdx ((const uint3 &) omni_emu_cur_block.block_idx)
#define blockDim ((const dim3 &) omni_emu_cur_block.block_dim)
#define gridDim ((const dim3 &) omni_emu_cur_block.grid_dim)

/* A constant, not a macro: cudaDeviceProp has a member of the same name. */
static constexpr int warpSize = 32;

/* Start of the running block's dynamic shared memory (16-byte aligned,
 * filled with 0xff bytes before the block starts). */
static inline void *
omni_emu_dynamic_smem ()
{
  return omni_emu_cur_block.dynamic_smem;
}

/* ---- barriers and warp intrinsics (switch points) ---- */

/* What a fiber waits for at a switch point. */
enum OmniEmuOp {
  OMNI_EMU_OP_SYNCTHREADS,
  OMNI_EMU_OP_SYNCWARP,
  OMNI_EMU_OP_SHFL_IDX,
  OMNI_EMU_OP_SHFL_UP,
  OMNI_EMU_OP_SHFL_DOWN,
  OMNI_EMU_OP_SHFL_XOR,
  OMNI_EMU_OP_BALLOT,
  OMNI_EMU_OP_REDUCE_ADD_U32,
  OMNI_EMU_OP_REDUCE_MIN_U32,
  OMNI_EMU_OP_REDUCE_MAX_U32,
  OMNI_EMU_OP_REDUCE_MIN_I32,
  OMNI_EMU_OP_REDUCE_MAX_I32,
};

/* Block barrier; returns the number of live threads whose @pred was non-zero
 * (__syncthreads_count), so the _and/_or variants derive from it too. */
extern "C" int omni_emu_syncthreads (int pred);
/* Number of live threads of the running block. */
extern "C" int omni_emu_live_threads (void);
/* Warp exchange: posts @value, waits for the lanes of @mask, returns the
 * result of @op (a source lane's value, a ballot or a reduction). */
extern "C" uint64_t omni_emu_warp_op (int op, unsigned mask, uint64_t value, int arg, int width);

static inline void
__syncthreads ()
{
  omni_emu_syncthreads (0);
}

static inline int
__syncthreads_count (int pred)
{
  return omni_emu_syncthreads (pred);
}

static inline int
__syncthreads_and (int pred)
{
  return omni_emu_syncthreads (pred) == omni_emu_live_threads ();
}

static inline int
__syncthreads_or (int pred)
{
  return omni_emu_syncthreads (pred) != 0;
}

static inline void
__syncwarp (unsigned mask = 0xffffffffu)
{
  omni_emu_warp_op (OMNI_EMU_OP_SYNCWARP, mask, 0, 0, 32);
}

/* Bits of a value of at most 8 bytes, and back. */
template <typename T>
static inline uint64_t
omni_emu_to_bits (T v)
{
  static_assert (sizeof (T) <= 8, "warp shuffles move at most 8 bytes");
  uint64_t b = 0;
  memcpy (&b, &v, sizeof (T));
  return b;
}

template <typename T>
static inline T
omni_emu_from_bits (uint64_t b)
{
  T v;
  memcpy ((void *) &v, &b, sizeof (T));
  return v;
}

template <typename T>
static inline T
__shfl_sync (unsigned mask, T var, int src_lane, int width = 32)
{
  return omni_emu_from_bits<T> (omni_emu_warp_op (OMNI_EMU_OP_SHFL_IDX, mask,
      omni_emu_to_bits (var), src_lane, width));
}

template <typename T>
static inline T
__shfl_up_sync (unsigned mask, T var, unsigned delta, int width = 32)
{
  return omni_emu_from_bits<T> (omni_emu_warp_op (OMNI_EMU_OP_SHFL_UP, mask,
      omni_emu_to_bits (var), (int) delta, width));
}

template <typename T>
static inline T
__shfl_down_sync (unsigned mask, T var, unsigned delta, int width = 32)
{
  return omni_emu_from_bits<T> (omni_emu_warp_op (OMNI_EMU_OP_SHFL_DOWN, mask,
      omni_emu_to_bits (var), (int) delta, width));
}

template <typename T>
static inline T
__shfl_xor_sync (unsigned mask, T var, int lane_mask, int width = 32)
{
  return omni_emu_from_bits<T> (omni_emu_warp_op (OMNI_EMU_OP_SHFL_XOR, mask,
      omni_emu_to_bits (var), lane_mask, width));
}

static inline unsigned
__ballot_sync (unsigned mask, int pred)
{
  return (unsigned) omni_emu_warp_op (OMNI_EMU_OP_BALLOT, mask, pred != 0, 0, 32);
}

static inline int
__any_sync (unsigned mask, int pred)
{
  return __ballot_sync (mask, pred) != 0;
}

static inline int
__all_sync (unsigned mask, int pred)
{
  /* Exited or absent lanes of @mask do not vote, as they do not on a GPU. */
  unsigned voters = (unsigned) omni_emu_warp_op (OMNI_EMU_OP_BALLOT, mask, 1, 0, 32);
  return __ballot_sync (mask, pred) == voters;
}

static inline unsigned
__activemask ()
{
  return (unsigned) omni_emu_warp_op (OMNI_EMU_OP_BALLOT, 0xffffffffu, 1, 0, 32);
}

static inline unsigned
__reduce_add_sync (unsigned mask, unsigned v)
{
  return (unsigned) omni_emu_warp_op (OMNI_EMU_OP_REDUCE_ADD_U32, mask, v, 0, 32);
}

static inline unsigned
__reduce_min_sync (unsigned mask, unsigned v)
{
  return (unsigned) omni_emu_warp_op (OMNI_EMU_OP_REDUCE_MIN_U32, mask, v, 0, 32);
}

static inline unsigned
__reduce_max_sync (unsigned mask, unsigned v)
{
  return (unsigned) omni_emu_warp_op (OMNI_EMU_OP_REDUCE_MAX_U32, mask, v, 0, 32);
}

static inline int
__reduce_add_sync (unsigned mask, int v)
{
  return (int) omni_emu_warp_op (OMNI_EMU_OP_REDUCE_ADD_U32, mask, (unsigned) v, 0, 32);
}

static inline int
__reduce_min_sync (unsigned mask, int v)
{
  return (int) omni_emu_warp_op (OMNI_EMU_OP_REDUCE_MIN_I32, mask, (unsigned) v, 0, 32);
}

static inline int
__reduce_max_sync (unsigned mask, int v)
{
  return (int) omni_emu_warp_op (OMNI_EMU_OP_REDUCE_MAX_I32, mask, (unsigned) v, 0, 32);
}

/* ---- memory fences and atomics ---- */

static inline void
__threadfence ()
{
  __atomic_thread_fence (__ATOMIC_SEQ_CST);
}

static inline void
__threadfence_block ()
{
  __atomic_thread_fence (__ATOMIC_SEQ_CST);
}

template <typename T>
static inline T
omni_emu_atomic_add_int (T *p, T v)
{
  return __atomic_fetch_add (p, v, __ATOMIC_RELAXED);
}

static inline int atomicAdd (int *p, int v) { return omni_emu_atomic_add_int (p, v); }
static inline unsigned atomicAdd (unsigned *p, unsigned v) { return omni_emu_atomic_add_int (p, v); }
static inline unsigned long long atomicAdd (unsigned long long *p, unsigned long long v)
{
  return omni_emu_atomic_add_int (p, v);
}
static inline int atomicSub (int *p, int v) { return __atomic_fetch_sub (p, v, __ATOMIC_RELAXED); }
static inline unsigned atomicSub (unsigned *p, unsigned v) { return __atomic_fetch_sub (p, v, __ATOMIC_RELAXED); }

/* Floating-point atomics as compare-and-swap loops on the bits. */
template <typename F, typename U, typename Op>
static inline F
omni_emu_atomic_float (F *p, Op op)
{
  U *u = (U *) p;
  U old = __atomic_load_n (u, __ATOMIC_RELAXED), want;
  do {
    F cur;
    memcpy (&cur, &old, sizeof cur);
    F next = op (cur);
    memcpy (&want, &next, sizeof want);
  } while (!__atomic_compare_exchange_n (u, &old, want, false, __ATOMIC_RELAXED,
          __ATOMIC_RELAXED));
  F ret;
  memcpy (&ret, &old, sizeof ret);
  return ret;
}

static inline float
atomicAdd (float *p, float v)
{
  return omni_emu_atomic_float<float, uint32_t> (p, [v] (float c) { return c + v; });
}

static inline double
atomicAdd (double *p, double v)
{
  return omni_emu_atomic_float<double, uint64_t> (p, [v] (double c) { return c + v; });
}

static inline float
atomicExch (float *p, float v)
{
  return omni_emu_atomic_float<float, uint32_t> (p, [v] (float) { return v; });
}

static inline int atomicExch (int *p, int v) { return __atomic_exchange_n (p, v, __ATOMIC_RELAXED); }
static inline unsigned atomicExch (unsigned *p, unsigned v) { return __atomic_exchange_n (p, v, __ATOMIC_RELAXED); }
static inline unsigned long long atomicExch (unsigned long long *p, unsigned long long v)
{
  return __atomic_exchange_n (p, v, __ATOMIC_RELAXED);
}

template <typename T>
static inline T
omni_emu_atomic_cas (T *p, T compare, T val)
{
  __atomic_compare_exchange_n (p, &compare, val, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED);
  return compare;  /* the old value, whether or not it was swapped */
}

static inline int atomicCAS (int *p, int c, int v) { return omni_emu_atomic_cas (p, c, v); }
static inline unsigned atomicCAS (unsigned *p, unsigned c, unsigned v) { return omni_emu_atomic_cas (p, c, v); }
static inline unsigned long long atomicCAS (unsigned long long *p, unsigned long long c,
    unsigned long long v)
{
  return omni_emu_atomic_cas (p, c, v);
}

template <typename T>
static inline T
omni_emu_atomic_minmax (T *p, T v, bool want_max)
{
  T old = __atomic_load_n (p, __ATOMIC_RELAXED);
  while (want_max ? v > old : v < old) {
    if (__atomic_compare_exchange_n (p, &old, v, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
      break;
  }
  return old;
}

static inline int atomicMax (int *p, int v) { return omni_emu_atomic_minmax (p, v, true); }
static inline unsigned atomicMax (unsigned *p, unsigned v) { return omni_emu_atomic_minmax (p, v, true); }
static inline unsigned long long atomicMax (unsigned long long *p, unsigned long long v)
{
  return omni_emu_atomic_minmax (p, v, true);
}
static inline int atomicMin (int *p, int v) { return omni_emu_atomic_minmax (p, v, false); }
static inline unsigned atomicMin (unsigned *p, unsigned v) { return omni_emu_atomic_minmax (p, v, false); }
static inline unsigned long long atomicMin (unsigned long long *p, unsigned long long v)
{
  return omni_emu_atomic_minmax (p, v, false);
}

static inline int atomicAnd (int *p, int v) { return __atomic_fetch_and (p, v, __ATOMIC_RELAXED); }
static inline unsigned atomicAnd (unsigned *p, unsigned v) { return __atomic_fetch_and (p, v, __ATOMIC_RELAXED); }
static inline int atomicOr (int *p, int v) { return __atomic_fetch_or (p, v, __ATOMIC_RELAXED); }
static inline unsigned atomicOr (unsigned *p, unsigned v) { return __atomic_fetch_or (p, v, __ATOMIC_RELAXED); }
static inline int atomicXor (int *p, int v) { return __atomic_fetch_xor (p, v, __ATOMIC_RELAXED); }
static inline unsigned atomicXor (unsigned *p, unsigned v) { return __atomic_fetch_xor (p, v, __ATOMIC_RELAXED); }

/* ---- math and bit intrinsics (IEEE versions: the emulator is the reference) ---- */

/* glibc declares these names itself, so they are macros to our versions. */
static inline float omni_emu_expf (float x) { return expf (x); }
static inline float omni_emu_exp10f (float x) { return powf (10.0f, x); }
static inline float omni_emu_logf (float x) { return logf (x); }
static inline float omni_emu_log2f (float x) { return log2f (x); }
static inline float omni_emu_sinf (float x) { return sinf (x); }
static inline float omni_emu_cosf (float x) { return cosf (x); }
static inline float omni_emu_tanf (float x) { return tanf (x); }
static inline void omni_emu_sincosf (float x, float *s, float *c) { *s = sinf (x); *c = cosf (x); }
static inline float omni_emu_powf (float x, float y) { return powf (x, y); }
#define __expf omni_emu_expf
#define __exp10f omni_emu_exp10f
#define __logf omni_emu_logf
#define __log2f omni_emu_log2f
#define __sinf omni_emu_sinf
#define __cosf omni_emu_cosf
#define __tanf omni_emu_tanf
#define __sincosf omni_emu_sincosf
#define __powf omni_emu_powf
static inline float __fdividef (float a, float b) { return a / b; }
static inline float __frcp_rn (float x) { return 1.0f / x; }
static inline float __fsqrt_rn (float x) { return sqrtf (x); }
static inline float rsqrtf (float x) { return 1.0f / sqrtf (x); }
static inline double rsqrt (double x) { return 1.0 / sqrt (x); }
static inline float __saturatef (float x) { return x < 0.0f ? 0.0f : (x > 1.0f ? 1.0f : x); }
static inline float __fmaf_rn (float a, float b, float c) { return fmaf (a, b, c); }
static inline float __fadd_rn (float a, float b) { return a + b; }
static inline float __fmul_rn (float a, float b) { return a * b; }
static inline float __fsub_rn (float a, float b) { return a - b; }
static inline int __float2int_rn (float x) { return (int) rintf (x); }
static inline int __float2int_rz (float x) { return (int) x; }
static inline int __float2int_rd (float x) { return (int) floorf (x); }
static inline int __float2int_ru (float x) { return (int) ceilf (x); }
static inline unsigned __float2uint_rn (float x) { return (unsigned) rintf (x); }
static inline float __int2float_rn (int x) { return (float) x; }
static inline float __uint2float_rn (unsigned x) { return (float) x; }
static inline int __float_as_int (float x) { int i; memcpy (&i, &x, 4); return i; }
static inline unsigned __float_as_uint (float x) { unsigned i; memcpy (&i, &x, 4); return i; }
static inline float __int_as_float (int i) { float x; memcpy (&x, &i, 4); return x; }
static inline float __uint_as_float (unsigned i) { float x; memcpy (&x, &i, 4); return x; }
static inline int __popc (unsigned x) { return __builtin_popcount (x); }
static inline int __popcll (unsigned long long x) { return __builtin_popcountll (x); }
static inline int __clz (int x) { return x == 0 ? 32 : __builtin_clz ((unsigned) x); }
static inline int __clzll (long long x) { return x == 0 ? 64 : __builtin_clzll ((unsigned long long) x); }
static inline int __ffs (int x) { return __builtin_ffs (x); }
static inline int __ffsll (long long x) { return __builtin_ffsll (x); }
static inline unsigned __brev (unsigned x)
{
  unsigned r = 0;
  for (int i = 0; i < 32; i++)
    r |= ((x >> i) & 1u) << (31 - i);
  return r;
}
static inline unsigned __umulhi (unsigned a, unsigned b) { return (unsigned) (((uint64_t) a * b) >> 32); }
static inline int __mulhi (int a, int b) { return (int) (((int64_t) a * b) >> 32); }

/* CUDA's device min/max overloads. */
static inline int min (int a, int b) { return a < b ? a : b; }
static inline int max (int a, int b) { return a > b ? a : b; }
static inline unsigned min (unsigned a, unsigned b) { return a < b ? a : b; }
static inline unsigned max (unsigned a, unsigned b) { return a > b ? a : b; }
static inline long long min (long long a, long long b) { return a < b ? a : b; }
static inline long long max (long long a, long long b) { return a > b ? a : b; }
static inline unsigned long long min (unsigned long long a, unsigned long long b) { return a < b ? a : b; }
static inline unsigned long long max (unsigned long long a, unsigned long long b) { return a > b ? a : b; }
static inline long min (long a, long b) { return a < b ? a : b; }
static inline long max (long a, long b) { return a > b ? a : b; }
static inline float min (float a, float b) { return fminf (a, b); }
static inline float max (float a, float b) { return fmaxf (a, b); }

/* Read-only cache load: a plain load on the CPU. */
template <typename T>
static inline T
__ldg (const T *p)
{
  return *p;
}

/* Clock counters: a monotonic nanosecond count stands in for cycles. */
extern "C" long long omni_emu_clock64 (void);
static inline long long clock64 () { return omni_emu_clock64 (); }

/* ---- launches ---- */

/* Runs @run (ctx) as every thread of every block of the grid, or records it
 * when @stream is capturing (then @clone copies ctx and @destroy frees the
 * copy once the graph is destroyed). Returns the launch error, which is also
 * left for cudaGetLastError. */
extern "C" cudaError_t omni_emu_launch_raw (dim3 grid, dim3 block, size_t smem,
    cudaStream_t stream, void (*run) (void *ctx), void *ctx,
    void *(*clone) (const void *ctx), void (*destroy) (void *ctx));

template <typename F>
static void
omni_emu_closure_run (void *ctx)
{
  (*(const F *) ctx) ();
}

template <typename F>
static void *
omni_emu_closure_clone (const void *ctx)
{
  return new F (*(const F *) ctx);
}

template <typename F>
static void
omni_emu_closure_destroy (void *ctx)
{
  delete (F *) ctx;
}

/* The emulator's `kernel<<<grid, block, smem, stream>>>(args)`: @body calls
 * the kernel with arguments captured by value (OMNI_LAUNCH builds it). */
template <typename F>
static inline cudaError_t
omni_emu_launch (dim3 grid, dim3 block, size_t smem, cudaStream_t stream, F body)
{
  return omni_emu_launch_raw (grid, block, smem, stream, omni_emu_closure_run<F>,
      (void *) &body, omni_emu_closure_clone<F>, omni_emu_closure_destroy<F>);
}

extern "C" cudaError_t omni_emu_launch_fn_raw (const void *fn, dim3 grid, dim3 block,
    size_t smem, cudaStream_t stream, void (*run) (void *ctx), void *ctx,
    void *(*clone) (const void *ctx), void (*destroy) (void *ctx));

/* As omni_emu_launch, naming the kernel @fn so that dynamic shared memory
 * above 48 KiB is refused unless cudaFuncSetAttribute allowed it, as on a
 * GPU. */
template <typename F>
static inline cudaError_t
omni_emu_launch (const void *fn, dim3 grid, dim3 block, size_t smem, cudaStream_t stream,
    F body)
{
  return omni_emu_launch_fn_raw (fn, grid, block, smem, stream, omni_emu_closure_run<F>,
      (void *) &body, omni_emu_closure_clone<F>, omni_emu_closure_destroy<F>);
}

/* What OMNI_LAUNCH expands to: the arguments are evaluated and copied at the
 * launch, as a GPU launch does, so a graph replays the values of its capture
 * (a closure over `*ptr` would read the pointer's target at replay time). */
template <typename... P, typename... A>
static inline cudaError_t
omni_emu_launch_kernel (void (*kernel) (P...), dim3 grid, dim3 block, size_t smem,
    cudaStream_t stream, A... args)
{
  return omni_emu_launch ((const void *) kernel, grid, block, smem, stream,
      [=] () { kernel (args...); });
}

/* ---- control of the emulator (tests) ---- */

/* Fiber order within a scheduling pass. */
typedef enum {
  OMNI_EMU_SCHEDULE_FORWARD = 0,    /* ascending threadIdx (the default) */
  OMNI_EMU_SCHEDULE_REVERSE = 1,    /* descending threadIdx */
  OMNI_EMU_SCHEDULE_ALTERNATE = 2,  /* ascending, descending... by pass */
} OmniEmuSchedule;

/* Sets the fiber order of later launches (process-wide); overrides the env
 * var OMNI_EMU_SCHEDULE. */
extern "C" void omni_emu_set_schedule (OmniEmuSchedule schedule);

#endif /* OMNI_EMU_DEVICE_H */
