/* HyenaDNA encoder (hyenadna.md §1.2-1.6): embedding, blocks of
 * norm1 → Hyena operator (order 2) → residual, norm2 → MLP → residual, ln_f.
 * Forward and backward over one parameter block and one activation arena. */
#include "hyenadna.h"
#include "config.h"
#include "core/error.h"
#include "core/rng.h"
#include "nn/fftconv.h"
#include "nn/ops.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SHORT_K 3
#define RNG_STREAM_INIT 0x1000u
#define RNG_STREAM_DROPOUT 0x2000u

/* Pointers of one block's tensors in the parameter (or gradient) block. */
typedef struct {
    float *in_w, *in_b, *sf_w, *sf_b, *fbias;
    float *f0_w, *f0_b, *freq, *f2_w, *f2_b, *f4_w, *f4_b, *f6_w;
    float *out_w, *out_b, *fc1_w, *fc1_b, *fc2_w, *fc2_b;
    float *z, *t, *deltas;           /* buffers (positional features, decay rates) */
    ds_norm_w n1, n2;
} block_w;

/* One block's saved activations (rows = B·L). */
typedef struct {
    float *r_mid;                        /* residual after the mixer: input of norm2 */
    float *n1, *st1, *u, *uc, *xv, *yc, *y, *n2, *st2, *f1, *g;
    float *h1, *s1, *h2, *s2, *h3, *s3, *h4, *k;   /* implicit filter, [L, F] / [L, d] */
    ds_fftconv fc;
} block_act;

typedef struct {
    ds_hyena_config cfg;
    const ds_norm_ops *norm;
    block_w *w, *gw;                 /* per block: data and gradient pointers */
    float *emb, *gemb;
    ds_norm_w lnf, glnf;
    block_act *a;
    ds_arena arena;
    int32_t *ids;
    float **R;                       /* residual stream: R[i] enters block i, R[n] enters ln_f */
    float *h0, *out, *stf;
    /* backward scratch */
    float *dR, *dn, *dy, *dyc, *dxv, *du, *duc, *dg, *df1, *dk, *dF[2], *dh4;
    int train;
    int eval_reserved;               /* the arena was laid out for inference only (layout_eval) */
    uint64_t seed, step;
} hyena;

static hyena *H(const ds_model *m) { return m->impl; }

const char *ds_hyena_tokenizer(const ds_model *m) { return H(m)->cfg.tokenizer; }

/* ---- configuration ---------------------------------------------------- */

void ds_hyena_config_default(ds_hyena_config *c)
{
    memset(c, 0, sizeof *c);
    snprintf(c->preset, sizeof c->preset, "custom");
    c->d_model = 128; c->n_layer = 2; c->d_inner = 512;
    c->vocab_size = 12; c->pad_vocab_size_multiple = 8;
    c->l_max = 1026; c->emb_dim = 5; c->filter_order = 64; c->w = 10.0f;
    c->modulation_shift = 0.0f; c->embed_dropout = 0.1f; c->resid_dropout = 0.0f;
    c->norm = DS_NORM_DERF; c->alpha_init = DS_NORM_ALPHA_INIT; c->eps = DS_NORM_EPS;
    c->alpha_attn = c->alpha_ffn = c->alpha_final = NAN;
    c->init_embed_std = DS_HYENA_OFFICIAL_EMBED_STD;
    snprintf(c->tokenizer, sizeof c->tokenizer, "derfseq");
}

/* α₀ of a role: its own value, else alpha_init (norms.md §0.1) */
static float role_alpha(float role, float all) { return role == role ? role : all; }

int ds_hyena_config_to_json(const ds_hyena_config *c, char **json)
{
    json_t *o = json_pack("{s:s, s:s, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:f, s:f, s:f, s:f, s:s, s:f, s:f}",
                          "arch", "hyenadna", "preset", c->preset, "d_model", c->d_model, "n_layer", c->n_layer,
                          "d_inner", c->d_inner, "vocab_size", c->vocab_size, "pad_vocab_size_multiple",
                          c->pad_vocab_size_multiple, "l_max", c->l_max, "emb_dim", c->emb_dim, "filter_order",
                          c->filter_order, "w", (double)c->w, "modulation_shift", (double)c->modulation_shift,
                          "embed_dropout", (double)c->embed_dropout, "resid_dropout", (double)c->resid_dropout,
                          "norm", ds_norm_ops_get(c->norm)->name, "alpha_init", (double)c->alpha_init,
                          "layer_norm_epsilon", (double)c->eps);
    if (!o) return ds_err(DS_ENOMEM, "cannot build the HyenaDNA config JSON");
    const char *keys[3] = { "alpha_init_attn", "alpha_init_ffn", "alpha_init_final" };
    const float vals[3] = { c->alpha_attn, c->alpha_ffn, c->alpha_final };
    for (int i = 0; i < 3; i++)
        if (vals[i] == vals[i]) json_object_set_new(o, keys[i], json_real(vals[i]));
    json_object_set_new(o, "init_embed_std", json_real(c->init_embed_std));
    json_object_set_new(o, "tokenizer", json_string(c->tokenizer));
    *json = ds_cfg_dump(o);
    json_decref(o);
    return *json ? 0 : ds_err(DS_ENOMEM, "cannot serialise the HyenaDNA config");
}

/* Bounds per key: generous beyond every official shape (d_model <= 256,
 * 16 layers, l_max 1,000,002), tight enough that a typo such as d_model
 * 1000000 is refused here, by name, before anything is allocated. */
