/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The engine's audio side: the tower and log-mel front end of Qwen3-Omni
 * and Qwen3-ASR snapshots, audio prompts, and the batched encoding of the
 * clips of newly started requests. */
#include "runtime/engine-private.h"
#include "audio/mel.h"
#include "nn/audio-encoder.h"

static gboolean
load_mel (OmniEngine *e, GError **error)
{
  g_autofree char *path = g_build_filename (e->dir, "preprocessor_config.json", NULL);
  OmniMelConfig cfg;

  if (g_file_test (path, G_FILE_TEST_EXISTS)) {
    if (!omni_mel_config_load (path, &cfg, error))
      return FALSE;
  } else {
    omni_mel_config_init_default (&cfg);
  }
  e->mel = omni_mel_new (&cfg, error);
  return e->mel != NULL;
}

/* The <asr_text> marker's id when the tokenizer has it (Qwen3-ASR). */
static int32_t
asr_marker (OmniEngine *e)
{
  int32_t id = omni_tokenizer_token_to_id (e->tok, "<asr_text>");

  return id >= 0 && id < omni_model_config (e->model)->vocab_size ? id : -1;
}

gboolean
omni_engine_audio_load (OmniEngine *e, GError **error)
{
  GError *err = NULL;
  const char *arch = omni_model_config (e->model)->architecture;

  e->asr_marker_id = -1;
  e->audio = omni_audio_encoder_load (e->dir, e->backend, &err);
  if (!e->audio) {
    /* a text-only snapshot is fine; it just takes no audio requests */
    if (g_error_matches (err, OMNI_ERROR, OMNI_ERROR_UNSUPPORTED)
        && !g_str_has_prefix (arch, "Qwen3ASR") && !g_str_has_prefix (arch, "Qwen3Omni")) {
      g_error_free (err);
      return TRUE;
    }
    g_propagate_error (error, err);
    return FALSE;
  }
  const OmniAudioConfig *ac = omni_audio_encoder_config (e->audio);
  if (ac->output_dim != omni_model_config (e->model)->hidden_size) {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_FORMAT,
                 "%s: the audio tower's output_dim %d differs from the decoder's hidden size %d",
                 e->dir, ac->output_dim, omni_model_config (e->model)->hidden_size);
    return FALSE;
  }
  e->audio_token_id = ac->audio_token_id;
  e->audio_kind = g_str_has_prefix (arch, "Qwen3ASR") ? OMNI_AUDIO_MODEL_ASR : OMNI_AUDIO_MODEL_OMNI;
  if (e->audio_kind == OMNI_AUDIO_MODEL_ASR)
    e->asr_marker_id = asr_marker (e);
  return load_mel (e, error);
}

void
omni_engine_audio_free (OmniEngine *e)
{
  g_clear_pointer (&e->audio, omni_audio_encoder_free);
  g_clear_pointer (&e->mel, omni_mel_free);
}

/* The forced language as the model names it: ASR's own names, else English. */
static gboolean
forced_language (OmniEngine *e, OmniRequest *req, const char **name, GError **error)
{
  *name = NULL;
  if (!req->language)
    return TRUE;
  if (e->audio_kind == OMNI_AUDIO_MODEL_ASR) {
    if (omni_asr_language_lookup (req->language, &req->forced_code, name))
      return TRUE;
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_INVALID,
                 "%s: Qwen3-ASR cannot be forced to \"%s\"; it knows %s", e->model_id,
                 req->language, omni_asr_languages ());
    return FALSE;
  }
  return omni_language_lookup (req->language, &req->forced_code, name);
}

char *
omni_engine_audio_prompt (OmniEngine *e, OmniRequest *req, GError **error)
{
  const char *name;

  if (!e->audio) {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_UNSUPPORTED,
                 "%s has no audio encoder (%s is a text model): audio needs a Qwen3-Omni or "
                 "Qwen3-ASR snapshot", e->model_id, omni_model_config (e->model)->architecture);
    return NULL;
  }
  if (e->audio_kind == OMNI_AUDIO_MODEL_ASR && req->task == OMNI_AUDIO_CAPTION) {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_UNSUPPORTED,
                 "%s is a Qwen3-ASR model: it transcribes; captions need Qwen3-Omni "
                 "(Qwen3-Omni-30B-A3B-Captioner)", e->model_id);
    return NULL;
  }
  if (!forced_language (e, req, &name, error))
    return NULL;
  gsize frames = omni_mel_n_frames (e->mel, req->n_pcm);
  req->n_media_tokens = omni_audio_encoder_n_tokens (e->audio, (int) frames);
  return omni_audio_prompt_build (e->audio_kind, req->task == OMNI_AUDIO_TRANSCRIBE,
                                  req->n_media_tokens, name, req->user);
}

