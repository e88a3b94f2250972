/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The tower follows transformers' Qwen3VLVisionModel and
 * Qwen3OmniMoeVisionEncoder (5.24): the Conv3d patch embedding as a matmul
 * over each patch row, the learned position table bilinearly resampled to
 * the grid (get_vision_interpolation_indices_and_weights, align_corners),
 * 2-D rotary positions (row, col), pre-LN blocks with fused qkv attending
 * within an image or temporal group, DeepStack mergers after the listed
 * blocks and the final merger of 2x2 patch blocks. */
#include <math.h>
#include <string.h>
#include "omnicore.h"
#include "nn/vision-encoder.h"
#include "nn/weights.h"
#include "io/safetensors.h"

#define LN_EPS 1e-6f   /* every LayerNorm of the tower */

typedef struct {
  OmniTensor ln1_w, ln1_b, qkv_w, qkv_b, proj_w, proj_b;
  OmniTensor ln2_w, ln2_b, fc1_w, fc1_b, fc2_w, fc2_b;
} VisionBlock;

typedef struct {
  OmniTensor norm_w, norm_b, fc1_w, fc1_b, fc2_w, fc2_b;
} VisionMerger;

/* A backend f32 buffer grown on demand; views give it shapes. */
typedef struct {
  OmniTensor t;
  size_t cap;       /* floats */
} Buf;

/* The host-side plan of one call. */
typedef struct {
  int n_patches, n_tokens, n_segs;
  int32_t *rope_pos;    /* [3][n_patches]: 0, row, col */
  int32_t *cu;          /* [n_segs + 1] image / temporal group boundaries */
  float *pos_embed;     /* [n_patches, hidden] the resampled position table */
  size_t patch_cap, seg_cap;
} Plan;

struct _OmniVisionEncoder {
  OmniVisionConfig cfg;
  OmniBackend *backend;
  OmniWeights w;                  /* checkpoint, quant store, bound tensors */
  OmniTensor patch_w, patch_b;    /* patch_w seen as [hidden, patch_dim] */
  float *pos_table;               /* host f32 copy of pos_embed [side^2, hidden] */
  VisionBlock *blocks;
  VisionMerger merger;
  VisionMerger deepstack[OMNI_VISION_MAX_DEEPSTACK];
  float *inv_freq;                /* [head_dim / 2]: the axis frequencies twice */
  OmniRope rope;
  Buf in, x, h, qkv, qkvp, attn, o, ffn, out, ds;
  OmniTensor out_view, ds_view[OMNI_VISION_MAX_DEEPSTACK];
  Plan plan;
};

/* ---- loading ---- */

static gboolean
bind_block (OmniVisionEncoder *e, int i, GError **error)
{
  const OmniVisionConfig *c = &e->cfg;
  VisionBlock *l = &e->blocks[i];
  g_autofree char *p = g_strdup_printf ("%sblocks.%d.", c->tower_prefix, i);
  int64_t d = c->hidden_size, F = c->intermediate_size;

  return omni_weights_linear (&e->w, &l->ln1_w, &l->ln1_b, p, "norm1", d, 0, error)
      && omni_weights_linear (&e->w, &l->qkv_w, &l->qkv_b, p, "attn.qkv", 3 * d, d, error)
      && omni_weights_linear (&e->w, &l->proj_w, &l->proj_b, p, "attn.proj", d, d, error)
      && omni_weights_linear (&e->w, &l->ln2_w, &l->ln2_b, p, "norm2", d, 0, error)
      && omni_weights_linear (&e->w, &l->fc1_w, &l->fc1_b, p, "mlp.linear_fc1", F, d, error)
      && omni_weights_linear (&e->w, &l->fc2_w, &l->fc2_b, p, "mlp.linear_fc2", d, F, error);
}

/* A merger at @prefix: its norm spans one patch (final merger) or the
 * merge block's patches side by side (DeepStack, @postshuffle). */
static gboolean
bind_merger (OmniVisionEncoder *e, VisionMerger *m, const char *prefix, gboolean postshuffle,
             GError **error)
{
  const OmniVisionConfig *c = &e->cfg;
  int64_t d = c->hidden_size, unit = c->spatial_merge_size * c->spatial_merge_size;
  int64_t wide = d * unit;

  return omni_weights_linear (&e->w, &m->norm_w, &m->norm_b, prefix, c->merger_norm,
                              postshuffle ? wide : d, 0, error)
      && omni_weights_linear (&e->w, &m->fc1_w, &m->fc1_b, prefix, c->merger_fc1, wide, wide, error)
      && omni_weights_linear (&e->w, &m->fc2_w, &m->fc2_b, prefix, c->merger_fc2,
                              c->out_hidden_size, wide, error);
}

