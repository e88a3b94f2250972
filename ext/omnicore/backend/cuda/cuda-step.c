/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Host arguments and step graphs.
 *
 * Ops take host arrays (token ids, positions, block tables) while the
 * kernels want device pointers. Each array is written into a pinned staging
 * area and copied on the stream into its device twin at the same offset; the
 * area is recycled after every synchronisation.
 *
 * A step (step_begin .. step_end) is captured into a CUDA graph the first
 * time its key is seen. The captured copies read the pinned staging area
 * when the graph runs, so a replay only has to write the new host arrays at
 * the offsets the capture used: in replay mode the ops check that they are
 * the captured ops (signature), stage their arguments and queue nothing; the
 * graph launch at step_end does the work. */
#include "cuda-backend.h"

gboolean
omni_cuda_ok (cudaError_t err, const char *what)
{
  if (err == cudaSuccess)
    return TRUE;
  cudaGetLastError ();
  g_critical ("cuda: %s failed: %s (error %d)", what, cudaGetErrorString (err), (int) err);
  return FALSE;
}

void
omni_cuda_bind (OmniCudaBackend *cu)
{
  GThread *self = g_thread_self ();

  if (cu->bound != self) {
    omni_cuda_ok (cudaSetDevice (cu->device), "cudaSetDevice");
    cu->bound = self;
  }
}

guint64
omni_cuda_sig (guint64 h, const void *p, size_t n)
{
  const uint8_t *b = p;

  for (size_t i = 0; i < n; i++) {
    h ^= b[i];
    h *= 0x100000001b3ull;
  }
  return h;
}

guint64
omni_cuda_sig_tensor (guint64 h, const OmniTensor *t)
{
  if (t == NULL)
    return omni_cuda_sig (h, "-", 1);
  h = omni_cuda_sig (h, &t->data, sizeof t->data);
  h = omni_cuda_sig (h, &t->dtype, sizeof t->dtype);
  h = omni_cuda_sig (h, &t->n_dims, sizeof t->n_dims);
  return omni_cuda_sig (h, t->shape, t->n_dims * sizeof t->shape[0]);
}

static void
args_reset (OmniCudaBackend *cu)
{
  cu->args_off = 0;
  cu->n_arg_cache = 0;
  cu->arg_cache_next = 0;
}

void
omni_cuda_sync (OmniCudaBackend *cu)
{
  omni_cuda_bind (cu);
  omni_cuda_ok (cudaStreamSynchronize (cu->stream), "cudaStreamSynchronize");
  if (!cu->in_step)
    args_reset (cu);
}

/* Replay: the @i-th argument goes where the capture put it. */
static const void *
arg_replay (OmniCudaBackend *cu, const void *host, size_t size)
{
  OmniCudaGraph *g = cu->step;
  OmniCudaBlock *b;

  if (cu->arg_cursor >= g->args->len ||
      (b = &g_array_index (g->args, OmniCudaBlock, cu->arg_cursor))->size != size) {
    g_critical ("%s: step %" G_GUINT64_FORMAT ": host argument %u (%" G_GSIZE_FORMAT " bytes) differs "
                "from the captured step", cu->base.device, g->key, cu->arg_cursor, size);
    cu->arg_cursor++;
    return cu->d_args;
  }
  cu->arg_cursor++;
  memcpy (cu->h_args + b->offset, host, size);
  return cu->d_args + b->offset;
}

const void *
omni_cuda_arg (OmniCudaBackend *cu, const void *host, size_t size)
{
  size_t offset;

  if (cu->mode == OMNI_CUDA_REPLAY)
    return arg_replay (cu, host, size);
  /* the same array handed to several ops of a step is copied once */
  for (int i = 0; i < cu->n_arg_cache; i++) {
    OmniCudaArg *a = &cu->arg_cache[i];
    if (a->host == host && a->size == size && memcmp (cu->h_args + a->offset, host, size) == 0) {
      offset = a->offset;
      goto done;
    }
  }
  if (cu->args_off + size > cu->args_cap) {
    if (cu->mode == OMNI_CUDA_CAPTURE || cu->in_step || size > cu->args_cap) {
      g_critical ("%s: %" G_GSIZE_FORMAT " bytes of host arguments do not fit the %" G_GSIZE_FORMAT
                  "-byte staging area%s", cu->base.device, cu->args_off + size, cu->args_cap,
                  cu->in_step ? " within one step" : "");
      return cu->d_args;
    }
    omni_cuda_sync (cu);
  }
  offset = cu->args_off;
  cu->args_off = (cu->args_off + size + 15) & ~(size_t) 15;
  memcpy (cu->h_args + offset, host, size);
  omni_cuda_ok (cudaMemcpyAsync (cu->d_args + offset, cu->h_args + offset, size, cudaMemcpyHostToDevice,
                                 cu->stream), "cudaMemcpyAsync of op arguments");
  /* oldest entry out when full */
  cu->arg_cache[cu->arg_cache_next] = (OmniCudaArg) { host, offset, size };
  cu->arg_cache_next = (cu->arg_cache_next + 1) % OMNI_CUDA_ARG_CACHE;
  cu->n_arg_cache = MIN (cu->n_arg_cache + 1, OMNI_CUDA_ARG_CACHE);
done:
  if (cu->mode == OMNI_CUDA_CAPTURE) {
    OmniCudaBlock b = { offset, size };
    g_array_append_val (cu->step->args, b);
  }
  return cu->d_args + offset;
}

