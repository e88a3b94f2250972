/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <math.h>
#include <string.h>
#include "omnicore.h"
#include "nn/qwen3.h"
#include "nn/rope.h"

typedef struct {
  OmniTensor attn_norm, wq, wk, wv, wo, q_norm, k_norm, mlp_norm;
  OmniTensor bq, bk, bv, bo;            /* data NULL unless attention_bias */
  gboolean moe;
  OmniTensor gate, up, down;            /* dense SwiGLU */
  OmniTensor router;                    /* MoE: [E, H] */
  OmniTensor *ex_gate, *ex_up, *ex_down; /* MoE: E weights each */
} OmniLayer;

struct _OmniModel {
  OmniTextConfig cfg;
  OmniGenerationConfig gen;
  OmniBackend *backend;
  OmniSafetensors *st;
  OmniTensor embed, norm, lm_head;
  OmniLayer *layers;
  GPtrArray *loaded;      /* OmniTensor * bound with weight_load, freed once each */
  OmniWeightStore *weights; /* converts matmul weights to the backend's quant; owns the cache map */
  float *inv_freq;
  OmniRope rope;
  OmniRope mrope;         /* with the M-RoPE sections; used with batch->rope_pos */
  gboolean has_dense;     /* some layer runs the dense MLP */
  OmniModelState *default_state;
};

struct _OmniModelState {
  OmniModel *m;
  OmniStateOptions opt;
  OmniKVCache kv;
  gboolean kv_ready;
  OmniKVPages pages;
  /* activations, each with max_batch_tokens rows */
  OmniTensor x, h, q, k, v, attn, o, gate, up, act, router, ids, weights;
  OmniTensor rows, logits;  /* max_logit_rows rows */
  OmniCaptureFunc capture;
  gpointer capture_data;
};

/* ---- loading ---- */

/* Binds the tensor @prefix@suffix of shape [d0] or [d0, d1] (@d1 = 0) to
 * @dst; a @matmul operand is stored at the backend's quant. */
static gboolean
bind_as (OmniModel *m, OmniTensor *dst, const char *prefix, const char *suffix, int64_t d0,
         int64_t d1, gboolean matmul, GError **error)
{
  g_autofree char *name = g_strconcat (prefix, suffix, NULL);
  int64_t shape[2] = { d0, d1 };
  const OmniSafeTensor *src = omni_safetensors_require (m->st, name, d1 ? 2 : 1, shape, error);

  if (!src)
    return FALSE;
  if (!omni_weight_store_load (m->weights, m->st, src, matmul, dst, error)) {
    g_prefix_error (error, "%s (%s): ", name, src->file);
    return FALSE;
  }
  g_ptr_array_add (m->loaded, dst);
  return TRUE;
}

/* A norm or bias: kept as stored. */
static gboolean
bind (OmniModel *m, OmniTensor *dst, const char *prefix, const char *suffix, int64_t d0,
      int64_t d1, GError **error)
{
  return bind_as (m, dst, prefix, suffix, d0, d1, FALSE, error);
}

/* A matmul operand (or the embedding table): at the backend's quant. */
static gboolean
bind_mat (OmniModel *m, OmniTensor *dst, const char *prefix, const char *suffix, int64_t d0,
          int64_t d1, GError **error)
{
  return bind_as (m, dst, prefix, suffix, d0, d1, TRUE, error);
}

static gboolean
bind_attention (OmniModel *m, OmniLayer *l, const char *p, GError **error)
{
  const OmniTextConfig *c = &m->cfg;
  int64_t H = c->hidden_size, D = c->head_dim;
  int64_t nq = (int64_t) c->num_attention_heads * D, nkv = (int64_t) c->num_key_value_heads * D;

  if (!bind (m, &l->attn_norm, p, "input_layernorm.weight", H, 0, error)
      || !bind_mat (m, &l->wq, p, "self_attn.q_proj.weight", nq, H, error)
      || !bind_mat (m, &l->wk, p, "self_attn.k_proj.weight", nkv, H, error)
      || !bind_mat (m, &l->wv, p, "self_attn.v_proj.weight", nkv, H, error)
      || !bind_mat (m, &l->wo, p, "self_attn.o_proj.weight", H, nq, error)
      || !bind (m, &l->q_norm, p, "self_attn.q_norm.weight", D, 0, error)
      || !bind (m, &l->k_norm, p, "self_attn.k_norm.weight", D, 0, error)
      || !bind (m, &l->mlp_norm, p, "post_attention_layernorm.weight", H, 0, error))
    return FALSE;
  if (!c->attention_bias)
    return TRUE;
  return bind (m, &l->bq, p, "self_attn.q_proj.bias", nq, 0, error)
      && bind (m, &l->bk, p, "self_attn.k_proj.bias", nkv, 0, error)
      && bind (m, &l->bv, p, "self_attn.v_proj.bias", nkv, 0, error)
      && bind (m, &l->bo, p, "self_attn.o_proj.bias", H, 0, error);
}

/* @dst[rows, cols] (owned by the backend) = the @rows x @cols block of the
 * stored (in, out) matrix @src at element @offset with row stride @stride,
 * transposed into the (out, in) layout the matmuls take. */
