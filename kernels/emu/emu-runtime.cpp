/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The subset of the CUDA runtime API the backend calls, on the CPU, with the
 * signatures of the real cuda_runtime_api.h so the same host code links
 * against either.
 *
 * Device memory is host memory (256-byte aligned), counted against a limit
 * (env OMNI_EMU_MEMORY_MB, default 8192). Every stream runs its work in order
 * at the time it is queued (synchronously). Capture records launches, copies,
 * memsets, event records and library calls into a graph that cudaGraphLaunch
 * replays in order. As on a GPU, calls that are illegal while a stream
 * captures (cudaMalloc, synchronous copies, synchronising the capturing
 * stream) fail with cudaErrorStreamCaptureUnsupported and invalidate the
 * capture, so the backend cannot pass here and fail on hardware. */
#include "emu-device.h"
#include "emu-internal.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

void omni_emu_run_grid (dim3 grid, dim3 block, size_t smem, void (*run) (void *), void *ctx);

/* ---- graphs, streams, events ---- */

enum NodeKind { NODE_KERNEL, NODE_HOST, NODE_MEMCPY, NODE_MEMSET, NODE_EVENT };

struct Node {
  int kind;
  dim3 grid, block;
  size_t smem;
  void (*run) (void *);
  void *ctx;
  void (*destroy) (void *);
  void *dst;
  const void *src;
  size_t size;
  int value;
  cudaEvent_t event;
};

/* Recorded work, shared by a graph and the execs made from it. */
struct NodeList {
  Node *nodes;
  int n, cap;
  int refs;
};

struct CUgraph_st {
  NodeList *list;
};

struct CUgraphExec_st {
  NodeList *list;
};

struct CUstream_st {
  int capturing;               /* cudaStreamCaptureStatus */
  int mode;                    /* cudaStreamCaptureMode */
  NodeList *capture;
};

struct CUevent_st {
  int recorded;
  double ms;
};

