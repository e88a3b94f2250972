/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* conv: 2-D / 3-D convolution for the encoders' stems (patch and mel-frame
 * embeddings) as GEMM. 2-D runs as 3-D with a depth of 1. A work item is a
 * block of output positions of one image: its receptive fields are copied
 * (im2col) into the thread's scratch as rows of ci*kd*kh*kw floats, in the
 * filter's (ci, kd, kh, kw) order with zeros for the padding, and the
 * matmul kernel computes y[co, p] = filter[co] . field[p] for every output
 * channel. A y element is one kernel dot product whatever the block or the
 * thread, so the result does not depend on the thread count. */
#include "cpu-backend.h"

/* Output positions per work item: every item passes over all the filters
 * (8 MB for 480 channels 3x3), so it takes as many positions as about
 * 1.5 MB of fields (17 KB each at 480 channels 3x3: 90 positions). */
#define CONV_MIN_POSITIONS 16
#define CONV_FIELD_FLOATS (384 * 1024)

typedef struct {
  OmniCpuBackend *cpu;
  float *y;
  const float *x;
  const float *filters;     /* [co, kvol] as f32 */
  const float *bias;        /* [co] as f32, or NULL */
  int64_t n, ci, co, kvol;
  int64_t in[3], k[3], out[3];
  int stride[3], pad[3];
  int64_t block, n_blocks;  /* positions per work item, items per image */
  float *scratch;           /* per thread: fields [block, kvol], then the kernel's row buffer */
  size_t scratch_floats;
  gint next_item;           /* atomic: the next (image, block) to take */
} ConvCtx;

/* Receptive fields of output positions [p0, p0 + np) of image @x into @col. */
static void
im2col (const ConvCtx *c, const float *x, int64_t p0, int64_t np, float *restrict col)
{
  for (int64_t p = 0; p < np; p++) {
    int64_t o = p0 + p, ow = o % c->out[2], oh = o / c->out[2] % c->out[1], od = o / (c->out[1] * c->out[2]);
    float *restrict f = col + p * c->kvol;

    for (int64_t ci = 0; ci < c->ci; ci++) {
      for (int64_t kd = 0; kd < c->k[0]; kd++) {
        int64_t id = od * c->stride[0] - c->pad[0] + kd;
        for (int64_t kh = 0; kh < c->k[1]; kh++, f += c->k[2]) {
          int64_t ih = oh * c->stride[1] - c->pad[1] + kh;
          const float *xr = x + ((ci * c->in[0] + id) * c->in[1] + ih) * c->in[2];
          int64_t iw0 = ow * c->stride[2] - c->pad[2];

          if (id < 0 || id >= c->in[0] || ih < 0 || ih >= c->in[1]) {
            memset (f, 0, c->k[2] * sizeof (float));
            continue;
          }
          for (int64_t kw = 0; kw < c->k[2]; kw++) {
            int64_t iw = iw0 + kw;
            f[kw] = iw >= 0 && iw < c->in[2] ? xr[iw] : 0.0f;
          }
        }
      }
    }
  }
}

static void
conv_task (void *data, int ith, int nth)
{
  ConvCtx *c = data;
  float *col = c->scratch + ith * c->scratch_floats, *buf = col + c->block * c->kvol;
  int64_t in_vol = c->in[0] * c->in[1] * c->in[2], out_vol = c->out[0] * c->out[1] * c->out[2];
  int64_t item;

  while ((item = g_atomic_int_add (&c->next_item, 1)) < c->n * c->n_blocks) {
    int64_t n = item / c->n_blocks, p0 = item % c->n_blocks * c->block;
    int64_t np = MIN (c->block, out_vol - p0);
    float *y = c->y + n * c->co * out_vol + p0;
    OmniTensor fields = { .dtype = OMNI_DTYPE_F32, .n_dims = 2, .shape = { np, c->kvol }, .data = col,
                          .n_bytes = (size_t) np * c->kvol * sizeof (float) };
    OmniCpuMatX mx;

    im2col (c, c->x + n * c->ci * in_vol, p0, np, col);
    omni_cpu_matx_init (&mx, c->cpu->isa, OMNI_DTYPE_F32, c->filters, c->kvol, NULL, c->co, c->kvol, NULL);
    omni_cpu_matmul_kernel (y, out_vol, &mx, &fields, NULL, 0, np, buf);
    if (c->bias)
      for (int64_t co = 0; co < c->co; co++)
        for (int64_t p = 0; p < np; p++)
          y[co * out_vol + p] += c->bias[co];
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
  int64_t out_vol, n_filter_floats;
  float *s;
  int nth;

  if (!omni_cpu_check_f32 (y, "conv", "y") || !omni_cpu_check_f32 (x, "conv", "x") ||
      !omni_cpu_check_float_weight (w, "conv", "w") ||
      (bias && !omni_cpu_check_float_weight (bias, "conv", "bias")))
    return;
  if (!conv_geometry (&c, y, x, w, bias, p))
    return;
  c.cpu = cpu;
  c.y = y->data;
  c.x = x->data;
  c.kvol = c.ci * c.k[0] * c.k[1] * c.k[2];
  out_vol = c.out[0] * c.out[1] * c.out[2];
  c.block = MIN (out_vol, MAX ((int64_t) CONV_MIN_POSITIONS, CONV_FIELD_FLOATS / c.kvol));
  c.n_blocks = (out_vol + c.block - 1) / c.block;
  c.scratch_floats = ((size_t) ((c.block + 1) * c.kvol) + 15) & ~(size_t) 15;
  nth = omni_cpu_threads_for (cpu, 2 * c.n * c.co * out_vol * c.kvol, c.n * c.n_blocks);

  /* One scratch block: the filters and bias as f32 when stored otherwise,
   * then each thread's fields and row buffer. */
  n_filter_floats = w->dtype == OMNI_DTYPE_F32 ? 0 : ((c.co * c.kvol + 15) & ~(int64_t) 15);
  n_filter_floats += bias && bias->dtype != OMNI_DTYPE_F32 ? ((c.co + 15) & ~(int64_t) 15) : 0;
  s = omni_cpu_scratch_reserve (&cpu->conv, (n_filter_floats + nth * c.scratch_floats) * sizeof (float));
  c.scratch = s + n_filter_floats;
  c.filters = w->data;
  if (w->dtype != OMNI_DTYPE_F32) {
    omni_dtype_to_f32 (w->dtype, w->data, s, c.co * c.kvol);
    c.filters = s;
    s += (c.co * c.kvol + 15) & ~(int64_t) 15;
  }
  c.bias = bias ? bias->data : NULL;
  if (bias && bias->dtype != OMNI_DTYPE_F32) {
    omni_dtype_to_f32 (bias->dtype, bias->data, s, c.co);
    c.bias = s;
  }
  c.next_item = 0;
  omni_cpu_pool_run (cpu->pool, nth, conv_task, &c);
}