static gboolean
load_transposed (OmniModel *m, OmniTensor *dst, const OmniSafeTensor *src, size_t offset,
                 int64_t stride, int64_t rows, int64_t cols, GError **error)
{
  size_t es = omni_dtype_size (src->dtype);
  int64_t shape[2] = { rows, cols };
  g_autofree guint8 *host = g_malloc ((size_t) rows * cols * es);
  const guint8 *in = (const guint8 *) src->data + offset * es;
  /* the cache's key: the fused tensor and the block taken from it */
  g_autofree char *key = g_strdup_printf ("%s[%" G_GSIZE_FORMAT "+%" G_GINT64_FORMAT "]", src->name,
                                          offset, stride);

  for (int64_t r = 0; r < rows; r++)
    for (int64_t k = 0; k < cols; k++)
      memcpy (host + ((size_t) r * cols + k) * es, in + ((size_t) k * stride + r) * es, es);
  if (!omni_weight_store_load_host (m->weights, key, src->dtype, host, 2, shape, TRUE, dst, error)) {
    g_prefix_error (error, "%s (%s): ", src->name, src->file);
    return FALSE;
  }
  g_ptr_array_add (m->loaded, dst);
  return TRUE;
}

/* Qwen3-VL-MoE stores each layer's experts fused and transposed:
 * gate_up_proj [E, H, 2I] (gate = [.., 0:I], up = [.., I:2I]) and
 * down_proj [E, I, H], all (in, out). */
static gboolean
bind_fused_experts (OmniModel *m, OmniLayer *l, const char *p, GError **error)
{
  const OmniTextConfig *c = &m->cfg;
  int64_t H = c->hidden_size, I = c->moe_intermediate_size, E = c->num_experts;
  g_autofree char *gu_name = g_strconcat (p, "mlp.experts.gate_up_proj", NULL);
  g_autofree char *d_name = g_strconcat (p, "mlp.experts.down_proj", NULL);
  int64_t gu_shape[3] = { E, H, 2 * I }, d_shape[3] = { E, I, H };
  const OmniSafeTensor *gu = omni_safetensors_require (m->st, gu_name, 3, gu_shape, error);
  const OmniSafeTensor *d = gu ? omni_safetensors_require (m->st, d_name, 3, d_shape, error) : NULL;

  if (!d)
    return FALSE;
  if (gu->dtype != OMNI_DTYPE_F32 && gu->dtype != OMNI_DTYPE_F16 && gu->dtype != OMNI_DTYPE_BF16) {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_UNSUPPORTED, "%s (%s): fused experts in %s; "
                 "expected F32, F16 or BF16", gu->name, gu->file, omni_dtype_name (gu->dtype));
    return FALSE;
  }
  for (int64_t e = 0; e < E; e++) {
    size_t at = (size_t) e * H * 2 * I;
    if (!load_transposed (m, &l->ex_gate[e], gu, at, 2 * I, I, H, error)
        || !load_transposed (m, &l->ex_up[e], gu, at + I, 2 * I, I, H, error)
        || !load_transposed (m, &l->ex_down[e], d, (size_t) e * I * H, H, H, I, error))
      return FALSE;
  }
  return TRUE;
}

/* Experts are stored one tensor per expert and projection (the Qwen3-MoE
 * checkpoint layout; transformers fuses them only in memory), or fused
 * (Qwen3-VL-MoE). */
static gboolean
bind_moe (OmniModel *m, OmniLayer *l, const char *p, GError **error)
{
  const OmniTextConfig *c = &m->cfg;
  int64_t H = c->hidden_size, I = c->moe_intermediate_size;
  int E = c->num_experts;
  g_autofree char *fused = g_strconcat (p, "mlp.experts.gate_up_proj", NULL);

  l->ex_gate = g_new0 (OmniTensor, E);
  l->ex_up = g_new0 (OmniTensor, E);
  l->ex_down = g_new0 (OmniTensor, E);
  /* the router stays as stored: its choice is discrete, and quantization
   * noise that flips an expert costs far more than its few bytes save */
  if (!bind (m, &l->router, p, "mlp.gate.weight", E, H, error))
    return FALSE;
  if (omni_safetensors_get (m->st, fused))
    return bind_fused_experts (m, l, p, error);
  for (int e = 0; e < E; e++) {
    g_autofree char *g = g_strdup_printf ("mlp.experts.%d.gate_proj.weight", e);
    g_autofree char *u = g_strdup_printf ("mlp.experts.%d.up_proj.weight", e);
    g_autofree char *d = g_strdup_printf ("mlp.experts.%d.down_proj.weight", e);
    if (!bind_mat (m, &l->ex_gate[e], p, g, I, H, error)
        || !bind_mat (m, &l->ex_up[e], p, u, I, H, error)
        || !bind_mat (m, &l->ex_down[e], p, d, H, I, error))
      return FALSE;
  }
  return TRUE;
}

