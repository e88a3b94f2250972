/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <json-glib/json-glib.h>
#include "omnicore.h"
#include "io/safetensors.h"
#include "io/jsonutil.h"

/* The safetensors library refuses headers above 100 MB; so do we. */
#define MAX_HEADER_BYTES 100000000u
/* No real dimension comes near 2^40; larger values are corruption. */
#define MAX_DIM ((int64_t) 1 << 40)

struct _OmniSafetensors {
  GPtrArray *maps;          /* GMappedFile*, one per file */
  GPtrArray *paths;         /* char*, one per file */
  GArray *tensors;          /* OmniSafeTensor, in file order */
  GHashTable *by_name;      /* name -> index + 1 */
  int fp8_block[2];         /* 0 = derive from the shapes */
};

static void
tensor_clear (gpointer p)
{
  OmniSafeTensor *t = p;
  g_free ((char *) t->name);
}

static OmniSafetensors *
set_new (void)
{
  OmniSafetensors *st = g_new0 (OmniSafetensors, 1);
  st->maps = g_ptr_array_new_with_free_func ((GDestroyNotify) g_mapped_file_unref);
  st->paths = g_ptr_array_new_with_free_func (g_free);
  st->tensors = g_array_new (FALSE, TRUE, sizeof (OmniSafeTensor));
  g_array_set_clear_func (st->tensors, tensor_clear);
  st->by_name = g_hash_table_new (g_str_hash, g_str_equal);
  return st;
}

void
omni_safetensors_free (OmniSafetensors *st)
{
  if (st == NULL)
    return;
  g_hash_table_unref (st->by_name);
  g_array_unref (st->tensors);
  g_ptr_array_unref (st->paths);
  g_ptr_array_unref (st->maps);
  g_free (st);
}

static gboolean
read_i64_array (JsonNode *node, int64_t *out, int max, int *n_out)
{
  if (node == NULL || !JSON_NODE_HOLDS_ARRAY (node))
    return FALSE;
  JsonArray *a = json_node_get_array (node);
  guint n = json_array_get_length (a);
  if ((int) n > max)
    return FALSE;
  for (guint i = 0; i < n; i++) {
    JsonNode *e = json_array_get_element (a, i);
    if (!JSON_NODE_HOLDS_VALUE (e) || json_node_get_value_type (e) != G_TYPE_INT64)
      return FALSE;
    out[i] = json_node_get_int (e);
  }
  *n_out = (int) n;
  return TRUE;
}

/* Fills @t (minus data/file) from one header entry; offsets go to @begin/@end. */
static gboolean
parse_entry (const char *path, const char *name, JsonNode *node, OmniSafeTensor *t,
             int64_t *begin, int64_t *end, GError **error)
{
  if (!JSON_NODE_HOLDS_OBJECT (node)) {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_FORMAT,
                 "%s: tensor \"%s\": header entry is not a JSON object", path, name);
    return FALSE;
  }
  JsonObject *o = json_node_get_object (node);
  const char *dt = omni_json_get_string (o, "dtype");
  int dtype = dt ? omni_dtype_from_name (dt) : -1;
  if (dtype < 0) {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_FORMAT,
                 "%s: tensor \"%s\": dtype %s%s%s is not one of F32, F16, BF16, F8_E4M3, "
                 "I64, I32, I8, U8, BOOL", path, name,
                 dt ? "\"" : "", dt ? dt : "(missing)", dt ? "\"" : "");
    return FALSE;
  }
  t->dtype = dtype;

  if (!read_i64_array (json_object_get_member (o, "shape"), t->shape, OMNI_MAX_DIMS, &t->n_dims)) {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_FORMAT,
                 "%s: tensor \"%s\": \"shape\" must be an array of at most %d integers",
                 path, name, OMNI_MAX_DIMS);
    return FALSE;
  }
  /* Dims are capped at 2^40 and n_dims at 8, so the checked product below
   * is the only place an overflow could happen. */
  int64_t n = 1;
  for (int i = 0; i < t->n_dims; i++) {
    if (t->shape[i] < 0 || t->shape[i] > MAX_DIM
        || (t->shape[i] > 0 && n > G_MAXINT64 / 8 / t->shape[i])) {
      g_set_error (error, OMNI_ERROR, OMNI_ERROR_FORMAT,
                   "%s: tensor \"%s\": shape[%d] = %" G_GINT64_FORMAT
                   " is negative or too large", path, name, i, t->shape[i]);
      return FALSE;
    }
    n *= t->shape[i];
  }
  t->n_elements = n;

  int64_t off[2];
  int n_off = 0;
  if (!read_i64_array (json_object_get_member (o, "data_offsets"), off, 2, &n_off) || n_off != 2) {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_FORMAT,
                 "%s: tensor \"%s\": \"data_offsets\" must be an array of 2 integers", path, name);
    return FALSE;
  }
  *begin = off[0];
  *end = off[1];
  return TRUE;
}

