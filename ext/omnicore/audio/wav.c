/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "audio/wav.h"
#include "omnicore.h"

#include <math.h>
#include <string.h>

#define TAG_PCM 0x0001
#define TAG_FLOAT 0x0003
#define TAG_EXTENSIBLE 0xFFFE

/* The 14 bytes after the format tag in every KSDATAFORMAT_SUBTYPE_* GUID. */
static const guint8 ks_guid_tail[14] = {
  0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71
};

static guint16
le16 (const guint8 *p)
{
  return (guint16) (p[0] | (p[1] << 8));
}

static guint32
le32 (const guint8 *p)
{
  return (guint32) p[0] | ((guint32) p[1] << 8) | ((guint32) p[2] << 16) |
         ((guint32) p[3] << 24);
}

static guint64
le64 (const guint8 *p)
{
  return (guint64) le32 (p) | ((guint64) le32 (p + 4) << 32);
}

/* A chunk id for messages: trailing spaces dropped, unprintables as '?'. */
static void
chunk_label (const guint8 *id, char label[5])
{
  for (int i = 0; i < 4; i++)
    label[i] = g_ascii_isprint (id[i]) ? (char) id[i] : '?';
  label[4] = '\0';
  for (int i = 3; i > 0 && label[i] == ' '; i--)
    label[i] = '\0';
}

/* Which encodings we read; the rest is UNSUPPORTED. */
static gboolean
check_encoding (const char *name, guint16 tag, const OmniWavInfo *info, GError **error)
{
  int bits = info->bits_per_sample;

  if (tag == TAG_PCM && (bits == 8 || bits == 16 || bits == 24 || bits == 32))
    return TRUE;
  if (tag == TAG_FLOAT && (bits == 32 || bits == 64))
    return TRUE;
  if (tag != TAG_PCM && tag != TAG_FLOAT)
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_UNSUPPORTED,
                 "%s: fmt chunk: format tag 0x%04x is not supported (expected 0x0001 PCM, "
                 "0x0003 IEEE float or 0xFFFE extensible with one of those)", name, tag);
  else
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_UNSUPPORTED,
                 "%s: fmt chunk: bits_per_sample %d is not supported for %s (expected %s)",
                 name, bits, tag == TAG_PCM ? "PCM" : "IEEE float",
                 tag == TAG_PCM ? "8, 16, 24 or 32" : "32 or 64");
  return FALSE;
}

/* WAVE_FORMAT_EXTENSIBLE: the real tag is in the sub-format GUID. */
static gboolean
parse_extensible (const char *name, const guint8 *p, guint32 size, guint16 *tag,
                  OmniWavInfo *info, GError **error)
{
  if (size < 40 || le16 (p + 16) < 22) {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_FORMAT,
                 "%s: fmt chunk: WAVE_FORMAT_EXTENSIBLE needs 40 bytes with cbSize >= 22 "
                 "(chunk is %u bytes, cbSize %u)", name, size, size >= 18 ? le16 (p + 16) : 0);
    return FALSE;
  }
  int valid = le16 (p + 18);
  if (valid > info->bits_per_sample) {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_FORMAT,
                 "%s: fmt chunk: wValidBitsPerSample %d exceeds bits_per_sample %d", name,
                 valid, info->bits_per_sample);
    return FALSE;
  }
  if (memcmp (p + 26, ks_guid_tail, sizeof ks_guid_tail) != 0) {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_UNSUPPORTED,
                 "%s: fmt chunk: SubFormat GUID is not a KSDATAFORMAT_SUBTYPE "
                 "(expected PCM or IEEE_FLOAT)", name);
    return FALSE;
  }
  info->valid_bits = valid > 0 ? valid : info->bits_per_sample;
  info->extensible = TRUE;
  *tag = le16 (p + 24);
  return TRUE;
}

static gboolean
parse_fmt (const char *name, const guint8 *p, guint32 size, OmniWavInfo *info, GError **error)
{
  if (size < 16) {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_FORMAT,
                 "%s: fmt chunk: size %u (expected at least 16)", name, size);
    return FALSE;
  }
  guint16 tag = le16 (p);
  info->n_channels = le16 (p + 2);
  info->sample_rate = (int) MIN (le32 (p + 4), (guint32) G_MAXINT);
  guint block_align = le16 (p + 12);
  info->bits_per_sample = le16 (p + 14);
  info->valid_bits = info->bits_per_sample;
  if (info->n_channels == 0) {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_FORMAT, "%s: fmt chunk: channels is 0 "
                 "(expected at least 1)", name);
    return FALSE;
  }
  if (info->sample_rate == 0) {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_FORMAT, "%s: fmt chunk: sample_rate is 0 "
                 "(expected a rate in Hz)", name);
    return FALSE;
  }
  if (tag == TAG_EXTENSIBLE && !parse_extensible (name, p, size, &tag, info, error))
    return FALSE;
  if (!check_encoding (name, tag, info, error))
    return FALSE;
  info->is_float = tag == TAG_FLOAT;
  guint expected = (guint) info->n_channels * (info->bits_per_sample / 8);
  if (block_align != expected) {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_FORMAT,
                 "%s: fmt chunk: block_align is %u (expected channels x bytes per sample "
                 "= %u)", name, block_align, expected);
    return FALSE;
  }
  return TRUE;
}

