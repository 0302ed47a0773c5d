/* derfseq pretrain: next-token LM pretraining of a DNA encoder on windows of a
 * reference genome (derfseq.md "Command line", hyenadna.md §1.5, §1.8), with a
 * run directory that --resume continues exactly. */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmd/cmd.h"
#include "cmd/dp.h"
#include "cmd/lm.h"
#include "cmd/opts.h"
#include "cmd/rundir.h"
#include "core/dist.h"
#include "core/error.h"
#include "core/log.h"
#include "core/progress.h"
#include "core/threads.h"
#include "io/checkpoint.h"
#include "io/fasta.h"
#include "io/trainstate.h"
#include "nn/norm.h"
#include "nn/optim.h"
#include "presets.h"

enum { OPT_MAX_N = 1000, OPT_STOP_AT, OPT_EVAL_WINDOWS, OPT_RECIPE, OPT_INIT_FROM, OPT_EVAL_TRAIN };

typedef struct {
    ds_common_opts co;
    ds_train_opts tr;
    const char *model, *config, *ref, *regions, *contigs, *out;
    long max_n, stop_at, eval_windows;
    int prenorm, eval_train;
    const char *resume_ignored;   /* an option given with --resume that it would not apply */
    int recipe;                   /* 0 derfseq, 1 official */
    const char *init_from;        /* start from these weights */
    double warmup_frac;           /* --warmup's default share of the steps */
} pretrain_opts;

static const struct option LONGOPTS[] = {
    { "model", required_argument, NULL, OPT_MODEL },
    { "config", required_argument, NULL, OPT_CONFIG },
    { "prenorm", no_argument, NULL, OPT_PRENORM },
    { "ref", required_argument, NULL, OPT_REF },
    { "regions", required_argument, NULL, OPT_REGIONS },
    { "contigs", required_argument, NULL, OPT_CONTIGS },
    { "max-n", required_argument, NULL, OPT_MAX_N },
    { "eval-windows", required_argument, NULL, OPT_EVAL_WINDOWS },
    { "stop-at", required_argument, NULL, OPT_STOP_AT },
    { "recipe", required_argument, NULL, OPT_RECIPE },
    { "init-from", required_argument, NULL, OPT_INIT_FROM },
    { "eval-train", no_argument, NULL, OPT_EVAL_TRAIN },
    { "output", required_argument, NULL, 'o' },
    DS_LONGOPTS_NORM,
    DS_LONGOPTS_TRAIN,
    DS_LONGOPT_THREADS, DS_LONGOPT_SEED, DS_LONGOPT_LOG, DS_LONGOPT_QUIET, DS_LONGOPT_HELP,
    { NULL, 0, NULL, 0 },
};

static void list_preset(const char *name, const char *about, void *fp)
{
    fprintf(fp, "      %-22s %s\n", name, about);
}

