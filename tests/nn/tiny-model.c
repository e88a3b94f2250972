/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <math.h>
#include <stdio.h>
#include "tiny-model.h"

static void
add_tensor (TinyModel *m, GRand *r, float base, float scale, int64_t d0, int64_t d1,
            const char *fmt, ...) G_GNUC_PRINTF (7, 8);

static void
add_tensor (TinyModel *m, GRand *r, float base, float scale, int64_t d0, int64_t d1,
            const char *fmt, ...)
{
  TinyTensor *t = g_new0 (TinyTensor, 1);
  va_list ap;
  int64_t n = d0 * (d1 ? d1 : 1);

  va_start (ap, fmt);
  t->name = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  t->n_dims = d1 ? 2 : 1;
  t->shape[0] = d0;
  t->shape[1] = d1;
  t->data = g_new (float, n);
  for (int64_t i = 0; i < n; i++)
    t->data[i] = base + scale * (float) g_rand_double_range (r, -1, 1);
  g_ptr_array_add (m->tensors, t);
}

static gboolean
layer_is_moe (const TinySpec *s, int l)
{
  for (int i = 0; i < s->n_mlp_only; i++)
    if (s->mlp_only[i] == l)
      return FALSE;
  return s->experts > 0 && (l + 1) % s->sparse_step == 0;
}

TinyModel *
tiny_model_new (const TinySpec *spec, guint32 seed)
{
  TinyModel *m = g_new0 (TinyModel, 1);
  const TinySpec *s = &m->s;
  GRand *r = g_rand_new_with_seed (seed);
  int64_t H = spec->hidden, D = spec->head_dim;

  m->s = *spec;
  if (m->s.sparse_step <= 0)
    m->s.sparse_step = 1;
  m->tensors = g_ptr_array_new ();
  add_tensor (m, r, 0, 0.5f, s->vocab, H, "model.embed_tokens.weight");
  for (int l = 0; l < s->layers; l++) {
    const char *p = "model.layers";
    add_tensor (m, r, 1, 0.2f, H, 0, "%s.%d.input_layernorm.weight", p, l);
    add_tensor (m, r, 0, 0.3f, s->heads * D, H, "%s.%d.self_attn.q_proj.weight", p, l);
    add_tensor (m, r, 0, 0.3f, s->kv_heads * D, H, "%s.%d.self_attn.k_proj.weight", p, l);
    add_tensor (m, r, 0, 0.3f, s->kv_heads * D, H, "%s.%d.self_attn.v_proj.weight", p, l);
    add_tensor (m, r, 0, 0.3f, H, s->heads * D, "%s.%d.self_attn.o_proj.weight", p, l);
    add_tensor (m, r, 1, 0.2f, D, 0, "%s.%d.self_attn.q_norm.weight", p, l);
    add_tensor (m, r, 1, 0.2f, D, 0, "%s.%d.self_attn.k_norm.weight", p, l);
    add_tensor (m, r, 1, 0.2f, H, 0, "%s.%d.post_attention_layernorm.weight", p, l);
    m->is_moe[l] = layer_is_moe (s, l);
    if (m->is_moe[l]) {
      /* a strong router so the top-k choice is clear-cut */
      add_tensor (m, r, 0, 1.0f, s->experts, H, "%s.%d.mlp.gate.weight", p, l);
      for (int e = 0; e < s->experts; e++) {
        add_tensor (m, r, 0, 0.3f, s->moe_inter, H, "%s.%d.mlp.experts.%d.gate_proj.weight", p, l, e);
        add_tensor (m, r, 0, 0.3f, s->moe_inter, H, "%s.%d.mlp.experts.%d.up_proj.weight", p, l, e);
        add_tensor (m, r, 0, 0.3f, H, s->moe_inter, "%s.%d.mlp.experts.%d.down_proj.weight", p, l, e);
      }
    } else {
      add_tensor (m, r, 0, 0.3f, s->inter, H, "%s.%d.mlp.gate_proj.weight", p, l);
      add_tensor (m, r, 0, 0.3f, s->inter, H, "%s.%d.mlp.up_proj.weight", p, l);
      add_tensor (m, r, 0, 0.3f, H, s->inter, "%s.%d.mlp.down_proj.weight", p, l);
    }
  }
  add_tensor (m, r, 1, 0.2f, H, 0, "model.norm.weight");
  if (!s->tie)
    add_tensor (m, r, 0, 0.5f, s->vocab, H, "lm_head.weight");
  g_rand_free (r);
  return m;
}