static int get_sizes(json_t *o, ds_hyena_config *c)
{
    int r = ds_cfg_get_int(o, "d_model", &c->d_model, 1, DS_HYENA_MAX_D);
    if (!r) r = ds_cfg_get_int(o, "n_layer", &c->n_layer, 1, DS_HYENA_MAX_LAYERS);
    if (!r) r = ds_cfg_get_int(o, "d_inner", &c->d_inner, 1, 4 * DS_HYENA_MAX_D);
    if (!r) r = ds_cfg_get_int(o, "vocab_size", &c->vocab_size, 12, 1 << 16);
    if (!r) r = ds_cfg_get_int(o, "pad_vocab_size_multiple", &c->pad_vocab_size_multiple, 1, 1 << 10);
    if (!r) r = ds_cfg_get_int(o, "l_max", &c->l_max, 2, DS_HYENA_MAX_LEN);
    if (!r) r = ds_cfg_get_int(o, "emb_dim", &c->emb_dim, 3, 1 << 10);
    if (!r) r = ds_cfg_get_int(o, "filter_order", &c->filter_order, 1, 1 << 14);
    return r;
}

int ds_hyena_config_from_json(ds_hyena_config *c, const char *text)
{
    json_t *o;
    int r = ds_cfg_parse(text, &o);
    if (r) return r;
    ds_hyena_config_default(c);
    const char *s = NULL;
    r = ds_cfg_get_str(o, "arch", &s);
    if (!r && s && strcmp(s, "hyenadna"))
        r = ds_err(DS_EMISMATCH, "config key 'arch': expected \"hyenadna\", got \"%s\"", s);
    if (!r) r = ds_cfg_get_str(o, "preset", &s);
    if (!r && s) snprintf(c->preset, sizeof c->preset, "%s", s);
    if (!r) r = get_sizes(o, c);
    if (!r) r = ds_cfg_get_float(o, "w", &c->w, -1e6, 1e6);
    if (!r) r = ds_cfg_get_float(o, "modulation_shift", &c->modulation_shift, -10, 10);
    if (!r) r = ds_cfg_get_float(o, "embed_dropout", &c->embed_dropout, 0, 0.999);
    if (!r) r = ds_cfg_get_float(o, "resid_dropout", &c->resid_dropout, 0, 0.999);
    if (!r) r = ds_cfg_get_float(o, "alpha_init", &c->alpha_init, -1e3, 1e3);
    if (!r) r = ds_cfg_get_float(o, "alpha_init_attn", &c->alpha_attn, -1e3, 1e3);
    if (!r) r = ds_cfg_get_float(o, "alpha_init_ffn", &c->alpha_ffn, -1e3, 1e3);
    if (!r) r = ds_cfg_get_float(o, "alpha_init_final", &c->alpha_final, -1e3, 1e3);
    if (!r) r = ds_cfg_get_float(o, "layer_norm_epsilon", &c->eps, 0, 1);
    if (!r) r = ds_cfg_get_float(o, "init_embed_std", &c->init_embed_std, 0, 10);
    if (!r) r = ds_cfg_get_norm(o, "norm", &c->norm);
    s = NULL;
    if (!r) r = ds_cfg_get_str(o, "tokenizer", &s);   /* absent in derfseq 0.1.0 files: derfseq's */
    if (!r && s && strcmp(s, "derfseq") && strcmp(s, "official") && strcmp(s, "official-hf"))
        r = ds_err(DS_EFORMAT, "config key 'tokenizer': expected \"derfseq\", \"official\" or \"official-hf\", got \"%s\"", s);
    if (!r && s) snprintf(c->tokenizer, sizeof c->tokenizer, "%s", s);
    if (!r && c->emb_dim % 2 == 0)
        r = ds_err(DS_EFORMAT, "config key 'emb_dim': expected an odd number (t, cos, sin bands), got %d", c->emb_dim);
    json_decref(o);
    return r;
}

/* ---- parameters ------------------------------------------------------- */

#define BUF (-1)
#define LP "hyena.backbone.layers.%d."