static void usage(FILE *fp, const pretrain_opts *o)
{
    fprintf(fp, "Usage: derfseq pretrain --model PRESET|--config FILE [options] GENOME.fa[.gz] -o RUN_DIR\n"
                "Usage: derfseq pretrain --resume RUN_DIR\n\n"
                "Pretrains a DNA encoder on random windows of a reference genome (FASTA, plain\n"
                "or bgzip; the .fai is built when missing): HyenaDNA as a next-token language\n"
                "model, Caduceus as a masked language model (the official recipe: 15%% of the\n"
                "positions, 80%% [MASK], 10%% a random token, 10%% kept). Lower-case bases are\n"
                "upper-cased; N becomes [PAD] and is left out of the loss. Speech: a wav2vec2\n"
                "preset pretrains on audio ('derfseq pretrain --model wav2vec2-tiny --help').\n\n"
                "Model:\n");
    ds_usage_line(fp, "    --model PRESET", "a preset (below)", "required, or --config");
    ds_usage_line(fp, "    --config FILE", "model config JSON instead of a preset", "none");
    ds_usage_norm(fp, &o->tr);
    ds_usage_line(fp, "    --prenorm", "wav2vec2: pre-LN blocks as in the paper's Derf run", "off: post-LN");
    ds_usage_line(fp, "    --init-from CKPT", "start from these weights instead of a fresh init", "none");
    ds_usage_line(fp, "    --recipe NAME", "derfseq|official: defaults of the training options below", "derfseq");
    fprintf(fp, "    official is the hg38 recipe: lr 6e-4 (Caduceus 8e-3), betas 0.9,0.95, weight decay 0.1\n"
                "    in the official groups, clip 1, timm-cosine from 1e-6 with 10%% warm-up to\n"
                "    --min-lr 1e-4, --init-embed-std 0.02; options given still win.\n");
    fprintf(fp, "    presets:\n");
    ds_preset_list(list_preset, fp);
    fprintf(fp, "\nData and output:\n");
    ds_usage_line(fp, "    --ref FASTA", "the genome (or give it as the argument)", "the argument");
    ds_usage_line(fp, "    --regions BED", "windows from these regions; 4th column train|valid|test", "all contigs");
    ds_usage_line(fp, "    --contigs LIST", "comma-separated contigs to draw windows from", "all");
    ds_usage_line(fp, "    --max-n N", "skip windows with more than N bases N", "seq-len/10");
    ds_usage_line(fp, "    --eval-windows N", "held-out windows per validation", "256");
    ds_usage_line(fp, "    --eval-train", "also score the first --eval-windows training windows, dropout off", "off");
    ds_usage_line(fp, "    --stop-at STEP", "save and stop after this step (time-sliced jobs)", "off");
    ds_usage_line(fp, "-o, --output RUN_DIR", "run directory: config, checkpoints, state, log", "required");
    fprintf(fp, "    Without a BED split column the last 5%% of every contig is held out for\n"
                "    validation and training windows never touch it.\n");
    fprintf(fp, "\nTraining:\n");
    ds_usage_train(fp, &o->tr);
    fprintf(fp, "\nGeneral:\n");
    ds_usage_common(fp, &o->co);
}

/* 0, or the exit status of a usage error. */
static int parse(pretrain_opts *o, int argc, char **argv)
{
    int c, r;
    while ((c = getopt_long(argc, argv, ":t:o:qh", LONGOPTS, NULL)) != -1) {
        if ((r = ds_opts_common(&o->co, c, optarg)) == 0) r = ds_opts_train(&o->co, &o->tr, c, optarg);
        if (r < 0) return 2;
        if (!o->resume_ignored) o->resume_ignored = ds_resume_ignores(LONGOPTS, c, OPT_STOP_AT);
        if (r > 0) continue;
        switch (c) {
        case OPT_MODEL: o->model = optarg; break;
        case OPT_CONFIG: o->config = optarg; break;
        case OPT_PRENORM: o->prenorm = 1; break;
        case OPT_REF: o->ref = optarg; break;
        case OPT_REGIONS: o->regions = optarg; break;
        case OPT_CONTIGS: o->contigs = optarg; break;
        case OPT_MAX_N: if (ds_parse_long(&o->co, "max-n", optarg, 0, &o->max_n)) return 2; break;
        case OPT_EVAL_WINDOWS: if (ds_parse_long(&o->co, "eval-windows", optarg, 1, &o->eval_windows)) return 2; break;
        case OPT_STOP_AT: if (ds_parse_long(&o->co, "stop-at", optarg, 1, &o->stop_at)) return 2; break;
        case OPT_RECIPE:
            if (strcmp(optarg, "derfseq") && strcmp(optarg, "official"))
                return ds_usage_error(o->co.cmd, "--recipe: expected derfseq or official, got '%s'", optarg);
            o->recipe = !strcmp(optarg, "official");
            break;
        case OPT_INIT_FROM: o->init_from = optarg; break;
        case OPT_EVAL_TRAIN: o->eval_train = 1; break;
        case 'o': o->out = optarg; break;
        default: return ds_opts_unknown(&o->co, c, argv);
        }
    }
    return ds_train_check(&o->co, &o->tr) ? 2 : 0;
}

