/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* GstOmniTextMeta: add/read, iteration, copies and transforms, JSON. */
#include <gst/gst.h>
#include <gst/check/gstharness.h>

#include <string.h>

#include "gstomnitextmeta.h"

#define SEC GST_SECOND

/* One meta's fields, for building and comparing. */
typedef struct {
  GstOmniTextKind kind;
  const gchar *text;
  const gchar *language;
  const gchar *source_language;
  GstClockTime pts;
  GstClockTime running_time;
  GstClockTime duration;
  gboolean is_final;
  guint64 seq;
  const gchar *speaker;
  const gchar *model_id;
} Fields;

static const Fields full = {
  GST_OMNI_TEXT_KIND_TRANSCRIPT, "The quick brown fox.", "en", NULL,
  3 * SEC, 5 * SEC, 2 * SEC, TRUE, 7, "SPEAKER_00", "Qwen/Qwen3-Omni-30B-A3B"
};

/* Texts that trip up naive encoders: CJK, an emoji ZWJ family, RTL Arabic
 * with a diacritic, JSON escapes and control characters. */
static const Fields intl[] = {
  {GST_OMNI_TEXT_KIND_TRANSLATION, "敏捷的棕色狐狸跳过了懒狗。", "zh-Hans", "en",
      0, 0, 1500 * GST_MSECOND, FALSE, 0, NULL, NULL},
  {GST_OMNI_TEXT_KIND_CAPTION,
        "A family 👨‍👩‍👧‍👦 laughs; 🏳️‍🌈 waves.", "en-GB", NULL,
        G_MAXINT64, G_MAXINT64 - 1, 1, TRUE, G_MAXINT64, "", ""},
  {GST_OMNI_TEXT_KIND_TRANSLATION, "مَرْحَبًا بِالْعَالَم", "ar", "fr",
      GST_CLOCK_TIME_NONE, 12 * SEC, GST_CLOCK_TIME_NONE, TRUE, 42,
      "المتحدث", "qwen-mt"},
  {GST_OMNI_TEXT_KIND_ANSWER, "quote \" backslash \\ tab \t nl \n bell \a",
      NULL, NULL, GST_CLOCK_TIME_NONE, GST_CLOCK_TIME_NONE,
      GST_CLOCK_TIME_NONE, TRUE, 1, NULL, NULL},
  {GST_OMNI_TEXT_KIND_DESCRIPTION, "", "x-klingon", "i-default", 1, 2, 0,
      FALSE, 3, "日本語の話者", "Qwen/Qwen3-VL-2B-Instruct"},
};

static GstOmniTextMeta *
add_fields (GstBuffer *buf, const Fields *f)
{
  return gst_buffer_add_omni_text_meta (buf, f->kind, f->text, f->language,
      f->source_language, f->pts, f->running_time, f->duration, f->is_final,
      f->seq, f->speaker, f->model_id);
}

static void
assert_fields (const GstOmniTextMeta *m, const Fields *f)
{
  g_assert_nonnull (m);
  g_assert_cmpint (gst_omni_text_meta_get_kind (m), ==, f->kind);
  g_assert_cmpstr (gst_omni_text_meta_get_text (m), ==, f->text);
  g_assert_cmpstr (gst_omni_text_meta_get_language (m), ==, f->language);
  g_assert_cmpstr (gst_omni_text_meta_get_source_language (m), ==,
      f->source_language);
  g_assert_cmpuint (gst_omni_text_meta_get_pts (m), ==, f->pts);
  g_assert_cmpuint (gst_omni_text_meta_get_running_time (m), ==,
      f->running_time);
  g_assert_cmpuint (gst_omni_text_meta_get_duration (m), ==, f->duration);
  g_assert_cmpint (gst_omni_text_meta_is_final (m), ==, f->is_final);
  g_assert_cmpuint (gst_omni_text_meta_get_seq (m), ==, f->seq);
  g_assert_cmpstr (gst_omni_text_meta_get_speaker (m), ==, f->speaker);
  g_assert_cmpstr (gst_omni_text_meta_get_model_id (m), ==, f->model_id);
}

static void
test_add_and_read (void)
{
  GstBuffer *buf = gst_buffer_new ();
  gchar *text = g_strdup (full.text);
  Fields f = full;
  GstOmniTextMeta *m;
  gchar *dup;

  g_assert_null (gst_buffer_get_omni_text_meta (buf));
  f.text = text;
  m = add_fields (buf, &f);
  g_assert_true (m == gst_buffer_get_omni_text_meta (buf));
  g_assert_true (((GstMeta *) m)->info->api == GST_OMNI_TEXT_META_API_TYPE);
  g_assert_true (gst_buffer_get_meta (buf, GST_OMNI_TEXT_META_API_TYPE)
      == (GstMeta *) m);

  /* The meta keeps its own copy of every string. */
  g_assert_true (m->text != text);
  text[0] = 'X';
  g_free (text);
  assert_fields (m, &full);
  g_assert_cmpstr (m->text, ==, full.text);

  dup = gst_omni_text_meta_dup_text (m);
  g_assert_cmpstr (dup, ==, full.text);
  g_assert_true (dup != m->text);
  g_free (dup);
  gst_buffer_unref (buf);
}

