/* Caduceus (caduceus.md): official parameter counts and names, every
 * gradient of the encoder, the RCPS LM head and the feature path against
 * finite differences, RC equivariance of PS (bit-exact, as in the official
 * code), RC invariance of Ph conjoining, inference layout = training
 * layout, thread-count independence, and the length limit. */
#include "test.h"
#include "golden_model.h"
#include "caduceus.h"
#include "gradcheck.h"
#include "heads.h"
#include "presets.h"
#include "core/error.h"
#include "io/checkpoint.h"
#include "nn/ops.h"

#include <omp.h>
#include <stdlib.h>
#include <string.h>

#define CHECK_ERRMSG(sub) CHECK_MSG(strstr(ds_errmsg(), sub) != NULL, "message \"%s\" lacks \"%s\"", ds_errmsg(), sub)

/* A tiny model off its init: norms moved, every matrix ~1/√fan_in, the
 * embedding large enough that Derf leaves its linear range. */
static ds_model *tiny(int rcps, int fused, ds_norm_kind norm)
{
    ds_caduceus_config c;
    ds_caduceus_config_default(&c);
    c.d_model = 8; c.n_layer = 2; c.max_len = 40; c.rcps = rcps; c.fused_add_norm = fused; c.norm = norm;
    c.d_state = 4;
    ds_model *m = NULL;
    if (ds_caduceus_create(&m, &c)) return NULL;
    m->vt->init_weights(m, 5);
    for (int i = 0; i < m->params.n; i++) {
        ds_param *p = &m->params.p[i];
        float *x = ds_params_data(&m->params, i);
        if (p->alias_of >= 0) continue;
        if (strstr(p->name, ".norm"))
            for (size_t k = 0; k < p->numel; k++) x[k] += 0.1f * (float)((k * 7 + i) % 5) - 0.2f;
        else if (i == m->emb_index) ds_test_fill_uniform(x, (long)p->numel, -0.5f, 0.5f, (unsigned)i);
        else if (strstr(p->name, "_proj.weight")) {
            float a = 2.0f / sqrtf((float)(p->numel / (size_t)p->shape[0]));
            ds_test_fill_uniform(x, (long)p->numel, -a, a, (unsigned)i);
        }
        /* Δ = softplus(dt) near 0.3-1.3 instead of the official 0.001-0.1,
         * so the scan (not only the D skip) carries gradients well above
         * float32 noise */
        else if (strstr(p->name, "dt_proj.bias")) ds_test_fill_uniform(x, (long)p->numel, -1.0f, 1.0f, (unsigned)i);
        else if (strstr(p->name, ".D"))
            for (size_t k = 0; k < p->numel; k++) x[k] += 0.3f * (float)((k * 3 + i) % 7) / 7.0f;
    }
    return m;
}

static void ids_fill(int32_t *ids, int n)
{
    for (int i = 0; i < n; i++) ids[i] = 7 + (i * 5 + i / 3) % 5;   /* A C G T N */
    ids[2] = 3;                                                       /* [MASK] */
}

static size_t count_of(const char *preset, const char *norm)
{
    char *json = NULL;
    ds_model *m = NULL;
    size_t n = 0;
    if (!ds_preset_config_json(preset, norm, NAN, &json) && !ds_model_from_json(&m, json)) n = ds_params_count(&m->params);
    ds_model_free(m);
    free(json);
    return n;
}

TEST(test_caduceus_presets_have_the_official_parameter_counts)
{
    /* caduceus.md §2.7: 482,560 per d-256 layer, x16, + embedding 4,096 + norm_f 256 */
    CHECK_EQ_INT(count_of("caduceus-ps-131k", "rmsnorm"), 7725312);
    CHECK_EQ_INT(count_of("caduceus-ph-131k", "rmsnorm"), 7725312);
    /* d 118, E 236, R 8: 117,174 per layer, x4, + 1,888 + 118 ("0.47 M") */
    CHECK_EQ_INT(count_of("caduceus-ps-1k", "rmsnorm"), 470702);
    /* Derf adds alpha, shift and a bias to each of the 5 norms */
    CHECK_EQ_INT(count_of("caduceus-ps-1k", "derf"), 470702 + 5 * (118 + 2));
}

