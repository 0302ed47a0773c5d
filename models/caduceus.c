/* Caduceus (caduceus.md §2): embedding, n_layer blocks of
 * add → norm → BiMamba, then add → norm_f; Ph (one strand) or PS (RC
 * equivariant). Forward and backward over one parameter block and one
 * activation arena.
 *
 * How PS is computed. The official RCPS modules carry the hidden state as
 * [fwd | RC(rc)] over 2·D channels and run every shared module on the fwd
 * half and on RC of the rc half. derfseq runs the same D-wide stack once on
 * a doubled batch: rows 0..B−1 hold the sequences, rows B..2B−1 their
 * reverse complements (strand A and strand B below). The embedding, the
 * norms and BiMamba then act on the 2B rows exactly as the wrappers act on
 * the two halves; the concat form is only built for the output
 * (hidden = [H_A | RC(H_B)]). The released checkpoints' fused add-norm
 * swaps the halves every block (caduceus.md §2.6, pitfalls.md 7); in the
 * doubled batch that is s ← (RC(s_B), RC(s_A)) applied to each block's
 * pre-norm sum, an involution, so its backward is itself. The unfused
 * path, the only one Derf/DyT can use, has no swap. Ph conjoining at
 * inference (rc_conjoin) runs the same doubled batch without any glue.
 *
 * BiMamba shares in_proj and out_proj between directions, so in_proj runs
 * once per block and out_proj once on y_fwd + flip(y_rev): one GEMM each
 * instead of two (the same sums as the official code up to rounding). */
#include "caduceus.h"
#include "config.h"
#include "core/error.h"
#include "core/rng.h"
#include "nn/ops.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RNG_STREAM_INIT 0x1000u

/* One block's tensors (data or gradient block). Direction 0 = mamba_fwd,
 * 1 = mamba_rev; in_w/out_w are shared (the rev names are aliases). */
typedef struct {
    float *in_w, *out_w;
    float *conv_w[2], *conv_b[2], *xp_w[2], *dt_w[2], *dt_b[2], *A_log[2], *Dp[2];
    ds_norm_w nrm;
} block_w;

/* One block's saved activations; rows n = strands·B·L. */
typedef struct {
    float *Rs;                  /* pre-norm residual sum (after the PS swap) [n, D] */
    float *nrm, *st;            /* norm output [n, D], stats [2n] */
    float *x, *z;               /* in_proj halves [n, E], sequence order */
    float *xr, *zr;             /* the same, each sequence reversed (mamba_rev's inputs) */
    float *xc[2], *u[2];        /* conv output, SiLU of it [n, E] */
    float *dtr[2], *Bm[2], *Cm[2];   /* x_proj parts [n, R], [n, N], [n, N] */
    float *dt[2];               /* dt_proj output before bias/softplus [n, E] */
    float *ckpt[2];             /* scan state checkpoints */
    float *ysum;                /* y_fwd + flip(y_rev) [n, E] */
} block_act;

typedef struct {
    ds_caduceus_config cfg;
    const ds_norm_ops *norm;
    int D, E, R, N, K, V;
    int eval_reserved;           /* the arena was laid out for inference only */
    block_w *w, *gw;
    float *emb, *gemb;
    ds_norm_w nf, gnf;
    block_act *a;
    ds_arena arena;
    int S, Bs;                   /* strands (1 or 2) and sequences per encode (S·B) */
    int32_t *ids;                /* [Bs·L]: the batch, then its reverse complement */
    float *h0, *fin, *stf, *Rfin, *mix, *ytmp, *hid;
    /* backward scratch */
    float *dR, *dn, *dmix, *dys, *dx, *dz, *dyr, *dxr, *dzr, *du, *ddt, *ddtr, *dB, *dC, *dxc, *dfin;
    float *scan_scratch;
    float *G, *dG;               /* PS LM head: per-strand logits fin·Wᵀ [Bs·L, V] and their gradient */
} caduceus;

static caduceus *C(const ds_model *m) { return m->impl; }

/* ---- configuration ---------------------------------------------------- */

static const int g_complement[16] = { 0, 1, 2, 3, 4, 5, 6, 10, 9, 8, 7, 11, 12, 13, 14, 15 };

void ds_caduceus_config_default(ds_caduceus_config *c)
{
    memset(c, 0, sizeof *c);
    snprintf(c->preset, sizeof c->preset, "custom");
    snprintf(c->tokenizer, sizeof c->tokenizer, "caduceus");
    c->d_model = 118; c->n_layer = 4;
    c->vocab_size = 12; c->pad_vocab_size_multiple = 8;
    c->max_len = 1024;
    c->rcps = 1; c->fused_add_norm = 0;
    c->norm = DS_NORM_DERF; c->alpha_init = DS_NORM_ALPHA_INIT; c->eps = DS_NORM_EPS;
    c->alpha_attn = c->alpha_final = NAN;
    c->d_state = 16; c->d_conv = 4; c->expand = 2; c->dt_rank = 0;   /* 0: ceil(d_model / 16) */
    c->dt_min = 0.001f; c->dt_max = 0.1f; c->dt_init_floor = 1e-4f; c->dt_scale = 1.0f;
    for (int i = 0; i < DS_CADUCEUS_VOCAB_MAX; i++) c->complement_map[i] = i < 16 ? g_complement[i] : i;
    c->init_embed_std = 0.02f;
}

static int padded_vocab(const ds_caduceus_config *c)
{
    int m = c->pad_vocab_size_multiple;
    return (c->vocab_size + m - 1) / m * m;
}

static int dt_rank(const ds_caduceus_config *c) { return c->dt_rank > 0 ? c->dt_rank : (c->d_model + 15) / 16; }

