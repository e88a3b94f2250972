/* safetensors reader: positive reads, sharding, FP8 blocks, malformed input.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <math.h>
#include <string.h>
#include "omnicore.h"
#include "io/safetensors.h"
#include "io-test-util.h"

/* A: F32 [2,3] at 0..24, B: BF16 [4] at 24..32, C: I32 [1] at 32..36 */
static const char good_header[] =
  "{\"__metadata__\":{\"format\":\"pt\"},"
  "\"A\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},"
  "\"B\":{\"dtype\":\"BF16\",\"shape\":[4],\"data_offsets\":[24,32]},"
  "\"C\":{\"dtype\":\"I32\",\"shape\":[1],\"data_offsets\":[32,36]}}";

static void
good_data (guint8 *d)
{
  const float a[6] = { 1.0f, -2.5f, 3.25f, 0.0f, 1e-3f, 65504.0f };
  const uint16_t b[4] = { 0x3f80, 0xc020, 0x7f80, 0x0001 };
  const int32_t c = -7;
  memcpy (d, a, 24);
  memcpy (d + 24, b, 8);
  memcpy (d + 32, &c, 4);
}

static void
check_good (OmniSafetensors *st)
{
  GError *error = NULL;
  float f[6];
  g_assert_cmpuint (omni_safetensors_count (st), ==, 3);
  const OmniSafeTensor *a = omni_safetensors_get (st, "A");
  g_assert_nonnull (a);
  g_assert_cmpint (a->dtype, ==, OMNI_DTYPE_F32);
  g_assert_cmpint (a->n_dims, ==, 2);
  g_assert_cmpint (a->shape[0], ==, 2);
  g_assert_cmpint (a->shape[1], ==, 3);
  g_assert_cmpint (a->n_elements, ==, 6);
  g_assert_cmpuint (a->n_bytes, ==, 24);
  g_assert_true (omni_safetensors_to_f32 (st, a, f, &error));
  g_assert_no_error (error);
  g_assert_cmpfloat (f[1], ==, -2.5f);
  g_assert_cmpfloat (f[5], ==, 65504.0f);
  const OmniSafeTensor *b = omni_safetensors_get (st, "B");
  g_assert_true (omni_safetensors_to_f32 (st, b, f, &error));
  g_assert_cmpfloat (f[0], ==, 1.0f);
  g_assert_cmpfloat (f[1], ==, -2.5f);
  g_assert_true (isinf (f[2]));
  g_assert_cmpfloat (f[3], ==, ldexpf (1, -133));
  const OmniSafeTensor *c = omni_safetensors_get (st, "C");
  g_assert_cmpint (*(const int32_t *) c->data, ==, -7);
  g_assert_false (omni_safetensors_to_f32 (st, c, f, &error));
  io_test_assert_error (&error, OMNI_ERROR_UNSUPPORTED, "\"C\"", "I32", NULL);
  g_assert_null (omni_safetensors_get (st, "__metadata__"));
  g_assert_null (omni_safetensors_get (st, "D"));
  /* nth() walks every tensor once */
  guint seen = 0;
  for (guint i = 0; i < omni_safetensors_count (st); i++)
    seen |= 1u << (omni_safetensors_nth (st, i)->name[0] - 'A');
  g_assert_cmpuint (seen, ==, 7);
  g_assert_null (omni_safetensors_nth (st, 3));
}

static void
test_single (void)
{
  GError *error = NULL;
  char *dir = io_test_tmpdir ();
  guint8 data[36];
  good_data (data);
  g_free (io_test_write_st (dir, "model.safetensors", good_header, data, sizeof data));
  OmniSafetensors *st = omni_safetensors_open_dir (dir, &error);
  g_assert_no_error (error);
  check_good (st);
  g_assert_true (g_str_has_suffix (omni_safetensors_get (st, "A")->file, "model.safetensors"));
  omni_safetensors_free (st);
  io_test_rmdir (dir);
}

