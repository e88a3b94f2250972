/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The encoder follows transformers' Qwen3OmniMoeAudioEncoder and
 * Qwen3ASREncoder: mel chunks of 2 n_window frames through three stride-2
 * convolutions, conv_out, sinusoidal positions restarting in every chunk,
 * the valid tokens only, pre-LN layers attending within windows, ln_post and
 * the two-layer projection. */
#include <math.h>
#include <string.h>
#include "omnicore.h"
#include "nn/audio-encoder.h"
#include "nn/weights.h"
#include "io/safetensors.h"

#define LN_EPS 1e-5f              /* torch.nn.LayerNorm's default */
#define STEM_BUDGET (256u << 20)  /* bytes of stem buffers per pass */

typedef struct {
  OmniTensor ln1_w, ln1_b, wq, bq, wk, bk, wv, bv, wo, bo;
  OmniTensor ln2_w, ln2_b, fc1_w, fc1_b, fc2_w, fc2_b;
} AudioLayer;

/* A backend f32 buffer grown on demand; views give it shapes. */
typedef struct {
  OmniTensor t;
  size_t cap;       /* floats */
} Buf;

/* The host-side plan of one call: chunks, tokens and windows. */
typedef struct {
  int n_chunks, n_tokens, n_segs;
  int max_width;                   /* the widest padded chunk */
  int *chunk_frames, *chunk_width, *chunk_tok0;  /* [n_chunks] */
  size_t *chunk_in;                /* [n_chunks] offset of the chunk in host_in */
  int32_t *rows;                   /* [n_tokens] row of each token in its stem pass */
  int32_t *ident;                  /* [n_tokens] 0, 1, 2, ... */
  int32_t *pos;                    /* [n_tokens] position within its chunk */
  int32_t *cu;                     /* [n_segs + 1] window boundaries */
  float *host_in;                  /* per chunk [n_mels][its width], zero padded */
  size_t chunk_cap, token_cap, seg_cap, in_cap;
} Plan;

struct _OmniAudioEncoder {
  OmniAudioConfig cfg;
  OmniBackend *backend;
  OmniWeights w;                  /* checkpoint, quant store, bound tensors */
  OmniTensor conv_w[3], conv_b[3], conv_out;
  OmniTensor ln_post_w, ln_post_b, proj1_w, proj1_b, proj2_w, proj2_b;
  AudioLayer *layers;
  OmniTensor pos;                 /* [13, d_model] sinusoids, allocated */
  int freq[4];                    /* mel bins in and after each convolution */
  int stem_chunks;                /* 0 = default */
  Buf stem_in, s1, s2, s3, perm, emb;
  Buf x, h, q, k, v, attn, o, ffn, out;
  OmniTensor out_view;
  Plan plan;
  OmniAudioCaptureFunc capture;
  gpointer capture_data;
};

/* ---- loading ---- */

static gboolean
bind_stem (OmniAudioEncoder *e, GError **error)
{
  const OmniAudioConfig *c = &e->cfg;
  int64_t C = c->downsample_hidden_size;

  for (int i = 0; i < 3; i++) {
    g_autofree char *wn = g_strdup_printf ("%sconv2d%d.weight", c->tower_prefix, i + 1);
    g_autofree char *bn = g_strdup_printf ("%sconv2d%d.bias", c->tower_prefix, i + 1);
    int64_t ws[4] = { C, i ? C : 1, 3, 3 };
    if (!omni_weights_bind (&e->w, &e->conv_w[i], wn, 4, ws, FALSE, error)
        || !omni_weights_bind (&e->w, &e->conv_b[i], bn, 1, ws, FALSE, error))
      return FALSE;
  }
  return omni_weights_linear (&e->w, &e->conv_out, NULL, c->tower_prefix, "conv_out",
                              c->d_model, C * e->freq[3], error);
}

