/* wav2vec 2.0 (wav2vec2.md §3; see wav2vec2.h for what is computed).
 *
 * Layout. Activations are time-major [B·T, C] like every other model here.
 * The conv stack runs per utterance at its own length, so an utterance's
 * features never depend on what else is in the batch (GroupNorm normalises
 * over time, which padding would change); utterance b of conv layer i sits
 * at row b·T_i of that layer's buffer, T_i being the frames of the longest
 * reservable input. The transformer runs on [B, T] with key padding, and
 * padded frames are zeroed before the positional conv as HF and fairseq
 * do, so a padded batch gives each utterance the numbers it gets alone.
 *
 * Pretraining follows fairseq (wav2vec2.md §3.6-3.7): the quantizer and the
 * loss see only the masked frames, in (b, t) order; the loss is per masked
 * frame. Dropout and LayerDrop masks come from the counter RNG at
 * (seed, step, site), so backward recomputes them and --resume is exact. */
#include "wav2vec2.h"
#include "config.h"
#include "core/error.h"
#include "core/rng.h"
#include "io/audio.h"
#include "nn/ops.h"

#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RNG_STREAM_INIT 0x3000u
#define MAX_BATCH 1024
#define RNG_STREAM_DROP 0x57000000ull   /* + (step << 16) + site */

enum { SITE_PROJ = 1, SITE_ENC, SITE_QUANT, SITE_LAYERDROP, SITE_FINAL, SITE_LAYER0 = 16 };   /* 8 sites per layer */

typedef struct {
    float *q_w, *q_b, *k_w, *k_b, *v_w, *v_b, *o_w, *o_b, *f1_w, *f1_b, *f2_w, *f2_b;
    ds_norm_w ln1, ln2;   /* layer_norm (attention), final_layer_norm (FFN) */
} layer_w;

typedef struct {
    float *conv_w[DS_W2V_MAX_CONV], *conv_b[DS_W2V_MAX_CONV], *cn_w[DS_W2V_MAX_CONV], *cn_b[DS_W2V_MAX_CONV];
    float *fln_w, *fln_b, *proj_w, *proj_b, *mse;
    float *pos_g, *pos_v, *pos_b;
    ds_norm_w enc;
    layer_w *l;
    float *cv, *wp_w, *wp_b, *hid_w, *hid_b, *pq_w, *pq_b;
    float *lm_w, *lm_b;
} all_w;

typedef struct {
    float *N1, *st1, *Q, *K, *V, *Att, *probs, *R1, *N2, *st2, *F1, *G1, *G1d, *R2;
    float *out;            /* N2 (post-LN) or R2 (pre-LN) */
} layer_act;

typedef struct {
    ds_w2v_config cfg;
    const ds_norm_ops *norm;
    int H, FF, NH, Cl, GV, P, KN, Kp;
    all_w w, g;
    ds_arena arena;
    int eval_reserved, Bmax, Smax;
    long Smax_l;
    int Ti[DS_W2V_MAX_CONV];            /* frames of each conv layer for Smax samples */
    /* conv stack */
    float *wave;                        /* normalised copy of one utterance [Smax] */
    float *conv_out[DS_W2V_MAX_CONV], *cn_out[DS_W2V_MAX_CONV], *cn_st[DS_W2V_MAX_CONV], *act[DS_W2V_MAX_CONV];
    float *conv_scratch;
    /* encoder */
    float *Fn, *Fst, *X0, *Wpos, *pos_norms, *Pc, *X1, *E0, *Est, *Hf, *Hst, *keep;
    float *att_scratch;
    layer_act *a;
    uint8_t *skipped;                   /* LayerDrop: layers skipped in the last encode */
    /* backward */
    float *dS0, *dS1, *t1, *t2, *t3, *dQ, *dK, *dV, *dF1, *dG1, *dWpos, *dFn, *dF, *cd1, *cd2, *cd3;
    /* pretraining */
    int32_t *midx, *qidx;
    float *Qin, *QL, *soft, *avgp, *Qv, *Y, *Cx, *Cc, *cprobs, *dQin, *dQL, *dQv, *dY, *dCx, *dCc, *dhid;
    /* the last encode */
    int B, T, train, keep_i;
    int lens[MAX_BATCH];
    long nsamp[MAX_BATCH];
    const float *wv[MAX_BATCH];         /* the callers' waveforms, read again by backward */
    int pen_in_loss;                    /* backward adds the feature penalty's gradient */
    float pen_scale;                    /* ... times this (the loss's weight in the step) */
    uint8_t *mask;                      /* [Bmax·T] copy, or NULL */
    int has_mask;
    uint8_t *cmask;                     /* [Bmax·H] channel mask copy */
    int has_cmask;
    /* CTC head */
    float *Hd, *logits, *logp, *dlogp, *dHd;
    const float *ctc_in;                /* what lm_head read: hidden or Hd */
    float *ctc_scratch;
    size_t ctc_cap;
    int32_t *tgt;
    long tgt_cap;
    int tgl[MAX_BATCH], ctc_ready, ctc_loss_ready;
    uint64_t seed, step;
    double pen;
    long M;
    float tau;
    const float *gumbel;
    const int32_t *negp;
} w2v;

static w2v *W(const ds_model *m) { return m->impl; }

/* ---- configuration ---------------------------------------------------- */

void ds_w2v_config_default(ds_w2v_config *c)
{
    static const int k[7] = { 10, 3, 3, 3, 3, 2, 2 }, s[7] = { 5, 2, 2, 2, 2, 2, 2 };
    memset(c, 0, sizeof *c);
    snprintf(c->preset, sizeof c->preset, "custom");
    c->hidden_size = 768; c->num_hidden_layers = 12; c->num_attention_heads = 12; c->intermediate_size = 3072;
    c->n_conv = 7;
    for (int i = 0; i < 7; i++) { c->conv_dim[i] = 512; c->conv_kernel[i] = k[i]; c->conv_stride[i] = s[i]; }
    c->conv_bias = 0; c->feat_extract_norm_layer = 0; c->do_stable_layer_norm = 0;
    c->num_conv_pos_embeddings = 128; c->num_conv_pos_embedding_groups = 16;
    c->layer_norm_eps = 1e-5f;
    /* fairseq's Base pretraining recipe (wav2vec2_base_librispeech.yaml) */
    c->hidden_dropout = 0.1f; c->attention_dropout = 0.1f; c->activation_dropout = 0.0f;
    c->feat_proj_dropout = 0.1f; c->feat_quantizer_dropout = 0.1f; c->layerdrop = 0.05f;
    c->mask_time_prob = 0.65f; c->mask_time_length = 10; c->mask_time_min_masks = 2;
    c->num_codevectors_per_group = 320; c->num_codevector_groups = 2; c->codevector_dim = 256;
    c->proj_codevector_dim = 256; c->num_negatives = 100;
    c->contrastive_logits_temperature = 0.1f; c->diversity_loss_weight = 0.1f;
    c->feature_grad_mult = 0.1f; c->feature_penalty_weight = 10.0f;
    c->tau_max = 2.0; c->tau_min = 0.5; c->tau_decay = 0.999995;
    c->norm = DS_NORM_LAYERNORM; c->alpha_init = DS_NORM_ALPHA_INIT;
    c->normalize_audio = 0;
    c->vocab_size = 32; c->ctc_head = 0; c->pretraining_head = 1;
    /* HF's Wav2Vec2Config defaults; fine-tuning sets fairseq's recipe */
    c->final_dropout = 0.1f;
    c->mask_feature_prob = 0.0f; c->mask_feature_length = 10; c->mask_feature_min_masks = 0;
    c->vocab[0] = 0;
}

static json_t *int_array(const int *v, int n)
{
    json_t *a = json_array();
    for (int i = 0; i < n; i++) json_array_append_new(a, json_integer(v[i]));
    return a;
}

int ds_w2v_config_to_json(const ds_w2v_config *c, char **json)
{
    json_t *o = json_object();
    if (!o) return ds_err(DS_ENOMEM, "cannot build the wav2vec2 config JSON");
#define SI(k, v) json_object_set_new(o, k, json_integer(v))
#define SF(k, v) json_object_set_new(o, k, json_real((double)(v)))
#define SB(k, v) json_object_set_new(o, k, json_boolean(v))
    json_object_set_new(o, "arch", json_string("wav2vec2"));
    json_object_set_new(o, "preset", json_string(c->preset));
    SI("hidden_size", c->hidden_size); SI("num_hidden_layers", c->num_hidden_layers);
    SI("num_attention_heads", c->num_attention_heads); SI("intermediate_size", c->intermediate_size);
    json_object_set_new(o, "conv_dim", int_array(c->conv_dim, c->n_conv));
    json_object_set_new(o, "conv_kernel", int_array(c->conv_kernel, c->n_conv));
    json_object_set_new(o, "conv_stride", int_array(c->conv_stride, c->n_conv));
    SB("conv_bias", c->conv_bias);
    json_object_set_new(o, "feat_extract_norm", json_string(c->feat_extract_norm_layer ? "layer" : "group"));
    SB("do_stable_layer_norm", c->do_stable_layer_norm);
    SI("num_conv_pos_embeddings", c->num_conv_pos_embeddings);
    SI("num_conv_pos_embedding_groups", c->num_conv_pos_embedding_groups);
    SF("layer_norm_eps", c->layer_norm_eps);
    SF("hidden_dropout", c->hidden_dropout); SF("attention_dropout", c->attention_dropout);
    SF("activation_dropout", c->activation_dropout); SF("feat_proj_dropout", c->feat_proj_dropout);
    SF("feat_quantizer_dropout", c->feat_quantizer_dropout); SF("layerdrop", c->layerdrop);
    SF("mask_time_prob", c->mask_time_prob); SI("mask_time_length", c->mask_time_length);
    SI("mask_time_min_masks", c->mask_time_min_masks);
    SI("num_codevectors_per_group", c->num_codevectors_per_group);
    SI("num_codevector_groups", c->num_codevector_groups); SI("codevector_dim", c->codevector_dim);
    SI("proj_codevector_dim", c->proj_codevector_dim); SI("num_negatives", c->num_negatives);
    SF("contrastive_logits_temperature", c->contrastive_logits_temperature);
    SF("diversity_loss_weight", c->diversity_loss_weight);
    SF("feature_grad_mult", c->feature_grad_mult); SF("feature_penalty_weight", c->feature_penalty_weight);
    json_t *g = json_array();
    json_array_append_new(g, json_real(c->tau_max));
    json_array_append_new(g, json_real(c->tau_min));
    json_array_append_new(g, json_real(c->tau_decay));
    json_object_set_new(o, "gumbel_temperature", g);
    json_object_set_new(o, "norm", json_string(ds_norm_ops_get(c->norm)->name));
    SF("alpha_init", c->alpha_init);
    SB("normalize_audio", c->normalize_audio);
    SI("vocab_size", c->vocab_size);
    SB("pretraining_head", c->pretraining_head);
    SB("ctc_head", c->ctc_head);
    SF("final_dropout", c->final_dropout);
    SF("mask_feature_prob", c->mask_feature_prob); SI("mask_feature_length", c->mask_feature_length);
    SI("mask_feature_min_masks", c->mask_feature_min_masks);
    if (c->vocab[0]) {
        json_t *v = json_array();
        for (const char *p = c->vocab;;) {
            const char *e = strchr(p, '\n');
            json_array_append_new(v, json_stringn(p, e ? (size_t)(e - p) : strlen(p)));
            if (!e) break;
            p = e + 1;
        }
        json_object_set_new(o, "vocab", v);
    }
#undef SI
#undef SF
#undef SB
    *json = ds_cfg_dump(o);
    json_decref(o);
    return *json ? 0 : ds_err(DS_ENOMEM, "cannot serialise the wav2vec2 config");
}