static void
test_add_optional_absent (void)
{
  GstBuffer *buf = gst_buffer_new ();
  GstOmniTextMeta *m = gst_buffer_add_omni_text_meta (buf,
      GST_OMNI_TEXT_KIND_DESCRIPTION, "", NULL, NULL, GST_CLOCK_TIME_NONE,
      GST_CLOCK_TIME_NONE, GST_CLOCK_TIME_NONE, FALSE, 0, NULL, NULL);
  Fields f = { GST_OMNI_TEXT_KIND_DESCRIPTION, "", NULL, NULL,
    GST_CLOCK_TIME_NONE, GST_CLOCK_TIME_NONE, GST_CLOCK_TIME_NONE, FALSE, 0,
    NULL, NULL
  };

  assert_fields (m, &f);
  gst_buffer_unref (buf);
}

static void
test_iterate (void)
{
  GstBuffer *buf = gst_buffer_new ();
  GstOmniTextMeta *added[G_N_ELEMENTS (intl) + 1];
  GstOmniTextMeta *m;
  gpointer state = NULL;
  guint n = 0;

  g_assert_cmpuint (gst_buffer_get_n_omni_text_metas (buf), ==, 0);
  g_assert_null (gst_buffer_get_nth_omni_text_meta (buf, 0));
  g_assert_null (gst_buffer_iterate_omni_text_meta (buf, &state));

  added[0] = add_fields (buf, &full);
  /* An unrelated meta in between must be skipped by the iterator. */
  {
    GstCaps *ref = gst_caps_new_empty_simple ("timestamp/x-test");

    gst_buffer_add_reference_timestamp_meta (buf, ref, 1, 1);
    gst_caps_unref (ref);
  }
  for (guint i = 0; i < G_N_ELEMENTS (intl); i++)
    added[i + 1] = add_fields (buf, &intl[i]);

  state = NULL;
  while ((m = gst_buffer_iterate_omni_text_meta (buf, &state))) {
    if (n >= G_N_ELEMENTS (added))
      g_error ("iterator returned more metas than were added");
    g_assert_true (m == added[n]);
    assert_fields (m, n == 0 ? &full : &intl[n - 1]);
    n++;
  }
  g_assert_cmpuint (n, ==, G_N_ELEMENTS (added));
  g_assert_cmpuint (gst_buffer_get_n_omni_text_metas (buf), ==, n);
  for (guint i = 0; i < n; i++)
    g_assert_true (gst_buffer_get_nth_omni_text_meta (buf, i) == added[i]);
  g_assert_null (gst_buffer_get_nth_omni_text_meta (buf, n));
  g_assert_true (gst_buffer_get_omni_text_meta (buf) == added[0]);

  /* intl[0] and intl[2] are translations: zh-Hans, then ar. */
  g_assert_true (gst_buffer_find_omni_text_meta (buf,
          GST_OMNI_TEXT_KIND_TRANSLATION, NULL) == added[1]);
  g_assert_true (gst_buffer_find_omni_text_meta (buf,
          GST_OMNI_TEXT_KIND_TRANSLATION, "ar") == added[3]);
  g_assert_true (gst_buffer_find_omni_text_meta (buf,
          GST_OMNI_TEXT_KIND_TRANSLATION, "ZH-hans") == added[1]);
  g_assert_null (gst_buffer_find_omni_text_meta (buf,
          GST_OMNI_TEXT_KIND_TRANSLATION, "de"));
  g_assert_null (gst_buffer_find_omni_text_meta (buf,
          GST_OMNI_TEXT_KIND_ANSWER, "en"));
  gst_buffer_unref (buf);
}

static GstBuffer *
new_tagged_buffer (void)
{
  GstBuffer *buf = gst_buffer_new_allocate (NULL, 64, NULL);

  gst_buffer_memset (buf, 0, 0, 64);
  GST_BUFFER_PTS (buf) = full.pts;
  GST_BUFFER_DURATION (buf) = full.duration;
  add_fields (buf, &full);
  add_fields (buf, &intl[0]);
  return buf;
}

static void
assert_tagged (GstBuffer *buf)
{
  g_assert_cmpuint (gst_buffer_get_n_omni_text_metas (buf), ==, 2);
  assert_fields (gst_buffer_get_nth_omni_text_meta (buf, 0), &full);
  assert_fields (gst_buffer_get_nth_omni_text_meta (buf, 1), &intl[0]);
}

