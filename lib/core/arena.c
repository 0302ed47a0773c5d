/* Parameter/gradient blocks with a name table, and the activation arena. */
#include "core/arena.h"
#include "core/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define ALIGN_FLOATS 16

static size_t align_up(size_t n) { return (n + ALIGN_FLOATS - 1) & ~(size_t)(ALIGN_FLOATS - 1); }

void *ds_aligned_alloc(size_t bytes)
{
    size_t n = (bytes + 63) & ~(size_t)63;
    void *p = aligned_alloc(64, n ? n : 64);
    if (p) memset(p, 0, n ? n : 64);
    return p;
}

void ds_params_init(ds_params *ps) { memset(ps, 0, sizeof *ps); }

static int add(ds_params *ps, const char *name, int ndim, const int64_t *shape, int decay, int trainable)
{
    if (ps->data) return ds_err(DS_EINVAL, "parameter '%s' added after the blocks were allocated", name);
    if (ndim < 0 || ndim > DS_MAX_DIMS) return ds_err(DS_EINVAL, "parameter '%s': %d dimensions", name, ndim);
    if (strlen(name) >= DS_NAME_MAX) return ds_err(DS_EINVAL, "parameter name too long: '%s'", name);
    if (ds_params_find(ps, name) >= 0) return ds_err(DS_EINVAL, "parameter '%s' added twice", name);
    if (ps->n == ps->cap) {
        int cap = ps->cap ? 2 * ps->cap : 64;
        ds_param *p = realloc(ps->p, (size_t)cap * sizeof *p);
        if (!p) return ds_err(DS_ENOMEM, "out of memory adding parameter '%s'", name);
        ps->p = p;
        ps->cap = cap;
    }
    ds_param *p = &ps->p[ps->n];
    memset(p, 0, sizeof *p);
    strcpy(p->name, name);
    p->ndim = ndim;
    p->numel = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] <= 0) return ds_err(DS_EINVAL, "parameter '%s': dimension %d is %lld", name, i, (long long)shape[i]);
        p->shape[i] = shape[i];
        p->numel *= (size_t)shape[i];
    }
    p->decay = decay;
    p->trainable = trainable;
    p->alias_of = -1;
    p->offset = ps->total;
    ps->total += align_up(p->numel);
    return ps->n++;
}

int ds_params_add(ds_params *ps, const char *name, int ndim, const int64_t *shape, int decay)
{
    return add(ps, name, ndim, shape, decay, 1);
}

int ds_params_add_buffer(ds_params *ps, const char *name, int ndim, const int64_t *shape)
{
    return add(ps, name, ndim, shape, 0, 0);
}

int ds_params_add_alias(ds_params *ps, const char *name, int target)
{
    if (target < 0 || target >= ps->n) return ds_err(DS_EINVAL, "alias '%s' of a missing parameter", name);
    ds_param t = ps->p[target];
    size_t total = ps->total;
    int i = add(ps, name, t.ndim, t.shape, 0, 0);
    if (i < 0) return i;
    ps->total = total;   /* shares storage: no new space */
    ps->p[i].offset = ps->p[target].offset;
    ps->p[i].alias_of = target;
    return i;
}

/* The gradient block is anonymous memory: zero, and not resident until a
 * backward writes it, so an inference-only model (embed, eval) does not pay
 * for a second copy of its parameters (0.38 GB for wav2vec2-base). */
static size_t grad_bytes(const ds_params *ps) { return (ps->total ? ps->total : 1) * sizeof(float); }

int ds_params_alloc(ds_params *ps)
{
    size_t bytes = grad_bytes(ps);
    ps->data = ds_aligned_alloc(bytes);
    void *g = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ps->grad = g == MAP_FAILED ? NULL : g;
    if (!ps->data || !ps->grad) {
        free(ps->data);
        if (ps->grad) munmap(ps->grad, bytes);
        ps->data = ps->grad = NULL;
        return ds_err(DS_ENOMEM, "out of memory for %zu parameters", ps->total);
    }
    return 0;
}

void ds_params_free(ds_params *ps)
{
    free(ps->p); free(ps->data);
    if (ps->grad) munmap(ps->grad, grad_bytes(ps));
    ds_params_init(ps);
}

int ds_params_addf(ds_params *ps, int decay, int ndim, int64_t a, int64_t b, int64_t c, const char *fmt, ...)
{
    char name[DS_NAME_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    int64_t shape[3] = { a, b, c };
    return decay < 0 ? ds_params_add_buffer(ps, name, ndim, shape) : ds_params_add(ps, name, ndim, shape, decay);
}

int ds_name_ends_with(const char *name, const char *suffix)
{
    size_t n = strlen(name), k = strlen(suffix);
    return n >= k && !strcmp(name + n - k, suffix);
}

int ds_params_find(const ds_params *ps, const char *name)
{
    for (int i = 0; i < ps->n; i++)
        if (!strcmp(ps->p[i].name, name)) return i;
    return -1;
}

size_t ds_params_count(const ds_params *ps)
{
    size_t n = 0;
    for (int i = 0; i < ps->n; i++) if (ps->p[i].trainable) n += ps->p[i].numel;
    return n;
}

void ds_params_zero_grad(ds_params *ps)
{
    if (ps->grad) memset(ps->grad, 0, ps->total * sizeof(float));
}

const char *ds_shape_str(const int64_t *shape, int ndim, char *buf, size_t len)
{
    size_t k = 0;
    k += (size_t)snprintf(buf, len, "[");
    for (int i = 0; i < ndim && k < len; i++)
        k += (size_t)snprintf(buf + k, len - k, "%s%lld", i ? "," : "", (long long)shape[i]);
    if (k < len) snprintf(buf + k, len - k, "]");
    return buf;
}

void ds_arena_measure(ds_arena *a) { memset(a, 0, sizeof *a); }

int ds_arena_init(ds_arena *a, size_t nfloats)
{
    memset(a, 0, sizeof *a);
    a->base = ds_aligned_alloc((nfloats ? nfloats : 1) * sizeof(float));
    if (!a->base) return ds_err(DS_ENOMEM, "out of memory for a %zu MB activation arena", nfloats * 4 >> 20);
    a->cap = nfloats;
    return 0;
}

float *ds_arena_take(ds_arena *a, size_t n)
{
    size_t need = align_up(n);
    if (a->base && a->used + need > a->cap) return NULL;
    float *p = a->base ? a->base + a->used : NULL;
    a->used += need;
    if (a->used > a->peak) a->peak = a->used;
    return p;
}

void ds_arena_free(ds_arena *a) { free(a->base); memset(a, 0, sizeof *a); }

int ds_params_find_nonfinite(const ds_params *ps, int grad)
{
    for (int i = 0; i < ps->n; i++) {
        const float *x = grad ? ds_params_grad(ps, i) : ds_params_data(ps, i);
        if (grad && !ps->p[i].trainable) continue;
        for (size_t k = 0; k < ps->p[i].numel; k++)
            if (!isfinite(x[k])) return i;
    }
    return -1;
}