/* Bounds, size and alignment of one tensor inside the data section. */
static gboolean
check_extent (const char *path, OmniSafeTensor *t, int64_t begin, int64_t end,
              const char *data, uint64_t data_off, uint64_t data_len, GError **error)
{
  size_t esize = omni_dtype_size (t->dtype);

  if (begin < 0 || end < begin) {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_FORMAT,
                 "%s: tensor \"%s\": data_offsets [%" G_GINT64_FORMAT ", %" G_GINT64_FORMAT
                 "] must satisfy 0 <= begin <= end", path, t->name, begin, end);
    return FALSE;
  }
  if ((uint64_t) end > data_len) {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_FORMAT,
                 "%s: tensor \"%s\": data_offsets end %" G_GINT64_FORMAT
                 " is past the end of the data section (%" G_GUINT64_FORMAT " bytes)",
                 path, t->name, end, data_len);
    return FALSE;
  }
  if ((uint64_t) (end - begin) != (uint64_t) t->n_elements * esize) {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_FORMAT,
                 "%s: tensor \"%s\": %" G_GINT64_FORMAT " bytes stored, but shape x %s "
                 "needs %" G_GUINT64_FORMAT, path, t->name, end - begin,
                 omni_dtype_name (t->dtype), (uint64_t) t->n_elements * esize);
    return FALSE;
  }
  /* The safetensors writer orders tensors so that each is aligned to its
   * element size; kernels rely on that, so a file that breaks it is refused. */
  if ((data_off + (uint64_t) begin) % esize != 0) {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_FORMAT,
                 "%s: tensor \"%s\": data at file offset %" G_GUINT64_FORMAT
                 " is not aligned to its %zu-byte elements", path, t->name,
                 data_off + (uint64_t) begin, esize);
    return FALSE;
  }
  t->data = data + begin;
  t->n_bytes = (size_t) (end - begin);
  return TRUE;
}

typedef struct { int64_t begin, end; guint index; } Extent;

static int
extent_cmp (gconstpointer a, gconstpointer b)
{
  const Extent *x = a, *y = b;
  return x->begin < y->begin ? -1 : x->begin > y->begin ? 1 : 0;
}

/* @extents are the tensors of one file: no two may share a byte. */
static gboolean
check_overlap (OmniSafetensors *st, const char *path, GArray *extents, GError **error)
{
  g_array_sort (extents, extent_cmp);
  const Extent *prev = NULL;
  for (guint i = 0; i < extents->len; i++) {
    const Extent *e = &g_array_index (extents, Extent, i);
    if (e->end == e->begin)
      continue;
    if (prev && e->begin < prev->end) {
      g_set_error (error, OMNI_ERROR, OMNI_ERROR_FORMAT,
                   "%s: tensors \"%s\" and \"%s\" overlap in the data section",
                   path, g_array_index (st->tensors, OmniSafeTensor, prev->index).name,
                   g_array_index (st->tensors, OmniSafeTensor, e->index).name);
      return FALSE;
    }
    prev = e;
  }
  return TRUE;
}

