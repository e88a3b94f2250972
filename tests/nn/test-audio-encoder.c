/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The AuT audio encoder against transformers on the golden fixtures
 * (tests/golden/qwen3-omni-thinker and qwen3-asr, made by
 * make_audio_golden.py): the recorded mel of each clip in, the recorded audio
 * features out; one batched call; the mel computed by audio/mel.c from the
 * WAV; the config parser; malformed inputs and snapshots. Runs on the cpu
 * backend or on the one named by --device=D.
 * Tolerance meaning: max_i |ours_i - ref_i| <= tol * max_i |ref_i|. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include "omnicore.h"
#include "dtype.h"
#include "io/audio-config.h"
#include "io/safetensors.h"
#include "nn/audio-encoder.h"
#include "audio/mel.h"
#include "audio/wav.h"

/* Batched and separate calls, or stem passes of different sizes, run the
 * same arithmetic per token; only the summation order of a backend's
 * kernels may differ with the row count. */
#define SAME_TOL 1e-6

static const char *device = "cpu";

typedef struct {
  char *dir;
  JsonParser *parser;
  JsonObject *json;
  OmniSafetensors *ref;
  OmniBackend *backend;
  OmniAudioEncoder *enc;
  double tol;
} Golden;

static char *
golden_path (const char *model, const char *file)
{
  return g_build_filename (g_getenv ("OMNI_TEST_SRCDIR"), "golden", model, file, NULL);
}

static void
golden_open (Golden *g, const char *model)
{
  GError *error = NULL;
  g_autofree char *json = golden_path (model, "golden.json");
  g_autofree char *st = golden_path (model, "golden.safetensors");

  memset (g, 0, sizeof *g);
  g->dir = golden_path (model, NULL);
  g->parser = json_parser_new ();
  g_assert_true (json_parser_load_from_file (g->parser, json, &error));
  g->json = json_node_get_object (json_parser_get_root (g->parser));
  g->tol = json_object_get_double_member (g->json, "rel_tol");
  g_assert_cmpfloat (g->tol, ==, 1e-4);
  g->ref = omni_safetensors_open_file (st, &error);
  g_assert_no_error (error);
  g->backend = omni_backend_open (device, &error);
  g_assert_no_error (error);
  g->enc = omni_audio_encoder_load (g->dir, g->backend, &error);
  g_assert_no_error (error);
}

static void
golden_close (Golden *g)
{
  omni_audio_encoder_free (g->enc);
  omni_backend_close (g->backend);
  omni_safetensors_free (g->ref);
  g_object_unref (g->parser);
  g_free (g->dir);
}

/* The recorded tensor @fmt as f32 (free with g_free); its shape in @rows, @cols. */
static float *
ref_tensor (Golden *g, int *rows, int *cols, const char *fmt, const char *arg)
{
  GError *error = NULL;
  g_autofree char *name = g_strdup_printf (fmt, arg);
  const OmniSafeTensor *t = omni_safetensors_get (g->ref, name);

  g_assert_nonnull (t);
  g_assert_cmpint (t->n_dims, ==, 2);
  float *out = g_new (float, t->n_elements);
  g_assert_true (omni_safetensors_to_f32 (g->ref, t, out, &error));
  *rows = (int) t->shape[0];
  *cols = (int) t->shape[1];
  return out;
}

/* Encodes @n clips and returns the output on the host (free with g_free). */
static float *
encode (Golden *g, const float *const *mels, const int *frames, int n, int *n_rows)
{
  GError *error = NULL;
  OmniTensor *out = NULL;

  g_assert_true (omni_audio_encoder_forward (g->enc, mels, frames, n, &out, &error));
  g_assert_no_error (error);
  g_assert_cmpint (out->n_dims, ==, 2);
  g_assert_cmpint (out->shape[1], ==, omni_audio_encoder_config (g->enc)->output_dim);
  float *host = g_malloc (out->n_bytes);
  g->backend->ops->download (g->backend, out, host, out->n_bytes);
  *n_rows = (int) out->shape[0];
  return host;
}

/* max |ours - ref| / max |ref| */
static double
rel_error (const float *ours, const float *ref, size_t n)
{
  double err = 0, scale = 0;

  for (size_t i = 0; i < n; i++) {
    err = MAX (err, fabs ((double) ours[i] - ref[i]));
    scale = MAX (scale, fabs ((double) ref[i]));
    if (isnan (ours[i]))
      return INFINITY;
  }
  return scale > 0 ? err / scale : err;
}

