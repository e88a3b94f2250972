/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "omnicore.h"
#include "io/modeldir.h"

void
omni_model_dir_free (OmniModelDir *md)
{
  if (md == NULL)
    return;
  omni_safetensors_free (md->weights);
  g_free (md->dir);
  g_free (md->config_path);
  g_free (md->tokenizer_path);
  g_free (md->tokenizer_config_path);
  g_free (md->generation_config_path);
  g_free (md);
}

static char *
file_if_exists (const char *dir, const char *name)
{
  char *p = g_build_filename (dir, name, NULL);
  if (g_file_test (p, G_FILE_TEST_IS_REGULAR))
    return p;
  g_free (p);
  return NULL;
}

/* The required files, or an error listing every one that is missing. */
static gboolean
check_files (OmniModelDir *md, GError **error)
{
  GString *missing = g_string_new (NULL);
  char *index = file_if_exists (md->dir, "model.safetensors.index.json");
  char *single = file_if_exists (md->dir, "model.safetensors");

  md->config_path = file_if_exists (md->dir, "config.json");
  md->tokenizer_path = file_if_exists (md->dir, "tokenizer.json");
  md->tokenizer_config_path = file_if_exists (md->dir, "tokenizer_config.json");
  md->generation_config_path = file_if_exists (md->dir, "generation_config.json");
  if (md->config_path == NULL)
    g_string_append (missing, ", config.json");
  if (md->tokenizer_path == NULL)
    g_string_append (missing, ", tokenizer.json");
  if (index == NULL && single == NULL)
    g_string_append (missing, ", model.safetensors (or model.safetensors.index.json)");
  if (missing->len)
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_IO,
                 "%s is not a Hugging Face snapshot directory: missing %s. A snapshot must "
                 "contain config.json, tokenizer.json and model.safetensors or "
                 "model.safetensors.index.json with its shards (tokenizer_config.json and "
                 "generation_config.json are optional)", md->dir, missing->str + 2);
  gboolean ok = missing->len == 0;
  g_string_free (missing, TRUE);
  g_free (index);
  g_free (single);
  return ok;
}

/* Points config.prefix / lm_head_name at the naming the checkpoint really
 * uses (a thinker saved alone drops "thinker.", for instance). */
static gboolean
resolve_prefix (OmniModelDir *md, GError **error)
{
  static const char *const prefixes[] = { NULL, "model.", "model.language_model.",
                                          "thinker.model.", "thinker.model.language_model." };
  OmniTextConfig *cfg = &md->config;
  for (guint i = 0; i < G_N_ELEMENTS (prefixes); i++) {
    const char *p = prefixes[i] ? prefixes[i] : cfg->prefix;
    char *name = g_strconcat (p, "embed_tokens.weight", NULL);
    gboolean found = omni_safetensors_get (md->weights, name) != NULL;
    g_free (name);
    if (!found)
      continue;
    if (p != cfg->prefix) {
      g_strlcpy (cfg->prefix, p, sizeof cfg->prefix);
      g_strlcpy (cfg->lm_head_name, g_str_has_prefix (p, "thinker.") ? "thinker.lm_head.weight"
                 : "lm_head.weight", sizeof cfg->lm_head_name);
    }
    return TRUE;
  }
  g_set_error (error, OMNI_ERROR, OMNI_ERROR_FORMAT,
               "%s: no \"%sembed_tokens.weight\" (nor under model., model.language_model. or "
               "thinker.model.) in the safetensors of a %s", md->dir, cfg->prefix, cfg->architecture);
  return FALSE;
}

OmniModelDir *
omni_model_dir_open (const char *dir, GError **error)
{
  OmniModelDir *md = g_new0 (OmniModelDir, 1);
  md->dir = g_strdup (dir);

  if (!g_file_test (dir, G_FILE_TEST_IS_DIR)) {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_IO, "%s: no such directory", dir);
    goto fail;
  }
  if (!check_files (md, error)
      || !omni_text_config_load (md->config_path, &md->config, error))
    goto fail;
  /* an absent generation_config.json yields the defaults */
  char *gen_path = g_build_filename (dir, "generation_config.json", NULL);
  gboolean gen_ok = omni_generation_config_load (gen_path, &md->generation, error);
  g_free (gen_path);
  if (!gen_ok)
    goto fail;
  md->weights = omni_safetensors_open_dir (dir, error);
  if (md->weights == NULL)
    goto fail;
  omni_safetensors_set_fp8_block (md->weights, md->config.fp8_block[0], md->config.fp8_block[1]);
  if (!resolve_prefix (md, error))
    goto fail;
  return md;
fail:
  omni_model_dir_free (md);
  return NULL;
}
