/* derfseq finetune: GenomicBenchmarks sequence classification — a mean-pool
 * + Linear head over a pretrained (or fresh) encoder, trained end to end with
 * a seeded validation split and early stopping (genomic_benchmarks.md
 * §4.4-4.7, derfseq.md "Command line"). Caduceus trunks follow the Caduceus
 * recipe (caduceus.md §2.9): lr 2e-3; Caduceus-PS pools its RC-averaged
 * features; Caduceus-Ph trains on each sequence or, with probability 0.5,
 * its reverse complement and validates conjoined (gbtask.c). Speech CTC
 * fine-tuning (--task ctc) is finetune_ctc.c's. */
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmd/cmd.h"
#include "cmd/opts.h"
#include "cmd/gbtask.h"
#include "cmd/rundir.h"
#include "core/error.h"
#include "core/log.h"
#include "core/progress.h"
#include "core/rng.h"
#include "core/threads.h"
#include "core/dist.h"
#include "cmd/dp.h"
#include "io/outfile.h"
#include "io/trainstate.h"
#include "nn/norm.h"
#include "nn/optim.h"
#include "presets.h"

enum { OPT_LAYOUT = 1300, OPT_MAX_LENGTH, OPT_VAL_FRACTION, OPT_PATIENCE, OPT_STOP_AT, OPT_LABELS };

static const char *const TASKS[] = { "cls", "ctc", "gb", NULL };

/* Caduceus's GenomicBenchmarks lr: its sweep is {1e-3, 2e-3} for Ph and PS
 * (genomic_benchmarks.md §4.7); 2e-3 is also the one value of its
 * no-post-hoc Ph runs. */
#define CADUCEUS_GB_LR 2e-3

typedef struct {
    ds_common_opts co;
    ds_train_opts tr;
    const char *from, *model, *ref, *out;
    int task;                 /* index into TASKS, -1 before --task */
    int layout;               /* DS_GB_* */
    long max_length, patience, stop_at;
    double val_fraction;
    const char *data;
    const char *labels;           /* --labels RAW=NAME,... */
    const char *resume_ignored;   /* an option given with --resume that it would not apply */
    long threads_saved;           /* the run's thread count, from config.json on --resume */
    long ranks_saved;             /* the MPI ranks it started on (1 when not recorded) */
} finetune_opts;

static const struct option LONGOPTS[] = {
    { "from", required_argument, NULL, OPT_FROM },
    { "task", required_argument, NULL, OPT_TASK },
    { "model", required_argument, NULL, OPT_MODEL },
    { "ref", required_argument, NULL, OPT_REF },
    { "layout", required_argument, NULL, OPT_LAYOUT },
    { "labels", required_argument, NULL, OPT_LABELS },
    { "max-length", required_argument, NULL, OPT_MAX_LENGTH },
    { "val-fraction", required_argument, NULL, OPT_VAL_FRACTION },
    { "patience", required_argument, NULL, OPT_PATIENCE },
    { "stop-at", required_argument, NULL, OPT_STOP_AT },
    { "output", required_argument, NULL, 'o' },
    DS_LONGOPTS_NORM,
    DS_LONGOPTS_TRAIN,
    DS_LONGOPT_THREADS, DS_LONGOPT_SEED, DS_LONGOPT_LOG, DS_LONGOPT_QUIET, DS_LONGOPT_HELP,
    { NULL, 0, NULL, 0 },
};

/* The GenomicBenchmarks recipe (genomic_benchmarks.md): batch 128, 10
 * epochs (Caduceus), lr 6e-4, wd 0.1, cosine with 1% warm-up, one
 * validation per epoch. */
static void defaults(finetune_opts *o)
{
    memset(o, 0, sizeof *o);
    ds_common_defaults(&o->co, "finetune", DS_O_THREADS | DS_O_SEED | DS_O_LOG | DS_O_QUIET);
    ds_train_defaults(&o->tr);
    o->tr.steps = 0;
    o->tr.epochs = 10;
    o->tr.batch_size = 128;
    o->tr.seq_len = 0;
    o->tr.eval_every = 0;
    o->tr.save_every = 0;
    o->tr.per_epoch = 1;
    o->task = -1;
    o->patience = 3;
    o->val_fraction = 0.1;
}