/* The clip @name's entry of golden.json's "clips". */
static JsonObject *
clip_entry (Golden *g, const char *name)
{
  JsonArray *clips = json_object_get_array_member (g->json, "clips");

  for (guint i = 0; i < json_array_get_length (clips); i++) {
    JsonObject *c = json_array_get_object_element (clips, i);
    if (g_str_equal (json_object_get_string_member (c, "name"), name))
      return c;
  }
  g_error ("%s: golden.json has no clip \"%s\"", g->dir, name);
}

/* ---- golden: each clip alone from its recorded mel ---- */

typedef struct {
  int next_point, width;
  float *last;      /* the final capture, host */
  OmniBackend *b;
} Capture;

static void
on_capture (int point, const OmniTensor *hidden, gpointer data)
{
  Capture *c = data;

  g_assert_cmpint (point, ==, c->next_point);
  c->next_point++;
  g_free (c->last);
  c->last = g_malloc (hidden->n_bytes);
  c->b->ops->download (c->b, hidden, c->last, hidden->n_bytes);
  c->width = (int) hidden->shape[1];
}

static void
check_clip (Golden *g, const char *name, gboolean capture)
{
  int m_rows, T, r_rows, r_cols, n;
  g_autofree float *mel = ref_tensor (g, &m_rows, &T, "mel_%s", name);
  g_autofree float *ref = ref_tensor (g, &r_rows, &r_cols, "audio_%s", name);
  JsonObject *c = clip_entry (g, name);
  const OmniAudioConfig *cfg = omni_audio_encoder_config (g->enc);
  Capture cap = { OMNI_AUDIO_CAPTURE_EMBED, 0, NULL, g->backend };
  const float *mels[1] = { mel };

  g_assert_cmpint (m_rows, ==, cfg->num_mel_bins);
  g_assert_cmpint (T, ==, json_object_get_int_member (c, "n_frames"));
  g_assert_cmpint (omni_audio_encoder_n_tokens (g->enc, T), ==,
                   json_object_get_int_member (c, "n_audio_tokens"));
  g_assert_cmpint (r_cols, ==, cfg->output_dim);
  if (capture)
    omni_audio_encoder_set_capture (g->enc, on_capture, &cap);
  g_autofree float *ours = encode (g, mels, &T, 1, &n);
  omni_audio_encoder_set_capture (g->enc, NULL, NULL);
  g_assert_cmpint (n, ==, r_rows);
  double err = rel_error (ours, ref, (size_t) n * r_cols);
  g_test_message ("%s %s on %s: %d frames, %d tokens, max rel error %.3g (tol %.0e)", g->dir, name,
                  device, T, n, err, g->tol);
  g_assert_cmpfloat (err, <=, g->tol);
  if (capture) {
    /* every point once, the last one the output itself */
    g_assert_cmpint (cap.next_point, ==, cfg->encoder_layers + 1);
    g_assert_cmpint (cap.width, ==, cfg->output_dim);
    g_assert_cmpfloat (rel_error (cap.last, ours, (size_t) n * r_cols), ==, 0);
    g_free (cap.last);
  }
  /* the comparison can fail: one element off by twice the tolerance */
  double scale = 0;
  for (int i = 0; i < n * r_cols; i++)
    scale = MAX (scale, fabs (ref[i]));
  ours[(n * r_cols) / 2] += (float) (2 * g->tol * scale);
  g_assert_cmpfloat (rel_error (ours, ref, (size_t) n * r_cols), >, g->tol);
}

static void
test_golden (gconstpointer data)
{
  Golden g;
  JsonArray *clips;

  golden_open (&g, data);
  clips = json_object_get_array_member (g.json, "clips");
  g_assert_cmpint (json_array_get_length (clips), >=, 2);
  for (guint i = 0; i < json_array_get_length (clips); i++) {
    JsonObject *c = json_array_get_object_element (clips, i);
    check_clip (&g, json_object_get_string_member (c, "name"), i == 0);
  }
  golden_close (&g);
}

/* ---- batch: the clips of "audio_batch" in one call ---- */

/* transformers' batch fills the padding of a partial chunk with what the
 * feature extractor put there (log-mel of silence for Qwen3-ASR, the zero
 * padded waveform's edge frames for Omni) instead of zeros, so its rows of
 * the shorter clip depend on the batch; the longest clip's rows are those of
 * a single call. Ours never depend on the batch: each clip as if alone. */