static int register_params(ds_model *m, const ds_hyena_config *c)
{
    ds_params *ps = &m->params;
    int d = c->d_model, F = c->filter_order, E = c->emb_dim, r = 0;
    char pre[DS_NAME_MAX];
    m->emb_index = ds_params_addf(ps, 1, 2, m->vocab, d, 0, "hyena.backbone.embeddings.word_embeddings.weight");
    if (m->emb_index < 0) return m->emb_index;
    for (int i = 0; i < c->n_layer && r >= 0; i++) {
        /* implicit-filter tensors get no weight decay, as in the official
         * configs (HyenaFilter's _optim wd = 0) */
        if ((r = ds_params_addf(ps, 1, 2, 3 * d, d, 0, LP "mixer.in_proj.weight", i)) < 0) break;
        if ((r = ds_params_addf(ps, 0, 1, 3 * d, 0, 0, LP "mixer.in_proj.bias", i)) < 0) break;
        if ((r = ds_params_addf(ps, 1, 3, 3 * d, 1, SHORT_K, LP "mixer.short_filter.weight", i)) < 0) break;
        if ((r = ds_params_addf(ps, 0, 1, 3 * d, 0, 0, LP "mixer.short_filter.bias", i)) < 0) break;
        if ((r = ds_params_addf(ps, 0, 1, d, 0, 0, LP "mixer.filter_fn.bias", i)) < 0) break;
        if ((r = ds_params_addf(ps, BUF, 3, 1, c->l_max, E, LP "mixer.filter_fn.pos_emb.z", i)) < 0) break;
        if ((r = ds_params_addf(ps, BUF, 3, 1, c->l_max, 1, LP "mixer.filter_fn.pos_emb.t", i)) < 0) break;
        if ((r = ds_params_addf(ps, 0, 2, F, E, 0, LP "mixer.filter_fn.implicit_filter.0.weight", i)) < 0) break;
        if ((r = ds_params_addf(ps, 0, 1, F, 0, 0, LP "mixer.filter_fn.implicit_filter.0.bias", i)) < 0) break;
        int freq = r = ds_params_addf(ps, 0, 2, 1, F, 0, LP "mixer.filter_fn.implicit_filter.1.freq", i);
        if (r < 0) break;
        if ((r = ds_params_addf(ps, 0, 2, F, F, 0, LP "mixer.filter_fn.implicit_filter.2.weight", i)) < 0) break;
        if ((r = ds_params_addf(ps, 0, 1, F, 0, 0, LP "mixer.filter_fn.implicit_filter.2.bias", i)) < 0) break;
        if ((r = ds_params_addf(ps, 0, 2, F, F, 0, LP "mixer.filter_fn.implicit_filter.4.weight", i)) < 0) break;
        if ((r = ds_params_addf(ps, 0, 1, F, 0, 0, LP "mixer.filter_fn.implicit_filter.4.bias", i)) < 0) break;
        if ((r = ds_params_addf(ps, 0, 2, d, F, 0, LP "mixer.filter_fn.implicit_filter.6.weight", i)) < 0) break;
        /* one Sin module appears three times in the official Sequential */
        for (int k = 3; k <= 5 && r >= 0; k += 2) {
            snprintf(pre, sizeof pre, LP "mixer.filter_fn.implicit_filter.%d.freq", i, k);
            r = ds_params_add_alias(ps, pre, freq);
        }
        if (r < 0) break;
        if ((r = ds_params_addf(ps, BUF, 3, 1, 1, d, LP "mixer.filter_fn.modulation.deltas", i)) < 0) break;
        if ((r = ds_params_addf(ps, 1, 2, d, d, 0, LP "mixer.out_proj.weight", i)) < 0) break;
        if ((r = ds_params_addf(ps, 0, 1, d, 0, 0, LP "mixer.out_proj.bias", i)) < 0) break;
        snprintf(pre, sizeof pre, LP "norm1", i);
        if ((r = ds_norm_add_params(ps, pre, c->norm, d)) < 0) break;
        snprintf(pre, sizeof pre, LP "norm2", i);
        if ((r = ds_norm_add_params(ps, pre, c->norm, d)) < 0) break;
        if ((r = ds_params_addf(ps, 1, 2, c->d_inner, d, 0, LP "mlp.fc1.weight", i)) < 0) break;
        if ((r = ds_params_addf(ps, 0, 1, c->d_inner, 0, 0, LP "mlp.fc1.bias", i)) < 0) break;
        if ((r = ds_params_addf(ps, 1, 2, d, c->d_inner, 0, LP "mlp.fc2.weight", i)) < 0) break;
        if ((r = ds_params_addf(ps, 0, 1, d, 0, 0, LP "mlp.fc2.bias", i)) < 0) break;
    }
    if (r < 0) return r;
    return ds_norm_add_params(ps, "hyena.backbone.ln_f", c->norm, d);
}

static float *P(const ds_params *ps, int grad, const char *fmt, int i)
{
    char name[DS_NAME_MAX];
    snprintf(name, sizeof name, fmt, i);
    int k = ds_params_find(ps, name);
    return k < 0 ? NULL : grad ? ds_params_grad(ps, k) : ds_params_data(ps, k);
}

static void bind_block(block_w *b, const ds_params *ps, int i, int g)
{
    char pre[DS_NAME_MAX];
    b->in_w = P(ps, g, LP "mixer.in_proj.weight", i);
    b->in_b = P(ps, g, LP "mixer.in_proj.bias", i);
    b->sf_w = P(ps, g, LP "mixer.short_filter.weight", i);
    b->sf_b = P(ps, g, LP "mixer.short_filter.bias", i);
    b->fbias = P(ps, g, LP "mixer.filter_fn.bias", i);
    b->f0_w = P(ps, g, LP "mixer.filter_fn.implicit_filter.0.weight", i);
    b->f0_b = P(ps, g, LP "mixer.filter_fn.implicit_filter.0.bias", i);
    b->freq = P(ps, g, LP "mixer.filter_fn.implicit_filter.1.freq", i);
    b->f2_w = P(ps, g, LP "mixer.filter_fn.implicit_filter.2.weight", i);
    b->f2_b = P(ps, g, LP "mixer.filter_fn.implicit_filter.2.bias", i);
    b->f4_w = P(ps, g, LP "mixer.filter_fn.implicit_filter.4.weight", i);
    b->f4_b = P(ps, g, LP "mixer.filter_fn.implicit_filter.4.bias", i);
    b->f6_w = P(ps, g, LP "mixer.filter_fn.implicit_filter.6.weight", i);
    b->out_w = P(ps, g, LP "mixer.out_proj.weight", i);
    b->out_b = P(ps, g, LP "mixer.out_proj.bias", i);
    b->fc1_w = P(ps, g, LP "mlp.fc1.weight", i);
    b->fc1_b = P(ps, g, LP "mlp.fc1.bias", i);
    b->fc2_w = P(ps, g, LP "mlp.fc2.weight", i);
    b->fc2_b = P(ps, g, LP "mlp.fc2.bias", i);
    b->z = P(ps, 0, LP "mixer.filter_fn.pos_emb.z", i);
    b->t = P(ps, 0, LP "mixer.filter_fn.pos_emb.t", i);
    b->deltas = P(ps, 0, LP "mixer.filter_fn.modulation.deltas", i);
    snprintf(pre, sizeof pre, LP "norm1", i);
    ds_norm_bind(&b->n1, ps, pre, g);
    snprintf(pre, sizeof pre, LP "norm2", i);
    ds_norm_bind(&b->n2, ps, pre, g);
}

/* Positional features z = [t, cos(f_b ω), −sin(f_b ω)] and t (hyenadna.md
 * §1.4); computed in float like the official code, which builds them with a
 * complex64 exp. deltas = linspace(ln(0.01)/1.5, ln(0.01)/0.3, d). */
