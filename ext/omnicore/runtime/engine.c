/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The process-wide engine registry: one engine per (model directory,
 * device, quant), loaded once, ref-counted, with its scheduler thread. */
#define _XOPEN_SOURCE 700
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include "runtime/engine-private.h"

/* Registry of live engines by key; loading happens under the lock, so two
 * users naming the same model at once load it once. */
G_LOCK_DEFINE_STATIC (registry);
static GHashTable *registry;
/* What "auto" resolved to the first time (NULL until then). */
static char *auto_device;
static guint load_count;

/* Longest step delay the test knob accepts (ms). */
#define MAX_STEP_DELAY_MS 60000

void
omni_engine_options_init (OmniEngineOptions *opts)
{
  memset (opts, 0, sizeof *opts);
  opts->device = "auto";
  opts->max_batch = 8;
  opts->max_context = 4096;
  /* f32 KV of Qwen3-0.6B is 224 KiB a token: 8192 tokens ~ 1.75 GiB, where
   * max_batch * max_context would reserve 7 GiB for short subtitle requests */
  opts->kv_tokens = 8192;
}

guint
omni_engine_load_count (void)
{
  return g_atomic_int_get (&load_count);
}

static void
progress (const OmniEngineOptions *o, double fraction, const char *what)
{
  if (o->progress)
    o->progress (fraction, what, o->progress_data);
}

static char *
model_realpath (const char *model_dir, GError **error)
{
  char buf[PATH_MAX];

  if (model_dir == NULL || *model_dir == '\0') {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_INVALID, "no model directory given");
    return NULL;
  }
  if (!realpath (model_dir, buf)) {
    int err = errno;
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_IO, "model directory \"%s\": %s", model_dir,
                 g_strerror (err));
    return NULL;
  }
  if (!g_file_test (buf, G_FILE_TEST_IS_DIR)) {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_IO,
                 "model directory \"%s\" is not a directory (expected a Hugging Face snapshot)",
                 model_dir);
    return NULL;
  }
  return g_strdup (buf);
}

static gboolean
check_options (const OmniEngineOptions *o, GError **error)
{
  if ((guint) o->quant > OMNI_QUANT_INT4) {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_INVALID,
                 "engine options: quant %d; expected none, bf16, int8 or int4", (int) o->quant);
    return FALSE;
  }
  if (o->n_threads < 0 || o->n_threads > 1024) {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_INVALID,
                 "engine options: n_threads %d; expected 0 (automatic) to 1024", o->n_threads);
    return FALSE;
  }
  if (o->max_batch < 1 || o->max_batch > 256 || o->max_context < 2 || o->max_context > (1 << 20)
      || o->kv_tokens < 0 || o->kv_tokens > (1 << 24)) {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_INVALID,
                 "engine options: max_batch %d (expected 1..256), max_context %d (expected "
                 "2..1048576), kv_tokens %d (expected 0..16777216)", o->max_batch,
                 o->max_context, o->kv_tokens);
    return FALSE;
  }
  return TRUE;
}

static guint
step_delay_from_env (void)
{
  const char *env = g_getenv ("OMNI_DEBUG_STEP_DELAY_MS");
  guint64 v;

  if (!env || !*env)
    return 0;
  if (!g_ascii_string_to_unsigned (env, 10, 0, MAX_STEP_DELAY_MS, &v, NULL)) {
    g_warning ("OMNI_DEBUG_STEP_DELAY_MS is \"%s\"; expected 0..%d ms, ignored", env,
               MAX_STEP_DELAY_MS);
    return 0;
  }
  return (guint) v;
}

/* The stop ids: generation_config.json's eos ids and the ChatML turn ends,
 * so a chat prompt stops even when the config names only <|endoftext|>. */
static void
collect_stop_ids (OmniEngine *e)
{
  const OmniGenerationConfig *gen = omni_model_generation_config (e->model);
  const char *ends[] = { "<|im_end|>", "<|endoftext|>" };
  int vocab = omni_model_config (e->model)->vocab_size;

  e->stop_ids = g_new (int32_t, gen->n_eos + G_N_ELEMENTS (ends));
  for (int i = 0; i < gen->n_eos; i++)
    e->stop_ids[e->n_stop++] = gen->eos_ids[i];
  for (gsize i = 0; i < G_N_ELEMENTS (ends); i++) {
    int32_t id = omni_tokenizer_token_to_id (e->tok, ends[i]);
    gboolean dup = FALSE;
    for (int j = 0; j < e->n_stop; j++)
      dup = dup || e->stop_ids[j] == id;
    if (id >= 0 && id < vocab && !dup)
      e->stop_ids[e->n_stop++] = id;
  }
}