static void usage(FILE *fp, const finetune_opts *o)
{
    fprintf(fp, "Usage: derfseq finetune --from CKPT --task TASK [options] DATA -o RUN_DIR\n\n"
                "Fine-tunes an encoder and a classification head (mean over all positions,\n"
                "then Linear; as the official HyenaDNA/Caduceus GenomicBenchmarks recipes) on\n"
                "DATA's train split: <name>/{train,test}/<class>/*.txt, <class>.csv[.gz] with\n"
                "--ref, or {train,test}.csv|tsv with sequence,label columns. Sequences get no\n"
                "special tokens, are left-padded with [PAD] and cut to their first --max-length\n"
                "bases. A seeded --val-fraction of train picks the best epoch (early stopping);\n"
                "evaluate the test split with 'derfseq eval'.\n"
                "A Caduceus trunk (caduceus-* presets or checkpoints) defaults to --lr 2e-3\n"
                "(Caduceus's sweep {1e-3, 2e-3}). Caduceus-PS pools the mean of its forward and\n"
                "reverse-complement channels; Caduceus-Ph trains on each sequence or, with\n"
                "probability 0.5 (from --seed and the step), its reverse complement, and\n"
                "predicts (validation, eval) the mean of the logits of the sequence and of its\n"
                "reverse complement, as the official post-hoc conjoining.\n\n"
                "Task:\n");
    ds_usage_line(fp, "    --from CKPT", "pretrained checkpoint (safetensors)", "required, or --model");
    ds_usage_line(fp, "    --model PRESET", "train from scratch instead (with --norm)", "none");
    ds_usage_line(fp, "    --task TASK", "gb|cls (sequence classification); ctc: speech (see --task ctc -h)", "required");
    ds_usage_line(fp, "    --ref FASTA", "reference for coordinate-layout datasets", "none");
    ds_usage_line(fp, "    --layout NAME", "auto|tree|coords|table", "auto");
    ds_usage_line(fp, "    --labels MAP", "class names of raw labels: RAW=NAME,... (e.g. 0=negative,1=positive)", "none");
    ds_usage_line(fp, "    --max-length N", "tokens per sequence", "the dataset's recipe value, else the longest");
    ds_usage_line(fp, "    --val-fraction X", "share of train held out for validation", "0.1");
    ds_usage_line(fp, "    --patience N", "stop after N epochs without a better validation accuracy", "3");
    ds_usage_line(fp, "    --stop-at EPOCH", "save and stop after this epoch (continue with --resume)", "off");
    ds_usage_norm(fp, &o->tr);
    ds_usage_line(fp, "-o, --output RUN_DIR", "run directory: config, checkpoints, state, log", "required");
    fprintf(fp, "\nTraining:\n");
    ds_usage_train(fp, &o->tr);
    fprintf(fp, "\nGeneral:\n");
    ds_usage_common(fp, &o->co);
}

static int parse(finetune_opts *o, int argc, char **argv)
{
    int c, r;
    while ((c = getopt_long(argc, argv, ":t:o:qh", LONGOPTS, NULL)) != -1) {
        if ((r = ds_opts_common(&o->co, c, optarg)) == 0) r = ds_opts_train(&o->co, &o->tr, c, optarg);
        if (r < 0) return 2;
        if (!o->resume_ignored) o->resume_ignored = ds_resume_ignores(LONGOPTS, c, OPT_STOP_AT);
        if (r > 0) continue;
        switch (c) {
        case OPT_FROM: o->from = optarg; break;
        case OPT_TASK:
            if ((o->task = ds_parse_choice(&o->co, "task", optarg, TASKS)) < 0) return 2;
            break;
        case OPT_REF: o->ref = optarg; break;
        case OPT_MODEL: o->model = optarg; break;
        case OPT_LAYOUT:
            if ((o->layout = ds_gb_layout_parse(optarg)) < 0)
                return ds_usage_error(o->co.cmd, "--layout: expected auto, tree, coords or table, got '%s'", optarg);
            break;
        case OPT_LABELS:
            if (ds_opt_gb_labels(o->co.cmd, optarg)) return 2;
            o->labels = optarg;
            break;
        case OPT_MAX_LENGTH: if (ds_parse_long_range(&o->co, "max-length", optarg, 1, DS_SEQ_LEN_MAX, &o->max_length)) return 2; break;
        case OPT_PATIENCE: if (ds_parse_long(&o->co, "patience", optarg, 1, &o->patience)) return 2; break;
        case OPT_STOP_AT: if (ds_parse_long(&o->co, "stop-at", optarg, 1, &o->stop_at)) return 2; break;
        case OPT_VAL_FRACTION:
            if (ds_parse_real(&o->co, "val-fraction", optarg, 0, 0, &o->val_fraction)) return 2;
            if (o->val_fraction >= 0.9) return ds_usage_error(o->co.cmd, "--val-fraction: expected a share below 0.9");
            break;
        case 'o': o->out = optarg; break;
        default: return ds_opts_unknown(&o->co, c, argv);
        }
    }
    return ds_train_check(&o->co, &o->tr) ? 2 : 0;
}

/* A resumed run takes checkpoint, task and directory from RUN_DIR. */
static int check_required(const finetune_opts *o, int ndata)
{
    const char *cmd = o->co.cmd;
    if (o->tr.resume && o->resume_ignored)
        return ds_resume_ignored_error(cmd, o->resume_ignored, o->tr.resume);
    if (o->tr.resume && o->tr.steps_set) return ds_usage_error(cmd, "finetune counts --epochs, not --steps");
    if (o->tr.resume) return ndata ? ds_usage_error(cmd, "--resume takes DATA and the rest from the run directory") : 0;
    if (!o->from && !o->model) return ds_usage_error(cmd, "missing --from CKPT (or --model PRESET)");
    if (o->from && o->model) return ds_usage_error(cmd, "give --from or --model, not both");
    if (o->task < 0) return ds_usage_error(cmd, "missing --task gb|cls");
    if (o->tr.steps_set) return ds_usage_error(cmd, "finetune counts --epochs, not --steps");
    if (o->tr.accum != 1) return ds_usage_error(cmd, "--accum is not built for finetune yet");
    if (o->tr.eval_every || o->tr.save_every)
        return ds_usage_error(cmd, "finetune validates and saves once per epoch; drop --eval-every/--save-every");
    if (!o->tr.resume && !o->out) return ds_usage_error(cmd, "missing -o RUN_DIR");
    if (ndata != 1) return ds_usage_error(cmd, ndata ? "expected one DATA, got %d" : "missing DATA", ndata);
    return 0;
}

/* --log and the files of -o RUN_DIR must not overwrite --from, --ref or
 * DATA; a resumed run's files are inputs too. */
