/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * omnitranslate: each input text buffer is one segment; each result pad
 * (src, src_0, src_1, ...) gets it translated into its language, with the
 * PTS and duration of the input. Timing, queues and the engine are
 * GstOmniBase's; this file turns text into translation requests.
 *
 * Pango markup: tags that open or close the whole segment (e.g. <i>...</i>)
 * are kept around the translation; the text between them is translated
 * without its inner tags and escaped again.
 */
#include "gstomnitranslate.h"

#include <stdio.h>
#include <string.h>

GST_DEBUG_CATEGORY_STATIC (gst_omni_translate_debug);
#define GST_CAT_DEFAULT gst_omni_translate_debug

#define DEFAULT_SOURCE_LANGUAGE "auto"
#define DEFAULT_TARGET_LANGUAGE "en"
#define DEFAULT_CONTEXT_SEGMENTS 0
#define MAX_CONTEXT_SEGMENTS 32

enum {
  PROP_0,
  PROP_SOURCE_LANGUAGE,
  PROP_TARGET_LANGUAGE,
  PROP_GLOSSARY,
  PROP_DOMAIN,
  PROP_MEMORY,
  PROP_CONTEXT_SEGMENTS,
};

enum {
  PAD_PROP_0,
  PAD_PROP_LANGUAGE_CODE,
};

struct _GstOmniTranslatePad {
  GstOmniBaseSrcPad parent;

  gchar *language_code;   /* object lock */
  GQueue context;         /* OmniTextPair (owned strings), element's lock */
};

struct _GstOmniTranslate {
  GstOmniBase parent;

  /* properties, object lock */
  gchar *source_language;
  gchar *target_language;
  gchar *glossary;
  gchar *domain;
  gchar *memory;
  guint context_segments;

  /* from start to stop; terms/memory read-only while running */
  GMutex lock;             /* the pads' contexts */
  gchar *source_code;      /* NULL: auto */
  GArray *terms;           /* OmniTextPair, owned strings */
  GArray *examples;
  guint next_pad;
};

G_DEFINE_TYPE (GstOmniTranslatePad, gst_omni_translate_pad,
    GST_TYPE_OMNI_BASE_SRC_PAD);
G_DEFINE_TYPE (GstOmniTranslate, gst_omni_translate, GST_TYPE_OMNI_BASE);

#define TEXT_CAPS "text/x-raw, format = (string) { utf8, pango-markup }"

static GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE ("sink",
    GST_PAD_SINK, GST_PAD_ALWAYS, GST_STATIC_CAPS (TEXT_CAPS));
static GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE ("src",
    GST_PAD_SRC, GST_PAD_ALWAYS, GST_STATIC_CAPS (TEXT_CAPS));
static GstStaticPadTemplate src_request_template =
GST_STATIC_PAD_TEMPLATE ("src_%u", GST_PAD_SRC, GST_PAD_REQUEST,
    GST_STATIC_CAPS (TEXT_CAPS));

/* ------------------------------------------------------------ text pairs */

static void
pair_clear (gpointer data)
{
  OmniTextPair *pair = data;

  g_free ((gchar *) pair->source);
  g_free ((gchar *) pair->target);
}

static GArray *
pairs_new (void)
{
  GArray *pairs = g_array_new (FALSE, FALSE, sizeof (OmniTextPair));

  g_array_set_clear_func (pairs, pair_clear);
  return pairs;
}

static void
pairs_add (GArray *pairs, const gchar *source, const gchar *target)
{
  OmniTextPair pair = { g_strstrip (g_strdup (source)),
    g_strstrip (g_strdup (target))
  };

  g_array_append_val (pairs, pair);
}