static gboolean
bind_layer (OmniModel *m, int i, GError **error)
{
  const OmniTextConfig *c = &m->cfg;
  OmniLayer *l = &m->layers[i];
  g_autofree char *p = g_strdup_printf ("%slayers.%d.", c->prefix, i);
  int64_t H = c->hidden_size, I = c->intermediate_size;

  if (!bind_attention (m, l, p, error))
    return FALSE;
  l->moe = c->is_moe_layer[i];
  if (l->moe)
    return bind_moe (m, l, p, error);
  m->has_dense = TRUE;
  return bind_mat (m, &l->gate, p, "mlp.gate_proj.weight", I, H, error)
      && bind_mat (m, &l->up, p, "mlp.up_proj.weight", I, H, error)
      && bind_mat (m, &l->down, p, "mlp.down_proj.weight", H, I, error);
}

/* lm_head is embed_tokens when the config ties them (transformers ties even
 * if the checkpoint also stores an lm_head). */
static gboolean
bind_head (OmniModel *m, GError **error)
{
  const OmniTextConfig *c = &m->cfg;

  if (!bind_mat (m, &m->embed, c->prefix, "embed_tokens.weight", c->vocab_size, c->hidden_size, error)
      || !bind (m, &m->norm, c->prefix, "norm.weight", c->hidden_size, 0, error))
    return FALSE;
  if (c->tie_word_embeddings) {
    m->lm_head = m->embed;
    m->lm_head.owned = FALSE;
    return TRUE;
  }
  return bind_mat (m, &m->lm_head, "", c->lm_head_name, c->vocab_size, c->hidden_size, error);
}

static gboolean
check_config (const OmniTextConfig *c, const char *path, GError **error)
{
  const char *bad = NULL;

  if (c->num_hidden_layers <= 0 || c->num_hidden_layers > OMNI_MAX_LAYERS)
    bad = "num_hidden_layers";
  else if (c->num_key_value_heads <= 0 || c->num_attention_heads % c->num_key_value_heads)
    bad = "num_key_value_heads (must divide num_attention_heads)";
  else if (c->num_experts > 0
           && (c->num_experts_per_tok <= 0 || c->num_experts_per_tok > c->num_experts))
    bad = "num_experts_per_tok (must be in 1..num_experts)";
  else if (c->num_experts > 0 && c->moe_intermediate_size <= 0)
    bad = "moe_intermediate_size";
  if (!bad)
    return TRUE;
  g_set_error (error, OMNI_ERROR, OMNI_ERROR_FORMAT, "%s: invalid %s", path, bad);
  return FALSE;
}

static gboolean
load_configs (OmniModel *m, const char *dir, GError **error)
{
  g_autofree char *cfg = g_build_filename (dir, "config.json", NULL);
  g_autofree char *gen = g_build_filename (dir, "generation_config.json", NULL);

  return omni_text_config_load (cfg, &m->cfg, error) && check_config (&m->cfg, cfg, error)
      && omni_generation_config_load (gen, &m->gen, error);
}

OmniModel *
omni_model_load (const char *dir, OmniBackend *backend, GError **error)
{
  OmniModel *m = g_new0 (OmniModel, 1);

  m->backend = backend;
  m->loaded = g_ptr_array_new ();
  if (!load_configs (m, dir, error))
    goto fail;
  m->inv_freq = g_new0 (float, m->cfg.head_dim / 2 + 1);
  if (!omni_rope_compute (&m->cfg, m->inv_freq, &m->rope.attn_scale, error))
    goto fail;
  m->rope.rot_dim = m->cfg.head_dim;
  m->rope.inv_freq = m->inv_freq;
  m->mrope = m->rope;
  memcpy (m->mrope.mrope_section, m->cfg.mrope_section, sizeof m->mrope.mrope_section);
  m->mrope.mrope_interleaved = m->cfg.mrope_interleaved;
  m->st = omni_safetensors_open_dir (dir, error);
  if (!m->st)
    goto fail;
  m->weights = omni_weight_store_new (backend, dir, "decoder");
  if (!bind_head (m, error))
    goto fail;
  m->layers = g_new0 (OmniLayer, m->cfg.num_hidden_layers);
  for (int i = 0; i < m->cfg.num_hidden_layers; i++)
    if (!bind_layer (m, i, error))
      goto fail;
  omni_weight_store_finish (m->weights);
  g_debug ("loaded %s: %d layers, hidden %d, vocab %d, %u weights", dir,
           m->cfg.num_hidden_layers, m->cfg.hidden_size, m->cfg.vocab_size, m->loaded->len);
  return m;
fail:
  omni_model_free (m);
  return NULL;
}

void
omni_model_free (OmniModel *m)
{
  if (!m)
    return;
  g_clear_pointer (&m->default_state, omni_model_state_free);
  for (guint i = 0; i < m->loaded->len; i++)
    m->backend->ops->tensor_free (m->backend, g_ptr_array_index (m->loaded, i));
  g_ptr_array_free (m->loaded, TRUE);
  g_clear_pointer (&m->weights, omni_weight_store_free);
  for (int i = 0; m->layers && i < m->cfg.num_hidden_layers; i++) {
    g_free (m->layers[i].ex_gate);
    g_free (m->layers[i].ex_up);
    g_free (m->layers[i].ex_down);
  }
  g_free (m->layers);
  g_free (m->inv_freq);
  g_clear_pointer (&m->st, omni_safetensors_free);
  g_free (m);
}

const OmniTextConfig *
omni_model_config (const OmniModel *m)
{
  return &m->cfg;
}