static void
test_buffer_copy (void)
{
  GstBuffer *buf = new_tagged_buffer ();
  GstBuffer *copy = gst_buffer_copy (buf);
  GstBuffer *deep = gst_buffer_copy_deep (buf);
  GstBuffer *region = gst_buffer_copy_region (buf, GST_BUFFER_COPY_ALL, 16,
      16);
  GstOmniTextMeta *a = gst_buffer_get_omni_text_meta (buf);
  GstOmniTextMeta *b = gst_buffer_get_omni_text_meta (copy);

  g_assert_true (a != b);
  g_assert_true (a->text != b->text);
  /* The copies own their strings: they outlive the original. */
  gst_buffer_unref (buf);
  assert_tagged (copy);
  assert_tagged (deep);
  assert_tagged (region);
  gst_buffer_unref (copy);
  gst_buffer_unref (deep);
  gst_buffer_unref (region);
}

/* Transforms other than copies (scale, resample, ...) copy the meta too:
 * its times are absolute and its text does not depend on the layout. */
static void
test_transform_other (void)
{
  GstBuffer *src = new_tagged_buffer ();
  GstBuffer *dest = gst_buffer_new ();
  const GstMetaInfo *info = GST_OMNI_TEXT_META_INFO;
  gpointer state = NULL;
  GstMeta *meta;

  while ((meta = gst_buffer_iterate_meta (src, &state)))
    g_assert_true (info->transform_func (dest, meta, src,
            g_quark_from_static_string ("gst-omni-test-resample"), NULL));
  assert_tagged (dest);
  gst_buffer_unref (src);
  gst_buffer_unref (dest);
}

static void
test_timestamp_change (void)
{
  GstBuffer *buf = new_tagged_buffer ();
  GstBuffer *shared = gst_buffer_ref (buf);

  /* A shared buffer made writable is copied; the meta goes along. */
  g_assert_false (gst_buffer_is_writable (buf));
  buf = gst_buffer_make_writable (buf);
  g_assert_true (buf != shared);
  GST_BUFFER_PTS (buf) = 100 * SEC;
  GST_BUFFER_DTS (buf) = 99 * SEC;
  GST_BUFFER_DURATION (buf) = 1;
  GST_BUFFER_OFFSET (buf) = 12345;
  assert_tagged (buf);
  assert_tagged (shared);

  /* Re-stamping in place leaves the meta (and its media times) alone. */
  GST_BUFFER_PTS (shared) = 0;
  assert_tagged (shared);

  /* Copying only the timestamps into a fresh buffer does not copy metas;
   * copying metadata does. */
  {
    GstBuffer *ts_only = gst_buffer_new ();
    GstBuffer *with_meta = gst_buffer_new ();

    g_assert_true (gst_buffer_copy_into (ts_only, buf,
            GST_BUFFER_COPY_TIMESTAMPS, 0, -1));
    g_assert_cmpuint (gst_buffer_get_n_omni_text_metas (ts_only), ==, 0);
    g_assert_true (gst_buffer_copy_into (with_meta, buf,
            GST_BUFFER_COPY_TIMESTAMPS | GST_BUFFER_COPY_META, 0, -1));
    assert_tagged (with_meta);
    g_assert_cmpuint (GST_BUFFER_PTS (with_meta), ==, 100 * SEC);
    gst_buffer_unref (ts_only);
    gst_buffer_unref (with_meta);
  }
  gst_buffer_unref (buf);
  gst_buffer_unref (shared);
}

/* Pushes a tagged buffer through @launch and checks the output keeps the
 * metas. */
static void
check_through (const gchar *launch, const gchar *src_caps)
{
  GstHarness *h = gst_harness_new_parse (launch);
  GstBuffer *in = gst_buffer_new_allocate (NULL, 4 * 480, NULL);
  GstBuffer *out;

  gst_buffer_memset (in, 0, 0, 4 * 480);
  GST_BUFFER_PTS (in) = 0;
  GST_BUFFER_DURATION (in) = 10 * GST_MSECOND;
  add_fields (in, &full);
  add_fields (in, &intl[0]);
  gst_harness_set_src_caps_str (h, src_caps);
  g_assert_cmpint (gst_harness_push (h, in), ==, GST_FLOW_OK);
  out = gst_harness_pull (h);
  g_assert_nonnull (out);
  assert_tagged (out);
  gst_buffer_unref (out);
  gst_harness_teardown (h);
}

