/* Snapshot directory discovery.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <string.h>
#include "omnicore.h"
#include "io/modeldir.h"
#include "io-test-util.h"

/* An embed_tokens of 3x3 FP8 ones (0x38) under @prefix, with 2x2-block scales. */
static void
write_weights (const char *dir, const char *prefix)
{
  char *header = g_strdup_printf (
      "{\"%sembed_tokens.weight_scale_inv\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]},"
      "\"%sembed_tokens.weight\":{\"dtype\":\"F8_E4M3\",\"shape\":[3,3],\"data_offsets\":[16,25]}}",
      prefix, prefix);
  guint8 data[25];
  const float scales[4] = { 1, 2, 3, 4 };
  memcpy (data, scales, 16);
  memset (data + 16, 0x38, 9);
  g_free (io_test_write_st (dir, "model.safetensors", header, data, sizeof data));
  g_free (header);
}

/* A tiny flat Qwen3-MoE config with FP8 blocks of 2x2. */
static void
write_config (const char *dir)
{
  g_free (io_test_write (dir, "config.json",
      "{\"architectures\":[\"Qwen3MoeForCausalLM\"],\"vocab_size\":3,"
      "\"hidden_size\":3,\"intermediate_size\":8,\"num_hidden_layers\":1,"
      "\"num_attention_heads\":1,\"num_key_value_heads\":1,\"head_dim\":2,"
      "\"moe_intermediate_size\":4,\"num_experts\":2,\"num_experts_per_tok\":1,"
      "\"quantization_config\":{\"quant_method\":\"fp8\",\"weight_block_size\":[2,2]}}", -1));
}

static void
test_missing (void)
{
  GError *error = NULL;
  char *dir = io_test_tmpdir ();
  g_assert_null (omni_model_dir_open (dir, &error));
  io_test_assert_error (&error, OMNI_ERROR_IO, "not a Hugging Face snapshot", "config.json, tokenizer.json, "
                        "model.safetensors (or model.safetensors.index.json)", NULL);
  write_config (dir);
  g_assert_null (omni_model_dir_open (dir, &error));
  io_test_assert_error (&error, OMNI_ERROR_IO, "missing tokenizer.json, model.safetensors", NULL);
  g_free (io_test_write (dir, "tokenizer.json", "{}", -1));
  g_assert_null (omni_model_dir_open (dir, &error));
  io_test_assert_error (&error, OMNI_ERROR_IO, "missing model.safetensors", "must contain", NULL);
  char *absent = g_build_filename (dir, "nope", NULL);
  g_assert_null (omni_model_dir_open (absent, &error));
  io_test_assert_error (&error, OMNI_ERROR_IO, "nope", "no such directory", NULL);
  g_free (absent);
  io_test_rmdir (dir);
}

static void
test_open (void)
{
  GError *error = NULL;
  char *dir = io_test_tmpdir ();
  write_config (dir);
  g_free (io_test_write (dir, "tokenizer.json", "{}", -1));
  write_weights (dir, "model.");
  OmniModelDir *md = omni_model_dir_open (dir, &error);
  g_assert_no_error (error);
  g_assert_nonnull (md);
  g_assert_true (g_str_has_suffix (md->config_path, "config.json"));
  g_assert_true (g_str_has_suffix (md->tokenizer_path, "tokenizer.json"));
  g_assert_null (md->tokenizer_config_path);
  g_assert_null (md->generation_config_path);
  g_assert_cmpfloat (md->generation.temperature, ==, 1.0);
  g_assert_cmpint (md->config.num_experts, ==, 2);
  g_assert_cmpstr (md->config.prefix, ==, "model.");
  /* the FP8 block size of the config reached the weights: 3x3 in 2x2 blocks */
  const OmniSafeTensor *t = omni_safetensors_get (md->weights, "model.embed_tokens.weight");
  float f[9];
  const float want[9] = { 1, 1, 2, 1, 1, 2, 3, 3, 4 };
  g_assert_true (omni_safetensors_to_f32 (md->weights, t, f, &error));
  g_assert_no_error (error);
  g_assert_cmpmem (f, sizeof f, want, sizeof want);
  omni_model_dir_free (md);

  g_free (io_test_write (dir, "tokenizer_config.json", "{}", -1));
  g_free (io_test_write (dir, "generation_config.json", "{\"eos_token_id\":[2,1],\"top_k\":20}", -1));
  md = omni_model_dir_open (dir, &error);
  g_assert_no_error (error);
  g_assert_nonnull (md->tokenizer_config_path);
  g_assert_nonnull (md->generation_config_path);
  g_assert_cmpint (md->generation.n_eos, ==, 2);
  g_assert_cmpint (md->generation.top_k, ==, 20);
  omni_model_dir_free (md);

  g_free (io_test_write (dir, "generation_config.json", "{\"top_k\":", -1));
  g_assert_null (omni_model_dir_open (dir, &error));
  io_test_assert_error (&error, OMNI_ERROR_FORMAT, "generation_config.json", NULL);
  io_test_rmdir (dir);
}

static void
test_prefix (void)
{
  GError *error = NULL;
  char *dir = io_test_tmpdir ();
  g_free (io_test_write (dir, "config.json",
      "{\"architectures\":[\"Qwen3OmniMoeForConditionalGeneration\"],\"thinker_config\":{"
      "\"text_config\":{\"vocab_size\":3,\"hidden_size\":3,\"num_hidden_layers\":1,"
      "\"num_attention_heads\":1,\"num_key_value_heads\":1,\"head_dim\":2,"
      "\"moe_intermediate_size\":4,\"num_experts\":2,\"num_experts_per_tok\":1}}}", -1));
  g_free (io_test_write (dir, "tokenizer.json", "{}", -1));
  write_weights (dir, "thinker.model.");
  OmniModelDir *md = omni_model_dir_open (dir, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (md->config.prefix, ==, "thinker.model.");
  g_assert_cmpstr (md->config.lm_head_name, ==, "thinker.lm_head.weight");
  omni_model_dir_free (md);
  /* the same thinker saved without its "thinker." wrapper */
  write_weights (dir, "model.");
  md = omni_model_dir_open (dir, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (md->config.prefix, ==, "model.");
  g_assert_cmpstr (md->config.lm_head_name, ==, "lm_head.weight");
  omni_model_dir_free (md);
  /* no embed_tokens anywhere */
  write_weights (dir, "decoder.");
  g_assert_null (omni_model_dir_open (dir, &error));
  io_test_assert_error (&error, OMNI_ERROR_FORMAT, "thinker.model.embed_tokens.weight", NULL);
  io_test_rmdir (dir);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/modeldir/missing", test_missing);
  g_test_add_func ("/modeldir/open", test_open);
  g_test_add_func ("/modeldir/prefix", test_prefix);
  return g_test_run ();
}
