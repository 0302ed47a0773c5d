/* derfseq finetune: GenomicBenchmarks sequence classification — a mean-pool
 * + Linear head over a pretrained (or fresh) encoder, trained end to end with
 * a seeded validation split and early stopping (genomic_benchmarks.md
 * §4.4-4.7, derfseq.md "Command line"). Speech CTC is not built yet. */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmd/cmd.h"
#include "cmd/opts.h"
#include "cmd/gbtask.h"
#include "core/error.h"
#include "core/log.h"
#include "core/progress.h"
#include "core/rng.h"
#include "core/threads.h"
#include "io/outfile.h"
#include "nn/norm.h"
#include "nn/optim.h"
#include "presets.h"

enum { OPT_LAYOUT = 1300, OPT_MAX_LENGTH, OPT_VAL_FRACTION, OPT_PATIENCE };

static const char *const TASKS[] = { "cls", "ctc", "gb", NULL };

typedef struct {
    ds_common_opts co;
    ds_train_opts tr;
    const char *from, *model, *ref, *out;
    int task;                 /* index into TASKS, -1 before --task */
    int layout;               /* DS_GB_* */
    long max_length, patience;
    double val_fraction;
} finetune_opts;

static const struct option LONGOPTS[] = {
    { "from", required_argument, NULL, OPT_FROM },
    { "task", required_argument, NULL, OPT_TASK },
    { "model", required_argument, NULL, OPT_MODEL },
    { "ref", required_argument, NULL, OPT_REF },
    { "layout", required_argument, NULL, OPT_LAYOUT },
    { "max-length", required_argument, NULL, OPT_MAX_LENGTH },
    { "val-fraction", required_argument, NULL, OPT_VAL_FRACTION },
    { "patience", required_argument, NULL, OPT_PATIENCE },
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
                "evaluate the test split with 'derfseq eval'.\n\n"
                "Task:\n");
    ds_usage_line(fp, "    --from CKPT", "pretrained checkpoint (safetensors)", "required, or --model");
    ds_usage_line(fp, "    --model PRESET", "train from scratch instead (with --norm)", "none");
    ds_usage_line(fp, "    --task TASK", "gb|cls (sequence classification); ctc is not built yet", "required");
    ds_usage_line(fp, "    --ref FASTA", "reference for coordinate-layout datasets", "none");
    ds_usage_line(fp, "    --layout NAME", "auto|tree|coords|table", "auto");
    ds_usage_line(fp, "    --max-length N", "tokens per sequence", "the dataset's recipe value, else the longest");
    ds_usage_line(fp, "    --val-fraction X", "share of train held out for validation", "0.1");
    ds_usage_line(fp, "    --patience N", "stop after N epochs without a better validation accuracy", "3");
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
    while ((c = getopt_long(argc, argv, ":t:o:h", LONGOPTS, NULL)) != -1) {
        if ((r = ds_opts_common(&o->co, c, optarg)) == 0) r = ds_opts_train(&o->co, &o->tr, c, optarg);
        if (r < 0) return 2;
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
        case OPT_MAX_LENGTH: if (ds_parse_long(&o->co, "max-length", optarg, 1, &o->max_length)) return 2; break;
        case OPT_PATIENCE: if (ds_parse_long(&o->co, "patience", optarg, 1, &o->patience)) return 2; break;
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
    if (o->tr.resume) return ds_usage_error(cmd, "--resume is not built for finetune yet; start the run again");
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

/* ---- the run --------------------------------------------------------- */

typedef struct {
    finetune_opts *o;
    ds_gb_split data;
    long *train, *val;
    long ntrain, nval;
    ds_classifier clf;
    ds_adamw opt_enc, opt_head;
    ds_schedule sched;
    ds_log *log, *user_log;
    char dir[1024], best[1100], last[1100], logp[1100];
} finetune;

static int build_encoder(finetune *f, ds_model **m)
{
    if (f->o->from) return ds_model_load(m, f->o->from);
    char *json = NULL;
    int e = ds_preset_config_json(f->o->model, ds_norm_ops_get((ds_norm_kind)f->o->tr.norm)->name,
                                  (float)f->o->tr.alpha_init, &json);
    if (!e) e = ds_model_from_json(m, json);
    free(json);
    if (!e) e = (*m)->vt->init_weights(*m, (uint64_t)f->o->co.seed);
    return e;
}

/* A seeded shuffle of train, the first val_fraction of it held out. */
static int split_train(finetune *f)
{
    long n = f->data.n;
    long *idx = malloc(sizeof *idx * (size_t)n);
    if (!idx) return ds_err(DS_ENOMEM, "out of memory");
    for (long i = 0; i < n; i++) idx[i] = i;
    ds_rng r;
    ds_rng_init(&r, (uint64_t)f->o->co.seed, 0x56414c00ull);   /* "VAL" */
    for (long i = n - 1; i > 0; i--) {
        long j = (long)ds_rng_below(&r, (uint64_t)i + 1), t = idx[i];
        idx[i] = idx[j];
        idx[j] = t;
    }
    f->nval = (long)(n * f->o->val_fraction);
    if (f->o->val_fraction > 0 && f->nval == 0) f->nval = 1;
    f->val = idx;
    f->train = idx + f->nval;
    f->ntrain = n - f->nval;
    return f->ntrain > 0 ? 0 : ds_err(DS_EINVAL, "the train split has too few sequences (%ld)", n);
}

static double accuracy(finetune *f, const long *idx, long n, int B)
{
    ds_gb_split view = f->data;   /* records of idx only, in that order */
    ds_gb_record *r = malloc(sizeof *r * (size_t)n);
    int *pred = malloc(sizeof *pred * (size_t)n);
    double acc = NAN;
    if (r && pred) {
        for (long i = 0; i < n; i++) r[i] = f->data.r[idx[i]];
        view.r = r;
        view.n = n;
        if (!ds_classifier_predict(&f->clf, &view, B, pred, NULL)) {
            long ok = 0;
            for (long i = 0; i < n; i++) ok += pred[i] == r[i].label;
            acc = (double)ok / (double)n;
        }
    }
    free(r);
    free(pred);
    return acc;
}

static void log_json(finetune *f, json_t *j)
{
    ds_log_write(f->log, j);
    if (f->user_log) ds_log_write(f->user_log, j);
    json_decref(j);
}

static int train(finetune *f)
{
    const ds_train_opts *tr = &f->o->tr;
    int B = (int)tr->batch_size, L = f->clf.max_length;
    long per_epoch = (f->ntrain + B - 1) / B, total = per_epoch * tr->epochs;
    f->sched = (ds_schedule){ (ds_sched_kind)tr->schedule, (float)tr->lr, (float)(0.1 * tr->lr),
                              tr->warmup >= 0 ? tr->warmup : total / 100, total };
    int32_t *ids = malloc(sizeof(int32_t) * (size_t)B * L), *lab = malloc(sizeof(int32_t) * (size_t)B);
    int e = ids && lab ? 0 : ds_err(DS_ENOMEM, "out of memory");
    if (!e) e = f->clf.m->vt->reserve(f->clf.m, B, L);
    if (!e) e = ds_cls_head_reserve(&f->clf.head, B, L);
    ds_progress pg;
    ds_progress_init(&pg, "finetune", total, "seq/s", per_epoch, f->o->co.quiet);
    double best = -1, t0 = ds_realtime();
    long step = 0, stale = 0;
    for (long ep = 0; !e && ep < tr->epochs && stale < f->o->patience; ep++) {
        ds_rng r;   /* the epoch's order depends only on (seed, epoch) */
        ds_rng_init(&r, (uint64_t)f->o->co.seed, 0x45504f4300000000ull ^ (uint64_t)ep);
        for (long i = f->ntrain - 1; i > 0; i--) {
            long j = (long)ds_rng_below(&r, (uint64_t)i + 1), t = f->train[i];
            f->train[i] = f->train[j];
            f->train[j] = t;
        }
        for (long i0 = 0; !e && i0 < f->ntrain; i0 += B, step++) {
            int n = (int)(f->ntrain - i0 < B ? f->ntrain - i0 : B);
            ds_gb_batch(&f->data, f->train + i0, n, B, L, ids, lab);
            ds_params_zero_grad(&f->clf.m->params);
            ds_params_zero_grad(&f->clf.head.params);
            e = f->clf.m->vt->encode(f->clf.m, ids, B, L, 1, (uint64_t)f->o->co.seed, (uint64_t)step);
            if (e) break;
            float loss = ds_cls_head_forward(&f->clf.head, f->clf.m, lab);
            ds_cls_head_backward(&f->clf.head, f->clf.m, 1.0f);
            /* one global norm over encoder and head, as clip_grad_norm_ over all parameters */
            float g1 = ds_grad_clip(&f->clf.m->params, 0), g2 = ds_grad_clip(&f->clf.head.params, 0);
            float gn = sqrtf(g1 * g1 + g2 * g2);
            if (tr->grad_clip > 0 && gn > tr->grad_clip) {
                float sc = (float)tr->grad_clip / (gn + 1e-6f);
                for (size_t k = 0; k < f->clf.m->params.total; k++) f->clf.m->params.grad[k] *= sc;
                for (size_t k = 0; k < f->clf.head.params.total; k++) f->clf.head.params.grad[k] *= sc;
            }
            float lr = ds_schedule_lr(&f->sched, step);
            ds_adamw_step(&f->opt_enc, &f->clf.m->params, lr);
            ds_adamw_step(&f->opt_head, &f->clf.head.params, lr);
            ds_progress_update(&pg, step + 1, loss, (double)(i0 + n) + (double)ep * f->ntrain);
            log_json(f, json_pack("{s:I, s:I, s:f, s:f, s:f, s:f}", "step", (json_int_t)step + 1, "epoch",
                                  (json_int_t)ep + 1, "loss", (double)loss, "lr", (double)lr, "grad_norm", (double)gn,
                                  "wall_s", ds_realtime() - t0));
        }
        if (e) break;
        double acc = f->nval ? accuracy(f, f->val, f->nval, B) : accuracy(f, f->train, f->ntrain, B);
        ds_progress_finish(&pg);
        if (isnan(acc)) { e = -1; break; }
        log_json(f, json_pack("{s:I, s:f, s:I}", "epoch", (json_int_t)ep + 1, "val_accuracy", acc, "val_n",
                              (json_int_t)(f->nval ? f->nval : f->ntrain)));
        if (!f->o->co.quiet) fprintf(stderr, "[M::finetune] epoch %ld: validation accuracy %.4f\n", ep + 1, acc);
        if (acc > best) {
            best = acc;
            stale = 0;
            char v[32];
            snprintf(v, sizeof v, "%.6f", acc);
            e = ds_classifier_save(&f->clf, f->best, "derfseq.val_accuracy", v);
        } else stale++;
        /* the encode/head buffers were resized for prediction batches; size them back */
        if (!e) e = f->clf.m->vt->reserve(f->clf.m, B, L);
        if (!e) e = ds_cls_head_reserve(&f->clf.head, B, L);
    }
    if (!e) e = ds_classifier_save(&f->clf, f->last, NULL, NULL);
    free(ids);
    free(lab);
    return e;
}

static int setup(finetune *f, char **data)
{
    finetune_opts *o = f->o;
    snprintf(f->dir, sizeof f->dir, "%s", o->out);
    snprintf(f->best, sizeof f->best, "%s/best.safetensors", o->out);
    snprintf(f->last, sizeof f->last, "%s/last.safetensors", o->out);
    snprintf(f->logp, sizeof f->logp, "%s/log.jsonl", o->out);
    if (mkdir(o->out, 0755) && errno != EEXIST) return ds_err_errno(DS_EIO, "%s: cannot create the run directory", o->out);
    if (!access(f->last, F_OK) || !access(f->best, F_OK))
        return ds_err(DS_EINVAL, "%s: already holds a fine-tuning run; choose another -o", o->out);
    int e = ds_gb_read(&f->data, data[0], "train", o->layout, o->ref, NULL, 0);
    if (!e) e = split_train(f);
    ds_model *m = NULL;
    if (!e) e = build_encoder(f, &m);
    if (e) { ds_model_free(m); return e; }
    int L = (int)(o->max_length ? o->max_length : o->tr.seq_len);   /* --seq-len is the same thing */
    if (!L) L = ds_gb_default_max_length(data[0]);
    if (!L) for (long i = 0; i < f->data.n; i++) if (f->data.r[i].len > L) L = (int)f->data.r[i].len;
    if (L > m->max_len) {
        if (o->max_length) { ds_model_free(m); return ds_err(DS_EINVAL, "--max-length %d exceeds the model's %d tokens", L, m->max_len); }
        L = m->max_len;
    }
    e = ds_classifier_new(&f->clf, m, f->data.classes, f->data.nclass, L, (uint64_t)o->co.seed);
    if (e) { ds_model_free(m); f->clf.m = NULL; return e; }
    ds_adamw_cfg ac = DS_ADAMW_DEFAULTS;
    ac.weight_decay = (float)o->tr.weight_decay;
    if (!e) e = ds_adamw_init(&f->opt_enc, &f->clf.m->params, ac);
    if (!e) e = ds_adamw_init(&f->opt_head, &f->clf.head.params, ac);
    char *cfgtext = NULL;
    if (!e) {
        json_t *j = json_pack("{s:s, s:s, s:s, s:I, s:f, s:I}", "data", data[0], "layout",
                              ds_gb_layout_name(f->data.layout), "from", o->from ? o->from : o->model, "max_length",
                              (json_int_t)L, "val_fraction", o->val_fraction, "seed", (json_int_t)o->co.seed);
        cfgtext = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        json_decref(j);
        char p[1100];
        snprintf(p, sizeof p, "%s/config.json", o->out);
        e = cfgtext ? ds_write_file_atomic(p, cfgtext, strlen(cfgtext)) : ds_err(DS_ENOMEM, "out of memory");
    }
    free(cfgtext);
    if (!e && !(f->log = ds_log_open(f->logp))) e = ds_err_errno(DS_EIO, "%s: cannot open", f->logp);
    if (!e && o->co.log_path && !(f->user_log = ds_log_open(o->co.log_path))) e = ds_err_errno(DS_EIO, "%s: cannot open", o->co.log_path);
    if (!e && !o->co.quiet)
        fprintf(stderr, "[M::finetune] %s: %ld train / %ld validation sequences, %d classes, max length %d (%s layout)\n",
                data[0], f->ntrain, f->nval, f->data.nclass, L, ds_gb_layout_name(f->data.layout));
    return e;
}

int main_finetune(int argc, char **argv)
{
    double t0 = ds_realtime();
    finetune_opts o;
    defaults(&o);
    if (argc < 2) { usage(stderr, &o); return 2; }
    int rc = parse(&o, argc, argv);
    if (rc) return rc;
    if (o.co.help) { usage(stdout, &o); return 0; }
    if ((rc = check_required(&o, argc - optind))) return rc;
    ds_threads_set(o.co.threads);
    if (ds_check_inputs(o.co.cmd, argv + optind, 1)) return 1;
    if (!strcmp(TASKS[o.task], "ctc")) {
        char *name = NULL;
        if (o.from && ds_from_model_name(o.co.cmd, o.from, &name)) return 1;
        rc = ds_not_built(o.co.cmd, name ? name : "ctc");
        free(name);
        return rc;
    }
    finetune f = { .o = &o };
    int e = setup(&f, argv + optind);
    if (!e) e = train(&f);
    if (e) ds_cmd_error(o.co.cmd, "%s", ds_errmsg());
    ds_log_close(f.log);
    ds_log_close(f.user_log);
    ds_adamw_free(&f.opt_enc);
    ds_adamw_free(&f.opt_head);
    ds_classifier_free(&f.clf);
    free(f.val);
    ds_gb_free(&f.data);
    if (e) return 1;
    if (!o.co.quiet) ds_resource_line(t0);
    return 0;
}