static void
test_through_elements (void)
{
  const gchar *s16 = "audio/x-raw,format=S16LE,rate=48000,channels=2,"
      "layout=interleaved";

  check_through ("identity", s16);
  /* audioconvert keeps only metas without tags (or the audio tag): the
   * untagged meta crosses a real format conversion. */
  check_through ("audioconvert ! capsfilter "
      "caps=audio/x-raw,format=F32LE,channels=1", s16);
}

static void
test_probe_info (void)
{
  GstBuffer *buf = new_tagged_buffer ();
  GstBuffer *shared = gst_buffer_ref (buf);
  GstPadProbeInfo info = { 0, };
  GstOmniTextMeta *m;

  info.type = GST_PAD_PROBE_TYPE_BUFFER | GST_PAD_PROBE_TYPE_PUSH;
  info.data = buf;
  m = gst_pad_probe_info_add_omni_text_meta (&info,
      GST_OMNI_TEXT_KIND_ANSWER, "42", "en", NULL, 1, 2, 3, TRUE, 4, NULL,
      NULL);
  g_assert_nonnull (m);
  /* The shared buffer was replaced by a writable copy that has all three. */
  g_assert_true (info.data != shared);
  g_assert_cmpuint (gst_buffer_get_n_omni_text_metas (info.data), ==, 3);
  g_assert_true (gst_buffer_get_nth_omni_text_meta (info.data, 2) == m);
  assert_tagged (shared);
  g_assert_cmpuint (gst_buffer_get_n_omni_text_metas (shared), ==, 2);

  /* A buffer held once is tagged in place. */
  buf = info.data;
  m = gst_pad_probe_info_add_omni_text_meta (&info,
      GST_OMNI_TEXT_KIND_CAPTION, "music", NULL, NULL, GST_CLOCK_TIME_NONE,
      GST_CLOCK_TIME_NONE, GST_CLOCK_TIME_NONE, FALSE, 5, NULL, NULL);
  g_assert_nonnull (m);
  g_assert_true (info.data == buf);
  g_assert_cmpuint (gst_buffer_get_n_omni_text_metas (buf), ==, 4);
  gst_buffer_unref (buf);
  gst_buffer_unref (shared);
}

static void
assert_json_round_trip (const Fields *f)
{
  GstBuffer *src = gst_buffer_new ();
  GstBuffer *dst = gst_buffer_new ();
  GError *error = NULL;
  gchar *json, *json2;
  GstOmniTextMeta *m;

  json = gst_omni_text_meta_to_json (add_fields (src, f));
  g_assert_nonnull (json);
  g_assert_true (g_utf8_validate (json, -1, NULL));
  m = gst_omni_text_meta_from_json (dst, json, &error);
  g_assert_no_error (error);
  assert_fields (m, f);
  /* Writing the parsed meta again gives the same text. */
  json2 = gst_omni_text_meta_to_json (m);
  g_assert_cmpstr (json, ==, json2);
  g_free (json);
  g_free (json2);
  gst_buffer_unref (src);
  gst_buffer_unref (dst);
}

static void
test_json_round_trip (void)
{
  assert_json_round_trip (&full);
  for (guint i = 0; i < G_N_ELEMENTS (intl); i++)
    assert_json_round_trip (&intl[i]);
}

/* The exact output is the documented schema (docs/meta.md): field names,
 * order, null for absent values, nanoseconds as integers. */
static void
test_json_schema (void)
{
  GstBuffer *buf = gst_buffer_new ();
  gchar *json;

  json = gst_omni_text_meta_to_json (add_fields (buf, &full));
  g_assert_cmpstr (json, ==, "{\"kind\":\"transcript\","
      "\"text\":\"The quick brown fox.\",\"language\":\"en\","
      "\"source_language\":null,\"pts\":3000000000,"
      "\"running_time\":5000000000,\"duration\":2000000000,\"final\":true,"
      "\"seq\":7,\"speaker\":\"SPEAKER_00\","
      "\"model_id\":\"Qwen/Qwen3-Omni-30B-A3B\"}");
  g_free (json);
  json = gst_omni_text_meta_to_json (add_fields (buf, &intl[3]));
  g_assert_cmpstr (json, ==, "{\"kind\":\"answer\","
      "\"text\":\"quote \\\" backslash \\\\ tab \\t nl \\n bell \\u0007\","
      "\"language\":null,\"source_language\":null,\"pts\":null,"
      "\"running_time\":null,\"duration\":null,\"final\":true,\"seq\":1,"
      "\"speaker\":null,\"model_id\":null}");
  g_free (json);
  gst_buffer_unref (buf);
}

