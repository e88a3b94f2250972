/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* omni bench: prefill and decode speed of a snapshot, with llama-bench's
 * conventions (comma lists, repetitions, a markdown or JSON table), driving
 * nn/ directly: omni_model_forward() with a batch of N tokens for ppN, one
 * token per step for tgN; sampling is not timed. After the table: the decode
 * bandwidth ceiling and the prefill peak, and the share of each reached. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include "omnicore.h"
#include "backend/backend.h"
#include "nn/qwen3.h"
#include "omni-cli.h"
#include "cli-bench.h"
#include "cli-membw.h"

typedef struct {
  char *model, *random_from, *cache_dir, *tokenizer, *device, *output;
  char *quant_s, *threads_s, *prompt_s, *depth_s;
  int n_gen, reps;
  GArray *quants, *threads, *prompts, *depths;   /* OmniQuant, int, int, int */
  gboolean json;
} BenchArgs;

/* One row of the table. */
typedef struct {
  OmniQuant quant;
  int threads, n_prompt, n_gen, depth;
  double mean, sd;          /* tokens/s over the repetitions */
  double share;             /* of the ceiling (tg) or the peak (pp), in % */
  double limit;             /* the ceiling in tokens/s (tg) or the peak in GFLOP/s (pp) */
  double bandwidth;         /* tg: read bytes/s, the mean of a measurement right before and
                             * one right after the test (a virtual machine's bandwidth
                             * drifts by a third within minutes here) */
} BenchRow;

/* One (quant, threads) model: what the rows share. */
typedef struct {
  OmniModelWeightStats ws;
  size_t kv_bytes_per_token;  /* K and V of every layer, f32 */
  double peak;                /* GFLOP/s of the peak GEMM */
} BenchModel;

/* ---- options ---- */

/* "128,512" -> @out (ints >= @min); else a GError naming @option. */
static gboolean
parse_list (const char *option, const char *s, int min, GArray *out, GError **error)
{
  g_auto (GStrv) parts = g_strsplit (s, ",", -1);

  for (int i = 0; parts[i]; i++) {
    guint64 v;
    if (!g_ascii_string_to_unsigned (g_strstrip (parts[i]), 10, (guint64) min, 1 << 20, &v, NULL)) {
      g_set_error (error, OMNI_ERROR, OMNI_ERROR_INVALID,
                   "%s \"%s\": expected a comma-separated list of integers from %d to %d",
                   option, s, min, 1 << 20);
      return FALSE;
    }
    int iv = (int) v;
    g_array_append_val (out, iv);
  }
  return TRUE;
}

static gboolean
parse_quants (const char *s, GArray *out, GError **error)
{
  g_auto (GStrv) parts = g_strsplit (s, ",", -1);

  for (int i = 0; parts[i]; i++) {
    OmniQuant q;
    if (!omni_quant_parse (g_strstrip (parts[i]), &q, error)) {
      g_prefix_error (error, "--quant: ");
      return FALSE;
    }
    g_array_append_val (out, q);
  }
  return TRUE;
}

static gboolean
check_args (BenchArgs *a, GError **error)
{
  if (!a->model == !a->random_from) {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_INVALID,
                 "give one of -m/--model DIR (a snapshot) or --random-from CONFIG");
    return FALSE;
  }
  if (a->output && strcmp (a->output, "md") != 0 && strcmp (a->output, "json") != 0) {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_INVALID, "-o/--output \"%s\": expected md or json",
                 a->output);
    return FALSE;
  }
  a->json = a->output && strcmp (a->output, "json") == 0;
  if (a->n_gen < 0 || a->n_gen > (1 << 20) || a->reps < 1 || a->reps > 1000) {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_INVALID,
                 "out of range: -n/--n-gen must be 0 to %d, -r/--repetitions 1 to 1000", 1 << 20);
    return FALSE;
  }
  g_autofree char *default_threads = g_strdup_printf ("%u", g_get_num_processors ());
  return parse_quants (a->quant_s ? a->quant_s : "none", a->quants, error)
      && parse_list ("-t/--threads", a->threads_s ? a->threads_s : default_threads, 1, a->threads,
                     error)
      && parse_list ("-p/--n-prompt", a->prompt_s ? a->prompt_s : "128,512", 0, a->prompts, error)
      && parse_list ("-d/--n-depth", a->depth_s ? a->depth_s : "0", 0, a->depths, error);
}

