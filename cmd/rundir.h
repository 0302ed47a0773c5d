/* A training run directory (derfseq.md "Command line"): config.json (model
 * config + data and training settings), state.safetensors (parameters,
 * AdamW moments, counters: what --resume needs, one atomic file),
 * last.safetensors and best.safetensors (plain checkpoints with official
 * names), log.jsonl. */
#ifndef DS_CMD_RUNDIR_H
#define DS_CMD_RUNDIR_H

#include "core/arena.h"
#include "io/trainstate.h"
#include "nn/optim.h"

typedef struct {
    char ref[1024], regions[1024], contigs[1024];
    long seq_len, max_n, eval_windows;
    long steps, batch_size, accum, warmup, eval_every, save_every, seed;
    int schedule;
    double lr, weight_decay, grad_clip;
} ds_run_cfg;

typedef struct {
    char dir[1024];
    char config_path[1100], state_path[1100], last_path[1100], best_path[1100], log_path[1100];
    char *model_json;    /* the model's config JSON */
    ds_run_cfg cfg;
    double best_loss;    /* INFINITY until a validation improved */
} ds_run;

/* Creates dir (or takes an empty one) and writes config.json; an existing
 * run is an error that points to --resume. */
int ds_run_create(ds_run *run, const char *dir, const char *model_json, const ds_run_cfg *cfg);
/* Reads dir/config.json for --resume. */
int ds_run_open(ds_run *run, const char *dir);
/* state.safetensors then last.safetensors (with "derfseq.step"). */
int ds_run_save(const ds_run *run, const ds_params *ps, const ds_adamw *opt, const ds_counters *c, long step);
int ds_run_save_best(ds_run *run, const ds_params *ps, long step);
int ds_run_load_state(ds_run *run, ds_params *ps, ds_adamw *opt, ds_counters *c);
void ds_run_free(ds_run *run);

/* A --config FILE's model JSON with "norm" and "alpha_init" set; malloc'd. */
int ds_run_read_model_config(const char *path, const char *norm, float alpha_init, char **json);

#endif
