/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Device sampling against runtime/sampler.c: the same ids for the same
 * uniforms over many steps, with three sequences of different settings in
 * one launch, and the same penalised, temperature-scaled logits. */
#include <math.h>
#include "ktest.h"
#include "runtime/sampler.h"

#define VOCAB 3001
#define N_SEQS 3
#define STEPS 6

typedef struct {
  double temperature, top_p, rep, presence;
  int top_k;
} Setting;

/* Logits in [-6, 6) with no two equal: the cpu sampler orders equal logits
 * by its heap, which the device does not reproduce (documented in kernels.h). */
static float *
distinct_logits (GRand *rng)
{
  float *x = g_new (float, (size_t) N_SEQS * VOCAB);
  int32_t *perm = g_new (int32_t, VOCAB);

  for (int s = 0; s < N_SEQS; s++) {
    for (int i = 0; i < VOCAB; i++)
      perm[i] = i;
    for (int i = VOCAB - 1; i > 0; i--) {
      int j = g_rand_int_range (rng, 0, i + 1), t = perm[i];
      perm[i] = perm[j];
      perm[j] = t;
    }
    for (int i = 0; i < VOCAB; i++)
      x[s * VOCAB + i] = (float) (-6.0 + 12.0 * (perm[i] + g_rand_double_range (rng, 0, 0.5)) / VOCAB);
  }
  g_free (perm);
  return x;
}

static void
run_settings (const Setting *set, GRand *rng)
{
  OmniSampler *cpu[N_SEQS], *twin[N_SEQS];
  OmniKSampleParams params[N_SEQS];
  int32_t prompt[7] = { 0, 5, 17, 17, 400, VOCAB - 1, 2999 }, seqs[7 * N_SEQS], pids[7 * N_SEQS];
  uint8_t *dseen = kt_dev (NULL, (size_t) N_SEQS * VOCAB);
  float *dlogits = kt_dev (NULL, (size_t) N_SEQS * VOCAB * 4);
  int32_t *dout = kt_dev (NULL, N_SEQS * 4);
  OmniKSampleParams *dparams = kt_dev (NULL, sizeof params);

  for (int s = 0; s < N_SEQS; s++) {
    OmniSamplerParams p = { set[s].temperature, set[s].top_k, set[s].top_p, set[s].rep, set[s].presence,
                            1234 + s };
    cpu[s] = omni_sampler_new (VOCAB, &p);
    twin[s] = omni_sampler_new (VOCAB, &p);
    omni_sampler_add_prompt (cpu[s], prompt, 7);
    for (int i = 0; i < 7; i++) {
      seqs[s * 7 + i] = s;
      pids[s * 7 + i] = prompt[i];
    }
    params[s] = (OmniKSampleParams) { set[s].temperature, set[s].top_p, (float) set[s].rep,
                                      (float) set[s].presence, set[s].top_k, 0, 0.0 };
  }
  KT_CHECK (omni_k_sample_mark (dseen, VOCAB, kt_dev (pids, sizeof pids), kt_dev (seqs, sizeof seqs),
                                7 * N_SEQS, OMNI_K_SEEN_ANY, 0), "mark");

  for (int step = 0; step < STEPS; step++) {
    float *logits = distinct_logits (rng);
    /* a tie for the maximum: the lower id wins the greedy pick (ties at a
     * top-k/top-p boundary are ordered by the cpu's heap: not compared) */
    for (int s = 0; s < N_SEQS && step == 1; s++)
      if (set[s].temperature <= 0 || (set[s].top_k == 0 && set[s].top_p >= 1))
        logits[s * VOCAB + 100] = logits[s * VOCAB + 2000] = 7.0f;
    if (step == 2)   /* a peaked row: top-p keeps few ids */
      for (int s = 0; s < N_SEQS; s++)
        logits[s * VOCAB + 50] = 12.0f;
    for (int s = 0; s < N_SEQS; s++)
      params[s].uniform = set[s].temperature > 0 ? omni_sampler_uniform (twin[s]) : 0.0;
    KT_CHECK (cudaMemcpy (dlogits, logits, (size_t) N_SEQS * VOCAB * 4, cudaMemcpyHostToDevice), "upload");
    KT_CHECK (cudaMemcpy (dparams, params, sizeof params, cudaMemcpyHostToDevice), "upload");
    KT_CHECK (omni_k_sample (dout, dlogits, dseen, dparams, N_SEQS, VOCAB, 0), "sample");
    int32_t *got = kt_host (dout, N_SEQS * 4);
    float *got_logits = kt_host (dlogits, (size_t) N_SEQS * VOCAB * 4);
    for (int s = 0; s < N_SEQS; s++) {
      int32_t want = omni_sampler_sample (cpu[s], logits + (size_t) s * VOCAB);
      if (got[s] != want)
        g_error ("step %d, sequence %d (T %g, top-k %d, top-p %g): device sampled %d, cpu %d", step, s,
                 set[s].temperature, set[s].top_k, set[s].top_p, got[s], want);
      omni_sampler_add_output (cpu[s], want);
    }
    g_assert_cmpmem (got_logits, (size_t) N_SEQS * VOCAB * 4, logits, (size_t) N_SEQS * VOCAB * 4);
    g_free (got);
    g_free (got_logits);
    g_free (logits);
  }
  for (int s = 0; s < N_SEQS; s++) {
    omni_sampler_free (cpu[s]);
    omni_sampler_free (twin[s]);
  }
  kt_free_all ();
}

static void
test_sample (void)
{
  static const Setting sets[][N_SEQS] = {
    { { 0, 1, 1, 0, 0 }, { 0, 1, 1.3, 0.5, 0 }, { 1.0, 1, 1, 0, 0 } },        /* greedy, plain draw */
    { { 0.7, 1, 1, 0, 1 }, { 0.8, 1, 1, 0, 5 }, { 1.2, 1, 1.1, 0, 50 } },     /* top-k */
    { { 0.7, 0.9, 1, 0, 0 }, { 1.0, 0.5, 1, 0.3, 0 }, { 1.0, 0.0, 1, 0, 0 } },  /* top-p */
    { { 0.6, 0.95, 1.05, 0, 20 }, { 1.5, 0.8, 1, 1.0, 40 }, { 0.9, 0.3, 1.2, 0.2, 3000 } },  /* both */
  };
  GRand *rng = g_rand_new_with_seed (31);

  for (guint i = 0; i < G_N_ELEMENTS (sets); i++)
    run_settings (sets[i], rng);
  g_rand_free (rng);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/kernels/sample", test_sample);
  return g_test_run ();
}