TEST(test_caduceus_uses_official_state_dict_names)
{
    ds_model *ps = tiny(1, 1, DS_NORM_RMSNORM), *psu = tiny(1, 0, DS_NORM_DERF), *ph = tiny(0, 0, DS_NORM_DYT);
    const char *ps_names[] = {
        "caduceus.backbone.embeddings.word_embeddings.embedding.weight",
        "caduceus.backbone.layers.1.mixer.submodule.mamba_fwd.in_proj.weight",
        "caduceus.backbone.layers.1.mixer.submodule.mamba_rev.conv1d.bias",
        "caduceus.backbone.layers.0.mixer.submodule.mamba_rev.A_log",
        "caduceus.backbone.layers.0.norm.weight",
        "caduceus.backbone.norm_f.weight",
    };
    for (size_t i = 0; i < sizeof ps_names / sizeof ps_names[0]; i++)
        CHECK_MSG(ds_params_find(&ps->params, ps_names[i]) >= 0, "PS lacks %s", ps_names[i]);
    CHECK(ds_params_find(&psu->params, "caduceus.backbone.layers.1.norm.submodule.shift") >= 0);
    CHECK(ds_params_find(&psu->params, "caduceus.backbone.norm_f.submodule.bias") >= 0);
    CHECK(ds_params_find(&ph->params, "caduceus.backbone.embeddings.word_embeddings.weight") >= 0);
    CHECK(ds_params_find(&ph->params, "caduceus.backbone.layers.0.mixer.mamba_fwd.x_proj.weight") >= 0);
    CHECK(ds_params_find(&ph->params, "caduceus.backbone.layers.0.norm.alpha") >= 0);
    /* in_proj and out_proj are shared between directions */
    int f = ds_params_find(&ps->params, "caduceus.backbone.layers.0.mixer.submodule.mamba_fwd.out_proj.weight");
    int r = ds_params_find(&ps->params, "caduceus.backbone.layers.0.mixer.submodule.mamba_rev.out_proj.weight");
    CHECK(f >= 0 && r >= 0 && ps->params.p[f].offset == ps->params.p[r].offset);
    CHECK_EQ_INT(ps->vocab, 16);
    CHECK_EQ_INT(ps->d_model, 16);   /* PS hidden: both strands */
    CHECK_EQ_INT(ps->d_feat, 8);
    ds_model_free(ps); ds_model_free(psu); ds_model_free(ph);
}

TEST(test_caduceus_fused_add_norm_with_derf_is_refused_naming_the_key)
{
    ds_model *m = NULL;
    int r = ds_model_from_json(&m, "{\"arch\": \"caduceus\", \"rcps\": true, \"fused_add_norm\": true, \"norm\": \"derf\"}");
    CHECK(r != 0 && !m);
    CHECK_ERRMSG("'fused_add_norm'");
    r = ds_model_from_json(&m, "{\"arch\": \"caduceus\", \"bidirectional_strategy\": \"ew_multiply\"}");
    CHECK(r != 0 && !m);
    CHECK_ERRMSG("bidirectional_strategy");
}

/* ---- finite differences ------------------------------------------------ */

typedef struct { ds_model *m; ds_lm_head head; int32_t ids[2 * 19], tgt[2 * 19]; int B, L, mode; float *feat; } fd_case;

static void fd_fwd(void *ctx, float *out)
{
    fd_case *t = ctx;
    ds_model *m = t->m;
    m->vt->encode(m, t->ids, t->B, t->L, 1, 0, 0);
    size_t nb = (size_t)t->B * t->L;
    if (t->mode == 0) memcpy(out, m->hidden, sizeof(float) * nb * m->d_model);
    else if (t->mode == 1) {
        ds_lm_head_loss(&t->head, m, t->tgt, 4);
        memcpy(out, t->head.logits, sizeof(float) * nb * m->vocab);
    } else m->vt->features(m, out);
}

/* mode 0: hidden → encode_backward; 1: logits → the LM head's backward;
 * 2: features → features_backward */
