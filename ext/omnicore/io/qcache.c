/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The quantized-weight cache file: a 128-byte header, an index and the
 * tensors' data, each 64-byte aligned, all little-endian. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <glib/gstdio.h>
#include "omnicore.h"
#include "quant.h"
#include "io/qcache.h"

static const char qcache_magic[8] = { 'G', 'S', 'T', 'O', 'M', 'N', 'I', 'Q' };
#define BYTE_ORDER_MARK 0x01020304u
#define MAX_NAME 1024
#define MAX_TENSORS (1u << 20)

/* The header as it is laid out in the file (natural alignment, no padding). */
typedef struct {
  char magic[8];
  guint32 byte_order;
  guint32 version;
  guint32 block_version;
  guint32 n_tensors;
  char quant[8];
  guint64 file_size;
  guint64 index_offset;
  guint64 index_size;
  guint64 data_offset;
  guint8 fingerprint[32];
  guint8 index_sha256[32];
} Header;

G_STATIC_ASSERT (sizeof (Header) == OMNI_QCACHE_HEADER_SIZE);

/* An index entry's fixed part, followed by shape[n_dims] (int64) and the
 * name, padded to 8 bytes. */
typedef struct {
  guint32 name_len;
  guint32 n_dims;
  char dtype[8];
  guint64 offset;
  guint64 n_bytes;
} Entry;

struct _OmniQCache {
  char *path;
  void *map;
  size_t size;
  OmniQCacheTensor *tensors;
  char **names;
  guint n;
  GHashTable *by_name;  /* name -> OmniQCacheTensor * */
};

static size_t
align_up (size_t v, size_t a)
{
  return (v + a - 1) / a * a;
}

/* ---- fingerprint and paths ---- */

static gboolean
is_weight_file (const char *name)
{
  return g_str_has_suffix (name, ".safetensors") || strcmp (name, "model.safetensors.index.json") == 0;
}

static int
compare_names (gconstpointer a, gconstpointer b)
{
  return strcmp (*(char *const *) a, *(char *const *) b);
}

gboolean
omni_qcache_fingerprint (const char *dir, OmniQCacheFingerprint *fp, GError **error)
{
  g_autoptr (GDir) d = g_dir_open (dir, 0, error);
  g_autoptr (GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GChecksum) sum = g_checksum_new (G_CHECKSUM_SHA256);
  const char *name;
  gsize len = sizeof fp->bytes;

  if (!d)
    return FALSE;
  while ((name = g_dir_read_name (d)))
    if (is_weight_file (name))
      g_ptr_array_add (names, g_strdup (name));
  g_ptr_array_sort (names, compare_names);
  for (guint i = 0; i < names->len; i++) {
    g_autofree char *path = g_build_filename (dir, names->pdata[i], NULL);
    g_autofree char *line = NULL;
    struct stat s;

    if (stat (path, &s) != 0) {
      int err = errno;
      g_set_error (error, OMNI_ERROR, OMNI_ERROR_IO, "%s: %s", path, g_strerror (err));
      return FALSE;
    }
    line = g_strdup_printf ("%s\n%" G_GINT64_FORMAT "\n%" G_GINT64_FORMAT ".%09ld\n",
                            (char *) names->pdata[i], (gint64) s.st_size, (gint64) s.st_mtim.tv_sec,
                            (long) s.st_mtim.tv_nsec);
    g_checksum_update (sum, (const guchar *) line, -1);
  }
  g_checksum_get_digest (sum, fp->bytes, &len);
  return TRUE;
}

gboolean
omni_qcache_enabled (void)
{
  const char *env = g_getenv ("OMNI_QCACHE");

  return !(env && (strcmp (env, "0") == 0 || g_ascii_strcasecmp (env, "off") == 0
                   || g_ascii_strcasecmp (env, "no") == 0));
}

/* The snapshot's identity in shared cache dirs: a hash of its real path. */
static char *
snapshot_hash (const char *dir)
{
  char buf[PATH_MAX];
  const char *real = realpath (dir, buf) ? buf : dir;
  g_autofree char *sum = g_compute_checksum_for_string (G_CHECKSUM_SHA256, real, -1);

  return g_strndup (sum, 16);
}

