/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* cpu conv (im2col + the matmul kernel) and the element-wise ops (swiglu,
 * gelu, add, rmsnorm, layernorm, rope) against double-precision references
 * on odd shapes, on every ISA the CPU runs and with 1 or 2 threads (the
 * two thread counts give the same bits; swiglu and tanh-gelu also the same
 * bits on every ISA). */
#include <math.h>
#include "backend/backend.h"
#include "cpu-test-util.h"
#include "omnicore.h"

/* f32 against double, relative to the sum of the magnitudes of the terms */
#define TOL 1e-5

static GRand *rng;

static float
rnd (double lo, double hi)
{
  return (float) g_rand_double_range (rng, lo, hi);
}

/* @src rounded to @dt, as the op sees it. */
static void
round_to (OmniDType dt, float *src, int64_t n)
{
  for (int64_t i = 0; i < n; i++) {
    if (dt == OMNI_DTYPE_BF16)
      src[i] = omni_bf16_to_f32 (omni_f32_to_bf16 (src[i]));
    else if (dt == OMNI_DTYPE_F16)
      src[i] = omni_f16_to_f32 (omni_f32_to_f16 (src[i]));
  }
}

static void
close_or_die (const char *what, OmniCpuIsa isa, int nth, int64_t i, float got, double ref, double mag)
{
  if (!(fabs (got - ref) <= TOL * MAX (mag, fabs (ref))))
    g_error ("%s (%s, %d threads) [%" G_GINT64_FORMAT "]: got %.9g, reference %.9g (magnitude %.3g)",
             what, omni_cpu_isa_name (isa), nth, i, got, ref, mag);
}

/* Runs @fn on every ISA and thread count; @fn returns its output (g_free). */
typedef float *(*OpRun) (OmniBackend *b, OmniCpuIsa isa, int nth, void *data);

static void
each_backend (const char *what, OpRun fn, void *data, size_t n_bytes, gboolean same_bits_every_isa)
{
  float *ref_bits = NULL;

  for (int isa = 0; isa < OMNI_CPU_ISA_COUNT; isa++) {
    float *one = NULL;

    if (!omni_cpu_isa_supported (isa))
      continue;
    for (int nth = 1; nth <= 2; nth++) {
      OmniBackend *b = cpu_test_backend (isa, nth);
      float *got = fn (b, isa, nth, data);

      omni_backend_close (b);
      if (nth == 1) {
        one = got;
        continue;
      }
      if (memcmp (one, got, n_bytes) != 0)
        g_error ("%s (%s): 1 and 2 threads differ", what, omni_cpu_isa_name (isa));
      g_free (got);
    }
    if (ref_bits == NULL) {
      ref_bits = one;
    } else {
      if (same_bits_every_isa && memcmp (ref_bits, one, n_bytes) != 0)
        g_error ("%s: %s differs from portable", what, omni_cpu_isa_name (isa));
      g_free (one);
    }
  }
  g_free (ref_bits);
}

/* ---- conv ---- */

typedef struct {
  int ns;
  int64_t sx[5], sw[5];
  int stride[3], pad[3];
  OmniDType dt;
  float *x, *w, *bias;
} Conv;

