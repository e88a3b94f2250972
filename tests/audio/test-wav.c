/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The WAV reader: every supported encoding written by a tiny writer below,
 * three files made by sox (checked against sox's own float conversion), and
 * malformed files. */
#include "audio/wav.h"
#include "omnicore.h"

#include <glib/gstdio.h>
#include <math.h>
#include <string.h>

typedef struct {
  int tag;          /* 1 PCM, 3 float */
  int bits;
  int valid_bits;   /* extensible only */
  gboolean extensible;
  int channels;
  int rate;
} Format;

static void
put16 (GByteArray *b, guint v)
{
  guint8 x[2] = { v & 0xff, (v >> 8) & 0xff };
  g_byte_array_append (b, x, 2);
}

static void
put32 (GByteArray *b, guint32 v)
{
  guint8 x[4] = { v & 0xff, (v >> 8) & 0xff, (v >> 16) & 0xff, v >> 24 };
  g_byte_array_append (b, x, 4);
}

static void
put_chunk_header (GByteArray *b, const char *id, guint32 size)
{
  g_byte_array_append (b, (const guint8 *) id, 4);
  put32 (b, size);
}

static void
put_fmt (GByteArray *b, const Format *f)
{
  static const guint8 guid_tail[14] = { 0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80,
                                        0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71 };
  int block = f->channels * f->bits / 8;

  put_chunk_header (b, "fmt ", f->extensible ? 40 : 16);
  put16 (b, f->extensible ? 0xFFFE : f->tag);
  put16 (b, f->channels);
  put32 (b, f->rate);
  put32 (b, f->rate * block);
  put16 (b, block);
  put16 (b, f->bits);
  if (f->extensible) {
    put16 (b, 22);
    put16 (b, f->valid_bits);
    put32 (b, 0);
    put16 (b, f->tag);
    g_byte_array_append (b, guid_tail, sizeof guid_tail);
  }
}

/* Sample (frame i, channel c) as a value the format holds exactly. */
static double
sample_value (const Format *f, GRand *rand)
{
  if (f->tag == 3)
    return f->bits == 32 ? (double) (float) g_rand_double_range (rand, -1, 1)
                         : g_rand_double_range (rand, -1, 1);
  gint64 half = (gint64) 1 << (f->bits - 1);
  gint64 k = (gint64) g_rand_double_range (rand, -(double) half, (double) half);
  if (f->extensible && f->valid_bits < f->bits)  /* the low bits stay zero */
    k &= ~(((gint64) 1 << (f->bits - f->valid_bits)) - 1);
  return (double) k / half;
}

static void
put_sample (GByteArray *b, const Format *f, double v)
{
  if (f->tag == 3 && f->bits == 32) {
    float x = (float) v;
    guint32 u;
    memcpy (&u, &x, 4);
    put32 (b, u);
  } else if (f->tag == 3) {
    guint64 u;
    memcpy (&u, &v, 8);
    put32 (b, (guint32) u);
    put32 (b, (guint32) (u >> 32));
  } else {
    gint64 k = llround (v * (double) ((gint64) 1 << (f->bits - 1)));
    if (f->bits == 8)
      k += 128;
    for (int i = 0; i < f->bits / 8; i++) {
      guint8 byte = (guint8) ((guint64) k >> (8 * i));
      g_byte_array_append (b, &byte, 1);
    }
  }
}

/* A complete file of @n frames; the expected mono mix goes to @mono. */
static GByteArray *
make_wav (const Format *f, gsize n, float *mono, guint32 seed)
{
  GByteArray *b = g_byte_array_new ();
  GRand *rand = g_rand_new_with_seed (seed);
  guint32 data_size = (guint32) (n * f->channels * f->bits / 8);

  g_byte_array_append (b, (const guint8 *) "RIFF", 4);
  put32 (b, 0);
  g_byte_array_append (b, (const guint8 *) "WAVE", 4);
  put_fmt (b, f);
  put_chunk_header (b, "data", data_size);
  for (gsize i = 0; i < n; i++) {
    double sum = 0;
    for (int c = 0; c < f->channels; c++) {
      double v = sample_value (f, rand);
      put_sample (b, f, v);
      sum += v;
    }
    mono[i] = (float) (sum / f->channels);
  }
  guint32 riff = b->len - 8;
  memcpy (b->data + 4, (guint8[]) { riff & 0xff, (riff >> 8) & 0xff, (riff >> 16) & 0xff,
                                    riff >> 24 }, 4);
  g_rand_free (rand);
  return b;
}

static char *tmpdir;

static void
test_formats (void)
{
  static const Format formats[] = {
    { 1, 8, 8, FALSE, 1, 8000 },
    { 1, 16, 16, FALSE, 1, 16000 },
    { 1, 16, 16, FALSE, 2, 44100 },
    { 1, 24, 24, FALSE, 2, 48000 },
    { 1, 32, 32, FALSE, 1, 22050 },
    { 3, 32, 32, FALSE, 2, 44100 },
    { 3, 64, 64, FALSE, 1, 96000 },
    { 1, 16, 16, TRUE, 6, 48000 },
    { 1, 32, 24, TRUE, 2, 48000 },   /* 24 valid bits in a 32-bit container */
    { 1, 24, 20, TRUE, 1, 11025 },
    { 3, 32, 32, TRUE, 4, 32000 },
    { 3, 64, 64, TRUE, 3, 8000 },
    { 1, 8, 8, TRUE, 8, 16000 },
  };
  for (guint i = 0; i < G_N_ELEMENTS (formats); i++) {
    const Format *f = &formats[i];
    gsize n = 1000 + i * 37;
    float *expect = g_new (float, n);
    GByteArray *b = make_wav (f, n, expect, i + 1);
    g_autofree char *path = g_strdup_printf ("%s/fmt-%u.wav", tmpdir, i);
    GError *error = NULL;
    OmniWavInfo info;

    g_assert_true (g_file_set_contents (path, (const char *) b->data, b->len, NULL));
    float *got = omni_wav_read (path, &info, &error);
    g_assert_no_error (error);
    g_test_message ("%s %d-bit%s, %d ch, %d Hz", f->tag == 3 ? "float" : "int", f->bits,
                    f->extensible ? " extensible" : "", f->channels, f->rate);
    g_assert_cmpint (info.n_frames, ==, n);
    g_assert_cmpint (info.n_channels, ==, f->channels);
    g_assert_cmpint (info.sample_rate, ==, f->rate);
    g_assert_cmpint (info.bits_per_sample, ==, f->bits);
    g_assert_cmpint (info.valid_bits, ==, f->extensible ? f->valid_bits : f->bits);
    g_assert_cmpint (info.is_float, ==, f->tag == 3);
    g_assert_cmpint (info.extensible, ==, f->extensible);
    for (gsize k = 0; k < n; k++)
      g_assert_cmpfloat (got[k], ==, expect[k]);
    g_free (got);
    g_free (expect);
    g_byte_array_unref (b);
    g_unlink (path);
  }
}

/* sox wrote the WAV and, with `sox X.wav -t f32 X.f32`, its float samples. */
static void
test_sox_file (gconstpointer data)
{
  const char *stem = data;
  g_autofree char *wav_name = g_strdup_printf ("%s.wav", stem);
  g_autofree char *raw_name = g_strdup_printf ("%s.f32", stem);
  g_autofree char *wav = g_build_filename (g_getenv ("OMNI_TEST_SRCDIR"), "audio", "data",
                                           wav_name, NULL);
  g_autofree char *raw = g_build_filename (g_getenv ("OMNI_TEST_SRCDIR"), "audio", "data",
                                           raw_name, NULL);
  g_autofree char *bytes = NULL;
  gsize len;
  GError *error = NULL;
  OmniWavInfo info;

  float *got = omni_wav_read (wav, &info, &error);
  g_assert_no_error (error);
  g_assert_true (g_file_get_contents (raw, &bytes, &len, NULL));
  g_assert_cmpint (len, ==, info.n_frames * info.n_channels * 4);
  const float *ref = (const float *) bytes;
  for (gsize i = 0; i < info.n_frames; i++) {
    double sum = 0;
    for (int c = 0; c < info.n_channels; c++)
      sum += ref[i * info.n_channels + c];
    g_assert_cmpfloat (got[i], ==, (float) (sum / info.n_channels));
  }
  g_test_message ("%s: %d ch, %d Hz, %d-bit %s%s, %" G_GSIZE_FORMAT " frames", stem,
                  info.n_channels, info.sample_rate, info.bits_per_sample,
                  info.is_float ? "float" : "int", info.extensible ? " extensible" : "",
                  info.n_frames);
  g_free (got);
}

/* A valid 16-bit stereo file to break: fmt at byte 12, data header at 36. */
static GByteArray *
base_file (void)
{
  static const Format f = { 1, 16, 16, FALSE, 2, 16000 };
  float mono[10];
  return make_wav (&f, 10, mono, 99);
}

static void
set16 (GByteArray *b, guint off, guint v)
{
  b->data[off] = v & 0xff;
  b->data[off + 1] = (v >> 8) & 0xff;
}

static void
set32 (GByteArray *b, guint off, guint32 v)
{
  set16 (b, off, v & 0xffff);
  set16 (b, off + 2, v >> 16);
}

static void
expect_error (GByteArray *b, gsize len, int code, const char *needle)
{
  GError *error = NULL;
  OmniWavInfo info;

  g_assert_null (omni_wav_decode ("bad.wav", b->data, len, &info, &error));
  g_assert_error (error, OMNI_ERROR, code);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, "bad.wav"));
  g_assert_nonnull (strstr (error->message, needle));
  g_clear_error (&error);
  g_byte_array_unref (b);
}

