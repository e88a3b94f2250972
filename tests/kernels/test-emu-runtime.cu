/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The emulated CUDA runtime: memory, copies, streams, events, errors, the
 * memory limit (main sets OMNI_EMU_MEMORY_MB=64 before the first cudaMalloc
 * reads it), and graph
 * capture + replay equal to direct execution. Compiled through the emulator. */
#include <glib.h>
#include <cublasLt.h>

__global__ void
axpy_kernel (float a, const float *x, float *y, int n)
{
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n)
    y[i] = a * x[i] + y[i];
}

static cudaError_t
launch_axpy (float a, const float *x, float *y, int n, cudaStream_t s)
{
  omni_emu_launch (dim3 ((n + 63) / 64), dim3 (64), 0, s, [=] () { axpy_kernel (a, x, y, n); });
  return cudaGetLastError ();
}

static void
test_memory (void)
{
  float *d = NULL, h[100], back[100];
  for (int i = 0; i < 100; i++)
    h[i] = (float) i;
  g_assert_cmpint (cudaMalloc ((void **) &d, sizeof h), ==, cudaSuccess);
  g_assert_nonnull (d);
  g_assert_cmpuint ((uintptr_t) d % 256, ==, 0);
  g_assert_cmpint (cudaMemcpy (d, h, sizeof h, cudaMemcpyHostToDevice), ==, cudaSuccess);
  g_assert_cmpint (cudaMemset (d + 10, 0, 5 * sizeof (float)), ==, cudaSuccess);
  g_assert_cmpint (cudaMemcpy (back, d, sizeof h, cudaMemcpyDeviceToHost), ==, cudaSuccess);
  for (int i = 0; i < 100; i++)
    g_assert_cmpfloat (back[i], ==, i >= 10 && i < 15 ? 0.0f : (float) i);
  /* device to device within one allocation, and the default kind */
  g_assert_cmpint (cudaMemcpy (d, d + 50, 10 * sizeof (float), cudaMemcpyDeviceToDevice), ==,
      cudaSuccess);
  g_assert_cmpint (cudaMemcpy (back, d, 4, cudaMemcpyDefault), ==, cudaSuccess);
  g_assert_cmpfloat (back[0], ==, 50.0f);
  /* a host pointer where the kind says device, or a copy past the end */
  g_assert_cmpint (cudaMemcpy (h, back, 4, cudaMemcpyHostToDevice), ==, cudaErrorInvalidValue);
  g_assert_cmpint (cudaMemcpy (back, d + 90, 11 * sizeof (float), cudaMemcpyDeviceToHost), ==,
      cudaErrorInvalidValue);
  g_assert_cmpint (cudaMemset (h, 0, 4), ==, cudaErrorInvalidValue);
  g_assert_cmpint (cudaGetLastError (), ==, cudaErrorInvalidValue);
  /* freeing an interior pointer or twice */
  g_assert_cmpint (cudaFree (d + 1), ==, cudaErrorInvalidValue);
  g_assert_cmpint (cudaFree (d), ==, cudaSuccess);
  g_assert_cmpint (cudaFree (d), ==, cudaErrorInvalidValue);
  g_assert_cmpint (cudaFree (NULL), ==, cudaSuccess);
  cudaGetLastError ();
  void *pinned = NULL;
  g_assert_cmpint (cudaMallocHost (&pinned, 1000), ==, cudaSuccess);
  g_assert_nonnull (pinned);
  g_assert_cmpint (cudaFreeHost (pinned), ==, cudaSuccess);
}