static void
test_batch (gconstpointer data)
{
  Golden g;
  int rows[2], cols, T[2], mr, n, nb, nr, total = 0;
  float *mel[2], *single[2];

  golden_open (&g, data);
  JsonObject *b = json_object_get_object_member (g.json, "audio_batch");
  JsonArray *names = json_object_get_array_member (b, "clips");
  g_assert_cmpint (json_array_get_length (names), ==, 2);
  for (int i = 0; i < 2; i++) {
    const char *name = json_array_get_string_element (names, i);
    const float *one[1];
    mel[i] = ref_tensor (&g, &mr, &T[i], "mel_%s", name);
    one[0] = mel[i];
    single[i] = encode (&g, one, &T[i], 1, &rows[i]);
    total += rows[i];
  }
  g_assert_cmpint (T[0], >, T[1]);
  g_autofree float *ref = ref_tensor (&g, &nr, &cols, "audio_batch", NULL);
  g_assert_cmpint (nr, ==, total);
  g_autofree float *batch = encode (&g, (const float *const *) mel, T, 2, &nb);
  g_assert_cmpint (nb, ==, total);
  /* batched == separate */
  double d0 = rel_error (batch, single[0], (size_t) rows[0] * cols);
  double d1 = rel_error (batch + (size_t) rows[0] * cols, single[1], (size_t) rows[1] * cols);
  g_assert_cmpfloat (d0, <=, SAME_TOL);
  g_assert_cmpfloat (d1, <=, SAME_TOL);
  /* the longest clip's rows of transformers' batch */
  double e0 = rel_error (batch, ref, (size_t) rows[0] * cols);
  double e1 = rel_error (batch + (size_t) rows[0] * cols, ref + (size_t) rows[0] * cols,
                         (size_t) rows[1] * cols);
  g_test_message ("%s batch on %s: batched vs separate %.3g / %.3g; vs transformers' batch: "
                  "first clip %.3g, second clip %.3g (batch-dependent there, see above)",
                  g.dir, device, d0, d1, e0, e1);
  g_assert_cmpfloat (e0, <=, g.tol);
  /* the stem in passes of one chunk gives the same tokens */
  omni_audio_encoder_set_stem_chunks (g.enc, 1);
  g_autofree float *grouped = encode (&g, (const float *const *) mel, T, 2, &n);
  omni_audio_encoder_set_stem_chunks (g.enc, 0);
  g_assert_cmpint (n, ==, total);
  g_assert_cmpfloat (rel_error (grouped, batch, (size_t) n * cols), <=, SAME_TOL);
  for (int i = 0; i < 2; i++) {
    g_free (mel[i]);
    g_free (single[i]);
  }
  golden_close (&g);
}

/* Omni pads a clip shorter than one chunk only to its own length (as
 * transformers does for it alone): clips of several widths in one call,
 * in stem passes of every size, each as if alone. */
static void
test_mixed_widths (void)
{
  Golden g;
  int mr, T[4], n, total = 0, cols, rows[4];
  float *single[4];

  golden_open (&g, "qwen3-omni-thinker");
  cols = omni_audio_encoder_config (g.enc)->output_dim;
  g_autofree float *speech = ref_tensor (&g, &mr, &T[0], "mel_%s", "speech");
  g_autofree float *tones = ref_tensor (&g, &mr, &T[1], "mel_%s", "tones");
  /* 37 and 64 frames of the speech mel as [M][T] clips of their own */
  T[2] = 37;
  T[3] = 64;
  g_autofree float *s37 = g_new (float, (size_t) mr * T[2]);
  g_autofree float *s64 = g_new (float, (size_t) mr * T[3]);
  for (int m = 0; m < mr; m++) {
    memcpy (s37 + (size_t) m * T[2], speech + (size_t) m * T[0], T[2] * sizeof (float));
    memcpy (s64 + (size_t) m * T[3], speech + (size_t) m * T[0] + 100, T[3] * sizeof (float));
  }
  const float *mels[4] = { s37, speech, s64, tones };
  int frames[4] = { T[2], T[0], T[3], T[1] };
  for (int i = 0; i < 4; i++) {
    single[i] = encode (&g, &mels[i], &frames[i], 1, &rows[i]);
    total += rows[i];
  }
  /* the 37 frames alone are not the first 37 frames of a longer clip */
  g_assert_cmpfloat (rel_error (single[0], single[1], (size_t) rows[0] * cols), >, 1e-3);
  for (int group = 0; group <= 3; group++) {
    omni_audio_encoder_set_stem_chunks (g.enc, group);
    g_autofree float *batch = encode (&g, mels, frames, 4, &n);
    g_assert_cmpint (n, ==, total);
    for (int i = 0, r = 0; i < 4; r += rows[i], i++)
      g_assert_cmpfloat (rel_error (batch + (size_t) r * cols, single[i], (size_t) rows[i] * cols),
                         <=, SAME_TOL);
  }
  omni_audio_encoder_set_stem_chunks (g.enc, 0);
  for (int i = 0; i < 4; i++)
    g_free (single[i]);
  golden_close (&g);
}

