/* wav2vec2 against its PyTorch twin (test/reference/wav2vec2.py, itself
 * checked against torchaudio's wav2vec2 components): Base's published form
 * (group-mode conv stack, post-LN LayerNorm, raw audio) and the paper's Derf
 * run (pre-LN with Derf on LN_enc/LN_attn/LN_ffn; here also layer-mode conv
 * norms, conv bias and normalised audio), small sizes, two utterances of
 * different lengths in one padded batch. With the golden's time mask,
 * negatives and Gumbel noise: conv features, hidden states, every loss part,
 * every gradient and 5 AdamW steps agree with the twin's float64 results to
 * 1e-4 normwise; the unmasked eval forward gives the embed hidden states.
 * The CTC head on the converted tiny checkpoint (HF Wav2Vec2ForCTC): logits,
 * per-utterance CTC losses (zero_infinity included) and every gradient with a
 * time and a channel mask, and the inference layout's eval logits. */
#include "test.h"
#include "golden_model.h"
#include "core/error.h"
#include "io/audio.h"
#include "io/safetensors.h"
#include "nn/optim.h"
#include "presets.h"
#include "wav2vec2.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#define G(x) "testdata/golden/wav2vec2_" x ".safetensors"

typedef struct {
    ds_st_file f;
    ds_model *m;
    float *audio, *gumbel, tau;
    const float *wave[2];
    long ns[2];
    uint8_t *mask;
    int32_t *neg;
    int B, S, T;
} golden;

static void *read_raw(const ds_st_file *f, const char *name, int dtype, size_t *n)
{
    const ds_st_tensor *t = ds_st_find(f, name);
    if (!t) { CHECK_MSG(0, "golden has no tensor '%s'", name); return NULL; }
    if (n) *n = t->numel;
    if (dtype == DS_ST_I32) {
        CHECK_MSG(t->dtype == DS_ST_I32, "golden '%s' is not I32", name);
        int32_t *x = malloc(t->numel * sizeof *x);
        memcpy(x, f->data + t->begin, t->numel * sizeof *x);
        return x;
    }
    return golden_read_f32(f, name, NULL);
}

static int golden_open(golden *g, const char *path, int eval_only, int dropout)
{
    memset(g, 0, sizeof *g);
    if (ds_st_open(&g->f, path)) { CHECK_MSG(0, "%s", ds_errmsg()); return -1; }
    const char *cfg = ds_st_meta(&g->f, "derfseq.config");
    CHECK(cfg != NULL);
    char *json = cfg ? strdup(cfg) : NULL;
    static const char *const drops[] = { "hidden_dropout", "attention_dropout", "activation_dropout",
                                         "feat_proj_dropout", "feat_quantizer_dropout", "layerdrop" };
    for (int i = 0; dropout && json && i < 6; i++) ds_config_set_real(&json, drops[i], 0.3);
    int bad = !json || ds_model_from_json(&g->m, json);
    free(json);
    if (bad) { CHECK_MSG(0, "%s", ds_errmsg()); return -1; }
    CHECK(ds_w2v_is(g->m));
    ds_params *ps = &g->m->params;
    golden_load_params(&g->f, ps);
    const ds_st_tensor *ta = ds_st_find(&g->f, "golden.audio");
    if (!ta || ta->ndim != 2 || ta->shape[0] != 2) { CHECK_MSG(0, "golden.audio is not [2, S]"); return -1; }
    g->B = 2;
    g->S = (int)ta->shape[1];
    g->audio = read_raw(&g->f, "golden.audio", DS_ST_F32, NULL);
    int32_t *ns = read_raw(&g->f, "golden.n_samples", DS_ST_I32, NULL);
    int32_t *mask = read_raw(&g->f, "golden.mask", DS_ST_I32, NULL);
    size_t nm = 0;
    const ds_st_tensor *tm = ds_st_find(&g->f, "golden.mask");
    g->neg = read_raw(&g->f, "golden.negatives", DS_ST_I32, NULL);
    g->gumbel = read_raw(&g->f, "golden.gumbel", DS_ST_F32, NULL);
    float *tau = read_raw(&g->f, "golden.tau", DS_ST_F32, NULL);
    if (!g->audio || !ns || !mask || !tm || !g->neg || !g->gumbel || !tau) { free(ns); free(mask); free(tau); return -1; }
    g->T = (int)tm->shape[1];
    nm = tm->numel;
    g->mask = malloc(nm);
    for (size_t i = 0; i < nm; i++) g->mask[i] = (uint8_t)mask[i];
    g->tau = tau[0];
    for (int b = 0; b < 2; b++) { g->ns[b] = ns[b]; g->wave[b] = g->audio + (size_t)b * g->S; }
    free(ns); free(mask); free(tau);
    g->m->eval_only = eval_only;
    CHECK_EQ_INT(ds_w2v_reserve(g->m, g->B, g->S), 0);
    return 0;
}

