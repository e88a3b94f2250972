/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The CPU backend's worker pool: threads created once, woken per op. */
#ifndef OMNI_CPU_POOL_H
#define OMNI_CPU_POOL_H

#include <glib.h>

/* One share of a parallel op: thread @ith of @nth (0 is the caller). */
typedef void (*OmniCpuTask) (void *ctx, int ith, int nth);

typedef struct _OmniCpuPool OmniCpuPool;

/* Starts @n_threads - 1 workers (the caller is thread 0); NULL + GError when
 * a thread cannot be created. */
OmniCpuPool *omni_cpu_pool_new (int n_threads, GError **error);
/* Stops and joins the workers, then frees @pool. */
void omni_cpu_pool_free (OmniCpuPool *pool);
/* Number of threads, the caller included. */
int omni_cpu_pool_size (const OmniCpuPool *pool);
/* Runs @fn (ctx, ith, nth) on @nth threads (1 <= nth <= size) and returns
 * when every share is done. Not reentrant: one op at a time. */
void omni_cpu_pool_run (OmniCpuPool *pool, int nth, OmniCpuTask fn, void *ctx);

#endif /* OMNI_CPU_POOL_H */
