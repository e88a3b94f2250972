/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The KV page allocator: growth one page at a time, exhaustion errors,
 * pages returned on close and reused. */
#include "omnicore.h"
#include "nn/kvpages.h"

static void
test_grow_and_return (void)
{
  OmniKVPages p;
  GError *error = NULL;

  omni_kv_pages_init (&p, 16, 6, 2, 4);
  int a = omni_kv_pages_open (&p), b = omni_kv_pages_open (&p);
  g_assert_cmpint (a, ==, 0);
  g_assert_cmpint (b, ==, 1);
  g_assert_cmpint (omni_kv_pages_open (&p), ==, -1);

  g_assert_true (omni_kv_pages_reserve (&p, a, 1, &error));
  g_assert_cmpint (omni_kv_pages_capacity (&p, a), ==, 16);
  g_assert_true (omni_kv_pages_reserve (&p, a, 16, &error));
  g_assert_cmpint (p.seq_pages[a], ==, 1);
  g_assert_true (omni_kv_pages_reserve (&p, a, 17, &error));
  g_assert_cmpint (p.seq_pages[a], ==, 2);
  g_assert_cmpint (p.n_free, ==, 4);
  /* distinct pages in the block table row */
  g_assert_cmpint (p.block_tables[0], !=, p.block_tables[1]);
  g_assert_cmpint (p.block_tables[2], ==, -1);

  /* b takes the rest: 4 pages would exceed its table (max 4) only past 64 */
  g_assert_true (omni_kv_pages_reserve (&p, b, 64, &error));
  g_assert_no_error (error);
  g_assert_cmpint (p.n_free, ==, 0);
  g_assert_false (omni_kv_pages_reserve (&p, a, 33, &error));
  g_assert_error (error, OMNI_ERROR, OMNI_ERROR_NO_MEMORY);
  g_clear_error (&error);
  g_assert_false (omni_kv_pages_reserve (&p, b, 65, &error));
  g_assert_error (error, OMNI_ERROR, OMNI_ERROR_INVALID);
  g_clear_error (&error);

  omni_kv_pages_close (&p, b);
  g_assert_cmpint (p.n_free, ==, 4);
  g_assert_cmpint (p.block_tables[4], ==, -1);
  g_assert_true (omni_kv_pages_reserve (&p, a, 64, &error));
  g_assert_cmpint (p.n_free, ==, 2);
  /* every page id appears at most once across the tables */
  gboolean seen[6] = { 0 };
  for (int i = 0; i < p.seq_pages[a]; i++) {
    int id = p.block_tables[i];
    g_assert_true (id >= 0 && id < 6 && !seen[id]);
    seen[id] = TRUE;
  }
  g_assert_cmpint (omni_kv_pages_open (&p), ==, 1);
  omni_kv_pages_close (&p, a);
  omni_kv_pages_close (&p, 1);
  g_assert_cmpint (p.n_free, ==, 6);
  omni_kv_pages_clear (&p);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/nn/kvpages/grow-and-return", test_grow_and_return);
  return g_test_run ();
}