const OmniGenerationConfig *
omni_model_generation_config (const OmniModel *m)
{
  return &m->gen;
}

OmniBackend *
omni_model_backend (const OmniModel *m)
{
  return m->backend;
}

const OmniRope *
omni_model_rope (const OmniModel *m)
{
  return &m->rope;
}

/* ---- state ---- */

static void
fill_options (const OmniModel *m, OmniStateOptions *o)
{
  /* 4096 tokens: enough for captions, translations and chat turns; the full
   * max_position_embeddings (40960+) would reserve gigabytes of KV up front */
  if (o->max_context <= 0)
    o->max_context = MIN (4096, m->cfg.max_position_embeddings > 0
                                    ? m->cfg.max_position_embeddings : 4096);
  if (o->max_seqs <= 0)
    o->max_seqs = 1;
  if (o->max_batch_tokens <= 0)
    o->max_batch_tokens = 256;
  if (o->max_logit_rows <= 0)
    o->max_logit_rows = o->max_seqs;
  if (o->page_size <= 0)
    o->page_size = 16;
  if (o->kv_tokens <= 0 || o->kv_tokens > o->max_context * o->max_seqs)
    o->kv_tokens = o->max_context * o->max_seqs;
}

static gboolean
alloc2 (OmniModelState *st, OmniTensor *t, OmniDType dt, int64_t rows, int64_t cols, GError **error)
{
  OmniBackend *b = st->m->backend;
  int64_t shape[2] = { rows, cols };

  if (!b->ops->tensor_alloc (b, t, dt, 2, shape, error)) {
    g_prefix_error (error, "activation buffer [%" G_GINT64_FORMAT ", %" G_GINT64_FORMAT "]: ",
                    rows, cols);
    return FALSE;
  }
  return TRUE;
}

static gboolean
alloc_activations (OmniModelState *st, GError **error)
{
  const OmniTextConfig *c = &st->m->cfg;
  int64_t T = st->opt.max_batch_tokens, R = st->opt.max_logit_rows, H = c->hidden_size;
  int64_t nq = (int64_t) c->num_attention_heads * c->head_dim;
  int64_t nkv = (int64_t) c->num_key_value_heads * c->head_dim;
  OmniDType f = OMNI_DTYPE_F32;

  if (!alloc2 (st, &st->x, f, T, H, error) || !alloc2 (st, &st->h, f, T, H, error)
      || !alloc2 (st, &st->q, f, T, nq, error) || !alloc2 (st, &st->k, f, T, nkv, error)
      || !alloc2 (st, &st->v, f, T, nkv, error) || !alloc2 (st, &st->attn, f, T, nq, error)
      || !alloc2 (st, &st->o, f, T, H, error) || !alloc2 (st, &st->rows, f, R, H, error)
      || !alloc2 (st, &st->logits, f, R, c->vocab_size, error))
    return FALSE;
  if (st->m->has_dense
      && (!alloc2 (st, &st->gate, f, T, c->intermediate_size, error)
          || !alloc2 (st, &st->up, f, T, c->intermediate_size, error)
          || !alloc2 (st, &st->act, f, T, c->intermediate_size, error)))
    return FALSE;
  if (c->num_experts > 0
      && (!alloc2 (st, &st->router, f, T, c->num_experts, error)
          || !alloc2 (st, &st->ids, OMNI_DTYPE_I32, T, c->num_experts_per_tok, error)
          || !alloc2 (st, &st->weights, f, T, c->num_experts_per_tok, error)))
    return FALSE;
  return TRUE;
}

OmniModelState *
omni_model_state_new (OmniModel *m, const OmniStateOptions *opt, GError **error)
{
  OmniModelState *st = g_new0 (OmniModelState, 1);
  const OmniTextConfig *c = &m->cfg;
  int max_pages, n_pages;

  st->m = m;
  if (opt)
    st->opt = *opt;
  fill_options (m, &st->opt);
  if (st->opt.max_context > (1 << 24) || st->opt.max_seqs > 4096
      || st->opt.max_batch_tokens > (1 << 20) || st->opt.max_logit_rows > 4096
      || st->opt.page_size > 4096
      || (gint64) st->opt.max_context * st->opt.max_seqs > G_MAXINT / 2
      || st->opt.kv_tokens < st->opt.max_context) {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_INVALID,
                 "state options out of range: max_context %d, max_seqs %d, max_batch_tokens %d, "
                 "max_logit_rows %d, page_size %d, kv_tokens %d (at least max_context)",
                 st->opt.max_context, st->opt.max_seqs, st->opt.max_batch_tokens,
                 st->opt.max_logit_rows, st->opt.page_size, st->opt.kv_tokens);
    g_free (st);
    return NULL;
  }
  max_pages = (st->opt.max_context + st->opt.page_size - 1) / st->opt.page_size;
  n_pages = (st->opt.kv_tokens + st->opt.page_size - 1) / st->opt.page_size;
  omni_kv_pages_init (&st->pages, st->opt.page_size, n_pages, st->opt.max_seqs, max_pages);
  if (!omni_kv_cache_init (m->backend, &st->kv, c->num_hidden_layers, c->num_key_value_heads,
                           c->head_dim, st->opt.page_size, n_pages, error)) {
    g_prefix_error (error, "KV cache of %d tokens (%d sequences of up to %d): ",
                    st->opt.kv_tokens, st->opt.max_seqs, st->opt.max_context);
    goto fail;
  }
  st->kv_ready = TRUE;
  if (!alloc_activations (st, error))
    goto fail;
  return st;