static float *
conv_run (OmniBackend *b, OmniCpuIsa isa, int nth, void *data)
{
  Conv *c = data;
  int nd = c->ns + 2;
  int64_t sy[5] = { c->sx[0], c->sw[0] }, ix[3] = { 1, 1, 1 }, kx[3] = { 1, 1, 1 }, ox[3] = { 1, 1, 1 };
  int st[3] = { 1, 1, 1 }, pd[3] = { 0, 0, 0 }, off = 3 - c->ns;
  OmniConvParams p = { c->ns, { 0 }, { 0 } };
  OmniTensor tx, tw, tb, ty;
  float *got;

  for (int i = 0; i < c->ns; i++) {
    p.stride[i] = st[off + i] = c->stride[i];
    p.padding[i] = pd[off + i] = c->pad[i];
    ix[off + i] = c->sx[2 + i];
    kx[off + i] = c->sw[2 + i];
    sy[2 + i] = ox[off + i] = (c->sx[2 + i] + 2 * c->pad[i] - c->sw[2 + i]) / c->stride[i] + 1;
  }
  tx = cpu_test_tensor (b, OMNI_DTYPE_F32, nd, c->sx, c->x);
  tw = cpu_test_tensor (b, c->dt, nd, c->sw, c->w);
  tb = cpu_test_tensor (b, c->dt, 1, c->sw, c->bias);
  ty = cpu_test_tensor (b, OMNI_DTYPE_F32, nd, sy, NULL);
  b->ops->conv (b, &ty, &tx, &tw, &tb, &p);
  got = g_memdup2 (ty.data, ty.n_bytes);

  for (int64_t n = 0; n < c->sx[0]; n++)
    for (int64_t co = 0; co < c->sw[0]; co++)
      for (int64_t o = 0; o < ox[0] * ox[1] * ox[2]; o++) {
        int64_t od = o / (ox[1] * ox[2]), oh = o / ox[2] % ox[1], ow = o % ox[2];
        double s = c->bias[co], mag = fabs (c->bias[co]);
        for (int64_t ci = 0; ci < c->sx[1]; ci++)
          for (int64_t a = 0; a < kx[0]; a++)
            for (int64_t h = 0; h < kx[1]; h++)
              for (int64_t e = 0; e < kx[2]; e++) {
                int64_t id = od * st[0] - pd[0] + a, ih = oh * st[1] - pd[1] + h, iw = ow * st[2] - pd[2] + e;
                if (id < 0 || id >= ix[0] || ih < 0 || ih >= ix[1] || iw < 0 || iw >= ix[2])
                  continue;
                double t = (double) c->x[(((n * c->sx[1] + ci) * ix[0] + id) * ix[1] + ih) * ix[2] + iw] *
                           c->w[(((co * c->sx[1] + ci) * kx[0] + a) * kx[1] + h) * kx[2] + e];
                s += t;
                mag += fabs (t);
              }
        int64_t yi = (n * c->sw[0] + co) * ox[0] * ox[1] * ox[2] + o;
        close_or_die ("conv", isa, nth, yi, got[yi], s, mag);
      }
  b->ops->tensor_free (b, &tx);
  b->ops->tensor_free (b, &tw);
  b->ops->tensor_free (b, &tb);
  b->ops->tensor_free (b, &ty);
  return got;
}

static void
check_conv (Conv *c)
{
  int64_t nx = 1, nw = 1, ny;

  for (int i = 0; i < c->ns + 2; i++) {
    nx *= c->sx[i];
    nw *= c->sw[i];
  }
  c->x = g_new (float, nx);
  c->w = g_new (float, nw);
  c->bias = g_new (float, c->sw[0]);
  for (int64_t i = 0; i < nx; i++)
    c->x[i] = rnd (-1, 1);
  for (int64_t i = 0; i < nw; i++)
    c->w[i] = rnd (-1, 1);
  for (int64_t i = 0; i < c->sw[0]; i++)
    c->bias[i] = rnd (-1, 1);
  round_to (c->dt, c->w, nw);
  round_to (c->dt, c->bias, c->sw[0]);
  ny = c->sx[0] * c->sw[0];
  for (int i = 0; i < c->ns; i++)
    ny *= (c->sx[2 + i] + 2 * c->pad[i] - c->sw[2 + i]) / c->stride[i] + 1;
  each_backend ("conv", conv_run, c, ny * sizeof (float), FALSE);
  g_free (c->x);
  g_free (c->w);
  g_free (c->bias);
}

static void
test_conv (void)
{
  /* the audio stem's first and later layers (3x3, stride 2, padding 1), small */
  Conv a = { .ns = 2, .sx = { 3, 1, 20, 17 }, .sw = { 12, 1, 3, 3 }, .stride = { 2, 2 }, .pad = { 1, 1 },
             .dt = OMNI_DTYPE_F32 };
  Conv s = { .ns = 2, .sx = { 2, 12, 10, 9 }, .sw = { 12, 12, 3, 3 }, .stride = { 2, 2 }, .pad = { 1, 1 },
             .dt = OMNI_DTYPE_BF16 };
  /* a wide one: several position blocks per image (fields of 150 floats) */
  Conv wide = { .ns = 2, .sx = { 1, 6, 64, 90 }, .sw = { 7, 6, 5, 5 }, .stride = { 1, 1 }, .pad = { 2, 2 },
                .dt = OMNI_DTYPE_F32 };
  /* the vision patch embed (kernel = stride, no padding) and an odd 3-D case */
  Conv patch = { .ns = 3, .sx = { 4, 3, 2, 8, 8 }, .sw = { 10, 3, 2, 4, 4 }, .stride = { 2, 4, 4 },
                 .pad = { 0, 0, 0 }, .dt = OMNI_DTYPE_F16 };
  Conv odd = { .ns = 3, .sx = { 1, 4, 5, 10, 9 }, .sw = { 6, 4, 2, 3, 3 }, .stride = { 2, 3, 2 },
               .pad = { 0, 1, 1 }, .dt = OMNI_DTYPE_F32 };

  check_conv (&a);
  check_conv (&s);
  check_conv (&wide);
  check_conv (&patch);
  check_conv (&odd);
}