static gboolean
add_tensor (OmniSafetensors *st, OmniSafeTensor *t, GError **error)
{
  guint idx = GPOINTER_TO_UINT (g_hash_table_lookup (st->by_name, t->name));
  if (idx != 0) {
    const OmniSafeTensor *old = &g_array_index (st->tensors, OmniSafeTensor, idx - 1);
    if (g_strcmp0 (old->file, t->file) == 0)
      g_set_error (error, OMNI_ERROR, OMNI_ERROR_FORMAT,
                   "%s: tensor \"%s\" is listed twice in the header", t->file, t->name);
    else
      g_set_error (error, OMNI_ERROR, OMNI_ERROR_FORMAT,
                   "tensor \"%s\" is stored in two shards: %s and %s", t->name, old->file, t->file);
    return FALSE;
  }
  g_array_append_val (st->tensors, *t);
  /* keys point at the names held in the array elements' heap strings */
  g_hash_table_insert (st->by_name, (char *) t->name, GUINT_TO_POINTER (st->tensors->len));
  return TRUE;
}

/* Walks the header object and appends its tensors. */
static gboolean
add_entries (OmniSafetensors *st, const char *path, JsonObject *root,
             const char *data, uint64_t data_off, uint64_t data_len, GError **error)
{
  GArray *extents = g_array_new (FALSE, FALSE, sizeof (Extent));
  GList *members = json_object_get_members (root);
  gboolean ok = TRUE;

  for (GList *l = members; l && ok; l = l->next) {
    const char *name = l->data;
    if (strcmp (name, "__metadata__") == 0)
      continue;
    OmniSafeTensor t = { 0 };
    Extent e;
    t.name = g_strdup (name);
    t.file = g_ptr_array_index (st->paths, st->paths->len - 1);
    ok = parse_entry (path, name, json_object_get_member (root, name), &t, &e.begin, &e.end, error)
         && check_extent (path, &t, e.begin, e.end, data, data_off, data_len, error)
         && add_tensor (st, &t, error);
    if (!ok) {
      g_free ((char *) t.name);
      break;
    }
    e.index = st->tensors->len - 1;
    g_array_append_val (extents, e);
  }
  ok = ok && check_overlap (st, path, extents, error);
  g_list_free (members);
  g_array_unref (extents);
  return ok;
}

/* Maps @path, validates its header and adds its tensors to @st. */
static gboolean
add_file (OmniSafetensors *st, const char *path, GError **error)
{
  GError *err = NULL;
  GMappedFile *map = g_mapped_file_new (path, FALSE, &err);
  if (map == NULL) {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_IO, "%s: cannot map: %s", path, err->message);
    g_error_free (err);
    return FALSE;
  }
  g_ptr_array_add (st->maps, map);
  g_ptr_array_add (st->paths, g_strdup (path));

  const guint8 *base = (const guint8 *) g_mapped_file_get_contents (map);
  uint64_t len = g_mapped_file_get_length (map);
  if (len < 8) {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_FORMAT,
                 "%s: file is %" G_GUINT64_FORMAT " bytes, too short for the 8-byte header length",
                 path, len);
    return FALSE;
  }
  uint64_t hlen = 0;
  for (int i = 7; i >= 0; i--)
    hlen = (hlen << 8) | base[i];
  if (hlen > len - 8 || hlen > MAX_HEADER_BYTES) {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_FORMAT,
                 "%s: header length %" G_GUINT64_FORMAT " runs past the end of the file "
                 "(%" G_GUINT64_FORMAT " bytes) or exceeds %u bytes", path, hlen, len,
                 MAX_HEADER_BYTES);
    return FALSE;
  }

  JsonParser *parser = omni_json_parser_new_strict ();
  gboolean ok = FALSE;
  if (!omni_json_parser_load (parser, path, (const char *) base + 8, (gssize) hlen, error))
    goto out;
  JsonNode *root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root)) {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_FORMAT,
                 "%s: the safetensors header is not a JSON object", path);
    goto out;
  }
  ok = add_entries (st, path, json_node_get_object (root),
                    (const char *) base + 8 + hlen, 8 + hlen, len - 8 - hlen, error);