/* ---- the mel from the WAV through audio/mel.c ---- */

/* Features of @wav (zero padded to @pad_to samples when larger) by
 * audio/mel.c with the snapshot's preprocessor_config.json; the first
 * @keep frames of each mel row (all when 0). */
static float *
wav_mel (Golden *g, const char *wav, gsize pad_to, int keep, int *n_frames)
{
  GError *error = NULL;
  g_autofree char *path = golden_path ("audio", wav);
  g_autofree char *pp = g_build_filename (g->dir, "preprocessor_config.json", NULL);
  OmniWavInfo info;
  OmniMelConfig mc;
  g_autofree float *pcm = omni_wav_read (path, &info, &error);

  g_assert_no_error (error);
  g_assert_cmpint (info.sample_rate, ==, 16000);
  g_assert_true (omni_mel_config_load (pp, &mc, &error));
  OmniMel *mel = omni_mel_new (&mc, &error);
  g_assert_no_error (error);
  gsize n = MAX (info.n_frames, pad_to);
  pcm = g_renew (float, pcm, n);
  memset (pcm + info.n_frames, 0, (n - info.n_frames) * sizeof (float));
  int T = (int) omni_mel_n_frames (mel, n), M = mc.n_mels;
  g_autofree float *full = g_new (float, (size_t) M * T);
  g_assert_true (omni_mel_compute (mel, pcm, n, full, &error));
  omni_mel_free (mel);
  *n_frames = keep ? keep : T;
  float *out = g_new (float, (size_t) M * *n_frames);
  for (int m = 0; m < M; m++)
    memcpy (out + (size_t) m * *n_frames, full + (size_t) m * T, *n_frames * sizeof (float));
  return out;
}

static void
test_wav (gconstpointer data)
{
  Golden g;
  int T, mr, mt, rr, rc, n;

  golden_open (&g, data);
  g_autofree float *mel = wav_mel (&g, "speech.wav", 0, 0, &T);
  g_autofree float *rmel = ref_tensor (&g, &mr, &mt, "mel_%s", "speech");
  g_autofree float *ref = ref_tensor (&g, &rr, &rc, "audio_%s", "speech");
  const float *mels[2] = { mel, NULL };

  g_assert_cmpint (T, ==, mt);
  double mel_err = rel_error (mel, rmel, (size_t) mr * mt);
  g_autofree float *ours = encode (&g, mels, &T, 1, &n);
  g_assert_cmpint (n, ==, rr);
  double err = rel_error (ours, ref, (size_t) n * rc);
  g_test_message ("%s speech.wav on %s: mel rel error %.3g, features max rel error %.3g", g.dir,
                  device, mel_err, err);
  g_assert_cmpfloat (err, <=, g.tol);
  if (g_str_equal (data, "qwen3-omni-thinker")) {
    /* Omni's batch: the shorter clip's mel from the waveform zero padded to
     * the longest, as WhisperFeatureExtractor(padding=True) computes it */
    int T2[2], nb, br, bc;
    JsonObject *longest = clip_entry (&g, "speech"), *other = clip_entry (&g, "tones");
    g_autofree float *m2 = wav_mel (&g, "tones.wav", json_object_get_int_member (longest, "n_samples"),
                                    json_object_get_int_member (other, "n_frames"), &T2[1]);
    g_autofree float *bref = ref_tensor (&g, &br, &bc, "audio_batch", NULL);
    T2[0] = T;
    mels[1] = m2;
    g_autofree float *batch = encode (&g, mels, T2, 2, &nb);
    g_assert_cmpint (nb, ==, br);
    double berr = rel_error (batch, bref, (size_t) nb * bc);
    g_test_message ("%s batch from the WAVs on %s: max rel error %.3g", g.dir, device, berr);
    g_assert_cmpfloat (berr, <=, g.tol);
  }
  golden_close (&g);
}

/* ---- config ---- */

static void
expect_config_error (const char *json, int code, const char *needle)
{
  OmniAudioConfig cfg;
  GError *error = NULL;

  g_assert_false (omni_audio_config_parse ("test.json", json, -1, &cfg, &error));
  g_assert_error (error, OMNI_ERROR, code);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, "test.json"));
  g_assert_nonnull (strstr (error->message, needle));
  g_error_free (error);
}