fail:
  omni_model_state_free (st);
  return NULL;
}

void
omni_model_state_free (OmniModelState *st)
{
  OmniBackend *b;

  if (!st)
    return;
  b = st->m->backend;
  OmniTensor *all[] = { &st->x, &st->h, &st->q, &st->k, &st->v, &st->attn, &st->o, &st->gate,
                        &st->up, &st->act, &st->router, &st->ids, &st->weights, &st->rows,
                        &st->logits };
  for (gsize i = 0; i < G_N_ELEMENTS (all); i++)
    if (all[i]->data)
      b->ops->tensor_free (b, all[i]);
  if (st->kv_ready)
    omni_kv_cache_clear (b, &st->kv);
  omni_kv_pages_clear (&st->pages);
  g_free (st);
}

const OmniStateOptions *
omni_model_state_options (const OmniModelState *st)
{
  return &st->opt;
}

OmniKVPages *
omni_model_state_pages (OmniModelState *st)
{
  return &st->pages;
}

void
omni_model_state_batch (OmniModelState *st, OmniBatch *batch, int n_tokens, const int32_t *pos,
                        const int32_t *seq)
{
  batch->n_tokens = n_tokens;
  batch->pos = pos;
  batch->seq = seq;
  batch->block_tables = st->pages.block_tables;
  batch->n_seqs = st->pages.n_seqs;
  batch->max_pages = st->pages.max_pages;
  batch->rope_pos = NULL;
}

OmniModelState *
omni_model_default_state (OmniModel *m, GError **error)
{
  if (!m->default_state)
    m->default_state = omni_model_state_new (m, NULL, error);
  return m->default_state;
}

void
omni_model_state_set_capture (OmniModelState *st, OmniCaptureFunc func, gpointer user_data)
{
  st->capture = func;
  st->capture_data = user_data;
}

/* ---- forward ---- */

/* The first @rows rows of @t, seen as [rows, cols] or [rows, heads, cols]
 * (@heads = 0 for 2-D): a view, no copy. */
static OmniTensor
view (const OmniTensor *t, int64_t rows, int64_t heads, int64_t cols)
{
  OmniTensor v = *t;

  v.owned = FALSE;
  v.n_dims = heads ? 3 : 2;
  v.shape[0] = rows;
  v.shape[1] = heads ? heads : cols;
  v.shape[2] = heads ? cols : 0;
  v.shape[3] = 0;
  v.n_bytes = (size_t) rows * (heads ? heads : 1) * cols * omni_dtype_size (t->dtype);
  return v;
}

/* A view of rows @first.. (@n of them) of the [rows, cols] f32 tensor @t. */
static OmniTensor
row_view (const OmniTensor *t, int first, int n)
{
  OmniTensor v = *t;

  v.shape[0] = n;
  v.data = (char *) t->data + (size_t) first * t->shape[1] * sizeof (float);
  v.n_bytes = (size_t) n * t->shape[1] * sizeof (float);
  v.owned = FALSE;
  return v;
}

static gboolean
check_batch (OmniModel *m, OmniModelState *st, const OmniBatch *batch, const int32_t *tokens,
             const int32_t *logit_rows, int n_logit_rows, GError **error)
{
  int n = batch->n_tokens;

  if (n <= 0 || n > st->opt.max_batch_tokens || n_logit_rows < 0
      || n_logit_rows > st->opt.max_logit_rows || batch->block_tables != st->pages.block_tables) {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_INVALID,
                 "forward: %d tokens (1..%d) and %d logit rows (0..%d) on the state's pages",
                 n, st->opt.max_batch_tokens, n_logit_rows, st->opt.max_logit_rows);
    return FALSE;
  }
  for (int i = 0; i < n; i++) {
    int s = batch->seq[i];
    if (tokens[i] < 0 || tokens[i] >= m->cfg.vocab_size) {
      g_set_error (error, OMNI_ERROR, OMNI_ERROR_INVALID, "forward: token id %d out of 0..%d",
                   tokens[i], m->cfg.vocab_size - 1);
      return FALSE;
    }
    if (s < 0 || s >= st->pages.n_seqs || !st->pages.seq_open[s] || batch->pos[i] < 0
        || batch->pos[i] >= omni_kv_pages_capacity (&st->pages, s)) {
      g_set_error (error, OMNI_ERROR, OMNI_ERROR_INVALID,
                   "forward: position %d of sequence %d is not reserved in the KV cache",
                   batch->pos[i], s);
      return FALSE;
    }
  }
  for (int i = 0; i < n_logit_rows; i++) {
    if (logit_rows[i] < 0 || logit_rows[i] >= n) {
      g_set_error (error, OMNI_ERROR, OMNI_ERROR_INVALID, "forward: logit row %d out of 0..%d",
                   logit_rows[i], n - 1);
      return FALSE;
    }
  }
  return TRUE;
}

