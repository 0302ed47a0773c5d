/* The optimizer and data state of a run directory (derfseq.md: "Optimizer
 * state and the data position live in the run directory so --resume
 * continues exactly"): AdamW's m and v per parameter plus named integer
 * counters (optimizer step, sampler draws, ...), in one safetensors file
 * written atomically. */
#ifndef DS_TRAINSTATE_H
#define DS_TRAINSTATE_H

#include "core/arena.h"
#include "nn/optim.h"

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

/* m and v as "adamw.m.<param>" / "adamw.v.<param>" tensors; counters
 * (and the optimizer step as "adamw.step") in the metadata. */
int ds_trainstate_save(const char *path, const ds_params *ps, const ds_adamw *opt, const ds_counters *c);
/* Restores into an initialised optimizer of the same parameter table. */
int ds_trainstate_load(const char *path, const ds_params *ps, ds_adamw *opt, ds_counters *c);

#endif
