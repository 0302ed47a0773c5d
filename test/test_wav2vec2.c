/* wav2vec2's shapes and configuration (wav2vec2.md §3.1, §3.6, §3.9): the
 * presets' parameter counts against the published model, the conv length
 * formula, the Gumbel temperature schedule, the config round trip and its
 * one-line refusals, and which tensors a --norm swap adds; the CTC head's
 * backward (time and channel masks, zero_infinity, final dropout, head-only)
 * against finite differences. */
#include "test.h"
#include "core/error.h"
#include "presets.h"
#include "wav2vec2.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static ds_model *preset(const char *name, const char *norm)
{
    char *json = NULL;
    ds_model *m = NULL;
    if (ds_preset_config_json(name, norm, NAN, &json) || ds_model_from_json(&m, json)) CHECK_MSG(0, "%s", ds_errmsg());
    free(json);
    return m;
}

/* torchaudio's wav2vec2_base() has 94,370,944 parameters; the pretraining
 * head adds the quantizer (640·512 + 640 + 640·128), project_hid
 * (768·256 + 256), project_q (256·256 + 256) and masked_spec_embed (768). */
TEST(test_wav2vec2_base_preset_has_the_published_parameter_count)
{
    ds_model *m = preset("wav2vec2-base", NULL);
    if (!m) return;
    CHECK_EQ_INT((long)ds_params_count(&m->params), 95044608L);
    CHECK(ds_params_find(&m->params, "wav2vec2.feature_extractor.conv_layers.0.layer_norm.weight") >= 0);
    CHECK(ds_params_find(&m->params, "wav2vec2.feature_extractor.conv_layers.1.layer_norm.weight") < 0);
    CHECK(ds_params_find(&m->params, "wav2vec2.encoder.layers.11.final_layer_norm.bias") >= 0);
    CHECK(!ds_w2v_cfg(m)->do_stable_layer_norm && ds_w2v_cfg(m)->norm == DS_NORM_LAYERNORM);
    ds_model_free(m);
}

/* Derf adds alpha and shift to the 25 swapped norms (LN_enc and two per
 * layer) and to no other: the conv GroupNorm and feature LayerNorm stay. */
TEST(test_wav2vec2_norm_swap_touches_only_the_encoder_norms)
{
    ds_model *ln = preset("wav2vec2-base", "layernorm"), *df = preset("wav2vec2-base", "derf");
    if (!ln || !df) { ds_model_free(ln); ds_model_free(df); return; }
    CHECK_EQ_INT((long)(ds_params_count(&df->params) - ds_params_count(&ln->params)), 2L * 25);
    CHECK(ds_params_find(&df->params, "wav2vec2.encoder.layer_norm.shift") >= 0);
    CHECK(ds_params_find(&df->params, "wav2vec2.encoder.layers.3.layer_norm.alpha") >= 0);
    CHECK(ds_params_find(&df->params, "wav2vec2.feature_projection.layer_norm.alpha") < 0);
    CHECK(ds_params_find(&df->params, "wav2vec2.feature_extractor.conv_layers.0.layer_norm.alpha") < 0);
    ds_model_free(ln);
    ds_model_free(df);
}

/* 16000 samples: 3199 → 1599 → 799 → 399 → 199 → 99 → 49 frames; one
 * frame needs the 400-sample receptive field. */
TEST(test_wav2vec2_frames_follow_the_conv_length_formula)
{
    ds_w2v_config c;
    ds_w2v_config_default(&c);
    CHECK_EQ_INT(ds_w2v_frames(&c, 16000), 49);
    CHECK_EQ_INT(ds_w2v_frames(&c, 400), 1);
    CHECK_EQ_INT(ds_w2v_frames(&c, 399), 0);
    CHECK_EQ_INT((long)ds_w2v_min_samples(&c), 400L);
    CHECK_EQ_INT(ds_w2v_frames(&c, 250000), 781);   /* fairseq's 15.6 s crop */
}