gboolean
omni_cuda_op_begin (OmniCudaBackend *cu, const char *name, guint64 sig)
{
  OmniCudaGraph *g = cu->step;

  omni_cuda_bind (cu);
  sig = omni_cuda_sig (sig, name, strlen (name));
  switch (cu->mode) {
  case OMNI_CUDA_CAPTURE:
    g_array_append_val (g->sigs, sig);
    return TRUE;
  case OMNI_CUDA_REPLAY:
    if (cu->op_cursor >= g->sigs->len || g_array_index (g->sigs, guint64, cu->op_cursor) != sig)
      g_critical ("%s: step %" G_GUINT64_FORMAT ": op %u (%s) is not the op the step captured; "
                  "equal keys must issue equal ops", cu->base.device, g->key, cu->op_cursor, name);
    cu->op_cursor++;
    return FALSE;
  default:
    return TRUE;
  }
}

static void
graph_free (gpointer data)
{
  OmniCudaGraph *g = data;

  if (g->exec != NULL)
    cudaGraphExecDestroy (g->exec);
  g_array_free (g->sigs, TRUE);
  g_array_free (g->args, TRUE);
  g_free (g);
}

void
omni_cuda_graphs_drop (OmniCudaBackend *cu)
{
  if (cu->mode == OMNI_CUDA_CAPTURE)
    cu->step->reusable = FALSE;
  if (cu->graphs != NULL && g_hash_table_size (cu->graphs) > 0) {
    omni_cuda_ok (cudaStreamSynchronize (cu->stream), "cudaStreamSynchronize");
    g_hash_table_remove_all (cu->graphs);
  }
}

void
omni_cuda_step_begin (OmniBackend *b, guint64 key)
{
  OmniCudaBackend *cu = (OmniCudaBackend *) b;
  OmniCudaGraph *g;

  if (cu->in_step) {
    g_critical ("%s: step_begin inside a step", b->device);
    return;
  }
  omni_cuda_bind (cu);
  /* the previous step may still read the staging area */
  omni_cuda_sync (cu);
  cu->in_step = TRUE;
  cu->op_cursor = cu->arg_cursor = 0;
  g = g_hash_table_lookup (cu->graphs, &key);
  if (g != NULL) {
    cu->mode = OMNI_CUDA_REPLAY;
    cu->step = g;
    return;
  }
  g = g_new0 (OmniCudaGraph, 1);
  g->key = key;
  g->sigs = g_array_new (FALSE, FALSE, sizeof (guint64));
  g->args = g_array_new (FALSE, FALSE, sizeof (OmniCudaBlock));
  g->reusable = TRUE;
  cu->step = g;
  cu->mode = OMNI_CUDA_CAPTURE;
  if (!omni_cuda_ok (cudaStreamBeginCapture (cu->stream, cudaStreamCaptureModeThreadLocal),
                     "cudaStreamBeginCapture")) {
    /* run the step directly instead */
    cu->mode = OMNI_CUDA_DIRECT;
    graph_free (g);
    cu->step = NULL;
  }
}

static void
end_capture (OmniCudaBackend *cu)
{
  OmniCudaGraph *g = cu->step;
  cudaGraph_t graph = NULL;

  if (!omni_cuda_ok (cudaStreamEndCapture (cu->stream, &graph), "cudaStreamEndCapture") ||
      !omni_cuda_ok (cudaGraphInstantiate (&g->exec, graph, 0), "cudaGraphInstantiate")) {
    if (graph != NULL)
      cudaGraphDestroy (graph);
    graph_free (g);
    return;
  }
  cudaGraphDestroy (graph);
  omni_cuda_ok (cudaGraphLaunch (g->exec, cu->stream), "cudaGraphLaunch");
  cu->stats.graphs_captured++;
  if (g->reusable) {
    g_hash_table_insert (cu->graphs, &g->key, g);
  } else {
    omni_cuda_ok (cudaStreamSynchronize (cu->stream), "cudaStreamSynchronize");
    graph_free (g);
  }
}

void
omni_cuda_step_end (OmniBackend *b)
{
  OmniCudaBackend *cu = (OmniCudaBackend *) b;
  OmniCudaGraph *g = cu->step;

  if (!cu->in_step) {
    g_critical ("%s: step_end without step_begin", b->device);
    return;
  }
  if (cu->mode == OMNI_CUDA_CAPTURE) {
    end_capture (cu);
  } else if (cu->mode == OMNI_CUDA_REPLAY) {
    if (cu->op_cursor != g->sigs->len || cu->arg_cursor != g->args->len)
      g_critical ("%s: step %" G_GUINT64_FORMAT " issued %u ops and %u host arguments; the captured "
                  "step had %u and %u", b->device, g->key, cu->op_cursor, cu->arg_cursor, g->sigs->len,
                  g->args->len);
    omni_cuda_ok (cudaGraphLaunch (g->exec, cu->stream), "cudaGraphLaunch");
    cu->stats.graphs_replayed++;
  }
  cu->mode = OMNI_CUDA_DIRECT;
  cu->step = NULL;
  cu->in_step = FALSE;
}

/* The table of captured steps, by key. */
void
omni_cuda_graphs_init (OmniCudaBackend *cu)
{
  cu->graphs = g_hash_table_new_full (g_int64_hash, g_int64_equal, NULL, graph_free);
}

void
omni_cuda_graphs_clear (OmniCudaBackend *cu)
{
  if (cu->graphs != NULL)
    g_hash_table_destroy (cu->graphs);
  cu->graphs = NULL;
}
