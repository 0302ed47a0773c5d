/* derfseq finetune --task ctc: speech recognition by CTC on a wav2vec2
 * encoder (wav2vec2.md §3.8; fairseq's wav2vec_ctc and its base_100h
 * recipe; HF Wav2Vec2ForCTC): a linear lm_head over the final hidden states
 * into the character vocabulary, the feature encoder frozen, the trunk
 * optionally frozen for the first --freeze-steps, time and channel masking,
 * Adam with the tri-stage schedule, validation WER/CER after every epoch
 * with the best checkpoint kept, and the run directory of pretraining
 * (config.json, state, last/best checkpoints, log.jsonl), so --resume
 * continues bitwise. finetune.c hands a run over here for --task ctc. */
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/asr.h"
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
#include "io/char_vocab.h"
#include "io/checkpoint.h"
#include "io/spanmask.h"
#include "io/trainstate.h"
#include "nn/norm.h"
#include "nn/optim.h"
#include "presets.h"

enum { OPT_VOCAB = 1400, OPT_FREEZE, OPT_MASK_PROB, OPT_MASK_CH_PROB, OPT_MASK_CH_LEN, OPT_LAYERDROP };
#define CHANNEL_STREAM (1ull << 40)   /* the channel mask's step tag: another stream than the time mask's */

typedef struct {
    ds_common_opts co;
    ds_train_opts tr;
    const char *from, *model, *out, *vocab;
    ds_speech_opts sp;
    int task_given;
    long freeze_steps, mask_ch_len;
    double mask_prob, mask_ch_prob, layerdrop;   /* NaN: the recipe's */
    const char *resume_ignored;
} ctc_opts;

static const char *const TASKS[] = { "ctc", NULL };

static const struct option LONGOPTS[] = {
    { "from", required_argument, NULL, OPT_FROM },
    { "model", required_argument, NULL, OPT_MODEL },
    { "task", required_argument, NULL, OPT_TASK },
    { "vocab", required_argument, NULL, OPT_VOCAB },
    DS_LONGOPTS_SPEECH,
    { "freeze-steps", required_argument, NULL, OPT_FREEZE },
    { "mask-prob", required_argument, NULL, OPT_MASK_PROB },
    { "mask-channel-prob", required_argument, NULL, OPT_MASK_CH_PROB },
    { "mask-channel-length", required_argument, NULL, OPT_MASK_CH_LEN },
    { "layerdrop", required_argument, NULL, OPT_LAYERDROP },
    { "output", required_argument, NULL, 'o' },
    DS_LONGOPTS_NORM,
    DS_LONGOPTS_TRAIN,
    DS_LONGOPT_THREADS, DS_LONGOPT_SEED, DS_LONGOPT_LOG, DS_LONGOPT_QUIET, DS_LONGOPT_HELP,
    { NULL, 0, NULL, 0 },
};

static void usage(FILE *fp, const ctc_opts *o)
{
    fprintf(fp, "Usage: derfseq finetune --task ctc --from CKPT [options] DATA... -o RUN_DIR\n"
                "Usage: derfseq finetune --resume RUN_DIR\n\n"
                "Fine-tunes a wav2vec2 encoder for speech recognition with CTC (fairseq's\n"
                "base_100h recipe): a linear lm_head over the final hidden states into the\n"
                "character vocabulary (wav2vec2-base-960h's 32: blank/pad, '|' between words,\n"
                "A-Z and '), the conv feature encoder frozen, spans of frames masked (p 0.65,\n"
                "length 10) and spans of channels zeroed (p 0.5), Adam with the tri-stage\n"
                "schedule (10%% warm-up, 40%% hold, 50%% exponential decay to 5%%), the loss\n"
                "summed per utterance and averaged over utterances. DATA is a LibriSpeech tree\n"
                "(FLAC or WAV + *.trans.txt), a TSV of PATH<TAB>TRANSCRIPT lines (paths relative\n"
                "to the TSV), or a fairseq manifest with its .wrd; every utterance needs a\n"
                "transcript. Transcripts are upper-cased and stripped of punctuation except\n"
                "the apostrophe. Batches hold whole utterances, up to --max-tokens samples.\n"
                "After every epoch the --valid data is transcribed (greedy) and scored: the\n"
                "checkpoint of the lowest WER is RUN_DIR/best.safetensors.\n\n"
                "Model:\n");
    ds_usage_line(fp, "    --from CKPT", "a pretrained (or CTC) wav2vec2 checkpoint", "required, or --model");
    ds_usage_line(fp, "    --model PRESET", "a fresh wav2vec2 preset instead (with --norm)", "none");
    ds_usage_line(fp, "    --vocab FILE", "an HF vocab.json (token -> id) instead of the built-in 32", "--from's, else built-in");
    ds_usage_norm(fp, &o->tr);
    fprintf(fp, "    --norm applies to --model; a --from checkpoint keeps its norms.\n");
    ds_usage_line(fp, "    --freeze-steps N", "train lm_head alone for the first N steps", "0");
    ds_usage_line(fp, "    --mask-prob X", "share of frames masked (mask_time_prob)", "0.65");
    ds_usage_line(fp, "    --mask-channel-prob X", "share of channels zeroed (mask_feature_prob)", "0.5");
    ds_usage_line(fp, "    --mask-channel-length N", "channels per span", "64 (hidden/12)");
    ds_usage_line(fp, "    --layerdrop X", "LayerDrop", "0.1");
    fprintf(fp, "\nData and output:\n");
    ds_usage_speech(fp, &o->sp, "transcribed speech scored after every epoch (repeatable)",
                    "the model's one frame (0.025 s)");
    ds_usage_line(fp, "-o, --output RUN_DIR", "run directory: config, checkpoints, state, log", "required");
    fprintf(fp, "\nTraining (fairseq base_100h: Adam betas 0.9,0.98, eps 1e-8, no weight decay,\n"
                "no clipping, lr 3e-5, tri-stage; --epochs N sets the steps to N passes; --eval-every\n"
                "defaults to one epoch; --batch-size caps utterances per batch):\n");
    ds_usage_train(fp, &o->tr);
    fprintf(fp, "\nGeneral:\n");
    ds_usage_common(fp, &o->co);
}