static void
test_malformed (void)
{
  GByteArray *b;

  expect_error (base_file (), 8, OMNI_ERROR_FORMAT, "not a RIFF/WAVE file");
  b = base_file ();
  memcpy (b->data, "RIFX", 4);
  expect_error (b, b->len, OMNI_ERROR_FORMAT, "RIFF header");
  b = base_file ();
  memcpy (b->data, "RF64", 4);
  expect_error (b, b->len, OMNI_ERROR_UNSUPPORTED, "RF64");
  b = base_file ();
  memcpy (b->data + 8, "AVI ", 4);
  expect_error (b, b->len, OMNI_ERROR_FORMAT, "not a RIFF/WAVE");
  b = base_file ();
  set32 (b, 16, 14);
  expect_error (b, b->len, OMNI_ERROR_FORMAT, "fmt chunk: size 14");
  b = base_file ();
  set16 (b, 22, 0);
  expect_error (b, b->len, OMNI_ERROR_FORMAT, "fmt chunk: channels is 0");
  b = base_file ();
  set32 (b, 24, 0);
  expect_error (b, b->len, OMNI_ERROR_FORMAT, "fmt chunk: sample_rate is 0");
  b = base_file ();
  set16 (b, 20, 2);
  expect_error (b, b->len, OMNI_ERROR_UNSUPPORTED, "format tag 0x0002");
  b = base_file ();
  set16 (b, 34, 12);
  expect_error (b, b->len, OMNI_ERROR_UNSUPPORTED, "bits_per_sample 12");
  b = base_file ();
  set16 (b, 20, 3);
  expect_error (b, b->len, OMNI_ERROR_UNSUPPORTED, "bits_per_sample 16 is not supported for IEEE");
  b = base_file ();
  set16 (b, 32, 3);
  expect_error (b, b->len, OMNI_ERROR_FORMAT, "block_align is 3");
  b = base_file ();
  set16 (b, 20, 0xFFFE);
  expect_error (b, b->len, OMNI_ERROR_FORMAT, "WAVE_FORMAT_EXTENSIBLE needs 40 bytes");
  b = base_file ();
  b->data[43] = 0x7F;  /* data size high byte: way past the end */
  expect_error (b, b->len, OMNI_ERROR_FORMAT, "data chunk: size");
  b = base_file ();
  expect_error (b, b->len - 1, OMNI_ERROR_FORMAT, "data chunk: size 40 runs past the end");
  b = base_file ();
  set32 (b, 40, 39);
  expect_error (b, b->len, OMNI_ERROR_FORMAT, "not a whole number of frames");
  b = base_file ();
  memcpy (b->data + 36, "junk", 4);
  expect_error (b, b->len, OMNI_ERROR_FORMAT, "data chunk: missing");
  b = base_file ();
  memcpy (b->data + 12, "LIST", 4);
  expect_error (b, b->len, OMNI_ERROR_FORMAT, "data chunk: comes before any fmt chunk");
  b = base_file ();
  set32 (b, 16, 1000);
  expect_error (b, b->len, OMNI_ERROR_FORMAT, "fmt chunk: size 1000 runs past the end");
  b = base_file ();
  expect_error (b, 36 + 5, OMNI_ERROR_FORMAT, "truncated");
  expect_error (base_file (), 12, OMNI_ERROR_FORMAT, "fmt chunk: missing");

  /* fmt twice */
  b = g_byte_array_new ();
  GByteArray *ok = base_file ();
  g_byte_array_append (b, ok->data, 36);
  g_byte_array_append (b, ok->data + 12, 24);
  g_byte_array_append (b, ok->data + 36, ok->len - 36);
  g_byte_array_unref (ok);
  expect_error (b, b->len, OMNI_ERROR_FORMAT, "fmt chunk: appears twice");
}

