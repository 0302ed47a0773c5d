/* The model registry: architectures (how a config JSON becomes a model) and
 * presets by name (derfseq.md "Presets"), one entry each. */
#include "presets.h"
#include "caduceus.h"
#include "config.h"
#include "hyenadna.h"
#include "wav2vec2.h"
#include "core/error.h"
#include "io/checkpoint.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The architectures: each one entry, with how its config JSON becomes a
 * model and which of its config keys a checkpoint must carry. */
typedef struct {
    const char *arch;
    int (*create)(ds_model **m, const char *config_json);
    void (*decay_groups_official)(ds_model *m);
    const char *const *shape_keys;   /* NULL-terminated */
} arch_entry;

static int hyena_from_json(ds_model **m, const char *json)
{
    ds_hyena_config c;
    int r = ds_hyena_config_from_json(&c, json);
    return r ? r : ds_hyena_create(m, &c);
}

static int caduceus_from_json(ds_model **m, const char *json)
{
    ds_caduceus_config c;
    int r = ds_caduceus_config_from_json(&c, json);
    return r ? r : ds_caduceus_create(m, &c);
}

/* The sizes that differ between models (the rest are fixed by the
 * official code) must be in a checkpoint's config: a missing one is named
 * rather than found later as a shape mismatch. */
static int w2v_from_json(ds_model **m, const char *json)
{
    ds_w2v_config c;
    int r = ds_w2v_config_from_json(&c, json);
    return r ? r : ds_w2v_create(m, &c);
}

static const char *const g_hyena_keys[] = { "d_model", "n_layer", "d_inner", "l_max", NULL };
static const char *const g_caduceus_keys[] = { "d_model", "n_layer", "rcps", "max_len", NULL };
static const char *const g_w2v_keys[] = { "hidden_size", "num_hidden_layers", "num_attention_heads",
                                          "intermediate_size", "conv_dim", "do_stable_layer_norm", NULL };

static const arch_entry g_archs[] = {
    { "hyenadna", hyena_from_json, ds_hyena_decay_groups_official, g_hyena_keys },
    { "caduceus", caduceus_from_json, ds_caduceus_decay_groups_official, g_caduceus_keys },
    { "wav2vec2", w2v_from_json, ds_w2v_decay_groups_official, g_w2v_keys },
};

static const arch_entry *find_arch(const char *arch)
{
    for (size_t i = 0; arch && i < sizeof g_archs / sizeof g_archs[0]; i++)
        if (!strcmp(arch, g_archs[i].arch)) return &g_archs[i];
    return NULL;
}

/* The presets: official shapes (hyenadna.md §1.5, caduceus.md §2.7) and
 * one small CPU demo size per architecture. */
typedef struct {
    const char *name, *about, *arch;
    int d_model, n_layer, max_len, rcps;
} preset;

