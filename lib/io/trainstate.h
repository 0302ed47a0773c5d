/* The resumable state of a run directory (derfseq.md: "Optimizer state and
 * the data position live in the run directory so --resume continues
 * exactly"): every parameter, AdamW's m and v, and named integer counters
 * (sampler draws, ...) in ONE safetensors file written atomically, so a run
 * killed at any moment resumes from a consistent step. */
#ifndef DS_TRAINSTATE_H
#define DS_TRAINSTATE_H

#include "../core/arena.h"
#include "../nn/optim.h"

#include <stdint.h>

#define DS_STATE_MAX_COUNTERS 16

typedef struct {
    int n;
    char name[DS_STATE_MAX_COUNTERS][48];
    int64_t value[DS_STATE_MAX_COUNTERS];
} ds_counters;

int ds_counters_set(ds_counters *c, const char *name, int64_t v);
/* 0 and *v, or DS_EFORMAT naming the missing counter. */
int ds_counters_get(const ds_counters *c, const char *name, int64_t *v);

/* Parameters as "param.<name>", m and v as "adamw.m.<name>" /
 * "adamw.v.<name>"; counters (and the optimizer step as "adamw.step") in
 * the metadata. */
int ds_trainstate_save(const char *path, const ds_params *ps, const ds_adamw *opt, const ds_counters *c);
/* The same for n (parameter table, optimizer) pairs in one file, e.g. an
 * encoder and a task head; their tensor names must not collide. */
int ds_trainstate_save_n(const char *path, const ds_params *const *ps, const ds_adamw *const *opt, int n,
                         const ds_counters *c);
int ds_trainstate_load_n(const char *path, ds_params *const *ps, ds_adamw *const *opt, int n, ds_counters *c);
/* Restores parameters, moments and counters into a model and initialised
 * optimizer of the same parameter table. */
int ds_trainstate_load(const char *path, const ds_params *ps, ds_adamw *opt, ds_counters *c);

#endif