static void
test_memory_limit (void)
{
  size_t free_b, total;
  g_assert_cmpint (cudaMemGetInfo (&free_b, &total), ==, cudaSuccess);
  g_assert_cmpuint (total, ==, (size_t) 64 << 20);
  void *a = NULL, *b = NULL, *c = NULL;
  g_assert_cmpint (cudaMalloc (&a, 40 << 20), ==, cudaSuccess);
  g_assert_cmpint (cudaMalloc (&b, 30 << 20), ==, cudaErrorMemoryAllocation);
  g_assert_null (b);
  g_assert_cmpint (cudaGetLastError (), ==, cudaErrorMemoryAllocation);
  g_assert_cmpint (cudaMalloc (&c, 20 << 20), ==, cudaSuccess);
  g_assert_cmpint (cudaMemGetInfo (&free_b, &total), ==, cudaSuccess);
  g_assert_cmpuint (free_b, ==, (size_t) 4 << 20);
  cudaFree (a);
  cudaFree (c);
  g_assert_cmpint (cudaMalloc (&b, 60 << 20), ==, cudaSuccess);
  cudaFree (b);
  cudaDeviceProp prop;
  g_assert_cmpint (cudaGetDeviceProperties (&prop, 0), ==, cudaSuccess);
  g_assert_cmpstr (prop.name, ==, "omni-emu");
  g_assert_cmpint (prop.warpSize, ==, 32);
  g_assert_cmpuint (prop.totalGlobalMem, ==, (size_t) 64 << 20);
  g_assert_cmpint (cudaGetDeviceProperties (&prop, 1), ==, cudaErrorInvalidDevice);
  int count = 0, dev = -1;
  g_assert_cmpint (cudaGetDeviceCount (&count), ==, cudaSuccess);
  g_assert_cmpint (count, ==, 1);
  g_assert_cmpint (cudaSetDevice (0), ==, cudaSuccess);
  g_assert_cmpint (cudaGetDevice (&dev), ==, cudaSuccess);
  g_assert_cmpint (dev, ==, 0);
  g_assert_cmpint (cudaSetDevice (1), ==, cudaErrorInvalidDevice);
  g_assert_cmpstr (cudaGetErrorString (cudaErrorMemoryAllocation), ==, "out of memory");
  cudaGetLastError ();
}

static void
test_stream_order_events (void)
{
  const int n = 1000;
  cudaStream_t s;
  cudaEvent_t e0, e1;
  float *x, *y, *h = g_new (float, n);
  g_assert_cmpint (cudaStreamCreate (&s), ==, cudaSuccess);
  g_assert_cmpint (cudaEventCreate (&e0), ==, cudaSuccess);
  g_assert_cmpint (cudaEventCreate (&e1), ==, cudaSuccess);
  float ms;
  g_assert_cmpint (cudaEventElapsedTime (&ms, e0, e1), ==, cudaErrorInvalidResourceHandle);
  g_assert_cmpint (cudaGetLastError (), ==, cudaErrorInvalidResourceHandle);
  g_assert_cmpint (cudaMalloc ((void **) &x, n * 4), ==, cudaSuccess);
  g_assert_cmpint (cudaMalloc ((void **) &y, n * 4), ==, cudaSuccess);
  for (int i = 0; i < n; i++)
    h[i] = (float) i;
  /* upload, 3 axpys, download, all queued on one stream: order matters */
  g_assert_cmpint (cudaEventRecord (e0, s), ==, cudaSuccess);
  g_assert_cmpint (cudaMemcpyAsync (x, h, n * 4, cudaMemcpyHostToDevice, s), ==, cudaSuccess);
  g_assert_cmpint (cudaMemsetAsync (y, 0, n * 4, s), ==, cudaSuccess);
  for (int r = 1; r <= 3; r++)
    g_assert_cmpint (launch_axpy ((float) r, x, y, n, s), ==, cudaSuccess);
  g_assert_cmpint (cudaMemcpyAsync (h, y, n * 4, cudaMemcpyDeviceToHost, s), ==, cudaSuccess);
  g_assert_cmpint (cudaEventRecord (e1, s), ==, cudaSuccess);
  g_assert_cmpint (cudaStreamSynchronize (s), ==, cudaSuccess);
  g_assert_cmpint (cudaEventSynchronize (e1), ==, cudaSuccess);
  g_assert_cmpint (cudaEventElapsedTime (&ms, e0, e1), ==, cudaSuccess);
  g_assert_cmpfloat (ms, >=, 0.0f);
  for (int i = 0; i < n; i++)
    g_assert_cmpfloat (h[i], ==, 6.0f * i);
  g_assert_cmpint (cudaDeviceSynchronize (), ==, cudaSuccess);
  cudaEventDestroy (e0);
  cudaEventDestroy (e1);
  cudaStreamDestroy (s);
  cudaFree (x);
  cudaFree (y);
  g_free (h);
}

/* One "step" as the backend does it: upload the inputs from pinned memory,
 * a kernel, a cuBLASLt matmul, a memset, another kernel. */
struct Step {
  int n;
  float *pinned;          /* host inputs, changed between replays */
  float *x, *y, *w, *z;   /* device */
  cublasLtHandle_t lt;
  cublasLtMatmulDesc_t desc;
  cublasLtMatrixLayout_t lw, lx, lz;
};

