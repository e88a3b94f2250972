/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Golden test of the audio path against transformers (fixtures made by
 * make_audio_golden.py: a tiny Qwen3-Omni thinker and a tiny Qwen3-ASR, f32
 * weights): for every case, the prompt our builder and tokenizer make equals
 * the processor's ids; the WAV goes through audio/mel.c and the audio
 * encoder; its tokens replace the placeholders; the first logits (whole
 * vocabulary) and 32 greedy steps (ids, and logits on a vocabulary subset)
 * match. Runs on the cpu backend, or on the one named by --device=D.
 * Tolerance meaning: max_i |ours_i - ref_i| <= tol * max_i |ref_i|. */
#include <math.h>
#include <string.h>
#include <unistd.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include "omnicore.h"
#include "golden-util.h"
#include "audio/mel.h"
#include "audio/wav.h"
#include "io/safetensors.h"
#include "nn/audio-encoder.h"
#include "nn/qwen3.h"
#include "text/audio-prompt.h"
#include "text/tokenizer.h"

static const char *device = "cpu";

typedef struct {
  char *dir;
  JsonParser *parser;
  JsonObject *json;
  OmniSafetensors *ref;
  OmniBackend *backend;
  OmniModel *model;
  OmniAudioEncoder *enc;
  OmniMel *mel;
  OmniTokenizer *tok;
  OmniAudioModelKind kind;
  int vocab;
  double tol;
} Golden;

static char *
golden_path (const char *a, const char *b)
{
  return g_build_filename (g_getenv ("OMNI_TEST_SRCDIR"), "golden", a, b, NULL);
}

/* @file of the snapshot @dir. */
static char *
in_dir (const char *dir, const char *file)
{
  return g_build_filename (dir, file, NULL);
}

/* Opens the fixture in the snapshot directory @dir. */
static void
golden_open (Golden *g, const char *dir)
{
  g_autofree char *json = in_dir (dir, "golden.json");
  g_autofree char *st = in_dir (dir, "golden.safetensors");
  g_autofree char *pre = in_dir (dir, "preprocessor_config.json");
  g_autofree char *tj = in_dir (dir, "tokenizer.json");
  g_autofree char *tc = in_dir (dir, "tokenizer_config.json");
  OmniMelConfig mc;
  GError *error = NULL;

  g->dir = g_strdup (dir);
  g->parser = json_parser_new ();
  g_assert_true (json_parser_load_from_file (g->parser, json, &error));
  g->json = json_node_get_object (json_parser_get_root (g->parser));
  g->tol = json_object_get_double_member (g->json, "rel_tol");
  g_assert_cmpfloat (g->tol, ==, 1e-4);
  g->ref = omni_safetensors_open_file (st, &error);
  g_assert_no_error (error);
  g->backend = omni_backend_open (device, &error);
  g_assert_no_error (error);
  g->model = omni_model_load (g->dir, g->backend, &error);
  g_assert_no_error (error);
  g->enc = omni_audio_encoder_load (g->dir, g->backend, &error);
  g_assert_no_error (error);
  g_assert_true (omni_mel_config_load (pre, &mc, &error));
  g->mel = omni_mel_new (&mc, &error);
  g_assert_no_error (error);
  g->tok = omni_tokenizer_load (tj, tc, &error);
  g_assert_no_error (error);
  g->vocab = omni_model_config (g->model)->vocab_size;
  g->kind = g_str_has_prefix (omni_model_config (g->model)->architecture, "Qwen3ASR")
            ? OMNI_AUDIO_MODEL_ASR : OMNI_AUDIO_MODEL_OMNI;
}

static void
golden_close (Golden *g)
{
  omni_tokenizer_free (g->tok);
  omni_mel_free (g->mel);
  omni_audio_encoder_free (g->enc);
  omni_model_free (g->model);
  omni_backend_close (g->backend);
  omni_safetensors_free (g->ref);
  g_object_unref (g->parser);
  g_free (g->dir);
}

/* The audio tokens of @clip: WAV -> log-mel -> encoder, in a tensor the
 * caller owns (backend memory). */
