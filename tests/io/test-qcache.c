/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The quantized-weight cache file: round trip, every corruption detected
 * with its error code, the paths, the fingerprint and an unwritable dir. */
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <glib/gstdio.h>
#include "omnicore.h"
#include "quant.h"
#include "io/qcache.h"
#include "io-test-util.h"

/* Header fields the corruption tests patch (offsets of the file layout). */
#define OFF_VERSION 12
#define OFF_BLOCK_VERSION 16
#define OFF_QUANT 24
#define OFF_INDEX_SIZE 48
#define OFF_FINGERPRINT 64
#define OFF_INDEX_SHA 96
/* The first index entry: name_len, n_dims, dtype[8], offset, n_bytes. */
#define OFF_ENTRY0_OFFSET (OMNI_QCACHE_HEADER_SIZE + 16)

typedef struct {
  char *dir;
  char *path;
  OmniQCacheFingerprint fp;
  guint8 q8[3 * 2 * sizeof (OmniBlockQ8)];  /* [3, 40] as Q8_32: 2 blocks a row */
  float bias[5];
  OmniQCacheTensor t[2];
} Fixture;

static void
fixture_set_up (Fixture *f, gconstpointer data)
{
  float row[40];

  f->dir = g_dir_make_tmp ("qcache-XXXXXX", NULL);
  g_assert_nonnull (f->dir);
  f->path = g_build_filename (f->dir, "sub", "decoder-int8.omniq", NULL);
  for (int i = 0; i < 32; i++)
    f->fp.bytes[i] = (guint8) (i * 7 + 1);
  for (int r = 0; r < 3; r++) {
    for (int j = 0; j < 40; j++)
      row[j] = (float) ((r + 1) * (j - 17)) / 13.0f;
    omni_quantize_row (OMNI_DTYPE_Q8_32, row, f->q8 + r * 2 * sizeof (OmniBlockQ8), 40);
  }
  for (int i = 0; i < 5; i++)
    f->bias[i] = (float) i - 2.5f;
  f->t[0] = (OmniQCacheTensor) { .name = "model.layers.0.mlp.up_proj.weight", .dtype = OMNI_DTYPE_Q8_32,
                                 .n_dims = 2, .shape = { 3, 40 }, .data = f->q8,
                                 .n_bytes = sizeof f->q8 };
  f->t[1] = (OmniQCacheTensor) { .name = "b", .dtype = OMNI_DTYPE_F32, .n_dims = 1, .shape = { 5 },
                                 .data = f->bias, .n_bytes = sizeof f->bias };
}

static void
fixture_tear_down (Fixture *f, gconstpointer data)
{
  io_test_rmdir (g_strdup (f->dir));
  g_free (f->dir);
  g_free (f->path);
}

static void
write_ok (Fixture *f)
{
  GError *error = NULL;

  g_assert_true (omni_qcache_write (f->path, "int8", &f->fp, f->t, 2, &error));
  g_assert_no_error (error);
}