static void golden_close(golden *g)
{
    ds_model_free(g->m);
    free(g->audio); free(g->gumbel); free(g->mask); free(g->neg);
    ds_st_close(&g->f);
}

/* One forward + backward with the golden's mask, negatives and noise
 * (train = 1 with the golden's dropouts 0: the training code path). */
static int step(golden *g, ds_w2v_losses *L)
{
    int e = ds_w2v_encode(g->m, g->wave, g->ns, g->B, g->mask, 1, 0, 0);
    if (!e) e = ds_w2v_pretrain_loss(g->m, g->neg, g->gumbel, g->tau, L);
    if (e) { CHECK_MSG(0, "%s", ds_errmsg()); return e; }
    ds_params_zero_grad(&g->m->params);
    ds_w2v_pretrain_backward(g->m, 1.0f);
    return 0;
}

static void check_scalar(const golden *g, const char *name, double got)
{
    float *want = read_raw(&g->f, name, DS_ST_F32, NULL);
    if (want) CHECK_MSG(fabs(got - want[0]) <= 1e-4 * fabs(want[0]) + 1e-7, "%s: %.7g, PyTorch %.7g", name, got, want[0]);
    free(want);
}

/* A gradient that is zero in exact arithmetic (the key bias: softmax is
 * invariant to a per-row shift of the scores) has no relative error to
 * measure; it must be zero up to the rounding of the terms that cancel. */
static void check_grad(const char *name, const float *got, const float *want, size_t n)
{
    double wn = 0, gmax = 0;
    for (size_t i = 0; i < n; i++) wn += (double)want[i] * want[i];
    if (wn > 0) { CHECK_CLOSE(name, got, want, (long)n, 1e-4); return; }
    for (size_t i = 0; i < n; i++) gmax = fabs(got[i]) > gmax ? fabs(got[i]) : gmax;
    CHECK_MSG(gmax <= 1e-6, "%s: PyTorch's is exactly 0, derfseq's has |g| up to %g", name, gmax);
}

static void check_forward_and_gradients(const char *path)
{
    golden g;
    ds_w2v_losses L;
    if (golden_open(&g, path, 0, 0) || step(&g, &L)) { golden_close(&g); return; }
    CHECK_EQ_INT(ds_w2v_T(g.m), g.T);
    size_t n;
    float *want = read_raw(&g.f, "golden.features", DS_ST_F32, &n);
    if (want) CHECK_CLOSE("features", ds_w2v_features(g.m), want, (long)n, 1e-4);
    free(want);
    want = read_raw(&g.f, "golden.hidden", DS_ST_F32, &n);
    if (want) CHECK_CLOSE("hidden", g.m->hidden, want, (long)n, 1e-4);
    free(want);
    check_scalar(&g, "golden.loss_contrastive", L.contrastive);
    check_scalar(&g, "golden.loss_diversity", L.diversity);
    check_scalar(&g, "golden.feature_pen", L.feature_pen);
    check_scalar(&g, "golden.prob_perplexity", L.prob_perplexity);
    check_scalar(&g, "golden.code_perplexity", L.code_perplexity);
    check_scalar(&g, "golden.loss", L.loss);
    ds_params *ps = &g.m->params;
    for (int i = 0; i < ps->n; i++) {
        char name[DS_NAME_MAX + 8];
        snprintf(name, sizeof name, "grad.%s", ps->p[i].name);
        want = read_raw(&g.f, name, DS_ST_F32, &n);
        if (want) check_grad(name, ds_params_grad(ps, i), want, n);
        free(want);
    }
    golden_close(&g);
}