void
tiny_model_free (TinyModel *m)
{
  for (guint i = 0; i < m->tensors->len; i++) {
    TinyTensor *t = g_ptr_array_index (m->tensors, i);
    g_free (t->name);
    g_free (t->data);
    g_free (t);
  }
  g_ptr_array_free (m->tensors, TRUE);
  g_free (m);
}

TinyTensor *
tiny_model_get (TinyModel *m, const char *name)
{
  for (guint i = 0; i < m->tensors->len; i++) {
    TinyTensor *t = g_ptr_array_index (m->tensors, i);
    if (g_str_equal (t->name, name))
      return t;
  }
  return NULL;
}

static void
write_config (TinyModel *m, const char *dir)
{
  const TinySpec *s = &m->s;
  g_autofree char *path = g_build_filename (dir, "config.json", NULL);
  GString *j = g_string_new ("{");

  g_string_append_printf (j, "\"architectures\": [\"%s\"], \"model_type\": \"%s\", ",
                          s->experts ? "Qwen3MoeForCausalLM" : "Qwen3ForCausalLM",
                          s->experts ? "qwen3_moe" : "qwen3");
  g_string_append_printf (j, "\"vocab_size\": %d, \"hidden_size\": %d, \"intermediate_size\": %d, "
                          "\"num_hidden_layers\": %d, \"num_attention_heads\": %d, "
                          "\"num_key_value_heads\": %d, \"head_dim\": %d, \"rms_norm_eps\": %g, "
                          "\"rope_theta\": %g, \"max_position_embeddings\": 4096, "
                          "\"tie_word_embeddings\": %s, \"hidden_act\": \"silu\"",
                          s->vocab, s->hidden, s->inter, s->layers, s->heads, s->kv_heads,
                          s->head_dim, s->eps, s->theta, s->tie ? "true" : "false");
  if (s->experts) {
    g_string_append_printf (j, ", \"num_experts\": %d, \"num_experts_per_tok\": %d, "
                            "\"moe_intermediate_size\": %d, \"decoder_sparse_step\": %d, "
                            "\"norm_topk_prob\": %s, \"mlp_only_layers\": [",
                            s->experts, s->topk, s->moe_inter, s->sparse_step,
                            s->norm_topk ? "true" : "false");
    for (int i = 0; i < s->n_mlp_only; i++)
      g_string_append_printf (j, "%s%d", i ? ", " : "", s->mlp_only[i]);
    g_string_append (j, "]");
  }
  g_string_append (j, "}\n");
  g_assert_true (g_file_set_contents (path, j->str, -1, NULL));
  g_string_free (j, TRUE);
}

void
tiny_model_write (TinyModel *m, const char *dir, const char *skip, const char *bad_shape)
{
  g_autofree char *path = g_build_filename (dir, "model.safetensors", NULL);
  GString *hdr = g_string_new ("{");
  guint64 off = 0;
  FILE *f;

  write_config (m, dir);
  for (guint i = 0; i < m->tensors->len; i++) {
    TinyTensor *t = g_ptr_array_index (m->tensors, i);
    int64_t d0 = t->shape[0], n;
    if (skip && g_str_equal (t->name, skip))
      continue;
    if (bad_shape && g_str_equal (t->name, bad_shape))
      d0++;
    n = d0 * (t->n_dims == 2 ? t->shape[1] : 1);
    g_string_append_printf (hdr, "%s\"%s\": {\"dtype\": \"F32\", \"shape\": [%" G_GINT64_FORMAT,
                            hdr->len > 1 ? ", " : "", t->name, d0);
    if (t->n_dims == 2)
      g_string_append_printf (hdr, ", %" G_GINT64_FORMAT, t->shape[1]);
    g_string_append_printf (hdr, "], \"data_offsets\": [%" G_GUINT64_FORMAT ", %" G_GUINT64_FORMAT
                            "]}", off, off + (guint64) n * 4);
    off += (guint64) n * 4;
  }
  g_string_append (hdr, "}");
  while (hdr->len % 8)
    g_string_append_c (hdr, ' ');
  f = fopen (path, "wb");
  g_assert_nonnull (f);
  guint64 len = GUINT64_TO_LE (hdr->len);
  fwrite (&len, 8, 1, f);
  fwrite (hdr->str, 1, hdr->len, f);
  for (guint i = 0; i < m->tensors->len; i++) {
    TinyTensor *t = g_ptr_array_index (m->tensors, i);
    int64_t n = t->shape[0] * (t->n_dims == 2 ? t->shape[1] : 1);
    if (skip && g_str_equal (t->name, skip))
      continue;
    fwrite (t->data, 4, n, f);
    if (bad_shape && g_str_equal (t->name, bad_shape))
      fwrite (t->data, 4, n / t->shape[0], f);  /* the extra row */
  }
  fclose (f);
  g_string_free (hdr, TRUE);
}

