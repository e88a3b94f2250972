/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The sampler: greedy, temperature, top-k, top-p (HF semantics), penalties,
 * determinism per seed. Distributions are checked over many draws with a
 * fixed seed against a chi-square bound that a wrong filter would exceed. */
#include <math.h>
#include "runtime/sampler.h"

#define V 8
#define DRAWS 40000

static const float base_logits[V] = { 2.0f, 1.5f, 1.0f, 0.5f, 0.0f, -0.5f, -1.0f, 3.0f };

static OmniSampler *
make (double temp, int k, double p, double rep, double pres, guint64 seed)
{
  OmniSamplerParams sp = { temp, k, p, rep, pres, seed };
  return omni_sampler_new (V, &sp);
}

/* Frequencies of DRAWS samples from base_logits. */
static void
histogram (OmniSampler *s, int *count)
{
  float l[V];
  memset (count, 0, V * sizeof *count);
  for (int i = 0; i < DRAWS; i++) {
    memcpy (l, base_logits, sizeof l);
    count[omni_sampler_sample (s, l)]++;
  }
}

/* softmax(base / temp) restricted to @keep (NULL = all) */
static void
expected (double temp, const gboolean *keep, double *p)
{
  double z = 0;
  for (int i = 0; i < V; i++) {
    p[i] = keep && !keep[i] ? 0 : exp (base_logits[i] / temp);
    z += p[i];
  }
  for (int i = 0; i < V; i++)
    p[i] /= z;
}

/* Pearson chi-square of @count against @p; ids with p = 0 must never occur. */
static double
chi_square (const int *count, const double *p)
{
  double chi = 0;
  for (int i = 0; i < V; i++) {
    if (p[i] == 0) {
      g_assert_cmpint (count[i], ==, 0);
      continue;
    }
    double e = p[i] * DRAWS;
    chi += (count[i] - e) * (count[i] - e) / e;
  }
  return chi;
}

/* 7 degrees of freedom at most: the 99.9% quantile is 24.3; a filter that
 * kept one id too many or too few shifts mass by >= 3% here, which gives a
 * chi-square in the hundreds at 40000 draws. */
#define CHI_BOUND 24.3

static void
test_greedy (void)
{
  OmniSampler *s = make (0, 0, 1, 1, 0, 1);
  float l[V];
  memcpy (l, base_logits, sizeof l);
  g_assert_cmpint (omni_sampler_sample (s, l), ==, 7);
  /* ties: the first index, like torch.argmax */
  float t[V] = { 0, 5, 1, 5, 0, 0, 0, 0 };
  g_assert_cmpint (omni_sampler_sample (s, t), ==, 1);
  omni_sampler_free (s);
}

static void
test_temperature (void)
{
  int count[V];
  double p[V];
  for (int i = 0; i < 2; i++) {
    double temp = i ? 0.7 : 1.0;
    OmniSampler *s = make (temp, 0, 1, 1, 0, 42);
    histogram (s, count);
    expected (temp, NULL, p);
    double chi = chi_square (count, p);
    g_test_message ("temperature %.1f: chi-square %.2f", temp, chi);
    g_assert_cmpfloat (chi, <, CHI_BOUND);
    /* the other temperature's distribution is rejected by the same bound */
    expected (i ? 1.0 : 0.7, NULL, p);
    g_assert_cmpfloat (chi_square (count, p), >, 10 * CHI_BOUND);
    omni_sampler_free (s);
  }
}

static void
test_top_k (void)
{
  int count[V];
  double p[V];
  gboolean keep3[V] = { 1, 1, 0, 0, 0, 0, 0, 1 };   /* ids 7, 0, 1 */
  gboolean keep4[V] = { 1, 1, 1, 0, 0, 0, 0, 1 };
  OmniSampler *s = make (1.0, 3, 1, 1, 0, 7);

  histogram (s, count);
  expected (1.0, keep3, p);
  g_assert_cmpfloat (chi_square (count, p), <, CHI_BOUND);
  expected (1.0, keep4, p);
  g_assert_cmpfloat (chi_square (count, p), >, 10 * CHI_BOUND);
  omni_sampler_free (s);
}

