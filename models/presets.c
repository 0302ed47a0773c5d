/* Model presets by name (derfseq.md "Presets") and the factory that builds a
 * model from its config JSON. */
#include "presets.h"
#include "hyenadna.h"
#include "core/error.h"
#include "io/checkpoint.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    const char *name, *about;
    int d_model, n_layer, l_max;
} hyena_preset;

/* Official shapes (hyenadna.md §1.5); d_inner = 4·d_model throughout. */
static const hyena_preset g_hyena[] = {
    { "hyenadna-tiny-1k", "official tiny-1k-seqlen shape (436,096 parameters with LayerNorm)", 128, 2, 1026 },
    { "hyenadna-tiny-1k-d256", "official tiny-1k-seqlen-d256 shape", 256, 2, 1026 },
    { "hyenadna-small-32k", "official small-32k-seqlen shape", 256, 4, 32770 },
    { "hyenadna-medium-160k", "official medium-160k-seqlen shape", 256, 8, 160002 },
    { "hyenadna-demo", "a CPU demo size: d 64, 2 layers, up to 1024 tokens", 64, 2, 1026 },
};

int ds_preset_config_json(const char *name, const char *norm, float alpha_init, char **json)
{
    for (size_t i = 0; i < sizeof g_hyena / sizeof g_hyena[0]; i++) {
        const hyena_preset *p = &g_hyena[i];
        if (strcmp(name, p->name)) continue;
        ds_hyena_config c;
        ds_hyena_config_default(&c);
        snprintf(c.preset, sizeof c.preset, "%s", p->name);
        c.d_model = p->d_model;
        c.n_layer = p->n_layer;
        c.d_inner = 4 * p->d_model;
        c.l_max = p->l_max;
        if (norm) {
            int k = ds_norm_kind_parse(norm);
            if (k < 0) return ds_err(DS_EINVAL, "unknown norm '%s', expected derf, dyt, layernorm or rmsnorm", norm);
            c.norm = (ds_norm_kind)k;
        }
        if (alpha_init == alpha_init) c.alpha_init = alpha_init;   /* NaN: keep the default */
        return ds_hyena_config_to_json(&c, json);
    }
    return ds_err(DS_EINVAL, "unknown model preset '%s' (see 'derfseq pretrain --help' for the list)", name);
}

void ds_preset_list(void (*fn)(const char *name, const char *about, void *ctx), void *ctx)
{
    for (size_t i = 0; i < sizeof g_hyena / sizeof g_hyena[0]; i++) fn(g_hyena[i].name, g_hyena[i].about, ctx);
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
    if (!strcmp(a, "hyenadna")) {
        ds_hyena_config c;
        int r = ds_hyena_config_from_json(&c, config_json);
        return r ? r : ds_hyena_create(m, &c);
    }
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
    if (groups == DS_DECAY_OFFICIAL && !strcmp(m->vt->arch, "hyenadna")) ds_hyena_decay_groups_official(m);
}

void ds_model_free(ds_model *m)
{
    if (!m) return;
    if (m->vt && m->vt->destroy) m->vt->destroy(m);
    ds_params_free(&m->params);
    free(m);
}

/* A hand-written --config may leave sizes to their defaults, but the sizes
 * that differ between models (the rest are fixed by the official code:
 * vocab, emb_dim, filter_order) must be in a checkpoint's config: a missing
 * one is named rather than found later as a shape mismatch. */
static int shape_keys_present(const char *cfg)
{
    static const char *const keys[] = { "d_model", "n_layer", "d_inner", "l_max" };
    json_t *o = json_loads(cfg, 0, NULL);
    const char *arch = json_string_value(json_object_get(o, "arch"));
    int r = 0;
    for (size_t i = 0; !r && arch && !strcmp(arch, "hyenadna") && i < sizeof keys / sizeof keys[0]; i++)
        if (!json_object_get(o, keys[i]))
            r = ds_err(DS_EFORMAT, "config key '%s' is missing (a checkpoint's config gives the model's sizes)", keys[i]);
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
    char *out = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(7));
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
    char *out = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(7));
    json_decref(o);
    if (!out) return ds_err(DS_ENOMEM, "out of memory for the model config JSON");
    free(*json);
    *json = out;
    return 0;
}