/* ---- reference forward, double precision, one token at a time ---- */

static const float *
W (TinyModel *m, const char *fmt, int l, int e)
{
  g_autofree char *name = e >= 0 ? g_strdup_printf (fmt, l, e) : g_strdup_printf (fmt, l);
  TinyTensor *t = tiny_model_get (m, name);
  g_assert_nonnull (t);
  return t->data;
}

/* y[o] = sum_i w[o, i] x[i] */
static void
linear (double *y, const float *w, const double *x, int out, int in)
{
  for (int o = 0; o < out; o++) {
    double s = 0;
    for (int i = 0; i < in; i++)
      s += (double) w[(gsize) o * in + i] * x[i];
    y[o] = s;
  }
}

static void
rmsnorm (double *y, const double *x, const float *w, int n, double eps)
{
  double ss = 0;
  for (int i = 0; i < n; i++)
    ss += x[i] * x[i];
  double r = 1.0 / sqrt (ss / n + eps);
  for (int i = 0; i < n; i++)
    y[i] = x[i] * r * w[i];
}

static void
rope (double *x, int pos, int D, double theta)
{
  for (int i = 0; i < D / 2; i++) {
    double a = pos * pow (theta, -2.0 * i / D), c = cos (a), s = sin (a);
    double x1 = x[i], x2 = x[i + D / 2];
    x[i] = x1 * c - x2 * s;
    x[i + D / 2] = x2 * c + x1 * s;
  }
}

static double
silu (double x)
{
  return x / (1 + exp (-x));
}

/* out += w * down(silu(gate h) * up h) */
static void
swiglu_mlp (double *out, const double *h, const float *g, const float *u, const float *d, int H,
            int I, double w)
{
  double *a = g_new (double, I), *b = g_new (double, I), *y = g_new (double, H);
  linear (a, g, h, I, H);
  linear (b, u, h, I, H);
  for (int i = 0; i < I; i++)
    a[i] = silu (a[i]) * b[i];
  linear (y, d, a, H, I);
  for (int i = 0; i < H; i++)
    out[i] += w * y[i];
  g_free (a);
  g_free (b);
  g_free (y);
}

static void
moe_mlp (TinyModel *m, int l, double *out, const double *h)
{
  const TinySpec *s = &m->s;
  double *p = g_new (double, s->experts), max = -INFINITY, z = 0, sel = 0;
  int *top = g_new (int, s->topk);

  linear (p, W (m, "model.layers.%d.mlp.gate.weight", l, -1), h, s->experts, s->hidden);
  for (int e = 0; e < s->experts; e++)
    max = MAX (max, p[e]);
  for (int e = 0; e < s->experts; e++)
    z += (p[e] = exp (p[e] - max));
  for (int e = 0; e < s->experts; e++)
    p[e] /= z;
  for (int k = 0; k < s->topk; k++) {
    int best = -1;
    for (int e = 0; e < s->experts; e++) {
      gboolean taken = FALSE;
      for (int j = 0; j < k; j++)
        taken |= top[j] == e;
      if (!taken && (best < 0 || p[e] > p[best]))
        best = e;
    }
    top[k] = best;
    sel += p[best];
  }
  for (int k = 0; k < s->topk; k++) {
    int e = top[k];
    double w = s->norm_topk ? p[e] / sel : p[e];
    swiglu_mlp (out, h, W (m, "model.layers.%d.mlp.experts.%d.gate_proj.weight", l, e),
                W (m, "model.layers.%d.mlp.experts.%d.up_proj.weight", l, e),
                W (m, "model.layers.%d.mlp.experts.%d.down_proj.weight", l, e), s->hidden,
                s->moe_inter, w);
  }
  g_free (p);
  g_free (top);
}