static int parse(ctc_opts *o, int argc, char **argv)
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
        case OPT_FROM: o->from = optarg; break;
        case OPT_MODEL: o->model = optarg; break;
        case OPT_TASK:
            if (ds_parse_choice(&o->co, "task", optarg, TASKS) < 0) return 2;
            o->task_given = 1;
            break;
        case OPT_VOCAB: o->vocab = optarg; break;
        case OPT_FREEZE: if (ds_parse_long(&o->co, "freeze-steps", optarg, 0, &o->freeze_steps)) return 2; break;
        case OPT_MASK_PROB: if (ds_parse_real_range(&o->co, "mask-prob", optarg, 0, 1, 1, &o->mask_prob)) return 2; break;
        case OPT_MASK_CH_PROB:
            if (ds_parse_real_range(&o->co, "mask-channel-prob", optarg, 0, 1, 1, &o->mask_ch_prob)) return 2;
            break;
        case OPT_MASK_CH_LEN: if (ds_parse_long(&o->co, "mask-channel-length", optarg, 1, &o->mask_ch_len)) return 2; break;
        case OPT_LAYERDROP: if (ds_parse_real_range(&o->co, "layerdrop", optarg, 0, 1, 0.99, &o->layerdrop)) return 2; break;
        case 'o': o->out = optarg; break;
        default: return ds_opts_unknown(&o->co, c, argv);
        }
    }
    return ds_train_check(&o->co, &o->tr) ? 2 : 0;
}

static int check_required(ctc_opts *o, int ndata, char **data)
{
    const char *cmd = o->co.cmd;
    if (o->tr.resume) {
        if (o->resume_ignored && strcmp(o->resume_ignored, "task"))
            return ds_resume_ignored_error(cmd, o->resume_ignored, o->tr.resume);
        return ndata ? ds_usage_error(cmd, "--resume takes the data and the rest from the run directory") : 0;
    }
    if (!o->task_given) return ds_usage_error(cmd, "missing --task ctc");
    if (!o->from && !o->model) return ds_usage_error(cmd, "missing --from CKPT (a pretrained wav2vec2) or --model PRESET");
    if (o->from && o->model) return ds_usage_error(cmd, "give --from or --model, not both");
    if (o->model && strncmp(o->model, "wav2vec2", 8))
        return ds_usage_error(cmd, "--model %s: CTC fine-tuning takes a wav2vec2 preset", o->model);
    if (o->from && (o->tr.set & DS_SET_NORM))
        return ds_usage_error(cmd, "--norm: a --from checkpoint keeps its norms (give --model to choose one)");
    if (!o->out) return ds_usage_error(cmd, "missing -o RUN_DIR");
    if (!ndata) return ds_usage_error(cmd, "missing DATA: a LibriSpeech tree, a PATH<TAB>TRANSCRIPT TSV or a manifest");
    for (int i = 0; i < ndata; i++)
        if (!strcmp(data[i], "-"))
            return ds_usage_error(cmd, "DATA '-': a run reads its inputs again on --resume; give a tree or a TSV");
    if (o->tr.seq_len) return ds_usage_error(cmd, "--seq-len applies to DNA; speech batches use --max-tokens");
    if (o->tr.set & DS_SET_EMBED_STD) return ds_usage_error(cmd, "--init-embed-std applies to DNA models (a token embedding)");
    return 0;
}

/* ---- the run --------------------------------------------------------- */

typedef struct {
    ctc_opts *o;
    ds_run run;
    ds_model *m;
    ds_char_vocab vocab;
    ds_adamw opt;
    ds_schedule sched;
    ds_speech_set train, valid;
    int have_valid;
    int32_t **ids;       /* the encoded transcript of kept utterance k */
    int *nid;
    ds_speech_order order;
    ds_speech_batch batch;
    uint8_t *tmask, *cmask;
    int32_t *tgt;
    long tgt_cap, mask_cap;
    uint64_t ndraws;     /* batches drawn so far: the data position */
    ds_log_pair logs;
    double best;
    int created;
    long saved_step;
    int collective;      /* the error was met by every rank alike (a divergence) */
    int sig;             /* a signal caught by any rank, agreed at the end of each step */
} ctc_run;

