/* config.json / generation_config.json parsing: real configs and bad values.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <math.h>
#include <string.h>
#include <json-glib/json-glib.h>
#include "omnicore.h"
#include "io/config.h"
#include "io-test-util.h"

static void
load_fixture (const char *name, OmniTextConfig *cfg)
{
  GError *error = NULL;
  char *rel = g_build_filename ("configs", name, NULL);
  char *path = io_test_srcpath (rel);
  g_assert_true (omni_text_config_load (path, cfg, &error));
  g_assert_no_error (error);
  g_free (rel);
  g_free (path);
}

static void
assert_all_moe (const OmniTextConfig *c, gboolean moe)
{
  for (int i = 0; i < c->num_hidden_layers; i++)
    g_assert_true (c->is_moe_layer[i] == moe);
}

static void
check_qwen3_06b (const OmniTextConfig *c)
{
  g_assert_cmpstr (c->architecture, ==, "Qwen3ForCausalLM");
  g_assert_cmpstr (c->model_type, ==, "qwen3");
  g_assert_cmpint (c->vocab_size, ==, 151936);
  g_assert_cmpint (c->hidden_size, ==, 1024);
  g_assert_cmpint (c->intermediate_size, ==, 3072);
  g_assert_cmpint (c->num_hidden_layers, ==, 28);
  g_assert_cmpint (c->num_attention_heads, ==, 16);
  g_assert_cmpint (c->num_key_value_heads, ==, 8);
  g_assert_cmpint (c->head_dim, ==, 128);
  g_assert_cmpfloat (c->rms_norm_eps, ==, 1e-6);
  g_assert_cmpfloat (c->rope_theta, ==, 1e6);
  g_assert_cmpint (c->max_position_embeddings, ==, 40960);
  g_assert_true (c->tie_word_embeddings);
  g_assert_false (c->attention_bias);
  g_assert_cmpint (c->rope_type, ==, OMNI_ROPE_DEFAULT);
  g_assert_cmpint (c->mrope_section[0] + c->mrope_section[1] + c->mrope_section[2], ==, 0);
  g_assert_false (c->mrope_interleaved);
  g_assert_cmpint (c->num_experts, ==, 0);
  assert_all_moe (c, FALSE);
  g_assert_cmpstr (c->prefix, ==, "model.");
  g_assert_cmpstr (c->lm_head_name, ==, "lm_head.weight");
  g_assert_cmpstr (c->quant_method, ==, "");
}

static void
test_qwen3_06b (void)
{
  OmniTextConfig c;
  load_fixture ("qwen3-0.6b.json", &c);
  check_qwen3_06b (&c);
  load_fixture ("qwen3-0.6b-legacy.json", &c);
  check_qwen3_06b (&c);
}

static void
test_qwen3_30b_a3b (void)
{
  OmniTextConfig c;
  load_fixture ("qwen3-30b-a3b.json", &c);
  g_assert_cmpstr (c.architecture, ==, "Qwen3MoeForCausalLM");
  g_assert_cmpstr (c.model_type, ==, "qwen3_moe");
  g_assert_cmpint (c.hidden_size, ==, 2048);
  g_assert_cmpint (c.num_hidden_layers, ==, 48);
  g_assert_cmpint (c.num_attention_heads, ==, 32);
  g_assert_cmpint (c.num_key_value_heads, ==, 4);
  g_assert_cmpint (c.head_dim, ==, 128);
  g_assert_cmpint (c.num_experts, ==, 128);     /* saved as num_local_experts */
  g_assert_cmpint (c.num_experts_per_tok, ==, 8);
  g_assert_cmpint (c.moe_intermediate_size, ==, 768);
  g_assert_true (c.norm_topk_prob);
  g_assert_cmpint (c.decoder_sparse_step, ==, 1);
  assert_all_moe (&c, TRUE);
  g_assert_false (c.tie_word_embeddings);
  g_assert_cmpfloat (c.rope_theta, ==, 1e6);
  g_assert_cmpstr (c.prefix, ==, "model.");
}

