/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The memory read bandwidth omni bench divides by. */
#ifndef OMNI_CLI_MEMBW_H
#define OMNI_CLI_MEMBW_H

#include <glib.h>

/* Bytes per second @n_threads threads read when streaming together through a
 * buffer far larger than the last-level cache (best of several runs). */
double omni_cli_read_bandwidth (int n_threads);

/* The buffer size omni_cli_read_bandwidth() streams through. */
size_t omni_cli_read_bandwidth_bytes (void);

#endif /* OMNI_CLI_MEMBW_H */
