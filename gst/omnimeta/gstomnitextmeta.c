/* SPDX-License-Identifier: LGPL-2.1-or-later */
/**
 * SECTION:gstomnitextmeta
 * @title: GstOmniTextMeta
 * @short_description: model-made text about the media of a buffer
 *
 * A #GstOmniTextMeta carries text that a model produced about a stretch of
 * media (a transcript, an audio caption, a translation, a description of
 * frames or an answer) on the audio/video buffers that the text describes.
 * A buffer can carry several of them, for example a transcript and its
 * translations; iterate them with gst_buffer_iterate_omni_text_meta() or
 * gst_buffer_get_nth_omni_text_meta().
 *
 * The meta has no tags, so elements that convert media (audioconvert,
 * videoconvert, videoscale, ...) keep it, and it survives every copy of its
 * buffer.
 */
#include "gstomnitextmeta.h"

#include <string.h>

/* The nicks of GstOmniTextKind, indexed by value; the same strings as the
 * GEnum's, which tests/meta checks. A plain table keeps lookups off the
 * GType class machinery on streaming threads. */
static const gchar *const kind_nicks[] = {
  "transcript", "caption", "translation", "description", "answer"
};

G_DEFINE_ENUM_TYPE (GstOmniTextKind, gst_omni_text_kind,
    G_DEFINE_ENUM_VALUE (GST_OMNI_TEXT_KIND_TRANSCRIPT, "transcript"),
    G_DEFINE_ENUM_VALUE (GST_OMNI_TEXT_KIND_CAPTION, "caption"),
    G_DEFINE_ENUM_VALUE (GST_OMNI_TEXT_KIND_TRANSLATION, "translation"),
    G_DEFINE_ENUM_VALUE (GST_OMNI_TEXT_KIND_DESCRIPTION, "description"),
    G_DEFINE_ENUM_VALUE (GST_OMNI_TEXT_KIND_ANSWER, "answer"))

G_DEFINE_ENUM_TYPE (GstOmniMetaError, gst_omni_meta_error,
    G_DEFINE_ENUM_VALUE (GST_OMNI_META_ERROR_SYNTAX, "syntax"),
    G_DEFINE_ENUM_VALUE (GST_OMNI_META_ERROR_MISSING_FIELD, "missing-field"),
    G_DEFINE_ENUM_VALUE (GST_OMNI_META_ERROR_INVALID_FIELD, "invalid-field"))

/**
 * gst_omni_meta_error_quark:
 *
 * Returns: the error domain %GST_OMNI_META_ERROR.
 */
G_DEFINE_QUARK (gst-omni-meta-error-quark, gst_omni_meta_error)

/**
 * gst_omni_text_kind_to_string:
 * @kind: a #GstOmniTextKind
 *
 * Returns: (nullable): the nick of @kind ("transcript", "caption", ...), as
 *   used in the JSON form, or %NULL if @kind is not a #GstOmniTextKind.
 */
const gchar *
gst_omni_text_kind_to_string (GstOmniTextKind kind)
{
  if ((guint) kind >= G_N_ELEMENTS (kind_nicks))
    return NULL;
  return kind_nicks[kind];
}

/**
 * gst_omni_text_kind_from_string:
 * @str: a kind nick such as "transcript"
 * @kind: (out): where to store the kind
 *
 * Looks up a #GstOmniTextKind by its nick (exact, lower case).
 *
 * Returns: %TRUE if @str names a kind; @kind is left untouched otherwise.
 */
gboolean
gst_omni_text_kind_from_string (const gchar *str, GstOmniTextKind *kind)
{
  g_return_val_if_fail (str != NULL, FALSE);
  g_return_val_if_fail (kind != NULL, FALSE);

  for (guint i = 0; i < G_N_ELEMENTS (kind_nicks); i++) {
    if (strcmp (str, kind_nicks[i]) == 0) {
      *kind = (GstOmniTextKind) i;
      return TRUE;
    }
  }
  return FALSE;
}