static gboolean
bind_layer (OmniAudioEncoder *e, int i, GError **error)
{
  const OmniAudioConfig *c = &e->cfg;
  AudioLayer *l = &e->layers[i];
  g_autofree char *p = g_strdup_printf ("%slayers.%d.", c->tower_prefix, i);
  int64_t d = c->d_model, F = c->encoder_ffn_dim;

  return omni_weights_linear (&e->w, &l->ln1_w, &l->ln1_b, p, "self_attn_layer_norm", d, 0, error)
      && omni_weights_linear (&e->w, &l->wq, &l->bq, p, "self_attn.q_proj", d, d, error)
      && omni_weights_linear (&e->w, &l->wk, &l->bk, p, "self_attn.k_proj", d, d, error)
      && omni_weights_linear (&e->w, &l->wv, &l->bv, p, "self_attn.v_proj", d, d, error)
      && omni_weights_linear (&e->w, &l->wo, &l->bo, p, "self_attn.out_proj", d, d, error)
      && omni_weights_linear (&e->w, &l->ln2_w, &l->ln2_b, p, "final_layer_norm", d, 0, error)
      && omni_weights_linear (&e->w, &l->fc1_w, &l->fc1_b, p, "fc1", F, d, error)
      && omni_weights_linear (&e->w, &l->fc2_w, &l->fc2_b, p, "fc2", d, F, error);
}

static gboolean
bind_head (OmniAudioEncoder *e, GError **error)
{
  const OmniAudioConfig *c = &e->cfg;
  int64_t d = c->d_model;

  return omni_weights_linear (&e->w, &e->ln_post_w, &e->ln_post_b, c->tower_prefix, "ln_post",
                              d, 0, error)
      && omni_weights_linear (&e->w, &e->proj1_w, &e->proj1_b, "", c->proj1, d, d, error)
      && omni_weights_linear (&e->w, &e->proj2_w, &e->proj2_b, "", c->proj2, c->output_dim, d,
                              error);
}

/* Whisper's sinusoids as transformers computes them in f32: rows 0..12,
 * [sin(t inv), cos(t inv)] with inv_i = exp(-i ln(10000) / (d/2 - 1)). */
static gboolean
make_positions (OmniAudioEncoder *e, GError **error)
{
  OmniBackend *b = e->backend;
  int d = e->cfg.d_model, half = d / 2, n = omni_audio_config_chunk_tokens (2 * e->cfg.n_window);
  int64_t shape[2] = { n, d };
  g_autofree float *host = g_new (float, (size_t) n * d);
  float inc = (float) (log (10000.0) / (half - 1));

  for (int i = 0; i < half; i++) {
    float inv = expf (-inc * (float) i);
    for (int t = 0; t < n; t++) {
      float a = (float) t * inv;
      host[(size_t) t * d + i] = (float) sin ((double) a);
      host[(size_t) t * d + half + i] = (float) cos ((double) a);
    }
  }
  if (!b->ops->tensor_alloc (b, &e->pos, OMNI_DTYPE_F32, 2, shape, error))
    return FALSE;
  omni_weights_keep (&e->w, &e->pos);
  b->ops->upload (b, &e->pos, host, e->pos.n_bytes);
  return TRUE;
}

