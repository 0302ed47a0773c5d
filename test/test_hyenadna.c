/* HyenaDNA (hyenadna.md): official parameter count and names, every
 * gradient of the encoder and the tied LM head against finite differences,
 * causality, and thread-count independence. */
#include "test.h"
#include "golden_model.h"
#include "gradcheck.h"
#include "heads.h"
#include "hyenadna.h"
#include "presets.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

static ds_model *tiny_model(ds_norm_kind norm, float dropout)
{
    ds_hyena_config c;
    ds_hyena_config_default(&c);
    c.d_model = 16; c.n_layer = 2; c.d_inner = 32; c.l_max = 24; c.filter_order = 8;
    c.norm = norm; c.embed_dropout = dropout; c.modulation_shift = 0.05f;
    ds_model *m = NULL;
    if (ds_hyena_create(&m, &c)) return NULL;
    m->vt->init_weights(m, 7);
    /* At init the mixer branch is a product of three N(0, 0.02)-sized
     * terms, so its gradients sit below float rounding. Give every matrix
     * weights of size ~1/√fan_in and move norms off their init, so every
     * gradient path carries a measurable signal. */
    for (int i = 0; i < m->params.n; i++) {
        ds_param *p = &m->params.p[i];
        float *x = ds_params_data(&m->params, i);
        if (strstr(p->name, "norm") || strstr(p->name, "ln_f")) {
            for (size_t k = 0; k < p->numel; k++) x[k] += 0.1f * (float)((k * 7 + i) % 5) - 0.2f;
        } else if (p->trainable && p->ndim >= 2 && !strstr(p->name, "freq")) {
            float a = 1.0f / sqrtf((float)(p->numel / (size_t)p->shape[0]));
            ds_test_fill_uniform(x, (long)p->numel, -a, a, (unsigned)i);
        }
    }
    return m;
}

TEST(test_hyenadna_tiny_1k_has_the_official_parameter_count)
{
    const char *norms[] = { "layernorm", "derf", "dyt" };
    const size_t want[] = { 436096, 436096 + 10, 436096 + 5 };   /* hyenadna.md §1.5 */
    for (int k = 0; k < 3; k++) {
        char *json = NULL;
        CHECK_EQ_INT(ds_preset_config_json("hyenadna-tiny-1k", norms[k], NAN, &json), 0);
        ds_model *m = NULL;
        CHECK_EQ_INT(ds_model_from_json(&m, json), 0);
        if (m) CHECK_EQ_INT(ds_params_count(&m->params), want[k]);
        ds_model_free(m);
        free(json);
    }
}