static gboolean
parse_args (int *argc, char ***argv, BenchArgs *a, GError **error)
{
  GOptionEntry entries[] = {
    { "model", 'm', 0, G_OPTION_ARG_FILENAME, &a->model, "A Hugging Face snapshot directory", "DIR" },
    { "random-from", 0, 0, G_OPTION_ARG_FILENAME, &a->random_from,
      "A config.json: bench random weights of its shapes (made once, kept in the cache dir)", "CONFIG" },
    { "cache-dir", 0, 0, G_OPTION_ARG_FILENAME, &a->cache_dir,
      "Where --random-from keeps its snapshots (default: the user cache dir/gst-omni/random)", "DIR" },
    { "tokenizer", 0, 0, G_OPTION_ARG_FILENAME, &a->tokenizer,
      "Tokenizer of a --random-from snapshot (see omni random-model)", "DIR" },
    { "quant", 'q', 0, G_OPTION_ARG_STRING, &a->quant_s, "Weights: none,bf16,int8,int4 (list; default none)", "Q" },
    { "threads", 't', 0, G_OPTION_ARG_STRING, &a->threads_s, "CPU threads (list; default the cores)", "N" },
    { "n-prompt", 'p', 0, G_OPTION_ARG_STRING, &a->prompt_s, "Prefill sizes (list; default 128,512; 0 = none)", "N" },
    { "n-gen", 'n', 0, G_OPTION_ARG_INT, &a->n_gen, "Decoded tokens (default 128; 0 = none)", "N" },
    { "n-depth", 'd', 0, G_OPTION_ARG_STRING, &a->depth_s, "Context depths (list; default 0)", "N" },
    { "repetitions", 'r', 0, G_OPTION_ARG_INT, &a->reps, "Repetitions of each test (default 3)", "N" },
    { "output", 'o', 0, G_OPTION_ARG_STRING, &a->output, "md (default) or json", "FMT" },
    { "device", 0, 0, G_OPTION_ARG_STRING, &a->device, "Backend device (default cpu)", "D" },
    { NULL }
  };
  g_autoptr (GOptionContext) ctx = g_option_context_new (NULL);

  g_option_context_set_summary (ctx, "Measures prefill (ppN) and decode (tgN) tokens/s of a model, "
                                "like llama-bench, and compares them with the machine's limits.");
  g_option_context_add_main_entries (ctx, entries, NULL);
  if (!g_option_context_parse (ctx, argc, argv, error))
    return FALSE;
  if (*argc > 1) {
    g_set_error (error, OMNI_ERROR, OMNI_ERROR_INVALID, "unexpected argument \"%s\"", (*argv)[1]);
    return FALSE;
  }
  return check_args (a, error);
}

/* ---- the model under test ---- */

/* The snapshot: -m DIR, or the random snapshot of --random-from made once in
 * the cache dir (named by the config's contents, so an edited config makes a
 * new one). */
static char *
snapshot_dir (const BenchArgs *a, GError **error)
{
  g_autofree char *text = NULL;
  gsize len;

  if (a->model)
    return g_strdup (a->model);
  if (!g_file_get_contents (a->random_from, &text, &len, error))
    return NULL;
  g_autofree char *sum = g_compute_checksum_for_data (G_CHECKSUM_SHA256, (const guchar *) text, len);
  g_autofree char *base = g_path_get_basename (a->random_from);
  char *dot = strrchr (base, '.');
  if (dot)
    *dot = '\0';
  g_autofree char *name = g_strdup_printf ("%s-%.12s", base, sum);
  char *dir = a->cache_dir ? g_build_filename (a->cache_dir, name, NULL)
                           : g_build_filename (g_get_user_cache_dir (), "gst-omni", "random", name, NULL);
  g_autofree char *weights = g_build_filename (dir, "model.safetensors", NULL);
  if (g_file_test (weights, G_FILE_TEST_IS_REGULAR))
    return dir;
  fprintf (stderr, "omni: writing a random snapshot of %s to %s\n", a->random_from, dir);
  if (!omni_cli_random_snapshot (a->random_from, dir, a->tokenizer, OMNI_DTYPE_BF16, 0, error)) {
    g_free (dir);
    return NULL;
  }
  return dir;
}

