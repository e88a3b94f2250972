/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* omni random-model: a snapshot of a real config's shapes with deterministic
 * pseudo-random weights, so real model sizes can be run and measured without
 * downloading checkpoints. The tensor list follows what the loaders in nn/
 * bind for the config (decoder, audio tower, vision tower). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <glib/gstdio.h>
#include "omnicore.h"
#include "io/audio-config.h"
#include "io/config.h"
#include "io/vision-config.h"
#include "omni-cli.h"
#include "cli-bench.h"

/* The growing tensor list of a snapshot. */
typedef struct {
  GArray *t;   /* OmniCliTensor */
} TensorList;

static void
add (TensorList *l, OmniCliInit init, int n_dims, const int64_t *shape, const char *fmt, ...)
  G_GNUC_PRINTF (5, 6);

static void
add (TensorList *l, OmniCliInit init, int n_dims, const int64_t *shape, const char *fmt, ...)
{
  OmniCliTensor t = { 0 };
  va_list ap;

  va_start (ap, fmt);
  t.name = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  t.init = init;
  t.n_dims = n_dims;
  memcpy (t.shape, shape, sizeof (int64_t) * n_dims);
  g_array_append_val (l->t, t);
}

/* A linear layer's weight [d0, d1] and, if @bias, its zero bias [d0]. */
static void
add_linear (TensorList *l, const char *prefix, const char *name, int64_t d0, int64_t d1,
            gboolean bias)
{
  int64_t w[2] = { d0, d1 };

  add (l, OMNI_CLI_INIT_NORMAL, 2, w, "%s%s.weight", prefix, name);
  if (bias)
    add (l, OMNI_CLI_INIT_ZEROS, 1, w, "%s%s.bias", prefix, name);
}

/* A norm: weight 1 [d] and, if @bias (LayerNorm), bias 0 [d]. */
static void
add_norm (TensorList *l, const char *prefix, const char *name, int64_t d, gboolean bias)
{
  add (l, OMNI_CLI_INIT_ONES, 1, &d, "%s%s.weight", prefix, name);
  if (bias)
    add (l, OMNI_CLI_INIT_ZEROS, 1, &d, "%s%s.bias", prefix, name);
}

static void
add_decoder_layer (TensorList *l, const OmniTextConfig *c, int i)
{
  g_autofree char *p = g_strdup_printf ("%slayers.%d.", c->prefix, i);
  int64_t H = c->hidden_size, D = c->head_dim;
  int64_t nq = (int64_t) c->num_attention_heads * D, nkv = (int64_t) c->num_key_value_heads * D;

  add_norm (l, p, "input_layernorm", H, FALSE);
  add_linear (l, p, "self_attn.q_proj", nq, H, c->attention_bias);
  add_linear (l, p, "self_attn.k_proj", nkv, H, c->attention_bias);
  add_linear (l, p, "self_attn.v_proj", nkv, H, c->attention_bias);
  add_linear (l, p, "self_attn.o_proj", H, nq, c->attention_bias);
  add_norm (l, p, "self_attn.q_norm", D, FALSE);
  add_norm (l, p, "self_attn.k_norm", D, FALSE);
  add_norm (l, p, "post_attention_layernorm", H, FALSE);
  if (!c->is_moe_layer[i]) {
    add_linear (l, p, "mlp.gate_proj", c->intermediate_size, H, FALSE);
    add_linear (l, p, "mlp.up_proj", c->intermediate_size, H, FALSE);
    add_linear (l, p, "mlp.down_proj", H, c->intermediate_size, FALSE);
    return;
  }
  /* the Qwen3-MoE layout, one tensor per expert (the loader takes it for
   * every MoE model) */
  add_linear (l, p, "mlp.gate", c->num_experts, H, FALSE);
  for (int e = 0; e < c->num_experts; e++) {
    int64_t I = c->moe_intermediate_size, gu[2] = { I, H }, d[2] = { H, I };
    add (l, OMNI_CLI_INIT_NORMAL, 2, gu, "%smlp.experts.%d.gate_proj.weight", p, e);
    add (l, OMNI_CLI_INIT_NORMAL, 2, gu, "%smlp.experts.%d.up_proj.weight", p, e);
    add (l, OMNI_CLI_INIT_NORMAL, 2, d, "%smlp.experts.%d.down_proj.weight", p, e);
  }
}