/* Probabilities of base_logits at T=1 in descending order:
 * id7 .5245, id0 .1929, id1 .1170, id2 .0710, id3 .0431, ...
 * cumulative: .5245 .7174 .8344 .9054 ...
 * top_p 0.8 keeps the smallest prefix reaching 0.8: ids 7, 0, 1.
 * top_p 0.7 keeps ids 7, 0. top_p 0.5 keeps only id 7. */
static void
test_top_p (void)
{
  int count[V];
  double p[V];
  const struct { double top_p; gboolean keep[V]; } cases[] = {
    { 0.8, { 1, 1, 0, 0, 0, 0, 0, 1 } },
    { 0.7, { 1, 0, 0, 0, 0, 0, 0, 1 } },
    { 0.5, { 0, 0, 0, 0, 0, 0, 0, 1 } },
  };
  for (gsize c = 0; c < G_N_ELEMENTS (cases); c++) {
    OmniSampler *s = make (1.0, 0, cases[c].top_p, 1, 0, 99 + c);
    histogram (s, count);
    expected (1.0, cases[c].keep, p);
    double chi = chi_square (count, p);
    g_test_message ("top_p %.1f: chi-square %.2f", cases[c].top_p, chi);
    g_assert_cmpfloat (chi, <, CHI_BOUND);
    omni_sampler_free (s);
  }
}

/* top-k 4 then top-p 0.78: top-p renormalises over the 4 survivors
 * (-> .579 .213 .129 .078; cumulative .579 .792 .922): ids 7, 0. Over the
 * full vocabulary (cumulative .5245 .7174 .8344) top-p 0.78 would keep 3. */
static void
test_top_k_then_p (void)
{
  int count[V];
  double p[V];
  gboolean keep[V] = { 1, 0, 0, 0, 0, 0, 0, 1 };
  gboolean keep_full[V] = { 1, 1, 0, 0, 0, 0, 0, 1 };
  OmniSampler *s = make (1.0, 4, 0.78, 1, 0, 5);
  histogram (s, count);
  expected (1.0, keep, p);
  g_assert_cmpfloat (chi_square (count, p), <, CHI_BOUND);
  g_assert_cmpint (count[1], ==, 0);
  expected (1.0, keep_full, p);
  g_assert_cmpfloat (chi_square (count, p), >, 10 * CHI_BOUND);
  omni_sampler_free (s);
}

static void
test_determinism (void)
{
  int32_t a[64], b[64], c[64];
  float l[V];
  OmniSampler *s1 = make (1.0, 0, 0.95, 1, 0, 1234), *s2 = make (1.0, 0, 0.95, 1, 0, 1234);
  OmniSampler *s3 = make (1.0, 0, 0.95, 1, 0, 1235);
  for (int i = 0; i < 64; i++) {
    memcpy (l, base_logits, sizeof l);
    a[i] = omni_sampler_sample (s1, l);
    memcpy (l, base_logits, sizeof l);
    b[i] = omni_sampler_sample (s2, l);
    memcpy (l, base_logits, sizeof l);
    c[i] = omni_sampler_sample (s3, l);
  }
  g_assert_cmpmem (a, sizeof a, b, sizeof b);
  g_assert_true (memcmp (a, c, sizeof a) != 0);
  /* reset replays the same stream */
  omni_sampler_reset (s1);
  for (int i = 0; i < 64; i++) {
    memcpy (l, base_logits, sizeof l);
    g_assert_cmpint (omni_sampler_sample (s1, l), ==, a[i]);
  }
  /* xoshiro256** seeded through splitmix64: uniforms in [0, 1) */
  for (int i = 0; i < 1000; i++) {
    double u = omni_sampler_uniform (s3);
    g_assert_true (u >= 0 && u < 1);
  }
  omni_sampler_free (s1);
  omni_sampler_free (s2);
  omni_sampler_free (s3);
}

/* HF repetition penalty: positive logits divided, negative multiplied, for
 * ids of the prompt and the output; greedy sees the penalised logits. */
