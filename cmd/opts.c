/* Shared option parsing, validation, usage lines and the one-line error
 * messages of derfseq.md "Command line" / "Exit status". */
#include "cmd/opts.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/error.h"
#include "io/checkpoint.h"
#include "io/outfile.h"
#include "io/safetensors.h"
#include "nn/norm.h"
#include "nn/optim.h"

static const char *const NORM_NAMES = "derf|dyt|layernorm|rmsnorm";
static const char *const SCHED_NAMES = "cosine|linear|constant|timm-cosine|tri-stage";

void ds_common_defaults(ds_common_opts *co, const char *cmd, int which)
{
    memset(co, 0, sizeof *co);
    co->cmd = cmd;
    co->which = which;
    co->seed = 1;
}

/* The shared defaults are pretraining's; finetune overrides a few. The
 * values follow the HyenaDNA/Caduceus recipes (hyenadna.md, caduceus.md)
 * scaled to a CPU: AdamW lr 6e-4, wd 0.1, clip 1.0, cosine, 1% warmup. */
void ds_train_defaults(ds_train_opts *tr)
{
    memset(tr, 0, sizeof *tr);
    tr->steps = 10000;
    tr->batch_size = 8;
    tr->accum = 1;
    tr->seq_len = 1024;
    tr->lr = 6e-4;
    tr->warmup = -1;
    tr->schedule = DS_SCHED_COSINE;
    tr->weight_decay = 0.1;
    tr->grad_clip = 1.0;
    tr->eval_every = 1000;
    tr->save_every = 1000;
    tr->norm = DS_NORM_DERF;
    tr->alpha_init = DS_NORM_ALPHA_INIT;
    tr->alpha_attn = tr->alpha_ffn = tr->alpha_final = NAN;
    tr->init_embed_std = DS_INIT_EMBED_STD;
    tr->beta1 = 0.9;
    tr->beta2 = 0.999;
    tr->min_lr = NAN;
}

void ds_train_recipe_official(ds_train_opts *tr, double *warmup_frac, int caduceus)
{
    /* Caduceus's hg38 runs (slurm run_pretrain_caduceus.sh) use lr 8e-3 */
    if (!(tr->set & DS_SET_LR)) tr->lr = caduceus ? 8e-3 : 6e-4;
    if (!(tr->set & DS_SET_WD)) tr->weight_decay = 0.1;
    if (!(tr->set & DS_SET_BETAS)) tr->beta1 = 0.9, tr->beta2 = 0.95;
    if (!(tr->set & DS_SET_SCHEDULE)) tr->schedule = DS_SCHED_TIMM_COSINE;
    if (!(tr->set & DS_SET_MIN_LR)) tr->min_lr = 1e-4;
    if (!(tr->set & DS_SET_CLIP)) tr->grad_clip = 1.0;
    if (!(tr->set & DS_SET_DECAY)) tr->decay_groups = 1;
    if (!(tr->set & DS_SET_EMBED_STD)) tr->init_embed_std = 0.02;
    if (!(tr->set & DS_SET_WARMUP)) tr->warmup = -1;
    *warmup_frac = 0.1;
}

/* --betas B1,B2: both in [0, 1). */
static int betas(const ds_common_opts *co, const char *arg, ds_train_opts *tr)
{
    char *end;
    errno = 0;
    double b1 = strtod(arg, &end), b2 = NAN;
    if (end != arg && *end == ',') {
        const char *s = end + 1;
        b2 = strtod(s, &end);
        if (end == s) b2 = NAN;
    }
    if (errno || *end || !(b1 >= 0 && b1 < 1) || !(b2 >= 0 && b2 < 1)) {
        ds_usage_error(co->cmd, "--betas: expected B1,B2 with each in [0, 1), e.g. 0.9,0.95, got '%s'", arg);
        return -1;
    }
    tr->beta1 = b1;
    tr->beta2 = b2;
    return 1;
}