static void
step_enqueue (Step *st, cudaStream_t s)
{
  int n = st->n;
  float one = 1.0f, zero = 0.0f;
  g_assert_cmpint (cudaMemcpyAsync (st->x, st->pinned, n * 4, cudaMemcpyHostToDevice, s), ==,
      cudaSuccess);
  g_assert_cmpint (cudaMemsetAsync (st->y, 0, n * 4, s), ==, cudaSuccess);
  g_assert_cmpint (launch_axpy (2.0f, st->x, st->y, n, s), ==, cudaSuccess);
  /* z (n x 1) = w (n x n) . y */
  g_assert_cmpint (cublasLtMatmul (st->lt, st->desc, &one, st->w, st->lw, st->y, st->lx, &zero,
          st->z, st->lz, st->z, st->lz, NULL, NULL, 0, s), ==, CUBLAS_STATUS_SUCCESS);
  g_assert_cmpint (launch_axpy (1.0f, st->x, st->z, n, s), ==, cudaSuccess);
}

static void
test_graph_replay (void)
{
  const int n = 37;
  Step st;
  cudaStream_t s;
  st.n = n;
  g_assert_cmpint (cudaStreamCreate (&s), ==, cudaSuccess);
  g_assert_cmpint (cudaMallocHost ((void **) &st.pinned, n * 4), ==, cudaSuccess);
  g_assert_cmpint (cudaMalloc ((void **) &st.x, n * 4), ==, cudaSuccess);
  g_assert_cmpint (cudaMalloc ((void **) &st.y, n * 4), ==, cudaSuccess);
  g_assert_cmpint (cudaMalloc ((void **) &st.z, n * 4), ==, cudaSuccess);
  g_assert_cmpint (cudaMalloc ((void **) &st.w, n * n * 4), ==, cudaSuccess);
  float *hw = g_new (float, n * n);
  for (int i = 0; i < n * n; i++)
    hw[i] = (float) ((i * 37) % 11) * 0.125f - 0.5f;
  g_assert_cmpint (cudaMemcpy (st.w, hw, n * n * 4, cudaMemcpyHostToDevice), ==, cudaSuccess);
  g_assert_cmpint (cublasLtCreate (&st.lt), ==, CUBLAS_STATUS_SUCCESS);
  g_assert_cmpint (cublasLtMatmulDescCreate (&st.desc, CUBLAS_COMPUTE_32F, CUDA_R_32F), ==,
      CUBLAS_STATUS_SUCCESS);
  g_assert_cmpint (cublasLtMatrixLayoutCreate (&st.lw, CUDA_R_32F, n, n, n), ==, CUBLAS_STATUS_SUCCESS);
  g_assert_cmpint (cublasLtMatrixLayoutCreate (&st.lx, CUDA_R_32F, n, 1, n), ==, CUBLAS_STATUS_SUCCESS);
  g_assert_cmpint (cublasLtMatrixLayoutCreate (&st.lz, CUDA_R_32F, n, 1, n), ==, CUBLAS_STATUS_SUCCESS);

  /* direct execution for three different inputs */
  float direct[3][n], replay[3][n];
  for (int r = 0; r < 3; r++) {
    for (int i = 0; i < n; i++)
      st.pinned[i] = (float) (i + r * 3) * 0.25f;
    step_enqueue (&st, s);
    g_assert_cmpint (cudaMemcpyAsync (direct[r], st.z, n * 4, cudaMemcpyDeviceToHost, s), ==, cudaSuccess);
    g_assert_cmpint (cudaStreamSynchronize (s), ==, cudaSuccess);
  }

  /* capture once: nothing runs while capturing */
  float sentinel = -12345.0f;
  g_assert_cmpint (cudaMemcpy (st.z, &sentinel, 4, cudaMemcpyHostToDevice), ==, cudaSuccess);
  cudaGraph_t graph;
  cudaGraphExec_t exec;
  cudaStreamCaptureStatus status;
  g_assert_cmpint (cudaStreamBeginCapture (s, cudaStreamCaptureModeGlobal), ==, cudaSuccess);
  g_assert_cmpint (cudaStreamIsCapturing (s, &status), ==, cudaSuccess);
  g_assert_cmpint (status, ==, cudaStreamCaptureStatusActive);
  step_enqueue (&st, s);
  g_assert_cmpint (cudaStreamEndCapture (s, &graph), ==, cudaSuccess);
  float z0;
  g_assert_cmpint (cudaMemcpy (&z0, st.z, 4, cudaMemcpyDeviceToHost), ==, cudaSuccess);
  g_assert_cmpfloat (z0, ==, sentinel);
  g_assert_cmpint (cudaGraphInstantiate (&exec, graph, 0), ==, cudaSuccess);
  /* the graph may go before its exec, and descriptors after capture */
  g_assert_cmpint (cudaGraphDestroy (graph), ==, cudaSuccess);

  for (int r = 0; r < 3; r++) {
    for (int i = 0; i < n; i++)
      st.pinned[i] = (float) (i + r * 3) * 0.25f;
    g_assert_cmpint (cudaGraphLaunch (exec, s), ==, cudaSuccess);
    g_assert_cmpint (cudaMemcpyAsync (replay[r], st.z, n * 4, cudaMemcpyDeviceToHost, s), ==, cudaSuccess);
    g_assert_cmpint (cudaStreamSynchronize (s), ==, cudaSuccess);
  }
  for (int r = 0; r < 3; r++) {
    for (int i = 0; i < n; i++)
      g_assert_cmpfloat (replay[r][i], ==, direct[r][i]);
  }
  g_assert_cmpfloat (direct[0][0], !=, direct[1][0]);
  g_assert_cmpint (cudaGraphExecDestroy (exec), ==, cudaSuccess);

  cublasLtMatrixLayoutDestroy (st.lw);
  cublasLtMatrixLayoutDestroy (st.lx);
  cublasLtMatrixLayoutDestroy (st.lz);
  cublasLtMatmulDescDestroy (st.desc);
  cublasLtDestroy (st.lt);
  cudaFree (st.x);
  cudaFree (st.y);
  cudaFree (st.z);
  cudaFree (st.w);
  cudaFreeHost (st.pinned);
  cudaStreamDestroy (s);
  g_free (hw);
}

