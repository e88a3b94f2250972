/* omni generate: load a snapshot, build the prompt, stream the answer.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <signal.h>
#include <stdio.h>
#include "omnicore.h"
#include "backend/backend.h"
#include "nn/qwen3.h"
#include "runtime/generate.h"
#include "text/chat.h"
#include "text/detokenizer.h"
#include "text/tokenizer.h"
#include "omni-cli.h"

typedef struct {
  char *model, *prompt, *system, *device;
  int max_tokens, top_k, thinking_budget;
  double temperature, top_p, repetition_penalty, presence_penalty;
  gint64 seed;
  gboolean chat, raw, think;
  struct { gboolean temperature, top_k, top_p, repetition_penalty, presence_penalty; } set;
  OmniCliLoadArgs load;
} GenArgs;

/* Option values that mean "not given", so generation_config.json applies. */
#define UNSET_INT G_MININT
#define UNSET_DOUBLE (-G_MAXDOUBLE)

static volatile sig_atomic_t interrupted;

static void
on_sigint (int sig)
{
  interrupted = 1;
}

static gboolean
parse_gen_args (int *argc, char ***argv, GenArgs *a, GError **error)
{
  GOptionEntry entries[] = {
    { "model", 'm', 0, G_OPTION_ARG_FILENAME, &a->model, "Hugging Face snapshot directory", "DIR" },
    { "prompt", 'p', 0, G_OPTION_ARG_STRING, &a->prompt, "The user's text", "TEXT" },
    { "system", 's', 0, G_OPTION_ARG_STRING, &a->system, "A system message (chat mode)", "TEXT" },
    { "max-tokens", 'n', 0, G_OPTION_ARG_INT, &a->max_tokens, "New tokens at most (default 256)", "N" },
    { "temperature", 't', 0, G_OPTION_ARG_DOUBLE, &a->temperature,
      "0 = greedy (default: the snapshot's generation_config.json, else greedy)", "T" },
    { "top-k", 0, 0, G_OPTION_ARG_INT, &a->top_k, "Sample from the K most likely (0 = off)", "K" },
    { "top-p", 0, 0, G_OPTION_ARG_DOUBLE, &a->top_p, "Nucleus sampling mass (1 = off)", "P" },
    { "repetition-penalty", 0, 0, G_OPTION_ARG_DOUBLE, &a->repetition_penalty, "1 = off", "R" },
    { "presence-penalty", 0, 0, G_OPTION_ARG_DOUBLE, &a->presence_penalty, "0 = off", "P" },
    { "seed", 0, 0, G_OPTION_ARG_INT64, &a->seed, "Random seed for sampling (default 0)", "S" },
    { "device", 'd', 0, G_OPTION_ARG_STRING, &a->device, "auto, cpu, cuda:N or cuda-emu (default auto)", "D" },
    { "chat", 0, 0, G_OPTION_ARG_NONE, &a->chat, "Wrap the prompt in the chat template (default)", NULL },
    { "raw", 0, 0, G_OPTION_ARG_NONE, &a->raw, "Send the prompt text as it is", NULL },
    { "think", 0, 0, G_OPTION_ARG_NONE, &a->think, "Let a hybrid Qwen3 model think first", NULL },
    { "thinking-budget", 0, 0, G_OPTION_ARG_INT, &a->thinking_budget,
      "With --think: close the thinking after N tokens", "N" },
    { NULL }
  };
  g_autoptr (GOptionContext) ctx = g_option_context_new (NULL);
  g_option_context_set_summary (ctx, "Generates text after a prompt and streams it to stdout.");
  g_option_context_add_main_entries (ctx, entries, NULL);
  omni_cli_add_load_options (ctx, &a->load);
  if (!g_option_context_parse (ctx, argc, argv, error) || !omni_cli_load_args_check (&a->load, error))
    return FALSE;
  a->set.temperature = a->temperature != UNSET_DOUBLE;
  a->set.top_k = a->top_k != UNSET_INT;
  a->set.top_p = a->top_p != UNSET_DOUBLE;
  a->set.repetition_penalty = a->repetition_penalty != UNSET_DOUBLE;
  a->set.presence_penalty = a->presence_penalty != UNSET_DOUBLE;
  if (!a->model || !a->prompt) {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_INVALID, "--model DIR and --prompt TEXT are required");
    return FALSE;
  }
  if (a->chat && a->raw) {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_INVALID, "--chat and --raw exclude each other");
    return FALSE;
  }
  if (a->max_tokens < 0 || (a->set.temperature && a->temperature < 0)
      || (a->set.top_k && a->top_k < 0) || (a->set.top_p && (a->top_p <= 0 || a->top_p > 1))
      || (a->set.repetition_penalty && a->repetition_penalty <= 0) || a->thinking_budget < 0) {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_INVALID,
                 "out of range: --max-tokens, --top-k and --thinking-budget must be >= 0, "
                 "--temperature >= 0, --top-p in (0, 1], --repetition-penalty > 0");
    return FALSE;
  }
  return TRUE;
}

