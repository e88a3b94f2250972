/* gst-omni inference core: public API.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The core knows nothing about GStreamer. It loads Hugging Face snapshots of
 * the Qwen models and turns requests into tokens. Log messages go to GLib's
 * structured logging under the domain "omnicore".
 */
#ifndef OMNICORE_H
#define OMNICORE_H

#include <glib.h>

G_BEGIN_DECLS

#define OMNI_ERROR (omni_error_quark ())

/* Codes of the OMNI_ERROR domain. */
typedef enum {
  OMNI_ERROR_IO,          /* a file could not be opened, read or mapped */
  OMNI_ERROR_FORMAT,      /* a file or value is malformed */
  OMNI_ERROR_UNSUPPORTED, /* well formed, but a model or feature we do not run */
  OMNI_ERROR_NO_MEMORY,   /* an allocation (host or device) failed */
  OMNI_ERROR_DEVICE,      /* a compute device failed or is absent */
  OMNI_ERROR_CANCELLED,   /* the request was cancelled */
  OMNI_ERROR_INVALID,     /* an argument or option is out of range */
} OmniErrorCode;

/* The error domain of every GError the core returns. */
GQuark omni_error_quark (void);

/* The core's version string, e.g. "0.1.0". */
const char *omni_version (void);

/* ------------------------------------------------------------------- quant */

/* How matmul weights are stored in memory (cpu backend): as the checkpoint
 * has them, bf16, or quantized in groups of 32 with an f16 scale (int8,
 * int4). Norms, biases, convolution kernels and position tables are kept. */
typedef enum {
  OMNI_QUANT_NONE,
  OMNI_QUANT_BF16,
  OMNI_QUANT_INT8,
  OMNI_QUANT_INT4,
} OmniQuant;

/* "none", "bf16", "int8", "int4" -> @out; else FALSE + GError
 * (OMNI_ERROR_INVALID) naming the accepted values. */
gboolean omni_quant_parse (const char *name, OmniQuant *out, GError **error);
/* The name omni_quant_parse() accepts for @q ("none", ...); "?" when invalid. */
const char *omni_quant_name (OmniQuant q);

/* ------------------------------------------------------------------ engine */

/* A loaded model with its backend and scheduler thread, shared (ref-counted)
 * by every user in the process that names the same directory and device. */
typedef struct _OmniEngine OmniEngine;

/* Loading progress: @fraction in [0, 1], @what says which step. Called on
 * the thread that calls omni_engine_acquire(). */
typedef void (*OmniProgressFunc) (double fraction, const char *what, gpointer user_data);

typedef struct {
  const char *device;       /* "auto" (default), "cpu", "cuda:N", "cuda-emu" */
  int max_batch;            /* sequences decoded in one step (default 8) */
  int max_context;          /* tokens per sequence, prompt + output (default 4096) */
  int kv_tokens;            /* KV cache shared by all sequences, in tokens (default
                             * 8192; at least max_context): the cache's memory */
  OmniQuant quant;          /* weight format (default OMNI_QUANT_NONE: as stored); a
                             * quant other than NONE needs the cpu backend */
  int n_threads;            /* cpu threads (default 0: $OMNI_THREADS, else every core);
                             * only the first user of an engine decides it */
  OmniProgressFunc progress;
  gpointer progress_data;
} OmniEngineOptions;

/* Fills @opts with the defaults. */
void omni_engine_options_init (OmniEngineOptions *opts);

/* Returns the engine for @model_dir on @opts->device at @opts->quant, loading
 * it on first use (later callers get the same engine, their options other
 * than device and quant ignored). A GError names the file and the problem.
 * Engines are keyed by the directory's real path, the device actually opened
 * and the quant, so "auto" shares the engine of the device it resolves to
 * ("cpu" on a machine without CUDA) and two quants give two engines. A quant
 * on a CUDA device is a GError (OMNI_ERROR_UNSUPPORTED).
 * Loading holds a process-wide lock: do not acquire from @opts->progress.
 * Test knob: the environment variable OMNI_DEBUG_STEP_DELAY_MS, read at
 * load, makes the scheduler sleep that long before every forward step (to
 * test live timing with a "slow model"); never set it in production. */