int ds_caduceus_config_to_json(const ds_caduceus_config *c, char **json)
{
    json_t *o = json_pack("{s:s, s:s, s:i, s:i, s:i, s:i, s:i, s:b, s:b, s:s, s:f, s:f}", "arch", "caduceus",
                          "preset", c->preset, "d_model", c->d_model, "n_layer", c->n_layer, "vocab_size",
                          c->vocab_size, "pad_vocab_size_multiple", c->pad_vocab_size_multiple, "max_len",
                          c->max_len, "rcps", c->rcps, "fused_add_norm", c->fused_add_norm, "norm",
                          ds_norm_ops_get(c->norm)->name, "alpha_init", (double)c->alpha_init, "norm_epsilon",
                          (double)c->eps);
    if (!o) return ds_err(DS_ENOMEM, "cannot build the Caduceus config JSON");
    if (c->alpha_attn == c->alpha_attn) json_object_set_new(o, "alpha_init_attn", json_real(c->alpha_attn));
    if (c->alpha_final == c->alpha_final) json_object_set_new(o, "alpha_init_final", json_real(c->alpha_final));
    json_object_set_new(o, "d_state", json_integer(c->d_state));
    json_object_set_new(o, "d_conv", json_integer(c->d_conv));
    json_object_set_new(o, "expand", json_integer(c->expand));
    json_object_set_new(o, "dt_rank", json_integer(dt_rank(c)));
    json_object_set_new(o, "dt_min", json_real(c->dt_min));
    json_object_set_new(o, "dt_max", json_real(c->dt_max));
    json_object_set_new(o, "dt_init_floor", json_real(c->dt_init_floor));
    json_object_set_new(o, "dt_scale", json_real(c->dt_scale));
    json_t *cm = json_array();
    for (int i = 0; i < padded_vocab(c); i++) json_array_append_new(cm, json_integer(c->complement_map[i]));
    json_object_set_new(o, "complement_map", cm);
    json_object_set_new(o, "init_embed_std", json_real(c->init_embed_std));
    json_object_set_new(o, "tokenizer", json_string(c->tokenizer));
    *json = ds_cfg_dump(o);
    json_decref(o);
    return *json ? 0 : ds_err(DS_ENOMEM, "cannot serialise the Caduceus config");
}

/* complement_map: a permutation of the padded vocabulary that is its own
 * inverse (the reverse complement of a reverse complement is the input). */
static int get_complement_map(json_t *o, ds_caduceus_config *c)
{
    json_t *x = json_object_get(o, "complement_map");
    int V = padded_vocab(c);
    if (!x) return 0;
    if (!json_is_array(x) || (int)json_array_size(x) != V)
        return ds_err(DS_EFORMAT, "config key 'complement_map': expected an array of %d token ids", V);
    for (int i = 0; i < V; i++) {
        json_t *v = json_array_get(x, (size_t)i);
        if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) >= V)
            return ds_err(DS_EFORMAT, "config key 'complement_map': entry %d is not a token id in [0, %d)", i, V);
        c->complement_map[i] = (int)json_integer_value(v);
    }
    for (int i = 0; i < V; i++)
        if (c->complement_map[c->complement_map[i]] != i)
            return ds_err(DS_EFORMAT, "config key 'complement_map': id %d maps to %d, which does not map back", i,
                          c->complement_map[i]);
    return 0;
}

/* The official configs' fixed choices: anything else is not built. */
static int check_fixed(json_t *o)
{
    static const char *const must_true[] = { "bidirectional", "bidirectional_weight_tie" };
    for (int i = 0; i < 2; i++) {
        json_t *x = json_object_get(o, must_true[i]);
        if (x && !json_is_true(x))
            return ds_err(DS_ENOTSUP, "config key '%s': only true is built (as every official Caduceus)", must_true[i]);
    }
    json_t *x = json_object_get(o, "bidirectional_strategy");
    if (x && (!json_is_string(x) || strcmp(json_string_value(x), "add")))
        return ds_err(DS_ENOTSUP, "config key 'bidirectional_strategy': only \"add\" is built (as every official Caduceus)");
    return 0;
}

int ds_caduceus_config_from_json(ds_caduceus_config *c, const char *text)
{
    json_t *o;
    int r = ds_cfg_parse(text, &o);
    if (r) return r;
    ds_caduceus_config_default(c);
    const char *s = NULL;
    r = ds_cfg_get_str(o, "arch", &s);
    if (!r && s && strcmp(s, "caduceus"))
        r = ds_err(DS_EMISMATCH, "config key 'arch': expected \"caduceus\", got \"%s\"", s);
    if (!r) r = ds_cfg_get_str(o, "preset", &s);
    if (!r && s) snprintf(c->preset, sizeof c->preset, "%s", s);
    if (!r) r = ds_cfg_get_str(o, "tokenizer", &s);
    if (!r && s && strcmp(s, "caduceus"))
        r = ds_err(DS_EFORMAT, "config key 'tokenizer': expected \"caduceus\", got \"%s\"", s);
    if (!r) r = ds_cfg_get_int(o, "d_model", &c->d_model, 1, DS_CADUCEUS_MAX_D);
    if (!r) r = ds_cfg_get_int(o, "n_layer", &c->n_layer, 1, DS_CADUCEUS_MAX_LAYERS);
    if (!r) r = ds_cfg_get_int(o, "vocab_size", &c->vocab_size, 12, DS_CADUCEUS_VOCAB_MAX);
    if (!r) r = ds_cfg_get_int(o, "pad_vocab_size_multiple", &c->pad_vocab_size_multiple, 1, DS_CADUCEUS_VOCAB_MAX);
    if (!r && padded_vocab(c) > DS_CADUCEUS_VOCAB_MAX)
        r = ds_err(DS_EFORMAT, "config keys 'vocab_size'/'pad_vocab_size_multiple': more than %d embedding rows",
                   DS_CADUCEUS_VOCAB_MAX);
    if (!r) r = ds_cfg_get_int(o, "max_len", &c->max_len, 1, DS_CADUCEUS_MAX_LEN);
    if (!r) r = ds_cfg_get_bool(o, "rcps", &c->rcps);
    if (!r) r = ds_cfg_get_bool(o, "fused_add_norm", &c->fused_add_norm);
    if (!r) r = ds_cfg_get_norm(o, "norm", &c->norm);
    if (!r) r = ds_cfg_get_float(o, "alpha_init", &c->alpha_init, -1e3, 1e3);
    if (!r) r = ds_cfg_get_float(o, "alpha_init_attn", &c->alpha_attn, -1e3, 1e3);
    if (!r) r = ds_cfg_get_float(o, "alpha_init_final", &c->alpha_final, -1e3, 1e3);
    if (!r) r = ds_cfg_get_float(o, "norm_epsilon", &c->eps, 0, 1);
    if (!r) r = ds_cfg_get_int(o, "d_state", &c->d_state, 1, DS_SCAN_MAX_N);
    if (!r) r = ds_cfg_get_int(o, "d_conv", &c->d_conv, 1, 16);
    if (!r) r = ds_cfg_get_int(o, "expand", &c->expand, 1, 16);
    if (!r) r = ds_cfg_get_int(o, "dt_rank", &c->dt_rank, 1, DS_CADUCEUS_MAX_D);
    if (!r) r = ds_cfg_get_float(o, "dt_min", &c->dt_min, 1e-9, 10);
    if (!r) r = ds_cfg_get_float(o, "dt_max", &c->dt_max, 1e-9, 10);
    if (!r) r = ds_cfg_get_float(o, "dt_init_floor", &c->dt_init_floor, 0, 10);
    if (!r) r = ds_cfg_get_float(o, "dt_scale", &c->dt_scale, 0, 1e3);
    if (!r) r = ds_cfg_get_float(o, "init_embed_std", &c->init_embed_std, 0, 10);
    if (!r) r = get_complement_map(o, c);
    if (!r) r = check_fixed(o);
    if (!r && c->dt_min > c->dt_max)
        r = ds_err(DS_EFORMAT, "config keys 'dt_min' %g and 'dt_max' %g: dt_min must not exceed dt_max",
                   (double)c->dt_min, (double)c->dt_max);
    if (!r && c->fused_add_norm && c->norm != DS_NORM_RMSNORM && c->norm != DS_NORM_LAYERNORM)
        r = ds_err(DS_EFORMAT, "config key 'fused_add_norm': true needs norm rmsnorm or layernorm (the official "
                   "fused kernel); %s runs with fused_add_norm false (pitfalls.md 8)", ds_norm_ops_get(c->norm)->name);
    json_decref(o);
    return r;
}

