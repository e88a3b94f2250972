/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Log-mel features against transformers' WhisperFeatureExtractor (fixtures
 * from make_mel_fixture.py). Two references: its float64 numpy path, which
 * we must match to 1e-5, and its float32 torch path (what the Qwen3-Omni
 * processor runs when torch is installed). transformers' two paths differ
 * from each other by up to 5.8e-5 on these clips (float32 FFT rounding in
 * bins 70+ dB below a frame's peak), so no implementation can be within
 * 1e-5 of both; against the torch path we require, element by element, to
 * be no farther than the numpy path is, plus 1e-6. */
#include "audio/mel.h"
#include "audio/wav.h"
#include "io/safetensors.h"
#include "omnicore.h"

#include <math.h>
#include <string.h>

static OmniSafetensors *fixture;
static OmniMelConfig whisper_cfg;

static char *
data_path (const char *name)
{
  return g_build_filename (g_getenv ("OMNI_TEST_SRCDIR"), "audio", "data", name, NULL);
}

static const OmniSafeTensor *
need (const char *clip, const char *what)
{
  g_autofree char *name = g_strdup_printf ("%s.%s", clip, what);
  const OmniSafeTensor *t = omni_safetensors_get (fixture, name);
  g_assert_nonnull (t);
  return t;
}

static float *
read_clip (const char *clip, gsize *n)
{
  g_autofree char *file = g_strdup_printf ("%s.wav", clip);
  g_autofree char *path = data_path (file);
  GError *error = NULL;
  OmniWavInfo info;
  float *pcm = omni_wav_read (path, &info, &error);
  g_assert_no_error (error);
  g_assert_cmpint (info.sample_rate, ==, 16000);
  *n = info.n_frames;
  return pcm;
}

/* Computes @clip's features (from @pcm) and compares the stored columns. */
static void
compare (const OmniMelConfig *cfg, const char *fixture_name, const float *pcm, gsize n)
{
  GError *error = NULL;
  OmniMel *mel = omni_mel_new (cfg, &error);
  g_assert_no_error (error);
  const OmniSafeTensor *frames = need (fixture_name, "frames");
  const OmniSafeTensor *np = need (fixture_name, "numpy");
  const OmniSafeTensor *pt = need (fixture_name, "torch");
  gsize n_frames = omni_mel_n_frames (mel, n);
  g_assert_cmpint (n_frames, ==, ((const gint32 *) need (fixture_name, "n_frames")->data)[0]);
  g_assert_cmpint (np->shape[0], ==, 128);

  float *out = g_new (float, 128 * n_frames);
  gint64 t0 = g_get_monotonic_time ();
  g_assert_true (omni_mel_compute (mel, pcm, n, out, &error));
  gint64 t1 = g_get_monotonic_time ();
  g_assert_no_error (error);

  const gint32 *idx = frames->data;
  gsize k = frames->shape[0];
  const float *fn = np->data, *ft = pt->data;
  double err_np = 0, err_pt = 0, np_pt = 0, excess = -1;
  for (int m = 0; m < 128; m++) {
    for (gsize c = 0; c < k; c++) {
      float ours = out[m * n_frames + idx[c]];
      double a = fabs (ours - fn[m * k + c]);
      double b = fabs (ours - ft[m * k + c]);
      double ref = fabs (fn[m * k + c] - ft[m * k + c]);
      err_np = MAX (err_np, a);
      err_pt = MAX (err_pt, b);
      np_pt = MAX (np_pt, ref);
      excess = MAX (excess, b - ref);
    }
  }
  g_print ("# %-11s %7" G_GSIZE_FORMAT " samples %4" G_GSIZE_FORMAT " frames: max |ours - numpy| "
           "%.3g, max |ours - torch| %.3g (numpy vs torch %.3g), %.2f ms\n", fixture_name, n,
           n_frames, err_np, err_pt, np_pt, (t1 - t0) / 1000.0);
  g_assert_cmpfloat (err_np, <=, 1e-5);
  g_assert_cmpfloat (excess, <=, 1e-6);
  g_free (out);
  omni_mel_free (mel);
}

static void
test_clip (gconstpointer data)
{
  const char *clip = data;
  gsize n;
  float *pcm = read_clip (clip, &n);
  compare (&whisper_cfg, clip, pcm, n);
  g_free (pcm);
}

/* Qwen3ASRFeatureExtractor zero-pads clips shorter than min_length. */
static void
test_asr_min_length (void)
{
  const char *json = "{\"feature_extractor_type\": \"Qwen3ASRFeatureExtractor\", "
                     "\"feature_size\": 128, \"sampling_rate\": 16000, \"hop_length\": 160, "
                     "\"n_fft\": 400, \"dither\": 0.0, \"padding_value\": 0.0}";
  OmniMelConfig cfg;
  GError *error = NULL;
  gsize n;

  g_assert_true (omni_mel_config_parse ("asr.json", json, -1, &cfg, &error));
  g_assert_no_error (error);
  g_assert_cmpint (cfg.min_samples, ==, 8000);
  float *pcm = read_clip ("clip-0.3s", &n);
  compare (&cfg, "asr-0.3s", pcm, n);
  g_free (pcm);
}

static void
test_filters (void)
{
  GError *error = NULL;
  OmniMel *mel = omni_mel_new (&whisper_cfg, &error);
  const OmniSafeTensor *t = omni_safetensors_get (fixture, "mel_filters");
  float *ours = g_new (float, 201 * 128);
  const float *ref;
  double worst = 0;

  g_assert_nonnull (t);
  g_assert_cmpint (t->shape[0], ==, 201);
  g_assert_cmpint (t->shape[1], ==, 128);
  ref = t->data;
  omni_mel_filters (mel, ours);
  for (int i = 0; i < 201 * 128; i++)
    worst = MAX (worst, fabs (ours[i] - ref[i]) / MAX (fabs (ref[i]), 1e-30));
  g_print ("# mel filters: max relative difference %.3g\n", worst);
  g_assert_cmpfloat (worst, <=, 1.2e-7);  /* at most one float32 ulp */
  g_free (ours);
  omni_mel_free (mel);
}

/* log10(1e-10) everywhere: (-10 + 4) / 4. */
static void
test_silence (void)
{
  GError *error = NULL;
  OmniMel *mel = omni_mel_new (&whisper_cfg, &error);
  float *pcm = g_new0 (float, 16000);
  float *out = g_new (float, 128 * 100);

  g_assert_cmpint (omni_mel_n_frames (mel, 16000), ==, 100);
  g_assert_true (omni_mel_compute (mel, pcm, 16000, out, &error));
  for (int i = 0; i < 128 * 100; i++)
    g_assert_cmpfloat (out[i], ==, -1.5f);
  g_free (pcm);
  g_free (out);
  omni_mel_free (mel);
}

/* Clips shorter than n_fft / 2 are reflected several times (numpy's
 * "reflect"); a constant clip then stays constant, so every frame is equal. */
static void
test_short_clips (void)
{
  GError *error = NULL;
  OmniMel *mel = omni_mel_new (&whisper_cfg, &error);
  float pcm[333], out[128 * 2];

  g_assert_cmpint (omni_mel_n_frames (mel, 159), ==, 0);
  g_assert_cmpint (omni_mel_n_frames (mel, 160), ==, 1);
  g_assert_cmpint (omni_mel_n_frames (mel, 333), ==, 2);
  for (int i = 0; i < 333; i++)
    pcm[i] = 0.25f;
  g_assert_true (omni_mel_compute (mel, pcm, 333, out, &error));
  g_assert_no_error (error);
  for (int m = 0; m < 128; m++) {
    g_assert_true (isfinite (out[2 * m]));
    g_assert_cmpfloat (fabs (out[2 * m] - out[2 * m + 1]), <=, 1e-6);
  }
  /* a DC clip puts its energy in the lowest mel bands only */
  g_assert_cmpfloat (out[0], >, out[2 * 127]);
  omni_mel_free (mel);
}

static void
assert_invalid (OmniMel *mel, const float *pcm, gsize n, const char *needle)
{
  GError *error = NULL;
  float out[128 * 100];

  g_assert_false (omni_mel_compute (mel, pcm, n, out, &error));
  g_assert_error (error, OMNI_ERROR, OMNI_ERROR_INVALID);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, needle));
  g_clear_error (&error);
}

