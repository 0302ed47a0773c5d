/* wav2vec2 speed and memory for bench/README.md (issue 11): inference on
 * 10 s of audio (B 1, inference layout, median of a few encodes after one
 * warm-up) as seconds and as the realtime factor, and fairseq-like
 * pretraining steps (B 2 x 5 s crops: span mask, negatives and Gumbel noise,
 * encode with dropout, contrastive + diversity + feature-penalty loss,
 * backward, clipping, AdamW) as audio seconds per second, with the peak RSS
 * of each. Every measurement runs in its own child process, so the RSS it
 * prints is its own (the inference layout is much smaller than training's).
 * CTC fine-tuning (issue 12) is measured the same way: a step of
 * cmd/finetune_ctc.c's train_step (the config of finetune --task ctc --from:
 * CTC head, feature encoder frozen, time and channel masks, encode with
 * dropout, logits, per-utterance CTC loss on random characters, backward
 * scaled 1/B, the gradient norm, Adam) on B 2 x 5 s as audio seconds per
 * second, and CTC inference (encode, logits, greedy decode of 10 s) as the
 * realtime factor. bench/wav2vec2_torch.py runs the same configs (from
 * `bench_wav2vec2 config|config-ctc PRESET`) on the PyTorch twin;
 * bench/run.sh pairs the lines.
 *
 *   bench_wav2vec2                      every preset, every measurement
 *   bench_wav2vec2 PRESET [CKPT]        one preset, or the model of checkpoint CKPT
 *                                       (trained weights; PRESET then sets the run counts)
 *   bench_wav2vec2 infer|train|ctc-infer|ctc PRESET [CKPT]   one measurement, this process
 *   bench_wav2vec2 config|config-ctc PRESET   the config JSON the bench runs
 *   bench_wav2vec2 config-ctc PRESET CKPT     ... its CTC rows run on checkpoint CKPT
 *
 * A checkpoint may be pretrained or CTC: the CTC measurements put a fresh
 * lm_head on a pretrained one (as finetune --from does), and pretraining
 * steps are left out for a CTC one (it has no quantizer). LayerDrop is set
 * to 0 in the bench configs so every step runs every layer (the PyTorch
 * twin has no LayerDrop); dropout stays as in the preset (pretraining) or
 * as finetune --task ctc sets it (activation dropout 0.1 only). */
#include "core/error.h"
#include "core/progress.h"
#include "core/rng.h"
#include "core/threads.h"
#include "io/checkpoint.h"
#include "io/spanmask.h"
#include "model.h"
#include "nn/ops.h"
#include "nn/optim.h"
#include "presets.h"
#include "wav2vec2.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define INFER_SECONDS 10.0
#define TRAIN_B 2
#define TRAIN_SECONDS 5.0
#define CTC_CHARS_PER_S 15.0            /* LibriSpeech reads at ~15 characters a second */
#define CHANNEL_STREAM (1ull << 40)     /* the channel mask's step tag, as cmd/finetune_ctc.c */

typedef struct { const char *preset; int infer_runs, train_steps; } w2v_run;

static const w2v_run g_runs[] = {
    { "wav2vec2-base", 5, 2 },
    { "wav2vec2-tiny", 7, 3 },
};

/* The preset's config as benchmarked: LayerDrop 0 (see the header). */
static int bench_config(const char *preset, char **json)
{
    if (ds_preset_config_json(preset, NULL, NAN, json) || ds_config_set_real(json, "layerdrop", 0.0)) {
        fprintf(stderr, "bench_wav2vec2: %s\n", ds_errmsg());
        return 1;
    }
    return 0;
}

static ds_model *make(const char *preset, const char *ckpt)
{
    ds_model *m = NULL;
    char *json = NULL;
    if (ckpt) {
        if (ds_model_load(&m, ckpt)) { fprintf(stderr, "bench_wav2vec2: %s\n", ds_errmsg()); return NULL; }
    } else {
        if (bench_config(preset, &json)) return NULL;
        int e = ds_model_from_json(&m, json);
        free(json);
        if (e || m->vt->init_weights(m, 1)) { fprintf(stderr, "bench_wav2vec2: %s\n", ds_errmsg()); return NULL; }
    }
    if (!ds_w2v_is(m)) { fprintf(stderr, "bench_wav2vec2: not a wav2vec2 model\n"); ds_model_free(m); return NULL; }
    return m;
}