static void
test_require (void)
{
  GError *error = NULL;
  char *dir = io_test_tmpdir ();
  guint8 data[36];
  good_data (data);
  char *path = io_test_write_st (dir, "x.safetensors", good_header, data, sizeof data);
  OmniSafetensors *st = omni_safetensors_open_file (path, &error);
  g_assert_no_error (error);
  const int64_t s23[2] = { 2, 3 }, sany[2] = { -1, 3 }, s32[2] = { 3, 2 }, s1[1] = { 1 };
  g_assert_nonnull (omni_safetensors_require (st, "A", 2, s23, &error));
  g_assert_nonnull (omni_safetensors_require (st, "A", 2, sany, &error));
  g_assert_no_error (error);
  g_assert_null (omni_safetensors_require (st, "A", 2, s32, &error));
  io_test_assert_error (&error, OMNI_ERROR_FORMAT, "\"A\"", "[2, 3]", "expected [3, 2]",
                        "x.safetensors", NULL);
  g_assert_null (omni_safetensors_require (st, "A", 1, s23, &error));
  io_test_assert_error (&error, OMNI_ERROR_FORMAT, "\"A\"", "expected [2]", NULL);
  g_assert_null (omni_safetensors_require (st, "model.norm.weight", 1, s1, &error));
  io_test_assert_error (&error, OMNI_ERROR_FORMAT, "\"model.norm.weight\"", "missing",
                        "x.safetensors", NULL);
  g_assert_null (omni_safetensors_require (st, "C", 1, s1, &error));
  io_test_assert_error (&error, OMNI_ERROR_FORMAT, "\"C\"", "I32", NULL);
  omni_safetensors_free (st);
  g_free (path);
  io_test_rmdir (dir);
}

static const char index_json[] =
  "{\"metadata\":{\"total_size\":36},\"weight_map\":{"
  "\"A\":\"model-00001-of-00002.safetensors\",\"B\":\"model-00002-of-00002.safetensors\","
  "\"C\":\"model-00002-of-00002.safetensors\"}}";

/* Writes shard 1 = {A}, shard 2 = {B, C} of the good data into @dir. */
static void
write_shards (const char *dir, gboolean extra_a_in_2)
{
  guint8 data[36], shard2[36];
  good_data (data);
  memcpy (shard2, data + 24, 12);       /* B, C, then a second copy of A */
  memcpy (shard2 + 12, data, 24);
  g_free (io_test_write_st (dir, "model-00001-of-00002.safetensors",
                            "{\"A\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]}}",
                            data, 24));
  g_free (io_test_write_st (dir, "model-00002-of-00002.safetensors", extra_a_in_2
      ? "{\"B\":{\"dtype\":\"BF16\",\"shape\":[4],\"data_offsets\":[0,8]},"
        "\"C\":{\"dtype\":\"I32\",\"shape\":[1],\"data_offsets\":[8,12]},"
        "\"A\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[12,36]}}"
      : "{\"B\":{\"dtype\":\"BF16\",\"shape\":[4],\"data_offsets\":[0,8]},"
        "\"C\":{\"dtype\":\"I32\",\"shape\":[1],\"data_offsets\":[8,12]}}",
      shard2, extra_a_in_2 ? 36 : 12));
}

static void
test_sharded (void)
{
  GError *error = NULL;
  char *dir = io_test_tmpdir ();
  write_shards (dir, FALSE);
  g_free (io_test_write (dir, "model.safetensors.index.json", index_json, -1));
  OmniSafetensors *st = omni_safetensors_open_dir (dir, &error);
  g_assert_no_error (error);
  check_good (st);
  g_assert_true (g_str_has_suffix (omni_safetensors_get (st, "A")->file, "00001-of-00002.safetensors"));
  g_assert_true (g_str_has_suffix (omni_safetensors_get (st, "C")->file, "00002-of-00002.safetensors"));
  omni_safetensors_free (st);
  io_test_rmdir (dir);
}

static void
expect_dir_error (const char *dir, int code, const char *s1, const char *s2)
{
  GError *error = NULL;
  g_assert_null (omni_safetensors_open_dir (dir, &error));
  io_test_assert_error (&error, code, s1, s2, NULL);
}