static void
add_decoder (TensorList *l, const OmniTextConfig *c)
{
  int64_t vh[2] = { c->vocab_size, c->hidden_size };

  add (l, OMNI_CLI_INIT_NORMAL, 2, vh, "%sembed_tokens.weight", c->prefix);
  add_norm (l, c->prefix, "norm", c->hidden_size, FALSE);
  if (!c->tie_word_embeddings)
    add (l, OMNI_CLI_INIT_NORMAL, 2, vh, "%s", c->lm_head_name);
  for (int i = 0; i < c->num_hidden_layers; i++)
    add_decoder_layer (l, c, i);
}

static void
add_audio (TensorList *l, const OmniAudioConfig *c)
{
  const char *p = c->tower_prefix;
  int64_t C = c->downsample_hidden_size, d = c->d_model, F = c->encoder_ffn_dim;
  int freq = c->num_mel_bins;

  for (int i = 0; i < 3; i++) {
    int64_t w[4] = { C, i ? C : 1, 3, 3 };
    add (l, OMNI_CLI_INIT_NORMAL, 4, w, "%sconv2d%d.weight", p, i + 1);
    add (l, OMNI_CLI_INIT_ZEROS, 1, w, "%sconv2d%d.bias", p, i + 1);
    freq = (freq - 1) / 2 + 1;
  }
  add_linear (l, p, "conv_out", d, C * freq, FALSE);
  for (int i = 0; i < c->encoder_layers; i++) {
    g_autofree char *lp = g_strdup_printf ("%slayers.%d.", p, i);
    add_norm (l, lp, "self_attn_layer_norm", d, TRUE);
    add_linear (l, lp, "self_attn.q_proj", d, d, TRUE);
    add_linear (l, lp, "self_attn.k_proj", d, d, TRUE);
    add_linear (l, lp, "self_attn.v_proj", d, d, TRUE);
    add_linear (l, lp, "self_attn.out_proj", d, d, TRUE);
    add_norm (l, lp, "final_layer_norm", d, TRUE);
    add_linear (l, lp, "fc1", F, d, TRUE);
    add_linear (l, lp, "fc2", d, F, TRUE);
  }
  add_norm (l, p, "ln_post", d, TRUE);
  add_linear (l, "", c->proj1, d, d, TRUE);
  add_linear (l, "", c->proj2, c->output_dim, d, TRUE);
}

/* One merger: its norm spans a patch (final) or the merge block (DeepStack). */
static void
add_merger (TensorList *l, const OmniVisionConfig *c, const char *prefix, gboolean postshuffle)
{
  int64_t d = c->hidden_size, wide = d * c->spatial_merge_size * c->spatial_merge_size;

  add_norm (l, prefix, c->merger_norm, postshuffle ? wide : d, TRUE);
  add_linear (l, prefix, c->merger_fc1, wide, wide, TRUE);
  add_linear (l, prefix, c->merger_fc2, c->out_hidden_size, wide, TRUE);
}

static void
add_vision (TensorList *l, const OmniVisionConfig *c)
{
  const char *p = c->tower_prefix;
  int64_t d = c->hidden_size, F = c->intermediate_size;
  int64_t pw[5] = { d, c->in_channels, c->temporal_patch_size, c->patch_size, c->patch_size };
  int64_t pos[2] = { c->num_position_embeddings, d };

  add (l, OMNI_CLI_INIT_NORMAL, 5, pw, "%spatch_embed.proj.weight", p);
  add (l, OMNI_CLI_INIT_ZEROS, 1, pw, "%spatch_embed.proj.bias", p);
  add (l, OMNI_CLI_INIT_NORMAL, 2, pos, "%spos_embed.weight", p);
  for (int i = 0; i < c->depth; i++) {
    g_autofree char *bp = g_strdup_printf ("%sblocks.%d.", p, i);
    add_norm (l, bp, "norm1", d, TRUE);
    add_linear (l, bp, "attn.qkv", 3 * d, d, TRUE);
    add_linear (l, bp, "attn.proj", d, d, TRUE);
    add_norm (l, bp, "norm2", d, TRUE);
    add_linear (l, bp, "mlp.linear_fc1", F, d, TRUE);
    add_linear (l, bp, "mlp.linear_fc2", d, F, TRUE);
  }
  g_autofree char *final = g_strconcat (p, "merger.", NULL);
  add_merger (l, c, final, FALSE);
  for (int k = 0; k < c->n_deepstack; k++) {
    g_autofree char *mp = g_strdup_printf ("%s%s.%d.", p, c->deepstack_list, k);
    add_merger (l, c, mp, TRUE);
  }
}