OmniEngine *omni_engine_acquire (const char *model_dir, const OmniEngineOptions *opts,
                                 GError **error);
OmniEngine *omni_engine_ref (OmniEngine *engine);
/* Drops a reference; the last one cancels pending requests and unloads. */
void omni_engine_unref (OmniEngine *engine);

/* A short model id for metadata (e.g. the snapshot's directory name). */
const char *omni_engine_model_id (OmniEngine *engine);
/* The device actually used ("cpu", "cuda:0", ...). */
const char *omni_engine_device (OmniEngine *engine);
/* How many times model weights were loaded in this process (for tests). */
guint omni_engine_load_count (void);
/* Forward passes the engine's scheduler has run so far (for tests: batched
 * requests share one pass per step). */
guint64 omni_engine_forward_count (OmniEngine *engine);

/* ---------------------------------------------------------------- requests */

typedef struct _OmniRequest OmniRequest;

typedef enum {
  OMNI_PRIORITY_LIVE,       /* scheduled before any batch work */
  OMNI_PRIORITY_BATCH,
} OmniPriority;

typedef enum {
  OMNI_RESULT_PARTIAL,      /* text so far; more will come */
  OMNI_RESULT_DONE,         /* final text */
  OMNI_RESULT_ERROR,        /* @error says why */
  OMNI_RESULT_CANCELLED,
} OmniResultStatus;

typedef struct {
  OmniResultStatus status;
  const char *text;         /* UTF-8, valid during the callback only */
  const GError *error;      /* OMNI_RESULT_ERROR only */
  int n_prompt_tokens, n_tokens;
  gint64 submitted_us, first_token_us, done_us;  /* g_get_monotonic_time() */
  /* transcriptions: the language (BCP-47 code, or the model's name for it
   * when it has no code) forced or detected; NULL when unknown or not asked */
  const char *language;
} OmniResult;

/* Called on the engine's scheduler thread: hand the result over and return
 * quickly. Exactly one call per request has a status other than PARTIAL.
 * PARTIAL and DONE carry the whole text so far (translations cleaned of
 * labels and quotes); CANCELLED carries what was generated before. */
typedef void (*OmniResultFunc) (OmniRequest *req, const OmniResult *result, gpointer user_data);

/* One source -> target pair (glossary term, memory example, context segment). */
typedef struct {
  const char *source;
  const char *target;
} OmniTextPair;

/* What to translate and how (Qwen-MT's translation_options, for open Qwen3). */
typedef struct {
  const char *text;
  const char *source_language;  /* BCP-47 code, English name, or "auto"/NULL */
  const char *target_language;  /* BCP-47 code or English name */
  const char *domain;           /* free English text, may be NULL */
  const OmniTextPair *terms;    /* glossary: must be used */
  gsize n_terms;
  const OmniTextPair *memory;   /* example translations */
  gsize n_memory;
  const OmniTextPair *context;  /* previous segments, oldest first */
  gsize n_context;
} OmniTranslateSpec;

/* Resolves a language given as BCP-47 code or English name (case-insensitive)
 * to its canonical code and English name; FALSE when unknown. */
gboolean omni_language_lookup (const char *name_or_code, const char **code,
                               const char **english_name);

/* A chat request: the user's @prompt, an optional @system message. */
OmniRequest *omni_request_new_chat (const char *system, const char *prompt);
/* A translation request; an unknown language is a GError (OMNI_ERROR_INVALID). */
OmniRequest *omni_request_new_translate (const OmniTranslateSpec *spec, GError **error);