static int check_required(pretrain_opts *o, int ndata, char **data)
{
    const char *cmd = o->co.cmd;
    if (o->tr.resume) {
        if (o->resume_ignored)
            return ds_resume_ignored_error(cmd, o->resume_ignored, o->tr.resume);
        if (o->tr.epochs_set) return ds_usage_error(cmd, "pretraining counts --steps, not --epochs");
        return ndata ? ds_usage_error(cmd, "--resume takes the genome and the rest from the run directory") : 0;
    }
    if (o->model && o->config) return ds_usage_error(cmd, "give --model or --config, not both");
    if (!o->model && !o->config) return ds_usage_error(cmd, "missing --model PRESET or --config FILE");
    if (!o->out) return ds_usage_error(cmd, "missing -o RUN_DIR");
    if (ndata > 1 || (ndata == 1 && o->ref)) return ds_usage_error(cmd, "give one genome FASTA");
    if (ndata == 1) o->ref = data[0];
    if (!o->ref) return ds_usage_error(cmd, "missing DATA: the genome FASTA (argument or --ref)");
    char *json = NULL;
    if (o->model && ds_preset_config_json(o->model, NULL, NAN, &json)) return ds_usage_error(cmd, "%s", ds_errmsg());
    free(json);
    if (o->tr.epochs_set) return ds_usage_error(cmd, "pretraining counts --steps, not --epochs");
    if (o->prenorm) return ds_usage_error(cmd, "--prenorm applies to wav2vec2 models");
    return 0;
}

/* --log and the files of -o RUN_DIR must not overwrite the genome (or its
 * index), --regions or --config; a resumed run's files are inputs too. */
static int check_outputs(const pretrain_opts *o)
{
    const char *in[4] = { o->ref, o->regions, o->config, o->init_from };
    return ds_check_run_outputs(o->co.cmd, o->co.log_path, o->out, o->tr.resume, in, 4);
}

/* ---- the run --------------------------------------------------------- */

typedef struct {
    pretrain_opts *o;
    ds_run run;
    ds_model *m;
    ds_lm_head head;
    ds_adamw opt;
    ds_schedule sched;
    ds_ref *ref;
    ds_regions bed;
    ds_windows train, valid;
    int have_valid;
    ds_lm_batch batch;
    ds_log_pair logs;
    double best;
    int created;         /* this run made its directory */
    long saved_step;     /* the step of the last state saved (by this process or before a resume); -1: none */
    int collective;      /* the error was met by every rank alike (a divergence): no abort */
    int sig;             /* a signal caught by any rank, agreed at the end of each step */
} pretrain;

static int open_data(pretrain *p)
{
    const ds_run_cfg *c = &p->run.cfg;
    int e = ds_ref_open(&p->ref, c->ref);
    if (!e && c->regions[0]) e = ds_bed_read(c->regions, &p->bed);
    if (e) return e;
    int split_col = 0;
    for (int i = 0; i < p->bed.n; i++) split_col |= p->bed.r[i].split != DS_SPLIT_NONE;
    const ds_regions *bed = c->regions[0] ? &p->bed : NULL;
    const char *contigs = c->contigs[0] ? c->contigs : NULL;
    int W = (int)c->seq_len + 1;
    e = ds_windows_init(&p->train, p->ref, bed, contigs, bed ? (split_col ? DS_SPLIT_TRAIN : DS_SPLIT_NONE) : DS_SPLIT_TRAIN,
                        W, (int)c->max_n, (uint64_t)c->seed);
    if (e) return e;
    if (!bed || split_col) {
        int vs = DS_SPLIT_VALID;
        e = ds_windows_init(&p->valid, p->ref, bed, contigs, vs, W, (int)c->max_n, (uint64_t)c->seed);
        p->have_valid = !e;
        ds_err_clear();
    }
    return 0;
}