/* Encodes every transcript; counts the characters outside the vocabulary
 * and the utterances too short for their transcript (CTC needs a frame
 * per character and one more between repeats: zero_infinity makes those
 * cost 0 and teach nothing). */
static int encode_transcripts(ctc_run *p)
{
    ds_speech_set *s = &p->train;
    size_t n = s->n > 0 ? (size_t)s->n : 1;   /* a set is never empty (ds_speech_finish) */
    p->ids = calloc(n, sizeof *p->ids);
    p->nid = calloc(n, sizeof *p->nid);
    if (!p->ids || !p->nid) return ds_err(DS_ENOMEM, "out of memory for %ld transcripts", s->n);
    long unk = 0, too_short = 0, empty = 0;
    const char *first_short = NULL;
    for (long k = 0; k < s->n; k++) {
        const char *text = ds_speech_set_text(s, k);
        char *norm = strdup(text);
        p->ids[k] = malloc(sizeof(int32_t) * (strlen(text) + 1));
        if (!norm || !p->ids[k]) { free(norm); return ds_err(DS_ENOMEM, "out of memory for transcripts"); }
        ds_transcript_normalize(norm, norm);
        long u = 0;
        p->nid[k] = (int)ds_char_vocab_encode(&p->vocab, norm, p->ids[k], &u);
        free(norm);
        unk += u;
        int need = p->nid[k];
        for (int i = 1; i < p->nid[k]; i++) need += p->ids[k][i] == p->ids[k][i - 1];
        if (!p->nid[k]) empty++;
        if (need > ds_w2v_frames(ds_w2v_cfg(p->m), s->len[s->keep[k]])) {
            too_short++;
            if (!first_short) first_short = ds_speech_set_id(s, k);
        }
    }
    if (p->o->co.quiet) return 0;
    if (unk) fprintf(stderr, "[W::finetune] %ld transcript characters are not in the vocabulary (trained as <unk>)\n", unk);
    if (empty) fprintf(stderr, "[W::finetune] %ld utterances have an empty transcript (trained as all blank)\n", empty);
    if (too_short)
        fprintf(stderr, "[W::finetune] %ld utterances (first: %s) have more characters than 20 ms frames; CTC cannot "
                "align them and they add nothing\n", too_short, first_short);
    return 0;
}

static int open_data(ctc_run *p)
{
    ds_run_cfg *c = &p->run.cfg;
    int e = ds_speech_run_sets(c, p->o->sp.cache_mb, ds_w2v_min_samples(ds_w2v_cfg(p->m)), &p->train, &p->valid,
                               &p->have_valid);
    if (!e) e = ds_speech_require_text(&p->train.list);
    if (!e && p->have_valid && (e = ds_speech_require_text(&p->valid.list))) ds_err(e, "--valid: %s", ds_errmsg());
    if (e) return e;
    for (long k = 0; k < p->train.n; k++)
        if (p->train.len[p->train.keep[k]] > c->max_tokens)
            return ds_err(DS_EINVAL, "%s: %.1f s of audio does not fit one batch of --max-tokens %ld samples (%.1f s); "
                          "raise --max-tokens", ds_speech_set_id(&p->train, k),
                          (double)p->train.len[p->train.keep[k]] / DS_AUDIO_RATE, c->max_tokens,
                          (double)c->max_tokens / DS_AUDIO_RATE);
    if ((e = encode_transcripts(p))) return e;
    if (!p->o->co.quiet)
        ds_speech_run_report("finetune", &p->train, c->min_samples, "transcribed ",
                             p->have_valid ? "; validation WER on --valid" : "; no --valid: best = last");
    /* whole utterances: no crop, batches packed by the longest's padded length */
    ds_speech_order_init(&p->order, c->max_tokens, LONG_MAX, c->batch_size, (uint64_t)c->seed);
    return 0;
}

/* Trainable or not: the conv feature encoder while feature_grad_mult is 0
 * (fairseq's frozen feature encoder; HF freeze_feature_encoder), and
 * everything but lm_head during --freeze-steps. */
static void set_trainable(ctc_run *p, int trunk)
{
    ds_params *ps = &p->m->params;
    int frozen_fe = ds_w2v_cfg(p->m)->feature_grad_mult <= 0;
    for (int i = 0; i < ps->n; i++) {
        const char *nm = ps->p[i].name;
        int head = !strncmp(nm, "lm_head.", 8);
        int fe = strstr(nm, "feature_extractor.") != NULL;
        ps->p[i].trainable = head || (trunk && !(fe && frozen_fe));
    }
}