static void
test_malformed_extensible (void)
{
  static const Format f = { 1, 16, 16, TRUE, 2, 16000 };
  float mono[4];
  GByteArray *b;

  b = make_wav (&f, 4, mono, 1);
  b->data[12 + 8 + 24 + 2] ^= 0xFF;  /* SubFormat GUID tail */
  expect_error (b, b->len, OMNI_ERROR_UNSUPPORTED, "SubFormat GUID");
  b = make_wav (&f, 4, mono, 1);
  set16 (b, 12 + 8 + 18, 20);        /* valid bits > container */
  expect_error (b, b->len, OMNI_ERROR_FORMAT, "wValidBitsPerSample 20 exceeds");
  b = make_wav (&f, 4, mono, 1);
  set16 (b, 12 + 8 + 24, 2);         /* sub-format ADPCM */
  expect_error (b, b->len, OMNI_ERROR_UNSUPPORTED, "format tag 0x0002");

  static const Format ff = { 3, 32, 32, FALSE, 2, 16000 };
  b = make_wav (&ff, 4, mono, 1);
  set32 (b, 44 + 3 * 8 + 4, 0x7FC00000);  /* frame 3, channel 1: NaN */
  expect_error (b, b->len, OMNI_ERROR_FORMAT, "frame 3 channel 1 is NaN");
}