static void
check_vl_8b (const OmniTextConfig *c)
{
  g_assert_cmpstr (c->architecture, ==, "Qwen3VLForConditionalGeneration");
  g_assert_cmpstr (c->model_type, ==, "qwen3_vl_text");
  g_assert_cmpint (c->vocab_size, ==, 151936);
  g_assert_cmpint (c->hidden_size, ==, 4096);
  g_assert_cmpint (c->intermediate_size, ==, 12288);
  g_assert_cmpint (c->num_hidden_layers, ==, 36);
  g_assert_cmpint (c->num_key_value_heads, ==, 8);
  g_assert_cmpint (c->max_position_embeddings, ==, 262144);
  g_assert_cmpfloat (c->rope_theta, ==, 5e6);
  g_assert_cmpint (c->mrope_section[0], ==, 24);
  g_assert_cmpint (c->mrope_section[1], ==, 20);
  g_assert_cmpint (c->mrope_section[2], ==, 20);
  g_assert_true (c->mrope_interleaved);
  g_assert_false (c->tie_word_embeddings);
  assert_all_moe (c, FALSE);
  g_assert_cmpstr (c->prefix, ==, "model.language_model.");
  g_assert_cmpstr (c->lm_head_name, ==, "lm_head.weight");
}

static void
test_qwen3_vl_8b (void)
{
  OmniTextConfig c;
  load_fixture ("qwen3-vl-8b.json", &c);
  check_vl_8b (&c);
  load_fixture ("qwen3-vl-8b-legacy.json", &c);
  check_vl_8b (&c);
}

static void
test_qwen3_omni (void)
{
  OmniTextConfig c;
  load_fixture ("qwen3-omni-30b-a3b-captioner.json", &c);
  g_assert_cmpstr (c.architecture, ==, "Qwen3OmniMoeForConditionalGeneration");
  g_assert_cmpstr (c.model_type, ==, "qwen3_omni_moe_text");
  g_assert_cmpint (c.vocab_size, ==, 152064);
  g_assert_cmpint (c.hidden_size, ==, 2048);
  g_assert_cmpint (c.num_hidden_layers, ==, 48);
  g_assert_cmpint (c.num_attention_heads, ==, 32);
  g_assert_cmpint (c.num_key_value_heads, ==, 4);
  g_assert_cmpint (c.head_dim, ==, 128);
  g_assert_cmpint (c.num_experts, ==, 128);
  g_assert_cmpint (c.num_experts_per_tok, ==, 8);
  g_assert_cmpint (c.moe_intermediate_size, ==, 768);
  g_assert_true (c.norm_topk_prob);
  assert_all_moe (&c, TRUE);
  g_assert_cmpint (c.max_position_embeddings, ==, 65536);
  g_assert_cmpfloat (c.rope_theta, ==, 1e6);
  g_assert_cmpint (c.mrope_section[0], ==, 24);
  g_assert_true (c.mrope_interleaved);
  g_assert_false (c.tie_word_embeddings);
  g_assert_cmpstr (c.prefix, ==, "thinker.model.");
  g_assert_cmpstr (c.lm_head_name, ==, "thinker.lm_head.weight");
}

static void
test_yarn_fp8 (void)
{
  OmniTextConfig c;
  load_fixture ("qwen3-8b-yarn-legacy.json", &c);
  g_assert_cmpint (c.rope_type, ==, OMNI_ROPE_YARN);
  g_assert_cmpfloat (c.rope_factor, ==, 4.0);
  g_assert_cmpint (c.rope_original_max_pos, ==, 32768);
  g_assert_cmpfloat (c.yarn_beta_fast, ==, 32);
  g_assert_cmpfloat (c.yarn_beta_slow, ==, 1);
  g_assert_cmpfloat_with_epsilon (c.yarn_attention_factor, 0.1 * log (4.0) + 1.0, 1e-15);
  g_assert_true (c.yarn_truncate);
  g_assert_cmpfloat (c.rope_theta, ==, 1e6);
  g_assert_cmpstr (c.quant_method, ==, "fp8");
  g_assert_cmpint (c.fp8_block[0], ==, 128);
  g_assert_cmpint (c.fp8_block[1], ==, 128);
}