static int build_model(ctc_run *p, int resuming)
{
    int e = ds_model_from_json(&p->m, p->run.model_json);
    if (e) return ds_err(e, "%s: %s", p->run.config_path, ds_errmsg());
    if (!ds_w2v_is(p->m) || !ds_w2v_cfg(p->m)->ctc_head)
        return ds_err(DS_EINVAL, "%s: not a wav2vec2 CTC model", p->run.config_path);
    if ((e = ds_w2v_char_vocab(p->m, &p->vocab))) return ds_err(e, "%s: %s", p->run.config_path, ds_errmsg());
    const ds_run_cfg *c = &p->run.cfg;
    ds_adamw_cfg ac = DS_ADAMW_DEFAULTS;
    ac.weight_decay = (float)c->weight_decay;
    ac.beta1 = (float)c->beta1;
    ac.beta2 = (float)c->beta2;
    if (c->adam_eps > 0) ac.eps = (float)c->adam_eps;
    if ((e = ds_adamw_init(&p->opt, &p->m->params, ac))) return e;
    if (resuming) return 0;
    if ((e = p->m->vt->init_weights(p->m, (uint64_t)c->seed))) return e;
    /* lm_head stays freshly initialised unless the checkpoint is a CTC model of the same vocabulary */
    if (c->init_from[0]) {
        char *json = ds_checkpoint_config(c->init_from);
        ds_w2v_config from;
        int keep_head = json && !ds_w2v_config_from_json(&from, json) && from.ctc_head &&
                        from.vocab_size == ds_w2v_cfg(p->m)->vocab_size && !strcmp(from.vocab, ds_w2v_cfg(p->m)->vocab);
        free(json);
        if ((e = ds_checkpoint_load_except(c->init_from, &p->m->params, 0, keep_head ? NULL : "lm_head.")))
            return ds_err(e, "--from: %s", ds_errmsg());
    }
    return 0;
}

static int reserve_train(ctc_run *p)
{
    long Bmax, Smax;
    ds_speech_order_extent(&p->order, &p->train, &Bmax, &Smax);
    p->m->eval_only = 0;
    int e = ds_w2v_reserve(p->m, (int)Bmax, Smax + 4096);   /* MP3 lengths are estimates until decoded */
    if (e) return e;
    const ds_w2v_config *mc = ds_w2v_cfg(p->m);
    long nt = Bmax * ds_w2v_frames(mc, Smax + 4096), nc = Bmax * mc->hidden_size;
    if (nt + nc > p->mask_cap) {
        free(p->tmask);
        free(p->cmask);
        p->tmask = malloc((size_t)nt);
        p->cmask = malloc((size_t)nc);
        if (!p->tmask || !p->cmask) return ds_err(DS_ENOMEM, "out of memory for the masks");
        p->mask_cap = nt + nc;
    }
    long tl = 0;
    for (long k = 0; k < p->train.n; k++) tl += p->nid[k];
    if (tl + 1 > p->tgt_cap) {
        free(p->tgt);
        if (!(p->tgt = malloc(sizeof(int32_t) * (size_t)(tl + 1)))) return ds_err(DS_ENOMEM, "out of memory for targets");
        p->tgt_cap = tl + 1;
    }
    return 0;
}

/* The next batch of the data order (ds_speech_order: the draw count is the
 * position), whole utterances; *idx receives its utterances. */
static int next_batch(ctc_run *p, const long **idx)
{
    int n, made, e = ds_speech_order_ready(&p->order, &p->train, &made);
    if (!e && made) e = reserve_train(p);
    /* R MPI ranks: batches [ndraws, ndraws + R) are one update's, rank r's the r-th */
    if (!e) e = ds_speech_order_at(&p->order, &p->train, p->ndraws + (uint64_t)ds_dist_rank(), idx, &n);
    if (!e) e = ds_speech_batch_fill_whole(&p->batch, &p->train, *idx, n);
    p->ndraws += (uint64_t)ds_dist_size();
    return e;
}

/* The optimizer state saved and resumed is that of every parameter but a
 * frozen feature encoder, whatever --freeze-steps left trainable at the
 * step (the trunk's moments are 0 until it trains). */
static int save(ctc_run *p, long step)
{
    set_trainable(p, 1);
    int e = ds_run_save_step(&p->run, &p->m->params, &p->opt, step, p->ndraws);
    if (!e) p->saved_step = step;
    return e;
}

static int diverged(ctc_run *p, long step, const char *what, double v, int tensor)
{
    p->collective = 1;
    return ds_run_diverged_at_step(&p->run, step, p->saved_step, what, v, tensor >= 0 ? p->m->params.p[tensor].name : NULL);
}

static int validate(ctc_run *p, long step)
{
    ds_asr_result r;
    double t0 = ds_realtime();
    int e = ds_asr_evaluate(p->m, &p->valid, NULL, NULL, &r);
    if (!e) e = reserve_train(p);
    if (e) return ds_err(e, "--valid: %s", ds_errmsg());
    double wer = ds_edit_rate(&r.words), cer = ds_edit_rate(&r.chars);
    if (!isfinite(r.loss)) return diverged(p, step, "the validation loss", r.loss, -1);
    json_t *j = json_object();
    json_object_set_new(j, "step", json_integer(step));
    json_object_set_new(j, "epoch", ds_json_real((double)p->ndraws / (double)p->order.plan.nb));
    json_object_set_new(j, "val_wer", ds_json_real(wer));
    json_object_set_new(j, "val_cer", ds_json_real(cer));
    json_object_set_new(j, "val_loss", ds_json_real(r.loss));
    json_object_set_new(j, "val_words", json_integer(r.words.n_ref));
    json_object_set_new(j, "val_utterances", json_integer(r.scored));
    json_object_set_new(j, "val_wall_s", ds_json_real(ds_realtime() - t0));
    if ((e = ds_log_pair_write(&p->logs, j))) return e;
    if (!p->o->co.quiet)
        fprintf(stderr, "[M::finetune] step %ld: validation WER %.2f%%, CER %.2f%%, loss %.3f per utterance (%ld "
                "utterances, %ld words)\n", step, 100 * wer, 100 * cer, r.loss, r.scored, r.words.n_ref);
    /* the lowest WER, ties to the lower CER: a run's first epochs often tie at 100% */
    double score = wer + 1e-6 * cer;
    ds_run_note_val(&p->run, step, score);
    if (score < p->best) {
        p->best = score;
        return ds_run_save_best(&p->run, &p->m->params, step, score);
    }
    return 0;
}

