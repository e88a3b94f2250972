/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The cpu's fused add_rmsnorm (res += x; y = rmsnorm(res) * w) against add
 * followed by rmsnorm (the same bits) and a double-precision reference, on
 * odd shapes, f32/bf16/f16 weights, 1 and 2 threads. The checks are also run
 * on broken variants of the op, which they must reject. */
#include <math.h>
#include "backend/backend.h"
#include "cpu-test-util.h"
#include "omnicore.h"

/* y against double, relative to |y| (rmsnorm's own tolerance in test-cpu-ops-misc) */
#define TOL 1e-5
#define EPS 1e-6f

typedef struct {
  int64_t rows, d;
  OmniDType wtype;
  float *res, *x, *w;  /* inputs; w as f32, already rounded to wtype */
} Case;

static GRand *rng;

/* Runs the fused op (@fused) or add then rmsnorm on @b; returns res' then y
 * ([2][rows * d], g_free). res and x are 3-D [rows, 1, d] here, y 2-D. */
static float *
run (OmniBackend *b, const Case *c, gboolean fused)
{
  int64_t s3[3] = { c->rows, 1, c->d }, s2[2] = { c->rows, c->d }, sw[1] = { c->d };
  OmniTensor res = cpu_test_tensor (b, OMNI_DTYPE_F32, 3, s3, c->res), x = cpu_test_tensor (b, OMNI_DTYPE_F32, 3, s3, c->x);
  OmniTensor y = cpu_test_tensor (b, OMNI_DTYPE_F32, 2, s2, NULL), w = cpu_test_tensor (b, c->wtype, 1, sw, c->w);
  float *out = g_new (float, 2 * c->rows * c->d);

  memset (y.data, 0xff, y.n_bytes);
  if (fused) {
    g_assert_nonnull (b->ops->add_rmsnorm);
    b->ops->add_rmsnorm (b, &res, &y, &x, &w, EPS);
  } else {
    b->ops->add (b, &res, &res, &x);
    b->ops->rmsnorm (b, &y, &res, &w, EPS);
  }
  memcpy (out, res.data, res.n_bytes);
  memcpy (out + c->rows * c->d, y.data, y.n_bytes);
  b->ops->tensor_free (b, &res);
  b->ops->tensor_free (b, &x);
  b->ops->tensor_free (b, &y);
  b->ops->tensor_free (b, &w);
  return out;
}

/* NULL when @got (res', y) matches the double reference, else why not (g_free). */
static char *
check_reference (const Case *c, const float *got)
{
  const float *gres = got, *gy = got + c->rows * c->d;

  for (int64_t r = 0; r < c->rows; r++) {
    double ss = 0;

    for (int64_t i = 0; i < c->d; i++) {
      int64_t k = r * c->d + i;
      /* an f32 sum of two floats is the exactly rounded double sum */
      float want = (float) ((double) c->res[k] + (double) c->x[k]);

      if (memcmp (&gres[k], &want, sizeof want) != 0)
        return g_strdup_printf ("res[%" G_GINT64_FORMAT "] = %.9g, expected %.9g", k, gres[k], want);
      ss += (double) want * want;
    }
    for (int64_t i = 0; i < c->d; i++) {
      int64_t k = r * c->d + i;
      double ref = gres[k] / sqrt (ss / c->d + EPS) * c->w[i];

      if (!(fabs (gy[k] - ref) <= TOL * fabs (ref) + 1e-30))
        return g_strdup_printf ("y[%" G_GINT64_FORMAT "] = %.9g, reference %.9g", k, gy[k], ref);
    }
  }
  return NULL;
}

/* NULL when @a and @b hold the same bits, else the first difference. */
static char *
check_bits (const Case *c, const float *a, const float *b)
{
  for (int64_t k = 0; k < 2 * c->rows * c->d; k++)
    if (memcmp (&a[k], &b[k], sizeof (float)) != 0)
      return g_strdup_printf ("%s[%" G_GINT64_FORMAT "]: %.9g vs %.9g", k < c->rows * c->d ? "res" : "y",
                              k % (c->rows * c->d), a[k], b[k]);
  return NULL;
}

static Case
case_new (int64_t rows, int64_t d, OmniDType wtype)
{
  Case c = { rows, d, wtype, g_new (float, rows * d), g_new (float, rows * d), g_new (float, d) };

  for (int64_t i = 0; i < rows * d; i++) {
    /* rows of different scales; x about as large as the residual */
    c.res[i] = (float) g_rand_double_range (rng, -1, 1) * (float) (1 + i / d % 7);
    c.x[i] = (float) g_rand_double_range (rng, -2, 2);
  }
  for (int64_t i = 0; i < d; i++) {
    float w = (float) g_rand_double_range (rng, -1.5, 1.5);

    if (wtype == OMNI_DTYPE_BF16)
      w = omni_bf16_to_f32 (omni_f32_to_bf16 (w));
    else if (wtype == OMNI_DTYPE_F16)
      w = omni_f16_to_f32 (omni_f32_to_f16 (w));
    c.w[i] = w;
  }
  return c;
}

static void
case_free (Case *c)
{
  g_free (c->res);
  g_free (c->x);
  g_free (c->w);
}

static const int64_t shapes[][2] = {
  { 1, 1 }, { 1, 7 }, { 3, 16 }, { 2, 17 }, { 5, 131 }, { 1, 1024 }, { 4, 1000 }, { 300, 1024 },
};
static const OmniDType wtypes[] = { OMNI_DTYPE_F32, OMNI_DTYPE_BF16, OMNI_DTYPE_F16 };