static void check_adamw_steps(const char *path)
{
    golden g;
    if (golden_open(&g, path, 0, 0)) { golden_close(&g); return; }
    float *want = read_raw(&g.f, "golden.adamw_losses", DS_ST_F32, NULL);
    ds_adamw opt;
    ds_adamw_init(&opt, &g.m->params, (ds_adamw_cfg){ 0.9f, 0.999f, 1e-8f, 0.1f });
    for (int k = 0; k < 5 && want; k++) {
        ds_w2v_losses L;
        if (step(&g, &L)) break;
        CHECK_MSG(fabs(L.loss - want[k]) <= 1e-4 * fabs(want[k]), "AdamW step %d: loss %.7g, PyTorch %.7g", k, L.loss,
                  want[k]);
        ds_adamw_step(&opt, &g.m->params, 1e-3f);
    }
    ds_adamw_free(&opt);
    free(want);
    golden_close(&g);
}

/* The inference layout (what embed uses) gives the twin's unmasked eval
 * hidden states, each utterance as it would alone. */
static void check_eval_hidden(const char *path)
{
    golden g;
    if (golden_open(&g, path, 1, 0)) { golden_close(&g); return; }
    CHECK_EQ_INT(ds_w2v_encode(g.m, g.wave, g.ns, g.B, NULL, 0, 0, 0), 0);
    size_t n;
    float *want = read_raw(&g.f, "golden.hidden_eval", DS_ST_F32, &n);
    if (want) CHECK_CLOSE("hidden_eval", g.m->hidden, want, (long)n, 1e-4);
    /* the shorter utterance alone: its rows of the padded batch */
    if (want) {
        int T0 = ds_w2v_T(g.m);
        CHECK_EQ_INT(ds_w2v_encode(g.m, g.wave + 1, g.ns + 1, 1, NULL, 0, 0, 0), 0);
        int T1 = ds_w2v_lens(g.m)[0];
        CHECK_CLOSE("hidden_eval alone", g.m->hidden, want + (size_t)T0 * g.m->d_model, (long)T1 * g.m->d_model, 1e-4);
    }
    free(want);
    golden_close(&g);
}

TEST(test_wav2vec2_postln_layernorm_matches_pytorch_golden) { check_forward_and_gradients(G("postln_layernorm")); }
TEST(test_wav2vec2_preln_derf_matches_pytorch_golden) { check_forward_and_gradients(G("preln_derf")); }
TEST(test_wav2vec2_postln_layernorm_adamw_steps_match_pytorch_golden) { check_adamw_steps(G("postln_layernorm")); }
TEST(test_wav2vec2_preln_derf_adamw_steps_match_pytorch_golden) { check_adamw_steps(G("preln_derf")); }
TEST(test_wav2vec2_postln_inference_layout_matches_pytorch_eval_hidden_states) { check_eval_hidden(G("postln_layernorm")); }
TEST(test_wav2vec2_preln_inference_layout_matches_pytorch_eval_hidden_states) { check_eval_hidden(G("preln_derf")); }

/* A training step with every dropout and LayerDrop at 0.3 gives bitwise
 * the same gradients with 1 and 2 OpenMP threads. */
