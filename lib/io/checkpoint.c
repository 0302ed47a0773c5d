/* A ds_params table to and from safetensors, by name, with shape checks that
 * name the first offending tensor (checkpoint.h). */
#include "io/checkpoint.h"
#include "core/error.h"
#include "io/safetensors.h"

#include <stdlib.h>
#include <string.h>

int ds_checkpoint_save(const char *path, const ds_params *ps, const char *config_json)
{
    ds_st_entry *e = calloc((size_t)(ps->n ? ps->n : 1), sizeof *e);
    if (!e) return ds_err(DS_ENOMEM, "%s: out of memory", path);
    for (int i = 0; i < ps->n; i++)
        e[i] = (ds_st_entry){ ps->p[i].name, ps->p[i].ndim, ps->p[i].shape, ds_params_data(ps, i) };
    const char *keys[1] = { DS_CKPT_CONFIG_KEY }, *vals[1] = { config_json };
    int r = ds_st_write(path, e, ps->n, keys, vals, config_json ? 1 : 0);
    free(e);
    return r;
}

/* A scalar [] in the file matches [1] (official Derf alpha/shift are [1]). */
static int same_shape(const ds_param *p, const ds_st_tensor *t)
{
    if (p->numel == 1 && t->numel == 1 && t->ndim <= 1) return 1;
    if (p->ndim != t->ndim) return 0;
    for (int i = 0; i < p->ndim; i++)
        if (p->shape[i] != t->shape[i]) return 0;
    return 1;
}

int ds_checkpoint_load(const char *path, ds_params *ps, int strict)
{
    ds_st_file f;
    int r = ds_st_open(&f, path);
    if (r) return r;
    for (int i = 0; i < ps->n && !r; i++) {
        const ds_param *p = &ps->p[i];
        const ds_st_tensor *t = ds_st_find(&f, p->name);
        char want[96], got[96];
        if (!t) r = ds_err(DS_EMISMATCH, "%s: tensor '%s' is missing (is this a checkpoint of another model?)", path, p->name);
        else if (!same_shape(p, t))
            r = ds_err(DS_EMISMATCH, "%s: tensor '%s' has wrong shape: expected %s, got %s", path, p->name,
                       ds_shape_str(p->shape, p->ndim, want, sizeof want), ds_shape_str(t->shape, t->ndim, got, sizeof got));
        else r = ds_st_read_f32(&f, t, ds_params_data(ps, i));
    }
    for (int i = 0; i < f.n && !r && strict; i++)
        if (ds_params_find(ps, f.t[i].name) < 0)
            r = ds_err(DS_EMISMATCH, "%s: unexpected tensor '%s' (not a parameter of this model)", path, f.t[i].name);
    ds_st_close(&f);
    return r;
}

char *ds_checkpoint_config(const char *path)
{
    ds_st_file f;
    if (ds_st_open(&f, path)) return NULL;
    const char *c = ds_st_meta(&f, DS_CKPT_CONFIG_KEY);
    char *out = c ? strdup(c) : NULL;
    if (!c) ds_err(DS_EFORMAT, "%s: no \"%s\" in the safetensors metadata (not a derfseq checkpoint?)", path, DS_CKPT_CONFIG_KEY);
    ds_st_close(&f);
    return out;
}