namespace {

pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
thread_local cudaError_t last_error = cudaSuccess;
CUstream_st default_stream;

/* Device allocations sorted by address (for cudaFree and copy checks). */
struct Alloc {
  unsigned char *p;
  size_t size;
};
Alloc *allocs;
int n_allocs, cap_allocs;
size_t used_bytes;
size_t limit_bytes;

/* Streams currently capturing in a mode other than relaxed. */
CUstream_st *capturing[64];
int n_capturing;

struct FuncAttr {
  const void *fn;
  int max_dynamic_smem;
};
FuncAttr func_attrs[256];
int n_func_attrs;

const size_t SMEM_DEFAULT_MAX = 48 * 1024;
const size_t SMEM_OPTIN_MAX = 227 * 1024;

cudaError_t
fail (cudaError_t e)
{
  if (e != cudaSuccess)
    last_error = e;
  return e;
}

size_t
memory_limit ()
{
  if (!limit_bytes) {
    const char *s = getenv ("OMNI_EMU_MEMORY_MB");
    long mb = s ? atol (s) : 0;
    limit_bytes = (size_t) (mb > 0 ? mb : 8192) << 20;
  }
  return limit_bytes;
}

CUstream_st *
stream_of (cudaStream_t s)
{
  if (s == NULL || s == cudaStreamLegacy || s == cudaStreamPerThread)
    return &default_stream;
  return s;
}

double
now_ms ()
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

void
list_unref (NodeList *l)
{
  if (!l || --l->refs > 0)
    return;
  for (int i = 0; i < l->n; i++)
    if (l->nodes[i].destroy)
      l->nodes[i].destroy (l->nodes[i].ctx);
  free (l->nodes);
  free (l);
}

void
list_append (NodeList *l, const Node *node)
{
  if (l->n == l->cap) {
    int cap = l->cap ? l->cap * 2 : 16;
    Node *nodes = (Node *) realloc (l->nodes, sizeof (Node) * cap);
    if (!nodes) {
      fprintf (stderr, "omni-emu: out of memory recording a graph\n");
      abort ();
    }
    l->nodes = nodes;
    l->cap = cap;
  }
  l->nodes[l->n++] = *node;
}

/* A call that is illegal during capture: invalidates the unsafe captures
 * and says so (the caller returns cudaErrorStreamCaptureUnsupported). */
bool
capture_forbids ()
{
  pthread_mutex_lock (&lock);
  bool any = n_capturing > 0;
  for (int i = 0; i < n_capturing; i++)
    capturing[i]->capturing = cudaStreamCaptureStatusInvalidated;
  pthread_mutex_unlock (&lock);
  return any;
}

/* Records @node if @s captures (then true), else false. */
bool
record (CUstream_st *s, const Node *node)
{
  if (s->capturing == cudaStreamCaptureStatusNone)
    return false;
  if (s->capturing == cudaStreamCaptureStatusActive)
    list_append (s->capture, node);
  else if (node->destroy)
    node->destroy (node->ctx);
  return true;
}

void
run_node (const Node *n)
{
  switch (n->kind) {
  case NODE_KERNEL:
    omni_emu_run_grid (n->grid, n->block, n->smem, n->run, n->ctx);
    break;
  case NODE_HOST:
    n->run (n->ctx);
    break;
  case NODE_MEMCPY:
    memmove (n->dst, n->src, n->size);
    break;
  case NODE_MEMSET:
    memset (n->dst, n->value, n->size);
    break;
  case NODE_EVENT:
    n->event->recorded = 1;
    n->event->ms = now_ms ();
    break;
  }
}

/* Index of the allocation holding [p, p + size) or -1. */
int
find_alloc (const void *p, size_t size)
{
  const unsigned char *q = (const unsigned char *) p;
  int lo = 0, hi = n_allocs - 1;
  while (lo <= hi) {
    int mid = (lo + hi) / 2;
    if (q < allocs[mid].p)
      hi = mid - 1;
    else if (q >= allocs[mid].p + allocs[mid].size && !(q == allocs[mid].p && size == 0))
      lo = mid + 1;
    else
      return (size_t) (q - allocs[mid].p) + size <= allocs[mid].size ? mid : -1;
  }
  return -1;
}

bool
is_device_range (const void *p, size_t size)
{
  pthread_mutex_lock (&lock);
  bool ok = find_alloc (p, size) >= 0;
  pthread_mutex_unlock (&lock);
  return ok;
}

/* Whether a copy of @kind between @dst and @src names device memory where
 * the kind says it does. */
bool
copy_ok (void *dst, const void *src, size_t n, cudaMemcpyKind kind)
{
  if (n == 0 || kind == cudaMemcpyDefault || kind == cudaMemcpyHostToHost)
    return kind >= cudaMemcpyHostToHost && kind <= cudaMemcpyDefault;
  bool dst_dev = kind == cudaMemcpyHostToDevice || kind == cudaMemcpyDeviceToDevice;
  bool src_dev = kind == cudaMemcpyDeviceToHost || kind == cudaMemcpyDeviceToDevice;
  if (kind < cudaMemcpyHostToHost || kind > cudaMemcpyDefault)
    return false;
  return (!dst_dev || is_device_range (dst, n)) && (!src_dev || is_device_range (src, n));
}

} /* namespace */

/* ---- launches (called by omni_emu_launch in emu-device.h) ---- */

static cudaError_t
launch_check (dim3 grid, dim3 block, size_t smem, const void *fn)
{
  if (grid.x == 0 || grid.y == 0 || grid.z == 0 || block.x == 0 || block.y == 0
      || block.z == 0 || block.x > 1024 || block.y > 1024 || block.z > 64
      || (size_t) block.x * block.y * block.z > 1024 || grid.x > 0x7fffffffu
      || grid.y > 65535 || grid.z > 65535)
    return cudaErrorInvalidConfiguration;
  size_t max_smem = SMEM_OPTIN_MAX;
  if (fn) {
    max_smem = SMEM_DEFAULT_MAX;
    pthread_mutex_lock (&lock);
    for (int i = 0; i < n_func_attrs; i++)
      if (func_attrs[i].fn == fn)
        max_smem = (size_t) func_attrs[i].max_dynamic_smem;
    pthread_mutex_unlock (&lock);
  }
  if (smem > max_smem)
    return cudaErrorInvalidValue;
  return cudaSuccess;
}