char **
omni_qcache_paths (const char *dir, const char *part, const char *quant)
{
  g_autofree char *file = g_strdup_printf ("%s-%s.omniq", part, quant);
  g_autofree char *hash = snapshot_hash (dir);
  const char *env = g_getenv ("OMNI_CACHE_DIR");
  GStrvBuilder *b = g_strv_builder_new ();
  char **out;

  char *p[2] = { NULL, NULL };

  if (env && *env) {
    p[0] = g_build_filename (env, hash, file, NULL);
  } else {
    p[0] = g_build_filename (dir, ".gst-omni", file, NULL);
    p[1] = g_build_filename (g_get_user_cache_dir (), "gst-omni", hash, file, NULL);
  }
  for (int i = 0; i < 2 && p[i]; i++) {
    g_strv_builder_add (b, p[i]);
    g_free (p[i]);
  }
  out = g_strv_builder_end (b);
  g_strv_builder_unref (b);
  return out;
}

/* ---- reading ---- */

static gboolean
fail (GError **error, int code, const char *path, const char *fmt, ...) G_GNUC_PRINTF (4, 5);

static gboolean
fail (GError **error, int code, const char *path, const char *fmt, ...)
{
  va_list ap;
  g_autofree char *msg = NULL;

  va_start (ap, fmt);
  msg = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  g_set_error (error, OMNI_ERROR, code, "quantized-weight cache %s: %s", path, msg);
  return FALSE;
}

static int
dtype_from_cache_name (const char *name)
{
  for (int t = 0; t < OMNI_DTYPE_COUNT; t++)
    if (strcmp (name, omni_dtype_name ((OmniDType) t)) == 0)
      return t;
  return -1;
}

/* A stale file (other version, quant or source) is expected after an
 * upgrade or a new download: UNSUPPORTED, so the caller logs it quietly. */
static gboolean
check_header (const Header *h, const char *path, size_t size, const char *quant,
              const OmniQCacheFingerprint *fp, GError **error)
{
  char q[sizeof h->quant + 1] = { 0 };

  if (memcmp (h->magic, qcache_magic, sizeof qcache_magic) != 0)
    return fail (error, OMNI_ERROR_FORMAT, path, "wrong magic; expected \"GSTOMNIQ\"");
  if (h->byte_order != BYTE_ORDER_MARK)
    return fail (error, OMNI_ERROR_UNSUPPORTED, path, "written on a machine of another byte order");
  if (h->version != OMNI_QCACHE_VERSION || h->block_version != OMNI_QCACHE_BLOCK_VERSION)
    return fail (error, OMNI_ERROR_UNSUPPORTED, path,
                 "format version %u / block version %u; this build reads %u / %u", h->version,
                 h->block_version, OMNI_QCACHE_VERSION, OMNI_QCACHE_BLOCK_VERSION);
  memcpy (q, h->quant, sizeof h->quant);
  if (strcmp (q, quant) != 0)
    return fail (error, OMNI_ERROR_UNSUPPORTED, path, "holds quant \"%s\"; expected \"%s\"", q, quant);
  if (memcmp (h->fingerprint, fp->bytes, sizeof fp->bytes) != 0)
    return fail (error, OMNI_ERROR_UNSUPPORTED, path,
                 "made from other checkpoint files (their size or time changed)");
  if (h->file_size != size)
    return fail (error, OMNI_ERROR_FORMAT, path, "is %" G_GSIZE_FORMAT " bytes; the header says %"
                 G_GUINT64_FORMAT " (truncated or grown)", size, h->file_size);
  if (h->n_tensors > MAX_TENSORS || h->index_offset != sizeof (Header)
      || h->index_size > size - h->index_offset || h->data_offset < h->index_offset + h->index_size
      || h->data_offset > size || h->data_offset % OMNI_QCACHE_ALIGN)
    return fail (error, OMNI_ERROR_FORMAT, path, "index or data section out of the file's bounds");
  return TRUE;
}