static void
tensor_clear (gpointer p)
{
  g_free (((OmniCliTensor *) p)->name);
}

/* A tower's config load: 1 when the config has the tower, 0 when it has none
 * ("has no ... encoder"), -1 (+ @error) for a tower we cannot run. */
static int
tower_present (gboolean ok, GError *tmp, GError **error)
{
  if (ok)
    return 1;
  if (g_error_matches (tmp, OMNI_ERROR, OMNI_ERROR_UNSUPPORTED) && strstr (tmp->message, " has no ")) {
    g_error_free (tmp);
    return 0;
  }
  g_propagate_error (error, tmp);
  return -1;
}

GArray *
omni_cli_snapshot_tensors (const char *config, gboolean *has_audio, gboolean *has_vision,
                           GError **error)
{
  OmniTextConfig tc;
  OmniAudioConfig ac;
  OmniVisionConfig vc;
  GError *tmp = NULL;
  TensorList l = { g_array_new (FALSE, TRUE, sizeof (OmniCliTensor)) };
  int audio, vision;

  g_array_set_clear_func (l.t, tensor_clear);
  if (!omni_text_config_load (config, &tc, error))
    goto fail;
  add_decoder (&l, &tc);
  audio = omni_audio_config_load (config, &ac, &tmp);
  if ((audio = tower_present (audio, tmp, error)) < 0)
    goto fail;
  tmp = NULL;
  if (audio)
    add_audio (&l, &ac);
  vision = omni_vision_config_load (config, &vc, &tmp);
  if ((vision = tower_present (vision, tmp, error)) < 0)
    goto fail;
  if (vision)
    add_vision (&l, &vc);
  *has_audio = audio;
  *has_vision = vision;
  return l.t;
fail:
  g_array_free (l.t, TRUE);
  return NULL;
}

/* ---- writing ---- */

#define NORMAL_STD 0.02f
#define CHUNK 65536