static void vmsg(const char *cmd, const char *fmt, va_list ap, const char *tail)
{
    char msg[1024];
    vsnprintf(msg, sizeof msg, fmt, ap);
    /* Messages are one line even when a value carries a newline. */
    for (char *s = msg; *s; s++) if (*s == '\n' || *s == '\r') *s = ' ';
    fprintf(stderr, "derfseq%s%s: %s%s\n", cmd ? " " : "", cmd ? cmd : "", msg, tail);
}

int ds_usage_error(const char *cmd, const char *fmt, ...)
{
    char tail[64];
    snprintf(tail, sizeof tail, " (see 'derfseq %s%s')", cmd ? cmd : "help", cmd ? " --help" : "");
    va_list ap;
    va_start(ap, fmt);
    vmsg(cmd, fmt, ap, tail);
    va_end(ap);
    return 2;
}

int ds_cmd_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vmsg(cmd, fmt, ap, "");
    va_end(ap);
    return 1;
}

/* Counts end up in int arithmetic (batch x length, steps), so the default
 * ceiling is INT_MAX: a value that does not fit is refused, not wrapped. */
int ds_parse_long(const ds_common_opts *co, const char *name, const char *arg, long min, long *out)
{
    return ds_parse_long_range(co, name, arg, min, INT_MAX, out);
}

int ds_parse_long_range(const ds_common_opts *co, const char *name, const char *arg, long min, long max, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(arg, &end, 10);
    /* strtol skips leading blanks and takes a sign; a count is digits only
     * (a leading '-' or '+' is refused with the range, never wrapped) */
    if (!isdigit((unsigned char)*arg) || *end || errno == ERANGE || v < min || v > max) {
        ds_usage_error(co->cmd, "--%s: expected an integer in [%ld, %ld], got '%s'", name, min, max, arg);
        return -1;
    }
    *out = v;
    return 0;
}

int ds_parse_real(const ds_common_opts *co, const char *name, const char *arg, double min, int min_ok,
                  double *out)
{
    return ds_parse_real_range(co, name, arg, min, min_ok, DS_REAL_MAX, out);
}

int ds_parse_real_range(const ds_common_opts *co, const char *name, const char *arg, double min, int min_ok,
                        double max, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(arg, &end);
    /* isfinite refuses nan/inf and overflow; the ceiling keeps a value
     * finite once it is stored as a float */
    int bad = !*arg || isspace((unsigned char)*arg) || *end || !isfinite(v) || v < min || (!min_ok && v == min) ||
              v > max;
    if (bad && max >= DS_REAL_MAX)
        ds_usage_error(co->cmd, "--%s: expected a finite number %s %g, got '%s'", name, min_ok ? ">=" : ">", min, arg);
    else if (bad)
        ds_usage_error(co->cmd, "--%s: expected a number in %c%g, %g], got '%s'", name, min_ok ? '[' : '(', min, max,
                       arg);
    if (bad) return -1;
    *out = v;
    return 0;
}

int ds_parse_choice(const ds_common_opts *co, const char *name, const char *arg, const char *const *choices)
{
    char list[256] = "";
    for (int i = 0; choices[i]; i++) {
        if (strcmp(arg, choices[i]) == 0) return i;
        if (i) strncat(list, "|", sizeof list - strlen(list) - 1);
        strncat(list, choices[i], sizeof list - strlen(list) - 1);
    }
    ds_usage_error(co->cmd, "--%s: expected %s, got '%s'", name, list, arg);
    return -1;
}

int ds_opts_common(ds_common_opts *co, int c, const char *arg)
{
    long v;
    switch (c) {
    case 'h': co->help = 1; return 1;
    case 'q':
    case OPT_QUIET: co->quiet = 1; return 1;
    case OPT_LOG: co->log_path = arg; return 1;
    case OPT_JSON: co->json_path = arg; return 1;
    case OPT_SEED: return ds_parse_long_range(co, "seed", arg, 0, LONG_MAX, &co->seed) ? -1 : 1;
    case 't':
        if (ds_parse_long_range(co, "threads", arg, 1, DS_THREADS_MAX, &v)) return -1;
        co->threads = (int)v;
        return 1;
    }
    return 0;
}