/* The config finetune --task ctc --from runs (ds_w2v_config_ctc_recipe:
 * fairseq's base_100h) with LayerDrop 0 (see the header). */
static int ctc_config(const char *preset, const char *ckpt, char **json)
{
    ds_w2v_config c;
    int e;
    *json = NULL;
    if (ckpt) {
        if (!(*json = ds_checkpoint_config(ckpt))) { fprintf(stderr, "bench_wav2vec2: %s\n", ds_errmsg()); return 1; }
    } else if (bench_config(preset, json)) {
        return 1;
    }
    e = ds_w2v_config_from_json(&c, *json);
    free(*json);
    *json = NULL;
    if (e) { fprintf(stderr, "bench_wav2vec2: %s: %s\n", ckpt ? ckpt : preset, ds_errmsg()); return 1; }
    ds_w2v_config_ctc_recipe(&c);   /* what finetune --task ctc --from makes of it */
    c.layerdrop = 0.0f;
    if (ds_w2v_config_to_json(&c, json)) { fprintf(stderr, "bench_wav2vec2: %s\n", ds_errmsg()); return 1; }
    return 0;
}

/* A CTC model of that config, fresh or with the weights of CKPT (a CTC
 * checkpoint's lm_head too when its vocabulary is the model's; a
 * pretrained one gets a fresh lm_head, as finetune --from), the feature
 * encoder marked non-trainable as finetune_ctc.c's set_trainable does. */
static ds_model *make_ctc(const char *preset, const char *ckpt)
{
    ds_model *m = NULL;
    char *json = NULL;
    if (ctc_config(preset, ckpt, &json)) return NULL;
    int e = ds_model_from_json(&m, json);
    free(json);
    if (!e) e = m->vt->init_weights(m, 1);
    if (!e && ckpt) {
        char *cj = ds_checkpoint_config(ckpt);
        ds_w2v_config from;
        int keep_head = cj && !ds_w2v_config_from_json(&from, cj) && from.ctc_head;
        free(cj);
        e = ds_checkpoint_load_except(ckpt, &m->params, 0, keep_head ? NULL : "lm_head.");
    }
    if (e) { fprintf(stderr, "bench_wav2vec2: %s\n", ds_errmsg()); ds_model_free(m); return NULL; }
    for (int i = 0; i < m->params.n; i++)
        if (strstr(m->params.p[i].name, "feature_extractor.")) m->params.p[i].trainable = 0;
    return m;
}