static int build_model(pretrain *p, int resuming)
{
    int e = ds_model_from_json(&p->m, p->run.model_json);
    /* name the file the config came from: the run's, or --config's */
    if (e) return ds_err(e, "%s: %s", resuming || !p->o->config ? p->run.config_path : p->o->config, ds_errmsg());
    if (p->run.cfg.seq_len > ds_lm_max_seq(p->m))
        return ds_err(DS_EINVAL, "--seq-len %ld exceeds what %s accepts (%d tokens%s)", p->run.cfg.seq_len,
                      p->m->vt->arch, ds_lm_max_seq(p->m), p->m->vt->masked_lm ? "" : " incl. one for the target shift");
    if ((e = p->m->vt->reserve(p->m, (int)p->run.cfg.batch_size, (int)p->run.cfg.seq_len))) return e;
    if ((e = ds_lm_head_reserve(&p->head, p->m, (int)p->run.cfg.batch_size, (int)p->run.cfg.seq_len))) return e;
    /* masks from their own seed: not the windows' (seed, stream) pairs */
    if ((e = ds_lm_batch_init(&p->batch, p->m, (int)p->run.cfg.batch_size, (int)p->run.cfg.seq_len,
                              (uint64_t)p->run.cfg.seed ^ 0x4d41534b00000000ull)))
        return e;
    const ds_run_cfg *c = &p->run.cfg;
    ds_model_set_decay_groups(p->m, c->decay_groups);
    ds_adamw_cfg ac = DS_ADAMW_DEFAULTS;
    ac.weight_decay = (float)c->weight_decay;
    ac.beta1 = (float)c->beta1;
    ac.beta2 = (float)c->beta2;
    if ((e = ds_adamw_init(&p->opt, &p->m->params, ac))) return e;
    if (resuming) return 0;
    if ((e = p->m->vt->init_weights(p->m, (uint64_t)c->seed))) return e;
    /* exactly the model's tensors (a Derf checkpoint does not start a LayerNorm run) */
    if (c->init_from[0] && (e = ds_checkpoint_load(c->init_from, &p->m->params, 1)))
        return ds_err(e, "--init-from: %s", ds_errmsg());
    return 0;
}

static int save(pretrain *p, long step)
{
    int e = ds_run_save_step(&p->run, &p->m->params, &p->opt, step, p->train.draws);
    if (!e) p->saved_step = step;
    return e;
}

static int diverged(pretrain *p, long step, const char *what, double v, int tensor)
{
    p->collective = 1;   /* measured on values every rank shares */
    return ds_run_diverged_at_step(&p->run, step, p->saved_step, what, v, tensor >= 0 ? p->m->params.p[tensor].name : NULL);
}