TEST(test_wav2vec2_gradients_do_not_depend_on_thread_count)
{
    float *gr[2] = { NULL, NULL };
    size_t total = 0;
    for (int r = 0; r < 2; r++) {
        omp_set_num_threads(r + 1);
        golden g;
        if (golden_open(&g, G("preln_derf"), 0, 1)) { golden_close(&g); break; }
        ds_w2v_losses L;
        CHECK_EQ_INT(ds_w2v_encode(g.m, g.wave, g.ns, g.B, g.mask, 1, 9, 2), 0);
        CHECK_EQ_INT(ds_w2v_pretrain_loss(g.m, g.neg, g.gumbel, g.tau, &L), 0);
        ds_params_zero_grad(&g.m->params);
        ds_w2v_pretrain_backward(g.m, 1.0f);
        total = g.m->params.total;
        gr[r] = malloc(sizeof(float) * total);
        memcpy(gr[r], g.m->params.grad, sizeof(float) * total);
        golden_close(&g);
    }
    omp_set_num_threads(2);
    CHECK(gr[0] && gr[1] && !memcmp(gr[0], gr[1], sizeof(float) * total));
    free(gr[0]); free(gr[1]);
}

/* ---- the CTC head (wav2vec2.md §3.8) on the converted tiny checkpoint ------
 * testdata/golden/wav2vec2_tiny_ctc.safetensors (test/reference/wav2vec2.py,
 * HF Wav2Vec2ForCTC semantics): testdata/wav2vec2_tiny.safetensors's encoder
 * with the golden's lm_head, frozen feature encoder (feature_grad_mult 0),
 * the two tiny WAVs with a given time and channel mask, "FRONT" / "REAR". */

#define TINY_CKPT "testdata/wav2vec2_tiny.safetensors"

typedef struct {
    ds_st_file f;
    ds_model *m;
    float *wav[2];
    long ns[2];
    uint8_t *mask, *cmask;
    int32_t *tgt, *tgt_edge;
    int tgl[2], tgl_edge[2];
} ctc_golden;

static void ctc_golden_close(ctc_golden *g)
{
    ds_model_free(g->m);
    for (int b = 0; b < 2; b++) free(g->wav[b]);
    free(g->mask); free(g->cmask); free(g->tgt); free(g->tgt_edge);
    ds_st_close(&g->f);
}

static uint8_t *read_mask(const ds_st_file *f, const char *name)
{
    size_t n = 0;
    int32_t *x = read_raw(f, name, DS_ST_I32, &n);
    uint8_t *m = x ? malloc(n) : NULL;
    for (size_t i = 0; m && i < n; i++) m[i] = (uint8_t)x[i];
    free(x);
    return m;
}

static int read_targets(const ds_st_file *f, const char *tname, const char *lname, int32_t **tgt, int *tgl)
{
    int32_t *l = read_raw(f, lname, DS_ST_I32, NULL);
    *tgt = read_raw(f, tname, DS_ST_I32, NULL);
    if (l) { tgl[0] = l[0]; tgl[1] = l[1]; }
    free(l);
    return l && *tgt ? 0 : -1;
}

/* The model the golden's config builds, its tensors from the golden
 * (param.lm_head.*) or else the checkpoint, by name. */
static int ctc_golden_model(ctc_golden *g, double final_dropout)
{
    const char *cfg = ds_st_meta(&g->f, "derfseq.config");
    char *json = cfg ? strdup(cfg) : NULL;
    if (json && !isnan(final_dropout)) ds_config_set_real(&json, "final_dropout", final_dropout);
    int bad = !json || ds_model_from_json(&g->m, json);
    free(json);
    if (bad) { CHECK_MSG(0, "golden config: %s", ds_errmsg()); return -1; }
    ds_st_file ck;
    if (ds_st_open(&ck, TINY_CKPT)) { CHECK_MSG(0, "%s", ds_errmsg()); return -1; }
    ds_params *ps = &g->m->params;
    int r = 0;
    for (int i = 0; i < ps->n; i++) {
        char name[DS_NAME_MAX + 8];
        snprintf(name, sizeof name, "param.%s", ps->p[i].name);
        const ds_st_file *src = ds_st_find(&g->f, name) ? &g->f : &ck;
        const ds_st_tensor *t = ds_st_find(src, src == &ck ? ps->p[i].name : name);
        CHECK_MSG(t && t->numel == ps->p[i].numel, "neither the golden nor %s has %s at its size", TINY_CKPT,
                  ps->p[i].name);
        if (!t || t->numel != ps->p[i].numel) { r = -1; continue; }
        ds_st_read_f32(src, t, ds_params_data(ps, i));
    }
    ds_st_close(&ck);
    return r;
}