/* ---- element-wise ---- */

typedef struct {
  int op;            /* 0 swiglu, 1 gelu tanh, 2 gelu erf, 3 add */
  int64_t n;
  float *a, *c;
} Elt;

static float *
elt_run (OmniBackend *b, OmniCpuIsa isa, int nth, void *data)
{
  Elt *e = data;
  int64_t shape[2] = { 1, e->n };
  OmniTensor ta = cpu_test_tensor (b, OMNI_DTYPE_F32, 2, shape, e->a), tc = cpu_test_tensor (b, OMNI_DTYPE_F32, 2, shape, e->c);
  OmniTensor ty = cpu_test_tensor (b, OMNI_DTYPE_F32, 2, shape, NULL);
  const char *names[] = { "swiglu", "gelu tanh", "gelu erf", "add" };
  const double beta = sqrt (2.0 / M_PI);
  float *got;

  if (e->op == 0)
    b->ops->swiglu (b, &ty, &ta, &tc);
  else if (e->op == 3)
    b->ops->add (b, &ty, &ta, &tc);
  else
    b->ops->gelu (b, &ty, &ta, e->op == 1);
  got = g_memdup2 (ty.data, ty.n_bytes);
  for (int64_t i = 0; i < e->n; i++) {
    double x = e->a[i], ref;

    if (e->op == 0)
      ref = x / (1 + exp (-x)) * e->c[i];
    else if (e->op == 1)  /* 0.5 (1 + tanh(u)) without the cancellation of 1 + tanh */
      ref = x / (1 + exp (-2 * beta * (x + 0.044715 * x * x * x)));
    else if (e->op == 2)
      ref = 0.5 * x * erfc (-x / M_SQRT2);
    else
      ref = x + e->c[i];
    /* the gelus' exp arguments are rounded to f32: a relative error of
     * ulp(1) times the argument */
    close_or_die (names[e->op], isa, nth, i, got[i], ref,
                  e->op == 3 ? fabs (x) + fabs (e->c[i]) : e->op == 2 ? fabs (ref) * (1 + x * x / 2)
                  : e->op == 1 ? fabs (ref) * (1 + fabs (2 * beta * (x + 0.044715 * x * x * x))) : 0);
  }
  /* in place (y = first input) gives the same bits */
  if (e->op == 0)
    b->ops->swiglu (b, &ta, &ta, &tc);
  else if (e->op == 3)
    b->ops->add (b, &ta, &ta, &tc);
  else
    b->ops->gelu (b, &ta, &ta, e->op == 1);
  if (memcmp (ta.data, got, ta.n_bytes) != 0)
    g_error ("%s in place differs", names[e->op]);
  b->ops->tensor_free (b, &ta);
  b->ops->tensor_free (b, &tc);
  b->ops->tensor_free (b, &ty);
  return got;
}

static void
test_elementwise (void)
{
  const int64_t sizes[] = { 1, 7, 33, 100003 };

  for (int op = 0; op < 4; op++) {
    for (guint s = 0; s < G_N_ELEMENTS (sizes); s++) {
      Elt e = { .op = op, .n = sizes[s] };

      e.a = g_new (float, e.n);
      e.c = g_new (float, e.n);
      for (int64_t i = 0; i < e.n; i++) {
        e.a[i] = rnd (op == 0 ? -30 : -9, op == 0 ? 30 : 9);
        e.c[i] = rnd (-2, 2);
      }
      e.a[0] = 0.0f;
      each_backend ("element-wise", elt_run, &e, e.n * sizeof (float), op < 2);
      g_free (e.a);
      g_free (e.c);
    }
  }
}

/* ---- rows of the last dim: rmsnorm, layernorm; rope ---- */

typedef struct {
  int op;            /* 0 rmsnorm, 1 layernorm, 2 rope */
  int64_t rows, d;
  float *x, *w, *bias;
} Norm;