static void check_gradients(ds_model *m, int mode, const char *what)
{
    fd_case t = { .m = m, .B = 2, .L = 19, .mode = mode };
    ids_fill(t.ids, t.B * t.L);
    for (int i = 0; i < t.B * t.L; i++) t.tgt[i] = i % 3 ? 4 : 7 + i % 4;
    CHECK_EQ_INT(m->vt->reserve(m, t.B, t.L), 0);
    ds_lm_head_reserve(&t.head, m, t.B, t.L);
    size_t nb = (size_t)t.B * t.L;
    long nout = (long)nb * (mode == 0 ? m->d_model : mode == 1 ? m->vocab : m->d_feat);
    float *w = malloc(sizeof(float) * nout), *out = malloc(sizeof(float) * nout);
    ds_test_fill_uniform(w, nout, -1, 1, 11);
    fd_fwd(&t, out);
    ds_params_zero_grad(&m->params);
    if (mode == 0) m->vt->encode_backward(m, w);
    else if (mode == 1) {
        if (m->vt->lm_backward) m->vt->lm_backward(m, w);
        else {   /* the tied head: through heads.c with dlogits = w */
            memcpy(t.head.dlogits, w, sizeof(float) * nout);
            float *dh = calloc(nb * m->d_model, sizeof(float));
            float *E = ds_params_data(&m->params, m->emb_index), *dE = ds_params_grad(&m->params, m->emb_index);
            ds_linear_backward(dh, dE, NULL, w, m->hidden, E, (int)nb, m->d_model, m->vocab);
            m->vt->encode_backward(m, dh);
            free(dh);
        }
    } else m->vt->features_backward(m, w);
    gc_input in[256];
    int nin = 0;
    for (int i = 0; i < m->params.n && nin < 256; i++) {
        ds_param *p = &m->params.p[i];
        if (!p->trainable || p->alias_of >= 0) continue;
        in[nin++] = (gc_input){ p->name, ds_params_data(&m->params, i), ds_params_grad(&m->params, i), (long)p->numel, 0 };
    }
    /* whole-model float32 differences: see test_hyenadna.c for the bound */
    double e = gc_check(fd_fwd, &t, nout, w, in, nin, 5e-2f, 24, 5e-2);
    CHECK_MSG(e <= 5e-2, "%s gradients vs finite differences: worst %.3g", what, e);
    free(w); free(out);
    ds_lm_head_free(&t.head);
    ds_model_free(m);
}

TEST(test_caduceus_ps_fused_rmsnorm_encoder_backward_matches_finite_differences)
{
    check_gradients(tiny(1, 1, DS_NORM_RMSNORM), 0, "PS fused rmsnorm");
}
TEST(test_caduceus_ps_unfused_derf_encoder_backward_matches_finite_differences)
{
    check_gradients(tiny(1, 0, DS_NORM_DERF), 0, "PS unfused derf");
}
TEST(test_caduceus_ph_layernorm_encoder_backward_matches_finite_differences)
{
    check_gradients(tiny(0, 0, DS_NORM_LAYERNORM), 0, "Ph layernorm");
}
TEST(test_caduceus_ps_rcps_lm_head_backward_matches_finite_differences)
{
    check_gradients(tiny(1, 1, DS_NORM_RMSNORM), 1, "PS LM head");
}
TEST(test_caduceus_ps_feature_backward_matches_finite_differences)
{
    check_gradients(tiny(1, 0, DS_NORM_DYT), 2, "PS features");
}
TEST(test_caduceus_ph_conjoined_feature_backward_matches_finite_differences)
{
    ds_model *m = tiny(0, 0, DS_NORM_DERF);
    m->rc_conjoin = 1;
    check_gradients(m, 2, "Ph conjoined features");
}

/* ---- reverse-complement symmetry --------------------------------------- */

/* Runs the model on ids and on rc(ids); copies hidden (or features) and
 * logits of both. */
static void run_both(ds_model *m, const int32_t *ids, int L, int feat, float *h1, float *h2, float *lg1, float *lg2)
{
    int32_t rc[64];
    ds_caduceus_rc_ids(m, ids, rc, 1, L);
    ds_lm_head head = {0};
    m->vt->reserve(m, 1, L);
    ds_lm_head_reserve(&head, m, 1, L);
    int32_t tgt[64];
    for (int i = 0; i < L; i++) tgt[i] = 7;
    size_t w = feat ? (size_t)m->d_feat : (size_t)m->d_model;
    for (int k = 0; k < 2; k++) {
        m->vt->encode(m, k ? rc : ids, 1, L, 0, 0, 0);
        if (feat) m->vt->features(m, k ? h2 : h1);
        else memcpy(k ? h2 : h1, m->hidden, sizeof(float) * L * w);
        if (lg1) {
            ds_lm_head_loss(&head, m, tgt, 4);
            memcpy(k ? lg2 : lg1, head.logits, sizeof(float) * L * m->vocab);
        }
    }
    ds_lm_head_free(&head);
}

