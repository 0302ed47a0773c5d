/* derfseq pretrain on audio: wav2vec 2.0's contrastive pretraining
 * (wav2vec2.md §3.3-3.7, fairseq's Base recipe) on WAV/FLAC/OGG inputs,
 * with the run directory of DNA pretraining (config.json, state,
 * last/best checkpoints, log.jsonl) so --resume continues bitwise. pretrain.c
 * hands a run over here when its model is a wav2vec2. */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cmd.h"
#include "cmd/opts.h"
#include "cmd/rundir.h"
#include "cmd/speech.h"
#include "cmd/speech_train.h"
#include "core/error.h"
#include "core/log.h"
#include "core/progress.h"
#include "core/threads.h"
#include "core/dist.h"
#include "cmd/dp.h"
#include "io/audio.h"
#include "io/checkpoint.h"
#include "io/trainstate.h"
#include "nn/norm.h"
#include "nn/optim.h"
#include "presets.h"

enum { OPT_INIT_FROM = 1300 };

typedef struct {
    ds_common_opts co;
    ds_train_opts tr;
    const char *model, *config, *out, *init_from;
    ds_speech_opts sp;
    int prenorm;
    const char *resume_ignored;
} sp_opts;

static const struct option LONGOPTS[] = {
    { "model", required_argument, NULL, OPT_MODEL },
    { "config", required_argument, NULL, OPT_CONFIG },
    { "prenorm", no_argument, NULL, OPT_PRENORM },
    { "init-from", required_argument, NULL, OPT_INIT_FROM },
    DS_LONGOPTS_SPEECH,
    DS_LONGOPT_SPEECH_CROP,
    { "output", required_argument, NULL, 'o' },
    DS_LONGOPTS_NORM,
    DS_LONGOPTS_TRAIN,
    DS_LONGOPT_THREADS, DS_LONGOPT_SEED, DS_LONGOPT_LOG, DS_LONGOPT_QUIET, DS_LONGOPT_HELP,
    { NULL, 0, NULL, 0 },
};

static void usage(FILE *fp, const sp_opts *o)
{
    char b[2][32];
    fprintf(fp, "Usage: derfseq pretrain --model wav2vec2-PRESET|--config FILE [options] AUDIO... -o RUN_DIR\n"
                "Usage: derfseq pretrain --resume RUN_DIR\n\n"
                "Pretrains a wav2vec 2.0 encoder on speech (fairseq's recipe): spans of the 20 ms\n"
                "frames are masked (p 0.65, length 10), and the context at each masked frame must\n"
                "pick its Gumbel-quantized target among 100 negatives from the same utterance;\n"
                "plus the codebook diversity loss and the feature penalty. AUDIO is audio files\n"
                "(WAV, FLAC, OGG, MP3: mixed to mono, resampled to 16 kHz), directories (a\n"
                "LibriSpeech tree too) or fairseq manifests (.tsv). Batches hold up to\n"
                "--max-tokens samples of utterances of similar length, each cropped to the\n"
                "batch's shortest (at most --crop samples).\n\n"
                "Model:\n");
    ds_usage_line(fp, "    --model PRESET", "wav2vec2-base or wav2vec2-tiny", "required, or --config");
    ds_usage_line(fp, "    --config FILE", "model config JSON instead of a preset", "none");
    ds_usage_norm(fp, &o->tr);
    ds_usage_line(fp, "    --prenorm", "pre-LN encoder (do_stable_layer_norm), the paper's Derf run", "the preset's");
    ds_usage_line(fp, "    --init-from CKPT", "start from these weights instead of a fresh init", "none");
    fprintf(fp, "    --norm swaps the encoder LayerNorm and each layer's attention and FFN norms;\n"
                "    the conv GroupNorm and the feature LayerNorm stay (as in the paper).\n"
                "    wav2vec2-base defaults to LayerNorm post-LN (as published), wav2vec2-tiny\n"
                "    to Derf pre-LN; --norm and --prenorm change them.\n");
    fprintf(fp, "\nData and output:\n");
    snprintf(b[0], sizeof b[0], "%ld (%.1f s)", o->sp.crop, (double)o->sp.crop / DS_AUDIO_RATE);
    snprintf(b[1], sizeof b[1], "%ld (%.1f s)", o->sp.min_samples, (double)o->sp.min_samples / DS_AUDIO_RATE);
    ds_usage_speech(fp, &o->sp, "held-out audio scored every --eval-every (repeatable)", b[1]);
    ds_usage_line(fp, "    --crop N", "longest utterance crop (fairseq max_sample_size)", b[0]);
    ds_usage_line(fp, "-o, --output RUN_DIR", "run directory: config, checkpoints, state, log", "required");
    fprintf(fp, "\nTraining (fairseq Base: Adam betas 0.9,0.98, eps 1e-6, wd 0.01, lr 5e-4,\n"
                "8%% warm-up then linear decay to 0; --batch-size caps utterances per batch):\n");
    ds_usage_train(fp, &o->tr);
    fprintf(fp, "\nGeneral:\n");
    ds_usage_common(fp, &o->co);
}