static gboolean
is_alnum_run (const gchar *s, gsize len, gboolean letters_only)
{
  for (gsize i = 0; i < len; i++) {
    if (letters_only ? !g_ascii_isalpha (s[i]) : !g_ascii_isalnum (s[i]))
      return FALSE;
  }
  return TRUE;
}

/**
 * gst_omni_language_tag_is_valid:
 * @tag: (nullable): a language tag
 *
 * Checks that @tag has the shape of a BCP-47 language tag: subtags of one to
 * eight ASCII letters or digits joined by '-', the first made of letters
 * only ("en", "zh-Hans-CN", "pt-BR", "x-klingon"). Registry membership is not
 * checked.
 *
 * Returns: %TRUE if @tag is well formed; %FALSE for %NULL or "".
 */
gboolean
gst_omni_language_tag_is_valid (const gchar *tag)
{
  const gchar *p = tag;
  gboolean first = TRUE;

  if (tag == NULL || *tag == '\0')
    return FALSE;

  for (;;) {
    const gchar *dash = strchr (p, '-');
    gsize len = dash ? (gsize) (dash - p) : strlen (p);

    if (len < 1 || len > 8 || !is_alnum_run (p, len, first))
      return FALSE;
    if (!dash)
      return TRUE;
    p = dash + 1;
    first = FALSE;
  }
}

static gboolean
gst_omni_text_meta_init (GstMeta *meta, gpointer params, GstBuffer *buffer)
{
  GstOmniTextMeta *m = (GstOmniTextMeta *) meta;

  m->kind = GST_OMNI_TEXT_KIND_TRANSCRIPT;
  m->text = NULL;
  m->language = NULL;
  m->source_language = NULL;
  m->pts = GST_CLOCK_TIME_NONE;
  m->running_time = GST_CLOCK_TIME_NONE;
  m->duration = GST_CLOCK_TIME_NONE;
  m->is_final = TRUE;
  m->seq = 0;
  m->speaker = NULL;
  m->model_id = NULL;
  return TRUE;
}

static void
gst_omni_text_meta_free (GstMeta *meta, GstBuffer *buffer)
{
  GstOmniTextMeta *m = (GstOmniTextMeta *) meta;

  g_clear_pointer (&m->text, g_free);
  g_clear_pointer (&m->language, g_free);
  g_clear_pointer (&m->source_language, g_free);
  g_clear_pointer (&m->speaker, g_free);
  g_clear_pointer (&m->model_id, g_free);
}

/* The meta names its media by absolute times (PTS, running time), not by
 * offsets into the buffer's memory, so it stays true for every transform:
 * full and region copies, and conversions (resample, scale, format) made by
 * elements that keep untagged metas. It is copied in all cases. */
static gboolean
gst_omni_text_meta_transform (GstBuffer *dest, GstMeta *meta,
    GstBuffer *buffer, GQuark type, gpointer data)
{
  const GstOmniTextMeta *m = (const GstOmniTextMeta *) meta;

  return gst_buffer_add_omni_text_meta (dest, m->kind, m->text, m->language,
      m->source_language, m->pts, m->running_time, m->duration, m->is_final,
      m->seq, m->speaker, m->model_id) != NULL;
}

/**
 * gst_omni_text_meta_api_get_type:
 *
 * Returns: the API #GType of #GstOmniTextMeta. It is registered without
 *   tags: the meta does not depend on the layout or format of the media.
 */
GType
gst_omni_text_meta_api_get_type (void)
{
  static GType type = 0;
  static const gchar *tags[] = { NULL };

  if (g_once_init_enter (&type)) {
    GType t = gst_meta_api_type_register ("GstOmniTextMetaAPI", tags);
    g_once_init_leave (&type, t);
  }
  return type;
}

/**
 * gst_omni_text_meta_get_info:
 *
 * Returns: (transfer none): the #GstMetaInfo of #GstOmniTextMeta.
 */