int ds_caduceus_is_rcps(const ds_model *m) { return !strcmp(m->vt->arch, "caduceus") && C(m)->cfg.rcps; }

/* ---- parameters ------------------------------------------------------- */

/* Official names (caduceus.md §2.8): PS wraps the mixer (and, unfused, the
 * norms) in a "submodule". */
static void name_mixer(const caduceus *h, char *buf, size_t n, int layer, int dir, const char *t)
{
    snprintf(buf, n, "caduceus.backbone.layers.%d.mixer.%smamba_%s.%s", layer, h->cfg.rcps ? "submodule." : "",
             dir ? "rev" : "fwd", t);
}

static void name_norm(const caduceus *h, char *buf, size_t n, int layer)
{
    const char *sub = h->cfg.rcps && !h->cfg.fused_add_norm ? ".submodule" : "";
    if (layer < 0) snprintf(buf, n, "caduceus.backbone.norm_f%s", sub);
    else snprintf(buf, n, "caduceus.backbone.layers.%d.norm%s", layer, sub);
}

static const char *emb_name(const caduceus *h)
{
    return h->cfg.rcps ? "caduceus.backbone.embeddings.word_embeddings.embedding.weight"
                       : "caduceus.backbone.embeddings.word_embeddings.weight";
}

static int register_params(ds_model *m, caduceus *h)
{
    ds_params *ps = &m->params;
    const ds_caduceus_config *c = &h->cfg;
    int D = h->D, E = h->E, R = h->R, N = h->N, K = h->K;
    char nm[DS_NAME_MAX];
    m->emb_index = ds_params_addf(ps, 1, 2, m->vocab, D, 0, "%s", emb_name(h));
    int r = m->emb_index;
    for (int i = 0; i < c->n_layer && r >= 0; i++) {
        int in_idx = -1, out_idx = -1;
        for (int dir = 0; dir < 2 && r >= 0; dir++) {
            name_mixer(h, nm, sizeof nm, i, dir, "in_proj.weight");
            r = in_idx = dir ? ds_params_add_alias(ps, nm, in_idx) : ds_params_addf(ps, 1, 2, 2 * E, D, 0, "%s", nm);
            if (r < 0) break;
            /* A_log and D are _no_weight_decay; biases never decay */
            static const char *const t[] = { "conv1d.weight", "conv1d.bias", "x_proj.weight", "dt_proj.weight",
                                             "dt_proj.bias", "A_log", "D" };
            const int64_t shp[7][3] = { { E, 1, K }, { E }, { R + 2 * N, E }, { E, R }, { E }, { E, N }, { E } };
            const int nd[7] = { 3, 1, 2, 2, 1, 2, 1 }, decay[7] = { 1, 0, 1, 1, 0, 0, 0 };
            for (int k = 0; k < 7 && r >= 0; k++) {
                name_mixer(h, nm, sizeof nm, i, dir, t[k]);
                r = ds_params_addf(ps, decay[k], nd[k], shp[k][0], shp[k][1], shp[k][2], "%s", nm);
            }
            if (r < 0) break;
            name_mixer(h, nm, sizeof nm, i, dir, "out_proj.weight");
            r = out_idx = dir ? ds_params_add_alias(ps, nm, out_idx) : ds_params_addf(ps, 1, 2, D, E, 0, "%s", nm);
        }
        if (r < 0) break;
        name_norm(h, nm, sizeof nm, i);
        r = ds_norm_add_params(ps, nm, c->norm, D);
    }
    if (r < 0) return r;
    name_norm(h, nm, sizeof nm, -1);
    return ds_norm_add_params(ps, nm, c->norm, D);
}

static float *P(const ds_params *ps, int grad, const char *name)
{
    int k = ds_params_find(ps, name);
    return k < 0 ? NULL : grad ? ds_params_grad(ps, k) : ds_params_data(ps, k);
}

static void bind_block(const caduceus *h, block_w *b, const ds_params *ps, int i, int g)
{
    char nm[DS_NAME_MAX];
    name_mixer(h, nm, sizeof nm, i, 0, "in_proj.weight");
    b->in_w = P(ps, g, nm);
    name_mixer(h, nm, sizeof nm, i, 0, "out_proj.weight");
    b->out_w = P(ps, g, nm);
    for (int dir = 0; dir < 2; dir++) {
        float **dst[7] = { &b->conv_w[dir], &b->conv_b[dir], &b->xp_w[dir], &b->dt_w[dir], &b->dt_b[dir],
                           &b->A_log[dir], &b->Dp[dir] };
        static const char *const t[] = { "conv1d.weight", "conv1d.bias", "x_proj.weight", "dt_proj.weight",
                                         "dt_proj.bias", "A_log", "D" };
        for (int k = 0; k < 7; k++) {
            name_mixer(h, nm, sizeof nm, i, dir, t[k]);
            *dst[k] = P(ps, g, nm);
        }
    }
    name_norm(h, nm, sizeof nm, i);
    ds_norm_bind(&b->nrm, ps, nm, g);
}

void ds_caduceus_decay_groups_official(ds_model *m)
{
    ds_params *ps = &m->params;
    ds_norm_kind norm = C(m)->cfg.norm;
    for (int i = 0; i < ps->n; i++) {
        ds_param *p = &ps->p[i];
        if (!p->trainable || p->alias_of >= 0) continue;
        int is_norm = strstr(p->name, ".norm") != NULL;
        p->decay = !(i == m->emb_index || ds_name_ends_with(p->name, ".bias") || ds_name_ends_with(p->name, "A_log") ||
                     ds_name_ends_with(p->name, ".D") || (is_norm && norm == DS_NORM_LAYERNORM));
    }
}