static int ctc_golden_open(ctc_golden *g, int eval_only, double final_dropout)
{
    memset(g, 0, sizeof *g);
    if (ds_st_open(&g->f, G("tiny_ctc"))) { CHECK_MSG(0, "%s", ds_errmsg()); return -1; }
    if (ctc_golden_model(g, final_dropout)) return -1;
    CHECK(ds_w2v_cfg(g->m)->ctc_head && ds_w2v_cfg(g->m)->feature_grad_mult == 0);
    int32_t *ns = read_raw(&g->f, "golden.n_samples", DS_ST_I32, NULL);
    if (!ns) return -1;
    static const char *const wavs[2] = { "testdata/wav2vec2_tiny_a.wav", "testdata/wav2vec2_tiny_b.wav" };
    for (int b = 0; b < 2; b++) {
        if (ds_audio_read(wavs[b], DS_W2V_RATE, 1, &g->wav[b], &g->ns[b])) CHECK_MSG(0, "%s", ds_errmsg());
        CHECK_EQ_INT(g->ns[b], (long)ns[b]);
    }
    free(ns);
    g->mask = read_mask(&g->f, "golden.mask");
    g->cmask = read_mask(&g->f, "golden.cmask");
    if (!g->wav[0] || !g->wav[1] || !g->mask || !g->cmask ||
        read_targets(&g->f, "golden.targets", "golden.target_lens", &g->tgt, g->tgl) ||
        read_targets(&g->f, "golden.targets_edge", "golden.target_lens_edge", &g->tgt_edge, g->tgl_edge))
        return -1;
    g->m->eval_only = eval_only;
    CHECK_EQ_INT(ds_w2v_reserve(g->m, 2, g->ns[0] > g->ns[1] ? g->ns[0] : g->ns[1]), 0);
    return 0;
}

static void check_losses(const ctc_golden *g, const char *name, const double *got)
{
    float *want = read_raw(&g->f, name, DS_ST_F32, NULL);
    for (int b = 0; want && b < 2; b++)
        CHECK_MSG(fabs(got[b] - want[b]) <= 1e-4 * fabs(want[b]) + 1e-6, "%s[%d]: %.7g, PyTorch %.7g", name, b, got[b],
                  want[b]);
    free(want);
}

static void check_logits(const ctc_golden *g, const char *name, const float *got)
{
    size_t n;
    float *want = read_raw(&g->f, name, DS_ST_F32, &n);
    if (want) CHECK_CLOSE(name, got, want, (long)n, 1e-4);
    free(want);
}

/* One masked forward, both losses and the backward of Σ_b loss_b. train 0
 * (eval: final_dropout 0.1 off) or 1 with final_dropout 0 give the same. */