static int check_outputs(const finetune_opts *o, int ndata, char **data)
{
    char run[DS_NRUN_FILES][1100];
    const char *in[3 + DS_NRUN_FILES] = { o->from, o->ref, ndata ? data[0] : NULL };
    for (int i = 0; o->tr.resume && i < DS_NRUN_FILES; i++) {
        snprintf(run[i], sizeof run[i], "%s/%s", o->tr.resume, DS_RUN_FILES[i]);
        in[3 + i] = run[i];
    }
    int rc = ds_check_output(o->co.cmd, "--log", o->co.log_path, in, 3 + DS_NRUN_FILES);
    return rc ? rc : ds_check_run_dir(o->co.cmd, "-o", o->out, in, 3);
}

/* ---- the run --------------------------------------------------------- */

typedef struct {
    finetune_opts *o;
    ds_gb_split data;
    long *train, *val, *train0;   /* train0: the split's order, reshuffled per epoch */
    long ntrain, nval;
    long start_epoch, start_step, stale;
    long best_correct;            /* validation records right in the best epoch; -1: none yet */
    long best_epoch;              /* that epoch; 0: none yet */
    long interrupted;             /* the step saved when Ctrl-C or SIGTERM stopped the run; 0: not stopped */
    long new_epochs;              /* --resume --epochs N: the run's new total; 0: keep it */
    long saved_epoch;             /* the epoch of the last saved state; -1: none */
    int created, claimed;         /* this run made / took its directory (ds_rundir_abandon) */
    int collective;               /* the error was met by every rank alike (a divergence) */
    char state[1100];
    ds_classifier clf;
    ds_adamw opt_enc, opt_head;
    ds_schedule sched;
    ds_log_pair logs;
    char dir[1024], best[1100], last[1100], logp[1100];
} finetune;

/* Which rows of a training batch hold the reverse complement (Caduceus-Ph's
 * RC augmentation, p = 0.5), from (seed, step) only, so --resume replays it. */
static void rc_draw(unsigned char *rc, int B, long seed, long step)
{
    ds_rng r;
    ds_rng_init(&r, (uint64_t)seed, 0x5243415547000000ull ^ (uint64_t)step);   /* "RCAUG" */
    for (int b = 0; b < B; b++) rc[b] = (unsigned char)ds_rng_below(&r, 2);
}

static int build_encoder(finetune *f, ds_model **m)
{
    if (f->o->from) {
        int e = ds_model_load(m, f->o->from);
        if (!e && !strcmp((*m)->vt->arch, "wav2vec2"))
            e = ds_err(DS_ENOTSUP, "%s is a wav2vec2 (speech) checkpoint: GenomicBenchmarks fine-tuning takes a DNA "
                       "encoder; fine-tune speech with --task ctc", f->o->from);
        return e;
    }
    char *json = NULL;
    int e = ds_preset_config_json(f->o->model, ds_norm_ops_get((ds_norm_kind)f->o->tr.norm)->name,
                                  (float)f->o->tr.alpha_init, &json);
    if (!e) e = ds_config_set_real(&json, "init_embed_std", f->o->tr.init_embed_std);
    if (!e) e = ds_model_from_json(m, json);
    free(json);
    if (!e) e = (*m)->vt->init_weights(*m, (uint64_t)f->o->co.seed);
    return e;
}

/* A seeded shuffle of train, the first val_fraction of it held out. */
static int split_train(finetune *f)
{
    long n = f->data.n, *idx;
    int e = ds_gb_holdout(n, f->o->val_fraction, f->o->co.seed, &idx, &f->nval);
    if (e) return e;
    f->val = idx;
    f->train = idx + f->nval;
    f->ntrain = n - f->nval;
    if (f->ntrain <= 0) return ds_err(DS_EINVAL, "the train split has too few sequences (%ld)", n);
    f->train0 = malloc(sizeof *f->train0 * (size_t)f->ntrain);
    if (!f->train0) return ds_err(DS_ENOMEM, "out of memory");
    memcpy(f->train0, f->train, sizeof *f->train0 * (size_t)f->ntrain);
    return 0;
}

/* The number of records of idx predicted right (an integer, so that the
 * best epoch compares exactly across a resume), or an error. */
static int count_correct(finetune *f, const long *idx, long n_all, int B, long *correct)
{
    /* data parallel: each rank predicts its share of the records, the counts are summed */
    long first, n;
    ds_dp_share(n_all, &first, &n);
    idx += first;
    ds_gb_split view = f->data;   /* records of idx only, in that order */
    ds_gb_record *r = malloc(sizeof *r * (size_t)n);
    int *pred = malloc(sizeof *pred * (size_t)n);
    int e = (r && pred) || !n ? 0 : ds_err(DS_ENOMEM, "out of memory for the predictions of %ld validation records", n);
    if (!e && n) {
        for (long i = 0; i < n; i++) r[i] = f->data.r[idx[i]];
        view.r = r;
        view.n = n;
        e = ds_classifier_predict(&f->clf, &view, B, pred, NULL);
    }
    if (!e) {
        int64_t c = 0;
        for (long i = 0; i < n; i++) c += pred[i] == r[i].label;
        ds_dist_sum_i64(&c, 1);
        *correct = (long)c;
    }
    free(r);
    free(pred);
    return e;
}

static int log_json(finetune *f, json_t *j)
{
    return ds_log_pair_write(&f->logs, j);
}

/* The error for a run that diverged at `step` (1-based). */
static int diverged(finetune *f, long step, long epoch, const char *what, double v, const char *tensor)
{
    f->collective = 1;   /* measured on values every rank shares */
    char when[64], kept[1200];
    snprintf(when, sizeof when, "step %ld (epoch %ld)", step, epoch);
    if (f->saved_epoch > 0)
        snprintf(kept, sizeof kept, "%s keeps epoch %ld, the last saved state", f->state, f->saved_epoch);
    else
        snprintf(kept, sizeof kept, "no epoch had been saved yet");
    return ds_run_diverged(when, what, v, tensor, kept);
}

