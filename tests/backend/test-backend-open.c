/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Device selection, thread-count parsing, storage and KV cache errors, and
 * weight_load: in place for F32/F16/BF16, dequantized for F8_E4M3. */
#include <glib/gstdio.h>
#include "backend/backend.h"
#include "omnicore.h"

/* The NO_MEMORY tests ask for more memory than exists; under AddressSanitizer
 * malloc must then return NULL rather than abort. */
const char *__asan_default_options (void);
const char *
__asan_default_options (void)
{
  return "allocator_may_return_null=1";
}

static void
expect_open_error (const char *device, int code, const char *needle)
{
  GError *error = NULL;
  OmniBackend *b = omni_backend_open (device, &error);

  g_assert_null (b);
  g_assert_error (error, OMNI_ERROR, code);
  if (strstr (error->message, needle) == NULL)
    g_error ("device \"%s\": message \"%s\" lacks \"%s\"", device, error->message, needle);
  g_error_free (error);
}

static void
test_open (void)
{
  GError *error = NULL;
  OmniBackend *b;

  b = omni_backend_open ("cpu", &error);
  g_assert_no_error (error);
  g_assert_cmpstr (b->ops->name, ==, "cpu");
  g_assert_cmpstr (b->device, ==, "cpu");
  omni_backend_close (b);
  b = omni_backend_open ("auto", &error);
  g_assert_no_error (error);
  g_assert_cmpstr (b->ops->name, ==, "cpu");
  omni_backend_close (b);
  omni_backend_close (NULL);

  /* no GPU here: the CUDA module (if built) finds no device, or is absent */
  expect_open_error ("cuda:0", OMNI_ERROR_DEVICE, "cuda:0");
  expect_open_error ("cuda:3", OMNI_ERROR_DEVICE, "cuda:3");
  expect_open_error ("cuda:", OMNI_ERROR_INVALID, "\"cuda:N\"");
  expect_open_error ("cuda:x", OMNI_ERROR_INVALID, "\"auto\", \"cpu\"");
  expect_open_error ("gpu", OMNI_ERROR_INVALID, "\"cuda-emu\"");
  expect_open_error ("", OMNI_ERROR_INVALID, "\"auto\"");
  expect_open_error (NULL, OMNI_ERROR_INVALID, "\"auto\"");
  expect_open_error ("CPU", OMNI_ERROR_INVALID, "unknown device \"CPU\"");
}

/* Where no module is, CUDA devices are a clear error and auto is the cpu;
 * a file that is not a module is refused with the loader's reason. Runs in
 * a subprocess (setenv). */
static void
no_module_child (void)
{
  g_autofree char *dir = g_dir_make_tmp ("omni-modules-XXXXXX", NULL);
  g_autofree char *bogus = g_build_filename (dir, "libomnicore-cuda-emu.so", NULL);
  GError *error = NULL;
  OmniBackend *b;

  g_setenv ("OMNI_BACKEND_DIR", dir, TRUE);
  expect_open_error ("cuda:0", OMNI_ERROR_DEVICE, "no CUDA backend");
  expect_open_error ("cuda:0", OMNI_ERROR_DEVICE, dir);
  b = omni_backend_open ("auto", &error);
  g_assert_no_error (error);
  g_assert_cmpstr (b->ops->name, ==, "cpu");
  omni_backend_close (b);
  g_assert_true (g_file_set_contents (bogus, "not an ELF file", -1, NULL));
  expect_open_error ("cuda-emu", OMNI_ERROR_DEVICE, "could not be loaded");
  g_unlink (bogus);
  g_rmdir (dir);
  g_print ("checked\n");
}

static void
test_no_module (void)
{
  if (g_test_subprocess ()) {
    no_module_child ();
    return;
  }
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_passed ();
  g_test_trap_assert_stdout ("*checked*");
}

/* Runs in a fresh subprocess: setenv is only safe before threads exist. */
static void
num_threads_child (void)
{
  const char *bad[] = { "0", "-2", "abc", "4x", "100000" };
  GError *error = NULL;
  OmniBackend *b;

  for (guint i = 0; i < G_N_ELEMENTS (bad); i++) {
    g_setenv ("OMNI_NUM_THREADS", bad[i], TRUE);
    expect_open_error ("cpu", OMNI_ERROR_INVALID, "OMNI_NUM_THREADS");
  }
  g_setenv ("OMNI_NUM_THREADS", "5", TRUE);
  b = omni_backend_open ("auto", &error);
  g_assert_no_error (error);
  g_print ("opened\n");
  omni_backend_close (b);   /* joins 4 workers; ASan/valgrind see leaks if not */
}