static const preset g_presets[] = {
    { "hyenadna-tiny-1k", "official tiny-1k-seqlen shape (436,096 parameters with LayerNorm)", "hyenadna", 128, 2, 1026, 0 },
    { "hyenadna-tiny-1k-d256", "official tiny-1k-seqlen-d256 shape", "hyenadna", 256, 2, 1026, 0 },
    { "hyenadna-tiny-16k", "official tiny-16k-seqlen-d128 shape", "hyenadna", 128, 2, 16386, 0 },
    { "hyenadna-small-32k", "official small-32k-seqlen shape", "hyenadna", 256, 4, 32770, 0 },
    { "hyenadna-medium-160k", "official medium-160k-seqlen shape", "hyenadna", 256, 8, 160002, 0 },
    { "hyenadna-medium-450k", "official medium-450k-seqlen shape", "hyenadna", 256, 8, 450002, 0 },
    { "hyenadna-large-1m", "official large-1m-seqlen shape (up to 1,000,000 bases in one pass)", "hyenadna", 256, 8, 1000002, 0 },
    { "hyenadna-demo", "a CPU demo size: d 64, 2 layers, up to 1024 tokens", "hyenadna", 64, 2, 1026, 0 },
    { "caduceus-ph-1k", "official caduceus-ph_seqlen-1k_d_model-118_n_layer-4 shape (GenomicBenchmarks)", "caduceus", 118, 4, 1024, 0 },
    { "caduceus-ps-1k", "official caduceus-ps_seqlen-1k_d_model-118_n_layer-4 shape (GenomicBenchmarks)", "caduceus", 118, 4, 1024, 1 },
    { "caduceus-ph-131k", "official caduceus-ph_seqlen-131k_d_model-256_n_layer-16 shape", "caduceus", 256, 16, 131072, 0 },
    { "caduceus-ps-131k", "official caduceus-ps_seqlen-131k_d_model-256_n_layer-16 shape", "caduceus", 256, 16, 131072, 1 },
    { "caduceus-demo", "a CPU demo size: Caduceus-PS d 32, 2 layers, up to 1024 tokens", "caduceus", 32, 2, 1024, 1 },
    { "wav2vec2-base", "official facebook/wav2vec2-base shape: post-LN LayerNorm as published (95.0M parameters)", "wav2vec2", 768, 12, 0, 0 },
    { "wav2vec2-tiny", "a CPU size: conv 7x128, hidden 256, 4 pre-LN Derf layers (the paper's recipe, scaled down)", "wav2vec2", 256, 4, 0, 0 },
    { "wav2vec2-demo", "a CPU demo size: conv 7x32, hidden 64, 2 pre-LN Derf layers, 2x32 codes, 20 negatives", "wav2vec2", 64, 2, 0, 0 },
};

/* wav2vec2-base is the published model (wav2vec2.md §3.9, fairseq's Base
 * pretraining recipe); wav2vec2-tiny keeps Base's conv strides (20 ms
 * frames) and recipe at a CPU size, pre-LN with Derf as the paper's run. */
static int w2v_preset_json(const preset *p, int norm, float alpha_init, char **json)
{
    ds_w2v_config c;
    ds_w2v_config_default(&c);
    snprintf(c.preset, sizeof c.preset, "%s", p->name);
    if (!strcmp(p->name, "wav2vec2-demo")) {   /* learns in a few hundred steps on seconds of speech */
        for (int i = 0; i < c.n_conv; i++) c.conv_dim[i] = 32;
        c.hidden_size = p->d_model;
        c.num_hidden_layers = p->n_layer;
        c.num_attention_heads = 2;
        c.intermediate_size = 2 * p->d_model;
        c.num_conv_pos_embeddings = 16;
        c.num_conv_pos_embedding_groups = 4;
        c.num_codevectors_per_group = 32;
        c.codevector_dim = 32;
        c.proj_codevector_dim = 32;
        c.num_negatives = 20;
        c.do_stable_layer_norm = 1;
        c.norm = DS_NORM_DERF;
    }
    if (!strcmp(p->name, "wav2vec2-tiny")) {
        for (int i = 0; i < c.n_conv; i++) c.conv_dim[i] = 128;
        c.hidden_size = p->d_model;
        c.num_hidden_layers = p->n_layer;
        c.num_attention_heads = 4;
        c.intermediate_size = 4 * p->d_model;
        c.num_conv_pos_embeddings = 32;
        c.num_conv_pos_embedding_groups = 16;
        c.num_codevectors_per_group = 64;
        c.codevector_dim = 128;
        c.proj_codevector_dim = 128;
        c.do_stable_layer_norm = 1;
        c.norm = DS_NORM_DERF;
    }
    if (norm >= 0) c.norm = (ds_norm_kind)norm;
    if (alpha_init == alpha_init) c.alpha_init = alpha_init;
    return ds_w2v_config_to_json(&c, json);
}