static void
test_config (void)
{
  OmniAudioConfig cfg;
  GError *error = NULL;
  g_autofree char *omni = golden_path ("qwen3-omni-thinker", "config.json");
  g_autofree char *asr = golden_path ("qwen3-asr", "config.json");
  g_autofree char *moe = golden_path ("qwen3-moe", "config.json");

  g_assert_true (omni_audio_config_load (omni, &cfg, &error));
  g_assert_no_error (error);
  g_assert_cmpint (cfg.layout, ==, OMNI_AUDIO_LAYOUT_OMNI);
  g_assert_cmpint (cfg.d_model, ==, 16);
  g_assert_cmpint (cfg.encoder_layers, ==, 3);
  g_assert_cmpint (cfg.n_window_infer, ==, 200);
  g_assert_cmpint (cfg.max_positions, ==, 1500);
  g_assert_false (cfg.pad_full_chunks);
  g_assert_cmpint (cfg.audio_token_id, ==, 151675);
  g_assert_cmpint (cfg.audio_start_token_id, ==, 151669);
  g_assert_cmpint (cfg.audio_end_token_id, ==, 151670);
  g_assert_cmpstr (cfg.tower_prefix, ==, "thinker.audio_tower.");
  g_assert_cmpstr (cfg.proj2, ==, "thinker.audio_tower.proj2");

  g_assert_true (omni_audio_config_load (asr, &cfg, &error));
  g_assert_cmpint (cfg.layout, ==, OMNI_AUDIO_LAYOUT_ASR_HF);
  g_assert_cmpint (cfg.encoder_layers, ==, 4);
  g_assert_cmpint (cfg.max_positions, ==, 13);
  g_assert_true (cfg.pad_full_chunks);
  g_assert_cmpint (cfg.audio_token_id, ==, 151676);
  g_assert_cmpint (cfg.audio_start_token_id, ==, -1);
  g_assert_cmpstr (cfg.tower_prefix, ==, "model.audio_tower.");
  g_assert_cmpstr (cfg.proj1, ==, "model.multi_modal_projector.linear_1");

  /* the original Qwen3-ASR layout (qwen_asr's classes) */
  g_assert_true (omni_audio_config_parse ("test.json",
      "{\"architectures\": [\"Qwen3ASRForConditionalGeneration\"], \"model_type\": \"qwen3_asr\","
      " \"thinker_config\": {\"audio_token_id\": 151676, \"audio_start_token_id\": 151669,"
      " \"audio_config\": {\"num_mel_bins\": 128, \"d_model\": 896, \"encoder_layers\": 18,"
      " \"encoder_attention_heads\": 14, \"encoder_ffn_dim\": 3584, \"n_window\": 50,"
      " \"n_window_infer\": 800, \"downsample_hidden_size\": 480, \"output_dim\": 1024,"
      " \"max_source_positions\": 1500}}}", -1, &cfg, &error));
  g_assert_no_error (error);
  g_assert_cmpint (cfg.layout, ==, OMNI_AUDIO_LAYOUT_ASR);
  g_assert_cmpint (cfg.conv_chunksize, ==, 500);
  g_assert_false (cfg.pad_full_chunks);
  g_assert_cmpstr (cfg.proj1, ==, "thinker.audio_tower.proj1");
  g_assert_cmpint (cfg.d_model, ==, 896);
  g_assert_cmpint (cfg.audio_end_token_id, ==, -1);
  /* its class defaults to n_window 100, which the models' 13 tokens per
   * chunk do not fit */
  expect_config_error ("{\"model_type\": \"qwen3_asr\", \"thinker_config\": {\"audio_token_id\": 1,"
                       " \"audio_config\": {\"d_model\": 896, \"encoder_attention_heads\": 14}}}",
                       OMNI_ERROR_UNSUPPORTED, "thinker_config.audio_config.n_window");
  /* a bare Omni thinker; class defaults fill what is left out */
  g_assert_true (omni_audio_config_parse ("test.json",
      "{\"model_type\": \"qwen3_omni_moe_thinker\", \"audio_config\": {}}", -1, &cfg, &error));
  g_assert_cmpint (cfg.d_model, ==, 1280);
  g_assert_cmpint (cfg.encoder_layers, ==, 32);
  g_assert_cmpint (cfg.audio_token_id, ==, 151646);
  g_assert_cmpstr (cfg.tower_prefix, ==, "audio_tower.");

  /* tokens: 13 per 100 frames plus the remainder's */
  g_assert_cmpint (omni_audio_config_n_tokens (&cfg, 0), ==, 0);
  g_assert_cmpint (omni_audio_config_n_tokens (&cfg, 1), ==, 1);
  g_assert_cmpint (omni_audio_config_n_tokens (&cfg, 100), ==, 13);
  g_assert_cmpint (omni_audio_config_n_tokens (&cfg, 3000), ==, 390);
  g_assert_cmpint (omni_audio_config_n_tokens (&cfg, 330), ==, 43);
  g_assert_cmpint (omni_audio_config_n_tokens (&cfg, 37), ==, 5);

  g_assert_false (omni_audio_config_load (moe, &cfg, &error));
  g_assert_error (error, OMNI_ERROR, OMNI_ERROR_UNSUPPORTED);
  g_assert_nonnull (strstr (error->message, "has no audio encoder (audio_config)"));
  g_assert_nonnull (strstr (error->message, moe));
  g_clear_error (&error);
  g_assert_false (omni_audio_config_load ("/nonexistent/config.json", &cfg, &error));
  g_assert_error (error, OMNI_ERROR, OMNI_ERROR_IO);
  g_clear_error (&error);

#define OMNI_CFG(audio) "{\"model_type\": \"qwen3_omni_moe\", \"thinker_config\": " \
                        "{\"audio_token_id\": 151675, \"audio_config\": {" audio "}}}"
  expect_config_error ("{\"model_type\": \"qwen3_omni_moe\", \"thinker_config\": {}}",
                       OMNI_ERROR_UNSUPPORTED, "no audio encoder");
  expect_config_error (OMNI_CFG ("\"activation_function\": \"relu\""), OMNI_ERROR_UNSUPPORTED,
                       "thinker_config.audio_config.activation_function");
  expect_config_error (OMNI_CFG ("\"scale_embedding\": true"), OMNI_ERROR_UNSUPPORTED,
                       "scale_embedding");
  expect_config_error (OMNI_CFG ("\"d_model\": \"x\""), OMNI_ERROR_FORMAT, "d_model");
  expect_config_error (OMNI_CFG ("\"d_model\": 1281"), OMNI_ERROR_FORMAT, "d_model");
  expect_config_error (OMNI_CFG ("\"encoder_layers\": 0"), OMNI_ERROR_FORMAT, "encoder_layers");
  expect_config_error (OMNI_CFG ("\"n_window\": 30"), OMNI_ERROR_UNSUPPORTED, "n_window");
  expect_config_error (OMNI_CFG ("\"n_window_infer\": 50"), OMNI_ERROR_FORMAT, "n_window_infer");
  expect_config_error (OMNI_CFG ("\"max_source_positions\": 12"), OMNI_ERROR_FORMAT,
                       "max_source_positions");
  expect_config_error (OMNI_CFG ("\"model_type\": \"qwen2_5_omni_audio_encoder\""),
                       OMNI_ERROR_UNSUPPORTED, "model_type");
  expect_config_error ("{\"model_type\": \"qwen3_omni_moe\", \"thinker_config\": "
                       "{\"audio_token_id\": -3, \"audio_config\": {}}}", OMNI_ERROR_FORMAT,
                       "thinker_config.audio_token_id");
  expect_config_error ("{\"model_type\": \"qwen2_audio\", \"audio_config\": {}}",
                       OMNI_ERROR_UNSUPPORTED, "qwen2_audio");
  expect_config_error ("{\"audio_config\": 3, \"model_type\": \"qwen3_asr\"}", OMNI_ERROR_FORMAT,
                       "audio_config");
  expect_config_error ("[1]", OMNI_ERROR_FORMAT, "JSON object");
  expect_config_error ("{", OMNI_ERROR_FORMAT, "test.json");
#undef OMNI_CFG
}

