/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The block scheduler of the CUDA emulator: the threads of a block as
 * ucontext fibers, barriers and warp exchanges (semantics in emu-device.h). */
#include "emu-device.h"
#include "emu-internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>
#include <setjmp.h>
#include <ucontext.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#define OMNI_EMU_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define OMNI_EMU_ASAN 1
#endif
#endif

#ifdef OMNI_EMU_ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif

thread_local const OmniEmuThread *omni_emu_cur_thread;
thread_local OmniEmuBlock omni_emu_cur_block;

namespace {

enum FiberState { FIBER_RUNNABLE, FIBER_BARRIER, FIBER_WARP, FIBER_DONE };

struct Fiber {
  OmniEmuThread pub;
  ucontext_t ctx;            /* the fresh start of the fiber */
  jmp_buf jb;                /* where it waits once it has run */
  bool started;
  unsigned char *stack;     /* usable stack (above the guard page) */
  int state;
  int op;
  unsigned mask;
  int arg, width;
  uint64_t value, result;
  int pred;
  void *fake_stack;         /* ASan's, while switched out */
};

/* The fibers and stacks of the OS thread that runs blocks. */
struct Sched {
  Fiber *fibers;
  int cap, n, live;
  size_t stack_size;
  jmp_buf main_jb;
  Fiber *cur;
  void (*run) (void *);
  void *run_ctx;
  unsigned char *smem;
  size_t smem_cap;
  const void *main_stack_bottom;
  size_t main_stack_size;

