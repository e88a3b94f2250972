/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "text/utf8.h"

/* Allowed range of the second byte after lead byte @b (Table 3-7); the
 * later continuation bytes are always 0x80..0xBF. Returns the sequence
 * length, or 0 if @b cannot start a sequence. */
static guint
lead_info (guint8 b, guint8 *lo, guint8 *hi)
{
  *lo = 0x80;
  *hi = 0xBF;
  if (b < 0x80)
    return 1;
  if (b >= 0xC2 && b <= 0xDF)
    return 2;
  if (b >= 0xE0 && b <= 0xEF) {
    if (b == 0xE0)
      *lo = 0xA0;
    else if (b == 0xED)
      *hi = 0x9F;
    return 3;
  }
  if (b >= 0xF0 && b <= 0xF4) {
    if (b == 0xF0)
      *lo = 0x90;
    else if (b == 0xF4)
      *hi = 0x8F;
    return 4;
  }
  return 0;
}

OmniUtf8Status
omni_utf8_scan (const guint8 *s, gsize n, gsize *consumed)
{
  guint8 lo, hi;
  guint need = lead_info (s[0], &lo, &hi);

  if (need == 0) {
    *consumed = 1;
    return OMNI_UTF8_INVALID;
  }
  for (guint k = 1; k < need; k++) {
    if (k >= n) {
      *consumed = k;
      return OMNI_UTF8_TRUNCATED;
    }
    if (s[k] < lo || s[k] > hi) {
      *consumed = k;
      return OMNI_UTF8_INVALID;
    }
    lo = 0x80;
    hi = 0xBF;
  }
  *consumed = need;
  return OMNI_UTF8_VALID;
}

void
omni_utf8_append_replace (GString *out, const guint8 *bytes, gsize len)
{
  gsize i = 0, run = 0;

  while (i < len) {
    gsize k;
    if (omni_utf8_scan (bytes + i, len - i, &k) == OMNI_UTF8_VALID) {
      i += k;
      continue;
    }
    g_string_append_len (out, (const char *) bytes + run, i - run);
    g_string_append (out, "\xEF\xBF\xBD");
    i += k;
    run = i;
  }
  g_string_append_len (out, (const char *) bytes + run, len - run);
}

gsize
omni_utf8_valid_prefix (const guint8 *bytes, gsize len)
{
  gsize i = 0;

  while (i < len) {
    gsize k;
    if (bytes[i] < 0x80) {
      i++;
      continue;
    }
    if (omni_utf8_scan (bytes + i, len - i, &k) != OMNI_UTF8_VALID)
      return i;
    i += k;
  }
  return len;
}