static gboolean
check_index_hash (const Header *h, const guint8 *base, const char *path, GError **error)
{
  g_autoptr (GChecksum) sum = g_checksum_new (G_CHECKSUM_SHA256);
  guint8 digest[32];
  gsize len = sizeof digest;

  g_checksum_update (sum, base + h->index_offset, h->index_size);
  g_checksum_get_digest (sum, digest, &len);
  if (memcmp (digest, h->index_sha256, sizeof digest) != 0)
    return fail (error, OMNI_ERROR_FORMAT, path, "the index does not match its checksum");
  return TRUE;
}

/* Parses entry @i at *@at (advanced past it) into @t, checking every field
 * against the file: dtype, dims, size for the shape, aligned in-bounds data. */
static gboolean
parse_entry (OmniQCache *c, const Header *h, size_t *at, guint i, GError **error)
{
  const guint8 *base = c->map;
  size_t end = h->index_offset + h->index_size, need;
  OmniQCacheTensor *t = &c->tensors[i];
  char dt[sizeof ((Entry *) 0)->dtype + 1] = { 0 };
  Entry e;
  int dtype;
  int64_t rows = 1;

  if (end - *at < sizeof e)
    return fail (error, OMNI_ERROR_FORMAT, c->path, "index entry %u runs past the index", i);
  memcpy (&e, base + *at, sizeof e);
  *at += sizeof e;
  memcpy (dt, e.dtype, sizeof e.dtype);
  dtype = dtype_from_cache_name (dt);
  if (e.n_dims < 1 || e.n_dims > OMNI_QCACHE_MAX_DIMS || e.name_len < 1 || e.name_len > MAX_NAME
      || dtype < 0)
    return fail (error, OMNI_ERROR_FORMAT, c->path,
                 "index entry %u: dtype \"%s\", %u dims, name of %u bytes; expected a known dtype, "
                 "1..%d dims and a name of 1..%d bytes", i, dt, e.n_dims, e.name_len,
                 OMNI_QCACHE_MAX_DIMS, MAX_NAME);
  need = e.n_dims * sizeof (int64_t) + align_up (e.name_len, 8);
  if (end - *at < need)
    return fail (error, OMNI_ERROR_FORMAT, c->path, "index entry %u runs past the index", i);
  memcpy (t->shape, base + *at, e.n_dims * sizeof (int64_t));
  c->names[i] = g_strndup ((const char *) base + *at + e.n_dims * sizeof (int64_t), e.name_len);
  *at += need;
  t->name = c->names[i];
  t->dtype = (OmniDType) dtype;
  t->n_dims = (int) e.n_dims;
  for (int d = 0; d < t->n_dims; d++) {
    if (t->shape[d] < 1 || t->shape[d] > (G_MAXINT64 >> 8) || rows > G_MAXINT64 / t->shape[d])
      return fail (error, OMNI_ERROR_FORMAT, c->path, "tensor '%s': dimension %d is %" G_GINT64_FORMAT,
                   t->name, d, t->shape[d]);
    if (d < t->n_dims - 1)
      rows *= t->shape[d];
  }
  if (e.n_bytes != omni_tensor_bytes_for (t->dtype, rows, t->shape[t->n_dims - 1])
      || e.offset % OMNI_QCACHE_ALIGN || e.offset < h->data_offset || e.offset > c->size
      || e.n_bytes > c->size - e.offset)
    return fail (error, OMNI_ERROR_FORMAT, c->path,
                 "tensor '%s': %" G_GUINT64_FORMAT " bytes at %" G_GUINT64_FORMAT "; expected the "
                 "size of its shape, 64-byte aligned inside the data section", t->name, e.n_bytes,
                 e.offset);
  t->data = base + e.offset;
  t->n_bytes = e.n_bytes;
  if (!g_hash_table_insert (c->by_name, c->names[i], t))
    return fail (error, OMNI_ERROR_FORMAT, c->path, "tensor '%s' appears twice", t->name);
  return TRUE;
}