  ~Sched ();
};

Sched::~Sched ()
{
  size_t page = (size_t) sysconf (_SC_PAGESIZE);
  for (int i = 0; i < cap; i++)
    munmap (fibers[i].stack - page, stack_size + page);
  free (fibers);
  free (smem);
}

thread_local Sched sched;
const int OMNI_EMU_MAX_THREADS = 1024;
int schedule_mode = -1;   /* OmniEmuSchedule, -1 until read from the env */

[[noreturn]] void
die (const char *what)
{
  fprintf (stderr, "omni-emu: %s\n", what);
  abort ();
}

size_t
stack_size_from_env ()
{
  const char *s = getenv ("OMNI_EMU_STACK_KB");
  long kb = s ? atol (s) : 0;
#ifdef OMNI_EMU_ASAN
  /* ASan's redzones make frames several times larger. */
  if (kb <= 0)
    kb = 1024;
#else
  if (kb <= 0)
    kb = 256;
#endif
  return (size_t) kb * 1024;
}

/* Makes room for @n fibers; stacks are mmapped once (pages are committed
 * only when touched) with a PROT_NONE guard page below each. */
void
ensure_fibers (Sched *s, int n)
{
  if (n <= s->cap)
    return;
  if (!s->stack_size)
    s->stack_size = stack_size_from_env ();
  size_t page = (size_t) sysconf (_SC_PAGESIZE);
  s->stack_size = (s->stack_size + page - 1) / page * page;
  /* Allocated once for the largest block: a ucontext_t points into itself
   * (its FP state), so the array must never move. */
  if (!s->fibers)
    s->fibers = (Fiber *) calloc (OMNI_EMU_MAX_THREADS, sizeof (Fiber));
  if (!s->fibers || n > OMNI_EMU_MAX_THREADS)
    die ("cannot allocate the block's fibers");
  Fiber *f = s->fibers;
  for (int i = s->cap; i < n; i++) {
    void *m = mmap (NULL, s->stack_size + page, PROT_READ | PROT_WRITE,
        MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (m == MAP_FAILED)
      die ("cannot map a fiber stack");
    mprotect (m, page, PROT_NONE);
    memset (&f[i], 0, sizeof f[i]);
    f[i].stack = (unsigned char *) m + page;
    if (getcontext (&f[i].ctx) != 0)
      die ("getcontext failed");
  }
  s->cap = n;
}

void
asan_start (void **fake, const void *bottom, size_t size)
{
#ifdef OMNI_EMU_ASAN
  __sanitizer_start_switch_fiber (fake, bottom, size);
#else
  (void) fake, (void) bottom, (void) size;
#endif
}

void
asan_finish (void *fake, const void **bottom, size_t *size)
{
#ifdef OMNI_EMU_ASAN
  __sanitizer_finish_switch_fiber (fake, bottom, size);
#else
  (void) fake, (void) bottom, (void) size;
#endif
}

/* Switching: a fiber is entered the first time through its ucontext
 * (setcontext), afterwards with _setjmp/_longjmp both ways, which unlike
 * swapcontext do not make a sigprocmask system call per switch. */
void
fiber_entry ()
{
  Sched *s = &sched;
  asan_finish (NULL, &s->main_stack_bottom, &s->main_stack_size);
  Fiber *f = s->cur;
  s->run (s->run_ctx);
  f->state = FIBER_DONE;
  s->live--;
  /* NULL: this fiber's fake stack dies with it. */
  asan_start (NULL, s->main_stack_bottom, s->main_stack_size);
  _longjmp (s->main_jb, 1);
}

/* Switches from the running fiber back to the scheduler. */
void
fiber_yield (Fiber *f)
{
  Sched *s = &sched;
  asan_start (&f->fake_stack, s->main_stack_bottom, s->main_stack_size);
  if (!_setjmp (f->jb))
    _longjmp (s->main_jb, 1);
  asan_finish (f->fake_stack, NULL, NULL);
}

void
fiber_resume (Sched *s, Fiber *f)
{
  void *fake = NULL;
  s->cur = f;
  omni_emu_cur_thread = &f->pub;
  asan_start (&fake, f->stack, s->stack_size);
  if (!_setjmp (s->main_jb)) {
    if (f->started)
      _longjmp (f->jb, 1);
    f->started = true;
    setcontext (&f->ctx);
    die ("setcontext returned");
  }
  asan_finish (fake, NULL, NULL);
  s->cur = NULL;
  omni_emu_cur_thread = NULL;
}

Fiber *
current_fiber (const char *what)
{
  Fiber *f = sched.cur;
  if (!f) {
    fprintf (stderr, "omni-emu: %s called outside a kernel\n", what);
    abort ();
  }
  return f;
}

/* Source lane of a shuffle for lane @li, or -1 for "own value". */
int
shfl_source (int op, int li, int arg, int width)
{
  int base = li & ~(width - 1), in_seg = li & (width - 1);
  switch (op) {
  case OMNI_EMU_OP_SHFL_IDX:
    return base + (arg & (width - 1));
  case OMNI_EMU_OP_SHFL_UP:
    return in_seg - arg < 0 ? -1 : li - arg;
  case OMNI_EMU_OP_SHFL_DOWN:
    return in_seg + arg >= width ? -1 : li + arg;
  default: {  /* XOR: earlier segments are reachable, later ones are not */
    int src = li ^ arg;
    return src >= base + width ? -1 : src;
  }
  }
}

/* Completes the exchange of the lanes @group (bits) of warp @w. */
void
complete_warp_op (Sched *s, int w, unsigned group, const Fiber *lead)
{
  Fiber *lanes = s->fibers + w * 32;
  uint64_t ballot = 0, red = 0;
  bool first = true;

  for (int li = 0; li < 32; li++) {
    if (!(group >> li & 1u))
      continue;
    uint64_t v = lanes[li].value;
    uint32_t u = (uint32_t) v;
    ballot |= (uint64_t) (v != 0) << li;
    switch (lead->op) {
    case OMNI_EMU_OP_REDUCE_ADD_U32: red = (uint32_t) (red + u); break;
    case OMNI_EMU_OP_REDUCE_MIN_U32: red = first || u < red ? u : red; break;
    case OMNI_EMU_OP_REDUCE_MAX_U32: red = first || u > red ? u : red; break;
    case OMNI_EMU_OP_REDUCE_MIN_I32:
      red = first || (int32_t) u < (int32_t) (uint32_t) red ? u : red; break;
    case OMNI_EMU_OP_REDUCE_MAX_I32:
      red = first || (int32_t) u > (int32_t) (uint32_t) red ? u : red; break;
    default: break;
    }
    first = false;
  }
  for (int li = 0; li < 32; li++) {
    if (!(group >> li & 1u))
      continue;
    Fiber *f = &lanes[li];
    switch (lead->op) {
    case OMNI_EMU_OP_SYNCWARP: f->result = 0; break;
    case OMNI_EMU_OP_BALLOT: f->result = ballot; break;
    case OMNI_EMU_OP_SHFL_IDX: case OMNI_EMU_OP_SHFL_UP:
    case OMNI_EMU_OP_SHFL_DOWN: case OMNI_EMU_OP_SHFL_XOR: {
      int src = shfl_source (f->op, li, f->arg, f->width);
      if (src < 0)
        f->result = f->value;
      else if (group >> src & 1u)
        f->result = lanes[src].value;
      else
        f->result = ~(uint64_t) 0;   /* undefined on a GPU: poison */
      break;
    }
    default: f->result = red; break;
    }
    f->state = FIBER_RUNNABLE;
  }
}

/* Completes every warp exchange whose lanes have all arrived; returns
 * whether any did. */
bool
resolve_warps (Sched *s)
{
  bool progress = false;
  for (int w = 0; w * 32 < s->n; w++) {
    Fiber *lanes = s->fibers + w * 32;
    int n_lanes = s->n - w * 32 < 32 ? s->n - w * 32 : 32;
    unsigned done = 0;
    for (int li = 0; li < n_lanes; li++) {
      const Fiber *lead = &lanes[li];
      if (lead->state != FIBER_WARP || (done >> li & 1u))
        continue;
      if (!(lead->mask >> li & 1u))
        die ("a warp intrinsic's mask does not name the calling lane");
      unsigned group = 0;
      bool ready = true;
      for (int lj = 0; lj < n_lanes; lj++) {
        const Fiber *o = &lanes[lj];
        if (!(lead->mask >> lj & 1u) || o->state == FIBER_DONE)
          continue;
        if (o->state != FIBER_WARP || o->mask != lead->mask) {
          ready = false;
          break;
        }
        if (o->op != lead->op && !(o->op >= OMNI_EMU_OP_SHFL_IDX && o->op <= OMNI_EMU_OP_SHFL_XOR
                && lead->op >= OMNI_EMU_OP_SHFL_IDX && lead->op <= OMNI_EMU_OP_SHFL_XOR))
          die ("lanes of one warp met different warp intrinsics with the same mask");
        group |= 1u << lj;
      }
      done |= group;
      if (!ready)
        continue;
      complete_warp_op (s, w, group, lead);
      progress = true;
    }
  }
  return progress;
}

/* Releases the block barrier if every live thread waits at it. */
bool
resolve_barrier (Sched *s)
{
  int waiting = 0, count = 0;
  for (int i = 0; i < s->n; i++) {
    if (s->fibers[i].state == FIBER_BARRIER) {
      waiting++;
      count += s->fibers[i].pred != 0;
    }
  }
  if (waiting == 0 || waiting != s->live)
    return false;
  for (int i = 0; i < s->n; i++) {
    if (s->fibers[i].state == FIBER_BARRIER) {
      s->fibers[i].result = (uint64_t) count;
      s->fibers[i].state = FIBER_RUNNABLE;
    }
  }
  return true;
}

[[noreturn]] void
deadlock (Sched *s)
{
  int at_barrier = 0, at_warp = 0, first_warp = -1;
  for (int i = 0; i < s->n; i++) {
    at_barrier += s->fibers[i].state == FIBER_BARRIER;
    if (s->fibers[i].state == FIBER_WARP) {
      at_warp++;
      if (first_warp < 0)
        first_warp = i;
    }
  }
  fprintf (stderr, "omni-emu: deadlock in block (%u,%u,%u): %d of %d live threads at "
      "__syncthreads, %d at a warp intrinsic (first: thread %d, mask 0x%08x)\n",
      omni_emu_cur_block.block_idx.x, omni_emu_cur_block.block_idx.y,
      omni_emu_cur_block.block_idx.z, at_barrier, s->live, at_warp, first_warp,
      first_warp >= 0 ? s->fibers[first_warp].mask : 0u);
  abort ();
}

bool
forward_pass (int pass)
{
  if (schedule_mode < 0) {
    const char *e = getenv ("OMNI_EMU_SCHEDULE");
    int m = OMNI_EMU_SCHEDULE_FORWARD;
    if (e && strcmp (e, "alternate") == 0)
      m = OMNI_EMU_SCHEDULE_ALTERNATE;
    else if (e && strcmp (e, "reverse") == 0)
      m = OMNI_EMU_SCHEDULE_REVERSE;
    __atomic_store_n (&schedule_mode, m, __ATOMIC_RELAXED);
  }
  int mode = __atomic_load_n (&schedule_mode, __ATOMIC_RELAXED);
  if (mode == OMNI_EMU_SCHEDULE_FORWARD)
    return true;
  if (mode == OMNI_EMU_SCHEDULE_REVERSE)
    return false;
  return pass % 2 == 0;
}

void
run_block (Sched *s)
{
  for (int i = 0; i < s->n; i++) {
    Fiber *f = &s->fibers[i];
    f->state = FIBER_RUNNABLE;
    f->started = false;
#ifdef OMNI_EMU_ASAN
    ASAN_UNPOISON_MEMORY_REGION (f->stack, s->stack_size);
#endif
    f->ctx.uc_stack.ss_sp = f->stack;
    f->ctx.uc_stack.ss_size = s->stack_size;
    f->ctx.uc_link = NULL;
    makecontext (&f->ctx, fiber_entry, 0);
  }
  s->live = s->n;
  for (int pass = 0; s->live > 0; pass++) {
    bool fwd = forward_pass (pass);
    for (int k = 0; k < s->n; k++) {
      Fiber *f = &s->fibers[fwd ? k : s->n - 1 - k];
      if (f->state == FIBER_RUNNABLE)
        fiber_resume (s, f);
    }
    if (s->live == 0)
      break;
    if (!resolve_warps (s) && !resolve_barrier (s))
      deadlock (s);
  }
}

} /* namespace */

extern "C" void
omni_emu_set_schedule (OmniEmuSchedule schedule)
{
  __atomic_store_n (&schedule_mode, (int) schedule, __ATOMIC_RELAXED);
}

extern "C" int
omni_emu_syncthreads (int pred)
{
  Fiber *f = current_fiber ("__syncthreads");
  f->state = FIBER_BARRIER;
  f->pred = pred;
  fiber_yield (f);
  return (int) f->result;
}

extern "C" int
omni_emu_live_threads (void)
{
  current_fiber ("__syncthreads_and");
  return sched.live;
}

extern "C" uint64_t
omni_emu_warp_op (int op, unsigned mask, uint64_t value, int arg, int width)
{
  Fiber *f = current_fiber ("a warp intrinsic");
  if (width < 1 || width > 32 || (width & (width - 1)))
    die ("shuffle width must be a power of two <= 32");
  f->state = FIBER_WARP;
  f->op = op;
  f->mask = mask;
  f->value = value;
  f->arg = arg;
  f->width = width;
  fiber_yield (f);
  return f->result;
}

extern "C" long long
omni_emu_clock64 (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (long long) ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Runs every block of a grid on this OS thread (declared in emu-runtime.cpp). */
void omni_emu_run_grid (dim3 grid, dim3 block, size_t smem, void (*run) (void *), void *ctx);

void
omni_emu_run_grid (dim3 grid, dim3 block, size_t smem, void (*run) (void *), void *ctx)
{
  Sched *s = &sched;
  if (s->cur)
    die ("a kernel launched another kernel (dynamic parallelism is not emulated)");
  int n = (int) (block.x * block.y * block.z);
  ensure_fibers (s, n);
  if (smem > s->smem_cap) {
    free (s->smem);
    s->smem = (unsigned char *) aligned_alloc (128, (smem + 127) / 128 * 128);
    if (!s->smem)
      die ("out of memory for dynamic shared memory");
    s->smem_cap = smem;
  }
  for (int i = 0; i < n; i++) {
    uint3 t;
    t.x = (unsigned) i % block.x;
    t.y = (unsigned) i / block.x % block.y;
    t.z = (unsigned) i / (block.x * block.y);
    s->fibers[i].pub.thread_idx = t;
  }
  s->n = n;
  s->run = run;
  s->run_ctx = ctx;
  OmniEmuBlock saved = omni_emu_cur_block;
  omni_emu_cur_block.block_dim = block;
  omni_emu_cur_block.grid_dim = grid;
  omni_emu_cur_block.dynamic_smem = smem ? s->smem : NULL;
  for (unsigned z = 0; z < grid.z; z++)
    for (unsigned y = 0; y < grid.y; y++)
      for (unsigned x = 0; x < grid.x; x++) {
        omni_emu_cur_block.block_idx = make_uint3 (x, y, z);
        if (smem)
          memset (s->smem, 0xff, smem);
        run_block (s);
      }
  omni_emu_cur_block = saved;
}
