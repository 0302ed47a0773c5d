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
    for (size_t i = 0; i < sizeof runs / sizeof runs[0]; i++)
        if (!only || !strcmp(only, runs[i].preset)) bench(runs[i].preset, ckpt, 8, 1024, runs[i].train, runs[i].infer);
    return 0;
}