static void check_rc_equivariance(int fused, ds_norm_kind norm)
{
    ds_model *m = tiny(1, fused, norm);
    const int L = 37;
    int32_t ids[64];
    ids_fill(ids, L);
    int C2 = m->d_model, V = m->vocab;
    float *h1 = malloc(sizeof(float) * L * C2), *h2 = malloc(sizeof(float) * L * C2);
    float *l1 = malloc(sizeof(float) * L * V), *l2 = malloc(sizeof(float) * L * V);
    run_both(m, ids, L, 0, h1, h2, l1, l2);
    static const int comp[16] = { 0, 1, 2, 3, 4, 5, 6, 10, 9, 8, 7, 11, 12, 13, 14, 15 };
    long bad_h = 0, bad_l = 0;
    for (int t = 0; t < L; t++) {
        for (int c = 0; c < C2; c++) bad_h += h2[t * C2 + c] != h1[(L - 1 - t) * C2 + (C2 - 1 - c)];
        for (int v = 0; v < V; v++) bad_l += l2[t * V + v] != l1[(L - 1 - t) * V + comp[v]];
    }
    CHECK_MSG(!bad_h, "H(rc x) != flip_{L,C} H(x) at %ld of %d values", bad_h, L * C2);
    CHECK_MSG(!bad_l, "logits(rc x)[t, v] != logits(x)[L-1-t, comp v] at %ld of %d values", bad_l, L * V);
    free(h1); free(h2); free(l1); free(l2);
    ds_model_free(m);
}

TEST(test_caduceus_ps_fused_is_exactly_rc_equivariant) { check_rc_equivariance(1, DS_NORM_RMSNORM); }
TEST(test_caduceus_ps_unfused_derf_is_exactly_rc_equivariant) { check_rc_equivariance(0, DS_NORM_DERF); }

/* The features of rc(x) are those of x, position by position reversed,
 * bit for bit; takes ownership of m. */
static void check_features_rc_invariant(ds_model *m, int L, const char *what)
{
    const int D = m->d_feat;
    int32_t ids[64];
    ids_fill(ids, L);
    float *f1 = malloc(sizeof(float) * L * D), *f2 = malloc(sizeof(float) * L * D);
    run_both(m, ids, L, 1, f1, f2, NULL, NULL);
    long bad = 0;
    for (int t = 0; t < L; t++)
        for (int c = 0; c < D; c++) bad += f2[t * D + c] != f1[(L - 1 - t) * D + c];
    CHECK_MSG(!bad, "%s of rc(x) differ from those of x reversed at %ld values", what, bad);
    free(f1); free(f2);
    ds_model_free(m);
}

TEST(test_caduceus_ph_conjoined_features_are_rc_invariant)
{
    ds_model *m = tiny(0, 0, DS_NORM_DERF);
    m->rc_conjoin = 1;
    check_features_rc_invariant(m, 29, "Ph conjoined features");
}

TEST(test_caduceus_ps_features_are_rc_invariant) { check_features_rc_invariant(tiny(1, 1, DS_NORM_RMSNORM), 21, "PS features"); }

TEST(test_caduceus_fused_and_unfused_ps_are_different_functions)
{
    ds_model *a = tiny(1, 1, DS_NORM_RMSNORM), *b = tiny(1, 0, DS_NORM_RMSNORM);
    /* the same values under the two names */
    for (int i = 0; i < a->params.n; i++) memcpy(ds_params_data(&b->params, i), ds_params_data(&a->params, i),
                                                 sizeof(float) * a->params.p[i].numel);
    int32_t ids[20];
    ids_fill(ids, 20);
    a->vt->reserve(a, 1, 20);
    b->vt->reserve(b, 1, 20);
    a->vt->encode(a, ids, 1, 20, 0, 0, 0);
    b->vt->encode(b, ids, 1, 20, 0, 0, 0);
    double diff = 0, norm = 0;
    for (int i = 0; i < 20 * a->d_model; i++) {
        diff += fabs(a->hidden[i] - b->hidden[i]);
        norm += fabs(b->hidden[i]);
    }
    CHECK_MSG(diff > 1e-2 * norm, "fused and unfused PS agree (%g vs %g): the half swap is missing", diff, norm);
    ds_model_free(a); ds_model_free(b);
}