/* What an audio request asks of the model. */
typedef enum {
  OMNI_AUDIO_CAPTION,     /* describe the audio: speech, music, sounds (Qwen3-Omni Captioner) */
  OMNI_AUDIO_TRANSCRIBE,  /* the words spoken (Qwen3-ASR, or Qwen3-Omni Instruct) */
} OmniAudioTask;

/* Longest clip one audio request takes: 30 s, the models' recommended limit
 * (longer audio is split by the caller, e.g. at pauses). */
#define OMNI_AUDIO_MAX_SECONDS 30
/* The sample rate of audio requests. */
#define OMNI_AUDIO_RATE 16000

/* One clip and what to do with it. */
typedef struct {
  const float *pcm;          /* mono samples at OMNI_AUDIO_RATE, copied */
  gsize n_samples;           /* 1 .. OMNI_AUDIO_MAX_SECONDS * OMNI_AUDIO_RATE */
  OmniAudioTask task;
  const char *language;      /* transcribe: force this language (code or name); NULL = detect */
  const char *prompt;        /* Qwen3-ASR: context / hotwords text; Qwen3-Omni: the
                              * instruction after the audio (NULL: per task) */
} OmniAudioSpec;

/* An audio request. An empty or too long clip, or a NaN / Inf sample, is a
 * GError (OMNI_ERROR_INVALID) naming the problem; so is a language Qwen3-ASR
 * does not know, once the engine sees it is an ASR model. Requests admitted
 * together have their clips encoded in one pass. */
OmniRequest *omni_request_new_audio (const OmniAudioSpec *spec, GError **error);

/* One picture: packed RGB, 8 bits per channel, rows @stride bytes apart. */
typedef struct {
  const guint8 *rgb;
  int width, height;
  gsize stride;              /* >= 3 * width */
} OmniImage;

/* Pictures (or one clip's frames) and the question about them. */
typedef struct {
  const OmniImage *images;   /* separate images, or the frames of one clip; copied */
  int n_images;
  double clip_fps;           /* > 0: @images are one clip sampled at this rate (frame i is
                              * at i / clip_fps s); 0: separate images */
  const char *prompt;        /* the question; NULL: "Describe this image." / "...video." */
  int min_visual_tokens;     /* token budget per image or clip (the "256..1280 tokens"
                              * knob); 0: the snapshot's preprocessor_config.json */
  int max_visual_tokens;
} OmniVisionSpec;

/* A vision request (Qwen3-VL, Qwen3-VL-MoE, Qwen3-Omni). No images, a
 * picture below 2 pixels a side or with an aspect ratio above 200, or a
 * budget with min above max is a GError (OMNI_ERROR_INVALID). Requests
 * admitted together have their pictures encoded in one pass. */
OmniRequest *omni_request_new_vision (const OmniVisionSpec *spec, GError **error);

OmniRequest *omni_request_ref (OmniRequest *req);
void omni_request_unref (OmniRequest *req);
void omni_request_set_priority (OmniRequest *req, OmniPriority priority);
/* Monotonic time (us) by which the result is wanted; 0 = none. */
void omni_request_set_deadline (OmniRequest *req, gint64 deadline_us);
void omni_request_set_max_tokens (OmniRequest *req, int max_tokens);
/* 0 = greedy (the default). */
void omni_request_set_temperature (OmniRequest *req, double temperature);
/* Partial results are delivered only when asked for. */
void omni_request_set_callback (OmniRequest *req, OmniResultFunc func, gpointer user_data,
                                gboolean partial_results);

/* Queues @req; its callback will be called exactly once with a final status. */
gboolean omni_engine_submit (OmniEngine *engine, OmniRequest *req, GError **error);
/* Cancels @req if it is queued or running (cheap; the callback reports
 * OMNI_RESULT_CANCELLED unless it already finished). */
void omni_request_cancel (OmniRequest *req);

G_END_DECLS

#endif /* OMNICORE_H */
