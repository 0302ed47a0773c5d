/* wav2vec2's shapes and configuration (wav2vec2.md §3.1, §3.6, §3.9): the
 * presets' parameter counts against the published model, the conv length
 * formula, the Gumbel temperature schedule, the config round trip and its
 * one-line refusals, and which tensors a --norm swap adds. */
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