/* Reads "source<TAB>target" lines; '#' starts a comment line. */
static gboolean
pairs_load_tsv (GArray *pairs, const gchar *what, const gchar *path,
    GError **error)
{
  gchar *contents = NULL, **lines;
  GError *err = NULL;
  gboolean ok = TRUE;

  if (!g_file_get_contents (path, &contents, NULL, &err)) {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_IO,
        "Cannot read the %s file \"%s\": %s", what, path, err->message);
    g_error_free (err);
    return FALSE;
  }
  if (!g_utf8_validate (contents, -1, NULL)) {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_FORMAT,
        "The %s file \"%s\" is not UTF-8 text", what, path);
    g_free (contents);
    return FALSE;
  }
  lines = g_strsplit (contents, "\n", -1);
  for (guint i = 0; ok && lines[i]; i++) {
    gchar *line = g_strchomp (lines[i]), **cols;
    const gchar *first = line + strspn (line, " \t");

    if (!*first || *first == '#')
      continue;
    cols = g_strsplit (line, "\t", -1);
    if (g_strv_length (cols) != 2 || !*g_strstrip (cols[0])
        || !*g_strstrip (cols[1])) {
      g_set_error (error, OMNI_ERROR, OMNI_ERROR_FORMAT,
          "Bad line %u in the %s file \"%s\": expected \"source<TAB>target\" "
          "(two non-empty columns separated by one tab), got \"%s\"", i + 1,
          what, path, line);
      ok = FALSE;
    } else {
      pairs_add (pairs, cols[0], cols[1]);
    }
    g_strfreev (cols);
  }
  g_strfreev (lines);
  g_free (contents);
  return ok;
}

/* Reads "source=target;source=target". */
static gboolean
pairs_parse_inline (GArray *pairs, const gchar *value, GError **error)
{
  gchar **entries = g_strsplit (value, ";", -1);
  gboolean ok = TRUE;

  for (guint i = 0; ok && entries[i]; i++) {
    gchar *entry = g_strstrip (entries[i]), *eq;

    if (!*entry)
      continue;
    eq = strchr (entry, '=');
    if (eq)
      *eq = '\0';
    if (!eq || !*g_strstrip (entry) || !*g_strstrip (eq + 1)) {
      if (eq)
        *eq = '=';
      g_set_error (error, OMNI_ERROR, OMNI_ERROR_FORMAT,
          "Glossary entry %u \"%s\": expected source=target (entries "
          "separated by ';'), or give the path of a TSV file", i + 1, entry);
      ok = FALSE;
    } else {
      pairs_add (pairs, entry, eq + 1);
    }
  }
  g_strfreev (entries);
  return ok;
}

/* ---------------------------------------------------------------- markup */

/* Pango markup to plain text: tags dropped, entities decoded. */
static gchar *
markup_to_plain (const gchar *s, gsize len)
{
  static const struct {
    const gchar *name;
    const gchar *text;
  } entities[] = {
    {"amp;", "&"}, {"lt;", "<"}, {"gt;", ">"}, {"quot;", "\""}, {"apos;", "'"},
  };
  GString *out = g_string_sized_new (len);
  const gchar *end = s + len;

  while (s < end) {
    if (*s == '<') {
      const gchar *close = memchr (s, '>', end - s);

      if (close) {
        s = close + 1;
        continue;
      }
    } else if (*s == '&') {
      gboolean matched = FALSE;

      for (guint i = 0; i < G_N_ELEMENTS (entities) && !matched; i++) {
        gsize n = strlen (entities[i].name);

        if ((gsize) (end - s - 1) >= n && !strncmp (s + 1, entities[i].name, n)) {
          g_string_append (out, entities[i].text);
          s += n + 1;
          matched = TRUE;
        }
      }
      if (!matched && s + 2 < end && s[1] == '#') {
        gboolean hex = s[2] == 'x' || s[2] == 'X';
        gchar *stop;
        guint64 c = g_ascii_strtoull (s + (hex ? 3 : 2), &stop, hex ? 16 : 10);

        if (stop < end && *stop == ';' && stop > s + (hex ? 3 : 2)
            && g_unichar_validate ((gunichar) c) && c != 0) {
          g_string_append_unichar (out, (gunichar) c);
          s = stop + 1;
          matched = TRUE;
        }
      }
      if (matched)
        continue;
    }
    g_string_append_c (out, *s++);
  }
  return g_string_free (out, FALSE);
}

/* The tags around a pango-markup segment and its plain text. */
typedef struct {
  gchar *prefix;
  gchar *suffix;
} MarkupFrame;