OmniAudioEncoder *
omni_audio_encoder_load (const char *dir, OmniBackend *b, GError **error)
{
  OmniAudioEncoder *e = g_new0 (OmniAudioEncoder, 1);
  g_autofree char *cfg = g_build_filename (dir, "config.json", NULL);

  e->backend = b;
  if (!omni_audio_config_load (cfg, &e->cfg, error))
    goto fail;
  e->freq[0] = e->cfg.num_mel_bins;
  for (int i = 1; i < 4; i++)
    e->freq[i] = (e->freq[i - 1] - 1) / 2 + 1;
  if (!omni_weights_open (&e->w, b, dir, "audio", error) || !bind_stem (e, error))
    goto fail;
  e->layers = g_new0 (AudioLayer, e->cfg.encoder_layers);
  for (int i = 0; i < e->cfg.encoder_layers; i++)
    if (!bind_layer (e, i, error))
      goto fail;
  if (!bind_head (e, error) || !make_positions (e, error))
    goto fail;
  omni_weights_finish (&e->w);
  g_debug ("loaded the audio encoder of %s: %d layers, d_model %d, output %d", dir,
           e->cfg.encoder_layers, e->cfg.d_model, e->cfg.output_dim);
  return e;
fail:
  omni_audio_encoder_free (e);
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
omni_audio_encoder_free (OmniAudioEncoder *e)
{
  if (!e)
    return;
  OmniBackend *b = e->backend;
  Buf *bufs[] = { &e->stem_in, &e->s1, &e->s2, &e->s3, &e->perm, &e->emb, &e->x, &e->h,
                  &e->q, &e->k, &e->v, &e->attn, &e->o, &e->ffn, &e->out };
  for (gsize i = 0; i < G_N_ELEMENTS (bufs); i++)
    buf_free (b, bufs[i]);
  omni_weights_clear (&e->w);
  g_free (e->layers);
  Plan *p = &e->plan;
  g_free (p->chunk_frames);
  g_free (p->chunk_width);
  g_free (p->chunk_tok0);
  g_free (p->chunk_in);
  g_free (p->rows);
  g_free (p->ident);
  g_free (p->pos);
  g_free (p->cu);
  g_free (p->host_in);
  g_free (e);
}

const OmniAudioConfig *
omni_audio_encoder_config (const OmniAudioEncoder *e)
{
  return &e->cfg;
}

int
omni_audio_encoder_n_tokens (const OmniAudioEncoder *e, int n_frames)
{
  return omni_audio_config_n_tokens (&e->cfg, n_frames);
}

void
omni_audio_encoder_set_capture (OmniAudioEncoder *e, OmniAudioCaptureFunc func, gpointer user_data)
{
  e->capture = func;
  e->capture_data = user_data;
}

void
omni_audio_encoder_set_stem_chunks (OmniAudioEncoder *e, int max_chunks)
{
  e->stem_chunks = MAX (max_chunks, 0);
}

/* ---- the plan of a call (host) ---- */

static gboolean
check_input (const OmniAudioEncoder *e, const float *const *mels, const int *n_frames,
             int n_clips, GError **error)
{
  gint64 total = 0;

  if (n_clips <= 0 || !mels || !n_frames) {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_INVALID,
                 "audio encoder: expected at least one clip, got %d", n_clips);
    return FALSE;
  }
  for (int i = 0; i < n_clips; i++) {
    if (n_frames[i] <= 0 || !mels[i]) {
      g_set_error (error, OMNI_ERROR, OMNI_ERROR_INVALID,
                   "audio encoder: clip %d has no mel frames (n_frames %d%s)", i, n_frames[i],
                   mels[i] ? "" : ", mel NULL");
      return FALSE;
    }
    total += n_frames[i];
    if (total > OMNI_AUDIO_MAX_FRAMES) {
      g_set_error (error, OMNI_ERROR, OMNI_ERROR_INVALID,
                   "audio encoder: clip %d brings the call to %" G_GINT64_FORMAT " mel frames, "
                   "more than the limit of %d (%d s at 100 frames/s); the caller must split the "
                   "audio (captions use clips of at most 30 s)", i, total, OMNI_AUDIO_MAX_FRAMES,
                   OMNI_AUDIO_MAX_FRAMES / 100);
      return FALSE;
    }
  }
  for (int i = 0; i < n_clips; i++) {
    size_t n = (size_t) e->cfg.num_mel_bins * n_frames[i];
    for (size_t j = 0; j < n; j++) {
      if (!isfinite (mels[i][j])) {
        g_set_error (error, OMNI_ERROR, OMNI_ERROR_INVALID,
                     "audio encoder: clip %d: mel bin %d of frame %d is %g, expected a finite "
                     "value", i, (int) (j / n_frames[i]), (int) (j % n_frames[i]), mels[i][j]);
        return FALSE;
      }
    }
  }
  return TRUE;
}

/* Grows @p's host arrays (never shrinks them). */
static void
plan_reserve (Plan *p, int n_chunks, int n_tokens, int n_segs, size_t n_in)
{
  if ((size_t) n_chunks > p->chunk_cap) {
    p->chunk_cap = n_chunks;
    p->chunk_frames = g_renew (int, p->chunk_frames, n_chunks);
    p->chunk_width = g_renew (int, p->chunk_width, n_chunks);
    p->chunk_tok0 = g_renew (int, p->chunk_tok0, n_chunks);
    p->chunk_in = g_renew (size_t, p->chunk_in, n_chunks);
  }
  if ((size_t) n_tokens > p->token_cap) {
    p->token_cap = n_tokens;
    p->rows = g_renew (int32_t, p->rows, n_tokens);
    p->ident = g_renew (int32_t, p->ident, n_tokens);
    p->pos = g_renew (int32_t, p->pos, n_tokens);
  }
  if ((size_t) n_segs + 1 > p->seg_cap) {
    p->seg_cap = n_segs + 1;
    p->cu = g_renew (int32_t, p->cu, n_segs + 1);
  }
  if (n_in > p->in_cap) {
    p->in_cap = n_in;
    p->host_in = g_renew (float, p->host_in, n_in);
  }
}