/* The time and channel masks of micro-batch k (fairseq apply_mask: spans
 * of frames replaced by the mask embedding, then spans of channels zeroed
 * in every frame). */
static void draw_masks(ctc_run *p, const int *lens, int B, int T, uint64_t k, const uint8_t **tm, const uint8_t **cm)
{
    const ds_w2v_config *c = ds_w2v_cfg(p->m);
    uint64_t seed = (uint64_t)p->run.cfg.seed;
    *tm = *cm = NULL;
    if (c->mask_time_prob > 0 &&
        ds_span_mask(p->tmask, lens, B, T, c->mask_time_prob, c->mask_time_length, c->mask_time_min_masks, seed, k) >= 0)
        *tm = p->tmask;
    if (c->mask_feature_prob > 0) {
        int Hs[B];
        for (int b = 0; b < B; b++) Hs[b] = c->hidden_size;
        if (ds_span_mask(p->cmask, Hs, B, c->hidden_size, c->mask_feature_prob, c->mask_feature_length,
                         c->mask_feature_min_masks, seed, k ^ CHANNEL_STREAM) >= 0)
            *cm = p->cmask;
    }
}

typedef struct { double loss, seconds; long utts, chars; } step_out;

static void scale_grads(ds_params *ps, float s)
{
    for (int i = 0; i < ps->n; i++) {
        if (!ps->p[i].trainable) continue;
        float *g = ds_params_grad(ps, i);
        for (size_t k = 0; k < ps->p[i].numel; k++) g[k] *= s;
    }
}

static int train_step(ctc_run *p, long step, step_out *s, double *gnorm)
{
    const ds_run_cfg *c = &p->run.cfg;
    int trunk = step >= c->freeze_steps;
    memset(s, 0, sizeof *s);
    set_trainable(p, trunk);
    ds_params_zero_grad(&p->m->params);
    for (long a = 0; a < c->accum; a++) {
        /* masks and dropout: rank r's own streams */
        uint64_t k = (uint64_t)(step * c->accum + a) * (uint64_t)ds_dist_size() + (uint64_t)ds_dist_rank();
        const long *idx;
        int e = next_batch(p, &idx);
        if (e) return e;
        int B = p->batch.B, lens[B], tl[B], T = 0;
        long nt = 0;
        for (int b = 0; b < B; b++) {
            lens[b] = ds_w2v_frames(ds_w2v_cfg(p->m), p->batch.ns[b]);
            if (lens[b] > T) T = lens[b];
            tl[b] = p->nid[idx[b]];
            memcpy(p->tgt + nt, p->ids[idx[b]], sizeof(int32_t) * (size_t)tl[b]);
            nt += tl[b];
        }
        const uint8_t *tm, *cm;
        draw_masks(p, lens, B, T, k, &tm, &cm);
        double loss[B];
        const float *logits;
        e = ds_w2v_encode_masked(p->m, p->batch.wave, p->batch.ns, B, tm, cm, 1, (uint64_t)c->seed, k);
        if (!e) e = ds_w2v_ctc_logits(p->m, &logits);
        if (!e) e = ds_w2v_ctc_loss(p->m, p->tgt, tl, loss);
        if (e) return e;
        if ((e = ds_w2v_ctc_backward(p->m, 1.0f, trunk))) return e;
        for (int b = 0; b < B; b++) s->loss += loss[b];
        s->utts += B;
        s->chars += nt;
        for (int b = 0; b < B; b++) s->seconds += (double)p->batch.ns[b] / DS_AUDIO_RATE;
    }
    /* fairseq's sentence_avg: the summed loss over the utterances of the
     * update, on every rank together (gradients and counts summed) */
    ds_dist_sum_grad(&p->m->params);
    double agree[5] = { s->loss, (double)s->utts, (double)s->chars, s->seconds, ds_run_interrupted() ? 1.0 : 0.0 };
    ds_dist_sum_f64(agree, 5);
    s->loss = agree[0];
    s->utts = (long)agree[1];
    s->chars = (long)agree[2];
    s->seconds = agree[3];
    p->sig = agree[4] > 0;
    s->loss /= (double)s->utts;
    scale_grads(&p->m->params, 1.0f / (float)s->utts);
    if (!isfinite(s->loss)) return diverged(p, step + 1, "the training loss", s->loss, -1);
    *gnorm = ds_grad_clip(&p->m->params, (float)c->grad_clip);
    if (!isfinite(*gnorm))
        return diverged(p, step + 1, "the gradient norm", *gnorm, ds_params_find_nonfinite(&p->m->params, 1));
    ds_adamw_step(&p->opt, &p->m->params, ds_schedule_lr(&p->sched, step));
    return 0;
}