/* τ = max(2 · 0.999995^u, 0.5): 2 at update 0, 1 after 138,629 updates,
 * the floor 0.5 from 277,258 on. */
TEST(test_wav2vec2_gumbel_temperature_decays_to_its_floor)
{
    ds_w2v_config c;
    ds_w2v_config_default(&c);
    CHECK_NEAR(ds_w2v_tau(&c, 0), 2.0, 1e-6);
    CHECK_NEAR(ds_w2v_tau(&c, 138629), 1.0, 1e-4);
    CHECK_NEAR(ds_w2v_tau(&c, 400000), 0.5, 1e-6);
}

TEST(test_wav2vec2_config_round_trips_through_json)
{
    ds_model *m = preset("wav2vec2-tiny", NULL);
    if (!m) return;
    char *json = m->vt->config_json(m);
    ds_w2v_config c;
    CHECK_EQ_INT(ds_w2v_config_from_json(&c, json), 0);
    CHECK(!memcmp(&c, ds_w2v_cfg(m), sizeof c));
    free(json);
    ds_model_free(m);
}

TEST(test_wav2vec2_config_refuses_heads_that_do_not_divide_the_width)
{
    ds_model *m = NULL;
    CHECK(ds_model_from_json(&m, "{\"arch\": \"wav2vec2\", \"hidden_size\": 100, \"num_attention_heads\": 12}") != 0);
    CHECK(strstr(ds_errmsg(), "num_attention_heads"));
    CHECK(ds_model_from_json(&m, "{\"arch\": \"wav2vec2\", \"conv_dim\": [8, 8], \"conv_kernel\": [2], "
                                 "\"conv_stride\": [1, 1]}") != 0);
    CHECK(strstr(ds_errmsg(), "conv_kernel"));
    CHECK(ds_model_from_json(&m, "{\"arch\": \"wav2vec2\", \"feat_extract_norm\": \"batch\"}") != 0);
    CHECK(strstr(ds_errmsg(), "feat_extract_norm"));
    CHECK(m == NULL);
}

/* A model converted without the pretraining head (a bare Wav2Vec2Model or
 * a CTC model) has none of its tensors and says so if asked for the loss. */
TEST(test_wav2vec2_without_pretraining_head_refuses_the_pretraining_loss)
{
    ds_model *m = NULL;
    CHECK_EQ_INT(ds_model_from_json(&m, "{\"arch\": \"wav2vec2\", \"hidden_size\": 32, \"num_hidden_layers\": 1, "
                                        "\"num_attention_heads\": 2, \"intermediate_size\": 64, "
                                        "\"conv_dim\": [16, 16], \"conv_kernel\": [10, 3], \"conv_stride\": [5, 2], "
                                        "\"num_conv_pos_embeddings\": 4, \"num_conv_pos_embedding_groups\": 2, "
                                        "\"pretraining_head\": false}"), 0);
    if (!m) return;
    CHECK(ds_params_find(&m->params, "quantizer.codevectors") < 0);
    CHECK(ds_params_find(&m->params, "project_q.weight") < 0);
    m->vt->init_weights(m, 1);
    CHECK_EQ_INT(ds_w2v_reserve(m, 1, 4000), 0);
    static float wave[4000];
    for (int i = 0; i < 4000; i++) wave[i] = sinf(0.01f * i);
    const float *w[1] = { wave };
    long n = 4000;
    uint8_t mask[1000] = { 1, 1, 1 };
    CHECK_EQ_INT(ds_w2v_encode(m, w, &n, 1, mask, 1, 0, 0), 0);
    ds_w2v_losses L;
    int32_t neg[8] = { 0 };
    CHECK(ds_w2v_pretrain_loss(m, neg, NULL, 1.0f, &L) != 0);
    CHECK(strstr(ds_errmsg(), "no pretraining head"));
    ds_model_free(m);
}