/* The attention windows, as get_audio_cu_seqlens cuts them: per clip, full
 * windows of n_window_infer / (2 n_window) chunks' worth of the call's
 * longest chunk, then the rest. That is 13 tokens per chunk whenever a clip
 * spans more than one chunk, and otherwise more than any clip has, so a
 * clip's windows do not depend on the batch either. */
static void
plan_windows (Plan *p, const OmniAudioConfig *c, const int *n_frames, int n_clips)
{
  int chunk = 2 * c->n_window, tok0 = 0, n_segs = 0;
  int window = omni_audio_config_chunk_tokens (p->max_width) * (c->n_window_infer / chunk);

  p->cu[0] = 0;
  for (int i = 0; i < n_clips; tok0 += omni_audio_config_n_tokens (c, n_frames[i]), i++) {
    int n = omni_audio_config_n_tokens (c, n_frames[i]);
    for (int t = window; t <= n; t += window)
      p->cu[++n_segs] = tok0 + t;
    if (n % window)
      p->cu[++n_segs] = tok0 + n;
  }
  p->n_segs = n_segs;
}

/* The frames each chunk of a clip of @n_frames is padded to before the
 * stem. transformers pads to the longest chunk of the call (Omni) or to
 * 2 n_window (ASR); per clip, so that a clip encodes as it does alone
 * whatever it is batched with: a clip shorter than one chunk keeps its
 * length (Omni) and every other chunk is padded to 2 n_window. */
static int
clip_width (const OmniAudioConfig *c, int n_frames)
{
  return c->pad_full_chunks ? 2 * c->n_window : MIN (n_frames, 2 * c->n_window);
}

/* Copies the @f frames from @s of a [M][T] mel into a chunk [M][width],
 * zero padded. */
static void
copy_chunk (float *dst, const float *mel, int M, int T, int s, int f, int width)
{
  for (int m = 0; m < M; m++) {
    memcpy (dst + (size_t) m * width, mel + (size_t) m * T + s, f * sizeof (float));
    memset (dst + (size_t) m * width + f, 0, (width - f) * sizeof (float));
  }
}

/* Splits the clips into padded chunks (host_in) and lists the tokens with
 * their positions and the attention windows. */
static void
plan_build (OmniAudioEncoder *e, const float *const *mels, const int *n_frames, int n_clips)
{
  const OmniAudioConfig *c = &e->cfg;
  Plan *p = &e->plan;
  int chunk = 2 * c->n_window, M = c->num_mel_bins, n_chunks = 0, n_tokens = 0;
  size_t n_in = 0;

  p->max_width = 0;
  for (int i = 0; i < n_clips; i++) {
    int nc = (n_frames[i] + chunk - 1) / chunk, w = clip_width (c, n_frames[i]);
    n_chunks += nc;
    n_tokens += omni_audio_config_n_tokens (c, n_frames[i]);
    n_in += (size_t) nc * M * w;
    p->max_width = MAX (p->max_width, w);
  }
  /* windows: at most one per token plus one per clip */
  plan_reserve (p, n_chunks, n_tokens, n_tokens + n_clips, n_in);
  p->n_chunks = n_chunks;
  p->n_tokens = n_tokens;

  int ci = 0, tok = 0;
  n_in = 0;
  for (int i = 0; i < n_clips; i++) {
    int w = clip_width (c, n_frames[i]);
    for (int s = 0; s < n_frames[i]; s += chunk, ci++) {
      int f = MIN (chunk, n_frames[i] - s), v = omni_audio_config_chunk_tokens (f);
      p->chunk_frames[ci] = f;
      p->chunk_width[ci] = w;
      p->chunk_tok0[ci] = tok;
      p->chunk_in[ci] = n_in;
      copy_chunk (p->host_in + n_in, mels[i], M, n_frames[i], s, f, w);
      n_in += (size_t) M * w;
      for (int j = 0; j < v; j++, tok++) {
        p->pos[tok] = j;
        p->ident[tok] = tok;
      }
    }
  }
  plan_windows (p, c, n_frames, n_clips);
}