/* The backend with @threads threads storing weights as @quant. */
static OmniBackend *
open_backend (const BenchArgs *a, int threads, OmniQuant quant, GError **error)
{
  OmniBackend *b = omni_backend_open_threads (a->device ? a->device : "cpu", threads, error);

  if (b && !omni_backend_set_quant (b, quant, error))
    g_clear_pointer (&b, omni_backend_close);
  return b;
}

static int
max_of (const GArray *v)
{
  int m = 0;

  for (guint i = 0; i < v->len; i++)
    m = MAX (m, g_array_index (v, int, i));
  return m;
}

/* A state for one sequence of every test's length, its positions reserved. */
static OmniModelState *
make_state (OmniModel *m, const BenchArgs *a, GError **error)
{
  OmniStateOptions o = { 0 };
  int longest = MAX (max_of (a->prompts), a->n_gen);

  o.max_context = max_of (a->depths) + longest + 1;
  o.max_batch_tokens = MAX (max_of (a->prompts), 1);
  o.max_logit_rows = 1;
  OmniModelState *st = omni_model_state_new (m, &o, error);
  if (!st)
    return NULL;
  OmniKVPages *pages = omni_model_state_pages (st);
  int seq = omni_kv_pages_open (pages);
  if (seq != 0 || !omni_kv_pages_reserve (pages, seq, o.max_context, error)) {
    if (seq != 0)
      g_set_error (error, OMNI_ERROR, OMNI_ERROR_INVALID, "bench: no sequence slot");
    omni_model_state_free (st);
    return NULL;
  }
  return st;
}

/* Scratch for the forward calls, allocated once per model. */
typedef struct {
  int32_t *tokens, *pos, *seq;
  float *logits;
  int vocab;
} BenchIO;

/* Runs @n tokens at positions @at.. in batches of at most @max_batch (only
 * the last token's logits). */
static gboolean
run_tokens (OmniModel *m, OmniModelState *st, BenchIO *io, int at, int n, int max_batch,
            GError **error)
{
  for (int done = 0; done < n; done += max_batch) {
    int k = MIN (max_batch, n - done), last = k - 1;
    OmniBatch batch;
    for (int i = 0; i < k; i++) {
      io->pos[i] = at + done + i;
      io->seq[i] = 0;
      io->tokens[i] = (int32_t) ((guint32) (io->pos[i] * 2654435761u) % (guint32) io->vocab);
    }
    omni_model_state_batch (st, &batch, k, io->pos, io->seq);
    if (!omni_model_forward (m, st, &batch, io->tokens, &last, 1, io->logits, error))
      return FALSE;
  }
  return TRUE;
}

/* Seconds of one test: a prefill of @n_prompt tokens in one batch, or
 * @n_gen single-token decode steps, after @depth tokens of context. */
static gboolean
time_test (OmniModel *m, OmniModelState *st, BenchIO *io, int n_prompt, int n_gen, int depth,
           double *secs, GError **error)
{
  gint64 t0 = g_get_monotonic_time ();
  gboolean ok = n_prompt > 0 ? run_tokens (m, st, io, depth, n_prompt, n_prompt, error)
                             : run_tokens (m, st, io, depth, n_gen, 1, error);

  *secs = (g_get_monotonic_time () - t0) / 1e6;
  return ok;
}

static void
mean_sd (const double *x, int n, double *mean, double *sd)
{
  double s = 0, v = 0;

  for (int i = 0; i < n; i++)
    s += x[i];
  *mean = s / n;
  for (int i = 0; i < n; i++)
    v += (x[i] - *mean) * (x[i] - *mean);
  *sd = n > 1 ? sqrt (v / (n - 1)) : 0;
}

/* Repeats one test and appends its row. */
static gboolean
bench_test (OmniModel *m, OmniModelState *st, BenchIO *io, const BenchArgs *a, BenchRow *proto,
            GArray *rows, GError **error)
{
  g_autofree double *tps = g_new (double, a->reps);
  int n = proto->n_prompt > 0 ? proto->n_prompt : proto->n_gen;

  for (int r = 0; r < a->reps; r++) {
    double secs;
    if (!time_test (m, st, io, proto->n_prompt, proto->n_gen, proto->depth, &secs, error))
      return FALSE;
    tps[r] = n / MAX (secs, 1e-9);
  }
  mean_sd (tps, a->reps, &proto->mean, &proto->sd);
  g_array_append_val (rows, *proto);
  return TRUE;
}