static void
capture (OmniModelState *st, int point, const OmniTensor *t)
{
  if (st->capture)
    st->capture (point, t, st->capture_data);
}

/* h = rmsnorm(x) * w; when @o is not NULL x += o first (the residual the
 * block before left pending), fused into one op where the backend has it. */
static void
residual_norm (OmniModel *m, OmniTensor *h, OmniTensor *x, const OmniTensor *o, const OmniTensor *w)
{
  const OmniBackendOps *ops = m->backend->ops;
  float eps = (float) m->cfg.rms_norm_eps;

  if (o && ops->add_rmsnorm) {
    ops->add_rmsnorm (m->backend, x, h, o, w, eps);
    return;
  }
  if (o)
    ops->add (m->backend, x, x, o);
  ops->rmsnorm (m->backend, h, x, w, eps);
}

/* st->o = o_proj(attention(rope(norm(q)), rope(norm(k)), v)) for layer @li,
 * left for the caller to add to x; x += st->o first when @pending. */
static void
attention_block (OmniModel *m, OmniModelState *st, int li, const OmniBatch *batch, OmniTensor *x,
                 gboolean pending)
{
  const OmniBackendOps *ops = m->backend->ops;
  OmniBackend *b = m->backend;
  const OmniTextConfig *c = &m->cfg;
  const OmniLayer *l = &m->layers[li];
  int64_t n = batch->n_tokens, D = c->head_dim, nh = c->num_attention_heads;
  int64_t nkv = c->num_key_value_heads, H = c->hidden_size;
  OmniTensor h = view (&st->h, n, 0, H);
  OmniTensor q = view (&st->q, n, 0, nh * D), k = view (&st->k, n, 0, nkv * D);
  OmniTensor v = view (&st->v, n, 0, nkv * D);
  OmniTensor q_heads = view (&st->q, n * nh, 0, D), k_heads = view (&st->k, n * nkv, 0, D);
  OmniTensor q3 = view (&st->q, n, nh, D), k3 = view (&st->k, n, nkv, D);
  OmniTensor v3 = view (&st->v, n, nkv, D);
  OmniTensor attn = view (&st->attn, n, 0, nh * D), o = view (&st->o, n, 0, H);

  residual_norm (m, &h, x, pending ? &o : NULL, &l->attn_norm);
  ops->matmul (b, &q, &h, &l->wq, l->bq.data ? &l->bq : NULL);
  ops->matmul (b, &k, &h, &l->wk, l->bk.data ? &l->bk : NULL);
  ops->matmul (b, &v, &h, &l->wv, l->bv.data ? &l->bv : NULL);
  /* QK-norm per head over head_dim, before RoPE */
  ops->rmsnorm (b, &q_heads, &q_heads, &l->q_norm, (float) c->rms_norm_eps);
  ops->rmsnorm (b, &k_heads, &k_heads, &l->k_norm, (float) c->rms_norm_eps);
  const OmniRope *rope = batch->rope_pos ? &m->mrope : &m->rope;
  const int32_t *rope_pos = batch->rope_pos ? batch->rope_pos : batch->pos;
  ops->rope (b, &q3, rope_pos, rope);
  ops->rope (b, &k3, rope_pos, rope);
  ops->kv_store (b, &st->kv, li, &k3, &v3, batch);
  ops->attention (b, &attn, &q3, &st->kv, li, batch, (float) (1.0 / sqrt ((double) D)));
  ops->matmul (b, &o, &attn, &l->wo, l->bo.data ? &l->bo : NULL);
}

/* x += st->o (the attention output), then st->o = mlp(norm(x)), left for
 * the caller to add: dense SwiGLU or the routed experts. */
static void
mlp_block (OmniModel *m, OmniModelState *st, int li, int64_t n, OmniTensor *x)
{
  const OmniBackendOps *ops = m->backend->ops;
  OmniBackend *b = m->backend;
  const OmniTextConfig *c = &m->cfg;
  const OmniLayer *l = &m->layers[li];
  int64_t H = c->hidden_size;
  OmniTensor h = view (&st->h, n, 0, H), o = view (&st->o, n, 0, H);

  residual_norm (m, &h, x, &o, &l->mlp_norm);
  if (l->moe) {
    int K = c->num_experts_per_tok;
    OmniTensor logits = view (&st->router, n, 0, c->num_experts);
    OmniTensor ids = view (&st->ids, n, 0, K), w = view (&st->weights, n, 0, K);
    ops->matmul (b, &logits, &h, &l->router, NULL);
    ops->moe_route (b, &ids, &w, &logits, K, c->norm_topk_prob);
    ops->moe_experts (b, &o, &h, &ids, &w, l->ex_gate, l->ex_up, l->ex_down, c->num_experts);
  } else {
    int64_t I = c->intermediate_size;
    OmniTensor g = view (&st->gate, n, 0, I), u = view (&st->up, n, 0, I);
    OmniTensor a = view (&st->act, n, 0, I);
    ops->matmul (b, &g, &h, &l->gate, NULL);
    ops->matmul (b, &u, &h, &l->up, NULL);
    ops->swiglu (b, &a, &g, &u);
    ops->matmul (b, &o, &a, &l->down, NULL);
  }
}