static cudaError_t
launch (const void *fn, dim3 grid, dim3 block, size_t smem, cudaStream_t stream,
    void (*run) (void *), void *ctx, void *(*clone) (const void *), void (*destroy) (void *))
{
  cudaError_t e = launch_check (grid, block, smem, fn);
  if (e != cudaSuccess)
    return fail (e);
  CUstream_st *s = stream_of (stream);
  if (s->capturing != cudaStreamCaptureStatusNone) {
    Node node = {};
    node.kind = NODE_KERNEL;
    node.grid = grid;
    node.block = block;
    node.smem = smem;
    node.run = run;
    node.ctx = clone (ctx);
    node.destroy = destroy;
    record (s, &node);
    return cudaSuccess;
  }
  omni_emu_run_grid (grid, block, smem, run, ctx);
  return cudaSuccess;
}

extern "C" cudaError_t
omni_emu_launch_raw (dim3 grid, dim3 block, size_t smem, cudaStream_t stream,
    void (*run) (void *), void *ctx, void *(*clone) (const void *), void (*destroy) (void *))
{
  return launch (NULL, grid, block, smem, stream, run, ctx, clone, destroy);
}

extern "C" cudaError_t
omni_emu_launch_fn_raw (const void *fn, dim3 grid, dim3 block, size_t smem,
    cudaStream_t stream, void (*run) (void *), void *ctx, void *(*clone) (const void *),
    void (*destroy) (void *))
{
  return launch (fn, grid, block, smem, stream, run, ctx, clone, destroy);
}

static void *
clone_bytes (const void *ctx, size_t size)
{
  void *c = malloc (size ? size : 1);
  if (!c) {
    fprintf (stderr, "omni-emu: out of memory recording a graph\n");
    abort ();
  }
  memcpy (c, ctx, size);
  return c;
}

extern "C" cudaError_t
omni_emu_stream_enqueue (cudaStream_t stream, void (*run) (void *), const void *ctx,
    size_t ctx_size)
{
  CUstream_st *s = stream_of (stream);
  if (s->capturing != cudaStreamCaptureStatusNone) {
    Node node = {};
    node.kind = NODE_HOST;
    node.run = run;
    node.ctx = clone_bytes (ctx, ctx_size);
    node.destroy = free;
    record (s, &node);
    return cudaSuccess;
  }
  run ((void *) ctx);
  return cudaSuccess;
}

/* ---- errors ---- */

extern "C" cudaError_t
cudaGetLastError (void)
{
  cudaError_t e = last_error;
  last_error = cudaSuccess;
  return e;
}

extern "C" cudaError_t
cudaPeekAtLastError (void)
{
  return last_error;
}

extern "C" const char *
cudaGetErrorString (cudaError_t error)
{
  switch (error) {
  case cudaSuccess: return "no error";
  case cudaErrorInvalidValue: return "invalid argument";
  case cudaErrorMemoryAllocation: return "out of memory";
  case cudaErrorInvalidConfiguration: return "invalid configuration argument";
  case cudaErrorInvalidDevice: return "invalid device ordinal";
  case cudaErrorInvalidDevicePointer: return "invalid device pointer";
  case cudaErrorInvalidResourceHandle: return "invalid resource handle";
  case cudaErrorNotReady: return "device not ready";
  case cudaErrorStreamCaptureUnsupported: return "operation not permitted when stream is capturing";
  case cudaErrorStreamCaptureInvalidated: return "operation failed due to a previous error during capture";
  case cudaErrorStreamCaptureWrongThread: return "capture was not ended in the thread that began it";
  case cudaErrorIllegalState: return "the operation is not permitted in the current state";
  default: return "unrecognized error code";
  }
}

/* ---- devices ---- */

extern "C" cudaError_t
cudaGetDeviceCount (int *count)
{
  if (!count)
    return fail (cudaErrorInvalidValue);
  *count = 1;
  return cudaSuccess;
}

extern "C" cudaError_t
cudaSetDevice (int device)
{
  return device == 0 ? cudaSuccess : fail (cudaErrorInvalidDevice);
}

extern "C" cudaError_t
cudaGetDevice (int *device)
{
  if (!device)
    return fail (cudaErrorInvalidValue);
  *device = 0;
  return cudaSuccess;
}