/* A small valid Qwen3-MoE config; each case below edits it. */
static const char base_moe[] =
  "{\"architectures\":[\"Qwen3MoeForCausalLM\"],\"model_type\":\"qwen3_moe\","
  "\"vocab_size\":1000,\"hidden_size\":64,\"intermediate_size\":128,\"num_hidden_layers\":4,"
  "\"num_attention_heads\":8,\"num_key_value_heads\":2,\"head_dim\":16,\"rms_norm_eps\":1e-6,"
  "\"max_position_embeddings\":4096,\"moe_intermediate_size\":32,\"num_experts\":8,"
  "\"num_experts_per_tok\":2,\"decoder_sparse_step\":1,\"mlp_only_layers\":[],"
  "\"hidden_act\":\"silu\",\"tie_word_embeddings\":false,"
  "\"rope_parameters\":{\"rope_type\":\"default\",\"rope_theta\":10000.0}}";

/* Sets @key (dotted path; "!" = remove) to the JSON @value in @root. */
static void
edit (JsonObject *root, const char *key, const char *value)
{
  char **parts = g_strsplit (key, ".", -1);
  JsonObject *o = root;
  int n = g_strv_length (parts);
  for (int i = 0; i < n - 1; i++) {
    if (!json_object_has_member (o, parts[i]))
      json_object_set_object_member (o, parts[i], json_object_new ());
    o = json_object_get_object_member (o, parts[i]);
  }
  if (value == NULL)
    json_object_remove_member (o, parts[n - 1]);
  else
    json_object_set_member (o, parts[n - 1], json_from_string (value, NULL));
  g_strfreev (parts);
}

/* The base config with up to two edits, written to @dir/config.json. */
static char *
write_edited (const char *dir, const char *base, const char *k1, const char *v1,
              const char *k2, const char *v2)
{
  JsonNode *root = json_from_string (base, NULL);
  g_assert_nonnull (root);
  if (k1)
    edit (json_node_get_object (root), k1, v1);
  if (k2)
    edit (json_node_get_object (root), k2, v2);
  char *text = json_to_string (root, FALSE);
  char *path = io_test_write (dir, "config.json", text, -1);
  g_free (text);
  json_node_unref (root);
  return path;
}

typedef struct {
  const char *k1, *v1, *k2, *v2;   /* v = NULL removes the key */
  int code;
  const char *msg1, *msg2;
} ConfigCase;

