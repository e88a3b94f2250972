/* Helpers shared by the io/ tests.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef IO_TEST_UTIL_H
#define IO_TEST_UTIL_H

#include <glib.h>

/* A fresh temporary directory; removed with io_test_rmdir(). */
char *io_test_tmpdir (void);
/* Removes @dir and everything below it, then frees the string. */
void io_test_rmdir (char *dir);
/* Writes @len bytes (-1: strlen) of @data to @dir/@name; returns the path. */
char *io_test_write (const char *dir, const char *name, const void *data, gssize len);
/* Writes a safetensors file: 8-byte length, @header padded to 8 bytes, then
 * @data_len bytes of @data. */
char *io_test_write_st (const char *dir, const char *name, const char *header,
                        const void *data, gsize data_len);
/* Path of a file in tests/io (OMNI_TEST_SRCDIR) */
char *io_test_srcpath (const char *name);
/* Asserts @error is OMNI_ERROR/@code and its message holds every string of the
 * NULL-terminated list; then clears it. */
void io_test_assert_error (GError **error, int code, ...) G_GNUC_NULL_TERMINATED;

#endif /* IO_TEST_UTIL_H */