extern "C" cudaError_t
cudaGetDeviceProperties (struct cudaDeviceProp *prop, int device)
{
  if (!prop)
    return fail (cudaErrorInvalidValue);
  if (device != 0)
    return fail (cudaErrorInvalidDevice);
  memset (prop, 0, sizeof *prop);
  strcpy (prop->name, "omni-emu");
  prop->totalGlobalMem = memory_limit ();
  prop->sharedMemPerBlock = SMEM_DEFAULT_MAX;
  prop->sharedMemPerBlockOptin = SMEM_OPTIN_MAX;
  prop->sharedMemPerMultiprocessor = 228 * 1024;
  prop->regsPerBlock = 65536;
  prop->regsPerMultiprocessor = 65536;
  prop->warpSize = 32;
  prop->memPitch = (size_t) 1 << 31;
  prop->maxThreadsPerBlock = 1024;
  prop->maxThreadsDim[0] = 1024;
  prop->maxThreadsDim[1] = 1024;
  prop->maxThreadsDim[2] = 64;
  prop->maxGridSize[0] = 0x7fffffff;
  prop->maxGridSize[1] = 65535;
  prop->maxGridSize[2] = 65535;
  prop->totalConstMem = 65536;
  prop->major = 9;
  prop->minor = 0;
  prop->multiProcessorCount = 132;
  prop->maxThreadsPerMultiProcessor = 2048;
  prop->maxBlocksPerMultiProcessor = 32;
  prop->l2CacheSize = 50 * 1024 * 1024;
  prop->memoryBusWidth = 5120;
  prop->concurrentKernels = 1;
  prop->asyncEngineCount = 2;
  prop->unifiedAddressing = 1;
  prop->streamPrioritiesSupported = 1;
  prop->memoryPoolsSupported = 1;
  return cudaSuccess;
}

extern "C" cudaError_t
cudaDeviceSynchronize (void)
{
  if (capture_forbids ())
    return fail (cudaErrorStreamCaptureUnsupported);
  return cudaSuccess;
}

extern "C" cudaError_t
cudaFuncSetAttribute (const void *func, enum cudaFuncAttribute attr, int value)
{
  if (!func)
    return fail (cudaErrorInvalidDeviceFunction);
  if (attr != cudaFuncAttributeMaxDynamicSharedMemorySize)
    return cudaSuccess;  /* hints (carveout, cluster...) change nothing here */
  if (value < 0 || (size_t) value > SMEM_OPTIN_MAX)
    return fail (cudaErrorInvalidValue);
  pthread_mutex_lock (&lock);
  int i = 0;
  while (i < n_func_attrs && func_attrs[i].fn != func)
    i++;
  cudaError_t e = cudaSuccess;
  if (i == n_func_attrs && i == (int) (sizeof func_attrs / sizeof func_attrs[0]))
    e = cudaErrorMemoryAllocation;
  else {
    func_attrs[i].fn = func;
    func_attrs[i].max_dynamic_smem = value;
    if (i == n_func_attrs)
      n_func_attrs++;
  }
  pthread_mutex_unlock (&lock);
  return fail (e);
}

/* ---- memory ---- */

extern "C" cudaError_t
cudaMalloc (void **dev_ptr, size_t size)
{
  if (!dev_ptr)
    return fail (cudaErrorInvalidValue);
  *dev_ptr = NULL;
  if (capture_forbids ())
    return fail (cudaErrorStreamCaptureUnsupported);
  if (size == 0)
    return cudaSuccess;
  pthread_mutex_lock (&lock);
  cudaError_t e = cudaSuccess;
  unsigned char *p = NULL;
  if (size > memory_limit () - used_bytes)
    e = cudaErrorMemoryAllocation;
  else if (n_allocs == cap_allocs) {
    int cap = cap_allocs ? cap_allocs * 2 : 256;
    Alloc *a = (Alloc *) realloc (allocs, sizeof (Alloc) * cap);
    if (a) {
      allocs = a;
      cap_allocs = cap;
    } else
      e = cudaErrorMemoryAllocation;
  }
  if (e == cudaSuccess) {
    p = (unsigned char *) aligned_alloc (256, (size + 255) / 256 * 256);
    if (!p)
      e = cudaErrorMemoryAllocation;
  }
  if (e == cudaSuccess) {
    int i = n_allocs;
    while (i > 0 && allocs[i - 1].p > p) {
      allocs[i] = allocs[i - 1];
      i--;
    }
    allocs[i].p = p;
    allocs[i].size = size;
    n_allocs++;
    used_bytes += size;
    *dev_ptr = p;
  }
  pthread_mutex_unlock (&lock);
  return fail (e);
}