static const ConfigCase bad_configs[] = {
  { "hidden_size", "0", NULL, NULL, OMNI_ERROR_FORMAT, "\"hidden_size\"", "expected 1.." },
  { "hidden_size", "-5", NULL, NULL, OMNI_ERROR_FORMAT, "\"hidden_size\"", "-5" },
  { "hidden_size", "\"big\"", NULL, NULL, OMNI_ERROR_FORMAT, "\"hidden_size\"", "integer" },
  { "hidden_size", "64.5", NULL, NULL, OMNI_ERROR_FORMAT, "\"hidden_size\"", "integer" },
  { "vocab_size", NULL, NULL, NULL, OMNI_ERROR_FORMAT, "\"vocab_size\"", "missing" },
  { "vocab_size", "null", NULL, NULL, OMNI_ERROR_FORMAT, "\"vocab_size\"", "missing" },
  { "num_attention_heads", "0", NULL, NULL, OMNI_ERROR_FORMAT, "\"num_attention_heads\"", "0" },
  { "num_key_value_heads", "3", NULL, NULL, OMNI_ERROR_FORMAT, "\"num_key_value_heads\"", "divisor" },
  { "num_key_value_heads", "16", NULL, NULL, OMNI_ERROR_FORMAT, "\"num_key_value_heads\"", "divisor" },
  { "num_key_value_heads", "0", NULL, NULL, OMNI_ERROR_FORMAT, "\"num_key_value_heads\"", "divisor" },
  { "head_dim", NULL, "num_attention_heads", "6", OMNI_ERROR_FORMAT, "\"num_attention_heads\"",
    "does not divide hidden_size" },
  { "head_dim", "7", NULL, NULL, OMNI_ERROR_FORMAT, "\"head_dim\"", "even" },
  { "num_hidden_layers", "300", NULL, NULL, OMNI_ERROR_FORMAT, "\"num_hidden_layers\"", "1..256" },
  { "num_hidden_layers", "0", NULL, NULL, OMNI_ERROR_FORMAT, "\"num_hidden_layers\"", "1..256" },
  { "num_experts_per_tok", "9", NULL, NULL, OMNI_ERROR_FORMAT, "\"num_experts_per_tok\"", "<= num_experts = 8" },
  { "num_experts_per_tok", "0", NULL, NULL, OMNI_ERROR_FORMAT, "\"num_experts_per_tok\"", "0" },
  { "num_experts", "-1", NULL, NULL, OMNI_ERROR_FORMAT, "\"num_experts\"", "-1" },
  { "num_experts", NULL, NULL, NULL, OMNI_ERROR_FORMAT, "\"num_local_experts\"", "missing" },
  { "moe_intermediate_size", NULL, NULL, NULL, OMNI_ERROR_FORMAT, "\"moe_intermediate_size\"", "missing" },
  { "decoder_sparse_step", "0", NULL, NULL, OMNI_ERROR_FORMAT, "\"decoder_sparse_step\"", "0" },
  { "mlp_only_layers", "[4]", NULL, NULL, OMNI_ERROR_FORMAT, "\"mlp_only_layers\"", "0..3" },
  { "mlp_only_layers", "[-1]", NULL, NULL, OMNI_ERROR_FORMAT, "\"mlp_only_layers\"", "0..3" },
  { "mlp_only_layers", "\"0\"", NULL, NULL, OMNI_ERROR_FORMAT, "\"mlp_only_layers\"", "array" },
  { "mlp_only_layers", "[1]", "intermediate_size", "0", OMNI_ERROR_FORMAT, "\"intermediate_size\"",
    "dense MLP" },
  { "rms_norm_eps", "0", NULL, NULL, OMNI_ERROR_FORMAT, "\"rms_norm_eps\"", "> 0" },
  { "rms_norm_eps", "-1e-6", NULL, NULL, OMNI_ERROR_FORMAT, "\"rms_norm_eps\"", "> 0" },
  { "max_position_embeddings", "0", NULL, NULL, OMNI_ERROR_FORMAT, "\"max_position_embeddings\"", "0" },
  { "rope_parameters.rope_theta", "0", NULL, NULL, OMNI_ERROR_FORMAT,
    "\"rope_parameters.rope_theta\"", "> 0" },
  { "rope_parameters", NULL, "rope_theta", "-1", OMNI_ERROR_FORMAT, "\"rope_theta\"", "> 0" },
  { "rope_parameters.rope_type", "\"spiral\"", NULL, NULL, OMNI_ERROR_FORMAT,
    "\"rope_parameters.rope_type\"", "\"spiral\"" },
  { "rope_parameters.rope_type", "\"dynamic\"", "rope_parameters.factor", "2.0",
    OMNI_ERROR_UNSUPPORTED, "\"rope_parameters.rope_type\"", "\"dynamic\"" },
  { "rope_parameters.rope_type", "\"linear\"", NULL, NULL, OMNI_ERROR_FORMAT,
    "\"rope_parameters.factor\"", "missing" },
  { "rope_parameters.rope_type", "\"yarn\"", "rope_parameters.factor", "-2", OMNI_ERROR_FORMAT,
    "\"rope_parameters.factor\"", "> 0" },
  { "rope_scaling", "{\"rope_type\":\"yarn\",\"factor\":4,\"original_max_position_embeddings\":0}",
    NULL, NULL, OMNI_ERROR_FORMAT, "\"rope_scaling.original_max_position_embeddings\"", "1.." },
  { "rope_parameters.mrope_section", "[8,8,8]", NULL, NULL, OMNI_ERROR_FORMAT,
    "\"rope_parameters.mrope_section\"", "head_dim / 2 = 8" },
  { "rope_parameters.mrope_section", "[4,4]", NULL, NULL, OMNI_ERROR_FORMAT,
    "\"rope_parameters.mrope_section\"", "3 integers" },
  { "rope_parameters.partial_rotary_factor", "0.5", NULL, NULL, OMNI_ERROR_UNSUPPORTED,
    "partial_rotary_factor", "0.5" },
  { "hidden_act", "\"gelu\"", NULL, NULL, OMNI_ERROR_UNSUPPORTED, "\"hidden_act\"", "\"silu\"" },
  { "use_sliding_window", "true", NULL, NULL, OMNI_ERROR_UNSUPPORTED, "\"use_sliding_window\"", "false" },
  { "tie_word_embeddings", "\"yes\"", NULL, NULL, OMNI_ERROR_FORMAT, "\"tie_word_embeddings\"",
    "true or false" },
  { "quantization_config", "{\"quant_method\":\"awq\"}", NULL, NULL, OMNI_ERROR_UNSUPPORTED,
    "\"quantization_config.quant_method\"", "\"awq\"" },
  { "quantization_config", "{\"quant_method\":\"fp8\",\"weight_block_size\":[128]}", NULL, NULL,
    OMNI_ERROR_FORMAT, "\"quantization_config.weight_block_size\"", "two integers" },
  { "architectures", "[\"LlamaForCausalLM\"]", NULL, NULL, OMNI_ERROR_UNSUPPORTED,
    "\"LlamaForCausalLM\"", "Qwen3OmniMoeThinkerForConditionalGeneration" },
  { "architectures", "[]", NULL, NULL, OMNI_ERROR_FORMAT, "\"architectures\"", "non-empty" },
  { "architectures", NULL, "model_type", "\"llama\"", OMNI_ERROR_UNSUPPORTED, "\"llama\"",
    "Qwen3MoeForCausalLM" },
};

