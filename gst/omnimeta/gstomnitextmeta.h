/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * GstOmniTextMeta: text produced by a model about a stretch of media
 * (transcript, caption, translation, description, answer), carried on the
 * audio/video buffers it describes.
 *
 * Installed as <gst/omni/gstomnitextmeta.h>; pkg-config gstreamer-omnimeta-1.0.
 */
#ifndef __GST_OMNI_TEXT_META_H__
#define __GST_OMNI_TEXT_META_H__

#include <gst/gst.h>

G_BEGIN_DECLS

#ifndef GST_OMNI_META_API
# ifdef BUILDING_GST_OMNI_META
#  define GST_OMNI_META_API GST_API_EXPORT
# else
#  define GST_OMNI_META_API GST_API_IMPORT
# endif
#endif

/**
 * GstOmniTextKind:
 * @GST_OMNI_TEXT_KIND_TRANSCRIPT: the words spoken in the media, verbatim
 * @GST_OMNI_TEXT_KIND_CAPTION: a caption of the audio: speech plus sounds,
 *   music and speaker traits (what an audio captioner model writes)
 * @GST_OMNI_TEXT_KIND_TRANSLATION: another text of this buffer rendered in
 *   another language; #GstOmniTextMeta.source_language says which one
 * @GST_OMNI_TEXT_KIND_DESCRIPTION: a description of what is seen
 * @GST_OMNI_TEXT_KIND_ANSWER: the answer to a question asked about the media
 *
 * What a #GstOmniTextMeta's text is. The JSON form uses the lower-case
 * nicks: "transcript", "caption", "translation", "description", "answer".
 */
typedef enum {
  GST_OMNI_TEXT_KIND_TRANSCRIPT,
  GST_OMNI_TEXT_KIND_CAPTION,
  GST_OMNI_TEXT_KIND_TRANSLATION,
  GST_OMNI_TEXT_KIND_DESCRIPTION,
  GST_OMNI_TEXT_KIND_ANSWER,
} GstOmniTextKind;

/**
 * GST_TYPE_OMNI_TEXT_KIND:
 *
 * The #GType of #GstOmniTextKind.
 */
#define GST_TYPE_OMNI_TEXT_KIND (gst_omni_text_kind_get_type ())

/**
 * gst_omni_text_kind_get_type:
 *
 * Returns: the #GType of #GstOmniTextKind (a #GEnum).
 */
GST_OMNI_META_API
GType gst_omni_text_kind_get_type (void);

/* The JSON nick of @kind ("transcript", ...), or NULL for a bad value. */
GST_OMNI_META_API
const gchar *gst_omni_text_kind_to_string (GstOmniTextKind kind);

/* Looks a kind up by its nick; FALSE if @str names none. */
GST_OMNI_META_API
gboolean gst_omni_text_kind_from_string (const gchar *str, GstOmniTextKind *kind);

/**
 * GST_OMNI_META_ERROR:
 *
 * Error domain of gst_omni_text_meta_from_json(). Errors in this domain are
 * from the #GstOmniMetaError enumeration.
 */
#define GST_OMNI_META_ERROR (gst_omni_meta_error_quark ())

/**
 * GstOmniMetaError:
 * @GST_OMNI_META_ERROR_SYNTAX: the input is not JSON, or not a JSON object
 * @GST_OMNI_META_ERROR_MISSING_FIELD: a required field is absent
 * @GST_OMNI_META_ERROR_INVALID_FIELD: a field has the wrong JSON type or a
 *   value out of its range (unknown kind, invalid UTF-8, malformed language
 *   tag, negative time)
 *
 * Error codes of the %GST_OMNI_META_ERROR domain.
 */
typedef enum {
  GST_OMNI_META_ERROR_SYNTAX,
  GST_OMNI_META_ERROR_MISSING_FIELD,
  GST_OMNI_META_ERROR_INVALID_FIELD,
} GstOmniMetaError;

/**
 * GST_TYPE_OMNI_META_ERROR:
 *
 * The #GType of #GstOmniMetaError.
 */
#define GST_TYPE_OMNI_META_ERROR (gst_omni_meta_error_get_type ())