static guint64
splitmix64 (guint64 *s)
{
  guint64 z = (*s += 0x9e3779b97f4a7c15ull);

  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

/* Each tensor's stream depends on the seed and its name only, so the
 * values do not change when other tensors come or go. */
static guint64
tensor_seed (guint64 seed, const char *name)
{
  guint64 h = 0xcbf29ce484222325ull;

  for (const char *c = name; *c; c++)
    h = (h ^ (guchar) *c) * 0x100000001b3ull;
  return seed ^ h;
}

/* @n values of @init: NORMAL is the sum of four uniform 16-bit lanes of one
 * draw (Irwin-Hall: close enough to normal, and cheap), scaled to std 0.02. */
static void
fill (float *x, size_t n, OmniCliInit init, guint64 *state)
{
  /* the lane sum has mean 4 * 32767.5 and std 65536 / sqrt (3) */
  const float scale = NORMAL_STD * 1.7320508f / 65536.0f;

  for (size_t i = 0; i < n; i++) {
    if (init != OMNI_CLI_INIT_NORMAL) {
      x[i] = init == OMNI_CLI_INIT_ONES ? 1.0f : 0.0f;
      continue;
    }
    guint64 r = splitmix64 (state);
    guint32 s = (guint32) (r & 0xffff) + (guint32) (r >> 16 & 0xffff) + (guint32) (r >> 32 & 0xffff)
                + (guint32) (r >> 48);
    x[i] = ((float) s - 131070.0f) * scale;
  }
}

static gint64
n_elements (const OmniCliTensor *t)
{
  gint64 n = 1;

  for (int i = 0; i < t->n_dims; i++)
    n *= t->shape[i];
  return n;
}

/* The safetensors header: JSON padded with spaces to a multiple of 8. */
static char *
header_json (const GArray *tensors, OmniDType dtype, gsize *len)
{
  GString *s = g_string_new ("{");
  size_t es = omni_dtype_size (dtype), at = 0;

  for (guint i = 0; i < tensors->len; i++) {
    const OmniCliTensor *t = &g_array_index (tensors, OmniCliTensor, i);
    size_t bytes = (size_t) n_elements (t) * es;
    g_string_append_printf (s, "%s\"%s\":{\"dtype\":\"%s\",\"shape\":[", i ? "," : "", t->name,
                            omni_dtype_name (dtype));
    for (int d = 0; d < t->n_dims; d++)
      g_string_append_printf (s, "%s%" G_GINT64_FORMAT, d ? "," : "", t->shape[d]);
    g_string_append_printf (s, "],\"data_offsets\":[%zu,%zu]}", at, at + bytes);
    at += bytes;
  }
  g_string_append_c (s, '}');
  while (s->len % 8)
    g_string_append_c (s, ' ');
  *len = s->len;
  return g_string_free (s, FALSE);
}

/* Streams tensor @t's values to @f in chunks (one chunk buffer, no copy of
 * the tensor). */
static gboolean
write_tensor (FILE *f, const OmniCliTensor *t, OmniDType dtype, guint64 seed, float *buf,
              guint16 *half)
{
  guint64 state = tensor_seed (seed, t->name);

  for (gint64 left = n_elements (t); left > 0; left -= CHUNK) {
    size_t n = (size_t) MIN (left, CHUNK);
    fill (buf, n, t->init, &state);
    if (dtype == OMNI_DTYPE_F32) {
      if (fwrite (buf, sizeof (float), n, f) != n)
        return FALSE;
      continue;
    }
    for (size_t i = 0; i < n; i++)
      half[i] = omni_f32_to_bf16 (buf[i]);
    if (fwrite (half, sizeof (guint16), n, f) != n)
      return FALSE;
  }
  return TRUE;
}

gboolean
omni_cli_write_safetensors (const char *path, const GArray *tensors, OmniDType dtype,
                            guint64 seed, GError **error)
{
  g_autofree char *tmp = g_strconcat (path, ".part", NULL);
  gsize hlen;
  g_autofree char *header = header_json (tensors, dtype, &hlen);
  g_autofree float *buf = g_new (float, CHUNK);
  g_autofree guint16 *half = g_new (guint16, CHUNK);
  FILE *f = g_fopen (tmp, "wb");
  guint64 len64 = GUINT64_TO_LE (hlen);
  gboolean ok;

  if (!f) {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_IO, "%s: %s", tmp, g_strerror (errno));
    return FALSE;
  }
  setvbuf (f, NULL, _IOFBF, 1 << 22);
  ok = fwrite (&len64, 8, 1, f) == 1 && fwrite (header, 1, hlen, f) == hlen;
  for (guint i = 0; ok && i < tensors->len; i++)
    ok = write_tensor (f, &g_array_index (tensors, OmniCliTensor, i), dtype, seed, buf, half);
  ok = (fclose (f) == 0) && ok;
  if (!ok || g_rename (tmp, path) != 0) {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_IO, "%s: %s", ok ? path : tmp, g_strerror (errno));
    g_unlink (tmp);
    return FALSE;
  }
  return TRUE;
}

/* ---- the snapshot's other files ---- */

/* The real models' preprocessor_config.json values: Qwen3-ASR's feature
 * extractor (transformers' Qwen3ASRFeatureExtractor), Qwen3-VL's image
 * processor, and both for Qwen3-Omni (its WhisperFeatureExtractor takes up
 * to 300 s). */
static const char asr_preprocessor[] =
  "{\n  \"chunk_length\": 30,\n  \"dither\": 0.0,\n"
  "  \"feature_extractor_type\": \"Qwen3ASRFeatureExtractor\",\n  \"feature_size\": 128,\n"
  "  \"hop_length\": 160,\n  \"min_length\": 8000,\n  \"n_fft\": 400,\n  \"n_samples\": 480000,\n"
  "  \"n_window\": 50,\n  \"nb_max_frames\": 3000,\n  \"padding_side\": \"right\",\n"
  "  \"padding_value\": 0.0,\n  \"return_attention_mask\": true,\n  \"sampling_rate\": 16000\n}\n";