static void fill_buffers(const ds_hyena_config *c, float *z, float *t, float *deltas)
{
    int L = c->l_max, E = c->emb_dim, bands = (E - 1) / 2, d = c->d_model;
    for (int s = 0; s < L; s++) {
        float ts = L > 1 ? (float)s / (float)(L - 1) : 0.0f;
        float w = 2.0f * (float)M_PI * (float)s / (float)L;
        t[s] = ts;
        z[s * E] = ts;
        for (int b = 0; b < bands; b++) {
            float f = bands > 1 ? 1e-4f + (float)b * ((float)(bands - 1) - 1e-4f) / (float)(bands - 1) : 1e-4f;
            z[s * E + 1 + b] = cosf(f * w);
            z[s * E + 1 + bands + b] = -sinf(f * w);
        }
    }
    double lo = log(1e-2) / 1.5, hi = log(1e-2) / 0.3;
    for (int k = 0; k < d; k++) deltas[k] = (float)(d > 1 ? lo + (hi - lo) * k / (d - 1) : lo);
}

static void fill_normal(float *x, size_t n, float std, uint64_t seed, int idx)
{
    ds_rng r;
    ds_rng_init(&r, seed, RNG_STREAM_INIT + (uint64_t)idx);
    ds_rng_fill_normal(&r, x, (long)n, 0.0f, std);
}

static void fill_uniform(float *x, size_t n, float a, uint64_t seed, int idx)
{
    ds_rng r;
    ds_rng_init(&r, seed, RNG_STREAM_INIT + (uint64_t)idx);
    ds_rng_fill_uniform(&r, x, (long)n, -a, a);
}

/* _init_weights of hyenadna.md §1.2: Linear N(0, 0.02), Embedding
 * N(0, init_embed_std) (official 0.02; see ds_hyena_config) with zero bias, out_proj/fc2 N(0, 0.02/√(2·n_layer)), short_filter U(±1/√3), filter
 * bias N(0, 1), freq = w, norms 1/0/α₀/0, buffers by formula. */
static int hyena_init(ds_model *m, uint64_t seed)
{
    hyena *h = H(m);
    const ds_hyena_config *c = &h->cfg;
    ds_params *ps = &m->params;
    float resid_std = 0.02f / sqrtf(2.0f * (float)c->n_layer);
    for (int i = 0; i < ps->n; i++) {
        ds_param *p = &ps->p[i];
        float *x = ds_params_data(ps, i);
        const char *nm = p->name;
        if (p->alias_of >= 0) continue;
        if (strstr(nm, ".norm1.") || strstr(nm, ".norm2.") || strstr(nm, ".ln_f.")) continue;  /* below */
        if (ds_name_ends_with(nm, "short_filter.weight") || ds_name_ends_with(nm, "short_filter.bias"))
            fill_uniform(x, p->numel, 1.0f / sqrtf((float)SHORT_K), seed, i);
        else if (ds_name_ends_with(nm, "filter_fn.bias")) fill_normal(x, p->numel, 1.0f, seed, i);
        else if (ds_name_ends_with(nm, ".freq")) for (size_t k = 0; k < p->numel; k++) x[k] = c->w;
        else if (ds_name_ends_with(nm, "mixer.out_proj.weight") || ds_name_ends_with(nm, "mlp.fc2.weight"))
            fill_normal(x, p->numel, resid_std, seed, i);
        else if (i == m->emb_index) fill_normal(x, p->numel, c->init_embed_std, seed, i);
        else if (ds_name_ends_with(nm, ".weight")) fill_normal(x, p->numel, 0.02f, seed, i);
        else if (ds_name_ends_with(nm, ".bias")) memset(x, 0, p->numel * sizeof(float));
    }
    for (int i = 0; i < c->n_layer; i++) {
        ds_norm_init(&h->w[i].n1, c->norm, c->d_model, role_alpha(c->alpha_attn, c->alpha_init));
        ds_norm_init(&h->w[i].n2, c->norm, c->d_model, role_alpha(c->alpha_ffn, c->alpha_init));
        fill_buffers(c, P(ps, 0, LP "mixer.filter_fn.pos_emb.z", i), P(ps, 0, LP "mixer.filter_fn.pos_emb.t", i),
                     P(ps, 0, LP "mixer.filter_fn.modulation.deltas", i));
    }
    ds_norm_init(&h->lnf, c->norm, c->d_model, role_alpha(c->alpha_final, c->alpha_init));
    return 0;
}

void ds_hyena_decay_groups_official(ds_model *m)
{
    ds_params *ps = &m->params;
    ds_norm_kind norm = H(m)->cfg.norm;
    for (int i = 0; i < ps->n; i++) {
        ds_param *p = &ps->p[i];
        if (!p->trainable || p->alias_of >= 0) continue;
        int is_norm = strstr(p->name, ".norm1.") || strstr(p->name, ".norm2.") || strstr(p->name, ".ln_f.");
        p->decay = !(i == m->emb_index || ds_name_ends_with(p->name, ".bias") || strstr(p->name, ".filter_fn.") ||
                     (is_norm && norm == DS_NORM_LAYERNORM));
    }
}

/* ---- activations ------------------------------------------------------ */

static void hyena_release(hyena *h, int n_layer)
{
    if (h->a)
        for (int i = 0; i < n_layer; i++) ds_fftconv_free(&h->a[i].fc);
    ds_arena_free(&h->arena);
    free(h->ids);
    h->ids = NULL;
}