/* The name of the first encoder or head tensor with a non-finite gradient. */
static const char *nonfinite_grad(finetune *f)
{
    int i = ds_params_find_nonfinite(&f->clf.m->params, 1);
    if (i >= 0) return f->clf.m->params.p[i].name;
    i = ds_params_find_nonfinite(&f->clf.head.params, 1);
    return i >= 0 ? f->clf.head.params.p[i].name : NULL;
}

/* Parameters, both optimizers and the loop position, in one atomic file. */
static int save_state(finetune *f, long epoch, long step, long best_correct, long stale)
{
    ds_counters c = {0};
    ds_counters_set(&c, "epoch", epoch);
    ds_counters_set(&c, "step", step);
    ds_counters_set(&c, "stale", stale);
    ds_counters_set(&c, "best_correct", best_correct);
    ds_counters_set(&c, "best_epoch", f->best_epoch);
    const ds_params *ps[2] = { &f->clf.m->params, &f->clf.head.params };
    const ds_adamw *op[2] = { &f->opt_enc, &f->opt_head };
    /* every rank trained the same parameters; rank 0 writes them */
    if (!ds_dist_same_params(ps[0]) || !ds_dist_same_params(ps[1]))
        return ds_err(DS_EINVAL, "epoch %ld: the ranks' parameters differ; nothing saved", epoch);
    int e = ds_dist_root() ? ds_trainstate_save_n(f->state, ps, op, 2, &c) : 0;
    if (!e) f->saved_epoch = epoch;
    return e;
}

static int load_state(finetune *f)
{
    ds_counters c = {0};
    ds_params *ps[2] = { &f->clf.m->params, &f->clf.head.params };
    ds_adamw *op[2] = { &f->opt_enc, &f->opt_head };
    int64_t ep = 0, step = 0, stale = 0, best = -1, best_ep = 0;
    int e = access(f->state, F_OK) ? ds_err(DS_EIO, "%s: no state yet (stopped before its first epoch); start it again", f->dir)
                                   : ds_trainstate_load_n(f->state, ps, op, 2, &c);
    if (!e) e = ds_counters_get(&c, "epoch", &ep);
    if (!e) e = ds_counters_get(&c, "step", &step);
    if (!e) e = ds_counters_get(&c, "stale", &stale);
    if (!e && ds_counters_get(&c, "best_correct", &best)) {
        /* a state of derfseq 0.1.0 kept the accuracy in parts per billion */
        int64_t ppb = 0;
        e = ds_counters_get(&c, "best_accuracy_ppb", &ppb);
        long n = f->nval ? f->nval : f->ntrain;
        best = ppb < 0 ? -1 : llround((double)ppb * 1e-9 * (double)n);
    }
    if (!e && ds_counters_get(&c, "best_epoch", &best_ep)) best_ep = 0;
    ds_err_clear();
    f->best_epoch = (long)best_ep;
    f->start_epoch = (long)ep;
    f->start_step = (long)step;
    f->stale = (long)stale;
    f->best_correct = (long)best;
    f->saved_epoch = (long)ep;
    return e;
}

/* Data parallel (R ranks): each step takes a global batch of G = R x B
 * records of the epoch's order, which rank r splits off as its near-equal
 * part (ds_dp_share); its loss is weighted by its share of the batch's
 * records and the gradients summed, so R ranks train what one process with
 * batch G would. RC augmentation is drawn over the global batch. */