/* Log-mel features of @req's clip ([n_mels][frames], newly allocated). */
static float *
features_of (OmniEngine *e, OmniRequest *req, int *n_frames, GError **error)
{
  int n_mels = omni_mel_config (e->mel)->n_mels;
  gsize frames = omni_mel_n_frames (e->mel, req->n_pcm);
  float *mel = g_new (float, (gsize) n_mels * frames);

  if (!omni_mel_compute (e->mel, req->pcm, req->n_pcm, mel, error)) {
    g_free (mel);
    return NULL;
  }
  *n_frames = (int) frames;
  return mel;
}

/* Copies each request's rows of the encoder's output into its own tensor. */
static gboolean
keep_features (OmniEngine *e, OmniRequest **reqs, int n, const OmniTensor *out, GError **error)
{
  int row = 0;

  for (int i = 0; i < n; i++) {
    if (!omni_engine_keep_rows (e, &reqs[i]->features, out, row, reqs[i]->n_media_tokens, error))
      return FALSE;
    row += reqs[i]->n_media_tokens;
  }
  return TRUE;
}

/* Encodes @n clips in one pass and keeps each request's tokens. */
static gboolean
encode_group (OmniEngine *e, OmniRequest **reqs, float **mels, int *frames, int n,
              GError **error)
{
  OmniTensor *out = NULL;

  return omni_audio_encoder_forward (e->audio, (const float *const *) mels, frames, n, &out, error)
         && keep_features (e, reqs, n, out, error);
}

/* TRUE when a clip of @frames gives the same tokens alone as in a batch:
 * Qwen3-Omni's tower pads chunks to the longest chunk of the call, so a clip
 * shorter than one chunk is encoded alone, as transformers encodes one clip. */
static gboolean
batchable (OmniEngine *e, int frames)
{
  const OmniAudioConfig *c = omni_audio_encoder_config (e->audio);

  return c->pad_full_chunks || frames >= 2 * c->n_window;
}

/* Encodes the clips of @reqs: the batchable ones together, the others one
 * by one. */
static gboolean
encode_all (OmniEngine *e, OmniRequest **reqs, float **mels, int *frames, int n, GError **error)
{
  g_autofree OmniRequest **br = g_new (OmniRequest *, n);
  g_autofree float **bm = g_new (float *, n);
  g_autofree int *bf = g_new (int, n);
  int k = 0;

  for (int i = 0; i < n; i++) {
    if (batchable (e, frames[i])) {
      br[k] = reqs[i];
      bm[k] = mels[i];
      bf[k++] = frames[i];
    }
  }
  if (k > 0 && !encode_group (e, br, bm, bf, k, error))
    return FALSE;
  for (int i = 0; i < n; i++)
    if (!batchable (e, frames[i]) && !encode_group (e, reqs + i, mels + i, frames + i, 1, error))
      return FALSE;
  return TRUE;
}

void
omni_engine_audio_encode (OmniEngine *e)
{
  g_autofree OmniRequest **reqs = g_new (OmniRequest *, e->n_active + 1);
  g_autofree float **mels = g_new0 (float *, e->n_active + 1);
  g_autofree int *frames = g_new (int, e->n_active + 1);
  GError *error = NULL;
  int n = 0;

  for (int i = 0; i < e->n_active; i++)
    if (e->active[i]->pcm && !e->active[i]->features.data)
      reqs[n++] = e->active[i];
  if (n == 0)
    return;
  gboolean ok = TRUE;
  for (int i = 0; i < n && ok; i++)
    ok = (mels[i] = features_of (e, reqs[i], &frames[i], &error)) != NULL;
  ok = ok && encode_all (e, reqs, mels, frames, n, &error);
  for (int i = 0; i < n; i++)
    g_free (mels[i]);
  if (!ok) {
    for (int i = 0; i < n; i++)
      omni_engine_release_features (e, reqs[i]);
    omni_engine_fail_requests (e, reqs, n, error);
    g_error_free (error);
  }
}