void ds_w2v_config_ctc_recipe(ds_w2v_config *c)
{
    if (!c->ctc_head) { c->vocab_size = DS_CV_W2V2_SIZE; c->vocab[0] = 0; }
    c->ctc_head = 1;
    c->pretraining_head = 0;
    c->feature_grad_mult = 0.0f;
    c->hidden_dropout = c->attention_dropout = c->feat_proj_dropout = c->final_dropout = 0.0f;
    c->activation_dropout = 0.1f;
    c->layerdrop = 0.1f;
    c->mask_time_prob = 0.65f;
    c->mask_time_length = 10;
    c->mask_time_min_masks = 2;
    c->mask_feature_prob = 0.5f;
    c->mask_feature_length = c->hidden_size / 12 > 0 ? c->hidden_size / 12 : 1;
    c->mask_feature_min_masks = 0;
}

/* An integer array key of 1..DS_W2V_MAX_CONV entries in [lo, hi]; *n is
 * the count (all three conv arrays must agree). */
static int get_int_array(json_t *o, const char *key, int *v, int *n, int lo, int hi)
{
    json_t *x = json_object_get(o, key);
    if (!x) return 0;
    int k = json_is_array(x) ? (int)json_array_size(x) : 0;
    if (k < 1 || k > DS_W2V_MAX_CONV)
        return ds_err(DS_EFORMAT, "config key '%s': expected an array of 1 to %d integers", key, DS_W2V_MAX_CONV);
    for (int i = 0; i < k; i++) {
        json_t *e = json_array_get(x, (size_t)i);
        if (!json_is_integer(e) || json_integer_value(e) < lo || json_integer_value(e) > hi)
            return ds_err(DS_EFORMAT, "config key '%s': entry %d is not an integer in [%d, %d]", key, i, lo, hi);
        v[i] = (int)json_integer_value(e);
    }
    if (*n && *n != k)
        return ds_err(DS_EFORMAT, "config key '%s': %d entries, but the other conv arrays have %d", key, k, *n);
    *n = k;
    return 0;
}

static int get_tau(json_t *o, ds_w2v_config *c)
{
    json_t *x = json_object_get(o, "gumbel_temperature");
    if (!x) return 0;
    if (!json_is_array(x) || json_array_size(x) != 3)
        return ds_err(DS_EFORMAT, "config key 'gumbel_temperature': expected [max, min, decay]");
    double v[3];
    for (int i = 0; i < 3; i++) {
        json_t *e = json_array_get(x, (size_t)i);
        if (!json_is_number(e) || json_number_value(e) <= 0)
            return ds_err(DS_EFORMAT, "config key 'gumbel_temperature': entry %d is not a positive number", i);
        v[i] = json_number_value(e);
    }
    if (v[1] > v[0] || v[2] > 1)
        return ds_err(DS_EFORMAT, "config key 'gumbel_temperature': expected max >= min and decay <= 1");
    c->tau_max = v[0]; c->tau_min = v[1]; c->tau_decay = v[2];
    return 0;
}

/* "vocab": an array of token names in id order, kept '\n'-joined. */
static int get_vocab(json_t *o, ds_w2v_config *c)
{
    json_t *x = json_object_get(o, "vocab");
    if (!x) return 0;
    size_t n = json_is_array(x) ? json_array_size(x) : 0, k = 0;
    if (!n) return ds_err(DS_EFORMAT, "config key 'vocab': expected a non-empty array of token names in id order");
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(x, i);
        const char *t = json_is_string(e) ? json_string_value(e) : NULL;
        size_t len = t ? strlen(t) : 0;
        if (!len || strchr(t, '\n'))
            return ds_err(DS_EFORMAT, "config key 'vocab': entry %zu is not a token name", i);
        if (k + len + 2 > sizeof c->vocab)
            return ds_err(DS_EFORMAT, "config key 'vocab': more than %zu bytes of token names", sizeof c->vocab);
        if (i) c->vocab[k++] = '\n';
        memcpy(c->vocab + k, t, len + 1);
        k += len;
    }
    ds_char_vocab v;
    int r = ds_char_vocab_from_lines(&v, c->vocab, "config key 'vocab'");
    if (r) return r;
    ds_char_vocab_free(&v);
    if ((int)n != c->vocab_size)
        return ds_err(DS_EFORMAT, "config key 'vocab': %zu tokens, but 'vocab_size' is %d", n, c->vocab_size);
    return 0;
}

static int check_config(const ds_w2v_config *c)
{
    if (c->ctc_head && !c->vocab[0] && c->vocab_size != DS_CV_W2V2_SIZE)
        return ds_err(DS_EFORMAT, "config key 'vocab_size' %d: a CTC model without 'vocab' uses wav2vec2-base-960h's %d "
                      "characters", c->vocab_size, DS_CV_W2V2_SIZE);
    if (c->hidden_size % c->num_attention_heads)
        return ds_err(DS_EFORMAT, "config keys 'hidden_size' %d / 'num_attention_heads' %d: not a whole head size",
                      c->hidden_size, c->num_attention_heads);
    if (c->hidden_size % c->num_conv_pos_embedding_groups)
        return ds_err(DS_EFORMAT, "config keys 'hidden_size' %d / 'num_conv_pos_embedding_groups' %d: not whole groups",
                      c->hidden_size, c->num_conv_pos_embedding_groups);
    if (c->codevector_dim % c->num_codevector_groups)
        return ds_err(DS_EFORMAT, "config keys 'codevector_dim' %d / 'num_codevector_groups' %d: not whole groups",
                      c->codevector_dim, c->num_codevector_groups);
    return 0;
}

int ds_w2v_config_from_json(ds_w2v_config *c, const char *text)
{
    json_t *o;
    int r = ds_cfg_parse(text, &o);
    if (r) return r;
    ds_w2v_config_default(c);
    const char *s = NULL;
    r = ds_cfg_get_str(o, "arch", &s);
    if (!r && s && strcmp(s, "wav2vec2"))
        r = ds_err(DS_EMISMATCH, "config key 'arch': expected \"wav2vec2\", got \"%s\"", s);
    if (!r) r = ds_cfg_get_str(o, "preset", &s);
    if (!r && s) snprintf(c->preset, sizeof c->preset, "%s", s);
    if (!r) r = ds_cfg_get_int(o, "hidden_size", &c->hidden_size, 1, DS_W2V_MAX_HIDDEN);
    if (!r) r = ds_cfg_get_int(o, "num_hidden_layers", &c->num_hidden_layers, 1, DS_W2V_MAX_LAYERS);
    if (!r) r = ds_cfg_get_int(o, "num_attention_heads", &c->num_attention_heads, 1, 256);
    if (!r) r = ds_cfg_get_int(o, "intermediate_size", &c->intermediate_size, 1, 8 * DS_W2V_MAX_HIDDEN);
    int n = 0;
    if (!r && json_object_get(o, "conv_dim")) {
        if (!r) r = get_int_array(o, "conv_dim", c->conv_dim, &n, 1, 8192);
        if (!r) r = get_int_array(o, "conv_kernel", c->conv_kernel, &n, 1, 1024);
        if (!r) r = get_int_array(o, "conv_stride", c->conv_stride, &n, 1, 1024);
        if (!r && (!json_object_get(o, "conv_kernel") || !json_object_get(o, "conv_stride")))
            r = ds_err(DS_EFORMAT, "config keys 'conv_dim', 'conv_kernel', 'conv_stride' go together");
        if (!r) c->n_conv = n;
    }
    if (!r) r = ds_cfg_get_bool(o, "conv_bias", &c->conv_bias);
    if (!r) r = ds_cfg_get_str(o, "feat_extract_norm", &s);
    if (!r && s) {
        if (!strcmp(s, "group")) c->feat_extract_norm_layer = 0;
        else if (!strcmp(s, "layer")) c->feat_extract_norm_layer = 1;
        else r = ds_err(DS_EFORMAT, "config key 'feat_extract_norm': expected \"group\" or \"layer\", got \"%s\"", s);
    }
    if (!r) r = ds_cfg_get_bool(o, "do_stable_layer_norm", &c->do_stable_layer_norm);
    if (!r) r = ds_cfg_get_int(o, "num_conv_pos_embeddings", &c->num_conv_pos_embeddings, 1, 1024);
    if (!r) r = ds_cfg_get_int(o, "num_conv_pos_embedding_groups", &c->num_conv_pos_embedding_groups, 1, 1024);
    if (!r) r = ds_cfg_get_float(o, "layer_norm_eps", &c->layer_norm_eps, 0, 1);
    if (!r) r = ds_cfg_get_float(o, "hidden_dropout", &c->hidden_dropout, 0, 0.999);
    if (!r) r = ds_cfg_get_float(o, "attention_dropout", &c->attention_dropout, 0, 0.999);
    if (!r) r = ds_cfg_get_float(o, "activation_dropout", &c->activation_dropout, 0, 0.999);
    if (!r) r = ds_cfg_get_float(o, "feat_proj_dropout", &c->feat_proj_dropout, 0, 0.999);
    if (!r) r = ds_cfg_get_float(o, "feat_quantizer_dropout", &c->feat_quantizer_dropout, 0, 0.999);
    if (!r) r = ds_cfg_get_float(o, "layerdrop", &c->layerdrop, 0, 0.999);
    if (!r) r = ds_cfg_get_float(o, "mask_time_prob", &c->mask_time_prob, 0, 1);
    if (!r) r = ds_cfg_get_int(o, "mask_time_length", &c->mask_time_length, 1, 100000);
    if (!r) r = ds_cfg_get_int(o, "mask_time_min_masks", &c->mask_time_min_masks, 0, 100000);
    if (!r) r = ds_cfg_get_int(o, "num_codevectors_per_group", &c->num_codevectors_per_group, 1, 65536);
    if (!r) r = ds_cfg_get_int(o, "num_codevector_groups", &c->num_codevector_groups, 1, 64);
    if (!r) r = ds_cfg_get_int(o, "codevector_dim", &c->codevector_dim, 1, 65536);
    if (!r) r = ds_cfg_get_int(o, "proj_codevector_dim", &c->proj_codevector_dim, 1, 65536);
    if (!r) r = ds_cfg_get_int(o, "num_negatives", &c->num_negatives, 1, 10000);
    if (!r) r = ds_cfg_get_float(o, "contrastive_logits_temperature", &c->contrastive_logits_temperature, 1e-6, 1e6);
    if (!r) r = ds_cfg_get_float(o, "diversity_loss_weight", &c->diversity_loss_weight, 0, 1e6);
    if (!r) r = ds_cfg_get_float(o, "feature_grad_mult", &c->feature_grad_mult, 0, 1e6);
    if (!r) r = ds_cfg_get_float(o, "feature_penalty_weight", &c->feature_penalty_weight, 0, 1e6);
    if (!r) r = get_tau(o, c);
    if (!r) r = ds_cfg_get_norm(o, "norm", &c->norm);
    if (!r) r = ds_cfg_get_float(o, "alpha_init", &c->alpha_init, -1e6, 1e6);
    if (!r) r = ds_cfg_get_bool(o, "normalize_audio", &c->normalize_audio);
    if (!r) r = ds_cfg_get_int(o, "vocab_size", &c->vocab_size, 1, 1 << 20);
    if (!r) r = ds_cfg_get_bool(o, "pretraining_head", &c->pretraining_head);
    if (!r) r = ds_cfg_get_bool(o, "ctc_head", &c->ctc_head);
    if (!r) r = ds_cfg_get_float(o, "final_dropout", &c->final_dropout, 0, 0.999);
    if (!r) r = ds_cfg_get_float(o, "mask_feature_prob", &c->mask_feature_prob, 0, 1);
    if (!r) r = ds_cfg_get_int(o, "mask_feature_length", &c->mask_feature_length, 1, 100000);
    if (!r) r = ds_cfg_get_int(o, "mask_feature_min_masks", &c->mask_feature_min_masks, 0, 100000);
    if (!r) r = get_vocab(o, c);
    json_decref(o);
    return r ? r : check_config(c);
}