/* Speech-like test audio: three sines and a little noise, amplitude ~0.3. */
static float *make_audio(long n, uint64_t seed)
{
    float *x = malloc(sizeof(float) * (size_t)n);
    if (!x) return NULL;
    ds_rng r;
    ds_rng_init(&r, seed, 7);
    double f[3], ph[3];
    for (int k = 0; k < 3; k++) { f[k] = 100 + 900 * ds_rng_uniform(&r); ph[k] = 6.28 * ds_rng_uniform(&r); }
    for (long i = 0; i < n; i++) {
        double t = (double)i / DS_W2V_RATE, v = 0.05 * ds_rng_normal(&r);
        for (int k = 0; k < 3; k++) v += 0.1 * sin(2 * M_PI * f[k] * t + ph[k]);
        x[i] = (float)v;
    }
    return x;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static const char *label(const ds_model *m, const char *preset, const char *ckpt, char *buf, size_t n)
{
    snprintf(buf, n, "%s%s", ckpt ? ds_w2v_cfg(m)->preset : preset, ckpt ? "+ckpt" : "");
    return buf;
}

/* One warm-up encode of 1 x 10 s, then the median of `runs` more. */
static int bench_infer(const char *preset, const char *ckpt, int runs)
{
    ds_model *m = make(preset, ckpt);
    if (!m) return 1;
    long S = (long)(INFER_SECONDS * DS_W2V_RATE);
    float *x = make_audio(S, 1);
    m->eval_only = 1;
    if (!x || ds_w2v_reserve(m, 1, S)) { fprintf(stderr, "bench_wav2vec2: %s\n", ds_errmsg()); return 1; }
    const float *wave[1] = { x };
    double t[32];
    if (runs > 32) runs = 32;
    for (int s = 0; s <= runs; s++) {
        double t0 = ds_realtime();
        if (ds_w2v_encode(m, wave, &S, 1, NULL, 0, 0, 0)) { fprintf(stderr, "bench_wav2vec2: %s\n", ds_errmsg()); return 1; }
        if (s) t[s - 1] = ds_realtime() - t0;
    }
    qsort(t, (size_t)runs, sizeof t[0], cmp_double);
    double med = runs % 2 ? t[runs / 2] : 0.5 * (t[runs / 2 - 1] + t[runs / 2]);
    char name[96];
    printf("derfseq %-20s B1 x %.0f s  %7.3f s (median of %d, min %.3f)  infer %7.2f x realtime  peak RSS %.3f GB\n",
           label(m, preset, ckpt, name, sizeof name), INFER_SECONDS, med, runs, t[0], INFER_SECONDS / med,
           ds_peak_rss_gb());
    fflush(stdout);
    ds_model_free(m);
    free(x);
    return 0;
}

/* ds_w2v_draw of cmd/speech.c, which the bench cannot link: the mask,
 * negatives and Gumbel noise of one step. Returns M or < 0. */
static int draw(const ds_w2v_config *c, const int *lens, int B, int T, uint8_t *mask, int32_t *neg, float *gumbel,
                uint64_t step)
{
    if (ds_span_mask(mask, lens, B, T, c->mask_time_prob, c->mask_time_length, c->mask_time_min_masks, 1, step) < 0)
        return -1;
    int M = ds_sample_negatives(neg, mask, lens, B, T, c->num_negatives, 1, step);
    if (M < 2) return -1;
    ds_gumbel_noise(gumbel, (long)M * c->num_codevector_groups * c->num_codevectors_per_group, 1, step);
    return M;
}

/* One warm-up step on B 2 x 5 s, then `steps` timed ones; the draws of a
 * step are part of its time. */
static int bench_train(const char *preset, const char *ckpt, int steps)
{
    ds_model *m = make(preset, ckpt);
    if (!m) return 1;
    const ds_w2v_config *c = ds_w2v_cfg(m);
    if (!c->pretraining_head) {   /* a CTC checkpoint: no quantizer to pretrain */
        char name[96];
        printf("derfseq %-20s pretraining steps left out: %s has no pretraining head\n",
               label(m, preset, ckpt, name, sizeof name), ckpt);
        ds_model_free(m);
        return 0;
    }
    long S = (long)(TRAIN_SECONDS * DS_W2V_RATE), ns[TRAIN_B];
    const float *wave[TRAIN_B];
    float *x[TRAIN_B];
    int lens[TRAIN_B], T = ds_w2v_frames(c, S);
    for (int b = 0; b < TRAIN_B; b++) {
        x[b] = make_audio(S, 10 + b);
        wave[b] = x[b];
        ns[b] = S;
        lens[b] = T;
    }
    long GV = (long)c->num_codevector_groups * c->num_codevectors_per_group, n = (long)TRAIN_B * T;
    uint8_t *mask = malloc((size_t)n);
    int32_t *neg = malloc(sizeof(int32_t) * (size_t)n * c->num_negatives);
    float *gumbel = malloc(sizeof(float) * (size_t)n * GV);
    ds_adamw opt;
    m->eval_only = 0;
    if (!mask || !neg || !gumbel || ds_w2v_reserve(m, TRAIN_B, S) || ds_adamw_init(&opt, &m->params, DS_ADAMW_DEFAULTS)) {
        fprintf(stderr, "bench_wav2vec2: %s\n", ds_errmsg());
        return 1;
    }
    double t0 = 0, ph[5] = {0};   /* draw, encode, loss, backward, clip + AdamW */
    ds_w2v_losses L = {0};
    for (int s = 0; s <= steps; s++) {   /* step 0 warms up */
        double t[6];
        t[0] = ds_realtime();
        if (s == 1) t0 = t[0];
        ds_params_zero_grad(&m->params);
        int M = draw(c, lens, TRAIN_B, T, mask, neg, gumbel, (uint64_t)s);
        t[1] = ds_realtime();
        int e = M < 0 || ds_w2v_encode(m, wave, ns, TRAIN_B, mask, 1, 1, (uint64_t)s);
        t[2] = ds_realtime();
        if (e || ds_w2v_pretrain_loss(m, neg, gumbel, ds_w2v_tau(c, s), &L)) {
            fprintf(stderr, "bench_wav2vec2: %s\n", ds_errmsg());
            return 1;
        }
        t[3] = ds_realtime();
        ds_w2v_pretrain_backward(m, 1.0f);
        t[4] = ds_realtime();
        ds_grad_clip(&m->params, 1.0f);
        ds_adamw_step(&opt, &m->params, 5e-4f);
        t[5] = ds_realtime();
        for (int k = 0; k < 5 && s; k++) ph[k] += (t[k + 1] - t[k]) / steps;
    }
    double sec = (ds_realtime() - t0) / steps, audio = TRAIN_B * TRAIN_SECONDS;
    char name[96];
    printf("derfseq %-20s B%d x %.0f s  %7.3f s/step (mean of %d)  train %7.2f audio-s/s  peak RSS %.3f GB  (loss %.3f, M %ld; "
           "s/step: draw %.3f encode %.3f loss %.3f backward %.3f clip+adamw %.3f)\n",
           label(m, preset, ckpt, name, sizeof name), TRAIN_B, TRAIN_SECONDS, sec, steps, audio / sec, ds_peak_rss_gb(),
           L.loss, L.M, ph[0], ph[1], ph[2], ph[3], ph[4]);
    fflush(stdout);
    ds_adamw_free(&opt);
    ds_model_free(m);
    for (int b = 0; b < TRAIN_B; b++) free(x[b]);
    free(mask); free(neg); free(gumbel);
    return 0;
}

/* Random character targets, ~15 a second (ids 5..31: the letters and the
 * apostrophe of the built-in vocabulary, never blank or '|'), into tgt;
 * tl[b] of them for utterance b. */
static long ctc_targets(int32_t *tgt, int *tl, int B, double seconds, int V)
{
    ds_rng r;
    ds_rng_init(&r, 3, 11);
    long n = 0;
    for (int b = 0; b < B; b++) {
        tl[b] = (int)(CTC_CHARS_PER_S * seconds) - 2 * b;   /* unequal lengths, as real batches */
        for (int i = 0; i < tl[b]; i++) tgt[n++] = 5 + (int32_t)(ds_rng_uniform(&r) * (V - 5)) % (V - 5);
    }
    return n;
}

/* The time and channel masks of step k (cmd/finetune_ctc.c draw_masks). */
static void ctc_masks(const ds_w2v_config *c, const int *lens, int B, int T, uint64_t k, uint8_t *tmask,
                      uint8_t *cmask, const uint8_t **tm, const uint8_t **cm)
{
    int Hs[TRAIN_B];
    for (int b = 0; b < B; b++) Hs[b] = c->hidden_size;
    *tm = ds_span_mask(tmask, lens, B, T, c->mask_time_prob, c->mask_time_length, c->mask_time_min_masks, 1, k) >= 0
              ? tmask : NULL;
    *cm = ds_span_mask(cmask, Hs, B, c->hidden_size, c->mask_feature_prob, c->mask_feature_length,
                       c->mask_feature_min_masks, 1, k ^ CHANNEL_STREAM) >= 0 ? cmask : NULL;
}

/* CTC fine-tuning steps as finetune_ctc.c's train_step on B 2 x 5 s: one
 * warm-up step, then `steps` timed ones (mask draws included). Adam as
 * base_100h (betas 0.9, 0.98, no weight decay); the gradient norm is taken
 * as finetune takes it (no clipping). */
static int bench_ctc_train(const char *preset, const char *ckpt, int steps)
{
    ds_model *m = make_ctc(preset, ckpt);
    if (!m) return 1;
    const ds_w2v_config *c = ds_w2v_cfg(m);
    long S = (long)(TRAIN_SECONDS * DS_W2V_RATE), ns[TRAIN_B];
    const float *wave[TRAIN_B];
    float *x[TRAIN_B];
    int lens[TRAIN_B], tl[TRAIN_B], T = ds_w2v_frames(c, S);
    for (int b = 0; b < TRAIN_B; b++) {
        x[b] = make_audio(S, 10 + b);
        wave[b] = x[b];
        ns[b] = S;
        lens[b] = T;
    }
    uint8_t *tmask = malloc((size_t)TRAIN_B * T), *cmask = malloc((size_t)TRAIN_B * c->hidden_size);
    int32_t *tgt = malloc(sizeof(int32_t) * (size_t)(TRAIN_B * CTC_CHARS_PER_S * TRAIN_SECONDS + 1));
    ds_adamw opt;
    ds_adamw_cfg ac = { .beta1 = 0.9f, .beta2 = 0.98f, .eps = 1e-8f, .weight_decay = 0.0f };
    m->eval_only = 0;
    if (!tmask || !cmask || !tgt || ds_w2v_reserve(m, TRAIN_B, S) || ds_adamw_init(&opt, &m->params, ac)) {
        fprintf(stderr, "bench_wav2vec2: %s\n", ds_errmsg());
        return 1;
    }
    long nchars = ctc_targets(tgt, tl, TRAIN_B, TRAIN_SECONDS, c->vocab_size);
    double t0 = 0, ph[5] = {0}, loss[TRAIN_B], gnorm = 0;   /* masks, encode, logits + loss, backward, norm + Adam */
    for (int s = 0; s <= steps; s++) {   /* step 0 warms up */
        double t[6];
        const uint8_t *tm, *cm;
        const float *logits;
        t[0] = ds_realtime();
        if (s == 1) t0 = t[0];
        ds_params_zero_grad(&m->params);
        ctc_masks(c, lens, TRAIN_B, T, (uint64_t)s, tmask, cmask, &tm, &cm);
        t[1] = ds_realtime();
        int e = ds_w2v_encode_masked(m, wave, ns, TRAIN_B, tm, cm, 1, 1, (uint64_t)s);
        t[2] = ds_realtime();
        if (!e) e = ds_w2v_ctc_logits(m, &logits);
        if (e || ds_w2v_ctc_loss(m, tgt, tl, loss)) {
            fprintf(stderr, "bench_wav2vec2: %s\n", ds_errmsg());
            return 1;
        }
        t[3] = ds_realtime();
        ds_w2v_ctc_backward(m, 1.0f / TRAIN_B, 1);
        t[4] = ds_realtime();
        gnorm = ds_grad_clip(&m->params, 0.0f);
        ds_adamw_step(&opt, &m->params, 3e-5f);
        t[5] = ds_realtime();
        for (int k = 0; k < 5 && s; k++) ph[k] += (t[k + 1] - t[k]) / steps;
    }
    double sec = (ds_realtime() - t0) / steps, audio = TRAIN_B * TRAIN_SECONDS;
    char name[96];
    printf("derfseq %-20s B%d x %.0f s  %7.3f s/step (mean of %d)  ctc-train %7.2f audio-s/s  peak RSS %.3f GB  "
           "(loss %.1f per utterance, %ld chars, |g| %.3g; s/step: masks %.3f encode %.3f logits+loss %.3f "
           "backward %.3f norm+adam %.3f)\n",
           label(m, preset, ckpt, name, sizeof name), TRAIN_B, TRAIN_SECONDS, sec, steps, audio / sec, ds_peak_rss_gb(),
           (loss[0] + loss[1]) / TRAIN_B, nchars, gnorm, ph[0], ph[1], ph[2], ph[3], ph[4]);
    fflush(stdout);
    ds_adamw_free(&opt);
    ds_model_free(m);
    for (int b = 0; b < TRAIN_B; b++) free(x[b]);
    free(tmask); free(cmask); free(tgt);
    return 0;
}

/* CTC recognition of 10 s (B 1, inference layout): encode, logits and the
 * greedy decode, one warm-up then the median of `runs`. */
static int bench_ctc_infer(const char *preset, const char *ckpt, int runs)
{
    ds_model *m = make_ctc(preset, ckpt);
    if (!m) return 1;
    long S = (long)(INFER_SECONDS * DS_W2V_RATE);
    float *x = make_audio(S, 1);
    int T = ds_w2v_frames(ds_w2v_cfg(m), S), V = ds_w2v_cfg(m)->vocab_size, n = 0;
    int32_t *ids = malloc(sizeof(int32_t) * (size_t)T);
    m->eval_only = 1;
    if (!x || !ids || ds_w2v_reserve(m, 1, S)) { fprintf(stderr, "bench_wav2vec2: %s\n", ds_errmsg()); return 1; }
    const float *wave[1] = { x };
    double t[32];
    if (runs > 32) runs = 32;
    for (int s = 0; s <= runs; s++) {
        const float *logits;
        double t0 = ds_realtime();
        if (ds_w2v_encode(m, wave, &S, 1, NULL, 0, 0, 0) || ds_w2v_ctc_logits(m, &logits)) {
            fprintf(stderr, "bench_wav2vec2: %s\n", ds_errmsg());
            return 1;
        }
        n = ds_ctc_greedy(ids, logits, T, V, 0);
        if (s) t[s - 1] = ds_realtime() - t0;
    }
    qsort(t, (size_t)runs, sizeof t[0], cmp_double);
    double med = runs % 2 ? t[runs / 2] : 0.5 * (t[runs / 2 - 1] + t[runs / 2]);
    char name[96];
    printf("derfseq %-20s B1 x %.0f s  %7.3f s (median of %d, min %.3f)  ctc-infer %7.2f x realtime  peak RSS %.3f GB  "
           "(%d ids decoded)\n",
           label(m, preset, ckpt, name, sizeof name), INFER_SECONDS, med, runs, t[0], INFER_SECONDS / med,
           ds_peak_rss_gb(), n);
    fflush(stdout);
    ds_model_free(m);
    free(x);
    free(ids);
    return 0;
}

/* Runs `bench_wav2vec2 infer|train|ctc-infer|ctc PRESET [CKPT]` as a child process, so
 * the peak RSS it prints is its own. exec, not a bare fork: the OpenMP pool
 * already exists here (ds_threads_flush_denormals), and libgomp does not
 * survive a fork. */
static int in_child(const char *what, const char *preset, const char *ckpt)
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) { perror("bench_wav2vec2: fork"); return 1; }
    if (pid == 0) {
        char *args[] = { "bench_wav2vec2", (char *)what, (char *)preset, (char *)ckpt, NULL };
        execv("/proc/self/exe", args);
        perror("bench_wav2vec2: exec");
        _exit(127);
    }
    int st = 0;
    if (waitpid(pid, &st, 0) < 0) return 1;
    return !WIFEXITED(st) || WEXITSTATUS(st);
}