/* What a GPU refuses during capture is refused here, and the capture is
 * invalidated. */
static void
test_capture_rules (void)
{
  cudaStream_t s;
  cudaGraph_t graph = NULL;
  void *p = NULL;
  float *x;
  g_assert_cmpint (cudaStreamCreate (&s), ==, cudaSuccess);
  g_assert_cmpint (cudaMalloc ((void **) &x, 256), ==, cudaSuccess);
  /* the legacy default stream cannot capture */
  g_assert_cmpint (cudaStreamBeginCapture (0, cudaStreamCaptureModeGlobal), ==,
      cudaErrorStreamCaptureUnsupported);

  g_assert_cmpint (cudaStreamBeginCapture (s, cudaStreamCaptureModeGlobal), ==, cudaSuccess);
  g_assert_cmpint (cudaMalloc (&p, 64), ==, cudaErrorStreamCaptureUnsupported);
  g_assert_cmpint (cudaStreamEndCapture (s, &graph), ==, cudaErrorStreamCaptureInvalidated);
  g_assert_null (graph);

  g_assert_cmpint (cudaStreamBeginCapture (s, cudaStreamCaptureModeGlobal), ==, cudaSuccess);
  g_assert_cmpint (cudaStreamSynchronize (s), ==, cudaErrorStreamCaptureUnsupported);
  g_assert_cmpint (cudaStreamEndCapture (s, &graph), ==, cudaErrorStreamCaptureInvalidated);

  g_assert_cmpint (cudaStreamBeginCapture (s, cudaStreamCaptureModeGlobal), ==, cudaSuccess);
  g_assert_cmpint (cudaMemset (x, 0, 256), ==, cudaErrorStreamCaptureUnsupported);
  g_assert_cmpint (cudaStreamEndCapture (s, &graph), ==, cudaErrorStreamCaptureInvalidated);

  /* relaxed mode allows cudaMalloc; an empty graph replays as nothing */
  g_assert_cmpint (cudaStreamBeginCapture (s, cudaStreamCaptureModeRelaxed), ==, cudaSuccess);
  g_assert_cmpint (cudaMalloc (&p, 64), ==, cudaSuccess);
  g_assert_cmpint (cudaStreamEndCapture (s, &graph), ==, cudaSuccess);
  cudaGraphExec_t exec;
  g_assert_cmpint (cudaGraphInstantiate (&exec, graph, 0), ==, cudaSuccess);
  g_assert_cmpint (cudaGraphLaunch (exec, s), ==, cudaSuccess);
  cudaGraphExecDestroy (exec);
  cudaGraphDestroy (graph);
  g_assert_cmpint (cudaStreamEndCapture (s, &graph), ==, cudaErrorIllegalState);
  cudaFree (p);
  cudaFree (x);
  cudaStreamDestroy (s);
  cudaGetLastError ();
}

int
main (int argc, char **argv)
{
  g_setenv ("OMNI_EMU_MEMORY_MB", "64", TRUE);
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/emu/runtime/memory", test_memory);
  g_test_add_func ("/emu/runtime/memory-limit", test_memory_limit);
  g_test_add_func ("/emu/runtime/stream-order-events", test_stream_order_events);
  g_test_add_func ("/emu/runtime/graph-replay", test_graph_replay);
  g_test_add_func ("/emu/runtime/capture-rules", test_capture_rules);
  return g_test_run ();
}