static void
test_sharded_bad (void)
{
  char *dir = io_test_tmpdir ();
  write_shards (dir, FALSE);

  /* a shard the index names is missing */
  g_free (io_test_write (dir, "model.safetensors.index.json",
      "{\"weight_map\":{\"A\":\"model-00001-of-00002.safetensors\","
      "\"X\":\"model-00003-of-00003.safetensors\"}}", -1));
  expect_dir_error (dir, OMNI_ERROR_IO, "model.safetensors.index.json", "model-00003-of-00003.safetensors");
  /* the index puts C in shard 1, which does not hold it */
  g_free (io_test_write (dir, "model.safetensors.index.json",
      "{\"weight_map\":{\"A\":\"model-00001-of-00002.safetensors\","
      "\"B\":\"model-00002-of-00002.safetensors\",\"C\":\"model-00001-of-00002.safetensors\"}}", -1));
  expect_dir_error (dir, OMNI_ERROR_FORMAT, "\"C\"", "stored in");
  /* the index names a tensor no shard holds */
  g_free (io_test_write (dir, "model.safetensors.index.json",
      "{\"weight_map\":{\"A\":\"model-00001-of-00002.safetensors\","
      "\"Z\":\"model-00002-of-00002.safetensors\"}}", -1));
  expect_dir_error (dir, OMNI_ERROR_FORMAT, "\"Z\"", "no shard holds it");
  /* no weight_map, a weight_map that is not an object, a path in a shard name */
  g_free (io_test_write (dir, "model.safetensors.index.json", "{\"metadata\":{}}", -1));
  expect_dir_error (dir, OMNI_ERROR_FORMAT, "model.safetensors.index.json", "weight_map");
  g_free (io_test_write (dir, "model.safetensors.index.json", "{\"weight_map\":[1]}", -1));
  expect_dir_error (dir, OMNI_ERROR_FORMAT, "model.safetensors.index.json", "weight_map");
  g_free (io_test_write (dir, "model.safetensors.index.json",
      "{\"weight_map\":{\"A\":\"../model-00001-of-00002.safetensors\"}}", -1));
  expect_dir_error (dir, OMNI_ERROR_FORMAT, "weight_map[\"A\"]", "file name");
  g_free (io_test_write (dir, "model.safetensors.index.json", "{\"weight_map\":{}}", -1));
  expect_dir_error (dir, OMNI_ERROR_FORMAT, "model.safetensors.index.json", "no tensors");
  g_free (io_test_write (dir, "model.safetensors.index.json", "{\"weight_map\":", -1));
  expect_dir_error (dir, OMNI_ERROR_FORMAT, "model.safetensors.index.json", "invalid JSON");
  /* one tensor stored in two shards */
  write_shards (dir, TRUE);
  g_free (io_test_write (dir, "model.safetensors.index.json", index_json, -1));
  expect_dir_error (dir, OMNI_ERROR_FORMAT, "\"A\"", "two shards");
  io_test_rmdir (dir);

  dir = io_test_tmpdir ();
  expect_dir_error (dir, OMNI_ERROR_IO, "model.safetensors.index.json", "model.safetensors");
  io_test_rmdir (dir);
}

typedef struct {
  const char *what;
  const char *header;     /* NULL: raw bytes below */
  gsize data_len;
  int code;
  const char *msg1, *msg2;
} BadCase;