/* ---- buffers ---- */

static gboolean
buf_reserve (OmniAudioEncoder *e, Buf *buf, size_t n, GError **error)
{
  OmniBackend *b = e->backend;
  int64_t shape[1] = { (int64_t) n };

  if (n <= buf->cap)
    return TRUE;
  buf_free (b, buf);
  if (!b->ops->tensor_alloc (b, &buf->t, OMNI_DTYPE_F32, 1, shape, error)) {
    g_prefix_error (error, "audio encoder buffer of %" G_GSIZE_FORMAT " floats: ", n);
    return FALSE;
  }
  buf->cap = n;
  return TRUE;
}

/* @buf seen as a dense f32 tensor of @n_dims dims @shape: a view, no copy. */
static OmniTensor
view (const Buf *buf, int n_dims, int64_t d0, int64_t d1, int64_t d2, int64_t d3)
{
  OmniTensor v = buf->t;
  int64_t s[4] = { d0, d1, d2, d3 };
  size_t n = 1;

  v.owned = FALSE;
  v.n_dims = n_dims;
  memset (v.shape, 0, sizeof v.shape);
  for (int i = 0; i < n_dims; i++) {
    v.shape[i] = s[i];
    n *= (size_t) s[i];
  }
  v.n_bytes = n * sizeof (float);
  return v;
}

/* Output lengths of the three stride-2 convolutions over @w frames. */
static void
stem_lengths (int w, int64_t t[4])
{
  t[0] = w;
  for (int i = 1; i < 4; i++)
    t[i] = (t[i - 1] - 1) / 2 + 1;
}

/* Floats of the stem buffers per chunk at the widest chunk of the call. */
static size_t
stem_floats (const OmniAudioEncoder *e, size_t *in, size_t *s1, size_t *s2, size_t *s3,
             size_t *emb)
{
  size_t C = e->cfg.downsample_hidden_size;
  int64_t t[4];

  stem_lengths (e->plan.max_width, t);
  *in = (size_t) e->freq[0] * t[0];
  *s1 = C * e->freq[1] * t[1];
  *s2 = C * e->freq[2] * t[2];
  *s3 = C * e->freq[3] * t[3];
  *emb = (size_t) t[3] * e->cfg.d_model;
  return *in + *s1 + *s2 + 2 * *s3 + *emb;
}

/* Chunks per stem pass: conv_chunksize within the budget, or the cap set
 * for tests. */
static int
stem_chunks (const OmniAudioEncoder *e)
{
  const Plan *p = &e->plan;
  size_t in, s1, s2, s3, emb, per = stem_floats (e, &in, &s1, &s2, &s3, &emb);
  int n = (int) MIN ((size_t) e->cfg.conv_chunksize, MAX (STEM_BUDGET / (per * sizeof (float)), 1));

  if (e->stem_chunks > 0)
    n = MIN (n, e->stem_chunks);
  return MIN (n, p->n_chunks);
}

static gboolean
reserve_all (OmniAudioEncoder *e, int group, GError **error)
{
  const OmniAudioConfig *c = &e->cfg;
  size_t G = group, n = e->plan.n_tokens, d = c->d_model, in, s1, s2, s3, emb;

  stem_floats (e, &in, &s1, &s2, &s3, &emb);
  return buf_reserve (e, &e->stem_in, G * in, error) && buf_reserve (e, &e->s1, G * s1, error)
      && buf_reserve (e, &e->s2, G * s2, error) && buf_reserve (e, &e->s3, G * s3, error)
      && buf_reserve (e, &e->perm, G * s3, error) && buf_reserve (e, &e->emb, G * emb, error)
      && buf_reserve (e, &e->x, n * d, error) && buf_reserve (e, &e->h, n * d, error)
      && buf_reserve (e, &e->q, n * d, error) && buf_reserve (e, &e->k, n * d, error)
      && buf_reserve (e, &e->v, n * d, error) && buf_reserve (e, &e->attn, n * d, error)
      && buf_reserve (e, &e->o, n * d, error)
      && buf_reserve (e, &e->ffn, n * c->encoder_ffn_dim, error)
      && buf_reserve (e, &e->out, n * c->output_dim, error);
}