out:
  g_object_unref (parser);
  return ok;
}

OmniSafetensors *
omni_safetensors_open_file (const char *path, GError **error)
{
  OmniSafetensors *st = set_new ();
  if (!add_file (st, path, error)) {
    omni_safetensors_free (st);
    return NULL;
  }
  return st;
}

/* Shard file names of the index, each once, in order of first mention. */
static GPtrArray *
index_shards (const char *index_path, JsonObject *weight_map, GError **error)
{
  GPtrArray *shards = g_ptr_array_new ();
  GHashTable *seen = g_hash_table_new (g_str_hash, g_str_equal);
  GList *members = json_object_get_members (weight_map);

  for (GList *l = members; l; l = l->next) {
    const char *shard = omni_json_get_string (weight_map, l->data);
    if (shard == NULL || *shard == '\0' || strchr (shard, '/') || strchr (shard, '\\')
        || strcmp (shard, "..") == 0 || strcmp (shard, ".") == 0) {
      g_set_error (error, OMNI_ERROR, OMNI_ERROR_FORMAT,
                   "%s: weight_map[\"%s\"] must be the file name of a shard in the same "
                   "directory", index_path, (const char *) l->data);
      g_ptr_array_unref (shards);
      shards = NULL;
      break;
    }
    if (g_hash_table_add (seen, (char *) shard))
      g_ptr_array_add (shards, (char *) shard);
  }
  g_list_free (members);
  g_hash_table_unref (seen);
  return shards;
}

/* Every tensor the index names must be in the shard it names. */
static gboolean
check_index (OmniSafetensors *st, const char *dir, const char *index_path,
             JsonObject *weight_map, GError **error)
{
  GList *members = json_object_get_members (weight_map);
  gboolean ok = TRUE;

  for (GList *l = members; l && ok; l = l->next) {
    const char *name = l->data;
    char *want = g_build_filename (dir, omni_json_get_string (weight_map, name), NULL);
    const OmniSafeTensor *t = omni_safetensors_get (st, name);
    if (t == NULL || strcmp (t->file, want) != 0) {
      g_set_error (error, OMNI_ERROR, OMNI_ERROR_FORMAT,
                   "%s: tensor \"%s\" is listed in shard %s, but %s%s", index_path, name, want,
                   t ? "it is stored in " : "no shard holds it", t ? t->file : "");
      ok = FALSE;
    }
    g_free (want);
  }
  g_list_free (members);
  return ok;
}

static OmniSafetensors *
open_index (const char *dir, const char *index_path, GError **error)
{
  JsonParser *parser = omni_json_parser_new_strict ();
  OmniSafetensors *st = NULL;
  GPtrArray *shards = NULL;

  if (!omni_json_parser_load_file (parser, index_path, error))
    goto out;
  JsonNode *root = json_parser_get_root (parser);
  JsonNode *wm = root && JSON_NODE_HOLDS_OBJECT (root)
                 ? json_object_get_member (json_node_get_object (root), "weight_map") : NULL;
  if (wm == NULL || !JSON_NODE_HOLDS_OBJECT (wm)) {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_FORMAT,
                 "%s: expected a JSON object with a \"weight_map\" object", index_path);
    goto out;
  }
  JsonObject *weight_map = json_node_get_object (wm);
  shards = index_shards (index_path, weight_map, error);
  if (shards == NULL)
    goto out;
  if (shards->len == 0) {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_FORMAT,
                 "%s: \"weight_map\" names no tensors", index_path);
    goto out;
  }
  st = set_new ();
  for (guint i = 0; i < shards->len; i++) {
    char *path = g_build_filename (dir, g_ptr_array_index (shards, i), NULL);
    gboolean ok = g_file_test (path, G_FILE_TEST_IS_REGULAR);
    if (!ok)
      g_set_error (error, OMNI_ERROR, OMNI_ERROR_IO,
                   "%s names shard %s, which does not exist", index_path, path);
    ok = ok && add_file (st, path, error);
    g_free (path);
    if (!ok)
      goto fail;
  }
  if (check_index (st, dir, index_path, weight_map, error))
    goto out;