/* Inference (m->eval_only): nothing is kept for a backward, so the blocks
 * share one set of buffers, the residual stream ping-pongs between two, and
 * the stages of a block reuse two scratch areas as they die:
 *   S1 [n, 4d]: u (in_proj out, 3d) | then xv, yc, y (d each) | then f1 = g (4d)
 *   S2 [n, 3d]: n1 (d) | then uc (short conv out, 3d) | then r_mid, n2 (d each)
 * The implicit filter's layers ping-pong between two [L, F] buffers and k is
 * computed in place of h4; one FFT convolution (its filter spectrum is
 * [L+1, d] complex) serves every layer. Per token that is 9·d floats of
 * activations plus 2·F + d of filter and 2·d of spectrum, about 13 KB at
 * d_model 256 (1 Mbp: 13 GB), against 63 KB when training keeps everything. */
static void layout_eval(hyena *h, ds_arena *a, int B, int L)
{
    const ds_hyena_config *c = &h->cfg;
    size_t n = (size_t)B * L, d = (size_t)c->d_model, F = (size_t)c->filter_order;
    float *pp[2] = { ds_arena_take(a, n * d), ds_arena_take(a, n * d) };
    for (int i = 0; i <= c->n_layer; i++) h->R[i] = pp[i % 2];
    h->h0 = pp[1];                       /* dead once block 0 has read R[0] */
    h->out = pp[(c->n_layer + 1) % 2];   /* ln_f reads R[n_layer], the other one */
    h->stf = ds_arena_take(a, 2 * n);
    float *S1 = ds_arena_take(a, n * 4 * d), *S2 = ds_arena_take(a, n * 3 * d), *st = ds_arena_take(a, 2 * n);
    float *fA = ds_arena_take(a, L * F), *fB = ds_arena_take(a, L * F), *k = ds_arena_take(a, L * d);
    for (int i = 0; i < c->n_layer; i++) {
        block_act *b = &h->a[i];
        b->n1 = S2; b->u = S1; b->uc = S2;
        b->xv = S1; b->yc = S1 + n * d; b->y = S1 + 2 * n * d;
        b->r_mid = S2; b->n2 = S2 + n * d;
        b->f1 = b->g = S1;
        b->st1 = b->st2 = st;
        b->h1 = b->h2 = b->h3 = fA;
        b->s1 = b->s2 = b->s3 = fB;
        b->h4 = b->k = k;
    }
    h->dR = h->dn = h->dy = h->dyc = h->dxv = h->du = h->duc = h->dg = h->df1 = h->dk = h->dh4 = NULL;
    h->dF[0] = h->dF[1] = NULL;
}

/* Takes every activation from `a`; with a measuring arena it only counts. */
static void layout(hyena *h, ds_arena *a, int B, int L, int eval_only)
{
    if (eval_only) { layout_eval(h, a, B, L); return; }
    const ds_hyena_config *c = &h->cfg;
    size_t n = (size_t)B * L, d = (size_t)c->d_model, di = (size_t)c->d_inner, F = (size_t)c->filter_order;
    for (int i = 0; i <= c->n_layer; i++) h->R[i] = ds_arena_take(a, n * d);
    h->h0 = ds_arena_take(a, n * d);
    h->out = ds_arena_take(a, n * d);
    h->stf = ds_arena_take(a, 2 * n);
    for (int i = 0; i < c->n_layer; i++) {
        block_act *b = &h->a[i];
        b->r_mid = ds_arena_take(a, n * d);
        b->n1 = ds_arena_take(a, n * d);
        b->st1 = ds_arena_take(a, 2 * n);
        b->u = ds_arena_take(a, n * 3 * d);
        b->uc = ds_arena_take(a, n * 3 * d);
        b->xv = ds_arena_take(a, n * d);
        b->yc = ds_arena_take(a, n * d);
        b->y = ds_arena_take(a, n * d);
        b->n2 = ds_arena_take(a, n * d);
        b->st2 = ds_arena_take(a, 2 * n);
        b->f1 = ds_arena_take(a, n * di);
        b->g = ds_arena_take(a, n * di);
        b->h1 = ds_arena_take(a, L * F);
        b->s1 = ds_arena_take(a, L * F);
        b->h2 = ds_arena_take(a, L * F);
        b->s2 = ds_arena_take(a, L * F);
        b->h3 = ds_arena_take(a, L * F);
        b->s3 = ds_arena_take(a, L * F);
        b->h4 = ds_arena_take(a, L * d);
        b->k = ds_arena_take(a, L * d);
    }
    h->dR = ds_arena_take(a, n * d);
    h->dn = ds_arena_take(a, n * d);
    h->dy = ds_arena_take(a, n * d);
    h->dyc = ds_arena_take(a, n * d);
    h->dxv = ds_arena_take(a, n * d);
    h->du = ds_arena_take(a, n * 3 * d);
    h->duc = ds_arena_take(a, n * 3 * d);
    h->dg = ds_arena_take(a, n * di);
    h->df1 = ds_arena_take(a, n * di);
    h->dk = ds_arena_take(a, L * d);
    h->dh4 = ds_arena_take(a, L * d);
    h->dF[0] = ds_arena_take(a, L * F);
    h->dF[1] = ds_arena_take(a, L * F);
}