/* The prompt text: chat template (default) or raw. */
static char *
build_prompt (const GenArgs *a)
{
  if (a->raw)
    return g_strdup (a->prompt);
  OmniChatMessage msgs[2];
  gsize n = 0;
  if (a->system)
    msgs[n++] = (OmniChatMessage) { "system", a->system };
  msgs[n++] = (OmniChatMessage) { "user", a->prompt };
  return omni_chat_build (msgs, n, TRUE, omni_chat_thinking_for (a->model, a->think));
}

/* Command-line values override the snapshot's generation_config.json. */
static void
fill_params (OmniGenParams *p, const GenArgs *a, const OmniModel *model)
{
  const OmniGenerationConfig *gen = omni_model_generation_config (model);

  omni_gen_params_init (p, model);
  if (gen->do_sample) {
    p->temperature = gen->temperature;
    p->top_k = gen->top_k;
    p->top_p = gen->top_p;
    p->repetition_penalty = gen->repetition_penalty;
    p->presence_penalty = gen->presence_penalty;
  }
  if (a->set.temperature)
    p->temperature = a->temperature;
  if (a->set.top_k)
    p->top_k = a->top_k;
  if (a->set.top_p)
    p->top_p = a->top_p;
  if (a->set.repetition_penalty)
    p->repetition_penalty = a->repetition_penalty;
  if (a->set.presence_penalty)
    p->presence_penalty = a->presence_penalty;
  if (a->max_tokens > 0)
    p->max_tokens = a->max_tokens;
  p->seed = (guint64) a->seed;
  p->thinking_budget = a->think ? a->thinking_budget : 0;
}

static gboolean
print_token (gint32 id, gpointer user_data)
{
  g_autofree char *text = omni_detokenizer_push (user_data, id);
  fputs (text, stdout);
  fflush (stdout);
  return !interrupted;
}

static int
run_generate (GenArgs *a)
{
  GError *error = NULL;
  g_autofree char *tok_json = g_build_filename (a->model, "tokenizer.json", NULL);
  g_autofree char *tok_cfg = g_build_filename (a->model, "tokenizer_config.json", NULL);
  OmniTokenizer *tok = omni_tokenizer_load (tok_json, g_file_test (tok_cfg, G_FILE_TEST_EXISTS)
                                            ? tok_cfg : NULL, &error);
  if (!tok)
    return omni_cli_fail (error);
  OmniBackend *backend = omni_backend_open_threads (a->device ? a->device : "auto",
                                                    a->load.threads, &error);
  OmniModel *model = backend && omni_backend_set_quant (backend, a->load.quant, &error)
                     ? omni_model_load (a->model, backend, &error) : NULL;
  g_autofree char *prompt = build_prompt (a);
  GArray *ids = g_array_new (FALSE, FALSE, sizeof (gint32));
  int status = 0;

  if (model && omni_tokenizer_encode (tok, prompt, -1, ids, &error)) {
    OmniGenParams params;
    OmniDetokenizer *detok = omni_detokenizer_new (tok, TRUE);
    fill_params (&params, a, model);
    signal (SIGINT, on_sigint);
    gboolean ok = omni_generate (model, (const gint32 *) ids->data, ids->len, &params,
                                 print_token, detok, NULL, NULL, &error);
    g_autofree char *rest = omni_detokenizer_flush (detok);
    printf ("%s\n", rest);
    omni_detokenizer_free (detok);
    if (!ok)
      status = omni_cli_fail (error);
  } else {
    status = omni_cli_fail (error);
  }
  g_array_free (ids, TRUE);
  g_clear_pointer (&model, omni_model_free);
  g_clear_pointer (&backend, omni_backend_close);
  omni_tokenizer_free (tok);
  return status;
}

int
omni_cli_generate (int argc, char **argv)
{
  GenArgs a = { .temperature = UNSET_DOUBLE, .top_k = UNSET_INT, .top_p = UNSET_DOUBLE,
                .repetition_penalty = UNSET_DOUBLE, .presence_penalty = UNSET_DOUBLE };
  GError *error = NULL;
  int status;

  if (parse_gen_args (&argc, &argv, &a, &error))
    status = run_generate (&a);
  else
    status = omni_cli_fail (error);
  g_free (a.model);
  g_free (a.prompt);
  g_free (a.system);
  g_free (a.device);
  omni_cli_load_args_clear (&a.load);
  return status;
}
