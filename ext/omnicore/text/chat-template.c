/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What a snapshot's chat template supports, read from tokenizer_config.json. */
#include <json-glib/json-glib.h>
#include <string.h>
#include "text/chat.h"

gboolean
omni_chat_template_has_thinking (const char *model_dir)
{
  g_autofree char *path = g_build_filename (model_dir, "tokenizer_config.json", NULL);
  g_autoptr (JsonParser) parser = json_parser_new ();
  JsonNode *root, *tpl;

  if (!json_parser_load_from_mapped_file (parser, path, NULL))
    return FALSE;
  root = json_parser_get_root (parser);
  if (!root || !JSON_NODE_HOLDS_OBJECT (root))
    return FALSE;
  tpl = json_object_get_member (json_node_get_object (root), "chat_template");
  if (!tpl || !JSON_NODE_HOLDS_VALUE (tpl) || json_node_get_value_type (tpl) != G_TYPE_STRING)
    return FALSE;
  return strstr (json_node_get_string (tpl), "enable_thinking") != NULL;
}

OmniThinking
omni_chat_thinking_for (const char *model_dir, gboolean think)
{
  if (!omni_chat_template_has_thinking (model_dir))
    return OMNI_THINKING_NONE;
  return think ? OMNI_THINKING_ENABLED : OMNI_THINKING_DISABLED;
}