static int validate(pretrain *p, long step, double *loss)
{
    ds_lm_eval_result r;
    int e = ds_lm_evaluate(p->m, &p->head, &p->valid, &p->batch, p->run.cfg.eval_windows, &r);
    if (e) return e;
    *loss = r.loss;
    if (!isfinite(r.loss)) return diverged(p, step, "the validation loss", r.loss, -1);
    json_t *j = json_pack("{s:I, s:o, s:o, s:o, s:o, s:I}", "step", (json_int_t)step, "val_loss", ds_json_real(r.loss),
                          "val_ppl", ds_json_real(exp(r.loss)), "val_bits_per_base", ds_json_real(r.loss / log(2.0)),
                          "val_accuracy", ds_json_real(r.accuracy), "val_tokens", (json_int_t)r.tokens);
    if (j && p->run.cfg.eval_train) {
        /* the paper's "training loss in evaluation mode": fixed training
         * windows (tiles, not the sampler's draws), dropout off */
        ds_lm_eval_result t;
        e = ds_lm_evaluate(p->m, &p->head, &p->train, &p->batch, p->run.cfg.eval_windows, &t);
        if (e) { json_decref(j); return e; }
        json_object_set_new(j, "train_eval_loss", ds_json_real(t.loss));
        json_object_set_new(j, "train_eval_bits_per_base", ds_json_real(t.loss / log(2.0)));
    }
    if ((e = ds_log_pair_write(&p->logs, j))) return e;
    if (!p->o->co.quiet)
        fprintf(stderr, "[M::pretrain] step %ld: validation loss %.4f nats/token, %.4f bits/base, %s accuracy %.4f "
                "(%ld tokens)\n", step, r.loss, r.loss / log(2.0), p->m->vt->masked_lm ? "masked-token" : "next-token",
                r.accuracy, r.tokens);
    ds_run_note_val(&p->run, step, r.loss);
    if (r.loss < p->best) {
        p->best = r.loss;
        return ds_run_save_best(&p->run, &p->m->params, step, r.loss);
    }
    return 0;
}

/* Predicted positions of a batch (not ignored): its share of the loss. */
static int64_t count_targets(const int32_t *tgt, long n)
{
    int64_t k = 0;
    for (long i = 0; i < n; i++) k += tgt[i] != DS_LM_IGNORE;
    return k;
}

/* One optimizer step: forward, backward, clipping and AdamW; a NaN or an
 * infinity in the loss or the gradients stops it before the update.
 *
 * Data parallel (R ranks, lib/core/dist.h): every micro-batch is a global
 * batch of R x B windows, windows [first, first + R·B) of the sampler's
 * stream, of which rank r reads its B; rank r's loss is weighted by its
 * share of the global batch's predicted tokens, so the summed gradient is
 * that of the mean over the global batch, as one process with R·B windows
 * would compute it (test/mpi.sh). Dropout masks come from each rank's own
 * stream. One process is the case R = 1. */
static int train_step(pretrain *p, long step, float *loss_out, double *gnorm)
{
    const ds_run_cfg *c = &p->run.cfg;
    int R = ds_dist_size(), rank = ds_dist_rank();
    ds_params_zero_grad(&p->m->params);
    double loss = 0;
    for (long a = 0; a < c->accum; a++) {
        uint64_t first = p->train.draws;
        p->train.draws = first + (uint64_t)rank * (uint64_t)p->batch.B;
        int e = ds_lm_batch_draw(&p->batch, &p->train);
        p->train.draws = first + (uint64_t)R * (uint64_t)p->batch.B;
        if (e) return e;
        int64_t n = count_targets(p->batch.tgt, (long)p->batch.B * p->batch.L), total = n;
        ds_dist_sum_i64(&total, 1);
        uint64_t micro = (uint64_t)(step * c->accum + a);
        e = p->m->vt->encode(p->m, p->batch.inp, p->batch.B, p->batch.L, 1, (uint64_t)c->seed,
                             micro * (uint64_t)R + (uint64_t)rank);
        if (e) return e;
        if (!n) continue;   /* nothing to predict here (every token N): no loss, no gradient */
        double w = (double)n / (double)total;
        loss += ds_lm_head_loss(&p->head, p->m, p->batch.tgt, DS_LM_IGNORE) * w / (double)c->accum;
        ds_lm_head_backward(&p->head, p->m, (float)(w / (double)c->accum));
    }
    ds_dist_sum_grad(&p->m->params);
    /* the global loss, and a Ctrl-C or SIGTERM seen by any rank: every rank stops after the same step */
    double agree[2] = { loss, ds_run_interrupted() ? 1.0 : 0.0 };
    ds_dist_sum_f64(agree, 2);
    p->sig = agree[1] > 0;
    *loss_out = (float)agree[0];
    if (!isfinite(*loss_out)) return diverged(p, step + 1, "the training loss", *loss_out, -1);
    *gnorm = ds_grad_clip(&p->m->params, (float)c->grad_clip);
    if (!isfinite(*gnorm))
        return diverged(p, step + 1, "the gradient norm", *gnorm, ds_params_find_nonfinite(&p->m->params, 1));
    ds_adamw_step(&p->opt, &p->m->params, ds_schedule_lr(&p->sched, step));
    return 0;
}