const GstMetaInfo *
gst_omni_text_meta_get_info (void)
{
  static const GstMetaInfo *info = NULL;

  if (g_once_init_enter ((GstMetaInfo **) & info)) {
    const GstMetaInfo *i = gst_meta_register (GST_OMNI_TEXT_META_API_TYPE,
        "GstOmniTextMeta", sizeof (GstOmniTextMeta),
        gst_omni_text_meta_init, gst_omni_text_meta_free,
        gst_omni_text_meta_transform);
    g_once_init_leave ((GstMetaInfo **) & info, (GstMetaInfo *) i);
  }
  return info;
}

static gboolean
time_is_representable (GstClockTime t)
{
  /* JSON carries times as signed 64-bit integers; every valid GStreamer
   * time fits. */
  return t == GST_CLOCK_TIME_NONE || t <= (GstClockTime) G_MAXINT64;
}

static gboolean
optional_utf8_is_valid (const gchar *s)
{
  return s == NULL || g_utf8_validate (s, -1, NULL);
}

/**
 * gst_buffer_add_omni_text_meta:
 * @buffer: a writable #GstBuffer
 * @kind: what the text is
 * @text: the text, valid UTF-8 (may be empty)
 * @language: (nullable): BCP-47 tag of @text, %NULL when unknown
 * @source_language: (nullable): BCP-47 tag of the source text or speech
 * @pts: PTS of the described media, or %GST_CLOCK_TIME_NONE
 * @running_time: running time of the described media, or
 *   %GST_CLOCK_TIME_NONE
 * @duration: duration of the described media, or %GST_CLOCK_TIME_NONE
 * @is_final: %FALSE for a partial result that a later one replaces
 * @seq: sequence number of the described segment, at most %G_MAXINT64
 * @speaker: (nullable): speaker label, valid UTF-8
 * @model_id: (nullable): id of the model that made the text, valid UTF-8
 *
 * Attaches a new #GstOmniTextMeta to @buffer. All strings are copied.
 *
 * Times other than %GST_CLOCK_TIME_NONE and @seq must be at most
 * %G_MAXINT64 so that the meta has a JSON form.
 *
 * Returns: (transfer none) (nullable): the new meta, owned by @buffer, or
 *   %NULL (with a critical warning) when an argument is invalid: @text
 *   %NULL or not UTF-8, a string not UTF-8, a language tag not BCP-47
 *   shaped, an unknown @kind or an out-of-range time or @seq.
 */
GstOmniTextMeta *
gst_buffer_add_omni_text_meta (GstBuffer *buffer, GstOmniTextKind kind,
    const gchar *text, const gchar *language, const gchar *source_language,
    GstClockTime pts, GstClockTime running_time, GstClockTime duration,
    gboolean is_final, guint64 seq, const gchar *speaker,
    const gchar *model_id)
{
  GstOmniTextMeta *m;

  g_return_val_if_fail (GST_IS_BUFFER (buffer), NULL);
  g_return_val_if_fail (gst_buffer_is_writable (buffer), NULL);
  g_return_val_if_fail (gst_omni_text_kind_to_string (kind) != NULL, NULL);
  g_return_val_if_fail (text != NULL, NULL);
  g_return_val_if_fail (g_utf8_validate (text, -1, NULL), NULL);
  g_return_val_if_fail (language == NULL
      || gst_omni_language_tag_is_valid (language), NULL);
  g_return_val_if_fail (source_language == NULL
      || gst_omni_language_tag_is_valid (source_language), NULL);
  g_return_val_if_fail (time_is_representable (pts), NULL);
  g_return_val_if_fail (time_is_representable (running_time), NULL);
  g_return_val_if_fail (time_is_representable (duration), NULL);
  g_return_val_if_fail (seq <= (guint64) G_MAXINT64, NULL);
  g_return_val_if_fail (optional_utf8_is_valid (speaker), NULL);
  g_return_val_if_fail (optional_utf8_is_valid (model_id), NULL);

  m = (GstOmniTextMeta *) gst_buffer_add_meta (buffer,
      GST_OMNI_TEXT_META_INFO, NULL);
  if (m == NULL)
    return NULL;

  m->kind = kind;
  m->text = g_strdup (text);
  m->language = g_strdup (language);
  m->source_language = g_strdup (source_language);
  m->pts = pts;
  m->running_time = running_time;
  m->duration = duration;
  m->is_final = is_final ? TRUE : FALSE;
  m->seq = seq;
  m->speaker = g_strdup (speaker);
  m->model_id = g_strdup (model_id);
  return m;
}