static gboolean
load_tokenizer (OmniEngine *e, GError **error)
{
  g_autofree char *json = g_build_filename (e->dir, "tokenizer.json", NULL);
  g_autofree char *cfg = g_build_filename (e->dir, "tokenizer_config.json", NULL);

  e->tok = omni_tokenizer_load (json, g_file_test (cfg, G_FILE_TEST_EXISTS) ? cfg : NULL, error);
  e->thinking = omni_chat_thinking_for (e->dir, FALSE);
  return e->tok != NULL;
}

static gboolean
load_model (OmniEngine *e, const OmniEngineOptions *o, GError **error)
{
  OmniStateOptions so = { 0 };

  progress (o, 0.3, "weights");
  e->model = omni_model_load (e->dir, e->backend, error);
  if (!e->model)
    return FALSE;
  g_atomic_int_inc (&load_count);
  progress (o, 0.8, "KV cache");
  so.max_context = o->max_context;
  so.max_seqs = o->max_batch;
  so.max_batch_tokens = MAX (256, o->max_batch);
  so.max_logit_rows = o->max_batch;
  so.kv_tokens = MAX (o->kv_tokens, o->max_context);
  e->st = omni_model_state_new (e->model, &so, error);
  return e->st != NULL;
}

static gboolean
start_thread (OmniEngine *e, GError **error)
{
  e->thread = g_thread_try_new ("omni-scheduler", omni_scheduler_main, e, error);
  if (!e->thread) {
    g_prefix_error (error, "engine for %s: ", e->dir);
    return FALSE;
  }
  return TRUE;
}

/* Loads the engine for @dir on the already open @backend (taken over). */
static OmniEngine *
engine_load (char *dir, OmniBackend *backend, const OmniEngineOptions *o, GError **error)
{
  OmniEngine *e = g_new0 (OmniEngine, 1);

  e->ref = 1;
  e->dir = dir;
  e->backend = backend;
  e->device = g_strdup (backend->device);
  e->key = g_strdup_printf ("%s\n%s\n%s", dir, e->device, omni_quant_name (o->quant));
  e->model_id = g_path_get_basename (dir);
  e->max_batch = o->max_batch;
  e->max_context = o->max_context;
  e->step_delay_ms = step_delay_from_env ();
  g_mutex_init (&e->lock);
  g_cond_init (&e->cond);
  e->queue = g_ptr_array_new ();
  progress (o, 0.2, "tokenizer");
  if (!load_tokenizer (e, error) || !load_model (e, o, error))
    goto fail;
  progress (o, 0.9, "audio and vision encoders");
  if (!omni_engine_audio_load (e, error) || !omni_engine_vision_load (e, error))
    goto fail;
  collect_stop_ids (e);
  omni_stepper_init (&e->stepper, e->model, e->st);
  e->active = g_new0 (OmniRequest *, e->max_batch);
  e->seqs = g_new0 (OmniSeq *, e->max_batch);
  if (!start_thread (e, error))
    goto fail;
  progress (o, 1.0, "ready");
  g_info ("engine %s on %s: max_batch %d, max_context %d", e->model_id, e->device, e->max_batch,
          e->max_context);
  return e;
fail:
  omni_engine_free (e);
  return NULL;
}

/* The registry key device for @device, NULL when it is "auto" and not yet
 * resolved (the caller opens a backend to find out). */
static const char *
known_device (const char *device)
{
  return strcmp (device, "auto") == 0 ? auto_device : device;
}

static OmniEngine *
lookup (const char *dir, const char *device, OmniQuant quant)
{
  g_autofree char *key = g_strdup_printf ("%s\n%s\n%s", dir, device, omni_quant_name (quant));
  OmniEngine *e = registry ? g_hash_table_lookup (registry, key) : NULL;

  if (e)
    g_atomic_int_inc (&e->ref);
  return e;
}

static OmniEngine *
acquire_locked (char *dir, const OmniEngineOptions *o, GError **error)
{
  const char *device = o->device ? o->device : "auto";
  OmniEngine *e;
  OmniBackend *backend;

  if (!check_options (o, error))
    goto fail;
  if (known_device (device) && (e = lookup (dir, known_device (device), o->quant))) {
    g_free (dir);
    return e;
  }
  progress (o, 0.0, "config");
  progress (o, 0.1, "backend");
  backend = omni_backend_open_threads (device, o->n_threads, error);
  if (!backend)
    goto fail;
  if (strcmp (device, "auto") == 0 && !auto_device)
    auto_device = g_strdup (backend->device);
  /* "auto" may name a device someone already loaded the model on */
  if ((e = lookup (dir, backend->device, o->quant))) {
    omni_backend_close (backend);
    g_free (dir);
    return e;
  }
  if (!omni_backend_set_quant (backend, o->quant, error)) {
    omni_backend_close (backend);
    goto fail;
  }
  e = engine_load (dir, backend, o, error);
  if (e) {
    if (!registry)
      registry = g_hash_table_new (g_str_hash, g_str_equal);
    g_hash_table_insert (registry, e->key, e);
  }
  return e;
fail:
  g_prefix_error (error, "model %s: ", dir);
  g_free (dir);
  return NULL;
}