/* ---- initialisation (caduceus.md §2.2) -------------------------------- */

static void rng_for(ds_rng *r, uint64_t seed, int idx) { ds_rng_init(r, seed, RNG_STREAM_INIT + (uint64_t)idx); }

/* PyTorch's defaults: Linear kaiming_uniform(a=√5) = U(±1/√fan_in); Conv1d
 * weight and bias U(±1/√(K)) (fan_in = K for depthwise); Mamba's dt_proj
 * weight U(±dt_scale/√R) and bias = softplus⁻¹(dt), dt log-uniform in
 * [dt_min, dt_max] floored at dt_init_floor; A_log = ln(1..N); D = 1;
 * embedding N(0, init_embed_std); out_proj re-drawn kaiming and divided by
 * √n_layer (rescale_prenorm_residual, one residual per layer). */
static int caduceus_init(ds_model *m, uint64_t seed)
{
    caduceus *h = C(m);
    const ds_caduceus_config *c = &h->cfg;
    ds_params *ps = &m->params;
    for (int i = 0; i < ps->n; i++) {
        ds_param *p = &ps->p[i];
        float *x = ds_params_data(ps, i);
        const char *nm = p->name;
        ds_rng r;
        rng_for(&r, seed, i);
        long n = (long)p->numel;
        if (p->alias_of >= 0 || strstr(nm, ".norm")) continue;   /* norms below */
        if (i == m->emb_index) ds_rng_fill_normal(&r, x, n, 0.0f, c->init_embed_std);
        else if (ds_name_ends_with(nm, "in_proj.weight") || ds_name_ends_with(nm, "x_proj.weight")) {
            float a = 1.0f / sqrtf((float)p->shape[1]);
            ds_rng_fill_uniform(&r, x, n, -a, a);
        } else if (ds_name_ends_with(nm, "out_proj.weight")) {
            float a = 1.0f / sqrtf((float)p->shape[1]);
            ds_rng_fill_uniform(&r, x, n, -a, a);
            for (long k = 0; k < n; k++) x[k] /= sqrtf((float)c->n_layer);
        } else if (ds_name_ends_with(nm, "conv1d.weight") || ds_name_ends_with(nm, "conv1d.bias")) {
            float a = 1.0f / sqrtf((float)h->K);
            ds_rng_fill_uniform(&r, x, n, -a, a);
        } else if (ds_name_ends_with(nm, "dt_proj.weight")) {
            float a = c->dt_scale / sqrtf((float)h->R);
            ds_rng_fill_uniform(&r, x, n, -a, a);
        } else if (ds_name_ends_with(nm, "dt_proj.bias")) {
            ds_rng_fill_uniform(&r, x, n, 0.0f, 1.0f);
            double lo = log(c->dt_min), hi = log(c->dt_max);
            for (long k = 0; k < n; k++) {
                double dt = exp(lo + (hi - lo) * x[k]);
                if (dt < c->dt_init_floor) dt = c->dt_init_floor;
                x[k] = (float)(dt + log(-expm1(-dt)));
            }
        } else if (ds_name_ends_with(nm, "A_log")) {
            for (long k = 0; k < n; k++) x[k] = logf((float)(k % h->N + 1));
        } else if (ds_name_ends_with(nm, ".D")) {
            for (long k = 0; k < n; k++) x[k] = 1.0f;
        }
    }
    float a_blk = c->alpha_attn == c->alpha_attn ? c->alpha_attn : c->alpha_init;
    float a_fin = c->alpha_final == c->alpha_final ? c->alpha_final : c->alpha_init;
    for (int i = 0; i < c->n_layer; i++) ds_norm_init(&h->w[i].nrm, c->norm, h->D, a_blk);
    ds_norm_init(&h->nf, c->norm, h->D, a_fin);
    return 0;
}

/* ---- activations ------------------------------------------------------ */

static void caduceus_release(caduceus *h)
{
    ds_arena_free(&h->arena);
    free(h->ids);
    h->ids = NULL;
}

static void layout(caduceus *h, ds_arena *a, int S, int B, int L, int eval_only)
{
    const ds_caduceus_config *c = &h->cfg;
    size_t n = (size_t)S * B * L, D = (size_t)h->D, E = (size_t)h->E, R = (size_t)h->R, N = (size_t)h->N;
    size_t ck = ds_scan_ckpt_floats(S * B, L, h->E, h->N);
    int nl = c->n_layer;
    h->h0 = ds_arena_take(a, n * D);
    h->fin = ds_arena_take(a, n * D);
    h->stf = ds_arena_take(a, 2 * n);
    h->mix = ds_arena_take(a, n * D);
    h->ytmp = ds_arena_take(a, n * E);
    h->hid = c->rcps ? ds_arena_take(a, (size_t)B * L * 2 * D) : NULL;
    float *pingpong[2] = { NULL, NULL };
    if (eval_only) { pingpong[0] = ds_arena_take(a, n * D); pingpong[1] = ds_arena_take(a, n * D); }
    for (int i = 0; i < nl; i++) {
        block_act *b = &h->a[i];
        b->Rs = eval_only ? pingpong[i % 2] : ds_arena_take(a, n * D);
        if (eval_only && i > 0) {   /* one layer's worth, shared */
            float *Rs = b->Rs;
            *b = h->a[0];
            b->Rs = Rs;
            continue;
        }
        b->nrm = ds_arena_take(a, n * D);
        b->st = ds_arena_take(a, 2 * n);
        b->x = ds_arena_take(a, n * E);
        b->z = ds_arena_take(a, n * E);
        /* inference: mamba_rev reads x and z reversed in place, and each
         * direction's buffers serve the other, conv output and SiLU shared */
        b->xr = eval_only ? b->x : ds_arena_take(a, n * E);
        b->zr = eval_only ? b->z : ds_arena_take(a, n * E);
        for (int d = 0; d < 2; d++) {
            if (eval_only && d == 1) {
                b->xc[1] = b->xc[0]; b->u[1] = b->u[0]; b->dtr[1] = b->dtr[0];
                b->Bm[1] = b->Bm[0]; b->Cm[1] = b->Cm[0]; b->dt[1] = b->dt[0]; b->ckpt[1] = NULL;
                break;
            }
            b->u[d] = ds_arena_take(a, n * E);
            b->xc[d] = eval_only ? b->u[d] : ds_arena_take(a, n * E);
            b->dtr[d] = ds_arena_take(a, n * R);
            b->Bm[d] = ds_arena_take(a, n * N);
            b->Cm[d] = ds_arena_take(a, n * N);
            b->dt[d] = ds_arena_take(a, n * E);
            b->ckpt[d] = eval_only ? NULL : ds_arena_take(a, ck);
        }
        b->ysum = ds_arena_take(a, n * E);
    }
    h->Rfin = eval_only ? pingpong[nl % 2] : ds_arena_take(a, n * D);
    if (c->rcps) h->G = ds_arena_take(a, n * h->V);
    if (eval_only) return;
    if (c->rcps) h->dG = ds_arena_take(a, n * h->V);
    h->dR = ds_arena_take(a, n * D);
    h->dn = ds_arena_take(a, n * D);
    h->dmix = ds_arena_take(a, n * D);
    h->dfin = ds_arena_take(a, n * D);
    h->dys = ds_arena_take(a, n * E);
    h->dx = ds_arena_take(a, n * E);
    h->dz = ds_arena_take(a, n * E);
    h->dyr = ds_arena_take(a, n * E);
    h->dxr = ds_arena_take(a, n * E);
    h->dzr = ds_arena_take(a, n * E);
    h->du = ds_arena_take(a, n * E);
    h->ddt = ds_arena_take(a, n * E);
    h->dxc = ds_arena_take(a, n * E);
    h->ddtr = ds_arena_take(a, n * R);
    h->dB = ds_arena_take(a, n * N);
    h->dC = ds_arena_take(a, n * N);
    h->scan_scratch = ds_arena_take(a, ds_scan_scratch_floats(S * B, L, h->E, h->N));
}