static void
markup_frame_free (gpointer data)
{
  MarkupFrame *frame = data;

  g_free (frame->prefix);
  g_free (frame->suffix);
  g_free (frame);
}

static gchar *
markup_split (const gchar *text, MarkupFrame **frame)
{
  const gchar *start = text, *end = text + strlen (text);

  while (*start == '<') {
    const gchar *close = strchr (start, '>');

    if (!close)
      break;
    start = close + 1;
  }
  while (end > start && end[-1] == '>') {
    const gchar *open = g_strrstr_len (start, end - start, "<");

    if (!open)
      break;
    end = open;
  }
  *frame = g_new0 (MarkupFrame, 1);
  (*frame)->prefix = g_strndup (text, start - text);
  (*frame)->suffix = g_strdup (end);
  return markup_to_plain (start, end - start);
}

/* ----------------------------------------------------------- the element */

static gchar *
pad_language (GstOmniTranslate *self, GstOmniBaseSrcPad *base_pad)
{
  GstOmniTranslatePad *pad = GST_OMNI_TRANSLATE_PAD (base_pad);
  gchar *lang;

  GST_OBJECT_LOCK (pad);
  lang = g_strdup (pad->language_code);
  GST_OBJECT_UNLOCK (pad);
  if (lang && *lang)
    return lang;
  g_free (lang);
  if (!g_str_equal (GST_PAD_NAME (pad), "src"))
    return NULL;
  GST_OBJECT_LOCK (self);
  lang = g_strdup (self->target_language);
  GST_OBJECT_UNLOCK (self);
  return lang;
}

/* The canonical code of @pad's language; a user-facing error if unknown. */
static const gchar *
pad_language_code (GstOmniTranslate *self, GstOmniBaseSrcPad *pad,
    GError **error)
{
  gchar *lang = pad_language (self, pad);
  const char *code = NULL;

  if (!lang) {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_INVALID,
        "Pad %s has no language: set its language-code property (e.g. "
        "%s::language-code=de)", GST_PAD_NAME (pad), GST_PAD_NAME (pad));
    return NULL;
  }
  if (!omni_language_lookup (lang, &code, NULL)) {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_INVALID,
        "Unknown %s \"%s\" on pad %s: use a BCP-47 code (e.g. \"de\", "
        "\"zh-Hant\") or an English name (e.g. \"German\"); the list is in "
        "docs/omnitranslate.md",
        g_str_equal (GST_PAD_NAME (pad), "src") && !GST_OMNI_TRANSLATE_PAD
        (pad)->language_code ? "target-language" : "language-code", lang,
        GST_PAD_NAME (pad));
  }
  g_free (lang);
  return code;
}

static gboolean
gst_omni_translate_start (GstOmniBase *base, GError **error)
{
  GstOmniTranslate *self = GST_OMNI_TRANSLATE (base);
  gchar *source, *glossary, *memory;
  const char *code = NULL;
  gboolean ok = TRUE;
  GList *pads;

  GST_OBJECT_LOCK (self);
  source = g_strdup (self->source_language);
  glossary = g_strdup (self->glossary);
  memory = g_strdup (self->memory);
  GST_OBJECT_UNLOCK (self);

  g_clear_pointer (&self->source_code, g_free);
  if (source && *source && g_ascii_strcasecmp (source, "auto") != 0) {
    if (!omni_language_lookup (source, &code, NULL)) {
      g_set_error (error, OMNI_ERROR, OMNI_ERROR_INVALID,
          "Unknown source-language \"%s\": use \"auto\", a BCP-47 code "
          "(e.g. \"de\") or an English name (e.g. \"German\"); the list is "
          "in docs/omnitranslate.md", source);
      ok = FALSE;
    }
    self->source_code = g_strdup (code);
  }

  pads = gst_omni_base_get_src_pads (base);
  for (GList * l = pads; ok && l; l = l->next)
    ok = pad_language_code (self, l->data, error) != NULL;
  g_list_free_full (pads, gst_object_unref);

  self->terms = pairs_new ();
  self->examples = pairs_new ();
  if (ok && glossary && *glossary) {
    if (g_file_test (glossary, G_FILE_TEST_EXISTS) || !strchr (glossary, '='))
      ok = pairs_load_tsv (self->terms, "glossary", glossary, error);
    else
      ok = pairs_parse_inline (self->terms, glossary, error);
  }
  if (ok && memory && *memory)
    ok = pairs_load_tsv (self->examples, "memory", memory, error);
  GST_INFO_OBJECT (self, "%u glossary terms, %u memory examples",
      self->terms->len, self->examples->len);

  g_free (source);
  g_free (glossary);
  g_free (memory);
  return ok;
}