static int parse(sp_opts *o, int argc, char **argv)
{
    int c, r;
    optind = 1;
    while ((c = getopt_long(argc, argv, ":t:o:qh", LONGOPTS, NULL)) != -1) {
        if ((r = ds_opts_common(&o->co, c, optarg)) == 0) r = ds_opts_train(&o->co, &o->tr, c, optarg);
        if (r == 0) r = ds_opts_speech(&o->co, &o->sp, c, optarg);
        if (r < 0) return 2;
        if (!o->resume_ignored) o->resume_ignored = ds_resume_ignores(LONGOPTS, c, DS_OPT_SPEECH_STOP_AT);
        if (r > 0) continue;
        switch (c) {
        case OPT_MODEL: o->model = optarg; break;
        case OPT_CONFIG: o->config = optarg; break;
        case OPT_PRENORM: o->prenorm = 1; break;
        case OPT_INIT_FROM: o->init_from = optarg; break;
        case 'o': o->out = optarg; break;
        default: return ds_opts_unknown(&o->co, c, argv);
        }
    }
    return ds_train_check(&o->co, &o->tr) ? 2 : 0;
}

static int check_required(sp_opts *o, int ndata, char **data)
{
    const char *cmd = o->co.cmd;
    if (o->tr.resume) {
        if (o->resume_ignored) return ds_resume_ignored_error(cmd, o->resume_ignored, o->tr.resume);
        if (o->tr.epochs_set) return ds_usage_error(cmd, "pretraining counts --steps, not --epochs");
        return ndata ? ds_usage_error(cmd, "--resume takes the audio and the rest from the run directory") : 0;
    }
    if (o->model && o->config) return ds_usage_error(cmd, "give --model or --config, not both");
    if (!o->out) return ds_usage_error(cmd, "missing -o RUN_DIR");
    if (!ndata) return ds_usage_error(cmd, "missing AUDIO: audio files, directories or manifests");
    for (int i = 0; i < ndata; i++)
        if (!strcmp(data[i], "-"))
            return ds_usage_error(cmd, "AUDIO '-': a run reads its inputs again on --resume; give files, directories "
                                  "or a manifest");
    if (o->tr.epochs_set) return ds_usage_error(cmd, "pretraining counts --steps, not --epochs");
    if (o->tr.seq_len != 1024) return ds_usage_error(cmd, "--seq-len applies to DNA; speech batches use --max-tokens and --crop");
    if (o->tr.set & DS_SET_EMBED_STD) return ds_usage_error(cmd, "--init-embed-std applies to DNA models (a token embedding)");
    if (o->sp.min_samples > o->sp.crop) return ds_usage_error(cmd, "--min-samples %ld exceeds --crop %ld", o->sp.min_samples, o->sp.crop);
    if (o->sp.max_tokens < o->sp.crop)
        return ds_usage_error(cmd, "--max-tokens %ld is less than one --crop (%ld samples)", o->sp.max_tokens, o->sp.crop);
    return 0;
}