static int log_step(ctc_run *p, long step, const step_out *s, double gnorm, double rate, double t0)
{
    json_t *j = json_object();
    json_object_set_new(j, "step", json_integer(step));
    json_object_set_new(j, "loss", ds_json_real(s->loss));
    json_object_set_new(j, "loss_per_char", ds_json_real(s->loss * (double)s->utts / (double)(s->chars ? s->chars : 1)));
    json_object_set_new(j, "utterances", json_integer(s->utts));
    json_object_set_new(j, "trunk_frozen", json_boolean(step - 1 < p->run.cfg.freeze_steps));
    json_object_set_new(j, "lr", ds_json_real(ds_schedule_lr(&p->sched, step - 1)));
    json_object_set_new(j, "grad_norm", ds_json_real(gnorm));
    json_object_set_new(j, "audio_s_per_s", ds_json_real(rate));
    json_object_set_new(j, "wall_s", ds_json_real(ds_realtime() - t0));
    return ds_log_pair_write(&p->logs, j);
}

/* Batches per epoch and rank, known before the first draw (the plan of
 * epoch 0): with R MPI ranks an update takes R batches. */
static int batches_per_epoch(ctc_run *p, long *nb)
{
    int made, e = ds_speech_order_ready(&p->order, &p->train, &made);
    if (!e && made) e = reserve_train(p);
    *nb = (p->order.plan.nb + ds_dist_size() - 1) / ds_dist_size();
    return e;
}

/* As pretrain.c's: Ctrl-C or SIGTERM saves after the step in progress and
 * stops (*interrupted: that step, else 0). */
static int run_loop(ctc_run *p, long start, long *interrupted)
{
    const ds_run_cfg *c = &p->run.cfg;
    long end = c->steps, nb = 0;
    if (p->o->sp.stop_at && p->o->sp.stop_at < end) end = p->o->sp.stop_at;
    int e = batches_per_epoch(p, &nb);
    if (e) return e;
    /* validation once per epoch unless --eval-every says otherwise */
    long every = c->eval_every > 0 ? c->eval_every : (nb + c->accum - 1) / c->accum;
    ds_progress pg;
    ds_progress_init(&pg, "finetune", c->steps, "audio s/s", every, p->o->co.quiet);
    double t0 = ds_realtime(), seconds = 0;
    *interrupted = 0;
    ds_run_catch_signals();
    for (long step = start; step < end && !e; step++) {
        double gnorm = 0;
        step_out s;
        if ((e = train_step(p, step, &s, &gnorm))) break;
        seconds += s.seconds;
        ds_progress_update(&pg, step + 1, s.loss, seconds);
        e = log_step(p, step + 1, &s, gnorm, seconds / (ds_realtime() - t0), t0);
        if (!e && p->have_valid && (step + 1) % every == 0) {
            ds_progress_finish(&pg);
            e = validate(p, step + 1);
        }
        int sig = p->sig;
        if (!e && ((c->save_every && (step + 1) % c->save_every == 0) || step + 1 == end || sig)) e = save(p, step + 1);
        if (!e && sig) { *interrupted = step + 1; break; }
    }
    ds_progress_finish(&pg);
    if (*interrupted) return e;
    if (!e && end == c->steps && p->have_valid && c->steps % every) e = validate(p, c->steps);
    /* without --valid the last weights are the best there is */
    if (!e && end == c->steps && !p->have_valid) e = ds_run_save_best(&p->run, &p->m->params, c->steps, NAN);
    return e;
}

static int summarize(ctc_run *p)
{
    const ds_run_cfg *c = &p->run.cfg;
    long done = p->o->sp.stop_at && p->o->sp.stop_at < c->steps ? p->o->sp.stop_at : c->steps;
    /* the best score is the WER (ties broken by 1e-6 x CER) */
    ds_run_summary s = { "step", done, c->steps, p->have_valid ? p->run.best_step : 0, "val WER", "val_wer",
                         100 * p->run.best_loss, "%", p->run.best_path, p->run.last_path };
    return ds_run_summarize(p->o->co.cmd, &p->logs, &s, p->o->co.quiet);
}

/* --resume with --steps or --epochs N (N passes over the training batches): a new total. */
static int extend(ctc_run *p, long start)
{
    const ds_train_opts *tr = &p->o->tr;
    long steps = tr->steps_set ? tr->steps : 0, nb;
    if (tr->epochs_set) {
        int e = batches_per_epoch(p, &nb);
        if (e) return e;
        steps = (tr->epochs * nb + p->run.cfg.accum - 1) / p->run.cfg.accum;
    }
    return ds_run_extend_steps(&p->run, steps, start, p->o->co.cmd, p->o->co.quiet);
}