static int hyena_reserve(ds_model *m, int B, int L)
{
    hyena *h = H(m);
    if (B < 1 || L < 1) return ds_err(DS_EINVAL, "batch %d x length %d: both must be positive", B, L);
    if (L > h->cfg.l_max)
        return ds_err(DS_EINVAL, "length %d exceeds the model's l_max %d (HyenaDNA cannot run longer inputs)", L,
                      h->cfg.l_max);
    if (m->B == B && m->L == L && h->eval_reserved == m->eval_only) return 0;
    hyena_release(h, h->cfg.n_layer);
    int ev = m->eval_only != 0;
    ds_arena meas;
    ds_arena_measure(&meas);
    layout(h, &meas, B, L, ev);
    char what[160];
    snprintf(what, sizeof what, "activations for batch %d x length %d of HyenaDNA d_model %d, %d layers%s", B, L,
             h->cfg.d_model, h->cfg.n_layer, ev ? " (inference)" : "");
    int r = ds_memory_check(meas.used * sizeof(float), what);
    if (!r && (r = ds_arena_init(&h->arena, meas.used)) == DS_ENOMEM) r = ds_err(DS_ENOMEM, "%s (%s)", ds_errmsg(), what);
    if (!r) {
        layout(h, &h->arena, B, L, ev);
        h->ids = malloc(sizeof(int32_t) * (size_t)B * L);
        if (!h->ids) r = ds_err(DS_ENOMEM, "out of memory for %d x %d token ids", B, L);
    }
    /* inference: one FFT convolution for all layers (block 0's) */
    for (int i = 0; !r && i < (ev ? 1 : h->cfg.n_layer); i++) r = ds_fftconv_init(&h->a[i].fc, L, h->cfg.d_model);
    if (r) {
        hyena_release(h, h->cfg.n_layer);
        m->B = m->L = 0;
        return r;
    }
    m->B = B;
    m->L = L;
    h->eval_reserved = ev;
    return 0;
}

/* ---- forward ---------------------------------------------------------- */

/* k = MLP(z)·(exp(−t·|δ|) + shift) for the first L positions (hyenadna.md §1.4) */
static void filter_forward(const hyena *h, const block_w *w, block_act *a, int L)
{
    const float *z = w->z, *t = w->t, *deltas = w->deltas;
    int F = h->cfg.filter_order, E = h->cfg.emb_dim, d = h->cfg.d_model;
    ds_linear_forward(a->h1, z, w->f0_w, w->f0_b, L, E, F);
    ds_sin_forward(a->s1, a->h1, w->freq, L, F);
    ds_linear_forward(a->h2, a->s1, w->f2_w, w->f2_b, L, F, F);
    ds_sin_forward(a->s2, a->h2, w->freq, L, F);
    ds_linear_forward(a->h3, a->s2, w->f4_w, w->f4_b, L, F, F);
    ds_sin_forward(a->s3, a->h3, w->freq, L, F);
    ds_linear_forward(a->h4, a->s3, w->f6_w, NULL, L, F, d);
    float shift = h->cfg.modulation_shift;
    for (int s = 0; s < L; s++)
        for (int c = 0; c < d; c++)
            a->k[s * d + c] = a->h4[s * d + c] * (expf(-t[s] * fabsf(deltas[c])) + shift);
}

/* y = x0 ⊙ (k ∗ (x1 ⊙ v) + bias ⊙ (x1 ⊙ v)), with x0|x1|v the thirds of uc */
static void gate_forward(const hyena *h, const block_w *w, block_act *a, int B, int L)
{
    size_t n = (size_t)B * L, d = (size_t)h->cfg.d_model;
#pragma omp parallel for schedule(static)
    for (size_t r = 0; r < n; r++)
        for (size_t c = 0; c < d; c++) a->xv[r * d + c] = a->uc[r * 3 * d + d + c] * a->uc[r * 3 * d + 2 * d + c];
    ds_fftconv_forward(h->eval_reserved ? &h->a[0].fc : &a->fc, a->yc, a->xv, a->k, B);
#pragma omp parallel for schedule(static)
    for (size_t r = 0; r < n; r++)
        for (size_t c = 0; c < d; c++)
            a->y[r * d + c] = a->uc[r * 3 * d + c] * (a->yc[r * d + c] + w->fbias[c] * a->xv[r * d + c]);
}

static int hyena_encode(ds_model *m, const int32_t *ids, int B, int L, int train, uint64_t seed, uint64_t step)
{
    hyena *h = H(m);
    const ds_hyena_config *c = &h->cfg;
    if (B != m->B || L != m->L) return ds_err(DS_EINVAL, "encode of %d x %d after reserving %d x %d", B, L, m->B, m->L);
    size_t n = (size_t)B * L;
    int d = c->d_model, di = c->d_inner;
    for (size_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= m->vocab) return ds_err(DS_EINVAL, "token id %d at %zu is outside [0, %d)", ids[i], i, m->vocab);
    memcpy(h->ids, ids, n * sizeof *ids);
    if (train && h->eval_reserved) return ds_err(DS_EINVAL, "training encode after an inference-only reserve");
    h->train = train; h->seed = seed; h->step = step;
    ds_embedding_forward(h->h0, ids, h->emb, (int)n, m->vocab, d);
    /* block 0's dropout1 is the embedding dropout (hyenadna.md §1.2) */
    ds_dropout_forward(h->R[0], h->h0, (long)(n * d), train ? c->embed_dropout : 0.0f, seed,
                       RNG_STREAM_DROPOUT + (step << 12));
    for (int i = 0; i < c->n_layer; i++) {
        const block_w *w = &h->w[i];
        block_act *a = &h->a[i];
        h->norm->forward(a->n1, a->st1, h->R[i], &w->n1, (int)n, d, c->eps);
        ds_linear_forward(a->u, a->n1, w->in_w, w->in_b, (int)n, d, 3 * d);
        ds_conv1d_causal_forward(a->uc, a->u, w->sf_w, w->sf_b, B, L, 3 * d, SHORT_K);
        filter_forward(h, w, a, L);
        gate_forward(h, w, a, B, L);
        /* the residual adds and the GELU run inside the products' tiles (nn/gemm.h) */
        ds_linear_residual_forward(a->r_mid, a->y, w->out_w, w->out_b, h->R[i], (int)n, d, d);
        h->norm->forward(a->n2, a->st2, a->r_mid, &w->n2, (int)n, d, c->eps);
        ds_linear_gelu_tanh_forward(a->f1, a->g, a->n2, w->fc1_w, w->fc1_b, (int)n, d, di);
        ds_linear_residual_forward(h->R[i + 1], a->g, w->fc2_w, w->fc2_b, a->r_mid, (int)n, di, d);
    }
    h->norm->forward(h->out, h->stf, h->R[c->n_layer], &h->lnf, (int)n, d, c->eps);
    m->hidden = h->out;
    return 0;
}