static float *
norm_run (OmniBackend *b, OmniCpuIsa isa, int nth, void *data)
{
  Norm *c = data;
  int64_t shape[3] = { c->rows, 1, c->d }, wshape[1] = { c->d };
  OmniTensor tx = cpu_test_tensor (b, OMNI_DTYPE_F32, 3, shape, c->x), ty = cpu_test_tensor (b, OMNI_DTYPE_F32, 3, shape, NULL);
  OmniTensor tw = cpu_test_tensor (b, OMNI_DTYPE_F32, 1, wshape, c->w), tb = cpu_test_tensor (b, OMNI_DTYPE_F32, 1, wshape, c->bias);
  int half = (int) c->d / 2;
  float *inv = g_new (float, half), *got;
  int32_t *pos = g_new (int32_t, c->rows);
  OmniRope rope = { .rot_dim = 2 * half, .inv_freq = inv, .attn_scale = 1.0f };

  for (int i = 0; i < half; i++)
    inv[i] = (float) pow (1e6, -2.0 * i / (2 * half));
  for (int64_t r = 0; r < c->rows; r++)
    pos[r] = (int32_t) (r * 37 % 5000);
  if (c->op == 0)
    b->ops->rmsnorm (b, &ty, &tx, &tw, 1e-6f);
  else if (c->op == 1)
    b->ops->layernorm (b, &ty, &tx, &tw, &tb, 1e-5f);
  else {
    memcpy (ty.data, tx.data, tx.n_bytes);
    b->ops->rope (b, &ty, pos, &rope);
  }
  got = g_memdup2 (ty.data, ty.n_bytes);
  for (int64_t r = 0; r < c->rows; r++) {
    const float *x = c->x + r * c->d;
    double ss = 0, mean = 0, var = 0;

    for (int64_t i = 0; i < c->d; i++) {
      ss += (double) x[i] * x[i];
      mean += x[i];
    }
    mean /= c->d;
    for (int64_t i = 0; i < c->d; i++)
      var += (x[i] - mean) * (x[i] - mean);
    var /= c->d;
    for (int64_t i = 0; i < c->d; i++) {
      double ref, mag;

      if (c->op == 0) {
        ref = x[i] / sqrt (ss / c->d + 1e-6) * c->w[i];
        mag = fabs (ref);
      } else if (c->op == 1) {
        ref = (x[i] - mean) / sqrt (var + 1e-5) * c->w[i] + c->bias[i];
        mag = fabs ((x[i] - mean) / sqrt (var + 1e-5) * c->w[i]) + fabs (c->bias[i]);
      } else if (i >= 2 * half) {
        ref = mag = x[i];
      } else {
        int64_t j = i % half;
        float ang = (float) pos[r] * inv[j];   /* the angle rounded to f32, as transformers */
        double cs = cos ((double) ang), sn = sin ((double) ang);
        ref = i < half ? x[i] * cs - x[i + half] * sn : x[i] * cs + x[i - half] * sn;
        mag = fabs (x[i]) + fabs (x[i < half ? i + half : i - half]);
      }
      close_or_die (c->op == 0 ? "rmsnorm" : c->op == 1 ? "layernorm" : "rope", isa, nth,
                    r * c->d + i, got[r * c->d + i], ref, mag);
    }
  }
  b->ops->tensor_free (b, &tx);
  b->ops->tensor_free (b, &ty);
  b->ops->tensor_free (b, &tw);
  b->ops->tensor_free (b, &tb);
  g_free (inv);
  g_free (pos);
  return got;
}

static void
test_norms (void)
{
  const int64_t shapes[][2] = { { 1, 7 }, { 5, 131 }, { 300, 1024 } };

  for (int op = 0; op < 3; op++) {
    for (guint s = 0; s < G_N_ELEMENTS (shapes); s++) {
      Norm c = { .op = op, .rows = shapes[s][0], .d = shapes[s][1] };

      c.x = g_new (float, c.rows * c.d);
      c.w = g_new (float, c.d);
      c.bias = g_new (float, c.d);
      for (int64_t i = 0; i < c.rows * c.d; i++)
        c.x[i] = rnd (-1, 1) * (float) (1 + i / c.d % 7);
      for (int64_t i = 0; i < c.d; i++) {
        c.w[i] = rnd (-1, 1);
        c.bias[i] = rnd (-1, 1);
      }
      each_backend ("norm/rope", norm_run, &c, c.rows * c.d * sizeof (float), FALSE);
      g_free (c.x);
      g_free (c.w);
      g_free (c.bias);
    }
  }
}

int
main (int argc, char **argv)
{
  int ret;

  g_test_init (&argc, &argv, NULL);
  rng = g_rand_new_with_seed (2511);
  g_test_add_func ("/backend/cpu-ops/conv", test_conv);
  g_test_add_func ("/backend/cpu-ops/elementwise", test_elementwise);
  g_test_add_func ("/backend/cpu-ops/norms-rope", test_norms);
  ret = g_test_run ();
  g_rand_free (rng);
  return ret;
}