static int log_step(pretrain *p, long step, float loss, double gnorm, double tok_s, double t0)
{
    json_t *j = json_pack("{s:I, s:o, s:o, s:o, s:o, s:o}", "step", (json_int_t)step, "loss", ds_json_real(loss), "lr",
                          ds_json_real(ds_schedule_lr(&p->sched, step - 1)), "grad_norm", ds_json_real(gnorm),
                          "tokens_per_s", ds_json_real(tok_s), "wall_s", ds_json_real(ds_realtime() - t0));
    /* data parallel: rank 0's seconds in the gradient sum so far */
    if (j && ds_dist_size() > 1) json_object_set_new(j, "allreduce_s", ds_json_real(ds_dist_comm_seconds()));
    return ds_log_pair_write(&p->logs, j);
}

/* The steps from start to --steps (or --stop-at); Ctrl-C or SIGTERM saves
 * the state after the step in progress and stops: *interrupted is then
 * the step saved, else 0. */
static int run_loop(pretrain *p, long start, long *interrupted)
{
    const ds_run_cfg *c = &p->run.cfg;
    long end = c->steps;
    if (p->o->stop_at && p->o->stop_at < end) end = p->o->stop_at;
    ds_progress pg;
    ds_progress_init(&pg, "pretrain", c->steps, "tok/s", c->eval_every ? c->eval_every : 100, p->o->co.quiet);
    double t0 = ds_realtime(), tokens = 0;
    int e = 0;
    *interrupted = 0;
    ds_run_catch_signals();
    for (long step = start; step < end && !e; step++) {
        double gnorm = 0;
        float loss = 0;
        if ((e = train_step(p, step, &loss, &gnorm))) break;
        tokens += (double)c->batch_size * c->seq_len * c->accum * ds_dist_size();
        ds_progress_update(&pg, step + 1, loss, tokens);
        e = log_step(p, step + 1, loss, gnorm, tokens / (ds_realtime() - t0), t0);
        if (!e && p->have_valid && c->eval_every && (step + 1) % c->eval_every == 0) {
            double vl;
            ds_progress_finish(&pg);
            e = validate(p, step + 1, &vl);
        }
        int sig = p->sig;
        if (!e && ((c->save_every && (step + 1) % c->save_every == 0) || step + 1 == end || sig)) e = save(p, step + 1);
        if (!e && sig) { *interrupted = step + 1; break; }
    }
    ds_progress_finish(&pg);
    if (!e && !*interrupted && end == c->steps && p->have_valid && (!c->eval_every || c->steps % c->eval_every)) {
        double vl;
        e = validate(p, c->steps, &vl);
    }
    return e;
}

/* The closing line and log record of a run that reached its end. */
static int summarize(pretrain *p)
{
    const ds_run_cfg *c = &p->run.cfg;
    long done = p->o->stop_at && p->o->stop_at < c->steps ? p->o->stop_at : c->steps;
    ds_run_summary s = { "step", done, c->steps, p->run.best_step, "val loss", "val_loss", p->run.best_loss,
                         " nats/token", p->run.best_path, p->run.last_path };
    return ds_run_summarize(p->o->co.cmd, &p->logs, &s, p->o->co.quiet);
}

static void cleanup(pretrain *p)
{
    ds_lm_batch_free(&p->batch);
    ds_windows_free(&p->train);
    ds_windows_free(&p->valid);
    ds_regions_free(&p->bed);
    ds_ref_close(p->ref);
    ds_adamw_free(&p->opt);
    ds_lm_head_free(&p->head);
    ds_model_free(p->m);
    ds_log_pair_close(&p->logs);
    ds_run_free(&p->run);
}

