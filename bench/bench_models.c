/* Model throughput for bench/README.md: training steps (encode, LM loss,
 * backward, AdamW) and inference (encode) in tokens/s, and peak RSS, for
 * official HyenaDNA and Caduceus shapes at batch 8 x 1024 tokens; the
 * PyTorch twins (bench/hyenadna_torch.py, bench/caduceus_torch.py) run the
 * same configs. `bench_models sweep PRESET L` times one inference-only
 * encode of a single sequence of L tokens (the embed length sweep; one
 * process per length, so peak RSS is that length's). `bench_models PRESET
 * [CKPT]` runs one preset, on trained weights when CKPT is given. */
#include "core/rng.h"
#include "heads.h"
#include "model.h"
#include "nn/optim.h"
#include "presets.h"
#include "core/error.h"
#include "core/progress.h"

#include <math.h>
#include "core/threads.h"

#include <cblas.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static ds_model *make(const char *preset, const char *ckpt)
{
    char *json = NULL;
    ds_model *m = NULL;
    if (ckpt) {
        if (ds_model_load(&m, ckpt)) { fprintf(stderr, "bench: %s\n", ds_errmsg()); return NULL; }
        return m;
    }
    if (ds_preset_config_json(preset, "derf", NAN, &json) || ds_model_from_json(&m, json)) return NULL;
    free(json);
    m->vt->init_weights(m, 1);
    return m;
}

/* Multiply-adds per token of the token-wise products: every 2-D weight but
 * the embedding table (a gather; the tied LM head's 16 rows are left out
 * too) and HyenaDNA's implicit filter, which runs once per position, not
 * per token of the batch. */
static double macs_per_token(const ds_model *m, int *d, int *di)
{
    double macs = 0;
    *d = *di = 0;
    for (int i = 0; i < m->params.n; i++) {
        const ds_param *p = &m->params.p[i];
        if (p->ndim != 2 || p->alias_of >= 0 || !strstr(p->name, ".weight") || strstr(p->name, "embeddings") ||
            strstr(p->name, "implicit_filter"))
            continue;
        macs += (double)p->numel;
        if (strstr(p->name, "fc1.weight")) { *di = (int)p->shape[0]; *d = (int)p->shape[1]; }
    }
    return macs;
}

/* GF/s of one bare multithreaded cblas_sgemm, rows x d -> di (the MLP's
 * fc1), best of 3: what the model's products are measured against. */
static double bare_sgemm_gfs(int rows, int d, int di)
{
    float *A = calloc((size_t)rows * d, sizeof(float)), *W = calloc((size_t)di * d, sizeof(float)),
          *C = malloc(sizeof(float) * rows * di);
    for (size_t i = 0; i < (size_t)rows * d; i++) A[i] = (float)(i % 13) * 0.01f;
    for (size_t i = 0; i < (size_t)di * d; i++) W[i] = (float)(i % 7) * 0.01f;
    double best = 1e30;
    for (int r = 0; r < 4; r++) {   /* the first warms up */
        double t0 = ds_realtime();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, di, d, 1.0f, A, d, W, d, 0.0f, C, di);
        double t = ds_realtime() - t0;
        if (r && t < best) best = t;
    }
    free(A); free(W); free(C);
    return 2.0 * rows * d * di / best * 1e-9;
}

