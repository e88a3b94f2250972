/* omni caption / omni transcribe: a WAV file through the engine's audio
 * requests; files longer than one request takes go in 30 s pieces.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdio.h>
#include <json-glib/json-glib.h>
#include "omnicore.h"
#include "audio/resample.h"
#include "audio/wav.h"
#include "omni-cli.h"

typedef struct {
  char *model, *device, *language, *prompt;
  int max_tokens;
  double temperature;
  gboolean json;
  OmniCliLoadArgs load;
} AudioArgs;

/* One piece of the file and its answer. */
typedef struct {
  double start, end;          /* seconds */
  OmniRequest *req;
  OmniResultStatus status;
  char *text, *language;
  GError *error;
  gboolean done;
} Piece;

typedef struct {
  GMutex lock;
  GCond cond;
} Waiter;

static Waiter waiter;

static void
on_result (OmniRequest *req, const OmniResult *r, gpointer user_data)
{
  Piece *p = user_data;

  g_mutex_lock (&waiter.lock);
  p->status = r->status;
  p->text = g_strdup (r->text);
  p->language = g_strdup (r->language);
  p->error = r->error ? g_error_copy (r->error) : NULL;
  p->done = TRUE;
  g_cond_broadcast (&waiter.cond);
  g_mutex_unlock (&waiter.lock);
}

static gboolean
parse_args (int *argc, char ***argv, AudioArgs *a, gboolean transcribe, GError **error)
{
  GOptionEntry entries[] = {
    { "model", 'm', 0, G_OPTION_ARG_FILENAME, &a->model, "Hugging Face snapshot directory", "DIR" },
    { "device", 'd', 0, G_OPTION_ARG_STRING, &a->device, "auto, cpu, cuda:N or cuda-emu (default auto)", "D" },
    { "language", 'l', 0, G_OPTION_ARG_STRING, &a->language,
      "Force the spoken language (code or English name; default: detect)", "LANG" },
    { "prompt", 'p', 0, G_OPTION_ARG_STRING, &a->prompt, transcribe
      ? "Context for the transcription: names, hotwords (Qwen3-ASR)"
      : "An instruction after the audio (Qwen3-Omni Instruct; the Captioner takes none)", "TEXT" },
    { "max-tokens", 'n', 0, G_OPTION_ARG_INT, &a->max_tokens, "New tokens per piece (default 512)", "N" },
    { "temperature", 't', 0, G_OPTION_ARG_DOUBLE, &a->temperature, "0 = greedy (default)", "T" },
    { "json", 0, 0, G_OPTION_ARG_NONE, &a->json, "One JSON object per piece (start, end, language, text)", NULL },
    { NULL }
  };
  g_autoptr (GOptionContext) ctx = g_option_context_new ("FILE.wav");
  g_option_context_set_summary (ctx, transcribe
      ? "Transcribes the speech of a WAV file (any rate and channel count)."
      : "Describes a WAV file: speech, music, sounds (Qwen3-Omni Captioner).");
  g_option_context_add_main_entries (ctx, entries, NULL);
  omni_cli_add_load_options (ctx, &a->load);
  if (!g_option_context_parse (ctx, argc, argv, error) || !omni_cli_load_args_check (&a->load, error))
    return FALSE;
  if (!a->model || *argc != 2) {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_INVALID, "--model DIR and one FILE.wav are required");
    return FALSE;
  }
  if (a->max_tokens < 0 || a->temperature < 0) {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_INVALID,
                 "out of range: --max-tokens and --temperature must be >= 0");
    return FALSE;
  }
  return TRUE;
}

/* The file as mono float at the engine's rate. */
static float *
read_audio (const char *path, gsize *n, GError **error)
{
  OmniWavInfo info;
  g_autofree float *pcm = omni_wav_read (path, &info, error);

  if (!pcm)
    return NULL;
  if (info.n_frames == 0) {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_INVALID, "%s: the file holds no audio", path);
    return NULL;
  }
  return omni_resample (pcm, info.n_frames, info.sample_rate, OMNI_AUDIO_RATE, n, error);
}

/* Submits piece @p of @pcm. */
static gboolean
submit (OmniEngine *e, const AudioArgs *a, gboolean transcribe, const float *pcm, Piece *p,
        GError **error)
{
  gsize first = (gsize) (p->start * OMNI_AUDIO_RATE + 0.5);
  gsize last = (gsize) (p->end * OMNI_AUDIO_RATE + 0.5);
  OmniAudioSpec spec = { pcm + first, last - first,
                         transcribe ? OMNI_AUDIO_TRANSCRIBE : OMNI_AUDIO_CAPTION,
                         a->language, a->prompt };

  p->req = omni_request_new_audio (&spec, error);
  if (!p->req)
    return FALSE;
  omni_request_set_max_tokens (p->req, a->max_tokens > 0 ? a->max_tokens : 512);
  omni_request_set_temperature (p->req, a->temperature);
  omni_request_set_callback (p->req, on_result, p, FALSE);
  return omni_engine_submit (e, p->req, error);
}