static int preset_json(const preset *p, const char *norm, float alpha_init, char **json)
{
    int k = -1;
    if (norm && (k = ds_norm_kind_parse(norm)) < 0)
        return ds_err(DS_EINVAL, "unknown norm '%s', expected derf, dyt, layernorm or rmsnorm", norm);
    if (!strcmp(p->arch, "hyenadna")) {
        ds_hyena_config c;
        ds_hyena_config_default(&c);
        snprintf(c.preset, sizeof c.preset, "%s", p->name);
        c.d_model = p->d_model;
        c.n_layer = p->n_layer;
        c.d_inner = 4 * p->d_model;
        c.l_max = p->max_len;
        if (k >= 0) c.norm = (ds_norm_kind)k;
        if (alpha_init == alpha_init) c.alpha_init = alpha_init;   /* NaN: keep the default */
        return ds_hyena_config_to_json(&c, json);
    }
    if (!strcmp(p->arch, "wav2vec2")) return w2v_preset_json(p, k, alpha_init, json);
    ds_caduceus_config c;
    ds_caduceus_config_default(&c);
    snprintf(c.preset, sizeof c.preset, "%s", p->name);
    c.d_model = p->d_model;
    c.n_layer = p->n_layer;
    c.max_len = p->max_len;
    c.rcps = p->rcps;
    if (k >= 0) c.norm = (ds_norm_kind)k;
    /* RMSNorm (and LayerNorm) PS is the released model, fused add-norm and
     * all; Derf/DyT need the unfused path (caduceus.md §2.6, pitfalls.md 8) */
    c.fused_add_norm = c.rcps && (c.norm == DS_NORM_RMSNORM || c.norm == DS_NORM_LAYERNORM);
    if (alpha_init == alpha_init) c.alpha_init = alpha_init;
    return ds_caduceus_config_to_json(&c, json);
}

int ds_preset_config_json(const char *name, const char *norm, float alpha_init, char **json)
{
    for (size_t i = 0; i < sizeof g_presets / sizeof g_presets[0]; i++)
        if (!strcmp(name, g_presets[i].name)) return preset_json(&g_presets[i], norm, alpha_init, json);
    return ds_err(DS_EINVAL, "unknown model preset '%s' (see 'derfseq pretrain --help' for the list)", name);
}

void ds_preset_list(void (*fn)(const char *name, const char *about, void *ctx), void *ctx)
{
    for (size_t i = 0; i < sizeof g_presets / sizeof g_presets[0]; i++) fn(g_presets[i].name, g_presets[i].about, ctx);
}

int ds_model_from_json(ds_model **m, const char *config_json)
{
    *m = NULL;
    json_error_t je;
    json_t *o = json_loads(config_json, 0, &je);
    if (!o) return ds_err(DS_EFORMAT, "config: not JSON (line %d: %s)", je.line, je.text);
    json_t *x = json_object_get(o, "arch");
    char a[64];
    snprintf(a, sizeof a, "%s", json_is_string(x) ? json_string_value(x) : "");
    int bad_type = x && !json_is_string(x), not_object = !json_is_object(o);
    json_decref(o);
    if (not_object) return ds_err(DS_EFORMAT, "config: expected a JSON object");
    if (bad_type) return ds_err(DS_EFORMAT, "config key 'arch': expected a string such as \"hyenadna\"");
    const arch_entry *e = find_arch(a);
    if (e) return e->create(m, config_json);
    if (!a[0]) return ds_err(DS_EFORMAT, "config: no \"arch\" key (expected e.g. \"hyenadna\")");
    return ds_err(DS_ENOTSUP, "config key 'arch': model architecture '%s' is not built in this version", a);
}

/* The memory this process may use: physical memory, or a smaller cgroup
 * limit (containers, batch schedulers). 0 when unknown. */
size_t ds_memory_bytes(void)
{
    long pages = sysconf(_SC_PHYS_PAGES), psize = sysconf(_SC_PAGESIZE);
    size_t n = pages > 0 && psize > 0 ? (size_t)pages * (size_t)psize : 0;
    static const char *const limits[] = { "/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes" };
    for (int i = 0; i < 2; i++) {
        FILE *fp = fopen(limits[i], "r");
        unsigned long long v;
        if (!fp) continue;
        if (fscanf(fp, "%llu", &v) == 1 && v > 0 && (!n || v < n)) n = (size_t)v;
        fclose(fp);
    }
    return n;
}