fail:
  omni_safetensors_free (st);
  st = NULL;
out:
  if (shards)
    g_ptr_array_unref (shards);
  g_object_unref (parser);
  return st;
}

OmniSafetensors *
omni_safetensors_open_dir (const char *dir, GError **error)
{
  char *index = g_build_filename (dir, "model.safetensors.index.json", NULL);
  char *single = g_build_filename (dir, "model.safetensors", NULL);
  OmniSafetensors *st;

  if (g_file_test (index, G_FILE_TEST_EXISTS))
    st = open_index (dir, index, error);
  else if (g_file_test (single, G_FILE_TEST_EXISTS))
    st = omni_safetensors_open_file (single, error);
  else {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_IO,
                 "%s: neither model.safetensors.index.json nor model.safetensors exists", dir);
    st = NULL;
  }
  g_free (index);
  g_free (single);
  return st;
}

const OmniSafeTensor *
omni_safetensors_get (const OmniSafetensors *st, const char *name)
{
  guint idx = GPOINTER_TO_UINT (g_hash_table_lookup (st->by_name, name));
  return idx ? &g_array_index (st->tensors, OmniSafeTensor, idx - 1) : NULL;
}

guint
omni_safetensors_count (const OmniSafetensors *st)
{
  return st->tensors->len;
}

const OmniSafeTensor *
omni_safetensors_nth (const OmniSafetensors *st, guint i)
{
  return i < st->tensors->len ? &g_array_index (st->tensors, OmniSafeTensor, i) : NULL;
}

static gboolean
is_float (OmniDType t)
{
  return t == OMNI_DTYPE_F32 || t == OMNI_DTYPE_F16 || t == OMNI_DTYPE_BF16
         || t == OMNI_DTYPE_F8_E4M3;
}

char *
omni_safetensors_shape_string (int n_dims, const int64_t *shape)
{
  GString *s = g_string_new ("[");
  for (int i = 0; i < n_dims; i++)
    g_string_append_printf (s, "%s%" G_GINT64_FORMAT, i ? ", " : "", shape[i]);
  g_string_append_c (s, ']');
  return g_string_free (s, FALSE);
}

const OmniSafeTensor *
omni_safetensors_require (const OmniSafetensors *st, const char *name,
                          int n_dims, const int64_t *shape, GError **error)
{
  const OmniSafeTensor *t = omni_safetensors_get (st, name);
  if (t == NULL) {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_FORMAT,
                 "tensor \"%s\" is missing from the checkpoint (%u tensors in %s%s)", name,
                 st->tensors->len, st->paths->len ? (char *) st->paths->pdata[0] : "no file",
                 st->paths->len > 1 ? " and the other shards" : "");
    return NULL;
  }
  gboolean match = t->n_dims == n_dims;
  for (int i = 0; match && i < n_dims; i++)
    match = shape[i] == -1 || shape[i] == t->shape[i];
  if (!match) {
    char *want = omni_safetensors_shape_string (n_dims, shape);
    char *have = omni_safetensors_shape_string (t->n_dims, t->shape);
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_FORMAT,
                 "%s: tensor \"%s\" has shape %s, expected %s (-1 = any)", t->file, name, have, want);
    g_free (want);
    g_free (have);
    return NULL;
  }
  if (!is_float (t->dtype)) {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_FORMAT,
                 "%s: tensor \"%s\" has dtype %s, expected F32, F16, BF16 or F8_E4M3",
                 t->file, name, omni_dtype_name (t->dtype));
    return NULL;
  }
  return t;
}

void
omni_safetensors_set_fp8_block (OmniSafetensors *st, int block_rows, int block_cols)
{
  st->fp8_block[0] = MAX (block_rows, 0);
  st->fp8_block[1] = MAX (block_cols, 0);
}

