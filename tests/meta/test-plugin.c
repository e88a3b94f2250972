/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The "omni" plugin loads from the build tree and registers the meta. */
#include <gst/gst.h>

#include <string.h>

static gboolean
has_debug_category (const gchar *name)
{
  GSList *all = gst_debug_get_all_categories ();
  gboolean found = FALSE;

  for (GSList * l = all; l && !found; l = l->next)
    found = g_str_equal (gst_debug_category_get_name (l->data), name);
  g_slist_free (all);
  return found;
}

static void
test_plugin_loads (void)
{
  GstPlugin *plugin = gst_plugin_load_by_name ("omni");
  GList *features;

  g_assert_nonnull (plugin);
  g_assert_true (gst_plugin_is_loaded (plugin));
  g_assert_cmpstr (gst_plugin_get_name (plugin), ==, "omni");
  g_assert_cmpstr (gst_plugin_get_license (plugin), ==, "LGPL");
  g_assert_cmpstr (gst_plugin_get_source (plugin), ==, "gst-omni");
  g_assert_nonnull (strstr (gst_plugin_get_filename (plugin), "gst/omni"));

  /* Loading the plugin registered the meta (without this process asking). */
  g_assert_cmpuint (g_type_from_name ("GstOmniTextMetaAPI"), !=, 0);
  g_assert_nonnull (gst_meta_get_info ("GstOmniTextMeta"));
  g_assert_true (gst_meta_get_info ("GstOmniTextMeta")->api ==
      g_type_from_name ("GstOmniTextMetaAPI"));
  g_assert_true (has_debug_category ("omni"));

  /* Every feature is a real element; placeholder elements are forbidden.
   * Any element registered must be one of the three designed ones. */
  features = gst_registry_get_feature_list_by_plugin (gst_registry_get (),
      "omni");
  for (GList * l = features; l; l = l->next) {
    const gchar *name = gst_plugin_feature_get_name (l->data);

    g_test_message ("feature %s", name);
    g_assert_true (g_str_equal (name, "omnicaption")
        || g_str_equal (name, "omnitranslate") || g_str_equal (name, "omnivl"));
  }
  gst_plugin_feature_list_free (features);
  gst_object_unref (plugin);
}

int
main (int argc, char **argv)
{
  int ret;

  gst_init (&argc, &argv);
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/plugin/loads", test_plugin_loads);
  ret = g_test_run ();
  gst_deinit ();
  return ret;
}