static const char vl_preprocessor[] =
  "{\n  \"size\": {\"longest_edge\": 16777216, \"shortest_edge\": 65536},\n"
  "  \"patch_size\": 16,\n  \"temporal_patch_size\": 2,\n  \"merge_size\": 2,\n"
  "  \"image_mean\": [0.5, 0.5, 0.5],\n  \"image_std\": [0.5, 0.5, 0.5],\n"
  "  \"processor_class\": \"Qwen3VLProcessor\",\n"
  "  \"image_processor_type\": \"Qwen2VLImageProcessorFast\"\n}\n";
static const char omni_preprocessor[] =
  "{\n  \"chunk_length\": 300,\n  \"dither\": 0.0,\n"
  "  \"feature_extractor_type\": \"WhisperFeatureExtractor\",\n  \"feature_size\": 128,\n"
  "  \"hop_length\": 160,\n  \"n_fft\": 400,\n  \"n_samples\": 4800000,\n"
  "  \"nb_max_frames\": 30000,\n  \"padding_side\": \"right\",\n  \"padding_value\": 0.0,\n"
  "  \"return_attention_mask\": true,\n  \"sampling_rate\": 16000,\n"
  "  \"size\": {\"longest_edge\": 16777216, \"shortest_edge\": 65536},\n"
  "  \"patch_size\": 16,\n  \"temporal_patch_size\": 2,\n  \"merge_size\": 2,\n"
  "  \"image_mean\": [0.5, 0.5, 0.5],\n  \"image_std\": [0.5, 0.5, 0.5],\n"
  "  \"do_convert_rgb\": true,\n  \"do_normalize\": true,\n  \"do_rescale\": true,\n"
  "  \"do_resize\": true,\n  \"resample\": 3,\n  \"rescale_factor\": 0.00392156862745098,\n"
  "  \"processor_class\": \"Qwen3OmniMoeProcessor\",\n"
  "  \"image_processor_type\": \"Qwen2VLImageProcessorFast\"\n}\n";

static gboolean
copy_file (const char *from, const char *dir, const char *name, GError **error)
{
  g_autofree char *text = NULL;
  g_autofree char *to = g_build_filename (dir, name, NULL);
  gsize len;

  if (!g_file_get_contents (from, &text, &len, error))
    return FALSE;
  return g_file_set_contents (to, text, (gssize) len, error);
}

/* The tokenizer directory: @given, else $OMNI_SHARED_DIR/data/qwen3-tokenizer. */
static char *
find_tokenizer (const char *given, GError **error)
{
  const char *shared = g_getenv ("OMNI_SHARED_DIR");
  char *dir = given ? g_strdup (given)
                    : shared ? g_build_filename (shared, "data", "qwen3-tokenizer", NULL) : NULL;
  g_autofree char *json = dir ? g_build_filename (dir, "tokenizer.json", NULL) : NULL;

  if (json && g_file_test (json, G_FILE_TEST_IS_REGULAR))
    return dir;
  g_set_error (error, OMNI_ERROR, OMNI_ERROR_INVALID,
               "no tokenizer.json in %s; give --tokenizer DIR (a directory with tokenizer.json, "
               "e.g. a Qwen3 snapshot) or set OMNI_SHARED_DIR", dir ? dir : "(no --tokenizer given "
               "and OMNI_SHARED_DIR is not set)");
  g_free (dir);
  return NULL;
}

static gboolean
copy_tokenizer (const char *tok, const char *out, GError **error)
{
  static const char *const optional[] = { "tokenizer_config.json", "chat_template.jinja" };
  g_autofree char *json = g_build_filename (tok, "tokenizer.json", NULL);

  if (!copy_file (json, out, "tokenizer.json", error))
    return FALSE;
  for (gsize i = 0; i < G_N_ELEMENTS (optional); i++) {
    g_autofree char *p = g_build_filename (tok, optional[i], NULL);
    if (g_file_test (p, G_FILE_TEST_IS_REGULAR) && !copy_file (p, out, optional[i], error))
      return FALSE;
  }
  return TRUE;
}

