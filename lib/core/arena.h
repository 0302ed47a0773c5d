/* The three memory blocks of a model (architecture.md "A model"): one
 * contiguous parameter block and one gradient block addressed through a
 * named-parameter table, and an activation arena sized once per
 * (batch, length). Nothing here allocates after ds_params_alloc /
 * ds_arena_init. */
#ifndef DS_ARENA_H
#define DS_ARENA_H

#include <stddef.h>
#include <stdint.h>

#define DS_MAX_DIMS 8
#define DS_NAME_MAX 160

typedef struct {
    char name[DS_NAME_MAX];   /* official state-dict name */
    int ndim;
    int64_t shape[DS_MAX_DIMS];
    size_t numel;
    size_t offset;            /* in floats, into data and grad; 16-float aligned */
    int decay;                /* 1: AdamW weight decay applies */
    int trainable;            /* 0: a buffer (saved, loaded, never updated) */
    int alias_of;             /* -1, or the entry whose storage this name shares */
} ds_param;

typedef struct {
    ds_param *p;
    int n, cap;
    size_t total;             /* floats in each block */
    float *data;              /* parameters (and buffers) */
    float *grad;              /* same offsets as data */
} ds_params;

void ds_params_init(ds_params *ps);
/* Adds a tensor before ds_params_alloc; returns its index or a DS_E* code
 * (duplicate name, bad shape). */
int ds_params_add(ds_params *ps, const char *name, int ndim, const int64_t *shape, int decay);
int ds_params_add_buffer(ds_params *ps, const char *name, int ndim, const int64_t *shape);
/* ds_params_add with a printf-formatted name and up to 3 dimensions
 * (a, b, c; trailing ones unused); decay < 0 adds a buffer instead. */
int ds_params_addf(ds_params *ps, int decay, int ndim, int64_t a, int64_t b, int64_t c, const char *fmt, ...)
    __attribute__((format(printf, 7, 8)));
/* Whether a tensor name ends with suffix (".bias", "A_log"). */
int ds_name_ends_with(const char *name, const char *suffix);
/* A second name for entry `target`'s storage (an official state dict that
 * repeats a shared tensor, e.g. HyenaDNA's Sin freq); saved and loaded under
 * its name, never counted or updated on its own. */
int ds_params_add_alias(ds_params *ps, const char *name, int target);
/* One zeroed, 64-byte aligned allocation each for data and grad. */
int ds_params_alloc(ds_params *ps);
void ds_params_free(ds_params *ps);

int ds_params_find(const ds_params *ps, const char *name);   /* index or -1 */
static inline float *ds_params_data(const ds_params *ps, int i) { return ps->data + ps->p[i].offset; }
static inline float *ds_params_grad(const ds_params *ps, int i) { return ps->grad + ps->p[i].offset; }
/* Trainable scalars (buffers excluded). */
size_t ds_params_count(const ds_params *ps);
/* The first tensor whose values (grad = 0) or gradients (grad = 1) hold a
 * NaN or an infinity, or -1: names the culprit when a run diverges. */
int ds_params_find_nonfinite(const ds_params *ps, int grad);
void ds_params_zero_grad(ds_params *ps);
/* "[3,128]" into buf; returns buf. */
const char *ds_shape_str(const int64_t *shape, int ndim, char *buf, size_t len);

/* Activation arena: a bump allocator over one block. With base == NULL
 * (ds_arena_measure) it only counts, so a model can size its arena by
 * running its own layout code once. */
typedef struct {
    float *base;
    size_t cap, used, peak;   /* in floats */
} ds_arena;

void ds_arena_measure(ds_arena *a);
int ds_arena_init(ds_arena *a, size_t nfloats);
/* n floats, 16-float aligned; NULL when measuring. Running out is a bug
 * in the caller's sizing, reported by returning NULL. */
float *ds_arena_take(ds_arena *a, size_t n);
static inline void ds_arena_reset(ds_arena *a) { a->used = 0; }
void ds_arena_free(ds_arena *a);

void *ds_aligned_alloc(size_t bytes);   /* 64-byte aligned, zeroed; free() it */

#endif