static int parse_enum(const ds_common_opts *co, const char *name, const char *arg, int kind,
                      const char *expected, int *out)
{
    if (kind < 0) {
        ds_usage_error(co->cmd, "--%s: expected %s, got '%s'", name, expected, arg);
        return -1;
    }
    *out = kind;
    return 1;
}

/* A count option: 1 after storing, -1 on a bad value. */
static int count(const ds_common_opts *co, const char *name, const char *arg, long min, long *out)
{
    return ds_parse_long(co, name, arg, min, out) ? -1 : 1;
}

static int real(const ds_common_opts *co, const char *name, const char *arg, double min, int min_ok, double *out)
{
    return ds_parse_real(co, name, arg, min, min_ok, out) ? -1 : 1;
}

/* Derf/DyT alpha: the range a saved config accepts back (models/), so a run
 * never writes a checkpoint it cannot load. */
static int alpha(const ds_common_opts *co, const char *name, const char *arg, double *out)
{
    return ds_parse_real_range(co, name, arg, 0, 0, DS_ALPHA_MAX, out) ? -1 : 1;
}

int ds_opts_train(const ds_common_opts *co, ds_train_opts *tr, int c, const char *arg)
{
    static const struct { int opt; unsigned bit; } SETS[] = {
        { OPT_LR, DS_SET_LR }, { OPT_WD, DS_SET_WD }, { OPT_SCHEDULE, DS_SET_SCHEDULE }, { OPT_WARMUP, DS_SET_WARMUP },
        { OPT_CLIP, DS_SET_CLIP }, { OPT_BETAS, DS_SET_BETAS }, { OPT_MIN_LR, DS_SET_MIN_LR },
        { OPT_DECAY_GROUPS, DS_SET_DECAY }, { OPT_INIT_EMBED_STD, DS_SET_EMBED_STD }, { OPT_NORM, DS_SET_NORM },
    };
    for (size_t k = 0; k < sizeof SETS / sizeof SETS[0]; k++)
        if (SETS[k].opt == c) tr->set |= SETS[k].bit;
    switch (c) {
    case OPT_BETAS: return betas(co, arg, tr);
    case OPT_MIN_LR: return real(co, "min-lr", arg, 0, 1, &tr->min_lr);
    case OPT_DECAY_GROUPS:
        if (!strcmp(arg, "derfseq")) tr->decay_groups = 0;
        else if (!strcmp(arg, "official")) tr->decay_groups = 1;
        else return parse_enum(co, "decay-groups", arg, -1, "derfseq|official", &tr->decay_groups);
        return 1;
    case OPT_STEPS: tr->steps_set = 1; return count(co, "steps", arg, 0, &tr->steps);
    case OPT_EPOCHS: tr->epochs_set = 1; return count(co, "epochs", arg, 1, &tr->epochs);
    case OPT_BATCH: return count(co, "batch-size", arg, 1, &tr->batch_size);
    case OPT_ACCUM: return count(co, "accum", arg, 1, &tr->accum);
    case OPT_SEQLEN: return ds_parse_long_range(co, "seq-len", arg, 1, DS_SEQ_LEN_MAX, &tr->seq_len) ? -1 : 1;
    case OPT_WARMUP: return count(co, "warmup", arg, 0, &tr->warmup);
    case OPT_EVAL_EVERY: return count(co, "eval-every", arg, 0, &tr->eval_every);
    case OPT_SAVE_EVERY: return count(co, "save-every", arg, 0, &tr->save_every);
    case OPT_LR: return real(co, "lr", arg, 0, 0, &tr->lr);
    case OPT_WD: return real(co, "weight-decay", arg, 0, 1, &tr->weight_decay);
    case OPT_CLIP: return real(co, "grad-clip", arg, 0, 1, &tr->grad_clip);
    case OPT_ALPHA: return alpha(co, "alpha-init", arg, &tr->alpha_init);
    case OPT_ALPHA_ATTN: return alpha(co, "alpha-init-attn", arg, &tr->alpha_attn);
    case OPT_ALPHA_FFN: return alpha(co, "alpha-init-ffn", arg, &tr->alpha_ffn);
    case OPT_ALPHA_FINAL: return alpha(co, "alpha-init-final", arg, &tr->alpha_final);
    case OPT_INIT_EMBED_STD:
        return ds_parse_real_range(co, "init-embed-std", arg, 0, 0, 10, &tr->init_embed_std) ? -1 : 1;
    case OPT_RESUME: tr->resume = arg; return 1;
    case OPT_NORM: return parse_enum(co, "norm", arg, ds_norm_kind_parse(arg), NORM_NAMES, &tr->norm);
    case OPT_SCHEDULE:
        return parse_enum(co, "schedule", arg, ds_schedule_parse(arg), SCHED_NAMES, &tr->schedule);
    }
    return 0;
}