/* A new run's config: the model JSON (preset or file, norm applied) and the
 * data and training settings, all that --resume needs. */
static int new_run(pretrain *p)
{
    pretrain_opts *o = p->o;
    char *model_json = NULL;
    int e;
    if (o->model) e = ds_preset_config_json(o->model, ds_norm_ops_get((ds_norm_kind)o->tr.norm)->name,
                                            (float)o->tr.alpha_init, &model_json);
    else e = ds_run_read_model_config(o->config, ds_norm_ops_get((ds_norm_kind)o->tr.norm)->name,
                                      (float)o->tr.alpha_init, &model_json);
    if (!e) e = ds_config_set_role_alphas(&model_json, (float)o->tr.alpha_attn, (float)o->tr.alpha_ffn,
                                          (float)o->tr.alpha_final);
    if (!e) e = ds_config_set_real(&model_json, "init_embed_std", o->tr.init_embed_std);
    if (e) { free(model_json); return e; }
    ds_run_cfg c = {0};
    snprintf(c.recipe, sizeof c.recipe, "%s", o->recipe ? "official" : "derfseq");
    ds_run_abspath(c.init_from, sizeof c.init_from, o->init_from);
    c.beta1 = o->tr.beta1;
    c.beta2 = o->tr.beta2;
    c.min_lr = isnan(o->tr.min_lr) ? 0.1 * o->tr.lr : o->tr.min_lr;
    c.decay_groups = o->tr.decay_groups;
    ds_run_abspath(c.ref, sizeof c.ref, o->ref);
    ds_run_abspath(c.regions, sizeof c.regions, o->regions);
    snprintf(c.contigs, sizeof c.contigs, "%s", o->contigs ? o->contigs : "");
    c.seq_len = o->tr.seq_len;
    c.max_n = o->max_n >= 0 ? o->max_n : o->tr.seq_len / 10;
    c.eval_windows = o->eval_windows;
    c.eval_train = o->eval_train;
    c.steps = o->tr.steps;
    c.batch_size = o->tr.batch_size;
    c.accum = o->tr.accum;
    c.lr = o->tr.lr;
    c.warmup = o->tr.warmup >= 0 ? o->tr.warmup : (long)(o->warmup_frac * (double)o->tr.steps);
    c.schedule = o->tr.schedule;
    c.weight_decay = o->tr.weight_decay;
    c.grad_clip = o->tr.grad_clip;
    c.eval_every = o->tr.eval_every;
    c.save_every = o->tr.save_every;
    c.seed = o->co.seed;
    c.threads = ds_threads_get();
    c.ranks = ds_dist_size();
    e = ds_run_create(&p->run, o->out, model_json, &c, &p->created);
    free(model_json);
    return e;
}

/* The "arch" of a JSON file's model config (a --config file, or
 * root["model"] of a run's config.json); "" when unreadable: the DNA path
 * then reports the problem as it always has. */
static void file_arch(const char *path, int run, char *arch, size_t cap)
{
    json_t *o = json_load_file(path, 0, NULL);
    json_t *m = run ? json_object_get(o, "model") : o;
    const char *a = json_string_value(json_object_get(m, "arch"));
    snprintf(arch, cap, "%s", a ? a : "");
    json_decref(o);
}

/* A wav2vec2 preset, --config or resumed run is pretrain_speech.c's. */
static int is_speech_run(int argc, char **argv)
{
    const char *v;
    char arch[64] = "", path[1100];
    if ((v = ds_arg_value(argc, argv, "--model"))) return !strncmp(v, "wav2vec2", 8);
    if ((v = ds_arg_value(argc, argv, "--config"))) file_arch(v, 0, arch, sizeof arch);
    else if ((v = ds_arg_value(argc, argv, "--resume"))) {
        snprintf(path, sizeof path, "%s/config.json", v);
        file_arch(path, 1, arch, sizeof arch);
    }
    return !strcmp(arch, "wav2vec2");
}