/* ---- bad input and bad snapshots ---- */

static void
expect_forward_error (Golden *g, const float *const *mels, const int *frames, int n,
                      const char *needle)
{
  GError *error = NULL;
  OmniTensor *out = NULL;

  g_assert_false (omni_audio_encoder_forward (g->enc, mels, frames, n, &out, &error));
  g_assert_error (error, OMNI_ERROR, OMNI_ERROR_INVALID);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, needle));
  g_error_free (error);
}

static void
test_bad_input (void)
{
  Golden g;
  int mr, T, rr, rc, n;

  golden_open (&g, "qwen3-asr");
  g_autofree float *mel = ref_tensor (&g, &mr, &T, "mel_%s", "short");
  g_autofree float *ref = ref_tensor (&g, &rr, &rc, "audio_%s", "short");
  g_autofree float *big = g_new0 (float, (size_t) mr * (OMNI_AUDIO_MAX_FRAMES + 1));
  const float *one[1] = { mel }, *two[2] = { mel, mel }, *huge[1] = { big };
  int zero = 0, frames2[2] = { T, 0 }, too_many = OMNI_AUDIO_MAX_FRAMES + 1;
  int halves[2] = { OMNI_AUDIO_MAX_FRAMES / 2 + 1, OMNI_AUDIO_MAX_FRAMES / 2 };
  const float *halves_m[2] = { big, big };

  expect_forward_error (&g, one, &zero, 1, "clip 0 has no mel frames");
  expect_forward_error (&g, two, frames2, 2, "clip 1 has no mel frames");
  const float *none[1] = { NULL };
  expect_forward_error (&g, none, &T, 1, "mel NULL");
  expect_forward_error (&g, one, &T, 0, "at least one clip");
  expect_forward_error (&g, huge, &too_many, 1, "the caller must split");
  expect_forward_error (&g, halves_m, halves, 2, "clip 1 brings the call to");
  mel[5 * T + 7] = NAN;
  expect_forward_error (&g, one, &T, 1, "mel bin 5 of frame 7 is nan");
  mel[5 * T + 7] = INFINITY;
  expect_forward_error (&g, one, &T, 1, "mel bin 5 of frame 7 is inf");
  /* still usable afterwards, and the longest clip allowed runs */
  g_autofree float *fresh = ref_tensor (&g, &mr, &T, "mel_%s", "short");
  one[0] = fresh;
  g_autofree float *ours = encode (&g, one, &T, 1, &n);
  g_assert_cmpint (n, ==, rr);
  g_assert_cmpfloat (rel_error (ours, ref, (size_t) n * rc), <=, g.tol);
  /* the full 1200 s on the cpu; a tenth of it elsewhere (the emulator
   * needs about 40 s for the whole) */
  int max = strcmp (device, "cpu") == 0 ? OMNI_AUDIO_MAX_FRAMES : OMNI_AUDIO_MAX_FRAMES / 10;
  g_free (encode (&g, huge, &max, 1, &n));
  g_assert_cmpint (n, ==, omni_audio_encoder_n_tokens (g.enc, max));
  golden_close (&g);
}

