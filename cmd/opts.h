/* Options shared by the subcommands (derfseq.md "Command line"): one
 * spelling, one parser, one help line each, so pretrain and finetune agree. */
#ifndef DS_CMD_OPTS_H
#define DS_CMD_OPTS_H

#include <getopt.h>
#include <stdio.h>

/* Long-option codes; letters stand for themselves ('t', 'o', 'h'). */
enum {
    OPT_SEED = 256, OPT_QUIET, OPT_LOG, OPT_JSON,
    OPT_STEPS, OPT_EPOCHS, OPT_BATCH, OPT_ACCUM, OPT_SEQLEN, OPT_LR, OPT_WARMUP, OPT_SCHEDULE,
    OPT_WD, OPT_CLIP, OPT_EVAL_EVERY, OPT_SAVE_EVERY, OPT_RESUME, OPT_BETAS, OPT_MIN_LR, OPT_DECAY_GROUPS,
    OPT_MODEL, OPT_CONFIG, OPT_NORM, OPT_ALPHA, OPT_ALPHA_ATTN, OPT_ALPHA_FFN, OPT_ALPHA_FINAL, OPT_INIT_EMBED_STD, OPT_PRENORM,
    OPT_FROM, OPT_TASK, OPT_REF, OPT_REGIONS, OPT_CONTIGS, OPT_FORMAT, OPT_POOL, OPT_LAYER,
};

/* getopt_long table rows for the shared options. */
#define DS_LONGOPT_THREADS { "threads", required_argument, NULL, 't' }
#define DS_LONGOPT_SEED    { "seed", required_argument, NULL, OPT_SEED }
#define DS_LONGOPT_QUIET   { "quiet", no_argument, NULL, OPT_QUIET }
#define DS_LONGOPT_LOG     { "log", required_argument, NULL, OPT_LOG }
#define DS_LONGOPT_JSON    { "json", required_argument, NULL, OPT_JSON }
#define DS_LONGOPT_HELP    { "help", no_argument, NULL, 'h' }
#define DS_LONGOPTS_TRAIN                                                              \
    { "steps", required_argument, NULL, OPT_STEPS },                                  \
    { "epochs", required_argument, NULL, OPT_EPOCHS },                                \
    { "batch-size", required_argument, NULL, OPT_BATCH },                             \
    { "accum", required_argument, NULL, OPT_ACCUM },                                  \
    { "seq-len", required_argument, NULL, OPT_SEQLEN },                               \
    { "lr", required_argument, NULL, OPT_LR },                                        \
    { "warmup", required_argument, NULL, OPT_WARMUP },                                \
    { "schedule", required_argument, NULL, OPT_SCHEDULE },                            \
    { "weight-decay", required_argument, NULL, OPT_WD },                              \
    { "grad-clip", required_argument, NULL, OPT_CLIP },                               \
    { "eval-every", required_argument, NULL, OPT_EVAL_EVERY },                        \
    { "save-every", required_argument, NULL, OPT_SAVE_EVERY },                        \
    { "betas", required_argument, NULL, OPT_BETAS },                                  \
    { "min-lr", required_argument, NULL, OPT_MIN_LR },                                \
    { "decay-groups", required_argument, NULL, OPT_DECAY_GROUPS },                    \
    { "resume", required_argument, NULL, OPT_RESUME }
/* The norm family (derfseq.md "Norm family"), for commands that build a model. */
#define DS_LONGOPTS_NORM                                                               \
    { "norm", required_argument, NULL, OPT_NORM },                                    \
    { "alpha-init", required_argument, NULL, OPT_ALPHA },                             \
    { "alpha-init-attn", required_argument, NULL, OPT_ALPHA_ATTN },                   \
    { "alpha-init-ffn", required_argument, NULL, OPT_ALPHA_FFN },                     \
    { "alpha-init-final", required_argument, NULL, OPT_ALPHA_FINAL },                 \
    { "init-embed-std", required_argument, NULL, OPT_INIT_EMBED_STD }

/* Which shared options a subcommand takes (its usage lists exactly these). */
enum { DS_O_THREADS = 1, DS_O_SEED = 2, DS_O_QUIET = 4, DS_O_LOG = 8, DS_O_JSON = 16 };