static void
test_json_optional (void)
{
  GstBuffer *buf = gst_buffer_new ();
  GError *error = NULL;
  GstOmniTextMeta *m;
  Fields minimal = { GST_OMNI_TEXT_KIND_CAPTION, "", NULL, NULL,
    GST_CLOCK_TIME_NONE, GST_CLOCK_TIME_NONE, GST_CLOCK_TIME_NONE, TRUE, 0,
    NULL, NULL
  };
  Fields explicit_nulls = minimal;

  /* Absent optional fields take their defaults. */
  m = gst_omni_text_meta_from_json (buf,
      "{\"kind\":\"caption\",\"text\":\"\"}", &error);
  g_assert_no_error (error);
  assert_fields (m, &minimal);

  /* Explicit nulls, extra members (ignored), whitespace, escapes. */
  explicit_nulls.text = "é😀";
  explicit_nulls.is_final = FALSE;
  explicit_nulls.seq = 9;
  m = gst_omni_text_meta_from_json (buf,
      " {\n \"kind\" : \"caption\", \"text\": \"\\u00e9\\ud83d\\ude00\","
      " \"language\": null, \"source_language\": null, \"pts\": null,"
      " \"running_time\": null, \"duration\": null, \"final\": false,"
      " \"seq\": 9, \"speaker\": null, \"model_id\": null,"
      " \"confidence\": 0.5, \"extra\": {\"nested\": [1, 2]} }\n", &error);
  g_assert_no_error (error);
  assert_fields (m, &explicit_nulls);

  /* Empty strings stay empty strings, distinct from null. */
  m = gst_omni_text_meta_from_json (buf, "{\"kind\":\"answer\",\"text\":\"a\","
      "\"speaker\":\"\",\"model_id\":\"\"}", &error);
  g_assert_no_error (error);
  g_assert_cmpstr (m->speaker, ==, "");
  g_assert_cmpstr (m->model_id, ==, "");
  g_assert_cmpuint (gst_buffer_get_n_omni_text_metas (buf), ==, 3);
  gst_buffer_unref (buf);
}

typedef struct {
  const gchar *json;
  GstOmniMetaError code;
  const gchar *needle;          /* must appear in the message */
} BadJson;