extern "C" cudaError_t
cudaFree (void *dev_ptr)
{
  if (!dev_ptr)
    return cudaSuccess;
  pthread_mutex_lock (&lock);
  int i = find_alloc (dev_ptr, 0);
  cudaError_t e = cudaSuccess;
  if (i < 0 || allocs[i].p != dev_ptr)
    e = cudaErrorInvalidValue;
  else {
    used_bytes -= allocs[i].size;
    free (allocs[i].p);
    memmove (&allocs[i], &allocs[i + 1], sizeof (Alloc) * (n_allocs - i - 1));
    n_allocs--;
  }
  pthread_mutex_unlock (&lock);
  return fail (e);
}

extern "C" cudaError_t
cudaMemGetInfo (size_t *free_bytes, size_t *total)
{
  if (!free_bytes || !total)
    return fail (cudaErrorInvalidValue);
  pthread_mutex_lock (&lock);
  *total = memory_limit ();
  *free_bytes = *total - used_bytes;
  pthread_mutex_unlock (&lock);
  return cudaSuccess;
}

extern "C" cudaError_t
cudaMallocHost (void **ptr, size_t size)
{
  if (!ptr)
    return fail (cudaErrorInvalidValue);
  *ptr = size ? aligned_alloc (256, (size + 255) / 256 * 256) : NULL;
  return size && !*ptr ? fail (cudaErrorMemoryAllocation) : cudaSuccess;
}

extern "C" cudaError_t
cudaFreeHost (void *ptr)
{
  free (ptr);
  return cudaSuccess;
}

static cudaError_t
memcpy_on (void *dst, const void *src, size_t count, cudaMemcpyKind kind, cudaStream_t stream)
{
  if (count && (!dst || !src))
    return fail (cudaErrorInvalidValue);
  if (!copy_ok (dst, src, count, kind))
    return fail (cudaErrorInvalidValue);
  Node node = {};
  node.kind = NODE_MEMCPY;
  node.dst = dst;
  node.src = src;
  node.size = count;
  if (!record (stream_of (stream), &node))
    run_node (&node);
  return cudaSuccess;
}

extern "C" cudaError_t
cudaMemcpy (void *dst, const void *src, size_t count, enum cudaMemcpyKind kind)
{
  if (capture_forbids ())
    return fail (cudaErrorStreamCaptureUnsupported);
  return memcpy_on (dst, src, count, kind, NULL);
}

extern "C" cudaError_t
cudaMemcpyAsync (void *dst, const void *src, size_t count, enum cudaMemcpyKind kind,
    cudaStream_t stream)
{
  return memcpy_on (dst, src, count, kind, stream);
}

static cudaError_t
memset_on (void *dev_ptr, int value, size_t count, cudaStream_t stream)
{
  if (count && !is_device_range (dev_ptr, count))
    return fail (cudaErrorInvalidValue);
  Node node = {};
  node.kind = NODE_MEMSET;
  node.dst = dev_ptr;
  node.value = value;
  node.size = count;
  if (!record (stream_of (stream), &node))
    run_node (&node);
  return cudaSuccess;
}

extern "C" cudaError_t
cudaMemset (void *dev_ptr, int value, size_t count)
{
  if (capture_forbids ())
    return fail (cudaErrorStreamCaptureUnsupported);
  return memset_on (dev_ptr, value, count, NULL);
}

extern "C" cudaError_t
cudaMemsetAsync (void *dev_ptr, int value, size_t count, cudaStream_t stream)
{
  return memset_on (dev_ptr, value, count, stream);
}

/* ---- streams ---- */

extern "C" cudaError_t
cudaStreamCreate (cudaStream_t *stream)
{
  if (!stream)
    return fail (cudaErrorInvalidValue);
  *stream = (cudaStream_t) calloc (1, sizeof (CUstream_st));
  return *stream ? cudaSuccess : fail (cudaErrorMemoryAllocation);
}

extern "C" cudaError_t
cudaStreamCreateWithFlags (cudaStream_t *stream, unsigned int flags)
{
  if (flags & ~(unsigned) cudaStreamNonBlocking)
    return fail (cudaErrorInvalidValue);
  return cudaStreamCreate (stream);
}

extern "C" cudaError_t
cudaStreamDestroy (cudaStream_t stream)
{
  if (!stream || stream_of (stream) == &default_stream)
    return fail (cudaErrorInvalidResourceHandle);
  if (stream->capturing != cudaStreamCaptureStatusNone)
    return fail (cudaErrorIllegalState);
  free (stream);
  return cudaSuccess;
}