/* ---- forward ---- */

static void
capture (OmniAudioEncoder *e, int point, const OmniTensor *t)
{
  if (e->capture)
    e->capture (point, t, e->capture_data);
}

/* Chunks @c0 .. @c0+@g-1 (all @w frames wide) through the conv stem and
 * conv_out; their valid tokens land in x at their place in the call. */
static void
stem_pass (OmniAudioEncoder *e, int c0, int g, int w)
{
  const OmniBackendOps *ops = e->backend->ops;
  OmniBackend *b = e->backend;
  const Plan *p = &e->plan;
  int64_t C = e->cfg.downsample_hidden_size, d = e->cfg.d_model, t[4];
  int *F = e->freq;
  OmniConvParams cp = { 2, { 2, 2, 0 }, { 1, 1, 0 } };
  static const int to_time_major[4] = { 0, 3, 1, 2 };

  stem_lengths (w, t);
  OmniTensor in = view (&e->stem_in, 4, g, 1, F[0], t[0]);
  OmniTensor s[3] = { view (&e->s1, 4, g, C, F[1], t[1]), view (&e->s2, 4, g, C, F[2], t[2]),
                      view (&e->s3, 4, g, C, F[3], t[3]) };
  ops->upload (b, &in, p->host_in + p->chunk_in[c0], in.n_bytes);
  for (int i = 0; i < 3; i++) {
    ops->conv (b, &s[i], i ? &s[i - 1] : &in, &e->conv_w[i], &e->conv_b[i], &cp);
    ops->gelu (b, &s[i], &s[i], FALSE);
  }
  /* [g, C, F, T] -> [g, T, C, F]: each time step flattened channel-major */
  OmniTensor perm = view (&e->perm, 4, g, t[3], C, F[3]);
  OmniTensor flat = view (&e->perm, 2, g * t[3], C * F[3], 0, 0);
  OmniTensor emb = view (&e->emb, 2, g * t[3], d, 0, 0);
  ops->permute (b, &perm, &s[2], to_time_major);
  ops->matmul (b, &emb, &flat, &e->conv_out, NULL);

  int tok0 = p->chunk_tok0[c0];
  int tok1 = c0 + g < p->n_chunks ? p->chunk_tok0[c0 + g] : p->n_tokens;
  OmniTensor sel = view (&e->h, 2, tok1 - tok0, d, 0, 0);
  OmniTensor x = view (&e->x, 2, p->n_tokens, d, 0, 0);
  ops->get_rows (b, &sel, &emb, p->rows + tok0, tok1 - tok0);
  ops->set_rows (b, &x, &sel, p->ident + tok0, tok1 - tok0);
}

/* x = the valid stem outputs of every chunk + their positions. */
static void
stem (OmniAudioEncoder *e, int group)
{
  const OmniBackendOps *ops = e->backend->ops;
  Plan *p = &e->plan;
  int64_t n = p->n_tokens, d = e->cfg.d_model;

  for (int c0 = 0, g; c0 < p->n_chunks; c0 += g) {
    int w = p->chunk_width[c0], t3 = omni_audio_config_chunk_tokens (w);
    for (g = 1; g < group && c0 + g < p->n_chunks && p->chunk_width[c0 + g] == w; g++)
      ;
    /* rows of the pass's embeddings: chunk (ci - c0), step j */
    for (int ci = c0; ci < c0 + g; ci++) {
      int v = omni_audio_config_chunk_tokens (p->chunk_frames[ci]);
      for (int j = 0; j < v; j++)
        p->rows[p->chunk_tok0[ci] + j] = (ci - c0) * t3 + j;
    }
    stem_pass (e, c0, g, w);
  }
  OmniTensor x = view (&e->x, 2, n, d, 0, 0), h = view (&e->h, 2, n, d, 0, 0);
  ops->get_rows (e->backend, &h, &e->pos, p->pos, (int) n);
  ops->add (e->backend, &x, &x, &h);
}