/* A decode step (every token wants logits) of a device backend runs as one
 * captured graph, replayed for every later step of the same shape; the key
 * packs that shape exactly. Capture hooks read tensors mid-step, so not then. */
static gboolean
step_key (const OmniModel *m, const OmniModelState *st, const OmniBatch *batch,
          int n_logit_rows, guint64 *key)
{
  if (!m->backend->ops->step_begin || st->capture || n_logit_rows != batch->n_tokens
      || batch->n_tokens >= (1 << 13) || batch->n_seqs >= (1 << 13)
      || batch->max_pages >= (1 << 24))
    return FALSE;
  *key = (guint64) batch->n_tokens | (guint64) batch->n_seqs << 13
         | (guint64) batch->max_pages << 26 | (guint64) (batch->rope_pos != NULL) << 50;
  return TRUE;
}

gboolean
omni_model_forward (OmniModel *m, OmniModelState *st, const OmniBatch *batch,
                    const int32_t *tokens, const int32_t *logit_rows, int n_logit_rows,
                    float *logits_out, GError **error)
{
  return omni_model_forward_patched (m, st, batch, tokens, NULL, 0, logit_rows, n_logit_rows,
                                     logits_out, error);
}

static gboolean
check_patches (OmniModel *m, const OmniBatch *batch, const OmniEmbedPatch *patches,
               int n_patches, GError **error)
{
  if (batch->rope_pos && m->cfg.mrope_section[0] + m->cfg.mrope_section[1] == 0) {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_INVALID,
                 "forward: M-RoPE positions given to a model without M-RoPE (%s)",
                 m->cfg.architecture);
    return FALSE;
  }
  for (int p = 0; p < n_patches; p++) {
    const OmniEmbedPatch *e = &patches[p];
    if (!e->src || e->src->n_dims != 2 || e->src->shape[1] != m->cfg.hidden_size
        || e->src->dtype != OMNI_DTYPE_F32 || e->n < 0 || e->src_row < 0
        || e->n_deepstack < 0 || e->n_deepstack > OMNI_MAX_DEEPSTACK
        || e->src_row + e->n > e->src->shape[0]) {
      g_set_error (error, OMNI_ERROR, OMNI_ERROR_INVALID,
                   "forward: embedding patch %d does not fit (rows %d..+%d of a [%" G_GINT64_FORMAT
                   ", %" G_GINT64_FORMAT "] tensor; the model's hidden size is %d)", p,
                   e->src_row, e->n, e->src ? e->src->shape[0] : 0,
                   e->src ? e->src->shape[1] : 0, m->cfg.hidden_size);
      return FALSE;
    }
    for (int k = 0; k < e->n_deepstack; k++) {
      const OmniTensor *d = e->deepstack[k];
      if (k >= m->cfg.num_hidden_layers || !d || d->n_dims != 2 || d->dtype != OMNI_DTYPE_F32
          || d->shape[1] != m->cfg.hidden_size || e->src_row + e->n > d->shape[0]) {
        g_set_error (error, OMNI_ERROR, OMNI_ERROR_INVALID,
                     "forward: DeepStack level %d of embedding patch %d does not fit the patch's "
                     "rows or the model (%d layers, hidden size %d)", k, p,
                     m->cfg.num_hidden_layers, m->cfg.hidden_size);
        return FALSE;
      }
    }
    for (int i = 0; i < e->n; i++) {
      if (e->rows[i] < 0 || e->rows[i] >= batch->n_tokens) {
        g_set_error (error, OMNI_ERROR, OMNI_ERROR_INVALID,
                     "forward: embedding patch %d replaces row %d of a %d-token batch", p,
                     e->rows[i], batch->n_tokens);
        return FALSE;
      }
    }
  }
  return TRUE;
}

/* Overwrites the patched rows of the embeddings @x. */
static void
apply_patches (OmniModel *m, OmniTensor *x, const OmniEmbedPatch *patches, int n_patches)
{
  for (int p = 0; p < n_patches; p++) {
    const OmniEmbedPatch *e = &patches[p];
    if (e->n == 0)
      continue;
    OmniTensor src = row_view (e->src, e->src_row, e->n);
    m->backend->ops->set_rows (m->backend, x, &src, e->rows, e->n);
  }
}

/* TRUE when add_deepstack changes x after decoder layer @li. */
static gboolean
has_deepstack (int li, const OmniEmbedPatch *patches, int n_patches)
{
  for (int p = 0; p < n_patches; p++)
    if (li < patches[p].n_deepstack && patches[p].n > 0)
      return TRUE;
  return FALSE;
}

/* DeepStack (Qwen3-VL): after decoder layer @li, the patched rows get the
 * vision tower's features of level @li added (h is free between layers). */
static void
add_deepstack (OmniModel *m, OmniModelState *st, int li, OmniTensor *x,
               const OmniEmbedPatch *patches, int n_patches)
{
  const OmniBackendOps *ops = m->backend->ops;

  for (int p = 0; p < n_patches; p++) {
    const OmniEmbedPatch *e = &patches[p];
    if (li >= e->n_deepstack || e->n == 0)
      continue;
    OmniTensor rows = view (&st->h, e->n, 0, m->cfg.hidden_size);
    OmniTensor feat = row_view (e->deepstack[li], e->src_row, e->n);
    ops->get_rows (m->backend, &rows, x, e->rows, e->n);
    ops->add (m->backend, &rows, &rows, &feat);
    ops->set_rows (m->backend, x, &rows, e->rows, e->n);
  }
}

