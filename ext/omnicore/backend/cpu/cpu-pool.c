/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A fixed pool of worker threads. Each op posts one task (a new generation),
 * every thread runs its share and the caller waits for the last one. Workers
 * spin briefly before sleeping on a condition, because a decode step posts
 * hundreds of short ops and a sleep/wake pair per op would dominate them. */
#include "cpu-pool.h"
#include "omnicore.h"

/* Waiting first spins (a few microseconds), then yields the core (so a
 * thread that is waited for can run when cores are oversubscribed), and only
 * then blocks. */
#define SPIN_PAUSES 2000
#define SPIN_ITERATIONS (SPIN_PAUSES + 100)

typedef struct {
  OmniCpuPool *pool;
  int ith;
} Worker;

struct _OmniCpuPool {
  int n_threads;
  GThread **threads;
  Worker *workers;

  GMutex lock;
  GCond start;
  GCond done;
  gint generation;  /* atomic; bumped for each task */
  gint pending;     /* atomic; workers still running the current task */
  gint quit;        /* atomic */

  OmniCpuTask fn;
  void *ctx;
  int nth;
};

static inline void
spin_wait (int i)
{
  if (i >= SPIN_PAUSES)
    g_thread_yield ();
#if defined(__x86_64__) || defined(__i386__)
  else
    __builtin_ia32_pause ();
#endif
}

static int
wait_generation (OmniCpuPool *pool, int seen)
{
  int gen;

  for (int i = 0; i < SPIN_ITERATIONS; i++) {
    gen = g_atomic_int_get (&pool->generation);
    if (gen != seen || g_atomic_int_get (&pool->quit))
      return gen;
    spin_wait (i);
  }
  g_mutex_lock (&pool->lock);
  while ((gen = g_atomic_int_get (&pool->generation)) == seen && !g_atomic_int_get (&pool->quit))
    g_cond_wait (&pool->start, &pool->lock);
  g_mutex_unlock (&pool->lock);
  return gen;
}

static gpointer
worker_main (gpointer data)
{
  Worker *w = data;
  OmniCpuPool *pool = w->pool;
  /* Not a read of pool->generation: a task may already have been posted
   * before this thread got to run, and it must not be skipped. */
  int seen = 0;

  for (;;) {
    seen = wait_generation (pool, seen);
    if (g_atomic_int_get (&pool->quit))
      break;
    if (w->ith < pool->nth)
      pool->fn (pool->ctx, w->ith, pool->nth);
    if (g_atomic_int_dec_and_test (&pool->pending)) {
      g_mutex_lock (&pool->lock);
      g_cond_signal (&pool->done);
      g_mutex_unlock (&pool->lock);
    }
  }
  return NULL;
}

OmniCpuPool *
omni_cpu_pool_new (int n_threads, GError **error)
{
  OmniCpuPool *pool = g_new0 (OmniCpuPool, 1);

  g_return_val_if_fail (n_threads >= 1, NULL);
  pool->n_threads = n_threads;
  g_mutex_init (&pool->lock);
  g_cond_init (&pool->start);
  g_cond_init (&pool->done);
  pool->threads = g_new0 (GThread *, n_threads);
  pool->workers = g_new0 (Worker, n_threads);
  for (int i = 1; i < n_threads; i++) {
    GError *local = NULL;
    char name[16];

    g_snprintf (name, sizeof name, "omni-cpu-%d", i);
    pool->workers[i].pool = pool;
    pool->workers[i].ith = i;
    pool->threads[i] = g_thread_try_new (name, worker_main, &pool->workers[i], &local);
    if (pool->threads[i] == NULL) {
      g_set_error (error, OMNI_ERROR, OMNI_ERROR_NO_MEMORY,
                   "cpu backend: cannot start worker thread %d of %d: %s",
                   i, n_threads, local->message);
      g_error_free (local);
      pool->n_threads = i;  /* join only those that started */
      omni_cpu_pool_free (pool);
      return NULL;
    }
  }
  return pool;
}

void
omni_cpu_pool_free (OmniCpuPool *pool)
{
  if (pool == NULL)
    return;
  g_mutex_lock (&pool->lock);
  g_atomic_int_set (&pool->quit, 1);
  g_cond_broadcast (&pool->start);
  g_mutex_unlock (&pool->lock);
  for (int i = 1; i < pool->n_threads; i++)
    g_thread_join (pool->threads[i]);
  g_mutex_clear (&pool->lock);
  g_cond_clear (&pool->start);
  g_cond_clear (&pool->done);
  g_free (pool->threads);
  g_free (pool->workers);
  g_free (pool);
}

int
omni_cpu_pool_size (const OmniCpuPool *pool)
{
  return pool->n_threads;
}

void
omni_cpu_pool_run (OmniCpuPool *pool, int nth, OmniCpuTask fn, void *ctx)
{
  g_return_if_fail (nth >= 1 && nth <= pool->n_threads);

  if (nth == 1) {
    fn (ctx, 0, 1);
    return;
  }
  pool->fn = fn;
  pool->ctx = ctx;
  pool->nth = nth;
  /* Every worker acknowledges every generation, even those without a share,
   * so none can miss a bump and run a stale task later. */
  g_atomic_int_set (&pool->pending, pool->n_threads - 1);
  g_mutex_lock (&pool->lock);
  g_atomic_int_inc (&pool->generation);
  g_cond_broadcast (&pool->start);
  g_mutex_unlock (&pool->lock);

  fn (ctx, 0, nth);

  for (int i = 0; i < SPIN_ITERATIONS && g_atomic_int_get (&pool->pending) > 0; i++)
    spin_wait (i);
  if (g_atomic_int_get (&pool->pending) > 0) {
    g_mutex_lock (&pool->lock);
    while (g_atomic_int_get (&pool->pending) > 0)
      g_cond_wait (&pool->done, &pool->lock);
    g_mutex_unlock (&pool->lock);
  }
}