static void
gst_omni_translate_stop (GstOmniBase *base)
{
  GstOmniTranslate *self = GST_OMNI_TRANSLATE (base);
  GList *pads = gst_omni_base_get_src_pads (base);

  g_mutex_lock (&self->lock);
  for (GList * l = pads; l; l = l->next) {
    GstOmniTranslatePad *pad = l->data;
    OmniTextPair *pair;

    while ((pair = g_queue_pop_head (&pad->context))) {
      pair_clear (pair);
      g_free (pair);
    }
  }
  g_mutex_unlock (&self->lock);
  g_list_free_full (pads, gst_object_unref);
  g_clear_pointer (&self->terms, g_array_unref);
  g_clear_pointer (&self->examples, g_array_unref);
  g_clear_pointer (&self->source_code, g_free);
}

static GstCaps *
gst_omni_translate_src_caps (GstOmniBase *base, GstOmniBaseSrcPad *pad,
    GstCaps *sink_caps)
{
  const gchar *format = NULL;

  if (gst_caps_is_fixed (sink_caps))
    format = gst_structure_get_string (gst_caps_get_structure (sink_caps, 0),
        "format");
  return gst_caps_new_simple ("text/x-raw", "format", G_TYPE_STRING,
      format ? format : "utf8", NULL);
}

static GstTagList *
gst_omni_translate_src_tags (GstOmniBase *base, GstOmniBaseSrcPad *pad)
{
  const gchar *code = pad_language_code (GST_OMNI_TRANSLATE (base), pad, NULL);

  return code ? gst_tag_list_new (GST_TAG_LANGUAGE_CODE, code, NULL) : NULL;
}

static gboolean
input_is_markup (GstOmniBase *base)
{
  GstPad *sinkpad = gst_element_get_static_pad (GST_ELEMENT (base), "sink");
  GstCaps *caps = gst_pad_get_current_caps (sinkpad);
  gboolean markup = FALSE;

  if (caps)
    markup = !g_strcmp0 (gst_structure_get_string (gst_caps_get_structure
            (caps, 0), "format"), "pango-markup");
  gst_clear_caps (&caps);
  gst_object_unref (sinkpad);
  return markup;
}

/* The last context-segments pairs of @pad, oldest first (borrowed from
 * the queue: call with self->lock held). */
static OmniTextPair *
pad_context (GstOmniTranslatePad *pad, guint *n)
{
  OmniTextPair *ctx = g_new0 (OmniTextPair, pad->context.length + 1);
  guint i = 0;

  for (GList * l = pad->context.head; l; l = l->next)
    ctx[i++] = *(OmniTextPair *) l->data;
  *n = i;
  return ctx;
}