/* ---- the run --------------------------------------------------------- */

typedef struct {
    sp_opts *o;
    ds_run run;
    ds_model *m;
    ds_adamw opt;
    ds_schedule sched;
    ds_speech_set train, valid;
    int have_valid;
    ds_speech_order order;
    ds_speech_batch batch;
    ds_w2v_draws draws;
    uint64_t ndraws;     /* batches drawn so far: the data position */
    ds_log_pair logs;
    double best;
    int created;
    long saved_step;
    int collective;      /* the error was met by every rank alike (a divergence) */
    int sig;             /* a signal caught by any rank, agreed at the end of each step */
} sp_run;

static int open_data(sp_run *p)
{
    ds_run_cfg *c = &p->run.cfg;
    int e = ds_speech_run_sets(c, p->o->sp.cache_mb, ds_w2v_min_samples(ds_w2v_cfg(p->m)) * 4, &p->train, &p->valid,
                               &p->have_valid);
    if (e) return e;
    if (!p->o->co.quiet)   /* pretraining needs no transcripts */
        ds_speech_run_report("pretrain", &p->train, c->min_samples, "", p->have_valid ? "; validation on --valid" : "");
    ds_speech_order_init(&p->order, c->max_tokens, c->crop, c->batch_size, (uint64_t)c->seed);
    return 0;
}

static int build_model(sp_run *p, int resuming)
{
    int e = ds_model_from_json(&p->m, p->run.model_json);
    if (e) return ds_err(e, "%s: %s", resuming || !p->o->config ? p->run.config_path : p->o->config, ds_errmsg());
    if (!ds_w2v_is(p->m)) return ds_err(DS_EINVAL, "%s: a %s model does not read audio", p->run.config_path, p->m->vt->arch);
    const ds_run_cfg *c = &p->run.cfg;
    ds_model_set_decay_groups(p->m, c->decay_groups);
    ds_adamw_cfg ac = DS_ADAMW_DEFAULTS;
    ac.weight_decay = (float)c->weight_decay;
    ac.beta1 = (float)c->beta1;
    ac.beta2 = (float)c->beta2;
    if (c->adam_eps > 0) ac.eps = (float)c->adam_eps;
    if ((e = ds_adamw_init(&p->opt, &p->m->params, ac))) return e;
    if (resuming) return 0;
    if ((e = p->m->vt->init_weights(p->m, (uint64_t)c->seed))) return e;
    if (c->init_from[0] && (e = ds_checkpoint_load(c->init_from, &p->m->params, 1)))
        return ds_err(e, "--init-from: %s", ds_errmsg());
    return 0;
}

/* Reserves the training layout for the largest batch of the plan. */
static int reserve_train(sp_run *p)
{
    long Bmax, Smax;
    ds_speech_order_extent(&p->order, &p->train, &Bmax, &Smax);
    p->m->eval_only = 0;
    return ds_w2v_reserve(p->m, (int)Bmax, Smax + 4096);   /* MP3 lengths are estimates until decoded */
}

/* The next batch of the data order (ds_speech_order: the draw count is the
 * position). With R MPI ranks, batches [ndraws, ndraws + R) are one update's,
 * rank r taking batch ndraws + r. */
static int next_batch(sp_run *p)
{
    const ds_run_cfg *c = &p->run.cfg;
    const long *idx;
    int n, made, e = ds_speech_order_ready(&p->order, &p->train, &made);
    if (!e && made) e = reserve_train(p);
    uint64_t k = p->ndraws + (uint64_t)ds_dist_rank();
    if (!e) e = ds_speech_order_at(&p->order, &p->train, k, &idx, &n);
    if (!e) e = ds_speech_batch_fill(&p->batch, &p->train, idx, n, c->crop, (uint64_t)c->seed, k);
    p->ndraws += (uint64_t)ds_dist_size();
    return e;
}