static const w2v_run *find_run(const char *preset)
{
    for (size_t i = 0; i < sizeof g_runs / sizeof g_runs[0]; i++)
        if (!strcmp(g_runs[i].preset, preset)) return &g_runs[i];
    return &g_runs[1];   /* a checkpoint of another shape: tiny's counts */
}

static int measure(const char *what, const char *preset, const char *ckpt)
{
    const w2v_run *r = find_run(preset);
    if (!strcmp(what, "infer")) return bench_infer(preset, ckpt, r->infer_runs);
    if (!strcmp(what, "train")) return bench_train(preset, ckpt, r->train_steps);
    if (!strcmp(what, "ctc-infer")) return bench_ctc_infer(preset, ckpt, r->infer_runs);
    return bench_ctc_train(preset, ckpt, r->train_steps);
}

static const char *const MEASURES[] = { "infer", "train", "ctc-infer", "ctc" };

int main(int argc, char **argv)
{
    ds_threads_init(argv);   /* as derfseq's main does */
    if ((argc == 3 && !strcmp(argv[1], "config")) || ((argc == 3 || argc == 4) && !strcmp(argv[1], "config-ctc"))) {
        char *json = NULL;
        if (argv[1][6] ? ctc_config(argv[2], argc == 4 ? argv[3] : NULL, &json) : bench_config(argv[2], &json)) return 1;
        printf("%s\n", json);
        free(json);
        return 0;
    }
    for (int k = 0; k < 4; k++)
        if (argc >= 3 && !strcmp(argv[1], MEASURES[k])) return measure(argv[1], argv[2], argc > 3 ? argv[3] : NULL);
    const char *only = argc > 1 ? argv[1] : NULL, *ckpt = argc > 2 ? argv[2] : NULL;
    printf("threads %d, OpenBLAS %s\n", omp_get_max_threads(), openblas_get_corename());
    int e = 0;
    for (size_t i = 0; i < sizeof g_runs / sizeof g_runs[0]; i++) {
        /* with a checkpoint, PRESET only picks the run counts (tiny's for any other name) */
        const char *preset = ckpt ? only : g_runs[i].preset;
        if (!ckpt && only && strcmp(only, preset)) continue;
        for (int k = 0; k < 4; k++) e |= in_child(MEASURES[k], preset, ckpt);
        if (ckpt) break;
    }
    return e;
}