static int train(finetune *f)
{
    const ds_train_opts *tr = &f->o->tr;
    int B = (int)tr->batch_size, L = f->clf.max_length, R = ds_dist_size(), rank = ds_dist_rank();
    long G = (long)B * R;
    long per_epoch = (f->ntrain + G - 1) / G, total = per_epoch * tr->epochs;
    f->sched = (ds_schedule){ (ds_sched_kind)tr->schedule, (float)tr->lr,
                              (float)(isnan(tr->min_lr) ? 0.1 * tr->lr : tr->min_lr),
                              tr->warmup >= 0 ? tr->warmup : total / 100, total };
    int32_t *ids = malloc(sizeof(int32_t) * (size_t)B * L), *lab = malloc(sizeof(int32_t) * (size_t)B);
    int aug = ds_classifier_conjoins(&f->clf);   /* Caduceus-Ph: RC augmentation */
    unsigned char *rc = malloc((size_t)G);
    int e = ids && lab && rc ? 0 : ds_err(DS_ENOMEM, "out of memory");
    if (!e) e = f->clf.m->vt->reserve(f->clf.m, B, L);
    if (!e) e = ds_cls_head_reserve(&f->clf.head, B, L);
    ds_progress pg;
    ds_progress_init(&pg, "finetune", total, "seq/s", per_epoch, f->o->co.quiet);
    long best = f->best_correct;
    double t0 = ds_realtime();
    long step = f->start_step, stale = f->stale, ep;
    long end = f->o->stop_at && f->o->stop_at < tr->epochs ? f->o->stop_at : tr->epochs;
    /* batches of the first epoch done before a Ctrl-C (0 after a whole epoch) */
    long skip = f->start_step - f->start_epoch * per_epoch;
    int sig = 0;
    ds_run_catch_signals();
    for (ep = f->start_epoch; !e && ep < end && stale < f->o->patience; ep++) {
        ds_rng r;   /* the epoch's order depends only on (seed, epoch), so a resumed run sees the same */
        ds_rng_init(&r, (uint64_t)f->o->co.seed, 0x45504f4300000000ull ^ (uint64_t)ep);
        memcpy(f->train, f->train0, sizeof *f->train * (size_t)f->ntrain);
        for (long i = f->ntrain - 1; i > 0; i--) {
            long j = (long)ds_rng_below(&r, (uint64_t)i + 1), t = f->train[i];
            f->train[i] = f->train[j];
            f->train[j] = t;
        }
        for (long i0 = ep == f->start_epoch ? skip * G : 0; !e && i0 < f->ntrain; i0 += G, step++) {
            long ng = f->ntrain - i0 < G ? f->ntrain - i0 : G, first, cnt;
            ds_dp_share(ng, &first, &cnt);
            int n = (int)cnt;
            if (aug) rc_draw(rc, (int)G, f->o->co.seed, step);
            ds_params_zero_grad(&f->clf.m->params);
            ds_params_zero_grad(&f->clf.head.params);
            double part = 0;   /* this rank's share of the batch's mean loss */
            if (n > 0) {
                if (aug) {
                    if ((e = ds_gb_batch_strands(&f->data, f->train + i0 + first, n, B, L, ids, lab, f->clf.m, rc + first))) break;
                } else ds_gb_batch(&f->data, f->train + i0 + first, n, B, L, ids, lab, ds_gb_tok_flags(f->clf.m));
                e = f->clf.m->vt->encode(f->clf.m, ids, B, L, 1, (uint64_t)f->o->co.seed,
                                         (uint64_t)step * (uint64_t)R + (uint64_t)rank);
                if (e) break;
                double w = (double)n / (double)ng;
                part = ds_cls_head_forward(&f->clf.head, f->clf.m, lab) * w;
                ds_cls_head_backward(&f->clf.head, f->clf.m, (float)w);
            }
            ds_dist_sum_grad(&f->clf.m->params);
            ds_dist_sum_grad(&f->clf.head.params);
            /* the batch's loss, and a Ctrl-C or SIGTERM seen by any rank */
            double agree[2] = { part, ds_run_interrupted() ? 1.0 : 0.0 };
            ds_dist_sum_f64(agree, 2);
            sig = agree[1] > 0;
            float loss = (float)agree[0];
            if (!isfinite(loss)) { e = diverged(f, step + 1, ep + 1, "the training loss", loss, NULL); break; }
            /* one global norm over encoder and head, as clip_grad_norm_ over all parameters */
            ds_params *both[2] = { &f->clf.m->params, &f->clf.head.params };
            float gn = ds_grad_clip_n(both, 2, (float)tr->grad_clip);
            if (!isfinite(gn)) { e = diverged(f, step + 1, ep + 1, "the gradient norm", gn, nonfinite_grad(f)); break; }
            float lr = ds_schedule_lr(&f->sched, step);
            ds_adamw_step(&f->opt_enc, &f->clf.m->params, lr);
            ds_adamw_step(&f->opt_head, &f->clf.head.params, lr);
            ds_progress_update(&pg, step + 1, loss, (double)(i0 + ng) + (double)ep * f->ntrain);
            e = log_json(f, json_pack("{s:I, s:I, s:o, s:o, s:o, s:o}", "step", (json_int_t)step + 1, "epoch",
                                      (json_int_t)ep + 1, "loss", ds_json_real(loss), "lr", ds_json_real(lr), "grad_norm",
                                      ds_json_real(gn), "wall_s", ds_json_real(ds_realtime() - t0)));
            /* Ctrl-C: the state after this step (mid-epoch; --resume goes on from the next batch) */
            if (!e && sig) {
                f->interrupted = ++step;   /* the steps done */
                e = save_state(f, ep, step, best, stale);
                break;
            }
        }
        if (e || f->interrupted) break;
        long nv = f->nval ? f->nval : f->ntrain, correct = 0;
        e = count_correct(f, f->nval ? f->val : f->train, nv, B, &correct);
        ds_progress_finish(&pg);
        if (e) break;
        double acc = (double)correct / (double)nv;
        e = log_json(f, json_pack("{s:I, s:o, s:I}", "epoch", (json_int_t)ep + 1, "val_accuracy", ds_json_real(acc),
                                  "val_n", (json_int_t)nv));
        if (e) break;
        if (!f->o->co.quiet) fprintf(stderr, "[M::finetune] epoch %ld: validation accuracy %.4f\n", ep + 1, acc);
        if (correct > best) {
            best = correct;
            stale = 0;
            char v[32], epoch[32], st[32];
            snprintf(v, sizeof v, "%.6f", acc);
            snprintf(epoch, sizeof epoch, "%ld", ep + 1);
            snprintf(st, sizeof st, "%ld", step);
            const char *k[3] = { "derfseq.val_accuracy", "derfseq.epoch", "derfseq.step" }, *val[3] = { v, epoch, st };
            e = ds_dist_root() ? ds_classifier_save_meta(&f->clf, f->best, k, val, 3) : 0;
            f->best_epoch = ep + 1;
        } else stale++;
        if (!e) e = save_state(f, ep + 1, step, best, stale);
        /* the encode/head buffers were resized for prediction batches; size them back */
        if (!e) e = f->clf.m->vt->reserve(f->clf.m, B, L);
        if (!e) e = ds_cls_head_reserve(&f->clf.head, B, L);
        /* Ctrl-C during the validation: the state of the whole epoch is saved */
        int64_t late = ds_run_interrupted() != 0;   /* every rank agrees */
        ds_dist_max_i64(&late, 1);
        if (!e && late && ep + 1 < end && stale < f->o->patience) { f->interrupted = step; ep++; break; }
    }
    if (!e) {
        char epoch[32], st[32];
        snprintf(epoch, sizeof epoch, "%ld", ep);   /* the epochs done (one interrupted half way not) */
        snprintf(st, sizeof st, "%ld", step);
        const char *k[2] = { "derfseq.epoch", "derfseq.step" }, *val[2] = { epoch, st };
        e = ds_dist_root() ? ds_classifier_save_meta(&f->clf, f->last, k, val, 2) : 0;
    }
    if (!e && !f->interrupted) {
        long nv = f->nval ? f->nval : f->ntrain;
        ds_run_summary s = { "epoch", ep, tr->epochs, f->best_epoch, "val accuracy", "val_accuracy",
                             (double)best / (double)nv, "", f->best, f->last };
        e = ds_run_summarize(f->o->co.cmd, &f->logs, &s, f->o->co.quiet);
    }
    free(ids);
    free(lab);
    free(rc);
    return e;
}

