/* Optimizer moments and counters of a run, to and from safetensors. */
#include "io/trainstate.h"
#include "core/error.h"
#include "io/safetensors.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int ds_counters_set(ds_counters *c, const char *name, int64_t v)
{
    for (int i = 0; i < c->n; i++)
        if (!strcmp(c->name[i], name)) { c->value[i] = v; return 0; }
    if (c->n == DS_STATE_MAX_COUNTERS || strlen(name) >= sizeof c->name[0])
        return ds_err(DS_EINVAL, "too many run counters or name too long: '%s'", name);
    snprintf(c->name[c->n], sizeof c->name[0], "%s", name);
    c->value[c->n++] = v;
    return 0;
}

int ds_counters_get(const ds_counters *c, const char *name, int64_t *v)
{
    for (int i = 0; i < c->n; i++)
        if (!strcmp(c->name[i], name)) { *v = c->value[i]; return 0; }
    return ds_err(DS_EFORMAT, "run state has no counter '%s'", name);
}

int ds_trainstate_save_n(const char *path, const ds_params *const *ps, const ds_adamw *const *opt, int n,
                         const ds_counters *c)
{
    int total = 0;
    for (int t = 0; t < n; t++) total += 3 * ps[t]->n;
    ds_st_entry *e = calloc((size_t)total + 1, sizeof *e);
    char (*names)[DS_NAME_MAX + 16] = calloc((size_t)total + 1, sizeof *names);
    const char *keys[DS_STATE_MAX_COUNTERS + 1], *vals[DS_STATE_MAX_COUNTERS + 1];
    char buf[DS_STATE_MAX_COUNTERS + 1][32];
    if (!e || !names) { free(e); free(names); return ds_err(DS_ENOMEM, "%s: out of memory", path); }
    int k = 0;
    for (int t = 0; t < n; t++)
        for (int i = 0; i < ps[t]->n; i++, k++) {
            snprintf(names[k], sizeof names[k], "param.%s", ps[t]->p[i].name);
            e[k] = (ds_st_entry){ names[k], ps[t]->p[i].ndim, ps[t]->p[i].shape, ds_params_data(ps[t], i) };
        }
    for (int t = 0; t < n; t++)
        for (int i = 0; i < ps[t]->n; i++) {
            const ds_param *p = &ps[t]->p[i];
            if (!p->trainable) continue;
            for (int mv = 0; mv < 2; mv++, k++) {
                snprintf(names[k], sizeof names[k], "adamw.%c.%s", mv ? 'v' : 'm', p->name);
                e[k] = (ds_st_entry){ names[k], p->ndim, p->shape, (mv ? opt[t]->v : opt[t]->m) + p->offset };
            }
        }
    int nm = 0;
    keys[nm] = "adamw.step";
    snprintf(buf[nm], sizeof buf[nm], "%ld", opt[0]->step);
    vals[nm] = buf[nm];
    nm++;
    for (int i = 0; c && i < c->n; i++, nm++) {
        keys[nm] = c->name[i];
        snprintf(buf[nm], sizeof buf[nm], "%" PRId64, c->value[i]);
        vals[nm] = buf[nm];
    }
    int r = ds_st_write(path, e, k, keys, vals, nm);
    free(e);
    free(names);
    return r;
}

int ds_trainstate_save(const char *path, const ds_params *ps, const ds_adamw *opt, const ds_counters *c)
{
    return ds_trainstate_save_n(path, &ps, &opt, 1, c);
}

static int parse_i64(const char *path, const char *key, const char *s, int64_t *v)
{
    char *end;
    long long x = strtoll(s, &end, 10);
    if (!*s || *end) return ds_err(DS_EFORMAT, "%s: metadata '%s' = '%s' is not an integer", path, key, s);
    *v = x;
    return 0;
}

int ds_trainstate_load_n(const char *path, ds_params *const *pss, ds_adamw *const *opts, int n, ds_counters *c)
{
    ds_st_file f;
    int r = ds_st_open(&f, path);
    if (r) return r;
    for (int t = 0; t < n && !r; t++) {
        ds_params *ps = pss[t];
        for (int i = 0; i < ps->n && !r; i++) {
            char name[DS_NAME_MAX + 16];
            snprintf(name, sizeof name, "param.%s", ps->p[i].name);
            const ds_st_tensor *tt = ds_st_find(&f, name);
            if (!tt || tt->numel != ps->p[i].numel)
                r = ds_err(DS_EMISMATCH, "%s: parameter '%s' is missing or has another size", path, ps->p[i].name);
            else r = ds_st_read_f32(&f, tt, ds_params_data(ps, i));
        }
        for (int i = 0; i < ps->n && !r; i++) {
            const ds_param *p = &ps->p[i];
            if (!p->trainable) continue;
            for (int mv = 0; mv < 2 && !r; mv++) {
                char name[DS_NAME_MAX + 16];
                snprintf(name, sizeof name, "adamw.%c.%s", mv ? 'v' : 'm', p->name);
                const ds_st_tensor *tt = ds_st_find(&f, name);
                if (!tt || tt->numel != p->numel)
                    r = ds_err(DS_EMISMATCH, "%s: optimizer state for '%s' is missing or has another size", path, p->name);
                else r = ds_st_read_f32(&f, tt, (mv ? opts[t]->v : opts[t]->m) + p->offset);
            }
        }
    }
    if (c) c->n = 0;
    for (int i = 0; i < f.nmeta && !r; i++) {
        int64_t v = 0;
        r = parse_i64(path, f.meta_key[i], f.meta_val[i], &v);
        if (r) break;
        if (!strcmp(f.meta_key[i], "adamw.step"))
            for (int t = 0; t < n; t++) opts[t]->step = (long)v;
        else if (c) r = ds_counters_set(c, f.meta_key[i], v);
    }
    if (!r && !ds_st_meta(&f, "adamw.step")) r = ds_err(DS_EFORMAT, "%s: no 'adamw.step' in the metadata", path);
    ds_st_close(&f);
    return r;
}

int ds_trainstate_load(const char *path, const ds_params *ps, ds_adamw *opt, ds_counters *c)
{
    ds_params *p = (ds_params *)ps;
    return ds_trainstate_load_n(path, &p, &opt, 1, c);
}