int ds_train_check(const ds_common_opts *co, ds_train_opts *tr)
{
    if (tr->steps_set && tr->epochs_set) {
        ds_usage_error(co->cmd, "give --steps or --epochs, not both");
        return -1;
    }
    /* The one given replaces the command's default unit of length. */
    if (tr->steps_set) tr->epochs = 0;
    if (tr->epochs_set) tr->steps = 0;
    if (isnan(tr->alpha_attn)) tr->alpha_attn = tr->alpha_init;
    if (isnan(tr->alpha_ffn)) tr->alpha_ffn = tr->alpha_init;
    if (isnan(tr->alpha_final)) tr->alpha_final = tr->alpha_init;
    return 0;
}

int ds_opts_unknown(const ds_common_opts *co, int c, char **argv)
{
    const char *given = optind > 0 ? argv[optind - 1] : "?";
    if (c == ':') return ds_usage_error(co->cmd, "option '%s' needs a value", given);
    if (c == '?' && optopt > 0 && optopt < 256 && strncmp(given, "--", 2) != 0)
        return ds_usage_error(co->cmd, "unknown option '-%c'", optopt);
    if (c == '?' && optopt != 0 && strchr(given, '='))
        return ds_usage_error(co->cmd, "option '%.*s' takes no value", (int)(strchr(given, '=') - given), given);
    return ds_usage_error(co->cmd, "unknown option '%s'", given);
}

void ds_usage_line(FILE *fp, const char *opt, const char *what, const char *def)
{
    if (def) fprintf(fp, "  %-26s %s [%s]\n", opt, what, def);
    else fprintf(fp, "  %-26s %s\n", opt, what);
}

void ds_usage_common(FILE *fp, const ds_common_opts *co)
{
    char buf[32];
    if (co->which & DS_O_THREADS)
        ds_usage_line(fp, "-t, --threads N", "threads for OpenMP and BLAS", "OMP_NUM_THREADS, else all cores");
    if (co->which & DS_O_SEED) {
        snprintf(buf, sizeof buf, "%ld", co->seed);
        ds_usage_line(fp, "    --seed N", "random seed; same seed and threads, same output", buf);
    }
    if (co->which & DS_O_LOG)
        ds_usage_line(fp, "    --log FILE.jsonl", "append one JSON object per logged step", "none");
    if (co->which & DS_O_JSON) ds_usage_line(fp, "    --json FILE", "also write the result as JSON ('-': stdout)", "none");
    if (co->which & DS_O_QUIET)
        ds_usage_line(fp, "-q, --quiet", "no progress and no resource line on stderr", "off");
    ds_usage_line(fp, "-h, --help", "show this help and exit", NULL);
}

/* "0" is shown as the meaning the option gives it. */
static const char *lstr(char *buf, size_t len, long v, const char *zero)
{
    if (v == 0 && zero) return zero;
    snprintf(buf, len, "%ld", v);
    return buf;
}

static const char *dstr(char *buf, size_t len, double v)
{
    snprintf(buf, len, "%g", v);
    return buf;
}