static int save(sp_run *p, long step)
{
    int e = ds_run_save_step(&p->run, &p->m->params, &p->opt, step, p->ndraws);
    if (!e) p->saved_step = step;
    return e;
}

static int diverged(sp_run *p, long step, const char *what, double v, int tensor)
{
    p->collective = 1;
    return ds_run_diverged_at_step(&p->run, step, p->saved_step, what, v, tensor >= 0 ? p->m->params.p[tensor].name : NULL);
}

static int validate(sp_run *p, long step)
{
    ds_speech_eval r;
    int e = ds_speech_evaluate(p->m, &p->valid, p->run.cfg.crop, (uint64_t)p->run.cfg.seed, &r);
    if (!e) e = reserve_train(p);
    if (e) return e;
    if (!isfinite(r.loss)) return diverged(p, step, "the validation loss", r.loss, -1);
    json_t *j = ds_speech_eval_json(&r, "val_");
    json_object_set_new(j, "step", json_integer(step));
    if ((e = ds_log_pair_write(&p->logs, j))) return e;
    if (!p->o->co.quiet)
        fprintf(stderr, "[M::pretrain] step %ld: validation loss %.4f (%.4f bits), contrastive %.4f, diversity %.4f, "
                "accuracy %.4f, code perplexity %.1f (%ld masked frames)\n", step, r.loss, r.loss / log(2.0),
                r.contrastive, r.diversity, r.accuracy, r.code_perplexity, r.masked);
    ds_run_note_val(&p->run, step, r.loss);
    if (r.loss < p->best) {
        p->best = r.loss;
        return ds_run_save_best(&p->run, &p->m->params, step, r.loss);
    }
    return 0;
}

typedef struct { double loss, contrastive, diversity, pen, ppl, code_ppl, acc, seconds; float tau; } step_out;

/* Data parallel (R ranks): each micro-batch is R batches of the data order,
 * one per rank; rank r's losses are weighted by its share of the masked
 * frames (fairseq's sample_size), so the summed gradient is that of the
 * union of the R batches. Masks and dropout: rank r's own streams. */
static int train_step(sp_run *p, long step, step_out *s, double *gnorm)
{
    const ds_run_cfg *c = &p->run.cfg;
    int R = ds_dist_size(), rank = ds_dist_rank();
    memset(s, 0, sizeof *s);
    ds_params_zero_grad(&p->m->params);
    s->tau = ds_w2v_tau(ds_w2v_cfg(p->m), step);
    for (long a = 0; a < c->accum; a++) {
        uint64_t k = (uint64_t)(step * c->accum + a) * (uint64_t)R + (uint64_t)rank;
        int e = next_batch(p);
        if (e) return e;
        int lens[p->batch.B], T = 0;
        for (int b = 0; b < p->batch.B; b++) {
            lens[b] = ds_w2v_frames(ds_w2v_cfg(p->m), p->batch.ns[b]);
            if (lens[b] > T) T = lens[b];
        }
        int M = ds_w2v_draw(&p->draws, p->m, lens, p->batch.B, T, 1, (uint64_t)c->seed, k);
        if (M < 0) return M;
        int64_t masked = M;
        ds_dist_sum_i64(&masked, 1);
        ds_w2v_losses L;
        e = ds_w2v_encode(p->m, p->batch.wave, p->batch.ns, p->batch.B, p->draws.mask, 1, (uint64_t)c->seed, k);
        if (!e) e = ds_w2v_pretrain_loss(p->m, p->draws.neg, p->draws.gumbel, s->tau, &L);
        if (e) return e;
        double w = (R > 1 ? (masked ? (double)M / (double)masked : 1.0 / R) : 1.0) / (double)c->accum;
        ds_w2v_pretrain_backward(p->m, (float)w);
        s->loss += w * L.loss; s->contrastive += w * L.contrastive; s->diversity += w * L.diversity;
        s->pen += w * L.feature_pen; s->ppl += w * L.prob_perplexity; s->code_ppl += w * L.code_perplexity;
        s->acc += w * L.accuracy;
        s->seconds += (double)p->batch.B * p->batch.S / DS_AUDIO_RATE;
    }
    ds_dist_sum_grad(&p->m->params);
    double agree[9] = { s->loss, s->contrastive, s->diversity, s->pen, s->ppl, s->code_ppl, s->acc, s->seconds,
                        ds_run_interrupted() ? 1.0 : 0.0 };
    ds_dist_sum_f64(agree, 9);
    s->loss = agree[0]; s->contrastive = agree[1]; s->diversity = agree[2]; s->pen = agree[3]; s->ppl = agree[4];
    s->code_ppl = agree[5]; s->acc = agree[6]; s->seconds = agree[7];
    p->sig = agree[8] > 0;
    if (!isfinite(s->loss)) return diverged(p, step + 1, "the training loss", s->loss, -1);
    *gnorm = ds_grad_clip(&p->m->params, (float)c->grad_clip);
    if (!isfinite(*gnorm))
        return diverged(p, step + 1, "the gradient norm", *gnorm, ds_params_find_nonfinite(&p->m->params, 1));
    ds_adamw_step(&p->opt, &p->m->params, ds_schedule_lr(&p->sched, step));
    return 0;
}