static int caduceus_reserve(ds_model *m, int B, int L)
{
    caduceus *h = C(m);
    if (B < 1 || L < 1) return ds_err(DS_EINVAL, "batch %d x length %d: both must be positive", B, L);
    if (L > h->cfg.max_len)
        return ds_err(DS_EINVAL, "length %d exceeds the model's max_len %d (config key max_len)", L, h->cfg.max_len);
    int S = h->cfg.rcps || m->rc_conjoin ? 2 : 1;
    if (m->B == B && m->L == L && h->S == S && h->eval_reserved == m->eval_only) return 0;
    caduceus_release(h);
    ds_arena meas;
    ds_arena_measure(&meas);
    layout(h, &meas, S, B, L, m->eval_only);
    char what[200];
    snprintf(what, sizeof what, "activations for batch %d x length %d of Caduceus-%s d_model %d, %d layers%s", B, L,
             h->cfg.rcps ? "PS" : "Ph", h->cfg.d_model, h->cfg.n_layer, m->eval_only ? " (inference)" : "");
    int r = ds_memory_check(meas.used * sizeof(float), what);
    if (!r && (r = ds_arena_init(&h->arena, meas.used)) == DS_ENOMEM) r = ds_err(DS_ENOMEM, "%s (%s)", ds_errmsg(), what);
    if (!r) {
        layout(h, &h->arena, S, B, L, m->eval_only);
        h->ids = malloc(sizeof(int32_t) * (size_t)S * B * L);
        if (!h->ids) r = ds_err(DS_ENOMEM, "out of memory for %d x %d token ids", B, L);
    }
    if (r) {
        caduceus_release(h);
        m->B = m->L = 0;
        return r;
    }
    h->S = S;
    h->Bs = S * B;
    h->eval_reserved = m->eval_only;
    m->B = B;
    m->L = L;
    return 0;
}

/* ---- layout helpers --------------------------------------------------- */

/* out[b, t, :] = inp[b, L−1−t, :] over Bs sequences of C channels */
static void flip_L(float *out, const float *inp, int Bs, int L, int Cn)
{
#pragma omp parallel for collapse(2) schedule(static)
    for (int b = 0; b < Bs; b++)
        for (int t = 0; t < L; t++)
            memcpy(out + ((size_t)b * L + t) * Cn, inp + ((size_t)b * L + (L - 1 - t)) * Cn, sizeof(float) * Cn);
}

static void flip_L_inplace(float *x, int Bs, int L, int Cn)
{
#pragma omp parallel for collapse(2) schedule(static)
    for (int b = 0; b < Bs; b++)
        for (int t = 0; t < L / 2; t++) {
            float *p = x + ((size_t)b * L + t) * Cn, *q = x + ((size_t)b * L + (L - 1 - t)) * Cn;
            for (int c = 0; c < Cn; c++) { float v = p[c]; p[c] = q[c]; q[c] = v; }
        }
}

/* dst += flip_L(src) */
static void add_flip_L(float *dst, const float *src, int Bs, int L, int Cn)
{
#pragma omp parallel for collapse(2) schedule(static)
    for (int b = 0; b < Bs; b++)
        for (int t = 0; t < L; t++) {
            float *o = dst + ((size_t)b * L + t) * Cn;
            const float *s = src + ((size_t)b * L + (L - 1 - t)) * Cn;
            for (int c = 0; c < Cn; c++) o[c] += s[c];
        }
}

/* The PS fused add-norm's strand swap over the doubled batch:
 * out_A = RC(in_B), out_B = RC(in_A), RC flipping length and channels. */
static void swap_rc(float *out, const float *inp, int B, int L, int D)
{
#pragma omp parallel for collapse(2) schedule(static)
    for (int b = 0; b < 2 * B; b++)
        for (int t = 0; t < L; t++) {
            int src = b < B ? b + B : b - B;
            float *o = out + ((size_t)b * L + t) * D;
            const float *s = inp + ((size_t)src * L + (L - 1 - t)) * D;
            for (int c = 0; c < D; c++) o[c] = s[D - 1 - c];
        }
}

static void add3(float *out, const float *a, const float *b, size_t n)
{
#pragma omp parallel for simd schedule(static)
    for (size_t i = 0; i < n; i++) out[i] = a[i] + b[i];
}

void ds_caduceus_rc_ids(const ds_model *m, const int32_t *ids, int32_t *out, int B, int L)
{
    const int *comp = C(m)->cfg.complement_map;
    for (int b = 0; b < B; b++)
        for (int t = 0; t < L; t++) out[(size_t)b * L + t] = comp[ids[(size_t)b * L + (L - 1 - t)]];
}

/* ---- forward ---------------------------------------------------------- */

/* GEMMs one strand at a time: OpenBLAS's result for a row depends on where
 * the row sits in the matrix (edge tiles), so the rc strand of x and the
 * fwd strand of rc(x), which hold the same values, must be the same call
 * for PS to be exactly RC-equivariant as the official code is. */
static void lin_f(const caduceus *h, float *out, const float *inp, const float *W, int L, int Cin, int Cout)
{
    size_t nb = (size_t)(h->Bs / h->S) * L;
    for (int s = 0; s < h->S; s++)
        ds_linear_forward(out + s * nb * Cout, inp + s * nb * Cin, W, NULL, (int)nb, Cin, Cout);
}