void ds_usage_train(FILE *fp, const ds_train_opts *tr)
{
    char b[64];
    int epochs_only = tr->per_epoch;   /* only the defaults of --steps, --accum, --eval/save-every */
    if (!epochs_only)
        ds_usage_line(fp, "    --steps N", "optimizer steps", lstr(b, sizeof b, tr->steps, "off, see --epochs"));
    int ctc = tr->speech == DS_SPEECH_CTC;
    if (!tr->speech || ctc)
        ds_usage_line(fp, "    --epochs N", epochs_only ? "passes over the data" : "passes over the data, instead of --steps",
                      lstr(b, sizeof b, tr->epochs, "off"));
    ds_usage_line(fp, "    --batch-size N", tr->speech ? "at most N utterances per batch" : "sequences per micro-batch",
                  lstr(b, sizeof b, tr->batch_size, tr->speech ? "no cap" : NULL));
    if (!epochs_only)
        ds_usage_line(fp, "    --accum N", "micro-batches per optimizer step", lstr(b, sizeof b, tr->accum, NULL));
    if (!tr->speech)
        ds_usage_line(fp, "    --seq-len N", "tokens per sequence", lstr(b, sizeof b, tr->seq_len, "the model's length"));
    ds_usage_line(fp, "    --lr X", "peak learning rate (AdamW)", dstr(b, sizeof b, tr->lr));
    ds_usage_line(fp, "    --warmup N", "linear warm-up steps",
                  tr->warmup >= 0 ? lstr(b, sizeof b, tr->warmup, NULL)
                  : ctc ? "10% of the steps" : tr->speech ? "8% of the steps" : "1% of the steps");
    ds_usage_line(fp, "    --schedule NAME", "cosine|linear|constant decay to --min-lr; timm-cosine: the official; tri-stage: fairseq's",
                  ds_schedule_name(tr->schedule));
    ds_usage_line(fp, "    --min-lr X", "the schedule's floor",
                  isnan(tr->min_lr) ? (ctc ? "0.05 x lr" : "0.1 x lr") : dstr(b, sizeof b, tr->min_lr));
    char bb[64];
    snprintf(bb, sizeof bb, "%g,%g", tr->beta1, tr->beta2);
    ds_usage_line(fp, "    --betas B1,B2", "AdamW betas", bb);
    ds_usage_line(fp, "    --weight-decay X", "AdamW decoupled weight decay", dstr(b, sizeof b, tr->weight_decay));
    ds_usage_line(fp, "    --grad-clip X", "clip the global gradient norm; 0: off", dstr(b, sizeof b, tr->grad_clip));
    ds_usage_line(fp, "    --decay-groups NAME", "derfseq|official: which tensors get weight decay",
                  tr->decay_groups ? "official" : "derfseq");
    if (!epochs_only) {
        ds_usage_line(fp, "    --eval-every N", ctc ? "validate every N steps; 0: after every epoch" : "validate every N steps; 0: at the end",
                      lstr(b, sizeof b, tr->eval_every, NULL));
        ds_usage_line(fp, "    --save-every N", "checkpoint every N steps; 0: at the end", lstr(b, sizeof b, tr->save_every, NULL));
    }
    ds_usage_line(fp, "    --resume RUN_DIR", "continue the run saved in RUN_DIR exactly (--steps/--epochs: a new total)", "none");
}

void ds_usage_norm(FILE *fp, const ds_train_opts *tr)
{
    static const char *const norms[] = { "derf", "dyt", "layernorm", "rmsnorm" };
    char b[64];
    ds_usage_line(fp, "    --norm NAME", "derf|dyt|layernorm|rmsnorm in every swapped norm",
                  tr->speech ? "the preset's" : norms[tr->norm]);
    ds_usage_line(fp, "    --alpha-init X", "initial alpha of Derf/DyT", dstr(b, sizeof b, tr->alpha_init));
    ds_usage_line(fp, "    --alpha-init-attn X", "alpha of attention-input norms", "--alpha-init");
    ds_usage_line(fp, "    --alpha-init-ffn X", "alpha of FFN-input norms", "--alpha-init");
    ds_usage_line(fp, "    --alpha-init-final X", "alpha of the final norm", "--alpha-init");
    if (!tr->speech)
        ds_usage_line(fp, "    --init-embed-std X", "std of the token embedding (tied LM head) at init; official 0.02",
                      dstr(b, sizeof b, tr->init_embed_std));
}

