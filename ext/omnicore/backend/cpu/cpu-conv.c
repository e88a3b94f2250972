/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* conv: direct 2-D / 3-D convolution for the encoders' stems (patch and
 * mel-frame embeddings). 2-D runs as 3-D with a depth of 1. Each thread
 * takes whole (image, output channel) pairs and widens that channel's filter
 * to f32 once; every output is one f32 sum in (ci, kd, kh, kw) order, so the
 * result does not depend on the thread count. */
#include "cpu-backend.h"

typedef struct {
  float *y;
  const float *x;
  const OmniTensor *w, *bias;
  int64_t n, ci, co;
  int64_t in[3], k[3], out[3];
  int stride[3], pad[3];
  size_t filter_floats;     /* per-thread stride of the filter scratch */
  float *filters;
} ConvCtx;

static float
conv_one (const ConvCtx *c, const float *x, const float *f, int64_t od, int64_t oh, int64_t ow)
{
  float acc = 0.0f;

  for (int64_t ci = 0; ci < c->ci; ci++) {
    for (int64_t kd = 0; kd < c->k[0]; kd++) {
      int64_t id = od * c->stride[0] - c->pad[0] + kd;
      if (id < 0 || id >= c->in[0])
        continue;
      for (int64_t kh = 0; kh < c->k[1]; kh++) {
        int64_t ih = oh * c->stride[1] - c->pad[1] + kh;
        if (ih < 0 || ih >= c->in[1])
          continue;
        const float *xr = x + ((ci * c->in[0] + id) * c->in[1] + ih) * c->in[2];
        const float *fr = f + ((ci * c->k[0] + kd) * c->k[1] + kh) * c->k[2];
        for (int64_t kw = 0; kw < c->k[2]; kw++) {
          int64_t iw = ow * c->stride[2] - c->pad[2] + kw;
          if (iw >= 0 && iw < c->in[2])
            acc += xr[iw] * fr[kw];
        }
      }
    }
  }
  return acc;
}

static void
conv_task (void *data, int ith, int nth)
{
  ConvCtx *c = data;
  float *f = c->filters + ith * c->filter_floats;
  int64_t in_vol = c->in[0] * c->in[1] * c->in[2], out_vol = c->out[0] * c->out[1] * c->out[2];
  int64_t p0, p1, kvol = c->ci * c->k[0] * c->k[1] * c->k[2];

  omni_cpu_split (c->n * c->co, ith, nth, &p0, &p1);
  for (int64_t p = p0; p < p1; p++) {
    int64_t n = p / c->co, co = p % c->co;
    const float *x = c->x + n * c->ci * in_vol;
    float *y = c->y + p * out_vol;
    float b = 0.0f;

    omni_dtype_to_f32 (c->w->dtype, (const uint8_t *) c->w->data + co * kvol * omni_dtype_size (c->w->dtype),
                       f, kvol);
    if (c->bias)
      omni_dtype_to_f32 (c->bias->dtype, (const uint8_t *) c->bias->data + co * omni_dtype_size (c->bias->dtype),
                         &b, 1);
    for (int64_t od = 0; od < c->out[0]; od++)
      for (int64_t oh = 0; oh < c->out[1]; oh++)
        for (int64_t ow = 0; ow < c->out[2]; ow++)
          y[(od * c->out[1] + oh) * c->out[2] + ow] = conv_one (c, x, f, od, oh, ow) + b;
  }
}

/* Shapes of y/x/w as 3-D (2-D gets depth 1); FALSE (g_critical) when they do
 * not describe one convolution. */
static gboolean
conv_geometry (ConvCtx *c, const OmniTensor *y, const OmniTensor *x, const OmniTensor *w,
               const OmniTensor *bias, const OmniConvParams *p)
{
  int s = p ? p->n_spatial : 0, off;

  if ((s != 2 && s != 3) || x->n_dims != s + 2 || y->n_dims != s + 2 || w->n_dims != s + 2) {
    g_critical ("cpu conv: expected 2 or 3 spatial dims with x, y and w of that many + 2 dims");
    return FALSE;
  }
  off = 3 - s;
  c->n = x->shape[0];
  c->ci = x->shape[1];
  c->co = w->shape[0];
  for (int i = 0; i < 3; i++) {
    gboolean real = i >= off;
    c->in[i] = real ? x->shape[2 + i - off] : 1;
    c->k[i] = real ? w->shape[2 + i - off] : 1;
    c->stride[i] = real ? p->stride[i - off] : 1;
    c->pad[i] = real ? p->padding[i - off] : 0;
    if (c->stride[i] < 1 || c->pad[i] < 0 || c->k[i] < 1 || c->in[i] + 2 * c->pad[i] < c->k[i]) {
      g_critical ("cpu conv: spatial dim %d: input %" G_GINT64_FORMAT ", kernel %" G_GINT64_FORMAT
                  ", stride %d, padding %d do not give an output", i - off, c->in[i], c->k[i],
                  c->stride[i], c->pad[i]);
      return FALSE;
    }
    c->out[i] = (c->in[i] + 2 * c->pad[i] - c->k[i]) / c->stride[i] + 1;
    if (real && y->shape[2 + i - off] != c->out[i]) {
      g_critical ("cpu conv: y spatial dim %d is %" G_GINT64_FORMAT ", expected %" G_GINT64_FORMAT,
                  i - off, y->shape[2 + i - off], c->out[i]);
      return FALSE;
    }
  }
  if (w->shape[1] != c->ci || y->shape[0] != c->n || y->shape[1] != c->co ||
      (bias && (bias->n_dims != 1 || bias->shape[0] != c->co))) {
    g_critical ("cpu conv: expected w [Co, %" G_GINT64_FORMAT ", ...], y [%" G_GINT64_FORMAT
                ", Co, ...] and bias [Co]", c->ci, c->n);
    return FALSE;
  }
  return TRUE;
}

void
omni_cpu_conv (OmniBackend *b, OmniTensor *y, const OmniTensor *x, const OmniTensor *w,
               const OmniTensor *bias, const OmniConvParams *p)
{
  OmniCpuBackend *cpu = (OmniCpuBackend *) b;
  ConvCtx c = { 0 };
  int nth;

  if (!omni_cpu_check_f32 (y, "conv", "y") || !omni_cpu_check_f32 (x, "conv", "x") ||
      !omni_cpu_check_float_weight (w, "conv", "w") ||
      (bias && !omni_cpu_check_float_weight (bias, "conv", "bias")))
    return;
  if (!conv_geometry (&c, y, x, w, bias, p))
    return;
  c.y = y->data;
  c.x = x->data;
  c.w = w;
  c.bias = bias;
  c.filter_floats = ((size_t) (c.ci * c.k[0] * c.k[1] * c.k[2]) + 15) & ~(size_t) 15;
  nth = omni_cpu_threads_for (cpu, c.n * c.co * c.out[0] * c.out[1] * c.out[2] * c.filter_floats,
                              c.n * c.co);
  c.filters = omni_cpu_scratch_reserve (&cpu->conv, nth * c.filter_floats * sizeof (float));
  omni_cpu_pool_run (cpu->pool, nth, conv_task, &c);
}