/* ---- the CTC head (wav2vec2.md §3.8) against finite differences ---------- */

#include "gradcheck.h"

#include <omp.h>

/* Two conv layers, two post-LN layers, every dropout and LayerDrop 0 unless
 * a test sets final_dropout; feature_grad_mult 1 so the conv stack's
 * gradient is the exact one finite differences measure. */
static ds_model *ctc_model(double final_dropout)
{
    char *json = strdup("{\"arch\": \"wav2vec2\", \"hidden_size\": 32, \"num_hidden_layers\": 2, "
                        "\"num_attention_heads\": 2, \"intermediate_size\": 64, \"conv_dim\": [16, 16], "
                        "\"conv_kernel\": [10, 3], \"conv_stride\": [5, 2], \"num_conv_pos_embeddings\": 4, "
                        "\"num_conv_pos_embedding_groups\": 2, \"hidden_dropout\": 0, \"attention_dropout\": 0, "
                        "\"activation_dropout\": 0, \"feat_proj_dropout\": 0, \"feat_quantizer_dropout\": 0, "
                        "\"layerdrop\": 0, \"feature_grad_mult\": 1, \"pretraining_head\": false}");
    ds_model *m = NULL;
    int bad = ds_config_set_bool(&json, "ctc_head", 1) || ds_config_set_real(&json, "final_dropout", final_dropout) ||
              ds_model_from_json(&m, json);
    free(json);
    if (bad) { CHECK_MSG(0, "%s", ds_errmsg()); return NULL; }
    m->vt->init_weights(m, 3);
    /* away from the init: the encoder's linears U(±1/√fan_in) as the twin's
     * goldens (N(0, 0.02) makes attention nearly uniform, its q/k gradients
     * too small to measure), lm_head peaked, unequal posteriors */
    ds_params *ps = &m->params;
    for (int i = 0; i < ps->n; i++) {
        const ds_param *p = &ps->p[i];
        float a = p->ndim == 2 ? 1.0f / sqrtf((float)p->shape[1]) : 0.0f;
        if (strstr(p->name, "encoder.layers.") && p->ndim == 2)
            ds_test_fill_uniform(ds_params_data(ps, i), (long)p->numel, -a, a, 30 + (unsigned)i);
    }
    int w = ds_params_find(ps, "lm_head.weight"), b = ds_params_find(ps, "lm_head.bias");
    ds_test_fill_uniform(ds_params_data(ps, w), (long)ps->p[w].numel, -0.4f, 0.4f, 11);
    ds_test_fill_uniform(ds_params_data(ps, b), (long)ps->p[b].numel, -0.5f, 0.5f, 12);
    return m;
}

/* Three utterances: 79 and 59 frames with 6 and 4 labels (a repeat in the
 * first), and 29 frames with 31 labels, which no alignment fits. */
#define CB 3
#define CT 79
#define CH 32
typedef struct {
    ds_model *m;
    float *wave[CB];
    long ns[CB];
    uint8_t tmask[CB * CT], cmask[CB * CH];
    int32_t tgt[64];
    int tgl[CB], B, train;
    uint64_t seed, step;
    double base[CB];
} ctc_case;