/**
 * gst_omni_meta_error_get_type:
 *
 * Returns: the #GType of #GstOmniMetaError (a #GEnum).
 */
GST_OMNI_META_API
GType gst_omni_meta_error_get_type (void);

/* The GST_OMNI_META_ERROR error domain. */
GST_OMNI_META_API
GQuark gst_omni_meta_error_quark (void);

typedef struct _GstOmniTextMeta GstOmniTextMeta;

/**
 * GstOmniTextMeta:
 * @meta: the parent #GstMeta
 * @kind: what the text is
 * @text: the text, UTF-8, never %NULL (may be empty)
 * @language: (nullable): BCP-47 tag of @text, %NULL when unknown
 * @source_language: (nullable): BCP-47 tag of the text that was translated
 *   or of the spoken input, %NULL when unknown or not applicable
 * @pts: PTS of the first described media, or %GST_CLOCK_TIME_NONE
 * @running_time: running time of the first described media, or
 *   %GST_CLOCK_TIME_NONE
 * @duration: length of the described media, or %GST_CLOCK_TIME_NONE
 * @is_final: %FALSE for a partial (streaming) result that a later meta with
 *   the same @seq, @kind and @language replaces
 * @seq: sequence number of the segment this text is about; partial and final
 *   results of one segment share it
 * @speaker: (nullable): speaker label, %NULL when not known
 * @model_id: (nullable): the model that produced the text, %NULL when not
 *   given
 *
 * Text that a model produced about the media of a buffer. A buffer may carry
 * several (a transcript and its translations); see
 * gst_buffer_iterate_omni_text_meta().
 *
 * The fields are read-only. The meta owns its strings: they stay valid for as
 * long as the meta is on its buffer. Use the getters from bindings.
 */
struct _GstOmniTextMeta {
  GstMeta meta;

  GstOmniTextKind kind;
  gchar *text;
  gchar *language;
  gchar *source_language;
  GstClockTime pts;
  GstClockTime running_time;
  GstClockTime duration;
  gboolean is_final;
  guint64 seq;
  gchar *speaker;
  gchar *model_id;

  /*< private >*/
  gpointer _gst_reserved[GST_PADDING];
};

/**
 * GST_OMNI_TEXT_META_API_TYPE:
 *
 * The API #GType of #GstOmniTextMeta, for gst_buffer_get_meta() and
 * allocation queries.
 */
#define GST_OMNI_TEXT_META_API_TYPE (gst_omni_text_meta_api_get_type ())

/**
 * GST_OMNI_TEXT_META_INFO:
 *
 * The #GstMetaInfo of #GstOmniTextMeta.
 */
#define GST_OMNI_TEXT_META_INFO (gst_omni_text_meta_get_info ())

/* The API type of GstOmniTextMeta (registered without tags). */
GST_OMNI_META_API
GType gst_omni_text_meta_api_get_type (void);

/* The GstMetaInfo of GstOmniTextMeta (registers it on first call). */
GST_OMNI_META_API
const GstMetaInfo *gst_omni_text_meta_get_info (void);

/* Attaches a new meta to a writable @buffer, copying the strings;
 * NULL with a critical on invalid input (bad UTF-8, malformed language tag). */
GST_OMNI_META_API
GstOmniTextMeta *gst_buffer_add_omni_text_meta (GstBuffer *buffer,
    GstOmniTextKind kind, const gchar *text, const gchar *language,
    const gchar *source_language, GstClockTime pts, GstClockTime running_time,
    GstClockTime duration, gboolean is_final, guint64 seq,
    const gchar *speaker, const gchar *model_id);

/* Like gst_buffer_add_omni_text_meta() on the buffer of a pad probe, which
 * is made writable first: the way to tag buffers from Python. */
GST_OMNI_META_API
GstOmniTextMeta *gst_pad_probe_info_add_omni_text_meta (GstPadProbeInfo *info,
    GstOmniTextKind kind, const gchar *text, const gchar *language,
    const gchar *source_language, GstClockTime pts, GstClockTime running_time,
    GstClockTime duration, gboolean is_final, guint64 seq,
    const gchar *speaker, const gchar *model_id);