static void
test_bad_input (void)
{
  GError *error = NULL;
  OmniMel *mel = omni_mel_new (&whisper_cfg, &error);
  float *pcm = g_new0 (float, 16000);

  assert_invalid (mel, pcm, 0, "empty");
  assert_invalid (mel, pcm, 100, "shorter than one hop");
  pcm[1234] = NAN;
  assert_invalid (mel, pcm, 16000, "sample 1234 of 16000 is NaN");
  pcm[1234] = 0;
  pcm[15999] = INFINITY;
  assert_invalid (mel, pcm, 16000, "sample 15999 of 16000 is infinite");
  pcm[15999] = 0;
  pcm[0] = -INFINITY;
  assert_invalid (mel, pcm, 16000, "sample 0 of 16000 is infinite");
  g_free (pcm);
  omni_mel_free (mel);

  OmniMelConfig cfg = whisper_cfg;
  cfg.n_fft = 1;
  g_assert_null (omni_mel_new (&cfg, &error));
  g_assert_error (error, OMNI_ERROR, OMNI_ERROR_INVALID);
  g_clear_error (&error);
}

static void
assert_config_error (const char *json, int code, const char *needle)
{
  OmniMelConfig cfg;
  GError *error = NULL;

  g_assert_false (omni_mel_config_parse ("pp.json", json, -1, &cfg, &error));
  g_assert_error (error, OMNI_ERROR, code);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, "pp.json"));
  g_assert_nonnull (strstr (error->message, needle));
  g_clear_error (&error);
}