static gboolean
write_preprocessor (const char *out, gboolean audio, gboolean vision, GError **error)
{
  g_autofree char *p = g_build_filename (out, "preprocessor_config.json", NULL);
  const char *text = audio && vision ? omni_preprocessor : audio ? asr_preprocessor : vl_preprocessor;

  if (!audio && !vision)
    return TRUE;
  return g_file_set_contents (p, text, -1, error);
}

gboolean
omni_cli_random_snapshot (const char *config, const char *out, const char *tokenizer,
                          OmniDType dtype, guint64 seed, GError **error)
{
  gboolean audio = FALSE, vision = FALSE, ok;
  g_autoptr (GArray) tensors = omni_cli_snapshot_tensors (config, &audio, &vision, error);
  g_autofree char *tok = tensors ? find_tokenizer (tokenizer, error) : NULL;
  g_autofree char *weights = g_build_filename (out, "model.safetensors", NULL);

  if (!tok)
    return FALSE;
  if (g_mkdir_with_parents (out, 0755) != 0) {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_IO, "%s: %s", out, g_strerror (errno));
    return FALSE;
  }
  ok = copy_file (config, out, "config.json", error) && copy_tokenizer (tok, out, error)
       && write_preprocessor (out, audio, vision, error)
       && omni_cli_write_safetensors (weights, tensors, dtype, seed, error);
  return ok;
}

/* ---- omni random-model ---- */

/* "bf16" or "f32" -> @dtype; else FALSE + GError naming @option. */
gboolean
omni_cli_parse_weight_dtype (const char *option, const char *s, OmniDType *dtype, GError **error)
{
  if (!s || g_ascii_strcasecmp (s, "bf16") == 0)
    *dtype = OMNI_DTYPE_BF16;
  else if (g_ascii_strcasecmp (s, "f32") == 0)
    *dtype = OMNI_DTYPE_F32;
  else {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_INVALID, "%s \"%s\": expected bf16 or f32", option, s);
    return FALSE;
  }
  return TRUE;
}

int
omni_cli_random_model (int argc, char **argv)
{
  g_autofree char *from = NULL, *out = NULL, *dtype_name = NULL, *tokenizer = NULL;
  gint64 seed = 0;
  GOptionEntry entries[] = {
    { "from", 0, 0, G_OPTION_ARG_FILENAME, &from, "A model's config.json (real shapes)", "CONFIG" },
    { "out", 'o', 0, G_OPTION_ARG_FILENAME, &out, "The snapshot directory to write", "DIR" },
    { "dtype", 0, 0, G_OPTION_ARG_STRING, &dtype_name, "Weights as bf16 (default) or f32", "T" },
    { "seed", 0, 0, G_OPTION_ARG_INT64, &seed, "Seed of the pseudo-random values (default 0)", "N" },
    { "tokenizer", 0, 0, G_OPTION_ARG_FILENAME, &tokenizer,
      "Where tokenizer.json (+ tokenizer_config.json) come from (default "
      "$OMNI_SHARED_DIR/data/qwen3-tokenizer)", "DIR" },
    { NULL }
  };
  g_autoptr (GOptionContext) ctx = g_option_context_new (NULL);
  GError *error = NULL;
  OmniDType dtype;
  gint64 t0 = g_get_monotonic_time ();

  g_option_context_set_summary (ctx, "Writes a snapshot with the shapes of CONFIG and "
                                "deterministic pseudo-random weights (std 0.02; norms 1, biases 0).");
  g_option_context_add_main_entries (ctx, entries, NULL);
  if (!g_option_context_parse (ctx, &argc, &argv, &error))
    return omni_cli_fail (error);
  if (!from || !out)
    return omni_cli_fail (g_error_new (OMNI_ERROR, OMNI_ERROR_INVALID,
                                       "--from CONFIG and --out DIR are required"));
  if (!omni_cli_parse_weight_dtype ("--dtype", dtype_name, &dtype, &error)
      || !omni_cli_random_snapshot (from, out, tokenizer, dtype, (guint64) seed, &error))
    return omni_cli_fail (error);
  fprintf (stderr, "omni: wrote %s in %.1f s\n", out, (g_get_monotonic_time () - t0) / 1e6);
  return 0;
}