/**
 * gst_pad_probe_info_add_omni_text_meta:
 * @info: the #GstPadProbeInfo of a %GST_PAD_PROBE_TYPE_BUFFER probe
 * @kind: what the text is
 * @text: the text, valid UTF-8 (may be empty)
 * @language: (nullable): BCP-47 tag of @text, %NULL when unknown
 * @source_language: (nullable): BCP-47 tag of the source text or speech
 * @pts: PTS of the described media, or %GST_CLOCK_TIME_NONE
 * @running_time: running time of the described media, or
 *   %GST_CLOCK_TIME_NONE
 * @duration: duration of the described media, or %GST_CLOCK_TIME_NONE
 * @is_final: %FALSE for a partial result that a later one replaces
 * @seq: sequence number of the described segment, at most %G_MAXINT64
 * @speaker: (nullable): speaker label, valid UTF-8
 * @model_id: (nullable): id of the model that made the text, valid UTF-8
 *
 * Makes the buffer of @info writable (replacing it in @info by a shallow
 * copy when it is shared) and attaches a #GstOmniTextMeta to it, like
 * gst_buffer_add_omni_text_meta().
 *
 * This is the way to tag buffers from a pad probe in Python and other
 * bindings: a binding holds its own reference on every buffer it wraps, so a
 * buffer it hands to gst_buffer_add_omni_text_meta() is never writable.
 *
 * Returns: (transfer none) (nullable): the new meta, owned by the buffer now
 *   in @info, or %NULL (with a critical warning) when @info holds no buffer
 *   or an argument is invalid.
 */
GstOmniTextMeta *
gst_pad_probe_info_add_omni_text_meta (GstPadProbeInfo *info,
    GstOmniTextKind kind, const gchar *text, const gchar *language,
    const gchar *source_language, GstClockTime pts, GstClockTime running_time,
    GstClockTime duration, gboolean is_final, guint64 seq,
    const gchar *speaker, const gchar *model_id)
{
  GstBuffer *buffer;

  g_return_val_if_fail (info != NULL, NULL);
  g_return_val_if_fail (info->type & GST_PAD_PROBE_TYPE_BUFFER, NULL);
  g_return_val_if_fail (GST_IS_BUFFER (info->data), NULL);

  buffer = gst_buffer_make_writable (GST_PAD_PROBE_INFO_BUFFER (info));
  GST_PAD_PROBE_INFO_DATA (info) = buffer;
  return gst_buffer_add_omni_text_meta (buffer, kind, text, language,
      source_language, pts, running_time, duration, is_final, seq, speaker,
      model_id);
}

/**
 * gst_buffer_get_omni_text_meta:
 * @buffer: a #GstBuffer
 *
 * Returns: (transfer none) (nullable): the first #GstOmniTextMeta on
 *   @buffer, or %NULL if it has none.
 */
GstOmniTextMeta *
gst_buffer_get_omni_text_meta (GstBuffer *buffer)
{
  g_return_val_if_fail (GST_IS_BUFFER (buffer), NULL);

  return (GstOmniTextMeta *) gst_buffer_get_meta (buffer,
      GST_OMNI_TEXT_META_API_TYPE);
}

/**
 * gst_buffer_iterate_omni_text_meta: (skip)
 * @buffer: a #GstBuffer
 * @state: (inout): an opaque state, %NULL before the first call
 *
 * Walks the #GstOmniTextMeta of @buffer in the order they were added:
 *
 * |[<!-- language="C" -->
 * gpointer state = NULL;
 * GstOmniTextMeta *m;
 *
 * while ((m = gst_buffer_iterate_omni_text_meta (buffer, &state)))
 *   g_print ("%s: %s\n", gst_omni_text_meta_get_language (m), m->text);
 * ]|
 *
 * Bindings use gst_buffer_get_n_omni_text_metas() and
 * gst_buffer_get_nth_omni_text_meta().
 *
 * Returns: (transfer none) (nullable): the next meta, or %NULL at the end.
 */