static void
test_bad_values (void)
{
  char *dir = io_test_tmpdir ();
  for (guint i = 0; i < G_N_ELEMENTS (bad_configs); i++) {
    const ConfigCase *c = &bad_configs[i];
    GError *error = NULL;
    OmniTextConfig cfg;
    g_test_message ("case %u: %s = %s", i, c->k1, c->v1 ? c->v1 : "(removed)");
    char *path = write_edited (dir, base_moe, c->k1, c->v1, c->k2, c->v2);
    g_assert_false (omni_text_config_load (path, &cfg, &error));
    io_test_assert_error (&error, c->code, "config.json", c->msg1, c->msg2, NULL);
    g_free (path);
  }
  io_test_rmdir (dir);
}

static void
load_edited (const char *dir, const char *k1, const char *v1, const char *k2, const char *v2,
             OmniTextConfig *cfg)
{
  GError *error = NULL;
  char *path = write_edited (dir, base_moe, k1, v1, k2, v2);
  g_assert_true (omni_text_config_load (path, cfg, &error));
  g_assert_no_error (error);
  g_free (path);
}

/* Defaults, aliases and the MoE layer pattern. */
static void
test_derived (void)
{
  char *dir = io_test_tmpdir ();
  OmniTextConfig c;

  load_edited (dir, "decoder_sparse_step", "2", "mlp_only_layers", "[3]", &c);
  g_assert_false (c.is_moe_layer[0]);
  g_assert_true (c.is_moe_layer[1]);
  g_assert_false (c.is_moe_layer[2]);
  g_assert_false (c.is_moe_layer[3]);
  /* absent keys take the Qwen3MoeConfig defaults; head_dim = hidden / heads */
  load_edited (dir, "head_dim", NULL, "rope_parameters", NULL, &c);
  g_assert_cmpint (c.head_dim, ==, 8);
  g_assert_cmpfloat (c.rope_theta, ==, 10000.0);
  g_assert_false (c.norm_topk_prob);
  load_edited (dir, "num_key_value_heads", "null", "max_position_embeddings", NULL, &c);
  g_assert_cmpint (c.num_key_value_heads, ==, 8);
  g_assert_cmpint (c.max_position_embeddings, ==, 32768);
  /* num_experts 0: every layer dense */
  load_edited (dir, "num_experts", "0", NULL, NULL, &c);
  assert_all_moe (&c, FALSE);
  /* the legacy keys: rope_scaling wins over rope_parameters; a theta inside wins */
  load_edited (dir, "rope_scaling", "{\"type\":\"linear\",\"factor\":2.0}", "rope_theta", "5e5", &c);
  g_assert_cmpint (c.rope_type, ==, OMNI_ROPE_LINEAR);
  g_assert_cmpfloat (c.rope_factor, ==, 2.0);
  g_assert_cmpfloat (c.rope_theta, ==, 5e5);
  load_edited (dir, "rope_parameters.rope_theta", "2e6", "rope_theta", "5e5", &c);
  g_assert_cmpfloat (c.rope_theta, ==, 2e6);
  /* YaRN: original max defaults to max_position_embeddings; explicit attention factor kept */
  load_edited (dir, "rope_parameters", "{\"rope_type\":\"yarn\",\"factor\":2.0,"
               "\"attention_factor\":1.5,\"beta_fast\":16,\"truncate\":false}", NULL, NULL, &c);
  g_assert_cmpint (c.rope_original_max_pos, ==, 4096);
  g_assert_cmpfloat (c.yarn_attention_factor, ==, 1.5);
  g_assert_cmpfloat (c.yarn_beta_fast, ==, 16);
  g_assert_false (c.yarn_truncate);
  /* a config class saved without "architectures" */
  load_edited (dir, "architectures", NULL, NULL, NULL, &c);
  g_assert_cmpstr (c.architecture, ==, "Qwen3MoeForCausalLM");
  io_test_rmdir (dir);
}