static void ctc_case_init(ctc_case *c, ds_model *m)
{
    memset(c, 0, sizeof *c);
    c->m = m;
    c->B = CB;
    static const long ns[CB] = { 800, 600, 300 };
    for (int b = 0; b < CB; b++) {
        c->ns[b] = ns[b];
        c->wave[b] = malloc(sizeof(float) * (size_t)ns[b]);
        ds_test_fill_uniform(c->wave[b], ns[b], -0.1f, 0.1f, 20 + (unsigned)b);
        for (long i = 0; i < ns[b]; i++) c->wave[b][i] += 0.5f * sinf(0.03f * (float)(b + 1) * (float)i);
    }
    for (int t = 10; t < 15; t++) c->tmask[t] = 1;
    for (int t = 40; t < 44; t++) c->tmask[t] = 1;
    for (int t = 5; t < 10; t++) c->tmask[CT + t] = 1;
    for (int t = 2; t < 4; t++) c->tmask[2 * CT + t] = 1;
    /* channels 0-1 masked everywhere: masked_spec_embed gets no gradient there */
    for (int b = 0; b < CB; b++) c->cmask[b * CH] = c->cmask[b * CH + 1] = 1;
    for (int k = 3; k < 7; k++) c->cmask[k] = 1;
    for (int k = 20; k < 24; k++) c->cmask[CH + k] = 1;
    static const int32_t a[6] = { 20, 13, 13, 9, 6, 4 }, bb[4] = { 13, 5, 7, 13 };
    int n = 0;
    for (int i = 0; i < 6; i++) c->tgt[n++] = a[i];
    for (int i = 0; i < 4; i++) c->tgt[n++] = bb[i];
    for (int i = 0; i < 31; i++) c->tgt[n++] = 5 + i % 20;
    c->tgl[0] = 6; c->tgl[1] = 4; c->tgl[2] = 31;
    c->train = 1;
}

static void ctc_case_free(ctc_case *c)
{
    for (int b = 0; b < CB; b++) free(c->wave[b]);
    ds_model_free(c->m);
}

static int ctc_losses(ctc_case *c, double *loss)
{
    const float *lg;
    int r = ds_w2v_encode_masked(c->m, (const float *const *)c->wave, c->ns, c->B, c->tmask, c->cmask, c->train,
                                 c->seed, c->step);
    if (!r) r = ds_w2v_ctc_logits(c->m, &lg);
    if (!r) r = ds_w2v_ctc_loss(c->m, c->tgt, c->tgl, loss);
    if (r) CHECK_MSG(0, "%s", ds_errmsg());
    return r;
}

/* The losses less their unperturbed values, so the float output keeps
 * the differences' digits. */
static void ctc_fwd(void *ctx, float *out)
{
    ctc_case *c = ctx;
    double loss[CB];
    if (ctc_losses(c, loss)) return;
    for (int b = 0; b < c->B; b++) out[b] = (float)(loss[b] - c->base[b]);
}

/* Losses and the gradient of scale·Σ_b loss_b. */
static int ctc_step(ctc_case *c, float scale, int trunk, double *loss)
{
    ds_params_zero_grad(&c->m->params);
    int r = ctc_losses(c, loss);
    if (!r) r = ds_w2v_ctc_backward(c->m, scale, trunk);
    return r;
}

static gc_input param_input(ds_model *m, const char *name)
{
    ds_params *ps = &m->params;
    int k = ds_params_find(ps, name);
    CHECK_MSG(k >= 0, "no parameter %s", name);
    if (k < 0) return (gc_input){ name, NULL, NULL, 0, 0 };
    return (gc_input){ name, ds_params_data(ps, k), ds_params_grad(ps, k), (long)ps->p[k].numel, 0 };
}

/* The inputs probed (12 entries each: a whole-model forward per probe). */
static const char *const CTC_ALL[] = {
    "lm_head.weight", "lm_head.bias", "wav2vec2.encoder.layers.1.attention.q_proj.weight",
    "wav2vec2.encoder.layers.0.feed_forward.output_dense.weight", "wav2vec2.masked_spec_embed",
    "wav2vec2.feature_projection.projection.weight", "wav2vec2.feature_extractor.conv_layers.1.conv.weight",
};
static const char *const CTC_SOME[] = {
    "wav2vec2.masked_spec_embed", "lm_head.weight", "wav2vec2.encoder.layers.1.attention.q_proj.weight",
    "wav2vec2.feature_projection.projection.weight",
};