GstOmniTextMeta *
gst_buffer_iterate_omni_text_meta (GstBuffer *buffer, gpointer *state)
{
  g_return_val_if_fail (GST_IS_BUFFER (buffer), NULL);
  g_return_val_if_fail (state != NULL, NULL);

  return (GstOmniTextMeta *) gst_buffer_iterate_meta_filtered (buffer, state,
      GST_OMNI_TEXT_META_API_TYPE);
}

/**
 * gst_buffer_get_n_omni_text_metas:
 * @buffer: a #GstBuffer
 *
 * Returns: how many #GstOmniTextMeta @buffer carries.
 */
guint
gst_buffer_get_n_omni_text_metas (GstBuffer *buffer)
{
  gpointer state = NULL;
  guint n = 0;

  g_return_val_if_fail (GST_IS_BUFFER (buffer), 0);

  while (gst_buffer_iterate_omni_text_meta (buffer, &state))
    n++;
  return n;
}

/**
 * gst_buffer_get_nth_omni_text_meta:
 * @buffer: a #GstBuffer
 * @index: position among the buffer's #GstOmniTextMeta, from 0
 *
 * Returns: (transfer none) (nullable): the meta at @index, in the order they
 *   were added, or %NULL if @index is out of range.
 */
GstOmniTextMeta *
gst_buffer_get_nth_omni_text_meta (GstBuffer *buffer, guint index)
{
  gpointer state = NULL;
  GstOmniTextMeta *m;
  guint i = 0;

  g_return_val_if_fail (GST_IS_BUFFER (buffer), NULL);

  while ((m = gst_buffer_iterate_omni_text_meta (buffer, &state))) {
    if (i++ == index)
      return m;
  }
  return NULL;
}

/**
 * gst_buffer_find_omni_text_meta:
 * @buffer: a #GstBuffer
 * @kind: the kind to look for
 * @language: (nullable): the language to look for (exact, ASCII case
 *   insensitive), or %NULL for any
 *
 * Finds, for example, the French translation among a buffer's metas.
 *
 * Returns: (transfer none) (nullable): the first meta of @kind (and
 *   @language) on @buffer, or %NULL.
 */
GstOmniTextMeta *
gst_buffer_find_omni_text_meta (GstBuffer *buffer, GstOmniTextKind kind,
    const gchar *language)
{
  gpointer state = NULL;
  GstOmniTextMeta *m;

  g_return_val_if_fail (GST_IS_BUFFER (buffer), NULL);

  while ((m = gst_buffer_iterate_omni_text_meta (buffer, &state))) {
    if (m->kind != kind)
      continue;
    if (language == NULL || (m->language != NULL
            && g_ascii_strcasecmp (m->language, language) == 0))
      return m;
  }
  return NULL;
}

/**
 * gst_omni_text_meta_get_kind:
 * @meta: a #GstOmniTextMeta
 *
 * Returns: what the text is.
 */
GstOmniTextKind
gst_omni_text_meta_get_kind (const GstOmniTextMeta *meta)
{
  g_return_val_if_fail (meta != NULL, GST_OMNI_TEXT_KIND_TRANSCRIPT);
  return meta->kind;
}

/**
 * gst_omni_text_meta_get_text:
 * @meta: a #GstOmniTextMeta
 *
 * Returns: (transfer none): the UTF-8 text, owned by @meta and valid while
 *   @meta stays on its buffer.
 */
const gchar *
gst_omni_text_meta_get_text (const GstOmniTextMeta *meta)
{
  g_return_val_if_fail (meta != NULL, NULL);
  return meta->text;
}

/**
 * gst_omni_text_meta_dup_text:
 * @meta: a #GstOmniTextMeta
 *
 * Returns: (transfer full): a copy of the text, to keep after the buffer is
 *   gone. Free with g_free().
 */