/* The Conv3d [hidden, C, T, P, P] (stride = kernel) is a matmul over
 * patch rows laid out (C, T, P, P): the same weight seen as 2-D. */
static gboolean
bind_stem (OmniVisionEncoder *e, GError **error)
{
  const OmniVisionConfig *c = &e->cfg;
  g_autofree char *wn = g_strconcat (c->tower_prefix, "patch_embed.proj.weight", NULL);
  g_autofree char *bn = g_strconcat (c->tower_prefix, "patch_embed.proj.bias", NULL);
  g_autofree char *pn = g_strconcat (c->tower_prefix, "pos_embed.weight", NULL);
  int64_t ws[5] = { c->hidden_size, c->in_channels, c->temporal_patch_size, c->patch_size,
                    c->patch_size };
  int64_t ps[2] = { c->num_position_embeddings, c->hidden_size };

  if (!omni_weights_bind (&e->w, &e->patch_w, wn, 5, ws, FALSE, error)
      || !omni_weights_bind (&e->w, &e->patch_b, bn, 1, ws, FALSE, error))
    return FALSE;
  e->patch_w.n_dims = 2;
  e->patch_w.shape[1] = omni_vision_config_patch_dim (c);
  e->patch_w.shape[2] = e->patch_w.shape[3] = e->patch_w.shape[4] = 0;

  const OmniSafeTensor *pt = omni_safetensors_require (e->w.st, pn, 2, ps, error);
  if (!pt)
    return FALSE;
  e->pos_table = g_new (float, pt->n_elements);
  if (!omni_safetensors_to_f32 (e->w.st, pt, e->pos_table, error)) {
    g_prefix_error (error, "%s (%s): ", pn, pt->file);
    return FALSE;
  }
  return TRUE;
}

static gboolean
bind_mergers (OmniVisionEncoder *e, GError **error)
{
  const OmniVisionConfig *c = &e->cfg;
  g_autofree char *final = g_strconcat (c->tower_prefix, "merger.", NULL);

  if (!bind_merger (e, &e->merger, final, FALSE, error))
    return FALSE;
  for (int k = 0; k < c->n_deepstack; k++) {
    g_autofree char *p = g_strdup_printf ("%s%s.%d.", c->tower_prefix, c->deepstack_list, k);
    if (!bind_merger (e, &e->deepstack[k], p, TRUE, error))
      return FALSE;
  }
  return TRUE;
}

/* The 2-D rotary embedding as a chunked M-RoPE over the whole head:
 * frequencies theta^(-2j / (head_dim / 2)), j < head_dim / 4, computed in
 * f32 as torch does, once for the row (axis 1) and once for the column
 * (axis 2). */
static void
make_rope (OmniVisionEncoder *e)
{
  int hd = e->cfg.hidden_size / e->cfg.num_heads, q = hd / 4, sd = hd / 2;

  e->inv_freq = g_new (float, sd);
  for (int j = 0; j < q; j++) {
    float f = 1.0f / powf ((float) e->cfg.rope_theta, (float) (2 * j) / (float) sd);
    e->inv_freq[j] = e->inv_freq[q + j] = f;
  }
  e->rope.rot_dim = hd;
  e->rope.inv_freq = e->inv_freq;
  e->rope.attn_scale = 1.0f;
  e->rope.mrope_section[0] = 0;
  e->rope.mrope_section[1] = q;
  e->rope.mrope_section[2] = q;
  e->rope.mrope_interleaved = FALSE;
}

OmniVisionEncoder *
omni_vision_encoder_load (const char *dir, OmniBackend *b, GError **error)
{
  OmniVisionEncoder *e = g_new0 (OmniVisionEncoder, 1);
  g_autofree char *cfg = g_build_filename (dir, "config.json", NULL);

  e->backend = b;
  if (!omni_vision_config_load (cfg, &e->cfg, error))
    goto fail;
  if (!omni_weights_open (&e->w, b, dir, "vision", error) || !bind_stem (e, error))
    goto fail;
  e->blocks = g_new0 (VisionBlock, e->cfg.depth);
  for (int i = 0; i < e->cfg.depth; i++)
    if (!bind_block (e, i, error))
      goto fail;
  if (!bind_mergers (e, error))
    goto fail;
  make_rope (e);
  omni_weights_finish (&e->w);
  g_debug ("loaded the vision encoder of %s: %d blocks, hidden %d, output %d, %d DeepStack levels",
           dir, e->cfg.depth, e->cfg.hidden_size, e->cfg.out_hidden_size, e->cfg.n_deepstack);
  return e;
fail:
  omni_vision_encoder_free (e);
  return NULL;
}

