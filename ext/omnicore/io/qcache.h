/* The quantized-weight cache: one file per (snapshot, model part, quant)
 * holding the weights as loaded, read back by mmap. docs/quant-cache.md
 * describes the format and where the files live.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef OMNI_QCACHE_H
#define OMNI_QCACHE_H

#include <glib.h>
#include "dtype.h"

/* Version of the file layout (header and index). */
#define OMNI_QCACHE_VERSION 1
/* Version of the block layouts of quant.h (Q8_32, Q4_32) the data uses. */
#define OMNI_QCACHE_BLOCK_VERSION 1
/* Every tensor's data starts at a multiple of this in the file. */
#define OMNI_QCACHE_ALIGN 64
#define OMNI_QCACHE_MAX_DIMS 8
/* Size of the fixed header that starts a file. */
#define OMNI_QCACHE_HEADER_SIZE 128

/* SHA-256 over the source checkpoint's files (name, size, mtime). */
typedef struct {
  guint8 bytes[32];
} OmniQCacheFingerprint;

/* One tensor of a cache: @data points into the mapping (read) or at the
 * caller's memory (write). */
typedef struct {
  const char *name;
  OmniDType dtype;
  int n_dims;
  int64_t shape[OMNI_QCACHE_MAX_DIMS];
  const void *data;
  size_t n_bytes;
} OmniQCacheTensor;

typedef struct _OmniQCache OmniQCache;

/* Fingerprint of the checkpoint in @dir: its *.safetensors files and
 * model.safetensors.index.json, by name, size and modification time. */
gboolean omni_qcache_fingerprint (const char *dir, OmniQCacheFingerprint *fp, GError **error);

/* The cache files to try for @part ("decoder", "audio", "vision") of the
 * snapshot @dir at @quant, best first: $OMNI_CACHE_DIR/<hash>/ alone when
 * set, else <dir>/.gst-omni/ then $XDG_CACHE_HOME/gst-omni/<hash>/, where
 * <hash> names the snapshot's real path. Free with g_strfreev(). */
char **omni_qcache_paths (const char *dir, const char *part, const char *quant);

/* FALSE when $OMNI_QCACHE is "0", "off" or "no": no cache is read or written. */
gboolean omni_qcache_enabled (void);

/* Maps @path and validates it against @quant and @fp. A missing file is
 * OMNI_ERROR_IO; a file of another version, quant or source is
 * OMNI_ERROR_UNSUPPORTED (stale); a malformed or truncated one
 * OMNI_ERROR_FORMAT. The message names the file and the reason. */
OmniQCache *omni_qcache_open (const char *path, const char *quant, const OmniQCacheFingerprint *fp,
                              GError **error);
/* The tensor called @name, or NULL. Its data lives as long as @c. */
const OmniQCacheTensor *omni_qcache_get (const OmniQCache *c, const char *name);
/* Number of tensors in @c. */
guint omni_qcache_count (const OmniQCache *c);
/* The @i-th tensor of @c in file order (@i < count). */
const OmniQCacheTensor *omni_qcache_nth (const OmniQCache *c, guint i);
/* Unmaps @c: tensors pointing into it become invalid. */
void omni_qcache_free (OmniQCache *c);

/* Writes @n tensors to @path (directories created) through a temporary
 * file renamed at the end, so the final name never holds a partial file. */
gboolean omni_qcache_write (const char *path, const char *quant, const OmniQCacheFingerprint *fp,
                            const OmniQCacheTensor *tensors, guint n, GError **error);

#endif /* OMNI_QCACHE_H */
