/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Audio requests through the engine against transformers (the tiny
 * Qwen3-Omni thinker and Qwen3-ASR of tests/golden, made by
 * make_audio_golden.py): every case of a model submitted at once (their
 * clips encoded in one pass) gives the golden greedy text; wrong input is a
 * clear error. Runs on "cpu" and, when built, "cuda-emu". */
#include <math.h>
#include <string.h>
#include <json-glib/json-glib.h>
#include "engine-util.h"
#include "audio/wav.h"

static float *
read_clip (const char *clip, gsize *n)
{
  const char *src = g_getenv ("OMNI_TEST_SRCDIR");
  g_autofree char *name = g_strconcat (clip, ".wav", NULL);
  g_autofree char *path = g_build_filename (src, "golden", "audio", name, NULL);
  GError *error = NULL;
  OmniWavInfo info;
  float *pcm = omni_wav_read (path, &info, &error);

  g_assert_no_error (error);
  g_assert_cmpint (info.sample_rate, ==, OMNI_AUDIO_RATE);
  *n = info.n_frames;
  return pcm;
}

static JsonParser *
load_golden (const char *model)
{
  g_autofree char *dir = engine_test_model_dir (model);
  g_autofree char *path = g_build_filename (dir, "golden.json", NULL);
  JsonParser *p = json_parser_new ();
  GError *error = NULL;

  json_parser_load_from_file (p, path, &error);
  g_assert_no_error (error);
  return p;
}

/* Submits every case of @model's golden.json together and checks each
 * answer: the greedy text (stripped, as the engine returns transcripts) and
 * the forced language. The golden ids hold no stop id, so 32 tokens run. */
static void
check_model (const char *model, const char *device)
{
  g_autoptr (JsonParser) p = load_golden (model);
  JsonArray *cases = json_object_get_array_member (json_node_get_object (json_parser_get_root (p)),
                                                   "cases");
  guint n = json_array_get_length (cases);
  OmniEngine *e = engine_test_acquire_model (model, device, (int) n);
  g_autoptr (GAsyncQueue) done = g_async_queue_new ();
  g_autofree Tracker *t = g_new0 (Tracker, n);
  g_autofree OmniRequest **reqs = g_new0 (OmniRequest *, n);
  GError *error = NULL;

  for (guint i = 0; i < n; i++) {
    JsonObject *c = json_array_get_object_element (cases, i);
    gsize n_pcm;
    g_autofree float *pcm = read_clip (json_object_get_string_member (c, "clip"), &n_pcm);
    gboolean transcribe = g_str_equal (json_object_get_string_member (c, "task"), "transcribe");
    OmniAudioSpec spec = { pcm, n_pcm, transcribe ? OMNI_AUDIO_TRANSCRIBE : OMNI_AUDIO_CAPTION,
                           json_object_get_string_member_with_default (c, "language", NULL),
                           json_object_get_string_member_with_default (c, "context", NULL) };
    tracker_init (&t[i], (int) i, done);
    reqs[i] = omni_request_new_audio (&spec, &error);
    g_assert_no_error (error);
    omni_request_set_max_tokens (reqs[i], 32);
    omni_request_set_callback (reqs[i], tracker_cb, &t[i], TRUE);
    g_assert_true (omni_engine_submit (e, reqs[i], &error));
  }
  for (guint k = 0; k < n; k++)
    g_assert_nonnull (tracker_pop (done));
  for (guint i = 0; i < n; i++) {
    JsonObject *c = json_array_get_object_element (cases, i);
    g_autofree char *want = g_strstrip (g_strdup (json_object_get_string_member (c, "greedy_text")));
    const char *lang = json_object_get_string_member_with_default (c, "language", NULL);
    g_test_message ("%s %s: %s", model, json_object_get_string_member (c, "name"), t[i].text);
    g_assert_no_error (t[i].error);
    g_assert_cmpint (t[i].status, ==, OMNI_RESULT_DONE);
    g_assert_cmpint (t[i].n_tokens, ==, 32);
    g_assert_cmpint (t[i].n_prompt_tokens, ==,
                     json_array_get_length (json_object_get_array_member (c, "input_ids")));
    g_assert_cmpstr (t[i].text, ==, want);
    g_assert_cmpstr (t[i].language, ==, lang ? "en" : NULL);
    tracker_clear (&t[i]);
    omni_request_unref (reqs[i]);
  }
  omni_engine_unref (e);
}

static void
test_omni_cpu (void)
{
  check_model ("qwen3-omni-thinker", "cpu");
}

static void
test_asr_cpu (void)
{
  check_model ("qwen3-asr", "cpu");
}