/* Every test at every depth; the context before each depth is filled once
 * (untimed): tests overwrite the positions after it. */
static gboolean
bench_depths (OmniModel *m, OmniModelState *st, BenchIO *io, const BenchArgs *a, BenchRow *proto,
              GArray *rows, GError **error)
{
  int max_batch = omni_model_state_options (st)->max_batch_tokens, filled = 0;

  for (guint di = 0; di < a->depths->len; di++) {
    int d = g_array_index (a->depths, int, di);
    if (d > filled && !run_tokens (m, st, io, filled, d - filled, max_batch, error))
      return FALSE;
    filled = MAX (filled, d);
    proto->depth = d;
    proto->n_gen = 0;
    for (guint pi = 0; pi < a->prompts->len; pi++) {
      proto->n_prompt = g_array_index (a->prompts, int, pi);
      if (proto->n_prompt > 0 && !bench_test (m, st, io, a, proto, rows, error))
        return FALSE;
    }
    proto->n_prompt = 0;
    proto->n_gen = a->n_gen;
    if (a->n_gen > 0) {
      double before = omni_cli_read_bandwidth (proto->threads);
      if (!bench_test (m, st, io, a, proto, rows, error))
        return FALSE;
      g_array_index (rows, BenchRow, rows->len - 1).bandwidth =
          (before + omni_cli_read_bandwidth (proto->threads)) / 2;
    }
  }
  return TRUE;
}

/* ---- the limits ---- */

#define PEAK_ROWS 512
#define PEAK_OUT 512
#define PEAK_IN 1024
#define PEAK_REPEAT 4
#define PEAK_RUNS 5

/* The dtype the snapshot stores its weights in (the peak weight is written
 * the same way, so quant none measures the same kernel). */
static OmniDType
stored_dtype (const char *dir)
{
  g_autoptr (GError) error = NULL;
  OmniSafetensors *st = omni_safetensors_open_dir (dir, &error);
  OmniDType t = OMNI_DTYPE_F32;

  for (guint i = 0; st && i < omni_safetensors_count (st); i++) {
    const OmniSafeTensor *s = omni_safetensors_nth (st, i);
    if (s->n_dims == 2) {
      t = s->dtype;
      break;
    }
  }
  g_clear_pointer (&st, omni_safetensors_free);
  return t == OMNI_DTYPE_BF16 ? t : OMNI_DTYPE_F32;
}

/* @n floats of a fixed pattern in [-1, 1), stored as @dtype (F32 or BF16). */
static void *
pattern (OmniDType dtype, size_t n, float scale)
{
  float *x = g_new (float, n);

  for (size_t i = 0; i < n; i++)
    x[i] = ((float) ((i * 7919u) % 2001u) / 1000.0f - 1.0f) * scale;
  if (dtype == OMNI_DTYPE_F32)
    return x;
  guint16 *h = g_new (guint16, n);
  for (size_t i = 0; i < n; i++)
    h[i] = omni_f32_to_bf16 (x[i]);
  g_free (x);
  return h;
}

/* Best GFLOP/s of the backend's matmul y[512, 512] = x[512, 1024] . w^T on a
 * weight loaded (and quantized) the way the model's are, through a weight
 * store of the snapshot @dir (never finished: nothing is cached): one small
 * weight, so it stays in the caches and the kernels' arithmetic is what is
 * measured. */
