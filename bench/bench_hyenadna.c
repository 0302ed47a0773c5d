/* HyenaDNA throughput for bench/README.md: training steps (encode, tied LM
 * loss, backward, AdamW) and inference (encode) in tokens/s, and peak RSS,
 * for the official tiny and small shapes at batch 8 x 1024 tokens. The
 * PyTorch twin (bench/hyenadna_torch.py) runs the same configs. */
#include "core/rng.h"
#include "heads.h"
#include "model.h"
#include "nn/optim.h"
#include "presets.h"

#include <math.h>
#include "core/threads.h"

#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static double peak_rss_gb(void)
{
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return u.ru_maxrss / 1048576.0;
}

static int bench(const char *preset, int B, int L, int train_steps, int infer_steps)
{
    char *json = NULL;
    ds_model *m = NULL;
    if (ds_preset_config_json(preset, "derf", NAN, &json) || ds_model_from_json(&m, json)) return 1;
    free(json);
    m->vt->init_weights(m, 1);
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
    ds_adamw opt;
    ds_adamw_init(&opt, &m->params, DS_ADAMW_DEFAULTS);
    double t0 = 0, loss = 0;
    for (int s = 0; s <= train_steps; s++) {   /* step 0 warms up */
        if (s == 1) t0 = now();
        m->vt->encode(m, inp, B, L, 1, 1, (uint64_t)s);
        loss = ds_lm_head_loss(&head, m, tgt, -100);
        ds_params_zero_grad(&m->params);
        ds_lm_head_backward(&head, m, 1.0f);
        ds_grad_clip(&m->params, 1.0f);
        ds_adamw_step(&opt, &m->params, 6e-4f);
    }
    double train_tps = (double)B * L * train_steps / (now() - t0);
    m->vt->encode(m, inp, B, L, 0, 0, 0);
    t0 = now();
    for (int s = 0; s < infer_steps; s++) m->vt->encode(m, inp, B, L, 0, 0, 0);
    double infer_tps = (double)B * L * infer_steps / (now() - t0);
    printf("derfseq %-20s B%d x %d  train %8.0f tok/s  infer %8.0f tok/s  peak RSS %.2f GB  (loss %.3f)\n", preset, B,
           L, train_tps, infer_tps, peak_rss_gb(), loss);
    fflush(stdout);
    ds_adamw_free(&opt);
    ds_lm_head_free(&head);
    ds_model_free(m);
    free(ids); free(inp); free(tgt);
    return 0;
}

int main(int argc, char **argv)
{
    const char *only = argc > 1 ? argv[1] : NULL;
    ds_threads_flush_denormals();   /* as every derfseq command does */
    printf("threads %d\n", omp_get_max_threads());
    if (!only || strstr("hyenadna-tiny-1k", only)) bench("hyenadna-tiny-1k", 8, 1024, 5, 10);
    if (!only || strstr("hyenadna-small-32k", only)) bench("hyenadna-small-32k", 8, 1024, 3, 5);
    return 0;
}