int main_pretrain(int argc, char **argv)
{
    if (is_speech_run(argc, argv)) return main_pretrain_speech(argc, argv);
    double t0 = ds_realtime();
    pretrain_opts o = { 0 };
    o.max_n = -1;
    o.eval_windows = 256;
    ds_common_defaults(&o.co, "pretrain", DS_O_THREADS | DS_O_SEED | DS_O_LOG | DS_O_QUIET);
    ds_train_defaults(&o.tr);
    if (argc < 2) { usage(stderr, &o); return 2; }
    int rc = parse(&o, argc, argv);
    if (rc) return rc;
    if (o.co.help) { usage(stdout, &o); return 0; }
    if ((rc = check_required(&o, argc - optind, argv + optind))) return rc;
    if ((rc = check_outputs(&o))) return rc;
    if (!ds_dist_root()) o.co.quiet = 1;   /* rank 0 reports for the job */
    o.warmup_frac = 0.01;   /* derfseq: 1% of the steps */
    if (o.recipe) ds_train_recipe_official(&o.tr, &o.warmup_frac, o.model && !strncmp(o.model, "caduceus", 8));
    ds_threads_set(o.co.threads);
    pretrain p = { .o = &o, .best = INFINITY, .saved_step = -1 };
    int resuming = o.tr.resume != NULL;
    int e = resuming ? ds_run_open(&p.run, o.tr.resume) : new_run(&p);
    if (!e) e = open_data(&p);
    if (!e) e = build_model(&p, resuming);
    long start = 0;
    if (!e && resuming) {
        e = ds_run_resume_step(&p.run, &p.m->params, &p.opt, &start, &p.train.draws, o.co.cmd, o.co.quiet);
        p.saved_step = start;
        p.best = p.run.best_loss;
        if (!e) e = ds_run_extend_steps(&p.run, o.tr.steps_set ? o.tr.steps : 0, start, o.co.cmd, o.co.quiet);
    }
    if (!e) {
        const ds_run_cfg *c = &p.run.cfg;
        p.sched = (ds_schedule){ (ds_sched_kind)c->schedule, (float)c->lr, (float)c->min_lr, c->warmup, c->steps, 1e-6f };
        e = ds_log_pair_open(&p.logs, p.run.log_path, o.co.log_path);
    }
    /* every rank goes on, or none */
    int setup_failed = ds_dp_setup_failed(o.co.cmd, e);
    if (!setup_failed && !o.co.quiet) {
        char ranks[48] = "";
        if (ds_dist_size() > 1) snprintf(ranks, sizeof ranks, "%d ranks x ", ds_dist_size());
        fprintf(stderr, "[M::pretrain] %s, %zu parameters, %ld steps of %s%ld x %ld x %ld tokens on %s\n",
                p.m->vt->arch, ds_params_count(&p.m->params), p.run.cfg.steps, ranks, p.run.cfg.accum,
                p.run.cfg.batch_size, p.run.cfg.seq_len, p.run.cfg.ref);
    }
    long interrupted = 0;
    if (!setup_failed) e = run_loop(&p, start, &interrupted);
    if (!setup_failed && !e && !interrupted) e = summarize(&p);
    rc = setup_failed ? 1 : e ? ds_dp_loop_failed(o.co.cmd, p.collective)
       : interrupted ? ds_run_report_interrupted(o.co.cmd, "step", interrupted, p.run.dir) : 0;
    cleanup(&p);
    /* a new run that never saved leaves nothing behind to block a rerun */
    if (rc && !interrupted && !resuming && p.saved_step < 0 && p.run.claimed) ds_rundir_abandon(p.run.dir, p.created);
    if (!rc && !o.co.quiet) ds_resource_line(t0);
    return rc;
}