static void
buf_free (OmniBackend *b, Buf *buf)
{
  if (buf->t.data)
    b->ops->tensor_free (b, &buf->t);
  memset (buf, 0, sizeof *buf);
}

void
omni_vision_encoder_free (OmniVisionEncoder *e)
{
  if (!e)
    return;
  OmniBackend *b = e->backend;
  Buf *bufs[] = { &e->in, &e->x, &e->h, &e->qkv, &e->qkvp, &e->attn, &e->o, &e->ffn, &e->out,
                  &e->ds };
  for (gsize i = 0; i < G_N_ELEMENTS (bufs); i++)
    buf_free (b, bufs[i]);
  omni_weights_clear (&e->w);
  g_free (e->blocks);
  g_free (e->pos_table);
  g_free (e->inv_freq);
  g_free (e->plan.rope_pos);
  g_free (e->plan.cu);
  g_free (e->plan.pos_embed);
  g_free (e);
}

const OmniVisionConfig *
omni_vision_encoder_config (const OmniVisionEncoder *e)
{
  return &e->cfg;
}

/* ---- the plan of a call (host) ---- */

static gboolean
check_grids (const OmniVisionEncoder *e, const float *const *patches, const OmniVisionGrid *grids,
             int n_items, GError **error)
{
  int m = e->cfg.spatial_merge_size;
  gint64 total = 0;

  if (n_items <= 0 || !patches || !grids) {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_INVALID,
                 "vision encoder: expected at least one image or clip, got %d%s%s", n_items,
                 patches ? "" : " (patches NULL)", grids ? "" : " (grids NULL)");
    return FALSE;
  }
  for (int i = 0; i < n_items; i++) {
    const OmniVisionGrid *g = &grids[i];
    if (g->t <= 0 || g->h <= 0 || g->w <= 0 || g->h % m || g->w % m || !patches[i]) {
      g_set_error (error, OMNI_ERROR, OMNI_ERROR_INVALID,
                   "vision encoder: item %d: grid (t %d, h %d, w %d)%s; expected t >= 1 and h, w "
                   "positive multiples of spatial_merge_size %d", i, g->t, g->h, g->w,
                   patches[i] ? "" : " with patches NULL", m);
      return FALSE;
    }
    /* each side within the limit first, so the product cannot overflow */
    if (g->t > OMNI_VISION_MAX_PATCHES || g->h > OMNI_VISION_MAX_PATCHES
        || g->w > OMNI_VISION_MAX_PATCHES) {
      g_set_error (error, OMNI_ERROR, OMNI_ERROR_INVALID,
                   "vision encoder: item %d: grid (t %d, h %d, w %d) is beyond the limit of %d "
                   "patches per call", i, g->t, g->h, g->w, OMNI_VISION_MAX_PATCHES);
      return FALSE;
    }
    total += (gint64) g->t * g->h * g->w;
    if (total > OMNI_VISION_MAX_PATCHES) {
      g_set_error (error, OMNI_ERROR, OMNI_ERROR_INVALID,
                   "vision encoder: item %d brings the call to %" G_GINT64_FORMAT " patches, more "
                   "than the limit of %d; the caller must split the batch or lower the pixel "
                   "budget", i, total, OMNI_VISION_MAX_PATCHES);
      return FALSE;
    }
  }
  return TRUE;
}

static gboolean
check_values (const OmniVisionEncoder *e, const float *const *patches,
              const OmniVisionGrid *grids, int n_items, GError **error)
{
  size_t dim = omni_vision_config_patch_dim (&e->cfg);

  for (int i = 0; i < n_items; i++) {
    size_t n = (size_t) grids[i].t * grids[i].h * grids[i].w * dim;
    for (size_t j = 0; j < n; j++) {
      if (!isfinite (patches[i][j])) {
        g_set_error (error, OMNI_ERROR, OMNI_ERROR_INVALID,
                     "vision encoder: item %d: value %d of patch %d is %g, expected a finite "
                     "value", i, (int) (j % dim), (int) (j / dim), patches[i][j]);
        return FALSE;
      }
    }
  }
  return TRUE;
}