static gboolean
measure_peak (OmniBackend *b, const char *dir, OmniDType dtype, double *gflops, GError **error)
{
  int64_t ws[2] = { PEAK_OUT, PEAK_IN }, xs[2] = { PEAK_ROWS, PEAK_IN }, ys[2] = { PEAK_ROWS, PEAK_OUT };
  g_autofree void *wdata = pattern (dtype, PEAK_OUT * PEAK_IN, 0.02f);
  g_autofree float *host = pattern (OMNI_DTYPE_F32, PEAK_ROWS * PEAK_IN, 1.0f);
  OmniWeightStore *store = omni_weight_store_new (b, dir, "bench-peak");
  OmniTensor w = { 0 }, x = { 0 }, y = { 0 };
  gboolean ok = FALSE;

  if (!omni_weight_store_load_host (store, "w", dtype, wdata, 2, ws, TRUE, &w, error)
      || !b->ops->tensor_alloc (b, &x, OMNI_DTYPE_F32, 2, xs, error)
      || !b->ops->tensor_alloc (b, &y, OMNI_DTYPE_F32, 2, ys, error))
    goto out;
  b->ops->upload (b, &x, host, x.n_bytes);
  b->ops->matmul (b, &y, &x, &w, NULL);   /* warm-up */
  b->ops->synchronize (b);
  double best = G_MAXDOUBLE;
  for (int r = 0; r < PEAK_RUNS; r++) {
    gint64 t0 = g_get_monotonic_time ();
    for (int k = 0; k < PEAK_REPEAT; k++)
      b->ops->matmul (b, &y, &x, &w, NULL);
    b->ops->synchronize (b);
    best = MIN (best, (g_get_monotonic_time () - t0) / 1e6);
  }
  *gflops = 2.0 * PEAK_ROWS * PEAK_OUT * PEAK_IN * PEAK_REPEAT / best / 1e9;
  ok = TRUE;
out:
  if (y.data)
    b->ops->tensor_free (b, &y);
  if (x.data)
    b->ops->tensor_free (b, &x);
  if (w.data)
    b->ops->tensor_free (b, &w);
  omni_weight_store_free (store);
  return ok;
}

/* Fills in each row's limit: tg rows against the bandwidth ceiling (weights
 * plus the KV cache at the mean context of the run), pp rows against the
 * peak (prefill GFLOP/s = 2 x matmul params x tokens/s). */
static void
apply_limits (const BenchModel *bm, BenchRow *rows, guint n)
{
  for (guint i = 0; i < n; i++) {
    BenchRow *r = &rows[i];
    if (r->n_gen > 0) {
      double ctx = r->depth + (r->n_gen + 1) / 2.0;
      double bytes = bm->ws.decode_bytes + ctx * bm->kv_bytes_per_token;
      r->limit = r->bandwidth / bytes;
      r->share = 100.0 * r->mean / r->limit;
    } else {
      r->limit = bm->peak;
      r->share = 100.0 * 2.0 * bm->ws.matmul_params * r->mean / 1e9 / bm->peak;
    }
  }
}

/* ---- one (quant, threads) model ---- */

static gboolean
bench_model (const BenchArgs *a, const char *dir, BenchRow *proto, BenchModel *bm, GArray *rows,
             GError **error)
{
  OmniBackend *b = open_backend (a, proto->threads, proto->quant, error);
  gint64 t0 = g_get_monotonic_time ();
  OmniModel *m = b ? omni_model_load (dir, b, error) : NULL;
  OmniModelState *st = m ? make_state (m, a, error) : NULL;
  gboolean ok = FALSE;
  guint first = rows->len;

  if (!st)
    goto out;
  fprintf (stderr, "omni: %s loaded at quant %s in %.1f s; measuring with %d threads\n", dir,
           omni_quant_name (proto->quant), (g_get_monotonic_time () - t0) / 1e6, proto->threads);
  const OmniTextConfig *c = omni_model_config (m);
  int max_batch = omni_model_state_options (st)->max_batch_tokens;
  BenchIO io = { g_new (int32_t, max_batch), g_new (int32_t, max_batch), g_new (int32_t, max_batch),
                 g_new (float, c->vocab_size), c->vocab_size };
  omni_model_weight_stats (m, &bm->ws);
  bm->kv_bytes_per_token = (size_t) 2 * c->num_hidden_layers * c->num_key_value_heads
                           * c->head_dim * sizeof (float);
  /* warm-up: one prefill of the largest size and a few decode steps */
  ok = run_tokens (m, st, &io, 0, MAX (max_of (a->prompts), 1), max_batch, error)
       && run_tokens (m, st, &io, 0, MIN (MAX (a->n_gen, 1), 4), 1, error)
       && bench_depths (m, st, &io, a, proto, rows, error)
       && measure_peak (b, dir, stored_dtype (dir), &bm->peak, error);
  g_free (io.tokens);
  g_free (io.pos);
  g_free (io.seq);
  g_free (io.logits);
  if (ok) {
    apply_limits (bm, &g_array_index (rows, BenchRow, first), rows->len - first);
  }
out:
  g_clear_pointer (&st, omni_model_state_free);
  g_clear_pointer (&m, omni_model_free);
  g_clear_pointer (&b, omni_backend_close);
  return ok;
}