static const BadCase bad_cases[] = {
  { "not JSON", "{\"A\":", 0, OMNI_ERROR_FORMAT, "invalid JSON", NULL },
  { "JSON array", "[1,2]", 0, OMNI_ERROR_FORMAT, "not a JSON object", NULL },
  { "empty header", "", 0, OMNI_ERROR_FORMAT, "bad.safetensors", NULL },
  { "entry not object", "{\"A\":3}", 0, OMNI_ERROR_FORMAT, "\"A\"", "not a JSON object" },
  { "unknown dtype", "{\"A\":{\"dtype\":\"F64\",\"shape\":[1],\"data_offsets\":[0,8]}}", 8,
    OMNI_ERROR_FORMAT, "\"A\"", "\"F64\"" },
  { "missing dtype", "{\"A\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
    OMNI_ERROR_FORMAT, "\"A\"", "dtype" },
  { "negative dim", "{\"A\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4,
    OMNI_ERROR_FORMAT, "\"A\"", "shape[0]" },
  { "absurd dim", "{\"A\":{\"dtype\":\"F32\",\"shape\":[1099511627777],\"data_offsets\":[0,4]}}", 4,
    OMNI_ERROR_FORMAT, "\"A\"", "too large" },
  { "overflowing shape", "{\"A\":{\"dtype\":\"F32\",\"shape\":[1048576,1048576,1048576,1048576],"
    "\"data_offsets\":[0,0]}}", 0, OMNI_ERROR_FORMAT, "\"A\"", "too large" },
  { "float dim", "{\"A\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}", 4,
    OMNI_ERROR_FORMAT, "\"A\"", "shape" },
  { "9 dims", "{\"A\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}", 4,
    OMNI_ERROR_FORMAT, "\"A\"", "at most 8" },
  { "3 offsets", "{\"A\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4,8]}}", 8,
    OMNI_ERROR_FORMAT, "\"A\"", "data_offsets" },
  { "end < begin", "{\"A\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[4,0]}}", 8,
    OMNI_ERROR_FORMAT, "\"A\"", "begin <= end" },
  { "negative begin", "{\"A\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[-4,0]}}", 8,
    OMNI_ERROR_FORMAT, "\"A\"", "begin <= end" },
  { "out of bounds", "{\"A\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 12,
    OMNI_ERROR_FORMAT, "\"A\"", "past the end of the data section" },
  { "wrong dtype size", "{\"A\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}", 8,
    OMNI_ERROR_FORMAT, "\"A\"", "needs 8" },
  { "overlap", "{\"A\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
    "\"B\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12,
    OMNI_ERROR_FORMAT, "overlap", "\"B\"" },
  { "duplicate", "{\"A\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
    "\"A\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8,
    OMNI_ERROR_FORMAT, "\"A\"", "twice" },
  { "misaligned", "{\"A\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},"
    "\"B\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[1,5]}}", 5,
    OMNI_ERROR_FORMAT, "\"B\"", "aligned" },
};

static void
test_bad_headers (void)
{
  char *dir = io_test_tmpdir ();
  guint8 zeros[64] = { 0 };
  for (guint i = 0; i < G_N_ELEMENTS (bad_cases); i++) {
    const BadCase *c = &bad_cases[i];
    GError *error = NULL;
    g_test_message ("case: %s", c->what);
    char *path = io_test_write_st (dir, "bad.safetensors", c->header, zeros, c->data_len);
    g_assert_null (omni_safetensors_open_file (path, &error));
    io_test_assert_error (&error, c->code, "bad.safetensors", c->msg1, c->msg2, NULL);
    g_free (path);
  }
  io_test_rmdir (dir);
}