static const BadJson bad_json[] = {
  /* not JSON */
  {"", GST_OMNI_META_ERROR_SYNTAX, "got an empty document"},
  {" \n\t", GST_OMNI_META_ERROR_SYNTAX, "got an empty document"},
  {"hello", GST_OMNI_META_ERROR_SYNTAX, "not valid JSON"},
  {"{\"kind\":\"caption\",\"text\":\"a\"", GST_OMNI_META_ERROR_SYNTAX,
      "not valid JSON"},
  {"{\"kind\":\"caption\" \"text\":\"a\"}", GST_OMNI_META_ERROR_SYNTAX,
      "not valid JSON"},
  /* not an object */
  {"[{\"kind\":\"caption\",\"text\":\"a\"}]", GST_OMNI_META_ERROR_SYNTAX,
      "expected an object at the top level, got an array"},
  {"\"caption\"", GST_OMNI_META_ERROR_SYNTAX, "got a string"},
  {"42", GST_OMNI_META_ERROR_SYNTAX, "got an integer"},
  {"null", GST_OMNI_META_ERROR_SYNTAX, "got null"},
  /* missing required fields */
  {"{\"kind\":\"caption\"}", GST_OMNI_META_ERROR_MISSING_FIELD,
      "field \"text\": expected a string, but it is missing"},
  {"{\"text\":\"a\"}", GST_OMNI_META_ERROR_MISSING_FIELD,
      "field \"kind\": expected one of"},
  {"{\"kind\":\"caption\",\"text\":null}", GST_OMNI_META_ERROR_INVALID_FIELD,
      "field \"text\": expected a string, got null"},
  /* wrong types */
  {"{\"kind\":1,\"text\":\"a\"}", GST_OMNI_META_ERROR_INVALID_FIELD,
      "field \"kind\": expected one of \"transcript\", \"caption\", "
        "\"translation\", \"description\", \"answer\", got an integer"},
  {"{\"kind\":\"caption\",\"text\":5}", GST_OMNI_META_ERROR_INVALID_FIELD,
      "field \"text\": expected a string, got an integer"},
  {"{\"kind\":\"caption\",\"text\":[\"a\"]}",
      GST_OMNI_META_ERROR_INVALID_FIELD, "field \"text\": expected a string, "
        "got an array"},
  {"{\"kind\":\"caption\",\"text\":\"a\",\"pts\":\"1000\"}",
      GST_OMNI_META_ERROR_INVALID_FIELD, "field \"pts\": expected a "
        "non-negative integer (nanoseconds) or null, got a string"},
  {"{\"kind\":\"caption\",\"text\":\"a\",\"duration\":1.5}",
      GST_OMNI_META_ERROR_INVALID_FIELD, "field \"duration\": expected a "
        "non-negative integer (nanoseconds) or null, got a fractional number"},
  {"{\"kind\":\"caption\",\"text\":\"a\",\"pts\":1e9}",
      GST_OMNI_META_ERROR_INVALID_FIELD, "field \"pts\": expected a "
        "non-negative integer (nanoseconds) or null, got a fractional number"},
  {"{\"kind\":\"caption\",\"text\":\"a\",\"running_time\":-1}",
      GST_OMNI_META_ERROR_INVALID_FIELD, "field \"running_time\": expected a "
        "non-negative integer (nanoseconds) or null, got -1"},
  {"{\"kind\":\"caption\",\"text\":\"a\",\"pts\":true}",
      GST_OMNI_META_ERROR_INVALID_FIELD, "field \"pts\": expected a "
        "non-negative integer (nanoseconds) or null, got a boolean"},
  {"{\"kind\":\"caption\",\"text\":\"a\",\"final\":\"yes\"}",
      GST_OMNI_META_ERROR_INVALID_FIELD, "field \"final\": expected a "
        "boolean, got a string"},
  {"{\"kind\":\"caption\",\"text\":\"a\",\"final\":null}",
      GST_OMNI_META_ERROR_INVALID_FIELD, "field \"final\": expected a "
        "boolean, got null"},
  {"{\"kind\":\"caption\",\"text\":\"a\",\"seq\":null}",
      GST_OMNI_META_ERROR_INVALID_FIELD, "field \"seq\": expected a "
        "non-negative integer, got null"},
  {"{\"kind\":\"caption\",\"text\":\"a\",\"seq\":-3}",
      GST_OMNI_META_ERROR_INVALID_FIELD, "field \"seq\": expected a "
        "non-negative integer, got -3"},
  {"{\"kind\":\"caption\",\"text\":\"a\",\"language\":5}",
      GST_OMNI_META_ERROR_INVALID_FIELD, "field \"language\": expected a "
        "string or null, got an integer"},
  {"{\"kind\":\"caption\",\"text\":\"a\",\"speaker\":{}}",
      GST_OMNI_META_ERROR_INVALID_FIELD, "field \"speaker\": expected a "
        "string or null, got an object"},
  {"{\"kind\":\"caption\",\"text\":\"a\",\"model_id\":false}",
      GST_OMNI_META_ERROR_INVALID_FIELD, "field \"model_id\": expected a "
        "string or null, got a boolean"},
  /* values out of range */
  {"{\"kind\":\"subtitle\",\"text\":\"a\"}", GST_OMNI_META_ERROR_INVALID_FIELD,
      "field \"kind\": expected one of \"transcript\", \"caption\", "
        "\"translation\", \"description\", \"answer\", got \"subtitle\""},
  {"{\"kind\":\"Transcript\",\"text\":\"a\"}",
      GST_OMNI_META_ERROR_INVALID_FIELD, "got \"Transcript\""},
  {"{\"kind\":\"caption\",\"text\":\"a\",\"language\":\"en_US\"}",
      GST_OMNI_META_ERROR_INVALID_FIELD, "field \"language\": expected a "
        "BCP-47 language tag"},
  {"{\"kind\":\"caption\",\"text\":\"a\",\"source_language\":\"\"}",
      GST_OMNI_META_ERROR_INVALID_FIELD, "field \"source_language\": "
        "expected a BCP-47 language tag"},
  {"{\"kind\":\"caption\",\"text\":\"a\",\"language\":\"englishlanguage\"}",
      GST_OMNI_META_ERROR_INVALID_FIELD, "got \"englishlanguage\""},
};

/* Invalid UTF-8 inside a JSON string, at the top level and in a field. */
static const gchar *bad_utf8[] = {
  "{\"kind\":\"caption\",\"text\":\"ab\xff\xfe\"}",
  "{\"kind\":\"caption\",\"text\":\"a\",\"speaker\":\"\xc3\x28\"}",
  "{\"kind\":\"caption\",\"text\":\"\xed\xa0\x80\"}",
  "\xef\xbb\xbf\xff{}",
};

static void
test_json_malformed (void)
{
  GstBuffer *buf = gst_buffer_new ();

  for (guint i = 0; i < G_N_ELEMENTS (bad_json); i++) {
    GError *error = NULL;

    g_test_message ("case %u: %s", i, bad_json[i].json);
    g_assert_null (gst_omni_text_meta_from_json (buf, bad_json[i].json,
            &error));
    g_assert_error (error, GST_OMNI_META_ERROR, (gint) bad_json[i].code);
    if (!strstr (error->message, bad_json[i].needle))
      g_error ("case %u: message \"%s\" lacks \"%s\"", i, error->message,
          bad_json[i].needle);
    g_clear_error (&error);
  }
  for (guint i = 0; i < G_N_ELEMENTS (bad_utf8); i++) {
    GError *error = NULL;

    g_assert_null (gst_omni_text_meta_from_json (buf, bad_utf8[i], &error));
    g_assert_nonnull (error);
    g_assert_true (error->domain == GST_OMNI_META_ERROR);
    g_assert_true (g_utf8_validate (error->message, -1, NULL));
    g_test_message ("bad UTF-8 %u: %s", i, error->message);
    g_clear_error (&error);
  }
  /* Nothing was attached by any failed parse. */
  g_assert_cmpuint (gst_buffer_get_n_omni_text_metas (buf), ==, 0);
  gst_buffer_unref (buf);
}