/* ---- backward --------------------------------------------------------- */

static void filter_backward(const hyena *h, const block_w *w, const block_w *gw, const block_act *a, int L)
{
    const float *z = w->z, *t = w->t, *deltas = w->deltas;
    int F = h->cfg.filter_order, E = h->cfg.emb_dim, d = h->cfg.d_model;
    float shift = h->cfg.modulation_shift;
    for (int s = 0; s < L; s++)
        for (int c = 0; c < d; c++)
            h->dh4[s * d + c] = h->dk[s * d + c] * (expf(-t[s] * fabsf(deltas[c])) + shift);
    float *ds_ = h->dF[0], *dh = h->dF[1];
    size_t lf = (size_t)L * F * sizeof(float);
    memset(ds_, 0, lf);
    ds_linear_backward(ds_, gw->f6_w, NULL, h->dh4, a->s3, w->f6_w, L, F, d);
    memset(dh, 0, lf);
    ds_sin_backward(dh, gw->freq, ds_, a->h3, w->freq, L, F);
    memset(ds_, 0, lf);
    ds_linear_backward(ds_, gw->f4_w, gw->f4_b, dh, a->s2, w->f4_w, L, F, F);
    memset(dh, 0, lf);
    ds_sin_backward(dh, gw->freq, ds_, a->h2, w->freq, L, F);
    memset(ds_, 0, lf);
    ds_linear_backward(ds_, gw->f2_w, gw->f2_b, dh, a->s1, w->f2_w, L, F, F);
    memset(dh, 0, lf);
    ds_sin_backward(dh, gw->freq, ds_, a->h1, w->freq, L, F);
    ds_linear_backward(NULL, gw->f0_w, gw->f0_b, dh, z, w->f0_w, L, E, F);
}

/* Backward of gate_forward: fills duc (all three thirds), dk and the filter
 * bias gradient, given dy. */
static void gate_backward(hyena *h, const block_w *w, const block_w *gw, block_act *a, int B, int L)
{
    size_t n = (size_t)B * L, d = (size_t)h->cfg.d_model;
#pragma omp parallel for schedule(static)
    for (size_t r = 0; r < n; r++)
        for (size_t c = 0; c < d; c++) {
            size_t i = r * d + c;
            float x0 = a->uc[r * 3 * d + c], dy = h->dy[i];
            h->duc[r * 3 * d + c] = dy * (a->yc[i] + w->fbias[c] * a->xv[i]);
            h->dyc[i] = dy * x0;
            h->dxv[i] = dy * x0 * w->fbias[c];
        }
#pragma omp parallel for schedule(static)
    for (size_t c0 = 0; c0 < d; c0 += 16) {   /* channel blocks: a fixed summation order */
        size_t c1 = c0 + 16 < d ? c0 + 16 : d;
        float acc[16] = {0};
        for (size_t r = 0; r < n; r++)
            for (size_t c = c0; c < c1; c++) acc[c - c0] += h->dyc[r * d + c] * a->xv[r * d + c];
        for (size_t c = c0; c < c1; c++) gw->fbias[c] += acc[c - c0];
    }
    memset(h->dk, 0, sizeof(float) * (size_t)L * d);
    ds_fftconv_backward(&a->fc, h->dxv, h->dk, h->dyc, a->xv, B);
#pragma omp parallel for schedule(static)
    for (size_t r = 0; r < n; r++)
        for (size_t c = 0; c < d; c++) {
            float dxv = h->dxv[r * d + c];
            h->duc[r * 3 * d + d + c] = dxv * a->uc[r * 3 * d + 2 * d + c];
            h->duc[r * 3 * d + 2 * d + c] = dxv * a->uc[r * 3 * d + d + c];
        }
}

static void hyena_encode_backward(ds_model *m, const float *dhidden)
{
    hyena *h = H(m);
    const ds_hyena_config *c = &h->cfg;
    int B = m->B, L = m->L, d = c->d_model, di = c->d_inner;
    size_t n = (size_t)B * L, nd = n * d * sizeof(float);
    if (!h->dR) return;   /* eval_only: reserve had no backward buffers */
    memset(h->dR, 0, nd);
    h->norm->backward(h->dR, &h->glnf, dhidden, h->R[c->n_layer], h->stf, &h->lnf, (int)n, d, c->eps);
    for (int i = c->n_layer - 1; i >= 0; i--) {
        const block_w *w = &h->w[i], *gw = &h->gw[i];
        block_act *a = &h->a[i];
        /* MLP branch: R[i+1] = r_mid + fc2(gelu(fc1(norm2(r_mid)))) */
        memset(h->dg, 0, n * di * sizeof(float));
        ds_linear_backward(h->dg, gw->fc2_w, gw->fc2_b, h->dR, a->g, w->fc2_w, (int)n, di, d);
        memset(h->df1, 0, n * di * sizeof(float));
        ds_gelu_tanh_backward(h->df1, h->dg, a->f1, (long)(n * di));
        memset(h->dn, 0, nd);
        ds_linear_backward(h->dn, gw->fc1_w, gw->fc1_b, h->df1, a->n2, w->fc1_w, (int)n, d, di);
        h->norm->backward(h->dR, &gw->n2, h->dn, a->r_mid, a->st2, &w->n2, (int)n, d, c->eps);
        /* mixer branch: r_mid = R[i] + out_proj(gate(short_conv(in_proj(norm1(R[i]))))) */
        memset(h->dy, 0, nd);
        ds_linear_backward(h->dy, gw->out_w, gw->out_b, h->dR, a->y, w->out_w, (int)n, d, d);
        gate_backward(h, w, gw, a, B, L);
        filter_backward(h, w, gw, a, L);
        memset(h->du, 0, 3 * nd);
        ds_conv1d_causal_backward(h->du, gw->sf_w, gw->sf_b, h->duc, a->u, w->sf_w, B, L, 3 * d, SHORT_K);
        memset(h->dn, 0, nd);
        ds_linear_backward(h->dn, gw->in_w, gw->in_b, h->du, a->n1, w->in_w, (int)n, d, 3 * d);
        h->norm->backward(h->dR, &gw->n1, h->dn, h->R[i], a->st1, &w->n1, (int)n, d, c->eps);
    }
    /* embedding dropout, then the scatter into the (tied) embedding rows */
    memset(h->dn, 0, nd);
    ds_dropout_backward(h->dn, h->dR, (long)(n * d), h->train ? c->embed_dropout : 0.0f, h->seed,
                        RNG_STREAM_DROPOUT + (h->step << 12));
    ds_embedding_backward(h->gemb, h->dn, h->ids, (int)n, m->vocab, d);
}