static void cleanup(ctc_run *p)
{
    for (long k = 0; p->ids && k < p->train.n; k++) free(p->ids[k]);
    free(p->ids);
    free(p->nid);
    free(p->tmask);
    free(p->cmask);
    free(p->tgt);
    ds_speech_order_free(&p->order);
    ds_speech_batch_free(&p->batch);
    ds_speech_set_free(&p->train);
    if (p->have_valid) ds_speech_set_free(&p->valid);
    ds_char_vocab_free(&p->vocab);
    ds_adamw_free(&p->opt);
    ds_model_free(p->m);
    ds_log_pair_close(&p->logs);
    ds_run_free(&p->run);
}

/* The model config of the run: --from's (or the preset's) through
 * ds_w2v_config_ctc_recipe (fairseq's base_100h), then --vocab and the
 * masking and LayerDrop options. */
static int ctc_model_json(const ctc_opts *o, char **json)
{
    const char *norm = o->tr.set & DS_SET_NORM ? ds_norm_ops_get((ds_norm_kind)o->tr.norm)->name : NULL;
    int e;
    if (o->model) {
        e = ds_preset_config_json(o->model, norm, (float)o->tr.alpha_init, json);
    } else {
        *json = ds_checkpoint_config(o->from);
        e = *json ? 0 : ds_err(DS_EFORMAT, "--from %s: %s", o->from, ds_errmsg());
    }
    if (e) return e;
    ds_w2v_config c;
    if ((e = ds_w2v_config_from_json(&c, *json))) return ds_err(e, "--from %s: not a wav2vec2 checkpoint (%s)", o->from, ds_errmsg());
    float fgm = c.feature_grad_mult;
    ds_w2v_config_ctc_recipe(&c);
    if (o->vocab) {
        ds_char_vocab v;
        if ((e = ds_char_vocab_load(&v, o->vocab))) return e;
        c.vocab_size = v.size;
        e = ds_char_vocab_to_lines(&v, c.vocab, sizeof c.vocab);
        if (!e && v.pad != 0) e = ds_err(DS_EFORMAT, "%s: the CTC blank <pad> must be id 0 (as HF and fairseq)", o->vocab);
        ds_char_vocab_free(&v);
        if (e) return e;
    }
    /* fairseq freezes a pretrained feature encoder; a fresh one (--model) has nothing to keep and learns */
    if (o->model) c.feature_grad_mult = fgm > 0 ? fgm : 1.0f;
    if (!isnan(o->layerdrop)) c.layerdrop = (float)o->layerdrop;
    if (!isnan(o->mask_prob)) c.mask_time_prob = (float)o->mask_prob;
    if (!isnan(o->mask_ch_prob)) c.mask_feature_prob = (float)o->mask_ch_prob;
    if (o->mask_ch_len > 0) c.mask_feature_length = (int)o->mask_ch_len;
    free(*json);
    *json = NULL;
    return ds_w2v_config_to_json(&c, json);
}

static int new_run(ctc_run *p, int ndata, char **data)
{
    ctc_opts *o = p->o;
    char *model_json = NULL;
    int e = ctc_model_json(o, &model_json);
    if (e) { free(model_json); return e; }
    ds_run_cfg c;
    memset(&c, 0, sizeof c);
    snprintf(c.recipe, sizeof c.recipe, "fairseq");
    snprintf(c.task, sizeof c.task, "ctc");
    ds_run_abspath(c.init_from, sizeof c.init_from, o->from);
    if (!e) e = ds_run_join_inputs(c.audio, sizeof c.audio, data, ndata, "DATA");
    if (!e) e = ds_run_join_inputs(c.valid_audio, sizeof c.valid_audio, (char *const *)o->sp.valid, o->sp.nvalid, "--valid");
    if (e) { free(model_json); return e; }
    c.max_tokens = o->sp.max_tokens;
    c.crop = o->sp.max_tokens;
    ds_w2v_config mc;
    ds_w2v_config_from_json(&mc, model_json);
    c.min_samples = o->sp.min_samples > 0 ? o->sp.min_samples : ds_w2v_min_samples(&mc);
    c.adam_eps = 1e-8;
    c.beta1 = o->tr.beta1;
    c.beta2 = o->tr.beta2;
    c.min_lr = isnan(o->tr.min_lr) ? 0.05 * o->tr.lr : o->tr.min_lr;   /* tri-stage: final_lr_scale 0.05 */
    c.steps = o->tr.steps;
    c.batch_size = o->tr.batch_size;
    c.accum = o->tr.accum;
    c.lr = o->tr.lr;
    c.warmup = o->tr.warmup >= 0 ? o->tr.warmup : (long)(0.1 * (double)c.steps);
    c.schedule = o->tr.schedule;
    c.weight_decay = o->tr.weight_decay;
    c.grad_clip = o->tr.grad_clip;
    c.eval_every = o->tr.eval_every;
    c.save_every = o->tr.save_every;
    c.seed = o->co.seed;
    c.threads = ds_threads_get();
    c.ranks = ds_dist_size();
    c.freeze_steps = o->freeze_steps;
    e = ds_run_create(&p->run, o->out, model_json, &c, &p->created);
    free(model_json);
    return e;
}