static gboolean
submit_pad (GstOmniTranslate *self, GstOmniBaseSrcPad *pad,
    const GstOmniBaseSegmentInfo *info, const gchar *plain,
    const MarkupFrame *frame, GError **error)
{
  GstOmniBase *base = GST_OMNI_BASE (self);
  const gchar *code = pad_language_code (self, pad, error);
  OmniTranslateSpec spec = { 0 };
  MarkupFrame *copy = NULL;
  OmniRequest *req = NULL;
  OmniTextPair *ctx;
  guint n_ctx;
  gchar *domain;

  if (!code)
    return FALSE;
  if (frame) {
    copy = g_new0 (MarkupFrame, 1);
    copy->prefix = g_strdup (frame->prefix);
    copy->suffix = g_strdup (frame->suffix);
  }
  /* Nothing to translate: the segment stays (empty), in order. */
  if (!*plain)
    return gst_omni_base_submit (base, pad, info, NULL, "", plain, code,
        self->source_code, copy, copy ? markup_frame_free : NULL, error);

  GST_OBJECT_LOCK (self);
  domain = g_strdup (self->domain);
  GST_OBJECT_UNLOCK (self);
  spec.text = plain;
  spec.source_language = self->source_code;
  spec.target_language = code;
  spec.domain = domain && *domain ? domain : NULL;
  spec.terms = (const OmniTextPair *) self->terms->data;
  spec.n_terms = self->terms->len;
  spec.memory = (const OmniTextPair *) self->examples->data;
  spec.n_memory = self->examples->len;
  g_mutex_lock (&self->lock);
  ctx = pad_context (GST_OMNI_TRANSLATE_PAD (pad), &n_ctx);
  spec.context = ctx;
  spec.n_context = n_ctx;
  req = omni_request_new_translate (&spec, error);
  g_mutex_unlock (&self->lock);
  g_free (ctx);
  g_free (domain);
  if (!req) {
    if (copy)
      markup_frame_free (copy);
    return FALSE;
  }
  return gst_omni_base_submit (base, pad, info, req, NULL, plain, code,
      self->source_code, copy, copy ? markup_frame_free : NULL, error);
}

static GstFlowReturn
gst_omni_translate_handle_buffer (GstOmniBase *base, GstBuffer *buffer,
    const GstOmniBaseSegmentInfo *info)
{
  GstOmniTranslate *self = GST_OMNI_TRANSLATE (base);
  GstFlowReturn ret = GST_FLOW_OK;
  MarkupFrame *frame = NULL;
  GError *error = NULL;
  gchar *text, *plain;
  guint n_context;
  GstMapInfo map;
  GList *pads;

  if (!gst_buffer_map (buffer, &map, GST_MAP_READ)) {
    GST_ELEMENT_ERROR (self, STREAM, FAILED, ("Cannot read an input buffer"),
        (NULL));
    return GST_FLOW_ERROR;
  }
  text = g_utf8_make_valid ((const gchar *) map.data, map.size);
  if (!g_utf8_validate ((const gchar *) map.data, map.size, NULL))
    GST_WARNING_OBJECT (self, "segment %" G_GUINT64_FORMAT " is not valid "
        "UTF-8; invalid bytes replaced", info->seq);
  gst_buffer_unmap (buffer, &map);
  plain = input_is_markup (base) ? markup_split (text, &frame) : g_strdup (text);
  g_strstrip (plain);

  /* In file mode the context is complete: wait for the previous results. */
  GST_OBJECT_LOCK (self);
  n_context = self->context_segments;
  GST_OBJECT_UNLOCK (self);
  if (n_context > 0 && !info->live && !gst_omni_base_wait_results (base))
    ret = GST_FLOW_FLUSHING;

  pads = gst_omni_base_get_src_pads (base);
  for (GList * l = pads; ret == GST_FLOW_OK && l; l = l->next) {
    if (!submit_pad (self, l->data, info, plain, frame, &error)) {
      GST_ELEMENT_ERROR (self, LIBRARY, FAILED,
          ("Cannot translate segment %" G_GUINT64_FORMAT " on pad %s: %s",
              info->seq, GST_PAD_NAME (l->data), error->message), (NULL));
      g_clear_error (&error);
      ret = GST_FLOW_ERROR;
    }
  }
  g_list_free_full (pads, gst_object_unref);
  if (frame)
    markup_frame_free (frame);
  g_free (plain);
  g_free (text);
  return ret;
}

/* Subtitle text: no blank lines (they end a cue in .srt and WebVTT). */
static gchar *
drop_blank_lines (const gchar *text)
{
  gchar **lines = g_strsplit (text, "\n", -1);
  GString *out = g_string_new (NULL);

  for (guint i = 0; lines[i]; i++) {
    gchar *line = g_strchomp (lines[i]);

    if (!*line || !line[strspn (line, " \t")])
      continue;
    if (out->len)
      g_string_append_c (out, '\n');
    g_string_append (out, line);
  }
  g_strfreev (lines);
  return g_string_free (out, FALSE);
}