static void
print_piece (const Piece *p, gboolean json, gboolean timed)
{
  if (json) {
    g_autoptr (JsonBuilder) b = json_builder_new ();
    json_builder_begin_object (b);
    json_builder_set_member_name (b, "start");
    json_builder_add_double_value (b, p->start);
    json_builder_set_member_name (b, "end");
    json_builder_add_double_value (b, p->end);
    json_builder_set_member_name (b, "language");
    if (p->language)
      json_builder_add_string_value (b, p->language);
    else
      json_builder_add_null_value (b);
    json_builder_set_member_name (b, "text");
    json_builder_add_string_value (b, p->text);
    json_builder_end_object (b);
    g_autoptr (JsonNode) root = json_builder_get_root (b);
    g_autofree char *s = json_to_string (root, FALSE);
    printf ("%s\n", s);
  } else if (timed) {
    printf ("[%7.2f --> %7.2f] %s\n", p->start, p->end, p->text);
  } else {
    printf ("%s\n", p->text);
  }
}

/* Runs the pieces of @pcm through @e and prints them in order. */
static int
run_pieces (OmniEngine *e, const AudioArgs *a, gboolean transcribe, const float *pcm, gsize n)
{
  const double piece_s = OMNI_AUDIO_MAX_SECONDS, total = n / (double) OMNI_AUDIO_RATE;
  int n_pieces = (int) ((n + (gsize) piece_s * OMNI_AUDIO_RATE - 1) / ((gsize) piece_s * OMNI_AUDIO_RATE));
  g_autofree Piece *pieces = g_new0 (Piece, n_pieces);
  gint64 t0 = g_get_monotonic_time ();
  GError *error = NULL;
  int status = 0, submitted = 0;

  for (int i = 0; i < n_pieces && !error; i++) {
    pieces[i].start = i * piece_s;
    pieces[i].end = MIN ((i + 1) * piece_s, total);
    if (submit (e, a, transcribe, pcm, &pieces[i], &error))
      submitted++;
  }
  for (int i = 0; i < submitted; i++) {
    Piece *p = &pieces[i];
    g_mutex_lock (&waiter.lock);
    while (!p->done)
      g_cond_wait (&waiter.cond, &waiter.lock);
    g_mutex_unlock (&waiter.lock);
    if (p->status == OMNI_RESULT_DONE)
      print_piece (p, a->json, n_pieces > 1);
    else if (status == 0)
      status = omni_cli_fail (p->error ? g_error_copy (p->error)
                              : g_error_new (OMNI_ERROR, OMNI_ERROR_CANCELLED, "cancelled"));
  }
  double secs = (g_get_monotonic_time () - t0) / 1e6;
  if (status == 0 && !error)
    fprintf (stderr, "omni: %.2f s of audio in %.2f s (real-time factor %.3f)\n", total, secs,
             secs / total);
  for (int i = 0; i < n_pieces; i++) {
    g_clear_pointer (&pieces[i].req, omni_request_unref);
    g_free (pieces[i].text);
    g_free (pieces[i].language);
    g_clear_error (&pieces[i].error);
  }
  return error ? omni_cli_fail (error) : status;
}

static int
run_audio (int argc, char **argv, gboolean transcribe)
{
  AudioArgs a = { 0 };
  OmniEngineOptions opts;
  OmniEngine *e = NULL;
  GError *error = NULL;
  g_autofree float *pcm = NULL;
  gsize n = 0;
  int status;

  if (!parse_args (&argc, &argv, &a, transcribe, &error)
      || !(pcm = read_audio (argv[1], &n, &error)))
    goto fail;
  omni_engine_options_init (&opts);
  opts.device = a.device ? a.device : "auto";
  opts.quant = a.load.quant;
  opts.n_threads = a.load.threads;
  e = omni_engine_acquire (a.model, &opts, &error);
  if (!e)
    goto fail;
  status = run_pieces (e, &a, transcribe, pcm, n);
  omni_engine_unref (e);
  goto out;
fail:
  status = omni_cli_fail (error);
out:
  g_free (a.model);
  g_free (a.device);
  g_free (a.language);
  g_free (a.prompt);
  omni_cli_load_args_clear (&a.load);
  return status;
}

int
omni_cli_caption (int argc, char **argv)
{
  return run_audio (argc, argv, FALSE);
}

int
omni_cli_transcribe (int argc, char **argv)
{
  return run_audio (argc, argv, TRUE);
}