/* Copies the qwen3-asr snapshot (config.json, model.safetensors) into a new
 * directory, leaving out the tensor @drop and giving @grow one more row. */
static char *
write_variant (const char *drop, const char *grow)
{
  GError *error = NULL;
  g_autofree char *src_cfg = golden_path ("qwen3-asr", "config.json");
  g_autofree char *src_st = golden_path ("qwen3-asr", "model.safetensors");
  char *dir = g_dir_make_tmp ("omni-audio-enc-XXXXXX", &error);
  g_autofree char *cfg_path = g_build_filename (dir, "config.json", NULL);
  g_autofree char *st_path = g_build_filename (dir, "model.safetensors", NULL);
  g_autofree char *cfg = NULL;
  gsize len;
  GString *hdr = g_string_new ("{");
  guint64 off = 0;

  g_assert_no_error (error);
  g_assert_true (g_file_get_contents (src_cfg, &cfg, &len, NULL));
  g_assert_true (g_file_set_contents (cfg_path, cfg, len, NULL));
  OmniSafetensors *st = omni_safetensors_open_file (src_st, &error);
  g_assert_no_error (error);
  for (guint i = 0; i < omni_safetensors_count (st); i++) {
    const OmniSafeTensor *t = omni_safetensors_nth (st, i);
    gboolean g = grow && g_str_equal (t->name, grow);
    size_t n = t->n_bytes + (g ? t->n_bytes / t->shape[0] : 0);
    if (drop && g_str_equal (t->name, drop))
      continue;
    g_string_append_printf (hdr, "%s\"%s\": {\"dtype\": \"%s\", \"shape\": [", hdr->len > 1 ? ", " : "",
                            t->name, omni_dtype_name (t->dtype));
    for (int d = 0; d < t->n_dims; d++)
      g_string_append_printf (hdr, "%s%" G_GINT64_FORMAT, d ? ", " : "",
                              t->shape[d] + (g && d == 0 ? 1 : 0));
    g_string_append_printf (hdr, "], \"data_offsets\": [%" G_GUINT64_FORMAT ", %" G_GUINT64_FORMAT
                            "]}", off, off + n);
    off += n;
  }
  g_string_append (hdr, "}");
  while (hdr->len % 8)
    g_string_append_c (hdr, ' ');
  FILE *f = fopen (st_path, "wb");
  g_assert_nonnull (f);
  guint64 hl = GUINT64_TO_LE (hdr->len);
  fwrite (&hl, 8, 1, f);
  fwrite (hdr->str, 1, hdr->len, f);
  for (guint i = 0; i < omni_safetensors_count (st); i++) {
    const OmniSafeTensor *t = omni_safetensors_nth (st, i);
    if (drop && g_str_equal (t->name, drop))
      continue;
    fwrite (t->data, 1, t->n_bytes, f);
    if (grow && g_str_equal (t->name, grow))
      fwrite (t->data, 1, t->n_bytes / t->shape[0], f);
  }
  fclose (f);
  omni_safetensors_free (st);
  g_string_free (hdr, TRUE);
  return dir;
}