gchar *
gst_omni_text_meta_dup_text (const GstOmniTextMeta *meta)
{
  g_return_val_if_fail (meta != NULL, NULL);
  return g_strdup (meta->text);
}

/**
 * gst_omni_text_meta_get_language:
 * @meta: a #GstOmniTextMeta
 *
 * Returns: (transfer none) (nullable): the BCP-47 tag of the text, or %NULL
 *   when unknown. Owned by @meta.
 */
const gchar *
gst_omni_text_meta_get_language (const GstOmniTextMeta *meta)
{
  g_return_val_if_fail (meta != NULL, NULL);
  return meta->language;
}

/**
 * gst_omni_text_meta_get_source_language:
 * @meta: a #GstOmniTextMeta
 *
 * Returns: (transfer none) (nullable): the BCP-47 tag of the source (the
 *   translated text or the spoken input), or %NULL. Owned by @meta.
 */
const gchar *
gst_omni_text_meta_get_source_language (const GstOmniTextMeta *meta)
{
  g_return_val_if_fail (meta != NULL, NULL);
  return meta->source_language;
}

/**
 * gst_omni_text_meta_get_pts:
 * @meta: a #GstOmniTextMeta
 *
 * Returns: the PTS of the first described media, or %GST_CLOCK_TIME_NONE.
 */
GstClockTime
gst_omni_text_meta_get_pts (const GstOmniTextMeta *meta)
{
  g_return_val_if_fail (meta != NULL, GST_CLOCK_TIME_NONE);
  return meta->pts;
}

/**
 * gst_omni_text_meta_get_running_time:
 * @meta: a #GstOmniTextMeta
 *
 * Returns: the running time of the first described media, or
 *   %GST_CLOCK_TIME_NONE.
 */
GstClockTime
gst_omni_text_meta_get_running_time (const GstOmniTextMeta *meta)
{
  g_return_val_if_fail (meta != NULL, GST_CLOCK_TIME_NONE);
  return meta->running_time;
}

/**
 * gst_omni_text_meta_get_duration:
 * @meta: a #GstOmniTextMeta
 *
 * Returns: the duration of the described media, or %GST_CLOCK_TIME_NONE.
 */
GstClockTime
gst_omni_text_meta_get_duration (const GstOmniTextMeta *meta)
{
  g_return_val_if_fail (meta != NULL, GST_CLOCK_TIME_NONE);
  return meta->duration;
}

/**
 * gst_omni_text_meta_is_final:
 * @meta: a #GstOmniTextMeta
 *
 * Returns: %TRUE for a final result, %FALSE for a partial one.
 */
gboolean
gst_omni_text_meta_is_final (const GstOmniTextMeta *meta)
{
  g_return_val_if_fail (meta != NULL, FALSE);
  return meta->is_final;
}

/**
 * gst_omni_text_meta_get_seq:
 * @meta: a #GstOmniTextMeta
 *
 * Returns: the sequence number of the described segment.
 */
guint64
gst_omni_text_meta_get_seq (const GstOmniTextMeta *meta)
{
  g_return_val_if_fail (meta != NULL, 0);
  return meta->seq;
}

/**
 * gst_omni_text_meta_get_speaker:
 * @meta: a #GstOmniTextMeta
 *
 * Returns: (transfer none) (nullable): the speaker label, or %NULL. Owned by
 *   @meta.
 */
const gchar *
gst_omni_text_meta_get_speaker (const GstOmniTextMeta *meta)
{
  g_return_val_if_fail (meta != NULL, NULL);
  return meta->speaker;
}

/**
 * gst_omni_text_meta_get_model_id:
 * @meta: a #GstOmniTextMeta
 *
 * Returns: (transfer none) (nullable): the id of the model that made the
 *   text, or %NULL. Owned by @meta.
 */
const gchar *
gst_omni_text_meta_get_model_id (const GstOmniTextMeta *meta)
{
  g_return_val_if_fail (meta != NULL, NULL);
  return meta->model_id;
}