/* The first GstOmniTextMeta on @buffer, or NULL. */
GST_OMNI_META_API
GstOmniTextMeta *gst_buffer_get_omni_text_meta (GstBuffer *buffer);

/* The next GstOmniTextMeta on @buffer (start with *state = NULL), or NULL. */
GST_OMNI_META_API
GstOmniTextMeta *gst_buffer_iterate_omni_text_meta (GstBuffer *buffer,
    gpointer *state);

/* How many GstOmniTextMeta @buffer carries. */
GST_OMNI_META_API
guint gst_buffer_get_n_omni_text_metas (GstBuffer *buffer);

/* The @index-th GstOmniTextMeta on @buffer, or NULL (for bindings). */
GST_OMNI_META_API
GstOmniTextMeta *gst_buffer_get_nth_omni_text_meta (GstBuffer *buffer,
    guint index);

/* The first meta of @kind and @language (NULL: any) on @buffer, or NULL. */
GST_OMNI_META_API
GstOmniTextMeta *gst_buffer_find_omni_text_meta (GstBuffer *buffer,
    GstOmniTextKind kind, const gchar *language);

/* What the text is. */
GST_OMNI_META_API
GstOmniTextKind gst_omni_text_meta_get_kind (const GstOmniTextMeta *meta);

/* The UTF-8 text, owned by the meta (valid while the meta lives). */
GST_OMNI_META_API
const gchar *gst_omni_text_meta_get_text (const GstOmniTextMeta *meta);

/* BCP-47 tag of the text, or NULL; owned by the meta. */
GST_OMNI_META_API
const gchar *gst_omni_text_meta_get_language (const GstOmniTextMeta *meta);

/* BCP-47 tag of the source text or speech, or NULL; owned by the meta. */
GST_OMNI_META_API
const gchar *gst_omni_text_meta_get_source_language (const GstOmniTextMeta *meta);

/* PTS of the described media, or GST_CLOCK_TIME_NONE. */
GST_OMNI_META_API
GstClockTime gst_omni_text_meta_get_pts (const GstOmniTextMeta *meta);

/* Running time of the described media, or GST_CLOCK_TIME_NONE. */
GST_OMNI_META_API
GstClockTime gst_omni_text_meta_get_running_time (const GstOmniTextMeta *meta);

/* Duration of the described media, or GST_CLOCK_TIME_NONE. */
GST_OMNI_META_API
GstClockTime gst_omni_text_meta_get_duration (const GstOmniTextMeta *meta);

/* TRUE for a final result, FALSE for a partial one. */
GST_OMNI_META_API
gboolean gst_omni_text_meta_is_final (const GstOmniTextMeta *meta);

/* Sequence number of the described segment. */
GST_OMNI_META_API
guint64 gst_omni_text_meta_get_seq (const GstOmniTextMeta *meta);

/* Speaker label, or NULL; owned by the meta. */
GST_OMNI_META_API
const gchar *gst_omni_text_meta_get_speaker (const GstOmniTextMeta *meta);

/* Id of the model that made the text, or NULL; owned by the meta. */
GST_OMNI_META_API
const gchar *gst_omni_text_meta_get_model_id (const GstOmniTextMeta *meta);

/* A copy of the text that outlives the buffer; g_free() it. */
GST_OMNI_META_API
gchar *gst_omni_text_meta_dup_text (const GstOmniTextMeta *meta);

/* The meta as one line of JSON (schema in docs/meta.md); g_free() it. */
GST_OMNI_META_API
gchar *gst_omni_text_meta_to_json (const GstOmniTextMeta *meta);

/* Parses one JSON object and attaches the meta to a writable @buffer;
 * NULL and a GST_OMNI_META_ERROR naming the field on bad input. */
GST_OMNI_META_API
GstOmniTextMeta *gst_omni_text_meta_from_json (GstBuffer *buffer,
    const gchar *json, GError **error);

/* TRUE if @tag is shaped like a BCP-47 tag ("en", "zh-Hans-CN"). */
GST_OMNI_META_API
gboolean gst_omni_language_tag_is_valid (const gchar *tag);

G_END_DECLS

#endif /* __GST_OMNI_TEXT_META_H__ */