int ds_memory_check(size_t bytes, const char *what)
{
    size_t have = ds_memory_bytes();
    if (!have || bytes <= have) return 0;
    return ds_err(DS_ENOMEM, "%s need %.1f GiB, more than the %.1f GiB of memory here", what,
                  (double)bytes / (1u << 30), (double)have / (1u << 30));
}

void ds_model_set_decay_groups(ds_model *m, int groups)
{
    const arch_entry *e = find_arch(m->vt->arch);
    if (groups == DS_DECAY_OFFICIAL && e) e->decay_groups_official(m);
}

void ds_model_free(ds_model *m)
{
    if (!m) return;
    if (m->vt && m->vt->destroy) m->vt->destroy(m);
    ds_params_free(&m->params);
    free(m);
}

/* A hand-written --config may leave sizes to their defaults, but not a
 * checkpoint's config (arch_entry.shape_keys). */
static int shape_keys_present(const char *cfg)
{
    json_t *o = json_loads(cfg, 0, NULL);
    const arch_entry *e = find_arch(json_string_value(json_object_get(o, "arch")));
    int r = 0;
    for (size_t i = 0; !r && e && e->shape_keys[i]; i++)
        if (!json_object_get(o, e->shape_keys[i]))
            r = ds_err(DS_EFORMAT, "config key '%s' is missing (a checkpoint's config gives the model's sizes)",
                       e->shape_keys[i]);
    json_decref(o);
    return r;
}

int ds_model_load(ds_model **m, const char *path)
{
    *m = NULL;
    char *cfg = ds_checkpoint_config(path);
    if (!cfg) return DS_EFORMAT;
    int r = shape_keys_present(cfg);
    if (!r) r = ds_model_from_json(m, cfg);
    free(cfg);
    /* the config's complaint names its key; the file is named here */
    if (r) return ds_err(r, "%s: %s", path, ds_errmsg());
    r = ds_checkpoint_load(path, &(*m)->params, 0);
    if (r) { ds_model_free(*m); *m = NULL; }
    return r;
}

int ds_config_set_real(char **json, const char *key, double v)
{
    if (v != v) return 0;
    json_t *o = json_loads(*json, 0, NULL);
    if (!o) return ds_err(DS_EFORMAT, "model config is not JSON");
    json_object_set_new(o, key, json_real(v));
    char *out = ds_cfg_dump(o);
    json_decref(o);
    if (!out) return ds_err(DS_ENOMEM, "out of memory for the model config JSON");
    free(*json);
    *json = out;
    return 0;
}

int ds_config_set_bool(char **json, const char *key, int v)
{
    if (v < 0) return 0;
    json_t *o = json_loads(*json, 0, NULL);
    if (!o) return ds_err(DS_EFORMAT, "model config is not JSON");
    json_object_set_new(o, key, json_boolean(v));
    char *out = ds_cfg_dump(o);
    json_decref(o);
    if (!out) return ds_err(DS_ENOMEM, "out of memory for the model config JSON");
    free(*json);
    *json = out;
    return 0;
}

int ds_config_set_role_alphas(char **json, float attn, float ffn, float final_)
{
    json_t *o = json_loads(*json, 0, NULL);
    if (!o) return ds_err(DS_EFORMAT, "model config is not JSON");
    const char *keys[3] = { "alpha_init_attn", "alpha_init_ffn", "alpha_init_final" };
    const float vals[3] = { attn, ffn, final_ };
    for (int i = 0; i < 3; i++)
        if (vals[i] == vals[i]) json_object_set_new(o, keys[i], json_real(vals[i]));
    char *out = ds_cfg_dump(o);
    json_decref(o);
    if (!out) return ds_err(DS_ENOMEM, "out of memory for the model config JSON");
    free(*json);
    *json = out;
    return 0;
}
