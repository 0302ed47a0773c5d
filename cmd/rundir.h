/* A training run directory (derfseq.md "Command line"): config.json (model
 * config + data and training settings), state.safetensors (parameters,
 * AdamW moments, counters: what --resume needs, one atomic file),
 * last.safetensors and best.safetensors (plain checkpoints with official
 * names), log.jsonl. */
#ifndef DS_CMD_RUNDIR_H
#define DS_CMD_RUNDIR_H

#include <getopt.h>
#include <jansson.h>

#include "core/arena.h"
#include "core/log.h"
#include "io/trainstate.h"
#include "nn/optim.h"

typedef struct {
    char ref[1024], regions[1024], contigs[1024];
    long seq_len, max_n, eval_windows;
    long steps, batch_size, accum, warmup, eval_every, save_every, seed;
    int schedule;
    double lr, weight_decay, grad_clip;
    long threads;        /* the thread count the run started with; 0: not recorded */
    long ranks;          /* the MPI ranks it started on (config.json "ranks"; 1 when absent) */
    double beta1, beta2, min_lr;
    int decay_groups;    /* DS_DECAY_* */
    char recipe[32];     /* "derfseq" or "official" */
    char init_from[1024];   /* weights the run started from ("": its own init) */
    int eval_train;      /* also score training windows at each validation */
    /* speech runs (cmd/pretrain_speech.c); audio[0] == 0 for DNA runs */
    char audio[8192], valid_audio[8192];   /* the inputs, absolute paths, one per line */
    long max_tokens, crop, min_samples;    /* fairseq's max_tokens, max/min_sample_size */
    double adam_eps;     /* 0: derfseq's 1e-8 */
    char task[16];       /* "": pretraining; "ctc": speech CTC fine-tuning (cmd/finetune_ctc.c) */
    long freeze_steps;   /* ctc: steps that train lm_head alone (fairseq freeze_finetune_updates) */
} ds_run_cfg;

typedef struct {
    char dir[1024];
    char config_path[1100], state_path[1100], last_path[1100], best_path[1100], log_path[1100];
    char *model_json;    /* the model's config JSON */
    ds_run_cfg cfg;
    double best_loss;    /* INFINITY until a validation improved */
    long best_step;      /* the step (or epoch) of best.safetensors; 0: none yet */
    const char *val_key; /* the checkpoints' metadata key of the validation metric ("derfseq.val_loss") */
    long val_step;       /* the step of the latest validation (ds_run_note_val); -1: none */
    double val_value;    /* its metric, saved into last.safetensors when saved at that step */
    int claimed;         /* ds_run_create took the directory: ds_rundir_abandon may clean it */
} ds_run;

/* ---- run directories, shared by pretrain and finetune ---------------- */

/* Takes dir for a new run: creates it (*created = 1) or takes an existing
 * one. A directory whose run saved state (state.safetensors) is refused,
 * pointing to --resume. One whose derfseq run stopped before its first save
 * (config.json, no state) blocks nothing: its files are removed and the run
 * starts again (*restarted = 1). A config.json that is not a derfseq run's
 * is refused, never removed. Leftover temp files of an interrupted atomic
 * write are removed either way. */
int ds_rundir_claim(const char *dir, int *created, int *restarted);
/* Removes the temp files ("<run file>.tmp.XXXXXX") that a killed write left. */
void ds_rundir_sweep_temps(const char *dir);
/* After a new run failed before its first save: removes the files it wrote
 * and, if this run created the directory, the directory, so that neither a
 * rerun nor --resume is blocked by a run that never existed. */
void ds_rundir_abandon(const char *dir, int created);
/* The option that --resume would silently ignore: NULL when c is one that
 * applies to a resumed run (-t, --stop-at, --log, --quiet, --resume, -h,
 * and --steps/--epochs, which set a new total),
 * else its long name, for "--steps: a resumed run keeps ...". */
const char *ds_resume_ignores(const struct option *longopts, int c, int stop_at_code);
/* Warns (unless quiet) when a resumed run uses another thread count than it
 * started with: the result is then not bitwise that of an uninterrupted run. */
void ds_resume_check_threads(const char *cmd, long saved, int quiet);
/* Warns (unless quiet) when a resumed run has another MPI rank count than
 * it started with (saved): the global batch of each `unit` then changes. */
void ds_resume_check_ranks(const char *cmd, long saved, const char *unit, int quiet);
/* The error of a run whose `what` (the training loss, the gradient norm,
 * ...) became v, a NaN or an infinity, at `when` ("step 12"): it names the
 * first tensor with a non-finite gradient (NULL: none) and what the run
 * directory keeps (kept: "RUN/last.safetensors keeps step 10, ..."). */
int ds_run_diverged(const char *when, const char *what, double v, const char *tensor, const char *kept);
/* An input path as stored in a run's config.json: absolute, so --resume
 * works from any directory. Falls back to the path as given. */
void ds_run_abspath(char *dst, size_t cap, const char *path);

/* Creates dir (ds_rundir_claim) and writes config.json; *created tells
 * whether the directory is new (for ds_rundir_abandon). */