static void
plan_reserve (OmniVisionEncoder *e, int n_patches, int n_segs)
{
  Plan *p = &e->plan;

  if ((size_t) n_patches > p->patch_cap) {
    p->patch_cap = n_patches;
    p->rope_pos = g_renew (int32_t, p->rope_pos, 3 * (size_t) n_patches);
    p->pos_embed = g_renew (float, p->pos_embed, (size_t) n_patches * e->cfg.hidden_size);
  }
  if ((size_t) n_segs + 1 > p->seg_cap) {
    p->seg_cap = n_segs + 1;
    p->cu = g_renew (int32_t, p->cu, n_segs + 1);
  }
}

/* The two taps of one axis and their weights for patch @i of @size along
 * it, as transformers' bilinear align_corners resampling computes them in
 * f32: src = i (side - 1) / max(size - 1, 1), weights 1 - |src - tap|. */
static void
axis_taps (int i, int size, int side, int tap[2], float wt[2])
{
  float src = (float) (i * (side - 1)) / (float) MAX (size - 1, 1);
  float fl = floorf (src), frac = src - fl;

  for (int o = 0; o < 2; o++) {
    tap[o] = CLAMP ((int) fl + o, 0, side - 1);
    wt[o] = MAX (1.0f - fabsf (frac - (float) o), 0.0f);
  }
}

/* The position table resampled to patch (@row, @col) of an @gh x @gw grid,
 * into @dst [hidden]. */
static void
resample_position (const OmniVisionEncoder *e, int row, int col, int gh, int gw, float *dst)
{
  int side = e->cfg.pos_side, d = e->cfg.hidden_size, ht[2], wt[2];
  float hw[2], ww[2];
  const float *rows[4];
  float w[4];

  axis_taps (row, gh, side, ht, hw);
  axis_taps (col, gw, side, wt, ww);
  for (int a = 0; a < 2; a++) {
    for (int b = 0; b < 2; b++) {
      rows[2 * a + b] = e->pos_table + (size_t) (ht[a] * side + wt[b]) * d;
      w[2 * a + b] = hw[a] * ww[b];
    }
  }
  for (int j = 0; j < d; j++)
    dst[j] = rows[0][j] * w[0] + rows[1][j] * w[1] + rows[2][j] * w[2] + rows[3][j] * w[3];
}

/* Item @g from patch @k0 of @n: per patch, in merge-block order (bh, bw,
 * mh, mw), its rotary positions (0, row, col) and resampled position
 * embedding, the same in every temporal group; one attention segment per
 * group, appended to cu from *@s. */
static void
plan_item (OmniVisionEncoder *e, const OmniVisionGrid *g, int k0, int n, int *s)
{
  Plan *p = &e->plan;
  int m = e->cfg.spatial_merge_size, d = e->cfg.hidden_size, frame = g->h * g->w, k = k0;

  for (int bh = 0; bh < g->h / m; bh++)
    for (int bw = 0; bw < g->w / m; bw++)
      for (int mh = 0; mh < m; mh++)
        for (int mw = 0; mw < m; mw++, k++) {
          int row = bh * m + mh, col = bw * m + mw;
          p->rope_pos[k] = 0;
          p->rope_pos[n + k] = row;
          p->rope_pos[2 * n + k] = col;
          resample_position (e, row, col, g->h, g->w, p->pos_embed + (size_t) k * d);
        }
  p->cu[++*s] = k;
  for (int t = 1; t < g->t; t++, k += frame) {
    for (int a = 0; a < 3; a++)
      memcpy (p->rope_pos + (size_t) a * n + k, p->rope_pos + (size_t) a * n + k0,
              frame * sizeof (int32_t));
    memcpy (p->pos_embed + (size_t) k * d, p->pos_embed + (size_t) k0 * d,
            (size_t) frame * d * sizeof (float));
    p->cu[++*s] = k + frame;
  }
}

static void
plan_build (OmniVisionEncoder *e, const OmniVisionGrid *grids, int n_items)
{
  Plan *p = &e->plan;
  int m = e->cfg.spatial_merge_size, n = 0, segs = 0, s = 0;

  for (int i = 0; i < n_items; i++) {
    n += grids[i].t * grids[i].h * grids[i].w;
    segs += grids[i].t;
  }
  plan_reserve (e, n, segs);
  p->n_patches = n;
  p->n_tokens = n / (m * m);
  p->n_segs = segs;
  p->cu[0] = 0;
  for (int i = 0; i < n_items; i++)
    plan_item (e, &grids[i], p->cu[s], n, &s);
}

/* ---- buffers ---- */