static void
test_num_threads (void)
{
  if (g_test_subprocess ()) {
    num_threads_child ();
    return;
  }
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_passed ();
  g_test_trap_assert_stdout ("*opened*");
}

static void
test_storage (void)
{
  GError *error = NULL;
  OmniBackend *b = omni_backend_open ("cpu", &error);
  OmniTensor t;
  int64_t shape[6] = { 3, 5, 7, 2, 2, 1 };
  int64_t huge[4] = { 1 << 20, 1 << 20, 1 << 20, 1 << 20 };
  int64_t too_big[2] = { (int64_t) 1 << 40, (int64_t) 1 << 20 };
  float host[105], back[105];

  g_assert_no_error (error);
  g_assert_true (b->ops->tensor_alloc (b, &t, OMNI_DTYPE_F32, 3, shape, &error));
  g_assert_cmpuint (t.n_bytes, ==, 105 * 4);
  g_assert_true (t.owned);
  g_assert_cmpuint ((uintptr_t) t.data % 64, ==, 0);
  for (int i = 0; i < 105; i++)
    host[i] = i * 0.5f;
  b->ops->upload (b, &t, host, sizeof host);
  b->ops->synchronize (b);
  b->ops->download (b, &t, back, sizeof back);
  g_assert_cmpmem (host, sizeof host, back, sizeof back);
  b->ops->tensor_free (b, &t);
  g_assert_null (t.data);

  g_assert_false (b->ops->tensor_alloc (b, &t, OMNI_DTYPE_F32, OMNI_TENSOR_MAX_DIMS + 1, shape, &error));
  g_assert_error (error, OMNI_ERROR, OMNI_ERROR_INVALID);
  g_clear_error (&error);
  g_assert_false (b->ops->tensor_alloc (b, &t, OMNI_DTYPE_F32, 0, shape, &error));
  g_assert_error (error, OMNI_ERROR, OMNI_ERROR_INVALID);
  g_clear_error (&error);
  g_assert_false (b->ops->tensor_alloc (b, &t, OMNI_DTYPE_F32, 2, (int64_t[]) { 4, -1 }, &error));
  g_assert_error (error, OMNI_ERROR, OMNI_ERROR_INVALID);
  g_clear_error (&error);
  g_assert_false (b->ops->tensor_alloc (b, &t, OMNI_DTYPE_F32, 4, huge, &error));   /* 2^80 elements */
  g_assert_error (error, OMNI_ERROR, OMNI_ERROR_INVALID);
  g_clear_error (&error);
  g_assert_false (b->ops->tensor_alloc (b, &t, OMNI_DTYPE_BF16, 2, too_big, &error));  /* 2 PiB */
  g_assert_error (error, OMNI_ERROR, OMNI_ERROR_NO_MEMORY);
  g_clear_error (&error);
  g_assert_null (t.data);
  omni_backend_close (b);
}

static void
test_kv_cache (void)
{
  GError *error = NULL;
  OmniBackend *b = omni_backend_open ("cpu", &error);
  OmniKVCache kv;

  g_assert_no_error (error);
  g_assert_true (omni_kv_cache_init (b, &kv, 3, 2, 6, 5, 7, &error));
  g_assert_no_error (error);
  g_assert_cmpint (kv.k.dtype, ==, OMNI_DTYPE_F32);
  g_assert_cmpuint (kv.k.n_bytes, ==, 3 * 7 * 5 * 2 * 6 * sizeof (float));
  g_assert_cmpuint (kv.v.n_bytes, ==, kv.k.n_bytes);
  g_assert_cmpint (kv.page_size, ==, 5);
  g_assert_cmpint (kv.n_pages, ==, 7);
  omni_kv_cache_clear (b, &kv);
  g_assert_null (kv.k.data);
  omni_kv_cache_clear (b, &kv);   /* twice is harmless */

  g_assert_false (omni_kv_cache_init (b, &kv, 3, 0, 6, 5, 7, &error));
  g_assert_error (error, OMNI_ERROR, OMNI_ERROR_INVALID);
  g_assert_nonnull (strstr (error->message, "n_kv_heads 0"));
  g_clear_error (&error);
  g_assert_false (omni_kv_cache_init (b, &kv, 3, 2, 6, -5, 7, &error));
  g_assert_error (error, OMNI_ERROR, OMNI_ERROR_INVALID);
  g_clear_error (&error);
  /* the element count overflows size_t */
  g_assert_false (omni_kv_cache_init (b, &kv, G_MAXINT, G_MAXINT, G_MAXINT, G_MAXINT, G_MAXINT, &error));
  g_assert_error (error, OMNI_ERROR, OMNI_ERROR_NO_MEMORY);
  g_clear_error (&error);
  /* fits in size_t, not in memory: 2^57 bytes */
  g_assert_false (omni_kv_cache_init (b, &kv, 1 << 15, 8, 128, 1 << 15, 1 << 15, &error));
  g_assert_error (error, OMNI_ERROR, OMNI_ERROR_NO_MEMORY);
  g_clear_error (&error);
  g_assert_null (kv.k.data);
  g_assert_null (kv.v.data);
  omni_backend_close (b);
}