/* ---- output ---- */

/* What every row of one model shares in the table. */
typedef struct {
  const char *name, *backend;
  const BenchModel *bm;
} BenchHead;

static char *
test_name (const BenchRow *r)
{
  g_autofree char *base = r->n_prompt > 0 ? g_strdup_printf ("pp%d", r->n_prompt)
                                          : g_strdup_printf ("tg%d", r->n_gen);

  return r->depth > 0 ? g_strdup_printf ("%s @ d%d", base, r->depth) : g_strdup (base);
}

static void
print_rows (const BenchHead *h, const BenchRow *rows, guint n)
{
  double gib = h->bm->ws.bytes / (1024.0 * 1024.0 * 1024.0);
  double mparams = h->bm->ws.params / 1e6;

  for (guint i = 0; i < n; i++) {
    g_autofree char *test = test_name (&rows[i]);
    printf ("| %s | %.2f GiB | %.2f M | %s | %d | %s | %s | %.2f ± %.2f |\n", h->name, gib,
            mparams, h->backend, rows[i].threads, omni_quant_name (rows[i].quant), test,
            rows[i].mean, rows[i].sd);
  }
}

/* The limits below the table: what each test reached of them. */
static void
print_limits (const BenchHead *h, const BenchRow *rows, guint n)
{
  const BenchModel *bm = h->bm;
  const double gib = 1024.0 * 1024.0 * 1024.0;

  if (n == 0)
    return;
  printf ("\n%s, %s, %d threads:\n", h->name, omni_quant_name (rows[0].quant), rows[0].threads);
  printf ("  decode ceiling = bytes read per token / read bandwidth: weights %.3f GiB "
          "+ KV %.1f KiB per context token; bandwidth: %d threads streaming %zu MiB, best of 7, "
          "right before and after each decode test (mean of the two)\n",
          bm->ws.decode_bytes / gib, bm->kv_bytes_per_token / 1024.0, rows[0].threads,
          omni_cli_read_bandwidth_bytes () >> 20);
  printf ("  prefill peak = matmul x[%d, %d] . w[%d, %d]^T at this quant: %.1f GFLOP/s; "
          "a prefill token is 2 x %.3f M matmul params\n", PEAK_ROWS, PEAK_IN, PEAK_OUT, PEAK_IN,
          bm->peak, bm->ws.matmul_params / 1e6);
  for (guint i = 0; i < n; i++) {
    g_autofree char *test = test_name (&rows[i]);
    if (rows[i].n_gen > 0)
      printf ("  %-14s %8.2f t/s = %5.1f %% of the ceiling %.2f t/s (%.1f GB/s)\n", test,
              rows[i].mean, rows[i].share, rows[i].limit, rows[i].bandwidth / 1e9);
    else
      printf ("  %-14s %8.1f GFLOP/s = %5.1f %% of the peak %.1f GFLOP/s\n", test,
              2.0 * bm->ws.matmul_params * rows[i].mean / 1e9, rows[i].share, rows[i].limit);
  }
}