static gboolean
buf_reserve (OmniVisionEncoder *e, Buf *buf, size_t n, GError **error)
{
  OmniBackend *b = e->backend;
  int64_t shape[1] = { (int64_t) n };

  if (n <= buf->cap)
    return TRUE;
  buf_free (b, buf);
  if (!b->ops->tensor_alloc (b, &buf->t, OMNI_DTYPE_F32, 1, shape, error)) {
    g_prefix_error (error, "vision encoder buffer of %" G_GSIZE_FORMAT " floats: ", n);
    return FALSE;
  }
  buf->cap = n;
  return TRUE;
}

/* @buf from float @off seen as a dense f32 tensor of @n_dims dims: a view,
 * no copy. */
static OmniTensor
view_at (const Buf *buf, size_t off, int n_dims, int64_t d0, int64_t d1, int64_t d2)
{
  OmniTensor v = buf->t;
  int64_t s[3] = { d0, d1, d2 };
  size_t n = 1;

  v.owned = FALSE;
  v.n_dims = n_dims;
  v.data = (float *) buf->t.data + off;
  memset (v.shape, 0, sizeof v.shape);
  for (int i = 0; i < n_dims; i++) {
    v.shape[i] = s[i];
    n *= (size_t) s[i];
  }
  v.n_bytes = n * sizeof (float);
  return v;
}

static OmniTensor
view (const Buf *buf, int n_dims, int64_t d0, int64_t d1, int64_t d2)
{
  return view_at (buf, 0, n_dims, d0, d1, d2);
}

static gboolean
reserve_all (OmniVisionEncoder *e, GError **error)
{
  const OmniVisionConfig *c = &e->cfg;
  size_t n = e->plan.n_patches, d = c->hidden_size, tok = e->plan.n_tokens;
  size_t ffn = MAX ((size_t) c->intermediate_size, d);  /* d: a merger's 4 d per token */

  return buf_reserve (e, &e->in, n * omni_vision_config_patch_dim (c), error)
      && buf_reserve (e, &e->x, n * d, error) && buf_reserve (e, &e->h, n * d, error)
      && buf_reserve (e, &e->qkv, 3 * n * d, error) && buf_reserve (e, &e->qkvp, 3 * n * d, error)
      && buf_reserve (e, &e->attn, n * d, error) && buf_reserve (e, &e->o, n * d, error)
      && buf_reserve (e, &e->ffn, n * ffn, error)
      && buf_reserve (e, &e->out, tok * c->out_hidden_size, error)
      && buf_reserve (e, &e->ds, MAX (c->n_deepstack, 1) * tok * c->out_hidden_size, error);
}

/* ---- forward ---- */

/* x = patches . W_patch^T + b + the resampled position table. */
static void
embed (OmniVisionEncoder *e, const float *const *patches, const OmniVisionGrid *grids,
       int n_items)
{
  const OmniBackendOps *ops = e->backend->ops;
  OmniBackend *b = e->backend;
  int64_t n = e->plan.n_patches, d = e->cfg.hidden_size, pd = omni_vision_config_patch_dim (&e->cfg);
  size_t row = 0;

  for (int i = 0; i < n_items; i++) {
    int64_t rows = (int64_t) grids[i].t * grids[i].h * grids[i].w;
    OmniTensor dst = view_at (&e->in, row * pd, 2, rows, pd, 0);
    ops->upload (b, &dst, patches[i], dst.n_bytes);
    row += rows;
  }
  OmniTensor in = view (&e->in, 2, n, pd, 0), x = view (&e->x, 2, n, d, 0);
  OmniTensor pos = view (&e->h, 2, n, d, 0);
  ops->matmul (b, &x, &in, &e->patch_w, &e->patch_b);
  ops->upload (b, &pos, e->plan.pos_embed, pos.n_bytes);
  ops->add (b, &x, &x, &pos);
}

/* x += proj(attention within segments(rope(q), rope(k), v of qkv(LN1(x))));
 * x += fc2(gelu(fc1(LN2(x)))). */