extern "C" cudaError_t
cudaStreamSynchronize (cudaStream_t stream)
{
  CUstream_st *s = stream_of (stream);
  if (s->capturing != cudaStreamCaptureStatusNone) {
    s->capturing = cudaStreamCaptureStatusInvalidated;
    return fail (cudaErrorStreamCaptureUnsupported);
  }
  return cudaSuccess;
}

extern "C" cudaError_t
cudaStreamWaitEvent (cudaStream_t stream, cudaEvent_t event, unsigned int flags)
{
  /* Work runs when queued, so every recorded event has completed. */
  (void) stream, (void) flags;
  return event ? cudaSuccess : fail (cudaErrorInvalidResourceHandle);
}

extern "C" cudaError_t
cudaStreamBeginCapture (cudaStream_t stream, enum cudaStreamCaptureMode mode)
{
  if (stream == NULL || stream == cudaStreamLegacy)
    return fail (cudaErrorStreamCaptureUnsupported);
  CUstream_st *s = stream_of (stream);
  if (s->capturing != cudaStreamCaptureStatusNone)
    return fail (cudaErrorIllegalState);
  NodeList *l = (NodeList *) calloc (1, sizeof (NodeList));
  if (!l)
    return fail (cudaErrorMemoryAllocation);
  l->refs = 1;
  pthread_mutex_lock (&lock);
  cudaError_t e = cudaSuccess;
  if (mode != cudaStreamCaptureModeRelaxed) {
    if (n_capturing == (int) (sizeof capturing / sizeof capturing[0]))
      e = cudaErrorMemoryAllocation;
    else
      capturing[n_capturing++] = s;
  }
  pthread_mutex_unlock (&lock);
  if (e != cudaSuccess) {
    free (l);
    return fail (e);
  }
  s->capture = l;
  s->mode = mode;
  s->capturing = cudaStreamCaptureStatusActive;
  return cudaSuccess;
}

extern "C" cudaError_t
cudaStreamEndCapture (cudaStream_t stream, cudaGraph_t *graph)
{
  CUstream_st *s = stream_of (stream);
  if (!graph)
    return fail (cudaErrorInvalidValue);
  *graph = NULL;
  if (s->capturing == cudaStreamCaptureStatusNone)
    return fail (cudaErrorIllegalState);
  pthread_mutex_lock (&lock);
  for (int i = 0; i < n_capturing; i++)
    if (capturing[i] == s)
      capturing[i--] = capturing[--n_capturing];
  pthread_mutex_unlock (&lock);
  bool valid = s->capturing == cudaStreamCaptureStatusActive;
  NodeList *l = s->capture;
  s->capture = NULL;
  s->capturing = cudaStreamCaptureStatusNone;
  if (!valid) {
    list_unref (l);
    return fail (cudaErrorStreamCaptureInvalidated);
  }
  cudaGraph_t g = (cudaGraph_t) calloc (1, sizeof (CUgraph_st));
  if (!g) {
    list_unref (l);
    return fail (cudaErrorMemoryAllocation);
  }
  g->list = l;
  *graph = g;
  return cudaSuccess;
}

extern "C" cudaError_t
cudaStreamIsCapturing (cudaStream_t stream, enum cudaStreamCaptureStatus *status)
{
  if (!status)
    return fail (cudaErrorInvalidValue);
  *status = (enum cudaStreamCaptureStatus) stream_of (stream)->capturing;
  return cudaSuccess;
}

/* ---- graphs ---- */

extern "C" cudaError_t
cudaGraphInstantiate (cudaGraphExec_t *exec, cudaGraph_t graph, unsigned long long flags)
{
  (void) flags;
  if (!exec || !graph)
    return fail (cudaErrorInvalidValue);
  cudaGraphExec_t x = (cudaGraphExec_t) calloc (1, sizeof (CUgraphExec_st));
  if (!x)
    return fail (cudaErrorMemoryAllocation);
  x->list = graph->list;
  x->list->refs++;
  *exec = x;
  return cudaSuccess;
}