static void
encode_clip (Golden *g, const char *clip, OmniTensor *features, int *n_tokens)
{
  g_autofree char *name = g_strconcat (clip, ".wav", NULL);
  g_autofree char *path = golden_path ("audio", name);
  OmniWavInfo info;
  GError *error = NULL;
  g_autofree float *pcm = omni_wav_read (path, &info, &error);
  g_assert_no_error (error);
  gsize frames = omni_mel_n_frames (g->mel, info.n_frames);
  g_autofree float *mel = g_new (float, frames * omni_mel_config (g->mel)->n_mels);
  g_assert_true (omni_mel_compute (g->mel, pcm, info.n_frames, mel, &error));
  const float *mels[1] = { mel };
  int nf = (int) frames;
  OmniTensor *out = NULL;
  g_assert_true (omni_audio_encoder_forward (g->enc, mels, &nf, 1, &out, &error));
  g_assert_no_error (error);
  *n_tokens = (int) out->shape[0];
  /* the encoder's output is reused by its next call: keep a copy */
  g_assert_true (g->backend->ops->tensor_alloc (g->backend, features, OMNI_DTYPE_F32, 2,
                                                out->shape, &error));
  g_autofree int32_t *rows = g_new (int32_t, *n_tokens);
  for (int i = 0; i < *n_tokens; i++)
    rows[i] = i;
  g->backend->ops->get_rows (g->backend, features, out, rows, *n_tokens);
}

/* Our prompt for case @c must be the processor's, id for id. */
static void
check_prompt (Golden *g, JsonObject *c, int n_tokens, const gint32 *want, gsize n_want)
{
  const char *lang = json_object_get_string_member_with_default (c, "language", NULL);
  const char *name = NULL;
  gboolean transcribe = g_str_equal (json_object_get_string_member (c, "task"), "transcribe");
  GError *error = NULL;

  if (lang)
    g_assert_true (omni_asr_language_lookup (lang, NULL, &name));
  g_autofree char *text = omni_audio_prompt_build (g->kind, transcribe, n_tokens, name,
                                                   json_object_get_string_member_with_default (c, "context", NULL));
  g_autoptr (GArray) ids = g_array_new (FALSE, FALSE, sizeof (gint32));
  g_assert_true (omni_tokenizer_encode (g->tok, text, -1, ids, &error));
  g_assert_cmpmem (ids->data, ids->len * sizeof (gint32), want, n_want * sizeof (gint32));
}

/* The placeholder rows of @prompt as one patch of @features. */
static int32_t *
placeholder_rows (Golden *g, const gint32 *prompt, gsize n, int n_tokens)
{
  int32_t audio_id = omni_audio_encoder_config (g->enc)->audio_token_id;
  int32_t *rows = g_new (int32_t, n_tokens);
  int k = 0;

  for (gsize i = 0; i < n; i++)
    if (prompt[i] == audio_id) {
      g_assert_cmpint (k, <, n_tokens);
      rows[k++] = (int32_t) i;
    }
  g_assert_cmpint (k, ==, n_tokens);
  return rows;
}

static void
run_case (Golden *g, JsonObject *c, const gint32 *subset, gsize n_subset)
{
  const char *name = json_object_get_string_member (c, "name");
  gsize n_prompt, n_greedy;
  g_autofree gint32 *prompt = golden_json_ids (c, "input_ids", &n_prompt);
  g_autofree gint32 *greedy = golden_json_ids (c, "greedy_ids", &n_greedy);
  OmniTensor features = { 0 };
  int n_tokens;

  encode_clip (g, json_object_get_string_member (c, "clip"), &features, &n_tokens);
  check_prompt (g, c, n_tokens, prompt, n_prompt);
  g_autofree int32_t *rows = placeholder_rows (g, prompt, n_prompt, n_tokens);
  OmniEmbedPatch patch = { .src = &features, .rows = rows, .n = n_tokens };
  g_autofree char *first_name = g_strconcat ("logits_first_", name, NULL);
  g_autofree char *steps_name = g_strconcat ("logits_steps_", name, NULL);
  g_autofree char *label = g_strdup_printf ("%s %s on %s", g->dir, name, device);
  GoldenRun run = { g->model, g->ref, g->dir, label, first_name, steps_name, subset, n_subset,
                    greedy, g->tol };
  golden_run_patched (&run, prompt, n_prompt, &patch, NULL, 0);
  g->backend->ops->tensor_free (g->backend, &features);
}

static void
test_model (gconstpointer data)
{
  Golden g = { 0 };
  g_autofree char *dir = golden_path (data, NULL);
  gsize n_subset;

  golden_open (&g, dir);
  g_autofree gint32 *subset = golden_json_ids (g.json, "subset_ids", &n_subset);
  JsonArray *cases = json_object_get_array_member (g.json, "cases");
  g_assert_cmpuint (json_array_get_length (cases), >=, 2);
  for (guint i = 0; i < json_array_get_length (cases); i++)
    run_case (&g, json_array_get_object_element (cases, i), subset, n_subset);
  golden_close (&g);
}