/* Everything --resume needs, as config.json. */
static int write_config(finetune *f, int L)
{
    const finetune_opts *o = f->o;
    const ds_train_opts *t = &o->tr;
    /* absolute, so --resume works from any directory */
    char data[4096], ref[4096], from[4096];
    ds_run_abspath(data, sizeof data, o->data);
    ds_run_abspath(ref, sizeof ref, o->ref);
    ds_run_abspath(from, sizeof from, o->from);
    if (!ds_dist_root()) return 0;   /* rank 0 writes the run directory */
    json_t *j = json_pack("{s:s, s:s, s:s*, s:s*, s:s*, s:s, s:f, s:I, s:f, s:I, s:I, s:I, s:f, s:I, s:s, s:f, s:f, s:I}",
                          "data", data, "layout", ds_gb_layout_name(f->data.layout), "ref", o->ref ? ref : NULL,
                          "from", o->from ? from : NULL,
                          "model", o->model, "norm", ds_norm_ops_get((ds_norm_kind)t->norm)->name, "alpha_init",
                          t->alpha_init, "max_length", (json_int_t)L, "val_fraction", o->val_fraction, "seed",
                          (json_int_t)o->co.seed, "epochs", (json_int_t)t->epochs, "batch_size", (json_int_t)t->batch_size,
                          "lr", t->lr, "warmup", (json_int_t)t->warmup, "schedule", ds_schedule_name(t->schedule), "weight_decay",
                          t->weight_decay, "grad_clip", t->grad_clip, "patience", (json_int_t)o->patience);
    if (j) {
        json_object_set_new(j, "threads", json_integer(ds_threads_get()));
        json_object_set_new(j, "ranks", json_integer(ds_dist_size()));
        json_object_set_new(j, "beta1", json_real(t->beta1));
        json_object_set_new(j, "beta2", json_real(t->beta2));
        json_object_set_new(j, "min_lr", json_real(isnan(t->min_lr) ? 0.1 * t->lr : t->min_lr));
        json_object_set_new(j, "decay_groups", json_string(t->decay_groups ? "official" : "derfseq"));
        json_object_set_new(j, "init_embed_std", json_real(t->init_embed_std));
        if (o->labels) json_object_set_new(j, "labels", json_string(o->labels));
    }
    char *text = j ? json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(9)) : NULL;
    json_decref(j);
    char p[1100];
    snprintf(p, sizeof p, "%s/config.json", f->dir);
    int e = text ? ds_write_file_atomic(p, text, strlen(text)) : ds_err(DS_ENOMEM, "out of memory");
    free(text);
    return e;
}

/* The validation records, so the split is visible in RUN (it is also
 * reproducible from the seed and the sorted data). */
static int write_val_ids(finetune *f)
{
    char p[1100];
    snprintf(p, sizeof p, "%s/validation.tsv", f->dir);
    ds_outfile out;
    int e = ds_outfile_open(&out, p);
    if (e) return e;
    fprintf(out.fp, "id\tclass\n");
    for (long i = 0; i < f->nval; i++)
        fprintf(out.fp, "%s\t%s\n", f->data.r[f->val[i]].id, f->data.classes[f->data.r[f->val[i]].label]);
    e = ds_outfile_commit(&out);
    if (e) ds_outfile_abort(&out);
    return e;
}