static gboolean
map_file (OmniQCache *c, GError **error)
{
  int fd = open (c->path, O_RDONLY | O_CLOEXEC);
  struct stat s;
  int err;

  if (fd < 0 || fstat (fd, &s) != 0) {
    err = errno;
    if (fd >= 0)
      close (fd);
    return fail (error, OMNI_ERROR_IO, c->path, "%s", g_strerror (err));
  }
  c->size = (size_t) s.st_size;
  if (c->size < sizeof (Header)) {
    close (fd);
    return fail (error, OMNI_ERROR_FORMAT, c->path, "%" G_GSIZE_FORMAT " bytes, shorter than the header "
                 "(truncated)", c->size);
  }
  c->map = mmap (NULL, c->size, PROT_READ, MAP_PRIVATE, fd, 0);
  err = errno;
  close (fd);
  if (c->map == MAP_FAILED) {
    c->map = NULL;
    return fail (error, OMNI_ERROR_IO, c->path, "mmap: %s", g_strerror (err));
  }
  return TRUE;
}

OmniQCache *
omni_qcache_open (const char *path, const char *quant, const OmniQCacheFingerprint *fp, GError **error)
{
  OmniQCache *c = g_new0 (OmniQCache, 1);
  Header h;
  size_t at;

  c->path = g_strdup (path);
  c->by_name = g_hash_table_new (g_str_hash, g_str_equal);
  if (!map_file (c, error))
    goto fail;
  memcpy (&h, c->map, sizeof h);
  if (!check_header (&h, path, c->size, quant, fp, error) || !check_index_hash (&h, c->map, path, error))
    goto fail;
  c->n = h.n_tensors;
  c->tensors = g_new0 (OmniQCacheTensor, MAX (c->n, 1));
  c->names = g_new0 (char *, c->n + 1);
  at = h.index_offset;
  for (guint i = 0; i < c->n; i++)
    if (!parse_entry (c, &h, &at, i, error))
      goto fail;
  return c;
fail:
  omni_qcache_free (c);
  return NULL;
}

const OmniQCacheTensor *
omni_qcache_get (const OmniQCache *c, const char *name)
{
  return g_hash_table_lookup (c->by_name, name);
}

guint
omni_qcache_count (const OmniQCache *c)
{
  return c->n;
}

const OmniQCacheTensor *
omni_qcache_nth (const OmniQCache *c, guint i)
{
  g_return_val_if_fail (i < c->n, NULL);
  return &c->tensors[i];
}

void
omni_qcache_free (OmniQCache *c)
{
  if (!c)
    return;
  if (c->map)
    munmap (c->map, c->size);
  g_hash_table_unref (c->by_name);
  g_strfreev (c->names);
  g_free (c->tensors);
  g_free (c->path);
  g_free (c);
}

/* ---- writing ---- */

/* The index bytes and each tensor's offset, for @n tensors whose data
 * starts at the first aligned offset after the index. */
static GByteArray *
build_index (const OmniQCacheTensor *t, guint n, guint64 *data_offset, guint64 *offsets)
{
  GByteArray *idx = g_byte_array_new ();
  static const guint8 zeros[8];
  guint64 at;

  for (guint i = 0; i < n; i++) {
    size_t len = strlen (t[i].name);
    Entry e = { .name_len = (guint32) len, .n_dims = (guint32) t[i].n_dims, .n_bytes = t[i].n_bytes };
    const char *dt = omni_dtype_name (t[i].dtype);
    memcpy (e.dtype, dt, MIN (strlen (dt), sizeof e.dtype));
    g_byte_array_append (idx, (const guint8 *) &e, sizeof e);
    g_byte_array_append (idx, (const guint8 *) t[i].shape, t[i].n_dims * sizeof (int64_t));
    g_byte_array_append (idx, (const guint8 *) t[i].name, len);
    g_byte_array_append (idx, zeros, align_up (len, 8) - len);
  }
  *data_offset = align_up (sizeof (Header) + idx->len, OMNI_QCACHE_ALIGN);
  at = *data_offset;
  for (guint i = 0; i < n; i++) {
    offsets[i] = at;
    at = align_up (at + t[i].n_bytes, OMNI_QCACHE_ALIGN);
  }
  /* the offsets go into the entries now that the index size is known */
  for (guint i = 0, pos = 0; i < n; i++) {
    Entry e;
    memcpy (&e, idx->data + pos, sizeof e);
    e.offset = offsets[i];
    memcpy (idx->data + pos, &e, sizeof e);
    pos += sizeof e + e.n_dims * sizeof (int64_t) + align_up (e.name_len, 8);
  }
  return idx;
}