static void check_ctc_finite_differences(ctc_case *c, const char *const *names, int ni, double tol)
{
    const float scale = 0.7f;
    if (ctc_step(c, scale, 1, c->base)) return;
    CHECK(c->base[0] > 0 && c->base[1] > 0);
    CHECK_MSG(c->base[2] == 0.0, "impossible transcript: loss %g, expected 0 (zero_infinity)", c->base[2]);
    gc_input in[8];
    for (int i = 0; i < ni && i < 8; i++) {
        in[i] = param_input(c->m, names[i]);
        if (!in[i].x) return;
    }
    const float *gm = param_input(c->m, "wav2vec2.masked_spec_embed").g;
    CHECK_MSG(gm[0] == 0 && gm[1] == 0, "masked_spec_embed channels 0, 1 (masked in every frame) have gradient %g, %g",
              gm[0], gm[1]);
    float w[CB] = { scale, scale, scale };
    /* one thread: hundreds of tiny forwards, whose OpenMP barriers cost more
     * than their work on a shared machine */
    int nt = omp_get_max_threads();
    omp_set_num_threads(1);
    double e = gc_check(ctc_fwd, c, CB, w, in, ni, 1e-2f, 12, tol);
    omp_set_num_threads(nt);
    CHECK_MSG(e <= tol, "CTC gradients differ from finite differences by %.3g normwise", e);
}

TEST(test_wav2vec2_ctc_backward_matches_finite_differences)
{
    ds_model *m = ctc_model(0.0);
    if (!m) return;
    CHECK_EQ_INT(ds_w2v_reserve(m, CB, 800), 0);
    ctc_case c;
    ctc_case_init(&c, m);
    check_ctc_finite_differences(&c, CTC_ALL, 7, 1e-2);
    ctc_case_free(&c);
}

/* final_dropout's mask comes from (seed, step): the backward of a training
 * step is the derivative of that step's loss. */
TEST(test_wav2vec2_ctc_backward_with_final_dropout_matches_finite_differences)
{
    ds_model *m = ctc_model(0.3);
    if (!m) return;
    CHECK_EQ_INT(ds_w2v_reserve(m, CB, 800), 0);
    ctc_case c;
    ctc_case_init(&c, m);
    c.seed = 5;
    c.step = 7;
    double drop[CB], none[CB];
    c.train = 0;
    if (!ctc_losses(&c, none)) {
        c.train = 1;
        if (!ctc_losses(&c, drop)) CHECK_MSG(fabs(drop[0] - none[0]) > 1e-3, "final_dropout 0.3 changed nothing");
    }
    c.train = 1;
    check_ctc_finite_differences(&c, CTC_SOME, 4, 1e-2);
    ctc_case_free(&c);
}

/* zero_infinity: an utterance whose 31 labels cannot fit its 29 frames
 * costs 0 and leaves every gradient 0. */
TEST(test_wav2vec2_ctc_impossible_transcript_gives_loss_0_and_no_gradient)
{
    ds_model *m = ctc_model(0.0);
    if (!m) return;
    CHECK_EQ_INT(ds_w2v_reserve(m, 1, 300), 0);
    ctc_case c;
    ctc_case_init(&c, m);
    c.B = 1;
    free(c.wave[0]);
    c.wave[0] = c.wave[2];
    c.wave[2] = NULL;
    c.ns[0] = 300;
    memset(c.tmask, 0, sizeof c.tmask);
    memmove(c.tgt, c.tgt + 10, 31 * sizeof *c.tgt);
    c.tgl[0] = 31;
    double loss[1] = { -1 };
    if (!ctc_step(&c, 1.0f, 1, loss)) {
        CHECK(loss[0] == 0.0);
        const ds_params *ps = &m->params;
        long nz = 0;
        for (size_t i = 0; i < ps->total; i++) nz += ps->grad[i] != 0;
        CHECK_MSG(nz == 0, "%ld gradient entries are not 0", nz);
    }
    ctc_case_free(&c);
}