/* Fills the options of a run from its config.json (strings stay in *root). */
static int read_config(finetune_opts *o, const char *dir, json_t **root)
{
    char p[1100];
    snprintf(p, sizeof p, "%s/config.json", dir);
    json_error_t err;
    json_t *j = *root = json_load_file(p, 0, &err);
    if (!j) return ds_err(DS_EIO, "%s: cannot read (%s); is this a finetune run directory?", p, err.text);
    const char *layout = "auto", *norm = "derf";
    json_int_t L = 0, seed = 1, ep = 0, bs = 0, warm = 0, pat = 0;
    json_t *sched = NULL;
    if (json_unpack_ex(j, &err, 0, "{s:s, s:s, s?s, s?s, s?s, s:s, s:F, s:I, s:F, s:I, s:I, s:I, s:F, s:I, s:o, s:F, s:F, s:I}",
                       "data", &o->data, "layout", &layout, "ref", &o->ref, "from", &o->from, "model", &o->model,
                       "norm", &norm, "alpha_init", &o->tr.alpha_init, "max_length", &L, "val_fraction",
                       &o->val_fraction, "seed", &seed, "epochs", &ep, "batch_size", &bs, "lr", &o->tr.lr, "warmup",
                       &warm, "schedule", &sched, "weight_decay", &o->tr.weight_decay, "grad_clip",
                       &o->tr.grad_clip, "patience", &pat))
        return ds_err(DS_EFORMAT, "%s: %s", p, err.text);
    if ((o->tr.schedule = ds_run_schedule_from_json(sched)) < 0)
        return ds_err(DS_EFORMAT, "%s: schedule: expected %s", p, DS_SCHEDULE_NAMES);
    o->layout = ds_gb_layout_parse(layout);
    o->tr.norm = ds_norm_kind_parse(norm);
    o->max_length = (long)L;
    o->co.seed = (long)seed;
    o->tr.epochs = (long)ep;
    o->tr.batch_size = (long)bs;
    o->tr.warmup = (long)warm;
    o->patience = (long)pat;
    /* the file may have been edited: the ranges the options would accept */
    if (L < 0 || L > (1 << 24) || ep < 1 || ep > INT_MAX || bs < 1 || bs > (1 << 20) || warm < -1 || pat < 1 ||
        !(o->val_fraction >= 0 && o->val_fraction < 0.9) || !(o->tr.lr >= 0 && isfinite(o->tr.lr)))
        return ds_err(DS_EFORMAT, "%s: max_length, epochs, batch_size, warmup, patience, val_fraction or lr is out of "
                      "range (edited by hand?)", p);
    /* keys absent in runs of derfseq 0.1.0 take the values it used */
    json_t *th = json_object_get(j, "threads"), *x;
    o->threads_saved = json_is_integer(th) ? (long)json_integer_value(th) : 0;
    o->ranks_saved = json_is_integer(x = json_object_get(j, "ranks")) ? (long)json_integer_value(x) : 1;
    o->tr.beta1 = json_is_number(x = json_object_get(j, "beta1")) ? json_number_value(x) : 0.9;
    o->tr.beta2 = json_is_number(x = json_object_get(j, "beta2")) ? json_number_value(x) : 0.999;
    o->tr.min_lr = json_is_number(x = json_object_get(j, "min_lr")) ? json_number_value(x) : 0.1 * o->tr.lr;
    o->tr.decay_groups = json_is_string(x = json_object_get(j, "decay_groups")) && !strcmp(json_string_value(x), "official");
    o->tr.init_embed_std = json_is_number(x = json_object_get(j, "init_embed_std")) ? json_number_value(x) : 0.02;
    o->labels = json_string_value(json_object_get(j, "labels"));
    if (!(o->tr.beta1 >= 0 && o->tr.beta1 < 1 && o->tr.beta2 >= 0 && o->tr.beta2 < 1 && o->tr.min_lr >= 0 &&
          o->tr.init_embed_std > 0))
        return ds_err(DS_EFORMAT, "%s: beta1, beta2, min_lr or init_embed_std out of range (edited by hand?)", p);
    o->out = dir;
    return o->layout < 0 || o->tr.norm < 0 ? ds_err(DS_EFORMAT, "%s: bad layout or norm", p) : 0;
}

/* --resume --epochs N: the run's new total, in config.json. */
static int extend(finetune *f, int L)
{
    finetune_opts *o = f->o;
    if (!f->new_epochs || f->new_epochs == o->tr.epochs) return 0;
    if (f->new_epochs < f->start_epoch)
        return ds_err(DS_EINVAL, "--epochs %ld: the run is already at epoch %ld", f->new_epochs, f->start_epoch);
    ds_run_extend_note(o->co.cmd, "epoch", o->tr.epochs, f->new_epochs, o->tr.schedule, o->co.quiet);
    o->tr.epochs = f->new_epochs;
    return write_config(f, L);
}