extern "C" cudaError_t
cudaGraphLaunch (cudaGraphExec_t exec, cudaStream_t stream)
{
  if (!exec)
    return fail (cudaErrorInvalidResourceHandle);
  CUstream_st *s = stream_of (stream);
  if (s->capturing != cudaStreamCaptureStatusNone) {
    s->capturing = cudaStreamCaptureStatusInvalidated;
    return fail (cudaErrorStreamCaptureUnsupported);
  }
  for (int i = 0; i < exec->list->n; i++)
    run_node (&exec->list->nodes[i]);
  return cudaSuccess;
}

extern "C" cudaError_t
cudaGraphExecDestroy (cudaGraphExec_t exec)
{
  if (!exec)
    return fail (cudaErrorInvalidResourceHandle);
  list_unref (exec->list);
  free (exec);
  return cudaSuccess;
}

extern "C" cudaError_t
cudaGraphDestroy (cudaGraph_t graph)
{
  if (!graph)
    return fail (cudaErrorInvalidResourceHandle);
  list_unref (graph->list);
  free (graph);
  return cudaSuccess;
}

/* ---- events ---- */

extern "C" cudaError_t
cudaEventCreate (cudaEvent_t *event)
{
  if (!event)
    return fail (cudaErrorInvalidValue);
  *event = (cudaEvent_t) calloc (1, sizeof (CUevent_st));
  return *event ? cudaSuccess : fail (cudaErrorMemoryAllocation);
}

extern "C" cudaError_t
cudaEventCreateWithFlags (cudaEvent_t *event, unsigned int flags)
{
  (void) flags;  /* timing, blocking sync: all the same here */
  return cudaEventCreate (event);
}

extern "C" cudaError_t
cudaEventDestroy (cudaEvent_t event)
{
  if (!event)
    return fail (cudaErrorInvalidResourceHandle);
  free (event);
  return cudaSuccess;
}

extern "C" cudaError_t
cudaEventRecord (cudaEvent_t event, cudaStream_t stream)
{
  if (!event)
    return fail (cudaErrorInvalidResourceHandle);
  Node node = {};
  node.kind = NODE_EVENT;
  node.event = event;
  if (!record (stream_of (stream), &node))
    run_node (&node);
  return cudaSuccess;
}

extern "C" cudaError_t
cudaEventQuery (cudaEvent_t event)
{
  return event ? cudaSuccess : fail (cudaErrorInvalidResourceHandle);
}

extern "C" cudaError_t
cudaEventSynchronize (cudaEvent_t event)
{
  return event ? cudaSuccess : fail (cudaErrorInvalidResourceHandle);
}

extern "C" cudaError_t
cudaEventElapsedTime (float *ms, cudaEvent_t start, cudaEvent_t end)
{
  if (!ms)
    return fail (cudaErrorInvalidValue);
  if (!start || !end || !start->recorded || !end->recorded)
    return fail (cudaErrorInvalidResourceHandle);
  *ms = (float) (end->ms - start->ms);
  return cudaSuccess;
}

/* ---- helpers for the library emulations ---- */

float
omni_emu_load_f32 (const void *p, cudaDataType_t type, size_t i)
{
  switch (type) {
  case CUDA_R_16BF: return __bfloat162float (((const __nv_bfloat16 *) p)[i]);
  case CUDA_R_16F: return __half2float (((const __half *) p)[i]);
  default: return ((const float *) p)[i];
  }
}

void
omni_emu_store_f32 (void *p, cudaDataType_t type, size_t i, float v)
{
  switch (type) {
  case CUDA_R_16BF: ((__nv_bfloat16 *) p)[i] = __float2bfloat16_rn (v); break;
  case CUDA_R_16F: ((__half *) p)[i] = __float2half_rn (v); break;
  default: ((float *) p)[i] = v; break;
  }
}

namespace {
struct Scratch {
  void *p[4];
  size_t size[4];
  ~Scratch () { for (int i = 0; i < 4; i++) free (p[i]); }
};
thread_local Scratch scratch;
}

void *
omni_emu_scratch (int slot, size_t bytes)
{
  if (bytes > scratch.size[slot]) {
    free (scratch.p[slot]);
    scratch.p[slot] = malloc (bytes);
    if (!scratch.p[slot]) {
      fprintf (stderr, "omni-emu: out of memory for %zu bytes of scratch\n", bytes);
      abort ();
    }
    scratch.size[slot] = bytes;
  }
  return scratch.p[slot];
}