OmniEngine *
omni_engine_acquire (const char *model_dir, const OmniEngineOptions *opts, GError **error)
{
  OmniEngineOptions defaults;
  char *dir = model_realpath (model_dir, error);
  OmniEngine *e;

  if (!dir)
    return NULL;
  if (!opts) {
    omni_engine_options_init (&defaults);
    opts = &defaults;
  }
  G_LOCK (registry);
  e = acquire_locked (dir, opts, error);
  G_UNLOCK (registry);
  return e;
}

OmniEngine *
omni_engine_ref (OmniEngine *engine)
{
  g_return_val_if_fail (engine != NULL, NULL);
  g_atomic_int_inc (&engine->ref);
  return engine;
}

void
omni_engine_unref (OmniEngine *engine)
{
  gboolean on_thread;

  if (!engine)
    return;
  G_LOCK (registry);
  if (!g_atomic_int_dec_and_test (&engine->ref)) {
    G_UNLOCK (registry);
    return;
  }
  g_hash_table_remove (registry, engine->key);
  G_UNLOCK (registry);
  g_mutex_lock (&engine->lock);
  engine->stopping = TRUE;
  /* from a result callback the thread cannot join itself: it frees the
   * engine when it leaves its loop */
  on_thread = g_thread_self () == engine->thread;
  engine->free_on_exit = on_thread;
  g_cond_signal (&engine->cond);
  g_mutex_unlock (&engine->lock);
  if (on_thread)
    return;
  g_thread_join (engine->thread);
  engine->thread = NULL;
  omni_engine_free (engine);
}

void
omni_engine_free (OmniEngine *e)
{
  if (e->thread)
    g_thread_unref (e->thread);
  omni_stepper_clear (&e->stepper);
  g_free (e->active);
  g_free (e->seqs);
  g_clear_pointer (&e->st, omni_model_state_free);
  omni_engine_audio_free (e);
  omni_engine_vision_free (e);
  g_clear_pointer (&e->model, omni_model_free);
  g_clear_pointer (&e->backend, omni_backend_close);
  g_clear_pointer (&e->tok, omni_tokenizer_free);
  g_ptr_array_free (e->queue, TRUE);
  g_mutex_clear (&e->lock);
  g_cond_clear (&e->cond);
  g_free (e->stop_ids);
  g_free (e->key);
  g_free (e->dir);
  g_free (e->model_id);
  g_free (e->device);
  g_free (e);
}

const char *
omni_engine_model_id (OmniEngine *engine)
{
  return engine->model_id;
}

const char *
omni_engine_device (OmniEngine *engine)
{
  return engine->device;
}

guint64
omni_engine_forward_count (OmniEngine *engine)
{
  guint64 n;

  g_mutex_lock (&engine->lock);
  n = engine->n_forward;
  g_mutex_unlock (&engine->lock);
  return n;
}

void
omni_engine_release_features (OmniEngine *e, OmniRequest *req)
{
  OmniBackend *b = e->backend;

  if (req->features.data)
    b->ops->tensor_free (b, &req->features);
  memset (&req->features, 0, sizeof req->features);
  for (int k = 0; k < req->n_deepstack; k++)
    if (req->deepstack[k].data)
      b->ops->tensor_free (b, &req->deepstack[k]);
  memset (req->deepstack, 0, sizeof req->deepstack);
  req->n_deepstack = 0;
}

gboolean
omni_engine_keep_rows (OmniEngine *e, OmniTensor *dst, const OmniTensor *src, int first, int n,
                       GError **error)
{
  OmniBackend *b = e->backend;
  int64_t shape[2] = { n, src->shape[1] };
  g_autofree int32_t *rows = g_new (int32_t, MAX (n, 1));

  if (!b->ops->tensor_alloc (b, dst, OMNI_DTYPE_F32, 2, shape, error))
    return FALSE;
  for (int k = 0; k < n; k++)
    rows[k] = first + k;
  b->ops->get_rows (b, dst, src, rows, n);
  return TRUE;
}