static void
test_repetition_penalty (void)
{
  OmniSampler *s = make (0, 0, 1, 2.0, 0, 1);
  float l[V] = { 2.0f, 1.5f, 1.0f, 0.5f, 0.0f, -0.5f, -1.0f, 3.0f };
  int32_t prompt[] = { 7, 5 };

  omni_sampler_add_prompt (s, prompt, 2);
  g_assert_cmpint (omni_sampler_sample (s, l), ==, 0);   /* 3.0 -> 1.5 loses to 2.0 */
  g_assert_cmpfloat (l[7], ==, 1.5f);
  g_assert_cmpfloat (l[5], ==, -1.0f);
  g_assert_cmpfloat (l[0], ==, 2.0f);
  omni_sampler_add_output (s, 0);
  memcpy (l, base_logits, sizeof l);
  g_assert_cmpint (omni_sampler_sample (s, l), ==, 1);   /* 7 -> 1.5, 0 -> 1.0, 1 stays 1.5: first max */
  /* a seen id is penalised once, however often it was seen */
  omni_sampler_add_output (s, 0);
  memcpy (l, base_logits, sizeof l);
  omni_sampler_sample (s, l);
  g_assert_cmpfloat (l[0], ==, 1.0f);
  omni_sampler_free (s);
}

/* Presence penalty: subtracted once from ids present in the output only. */
static void
test_presence_penalty (void)
{
  OmniSampler *s = make (0, 0, 1, 1, 1.2, 1);
  float l[V];
  int32_t prompt[] = { 0 };

  omni_sampler_add_prompt (s, prompt, 1);
  memcpy (l, base_logits, sizeof l);
  g_assert_cmpint (omni_sampler_sample (s, l), ==, 7);
  g_assert_cmpfloat (l[0], ==, 2.0f);                    /* prompt ids untouched */
  omni_sampler_add_output (s, 7);
  omni_sampler_add_output (s, 7);
  memcpy (l, base_logits, sizeof l);
  g_assert_cmpint (omni_sampler_sample (s, l), ==, 0);   /* 3.0 - 1.2 = 1.8 < 2.0 */
  g_assert_cmpfloat_with_epsilon (l[7], 1.8f, 1e-6);
  /* reset forgets the seen ids */
  omni_sampler_reset (s);
  memcpy (l, base_logits, sizeof l);
  g_assert_cmpint (omni_sampler_sample (s, l), ==, 7);
  omni_sampler_free (s);
}

/* A vocabulary-sized case: top-k 50 / top-p 0.9 over 151936 logits never
 * draws outside the top 50. */
static void
test_large_vocab (void)
{
  const int n = 151936;
  OmniSamplerParams sp = { 0.8, 50, 0.9, 1.1, 0.5, 3 };
  OmniSampler *s = omni_sampler_new (n, &sp);
  float *base = g_new (float, n), *l = g_new (float, n);
  GRand *r = g_rand_new_with_seed (17);

  for (int i = 0; i < n; i++)
    base[i] = (float) g_rand_double_range (r, -5, 5);
  /* the 51st largest logit */
  float *sorted = g_memdup2 (base, n * sizeof (float));
  for (int i = 0; i < 51; i++)
    for (int j = i + 1; j < n; j++)
      if (sorted[j] > sorted[i]) {
        float t = sorted[i];
        sorted[i] = sorted[j];
        sorted[j] = t;
      }
  for (int i = 0; i < 200; i++) {
    memcpy (l, base, n * sizeof (float));
    int32_t id = omni_sampler_sample (s, l);
    g_assert_cmpfloat (base[id], >, sorted[50]);
  }
  g_free (sorted);
  g_free (base);
  g_free (l);
  g_rand_free (r);
  omni_sampler_free (s);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/runtime/sampler/greedy", test_greedy);
  g_test_add_func ("/runtime/sampler/temperature", test_temperature);
  g_test_add_func ("/runtime/sampler/top-k", test_top_k);
  g_test_add_func ("/runtime/sampler/top-p", test_top_p);
  g_test_add_func ("/runtime/sampler/top-k-then-top-p", test_top_k_then_p);
  g_test_add_func ("/runtime/sampler/determinism", test_determinism);
  g_test_add_func ("/runtime/sampler/repetition-penalty", test_repetition_penalty);
  g_test_add_func ("/runtime/sampler/presence-penalty", test_presence_penalty);
  g_test_add_func ("/runtime/sampler/large-vocab", test_large_vocab);
  return g_test_run ();
}