/* Writes a safetensors file of f32 zeros: @names[i] of 4 x 4. */
static void
write_zeros (const char *path, const char *const *names, int n)
{
  GString *h = g_string_new ("{");
  for (int i = 0; i < n; i++)
    g_string_append_printf (h, "%s\"%s\":{\"dtype\":\"F32\",\"shape\":[4,4],"
                            "\"data_offsets\":[%d,%d]}", i ? "," : "", names[i], i * 64,
                            (i + 1) * 64);
  g_string_append (h, "}");
  while (h->len % 8)   /* as safetensors writers pad: the data stays aligned */
    g_string_append_c (h, ' ');
  guint64 len = h->len;
  GString *file = g_string_new_len ((const char *) &len, 8);
  g_string_append_len (file, h->str, h->len);
  for (int i = 0; i < n * 64; i++)
    g_string_append_c (file, 0);
  g_assert_true (g_file_set_contents (path, file->str, file->len, NULL));
  g_string_free (file, TRUE);
  g_string_free (h, TRUE);
}

/* An Instruct snapshot also holds the talker and code2wav (speech output):
 * loading skips them, and the audio path gives the same answer. */
static void
test_instruct_layout (void)
{
  static const char *const extra[] = { "talker.model.layers.0.mlp.gate.weight",
                                       "talker.codec_head.weight",
                                       "code2wav.decoder.0.conv.weight" };
  g_autofree char *rel = golden_path ("qwen3-omni-thinker", NULL);
  g_autofree char *src = g_canonicalize_filename (rel, NULL);
  g_autofree char *tmp = g_dir_make_tmp ("omni-instruct-XXXXXX", NULL);
  g_autoptr (GDir) d = g_dir_open (src, 0, NULL);
  const char *name;
  GError *error = NULL;

  while ((name = g_dir_read_name (d))) {
    if (g_str_equal (name, "model.safetensors.index.json"))
      continue;
    g_autofree char *from = in_dir (src, name), *to = in_dir (tmp, name);
    g_assert_cmpint (symlink (from, to), ==, 0);
  }
  g_autofree char *talker = in_dir (tmp, "model-talker.safetensors");
  write_zeros (talker, extra, G_N_ELEMENTS (extra));
  g_autofree char *index_src = in_dir (src, "model.safetensors.index.json");
  g_autoptr (JsonParser) p = json_parser_new ();
  g_assert_true (json_parser_load_from_file (p, index_src, &error));
  JsonObject *map = json_object_get_object_member (json_node_get_object (json_parser_get_root (p)),
                                                   "weight_map");
  for (gsize i = 0; i < G_N_ELEMENTS (extra); i++)
    json_object_set_string_member (map, extra[i], "model-talker.safetensors");
  g_autofree char *index = in_dir (tmp, "model.safetensors.index.json");
  g_autoptr (JsonGenerator) gen = json_generator_new ();
  json_generator_set_root (gen, json_parser_get_root (p));
  g_assert_true (json_generator_to_file (gen, index, &error));

  Golden g = { 0 };
  gsize n_subset;
  golden_open (&g, tmp);
  g_autofree gint32 *subset = golden_json_ids (g.json, "subset_ids", &n_subset);
  run_case (&g, json_array_get_object_element (json_object_get_array_member (g.json, "cases"), 0),
            subset, n_subset);
  golden_close (&g);
  g_autoptr (GDir) t = g_dir_open (tmp, 0, NULL);
  while ((name = g_dir_read_name (t))) {
    g_autofree char *f = in_dir (tmp, name);
    g_unlink (f);
  }
  g_rmdir (tmp);
}

int
main (int argc, char **argv)
{
  /* --device=D is ours; everything else is GTest's */
  device = golden_parse_device (&argc, argv);
  g_test_init (&argc, &argv, NULL);
  g_test_add_data_func ("/golden-audio/qwen3-omni-thinker", "qwen3-omni-thinker", test_model);
  g_test_add_data_func ("/golden-audio/qwen3-asr", "qwen3-asr", test_model);
  g_test_add_func ("/golden-audio/instruct-layout", test_instruct_layout);
  return g_test_run ();
}
