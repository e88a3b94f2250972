/* The engine and request structures, shared by engine.c, request.c and
 * scheduler.c (not installed).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef OMNI_ENGINE_PRIVATE_H
#define OMNI_ENGINE_PRIVATE_H

#include "omnicore.h"
#include "nn/qwen3.h"
#include "runtime/sequence.h"
#include "runtime/step.h"
#include "text/chat.h"
#include "text/detokenizer.h"
#include "text/tokenizer.h"
#include "text/audio-prompt.h"

#include "io/vision-config.h"

#include "vision/vision-config.h"

typedef struct _OmniAudioEncoder OmniAudioEncoder;
typedef struct _OmniVisionEncoder OmniVisionEncoder;
typedef struct _OmniMel OmniMel;

/* Lock order: a request's lock before its engine's lock; the scheduler
 * never holds the engine's lock while it takes a request's lock or runs a
 * callback. */
struct _OmniRequest {
  gint ref;
  GMutex lock;                 /* guards @engine */
  OmniEngine *engine;          /* set from submit until the final callback */
  gint cancelled;              /* atomic */
  gboolean submitted;          /* under @lock */

  /* what to generate: a chat turn; translations also clean the answer */
  char *system, *user;
  char *target_name;           /* translation: target's English name, else NULL */
  /* or an audio clip (pcm != NULL) */
  float *pcm;
  gsize n_pcm;
  OmniAudioTask task;
  char *language;              /* forced language as given, NULL = detect */

  OmniPriority priority;
  gint64 deadline_us;
  int max_tokens;
  double temperature;
  OmniResultFunc func;
  gpointer user_data;
  gboolean partial;

  /* the scheduler's, from submit on */
  guint64 order;               /* FIFO rank among equals */
  gint64 submitted_us, first_token_us;
  GArray *ids;                 /* prompt ids (gint32), once tokenized */
  gboolean running;            /* holds a slot and @seq */
  OmniSeq seq;
  OmniDetokenizer *detok;
  GString *text;
  /* audio and vision: the encoder's tokens for the placeholders, once encoded */
  int n_media_tokens;
  OmniTensor features;         /* [n_media_tokens, hidden] in the backend, data NULL before */
  OmniTensor deepstack[OMNI_MAX_DEEPSTACK];  /* vision: DeepStack levels, same shape */
  int n_deepstack;
  const char *forced_code;     /* the forced language's code, NULL = detect */
  /* vision requests (n_images > 0): RGB8 copies, packed */
  guint8 **images;
  int *widths, *heights;
  int n_images;
  double clip_fps;             /* > 0: the images are one clip's frames */
  int min_visual_tokens, max_visual_tokens;
  float *patches;              /* preprocessed, until encoded */
  OmniVisionGrid *grids;       /* one per image, or one for the clip */
  int n_grids;
  int32_t *rope_pos;           /* [3][prompt] M-RoPE positions, NULL: sequential */
  int rope_delta;              /* decode positions: cache position + rope_delta */
};

struct _OmniEngine {
  gint ref;
  char *key;                   /* "<realpath>\n<device>\n<quant>" in the registry */
  char *dir, *model_id, *device;
  OmniTokenizer *tok;
  OmniBackend *backend;
  OmniModel *model;
  OmniModelState *st;
  OmniThinking thinking;       /* DISABLED for hybrid Qwen3, else NONE */
  int32_t *stop_ids;
  int n_stop;
  int max_batch, max_context;
  guint step_delay_ms;
  /* audio models: the tower and its front end (NULL for text-only models) */
  OmniAudioEncoder *audio;
  OmniMel *mel;
  OmniAudioModelKind audio_kind;
  int32_t audio_token_id;
  int32_t asr_marker_id;       /* Qwen3-ASR's <asr_text>, -1 if none */
  /* vision models: the tower and its preprocessing (NULL for others) */
  OmniVisionEncoder *vision;
  OmniVisionProcConfig image_proc, video_proc;         /* OMNI_DEBUG_STEP_DELAY_MS, a test knob */

  GMutex lock;                 /* guards the fields below up to the thread's own */
  GCond cond;
  gboolean stopping;
  gboolean free_on_exit;       /* the last unref came from the scheduler thread */
  GPtrArray *queue;            /* submitted, not yet started (refs held) */
  guint64 next_order;
  GThread *thread;
  guint64 n_forward;           /* forward calls made */

  /* the scheduler thread's own */
  OmniStepper stepper;
  OmniRequest **active;        /* [max_batch], running, in scheduling order */
  OmniSeq **seqs;              /* [max_batch], their sequences */
  int n_active;
};

/* The scheduler thread's body (scheduler.c). */
gpointer omni_scheduler_main (gpointer engine);
/* Frees what the engine owns once its thread has ended (engine.c). */
void omni_engine_free (OmniEngine *engine);
/* Loads the audio tower and its front end when the snapshot has one (audio.c). */
gboolean omni_engine_audio_load (OmniEngine *e, GError **error);
/* Frees them (audio.c). */
void omni_engine_audio_free (OmniEngine *e);
/* The prompt text of audio request @req, with its placeholder count set;
 * NULL + GError when the model cannot take it (audio.c). */
char *omni_engine_audio_prompt (OmniEngine *e, OmniRequest *req, GError **error);
/* Encodes the clips of the active requests not yet encoded, in one pass;
 * the requests that fail are finished with the error (audio.c). */
void omni_engine_audio_encode (OmniEngine *e);
/* Loads the vision tower and its preprocessing when the snapshot has one (vision.c). */
gboolean omni_engine_vision_load (OmniEngine *e, GError **error);
/* Frees them (vision.c). */
void omni_engine_vision_free (OmniEngine *e);
/* The prompt text of vision request @req (its pictures preprocessed, its
 * placeholder count set); NULL + GError when the model cannot take it (vision.c). */
char *omni_engine_vision_prompt (OmniEngine *e, OmniRequest *req, GError **error);
/* The M-RoPE positions of @req's tokenized prompt into its sequence (vision.c). */
gboolean omni_engine_vision_positions (OmniEngine *e, OmniRequest *req, GError **error);
/* Encodes the pictures of the active requests not yet encoded, in one
 * pass; the requests that fail are finished with the error (vision.c). */
void omni_engine_vision_encode (OmniEngine *e);
/* The vision tower's config, NULL without one (vision.c). */
const OmniVisionConfig *omni_engine_vision_config (OmniEngine *e);
/* DeepStack levels @req's features come with: 0 but for pictures (vision.c). */
int omni_engine_n_deepstack (OmniEngine *e, const OmniRequest *req);
/* Releases @req's encoder tokens and DeepStack features (engine.c). */
void omni_engine_release_features (OmniEngine *e, OmniRequest *req);
/* @dst = a new backend tensor holding rows @first..@first+@n of @src (engine.c). */
gboolean omni_engine_keep_rows (OmniEngine *e, OmniTensor *dst, const OmniTensor *src, int first,
                                int n, GError **error);
/* Fails every active request in @reqs with @error (a copy each) (scheduler.c). */
void omni_engine_fail_requests (OmniEngine *e, OmniRequest **reqs, int n, const GError *error);
/* The final error callback; takes @error (scheduler.c). */
void omni_engine_finish_error (OmniEngine *e, OmniRequest *req, GError *error);
/* Removes active request @i (scheduler.c). */
void omni_engine_remove_active (OmniEngine *e, int i);

/* TRUE when @a should start before @b (scheduler.c). */
gboolean omni_request_before (const OmniRequest *a, const OmniRequest *b);

#endif /* OMNI_ENGINE_PRIVATE_H */