/* Invalid UTF-8 is located by byte offset; a lone surrogate written as an
 * escape gets past the byte check and is caught on its field. */
static void
test_json_bad_utf8_located (void)
{
  GstBuffer *buf = gst_buffer_new ();
  GError *error = NULL;

  g_assert_null (gst_omni_text_meta_from_json (buf, bad_utf8[1], &error));
  g_assert_error (error, GST_OMNI_META_ERROR, GST_OMNI_META_ERROR_SYNTAX);
  g_assert_nonnull (strstr (error->message, "invalid byte sequence at byte 40"));
  g_clear_error (&error);

  g_assert_null (gst_omni_text_meta_from_json (buf,
          "{\"kind\":\"caption\",\"text\":\"a\\ud800b\"}", &error));
  g_assert_error (error, GST_OMNI_META_ERROR,
      GST_OMNI_META_ERROR_INVALID_FIELD);
  g_assert_nonnull (strstr (error->message,
          "field \"text\": expected valid UTF-8 text"));
  g_clear_error (&error);
  g_assert_cmpuint (gst_buffer_get_n_omni_text_metas (buf), ==, 0);
  gst_buffer_unref (buf);
}

#define EXPECT_CRITICAL(call) G_STMT_START {                            \
    g_test_expect_message ("GstOmniMeta", G_LOG_LEVEL_CRITICAL, "*");   \
    g_assert_null (call);                                               \
    g_test_assert_expected_messages ();                                 \
  } G_STMT_END

static void
test_add_bad_args (void)
{
  GstBuffer *buf = gst_buffer_new ();
  GstBuffer *shared;
  const GstOmniTextKind tr = GST_OMNI_TEXT_KIND_TRANSCRIPT;
  const GstClockTime none = GST_CLOCK_TIME_NONE;

  EXPECT_CRITICAL (gst_buffer_add_omni_text_meta (buf, tr, NULL, NULL, NULL,
          none, none, none, TRUE, 0, NULL, NULL));
  EXPECT_CRITICAL (gst_buffer_add_omni_text_meta (buf, tr, "a\xff", NULL,
          NULL, none, none, none, TRUE, 0, NULL, NULL));
  EXPECT_CRITICAL (gst_buffer_add_omni_text_meta (buf, (GstOmniTextKind) 99,
          "a", NULL, NULL, none, none, none, TRUE, 0, NULL, NULL));
  EXPECT_CRITICAL (gst_buffer_add_omni_text_meta (buf, tr, "a", "en_US",
          NULL, none, none, none, TRUE, 0, NULL, NULL));
  EXPECT_CRITICAL (gst_buffer_add_omni_text_meta (buf, tr, "a", NULL, "",
          none, none, none, TRUE, 0, NULL, NULL));
  EXPECT_CRITICAL (gst_buffer_add_omni_text_meta (buf, tr, "a", NULL, NULL,
          (GstClockTime) G_MAXINT64 + 1, none, none, TRUE, 0, NULL, NULL));
  EXPECT_CRITICAL (gst_buffer_add_omni_text_meta (buf, tr, "a", NULL, NULL,
          none, none, none, TRUE, G_MAXUINT64, NULL, NULL));
  EXPECT_CRITICAL (gst_buffer_add_omni_text_meta (buf, tr, "a", NULL, NULL,
          none, none, none, TRUE, 0, "\xc0\x80", NULL));
  EXPECT_CRITICAL (gst_buffer_add_omni_text_meta (buf, tr, "a", NULL, NULL,
          none, none, none, TRUE, 0, NULL, "\xe2\x82"));
  EXPECT_CRITICAL (gst_omni_text_meta_from_json (buf, NULL, NULL));

  shared = gst_buffer_ref (buf);
  EXPECT_CRITICAL (gst_buffer_add_omni_text_meta (buf, tr, "a", NULL, NULL,
          none, none, none, TRUE, 0, NULL, NULL));
  EXPECT_CRITICAL (gst_omni_text_meta_from_json (buf,
          "{\"kind\":\"caption\",\"text\":\"a\"}", NULL));
  gst_buffer_unref (shared);

  g_assert_cmpuint (gst_buffer_get_n_omni_text_metas (buf), ==, 0);
  gst_buffer_unref (buf);
}