int ds_hyena_filter(ds_model *m, int layer, float *k)
{
    hyena *h = H(m);
    if (layer < 0 || layer >= h->cfg.n_layer || !m->L) return ds_err(DS_EINVAL, "filter of layer %d: no such layer or nothing reserved", layer);
    filter_forward(h, &h->w[layer], &h->a[layer], m->L);
    memcpy(k, h->a[layer].k, sizeof(float) * (size_t)m->L * h->cfg.d_model);
    return 0;
}

int ds_hyena_filter_backward(ds_model *m, int layer, const float *dk)
{
    hyena *h = H(m);
    if (layer < 0 || layer >= h->cfg.n_layer || !m->L) return ds_err(DS_EINVAL, "filter of layer %d: no such layer or nothing reserved", layer);
    if (h->eval_reserved) return ds_err(DS_EINVAL, "filter backward after an inference-only reserve");
    memcpy(h->dk, dk, sizeof(float) * (size_t)m->L * h->cfg.d_model);
    filter_backward(h, &h->w[layer], &h->gw[layer], &h->a[layer], m->L);
    return 0;
}

static const float *hyena_layer_output(const ds_model *m, int layer)
{
    const hyena *h = H(m);
    if (layer < 0 || layer >= h->cfg.n_layer) return NULL;
    if (h->eval_reserved && layer != h->cfg.n_layer - 1) return NULL;   /* overwritten by later blocks */
    return h->R[layer + 1];
}

static void hyena_destroy(ds_model *m)
{
    hyena *h = H(m);
    if (!h) return;
    hyena_release(h, h->cfg.n_layer);
    free(h->w); free(h->gw); free(h->a); free(h->R);
    free(h);
}

static char *hyena_config_json(const ds_model *m)
{
    char *j = NULL;
    return ds_hyena_config_to_json(&H(m)->cfg, &j) ? NULL : j;
}

static const ds_model_vt hyena_vt = {
    .arch = "hyenadna",
    .reserve = hyena_reserve,
    .encode = hyena_encode,
    .encode_backward = hyena_encode_backward,
    .layer_output = hyena_layer_output,
    .init_weights = hyena_init,
    .config_json = hyena_config_json,
    .destroy = hyena_destroy,
};

/* Values and gradients of every parameter and buffer must fit in memory;
 * a config asking for more is refused naming the sizes that set it. */
static int check_size(const ds_model *m, const ds_hyena_config *c)
{
    char what[256];
    snprintf(what, sizeof what, "config keys d_model %d, n_layer %d, d_inner %d, l_max %d, filter_order %d: "
             "%zu parameter and buffer values (with gradients)", c->d_model, c->n_layer, c->d_inner, c->l_max,
             c->filter_order, m->params.total);
    return ds_memory_check(2 * m->params.total * sizeof(float), what);
}

int ds_hyena_create(ds_model **out, const ds_hyena_config *c)
{
    *out = NULL;
    ds_model *m = calloc(1, sizeof *m);
    hyena *h = calloc(1, sizeof *h);
    if (!m || !h) { free(m); free(h); return ds_err(DS_ENOMEM, "out of memory for a HyenaDNA model"); }
    m->vt = &hyena_vt;
    m->impl = h;
    h->cfg = *c;
    h->norm = ds_norm_ops_get(c->norm);
    m->d_model = c->d_model;
    m->n_layer = c->n_layer;
    int mult = c->pad_vocab_size_multiple;
    m->vocab = (c->vocab_size + mult - 1) / mult * mult;
    m->max_len = c->l_max;
    m->d_feat = c->d_model;
    ds_params_init(&m->params);
    h->w = calloc((size_t)c->n_layer, sizeof *h->w);
    h->gw = calloc((size_t)c->n_layer, sizeof *h->gw);
    h->a = calloc((size_t)c->n_layer, sizeof *h->a);
    h->R = calloc((size_t)c->n_layer + 1, sizeof *h->R);
    int r = h->w && h->gw && h->a && h->R ? 0 : ds_err(DS_ENOMEM, "out of memory for a HyenaDNA model");
    if (!r) r = register_params(m, c);
    if (r >= 0) r = check_size(m, c);
    if (r >= 0) r = ds_params_alloc(&m->params);
    if (r < 0) { ds_model_free(m); return r; }
    for (int i = 0; i < c->n_layer; i++) {
        bind_block(&h->w[i], &m->params, i, 0);
        bind_block(&h->gw[i], &m->params, i, 1);
    }
    ds_norm_bind(&h->lnf, &m->params, "hyena.backbone.ln_f", 0);
    ds_norm_bind(&h->glnf, &m->params, "hyena.backbone.ln_f", 1);
    h->emb = ds_params_data(&m->params, m->emb_index);
    h->gemb = ds_params_grad(&m->params, m->emb_index);
    *out = m;
    return 0;
}