/* The block edge along one axis: the configured one when it fits the scale
 * grid, else the exact quotient; 0 when neither works. */
static int64_t
block_edge (int64_t n, int64_t n_scales, int configured)
{
  if (configured > 0)
    return (n + configured - 1) / configured == n_scales ? configured : 0;
  return n_scales > 0 && n % n_scales == 0 ? n / n_scales : 0;
}

/* dst[i] *= scale of the block holding element i. The leading dims of
 * @t (fused experts) are batches of 2-D blocked matrices. */
static gboolean
apply_block_scales (const OmniSafetensors *st, const OmniSafeTensor *t,
                    const OmniSafeTensor *s, float *dst, GError **error)
{
  if (s->dtype != OMNI_DTYPE_F32 && s->dtype != OMNI_DTYPE_BF16 && s->dtype != OMNI_DTYPE_F16) {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_UNSUPPORTED,
                 "%s: scale tensor \"%s\" has dtype %s; only F32, BF16 and F16 scales are supported",
                 s->file, s->name, omni_dtype_name (s->dtype));
    return FALSE;
  }
  float *scales = g_new (float, s->n_elements ? s->n_elements : 1);
  omni_dtype_to_f32 (s->dtype, s->data, scales, s->n_elements);
  gboolean ok = TRUE;

  if (s->n_elements == 1) {
    for (int64_t i = 0; i < t->n_elements; i++)
      dst[i] *= scales[0];
    goto out;
  }
  int64_t br = 0, bc = 0, rows = 0, cols = 0, batch = 1;
  ok = t->n_dims >= 2 && s->n_dims == t->n_dims;
  for (int i = 0; ok && i < t->n_dims - 2; i++) {
    ok = s->shape[i] == t->shape[i];
    batch *= t->shape[i];
  }
  if (ok) {
    rows = t->shape[t->n_dims - 2];
    cols = t->shape[t->n_dims - 1];
    br = block_edge (rows, s->shape[s->n_dims - 2], st->fp8_block[0]);
    bc = block_edge (cols, s->shape[s->n_dims - 1], st->fp8_block[1]);
    ok = br > 0 && bc > 0;
  }
  if (!ok) {
    char *ts = omni_safetensors_shape_string (t->n_dims, t->shape);
    char *ss = omni_safetensors_shape_string (s->n_dims, s->shape);
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_FORMAT,
                 "%s: scale \"%s\" %s does not tile weight \"%s\" %s in blocks%s%d x %d",
                 s->file, s->name, ss, t->name, ts,
                 st->fp8_block[0] ? " of " : " (block size not configured) ",
                 st->fp8_block[0], st->fp8_block[1]);
    g_free (ts);
    g_free (ss);
    goto out;
  }
  int64_t srows = s->shape[s->n_dims - 2], scols = s->shape[s->n_dims - 1];
  for (int64_t b = 0; b < batch; b++)
    for (int64_t r = 0; r < rows; r++) {
      const float *srow = scales + (b * srows + r / br) * scols;
      float *drow = dst + (b * rows + r) * cols;
      for (int64_t c = 0; c < cols; c++)
        drow[c] *= srow[c / bc];
    }
out:
  g_free (scales);
  return ok;
}

gboolean
omni_safetensors_to_f32 (const OmniSafetensors *st, const OmniSafeTensor *t,
                         float *dst, GError **error)
{
  if (!is_float (t->dtype)) {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_UNSUPPORTED,
                 "%s: tensor \"%s\" has dtype %s, which has no f32 conversion",
                 t->file, t->name, omni_dtype_name (t->dtype));
    return FALSE;
  }
  omni_dtype_to_f32 (t->dtype, t->data, dst, (size_t) t->n_elements);
  if (t->dtype != OMNI_DTYPE_F8_E4M3)
    return TRUE;
  char *sname = g_strconcat (t->name, "_scale_inv", NULL);
  const OmniSafeTensor *s = omni_safetensors_get (st, sname);
  g_free (sname);
  return s == NULL || apply_block_scales (st, t, s, dst, error);
}