static void check_ctc_step(int train, double final_dropout)
{
    ctc_golden g;
    if (ctc_golden_open(&g, 0, final_dropout)) { ctc_golden_close(&g); return; }
    const float *logits;
    double loss[2], edge[2];
    const float *const *w = (const float *const *)g.wav;
    int e = ds_w2v_encode_masked(g.m, w, g.ns, 2, g.mask, g.cmask, train, 0, 0);
    if (!e) e = ds_w2v_ctc_logits(g.m, &logits);
    if (!e) e = ds_w2v_ctc_loss(g.m, g.tgt_edge, g.tgl_edge, edge);
    if (!e) e = ds_w2v_ctc_loss(g.m, g.tgt, g.tgl, loss);
    if (e) { CHECK_MSG(0, "%s", ds_errmsg()); ctc_golden_close(&g); return; }
    check_logits(&g, "golden.logits", logits);
    check_losses(&g, "golden.loss", loss);
    check_losses(&g, "golden.loss_edge", edge);
    CHECK_MSG(edge[1] == 0.0, "12 labels in 10 frames: loss %g, expected 0 (zero_infinity)", edge[1]);
    ds_params *ps = &g.m->params;
    ds_params_zero_grad(ps);
    CHECK_EQ_INT(ds_w2v_ctc_backward(g.m, 1.0f, 1), 0);
    for (int i = 0; i < ps->n; i++) {
        char name[DS_NAME_MAX + 8];
        snprintf(name, sizeof name, "grad.%s", ps->p[i].name);
        size_t n;
        float *want = read_raw(&g.f, name, DS_ST_F32, &n);
        const float *got = ds_params_grad(ps, i);
        if (want) check_grad(name, got, want, n);
        free(want);
        long nz = 0;
        for (size_t k = 0; strstr(name, "feature_extractor.") && k < ps->p[i].numel; k++) nz += got[k] != 0;
        CHECK_MSG(nz == 0, "%s: %ld entries, but the frozen feature encoder gets no gradient", name, nz);
    }
    ctc_golden_close(&g);
}

TEST(test_wav2vec2_ctc_head_eval_step_matches_pytorch_golden) { check_ctc_step(0, NAN); }
TEST(test_wav2vec2_ctc_head_training_step_without_dropout_matches_pytorch_golden) { check_ctc_step(1, 0.0); }

/* The inference layout (what eval and transcription use) gives the twin's
 * unmasked eval logits and losses. */
TEST(test_wav2vec2_ctc_inference_layout_logits_and_losses_match_pytorch_golden)
{
    ctc_golden g;
    if (ctc_golden_open(&g, 1, NAN)) { ctc_golden_close(&g); return; }
    const float *logits;
    int e = ds_w2v_encode(g.m, (const float *const *)g.wav, g.ns, 2, NULL, 0, 0, 0);
    if (!e) e = ds_w2v_ctc_logits(g.m, &logits);
    double loss[2];
    if (!e) e = ds_w2v_ctc_loss(g.m, g.tgt, g.tgl, loss);
    if (e) CHECK_MSG(0, "%s", ds_errmsg());
    else { check_logits(&g, "golden.logits_eval", logits); check_losses(&g, "golden.loss_eval", loss); }
    ctc_golden_close(&g);
}

/* A CTC training step with final_dropout 0.3 and the masks gives bitwise
 * the same losses and gradients with 1 and 2 OpenMP threads. */
TEST(test_wav2vec2_ctc_gradients_do_not_depend_on_thread_count)
{
    float *gr[2] = { NULL, NULL };
    double loss[2][2];
    size_t total = 0;
    for (int r = 0; r < 2; r++) {
        omp_set_num_threads(r + 1);
        ctc_golden g;
        if (ctc_golden_open(&g, 0, 0.3)) { ctc_golden_close(&g); break; }
        const float *logits;
        int e = ds_w2v_encode_masked(g.m, (const float *const *)g.wav, g.ns, 2, g.mask, g.cmask, 1, 9, 2);
        if (!e) e = ds_w2v_ctc_logits(g.m, &logits);
        if (!e) e = ds_w2v_ctc_loss(g.m, g.tgt, g.tgl, loss[r]);
        if (e) { CHECK_MSG(0, "%s", ds_errmsg()); ctc_golden_close(&g); break; }
        ds_params_zero_grad(&g.m->params);
        CHECK_EQ_INT(ds_w2v_ctc_backward(g.m, 1.0f, 1), 0);
        total = g.m->params.total;
        gr[r] = malloc(sizeof(float) * total);
        memcpy(gr[r], g.m->params.grad, sizeof(float) * total);
        ctc_golden_close(&g);
    }
    omp_set_num_threads(2);
    CHECK(gr[0] && gr[1] && !memcmp(gr[0], gr[1], sizeof(float) * total));
    CHECK(gr[0] && gr[1] && loss[0][0] == loss[1][0] && loss[0][1] == loss[1][1]);
    free(gr[0]); free(gr[1]);
}