/* Writes a safetensors file: @json is the header (padded here to 8 bytes so
 * the data is aligned), @data the data section. */
static char *
write_safetensors (const char *dir, const char *json, const void *data, size_t n_data)
{
  char *path = g_build_filename (dir, "w.safetensors", NULL);
  GString *s = g_string_new (json);
  GByteArray *file = g_byte_array_new ();
  guint64 len;
  GError *error = NULL;

  while (s->len % 8 != 0)
    g_string_append_c (s, ' ');
  len = GUINT64_TO_LE ((guint64) s->len);
  g_byte_array_append (file, (const guint8 *) &len, 8);
  g_byte_array_append (file, (const guint8 *) s->str, s->len);
  g_byte_array_append (file, data, n_data);
  g_assert_true (g_file_set_contents (path, (const char *) file->data, file->len, &error));
  g_assert_no_error (error);
  g_string_free (s, TRUE);
  g_byte_array_unref (file);
  return path;
}

/* The same file on cuda-emu (when that module is built): weights copied to
 * the device in their dtype, FP8 dequantized to bf16, the same errors. */
static void
weight_load_cuda (const OmniSafetensors *st, const uint8_t *q)
{
  GError *error = NULL;
  OmniBackend *b = omni_backend_open ("cuda-emu", &error);
  OmniTensor t;
  float back[16];
  uint16_t bits[8];

  if (b == NULL) {
    g_test_message ("no cuda-emu module: %s", error->message);
    g_clear_error (&error);
    return;
  }
  g_assert_true (b->ops->weight_load (b, st, omni_safetensors_get (st, "a"), &t, &error));
  g_assert_no_error (error);
  g_assert_true (t.owned);
  g_assert_true (t.data != omni_safetensors_get (st, "a")->data);
  b->ops->download (b, &t, back, sizeof back);
  g_assert_cmpmem (back, sizeof back, omni_safetensors_get (st, "a")->data, sizeof back);
  b->ops->tensor_free (b, &t);
  g_assert_true (b->ops->weight_load (b, st, omni_safetensors_get (st, "c"), &t, &error));
  g_assert_cmpint (t.dtype, ==, OMNI_DTYPE_BF16);
  b->ops->download (b, &t, bits, sizeof bits);
  for (int i = 0; i < 8; i++)
    g_assert_cmpfloat (omni_bf16_to_f32 (bits[i]), ==, omni_bf16_to_f32 (omni_f32_to_bf16 (omni_f8e4m3_to_f32 (q[i]))));
  b->ops->tensor_free (b, &t);
  g_assert_false (b->ops->weight_load (b, st, omni_safetensors_get (st, "d"), &t, &error));
  g_assert_error (error, OMNI_ERROR, OMNI_ERROR_UNSUPPORTED);
  g_assert_nonnull (strstr (error->message, "I64"));
  g_assert_nonnull (strstr (error->message, "'d'"));
  g_clear_error (&error);
  g_assert_false (b->ops->weight_load (b, st, omni_safetensors_get (st, "e"), &t, &error));
  g_assert_error (error, OMNI_ERROR, OMNI_ERROR_UNSUPPORTED);
  g_assert_nonnull (strstr (error->message, "6 dims"));
  g_clear_error (&error);
  omni_backend_close (b);
}