/* trunk 0 (fairseq's freeze_finetune_updates): lm_head gets the same
 * gradient as with trunk 1, every other tensor none. */
TEST(test_wav2vec2_ctc_head_only_backward_leaves_the_trunk_without_gradient)
{
    ds_model *m = ctc_model(0.0);
    if (!m) return;
    CHECK_EQ_INT(ds_w2v_reserve(m, CB, 800), 0);
    ctc_case c;
    ctc_case_init(&c, m);
    ds_params *ps = &m->params;
    double loss[CB];
    float *full = malloc(sizeof(float) * ps->total);
    if (!ctc_step(&c, 0.5f, 1, loss)) {
        memcpy(full, ps->grad, sizeof(float) * ps->total);
        if (!ctc_step(&c, 0.5f, 0, loss)) {
            for (int i = 0; i < ps->n; i++) {
                const float *g = ds_params_grad(ps, i), *f = full + ps->p[i].offset;
                long n = (long)ps->p[i].numel, nz = 0;
                if (!strncmp(ps->p[i].name, "lm_head.", 8)) {
                    CHECK_CLOSE(ps->p[i].name, g, f, n, 1e-6);
                    for (long k = 0; k < n; k++) nz += g[k] != 0;
                    CHECK_MSG(nz > 0, "%s has no gradient", ps->p[i].name);
                    continue;
                }
                for (long k = 0; k < n; k++) nz += g[k] != 0;
                CHECK_MSG(nz == 0, "%s: %ld gradient entries with trunk 0", ps->p[i].name, nz);
            }
        }
    }
    free(full);
    ctc_case_free(&c);
}

/* ds_w2v_ctc_backward refuses what it cannot do instead of reading stale or
 * missing buffers: no loss of the last encode, or an inference layout. */
TEST(test_wav2vec2_ctc_backward_without_its_loss_or_on_an_inference_layout_is_an_error)
{
    char *json = NULL;
    ds_model *m = NULL;
    if (ds_preset_config_json("wav2vec2-demo", NULL, 0.5f, &json) || ds_config_set_bool(&json, "ctc_head", 1) ||
        ds_config_set_bool(&json, "pretraining_head", 0) || ds_model_from_json(&m, json) || m->vt->init_weights(m, 1)) {
        CHECK_MSG(0, "%s", ds_errmsg());
        free(json);
        return;
    }
    free(json);
    long n = 8000;
    float *x = calloc((size_t)n, sizeof *x);
    for (long i = 0; i < n; i++) x[i] = sinf(0.01f * (float)i);
    const float *wave[1] = { x };
    const float *logits;
    int32_t tgt[2] = { 5, 6 };
    int tl[1] = { 2 };
    double loss[1];
    for (int eval = 0; eval < 2; eval++) {
        m->eval_only = eval;
        CHECK_EQ_INT(ds_w2v_reserve(m, 1, n), 0);
        CHECK_EQ_INT(ds_w2v_encode(m, wave, &n, 1, NULL, 0, 1, 0), 0);
        CHECK_EQ_INT(ds_w2v_ctc_logits(m, &logits), 0);
        if (!eval) CHECK(ds_w2v_ctc_backward(m, 1.0f, 1) == DS_EINVAL);   /* no loss yet */
        CHECK_EQ_INT(ds_w2v_ctc_loss(m, tgt, tl, loss), 0);
        CHECK(isfinite(loss[0]) && loss[0] > 0);
        if (eval) CHECK(ds_w2v_ctc_backward(m, 1.0f, 1) == DS_EINVAL && strstr(ds_errmsg(), "inference"));
        else CHECK_EQ_INT(ds_w2v_ctc_backward(m, 1.0f, 1), 0);
    }
    int32_t bad[2] = { 0, 6 };   /* the blank is no target */
    CHECK(ds_w2v_ctc_loss(m, bad, tl, loss) == DS_EINVAL);
    free(x);
    ds_model_free(m);
}