static void
test_kind_strings (void)
{
  static const gchar *nicks[] = { "transcript", "caption", "translation",
    "description", "answer"
  };
  GEnumClass *klass = g_type_class_ref (GST_TYPE_OMNI_TEXT_KIND);
  GstOmniTextKind kind = GST_OMNI_TEXT_KIND_ANSWER;

  g_assert_true (G_TYPE_IS_ENUM (GST_TYPE_OMNI_TEXT_KIND));
  g_assert_cmpstr (g_type_name (GST_TYPE_OMNI_TEXT_KIND), ==,
      "GstOmniTextKind");
  g_assert_cmpuint (klass->n_values, ==, G_N_ELEMENTS (nicks));
  for (guint i = 0; i < G_N_ELEMENTS (nicks); i++) {
    g_assert_cmpstr (gst_omni_text_kind_to_string (i), ==, nicks[i]);
    g_assert_cmpstr (g_enum_get_value (klass, i)->value_nick, ==, nicks[i]);
    g_assert_true (gst_omni_text_kind_from_string (nicks[i], &kind));
    g_assert_cmpint (kind, ==, i);
  }
  g_type_class_unref (klass);
  g_assert_null (gst_omni_text_kind_to_string ((GstOmniTextKind) 5));
  g_assert_null (gst_omni_text_kind_to_string ((GstOmniTextKind) - 1));
  kind = GST_OMNI_TEXT_KIND_CAPTION;
  g_assert_false (gst_omni_text_kind_from_string ("TRANSCRIPT", &kind));
  g_assert_false (gst_omni_text_kind_from_string ("", &kind));
  g_assert_cmpint (kind, ==, GST_OMNI_TEXT_KIND_CAPTION);
  g_assert_true (G_TYPE_IS_ENUM (GST_TYPE_OMNI_META_ERROR));
}

static void
test_language_tags (void)
{
  static const gchar *good[] = { "en", "zh-Hans-CN", "pt-BR", "yue",
    "x-klingon", "sr-Latn-RS", "de-CH-1901", "es-419", "abcdefgh"
  };
  static const gchar *bad[] = { "", "en_US", "-en", "en-", "en--US", "1en",
    "abcdefghi", "en-abcdefghi", "e n", "ü", "en.US"
  };

  g_assert_false (gst_omni_language_tag_is_valid (NULL));
  for (guint i = 0; i < G_N_ELEMENTS (good); i++)
    g_assert_true (gst_omni_language_tag_is_valid (good[i]));
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++) {
    g_test_message ("%s", bad[i]);
    g_assert_false (gst_omni_language_tag_is_valid (bad[i]));
  }
}

static void
test_api_type (void)
{
  const GstMetaInfo *info = gst_omni_text_meta_get_info ();

  g_assert_nonnull (info);
  g_assert_true (info == GST_OMNI_TEXT_META_INFO);
  g_assert_true (info->api == GST_OMNI_TEXT_META_API_TYPE);
  g_assert_cmpstr (g_type_name (info->api), ==, "GstOmniTextMetaAPI");
  g_assert_true (gst_meta_get_info ("GstOmniTextMeta") == info);
  g_assert_cmpuint (info->size, ==, sizeof (GstOmniTextMeta));
  /* No tags: media converters keep the meta. */
  g_assert_null (gst_meta_api_type_get_tags (info->api));
}

int
main (int argc, char **argv)
{
  int ret;

  gst_init (&argc, &argv);
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/meta/api-type", test_api_type);
  g_test_add_func ("/meta/kind-strings", test_kind_strings);
  g_test_add_func ("/meta/language-tags", test_language_tags);
  g_test_add_func ("/meta/add-and-read", test_add_and_read);
  g_test_add_func ("/meta/add-optional-absent", test_add_optional_absent);
  g_test_add_func ("/meta/add-bad-args", test_add_bad_args);
  g_test_add_func ("/meta/iterate", test_iterate);
  g_test_add_func ("/meta/buffer-copy", test_buffer_copy);
  g_test_add_func ("/meta/transform-other", test_transform_other);
  g_test_add_func ("/meta/timestamp-change", test_timestamp_change);
  g_test_add_func ("/meta/through-elements", test_through_elements);
  g_test_add_func ("/meta/probe-info", test_probe_info);
  g_test_add_func ("/meta/json/round-trip", test_json_round_trip);
  g_test_add_func ("/meta/json/schema", test_json_schema);
  g_test_add_func ("/meta/json/optional", test_json_optional);
  g_test_add_func ("/meta/json/malformed", test_json_malformed);
  g_test_add_func ("/meta/json/bad-utf8-located",
      test_json_bad_utf8_located);
  ret = g_test_run ();
  gst_deinit ();
  return ret;
}