static gboolean
write_all (int fd, const void *data, size_t n)
{
  const guint8 *p = data;

  while (n > 0) {
    ssize_t w = write (fd, p, MIN (n, (size_t) 1 << 30));
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0)
      return FALSE;
    p += w;
    n -= (size_t) w;
  }
  return TRUE;
}

static gboolean
write_padding (int fd, guint64 *at, guint64 to)
{
  static const guint8 zeros[OMNI_QCACHE_ALIGN];

  if (!write_all (fd, zeros, to - *at))
    return FALSE;
  *at = to;
  return TRUE;
}

static gboolean
write_body (int fd, const char *quant, const OmniQCacheFingerprint *fp, const OmniQCacheTensor *t,
            guint n)
{
  g_autofree guint64 *offsets = g_new (guint64, MAX (n, 1));
  Header h = { .byte_order = BYTE_ORDER_MARK, .version = OMNI_QCACHE_VERSION,
               .block_version = OMNI_QCACHE_BLOCK_VERSION, .n_tensors = n,
               .index_offset = sizeof (Header) };
  g_autoptr (GByteArray) idx = build_index (t, n, &h.data_offset, offsets);
  g_autoptr (GChecksum) sum = g_checksum_new (G_CHECKSUM_SHA256);
  gsize len = sizeof h.index_sha256;
  guint64 at;

  memcpy (h.magic, qcache_magic, sizeof h.magic);
  memcpy (h.quant, quant, strlen (quant));  /* shorter than the field: checked by the caller */
  memcpy (h.fingerprint, fp->bytes, sizeof h.fingerprint);
  h.index_size = idx->len;
  h.file_size = n ? offsets[n - 1] + t[n - 1].n_bytes : h.data_offset;
  g_checksum_update (sum, idx->data, idx->len);
  g_checksum_get_digest (sum, h.index_sha256, &len);
  if (!write_all (fd, &h, sizeof h) || !write_all (fd, idx->data, idx->len))
    return FALSE;
  at = sizeof h + idx->len;
  for (guint i = 0; i < n; i++) {
    if (!write_padding (fd, &at, offsets[i]) || !write_all (fd, t[i].data, t[i].n_bytes))
      return FALSE;
    at += t[i].n_bytes;
  }
  return write_padding (fd, &at, h.file_size);
}

gboolean
omni_qcache_write (const char *path, const char *quant, const OmniQCacheFingerprint *fp,
                   const OmniQCacheTensor *tensors, guint n, GError **error)
{
  g_autofree char *dir = g_path_get_dirname (path);
  g_autofree char *tmp = g_strconcat (path, ".XXXXXX", NULL);
  int fd, err;

  if (strlen (quant) >= sizeof ((Header *) 0)->quant)
    return fail (error, OMNI_ERROR_INVALID, path, "quant name \"%s\" is too long", quant);
  if (g_mkdir_with_parents (dir, 0755) != 0) {
    err = errno;
    return fail (error, OMNI_ERROR_IO, path, "cannot create %s: %s", dir, g_strerror (err));
  }
  fd = g_mkstemp_full (tmp, O_RDWR | O_CLOEXEC, 0644);
  if (fd < 0) {
    err = errno;
    return fail (error, OMNI_ERROR_IO, path, "cannot create a file in %s: %s", dir, g_strerror (err));
  }
  if (!write_body (fd, quant, fp, tensors, n) || fsync (fd) != 0) {
    err = errno;
    close (fd);
    g_unlink (tmp);
    return fail (error, OMNI_ERROR_IO, path, "writing %s: %s", tmp, g_strerror (err ? err : EIO));
  }
  close (fd);
  if (g_rename (tmp, path) != 0) {
    err = errno;
    g_unlink (tmp);
    return fail (error, OMNI_ERROR_IO, path, "renaming %s: %s", tmp, g_strerror (err));
  }
  return TRUE;
}