#define BASE "\"sampling_rate\": 16000, \"hop_length\": 160, \"n_fft\": 400"

static void
test_config (void)
{
  OmniMelConfig cfg;
  GError *error = NULL;
  g_autofree char *missing = data_path ("no-such-file.json");

  g_assert_cmpint (whisper_cfg.n_mels, ==, 128);
  g_assert_cmpint (whisper_cfg.n_fft, ==, 400);
  g_assert_cmpint (whisper_cfg.hop_length, ==, 160);
  g_assert_cmpint (whisper_cfg.sampling_rate, ==, 16000);
  g_assert_cmpint (whisper_cfg.min_samples, ==, 0);

  /* transformers v5 nests the extractor in processor_config.json */
  g_assert_true (omni_mel_config_parse ("pp.json", "{\"feature_extractor\": {\"feature_size\": 80, "
                                        BASE ", \"padding_value\": 0.5}}", -1, &cfg, &error));
  g_assert_no_error (error);
  g_assert_cmpint (cfg.n_mels, ==, 80);
  g_assert_cmpfloat (cfg.padding_value, ==, 0.5);
  g_assert_true (omni_mel_config_parse ("pp.json", "{\"feature_extractor_type\": "
                                        "\"Qwen3ASRFeatureExtractor\", \"min_length\": 1600, "
                                        "\"feature_size\": 128, " BASE "}", -1, &cfg, &error));
  g_assert_cmpint (cfg.min_samples, ==, 1600);

  assert_config_error ("{" BASE "}", OMNI_ERROR_FORMAT, "\"feature_size\" is missing");
  assert_config_error ("{\"feature_size\": 128, \"hop_length\": 160, \"n_fft\": 400}",
                       OMNI_ERROR_FORMAT, "\"sampling_rate\" is missing");
  assert_config_error ("{\"feature_size\": 128, \"sampling_rate\": 16000, \"n_fft\": 400}",
                       OMNI_ERROR_FORMAT, "\"hop_length\" is missing");
  assert_config_error ("{\"feature_size\": 128, \"sampling_rate\": 16000, \"hop_length\": 160}",
                       OMNI_ERROR_FORMAT, "\"n_fft\" is missing");
  assert_config_error ("{\"feature_size\": \"128\", " BASE "}", OMNI_ERROR_FORMAT,
                       "\"feature_size\" must be a number");
  assert_config_error ("{\"feature_size\": 128.5, " BASE "}", OMNI_ERROR_FORMAT,
                       "\"feature_size\" is 128.5");
  assert_config_error ("{\"feature_size\": 0, " BASE "}", OMNI_ERROR_FORMAT,
                       "\"feature_size\" is 0");
  assert_config_error ("{\"feature_size\": 128, \"sampling_rate\": 16000, \"hop_length\": 0, "
                       "\"n_fft\": 400}", OMNI_ERROR_FORMAT, "\"hop_length\" is 0");
  assert_config_error ("{\"feature_size\": 128, \"sampling_rate\": 22050, \"hop_length\": 160, "
                       "\"n_fft\": 400}", OMNI_ERROR_UNSUPPORTED, "\"sampling_rate\" is 22050");
  assert_config_error ("{\"feature_size\": 128, " BASE ", \"dither\": 0.0001}",
                       OMNI_ERROR_UNSUPPORTED, "\"dither\" is 0.0001");
  assert_config_error ("{\"feature_size\": 128, " BASE ", \"dither\": null}", OMNI_ERROR_FORMAT,
                       "\"dither\" must be a number");
  assert_config_error ("{\"feature_size\": 128, " BASE ", \"padding_value\": [0]}",
                       OMNI_ERROR_FORMAT, "\"padding_value\" must be a number");
  assert_config_error ("{\"feature_extractor_type\": \"SeamlessM4TFeatureExtractor\", "
                       "\"feature_size\": 128, " BASE "}", OMNI_ERROR_UNSUPPORTED,
                       "SeamlessM4TFeatureExtractor");
  assert_config_error ("{\"feature_extractor_type\": 3, \"feature_size\": 128, " BASE "}",
                       OMNI_ERROR_FORMAT, "\"feature_extractor_type\" must be a string");
  assert_config_error ("[1, 2]", OMNI_ERROR_FORMAT, "expected a JSON object");
  assert_config_error ("{\"feature_size\": 128,", OMNI_ERROR_FORMAT, "not valid JSON");

  g_assert_false (omni_mel_config_load (missing, &cfg, &error));
  g_assert_error (error, OMNI_ERROR, OMNI_ERROR_IO);
  g_assert_nonnull (strstr (error->message, "no-such-file.json"));
  g_clear_error (&error);
}