static void
test_nested (void)
{
  char *dir = io_test_tmpdir ();
  GError *error = NULL;
  OmniTextConfig c;
  char *inner = g_strdup (base_moe);
  char *wrapped = g_strdup_printf ("{\"architectures\":[\"Qwen3OmniMoeForConditionalGeneration\"],"
                                   "\"thinker_config\":{\"tie_word_embeddings\":true,"
                                   "\"text_config\":%s}}", inner);
  /* a bad value deep inside names the full key path */
  char *path = write_edited (dir, wrapped, "thinker_config.text_config.hidden_size", "0", NULL, NULL);
  g_assert_false (omni_text_config_load (path, &c, &error));
  io_test_assert_error (&error, OMNI_ERROR_FORMAT, "\"thinker_config.text_config.hidden_size\"", NULL);
  g_free (path);
  path = write_edited (dir, wrapped, "thinker_config.text_config", NULL, NULL, NULL);
  g_assert_false (omni_text_config_load (path, &c, &error));
  io_test_assert_error (&error, OMNI_ERROR_FORMAT, "\"thinker_config.text_config\"", "missing", NULL);
  g_free (path);
  /* tie comes from thinker_config, not from the text config */
  path = write_edited (dir, wrapped, NULL, NULL, NULL, NULL);
  g_assert_true (omni_text_config_load (path, &c, &error));
  g_assert_true (c.tie_word_embeddings);
  g_assert_true (c.norm_topk_prob);     /* Qwen3OmniMoeTextConfig default */
  g_free (path);
  /* thinker saved alone: tensors are model.* and lm_head.weight */
  path = write_edited (dir, wrapped, "architectures", "[\"Qwen3OmniMoeThinkerForConditionalGeneration\"]",
                       NULL, NULL);
  g_assert_false (omni_text_config_load (path, &c, &error));
  io_test_assert_error (&error, OMNI_ERROR_FORMAT, "\"text_config\"", "missing", NULL);
  g_free (path);
  g_free (wrapped);
  wrapped = g_strdup_printf ("{\"architectures\":[\"Qwen3OmniMoeThinkerForConditionalGeneration\"],"
                             "\"text_config\":%s}", inner);
  path = write_edited (dir, wrapped, NULL, NULL, NULL, NULL);
  g_assert_true (omni_text_config_load (path, &c, &error));
  g_assert_cmpstr (c.prefix, ==, "model.");
  g_assert_cmpstr (c.lm_head_name, ==, "lm_head.weight");
  g_free (path);
  g_free (wrapped);
  /* Qwen3-VL-MoE: renormalized top-k whatever the config says; top-level tie */
  wrapped = g_strdup_printf ("{\"architectures\":[\"Qwen3VLMoeForConditionalGeneration\"],"
                             "\"text_config\":%s}", inner);
  path = write_edited (dir, wrapped, "text_config.tie_word_embeddings", "true",
                       "text_config.norm_topk_prob", "false");
  g_assert_true (omni_text_config_load (path, &c, &error));
  g_assert_no_error (error);
  g_assert_true (c.norm_topk_prob);
  g_assert_false (c.tie_word_embeddings);
  g_assert_cmpstr (c.prefix, ==, "model.language_model.");
  g_free (path);
  g_free (wrapped);
  g_free (inner);
  io_test_rmdir (dir);
}