static gboolean
cuda_emu_built (void)
{
  g_autofree char *path = g_build_filename (g_getenv ("OMNI_BACKEND_DIR"),
                                            "libomnicore-cuda-emu.so", NULL);
  return g_getenv ("OMNI_BACKEND_DIR") && g_file_test (path, G_FILE_TEST_EXISTS);
}

static void
test_omni_cuda_emu (void)
{
  if (!cuda_emu_built ()) {
    g_test_skip ("built without CUDA");
    return;
  }
  check_model ("qwen3-omni-thinker", "cuda-emu");
}

static void
test_asr_cuda_emu (void)
{
  if (!cuda_emu_built ()) {
    g_test_skip ("built without CUDA");
    return;
  }
  check_model ("qwen3-asr", "cuda-emu");
}

static void
expect_invalid (const float *pcm, gsize n, const char *language, const char *fragment)
{
  OmniAudioSpec spec = { pcm, n, OMNI_AUDIO_TRANSCRIBE, language, NULL };
  GError *error = NULL;

  g_assert_null (omni_request_new_audio (&spec, &error));
  g_assert_error (error, OMNI_ERROR, OMNI_ERROR_INVALID);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, fragment));
  g_error_free (error);
}

static void
test_bad_clips (void)
{
  gsize max = (gsize) OMNI_AUDIO_MAX_SECONDS * OMNI_AUDIO_RATE;
  g_autofree float *pcm = g_new0 (float, max + 1);

  expect_invalid (pcm, 0, NULL, "empty");
  expect_invalid (NULL, 10, NULL, "empty");
  expect_invalid (pcm, max + 1, NULL, "at most 30 s");
  pcm[1234] = NAN;
  expect_invalid (pcm, 16000, NULL, "sample 1234");
  pcm[1234] = INFINITY;
  expect_invalid (pcm, 16000, NULL, "infinite");
  pcm[1234] = 0;
  expect_invalid (pcm, 16000, "Klingon", "unknown language");
}

/* Submits one clip to @model and returns the final error (or NULL). */
static GError *
run_one (const char *model, OmniAudioTask task, const char *language)
{
  OmniEngine *e = engine_test_acquire_model (model, "cpu", 1);
  g_autoptr (GAsyncQueue) done = g_async_queue_new ();
  g_autofree float *pcm = g_new0 (float, 8000);
  OmniAudioSpec spec = { pcm, 8000, task, language, NULL };
  GError *error = NULL;
  Tracker t;

  tracker_init (&t, 0, done);
  OmniRequest *req = omni_request_new_audio (&spec, &error);
  g_assert_no_error (error);
  omni_request_set_max_tokens (req, 2);
  omni_request_set_callback (req, tracker_cb, &t, FALSE);
  g_assert_true (omni_engine_submit (e, req, &error));
  g_assert_true (tracker_pop (done) == &t);
  error = g_steal_pointer (&t.error);
  tracker_clear (&t);
  omni_request_unref (req);
  omni_engine_unref (e);
  return error;
}

static void
test_wrong_model (void)
{
  GError *error = run_one ("qwen3-dense", OMNI_AUDIO_CAPTION, NULL);

  g_assert_error (error, OMNI_ERROR, OMNI_ERROR_UNSUPPORTED);
  g_assert_nonnull (strstr (error->message, "no audio encoder"));
  g_clear_error (&error);
  error = run_one ("qwen3-asr", OMNI_AUDIO_CAPTION, NULL);
  g_assert_error (error, OMNI_ERROR, OMNI_ERROR_UNSUPPORTED);
  g_assert_nonnull (strstr (error->message, "transcribes"));
  g_clear_error (&error);
  /* a language transformers' Qwen3-ASR was not trained to be forced to */
  error = run_one ("qwen3-asr", OMNI_AUDIO_TRANSCRIBE, "Welsh");
  g_assert_error (error, OMNI_ERROR, OMNI_ERROR_INVALID);
  g_assert_nonnull (strstr (error->message, "Vietnamese (vi)"));
  g_clear_error (&error);
  /* silence is still audio: it runs */
  error = run_one ("qwen3-asr", OMNI_AUDIO_TRANSCRIBE, "de");
  g_assert_no_error (error);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/engine-audio/omni/cpu", test_omni_cpu);
  g_test_add_func ("/engine-audio/asr/cpu", test_asr_cpu);
  g_test_add_func ("/engine-audio/omni/cuda-emu", test_omni_cuda_emu);
  g_test_add_func ("/engine-audio/asr/cuda-emu", test_asr_cuda_emu);
  g_test_add_func ("/engine-audio/bad-clips", test_bad_clips);
  g_test_add_func ("/engine-audio/wrong-model", test_wrong_model);
  return g_test_run ();
}