static int bench(const char *preset, const char *ckpt, int B, int L, int train_steps, int infer_steps)
{
    ds_model *m = make(preset, ckpt);
    if (!m) return 1;
    ds_lm_head head = {0};
    if (m->vt->reserve(m, B, L) || ds_lm_head_reserve(&head, m, B, L)) return 1;
    int32_t *ids = malloc(sizeof(int32_t) * (size_t)B * (L + 1)), *inp = malloc(sizeof(int32_t) * (size_t)B * L),
            *tgt = malloc(sizeof(int32_t) * (size_t)B * L);
    ds_rng r;
    ds_rng_init(&r, 1, 1);
    for (int i = 0; i < B * (L + 1); i++) ids[i] = 7 + (int)ds_rng_below(&r, 4);
    for (int b = 0; b < B; b++)
        for (int t = 0; t < L; t++) {
            inp[b * L + t] = ids[b * (L + 1) + t];
            tgt[b * L + t] = ids[b * (L + 1) + t + 1];
        }
    if (m->vt->masked_lm)   /* MLM: 15% of the positions scored, those inputs [MASK] */
        for (int i = 0; i < B * L; i++) {
            int sel = ds_rng_uniform(&r) < 0.15f;
            tgt[i] = sel ? inp[i] : -100;
            if (sel) inp[i] = 3;
        }
    ds_adamw opt;
    ds_adamw_init(&opt, &m->params, DS_ADAMW_DEFAULTS);
    double t0 = 0, loss = 0;
    for (int s = 0; s <= train_steps; s++) {   /* step 0 warms up */
        if (s == 1) t0 = ds_realtime();
        m->vt->encode(m, inp, B, L, 1, 1, (uint64_t)s);
        loss = ds_lm_head_loss(&head, m, tgt, -100);
        ds_params_zero_grad(&m->params);
        ds_lm_head_backward(&head, m, 1.0f);
        ds_grad_clip(&m->params, 1.0f);
        ds_adamw_step(&opt, &m->params, 6e-4f);
    }
    double train_tps = (double)B * L * train_steps / (ds_realtime() - t0);
    m->vt->encode(m, inp, B, L, 0, 0, 0);
    t0 = ds_realtime();
    for (int s = 0; s < infer_steps; s++) m->vt->encode(m, inp, B, L, 0, 0, 0);
    double infer_tps = (double)B * L * infer_steps / (ds_realtime() - t0);
    printf("derfseq %-20s B%d x %d  train %8.0f tok/s  infer %8.0f tok/s  peak RSS %.2f GB  (loss %.3f%s)\n", preset,
           B, L, train_tps, infer_tps, ds_peak_rss_gb(), loss, ckpt ? ", trained weights" : "");
    int d, di;
    double macs = macs_per_token(m, &d, &di);
    if (d > 0) {   /* the products' speed against a bare sgemm's, measured in the same run */
        double sg = bare_sgemm_gfs(B * L, d, di);
        printf("products %-20s %.2f MFLOP/token fwd (x3 to train): training %.1f GF/s, inference %.1f GF/s = %.0f%% / %.0f%% "
               "of a bare sgemm %dx%d->%d (%.1f GF/s)\n", preset, 2 * macs * 1e-6, 6 * macs * train_tps * 1e-9,
               2 * macs * infer_tps * 1e-9, 100 * 6 * macs * train_tps * 1e-9 / sg, 100 * 2 * macs * infer_tps * 1e-9 / sg,
               B * L, d, di, sg);
    }
    fflush(stdout);
    ds_adamw_free(&opt);
    ds_lm_head_free(&head);
    ds_model_free(m);
    free(ids); free(inp); free(tgt);
    return 0;
}

/* One inference-only encode of 1 x L tokens: seconds and peak RSS. */
static int sweep(const char *preset, int L)
{
    ds_model *m = make(preset, NULL);
    if (!m) return 1;
    m->eval_only = 1;
    int32_t *ids = malloc(sizeof(int32_t) * (size_t)L);
    ds_rng r;
    ds_rng_init(&r, 1, 1);
    for (int i = 0; i < L; i++) ids[i] = 7 + (int)ds_rng_below(&r, 4);
    if (m->vt->reserve(m, 1, L)) { fprintf(stderr, "bench: %s\n", ds_errmsg()); return 1; }
    double t0 = ds_realtime();
    m->vt->encode(m, ids, 1, L, 0, 0, 0);
    double s = ds_realtime() - t0;
    printf("derfseq sweep %-16s L %7d  %8.3f s  %9.0f tok/s  peak RSS %.3f GB\n", preset, L, s, L / s, ds_peak_rss_gb());
    ds_model_free(m);
    free(ids);
    return 0;
}

int main(int argc, char **argv)
{
    /* as every derfseq command does; BENCH_KEEP_DENORMALS=1 leaves MXCSR as the
     * C runtime set it, to measure what the flush saves on trained weights */
    ds_threads_short_spin(argv);
    const char *keep = getenv("BENCH_KEEP_DENORMALS");
    int flush = !(keep && *keep && strcmp(keep, "0"));
    if (flush) ds_threads_flush_denormals();
    if (argc == 4 && !strcmp(argv[1], "sweep")) return sweep(argv[2], atoi(argv[3]));
    const char *only = argc > 1 ? argv[1] : NULL, *ckpt = argc > 2 ? argv[2] : NULL;
    printf("threads %d%s\n", omp_get_max_threads(), flush ? "" : ", denormals kept (BENCH_KEEP_DENORMALS)");
    static const struct { const char *preset; int train, infer; } runs[] = {
        { "hyenadna-tiny-1k", 5, 10 }, { "hyenadna-small-32k", 3, 5 }, { "caduceus-ps-1k", 3, 5 }, { "caduceus-ph-1k", 3, 5 },
    };
    /* BENCH_TRAIN_STEPS / BENCH_INFER_STEPS override the step counts (longer
     * runs for perf: `BENCH_INFER_STEPS=1 BENCH_TRAIN_STEPS=30 perf record ...`) */
    const char *ts = getenv("BENCH_TRAIN_STEPS"), *is = getenv("BENCH_INFER_STEPS");
    for (size_t i = 0; i < sizeof runs / sizeof runs[0]; i++)
        if (!only || !strcmp(only, runs[i].preset))
            bench(runs[i].preset, ckpt, 8, 1024, ts && atoi(ts) > 0 ? atoi(ts) : runs[i].train,
                  is && atoi(is) > 0 ? atoi(is) : runs[i].infer);
    return 0;
}