static void
test_bad_files (void)
{
  GError *error = NULL;
  char *dir = io_test_tmpdir ();
  /* shorter than the length field, empty */
  char *path = io_test_write (dir, "short.safetensors", "\x10\0\0\0\0", 5);
  g_assert_null (omni_safetensors_open_file (path, &error));
  io_test_assert_error (&error, OMNI_ERROR_FORMAT, "short.safetensors", "5 bytes", NULL);
  g_free (path);
  path = io_test_write (dir, "empty.safetensors", "", 0);
  g_assert_null (omni_safetensors_open_file (path, &error));
  io_test_assert_error (&error, OMNI_ERROR_FORMAT, "empty.safetensors", "0 bytes", NULL);
  g_free (path);
  /* header length past EOF, and absurd */
  path = io_test_write (dir, "long.safetensors", "\x40\0\0\0\0\0\0\0{}", 10);
  g_assert_null (omni_safetensors_open_file (path, &error));
  io_test_assert_error (&error, OMNI_ERROR_FORMAT, "long.safetensors", "header length 64", NULL);
  g_free (path);
  path = io_test_write (dir, "huge.safetensors", "\0\0\0\0\0\0\0\x80{}", 10);
  g_assert_null (omni_safetensors_open_file (path, &error));
  io_test_assert_error (&error, OMNI_ERROR_FORMAT, "huge.safetensors", "header length", NULL);
  g_free (path);
  /* truncated: the header promises more data than the file holds */
  guint8 data[36];
  good_data (data);
  path = io_test_write_st (dir, "trunc.safetensors", good_header, data, 30);
  g_assert_null (omni_safetensors_open_file (path, &error));
  io_test_assert_error (&error, OMNI_ERROR_FORMAT, "trunc.safetensors", "past the end", NULL);
  g_free (path);
  /* a file that does not exist */
  path = g_build_filename (dir, "absent.safetensors", NULL);
  g_assert_null (omni_safetensors_open_file (path, &error));
  io_test_assert_error (&error, OMNI_ERROR_IO, "absent.safetensors", NULL);
  g_free (path);
  io_test_rmdir (dir);
}

/* Block-scaled FP8 weights against transformers' dequantization (fixture). */
static void
check_fp8 (OmniSafetensors *st, const char *name, int br, int bc, gboolean ok)
{
  GError *error = NULL;
  char *wname = g_strconcat (name, ".weight", NULL), *ename = g_strconcat (name, ".expected", NULL);
  const OmniSafeTensor *w = omni_safetensors_get (st, wname), *e = omni_safetensors_get (st, ename);
  g_assert_nonnull (w);
  g_assert_nonnull (e);
  g_assert_cmpint (w->dtype, ==, OMNI_DTYPE_F8_E4M3);
  float *got = g_new (float, w->n_elements);
  omni_safetensors_set_fp8_block (st, br, bc);
  if (ok) {
    g_assert_true (omni_safetensors_to_f32 (st, w, got, &error));
    g_assert_no_error (error);
    g_assert_cmpmem (got, w->n_elements * 4, e->data, e->n_bytes);
  } else {
    g_assert_false (omni_safetensors_to_f32 (st, w, got, &error));
    io_test_assert_error (&error, OMNI_ERROR_FORMAT, wname, "_scale_inv", NULL);
  }
  g_free (got);
  g_free (wname);
  g_free (ename);
}

static void
test_fp8_blocks (void)
{
  GError *error = NULL;
  char *path = io_test_srcpath ("dtype-fixture.safetensors");
  OmniSafetensors *st = omni_safetensors_open_file (path, &error);
  g_assert_no_error (error);
  check_fp8 (st, "b128", 128, 128, TRUE);
  check_fp8 (st, "div", 0, 0, TRUE);         /* derived: 64/2 x 48/3 */
  check_fp8 (st, "div", 32, 16, TRUE);
  check_fp8 (st, "part", 32, 16, TRUE);
  check_fp8 (st, "part", 0, 0, FALSE);       /* 40 columns in 3 blocks: not derivable */
  check_fp8 (st, "part", 64, 16, FALSE);     /* configured size does not fit the grid */
  check_fp8 (st, "experts", 32, 16, TRUE);
  check_fp8 (st, "experts", 0, 0, TRUE);
  /* without a _scale_inv the raw values come out */
  const OmniSafeTensor *codes = omni_safetensors_get (st, "fp8.codes");
  g_assert_nonnull (codes);
  omni_safetensors_free (st);
  g_free (path);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/safetensors/single", test_single);
  g_test_add_func ("/safetensors/require", test_require);
  g_test_add_func ("/safetensors/sharded", test_sharded);
  g_test_add_func ("/safetensors/sharded-bad", test_sharded_bad);
  g_test_add_func ("/safetensors/bad-headers", test_bad_headers);
  g_test_add_func ("/safetensors/bad-files", test_bad_files);
  g_test_add_func ("/safetensors/fp8-blocks", test_fp8_blocks);
  return g_test_run ();
}