/* One sample of the data chunk as a double in [-1, 1). */
static double
read_sample (const guint8 *p, const OmniWavInfo *info)
{
  if (info->is_float) {
    if (info->bits_per_sample == 32) {
      guint32 u = le32 (p);
      float f;
      memcpy (&f, &u, sizeof f);
      return f;
    }
    guint64 u = le64 (p);
    double d;
    memcpy (&d, &u, sizeof d);
    return d;
  }
  switch (info->bits_per_sample) {
    case 8: return (p[0] - 128) / 128.0;
    case 16: return (gint16) le16 (p) / 32768.0;
    case 24: return (gint32) (le32 ((const guint8[]) { 0, p[0], p[1], p[2] })) / 2147483648.0;
    default: return (gint32) le32 (p) / 2147483648.0;
  }
}

/* Mixes each frame's channels to their mean. */
static float *
decode_data (const char *name, const guint8 *p, const OmniWavInfo *info, GError **error)
{
  int ch = info->n_channels, bytes = info->bits_per_sample / 8;
  float *out = g_try_new (float, MAX (info->n_frames, 1));

  if (out == NULL) {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_NO_MEMORY,
                 "%s: data chunk: no memory for %" G_GSIZE_FORMAT " samples", name,
                 info->n_frames);
    return NULL;
  }
  for (gsize i = 0; i < info->n_frames; i++) {
    double sum = 0.0;
    for (int c = 0; c < ch; c++) {
      double v = read_sample (p + (i * ch + c) * bytes, info);
      if (!isfinite (v)) {
        g_set_error (error, OMNI_ERROR, OMNI_ERROR_FORMAT,
                     "%s: data chunk: sample of frame %" G_GSIZE_FORMAT " channel %d is %s "
                     "(expected finite floats)", name, i, c, isnan (v) ? "NaN" : "infinite");
        g_free (out);
        return NULL;
      }
      sum += v;
    }
    out[i] = (float) (sum / ch);
  }
  return out;
}

float *
omni_wav_decode (const char *name, const guint8 *data, gsize len, OmniWavInfo *info,
                 GError **error)
{
  gboolean have_fmt = FALSE;

  memset (info, 0, sizeof *info);
  if (len < 12 || memcmp (data, "RIFF", 4) != 0 || memcmp (data + 8, "WAVE", 4) != 0) {
    g_set_error (error, OMNI_ERROR,
                 len >= 4 && memcmp (data, "RF64", 4) == 0 ? OMNI_ERROR_UNSUPPORTED
                                                           : OMNI_ERROR_FORMAT,
                 "%s: RIFF header: not a RIFF/WAVE file (expected \"RIFF\" size \"WAVE\" in "
                 "the first 12 bytes; RF64 is not supported)", name);
    return NULL;
  }

  gsize pos = 12;
  while (pos + 8 <= len) {
    const guint8 *id = data + pos;
    guint32 size = le32 (data + pos + 4);
    const guint8 *body = data + pos + 8;
    gsize left = len - pos - 8;

    if (size > left) {
      char label[5];
      chunk_label (id, label);
      g_set_error (error, OMNI_ERROR, OMNI_ERROR_FORMAT,
                   "%s: %s chunk: size %u runs past the end of the file (%" G_GSIZE_FORMAT
                   " bytes left)", name, label, size, left);
      return NULL;
    }
    if (memcmp (id, "fmt ", 4) == 0) {
      if (have_fmt) {
        g_set_error (error, OMNI_ERROR, OMNI_ERROR_FORMAT, "%s: fmt chunk: appears twice",
                     name);
        return NULL;
      }
      if (!parse_fmt (name, body, size, info, error))
        return NULL;
      have_fmt = TRUE;
    } else if (memcmp (id, "data", 4) == 0) {
      if (!have_fmt) {
        g_set_error (error, OMNI_ERROR, OMNI_ERROR_FORMAT,
                     "%s: data chunk: comes before any fmt chunk", name);
        return NULL;
      }
      gsize frame_bytes = (gsize) info->n_channels * (info->bits_per_sample / 8);
      if (size % frame_bytes != 0) {
        g_set_error (error, OMNI_ERROR, OMNI_ERROR_FORMAT,
                     "%s: data chunk: size %u is not a whole number of frames "
                     "(block_align %" G_GSIZE_FORMAT ")", name, size, frame_bytes);
        return NULL;
      }
      info->n_frames = size / frame_bytes;
      return decode_data (name, body, info, error);
    }
    pos += 8 + (gsize) size + (size & 1);
  }
  if (pos < len && pos + 8 > len)
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_FORMAT,
                 "%s: chunk header at byte %" G_GSIZE_FORMAT " is truncated (%" G_GSIZE_FORMAT
                 " of 8 bytes)%s", name, pos, len - pos, have_fmt ? "" : "; no fmt chunk");
  else
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_FORMAT, "%s: %s chunk: missing", name,
                 have_fmt ? "data" : "fmt");
  return NULL;
}

float *
omni_wav_read (const char *path, OmniWavInfo *info, GError **error)
{
  g_autoptr (GError) local = NULL;
  GMappedFile *file = g_mapped_file_new (path, FALSE, &local);

  memset (info, 0, sizeof *info);
  if (file == NULL) {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_IO, "%s: cannot open: %s", path,
                 local->message);
    return NULL;
  }
  gsize len = g_mapped_file_get_length (file);
  const guint8 *data = (const guint8 *) g_mapped_file_get_contents (file);
  static const guint8 empty[1] = { 0 };
  float *out = omni_wav_decode (path, data != NULL ? data : empty, len, info, error);
  g_mapped_file_unref (file);
  return out;
}