/* Unknown chunks (odd sized, with the pad byte) are skipped; an empty data
 * chunk gives zero frames. */
static void
test_chunks (void)
{
  GByteArray *ok = base_file ();
  GByteArray *b = g_byte_array_new ();
  GError *error = NULL;
  OmniWavInfo info;

  g_byte_array_append (b, ok->data, 12);
  put_chunk_header (b, "LIST", 5);
  g_byte_array_append (b, (const guint8 *) "abcde\0", 6);
  g_byte_array_append (b, ok->data + 12, ok->len - 12);
  float *got = omni_wav_decode ("chunks.wav", b->data, b->len, &info, &error);
  g_assert_no_error (error);
  g_assert_cmpint (info.n_frames, ==, 10);
  float *ref = omni_wav_decode ("ok.wav", ok->data, ok->len, &info, &error);
  g_assert_cmpmem (got, 10 * sizeof (float), ref, 10 * sizeof (float));
  g_free (got);
  g_free (ref);

  set32 (ok, 40, 0);
  got = omni_wav_decode ("empty.wav", ok->data, 44, &info, &error);
  g_assert_no_error (error);
  g_assert_nonnull (got);
  g_assert_cmpint (info.n_frames, ==, 0);
  g_free (got);
  g_byte_array_unref (ok);
  g_byte_array_unref (b);
}

static void
test_io_errors (void)
{
  GError *error = NULL;
  OmniWavInfo info;
  g_autofree char *missing = g_strdup_printf ("%s/missing.wav", tmpdir);
  g_autofree char *empty = g_strdup_printf ("%s/empty.wav", tmpdir);

  g_assert_null (omni_wav_read (missing, &info, &error));
  g_assert_error (error, OMNI_ERROR, OMNI_ERROR_IO);
  g_assert_nonnull (strstr (error->message, "missing.wav"));
  g_clear_error (&error);
  g_assert_true (g_file_set_contents (empty, "", 0, NULL));
  g_assert_null (omni_wav_read (empty, &info, &error));
  g_assert_error (error, OMNI_ERROR, OMNI_ERROR_FORMAT);
  g_assert_nonnull (strstr (error->message, "empty.wav"));
  g_clear_error (&error);
  g_unlink (empty);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  tmpdir = g_dir_make_tmp ("omni-wav-XXXXXX", NULL);
  g_assert_nonnull (tmpdir);
  g_test_add_func ("/audio/wav/formats", test_formats);
  g_test_add_data_func ("/audio/wav/sox-s24-stereo", "sox-s24-stereo-44k1", test_sox_file);
  g_test_add_data_func ("/audio/wav/sox-f32-3ch", "sox-f32-3ch-48k", test_sox_file);
  g_test_add_data_func ("/audio/wav/sox-u8-mono", "sox-u8-mono-8k", test_sox_file);
  g_test_add_func ("/audio/wav/malformed", test_malformed);
  g_test_add_func ("/audio/wav/malformed-extensible", test_malformed_extensible);
  g_test_add_func ("/audio/wav/chunks", test_chunks);
  g_test_add_func ("/audio/wav/io-errors", test_io_errors);
  int rc = g_test_run ();
  g_rmdir (tmpdir);
  g_free (tmpdir);
  return rc;
}
