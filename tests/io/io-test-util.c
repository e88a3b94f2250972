/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <glib/gstdio.h>
#include <stdarg.h>
#include <string.h>
#include "omnicore.h"
#include "io-test-util.h"

char *
io_test_tmpdir (void)
{
  GError *error = NULL;
  char *dir = g_dir_make_tmp ("omni-io-XXXXXX", &error);
  g_assert_no_error (error);
  return dir;
}

static void
remove_tree (const char *path)
{
  GDir *d = g_dir_open (path, 0, NULL);
  const char *name;

  if (!d) {
    g_remove (path);
    return;
  }
  while ((name = g_dir_read_name (d))) {
    g_autofree char *child = g_build_filename (path, name, NULL);
    remove_tree (child);
  }
  g_dir_close (d);
  g_rmdir (path);
}

void
io_test_rmdir (char *dir)
{
  remove_tree (dir);
  g_free (dir);
}

char *
io_test_write (const char *dir, const char *name, const void *data, gssize len)
{
  GError *error = NULL;
  char *path = g_build_filename (dir, name, NULL);
  g_file_set_contents (path, data, len, &error);
  g_assert_no_error (error);
  return path;
}

char *
io_test_write_st (const char *dir, const char *name, const char *header,
                  const void *data, gsize data_len)
{
  /* padded with spaces to 8 bytes, as the safetensors writer does */
  gsize hlen = (strlen (header) + 7) & ~(gsize) 7;
  char *padded = g_strnfill (hlen, ' ');
  memcpy (padded, header, strlen (header));
  GByteArray *buf = g_byte_array_new ();
  guint8 len8[8];
  for (int i = 0; i < 8; i++)
    len8[i] = (guint8) ((guint64) hlen >> (8 * i));
  g_byte_array_append (buf, len8, 8);
  g_byte_array_append (buf, (const guint8 *) padded, (guint) hlen);
  g_free (padded);
  if (data_len)
    g_byte_array_append (buf, data, (guint) data_len);
  char *path = io_test_write (dir, name, buf->data, buf->len);
  g_byte_array_unref (buf);
  return path;
}

char *
io_test_srcpath (const char *name)
{
  const char *src = g_getenv ("OMNI_TEST_SRCDIR");
  g_assert_nonnull (src);
  return g_build_filename (src, "io", name, NULL);
}

void
io_test_assert_error (GError **error, int code, ...)
{
  va_list ap;
  g_assert_nonnull (*error);
  if ((*error)->domain != OMNI_ERROR || (*error)->code != code)
    g_error ("expected OMNI_ERROR code %d, got %s %d: %s", code,
             g_quark_to_string ((*error)->domain), (*error)->code, (*error)->message);
  va_start (ap, code);
  for (const char *s = va_arg (ap, const char *); s; s = va_arg (ap, const char *))
    if (strstr ((*error)->message, s) == NULL)
      g_error ("error message \"%s\" lacks \"%s\"", (*error)->message, s);
  va_end (ap);
  g_test_message ("ok: %s", (*error)->message);
  g_clear_error (error);
}