int ds_w2v_is(const ds_model *m) { return m && m->vt && !strcmp(m->vt->arch, "wav2vec2"); }
const ds_w2v_config *ds_w2v_cfg(const ds_model *m) { return &W(m)->cfg; }

int ds_w2v_frames(const ds_w2v_config *c, long n)
{
    for (int i = 0; i < c->n_conv; i++) {
        if (n < c->conv_kernel[i]) return 0;
        n = (n - c->conv_kernel[i]) / c->conv_stride[i] + 1;
    }
    return n > (1L << 30) ? 0 : (int)n;
}

long ds_w2v_min_samples(const ds_w2v_config *c)
{
    long n = 1;   /* receptive field of one output frame */
    for (int i = c->n_conv - 1; i >= 0; i--) n = (n - 1) * c->conv_stride[i] + c->conv_kernel[i];
    return n;
}

float ds_w2v_tau(const ds_w2v_config *c, long u)
{
    double t = c->tau_max * pow(c->tau_decay, (double)u);
    return (float)(t > c->tau_min ? t : c->tau_min);
}

/* ---- parameters (HF Wav2Vec2ForPreTraining names, wav2vec2.md §3.9) ---- */

#define PFX "wav2vec2."
#define LAYER PFX "encoder.layers.%d."

static int conv_has_norm(const ds_w2v_config *c, int i) { return c->feat_extract_norm_layer || i == 0; }

/* Linear weights and conv kernels decay; biases, norms, the mask embedding
 * and the weight-norm gains do not (derfseq's rule: 1-D parameters and
 * scales are exempt, as DyT's optimizer does). */
static int register_params(ds_model *m, w2v *h)
{
    ds_params *ps = &m->params;
    const ds_w2v_config *c = &h->cfg;
    int H = h->H, r = 0;
    for (int i = 0; i < c->n_conv && r >= 0; i++) {
        int cin = i ? c->conv_dim[i - 1] : 1;
        r = ds_params_addf(ps, 1, 3, c->conv_dim[i], cin, c->conv_kernel[i], PFX "feature_extractor.conv_layers.%d.conv.weight", i);
        if (r >= 0 && c->conv_bias)
            r = ds_params_addf(ps, 0, 1, c->conv_dim[i], 0, 0, PFX "feature_extractor.conv_layers.%d.conv.bias", i);
        if (r >= 0 && conv_has_norm(c, i)) {
            r = ds_params_addf(ps, 0, 1, c->conv_dim[i], 0, 0, PFX "feature_extractor.conv_layers.%d.layer_norm.weight", i);
            if (r >= 0) r = ds_params_addf(ps, 0, 1, c->conv_dim[i], 0, 0, PFX "feature_extractor.conv_layers.%d.layer_norm.bias", i);
        }
    }
    if (r >= 0) r = ds_params_addf(ps, 0, 1, h->Cl, 0, 0, PFX "feature_projection.layer_norm.weight");
    if (r >= 0) r = ds_params_addf(ps, 0, 1, h->Cl, 0, 0, PFX "feature_projection.layer_norm.bias");
    if (r >= 0) r = ds_params_addf(ps, 1, 2, H, h->Cl, 0, PFX "feature_projection.projection.weight");
    if (r >= 0) r = ds_params_addf(ps, 0, 1, H, 0, 0, PFX "feature_projection.projection.bias");
    if (r >= 0) r = ds_params_addf(ps, 0, 1, H, 0, 0, PFX "masked_spec_embed");
    if (r >= 0) r = ds_params_addf(ps, 0, 3, 1, 1, h->Kp, PFX "encoder.pos_conv_embed.conv.weight_g");
    if (r >= 0) r = ds_params_addf(ps, 1, 3, H, H / c->num_conv_pos_embedding_groups, h->Kp, PFX "encoder.pos_conv_embed.conv.weight_v");
    if (r >= 0) r = ds_params_addf(ps, 0, 1, H, 0, 0, PFX "encoder.pos_conv_embed.conv.bias");
    if (r >= 0) r = ds_norm_add_params(ps, PFX "encoder.layer_norm", c->norm, H);
    char nm[DS_NAME_MAX];
    for (int l = 0; l < c->num_hidden_layers && r >= 0; l++) {
        static const char *const proj[4] = { "q_proj", "k_proj", "v_proj", "out_proj" };
        for (int k = 0; k < 4 && r >= 0; k++) {
            r = ds_params_addf(ps, 1, 2, H, H, 0, LAYER "attention.%s.weight", l, proj[k]);
            if (r >= 0) r = ds_params_addf(ps, 0, 1, H, 0, 0, LAYER "attention.%s.bias", l, proj[k]);
        }
        snprintf(nm, sizeof nm, LAYER "layer_norm", l);
        if (r >= 0) r = ds_norm_add_params(ps, nm, c->norm, H);
        if (r >= 0) r = ds_params_addf(ps, 1, 2, h->FF, H, 0, LAYER "feed_forward.intermediate_dense.weight", l);
        if (r >= 0) r = ds_params_addf(ps, 0, 1, h->FF, 0, 0, LAYER "feed_forward.intermediate_dense.bias", l);
        if (r >= 0) r = ds_params_addf(ps, 1, 2, H, h->FF, 0, LAYER "feed_forward.output_dense.weight", l);
        if (r >= 0) r = ds_params_addf(ps, 0, 1, H, 0, 0, LAYER "feed_forward.output_dense.bias", l);
        snprintf(nm, sizeof nm, LAYER "final_layer_norm", l);
        if (r >= 0) r = ds_norm_add_params(ps, nm, c->norm, H);
    }
    int G = c->num_codevector_groups;
    if (r >= 0 && !c->pretraining_head) goto ctc;
    if (r >= 0) r = ds_params_addf(ps, 1, 3, 1, h->GV, c->codevector_dim / G, "quantizer.codevectors");
    if (r >= 0) r = ds_params_addf(ps, 1, 2, h->GV, h->Cl, 0, "quantizer.weight_proj.weight");
    if (r >= 0) r = ds_params_addf(ps, 0, 1, h->GV, 0, 0, "quantizer.weight_proj.bias");
    if (r >= 0) r = ds_params_addf(ps, 1, 2, h->P, H, 0, "project_hid.weight");
    if (r >= 0) r = ds_params_addf(ps, 0, 1, h->P, 0, 0, "project_hid.bias");
    if (r >= 0) r = ds_params_addf(ps, 1, 2, h->P, c->codevector_dim, 0, "project_q.weight");
    if (r >= 0) r = ds_params_addf(ps, 0, 1, h->P, 0, 0, "project_q.bias");
ctc:
    if (r >= 0 && c->ctc_head) {
        r = ds_params_addf(ps, 1, 2, c->vocab_size, H, 0, "lm_head.weight");
        if (r >= 0) r = ds_params_addf(ps, 0, 1, c->vocab_size, 0, 0, "lm_head.bias");
    }
    return r;
}