typedef struct {
    const char *cmd;          /* "pretrain": prefixes every message */
    int which;                /* DS_O_* */
    int threads;              /* 0: the OpenMP default (OMP_NUM_THREADS or all cores) */
    long seed;
    int quiet;
    const char *log_path;     /* NULL: no log */
    const char *json_path;    /* NULL: no JSON output */
    int help;
} ds_common_opts;

/* Training options; a count of 0 or -1 is a default described in usage. */
typedef struct {
    long steps, epochs;       /* one of them is 0 (off) */
    int steps_set, epochs_set;
    long batch_size, accum;
    long seq_len;             /* 0: the model's length */
    double lr;
    long warmup;              /* -1: 1% of the steps */
    int schedule;             /* ds_sched_kind */
    double weight_decay, grad_clip;
    long eval_every, save_every;   /* 0: at the end only */
    const char *resume;
    int norm;                 /* ds_norm_kind */
    double alpha_init;
    double alpha_attn, alpha_ffn, alpha_final;   /* NaN: --alpha-init */
    double init_embed_std;    /* std of the token embedding at init (a new model only) */
    double beta1, beta2;      /* AdamW betas */
    double min_lr;            /* the schedule's floor; NaN: 0.1 x lr */
    int decay_groups;         /* DS_DECAY_DERFSEQ or DS_DECAY_OFFICIAL (models/model.h) */
    unsigned set;             /* DS_SET_* bits of the options given on the command line */
    int speech;               /* DS_SPEECH_*: usage says utterances, no --seq-len/--init-embed-std */
    int per_epoch;            /* 1: the command counts epochs and validates and saves once per epoch
                                 (finetune of a classifier): usage leaves out --steps, --accum,
                                 --eval-every, --save-every, which take only their defaults there */
} ds_train_opts;

enum { DS_SPEECH_PRETRAIN = 1, DS_SPEECH_CTC = 2 };   /* ds_train_opts.speech */

/* Options a recipe (ds_train_recipe) fills in only when they were not given. */
enum {
    DS_SET_LR = 1, DS_SET_WD = 2, DS_SET_SCHEDULE = 4, DS_SET_WARMUP = 8, DS_SET_CLIP = 16, DS_SET_BETAS = 32,
    DS_SET_MIN_LR = 64, DS_SET_DECAY = 128, DS_SET_EMBED_STD = 256, DS_SET_NORM = 512,
};
/* The official HyenaDNA hg38 pretraining recipe (kuleshov-group/caduceus
 * configs/experiment/hg38/hg38.yaml, optim_groups.py): AdamW lr 6e-4, betas
 * (0.9, 0.95), wd 0.1 in the official groups, clip 1.0, timm cosine with 10%
 * warm-up from 1e-6 to a floor of 1e-4, the official init (embedding
 * std 0.02). Applies to the options not given; *warmup_frac receives the
 * warm-up share of the steps (0.1). */
void ds_train_recipe_official(ds_train_opts *tr, double *warmup_frac, int caduceus);

void ds_common_defaults(ds_common_opts *co, const char *cmd, int which);
void ds_train_defaults(ds_train_opts *tr);

/* Handles one getopt_long result: 1 if it was a shared option (stored), 0 if
 * it is not one, -1 after printing a usage error for a bad value. */
int ds_opts_common(ds_common_opts *co, int c, const char *arg);
int ds_opts_train(const ds_common_opts *co, ds_train_opts *tr, int c, const char *arg);
/* Final checks after the loop (--steps with --epochs); 0 or -1. */
int ds_train_check(const ds_common_opts *co, ds_train_opts *tr);
/* The usage error for a getopt result no table row claimed ('?', ':'). */
int ds_opts_unknown(const ds_common_opts *co, int c, char **argv);

/* Value parsers; each prints "derfseq <cmd>: --name: expected an integer in
 * [1, 2147483647], got 'x'" and returns -1 on a bad value: empty, a sign,
 * trailing characters, out of range (never wrapped), NaN or infinite.
 * ds_parse_long allows [min, INT_MAX], ds_parse_real a finite value >= min
 * (> min unless min_ok) up to DS_REAL_MAX, which still fits a float. */