/* Not a pass/fail bound (machines differ): the time of a 30 s clip. */
static void
test_speed (void)
{
  GError *error = NULL;
  OmniMel *mel = omni_mel_new (&whisper_cfg, &error);
  gsize n = 30 * 16000;
  float *pcm = g_new (float, n);
  float *out = g_new (float, 128 * 3000);
  GRand *rand = g_rand_new_with_seed (7);
  double best = G_MAXDOUBLE;

  for (gsize i = 0; i < n; i++)
    pcm[i] = (float) g_rand_double_range (rand, -0.5, 0.5);
  for (int rep = 0; rep < 5; rep++) {
    gint64 t0 = g_get_monotonic_time ();
    g_assert_true (omni_mel_compute (mel, pcm, n, out, &error));
    best = MIN (best, (g_get_monotonic_time () - t0) / 1000.0);
  }
  g_print ("# mel of 30 s (3000 frames x 128): %.2f ms (best of 5)\n", best);
  g_rand_free (rand);
  g_free (pcm);
  g_free (out);
  omni_mel_free (mel);
}

int
main (int argc, char **argv)
{
  GError *error = NULL;
  g_autofree char *st_path = data_path ("mel-expected.safetensors");
  g_autofree char *cfg_path = data_path ("preprocessor_config.json");

  g_test_init (&argc, &argv, NULL);
  fixture = omni_safetensors_open_file (st_path, &error);
  g_assert_no_error (error);
  g_assert_true (omni_mel_config_load (cfg_path, &whisper_cfg, &error));
  g_assert_no_error (error);

  g_test_add_func ("/audio/mel/config", test_config);
  g_test_add_func ("/audio/mel/filters", test_filters);
  g_test_add_data_func ("/audio/mel/clip-0.3s", "clip-0.3s", test_clip);
  g_test_add_data_func ("/audio/mel/clip-1s", "clip-1s", test_clip);
  g_test_add_data_func ("/audio/mel/clip-7.77s", "clip-7.77s", test_clip);
  g_test_add_data_func ("/audio/mel/clip-30s", "clip-30s", test_clip);
  g_test_add_data_func ("/audio/mel/clip-odd", "clip-odd", test_clip);
  g_test_add_func ("/audio/mel/asr-min-length", test_asr_min_length);
  g_test_add_func ("/audio/mel/silence", test_silence);
  g_test_add_func ("/audio/mel/short-clips", test_short_clips);
  g_test_add_func ("/audio/mel/bad-input", test_bad_input);
  g_test_add_func ("/audio/mel/speed", test_speed);
  int rc = g_test_run ();
  omni_safetensors_free (fixture);
  return rc;
}