static float *P(const ds_params *ps, int grad, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static float *P(const ds_params *ps, int grad, const char *fmt, ...)
{
    char name[DS_NAME_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    int k = ds_params_find(ps, name);
    return k < 0 ? NULL : grad ? ds_params_grad(ps, k) : ds_params_data(ps, k);
}

static void bind(const w2v *h, all_w *w, const ds_params *ps, int g)
{
    const ds_w2v_config *c = &h->cfg;
    for (int i = 0; i < c->n_conv; i++) {
        w->conv_w[i] = P(ps, g, PFX "feature_extractor.conv_layers.%d.conv.weight", i);
        w->conv_b[i] = P(ps, g, PFX "feature_extractor.conv_layers.%d.conv.bias", i);
        w->cn_w[i] = P(ps, g, PFX "feature_extractor.conv_layers.%d.layer_norm.weight", i);
        w->cn_b[i] = P(ps, g, PFX "feature_extractor.conv_layers.%d.layer_norm.bias", i);
    }
    w->fln_w = P(ps, g, PFX "feature_projection.layer_norm.weight");
    w->fln_b = P(ps, g, PFX "feature_projection.layer_norm.bias");
    w->proj_w = P(ps, g, PFX "feature_projection.projection.weight");
    w->proj_b = P(ps, g, PFX "feature_projection.projection.bias");
    w->mse = P(ps, g, PFX "masked_spec_embed");
    w->pos_g = P(ps, g, PFX "encoder.pos_conv_embed.conv.weight_g");
    w->pos_v = P(ps, g, PFX "encoder.pos_conv_embed.conv.weight_v");
    w->pos_b = P(ps, g, PFX "encoder.pos_conv_embed.conv.bias");
    ds_norm_bind(&w->enc, ps, PFX "encoder.layer_norm", g);
    char nm[DS_NAME_MAX];
    for (int l = 0; l < c->num_hidden_layers; l++) {
        layer_w *x = &w->l[l];
        x->q_w = P(ps, g, LAYER "attention.q_proj.weight", l);
        x->q_b = P(ps, g, LAYER "attention.q_proj.bias", l);
        x->k_w = P(ps, g, LAYER "attention.k_proj.weight", l);
        x->k_b = P(ps, g, LAYER "attention.k_proj.bias", l);
        x->v_w = P(ps, g, LAYER "attention.v_proj.weight", l);
        x->v_b = P(ps, g, LAYER "attention.v_proj.bias", l);
        x->o_w = P(ps, g, LAYER "attention.out_proj.weight", l);
        x->o_b = P(ps, g, LAYER "attention.out_proj.bias", l);
        x->f1_w = P(ps, g, LAYER "feed_forward.intermediate_dense.weight", l);
        x->f1_b = P(ps, g, LAYER "feed_forward.intermediate_dense.bias", l);
        x->f2_w = P(ps, g, LAYER "feed_forward.output_dense.weight", l);
        x->f2_b = P(ps, g, LAYER "feed_forward.output_dense.bias", l);
        snprintf(nm, sizeof nm, LAYER "layer_norm", l);
        ds_norm_bind(&x->ln1, ps, nm, g);
        snprintf(nm, sizeof nm, LAYER "final_layer_norm", l);
        ds_norm_bind(&x->ln2, ps, nm, g);
    }
    w->cv = P(ps, g, "quantizer.codevectors");
    w->wp_w = P(ps, g, "quantizer.weight_proj.weight");
    w->wp_b = P(ps, g, "quantizer.weight_proj.bias");
    w->hid_w = P(ps, g, "project_hid.weight");
    w->hid_b = P(ps, g, "project_hid.bias");
    w->pq_w = P(ps, g, "project_q.weight");
    w->lm_w = P(ps, g, "lm_head.weight");
    w->lm_b = P(ps, g, "lm_head.bias");
    w->pq_b = P(ps, g, "project_q.bias");
}

void ds_w2v_decay_groups_official(ds_model *m)
{
    ds_params *ps = &m->params;
    for (int i = 0; i < ps->n; i++)
        if (ps->p[i].trainable && ps->p[i].alias_of < 0) ps->p[i].decay = 1;
}

/* ---- initialisation (fairseq, wav2vec2.md §3.1-3.6) -------------------- */

/* Conv kernels kaiming_normal (fan_in, gain √2); conv biases, the feature
 * projection, project_hid/project_q PyTorch's default U(±1/√fan_in);
 * encoder linears N(0, 0.02) with zero bias (init_bert_params); the pos
 * conv N(0, 2/√(K·H)) with g = ‖v‖ per tap; codevectors and the mask
 * embedding U(0, 1); weight_proj N(0, 1) with zero bias; norms γ 1, β 0. */
static int w2v_init(ds_model *m, uint64_t seed)
{
    w2v *h = W(m);
    const ds_w2v_config *c = &h->cfg;
    ds_params *ps = &m->params;
    for (int i = 0; i < ps->n; i++) {
        ds_param *p = &ps->p[i];
        float *x = ds_params_data(ps, i);
        const char *nm = p->name;
        long n = (long)p->numel;
        ds_rng r;
        ds_rng_init(&r, seed, RNG_STREAM_INIT + (uint64_t)i);
        if (p->alias_of >= 0) continue;
        memset(x, 0, (size_t)n * sizeof(float));
        if (strstr(nm, "feature_extractor.")) {
            if (ds_name_ends_with(nm, "conv.weight"))
                ds_rng_fill_normal(&r, x, n, 0.0f, sqrtf(2.0f / (float)(p->shape[1] * p->shape[2])));
            else if (ds_name_ends_with(nm, "conv.bias")) {
                int li = atoi(nm + strlen(PFX "feature_extractor.conv_layers."));
                float a = 1.0f / sqrtf((float)((li ? c->conv_dim[li - 1] : 1) * c->conv_kernel[li]));
                ds_rng_fill_uniform(&r, x, n, -a, a);
            } else if (ds_name_ends_with(nm, "layer_norm.weight"))
                for (long k = 0; k < n; k++) x[k] = 1.0f;
        } else if (strstr(nm, "feature_projection.layer_norm.weight")) {
            for (long k = 0; k < n; k++) x[k] = 1.0f;
        } else if (strstr(nm, "feature_projection.projection.")) {
            float a = 1.0f / sqrtf((float)h->Cl);
            ds_rng_fill_uniform(&r, x, n, -a, a);
        } else if (ds_name_ends_with(nm, "masked_spec_embed") || ds_name_ends_with(nm, "codevectors")) {
            ds_rng_fill_uniform(&r, x, n, 0.0f, 1.0f);
        } else if (ds_name_ends_with(nm, "weight_proj.weight")) {
            ds_rng_fill_normal(&r, x, n, 0.0f, 1.0f);
        } else if (strstr(nm, "project_hid.") || strstr(nm, "project_q.")) {
            float a = 1.0f / sqrtf((float)(strstr(nm, "project_hid.") ? h->H : c->codevector_dim));
            ds_rng_fill_uniform(&r, x, n, -a, a);
        } else if (strstr(nm, "lm_head.")) {
            if (ds_name_ends_with(nm, ".weight")) ds_rng_fill_normal(&r, x, n, 0.0f, 0.02f);
        } else if (ds_name_ends_with(nm, "proj.weight") || ds_name_ends_with(nm, "dense.weight")) {
            ds_rng_fill_normal(&r, x, n, 0.0f, 0.02f);
        }
    }
    /* the pos conv: v ~ N(0, 2/√(K·H)), g = ‖v[:, :, k]‖ (weight norm's own init) */
    {
        int k = ds_params_find(ps, PFX "encoder.pos_conv_embed.conv.weight_v");
        ds_rng r;
        ds_rng_init(&r, seed, RNG_STREAM_INIT + (uint64_t)k);
        long n = (long)ps->p[k].numel;
        ds_rng_fill_normal(&r, h->w.pos_v, n, 0.0f, 2.0f * sqrtf(1.0f / (float)(h->Kp * h->H)));
        long OI = n / h->Kp;
        for (int t = 0; t < h->Kp; t++) {
            double s = 0;
            for (long j = 0; j < OI; j++) s += (double)h->w.pos_v[j * h->Kp + t] * h->w.pos_v[j * h->Kp + t];
            h->w.pos_g[t] = (float)sqrt(s);
        }
    }
    ds_norm_init(&h->w.enc, c->norm, h->H, c->alpha_init);
    for (int l = 0; l < c->num_hidden_layers; l++) {
        ds_norm_init(&h->w.l[l].ln1, c->norm, h->H, c->alpha_init);
        ds_norm_init(&h->w.l[l].ln2, c->norm, h->H, c->alpha_init);
    }
    return 0;
}

/* ---- activations ------------------------------------------------------ */

static size_t conv_scratch_max(const w2v *h, int B, int T)
{
    const ds_w2v_config *c = &h->cfg;
    size_t s = 0, x;
    for (int i = 0; i < c->n_conv; i++) {
        int lin = i ? h->Ti[i - 1] : h->Smax, cin = i ? c->conv_dim[i - 1] : 1;
        x = ds_conv1d_scratch_floats(1, lin, cin, c->conv_dim[i], c->conv_kernel[i], c->conv_stride[i], 0, 1, h->Ti[i]);
        if (x > s) s = x;
    }
    x = ds_conv1d_scratch_floats(B, T, h->H, h->H, h->Kp, 1, h->Kp / 2, c->num_conv_pos_embedding_groups, T);
    return x > s ? x : s;
}

/* Train: every activation backward reads. Inference: one utterance's conv
 * buffers in turn and one layer's encoder buffers, shared by all layers
 * (each layer overwrites its input only after its last read). */
static void layout(w2v *h, ds_arena *a, int B, int eval_only)
{
    const ds_w2v_config *c = &h->cfg;
    int T = h->Ti[c->n_conv - 1], nl = c->num_hidden_layers;
    size_t n = (size_t)B * T, H = (size_t)h->H, FF = (size_t)h->FF;
    size_t cmax = 0;
    for (int i = 0; i < c->n_conv; i++)
        if ((size_t)h->Ti[i] * c->conv_dim[i] > cmax) cmax = (size_t)h->Ti[i] * c->conv_dim[i];
    h->wave = ds_arena_take(a, (size_t)h->Smax);
    float *share[3] = { NULL, NULL, NULL };
    if (eval_only)
        for (int k = 0; k < 3; k++) share[k] = ds_arena_take(a, cmax);
    for (int i = 0; i < c->n_conv; i++) {
        size_t sz = (size_t)B * h->Ti[i] * c->conv_dim[i];
        int last = i == c->n_conv - 1;
        if (eval_only) {
            h->conv_out[i] = share[0];
            h->cn_out[i] = conv_has_norm(c, i) ? share[1] : NULL;
            h->act[i] = last ? ds_arena_take(a, sz) : share[2];   /* written after conv i read act[i-1] */
            h->cn_st[i] = conv_has_norm(c, i) ? ds_arena_take(a, 2 * (size_t)(c->feat_extract_norm_layer ? h->Ti[i] : c->conv_dim[i])) : NULL;
            continue;
        }
        h->conv_out[i] = ds_arena_take(a, sz);
        h->cn_out[i] = conv_has_norm(c, i) ? ds_arena_take(a, sz) : NULL;
        h->cn_st[i] = conv_has_norm(c, i) ? ds_arena_take(a, 2 * (size_t)B * (c->feat_extract_norm_layer ? h->Ti[i] : c->conv_dim[i])) : NULL;
        h->act[i] = ds_arena_take(a, sz);
    }
    h->conv_scratch = ds_arena_take(a, conv_scratch_max(h, B, T));
    h->Fn = ds_arena_take(a, n * h->Cl);
    h->Fst = ds_arena_take(a, 2 * n);
    h->X0 = ds_arena_take(a, n * H);
    h->Wpos = ds_arena_take(a, H * (H / c->num_conv_pos_embedding_groups) * h->Kp);
    h->pos_norms = ds_arena_take(a, (size_t)h->Kp);
    h->Pc = ds_arena_take(a, n * H);
    h->X1 = ds_arena_take(a, n * H);
    h->E0 = ds_arena_take(a, n * H);
    h->Est = ds_arena_take(a, 2 * n);
    h->Hf = ds_arena_take(a, n * H);
    h->Hst = ds_arena_take(a, 2 * n);
    h->keep = eval_only ? ds_arena_take(a, n * H) : NULL;
    h->att_scratch = ds_arena_take(a, ds_attention_scratch_floats(B, T, h->NH, h->H / h->NH));
    for (int l = 0; l < nl; l++) {
        layer_act *x = &h->a[l];
        if (eval_only && l > 0) { *x = h->a[0]; continue; }
        x->N1 = ds_arena_take(a, n * H);
        x->st1 = ds_arena_take(a, 2 * n);
        x->Q = ds_arena_take(a, n * H);
        x->K = ds_arena_take(a, n * H);
        x->V = ds_arena_take(a, n * H);
        x->Att = ds_arena_take(a, n * H);
        x->probs = eval_only ? NULL : ds_arena_take(a, (size_t)B * h->NH * T * T);
        x->R1 = ds_arena_take(a, n * H);
        x->N2 = ds_arena_take(a, n * H);
        x->st2 = ds_arena_take(a, 2 * n);
        x->F1 = ds_arena_take(a, n * FF);
        x->G1 = ds_arena_take(a, n * FF);
        x->G1d = c->activation_dropout > 0 && !eval_only ? ds_arena_take(a, n * FF) : x->G1;
        x->R2 = ds_arena_take(a, n * H);
        x->out = c->do_stable_layer_norm ? x->R2 : x->N2;
    }
    if (c->ctc_head) {
        size_t V = (size_t)c->vocab_size;
        h->logits = ds_arena_take(a, n * V);
        h->logp = ds_arena_take(a, n * V);
        h->Hd = !eval_only && c->final_dropout > 0 ? ds_arena_take(a, n * H) : NULL;
        h->dlogp = eval_only ? NULL : ds_arena_take(a, n * V);
        h->dHd = eval_only ? NULL : ds_arena_take(a, n * H);
    }
    if (eval_only) return;
    h->dS0 = ds_arena_take(a, n * H);
    h->dS1 = ds_arena_take(a, n * H);
    h->t1 = ds_arena_take(a, n * H);
    h->t2 = ds_arena_take(a, n * H);
    h->t3 = ds_arena_take(a, n * H);
    h->dQ = ds_arena_take(a, n * H);
    h->dK = ds_arena_take(a, n * H);
    h->dV = ds_arena_take(a, n * H);
    h->dF1 = ds_arena_take(a, n * FF);
    h->dG1 = ds_arena_take(a, n * FF);
    h->dWpos = ds_arena_take(a, H * (H / c->num_conv_pos_embedding_groups) * h->Kp);
    h->dFn = ds_arena_take(a, n * h->Cl);
    h->dF = ds_arena_take(a, n * h->Cl);
    h->cd1 = ds_arena_take(a, cmax);
    h->cd2 = ds_arena_take(a, cmax);
    h->cd3 = ds_arena_take(a, cmax);
    /* pretraining: at most every frame masked */
    size_t M = n, G = (size_t)c->num_codevector_groups;
    h->midx = (int32_t *)ds_arena_take(a, M);
    h->qidx = (int32_t *)ds_arena_take(a, M * G);
    h->Qin = ds_arena_take(a, M * h->Cl);
    h->QL = ds_arena_take(a, M * h->GV);
    h->soft = ds_arena_take(a, M * h->GV);
    h->avgp = ds_arena_take(a, (size_t)h->GV);
    h->Qv = ds_arena_take(a, M * c->codevector_dim);
    h->Y = ds_arena_take(a, M * h->P);
    h->Cx = ds_arena_take(a, M * H);
    h->Cc = ds_arena_take(a, M * h->P);
    h->cprobs = ds_arena_take(a, M * (1 + (size_t)h->KN));
    h->dQin = ds_arena_take(a, M * h->Cl);
    h->dQL = ds_arena_take(a, M * h->GV);
    h->dQv = ds_arena_take(a, M * c->codevector_dim);
    h->dY = ds_arena_take(a, M * h->P);
    h->dCx = ds_arena_take(a, M * H);
    h->dCc = ds_arena_take(a, M * h->P);
    h->dhid = ds_arena_take(a, n * H);
}

static void w2v_release(w2v *h)
{
    ds_arena_free(&h->arena);
    free(h->mask);
    free(h->cmask);
    h->mask = NULL;
    h->cmask = NULL;
}

int ds_w2v_reserve(ds_model *m, int B, long S)
{
    w2v *h = W(m);
    const ds_w2v_config *c = &h->cfg;
    if (B < 1 || B > MAX_BATCH) return ds_err(DS_EINVAL, "batch of %d utterances: expected 1 to %d", B, MAX_BATCH);
    if (S < ds_w2v_min_samples(c))
        return ds_err(DS_EINVAL, "%ld samples make no wav2vec2 frame (need at least %ld)", S, ds_w2v_min_samples(c));
    if (S > (1L << 30)) return ds_err(DS_EINVAL, "%ld samples in one utterance: more than this build handles", S);
    if (h->Bmax == B && h->Smax_l == S && h->eval_reserved == m->eval_only) return 0;
    w2v_release(h);
    h->Smax = (int)S;
    long n = S;
    for (int i = 0; i < c->n_conv; i++) h->Ti[i] = (int)(n = (n - c->conv_kernel[i]) / c->conv_stride[i] + 1);
    ds_arena meas;
    ds_arena_measure(&meas);
    layout(h, &meas, B, m->eval_only);
    char what[200];
    snprintf(what, sizeof what, "activations for %d utterances of %.1f s for wav2vec2 hidden %d, %d layers%s", B,
             (double)S / DS_W2V_RATE, h->H, c->num_hidden_layers, m->eval_only ? " (inference)" : "");
    int r = ds_memory_check(meas.used * sizeof(float), what);
    if (!r && (r = ds_arena_init(&h->arena, meas.used)) == DS_ENOMEM) r = ds_err(DS_ENOMEM, "%s (%s)", ds_errmsg(), what);
    if (!r) {
        layout(h, &h->arena, B, m->eval_only);
        h->mask = calloc((size_t)B * h->Ti[c->n_conv - 1], 1);
        h->cmask = calloc((size_t)B * h->H, 1);
        if (!h->mask || !h->cmask) r = ds_err(DS_ENOMEM, "out of memory for a time mask");
    }
    if (r) {
        w2v_release(h);
        h->Bmax = 0; h->Smax_l = 0;
        m->B = m->L = 0;
        return r;
    }
    h->Bmax = B;
    h->Smax_l = S;
    h->eval_reserved = m->eval_only;
    m->B = B;
    m->L = h->Ti[c->n_conv - 1];
    return 0;
}

/* ---- forward ---------------------------------------------------------- */

static uint64_t stream(const w2v *h, int site) { return RNG_STREAM_DROP + (h->step << 16) + (uint64_t)site; }
static float drop_p(const w2v *h, float p) { return h->train ? p : 0.0f; }

/* Offsets of utterance b in conv layer i's buffers: the inference layout
 * holds one utterance at a time, except the last layer (the features). */
static size_t conv_off(const w2v *h, int i, int b, int eval)
{
    return eval ? 0 : (size_t)b * h->Ti[i] * h->cfg.conv_dim[i];
}

static size_t st_stride(const w2v *h, int i)
{
    return h->cfg.feat_extract_norm_layer ? (size_t)h->Ti[i] : (size_t)h->cfg.conv_dim[i];
}

/* Zero mean, unit variance per utterance when the config says so, by HF's
 * Wav2Vec2FeatureExtractor rule (lib/io/audio.h), on a copy. */
static const float *normalised(w2v *h, const float *x, long n)
{
    if (!h->cfg.normalize_audio) return x;
    memcpy(h->wave, x, (size_t)n * sizeof(float));
    ds_audio_normalize(h->wave, n, DS_AUDIO_NORM_EPS_HF);
    return h->wave;
}

/* One utterance through the conv stack; its features land in rows
 * b·T .. b·T + T_b − 1 of act[last], the rest of its rows are zeroed. */
static void conv_forward(w2v *h, int b, const float *wave, long ns, int eval)
{
    const ds_w2v_config *c = &h->cfg;
    const float *x = normalised(h, wave, ns);
    long lin = ns;
    int last = c->n_conv - 1, T = h->Ti[last];
    for (int i = 0; i < c->n_conv; i++) {
        int cin = i ? c->conv_dim[i - 1] : 1, C = c->conv_dim[i], k = c->conv_kernel[i], s = c->conv_stride[i];
        int lout = (int)((lin - k) / s + 1);
        size_t off = conv_off(h, i, b, eval), aoff = i == last ? (size_t)b * T * C : off;
        float *co = h->conv_out[i] + off;
        const float *y = co;
        ds_conv1d_forward(co, x, h->w.conv_w[i], h->w.conv_b[i], 1, (int)lin, cin, C, k, s, 0, 1, lout,
                          h->conv_scratch);
        if (conv_has_norm(c, i)) {
            float *st = h->cn_st[i] + (eval ? 0 : 2 * (size_t)b * st_stride(h, i));
            if (c->feat_extract_norm_layer)
                ds_layernorm_forward(h->cn_out[i] + off, st, st + st_stride(h, i), co, h->w.cn_w[i], h->w.cn_b[i],
                                     lout, C, c->layer_norm_eps);
            else
                ds_groupnorm_forward(h->cn_out[i] + off, st, st + st_stride(h, i), co, h->w.cn_w[i], h->w.cn_b[i], 1,
                                     lout, C, c->layer_norm_eps);
            y = h->cn_out[i] + off;
        }
        ds_gelu_forward(h->act[i] + aoff, y, (long)lout * C);
        if (i == last) memset(h->act[i] + aoff + (size_t)lout * C, 0, (size_t)(T - lout) * C * sizeof(float));
        x = h->act[i] + aoff;
        lin = lout;
    }
}

static void norm_fwd(const w2v *h, float *out, float *st, const float *inp, const ds_norm_w *w, int n)
{
    h->norm->forward(out, st, inp, w, n, h->H, h->cfg.layer_norm_eps);
}

static void add_into(float *dst, const float *src, size_t n)
{
#pragma omp parallel for simd schedule(static)
    for (size_t i = 0; i < n; i++) dst[i] += src[i];
}

static void layer_forward(w2v *h, int l, const float *in)
{
    const ds_w2v_config *c = &h->cfg;
    const layer_w *w = &h->w.l[l];
    layer_act *x = &h->a[l];
    int n = h->B * h->T, H = h->H, pre = c->do_stable_layer_norm, Dh = H / h->NH;
    const float *a_in = in;
    if (pre) { norm_fwd(h, x->N1, x->st1, in, &w->ln1, n); a_in = x->N1; }
    ds_linear_forward(x->Q, a_in, w->q_w, w->q_b, n, H, H);
    ds_linear_forward(x->K, a_in, w->k_w, w->k_b, n, H, H);
    ds_linear_forward(x->V, a_in, w->v_w, w->v_b, n, H, H);
    ds_attention_forward(x->Att, x->probs, x->Q, x->K, x->V, h->lens, h->B, h->T, h->NH, Dh, 1.0f / sqrtf((float)Dh),
                         drop_p(h, c->attention_dropout), h->seed, stream(h, SITE_LAYER0 + 8 * l), h->att_scratch);
    ds_linear_forward(x->R1, x->Att, w->o_w, w->o_b, n, H, H);
    ds_dropout_forward(x->R1, x->R1, (long)n * H, drop_p(h, c->hidden_dropout), h->seed, stream(h, SITE_LAYER0 + 8 * l + 1));
    add_into(x->R1, in, (size_t)n * H);
    const float *f_in;
    if (pre) { norm_fwd(h, x->N2, x->st2, x->R1, &w->ln2, n); f_in = x->N2; }
    else { norm_fwd(h, x->N1, x->st1, x->R1, &w->ln1, n); f_in = x->N1; }
    ds_linear_forward(x->F1, f_in, w->f1_w, w->f1_b, n, H, h->FF);
    ds_gelu_forward(x->G1, x->F1, (long)n * h->FF);
    ds_dropout_forward(x->G1d, x->G1, (long)n * h->FF, drop_p(h, c->activation_dropout), h->seed,
                       stream(h, SITE_LAYER0 + 8 * l + 2));
    ds_linear_forward(x->R2, x->G1d, w->f2_w, w->f2_b, n, h->FF, H);
    ds_dropout_forward(x->R2, x->R2, (long)n * H, drop_p(h, c->hidden_dropout), h->seed, stream(h, SITE_LAYER0 + 8 * l + 3));
    add_into(x->R2, pre ? x->R1 : f_in, (size_t)n * H);
    if (!pre) norm_fwd(h, x->N2, x->st2, x->R2, &w->ln2, n);
}

static void zero_padded_rows(const w2v *h, float *x, int C)
{
    for (int b = 0; b < h->B; b++)
        memset(x + ((size_t)b * h->T + h->lens[b]) * C, 0, (size_t)(h->T - h->lens[b]) * C * sizeof(float));
}

/* Zeroes the masked channels of every frame (forward on X0, backward on its gradient). */
static void channel_mask(const w2v *h, float *x)
{
    for (int b = 0; b < h->B; b++) {
        const uint8_t *cm = h->cmask + (size_t)b * h->H;
        for (int t = 0; t < h->lens[b]; t++) {
            float *row = x + ((size_t)b * h->T + t) * h->H;
            for (int k = 0; k < h->H; k++)
                if (cm[k]) row[k] = 0.0f;
        }
    }
}

static void encoder_forward(ds_model *m)
{
    w2v *h = W(m);
    const ds_w2v_config *c = &h->cfg;
    int n = h->B * h->T, H = h->H, G = c->num_conv_pos_embedding_groups;
    const float *F = h->act[c->n_conv - 1];
    ds_layernorm_forward(h->Fn, h->Fst, h->Fst + n, F, h->w.fln_w, h->w.fln_b, n, h->Cl, c->layer_norm_eps);
    ds_linear_forward(h->X0, h->Fn, h->w.proj_w, h->w.proj_b, n, h->Cl, H);
    ds_dropout_forward(h->X0, h->X0, (long)n * H, drop_p(h, c->feat_proj_dropout), h->seed, stream(h, SITE_PROJ));
    if (h->has_mask)
        for (int r = 0; r < n; r++)
            if (h->mask[r]) memcpy(h->X0 + (size_t)r * H, h->w.mse, (size_t)H * sizeof(float));
    if (h->has_cmask) channel_mask(h, h->X0);
    zero_padded_rows(h, h->X0, H);
    ds_weightnorm2_forward(h->Wpos, h->pos_norms, h->w.pos_g, h->w.pos_v, H, H / G, h->Kp);
    ds_conv1d_forward(h->Pc, h->X0, h->Wpos, h->w.pos_b, h->B, h->T, H, H, h->Kp, 1, h->Kp / 2, G, h->T,
                      h->conv_scratch);
    ds_gelu_forward(h->X1, h->Pc, (long)n * H);
    add_into(h->X1, h->X0, (size_t)n * H);
    if (c->do_stable_layer_norm) memcpy(h->E0, h->X1, (size_t)n * H * sizeof(float));
    else norm_fwd(h, h->E0, h->Est, h->X1, &h->w.enc, n);
    ds_dropout_forward(h->E0, h->E0, (long)n * H, drop_p(h, c->hidden_dropout), h->seed, stream(h, SITE_ENC));
    const float *in = h->E0;
    if (m->eval_only && h->keep_i == 0) memcpy(h->keep, in, (size_t)n * H * sizeof(float));
    for (int l = 0; l < c->num_hidden_layers; l++) {
        layer_act *x = &h->a[l];
        h->skipped[l] = h->train && c->layerdrop > 0 &&
                        ds_rng_uniform_at(h->seed, stream(h, SITE_LAYERDROP), (uint64_t)l) < c->layerdrop;
        if (h->skipped[l]) { if (x->out != in) memcpy(x->out, in, (size_t)n * H * sizeof(float)); }
        else layer_forward(h, l, in);
        in = x->out;
        if (m->eval_only && h->keep_i == l + 1 && (l + 1 < c->num_hidden_layers || !c->do_stable_layer_norm))
            memcpy(h->keep, in, (size_t)n * H * sizeof(float));
    }
    if (c->do_stable_layer_norm) {
        norm_fwd(h, h->Hf, h->Hst, in, &h->w.enc, n);
        m->hidden = h->Hf;
    } else {
        m->hidden = in;
    }
    zero_padded_rows(h, (float *)m->hidden, H);
}

int ds_w2v_encode(ds_model *m, const float *const *wave, const long *ns, int B, const uint8_t *mask, int train,
                  uint64_t seed, uint64_t step)
{
    return ds_w2v_encode_masked(m, wave, ns, B, mask, NULL, train, seed, step);
}

int ds_w2v_encode_masked(ds_model *m, const float *const *wave, const long *ns, int B, const uint8_t *mask,
                         const uint8_t *cmask, int train, uint64_t seed, uint64_t step)
{
    w2v *h = W(m);
    const ds_w2v_config *c = &h->cfg;
    if (!h->Bmax || B < 1 || B > h->Bmax)
        return ds_err(DS_EINVAL, "wav2vec2: batch of %d utterances, but %d reserved", B, h->Bmax);
    if (train && m->eval_only) return ds_err(DS_EINVAL, "wav2vec2: a training step on an inference layout");
    int T = 0;
    for (int b = 0; b < B; b++) {
        if (ns[b] > h->Smax_l || ns[b] < ds_w2v_min_samples(c))
            return ds_err(DS_EINVAL, "wav2vec2: utterance %d has %ld samples, expected %ld to %ld", b, ns[b],
                          ds_w2v_min_samples(c), h->Smax_l);
        h->lens[b] = ds_w2v_frames(c, ns[b]);
        h->nsamp[b] = ns[b];
        h->wv[b] = wave[b];
        if (h->lens[b] > T) T = h->lens[b];
    }
    h->B = B; h->T = T; h->train = train; h->seed = seed; h->step = step;
    /* the conv buffers are laid out for Ti frames per utterance; the
     * encoder for B·T rows: T is the longest utterance of this batch */
    h->has_mask = mask != NULL;
    if (mask) memcpy(h->mask, mask, (size_t)B * T);
    h->has_cmask = cmask != NULL;
    if (cmask) memcpy(h->cmask, cmask, (size_t)B * h->H);
    h->ctc_ready = h->ctc_loss_ready = 0;
    int last = c->n_conv - 1;
    for (int b = 0; b < B; b++) conv_forward(h, b, wave[b], ns[b], m->eval_only);
    /* features at row stride T (the conv layout uses Ti[last] >= T) */
    float *F = h->act[last];
    int Tl = h->Ti[last];
    if (T != Tl)
        for (int b = 1; b < B; b++)
            memmove(F + (size_t)b * T * h->Cl, F + (size_t)b * Tl * h->Cl, (size_t)T * h->Cl * sizeof(float));
    double s = 0;
    long cnt = 0;
    for (int b = 0; b < B; b++) {
        const float *f = F + (size_t)b * T * h->Cl;
        for (size_t i = 0; i < (size_t)h->lens[b] * h->Cl; i++) s += (double)f[i] * f[i];
        cnt += (long)h->lens[b] * h->Cl;
    }
    h->pen = s / (double)cnt;
    encoder_forward(m);
    return 0;
}

const int *ds_w2v_lens(const ds_model *m) { return W(m)->lens; }
int ds_w2v_T(const ds_model *m) { return W(m)->T; }
const float *ds_w2v_features(const ds_model *m) { return W(m)->act[W(m)->cfg.n_conv - 1]; }
void ds_w2v_keep_layer(ds_model *m, int i) { W(m)->keep_i = i; }

const float *ds_w2v_hidden_state(const ds_model *m, int i)
{
    const w2v *h = W(m);
    int nl = h->cfg.num_hidden_layers;
    if (i < 0 || i > nl) return NULL;
    if (i == nl) return m->hidden;
    if (m->eval_only) return i == h->keep_i ? h->keep : NULL;
    return i == 0 ? h->E0 : h->a[i - 1].out;
}

/* ---- backward --------------------------------------------------------- */

static void zero(float *x, size_t n) { memset(x, 0, n * sizeof(float)); }

static void norm_bwd(const w2v *h, float *dinp, const ds_norm_w *dw, const float *dout, const float *inp,
                     const float *st, const ds_norm_w *w, int n)
{
    h->norm->backward(dinp, dw, dout, inp, st, w, n, h->H, h->cfg.layer_norm_eps);
}

/* The FFN half: dout (grad of its output, before the residual) into
 * dfin += grad of its input f_in. */
static void ffn_backward(w2v *h, int l, const float *f_in, const float *dout, float *dfin)
{
    const ds_w2v_config *c = &h->cfg;
    const layer_w *w = &h->w.l[l], *g = &h->g.l[l];
    const layer_act *x = &h->a[l];
    int n = h->B * h->T, H = h->H, FF = h->FF;
    zero(h->t3, (size_t)n * H);
    ds_dropout_backward(h->t3, dout, (long)n * H, drop_p(h, c->hidden_dropout), h->seed, stream(h, SITE_LAYER0 + 8 * l + 3));
    zero(h->dG1, (size_t)n * FF);
    ds_linear_backward(h->dG1, g->f2_w, g->f2_b, h->t3, x->G1d, w->f2_w, n, FF, H);
    zero(h->dF1, (size_t)n * FF);
    ds_dropout_backward(h->dF1, h->dG1, (long)n * FF, drop_p(h, c->activation_dropout), h->seed,
                        stream(h, SITE_LAYER0 + 8 * l + 2));
    zero(h->dG1, (size_t)n * FF);
    ds_gelu_backward(h->dG1, h->dF1, x->F1, (long)n * FF);
    ds_linear_backward(dfin, g->f1_w, g->f1_b, h->dG1, f_in, w->f1_w, n, H, FF);
}

/* The attention half: dR (grad of R1 = in + drop(out_proj(attn(a_in))))
 * into da_in += grad of the attention input. */
static void attn_backward(w2v *h, int l, const float *a_in, const float *dR, float *da_in)
{
    const ds_w2v_config *c = &h->cfg;
    const layer_w *w = &h->w.l[l], *g = &h->g.l[l];
    const layer_act *x = &h->a[l];
    int n = h->B * h->T, H = h->H, Dh = H / h->NH;
    size_t nh = (size_t)n * H;
    zero(h->t3, nh);
    ds_dropout_backward(h->t3, dR, (long)nh, drop_p(h, c->hidden_dropout), h->seed, stream(h, SITE_LAYER0 + 8 * l + 1));
    zero(h->t2, nh);
    ds_linear_backward(h->t2, g->o_w, g->o_b, h->t3, x->Att, w->o_w, n, H, H);
    zero(h->dQ, nh); zero(h->dK, nh); zero(h->dV, nh);
    ds_attention_backward(h->dQ, h->dK, h->dV, h->t2, x->probs, x->Q, x->K, x->V, h->lens, h->B, h->T, h->NH, Dh,
                          1.0f / sqrtf((float)Dh), drop_p(h, c->attention_dropout), h->seed,
                          stream(h, SITE_LAYER0 + 8 * l), h->att_scratch);
    ds_linear_backward(da_in, g->q_w, g->q_b, h->dQ, a_in, w->q_w, n, H, H);
    ds_linear_backward(da_in, g->k_w, g->k_b, h->dK, a_in, w->k_w, n, H, H);
    ds_linear_backward(da_in, g->v_w, g->v_b, h->dV, a_in, w->v_w, n, H, H);
}

/* d_out: grad of the layer's output; d_in (overwritten): grad of its input. */
static void layer_backward(w2v *h, int l, const float *in, const float *d_out, float *d_in)
{
    const layer_w *w = &h->w.l[l], *g = &h->g.l[l];
    const layer_act *x = &h->a[l];
    size_t nh = (size_t)h->B * h->T * h->H;
    int n = h->B * h->T;
    if (h->cfg.do_stable_layer_norm) {
        /* R2 = R1 + FFN(LN_ffn(R1)); R1 = in + Attn(LN_attn(in)) */
        memcpy(h->t1, d_out, nh * sizeof(float));
        float *dN2 = d_in;   /* free until the end */
        zero(dN2, nh);
        ffn_backward(h, l, x->N2, d_out, dN2);
        norm_bwd(h, h->t1, &g->ln2, dN2, x->R1, x->st2, &w->ln2, n);
        memcpy(d_in, h->t1, nh * sizeof(float));
        zero(h->t1, nh);   /* t1 now: grad of N1; attn_backward reads dR = d_in before d_in is added to */
        attn_backward(h, l, x->N1, d_in, h->t1);
        norm_bwd(h, d_in, &g->ln1, h->t1, in, x->st1, &w->ln1, n);
    } else {
        /* R1 = in + Attn(in), N1 = LN_attn(R1); R2 = N1 + FFN(N1), out = LN_ffn(R2) */
        zero(h->t1, nh);
        norm_bwd(h, h->t1, &g->ln2, d_out, x->R2, x->st2, &w->ln2, n);   /* dR2 */
        memcpy(d_in, h->t1, nh * sizeof(float));                         /* d_in: dN1 for now */
        ffn_backward(h, l, x->N1, h->t1, d_in);
        zero(h->t1, nh);
        norm_bwd(h, h->t1, &g->ln1, d_in, x->R1, x->st1, &w->ln1, n);     /* dR1 */
        memcpy(d_in, h->t1, nh * sizeof(float));
        attn_backward(h, l, in, h->t1, d_in);
    }
}

/* The conv stack of utterance b from dF (its feature rows, scaled). */
static void conv_backward(w2v *h, int b, const float *dF)
{
    const ds_w2v_config *c = &h->cfg;
    int last = c->n_conv - 1;
    long len[DS_W2V_MAX_CONV + 1];
    len[0] = h->nsamp[b];
    for (int i = 0; i < c->n_conv; i++) len[i + 1] = (len[i] - c->conv_kernel[i]) / c->conv_stride[i] + 1;
    const float *dcur = dF;
    for (int i = last; i >= 0; i--) {
        int cin = i ? c->conv_dim[i - 1] : 1, C = c->conv_dim[i];
        int lout = (int)len[i + 1], lin = (int)len[i];
        size_t off = conv_off(h, i, b, 0), sz = (size_t)lout * C;
        const float *co = h->conv_out[i] + off;
        const float *y = conv_has_norm(c, i) ? h->cn_out[i] + off : co;
        zero(h->cd1, sz);
        ds_gelu_backward(h->cd1, dcur, y, (long)sz);
        const float *dconv = h->cd1;
        if (conv_has_norm(c, i)) {
            const float *st = h->cn_st[i] + 2 * (size_t)b * st_stride(h, i);
            zero(h->cd2, sz);
            if (c->feat_extract_norm_layer)
                ds_layernorm_backward(h->cd2, h->g.cn_w[i], h->g.cn_b[i], h->cd1, co, st, st + st_stride(h, i),
                                      h->w.cn_w[i], lout, C);
            else
                ds_groupnorm_backward(h->cd2, h->g.cn_w[i], h->g.cn_b[i], h->cd1, co, st, st + st_stride(h, i),
                                      h->w.cn_w[i], 1, lout, C);
            dconv = h->cd2;
        }
        const float *x = i ? h->act[i - 1] + conv_off(h, i - 1, b, 0) : normalised(h, h->wv[b], h->nsamp[b]);
        float *dinp = i ? h->cd3 : NULL;
        if (dinp) zero(dinp, (size_t)lin * cin);
        ds_conv1d_backward(dinp, h->g.conv_w[i], h->g.conv_b[i], dconv, x, h->w.conv_w[i], 1, lin, cin, C,
                           c->conv_kernel[i], c->conv_stride[i], 0, 1, lout, h->conv_scratch);
        dcur = h->cd3;
    }
}

/* dhidden [B·T, H] → every parameter; h->dFn holds extra gradient of the
 * normalised features (the quantizer's input), already set by the caller. */
static void backward_all(ds_model *m, const float *dhidden)
{
    w2v *h = W(m);
    const ds_w2v_config *c = &h->cfg;
    int n = h->B * h->T, H = h->H, G = c->num_conv_pos_embedding_groups, nl = c->num_hidden_layers;
    size_t nh = (size_t)n * H;
    float *d = h->dS0, *dn = h->dS1;
    memcpy(d, dhidden, nh * sizeof(float));
    zero_padded_rows(h, d, H);
    if (c->do_stable_layer_norm) {
        zero(dn, nh);
        norm_bwd(h, dn, &h->g.enc, d, nl ? h->a[nl - 1].out : h->E0, h->Hst, &h->w.enc, n);
        float *t = d; d = dn; dn = t;
    }
    for (int l = nl - 1; l >= 0; l--) {
        if (h->skipped[l]) continue;
        layer_backward(h, l, l ? h->a[l - 1].out : h->E0, d, dn);
        float *t = d; d = dn; dn = t;
    }
    /* d: grad of E0 */
    zero(h->t2, nh);
    if (c->do_stable_layer_norm) {
        ds_dropout_backward(h->t2, d, (long)nh, drop_p(h, c->hidden_dropout), h->seed, stream(h, SITE_ENC));
    } else {
        zero(h->t1, nh);
        ds_dropout_backward(h->t1, d, (long)nh, drop_p(h, c->hidden_dropout), h->seed, stream(h, SITE_ENC));
        norm_bwd(h, h->t2, &h->g.enc, h->t1, h->X1, h->Est, &h->w.enc, n);
    }
    /* X1 = X0 + GELU(PosConv(X0)) */
    memcpy(h->t3, h->t2, nh * sizeof(float));
    zero(h->t1, nh);
    ds_gelu_backward(h->t1, h->t2, h->Pc, (long)nh);
    size_t nw = (size_t)H * (H / G) * h->Kp;
    zero(h->dWpos, nw);
    ds_conv1d_backward(h->t3, h->dWpos, h->g.pos_b, h->t1, h->X0, h->Wpos, h->B, h->T, H, H, h->Kp, 1, h->Kp / 2, G,
                       h->T, h->conv_scratch);
    ds_weightnorm2_backward(h->g.pos_g, h->g.pos_v, h->dWpos, h->w.pos_g, h->w.pos_v, h->pos_norms, H, H / G, h->Kp);
    zero_padded_rows(h, h->t3, H);
    if (h->has_cmask) channel_mask(h, h->t3);
    if (h->has_mask)
        for (int r = 0; r < n; r++)
            if (h->mask[r]) {
                float *row = h->t3 + (size_t)r * H;
                for (int k = 0; k < H; k++) h->g.mse[k] += row[k];
                memset(row, 0, (size_t)H * sizeof(float));
            }
    zero(h->t1, nh);
    ds_dropout_backward(h->t1, h->t3, (long)nh, drop_p(h, c->feat_proj_dropout), h->seed, stream(h, SITE_PROJ));
    ds_linear_backward(h->dFn, h->g.proj_w, h->g.proj_b, h->t1, h->Fn, h->w.proj_w, n, h->Cl, H);
    const float *F = h->act[c->n_conv - 1];
    size_t nf = (size_t)n * h->Cl;
    zero(h->dF, nf);
    ds_layernorm_backward(h->dF, h->g.fln_w, h->g.fln_b, h->dFn, F, h->Fst, h->Fst + n, h->w.fln_w, n, h->Cl);
    if (c->feature_grad_mult <= 0) return;   /* frozen feature encoder */
    long cnt = 0;
    for (int b = 0; b < h->B; b++) cnt += (long)h->lens[b] * h->Cl;
    float kpen = h->pen_in_loss ? (float)(2.0 * c->feature_penalty_weight * h->pen_scale / (double)cnt) : 0.0f;
    for (size_t i = 0; i < nf; i++) h->dF[i] = (h->dF[i] + kpen * F[i]) * c->feature_grad_mult;
    for (int b = 0; b < h->B; b++) conv_backward(h, b, h->dF + (size_t)b * h->T * h->Cl);
}

void ds_w2v_encode_backward(ds_model *m, const float *dhidden)
{
    w2v *h = W(m);
    zero(h->dFn, (size_t)h->B * h->T * h->Cl);
    h->pen_in_loss = 0;
    backward_all(m, dhidden);
}

/* ---- pretraining loss (wav2vec2.md §3.6-3.7, fairseq semantics) -------- */

static const int32_t *g_codes;   /* qsort's context: the code tuples */
static int g_ncodes;

static int cmp_codes(const void *a, const void *b)
{
    int i = *(const int *)a, j = *(const int *)b;
    int c = memcmp(g_codes + (size_t)i * g_ncodes, g_codes + (size_t)j * g_ncodes, sizeof(int32_t) * (size_t)g_ncodes);
    return c ? c : (i > j) - (i < j);
}

/* Targets with the same codes are the same vector (project_q of the same
 * codevector rows), so "a negative equal to the positive" (wav2vec2.md
 * §3.7) is decided by the codes, as in exact arithmetic: a GEMM may round
 * two equal rows differently by their position in the matrix. Each row is
 * made a bitwise copy of the first row with its codes. */
static void same_codes_same_rows(w2v *h, int M, int G)
{
    int *ord = (int *)h->dQin;   /* free until backward */
    for (int i = 0; i < M; i++) ord[i] = i;
    g_codes = h->qidx;
    g_ncodes = G;
    qsort(ord, (size_t)M, sizeof *ord, cmp_codes);
    for (int k = 1; k < M; k++) {
        int i = ord[k], first = ord[k - 1];
        if (memcmp(h->qidx + (size_t)i * G, h->qidx + (size_t)first * G, sizeof(int32_t) * (size_t)G)) continue;
        memcpy(h->Y + (size_t)i * h->P, h->Y + (size_t)first * h->P, sizeof(float) * (size_t)h->P);
        ord[k] = first;   /* the group's first row stays the source */
    }
}

int ds_w2v_pretrain_loss(ds_model *m, const int32_t *neg, const float *gumbel, float tau, ds_w2v_losses *out)
{
    w2v *h = W(m);
    const ds_w2v_config *c = &h->cfg;
    int n = h->B * h->T, H = h->H, G = c->num_codevector_groups, V = c->num_codevectors_per_group;
    memset(out, 0, sizeof *out);
    if (m->eval_only) return ds_err(DS_EINVAL, "wav2vec2: the pretraining loss needs a training layout");
    if (!c->pretraining_head)
        return ds_err(DS_EINVAL, "this wav2vec2 has no pretraining head (quantizer, project_hid, project_q): it was "
                      "converted from a model without them");
    if (!h->has_mask) return ds_err(DS_EINVAL, "wav2vec2: the pretraining loss needs a time mask");
    long M = 0;
    for (int r = 0; r < n; r++)
        if (h->mask[r]) h->midx[M++] = r;
    if (M < 2) return ds_err(DS_EINVAL, "wav2vec2: %ld masked frames, the contrastive loss needs at least 2", M);
    for (long i = 0; i < M * h->KN; i++)
        if (neg[i] < 0 || neg[i] >= M)
            return ds_err(DS_EINVAL, "wav2vec2: negative %ld is %d, not a masked frame in [0, %ld)", i, neg[i], M);
    h->M = M; h->tau = tau; h->gumbel = gumbel;
    /* quantizer input: the normalised features at the masked frames */
    for (long i = 0; i < M; i++)
        memcpy(h->Qin + (size_t)i * h->Cl, h->Fn + (size_t)h->midx[i] * h->Cl, (size_t)h->Cl * sizeof(float));
    ds_dropout_forward(h->Qin, h->Qin, M * h->Cl, drop_p(h, c->feat_quantizer_dropout), h->seed, stream(h, SITE_QUANT));
    ds_linear_forward(h->QL, h->Qin, h->w.wp_w, h->w.wp_b, (int)M, h->Cl, h->GV);
    float code_ppl = 0;
    float ppl = ds_quantizer_forward(h->Qv, h->qidx, h->soft, h->avgp, &code_ppl, h->QL, gumbel, h->w.cv, (int)M, G, V,
                                     c->codevector_dim / G, tau);
    ds_linear_forward(h->Y, h->Qv, h->w.pq_w, h->w.pq_b, (int)M, c->codevector_dim, h->P);
    same_codes_same_rows(h, (int)M, G);
    for (long i = 0; i < M; i++)
        memcpy(h->Cx + (size_t)i * H, m->hidden + (size_t)h->midx[i] * H, (size_t)H * sizeof(float));
    ds_linear_forward(h->Cc, h->Cx, h->w.hid_w, h->w.hid_b, (int)M, H, h->P);
    long correct = 0;
    float Lm = ds_contrastive_forward(h->cprobs, &correct, h->Cc, h->Y, neg, (int)M, h->KN, h->P,
                                      c->contrastive_logits_temperature);
    h->negp = neg;
    double Ld = ((double)h->GV - ppl) / h->GV;
    out->M = M;
    out->correct = correct;
    out->contrastive = Lm / (double)M;
    out->diversity = Ld;
    out->feature_pen = h->pen;
    out->prob_perplexity = ppl;
    out->code_perplexity = code_ppl;
    out->accuracy = (double)correct / (double)M;
    out->loss = out->contrastive + c->diversity_loss_weight * Ld + c->feature_penalty_weight * h->pen;
    return 0;
}

void ds_w2v_pretrain_backward(ds_model *m, float scale)
{
    w2v *h = W(m);
    const ds_w2v_config *c = &h->cfg;
    int n = h->B * h->T, H = h->H, G = c->num_codevector_groups, V = c->num_codevectors_per_group;
    int M = (int)h->M, D = c->codevector_dim;
    zero(h->dCc, (size_t)M * h->P);
    zero(h->dY, (size_t)M * h->P);
    ds_contrastive_backward(h->dCc, h->dY, h->cprobs, h->Cc, h->Y, h->negp, M, h->KN, h->P,
                            c->contrastive_logits_temperature, scale / (float)M);
    zero(h->dQv, (size_t)M * D);
    ds_linear_backward(h->dQv, h->g.pq_w, h->g.pq_b, h->dY, h->Qv, h->w.pq_w, M, D, h->P);
    zero(h->dQL, (size_t)M * h->GV);
    ds_quantizer_backward(h->dQL, h->g.cv, h->dQv, -c->diversity_loss_weight * scale / (float)h->GV, h->qidx, h->soft,
                          h->avgp, h->QL, h->w.cv, M, G, V, D / G, h->tau);
    zero(h->dQin, (size_t)M * h->Cl);
    ds_linear_backward(h->dQin, h->g.wp_w, h->g.wp_b, h->dQL, h->Qin, h->w.wp_w, M, h->Cl, h->GV);
    zero(h->dFn, (size_t)n * h->Cl);
    /* dropout_features, then the scatter back to the masked frames (distinct rows) */
    zero(h->Qin, (size_t)M * h->Cl);   /* its values are no longer needed: reuse as the dropout's output */
    ds_dropout_backward(h->Qin, h->dQin, (long)M * h->Cl, drop_p(h, c->feat_quantizer_dropout), h->seed,
                        stream(h, SITE_QUANT));
    for (int i = 0; i < M; i++) {
        float *dst = h->dFn + (size_t)h->midx[i] * h->Cl;
        const float *src = h->Qin + (size_t)i * h->Cl;
        for (int k = 0; k < h->Cl; k++) dst[k] += src[k];
    }
    zero(h->dCx, (size_t)M * H);
    ds_linear_backward(h->dCx, h->g.hid_w, h->g.hid_b, h->dCc, h->Cx, h->w.hid_w, M, H, h->P);
    zero(h->dhid, (size_t)n * H);
    for (int i = 0; i < M; i++)
        memcpy(h->dhid + (size_t)h->midx[i] * H, h->dCx + (size_t)i * H, (size_t)H * sizeof(float));
    h->pen_in_loss = 1;
    h->pen_scale = scale;
    backward_all(m, h->dhid);
}

/* ---- CTC head (wav2vec2.md §3.8) ---------------------------------------- */

int ds_w2v_char_vocab(const ds_model *m, ds_char_vocab *v)
{
    const ds_w2v_config *c = &W(m)->cfg;
    return c->vocab[0] ? ds_char_vocab_from_lines(v, c->vocab, "the model's vocab") : ds_char_vocab_w2v2(v);
}

int ds_w2v_ctc_logits(ds_model *m, const float **logits)
{
    w2v *h = W(m);
    const ds_w2v_config *c = &h->cfg;
    if (!c->ctc_head) return ds_err(DS_EINVAL, "wav2vec2: this model has no CTC head (lm_head); fine-tune it with --task ctc");
    if (!m->hidden || !h->B) return ds_err(DS_EINVAL, "wav2vec2: CTC logits before an encode");
    int n = h->B * h->T, H = h->H, V = c->vocab_size;
    h->ctc_in = m->hidden;
    if (h->train && c->final_dropout > 0) {
        ds_dropout_forward(h->Hd, m->hidden, (long)n * H, c->final_dropout, h->seed, stream(h, SITE_FINAL));
        h->ctc_in = h->Hd;
    }
    ds_linear_forward(h->logits, h->ctc_in, h->w.lm_w, h->w.lm_b, n, H, V);
    zero_padded_rows(h, h->logits, V);
    h->ctc_ready = 1;
    *logits = h->logits;
    return 0;
}

/* Row-wise log_softmax in float with a double sum (torch's fp32 log_softmax). */
static void log_softmax_rows(float *out, const float *x, int rows, int V)
{
    #pragma omp parallel for schedule(static) if (rows > 256)
    for (int r = 0; r < rows; r++) {
        const float *a = x + (size_t)r * V;
        float *o = out + (size_t)r * V, mx = a[0];
        for (int v = 1; v < V; v++) mx = a[v] > mx ? a[v] : mx;
        double s = 0;
        for (int v = 0; v < V; v++) s += exp((double)(a[v] - mx));
        float lse = mx + (float)log(s);
        for (int v = 0; v < V; v++) o[v] = a[v] - lse;
    }
}

int ds_w2v_ctc_loss(ds_model *m, const int32_t *targets, const int *tgt_lens, double *loss)
{
    w2v *h = W(m);
    const ds_w2v_config *c = &h->cfg;
    if (!h->ctc_ready) return ds_err(DS_EINVAL, "wav2vec2: CTC loss before ds_w2v_ctc_logits");
    int B = h->B, T = h->T, V = c->vocab_size, Lmax = 0;
    long total = 0;
    h->ctc_loss_ready = 0;
    for (int b = 0; b < B; b++) {
        if (tgt_lens[b] < 0) return ds_err(DS_EINVAL, "wav2vec2: utterance %d has a negative transcript length", b);
        total += tgt_lens[b];
        if (tgt_lens[b] > Lmax) Lmax = tgt_lens[b];
    }
    for (long i = 0; i < total; i++)
        if (targets[i] <= 0 || targets[i] >= V)
            return ds_err(DS_EINVAL, "wav2vec2: CTC target %ld is id %d, expected 1 to %d (0 is the blank)", i, targets[i], V - 1);
    size_t need = ds_ctc_scratch_floats(B, T, Lmax, V);
    if (need > h->ctc_cap) {
        free(h->ctc_scratch);
        h->ctc_cap = 0;
        if (!(h->ctc_scratch = aligned_alloc(64, (need * sizeof(float) + 63) / 64 * 64)))
            return ds_err(DS_ENOMEM, "out of memory for the CTC loss of %d utterances, %d frames, %d labels", B, T, Lmax);
        h->ctc_cap = need;
    }
    if (total > h->tgt_cap) {
        int32_t *t = realloc(h->tgt, (size_t)total * sizeof *t);
        if (!t) return ds_err(DS_ENOMEM, "out of memory for CTC targets");
        h->tgt = t;
        h->tgt_cap = total;
    }
    if (total) memcpy(h->tgt, targets, (size_t)total * sizeof *targets);
    memcpy(h->tgl, tgt_lens, (size_t)B * sizeof *tgt_lens);
    log_softmax_rows(h->logp, h->logits, B * T, V);
    ds_ctc_forward(loss, h->ctc_scratch, h->logp, h->lens, h->tgt, h->tgl, B, T, V, DS_CV_BLANK, 1);
    h->ctc_loss_ready = 1;
    return 0;
}

int ds_w2v_ctc_backward(ds_model *m, float scale, int trunk)
{
    w2v *h = W(m);
    const ds_w2v_config *c = &h->cfg;
    if (!h->ctc_loss_ready) return ds_err(DS_EINVAL, "wav2vec2: CTC backward without the loss of the last encode");
    if (m->eval_only) return ds_err(DS_EINVAL, "wav2vec2: CTC backward on an inference layout");
    int B = h->B, T = h->T, V = c->vocab_size, H = h->H, n = B * T;
    double dl[MAX_BATCH];
    for (int b = 0; b < B; b++) dl[b] = scale;
    zero(h->dlogp, (size_t)n * V);
    ds_ctc_backward(h->dlogp, dl, h->ctc_scratch, h->logp, h->lens, h->tgt, h->tgl, B, T, V, DS_CV_BLANK);
    /* log_softmax backward: dz = dlogp − softmax · Σ dlogp */
    for (int r = 0; r < n; r++) {
        float *d = h->dlogp + (size_t)r * V;
        const float *lp = h->logp + (size_t)r * V;
        double s = 0;
        for (int v = 0; v < V; v++) s += d[v];
        for (int v = 0; v < V; v++) d[v] -= expf(lp[v]) * (float)s;
    }
    zero_padded_rows(h, h->dlogp, V);
    if (trunk) zero(h->dHd, (size_t)n * H);
    ds_linear_backward(trunk ? h->dHd : NULL, h->g.lm_w, h->g.lm_b, h->dlogp, h->ctc_in, h->w.lm_w, n, H, V);
    if (!trunk) return 0;
    const float *dh = h->dHd;
    if (h->ctc_in == h->Hd) {
        zero(h->dhid, (size_t)n * H);
        ds_dropout_backward(h->dhid, h->dHd, (long)n * H, c->final_dropout, h->seed, stream(h, SITE_FINAL));
        dh = h->dhid;
    }
    ds_w2v_encode_backward(m, dh);
    return 0;
}

/* ---- the model interface ---------------------------------------------- */

static int w2v_reserve_vt(ds_model *m, int B, int L) { return ds_w2v_reserve(m, B, L); }

static int w2v_encode_vt(ds_model *m, const int32_t *ids, int B, int L, int train, uint64_t seed, uint64_t step)
{
    (void)m; (void)ids; (void)B; (void)L; (void)train; (void)seed; (void)step;
    return ds_err(DS_ENOTSUP, "wav2vec2 reads audio, not token ids (a DNA command was given a speech model)");
}

static void w2v_encode_backward_vt(ds_model *m, const float *dhidden) { ds_w2v_encode_backward(m, dhidden); }

static const float *w2v_layer_output(const ds_model *m, int layer) { return ds_w2v_hidden_state(m, layer + 1); }

static char *w2v_config_json(const ds_model *m)
{
    char *j = NULL;
    return ds_w2v_config_to_json(&W(m)->cfg, &j) ? NULL : j;
}

static void w2v_destroy(ds_model *m)
{
    w2v *h = W(m);
    if (!h) return;
    w2v_release(h);
    free(h->ctc_scratch); free(h->tgt);
    free(h->w.l); free(h->g.l); free(h->a); free(h->skipped);
    free(h);
}

static const ds_model_vt w2v_vt = {
    .arch = "wav2vec2", .masked_lm = 0, .reserve = w2v_reserve_vt, .encode = w2v_encode_vt,
    .encode_backward = w2v_encode_backward_vt, .layer_output = w2v_layer_output, .init_weights = w2v_init,
    .config_json = w2v_config_json, .destroy = w2v_destroy,
};

int ds_w2v_create(ds_model **out, const ds_w2v_config *c)
{
    *out = NULL;
    int r = check_config(c);
    if (r) return r;
    ds_model *m = calloc(1, sizeof *m);
    w2v *h = calloc(1, sizeof *h);
    if (!m || !h) { free(m); free(h); return ds_err(DS_ENOMEM, "out of memory for a wav2vec2 model"); }
    m->vt = &w2v_vt;
    m->impl = h;
    h->cfg = *c;
    h->norm = ds_norm_ops_get(c->norm);
    h->H = c->hidden_size;
    h->FF = c->intermediate_size;
    h->NH = c->num_attention_heads;
    h->Cl = c->conv_dim[c->n_conv - 1];
    h->GV = c->num_codevector_groups * c->num_codevectors_per_group;
    h->P = c->proj_codevector_dim;
    h->KN = c->num_negatives;
    h->Kp = c->num_conv_pos_embeddings;
    h->keep_i = -1;
    m->d_model = m->d_feat = c->hidden_size;
    m->n_layer = c->num_hidden_layers;
    m->vocab = c->vocab_size;
    m->max_len = 1 << 30;
    m->emb_index = -1;
    ds_params_init(&m->params);
    int nl = c->num_hidden_layers;
    h->w.l = calloc((size_t)nl, sizeof *h->w.l);
    h->g.l = calloc((size_t)nl, sizeof *h->g.l);
    h->a = calloc((size_t)nl, sizeof *h->a);
    h->skipped = calloc((size_t)nl, 1);
    r = h->w.l && h->g.l && h->a && h->skipped ? 0 : ds_err(DS_ENOMEM, "out of memory for a wav2vec2 model");
    if (!r) r = register_params(m, h);
    if (r >= 0) {
        char what[200];
        snprintf(what, sizeof what, "wav2vec2 hidden %d, %d layers: %zu parameter values (with gradients)",
                 c->hidden_size, nl, m->params.total);
        r = ds_memory_check(2 * m->params.total * sizeof(float), what);
    }
    if (r >= 0) r = ds_params_alloc(&m->params);
    if (r < 0) { ds_model_free(m); return r; }
    bind(h, &h->w, &m->params, 0);
    bind(h, &h->g, &m->params, 1);
    *out = m;
    return 0;
}