int ds_check_input(const char *cmd, const char *path)
{
    if (strcmp(path, "-") != 0 && access(path, R_OK) != 0) return ds_cmd_error(cmd, "%s: %s", path, strerror(errno));
    return 0;
}

int ds_check_inputs(const char *cmd, char **paths, int n)
{
    for (int i = 0; i < n; i++)
        if (ds_check_input(cmd, paths[i])) return 1;
    return 0;
}

/* The most specific name a config holds: derfseq's "preset" or "arch"
 * (models/), a hand-written "model", or a Hugging Face "model_type". */
static char *model_name(const json_t *root)
{
    static const char *const keys[] = { "preset", "arch", "model", "model_type" };
    for (int i = 0; i < 4; i++) {
        const char *name = json_string_value(json_object_get(root, keys[i]));
        if (name && *name) return strdup(name);
    }
    return NULL;
}

char *ds_config_model_name(const char *json_text)
{
    json_t *root = json_text ? json_loads(json_text, 0, NULL) : NULL;
    char *out = model_name(root);
    json_decref(root);
    return out;
}

int ds_from_model_name(const char *cmd, const char *path, char **name)
{
    ds_st_file f;
    *name = NULL;
    if (ds_st_open(&f, path) != 0) return ds_cmd_error(cmd, "%s", ds_errmsg());
    *name = ds_config_model_name(ds_st_meta(&f, DS_CKPT_CONFIG_KEY));
    ds_st_close(&f);
    return 0;
}

const char *const DS_RUN_FILES[DS_NRUN_FILES] = { "config.json", "state.safetensors", "last.safetensors",
                                                  "best.safetensors", "log.jsonl", "validation.tsv" };

int ds_check_output(const char *cmd, const char *opt, const char *out, const char *const *inputs, int n)
{
    if (ds_out_check_distinct(out, inputs, n)) return ds_usage_error(cmd, "%s %s", opt, ds_errmsg());
    if (ds_out_check_creatable(out)) return ds_cmd_error(cmd, "%s %s", opt, ds_errmsg());
    return 0;
}

int ds_check_run_dir(const char *cmd, const char *opt, const char *dir, const char *const *inputs, int n)
{
    if (!dir) return 0;
    int e = ds_out_check_distinct(dir, inputs, n);
    for (int i = 0; !e && i < DS_NRUN_FILES; i++) {
        char path[4200];
        snprintf(path, sizeof path, "%s/%s", dir, DS_RUN_FILES[i]);
        e = ds_out_check_distinct(path, inputs, n);
    }
    /* the directory itself is ds_run_create's to make or refuse */
    return e ? ds_usage_error(cmd, "%s %s", opt, ds_errmsg()) : 0;
}

/* The value of --name in argv ("--name V" or "--name=V"), or NULL. */
const char *ds_arg_value(int argc, char **argv, const char *name)
{
    size_t k = strlen(name);
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--")) break;
        if (!strncmp(argv[i], name, k) && argv[i][k] == '=') return argv[i] + k + 1;
        if (!strcmp(argv[i], name) && i + 1 < argc) return argv[i + 1];
    }
    return NULL;
}

int ds_check_run_outputs(const char *cmd, const char *log_path, const char *out, const char *resume,
                         const char *const *inputs, int n)
{
    const char *in[n + DS_NRUN_FILES];
    char run[DS_NRUN_FILES][1100];
    int k = 0;
    for (int i = 0; i < n; i++) in[k++] = inputs[i];
    for (int i = 0; resume && i < DS_NRUN_FILES; i++) {
        snprintf(run[i], sizeof run[i], "%s/%s", resume, DS_RUN_FILES[i]);
        in[k++] = run[i];
    }
    int rc = ds_check_output(cmd, "--log", log_path, in, k);
    return rc ? rc : ds_check_run_dir(cmd, "-o", out, in, k);
}

int ds_resume_ignored_error(const char *cmd, const char *opt, const char *dir)
{
    return ds_usage_error(cmd, "--%s: a resumed run keeps the settings of %s/config.json; with --resume only -t, "
                          "--stop-at, --log, --quiet and a new --steps/--epochs total apply", opt, dir);
}