static void lin_b(const caduceus *h, float *dinp, float *dW, const float *dout, const float *inp, const float *W,
                  int L, int Cin, int Cout)
{
    size_t nb = (size_t)(h->Bs / h->S) * L;
    for (int s = 0; s < h->S; s++)
        ds_linear_backward(dinp + s * nb * Cin, dW, NULL, dout + s * nb * Cout, inp + s * nb * Cin, W, (int)nb, Cin,
                           Cout);
}

static void mixer_forward(caduceus *h, const block_w *w, block_act *a, int L)
{
    int Bs = h->Bs, D = h->D, E = h->E, R = h->R, N = h->N, K = h->K;
    int n = Bs * L;
    lin_f(h, a->x, a->nrm, w->in_w, L, D, E);
    lin_f(h, a->z, a->nrm, w->in_w + (size_t)E * D, L, D, E);
    int inplace = a->xr == a->x;   /* inference layout */
    if (!inplace) {
        flip_L(a->xr, a->x, Bs, L, E);
        flip_L(a->zr, a->z, Bs, L, E);
    }
    for (int d = 0; d < 2; d++) {
        if (d && inplace) {
            flip_L_inplace(a->x, Bs, L, E);
            flip_L_inplace(a->z, Bs, L, E);
        }
        const float *xin = d ? a->xr : a->x, *z = d ? a->zr : a->z;
        ds_conv1d_causal_forward(a->xc[d], xin, w->conv_w[d], w->conv_b[d], Bs, L, E, K);
        ds_silu_forward(a->u[d], a->xc[d], (long)n * E);
        lin_f(h, a->dtr[d], a->u[d], w->xp_w[d], L, E, R);
        lin_f(h, a->Bm[d], a->u[d], w->xp_w[d] + (size_t)R * E, L, E, N);
        lin_f(h, a->Cm[d], a->u[d], w->xp_w[d] + (size_t)(R + N) * E, L, E, N);
        lin_f(h, a->dt[d], a->dtr[d], w->dt_w[d], L, R, E);
        ds_selective_scan_forward(d ? h->ytmp : a->ysum, a->ckpt[d], a->u[d], a->dt[d], w->dt_b[d], w->A_log[d],
                                  a->Bm[d], a->Cm[d], w->Dp[d], z, Bs, L, E, N);
    }
    add_flip_L(a->ysum, h->ytmp, Bs, L, E);
    lin_f(h, h->mix, a->ysum, w->out_w, L, E, D);
}

/* hidden in the official concat form [B·L, 2D] = [H_A | RC(H_B)] */
static void build_concat(caduceus *h, int B, int L)
{
    int D = h->D;
#pragma omp parallel for collapse(2) schedule(static)
    for (int b = 0; b < B; b++)
        for (int t = 0; t < L; t++) {
            float *o = h->hid + ((size_t)b * L + t) * 2 * D;
            const float *fa = h->fin + ((size_t)b * L + t) * D;
            const float *fb = h->fin + ((size_t)(B + b) * L + (L - 1 - t)) * D;
            memcpy(o, fa, sizeof(float) * D);
            for (int c = 0; c < D; c++) o[D + c] = fb[D - 1 - c];
        }
}

static int caduceus_encode(ds_model *m, const int32_t *ids, int B, int L, int train, uint64_t seed, uint64_t step)
{
    caduceus *h = C(m);
    const ds_caduceus_config *c = &h->cfg;
    (void)train; (void)seed; (void)step;   /* Caduceus has no dropout */
    if (B != m->B || L != m->L) return ds_err(DS_EINVAL, "encode of %d x %d after reserving %d x %d", B, L, m->B, m->L);
    size_t nb = (size_t)B * L, n = (size_t)h->Bs * L;
    int D = h->D, nl = c->n_layer;
    for (size_t i = 0; i < nb; i++)
        if (ids[i] < 0 || ids[i] >= m->vocab) return ds_err(DS_EINVAL, "token id %d at %zu is outside [0, %d)", ids[i], i, m->vocab);
    memcpy(h->ids, ids, nb * sizeof *ids);
    if (h->S == 2) ds_caduceus_rc_ids(m, ids, h->ids + nb, B, L);
    int fused = c->rcps && c->fused_add_norm;
    ds_embedding_forward(h->h0, h->ids, h->emb, (int)n, m->vocab, D);
    if (fused) swap_rc(h->a[0].Rs, h->h0, B, L, D);
    else memcpy(h->a[0].Rs, h->h0, n * D * sizeof(float));
    for (int i = 0; i < nl; i++) {
        block_act *a = &h->a[i];
        h->norm->forward(a->nrm, a->st, a->Rs, &h->w[i].nrm, (int)n, D, c->eps);
        mixer_forward(h, &h->w[i], a, L);
        float *next = i + 1 < nl ? h->a[i + 1].Rs : h->Rfin;
        if (fused && i + 1 < nl) {
            add3(h->mix, h->mix, a->Rs, n * D);
            swap_rc(next, h->mix, B, L, D);
        } else {
            add3(next, h->mix, a->Rs, n * D);
        }
    }
    h->norm->forward(h->fin, h->stf, h->Rfin, &h->nf, (int)n, D, c->eps);
    if (c->rcps) build_concat(h, B, L);
    m->hidden = c->rcps ? h->hid : h->fin;
    return 0;
}

/* ---- backward --------------------------------------------------------- */