static void
block (OmniVisionEncoder *e, const VisionBlock *l)
{
  const OmniBackendOps *ops = e->backend->ops;
  OmniBackend *b = e->backend;
  const Plan *p = &e->plan;
  int64_t n = p->n_patches, d = e->cfg.hidden_size, H = e->cfg.num_heads, D = d / H;
  static const int split[3] = { 1, 0, 2 };
  OmniTensor x = view (&e->x, 2, n, d, 0), h = view (&e->h, 2, n, d, 0);
  OmniTensor qkv = view (&e->qkv, 2, n, 3 * d, 0), qkv3 = view (&e->qkv, 3, n, 3, d);
  OmniTensor qkvp = view (&e->qkvp, 3, 3, n, d);
  OmniTensor q = view_at (&e->qkvp, 0, 3, n, H, D), k = view_at (&e->qkvp, n * d, 3, n, H, D);
  OmniTensor v = view_at (&e->qkvp, 2 * n * d, 3, n, H, D);
  OmniTensor attn = view (&e->attn, 2, n, d, 0), o = view (&e->o, 2, n, d, 0);
  OmniTensor f = view (&e->ffn, 2, n, e->cfg.intermediate_size, 0);

  ops->layernorm (b, &h, &x, &l->ln1_w, &l->ln1_b, LN_EPS);
  ops->matmul (b, &qkv, &h, &l->qkv_w, &l->qkv_b);
  ops->permute (b, &qkvp, &qkv3, split);
  ops->rope (b, &q, p->rope_pos, &e->rope);
  ops->rope (b, &k, p->rope_pos, &e->rope);
  ops->attention_segments (b, &attn, &q, &k, &v, p->cu, p->n_segs,
                           (float) (1.0 / sqrt ((double) D)));
  ops->matmul (b, &o, &attn, &l->proj_w, &l->proj_b);
  ops->add (b, &x, &x, &o);
  ops->layernorm (b, &h, &x, &l->ln2_w, &l->ln2_b, LN_EPS);
  ops->matmul (b, &f, &h, &l->fc1_w, &l->fc1_b);
  ops->gelu (b, &f, &f, e->cfg.gelu_tanh);
  ops->matmul (b, &o, &f, &l->fc2_w, &l->fc2_b);
  ops->add (b, &x, &x, &o);
}

/* @y[tokens, out] = fc2(gelu(fc1(the merge block's patches side by side,
 * normalised per patch or, @postshuffle, as one vector))). */
static void
merge (OmniVisionEncoder *e, const VisionMerger *m, gboolean postshuffle, OmniTensor *y)
{
  const OmniBackendOps *ops = e->backend->ops;
  OmniBackend *b = e->backend;
  int64_t n = e->plan.n_patches, tok = e->plan.n_tokens, d = e->cfg.hidden_size;
  int64_t wide = d * (n / tok);
  OmniTensor x = view (&e->x, 2, n, d, 0);
  OmniTensor hn = postshuffle ? view (&e->h, 2, tok, wide, 0) : view (&e->h, 2, n, d, 0);
  OmniTensor xin = postshuffle ? view (&e->x, 2, tok, wide, 0) : x;
  OmniTensor h = view (&e->h, 2, tok, wide, 0), f = view (&e->ffn, 2, tok, wide, 0);

  ops->layernorm (b, &hn, &xin, &m->norm_w, &m->norm_b, LN_EPS);
  ops->matmul (b, &f, &h, &m->fc1_w, &m->fc1_b);
  ops->gelu (b, &f, &f, FALSE);
  ops->matmul (b, y, &f, &m->fc2_w, &m->fc2_b);
}

gboolean
omni_vision_encoder_forward (OmniVisionEncoder *e, const float *const *patches,
                             const OmniVisionGrid *grids, int n_items, OmniTensor **out,
                             OmniTensor **deepstack, GError **error)
{
  const OmniVisionConfig *c = &e->cfg;

  if (!check_grids (e, patches, grids, n_items, error)
      || !check_values (e, patches, grids, n_items, error))
    return FALSE;
  plan_build (e, grids, n_items);
  if (!reserve_all (e, error))
    return FALSE;
  int64_t tok = e->plan.n_tokens, od = c->out_hidden_size;
  embed (e, patches, grids, n_items);
  for (int i = 0, k = 0; i < c->depth; i++) {
    block (e, &e->blocks[i]);
    if (k < c->n_deepstack && c->deepstack_visual_indexes[k] == i) {
      e->ds_view[k] = view_at (&e->ds, (size_t) k * tok * od, 2, tok, od, 0);
      merge (e, &e->deepstack[k], TRUE, &e->ds_view[k]);
      k++;
    }
  }
  e->out_view = view (&e->out, 2, tok, od, 0);
  merge (e, &e->merger, FALSE, &e->out_view);
  *out = &e->out_view;
  for (int k = 0; deepstack && k < c->n_deepstack; k++)
    deepstack[k] = &e->ds_view[k];
  return TRUE;
}