static void
test_fused (void)
{
  OmniBackend *b1 = cpu_test_backend (omni_cpu_isa_detect (), 1), *b2 = cpu_test_backend (omni_cpu_isa_detect (), 2);

  for (guint s = 0; s < G_N_ELEMENTS (shapes); s++) {
    for (guint t = 0; t < G_N_ELEMENTS (wtypes); t++) {
      Case c = case_new (shapes[s][0], shapes[s][1], wtypes[t]);
      float *two_ops = run (b1, &c, FALSE), *f1 = run (b1, &c, TRUE), *f2 = run (b2, &c, TRUE);
      char *err;

      if ((err = check_reference (&c, f1)) || (err = check_bits (&c, f1, two_ops))
          || (err = check_bits (&c, f1, f2)))
        g_error ("add_rmsnorm [%" G_GINT64_FORMAT ", %" G_GINT64_FORMAT "] %s weight: %s",
                 c.rows, c.d, omni_dtype_name (c.wtype), err);
      g_free (two_ops);
      g_free (f1);
      g_free (f2);
      case_free (&c);
    }
  }
  omni_backend_close (b1);
  omni_backend_close (b2);
}

/* ---- broken variants: the checks above must reject each ---- */

typedef enum { BROKEN_ORDER, BROKEN_STALE, BROKEN_LAST_ROW } Broken;
static Broken broken;

/* add_rmsnorm gone wrong in one way (f32 weights only). */
static void
broken_add_rmsnorm (OmniBackend *b, OmniTensor *res, OmniTensor *y, const OmniTensor *x,
                    const OmniTensor *w, float eps)
{
  int64_t d = res->shape[res->n_dims - 1], rows = omni_tensor_rows (res);
  float *pr = res->data, *py = y->data;
  const float *px = x->data, *pw = w->data;

  (void) b;
  for (int64_t r = 0; r < rows; r++) {
    float ss = 0;

    for (int64_t i = 0; i < d; i++) {
      float old = pr[r * d + i], sum = old + px[r * d + i];

      /* STALE: the scale from the residual before the add */
      ss += broken == BROKEN_STALE ? old * old : sum * sum;  /* ORDER: one running sum */
      if (broken != BROKEN_LAST_ROW || r + 1 < rows)
        pr[r * d + i] = sum;
    }
    float scale = 1.0f / sqrtf (ss / (float) d + eps);
    for (int64_t i = 0; i < d; i++)
      py[r * d + i] = pw[i] * (pr[r * d + i] * scale);
  }
}

static void
test_broken_rejected (void)
{
  OmniBackend *b = cpu_test_backend (omni_cpu_isa_detect (), 1);
  const OmniBackendOps *real = b->ops;
  OmniBackendOps ops = *real;

  ops.add_rmsnorm = broken_add_rmsnorm;
  for (broken = BROKEN_ORDER; broken <= BROKEN_LAST_ROW; broken++) {
    gboolean caught = FALSE;

    for (guint s = 0; s < G_N_ELEMENTS (shapes); s++) {
      Case c = case_new (shapes[s][0], shapes[s][1], OMNI_DTYPE_F32);
      float *two_ops, *got;
      char *e1, *e2;

      b->ops = real;
      two_ops = run (b, &c, FALSE);
      b->ops = &ops;
      got = run (b, &c, TRUE);
      e1 = check_reference (&c, got);
      e2 = check_bits (&c, got, two_ops);
      caught |= e1 != NULL || e2 != NULL;
      /* a wrong result, not a different rounding, must fail the reference too */
      if (broken != BROKEN_ORDER && c.d > 1 && e1 == NULL)
        g_error ("broken variant %d passed the reference at [%" G_GINT64_FORMAT ", %" G_GINT64_FORMAT "]",
                 broken, c.rows, c.d);
      g_free (e1);
      g_free (e2);
      g_free (two_ops);
      g_free (got);
      case_free (&c);
    }
    if (!caught)
      g_error ("broken variant %d passed every check", broken);
  }
  b->ops = real;
  omni_backend_close (b);
}

/* A weight of the wrong length is a g_critical, not a crash or a write past the end. */
static void
test_bad_shape (void)
{
  if (g_test_subprocess ()) {
    OmniBackend *b = cpu_test_backend (omni_cpu_isa_detect (), 1);
    Case c = case_new (2, 8, OMNI_DTYPE_F32);
    int64_t s2[2] = { 2, 8 }, sw[1] = { 7 };
    OmniTensor res = cpu_test_tensor (b, OMNI_DTYPE_F32, 2, s2, c.res), x = cpu_test_tensor (b, OMNI_DTYPE_F32, 2, s2, c.x);
    OmniTensor y = cpu_test_tensor (b, OMNI_DTYPE_F32, 2, s2, NULL), w = cpu_test_tensor (b, OMNI_DTYPE_F32, 1, sw, c.w);

    b->ops->add_rmsnorm (b, &res, &y, &x, &w, EPS);
    return;
  }
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_failed ();
  g_test_trap_assert_stderr ("*omni_cpu_add_rmsnorm*w->n_dims == 1*");
}

int
main (int argc, char **argv)
{
  int ret;

  g_test_init (&argc, &argv, NULL);
  rng = g_rand_new_with_seed (1025);
  g_test_add_func ("/backend/cpu-ops-fused/add-rmsnorm", test_fused);
  g_test_add_func ("/backend/cpu-ops-fused/broken-rejected", test_broken_rejected);
  g_test_add_func ("/backend/cpu-ops-fused/bad-shape", test_bad_shape);
  ret = g_test_run ();
  g_rand_free (rng);
  return ret;
}