static int log_step(sp_run *p, long step, const step_out *s, double gnorm, double rate, double t0)
{
    json_t *j = json_object();
    json_object_set_new(j, "step", json_integer(step));
    json_object_set_new(j, "loss", ds_json_real(s->loss));
    json_object_set_new(j, "contrastive", ds_json_real(s->contrastive));
    json_object_set_new(j, "diversity", ds_json_real(s->diversity));
    json_object_set_new(j, "feature_pen", ds_json_real(s->pen));
    json_object_set_new(j, "prob_perplexity", ds_json_real(s->ppl));
    json_object_set_new(j, "code_perplexity", ds_json_real(s->code_ppl));
    json_object_set_new(j, "accuracy", ds_json_real(s->acc));
    json_object_set_new(j, "temperature", ds_json_real(s->tau));
    json_object_set_new(j, "lr", ds_json_real(ds_schedule_lr(&p->sched, step - 1)));
    json_object_set_new(j, "grad_norm", ds_json_real(gnorm));
    json_object_set_new(j, "audio_s_per_s", ds_json_real(rate));
    json_object_set_new(j, "wall_s", ds_json_real(ds_realtime() - t0));
    if (ds_dist_size() > 1) json_object_set_new(j, "allreduce_s", ds_json_real(ds_dist_comm_seconds()));
    return ds_log_pair_write(&p->logs, j);
}

/* As pretrain.c's: Ctrl-C or SIGTERM saves after the step in progress and
 * stops (*interrupted: that step, else 0). */
static int run_loop(sp_run *p, long start, long *interrupted)
{
    const ds_run_cfg *c = &p->run.cfg;
    long end = c->steps;
    if (p->o->sp.stop_at && p->o->sp.stop_at < end) end = p->o->sp.stop_at;
    ds_progress pg;
    ds_progress_init(&pg, "pretrain", c->steps, "audio s/s", c->eval_every ? c->eval_every : 100, p->o->co.quiet);
    double t0 = ds_realtime(), seconds = 0;
    int e = 0;
    *interrupted = 0;
    ds_run_catch_signals();
    for (long step = start; step < end && !e; step++) {
        double gnorm = 0;
        step_out s;
        if ((e = train_step(p, step, &s, &gnorm))) break;
        seconds += s.seconds;
        ds_progress_update(&pg, step + 1, s.loss, seconds);
        e = log_step(p, step + 1, &s, gnorm, seconds / (ds_realtime() - t0), t0);
        if (!e && p->have_valid && c->eval_every && (step + 1) % c->eval_every == 0) {
            ds_progress_finish(&pg);
            e = validate(p, step + 1);
        }
        int sig = p->sig;
        if (!e && ((c->save_every && (step + 1) % c->save_every == 0) || step + 1 == end || sig)) e = save(p, step + 1);
        if (!e && sig) { *interrupted = step + 1; break; }
    }
    ds_progress_finish(&pg);
    if (!e && !*interrupted && end == c->steps && p->have_valid && (!c->eval_every || c->steps % c->eval_every))
        e = validate(p, c->steps);
    return e;
}