/* --log and the run directory must not overwrite an input. */
static int check_outputs(const ctc_opts *o, int ndata, char **data)
{
    const char *in[ndata + o->sp.nvalid + 2];
    int n = 0;
    for (int i = 0; i < ndata; i++) in[n++] = data[i];
    for (int i = 0; i < o->sp.nvalid; i++) in[n++] = o->sp.valid[i];
    in[n++] = o->from;
    in[n++] = o->vocab;
    return ds_check_run_outputs(o->co.cmd, o->co.log_path, o->out, o->tr.resume, in, n);
}

/* --epochs N: N passes over the training batches, in steps. */
static int epochs_to_steps(ctc_run *p, long epochs)
{
    long nb;
    int e = batches_per_epoch(p, &nb);
    if (e) return e;
    p->run.cfg.steps = (epochs * nb + p->run.cfg.accum - 1) / p->run.cfg.accum;
    if (!(p->o->tr.set & DS_SET_WARMUP)) p->run.cfg.warmup = (long)(0.1 * (double)p->run.cfg.steps);
    return ds_run_write_config(&p->run);
}

int main_finetune_ctc(int argc, char **argv)
{
    double t0 = ds_realtime();
    ctc_opts o = { .sp = { .max_tokens = 1600000, .cache_mb = -1 }, .mask_prob = NAN, .mask_ch_prob = NAN, .layerdrop = NAN };
    ds_common_defaults(&o.co, "finetune", DS_O_THREADS | DS_O_SEED | DS_O_LOG | DS_O_QUIET);
    ds_train_defaults(&o.tr);
    /* fairseq's base_100h (wav2vec2.md §3.8) */
    o.tr.lr = 3e-5;
    o.tr.beta2 = 0.98;
    o.tr.weight_decay = 0.0;
    o.tr.grad_clip = 0.0;
    o.tr.schedule = DS_SCHED_TRI_STAGE;
    o.tr.steps = 20000;
    o.tr.batch_size = 0;
    o.tr.seq_len = 0;
    o.tr.eval_every = 0;
    o.tr.save_every = 1000;
    o.tr.speech = DS_SPEECH_CTC;
    int rc = parse(&o, argc, argv);
    if (rc) return rc;
    if (o.co.help) { usage(stdout, &o); return 0; }
    if ((rc = check_required(&o, argc - optind, argv + optind))) return rc;
    if ((rc = check_outputs(&o, argc - optind, argv + optind))) return rc;
    ds_threads_set(o.co.threads);
    if (!ds_dist_root()) o.co.quiet = 1;   /* rank 0 reports for the job */
    ctc_run p = { .o = &o, .best = INFINITY, .saved_step = -1 };
    int resuming = o.tr.resume != NULL;
    int e = resuming ? ds_run_open(&p.run, o.tr.resume) : new_run(&p, argc - optind, argv + optind);
    if (!e && strcmp(p.run.cfg.task, "ctc")) e = ds_err(DS_EINVAL, "%s: not a CTC fine-tuning run", p.run.config_path);
    p.run.val_key = "derfseq.val_wer";   /* the WER, ties broken by 1e-6 x CER */
    if (!e) e = build_model(&p, resuming);
    if (!e) e = open_data(&p);
    if (!e && !resuming && o.tr.epochs_set) e = epochs_to_steps(&p, o.tr.epochs);
    long start = 0;
    if (!e && resuming) {
        set_trainable(&p, 1);
        e = ds_run_resume_step(&p.run, &p.m->params, &p.opt, &start, &p.ndraws, o.co.cmd, o.co.quiet);
        p.saved_step = start;
        p.best = p.run.best_loss;
        if (!e) e = extend(&p, start);
    }
    if (!e) {
        const ds_run_cfg *c = &p.run.cfg;
        p.sched = (ds_schedule){ .kind = (ds_sched_kind)c->schedule, .lr = (float)c->lr, .min_lr = (float)c->min_lr,
                                 .warmup_steps = c->warmup, .total_steps = c->steps };
        if (c->schedule == DS_SCHED_TRI_STAGE) {
            /* fairseq's phase_ratio [0.1, 0.4, 0.5] (--warmup moves the first boundary), final_lr_scale 0.05 */
            double w = c->steps ? (double)c->warmup / (double)c->steps : 0.1;
            if (w > 0.6) w = 0.6;
            const double ratio[3] = { w, 0.4, 1.0 - 0.4 - w };
            e = ds_schedule_tri_stage(&p.sched, (float)c->lr, c->steps, ratio, 0.01, 0.05);
        }
        if (!e) e = ds_log_pair_open(&p.logs, p.run.log_path, o.co.log_path);
    }
    if (!e && !o.co.quiet) {
        const ds_w2v_config *mc = ds_w2v_cfg(p.m);
        fprintf(stderr, "[M::finetune] wav2vec2 CTC (%s, %s, %d-symbol vocabulary), %zu parameters, %ld steps of up to "
                "%ld x %ld samples, lr %g (%s)%s\n", ds_norm_ops_get(mc->norm)->name,
                mc->do_stable_layer_norm ? "pre-LN" : "post-LN", mc->vocab_size, ds_params_count(&p.m->params),
                p.run.cfg.steps, p.run.cfg.accum, p.run.cfg.max_tokens, p.run.cfg.lr,
                ds_schedule_name(p.run.cfg.schedule), resuming ? ", resuming" : "");
    }
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