static gchar *
gst_omni_translate_render (GstOmniBase *base, GstOmniBaseSrcPad *pad,
    const GstOmniBaseResultInfo *info, const gchar *text)
{
  MarkupFrame *frame = info->render_data;
  gchar *lines = drop_blank_lines (text), *escaped, *out;

  if (!frame)
    return lines;
  escaped = g_markup_escape_text (lines, -1);
  out = g_strconcat (frame->prefix, escaped, frame->suffix, NULL);
  g_free (escaped);
  g_free (lines);
  return out;
}

/* Keeps the last context-segments (source, translation) pairs per pad. */
static void
gst_omni_translate_result_done (GstOmniBase *base, GstOmniBaseSrcPad *base_pad,
    const GstOmniBaseResultInfo *info, const gchar *text)
{
  GstOmniTranslate *self = GST_OMNI_TRANSLATE (base);
  GstOmniTranslatePad *pad = GST_OMNI_TRANSLATE_PAD (base_pad);
  OmniTextPair *pair;
  guint n;

  GST_OBJECT_LOCK (self);
  n = self->context_segments;
  GST_OBJECT_UNLOCK (self);
  if (!info->source_text || !*info->source_text || !text || !*text)
    return;
  g_mutex_lock (&self->lock);
  pair = g_new (OmniTextPair, 1);
  pair->source = g_strdup (info->source_text);
  pair->target = g_strdup (text);
  g_queue_push_tail (&pad->context, pair);
  while (pad->context.length > n) {
    pair = g_queue_pop_head (&pad->context);
    pair_clear (pair);
    g_free (pair);
  }
  g_mutex_unlock (&self->lock);
}

static GstPad *
gst_omni_translate_request_new_pad (GstElement *element, GstPadTemplate *templ,
    const gchar *name, const GstCaps *caps)
{
  GstOmniTranslate *self = GST_OMNI_TRANSLATE (element);
  gchar *pad_name;
  GstOmniBaseSrcPad *pad;
  GstPad *existing;
  guint index;

  GST_OBJECT_LOCK (self);
  if (name && sscanf (name, "src_%u", &index) == 1) {
    self->next_pad = MAX (self->next_pad, index + 1);
    pad_name = g_strdup (name);
  } else {
    pad_name = g_strdup_printf ("src_%u", self->next_pad++);
  }
  GST_OBJECT_UNLOCK (self);
  existing = gst_element_get_static_pad (element, pad_name);
  if (existing) {
    gst_object_unref (existing);
    GST_WARNING_OBJECT (self, "pad %s already exists", pad_name);
    g_free (pad_name);
    return NULL;
  }
  pad = gst_omni_base_add_src_pad (GST_OMNI_BASE (self),
      GST_TYPE_OMNI_TRANSLATE_PAD, templ, pad_name);
  g_free (pad_name);
  return GST_PAD (pad);
}

static void
gst_omni_translate_release_pad (GstElement *element, GstPad *pad)
{
  gst_omni_base_remove_src_pad (GST_OMNI_BASE (element),
      GST_OMNI_BASE_SRC_PAD (pad));
}

/* ------------------------------------------------------------- GObject */