static int summarize(sp_run *p)
{
    const ds_run_cfg *c = &p->run.cfg;
    long done = p->o->sp.stop_at && p->o->sp.stop_at < c->steps ? p->o->sp.stop_at : c->steps;
    ds_run_summary s = { "step", done, c->steps, p->run.best_step, "val loss", "val_loss", p->run.best_loss, "",
                         p->run.best_path, p->run.last_path };
    return ds_run_summarize(p->o->co.cmd, &p->logs, &s, p->o->co.quiet);
}

static void cleanup(sp_run *p)
{
    ds_speech_order_free(&p->order);
    ds_speech_batch_free(&p->batch);
    ds_w2v_draws_free(&p->draws);
    ds_speech_set_free(&p->train);
    if (p->have_valid) ds_speech_set_free(&p->valid);
    ds_adamw_free(&p->opt);
    ds_model_free(p->m);
    ds_log_pair_close(&p->logs);
    ds_run_free(&p->run);
}

static int new_run(sp_run *p, int ndata, char **data)
{
    sp_opts *o = p->o;
    char *model_json = NULL;
    const char *norm = o->tr.set & DS_SET_NORM ? ds_norm_ops_get((ds_norm_kind)o->tr.norm)->name : NULL;
    int e;
    if (o->model) e = ds_preset_config_json(o->model, norm, (float)o->tr.alpha_init, &model_json);
    else e = ds_run_read_model_config(o->config, norm, (float)o->tr.alpha_init, &model_json);
    if (!e && o->prenorm) e = ds_config_set_bool(&model_json, "do_stable_layer_norm", 1);
    if (e) { free(model_json); return e; }
    ds_run_cfg c;
    memset(&c, 0, sizeof c);
    snprintf(c.recipe, sizeof c.recipe, "fairseq");
    ds_run_abspath(c.init_from, sizeof c.init_from, o->init_from);
    if (!e) e = ds_run_join_inputs(c.audio, sizeof c.audio, data, ndata, "AUDIO");
    if (!e) e = ds_run_join_inputs(c.valid_audio, sizeof c.valid_audio, (char *const *)o->sp.valid, o->sp.nvalid, "--valid");
    if (e) { free(model_json); return e; }
    c.max_tokens = o->sp.max_tokens;
    c.crop = o->sp.crop;
    c.min_samples = o->sp.min_samples;
    c.adam_eps = 1e-6;
    c.beta1 = o->tr.beta1;
    c.beta2 = o->tr.beta2;
    c.min_lr = o->tr.min_lr;
    c.decay_groups = o->tr.decay_groups;
    c.steps = o->tr.steps;
    c.batch_size = o->tr.batch_size;
    c.accum = o->tr.accum;
    c.lr = o->tr.lr;
    c.warmup = o->tr.warmup >= 0 ? o->tr.warmup : (long)(0.08 * (double)o->tr.steps);
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

/* --log and the run directory must not overwrite an input. */
static int check_outputs(const sp_opts *o, int ndata, char **data)
{
    const char *in[ndata + o->sp.nvalid + 2];
    int n = 0;
    for (int i = 0; i < ndata; i++) in[n++] = data[i];
    for (int i = 0; i < o->sp.nvalid; i++) in[n++] = o->sp.valid[i];
    in[n++] = o->config;
    in[n++] = o->init_from;
    return ds_check_run_outputs(o->co.cmd, o->co.log_path, o->out, o->tr.resume, in, n);
}

int main_pretrain_speech(int argc, char **argv)
{
    double t0 = ds_realtime();
    sp_opts o = { .sp = { .max_tokens = 400000, .crop = DS_SPEECH_CROP, .min_samples = 32000, .cache_mb = -1 } };
    ds_common_defaults(&o.co, "pretrain", DS_O_THREADS | DS_O_SEED | DS_O_LOG | DS_O_QUIET);
    ds_train_defaults(&o.tr);
    /* fairseq's wav2vec2 Base recipe (wav2vec2.md §3.7) */
    o.tr.lr = 5e-4;
    o.tr.beta2 = 0.98;
    o.tr.weight_decay = 0.01;
    o.tr.schedule = DS_SCHED_LINEAR;
    o.tr.batch_size = 64;
    o.tr.min_lr = 0.0;
    o.tr.speech = DS_SPEECH_PRETRAIN;
    int rc = parse(&o, argc, argv);
    if (rc) return rc;
    if (o.co.help) { usage(stdout, &o); return 0; }
    if ((rc = check_required(&o, argc - optind, argv + optind))) return rc;
    if ((rc = check_outputs(&o, argc - optind, argv + optind))) return rc;
    ds_threads_set(o.co.threads);
    if (!ds_dist_root()) o.co.quiet = 1;   /* rank 0 reports for the job */
    sp_run p = { .o = &o, .best = INFINITY, .saved_step = -1 };
    int resuming = o.tr.resume != NULL;
    int e = resuming ? ds_run_open(&p.run, o.tr.resume) : new_run(&p, argc - optind, argv + optind);
    if (!e && !p.run.cfg.audio[0]) e = ds_err(DS_EINVAL, "%s: not a speech run (no \"audio\" inputs)", p.run.config_path);
    if (!e) e = build_model(&p, resuming);
    if (!e) e = open_data(&p);
    long start = 0;
    if (!e && resuming) {
        e = ds_run_resume_step(&p.run, &p.m->params, &p.opt, &start, &p.ndraws, o.co.cmd, o.co.quiet);
        p.saved_step = start;
        p.best = p.run.best_loss;
        if (!e) e = ds_run_extend_steps(&p.run, o.tr.steps_set ? o.tr.steps : 0, start, o.co.cmd, o.co.quiet);
    }
    if (!e) {
        const ds_run_cfg *c = &p.run.cfg;
        p.sched = (ds_schedule){ (ds_sched_kind)c->schedule, (float)c->lr, (float)c->min_lr, c->warmup, c->steps, 0.0f };
        e = ds_log_pair_open(&p.logs, p.run.log_path, o.co.log_path);
    }
    if (!e && !o.co.quiet && ds_dist_size() > 1)
        fprintf(stderr, "[M::pretrain] data-parallel on %d MPI ranks: each step takes %d batches\n", ds_dist_size(),
                ds_dist_size());
    if (!e && !o.co.quiet)
        fprintf(stderr, "[M::pretrain] wav2vec2 (%s, %s), %zu parameters, %ld steps of up to %ld x %ld samples\n",
                ds_norm_ops_get(ds_w2v_cfg(p.m)->norm)->name, ds_w2v_cfg(p.m)->do_stable_layer_norm ? "pre-LN" : "post-LN",
                ds_params_count(&p.m->params), p.run.cfg.steps, p.run.cfg.accum, p.run.cfg.max_tokens);
    int setup_failed = ds_dp_setup_failed(o.co.cmd, e);   /* every rank goes on, or none */
    long interrupted = 0;
    if (!setup_failed) e = run_loop(&p, start, &interrupted);
    if (!setup_failed && !e && !interrupted) e = summarize(&p);
    rc = setup_failed ? 1 : e ? ds_dp_loop_failed(o.co.cmd, p.collective)
       : interrupted ? ds_run_report_interrupted(o.co.cmd, "step", interrupted, p.run.dir) : 0;
    cleanup(&p);
    if (rc && !interrupted && !resuming && p.saved_step < 0 && p.run.claimed) ds_rundir_abandon(p.run.dir, p.created);
    if (!rc && !o.co.quiet) ds_resource_line(t0);
    return rc;
}