void
tiny_model_reference (TinyModel *m, const int32_t *tokens, int n, double *logits)
{
  const TinySpec *s = &m->s;
  int H = s->hidden, D = s->head_dim, nq = s->heads * D, nkv = s->kv_heads * D;
  int group = s->heads / s->kv_heads;
  double *x = g_new0 (double, (gsize) n * H), *h = g_new (double, H);
  double *q = g_new (double, nq), *att = g_new (double, nq), *o = g_new (double, H);
  double *K = g_new (double, (gsize) s->layers * n * nkv);
  double *V = g_new (double, (gsize) s->layers * n * nkv);
  double *sc = g_new (double, n);
  const float *emb = tiny_model_get (m, "model.embed_tokens.weight")->data;
  const float *head = tiny_model_get (m, s->tie ? "model.embed_tokens.weight" : "lm_head.weight")->data;

  for (int t = 0; t < n; t++) {
    double *xt = x + (gsize) t * H;
    for (int i = 0; i < H; i++)
      xt[i] = emb[(gsize) tokens[t] * H + i];
    for (int l = 0; l < s->layers; l++) {
      double *Kl = K + (gsize) l * n * nkv, *Vl = V + (gsize) l * n * nkv;
      rmsnorm (h, xt, W (m, "model.layers.%d.input_layernorm.weight", l, -1), H, s->eps);
      linear (q, W (m, "model.layers.%d.self_attn.q_proj.weight", l, -1), h, nq, H);
      linear (Kl + (gsize) t * nkv, W (m, "model.layers.%d.self_attn.k_proj.weight", l, -1), h, nkv, H);
      linear (Vl + (gsize) t * nkv, W (m, "model.layers.%d.self_attn.v_proj.weight", l, -1), h, nkv, H);
      for (int hd = 0; hd < s->heads; hd++) {
        rmsnorm (q + hd * D, q + hd * D, W (m, "model.layers.%d.self_attn.q_norm.weight", l, -1), D, s->eps);
        rope (q + hd * D, t, D, s->theta);
      }
      for (int hd = 0; hd < s->kv_heads; hd++) {
        double *k = Kl + (gsize) t * nkv + hd * D;
        rmsnorm (k, k, W (m, "model.layers.%d.self_attn.k_norm.weight", l, -1), D, s->eps);
        rope (k, t, D, s->theta);
      }
      for (int hd = 0; hd < s->heads; hd++) {
        int kvh = hd / group;
        double max = -INFINITY, z = 0;
        for (int j = 0; j <= t; j++) {
          double d = 0;
          for (int i = 0; i < D; i++)
            d += q[hd * D + i] * Kl[(gsize) j * nkv + kvh * D + i];
          sc[j] = d / sqrt ((double) D);
          max = MAX (max, sc[j]);
        }
        for (int j = 0; j <= t; j++)
          z += (sc[j] = exp (sc[j] - max));
        for (int i = 0; i < D; i++) {
          double a = 0;
          for (int j = 0; j <= t; j++)
            a += sc[j] / z * Vl[(gsize) j * nkv + kvh * D + i];
          att[hd * D + i] = a;
        }
      }
      linear (o, W (m, "model.layers.%d.self_attn.o_proj.weight", l, -1), att, H, nq);
      for (int i = 0; i < H; i++)
        xt[i] += o[i];
      rmsnorm (h, xt, W (m, "model.layers.%d.post_attention_layernorm.weight", l, -1), H, s->eps);
      for (int i = 0; i < H; i++)
        o[i] = 0;
      if (m->is_moe[l])
        moe_mlp (m, l, o, h);
      else
        swiglu_mlp (o, h, W (m, "model.layers.%d.mlp.gate_proj.weight", l, -1),
                    W (m, "model.layers.%d.mlp.up_proj.weight", l, -1),
                    W (m, "model.layers.%d.mlp.down_proj.weight", l, -1), H, s->inter, 1.0);
      for (int i = 0; i < H; i++)
        xt[i] += o[i];
    }
    rmsnorm (h, xt, tiny_model_get (m, "model.norm.weight")->data, H, s->eps);
    linear (logits + (gsize) t * s->vocab, head, h, s->vocab, H);
  }
  g_free (x); g_free (h); g_free (q); g_free (att); g_free (o);
  g_free (K); g_free (V); g_free (sc);
}