/* x += out_proj(attention within windows(q, k, v of LN1(x)));
 * x += fc2(gelu(fc1(LN2(x)))). */
static void
layer (OmniAudioEncoder *e, const AudioLayer *l)
{
  const OmniBackendOps *ops = e->backend->ops;
  OmniBackend *b = e->backend;
  const Plan *p = &e->plan;
  int64_t n = p->n_tokens, d = e->cfg.d_model, H = e->cfg.encoder_attention_heads, D = d / H;
  OmniTensor x = view (&e->x, 2, n, d, 0, 0), h = view (&e->h, 2, n, d, 0, 0);
  OmniTensor q = view (&e->q, 2, n, d, 0, 0), k = view (&e->k, 2, n, d, 0, 0);
  OmniTensor v = view (&e->v, 2, n, d, 0, 0), attn = view (&e->attn, 2, n, d, 0, 0);
  OmniTensor q3 = view (&e->q, 3, n, H, D, 0), k3 = view (&e->k, 3, n, H, D, 0);
  OmniTensor v3 = view (&e->v, 3, n, H, D, 0), o = view (&e->o, 2, n, d, 0, 0);
  OmniTensor f = view (&e->ffn, 2, n, e->cfg.encoder_ffn_dim, 0, 0);

  ops->layernorm (b, &h, &x, &l->ln1_w, &l->ln1_b, LN_EPS);
  ops->matmul (b, &q, &h, &l->wq, &l->bq);
  ops->matmul (b, &k, &h, &l->wk, &l->bk);
  ops->matmul (b, &v, &h, &l->wv, &l->bv);
  ops->attention_segments (b, &attn, &q3, &k3, &v3, p->cu, p->n_segs,
                           (float) (1.0 / sqrt ((double) D)));
  ops->matmul (b, &o, &attn, &l->wo, &l->bo);
  ops->add (b, &x, &x, &o);
  ops->layernorm (b, &h, &x, &l->ln2_w, &l->ln2_b, LN_EPS);
  ops->matmul (b, &f, &h, &l->fc1_w, &l->fc1_b);
  ops->gelu (b, &f, &f, FALSE);
  ops->matmul (b, &o, &f, &l->fc2_w, &l->fc2_b);
  ops->add (b, &x, &x, &o);
}

/* out = proj2(gelu(proj1(ln_post(x)))). */
static void
head (OmniAudioEncoder *e)
{
  const OmniBackendOps *ops = e->backend->ops;
  OmniBackend *b = e->backend;
  int64_t n = e->plan.n_tokens, d = e->cfg.d_model;
  OmniTensor x = view (&e->x, 2, n, d, 0, 0), h = view (&e->h, 2, n, d, 0, 0);
  OmniTensor o = view (&e->o, 2, n, d, 0, 0);

  e->out_view = view (&e->out, 2, n, e->cfg.output_dim, 0, 0);
  ops->layernorm (b, &h, &x, &e->ln_post_w, &e->ln_post_b, LN_EPS);
  ops->matmul (b, &o, &h, &e->proj1_w, &e->proj1_b);
  ops->gelu (b, &o, &o, FALSE);
  ops->matmul (b, &e->out_view, &o, &e->proj2_w, &e->proj2_b);
}

gboolean
omni_audio_encoder_forward (OmniAudioEncoder *e, const float *const *mels, const int *n_frames,
                            int n_clips, OmniTensor **out, GError **error)
{
  if (!check_input (e, mels, n_frames, n_clips, error))
    return FALSE;
  plan_build (e, mels, n_frames, n_clips);
  int group = stem_chunks (e);
  if (!reserve_all (e, group, error))
    return FALSE;
  stem (e, group);
  OmniTensor x = view (&e->x, 2, e->plan.n_tokens, e->cfg.d_model, 0, 0);
  capture (e, OMNI_AUDIO_CAPTURE_EMBED, &x);
  for (int i = 0; i < e->cfg.encoder_layers; i++) {
    layer (e, &e->layers[i]);
    capture (e, i, &x);
  }
  head (e);
  capture (e, e->cfg.encoder_layers, &e->out_view);
  *out = &e->out_view;
  return TRUE;
}