TEST(test_hyenadna_uses_official_state_dict_names)
{
    ds_model *m = tiny_model(DS_NORM_DERF, 0);
    const char *names[] = {
        "hyena.backbone.embeddings.word_embeddings.weight",
        "hyena.backbone.layers.1.mixer.in_proj.weight",
        "hyena.backbone.layers.1.mixer.short_filter.weight",
        "hyena.backbone.layers.0.mixer.filter_fn.pos_emb.z",
        "hyena.backbone.layers.0.mixer.filter_fn.implicit_filter.5.freq",
        "hyena.backbone.layers.0.mixer.filter_fn.implicit_filter.6.weight",
        "hyena.backbone.layers.0.mixer.filter_fn.modulation.deltas",
        "hyena.backbone.layers.0.norm1.shift",
        "hyena.backbone.layers.1.mlp.fc2.bias",
        "hyena.backbone.ln_f.alpha",
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        CHECK_MSG(ds_params_find(&m->params, names[i]) >= 0, "missing %s", names[i]);
    CHECK(ds_params_find(&m->params, "hyena.backbone.layers.0.mixer.filter_fn.implicit_filter.6.bias") < 0);
    int f1 = ds_params_find(&m->params, "hyena.backbone.layers.0.mixer.filter_fn.implicit_filter.1.freq");
    int f3 = ds_params_find(&m->params, "hyena.backbone.layers.0.mixer.filter_fn.implicit_filter.3.freq");
    CHECK(m->params.p[f1].offset == m->params.p[f3].offset);   /* one shared Sin frequency */
    CHECK_EQ_INT(m->vocab, 16);
    ds_model_free(m);
}

typedef struct { ds_model *m; int32_t ids[2 * 12]; int B, L; } enc_case;

static void enc_fwd(void *ctx, float *out)
{
    enc_case *t = ctx;
    t->m->vt->encode(t->m, t->ids, t->B, t->L, 1, 3, 5);
    memcpy(out, t->m->hidden, sizeof(float) * t->B * t->L * t->m->d_model);
}

static void check_encoder_gradients(ds_norm_kind norm)
{
    enc_case t = { .m = tiny_model(norm, 0.1f), .B = 2, .L = 12 };
    for (int i = 0; i < t.B * t.L; i++) t.ids[i] = 7 + (i * 5 + i / 3) % 5;
    t.ids[3] = 4;
    ds_model *m = t.m;
    CHECK_EQ_INT(m->vt->reserve(m, t.B, t.L), 0);
    long nout = (long)t.B * t.L * m->d_model;
    float *w = malloc(sizeof(float) * nout), *out = malloc(sizeof(float) * nout);
    ds_test_fill_uniform(w, nout, -1, 1, 11);
    enc_fwd(&t, out);
    ds_params_zero_grad(&m->params);
    m->vt->encode_backward(m, w);
    gc_input in[256];
    int nin = 0;
    for (int i = 0; i < m->params.n && nin < 256; i++) {
        ds_param *p = &m->params.p[i];
        /* freq's effect on the outputs is below the float noise of this
         * whole-model check; the implicit-filter test covers it */
        if (!p->trainable || strstr(p->name, ".freq")) continue;
        /* the first filter layer feeds sin(10·x): a smaller step */
        float eps = strstr(p->name, "implicit_filter.0.") ? 1e-3f : 0.0f;
        in[nin++] = (gc_input){ p->name, ds_params_data(&m->params, i), ds_params_grad(&m->params, i), (long)p->numel,
                                eps };
    }
    /* Whole-model finite differences in float32 are limited by rounding:
     * every hidden value carries ~1e-7 relative noise that moves with any
     * parameter, ~1e-4 in the difference quotient at a step of 1e-2. Normwise
     * over the probed entries the worst tensor seen is 7.7e-3 (layers.1
     * short_filter, under five OpenBLAS kernels); a wrong term shows as O(1).
     * Each op is checked tightly on its own, and the model against the
     * PyTorch twin's gradients at 1e-4. */
    double e = gc_check(enc_fwd, &t, nout, w, in, nin, 1e-2f, 24, 5e-2);
    CHECK_MSG(e <= 5e-2, "%s encoder gradients vs finite differences: worst %.3g", ds_norm_ops_get(norm)->name, e);
    free(w); free(out);
    ds_model_free(m);
}

TEST(test_hyenadna_derf_encoder_backward_matches_finite_differences) { check_encoder_gradients(DS_NORM_DERF); }
TEST(test_hyenadna_layernorm_encoder_backward_matches_finite_differences) { check_encoder_gradients(DS_NORM_LAYERNORM); }

typedef struct { ds_model *m; float k[12 * 16]; } filt_case;
static void filt_fwd(void *ctx, float *out) { filt_case *t = ctx; ds_hyena_filter(t->m, 1, out); }

TEST(test_hyenadna_implicit_filter_backward_matches_finite_differences)
{
    filt_case t = { .m = tiny_model(DS_NORM_DERF, 0) };
    ds_model *m = t.m;
    m->vt->reserve(m, 1, 12);
    long nout = 12L * m->d_model;
    float w[12 * 16];
    ds_test_fill_uniform(w, nout, -1, 1, 5);
    CHECK_EQ_INT(ds_hyena_filter(m, 1, t.k), 0);
    ds_params_zero_grad(&m->params);
    CHECK_EQ_INT(ds_hyena_filter_backward(m, 1, w), 0);
    const char *names[] = { "0.weight", "0.bias", "1.freq", "2.weight", "2.bias", "4.weight", "4.bias", "6.weight" };
    gc_input in[8];
    for (int i = 0; i < 8; i++) {
        char nm[160];
        snprintf(nm, sizeof nm, "hyena.backbone.layers.1.mixer.filter_fn.implicit_filter.%s", names[i]);
        int k = ds_params_find(&m->params, nm);
        in[i] = (gc_input){ names[i], ds_params_data(&m->params, k), ds_params_grad(&m->params, k),
                            (long)m->params.p[k].numel };
    }
    /* freq multiplies inputs of size ~1 by 10, so the step is small; its
     * gradient is ~1e-4, where float rounding of k limits agreement to ~1e-2 */
    CHECK(gc_check(filt_fwd, &t, nout, w, in, 8, 1e-3f, 64, 2e-2) <= 2e-2);
    ds_model_free(m);
}

typedef struct { ds_model *m; ds_lm_head head; int32_t ids[12], tgt[12]; } lm_case;

static void lm_fwd(void *ctx, float *out)
{
    lm_case *t = ctx;
    t->m->vt->encode(t->m, t->ids, 1, 12, 0, 0, 0);
    out[0] = ds_lm_head_loss(&t->head, t->m, t->tgt, -100);
}

TEST(test_hyenadna_tied_lm_head_gradient_matches_finite_differences)
{
    lm_case t = { .m = tiny_model(DS_NORM_DYT, 0) };
    memset(&t.head, 0, sizeof t.head);
    for (int i = 0; i < 12; i++) { t.ids[i] = 7 + (i * 3) % 5; t.tgt[i] = 7 + (i * 3 + 3) % 5; }
    ds_model *m = t.m;
    m->vt->reserve(m, 1, 12);
    ds_lm_head_reserve(&t.head, m, 1, 12);
    float loss, one = 1.0f;
    lm_fwd(&t, &loss);
    CHECK(loss > 1.0f && loss < 4.0f);   /* about ln 16 at init */
    ds_params_zero_grad(&m->params);
    ds_lm_head_backward(&t.head, m, 1.0f);
    /* the embedding gets both the input and the output (tied) gradient */
    gc_input in[] = { { "embedding", ds_params_data(&m->params, m->emb_index), ds_params_grad(&m->params, m->emb_index),
                        (long)m->params.p[m->emb_index].numel } };
    CHECK(gc_check(lm_fwd, &t, 1, &one, in, 1, 1e-2f, 64, 2e-2) <= 2e-2);
    ds_lm_head_free(&t.head);
    ds_model_free(m);
}

TEST(test_hyenadna_is_causal)
{
    ds_model *m = tiny_model(DS_NORM_DERF, 0);
    enum { L = 20 };
    int32_t ids[L];
    for (int i = 0; i < L; i++) ids[i] = 7 + (i * 7) % 5;
    m->vt->reserve(m, 1, L);
    size_t d = (size_t)m->d_model;
    float *a = malloc(sizeof(float) * L * d);
    m->vt->encode(m, ids, 1, L, 0, 0, 0);
    memcpy(a, m->hidden, sizeof(float) * L * d);
    for (int t = 1; t < L; t += 6) {
        ids[t] = ids[t] == 7 ? 8 : 7;
        m->vt->encode(m, ids, 1, L, 0, 0, 0);
        /* The FFT mixes positions in the frequency domain, so earlier outputs
         * move by rounding only: compare with the change at t itself. */
        double before = 0, at = 0;
        for (size_t i = 0; i < (size_t)t * d; i++) before = fmax(before, fabs(a[i] - m->hidden[i]));
        for (size_t i = (size_t)t * d; i < (size_t)(t + 1) * d; i++) at = fmax(at, fabs(a[i] - m->hidden[i]));
        CHECK_MSG(before < 1e-5 && at > 1e-2, "token %d: earlier outputs moved %.3g, its own %.3g", t, before, at);
        memcpy(a, m->hidden, sizeof(float) * L * d);
    }
    free(a);
    ds_model_free(m);
}

TEST(test_hyenadna_rejects_inputs_longer_than_l_max)
{
    ds_model *m = tiny_model(DS_NORM_DERF, 0);
    CHECK(m->vt->reserve(m, 1, 25) < 0);
    CHECK(m->vt->reserve(m, 1, 24) == 0);
    int32_t ids[24] = {0};
    ids[5] = 16;
    CHECK(m->vt->encode(m, ids, 1, 24, 0, 0, 0) < 0);   /* token id outside the embedding */
    ds_model_free(m);
}

static ds_model *derf_with_dropout(void) { return tiny_model(DS_NORM_DERF, 0.1f); }

TEST(test_hyenadna_gradients_do_not_depend_on_thread_count)
{
    int32_t ids[2 * 16], tgt[2 * 16];
    for (int i = 0; i < 32; i++) { ids[i] = 7 + (i * 3) % 5; tgt[i] = 7 + (i * 3 + 1) % 5; }
    check_gradients_do_not_depend_on_thread_count(derf_with_dropout, ids, tgt, 2, 16);
}

TEST(test_hyenadna_per_role_alpha_init_reaches_norm1_norm2_and_ln_f)
{
    char *json = NULL;
    CHECK_EQ_INT(ds_preset_config_json("hyenadna-demo", "dyt", 0.3f, &json), 0);
    CHECK_EQ_INT(ds_config_set_role_alphas(&json, 0.8f, NAN, 0.2f), 0);
    ds_model *m = NULL;
    CHECK_EQ_INT(ds_model_from_json(&m, json), 0);
    if (!m) { free(json); return; }
    m->vt->init_weights(m, 1);
    const char *names[3] = { "hyena.backbone.layers.1.norm1.alpha", "hyena.backbone.layers.1.norm2.alpha",
                             "hyena.backbone.ln_f.alpha" };
    const float want[3] = { 0.8f, 0.3f, 0.2f };   /* ffn falls back to --alpha-init */
    for (int i = 0; i < 3; i++) {
        int k = ds_params_find(&m->params, names[i]);
        CHECK_MSG(k >= 0 && ds_params_data(&m->params, k)[0] == want[i], "%s", names[i]);
    }
    ds_model_free(m);
    free(json);
}

static int decays(const ds_model *m, const char *name)
{
    int i = ds_params_find(&m->params, name);
    CHECK_MSG(i >= 0, "no %s", name);
    return i >= 0 && m->params.p[i].decay;
}

/* add_optimizer_hooks of the official recipe: nn.Embedding and nn.LayerNorm
 * blacklisted, biases and HyenaFilter's _optim tensors at wd 0; Derf/DyT
 * are custom modules, so their weight, alpha and shift are decayed. */
TEST(test_hyenadna_official_decay_groups_follow_the_official_optimizer_hooks)
{
    for (int k = 0; k < 2; k++) {
        ds_model *m = tiny_model(k ? DS_NORM_LAYERNORM : DS_NORM_DERF, 0);
        CHECK(decays(m, "hyena.backbone.embeddings.word_embeddings.weight"));   /* derfseq's own groups */
        CHECK(!decays(m, "hyena.backbone.layers.0.norm1.weight"));
        ds_model_set_decay_groups(m, DS_DECAY_OFFICIAL);
        CHECK(!decays(m, "hyena.backbone.embeddings.word_embeddings.weight"));
        CHECK(decays(m, "hyena.backbone.layers.0.mixer.in_proj.weight"));
        CHECK(decays(m, "hyena.backbone.layers.1.mlp.fc2.weight"));
        CHECK(decays(m, "hyena.backbone.layers.0.mixer.short_filter.weight"));
        CHECK(!decays(m, "hyena.backbone.layers.0.mixer.in_proj.bias"));
        CHECK(!decays(m, "hyena.backbone.layers.0.mixer.filter_fn.implicit_filter.0.weight"));
        CHECK(!decays(m, "hyena.backbone.layers.0.mixer.filter_fn.implicit_filter.1.freq"));
        CHECK(!decays(m, "hyena.backbone.ln_f.bias"));
        CHECK_EQ_INT(decays(m, "hyena.backbone.layers.0.norm1.weight"), !k);
        CHECK_EQ_INT(decays(m, "hyena.backbone.ln_f.weight"), !k);
        if (!k) {
            CHECK(decays(m, "hyena.backbone.layers.0.norm1.alpha"));
            CHECK(decays(m, "hyena.backbone.layers.1.norm2.shift"));
        }
        ds_model_free(m);
    }
}

TEST(test_hyenadna_embedding_init_std_is_the_configs)
{
    for (int k = 0; k < 2; k++) {
        ds_hyena_config c;
        ds_hyena_config_default(&c);
        c.d_model = 64; c.n_layer = 1; c.d_inner = 64; c.l_max = 24; c.filter_order = 8;
        c.init_embed_std = k ? 0.3f : DS_HYENA_OFFICIAL_EMBED_STD;
        ds_model *m = NULL;
        CHECK_EQ_INT(ds_hyena_create(&m, &c), 0);
        if (!m) continue;
        m->vt->init_weights(m, 3);
        const float *x = ds_params_data(&m->params, m->emb_index);
        size_t n = m->params.p[m->emb_index].numel;
        double ss = 0;
        for (size_t i = 0; i < n; i++) ss += (double)x[i] * x[i];
        double sd = sqrt(ss / (double)n);
        CHECK_MSG(fabs(sd / c.init_embed_std - 1) < 0.1, "embedding std %.4f, config %.4f", sd, (double)c.init_embed_std);
        char *json = m->vt->config_json(m);
        CHECK(json && strstr(json, "\"init_embed_std\""));
        free(json);
        ds_model_free(m);
    }
}

/* Inference reserves one block's buffers for all blocks, aliased stage by
 * stage (layout_eval), and one FFT convolution: the hidden states are bitwise
 * those of the training layout, with every norm (their stats buffers are
 * shared too), 3 layers so the residual ping-pong ends on either buffer; the
 * last block's output stays available, earlier ones are refused; training
 * afterwards reserves its own layout again and runs a backward. */
TEST(test_hyenadna_inference_layout_gives_the_training_layouts_hidden_states)
{
    const ds_norm_kind norms[] = { DS_NORM_DERF, DS_NORM_LAYERNORM, DS_NORM_RMSNORM, DS_NORM_DYT };
    for (int k = 0; k < 4; k++)
        for (int nl = 2; nl <= 3; nl++) {
            ds_hyena_config c;
            ds_hyena_config_default(&c);
            c.d_model = 16; c.n_layer = nl; c.d_inner = 32; c.l_max = 40; c.filter_order = 8; c.norm = norms[k];
            ds_model *m = NULL;
            CHECK_EQ_INT(ds_hyena_create(&m, &c), 0);
            if (!m) return;
            m->vt->init_weights(m, 3);
            enum { B = 3, L = 37 };
            int32_t ids[B * L];
            for (int i = 0; i < B * L; i++) ids[i] = 7 + (i * 5 + i / 7) % 4;
            size_t nd = (size_t)B * L * 16;
            float *want = malloc(nd * sizeof(float)), *last = malloc(nd * sizeof(float));
            CHECK_EQ_INT(m->vt->reserve(m, B, L), 0);
            CHECK_EQ_INT(m->vt->encode(m, ids, B, L, 0, 0, 0), 0);
            memcpy(want, m->hidden, nd * sizeof(float));
            memcpy(last, m->vt->layer_output(m, nl - 1), nd * sizeof(float));
            m->eval_only = 1;
            CHECK_EQ_INT(m->vt->reserve(m, B, L), 0);
            CHECK_EQ_INT(m->vt->encode(m, ids, B, L, 0, 0, 0), 0);
            CHECK_MSG(!memcmp(want, m->hidden, nd * sizeof(float)), "norm %d, %d layers: hidden states differ", k, nl);
            const float *lo = m->vt->layer_output(m, nl - 1);
            CHECK(lo && !memcmp(last, lo, nd * sizeof(float)));
            CHECK(m->vt->layer_output(m, 0) == NULL);
            CHECK(m->vt->encode(m, ids, B, L, 1, 0, 0) < 0);   /* no training on an inference layout */
            m->eval_only = 0;
            ds_lm_head head = {0};
            CHECK_EQ_INT(m->vt->reserve(m, B, L), 0);
            CHECK_EQ_INT(ds_lm_head_reserve(&head, m, B, L), 0);
            CHECK_EQ_INT(m->vt->encode(m, ids, B, L, 1, 1, 0), 0);
            ds_lm_head_loss(&head, m, ids, 4);
            ds_params_zero_grad(&m->params);
            ds_lm_head_backward(&head, m, 1.0f);
            double g = 0;
            for (size_t i = 0; i < m->params.total; i++) g += fabs(m->params.grad[i]);
            CHECK(g > 0 && g == g);
            ds_lm_head_free(&head);
            free(want); free(last);
            ds_model_free(m);
        }
}