gboolean
omni_model_forward_patched (OmniModel *m, OmniModelState *st, const OmniBatch *batch,
                            const int32_t *tokens, const OmniEmbedPatch *patches, int n_patches,
                            const int32_t *logit_rows, int n_logit_rows, float *logits_out,
                            GError **error)
{
  const OmniBackendOps *ops = m->backend->ops;
  OmniBackend *b = m->backend;
  const OmniTextConfig *c = &m->cfg;
  int64_t n = batch->n_tokens, H = c->hidden_size;

  guint64 key;

  if (!check_batch (m, st, batch, tokens, logit_rows, n_logit_rows, error)
      || !check_patches (m, batch, patches, n_patches, error))
    return FALSE;
  /* patches come with prompts, which never run as captured steps */
  gboolean step = n_patches == 0 && step_key (m, st, batch, n_logit_rows, &key);
  if (step)
    ops->step_begin (b, key);
  OmniTensor x = view (&st->x, n, 0, H), h = view (&st->h, n, 0, H);
  OmniTensor o = view (&st->o, n, 0, H);
  /* A block's output stays in o until the next norm adds it to x (fused);
   * DeepStack and capture hooks want x whole after the layer. */
  gboolean pending = FALSE;
  ops->embed (b, &x, &m->embed, tokens, (int) n);
  apply_patches (m, &x, patches, n_patches);
  capture (st, OMNI_CAPTURE_EMBED, &x);
  for (int li = 0; li < c->num_hidden_layers; li++) {
    attention_block (m, st, li, batch, &x, pending);
    mlp_block (m, st, li, n, &x);
    pending = TRUE;
    if (st->capture || has_deepstack (li, patches, n_patches)) {
      ops->add (b, &x, &x, &o);
      pending = FALSE;
    }
    add_deepstack (m, st, li, &x, patches, n_patches);
    capture (st, li, &x);
  }
  residual_norm (m, &h, &x, pending ? &o : NULL, &m->norm);
  capture (st, c->num_hidden_layers, &h);
  if (n_logit_rows == 0)
    return TRUE;
  OmniTensor rows = view (&st->rows, n_logit_rows, 0, H);
  OmniTensor logits = view (&st->logits, n_logit_rows, 0, c->vocab_size);
  ops->get_rows (b, &rows, &h, logit_rows, n_logit_rows);
  ops->matmul (b, &logits, &rows, &m->lm_head, NULL);
  if (step)
    ops->step_end (b);
  ops->download (b, &logits, logits_out, logits.n_bytes);
  return TRUE;
}

/* ---- weight statistics ---- */

static int64_t
tensor_elements (const OmniTensor *t)
{
  int64_t n = 1;

  for (int i = 0; i < t->n_dims; i++)
    n *= t->shape[i];
  return n;
}

/* Bytes and elements of the matmul weights of layer @l one token reads;
 * @ratio is the share of experts it runs (MoE). */
static void
layer_stats (const OmniLayer *l, int n_experts, double ratio, double *bytes, double *params)
{
  const OmniTensor *dense[] = { &l->wq, &l->wk, &l->wv, &l->wo, &l->gate, &l->up, &l->down,
                                &l->router };

  for (gsize i = 0; i < G_N_ELEMENTS (dense); i++) {
    if (!dense[i]->data)
      continue;
    *bytes += dense[i]->n_bytes;
    *params += tensor_elements (dense[i]);
  }
  for (int e = 0; l->moe && e < n_experts; e++) {
    const OmniTensor *ex[] = { &l->ex_gate[e], &l->ex_up[e], &l->ex_down[e] };
    for (gsize i = 0; i < G_N_ELEMENTS (ex); i++) {
      *bytes += ex[i]->n_bytes * ratio;
      *params += tensor_elements (ex[i]) * ratio;
    }
  }
}

void
omni_model_weight_stats (const OmniModel *m, OmniModelWeightStats *out)
{
  const OmniTextConfig *c = &m->cfg;
  double ratio = c->num_experts > 0 ? (double) c->num_experts_per_tok / c->num_experts : 1.0;
  double mm_bytes = 0, mm_params = 0;
  size_t small = 0;

  memset (out, 0, sizeof *out);
  for (guint i = 0; i < m->loaded->len; i++) {
    const OmniTensor *t = g_ptr_array_index (m->loaded, i);
    out->bytes += t->n_bytes;
    out->params += tensor_elements (t);
    if (t->n_dims == 1)
      small += t->n_bytes;   /* norms and biases, all read every step */
  }
  for (int li = 0; li < c->num_hidden_layers; li++)
    layer_stats (&m->layers[li], c->num_experts, ratio, &mm_bytes, &mm_params);
  out->matmul_params = (int64_t) mm_params;
  out->decode_bytes = (size_t) mm_bytes + small + m->lm_head.n_bytes;
}
