/* A ds_params table to and from safetensors, by name, with shape checks that
 * name the first offending tensor (checkpoint.h, derfseq.md "Outputs"). */
#include "io/checkpoint.h"
#include "core/error.h"
#include "io/safetensors.h"

#include <stdlib.h>
#include <string.h>

int ds_checkpoint_save(const char *path, const ds_params *ps, const char *config_json)
{
    ds_st_entry *e = calloc((size_t)ps->n + 1, sizeof *e);
    if (!e) return ds_err(DS_ENOMEM, "%s: out of memory for the table of %d tensors", path, ps->n);
    for (int i = 0; i < ps->n; i++)
        e[i] = (ds_st_entry){ ps->p[i].name, ps->p[i].ndim, ps->p[i].shape, ds_params_data(ps, i) };
    const char *keys[1] = { DS_CKPT_CONFIG_KEY }, *vals[1] = { config_json };
    int r = ds_st_write(path, e, ps->n, keys, vals, config_json ? 1 : 0);
    free(e);
    return r;
}

static int is_one(const int64_t *shape, int ndim) { return ndim == 1 && shape[0] == 1; }

/* Equal shapes, or a 0-dim scalar against [1]: official Derf alpha/shift
 * are [1], while other exporters write scalars as []. */
static int shape_matches(const ds_param *p, const ds_st_tensor *t)
{
    if ((p->ndim == 0 && is_one(t->shape, t->ndim)) || (t->ndim == 0 && is_one(p->shape, p->ndim))) return 1;
    if (p->ndim != t->ndim) return 0;
    for (int i = 0; i < p->ndim; i++)
        if (p->shape[i] != t->shape[i]) return 0;
    return 1;
}

static int is_float(ds_st_dtype d) { return d == DS_ST_F32 || d == DS_ST_F16 || d == DS_ST_BF16 || d == DS_ST_F64; }

/* Everything a load can object to, checked before any value is copied, so a
 * refused checkpoint leaves the parameters as they were. */
static int skipped(const ds_param *p, const char *except)
{
    return except && !strncmp(p->name, except, strlen(except));
}

static int tables_check(const ds_st_file *f, const ds_params *ps, int strict, const char *except)
{
    char want[128], got[128];
    for (int i = 0; i < ps->n; i++) {
        const ds_param *p = &ps->p[i];
        if (skipped(p, except)) continue;
        const ds_st_tensor *t = ds_st_find(f, p->name);
        if (!t)
            return ds_err(DS_EMISMATCH, "%s: tensor '%s' is missing (is this a checkpoint of another model?)", f->path, p->name);
        if (!shape_matches(p, t))
            return ds_err(DS_EMISMATCH, "%s: tensor '%s' has wrong shape: expected %s, got %s", f->path, p->name,
                          ds_shape_str(p->shape, p->ndim, want, sizeof want), ds_shape_str(t->shape, t->ndim, got, sizeof got));
        if (!is_float(t->dtype))
            return ds_err(DS_EMISMATCH, "%s: tensor '%s' has dtype %s, expected F32, F16, BF16 or F64", f->path, p->name,
                          ds_st_dtype_name(t->dtype));
    }
    for (int i = 0; strict && i < f->n; i++)
        if (ds_params_find(ps, f->t[i].name) < 0)
            return ds_err(DS_EMISMATCH, "%s: unexpected tensor '%s' (not a parameter of this model)", f->path, f->t[i].name);
    return 0;
}

int ds_checkpoint_load(const char *path, ds_params *ps, int strict)
{
    return ds_checkpoint_load_except(path, ps, strict, NULL);
}

int ds_checkpoint_load_except(const char *path, ds_params *ps, int strict, const char *except)
{
    ds_st_file f;
    int r = ds_st_open(&f, path);
    if (r) return r;
    r = tables_check(&f, ps, strict, except);
    for (int i = 0; i < ps->n && !r; i++)
        if (!skipped(&ps->p[i], except)) r = ds_st_read_f32(&f, ds_st_find(&f, ps->p[i].name), ds_params_data(ps, i));
    ds_st_close(&f);
    /* weights of a diverged run would give NaN metrics or embeddings that
     * look like results: refuse them here, once, for every command */
    int bad = r ? -1 : ds_params_find_nonfinite(ps, 0);
    if (bad >= 0)
        r = ds_err(DS_EFORMAT, "%s: tensor '%s' holds NaN or infinite values (saved by a run that diverged?)", path,
                   ps->p[bad].name);
    return r;
}

char *ds_checkpoint_config(const char *path)
{
    ds_st_file f;
    if (ds_st_open(&f, path)) return NULL;
    const char *c = ds_st_meta(&f, DS_CKPT_CONFIG_KEY);
    char *out = c ? strdup(c) : NULL;
    if (!c) ds_err(DS_EFORMAT, "%s: no \"%s\" in the safetensors metadata (not a derfseq checkpoint?)", path, DS_CKPT_CONFIG_KEY);
    else if (!out) ds_err(DS_ENOMEM, "%s: out of memory for the %zu-byte model config", path, strlen(c));
    ds_st_close(&f);
    return out;
}