static void
test_weight_load (void)
{
  GError *error = NULL;
  OmniBackend *b = omni_backend_open ("cpu", &error);
  char *dir = g_dir_make_tmp ("omni-backend-XXXXXX", &error);
  guint8 data[64 + 32 + 8 + 16 + 8];
  float *f = (float *) data;
  uint16_t *h = (uint16_t *) (data + 64);
  uint8_t *q = data + 96;
  const char *json =
    "{\"a\":{\"dtype\":\"F32\",\"shape\":[4,4],\"data_offsets\":[0,64]},"
    "\"b\":{\"dtype\":\"BF16\",\"shape\":[2,8],\"data_offsets\":[64,96]},"
    "\"c\":{\"dtype\":\"F8_E4M3\",\"shape\":[2,4],\"data_offsets\":[96,104]},"
    "\"d\":{\"dtype\":\"I64\",\"shape\":[2],\"data_offsets\":[104,120]},"
    "\"e\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,2],\"data_offsets\":[120,128]}}";
  OmniSafetensors *st;
  OmniTensor t;
  char *path;

  g_assert_no_error (error);
  memset (data, 0, sizeof data);
  for (int i = 0; i < 16; i++) {
    f[i] = i - 7.5f;
    h[i] = omni_f32_to_bf16 (i * 0.25f);
  }
  for (int i = 0; i < 8; i++)
    q[i] = (uint8_t) (0x30 + i * 9);
  path = write_safetensors (dir, json, data, sizeof data);
  st = omni_safetensors_open_file (path, &error);
  g_assert_no_error (error);

  /* F32 and BF16: the mapping itself, not a copy */
  g_assert_true (b->ops->weight_load (b, st, omni_safetensors_get (st, "a"), &t, &error));
  g_assert_no_error (error);
  g_assert_true (t.data == omni_safetensors_get (st, "a")->data);
  g_assert_false (t.owned);
  g_assert_cmpint (t.dtype, ==, OMNI_DTYPE_F32);
  g_assert_cmpint (t.n_dims, ==, 2);
  g_assert_cmpint (t.shape[1], ==, 4);
  b->ops->tensor_free (b, &t);
  g_assert_true (b->ops->weight_load (b, st, omni_safetensors_get (st, "b"), &t, &error));
  g_assert_true (t.data == omni_safetensors_get (st, "b")->data);
  g_assert_cmpint (t.dtype, ==, OMNI_DTYPE_BF16);
  b->ops->tensor_free (b, &t);

  /* F8_E4M3: dequantized once into an owned f32 tensor */
  g_assert_true (b->ops->weight_load (b, st, omni_safetensors_get (st, "c"), &t, &error));
  g_assert_no_error (error);
  g_assert_true (t.owned);
  g_assert_cmpint (t.dtype, ==, OMNI_DTYPE_F32);
  g_assert_cmpuint (t.n_bytes, ==, 8 * sizeof (float));
  for (int i = 0; i < 8; i++)
    g_assert_cmpfloat (((float *) t.data)[i], ==, omni_f8e4m3_to_f32 (q[i]));
  b->ops->tensor_free (b, &t);

  g_assert_false (b->ops->weight_load (b, st, omni_safetensors_get (st, "d"), &t, &error));
  g_assert_error (error, OMNI_ERROR, OMNI_ERROR_UNSUPPORTED);
  g_assert_nonnull (strstr (error->message, "'d'"));
  g_assert_nonnull (strstr (error->message, "I64"));
  g_assert_nonnull (strstr (error->message, "w.safetensors"));
  g_clear_error (&error);
  g_assert_false (b->ops->weight_load (b, st, omni_safetensors_get (st, "e"), &t, &error));
  g_assert_error (error, OMNI_ERROR, OMNI_ERROR_UNSUPPORTED);
  g_assert_nonnull (strstr (error->message, "6 dims"));
  g_clear_error (&error);
  g_assert_null (t.data);
  weight_load_cuda (st, q);

  omni_safetensors_free (st);
  g_unlink (path);
  g_rmdir (dir);
  g_free (path);
  g_free (dir);
  omni_backend_close (b);
}

int
main (int argc, char **argv)
{
  /* before any thread exists; the subprocess test sets its own */
  g_unsetenv ("OMNI_NUM_THREADS");
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/backend/open/devices", test_open);
  g_test_add_func ("/backend/open/num-threads", test_num_threads);
  g_test_add_func ("/backend/open/no-module", test_no_module);
  g_test_add_func ("/backend/cpu/storage", test_storage);
  g_test_add_func ("/backend/kv-cache", test_kv_cache);
  g_test_add_func ("/backend/cpu/weight-load", test_weight_load);
  return g_test_run ();
}