#define DS_REAL_MAX 3.0e38
#define DS_THREADS_MAX 4096
#define DS_SEQ_LEN_MAX (1L << 24)   /* tokens per sequence: the longest l_max a model config may have */
/* derfseq's init of the token embedding (--init-embed-std): 15x the official
 * 0.02, so that Derf and DyT learn at CPU scale (bench/README.md "Derf at CPU
 * scale"); LayerNorm and RMSNorm are scale-invariant and unaffected. */
#define DS_INIT_EMBED_STD 0.3
#define DS_ALPHA_MAX 1000.0   /* the range models/ accepts for alpha_init* in a config */
int ds_parse_long(const ds_common_opts *co, const char *name, const char *arg, long min, long *out);
int ds_parse_long_range(const ds_common_opts *co, const char *name, const char *arg, long min, long max, long *out);
int ds_parse_real(const ds_common_opts *co, const char *name, const char *arg, double min, int min_ok,
                  double *out);
int ds_parse_real_range(const ds_common_opts *co, const char *name, const char *arg, double min, int min_ok,
                        double max, double *out);
/* Index of arg in the NULL-terminated choices; -1 with an error listing them. */
int ds_parse_choice(const ds_common_opts *co, const char *name, const char *arg, const char *const *choices);

/* Usage lines, "  --name ARG   what [default]", for the shared options. */
void ds_usage_common(FILE *fp, const ds_common_opts *co);
void ds_usage_train(FILE *fp, const ds_train_opts *tr);
void ds_usage_norm(FILE *fp, const ds_train_opts *tr);
/* One usage line, so every subcommand aligns its own options the same way. */
void ds_usage_line(FILE *fp, const char *opt, const char *what, const char *def);

/* The one-line messages of derfseq.md "Exit status". Each returns its exit
 * code: usage errors 2 (with a pointer to --help), runtime errors 1. */
int ds_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int ds_cmd_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Checks that each input path is readable ("-" is stdin); 0 or 1 after an
 * error line. */
int ds_check_input(const char *cmd, const char *path);
int ds_check_inputs(const char *cmd, char **paths, int n);
/* An output that would overwrite an input (lib/io/outfile.h
 * ds_out_check_distinct) is a usage error, found before anything is
 * written: "derfseq <cmd>: <opt> <out>: is also an input; refusing to
 * overwrite it", returning 2; one that cannot be created (a missing
 * directory) returns 1 after its error line; else 0. */
int ds_check_output(const char *cmd, const char *opt, const char *out, const char *const *inputs, int n);
/* The files pretrain and finetune write into a run directory. */
#define DS_NRUN_FILES 6
extern const char *const DS_RUN_FILES[DS_NRUN_FILES];
/* The same for a run directory: the directory itself and each of its
 * DS_RUN_FILES. */
int ds_check_run_dir(const char *cmd, const char *opt, const char *dir, const char *const *inputs, int n);
/* A training command's outputs: --log (log_path) and the run directory -o
 * (out) must not overwrite any of inputs[n] (NULL entries skipped) nor,
 * with --resume (resume: its directory, else NULL), a file of that run. */
int ds_check_run_outputs(const char *cmd, const char *log_path, const char *out, const char *resume,
                         const char *const *inputs, int n);
/* The usage error for an option that --resume would ignore (opt: its long name). */
int ds_resume_ignored_error(const char *cmd, const char *opt, const char *dir);
/* The model name in a config JSON text ("preset", "arch", "model" or HF
 * "model_type"); malloc'd, NULL when absent or not JSON. */
char *ds_config_model_name(const char *json_text);
/* Opens the checkpoint given to --from, so a missing or broken file is
 * reported as such (1 after an error line), and gives its model name
 * (malloc'd, NULL when the file has no derfseq config naming one). */
int ds_from_model_name(const char *cmd, const char *path, char **name);

/* The value of --name in argv ("--name V" or "--name=V"), or NULL: for a
 * command that hands a run to another before parsing (pretrain → speech,
 * finetune → CTC). */
const char *ds_arg_value(int argc, char **argv, const char *name);

#endif