static int setup(finetune *f, int resuming)
{
    finetune_opts *o = f->o;
    snprintf(f->dir, sizeof f->dir, "%s", o->out);
    snprintf(f->best, sizeof f->best, "%s/best.safetensors", o->out);
    snprintf(f->last, sizeof f->last, "%s/last.safetensors", o->out);
    snprintf(f->state, sizeof f->state, "%s/state.safetensors", o->out);
    snprintf(f->logp, sizeof f->logp, "%s/log.jsonl", o->out);
    int restarted, e = 0;
    f->saved_epoch = -1;
    if (resuming) ds_rundir_sweep_temps(o->out);
    else if (ds_dist_root() && (e = ds_rundir_claim(o->out, &f->created, &restarted))) return e;
    else f->claimed = ds_dist_root();   /* rank 0 owns the run directory */
    ds_gb_labels map = { 0 };
    e = o->labels ? ds_gb_labels_parse(&map, o->labels) : 0;
    if (!e) e = ds_gb_read_labels(&f->data, o->data, "train", o->layout, o->ref, NULL, 0, &map);
    ds_gb_labels_free(&map);
    if (!e) ds_gb_warn(o->co.cmd, &f->data);
    if (!e) e = split_train(f);
    ds_model *m = NULL;
    if (!e) e = build_encoder(f, &m);
    if (e) { ds_model_free(m); return e; }
    if (!resuming && !(o->tr.set & DS_SET_LR) && !strcmp(m->vt->arch, "caduceus")) o->tr.lr = CADUCEUS_GB_LR;
    int L = (int)(o->max_length ? o->max_length : o->tr.seq_len);   /* --seq-len is the same thing */
    if (!L) L = ds_gb_default_max_length(o->data);
    if (!L) for (long i = 0; i < f->data.n; i++) if (f->data.r[i].len > L) L = (int)f->data.r[i].len;
    if (L > m->max_len) {
        if (o->max_length) {
            int max = m->max_len;   /* read before the free */
            ds_model_free(m);
            return ds_err(DS_EINVAL, "--max-length %d exceeds the model's %d tokens", L, max);
        }
        L = m->max_len;
    }
    e = ds_classifier_new(&f->clf, m, f->data.classes, f->data.nclass, L, o->labels, (uint64_t)o->co.seed);
    if (e) { if (!f->clf.m) ds_model_free(m); return e; }
    ds_model_set_decay_groups(f->clf.m, o->tr.decay_groups);
    ds_adamw_cfg ac = DS_ADAMW_DEFAULTS;
    ac.weight_decay = (float)o->tr.weight_decay;
    ac.beta1 = (float)o->tr.beta1;
    ac.beta2 = (float)o->tr.beta2;
    e = ds_adamw_init(&f->opt_enc, &f->clf.m->params, ac);
    if (!e) e = ds_adamw_init(&f->opt_head, &f->clf.head.params, ac);
    long G = o->tr.batch_size * ds_dist_size();   /* the global batch */
    if (!e && o->tr.warmup < 0) o->tr.warmup = ((f->ntrain + G - 1) / G) * o->tr.epochs / 100;
    f->best_correct = -1;
    if (!e) e = resuming ? load_state(f) : write_config(f, L);
    if (!e && resuming) e = extend(f, L);
    /* epochs logged after the last save are run again: log them once (a
     * state saved by Ctrl-C mid-epoch keeps that epoch's steps so far) */
    long per_epoch = (f->ntrain + G - 1) / G;
    if (!e && resuming && ds_dist_root())
        e = ds_log_rewind(f->logp, f->start_step, f->start_epoch + (f->start_step > f->start_epoch * per_epoch));
    if (!e && resuming) ds_resume_check_threads(o->co.cmd, o->threads_saved, o->co.quiet);
    if (!e && resuming) ds_resume_check_ranks(o->co.cmd, o->ranks_saved, "step", o->co.quiet);
    if (!e && !resuming && ds_dist_root()) e = write_val_ids(f);
    if (!e) e = ds_log_pair_open(&f->logs, f->logp, o->co.log_path);
    if (!e && !o->co.quiet)
        fprintf(stderr, "[M::finetune] %s: %ld train / %ld validation sequences, %d classes, max length %d (%s layout)%s%s\n",
                o->data, f->ntrain, f->nval, f->data.nclass, L, ds_gb_layout_name(f->data.layout),
                ds_classifier_conjoins(&f->clf) ? ", Caduceus-Ph: RC-augmented training, conjoined validation" : "",
                resuming ? ", resuming" : "");
    return e;
}

/* --task ctc, or --resume of a run whose config.json says task "ctc". */
static int is_ctc_run(int argc, char **argv)
{
    const char *v = ds_arg_value(argc, argv, "--task");
    if (v) return !strcmp(v, "ctc");
    if (!(v = ds_arg_value(argc, argv, "--resume"))) return 0;
    char path[1100];
    snprintf(path, sizeof path, "%s/config.json", v);
    json_t *o = json_load_file(path, 0, NULL);
    const char *t = json_string_value(json_object_get(json_object_get(o, "train"), "task"));
    int ctc = t && !strcmp(t, "ctc");
    json_decref(o);
    return ctc;
}

int main_finetune(int argc, char **argv)
{
    if (is_ctc_run(argc, argv)) return main_finetune_ctc(argc, argv);
    double t0 = ds_realtime();
    finetune_opts o;
    defaults(&o);
    if (argc < 2) { usage(stderr, &o); return 2; }
    int rc = parse(&o, argc, argv);
    if (rc) return rc;
    if (o.co.help) { usage(stdout, &o); return 0; }
    if ((rc = check_required(&o, argc - optind))) return rc;
    if ((rc = check_outputs(&o, argc - optind, argv + optind))) return rc;
    ds_threads_set(o.co.threads);
    if (!ds_dist_root()) o.co.quiet = 1;   /* rank 0 reports for the job */
    if (!o.tr.resume && ds_check_inputs(o.co.cmd, argv + optind, 1)) return 1;
    finetune f = { .o = &o, .new_epochs = o.tr.resume && o.tr.epochs_set ? o.tr.epochs : 0 };
    json_t *saved = NULL;
    int resuming = o.tr.resume != NULL, e = 0;
    if (resuming) {
        long stop = o.stop_at;
        int quiet = o.co.quiet;
        e = read_config(&o, o.tr.resume, &saved);
        o.stop_at = stop;
        o.co.quiet = quiet;
    } else {
        o.data = argv[optind];
    }
    if (!e) e = setup(&f, resuming);
    /* every rank goes on, or none */
    int setup_failed = ds_dp_setup_failed(o.co.cmd, e);
    if (setup_failed) e = DS_EINVAL;
    else if ((e = train(&f))) ds_dp_loop_failed(o.co.cmd, f.collective);
    else if (f.interrupted) rc = ds_run_report_interrupted(o.co.cmd, "step", f.interrupted, o.out);
    ds_log_pair_close(&f.logs);
    /* a new run that never saved leaves nothing behind to block a rerun */
    if (e && !resuming && f.claimed && f.saved_epoch < 0) ds_rundir_abandon(o.out, f.created);
    ds_adamw_free(&f.opt_enc);
    ds_adamw_free(&f.opt_head);
    ds_classifier_free(&f.clf);
    free(f.val);
    free(f.train0);
    ds_gb_free(&f.data);
    json_decref(saved);
    if (e) return 1;
    if (f.interrupted) return rc;
    if (!o.co.quiet) ds_resource_line(t0);
    return 0;
}