int ds_run_create(ds_run *run, const char *dir, const char *model_json, const ds_run_cfg *cfg, int *created);
/* (Re)writes config.json from run->model_json and run->cfg, atomically. */
int ds_run_write_config(const ds_run *run);
/* Reads dir/config.json for --resume. */
int ds_run_open(ds_run *run, const char *dir);
/* state.safetensors then last.safetensors (with "derfseq.step"). */
int ds_run_save(const ds_run *run, const ds_params *ps, const ds_adamw *opt, const ds_counters *c, long step);
/* Notes the validation metric at step, for last.safetensors saved at that step. */
void ds_run_note_val(ds_run *run, long step, double v);
/* best.safetensors with its validation loss, which becomes run->best_loss. */
int ds_run_save_best(ds_run *run, const ds_params *ps, long step, double val_loss);
int ds_run_load_state(ds_run *run, ds_params *ps, ds_adamw *opt, ds_counters *c);
void ds_run_free(ds_run *run);

/* ---- the step-counted runs of pretrain (DNA and speech) --------------- */

/* Saves state with the counters "step" and "draws" (the data position). */
int ds_run_save_step(const ds_run *run, const ds_params *ps, const ds_adamw *opt, long step, uint64_t draws);
/* Loads the state saved by ds_run_save_step for --resume: *step and *draws,
 * rewinds the log to that step (steps after it are run again and logged
 * once) and warns about another thread count; "[M::<cmd>] resuming ..."
 * unless quiet. */
int ds_run_resume_step(ds_run *run, ds_params *ps, ds_adamw *opt, long *step, uint64_t *draws, const char *cmd,
                       int quiet);
/* --resume with --steps N (0: not given): a run at step `at` gets the new
 * total N (config.json rewritten), saying so ("extending the run from 800
 * to 1200 steps") and that a decaying schedule is laid anew over N steps,
 * as HF Trainer and fairseq do; N below `at` is an error. */
int ds_run_extend_steps(ds_run *run, long steps, long at, const char *cmd, int quiet);
/* That message, for a run counted in `unit`s ("step", "epoch"). */
void ds_run_extend_note(const char *cmd, const char *unit, long from, long to, int schedule, int quiet);
/* ds_run_diverged for a run that diverged at `step` (1-based), saying what
 * the run directory keeps: last.safetensors at saved_step (< 0: nothing). */
int ds_run_diverged_at_step(const ds_run *run, long step, long saved_step, const char *what, double v,
                            const char *tensor);

/* Input paths as a run's config.json stores them: absolute (ds_run_abspath),
 * one per line; an error names `what` when they exceed cap bytes. */
int ds_run_join_inputs(char *dst, size_t cap, char *const *in, int n, const char *what);
/* The inverse, in place: s cut at its newlines into out (at most cap); returns the count. */
int ds_run_split_inputs(char *s, char **out, int cap);

/* A config.json "schedule": its name ("cosine"), or the number derfseq
 * 0.1.0 wrote; -1 when neither. */
int ds_run_schedule_from_json(const json_t *x);
#define DS_SCHEDULE_NAMES "cosine, linear, constant, timm-cosine or tri-stage"

/* A --config FILE's model JSON with "norm" and "alpha_init" set; malloc'd. */
int ds_run_read_model_config(const char *path, const char *norm, float alpha_init, char **json);

/* ---- the end of a run: Ctrl-C, SIGTERM and the closing summary ------ */

/* SIGINT and SIGTERM from now on only raise a flag that the step loop
 * checks (ds_run_interrupted), so it can save a resumable state and stop;
 * the handler is one-shot, so a second Ctrl-C kills at once. */
void ds_run_catch_signals(void);
/* The signal caught since ds_run_catch_signals (SIGINT, SIGTERM), or 0. */
int ds_run_interrupted(void);
/* "derfseq CMD: interrupted at step N; resume with 'derfseq CMD --resume
 * DIR'" (unit "step" or "epoch"); returns the exit status, 128 + the
 * signal (130 for Ctrl-C, 143 for SIGTERM). */
int ds_run_report_interrupted(const char *cmd, const char *unit, long at, const char *dir);

/* What a finished run did, for its closing line and log record. */
typedef struct {
    const char *unit;          /* "step" or "epoch" */
    long done, total;          /* done < total: stopped early (--stop-at, --patience) */
    long best_at;              /* the step/epoch of best_path; 0: no validation */
    const char *metric;        /* "val loss", "val accuracy", "val WER" */
    const char *metric_key;    /* its log key, "val_loss" */
    double best;               /* its value at best_at */
    const char *metric_unit;   /* " nats/token" or "" */
    const char *best_path, *last_path;
} ds_run_summary;
/* Appends {"event": "done", ...} to the logs and, unless quiet, prints
 * "derfseq CMD: done: 800 steps, best step 600 (val loss 1.93 nats/token)
 * -> RUN/best.safetensors, last RUN/last.safetensors" on stderr. */
int ds_run_summarize(const char *cmd, ds_log_pair *logs, const ds_run_summary *s, int quiet);

#endif