static void
remove_variant (char *dir)
{
  g_autofree char *a = g_build_filename (dir, "config.json", NULL);
  g_autofree char *b = g_build_filename (dir, "model.safetensors", NULL);

  g_unlink (a);
  g_unlink (b);
  g_rmdir (dir);
  g_free (dir);
}

static void
expect_load_error (OmniBackend *b, const char *dir, int code, const char *needle)
{
  GError *error = NULL;

  g_assert_null (omni_audio_encoder_load (dir, b, &error));
  g_assert_error (error, OMNI_ERROR, code);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, needle));
  g_error_free (error);
}

static void
test_bad_snapshot (void)
{
  GError *error = NULL;
  OmniBackend *b = omni_backend_open (device, &error);
  g_autofree char *moe = golden_path ("qwen3-moe", NULL);
  const char *fc1 = "model.audio_tower.layers.2.fc1.bias";
  const char *conv = "model.audio_tower.conv2d2.weight";
  const char *proj = "model.multi_modal_projector.linear_2.weight";

  g_assert_no_error (error);
  expect_load_error (b, moe, OMNI_ERROR_UNSUPPORTED, "has no audio encoder (audio_config)");
  expect_load_error (b, "/nonexistent", OMNI_ERROR_IO, "config.json");
  char *dir = write_variant (fc1, NULL);
  expect_load_error (b, dir, OMNI_ERROR_FORMAT, fc1);
  remove_variant (dir);
  dir = write_variant (proj, NULL);
  expect_load_error (b, dir, OMNI_ERROR_FORMAT, proj);
  remove_variant (dir);
  dir = write_variant (NULL, conv);
  expect_load_error (b, dir, OMNI_ERROR_FORMAT, conv);
  remove_variant (dir);
  /* the unchanged copy loads */
  dir = write_variant (NULL, NULL);
  OmniAudioEncoder *e = omni_audio_encoder_load (dir, b, &error);
  g_assert_no_error (error);
  omni_audio_encoder_free (e);
  remove_variant (dir);
  omni_backend_close (b);
}

int
main (int argc, char **argv)
{
  static const char *models[] = { "qwen3-omni-thinker", "qwen3-asr" };

  /* --device=D is ours; everything else is GTest's */
  for (int i = 1; i < argc; i++) {
    if (g_str_has_prefix (argv[i], "--device=")) {
      device = argv[i] + strlen ("--device=");
      memmove (&argv[i], &argv[i + 1], (argc - i) * sizeof argv[0]);
      argc--;
      i--;
    }
  }
  g_test_init (&argc, &argv, NULL);
  for (gsize i = 0; i < G_N_ELEMENTS (models); i++) {
    g_autofree char *p1 = g_strdup_printf ("/audio-encoder/golden/%s", models[i]);
    g_autofree char *p2 = g_strdup_printf ("/audio-encoder/batch/%s", models[i]);
    g_autofree char *p3 = g_strdup_printf ("/audio-encoder/wav/%s", models[i]);
    g_test_add_data_func (p1, models[i], test_golden);
    g_test_add_data_func (p2, models[i], test_batch);
    g_test_add_data_func (p3, models[i], test_wav);
  }
  g_test_add_func ("/audio-encoder/config", test_config);
  g_test_add_func ("/audio-encoder/mixed-widths", test_mixed_widths);
  g_test_add_func ("/audio-encoder/bad-input", test_bad_input);
  g_test_add_func ("/audio-encoder/bad-snapshot", test_bad_snapshot);
  return g_test_run ();
}