/* dmix = dL/d(mixer output) [n, D]; writes dL/d(mixer input) to h->dn. */
static void mixer_backward(caduceus *h, const block_w *w, const block_w *gw, block_act *a, const float *dmix, int L)
{
    int Bs = h->Bs, D = h->D, E = h->E, R = h->R, N = h->N, K = h->K;
    int n = Bs * L;
    size_t nE = (size_t)n * E * sizeof(float);
    memset(h->dys, 0, nE);
    lin_b(h, h->dys, gw->out_w, dmix, a->ysum, w->out_w, L, E, D);
    memset(h->dx, 0, nE);
    memset(h->dz, 0, nE);
    flip_L(h->dyr, h->dys, Bs, L, E);
    for (int d = 0; d < 2; d++) {
        const float *xin = d ? a->xr : a->x, *z = d ? a->zr : a->z, *dy = d ? h->dyr : h->dys;
        float *dxo = d ? h->dxr : h->dx, *dzo = d ? h->dzr : h->dz;
        if (d) { memset(h->dxr, 0, nE); memset(h->dzr, 0, nE); }
        memset(h->du, 0, nE);
        memset(h->ddt, 0, nE);
        memset(h->dB, 0, sizeof(float) * (size_t)n * N);
        memset(h->dC, 0, sizeof(float) * (size_t)n * N);
        ds_selective_scan_backward(h->du, h->ddt, gw->dt_b[d], gw->A_log[d], h->dB, h->dC, gw->Dp[d], dzo, dy,
                                   a->ckpt[d], h->scan_scratch, a->u[d], a->dt[d], w->dt_b[d], w->A_log[d],
                                   a->Bm[d], a->Cm[d], w->Dp[d], z, Bs, L, E, N);
        memset(h->ddtr, 0, sizeof(float) * (size_t)n * R);
        lin_b(h, h->ddtr, gw->dt_w[d], h->ddt, a->dtr[d], w->dt_w[d], L, R, E);
        lin_b(h, h->du, gw->xp_w[d], h->ddtr, a->u[d], w->xp_w[d], L, E, R);
        lin_b(h, h->du, gw->xp_w[d] + (size_t)R * E, h->dB, a->u[d], w->xp_w[d] + (size_t)R * E, L, E, N);
        lin_b(h, h->du, gw->xp_w[d] + (size_t)(R + N) * E, h->dC, a->u[d], w->xp_w[d] + (size_t)(R + N) * E, L, E, N);
        memset(h->dxc, 0, nE);
        ds_silu_backward(h->dxc, h->du, a->xc[d], (long)n * E);
        ds_conv1d_causal_backward(dxo, gw->conv_w[d], gw->conv_b[d], h->dxc, xin, w->conv_w[d], Bs, L, E, K);
    }
    add_flip_L(h->dx, h->dxr, Bs, L, E);
    add_flip_L(h->dz, h->dzr, Bs, L, E);
    memset(h->dn, 0, sizeof(float) * (size_t)n * D);
    lin_b(h, h->dn, gw->in_w, h->dx, a->nrm, w->in_w, L, D, E);
    lin_b(h, h->dn, gw->in_w + (size_t)E * D, h->dz, a->nrm, w->in_w + (size_t)E * D, L, D, E);
}

/* Backward from dfin = dL/d(norm_f output) in the doubled-batch layout. */
static void backward_from_fin(ds_model *m)
{
    caduceus *h = C(m);
    const ds_caduceus_config *c = &h->cfg;
    int B = m->B, L = m->L, D = h->D, nl = c->n_layer;
    size_t n = (size_t)h->Bs * L, nd = n * D * sizeof(float);
    int fused = c->rcps && c->fused_add_norm;
    memset(h->dR, 0, nd);
    h->norm->backward(h->dR, &h->gnf, h->dfin, h->Rfin, h->stf, &h->nf, (int)n, D, c->eps);
    for (int i = nl - 1; i >= 0; i--) {
        block_act *a = &h->a[i];
        /* dR is the gradient of the sum entering block i + 1 (after its
         * swap); through the swap's adjoint (itself) it is the gradient of
         * mix + Rs[i], which both the mixer and the residual path receive */
        if (fused && i + 1 < nl) {
            swap_rc(h->dmix, h->dR, B, L, D);
            memcpy(h->dR, h->dmix, nd);
        }
        mixer_backward(h, &h->w[i], &h->gw[i], a, h->dR, L);
        h->norm->backward(h->dR, &h->gw[i].nrm, h->dn, a->Rs, a->st, &h->w[i].nrm, (int)n, D, c->eps);
    }
    if (fused) {
        swap_rc(h->dn, h->dR, B, L, D);
        ds_embedding_backward(h->gemb, h->dn, h->ids, (int)n, m->vocab, D);
    } else {
        ds_embedding_backward(h->gemb, h->dR, h->ids, (int)n, m->vocab, D);
    }
}

static void caduceus_encode_backward(ds_model *m, const float *dhidden)
{
    caduceus *h = C(m);
    int B = m->B, L = m->L, D = h->D;
    size_t nb = (size_t)B * L;
    if (!h->dR) return;   /* eval_only: reserve had no backward buffers */
    if (h->cfg.rcps) {
        /* the adjoint of build_concat */
#pragma omp parallel for collapse(2) schedule(static)
        for (int b = 0; b < B; b++)
            for (int t = 0; t < L; t++) {
                const float *g = dhidden + ((size_t)b * L + t) * 2 * D;
                float *ga = h->dfin + ((size_t)b * L + t) * D;
                float *gb = h->dfin + ((size_t)(B + b) * L + (L - 1 - t)) * D;
                memcpy(ga, g, sizeof(float) * D);
                for (int c = 0; c < D; c++) gb[D - 1 - c] = g[D + c];
            }
    } else {
        memcpy(h->dfin, dhidden, nb * D * sizeof(float));
        if (h->S == 2) memset(h->dfin + nb * D, 0, nb * D * sizeof(float));
    }
    backward_from_fin(m);
}

/* ---- heads' hooks ----------------------------------------------------- */

/* PS LM head (RCPSLMHead): logits = h_fwd·Wᵀ + flip_C(h_rc)·W[comp]ᵀ over
 * the concat halves. In the doubled batch flip_C(h_rc)[t] = fin_B[L−1−t],
 * so with G_A = fin_A·Wᵀ and G_B = fin_B·Wᵀ (one GEMM each, same shape):
 *   logits[t, v] = G_A[t, v] + G_B[L−1−t, comp[v]].
 * For rc(x) the two GEMMs trade places and the sum its order, so the
 * logits are exactly equivariant. */
static void ps_lm_logits(const ds_model *m, float *logits)
{
    caduceus *h = C(m);
    int B = m->B, L = m->L, V = m->vocab;
    size_t nb = (size_t)B * L;
    const int *comp = h->cfg.complement_map;
    lin_f(h, h->G, h->fin, h->emb, L, h->D, V);
#pragma omp parallel for collapse(2) schedule(static)
    for (int b = 0; b < B; b++)
        for (int t = 0; t < L; t++) {
            const float *ga = h->G + ((size_t)b * L + t) * V;
            const float *gb = h->G + (nb + (size_t)b * L + (L - 1 - t)) * V;
            float *o = logits + ((size_t)b * L + t) * V;
            for (int v = 0; v < V; v++) o[v] = ga[v] + gb[comp[v]];
        }
}