static void
test_bad_files (void)
{
  char *dir = io_test_tmpdir ();
  GError *error = NULL;
  OmniTextConfig c;
  OmniGenerationConfig g;
  char *path = io_test_write (dir, "config.json", "{\"architectures\": [", -1);
  g_assert_false (omni_text_config_load (path, &c, &error));
  io_test_assert_error (&error, OMNI_ERROR_FORMAT, "config.json", "invalid JSON", NULL);
  g_free (path);
  path = io_test_write (dir, "config.json", "[1]", -1);
  g_assert_false (omni_text_config_load (path, &c, &error));
  io_test_assert_error (&error, OMNI_ERROR_FORMAT, "config.json", "JSON object", NULL);
  g_free (path);
  path = io_test_write (dir, "config.json", "{\"hidden_size\": 1, \"hidden_size\": 2}", -1);
  g_assert_false (omni_text_config_load (path, &c, &error));
  io_test_assert_error (&error, OMNI_ERROR_FORMAT, "config.json", "\"hidden_size\"", "twice", NULL);
  g_free (path);
  path = g_build_filename (dir, "absent.json", NULL);
  g_assert_false (omni_text_config_load (path, &c, &error));
  io_test_assert_error (&error, OMNI_ERROR_IO, "absent.json", NULL);
  /* a missing generation_config.json is the defaults */
  g_assert_true (omni_generation_config_load (path, &g, &error));
  g_assert_no_error (error);
  g_assert_cmpint (g.n_eos, ==, 0);
  g_assert_cmpint (g.pad_id, ==, -1);
  g_assert_false (g.do_sample);
  g_assert_cmpfloat (g.temperature, ==, 1.0);
  g_assert_cmpint (g.top_k, ==, 0);
  g_assert_cmpfloat (g.top_p, ==, 1.0);
  g_assert_cmpfloat (g.repetition_penalty, ==, 1.0);
  g_assert_cmpfloat (g.presence_penalty, ==, 0.0);
  g_free (path);
  io_test_rmdir (dir);
}