static void
gst_omni_translate_set_property (GObject *object, guint prop_id,
    const GValue *value, GParamSpec *pspec)
{
  GstOmniTranslate *self = GST_OMNI_TRANSLATE (object);
  gchar **field = NULL;

  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_SOURCE_LANGUAGE:
      field = &self->source_language;
      break;
    case PROP_TARGET_LANGUAGE:
      field = &self->target_language;
      break;
    case PROP_GLOSSARY:
      field = &self->glossary;
      break;
    case PROP_DOMAIN:
      field = &self->domain;
      break;
    case PROP_MEMORY:
      field = &self->memory;
      break;
    case PROP_CONTEXT_SEGMENTS:
      self->context_segments = g_value_get_uint (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  if (field) {
    g_free (*field);
    *field = g_value_dup_string (value);
  }
  GST_OBJECT_UNLOCK (self);
}

static void
gst_omni_translate_get_property (GObject *object, guint prop_id,
    GValue *value, GParamSpec *pspec)
{
  GstOmniTranslate *self = GST_OMNI_TRANSLATE (object);

  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_SOURCE_LANGUAGE:
      g_value_set_string (value, self->source_language);
      break;
    case PROP_TARGET_LANGUAGE:
      g_value_set_string (value, self->target_language);
      break;
    case PROP_GLOSSARY:
      g_value_set_string (value, self->glossary);
      break;
    case PROP_DOMAIN:
      g_value_set_string (value, self->domain);
      break;
    case PROP_MEMORY:
      g_value_set_string (value, self->memory);
      break;
    case PROP_CONTEXT_SEGMENTS:
      g_value_set_uint (value, self->context_segments);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

static void
gst_omni_translate_finalize (GObject *object)
{
  GstOmniTranslate *self = GST_OMNI_TRANSLATE (object);

  g_free (self->source_language);
  g_free (self->target_language);
  g_free (self->glossary);
  g_free (self->domain);
  g_free (self->memory);
  g_free (self->source_code);
  g_clear_pointer (&self->terms, g_array_unref);
  g_clear_pointer (&self->examples, g_array_unref);
  g_mutex_clear (&self->lock);
  G_OBJECT_CLASS (gst_omni_translate_parent_class)->finalize (object);
}

static void
gst_omni_translate_class_init (GstOmniTranslateClass *klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);
  GstOmniBaseClass *base_class = GST_OMNI_BASE_CLASS (klass);
  const GParamFlags rw = G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS
      | GST_PARAM_MUTABLE_READY;

  GST_DEBUG_CATEGORY_INIT (gst_omni_translate_debug, "omnitranslate", 0,
      "omnitranslate: text translation with Qwen models");

  gobject_class->set_property = gst_omni_translate_set_property;
  gobject_class->get_property = gst_omni_translate_get_property;
  gobject_class->finalize = gst_omni_translate_finalize;

  g_object_class_install_property (gobject_class, PROP_SOURCE_LANGUAGE,
      g_param_spec_string ("source-language", "Source language",
          "Language of the input: \"auto\" (the model tells), a BCP-47 code "
          "or an English name", DEFAULT_SOURCE_LANGUAGE, rw));
  g_object_class_install_property (gobject_class, PROP_TARGET_LANGUAGE,
      g_param_spec_string ("target-language", "Target language",
          "Language of the src pad (BCP-47 code or English name); request "
          "pads src_%u set theirs with their language-code property",
          DEFAULT_TARGET_LANGUAGE, rw));
  g_object_class_install_property (gobject_class, PROP_GLOSSARY,
      g_param_spec_string ("glossary", "Glossary",
          "Terms the translation must use: the path of a TSV file "
          "(source<TAB>target per line, # comments) or inline "
          "\"source=target;source=target\"", NULL, rw));
  g_object_class_install_property (gobject_class, PROP_DOMAIN,
      g_param_spec_string ("domain", "Domain",
          "Free-text hint on the domain and style, in English (e.g. "
          "\"sports commentary\")", NULL, rw));
  g_object_class_install_property (gobject_class, PROP_MEMORY,
      g_param_spec_string ("memory", "Translation memory",
          "Path of a TSV file of example translations (source<TAB>target "
          "per line, # comments) shown to the model", NULL, rw));
  g_object_class_install_property (gobject_class, PROP_CONTEXT_SEGMENTS,
      g_param_spec_uint ("context-segments", "Context segments",
          "Previous segments (source and translation) given as context for "
          "consistency. In file mode each segment then waits for the "
          "previous translation", 0, MAX_CONTEXT_SEGMENTS,
          DEFAULT_CONTEXT_SEGMENTS,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS
          | GST_PARAM_MUTABLE_PLAYING));

  gst_element_class_add_static_pad_template (element_class, &sink_template);
  gst_element_class_add_static_pad_template_with_gtype (element_class,
      &src_template, GST_TYPE_OMNI_TRANSLATE_PAD);
  gst_element_class_add_static_pad_template_with_gtype (element_class,
      &src_request_template, GST_TYPE_OMNI_TRANSLATE_PAD);
  gst_element_class_set_static_metadata (element_class, "Qwen translator",
      "Filter/Text",
      "Translates timed text (subtitles, transcripts) into one or more "
      "languages with a Qwen3 model, keeping each segment's timestamps",
      "gst-omni developers <gst-omni@example.invalid>");

  element_class->request_new_pad = gst_omni_translate_request_new_pad;
  element_class->release_pad = gst_omni_translate_release_pad;

  base_class->text_kind = GST_OMNI_TEXT_KIND_TRANSLATION;
  base_class->start = gst_omni_translate_start;
  base_class->stop = gst_omni_translate_stop;
  base_class->src_caps = gst_omni_translate_src_caps;
  base_class->src_tags = gst_omni_translate_src_tags;
  base_class->handle_buffer = gst_omni_translate_handle_buffer;
  base_class->render = gst_omni_translate_render;
  base_class->result_done = gst_omni_translate_result_done;

  gst_type_mark_as_plugin_api (GST_TYPE_OMNI_TRANSLATE_PAD, 0);
}

static void
gst_omni_translate_init (GstOmniTranslate *self)
{
  GstPadTemplate *templ =
      gst_element_class_get_pad_template (GST_ELEMENT_GET_CLASS (self), "src");

  g_mutex_init (&self->lock);
  self->source_language = g_strdup (DEFAULT_SOURCE_LANGUAGE);
  self->target_language = g_strdup (DEFAULT_TARGET_LANGUAGE);
  self->context_segments = DEFAULT_CONTEXT_SEGMENTS;
  gst_omni_base_add_src_pad (GST_OMNI_BASE (self),
      GST_TYPE_OMNI_TRANSLATE_PAD, templ, "src");
}

/* ---------------------------------------------------------------- pad */

static void
gst_omni_translate_pad_set_property (GObject *object, guint prop_id,
    const GValue *value, GParamSpec *pspec)
{
  GstOmniTranslatePad *pad = GST_OMNI_TRANSLATE_PAD (object);

  if (prop_id != PAD_PROP_LANGUAGE_CODE) {
    G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    return;
  }
  GST_OBJECT_LOCK (pad);
  g_free (pad->language_code);
  pad->language_code = g_value_dup_string (value);
  GST_OBJECT_UNLOCK (pad);
}

static void
gst_omni_translate_pad_get_property (GObject *object, guint prop_id,
    GValue *value, GParamSpec *pspec)
{
  GstOmniTranslatePad *pad = GST_OMNI_TRANSLATE_PAD (object);

  if (prop_id != PAD_PROP_LANGUAGE_CODE) {
    G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    return;
  }
  GST_OBJECT_LOCK (pad);
  g_value_set_string (value, pad->language_code);
  GST_OBJECT_UNLOCK (pad);
}

static void
gst_omni_translate_pad_finalize (GObject *object)
{
  GstOmniTranslatePad *pad = GST_OMNI_TRANSLATE_PAD (object);
  OmniTextPair *pair;

  while ((pair = g_queue_pop_head (&pad->context))) {
    pair_clear (pair);
    g_free (pair);
  }
  g_free (pad->language_code);
  G_OBJECT_CLASS (gst_omni_translate_pad_parent_class)->finalize (object);
}

static void
gst_omni_translate_pad_class_init (GstOmniTranslatePadClass *klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);

  gobject_class->set_property = gst_omni_translate_pad_set_property;
  gobject_class->get_property = gst_omni_translate_pad_get_property;
  gobject_class->finalize = gst_omni_translate_pad_finalize;
  g_object_class_install_property (gobject_class, PAD_PROP_LANGUAGE_CODE,
      g_param_spec_string ("language-code", "Language code",
          "Language of this pad's translations (BCP-47 code or English "
          "name); on the src pad it overrides target-language", NULL,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS
          | GST_PARAM_MUTABLE_READY));
}

static void
gst_omni_translate_pad_init (GstOmniTranslatePad *pad)
{
  g_queue_init (&pad->context);
}

gboolean
gst_omni_translate_register (GstPlugin *plugin)
{
  return gst_element_register (plugin, "omnitranslate", GST_RANK_NONE,
      GST_TYPE_OMNI_TRANSLATE);
}