static void
test_round_trip (Fixture *f, gconstpointer data)
{
  GError *error = NULL;
  OmniQCache *c;
  const OmniQCacheTensor *t;
  g_autofree char *dirname = g_path_get_dirname (f->path);
  GDir *d;
  const char *name;

  write_ok (f);
  /* only the final file is left: the temporary one was renamed */
  d = g_dir_open (dirname, 0, NULL);
  while ((name = g_dir_read_name (d)))
    g_assert_cmpstr (name, ==, "decoder-int8.omniq");
  g_dir_close (d);
  c = omni_qcache_open (f->path, "int8", &f->fp, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (omni_qcache_count (c), ==, 2);
  t = omni_qcache_get (c, "model.layers.0.mlp.up_proj.weight");
  g_assert_nonnull (t);
  g_assert_cmpint (t->dtype, ==, OMNI_DTYPE_Q8_32);
  g_assert_cmpint (t->n_dims, ==, 2);
  g_assert_cmpint (t->shape[0], ==, 3);
  g_assert_cmpint (t->shape[1], ==, 40);
  g_assert_cmpuint (t->n_bytes, ==, sizeof f->q8);
  g_assert_cmpuint ((guintptr) t->data % OMNI_QCACHE_ALIGN, ==, 0);
  g_assert_cmpmem (t->data, t->n_bytes, f->q8, sizeof f->q8);
  t = omni_qcache_get (c, "b");
  g_assert_nonnull (t);
  g_assert_cmpuint ((guintptr) t->data % OMNI_QCACHE_ALIGN, ==, 0);
  g_assert_cmpmem (t->data, t->n_bytes, f->bias, sizeof f->bias);
  g_assert_null (omni_qcache_get (c, "missing"));
  omni_qcache_free (c);

  /* an empty cache is valid too */
  g_assert_true (omni_qcache_write (f->path, "int8", &f->fp, NULL, 0, &error));
  c = omni_qcache_open (f->path, "int8", &f->fp, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (omni_qcache_count (c), ==, 0);
  omni_qcache_free (c);
}

/* Reads the file, lets @patch change it, writes it back. */
static void
patch_file (const char *path, void (*patch) (GByteArray *bytes, gpointer data), gpointer data)
{
  gchar *contents;
  gsize len;
  GByteArray *bytes;

  g_assert_true (g_file_get_contents (path, &contents, &len, NULL));
  bytes = g_byte_array_new_take ((guint8 *) contents, len);
  patch (bytes, data);
  g_assert_true (g_file_set_contents (path, (const char *) bytes->data, bytes->len, NULL));
  g_byte_array_unref (bytes);
}

/* Recomputes the index checksum, so a patched index reaches the entry checks. */
static void
reseal_index (GByteArray *b)
{
  guint64 index_size;
  GChecksum *sum = g_checksum_new (G_CHECKSUM_SHA256);
  gsize len = 32;

  memcpy (&index_size, b->data + OFF_INDEX_SIZE, 8);
  g_checksum_update (sum, b->data + OMNI_QCACHE_HEADER_SIZE, index_size);
  g_checksum_get_digest (sum, b->data + OFF_INDEX_SHA, &len);
  g_checksum_free (sum);
}

static void
patch_truncate (GByteArray *b, gpointer data)
{
  g_byte_array_set_size (b, b->len - GPOINTER_TO_UINT (data));
}

static void
patch_byte (GByteArray *b, gpointer data)
{
  b->data[GPOINTER_TO_UINT (data)] ^= 0x5a;
}

static void
patch_entry_offset (GByteArray *b, gpointer data)
{
  guint64 off = GPOINTER_TO_UINT (data);

  memcpy (b->data + OFF_ENTRY0_OFFSET, &off, 8);
  reseal_index (b);
}

static void
patch_entry_n_dims (GByteArray *b, gpointer data)
{
  guint32 n = GPOINTER_TO_UINT (data);

  memcpy (b->data + OMNI_QCACHE_HEADER_SIZE + 4, &n, 4);
  reseal_index (b);
}

static void
patch_quant (GByteArray *b, gpointer data)
{
  memcpy (b->data + OFF_QUANT, "int4", 4);
}

static void
expect_rejected (Fixture *f, int code, const char *needle)
{
  GError *error = NULL;
  OmniQCache *c = omni_qcache_open (f->path, "int8", &f->fp, &error);

  g_assert_null (c);
  g_assert_error (error, OMNI_ERROR, code);
  g_assert_nonnull (strstr (error->message, f->path));
  if (!strstr (error->message, needle))
    g_error ("expected \"%s\" in: %s", needle, error->message);
  g_error_free (error);
}

static void
test_corruptions (Fixture *f, gconstpointer data)
{
  struct {
    void (*patch) (GByteArray *, gpointer);
    guint arg;
    int code;
    const char *needle;
  } cases[] = {
    { patch_truncate, 1, OMNI_ERROR_FORMAT, "truncated" },
    { patch_truncate, 100000, OMNI_ERROR_FORMAT, "truncated" },  /* less than a header left */
    { patch_byte, 0, OMNI_ERROR_FORMAT, "magic" },
    { patch_byte, OFF_VERSION, OMNI_ERROR_UNSUPPORTED, "version" },
    { patch_byte, OFF_BLOCK_VERSION, OMNI_ERROR_UNSUPPORTED, "block version" },
    { patch_quant, 0, OMNI_ERROR_UNSUPPORTED, "quant \"int4\"" },
    { patch_byte, OFF_FINGERPRINT + 5, OMNI_ERROR_UNSUPPORTED, "other checkpoint" },
    { patch_byte, OMNI_QCACHE_HEADER_SIZE + 30, OMNI_ERROR_FORMAT, "checksum" },
    { patch_entry_offset, 1 << 20, OMNI_ERROR_FORMAT, "inside the data section" },
    { patch_entry_offset, 64 * 3 + 8, OMNI_ERROR_FORMAT, "64-byte aligned" },
    { patch_entry_offset, 0, OMNI_ERROR_FORMAT, "inside the data section" },
    { patch_entry_n_dims, 9, OMNI_ERROR_FORMAT, "1..8 dims" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    write_ok (f);
    if (cases[i].patch == patch_truncate && cases[i].arg == 100000) {
      g_assert_true (truncate (f->path, 40) == 0);
    } else {
      patch_file (f->path, cases[i].patch, GUINT_TO_POINTER (cases[i].arg));
    }
    expect_rejected (f, cases[i].code, cases[i].needle);
  }
  /* another fingerprint and another quant than asked for: stale */
  write_ok (f);
  {
    OmniQCacheFingerprint other = f->fp;
    GError *error = NULL;
    other.bytes[31] ^= 1;
    g_assert_null (omni_qcache_open (f->path, "int8", &other, &error));
    g_assert_error (error, OMNI_ERROR, OMNI_ERROR_UNSUPPORTED);
    g_clear_error (&error);
    g_assert_null (omni_qcache_open (f->path, "bf16", &f->fp, &error));
    g_assert_error (error, OMNI_ERROR, OMNI_ERROR_UNSUPPORTED);
    g_clear_error (&error);
    g_assert_null (omni_qcache_open ("/nonexistent/x.omniq", "int8", &f->fp, &error));
    g_assert_error (error, OMNI_ERROR, OMNI_ERROR_IO);
    g_clear_error (&error);
  }
}

/* A path below a regular file cannot be created, even by root. */
static void
test_unwritable (Fixture *f, gconstpointer data)
{
  g_autofree char *file = g_build_filename (f->dir, "plain", NULL);
  g_autofree char *path = g_build_filename (file, "x", "decoder-int8.omniq", NULL);
  GError *error = NULL;

  g_assert_true (g_file_set_contents (file, "x", 1, NULL));
  g_assert_false (omni_qcache_write (path, "int8", &f->fp, f->t, 2, &error));
  g_assert_error (error, OMNI_ERROR, OMNI_ERROR_IO);
  g_assert_nonnull (strstr (error->message, path));
  g_clear_error (&error);
}

static void
test_fingerprint (Fixture *f, gconstpointer data)
{
  g_autofree char *st = g_build_filename (f->dir, "model.safetensors", NULL);
  g_autofree char *other = g_build_filename (f->dir, "notes.txt", NULL);
  OmniQCacheFingerprint a, b, c;
  GError *error = NULL;

  g_assert_true (g_file_set_contents (st, "0123456789", 10, NULL));
  g_assert_true (omni_qcache_fingerprint (f->dir, &a, &error));
  g_assert_true (g_file_set_contents (other, "ignored", -1, NULL));
  g_assert_true (omni_qcache_fingerprint (f->dir, &b, &error));
  g_assert_cmpmem (a.bytes, 32, b.bytes, 32);   /* other files do not count */
  g_assert_true (g_file_set_contents (st, "01234567890", 11, NULL));
  g_assert_true (omni_qcache_fingerprint (f->dir, &c, &error));
  g_assert_no_error (error);
  g_assert_true (memcmp (a.bytes, c.bytes, 32) != 0);  /* the size changed */
  g_assert_false (omni_qcache_fingerprint ("/nonexistent-dir", &c, &error));
  g_assert_nonnull (error);
  g_clear_error (&error);
}

static void
test_paths (Fixture *f, gconstpointer data)
{
  g_auto (GStrv) p = NULL;
  g_auto (GStrv) q = NULL;

  g_unsetenv ("OMNI_CACHE_DIR");
  p = omni_qcache_paths (f->dir, "decoder", "int4");
  g_assert_cmpuint (g_strv_length (p), ==, 2);
  g_assert_true (g_str_has_prefix (p[0], f->dir));
  g_assert_true (g_str_has_suffix (p[0], "/.gst-omni/decoder-int4.omniq"));
  g_assert_true (g_str_has_prefix (p[1], g_get_user_cache_dir ()));
  g_assert_true (g_str_has_suffix (p[1], "decoder-int4.omniq"));
  g_setenv ("OMNI_CACHE_DIR", "/tmp/omni-cache-test", TRUE);
  q = omni_qcache_paths (f->dir, "audio", "bf16");
  g_unsetenv ("OMNI_CACHE_DIR");
  g_assert_cmpuint (g_strv_length (q), ==, 1);
  g_assert_true (g_str_has_prefix (q[0], "/tmp/omni-cache-test/"));
  g_assert_true (g_str_has_suffix (q[0], "audio-bf16.omniq"));
  g_setenv ("OMNI_QCACHE", "off", TRUE);
  g_assert_false (omni_qcache_enabled ());
  g_setenv ("OMNI_QCACHE", "1", TRUE);
  g_assert_true (omni_qcache_enabled ());
  g_unsetenv ("OMNI_QCACHE");
}

static void
test_quant_names (void)
{
  const char *names[] = { "none", "bf16", "int8", "int4" };
  OmniQuant q;
  GError *error = NULL;

  for (guint i = 0; i < G_N_ELEMENTS (names); i++) {
    g_assert_true (omni_quant_parse (names[i], &q, &error));
    g_assert_cmpint (q, ==, (int) i);
    g_assert_cmpstr (omni_quant_name (q), ==, names[i]);
  }
  g_assert_false (omni_quant_parse ("q8", &q, &error));
  g_assert_error (error, OMNI_ERROR, OMNI_ERROR_INVALID);
  g_assert_nonnull (strstr (error->message, "none, bf16, int8 or int4"));
  g_clear_error (&error);
  g_assert_false (omni_quant_parse (NULL, &q, &error));
  g_clear_error (&error);
  g_assert_cmpstr (omni_quant_name ((OmniQuant) 9), ==, "?");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
#define ADD(path, fn) g_test_add (path, Fixture, NULL, fixture_set_up, fn, fixture_tear_down)
  ADD ("/qcache/round-trip", test_round_trip);
  ADD ("/qcache/corruptions", test_corruptions);
  ADD ("/qcache/unwritable", test_unwritable);
  ADD ("/qcache/fingerprint", test_fingerprint);
  ADD ("/qcache/paths", test_paths);
  g_test_add_func ("/qcache/quant-names", test_quant_names);
  return g_test_run ();
}