static void
json_row (JsonBuilder *jb, const BenchHead *h, const BenchRow *r)
{
  const BenchModel *bm = h->bm;

  json_builder_begin_object (jb);
#define MEMBER(name, kind, value) \
  (json_builder_set_member_name (jb, name), json_builder_add_##kind##_value (jb, value))
  MEMBER ("model", string, h->name);
  MEMBER ("model_size", int, (gint64) bm->ws.bytes);
  MEMBER ("model_n_params", int, bm->ws.params);
  MEMBER ("backend", string, h->backend);
  MEMBER ("n_threads", int, r->threads);
  MEMBER ("quant", string, omni_quant_name (r->quant));
  MEMBER ("n_prompt", int, r->n_prompt);
  MEMBER ("n_gen", int, r->n_gen);
  MEMBER ("n_depth", int, r->depth);
  MEMBER ("avg_ts", double, r->mean);
  MEMBER ("stddev_ts", double, r->sd);
  if (r->n_gen > 0) {
    MEMBER ("decode_bytes_per_token", int, (gint64) bm->ws.decode_bytes);
    MEMBER ("kv_bytes_per_context_token", int, (gint64) bm->kv_bytes_per_token);
    MEMBER ("read_bandwidth_bytes_per_s", double, r->bandwidth);
    MEMBER ("ceiling_ts", double, r->limit);
    MEMBER ("percent_of_ceiling", double, r->share);
  } else {
    MEMBER ("matmul_params", int, bm->ws.matmul_params);
    MEMBER ("gflops", double, 2.0 * bm->ws.matmul_params * r->mean / 1e9);
    MEMBER ("peak_gflops", double, r->limit);
    MEMBER ("percent_of_peak", double, r->share);
  }
#undef MEMBER
  json_builder_end_object (jb);
}

/* ---- the command ---- */

static char *
model_name (const BenchArgs *a)
{
  g_autofree char *base = g_path_get_basename (a->model ? a->model : a->random_from);
  char *dot = a->model ? NULL : strrchr (base, '.');

  if (dot)
    *dot = '\0';
  return a->model ? g_strdup (base) : g_strdup_printf ("%s (random)", base);
}

static int
run_bench (const BenchArgs *a)
{
  GError *error = NULL;
  g_autofree char *dir = snapshot_dir (a, &error);
  g_autofree char *name = model_name (a);
  guint n_models = a->quants->len * a->threads->len;
  g_autofree BenchModel *models = g_new0 (BenchModel, n_models);
  g_autoptr (GArray) rows = g_array_new (FALSE, TRUE, sizeof (BenchRow));
  g_autofree guint *first = g_new0 (guint, n_models + 1);
  const char *backend = a->device ? a->device : "cpu";

  if (!dir)
    return omni_cli_fail (error);
  for (guint qi = 0, k = 0; qi < a->quants->len; qi++) {
    for (guint ti = 0; ti < a->threads->len; ti++, k++) {
      BenchRow proto = { .quant = g_array_index (a->quants, OmniQuant, qi),
                         .threads = g_array_index (a->threads, int, ti) };
      first[k] = rows->len;
      if (!bench_model (a, dir, &proto, &models[k], rows, &error))
        return omni_cli_fail (error);
    }
  }
  first[n_models] = rows->len;
  if (a->json) {
    g_autoptr (JsonBuilder) jb = json_builder_new ();
    json_builder_begin_array (jb);
    for (guint k = 0; k < n_models; k++) {
      BenchHead h = { name, backend, &models[k] };
      for (guint i = first[k]; i < first[k + 1]; i++)
        json_row (jb, &h, &g_array_index (rows, BenchRow, i));
    }
    json_builder_end_array (jb);
    g_autoptr (JsonNode) root = json_builder_get_root (jb);
    g_autofree char *s = json_to_string (root, TRUE);
    printf ("%s\n", s);
    return 0;
  }
  printf ("| model | size | params | backend | threads | quant | test | t/s |\n"
          "| --- | ---: | ---: | --- | ---: | --- | ---: | ---: |\n");
  for (guint k = 0; k < n_models; k++) {
    BenchHead h = { name, backend, &models[k] };
    print_rows (&h, &g_array_index (rows, BenchRow, first[k]), first[k + 1] - first[k]);
  }
  for (guint k = 0; k < n_models; k++) {
    BenchHead h = { name, backend, &models[k] };
    print_limits (&h, &g_array_index (rows, BenchRow, first[k]), first[k + 1] - first[k]);
  }
  return 0;
}

int
omni_cli_bench (int argc, char **argv)
{
  BenchArgs a = { .n_gen = 128, .reps = 3 };
  GError *error = NULL;
  int status;

  a.quants = g_array_new (FALSE, FALSE, sizeof (OmniQuant));
  a.threads = g_array_new (FALSE, FALSE, sizeof (int));
  a.prompts = g_array_new (FALSE, FALSE, sizeof (int));
  a.depths = g_array_new (FALSE, FALSE, sizeof (int));
  if (parse_args (&argc, &argv, &a, &error))
    status = run_bench (&a);
  else
    status = omni_cli_fail (error);
  char *strings[] = { a.model, a.random_from, a.cache_dir, a.tokenizer, a.device, a.output,
                      a.quant_s, a.threads_s, a.prompt_s, a.depth_s };
  for (gsize i = 0; i < G_N_ELEMENTS (strings); i++)
    g_free (strings[i]);
  g_array_free (a.quants, TRUE);
  g_array_free (a.threads, TRUE);
  g_array_free (a.prompts, TRUE);
  g_array_free (a.depths, TRUE);
  return status;
}