/* ---- layouts, threads, limits ------------------------------------------ */

TEST(test_caduceus_inference_layout_gives_the_training_layouts_hidden_states)
{
    for (int k = 0; k < 2; k++) {
        ds_model *m = tiny(k, k, k ? DS_NORM_RMSNORM : DS_NORM_DERF);
        int32_t ids[3 * 33];
        ids_fill(ids, 3 * 33);
        size_t n = (size_t)3 * 33 * m->d_model;
        float *h = malloc(sizeof(float) * n);
        m->vt->reserve(m, 3, 33);
        m->vt->encode(m, ids, 3, 33, 1, 0, 0);
        memcpy(h, m->hidden, sizeof(float) * n);
        m->eval_only = 1;
        CHECK_EQ_INT(m->vt->reserve(m, 3, 33), 0);
        m->vt->encode(m, ids, 3, 33, 0, 0, 0);
        CHECK_MSG(!memcmp(h, m->hidden, sizeof(float) * n), "%s: inference hidden states differ", k ? "PS" : "Ph");
        free(h);
        ds_model_free(m);
    }
}

static ds_model *ps_fused(void) { return tiny(1, 1, DS_NORM_RMSNORM); }

TEST(test_caduceus_gradients_do_not_depend_on_thread_count)
{
    int32_t ids[2 * 35], tgt[2 * 35];
    ids_fill(ids, 70);
    for (int i = 0; i < 70; i++) tgt[i] = i % 4 ? 4 : 8;
    check_gradients_do_not_depend_on_thread_count(ps_fused, ids, tgt, 2, 35);
}

TEST(test_caduceus_rejects_inputs_longer_than_max_len)
{
    ds_model *m = tiny(1, 0, DS_NORM_DERF);
    CHECK(m->vt->reserve(m, 1, 41) != 0);
    CHECK_ERRMSG("max_len 40");
    CHECK_EQ_INT(m->vt->reserve(m, 1, 40), 0);
    ds_model_free(m);
}

TEST(test_caduceus_config_round_trips_through_json)
{
    ds_model *m = tiny(1, 1, DS_NORM_RMSNORM);
    char *j = m->vt->config_json(m);
    ds_caduceus_config c;
    CHECK_EQ_INT(ds_caduceus_config_from_json(&c, j), 0);
    CHECK_EQ_INT(c.d_model, 8);
    CHECK_EQ_INT(c.rcps, 1);
    CHECK_EQ_INT(c.fused_add_norm, 1);
    CHECK_EQ_INT(c.d_state, 4);
    CHECK_EQ_INT(c.dt_rank, 1);
    CHECK_EQ_INT(c.complement_map[7], 10);
    CHECK_EQ_INT(c.norm, DS_NORM_RMSNORM);
    free(j);
    ds_model_free(m);
}

/* A checkpoint whose tensors do not fit the model named in its config:
 * the message names the tensor and both shapes. */
TEST(test_caduceus_checkpoint_with_a_misshaped_or_missing_tensor_is_refused_naming_it)
{
    ds_model *ps = tiny(1, 0, DS_NORM_DERF), *ph = tiny(0, 0, DS_NORM_DERF), *m = NULL;
    char path[600];
    snprintf(path, sizeof path, "%s/cad_bad.safetensors", ds_test_tmpdir());
    /* d_state 4 tensors under a config that says d_state 16 */
    char *cfg = ps->vt->config_json(ps);
    char *p = strstr(cfg, "\"d_state\": 4");
    CHECK(p != NULL);
    if (p) memcpy(p, "\"d_state\":16", 12);
    CHECK_EQ_INT(ds_checkpoint_save(path, &ps->params, cfg), 0);
    CHECK(ds_model_load(&m, path) != 0 && !m);
    CHECK_ERRMSG("x_proj.weight' has wrong shape: expected [33,16], got [9,16]");
    free(cfg);
    /* Ph tensors under a PS config: the PS names are missing */
    cfg = ps->vt->config_json(ps);
    CHECK_EQ_INT(ds_checkpoint_save(path, &ph->params, cfg), 0);
    CHECK(ds_model_load(&m, path) != 0 && !m);
    CHECK_ERRMSG("word_embeddings.embedding.weight' is missing");
    free(cfg);
    ds_model_free(ps); ds_model_free(ph);
}