static void ps_lm_backward(ds_model *m, const float *dlogits)
{
    caduceus *h = C(m);
    int B = m->B, L = m->L, V = m->vocab;
    size_t nb = (size_t)B * L;
    const int *comp = h->cfg.complement_map;
    if (!h->dR) return;
#pragma omp parallel for collapse(2) schedule(static)
    for (int b = 0; b < B; b++)
        for (int t = 0; t < L; t++) {
            const float *g = dlogits + ((size_t)b * L + t) * V;
            float *ga = h->dG + ((size_t)b * L + t) * V;
            float *gb = h->dG + (nb + (size_t)b * L + (L - 1 - t)) * V;
            for (int v = 0; v < V; v++) { ga[v] = g[v]; gb[comp[v]] = g[v]; }
        }
    memset(h->dfin, 0, sizeof(float) * 2 * nb * h->D);
    lin_b(h, h->dfin, h->gemb, h->dG, h->fin, h->emb, L, h->D, V);
    backward_from_fin(m);
}

/* Features of a doubled batch (PS, or Ph conjoined): the two strands'
 * final states averaged position by position, ½(fin_A[t] + fin_B[L−1−t]).
 * For PS that is ½(h_fwd[t] + flip_C h_rc[t]) of the official concat form,
 * the RC-invariant per-strand channels; its mean over positions is the
 * official classification feature (both strands stacked, pooled, logits
 * averaged). Ph alone: hidden. */
static void caduceus_features(const ds_model *m, float *feat)
{
    const caduceus *h = C(m);
    int B = m->B, L = m->L, D = h->D;
    if (h->S == 1) {
        memcpy(feat, h->fin, (size_t)B * L * D * sizeof(float));
        return;
    }
#pragma omp parallel for collapse(2) schedule(static)
    for (int b = 0; b < B; b++)
        for (int t = 0; t < L; t++) {
            const float *fa = h->fin + ((size_t)b * L + t) * D;
            const float *fb = h->fin + ((size_t)(B + b) * L + (L - 1 - t)) * D;
            float *o = feat + ((size_t)b * L + t) * D;
            for (int c = 0; c < D; c++) o[c] = 0.5f * (fa[c] + fb[c]);
        }
}

static void caduceus_features_backward(ds_model *m, const float *dfeat)
{
    caduceus *h = C(m);
    int B = m->B, L = m->L, D = h->D;
    if (!h->dR) return;
    if (h->S == 1) {
        caduceus_encode_backward(m, dfeat);
        return;
    }
#pragma omp parallel for collapse(2) schedule(static)
    for (int b = 0; b < B; b++)
        for (int t = 0; t < L; t++) {
            const float *g = dfeat + ((size_t)b * L + t) * D;
            float *ga = h->dfin + ((size_t)b * L + t) * D;
            float *gb = h->dfin + ((size_t)(B + b) * L + (L - 1 - t)) * D;
            for (int c = 0; c < D; c++) { ga[c] = 0.5f * g[c]; gb[c] = 0.5f * g[c]; }
        }
    backward_from_fin(m);
}

static const float *caduceus_layer_output(const ds_model *m, int layer)
{
    const caduceus *h = C(m);
    /* per-layer outputs exist in the model's own layout only for one strand */
    if (layer < 0 || layer >= h->cfg.n_layer || h->S != 1 || m->eval_only) return NULL;
    return layer + 1 < h->cfg.n_layer ? h->a[layer + 1].Rs : h->Rfin;
}

static void caduceus_destroy(ds_model *m)
{
    caduceus *h = C(m);
    if (!h) return;
    caduceus_release(h);
    free(h->w); free(h->gw); free(h->a);
    free(h);
}

static char *caduceus_config_json(const ds_model *m)
{
    char *j = NULL;
    return ds_caduceus_config_to_json(&C(m)->cfg, &j) ? NULL : j;
}

/* Ph and PS differ only in the LM head: PS has the RCPS one. */
#define CADUCEUS_VT                                                                     \
    .arch = "caduceus", .masked_lm = 1, .reserve = caduceus_reserve, .encode = caduceus_encode, \
    .encode_backward = caduceus_encode_backward, .layer_output = caduceus_layer_output,   \
    .init_weights = caduceus_init, .config_json = caduceus_config_json, .destroy = caduceus_destroy, \
    .features = caduceus_features, .features_backward = caduceus_features_backward

static const ds_model_vt ph_vt = { CADUCEUS_VT };
static const ds_model_vt ps_vt = { CADUCEUS_VT, .lm_logits = ps_lm_logits, .lm_backward = ps_lm_backward };

int ds_caduceus_create(ds_model **out, const ds_caduceus_config *c)
{
    *out = NULL;
    ds_model *m = calloc(1, sizeof *m);
    caduceus *h = calloc(1, sizeof *h);
    if (!m || !h) { free(m); free(h); return ds_err(DS_ENOMEM, "out of memory for a Caduceus model"); }
    m->vt = c->rcps ? &ps_vt : &ph_vt;
    m->impl = h;
    h->cfg = *c;
    h->norm = ds_norm_ops_get(c->norm);
    h->D = c->d_model;
    h->E = c->expand * c->d_model;
    h->R = dt_rank(c);
    h->N = c->d_state;
    h->K = c->d_conv;
    h->V = padded_vocab(c);
    h->cfg.dt_rank = h->R;
    m->d_model = c->rcps ? 2 * c->d_model : c->d_model;
    m->d_feat = c->d_model;
    m->n_layer = c->n_layer;
    m->vocab = padded_vocab(c);
    m->max_len = c->max_len;
    ds_params_init(&m->params);
    h->w = calloc((size_t)c->n_layer, sizeof *h->w);
    h->gw = calloc((size_t)c->n_layer, sizeof *h->gw);
    h->a = calloc((size_t)c->n_layer, sizeof *h->a);
    int r = h->w && h->gw && h->a ? 0 : ds_err(DS_ENOMEM, "out of memory for a Caduceus model");
    if (!r) r = register_params(m, h);
    if (r >= 0) {
        char what[200];
        snprintf(what, sizeof what, "config keys d_model %d, n_layer %d: %zu parameter values (with gradients)",
                 c->d_model, c->n_layer, m->params.total);
        r = ds_memory_check(2 * m->params.total * sizeof(float), what);
    }
    if (r >= 0) r = ds_params_alloc(&m->params);
    if (r < 0) { ds_model_free(m); return r; }
    for (int i = 0; i < c->n_layer; i++) {
        bind_block(h, &h->w[i], &m->params, i, 0);
        bind_block(h, &h->gw[i], &m->params, i, 1);
    }
    char nm[DS_NAME_MAX];
    name_norm(h, nm, sizeof nm, -1);
    ds_norm_bind(&h->nf, &m->params, nm, 0);
    ds_norm_bind(&h->gnf, &m->params, nm, 1);
    h->emb = ds_params_data(&m->params, m->emb_index);
    h->gemb = ds_params_grad(&m->params, m->emb_index);
    *out = m;
    return 0;
}