static void
test_generation (void)
{
  char *dir = io_test_tmpdir ();
  GError *error = NULL;
  OmniGenerationConfig g;
  /* Qwen3-0.6B's generation_config.json */
  char *path = io_test_write (dir, "generation_config.json",
      "{\"bos_token_id\": 151643, \"do_sample\": true, \"eos_token_id\": [151645, 151643],"
      " \"pad_token_id\": 151643, \"temperature\": 0.6, \"top_k\": 20, \"top_p\": 0.95,"
      " \"transformers_version\": \"4.51.0\"}", -1);
  g_assert_true (omni_generation_config_load (path, &g, &error));
  g_assert_no_error (error);
  g_assert_cmpint (g.n_eos, ==, 2);
  g_assert_cmpint (g.eos_ids[0], ==, 151645);
  g_assert_cmpint (g.eos_ids[1], ==, 151643);
  g_assert_cmpint (g.pad_id, ==, 151643);
  g_assert_true (g.do_sample);
  g_assert_cmpfloat (g.temperature, ==, 0.6);
  g_assert_cmpint (g.top_k, ==, 20);
  g_assert_cmpfloat (g.top_p, ==, 0.95);
  g_assert_cmpfloat (g.repetition_penalty, ==, 1.0);
  g_free (path);
  path = io_test_write (dir, "generation_config.json",
      "{\"eos_token_id\": 151645, \"repetition_penalty\": 1.05, \"presence_penalty\": 1.5}", -1);
  g_assert_true (omni_generation_config_load (path, &g, &error));
  g_assert_cmpint (g.n_eos, ==, 1);
  g_assert_cmpint (g.eos_ids[0], ==, 151645);
  g_assert_cmpfloat (g.repetition_penalty, ==, 1.05);
  g_assert_cmpfloat (g.presence_penalty, ==, 1.5);
  g_free (path);

  static const struct { const char *json, *m1, *m2; } bad[] = {
    { "{\"eos_token_id\": \"x\"}", "\"eos_token_id\"", "token id" },
    { "{\"eos_token_id\": [1, -2]}", "\"eos_token_id\"", "token id" },
    { "{\"eos_token_id\": [1,2,3,4,5,6,7,8,9]}", "\"eos_token_id\"", "at most 8" },
    { "{\"pad_token_id\": 1.5}", "\"pad_token_id\"", "integer" },
    { "{\"do_sample\": 1}", "\"do_sample\"", "true or false" },
    { "{\"temperature\": -1}", "\"temperature\"", ">= 0" },
    { "{\"temperature\": \"hot\"}", "\"temperature\"", "number" },
    { "{\"top_k\": -1}", "\"top_k\"", "-1" },
    { "{\"top_p\": 0}", "\"top_p\"", "0 < top_p <= 1" },
    { "{\"top_p\": 1.5}", "\"top_p\"", "0 < top_p <= 1" },
    { "{\"repetition_penalty\": 0}", "\"repetition_penalty\"", "> 0" },
    { "{\"top_k\": 20", "generation_config.json", "invalid JSON" },
    { "7", "generation_config.json", "JSON object" },
  };
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++) {
    path = io_test_write (dir, "generation_config.json", bad[i].json, -1);
    g_assert_false (omni_generation_config_load (path, &g, &error));
    io_test_assert_error (&error, OMNI_ERROR_FORMAT, "generation_config.json", bad[i].m1, bad[i].m2, NULL);
    g_free (path);
  }
  io_test_rmdir (dir);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/config/qwen3-0.6b", test_qwen3_06b);
  g_test_add_func ("/config/qwen3-30b-a3b", test_qwen3_30b_a3b);
  g_test_add_func ("/config/qwen3-vl-8b", test_qwen3_vl_8b);
  g_test_add_func ("/config/qwen3-omni-30b-a3b", test_qwen3_omni);
  g_test_add_func ("/config/yarn-fp8", test_yarn_fp8);
  g_test_add_func ("/config/bad-values", test_bad_values);
  g_test_add_func ("/config/derived", test_derived);
  g_test_add_func ("/config/nested", test_nested);
  g_test_add_func ("/config/bad-files", test_bad_files);
  g_test_add_func ("/config/generation", test_generation);
  return g_test_run ();
}
